//! The simulated fleet: a seeded, clock-driven stand-in for ECS and CloudWatch.
//!
//! State advances in fixed one-second steps up to the injected clock's time, so
//! the same seed, clock and actions always give the same readings, however
//! often the fleet is polled. Faults are scripted with [`Fault`].

mod blue_green;
mod faults;
mod fleet_file;
pub mod fly;
mod functions;
mod kube;
pub mod lambda;
mod logs;
mod machines;
mod math;
mod provider;
mod proxied;
mod reading;
mod script;
mod series;
mod service;
mod stepped;
mod world;

pub use blue_green::FleetBlueGreen;
pub use faults::Fault;
pub use functions::{FleetLambda, FleetPackage};
pub use kube::FleetKube;
pub use machines::{FleetFly, FleetRegion};
use service::{SimService, chrono_dur};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use fleet_file::{
    FleetError, FleetFile, FleetPinning, SCENARIOS, ScenarioInfo, grow, scaled, scaled_parsed,
    scaled_template, scaled_wide,
};
pub use script::{EffectKind, FaultEntry, Trigger};
pub use world::Opened;

use crate::clock::Clock;
use crate::config::{EnvConfig, ServiceConfig};
use crate::model::{AlarmReading, Digest, Revision};
use crate::provider::limit::Limiter;
use crate::provider::{DeployStarted, ProviderError};

/// Simulated time advances in steps of this length.
pub const SIM_STEP: Duration = Duration::from_secs(1);
/// Longest stretch simulated in one go; beyond it, time jumps (keeps a resumed laptop responsive).
const MAX_CATCH_UP_STEPS: u64 = 6 * 3600;

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct SimEnv {
    services: BTreeMap<String, SimService>,
    /// Services on the proxy platform, by backend (worlds saved before
    /// there were any have none).
    #[serde(default)]
    blue_green: BTreeMap<String, blue_green::SimBlueGreen>,
    throttle_calls: u32,
    timeout_calls: u32,
    unreachable: bool,
    cloudwatch_down: bool,
    deploy_delay: Option<Duration>,
    deploys_refused: bool,
    /// A scripted outage of the whole environment: since, until (none: for good).
    outage: Option<(DateTime<Utc>, Option<DateTime<Utc>>)>,
    /// Game-day effects on functions on Lambda, by function name.
    #[serde(default)]
    functions: BTreeMap<String, faults::FunctionEffects>,
    /// The simulated Lambda's state (`SimLambda::export`), once something
    /// changed it, so every process of the demo shares it.
    #[serde(default)]
    lambda: Option<serde_json::Value>,
    /// The simulated Machines API's state (`SimFly::export`), once
    /// something changed it, so every process of the demo shares it.
    #[serde(default)]
    fly: Option<serde_json::Value>,
    /// Game-day effects on apps on Fly, by app.
    #[serde(default)]
    fly_effects: BTreeMap<String, machines::FlyEffects>,
    /// The runs on apps on Fly (the latest of each service), as the
    /// process that runs them sees them.
    #[serde(default)]
    fly_runs: machines::SavedRuns,
    /// Argo Rollouts on Kubernetes, by Rollout name, with their
    /// ReplicaSets, events and Argo CD Application.
    #[serde(default)]
    kube: BTreeMap<String, kube::SimRollout>,
}

impl SimEnv {
    fn unreachable_at(&self, now: DateTime<Utc>) -> bool {
        self.unreachable
            || self
                .outage
                .is_some_and(|(from, until)| from <= now && until.is_none_or(|u| now < u))
    }
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SimState {
    rng: ChaCha8Rng,
    time: DateTime<Utc>,
    envs: BTreeMap<String, SimEnv>,
    next_id: u64,
    #[serde(skip)]
    calls: u64,
    /// Game-day faults scripted in the fleet file.
    faults: Vec<script::ScriptedFault>,
}

impl SimState {
    /// A service of an environment, for a call that changes it.
    fn service_mut(
        &mut self,
        env: &str,
        ecs_service: &str,
    ) -> Result<&mut SimService, ProviderError> {
        self.envs
            .get_mut(env)
            .and_then(|e| e.services.get_mut(ecs_service))
            .ok_or_else(|| ProviderError::NotFound {
                what: "service".to_string(),
                name: ecs_service.to_string(),
            })
    }
}

/// Names the built-in fleet descriptions a saved demo world may come from.
pub fn demo_version() -> String {
    let mut all = String::from(include_str!("../../assets/demo-fleet.toml"));
    for (name, text) in SCENARIOS {
        all.push_str(name);
        all.push_str(text);
    }
    Digest::of_bytes(all.as_bytes()).to_string()
}

/// Services per simulated `DescribeServices` call, as on ECS.
const SERVICES_PER_CALL: usize = 10;

/// The simulated fleet. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct SimFleet {
    state: Arc<Mutex<SimState>>,
    /// A fleet whose state is built at its first use (`SimFleet::deferred`).
    pending: Arc<Deferred>,
    clock: Arc<dyn Clock>,
    /// In-flight limit per environment, as the AWS provider keeps one.
    limiters: Arc<Mutex<BTreeMap<String, Limiter>>>,
    /// The file the world is shared through (the demo), if any.
    world: Option<Arc<world::World>>,
    /// Each environment's alarms as DescribeAlarms answers them, kept while
    /// no alarm changed (a reading of thousands of services otherwise copied
    /// every alarm into a new index).
    alarm_readings: Arc<Mutex<BTreeMap<String, HashedAlarms>>>,
    /// The functions on Lambda the fleet declares (in this process only).
    functions: Arc<functions::SimFunctions>,
    /// The apps on Fly the fleet declares.
    machines: Arc<machines::SimMachines>,
}

/// An environment's alarm index and the hash of the alarms it was built from.
type HashedAlarms = (u64, Arc<AlarmReading>);

/// What a deferred fleet is built from: the fleet (a template to grow to so
/// many services), seed and start.
type Recipe = (FleetFile, Option<usize>, u64, DateTime<Utc>);

/// The description a deferred fleet is built from, taken at its first use.
#[derive(Debug, Default)]
struct Deferred {
    fleet: Mutex<Option<Recipe>>,
    built: std::sync::OnceLock<()>,
}

impl SimFleet {
    /// Builds a fleet from a description, seeded, driven by `clock`.
    pub fn new(fleet: &FleetFile, seed: u64, clock: Arc<dyn Clock>) -> Self {
        let state = Self::initial(fleet, seed, clock.now());
        let functions = functions::SimFunctions::build(fleet, seed, &clock);
        let machines = machines::SimMachines::build(fleet, seed, &clock);
        Self::with_state(state, clock, None, (functions, machines))
    }

    /// As [`new`](Self::new), but the fleet is built at its first use (a
    /// reading, a deploy), as of now: the console draws its first frame
    /// without waiting for thousands of simulated services to be minted.
    /// With `grow`, `fleet` is a template ([`scaled_template`]) grown to that
    /// many services per environment then.
    pub fn deferred(
        fleet: FleetFile,
        grow: Option<usize>,
        seed: u64,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let now = clock.now();
        let empty = SimState {
            rng: ChaCha8Rng::seed_from_u64(seed),
            time: now,
            envs: BTreeMap::new(),
            next_id: 1,
            calls: 0,
            faults: Vec::new(),
        };
        let functions = functions::SimFunctions::build(&fleet, seed, &clock);
        let machines = machines::SimMachines::build(&fleet, seed, &clock);
        let sim = Self::with_state(empty, clock, None, (functions, machines));
        if let Ok(mut p) = sim.pending.fleet.lock() {
            *p = Some((fleet, grow, seed, now));
        }
        sim
    }

    fn with_state(
        state: SimState,
        clock: Arc<dyn Clock>,
        world: Option<Arc<world::World>>,
        (functions, machines): (functions::SimFunctions, machines::SimMachines),
    ) -> Self {
        Self {
            functions: Arc::new(functions),
            machines: Arc::new(machines),
            state: Arc::new(Mutex::new(state)),
            pending: Arc::new(Deferred::default()),
            clock,
            limiters: Arc::new(Mutex::new(BTreeMap::new())),
            world,
            alarm_readings: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// The fleet shared through the world file at `path` (the demo): the saved
    /// world, or a new one from `fleet` when there is none, `reset` is asked,
    /// `scenario` differs from the one it runs, or the file cannot be used
    /// (`version` names the fleet descriptions the file must come from).
    pub fn open_world(
        fleet: &FleetFile,
        seed: u64,
        clock: Arc<dyn Clock>,
        path: std::path::PathBuf,
        version: String,
        scenario: Option<String>,
        reset: bool,
    ) -> (Self, Opened) {
        let world = world::World::new(path, version, scenario);
        let (state, opened) = world.open(Self::initial(fleet, seed, clock.now()), reset);
        let functions = functions::SimFunctions::build(fleet, seed, &clock);
        let machines = machines::SimMachines::build(fleet, seed, &clock);
        (
            Self::with_state(state, clock, Some(Arc::new(world)), (functions, machines)),
            opened,
        )
    }

    /// The scenario the shared world runs, if any.
    pub fn scenario(&self) -> Option<String> {
        self.world.as_ref().and_then(|w| w.scenario())
    }

    /// Where the shared world is kept, if it is.
    pub fn world_path(&self) -> Option<&std::path::Path> {
        self.world.as_ref().map(|w| w.path())
    }

    fn initial(fleet: &FleetFile, seed: u64, now: DateTime<Utc>) -> SimState {
        let envs = fleet
            .environments
            .iter()
            .map(|e| {
                let services = e
                    .services
                    .iter()
                    .map(|s| (s.ecs_service.clone(), SimService::from_file(s, now)))
                    .collect();
                (
                    e.name.clone(),
                    SimEnv {
                        services,
                        blue_green: blue_green::SimBlueGreen::all(&e.name, &e.blue_green, now),
                        kube: kube::all(&e.name, &e.kubernetes, now),
                        unreachable: e.unreachable,
                        cloudwatch_down: e.cloudwatch_unreachable,
                        ..SimEnv::default()
                    },
                )
            })
            .collect();
        let mut state = SimState {
            rng: ChaCha8Rng::seed_from_u64(seed),
            time: now,
            envs,
            next_id: 1,
            calls: 0,
            faults: fleet
                .faults
                .iter()
                .cloned()
                .map(|mut f| {
                    if f.trigger == Trigger::Start {
                        f.status = script::Status::Due(now + service::chrono_dur(f.after));
                    }
                    f
                })
                .collect(),
        };
        // Faults due at the start are in effect from the first reading.
        state.fire_due(now);
        state
    }

    /// The in-flight limit of an environment's simulated API calls.
    pub fn limiter(&self, env: &EnvConfig) -> Limiter {
        self.limiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(env.name.clone())
            .or_insert_with(|| Limiter::new(env.max_in_flight))
            .clone()
    }

    /// The built-in demo fleet.
    pub fn demo(seed: u64, clock: Arc<dyn Clock>) -> Result<Self, FleetError> {
        Ok(Self::new(&FleetFile::demo()?, seed, clock))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SimState> {
        // A deferred fleet is built once, by the first caller; others wait.
        self.pending.built.get_or_init(|| {
            let taken = self
                .pending
                .fleet
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some((fleet, grow, seed, now)) = taken {
                let fleet = match grow {
                    Some(n) => fleet_file::grow(fleet, n),
                    None => fleet,
                };
                let built = Self::initial(&fleet, seed, now);
                *self.state.lock().unwrap_or_else(PoisonError::into_inner) = built;
            }
        });
        // A panic while holding the lock leaves consistent-enough state for a simulator.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A scripted slow deploy or rollback call blocks here (never holding the
    /// lock); a scripted refusal answers like ECS would.
    async fn wait_for_call(&self, env: &str) -> Result<(), ProviderError> {
        let (delay, refused) = self
            .lock()
            .envs
            .get(env)
            .map_or((None, false), |e| (e.deploy_delay, e.deploys_refused));
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        if refused {
            return Err(ProviderError::Conflict {
                message: format!(
                    "ECS refused the update in \"{env}\" (InvalidParameterException, scripted)"
                ),
            });
        }
        Ok(())
    }

    /// Writes a change to the shared world, if there is one.
    fn save(&self, st: &SimState) {
        if let Some(w) = &self.world {
            w.save(st);
        }
    }

    /// Total API calls served (for efficiency tests).
    pub fn calls(&self) -> u64 {
        self.lock().calls
    }

    /// Advances simulated time to the clock's now, one step at a time.
    fn catch_up(st: &mut SimState, now: DateTime<Utc>) {
        let step = chrono_dur(SIM_STEP);
        let mut steps = 0;
        while st.time + step <= now {
            st.time += step;
            steps += 1;
            if steps > MAX_CATCH_UP_STEPS {
                st.time = now;
                break;
            }
            let t = st.time;
            if !st.faults.is_empty() {
                st.fire_due(t);
            }
            let SimState { rng, envs, .. } = st;
            for env in envs.values_mut() {
                for svc in env.services.values_mut() {
                    svc.step(t, rng);
                }
                for svc in env.blue_green.values_mut() {
                    svc.step(t);
                }
            }
            st.step_kube(t);
        }
    }

    /// Common entry of every API call: advance time and apply connection faults.
    fn enter(&self, env: &str) -> Result<std::sync::MutexGuard<'_, SimState>, ProviderError> {
        let now = self.clock.now();
        let mut st = self.lock();
        if let Some(w) = &self.world {
            w.sync_in(&mut st);
        }
        Self::catch_up(&mut st, now);
        st.calls += 1;
        let Some(e) = st.envs.get_mut(env) else {
            return Err(ProviderError::NotFound {
                what: "cluster".to_string(),
                name: env.to_string(),
            });
        };
        if e.unreachable_at(now) {
            return Err(ProviderError::Network {
                message: format!("cannot connect to the endpoint of \"{env}\": connection refused"),
            });
        }
        if e.timeout_calls > 0 {
            e.timeout_calls -= 1;
            return Err(ProviderError::Network {
                message: format!("request to \"{env}\" timed out after 10s"),
            });
        }
        if e.throttle_calls > 0 {
            e.throttle_calls -= 1;
            return Err(ProviderError::Throttled {
                message: "Rate exceeded (ThrottlingException)".to_string(),
                retry_after: Some(Duration::from_secs(1)),
            });
        }
        Ok(st)
    }

    /// One reading as a single call (the unit tests' view of the fleet).
    #[cfg(test)]
    fn read_sync(&self, env: &EnvConfig) -> Result<crate::model::EnvSnapshot, ProviderError> {
        let st = self.enter(&env.name)?;
        self.snapshot(&st, self.clock.now(), env)
    }

    fn deploy_sync(
        &self,
        env: &EnvConfig,
        cfg: &ServiceConfig,
        digest: &Digest,
    ) -> Result<DeployStarted, ProviderError> {
        let _lock = self.world.as_ref().map(|w| w.lock());
        let mut st = self.enter(&env.name)?;
        let now = st.time;
        let id_num = st.next_id;
        st.next_id += 1;
        // The image's labels travel with its digest: the registry knows them.
        let version = st
            .envs
            .values()
            .flat_map(|e| e.services.values())
            .find_map(|s| s.version_of(digest))
            .map(str::to_string);
        let svc = st.service_mut(&env.name, crate::platforms::ecs::service_name(cfg))?;
        let from = svc.task_def(svc.current);
        let revision = svc.register(digest.clone(), version);
        let id = format!("ecs-svc/{id_num:016}");
        svc.start_deployment(revision, &id, now, env.rollout.pause_steps);
        let to = svc.task_def(revision);
        st.trigger(
            &env.name,
            crate::platforms::ecs::service_name(cfg),
            Trigger::Deploy,
            now,
        );
        self.save(&st);
        Ok(DeployStarted {
            service: cfg.name.clone(),
            from: Some(from),
            to: Some(to),
            change: None,
            deployment_id: Some(id),
        })
    }

    fn rollback_sync(
        &self,
        env: &EnvConfig,
        cfg: &ServiceConfig,
        to: &Revision,
    ) -> Result<DeployStarted, ProviderError> {
        let _lock = self.world.as_ref().map(|w| w.lock());
        let mut st = self.enter(&env.name)?;
        let now = st.time;
        let id_num = st.next_id;
        st.next_id += 1;
        let svc = st.service_mut(&env.name, crate::platforms::ecs::service_name(cfg))?;
        let number = to.number().unwrap_or(0);
        if *to.family != *svc.family
            || !svc
                .revisions
                .iter()
                .any(|r| Some(r.revision) == to.number() && r.active)
        {
            return Err(ProviderError::NotFound {
                what: "task definition".to_string(),
                name: to.to_string(),
            });
        }
        let from = svc.task_def(svc.current);
        let deployment_id = if svc.shift_in_flight() == Some(number) {
            // A stepped rollout whose old tasks still serve: all the traffic
            // goes back to them at once.
            svc.switch_back(now, "by a rollback")
                .map_err(|message| ProviderError::Other { message })?;
            svc.primary_id()
        } else {
            let id = format!("ecs-svc/{id_num:016}");
            svc.start_deployment(number, &id, now, false);
            Some(id)
        };
        let to = svc.task_def(number);
        st.trigger(
            &env.name,
            crate::platforms::ecs::service_name(cfg),
            Trigger::Rollback,
            now,
        );
        self.save(&st);
        Ok(DeployStarted {
            service: cfg.name.clone(),
            from: Some(from),
            to: Some(to),
            change: None,
            deployment_id,
        })
    }
}

impl SimFleet {
    /// Changes the simulated state, shared through the world file where
    /// there is one: taken in under the file's lock, changed, saved.
    fn change(&self, f: impl FnOnce(&mut SimState)) {
        let _lock = self.world.as_ref().map(|w| w.lock());
        let mut st = self.lock();
        if let Some(w) = &self.world {
            w.sync_in(&mut st);
        }
        f(&mut st);
        if let Some(w) = &self.world {
            w.save(&st);
        }
    }
}

/// How often a sleep on the simulator's clock looks at it.
const TICK: Duration = Duration::from_millis(20);

/// Waits until the simulator's clock has moved on by `d`: a runner's sleep
/// follows the injected clock (a manual clock in tests, the demo's clock in
/// the demo), looking at it every [`TICK`] of tokio's time.
async fn sim_sleep(clock: Arc<dyn Clock>, d: Duration) {
    let until = clock.now() + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    while clock.now() < until {
        tokio::time::sleep(TICK).await;
    }
}

#[cfg(test)]
mod tests;
