//! A zip function promoted from one stage into another through the
//! platform's own code (`lambda::package`, `lambda::steps`): the package is
//! found where the source's alias serves the digest, fetched, checked, and
//! only then uploaded; a package that is not the promoted bytes, or is too
//! big, is refused before any `UpdateFunctionCode`.

use std::sync::Arc;
use std::time::Duration;

use super::{DELAY, FN, digest, sim, t0, zip};
use crate::clock::ManualClock;
use crate::model::Digest;
use crate::platforms::lambda::api::{Code, LambdaApi};
use crate::platforms::lambda::package::{self, Origin, PACKAGE_LIMIT, PackageError, Stage};
use crate::platforms::lambda::steps::{self, StepError, Wait};
use crate::platforms::sim::lambda::{Package, SimLambda};
use crate::provider::ProviderError;

const WAIT: Wait = Wait {
    limit: Duration::from_mins(5),
    every: Duration::from_secs(5),
};

/// A stage's zip function `thumbs` with `packages` published in order as
/// versions 1, 2, …, its bytes kept, and alias `live` on the last.
fn stage(seed: u64, clock: &ManualClock, packages: &[Vec<u8>]) -> SimLambda {
    let sim = SimLambda::new(seed, Arc::new(clock.clone()), DELAY);
    let codes: Vec<String> = packages.iter().map(|p| sim.put_package(p)).collect();
    sim.with_versions(FN, Package::Zip, &codes, "live", t0())
        .unwrap()
}

fn staged<'a>(name: &str, api: &'a SimLambda) -> Stage<&'a SimLambda> {
    Stage {
        name: name.to_string(),
        api,
        function: FN.to_string(),
        alias: "live".to_string(),
    }
}

/// Staging serves package 2 (version 2); prod is on package 1.
fn staging_and_prod() -> (SimLambda, SimLambda, ManualClock, Vec<u8>) {
    let clock = ManualClock::new(t0());
    let (one, two) = (zip(b"handler v1"), zip(b"handler v2"));
    let staging = stage(1, &clock, &[one.clone(), two.clone()]);
    let prod = stage(2, &clock, &[one]);
    (staging, prod, clock, two)
}

/// Where staging serves `promoted` from.
async fn from_staging<'a>(staging: &'a SimLambda, promoted: &Digest) -> Origin<&'a SimLambda> {
    package::locate(vec![staged("staging", staging)], FN, promoted)
        .await
        .unwrap()
}

#[tokio::test]
async fn staging_s_package_is_found_checked_uploaded_and_published_in_prod() {
    let (staging, prod, clock, two) = staging_and_prod();
    let promoted = Digest::of_bytes(&two);
    let origin = from_staging(&staging, &promoted).await;
    assert!(
        matches!(origin, Origin::Zip { ref stage, version: 2, .. } if stage == "staging"),
        "{origin:?}"
    );
    let code = origin.code(&promoted, PACKAGE_LIMIT).await.unwrap();
    assert_eq!(code, Code::Zip(two.clone()));
    let sleep = |d| {
        clock.advance(d);
        std::future::ready(())
    };
    let v2 = steps::publish(&prod, FN, &code, &promoted, WAIT, sleep)
        .await
        .unwrap();
    assert_eq!((v2.version, v2.digest.clone()), (2, Ok(promoted.clone())));
    // Prod's $LATEST holds staging's CodeSha256, and its new version serves
    // the same bytes.
    let source = staging.latest(FN).await.unwrap().code_sha256;
    assert_eq!(prod.latest(FN).await.unwrap().code_sha256, source);
    assert_eq!(prod.package(FN, 2, PACKAGE_LIMIT).await.unwrap(), two);
    assert_eq!(prod.calls_of("UpdateFunctionCode"), 1);
    assert_eq!(staging.calls_of("GetFunction"), 1);
}

#[tokio::test]
async fn a_corrupted_package_is_refused_naming_both_digests_before_any_upload() {
    let (staging, prod, _, two) = staging_and_prod();
    let promoted = Digest::of_bytes(&two);
    staging.corrupt_downloads(FN).unwrap();
    let origin = from_staging(&staging, &promoted).await;
    let e = origin.code(&promoted, PACKAGE_LIMIT).await.unwrap_err();
    let StepError::Package(PackageError::Mismatch {
        ref found,
        ref expected,
        ..
    }) = e
    else {
        panic!("{e:?}");
    };
    assert_eq!(expected, &promoted);
    assert_ne!(found, &promoted);
    let said = e.to_string();
    assert!(said.contains(found.as_str()), "{said}");
    assert!(said.contains(promoted.as_str()), "{said}");
    assert!(said.contains("thumbs:2 in staging"), "{said}");
    assert!(said.contains("nothing was uploaded"), "{said}");
    // The promotion never reached prod.
    assert_eq!(prod.calls(), 0);
    assert_eq!(prod.calls_of("UpdateFunctionCode"), 0);
    assert_eq!(prod.versions(FN).unwrap(), ["$LATEST", "1"]);
}

#[tokio::test]
async fn a_package_over_the_limit_is_refused_unread() {
    let (staging, _, _, two) = staging_and_prod();
    let promoted = Digest::of_bytes(&two);
    let origin = from_staging(&staging, &promoted).await;
    let small = u64::try_from(two.len()).unwrap() - 1;
    let e = origin.code(&promoted, small).await.unwrap_err();
    assert!(
        matches!(e, StepError::Provider(ProviderError::Other { ref message })
            if message.contains(&format!("{} bytes", two.len()))
                && message.contains("promoting through S3 is not built")),
        "{e:?}"
    );
    // Exactly at the limit is taken.
    let len = u64::try_from(two.len()).unwrap();
    assert!(origin.code(&promoted, len).await.is_ok());
}

#[tokio::test]
async fn the_package_is_looked_for_where_an_alias_serves_it_and_nowhere_else() {
    let (staging, prod, _, two) = staging_and_prod();
    let promoted = Digest::of_bytes(&two);
    // Prod does not serve it; a stage without the function is passed over.
    let empty = SimLambda::new(9, Arc::new(ManualClock::new(t0())), DELAY);
    let e = package::locate(
        vec![staged("dev", &empty), staged("prod", &prod)],
        FN,
        &promoted,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, ProviderError::Other { ref message }
            if message.contains("no other stage") && message.contains(promoted.as_str())),
        "{e:?}"
    );
    let found = package::locate(
        vec![staged("dev", &empty), staged("staging", &staging)],
        FN,
        &promoted,
    )
    .await
    .unwrap();
    assert!(matches!(found, Origin::Zip { version: 2, .. }), "{found:?}");
    // An image holding the digest is no package to upload into a zip function.
    let (image_stage, _) = sim();
    let image_digest = digest(1);
    let e = package::locate(vec![staged("staging", &image_stage)], FN, &image_digest)
        .await
        .unwrap_err();
    assert!(
        matches!(e, ProviderError::Other { ref message } if message.contains("Image function")),
        "{e:?}"
    );
    // And an image version has no package to download.
    let e = image_stage.package(FN, 1, PACKAGE_LIMIT).await.unwrap_err();
    assert!(
        matches!(e, ProviderError::Other { ref message } if message.contains("no Code.Location")),
        "{e:?}"
    );
}
