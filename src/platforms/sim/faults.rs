//! Faults scripted into the simulated fleet: rollouts that fail, alarms,
//! health, throttling, timeouts, unreachable endpoints.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::script::{Effect, MetricKind, ScriptedFault, Status, Trigger};
use super::service::{Fate, SimService, chrono_dur};
use super::{SimFleet, SimState};
use crate::model::AlarmState;

/// A scripted fault.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The next rollout of the service fails (tasks do not start).
    RolloutFails {
        /// Environment.
        env: String,
        /// ECS service name.
        service: String,
    },
    /// The next rollout trips the circuit breaker and ECS rolls back by itself.
    CircuitBreakerRollback {
        /// Environment.
        env: String,
        /// ECS service name.
        service: String,
    },
    /// An alarm enters ALARM `after` the next deploy of its service starts.
    AlarmFiresDuringDeploy {
        /// Environment.
        env: String,
        /// ECS service name.
        service: String,
        /// Alarm name.
        alarm: String,
        /// Delay after the deploy starts.
        after: Duration,
    },
    /// Set an alarm's state now.
    SetAlarm {
        /// Environment.
        env: String,
        /// Alarm name.
        alarm: String,
        /// New state.
        state: AlarmState,
    },
    /// The health endpoint of a service goes down (true) or comes back (false).
    HealthDown {
        /// Environment.
        env: String,
        /// ECS service name.
        service: String,
        /// Down or up.
        down: bool,
    },
    /// The next `calls` API calls to the environment are throttled.
    Throttle {
        /// Environment.
        env: String,
        /// Number of calls.
        calls: u32,
    },
    /// The next `calls` API calls to the environment time out.
    Timeout {
        /// Environment.
        env: String,
        /// Number of calls.
        calls: u32,
    },
    /// The environment's endpoint is unreachable (true) or back (false).
    Unreachable {
        /// Environment.
        env: String,
        /// Unreachable or not.
        on: bool,
    },
    /// CloudWatch (alarms and metrics) of the environment cannot be reached
    /// (true) or is back (false); ECS still answers.
    CloudWatchUnreachable {
        /// Environment.
        env: String,
        /// Unreachable or not.
        on: bool,
    },
    /// Deploy and rollback calls to the environment take this long to answer
    /// (a hanging RegisterTaskDefinition/UpdateService), on tokio's clock.
    SlowDeploys {
        /// Environment.
        env: String,
        /// How long each call blocks.
        delay: Duration,
    },
    /// Deploy and rollback calls to the environment are refused (an ECS API
    /// error), or accepted again.
    RefuseDeploys {
        /// Environment.
        env: String,
        /// Refuse or not.
        on: bool,
    },
    /// An alarm is deleted from CloudWatch.
    DeleteAlarm {
        /// Environment.
        env: String,
        /// Alarm name.
        alarm: String,
    },
    /// Someone updates the service by hand (an `UpdateService` outside
    /// shipdeck) to `revision`: a new primary deployment replaces whatever
    /// was rolling out or settled.
    DeployedByHand {
        /// Environment.
        env: String,
        /// ECS service name.
        service: String,
        /// The revision it is set to.
        revision: u32,
    },
    /// Someone switches the proxy of a blue/green service by hand (outside
    /// shipdeck) to `colour`.
    SwitchedByHand {
        /// Environment.
        env: String,
        /// The blue/green service's backend.
        backend: String,
        /// The colour the proxy sends traffic to from now on.
        colour: crate::config::proxy::Colour,
    },
    /// A colour of a blue/green service stops answering (true) or answers
    /// again (false).
    ColourDown {
        /// Environment.
        env: String,
        /// The blue/green service's backend.
        backend: String,
        /// Which colour.
        colour: crate::config::proxy::Colour,
        /// Down or up.
        down: bool,
    },
    /// Someone deletes an Argo Rollout from its namespace (`kubectl delete
    /// rollout`): its ReplicaSets and pods stay, the Rollout reads unknown.
    RolloutDeleted {
        /// Environment.
        env: String,
        /// The Rollout's name.
        rollout: String,
    },
}

impl SimFleet {
    /// Scripts a fault.
    pub fn inject(&self, fault: Fault) {
        let _lock = self.world.as_ref().map(|w| w.lock());
        let mut st = self.lock();
        if let Some(w) = &self.world {
            w.sync_in(&mut st);
        }
        Self::apply(&mut st, fault);
        if let Some(w) = &self.world {
            w.save(&st);
        }
    }

    fn apply(st: &mut SimState, fault: Fault) {
        let now = st.time;
        match fault {
            Fault::RolloutFails { env, service } => {
                if let Some(s) = st
                    .envs
                    .get_mut(&env)
                    .and_then(|e| e.services.get_mut(&service))
                {
                    s.pending_fate = Fate::Fail;
                }
            }
            Fault::CircuitBreakerRollback { env, service } => {
                if let Some(s) = st
                    .envs
                    .get_mut(&env)
                    .and_then(|e| e.services.get_mut(&service))
                {
                    s.pending_fate = Fate::CircuitBreaker;
                }
            }
            Fault::AlarmFiresDuringDeploy {
                env,
                service,
                alarm,
                after,
            } => {
                if let Some(s) = st
                    .envs
                    .get_mut(&env)
                    .and_then(|e| e.services.get_mut(&service))
                {
                    s.pending_alarms.push((alarm, after));
                }
            }
            Fault::SetAlarm { env, alarm, state } => {
                if let Some(e) = st.envs.get_mut(&env) {
                    for s in e.services.values_mut() {
                        for a in s.alarms.iter_mut().filter(|a| *a.name == *alarm) {
                            a.state = state;
                            a.updated_at = now;
                        }
                    }
                }
            }
            Fault::HealthDown { env, service, down } => {
                if let Some(s) = st
                    .envs
                    .get_mut(&env)
                    .and_then(|e| e.services.get_mut(&service))
                {
                    s.health_forced_down = down;
                    if !down {
                        s.healthy_since = now;
                    }
                }
            }
            Fault::Throttle { env, calls } => {
                if let Some(e) = st.envs.get_mut(&env) {
                    e.throttle_calls = calls;
                }
            }
            Fault::Timeout { env, calls } => {
                if let Some(e) = st.envs.get_mut(&env) {
                    e.timeout_calls = calls;
                }
            }
            Fault::Unreachable { env, on } => {
                if let Some(e) = st.envs.get_mut(&env) {
                    e.unreachable = on;
                }
            }
            Fault::CloudWatchUnreachable { env, on } => {
                if let Some(e) = st.envs.get_mut(&env) {
                    e.cloudwatch_down = on;
                }
            }
            Fault::SlowDeploys { env, delay } => {
                if let Some(e) = st.envs.get_mut(&env) {
                    e.deploy_delay = Some(delay);
                }
            }
            Fault::RefuseDeploys { env, on } => {
                if let Some(e) = st.envs.get_mut(&env) {
                    e.deploys_refused = on;
                }
            }
            Fault::DeleteAlarm { env, alarm } => {
                if let Some(e) = st.envs.get_mut(&env) {
                    for s in e.services.values_mut() {
                        s.alarms.retain(|a| *a.name != *alarm);
                    }
                }
            }
            Fault::DeployedByHand {
                env,
                service,
                revision,
            } => {
                if let Some(s) = st
                    .envs
                    .get_mut(&env)
                    .and_then(|e| e.services.get_mut(&service))
                {
                    let id = format!("ecs-svc/by-hand-{}", now.timestamp_millis());
                    s.start_deployment(revision, &id, now, false);
                }
            }
            Fault::SwitchedByHand {
                env,
                backend,
                colour,
            } => {
                if let Some(b) = st
                    .envs
                    .get_mut(&env)
                    .and_then(|e| e.blue_green.get_mut(&backend))
                {
                    b.switch_by_hand(colour, now);
                }
            }
            Fault::ColourDown {
                env,
                backend,
                colour,
                down,
            } => {
                if let Some(b) = st
                    .envs
                    .get_mut(&env)
                    .and_then(|e| e.blue_green.get_mut(&backend))
                {
                    b.set_down(colour, down, now);
                }
            }
            Fault::RolloutDeleted { env, rollout } => {
                if let Some(r) = st.envs.get_mut(&env).and_then(|e| e.kube.get_mut(&rollout)) {
                    r.deleted = true;
                }
            }
        }
    }
}

/// A metric moved by a scripted fault: from its usual value at `from` to
/// `value` over `ramp`, until `until`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Shift {
    pub(super) metric: MetricKind,
    pub(super) value: f64,
    pub(super) ramp: Duration,
    pub(super) from: DateTime<Utc>,
    pub(super) until: Option<DateTime<Utc>>,
    /// The revision the service ran when it began: its tasks' log lines
    /// carry it (see `sim::logs`).
    #[serde(default)]
    pub(super) revision: Option<u32>,
}

impl Shift {
    /// The metric at `t`, given its usual value there.
    pub(super) fn apply(&self, usual: f64, t: DateTime<Utc>) -> f64 {
        if t < self.from || self.until.is_some_and(|u| t >= u) {
            return usual;
        }
        let done = if self.ramp.is_zero() {
            1.0
        } else {
            let secs = (t - self.from).num_milliseconds().max(0);
            #[allow(clippy::cast_precision_loss)] // milliseconds within a week
            let f = secs as f64 / self.ramp.as_millis().max(1) as f64;
            f.min(1.0)
        };
        usual + (self.value - usual) * done
    }
}

/// Health failing on a schedule: down for `down`, up for `up`, repeating
/// (`up` zero: down the whole time), from `from` until `until`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Outage {
    pub(super) down: Duration,
    pub(super) up: Duration,
    pub(super) from: DateTime<Utc>,
    pub(super) until: Option<DateTime<Utc>>,
}

impl Outage {
    pub(super) fn down_at(&self, t: DateTime<Utc>) -> bool {
        if t < self.from || self.until.is_some_and(|u| t >= u) {
            return false;
        }
        if self.up.is_zero() {
            return true;
        }
        let cycle = (self.down + self.up).as_millis().max(1);
        let into = u128::try_from((t - self.from).num_milliseconds().max(0)).unwrap_or(0);
        into % cycle < self.down.as_millis()
    }
}

fn until(from: DateTime<Utc>, d: Option<Duration>) -> Option<DateTime<Utc>> {
    d.map(|d| from + chrono_dur(d))
}

impl SimState {
    /// Starts the clocks of faults waiting for `trigger` on `service` of `env`.
    pub(super) fn trigger(
        &mut self,
        env: &str,
        service: &str,
        trigger: Trigger,
        now: DateTime<Utc>,
    ) {
        for f in &mut self.faults {
            if f.status == Status::Armed
                && f.trigger == trigger
                && f.env == env
                && f.service.as_deref() == Some(service)
            {
                f.status = Status::Due(now + chrono_dur(f.after));
            }
        }
        self.fire_due(now);
    }

    /// A shift of `function` in `env` to version `to` applied step `step`:
    /// starts the clocks of faults waiting for that step (or an earlier one,
    /// when a decision skipped it).
    pub(super) fn step_reached(
        &mut self,
        env: &str,
        function: &str,
        to: u32,
        step: u32,
        now: DateTime<Utc>,
    ) {
        if let Some(e) = self.envs.get_mut(env) {
            e.functions.entry(function.to_string()).or_default().to = Some(to);
        }
        for f in &mut self.faults {
            if f.status == Status::Armed
                && f.trigger == Trigger::Step
                && f.step.is_some_and(|s| s <= step)
                && f.env == env
                && f.service.as_deref() == Some(function)
            {
                f.status = Status::Due(now + chrono_dur(f.after));
            }
        }
        self.fire_due(now);
    }

    /// `function`'s alias in `env` no longer sends traffic to the version its
    /// effects hit (rolled back): they end at `now`.
    pub(super) fn function_rolled_back(&mut self, env: &str, function: &str, now: DateTime<Utc>) {
        if let Some(fx) = self
            .envs
            .get_mut(env)
            .and_then(|e| e.functions.get_mut(function))
        {
            for s in fx.shifts.iter_mut().filter(|s| s.until.is_none()) {
                s.until = Some(now);
            }
            fx.to = None;
        }
    }

    /// Fires every fault due by `now`.
    pub(super) fn fire_due(&mut self, now: DateTime<Utc>) {
        let mut due = Vec::new();
        for f in &mut self.faults {
            if let Status::Due(at) = f.status
                && at <= now
            {
                f.status = Status::Fired;
                due.push(f.clone());
            }
        }
        for f in due {
            self.fire(&f, now);
        }
    }

    fn fire(&mut self, f: &ScriptedFault, now: DateTime<Utc>) {
        let Some(env) = self.envs.get_mut(&f.env) else {
            return;
        };
        match &f.effect {
            Effect::Throttle { calls } => env.throttle_calls = env.throttle_calls.max(*calls),
            Effect::Timeout { calls } => env.timeout_calls = env.timeout_calls.max(*calls),
            Effect::Unreachable { duration } => {
                env.outage = Some((now, until(now, *duration)));
            }
            effect => {
                let Some(name) = f.service.as_ref() else {
                    return;
                };
                if let Effect::AnalysisFails { metric } = effect {
                    // A Rollout's (sim::kube): checked when read.
                    if let Some(r) = env.kube.get_mut(name) {
                        r.analysis_fails(metric, now);
                    }
                } else if let Some(svc) = env.services.get_mut(name) {
                    svc.fire(&f.name, effect, now);
                } else if let Some(b) = env.blue_green.get_mut(name) {
                    b.fire(&f.name, effect, now);
                } else if let Effect::CheckCritical { check, output } = effect {
                    // A Fly app's (sim::machines): checked when read.
                    env.fly_effects
                        .entry(name.clone())
                        .or_default()
                        .fire(check, output.as_deref());
                } else {
                    // Checked when read: a function on Lambda, or a Fly
                    // app's or a Rollout's metrics (sim::machines and
                    // sim::kube read them here too).
                    env.functions
                        .entry(name.clone())
                        .or_default()
                        .fire(effect, now);
                }
            }
        }
    }
}

/// Game-day effects on a function on Lambda: its metrics moved while the
/// version they hit takes traffic.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct FunctionEffects {
    /// The version its current shift goes to, if one is under way.
    pub(super) to: Option<u32>,
    /// Its metrics' shifts.
    pub(super) shifts: Vec<Shift>,
}

impl FunctionEffects {
    /// Applies a metric effect at `now` to the version being shifted to
    /// (checked when read: a function takes only metric effects).
    fn fire(&mut self, effect: &Effect, now: DateTime<Utc>) {
        if let Effect::Metric {
            metric,
            value,
            ramp,
        } = effect
        {
            self.shifts.push(Shift {
                metric: *metric,
                value: *value,
                ramp: *ramp,
                from: now,
                until: None,
                revision: self.to,
            });
        }
    }
}

impl SimService {
    /// Applies a service effect of a scripted fault at `now`.
    fn fire(&mut self, name: &str, effect: &Effect, now: DateTime<Utc>) {
        match effect {
            Effect::RolloutFails | Effect::CircuitBreaker => {
                let fate = if *effect == Effect::RolloutFails {
                    Fate::Fail
                } else {
                    Fate::CircuitBreaker
                };
                // The rollout under way fails; with none, the next one.
                match self.deployments.iter_mut().find(|d| {
                    d.role == crate::model::DeploymentRole::Primary
                        && d.rollout == crate::model::RolloutState::InProgress
                }) {
                    Some(d) => d.fate = fate,
                    None => self.pending_fate = fate,
                }
            }
            Effect::Alarm { alarm, state } => {
                for a in self.alarms.iter_mut().filter(|a| *a.name == **alarm) {
                    a.state = *state;
                    a.reason = match state {
                        AlarmState::Alarm => "Threshold Crossed: 3 out of the last 3 datapoints were greater than the threshold".into(),
                        AlarmState::InsufficientData => "Insufficient Data: no datapoints were received".into(),
                        AlarmState::Ok => "Threshold Crossed: no datapoints were greater than the threshold".into(),
                    };
                    a.updated_at = now;
                }
            }
            Effect::Metric {
                metric,
                value,
                ramp,
            } => self.shifts.push(Shift {
                metric: *metric,
                value: *value,
                ramp: *ramp,
                from: now,
                until: None,
                revision: Some(self.current),
            }),
            Effect::Health { down, up, duration } => self.outages.push(Outage {
                down: *down,
                up: *up,
                from: now,
                until: until(now, *duration),
            }),
            // A Fly app's or a Rollout's, never an ECS service's (checked when read).
            Effect::Throttle { .. }
            | Effect::Timeout { .. }
            | Effect::Unreachable { .. }
            | Effect::CheckCritical { .. }
            | Effect::AnalysisFails { .. } => {}
        }
        let service = self.ecs_service.clone();
        self.event(
            now,
            "gameday",
            &format!("(service {service}) game day: {name}."),
        );
    }

    /// A deployment of another revision starts: effects of the one running end.
    pub(super) fn end_effects(&mut self, now: DateTime<Utc>) {
        for s in self.shifts.iter_mut().filter(|s| s.until.is_none()) {
            s.until = Some(now);
        }
        for o in self.outages.iter_mut().filter(|o| o.until.is_none()) {
            o.until = Some(now);
        }
        // Bounded memory: effects long over are forgotten.
        let horizon = now - chrono::Duration::hours(1);
        self.shifts.retain(|s| s.until.is_none_or(|u| u > horizon));
        self.outages.retain(|o| o.until.is_none_or(|u| u > horizon));
    }
}
