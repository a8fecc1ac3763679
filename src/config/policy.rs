//! What an environment's gate and rollout watch are configured with: the
//! checks, approvals and freeze windows before a promotion, the abort rules
//! during one.

use std::time::Duration;

use chrono::{NaiveDate, NaiveTime, Weekday};
use regex::Regex;

use super::AutoCheck;

/// Gate policy of an environment.
#[derive(Debug, Clone)]
pub struct GatePolicy {
    /// Automatic checks evaluated.
    pub checks: Vec<AutoCheck>,
    /// Whether INSUFFICIENT_DATA alarms may pass.
    pub allow_insufficient_data: bool,
    /// Whether a failed automatic check may be overridden with a reason.
    pub allow_override: bool,
    /// Distinct approvals required.
    pub approvals_required: u32,
    /// The initiator never counts as an approver.
    pub four_eyes: bool,
    /// Pattern a change-record id must match; `None` means none required.
    pub change_record: Option<Regex>,
    /// Minimum soak of the digest in the source stage.
    pub soak: Duration,
    /// Manual checklist items.
    pub checklist: Vec<String>,
    /// Checklist items due only once the deploy is stable ("run irreversible
    /// migrations"): the watch offers them when it succeeds, never before.
    pub after_stable: Vec<String>,
    /// Freeze windows.
    pub freeze: Vec<FreezeWindow>,
    /// How long an approval stays valid.
    pub approval_ttl: Duration,
    /// The regions the service's units may run in, lowercase (`fra`,
    /// `eu-central-1`); empty: no region policy.
    pub allowed_regions: Vec<String>,
    /// The approval matrix (`[environment.gate.approvals]`): what each change
    /// type needs, by role. Empty: `approvals_required` from anyone.
    pub matrix: Vec<super::approvals::MatrixRow>,
}

/// A freeze window in a time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct FreezeWindow {
    /// Name shown when it blocks.
    pub name: String,
    /// Time zone the times are in.
    pub timezone: chrono_tz::Tz,
    /// Recurring or dated.
    pub kind: FreezeKind,
}

/// When a freeze applies.
#[derive(Debug, Clone, PartialEq)]
pub enum FreezeKind {
    /// Every week on these days, from `from` to `to` (local time, `to` exclusive).
    Weekly {
        /// Days of the week.
        days: Vec<Weekday>,
        /// Start time of day.
        from: NaiveTime,
        /// End time of day.
        to: NaiveTime,
    },
    /// From `start` to `end` inclusive (local dates).
    Dates {
        /// First day.
        start: NaiveDate,
        /// Last day.
        end: NaiveDate,
    },
}

/// What to do when a deploy is aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnAbort {
    /// Roll back at once.
    Rollback,
    /// Ask the operator.
    Prompt,
}

/// How a deploy is watched.
#[derive(Debug, Clone)]
pub struct RolloutPolicy {
    /// The service must be stable within this time.
    pub timeout: Duration,
    /// Health must stay good this long after the rollout completes.
    pub stability_window: Duration,
    /// Roll back or ask.
    pub on_abort: OnAbort,
    /// Abort when a watched alarm enters ALARM.
    pub abort_on_alarm: bool,
    /// Abort when the health endpoint fails.
    pub abort_on_health: bool,
    /// Abort when the error rate exceeds its baseline by this fraction (0.5 = 50 %)…
    pub max_error_rate_increase: Option<f64>,
    /// …for this long.
    pub error_rate_window: Duration,
    /// Abort when p95 latency exceeds this.
    pub p95_latency_slo: Option<Duration>,
    /// Abort rules as the runbooks write them (`[[environment.rollout.rule]]`).
    pub rules: Vec<AbortRule>,
    /// A stepped rollout (canary, linear) holds at each step until a person
    /// continues or rolls back (the simulator pauses; on ECS a PAUSE
    /// lifecycle hook does, and this makes shipdeck wait for it).
    pub pause_steps: bool,
    /// Distinct people besides the initiator who must continue a paused step
    /// (0: anyone may, the initiator too).
    pub step_approvals: u32,
}

/// One abort rule over a metric of the services (its label).
#[derive(Debug, Clone, PartialEq)]
pub struct AbortRule {
    /// Named in the abort reason.
    pub name: String,
    /// Label of the metric (`[[environment.service.metric]]`) it reads.
    pub metric: String,
    /// When a point breaches.
    pub condition: Condition,
    /// How many consecutive points (one a minute) must breach (`for`).
    pub points: usize,
    /// What missing data means.
    pub missing: Missing,
    /// With `above_baseline_by`: the label of the metric that is the baseline
    /// point by point (the old revision's target group against the new one's),
    /// instead of the mean before the deploy.
    pub compare_to: Option<String>,
}

/// When one point of an abort rule breaches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    /// Above an absolute value.
    Above(f64),
    /// Above the pre-deploy baseline by a fraction; a baseline under
    /// `min_baseline` (zero, or none at all) is compared as the floor, so a
    /// healthy service with no errors before still aborts when errors start.
    AboveBaselineBy {
        /// 0.5 = 50 % above.
        fraction: f64,
        /// The smallest baseline compared against.
        min_baseline: f64,
    },
}

/// What an abort rule does without data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// The watch cannot succeed until the data returns (default).
    Wait,
    /// Abort.
    Abort,
    /// Treat as passing.
    Ignore,
}

/// The floor under a baseline when a rule does not set `min_baseline`, and for
/// the `max_error_rate_increase` shorthand.
pub const DEFAULT_MIN_BASELINE: f64 = 1.0;
