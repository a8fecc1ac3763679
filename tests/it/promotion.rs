//! Promotion scenarios end to end through the console's own code: keys into the
//! pure `update`, commands through `runtime::execute` (locks, ledger, provider),
//! the simulated fleet on a paused clock.

mod logs_pane;
mod regions;
mod wizard_ledger;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use shipdeck::app::Flow;
use shipdeck::app::flow::Phase;
use shipdeck::app::keys::{Key, KeyCode};
use shipdeck::clock::Clock;
use shipdeck::config::EnvId;
use shipdeck::gate::Verdict;
use shipdeck::ledger::RecordKind;
use shipdeck::platforms::sim::Fault;
use shipdeck::release::{OpKind, Step};

use crate::support::console::{Harness, monday};

/// Opens the wizard for `service` into staging, ticks the checklist, gets bob's
/// approval and confirms (staging confirms with Enter).
async fn promote_to_staging(h: &mut Harness, service: &str) {
    h.select(service, "staging");
    h.keys("p").await;
    assert!(
        matches!(h.app.flow, Some(Flow::Wizard(_))),
        "{:?}",
        h.app.message
    );
    h.key(Key::ch(' ')).await; // "Release notes updated"
    h.approve("bob");
    h.tick(3).await;
    assert!(h.gate_go(), "{:#?}", h.app.flow);
    h.keys("g").await;
    h.enter().await;
    assert!(matches!(h.app.flow, Some(Flow::Watch(_))));
}

#[tokio::test]
async fn happy_path_dev_to_staging_to_prod() {
    let mut h = Harness::new("alice", monday()).await;
    let dev = h.digest("checkout", "dev");
    assert_ne!(dev, h.digest("checkout", "staging"));

    promote_to_staging(&mut h, "checkout").await;
    let v = h.watch_until_over(120).await;
    assert_eq!(v.watch.outcome, Some(Step::Succeeded));
    assert_eq!(h.digest("checkout", "staging"), dev);
    h.esc().await;

    // The prod gate wants the digest soaked a day in staging.
    h.open_prod_wizard("checkout").await;
    assert_eq!(h.check("soak").verdict, Verdict::Pending);
    assert!(!h.gate_go());
    h.keys("g").await;
    assert!(matches!(&h.app.flow, Some(Flow::Wizard(w)) if w.confirming.is_none()));
    h.esc().await;
    h.clock.advance(Duration::from_hours(25));
    h.tick(3).await;

    h.open_prod_wizard("checkout").await;
    assert_eq!(h.check("soak").verdict, Verdict::Pass);
    h.approve_and_confirm_prod().await;
    let v = h.watch_until_over(180).await;
    assert_eq!(v.watch.outcome, Some(Step::Succeeded));
    assert_eq!(h.digest("checkout", "prod"), dev);

    let kinds = h.kinds();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == RecordKind::DeploySucceeded)
            .count(),
        2
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == RecordKind::RevisionMarkedStable)
            .count(),
        2
    );
    // Records come in the order the audit needs: gate, then issue, then outcome.
    let prod: Vec<RecordKind> = h
        .records()
        .iter()
        .filter(|r| r.draft.env.as_deref() == Some("prod"))
        .map(|r| r.kind)
        .collect();
    let pos = |k| prod.iter().rposition(|x| *x == k).unwrap();
    assert!(pos(RecordKind::GateEvaluated) < pos(RecordKind::DeployIssued));
    assert!(pos(RecordKind::DeployIssued) < pos(RecordKind::DeploySucceeded));
    let issued = h
        .records()
        .into_iter()
        .rfind(|r| r.kind == RecordKind::DeploySucceeded)
        .unwrap();
    assert_eq!(issued.draft.change_record.as_deref(), Some("CHG-1234"));
    assert_eq!(issued.draft.operator, "alice");
    let gate = h
        .records()
        .into_iter()
        .rfind(|r| r.kind == RecordKind::GateEvaluated)
        .unwrap();
    assert_eq!(
        gate.draft.approvers,
        vec!["bob".to_string(), "carol".to_string()]
    );
    assert!(
        shipdeck::ledger::verify_text(&std::fs::read_to_string(h.ledger.path()).unwrap()).is_ok()
    );
    // The lock is gone once the watch is over.
    assert!(
        h.exec
            .holder(h.cfg.env_index("prod").unwrap(), "checkout")
            .is_none()
    );
}

#[tokio::test]
async fn failed_rollout_rolls_back_to_the_previous_digest() {
    let mut h = Harness::new("alice", monday()).await;
    let before = h.digest("checkout", "staging");
    h.fleet.inject(Fault::RolloutFails {
        env: "staging".into(),
        service: "shop-checkout-staging".into(),
    });
    promote_to_staging(&mut h, "checkout").await;
    let v = h.watch_until_over(180).await;
    assert_eq!(v.watch.kind, OpKind::Rollback);
    assert!(v.watch.automatic);
    assert_eq!(v.watch.outcome, Some(Step::Succeeded));
    assert_eq!(h.digest("checkout", "staging"), before);
    let kinds = h.kinds();
    for k in [
        RecordKind::DeployIssued,
        RecordKind::Aborted,
        RecordKind::RollbackIssued,
        RecordKind::RollbackSucceeded,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing from {kinds:?}");
    }
    let aborted = h
        .records()
        .into_iter()
        .find(|r| r.kind == RecordKind::Aborted)
        .unwrap();
    assert!(
        aborted.draft.reasons[0].contains("rollout failed"),
        "{aborted:?}"
    );
}

#[tokio::test]
async fn alarm_during_the_watch_aborts() {
    let mut h = Harness::new("alice", monday()).await;
    let before = h.digest("checkout", "staging");
    h.fleet.inject(Fault::AlarmFiresDuringDeploy {
        env: "staging".into(),
        service: "shop-checkout-staging".into(),
        alarm: "shop-checkout-staging-5xx".into(),
        after: Duration::from_secs(5),
    });
    promote_to_staging(&mut h, "checkout").await;
    let v = h.watch_until_over(180).await;
    assert!(v.watch.automatic, "{:?}", v.log);
    let aborted = h
        .records()
        .into_iter()
        .find(|r| r.kind == RecordKind::Aborted)
        .unwrap();
    assert!(
        aborted.draft.reasons[0].contains("shop-checkout-staging-5xx"),
        "{aborted:?}"
    );
    assert_eq!(h.digest("checkout", "staging"), before);
}

#[tokio::test]
async fn ecs_circuit_breaker_self_rollback_is_a_failure() {
    let mut h = Harness::new("alice", monday()).await;
    h.fleet.inject(Fault::CircuitBreakerRollback {
        env: "staging".into(),
        service: "shop-checkout-staging".into(),
    });
    promote_to_staging(&mut h, "checkout").await;
    let v = h.watch_until_over(120).await;
    assert_eq!(v.watch.kind, OpKind::Deploy);
    match &v.watch.outcome {
        Some(Step::Failed(why)) => assert!(
            why.starts_with(
                "the platform rolled the deployment back by itself (ECS's circuit breaker or alarm rollback): "
            ),
            "{why}"
        ),
        other => panic!("expected a failure, got {other:?}"),
    }
    let kinds = h.kinds();
    assert!(kinds.contains(&RecordKind::DeployFailed));
    assert!(!kinds.contains(&RecordKind::DeploySucceeded));
    // ECS already went back; shipdeck issues no rollback of its own.
    assert!(!kinds.contains(&RecordKind::RollbackIssued));
    assert_eq!(h.issued.len(), 1);
}

#[tokio::test]
async fn freeze_window_blocks_prod() {
    // 25 December, 10:00 in Berlin: inside the demo's holiday freeze.
    let at = Utc.with_ymd_and_hms(2026, 12, 25, 9, 0, 0).unwrap();
    let mut h = Harness::new("alice", at).await;
    h.open_prod_wizard("api").await;
    h.approve("bob");
    h.approve("carol");
    h.tick(3).await;
    let freeze = h.check("freeze");
    assert_eq!(freeze.verdict, Verdict::Fail);
    assert!(freeze.reason.contains("holiday freeze"));
    assert!(!h.gate_go());
    h.keys("g").await;
    h.keys("prod").await;
    h.enter().await;
    assert!(h.issued.is_empty());
    assert!(!h.kinds().contains(&RecordKind::DeployIssued));
}

#[tokio::test]
async fn self_approval_is_refused_and_never_counts() {
    let mut h = Harness::new("alice", monday()).await;
    h.open_prod_wizard("api").await;
    let id = h.promotion();
    let err = shipdeck::approvals::approve(
        &h.ledger,
        &id,
        "alice",
        None,
        &h.cfg.environments[2].gate,
        &h.cfg.roles,
        h.clock.now(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("four eyes"), "{err}");
    h.approve("bob");
    h.tick(3).await;
    assert_eq!(h.check("approvals").verdict, Verdict::Pending);
    assert!(h.check("approvals").reason.contains("1 of 2"));
}

#[tokio::test]
async fn missing_change_record_blocks_prod() {
    let mut h = Harness::new("alice", monday()).await;
    h.select("api", "prod");
    h.keys("p").await;
    h.keys(" j ").await;
    h.approve("bob");
    h.approve("carol");
    h.tick(3).await;
    assert_eq!(h.check("change_record").verdict, Verdict::Pending);
    assert!(!h.gate_go());
    // A record that does not match the pattern fails.
    h.keys("j").await;
    h.enter().await;
    h.keys("JIRA-1").await;
    h.enter().await;
    assert_eq!(h.check("change_record").verdict, Verdict::Fail);
    h.keys("g").await;
    assert!(h.issued.is_empty());
    // Fixing it makes the gate GO.
    h.enter().await;
    for _ in 0..6 {
        h.key(Key::plain(KeyCode::Backspace)).await;
    }
    h.keys("CHG-0042").await;
    h.enter().await;
    assert!(h.gate_go(), "{:#?}", h.app.flow);
}

#[tokio::test]
async fn hotfix_skips_a_stage_with_a_reason_and_an_extra_approval() {
    let mut h = Harness::new("alice", monday()).await;
    let dev = h.digest("checkout", "dev");
    // search runs 2.5.0 in dev and staging; use checkout, which differs in every stage.
    h.open_prod_wizard("checkout").await;
    h.keys("h").await; // source: staging → dev
    let Some(Flow::Wizard(w)) = &h.app.flow else {
        panic!("wizard closed: {:?}", h.app.message)
    };
    assert!(w.plan.hotfix);
    assert_eq!(w.plan.source_name, "dev");
    // Soak is measured in the source: 3 h in dev is not a day.
    assert_eq!(h.check("hotfix_reason").verdict, Verdict::Pending);
    h.approve("bob");
    h.approve("carol");
    h.tick(3).await;
    let approvals = h.check("approvals");
    assert_eq!(approvals.verdict, Verdict::Pending);
    assert!(approvals.reason.contains("2 of 3"), "{}", approvals.reason);
    h.approve("dave");
    // Move to the hotfix reason row and write one.
    h.keys("jjj").await;
    h.enter().await;
    h.keys("payments down, fix in 1.10.0").await;
    h.enter().await;
    h.tick(3).await;
    assert_eq!(h.check("hotfix_reason").verdict, Verdict::Pass);
    assert_eq!(h.check("approvals").verdict, Verdict::Pass);
    // The prod soak policy still applies to the dev digest (3 h < 24 h).
    assert_eq!(h.check("soak").verdict, Verdict::Pending);
    assert!(!h.gate_go());
    h.esc().await;
    let cancelled = h
        .records()
        .into_iter()
        .rfind(|r| r.kind == RecordKind::Aborted)
        .unwrap();
    assert!(cancelled.draft.hotfix);
    assert_ne!(h.digest("checkout", "prod"), dev);
}

#[tokio::test]
async fn hotfix_deploys_and_is_marked_on_the_record() {
    let mut h = Harness::new("alice", monday()).await;
    h.clock.advance(Duration::from_hours(25));
    h.tick(3).await;
    let dev = h.digest("checkout", "dev");
    h.open_prod_wizard("checkout").await;
    h.keys("h").await;
    h.keys("jjj").await;
    h.enter().await;
    h.keys("checkout broken in prod").await;
    h.enter().await;
    h.approve("dave");
    h.approve_and_confirm_prod().await;
    let v = h.watch_until_over(180).await;
    assert_eq!(v.watch.outcome, Some(Step::Succeeded));
    assert_eq!(h.digest("checkout", "prod"), dev);
    let issued = h
        .records()
        .into_iter()
        .find(|r| r.kind == RecordKind::DeployIssued)
        .unwrap();
    assert!(issued.draft.hotfix);
    assert!(
        issued.draft.reasons[0].contains("hotfix from dev"),
        "{issued:?}"
    );
    assert_eq!(issued.draft.approvers.len(), 3);
}

#[tokio::test]
async fn abort_by_hand_asks_then_rolls_back() {
    let mut h = Harness::new("alice", monday()).await;
    let before = h.digest("checkout", "staging");
    promote_to_staging(&mut h, "checkout").await;
    h.tick(4).await;
    h.keys("a").await;
    assert!(matches!(&h.app.flow, Some(Flow::Watch(v)) if v.phase == Phase::ConfirmAbort));
    // Changing one's mind costs nothing.
    h.esc().await;
    assert!(matches!(&h.app.flow, Some(Flow::Watch(v)) if v.phase == Phase::Watching));
    assert_eq!(h.issued.len(), 1);
    h.keys("a").await;
    h.enter().await;
    let v = h.watch_until_over(180).await;
    assert_eq!(v.watch.kind, OpKind::Rollback);
    assert_eq!(v.watch.outcome, Some(Step::Succeeded));
    assert_eq!(h.digest("checkout", "staging"), before);
    let aborted = h
        .records()
        .into_iter()
        .find(|r| r.kind == RecordKind::Aborted)
        .unwrap();
    assert!(aborted.draft.reasons[0].contains("by hand"));
}

#[tokio::test]
async fn rollback_uses_the_stable_record_then_falls_back_unverified() {
    let mut h = Harness::new("alice", monday()).await;
    // Nothing recorded yet: the newest older ACTIVE revision, labelled unverified.
    h.select("api", "staging");
    h.keys("r").await;
    let Some(Flow::Rollback(d)) = &h.app.flow else {
        panic!("no dialog: {:?}", h.app.message)
    };
    assert!(!d.target.verified);
    assert_eq!(d.target.revision.number().unwrap(), 3);
    h.esc().await;
    assert!(h.issued.is_empty());

    // Promote checkout, then roll it back with r: the dialog targets the old revision.
    let before = h.digest("checkout", "staging");
    promote_to_staging(&mut h, "checkout").await;
    h.watch_until_over(120).await;
    h.esc().await;
    h.select("checkout", "staging");
    h.keys("r").await;
    assert!(matches!(h.app.flow, Some(Flow::Rollback(_))));
    h.enter().await;
    let v = h.watch_until_over(120).await;
    assert_eq!(v.watch.outcome, Some(Step::Succeeded));
    assert_eq!(h.digest("checkout", "staging"), before);
    // Now the promoted revision and the rolled-back-to one are both stable:
    // the next rollback goes to the recorded one, verified.
    h.esc().await;
    h.keys("r").await;
    let Some(Flow::Rollback(d)) = &h.app.flow else {
        panic!("no dialog: {:?}", h.app.message)
    };
    assert!(d.target.verified);
    assert_eq!(d.target.revision.number().unwrap(), 4);
}

#[tokio::test]
async fn read_only_refuses_the_wizard_and_rollback() {
    let mut h = Harness::new("alice", monday()).await;
    h.app.read_only = true;
    h.select("api", "prod");
    h.keys("pr").await;
    assert!(h.app.flow.is_none());
    assert!(h.app.message.as_ref().unwrap().1.contains("read-only"));
}

#[tokio::test]
async fn a_lock_held_elsewhere_blocks_the_gate() {
    let mut h = Harness::new("alice", monday()).await;
    let dir = h.ledger.path().parent().unwrap().join("locks");
    let _held = shipdeck::lock::acquire(
        &dir,
        "staging",
        "checkout",
        "zoe",
        "promotion",
        h.clock.now(),
    )
    .unwrap();
    h.select("checkout", "staging");
    h.keys("p").await;
    h.tick(3).await;
    let c = h.check("not_in_flight");
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(c.reason.contains("zoe"), "{}", c.reason);
}

mod no_mutation_without_confirmation {
    use super::*;
    use proptest::prelude::*;
    use shipdeck::app::{Command, Msg, update};
    use shipdeck::config::Confirm;
    use shipdeck::release::exec::Issue;

    #[derive(Debug, Clone)]
    enum Input {
        Key(Key),
        Tick,
        Approve(&'static str),
    }

    fn inputs() -> impl Strategy<Value = Input> {
        let keys = [
            Key::ch('p'),
            Key::ch('r'),
            Key::ch('g'),
            Key::ch('y'),
            Key::ch('n'),
            Key::ch('a'),
            Key::ch('w'),
            Key::ch('h'),
            Key::ch('j'),
            Key::ch('k'),
            Key::ch('l'),
            Key::ch(' '),
            Key::ch('x'),
            Key::ch('s'),
            Key::ch('p'),
            Key::ch('r'),
            Key::ch('o'),
            Key::ch('d'),
            Key::ch('C'),
            Key::plain(KeyCode::Enter),
            Key::plain(KeyCode::Enter),
            Key::plain(KeyCode::Esc),
            Key::plain(KeyCode::Backspace),
            Key::plain(KeyCode::Tab),
            Key::plain(KeyCode::Left),
            Key::plain(KeyCode::Right),
            Key::plain(KeyCode::Down),
        ];
        prop_oneof![
            6 => proptest::sample::select(keys.to_vec()).prop_map(Input::Key),
            2 => Just(Input::Tick),
            1 => proptest::sample::select(vec!["bob", "carol", "dave"]).prop_map(Input::Approve),
        ]
    }

    /// Whether `key` accepts a confirmation dialog in the app's current state.
    fn accepts_confirmation(h: &Harness, key: Key) -> Option<&'static str> {
        let mode = |env: EnvId| h.cfg.environments[env].confirm;
        match &h.app.flow {
            Some(Flow::Wizard(w)) => match &w.confirming {
                Some(typed)
                    if key.code == KeyCode::Enter
                        && (mode(w.plan.target) == Confirm::Enter
                            || *typed == w.plan.target_name) =>
                {
                    Some("deploy")
                }
                _ => None,
            },
            Some(Flow::Rollback(d))
                if key.code == KeyCode::Enter
                    && (mode(d.env) == Confirm::Enter
                        || d.typed == h.cfg.environments[d.env].name) =>
            {
                Some("rollback")
            }
            Some(Flow::Watch(v)) if !v.minimised => match (&v.phase, key.code) {
                (Phase::ConfirmAbort, KeyCode::Enter | KeyCode::Char('y'))
                | (Phase::Deciding(_), KeyCode::Char('y')) => Some("rollback"),
                _ => None,
            },
            _ => None,
        }
    }

    fn issues(cmds: &[Command]) -> Vec<Issue> {
        cmds.iter()
            .filter_map(|c| match c {
                Command::Issue { issue, .. } => Some(issue.clone()),
                _ => None,
            })
            .collect()
    }

    async fn run(inputs: Vec<Input>) -> Result<(), TestCaseError> {
        let mut h = Harness::new("alice", monday()).await;
        let mut confirmed_deploys = 0usize;
        for input in inputs {
            let before = h.issued.len();
            match input {
                Input::Key(key) => {
                    let accepted = accepts_confirmation(&h, key);
                    let cmds = update(&mut h.app, Msg::Key(key));
                    let direct = issues(&cmds);
                    match (accepted, direct.as_slice()) {
                        (Some("deploy"), [Issue::Deploy(_)]) => confirmed_deploys += 1,
                        (_, []) | (Some("rollback"), [Issue::Rollback(_)]) => {}
                        (a, d) => {
                            return Err(TestCaseError::fail(format!(
                                "{key:?} issued {d:?} without a confirmation (accepted: {a:?})"
                            )));
                        }
                    }
                    h.pump(cmds).await;
                    // Everything else it led to must be a rollback of a confirmed deploy.
                    let later = &h.issued[before + direct.len()..];
                    prop_assert!(
                        later.iter().all(|c| matches!(
                            c,
                            Command::Issue {
                                issue: Issue::Rollback(_),
                                ..
                            }
                        )) && (later.is_empty() || confirmed_deploys > 0),
                        "unconfirmed follow-up: {later:?}"
                    );
                }
                Input::Tick => {
                    h.tick(1).await;
                    let later = &h.issued[before..];
                    prop_assert!(
                        later.iter().all(|c| matches!(
                            c,
                            Command::Issue {
                                issue: Issue::Rollback(_),
                                ..
                            }
                        )) && (later.is_empty() || confirmed_deploys > 0),
                        "a tick issued {later:?}"
                    );
                }
                Input::Approve(who) => {
                    if matches!(h.app.flow, Some(Flow::Wizard(_))) {
                        let target = match &h.app.flow {
                            Some(Flow::Wizard(w)) => w.plan.target,
                            _ => EnvId(0),
                        };
                        let _ = shipdeck::approvals::approve(
                            &h.ledger,
                            &h.promotion(),
                            who,
                            None,
                            &h.cfg.environments[target].gate,
                            &h.cfg.roles,
                            h.clock.now(),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
        #[test]
        fn no_deploy_or_rollback_without_confirmation(
            near_go in any::<bool>(),
            inputs in proptest::collection::vec(inputs(), 1..120),
        ) {
            // Half the cases start in a staging wizard one keystroke from GO, so that
            // confirmations, deploys, aborts and rollbacks are actually reached.
            let mut all = if near_go { near_go_prefix() } else { Vec::new() };
            all.extend(inputs);
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(run(all))?;
        }
    }

    /// checkout → staging wizard, checklist ticked, bob approved.
    fn near_go_prefix() -> Vec<Input> {
        vec![
            Input::Key(Key::ch('j')),
            Input::Key(Key::ch('j')),
            Input::Key(Key::ch('l')),
            Input::Key(Key::ch('p')),
            Input::Key(Key::ch(' ')),
            Input::Approve("bob"),
            Input::Tick,
            Input::Tick,
            Input::Tick,
        ]
    }

    /// The oracle above must be able to see a confirmed deploy, or the property is empty.
    #[tokio::test]
    async fn the_property_can_reach_a_deploy() {
        let mut inputs = near_go_prefix();
        inputs.push(Input::Key(Key::ch('g')));
        inputs.push(Input::Key(Key::plain(KeyCode::Enter)));
        let mut h = Harness::new("alice", monday()).await;
        for i in &inputs {
            match i {
                Input::Key(k) => h.key(*k).await,
                Input::Tick => h.tick(1).await,
                Input::Approve(who) => h.approve(who),
            }
        }
        assert_eq!(h.issued.len(), 1, "{:?}", h.app.message);
        run(inputs).await.unwrap();
    }
}

/// What the captain sees at each step of a prod promotion, at 120×40 and 80×24.
#[tokio::test]
async fn wizard_confirm_watch_and_rollback_screens() {
    let mut h = Harness::new("alice", monday()).await;
    h.open_prod_wizard("api").await;
    h.approve("bob");
    h.tick(3).await;
    for (w, ht) in [(120, 40), (80, 24)] {
        insta::assert_snapshot!(
            format!("wizard_waiting_for_approval_{w}x{ht}"),
            h.screen(w, ht)
        );
    }
    h.approve("carol");
    h.tick(3).await;
    h.keys("g").await;
    h.keys("pro").await;
    insta::assert_snapshot!("confirm_typing_120x40", h.screen(120, 40));
    h.keys("d").await;
    h.enter().await;
    h.tick(8).await;
    insta::assert_snapshot!("watch_rolling_out_120x40", h.screen(120, 40));
    h.watch_until_over(120).await;
    insta::assert_snapshot!("watch_succeeded_120x40", h.screen(120, 40));
    h.esc().await;
    h.keys("r").await;
    insta::assert_snapshot!("rollback_dialog_120x40", h.screen(120, 40));
}

#[tokio::test]
async fn an_interrupted_promotion_is_offered_for_resume_after_a_restart() {
    let mut h = Harness::new("alice", monday()).await;
    promote_to_staging(&mut h, "checkout").await;
    h.tick(4).await;
    // The process dies mid-watch; a new console starts on the same ledger.
    let records = h.records();
    let open = shipdeck::stable::interrupted(&records);
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].last.kind, RecordKind::DeployIssued);
    *h.app = shipdeck::app::App::new(
        &h.cfg,
        shipdeck::app::keys::KeyMap::default(),
        "alice".into(),
        h.clock.now(),
    );
    // As the runtime does at start: one read of the ledger.
    h.app.load_records(h.records());
    assert!(matches!(h.app.flow, Some(Flow::Interrupted(_))));
    h.tick(2).await;
    let screen = h.screen(120, 40);
    assert!(
        screen.contains("A promotion of checkout in staging never finished."),
        "{screen}"
    );
    assert!(screen.contains("w resume watching"), "{screen}");
    h.keys("w").await;
    let v = h.watch_until_over(120).await;
    assert_eq!(v.watch.outcome, Some(Step::Succeeded));
    assert!(h.kinds().contains(&RecordKind::DeploySucceeded));
    assert!(shipdeck::stable::interrupted(&h.records()).is_empty());
}

#[tokio::test]
async fn an_interrupted_promotion_can_be_rolled_back_instead() {
    let mut h = Harness::new("alice", monday()).await;
    let before = h.digest("checkout", "staging");
    promote_to_staging(&mut h, "checkout").await;
    h.tick(4).await;
    assert_eq!(shipdeck::stable::interrupted(&h.records()).len(), 1);
    *h.app = shipdeck::app::App::new(
        &h.cfg,
        shipdeck::app::keys::KeyMap::default(),
        "alice".into(),
        h.clock.now(),
    );
    // As the runtime does at start: one read of the ledger.
    h.app.load_records(h.records());
    h.tick(2).await;
    h.keys("r").await;
    let Some(Flow::Rollback(d)) = &h.app.flow else {
        panic!("no rollback dialog: {:?}", h.app.message)
    };
    assert_eq!(d.service, "checkout");
    h.enter().await;
    let v = h.watch_until_over(120).await;
    assert_eq!(v.watch.outcome, Some(Step::Succeeded));
    assert_eq!(h.digest("checkout", "staging"), before);
}

#[tokio::test]
async fn no_hotfix_path_into_the_second_stage() {
    let mut h = Harness::new("alice", monday()).await;
    h.select("checkout", "staging");
    h.keys("p").await;
    let id = h.promotion();
    h.keys("h").await;
    assert_eq!(h.promotion(), id, "the same promotion stays open");
    assert!(
        h.app
            .message
            .as_ref()
            .unwrap()
            .1
            .contains("no stage to skip")
    );
    assert!(!h.kinds().contains(&RecordKind::Aborted));
}

#[tokio::test]
async fn a_watch_whose_environment_stops_answering_still_ends() {
    let mut h = Harness::new("alice", monday()).await;
    promote_to_staging(&mut h, "checkout").await;
    h.tick(3).await;
    h.fleet.inject(Fault::Unreachable {
        env: "staging".into(),
        on: true,
    });
    // Default rollout timeout 10 min, plus the grace for a silent environment.
    let v = h.watch_until_over(11 * 60).await;
    let rollback = v.watch.kind == OpKind::Rollback;
    let aborted = h
        .records()
        .into_iter()
        .find(|r| r.kind == RecordKind::Aborted)
        .unwrap();
    assert!(
        aborted.draft.reasons[0].contains("stopped answering"),
        "{aborted:?}"
    );
    // The automatic rollback cannot reach the environment either, and says so.
    assert!(rollback, "{:?}", v.log);
    assert!(
        h.kinds().contains(&RecordKind::RollbackFailed),
        "{:?}",
        h.kinds()
    );
}
