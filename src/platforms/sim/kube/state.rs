//! One simulated Argo Rollout and the Argo CD Application that syncs it, as
//! their controllers would move them, one simulated second at a time: a
//! commit is synced ([`SYNC_DELAY`] later), the new template becomes a
//! canary ReplicaSet, each `setWeight` takes `step_seconds`, a pause without
//! a duration waits for a person, the last step makes the canary stable; an
//! abort puts all traffic back on stable; a template equal to the stable
//! one's goes straight back to it. Kept in the world file (serde), so every
//! process of the demo advances and decides the same Rollout.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::fleet::{FleetKube, StepKind, step_kind};
use crate::model::Digest;
use crate::platforms::kubernetes::objects::CanaryStep;

/// How long Argo CD takes to sync a commit (its refresh and apply).
pub(in crate::platforms::sim) const SYNC_DELAY: i64 = 2;
/// Events kept per Rollout.
const EVENTS: usize = 40;
/// How long before the world's start the fleet's releases were rolled out,
/// one a day, the last a day before it.
const DAY: i64 = 24 * 3600;

/// A ReplicaSet the Rollout owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(in crate::platforms::sim) struct SimSet {
    /// Its `rollout.argoproj.io/revision`.
    pub(in crate::platforms::sim) revision: u32,
    /// Its `rollouts-pod-template-hash`.
    pub(in crate::platforms::sim) hash: String,
    /// The image's digest its template pins.
    pub(in crate::platforms::sim) digest: String,
    /// The release its image is tagged with, where known.
    #[serde(default)]
    pub(in crate::platforms::sim) release: Option<String>,
    /// When it was created.
    pub(in crate::platforms::sim) created: DateTime<Utc>,
    /// Pods it runs now.
    pub(in crate::platforms::sim) pods: u32,
}

/// An event about the Rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(in crate::platforms::sim) struct SimEvent {
    pub(in crate::platforms::sim) n: u64,
    pub(in crate::platforms::sim) at: DateTime<Utc>,
    pub(in crate::platforms::sim) reason: String,
    pub(in crate::platforms::sim) message: String,
    pub(in crate::platforms::sim) warning: bool,
}

/// A commit Argo CD has yet to sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(in crate::platforms::sim) struct Pending {
    pub(in crate::platforms::sim) commit: String,
    pub(in crate::platforms::sim) digest: String,
    #[serde(default)]
    pub(in crate::platforms::sim) release: Option<String>,
    pub(in crate::platforms::sim) due: DateTime<Utc>,
}

/// One simulated Rollout, its ReplicaSets, events and Application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(in crate::platforms::sim) struct SimRollout {
    pub(in crate::platforms::sim) name: String,
    pub(in crate::platforms::sim) service: String,
    pub(in crate::platforms::sim) uid: String,
    pub(in crate::platforms::sim) repository: String,
    pub(in crate::platforms::sim) container: String,
    pub(in crate::platforms::sim) latency_ms: Option<u32>,
    pub(in crate::platforms::sim) replicas: u32,
    pub(in crate::platforms::sim) steps: Vec<CanaryStep>,
    pub(in crate::platforms::sim) step_seconds: u64,
    pub(in crate::platforms::sim) sets: Vec<SimSet>,
    pub(in crate::platforms::sim) stable: String,
    pub(in crate::platforms::sim) current: String,
    pub(in crate::platforms::sim) index: usize,
    pub(in crate::platforms::sim) step_since: DateTime<Utc>,
    pub(in crate::platforms::sim) weight: i32,
    pub(in crate::platforms::sim) paused_since: Option<DateTime<Utc>>,
    pub(in crate::platforms::sim) phase: String,
    pub(in crate::platforms::sim) message: Option<String>,
    pub(in crate::platforms::sim) abort: bool,
    pub(in crate::platforms::sim) aborted_at: Option<DateTime<Utc>>,
    /// The current analysis run: name, status, message.
    pub(in crate::platforms::sim) analysis: Option<(String, String, String)>,
    /// A metric whose analysis fails the next canary at its next weight.
    pub(in crate::platforms::sim) doomed: Option<String>,
    pub(in crate::platforms::sim) generation: i64,
    /// The Application's name, when one syncs it.
    pub(in crate::platforms::sim) application: Option<String>,
    /// The commit synced, and when.
    pub(in crate::platforms::sim) synced: (String, DateTime<Utc>),
    pub(in crate::platforms::sim) pending: Option<Pending>,
    pub(in crate::platforms::sim) commits: u64,
    pub(in crate::platforms::sim) events: Vec<SimEvent>,
    pub(in crate::platforms::sim) next_event: u64,
    /// Deleted from the namespace (a game day, a test): not in readings.
    pub(in crate::platforms::sim) deleted: bool,
}

/// `pod-template-hash`-like: ten hex characters of the template's digest.
fn hash_of(name: &str, digest: &str) -> String {
    Digest::of_bytes(format!("{name}@{digest}").as_bytes())
        .as_str()
        .trim_start_matches("sha256:")[..10]
        .to_string()
}

/// A fake 40-hex commit sha.
pub(in crate::platforms::sim) fn commit_sha(seed: &str) -> String {
    Digest::of_bytes(format!("gitops:{seed}").as_bytes())
        .as_str()
        .trim_start_matches("sha256:")[..40]
        .to_string()
}

impl SimRollout {
    /// The Rollout a fleet entry declares, healthy on its last release.
    pub(in crate::platforms::sim) fn new(env: &str, f: &FleetKube, now: DateTime<Utc>) -> Self {
        let name = f.name().to_string();
        let n = f.releases.len();
        let sets: Vec<SimSet> = f
            .releases
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let digest = f.digest_of(r).to_string();
                let age = i64::try_from(n - i).unwrap_or(1) * DAY;
                SimSet {
                    revision: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    hash: hash_of(&name, &digest),
                    digest,
                    release: Some(r.clone()),
                    created: now - chrono::Duration::seconds(age),
                    pods: if i + 1 == n { f.replicas } else { 0 },
                }
            })
            .collect();
        let stable = sets.last().map(|s| s.hash.clone()).unwrap_or_default();
        let since = sets.last().map_or(now, |s| s.created);
        Self {
            uid: commit_sha(&format!("uid:{env}:{name}"))[..32].to_string(),
            service: f.service.clone(),
            repository: f.repository.clone(),
            container: f.container.clone().unwrap_or_else(|| f.service.clone()),
            latency_ms: f.latency_ms,
            replicas: f.replicas,
            steps: f.steps.clone(),
            step_seconds: f.step_seconds,
            current: stable.clone(),
            stable,
            sets,
            index: f.steps.len(),
            step_since: since,
            weight: 0,
            paused_since: None,
            phase: "Healthy".to_string(),
            message: None,
            abort: false,
            aborted_at: None,
            analysis: None,
            doomed: None,
            generation: i64::try_from(n).unwrap_or(1),
            application: f.application.clone(),
            synced: (commit_sha(&format!("{env}:{name}:initial")), since),
            pending: None,
            commits: 0,
            events: Vec::new(),
            next_event: 0,
            deleted: false,
            name,
        }
    }

    /// The ReplicaSet with pod-template hash `hash`.
    pub(in crate::platforms::sim) fn set(&self, hash: &str) -> Option<&SimSet> {
        self.sets.iter().find(|s| s.hash == hash)
    }

    fn set_mut(&mut self, hash: &str) -> Option<&mut SimSet> {
        self.sets.iter_mut().find(|s| s.hash == hash)
    }

    /// A canary is under way (not aborted).
    pub(in crate::platforms::sim) fn mid_canary(&self) -> bool {
        self.current != self.stable && !self.abort
    }

    fn revision(&self) -> u32 {
        self.set(&self.current).map_or(0, |s| s.revision)
    }

    fn event(&mut self, at: DateTime<Utc>, reason: &str, message: String, warning: bool) {
        self.next_event += 1;
        self.events.push(SimEvent {
            n: self.next_event,
            at,
            reason: reason.to_string(),
            message,
            warning,
        });
        if self.events.len() > EVENTS {
            self.events.remove(0);
        }
    }

    /// A commit of `digest` pushed at `now`: Argo CD syncs it
    /// [`SYNC_DELAY`] seconds later. Returns the commit's sha.
    pub(in crate::platforms::sim) fn commit(
        &mut self,
        env: &str,
        digest: &Digest,
        release: Option<String>,
        now: DateTime<Utc>,
    ) -> String {
        self.commits += 1;
        let sha = commit_sha(&format!("{env}:{}:{}:{digest}", self.name, self.commits));
        self.pending = Some(Pending {
            commit: sha.clone(),
            digest: digest.to_string(),
            release,
            due: now + chrono::Duration::seconds(SYNC_DELAY),
        });
        sha
    }

    /// One simulated second: the steps reached (1-based), for game-day
    /// faults waiting for one.
    pub(in crate::platforms::sim) fn step(&mut self, t: DateTime<Utc>) -> Vec<u32> {
        let mut reached = Vec::new();
        if let Some(p) = self.pending.take_if(|p| p.due <= t) {
            self.apply(&p, t);
        }
        for _ in 0..=self.steps.len() {
            if self.abort || self.current == self.stable || self.deleted {
                break;
            }
            let number = u32::try_from(self.index + 1).unwrap_or(u32::MAX);
            match self.steps.get(self.index).map(step_kind) {
                None => {
                    self.complete(t);
                    break;
                }
                Some(Ok(StepKind::Weight(w))) => {
                    let secs = i64::try_from(self.step_seconds).unwrap_or(i64::MAX);
                    if t < self.step_since + chrono::Duration::seconds(secs) {
                        break;
                    }
                    self.set_weight(w, t);
                    reached.push(number);
                    if self.abort {
                        break;
                    }
                    self.index += 1;
                    self.step_since = t;
                }
                Some(Ok(kind @ (StepKind::Pause | StepKind::PauseFor(_)))) => {
                    let Some(since) = self.paused_since else {
                        self.pause(t);
                        reached.push(number);
                        break;
                    };
                    match kind {
                        StepKind::PauseFor(d)
                            if t >= since
                                + chrono::Duration::seconds(i64::try_from(d).unwrap_or(0)) =>
                        {
                            self.resume(t);
                        }
                        _ => break,
                    }
                }
                // Checked when the fleet was read.
                Some(Err(_)) => break,
            }
        }
        reached
    }

    /// Argo CD synced `p`: the Rollout gets its template.
    fn apply(&mut self, p: &Pending, t: DateTime<Utc>) {
        self.synced = (p.commit.clone(), t);
        self.generation += 1;
        let next = self.sets.iter().map(|s| s.revision).max().unwrap_or(0) + 1;
        let hash = hash_of(&self.name, &p.digest);
        if self.set(&hash).is_none() {
            self.sets.push(SimSet {
                revision: next,
                hash: hash.clone(),
                digest: p.digest.clone(),
                release: p.release.clone(),
                created: t,
                pods: 0,
            });
        }
        if let Some(s) = self.set_mut(&hash) {
            s.revision = next;
        }
        self.event(
            t,
            "RolloutUpdated",
            format!("Rollout updated to revision {next}"),
            false,
        );
        self.paused_since = None;
        self.analysis = None;
        self.weight = 0;
        let (abort, stable, replicas) = (self.abort, self.stable.clone(), self.replicas);
        for s in &mut self.sets {
            // A canary replaced (or aborted) scales down; stable stays.
            if s.hash != stable && s.hash != hash {
                s.pods = 0;
            }
            if s.hash == stable {
                s.pods = replicas;
            }
        }
        self.abort = false;
        self.aborted_at = None;
        self.current.clone_from(&hash);
        if hash == stable {
            // As Argo does for a template equal to the stable ReplicaSet's:
            // no steps, straight back to it.
            self.index = self.steps.len();
            self.phase = "Healthy".to_string();
            self.message = None;
            let why = if abort {
                "after an abort"
            } else {
                "no steps to run"
            };
            self.event(
                t,
                "RolloutCompleted",
                format!(
                    "Rollout completed update to revision {next} ({hash}): the template is the stable ReplicaSet's, {why}"
                ),
                false,
            );
        } else {
            self.index = 0;
            self.step_since = t;
            self.phase = "Progressing".to_string();
            self.message = Some("more replicas need to be updated".to_string());
        }
    }

    fn set_weight(&mut self, w: i32, t: DateTime<Utc>) {
        self.weight = w;
        let want = (u64::from(self.replicas) * u64::try_from(w).unwrap_or(0)).div_ceil(100);
        let want = u32::try_from(want)
            .unwrap_or(self.replicas)
            .max(u32::from(w > 0));
        // As with `dynamicStableScale`: the stable set gives up the pods
        // the canary takes, so the Rollout runs its replicas in all.
        let (current, stable, replicas) =
            (self.current.clone(), self.stable.clone(), self.replicas);
        for s in &mut self.sets {
            if s.hash == current {
                s.pods = want.min(replicas);
            } else if s.hash == stable {
                s.pods = replicas.saturating_sub(want.min(replicas));
            }
        }
        let (i, n) = (self.index + 1, self.steps.len());
        self.event(
            t,
            "RolloutStepCompleted",
            format!("Rollout step {i}/{n} completed (setWeight: {w})"),
            false,
        );
        if let Some(metric) = self.doomed.take() {
            self.analysis_fails(&metric, t);
        }
    }

    fn pause(&mut self, t: DateTime<Utc>) {
        self.paused_since = Some(t);
        self.phase = "Paused".to_string();
        self.message = Some("CanaryPauseStep".to_string());
        self.event(
            t,
            "RolloutPaused",
            "Rollout is paused (CanaryPauseStep)".to_string(),
            false,
        );
    }

    /// The pause is over (its time, or a person's promote): the next step.
    pub(in crate::platforms::sim) fn resume(&mut self, t: DateTime<Utc>) {
        self.paused_since = None;
        self.phase = "Progressing".to_string();
        self.message = Some("more replicas need to be updated".to_string());
        let (i, n) = (self.index + 1, self.steps.len());
        self.event(t, "RolloutResumed", "Rollout is resumed".to_string(), false);
        self.event(
            t,
            "RolloutStepCompleted",
            format!("Rollout step {i}/{n} completed (pause)"),
            false,
        );
        self.index += 1;
        self.step_since = t;
    }

    /// Whether it waits at a pause for a person.
    pub(in crate::platforms::sim) fn paused(&self) -> bool {
        self.paused_since.is_some() && !self.abort
    }

    fn complete(&mut self, t: DateTime<Utc>) {
        let (current, replicas) = (self.current.clone(), self.replicas);
        for s in &mut self.sets {
            s.pods = if s.hash == current { replicas } else { 0 };
        }
        self.stable.clone_from(&current);
        self.weight = 0;
        self.index = self.steps.len();
        self.phase = "Healthy".to_string();
        self.message = None;
        let (rev, n) = (self.revision(), self.steps.len());
        self.event(
            t,
            "RolloutCompleted",
            format!("Rollout completed update to revision {rev} ({current}): Completed all {n} canary steps"),
            false,
        );
    }

    /// `status.abort`: all traffic back on stable at once, the canary
    /// scaled down; `why` is the analysis's message when one aborted it.
    pub(in crate::platforms::sim) fn abort(&mut self, t: DateTime<Utc>, why: Option<&str>) {
        self.abort = true;
        self.aborted_at = Some(t);
        self.weight = 0;
        self.paused_since = None;
        let (current, stable, replicas) =
            (self.current.clone(), self.stable.clone(), self.replicas);
        for s in &mut self.sets {
            if s.hash == current {
                s.pods = 0;
            } else if s.hash == stable {
                s.pods = replicas;
            }
        }
        self.phase = "Degraded".to_string();
        let rev = self.revision();
        let message = match why {
            Some(w) => format!("RolloutAborted: Rollout aborted update to revision {rev}: {w}"),
            None => format!("RolloutAborted: Rollout aborted update to revision {rev}"),
        };
        self.message = Some(message.clone());
        let text = message.trim_start_matches("RolloutAborted: ").to_string();
        self.event(t, "RolloutAborted", text, true);
    }

    /// The canary's analysis of `metric` fails: Argo aborts the Rollout by
    /// itself. Without a canary under way, the next one fails at its next
    /// weight.
    pub(in crate::platforms::sim) fn analysis_fails(&mut self, metric: &str, t: DateTime<Utc>) {
        if !self.mid_canary() {
            self.doomed = Some(metric.to_string());
            return;
        }
        let run = format!("{}-{}-{}", self.name, self.current, self.index + 1);
        let why =
            format!("Metric \"{metric}\" assessed Failed due to failed (1) > failureLimit (0)");
        self.analysis = Some((run.clone(), "Failed".to_string(), why.clone()));
        self.event(
            t,
            "AnalysisRunFailed",
            format!("Analysis Run '{run}' Status New: 'Failed' Previous: 'Running'"),
            true,
        );
        self.abort(t, Some(&why));
    }
}
