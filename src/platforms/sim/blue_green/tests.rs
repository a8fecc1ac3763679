//! The simulated blue/green service against the demo's `storefront` in
//! staging (blue live on 3.0.0, green idle on 2.9.0; a 10 s stability
//! window, 20 s kept warm, 2 min to get ready).

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use crate::clock::{Clock, ManualClock};
use crate::config::proxy::Colour;
use crate::config::{Config, EnvId};
use crate::model::{Digest, Revision, RolloutState, ServiceSnapshot};
use crate::platforms::sim::{Fault, FleetFile, SIM_STEP, SimFleet};
use crate::provider::{Provider, ProviderError, ReadScope};
use crate::release::watch::{OpKind, Step, Watch};

const SVC: &str = "storefront";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

fn setup() -> (SimFleet, ManualClock, Config) {
    let clock = ManualClock::new(t0());
    let fleet = SimFleet::demo(7, Arc::new(clock.clone())).unwrap();
    (fleet, clock, crate::config::demo().unwrap())
}

async fn read(fleet: &SimFleet, cfg: &Config, env: &str) -> ServiceSnapshot {
    let snap = fleet
        .read_env(cfg.env(env).unwrap(), ReadScope::CONSOLE)
        .await
        .unwrap();
    snap.service(SVC).unwrap().clone()
}

/// The colour a reading says is live.
fn live(s: &ServiceSnapshot) -> Colour {
    Colour::of(s.task_definition.as_ref().unwrap()).unwrap()
}

/// Whether a reading says colour `c` answers (a rollback may switch to it).
fn answers(s: &ServiceSnapshot, c: Colour) -> bool {
    s.history
        .iter()
        .find(|h| h.task_definition == c.revision_of(SVC))
        .unwrap()
        .active
}

fn rev(c: Colour) -> Revision {
    c.revision_of(SVC)
}

async fn deploy_dev_digest(fleet: &SimFleet, cfg: &Config) -> (Digest, Option<String>) {
    let dev = read(fleet, cfg, "dev").await;
    let env = cfg.env("staging").unwrap();
    let digest = dev.digest.unwrap();
    let started = fleet
        .deploy(env, env.service(SVC).unwrap(), &digest)
        .await
        .unwrap();
    assert_eq!(started.from, Some(rev(Colour::Blue)));
    assert_eq!(started.to, Some(rev(Colour::Green)));
    (digest, started.deployment_id)
}

#[tokio::test]
async fn both_colours_read_as_labelled_revisions_through_the_proxys_builder() {
    let (fleet, _, cfg) = setup();
    let s = read(&fleet, &cfg, "staging").await;
    assert_eq!(live(&s), Colour::Blue);
    let revs: Vec<String> = s
        .history
        .iter()
        .map(|h| h.task_definition.to_string())
        .collect();
    assert_eq!(revs, ["storefront@blue", "storefront@green"]);
    assert!(s.history.iter().all(|h| h.active && h.digest.is_some()));
    assert_eq!(s.ecs_service, "haproxy storefront");
    // The proxy's counters are traffic: its metrics have points from the start.
    let errors = s.metrics.iter().find(|m| m.label == "5xx %").unwrap();
    assert!(errors.error.is_none());
    assert_eq!(errors.points.len(), 30);
    assert!(
        errors.points.iter().all(|p| (0.0..1.0).contains(p)),
        "{errors:?}"
    );
    let history = fleet
        .history(
            cfg.env("staging").unwrap(),
            cfg.env("staging").unwrap().service(SVC).unwrap(),
            &rev(Colour::Blue),
        )
        .await
        .unwrap();
    assert_eq!(history, s.history.to_vec());
}

#[tokio::test]
async fn a_deploy_switches_only_after_the_new_colour_answers_for_its_window() {
    let (fleet, clock, cfg) = setup();
    let (digest, _) = deploy_dev_digest(&fleet, &cfg).await;
    let issued = clock.now();
    let s = read(&fleet, &cfg, "staging").await;
    assert!(!answers(&s, Colour::Green), "green is being deployed");
    assert_eq!(
        s.deployments[0].steps[0],
        format!("deploying green with {}", digest.short())
    );
    let mut answered_from = None;
    let mut switched_at = None;
    for _ in 0..120 {
        clock.advance(SIM_STEP);
        let s = read(&fleet, &cfg, "staging").await;
        if answers(&s, Colour::Green) {
            answered_from.get_or_insert(clock.now());
        }
        if live(&s) == Colour::Green {
            switched_at = Some(clock.now());
            assert_eq!(s.digest.as_ref(), Some(&digest));
            let steps = &s.deployments[0].steps;
            let at = |text: &str| steps.iter().position(|x| x.starts_with(text)).unwrap();
            assert!(at("probing green") < at("checking that blue is still live"));
            assert!(at("checking that blue") < at("switching haproxy from blue to green"));
            break;
        }
        assert!(
            !s.deployments[0]
                .steps
                .iter()
                .any(|x| x.starts_with("switching")),
            "{:?}",
            s.deployments[0].steps
        );
    }
    let (answered, switched) = (answered_from.unwrap(), switched_at.unwrap());
    assert!(answered > issued, "green answers only once deployed");
    assert!(
        switched - answered >= chrono::Duration::seconds(10),
        "switched {}s after green first answered",
        (switched - answered).num_seconds()
    );
    // Kept warm for 20 s, then done.
    for _ in 0..25 {
        clock.advance(SIM_STEP);
    }
    let s = read(&fleet, &cfg, "staging").await;
    assert_eq!(s.deployments[0].rollout, RolloutState::Completed);
    assert!(answers(&s, Colour::Blue), "blue stays warm");
}

#[tokio::test]
async fn a_new_colour_that_never_answers_is_never_switched_to() {
    let (fleet, clock, cfg) = setup();
    deploy_dev_digest(&fleet, &cfg).await;
    fleet.inject(Fault::ColourDown {
        env: "staging".into(),
        backend: SVC.into(),
        colour: Colour::Green,
        down: true,
    });
    for _ in 0..130 {
        clock.advance(SIM_STEP);
        assert_eq!(live(&read(&fleet, &cfg, "staging").await), Colour::Blue);
    }
    let s = read(&fleet, &cfg, "staging").await;
    let d = &s.deployments[0];
    assert_eq!(d.rollout, RolloutState::Failed);
    assert!(d.nothing_changed, "the proxy was never touched");
    let why = d.reason.as_deref().unwrap();
    assert!(
        why.starts_with("green not ready within 2m") && why.ends_with("the proxy was not touched"),
        "{why}"
    );
}

#[tokio::test]
async fn a_rollback_to_a_colour_that_does_not_answer_is_refused() {
    let (fleet, _, cfg) = setup();
    let env = cfg.env("staging").unwrap();
    let svc = env.service(SVC).unwrap();
    fleet.inject(Fault::ColourDown {
        env: "staging".into(),
        backend: SVC.into(),
        colour: Colour::Green,
        down: true,
    });
    let s = read(&fleet, &cfg, "staging").await;
    assert!(!answers(&s, Colour::Green));
    match fleet.rollback(env, svc, &rev(Colour::Green)).await {
        Err(ProviderError::Conflict { message }) => assert!(
            message.starts_with("green does not answer") && message.ends_with("blue stays live"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(live(&read(&fleet, &cfg, "staging").await), Colour::Blue);
    // Once it answers, a rollback switches to it at once.
    fleet.inject(Fault::ColourDown {
        env: "staging".into(),
        backend: SVC.into(),
        colour: Colour::Green,
        down: false,
    });
    let started = fleet.rollback(env, svc, &rev(Colour::Green)).await.unwrap();
    assert_eq!(started.to, Some(rev(Colour::Green)));
    let s = read(&fleet, &cfg, "staging").await;
    assert_eq!(live(&s), Colour::Green);
    assert_eq!(
        s.deployments[0].steps,
        [
            "switched haproxy from blue to green in 0 ms",
            "switched back: green serves again"
        ]
    );
}

/// A cutover watched reading by reading; someone switches the proxy back
/// to blue by hand while green is kept warm.
#[tokio::test]
async fn a_switch_back_by_hand_during_keep_warm_is_seen_as_changed_outside() {
    for by_hand in [false, true] {
        let (fleet, clock, cfg) = setup();
        let before = read(&fleet, &cfg, "staging").await;
        let mut w = Watch::new(
            &cfg,
            OpKind::Deploy,
            EnvId(1),
            SVC,
            "P1",
            Some(&before),
            None,
            clock.now(),
        );
        let (_, id) = deploy_dev_digest(&fleet, &cfg).await;
        w.started(rev(Colour::Green), id);
        let mut switched = false;
        let mut step = Step::Continue;
        for _ in 0..300 {
            clock.advance(SIM_STEP);
            let s = read(&fleet, &cfg, "staging").await;
            let warm = s.deployments[0]
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("kept warm"));
            if by_hand && warm && !switched {
                fleet.inject(Fault::SwitchedByHand {
                    env: "staging".into(),
                    backend: SVC.into(),
                    colour: Colour::Blue,
                });
                switched = true;
            }
            step = w.observe(&read(&fleet, &cfg, "staging").await, clock.now());
            if step != Step::Continue {
                break;
            }
        }
        if !by_hand {
            // Left alone, the same cutover succeeds: the hand switch is the difference.
            assert_eq!(step, Step::Succeeded);
            continue;
        }
        assert!(switched, "the cutover never reached keep-warm");
        match step {
            Step::ChangedOutside(found) => assert!(
                found.starts_with("storefront@blue is the primary deployment now, not storefront@green: haproxy sends the traffic to blue since shipdeck switched it to green"),
                "{found}"
            ),
            other => panic!("{other:?}"),
        }
        // The run itself stops there, saying so (never "live", never "failed").
        clock.advance(SIM_STEP);
        let s = read(&fleet, &cfg, "staging").await;
        let run = s
            .deployments
            .iter()
            .find(|d| d.id.starts_with("cutover-"))
            .unwrap();
        assert_eq!(run.rollout, RolloutState::Completed);
        assert_eq!(
            run.steps.last().map(String::as_str),
            Some("stopped: haproxy sends the traffic to blue since shipdeck switched it to green")
        );
    }
}

#[tokio::test]
async fn readings_do_not_depend_on_how_often_the_fleet_is_read() {
    let (a, clock_a, cfg) = setup();
    let (b, clock_b, _) = setup();
    deploy_dev_digest(&a, &cfg).await;
    deploy_dev_digest(&b, &cfg).await;
    for i in 0..90 {
        clock_a.advance(SIM_STEP);
        clock_b.advance(SIM_STEP);
        if i % 7 == 0 {
            read(&a, &cfg, "staging").await;
        }
    }
    let (ra, rb) = (
        read(&a, &cfg, "staging").await,
        read(&b, &cfg, "staging").await,
    );
    assert_eq!(ra.metrics, rb.metrics);
    assert_eq!(ra.deployments, rb.deployments);
    assert_eq!(ra.health, rb.health);
}

#[tokio::test]
async fn a_scripted_error_rate_on_the_next_release_shows_in_the_proxys_counters() {
    let text = format!(
        "{}\n[[fault]]\nenv = \"staging\"\nservice = \"storefront\"\ntrigger = \"deploy\"\nafter = \"1s\"\neffect = \"error_rate\"\nvalue = 35.0\n",
        include_str!("../../../../assets/demo-fleet.toml")
    );
    let file = FleetFile::parse(&text, "fleet.toml").unwrap();
    let clock = ManualClock::new(t0());
    let fleet = SimFleet::new(&file, 7, Arc::new(clock.clone()));
    let cfg = crate::config::demo().unwrap();
    deploy_dev_digest(&fleet, &cfg).await;
    // Past the switch (4 s deploy, 10 s window) and a minute of green's traffic.
    for _ in 0..80 {
        clock.advance(SIM_STEP);
    }
    let s = read(&fleet, &cfg, "staging").await;
    assert_eq!(live(&s), Colour::Green);
    let newest = *s
        .metrics
        .iter()
        .find(|m| m.label == "5xx %")
        .unwrap()
        .points
        .last()
        .unwrap();
    assert!(newest > 5.0, "{newest}");
    // An effect that a blue/green service cannot take is refused with the line.
    let bad = format!(
        "{}\n[[fault]]\nenv = \"staging\"\nservice = \"storefront\"\neffect = \"latency\"\nvalue = 900.0\n",
        include_str!("../../../../assets/demo-fleet.toml")
    );
    let err = FleetFile::parse(&bad, "fleet.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("a blue/green service takes"), "{err}");
}

#[test]
fn a_fleet_file_names_each_blue_green_service_once_with_sane_traffic() {
    let one = |extra: &str| {
        format!(
            "[[environment]]\nname = \"dev\"\n[[environment.blue_green]]\nbackend = \"web\"\nrepository = \"r.example/web\"\nblue = \"1\"\ngreen = \"2\"\n{extra}"
        )
    };
    assert!(FleetFile::parse(&one(""), "f.toml").is_ok());
    for (extra, says) in [
        (
            "error_percent = 120.0\n",
            "error_percent must be between 0 and 100",
        ),
        (
            "[[environment.blue_green]]\nbackend = \"web\"\nrepository = \"r.example/web\"\nblue = \"1\"\ngreen = \"2\"\n",
            "\"web\" is named twice",
        ),
        ("live = \"purple\"\n", "unknown variant `purple`"),
    ] {
        let err = FleetFile::parse(&one(extra), "f.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{err}");
    }
}

/// A demo world saved before the fleet had blue/green services continues,
/// with them added as the fleet starts them.
#[tokio::test]
async fn an_old_demo_world_continues_with_the_blue_green_services_added() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo-world.json");
    let clock = ManualClock::new(t0());
    let fleet = FleetFile::demo().unwrap();
    let version = crate::platforms::sim::demo_version();
    let (sim, _) = SimFleet::open_world(
        &fleet,
        7,
        Arc::new(clock.clone()),
        path.clone(),
        version.clone(),
        None,
        false,
    );
    drop(sim);
    // As the release before this one wrote it: no blue/green services, and
    // the old fleet's version.
    let mut world: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    world["fleet"] = super::super::world::CONTINUED[0].into();
    for env in world["state"]["envs"].as_object_mut().unwrap().values_mut() {
        env.as_object_mut().unwrap().remove("blue_green");
    }
    std::fs::write(&path, serde_json::to_vec(&world).unwrap()).unwrap();
    let (sim, opened) = SimFleet::open_world(
        &fleet,
        7,
        Arc::new(clock.clone()),
        path.clone(),
        version.clone(),
        None,
        false,
    );
    assert_eq!(opened, crate::platforms::sim::Opened::Continued);
    let cfg = crate::config::demo().unwrap();
    assert_eq!(live(&read(&sim, &cfg, "staging").await), Colour::Blue);
    // Saved under the current fleet from then on.
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(saved["fleet"], version.as_str());
    // Any other fleet's world is still replaced.
    let mut other = saved.clone();
    other["fleet"] = "sha256:0000".into();
    std::fs::write(&path, serde_json::to_vec(&other).unwrap()).unwrap();
    let (_, opened) = SimFleet::open_world(&fleet, 7, Arc::new(clock), path, version, None, false);
    assert!(
        matches!(opened, crate::platforms::sim::Opened::Replaced(_)),
        "{opened:?}"
    );
}
