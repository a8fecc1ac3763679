//! A Kubernetes service as one reading shows it: the one builder of its
//! [`ServiceSnapshot`], from the objects the watches hold (and from the
//! simulator's objects, which are the same types), so both read alike.
//!
//! - The digest is the pod template's where it pins one (`repo@sha256:…`),
//!   otherwise the one its pods report (`imageID`); neither is no digest.
//! - A Rollout mid-canary runs two ReplicaSets: the service's digest is the
//!   newest one's (what it is told to run, the primary deployment, with its
//!   steps as the board's shift); the stable one, which still serves, is
//!   the active deployment.
//! - Converged is the platform's own answer: the Rollout (or Deployment) has
//!   seen its latest spec and runs it fully and healthy, and, where an Argo
//!   CD Application syncs it, the Application is synced and healthy, with
//!   the commit it synced as the change a watch follows. A workload or an
//!   Application that cannot be found is unknown, never converged.

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{Deployment as K8sDeployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod, PodTemplateSpec};

use super::objects::{Application, Rollout, RolloutStatus, seen_latest};

mod app;
mod events;
mod shift;

use super::words;
use crate::model::{
    Convergence, ConvergenceState, Deployment, DeploymentConfig, DeploymentRole, Digest, Health,
    ImageRef, Pinning, PlatformDetail, Revision, RevisionInfo, RolloutState, ServiceSnapshot,
    Strategy,
};
use app::{AppState, app_state, badge};
pub use events::chrono_time;
use events::events;
pub use shift::canary_shift;

/// Events kept per service, newest first.
const EVENTS: usize = 20;
/// The label Argo Rollouts puts on its ReplicaSets and pods.
pub const HASH_LABEL: &str = "rollouts-pod-template-hash";
/// The label a Deployment's ReplicaSets and pods carry.
pub const DEPLOYMENT_HASH_LABEL: &str = "pod-template-hash";
/// The annotation with a ReplicaSet's revision number.
pub const ROLLOUT_REVISION: &str = "rollout.argoproj.io/revision";
/// A Deployment's ReplicaSet revision.
pub const DEPLOYMENT_REVISION: &str = "deployment.kubernetes.io/revision";

/// The workload a service is, as read.
#[derive(Debug, Clone, Copy)]
pub enum WorkloadRead<'a> {
    /// An Argo Rollout.
    Rollout(&'a Rollout),
    /// A Deployment.
    Deployment(&'a K8sDeployment),
    /// Not found in the namespace.
    Missing,
}

/// The Application that syncs it, as read.
#[derive(Debug, Clone, Copy)]
pub enum AppRead<'a> {
    /// The service names none.
    None,
    /// Found.
    Found(&'a Application),
    /// Named, not found.
    Missing(&'a str),
}

/// What one reading holds of one service.
#[derive(Debug, Clone)]
pub struct KubeReading<'a> {
    /// `Rollout` or `Deployment`.
    pub kind: crate::config::kubernetes::Workload,
    /// The workload's name.
    pub name: &'a str,
    /// The stage's namespace.
    pub namespace: &'a str,
    /// The workload.
    pub workload: WorkloadRead<'a>,
    /// The container whose image is the service's (the first when `None`).
    pub container: Option<&'a str>,
    /// The ReplicaSets the workload owns.
    pub replicasets: Vec<&'a ReplicaSet>,
    /// The pods of those ReplicaSets.
    pub pods: Vec<&'a Pod>,
    /// Its Application.
    pub application: AppRead<'a>,
    /// Events about the workload, its ReplicaSets and pods, any order.
    pub events: Vec<&'a Event>,
    /// What the service answers, when probed.
    pub health: Health,
    /// When it was read.
    pub at: DateTime<Utc>,
}

/// The image of `container` (or the first) in a pod template.
pub fn template_image<'t>(t: &'t PodTemplateSpec, container: Option<&str>) -> Option<&'t str> {
    let spec = t.spec.as_ref()?;
    let c = match container {
        Some(name) => spec.containers.iter().find(|c| c.name == name)?,
        None => spec.containers.first()?,
    };
    c.image.as_deref()
}

/// The digest an image reference pins, if it pins one.
pub fn pinned_digest(image: &str) -> Option<Digest> {
    let (_, d) = image.rsplit_once('@')?;
    Digest::parse(d).ok()
}

/// A ReplicaSet's pod-template hash.
pub fn rs_hash(rs: &ReplicaSet) -> Option<&str> {
    let labels = rs.metadata.labels.as_ref()?;
    labels
        .get(HASH_LABEL)
        .or_else(|| labels.get(DEPLOYMENT_HASH_LABEL))
        .map(String::as_str)
}

/// A ReplicaSet's revision number.
fn rs_revision(rs: &ReplicaSet) -> Option<u32> {
    let a = rs.metadata.annotations.as_ref()?;
    a.get(ROLLOUT_REVISION)
        .or_else(|| a.get(DEPLOYMENT_REVISION))?
        .parse()
        .ok()
}

/// The digest a ReplicaSet runs: its template's pin, else its pods'.
fn rs_digest(r: &KubeReading<'_>, rs: &ReplicaSet) -> (Option<Digest>, Pinning) {
    let image = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| template_image(t, r.container));
    if let Some(d) = image.and_then(pinned_digest) {
        return (Some(d), Pinning::Pinned);
    }
    let hash = rs_hash(rs);
    let from_pods = r
        .pods
        .iter()
        .filter(|p| {
            let labels = p.metadata.labels.as_ref();
            hash.is_some()
                && labels.is_some_and(|l| {
                    l.get(HASH_LABEL)
                        .or_else(|| l.get(DEPLOYMENT_HASH_LABEL))
                        .map(String::as_str)
                        == hash
                })
        })
        .find_map(|p| pod_digest(p, r.container));
    match from_pods {
        Some(d) => (Some(d), Pinning::ResolvedFromTasks),
        None => (None, Pinning::Unpinned),
    }
}

/// The digest a pod's container runs, from its `imageID`.
fn pod_digest(p: &Pod, container: Option<&str>) -> Option<Digest> {
    let statuses = p.status.as_ref()?.container_statuses.as_ref()?;
    let s = match container {
        Some(name) => statuses.iter().find(|s| s.name == name)?,
        None => statuses.first()?,
    };
    pinned_digest(&s.image_id)
}

fn count(n: Option<i32>) -> u32 {
    u32::try_from(n.unwrap_or(0).max(0)).unwrap_or(0)
}

/// What the workload reports, the same for both kinds.
struct Workload<'a> {
    generation: Option<i64>,
    observed: Option<i64>,
    desired: u32,
    ready: u32,
    updated: u32,
    total: u32,
    /// The template it was told to run.
    template: Option<&'a PodTemplateSpec>,
    /// Hash of the newest ReplicaSet, and of the stable one.
    current_hash: Option<&'a str>,
    stable_hash: Option<&'a str>,
    /// The Rollout's phase in Argo's words, or the Deployment's.
    phase: Option<String>,
    message: Option<String>,
    rollout: Option<&'a Rollout>,
}

fn workload<'a>(r: &KubeReading<'a>) -> Option<Workload<'a>> {
    match r.workload {
        WorkloadRead::Missing => None,
        WorkloadRead::Rollout(ro) => {
            let st = ro.status.as_ref();
            Some(Workload {
                generation: ro.metadata.generation,
                observed: st.and_then(RolloutStatus::observed),
                desired: count(ro.spec.replicas.or(Some(1))),
                ready: count(st.and_then(|s| s.ready_replicas)),
                updated: count(st.and_then(|s| s.updated_replicas)),
                total: count(st.and_then(|s| s.replicas)),
                template: ro.spec.template.as_ref(),
                current_hash: st.and_then(|s| s.current_pod_hash.as_deref()),
                stable_hash: st.and_then(|s| s.stable_rs.as_deref()),
                phase: st.and_then(|s| s.phase.clone()),
                // A pause step's message is the pause's reason, which the
                // shift already says ("awaiting decision").
                message: st
                    .and_then(|s| s.message.clone())
                    .filter(|m| !m.is_empty() && m != "CanaryPauseStep"),
                rollout: Some(ro),
            })
        }
        WorkloadRead::Deployment(d) => {
            let st = d.status.as_ref();
            let spec = d.spec.as_ref();
            let desired = count(spec.and_then(|s| s.replicas).or(Some(1)));
            let ready = count(st.and_then(|s| s.ready_replicas));
            let updated = count(st.and_then(|s| s.updated_replicas));
            let total = count(st.and_then(|s| s.replicas));
            // The newest ReplicaSet is the one with the highest revision.
            let newest = r.replicasets.iter().max_by_key(|rs| rs_revision(rs));
            let hash = newest.and_then(|rs| rs_hash(rs));
            let failed = st
                .and_then(|s| s.conditions.as_ref())
                .and_then(|cs| {
                    cs.iter().find(|c| {
                        c.type_ == "Progressing"
                            && c.status == "False"
                            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
                    })
                })
                .map(|c| c.message.clone().unwrap_or_default());
            let done = updated == desired && ready == desired && total == desired;
            Some(Workload {
                generation: d.metadata.generation,
                observed: st.and_then(|s| s.observed_generation),
                desired,
                ready,
                updated,
                total,
                template: spec.map(|s| &s.template),
                current_hash: hash,
                stable_hash: if done { hash } else { None },
                phase: Some(
                    if failed.is_some() {
                        "Degraded"
                    } else if done {
                        "Healthy"
                    } else {
                        "Progressing"
                    }
                    .to_string(),
                ),
                message: failed,
                rollout: None,
            })
        }
    }
}

/// The service `service` as `r` found it.
pub fn service_snapshot(service: &str, r: &KubeReading<'_>) -> ServiceSnapshot {
    let family = r.name.to_string();
    let Some(w) = workload(r) else {
        let why = format!(
            "no {} {} in namespace {}",
            r.kind.kind(),
            r.name,
            r.namespace
        );
        return unknown(service, &family, why, r);
    };
    let hash_of = |h: Option<&str>| {
        h.and_then(|h| {
            r.replicasets
                .iter()
                .copied()
                .find(|rs| rs_hash(rs) == Some(h))
        })
    };
    let current_rs = hash_of(w.current_hash);
    let stable_rs = hash_of(w.stable_hash).or(current_rs.filter(|_| w.stable_hash.is_none()));
    // The template's own pin is what it was told to run.
    let told = w
        .template
        .and_then(|t| template_image(t, r.container))
        .and_then(pinned_digest);
    let (current_digest, current_pin) = match current_rs {
        Some(rs) => rs_digest(r, rs),
        None => (
            told.clone(),
            if told.is_some() {
                Pinning::Pinned
            } else {
                Pinning::Unpinned
            },
        ),
    };
    let (stable_digest, _) = match stable_rs {
        Some(rs) => rs_digest(r, rs),
        None => (None, Pinning::Unpinned),
    };
    let rev_of = |rs: Option<&ReplicaSet>, d: Option<&Digest>| -> Option<Revision> {
        let n = rs.and_then(rs_revision);
        match (n, d) {
            (Some(n), _) => Some(Revision::numbered(&family, n, "")),
            (None, Some(d)) => Some(Revision::labelled(&family, d.short())),
            (None, None) => None,
        }
    };
    let phase = w.phase.clone().unwrap_or_default();
    let aborted = w
        .rollout
        .and_then(|ro| ro.status.as_ref())
        .is_some_and(|s| s.abort);
    let mixed =
        current_rs.is_some() && stable_rs.is_some() && w.current_hash != w.stable_hash && !aborted;
    // The service's digest is its newest ReplicaSet's: what it is told to
    // run, as ECS shows a deployment's primary. Mid-canary, and after an
    // abort, the stable set still serves: it is the active deployment and
    // the detail says so. A way back is then to the stable digest (the
    // newest other one), never to the canary's.
    let (digest, pinning, serving_rs) = (current_digest.clone(), current_pin, current_rs);
    let seen_latest = seen_latest(w.generation, w.observed);
    let workload_done = phase == "Healthy"
        && seen_latest
        && !mixed
        && !aborted
        && w.ready >= w.desired
        && w.updated >= w.desired
        && told
            .as_ref()
            .is_none_or(|t| current_digest.as_ref() == Some(t));
    let (app_state, change, app_why) = app_state(&r.application);
    let convergence = match app_state {
        AppState::Unknown => Convergence {
            state: ConvergenceState::Unknown,
            change,
        },
        AppState::Converging => Convergence {
            state: ConvergenceState::Converging,
            change,
        },
        AppState::Done | AppState::NoApp => Convergence {
            state: if workload_done {
                ConvergenceState::Converged
            } else {
                ConvergenceState::Converging
            },
            change,
        },
    };
    let primary_state = if aborted || phase == "Degraded" {
        RolloutState::Failed
    } else if workload_done {
        RolloutState::Completed
    } else if phase.is_empty() {
        RolloutState::Unknown
    } else {
        RolloutState::InProgress
    };
    let id = format!("{}/{}", r.kind.kind().to_lowercase(), r.name);
    let mut deployments = Vec::new();
    let created = |rs: Option<&ReplicaSet>| {
        rs.and_then(|rs| rs.metadata.creation_timestamp.as_ref())
            .and_then(|t| chrono_time(&t.0))
            .unwrap_or(r.at)
    };
    let reason = match (&w.message, &app_why) {
        (Some(m), Some(a)) => Some(format!("{m}; {a}")),
        (m, a) => m.clone().or_else(|| a.clone()),
    };
    if let Some(to) = rev_of(current_rs, current_digest.as_ref()).or_else(|| {
        told.as_ref()
            .map(|d| Revision::labelled(&family, d.short()))
    }) {
        let shift = w
            .rollout
            .filter(|_| mixed || primary_state == RolloutState::InProgress)
            .and_then(|ro| canary_shift(ro, &id, r.at))
            .map(Box::new);
        deployments.push(Deployment {
            reason: reason.clone(),
            shift,
            running: if mixed { w.updated } else { w.ready },
            desired: w.desired,
            pending: w.total.saturating_sub(w.ready),
            created_at: created(current_rs),
            ..Deployment::bare(id.clone(), DeploymentRole::Primary, to, primary_state, r.at)
        });
    } else {
        deployments.push(unknown_deployment(&id, &family, reason.clone(), r.at));
    }
    if mixed && let Some(rev) = rev_of(stable_rs, stable_digest.as_ref()) {
        deployments.push(Deployment {
            running: w.ready.saturating_sub(w.updated),
            desired: w.desired,
            created_at: created(stable_rs),
            ..Deployment::bare(
                format!("{id}/stable"),
                DeploymentRole::Active,
                rev,
                RolloutState::Completed,
                r.at,
            )
        });
    }
    // Every ReplicaSet the workload keeps is a revision it can go back to,
    // oldest first.
    let mut sets: Vec<&ReplicaSet> = r.replicasets.clone();
    sets.sort_by_key(|rs| rs_revision(rs).unwrap_or(0));
    let history: Vec<RevisionInfo> = sets
        .iter()
        .filter_map(|rs| {
            let (d, _) = rs_digest(r, rs);
            Some(RevisionInfo {
                task_definition: rev_of(Some(rs), d.as_ref())?,
                digest: d,
                active: true,
            })
        })
        .collect();
    let image = digest
        .as_ref()
        .map(|d| image_ref(w.template, serving_rs, r.container, d));
    let detail = PlatformDetail {
        title: format!("{} {}", r.kind.kind().to_lowercase(), r.name),
        lines: words::detail_lines(r, w.rollout, &r.application),
        badge: badge(&r.application, aborted),
    };
    ServiceSnapshot {
        name: service.to_string(),
        ecs_service: format!("{}/{}", r.namespace, r.name),
        image,
        pinning: if digest.is_some() {
            pinning
        } else {
            Pinning::Unpinned
        },
        task_definition: rev_of(serving_rs, digest.as_ref()),
        digest,
        running: w.ready,
        desired: w.desired,
        pending: w.total.saturating_sub(w.ready),
        deployments,
        convergence,
        deployment_config: DeploymentConfig {
            circuit_breaker: false,
            circuit_breaker_rollback: false,
            alarm_rollback: false,
            strategy: Strategy::Other {
                name: words::strategy_of(w.rollout),
            },
        },
        alarms: Vec::new(),
        alarms_unknown: None,
        health: r.health.clone(),
        events: events(&r.events),
        history: history.into(),
        metrics: Vec::new(),
        detail,
        logs: None,
        regions: None,
    }
}

/// The image a service runs: the template's reference where it names this
/// digest, else the repository with the digest.
fn image_ref(
    template: Option<&PodTemplateSpec>,
    rs: Option<&ReplicaSet>,
    container: Option<&str>,
    digest: &Digest,
) -> ImageRef {
    let image = rs
        .and_then(|rs| rs.spec.as_ref())
        .and_then(|s| s.template.as_ref())
        .or(template)
        .and_then(|t| template_image(t, container));
    let parsed = image.and_then(|i| ImageRef::parse(i).ok());
    match parsed {
        Some(mut i) => {
            i.digest = Some(digest.clone());
            i
        }
        None => ImageRef {
            registry: None,
            repository: String::new(),
            tag: None,
            digest: Some(digest.clone()),
            version: None,
            revision: None,
            source: None,
            created: None,
        },
    }
}

fn unknown_deployment(
    id: &str,
    family: &str,
    why: Option<String>,
    at: DateTime<Utc>,
) -> Deployment {
    Deployment {
        reason: why,
        ..Deployment::bare(
            id,
            DeploymentRole::Primary,
            Revision::labelled(family, "unknown"),
            RolloutState::Unknown,
            at,
        )
    }
}

/// A service whose workload could not be found: unknown, with the reason.
fn unknown(service: &str, family: &str, why: String, r: &KubeReading<'_>) -> ServiceSnapshot {
    let id = format!("{}/{}", r.kind.kind().to_lowercase(), r.name);
    ServiceSnapshot {
        name: service.to_string(),
        ecs_service: format!("{}/{}", r.namespace, r.name),
        image: None,
        digest: None,
        pinning: Pinning::Unpinned,
        task_definition: None,
        running: 0,
        desired: 0,
        pending: 0,
        deployments: vec![unknown_deployment(&id, family, Some(why.clone()), r.at)],
        convergence: Convergence::default(),
        deployment_config: DeploymentConfig::default(),
        alarms: Vec::new(),
        alarms_unknown: None,
        health: r.health.clone(),
        events: events(&r.events),
        history: std::sync::Arc::new(Vec::new()),
        metrics: Vec::new(),
        detail: PlatformDetail {
            title: format!("{} {}", r.kind.kind().to_lowercase(), r.name),
            lines: vec![crate::model::DetailLine::new("not found", why).warn_if(true)],
            badge: None,
        },
        logs: None,
        regions: None,
    }
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
