//! The cutover runbook, as a deploy into a proxy environment runs it:
//!
//! 1. deploy the idle colour with the digest (the configured command);
//! 2. verify that it serves that digest;
//! 3. probe it until it answers 200 for its whole stability window, then run
//!    its smoke checks;
//! 4. check that the live colour is still the one the deploy started from;
//! 5. switch the proxy;
//! 6. confirm, through the proxy, that requests reach the new colour;
//! 7. keep the old colour warm for `keep_warm`, watched.
//!
//! Each step shows in readings (the deployment's `step`, which the watch
//! records in the ledger); the command's output shows as events. A failure
//! before the switch leaves the proxy untouched.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::driver;
use crate::config::proxy::{Colour, ProxyEnv, ProxyService};
use crate::model::{Convergence, Deployment, DeploymentRole, Digest, RolloutState, ServiceEvent};
use crate::provider::{DeployStarted, ProviderError};

mod checks;
pub(in crate::platforms::proxy) mod command;
mod stepped;
use checks::{check_live, confirm, ready, smoke, verify_digest};
#[cfg(test)]
mod tests;

/// Interval between two probes of a colour while it gets ready.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// Interval between two reads of the live colour while the old one is kept warm.
const LIVE_CHECK_EVERY: Duration = Duration::from_secs(2);
/// Output lines of the deploy command kept for the timeline.
const EVENTS_KEPT: usize = 200;

/// One cutover or switch-back of one service, as readings show it.
#[derive(Debug, Clone)]
pub struct Run {
    /// Deployment id (`cutover-…`, `switch-back-…`).
    pub id: String,
    from: Colour,
    to: Colour,
    state: RolloutState,
    step: String,
    steps: Vec<String>,
    /// The proxy was switched by this run.
    switched: bool,
    reason: Option<String>,
    started: DateTime<Utc>,
    updated: DateTime<Utc>,
    events: VecDeque<ServiceEvent>,
    seq: u64,
    /// ALB weights in steps: where they stand.
    shift: Option<crate::model::Shift>,
    /// The proxy was found changed outside shipdeck after this run switched
    /// it: the run stopped there, and what serves is what was found.
    outside: Option<Outside>,
}

/// What serves after a change made outside shipdeck since a run switched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outside {
    /// The colour taking the traffic (the larger share, when split).
    pub colour: Colour,
    /// What was found, said.
    pub found: String,
}

impl Outside {
    /// The listener's weights give `to` `now` percent where a run left `left`.
    fn weights(to: Colour, now: u32, left: u32) -> Self {
        let now = now.min(100);
        Self {
            colour: if now * 2 >= 100 { to } else { to.other() },
            found: format!(
                "the weights were changed outside this run: {to} has {now}%, {} {}% (this run left {to} at {left}%)",
                to.other(),
                100 - now
            ),
        }
    }
}

fn new_id(kind: &str) -> String {
    format!(
        "{kind}-{}",
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )
}

impl Run {
    /// A cutover from the live colour `live` to the other one.
    pub fn new(live: Colour, digest: &Digest) -> Self {
        let now = Utc::now();
        Self {
            id: new_id("cutover"),
            from: live,
            to: live.other(),
            state: RolloutState::InProgress,
            step: format!("deploying {} with {}", live.other(), digest.short()),
            steps: Vec::new(),
            switched: false,
            reason: None,
            started: now,
            updated: now,
            events: VecDeque::new(),
            seq: 0,
            shift: None,
            outside: None,
        }
    }

    /// Still running.
    pub fn in_flight(&self) -> bool {
        self.state == RolloutState::InProgress
    }

    /// The colour still taking most of the traffic while this run shifts
    /// ALB weights in steps (the listener rule then forwards to both).
    pub fn stepping_from(&self) -> Option<Colour> {
        (self.in_flight() && self.shift.is_some()).then_some(self.from)
    }

    /// Where this run left the proxy: its new colour and that colour's share
    /// in percent (100 once switched). `None` before it changed anything, once
    /// it failed, and once it found the proxy changed outside shipdeck.
    pub fn left_at(&self) -> Option<(Colour, u32)> {
        if !self.switched || self.outside.is_some() || self.state == RolloutState::Failed {
            return None;
        }
        let share = self.shift.as_ref().map_or(100, |s| s.new_weight / 100);
        Some((self.to, share))
    }

    /// As deployments: the new colour primary, the old one active while in
    /// flight. When the proxy was found changed outside shipdeck since this
    /// run switched it (`found` by this reading, or by the run itself), what
    /// serves is the primary and this run's deployment is not.
    pub fn deployments(&self, service: &str, found: Option<&Outside>) -> Vec<Deployment> {
        let done = self.state == RolloutState::Completed;
        let mut out = vec![Deployment {
            id: self.id.clone(),
            role: DeploymentRole::Primary,
            task_definition: self.to.revision_of(service),
            rollout: self.state,
            reason: Some(self.reason.clone().unwrap_or_else(|| self.step.clone())),
            steps: self.steps.clone(),
            nothing_changed: self.state == RolloutState::Failed && !self.switched,
            shift: self.shift.clone().map(Box::new),
            running: u32::from(done),
            desired: 1,
            pending: u32::from(!done),
            failed_tasks: 0,
            created_at: self.started,
            updated_at: self.updated,
        }];
        if let Some(o) = found.or(self.outside.as_ref()) {
            out[0].role = if self.in_flight() {
                DeploymentRole::Active
            } else {
                DeploymentRole::Inactive
            };
            out.insert(
                0,
                Deployment {
                    id: format!("{service}-{}", o.colour),
                    role: DeploymentRole::Primary,
                    task_definition: o.colour.revision_of(service),
                    rollout: RolloutState::Completed,
                    reason: Some(o.found.clone()),
                    steps: Vec::new(),
                    nothing_changed: false,
                    shift: None,
                    running: 1,
                    desired: 1,
                    pending: 0,
                    failed_tasks: 0,
                    created_at: self.updated,
                    updated_at: self.updated,
                },
            );
            return out;
        }
        if self.in_flight() {
            out.push(Deployment {
                id: format!("{}-{}", service, self.from),
                role: DeploymentRole::Active,
                task_definition: self.from.revision_of(service),
                rollout: RolloutState::Completed,
                reason: Some("live until the switch".to_string()),
                steps: Vec::new(),
                nothing_changed: false,
                shift: None,
                running: 1,
                desired: 1,
                pending: 0,
                failed_tasks: 0,
                created_at: self.started,
                updated_at: self.updated,
            });
        }
        out
    }

    /// Output and steps, newest first.
    pub fn events(&self) -> Vec<ServiceEvent> {
        self.events.iter().rev().cloned().collect()
    }

    fn set_step(&mut self, step: String) {
        self.event(step.clone());
        self.steps.push(step.clone());
        self.step = step;
    }

    fn event(&mut self, message: String) {
        self.seq += 1;
        self.events.push_back(ServiceEvent {
            id: format!("{}-{}", self.id, self.seq).into(),
            at: Utc::now(),
            message: message.into(),
        });
        while self.events.len() > EVENTS_KEPT {
            self.events.pop_front();
        }
    }
}

/// What a runbook task works with.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// HTTP client.
    pub client: reqwest::Client,
    /// Every run of the process.
    pub runs: Arc<Mutex<HashMap<(String, String), Run>>>,
    /// (environment, service).
    pub key: (String, String),
    /// The proxy.
    pub proxy: ProxyEnv,
    /// The service behind it.
    pub svc: ProxyService,
    /// Environment name.
    pub env: String,
    /// Service name.
    pub service: String,
}

/// One switch at a time in this process: a cutover's switch and a switch back
/// never interleave, and a reading that compares the proxy with a run holds it
/// so that a switch of shipdeck's own never reads as a change from outside.
pub(crate) fn switch_lock() -> &'static tokio::sync::Mutex<()> {
    static L: std::sync::OnceLock<tokio::sync::Mutex<()>> = std::sync::OnceLock::new();
    L.get_or_init(|| tokio::sync::Mutex::new(()))
}

impl Ctx {
    /// Changes run `id` if it is still this service's run; `false` when another
    /// run replaced it (a switch back): the runbook then stops.
    fn update(&self, id: &str, f: impl FnOnce(&mut Run)) -> bool {
        let Ok(mut runs) = self.runs.lock() else {
            return false;
        };
        match runs.get_mut(&self.key) {
            Some(r) if r.id == id => {
                f(r);
                r.updated = Utc::now();
                true
            }
            _ => false,
        }
    }

    fn step(&self, id: &str, step: String) -> bool {
        tracing::info!(env = %self.env, service = %self.service, step = %step, "cutover step");
        self.update(id, |r| r.set_step(step))
    }

    fn fail(&self, id: &str, why: String) {
        tracing::warn!(env = %self.env, service = %self.service, why = %why, "cutover failed");
        self.update(id, |r| {
            // Stopped by a change from outside: that is what it says, not a failure.
            if r.outside.is_some() {
                return;
            }
            r.event(format!("FAILED: {why}"));
            r.state = RolloutState::Failed;
            r.reason = Some(why);
        });
    }

    fn current(&self, id: &str) -> bool {
        self.update(id, |_| {})
    }

    /// The proxy was found changed outside shipdeck since run `id` switched
    /// it: the run stops, saying what it found (never "live" or "failed").
    fn changed_outside(&self, id: &str, o: Outside) {
        tracing::warn!(env = %self.env, service = %self.service, found = %o.found, "changed outside shipdeck");
        self.update(id, |r| {
            if r.state == RolloutState::InProgress {
                r.set_step(format!("stopped: {}", o.found));
                r.state = RolloutState::Completed;
                r.outside = Some(o);
            }
        });
    }
}

/// What is found changed since a run left the proxy with `to` taking `share`
/// percent of the traffic (100: switched), given the live colour just read:
/// `None` when it is as the run left it, or when it cannot be read (unknown is
/// not a change). ALB weights are read from the listener rule.
pub(crate) async fn found_since(
    proxy: &ProxyEnv,
    svc: &ProxyService,
    live: &Result<Colour, String>,
    to: Colour,
    share: u32,
) -> Option<Outside> {
    if let super::ProxyKind::Alb { .. } = proxy.kind {
        let c = super::alb::client(&proxy.kind).await.ok()?;
        let now = super::alb::share(&c, svc, to).await.ok()?;
        return (now != share).then(|| Outside::weights(to, now, share));
    }
    match live {
        Ok(c) if *c != to => Some(Outside {
            colour: *c,
            found: format!(
                "{} sends the traffic to {c} since shipdeck switched it to {to}",
                proxy.kind.name()
            ),
        }),
        _ => None,
    }
}

/// After run `id` switched to `to`: what is found changed since, read under
/// the switch lock (a switch back of shipdeck's own replaces the run first).
async fn switched_since(ctx: &Ctx, id: &str, to: Colour) -> Option<Outside> {
    let _one = switch_lock().lock().await;
    if !ctx.current(id) {
        return None;
    }
    let live = driver::live(&ctx.client, &ctx.proxy, &ctx.svc).await;
    found_since(&ctx.proxy, &ctx.svc, &live, to, 100).await
}

/// Runs the runbook from the live colour `live` to the other with `digest`.
pub async fn cutover(ctx: Ctx, live: Colour, digest: Digest) {
    let id = match ctx.runs.lock() {
        Ok(runs) => runs.get(&ctx.key).map(|r| r.id.clone()),
        Err(_) => None,
    };
    let Some(id) = id else { return };
    if let Err(why) = cutover_steps(&ctx, &id, live, &digest).await {
        ctx.fail(&id, why);
    }
}

async fn cutover_steps(ctx: &Ctx, id: &str, live: Colour, digest: &Digest) -> Result<(), String> {
    let to = live.other();
    let svc = &ctx.svc;
    if !ctx.step(id, format!("deploying {to} with {}", digest.short())) {
        return Ok(());
    }
    command::deploy_command(ctx, id, to, digest).await?;

    if !ctx.step(id, format!("verifying that {to} serves {}", digest.short())) {
        return Ok(());
    }
    verify_digest(ctx, to, digest).await?;

    let window = humantime::format_duration(svc.stability_window);
    if !ctx.step(
        id,
        format!("probing {to} until it answers 200 for {window}"),
    ) {
        return Ok(());
    }
    ready(ctx, id, to).await?;
    if !svc.smoke.is_empty() {
        if !ctx.step(
            id,
            format!("running {} smoke check(s) against {to}", svc.smoke.len()),
        ) {
            return Ok(());
        }
        smoke(ctx, to).await?;
    }

    // ALB weights in configured steps first (each one ModifyRule).
    let Some(stepped) = stepped::shift(ctx, id, live, to).await? else {
        return Ok(());
    };
    let switched_in;
    {
        let _one = switch_lock().lock().await;
        if stepped == 0 {
            check_live(ctx, id, live).await?;
        } else if let Some(last) = svc.alb.as_ref().and_then(|a| a.steps.last()) {
            let c = super::alb::client(&ctx.proxy.kind).await?;
            stepped::unchanged(ctx, id, &c, to, *last).await?;
        }
        if !ctx.step(
            id,
            format!("switching {} from {live} to {to}", ctx.proxy.kind.name()),
        ) {
            return Ok(());
        }
        let t = std::time::Instant::now();
        driver::switch(&ctx.client, &ctx.proxy, svc, to)
            .await
            .map_err(|e| format!("switch failed: {e}; {live} still takes the traffic"))?;
        switched_in = t.elapsed();
        ctx.update(id, |r| {
            r.switched = true;
            r.shift = None;
        });
    }

    if !ctx.step(id, format!("confirming that requests reach {to}")) {
        return Ok(());
    }
    if let Err(e) = confirm(ctx, to, Some(digest)).await {
        // Switched back by hand meanwhile: that is not the new colour failing.
        if let Some(o) = switched_since(ctx, id, to).await {
            ctx.changed_outside(id, o);
            return Ok(());
        }
        return Err(e);
    }

    let warm = humantime::format_duration(svc.keep_warm);
    if !ctx.step(
        id,
        format!(
            "switched to {to} in {} ms; {live} kept warm for {warm}, watched",
            switched_in.as_millis()
        ),
    ) {
        return Ok(());
    }
    // Watched: a switch made by hand meanwhile stops the run, saying so.
    let until = tokio::time::Instant::now() + svc.keep_warm;
    loop {
        if let Some(o) = switched_since(ctx, id, to).await {
            ctx.changed_outside(id, o);
            return Ok(());
        }
        let now = tokio::time::Instant::now();
        if now >= until || !ctx.current(id) {
            break;
        }
        tokio::time::sleep(LIVE_CHECK_EVERY.min(until - now)).await;
    }
    ctx.update(id, |r| {
        if r.state == RolloutState::InProgress {
            r.set_step(format!(
                "{to} live; {live} was kept warm for {warm} and stays as it is"
            ));
            r.state = RolloutState::Completed;
        }
    });
    Ok(())
}

/// A rollback: switch back to `target` (which must answer), then confirm
/// through the proxy that it serves.
pub async fn switch_back(ctx: &Ctx, target: Colour) -> Result<DeployStarted, ProviderError> {
    let _one = switch_lock().lock().await;
    let svc = &ctx.svc;
    // Mid-way through ALB weights in steps the rule forwards to both: the
    // colour shifted from is the one to switch back to, in one call.
    let stepping = ctx
        .runs
        .lock()
        .ok()
        .and_then(|runs| runs.get(&ctx.key).and_then(Run::stepping_from));
    let live = match driver::live(&ctx.client, &ctx.proxy, svc).await {
        Ok(c) => c,
        Err(_) if stepping.is_some() => stepping.unwrap_or(target),
        Err(message) => return Err(ProviderError::Network { message }),
    };
    let seen = super::read_colour(&ctx.client, svc, target).await;
    if !seen.answering {
        return Err(ProviderError::Conflict {
            message: format!(
                "{target} does not answer ({}): switching to it would send traffic nowhere; {live} stays live",
                seen.reason
            ),
        });
    }
    let now = Utc::now();
    let mut run = Run {
        id: new_id("switch-back"),
        from: live,
        to: target,
        state: RolloutState::InProgress,
        step: format!(
            "switching {} from {live} to {target}",
            ctx.proxy.kind.name()
        ),
        steps: Vec::new(),
        switched: true,
        reason: None,
        started: now,
        updated: now,
        events: VecDeque::new(),
        seq: 0,
        shift: None,
        outside: None,
    };
    if live == target && stepping.is_none() {
        run.step = format!("{target} is already live: nothing to switch");
    } else {
        let t = std::time::Instant::now();
        driver::switch(&ctx.client, &ctx.proxy, svc, target)
            .await
            .map_err(|e| ProviderError::Other {
                message: format!("switch back failed: {e}"),
            })?;
        run.step = format!(
            "switched {} from {live} to {target} in {} ms",
            ctx.proxy.kind.name(),
            t.elapsed().as_millis()
        );
    }
    let step = run.step.clone();
    run.set_step(step);
    let id = run.id.clone();
    if let Ok(mut runs) = ctx.runs.lock() {
        // Keep the output of the cutover this replaces.
        if let Some(old) = runs.remove(&ctx.key) {
            run.events = old.events;
            run.seq = old.seq;
            run.event(format!("{} replaced by a switch back to {target}", old.id));
        }
        runs.insert(ctx.key.clone(), run);
    }
    let confirmed = confirm(ctx, target, seen.digest.as_ref()).await;
    ctx.update(&id, |r| match &confirmed {
        Ok(()) => {
            r.set_step(format!("switched back: {target} serves again"));
            r.state = RolloutState::Completed;
        }
        Err(e) => {
            r.event(format!("FAILED: {e}"));
            r.reason = Some(e.clone());
            r.state = RolloutState::Failed;
        }
    });
    Ok(DeployStarted {
        service: ctx.service.clone(),
        from: Some(live.revision_of(&ctx.service)),
        to: Some(target.revision_of(&ctx.service)),
        change: None,
        deployment_id: Some(id),
    })
}

/// The proxy's answer to "converged?", for its readings: the primary
/// deployment (a run's, or the live colour settled) completed and the live
/// colour answers. The watch reads it and counts nothing itself.
pub fn convergence(deployments: &[Deployment], answering: bool) -> Convergence {
    Convergence::judged(
        answering
            && deployments
                .iter()
                .find(|d| d.role == DeploymentRole::Primary)
                .is_none_or(|d| d.rollout == RolloutState::Completed),
    )
}
