//! `shipdeck promote`: the wizard as a command, driving the same engine.

use std::time::Duration;

use super::error::CliError;
use super::release::{
    Common, Driver, Report, ask, checks_text, confirmed, interactive, read_service, say, yes,
};
use crate::config::Config;
use crate::config::EnvId;
use crate::ledger::Record;
use crate::model::sanitize;
use crate::model::text::fold_line;
use crate::release::{self, Answers, Outcome, Promotion};

/// What `promote` was asked.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PromoteArgs {
    /// Service (shipdeck name).
    pub service: String,
    /// Target environment.
    #[arg(long, value_name = "ENV")]
    pub to: String,
    /// Source environment; skipping a stage is the hotfix path (needs --reason).
    #[arg(long, value_name = "ENV")]
    pub from: Option<String>,
    /// Hotfix reason.
    #[arg(long)]
    pub reason: Option<String>,
    /// Change-record id.
    #[arg(long, value_name = "ID")]
    pub change: Option<String>,
    /// The change's type (`feature`, `bugfix`, `hotfix`, `infrastructure`,
    /// `configuration`, or the team's own): the approval matrix's row.
    #[arg(long, value_name = "TYPE")]
    pub change_type: Option<String>,
    /// Tick a checklist item (its number or exact text); repeatable.
    #[arg(long, value_name = "ITEM")]
    pub tick: Vec<String>,
    /// Break-glass override of a failed automatic check, where the policy allows it.
    #[arg(long = "override", value_name = "CHECK=REASON")]
    pub overrides: Vec<String>,
}

/// Runs `shipdeck promote`.
pub async fn promote(
    cfg: &Config,
    fleet: Option<super::setup::Demo>,
    operator: &str,
    args: &PromoteArgs,
    common: &Common,
) -> i32 {
    match run(cfg, fleet, operator, args, common).await {
        Ok(report) => report.print(common.json),
        Err(e) => e.report(),
    }
}

/// Source and target: usage errors before anything is read.
fn stages(cfg: &Config, args: &PromoteArgs) -> Result<(EnvId, EnvId), CliError> {
    let target = release::env_index(cfg, &args.to).map_err(CliError::usage)?;
    let source = match &args.from {
        Some(f) => release::env_index(cfg, f).map_err(CliError::usage)?,
        None => target.previous().ok_or_else(|| {
            CliError::usage(format!(
                "\"{}\" is the first stage: nothing promotes into it",
                args.to
            ))
        })?,
    };
    if source >= target {
        return Err(CliError::usage(format!(
            "promotions go forward: \"{}\" comes after \"{}\" in the chain",
            cfg.environments[source].name, args.to
        )));
    }
    super::known_service(cfg, &args.to, &args.service).map_err(CliError::usage)?;
    change_type(cfg, target, args.change_type.as_deref())?;
    super::known_service(cfg, &cfg.environments[source].name, &args.service)
        .map_err(CliError::usage)?;
    Ok((source, target))
}

/// The change type given, checked: one of the configuration's, and given
/// where the target's gate has an approval matrix.
fn change_type(cfg: &Config, target: EnvId, given: Option<&str>) -> Result<(), CliError> {
    let env = &cfg.environments[target];
    match given {
        Some(t) if !cfg.change_types.iter().any(|c| c == t) => Err(CliError::usage(format!(
            "--change-type \"{}\" is not a change type (have: {})",
            sanitize(t),
            cfg.change_types.join(", ")
        ))),
        None if !env.gate.matrix.is_empty() => Err(CliError::usage(format!(
            "\"{}\" approves by change type: pass --change-type (one of: {})",
            env.name,
            cfg.change_types.join(", ")
        ))),
        _ => Ok(()),
    }
}

/// A platform whose deploys shipdeck runs itself, in this process (a proxy
/// cutover's probes and switch), is watched to the end, or refused before
/// anything happens.
fn needs_wait(cfg: &Config, target: EnvId, service: &str, wait: bool) -> Result<(), CliError> {
    let env = &cfg.environments[target];
    let kind = env.service(service).map(|s| s.platform);
    if let Some(kind) = kind.filter(|k| crate::platforms::capabilities(*k).runs_in_process && !wait)
    {
        return Err(CliError::usage(format!(
            "{service} in \"{}\" runs on platform \"{}\", where shipdeck itself runs the deploy in this process: add --wait and keep it running",
            env.name,
            kind.name()
        )));
    }
    Ok(())
}

/// The answers given on the command line.
fn answers(cfg: &Config, target: EnvId, args: &PromoteArgs) -> Result<Answers, CliError> {
    let mut answers = Answers {
        ticked: ticks(cfg, target, &args.tick).map_err(CliError::usage)?,
        // Typed text ends up in records: no control characters.
        change_record: sanitize(args.change.as_deref().unwrap_or_default()),
        hotfix_reason: fold_line(args.reason.as_deref().unwrap_or_default()),
        overrides: Vec::new(),
        change_type: args.change_type.clone(),
    };
    for o in &args.overrides {
        let Some((check, why)) = o.split_once('=') else {
            return Err(CliError::usage(format!(
                "--override \"{o}\": write CHECK=REASON"
            )));
        };
        answers
            .overrides
            .push((sanitize(check.trim()), fold_line(why.trim())));
    }
    Ok(answers)
}

fn ticks(cfg: &Config, env: EnvId, given: &[String]) -> Result<Vec<bool>, String> {
    let items = &cfg.environments[env].gate.checklist;
    let mut ticked = vec![false; items.len()];
    for t in given {
        let idx = t
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .filter(|i| *i < items.len())
            .or_else(|| items.iter().position(|i| i == t));
        match idx {
            Some(i) => ticked[i] = true,
            None => {
                return Err(format!(
                    "--tick \"{t}\" matches no checklist item of \"{}\" (items: {})",
                    cfg.environments[env].name,
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, s)| format!("{} = {s}", i + 1))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    Ok(ticked)
}

/// Interactive: asks for what is still missing.
fn ask_missing(cfg: &Config, p: &Promotion, answers: &mut Answers) {
    let policy = &cfg.environments[p.plan.target].gate;
    for (i, item) in policy.checklist.iter().enumerate() {
        if !answers.ticked[i] {
            answers.ticked[i] = yes(&format!("Checklist: {item}? [y/N] "));
        }
    }
    if policy.change_record.is_some() && answers.change_record.trim().is_empty() {
        answers.change_record = sanitize(&ask("Change record id: ").unwrap_or_default());
    }
    if p.plan.hotfix && answers.hotfix_reason.trim().is_empty() {
        answers.hotfix_reason =
            fold_line(&ask("Hotfix reason (a stage is skipped): ").unwrap_or_default());
    }
}

async fn run(
    cfg: &Config,
    fleet: Option<super::setup::Demo>,
    operator: &str,
    args: &PromoteArgs,
    common: &Common,
) -> Result<Report, CliError> {
    let (_, target) = stages(cfg, args)?;
    let driver = Driver::new(cfg, fleet, operator, target)?;
    drive(driver, operator, args, common).await
}

/// `promote` over a given driver: the command's whole logic.
pub async fn drive(
    mut driver: Driver<'_>,
    operator: &str,
    args: &PromoteArgs,
    common: &Common,
) -> Result<Report, CliError> {
    let cfg = driver.cfg;
    let (source, target) = stages(cfg, args)?;
    needs_wait(cfg, target, &args.service, common.wait)?;
    let mut answers = answers(cfg, target, args)?;
    let (mut src, stale) = read_service(&driver.provider, cfg, source, &args.service).await?;
    let (mut dst, _) = read_service(&driver.provider, cfg, target, &args.service).await?;
    let evidence = Box::pin(super::supply::read_registry(
        cfg, target, &mut src, &mut dst,
    ))
    .await;
    let supply = evidence
        .as_ref()
        .map(|(d, e)| e.assess(d, &cfg.supply, driver.clock.now()));
    let plan = release::plan(cfg, &args.service, source, target, Some(&src), Some(&dst))
        .map_err(CliError::failed)?
        .with_change_type(args.change_type.clone())
        .with_supply(supply.as_ref().map(|a| a.record.clone()));
    let mut records: Vec<Record> = driver.exec.read().map_err(CliError::failed)?;
    let open = release::open_request(&records, &plan, operator);
    let (promotion, effects) =
        Promotion::open(cfg, plan, operator, driver.clock.now(), open.as_deref());
    for e in effects {
        if let release::Effect::Record { kind, mut draft } = e {
            // Approvers on other machines see the change record with the request.
            if kind == crate::ledger::RecordKind::PromotionStarted
                && !answers.change_record.trim().is_empty()
            {
                draft.change_record = Some(crate::model::sanitize(answers.change_record.trim()));
            }
            records.push(driver.exec.record(kind, draft).map_err(CliError::failed)?);
        }
    }
    let p = &promotion.plan;
    // Smoke checks of the source, when it has any.
    let smoke = if cfg.environments[source].smoke.is_empty() {
        None
    } else {
        let client = crate::health::client().map_err(CliError::failed)?;
        say(&format!("running the smoke checks of {}…", p.source_name));
        Some(
            crate::health::run_smoke(
                &client,
                &cfg.environments[source].smoke,
                &super::secrets_for_run(),
                Duration::from_mins(1),
            )
            .await,
        )
    };
    if !common.yes && interactive() {
        ask_missing(cfg, &promotion, &mut answers);
    }
    let now = driver.clock.now();
    let approvers = promotion.approvers(cfg, &records, now);
    let gate = promotion.gate(
        cfg,
        &release::Observed {
            source: Some(&src),
            target: Some(&dst),
            // Both were read just now.
            source_fresh: true,
            target_fresh: true,
            stale,
            smoke: smoke.as_deref(),
            now,
            in_flight: driver.exec.holder(p.target, &p.service),
            approvers: &approvers,
            initiator: operator,
            supply: supply.as_ref(),
        },
        &answers,
    );
    let mut report = Report {
        action: "promote",
        service: p.service.clone(),
        env: p.target_name.clone(),
        from_env: Some(p.source_name.clone()),
        promotion: Some(promotion.promotion.clone()),
        from_revision: p.target_revision.as_ref().map(ToString::to_string),
        to_revision: None,
        digest: p.digest.as_ref().map(ToString::to_string),
        go: Some(gate.go),
        checks: gate.checks.clone(),
        outcome: Outcome::NoGo,
        reason: None,
        cause: None,
        signal: None,
    };
    if !gate.go {
        report.reason = Some(Promotion::no_go(&gate));
        if promotion.waits_for_approvals(&gate) {
            let slots = gate
                .checks
                .iter()
                .find(|c| c.name == "approvals")
                .map_or_else(String::new, |c| format!(" ({})", c.reason));
            say(&format!(
                "promotion {id} waits for approvals{slots}: approvers run `shipdeck approve{demo} {id}`, then run this command again",
                id = promotion.promotion,
                demo = cfg.demo_flag()
            ));
        }
        return Ok(report);
    }
    if !common.json {
        super::term::err(&checks_text(&gate.checks));
        for line in p.diff() {
            say(&format!("  {line}"));
        }
    }
    if !confirmed(cfg, target, common.yes, "a deploy")? {
        for e in promotion.cancel(operator, "not confirmed") {
            if let release::Effect::Record { kind, draft } = e {
                driver.exec.record(kind, draft).map_err(CliError::failed)?;
            }
        }
        report.outcome = Outcome::Cancelled;
        return Ok(report);
    }
    let (watch, effects) = promotion
        .confirm(cfg, &gate, &answers, &approvers, Some(&dst), operator, now)
        .map_err(CliError::failed)?;
    driver.start(watch, effects, common.wait, report).await
}
