//! One simulated service on the proxy platform: two colours behind a reverse
//! proxy, the live one taking the traffic, switched by the cutover runbook.
//!
//! A deploy runs the runbook's steps on the injected clock, as the proxy's
//! own runbook (`crate::platforms::proxy::runbook`) runs them against a real
//! proxy: the new digest to the idle colour, a check that it serves it,
//! probes until it answers 200 for its stability window, a check that the
//! live colour is still the one it started from, the switch, all at once
//! (no pause for a person), then the old colour kept warm and watched. A
//! rollback switches back to the other colour, only when it answers. The
//! proxy's counters are simulated traffic, so proxy metrics and the abort
//! rules over them work. Readings are built by the proxy's own snapshot
//! builder (see `reading`), so a simulated blue/green service reads exactly
//! as a real one.

use crate::platforms::proxy::logs::OUTPUT;
use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::faults::{Outage, Shift};
use super::service::chrono_dur;
use crate::config::proxy::{Colour, ProxyService};
use crate::model::{Digest, RolloutState, ServiceEvent};

mod reading;
mod run;
#[cfg(test)]
mod tests;

pub(super) use run::SimRun;

/// How long the simulated deploy command takes to start a colour.
pub(super) const DEPLOY_TAKES: Duration = Duration::from_secs(4);
/// Newest events (the runbook's steps, the command's output) kept.
const EVENTS_KEPT: usize = 100;
/// Completed minutes of counted traffic kept for the proxy metrics.
const MINUTES_KEPT: usize = 30;

/// A service on the proxy platform in a fleet file (`[[environment.blue_green]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetBlueGreen {
    /// What the proxy switches (the configuration's `backend`, by default the
    /// service's name): how the configuration's service is matched.
    pub backend: String,
    /// Image repository; a release's digest is sha256("repository:release"),
    /// as for the simulated ECS services, so the same release has the same
    /// digest in every stage.
    pub repository: String,
    /// The release blue runs.
    pub blue: String,
    /// The release green runs.
    pub green: String,
    /// The colour the proxy sends traffic to.
    #[serde(default = "blue")]
    pub live: Colour,
    /// Colours that do not answer at the start (stopped, or failing).
    #[serde(default)]
    pub down: Vec<Colour>,
    /// Typical latency of an answer through the proxy, in ms.
    #[serde(default = "default_latency")]
    pub latency_ms: u32,
    /// Requests per second the live colour serves.
    #[serde(default = "default_rate")]
    pub requests_per_second: f64,
    /// Share of those answered 5xx, in percent.
    #[serde(default = "default_errors")]
    pub error_percent: f64,
}

fn blue() -> Colour {
    Colour::Blue
}
fn default_latency() -> u32 {
    40
}
fn default_rate() -> f64 {
    20.0
}
fn default_errors() -> f64 {
    0.3
}

impl FleetBlueGreen {
    /// What is wrong with the entry, said for a person (the file is named by
    /// the caller).
    pub(super) fn check(&self, env: &str) -> Result<(), String> {
        let what = format!("blue/green service \"{}\" in \"{env}\"", self.backend);
        if self.backend.trim().is_empty() {
            return Err(format!("a blue/green service in \"{env}\" has no backend"));
        }
        if self.blue.trim().is_empty() || self.green.trim().is_empty() {
            return Err(format!("{what}: blue and green each name a release"));
        }
        crate::model::ImageRef::parse(&format!("{}:{}", self.repository, self.blue))
            .map_err(|e| format!("{what}: {e}"))?;
        if !(0.0..=100_000.0).contains(&self.requests_per_second) {
            return Err(format!(
                "{what}: requests_per_second must be between 0 and 100000"
            ));
        }
        if !(0.0..=100.0).contains(&self.error_percent) {
            return Err(format!("{what}: error_percent must be between 0 and 100"));
        }
        Ok(())
    }

    /// The digest of a release of this service.
    fn digest_of(&self, release: &str) -> Digest {
        Digest::of_bytes(format!("{}:{release}", self.repository).as_bytes())
    }
}

/// One colour: what it runs and whether it answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SimColour {
    pub(super) colour: Colour,
    pub(super) digest: Digest,
    /// The release it was built from (image data, travels with the digest).
    pub(super) version: Option<String>,
    /// Stopped or failing until redeployed (a fleet's `down`, a fault).
    pub(super) stopped: bool,
    /// Being deployed: it answers from this time on.
    pub(super) starting_until: Option<DateTime<Utc>>,
    /// Scripted outages of the release it runs (game-day health effects).
    pub(super) outages: Vec<Outage>,
    /// Its 5xx share moved by a game-day `error_rate` effect.
    pub(super) errors: Option<Shift>,
    /// Answering without a break since (none: not answering).
    pub(super) answering_since: Option<DateTime<Utc>>,
    /// Requests and 5xx the proxy counted for it.
    pub(super) requests: u64,
    pub(super) errors_5xx: u64,
    /// Requests in the last simulated second.
    pub(super) rate: u64,
}

impl SimColour {
    /// Whether it answers 200 at `t`.
    pub(super) fn answering_at(&self, t: DateTime<Utc>) -> bool {
        !self.stopped
            && self.starting_until.is_none_or(|s| t >= s)
            && !self.outages.iter().any(|o| o.down_at(t))
    }
}

/// Counted traffic of one minute, both colours together.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(super) struct Minute {
    pub(super) requests: u64,
    pub(super) errors: u64,
    pub(super) seconds: u32,
}

/// A simulated service behind a proxy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SimBlueGreen {
    pub(super) backend: String,
    pub(super) repository: String,
    pub(super) live: Colour,
    /// Blue, then green.
    pub(super) colours: [SimColour; 2],
    /// The cutover or switch back that ran last.
    pub(super) run: Option<SimRun>,
    /// Newest first, as the proxy's runs keep them.
    pub(super) events: VecDeque<ServiceEvent>,
    pub(super) seq: u64,
    pub(super) latency_ms: u32,
    pub(super) requests_per_second: f64,
    pub(super) error_percent: f64,
    /// Fractional 5xx not counted yet (counts stay whole numbers).
    pub(super) error_carry: f64,
    /// What clients get through the proxy has been 200 since (none: not now).
    pub(super) served_since: Option<DateTime<Utc>>,
    /// Completed minutes, oldest first, then the minute under way.
    pub(super) minutes: VecDeque<Minute>,
    pub(super) minute: Minute,
    /// The minute under way (seconds since the epoch / 60).
    pub(super) minute_of: i64,
    /// The next deploy command fails (a game-day `rollout_fails`).
    pub(super) deploy_fails: bool,
    /// Faults waiting for the next deploy's colour (`error_rate`, health).
    pub(super) pending: Vec<super::script::Effect>,
    /// A stable number for this service's noise.
    pub(super) key: u64,
}

/// A stable number from text (FNV-1a).
fn key_of(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A stable number in [0, 1) from a service's key and a second.
pub(super) fn noise(key: u64, t: i64) -> f64 {
    let mut z = key ^ t.cast_unsigned().wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    #[allow(clippy::cast_precision_loss)] // 53 bits: exact
    let x = (z >> 11) as f64 / (1u64 << 53) as f64;
    x
}

impl SimBlueGreen {
    /// A fleet environment's blue/green services, by backend, as of `now`.
    pub(super) fn all(
        env: &str,
        list: &[FleetBlueGreen],
        now: DateTime<Utc>,
    ) -> std::collections::BTreeMap<String, Self> {
        list.iter()
            .map(|b| (b.backend.clone(), Self::from_file(env, b, now)))
            .collect()
    }

    /// The service as the fleet file describes it in `env`, settled for two
    /// days at `now`.
    pub(super) fn from_file(env: &str, f: &FleetBlueGreen, now: DateTime<Utc>) -> Self {
        let since = now - chrono::Duration::hours(48);
        let colour = |c: Colour, release: &str| SimColour {
            colour: c,
            digest: f.digest_of(release),
            version: Some(release.to_string()),
            stopped: f.down.contains(&c),
            starting_until: None,
            outages: Vec::new(),
            errors: None,
            answering_since: (!f.down.contains(&c)).then_some(since),
            requests: 0,
            errors_5xx: 0,
            rate: 0,
        };
        let mut s = Self {
            backend: f.backend.clone(),
            repository: f.repository.clone(),
            live: f.live,
            colours: [
                colour(Colour::Blue, &f.blue),
                colour(Colour::Green, &f.green),
            ],
            run: None,
            events: VecDeque::new(),
            seq: 0,
            latency_ms: f.latency_ms,
            requests_per_second: f.requests_per_second,
            error_percent: f.error_percent,
            error_carry: 0.0,
            served_since: (!f.down.contains(&f.live)).then_some(since),
            minutes: VecDeque::new(),
            minute: Minute::default(),
            minute_of: now.timestamp().div_euclid(60),
            deploy_fails: false,
            pending: Vec::new(),
            key: key_of(&format!("{env}/{}", f.backend)),
        };
        s.prefill();
        s.event(
            since,
            &format!("{} takes the traffic; {} is idle", f.live, f.live.other()),
        );
        s
    }

    /// Counted traffic of the half hour before the minute under way, as usual.
    fn prefill(&mut self) {
        let start = self.minute_of - i64::try_from(MINUTES_KEPT).unwrap_or(0);
        for m in start..self.minute_of {
            let mut minute = Minute::default();
            for s in 0..60 {
                let (r, e) = self.second_of(m * 60 + s, self.error_percent);
                minute.requests += r;
                minute.errors += e;
                minute.seconds += 1;
            }
            let live = self.colour_mut(self.live);
            live.requests += minute.requests;
            live.errors_5xx += minute.errors;
            self.minutes.push_back(minute);
        }
        let (last, _) = self.second_of(self.minute_of * 60 - 1, self.error_percent);
        self.colour_mut(self.live).rate = last;
    }

    /// Requests and 5xx of one second at `t` with `percent` failing.
    fn second_of(&mut self, t: i64, percent: f64) -> (u64, u64) {
        let wave = 0.85 + 0.3 * noise(self.key, t);
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )] // a rate of at most 100,000 per second, rounded
        let requests = (self.requests_per_second * wave).round().max(0.0) as u64;
        #[allow(clippy::cast_precision_loss)] // requests of one second
        let due = requests as f64 * percent / 100.0 + self.error_carry;
        let errors = due.floor();
        self.error_carry = due - errors;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // at most requests
        (requests, (errors as u64).min(requests))
    }

    pub(super) fn colour(&self, c: Colour) -> &SimColour {
        match c {
            Colour::Blue => &self.colours[0],
            Colour::Green => &self.colours[1],
        }
    }

    pub(super) fn colour_mut(&mut self, c: Colour) -> &mut SimColour {
        match c {
            Colour::Blue => &mut self.colours[0],
            Colour::Green => &mut self.colours[1],
        }
    }

    /// The version label of `digest`, if a colour of this service ran it.
    pub(super) fn version_of(&self, digest: &Digest) -> Option<&str> {
        self.colours
            .iter()
            .find(|c| c.digest == *digest)
            .and_then(|c| c.version.as_deref())
    }

    /// The colour's 5xx share at `t`, in percent.
    fn error_percent_of(&self, c: Colour, t: DateTime<Utc>) -> f64 {
        let usual = self.error_percent;
        self.colour(c)
            .errors
            .as_ref()
            .map_or(usual, |s| s.apply(usual, t))
    }

    pub(super) fn event(&mut self, at: DateTime<Utc>, message: &str) {
        self.seq += 1;
        self.events.push_front(ServiceEvent {
            id: format!("{}-{}", self.backend, self.seq).into(),
            at,
            message: message.into(),
        });
        self.events.truncate(EVENTS_KEPT);
    }

    /// Advances the service by one simulated second ending at `t`: the
    /// colours' answers, the run's next steps, and the traffic counted.
    pub(super) fn step(&mut self, t: DateTime<Utc>) {
        for c in &mut self.colours {
            if c.answering_at(t) {
                c.answering_since.get_or_insert(t);
            } else {
                c.answering_since = None;
            }
        }
        self.advance_run(t);
        let live = self.live;
        if self.colour(live).answering_at(t) {
            self.served_since.get_or_insert(t);
        } else {
            self.served_since = None;
        }
        // Traffic: the live colour takes it all; one that does not answer
        // answers everything 5xx (the proxy counts what it forwarded).
        let percent = if self.colour(live).answering_at(t) {
            self.error_percent_of(live, t)
        } else {
            100.0
        };
        let (requests, errors) = self.second_of(t.timestamp(), percent);
        for c in &mut self.colours {
            c.rate = 0;
        }
        let c = self.colour_mut(live);
        c.requests += requests;
        c.errors_5xx += errors;
        c.rate = requests;
        let minute = t.timestamp().div_euclid(60);
        if minute > self.minute_of {
            self.minutes.push_back(self.minute);
            while self.minutes.len() > MINUTES_KEPT {
                self.minutes.pop_front();
            }
            self.minute = Minute::default();
            self.minute_of = minute;
        }
        self.minute.requests += requests;
        self.minute.errors += errors;
        self.minute.seconds += 1;
    }

    /// Someone switched the proxy by hand (outside shipdeck) to `to`.
    pub(super) fn switch_by_hand(&mut self, to: Colour, now: DateTime<Utc>) {
        self.live = to;
        self.event(now, &format!("the proxy was switched to {to} by hand"));
    }

    /// A colour stops answering (`down`) or is started again.
    pub(super) fn set_down(&mut self, c: Colour, down: bool, now: DateTime<Utc>) {
        self.colour_mut(c).stopped = down;
        let said = if down {
            format!("{c} stopped answering")
        } else {
            format!("{c} answers again")
        };
        self.event(now, &said);
    }

    /// Starts the cutover runbook for `digest` (already checked: no run in
    /// flight): the idle colour is deployed with it.
    pub(super) fn deploy(
        &mut self,
        id: &str,
        digest: &Digest,
        version: Option<String>,
        svc: Option<&ProxyService>,
        kind: &str,
        now: DateTime<Utc>,
    ) {
        let from = self.live;
        let to = from.other();
        let run = SimRun::cutover(id, from, to, digest, svc, kind, now);
        let fails = std::mem::take(&mut self.deploy_fails);
        let pending = std::mem::take(&mut self.pending);
        let repo = self.repository.clone();
        let c = self.colour_mut(to);
        c.digest = digest.clone();
        c.version = version;
        c.stopped = false;
        c.outages.clear();
        c.errors = None;
        c.starting_until = Some(now + chrono_dur(DEPLOY_TAKES));
        self.replace_run(run, now);
        self.event(now, &format!("{OUTPUT}pulling {repo}@{digest} for {to}"));
        if fails {
            self.colour_mut(to).stopped = true;
            if let Some(r) = &mut self.run {
                r.deploy_fails = true;
            }
        }
        for effect in pending {
            self.fire_on(to, &effect, now);
        }
    }

    /// Makes `run` this service's run, keeping the events of the one it replaces.
    fn replace_run(&mut self, run: SimRun, now: DateTime<Utc>) {
        let old = self.run.replace(run);
        if let Some(old) = old.filter(|o| o.state == RolloutState::InProgress)
            && let Some(new) = &self.run
        {
            let said = format!("{} replaced by {}", old.id, new.id);
            self.event(now, &said);
        }
        let steps: Vec<String> = self
            .run
            .as_ref()
            .map(|r| r.steps.clone())
            .unwrap_or_default();
        for s in steps {
            self.event(now, &s);
        }
    }

    /// A rollback: switches back to `target` when it answers, else refuses
    /// with why (nothing is switched then).
    pub(super) fn switch_back(
        &mut self,
        id: &str,
        target: Colour,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<Colour, String> {
        let live = self.live;
        let seen = self.colour(target);
        if !seen.answering_at(now) {
            return Err(format!(
                "{target} does not answer (answered 503): switching to it would send traffic nowhere; {live} stays live"
            ));
        }
        let run = SimRun::switch_back(id, live, target, kind, now);
        self.live = target;
        if self.colour(target).answering_at(now) {
            self.served_since.get_or_insert(now);
        }
        self.replace_run(run, now);
        Ok(live)
    }

    /// Steps the run, writing each new step as an event.
    fn advance_run(&mut self, t: DateTime<Utc>) {
        let Some(mut run) = self.run.take() else {
            return;
        };
        let before = run.steps.len();
        let failed_before = run.state == RolloutState::Failed;
        run.advance(self, t);
        let new: Vec<String> = run.steps.iter().skip(before).cloned().collect();
        let failed = (!failed_before && run.state == RolloutState::Failed)
            .then(|| run.reason.clone())
            .flatten();
        let breaks = std::mem::take(&mut run.said);
        self.run = Some(run);
        for said in breaks {
            self.event(t, &said);
        }
        for s in new {
            self.event(t, &s);
        }
        if let Some(why) = failed {
            self.event(t, &format!("FAILED: {why}"));
        }
    }

    /// A game-day effect hits the colour being deployed, or the next one deployed.
    pub(super) fn fire(&mut self, name: &str, effect: &super::script::Effect, now: DateTime<Utc>) {
        use super::script::Effect;
        let target = self
            .run
            .as_ref()
            .filter(|r| r.state == RolloutState::InProgress && r.is_cutover())
            .map(|r| r.to);
        match (effect, target) {
            (Effect::RolloutFails, Some(to)) => {
                if let Some(r) = &mut self.run {
                    r.deploy_fails = true;
                }
                self.colour_mut(to).stopped = true;
            }
            (Effect::RolloutFails, None) => self.deploy_fails = true,
            (_, Some(to)) => self.fire_on(to, effect, now),
            (_, None) => self.pending.push(effect.clone()),
        }
        self.event(now, &format!("game day: {name}"));
    }

    fn fire_on(&mut self, c: Colour, effect: &super::script::Effect, now: DateTime<Utc>) {
        use super::script::{Effect, MetricKind};
        let colour = self.colour_mut(c);
        match effect {
            Effect::Metric {
                metric: MetricKind::ErrorRate,
                value,
                ramp,
            } => {
                colour.errors = Some(Shift {
                    metric: MetricKind::ErrorRate,
                    value: *value,
                    ramp: *ramp,
                    from: now,
                    until: None,
                    revision: None,
                });
            }
            Effect::Health { down, up, duration } => colour.outages.push(Outage {
                down: *down,
                up: *up,
                from: now,
                until: duration.map(|d| now + chrono_dur(d)),
            }),
            _ => {}
        }
    }
}
