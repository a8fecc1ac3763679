//! `$LATEST`'s code under the real API's rules: an update takes its time
//! and may fail, a publish holds to the code expected, and one promotion
//! driven through [`LambdaApi`] from a push to the last step.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    DELAY, FN, REPO, conflict, digest, hex, image, other, publish_two, sim, t0, update, zip,
};
use crate::clock::ManualClock;
use crate::model::Digest;
use crate::platforms::lambda::api::{Code, LambdaApi};
use crate::platforms::lambda::digest::zip_code_sha256;
use crate::platforms::lambda::snapshot::service_snapshot;
use crate::platforms::sim::lambda::{Package, SimLambda};

#[tokio::test]
async fn an_update_is_in_progress_for_its_delay_and_refuses_a_publish_and_another_update() {
    let (sim, clock) = sim();
    sim.push_image(REPO, &digest(2));
    sim.push_image(REPO, &digest(3));
    let started = sim.update_code(FN, &image(2)).await.unwrap();
    let status = |l: &crate::platforms::lambda::api::LatestCode| {
        l.latest.last_update.as_ref().unwrap().0.clone()
    };
    assert_eq!(status(&started), "InProgress");
    assert_eq!(started.code_sha256, Some(hex(&digest(2))));
    let e = sim.publish(FN, &hex(&digest(2)), None).await.unwrap_err();
    assert!(conflict(&e, "ResourceConflictException"), "{e}");
    assert!(conflict(&e, "An update is in progress"), "{e}");
    let e = sim.update_code(FN, &image(3)).await.unwrap_err();
    assert!(conflict(&e, "ResourceConflictException"), "{e}");
    clock.advance(Duration::from_secs(29));
    assert_eq!(status(&sim.latest(FN).await.unwrap()), "InProgress");
    clock.advance(Duration::from_secs(1));
    let done = sim.latest(FN).await.unwrap();
    assert_eq!(status(&done), "Successful");
    // The update's end changes the function's revision too.
    assert_ne!(done.revision_id, started.revision_id);
    assert_eq!(sim.versions(FN).unwrap(), ["$LATEST", "1"]);
}

#[tokio::test]
async fn a_failed_update_keeps_the_old_code_and_says_why() {
    let (sim, clock) = sim();
    sim.push_image(REPO, &digest(2));
    sim.fail_next_update(FN, "image manifest unreadable")
        .unwrap();
    sim.update_code(FN, &image(2)).await.unwrap();
    clock.advance(DELAY);
    let l = sim.latest(FN).await.unwrap();
    assert_eq!(
        l.latest.last_update,
        Some((
            "Failed".to_string(),
            Some("image manifest unreadable".to_string())
        ))
    );
    assert_eq!(l.code_sha256, Some(hex(&digest(1))));
    // Publishing the code that failed is refused: it is not there.
    let e = sim.publish(FN, &hex(&digest(2)), None).await.unwrap_err();
    assert!(conflict(&e, "the code changed underneath"), "{e}");
    let r = sim.reading(FN, "live", t0()).unwrap();
    assert_eq!(r.last_update, l.latest.last_update);
    // The fault is spent: the next update succeeds.
    sim.update_code(FN, &image(2)).await.unwrap();
    clock.advance(DELAY);
    let l = sim.latest(FN).await.unwrap();
    assert_eq!(l.latest.last_update.unwrap().0, "Successful");
}

#[tokio::test]
async fn an_image_must_be_pushed_and_match_the_functions_package() {
    let (sim, _) = sim();
    let e = sim.update_code(FN, &image(9)).await.unwrap_err();
    assert!(other(&e, "InvalidParameterValueException"), "{e}");
    assert!(other(&e, "does not exist"), "{e}");
    assert!(other(&e, digest(9).as_str()), "{e}");
    // Pushed to another repository is not pushed to this one.
    sim.push_image("elsewhere/thumbs", &digest(9));
    assert!(sim.update_code(FN, &image(9)).await.is_err());
    let e = sim
        .update_code(FN, &Code::Zip(zip(b"x")))
        .await
        .unwrap_err();
    assert!(other(&e, "Please provide ImageUri"), "{e}");
    // Nothing was started by a refused update.
    let l = sim.latest(FN).await.unwrap();
    assert_eq!(l.latest.last_update.unwrap().0, "Successful");
    assert_eq!(l.code_sha256, Some(hex(&digest(1))));
}

#[tokio::test]
async fn a_zip_function_takes_a_zip_and_its_code_sha256_is_base64() {
    let clock = ManualClock::new(t0());
    let first = zip(b"v1");
    let sim = SimLambda::new(3, Arc::new(clock.clone()), DELAY)
        .with_function("resize", Package::Zip, &zip_code_sha256(&first), "live")
        .unwrap();
    let e = sim
        .update_code("resize", &Code::Zip(b"not a zip".to_vec()))
        .await
        .unwrap_err();
    assert!(other(&e, "Could not unzip"), "{e}");
    let e = sim.update_code("resize", &image(2)).await.unwrap_err();
    assert!(other(&e, "Please don't provide ImageUri"), "{e}");
    let second = zip(b"v2");
    let l = sim
        .update_code("resize", &Code::Zip(second.clone()))
        .await
        .unwrap();
    assert_eq!(l.code_sha256, Some(zip_code_sha256(&second)));
    clock.advance(DELAY);
    let v2 = sim
        .publish("resize", &zip_code_sha256(&second), None)
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.package, "Zip");
    assert_eq!(v2.digest, Ok(Digest::of_bytes(&second)));
}

#[tokio::test]
async fn a_publish_is_refused_when_the_code_changed_underneath() {
    let (sim, clock) = sim();
    sim.push_image(REPO, &digest(2));
    sim.update_code(FN, &image(2)).await.unwrap();
    clock.advance(DELAY);
    sim.change_code_underneath(FN, &hex(&digest(5))).unwrap();
    let e = sim.publish(FN, &hex(&digest(2)), None).await.unwrap_err();
    assert!(conflict(&e, "the code changed underneath"), "{e}");
    assert!(conflict(&e, &hex(&digest(5))), "{e}");
    // Never published.
    assert_eq!(sim.versions(FN).unwrap(), ["$LATEST", "1"]);
    // A malformed CodeSha256 is no fault the API could produce.
    assert!(sim.change_code_underneath(FN, "nothex").is_err());
}

#[tokio::test]
async fn a_publish_is_refused_on_a_stale_function_revision() {
    let (sim, clock) = sim();
    sim.push_image(REPO, &digest(2));
    let started = sim.update_code(FN, &image(2)).await.unwrap();
    clock.advance(DELAY);
    let e = sim
        .publish(FN, &hex(&digest(2)), started.revision_id.as_deref())
        .await
        .unwrap_err();
    assert!(conflict(&e, "PreconditionFailedException"), "{e}");
    let now = sim.latest(FN).await.unwrap();
    let v = sim
        .publish(FN, &hex(&digest(2)), now.revision_id.as_deref())
        .await
        .unwrap();
    assert_eq!(v.version, 2);
}

#[tokio::test]
async fn publishing_unchanged_code_answers_the_last_version() {
    let (sim, clock) = sim();
    let again = sim.publish(FN, &hex(&digest(1)), None).await.unwrap();
    assert_eq!(again.version, 1);
    publish_two(&sim, &clock).await;
    let again = sim.publish(FN, &hex(&digest(2)), None).await.unwrap();
    assert_eq!(again.version, 2);
    assert_eq!(sim.versions(FN).unwrap(), ["$LATEST", "1", "2"]);
    // Published versions never change.
    assert_eq!(sim.artifact(FN, 1).await.unwrap().digest, Ok(digest(1)));
}

/// A promotion as the platform's steps make it: push, update, wait,
/// publish with the code expected, a weighted step, read back, the last step.
#[tokio::test]
async fn a_promotion_through_the_api_from_push_to_the_last_step() {
    let (sim, clock) = sim();
    let new = digest(2);
    sim.push_image(REPO, &new);
    let started = sim.update_code(FN, &image(2)).await.unwrap();
    let expected = started.code_sha256.unwrap();
    assert_eq!(expected, hex(&new));
    let e = sim.publish(FN, &expected, None).await.unwrap_err();
    assert!(conflict(&e, "An update is in progress"), "{e}");
    clock.advance(DELAY);
    let latest = sim.latest(FN).await.unwrap();
    assert_eq!(latest.latest.last_update.unwrap().0, "Successful");
    let v2 = sim
        .publish(FN, &expected, latest.revision_id.as_deref())
        .await
        .unwrap();
    assert_eq!((v2.version, v2.digest.clone()), (2, Ok(new.clone())));
    let before = sim.alias(FN, "live").await.unwrap();
    let step = sim
        .update_alias(
            FN,
            "live",
            &update("1", Some(("2", 1_000)), before.revision_id),
        )
        .await
        .unwrap();
    let back = sim.alias(FN, "live").await.unwrap();
    assert_eq!(back, step);
    assert_eq!(back.version, "1");
    assert_eq!(back.weighted, Some(("2".to_string(), 0.1)));
    let last = sim
        .update_alias(FN, "live", &update("2", None, back.revision_id))
        .await
        .unwrap();
    assert_eq!((last.version.as_str(), last.weighted), ("2", None));
    let s = service_snapshot(
        "thumbnailer",
        sim.reading(FN, "live", clock_now(&clock)).unwrap(),
    );
    assert_eq!(s.digest, Some(new));
    assert!(s.detail.badge.is_none());
    // Every call above was one API call.
    assert_eq!(sim.calls(), 8);
}

fn clock_now(clock: &ManualClock) -> DateTime<Utc> {
    crate::clock::Clock::now(clock)
}
