//! `shipdeck step continue|rollback SERVICE --env ENV`: a decision at a paused
//! step of a stepped rollout (canary, linear), from any terminal. In the
//! console, `c` in the deploy watch continues and `a` there (or `r` on the
//! board) rolls back; all of them ask [`crate::release::step::judge`].
//!
//! Before any question it shows what the decision is about: the new
//! revision's error rate, latency, tasks and health beside the old one's
//! over the time the step was held, and the hold's countdown. Continuing
//! before the hold is over needs `--cut-hold` (or a yes on a terminal).

use serde::Serialize;

use super::error::CliError;
use super::release::{Driver, confirmed, interactive, read_service, say, yes};
use super::term;
use crate::config::Config;
use crate::model::{Decision, sanitize};
use crate::release::evidence::{self, Hold, PauseEvidence};
use crate::release::{self, step};

/// `continue` or `rollback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Choice {
    /// Move the traffic on to the next step (may need approvals from others).
    Continue,
    /// Send all traffic back to the old revision.
    Rollback,
}

/// Options of `shipdeck step`.
#[derive(Debug, Clone, clap::Args)]
pub struct StepArgs {
    /// continue or rollback.
    #[arg(value_enum)]
    pub decision: Choice,
    /// Service (shipdeck name).
    pub service: String,
    /// Environment.
    #[arg(long, value_name = "ENV")]
    pub env: String,
    /// Why (kept in the audit record).
    #[arg(long)]
    pub reason: Option<String>,
    /// Do not ask for confirmation (the summary is still printed).
    #[arg(long)]
    pub yes: bool,
    /// Continue before the step's hold is over: cuts it short, said on the
    /// record with who and how much was left (without it, a continue
    /// during the hold asks on a terminal, and refuses elsewhere).
    #[arg(long)]
    pub cut_hold: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// The demo's shared world, ledger and locks.
    #[arg(long)]
    pub demo: bool,
}

/// What `step` did (its `--json`).
#[derive(Debug, Serialize)]
pub struct Report {
    /// `step`.
    pub action: &'static str,
    /// `continue` or `rollback`.
    pub decision: &'static str,
    /// The service.
    pub service: String,
    /// The environment.
    pub env: String,
    /// The step decided (`step 1 of 2 (10%)`).
    pub step: String,
    /// `applied`, `approval_recorded`, `cancelled`, `held` (a continue
    /// during the hold without its confirmation: exit 1).
    pub outcome: &'static str,
    /// What happened, in words.
    pub said: String,
    /// The hold was cut short: by whom, with how much left (as judged
    /// before the confirmation; the record has it to the second).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_cut: Option<String>,
    /// What the decision was taken on: the new revision beside the old one,
    /// the hold.
    pub evidence: PauseEvidence,
}

impl Report {
    /// The exit code: 1 when nothing was decided (cancelled, or held).
    pub fn code(&self) -> i32 {
        i32::from(matches!(self.outcome, "cancelled" | "held"))
    }
}

/// Runs `shipdeck step`.
pub async fn step(
    cfg: &Config,
    fleet: Option<super::setup::Demo>,
    operator: &str,
    args: &StepArgs,
) -> i32 {
    let report = match step_env(cfg, args) {
        Ok(env) => match Driver::new(cfg, fleet, operator, env) {
            Ok(driver) => decide(&driver, operator, args).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match report {
        Ok(r) => {
            if args.json {
                match term::json(&r) {
                    Ok(text) => term::out_styled(&text),
                    Err(e) => term::error(&format!("cannot encode the report: {e}")),
                }
            } else {
                term::outln(&format!(
                    "step {}: {} ({})",
                    r.decision,
                    r.outcome.replace('_', " "),
                    r.said
                ));
            }
            r.code()
        }
        Err(e) => e.report(),
    }
}

/// The environment `args` names, once it and the service are known.
fn step_env(cfg: &Config, args: &StepArgs) -> Result<crate::config::EnvId, CliError> {
    let env = release::env_index(cfg, &args.env).map_err(CliError::usage)?;
    super::known_service(cfg, &args.env, &args.service).map_err(CliError::usage)?;
    Ok(env)
}

/// Takes the decision `args` asks for through `driver` (the binary's, or a
/// test's in-process one): shows the evidence, asks what must be asked,
/// and reports what was done.
pub async fn decide(
    driver: &Driver<'_>,
    operator: &str,
    args: &StepArgs,
) -> Result<Report, CliError> {
    let cfg = driver.cfg;
    let (service, env_name) = (args.service.as_str(), args.env.as_str());
    let env = step_env(cfg, args)?;
    let (snap, _) = read_service(&driver.provider, cfg, env, service).await?;
    let shift = step::in_flight(&snap).cloned().ok_or_else(|| {
        CliError::failed(format!(
            "no stepped rollout (canary, linear) of {service} is in flight in {env_name}"
        ))
    })?;
    let decision = match args.decision {
        Choice::Continue => Decision::Continue,
        Choice::Rollback => Decision::Rollback,
    };
    // What the decision is about, before any question.
    let old = snap
        .deployments
        .iter()
        .find(|d| d.role == crate::model::DeploymentRole::Active)
        .map_or_else(
            || "the old revision".to_string(),
            |d| d.task_definition.to_string(),
        );
    // The new revision is the shifting (primary) deployment's: on ECS the
    // service's own, on Lambda not (the alias still names the old version).
    let new = snap
        .deployments
        .iter()
        .find(|d| d.role == crate::model::DeploymentRole::Primary)
        .map(|d| &d.task_definition)
        .or(snap.task_definition.as_ref());
    let same = |a: &crate::model::Revision, b: &crate::model::Revision| {
        a.family == b.family && a.id == b.id
    };
    let new_digest = new.and_then(|r| {
        snap.history
            .iter()
            .find(|h| same(&h.task_definition, r))
            .and_then(|h| h.digest.as_ref())
            .or_else(|| {
                snap.task_definition
                    .as_ref()
                    .filter(|t| same(t, r))
                    .and(snap.digest.as_ref())
            })
    });
    say(&format!(
        "{service} in {env_name}: {} at {}, new {} ({}) · rest on {old}",
        shift.kind,
        shift.step_label(),
        new.map_or_else(|| "?".to_string(), ToString::to_string),
        new_digest.map_or("digest not read", |d| d.short()),
    ));
    for line in shift.lines() {
        say(&format!("  {line}"));
    }
    // The evidence: new beside old over the time held, and the hold.
    let records = driver.exec.read().map_err(CliError::failed)?;
    let began = shift
        .step
        .checked_sub(1)
        .and_then(|i| shift.started.get(i as usize).copied())
        .or_else(|| evidence::hold::step_began(&records, env_name, service, &shift));
    let hold = Hold::of(&snap.deployment_config.strategy, &shift, began);
    let now = driver.clock.now();
    let evidence = evidence::pause::at_step(cfg, env, &snap, &shift, began, hold, now);
    for line in evidence.lines() {
        say(&sanitize(&line));
    }
    // Typed text ends up in the record: one line, whatever was typed.
    let reason = crate::model::text::fold_line(args.reason.as_deref().unwrap_or_default());
    let mut report = Report {
        action: "step",
        decision: decision.as_str(),
        service: service.to_string(),
        env: env_name.to_string(),
        step: shift.step_label(),
        outcome: "cancelled",
        said: String::new(),
        hold_cut: None,
        evidence,
    };
    let mut ask = step::Ask {
        decision,
        operator,
        reason: &reason,
        hold,
        now,
        cut_hold: args.cut_hold,
        demo_flag: if cfg.is_demo() { " --demo" } else { "" },
    };
    let judge = |ask: &step::Ask<'_>| {
        step::judge(
            &records,
            &cfg.environments[env],
            service,
            &shift,
            snap.digest.as_ref().map(ToString::to_string),
            ask,
        )
    };
    let mut verdict = judge(&ask);
    if let step::Verdict::Held(why) = &verdict {
        // Cutting the hold short is asked for on its own, never implied.
        if args.yes || args.json || !interactive() {
            report.outcome = "held";
            report.said = format!(
                "{why}: wait, or pass --cut-hold to continue anyway (the record then says the hold was cut short, by {operator})"
            );
            if args.json {
                say(&report.said);
            }
            return Ok(report);
        }
        if !yes(&format!("{why}: continue anyway? [y/N] ")) {
            report.outcome = "held";
            report.said = "the hold is kept: nothing was changed".to_string();
            return Ok(report);
        }
        ask.cut_hold = true;
        verdict = judge(&ask);
    }
    match &verdict {
        step::Verdict::Refused(why) | step::Verdict::Held(why) => {
            return Err(CliError::failed(why.clone()));
        }
        step::Verdict::Approval { have, need, .. } => say(&format!(
            "this records approval {have} of {need} to continue; the step moves on at {need}"
        )),
        step::Verdict::Apply(d) => {
            report.hold_cut = d
                .reasons
                .iter()
                .find(|r| r.starts_with("hold cut short"))
                .cloned();
            say(&match decision {
                Decision::Continue => {
                    format!("continue: the traffic moves on from {}", shift.step_label())
                }
                Decision::Rollback => {
                    format!("roll back: all traffic goes back to {old} in one step")
                }
            });
            if let Some(cut) = &report.hold_cut {
                say(&format!("the record will say: {cut}"));
            }
        }
    }
    if !confirmed(cfg, env, args.yes, "a step decision")? {
        report.said = "nothing was changed".to_string();
        return Ok(report);
    }
    // Judged again on the ledger as it is now (another approval may have come).
    let (applied, said) = driver
        .exec
        .decide_step(
            env,
            service,
            &shift,
            decision,
            snap.digest.as_ref().map(ToString::to_string),
            &reason,
            hold,
            ask.cut_hold,
        )
        .await
        .map_err(CliError::failed)?;
    report.outcome = if applied {
        "applied"
    } else {
        "approval_recorded"
    };
    report.said = said;
    Ok(report)
}
