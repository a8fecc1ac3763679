//! A run's deployments follow what the proxy serves: once a run switched, a
//! colour or weights changed by hand make the run no longer primary, and the
//! watch of it ends as changed outside shipdeck (issue 26, D5).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::config::EnvId;
use crate::model::ServiceSnapshot;
use crate::platforms::proxy::ProxyKind;
use crate::release::watch::{OpKind, Step, Watch};

fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

fn svc() -> ProxyService {
    ProxyService {
        backend: "api".into(),
        include: None,
        alb: None,
        blue: "http://127.0.0.1:1".into(),
        green: "http://127.0.0.1:2".into(),
        status_path: "/s".into(),
        digest_pointer: "/d".into(),
        deploy: vec!["x".into()],
        deploy_timeout: Duration::from_secs(1),
        stability_window: Duration::from_secs(1),
        ready_timeout: Duration::from_secs(1),
        keep_warm: Duration::from_secs(1),
        smoke: vec![],
    }
}

fn haproxy() -> ProxyEnv {
    ProxyEnv {
        kind: ProxyKind::Haproxy {
            socket: "/nonexistent/admin.sock".into(),
        },
        url: None,
    }
}

/// A cutover from blue to green in flight.
fn run() -> Run {
    Run::new(Colour::Blue, &Digest::of_bytes(b"new release"))
}

/// The watch of `run`'s deploy of api@green in staging (30 s window).
fn watch(run: &Run) -> Watch {
    let mut c = crate::config::demo().unwrap();
    c.environments[1].rollout.stability_window = Duration::from_secs(30);
    c.environments[1].rollout.timeout = Duration::from_mins(10);
    let mut w = Watch::new(&c, OpKind::Deploy, EnvId(1), "api", "P1", None, None, at(0));
    // The demo's metric rules read CloudWatch series a proxy reading lacks.
    w.rules.clear();
    w.started(Colour::Green.revision_of("api"), Some(run.id.clone()));
    w
}

/// A reading of the proxy environment: `live` as read from the proxy,
/// `found` what the reading found changed since the run switched.
fn reading(run: &Run, live: Colour, found: Option<&Outside>) -> ServiceSnapshot {
    let mut s = ServiceSnapshot::bare("api", "haproxy api");
    s.task_definition = Some(live.revision_of("api"));
    s.health = crate::model::Health::Healthy {
        status: 200,
        latency: Duration::from_millis(5),
        healthy_for: Duration::from_mins(1),
    };
    s.deployments = run.deployments("api", found);
    s
}

#[tokio::test]
async fn a_switch_back_by_hand_makes_the_run_no_longer_primary() {
    let (proxy, svc) = (haproxy(), svc());
    let mut run = run();
    let mut w = watch(&run);
    // Before the switch blue is live: nothing to compare, nothing changed.
    assert_eq!(run.left_at(), None);
    assert_eq!(
        w.observe(&reading(&run, Colour::Blue, None), at(1)),
        Step::Continue
    );
    run.switched = true;
    assert_eq!(run.left_at(), Some((Colour::Green, 100)));
    assert_eq!(
        w.observe(&reading(&run, Colour::Green, None), at(2)),
        Step::Continue
    );
    // What the proxy answers is compared with what the run left.
    let same = found_since(&proxy, &svc, &Ok(Colour::Green), Colour::Green, 100).await;
    assert_eq!(same, None);
    let unreadable = Err("HAProxy's runtime API did not answer".to_string());
    let unknown = found_since(&proxy, &svc, &unreadable, Colour::Green, 100).await;
    assert_eq!(unknown, None, "unknown is not a change");
    let found = found_since(&proxy, &svc, &Ok(Colour::Blue), Colour::Green, 100)
        .await
        .unwrap();
    // Someone switched back to blue by hand while blue was kept warm.
    let s = reading(&run, Colour::Blue, Some(&found));
    assert_eq!(s.deployments[0].role, DeploymentRole::Primary);
    assert_eq!(
        s.deployments[0].task_definition,
        Colour::Blue.revision_of("api")
    );
    assert_eq!(s.deployments[1].id, run.id);
    assert_ne!(s.deployments[1].role, DeploymentRole::Primary);
    match w.observe(&s, at(3)) {
        Step::ChangedOutside(found) => assert!(
            found.starts_with(
                "api@blue is the primary deployment now, not api@green: haproxy sends the traffic to blue since shipdeck switched it to green"
            ),
            "{found}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_run_that_completes_over_a_hand_switch_never_succeeds() {
    let mut run = run();
    run.switched = true;
    run.state = RolloutState::Completed;
    // A reading that could not compare (the switch lock was taken) still
    // shows what the proxy serves: at the end, that is what is judged.
    let mut w = watch(&run);
    match w.observe(&reading(&run, Colour::Blue, None), at(5)) {
        Step::ChangedOutside(found) => {
            assert!(
                found.contains("api@blue is what runs now, not api@green"),
                "{found}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Left alone, the same run succeeds after its window.
    let mut w = watch(&run);
    let green = reading(&run, Colour::Green, None);
    assert_eq!(w.observe(&green, at(5)), Step::Continue);
    assert_eq!(w.observe(&green, at(35)), Step::Succeeded);
}

#[test]
fn a_run_stopped_by_a_change_outside_says_so_and_never_fails() {
    let svc = svc();
    let mut r = run();
    r.switched = true;
    let id = r.id.clone();
    let key = ("edge".to_string(), "api".to_string());
    let ctx = Ctx {
        client: reqwest::Client::new(),
        runs: Arc::new(Mutex::new(HashMap::from([(key.clone(), r)]))),
        key: key.clone(),
        proxy: haproxy(),
        svc,
        env: "edge".into(),
        service: "api".into(),
    };
    ctx.changed_outside(&id, Outside::weights(Colour::Green, 0, 10));
    // What stopped the run afterwards is not its failure.
    ctx.fail(
        &id,
        "the weights were changed outside this run; it stopped".into(),
    );
    let runs = ctx.runs.lock().unwrap();
    let r = &runs[&key];
    assert_eq!(r.state, RolloutState::Completed);
    assert!(!r.in_flight());
    assert_eq!(r.left_at(), None);
    assert!(
        r.steps.last().unwrap().starts_with(
            "stopped: the weights were changed outside this run: green has 0%, blue 100% (this run left green at 10%)"
        ),
        "{:?}",
        r.steps
    );
    // Every later reading shows it: blue serves, the run is not primary.
    let d = r.deployments("api", None);
    assert_eq!(d[0].role, DeploymentRole::Primary);
    assert_eq!(d[0].task_definition, Colour::Blue.revision_of("api"));
    assert_eq!(d[1].role, DeploymentRole::Inactive);
    assert_eq!(d[1].rollout, RolloutState::Completed);
}
