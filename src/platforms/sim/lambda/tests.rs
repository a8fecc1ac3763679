//! The simulated Lambda keeps the real API's rules: functions and aliases,
//! every refusal of a routing change, the faults, and a reading; `$LATEST`'s
//! code, its updates and publishing are in `code`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::{Package, SimLambda};
use crate::clock::ManualClock;
use crate::model::Digest;
use crate::platforms::lambda::api::{AliasUpdate, Code, LambdaApi};
use crate::platforms::lambda::digest::zip_code_sha256;
use crate::platforms::lambda::snapshot::service_snapshot;
use crate::provider::ProviderError;

mod code;
mod package;
mod underneath;

const FN: &str = "thumbs";
const REPO: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/thumbs";
const DELAY: Duration = Duration::from_secs(30);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap()
}

fn digest(n: u8) -> Digest {
    Digest::of_bytes(&[n])
}

/// An image digest as an image function's `CodeSha256` spells it.
fn hex(d: &Digest) -> String {
    d.as_str()["sha256:".len()..].to_string()
}

/// `thumbs`, an image function on image 1, alias `live` on version 1.
fn sim() -> (SimLambda, ManualClock) {
    let clock = ManualClock::new(t0());
    let sim = SimLambda::new(7, Arc::new(clock.clone()), DELAY)
        .with_function(FN, Package::Image, &hex(&digest(1)), "live")
        .unwrap();
    (sim, clock)
}

fn image(n: u8) -> Code {
    Code::Image {
        repository: REPO.to_string(),
        digest: digest(n),
    }
}

/// A zip package: a local file header and some bytes.
fn zip(body: &[u8]) -> Vec<u8> {
    let mut b = b"PK\x03\x04".to_vec();
    b.extend_from_slice(body);
    b
}

fn update(version: &str, weighted: Option<(&str, u32)>, rid: Option<String>) -> AliasUpdate {
    AliasUpdate {
        version: version.to_string(),
        weighted: weighted.map(|(v, w)| (v.to_string(), w)),
        description: "thumbnails".to_string(),
        revision_id: rid,
    }
}

/// Version 2 holding image 2, published (the clock moved past the update).
async fn publish_two(sim: &SimLambda, clock: &ManualClock) {
    sim.push_image(REPO, &digest(2));
    sim.update_code(FN, &image(2)).await.unwrap();
    clock.advance(DELAY);
    sim.publish(FN, &hex(&digest(2)), None).await.unwrap();
}

fn conflict(e: &ProviderError, words: &str) -> bool {
    matches!(e, ProviderError::Conflict { message } if message.contains(words))
}

fn other(e: &ProviderError, words: &str) -> bool {
    matches!(e, ProviderError::Other { message } if message.contains(words))
}

#[tokio::test]
async fn a_new_function_has_version_one_and_its_alias_on_it() {
    let (sim, _) = sim();
    assert_eq!(sim.versions(FN).unwrap(), ["$LATEST", "1"]);
    let a = sim.alias(FN, "live").await.unwrap();
    assert_eq!((a.version.as_str(), a.weighted), ("1", None));
    let v1 = sim.artifact(FN, 1).await.unwrap();
    assert_eq!(v1.digest, Ok(digest(1)));
    assert_eq!(v1.package, "Image");
    assert!(v1.arn.ends_with(":function:thumbs:1"), "{}", v1.arn);
    let latest = sim.latest(FN).await.unwrap();
    assert_eq!(latest.code_sha256, Some(hex(&digest(1))));
    assert_eq!(
        latest.latest.last_update,
        Some(("Successful".to_string(), None))
    );
}

#[test]
fn a_function_is_refused_with_a_bad_code_sha256_a_bad_name_or_twice() {
    let clock = Arc::new(ManualClock::new(t0()));
    let new = || SimLambda::new(1, clock.clone(), DELAY);
    let zip_sha = zip_code_sha256(&zip(b"x"));
    // Each package spells CodeSha256 its own way.
    let e = new()
        .with_function(FN, Package::Image, &zip_sha, "live")
        .unwrap_err();
    assert!(other(&e, "not an image digest"), "{e}");
    let e = new()
        .with_function(FN, Package::Zip, &hex(&digest(1)), "live")
        .unwrap_err();
    assert!(other(&e, "not a SHA-256 in base64"), "{e}");
    assert!(
        new()
            .with_function(FN, Package::Zip, &zip_sha, "live")
            .is_ok()
    );
    for (name, alias) in [("", "live"), ("a b", "live"), (FN, "12"), (FN, "")] {
        let e = new()
            .with_function(name, Package::Zip, &zip_sha, alias)
            .unwrap_err();
        assert!(other(&e, "ValidationException"), "{name:?}/{alias:?}: {e}");
    }
    let e = new()
        .with_function(FN, Package::Zip, &zip_sha, "live")
        .and_then(|s| s.with_function(FN, Package::Zip, &zip_sha, "live"))
        .unwrap_err();
    assert!(conflict(&e, "already exist"), "{e}");
}

#[tokio::test]
async fn every_alias_change_gets_a_new_revision_id_and_a_stale_one_is_refused() {
    let (sim, clock) = sim();
    publish_two(&sim, &clock).await;
    let read = sim.alias(FN, "live").await.unwrap();
    let changed = sim
        .update_alias(
            FN,
            "live",
            &update("1", Some(("2", 1_000)), read.revision_id.clone()),
        )
        .await
        .unwrap();
    assert_ne!(changed.revision_id, read.revision_id);
    assert_eq!(changed.weighted, Some(("2".to_string(), 0.1)));
    assert_eq!(changed.description, "thumbnails");
    // The revision read before the change no longer holds.
    let e = sim
        .update_alias(FN, "live", &update("2", None, read.revision_id))
        .await
        .unwrap_err();
    assert!(conflict(&e, "PreconditionFailedException"), "{e}");
    assert_eq!(sim.alias(FN, "live").await.unwrap(), changed);
    // Without a revision the change is unconditional.
    let last = sim
        .update_alias(FN, "live", &update("2", None, None))
        .await
        .unwrap();
    assert_ne!(last.revision_id, changed.revision_id);
    assert_eq!((last.version.as_str(), last.weighted), ("2", None));
}

#[tokio::test]
async fn a_weight_must_be_strictly_between_none_and_all() {
    let (sim, clock) = sim();
    publish_two(&sim, &clock).await;
    for w in [0, 10_000, 10_001, u32::MAX] {
        let e = sim
            .update_alias(FN, "live", &update("1", Some(("2", w)), None))
            .await
            .unwrap_err();
        assert!(other(&e, "not above 0.0 and below 1.0"), "{w}: {e}");
    }
    for w in [f64::NAN, -0.1, 0.0, 1.0, 1.5, f64::INFINITY] {
        let e = sim
            .change_alias_by_hand(FN, "live", "1", Some(("2", w)))
            .unwrap_err();
        assert!(other(&e, "InvalidParameterValueException"), "{w}: {e}");
    }
    let fine = sim
        .update_alias(FN, "live", &update("1", Some(("2", 9_999)), None))
        .await
        .unwrap();
    assert_eq!(fine.weighted, Some(("2".to_string(), 0.9999)));
}

#[tokio::test]
async fn a_weight_cannot_go_to_the_aliass_own_version() {
    let (sim, clock) = sim();
    publish_two(&sim, &clock).await;
    let e = sim
        .update_alias(FN, "live", &update("2", Some(("2", 500)), None))
        .await
        .unwrap_err();
    assert!(
        other(&e, "already included in routing configuration"),
        "{e}"
    );
}

#[tokio::test]
async fn a_version_that_does_not_exist_is_refused_as_the_alias_or_the_weight() {
    let (sim, _) = sim();
    let e = sim
        .update_alias(FN, "live", &update("7", None, None))
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::NotFound { .. }), "{e}");
    let e = sim
        .update_alias(FN, "live", &update("1", Some(("7", 500)), None))
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::NotFound { .. }), "{e}");
    for bad in ["v2", "", "-1", "1.0"] {
        let e = sim
            .update_alias(FN, "live", &update(bad, None, None))
            .await
            .unwrap_err();
        assert!(other(&e, "ValidationException"), "{bad:?}: {e}");
    }
    // Nothing of it was applied.
    let a = sim.alias(FN, "live").await.unwrap();
    assert_eq!((a.version.as_str(), a.weighted), ("1", None));
}

#[tokio::test]
async fn latest_shares_no_traffic_but_an_alias_may_point_at_it() {
    let (sim, clock) = sim();
    publish_two(&sim, &clock).await;
    let e = sim
        .update_alias(FN, "live", &update("$LATEST", Some(("2", 500)), None))
        .await
        .unwrap_err();
    assert!(other(&e, "$LATEST is not supported"), "{e}");
    let e = sim
        .update_alias(FN, "live", &update("1", Some(("$LATEST", 500)), None))
        .await
        .unwrap_err();
    assert!(other(&e, "$LATEST is not supported"), "{e}");
    let a = sim
        .update_alias(FN, "live", &update("$LATEST", None, None))
        .await
        .unwrap();
    assert_eq!(a.version, "$LATEST");
}

#[tokio::test]
async fn a_description_over_256_characters_is_refused() {
    let (sim, _) = sim();
    let mut u = update("1", None, None);
    u.description = "é".repeat(257);
    let e = sim.update_alias(FN, "live", &u).await.unwrap_err();
    assert!(other(&e, "less than or equal to 256"), "{e}");
    u.description = "é".repeat(256);
    assert!(sim.update_alias(FN, "live", &u).await.is_ok());
}

#[tokio::test]
async fn a_hand_change_keeps_the_description_and_invalidates_what_was_read() {
    let (sim, clock) = sim();
    publish_two(&sim, &clock).await;
    let mut u = update("1", Some(("2", 500)), None);
    u.description = "thumbnails [shipdeck run=r1]".to_string();
    let ours = sim.update_alias(FN, "live", &u).await.unwrap();
    let hand = sim.change_alias_by_hand(FN, "live", "1", None).unwrap();
    assert_eq!(hand.description, ours.description);
    assert_eq!(hand.weighted, None);
    let e = sim
        .update_alias(
            FN,
            "live",
            &update("1", Some(("2", 1_000)), ours.revision_id),
        )
        .await
        .unwrap_err();
    assert!(conflict(&e, "PreconditionFailedException"), "{e}");
    assert_eq!(sim.alias(FN, "live").await.unwrap(), hand);
    // A hand change follows the API's rules too.
    assert!(sim.change_alias_by_hand(FN, "live", "9", None).is_err());
}

#[tokio::test]
async fn a_missing_function_version_or_alias_is_not_found() {
    let (sim, _) = sim();
    let nf = |r: Result<(), ProviderError>| matches!(r, Err(ProviderError::NotFound { .. }));
    assert!(nf(sim.alias("nope", "live").await.map(drop)));
    assert!(nf(sim.alias(FN, "dead").await.map(drop)));
    assert!(nf(sim.latest("nope").await.map(drop)));
    assert!(nf(sim.artifact(FN, 2).await.map(drop)));
    assert!(nf(sim.publish("nope", "x", None).await.map(drop)));
    assert!(nf(sim.update_code("nope", &image(1)).await.map(drop)));
    assert!(nf(sim.reading(FN, "dead", t0()).map(drop)));
    assert!(nf(sim.fail_next_update("nope", "x")));
    let e = sim.alias(FN, "dead").await.unwrap_err();
    assert!(e.to_string().contains("Alias not found"), "{e}");
}

#[test]
fn the_same_seed_mints_the_same_revision_ids() {
    let ids = |seed| {
        let clock = Arc::new(ManualClock::new(t0()));
        let sim = SimLambda::new(seed, clock, DELAY)
            .with_function(FN, Package::Image, &hex(&digest(1)), "live")
            .unwrap();
        let hand = sim.change_alias_by_hand(FN, "live", "1", None).unwrap();
        hand.revision_id.unwrap()
    };
    assert_eq!(ids(7), ids(7));
    assert_ne!(ids(7), ids(8));
    assert_eq!(ids(7).len(), 36);
}

#[tokio::test]
async fn a_reading_has_the_aliass_artifacts_and_the_events_newest_first() {
    let (sim, clock) = sim();
    publish_two(&sim, &clock).await;
    clock.advance(Duration::from_mins(1));
    sim.update_alias(FN, "live", &update("1", Some(("2", 1_000)), None))
        .await
        .unwrap();
    let now = t0() + chrono::Duration::seconds(90);
    let r = sim.reading(FN, "live", now).unwrap();
    assert_eq!(r.alias_version, "1");
    assert_eq!(r.weighted, Some(("2".to_string(), 0.1)));
    assert_eq!(r.description, "thumbnails");
    let versions: Vec<u32> = r.artifacts.iter().map(|a| a.version).collect();
    assert_eq!(versions, [1, 2]);
    assert_eq!(r.state.as_deref(), Some("Active"));
    assert_eq!(r.at, now);
    assert!(r.plan.is_empty() && r.metrics.is_empty() && r.codedeploy.is_none());
    let events: Vec<(i64, &str)> = r
        .events
        .iter()
        .map(|e| ((e.at - t0()).num_seconds(), &*e.message))
        .collect();
    let two = hex(&digest(2));
    let published = format!("published version 2 (CodeSha256 {two})");
    let updating = format!("UpdateFunctionCode: $LATEST gets CodeSha256 {two} (in progress)");
    assert_eq!(
        events[..4],
        [
            (90, "alias live → version 1, 10% on version 2 (UpdateAlias)"),
            (30, published.as_str()),
            // Settled at its end's time, not when a call noticed it.
            (30, "update of $LATEST successful"),
            (0, updating.as_str()),
        ]
    );
    assert!(events.windows(2).all(|w| w[0].0 >= w[1].0));
    // The platform's one builder reads it: weights without shipdeck's
    // marker are said as set outside shipdeck.
    let s = service_snapshot("thumbnailer", r);
    assert_eq!(
        s.detail.badge.as_ref().map(|b| b.text.as_str()),
        Some("v2 10%")
    );
    assert_eq!(s.deployments[0].task_definition.number(), Some(1));
    assert_eq!(s.digest, Some(digest(1)));
}
