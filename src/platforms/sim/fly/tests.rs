//! The simulated Machines API against the [`FlyApi`] trait, as the stub's
//! self-test checks the stub: leases and nonces, the state machine of an
//! update on the clock, `/wait`, metadata and the faults.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;

use super::{FlyFault, SeedMachine, SimFly};
use crate::clock::{Clock, ManualClock};
use crate::platforms::fly::api::{FlyApi, LeaseError, UpdateBody};
use crate::provider::ProviderError;

const OLD: &str =
    "registry.fly.io/edge@sha256:1111111111111111111111111111111111111111111111111111111111111111";
const NEW: &str =
    "registry.fly.io/edge@sha256:2222222222222222222222222222222222222222222222222222222222222222";
const NEW_DIGEST: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn fly() -> (SimFly, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(
        chrono::Utc.with_ymd_and_hms(2026, 8, 20, 10, 0, 0).unwrap(),
    ));
    let api = SimFly::new(
        7,
        clock.clone(),
        Duration::from_secs(2),
        Duration::from_secs(1),
        "alice@acme.dev",
    );
    let labels = BTreeMap::from([(
        "org.opencontainers.image.revision".to_string(),
        "9f8e7d6c5b4a".to_string(),
    )]);
    api.push_image(NEW, labels).unwrap();
    let seed = |region: &str| SeedMachine {
        region: region.to_string(),
        image: OLD.to_string(),
        checks: vec!["health".to_string()],
        state: "started".to_string(),
        group: "app".to_string(),
        release: "12".to_string(),
    };
    api.seed_app(
        "edge-prod",
        &[seed("fra"), seed("fra"), seed("ams"), seed("ams")],
        clock.now(),
    )
    .unwrap();
    (api, clock)
}

fn body(m: &crate::platforms::fly::api::MachineView, image: &str) -> UpdateBody {
    let mut config = m.config.clone();
    config["image"] = serde_json::Value::from(image);
    UpdateBody {
        config,
        current_version: Some(m.instance_id.clone()),
        skip_launch: false,
    }
}

#[tokio::test]
async fn machines_are_seeded_started_with_their_checks_passing_and_ids_from_the_seed() {
    let (api, clock) = fly();
    let list = api.list("edge-prod").await.unwrap();
    assert_eq!(list.len(), 4);
    let regions: Vec<&str> = list.iter().map(|m| m.region.as_str()).collect();
    assert_eq!(regions, ["fra", "fra", "ams", "ams"]);
    for m in &list {
        assert_eq!(m.id.len(), 14);
        assert_eq!(m.state, "started");
        assert_eq!(m.instance_id.len(), 26);
        assert_eq!(m.group(), Some("app"));
        assert_eq!(m.release_version(), Some("12"));
        assert_eq!(m.checks[0].status, "passing");
        assert_eq!(m.checks[0].output, "HTTP GET /health: 200 OK");
        assert_eq!(m.host_status.as_deref(), Some("ok"));
    }
    // The same seed gives the same machines.
    let (again, _) = fly();
    assert_eq!(again.list("edge-prod").await.unwrap(), list);
    assert!(matches!(
        api.list("nope").await,
        Err(ProviderError::NotFound { .. })
    ));
    assert!(matches!(
        api.get("edge-prod", "nope").await,
        Err(ProviderError::NotFound { .. })
    ));
    let _ = clock;
}

#[tokio::test]
async fn an_update_needs_its_lease_nonce_and_goes_replacing_started_then_checks_passing() {
    let (api, clock) = fly();
    let m = api.list("edge-prod").await.unwrap().remove(0);
    let lease = api
        .acquire_lease("edge-prod", &m.id, Duration::from_mins(1), "shipdeck fly-1")
        .await
        .unwrap();
    assert_eq!(lease.owner, "alice@acme.dev");
    assert_eq!(lease.version, m.instance_id);
    assert_eq!(lease.nonce.len(), 12);
    // Without the nonce, or with another, the update is refused.
    for nonce in ["", "000000000000"] {
        let e = api
            .update("edge-prod", &m.id, nonce, &body(&m, NEW))
            .await
            .unwrap_err();
        assert!(matches!(e, ProviderError::Conflict { .. }), "{e}");
    }
    // A stale current_version too.
    let mut stale = body(&m, NEW);
    stale.current_version = Some("01OLD".to_string());
    assert!(
        api.update("edge-prod", &m.id, &lease.nonce, &stale)
            .await
            .is_err()
    );
    // An image the registry lacks, or no digest at all.
    for image in [
        "registry.fly.io/edge@sha256:3333",
        "registry.fly.io/edge:latest",
    ] {
        let e = api
            .update("edge-prod", &m.id, &lease.nonce, &body(&m, image))
            .await
            .unwrap_err();
        assert!(matches!(e, ProviderError::Other { .. }), "{e}");
    }
    let updated = api
        .update("edge-prod", &m.id, &lease.nonce, &body(&m, NEW))
        .await
        .unwrap();
    assert_eq!(updated.state, "replacing");
    assert_ne!(updated.instance_id, m.instance_id);
    assert_eq!(updated.digest(), Some(NEW_DIGEST));
    assert_eq!(
        updated.image_ref.as_ref().unwrap().labels["org.opencontainers.image.revision"],
        "9f8e7d6c5b4a"
    );
    assert!(updated.checks.is_empty());
    assert_eq!(updated.events[0].kind, "update");
    // The lease follows the new instance.
    let held = api.lease("edge-prod", &m.id).await.unwrap().unwrap();
    assert_eq!(held.version, updated.instance_id);

    clock.advance(Duration::from_secs(2));
    let started = api.get("edge-prod", &m.id).await.unwrap();
    assert_eq!(started.state, "started");
    assert!(started.checks.is_empty(), "checks come a second later");
    clock.advance(Duration::from_secs(1));
    let checked = api.get("edge-prod", &m.id).await.unwrap();
    assert_eq!(checked.checks[0].status, "passing");
    // The others were not touched.
    let rest = api.list("edge-prod").await.unwrap();
    assert!(rest[1..].iter().all(|o| o.digest() != Some(NEW_DIGEST)));
}

#[tokio::test]
async fn a_lease_held_by_another_refuses_naming_the_holder_until_it_lapses() {
    let (api, clock) = fly();
    let id = api.list("edge-prod").await.unwrap()[2].id.clone();
    api.hold_lease(
        "edge-prod",
        &id,
        "ci@acme.dev",
        "fly deploy",
        Duration::from_mins(10),
    )
    .unwrap();
    let Err(LeaseError::Held {
        machine,
        owner,
        expires_at,
        description,
        message,
    }) = api
        .acquire_lease("edge-prod", &id, Duration::from_mins(1), "shipdeck")
        .await
    else {
        panic!("the lease is held");
    };
    assert_eq!(
        (machine.as_str(), owner.as_str()),
        (id.as_str(), "ci@acme.dev")
    );
    assert_eq!(description, "fly deploy");
    assert_eq!(expires_at, clock.now().timestamp() + 600);
    assert!(
        message.contains("lease currently held by ci@acme.dev, expires at 2026-08-20 10:10:00"),
        "{message}"
    );
    clock.advance(Duration::from_mins(10));
    assert!(api.lease("edge-prod", &id).await.unwrap().is_none());
    assert!(
        api.acquire_lease("edge-prod", &id, Duration::from_mins(1), "shipdeck")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_refresh_keeps_the_nonce_and_a_release_needs_it() {
    let (api, clock) = fly();
    let id = api.list("edge-prod").await.unwrap()[0].id.clone();
    let ttl = Duration::from_secs(30);
    let lease = api.acquire_lease("edge-prod", &id, ttl, "").await.unwrap();
    clock.advance(Duration::from_secs(20));
    let refreshed = api
        .refresh_lease("edge-prod", &id, &lease.nonce, ttl)
        .await
        .unwrap();
    assert_eq!(refreshed.nonce, lease.nonce);
    assert_eq!(refreshed.expires_at, clock.now().timestamp() + 30);
    // A refresh with another nonce is someone else's lease.
    assert!(matches!(
        api.refresh_lease("edge-prod", &id, "ffffffffffff", ttl)
            .await,
        Err(LeaseError::Held { .. })
    ));
    assert!(matches!(
        api.release_lease("edge-prod", &id, "ffffffffffff").await,
        Err(ProviderError::Conflict { .. })
    ));
    api.release_lease("edge-prod", &id, &lease.nonce)
        .await
        .unwrap();
    assert!(api.lease("edge-prod", &id).await.unwrap().is_none());
    // Released twice: a lease already gone is fine.
    api.release_lease("edge-prod", &id, &lease.nonce)
        .await
        .unwrap();
    // A refresh after the lease lapsed takes a new one, with a new nonce:
    // the lease was lost.
    let lease = api.acquire_lease("edge-prod", &id, ttl, "").await.unwrap();
    clock.advance(Duration::from_secs(31));
    let again = api
        .refresh_lease("edge-prod", &id, &lease.nonce, ttl)
        .await
        .unwrap();
    assert_ne!(again.nonce, lease.nonce);
}

#[tokio::test(start_paused = true)]
async fn wait_blocks_on_the_clock_until_started_or_answers_false_after_its_timeout() {
    let (api, clock) = fly();
    let m = api.list("edge-prod").await.unwrap().remove(1);
    let lease = api
        .acquire_lease("edge-prod", &m.id, Duration::from_mins(1), "")
        .await
        .unwrap();
    let updated = api
        .update("edge-prod", &m.id, &lease.nonce, &body(&m, NEW))
        .await
        .unwrap();
    let waiting = {
        let (api, id, iid) = (api.clone(), m.id.clone(), updated.instance_id.clone());
        tokio::spawn(async move {
            api.wait("edge-prod", &id, &iid, "started", Duration::from_mins(1))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "not started before the clock moves");
    clock.advance(Duration::from_secs(2));
    assert!(waiting.await.unwrap().unwrap());
    // An old instance never comes back: the wait answers false at its timeout.
    let stale = {
        let (api, id, iid) = (api.clone(), m.id.clone(), m.instance_id.clone());
        tokio::spawn(async move {
            api.wait("edge-prod", &id, &iid, "started", Duration::from_secs(5))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    clock.advance(Duration::from_secs(5));
    assert!(!stale.await.unwrap().unwrap());
    assert!(
        api.wait("edge-prod", &m.id, "", "replacing", Duration::from_secs(1))
            .await
            .is_err(),
        "only started, stopped, suspended and destroyed are waited for"
    );
}

#[tokio::test]
async fn a_check_goes_critical_on_the_faulty_digest_only() {
    let (api, clock) = fly();
    api.add_fault(FlyFault::CheckCritical {
        digest: NEW_DIGEST.to_string(),
        check: "health".to_string(),
        output: None,
        after: Duration::from_secs(3),
    });
    let list = api.list("edge-prod").await.unwrap();
    let (m, other) = (&list[0], &list[1]);
    let lease = api
        .acquire_lease("edge-prod", &m.id, Duration::from_mins(1), "")
        .await
        .unwrap();
    api.update("edge-prod", &m.id, &lease.nonce, &body(m, NEW))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(3));
    assert_eq!(
        api.get("edge-prod", &m.id).await.unwrap().checks[0].status,
        "passing",
        "passing at first"
    );
    clock.advance(Duration::from_secs(3));
    let bad = api.get("edge-prod", &m.id).await.unwrap();
    assert_eq!(bad.state, "started");
    assert_eq!(bad.checks[0].status, "critical");
    assert_eq!(
        bad.checks[0].output,
        "HTTP GET /health: 503 Service Unavailable"
    );
    assert_eq!(
        api.get("edge-prod", &other.id).await.unwrap().checks[0].status,
        "passing"
    );
    // Updated back to the old digest, it passes again.
    api.update("edge-prod", &m.id, &lease.nonce, &body(&bad, OLD))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(10));
    let back = api.get("edge-prod", &m.id).await.unwrap();
    assert_eq!(back.checks[0].status, "passing");
}

#[tokio::test]
async fn a_machine_that_fails_to_start_stops_with_its_exit_code() {
    let (api, clock) = fly();
    api.add_fault(FlyFault::FailStart {
        digest: NEW_DIGEST.to_string(),
    });
    let m = api.list("edge-prod").await.unwrap().remove(0);
    let lease = api
        .acquire_lease("edge-prod", &m.id, Duration::from_mins(1), "")
        .await
        .unwrap();
    api.update("edge-prod", &m.id, &lease.nonce, &body(&m, NEW))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(5));
    let stopped = api.get("edge-prod", &m.id).await.unwrap();
    assert_eq!(stopped.state, "stopped");
    assert_eq!(stopped.events[0].kind, "exit");
    assert_eq!(stopped.events[0].request["exit_event"]["exit_code"], 1);
    assert!(stopped.checks.is_empty());
}

#[tokio::test]
async fn metadata_changes_without_a_nonce_or_a_new_instance() {
    let (api, _) = fly();
    let m = api.list("edge-prod").await.unwrap().remove(0);
    api.acquire_lease("edge-prod", &m.id, Duration::from_mins(1), "")
        .await
        .unwrap();
    api.set_metadata("edge-prod", &m.id, "shipdeck_pause", "run=fly-1 step=1/4")
        .await
        .unwrap();
    let after = api.get("edge-prod", &m.id).await.unwrap();
    assert_eq!(after.metadata("shipdeck_pause"), Some("run=fly-1 step=1/4"));
    assert_eq!(after.instance_id, m.instance_id);
    api.delete_metadata("edge-prod", &m.id, "shipdeck_pause")
        .await
        .unwrap();
    let after = api.get("edge-prod", &m.id).await.unwrap();
    assert_eq!(after.metadata("shipdeck_pause"), None);
    assert_eq!(after.group(), Some("app"), "the rest of the metadata stays");
}

#[tokio::test]
async fn an_unreachable_host_hides_the_config_and_an_export_is_the_same_api_elsewhere() {
    let (api, clock) = fly();
    let id = api.list("edge-prod").await.unwrap()[3].id.clone();
    api.add_fault(FlyFault::Host {
        app: None,
        machine: id.clone(),
        status: "unreachable".to_string(),
    });
    let m = api.get("edge-prod", &id).await.unwrap();
    assert_eq!(m.host_status.as_deref(), Some("unreachable"));
    assert!(m.incomplete_config && m.config.is_null());

    let other = SimFly::new(9, clock, Duration::ZERO, Duration::ZERO, "bob@acme.dev");
    assert!(other.list("edge-prod").await.is_err());
    other.import(&api.export().unwrap());
    assert_eq!(
        other.list("edge-prod").await.unwrap(),
        api.list("edge-prod").await.unwrap()
    );
    other.import(&serde_json::json!({"apps": 3}));
    assert!(other.list("edge-prod").await.is_ok(), "garbage is ignored");
    // The log keeps every call with its nonce, as the stub's does.
    let calls = api.calls();
    assert!(calls.iter().all(|c| c.nonce.is_none()));
    assert_eq!(calls.iter().filter(|c| c.op == "list").count(), 2);
}
