//! The simulated fleet: a seeded, clock-driven stand-in for ECS and CloudWatch.
//!
//! State advances in fixed one-second steps up to the injected clock's time, so
//! the same seed, clock and actions always give the same readings, however
//! often the fleet is polled. Faults are scripted with [`Fault`].

mod fleet_file;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use fleet_file::{FleetError, FleetFile, FleetPinning, scaled};

use crate::clock::Clock;
use crate::config::{EnvConfig, ServiceConfig};
use crate::model::{
    Alarm, AlarmReading, AlarmState, Deployment, DeploymentConfig, DeploymentRole, Digest,
    EnvSnapshot, Health, ImageRef, MetricSeries, Pinning, RevisionInfo, RolloutState, ServiceEvent,
    ServiceSnapshot, SourceState, Sources, Strategy, TaskDefRef,
};
use crate::provider::{DeployStarted, Provider, ProviderError};

/// Simulated time advances in steps of this length.
pub const SIM_STEP: Duration = Duration::from_secs(1);
/// One new task becomes running this often during a rollout.
const TASK_START_EVERY_STEPS: u32 = 3;
/// Steps a rollout waits at full count before it is called completed.
const STEADY_AFTER_STEPS: u32 = 2;
/// Steps after which a scripted failing rollout fails.
const FAIL_AFTER_STEPS: u32 = 4;
/// Datapoints returned per metric (one per minute).
const METRIC_POINTS: i64 = 30;
/// Newest service events kept per service.
const EVENTS_KEPT: usize = 50;
/// Longest stretch simulated in one go; beyond it, time jumps (keeps a resumed laptop responsive).
const MAX_CATCH_UP_STEPS: u64 = 6 * 3600;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Succeed,
    Fail,
    CircuitBreaker,
}

#[derive(Debug, Clone)]
struct SimDeployment {
    id: String,
    revision: u32,
    role: DeploymentRole,
    rollout: RolloutState,
    reason: Option<String>,
    running: u32,
    desired: u32,
    failed_tasks: u32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    fate: Fate,
    steps: u32,
    steady_steps: u32,
}

#[derive(Debug, Clone)]
struct SimRevision {
    revision: u32,
    digest: Digest,
    active: bool,
}

#[derive(Debug, Clone)]
struct SimService {
    ecs_service: String,
    family: String,
    repo: ImageRef,
    tag: String,
    pinning: FleetPinning,
    revisions: Vec<SimRevision>,
    current: u32,
    desired: u32,
    deployments: Vec<SimDeployment>,
    events: VecDeque<ServiceEvent>,
    alarms: Vec<Alarm>,
    latency_ms: Option<u32>,
    flakiness: f64,
    health_down_until: Option<DateTime<Utc>>,
    health_forced_down: bool,
    healthy_since: DateTime<Utc>,
    last_latency: u32,
    config: DeploymentConfig,
    pending_fate: Fate,
    pending_alarms: Vec<(String, Duration)>,
    scheduled_alarms: Vec<(String, DateTime<Utc>)>,
}

#[derive(Debug, Clone, Default)]
struct SimEnv {
    services: BTreeMap<String, SimService>,
    throttle_calls: u32,
    timeout_calls: u32,
    unreachable: bool,
    cloudwatch_down: bool,
    deploy_delay: Option<Duration>,
    deploys_refused: bool,
}

#[derive(Debug)]
struct SimState {
    rng: ChaCha8Rng,
    time: DateTime<Utc>,
    envs: BTreeMap<String, SimEnv>,
    next_id: u64,
    calls: u64,
}

/// The simulated fleet. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct SimFleet {
    state: Arc<Mutex<SimState>>,
    clock: Arc<dyn Clock>,
}

fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn parse_alarm_state(s: &str) -> AlarmState {
    match s {
        "ALARM" => AlarmState::Alarm,
        "INSUFFICIENT_DATA" => AlarmState::InsufficientData,
        _ => AlarmState::Ok,
    }
}

impl SimService {
    fn from_file(s: &FleetService, now: DateTime<Utc>) -> Self {
        let family = s.family.clone().unwrap_or_else(|| s.ecs_service.clone());
        // Validated by FleetFile::parse.
        let repo = ImageRef::parse(&s.repository).unwrap_or(ImageRef {
            registry: None,
            repository: s.repository.clone(),
            tag: None,
            digest: None,
        });
        let revisions: Vec<SimRevision> = s
            .releases
            .iter()
            .enumerate()
            .map(|(i, rel)| SimRevision {
                revision: u32::try_from(i + 1).unwrap_or(u32::MAX),
                digest: Digest::of_bytes(format!("{}:{rel}", s.repository).as_bytes()),
                active: true,
            })
            .collect();
        let current = u32::try_from(revisions.len()).unwrap_or(u32::MAX);
        let deployed_at = now.checked_sub_signed(chrono_dur(s.age)).unwrap_or(now);
        let strategy = match (s.strategy.as_deref(), s.bake) {
            (Some("blue_green"), bake) => Strategy::BlueGreen {
                bake: bake.unwrap_or(Duration::from_mins(5)),
            },
            _ => Strategy::Rolling,
        };
        let alarms =
            s.alarms
                .iter()
                .map(|a| Alarm {
                    name: a.name.clone(),
                    state: parse_alarm_state(&a.state),
                    reason: a.reason.clone().unwrap_or_else(|| match a.state.as_str() {
                        "ALARM" => "Threshold Crossed: 1 datapoint was greater than the threshold"
                            .to_string(),
                        "INSUFFICIENT_DATA" => {
                            "Insufficient Data: no datapoints were received".to_string()
                        }
                        _ => "Threshold Crossed: no datapoints were greater than the threshold"
                            .to_string(),
                    }),
                    updated_at: deployed_at,
                })
                .collect();
        let mut svc = Self {
            ecs_service: s.ecs_service.clone(),
            family: family.clone(),
            repo,
            tag: s.tag.clone(),
            pinning: s.pinning,
            revisions,
            current,
            desired: s.desired,
            deployments: vec![SimDeployment {
                id: format!("ecs-svc/{}-{current}", s.ecs_service),
                revision: current,
                role: DeploymentRole::Primary,
                rollout: RolloutState::Completed,
                reason: Some("ECS deployment completed.".to_string()),
                running: s.desired,
                desired: s.desired,
                failed_tasks: 0,
                created_at: deployed_at,
                updated_at: deployed_at,
                fate: Fate::Succeed,
                steps: 0,
                steady_steps: 0,
            }],
            events: VecDeque::new(),
            alarms,
            latency_ms: s.latency_ms,
            flakiness: s.flakiness,
            health_down_until: None,
            health_forced_down: s.health_down,
            healthy_since: deployed_at,
            last_latency: s.latency_ms.unwrap_or(0),
            config: DeploymentConfig {
                circuit_breaker: s.circuit_breaker,
                circuit_breaker_rollback: s.circuit_breaker,
                alarm_rollback: false,
                strategy,
            },
            pending_fate: Fate::Succeed,
            pending_alarms: Vec::new(),
            scheduled_alarms: Vec::new(),
        };
        svc.event(
            deployed_at,
            "steady",
            &format!("(service {}) has reached a steady state.", s.ecs_service),
        );
        svc
    }

    fn task_def(&self, revision: u32) -> TaskDefRef {
        TaskDefRef {
            family: self.family.clone(),
            revision,
            arn: format!(
                "arn:aws:ecs:sim:000000000000:task-definition/{}:{revision}",
                self.family
            ),
        }
    }

    fn digest_of(&self, revision: u32) -> Option<&Digest> {
        self.revisions
            .iter()
            .find(|r| r.revision == revision)
            .map(|r| &r.digest)
    }

    fn event(&mut self, at: DateTime<Utc>, kind: &str, message: &str) {
        let id = format!(
            "{}-{}-{kind}-{}",
            self.ecs_service,
            at.timestamp(),
            self.events.len()
        );
        self.events.push_front(ServiceEvent {
            id,
            at,
            message: message.to_string(),
        });
        self.events.truncate(EVENTS_KEPT);
    }

    /// Advances rollouts, alarms and health by one step ending at `now`.
    fn step(&mut self, now: DateTime<Utc>, rng: &mut ChaCha8Rng) {
        let name = self.ecs_service.clone();
        // Scheduled alarm transitions.
        let due: Vec<String> = self
            .scheduled_alarms
            .iter()
            .filter(|(_, at)| *at <= now)
            .map(|(a, _)| a.clone())
            .collect();
        self.scheduled_alarms.retain(|(_, at)| *at > now);
        for alarm in due {
            if let Some(a) = self.alarms.iter_mut().find(|a| a.name == alarm) {
                a.state = AlarmState::Alarm;
                a.reason = "Threshold Crossed: 3 out of the last 3 datapoints were greater than the threshold".to_string();
                a.updated_at = now;
            }
        }
        // Rollout progress of the primary deployment.
        let Some(primary_idx) = self
            .deployments
            .iter()
            .position(|d| d.role == DeploymentRole::Primary)
        else {
            return;
        };
        let mut primary = self.deployments[primary_idx].clone();
        if primary.rollout == RolloutState::InProgress {
            primary.steps += 1;
            match primary.fate {
                Fate::Fail | Fate::CircuitBreaker if primary.steps >= FAIL_AFTER_STEPS => {
                    primary.failed_tasks += 1;
                    self.finish_failed(&mut primary, now);
                }
                _ => {
                    if primary.running < primary.desired
                        && primary.steps.is_multiple_of(TASK_START_EVERY_STEPS)
                    {
                        primary.running += 1;
                        primary.updated_at = now;
                        // Drain one old task for each new one.
                        for d in self
                            .deployments
                            .iter_mut()
                            .filter(|d| d.role == DeploymentRole::Active)
                        {
                            if d.running > 0 {
                                d.running -= 1;
                                break;
                            }
                        }
                        self.event(
                            now,
                            "start",
                            &format!(
                                "(service {name}) has started 1 tasks: (task {:08x}).",
                                rng.random::<u32>()
                            ),
                        );
                    }
                    let drained = self
                        .deployments
                        .iter()
                        .filter(|d| d.role == DeploymentRole::Active)
                        .all(|d| d.running == 0);
                    if primary.running == primary.desired && drained {
                        primary.steady_steps += 1;
                        if primary.steady_steps >= STEADY_AFTER_STEPS {
                            primary.rollout = RolloutState::Completed;
                            primary.reason = Some("ECS deployment completed.".to_string());
                            primary.updated_at = now;
                            self.deployments
                                .retain(|d| d.role == DeploymentRole::Primary);
                            self.event(
                                now,
                                "steady",
                                &format!("(service {name}) has reached a steady state."),
                            );
                        }
                    }
                }
            }
        }
        if let Some(slot) = self.deployments.iter_mut().find(|d| d.id == primary.id) {
            *slot = primary;
        }
        // Health: scripted outages and random flaps.
        if self.latency_ms.is_some() {
            let down_now =
                self.health_forced_down || self.health_down_until.is_some_and(|t| t > now);
            if !down_now {
                if self.health_down_until.is_some_and(|t| t <= now) {
                    self.health_down_until = None;
                    self.healthy_since = now;
                }
                if self.flakiness > 0.0 && rng.random_bool(self.flakiness) {
                    let secs = rng.random_range(5..20);
                    self.health_down_until = Some(now + chrono::Duration::seconds(secs));
                }
            }
            let base = self.latency_ms.unwrap_or(0);
            let jitter = rng.random_range(0..=base / 4 + 1);
            self.last_latency = base.saturating_sub(base / 8) + jitter;
        }
    }

    fn finish_failed(&mut self, primary: &mut SimDeployment, now: DateTime<Utc>) {
        let name = self.ecs_service.clone();
        primary.updated_at = now;
        let previous = self
            .deployments
            .iter()
            .find(|d| d.role == DeploymentRole::Active)
            .map(|d| d.revision);
        match (primary.fate, previous) {
            (Fate::CircuitBreaker, Some(prev)) if self.config.circuit_breaker_rollback => {
                // ECS rolls back by itself: the old revision becomes primary again.
                self.current = prev;
                let id = primary.id.clone();
                primary.role = DeploymentRole::Primary;
                primary.revision = prev;
                primary.rollout = RolloutState::RolledBack;
                primary.running = primary.desired;
                primary.reason = Some(format!(
                    "ECS deployment circuit breaker: tasks failed to start; rolled back to {}:{prev}",
                    self.family
                ));
                self.deployments.retain(|d| d.id == id);
                self.event(now, "cb", &format!(
                    "(service {name}) deployment {id} deployment failed: tasks failed to start. Rolling back to {}:{prev}.",
                    self.family
                ));
            }
            _ => {
                primary.rollout = RolloutState::Failed;
                primary.reason = Some(
                    "ECS deployment failed: tasks failed to start (essential container exited)"
                        .to_string(),
                );
                self.event(
                    now,
                    "failed",
                    &format!(
                        "(service {name}) deployment {} failed: tasks failed to start.",
                        primary.id
                    ),
                );
            }
        }
    }

    fn health(&self, now: DateTime<Utc>) -> Health {
        let Some(_) = self.latency_ms else {
            return Health::NotConfigured;
        };
        let down = self.health_forced_down || self.health_down_until.is_some_and(|t| t > now);
        if down {
            return Health::Unhealthy {
                status: Some(503),
                reason: "answered 503 Service Unavailable, expected 200".to_string(),
            };
        }
        Health::Healthy {
            status: 200,
            latency: Duration::from_millis(u64::from(self.last_latency)),
            healthy_for: (now - self.healthy_since).to_std().unwrap_or_default(),
        }
    }

    fn snapshot(
        &self,
        cfg: &ServiceConfig,
        now: DateTime<Utc>,
        alarms: &AlarmReading,
        metrics_error: Option<&str>,
    ) -> ServiceSnapshot {
        let digest = self.digest_of(self.current).cloned();
        let (image, digest, pinning) = match self.pinning {
            FleetPinning::Digest => (
                digest.as_ref().map(|d| self.repo.pinned_to(d)),
                digest,
                Pinning::Pinned,
            ),
            FleetPinning::Tasks => {
                let mut img = self.repo.clone();
                img.tag = Some(self.tag.clone());
                (Some(img), digest, Pinning::ResolvedFromTasks)
            }
            FleetPinning::None => {
                let mut img = self.repo.clone();
                img.tag = Some(self.tag.clone());
                (Some(img), None, Pinning::Unpinned)
            }
        };
        let deployments: Vec<Deployment> = self
            .deployments
            .iter()
            .map(|d| Deployment {
                id: d.id.clone(),
                role: d.role,
                task_definition: self.task_def(d.revision),
                rollout: d.rollout,
                reason: d.reason.clone(),
                running: d.running,
                desired: d.desired,
                pending: if d.rollout == RolloutState::InProgress {
                    d.desired.saturating_sub(d.running).min(1)
                } else {
                    0
                },
                failed_tasks: d.failed_tasks,
                created_at: d.created_at,
                updated_at: d.updated_at,
            })
            .collect();
        let running = deployments.iter().map(|d| d.running).sum();
        let pending = deployments.iter().map(|d| d.pending).sum();
        let (alarms, alarms_unknown) = alarms.watched(&cfg.alarms, &cfg.alarm_prefixes);
        ServiceSnapshot {
            name: cfg.name.clone(),
            ecs_service: self.ecs_service.clone(),
            image,
            digest,
            pinning,
            task_definition: Some(self.task_def(self.current)),
            running,
            desired: self.desired,
            pending,
            deployments,
            deployment_config: self.config.clone(),
            alarms,
            alarms_unknown,
            health: if cfg.health.is_some() {
                self.health(now)
            } else {
                Health::NotConfigured
            },
            events: self.events.iter().cloned().collect(),
            history: self
                .revisions
                .iter()
                .map(|r| RevisionInfo {
                    task_definition: self.task_def(r.revision),
                    digest: match self.pinning {
                        FleetPinning::Digest => Some(r.digest.clone()),
                        _ => None,
                    },
                    active: r.active,
                })
                .collect(),
            metrics: cfg
                .metrics
                .iter()
                .map(|m| match metrics_error {
                    Some(e) => MetricSeries {
                        label: m.label.clone(),
                        points: Vec::new(),
                        error: Some(e.to_string()),
                    },
                    None => self.metric_series(m, now),
                })
                .collect(),
        }
    }

    /// Synthetic datapoints for a configured metric: a stable function of the metric,
    /// the service and the minute, so readings repeat exactly for the same time.
    fn metric_series(&self, m: &crate::config::MetricConfig, now: DateTime<Utc>) -> MetricSeries {
        use crate::config::MetricRole;
        let minute = now.timestamp().div_euclid(60);
        let points = (0..METRIC_POINTS)
            .map(|i| {
                let t = minute - METRIC_POINTS + 1 + i;
                let h =
                    Digest::of_bytes(format!("{}:{}:{t}", self.ecs_service, m.label).as_bytes());
                let noise = f64::from(u8::from_str_radix(&h.short()[..2], 16).unwrap_or(0)) / 255.0;
                let latency = f64::from(self.latency_ms.unwrap_or(50));
                match m.role {
                    MetricRole::ErrorRate => 0.2 + noise * 0.6,
                    MetricRole::LatencyP95 => latency * (1.8 + noise * 0.6),
                    MetricRole::Chart => 100.0 + noise * 50.0,
                }
            })
            .collect();
        MetricSeries {
            label: m.label.clone(),
            points,
            error: None,
        }
    }

    /// Starts a deployment of `revision` with the given deployment id.
    fn start_deployment(&mut self, revision: u32, id: &str, now: DateTime<Utc>) {
        for d in &mut self.deployments {
            if d.role == DeploymentRole::Primary {
                d.role = DeploymentRole::Active;
            }
        }
        // Deployments already drained (or failed) are gone from ECS's active list.
        self.deployments.retain(|d| d.running > 0);
        let fate = std::mem::replace(&mut self.pending_fate, Fate::Succeed);
        self.deployments.insert(
            0,
            SimDeployment {
                id: id.to_string(),
                revision,
                role: DeploymentRole::Primary,
                rollout: RolloutState::InProgress,
                reason: Some("ECS deployment in progress.".to_string()),
                running: 0,
                desired: self.desired,
                failed_tasks: 0,
                created_at: now,
                updated_at: now,
                fate,
                steps: 0,
                steady_steps: 0,
            },
        );
        self.current = revision;
        for (alarm, after) in std::mem::take(&mut self.pending_alarms) {
            self.scheduled_alarms.push((alarm, now + chrono_dur(after)));
        }
        let name = self.ecs_service.clone();
        self.event(
            now,
            "deploy",
            &format!(
                "(service {name}) has begun a deployment {id} to task definition {}:{revision}.",
                self.family
            ),
        );
    }
}

use fleet_file::FleetService;

impl SimFleet {
    /// Builds a fleet from a description, seeded, driven by `clock`.
    pub fn new(fleet: &FleetFile, seed: u64, clock: Arc<dyn Clock>) -> Self {
        let now = clock.now();
        let envs = fleet
            .environments
            .iter()
            .map(|e| {
                let services = e
                    .services
                    .iter()
                    .map(|s| (s.ecs_service.clone(), SimService::from_file(s, now)))
                    .collect();
                (
                    e.name.clone(),
                    SimEnv {
                        services,
                        unreachable: e.unreachable,
                        cloudwatch_down: e.cloudwatch_unreachable,
                        ..SimEnv::default()
                    },
                )
            })
            .collect();
        Self {
            state: Arc::new(Mutex::new(SimState {
                rng: ChaCha8Rng::seed_from_u64(seed),
                time: now,
                envs,
                next_id: 1,
                calls: 0,
            })),
            clock,
        }
    }

    /// The built-in demo fleet.
    pub fn demo(seed: u64, clock: Arc<dyn Clock>) -> Result<Self, FleetError> {
        Ok(Self::new(&FleetFile::demo()?, seed, clock))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SimState> {
        // A panic while holding the lock leaves consistent-enough state for a simulator.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

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

    /// A scripted slow deploy or rollback call blocks here (never holding the
    /// lock); a scripted refusal answers like ECS would.
    async fn wait_for_call(&self, env: &str) -> Result<(), ProviderError> {
        let (delay, refused) = self
            .lock()
            .envs
            .get(env)
            .map_or((None, false), |e| (e.deploy_delay, e.deploys_refused));
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        if refused {
            return Err(ProviderError::Conflict {
                message: format!(
                    "ECS refused the update in \"{env}\" (InvalidParameterException, scripted)"
                ),
            });
        }
        Ok(())
    }

    /// Total API calls served (for efficiency tests).
    pub fn calls(&self) -> u64 {
        self.lock().calls
    }

    /// Advances simulated time to the clock's now, one step at a time.
    fn catch_up(st: &mut SimState, now: DateTime<Utc>) {
        let step = chrono_dur(SIM_STEP);
        let mut steps = 0;
        while st.time + step <= now {
            st.time += step;
            steps += 1;
            if steps > MAX_CATCH_UP_STEPS {
                st.time = now;
                break;
            }
            let t = st.time;
            let SimState { rng, envs, .. } = st;
            for env in envs.values_mut() {
                for svc in env.services.values_mut() {
                    svc.step(t, rng);
                }
            }
        }
    }

    /// Common entry of every API call: advance time and apply connection faults.
    fn enter(&self, env: &str) -> Result<std::sync::MutexGuard<'_, SimState>, ProviderError> {
        let now = self.clock.now();
        let mut st = self.lock();
        Self::catch_up(&mut st, now);
        st.calls += 1;
        let Some(e) = st.envs.get_mut(env) else {
            return Err(ProviderError::NotFound {
                what: "cluster".to_string(),
                name: env.to_string(),
            });
        };
        if e.unreachable {
            return Err(ProviderError::Network {
                message: format!("cannot connect to the endpoint of \"{env}\": connection refused"),
            });
        }
        if e.timeout_calls > 0 {
            e.timeout_calls -= 1;
            return Err(ProviderError::Network {
                message: format!("request to \"{env}\" timed out after 10s"),
            });
        }
        if e.throttle_calls > 0 {
            e.throttle_calls -= 1;
            return Err(ProviderError::Throttled {
                message: "Rate exceeded (ThrottlingException)".to_string(),
                retry_after: Some(Duration::from_secs(1)),
            });
        }
        Ok(st)
    }

    fn read_sync(&self, env: &EnvConfig) -> Result<EnvSnapshot, ProviderError> {
        let st = self.enter(&env.name)?;
        let now = st.time.max(self.clock.now());
        let Some(sim_env) = st.envs.get(&env.name) else {
            return Err(ProviderError::NotFound {
                what: "cluster".to_string(),
                name: env.cluster.clone(),
            });
        };
        // CloudWatch answers for the whole environment, as DescribeAlarms does.
        let cloudwatch_error = sim_env.cloudwatch_down.then(|| {
            format!(
                "network: cannot connect to the CloudWatch endpoint of \"{}\": connection refused",
                env.name
            )
        });
        let alarms = AlarmReading {
            found: if cloudwatch_error.is_some() {
                Vec::new()
            } else {
                sim_env
                    .services
                    .values()
                    .flat_map(|s| s.alarms.iter().cloned())
                    .collect()
            },
            error: cloudwatch_error.clone(),
        };
        let any_alarms = env
            .services
            .iter()
            .any(|s| !s.alarms.is_empty() || !s.alarm_prefixes.is_empty());
        let any_metrics = env.services.iter().any(|s| !s.metrics.is_empty());
        let sources = Sources {
            alarms: alarms.state(any_alarms),
            metrics: match (&cloudwatch_error, any_metrics) {
                (_, false) => SourceState::NotUsed,
                (Some(e), true) => SourceState::Failed { error: e.clone() },
                (None, true) => SourceState::Ready,
            },
        };
        let mut services = Vec::new();
        let mut warnings = sources.failed();
        for cfg in &env.services {
            match sim_env.services.get(&cfg.ecs_service) {
                Some(s) => {
                    services.push(s.snapshot(cfg, now, &alarms, cloudwatch_error.as_deref()));
                }
                None => warnings.push(format!(
                    "service \"{}\" not found in cluster \"{}\"",
                    cfg.ecs_service, env.cluster
                )),
            }
        }
        Ok(EnvSnapshot {
            env: env.name.clone(),
            read_at: now,
            services,
            warnings,
            sources,
        })
    }

    fn deploy_sync(
        &self,
        env: &EnvConfig,
        cfg: &ServiceConfig,
        digest: &Digest,
    ) -> Result<DeployStarted, ProviderError> {
        let mut st = self.enter(&env.name)?;
        let now = st.time;
        let id_num = st.next_id;
        st.next_id += 1;
        let svc = st
            .envs
            .get_mut(&env.name)
            .and_then(|e| e.services.get_mut(&cfg.ecs_service))
            .ok_or_else(|| ProviderError::NotFound {
                what: "service".to_string(),
                name: cfg.ecs_service.clone(),
            })?;
        let from = svc.task_def(svc.current);
        let revision = svc.revisions.iter().map(|r| r.revision).max().unwrap_or(0) + 1;
        svc.revisions.push(SimRevision {
            revision,
            digest: digest.clone(),
            active: true,
        });
        // A deployed digest is pinned from now on, as shipdeck writes repo@sha256.
        svc.pinning = FleetPinning::Digest;
        let id = format!("ecs-svc/{id_num:016}");
        svc.start_deployment(revision, &id, now);
        Ok(DeployStarted {
            service: cfg.name.clone(),
            from: Some(from),
            to: svc.task_def(revision),
            deployment_id: Some(id),
        })
    }

    fn rollback_sync(
        &self,
        env: &EnvConfig,
        cfg: &ServiceConfig,
        to: &TaskDefRef,
    ) -> Result<DeployStarted, ProviderError> {
        let mut st = self.enter(&env.name)?;
        let now = st.time;
        let id_num = st.next_id;
        st.next_id += 1;
        let svc = st
            .envs
            .get_mut(&env.name)
            .and_then(|e| e.services.get_mut(&cfg.ecs_service))
            .ok_or_else(|| ProviderError::NotFound {
                what: "service".to_string(),
                name: cfg.ecs_service.clone(),
            })?;
        if to.family != svc.family
            || !svc
                .revisions
                .iter()
                .any(|r| r.revision == to.revision && r.active)
        {
            return Err(ProviderError::NotFound {
                what: "task definition".to_string(),
                name: to.to_string(),
            });
        }
        let from = svc.task_def(svc.current);
        let id = format!("ecs-svc/{id_num:016}");
        svc.start_deployment(to.revision, &id, now);
        Ok(DeployStarted {
            service: cfg.name.clone(),
            from: Some(from),
            to: svc.task_def(to.revision),
            deployment_id: Some(id),
        })
    }
}

impl Provider for SimFleet {
    async fn read_env(&self, env: &EnvConfig) -> Result<EnvSnapshot, ProviderError> {
        self.read_sync(env)
    }

    async fn deploy(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        digest: &Digest,
    ) -> Result<DeployStarted, ProviderError> {
        self.wait_for_call(&env.name).await?;
        self.deploy_sync(env, service, digest)
    }

    async fn rollback(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        to: &TaskDefRef,
    ) -> Result<DeployStarted, ProviderError> {
        self.wait_for_call(&env.name).await?;
        self.rollback_sync(env, service, to)
    }
}

#[cfg(test)]
mod tests;
