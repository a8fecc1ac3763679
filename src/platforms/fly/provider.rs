//! [`FlyProvider`]: the [`Provider`] of services on Fly.io Machines. The
//! reading is here; promotions, rollbacks and decisions are in `run.rs`.

pub mod run;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::api::{FlyApi, RunView};
use super::http::HttpFly;
use crate::secrets::Secrets;

use crate::config::{EnvConfig, ServiceConfig};
use crate::model::{Digest, EnvSnapshot, Revision, RevisionInfo};
use crate::provider::{DeployStarted, Provider, ProviderError, ReadScope};

/// The process's Fly provider: runs in flight are kept here, so every
/// reading shows their machines.
#[derive(Debug, Default)]
pub struct FlyProvider {
    /// The runs of this process, by environment and service.
    pub(crate) runs: run::Runs,
    /// Each environment's Machines API, by environment, URL and token
    /// reference (a reloaded configuration that changes either gets a new one).
    apis: Mutex<HashMap<(String, String, String), Arc<HttpFly>>>,
    /// The run's secrets (`$SHIPDECK_SECRET_*`, then the keyring), read
    /// when a token is first needed.
    secrets: OnceLock<Secrets>,
}

/// The process's Fly provider.
pub fn provider() -> &'static FlyProvider {
    static P: OnceLock<FlyProvider> = OnceLock::new();
    P.get_or_init(FlyProvider::default)
}

impl FlyProvider {
    /// A provider reading its tokens from `secrets` (tests, tools).
    pub fn with_secrets(secrets: Secrets) -> Self {
        let p = Self::default();
        let _ = p.secrets.set(secrets);
        p
    }

    fn secrets(&self) -> &Secrets {
        // As the signal reader: the run's secrets, the keyring opened once.
        self.secrets.get_or_init(crate::cli::setup::secrets_for_run)
    }

    /// `env`'s Machines API, built on first use: its token expanded from
    /// `[environment.fly] token` (the value is registered with the
    /// redactor and never logged).
    // Async for its callers' sake: building the API may come to wait (a
    // keyring that answers slowly) without changing them.
    #[allow(clippy::unused_async)]
    pub(crate) async fn api(&self, env: &EnvConfig) -> Result<Arc<HttpFly>, ProviderError> {
        let fly = env.fly.as_deref().ok_or_else(|| ProviderError::Other {
            message: format!("environment {} has no [environment.fly]", env.name),
        })?;
        let key = (env.name.clone(), fly.api_url.clone(), fly.token.clone());
        if let Some(a) = self
            .apis
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(a.clone());
        }
        let secrets = self.secrets();
        let token = secrets
            .expand(&fly.token)
            .map_err(|e| ProviderError::Auth {
                message: format!(
                    "the Fly token of {} ([environment.fly] token): {e}",
                    env.name
                ),
            })?;
        if token.trim().is_empty() {
            return Err(ProviderError::Auth {
                message: format!(
                    "the Fly token of {} ([environment.fly] token) is empty",
                    env.name
                ),
            });
        }
        let api = Arc::new(HttpFly::new(
            env,
            &fly.api_url,
            &token,
            secrets.redactor().clone(),
        )?);
        Ok(self
            .apis
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_insert(api)
            .clone())
    }

    /// What this process's run on `svc` says, for its reading.
    fn run_view(&self, env: &EnvConfig, svc: &ServiceConfig) -> Option<RunView> {
        self.runs
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(env.name.clone(), svc.name.clone()))
            .cloned()
    }

    /// The Machines API calls made so far, per environment and operation.
    pub fn accounting(&self) -> crate::aws::Accounting {
        let apis = self.apis.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = crate::aws::Accounting::new();
        for ((env, _, _), api) in apis.iter() {
            let mine = out.entry(env.clone()).or_default();
            for (op, n) in api.calls() {
                *mine.entry(op).or_default() += n;
            }
        }
        out
    }
}

impl Provider for FlyProvider {
    async fn read_env(
        &self,
        env: &EnvConfig,
        _scope: ReadScope,
    ) -> Result<EnvSnapshot, ProviderError> {
        let api = self.api(env).await?;
        let now = chrono::Utc::now();
        let services = super::read::read(&*api, env, |svc| self.run_view(env, svc), now).await?;
        // Where each digest was read: a promotion of it into another stage
        // pulls it from there unless that stage says its own repository.
        for s in &services {
            if let (Some(d), Some(i)) = (&s.digest, &s.image) {
                let repo = i
                    .registry
                    .as_ref()
                    .map_or_else(|| i.repository.clone(), |r| format!("{r}/{}", i.repository));
                self.runs.saw(d.as_str(), &repo);
            }
        }
        tracing::debug!(env = %env.name, calls = ?api.calls(), "Machines API calls so far");
        Ok(EnvSnapshot {
            env: env.name.clone(),
            read_at: now,
            services,
            warnings: Vec::new(),
            sources: crate::model::Sources::default(),
            index: crate::model::ServiceIndex::default(),
        })
    }

    /// The digests the service's machines run, from a reading of its app:
    /// the Machines API keeps no earlier images (the ledger's stable marks
    /// are where a rollback's target comes from).
    async fn history(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        _current: &Revision,
    ) -> Result<Vec<RevisionInfo>, ProviderError> {
        let f = service.fly.as_deref().ok_or_else(|| ProviderError::Other {
            message: format!("{} has no [environment.service.fly]", service.name),
        })?;
        let api = self.api(env).await?;
        let list = api.list(&f.app).await?;
        let machines = super::read::machines_of(&list, f.group.as_deref());
        let mut out: Vec<RevisionInfo> = Vec::new();
        for m in &machines {
            let Some(d) = m.digest().and_then(|d| Digest::parse(d).ok()) else {
                continue;
            };
            if out.iter().all(|i| i.digest.as_ref() != Some(&d)) {
                out.push(RevisionInfo {
                    task_definition: super::snapshot::revision(&f.app, f.group.as_deref(), &d),
                    digest: Some(d),
                    active: true,
                });
            }
        }
        Ok(out)
    }

    async fn deploy(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        digest: &Digest,
    ) -> Result<DeployStarted, ProviderError> {
        run::deploy(self, env, service, digest, run::Intent::Promote).await
    }

    async fn redeploy(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        digest: &Digest,
    ) -> Result<DeployStarted, ProviderError> {
        run::deploy(self, env, service, digest, run::Intent::Back).await
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
