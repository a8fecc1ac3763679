//! The simulated fleet's services on Lambda behind the provider seam: the
//! functions the fleet declares (`[[environment.lambda]]`), each held by a
//! [`SimLambda`] per environment, and read, promoted, rolled back and
//! decided by the Lambda platform's own code (`lambda::steps`,
//! `lambda::runner`, `lambda::snapshot`), which is generic over
//! [`LambdaApi`].
//!
//! The simulated functions live in this process only: the demo's world file
//! does not keep them, so a second console shows its own Lambda.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::faults::FunctionEffects;
use super::lambda::{Package, SimLambda};
use super::script::Trigger;
use super::series::series;
use super::{SimFleet, sim_sleep};
use crate::clock::Clock;
use crate::config::{EnvConfig, PlatformKind, ServiceConfig};
use crate::model::{Digest, Health, MetricSeries, Revision, RevisionInfo, ServiceSnapshot};
use crate::platforms::lambda::api::{Code, LambdaApi};
use crate::platforms::lambda::runner::{self, Progress, Shift, Time};
use crate::platforms::lambda::settled::Settled;
use crate::platforms::lambda::snapshot::service_snapshot;
use crate::platforms::lambda::steps::{self, Wait};
use crate::platforms::lambda::{routing, snapshot::Artifact};
use crate::provider::{DeployStarted, ProviderError};

/// How long ago the fleet's functions got their last version.
const AGE: Duration = Duration::from_hours(48);
/// How long a simulated code update takes.
const UPDATE_DELAY: Duration = Duration::from_secs(3);
/// How long a code update may take before the run says so.
const UPDATE_WAIT: Wait = Wait {
    limit: Duration::from_mins(5),
    every: Duration::from_secs(1),
};
/// How often a holding or paused shift re-reads its alias.
const POLL: Duration = Duration::from_secs(1);

/// One function of the simulated fleet on Lambda.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetLambda {
    /// The function's name (the configuration's `function`).
    pub function: String,
    /// The alias whose traffic is shifted.
    #[serde(default = "live")]
    pub alias: String,
    /// How its code is packaged: only `image` is simulated.
    #[serde(default)]
    pub package: FleetPackage,
    /// Image repository; a release's digest is sha256("repository:release"),
    /// as for the simulated ECS services.
    pub repository: String,
    /// Releases published in order (versions 1, 2, …); the alias names the last.
    pub releases: Vec<String>,
}

/// How a simulated function is packaged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FleetPackage {
    /// A container image.
    #[default]
    Image,
}

fn live() -> String {
    "live".to_string()
}

impl FleetLambda {
    /// The digest of a release.
    fn digest_of(&self, release: &str) -> Digest {
        Digest::of_bytes(format!("{}:{release}", self.repository).as_bytes())
    }

    /// Why the entry cannot be simulated, if it cannot.
    pub(super) fn check(&self, env: &str) -> Result<(), String> {
        if self.releases.is_empty() {
            return Err(format!(
                "Lambda function \"{}\" in environment \"{env}\" has no releases",
                self.function
            ));
        }
        crate::model::ImageRef::parse(&format!("{}:{}", self.repository, self.releases[0]))
            .map(drop)
            .map_err(|e| format!("Lambda function \"{}\" in \"{env}\": {e}", self.function))
    }
}

/// The simulated Lambda of each environment and the functions it holds.
#[derive(Debug, Clone, Default)]
pub(super) struct SimFunctions {
    envs: BTreeMap<String, EnvFunctions>,
    /// Since when the functions answer (their health's start).
    since: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct EnvFunctions {
    api: SimLambda,
    /// The fleet's entries, by function.
    declared: BTreeMap<String, FleetLambda>,
}

impl SimFunctions {
    /// Every environment's functions from the fleet, each release published
    /// in order; every release's image of a repository is in every
    /// environment's registry, as images built for earlier stages are.
    pub(super) fn build(fleet: &super::FleetFile, seed: u64, clock: &Arc<dyn Clock>) -> Self {
        let all: Vec<&FleetLambda> = fleet
            .environments
            .iter()
            .flat_map(|e| e.lambda.iter())
            .collect();
        let since = clock.now() - chrono::Duration::from_std(AGE).unwrap_or_default();
        let mut envs = BTreeMap::new();
        for (i, e) in fleet.environments.iter().enumerate() {
            if e.lambda.is_empty() {
                continue;
            }
            let mut api = SimLambda::new(seed.wrapping_add(i as u64), clock.clone(), UPDATE_DELAY);
            let mut declared = BTreeMap::new();
            for f in &e.lambda {
                let codes: Vec<String> = f.releases.iter().map(|r| hex(&f.digest_of(r))).collect();
                match api.clone().with_versions(
                    &f.function,
                    Package::Image,
                    &codes,
                    &f.alias,
                    since,
                ) {
                    Ok(a) => api = a,
                    // Checked when the fleet was read; a bad one is left out.
                    Err(_) => continue,
                }
                // As shipdeck leaves an alias it shifted: stamped with when
                // it began to serve its version.
                let serving = Settled {
                    version: u32::try_from(codes.len()).unwrap_or(u32::MAX),
                    at: since.timestamp(),
                };
                api.describe_alias(&f.function, &f.alias, serving.write(""));
                declared.insert(f.function.clone(), f.clone());
            }
            for f in &all {
                for r in &f.releases {
                    api.push_image(&f.repository, &f.digest_of(r));
                }
            }
            envs.insert(e.name.clone(), EnvFunctions { api, declared });
        }
        Self { envs, since }
    }

    fn of(&self, env: &str, cfg: &ServiceConfig) -> Option<(&SimLambda, &FleetLambda)> {
        let l = cfg.lambda.as_deref()?;
        let e = self.envs.get(env)?;
        e.declared.get(&l.function).map(|f| (&e.api, f))
    }
}

/// The service's steps (all at once when it has no Lambda section).
fn plan_of(cfg: &ServiceConfig) -> crate::config::lambda::StepPlan {
    cfg.lambda
        .as_deref()
        .map_or_else(crate::config::lambda::StepPlan::all_at_once, |l| {
            l.steps.clone()
        })
}

/// The digest in hex, as an image function's `CodeSha256` spells it.
fn hex(d: &Digest) -> String {
    d.as_str().trim_start_matches("sha256:").to_string()
}

/// Whether a service of the configuration runs on Lambda.
pub(super) fn is_lambda(cfg: &ServiceConfig) -> bool {
    cfg.platform == PlatformKind::Lambda
}

fn not_found(cfg: &ServiceConfig) -> ProviderError {
    ProviderError::NotFound {
        what: "Lambda function".to_string(),
        name: cfg
            .lambda
            .as_deref()
            .map_or(cfg.name.as_str(), |l| l.function.as_str())
            .to_string(),
    }
}

impl SimFleet {
    /// Whether the fleet declares `service`'s function in `env`.
    pub(super) fn simulates_lambda(&self, env: &EnvConfig, service: &ServiceConfig) -> bool {
        self.functions.of(&env.name, service).is_some()
    }

    /// Takes `env`'s simulated Lambda as the world holds it (`saved`), when
    /// another process of the demo changed it: once per reading of `env`.
    pub(super) fn take_saved_functions(&self, env: &str, saved: Option<&serde_json::Value>) {
        if let (Some(saved), Some(_)) = (saved, &self.world)
            && let Some(e) = self.functions.envs.get(env)
        {
            e.api.import(saved);
        }
    }

    /// The reading of a Lambda service at `now`, built as the platform builds it.
    /// `effects` are its game-day effects; `cloudwatch_error` why CloudWatch
    /// cannot be read, if it cannot (its metrics say so).
    pub(super) fn snapshot_lambda(
        &self,
        env: &EnvConfig,
        cfg: &ServiceConfig,
        now: DateTime<Utc>,
        effects: Option<&FunctionEffects>,
        cloudwatch_error: Option<&str>,
    ) -> Result<ServiceSnapshot, ProviderError> {
        let (api, f) = self
            .functions
            .of(&env.name, cfg)
            .ok_or_else(|| not_found(cfg))?;
        let mut r = api.reading(&f.function, &f.alias, now)?;
        if let Some(l) = cfg.lambda.as_deref() {
            r.plan = l.steps.weights();
        }
        let shifts = effects.map_or(&[][..], |e| &e.shifts[..]);
        r.metrics = cfg
            .metrics
            .iter()
            .map(|m| match cloudwatch_error {
                Some(e) => MetricSeries {
                    label: m.label.clone(),
                    points: Vec::new(),
                    error: Some(e.to_string()),
                },
                None => series(&f.function, None, shifts, m, &cfg.metrics, now),
            })
            .collect();
        // A function behind API Gateway answers its health check as the
        // simulated ECS services do: since the fleet began, in tens of ms.
        r.health = if cfg.health.is_some() {
            Health::Healthy {
                status: 200,
                latency: Duration::from_millis(30 + (now.timestamp().unsigned_abs() % 7)),
                healthy_for: (now - self.functions.since).to_std().unwrap_or_default(),
            }
        } else {
            Health::NotConfigured
        };
        Ok(service_snapshot(&cfg.name, r).placed_in(env.aws.as_deref().map(|a| a.region.as_str())))
    }

    /// The function's published versions, as revisions.
    pub(super) async fn history_lambda(
        &self,
        env: &EnvConfig,
        cfg: &ServiceConfig,
    ) -> Result<Vec<RevisionInfo>, ProviderError> {
        self.enter(&env.name).map(drop)?;
        let (api, f) = self
            .functions
            .of(&env.name, cfg)
            .ok_or_else(|| not_found(cfg))?;
        let api = self.shared(&env.name, api);
        api.pull();
        let mut out = Vec::new();
        for n in api
            .api
            .versions(&f.function)?
            .iter()
            .filter_map(|v| routing::number(v))
        {
            let a: Artifact = api.artifact(&f.function, n).await?;
            out.push(RevisionInfo {
                task_definition: Revision::numbered(&f.function, n, &a.arn),
                digest: a.digest.ok(),
                active: true,
            });
        }
        Ok(out)
    }

    /// Starts a promotion to `digest`: the platform's publication, then its
    /// shift, run on the simulator's clock.
    pub(super) async fn deploy_lambda(
        &self,
        env: &EnvConfig,
        cfg: &ServiceConfig,
        digest: &Digest,
    ) -> Result<DeployStarted, ProviderError> {
        let id = {
            let mut st = self.enter(&env.name)?;
            st.next_id += 1;
            format!("lambda-{:016}", st.next_id)
        };
        let (api, f) = self
            .functions
            .of(&env.name, cfg)
            .ok_or_else(|| not_found(cfg))?;
        let (api, f) = (self.shared(&env.name, api), f.clone());
        let alias = api.alias(&f.function, &f.alias).await?;
        let from = steps::shift_start(&f.function, &f.alias, &alias)?;
        let plan = plan_of(cfg);
        let pause = env.rollout.pause_steps;
        let clock = self.clock.clone();
        let digest = digest.clone();
        let run = id.clone();
        let from_rev = Revision::numbered(&f.function, from, "");
        let now = clock.now();
        self.change(|st| st.trigger(&env.name, &f.function, Trigger::Deploy, now));
        let (fleet, env_name) = (self.clone(), env.name.clone());
        tokio::spawn(async move {
            let code = Code::Image {
                repository: f.repository.clone(),
                digest: digest.clone(),
            };
            let sleep = |d: Duration| sim_sleep(clock.clone(), d);
            let published =
                steps::publish(&api, &f.function, &code, &digest, UPDATE_WAIT, sleep).await?;
            let shift = Shift {
                run,
                function: f.function.clone(),
                alias: f.alias.clone(),
                from,
                to: published.version,
                plan,
                pause,
            };
            let now = || clock.now();
            let time = Time {
                now,
                sleep,
                poll: POLL,
            };
            let to = shift.to;
            runner::run(&api, &shift, &time, |p| {
                if let Progress::Step { n, .. } = p {
                    let now = fleet.clock.now();
                    fleet.change(|st| st.step_reached(&env_name, &f.function, to, n, now));
                }
            })
            .await
            .map(drop)
        });
        Ok(DeployStarted {
            service: cfg.name.clone(),
            from: Some(from_rev),
            to: None,
            change: None,
            deployment_id: Some(id),
        })
    }

    /// Points the alias back at version `to`, weights cleared.
    pub(super) async fn rollback_lambda(
        &self,
        env: &EnvConfig,
        cfg: &ServiceConfig,
        to: &Revision,
    ) -> Result<DeployStarted, ProviderError> {
        self.enter(&env.name).map(drop)?;
        let (api, f) = self
            .functions
            .of(&env.name, cfg)
            .ok_or_else(|| not_found(cfg))?;
        let Some(n) = to.number() else {
            return Err(ProviderError::Other {
                message: format!("{to} is not a Lambda version"),
            });
        };
        let api = self.shared(&env.name, api);
        let before = api.alias(&f.function, &f.alias).await?;
        steps::rollback(&api, &f.function, &f.alias, n, self.clock.now().timestamp())
            .await
            .map_err(ProviderError::from)?;
        let now = self.clock.now();
        self.change(|st| st.function_rolled_back(&env.name, &f.function, now));
        Ok(DeployStarted {
            service: cfg.name.clone(),
            from: routing::number(&before.version).map(|v| Revision::numbered(&f.function, v, "")),
            to: Some(Revision::numbered(&f.function, n, &to.arn)),
            change: None,
            deployment_id: None,
        })
    }

    /// A person's decision at a paused step of the shift the alias carries.
    pub(super) async fn decide_lambda(
        &self,
        env: &EnvConfig,
        cfg: &ServiceConfig,
        shift: &crate::model::Shift,
        decision: crate::model::Decision,
    ) -> Result<String, ProviderError> {
        self.enter(&env.name).map(drop)?;
        let (api, f) = self
            .functions
            .of(&env.name, cfg)
            .ok_or_else(|| not_found(cfg))?;
        let api = self.shared(&env.name, api);
        let (plan, pause) = (plan_of(cfg), env.rollout.pause_steps);
        let clock = self.clock.clone();
        let (function, alias, run) = (&f.function, &f.alias, &shift.deployment);
        runner::decide_run(&api, function, alias, run, plan, pause, decision, || {
            clock.now()
        })
        .await
        .map_err(ProviderError::from)
    }
}

impl SimFleet {
    /// `api`, the simulated Lambda of `env`, shared through the world file.
    fn shared(&self, env: &str, api: &SimLambda) -> shared::Shared {
        shared::Shared {
            fleet: self.clone(),
            env: env.to_string(),
            api: api.clone(),
        }
    }
}

mod shared;

#[cfg(test)]
#[path = "functions_tests.rs"]
mod tests;
