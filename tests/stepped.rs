//! Stepped rollouts on the simulator, through the console's own code on a
//! paused clock: a canary that passes every step, one that aborts at 10 % on
//! a rule and sends all traffic back, a linear rollout paused for a decision
//! under four eyes, and blue/green switched back during its bake.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod console;
    pub mod screen;
    pub mod stepping;
}

use std::sync::Arc;

use shipdeck::app::Flow;
use shipdeck::ledger::{Record, RecordKind};
use shipdeck::model::{Decision, DeploymentRole, ServiceSnapshot};
use shipdeck::release::exec::Executor;
use shipdeck::release::step::{self, Verdict};
use shipdeck::release::{OpKind, Step};
use shipdeck::sim::FleetFile;
use support::console::{Harness, monday};

const FLEET: &str = include_str!("../assets/demo-fleet.toml");
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
    let exec = Executor::new(
        h.provider.clone(),
        h.cfg.environments.clone(),
        h.ledger.clone(),
        // A decision takes no lock: the console's watch holds the service's.
        shipdeck::lock::LockStore::Dir(std::env::temp_dir().join("shipdeck-stepped-no-locks")),
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
    };
    // Not paused: a continue has nothing to continue; a rollback is taken.
    let v = step::judge(
        &[],
        prod,
        "notifications",
        &shift,
        None,
        Decision::Continue,
        "alice",
        "",
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
        Decision::Rollback,
        "alice",
        "bad",
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
        support::stepping::paused_config(),
        &support::stepping::linear_fleet(),
        "alice",
        monday(),
    )
    .await;
    let l = h.ledger.clone();
    support::stepping::race_continues(&mut h, [l.clone(), l], 20).await;
}
