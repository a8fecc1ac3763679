//! Traffic moved in steps: where a canary, linear or weighted blue/green
//! rollout stands (its weights, its step, the time left, a pause waiting for a
//! person), and the decision a person takes at a pause.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::strategy::percent;

/// Hundredths of a percent: all of the traffic.
pub const ALL: u32 = 10_000;

/// A rollout that moves traffic in steps, as one reading saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shift {
    /// `canary`, `linear` or `blue/green`.
    pub kind: String,
    /// The provider's id of the stepped deployment (ECS: the service-deployment ARN).
    pub deployment: String,
    /// Traffic on the new revision now, in hundredths of a percent.
    pub new_weight: u32,
    /// Weights of the new revision at each step, in hundredths; the last is [`ALL`].
    pub weights: Vec<u32>,
    /// The current step, 1-based (0: not shifting yet, the new tasks start).
    pub step: u32,
    /// When each step started so far (one per step reached).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub started: Vec<DateTime<Utc>>,
    /// The provider's stage (`PRODUCTION_TRAFFIC_SHIFT`, `BAKE_TIME`…).
    pub stage: String,
    /// When the current step (or the bake) ends by itself, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
    /// Waiting for a person to continue or roll back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<Pause>,
    /// Metrics read for each revision apart (the new tasks' and the old
    /// ones'), where the platform tells them apart; empty where it does not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<RevisionSeries>,
}

/// One metric read for the new revision and the old one apart, at the same
/// minutes (one point a minute, oldest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevisionSeries {
    /// The metric's label in the configuration.
    pub label: String,
    /// The new revision's points; `None` where it had none (before it started).
    pub new: Vec<Option<f64>>,
    /// The old revision's points at the same minutes.
    pub old: Vec<Option<f64>>,
    /// Why the series could not be read, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

// Points are finite or `None` (never NaN), so equality is an equivalence.
impl Eq for RevisionSeries {}

/// A step held for a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// The provider's id of what waits (ECS: the lifecycle hook's id).
    pub hook: String,
    /// When the provider decides by itself, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// What it decides then (`CONTINUE`, `ROLLBACK`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_action: Option<String>,
}

/// What a person decides at a pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Move to the next step.
    Continue,
    /// Send all traffic back to the old revision.
    Rollback,
}

impl Decision {
    /// `continue` or `rollback`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Continue => "continue",
            Self::Rollback => "rollback",
        }
    }
}

impl Shift {
    /// Number of steps planned.
    pub fn steps(&self) -> u32 {
        u32::try_from(self.weights.len()).unwrap_or(u32::MAX)
    }

    /// `step 1 of 2 (10%)`: names the step a decision is about.
    pub fn step_label(&self) -> String {
        format!(
            "step {} of {} ({})",
            self.step,
            self.steps(),
            percent(self.new_weight)
        )
    }

    /// The board's cell: `◐ canary 10% · 3m left`, `⏸ canary 10% · awaiting decision`.
    pub fn cell(&self, now: DateTime<Utc>) -> String {
        let tail = if self.pause.is_some() {
            "awaiting decision".to_string()
        } else if let Some(end) = self.ends_at {
            format!("{} left", short_left(end, now))
        } else {
            self.stage.to_lowercase().replace('_', " ")
        };
        let mark = if self.pause.is_some() { '⏸' } else { '◐' };
        format!("{mark} {} {} · {tail}", self.kind, percent(self.new_weight))
    }

    /// The cell in a narrow column: the mark and the new revision's share
    /// (`⏸ 25%`); the detail pane and the watch say the rest.
    pub fn short_cell(&self) -> String {
        let mark = if self.pause.is_some() { '⏸' } else { '◐' };
        format!("{mark} {}", percent(self.new_weight))
    }

    /// Every step with its weight and when it started (or `next`), for the
    /// detail pane and the watch.
    pub fn lines(&self) -> Vec<String> {
        self.weights
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
                // ECS names no step times: then only where the step stands.
                let when = self.started.get(i).map_or_else(
                    || {
                        match n.cmp(&self.step) {
                            std::cmp::Ordering::Less => "done",
                            std::cmp::Ordering::Equal => "now",
                            std::cmp::Ordering::Greater => "next",
                        }
                        .to_string()
                    },
                    |t| t.format("%H:%M:%S").to_string(),
                );
                let mark = match n.cmp(&self.step) {
                    std::cmp::Ordering::Less => "✓",
                    std::cmp::Ordering::Equal if self.pause.is_some() => "⏸",
                    std::cmp::Ordering::Equal => "◐",
                    std::cmp::Ordering::Greater => "·",
                };
                format!("{mark} step {n}: {} new · {when}", percent(*w))
            })
            .collect()
    }
}

/// The least time a step of `strategy` is held before the traffic moves on:
/// the canary's step, or a linear step's interval. A person who continues a
/// paused step sooner cuts that hold short.
pub fn step_hold(strategy: &super::Strategy) -> Option<std::time::Duration> {
    use super::Strategy;
    match strategy {
        Strategy::Canary { canary_bake, .. } => Some(*canary_bake),
        Strategy::Linear { interval, .. } => Some(*interval),
        _ => None,
    }
    .filter(|d| !d.is_zero())
}

/// `3m`, `45s`: what is left until `end`.
fn short_left(end: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (end - now).num_seconds().max(0);
    if secs >= 120 {
        format!("{}m", (secs + 59) / 60)
    } else {
        format!("{secs}s")
    }
}

/// The weights of the new revision at each step of `strategy`, in hundredths
/// (the last is always [`ALL`]); `None` for strategies that do not step.
pub fn planned_weights(strategy: &super::Strategy) -> Option<Vec<u32>> {
    use super::Strategy;
    match strategy {
        Strategy::Canary {
            percent_hundredths, ..
        } => Some(
            [*percent_hundredths, ALL]
                .into_iter()
                .filter(|w| *w > 0)
                .fold(Vec::new(), |mut v, w| {
                    if v.last() != Some(&w) {
                        v.push(w);
                    }
                    v
                }),
        ),
        Strategy::Linear {
            step_hundredths, ..
        } => {
            let step = (*step_hundredths).clamp(1, ALL);
            let mut v: Vec<u32> = (step..ALL).step_by(step as usize).collect();
            v.push(ALL);
            Some(v)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Strategy;
    use std::time::Duration;

    #[test]
    fn canary_and_linear_plan_their_weights() {
        let canary = Strategy::Canary {
            percent_hundredths: 1_000,
            canary_bake: Duration::from_mins(5),
            bake: Duration::ZERO,
        };
        assert_eq!(planned_weights(&canary), Some(vec![1_000, ALL]));
        let linear = Strategy::Linear {
            step_hundredths: 3_000,
            interval: Duration::from_mins(1),
            bake: Duration::ZERO,
        };
        assert_eq!(
            planned_weights(&linear),
            Some(vec![3_000, 6_000, 9_000, ALL])
        );
        let zero = Strategy::Linear {
            step_hundredths: 0,
            interval: Duration::from_mins(1),
            bake: Duration::ZERO,
        };
        assert_eq!(planned_weights(&zero).map(|w| w.len()), Some(10_000));
        assert_eq!(planned_weights(&Strategy::Rolling), None);
    }

    #[test]
    fn the_cell_says_the_weight_and_what_it_waits_for() {
        let now = Utc::now();
        let mut s = Shift {
            kind: "canary".into(),
            deployment: "d".into(),
            new_weight: 1_000,
            weights: vec![1_000, ALL],
            step: 1,
            started: vec![now],
            stage: "BAKE_TIME".into(),
            ends_at: Some(now + chrono::Duration::seconds(170)),
            pause: None,
            revisions: Vec::new(),
        };
        assert_eq!(s.cell(now), "◐ canary 10% · 3m left");
        s.ends_at = None;
        s.pause = Some(Pause {
            hook: "h".into(),
            expires_at: None,
            timeout_action: None,
        });
        assert_eq!(s.cell(now), "⏸ canary 10% · awaiting decision");
        // In a narrow column: the mark and the share only.
        assert_eq!(s.short_cell(), "⏸ 10%");
        assert_eq!(s.step_label(), "step 1 of 2 (10%)");
        let lines = s.lines();
        assert!(lines[0].starts_with("⏸ step 1: 10% new"), "{lines:?}");
        assert_eq!(lines[1], "· step 2: 100% new · next");
        // As ECS reports it: no step times.
        s.started.clear();
        s.step = 2;
        s.pause = None;
        assert_eq!(
            s.lines(),
            vec!["✓ step 1: 10% new · done", "◐ step 2: 100% new · now"]
        );
    }
}
