//! Someone else's code lands in `$LATEST` between shipdeck's update and its
//! publish: `PublishVersion` with the promoted `CodeSha256` and the
//! function's revision id is refused, so
//! their code is never published as the promoted version, and the run says
//! that nothing was published and the alias was not touched.

use std::time::Duration;

use super::{FN, REPO, digest, hex, image, sim};
use crate::platforms::lambda::api::{AliasUpdate, Code, LambdaApi, LatestCode};
use crate::platforms::lambda::read::AliasView;
use crate::platforms::lambda::snapshot::Artifact;
use crate::platforms::lambda::steps::{self, StepError, Wait};
use crate::platforms::sim::lambda::SimLambda;
use crate::provider::ProviderError;

/// The simulated Lambda, with someone deploying `theirs` by hand just
/// before each publish.
struct Racing<'a> {
    sim: &'a SimLambda,
    theirs: String,
}

impl LambdaApi for Racing<'_> {
    async fn alias(&self, function: &str, alias: &str) -> Result<AliasView, ProviderError> {
        self.sim.alias(function, alias).await
    }

    async fn update_alias(
        &self,
        function: &str,
        alias: &str,
        update: &AliasUpdate,
    ) -> Result<AliasView, ProviderError> {
        self.sim.update_alias(function, alias, update).await
    }

    async fn latest(&self, function: &str) -> Result<LatestCode, ProviderError> {
        self.sim.latest(function).await
    }

    async fn update_code(&self, function: &str, code: &Code) -> Result<LatestCode, ProviderError> {
        self.sim.update_code(function, code).await
    }

    async fn publish(
        &self,
        function: &str,
        code_sha256: &str,
        revision_id: Option<&str>,
    ) -> Result<Artifact, ProviderError> {
        self.sim.change_code_underneath(function, &self.theirs)?;
        self.sim.publish(function, code_sha256, revision_id).await
    }

    async fn artifact(&self, function: &str, version: u32) -> Result<Artifact, ProviderError> {
        self.sim.artifact(function, version).await
    }

    async fn package(
        &self,
        function: &str,
        version: u32,
        limit: u64,
    ) -> Result<Vec<u8>, ProviderError> {
        self.sim.package(function, version, limit).await
    }
}

#[tokio::test]
async fn code_changed_underneath_is_never_published_and_says_what_was_left() {
    let (sim, clock) = sim();
    sim.push_image(REPO, &digest(2));
    let racing = Racing {
        sim: &sim,
        theirs: hex(&digest(3)),
    };
    let wait = Wait {
        limit: Duration::from_mins(5),
        every: Duration::from_secs(5),
    };
    let sleep = |d: Duration| {
        clock.advance(d);
        std::future::ready(())
    };
    let e = steps::publish(&racing, FN, &image(2), &digest(2), wait, sleep)
        .await
        .unwrap_err();
    let StepError::Publish {
        source: ProviderError::Conflict { message },
        ..
    } = &e
    else {
        panic!("{e:?}");
    };
    // The function's revision id moved with their update: refused on that
    // (as AWS does, before it compares CodeSha256), a conflict either way.
    assert!(
        message.contains("lambda:PublishVersion")
            && (message.contains("Revision Id") || message.contains("changed underneath")),
        "{message}"
    );
    let said = e.to_string();
    assert!(
        said.ends_with("nothing was published, and the alias was not touched"),
        "{said}"
    );
    // Neither the promoted code nor theirs was published; live is as it was.
    assert_eq!(sim.versions(FN).unwrap(), ["$LATEST", "1"]);
    let live = sim.alias(FN, "live").await.unwrap();
    assert_eq!((live.version.as_str(), live.weighted), ("1", None));
    let latest = sim.latest(FN).await.unwrap();
    assert_eq!(latest.code_sha256, Some(hex(&digest(3))), "theirs stays");
}

/// Without a revision id to compare, the `CodeSha256` condition alone
/// refuses it, with AWS's words.
#[tokio::test]
async fn the_code_sha256_condition_alone_refuses_other_code() {
    let (sim, clock) = sim();
    sim.push_image(REPO, &digest(2));
    sim.update_code(FN, &image(2)).await.unwrap();
    clock.advance(Duration::from_mins(1));
    sim.change_code_underneath(FN, &hex(&digest(3))).unwrap();
    let e = sim.publish(FN, &hex(&digest(2)), None).await.unwrap_err();
    assert!(
        matches!(&e, ProviderError::Conflict { message }
            if message.contains("is different from current CodeSHA256 in $LATEST")),
        "{e:?}"
    );
    assert_eq!(sim.versions(FN).unwrap(), ["$LATEST", "1"]);
}
