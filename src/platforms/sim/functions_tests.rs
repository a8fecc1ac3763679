use std::sync::Arc;

use chrono::TimeZone;

use super::super::SimFleet;
use crate::clock::ManualClock;
use crate::config;
use crate::model::{Decision, RevisionId, ServiceSnapshot};
use crate::provider::{Provider, ReadScope};

async fn read(fleet: &SimFleet, cfg: &config::Config, env: &str) -> ServiceSnapshot {
    let snap = fleet
        .read_env(cfg.env(env).unwrap(), ReadScope::CONSOLE)
        .await
        .unwrap();
    snap.service("thumbnailer").unwrap().clone()
}

#[tokio::test(start_paused = true)]
async fn the_demo_thumbnailer_is_promoted_to_prod_step_by_step_with_a_person_at_each_pause() {
    let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap());
    let fleet = SimFleet::demo(7, Arc::new(clock.clone())).unwrap();
    let cfg = config::demo().unwrap();
    let prod = cfg.env("prod").unwrap();
    let svc = prod.service("thumbnailer").unwrap();
    assert!(fleet.simulates(prod, svc));

    let staging = read(&fleet, &cfg, "staging").await;
    let before = read(&fleet, &cfg, "prod").await;
    let digest = staging.digest.clone().unwrap();
    assert_ne!(
        before.digest.as_ref(),
        Some(&digest),
        "prod is a release behind"
    );
    let on = |s: &ServiceSnapshot| s.task_definition.as_ref().map(|r| r.id.clone());
    assert_eq!(on(&before), Some(RevisionId::Number(2)));

    fleet.deploy(prod, svc, &digest).await.unwrap();
    let mut decided = Vec::new();
    let mut last = before;
    for _ in 0..2000 {
        clock.advance(std::time::Duration::from_secs(1));
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        last = read(&fleet, &cfg, "prod").await;
        if on(&last) == Some(RevisionId::Number(3)) && last.deployments.len() == 1 {
            break;
        }
        let paused = last
            .deployments
            .iter()
            .find_map(|d| d.shift.clone())
            .filter(|s| s.pause.is_some());
        if let Some(shift) = paused {
            decided.push(shift.step);
            fleet
                .decide_step(prod, svc, &shift, Decision::Continue)
                .await
                .unwrap();
        }
    }
    assert_eq!(on(&last), Some(RevisionId::Number(3)), "{last:?}");
    assert_eq!(last.digest, Some(digest));
    // prod pauses at every step but the last: 25 %, 50 %, 75 %.
    assert_eq!(decided, vec![1, 2, 3]);
    let history = fleet
        .history(prod, svc, last.task_definition.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(history.len(), 3);
}

/// The newest point of `label`, as the watch judges it.
fn newest(s: &ServiceSnapshot, label: &str) -> f64 {
    let m = s.metrics.iter().find(|m| m.label == label).unwrap();
    assert!(m.error.is_none(), "{m:?}");
    *m.points.last().unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_lambda_errors_game_day_raises_errors_at_the_second_step_until_rolled_back() {
    let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap());
    let fleet_file = crate::platforms::sim::FleetFile::demo_scenario("lambda-errors").unwrap();
    let fleet = SimFleet::new(&fleet_file, 7, Arc::new(clock.clone()));
    let cfg = config::demo().unwrap();
    let prod = cfg.env("prod").unwrap();
    let svc = prod.service("thumbnailer").unwrap();
    let digest = read(&fleet, &cfg, "staging").await.digest.unwrap();
    let before = read(&fleet, &cfg, "prod").await;
    assert!(newest(&before, "errors %") < 1.0, "{before:?}");

    fleet.deploy(prod, svc, &digest).await.unwrap();
    let mut at_step = Vec::new();
    for _ in 0..600 {
        clock.advance(std::time::Duration::from_secs(1));
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let last = read(&fleet, &cfg, "prod").await;
        let paused = last
            .deployments
            .iter()
            .find_map(|d| d.shift.clone())
            .filter(|s| s.pause.is_some());
        if let Some(shift) = paused {
            at_step.push((shift.step, newest(&last, "errors %")));
            if shift.step == 2 {
                break;
            }
            fleet
                .decide_step(prod, svc, &shift, Decision::Continue)
                .await
                .unwrap();
        }
    }
    // Step 1 is clean; at step 2 the new version fails 30 % of invocations.
    assert_eq!(at_step.len(), 2, "{at_step:?}");
    assert!(at_step[0].1 < 1.0, "{at_step:?}");
    assert!(at_step[1].1 >= 30.0, "{at_step:?}");

    // The abort's rollback: the alias goes back and the errors end with it.
    let old = crate::model::Revision::numbered("thumbnailer-prod", 2, "");
    fleet.rollback(prod, svc, &old).await.unwrap();
    clock.advance(std::time::Duration::from_secs(61));
    let after = read(&fleet, &cfg, "prod").await;
    assert_eq!(
        after.task_definition.as_ref().map(|r| r.id.clone()),
        Some(RevisionId::Number(2))
    );
    assert!(newest(&after, "errors %") < 1.0, "{after:?}");
}

#[rstest::rstest]
#[case::step_without_its_number(
    "service = \"thumbnailer-prod\"\ntrigger = \"step\"\neffect = \"error_rate\"\nvalue = 9.0",
    "trigger \"step\" needs step = N"
)]
#[case::step_zero(
    "service = \"thumbnailer-prod\"\ntrigger = \"step\"\nstep = 0\neffect = \"error_rate\"\nvalue = 9.0",
    "trigger \"step\" needs step = N"
)]
#[case::step_on_an_ecs_service(
    "service = \"shop-api-prod\"\ntrigger = \"step\"\nstep = 2\neffect = \"error_rate\"\nvalue = 9.0",
    "trigger \"step\" needs service = \"FUNCTION\""
)]
#[case::a_step_number_without_the_step_trigger(
    "service = \"thumbnailer-prod\"\ntrigger = \"deploy\"\nstep = 2\neffect = \"error_rate\"\nvalue = 9.0",
    "step = N goes with trigger = \"step\" only"
)]
#[case::a_function_takes_metric_effects_only(
    "service = \"thumbnailer-prod\"\neffect = \"health_down\"",
    "a Lambda function takes error_rate or latency"
)]
fn a_bad_lambda_fault_is_refused_with_what_to_write(#[case] entry: &str, #[case] says: &str) {
    let demo = include_str!("../../../assets/demo-fleet.toml");
    let text = format!("{demo}\n[[fault]]\nenv = \"prod\"\n{entry}\n");
    let err = crate::platforms::sim::FleetFile::parse(&text, "fleet.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains(says), "{err}");
}

/// Two processes of the demo: `alice` starts the shift and `bob`, with his
/// own fleet over the same world file, continues its pause; alice's shift
/// adopts bob's decision and finishes.
#[tokio::test(start_paused = true)]
async fn a_pause_started_in_one_process_is_continued_from_another_through_the_world() {
    let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let fleet_file = crate::platforms::sim::FleetFile::demo().unwrap();
    let open = || {
        SimFleet::open_world(
            &fleet_file,
            7,
            Arc::new(clock.clone()),
            dir.path().join("world.json"),
            "v1".to_string(),
            None,
            false,
        )
        .0
    };
    let (alice, bob) = (open(), open());
    let cfg = config::demo().unwrap();
    let prod = cfg.env("prod").unwrap();
    let svc = prod.service("thumbnailer").unwrap();
    let digest = read(&alice, &cfg, "staging").await.digest.unwrap();
    alice.deploy(prod, svc, &digest).await.unwrap();

    let mut decided_by_bob = Vec::new();
    let mut last = None;
    for _ in 0..2000 {
        clock.advance(std::time::Duration::from_secs(1));
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        // bob's process sees the shift alice's process runs.
        let seen = read(&bob, &cfg, "prod").await;
        if seen.task_definition.as_ref().map(|r| r.id.clone()) == Some(RevisionId::Number(3))
            && seen.deployments.len() == 1
        {
            last = Some(seen);
            break;
        }
        let paused = seen
            .deployments
            .iter()
            .find_map(|d| d.shift.clone())
            .filter(|s| s.pause.is_some());
        if let Some(shift) = paused {
            decided_by_bob.push(shift.step);
            bob.decide_step(prod, svc, &shift, Decision::Continue)
                .await
                .unwrap();
        }
    }
    assert_eq!(decided_by_bob, vec![1, 2, 3]);
    let last = last.expect("the shift finished");
    assert_eq!(last.digest, Some(digest));
    // alice's process reads the same end.
    let mine = read(&alice, &cfg, "prod").await;
    assert_eq!(mine.task_definition, last.task_definition);
}
