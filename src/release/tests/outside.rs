//! Stable means still true at the end: a change made outside shipdeck since
//! the switch ends the watch as changed outside, with what was found; it is
//! never a success (issue 26, D5).

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::platforms::sim::{Fault, SimFleet};
use crate::provider::{Provider, ReadScope};

/// Our deployment `d4`, no longer primary: someone's deployment replaced it.
fn replaced_by(rev: u32, id: &str) -> ServiceSnapshot {
    let mut s = snap(rev, RolloutState::InProgress);
    s.deployments[0].id = id.into();
    let mut ours = snap(4, RolloutState::InProgress).deployments.remove(0);
    ours.role = DeploymentRole::Active;
    s.deployments.push(ours);
    s
}

#[test]
fn an_update_service_by_hand_while_rolling_out_is_changed_outside() {
    let c = cfg();
    let mut w = watch(&c);
    assert_eq!(
        w.observe(&snap(4, RolloutState::InProgress), at(5)),
        Step::Continue
    );
    match w.observe(&replaced_by(3, "ecs-svc/by-hand"), at(8)) {
        Step::ChangedOutside(found) => assert!(
            found.starts_with("shop-api:3 is the primary deployment now, not shop-api:4: reason")
                && found.ends_with("(deployment ecs-svc/by-hand replaced d4)"),
            "{found}"
        ),
        other => panic!("{other:?}"),
    }
    // Over is over: a later reading of our revision does not make it a success.
    assert_eq!(
        w.observe(&snap(4, RolloutState::Completed), at(60)),
        Step::Continue
    );
    assert!(matches!(w.outcome, Some(Step::ChangedOutside(_))));
}

#[test]
fn the_same_revision_redeployed_by_hand_is_changed_outside_too() {
    let c = cfg();
    let mut w = watch(&c);
    assert!(matches!(
        w.observe(&replaced_by(4, "ecs-svc/forced"), at(8)),
        Step::ChangedOutside(found) if found.contains("ecs-svc/forced")
    ));
}

#[test]
fn what_runs_is_re_read_up_to_the_success() {
    let c = cfg();
    let mut w = watch(&c);
    assert_eq!(
        w.observe(&snap(4, RolloutState::Completed), at(10)),
        Step::Continue
    );
    // The window is over (30 s): the reading that would succeed finds the
    // service set back to revision 3.
    let mut s = snap(4, RolloutState::Completed);
    s.task_definition = Some(td(3));
    match w.observe(&s, at(45)) {
        Step::ChangedOutside(found) => {
            assert!(
                found.contains("shop-api:3 is what runs now, not shop-api:4"),
                "{found}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn what_runs_unknown_at_the_end_is_not_a_success() {
    let c = cfg();
    let mut w = watch(&c);
    let mut s = snap(4, RolloutState::Completed);
    s.task_definition = None;
    assert_eq!(w.observe(&s, at(10)), Step::Continue);
    assert_eq!(w.observe(&s, at(45)), Step::Continue);
    assert!(w.blind.iter().any(|b| b.contains("what the service runs")));
    assert!(matches!(w.observe(&s, at(600)), Step::Unknown(_)));
}

#[test]
fn ecs_rolling_back_by_itself_stays_its_own_failure() {
    let c = cfg();
    let mut w = watch(&c);
    let mut s = replaced_by(3, "ecs-svc/rollback");
    s.deployments[1].rollout = RolloutState::RolledBack;
    assert!(matches!(w.observe(&s, at(8)), Step::Failed(why) if why.starts_with(BY_ITSELF)));
}

/// A rollout the simulator runs, watched reading by reading: someone sets the
/// service back to the revision before, by hand, while it stabilises.
#[tokio::test]
async fn the_simulator_expresses_a_hand_change_and_the_watch_ends_changed_outside() {
    async fn read(fleet: &SimFleet, c: &Config) -> ServiceSnapshot {
        let snap = fleet
            .read_env(c.env("staging").unwrap(), ReadScope::CONSOLE)
            .await
            .unwrap();
        snap.service("api").unwrap().clone()
    }
    for by_hand in [false, true] {
        let clock = ManualClock::new(t0());
        let fleet = SimFleet::demo(7, Arc::new(clock.clone())).unwrap();
        let c = crate::config::demo().unwrap();
        let env = c.env("staging").unwrap();
        let svc = env.service("api").unwrap();
        let before = read(&fleet, &c).await;
        let from = before.task_definition.clone().unwrap();
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
        let started = fleet
            .deploy(env, svc, &Digest::of_bytes(b"new release"))
            .await
            .unwrap();
        let to = started.to.clone().unwrap();
        w.started(to.clone(), started.deployment_id.clone());
        let mut step = Step::Continue;
        let mut changed = false;
        for _ in 0..600 {
            clock.advance(Duration::from_secs(1));
            if by_hand && !changed && w.completed_at.is_some() {
                fleet.inject(Fault::DeployedByHand {
                    env: "staging".into(),
                    service: crate::platforms::ecs::service_name(svc).to_string(),
                    revision: from.number().unwrap(),
                });
                changed = true;
            }
            step = w.observe(&read(&fleet, &c).await, clock.now());
            if step != Step::Continue {
                break;
            }
        }
        if by_hand {
            assert!(changed, "the rollout never completed");
            match step {
                Step::ChangedOutside(found) => assert!(
                    found.starts_with(&format!("{from} is the primary deployment now, not {to}"))
                        && found.contains("(deployment ecs-svc/by-hand-"),
                    "{found}"
                ),
                other => panic!("{other:?}"),
            }
        } else {
            // The same rollout left alone succeeds: the hand change is the difference.
            assert_eq!(step, Step::Succeeded);
        }
    }
}
