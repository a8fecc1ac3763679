//! The fleet's Argo Rollouts (`[[environment.kubernetes]]`): how each is
//! declared and checked.

use serde::Deserialize;

use crate::model::Digest;
use crate::platforms::kubernetes::objects::CanaryStep;

/// Most pods a simulated Rollout may want.
const MAX_REPLICAS: u32 = 1000;
/// Longest a simulated `setWeight` step may take.
const MAX_STEP_SECONDS: u64 = 3600;

/// One Argo Rollout of the simulated fleet, in a stage's namespace, synced
/// by an Argo CD Application when it names one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetKube {
    /// The configuration's service it is (`[[environment.service]] name`).
    pub service: String,
    /// The Rollout's name (the configuration's `rollout`, by default the
    /// service's name).
    #[serde(default)]
    pub rollout: Option<String>,
    /// Image repository; a release's digest is sha256("repository:release"),
    /// as for the simulated ECS services, so a digest promoted from an ECS
    /// stage is the same image here.
    pub repository: String,
    /// Releases deployed in order, each a ReplicaSet of its own revision;
    /// the Rollout runs the last.
    pub releases: Vec<String>,
    /// Pods wanted.
    #[serde(default = "replicas")]
    pub replicas: u32,
    /// The canary's steps, in Argo Rollouts' shape:
    /// `[{ setWeight = 20 }, { pause = {} }, { pause = { duration = "30s" } }]`.
    pub steps: Vec<CanaryStep>,
    /// The Argo CD Application that syncs it (none: applied by hand).
    #[serde(default)]
    pub application: Option<String>,
    /// How long each `setWeight` step takes to scale and shift (seconds).
    #[serde(default = "step_seconds")]
    pub step_seconds: u64,
    /// The container whose image is the service's.
    #[serde(default)]
    pub container: Option<String>,
    /// Its health endpoint's typical latency in ms.
    #[serde(default)]
    pub latency_ms: Option<u32>,
}

fn replicas() -> u32 {
    2
}

fn step_seconds() -> u64 {
    10
}

/// What a simulated step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::platforms::sim) enum StepKind {
    /// Traffic to the canary, in percent.
    Weight(i32),
    /// A pause for so many seconds.
    PauseFor(u64),
    /// A pause until a person continues.
    Pause,
}

/// A step's kind, or why the simulator cannot run it.
pub(in crate::platforms::sim) fn step_kind(s: &CanaryStep) -> Result<StepKind, String> {
    let kinds = usize::from(s.set_weight.is_some())
        + usize::from(s.pause.is_some())
        + usize::from(s.analysis.is_some())
        + s.other.len();
    if kinds != 1 {
        return Err("each step must be exactly one of setWeight or pause".to_string());
    }
    if let Some(w) = s.set_weight {
        return if (0..=100).contains(&w) {
            Ok(StepKind::Weight(w))
        } else {
            Err(format!("setWeight must be from 0 to 100, found {w}"))
        };
    }
    match s.pause.as_ref().map(|p| &p.duration) {
        Some(None) => Ok(StepKind::Pause),
        Some(Some(serde_json::Value::Number(n))) => n
            .as_u64()
            .filter(|n| *n <= MAX_STEP_SECONDS)
            .map(StepKind::PauseFor)
            .ok_or_else(|| {
                format!("pause duration must be from 0 to {MAX_STEP_SECONDS} seconds, found {n}")
            }),
        Some(Some(serde_json::Value::String(d))) => humantime::parse_duration(d)
            .ok()
            .map(|d| d.as_secs())
            .filter(|n| *n <= MAX_STEP_SECONDS)
            .map(StepKind::PauseFor)
            .ok_or_else(|| {
                format!("pause duration \"{d}\" is not a duration of at most 1h such as \"30s\"")
            }),
        Some(Some(_)) => {
            Err("pause duration must be a string such as \"30s\" or seconds".to_string())
        }
        None => Err(format!(
            "the simulator runs setWeight and pause steps, not {}",
            s.other.keys().next().map_or("analysis", String::as_str)
        )),
    }
}

/// A Kubernetes name: lower-case letters, digits and '-', at most 63.
fn k8s_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

impl FleetKube {
    /// The Rollout's name.
    pub(in crate::platforms::sim) fn name(&self) -> &str {
        self.rollout.as_deref().unwrap_or(&self.service)
    }

    /// The digest of a release.
    pub(in crate::platforms::sim) fn digest_of(&self, release: &str) -> Digest {
        Digest::of_bytes(format!("{}:{release}", self.repository).as_bytes())
    }

    /// Why the entry cannot be simulated, if it cannot.
    pub(in crate::platforms::sim) fn check(&self, env: &str) -> Result<(), String> {
        let what = format!(
            "Kubernetes rollout \"{}\" in environment \"{env}\"",
            self.name()
        );
        if !k8s_name(self.name()) {
            return Err(format!(
                "{what}: the name must be a Kubernetes name (lower-case letters, digits and '-')"
            ));
        }
        if let Some(a) = self.application.as_deref().filter(|a| !k8s_name(a)) {
            return Err(format!(
                "{what}: application \"{a}\" must be a Kubernetes name (lower-case letters, digits and '-')"
            ));
        }
        if self.releases.is_empty() {
            return Err(format!("{what} has no releases"));
        }
        if self.replicas == 0 || self.replicas > MAX_REPLICAS {
            return Err(format!(
                "{what} must have from 1 to {MAX_REPLICAS} replicas, found {}",
                self.replicas
            ));
        }
        if self.step_seconds == 0 || self.step_seconds > MAX_STEP_SECONDS {
            return Err(format!(
                "{what}: step_seconds must be from 1 to {MAX_STEP_SECONDS}, found {}",
                self.step_seconds
            ));
        }
        for (i, s) in self.steps.iter().enumerate() {
            step_kind(s).map_err(|e| format!("{what}, step {}: {e}", i + 1))?;
        }
        crate::model::ImageRef::parse(&format!("{}:{}", self.repository, self.releases[0]))
            .map(drop)
            .map_err(|e| format!("{what}: {e}"))
    }
}
