//! `shipdeck promote` and `shipdeck rollback`: the console's wizard and rollback
//! dialog as commands, with the same gates, locks, records and watch.

use std::io::{BufRead, IsTerminal};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::{EXIT_DEGRADED, EXIT_OK, EXIT_USAGE, eprint_error, term};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Confirm, OnAbort};
use crate::gate::{Check, Verdict};
use crate::ledger::{Record, RecordKind};
use crate::model::{ServiceSnapshot, sanitize};
use crate::provider::{AnyProvider, read_with_timeout};
use crate::release::exec::{Executor, Issue};
use crate::release::{self, Answers, OpKind, Plan, Step, Watch};
use crate::sim::FleetFile;

/// Options shared by promote and rollback.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Common {
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Watch until it succeeds, or aborts (and rolls back).
    #[arg(long)]
    pub wait: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Use the built-in demo configuration and simulated fleet.
    #[arg(long)]
    pub demo: bool,
}

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
    /// Tick a checklist item (its number or exact text); repeatable.
    #[arg(long, value_name = "ITEM")]
    pub tick: Vec<String>,
    /// Break-glass override of a failed automatic check, where the policy allows it.
    #[arg(long = "override", value_name = "CHECK=REASON")]
    pub overrides: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    action: &'static str,
    service: String,
    env: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    promotion: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    go: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checks: Vec<Check>,
    /// no_go, cancelled, issued, succeeded, failed, aborted, rolled_back, not_issued.
    outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

impl Report {
    fn print(&self, json: bool) -> i32 {
        let code = match self.outcome.as_str() {
            "issued" | "succeeded" => EXIT_OK,
            "unknown" => super::EXIT_UNKNOWN,
            _ => EXIT_DEGRADED,
        };
        if json {
            match term::json(self) {
                Ok(text) => term::out_styled(&text),
                Err(e) => term::error(&format!("cannot encode the report: {e}")),
            }
        } else {
            if self.go == Some(false) {
                term::out(&checks_text(&self.checks));
            }
            term::outln(&format!(
                "{}: {}{}",
                self.action,
                self.outcome.replace('_', " "),
                self.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
        }
        code
    }
}

fn checks_text(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let mark = match (c.verdict, c.overridden) {
            (Verdict::Pass, true) => "!",
            (Verdict::Pass, false) => "✓",
            (Verdict::Fail, _) => "✗",
            (Verdict::Pending, _) => "◐",
            (Verdict::Unknown, _) => "?",
        };
        out.push_str(&format!("  {mark} {:<24} {}\n", c.name, c.reason));
    }
    out
}

/// Progress goes to stderr so that stdout stays the report (and JSON stays clean).
fn say(text: &str) {
    term::errln(text);
}

fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

fn ask(prompt: &str) -> Option<String> {
    term::err(prompt);
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim().to_string()),
    }
}

/// Asks for the confirmation the environment wants; `--yes` skips it.
fn confirmed(cfg: &Config, env: usize, yes: bool, what: &str) -> Result<bool, String> {
    if yes {
        return Ok(true);
    }
    if !interactive() {
        return Err(format!(
            "{what} needs a confirmation: run it in a terminal, or pass --yes"
        ));
    }
    let e = &cfg.environments[env];
    Ok(match e.confirm {
        Confirm::Type => {
            ask(&format!("Type \"{}\" to confirm: ", e.name)).as_deref() == Some(e.name.as_str())
        }
        Confirm::Enter => matches!(ask("Proceed? [y/N] ").as_deref(), Some("y" | "Y" | "yes")),
    })
}

/// A reading of one service with the sources of its environment that could
/// not be read (as gate reasons), or a clear error.
async fn read_service(
    provider: &AnyProvider,
    cfg: &Config,
    env: usize,
    service: &str,
) -> Result<(ServiceSnapshot, Vec<String>), String> {
    let e = &cfg.environments[env];
    let snap = read_with_timeout(provider, e)
        .await
        .map_err(|err| format!("reading \"{}\" failed: {err}", e.name))?;
    let s = snap.service(service).cloned().ok_or_else(|| {
        format!(
            "service \"{service}\" not found in \"{}\"{}",
            e.name,
            if snap.warnings.is_empty() {
                String::new()
            } else {
                format!(" ({})", snap.warnings.join("; "))
            }
        )
    })?;
    Ok((s, release::stale_sources(&e.name, &snap.sources)))
}

/// The open request for the same promotion by the same person, if any: `promote`
/// run again after the approvals arrived continues it.
fn open_request(records: &[Record], plan: &Plan, digest: &str, initiator: &str) -> Option<String> {
    let mut open: Option<String> = None;
    for r in records {
        let same = r.draft.env.as_deref() == Some(plan.target_name.as_str())
            && r.draft.service.as_deref() == Some(plan.service.as_str());
        if !same {
            continue;
        }
        match r.kind {
            RecordKind::PromotionStarted
                if r.draft.to_digest.as_deref() == Some(digest)
                    && r.draft.operator == initiator =>
            {
                open.clone_from(&r.draft.promotion);
            }
            RecordKind::DeployIssued
            | RecordKind::Aborted
            | RecordKind::DeployFailed
            | RecordKind::DeploySucceeded
                if r.draft.promotion == open =>
            {
                open = None;
            }
            _ => {}
        }
    }
    open
}

fn ticks(cfg: &Config, env: usize, given: &[String]) -> Result<Vec<bool>, String> {
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

/// Runs `shipdeck promote`.
pub async fn promote(
    cfg: &Config,
    fleet: Option<FleetFile>,
    operator: &str,
    args: &PromoteArgs,
    common: &Common,
) -> i32 {
    match promote_inner(cfg, fleet, operator, args, common).await {
        Ok(report) => report.print(common.json),
        Err((code, e)) => {
            eprint_error(&e);
            code
        }
    }
}

type Failure = (i32, String);

fn usage(e: impl std::fmt::Display) -> Failure {
    (EXIT_USAGE, e.to_string())
}

fn degraded(e: impl std::fmt::Display) -> Failure {
    (EXIT_DEGRADED, e.to_string())
}

struct Setup {
    provider: AnyProvider,
    exec: Executor,
    clock: Arc<dyn Clock>,
}

fn setup(
    cfg: &Config,
    fleet: Option<FleetFile>,
    operator: &str,
    env: usize,
) -> Result<Setup, Failure> {
    if let Some(why) = read_only(cfg, env) {
        return Err(usage(why));
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let provider = super::provider_for(cfg, fleet, clock.clone()).map_err(usage)?;
    let path = super::ledger_for(cfg).map_err(usage)?;
    let exec = Executor::new(
        provider.clone(),
        cfg.environments.clone(),
        crate::ledger::Ledger::new(&path),
        super::lock_dir(&path),
        operator.to_string(),
        clock.clone(),
    )
    .for_demo(cfg.is_demo());
    Ok(Setup {
        provider,
        exec,
        clock,
    })
}

fn read_only(cfg: &Config, env: usize) -> Option<String> {
    let e = &cfg.environments[env];
    if cfg.read_only {
        Some(
            "read-only mode (--read-only or read_only = true): deploys and rollbacks are disabled"
                .to_string(),
        )
    } else if e.read_only {
        Some(format!(
            "environment \"{}\" is read-only in the configuration",
            e.name
        ))
    } else {
        None
    }
}

async fn promote_inner(
    cfg: &Config,
    fleet: Option<FleetFile>,
    operator: &str,
    args: &PromoteArgs,
    common: &Common,
) -> Result<Report, Failure> {
    let target = release::env_index(cfg, &args.to).map_err(usage)?;
    let source = match &args.from {
        Some(f) => release::env_index(cfg, f).map_err(usage)?,
        None => target.checked_sub(1).ok_or_else(|| {
            usage(format!(
                "\"{}\" is the first stage: nothing promotes into it",
                args.to
            ))
        })?,
    };
    // Usage errors, before anything is read: a typo exits 2 like every command's.
    if source >= target {
        return Err(usage(format!(
            "promotions go forward: \"{}\" comes after \"{}\" in the chain",
            cfg.environments[source].name, args.to
        )));
    }
    super::known_service(cfg, &args.to, &args.service).map_err(usage)?;
    super::known_service(cfg, &cfg.environments[source].name, &args.service).map_err(usage)?;
    let mut answers = Answers {
        ticked: ticks(cfg, target, &args.tick).map_err(usage)?,
        // Typed text ends up in records: no control characters.
        change_record: sanitize(args.change.as_deref().unwrap_or_default()),
        hotfix_reason: sanitize(args.reason.as_deref().unwrap_or_default()),
        overrides: Vec::new(),
    };
    for o in &args.overrides {
        let Some((check, why)) = o.split_once('=') else {
            return Err(usage(format!("--override \"{o}\": write CHECK=REASON")));
        };
        answers
            .overrides
            .push((sanitize(check.trim()), sanitize(why.trim())));
    }
    let Setup {
        provider,
        mut exec,
        clock,
    } = setup(cfg, fleet, operator, target)?;
    let (src, stale) = read_service(&provider, cfg, source, &args.service)
        .await
        .map_err(degraded)?;
    let (dst, _) = read_service(&provider, cfg, target, &args.service)
        .await
        .map_err(degraded)?;
    let plan = release::plan(cfg, &args.service, source, target, Some(&src), Some(&dst))
        .map_err(degraded)?;
    let digest = plan
        .digest
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let policy = &cfg.environments[target].gate;
    let policy_hash = crate::approvals::policy_hash(policy);
    let mut records = exec.read().map_err(degraded)?;
    let needs_approvals = crate::gate::approvals_required(policy, plan.hotfix) > 0;
    let open = open_request(&records, &plan, &digest, operator);
    let requested = open.is_some() || (needs_approvals && plan.digest.is_some());
    let promotion = open.clone().unwrap_or_else(|| {
        crate::approvals::new_id(&plan.target_name, &plan.service, &digest, clock.now())
    });
    if open.is_none() && requested {
        let request = plan.request_draft(operator, &promotion, &policy_hash);
        records.push(
            exec.record(RecordKind::PromotionStarted, request)
                .map_err(degraded)?,
        );
    }
    // Smoke checks of the source, when it has any.
    let smoke = if cfg.environments[source].smoke.is_empty() {
        None
    } else {
        let client = crate::health::client().map_err(degraded)?;
        say(&format!(
            "running the smoke checks of {}…",
            plan.source_name
        ));
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
    // Interactive: ask for what is missing.
    if !common.yes && interactive() {
        for (i, item) in policy.checklist.iter().enumerate() {
            if !answers.ticked[i] {
                answers.ticked[i] = matches!(
                    ask(&format!("Checklist: {item}? [y/N] ")).as_deref(),
                    Some("y" | "Y" | "yes")
                );
            }
        }
        if policy.change_record.is_some() && answers.change_record.trim().is_empty() {
            answers.change_record = sanitize(&ask("Change record id: ").unwrap_or_default());
        }
        if plan.hotfix && answers.hotfix_reason.trim().is_empty() {
            answers.hotfix_reason =
                sanitize(&ask("Hotfix reason (a stage is skipped): ").unwrap_or_default());
        }
    }
    let approvers = crate::approvals::current(
        &records,
        &promotion,
        &digest,
        policy,
        &policy_hash,
        clock.now(),
    );
    let gate = release::gate_for(
        cfg,
        &plan,
        &release::Observed {
            source: Some(&src),
            // Both were read just now.
            source_fresh: true,
            target_fresh: true,
            stale,
            smoke: smoke.as_deref(),
            now: clock.now(),
            in_flight: exec.holder(&plan.target_name, &plan.service),
            approvers: &approvers,
            initiator: operator,
        },
        &answers,
    );
    let mut report = Report {
        action: "promote",
        service: plan.service.clone(),
        env: plan.target_name.clone(),
        from_env: Some(plan.source_name.clone()),
        promotion: Some(promotion.clone()),
        from_revision: plan.target_revision.as_ref().map(ToString::to_string),
        to_revision: None,
        digest: plan.digest.as_ref().map(ToString::to_string),
        go: Some(gate.go),
        checks: gate.checks.clone(),
        outcome: "no_go".to_string(),
        reason: None,
    };
    if !gate.go {
        let open: Vec<&str> = gate
            .checks
            .iter()
            .filter(|c| c.verdict != Verdict::Pass)
            .map(|c| c.name.as_str())
            .collect();
        report.reason = Some(format!("not passed: {}", open.join(", ")));
        if requested
            && gate
                .checks
                .iter()
                .any(|c| c.name == "approvals" && c.verdict != Verdict::Pass)
        {
            say(&format!(
                "promotion {promotion} waits for approvals: approvers run `shipdeck approve {promotion}`, then run this command again"
            ));
        }
        return Ok(report);
    }
    if !common.json {
        term::err(&checks_text(&gate.checks));
        for line in plan.diff() {
            say(&format!("  {line}"));
        }
    }
    if !confirmed(cfg, target, common.yes, "a deploy").map_err(usage)? {
        report.outcome = "cancelled".to_string();
        if requested {
            let mut d = plan.draft(operator, &promotion);
            d.reasons.push("not confirmed".to_string());
            exec.record(RecordKind::Aborted, d).map_err(degraded)?;
        }
        return Ok(report);
    }
    let Some(d) = plan.digest.clone() else {
        return Err(degraded("the source is unpinned"));
    };
    let (base, confirmation) = plan.confirmation_records(
        &gate,
        &answers,
        &approvers,
        operator,
        &promotion,
        &policy_hash,
        requested,
    );
    for (kind, draft) in confirmation {
        exec.record(kind, draft).map_err(degraded)?;
    }
    let mut watch = Watch::new(
        cfg,
        OpKind::Deploy,
        target,
        &plan.service,
        &promotion,
        Some(&dst),
        Some(d.clone()),
        clock.now(),
    );
    watch.carry(&base);
    run_issue(
        cfg,
        &provider,
        &mut exec,
        &clock,
        watch,
        Issue::Deploy(d),
        base,
        common,
        report,
    )
    .await
}

/// Issues, then (with --wait) watches; fills the report's outcome.
#[allow(clippy::too_many_arguments)]
async fn run_issue(
    cfg: &Config,
    provider: &AnyProvider,
    exec: &mut Executor,
    clock: &Arc<dyn Clock>,
    mut watch: Watch,
    issue: Issue,
    draft: crate::ledger::Draft,
    common: &Common,
    mut report: Report,
) -> Result<Report, Failure> {
    let (env, service) = (watch.env, watch.service.clone());
    match exec.issue(env, &service, &issue, draft).await {
        Ok((started, _)) => {
            say(&format!(
                "issued: {} → {}",
                started
                    .from
                    .as_ref()
                    .map_or_else(|| "?".to_string(), ToString::to_string),
                started.to
            ));
            report.to_revision = Some(started.to.to_string());
            watch.started(started.to, started.deployment_id);
        }
        Err((e, closed)) => {
            if !closed && watch.kind == OpKind::Deploy {
                let mut d = watch.draft(exec.operator());
                d.reasons.push(e.clone());
                d.outcome = Some("not issued".to_string());
                let _ = exec.record(RecordKind::Aborted, d);
            }
            report.outcome = "not_issued".to_string();
            report.reason = Some(e);
            return Ok(report);
        }
    }
    if !common.wait {
        exec.release(&watch.env_name, &service);
        report.outcome = "issued".to_string();
        report.reason = Some("not watched (no --wait); the outcome is not recorded".to_string());
        return Ok(report);
    }
    let outcome = watch_until_done(cfg, provider, exec, clock, watch).await;
    report.outcome = outcome.0;
    report.reason = outcome.1;
    Ok(report)
}

/// Watches until the end, rolling back after an abort when the policy says so
/// (or when asked and the operator agrees). Returns the outcome and its reason.
async fn watch_until_done(
    cfg: &Config,
    provider: &AnyProvider,
    exec: &mut Executor,
    clock: &Arc<dyn Clock>,
    mut watch: Watch,
) -> (String, Option<String>) {
    let env_cfg = &cfg.environments[watch.env];
    let every = cfg
        .refresh_interval
        .clamp(Duration::from_secs(1), crate::app::WATCH_POLL);
    let operator = exec.operator().to_string();
    loop {
        tokio::time::sleep(every).await;
        let snap = read_with_timeout(provider, env_cfg).await;
        let step = match snap.as_ref().map(|s| s.service(&watch.service)) {
            Ok(Some(s)) => {
                let before = watch.stage;
                let step = watch.observe(s, clock.now());
                if watch.stage != before {
                    say(&format!("  {}", watch.progress));
                }
                step
            }
            Ok(None) => watch.silent(clock.now()),
            Err(e) => {
                say(&format!("reading failed (will retry): {e}"));
                watch.silent(clock.now())
            }
        };
        if step == Step::Continue {
            continue;
        }
        for (kind, draft) in release::closing_records(&watch, &step, &operator, clock.now()) {
            if let Err(e) = exec.record(kind, draft) {
                say(&format!("AUDIT: {e}"));
            }
        }
        match (&step, watch.kind) {
            (Step::Abort(why), OpKind::Deploy) => {
                say(&format!("ABORTED: {why}"));
                let roll = match env_cfg.rollout.on_abort {
                    OnAbort::Rollback => true,
                    OnAbort::Prompt => {
                        interactive()
                            && matches!(
                                ask("Roll back now? [y/N] ").as_deref(),
                                Some("y" | "Y" | "yes")
                            )
                    }
                };
                let next = roll
                    .then(|| watch.rollback_after_abort(&operator, why, clock.now()))
                    .flatten();
                let Some((rb, from, draft)) = next else {
                    exec.release(&watch.env_name, &watch.service);
                    return ("aborted".to_string(), Some(why.clone()));
                };
                say(&format!("rolling back to {from}…"));
                match exec
                    .issue(
                        watch.env,
                        &watch.service.clone(),
                        &Issue::Rollback(from),
                        draft,
                    )
                    .await
                {
                    Ok((started, _)) => {
                        watch = rb;
                        watch.started(started.to, started.deployment_id);
                    }
                    Err((e, _)) => {
                        exec.release(&watch.env_name, &watch.service);
                        return (
                            "aborted".to_string(),
                            Some(format!("{why}; the rollback could not be issued: {e}")),
                        );
                    }
                }
            }
            (Step::Succeeded, kind) => {
                exec.release(&watch.env_name, &watch.service);
                return match (kind, watch.automatic) {
                    (OpKind::Rollback, true) => (
                        "rolled_back".to_string(),
                        Some(format!(
                            "the deploy was aborted; back on {}",
                            watch
                                .to
                                .as_ref()
                                .map_or_else(String::new, ToString::to_string)
                        )),
                    ),
                    _ => ("succeeded".to_string(), None),
                };
            }
            (Step::Unknown(why), _) => {
                exec.release(&watch.env_name, &watch.service);
                return ("unknown".to_string(), Some(why.clone()));
            }
            (Step::Failed(why) | Step::Abort(why), _) => {
                exec.release(&watch.env_name, &watch.service);
                return ("failed".to_string(), Some(why.clone()));
            }
            (Step::Continue, _) => {}
        }
    }
}

/// Runs `shipdeck rollback`.
pub async fn rollback(
    cfg: &Config,
    fleet: Option<FleetFile>,
    operator: &str,
    service: &str,
    env: &str,
    common: &Common,
) -> i32 {
    match rollback_inner(cfg, fleet, operator, service, env, common).await {
        Ok(report) => report.print(common.json),
        Err((code, e)) => {
            eprint_error(&e);
            code
        }
    }
}

async fn rollback_inner(
    cfg: &Config,
    fleet: Option<FleetFile>,
    operator: &str,
    service: &str,
    env_name: &str,
    common: &Common,
) -> Result<Report, Failure> {
    let env = release::env_index(cfg, env_name).map_err(usage)?;
    super::known_service(cfg, env_name, service).map_err(usage)?;
    let Setup {
        provider,
        mut exec,
        clock,
    } = setup(cfg, fleet, operator, env)?;
    let (snap, _) = read_service(&provider, cfg, env, service)
        .await
        .map_err(degraded)?;
    let records = exec.read().map_err(degraded)?;
    let target = release::rollback_target(&records, env_name, &snap).map_err(degraded)?;
    let id = crate::approvals::new_id(env_name, service, &target.revision.to_string(), clock.now());
    say(&format!(
        "roll back {service} in {env_name}: {} ({}) → {} ({}){}",
        snap.task_definition
            .as_ref()
            .map_or_else(|| "?".to_string(), ToString::to_string),
        snap.digest.as_ref().map_or("no digest", |d| d.short()),
        target.revision,
        target.digest.as_ref().map_or("no digest", |d| d.short()),
        if target.verified {
            " [previous stable revision]"
        } else {
            " [UNVERIFIED: no stable record; newest older ACTIVE revision]"
        }
    ));
    let report = Report {
        action: "rollback",
        service: service.to_string(),
        env: env_name.to_string(),
        from_env: None,
        promotion: Some(id.clone()),
        from_revision: snap.task_definition.as_ref().map(ToString::to_string),
        to_revision: Some(target.revision.to_string()),
        digest: target.digest.as_ref().map(ToString::to_string),
        go: None,
        checks: Vec::new(),
        outcome: "cancelled".to_string(),
        reason: None,
    };
    if !confirmed(cfg, env, common.yes, "a rollback").map_err(usage)? {
        return Ok(report);
    }
    let (watch, draft) = release::rollback_start(
        cfg,
        env,
        service,
        &id,
        Some(&snap),
        &target,
        operator,
        clock.now(),
    );
    run_issue(
        cfg,
        &provider,
        &mut exec,
        &clock,
        watch,
        Issue::Rollback(target.revision),
        draft,
        common,
        report,
    )
    .await
}
