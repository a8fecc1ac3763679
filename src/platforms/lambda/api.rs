//! The Lambda calls a promotion, a step and a rollback make, as one trait:
//! the SDK implements it against AWS (or moto), and the simulator against
//! its simulated functions, so both are driven by the same steps
//! (`steps.rs`) and read by the same builder (`snapshot.rs`).

use super::read::{AliasView, Latest};
use super::snapshot::Artifact;
use crate::model::Digest;
use crate::provider::ProviderError;

/// A change of an alias: its version, the weighted second version (in
/// hundredths of a percent), and its description (shipdeck's marker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasUpdate {
    /// The version the alias names.
    pub version: String,
    /// The second version and its share, or none (weights cleared).
    pub weighted: Option<(String, u32)>,
    /// The description to write.
    pub description: String,
    /// The revision the change was read at, where the API honours it: the
    /// change is refused when someone changed the alias in between.
    pub revision_id: Option<String>,
}

/// New code for `$LATEST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// An image, by repository and digest (`repo@sha256:…`).
    Image {
        /// The repository's URI (no tag, no digest).
        repository: String,
        /// The digest.
        digest: Digest,
    },
    /// A zip package's bytes, already checked against the source's digest.
    Zip(Vec<u8>),
}

impl Code {
    /// The `ImageUri` of an image.
    pub fn image_uri(repository: &str, digest: &Digest) -> String {
        format!("{repository}@{digest}")
    }
}

/// `$LATEST` after an update: its state, and the code it now holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestCode {
    /// State and last update.
    pub latest: Latest,
    /// `CodeSha256` as the API spells it.
    pub code_sha256: Option<String>,
    /// The function's revision id, where the API gives one.
    pub revision_id: Option<String>,
}

/// The calls, by function name.
#[allow(async_fn_in_trait)] // used within the crate, with concrete types
pub trait LambdaApi {
    /// The alias as it is now.
    async fn alias(&self, function: &str, alias: &str) -> Result<AliasView, ProviderError>;
    /// Changes the alias.
    async fn update_alias(
        &self,
        function: &str,
        alias: &str,
        update: &AliasUpdate,
    ) -> Result<AliasView, ProviderError>;
    /// `$LATEST` and the code it holds.
    async fn latest(&self, function: &str) -> Result<LatestCode, ProviderError>;
    /// Puts new code into `$LATEST`.
    async fn update_code(&self, function: &str, code: &Code) -> Result<LatestCode, ProviderError>;
    /// Publishes `$LATEST` as a version, only while it still holds
    /// `code_sha256` (a concurrent change is refused, never published).
    async fn publish(
        &self,
        function: &str,
        code_sha256: &str,
        revision_id: Option<&str>,
    ) -> Result<Artifact, ProviderError>;
    /// A published version's artifact.
    async fn artifact(&self, function: &str, version: u32) -> Result<Artifact, ProviderError>;
    /// A published zip version's package, as stored: never more than
    /// `limit` bytes read (a bigger package is refused, see
    /// [`super::package::PackageError::TooBig`]). Not checked here against
    /// the version's digest: [`super::package`] does that, in one place.
    async fn package(
        &self,
        function: &str,
        version: u32,
        limit: u64,
    ) -> Result<Vec<u8>, ProviderError>;
}
