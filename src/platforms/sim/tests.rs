use super::*;
use crate::clock::ManualClock;
use crate::config;
use crate::model::{AlarmState, Health, Pinning, RolloutState, ServiceSnapshot};
use chrono::TimeZone;

fn setup() -> (SimFleet, ManualClock, config::Config) {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap());
    let fleet = SimFleet::demo(7, Arc::new(clock.clone())).unwrap();
    (fleet, clock, config::demo().unwrap())
}

fn read(fleet: &SimFleet, cfg: &config::Config, env: &str, svc: &str) -> ServiceSnapshot {
    let snap = fleet.read_sync(cfg.env(env).unwrap()).unwrap();
    snap.service(svc).unwrap().clone()
}

#[test]
fn demo_fleet_has_the_promised_shape() {
    let (fleet, _, cfg) = setup();
    assert_eq!(cfg.environments.len(), 3);
    assert!(cfg.service_names().len() >= 6);
    let prod = fleet.read_sync(cfg.env("prod").unwrap()).unwrap();
    assert!(
        prod.services.iter().any(|s| s.alarm_summary().is_bad()),
        "one alarm firing in prod"
    );
    let dev = fleet.read_sync(cfg.env("dev").unwrap()).unwrap();
    assert!(
        dev.services
            .iter()
            .any(|s| s.pinning == Pinning::Unpinned && s.digest.is_none())
    );
    assert!(
        dev.services
            .iter()
            .any(|s| s.pinning == Pinning::ResolvedFromTasks && s.digest.is_some())
    );
}

#[test]
fn deploy_goes_in_progress_then_completed() {
    let (fleet, clock, cfg) = setup();
    let staging = cfg.env("staging").unwrap();
    let svc_cfg = staging.service("api").unwrap();
    let dev_api = read(&fleet, &cfg, "dev", "api");
    let before = read(&fleet, &cfg, "staging", "api");
    let started = fleet
        .deploy_sync(staging, svc_cfg, dev_api.digest.as_ref().unwrap())
        .unwrap();
    assert_eq!(started.from, before.task_definition);
    assert_eq!(
        started.to.as_ref().unwrap().number().unwrap(),
        before.task_definition.as_ref().unwrap().number().unwrap() + 1
    );

    let s = read(&fleet, &cfg, "staging", "api");
    assert_eq!(s.rollout(), RolloutState::InProgress);
    assert_eq!(s.digest, dev_api.digest);
    assert_eq!(
        s.deployments.len(),
        2,
        "old deployment still running while the new one starts"
    );

    let mut saw_partial = false;
    for _ in 0..60 {
        clock.advance(SIM_STEP);
        let s = read(&fleet, &cfg, "staging", "api");
        if s.rollout() == RolloutState::InProgress && s.deployments[0].running > 0 {
            saw_partial = true;
        }
        if s.rollout() == RolloutState::Completed {
            assert!(saw_partial, "tasks start one by one");
            assert_eq!(s.running, s.desired);
            assert_eq!(s.deployments.len(), 1);
            assert!(s.events[0].message.contains("steady state"));
            return;
        }
    }
    panic!("rollout never completed");
}

#[test]
fn same_seed_same_readings_regardless_of_poll_frequency() {
    let (a, ca, cfg) = setup();
    let (b, cb, _) = setup();
    for _ in 0..30 {
        ca.advance(Duration::from_secs(2));
        let _ = a.read_sync(cfg.env("staging").unwrap());
    }
    cb.advance(Duration::from_mins(1));
    let ra = a.read_sync(cfg.env("staging").unwrap()).unwrap();
    let rb = b.read_sync(cfg.env("staging").unwrap()).unwrap();
    assert_eq!(ra, rb);
}

fn deploy_and_run(
    fleet: &SimFleet,
    clock: &ManualClock,
    cfg: &config::Config,
    env: &str,
    svc: &str,
    secs: u64,
) -> ServiceSnapshot {
    let e = cfg.env(env).unwrap();
    let digest = Digest::of_bytes(b"new release");
    fleet
        .deploy_sync(e, e.service(svc).unwrap(), &digest)
        .unwrap();
    clock.advance(Duration::from_secs(secs));
    read(fleet, cfg, env, svc)
}

#[test]
fn scripted_rollout_failure() {
    let (fleet, clock, cfg) = setup();
    fleet.inject(Fault::RolloutFails {
        env: "staging".into(),
        service: "shop-api-staging".into(),
    });
    let s = deploy_and_run(&fleet, &clock, &cfg, "staging", "api", 30);
    assert_eq!(s.rollout(), RolloutState::Failed);
    assert!(s.is_degraded());
    assert!(s.deployments[0].reason.as_ref().unwrap().contains("failed"));
    // The fault is consumed: the next deploy succeeds.
    let s = deploy_and_run(&fleet, &clock, &cfg, "staging", "api", 60);
    assert_eq!(s.rollout(), RolloutState::Completed);
}

#[test]
fn scripted_circuit_breaker_rolls_back_to_previous_revision() {
    let (fleet, clock, cfg) = setup();
    let before = read(&fleet, &cfg, "staging", "api");
    fleet.inject(Fault::CircuitBreakerRollback {
        env: "staging".into(),
        service: "shop-api-staging".into(),
    });
    let s = deploy_and_run(&fleet, &clock, &cfg, "staging", "api", 30);
    assert_eq!(s.rollout(), RolloutState::RolledBack);
    assert!(s.rollout().is_bad(), "an ECS self-rollback is a failure");
    assert_eq!(s.digest, before.digest);
    assert_eq!(s.task_definition, before.task_definition);
}

#[test]
fn scripted_alarm_fires_mid_deploy() {
    let (fleet, clock, cfg) = setup();
    fleet.inject(Fault::AlarmFiresDuringDeploy {
        env: "staging".into(),
        service: "shop-api-staging".into(),
        alarm: "shop-api-staging-5xx".into(),
        after: Duration::from_secs(5),
    });
    let s = deploy_and_run(&fleet, &clock, &cfg, "staging", "api", 3);
    assert_eq!(s.alarm_summary(), crate::model::AlarmSummary::Ok);
    clock.advance(Duration::from_secs(3));
    let s = read(&fleet, &cfg, "staging", "api");
    assert_eq!(
        s.alarm_summary(),
        crate::model::AlarmSummary::Alarm { count: 1 }
    );
}

#[test]
fn scripted_throttle_timeout_and_unreachable() {
    let (fleet, _, cfg) = setup();
    let staging = cfg.env("staging").unwrap();
    fleet.inject(Fault::Throttle {
        env: "staging".into(),
        calls: 2,
    });
    for _ in 0..2 {
        let err = fleet.read_sync(staging).unwrap_err();
        assert!(
            matches!(
                err,
                ProviderError::Throttled {
                    retry_after: Some(_),
                    ..
                }
            ),
            "{err:?}"
        );
    }
    assert!(fleet.read_sync(staging).is_ok());
    fleet.inject(Fault::Timeout {
        env: "staging".into(),
        calls: 1,
    });
    assert!(matches!(
        fleet.read_sync(staging),
        Err(ProviderError::Network { .. })
    ));
    fleet.inject(Fault::Unreachable {
        env: "prod".into(),
        on: true,
    });
    assert!(matches!(
        fleet.read_sync(cfg.env("prod").unwrap()),
        Err(ProviderError::Network { .. })
    ));
    assert!(
        fleet.read_sync(staging).is_ok(),
        "other environments unaffected"
    );
}

#[test]
fn health_down_and_back() {
    let (fleet, clock, cfg) = setup();
    fleet.inject(Fault::HealthDown {
        env: "prod".into(),
        service: "shop-api-prod".into(),
        down: true,
    });
    assert!(read(&fleet, &cfg, "prod", "api").health.is_bad());
    fleet.inject(Fault::HealthDown {
        env: "prod".into(),
        service: "shop-api-prod".into(),
        down: false,
    });
    clock.advance(Duration::from_secs(10));
    match read(&fleet, &cfg, "prod", "api").health {
        Health::Healthy { healthy_for, .. } => assert!(healthy_for <= Duration::from_secs(10)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn rollback_to_unknown_revision_is_not_found() {
    let (fleet, _, cfg) = setup();
    let e = cfg.env("staging").unwrap();
    let to = Revision {
        family: "shop-api".into(),
        id: crate::model::RevisionId::Number(99),
        arn: "".into(),
    };
    let err = fleet
        .rollback_sync(e, e.service("api").unwrap(), &to)
        .unwrap_err();
    assert!(matches!(err, ProviderError::NotFound { .. }));
}

#[test]
fn rollback_returns_to_previous_digest() {
    let (fleet, clock, cfg) = setup();
    let before = read(&fleet, &cfg, "staging", "api");
    deploy_and_run(&fleet, &clock, &cfg, "staging", "api", 60);
    let e = cfg.env("staging").unwrap();
    fleet
        .rollback_sync(
            e,
            e.service("api").unwrap(),
            before.task_definition.as_ref().unwrap(),
        )
        .unwrap();
    clock.advance(Duration::from_mins(1));
    let after = read(&fleet, &cfg, "staging", "api");
    assert_eq!(after.digest, before.digest);
    assert_eq!(after.rollout(), RolloutState::Completed);
}

/// The release-test fleet's prod api with errors, requests and their ratio.
fn ratio_world(fault: &str) -> (SimFleet, ManualClock, config::Config) {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap());
    let fleet_text = format!(
        "[[environment]]\nname = \"prod\"\n[[environment.service]]\necs_service = \"api-prod\"\n\
         repository = \"r.example/api\"\nreleases = [\"1\", \"2\"]\nlatency_ms = 20\n{fault}"
    );
    let fleet = FleetFile::parse(&fleet_text, "f.toml").unwrap();
    let cfg = config::parse_str(
        "[[environment]]\nname = \"prod\"\nregion = \"eu-west-1\"\ncluster = \"p\"\n\
         [[environment.service]]\nname = \"api\"\necs_service = \"api-prod\"\nmetric = [\n\
         { id = \"errors\", label = \"5xx\", namespace = \"N\", metric_name = \"HTTPCode_Target_5XX_Count\" },\n\
         { id = \"requests\", label = \"req\", namespace = \"N\", metric_name = \"RequestCount\" },\n\
         { label = \"5xx %\", expression = \"errors / requests * 100\", role = \"error_rate\" },\n\
         { label = \"odd\", expression = \"SUM(METRICS())\" },\n]\n",
        "c.toml",
        None,
    )
    .unwrap();
    (
        SimFleet::new(&fleet, 3, Arc::new(clock.clone())),
        clock,
        cfg,
    )
}

#[test]
fn a_ratio_via_expression_is_computed_and_moved_by_a_scripted_fault() {
    use crate::config::{AbortRule, Condition, Missing};
    use crate::release::rules::{Verdict, evaluate};
    let rule = AbortRule {
        name: "error rate above 5 %".into(),
        metric: "5xx %".into(),
        condition: Condition::Above(5.0),
        points: 1,
        missing: Missing::Wait,
        compare_to: None,
    };
    let (fleet, _, cfg) = ratio_world("");
    let s = read(&fleet, &cfg, "prod", "api");
    let series = |label: &str| s.metrics.iter().find(|m| m.label == label).unwrap().clone();
    let (e, r, ratio) = (series("5xx"), series("req"), series("5xx %"));
    for i in 0..ratio.points.len() {
        let want = e.points[i] / r.points[i] * 100.0;
        assert!((ratio.points[i] - want).abs() < 1e-9, "point {i}");
    }
    assert!(ratio.points.iter().all(|p| *p < 1.0), "{:?}", ratio.points);
    assert_eq!(evaluate(&rule, None, Some(&ratio.points)), Verdict::Pass);
    // What the simulator cannot compute is unknown with why, never a number.
    let odd = series("odd");
    assert!(odd.points.is_empty());
    assert!(odd.error.unwrap().contains("not simulated"));

    // A release that fails a fifth of its requests, scripted in the fleet file.
    let (fleet, clock, cfg) = ratio_world(
        "[[fault]]\nenv = \"prod\"\nservice = \"api-prod\"\ntrigger = \"deploy\"\nafter = \"5s\"\n\
         effect = \"error_rate\"\nvalue = 20.0\n",
    );
    let prod = cfg.env("prod").unwrap();
    let digest = Digest::of_bytes(b"3");
    fleet
        .deploy_sync(prod, prod.service("api").unwrap(), &digest)
        .unwrap();
    clock.advance(Duration::from_secs(3));
    let before = read(&fleet, &cfg, "prod", "api");
    let points = &before.metrics[2].points;
    assert_eq!(evaluate(&rule, None, Some(points)), Verdict::Pass);
    clock.advance(Duration::from_secs(5));
    let after = read(&fleet, &cfg, "prod", "api");
    let points = &after.metrics[2].points;
    assert!((points[points.len() - 1] - 20.0).abs() < 1e-9);
    assert!(matches!(
        evaluate(&rule, None, Some(points)),
        Verdict::Breach(why) if why.contains("5xx % above 5") && why.contains("20")
    ));
}

#[test]
fn flapping_health_and_outages_follow_their_schedule() {
    let (fleet, clock, cfg) = ratio_world(
        "[[fault]]\nenv = \"prod\"\nservice = \"api-prod\"\neffect = \"health_flapping\"\n\
         down = \"4s\"\nup = \"6s\"\n\
         [[fault]]\nenv = \"prod\"\ntrigger = \"start\"\nafter = \"30s\"\neffect = \"unreachable\"\n\
         duration = \"10s\"\n",
    );
    let cfg = {
        let mut c = cfg;
        std::sync::Arc::make_mut(&mut c.environments[0].services)[0].health =
            config::demo().unwrap().env("prod").unwrap().services[0]
                .health
                .clone();
        c
    };
    let mut seen = Vec::new();
    for _ in 0..20 {
        clock.advance(Duration::from_secs(1));
        let s = read(&fleet, &cfg, "prod", "api");
        seen.push(matches!(s.health, Health::Unhealthy { .. }));
    }
    // Down 4 s, up 6 s, down again: from the start of the world.
    let downs = seen.iter().filter(|d| **d).count();
    assert!((6..=10).contains(&downs), "{seen:?}");
    assert!(
        seen[11..13].iter().any(|d| *d) && seen[5..9].iter().all(|d| !d),
        "{seen:?}"
    );
    clock.advance(Duration::from_secs(12));
    assert!(
        fleet.read_sync(cfg.env("prod").unwrap()).is_err(),
        "region down"
    );
    clock.advance(Duration::from_secs(10));
    assert!(
        fleet.read_sync(cfg.env("prod").unwrap()).is_ok(),
        "back after 10 s"
    );
}

#[test]
fn a_copied_generated_fleet_equals_the_written_one() {
    for envs in [3, 5] {
        let (cfg_text, fleet_text) = scaled_wide(envs, 200);
        let cfg = config::parse_str(&cfg_text, "gen", None).unwrap();
        let fleet = FleetFile::parse(&fleet_text, "f").unwrap();
        let (copied_cfg, copied_fleet) = scaled_parsed(envs, 200, "gen").unwrap();
        assert_eq!(
            format!("{:?}", cfg.environments),
            format!("{:?}", copied_cfg.environments)
        );
        assert_eq!(
            format!("{:?}", fleet.environments),
            format!("{:?}", copied_fleet.environments)
        );
    }
}

#[test]
fn a_deferred_fleet_reads_as_the_fleet_built_at_once() {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap());
    let (cfg, template) = crate::platforms::sim::scaled_template(3, 40, "gen").unwrap();
    let (_, full) = scaled_parsed(3, 40, "gen").unwrap();
    let built = SimFleet::new(&full, 7, Arc::new(clock.clone()));
    let deferred = SimFleet::deferred(template, Some(40), 7, Arc::new(clock.clone()));
    clock.advance(Duration::from_secs(30));
    for env in &cfg.environments {
        let a = built.read_sync(env).unwrap();
        let b = deferred.read_sync(env).unwrap();
        assert_eq!(b.services.len(), 40);
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{}", env.name);
    }
}

#[test]
fn readings_share_a_history_until_a_deploy_registers_a_revision() {
    let (fleet, _, cfg) = setup();
    let staging = cfg.env("staging").unwrap();
    let a = read(&fleet, &cfg, "staging", "api");
    let b = read(&fleet, &cfg, "staging", "api");
    // One list for every reading: thousands of services are read every few seconds.
    assert!(Arc::ptr_eq(&a.history, &b.history));
    let dev_api = read(&fleet, &cfg, "dev", "api");
    let digest = dev_api.digest.clone().unwrap();
    let started = fleet
        .deploy_sync(staging, staging.service("api").unwrap(), &digest)
        .unwrap();
    let c = read(&fleet, &cfg, "staging", "api");
    assert!(!Arc::ptr_eq(&a.history, &c.history));
    assert_eq!(c.history.len(), a.history.len() + 1);
    let newest = c.history.last().unwrap();
    assert_eq!(newest.task_definition, started.to.clone().unwrap());
    assert_eq!(newest.digest.as_ref(), Some(&digest));
    assert_eq!(c.task_definition.as_ref(), started.to.as_ref());
}

#[test]
fn an_alarm_that_changes_between_readings_is_never_read_from_the_old_index() {
    let (fleet, _, cfg) = setup();
    let prod = cfg.env("prod").unwrap();
    let before = fleet.read_sync(prod).unwrap();
    let (svc, alarm) = before
        .services
        .iter()
        .find_map(|s| Some((s.name.clone(), s.alarms.first()?.clone())))
        .unwrap();
    let flipped = if alarm.state == AlarmState::Alarm {
        AlarmState::Ok
    } else {
        AlarmState::Alarm
    };
    // Only the state changes: same name, reason and time.
    for s in fleet
        .lock()
        .envs
        .get_mut("prod")
        .unwrap()
        .services
        .values_mut()
    {
        for a in s.alarms.iter_mut().filter(|a| a.name == alarm.name) {
            a.state = flipped;
        }
    }
    let after = fleet.read_sync(prod).unwrap();
    let read = after.service(&svc).unwrap();
    let now = read.alarms.iter().find(|a| a.name == alarm.name).unwrap();
    assert_eq!(now.state, flipped);
}
