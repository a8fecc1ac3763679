//! A simulated Fly.io Machines API: apps of machines with leases and
//! nonces, updates that go `replacing` → `started` → checks `passing` on
//! the injected clock, `/wait`, metadata, and the faults the stub
//! (`tests/support/fly_machines.py`) scripts: a machine that fails to
//! start, a check that goes critical, a lease another deployer holds, a
//! host that cannot be reached. It implements [`FlyApi`], so the Fly
//! platform's own steps, runner and snapshot builder drive it exactly as
//! they drive the HTTP client; its refusals read as `HttpFly` classifies
//! the stub's answers (409 → conflict, 404 → not found, 400/422 → other).
//!
//! Time comes from the injected clock only: what an update starts happens
//! when a call finds the clock past it, at the time it was due, so the same
//! clock and calls give the same answers. Ids, instance ids and nonces are
//! minted from the seed.

mod calls;
mod state;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

pub use state::FlyFault;
use state::{App, ImageParts, Machine, State, event, iso, push_event};

use crate::clock::Clock;
use crate::platforms::fly::api::{CheckView, Lease, LeaseError, MachineView};
use crate::provider::ProviderError;

/// The states `/wait` accepts.
const WAIT_STATES: &[&str] = &["started", "stopped", "suspended", "destroyed"];
/// The longest one `/wait` blocks (fly-go's `proxyTimeoutThreshold`).
const MAX_WAIT: Duration = Duration::from_mins(1);
/// How often a blocked `/wait` looks at the clock, in tokio's time.
const TICK: Duration = Duration::from_millis(20);
/// The header every change of a leased machine carries.
const NONCE_HEADER: &str = "fly-machine-lease-nonce";

/// How a simulated machine is seeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedMachine {
    /// Where it runs.
    pub region: String,
    /// `repository[:tag]@sha256:…`.
    pub image: String,
    /// Its checks (`config.checks` keys), passing when it is started.
    pub checks: Vec<String>,
    /// `started` or `stopped`.
    pub state: String,
    /// Its process group.
    pub group: String,
    /// Its `fly_release_version`.
    pub release: String,
}

/// The simulated Machines API of one organisation. Cheap to clone; clones
/// share state.
#[derive(Debug, Clone)]
pub struct SimFly {
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
    /// Every call, in order (this process only): operation, machine, nonce.
    log: Arc<Mutex<Vec<Call>>>,
}

/// One call as the stub's request log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `list`, `get`, `acquire_lease`, `refresh_lease`, `lease`,
    /// `release_lease`, `update`, `wait`, `set_metadata`, `delete_metadata`.
    pub op: &'static str,
    /// The app.
    pub app: String,
    /// The machine, when the call names one.
    pub machine: Option<String>,
    /// The nonce it carried.
    pub nonce: Option<String>,
    /// Whether it succeeded.
    pub ok: bool,
}

fn not_found(what: &str, name: &str) -> ProviderError {
    ProviderError::NotFound {
        what: what.to_string(),
        name: name.to_string(),
    }
}

fn conflict(message: String) -> ProviderError {
    ProviderError::Conflict { message }
}

/// The stub's 409 text for a lease `lease` on `id`.
fn held_message(id: &str, lease: &Lease) -> String {
    let until = DateTime::from_timestamp(lease.expires_at, 0)
        .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M:%S").to_string());
    format!(
        "machine ID {id} lease currently held by {}, expires at {until} +0000 UTC",
        lease.owner
    )
}

fn held(id: &str, lease: &Lease) -> LeaseError {
    LeaseError::Held {
        machine: id.to_string(),
        owner: lease.owner.clone(),
        expires_at: lease.expires_at,
        description: lease.description.clone(),
        message: held_message(id, lease),
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl SimFly {
    /// No apps yet; ids come from `seed`; an update starts its machine after
    /// `start_delay` and reports its checks `check_delay` later; leases
    /// taken belong to `owner`.
    pub fn new(
        seed: u64,
        clock: Arc<dyn Clock>,
        start_delay: Duration,
        check_delay: Duration,
        owner: &str,
    ) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                seed,
                owner: owner.to_string(),
                start_delay,
                check_delay,
                ..State::default()
            })),
            clock,
            log: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state moved on to now, for a call `op`.
    fn enter(&self, op: &str) -> (MutexGuard<'_, State>, DateTime<Utc>) {
        let now = self.clock.now();
        let mut st = self.lock();
        st.settle(now);
        *st.ops.entry(op.to_string()).or_default() += 1;
        (st, now)
    }

    fn record<T, E>(
        &self,
        op: &'static str,
        app: &str,
        machine: Option<&str>,
        nonce: Option<&str>,
        r: Result<T, E>,
    ) -> Result<T, E> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Call {
                op,
                app: app.to_string(),
                machine: machine.map(str::to_string),
                nonce: nonce.filter(|n| !n.is_empty()).map(str::to_string),
                ok: r.is_ok(),
            });
        r
    }

    /// Every call served by this handle's process, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Calls served, by operation (kept with the state).
    pub fn ops(&self) -> BTreeMap<String, u64> {
        self.lock().ops.clone()
    }

    /// Puts image `reference` (`repository@sha256:…`) into the registry
    /// with `labels`.
    pub fn push_image(
        &self,
        reference: &str,
        labels: BTreeMap<String, String>,
    ) -> Result<(), ProviderError> {
        let parts =
            ImageParts::parse(reference).map_err(|message| ProviderError::Other { message })?;
        self.lock().images.insert(parts.key(), labels);
        Ok(())
    }

    /// Creates (or replaces) `app` with `machines`, started at `since`, their
    /// ids in the order given; their images are put into the registry
    /// (without labels) if missing.
    pub fn seed_app(
        &self,
        app: &str,
        machines: &[SeedMachine],
        since: DateTime<Utc>,
    ) -> Result<Vec<MachineView>, ProviderError> {
        let mut st = self.lock();
        let mut built = Vec::with_capacity(machines.len());
        // Ids in the order the machines are given (Fly lists by id), so the
        // first machine given is the first a promotion takes.
        let mut ids: Vec<String> = (0..machines.len()).map(|i| st.machine_id(app, i)).collect();
        ids.sort();
        for ((i, spec), id) in machines.iter().enumerate().zip(ids) {
            let parts = ImageParts::parse(&spec.image)
                .map_err(|message| ProviderError::Other { message })?;
            st.images.entry(parts.key()).or_default();
            let started = spec.state == "started";
            let config = State::config(&spec.image, &spec.group, &spec.release, &spec.checks);
            let instance_id = st.instance_id();
            let mut view = MachineView {
                name: format!("{app}-{}-{}", spec.region, i + 1),
                id,
                state: spec.state.clone(),
                region: spec.region.clone(),
                instance_id,
                host_status: Some("ok".to_string()),
                image_ref: Some(st.image_ref(&parts)),
                checks: if started {
                    spec.checks
                        .iter()
                        .map(|c| CheckView {
                            name: c.clone(),
                            status: "passing".to_string(),
                            output: state::check_output(&config, c, true),
                            updated_at: Some(iso(since)),
                        })
                        .collect()
                } else {
                    Vec::new()
                },
                config,
                updated_at: Some(iso(since)),
                ..MachineView::default()
            };
            push_event(&mut view, event("launch", "created", "user", since));
            if started {
                push_event(&mut view, event("start", "started", "flyd", since));
            }
            built.push(Machine {
                view,
                due: Vec::new(),
            });
        }
        let out = built.iter().map(|m| m.view.clone()).collect();
        st.apps.insert(
            app.to_string(),
            App {
                machines: built,
                leases: BTreeMap::new(),
            },
        );
        Ok(out)
    }

    /// Scripts a fault (kept until [`clear_faults`](Self::clear_faults)); the
    /// same fault twice is kept once.
    pub fn add_fault(&self, fault: FlyFault) {
        let mut st = self.lock();
        if !st.faults.contains(&fault) {
            st.faults.push(fault);
        }
    }

    /// Clears every fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Another deployer (`owner`) takes `id`'s lease for `ttl`.
    pub fn hold_lease(
        &self,
        app: &str,
        id: &str,
        owner: &str,
        description: &str,
        ttl: Duration,
    ) -> Result<Lease, ProviderError> {
        let (mut st, now) = self.enter("_hold_lease");
        let version = machine(&st, app, id)?.instance_id.clone();
        let lease = Lease {
            nonce: st.nonce(),
            expires_at: now.timestamp() + secs(ttl),
            owner: owner.to_string(),
            description: description.to_string(),
            version,
        };
        if let Some(a) = st.apps.get_mut(app) {
            a.leases.insert(id.to_string(), lease.clone());
        }
        Ok(lease)
    }

    /// Its whole state, to be kept in the demo's world file.
    pub fn export(&self) -> Option<serde_json::Value> {
        serde_json::to_value(&*self.lock()).ok()
    }

    /// Takes `saved` (an [`export`](Self::export), maybe from another
    /// process) as its state; a state that does not read is ignored.
    pub fn import(&self, saved: &serde_json::Value) {
        match State::deserialize(saved) {
            Ok(st) => *self.lock() = st,
            Err(e) => tracing::warn!(error = %e, "simulated Fly state in the world file ignored"),
        }
    }

    /// Whether it holds `app`.
    pub fn has_app(&self, app: &str) -> bool {
        self.lock().apps.contains_key(app)
    }

    /// The app's machines as they are at `now`, without counting a call
    /// (the simulator's own view, for its events and tests).
    pub fn peek(&self, app: &str) -> Vec<MachineView> {
        let now = self.clock.now();
        let mut st = self.lock();
        st.settle(now);
        st.apps
            .get(app)
            .map(|a| {
                a.machines
                    .iter()
                    .map(|m| public(&st, app, &m.view))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Machine `id` of `app`, or the API's 404.
fn machine<'a>(st: &'a State, app: &str, id: &str) -> Result<&'a MachineView, ProviderError> {
    let a = st.apps.get(app).ok_or_else(|| not_found("Fly app", app))?;
    a.machines
        .iter()
        .map(|m| &m.view)
        .find(|m| m.id == id && m.state != "destroyed")
        .ok_or_else(|| not_found("Fly machine", id))
}

fn machine_mut<'a>(
    st: &'a mut State,
    app: &str,
    id: &str,
) -> Result<&'a mut Machine, ProviderError> {
    let a = st
        .apps
        .get_mut(app)
        .ok_or_else(|| not_found("Fly app", app))?;
    a.machines
        .iter_mut()
        .find(|m| m.view.id == id && m.view.state != "destroyed")
        .ok_or_else(|| not_found("Fly machine", id))
}

/// A machine as the API shows it: a host that cannot be reached hides its
/// config.
fn public(st: &State, app: &str, m: &MachineView) -> MachineView {
    let mut out = m.clone();
    if let Some(status) = st.host(app, &m.id).filter(|s| *s != "ok") {
        out.host_status = Some(status.to_string());
        out.incomplete_config = true;
        out.config = serde_json::Value::Null;
    }
    out
}

/// The live lease on `id` of `app`, if any.
fn live<'a>(st: &'a State, app: &str, id: &str) -> Option<&'a Lease> {
    st.apps.get(app).and_then(|a| a.leases.get(id))
}
