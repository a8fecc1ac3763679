//! The one builder of a Kubernetes service's reading: what it says of a
//! settled Rollout, a canary paused mid-way, an abort, and of everything it
//! cannot read (unknown, never converged).

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{Deployment as K8sDeployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use super::*;
use crate::config::kubernetes::Workload as Kind;
use crate::platforms::kubernetes::objects::{Application, Rollout};

const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const COMMIT: &str = "b3897825775aeee400d9cf2fcbdda5d1a993175c";

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
}

fn image(d: &str) -> String {
    format!("ghcr.io/acme/search@{d}")
}

fn template(img: &str) -> Value {
    json!({"metadata": {"labels": {"app": "search"}},
           "spec": {"containers": [{"name": "app", "image": img}]}})
}

fn rollout(img: &str, status: &Value) -> Rollout {
    serde_json::from_value(json!({
        "metadata": {"name": "search", "namespace": "shop-prod", "uid": "r-1", "generation": 2},
        "spec": {"replicas": 4, "template": template(img), "strategy": {"canary": {"steps": [
            {"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]}}},
        "status": status,
    }))
    .unwrap()
}

fn rs(hash: &str, rev: u32, img: &str, replicas: i32) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": format!("search-{hash}"), "uid": format!("rs-{hash}"),
            "labels": {"rollouts-pod-template-hash": hash},
            "annotations": {"rollout.argoproj.io/revision": rev.to_string()},
            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "search", "uid": "r-1"}]},
        "spec": {"replicas": replicas, "selector": {}, "template": template(img)},
    }))
    .unwrap()
}

fn app(sync: &str, health: &str, revision: &str) -> Application {
    serde_json::from_value(json!({
        "metadata": {"name": "search-prod", "namespace": "argocd"},
        "status": {"sync": {"status": sync, "revision": revision},
                   "health": {"status": health},
                   "operationState": {"phase": "Succeeded", "syncResult": {"revision": revision}}},
    }))
    .unwrap()
}

fn settled() -> Value {
    json!({"phase": "Healthy", "stableRS": "aaa", "currentPodHash": "aaa", "currentStepIndex": 4,
           "replicas": 4, "updatedReplicas": 4, "readyReplicas": 4, "availableReplicas": 4,
           "observedGeneration": "2"})
}

fn paused_at_20() -> Value {
    json!({"phase": "Paused", "message": "CanaryPauseStep", "stableRS": "aaa", "currentPodHash": "bbb",
           "currentStepIndex": 1, "replicas": 5, "updatedReplicas": 1, "readyReplicas": 5,
           "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2027-01-15T08:00:00Z"}],
           "controllerPause": true,
           "canary": {"weights": {"canary": {"weight": 20, "podTemplateHash": "bbb"},
                                  "stable": {"weight": 80, "podTemplateHash": "aaa"}}},
           "observedGeneration": "2"})
}

fn read<'a>(
    w: WorkloadRead<'a>,
    sets: Vec<&'a ReplicaSet>,
    pods: Vec<&'a Pod>,
    application: AppRead<'a>,
) -> ServiceSnapshot {
    service_snapshot(
        "search",
        &KubeReading {
            kind: Kind::Rollout,
            name: "search",
            namespace: "shop-prod",
            workload: w,
            container: Some("app"),
            replicasets: sets,
            pods,
            application,
            events: Vec::new(),
            health: Health::NotConfigured,
            at: at(),
        },
    )
}

#[test]
fn a_settled_rollout_synced_and_healthy_has_converged_on_the_commit_argo_cd_synced() {
    let r = rollout(&image(OLD), &settled());
    let set = rs("aaa", 1, &image(OLD), 4);
    let a = app("Synced", "Healthy", COMMIT);
    let s = read(
        WorkloadRead::Rollout(&r),
        vec![&set],
        vec![],
        AppRead::Found(&a),
    );
    assert_eq!(s.digest.as_ref().map(Digest::as_str), Some(OLD));
    assert_eq!(s.pinning, Pinning::Pinned);
    assert!(s.convergence.is_converged(), "{:?}", s.convergence);
    assert_eq!(s.convergence.change.as_deref(), Some(COMMIT));
    assert_eq!(s.deployments[0].rollout, RolloutState::Completed);
    assert_eq!(
        s.task_definition.map(|t| t.to_string()).as_deref(),
        Some("search:1")
    );
    assert_eq!((s.running, s.desired), (4, 4));
    assert!(s.detail.badge.is_none());
}

#[test]
fn a_canary_paused_at_20_percent_is_the_new_digest_in_progress_with_its_steps_pause_and_the_stable_set_active()
 {
    let r = rollout(&image(NEW), &paused_at_20());
    let (old, new) = (rs("aaa", 1, &image(OLD), 4), rs("bbb", 2, &image(NEW), 1));
    let a = app("Synced", "Suspended", COMMIT);
    let s = read(
        WorkloadRead::Rollout(&r),
        vec![&old, &new],
        vec![],
        AppRead::Found(&a),
    );
    assert_eq!(
        s.digest.as_ref().map(Digest::as_str),
        Some(NEW),
        "what it is told to run"
    );
    // The stable set still serves, and a way back goes to it.
    assert_eq!(
        s.deployments[1].task_definition.to_string(),
        "search:1",
        "the stable set is the active deployment"
    );
    let back: Vec<_> = s
        .history
        .iter()
        .filter_map(|h| h.digest.as_ref())
        .map(Digest::as_str)
        .collect();
    assert_eq!(
        back,
        vec![OLD, NEW],
        "oldest first: the newest other than NEW is OLD"
    );
    assert!(!s.convergence.is_converged());
    let primary = &s.deployments[0];
    assert_eq!(primary.rollout, RolloutState::InProgress);
    assert_eq!(primary.task_definition.to_string(), "search:2");
    let shift = primary.shift.as_deref().unwrap();
    assert_eq!(shift.weights, vec![2000, 5000, 10_000]);
    assert_eq!((shift.new_weight, shift.step), (2000, 1));
    assert_eq!(
        shift.pause.as_ref().map(|p| p.hook.as_str()),
        Some("rollout/search/1")
    );
    assert_eq!(s.deployments[1].role, DeploymentRole::Active);
    assert!(s.detail.badge.is_none(), "the shift says where it stands");
    // At the second pause, 50 %: the second of the three traffic steps.
    let mut st = paused_at_20();
    st["currentStepIndex"] = json!(3);
    st["canary"]["weights"]["canary"]["weight"] = json!(50);
    let r = rollout(&image(NEW), &st);
    let s2 = read(
        WorkloadRead::Rollout(&r),
        vec![&old, &new],
        vec![],
        AppRead::Found(&a),
    );
    let shift2 = s2.deployments[0].shift.as_deref().unwrap();
    assert_eq!((shift2.new_weight, shift2.step), (5000, 2));
    assert_eq!(
        shift2.pause.as_ref().map(|p| p.hook.as_str()),
        Some("rollout/search/3")
    );
    let steps = s
        .detail
        .lines
        .iter()
        .find(|l| &*l.label == "steps")
        .unwrap();
    assert_eq!(&*steps.text, "20% · [pause] · 50% · pause");
}

#[test]
fn an_aborted_rollout_has_failed_with_argos_message() {
    let mut st = paused_at_20();
    st["abort"] = json!(true);
    st["phase"] = json!("Degraded");
    st["message"] = json!("RolloutAborted: Rollout aborted update to revision 2");
    st["pauseConditions"] = json!([]);
    let r = rollout(&image(NEW), &st);
    let (old, new) = (rs("aaa", 1, &image(OLD), 4), rs("bbb", 2, &image(NEW), 0));
    let s = read(
        WorkloadRead::Rollout(&r),
        vec![&old, &new],
        vec![],
        AppRead::None,
    );
    // Aborted: the canary's digest failed (the stable set serves again).
    assert_eq!(s.digest.as_ref().map(Digest::as_str), Some(NEW));
    assert_eq!(s.deployments[0].rollout, RolloutState::Failed);
    assert!(
        s.deployments[0]
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("RolloutAborted")
    );
    assert!(!s.convergence.is_converged());
    assert_eq!(
        s.detail.badge.as_ref().map(|b| (b.text.as_str(), b.ok)),
        Some(("aborted", false))
    );
}

#[test]
fn what_cannot_be_read_is_unknown_never_converged() {
    // No Rollout in the namespace.
    let s = read(WorkloadRead::Missing, vec![], vec![], AppRead::None);
    assert_eq!(s.convergence.state, ConvergenceState::Unknown);
    assert_eq!(s.deployments[0].rollout, RolloutState::Unknown);
    assert!(s.digest.is_none());
    assert!(s.detail.lines[0].warn);
    assert!(
        s.detail.lines[0]
            .text
            .contains("no Rollout search in namespace shop-prod")
    );
    // The Application it names is not there.
    let r = rollout(&image(OLD), &settled());
    let set = rs("aaa", 1, &image(OLD), 4);
    let s = read(
        WorkloadRead::Rollout(&r),
        vec![&set],
        vec![],
        AppRead::Missing("search-prod"),
    );
    assert_eq!(s.convergence.state, ConvergenceState::Unknown);
    assert_eq!(
        s.detail.badge.as_ref().map(|b| b.text.as_str()),
        Some("no app")
    );
    // Argo CD cannot tell its sync.
    let a = app("Unknown", "Healthy", COMMIT);
    let s = read(
        WorkloadRead::Rollout(&r),
        vec![&set],
        vec![],
        AppRead::Found(&a),
    );
    assert_eq!(s.convergence.state, ConvergenceState::Unknown);
    // Out of sync: converging, not done.
    let a = app("OutOfSync", "Healthy", COMMIT);
    let s = read(
        WorkloadRead::Rollout(&r),
        vec![&set],
        vec![],
        AppRead::Found(&a),
    );
    assert_eq!(s.convergence.state, ConvergenceState::Converging);
    assert_eq!(
        s.detail.badge.as_ref().map(|b| b.text.as_str()),
        Some("OutOfSync")
    );
    // The controller has not seen the latest spec: not converged.
    let mut st = settled();
    st["observedGeneration"] = json!("1");
    let r = rollout(&image(OLD), &st);
    let s = read(WorkloadRead::Rollout(&r), vec![&set], vec![], AppRead::None);
    assert!(!s.convergence.is_converged());
    // No status at all.
    let r = rollout(&image(OLD), &json!({}));
    let s = read(WorkloadRead::Rollout(&r), vec![], vec![], AppRead::None);
    assert_eq!(s.deployments[0].rollout, RolloutState::Unknown);
    assert!(!s.convergence.is_converged());
}

#[test]
fn a_template_by_tag_takes_its_digest_from_the_pods_image_id_and_none_without_pods() {
    let r = rollout("ghcr.io/acme/search:1.4", &settled());
    let set = rs("aaa", 1, "ghcr.io/acme/search:1.4", 4);
    let s = read(WorkloadRead::Rollout(&r), vec![&set], vec![], AppRead::None);
    assert!(s.digest.is_none());
    assert_eq!(s.pinning, Pinning::Unpinned);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "search-aaa-1", "labels": {"rollouts-pod-template-hash": "aaa"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "search-aaa", "uid": "rs-aaa"}]},
        "status": {"containerStatuses": [{"name": "app", "image": "ghcr.io/acme/search:1.4",
            "imageID": image(OLD), "ready": true, "restartCount": 0}]},
    }))
    .unwrap();
    let s = read(
        WorkloadRead::Rollout(&r),
        vec![&set],
        vec![&pod],
        AppRead::None,
    );
    assert_eq!(s.digest.as_ref().map(Digest::as_str), Some(OLD));
    assert_eq!(s.pinning, Pinning::ResolvedFromTasks);
}

#[test]
fn a_deployment_is_converged_when_every_replica_runs_the_newest_template() {
    let d: K8sDeployment = serde_json::from_value(json!({
        "metadata": {"name": "search", "uid": "r-1", "generation": 3},
        "spec": {"replicas": 2, "selector": {}, "template": template(&image(NEW))},
        "status": {"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2},
    }))
    .unwrap();
    let mut set = rs("ccc", 3, &image(NEW), 2);
    set.metadata.labels = Some([("pod-template-hash".to_string(), "ccc".to_string())].into());
    let s = service_snapshot(
        "search",
        &KubeReading {
            kind: Kind::Deployment,
            name: "search",
            namespace: "shop-prod",
            workload: WorkloadRead::Deployment(&d),
            container: None,
            replicasets: vec![&set],
            pods: Vec::new(),
            application: AppRead::None,
            events: Vec::new(),
            health: Health::NotConfigured,
            at: at(),
        },
    );
    assert_eq!(s.digest.as_ref().map(Digest::as_str), Some(NEW));
    assert!(s.convergence.is_converged(), "{s:?}");
    assert_eq!(
        s.deployment_config.strategy.to_string(),
        "rolling update (Deployment)"
    );
}
