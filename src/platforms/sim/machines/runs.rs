//! Promotions, ways back and decisions of the simulated Fly services, run
//! by the platform's own runner on the simulator's clock: `deploy` reads
//! the group, chooses (a promotion, or a way back that adopts this
//! process's run or goes back over a mixed group), takes the leases before
//! it answers, and runs the rest in a task, as the Fly provider does. Each
//! run's view is kept in the world file, so another process's reading shows
//! its canary and its pause, and a decision taken there reaches the run
//! through the world.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::super::SimFleet;
use super::super::script::Trigger;
use super::not_found;
use crate::config::fly::FlyService;
use crate::config::{EnvConfig, ServiceConfig};
use crate::model::text::fold_line;
use crate::model::{Decision, Digest, Revision};
use crate::platforms::fly::api::{FlyApi, RunView};
use crate::platforms::fly::choose::{choose, first_view, repository};
use crate::platforms::fly::runner::{self, Control, NoProbe, Time};
use crate::platforms::fly::steps;
use crate::platforms::sim::sim_sleep;
use crate::provider::{DeployStarted, ProviderError};

/// How often a holding run re-reads its machines (simulated time).
const POLL: Duration = Duration::from_secs(1);
/// How often a run looks in the world for a decision taken elsewhere.
const DECISIONS: Duration = Duration::from_millis(250);

type Key = (String, String);

/// The runs of this process, by (environment, service).
#[derive(Debug, Default)]
pub(in crate::platforms::sim) struct Runs(Mutex<HashMap<Key, Arc<Control>>>);

impl Runs {
    fn get(&self, key: &Key) -> Option<Arc<Control>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }
}

/// A run's view as the world file keeps it (one per service of an
/// environment), and a decision taken for it in another process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(in crate::platforms::sim) struct SavedRun {
    id: String,
    from: Option<String>,
    to: String,
    rollback: bool,
    canary: Option<String>,
    updated: Vec<String>,
    total: usize,
    paused_since: Option<DateTime<Utc>>,
    steps: Vec<String>,
    ended: Option<Result<(), String>>,
    started: DateTime<Utc>,
    /// A person's decision at its pause, taken in another process.
    #[serde(default)]
    pub(in crate::platforms::sim) decision: Option<Decision>,
}

impl SavedRun {
    fn of(v: &RunView) -> Self {
        Self {
            id: v.id.clone(),
            from: v.from.clone(),
            to: v.to.clone(),
            rollback: v.rollback,
            canary: v.canary.clone(),
            updated: v.updated.clone(),
            total: v.total,
            paused_since: v.paused_since,
            steps: v.steps.clone(),
            ended: v.ended.clone(),
            started: v.started,
            decision: None,
        }
    }

    pub(in crate::platforms::sim) fn view(&self) -> RunView {
        RunView {
            id: self.id.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            rollback: self.rollback,
            canary: self.canary.clone(),
            updated: self.updated.clone(),
            total: self.total,
            paused_since: self.paused_since,
            steps: self.steps.clone(),
            ended: self.ended.clone(),
            started: self.started,
        }
    }
}

/// The runs' views in the world, by service.
pub(in crate::platforms::sim) type SavedRuns = BTreeMap<String, SavedRun>;

fn fly_of(cfg: &ServiceConfig) -> Result<FlyService, ProviderError> {
    cfg.fly.as_deref().cloned().ok_or_else(|| not_found(cfg))
}

impl SimFleet {
    /// What the run of `service` in `env` says: this process's, else the
    /// one the world keeps (another process runs it).
    pub(in crate::platforms::sim) fn run_view(
        &self,
        env: &str,
        service: &str,
        sim_env: Option<&super::super::SimEnv>,
    ) -> Option<RunView> {
        let key = (env.to_string(), service.to_string());
        if let Some(c) = self.machines.runs.get(&key) {
            return Some(c.view());
        }
        sim_env
            .and_then(|e| e.fly_runs.get(service))
            .map(SavedRun::view)
    }

    /// Starts a promotion to `digest`, or a way back to it (`back`: the
    /// engine's rollback says so; see the module).
    pub(in crate::platforms::sim) async fn deploy_fly(
        &self,
        env: &EnvConfig,
        cfg: &ServiceConfig,
        digest: &Digest,
        back: bool,
    ) -> Result<DeployStarted, ProviderError> {
        let f = fly_of(cfg)?;
        let id = {
            let mut st = self.enter(&env.name)?;
            st.next_id += 1;
            format!("fly-{:016}", st.next_id)
        };
        let (api, _) = self
            .machines
            .of(&env.name, cfg)
            .ok_or_else(|| not_found(cfg))?;
        let api = self.shared_fly(&env.name, api);
        let key = (env.name.clone(), cfg.name.clone());
        let digest = digest.as_str();
        let running = self.machines.runs.get(&key);
        let chosen = choose(
            &api,
            &f,
            running.as_deref(),
            (&key.0, &key.1),
            digest,
            &id,
            back,
        )
        .await?;
        let machines = steps::members(&api.list(&f.app).await?, f.group.as_deref());
        let repository = match repository(
            &f,
            &machines,
            digest,
            self.machines.repository_of(digest),
            chosen.rollback,
        ) {
            Ok(r) => r,
            Err(e) => {
                steps::release_all(&api, &f.app, &chosen.leases).await;
                return Err(e);
            }
        };
        let now = self.clock.now();
        let spec = chosen.spec(
            &id,
            &f,
            digest,
            format!("{repository}@{digest}"),
            env.rollout.pause_steps,
        );
        let view = first_view(&spec, now);
        let mirror = {
            let (fleet, env, service) = (self.clone(), env.name.clone(), cfg.name.clone());
            move |v: &RunView| {
                fleet.change(|st| {
                    if let Some(e) = st.envs.get_mut(&env) {
                        let mut saved = SavedRun::of(v);
                        // A decision sent from elsewhere waits to be taken.
                        saved.decision = e
                            .fly_runs
                            .get(&service)
                            .filter(|r| r.id == v.id)
                            .and_then(|r| r.decision);
                        e.fly_runs.insert(service.clone(), saved);
                    }
                });
            }
        };
        let ctl = Arc::new(Control::new(view, chosen.leases, mirror));
        self.machines
            .runs
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, ctl.clone());
        // The game day: a promotion arms the app's deploy faults on the
        // digest it brings; a way back ends its metrics' effects.
        let app = f.app.clone();
        self.change(|st| {
            if chosen.rollback {
                st.function_rolled_back(&env.name, &app, now);
                st.trigger(&env.name, &app, Trigger::Rollback, now);
            } else {
                if let Some(e) = st.envs.get_mut(&env.name) {
                    e.fly_effects.entry(app.clone()).or_default().to = Some(digest.to_string());
                }
                st.trigger(&env.name, &app, Trigger::Deploy, now);
            }
        });
        let from = spec.from.as_deref().map(|d| steps::revision(&f, d));
        let to = steps::revision(&f, digest);
        let (fleet, env_name, service) = (self.clone(), env.name.clone(), cfg.name.clone());
        tokio::spawn(async move {
            let clock = fleet.clock.clone();
            let time = Time {
                now: || clock.now(),
                sleep: |d| sim_sleep(clock.clone(), d),
                poll: POLL,
            };
            let run = runner::run(&api, &spec, &time, &NoProbe, &ctl);
            let decisions = fleet.forward_decisions(&env_name, &service, &ctl);
            tokio::pin!(run);
            tokio::select! {
                ended = &mut run => {
                    tracing::info!(run = %spec.id, app = %spec.app, ?ended, "simulated fly run ended");
                }
                () = decisions => {}
            }
        });
        Ok(DeployStarted {
            service: cfg.name.clone(),
            from,
            to: Some(to),
            change: None,
            deployment_id: Some(id),
        })
    }

    /// Hands the run `ctl` the decisions taken for it in other processes
    /// (through the world). Never returns: the caller races it against the
    /// run, whose end ends it.
    async fn forward_decisions(&self, env: &str, service: &str, ctl: &Control) {
        loop {
            tokio::time::sleep(DECISIONS).await;
            if self.world.is_none() || ctl.is_finished() {
                continue;
            }
            let id = ctl.view().id;
            let mut taken = None;
            self.change(|st| {
                if let Some(r) = st
                    .envs
                    .get_mut(env)
                    .and_then(|e| e.fly_runs.get_mut(service))
                    .filter(|r| r.id == id)
                {
                    taken = r.decision.take();
                }
            });
            if let Some(d) = taken
                && let Err(e) = ctl.decide(d)
            {
                tracing::warn!(run = %id, error = %e, "a decision from another process was not taken");
            }
        }
    }

    /// Fly keeps no revisions to point back at: the engine goes back by
    /// deploying an earlier digest; this answers for the rest.
    pub(in crate::platforms::sim) fn rollback_fly(
        env: &EnvConfig,
        cfg: &ServiceConfig,
        to: &Revision,
    ) -> Result<DeployStarted, ProviderError> {
        let f = fly_of(cfg)?;
        Err(ProviderError::Other {
            message: format!(
                "{}: Fly keeps no revision {to} to point back at; shipdeck goes back by deploying an earlier digest again (in {})",
                fold_line(&f.app),
                env.name
            ),
        })
    }

    /// A person's decision at a paused run: this process's, or, through
    /// the world, the one another process runs.
    pub(in crate::platforms::sim) fn decide_fly(
        &self,
        env: &EnvConfig,
        cfg: &ServiceConfig,
        shift: &crate::model::Shift,
        decision: Decision,
    ) -> Result<String, ProviderError> {
        self.enter(&env.name).map(drop)?;
        let key = (env.name.clone(), cfg.name.clone());
        let said = match decision {
            Decision::Continue => format!(
                "run {} goes on with the rest of the machines",
                shift.deployment
            ),
            Decision::Rollback => format!(
                "run {} stops; the machines it updated go back to the digest before",
                shift.deployment
            ),
        };
        if let Some(ctl) = self
            .machines
            .runs
            .get(&key)
            .filter(|c| c.view().id == shift.deployment)
        {
            ctl.decide(decision)
                .map_err(|message| ProviderError::Conflict { message })?;
            return Ok(said);
        }
        let mut sent = Err(format!(
            "{} in {}: run {} is not running; nothing was decided",
            cfg.name,
            env.name,
            fold_line(&shift.deployment)
        ));
        self.change(|st| {
            if let Some(r) = st
                .envs
                .get_mut(&env.name)
                .and_then(|e| e.fly_runs.get_mut(&cfg.name))
                .filter(|r| r.id == shift.deployment)
            {
                if r.paused_since.is_some() && r.ended.is_none() {
                    r.decision = Some(decision);
                    sent = Ok(());
                } else {
                    sent = Err(format!(
                        "run {} waits for no decision",
                        fold_line(&shift.deployment)
                    ));
                }
            }
        });
        sent.map_err(|message| ProviderError::Conflict { message })?;
        Ok(said)
    }
}
