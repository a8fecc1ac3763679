//! A promotion or a rollback as a commit: the one value that pins the
//! service's image set to the digest in the stage's GitOps repository,
//! committed as the operator with a message naming the promotion, the change
//! record and the digest, and pushed with the user's own `git`; then Argo
//! CD asked to refresh. A rollback first aborts a canary that is mid-way, so
//! traffic returns to stable at once, then commits the stable digest, so
//! Argo CD's self-heal keeps it.

use std::path::PathBuf;

use kube::Api;
use kube::api::{Patch, PatchParams};
use sha2::Digest as _;

use super::{classify, kube_env, kube_service, live_stage, patch_rollout};
use crate::config::kubernetes::{KubeEnv, KubeService, Workload};
use crate::config::{EnvConfig, ServiceConfig};
use crate::model::{Digest, ServiceSnapshot};
use crate::platforms::kubernetes::gitops::{
    Author, Checkout, CommitRequest, GitOpsError, Promotion,
};
use crate::platforms::kubernetes::objects::{Application, Rollout, seen_latest};
use crate::platforms::kubernetes::watch::StageWatches;
use crate::platforms::kubernetes::{snapshot, words};
use crate::provider::{Asking, DeployStarted, ProviderError};

/// Longest all the git commands of one commit may take together, within
/// the executor's bound on a deploy call.
const GIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Where shipdeck keeps its clone of `url`'s `branch`: one per repository
/// and branch, under the cache dir.
fn checkout_dir(url: &str, branch: &str) -> Result<PathBuf, ProviderError> {
    let base = crate::paths::cache_dir().ok_or_else(|| ProviderError::Other {
        message: "no cache directory for the GitOps checkout (set XDG_CACHE_HOME or HOME)"
            .to_string(),
    })?;
    let hash = sha2::Sha256::digest(format!("{url}\n{branch}").as_bytes());
    Ok(base
        .join("gitops")
        .join(crate::model::digest::hex_lower(&hash[..8])))
}

/// A git failure, classified: someone else's change is a conflict, a
/// remote that does not answer a network error.
fn git_error(e: &GitOpsError) -> ProviderError {
    let message = e.to_string();
    match e {
        GitOpsError::Changed { .. }
        | GitOpsError::RejectedTwice { .. }
        | GitOpsError::Locked { .. } => ProviderError::Conflict {
            message: format!("{message}; nothing was changed"),
        },
        GitOpsError::Timeout { .. } => ProviderError::Network { message },
        _ => ProviderError::Other { message },
    }
}

/// The commit's message: its subject, then the promotion, the change
/// record, the digest and who asked, one per line.
fn message(service: &str, env: &str, digest: &Digest, by: &Asking, back: bool) -> String {
    let subject = if back {
        format!(
            "shipdeck: roll back {service} in {env} to {}",
            digest.short()
        )
    } else {
        format!("shipdeck: promote {service} to {} in {env}", digest.short())
    };
    let mut body = vec![String::new()];
    if let Some(p) = &by.promotion {
        body.push(format!("Promotion: {p}"));
    }
    if let Some(c) = &by.change_record {
        body.push(format!("Change: {c}"));
    }
    body.push(format!("Digest: {digest}"));
    if back && let Some(r) = &by.reason {
        body.push(format!("Reason: {}", crate::model::text::fold_line(r)));
    }
    if !by.operator.is_empty() {
        body.push(format!("Operator: {}", by.operator));
    }
    // Each line passes the sanitiser on its own (it takes line breaks out).
    let lines: Vec<String> = std::iter::once(subject)
        .chain(body)
        .map(|l| crate::model::sanitize(&l))
        .collect();
    format!("{}\n", lines.join("\n"))
}

/// The operator as the commit's author: their name, and an address (the
/// operator's own where it is one).
fn author(by: &Asking) -> Author {
    let name = if by.operator.trim().is_empty() {
        whoami::username()
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "unknown-user".to_string())
    } else {
        by.operator.clone()
    };
    let email = if name.contains('@') {
        name.clone()
    } else {
        format!(
            "{}@shipdeck.invalid",
            name.replace(char::is_whitespace, ".")
        )
    };
    Author { name, email }
}

/// Asks Argo CD to refresh `app` now (its refresh annotation), instead of
/// waiting for its poll. A failure is said, never fatal: the commit is
/// pushed and Argo CD will see it.
async fn refresh(ke: &KubeEnv, client: kube::Client, app: &str) -> Option<String> {
    let api: Api<Application> = Api::namespaced(client, &ke.argocd_namespace);
    let body = serde_json::json!({
        "metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}
    });
    match api
        .patch(app, &PatchParams::default(), &Patch::Merge(&body))
        .await
    {
        Ok(_) => None,
        Err(e) => Some(classify(&e, &format!("asking Argo CD to refresh {app}")).to_string()),
    }
}

/// How long the rollback call itself waits for Argo CD to apply its commit
/// (within the executor's bound on a deploy call). Past it the wait goes on
/// in the background, for as long as this process runs and at most the
/// stage's rollout timeout: a loaded Argo CD may take longer to sync.
const APPLIED_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Where a rolled-back Rollout stands, read from the watch's copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Revert {
    /// The reverted template is not applied yet, or the controller has not
    /// seen it: its status still speaks of the promoted image, whose
    /// `Healthy` would read as "straight back to stable".
    Pending,
    /// Back on the stable ReplicaSet: nothing to skip.
    Straight,
    /// The reverted template runs as a canary: its steps are to be skipped.
    Canary,
}

/// The one reading of a rollback's Rollout (absent: pending).
fn revert_state(now: Option<&Rollout>, container: Option<&str>, digest: &Digest) -> Revert {
    let Some(r) = now else {
        return Revert::Pending;
    };
    let applied = r
        .spec
        .template
        .as_ref()
        .and_then(|t| snapshot::template_image(t, container))
        .and_then(snapshot::pinned_digest)
        .as_ref()
        == Some(digest);
    let st = r.status.clone().unwrap_or_default();
    if !applied || !seen_latest(r.metadata.generation, st.observed()) {
        return Revert::Pending;
    }
    let canary = st.current_pod_hash.is_some() && st.current_pod_hash != st.stable_rs;
    if canary {
        Revert::Canary
    } else if st.phase.as_deref() == Some("Healthy") {
        Revert::Straight
    } else {
        Revert::Pending
    }
}

/// A rollback does not wait at a canary's pauses: once the Rollout runs the
/// reverted template as a canary, every remaining step is skipped, as
/// `kubectl argo rollouts promote --full` does (`status.promoteFull`). A
/// revert to the stable ReplicaSet needs nothing (Argo goes straight
/// back). Not seen by `until`: said, and the watch shows the pause for a
/// person.
async fn skip_steps(
    stage: std::sync::Arc<StageWatches>,
    namespace: String,
    k: KubeService,
    digest: Digest,
    until: tokio::time::Instant,
) {
    let name = k.name.as_str();
    loop {
        let now = stage
            .rollouts
            .all()
            .into_iter()
            .find(|r| r.metadata.name.as_deref() == Some(name));
        match revert_state(now.as_deref(), k.container.as_deref(), &digest) {
            Revert::Straight => return,
            Revert::Canary => {
                let body = serde_json::json!({"status": {"promoteFull": true}});
                if let Err(e) = patch_rollout(&stage, &namespace, name, true, &body).await {
                    tracing::warn!(error = %e, "could not skip the rollback's canary steps");
                }
                return;
            }
            Revert::Pending => {}
        }
        if tokio::time::Instant::now() >= until {
            tracing::warn!(rollout = %name, "Argo CD had not applied the revert within the rollout timeout: its canary steps are left to the watch");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Starts [`skip_steps`] and waits for it at most [`APPLIED_WITHIN`]; a
/// slower Argo CD is waited for in the background, up to `timeout`.
async fn skip_steps_soon(
    stage: std::sync::Arc<StageWatches>,
    ke: &KubeEnv,
    k: &KubeService,
    digest: &Digest,
    timeout: std::time::Duration,
) {
    let until = tokio::time::Instant::now() + timeout.max(APPLIED_WITHIN);
    let mut task = tokio::spawn(skip_steps(
        stage,
        ke.namespace.clone(),
        k.clone(),
        digest.clone(),
        until,
    ));
    if tokio::time::timeout(APPLIED_WITHIN, &mut task)
        .await
        .is_err()
    {
        tracing::info!(rollout = %k.name, "Argo CD has not applied the revert yet: its canary steps are skipped once it has");
    }
}

/// The service's reading now, from the watches.
async fn now(env: &EnvConfig, service: &ServiceConfig) -> Result<ServiceSnapshot, ProviderError> {
    let stage = live_stage(env).await?;
    let objects = crate::platforms::kubernetes::read::Objects {
        rollouts: stage.rollouts.all(),
        deployments: stage.deployments.all(),
        replicasets: stage.replicasets.all(),
        pods: stage.pods.all(),
        events: Vec::new(),
        applications: stage.applications.all(),
    };
    crate::platforms::kubernetes::read::snapshot(env, &objects, chrono::Utc::now())
        .services
        .into_iter()
        .find(|s| s.name == service.name)
        .ok_or_else(|| ProviderError::NotFound {
            what: "service".to_string(),
            name: service.name.clone(),
        })
}

/// Commits `digest` as `service`'s pinned image in `env` (a rollback when
/// `back`), as `by`.
pub async fn commit(
    env: &EnvConfig,
    service: &ServiceConfig,
    digest: &Digest,
    by: &Asking,
    back: bool,
) -> Result<DeployStarted, ProviderError> {
    let k = kube_service(service)?;
    let ke = kube_env(env)?;
    let (Some(setting), Some(git)) = (k.image.as_ref(), ke.git.as_ref()) else {
        return Err(ProviderError::Conflict {
            message: format!(
                "{} in {} is read only: no GitOps value pins its image ([environment.service.kubernetes] kustomization or helm_values, and [environment.kubernetes.git]); nothing was changed",
                service.name, env.name
            ),
        });
    };
    let before = now(env, service).await?;
    let stage = live_stage(env).await?;
    // A rollback of a canary mid-way: traffic back to stable first, at once.
    if back && k.workload == Workload::Rollout {
        let mid_way = before
            .deployments
            .iter()
            .any(|d| d.shift.is_some() && d.rollout == crate::model::RolloutState::InProgress);
        if mid_way {
            patch_rollout(
                &stage,
                &ke.namespace,
                &k.name,
                true,
                &serde_json::json!({"status": {"abort": true}}),
            )
            .await?;
            tracing::info!(service = %service.name, env = %env.name, "aborted the canary before the revert commit");
        }
    }
    let repository = before.image.as_ref().map(|i| {
        i.registry
            .as_ref()
            .map_or_else(|| i.repository.clone(), |r| format!("{r}/{}", i.repository))
    });
    let value = words::value_for(setting, repository.as_deref(), digest).ok_or_else(|| {
        ProviderError::Conflict {
            message: format!(
                "{} writes the whole image reference, and its repository is not known from the reading; nothing was changed",
                service.name
            ),
        }
    })?;
    let checkout =
        Checkout::new(checkout_dir(&git.url, &git.branch)?, git).with_timeout(GIT_TIMEOUT);
    let req = CommitRequest {
        setting: setting.clone(),
        value,
        message: message(&service.name, &env.name, digest, by, back),
        author: author(by),
    };
    let change = match checkout
        .commit_value(&req)
        .await
        .map_err(|e| git_error(&e))?
    {
        Promotion::Committed(c) => {
            tracing::info!(service = %service.name, env = %env.name, commit = %c.commit, rebased = c.rebased, "pushed");
            c.commit
        }
        Promotion::AlreadySet { commit } if back => commit,
        Promotion::AlreadySet { commit } => {
            return Err(ProviderError::Conflict {
                message: format!(
                    "{} already pins {digest} in {} (commit {}); nothing was committed",
                    words::setting_words(setting),
                    git.branch,
                    &commit[..commit.len().min(12)]
                ),
            });
        }
    };
    if git.refresh
        && let Some(app) = k.application.as_deref()
        && let Some(why) = refresh(ke, stage.client.clone(), app).await
    {
        tracing::warn!(error = %why, "Argo CD refresh");
    }
    if back && k.workload == Workload::Rollout {
        skip_steps_soon(stage.clone(), ke, k, digest, env.rollout.timeout).await;
    }
    Ok(DeployStarted {
        service: service.name.clone(),
        from: before.task_definition.clone(),
        to: None,
        change: Some(change),
        deployment_id: None,
    })
}

#[cfg(test)]
#[path = "deploy_tests.rs"]
mod tests;
