//! One simulated ECS service: its revisions, deployments stepping through a
//! rollout, alarms, health, events and metrics.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::faults::{Outage, Shift};
use super::fleet_file::{FleetPinning, FleetService};
use crate::model::{
    Alarm, AlarmState, DeploymentConfig, DeploymentRole, Digest, History, ImageRef, Revision,
    RolloutState, ServiceEvent,
};

mod reading;

/// One new task becomes running this often during a rollout.
const TASK_START_EVERY_STEPS: u32 = 3;
/// Steps a rollout waits at full count before it is called completed.
const STEADY_AFTER_STEPS: u32 = 2;
/// Steps after which a scripted failing rollout fails.
const FAIL_AFTER_STEPS: u32 = 4;
/// Datapoints returned per metric (one per minute).
pub(super) const METRIC_POINTS: i64 = 30;
/// Newest service events kept per service.
const EVENTS_KEPT: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Fate {
    Succeed,
    Fail,
    CircuitBreaker,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SimDeployment {
    pub(super) id: String,
    pub(super) revision: u32,
    pub(super) role: DeploymentRole,
    pub(super) rollout: RolloutState,
    pub(super) reason: Option<String>,
    pub(super) running: u32,
    pub(super) desired: u32,
    pub(super) failed_tasks: u32,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    pub(super) fate: Fate,
    pub(super) steps: u32,
    pub(super) steady_steps: u32,
    /// Canary or linear: the traffic moved in steps.
    #[serde(default)]
    pub(super) shift: Option<super::stepped::SimShift>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SimRevision {
    pub(super) revision: u32,
    pub(super) digest: Digest,
    pub(super) active: bool,
    /// The tag its task definition names beside the digest (`repo:2.5.0@sha256:…`);
    /// `None` for the revisions shipdeck registers (`repo@sha256:…`).
    #[serde(default)]
    pub(super) tag: Option<String>,
    /// The image's version label (the release it was built from): image data,
    /// so it follows the digest into every stage it is promoted to.
    #[serde(default)]
    pub(super) version: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SimService {
    pub(super) ecs_service: String,
    pub(super) family: crate::model::Shared,
    pub(super) repo: ImageRef,
    pub(super) tag: String,
    pub(super) pinning: FleetPinning,
    pub(super) revisions: Vec<SimRevision>,
    pub(super) current: u32,
    pub(super) desired: u32,
    pub(super) deployments: Vec<SimDeployment>,
    pub(super) events: VecDeque<ServiceEvent>,
    pub(super) alarms: Vec<Alarm>,
    pub(super) latency_ms: Option<u32>,
    pub(super) flakiness: f64,
    pub(super) health_down_until: Option<DateTime<Utc>>,
    pub(super) health_forced_down: bool,
    pub(super) healthy_since: DateTime<Utc>,
    pub(super) last_latency: u32,
    pub(super) config: DeploymentConfig,
    pub(super) pending_fate: Fate,
    pub(super) pending_alarms: Vec<(String, Duration)>,
    pub(super) scheduled_alarms: Vec<(String, DateTime<Utc>)>,
    /// Metrics moved by game-day faults.
    pub(super) shifts: Vec<Shift>,
    /// Health outages scripted by game-day faults.
    pub(super) outages: Vec<Outage>,
    /// Health was down at the last step (to restart `healthy_since`).
    pub(super) was_down: bool,
    /// The container's log driver (`awslogs`, another, or `none`).
    #[serde(default = "super::logs::awslogs")]
    pub(super) log_driver: String,
    /// [`Self::history`], built once per change of the revisions and shared
    /// by every reading (a fleet of thousands is read every few seconds).
    #[serde(skip)]
    history: std::sync::OnceLock<History>,
}

pub(super) use crate::model::time::chrono_duration as chrono_dur;

pub(super) fn parse_alarm_state(s: &str) -> AlarmState {
    match s {
        "ALARM" => AlarmState::Alarm,
        "INSUFFICIENT_DATA" => AlarmState::InsufficientData,
        _ => AlarmState::Ok,
    }
}

impl SimService {
    pub(super) fn from_file(s: &FleetService, now: DateTime<Utc>) -> Self {
        let family = s.family.clone().unwrap_or_else(|| s.ecs_service.clone());
        // Validated by FleetFile::parse.
        let repo = ImageRef::parse(&s.repository).unwrap_or(ImageRef {
            registry: None,
            repository: s.repository.clone(),
            tag: None,
            digest: None,
            version: None,
            revision: None,
            source: None,
            created: None,
        });
        let revisions: Vec<SimRevision> = s
            .releases
            .iter()
            .enumerate()
            .map(|(i, rel)| {
                let (rel, digest) = release_digest(&s.repository, rel);
                SimRevision {
                    revision: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    digest,
                    active: true,
                    // Pinned images name the release's tag beside the digest, as CI
                    // writes them; tag-only images name the service's one tag.
                    tag: Some(match s.pinning {
                        FleetPinning::Digest => rel.clone(),
                        FleetPinning::Tasks | FleetPinning::None => s.tag.clone(),
                    }),
                    version: Some(rel),
                }
            })
            .collect();
        let current = u32::try_from(revisions.len()).unwrap_or(u32::MAX);
        let deployed_at = now.checked_sub_signed(chrono_dur(s.age)).unwrap_or(now);
        let strategy = s.deployment_strategy();
        let alarms = s
            .alarms
            .iter()
            .map(|a| Alarm {
                name: a.name.clone().into(),
                state: parse_alarm_state(&a.state),
                reason: a
                    .reason
                    .clone()
                    .unwrap_or_else(|| match a.state.as_str() {
                        "ALARM" => "Threshold Crossed: 1 datapoint was greater than the threshold"
                            .to_string(),
                        "INSUFFICIENT_DATA" => {
                            "Insufficient Data: no datapoints were received".to_string()
                        }
                        _ => "Threshold Crossed: no datapoints were greater than the threshold"
                            .to_string(),
                    })
                    .into(),
                updated_at: deployed_at,
            })
            .collect();
        let mut svc = Self {
            ecs_service: s.ecs_service.clone(),
            family: family.as_str().into(),
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
                shift: None,
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
            shifts: Vec::new(),
            outages: Vec::new(),
            was_down: s.health_down,
            log_driver: s.log_driver.clone(),
            history: std::sync::OnceLock::new(),
        };
        svc.event(
            deployed_at,
            "steady",
            &format!("(service {}) has reached a steady state.", s.ecs_service),
        );
        svc
    }

    pub(super) fn task_def(&self, revision: u32) -> Revision {
        if let Some(h) = self
            .history()
            .iter()
            .find(|h| h.task_definition.number() == Some(revision))
        {
            return h.task_definition.clone();
        }
        self.minted_task_def(revision)
    }

    /// The task definition of `revision` as the simulated ECS names it: the
    /// one spelling of its ARN, for the history and for revisions outside it.
    fn minted_task_def(&self, revision: u32) -> Revision {
        Revision::numbered(
            &self.family,
            revision,
            &format!(
                "arn:aws:ecs:sim:000000000000:task-definition/{}:{revision}",
                self.family
            ),
        )
    }

    fn revision_of(&self, revision: u32) -> Option<&SimRevision> {
        self.revisions.iter().find(|r| r.revision == revision)
    }

    /// The version label of the image `digest`, if one of this service's
    /// revisions ran it (the registry's image data in the simulated world).
    pub(super) fn version_of(&self, digest: &Digest) -> Option<&str> {
        self.revisions
            .iter()
            .find(|r| r.digest == *digest)
            .and_then(|r| r.version.as_deref())
    }

    pub(super) fn event(&mut self, at: DateTime<Utc>, kind: &str, message: &str) {
        let id = format!(
            "{}-{}-{kind}-{}",
            self.ecs_service,
            at.timestamp(),
            self.events.len()
        );
        self.events.push_front(ServiceEvent {
            id: id.into(),
            at,
            message: message.into(),
        });
        self.events.truncate(EVENTS_KEPT);
    }

    /// Advances rollouts, alarms and health by one step ending at `now`.
    pub(super) fn step(&mut self, now: DateTime<Utc>, rng: &mut ChaCha8Rng) {
        // Scheduled alarm transitions.
        let due: Vec<String> = self
            .scheduled_alarms
            .iter()
            .filter(|(_, at)| *at <= now)
            .map(|(a, _)| a.clone())
            .collect();
        self.scheduled_alarms.retain(|(_, at)| *at > now);
        for alarm in due {
            if let Some(a) = self.alarms.iter_mut().find(|a| *a.name == *alarm) {
                a.state = AlarmState::Alarm;
                a.reason = "Threshold Crossed: 3 out of the last 3 datapoints were greater than the threshold".into();
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
        // Only a rollout in progress changes (a fleet of thousands steps every
        // second: settled services cost no copies).
        if self.deployments[primary_idx].rollout == RolloutState::InProgress {
            let name = self.ecs_service.clone();
            let mut primary = self.deployments[primary_idx].clone();
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
                        // Drain one old task for each new one (a stepped
                        // rollout keeps them all until its traffic has moved).
                        for d in self
                            .deployments
                            .iter_mut()
                            .filter(|d| d.role == DeploymentRole::Active && primary.shift.is_none())
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
                    let drained = self.advance_shift(&mut primary, now)
                        && self
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
            if let Some(slot) = self.deployments.iter_mut().find(|d| d.id == primary.id) {
                *slot = primary;
            }
        }
        // Health: scripted outages and random flaps.
        if self.latency_ms.is_some() {
            let down_now = self.is_down(now);
            if self.health_down_until.is_some_and(|t| t <= now) {
                self.health_down_until = None;
            }
            if !down_now && self.was_down {
                self.healthy_since = now;
            }
            self.was_down = down_now;
            if !down_now && self.flakiness > 0.0 && rng.random_bool(self.flakiness) {
                let secs = rng.random_range(5..20);
                self.health_down_until = Some(now + chrono::Duration::seconds(secs));
            }
            let base = self.latency_ms.unwrap_or(0);
            let jitter = rng.random_range(0..=base / 4 + 1);
            self.last_latency = base.saturating_sub(base / 8) + jitter;
        }
    }

    pub(super) fn finish_failed(&mut self, primary: &mut SimDeployment, now: DateTime<Utc>) {
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

    /// Registers a new revision running `digest`, pinned by digest from now
    /// on (as shipdeck writes `repo@sha256:…`, no tag), and returns its
    /// number. `version` is the image's version label, where the world knows it.
    pub(super) fn register(&mut self, digest: Digest, version: Option<String>) -> u32 {
        let revision = self.revisions.iter().map(|r| r.revision).max().unwrap_or(0) + 1;
        self.revisions.push(SimRevision {
            revision,
            digest,
            active: true,
            tag: None,
            version,
        });
        self.pinning = FleetPinning::Digest;
        self.history = std::sync::OnceLock::new();
        revision
    }

    /// Starts a deployment of `revision` with the given deployment id; a
    /// stepped one holds each step for a decision when `pause`.
    pub(super) fn start_deployment(
        &mut self,
        revision: u32,
        id: &str,
        now: DateTime<Utc>,
        pause: bool,
    ) {
        for d in &mut self.deployments {
            if d.role == DeploymentRole::Primary {
                d.role = DeploymentRole::Active;
            }
        }
        // Deployments already drained (or failed) are gone from ECS's active list.
        self.deployments.retain(|d| d.running > 0);
        self.end_effects(now);
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
                shift: super::stepped::SimShift::plan(&self.config.strategy, pause),
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

/// A release's name and digest: `1.2@sha256:…` as written (validated by
/// [`super::FleetFile::parse`]), else derived from the repository and the name.
fn release_digest(repository: &str, rel: &str) -> (String, Digest) {
    match rel.split_once('@') {
        Some((name, d)) => match Digest::parse(d) {
            Ok(d) => (name.to_string(), d),
            Err(_) => (
                rel.to_string(),
                Digest::of_bytes(format!("{repository}:{rel}").as_bytes()),
            ),
        },
        None => (
            rel.to_string(),
            Digest::of_bytes(format!("{repository}:{rel}").as_bytes()),
        ),
    }
}
