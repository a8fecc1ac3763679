//! The simulated fleet's services on Kubernetes behind the provider seam:
//! the Argo Rollouts the fleet declares (`[[environment.kubernetes]]`),
//! each with its ReplicaSets, Pods, Events and Argo CD Application, moved as
//! their controllers would on the simulator's clock (`state.rs`), held in
//! the world's state (so every process of the demo sees the same canary and
//! decides the same pause), shown as Kubernetes objects (`objects.rs`) and
//! read by the platform's own builder, `kubernetes::read::snapshot`.
//!
//! A promotion is a simulated commit: the Application goes OutOfSync, is
//! synced two seconds later at that commit, and the Rollout steps through
//! its canary; a decision is what `kubectl argo rollouts promote` and
//! `abort` patch; the engine's way back is an abort and a revert commit of
//! the stable digest.

#[cfg(test)]
mod demo_tests;
mod fleet;
mod objects;
mod state;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use fleet::FleetKube;
pub(super) use state::SimRollout;

use super::script::{Status, Trigger};
use super::series::series;
use super::service::chrono_dur;
use super::{SimEnv, SimFleet, SimState};
use crate::config::{EnvConfig, PlatformKind, ServiceConfig};
use crate::model::{Decision, Digest, Health, MetricSeries, RevisionInfo, ServiceSnapshot, Shift};
use crate::platforms::kubernetes::read::{Objects, snapshot};
use crate::platforms::kubernetes::words;
use crate::provider::{DeployStarted, ProviderError};

/// Whether a service of the configuration runs on Kubernetes.
pub(super) fn is_kube(cfg: &ServiceConfig) -> bool {
    cfg.platform == PlatformKind::Kubernetes
}

/// The Rollout's name a service of the configuration names.
fn rollout_of(cfg: &ServiceConfig) -> &str {
    cfg.kubernetes
        .as_deref()
        .map_or(cfg.name.as_str(), |k| k.name.as_str())
}

fn not_found(env: &EnvConfig, cfg: &ServiceConfig) -> ProviderError {
    ProviderError::NotFound {
        what: "Rollout".to_string(),
        name: format!(
            "{} in namespace {}",
            rollout_of(cfg),
            env.kubernetes
                .as_deref()
                .map_or("default", |k| k.namespace.as_str())
        ),
    }
}

/// Every Rollout an environment of the fleet declares, by name.
pub(super) fn all(
    env: &str,
    declared: &[FleetKube],
    now: DateTime<Utc>,
) -> BTreeMap<String, SimRollout> {
    declared
        .iter()
        .map(|f| (f.name().to_string(), SimRollout::new(env, f, now)))
        .collect()
}

impl SimState {
    /// One simulated second of every Rollout; faults waiting for a step
    /// one reached start their clocks.
    pub(super) fn step_kube(&mut self, t: DateTime<Utc>) {
        let mut reached = Vec::new();
        for (env, e) in &mut self.envs {
            for r in e.kube.values_mut() {
                for step in r.step(t) {
                    reached.push((env.clone(), r.name.clone(), step));
                }
            }
        }
        if reached.is_empty() {
            return;
        }
        for (env, rollout, step) in reached {
            for f in &mut self.faults {
                if f.status == Status::Armed
                    && f.trigger == Trigger::Step
                    && f.step.is_some_and(|s| s <= step)
                    && f.env == env
                    && f.service.as_deref() == Some(rollout.as_str())
                {
                    f.status = Status::Due(t + chrono_dur(f.after));
                }
            }
        }
        self.fire_due(t);
    }
}

impl SimEnv {
    /// The objects of this environment's Rollouts, for `env`'s namespace.
    fn kube_objects(&self, env: &EnvConfig) -> Objects {
        let (ns, argocd) = env
            .kubernetes
            .as_deref()
            .map_or(("default", "argocd"), |k| {
                (k.namespace.as_str(), k.argocd_namespace.as_str())
            });
        let mut o = Objects::default();
        for r in self.kube.values() {
            r.add_to(&mut o, ns, argocd);
        }
        o
    }
}

impl SimFleet {
    /// Whether the fleet declares `service`'s Rollout in `env`.
    pub(super) fn simulates_kube(&self, env: &EnvConfig, service: &ServiceConfig) -> bool {
        self.lock()
            .envs
            .get(&env.name)
            .and_then(|e| e.kube.get(rollout_of(service)))
            .is_some_and(|r| r.service == service.name)
    }

    /// The readings of `env`'s services on Kubernetes at `now`, by service,
    /// built by the platform's own builder; health and metrics are the
    /// simulator's, moved by game-day shifts.
    pub(super) fn snapshot_kube(
        sim_env: &SimEnv,
        env: &EnvConfig,
        now: DateTime<Utc>,
        cloudwatch_error: Option<&str>,
    ) -> BTreeMap<String, ServiceSnapshot> {
        if !env.services.iter().any(is_kube) {
            return BTreeMap::new();
        }
        let read = snapshot(env, &sim_env.kube_objects(env), now);
        let mut out = BTreeMap::new();
        for mut snap in read.services {
            let Some(cfg) = env.services.iter().find(|s| s.name == snap.name) else {
                continue;
            };
            let name = rollout_of(cfg);
            let r = sim_env.kube.get(name);
            if cfg.health.is_some()
                && let Some(r) = r.filter(|r| !r.deleted && snap.running > 0)
            {
                let latency = u64::from(r.latency_ms.unwrap_or(35));
                let since = r.set(&r.stable).map_or(now, |s| s.created);
                snap.health = Health::Healthy {
                    status: 200,
                    latency: Duration::from_millis(latency + (now.timestamp().unsigned_abs() % 5)),
                    healthy_for: (now - since).to_std().unwrap_or_default(),
                };
            }
            let shifts = sim_env
                .functions
                .get(name)
                .map_or(&[][..], |fx| &fx.shifts[..]);
            snap.metrics = cfg
                .metrics
                .iter()
                .map(|m| match cloudwatch_error {
                    Some(e) => MetricSeries {
                        label: m.label.clone(),
                        points: Vec::new(),
                        error: Some(e.to_string()),
                    },
                    None => series(
                        name,
                        r.and_then(|r| r.latency_ms),
                        shifts,
                        m,
                        &cfg.metrics,
                        now,
                    ),
                })
                .collect();
            out.insert(snap.name.clone(), snap);
        }
        out
    }

    /// The ReplicaSets the Rollout keeps, oldest first (what the reading's
    /// history says).
    pub(super) fn history_kube(
        &self,
        env: &EnvConfig,
        cfg: &ServiceConfig,
    ) -> Result<Vec<RevisionInfo>, ProviderError> {
        let st = self.enter(&env.name)?;
        let sim_env = st.envs.get(&env.name).ok_or_else(|| not_found(env, cfg))?;
        let now = st.time;
        Self::snapshot_kube(sim_env, env, now, None)
            .remove(&cfg.name)
            .map(|s| s.history.to_vec())
            .ok_or_else(|| not_found(env, cfg))
    }

    /// A promotion by commit: the Application syncs it, the Rollout steps
    /// through its canary. `back`: the engine's way back, an abort of a
    /// canary under way first, then the revert commit.
    pub(super) fn deploy_kube(
        &self,
        env: &EnvConfig,
        cfg: &ServiceConfig,
        digest: &Digest,
        back: bool,
    ) -> Result<DeployStarted, ProviderError> {
        let _lock = self.world.as_ref().map(|w| w.lock());
        let mut st = self.enter(&env.name)?;
        let now = st.time;
        let name = rollout_of(cfg).to_string();
        // The image's tag travels with its digest: the registry knows it.
        let release = st.envs.values().find_map(|e| {
            e.kube
                .values()
                .flat_map(|r| r.sets.iter())
                .find(|s| s.digest == digest.as_str())
                .and_then(|s| s.release.clone())
                .or_else(|| {
                    e.services
                        .values()
                        .find_map(|s| s.version_of(digest))
                        .map(str::to_string)
                })
        });
        let r = st
            .envs
            .get_mut(&env.name)
            .and_then(|e| e.kube.get_mut(&name))
            .filter(|r| !r.deleted)
            .ok_or_else(|| not_found(env, cfg))?;
        let runs = r.set(&r.current).map(|s| s.digest.as_str()) == Some(digest.as_str());
        if runs && !r.abort && r.pending.is_none() && r.current == r.stable {
            return Err(ProviderError::Conflict {
                message: format!(
                    "{name} already runs {} in {}: there is nothing to commit; nothing was changed",
                    digest.short(),
                    env.name
                ),
            });
        }
        let from = r
            .set(&r.stable)
            .map(|s| crate::model::Revision::numbered(&name, s.revision, ""));
        if back && r.mid_canary() {
            r.abort(now, None);
        }
        let sha = r.commit(&env.name, digest, release, now);
        if back {
            st.function_rolled_back(&env.name, &name, now);
        }
        st.trigger(
            &env.name,
            &name,
            if back {
                Trigger::Rollback
            } else {
                Trigger::Deploy
            },
            now,
        );
        self.save(&st);
        Ok(DeployStarted {
            service: cfg.name.clone(),
            from,
            to: None,
            change: Some(sha),
            deployment_id: None,
        })
    }

    /// A decision at the Rollout's pause: continue clears its pause (as
    /// `kubectl argo rollouts promote` does), roll back aborts it. A pause
    /// other than the one the caller saw is refused, nothing changed.
    pub(super) fn decide_kube(
        &self,
        env: &EnvConfig,
        cfg: &ServiceConfig,
        shift: &Shift,
        decision: Decision,
    ) -> Result<String, ProviderError> {
        let _lock = self.world.as_ref().map(|w| w.lock());
        let mut st = self.enter(&env.name)?;
        let now = st.time;
        let name = rollout_of(cfg).to_string();
        let r = st
            .envs
            .get_mut(&env.name)
            .and_then(|e| e.kube.get_mut(&name))
            .filter(|r| !r.deleted)
            .ok_or_else(|| not_found(env, cfg))?;
        let seen = shift.pause.as_ref().map(|p| p.hook.as_str());
        let said = match decision {
            Decision::Continue => {
                words::still_paused_there(&name, seen, r.index, r.paused(), &r.phase)?;
                r.resume(now);
                words::continued(&name, Some(r.weight), r.index, r.steps.len())
            }
            Decision::Rollback => {
                if !r.mid_canary() {
                    return Err(ProviderError::Conflict {
                        message: format!(
                            "{name} has no canary under way ({}); nothing was changed",
                            r.phase
                        ),
                    });
                }
                r.abort(now, None);
                words::aborted(&name)
            }
        };
        self.save(&st);
        Ok(said)
    }
}
