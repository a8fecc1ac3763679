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
