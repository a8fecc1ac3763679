//! The simulated fleet behind the provider seam: readings, histories,
//! deploys, rollbacks, step decisions and logs, each a call the way the real
//! platform takes one.

use super::functions::is_lambda;
use super::kube::is_kube;
use super::machines::is_fly;
use super::proxied::is_proxied;
use super::{SERVICES_PER_CALL, SimFleet};
use crate::config::{EnvConfig, ServiceConfig};
use crate::model::{Digest, EnvSnapshot, Revision, RevisionInfo};
use crate::provider::{DeployStarted, Provider, ProviderError, ReadScope};

impl Provider for SimFleet {
    /// The simulator's readings are free, so it always reads everything
    /// (metrics and histories) whatever the scope: views stay deterministic.
    async fn read_env(
        &self,
        env: &EnvConfig,
        _scope: ReadScope,
    ) -> Result<EnvSnapshot, ProviderError> {
        // As on ECS: one call per ten services, side by side under the
        // environment's in-flight limit; a throttled call is retried, a
        // connection fault fails the reading.
        let limiter = self.limiter(env);
        let calls = (0..env.services.len().div_ceil(SERVICES_PER_CALL).max(1)).map(|_| {
            limiter.call(|| async {
                self.enter(&env.name).map(drop)?;
                // Let the other calls of the burst start, as real ones overlap.
                tokio::task::yield_now().await;
                Ok(())
            })
        });
        for r in futures::future::join_all(calls).await {
            r?;
        }
        let st = self.lock();
        self.snapshot(&st, self.clock.now(), env)
    }

    async fn history(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        _current: &Revision,
    ) -> Result<Vec<RevisionInfo>, ProviderError> {
        if is_lambda(service) {
            return Box::pin(self.history_lambda(env, service)).await;
        }
        if is_fly(service) {
            return Box::pin(self.history_fly(env, service)).await;
        }
        if is_kube(service) {
            return self.history_kube(env, service);
        }
        if is_proxied(service) {
            return self.history_proxied(env, service);
        }
        let st = self.enter(&env.name)?;
        st.envs
            .get(&env.name)
            .and_then(|e| e.services.get(crate::platforms::ecs::service_name(service)))
            .map(|s| s.history().to_vec())
            .ok_or_else(|| ProviderError::NotFound {
                what: "service".to_string(),
                name: crate::platforms::ecs::service_name(service).to_string(),
            })
    }

    async fn deploy(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        digest: &Digest,
    ) -> Result<DeployStarted, ProviderError> {
        self.wait_for_call(&env.name).await?;
        if is_lambda(service) {
            return Box::pin(self.deploy_lambda(env, service, digest)).await;
        }
        if is_fly(service) {
            return Box::pin(self.deploy_fly(env, service, digest, false)).await;
        }
        if is_kube(service) {
            return self.deploy_kube(env, service, digest, false);
        }
        if is_proxied(service) {
            return self.deploy_proxied(env, service, digest);
        }
        self.deploy_sync(env, service, digest)
    }

    /// The engine's way back to an earlier digest: on Fly, every machine
    /// not on it, no canary, no holds; on Kubernetes, an abort and a revert
    /// commit (elsewhere, a deploy).
    async fn redeploy(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        digest: &Digest,
    ) -> Result<DeployStarted, ProviderError> {
        if is_fly(service) {
            self.wait_for_call(&env.name).await?;
            return Box::pin(self.deploy_fly(env, service, digest, true)).await;
        }
        if is_kube(service) {
            // A GitOps revert: an abort of a canary under way, then a
            // commit of the stable digest.
            self.wait_for_call(&env.name).await?;
            return self.deploy_kube(env, service, digest, true);
        }
        self.deploy(env, service, digest).await
    }

    async fn rollback(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        to: &Revision,
    ) -> Result<DeployStarted, ProviderError> {
        self.wait_for_call(&env.name).await?;
        if is_lambda(service) {
            return Box::pin(self.rollback_lambda(env, service, to)).await;
        }
        if is_fly(service) {
            return Self::rollback_fly(env, service, to);
        }
        if is_kube(service) {
            // As the platform answers: it rolls back by a commit (redeploy).
            let kube = crate::platforms::kubernetes::provider::provider();
            return Provider::rollback(kube, env, service, to).await;
        }
        if is_proxied(service) {
            return self.rollback_proxied(env, service, to);
        }
        self.rollback_sync(env, service, to)
    }

    async fn decide_step(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        shift: &crate::model::Shift,
        decision: crate::model::Decision,
    ) -> Result<String, ProviderError> {
        if is_lambda(service) {
            self.wait_for_call(&env.name).await?;
            return Box::pin(self.decide_lambda(env, service, shift, decision)).await;
        }
        if is_fly(service) {
            self.wait_for_call(&env.name).await?;
            return self.decide_fly(env, service, shift, decision);
        }
        if is_kube(service) {
            self.wait_for_call(&env.name).await?;
            return self.decide_kube(env, service, shift, decision);
        }
        if is_proxied(service) {
            // A cutover switches at once: nothing pauses, as on a real proxy.
            return Err(ProviderError::Conflict {
                message: format!(
                    "{} in {} runs on a platform whose rollouts do not pause for decisions",
                    service.name, env.name
                ),
            });
        }
        self.wait_for_call(&env.name).await?;
        self.decide_sync(env, service, decision)
    }

    async fn logs(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        query: &crate::provider::LogQuery,
    ) -> Result<crate::model::logs::LogPage, ProviderError> {
        if is_lambda(service) {
            // What the Lambda platform answers: it reads no logs.
            let lambda = crate::platforms::lambda::provider::provider();
            return Provider::logs(lambda, env, service, query).await;
        }
        if is_fly(service) {
            // What the Fly platform answers: it reads no logs.
            let fly = crate::platforms::fly::provider::provider();
            return Provider::logs(fly, env, service, query).await;
        }
        if is_kube(service) {
            // What the Kubernetes platform answers.
            let kube = crate::platforms::kubernetes::provider::provider();
            return Provider::logs(kube, env, service, query).await;
        }
        if is_proxied(service) {
            return self.logs_proxied(env, service, query);
        }
        self.logs_sync(env, service, query)
    }
}
