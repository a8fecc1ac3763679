//! The demo fleet's app on Fly served through the platform's own code:
//! the reading by `fly::snapshot`, promotions and ways back by
//! `fly::steps` and `fly::runner`, on the simulator's clock.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;

use super::super::{FleetFile, SimFleet};
use crate::clock::ManualClock;
use crate::config;
use crate::model::{Decision, Digest, ServiceSnapshot};
use crate::provider::{Provider, ReadScope};

async fn read(fleet: &SimFleet, cfg: &config::Config, env: &str) -> ServiceSnapshot {
    let snap = fleet
        .read_env(cfg.env(env).unwrap(), ReadScope::CONSOLE)
        .await
        .unwrap();
    snap.service("edge").unwrap().clone()
}

fn clock() -> ManualClock {
    ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap())
}

/// The digest every machine of `s` runs, as the detail lists them.
fn machines(s: &ServiceSnapshot) -> Vec<String> {
    s.detail
        .lines
        .iter()
        .filter(|l| l.label.to_string() == "machine")
        .map(|l| l.text.to_string())
        .collect()
}

/// Moves the clock a second at a time until `done` holds of prod's edge
/// (deciding Continue at a pause when `decide`), or 600 steps passed.
async fn until(
    fleet: &SimFleet,
    cfg: &config::Config,
    clock: &ManualClock,
    decide: bool,
    done: impl Fn(&ServiceSnapshot) -> bool,
) -> (ServiceSnapshot, Vec<ServiceSnapshot>) {
    let prod = cfg.env("prod").unwrap();
    let svc = prod.service("edge").unwrap();
    let mut seen = Vec::new();
    for _ in 0..600 {
        clock.advance(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let s = read(fleet, cfg, "prod").await;
        if done(&s) {
            return (s, seen);
        }
        let paused = s
            .deployments
            .iter()
            .find_map(|d| d.shift.clone())
            .filter(|s| s.pause.is_some());
        if let (true, Some(shift)) = (decide, paused) {
            fleet
                .decide_step(prod, svc, &shift, Decision::Continue)
                .await
                .unwrap();
        }
        seen.push(s);
    }
    panic!("never done: {:?}", seen.last());
}

#[tokio::test(start_paused = true)]
async fn the_demo_edge_is_read_through_the_platforms_snapshot_on_every_stage() {
    let clock = clock();
    let fleet = SimFleet::demo(7, Arc::new(clock)).unwrap();
    let cfg = config::demo().unwrap();
    for env in ["dev", "staging", "prod"] {
        let e = cfg.env(env).unwrap();
        assert!(fleet.simulates(e, e.service("edge").unwrap()), "{env}");
        let s = read(&fleet, &cfg, env).await;
        assert!(s.convergence.is_converged(), "{env}: {s:?}");
        assert_eq!((s.running, s.desired), (4, 4), "{env}");
        let regions: Vec<String> = s
            .regions
            .iter()
            .flatten()
            .map(|p| p.region.to_string())
            .collect();
        assert_eq!(regions, ["fra", "fra", "ams", "ams"], "{env}");
        let image = s.image.as_ref().unwrap();
        assert_eq!(
            image.version.as_deref(),
            Some(if env == "prod" { "0.9.0" } else { "1.0.0" })
        );
        assert!(
            image.revision.is_some() && image.source.is_some(),
            "{image:?}"
        );
        assert_eq!(machines(&s).len(), 4, "{env}");
    }
    // prod runs the older release: staging's digest is promotable.
    let staging = read(&fleet, &cfg, "staging").await;
    let prod = read(&fleet, &cfg, "prod").await;
    assert_ne!(staging.digest, prod.digest);
    let history = fleet
        .history(
            cfg.env("prod").unwrap(),
            cfg.env("prod").unwrap().service("edge").unwrap(),
            prod.task_definition.as_ref().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(history.len(), 2, "0.8.0 then 0.9.0: {history:?}");
    assert_eq!(history.last().unwrap().digest, prod.digest);
}

#[tokio::test(start_paused = true)]
async fn a_promotion_updates_the_canary_first_pauses_then_the_rest_and_releases_every_lease() {
    let clock = clock();
    let fleet = SimFleet::demo(7, Arc::new(clock.clone())).unwrap();
    let cfg = config::demo().unwrap();
    let prod = cfg.env("prod").unwrap();
    let svc = prod.service("edge").unwrap();
    let digest = read(&fleet, &cfg, "staging").await.digest.unwrap();
    let before = read(&fleet, &cfg, "prod").await;
    let canary = machines(&before)[0].clone();
    assert_eq!(canary.split_whitespace().nth(1), Some("fra"), "{canary}");

    let started = fleet.deploy(prod, svc, &digest).await.unwrap();
    assert!(started.deployment_id.unwrap().starts_with("fly-"));
    // The canary first: one machine on the new digest while the rest wait,
    // then a pause for a person (prod's pause_steps).
    let (paused, seen) = until(&fleet, &cfg, &clock, false, |s| {
        s.deployments
            .iter()
            .any(|d| d.shift.as_ref().is_some_and(|s| s.pause.is_some()))
    })
    .await;
    assert!(
        seen.iter().chain([&paused]).all(|s| machines(s)
            .iter()
            .filter(|l| l.contains(&digest.short()[..12]))
            .count()
            <= 1),
        "one machine at a time until the pause"
    );
    let on_new = machines(&paused)
        .into_iter()
        .filter(|l| l.contains(&digest.short()[..12]))
        .collect::<Vec<_>>();
    assert_eq!(on_new.len(), 1, "{paused:?}");
    assert_eq!(
        on_new[0].split_whitespace().next(),
        canary.split_whitespace().next()
    );
    assert!(!paused.convergence.is_converged());

    let (done, _) = until(&fleet, &cfg, &clock, true, |s| {
        s.digest.as_ref() == Some(&digest) && s.convergence.is_converged()
    })
    .await;
    assert_eq!((done.running, done.desired), (4, 4));
    // Every update under its lease's nonce, every lease released.
    let (api, _) = fleet.machines.of("prod", svc).unwrap();
    let calls = api.calls();
    let updates: Vec<_> = calls.iter().filter(|c| c.op == "update").collect();
    assert_eq!(updates.len(), 4);
    assert!(updates.iter().all(|c| c.ok && c.nonce.is_some()));
    let first_update = calls.iter().position(|c| c.op == "update").unwrap();
    let leases = calls[..first_update]
        .iter()
        .filter(|c| c.op == "acquire_lease" && c.ok)
        .count();
    assert_eq!(leases, 4, "every lease before the first update");
    for id in api.peek("edge-prod").iter().map(|m| m.id.clone()) {
        assert!(
            crate::platforms::fly::api::FlyApi::lease(api, "edge-prod", &id)
                .await
                .unwrap()
                .is_none(),
            "lease on {id} released"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_game_day_canary_goes_critical_the_run_fails_naming_the_check_and_the_way_back_restores_it()
 {
    let clock = clock();
    let fleet = SimFleet::new(
        &FleetFile::demo_scenario("fly-canary-critical").unwrap(),
        7,
        Arc::new(clock.clone()),
    );
    let cfg = config::demo().unwrap();
    let prod = cfg.env("prod").unwrap();
    let svc = prod.service("edge").unwrap();
    let digest = read(&fleet, &cfg, "staging").await.digest.unwrap();
    let old: Digest = read(&fleet, &cfg, "prod").await.digest.unwrap();
    fleet.deploy(prod, svc, &digest).await.unwrap();
    let (failed, _) = until(&fleet, &cfg, &clock, false, |s| {
        s.deployments
            .iter()
            .any(|d| d.rollout == crate::model::RolloutState::Failed)
    })
    .await;
    let why = failed
        .deployments
        .iter()
        .find_map(|d| d.reason.clone())
        .unwrap_or_default();
    assert!(why.contains("health"), "{why}");
    assert!(
        machines(&failed)
            .iter()
            .any(|l| l.contains('✗') || l.contains("critical")),
        "{:?}",
        machines(&failed)
    );
    // The engine goes back by deploying the digest that ran before: only
    // the canary is updated back, under the run's leases.
    // The way back stops the failed run (which waits on the clock) and
    // takes its leases: the clock moves meanwhile.
    let way_back = {
        let (fleet, prod, svc, old) = (fleet.clone(), prod.clone(), svc.clone(), old.clone());
        tokio::spawn(async move { fleet.redeploy(&prod, &svc, &old).await })
    };
    while !way_back.is_finished() {
        clock.advance(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    way_back.await.unwrap().unwrap();
    let (back, _) = until(&fleet, &cfg, &clock, false, |s| {
        s.digest.as_ref() == Some(&old) && s.convergence.is_converged()
    })
    .await;
    assert_eq!((back.running, back.desired), (4, 4));
    let (api, _) = fleet.machines.of("prod", svc).unwrap();
    let updates = api.calls().into_iter().filter(|c| c.op == "update").count();
    assert_eq!(updates, 2, "the canary forward, then back");
}

#[tokio::test(start_paused = true)]
async fn a_canary_paused_in_one_process_is_seen_and_continued_from_another_through_the_world() {
    let clock = clock();
    let dir = tempfile::tempdir().unwrap();
    let fleet_file = FleetFile::demo().unwrap();
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
    let svc = prod.service("edge").unwrap();
    let digest = read(&alice, &cfg, "staging").await.digest.unwrap();
    alice.deploy(prod, svc, &digest).await.unwrap();

    let mut decided_by_bob = Vec::new();
    let mut last = None;
    for _ in 0..600 {
        clock.advance(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_secs(1)).await;
        // bob's process sees the machines and the run alice's process runs.
        let seen = read(&bob, &cfg, "prod").await;
        if seen.digest.as_ref() == Some(&digest) && seen.convergence.is_converged() {
            last = Some(seen);
            break;
        }
        let paused = seen
            .deployments
            .iter()
            .find_map(|d| d.shift.clone())
            .filter(|s| s.pause.is_some());
        if let Some(shift) = paused
            && decided_by_bob.is_empty()
        {
            decided_by_bob.push(shift.step);
            bob.decide_step(prod, svc, &shift, Decision::Continue)
                .await
                .unwrap();
        }
    }
    assert_eq!(decided_by_bob, vec![1], "one pause, after the canary");
    let last = last.expect("the run finished");
    assert_eq!((last.running, last.desired), (4, 4));
    // alice's process reads the same end.
    let mine = read(&alice, &cfg, "prod").await;
    assert_eq!(mine.digest, last.digest);
}
