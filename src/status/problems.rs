//! What is wrong, named: each degraded, unknown or in-flight cell (or
//! environment) of a status report with its reason, for the table's summary
//! and for `--json`'s `problems`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{AlarmState, DeploymentRole, Health, RolloutState, ServiceSnapshot, sanitize};

/// How a problem counts towards the report's verdict and exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Known to be bad (exit code 1).
    Degraded,
    /// Could not be read (exit code 3 when nothing is degraded).
    Unknown,
    /// A rollout in flight, perhaps paused for a decision (exit code 5 when
    /// nothing is degraded or unknown).
    InProgress,
}

/// What kind of problem it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// An alarm in ALARM (one problem per alarm).
    Alarm,
    /// The health endpoint did not answer as expected.
    Health,
    /// The rollout failed, or the platform rolled it back by itself.
    Rollout,
    /// Listed in the configuration, not found in the cluster.
    Missing,
    /// The environment could not be read at all.
    Unreadable,
    /// Something could not be read (one problem per reason).
    Unknown,
    /// A rollout in flight.
    InProgress,
    /// A stepped rollout held for a person's decision.
    Paused,
}

impl ProblemKind {
    /// The severity this kind always has.
    pub fn severity(self) -> Severity {
        match self {
            Self::Alarm | Self::Health | Self::Rollout | Self::Missing | Self::Unreadable => {
                Severity::Degraded
            }
            Self::Unknown => Severity::Unknown,
            Self::InProgress | Self::Paused => Severity::InProgress,
        }
    }
}

/// One problem: where, what kind, and why, in words a person reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Environment name.
    pub env: String,
    /// shipdeck service name; `None` for a problem of the whole environment.
    pub service: Option<String>,
    /// What kind of problem.
    pub kind: ProblemKind,
    /// How it counts (follows from `kind`).
    pub severity: Severity,
    /// Why, sanitised: `alarm shop-payments-prod-5xx in ALARM`.
    pub reason: String,
}

impl Problem {
    fn new(env: &str, service: Option<&str>, kind: ProblemKind, reason: &str) -> Self {
        Self {
            env: env.to_string(),
            service: service.map(str::to_string),
            kind,
            severity: kind.severity(),
            reason: sanitize(reason),
        }
    }

    /// Where it is: `prod/payments`, or `prod` for the whole environment.
    pub fn place(&self) -> String {
        match &self.service {
            Some(s) => format!("{}/{s}", self.env),
            None => self.env.clone(),
        }
    }
}

/// A problem of a whole environment (unreadable, or a source that failed).
pub(super) fn env_problem(env: &str, kind: ProblemKind, reason: &str) -> Problem {
    Problem::new(env, None, kind, reason)
}

/// The problems of one service in one environment: what is bad, what could
/// not be read (`unknown`, the cell's reasons), and a rollout in flight.
/// `self_rollback` is what its platform calls rolling a deployment back by
/// itself, to name it when it did.
pub(super) fn cell_problems(
    env: &str,
    service: &str,
    snap: &ServiceSnapshot,
    unknown: &[String],
    self_rollback: Option<&str>,
    units: Option<&str>,
    now: DateTime<Utc>,
) -> Vec<Problem> {
    let at = |kind, reason: &str| Problem::new(env, Some(service), kind, reason);
    let mut out: Vec<Problem> = snap
        .alarms
        .iter()
        .filter(|a| a.state == AlarmState::Alarm)
        .map(|a| at(ProblemKind::Alarm, &format!("alarm {} in ALARM", a.name)))
        .collect();
    if let Health::Unhealthy { reason, .. } = &snap.health {
        out.push(at(ProblemKind::Health, &format!("health: {reason}")));
    }
    let primary = snap
        .deployments
        .iter()
        .find(|d| d.role == DeploymentRole::Primary);
    let why = primary
        .and_then(|d| d.reason.as_deref())
        .map_or_else(String::new, |r| format!(": {r}"));
    match snap.rollout() {
        RolloutState::Failed => out.push(at(ProblemKind::Rollout, &format!("rollout failed{why}"))),
        RolloutState::RolledBack => out.push(at(
            ProblemKind::Rollout,
            &format!(
                "{}{why}",
                crate::model::detail::rolled_back_by_itself("the failed rollout", self_rollback)
            ),
        )),
        RolloutState::InProgress | RolloutState::Completed | RolloutState::Unknown => {}
    }
    out.extend(unknown.iter().map(|u| at(ProblemKind::Unknown, u)));
    if snap.rollout_in_flight() && !snap.rollout().is_bad() {
        let revision = primary.map_or_else(
            || "a new revision".to_string(),
            |d| d.task_definition.to_string(),
        );
        match primary.and_then(|d| d.shift.as_deref()) {
            Some(sh) => {
                // The board's words for it, without the symbol the table adds.
                let cell = sh.cell(now);
                let words = cell.split_once(' ').map_or(cell.as_str(), |(_, w)| w);
                let kind = if sh.pause.is_some() {
                    ProblemKind::Paused
                } else {
                    ProblemKind::InProgress
                };
                out.push(at(kind, &format!("{words} ({revision})")));
            }
            None => out.push(at(
                ProblemKind::InProgress,
                &match units {
                    Some(units) => format!(
                        "rolling out {revision} ({}/{} {units})",
                        primary.map_or(snap.running, |d| d.running),
                        snap.desired
                    ),
                    None => format!("rolling out {revision}"),
                },
            )),
        }
    }
    out
}

/// The summary's words for a list of problems: `prod/payments alarm … in ALARM; …`.
pub(super) fn named(problems: &[&Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("{} {}", p.place(), p.reason))
        .collect::<Vec<_>>()
        .join("; ")
}
