//! Faults scripted into the simulated fleet: rollouts that fail, alarms,
//! health, throttling, timeouts, unreachable endpoints.

use std::time::Duration;

use super::SimFleet;
use super::service::Fate;
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
}

impl SimFleet {
    /// Scripts a fault.
    pub fn inject(&self, fault: Fault) {
        let mut st = self.lock();
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
                        for a in s.alarms.iter_mut().filter(|a| a.name == alarm) {
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
                        s.alarms.retain(|a| a.name != alarm);
                    }
                }
            }
        }
    }
}
