//! Abort rules over metrics, as runbooks state them: "above an absolute value",
//! "above the baseline by a fraction", each "for" a window, with missing data
//! handled explicitly (never a silent pass).
//!
//! Points are one a minute (the period shipdeck reads metrics at), so a window
//! of `for = "5m"` is the last five points.

use crate::config::{AbortRule, Condition, DEFAULT_MIN_BASELINE, Missing, RolloutPolicy};

/// What a rule says about one reading.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The condition does not hold (or the rule ignores missing data).
    Pass,
    /// The condition held for the whole window: abort, with the rule, the
    /// numbers and the window.
    Breach(String),
    /// Not enough data to decide, and the rule says so (`missing = "abort"`).
    AbortOnMissing(String),
    /// Not enough data to decide: the watch cannot succeed until it returns
    /// (`missing = "wait"`).
    Unknown(String),
}

/// The value a point must exceed, and how to say it.
fn threshold(rule: &AbortRule, baseline: Option<f64>) -> (f64, String) {
    match rule.condition {
        Condition::Above(v) => (v, format!("above {}", num(v))),
        Condition::AboveBaselineBy {
            fraction,
            min_baseline,
        } => {
            let base = baseline.filter(|b| b.is_finite()).unwrap_or(0.0);
            let floor = base.max(min_baseline);
            let limit = floor * (1.0 + fraction);
            let basis = match baseline {
                Some(b) if b >= min_baseline => format!("baseline {}", num(b)),
                Some(b) => format!("baseline {} below its floor {}", num(b), num(min_baseline)),
                None => format!("no baseline; floor {}", num(min_baseline)),
            };
            (
                limit,
                format!(
                    "above {} (+{:.0} % over {basis})",
                    num(limit),
                    fraction * 100.0
                ),
            )
        }
    }
}

/// The value a point of `rule` must exceed with `baseline` (the mean before
/// the deploy, or the old revision's point for a rule with `compare_to`):
/// the number the watch shows beside the metric's live value.
pub(super) fn limit(rule: &AbortRule, baseline: Option<f64>) -> f64 {
    threshold(rule, baseline).0
}

/// A number as rules say it: whole numbers bare, others to two places.
pub(super) fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e9 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Evaluates `rule` over the metric's `points` (oldest first; `None` when the
/// metric was not in the reading) against its `baseline` (the mean before the
/// deploy, when there was data).
pub fn evaluate(rule: &AbortRule, baseline: Option<f64>, points: Option<&[f64]>) -> Verdict {
    let n = rule.points.max(1);
    let window = points.map_or(&[][..], |p| &p[p.len().saturating_sub(n)..]);
    let (limit, what) = threshold(rule, baseline);
    let finite: Vec<f64> = window.iter().copied().filter(|p| p.is_finite()).collect();
    // One point under the limit is enough to pass, even with others missing.
    if finite.iter().any(|p| *p <= limit) {
        return Verdict::Pass;
    }
    let shown = finite
        .iter()
        .map(|p| num(*p))
        .collect::<Vec<_>>()
        .join(", ");
    if finite.len() == n {
        return Verdict::Breach(format!(
            "rule \"{}\": {} {what} for {} point(s) of 1 min: {shown}",
            rule.name, rule.metric, n
        ));
    }
    let why = format!(
        "rule \"{}\": {} has {} of the {} point(s) it needs",
        rule.name,
        rule.metric,
        finite.len(),
        n
    );
    match rule.missing {
        Missing::Ignore => Verdict::Pass,
        Missing::Abort => Verdict::AbortOnMissing(format!("{why} (missing = \"abort\")")),
        Missing::Wait => Verdict::Unknown(why),
    }
}

/// Evaluates a rule with `compare_to` point by point: the new revision's
/// `points` against the compared metric's `other` (the old revision's target
/// group) at the same minutes, aligned from the newest. A pair with either
/// side missing is missing data, never a pass.
pub fn evaluate_against(
    rule: &AbortRule,
    points: Option<&[f64]>,
    other: Option<&[f64]>,
) -> Verdict {
    let Condition::AboveBaselineBy {
        fraction,
        min_baseline,
    } = rule.condition
    else {
        return evaluate(rule, None, points);
    };
    let n = rule.points.max(1);
    let at = |p: Option<&[f64]>, k: usize| {
        p.and_then(|p| p.len().checked_sub(k).map(|i| p[i]))
            .filter(|v| v.is_finite())
    };
    let mut pairs = Vec::new();
    for k in 1..=n {
        if let (Some(p), Some(o)) = (at(points, k), at(other, k)) {
            if p <= o.max(min_baseline) * (1.0 + fraction) {
                return Verdict::Pass;
            }
            pairs.push(format!("{} vs {}", num(p), num(o)));
        }
    }
    let other_label = rule.compare_to.as_deref().unwrap_or("?");
    if pairs.len() == n {
        pairs.reverse();
        return Verdict::Breach(format!(
            "rule \"{}\": {} above {other_label} by more than {:.0} % (floor {}) for {n} point(s) of 1 min: {}",
            rule.name,
            rule.metric,
            fraction * 100.0,
            num(min_baseline),
            pairs.join(", ")
        ));
    }
    let why = format!(
        "rule \"{}\": {} against {other_label} has {} of the {n} pair(s) of points it needs",
        rule.name,
        rule.metric,
        pairs.len()
    );
    match rule.missing {
        Missing::Ignore => Verdict::Pass,
        Missing::Abort => Verdict::AbortOnMissing(format!("{why} (missing = \"abort\")")),
        Missing::Wait => Verdict::Unknown(why),
    }
}

/// The environment's abort rules plus the shorthands `max_error_rate_increase`
/// (over the service's `error_rate` metric, against its baseline with the
/// default floor) and `p95_latency_slo` (over its `latency_p95` metric, one point).
pub(super) fn effective_rules(
    policy: &RolloutPolicy,
    error_label: Option<String>,
    latency_label: Option<String>,
) -> Vec<AbortRule> {
    let mut rules = policy.rules.clone();
    if let (Some(fraction), Some(metric)) = (policy.max_error_rate_increase, error_label) {
        rules.push(AbortRule {
            name: "error rate".to_string(),
            metric,
            condition: Condition::AboveBaselineBy {
                fraction,
                min_baseline: DEFAULT_MIN_BASELINE,
            },
            points: usize::try_from(policy.error_rate_window.as_secs().div_ceil(60))
                .unwrap_or(1)
                .max(1),
            missing: Missing::Wait,
            compare_to: None,
        });
    }
    if let (Some(slo), Some(metric)) = (policy.p95_latency_slo, latency_label) {
        #[allow(clippy::cast_precision_loss)] // milliseconds of an SLO
        let slo_ms = slo.as_millis() as f64;
        rules.push(AbortRule {
            name: "p95 latency SLO".to_string(),
            metric,
            condition: Condition::Above(slo_ms),
            points: 1,
            missing: Missing::Wait,
            compare_to: None,
        });
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(condition: Condition, points: usize, missing: Missing) -> AbortRule {
        AbortRule {
            name: "r".into(),
            metric: "m".into(),
            condition,
            points,
            missing,
            compare_to: None,
        }
    }

    const RATIO: Condition = Condition::AboveBaselineBy {
        fraction: 0.5,
        min_baseline: 1.0,
    };
    const NAN: f64 = f64::NAN;

    #[rstest::rstest]
    // Zero baseline then errors: compared to the floor, so it aborts.
    #[case::zero_baseline_then_errors(RATIO, 5, Some(0.0), &[0.0, 9.0, 9.0, 9.0, 9.0, 9.0], "breach")]
    #[case::no_baseline_then_errors(RATIO, 3, None, &[4.0, 4.0, 4.0], "breach")]
    // A spike shorter than the window does not abort.
    #[case::spike_shorter_than_for(RATIO, 5, Some(2.0), &[2.0, 2.0, 9.0, 9.0, 2.0], "pass")]
    #[case::sustained_over_for(RATIO, 5, Some(2.0), &[2.0, 9.0, 9.0, 9.0, 9.0, 9.0], "breach")]
    #[case::within_baseline(RATIO, 5, Some(2.0), &[2.9, 2.9, 2.9, 2.9, 2.9], "pass")]
    // Absolute: an error-rate ratio above 5 %.
    #[case::absolute_over(Condition::Above(5.0), 3, None, &[6.0, 7.5, 5.1], "breach")]
    #[case::absolute_at_limit(Condition::Above(5.0), 3, None, &[6.0, 5.0, 7.0], "pass")]
    // p95 over the SLO: a single point vs sustained.
    #[case::p95_single_point(Condition::Above(250.0), 3, None, &[200.0, 200.0, 400.0], "pass")]
    #[case::p95_sustained(Condition::Above(250.0), 3, None, &[300.0, 260.0, 400.0], "breach")]
    #[case::p95_one_point_rule(Condition::Above(250.0), 1, None, &[200.0, 200.0, 400.0], "breach")]
    fn rules(
        #[case] condition: Condition,
        #[case] points: usize,
        #[case] baseline: Option<f64>,
        #[case] series: &[f64],
        #[case] want: &str,
    ) {
        let v = evaluate(
            &rule(condition, points, Missing::Wait),
            baseline,
            Some(series),
        );
        let got = match &v {
            Verdict::Pass => "pass",
            Verdict::Breach(_) => "breach",
            Verdict::AbortOnMissing(_) | Verdict::Unknown(_) => "missing",
        };
        assert_eq!(got, want, "{v:?}");
    }

    #[rstest::rstest]
    #[case::wait(Missing::Wait, "unknown")]
    #[case::abort(Missing::Abort, "abort")]
    #[case::ignore(Missing::Ignore, "pass")]
    fn missing_data_follows_the_rule(#[case] missing: Missing, #[case] want: &str) {
        for series in [None, Some(&[][..]), Some(&[9.0, NAN, 9.0][..])] {
            let v = evaluate(&rule(Condition::Above(5.0), 3, missing), None, series);
            let got = match &v {
                Verdict::Pass => "pass",
                Verdict::Breach(_) => "breach",
                Verdict::AbortOnMissing(_) => "abort",
                Verdict::Unknown(_) => "unknown",
            };
            assert_eq!(got, want, "{series:?}: {v:?}");
        }
        // A point under the limit passes whatever else is missing.
        let v = evaluate(
            &rule(Condition::Above(5.0), 3, missing),
            None,
            Some(&[NAN, 1.0, NAN]),
        );
        assert_eq!(v, Verdict::Pass);
    }

    #[test]
    fn an_abort_names_the_rule_the_numbers_and_the_window() {
        let v = evaluate(
            &AbortRule {
                name: "5xx ratio".into(),
                metric: "5xx %".into(),
                condition: RATIO,
                points: 3,
                missing: Missing::Wait,
                compare_to: None,
            },
            Some(0.0),
            Some(&[3.0, 4.0, 5.5]),
        );
        let Verdict::Breach(why) = v else {
            panic!("{v:?}")
        };
        assert_eq!(
            why,
            "rule \"5xx ratio\": 5xx % above 1.50 (+50 % over baseline 0 below its floor 1) \
             for 3 point(s) of 1 min: 3, 4, 5.50"
        );
    }

    #[test]
    fn a_compared_rule_judges_pairs_of_points_with_the_floor() {
        let mut r = rule(
            Condition::AboveBaselineBy {
                fraction: 0.5,
                min_baseline: 1.0,
            },
            2,
            Missing::Wait,
        );
        r.compare_to = Some("5xx % blue".into());
        // Old side 0: the floor 1 makes the limit 1.5.
        let v = evaluate_against(&r, Some(&[9.0, 2.0, 2.0]), Some(&[0.0, 0.0, 0.0]));
        assert!(
            matches!(&v, Verdict::Breach(w) if w.ends_with("2 vs 0, 2 vs 0")),
            "{v:?}"
        );
        // One newest pair within 50 % of the old side passes.
        let v = evaluate_against(&r, Some(&[2.0, 2.9]), Some(&[2.0, 2.0]));
        assert_eq!(v, Verdict::Pass);
        // A missing old point is missing data, not a pass.
        let v = evaluate_against(&r, Some(&[9.0, 9.0]), Some(&[1.0, NAN]));
        assert!(
            matches!(&v, Verdict::Unknown(w) if w.contains("1 of the 2 pair(s)")),
            "{v:?}"
        );
        let v = evaluate_against(&r, Some(&[9.0, 9.0]), None);
        assert!(matches!(v, Verdict::Unknown(_)), "{v:?}");
    }
}
