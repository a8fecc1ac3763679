//! [`FlyProvider`]: the [`Provider`] of services on Fly.io Machines. The
//! reading is here; promotions, rollbacks and decisions are in `run.rs`.

pub mod run;

use std::sync::OnceLock;

use crate::config::{EnvConfig, ServiceConfig};
use crate::model::{Digest, EnvSnapshot, Revision, RevisionInfo};
use crate::provider::{DeployStarted, Provider, ProviderError, ReadScope};

/// The process's Fly provider: runs in flight are kept here, so every
/// reading shows their machines.
#[derive(Debug, Default)]
pub struct FlyProvider {
    /// The runs of this process, by environment and service.
    pub(super) runs: run::Runs,
}

/// The process's Fly provider.
pub fn provider() -> &'static FlyProvider {
    static P: OnceLock<FlyProvider> = OnceLock::new();
    P.get_or_init(FlyProvider::default)
}

fn not_yet() -> ProviderError {
    ProviderError::Other {
        message: "the Fly platform is not built yet".to_string(),
    }
}

impl Provider for FlyProvider {
    async fn read_env(
        &self,
        _env: &EnvConfig,
        _scope: ReadScope,
    ) -> Result<EnvSnapshot, ProviderError> {
        Err(not_yet())
    }

    async fn history(
        &self,
        _env: &EnvConfig,
        _service: &ServiceConfig,
        _current: &Revision,
    ) -> Result<Vec<RevisionInfo>, ProviderError> {
        Err(not_yet())
    }

    async fn deploy(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        digest: &Digest,
    ) -> Result<DeployStarted, ProviderError> {
        run::deploy(self, env, service, digest).await
    }

    async fn rollback(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        to: &Revision,
    ) -> Result<DeployStarted, ProviderError> {
        run::rollback(self, env, service, to).await
    }

    async fn decide_step(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        shift: &crate::model::Shift,
        decision: crate::model::Decision,
    ) -> Result<String, ProviderError> {
        run::decide_step(self, env, service, shift, decision).await
    }
}
