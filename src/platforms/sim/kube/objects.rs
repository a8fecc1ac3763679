//! A simulated Rollout as the Kubernetes objects a cluster would hold: the
//! Rollout (`argoproj.io/v1alpha1`), its ReplicaSets (with the
//! `rollouts-pod-template-hash` label, the `rollout.argoproj.io/revision`
//! annotation and an ownerReference to the Rollout's uid), their Pods (an
//! ownerReference to their ReplicaSet, `imageID` `repo@sha256:…`), Events
//! about the Rollout, and the Argo CD Application. Read by the Kubernetes
//! platform's own builder (`kubernetes::read::snapshot`), nothing else.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{
    Container, ContainerStatus, Event, ObjectReference, Pod, PodSpec, PodStatus, PodTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, OwnerReference, Time,
};

use super::state::{SimRollout, SimSet};
use crate::platforms::kubernetes::objects::{
    AnalysisRunStatus, AppHealth, Application, ApplicationStatus, CanaryStatus, CanaryStrategy,
    OperationState, PauseCondition, Rollout, RolloutSpec, RolloutStatus, RolloutStrategy,
    SyncResult, SyncStatus, TrafficWeights, WeightDestination,
};
use crate::platforms::kubernetes::read::Objects;
use crate::platforms::kubernetes::snapshot::{HASH_LABEL, ROLLOUT_REVISION};

fn time(t: DateTime<Utc>) -> Option<Time> {
    k8s_openapi::jiff::Timestamp::from_second(t.timestamp())
        .ok()
        .map(Time)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn i32_of(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The image a set runs: tagged with its release where known, pinned by
/// its digest (what a kustomization with `newTag` and `digest` writes).
fn image(r: &SimRollout, set: &SimSet) -> String {
    match &set.release {
        Some(rel) => format!("{}:{rel}@{}", r.repository, set.digest),
        None => format!("{}@{}", r.repository, set.digest),
    }
}

fn template(r: &SimRollout, set: Option<&SimSet>, hash: Option<&str>) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: hash.map(|h| BTreeMap::from([(HASH_LABEL.to_string(), h.to_string())])),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: r.container.clone(),
                image: set.map(|s| image(r, s)),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
    }
}

fn owner(kind: &str, api: &str, name: &str, uid: &str) -> Vec<OwnerReference> {
    vec![OwnerReference {
        api_version: api.to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
        uid: uid.to_string(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }]
}

impl SimRollout {
    fn rollout(&self, namespace: &str) -> Rollout {
        let pods: u32 = self.sets.iter().map(|s| s.pods).sum();
        let updated = self.set(&self.current).map_or(0, |s| s.pods);
        let canary_weight = if self.mid_canary() { self.weight } else { 0 };
        let canary_hash = if self.abort {
            &self.stable
        } else {
            &self.current
        };
        Rollout {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(namespace.to_string()),
                uid: Some(self.uid.clone()),
                generation: Some(self.generation),
                ..ObjectMeta::default()
            },
            spec: RolloutSpec {
                replicas: Some(i32_of(self.replicas)),
                template: Some(template(self, self.set(&self.current), None)),
                strategy: RolloutStrategy {
                    canary: Some(CanaryStrategy {
                        steps: self.steps.clone(),
                    }),
                    blue_green: None,
                },
                paused: false,
            },
            status: Some(RolloutStatus {
                phase: Some(self.phase.clone()),
                message: self.message.clone(),
                current_pod_hash: Some(self.current.clone()),
                stable_rs: Some(self.stable.clone()),
                current_step_index: Some(i32::try_from(self.index).unwrap_or(i32::MAX)),
                pause_conditions: self
                    .paused_since
                    .filter(|_| !self.abort)
                    .map(|t| PauseCondition {
                        reason: "CanaryPauseStep".to_string(),
                        start_time: Some(rfc3339(t)),
                    })
                    .into_iter()
                    .collect(),
                controller_pause: self.paused(),
                abort: self.abort,
                aborted_at: self.aborted_at.map(rfc3339),
                canary: Some(CanaryStatus {
                    weights: Some(TrafficWeights {
                        canary: WeightDestination {
                            weight: canary_weight,
                            pod_template_hash: Some(canary_hash.clone()),
                        },
                        stable: WeightDestination {
                            weight: 100 - canary_weight,
                            pod_template_hash: Some(self.stable.clone()),
                        },
                    }),
                    current_step_analysis_run_status: self.analysis.as_ref().map(
                        |(name, status, message)| AnalysisRunStatus {
                            name: name.clone(),
                            status: status.clone(),
                            message: Some(message.clone()),
                        },
                    ),
                }),
                blue_green: None,
                replicas: Some(i32_of(pods)),
                updated_replicas: Some(i32_of(updated)),
                ready_replicas: Some(i32_of(pods)),
                available_replicas: Some(i32_of(pods)),
                observed_generation: Some(serde_json::Value::String(self.generation.to_string())),
            }),
        }
    }

    fn replicasets_and_pods(&self, namespace: &str) -> (Vec<Arc<ReplicaSet>>, Vec<Arc<Pod>>) {
        let mut sets = Vec::new();
        let mut pods = Vec::new();
        for s in &self.sets {
            let name = format!("{}-{}", self.name, s.hash);
            let uid = format!("{}-{}", self.uid, s.hash);
            let labels = BTreeMap::from([(HASH_LABEL.to_string(), s.hash.clone())]);
            sets.push(Arc::new(ReplicaSet {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(namespace.to_string()),
                    uid: Some(uid.clone()),
                    labels: Some(labels.clone()),
                    annotations: Some(BTreeMap::from([(
                        ROLLOUT_REVISION.to_string(),
                        s.revision.to_string(),
                    )])),
                    owner_references: Some(owner(
                        "Rollout",
                        "argoproj.io/v1alpha1",
                        &self.name,
                        &self.uid,
                    )),
                    creation_timestamp: time(s.created),
                    ..ObjectMeta::default()
                },
                spec: Some(ReplicaSetSpec {
                    replicas: Some(i32_of(s.pods)),
                    selector: LabelSelector {
                        match_labels: Some(labels.clone()),
                        ..LabelSelector::default()
                    },
                    template: Some(template(self, Some(s), Some(&s.hash))),
                    ..ReplicaSetSpec::default()
                }),
                status: Some(ReplicaSetStatus {
                    replicas: i32_of(s.pods),
                    ready_replicas: Some(i32_of(s.pods)),
                    available_replicas: Some(i32_of(s.pods)),
                    ..ReplicaSetStatus::default()
                }),
            }));
            for i in 0..s.pods {
                let image = image(self, s);
                pods.push(Arc::new(Pod {
                    metadata: ObjectMeta {
                        name: Some(format!("{name}-{:05x}", u64::from(i) * 7919 % 0xfffff)),
                        namespace: Some(namespace.to_string()),
                        uid: Some(format!("{uid}-{i}")),
                        labels: Some(labels.clone()),
                        owner_references: Some(owner("ReplicaSet", "apps/v1", &name, &uid)),
                        creation_timestamp: time(s.created),
                        ..ObjectMeta::default()
                    },
                    spec: None,
                    status: Some(PodStatus {
                        phase: Some("Running".to_string()),
                        container_statuses: Some(vec![ContainerStatus {
                            name: self.container.clone(),
                            image: image.clone(),
                            image_id: image,
                            ready: true,
                            started: Some(true),
                            ..ContainerStatus::default()
                        }]),
                        ..PodStatus::default()
                    }),
                }));
            }
        }
        (sets, pods)
    }

    fn events_of(&self, namespace: &str) -> Vec<Arc<Event>> {
        self.events
            .iter()
            .map(|e| {
                Arc::new(Event {
                    metadata: ObjectMeta {
                        name: Some(format!("{}.{:x}", self.name, e.n)),
                        namespace: Some(namespace.to_string()),
                        uid: Some(format!("{}-event-{}", self.uid, e.n)),
                        ..ObjectMeta::default()
                    },
                    involved_object: ObjectReference {
                        api_version: Some("argoproj.io/v1alpha1".to_string()),
                        kind: Some("Rollout".to_string()),
                        name: Some(self.name.clone()),
                        namespace: Some(namespace.to_string()),
                        uid: Some(self.uid.clone()),
                        ..ObjectReference::default()
                    },
                    reason: Some(e.reason.clone()),
                    message: Some(e.message.clone()),
                    type_: Some(if e.warning { "Warning" } else { "Normal" }.to_string()),
                    count: Some(1),
                    first_timestamp: time(e.at),
                    last_timestamp: time(e.at),
                    ..Event::default()
                })
            })
            .collect()
    }

    fn application(&self, namespace: &str) -> Option<Application> {
        let name = self.application.clone()?;
        let (sync, revision) = match &self.pending {
            Some(p) => ("OutOfSync", p.commit.clone()),
            None => ("Synced", self.synced.0.clone()),
        };
        // Argo CD's health of a Rollout: Paused is Suspended.
        let health = match self.phase.as_str() {
            "Paused" => "Suspended",
            "Degraded" => "Degraded",
            "Progressing" => "Progressing",
            _ => "Healthy",
        };
        Some(Application {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(namespace.to_string()),
                uid: Some(format!("{}-app", self.uid)),
                ..ObjectMeta::default()
            },
            status: Some(ApplicationStatus {
                sync: Some(SyncStatus {
                    status: sync.to_string(),
                    revision: Some(revision),
                }),
                health: Some(AppHealth {
                    status: health.to_string(),
                    message: self.message.clone().filter(|_| health == "Degraded"),
                }),
                operation_state: Some(OperationState {
                    phase: "Succeeded".to_string(),
                    message: Some("successfully synced (all tasks run)".to_string()),
                    sync_result: Some(SyncResult {
                        revision: self.synced.0.clone(),
                    }),
                    finished_at: Some(rfc3339(self.synced.1)),
                }),
                conditions: Vec::new(),
            }),
        })
    }

    /// Adds this Rollout's objects (in `namespace`, its Application in
    /// `argocd`) to `o`.
    pub(in crate::platforms::sim) fn add_to(&self, o: &mut Objects, namespace: &str, argocd: &str) {
        let (sets, pods) = self.replicasets_and_pods(namespace);
        if !self.deleted {
            o.rollouts.push(Arc::new(self.rollout(namespace)));
        }
        o.replicasets.extend(sets);
        o.pods.extend(pods);
        o.events.extend(self.events_of(namespace));
        if let Some(a) = self.application(argocd) {
            o.applications.push(Arc::new(a));
        }
    }
}
