//! A run from its first update to its last lease released: the canary, its
//! checks and probes, its hold, a pause for a person where the environment
//! asks for one, then the rest a batch at a time with a hold between
//! batches; or, for a way back, every machine at once a batch at a time with
//! no canary and no hold. The leases are taken before the run starts
//! ([`super::steps::lease_all`], inside the provider's `deploy`, so that a
//! refusal is the deploy's own answer) and refreshed by the run every third
//! of their life.
//!
//! Generic over [`FlyApi`], a clock and a sleep ([`Time`]) and the canary's
//! own probes ([`Probe`]), so the simulator drives the same run on its
//! clock. The entry point is [`run`]; what the run tells the world goes
//! through its [`Control`]: its [`RunView`] (each change handed to the
//! `on_view` given to [`Control::new`]), a stop ([`Control::stop`]), the
//! adoption of its leases by a way back ([`Control::adopt`]) and a person's
//! decision at its pause ([`Control::decide`]).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::api::{FlyApi, MachineView};
use super::marker::{DECISION_KEY, PAUSE_KEY, Pause, Said};
use super::steps::{self, Checks, Target};
use crate::config::fly::{Batch, FlyService};
use crate::model::Decision;
use crate::model::text::fold_line;

mod control;

pub use control::{Adopted, Control, Ended, Stop};

/// How long a failed run keeps its leases for the way back to adopt.
pub const HANDOVER: Duration = Duration::from_mins(2);
/// The longest one `/wait` may ask for (fly-go's `proxyTimeoutThreshold`).
pub const WAIT_CALL: Duration = Duration::from_mins(1);

/// The pace of a run (the service's `[environment.service.fly]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Machines updated at once after the canary (and in a way back).
    pub batch: Batch,
    /// The canary's hold, healthy, before the rest.
    pub canary_hold: Duration,
    /// The hold between later batches.
    pub hold: Duration,
    /// How long one machine may take to start with its checks passing.
    pub wait_timeout: Duration,
    /// How long a check may stay critical before its machine has failed.
    pub checks_grace: Duration,
    /// A lease's life; refreshed every third of it.
    pub lease_ttl: Duration,
}

impl Pace {
    /// The pace `f` configures.
    pub fn of(f: &FlyService) -> Self {
        Self {
            batch: f.max_unavailable,
            canary_hold: f.canary_hold,
            hold: f.hold,
            wait_timeout: f.wait_timeout,
            checks_grace: f.checks_grace,
            lease_ttl: f.lease_ttl,
        }
    }

    fn refresh_every(&self) -> Duration {
        (self.lease_ttl / 3).max(Duration::from_secs(1))
    }
}

/// What one run does.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The run's id (`fly-…`), written into each updated machine's metadata.
    pub id: String,
    /// The app.
    pub app: String,
    /// The digest the machines move to.
    pub digest: String,
    /// The image sent: `repo@digest`.
    pub image: String,
    /// The digest they ran before (written beside the run's id, so a later
    /// process knows the way back).
    pub from: Option<String>,
    /// A way back: no canary, no holds, no pause.
    pub rollback: bool,
    /// After the canary's hold, wait for a person's decision.
    pub pause: bool,
    /// The pace.
    pub pace: Pace,
    /// The machines to update, in order (a promotion's first is its canary).
    pub order: Vec<Target>,
    /// How many machines the group has (a batch is a share of it).
    pub group: usize,
}

/// How the run keeps time: its clock and its sleep (the real ones, or the
/// simulator's), and how often a hold re-reads the machines.
pub struct Time<N, S> {
    /// Now.
    pub now: N,
    /// Waits.
    pub sleep: S,
    /// How often a hold or a wait for checks re-reads the machines.
    pub poll: Duration,
}

/// The canary's probes beyond Fly's checks: shipdeck's health window and
/// the environment's smoke checks, sent to that machine.
#[allow(async_fn_in_trait)] // used within the crate, with concrete types
pub trait Probe {
    /// `Err` says why the canary `machine` is not healthy.
    async fn canary(&self, machine: &str) -> Result<(), String>;
}

/// No probes (the simulator's, or a service with no health URL and an
/// environment with no smoke checks).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProbe;

impl Probe for NoProbe {
    async fn canary(&self, _machine: &str) -> Result<(), String> {
        Ok(())
    }
}

/// Why the run stops before its end.
enum Halt {
    Stop(Stop),
    Fail(String),
}

struct Ctx<'a, A, N, S> {
    api: &'a A,
    spec: &'a Spec,
    time: &'a Time<N, S>,
    ctl: &'a Control,
    refreshed: DateTime<Utc>,
    /// Since when each (machine, check) has read critical.
    critical: HashMap<(String, String), DateTime<Utc>>,
}

impl<A, N, S, F> Ctx<'_, A, N, S>
where
    A: FlyApi,
    N: Fn() -> DateTime<Utc>,
    S: Fn(Duration) -> F,
    F: std::future::Future<Output = ()>,
{
    fn now(&self) -> DateTime<Utc> {
        (self.time.now)()
    }

    fn since(&self, t: DateTime<Utc>) -> Duration {
        (self.now() - t).to_std().unwrap_or_default()
    }

    /// Before each call: a stop asked for ends the run here, and the leases
    /// are refreshed when a third of their life has passed.
    async fn keep(&mut self) -> Result<(), Halt> {
        if let Some(how) = self.ctl.lock().stop {
            return Err(Halt::Stop(how));
        }
        if self.since(self.refreshed) < self.spec.pace.refresh_every() {
            return Ok(());
        }
        let mut leases = self.ctl.lock().leases.clone();
        let refreshed = steps::refresh_all(
            self.api,
            &self.spec.app,
            &mut leases,
            self.spec.pace.lease_ttl,
        )
        .await;
        self.ctl.lock().leases = leases;
        self.refreshed = self.now();
        refreshed
            .map_err(|why| Halt::Fail(format!("{why}: the run stopped and updated nothing more")))
    }

    /// Sleeps `d` in slices, keeping the leases and, with `watch`, re-reading
    /// the machines updated so far (a machine that stops, or a check critical
    /// past its grace, fails the run); a hold that ends with a check
    /// critical within its grace goes on until it passes again or its grace
    /// is over: nothing more is updated over a critical check.
    async fn hold(&mut self, d: Duration, watch: bool) -> Result<(), Halt> {
        let mut held = Duration::ZERO;
        let mut critical = false;
        while held < d || critical {
            self.keep().await?;
            let slice = if held < d {
                self.time.poll.min(d.saturating_sub(held))
            } else {
                self.time.poll
            };
            (self.time.sleep)(slice).await;
            held += slice;
            if watch {
                self.keep().await?;
                critical = self.watch().await?;
            }
        }
        Ok(())
    }

    /// One reading of the group: the machines this run updated must still
    /// run, with no check critical past its grace; `true` while one is
    /// critical within it.
    async fn watch(&mut self) -> Result<bool, Halt> {
        let updated = self.ctl.lock().view.updated.clone();
        if updated.is_empty() {
            return Ok(false);
        }
        let machines = self
            .api
            .list(&self.spec.app)
            .await
            .map_err(|e| Halt::Fail(format!("the machines could not be read: {e}")))?;
        let touched = self.ctl.lock().touched.clone();
        let mut critical = false;
        for t in touched.iter().filter(|t| updated.contains(&t.id)) {
            let Some(m) = machines.iter().find(|m| m.id == t.id) else {
                return Err(Halt::Fail(format!("machine {} is gone", fold_line(&t.id))));
            };
            critical |= matches!(self.judge(t, m)?, Checks::Critical(_));
        }
        Ok(critical)
    }

    /// A machine updated by this run, as read now.
    fn judge(&mut self, t: &Target, m: &MachineView) -> Result<Checks, Halt> {
        if !t.stopped && matches!(m.state.as_str(), "stopped" | "failed" | "destroyed") {
            return Err(Halt::Fail(steps::exit_of(m)));
        }
        let read = steps::read_checks(m);
        let now = self.now();
        let grace = self.spec.pace.checks_grace;
        let Checks::Critical(bad) = &read else {
            self.critical.retain(|(id, _), _| id != &m.id);
            return Ok(read);
        };
        for (name, output) in bad {
            let since = *self
                .critical
                .entry((m.id.clone(), name.clone()))
                .or_insert(now);
            if (now - since).to_std().unwrap_or_default() >= grace {
                return Err(Halt::Fail(format!(
                    "check \"{name}\" of machine {} critical for {}: {output}",
                    steps::named(m),
                    humantime::format_duration(grace)
                )));
            }
        }
        Ok(read)
    }

    /// Updates the machines of `batch` (each under its lease), then waits for
    /// each to start with its checks passing; each becomes one step.
    async fn batch(&mut self, batch: &[Target], canary: bool) -> Result<(), Halt> {
        let spec = self.spec;
        let mut sent = Vec::new();
        for t in batch {
            self.keep().await?;
            let m = self.api.get(&spec.app, &t.id).await.map_err(|e| {
                Halt::Fail(format!(
                    "machine {} could not be read: {e}",
                    fold_line(&t.id)
                ))
            })?;
            if spec.rollback && m.digest() == Some(spec.digest.as_str()) {
                continue;
            }
            let Some(nonce) = self.ctl.lock().leases.get(&t.id).map(|l| l.nonce.clone()) else {
                return Err(Halt::Fail(format!(
                    "machine {} is not leased by this run",
                    fold_line(&t.id)
                )));
            };
            let from = if spec.rollback {
                None
            } else {
                spec.from.as_deref()
            };
            let body = steps::update_body(&m, &spec.image, &spec.id, from, t.stopped)
                .map_err(Halt::Fail)?;
            // Counted before the call: a call that fails half way may have
            // changed the machine, and the way back must look at it.
            self.ctl.lock().touched.push(t.clone());
            let answer = self
                .api
                .update(&spec.app, &t.id, &nonce, &body)
                .await
                .map_err(|e| {
                    Halt::Fail(format!(
                        "the update of machine {} was refused: {e}",
                        steps::named(&m)
                    ))
                })?;
            self.ctl.note(|v| v.updated.push(t.id.clone()));
            sent.push((t.clone(), answer.instance_id));
        }
        for (t, instance) in sent {
            let checks = self.ready(&t, &instance).await?;
            let line = steps::step_line(&t, &spec.digest, spec.rollback, checks, canary);
            self.ctl.note(|v| v.steps.push(line));
        }
        Ok(())
    }

    /// Waits for `t` at `instance` to start (or, stopped before, to stop
    /// again), then for its checks to pass.
    async fn ready(&mut self, t: &Target, instance: &str) -> Result<usize, Halt> {
        let spec = self.spec;
        let started = self.now();
        let want = if t.stopped { "stopped" } else { "started" };
        let late = |what: &str| {
            Halt::Fail(format!(
                "machine {} ({}) did not {what} within {}",
                fold_line(&t.id),
                fold_line(&t.region),
                humantime::format_duration(spec.pace.wait_timeout)
            ))
        };
        loop {
            self.keep().await?;
            let m = self.read(t).await?;
            if m.instance_id == instance && m.state == want {
                break;
            }
            if !t.stopped && matches!(m.state.as_str(), "stopped" | "failed" | "destroyed") {
                return Err(Halt::Fail(steps::exit_of(&m)));
            }
            let left = spec.pace.wait_timeout.saturating_sub(self.since(started));
            if left.is_zero() {
                return Err(late("start"));
            }
            let call = left
                .min(WAIT_CALL)
                .min(spec.pace.refresh_every())
                .max(Duration::from_secs(1));
            self.keep().await?;
            self.api
                .wait(&spec.app, &t.id, instance, want, call)
                .await
                .map_err(|e| {
                    Halt::Fail(format!(
                        "waiting for machine {} failed: {e}",
                        fold_line(&t.id)
                    ))
                })?;
        }
        if t.stopped {
            return Ok(0);
        }
        loop {
            self.keep().await?;
            let m = self.read(t).await?;
            if let Checks::Passing(n) = self.judge(t, &m)? {
                return Ok(n);
            }
            if self.since(started) >= spec.pace.wait_timeout {
                return Err(late("pass its checks"));
            }
            (self.time.sleep)(self.time.poll).await;
        }
    }

    async fn read(&self, t: &Target) -> Result<MachineView, Halt> {
        self.api.get(&self.spec.app, &t.id).await.map_err(|e| {
            Halt::Fail(format!(
                "machine {} could not be read: {e}",
                fold_line(&t.id)
            ))
        })
    }

    /// The run's body: canary, probes, hold, pause, the rest.
    async fn body<P: Probe>(&mut self, probe: &P) -> Result<(), Halt> {
        let spec = self.spec;
        let size = spec.pace.batch.size(spec.group);
        let mut rest: &[Target] = &spec.order;
        if !spec.rollback
            && let Some((canary, after)) = spec.order.split_first()
        {
            self.ctl.note(|v| v.canary = Some(canary.id.clone()));
            self.batch(std::slice::from_ref(canary), true).await?;
            if !canary.stopped {
                self.keep().await?;
                probe.canary(&canary.id).await.map_err(|why| {
                    Halt::Fail(format!(
                        "canary {} ({}): {why}",
                        fold_line(&canary.id),
                        fold_line(&canary.region)
                    ))
                })?;
            }
            self.hold(spec.pace.canary_hold, true).await?;
            if spec.pause && !after.is_empty() {
                self.pause(canary).await?;
            }
            rest = after;
        }
        let mut batches = rest.chunks(size).peekable();
        while let Some(b) = batches.next() {
            self.batch(b, false).await?;
            if !spec.rollback && batches.peek().is_some() {
                self.hold(spec.pace.hold, true).await?;
            }
        }
        Ok(())
    }

    /// The decision taken at `mark`: from this process, or (when the pause
    /// was written on the canary) read beside it.
    async fn decision(
        &mut self,
        canary: &Target,
        mark: &Pause,
        marked: bool,
    ) -> Result<Decision, Halt> {
        loop {
            self.hold(self.time.poll, true).await?;
            if let Some(d) = self.ctl.lock().decision.take() {
                return Ok(d);
            }
            if marked {
                self.keep().await?;
                let m = self.read(canary).await?;
                let said = m
                    .metadata(DECISION_KEY)
                    .and_then(Said::read)
                    .filter(|s| s.run == mark.run && s.step == mark.step);
                if let Some(s) = said {
                    return Ok(s.decision);
                }
            }
        }
    }

    /// Waits for a person's decision, keeping the leases and the watch: from
    /// this process ([`Control::decide`]), or from any other, written on the
    /// canary beside the pause this run wrote there ([`super::marker`]).
    async fn pause(&mut self, canary: &Target) -> Result<(), Halt> {
        let at = self.now();
        let spec = self.spec;
        let mark = Pause {
            run: spec.id.clone(),
            step: 1,
            of: u32::try_from(spec.order.len()).unwrap_or(u32::MAX),
            at: at.timestamp(),
        };
        self.keep().await?;
        let marked = self
            .api
            .set_metadata(&spec.app, &canary.id, PAUSE_KEY, &mark.write())
            .await;
        if let Err(e) = &marked {
            tracing::warn!(run = %spec.id, error = %e, "the pause could not be written on the canary: only this process can decide");
        }
        self.ctl.note(|v| v.paused_since = Some(at));
        let decided = self.decision(canary, &mark, marked.is_ok()).await;
        // Whatever ended the pause (a decision, a stop, a failure), its
        // markers go: no other process may read a pause that is over.
        if marked.is_ok() {
            for key in [DECISION_KEY, PAUSE_KEY] {
                if let Err(e) = self.api.delete_metadata(&spec.app, &canary.id, key).await {
                    tracing::warn!(run = %spec.id, key, error = %e, "a pause marker was not removed");
                }
            }
        }
        if decided.is_err() {
            self.ctl.note(|v| v.paused_since = None);
        }
        match decided? {
            Decision::Continue => {
                self.ctl.note(|v| {
                    v.paused_since = None;
                    v.steps
                        .push("continued at the pause by a person's decision".to_string());
                });
                Ok(())
            }
            Decision::Rollback => {
                self.ctl.note(|v| v.paused_since = None);
                Err(Halt::Fail(
                    "a rollback was decided at the pause".to_string(),
                ))
            }
        }
    }
}

/// Runs `spec` on `api` holding the leases of `ctl`, to its end: finished
/// (leases released), failed (its leases kept for up to [`HANDOVER`] for a
/// way back to [`Control::adopt`], then released), adopted, or released at a
/// [`Stop::Release`]. The view's `ended` says how, as soon as it is known.
pub async fn run<A, N, S, F, P>(
    api: &A,
    spec: &Spec,
    time: &Time<N, S>,
    probe: &P,
    ctl: &Control,
) -> Ended
where
    A: FlyApi,
    N: Fn() -> DateTime<Utc>,
    S: Fn(Duration) -> F,
    F: std::future::Future<Output = ()>,
    P: Probe,
{
    let mut cx = Ctx {
        api,
        spec,
        time,
        ctl,
        refreshed: (time.now)(),
        critical: HashMap::new(),
    };
    let result = cx.body(probe).await;
    match result {
        Ok(()) => {
            let leases = ctl.finish(true);
            steps::release_all(api, &spec.app, &leases).await;
            let n = spec.order.len();
            ctl.note(|v| {
                v.steps.push(format!(
                    "{n} machine(s) of {} on {}; every lease released",
                    fold_line(&spec.app),
                    fold_line(&spec.digest)
                ));
                v.ended = Some(Ok(()));
            });
            Ended::Finished
        }
        Err(Halt::Stop(Stop::Adopt)) => {
            ctl.note(|v| {
                v.ended = Some(Err("stopped: a way back took its leases over".to_string()));
            });
            ctl.finish(false);
            Ended::Adopted
        }
        Err(Halt::Stop(Stop::Release)) => {
            let leases = ctl.finish(true);
            steps::release_all(api, &spec.app, &leases).await;
            ctl.note(|v| {
                v.ended = Some(Err(
                    "stopped as shipdeck ended: every lease released, the machines left as they are"
                        .to_string(),
                ));
            });
            Ended::Released
        }
        Err(Halt::Fail(why)) => {
            ctl.note(|v| v.ended = Some(Err(why.clone())));
            handover(&mut cx).await;
            Ended::Failed(why)
        }
    }
}

/// A failed run keeps its leases refreshed for [`HANDOVER`], so the way
/// back adopts them with no window for another deploy; then, or at a stop
/// that releases, it releases them.
async fn handover<A, N, S, F>(cx: &mut Ctx<'_, A, N, S>)
where
    A: FlyApi,
    N: Fn() -> DateTime<Utc>,
    S: Fn(Duration) -> F,
    F: std::future::Future<Output = ()>,
{
    let since = cx.now();
    let adopted = loop {
        if cx.since(since) >= HANDOVER {
            break false;
        }
        match cx.hold(cx.time.poll, false).await {
            Ok(()) => {}
            Err(Halt::Stop(Stop::Adopt)) => break true,
            Err(Halt::Stop(Stop::Release) | Halt::Fail(_)) => break false,
        }
    };
    let leases = cx.ctl.finish(!adopted);
    steps::release_all(cx.api, &cx.spec.app, &leases).await;
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
