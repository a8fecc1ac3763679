//! The release model: pure data, no I/O, no clock.
//!
//! Everything a provider reads from a cloud (or the simulator) is expressed in
//! these types; nothing AWS-specific leaves the provider that produced it.

pub mod detail;
pub mod digest;
pub mod drift;
pub mod gitref;
pub mod logs;
pub mod placement;
pub mod revision;
pub mod shift;
pub mod sources;
pub mod strategy;
pub mod text;
pub mod time;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use detail::{DeployWords, DetailBadge, DetailLine, PlatformDetail};
pub use digest::{Digest, ImageRef, ParseError};
pub use placement::Placement;
pub use revision::{Revision, RevisionId};
pub use shift::{Decision, Pause, Shift};
pub use sources::{AlarmReading, SourceState, Sources};
pub use strategy::Strategy;
pub use text::{json_safe, sanitize, sanitize_lines};
pub use time::{Freshness, duration_millis, duration_secs};

/// Text read once and then held by many readings (a family, an ARN, an event's
/// message): a clone is a reference count, not a copy.
pub type Shared = std::sync::Arc<str>;

/// The rollout state of one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    /// Tasks of the new revision are still being started or drained.
    InProgress,
    /// The deployment reached steady state.
    Completed,
    /// The deployment failed (tasks did not start, or the circuit breaker tripped without rollback).
    Failed,
    /// The platform rolled the deployment back by itself (ECS: its circuit
    /// breaker or alarm rollback). A failure.
    RolledBack,
    /// The provider did not report a state.
    Unknown,
}

impl RolloutState {
    /// Label shown to humans.
    pub fn label(self) -> &'static str {
        match self {
            Self::InProgress => "in progress",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::RolledBack => "rolled back",
            Self::Unknown => "unknown",
        }
    }

    /// Whether this state counts as degraded for status and exit codes.
    pub fn is_bad(self) -> bool {
        matches!(self, Self::Failed | Self::RolledBack)
    }
}

/// Role of a deployment within its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentRole {
    /// The newest deployment, the one the service converges to.
    Primary,
    /// An older deployment still running tasks.
    Active,
    /// A finished deployment kept for reference.
    Inactive,
}

/// One deployment of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Provider id of the deployment.
    pub id: String,
    /// Primary, active or inactive.
    pub role: DeploymentRole,
    /// Task definition the deployment runs.
    pub task_definition: Revision,
    /// Rollout state.
    pub rollout: RolloutState,
    /// Why the rollout is in that state, as reported.
    pub reason: Option<String>,
    /// The named steps a provider-run rollout has taken so far, in order (a
    /// proxy cutover's runbook); the watch records each new one in the ledger.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
    /// The rollout failed before it changed what serves traffic (a proxy
    /// cutover stopped before its switch): there is nothing to roll back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nothing_changed: bool,
    /// Traffic moved in steps (canary, linear): where the shift stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift: Option<Box<Shift>>,
    /// Tasks running.
    pub running: u32,
    /// Tasks desired.
    pub desired: u32,
    /// Tasks pending.
    pub pending: u32,
    /// Tasks that failed to start.
    pub failed_tasks: u32,
    /// When the deployment was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Deployment {
    /// A deployment of `task_definition` in state `rollout`, with no steps,
    /// no shift and nothing counted yet: what a platform's reading starts
    /// from.
    pub fn bare(
        id: impl Into<String>,
        role: DeploymentRole,
        task_definition: Revision,
        rollout: RolloutState,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: id.into(),
            role,
            task_definition,
            rollout,
            reason: None,
            steps: Vec::new(),
            nothing_changed: false,
            shift: None,
            running: 0,
            desired: 0,
            pending: 0,
            failed_tasks: 0,
            created_at: at,
            updated_at: at,
        }
    }
}

/// A platform's answer to "has the service converged?", with the change it
/// is about where the platform names one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Convergence {
    /// Converged, converging, or not said.
    pub state: ConvergenceState,
    /// The change the answer is about (the git commit a GitOps controller
    /// applied): a watch that follows a change matches it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Shared>,
}

impl Convergence {
    /// Converged when `done`, else converging: a platform that knows.
    pub fn judged(done: bool) -> Self {
        Self {
            state: if done {
                ConvergenceState::Converged
            } else {
                ConvergenceState::Converging
            },
            change: None,
        }
    }

    /// Whether the platform said converged (unknown never is).
    pub fn is_converged(&self) -> bool {
        self.state == ConvergenceState::Converged
    }
}

/// Where a service stands against what it was last told to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConvergenceState {
    /// It runs what it was told to, everywhere it should.
    Converged,
    /// On its way (tasks starting or draining, a sync in progress).
    Converging,
    /// The platform did not say: never taken as converged.
    #[default]
    Unknown,
}

/// How ECS rolls out and protects a service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeploymentConfig {
    /// Deployment circuit breaker enabled.
    pub circuit_breaker: bool,
    /// Circuit breaker rolls back by itself.
    pub circuit_breaker_rollback: bool,
    /// CloudWatch-alarm based rollback enabled.
    pub alarm_rollback: bool,
    /// Rolling or blue/green.
    pub strategy: Strategy,
}

/// State of a CloudWatch alarm. `InsufficientData` is *unknown*, never OK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    /// Within thresholds.
    Ok,
    /// Breaching.
    Alarm,
    /// Not enough data to decide: unknown.
    InsufficientData,
}

/// One alarm with its latest transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    /// Alarm name.
    pub name: Shared,
    /// Current state.
    pub state: AlarmState,
    /// Reason the alarm gave for its state.
    pub reason: Shared,
    /// When the state last changed.
    pub updated_at: DateTime<Utc>,
}

/// Aggregate of a service's alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum AlarmSummary {
    /// No alarms configured or found.
    None,
    /// Every alarm is OK.
    Ok,
    /// At least one alarm in ALARM (the count).
    Alarm {
        /// Alarms in ALARM.
        count: usize,
    },
    /// None in ALARM but some have insufficient data.
    Unknown {
        /// Alarms with insufficient data.
        count: usize,
    },
    /// Alarms are configured but could not be read, or some were not found: the
    /// state is unknown (the reason is on the service), never "none".
    Unreadable,
}

impl AlarmSummary {
    /// Summarises alarms: any ALARM wins, then any unknown, then OK.
    pub fn of(alarms: &[Alarm]) -> Self {
        if alarms.is_empty() {
            return Self::None;
        }
        let firing = alarms
            .iter()
            .filter(|a| a.state == AlarmState::Alarm)
            .count();
        if firing > 0 {
            return Self::Alarm { count: firing };
        }
        let unknown = alarms
            .iter()
            .filter(|a| a.state == AlarmState::InsufficientData)
            .count();
        if unknown > 0 {
            return Self::Unknown { count: unknown };
        }
        Self::Ok
    }

    /// Whether this counts as degraded. Unknown is not OK, but it is not an alarm either.
    pub fn is_bad(self) -> bool {
        matches!(self, Self::Alarm { .. })
    }

    /// Whether the state is not known: unreadable, missing, or INSUFFICIENT_DATA
    /// (unless `allow_insufficient_data`). Unknown is never healthy.
    pub fn is_unknown(self, allow_insufficient_data: bool) -> bool {
        match self {
            Self::Unreadable => true,
            Self::Unknown { .. } => !allow_insufficient_data,
            Self::None | Self::Ok | Self::Alarm { .. } => false,
        }
    }
}

/// Latest health-endpoint reading of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Health {
    /// No health endpoint configured.
    NotConfigured,
    /// Configured but not probed yet.
    Unknown,
    /// Answered the expected status.
    Healthy {
        /// HTTP status.
        status: u16,
        /// Round-trip latency.
        #[serde(with = "duration_millis")]
        latency: Duration,
        /// How long it has answered as expected without interruption.
        #[serde(with = "duration_secs")]
        healthy_for: Duration,
    },
    /// Did not answer as expected.
    Unhealthy {
        /// HTTP status if there was an answer.
        status: Option<u16>,
        /// Readable reason (no secrets, control characters stripped).
        reason: String,
    },
}

impl Health {
    /// Whether this counts as degraded.
    pub fn is_bad(&self) -> bool {
        matches!(self, Self::Unhealthy { .. })
    }
}

/// One ECS service event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceEvent {
    /// Event id (dedup key).
    pub id: Shared,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Message as reported (sanitised before display).
    pub message: Shared,
}

/// How the running digest was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pinning {
    /// The task definition names the image by digest.
    Pinned,
    /// Tag-only image; digest resolved from the running tasks.
    ResolvedFromTasks,
    /// Tag-only image with no resolvable digest: cannot be promoted.
    Unpinned,
}

/// A service's revisions, oldest first: shared between the reading, the
/// console's cache of what was read and the simulator, which hold the same
/// list for thousands of services.
pub type History = std::sync::Arc<Vec<RevisionInfo>>;

/// One revision of a service's task-definition family, for drift and rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionInfo {
    /// The revision.
    pub task_definition: Revision,
    /// Digest of the service's container image in that revision, if pinned.
    pub digest: Option<Digest>,
    /// Whether the revision is still ACTIVE (can be deployed).
    pub active: bool,
}

/// What one environment runs for one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSnapshot {
    /// shipdeck's name for the service (same across environments).
    pub name: String,
    /// ECS service name in this environment.
    pub ecs_service: String,
    /// Image reference of the configured container in the running task definition.
    pub image: Option<ImageRef>,
    /// Running digest, if known.
    pub digest: Option<Digest>,
    /// How the digest was learned.
    pub pinning: Pinning,
    /// Task definition the service is set to.
    pub task_definition: Option<Revision>,
    /// Tasks running.
    pub running: u32,
    /// Tasks desired.
    pub desired: u32,
    /// Tasks pending.
    pub pending: u32,
    /// Deployments, primary first.
    pub deployments: Vec<Deployment>,
    /// Whether the service runs what it was last told to, fully, as its
    /// platform judges it (ECS: the primary deployment completed and every
    /// task running; a GitOps controller: synced and healthy). The watch
    /// reads it and never counts tasks itself.
    #[serde(default)]
    pub convergence: Convergence,
    /// Deployment configuration.
    pub deployment_config: DeploymentConfig,
    /// Alarms watched for this service, as read.
    pub alarms: Vec<Alarm>,
    /// Why the watched alarms are not fully known (CloudWatch unreadable, an alarm
    /// not found, a prefix matching nothing); `None` when every one was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms_unknown: Option<String>,
    /// Health-endpoint reading.
    pub health: Health,
    /// Newest service events, newest first.
    pub events: Vec<ServiceEvent>,
    /// Revisions of the family, oldest first.
    pub history: History,
    /// Recent datapoints of the service's configured CloudWatch metrics.
    #[serde(default)]
    pub metrics: Vec<MetricSeries>,
    /// What the platform shows of it beyond the fields above, in its own
    /// words (a task definition's ARN; both colours and a proxy's counters).
    #[serde(default, skip_serializing_if = "PlatformDetail::is_empty")]
    pub detail: PlatformDetail,
    /// Where the container's logs go, as its task definition says; `None`
    /// while the task definition is not read, or where the platform has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<logs::LogConfig>,
    /// Where the service's units run, as its platform places them (a Fly
    /// machine per region; ECS and Lambda: the environment's AWS region for the
    /// service). `None` where the platform has no regions or the placement is
    /// not read; the gate's `allowed_regions` reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<Vec<Placement>>,
}

#[cfg(test)]
impl ServiceSnapshot {
    /// A service with one task running, nothing else read (for unit tests).
    pub(crate) fn bare(name: &str, ecs_service: &str) -> Self {
        Self {
            detail: PlatformDetail::default(),
            name: name.into(),
            ecs_service: ecs_service.into(),
            image: None,
            digest: None,
            pinning: Pinning::Unpinned,
            task_definition: None,
            running: 1,
            desired: 1,
            pending: 0,
            deployments: vec![],
            convergence: Convergence::judged(true),
            deployment_config: DeploymentConfig::default(),
            alarms: vec![],
            alarms_unknown: None,
            health: Health::NotConfigured,
            events: vec![],
            history: History::default(),
            metrics: vec![],
            logs: None,
            regions: None,
        }
    }
}

/// Recent datapoints of one metric, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSeries {
    /// Label from the configuration.
    pub label: String,
    /// Values, oldest first.
    pub points: Vec<f64>,
    /// Why the series could not be read, when it could not (no points then mean
    /// "unknown", not "nothing happened").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ServiceSnapshot {
    /// Rollout state of the primary deployment.
    pub fn rollout(&self) -> RolloutState {
        self.deployments
            .iter()
            .find(|d| d.role == DeploymentRole::Primary)
            .map_or(RolloutState::Unknown, |d| d.rollout)
    }

    /// Alarm aggregate: an alarm in ALARM wins; otherwise alarms that could not
    /// be read make the state unknown.
    pub fn alarm_summary(&self) -> AlarmSummary {
        match AlarmSummary::of(&self.alarms) {
            a @ AlarmSummary::Alarm { .. } => a,
            _ if self.alarms_unknown.is_some() => AlarmSummary::Unreadable,
            a => a,
        }
    }

    /// Whether the service is degraded in any way status reports.
    pub fn is_degraded(&self) -> bool {
        self.rollout().is_bad() || self.alarm_summary().is_bad() || self.health.is_bad()
    }

    /// The service as one unit placed in `region` (ECS and Lambda: the
    /// environment's AWS region); unplaced when the region is unknown or blank.
    #[must_use]
    pub fn placed_in(mut self, region: Option<&str>) -> Self {
        self.regions = region
            .filter(|r| !r.trim().is_empty())
            .map(|r| vec![Placement::new(self.ecs_service.as_str(), r)]);
        self
    }

    /// Whether a rollout is in flight: the primary deployment is still in
    /// progress, or moves traffic in steps (paused for a decision or not). A
    /// stage in flight is never "up to date" and never all healthy yet.
    pub fn rollout_in_flight(&self) -> bool {
        self.deployments
            .iter()
            .filter(|d| d.role == DeploymentRole::Primary)
            .any(|d| d.rollout == RolloutState::InProgress || d.shift.is_some())
    }
}

/// A complete reading of one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvSnapshot {
    /// Environment name.
    pub env: String,
    /// When the reading was taken.
    pub read_at: DateTime<Utc>,
    /// Services, in configuration order.
    pub services: Vec<ServiceSnapshot>,
    /// Problems with single services that did not fail the whole reading.
    pub warnings: Vec<String>,
    /// How the sources besides ECS fared (CloudWatch alarms and metrics).
    #[serde(default)]
    pub sources: Sources,
    /// Services by name, built on first lookup (not part of the data).
    #[serde(skip)]
    pub index: ServiceIndex,
}

/// The index of a reading's services by name.
pub type ServiceIndex = crate::index::NameIndex;

impl EnvSnapshot {
    fn position(&self, name: &str) -> Option<usize> {
        self.index
            .position(&self.services, name, |s| s.name.as_str())
    }

    /// Looks a service up by shipdeck name.
    pub fn service(&self, name: &str) -> Option<&ServiceSnapshot> {
        self.position(name).and_then(|i| self.services.get(i))
    }

    /// Looks a service up by name, to change it.
    pub fn service_mut(&mut self, name: &str) -> Option<&mut ServiceSnapshot> {
        let i = self.position(name)?;
        self.services.get_mut(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn alarm(state: AlarmState) -> Alarm {
        Alarm {
            name: "a".into(),
            state,
            reason: "".into(),
            updated_at: Utc.timestamp_opt(0, 0).unwrap(),
        }
    }

    #[test]
    fn alarm_summary_alarm_beats_unknown_and_unknown_is_not_ok() {
        use AlarmState::{Alarm as A, InsufficientData as I, Ok as O};
        assert_eq!(AlarmSummary::of(&[]), AlarmSummary::None);
        assert_eq!(AlarmSummary::of(&[alarm(O), alarm(O)]), AlarmSummary::Ok);
        assert_eq!(
            AlarmSummary::of(&[alarm(O), alarm(I)]),
            AlarmSummary::Unknown { count: 1 }
        );
        assert_eq!(
            AlarmSummary::of(&[alarm(I), alarm(A), alarm(A)]),
            AlarmSummary::Alarm { count: 2 }
        );
        assert!(!AlarmSummary::Unknown { count: 1 }.is_bad());
        assert_ne!(AlarmSummary::of(&[alarm(I)]), AlarmSummary::Ok);
    }

    #[test]
    fn freshness_transitions() {
        let t = Utc.timestamp_opt(100, 0).unwrap();
        let f = Freshness::Loading.on_failure("boom".into());
        assert_eq!(
            f,
            Freshness::Failed {
                error: "boom".into()
            }
        );
        let f = f.on_success(t);
        assert!(f.is_fresh());
        let f = f.on_failure("net".into());
        assert_eq!(
            f,
            Freshness::Stale {
                last_good: t,
                error: "net".into()
            }
        );
        assert!(!f.is_fresh());
        let f = f.on_failure("again".into());
        assert_eq!(
            f,
            Freshness::Stale {
                last_good: t,
                error: "again".into()
            }
        );
    }

    #[test]
    fn health_badness() {
        assert!(!Health::Unknown.is_bad());
        assert!(
            Health::Unhealthy {
                status: Some(503),
                reason: "x".into()
            }
            .is_bad()
        );
    }
}
