//! One reading of a stage from the objects held: the watches' stores for a
//! real cluster, the simulator's for the demo. Indexed once per reading (by
//! owner, by name), so a namespace of thousands of Rollouts reads in one
//! pass, and every service is built by the one snapshot builder.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};

use super::objects::{Application, Rollout};
use super::snapshot::{AppRead, KubeReading, WorkloadRead, service_snapshot};
use crate::config::kubernetes::Workload;
use crate::config::{EnvConfig, PlatformKind};
use crate::model::{EnvSnapshot, Health, ServiceIndex, Sources};

/// Everything a stage's reading is made from.
#[derive(Debug, Clone, Default)]
pub struct Objects {
    /// Rollouts in the namespace.
    pub rollouts: Vec<Arc<Rollout>>,
    /// Deployments in the namespace.
    pub deployments: Vec<Arc<Deployment>>,
    /// ReplicaSets in the namespace.
    pub replicasets: Vec<Arc<ReplicaSet>>,
    /// Pods in the namespace.
    pub pods: Vec<Arc<Pod>>,
    /// Events in the namespace.
    pub events: Vec<Arc<Event>>,
    /// Applications in Argo CD's namespace.
    pub applications: Vec<Arc<Application>>,
}

fn owners(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> impl Iterator<Item = &str> {
    meta.owner_references
        .iter()
        .flatten()
        .map(|o| o.uid.as_str())
}

/// The reading of `env`'s services on Kubernetes from `o`. A service whose
/// workload is not there is unknown, with the reason.
pub fn snapshot(env: &EnvConfig, o: &Objects, at: DateTime<Utc>) -> EnvSnapshot {
    let namespace = env
        .kubernetes
        .as_deref()
        .map_or("default", |k| k.namespace.as_str());
    let rollouts: HashMap<&str, &Rollout> = o
        .rollouts
        .iter()
        .filter_map(|r| Some((r.metadata.name.as_deref()?, r.as_ref())))
        .collect();
    let deployments: HashMap<&str, &Deployment> = o
        .deployments
        .iter()
        .filter_map(|d| Some((d.metadata.name.as_deref()?, d.as_ref())))
        .collect();
    let apps: HashMap<&str, &Application> = o
        .applications
        .iter()
        .filter_map(|a| Some((a.metadata.name.as_deref()?, a.as_ref())))
        .collect();
    let mut sets_by_owner: HashMap<&str, Vec<&ReplicaSet>> = HashMap::new();
    for rs in &o.replicasets {
        for uid in owners(&rs.metadata) {
            sets_by_owner.entry(uid).or_default().push(rs);
        }
    }
    let mut pods_by_owner: HashMap<&str, Vec<&Pod>> = HashMap::new();
    for p in &o.pods {
        for uid in owners(&p.metadata) {
            pods_by_owner.entry(uid).or_default().push(p);
        }
    }
    let mut events_by_object: HashMap<&str, Vec<&Event>> = HashMap::new();
    for e in &o.events {
        if let Some(n) = e.involved_object.name.as_deref() {
            events_by_object.entry(n).or_default().push(e);
        }
    }
    let mut services = Vec::new();
    for svc in env
        .services
        .iter()
        .filter(|s| s.platform == PlatformKind::Kubernetes)
    {
        let Some(k) = svc.kubernetes.as_deref() else {
            continue;
        };
        let (workload, uid) = match k.workload {
            Workload::Rollout => rollouts
                .get(k.name.as_str())
                .map_or((WorkloadRead::Missing, None), |r| {
                    (WorkloadRead::Rollout(r), r.metadata.uid.as_deref())
                }),
            Workload::Deployment => deployments
                .get(k.name.as_str())
                .map_or((WorkloadRead::Missing, None), |d| {
                    (WorkloadRead::Deployment(d), d.metadata.uid.as_deref())
                }),
        };
        let replicasets: Vec<&ReplicaSet> = uid
            .and_then(|u| sets_by_owner.get(u))
            .cloned()
            .unwrap_or_default();
        let pods: Vec<&Pod> = replicasets
            .iter()
            .filter_map(|rs| rs.metadata.uid.as_deref())
            .filter_map(|u| pods_by_owner.get(u))
            .flatten()
            .copied()
            .collect();
        let mut events: Vec<&Event> = events_by_object
            .get(k.name.as_str())
            .cloned()
            .unwrap_or_default();
        for rs in &replicasets {
            if let Some(evs) = rs
                .metadata
                .name
                .as_deref()
                .and_then(|n| events_by_object.get(n))
            {
                events.extend(evs.iter().copied());
            }
        }
        let application = match k.application.as_deref() {
            None => AppRead::None,
            Some(name) => apps
                .get(name)
                .map_or(AppRead::Missing(name), |a| AppRead::Found(a)),
        };
        let reading = KubeReading {
            kind: k.workload,
            name: &k.name,
            namespace,
            workload,
            container: k.container.as_deref(),
            replicasets,
            pods,
            application,
            events,
            health: if svc.health.is_some() {
                Health::Unknown
            } else {
                Health::NotConfigured
            },
            at,
        };
        services.push(service_snapshot(&svc.name, &reading));
    }
    EnvSnapshot {
        env: env.name.clone(),
        read_at: at,
        services,
        warnings: Vec::new(),
        sources: Sources::default(),
        index: ServiceIndex::default(),
    }
}
