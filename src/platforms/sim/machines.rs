//! The simulated fleet's services on Fly.io Machines behind the provider
//! seam: the apps the fleet declares (`[[environment.fly]]`), each held by
//! a [`SimFly`] per environment, and read, promoted, rolled back and
//! decided by the Fly platform's own code (`fly::snapshot` builds the
//! reading, `fly::steps` chooses and leases, `fly::runner` runs the canary
//! then the rest on the simulator's clock), which is generic over
//! [`FlyApi`](crate::platforms::fly::api::FlyApi).
//!
//! The machines, leases and runs are shared through the demo's world file
//! (`shared.rs`, as the simulated Lambda's are), so a second shell sees the
//! canary and the pause a console's run holds, and a person decides there
//! (`shipdeck step continue edge --env prod --demo`): the decision goes
//! through the world to the process that runs it.

mod fleet;
mod runs;
mod shared;
#[cfg(test)]
mod tests;

use std::time::Duration;

use chrono::{DateTime, Utc};

pub(super) use fleet::SimMachines;
pub use fleet::{FleetFly, FleetRegion};
pub(super) use runs::SavedRuns;

use super::fly::{FlyFault, SimFly};
use super::series::series;
use super::{SimFleet, SimState};
use crate::config::{EnvConfig, PlatformKind, ServiceConfig};
use crate::model::{Digest, Health, MetricSeries, RevisionInfo, ServiceSnapshot};
use crate::platforms::fly::read::machines_of;
use crate::platforms::fly::snapshot::{FlyReading, revision, service_snapshot};
use crate::provider::ProviderError;

/// Game-day effects on an app on Fly: the check its next deploy's image
/// fails, on the digest that deploy brings.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct FlyEffects {
    /// The digest its latest promotion brings, if one started.
    #[serde(default)]
    pub(super) to: Option<String>,
    /// Checks that go critical on that digest: name, and what they say.
    #[serde(default)]
    pub(super) critical: Vec<(String, Option<String>)>,
}

impl FlyEffects {
    /// A check-critical effect fired.
    pub(super) fn fire(&mut self, check: &str, output: Option<&str>) {
        self.critical
            .push((check.to_string(), output.map(str::to_string)));
    }

    /// The faults these effects script into the simulated API.
    fn faults(&self) -> Vec<FlyFault> {
        let Some(to) = &self.to else {
            return Vec::new();
        };
        self.critical
            .iter()
            .map(|(check, output)| FlyFault::CheckCritical {
                digest: to.clone(),
                check: check.clone(),
                output: output.clone(),
                after: Duration::ZERO,
            })
            .collect()
    }
}

/// Whether a service of the configuration runs on Fly.
pub(super) fn is_fly(cfg: &ServiceConfig) -> bool {
    cfg.platform == PlatformKind::Fly
}

fn not_found(cfg: &ServiceConfig) -> ProviderError {
    ProviderError::NotFound {
        what: "Fly app".to_string(),
        name: cfg
            .fly
            .as_deref()
            .map_or(cfg.name.as_str(), |f| f.app.as_str())
            .to_string(),
    }
}

impl SimMachines {
    /// The simulated API of `env` and the fleet's entry of `cfg`'s app.
    fn of(&self, env: &str, cfg: &ServiceConfig) -> Option<(&SimFly, &FleetFly)> {
        let f = cfg.fly.as_deref()?;
        let e = self.envs.get(env)?;
        e.declared.get(&f.app).map(|d| (&e.api, d))
    }

    /// Where the machines pull `digest` from, when the fleet built it.
    fn repository_of(&self, digest: &str) -> Option<String> {
        self.envs
            .values()
            .flat_map(|e| e.declared.values())
            .find(|f| f.releases.iter().any(|r| f.digest_of(r).as_str() == digest))
            .map(|f| f.repository.clone())
    }
}

impl SimFleet {
    /// Whether the fleet declares `service`'s app in `env`.
    pub(super) fn simulates_fly(&self, env: &EnvConfig, service: &ServiceConfig) -> bool {
        self.machines.of(&env.name, service).is_some()
    }

    /// Takes `env`'s simulated Machines API as the world holds it
    /// (`saved`), and the game-day effects in force: once per reading.
    pub(super) fn take_saved_machines(&self, env: &str, sim_env: &super::SimEnv) {
        let Some(e) = self.machines.envs.get(env) else {
            return;
        };
        if let (Some(saved), Some(_)) = (&sim_env.fly, &self.world) {
            e.api.import(saved);
        }
        for fx in sim_env.fly_effects.values() {
            for f in fx.faults() {
                e.api.add_fault(f);
            }
        }
    }

    /// The reading of a Fly service at `now`, built as the platform builds
    /// it; its metrics are the simulator's, moved by game-day `shifts`.
    pub(super) fn snapshot_fly(
        &self,
        st: &SimState,
        env: &EnvConfig,
        cfg: &ServiceConfig,
        now: DateTime<Utc>,
        cloudwatch_error: Option<&str>,
    ) -> Result<ServiceSnapshot, ProviderError> {
        let (api, decl) = self
            .machines
            .of(&env.name, cfg)
            .ok_or_else(|| not_found(cfg))?;
        let Some(f) = cfg.fly.as_deref() else {
            return Err(not_found(cfg));
        };
        let machines = machines_of(&api.peek(&f.app), f.group.as_deref());
        let batch = f.max_unavailable.size(machines.len());
        let sim_env = st.envs.get(&env.name);
        let run = self.run_view(&env.name, &cfg.name, sim_env);
        let health = if cfg.health.is_some() {
            // Answers as the simulated ECS services do, unless no machine
            // is started with its checks passing.
            let serving = machines.iter().any(|m| {
                m.state == "started"
                    && !m.checks.is_empty()
                    && m.checks.iter().all(|c| c.status == "passing")
            });
            if serving {
                let latency = u64::from(decl.latency_ms.unwrap_or(40));
                Health::Healthy {
                    status: 200,
                    latency: Duration::from_millis(latency + (now.timestamp().unsigned_abs() % 7)),
                    healthy_for: (now - self.machines.since).to_std().unwrap_or_default(),
                }
            } else {
                Health::Unknown
            }
        } else {
            Health::NotConfigured
        };
        let mut snap = service_snapshot(
            &cfg.name,
            FlyReading {
                app: f.app.clone(),
                group: f.group.clone(),
                machines,
                run,
                batch,
                health,
                at: now,
            },
        );
        let shifts = sim_env
            .and_then(|e| e.functions.get(&f.app))
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
                None => series(&f.app, decl.latency_ms, shifts, m, &cfg.metrics, now),
            })
            .collect();
        Ok(snap)
    }

    /// The images the app's machines ran, oldest first: the fleet's
    /// releases (`fly releases --image`), then what the machines run now.
    pub(super) async fn history_fly(
        &self,
        env: &EnvConfig,
        cfg: &ServiceConfig,
    ) -> Result<Vec<RevisionInfo>, ProviderError> {
        self.enter(&env.name).map(drop)?;
        let (api, decl) = self
            .machines
            .of(&env.name, cfg)
            .ok_or_else(|| not_found(cfg))?;
        let Some(f) = cfg.fly.as_deref() else {
            return Err(not_found(cfg));
        };
        let api = self.shared_fly(&env.name, api);
        let list = crate::platforms::fly::api::FlyApi::list(&api, &f.app).await?;
        let running = machines_of(&list, f.group.as_deref())
            .into_iter()
            .filter_map(|m| m.digest().and_then(|d| Digest::parse(d).ok()));
        let mut out: Vec<RevisionInfo> = Vec::new();
        for d in decl
            .releases
            .iter()
            .map(|r| decl.digest_of(r))
            .chain(running)
        {
            out.retain(|i| i.digest.as_ref() != Some(&d));
            out.push(RevisionInfo {
                task_definition: revision(&f.app, f.group.as_deref(), &d),
                digest: Some(d),
                active: true,
            });
        }
        Ok(out)
    }
}
