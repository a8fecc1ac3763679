use super::*;
use crate::config::{FreezeKind, FreezeWindow};
use crate::model::{
    Alarm, Deployment, DeploymentConfig, DeploymentRole, Health, Pinning, Revision,
};
use chrono::{NaiveDate, NaiveTime, TimeZone, Weekday};
use rstest::rstest;

fn snap(rollout: RolloutState, alarms: &[AlarmState]) -> ServiceSnapshot {
    let t = Utc.timestamp_opt(0, 0).unwrap();
    let td = Revision {
        family: "api".into(),
        id: crate::model::RevisionId::Number(3),
        arn: "arn".into(),
    };
    ServiceSnapshot {
        detail: crate::model::PlatformDetail::default(),
        name: "api".into(),
        ecs_service: "api".into(),
        image: None,
        digest: None,
        pinning: Pinning::Pinned,
        task_definition: Some(td.clone()),
        running: 1,
        desired: 1,
        pending: 0,
        convergence: crate::model::Convergence::judged(true),
        deployments: vec![Deployment {
            steps: Vec::new(),
            nothing_changed: false,
            shift: None,
            id: "d".into(),
            role: DeploymentRole::Primary,
            task_definition: td,
            rollout,
            reason: None,
            running: 1,
            desired: 1,
            pending: 0,
            failed_tasks: 0,
            created_at: t,
            updated_at: t,
        }],
        deployment_config: DeploymentConfig::default(),
        alarms: alarms
            .iter()
            .enumerate()
            .map(|(n, s)| Alarm {
                name: format!("a{n}").into(),
                state: *s,
                reason: "".into(),
                updated_at: t,
            })
            .collect(),
        alarms_unknown: None,
        logs: None,
        regions: None,
        health: Health::NotConfigured,
        events: vec![],
        history: crate::model::History::default(),
        metrics: vec![],
    }
}

fn policy() -> GatePolicy {
    let mut p = GatePolicy::defaults(false);
    p.soak = Duration::from_hours(24);
    p
}

pub(super) struct World {
    pub(super) policy: GatePolicy,
    source: ServiceSnapshot,
    digest: Digest,
    smoke: Vec<SmokeResult>,
    pub(super) approvers: Vec<String>,
    ticked: Vec<bool>,
    pub(super) overrides: Vec<(String, String)>,
    regions: Option<Vec<Placement>>,
    places: bool,
    units: &'static str,
    pub(super) roles: crate::config::approvals::Roles,
    pub(super) change_types: Vec<String>,
    pub(super) change_type: Option<String>,
    pub(super) skipped: Vec<String>,
    pub(super) hotfix: bool,
}

impl World {
    pub(super) fn new() -> Self {
        Self {
            policy: policy(),
            source: snap(RolloutState::Completed, &[AlarmState::Ok]),
            digest: Digest::of_bytes(b"x"),
            smoke: vec![SmokeResult {
                name: "home".into(),
                passed: true,
                reason: "ok".into(),
            }],
            approvers: vec![],
            ticked: vec![],
            overrides: vec![],
            regions: None,
            places: true,
            units: "machines",
            roles: crate::config::approvals::Roles::default(),
            change_types: crate::config::approvals::DEFAULT_CHANGE_TYPES
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
            change_type: None,
            skipped: vec![],
            hotfix: false,
        }
    }

    pub(super) fn input(&self) -> GateInput<'_> {
        GateInput {
            policy: &self.policy,
            source: Some(&self.source),
            source_self_rollback: None,
            source_fresh: true,
            target_fresh: true,
            stale: &[],
            digest: Some(&self.digest),
            source_healthy_stable: Some(true),
            smoke: Some(&self.smoke),
            smoke_configured: true,
            soaked_for: Some(Duration::from_hours(25)),
            // A Wednesday.
            now: Utc.with_ymd_and_hms(2026, 11, 18, 12, 0, 0).unwrap(),
            in_flight: None,
            ticked: &self.ticked,
            approvers: &self.approvers,
            initiator: "alice",
            change_record: None,
            hotfix_reason: None,
            hotfix: self.hotfix,
            skipped: &self.skipped,
            change_type: self.change_type.as_deref(),
            change_types: &self.change_types,
            roles: &self.roles,
            overrides: &self.overrides,
            target_regions: self.regions.as_deref(),
            target_places: self.places,
            target_platform: "proxy",
            target_units: self.units,
            supply: None,
        }
    }
}

pub(super) fn verdict(r: &GateResult, name: &str) -> Verdict {
    r.checks
        .iter()
        .find(|c| c.name == name)
        .map_or_else(|| panic!("no check {name}: {r:?}"), |c| c.verdict)
}

#[test]
fn all_green_is_go() {
    let w = World::new();
    let r = evaluate(&w.input());
    assert!(r.go, "{r:#?}");
    // Every check but the opt-in ones (allowed_regions needs a region
    // list, the supply-chain checks [supply_chain]).
    assert_eq!(r.checks.len(), AutoCheck::defaults().len());
    assert_eq!(AutoCheck::defaults().len(), AutoCheck::ALL.len() - 4);
}

#[rstest]
#[case(RolloutState::Completed, Verdict::Pass)]
#[case(RolloutState::InProgress, Verdict::Pending)]
#[case(RolloutState::Failed, Verdict::Fail)]
#[case(RolloutState::RolledBack, Verdict::Fail)]
#[case(RolloutState::Unknown, Verdict::Unknown)]
fn rollout_completed(#[case] state: RolloutState, #[case] expect: Verdict) {
    let mut w = World::new();
    w.source = snap(state, &[]);
    let r = evaluate(&w.input());
    assert_eq!(verdict(&r, "rollout_completed"), expect);
    assert_eq!(r.go, expect == Verdict::Pass);
}

/// A deployment the platform rolled back by itself is said in generic
/// words, with the source platform's own name for what did it where it has
/// one; a stale reading is the source's or the target's, whatever the
/// platform.
#[test]
fn the_gate_says_generic_words_and_the_platforms_own_name() {
    let mut w = World::new();
    w.source = snap(RolloutState::RolledBack, &[]);
    let reason = |i: &GateInput<'_>| {
        let r = evaluate(i);
        let c = r.checks.iter().find(|c| c.name == "rollout_completed");
        c.map(|c| c.reason.clone()).unwrap()
    };
    let mut i = w.input();
    assert_eq!(
        reason(&i),
        "the platform rolled the source's latest deployment back by itself"
    );
    i.source_self_rollback = Some("ECS's circuit breaker or alarm rollback");
    assert_eq!(
        reason(&i),
        "the platform rolled the source's latest deployment back by itself (ECS's circuit breaker or alarm rollback)"
    );
    i.source_fresh = false;
    i.target_fresh = false;
    let r = evaluate(&i);
    let fresh = r.checks.iter().find(|c| c.name == "fresh").unwrap();
    assert!(
        fresh
            .reason
            .starts_with("not current: the source's reading; the target's reading;"),
        "{fresh:?}"
    );
}

#[rstest]
#[case(&[AlarmState::Ok, AlarmState::Ok], false, Verdict::Pass)]
#[case(&[AlarmState::Ok, AlarmState::Alarm], false, Verdict::Fail)]
#[case(&[AlarmState::Ok, AlarmState::Alarm], true, Verdict::Fail)]
#[case(&[AlarmState::InsufficientData], false, Verdict::Unknown)]
#[case(&[AlarmState::InsufficientData], true, Verdict::Pass)]
fn alarms(#[case] states: &[AlarmState], #[case] allow_unknown: bool, #[case] expect: Verdict) {
    let mut w = World::new();
    w.source = snap(RolloutState::Completed, states);
    w.policy.allow_insufficient_data = allow_unknown;
    assert_eq!(verdict(&evaluate(&w.input()), "alarms_ok"), expect);
}

#[rstest]
#[case(Some(true), Verdict::Pass)]
#[case(Some(false), Verdict::Pending)]
#[case(None, Verdict::Unknown)]
fn healthy_stable(#[case] stable: Option<bool>, #[case] expect: Verdict) {
    let w = World::new();
    let mut i = w.input();
    i.source_healthy_stable = stable;
    assert_eq!(verdict(&evaluate(&i), "healthy_stable"), expect);
}

#[test]
fn smoke() {
    let mut w = World::new();
    let mut i = w.input();
    i.smoke = None;
    assert_eq!(verdict(&evaluate(&i), "smoke"), Verdict::Pending);
    i.smoke_configured = false;
    assert_eq!(verdict(&evaluate(&i), "smoke"), Verdict::Pass);
    w.smoke.push(SmokeResult {
        name: "cart".into(),
        passed: false,
        reason: "500".into(),
    });
    let r = evaluate(&w.input());
    assert_eq!(verdict(&r, "smoke"), Verdict::Fail);
    assert!(r.checks.iter().any(|c| c.reason == "failed: cart"));
}

#[rstest]
#[case(24 * 3600 - 1, Verdict::Pending)]
#[case(24 * 3600, Verdict::Pass)]
#[case(24 * 3600 + 1, Verdict::Pass)]
fn soak_boundary(#[case] secs: u64, #[case] expect: Verdict) {
    let w = World::new();
    let mut i = w.input();
    i.soaked_for = Some(Duration::from_secs(secs));
    assert_eq!(verdict(&evaluate(&i), "soak"), expect);
}

fn friday_afternoon_berlin() -> FreezeWindow {
    FreezeWindow {
        name: "no Friday afternoon deploys".into(),
        timezone: chrono_tz::Europe::Berlin,
        kind: FreezeKind::Weekly {
            days: vec![Weekday::Fri],
            from: NaiveTime::from_hms_opt(14, 0, 0).unwrap(),
            to: NaiveTime::from_hms_opt(23, 59, 59).unwrap(),
        },
    }
}

// 2026-11-20 is a Friday; Berlin is UTC+1 in November, UTC+2 in summer.
#[rstest]
#[case(Utc.with_ymd_and_hms(2026, 11, 20, 12, 59, 59).unwrap(), false)]
#[case(Utc.with_ymd_and_hms(2026, 11, 20, 13, 0, 0).unwrap(), true)]
#[case(Utc.with_ymd_and_hms(2026, 11, 20, 22, 30, 0).unwrap(), true)]
#[case(Utc.with_ymd_and_hms(2026, 11, 20, 23, 0, 0).unwrap(), false)] // Saturday 00:00 in Berlin
#[case(Utc.with_ymd_and_hms(2026, 7, 17, 12, 0, 0).unwrap(), true)] // summer: 14:00 CEST
#[case(Utc.with_ymd_and_hms(2026, 7, 17, 11, 59, 59).unwrap(), false)]
#[case(Utc.with_ymd_and_hms(2026, 11, 19, 15, 0, 0).unwrap(), false)] // Thursday
fn weekly_freeze_in_its_time_zone(#[case] now: DateTime<Utc>, #[case] frozen: bool) {
    assert_eq!(in_freeze(&friday_afternoon_berlin(), now), frozen);
    let mut w = World::new();
    w.policy.freeze = vec![friday_afternoon_berlin()];
    let mut i = w.input();
    i.now = now;
    let r = evaluate(&i);
    assert_eq!(verdict(&r, "freeze") == Verdict::Fail, frozen);
    assert_eq!(r.go, !frozen);
}

#[rstest]
#[case(Utc.with_ymd_and_hms(2026, 12, 23, 22, 59, 59).unwrap(), false)] // 23:59:59 on the 23rd in Berlin
#[case(Utc.with_ymd_and_hms(2026, 12, 23, 23, 0, 0).unwrap(), true)] // 00:00 on the 24th
#[case(Utc.with_ymd_and_hms(2026, 12, 26, 22, 59, 59).unwrap(), true)] // last second of the 26th
#[case(Utc.with_ymd_and_hms(2026, 12, 26, 23, 0, 0).unwrap(), false)]
fn dated_freeze_is_inclusive_in_local_dates(#[case] now: DateTime<Utc>, #[case] frozen: bool) {
    let w = FreezeWindow {
        name: "holidays".into(),
        timezone: chrono_tz::Europe::Berlin,
        kind: FreezeKind::Dates {
            start: NaiveDate::from_ymd_opt(2026, 12, 24).unwrap(),
            end: NaiveDate::from_ymd_opt(2026, 12, 26).unwrap(),
        },
    };
    assert_eq!(in_freeze(&w, now), frozen);
}

#[test]
fn in_flight_unpinned_and_stale() {
    let w = World::new();
    let mut i = w.input();
    i.in_flight = Some("bob since 10:02".into());
    assert_eq!(verdict(&evaluate(&i), "not_in_flight"), Verdict::Fail);
    let mut i = w.input();
    i.digest = None;
    assert_eq!(verdict(&evaluate(&i), "pinned"), Verdict::Fail);
    let mut i = w.input();
    i.target_fresh = false;
    let r = evaluate(&i);
    assert_eq!(verdict(&r, "fresh"), Verdict::Fail);
    assert!(!r.go, "stale data never passes a gate");
}

#[test]
fn approvals_four_eyes_and_distinct() {
    let mut w = World::new();
    w.policy.approvals_required = 2;
    w.policy.four_eyes = true;
    w.approvers = vec!["alice".into(), "bob".into()];
    let r = evaluate(&w.input());
    assert_eq!(
        verdict(&r, "approvals"),
        Verdict::Pending,
        "the initiator never counts"
    );
    assert!(
        r.checks
            .iter()
            .any(|c| c.reason == "1 of 2 approvals (bob) · needs 1 approver")
    );
    w.approvers.push("carol".into());
    assert!(evaluate(&w.input()).go);
    // Without four eyes, the initiator's own approval counts.
    w.policy.four_eyes = false;
    w.approvers = vec!["alice".into(), "bob".into()];
    assert!(evaluate(&w.input()).go);
}

#[test]
fn checklist_items_must_be_ticked() {
    let mut w = World::new();
    w.policy.checklist = vec!["Release notes".into(), "On-call informed".into()];
    w.ticked = vec![true];
    let r = evaluate(&w.input());
    assert_eq!(verdict(&r, "checklist: Release notes"), Verdict::Pass);
    assert_eq!(verdict(&r, "checklist: On-call informed"), Verdict::Pending);
    assert!(!r.go);
    w.ticked = vec![true, true];
    assert!(evaluate(&w.input()).go);
}

#[rstest]
#[case(None, Verdict::Pending)]
#[case(Some("  "), Verdict::Pending)]
#[case(Some("CHG-12"), Verdict::Fail)]
#[case(Some("CHG-123456"), Verdict::Pass)]
fn change_record(#[case] id: Option<&str>, #[case] expect: Verdict) {
    let mut w = World::new();
    w.policy.change_record = Some(regex::Regex::new("^CHG-[0-9]{6}$").unwrap());
    let mut i = w.input();
    i.change_record = id;
    assert_eq!(verdict(&evaluate(&i), "change_record"), expect);
}

#[test]
fn hotfix_needs_a_reason_and_one_more_approval() {
    let mut w = World::new();
    w.policy.approvals_required = 1;
    w.approvers = vec!["bob".into()];
    let mut i = w.input();
    i.hotfix = true;
    let r = evaluate(&i);
    assert_eq!(verdict(&r, "approvals"), Verdict::Pending);
    assert_eq!(verdict(&r, "hotfix_reason"), Verdict::Pending);
    w.approvers.push("carol".into());
    let mut i = w.input();
    i.hotfix = true;
    i.hotfix_reason = Some("CVE fix");
    assert!(evaluate(&i).go);
}

#[test]
fn overrides_need_a_reason_and_the_policy() {
    let mut w = World::new();
    w.source = snap(RolloutState::Completed, &[AlarmState::Alarm]);
    w.overrides = vec![("alarms_ok".into(), "  ".into())];
    assert!(!evaluate(&w.input()).go, "an empty reason is no override");
    w.overrides = vec![(
        "alarms_ok".into(),
        "alarm is the known flaky synthetic".into(),
    )];
    let r = evaluate(&w.input());
    assert!(r.go);
    let c = r.checks.iter().find(|c| c.name == "alarms_ok").unwrap();
    assert!(c.overridden);
    assert!(
        c.reason
            .starts_with("OVERRIDDEN (alarm is the known flaky synthetic)")
    );
    w.policy.allow_override = false;
    let r = evaluate(&w.input());
    assert!(!r.go);
    assert!(
        r.checks
            .iter()
            .any(|c| c.reason.ends_with("(overrides are not allowed here)"))
    );
}

/// `(check, verdict, reason)` of `allowed_regions` for the world.
fn regions(w: &World) -> (Verdict, String) {
    let mut policy = w.policy.clone();
    policy.checks = vec![AutoCheck::AllowedRegions];
    let r = evaluate(&GateInput {
        policy: &policy,
        ..w.input()
    });
    let c = &r.checks[0];
    assert_eq!(c.name, "allowed_regions");
    (c.verdict, c.reason.clone())
}

fn eu_only() -> World {
    let mut w = World::new();
    w.policy.allowed_regions = vec!["fra".into(), "ams".into()];
    w
}

fn machines(placed: &[(&str, &str)]) -> Vec<Placement> {
    placed.iter().map(|(u, r)| Placement::new(*u, *r)).collect()
}

#[test]
fn allowed_regions_fails_naming_each_unit_outside() {
    let mut w = eu_only();
    w.regions = Some(machines(&[
        ("148ed726c5d918", "fra"),
        ("3d8d413b29d089", "iad"),
        ("5683d920b1e348", "AMS"),
        ("9080e6f3a1d2c4", "ord\u{1b}[2J"),
    ]));
    assert_eq!(
        regions(&w),
        (
            Verdict::Fail,
            "machine 3d8d413b29d089 runs in iad; machine 9080e6f3a1d2c4 runs in ord, \
             outside allowed_regions [fra, ams]"
                .to_string()
        )
    );
}

#[test]
fn allowed_regions_is_unknown_without_a_reading() {
    let w = eu_only();
    assert_eq!(
        regions(&w),
        (
            Verdict::Unknown,
            "the target's machines are not read".to_string()
        )
    );
}

#[test]
fn allowed_regions_passes_where_the_platform_has_no_regions() {
    let mut w = eu_only();
    w.places = false;
    assert_eq!(
        regions(&w),
        (
            Verdict::Pass,
            "the service runs on proxy, which has no regions".to_string()
        )
    );
    // And with no policy at all, whatever runs where.
    let mut w = World::new();
    w.regions = Some(machines(&[("3d8d413b29d089", "iad")]));
    assert_eq!(regions(&w), (Verdict::Pass, "no region policy".to_string()));
}

#[test]
fn allowed_regions_passes_inside() {
    let mut w = eu_only();
    w.regions = Some(machines(&[
        ("148ed726c5d918", "fra"),
        ("2a1b", "fra"),
        ("5683d920b1e348", "ams"),
        ("6c7d", "ams"),
    ]));
    assert_eq!(
        regions(&w),
        (Verdict::Pass, "4 machines in fra, ams".to_string())
    );
    // A service placed whole (ECS, Lambda): one unit, said in the singular.
    w.policy.allowed_regions = vec!["eu-central-1".into()];
    w.regions = Some(machines(&[("shop-api-prod", "eu-central-1")]));
    w.units = "services";
    assert_eq!(
        regions(&w),
        (Verdict::Pass, "1 service in eu-central-1".to_string())
    );
}

#[test]
fn allowed_regions_fails_the_gate_unless_overridden_where_allowed() {
    let mut w = eu_only();
    w.policy.checks.push(AutoCheck::AllowedRegions);
    w.regions = Some(machines(&[("3d8d413b29d089", "iad")]));
    assert_eq!(
        verdict(&evaluate(&w.input()), "allowed_regions"),
        Verdict::Fail
    );
    assert!(!evaluate(&w.input()).go);
    w.overrides = vec![("allowed_regions".into(), "EU capacity out, CHG-7".into())];
    w.policy.allow_override = false;
    assert!(!evaluate(&w.input()).go);
    w.policy.allow_override = true;
    let r = evaluate(&w.input());
    assert_eq!(verdict(&r, "allowed_regions"), Verdict::Pass);
    assert!(r.checks.iter().any(|c| c.overridden));
}
