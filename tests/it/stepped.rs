//! Stepped rollouts on the simulator, through the console's own code on a
//! paused clock: a canary that passes every step, one that aborts at 10 % on
//! a rule and sends all traffic back, a linear rollout paused for a decision
//! under four eyes, and blue/green switched back during its bake.

use std::sync::Arc;

use shipdeck::app::Flow;
use shipdeck::ledger::{Record, RecordKind};
use shipdeck::model::{Decision, DeploymentRole, ServiceSnapshot};
use shipdeck::platforms::sim::FleetFile;
use shipdeck::release::exec::Executor;
use shipdeck::release::step::{self, Verdict};
use shipdeck::release::{OpKind, Step};

use crate::support::console::{Harness, monday};

const FLEET: &str = include_str!("../../assets/demo-fleet.toml");
const CANARY: &str = "strategy = \"canary\"\npercent = 10\ninterval = \"1m\"\nbake = \"20s\"";

/// The demo fleet with notifications in prod rolled out as `strategy`, plus `extra`.
fn fleet(strategy: &str, extra: &str) -> FleetFile {
    assert!(FLEET.contains(CANARY));
    FleetFile::parse(
        &format!("{}\n{extra}", FLEET.replace(CANARY, strategy)),
        "test-fleet.toml",
    )
    .unwrap()
}

/// A console on `fleet` with the demo configuration; `pause` and `approvals`
/// set prod's step policy.
async fn console(fleet: &FleetFile, pause: bool, approvals: u32) -> Harness {
    let mut cfg = shipdeck::config::demo().unwrap();
    let prod = cfg.env_index("prod").unwrap();
    cfg.environments[prod.index()].rollout.pause_steps = pause;
    cfg.environments[prod.index()].rollout.step_approvals = approvals;
    Harness::with_fleet(cfg, fleet, "alice", monday()).await
}

/// Promotes notifications to prod through the wizard; the watch opens.
/// Returns the traffic steps the wizard's plan showed.
async fn promote_notifications(h: &mut Harness) -> Vec<String> {
    h.open_prod_wizard("notifications").await;
    let traffic = match &h.app.flow {
        Some(Flow::Wizard(w)) => w.plan.traffic.clone(),
        other => panic!("no wizard: {other:?}"),
    };
    h.approve_and_confirm_prod().await;
    traffic
}

fn service(h: &Harness, name: &str) -> ServiceSnapshot {
    let prod = h.cfg.env_index("prod").unwrap();
    h.app.envs[prod]
        .snapshot
        .as_ref()
        .and_then(|s| s.service(name))
        .cloned()
        .unwrap()
}

fn steps(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.kind == RecordKind::Step)
        .flat_map(|r| r.draft.reasons.clone())
        .collect()
}

/// Ticks until the watched service's shift is at `step` (paused or not).
async fn until_step(h: &mut Harness, step: u32, limit: u64) -> shipdeck::model::Shift {
    for _ in 0..limit {
        h.tick(1).await;
        if let Some(sh) = step::in_flight(&service(h, "notifications"))
            && sh.step == step
        {
            return sh.clone();
        }
    }
    panic!("step {step} not reached in {limit}s: {:#?}", h.app.flow);
}

/// All traffic is on one revision: no shift in flight, one deployment serving.
fn all_traffic_on(s: &ServiceSnapshot) -> String {
    assert!(step::in_flight(s).is_none(), "{:#?}", s.deployments);
    let serving: Vec<_> = s.deployments.iter().filter(|d| d.running > 0).collect();
    assert_eq!(serving.len(), 1, "{:#?}", s.deployments);
    assert_eq!(serving[0].role, DeploymentRole::Primary);
    serving[0].task_definition.to_string()
}

#[tokio::test]
async fn a_canary_passes_every_step_and_each_is_recorded() {
    let mut h = console(&fleet(CANARY, ""), false, 0).await;
    let before = service(&h, "notifications");
    let plan = promote_notifications(&mut h).await;
    assert!(plan[1].ends_with("moves on by itself"), "{plan:#?}");
    let first = until_step(&mut h, 1, 60).await;
    assert_eq!(first.new_weight, 1_000);
    assert_eq!(first.weights, vec![1_000, 10_000]);
    assert!(first.pause.is_none());
    let board = h.screen(160, 40);
    assert!(board.contains("◐ canary 10% ·"), "{board}");
    let v = h.watch_until_over(400).await;
    assert_eq!(v.watch.outcome, Some(Step::Succeeded), "{:#?}", v.log);
    let after = service(&h, "notifications");
    assert_ne!(after.digest, before.digest);
    assert!(all_traffic_on(&after).ends_with(":2"), "{after:#?}");
    assert_eq!(
        steps(&h.records()),
        vec![
            "traffic at step 1 of 2 (10%)".to_string(),
            "traffic at step 2 of 2 (100%)".to_string()
        ]
    );
    assert!(h.kinds().contains(&RecordKind::DeploySucceeded));
}

#[tokio::test]
async fn a_canary_aborts_at_ten_percent_on_a_rule_and_the_old_revision_has_all_traffic() {
    let fault = r#"
[[fault]]
name = "notifications' new release answers 5xx"
env = "prod"
service = "shop-notifications-prod"
trigger = "deploy"
after = "10s"
effect = "error_rate"
value = 35.0
"#;
    let mut h = console(&fleet(CANARY, fault), true, 1).await;
    let before = service(&h, "notifications");
    let old = all_traffic_on(&before);
    let plan = promote_notifications(&mut h).await;
    assert_eq!(
        plan[1..3],
        [
            "  step 1: 10% on the new revision, held until 1 other person(s) continue (not the initiator)",
            "  step 2: 100% on the new revision, then bakes"
        ],
        "{plan:#?}"
    );
    let paused = until_step(&mut h, 1, 60).await;
    assert!(paused.pause.is_some(), "the prod policy pauses each step");
    let v = h.watch_until_over(400).await;
    // The deploy's watch aborted; the automatic rollback's watch succeeded.
    assert_eq!(v.watch.kind, OpKind::Rollback, "{:#?}", v.log);
    assert!(v.watch.automatic);
    assert_eq!(v.watch.outcome, Some(Step::Succeeded), "{:#?}", v.log);
    let records = h.records();
    let aborted = records
        .iter()
        .find(|r| r.kind == RecordKind::Aborted)
        .expect("an abort record");
    let why = aborted.draft.reasons.join("; ");
    assert!(why.contains("error rate above 5 %"), "{why}");
    assert_eq!(
        steps(&records),
        vec!["step 1 of 2 (10%) paused: awaiting a decision".to_string()],
        "it never went past 10 %"
    );
    let after = service(&h, "notifications");
    assert_eq!(after.digest, before.digest);
    assert_eq!(all_traffic_on(&after), old, "{after:#?}");
    let screen = h.screen(160, 40);
    assert!(screen.contains("error rate above 5 %"), "{screen}");
}

/// Another terminal: its own executor on the same ledger and fleet, as
/// `shipdeck step continue` runs.
async fn continue_as(h: &Harness, who: &str) -> Result<String, String> {
    let prod = h.cfg.env_index("prod").unwrap();
    let s = service(h, "notifications");
    let shift = step::in_flight(&s).cloned().unwrap();
    let locks = tempfile::tempdir().unwrap();
    let exec = Executor::new(
        h.provider.clone(),
        h.cfg.environments.clone(),
        h.ledger.clone(),
        // A decision takes no lock: the console's watch holds the service's.
        shipdeck::lock::LockStore::Dir(locks.path().to_path_buf()),
        who.to_string(),
        Arc::new(h.clock.clone()),
    );
    exec.decide_step(
        prod,
        "notifications",
        &shift,
        Decision::Continue,
        s.digest.as_ref().map(ToString::to_string),
        "metrics look fine",
        None,
        false,
    )
    .await
    .map(|(_, said)| said)
}

#[tokio::test]
async fn a_linear_rollout_paused_for_approval_continues_only_with_four_eyes() {
    let linear = "strategy = \"linear\"\npercent = 50\ninterval = \"30s\"\nbake = \"10s\"";
    let mut h = console(&fleet(linear, ""), true, 2).await;
    promote_notifications(&mut h).await;
    let paused = until_step(&mut h, 1, 60).await;
    assert_eq!(paused.kind, "linear");
    assert_eq!(paused.weights, vec![5_000, 10_000]);
    assert!(paused.pause.is_some());
    // Held: minutes pass, the step stays where it is, the watch does not time out.
    h.tick(11 * 60).await;
    let still = step::in_flight(&service(&h, "notifications"))
        .cloned()
        .unwrap();
    assert_eq!((still.step, still.pause.is_some()), (1, true));
    assert!(matches!(&h.app.flow, Some(Flow::Watch(v)) if v.outcome.is_none()));
    let screen = h.screen(160, 40);
    assert!(screen.contains("PAUSED at step 1 of 2 (50%)"), "{screen}");

    // The initiator cannot continue: not in the console, not from a shell.
    h.keys("c").await;
    let screen = h.screen(160, 40);
    assert!(
        screen.contains("four eyes: alice started this promotion"),
        "{screen}"
    );
    let refused = continue_as(&h, "alice").await.unwrap_err();
    assert!(refused.contains("four eyes"), "{refused}");
    // Two others: the first is an approval, twice counts once, the second moves it on.
    let first = continue_as(&h, "bob").await.unwrap();
    assert!(first.contains("approval 1 of 2"), "{first}");
    let twice = continue_as(&h, "bob").await.unwrap_err();
    assert!(twice.contains("no approver counts twice"), "{twice}");
    h.tick(5).await;
    assert_eq!(
        step::in_flight(&service(&h, "notifications")).unwrap().step,
        1
    );
    // The console's watch hears of it through the ledger.
    let screen = h.screen(160, 40);
    assert!(
        screen.contains("step 1 of 2 (50%): continue approval by bob (metrics look fine)"),
        "{screen}"
    );
    assert!(
        screen.contains("paused: no timeout while a person decides"),
        "{screen}"
    );
    let moved = continue_as(&h, "carol").await.unwrap();
    assert!(moved.contains("step 2 of 2"), "{moved}");
    let v = h.watch_until_over(300).await;
    assert_eq!(v.watch.outcome, Some(Step::Succeeded), "{:#?}", v.log);
    let decisions: Vec<(String, String)> = h
        .records()
        .iter()
        .filter(|r| r.kind == RecordKind::StepDecision)
        .map(|r| (r.draft.operator.clone(), r.draft.outcome.clone().unwrap()))
        .collect();
    assert_eq!(
        decisions,
        vec![
            ("bob".to_string(), "continue_approval".to_string()),
            ("carol".to_string(), "continue".to_string())
        ]
    );
    let last = h
        .records()
        .into_iter()
        .rfind(|r| r.kind == RecordKind::StepDecision)
        .unwrap();
    assert_eq!(last.draft.approvers, vec!["bob", "carol"]);
    assert_eq!(last.draft.reasons[1], "metrics look fine");
}

#[tokio::test]
async fn blue_green_switches_at_once_and_a_rollback_switches_the_weights_back() {
    let bg = "strategy = \"blue_green\"\nbake = \"5m\"";
    let mut h = console(&fleet(bg, ""), true, 1).await;
    let old = all_traffic_on(&service(&h, "notifications"));
    promote_notifications(&mut h).await;
    let live = until_step(&mut h, 1, 60).await;
    assert_eq!(
        (live.kind.as_str(), live.new_weight),
        ("blue/green", 10_000)
    );
    // All at once: nothing pauses, it bakes with blue warm.
    assert!(live.pause.is_none());
    assert_eq!(live.stage, "BAKE_TIME");
    let s = service(&h, "notifications");
    assert!(
        s.deployments
            .iter()
            .any(|d| d.role == DeploymentRole::Active && d.running == d.desired),
        "blue stays warm: {:#?}",
        s.deployments
    );
    // Abort during the bake: the rollback is one switch back to blue.
    h.keys("a").await;
    h.enter().await;
    for _ in 0..10 {
        h.tick(1).await;
        if step::in_flight(&service(&h, "notifications")).is_none() {
            break;
        }
    }
    let back = service(&h, "notifications");
    assert_eq!(all_traffic_on(&back), old, "{back:#?}");
    let v = h.watch_until_over(120).await;
    assert_eq!(v.watch.kind, OpKind::Rollback);
    assert_eq!(v.watch.outcome, Some(Step::Succeeded), "{:#?}", v.log);
    // The rollback started no new deployment: blue's own came back.
    let rollbacks = h
        .issued
        .iter()
        .filter(|c| {
            matches!(
                c,
                shipdeck::app::Command::Issue {
                    issue: shipdeck::release::exec::Issue::Rollback(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(rollbacks, 1);
    assert!(
        back.events
            .iter()
            .any(|e| e.message.contains("100% of the traffic is on")),
        "{:#?}",
        back.events
    );
}

#[test]
fn a_rollback_decision_is_never_held_for_approvals() {
    let cfg = shipdeck::config::demo().unwrap();
    let prod = &cfg.environments[cfg.env_index("prod").unwrap()];
    let shift = shipdeck::model::Shift {
        kind: "canary".into(),
        deployment: "d".into(),
        new_weight: 1_000,
        weights: vec![1_000, 10_000],
        step: 1,
        started: Vec::new(),
        stage: "PRODUCTION_TRAFFIC_SHIFT".into(),
        ends_at: None,
        pause: None,
        revisions: Vec::new(),
    };
    let ask = |decision, reason| step::Ask {
        decision,
        operator: "alice",
        reason,
        hold: None,
        now: monday(),
        cut_hold: false,
        demo_flag: "",
    };
    // Not paused: a continue has nothing to continue; a rollback is taken.
    let v = step::judge(
        &[],
        prod,
        "notifications",
        &shift,
        None,
        &ask(Decision::Continue, ""),
    );
    assert!(
        matches!(v, Verdict::Refused(ref w) if w.contains("not paused")),
        "{v:?}"
    );
    let v = step::judge(
        &[],
        prod,
        "notifications",
        &shift,
        None,
        &ask(Decision::Rollback, "bad"),
    );
    let Verdict::Apply(d) = v else {
        panic!("{v:?}")
    };
    assert_eq!(d.outcome.as_deref(), Some("rollback"));
    assert_eq!(d.reasons, vec!["step 1 of 2 (10%)", "bad"]);
}

#[tokio::test]
async fn two_people_continuing_one_step_at_once_write_one_continue() {
    let mut h = Harness::with_fleet(
        crate::support::stepping::paused_config(),
        &crate::support::stepping::linear_fleet(),
        "alice",
        monday(),
    )
    .await;
    let l = h.ledger.clone();
    crate::support::stepping::race_continues(&mut h, [l.clone(), l], 20).await;
}

/// The watched view, as it stands.
fn watch_view(h: &Harness) -> &shipdeck::app::flow::WatchView {
    match &h.app.flow {
        Some(Flow::Watch(v)) => v,
        other => panic!("no watch: {other:#?}"),
    }
}

/// Promotes notifications (a canary paused at 10 % for 1m) and ticks `held`
/// seconds into the pause; the step began at the returned time.
async fn paused_canary(approvals: u32, held: u64) -> (Harness, chrono::DateTime<chrono::Utc>) {
    let mut h = console(&fleet(CANARY, ""), true, approvals).await;
    promote_notifications(&mut h).await;
    let paused = until_step(&mut h, 1, 60).await;
    assert!(paused.pause.is_some());
    let began = paused.started[0];
    let now = shipdeck::clock::Clock::now(&h.clock);
    h.tick(held - u64::try_from((now - began).num_seconds()).unwrap())
        .await;
    (h, began)
}

/// At a pause the watch shows what to decide on: the new revision's error
/// rate and tasks beside the old one's over the time held, the hold's
/// countdown against the step's minute, and each rule live; nothing cut
/// off at 120×40 nor at 80×24.
#[tokio::test]
async fn a_paused_canary_shows_the_evidence_and_the_hold_counting_down() {
    let (mut h, _) = Box::pin(paused_canary(1, 28)).await;
    for (w, ht) in [(120, 40), (80, 24)] {
        let screen = h.screen(w, ht);
        insta::assert_snapshot!(format!("paused_canary_evidence_{w}x{ht}"), screen);
        assert!(screen.contains("held 28s of 1m: 32s left"), "{screen}");
        assert!(screen.contains("5xx %     new "), "{screen}");
        assert!(screen.contains("per revision"), "{screen}");
        assert!(
            screen.contains("tasks     new 2/2 running      old 2/2 running"),
            "{screen}"
        );
        assert!(
            screen.contains("✓ error rate above 5 % · 5xx % "),
            "{screen}"
        );
        assert!(screen.contains("PAUSED at step 1 of 2 (10%)"), "{screen}");
    }
    // The countdown moves with the clock.
    h.tick(10).await;
    let screen = h.screen(120, 40);
    assert!(screen.contains("held 38s of 1m: 22s left"), "{screen}");
    h.tick(30).await;
    let screen = h.screen(120, 40);
    assert!(screen.contains("held 1m8s of 1m: over"), "{screen}");
}

/// Continuing before the hold ends takes a second press (any other key
/// keeps holding), and the step decision record names who cut it short
/// and how much was left.
#[tokio::test]
async fn continuing_in_the_console_before_the_hold_ends_needs_a_second_press() {
    let (mut h, _) = Box::pin(paused_canary(0, 20)).await;
    h.keys("c").await;
    let screen = h.screen(120, 40);
    assert!(
        screen.contains("the hold has 40s left of 1m: continue anyway? c again continues"),
        "{screen}"
    );
    for (w, ht) in [(120, 40), (80, 24)] {
        insta::assert_snapshot!(format!("cut_hold_asked_{w}x{ht}"), h.screen(w, ht));
    }
    // Another key keeps holding: the next c asks again.
    h.keys("x").await;
    assert_eq!(watch_view(&h).cut_asked, None);
    h.tick(2).await;
    h.keys("c").await;
    assert!(
        !h.kinds().contains(&RecordKind::StepDecision),
        "asking records nothing"
    );
    h.keys("c").await;
    h.tick(2).await;
    let decision = h
        .records()
        .into_iter()
        .find(|r| r.kind == RecordKind::StepDecision)
        .expect("a step decision");
    assert_eq!(decision.draft.operator, "alice");
    assert_eq!(decision.draft.outcome.as_deref(), Some("continue"));
    assert_eq!(
        decision.draft.reasons.last().map(String::as_str),
        Some("hold cut short by alice with 38s of 1m left"),
        "{:?}",
        decision.draft.reasons
    );
    assert_eq!(
        step::in_flight(&service(&h, "notifications")).map(|s| s.step),
        Some(2)
    );
}

/// After the hold, one press continues, and the record says nothing was cut.
#[tokio::test]
async fn continuing_after_the_hold_takes_one_press_and_cuts_nothing() {
    let (mut h, _) = Box::pin(paused_canary(0, 61)).await;
    h.keys("c").await;
    h.tick(2).await;
    let decision = h
        .records()
        .into_iter()
        .find(|r| r.kind == RecordKind::StepDecision)
        .expect("a step decision");
    assert!(
        !decision
            .draft
            .reasons
            .iter()
            .any(|r| r.contains("cut short")),
        "{:?}",
        decision.draft.reasons
    );
}

/// `shipdeck step continue` in-process, as bob from another terminal.
async fn step_cli(
    h: &Harness,
    who: &str,
    cut_hold: bool,
) -> Result<shipdeck::cli::step::Report, shipdeck::cli::error::CliError> {
    let prod = h.cfg.env_index("prod").unwrap();
    let locks = tempfile::tempdir().unwrap();
    let exec = Executor::new(
        h.provider.clone(),
        h.cfg.environments.clone(),
        h.ledger.clone(),
        shipdeck::lock::LockStore::Dir(locks.path().to_path_buf()),
        who.to_string(),
        Arc::new(h.clock.clone()),
    );
    let driver = shipdeck::cli::release::Driver::with(
        &h.cfg,
        h.provider.clone(),
        exec,
        Arc::new(h.clock.clone()),
        prod,
    )
    .unwrap();
    let args = shipdeck::cli::step::StepArgs {
        decision: shipdeck::cli::step::Choice::Continue,
        service: "notifications".into(),
        env: "prod".into(),
        reason: Some("canary clean".into()),
        yes: true,
        cut_hold,
        json: true,
        demo: false,
    };
    shipdeck::cli::step::decide(&driver, who, &args).await
}

/// The command line: before the hold ends a continue is held (exit 1,
/// saying how long is left) unless `--cut-hold`; then the record names
/// who cut it short; the JSON carries the evidence either way.
#[tokio::test]
async fn step_continue_before_the_hold_ends_needs_cut_hold_and_names_the_person() {
    let (h, _) = Box::pin(paused_canary(1, 10)).await;
    let held = step_cli(&h, "bob", false).await.unwrap();
    assert_eq!((held.outcome, held.code()), ("held", 1));
    assert!(
        held.said
            .starts_with("the hold has 50s left of 1m: wait, or pass --cut-hold"),
        "{}",
        held.said
    );
    assert!(!h.kinds().contains(&RecordKind::StepDecision));
    let json = serde_json::to_value(&held).unwrap();
    let ev = &json["evidence"];
    assert_eq!(ev["step"], "step 1 of 2 (10%)");
    assert_eq!(ev["hold"]["min_secs"], 60);
    assert_eq!(ev["hold"]["left_secs"], 50);
    assert_eq!(ev["hold"]["said"], "held 10s of 1m: 50s left");
    assert_eq!(ev["rows"][0]["measure"], "5xx %");
    assert_eq!(ev["rows"][0]["source"], "per revision");
    assert!(ev["rows"][0]["new"]["value"].is_number(), "{ev:#}");
    assert!(ev["rows"][0]["old"]["value"].is_number(), "{ev:#}");
    assert_eq!(ev["rows"][1]["measure"], "tasks");
    assert_eq!(ev["rows"][2]["measure"], "health");

    let cut = step_cli(&h, "bob", true).await.unwrap();
    assert_eq!((cut.outcome, cut.code()), ("applied", 0), "{}", cut.said);
    assert_eq!(
        cut.hold_cut.as_deref(),
        Some("hold cut short by bob with 50s of 1m left")
    );
    let decision = h
        .records()
        .into_iter()
        .find(|r| r.kind == RecordKind::StepDecision)
        .expect("a step decision");
    assert_eq!(decision.draft.operator, "bob");
    assert_eq!(
        decision.draft.reasons,
        [
            "step 1 of 2 (10%)",
            "canary clean",
            "hold cut short by bob with 50s of 1m left"
        ]
    );
    // The console's watch hears of it, with the hold cut short.
    let mut h = h;
    h.tick(1).await;
    let log: Vec<&String> = watch_view(&h).log.iter().map(|(_, l)| l).collect();
    assert!(
        log.iter().any(|l| l.as_str()
            == "step 1 of 2 (10%): continue by bob (canary clean; hold cut short by bob with 50s of 1m left)"),
        "{log:#?}"
    );
}

/// The demo's api into prod with its bad release, through the console:
/// the confirmation lists every rule the watch runs; the watch shows each
/// live, sees the error rate cross its limit, aborts on that rule, and the
/// automatic rollback keeps the numbers it aborted on.
#[tokio::test]
async fn the_confirmation_lists_each_rule_and_the_watch_shows_it_cross() {
    let fault = r#"
[[fault]]
name = "api's new release answers 5xx"
env = "prod"
service = "shop-api-prod"
trigger = "deploy"
after = "10s"
effect = "error_rate"
value = 35.0
"#;
    let mut h = console(&fleet(CANARY, fault), true, 1).await;
    h.open_prod_wizard("api").await;
    h.approve("bob");
    h.approve("carol");
    h.tick(3).await;
    assert!(h.gate_go(), "{:#?}", h.app.flow);
    h.keys("g").await;
    for (w, ht) in [(120, 40), (80, 24)] {
        let screen = h.screen(w, ht);
        insta::assert_snapshot!(format!("confirm_lists_rules_{w}x{ht}"), screen);
        for rule in [
            "rule \"error rate above 5 %\": 5xx % above 5 for 1m",
            "rule \"p95 above the 400 ms SLO\": p95 ms above 400 for 1m",
            "health fails for 15s",
            "an alarm enters ALARM",
        ] {
            assert!(screen.contains(rule), "{w}x{ht}: {rule}\n{screen}");
        }
    }
    h.keys("prod").await;
    h.enter().await;
    h.tick(4).await;
    for (w, ht) in [(120, 40), (80, 24)] {
        let screen = h.screen(w, ht);
        insta::assert_snapshot!(format!("watch_rules_live_{w}x{ht}"), screen);
        assert!(
            screen.contains("✓ error rate above 5 % · 5xx % "),
            "{screen}"
        );
    }
    // The release starts failing: the rule crosses, the watch aborts on it.
    for _ in 0..30 {
        h.tick(1).await;
        if watch_view(&h).watch.automatic {
            break;
        }
    }
    let screen = h.screen(120, 40);
    insta::assert_snapshot!("watch_rule_crossed_120x40", screen);
    assert!(
        screen
            .contains("✗ error rate above 5 % · 5xx % 35 (limit 5) · above for 1 of 1 min: aborts"),
        "{screen}"
    );
    let v = h.watch_until_over(300).await;
    assert_eq!(v.outcome, Some(shipdeck::release::Outcome::RolledBack));
    let screen = h.screen(120, 40);
    assert!(
        screen.contains("ROLLED BACK (aborted: rule \"error rate above 5 %\""),
        "{screen}"
    );
    assert!(
        screen.contains("the deploy's rules when it aborted:"),
        "{screen}"
    );
}

/// The binary's `step continue --json` carries the evidence; whether it is
/// held says what the evidence's hold says (the demo runs on the wall clock).
#[test]
fn step_continue_json_from_the_binary_carries_the_evidence() {
    let data = tempfile::tempdir().unwrap();
    let run = |who: &str, args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"))
            .env("XDG_DATA_HOME", data.path())
            .env("XDG_STATE_HOME", data.path().join("state"))
            .env("SHIPDECK_OPERATOR", who)
            .env("SHIPDECK_LOG_FILE", data.path().join("log"))
            .args(args)
            .output()
            .unwrap()
    };
    crate::support::demo_canary::start(run);
    let step = [
        "step",
        "continue",
        "notifications",
        "--env",
        "prod",
        "--demo",
        "--yes",
        "--json",
    ];
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    let json: serde_json::Value = loop {
        let out = run("bob", &step);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !stdout.trim().is_empty() {
            let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
            let held = json["outcome"] == "held";
            assert_eq!(out.status.code(), Some(i32::from(held)), "{stdout}");
            break json;
        }
        // Until the canary reaches its first step and pauses there.
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("not paused") || err.contains("no stepped rollout"),
            "{err}"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the canary never paused: {err}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    let ev = &json["evidence"];
    assert_eq!(ev["step"], "step 1 of 2 (10%)", "{json:#}");
    assert_eq!(ev["paused"], true);
    assert_eq!(ev["hold"]["min_secs"], 60);
    assert_eq!(ev["rows"][0]["measure"], "5xx %");
    assert_eq!(ev["rows"][0]["source"], "per revision");
    assert!(
        ev["new_revision"]
            .as_str()
            .unwrap()
            .starts_with("shop-notifications:")
    );
    // Held exactly while the evidence says the hold is not over.
    let over = ev["hold"]["over"] == true;
    assert_eq!(json["outcome"] == "held", !over, "{json:#}");
}

/// The simulator's canary reads the error rate for each revision apart: a
/// fault its deploy brought hits the new tasks, not the old ones.
#[tokio::test]
async fn the_simulated_canary_reads_each_revision_apart() {
    let fault = r#"
[[fault]]
name = "notifications' new release answers 5xx"
env = "prod"
service = "shop-notifications-prod"
trigger = "deploy"
after = "10s"
effect = "error_rate"
value = 35.0
"#;
    let mut cfg = shipdeck::config::demo().unwrap();
    let prod = cfg.env_index("prod").unwrap();
    let rollout = &mut cfg.environments[prod.index()].rollout;
    rollout.pause_steps = true;
    rollout.step_approvals = 0;
    // No metric rule: the watch goes on, and the numbers can be read.
    rollout.rules.clear();
    rollout.max_error_rate_increase = None;
    let mut h = Harness::with_fleet(cfg, &fleet(CANARY, fault), "alice", monday()).await;
    promote_notifications(&mut h).await;
    let paused = until_step(&mut h, 1, 60).await;
    let before = &paused.revisions[0];
    assert_eq!(before.label, "5xx %");
    assert!(before.new.last().unwrap().unwrap() < 1.0, "{before:?}");
    h.tick(15).await;
    let s = service(&h, "notifications");
    let sides = &step::in_flight(&s).unwrap().revisions[0];
    assert_eq!(sides.new.last().copied().flatten(), Some(35.0), "{sides:?}");
    assert!(sides.old.last().unwrap().unwrap() < 1.0, "{sides:?}");
    // Minutes before the deploy: the new revision did not run.
    assert_eq!(sides.new.first().copied().flatten(), None);
    let screen = h.screen(120, 40);
    assert!(screen.contains("5xx %     new 35 "), "{screen}");
}
