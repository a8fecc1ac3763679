use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::config::{AbortRule, Condition, Missing};
use crate::ledger::{Draft, Record, RecordKind};
use crate::model::shift::{ALL, RevisionSeries};
use crate::model::{Decision, Deployment, DeploymentRole, Pause, Revision, RolloutState, Strategy};
use crate::release::step::{self, Ask};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

fn at(secs: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(secs)
}

fn rule(condition: Condition, points: usize, missing: Missing) -> AbortRule {
    AbortRule {
        name: "errors".into(),
        metric: "5xx %".into(),
        condition,
        points,
        missing,
        compare_to: None,
    }
}

fn with_metric(label: &str, points: Vec<f64>, error: Option<&str>) -> ServiceSnapshot {
    let mut s = ServiceSnapshot::bare("api", "shop-api-prod");
    s.metrics.push(MetricSeries {
        label: label.into(),
        points,
        error: error.map(Into::into),
    });
    s
}

const RATIO: Condition = Condition::AboveBaselineBy {
    fraction: 0.5,
    min_baseline: 1.0,
};

#[test]
fn the_confirmation_lists_every_rule_the_watch_runs() {
    let cfg = crate::config::demo().unwrap();
    let prod = cfg.env_index("prod").unwrap();
    let names: Vec<String> = watched_rules(&cfg, prod, "api", None)
        .into_iter()
        .map(|(r, _)| r.name)
        .collect();
    assert_eq!(
        names,
        [
            "error rate above 5 %",
            "p95 above the 400 ms SLO",
            "error rate"
        ]
    );
    let lines = watch_lines(&cfg, prod, "api", None);
    assert_eq!(
        lines,
        [
            "the rollout fails or is not stable within 10m, or health fails for 15s",
            "an alarm enters ALARM (shop-api-prod-*)",
            "rule \"error rate above 5 %\": 5xx % above 5 for 1m",
            "rule \"p95 above the 400 ms SLO\": p95 ms above 400 for 1m",
            "rule \"error rate\": 5xx % above 1.50 for 5m (no baseline: floor 1 +50 %)",
        ]
    );
    // A service without a latency metric is not judged by the latency rule.
    let names: Vec<String> = watched_rules(&cfg, prod, "notifications", None)
        .into_iter()
        .map(|(r, _)| r.name)
        .collect();
    assert_eq!(names, ["error rate above 5 %", "error rate"]);
}

#[test]
fn a_rule_text_names_its_baseline_and_the_old_revision() {
    let r = rule(RATIO, 3, Missing::Abort);
    assert_eq!(
        rule_text(&r, Some(0.4)),
        "rule \"errors\": 5xx % above 1.50 for 3m (baseline 0.40 +50 %, floor 1); no data aborts"
    );
    assert_eq!(
        rule_text(&r, Some(2.0)),
        "rule \"errors\": 5xx % above 3 for 3m (baseline 2 +50 %); no data aborts"
    );
    let mut c = r.clone();
    c.compare_to = Some("5xx % blue".into());
    c.missing = Missing::Wait;
    assert_eq!(
        rule_text(&c, None),
        "rule \"errors\": 5xx % above 5xx % blue (the old revision's) +50 % for 3m (floor 1)"
    );
}

#[rstest::rstest]
#[case::within(&[0.4, 0.5], "✓", "✓ errors · 5xx % 0.50 (limit 5) · above for 0 of 2 min")]
#[case::above_not_yet_for_the_window(&[0.4, 7.0], "!", "! errors · 5xx % 7 (limit 5) · above for 1 of 2 min")]
#[case::breach(&[6.0, 7.0], "✗", "✗ errors · 5xx % 7 (limit 5) · above for 2 of 2 min: aborts")]
fn a_rule_live_says_value_limit_and_how_long(
    #[case] points: &[f64],
    #[case] mark: &str,
    #[case] line: &str,
) {
    let r = rule(Condition::Above(5.0), 2, Missing::Wait);
    let l = live(&r, None, &with_metric("5xx %", points.to_vec(), None));
    assert_eq!(l.mark(), mark);
    assert_eq!(l.line(), line);
}

#[test]
fn unknown_is_said_with_why_and_never_ticked() {
    let r = rule(Condition::Above(5.0), 1, Missing::Wait);
    let unreadable = live(&r, None, &with_metric("5xx %", vec![], Some("throttled")));
    assert_eq!(unreadable.mark(), "?");
    assert_eq!(
        unreadable.line(),
        "? errors · 5xx % unknown: \"5xx %\" unreadable: throttled"
    );
    let absent = live(&r, None, &ServiceSnapshot::bare("api", "x"));
    assert_eq!(
        absent.line(),
        "? errors · 5xx % unknown: \"5xx %\" is not in the reading"
    );
    let nan = live(&r, None, &with_metric("5xx %", vec![f64::NAN], None));
    assert!(
        matches!(&nan.state, LiveState::Unknown(w) if w.contains("0 of the 1")),
        "{nan:?}"
    );
    // A rule that ignores missing data passes, but the value is still unknown.
    let ignore = rule(Condition::Above(5.0), 1, Missing::Ignore);
    let l = live(&ignore, None, &with_metric("5xx %", vec![], None));
    assert_eq!(l.mark(), "?", "{l:?}");
}

#[test]
fn a_baseline_and_a_compared_revision_show_beside_the_limit() {
    let r = rule(RATIO, 1, Missing::Wait);
    let l = live(&r, Some(2.0), &with_metric("5xx %", vec![2.5], None));
    assert_eq!(
        l.line(),
        "✓ errors · 5xx % 2.50 (limit 3, baseline 2 +50 %) · above for 0 of 1 min"
    );
    let mut c = rule(RATIO, 2, Missing::Wait);
    c.compare_to = Some("5xx % blue".into());
    let mut s = with_metric("5xx %", vec![9.0, 9.0], None);
    s.metrics.push(MetricSeries {
        label: "5xx % blue".into(),
        points: vec![8.0, 0.2],
        error: None,
    });
    let l = live(&c, None, &s);
    // The newest pair is above (floor 1: limit 1.5), the one before is not.
    assert_eq!(
        l.line(),
        "! errors · 5xx % 9 (limit 1.50, 5xx % blue 0.20 +50 %) · above for 1 of 2 min"
    );
}

#[test]
fn after_an_abort_the_rules_keep_the_values_they_aborted_on() {
    let r = rule(Condition::Above(5.0), 1, Missing::Wait);
    let mut seen = Seen::default();
    seen.observe(
        &[(r, None)],
        &with_metric("5xx %", vec![35.0], None),
        None,
        at(0),
    );
    assert_eq!(seen.rules[0].state, LiveState::Breach);
    // The rollback's watch judges no rules: the numbers stay.
    seen.observe(&[], &with_metric("5xx %", vec![0.1], None), None, at(5));
    assert_eq!(seen.rules[0].value, Some(35.0));
}

fn canary(step: u32, started: Vec<DateTime<Utc>>, paused: bool) -> Shift {
    Shift {
        kind: "canary".into(),
        deployment: "d".into(),
        new_weight: if step == 1 { 1_000 } else { ALL },
        weights: vec![1_000, ALL],
        step,
        started,
        stage: "PRODUCTION_TRAFFIC_SHIFT".into(),
        ends_at: None,
        pause: paused.then(|| Pause {
            hook: "h".into(),
            expires_at: None,
            timeout_action: None,
        }),
        revisions: Vec::new(),
    }
}

const CANARY: Strategy = Strategy::Canary {
    percent_hundredths: 1_000,
    canary_bake: Duration::from_mins(1),
    bake: Duration::from_secs(20),
};

#[test]
fn a_hold_counts_down_from_the_step_start() {
    let h = Hold::of(&CANARY, &canary(1, vec![at(0)], true), None).unwrap();
    assert_eq!(h.countdown(at(28)), "held 28s of 1m: 32s left");
    assert_eq!(h.left(at(28)), HoldLeft::Left(Duration::from_secs(32)));
    assert_eq!(
        h.not_over(at(28)).as_deref(),
        Some("the hold has 32s left of 1m")
    );
    assert_eq!(
        h.cut_reason("bob", at(28)).as_deref(),
        Some("hold cut short by bob with 32s of 1m left")
    );
    assert_eq!(h.countdown(at(64)), "held 1m4s of 1m: over");
    assert_eq!(h.not_over(at(60)), None);
    assert_eq!(h.cut_reason("bob", at(61)), None);
    // No step times: the ledger's (or the watch's) first sight of it.
    let h = Hold::of(&CANARY, &canary(1, vec![], true), Some(at(10))).unwrap();
    assert_eq!(h.countdown(at(28)), "held 18s of 1m: 42s left");
    // Nothing known: never over.
    let h = Hold::of(&CANARY, &canary(1, vec![], true), None).unwrap();
    assert_eq!(h.left(at(600)), HoldLeft::Unknown);
    assert!(h.not_over(at(600)).is_some());
    // The last step bakes; rolling deploys hold nothing.
    assert_eq!(
        Hold::of(&CANARY, &canary(2, vec![at(0), at(60)], false), None),
        None
    );
    assert_eq!(
        Hold::of(&Strategy::Rolling, &canary(1, vec![at(0)], true), None),
        None
    );
    assert_eq!(short(Duration::from_secs(3725)), "1h2m5s");
    assert_eq!(short(Duration::ZERO), "0s");
}

#[test]
fn the_ledger_says_when_a_step_began_where_the_platform_does_not() {
    let record = |seq, kind, secs, reason: &str| Record {
        seq,
        id: format!("r{seq}"),
        kind,
        at: at(secs),
        draft: Draft {
            operator: "alice".into(),
            env: Some("prod".into()),
            service: Some("notifications".into()),
            promotion: Some("P1".into()),
            reasons: vec![reason.to_string()]
                .into_iter()
                .filter(|r| !r.is_empty())
                .collect(),
            ..Draft::default()
        },
        prev_hash: String::new(),
        once: None,
    };
    let records = [
        record(1, RecordKind::DeployIssued, 0, ""),
        record(
            2,
            RecordKind::Step,
            30,
            "step 1 of 2 (10%) paused: awaiting a decision",
        ),
    ];
    let sh = canary(1, vec![], true);
    assert_eq!(
        hold::step_began(&records, "prod", "notifications", &sh),
        Some(at(30))
    );
    assert_eq!(
        hold::step_began(&records[..1], "prod", "notifications", &sh),
        None
    );
}

fn ask(operator: &str, hold: Option<Hold>, now: DateTime<Utc>, cut: bool) -> Ask<'_> {
    Ask {
        decision: Decision::Continue,
        operator,
        reason: "looks fine",
        hold,
        now,
        cut_hold: cut,
        demo_flag: "",
    }
}

#[test]
fn continuing_during_the_hold_needs_the_cut_confirmed_and_says_who() {
    let cfg = crate::config::demo().unwrap();
    let mut prod = cfg.environments[cfg.env_index("prod").unwrap().index()].clone();
    prod.rollout.step_approvals = 0;
    let sh = canary(1, vec![at(0)], true);
    let hold = Hold::of(&CANARY, &sh, None);
    let judge = |a: &Ask<'_>| step::judge(&[], &prod, "notifications", &sh, None, a);
    let v = judge(&ask("bob", hold, at(28), false));
    assert_eq!(v, step::Verdict::Held("the hold has 32s left of 1m".into()));
    let step::Verdict::Apply(d) = judge(&ask("bob", hold, at(28), true)) else {
        panic!()
    };
    assert_eq!(
        d.reasons,
        [
            "step 1 of 2 (10%)",
            "looks fine",
            "hold cut short by bob with 32s of 1m left"
        ]
    );
    // Over: taken, and nothing was cut.
    let step::Verdict::Apply(d) = judge(&ask("bob", hold, at(60), true)) else {
        panic!()
    };
    assert_eq!(d.reasons, ["step 1 of 2 (10%)", "looks fine"]);
    // A rollback is never held.
    let mut back = ask("bob", hold, at(1), false);
    back.decision = Decision::Rollback;
    assert!(matches!(judge(&back), step::Verdict::Apply(_)));
    // An approval of several moves nothing: not held either.
    prod.rollout.step_approvals = 2;
    let v = step::judge(
        &[],
        &prod,
        "notifications",
        &sh,
        None,
        &ask("bob", hold, at(1), false),
    );
    assert!(matches!(v, step::Verdict::Approval { .. }), "{v:?}");
}

fn td(rev: u32) -> Revision {
    Revision {
        family: "shop-notifications".into(),
        id: crate::model::RevisionId::Number(rev),
        arn: format!("shop-notifications:{rev}").into(),
    }
}

fn deployment(role: DeploymentRole, rev: u32, running: u32) -> Deployment {
    Deployment {
        id: format!("d{rev}"),
        role,
        task_definition: td(rev),
        rollout: RolloutState::InProgress,
        reason: None,
        steps: Vec::new(),
        nothing_changed: false,
        shift: None,
        running,
        desired: 2,
        pending: 0,
        failed_tasks: 0,
        created_at: t0(),
        updated_at: t0(),
    }
}

#[test]
fn at_a_pause_the_new_revision_stands_beside_the_old() {
    let cfg = crate::config::demo().unwrap();
    let prod = cfg.env_index("prod").unwrap();
    let mut s = with_metric("5xx %", vec![0.5; 30], None);
    s.name = "notifications".into();
    s.deployments = vec![
        deployment(DeploymentRole::Primary, 5, 2),
        deployment(DeploymentRole::Active, 4, 2),
    ];
    let mut sh = canary(1, vec![at(0)], true);
    // Paused 90s: the newest two points, per revision.
    sh.revisions = vec![RevisionSeries {
        label: "5xx %".into(),
        new: vec![None, Some(30.0), Some(40.0)],
        old: vec![Some(0.1), Some(0.2), Some(0.4)],
        error: None,
    }];
    let hold = Hold::of(&CANARY, &sh, None);
    let ev = pause::at_step(&cfg, prod, &s, &sh, Some(at(0)), hold, at(90));
    assert_eq!(ev.points, 2);
    let row = &ev.rows[0];
    assert_eq!(row.measure, "5xx %");
    assert_eq!(row.new.as_ref().unwrap().value, Some(35.0));
    assert_eq!(row.old.as_ref().unwrap().said, "0.30");
    assert_eq!(row.source, "per revision");
    assert_eq!(ev.hold.as_ref().unwrap().said, "held 1m30s of 1m: over");
    let text = ev.lines().join("\n");
    assert!(
        text.starts_with("⏸ step 1 of 2 (10%) · held 1m30s of 1m: over\n"),
        "{text}"
    );
    assert!(
        text.contains("\n  new vs old, over the 1m30s held (2 one-minute points):\n"),
        "{text}"
    );
    assert!(text.contains("tasks     new 2/2 running"), "{text}");
    assert!(
        text.contains("health    both unknown: no health endpoint configured"),
        "{text}"
    );
    // Unreadable: unknown on both sides, with why.
    sh.revisions[0].error = Some("throttled".into());
    let ev = pause::at_step(&cfg, prod, &s, &sh, Some(at(0)), hold, at(10));
    assert_eq!(
        ev.rows[0].new.as_ref().unwrap().said,
        "unknown: unreadable: throttled"
    );
    // Without per-revision series: both together, said so.
    sh.revisions.clear();
    let ev = pause::at_step(&cfg, prod, &s, &sh, None, hold, at(10));
    assert!(ev.rows[0].new.is_none());
    assert_eq!(ev.rows[0].together.as_ref().unwrap().said, "0.50");
    assert!(
        ev.rows[0].source.starts_with("not apart"),
        "{:?}",
        ev.rows[0]
    );
    // The hold's start stands for the step's where none was given.
    assert_eq!(ev.held_secs, Some(10));
}
