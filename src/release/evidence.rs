//! What a person needs to decide on, from the watch's own numbers: the
//! rules a watch will evaluate (listed before a deploy is confirmed), each
//! rule's live value against its threshold while it runs, and at a paused
//! step the new revision beside the old one with the hold's countdown
//! ([`pause`], [`hold`]). Pure: readings and times in, words and numbers out.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::rules::{self, Verdict};
use super::service_config;
use crate::config::{AbortRule, Condition, Config, EnvId, MetricRole, Missing, RolloutPolicy};
use crate::model::{AlarmState, MetricSeries, ServiceSnapshot, Shift};

pub mod hold;
pub mod pause;

pub use hold::{Hold, HoldLeft, short};
pub use pause::{PauseEvidence, Reading, Row};

/// The mean of the finite points, if any.
pub(super) fn mean(points: &[f64]) -> Option<f64> {
    let finite: Vec<f64> = points.iter().copied().filter(|p| p.is_finite()).collect();
    #[allow(clippy::cast_precision_loss)] // a handful of datapoints
    (!finite.is_empty()).then(|| finite.iter().sum::<f64>() / finite.len() as f64)
}

fn series<'a>(s: &'a ServiceSnapshot, label: &str) -> Option<&'a MetricSeries> {
    s.metrics.iter().find(|m| m.label == label)
}

/// The abort rules a watch of `service` in `env` evaluates, each with its
/// baseline (the metric's mean in `before`, the reading when the command was
/// confirmed). A rule reads its metrics: a service without them is not
/// judged by it. The confirmation lists exactly these, and the watch runs them.
pub fn watched_rules(
    cfg: &Config,
    env: EnvId,
    service: &str,
    before: Option<&ServiceSnapshot>,
) -> Vec<(AbortRule, Option<f64>)> {
    let svc = service_config(cfg, env, service);
    let role_label = |role: MetricRole| {
        svc.and_then(|s| s.metrics.iter().find(|m| m.role == role))
            .map(|m| m.label.clone())
    };
    let policy = cfg
        .environments
        .get(env.index())
        .map_or_else(RolloutPolicy::defaults, |e| e.rollout.clone());
    rules::effective_rules(
        &policy,
        role_label(MetricRole::ErrorRate),
        role_label(MetricRole::LatencyP95),
    )
    .into_iter()
    .filter(|r| {
        svc.is_some_and(|s| {
            let has = |label: &str| s.metrics.iter().any(|m| m.label == label);
            has(&r.metric) && r.compare_to.as_deref().is_none_or(has)
        })
    })
    .map(|r| {
        let base = before
            .and_then(|b| series(b, &r.metric))
            .and_then(|m| mean(&m.points));
        (r, base)
    })
    .collect()
}

/// `1m`, `5m`: a rule's window of one-minute points.
fn window(points: usize) -> String {
    short(Duration::from_secs(
        u64::try_from(points.max(1)).unwrap_or(1) * 60,
    ))
}

/// A rule as the confirmation lists it: its name, metric, comparison,
/// threshold and window, and where it compares to one, the baseline (the
/// limit it makes first, then where the limit comes from).
pub fn rule_text(rule: &AbortRule, baseline: Option<f64>) -> String {
    let n = rules::num;
    let window = window(rule.points);
    let what = match (&rule.condition, &rule.compare_to) {
        (Condition::Above(v), _) => format!("above {} for {window}", n(*v)),
        (
            Condition::AboveBaselineBy {
                fraction,
                min_baseline,
            },
            Some(other),
        ) => format!(
            "above {other} (the old revision's) +{:.0} % for {window} (floor {})",
            fraction * 100.0,
            n(*min_baseline)
        ),
        (
            Condition::AboveBaselineBy {
                fraction,
                min_baseline,
            },
            None,
        ) => {
            let by = format!("+{:.0} %", fraction * 100.0);
            let basis = match baseline {
                Some(b) if b >= *min_baseline => format!("baseline {} {by}", n(b)),
                Some(b) => format!("baseline {} {by}, floor {}", n(b), n(*min_baseline)),
                None => format!("no baseline: floor {} {by}", n(*min_baseline)),
            };
            format!(
                "above {} for {window} ({basis})",
                n(rules::limit(rule, baseline))
            )
        }
    };
    let missing = match rule.missing {
        Missing::Wait => "",
        Missing::Abort => "; no data aborts",
        Missing::Ignore => "; no data passes",
    };
    format!("rule \"{}\": {} {what}{missing}", rule.name, rule.metric)
}

/// What a watch of `service` in `env` will watch, one line each, as the
/// confirmation lists it before the deploy: the rollout and health, the
/// alarms (each as the policy treats them) and every rule. Short, so that
/// the confirmation fits a small terminal.
pub fn watch_lines(
    cfg: &Config,
    env: EnvId,
    service: &str,
    before: Option<&ServiceSnapshot>,
) -> Vec<String> {
    let policy = cfg
        .environments
        .get(env.index())
        .map_or_else(RolloutPolicy::defaults, |e| e.rollout.clone());
    let svc = service_config(cfg, env, service);
    let rollout = format!(
        "the rollout fails or is not stable within {}",
        short(policy.timeout)
    );
    let health = match (svc.and_then(|s| s.health.as_ref()), policy.abort_on_health) {
        (Some(_), true) => format!(", or health fails for {}", short(super::HEALTH_ABORT_AFTER)),
        (Some(_), false) => " (health is shown, not an abort reason)".to_string(),
        (None, _) => " (no health endpoint)".to_string(),
    };
    let mut out = vec![format!("{rollout}{health}")];
    // The alarms as configured (names, and prefixes as patterns), with how
    // many the reading before the deploy found.
    let watched: Vec<String> =
        svc.map_or_else(Vec::new, crate::config::ServiceConfig::watched_alarm_names);
    out.push(if watched.is_empty() {
        "no alarms configured".to_string()
    } else {
        let read = before.map(|b| b.alarms.len());
        let firing = before.map_or(0, |b| {
            b.alarms
                .iter()
                .filter(|a| a.state == AlarmState::Alarm)
                .count()
        });
        format!(
            "{} ({}{}{})",
            if policy.abort_on_alarm {
                "an alarm enters ALARM"
            } else {
                "alarms are shown, not an abort reason"
            },
            read.map(|n| format!("{n} watched: ")).unwrap_or_default(),
            watched.join(", "),
            if firing > 0 {
                format!("; {firing} in ALARM already, not counted")
            } else {
                String::new()
            }
        )
    });
    out.extend(
        watched_rules(cfg, env, service, before)
            .iter()
            .map(|(r, b)| rule_text(r, *b)),
    );
    out
}

/// Where a rule stands at the latest reading.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "why")]
pub enum LiveState {
    /// The newest value is within the limit.
    Within,
    /// Above the limit, not yet for the whole window.
    Above,
    /// Held for the whole window (or missing data the rule aborts on): the watch aborts.
    Breach,
    /// Cannot be told, and why: never within.
    Unknown(String),
}

/// A rule's live value against its threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleLive {
    /// The rule's name.
    pub name: String,
    /// The metric it reads.
    pub metric: String,
    /// The newest value read (`None`: unknown).
    pub value: Option<f64>,
    /// The value it must not exceed (`None` while the old side is unknown).
    pub limit: Option<f64>,
    /// What the limit comes from, said (`baseline 0.4 +50 %`).
    pub basis: Option<String>,
    /// Newest one-minute points above the limit in a row.
    pub above: usize,
    /// Points the condition must hold for (`for`).
    pub window: usize,
    /// The verdict.
    pub state: LiveState,
}

impl RuleLive {
    /// `✓`, `!`, `✗` or `?`: never a tick for what cannot be told.
    pub fn mark(&self) -> &'static str {
        match self.state {
            LiveState::Within => "✓",
            LiveState::Above => "!",
            LiveState::Breach => "✗",
            LiveState::Unknown(_) => "?",
        }
    }

    /// `✓ error rate above 5 % · 5xx % 0.45 (limit 5) · above for 0 of 1 min`.
    pub fn line(&self) -> String {
        let n = rules::num;
        let value = match (&self.state, self.value) {
            (LiveState::Unknown(why), _) => format!("unknown: {why}"),
            (_, Some(v)) => {
                let mut detail = Vec::new();
                if let Some(l) = self.limit {
                    detail.push(format!("limit {}", n(l)));
                }
                detail.extend(self.basis.clone());
                format!("{} ({})", n(v), detail.join(", "))
            }
            (_, None) => "unknown".to_string(),
        };
        let held = match self.state {
            LiveState::Unknown(_) => String::new(),
            _ => format!(
                " · above for {} of {} min{}",
                self.above,
                self.window,
                if self.state == LiveState::Breach {
                    ": aborts"
                } else {
                    ""
                }
            ),
        };
        format!(
            "{} {} · {} {value}{held}",
            self.mark(),
            self.name,
            self.metric
        )
    }
}

/// The newest finite point of `points`.
fn newest(points: &[f64]) -> Option<f64> {
    points.iter().rev().copied().find(|p| p.is_finite())
}

/// One rule, live: the same verdict the watch takes ([`rules::evaluate`],
/// [`rules::evaluate_against`]), with the numbers behind it.
pub fn live(rule: &AbortRule, baseline: Option<f64>, s: &ServiceSnapshot) -> RuleLive {
    let mut out = RuleLive {
        name: rule.name.clone(),
        metric: rule.metric.clone(),
        value: None,
        limit: None,
        basis: None,
        above: 0,
        window: rule.points.max(1),
        state: LiveState::Within,
    };
    let readable = |label: &str| -> Result<&[f64], String> {
        match series(s, label) {
            None => Err(format!("\"{label}\" is not in the reading")),
            Some(m) => match &m.error {
                Some(e) => Err(format!("\"{label}\" unreadable: {e}")),
                None => Ok(m.points.as_slice()),
            },
        }
    };
    let points = readable(&rule.metric);
    let fraction = match rule.condition {
        Condition::AboveBaselineBy { fraction, .. } => format!(" +{:.0} %", fraction * 100.0),
        Condition::Above(_) => String::new(),
    };
    let (verdict, old) = match &rule.compare_to {
        Some(other) => {
            let o = readable(other);
            let v = rules::evaluate_against(rule, points.as_deref().ok(), o.as_deref().ok());
            (v, Some((other.as_str(), o)))
        }
        None => (
            rules::evaluate(rule, baseline, points.as_deref().ok()),
            None,
        ),
    };
    out.value = points.as_deref().ok().and_then(newest);
    // The limit at the newest point, and what it is measured from.
    if let Some((other, o)) = &old {
        let ov = o.as_deref().ok().and_then(newest);
        out.limit = ov.map(|v| rules::limit(rule, Some(v)));
        out.basis = ov.map(|v| format!("{other} {}{fraction}", rules::num(v)));
    } else {
        out.limit = Some(rules::limit(rule, baseline));
        if let Condition::AboveBaselineBy { .. } = rule.condition {
            out.basis = Some(match baseline {
                Some(b) => format!("baseline {}{fraction}", rules::num(b)),
                None => format!("no baseline{fraction} over the floor"),
            });
        }
    }
    // Newest points above in a row (pairwise against the old side).
    if let Ok(p) = points.as_deref() {
        let o = old
            .as_ref()
            .and_then(|(_, o)| o.as_deref().ok())
            .unwrap_or_default();
        out.above = p
            .iter()
            .rev()
            .enumerate()
            .take_while(|(k, v)| {
                let limit = match &old {
                    Some(_) => o
                        .len()
                        .checked_sub(k + 1)
                        .map(|i| o[i])
                        .filter(|x| x.is_finite())
                        .map(|x| rules::limit(rule, Some(x))),
                    None => Some(rules::limit(rule, baseline)),
                };
                v.is_finite() && limit.is_some_and(|l| **v > l)
            })
            .count();
    }
    out.state = match verdict {
        Verdict::Breach(_) | Verdict::AbortOnMissing(_) => LiveState::Breach,
        Verdict::Unknown(why) => LiveState::Unknown(unknown_why(&points, old.as_ref(), why)),
        Verdict::Pass => match (out.value, out.limit) {
            (Some(v), Some(l)) if v > l => LiveState::Above,
            (Some(_), Some(_)) => LiveState::Within,
            // Passed only because the rule ignores missing data: still unknown.
            _ => LiveState::Unknown(unknown_why(
                &points,
                old.as_ref(),
                "no datapoints (the rule ignores missing data)".to_string(),
            )),
        },
    };
    out
}

/// Why a rule cannot be told: the source's own error first.
fn unknown_why(
    points: &Result<&[f64], String>,
    old: Option<&(&str, Result<&[f64], String>)>,
    fallback: String,
) -> String {
    match (points, old) {
        (Err(e), _) | (_, Some((_, Err(e)))) => e.clone(),
        _ => fallback,
    }
}

/// What a watch has seen that its numbers need: every rule's live value,
/// and when it first saw the current step of a stepped rollout (the hold
/// counts from there when the platform names no step times).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    /// Each rule at the latest reading, in the watch's order.
    pub rules: Vec<RuleLive>,
    /// The step and when this watch first saw it.
    pub step: Option<(u32, DateTime<Utc>)>,
}

impl Seen {
    /// Takes in one reading. With no rules (the automatic rollback after an
    /// abort judges none), the last values stay: they are why it aborted.
    pub fn observe(
        &mut self,
        rules: &[(AbortRule, Option<f64>)],
        s: &ServiceSnapshot,
        shift: Option<&Shift>,
        now: DateTime<Utc>,
    ) {
        if !rules.is_empty() {
            self.rules = rules.iter().map(|(r, b)| live(r, *b, s)).collect();
        }
        match shift {
            Some(sh) if self.step.is_none_or(|(n, _)| n != sh.step) => {
                self.step = Some((sh.step, now));
            }
            Some(_) => {}
            None => self.step = None,
        }
    }
}

impl super::Watch {
    /// The hold of the step this watch's rollout stands at; `s` is the
    /// service's latest reading (its strategy names the step's duration).
    pub fn hold(&self, s: &ServiceSnapshot) -> Option<Hold> {
        let sh = self.shift.as_ref()?;
        Hold::of(&s.deployment_config.strategy, sh, self.seen_step(sh))
    }

    /// When this watch first saw `sh`'s current step.
    fn seen_step(&self, sh: &Shift) -> Option<DateTime<Utc>> {
        self.seen
            .step
            .filter(|(n, _)| *n == sh.step)
            .map(|(_, t)| t)
    }

    /// The evidence at the step this watch's rollout stands at, from `s`,
    /// the service's latest reading, at `now`.
    pub fn step_evidence(
        &self,
        cfg: &Config,
        s: &ServiceSnapshot,
        now: DateTime<Utc>,
    ) -> Option<PauseEvidence> {
        let sh = self.shift.as_ref()?;
        let hold = self.hold(s);
        let began = sh
            .step
            .checked_sub(1)
            .and_then(|i| sh.started.get(i as usize).copied())
            .or_else(|| self.seen_step(sh));
        Some(pause::at_step(cfg, self.env, s, sh, began, hold, now))
    }
}

#[cfg(test)]
mod tests;
