//! `shipdeck step continue|rollback SERVICE --env ENV`: a decision at a paused
//! step of a stepped rollout (canary, linear), from any terminal. In the
//! console, `c` in the deploy watch continues and `a` there (or `r` on the
//! board) rolls back; all of them ask [`crate::release::step::judge`].

use serde::Serialize;

use super::error::CliError;
use super::release::{Driver, confirmed, read_service, say};
use super::term;
use crate::config::Config;
use crate::model::Decision;
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
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// The demo's shared world, ledger and locks.
    #[arg(long)]
    pub demo: bool,
}

/// What `step` did.
#[derive(Debug, Serialize)]
struct Report {
    action: &'static str,
    decision: &'static str,
    service: String,
    env: String,
    step: String,
    /// `applied`, `approval_recorded`, `cancelled`.
    outcome: &'static str,
    said: String,
}

/// Runs `shipdeck step`.
pub async fn step(
    cfg: &Config,
    fleet: Option<super::setup::Demo>,
    operator: &str,
    args: &StepArgs,
) -> i32 {
    match run(cfg, fleet, operator, args).await {
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
            i32::from(r.outcome == "cancelled")
        }
        Err(e) => e.report(),
    }
}

async fn run(
    cfg: &Config,
    fleet: Option<super::setup::Demo>,
    operator: &str,
    args: &StepArgs,
) -> Result<Report, CliError> {
    let (service, env_name) = (args.service.as_str(), args.env.as_str());
    let env = release::env_index(cfg, env_name).map_err(CliError::usage)?;
    super::known_service(cfg, env_name, service).map_err(CliError::usage)?;
    let driver = Driver::new(cfg, fleet, operator, env)?;
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
    say(&format!(
        "{service} in {env_name}: {} at {}, new {} ({}) · rest on {old}",
        shift.kind,
        shift.step_label(),
        snap.task_definition
            .as_ref()
            .map_or_else(|| "?".to_string(), ToString::to_string),
        snap.digest.as_ref().map_or("no digest", |d| d.short()),
    ));
    for line in shift.lines() {
        say(&format!("  {line}"));
    }
    // Typed text ends up in the record: one line, whatever was typed.
    let reason = crate::model::text::fold_line(args.reason.as_deref().unwrap_or_default());
    let records = driver.exec.read().map_err(CliError::failed)?;
    let verdict = step::judge(
        &records,
        &cfg.environments[env],
        service,
        &shift,
        snap.digest.as_ref().map(ToString::to_string),
        decision,
        operator,
        &reason,
    );
    let mut report = Report {
        action: "step",
        decision: decision.as_str(),
        service: service.to_string(),
        env: env_name.to_string(),
        step: shift.step_label(),
        outcome: "cancelled",
        said: String::new(),
    };
    match &verdict {
        step::Verdict::Refused(why) => return Err(CliError::failed(why.clone())),
        step::Verdict::Approval { have, need, .. } => say(&format!(
            "this records approval {have} of {need} to continue; the step moves on at {need}"
        )),
        step::Verdict::Apply(_) => say(&match decision {
            Decision::Continue => {
                format!("continue: the traffic moves on from {}", shift.step_label())
            }
            Decision::Rollback => format!("roll back: all traffic goes back to {old} in one step"),
        }),
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
