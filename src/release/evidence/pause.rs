//! The evidence at a step of a stepped rollout: the new revision's error
//! rate, latency and tasks beside the old one's, over the time the step has
//! been held, where the metrics tell the revisions apart (the platform's
//! own per-revision series, or a rule's `compare_to` pair of target
//! groups); where they do not, the number for both together, said so.
//! The console's watch, `shipdeck step`'s prompt and its `--json` show this.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::hold::{Hold, HoldView, short};
use super::{mean, series, watched_rules};
use crate::config::{Config, EnvId, MetricRole};
use crate::model::{DeploymentRole, Health, ServiceSnapshot, Shift};
use crate::release::{rules, service_config};

/// One side's number, and how to say it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reading {
    /// The number (`None`: unknown, or not a number).
    pub value: Option<f64>,
    /// `0.41`, `2/2 running`, `unknown: no datapoints`.
    pub said: String,
}

impl Reading {
    fn unknown(why: &str) -> Self {
        Self {
            value: None,
            said: format!("unknown: {why}"),
        }
    }

    fn of(points: &[Option<f64>], why_none: &str) -> Self {
        let finite: Vec<f64> = points.iter().flatten().copied().collect();
        match mean(&finite) {
            Some(v) => Self {
                value: Some(v),
                said: rules::num(v),
            },
            None => Self::unknown(why_none),
        }
    }
}

/// One measure, new beside old.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// `5xx %`, `p95 ms`, `tasks`, `health`.
    pub measure: String,
    /// The new revision's (`None` where the source does not tell them apart).
    pub new: Option<Reading>,
    /// The old revision's.
    pub old: Option<Reading>,
    /// Both together, where they cannot be told apart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub together: Option<Reading>,
    /// Where the numbers come from.
    pub source: String,
}

/// What a person decides on at a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PauseEvidence {
    /// The step (`step 1 of 2 (10%)`).
    pub step: String,
    /// Whether it waits for a person.
    pub paused: bool,
    /// The new revision.
    pub new_revision: Option<String>,
    /// The old revision, still serving the rest.
    pub old_revision: Option<String>,
    /// Seconds since the step began (`None`: unknown).
    pub held_secs: Option<u64>,
    /// One-minute points the numbers average (the time held, at least the newest).
    pub points: usize,
    /// The policy's least time at the step, and what is left of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<HoldView>,
    /// Error rate, latency, tasks, health.
    pub rows: Vec<Row>,
}

/// The newest `k` points of `p`, as options.
fn tail(p: &[f64], k: usize) -> Vec<Option<f64>> {
    p[p.len().saturating_sub(k)..]
        .iter()
        .map(|v| v.is_finite().then_some(*v))
        .collect()
}

fn tail_opt(p: &[Option<f64>], k: usize) -> &[Option<f64>] {
    &p[p.len().saturating_sub(k)..]
}

/// The evidence at `shift`'s current step of `s` (service of `env`) at
/// `now`: `began` is when the step began, where known; `hold` the policy's
/// least time at it.
pub fn at_step(
    cfg: &Config,
    env: EnvId,
    s: &ServiceSnapshot,
    shift: &Shift,
    began: Option<DateTime<Utc>>,
    hold: Option<Hold>,
    now: DateTime<Utc>,
) -> PauseEvidence {
    let began = began.or(hold.and_then(|h| h.since));
    let so_far = began.map(|b| (now - b).to_std().unwrap_or_default());
    let points = so_far.map_or(1, |h| {
        usize::try_from(h.as_secs().div_ceil(60))
            .unwrap_or(1)
            .max(1)
    });
    let primary = s
        .deployments
        .iter()
        .find(|d| d.role == DeploymentRole::Primary);
    let old = s
        .deployments
        .iter()
        .find(|d| d.role == DeploymentRole::Active && d.running > 0);
    // The measures: the service's error rate and latency, then what rules read.
    let mut labels: Vec<String> = Vec::new();
    if let Some(svc) = service_config(cfg, env, &s.name) {
        for role in [MetricRole::ErrorRate, MetricRole::LatencyP95] {
            labels.extend(
                svc.metrics
                    .iter()
                    .filter(|m| m.role == role)
                    .map(|m| m.label.clone()),
            );
        }
    }
    let rules = watched_rules(cfg, env, &s.name, None);
    for (r, _) in &rules {
        if !labels.contains(&r.metric) {
            labels.push(r.metric.clone());
        }
    }
    let mut rows: Vec<Row> = labels
        .iter()
        .map(|label| metric_row(s, shift, &rules, label, points))
        .collect();
    let tasks = |d: Option<&crate::model::Deployment>| {
        d.map_or_else(
            || Reading::unknown("no deployment serving"),
            |d| Reading {
                value: Some(f64::from(d.running)),
                said: format!(
                    "{}/{} running{}",
                    d.running,
                    d.desired,
                    if d.failed_tasks > 0 {
                        format!(", {} failed", d.failed_tasks)
                    } else {
                        String::new()
                    }
                ),
            },
        )
    };
    // What the platform counts running (tasks), where it counts something.
    if let Some(units) = cfg
        .environments
        .get(env.index())
        .and_then(|e| crate::platforms::units(e, &s.name))
    {
        rows.push(Row {
            measure: units.to_string(),
            new: Some(tasks(primary)),
            old: Some(tasks(old)),
            together: None,
            source: "deployments".to_string(),
        });
    }
    let (health, source) = match &s.health {
        Health::Healthy { latency, .. } => (
            Reading {
                value: Some(1.0),
                said: format!("healthy ({} ms)", latency.as_millis()),
            },
            "one endpoint answers for both",
        ),
        Health::Unhealthy { reason, .. } => (
            Reading {
                value: Some(0.0),
                said: format!("FAILING: {reason}"),
            },
            "one endpoint answers for both",
        ),
        Health::Unknown => (Reading::unknown("not probed yet"), "health endpoint"),
        Health::NotConfigured => (
            Reading::unknown("no health endpoint configured"),
            "health endpoint",
        ),
    };
    rows.push(Row {
        measure: "health".to_string(),
        new: None,
        old: None,
        together: Some(health),
        source: source.to_string(),
    });
    PauseEvidence {
        step: shift.step_label(),
        paused: shift.pause.is_some(),
        new_revision: primary.map(|d| d.task_definition.to_string()),
        old_revision: old.map(|d| d.task_definition.to_string()),
        held_secs: so_far.map(|h| h.as_secs()),
        points,
        hold: hold.filter(|_| shift.pause.is_some()).map(|h| h.view(now)),
        rows,
    }
}

/// One metric's row: per revision where the platform reads it so, against
/// the `compare_to` target group where a rule pairs them, else together.
fn metric_row(
    s: &ServiceSnapshot,
    shift: &Shift,
    rules: &[(crate::config::AbortRule, Option<f64>)],
    label: &str,
    k: usize,
) -> Row {
    let row = |new, old, together, source: String| Row {
        measure: label.to_string(),
        new,
        old,
        together,
        source,
    };
    if let Some(r) = shift.revisions.iter().find(|r| r.label == label) {
        if let Some(e) = &r.error {
            let u = Reading::unknown(&format!("unreadable: {e}"));
            return row(Some(u.clone()), Some(u), None, "per revision".to_string());
        }
        return row(
            Some(Reading::of(tail_opt(&r.new, k), "no datapoints while held")),
            Some(Reading::of(tail_opt(&r.old, k), "no datapoints while held")),
            None,
            "per revision".to_string(),
        );
    }
    let side = |l: &str| match series(s, l) {
        None => Reading::unknown(&format!("\"{l}\" is not in the reading")),
        Some(m) => match &m.error {
            Some(e) => Reading::unknown(&format!("unreadable: {e}")),
            None => Reading::of(&tail(&m.points, k), "no datapoints while held"),
        },
    };
    if let Some(other) = rules
        .iter()
        .find(|(r, _)| r.metric == label)
        .and_then(|(r, _)| r.compare_to.as_deref())
    {
        return row(
            Some(side(label)),
            Some(side(other)),
            None,
            format!("target groups: {label} against {other}"),
        );
    }
    row(
        None,
        None,
        Some(side(label)),
        "not apart: the metric counts both revisions together".to_string(),
    )
}

impl PauseEvidence {
    /// The evidence in lines of text: the step and its hold, then one line
    /// per measure, new beside old.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "{} {}{}",
            if self.paused { "⏸" } else { "◐" },
            self.step,
            self.hold
                .as_ref()
                .map(|h| format!(" · {}", h.said))
                .unwrap_or_default()
        )];
        let over = match self.held_secs {
            Some(h) => format!(
                "over the {} held ({} one-minute point{})",
                short(std::time::Duration::from_secs(h)),
                self.points,
                if self.points == 1 { "" } else { "s" }
            ),
            None => "at the newest one-minute point (when the step began is unknown)".to_string(),
        };
        // The revisions themselves head the watch and the command's summary.
        out.push(format!(
            "  new vs old{}, {over}:",
            if self.old_revision.is_none() {
                " (no old revision serving)"
            } else {
                ""
            }
        ));
        for r in &self.rows {
            let numbers = match (&r.new, &r.old, &r.together) {
                (Some(n), Some(o), _) => {
                    format!("new {:<16} old {:<16}", n.said, o.said)
                }
                (_, _, Some(t)) => format!("both {:<33}", t.said),
                _ => format!("{:<37}", "unknown"),
            };
            out.push(format!("  {:<9} {numbers} {}", r.measure, r.source));
        }
        out
    }
}
