//! [`KubeProvider`]: the [`Provider`] of services on Kubernetes. A reading
//! comes from the stage's watches (no request of its own); a decision at a
//! pause is the patch `kubectl argo rollouts promote` (or `abort`) sends; a
//! promotion and a rollback are commits (`deploy.rs`).

pub mod deploy;

use std::sync::OnceLock;
use std::time::Duration;

use kube::Api;
use kube::api::{Patch, PatchParams};

use super::objects::Rollout;
use super::watch::{self, Liveness, StageWatches};
use super::words;
use crate::config::kubernetes::{KubeEnv, KubeService, Workload};
use crate::config::{EnvConfig, PlatformKind, ServiceConfig};
use crate::model::{Digest, EnvSnapshot, Revision, RevisionInfo};
use crate::provider::{DeployStarted, Provider, ProviderError, ReadScope};

/// Longest a first reading waits for the watches' first lists.
const FIRST_LIST: Duration = Duration::from_secs(10);

/// The process's Kubernetes provider (its watches are process-wide).
#[derive(Debug, Default)]
pub struct KubeProvider;

/// The process's Kubernetes provider.
pub fn provider() -> &'static KubeProvider {
    static P: OnceLock<KubeProvider> = OnceLock::new();
    P.get_or_init(KubeProvider::default)
}

/// `env`'s `[environment.kubernetes]`.
pub(crate) fn kube_env(env: &EnvConfig) -> Result<&KubeEnv, ProviderError> {
    env.kubernetes
        .as_deref()
        .ok_or_else(|| ProviderError::Other {
            message: format!("environment {} has no [environment.kubernetes]", env.name),
        })
}

/// `svc`'s `[environment.service.kubernetes]`.
pub(crate) fn kube_service(svc: &ServiceConfig) -> Result<&KubeService, ProviderError> {
    svc.kubernetes
        .as_deref()
        .ok_or_else(|| ProviderError::Other {
            message: format!("{} has no [environment.service.kubernetes]", svc.name),
        })
}

/// Which watches `env`'s services need live: their workloads' kinds, the
/// ReplicaSets and pods, and the Applications where one is named.
fn needed(env: &EnvConfig, w: &StageWatches) -> Vec<(String, Liveness)> {
    let svcs: Vec<&KubeService> = env
        .services
        .iter()
        .filter(|s| s.platform == PlatformKind::Kubernetes)
        .filter_map(|s| s.kubernetes.as_deref())
        .collect();
    let mut out = vec![
        (w.replicasets.what.clone(), w.replicasets.liveness()),
        (w.pods.what.clone(), w.pods.liveness()),
    ];
    if svcs.iter().any(|s| s.workload == Workload::Rollout) {
        out.push((w.rollouts.what.clone(), w.rollouts.liveness()));
    }
    if svcs.iter().any(|s| s.workload == Workload::Deployment) {
        out.push((w.deployments.what.clone(), w.deployments.liveness()));
    }
    if svcs.iter().any(|s| s.application.is_some()) {
        out.push((w.applications.what.clone(), w.applications.liveness()));
    }
    out
}

/// Waits for the first lists (up to [`FIRST_LIST`]); a watch that is down
/// fails the reading at once, with its reason: its cells are stale.
async fn ready(env: &EnvConfig, w: &StageWatches) -> Result<(), ProviderError> {
    let deadline = tokio::time::Instant::now() + FIRST_LIST;
    loop {
        let states = needed(env, w);
        if let Some((what, Liveness::Down { reason, since })) = states
            .iter()
            .find(|(_, l)| matches!(l, Liveness::Down { .. }))
        {
            return Err(ProviderError::Network {
                message: format!(
                    "the watch on {what} is down since {}: {reason}",
                    since.format("%H:%M:%S")
                ),
            });
        }
        let starting = states.iter().find(|(_, l)| *l == Liveness::Starting);
        match starting {
            None => return Ok(()),
            Some((what, _)) if tokio::time::Instant::now() >= deadline => {
                return Err(ProviderError::Network {
                    message: format!(
                        "the watch on {what} has not listed within {}s",
                        FIRST_LIST.as_secs()
                    ),
                });
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// The stage's watches, live.
pub(crate) async fn live_stage(
    env: &EnvConfig,
) -> Result<std::sync::Arc<StageWatches>, ProviderError> {
    let stage = watch::stage(kube_env(env)?).await?;
    ready(env, &stage).await?;
    Ok(stage)
}

/// A Kubernetes API error, classified.
pub(crate) fn classify(e: &kube::Error, what: &str) -> ProviderError {
    let message = format!("{what}: {}", crate::model::text::fold_line(&e.to_string()));
    match e {
        kube::Error::Api(s) => match s.code {
            401 | 403 => ProviderError::Auth { message },
            404 => ProviderError::NotFound {
                what: "object".to_string(),
                name: message,
            },
            409 => ProviderError::Conflict { message },
            429 => ProviderError::Throttled {
                message,
                retry_after: None,
            },
            _ => ProviderError::Other { message },
        },
        _ => ProviderError::Network { message },
    }
}

/// A merge patch on a Rollout, or on its status subresource.
pub(crate) async fn patch_rollout(
    w: &StageWatches,
    namespace: &str,
    name: &str,
    status: bool,
    body: &serde_json::Value,
) -> Result<(), ProviderError> {
    let api: Api<Rollout> = Api::namespaced(w.client.clone(), namespace);
    let pp = PatchParams::default();
    let patch = Patch::Merge(body);
    let r = if status {
        api.patch_status(name, &pp, &patch).await
    } else {
        api.patch(name, &pp, &patch).await
    };
    r.map(|_| ()).map_err(|e| {
        classify(
            &e,
            &format!(
                "patching {}rollout {name} in {namespace}",
                if status { "the status of " } else { "" }
            ),
        )
    })
}

impl Provider for KubeProvider {
    async fn read_env(
        &self,
        env: &EnvConfig,
        _scope: ReadScope,
    ) -> Result<EnvSnapshot, ProviderError> {
        let stage = live_stage(env).await?;
        let objects = super::read::Objects {
            rollouts: stage.rollouts.all(),
            deployments: stage.deployments.all(),
            replicasets: stage.replicasets.all(),
            pods: stage.pods.all(),
            events: stage.events.all(),
            applications: stage.applications.all(),
        };
        let mut snap = super::read::snapshot(env, &objects, chrono::Utc::now());
        if let Err(e) = stage.events.check() {
            snap.warnings.push(format!("events not shown: {e}"));
        }
        Ok(snap)
    }

    /// The ReplicaSets the workload keeps, oldest first, from the watches.
    async fn history(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        _current: &Revision,
    ) -> Result<Vec<RevisionInfo>, ProviderError> {
        let snap = self.read_env(env, ReadScope::STATUS).await?;
        Ok(snap
            .services
            .into_iter()
            .find(|s| s.name == service.name)
            .map(|s| s.history.to_vec())
            .unwrap_or_default())
    }

    async fn deploy(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        digest: &Digest,
    ) -> Result<DeployStarted, ProviderError> {
        deploy::commit(
            env,
            service,
            digest,
            &crate::provider::Asking::default(),
            false,
        )
        .await
    }

    async fn redeploy(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        digest: &Digest,
    ) -> Result<DeployStarted, ProviderError> {
        deploy::commit(
            env,
            service,
            digest,
            &crate::provider::Asking::default(),
            true,
        )
        .await
    }

    async fn deploy_as(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        digest: &Digest,
        by: &crate::provider::Asking,
    ) -> Result<DeployStarted, ProviderError> {
        deploy::commit(env, service, digest, by, by.rollback).await
    }

    /// Rollbacks are commits of the stable digest ([`Self::redeploy`]).
    async fn rollback(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        to: &Revision,
    ) -> Result<DeployStarted, ProviderError> {
        let _ = env;
        Err(ProviderError::Conflict {
            message: format!(
                "{} rolls back by a commit of an earlier digest, not to revision {to}",
                service.name
            ),
        })
    }

    /// Continue: the two patches `kubectl argo rollouts promote` sends (the
    /// status subresource's `pauseConditions: null`, then `spec.paused:
    /// false`). Roll back: `kubectl argo rollouts abort`'s `status.abort:
    /// true`, all traffic back on stable at once (the revert commit follows
    /// from the engine's rollback).
    async fn decide_step(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        shift: &crate::model::Shift,
        decision: crate::model::Decision,
    ) -> Result<String, ProviderError> {
        let k = kube_service(service)?;
        if k.workload != Workload::Rollout {
            return Err(ProviderError::Conflict {
                message: format!(
                    "{} is a Deployment: it has no steps to decide",
                    service.name
                ),
            });
        }
        let ke = kube_env(env)?;
        let stage = live_stage(env).await?;
        let ns = ke.namespace.as_str();
        // The pause decided is the one the reading saw: a Rollout that
        // moved on since is refused, never promoted past a step unseen.
        let now = stage
            .rollouts
            .all()
            .into_iter()
            .find(|r| r.metadata.name.as_deref() == Some(k.name.as_str()))
            .ok_or_else(|| ProviderError::NotFound {
                what: "Rollout".to_string(),
                name: format!("{} in {ns}", k.name),
            })?;
        let st = now.status.clone().unwrap_or_default();
        let index = usize::try_from(st.current_step_index.unwrap_or(0).max(0)).unwrap_or(0);
        let seen = shift.pause.as_ref().map(|p| p.hook.as_str());
        match decision {
            crate::model::Decision::Continue => {
                words::still_paused_there(
                    &k.name,
                    seen,
                    index,
                    !st.pause_conditions.is_empty(),
                    st.phase.as_deref().unwrap_or("?"),
                )?;
                patch_rollout(
                    &stage,
                    ns,
                    &k.name,
                    true,
                    &serde_json::json!({"status": {"pauseConditions": null}}),
                )
                .await?;
                patch_rollout(
                    &stage,
                    ns,
                    &k.name,
                    false,
                    &serde_json::json!({"spec": {"paused": false}}),
                )
                .await?;
                let steps = now
                    .spec
                    .strategy
                    .canary
                    .as_ref()
                    .map_or(0, |c| c.steps.len());
                let weight = st
                    .canary
                    .as_ref()
                    .and_then(|c| c.weights.as_ref())
                    .map(|w| w.canary.weight);
                Ok(words::continued(&k.name, weight, index, steps))
            }
            crate::model::Decision::Rollback => {
                patch_rollout(
                    &stage,
                    ns,
                    &k.name,
                    true,
                    &serde_json::json!({"status": {"abort": true}}),
                )
                .await?;
                Ok(words::aborted(&k.name))
            }
        }
    }
}
