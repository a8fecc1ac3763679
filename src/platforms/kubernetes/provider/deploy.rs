//! A promotion or a rollback as a commit (being wired to `gitops`).

use crate::config::{EnvConfig, ServiceConfig};
use crate::model::Digest;
use crate::provider::{Asking, DeployStarted, ProviderError};

/// Commits `digest` as the service's pinned image.
#[allow(clippy::unused_async)]
pub async fn commit(
    env: &EnvConfig,
    service: &ServiceConfig,
    digest: &Digest,
    by: &Asking,
    back: bool,
) -> Result<DeployStarted, ProviderError> {
    let _ = (env, digest, by, back);
    Err(ProviderError::Other {
        message: format!("{}: promotion by commit is not wired yet", service.name),
    })
}
