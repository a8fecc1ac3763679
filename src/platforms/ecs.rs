//! The real cloud: ECS and CloudWatch through the AWS SDK, one client pair per
//! environment, built from the standard credential chain and the environment's
//! profile and region. Everything leaves as shipdeck's domain types.

pub mod cache;
mod logs;
mod read;
pub mod steps;
pub mod words;
mod write;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

use crate::aws::Calls;
use crate::config::{Config, EnvConfig, ServiceConfig};
use crate::model::{Digest, EnvSnapshot, Revision};
use crate::provider::limit::Limiter;
use crate::provider::{DeployStarted, Provider, ProviderError, ReadScope};
use cache::TaskDefCache;

pub use crate::aws::{Accounting, classify, to_chrono};

/// The API names ECS's calls are limited and counted under.
pub(crate) const ECS: &str = "ecs";
/// CloudWatch's (alarms, metrics, and CloudWatch Logs).
pub(crate) const CLOUDWATCH: &str = "cloudwatch";

/// The clients of one environment.
#[derive(Debug, Clone)]
pub struct Clients {
    /// ECS.
    pub ecs: aws_sdk_ecs::Client,
    /// CloudWatch.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// STS (caller identity).
    pub sts: aws_sdk_sts::Client,
    /// CloudWatch Logs (the `awslogs` driver's lines), reached where
    /// CloudWatch is.
    pub logs: aws_sdk_cloudwatchlogs::Client,
}

#[derive(Debug, Default)]
struct Shared {
    task_defs: TaskDefCache,
    /// Per environment, whether its endpoint has the service-deployment APIs
    /// (emulators and old regions lack them); absent while nobody knows.
    service_deployments: HashMap<String, bool>,
}

/// ECS and CloudWatch behind the provider trait.
#[derive(Debug, Clone)]
pub struct AwsProvider {
    envs: Arc<Vec<EnvConfig>>,
    clients: Arc<Vec<OnceCell<Clients>>>,
    shared: Arc<Mutex<Shared>>,
    /// Every AWS call's in-flight limit and count.
    calls: Calls,
    credentials: Option<aws_credential_types::Credentials>,
    /// Held by the one call that finds out whether an endpoint has the
    /// service-deployment APIs, so a first reading of 2,000 services does not
    /// send 2,000 calls to an endpoint that answers none of them.
    deployments_probe: Arc<tokio::sync::Mutex<()>>,
}

impl AwsProvider {
    /// A provider for every environment of `cfg`; clients are built on first use.
    pub fn new(cfg: &Config) -> Self {
        Self {
            envs: Arc::new(cfg.environments.clone()),
            clients: Arc::new(cfg.environments.iter().map(|_| OnceCell::new()).collect()),
            shared: Arc::new(Mutex::new(Shared::default())),
            calls: Calls::default(),
            credentials: None,
            deployments_probe: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Keeps task definitions in `path` between runs (see [`cache`]).
    pub fn with_cache_file(self, path: std::path::PathBuf) -> Self {
        self.shared().task_defs = TaskDefCache::at(path);
        self
    }

    /// Writes the task-definition cache if it changed (errors are only logged:
    /// a cache that cannot be written costs requests, not correctness).
    pub fn save_cache(&self) {
        if let Err(e) = self.shared().task_defs.save() {
            tracing::warn!(error = %e, "task-definition cache not written");
        }
    }

    /// Why the cache file could not be used, once.
    pub fn cache_warning(&self) -> Option<String> {
        self.shared().task_defs.take_warning()
    }

    /// The in-flight limit of an environment's calls to one API (ECS and
    /// CloudWatch throttle apart, so each has its own).
    pub fn limiter(&self, env: &EnvConfig, api: &'static str) -> Limiter {
        self.calls.limiter(env, api)
    }

    /// One call of `op` to `api` for `env`: under the environment's in-flight
    /// limit, retried when throttled, each attempt counted.
    pub(crate) async fn call<T, F, Fut>(
        &self,
        env: &EnvConfig,
        api: &'static str,
        op: &str,
        f: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ProviderError>>,
    {
        self.calls.call(env, api, op, f).await
    }

    /// Uses these credentials instead of the standard chain (tests against emulators).
    pub fn with_credentials(mut self, creds: aws_credential_types::Credentials) -> Self {
        self.credentials = Some(creds);
        self
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one API call.
    fn count(&self, env: &str, op: &str) {
        self.calls.count(env, op);
    }

    /// Whether `env`'s endpoint answered the service-deployment APIs (unknown counts as yes).
    pub(crate) fn service_deployments_supported(&self, env: &str) -> bool {
        self.shared()
            .service_deployments
            .get(env)
            .copied()
            .unwrap_or(true)
    }

    /// Remembers whether `env`'s endpoint answered the service-deployment APIs.
    pub(crate) fn set_service_deployments(&self, env: &str, supported: bool) {
        self.shared()
            .service_deployments
            .insert(env.to_string(), supported);
    }

    /// While nobody knows whether `env` has the service-deployment APIs, one
    /// call at a time asks; the guard is `None` once it is known.
    pub(crate) async fn service_deployments_probe(
        &self,
        env: &str,
    ) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        if self.shared().service_deployments.contains_key(env) {
            None
        } else {
            Some(self.deployments_probe.lock().await)
        }
    }

    /// API calls made so far, per environment and operation.
    pub fn accounting(&self) -> Accounting {
        self.calls.accounting()
    }

    async fn clients(&self, env: &EnvConfig) -> Result<&Clients, ProviderError> {
        let idx = self
            .envs
            .iter()
            .position(|e| e.name == env.name)
            .ok_or_else(|| ProviderError::NotFound {
                what: "environment".to_string(),
                name: env.name.clone(),
            })?;
        let cell = &self.clients[idx];
        Ok(cell
            .get_or_init(|| async { build_clients(env, self.credentials.clone()).await })
            .await)
    }

    /// Who the credentials of the first environment belong to (STS GetCallerIdentity).
    pub async fn caller_identity(&self) -> Result<String, ProviderError> {
        let Some(env) = self.envs.first().cloned() else {
            return Err(ProviderError::Other {
                message: "no environments configured".to_string(),
            });
        };
        let c = self.clients(&env).await?;
        self.count(&env.name, "GetCallerIdentity");
        let out = c
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| classify(&e, "sts:GetCallerIdentity", &env.name))?;
        out.arn()
            .map(str::to_string)
            .ok_or_else(|| ProviderError::Other {
                message: "GetCallerIdentity answered without an ARN".to_string(),
            })
    }
}

async fn build_clients(
    env: &EnvConfig,
    credentials: Option<aws_credential_types::Credentials>,
) -> Clients {
    use crate::aws::endpoint;
    let sdk = crate::aws::session(env.aws.as_deref(), credentials).await;
    Clients {
        ecs: crate::aws_client!(aws_sdk_ecs, &sdk, endpoint(env, "ecs")),
        cloudwatch: crate::aws_client!(aws_sdk_cloudwatch, &sdk, endpoint(env, "cloudwatch")),
        sts: crate::aws_client!(aws_sdk_sts, &sdk, endpoint(env, "sts")),
        logs: crate::aws_client!(aws_sdk_cloudwatchlogs, &sdk, endpoint(env, "logs")),
    }
}

/// Where an environment's ECS services run: `region/cluster`.
pub fn location(env: &crate::config::EnvConfig) -> String {
    format!("{}/{}", region(env), cluster(env))
}

/// ECS's answer to "has the service converged?", for the watch to read: the
/// primary deployment completed and every desired task running. The one
/// rule of the real platform and of its simulation.
pub fn convergence(
    running: u32,
    desired: u32,
    deployments: &[crate::model::Deployment],
) -> crate::model::Convergence {
    crate::model::Convergence::judged(
        running >= desired
            && deployments
                .iter()
                .find(|d| d.role == crate::model::DeploymentRole::Primary)
                .is_none_or(|d| d.rollout == crate::model::RolloutState::Completed),
    )
}

/// What ECS can do beyond reading and deploying.
pub const CAPABILITIES: crate::provider::Capabilities = crate::provider::Capabilities {
    pauses: true,
    runs_in_process: false,
    history_costs_calls: true,
    // Task-definition revisions are kept, numbered: UpdateService back to one.
    rollback: crate::provider::RollbackStyle::Revisions,
    units: Some("tasks"),
    places: true,
    watched: false,
};

impl Provider for AwsProvider {
    async fn read_env(
        &self,
        env: &EnvConfig,
        scope: ReadScope,
    ) -> Result<EnvSnapshot, ProviderError> {
        read::read_env(self, env, scope).await
    }

    async fn history(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        current: &Revision,
    ) -> Result<Vec<crate::model::RevisionInfo>, ProviderError> {
        read::history(self, env, service, current).await
    }

    async fn deploy(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        digest: &Digest,
    ) -> Result<DeployStarted, ProviderError> {
        write::deploy(self, env, service, digest).await
    }

    async fn rollback(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        to: &Revision,
    ) -> Result<DeployStarted, ProviderError> {
        write::rollback(self, env, service, to).await
    }

    async fn decide_step(
        &self,
        env: &EnvConfig,
        _service: &ServiceConfig,
        shift: &crate::model::Shift,
        decision: crate::model::Decision,
    ) -> Result<String, ProviderError> {
        let c = self.clients(env).await?.clone();
        let op = match (&shift.pause, decision) {
            (Some(_), _) => "ContinueServiceDeployment",
            (None, _) => "StopServiceDeployment",
        };
        self.count(&env.name, op);
        steps::decide(&c.ecs, shift, decision).await
    }

    async fn logs(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        query: &crate::provider::LogQuery,
    ) -> Result<crate::model::logs::LogPage, ProviderError> {
        logs::logs(self, env, service, query).await
    }
}

/// The cluster of `env`. Parsing refuses an ECS service in an environment
/// without `[environment.ecs]`; were one to arrive anyway, the empty name
/// makes ECS answer "not found", never a reading of another cluster.
pub fn cluster(env: &EnvConfig) -> &str {
    env.ecs.as_ref().map_or("", |e| e.cluster.as_str())
}

/// The ECS service name of `svc` (shipdeck's name unless configured).
pub fn service_name(svc: &ServiceConfig) -> &str {
    svc.ecs
        .as_ref()
        .map_or(svc.name.as_str(), |e| e.service.as_str())
}

/// The container of `svc` whose image is the release (shipdeck's name
/// unless configured).
pub fn container(svc: &ServiceConfig) -> &str {
    svc.ecs
        .as_ref()
        .map_or(svc.name.as_str(), |e| e.container.as_str())
}

/// The AWS region of `env` (empty where none is configured; see [`cluster`]).
pub fn region(env: &EnvConfig) -> &str {
    env.aws.as_ref().map_or("", |a| a.region.as_str())
}
