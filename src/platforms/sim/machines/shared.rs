//! A simulated Machines API shared through the demo's world file: every
//! call first takes the state another process may have saved (and the
//! game-day effects in force), and every call that changes something saves
//! it, so a run in one console shows its machines, leases and canary in
//! another shell. Without a world file (tests, `--fleet`) it is the
//! process's own.

use std::time::Duration;

use super::super::SimFleet;
use super::super::fly::SimFly;
use crate::platforms::fly::api::{FlyApi, Lease, LeaseError, MachineView, UpdateBody};
use crate::provider::ProviderError;

/// The simulated Machines API of environment `env`, kept in `fleet`'s world.
#[derive(Debug, Clone)]
pub(in crate::platforms::sim) struct Shared {
    pub(in crate::platforms::sim) fleet: SimFleet,
    pub(in crate::platforms::sim) env: String,
    pub(in crate::platforms::sim) api: SimFly,
}

impl SimFleet {
    /// `api`, the simulated Machines API of `env`, shared through the world.
    pub(in crate::platforms::sim) fn shared_fly(&self, env: &str, api: &SimFly) -> Shared {
        Shared {
            fleet: self.clone(),
            env: env.to_string(),
            api: api.clone(),
        }
    }
}

impl Shared {
    /// Takes the state saved in the world, if another process saved one,
    /// and the game-day effects in force.
    pub(in crate::platforms::sim) fn pull(&self) {
        let _lock = self.fleet.world.as_ref().map(|w| w.lock());
        let mut st = self.fleet.lock();
        if let Some(w) = &self.fleet.world {
            w.sync_in(&mut st);
        }
        let Some(e) = st.envs.get(&self.env) else {
            return;
        };
        if let (Some(saved), Some(_)) = (&e.fly, &self.fleet.world) {
            self.api.import(saved);
        }
        for fx in e.fly_effects.values() {
            for f in fx.faults() {
                self.api.add_fault(f);
            }
        }
    }

    /// Saves the state into the world.
    fn push(&self) {
        if self.fleet.world.is_none() {
            return;
        }
        let saved = self.api.export();
        self.fleet.change(|st| {
            if let Some(e) = st.envs.get_mut(&self.env) {
                e.fly = saved;
            }
        });
    }

    /// A call that changes the machines: saved into the world.
    fn changed<T, E>(&self, r: Result<T, E>) -> Result<T, E> {
        self.push();
        r
    }
}

impl FlyApi for Shared {
    async fn list(&self, app: &str) -> Result<Vec<MachineView>, ProviderError> {
        self.pull();
        self.api.list(app).await
    }

    async fn get(&self, app: &str, id: &str) -> Result<MachineView, ProviderError> {
        self.pull();
        self.api.get(app, id).await
    }

    async fn acquire_lease(
        &self,
        app: &str,
        id: &str,
        ttl: Duration,
        description: &str,
    ) -> Result<Lease, LeaseError> {
        self.pull();
        let r = self.api.acquire_lease(app, id, ttl, description).await;
        self.changed(r)
    }

    async fn refresh_lease(
        &self,
        app: &str,
        id: &str,
        nonce: &str,
        ttl: Duration,
    ) -> Result<Lease, LeaseError> {
        self.pull();
        let r = self.api.refresh_lease(app, id, nonce, ttl).await;
        self.changed(r)
    }

    async fn lease(&self, app: &str, id: &str) -> Result<Option<Lease>, ProviderError> {
        self.pull();
        self.api.lease(app, id).await
    }

    async fn release_lease(&self, app: &str, id: &str, nonce: &str) -> Result<(), ProviderError> {
        self.pull();
        let r = self.api.release_lease(app, id, nonce).await;
        self.changed(r)
    }

    async fn update(
        &self,
        app: &str,
        id: &str,
        nonce: &str,
        body: &UpdateBody,
    ) -> Result<MachineView, ProviderError> {
        self.pull();
        let r = self.api.update(app, id, nonce, body).await;
        self.changed(r)
    }

    async fn wait(
        &self,
        app: &str,
        id: &str,
        instance_id: &str,
        state: &str,
        timeout: Duration,
    ) -> Result<bool, ProviderError> {
        self.pull();
        self.api.wait(app, id, instance_id, state, timeout).await
    }

    async fn set_metadata(
        &self,
        app: &str,
        id: &str,
        key: &str,
        value: &str,
    ) -> Result<(), ProviderError> {
        self.pull();
        let r = self.api.set_metadata(app, id, key, value).await;
        self.changed(r)
    }

    async fn delete_metadata(&self, app: &str, id: &str, key: &str) -> Result<(), ProviderError> {
        self.pull();
        let r = self.api.delete_metadata(app, id, key).await;
        self.changed(r)
    }
}
