//! Reading by watches, not polling: one reflector per kind and namespace
//! (Rollouts, Deployments, ReplicaSets, Pods and Events in the stage's
//! namespace; Applications in Argo CD's), each a list then a watch with
//! bookmarks, re-listed on `410 Gone` and re-established with backoff when
//! it drops, kept in memory for the life of the process. A reading is made
//! from the stores and costs no request: an idle board costs nothing beyond
//! its open watches.
//!
//! Each watch says whether it is live. One that is not (starting, dropped,
//! refused, re-listing after an expired version) makes the reading fail
//! with the reason, so the cells it feeds are stale, never green, until it
//! is live again.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use kube::{Api, Client};
use serde::de::DeserializeOwned;

use super::objects::{Application, Rollout};
use crate::config::kubernetes::KubeEnv;
use crate::provider::ProviderError;

/// Where one watch stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// Listing for the first time.
    Starting,
    /// Listed and watching.
    Live,
    /// Dropped, refused or re-listing: what it shows may be out of date.
    Down {
        /// Why, as the client said.
        reason: String,
        /// Since when.
        since: DateTime<Utc>,
    },
}

/// One kind's reflector: its store and whether it is live.
pub struct Watched<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    /// What the watch has seen.
    pub store: Store<K>,
    state: Arc<Mutex<Liveness>>,
    /// Which kind, in words (`rollouts in shop-prod`).
    pub what: String,
    task: tokio::task::JoinHandle<()>,
}

impl<K> Watched<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    /// Where it stands now.
    pub fn liveness(&self) -> Liveness {
        self.state
            .lock()
            .map_or_else(|p| p.into_inner().clone(), |s| s.clone())
    }

    /// Everything it holds now.
    pub fn all(&self) -> Vec<Arc<K>> {
        self.store.state()
    }

    /// Live, or why not.
    pub fn check(&self) -> Result<(), ProviderError> {
        match self.liveness() {
            Liveness::Live => Ok(()),
            Liveness::Starting => Err(ProviderError::Network {
                message: format!("the watch on {} has not listed yet", self.what),
            }),
            Liveness::Down { reason, since } => Err(ProviderError::Network {
                message: format!(
                    "the watch on {} is down since {}: {reason}",
                    self.what,
                    since.format("%H:%M:%S")
                ),
            }),
        }
    }
}

impl<K> Drop for Watched<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn set(state: &Mutex<Liveness>, to: Liveness) {
    let mut s = state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *s = to;
}

/// Starts a reflector over `api`: a task that lists, watches, re-lists on
/// 410 and retries with backoff, keeping `Liveness` up to date.
fn spawn<K>(api: Api<K>, what: String) -> Watched<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let state = Arc::new(Mutex::new(Liveness::Starting));
    let mine = Arc::clone(&state);
    let name = what.clone();
    let task = tokio::spawn(async move {
        let mut writer = writer;
        let mut failures: u32 = 0;
        loop {
            // A fresh list, then a watch from it. The store keeps what it
            // had until the list is whole (kube swaps it in at InitDone);
            // until then the watch is not live.
            let mut stream = std::pin::pin!(watcher(api.clone(), watcher::Config::default()));
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(ev) => {
                        writer.apply_watcher_event(&ev);
                        if matches!(
                            ev,
                            watcher::Event::InitDone
                                | watcher::Event::Apply(_)
                                | watcher::Event::Delete(_)
                        ) {
                            failures = 0;
                            set(&mine, Liveness::Live);
                        }
                    }
                    // Refused, dropped for good, or 410 Gone: down, and
                    // listed afresh after a backoff. (kube's own retry of
                    // a watch succeeds silently, so a watch that failed
                    // would never say it is live again.)
                    Err(e) => {
                        let reason = crate::model::text::fold_line(&e.to_string());
                        tracing::warn!(watch = %name, error = %reason, "watch down");
                        set(
                            &mine,
                            Liveness::Down {
                                reason,
                                since: Utc::now(),
                            },
                        );
                        failures = failures.saturating_add(1);
                        break;
                    }
                }
            }
            tokio::time::sleep(backoff(failures)).await;
        }
    });
    Watched {
        store,
        state,
        what,
        task,
    }
}

/// How long to wait before listing again after `failures` failures in a
/// row: 200 ms, doubling, at most 5 s.
fn backoff(failures: u32) -> Duration {
    (Duration::from_millis(200) * 2u32.saturating_pow(failures.saturating_sub(1).min(5)))
        .min(Duration::from_secs(5))
}

/// The watches of one stage: its namespace's kinds, and the Applications.
pub struct StageWatches {
    /// Argo Rollouts.
    pub rollouts: Watched<Rollout>,
    /// Deployments.
    pub deployments: Watched<Deployment>,
    /// ReplicaSets (a workload's revisions and its stable and canary sets).
    pub replicasets: Watched<ReplicaSet>,
    /// Pods (the digests they run, `imageID`).
    pub pods: Watched<Pod>,
    /// Events, for the timeline.
    pub events: Watched<Event>,
    /// Argo CD Applications, in Argo CD's namespace.
    pub applications: Watched<Application>,
    /// The client, for patches.
    pub client: Client,
}

impl StageWatches {
    fn start(client: Client, env: &KubeEnv) -> Self {
        let ns = env.namespace.as_str();
        let argo = env.argocd_namespace.as_str();
        Self {
            rollouts: spawn(
                Api::namespaced(client.clone(), ns),
                format!("rollouts in {ns}"),
            ),
            deployments: spawn(
                Api::namespaced(client.clone(), ns),
                format!("deployments in {ns}"),
            ),
            replicasets: spawn(
                Api::namespaced(client.clone(), ns),
                format!("replicasets in {ns}"),
            ),
            pods: spawn(Api::namespaced(client.clone(), ns), format!("pods in {ns}")),
            events: spawn(
                Api::namespaced(client.clone(), ns),
                format!("events in {ns}"),
            ),
            applications: spawn(
                Api::namespaced(client.clone(), argo),
                format!("applications in {argo}"),
            ),
            client,
        }
    }
}

/// Which cluster and namespace a set of watches is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    kubeconfig: Option<std::path::PathBuf>,
    context: Option<String>,
    namespace: String,
    argocd_namespace: String,
}

impl Key {
    fn of(env: &KubeEnv) -> Self {
        Self {
            kubeconfig: env.kubeconfig.clone(),
            context: env.context.clone(),
            namespace: env.namespace.clone(),
            argocd_namespace: env.argocd_namespace.clone(),
        }
    }
}

/// Every stage's watches this process keeps open.
static STAGES: LazyLock<Mutex<HashMap<Key, Arc<StageWatches>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// A client for `env`'s cluster, from its kubeconfig the standard way:
/// the file it names, else `$KUBECONFIG` or `~/.kube/config`, at its
/// context or the current one; in a pod without either, its service
/// account.
pub async fn client(env: &KubeEnv) -> Result<Client, ProviderError> {
    let opts = kube::config::KubeConfigOptions {
        context: env.context.clone(),
        cluster: None,
        user: None,
    };
    let config = match &env.kubeconfig {
        Some(path) => {
            let home = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf());
            let path = &crate::paths::expand_home(path, home.as_deref());
            let kc =
                kube::config::Kubeconfig::read_from(path).map_err(|e| ProviderError::Other {
                    message: format!("kubeconfig {}: {e}", path.display()),
                })?;
            kube::Config::from_custom_kubeconfig(kc, &opts).await
        }
        None if env.context.is_some() => kube::Config::from_kubeconfig(&opts).await,
        None => kube::Config::infer()
            .await
            .map_err(|e| kube::config::KubeconfigError::LoadContext(e.to_string())),
    }
    .map_err(|e| ProviderError::Other {
        message: format!(
            "cannot load the kubeconfig{}: {e}",
            env.context
                .as_deref()
                .map(|c| format!(" context {c}"))
                .unwrap_or_default()
        ),
    })?;
    let mut config = config;
    // The client's own retries of 429/503/504 would hide a server that
    // answers nothing but errors behind minutes of backoff, while the
    // watch still looked live: the watcher retries instead, saying so.
    config.default_retry = false;
    Client::try_from(config).map_err(|e| ProviderError::Other {
        message: format!("cannot build a Kubernetes client: {e}"),
    })
}

/// The watches of `env`'s stage, started on first use.
pub async fn stage(env: &KubeEnv) -> Result<Arc<StageWatches>, ProviderError> {
    let key = Key::of(env);
    if let Some(w) = lock().get(&key) {
        return Ok(Arc::clone(w));
    }
    let client = client(env).await?;
    let mut all = lock();
    let w = all
        .entry(key)
        .or_insert_with(|| Arc::new(StageWatches::start(client, env)));
    Ok(Arc::clone(w))
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<Key, Arc<StageWatches>>> {
    STAGES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
