//! The custom objects shipdeck reads and patches, in the shapes Argo
//! Rollouts (`argoproj.io/v1alpha1` `Rollout`, from its `types.go`) and
//! Argo CD (`Application`) publish: only the fields shipdeck shows or
//! decides on, every one optional, so an object written by another version
//! still reads (what is missing is unknown, never a default that looks
//! healthy). Deployments, ReplicaSets, Pods and Events are k8s-openapi's.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

/// `kube::Resource` for a namespaced custom object with a fixed group,
/// version, kind and plural.
macro_rules! custom_resource {
    ($ty:ty, $group:literal, $version:literal, $kind:literal, $plural:literal) => {
        impl kube::Resource for $ty {
            type DynamicType = ();
            type Scope = kube::core::NamespaceResourceScope;

            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($kind)
            }
            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($group)
            }
            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($version)
            }
            fn plural(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($plural)
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

/// An Argo Rollout.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    /// Its metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What it was told.
    #[serde(default)]
    pub spec: RolloutSpec,
    /// What its controller reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RolloutStatus>,
}
custom_resource!(Rollout, "argoproj.io", "v1alpha1", "Rollout", "rollouts");

/// A Rollout's spec (the fields shipdeck reads).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// Pods wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// The pod template (absent when it refers to a Deployment's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<PodTemplateSpec>,
    /// How it rolls out.
    #[serde(default)]
    pub strategy: RolloutStrategy,
    /// Paused by a person (`kubectl argo rollouts pause`).
    #[serde(default)]
    pub paused: bool,
}

/// Canary or blue/green.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStrategy {
    /// A canary, in steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStrategy>,
    /// Blue/green: an active and a preview Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenStrategy>,
}

/// A canary's steps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStrategy {
    /// The steps, in order.
    #[serde(default)]
    pub steps: Vec<CanaryStep>,
}

/// One step of a canary: exactly one of its fields is set. A step of a kind
/// shipdeck does not know is kept by its key and named, never skipped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStep {
    /// Traffic to the canary, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_weight: Option<i32>,
    /// A pause: for a duration, or until a person continues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<PauseStep>,
    /// An analysis run in the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisStep>,
    /// Any other step (`experiment`, `setCanaryScale`, `setHeaderRoute`…).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// A pause step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PauseStep {
    /// How long (`30s`, `5m`, or seconds as a number); none: until a person
    /// continues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<serde_json::Value>,
}

/// An analysis step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnalysisStep {
    /// The analysis templates it runs.
    #[serde(default)]
    pub templates: Vec<AnalysisTemplateRef>,
}

/// A reference to an analysis template.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplateRef {
    /// Its name.
    #[serde(default)]
    pub template_name: String,
}

/// Blue/green's Services.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStrategy {
    /// The Service that serves traffic.
    #[serde(default)]
    pub active_service: String,
    /// The Service that shows the new version before it serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_service: Option<String>,
    /// Switch without waiting for a person (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_promotion_enabled: Option<bool>,
}

/// What the Rollouts controller reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// `Healthy`, `Progressing`, `Paused`, `Degraded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Why it is in that phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The pod-template hash of the newest ReplicaSet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_pod_hash: Option<String>,
    /// The pod-template hash of the stable ReplicaSet.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "stableRS")]
    pub stable_rs: Option<String>,
    /// The step the canary stands at (0-based; the number of steps when
    /// done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step_index: Option<i32>,
    /// Why it is paused, when it is.
    #[serde(default)]
    pub pause_conditions: Vec<PauseCondition>,
    /// The controller paused it (a pause step).
    #[serde(default)]
    pub controller_pause: bool,
    /// Aborted: all traffic back on stable.
    #[serde(default)]
    pub abort: bool,
    /// When it was aborted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted_at: Option<String>,
    /// The canary's traffic and analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStatus>,
    /// Blue/green's selectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenStatus>,
    /// Pods in total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Pods of the newest template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<i32>,
    /// Pods ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Pods available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    /// The generation the controller has seen (Argo writes it as a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<serde_json::Value>,
}

impl RolloutStatus {
    /// The generation the controller has seen, as a number (Argo writes a
    /// string; anything else unreadable is `None`).
    pub fn observed(&self) -> Option<i64> {
        match self.observed_generation.as_ref()? {
            serde_json::Value::String(s) => s.parse().ok(),
            serde_json::Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }
}

/// Whether a controller that reports `observed` has seen the spec of
/// `generation`: until it has, its status describes an older spec (a
/// template just changed still reads as the old one's `Healthy`). No
/// generation at all is taken as seen; a generation without an observed one
/// is not.
pub fn seen_latest(generation: Option<i64>, observed: Option<i64>) -> bool {
    match (generation, observed) {
        (Some(g), Some(o)) => o >= g,
        (None, _) => true,
        (Some(_), None) => false,
    }
}

/// Why a Rollout is paused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PauseCondition {
    /// `CanaryPauseStep`, `BlueGreenPause`, `InconclusiveAnalysis`…
    #[serde(default)]
    pub reason: String,
    /// Since when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
}

/// A canary's traffic now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStatus {
    /// The weights the traffic router applied (absent without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<TrafficWeights>,
    /// The analysis run of the current step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step_analysis_run_status: Option<AnalysisRunStatus>,
}

/// Traffic per ReplicaSet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrafficWeights {
    /// The canary's.
    #[serde(default)]
    pub canary: WeightDestination,
    /// The stable's.
    #[serde(default)]
    pub stable: WeightDestination,
}

/// One destination's weight.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightDestination {
    /// Percent of traffic.
    #[serde(default)]
    pub weight: i32,
    /// Which ReplicaSet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template_hash: Option<String>,
}

/// An analysis run's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnalysisRunStatus {
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// `Running`, `Successful`, `Failed`, `Error`, `Inconclusive`.
    #[serde(default)]
    pub status: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Blue/green's selectors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStatus {
    /// The pod-template hash the active Service selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_selector: Option<String>,
    /// The one the preview Service selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_selector: Option<String>,
}

/// An Argo CD Application.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Application {
    /// Its metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What Argo CD reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ApplicationStatus>,
}
custom_resource!(
    Application,
    "argoproj.io",
    "v1alpha1",
    "Application",
    "applications"
);

/// An Application's status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStatus {
    /// Sync against git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncStatus>,
    /// Health of what it manages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<AppHealth>,
    /// The sync operation, running or last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_state: Option<OperationState>,
    /// Errors of comparison and sync.
    #[serde(default)]
    pub conditions: Vec<AppCondition>,
}

/// Sync status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncStatus {
    /// `Synced`, `OutOfSync`, `Unknown`.
    #[serde(default)]
    pub status: String,
    /// The commit it compared against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// Health.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppHealth {
    /// `Healthy`, `Progressing`, `Suspended`, `Degraded`, `Missing`,
    /// `Unknown`.
    #[serde(default)]
    pub status: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A sync operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationState {
    /// `Running`, `Succeeded`, `Failed`, `Error`, `Terminating`.
    #[serde(default)]
    pub phase: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What it synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_result: Option<SyncResult>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

/// A sync's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncResult {
    /// The commit synced.
    #[serde(default)]
    pub revision: String,
}

/// An error Argo CD reports on the Application.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppCondition {
    /// `ComparisonError`, `SyncError`…
    #[serde(default, rename = "type")]
    pub kind: String,
    /// Its message.
    #[serde(default)]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rollout_reads_in_argos_shape_and_keeps_unknown_steps() {
        let r: Rollout = serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "search", "namespace": "shop-prod"},
            "spec": {"replicas": 4, "strategy": {"canary": {"steps": [
                {"setWeight": 20}, {"pause": {}}, {"analysis": {"templates": [{"templateName": "errors"}]}},
                {"pause": {"duration": "30s"}}, {"experiment": {"duration": "1h"}}
            ]}}},
            "status": {"phase": "Paused", "stableRS": "abc", "currentStepIndex": 1,
                "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}],
                "canary": {"weights": {"canary": {"weight": 20, "podTemplateHash": "def"}, "stable": {"weight": 80}}},
                "observedGeneration": "7"}
        }))
        .unwrap_or_default();
        let steps = &r
            .spec
            .strategy
            .canary
            .as_ref()
            .map(|c| c.steps.clone())
            .unwrap_or_default();
        assert_eq!(steps.len(), 5);
        assert_eq!(steps[0].set_weight, Some(20));
        assert!(steps[1].pause.is_some());
        assert_eq!(
            steps[2].analysis.as_ref().map(|a| a.templates.len()),
            Some(1)
        );
        assert!(steps[4].other.contains_key("experiment"));
        let st = r.status.unwrap_or_default();
        assert_eq!(st.stable_rs.as_deref(), Some("abc"));
        assert_eq!(st.pause_conditions[0].reason, "CanaryPauseStep");
        assert_eq!(
            st.canary.and_then(|c| c.weights).map(|w| w.canary.weight),
            Some(20)
        );
    }
}
