//! Game-day faults written as data in a fleet file (`[[fault]]`): a trigger
//! (at start, a time after start, after the next deploy or rollback of a
//! service, at a step of a Lambda function's next shift or of an Argo
//! Rollout's next canary) and an effect (a rollout that fails, an alarm,
//! errors or latency rising, health down or flapping, throttling, timeouts,
//! an outage, a Fly machine's check going critical, a Rollout's analysis
//! failing).
//!
//! Entries are checked against the fleet when the file is read, and every
//! problem names the file and the line.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::fleet_file::FleetEnv;
use crate::model::AlarmState;

/// What starts a fault's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The world's start (with `after`: a time after the start).
    #[default]
    Start,
    /// The next deploy of `service` starts.
    Deploy,
    /// The next rollback of `service` starts.
    Rollback,
    /// The next shift of a Lambda function (`service` names the function),
    /// or the next canary of an Argo Rollout (`service` names the Rollout),
    /// reaches step `step`.
    Step,
}

/// The effects a fault can have, as written in `effect = "…"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectKind {
    /// The service's rollout fails (tasks do not start).
    RolloutFails,
    /// The rollout trips the circuit breaker and ECS rolls back by itself.
    CircuitBreaker,
    /// An alarm of the service changes state.
    Alarm,
    /// The service's `error_rate` metric rises to `value`.
    ErrorRate,
    /// The service's `latency_p95` metric rises to `value` (ms).
    Latency,
    /// The health endpoint answers 503.
    HealthDown,
    /// The health endpoint goes down for `down`, up for `up`, and again.
    HealthFlapping,
    /// The next `calls` API calls to the environment are throttled.
    Throttle,
    /// The next `calls` API calls to the environment time out.
    Timeout,
    /// The environment's endpoints (ECS and CloudWatch) refuse connections.
    Unreachable,
    /// A Fly app's machines on the image its next deploy brings report
    /// their check `check` critical (`service` names the app).
    CheckCritical,
    /// An Argo Rollout's canary analysis of `metric` fails: the Rollout
    /// aborts itself (`service` names the Rollout).
    AnalysisFails,
}

/// One `[[fault]]` entry as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultEntry {
    /// Shown in the service's events when it fires.
    #[serde(default)]
    pub name: Option<String>,
    /// Environment of the fleet.
    pub env: String,
    /// ECS service of that environment (needed by service effects and by the
    /// deploy and rollback triggers).
    #[serde(default)]
    pub service: Option<String>,
    /// What starts the fault's clock.
    #[serde(default)]
    pub trigger: Trigger,
    /// Delay after the trigger.
    #[serde(default, with = "delay")]
    pub after: Duration,
    /// `trigger = "step"`: the step of the shift that starts the clock (1-based).
    #[serde(default)]
    pub step: Option<u32>,
    /// What happens.
    pub effect: EffectKind,
    /// `error_rate` / `latency`: the value reached.
    #[serde(default)]
    pub value: Option<f64>,
    /// `error_rate` / `latency`: reached gradually over this time (at once without).
    #[serde(default, with = "delay::option")]
    pub ramp: Option<Duration>,
    /// How long the effect lasts (health and outage effects; default: until
    /// the service runs another revision, or for good for an environment).
    #[serde(default, with = "delay::option")]
    pub duration: Option<Duration>,
    /// `alarm`: the alarm's name.
    #[serde(default)]
    pub alarm: Option<String>,
    /// `alarm`: "OK", "ALARM" or "INSUFFICIENT_DATA" (default "ALARM").
    #[serde(default)]
    pub state: Option<String>,
    /// `throttle` / `timeout`: how many calls.
    #[serde(default)]
    pub calls: Option<u32>,
    /// `health_flapping`: how long each outage lasts.
    #[serde(default, with = "delay::option")]
    pub down: Option<Duration>,
    /// `health_flapping`: how long health is back between outages.
    #[serde(default, with = "delay::option")]
    pub up: Option<Duration>,
    /// `check_critical`: the check (default `health`).
    #[serde(default)]
    pub check: Option<String>,
    /// `check_critical`: what the check says.
    #[serde(default)]
    pub output: Option<String>,
    /// `analysis_fails`: the analysis's metric (default `error-rate`).
    #[serde(default)]
    pub metric: Option<String>,
}

/// Durations of fault entries: humantime strings that must not be negative.
mod delay {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    fn parse(s: &str) -> Result<Duration, String> {
        if s.trim_start().starts_with('-') {
            return Err(format!("duration \"{s}\" must not be negative"));
        }
        humantime::parse_duration(s).map_err(|e| format!("bad duration \"{s}\": {e}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }

    pub mod option {
        use super::{Deserialize, Deserializer, Duration, parse};

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|s| parse(&s))
                .transpose()
                .map_err(serde::de::Error::custom)
        }
    }
}

/// Which metric an effect moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// The service's `error_rate` metric.
    ErrorRate,
    /// The service's `latency_p95` metric.
    Latency,
}

/// A checked effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Effect {
    /// See [`EffectKind::RolloutFails`].
    RolloutFails,
    /// See [`EffectKind::CircuitBreaker`].
    CircuitBreaker,
    /// See [`EffectKind::Alarm`].
    Alarm {
        /// Alarm name.
        alarm: String,
        /// New state.
        state: AlarmState,
    },
    /// See [`EffectKind::ErrorRate`] and [`EffectKind::Latency`].
    Metric {
        /// Which metric.
        metric: MetricKind,
        /// Value reached.
        value: f64,
        /// Time to reach it.
        ramp: Duration,
    },
    /// See [`EffectKind::HealthDown`] and [`EffectKind::HealthFlapping`]
    /// (`up` zero: down the whole time).
    Health {
        /// Each outage.
        down: Duration,
        /// Between outages.
        up: Duration,
        /// How long; `None`: while the service runs this revision.
        duration: Option<Duration>,
    },
    /// See [`EffectKind::Throttle`].
    Throttle {
        /// Calls.
        calls: u32,
    },
    /// See [`EffectKind::Timeout`].
    Timeout {
        /// Calls.
        calls: u32,
    },
    /// See [`EffectKind::Unreachable`].
    Unreachable {
        /// How long; `None`: for good.
        duration: Option<Duration>,
    },
    /// See [`EffectKind::CheckCritical`].
    CheckCritical {
        /// The check.
        check: String,
        /// What it says, when the fault says.
        output: Option<String>,
    },
    /// See [`EffectKind::AnalysisFails`].
    AnalysisFails {
        /// The analysis's metric.
        metric: String,
    },
}

impl Effect {
    fn needs_service(&self) -> bool {
        !matches!(
            self,
            Self::Throttle { .. } | Self::Timeout { .. } | Self::Unreachable { .. }
        )
    }
}

/// Where a scripted fault stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for its trigger.
    Armed,
    /// Fires at this time.
    Due(DateTime<Utc>),
    /// Done.
    Fired,
}

/// A checked fault, as the simulator keeps (and persists) it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptedFault {
    /// Name shown when it fires.
    pub name: String,
    /// Environment.
    pub env: String,
    /// ECS service, where the effect or trigger needs one.
    pub service: Option<String>,
    /// Trigger.
    pub trigger: Trigger,
    /// Delay after the trigger.
    pub after: Duration,
    /// The step a `Step` trigger waits for.
    #[serde(default)]
    pub step: Option<u32>,
    /// Effect.
    pub effect: Effect,
    /// Progress.
    pub status: Status,
}

/// Longest delay, ramp or duration a fault may have.
const MAX_DELAY: Duration = Duration::from_hours(7 * 24);

impl FaultEntry {
    /// Checks the entry against the fleet's environments; the error says what
    /// is wrong (the caller adds file and line).
    pub fn check(&self, envs: &[FleetEnv], index: usize) -> Result<ScriptedFault, String> {
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| format!("fault {}", index + 1));
        let Some(env) = envs.iter().find(|e| e.name == self.env) else {
            let known: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
            return Err(format!(
                "{name}: environment \"{}\" is not in the fleet (it has: {})",
                self.env,
                known.join(", ")
            ));
        };
        // A blue/green service is named by its backend.
        let blue_green = self
            .service
            .as_ref()
            .is_some_and(|s| env.blue_green.iter().any(|b| b.backend == *s));
        // A function on Lambda is named by its function name.
        let function = self
            .service
            .as_ref()
            .is_some_and(|s| env.lambda.iter().any(|f| f.function == *s));
        // An app on Fly is named by its app name.
        let fly = self
            .service
            .as_ref()
            .and_then(|s| env.fly.iter().find(|f| f.app == *s));
        // An Argo Rollout is named by its Rollout name.
        let kube = self
            .service
            .as_ref()
            .is_some_and(|s| env.kubernetes.iter().any(|k| k.name() == s));
        let service = match &self.service {
            Some(_) if blue_green || function || fly.is_some() || kube => None,
            Some(s) => Some(
                env.services
                    .iter()
                    .find(|x| x.ecs_service == *s)
                    .ok_or_else(|| {
                        format!(
                            "{name}: service \"{s}\" does not exist in environment \"{}\" of the fleet",
                            self.env
                        )
                    })?,
            ),
            None => None,
        };
        for (what, d) in [
            ("after", Some(self.after)),
            ("ramp", self.ramp),
            ("duration", self.duration),
            ("down", self.down),
            ("up", self.up),
        ] {
            if d.is_some_and(|d| d > MAX_DELAY) {
                return Err(format!("{name}: {what} must be at most 7 days"));
            }
        }
        let value = |what: &str| match self.value {
            Some(v) if v.is_finite() && v >= 0.0 => Ok(v),
            Some(v) => Err(format!(
                "{name}: value must be a number of at least 0 for effect \"{what}\", found {v}"
            )),
            None => Err(format!("{name}: effect \"{what}\" needs a value")),
        };
        let calls = |what: &str| match self.calls {
            Some(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "{name}: effect \"{what}\" needs calls = N (at least 1)"
            )),
        };
        let effect = match self.effect {
            EffectKind::RolloutFails => Effect::RolloutFails,
            EffectKind::CircuitBreaker => Effect::CircuitBreaker,
            EffectKind::Alarm => {
                let Some(alarm) = self.alarm.clone() else {
                    return Err(format!("{name}: effect \"alarm\" needs alarm = \"NAME\""));
                };
                if let Some(s) = service
                    && !s.alarms.iter().any(|a| a.name == alarm)
                {
                    return Err(format!(
                        "{name}: service \"{}\" has no alarm \"{alarm}\"",
                        s.ecs_service
                    ));
                }
                let state = match self.state.as_deref().unwrap_or("ALARM") {
                    "OK" => AlarmState::Ok,
                    "ALARM" => AlarmState::Alarm,
                    "INSUFFICIENT_DATA" => AlarmState::InsufficientData,
                    other => {
                        return Err(format!(
                            "{name}: alarm state \"{other}\" is unknown (use OK, ALARM or INSUFFICIENT_DATA)"
                        ));
                    }
                };
                Effect::Alarm { alarm, state }
            }
            EffectKind::ErrorRate => Effect::Metric {
                metric: MetricKind::ErrorRate,
                value: value("error_rate")?,
                ramp: self.ramp.unwrap_or_default(),
            },
            EffectKind::Latency => Effect::Metric {
                metric: MetricKind::Latency,
                value: value("latency")?,
                ramp: self.ramp.unwrap_or_default(),
            },
            EffectKind::HealthDown => Effect::Health {
                down: Duration::ZERO,
                up: Duration::ZERO,
                duration: self.duration,
            },
            EffectKind::HealthFlapping => {
                let (Some(down), Some(up)) = (self.down, self.up) else {
                    return Err(format!(
                        "{name}: effect \"health_flapping\" needs down = \"…\" and up = \"…\""
                    ));
                };
                if down.is_zero() || up.is_zero() {
                    return Err(format!(
                        "{name}: down and up of \"health_flapping\" must be longer than 0s"
                    ));
                }
                Effect::Health {
                    down,
                    up,
                    duration: self.duration,
                }
            }
            EffectKind::Throttle => Effect::Throttle {
                calls: calls("throttle")?,
            },
            EffectKind::Timeout => Effect::Timeout {
                calls: calls("timeout")?,
            },
            EffectKind::Unreachable => Effect::Unreachable {
                duration: self.duration,
            },
            EffectKind::CheckCritical => {
                let Some(app) = fly else {
                    return Err(format!(
                        "{name}: effect \"check_critical\" needs service = \"APP\", a Fly app of environment \"{}\"",
                        self.env
                    ));
                };
                let check = self.check.clone().unwrap_or_else(|| "health".to_string());
                if !app.checks.contains(&check) {
                    return Err(format!(
                        "{name}: Fly app \"{}\" has no check \"{check}\" (it has: {})",
                        app.app,
                        app.checks.join(", ")
                    ));
                }
                Effect::CheckCritical {
                    check,
                    output: self.output.clone(),
                }
            }
            EffectKind::AnalysisFails => {
                if !kube {
                    return Err(format!(
                        "{name}: effect \"analysis_fails\" needs service = \"ROLLOUT\", a Kubernetes rollout of environment \"{}\"",
                        self.env
                    ));
                }
                Effect::AnalysisFails {
                    metric: self
                        .metric
                        .clone()
                        .unwrap_or_else(|| "error-rate".to_string()),
                }
            }
        };
        if self.metric.is_some() && !matches!(effect, Effect::AnalysisFails { .. }) {
            return Err(format!(
                "{name}: metric = \"…\" goes with effect \"analysis_fails\" only"
            ));
        }
        if kube && !matches!(effect, Effect::AnalysisFails { .. } | Effect::Metric { .. }) {
            return Err(format!(
                "{name}: a Kubernetes rollout takes analysis_fails, error_rate or latency, not this effect"
            ));
        }
        if fly.is_some() && !matches!(effect, Effect::CheckCritical { .. } | Effect::Metric { .. })
        {
            return Err(format!(
                "{name}: a Fly app takes check_critical, error_rate or latency, not this effect"
            ));
        }
        if blue_green
            && !matches!(
                effect,
                Effect::RolloutFails
                    | Effect::Health { .. }
                    | Effect::Metric {
                        metric: MetricKind::ErrorRate,
                        ..
                    }
            )
        {
            return Err(format!(
                "{name}: a blue/green service takes rollout_fails, error_rate, health_down or health_flapping, not this effect"
            ));
        }
        if function && !matches!(effect, Effect::Metric { .. }) {
            return Err(format!(
                "{name}: a Lambda function takes error_rate or latency, not this effect"
            ));
        }
        match (self.trigger, self.step) {
            (Trigger::Step, Some(n)) if n >= 1 && (function || kube) => {}
            (Trigger::Step, Some(n)) if n >= 1 => {
                return Err(format!(
                    "{name}: trigger \"step\" needs service = \"FUNCTION\" or \"ROLLOUT\", a Lambda function or a Kubernetes rollout of environment \"{}\"",
                    self.env
                ));
            }
            (Trigger::Step, _) => {
                return Err(format!(
                    "{name}: trigger \"step\" needs step = N (the step of the shift, from 1)"
                ));
            }
            (_, Some(_)) => {
                return Err(format!(
                    "{name}: step = N goes with trigger = \"step\" only"
                ));
            }
            (_, None) => {}
        }
        let elsewhere = blue_green || function || fly.is_some() || kube;
        if effect.needs_service() && service.is_none() && !elsewhere {
            return Err(format!(
                "{name}: this effect needs service = \"ECS SERVICE\""
            ));
        }
        if matches!(effect, Effect::Health { .. })
            && service.is_some_and(|s| s.latency_ms.is_none())
        {
            return Err(format!(
                "{name}: service \"{}\" has no health endpoint (latency_ms) to fail",
                self.service.as_deref().unwrap_or_default()
            ));
        }
        if self.trigger != Trigger::Start && service.is_none() && !elsewhere {
            return Err(format!(
                "{name}: trigger \"{}\" needs service = \"ECS SERVICE\"",
                if self.trigger == Trigger::Deploy {
                    "deploy"
                } else {
                    "rollback"
                }
            ));
        }
        Ok(ScriptedFault {
            name,
            env: self.env.clone(),
            service: self.service.clone(),
            trigger: self.trigger,
            after: self.after,
            step: self.step,
            effect,
            status: Status::Armed,
        })
    }
}

/// The 1-based line of a byte offset.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map_or(0, |t| t.bytes().filter(|b| *b == b'\n').count())
        + 1
}
