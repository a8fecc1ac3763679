//! A simulated Lambda shared through the demo's world file: every call
//! first takes the state another process may have saved, and every call
//! that changes something saves it, so a shift started in one console is
//! decided from another shell (`shipdeck step continue --demo`) as it is on
//! AWS. Without a world file (tests, `--fleet`) it is the process's own.

use super::super::{SimFleet, lambda::SimLambda};
use crate::platforms::lambda::api::{AliasUpdate, Code, LambdaApi, LatestCode};
use crate::platforms::lambda::read::AliasView;
use crate::platforms::lambda::snapshot::Artifact;
use crate::provider::ProviderError;

/// The simulated Lambda of environment `env`, kept in `fleet`'s world.
#[derive(Debug, Clone)]
pub(in crate::platforms::sim) struct Shared {
    pub(in crate::platforms::sim) fleet: SimFleet,
    pub(in crate::platforms::sim) env: String,
    pub(in crate::platforms::sim) api: SimLambda,
}

impl Shared {
    /// Takes the state saved in the world, if another process saved one.
    pub(in crate::platforms::sim) fn pull(&self) {
        let Some(w) = &self.fleet.world else {
            return;
        };
        let _lock = w.lock();
        let mut st = self.fleet.lock();
        w.sync_in(&mut st);
        if let Some(saved) = st.envs.get(&self.env).and_then(|e| e.lambda.as_ref()) {
            self.api.import(saved);
        }
    }

    /// Saves the state into the world.
    fn push(&self) {
        if self.fleet.world.is_none() {
            return;
        }
        let saved = self.api.export();
        self.fleet.change(|st| {
            if let Some(e) = st.envs.get_mut(&self.env) {
                e.lambda = saved;
            }
        });
    }

    /// A call that changes the functions: taken from the world, saved into it.
    fn changed<T>(&self, r: Result<T, ProviderError>) -> Result<T, ProviderError> {
        self.push();
        r
    }
}

impl LambdaApi for Shared {
    async fn alias(&self, function: &str, alias: &str) -> Result<AliasView, ProviderError> {
        self.pull();
        self.api.alias(function, alias).await
    }

    async fn update_alias(
        &self,
        function: &str,
        alias: &str,
        update: &AliasUpdate,
    ) -> Result<AliasView, ProviderError> {
        self.pull();
        let r = self.api.update_alias(function, alias, update).await;
        self.changed(r)
    }

    async fn latest(&self, function: &str) -> Result<LatestCode, ProviderError> {
        self.pull();
        self.api.latest(function).await
    }

    async fn update_code(&self, function: &str, code: &Code) -> Result<LatestCode, ProviderError> {
        self.pull();
        let r = self.api.update_code(function, code).await;
        self.changed(r)
    }

    async fn publish(
        &self,
        function: &str,
        code_sha256: &str,
        revision_id: Option<&str>,
    ) -> Result<Artifact, ProviderError> {
        self.pull();
        let r = self.api.publish(function, code_sha256, revision_id).await;
        self.changed(r)
    }

    async fn artifact(&self, function: &str, version: u32) -> Result<Artifact, ProviderError> {
        self.pull();
        self.api.artifact(function, version).await
    }

    async fn package(
        &self,
        function: &str,
        version: u32,
        limit: u64,
    ) -> Result<Vec<u8>, ProviderError> {
        self.pull();
        self.api.package(function, version, limit).await
    }
}
