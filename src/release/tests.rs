use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::*;
use crate::config::{Config, EnvId};
use crate::ledger::RecordKind;
use crate::model::{
    Alarm, AlarmState, Deployment, DeploymentConfig, DeploymentRole, Digest, Health, MetricSeries,
    Pinning, Revision, RevisionInfo, RolloutState, ServiceSnapshot,
};
use crate::provider::RollbackStyle::Revisions;
use chrono::TimeZone;

fn td(rev: u32) -> Revision {
    Revision {
        family: "shop-api".into(),
        id: crate::model::RevisionId::Number(rev),
        arn: format!("arn:aws:ecs:eu-west-1:1:task-definition/shop-api:{rev}").into(),
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

fn at(secs: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(secs)
}

fn healthy() -> Health {
    Health::Healthy {
        status: 200,
        latency: Duration::from_millis(40),
        healthy_for: Duration::from_hours(1),
    }
}

/// The api service running revision `rev` with one primary deployment in `rollout`.
fn snap(rev: u32, rollout: RolloutState) -> ServiceSnapshot {
    ServiceSnapshot {
        detail: crate::model::PlatformDetail::default(),
        name: "api".into(),
        ecs_service: "shop-api-staging".into(),
        image: None,
        digest: Some(Digest::of_bytes(format!("rev{rev}").as_bytes())),
        pinning: Pinning::Pinned,
        task_definition: Some(td(rev)),
        running: 3,
        desired: 3,
        pending: 0,
        // As ECS judges it: the one (primary) deployment completed, 3 of 3 running.
        convergence: crate::model::Convergence::judged(rollout == RolloutState::Completed),
        deployments: vec![Deployment {
            steps: Vec::new(),
            nothing_changed: false,
            shift: None,
            id: format!("d{rev}"),
            role: DeploymentRole::Primary,
            task_definition: td(rev),
            rollout,
            reason: Some("reason".into()),
            running: 3,
            desired: 3,
            pending: 0,
            failed_tasks: 0,
            created_at: t0(),
            updated_at: t0(),
        }],
        deployment_config: DeploymentConfig::default(),
        alarms: vec![Alarm {
            name: "shop-api-staging-5xx".into(),
            state: AlarmState::Ok,
            reason: "".into(),
            updated_at: t0(),
        }],
        alarms_unknown: None,
        logs: None,
        regions: None,
        health: healthy(),
        events: vec![],
        history: (1..=rev)
            .map(|r| RevisionInfo {
                task_definition: td(r),
                digest: Some(Digest::of_bytes(format!("rev{r}").as_bytes())),
                active: r != 1,
            })
            .collect::<Vec<_>>()
            .into(),
        metrics: vec![
            MetricSeries {
                label: "5xx %".into(),
                points: vec![1.0; 30],
                error: None,
            },
            MetricSeries {
                label: "p95 ms".into(),
                points: vec![100.0; 30],
                error: None,
            },
        ],
    }
}

/// How the watch says that ECS rolled a deployment back by itself: in
/// generic words, with ECS's own name for what did it.
const BY_ITSELF: &str =
    "the platform rolled the deployment back by itself (ECS's circuit breaker or alarm rollback): ";

fn cfg() -> Config {
    let mut c = crate::config::demo().unwrap();
    c.environments[1].rollout.stability_window = Duration::from_secs(30);
    c.environments[1].rollout.timeout = Duration::from_mins(10);
    c
}

/// A deploy of revision 4 over revision 3 in staging, accepted.
fn watch(c: &Config) -> Watch {
    watch_over(c, &snap(3, RolloutState::Completed))
}

/// A deploy of revision 4 over `before` in staging, accepted.
fn watch_over(c: &Config, before: &ServiceSnapshot) -> Watch {
    let mut w = Watch::new(
        c,
        OpKind::Deploy,
        EnvId(1),
        "api",
        "P1",
        Some(before),
        None,
        t0(),
    );
    w.started(td(4), Some("d4".into()));
    w
}

#[test]
fn succeeds_after_completion_and_the_stability_window() {
    let c = cfg();
    let mut w = watch(&c);
    assert_eq!(
        w.observe(&snap(4, RolloutState::InProgress), at(5)),
        Step::Continue
    );
    assert_eq!(
        w.observe(&snap(4, RolloutState::Completed), at(10)),
        Step::Continue
    );
    assert_eq!(
        w.observe(&snap(4, RolloutState::Completed), at(39)),
        Step::Continue
    );
    assert_eq!(
        w.observe(&snap(4, RolloutState::Completed), at(40)),
        Step::Succeeded
    );
}

#[test]
fn a_health_flap_restarts_the_window_and_a_long_outage_aborts() {
    let c = cfg();
    let mut w = watch(&c);
    let mut s = snap(4, RolloutState::Completed);
    assert_eq!(w.observe(&s, at(10)), Step::Continue);
    s.health = Health::Unhealthy {
        status: Some(503),
        reason: "503".into(),
    };
    assert_eq!(
        w.observe(&s, at(20)),
        Step::Continue,
        "one failed probe is not an outage"
    );
    let mut ok = snap(4, RolloutState::Completed);
    ok.health = healthy();
    assert_eq!(w.observe(&ok, at(22)), Step::Continue);
    // The window counts from the recovery, not from the completion.
    assert_eq!(w.observe(&ok, at(45)), Step::Continue);
    assert_eq!(w.observe(&ok, at(52)), Step::Succeeded);

    let mut w = watch(&c);
    assert_eq!(w.observe(&s, at(10)), Step::Continue);
    assert_eq!(w.observe(&s, at(24)), Step::Continue);
    match w.observe(&s, at(25)) {
        Step::Abort(why) => assert!(why.contains("health failing for 15s"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn new_alarms_abort_but_alarms_firing_before_do_not() {
    let c = cfg();
    let mut w = watch(&c);
    let mut s = snap(4, RolloutState::InProgress);
    s.alarms[0].state = AlarmState::Alarm;
    assert!(
        matches!(w.observe(&s, at(5)), Step::Abort(why) if why.contains("shop-api-staging-5xx"))
    );

    // A deploy meant to fix a firing alarm is not rolled back for that alarm.
    let mut before = snap(3, RolloutState::Completed);
    before.alarms[0].state = AlarmState::Alarm;
    let mut w = Watch::new(
        &c,
        OpKind::Deploy,
        EnvId(1),
        "api",
        "P1",
        Some(&before),
        None,
        t0(),
    );
    w.started(td(4), None);
    let mut s = snap(4, RolloutState::Completed);
    s.alarms[0].state = AlarmState::Alarm;
    assert_eq!(w.observe(&s, at(5)), Step::Continue);
    assert_eq!(w.observe(&s, at(40)), Step::Succeeded);
}

#[test]
fn failed_rollout_aborts_and_ecs_self_rollback_fails() {
    let c = cfg();
    let mut w = watch(&c);
    assert!(
        matches!(w.observe(&snap(4, RolloutState::Failed), at(5)), Step::Abort(why) if why.starts_with("rollout failed"))
    );
    let mut w = watch(&c);
    let mut s = snap(4, RolloutState::RolledBack);
    s.deployments[0].task_definition = td(3);
    assert!(matches!(w.observe(&s, at(5)), Step::Failed(why) if why.starts_with(BY_ITSELF)));
    // Over is over: later readings change nothing.
    assert_eq!(
        w.observe(&snap(4, RolloutState::Completed), at(60)),
        Step::Continue
    );
}

#[rstest::rstest]
#[case::within_limit(1.4, false)]
#[case::over_limit(1.6, true)]
fn error_rate_against_its_baseline(#[case] now_rate: f64, #[case] aborts: bool) {
    let c = cfg(); // default: +50 % over 5 minutes
    let mut w = watch(&c);
    let mut s = snap(4, RolloutState::InProgress);
    let n = s.metrics[0].points.len();
    for p in &mut s.metrics[0].points[n - 5..] {
        *p = now_rate;
    }
    let step = w.observe(&s, at(5));
    assert_eq!(
        matches!(step, Step::Abort(ref why) if why.contains("5xx %")),
        aborts,
        "{step:?}"
    );
}

#[test]
fn p95_over_the_slo_aborts() {
    let mut c = cfg();
    c.environments[1].rollout.p95_latency_slo = Some(Duration::from_millis(250));
    let mut w = watch(&c);
    let mut s = snap(4, RolloutState::InProgress);
    assert_eq!(w.observe(&s, at(5)), Step::Continue);
    if let Some(p) = s.metrics[1].points.last_mut() {
        *p = 251.0;
    }
    assert!(matches!(w.observe(&s, at(8)), Step::Abort(why) if why.contains("SLO")));
}

#[test]
fn not_stable_in_time_aborts() {
    let c = cfg();
    let mut w = watch(&c);
    assert_eq!(
        w.observe(&snap(4, RolloutState::InProgress), at(599)),
        Step::Continue
    );
    assert!(
        matches!(w.observe(&snap(4, RolloutState::InProgress), at(600)), Step::Abort(why) if why.contains("not stable within 10m"))
    );
}

#[test]
fn another_deploy_while_watching_is_changed_outside() {
    let c = cfg();
    let mut w = watch(&c);
    let mut s = snap(5, RolloutState::InProgress);
    s.deployments[0].id = "someone-else".into();
    assert!(
        matches!(w.observe(&s, at(5)), Step::ChangedOutside(why) if why.contains("shop-api:5 is what runs now, not shop-api:4"))
    );
}

#[test]
fn rollback_after_abort_goes_to_the_revision_before() {
    let c = cfg();
    let mut w = watch(&c);
    w.observe(&snap(4, RolloutState::Failed), at(5));
    let (rb, to, draft) = w
        .rollback_after_abort("alice", "rollout failed", at(6))
        .unwrap();
    assert_eq!(to, td(3));
    assert_eq!(rb.kind, OpKind::Rollback);
    assert!(rb.automatic);
    assert_eq!(draft.to_revision.as_deref(), Some("shop-api:3"));
    assert_eq!(draft.from_revision.as_deref(), Some("shop-api:4"));
    let recs = closing_records(&w, &Step::Abort("x".into()), "alice", at(6));
    assert_eq!(recs[0].0, RecordKind::Aborted);
}

#[test]
fn rollback_target_prefers_stable_records_then_older_active_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = crate::ledger::Ledger::new(dir.path().join("l.jsonl"));
    let s = snap(4, RolloutState::Completed);
    // No records: newest older ACTIVE revision, unverified.
    let t = rollback_target(&[], "staging", &s, Revisions).unwrap();
    assert_eq!((t.revision.number().unwrap(), t.verified), (3, false));
    // A stable record of revision 2 wins, verified.
    let d2 = Digest::of_bytes(b"rev2").to_string();
    crate::stable::mark(&ledger, "alice", "staging", "api", "shop-api:2", &d2, t0()).unwrap();
    let t = rollback_target(&ledger.read().unwrap(), "staging", &s, Revisions).unwrap();
    assert_eq!((t.revision.number().unwrap(), t.verified), (2, true));
    assert_eq!(
        t.revision.arn,
        td(2).arn,
        "the ARN comes from the service's history"
    );
    // A stable revision that is no longer ACTIVE is skipped.
    crate::stable::mark(&ledger, "alice", "staging", "api", "shop-api:1", &d2, t0()).unwrap();
    let t = rollback_target(&ledger.read().unwrap(), "staging", &s, Revisions).unwrap();
    assert_eq!((t.revision.number().unwrap(), t.verified), (3, false));
    // ECS lists only ACTIVE revisions: a stable revision missing from the
    // list was deregistered, and is skipped too.
    let mut listed = snap(4, RolloutState::Completed);
    Arc::make_mut(&mut listed.history).retain(|h| h.task_definition.number().unwrap() != 2);
    crate::stable::mark(&ledger, "alice", "staging", "api", "shop-api:2", &d2, t0()).unwrap();
    let recs = ledger.read().unwrap();
    let t = rollback_target(&recs, "staging", &listed, Revisions).unwrap();
    assert_eq!((t.revision.number().unwrap(), t.verified), (3, false));
    Arc::make_mut(&mut listed.history).retain(|h| h.task_definition.number().unwrap() > 2);
    let t = rollback_target(&recs, "staging", &listed, Revisions).unwrap();
    assert_eq!((t.revision.number().unwrap(), t.verified), (3, false));
    // With no history read, the stable record stands (ECS has the last word).
    Arc::make_mut(&mut listed.history).clear();
    let t = rollback_target(&recs, "staging", &listed, Revisions).unwrap();
    assert_eq!((t.revision.number().unwrap(), t.verified), (2, true));
    // Only one revision and no records: nothing to roll back to.
    let mut one = snap(1, RolloutState::Completed);
    Arc::make_mut(&mut one.history)[0].active = true;
    let err = rollback_target(&[], "staging", &one, Revisions).unwrap_err();
    assert!(err.0.contains("nothing to roll back to"), "{err}");
}

#[test]
fn plans_refuse_what_cannot_be_promoted() {
    let c = cfg();
    let s3 = snap(3, RolloutState::Completed);
    let s4 = snap(4, RolloutState::Completed);
    assert!(
        plan(&c, "api", EnvId(0), EnvId(0), Some(&s4), Some(&s3))
            .unwrap_err()
            .0
            .contains("first stage")
    );
    assert!(
        plan(&c, "api", EnvId(2), EnvId(1), Some(&s4), Some(&s3))
            .unwrap_err()
            .0
            .contains("forward")
    );
    assert!(
        plan(&c, "api", EnvId(0), EnvId(1), None, Some(&s3))
            .unwrap_err()
            .0
            .contains("no reading")
    );
    assert!(
        plan(&c, "api", EnvId(0), EnvId(1), Some(&s4), Some(&s4))
            .unwrap_err()
            .0
            .contains("already runs")
    );
    assert!(
        plan(&c, "nope", EnvId(0), EnvId(1), Some(&s4), Some(&s3))
            .unwrap_err()
            .0
            .contains("not configured")
    );
    let p = plan(&c, "api", EnvId(0), EnvId(2), Some(&s4), Some(&s3)).unwrap();
    assert!(p.hotfix);
    let p = plan(&c, "api", EnvId(1), EnvId(2), Some(&s4), Some(&s3)).unwrap();
    assert!(!p.hotfix);
    let diff = p.diff();
    assert!(diff[0].contains("shop-api:3"));
    assert!(diff[3].starts_with("+ ") && !diff[3].contains("(source"));
}

#[test]
fn the_plan_names_the_images_commit_and_source_labels_when_known() {
    let c = cfg();
    let mut s3 = snap(3, RolloutState::Completed);
    let mut s4 = snap(4, RolloutState::Completed);
    let image = |rev: &str, hex: &str| {
        let mut i =
            crate::model::ImageRef::parse(&format!("r.io/shop/api@sha256:{}", hex.repeat(64)))
                .unwrap();
        i.revision = Some(rev.into());
        i
    };
    // Without labels the plan says nothing of them.
    let p = plan(&c, "api", EnvId(1), EnvId(2), Some(&s4), Some(&s3)).unwrap();
    assert!(
        !p.diff().iter().any(|l| l.contains("commit")),
        "{:?}",
        p.diff()
    );
    s3.image = Some(image("1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d", "a"));
    let mut new = image("9f8e7d6c5b4a39281706f5e4d3c2b1a098765432", "b");
    new.source = Some("https://github.com/acme/api.git".into());
    s4.image = Some(new);
    let p = plan(&c, "api", EnvId(1), EnvId(2), Some(&s4), Some(&s3)).unwrap();
    assert!(
        p.diff().contains(
            &"commit 1a2b3c4 → 9f8e7d6 · source github.com/acme/api · compare https://github.com/acme/api/compare/1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d...9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
                .to_string()
        ),
        "{:?}",
        p.diff()
    );
    // Only the new image labelled: the old one says so.
    s3.image = None;
    let p = plan(&c, "api", EnvId(1), EnvId(2), Some(&s4), Some(&s3)).unwrap();
    assert_eq!(
        p.labels.as_deref(),
        Some("commit (no label) → 9f8e7d6 · source github.com/acme/api")
    );
}

#[test]
fn soak_counts_from_the_deployment_of_that_digest() {
    let s = snap(4, RolloutState::Completed);
    let d = s.digest.clone().unwrap();
    assert_eq!(soaked_for(&s, &d, at(90)), Some(Duration::from_secs(90)));
    assert_eq!(soaked_for(&s, &Digest::of_bytes(b"other"), at(90)), None);
    assert_eq!(
        soaked_for(&snap(4, RolloutState::InProgress), &d, at(90)),
        Some(Duration::ZERO)
    );
}

#[test]
fn same_rev_ignores_arn_form() {
    let a = td(3);
    let b = Revision {
        arn: "shop-api:3".into(),
        ..a.clone()
    };
    assert!(a.same_revision(&b));
    assert!(!a.same_revision(&td(4)));
}

/// A watch whose pre-deploy reading of "5xx %" was all zeros.
fn watch_from_zero(c: &Config) -> Watch {
    let mut before = snap(3, RolloutState::Completed);
    before.metrics[0].points = vec![0.0; 30];
    watch_over(c, &before)
}

#[test]
fn a_zero_baseline_still_aborts_when_errors_start() {
    let c = cfg(); // shorthand: +50 % over 5 minutes, floor 1
    let mut w = watch_from_zero(&c);
    let mut s = snap(4, RolloutState::InProgress);
    s.metrics[0].points = vec![0.0; 30];
    for p in &mut s.metrics[0].points[25..] {
        *p = 12.0;
    }
    let step = w.observe(&s, at(5));
    let Step::Abort(why) = step else {
        panic!("{step:?}")
    };
    assert!(why.contains("rule \"error rate\""), "{why}");
    assert!(why.contains("5xx %"), "{why}");
    assert!(why.contains("5 point(s)"), "{why}");
    assert!(why.contains("12, 12, 12, 12, 12"), "{why}");
}

#[test]
fn a_rule_waits_on_missing_data_and_the_watch_cannot_succeed() {
    let mut c = cfg();
    c.environments[1]
        .rollout
        .rules
        .push(crate::config::AbortRule {
            name: "p95 over SLO".into(),
            metric: "p95 ms".into(),
            condition: crate::config::Condition::Above(250.0),
            points: 3,
            missing: crate::config::Missing::Wait,
            compare_to: None,
        });
    let mut w = watch(&c);
    let mut s = snap(4, RolloutState::Completed);
    s.metrics[1].points = vec![f64::NAN; 30];
    assert_eq!(w.observe(&s, at(5)), Step::Continue);
    assert_eq!(
        w.observe(&s, at(60)),
        Step::Continue,
        "never succeeds blind"
    );
    assert!(w.progress.contains("p95 over SLO"), "{}", w.progress);
    // One point over the SLO is not three.
    let mut w = watch(&c);
    let mut s = snap(4, RolloutState::InProgress);
    s.metrics[1].points[29] = 400.0;
    assert_eq!(w.observe(&s, at(5)), Step::Continue);
    for p in &mut s.metrics[1].points[27..] {
        *p = 400.0;
    }
    assert!(
        matches!(w.observe(&s, at(10)), Step::Abort(why) if why.contains("p95 over SLO") && why.contains("3 point(s)"))
    );
}

#[test]
fn a_passed_over_stable_revision_is_named_and_a_newer_one_is_a_roll_forward() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = crate::ledger::Ledger::new(dir.path().join("l.jsonl"));
    // The records say shop-api:6 is stable; this world never registered it.
    let d6 = Digest::of_bytes(b"rev6").to_string();
    crate::stable::mark(&ledger, "alice", "staging", "api", "shop-api:6", &d6, t0()).unwrap();
    let s = snap(4, RolloutState::Completed);
    let t = rollback_target(&ledger.read().unwrap(), "staging", &s, Revisions).unwrap();
    assert_eq!(
        (t.revision.number().unwrap(), t.verified, t.roll_forward),
        (3, false, false)
    );
    assert_eq!(
        t.label(),
        "UNVERIFIED: the stable revision shop-api:6 is not ACTIVE here (deregistered, or never registered); newest older ACTIVE revision"
    );
    let (_, draft) = rollback_start(&cfg(), EnvId(1), "api", "P1", Some(&s), &t, "alice", t0());
    assert!(
        draft
            .reasons
            .iter()
            .any(|r| r.contains("shop-api:6 is not ACTIVE")),
        "{:?}",
        draft.reasons
    );
    // Running shop-api:3 with shop-api:4 stable and ACTIVE: going there is a
    // roll forward, and every place says so.
    let mut s3 = snap(4, RolloutState::Completed);
    s3.task_definition = Some(td(3));
    let d4 = Digest::of_bytes(b"rev4").to_string();
    crate::stable::mark(&ledger, "alice", "staging", "api", "shop-api:4", &d4, t0()).unwrap();
    let t = rollback_target(&ledger.read().unwrap(), "staging", &s3, Revisions).unwrap();
    assert_eq!(
        (t.revision.number().unwrap(), t.verified, t.roll_forward),
        (4, true, true)
    );
    assert!(t.label().starts_with("ROLL FORWARD"), "{}", t.label());
    let (_, draft) = rollback_start(&cfg(), EnvId(1), "api", "P1", Some(&s3), &t, "alice", t0());
    assert!(
        draft.reasons.iter().any(|r| r.starts_with("roll forward")),
        "{:?}",
        draft.reasons
    );
}

/// A rule with `compare_to` judges the new revision's metric against the
/// compared one minute by minute, not against the mean before the deploy.
#[test]
fn a_compared_rule_aborts_only_when_the_new_side_stays_above_the_old_side() {
    let mut c = cfg();
    // Two per-target-group series of the service; here its two metric labels.
    c.environments[1].rollout.rules = vec![crate::config::AbortRule {
        name: "new above old".into(),
        metric: "5xx %".into(),
        condition: crate::config::Condition::AboveBaselineBy {
            fraction: 0.5,
            min_baseline: 1.0,
        },
        points: 3,
        missing: crate::config::Missing::Wait,
        compare_to: Some("p95 ms".into()),
    }];
    c.environments[1].rollout.max_error_rate_increase = None;
    let mut w = watch(&c);
    let mut s = snap(4, RolloutState::InProgress);
    // The old side is as bad as the new: no abort, whatever the history.
    s.metrics[0].points = vec![20.0; 30];
    s.metrics[1].points = vec![20.0; 30];
    assert_eq!(w.observe(&s, at(5)), Step::Continue);
    // The new side alone rises, for three minutes: abort, naming both.
    for p in &mut s.metrics[0].points[27..] {
        *p = 40.0;
    }
    let step = w.observe(&s, at(10));
    let Step::Abort(why) = step else {
        panic!("{step:?}")
    };
    assert!(
        why.contains("5xx % above p95 ms by more than 50 %")
            && why.contains("40 vs 20, 40 vs 20, 40 vs 20"),
        "{why}"
    );
    // The compared side unreadable: unknown, never a pass.
    let mut w = watch(&c);
    s.metrics[1].points = vec![f64::NAN; 30];
    assert_eq!(w.observe(&s, at(5)), Step::Continue);
    assert!(w.progress.contains("0 of the 3 pair(s)"), "{}", w.progress);
}

/// A deploy of revision 4 that ran its window: the engine's ending and the
/// records that close it.
fn succeeded(c: &Config) -> (Watch, Next) {
    let mut w = watch(c);
    w.on_reading(
        &snap(4, RolloutState::Completed),
        at(10),
        "alice",
        crate::config::OnAbort::Rollback,
    );
    let next = w.on_reading(
        &snap(4, RolloutState::Completed),
        at(45),
        "alice",
        crate::config::OnAbort::Rollback,
    );
    (w, next)
}

fn kinds(next: &Next) -> Vec<RecordKind> {
    next.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Record { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect()
}

#[test]
fn success_is_claimed_marked_only_when_the_mark_was_written() {
    let c = cfg();
    let (w, next) = succeeded(&c);
    let end = next.outcome.clone().unwrap();
    assert_eq!(end.0, Outcome::Succeeded);
    assert!(
        !end.1.contains("marked"),
        "the engine claims nothing: {}",
        end.1
    );
    assert_eq!(
        kinds(&next),
        [
            RecordKind::DeploySucceeded,
            RecordKind::RevisionMarkedStable
        ]
    );
    let mut all = Written::default();
    all.add(RecordKind::DeploySucceeded, &Ok::<(), String>(()));
    all.add(RecordKind::RevisionMarkedStable, &Ok::<(), String>(()));
    let (o, text) = w.claim(end.clone(), &all);
    assert_eq!(o, Outcome::Succeeded);
    assert!(text.ends_with("(marked in the ledger)"), "{text}");

    let mut no_mark = Written::default();
    no_mark.add(RecordKind::DeploySucceeded, &Ok::<(), String>(()));
    let (o, text) = w.claim(end, &no_mark);
    assert_eq!(o, Outcome::Succeeded);
    assert!(!text.contains("marked in the ledger"), "{text}");
    assert!(text.contains("not marked stable"), "{text}");
}

#[test]
fn an_ending_whose_records_failed_is_unrecorded_and_never_succeeded() {
    let c = cfg();
    let (w, next) = succeeded(&c);
    let end = next.outcome.unwrap();
    let mut written = Written::default();
    written.add(
        RecordKind::DeploySucceeded,
        &Err::<(), String>("table gone".into()),
    );
    written.kept = Some(Ok("/tmp/spool".into()));
    let (o, text) = w.claim(end, &written);
    assert_eq!(o, Outcome::Unrecorded);
    assert_ne!(o.exit_code(), 0);
    assert!(
        text.contains("UNRECORDED") && text.contains("table gone"),
        "{text}"
    );
    assert!(
        !text.contains(" succeeded") && !text.contains("marked"),
        "{text}"
    );
    assert!(text.contains("/tmp/spool"), "{text}");
}

#[test]
fn a_rollback_issued_without_a_digest_learns_it_and_marks_it_stable() {
    // D14: the rollback target's digest came from the running tasks, so it
    // was not known at issue time; the mark needs it.
    let c = cfg();
    let mut w = Watch::new(
        &c,
        OpKind::Rollback,
        EnvId(1),
        "api",
        "R1",
        Some(&snap(4, RolloutState::Completed)),
        None,
        t0(),
    );
    w.started(td(3), Some("d3".into()));
    w.on_reading(
        &snap(3, RolloutState::Completed),
        at(10),
        "alice",
        crate::config::OnAbort::Rollback,
    );
    let next = w.on_reading(
        &snap(3, RolloutState::Completed),
        at(45),
        "alice",
        crate::config::OnAbort::Rollback,
    );
    assert_eq!(
        kinds(&next),
        [
            RecordKind::RollbackSucceeded,
            RecordKind::RevisionMarkedStable
        ]
    );
    assert_eq!(
        w.to_digest,
        snap(3, RolloutState::Completed).digest,
        "learnt from the reading of the revision it rolled back to"
    );
}

#[test]
fn a_switch_changed_by_hand_closes_as_changed_outside_never_stable() {
    let c = cfg();
    let mut w = watch(&c);
    let next = w.finish_for_test(
        &Step::ChangedOutside("blue is live, not green".into()),
        "alice",
        at(40),
    );
    let (o, text) = next.outcome.clone().unwrap();
    assert_eq!(o, Outcome::ChangedOutside);
    assert!(text.contains("CHANGED OUTSIDE SHIPDECK"), "{text}");
    assert_eq!(kinds(&next), [RecordKind::DeployFailed]);
    assert_ne!(o.exit_code(), 0);
}

mod follow;
mod outside;
mod styles;
