//! The demo's search on Kubernetes: a Rollout in staging and prod, read
//! through the platform's builder, and the `kube-analysis-fails` game day
//! through the built-in demo fleet and configuration.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;

use super::super::{FleetFile, SCENARIOS, SimFleet};
use crate::clock::ManualClock;
use crate::config::{self, PlatformKind};
use crate::model::{Decision, RolloutState, ServiceSnapshot};
use crate::provider::{Provider, ReadScope};

async fn read(fleet: &SimFleet, cfg: &config::Config, env: &str) -> ServiceSnapshot {
    let snap = fleet
        .read_env(cfg.env(env).unwrap(), ReadScope::CONSOLE)
        .await
        .unwrap();
    assert!(snap.warnings.is_empty(), "{env}: {:?}", snap.warnings);
    snap.service("search").unwrap().clone()
}

fn clock() -> ManualClock {
    ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap())
}

#[tokio::test]
async fn the_demos_search_is_a_rollout_in_staging_and_prod_on_ecss_images() {
    let clock = clock();
    let fleet = SimFleet::demo(7, Arc::new(clock)).unwrap();
    let cfg = config::demo().unwrap();
    let dev = read(&fleet, &cfg, "dev").await;
    for (env, pods) in [("staging", 2), ("prod", 4)] {
        let e = cfg.env(env).unwrap();
        let svc = e.service("search").unwrap();
        assert_eq!(svc.platform, PlatformKind::Kubernetes, "{env}");
        assert!(fleet.simulates(e, svc), "{env}");
        let s = read(&fleet, &cfg, env).await;
        assert!(s.convergence.is_converged(), "{env}: {:?}", s.convergence);
        assert_eq!((s.running, s.desired), (pods, pods), "{env}");
        assert!(s.detail.title.starts_with("rollout search"), "{env}");
        assert!(
            s.detail
                .lines
                .iter()
                .any(|l| l.text.to_string() == "20% · pause · 50% · pause"
                    || l.text.to_string() == "20% · pause 10s · 50% · pause 10s"),
            "{env}: {:?}",
            s.detail.lines
        );
        if env == "staging" {
            // The same image as dev's ECS service: a promotion moves it on.
            assert_eq!(s.digest, dev.digest);
        }
    }
}

#[tokio::test]
async fn the_kube_analysis_fails_game_day_aborts_searchs_canary_at_fifty_percent() {
    assert!(SCENARIOS.iter().any(|(n, _)| *n == "kube-analysis-fails"));
    let clock = clock();
    let fleet = SimFleet::new(
        &FleetFile::demo_scenario("kube-analysis-fails").unwrap(),
        7,
        Arc::new(clock.clone()),
    );
    let cfg = config::demo().unwrap();
    let prod = cfg.env("prod").unwrap();
    let svc = prod.service("search").unwrap();
    let old = read(&fleet, &cfg, "prod").await.digest.unwrap();
    let new = read(&fleet, &cfg, "staging").await.digest.unwrap();
    fleet.deploy(prod, svc, &new).await.unwrap();
    let mut decided = 0;
    for _ in 0..200 {
        clock.advance(Duration::from_secs(1));
        let s = read(&fleet, &cfg, "prod").await;
        let primary = &s.deployments[0];
        if primary.rollout == RolloutState::Failed {
            let why = primary.reason.clone().unwrap_or_default();
            assert!(
                why.contains("Metric \"error-rate\" assessed Failed"),
                "{why}"
            );
            assert_eq!(decided, 1, "failed after the first pause, at 50 %");
            assert_ne!(s.digest, Some(old.clone()), "the canary's digest failed");
            let weights = s
                .detail
                .lines
                .iter()
                .find(|l| &*l.label == "weights")
                .map(|l| l.text.to_string());
            assert_eq!(
                weights.as_deref(),
                Some("canary 0% · stable 100%"),
                "stable serves"
            );
            return;
        }
        if let Some(sh) = primary.shift.as_deref().filter(|sh| sh.pause.is_some()) {
            // The first pause (20 %) is continued; the second (50 %) is
            // left waiting, and the analysis fails there.
            if sh.new_weight == 2000 && decided == 0 {
                fleet
                    .decide_step(prod, svc, sh, Decision::Continue)
                    .await
                    .unwrap();
                decided += 1;
            }
        }
    }
    panic!("search's analysis never failed");
}
