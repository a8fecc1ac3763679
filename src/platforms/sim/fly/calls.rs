//! The calls of the simulated Machines API: the [`FlyApi`] it implements,
//! each refusal as `HttpFly` reads the stub's answer.

use std::time::Duration;

use super::state::{Due, ImageParts, Next};
use super::{
    MAX_WAIT, NONCE_HEADER, SimFly, TICK, WAIT_STATES, chrono, conflict, event, held, held_message,
    iso, live, machine, machine_mut, not_found, public, push_event, secs,
};
use crate::platforms::fly::api::{FlyApi, Lease, LeaseError, MachineView, UpdateBody};
use crate::provider::ProviderError;

impl SimFly {
    fn update_now(
        &self,
        app: &str,
        id: &str,
        nonce: &str,
        body: &UpdateBody,
    ) -> Result<MachineView, ProviderError> {
        let (mut st, now) = self.enter("update");
        let current = machine(&st, app, id)?.instance_id.clone();
        match (live(&st, app, id), nonce.is_empty()) {
            (Some(lease), true) => {
                return Err(conflict(format!(
                    "{}; the request has no {NONCE_HEADER}",
                    held_message(id, lease)
                )));
            }
            (Some(lease), false) if lease.nonce != nonce => {
                return Err(conflict(format!(
                    "{}; the request's {NONCE_HEADER} does not match",
                    held_message(id, lease)
                )));
            }
            (None, false) => {
                return Err(conflict(format!(
                    "machine ID {id} has no lease; {NONCE_HEADER} {nonce} is not valid"
                )));
            }
            _ => {}
        }
        if let Some(cv) = body.current_version.as_deref()
            && cv != current
        {
            return Err(conflict(format!(
                "current_version {cv} does not match the machine's instance_id {current}"
            )));
        }
        let other = |message: String| ProviderError::Other { message };
        let image = body
            .config
            .get("image")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| other("config.image is required and must be a string".to_string()))?;
        let parts = ImageParts::parse(image).map_err(other)?;
        if !st.images.contains_key(&parts.key()) {
            return Err(other(format!("image not found: {}", parts.key())));
        }
        let mut config = body.config.clone();
        if let Some(c) = config.as_object_mut() {
            c.entry("metadata").or_insert_with(|| serde_json::json!({}));
        }
        let instance_id = st.instance_id();
        let image_ref = st.image_ref(&parts);
        let start = now + chrono(st.start_delay);
        if let Some(lease) = st.apps.get_mut(app).and_then(|a| a.leases.get_mut(id)) {
            lease.version.clone_from(&instance_id);
        }
        let m = machine_mut(&mut st, app, id)?;
        m.view.config = config;
        m.view.image_ref = Some(image_ref);
        m.view.instance_id.clone_from(&instance_id);
        m.view.state = "replacing".to_string();
        m.view.checks = Vec::new();
        m.view.updated_at = Some(iso(now));
        push_event(&mut m.view, event("update", "replacing", "user", now));
        m.due.push(Due {
            at: start,
            instance_id,
            what: Next::Start {
                skip_launch: body.skip_launch,
            },
        });
        let view = m.view.clone();
        Ok(public(&st, app, &view))
    }

    /// Whether `id` reached one of `states` (for `instance_id`, if given).
    fn reached(
        &self,
        app: &str,
        id: &str,
        instance_id: &str,
        state: &str,
    ) -> Result<bool, ProviderError> {
        let now = self.clock.now();
        let mut st = self.lock();
        st.settle(now);
        let m = machine(&st, app, id)?;
        Ok(m.state == state && (instance_id.is_empty() || m.instance_id == instance_id))
    }

    fn take_lease(
        &self,
        op: &'static str,
        app: &str,
        id: &str,
        nonce: Option<&str>,
        ttl: Duration,
        description: &str,
    ) -> Result<Lease, LeaseError> {
        let (mut st, now) = self.enter(op);
        if ttl.is_zero() {
            return Err(ProviderError::Other {
                message: "ttl must be positive".to_string(),
            }
            .into());
        }
        let version = machine(&st, app, id)?.instance_id.clone();
        let expires_at = now.timestamp() + secs(ttl).max(1);
        if let Some(lease) = st.apps.get_mut(app).and_then(|a| a.leases.get_mut(id)) {
            if nonce.is_some_and(|n| n == lease.nonce) {
                lease.expires_at = expires_at;
                return Ok(lease.clone());
            }
            return Err(held(id, lease));
        }
        let lease = Lease {
            nonce: st.nonce(),
            expires_at,
            owner: st.owner.clone(),
            description: description.to_string(),
            version,
        };
        if let Some(a) = st.apps.get_mut(app) {
            a.leases.insert(id.to_string(), lease.clone());
        }
        Ok(lease)
    }
}

impl FlyApi for SimFly {
    async fn list(&self, app: &str) -> Result<Vec<MachineView>, ProviderError> {
        let r = {
            let (st, _) = self.enter("list");
            st.apps
                .get(app)
                .ok_or_else(|| not_found("Fly app", app))
                .map(|a| {
                    a.machines
                        .iter()
                        .filter(|m| !matches!(m.view.state.as_str(), "destroyed" | "destroying"))
                        .map(|m| public(&st, app, &m.view))
                        .collect()
                })
        };
        self.record("list", app, None, None, r)
    }

    async fn get(&self, app: &str, id: &str) -> Result<MachineView, ProviderError> {
        let r = {
            let (st, _) = self.enter("get");
            machine(&st, app, id).map(|m| public(&st, app, m))
        };
        self.record("get", app, Some(id), None, r)
    }

    async fn acquire_lease(
        &self,
        app: &str,
        id: &str,
        ttl: Duration,
        description: &str,
    ) -> Result<Lease, LeaseError> {
        let r = self.take_lease("acquire_lease", app, id, None, ttl, description);
        self.record("acquire_lease", app, Some(id), None, r)
    }

    async fn refresh_lease(
        &self,
        app: &str,
        id: &str,
        nonce: &str,
        ttl: Duration,
    ) -> Result<Lease, LeaseError> {
        let r = self.take_lease("refresh_lease", app, id, Some(nonce), ttl, "");
        self.record("refresh_lease", app, Some(id), Some(nonce), r)
    }

    async fn lease(&self, app: &str, id: &str) -> Result<Option<Lease>, ProviderError> {
        let r = {
            let (st, _) = self.enter("lease");
            machine(&st, app, id).map(|_| live(&st, app, id).cloned())
        };
        self.record("lease", app, Some(id), None, r)
    }

    async fn release_lease(&self, app: &str, id: &str, nonce: &str) -> Result<(), ProviderError> {
        let r = (|| {
            let (mut st, _) = self.enter("release_lease");
            machine(&st, app, id)?;
            match live(&st, app, id) {
                // A lease already gone is fine (the stub's 404).
                None => Ok(()),
                Some(l) if l.nonce != nonce => Err(conflict(format!(
                    "{}; {NONCE_HEADER} {}",
                    held_message(id, l),
                    if nonce.is_empty() {
                        "is required"
                    } else {
                        "does not match"
                    }
                ))),
                Some(_) => {
                    if let Some(a) = st.apps.get_mut(app) {
                        a.leases.remove(id);
                    }
                    Ok(())
                }
            }
        })();
        self.record("release_lease", app, Some(id), Some(nonce), r)
    }

    async fn update(
        &self,
        app: &str,
        id: &str,
        nonce: &str,
        body: &UpdateBody,
    ) -> Result<MachineView, ProviderError> {
        let r = self.update_now(app, id, nonce, body);
        self.record("update", app, Some(id), Some(nonce), r)
    }

    async fn wait(
        &self,
        app: &str,
        id: &str,
        instance_id: &str,
        state: &str,
        timeout: Duration,
    ) -> Result<bool, ProviderError> {
        if !WAIT_STATES.contains(&state) {
            let r = Err(ProviderError::Other {
                message: format!(
                    "invalid state {state:?}: expected one of {}",
                    WAIT_STATES.join(", ")
                ),
            });
            return self.record("wait", app, Some(id), None, r);
        }
        drop(self.enter("wait"));
        let deadline = self.clock.now() + chrono(timeout.min(MAX_WAIT));
        let r = loop {
            match self.reached(app, id, instance_id, state) {
                Ok(true) => break Ok(true),
                Ok(false) if self.clock.now() >= deadline => break Ok(false),
                Ok(false) => tokio::time::sleep(TICK).await,
                Err(e) => break Err(e),
            }
        };
        self.record("wait", app, Some(id), None, r)
    }

    async fn set_metadata(
        &self,
        app: &str,
        id: &str,
        key: &str,
        value: &str,
    ) -> Result<(), ProviderError> {
        let r = (|| {
            let (mut st, now) = self.enter("set_metadata");
            let m = machine_mut(&mut st, app, id)?;
            if let Some(c) = m.view.config.as_object_mut() {
                let meta = c.entry("metadata").or_insert_with(|| serde_json::json!({}));
                if let Some(meta) = meta.as_object_mut() {
                    meta.insert(key.to_string(), serde_json::Value::from(value));
                }
            }
            m.view.updated_at = Some(iso(now));
            Ok(())
        })();
        self.record("set_metadata", app, Some(id), None, r)
    }

    async fn delete_metadata(&self, app: &str, id: &str, key: &str) -> Result<(), ProviderError> {
        let r = (|| {
            let (mut st, now) = self.enter("delete_metadata");
            let m = machine_mut(&mut st, app, id)?;
            if let Some(meta) = m
                .view
                .config
                .get_mut("metadata")
                .and_then(serde_json::Value::as_object_mut)
            {
                meta.remove(key);
            }
            m.view.updated_at = Some(iso(now));
            Ok(())
        })();
        self.record("delete_metadata", app, Some(id), None, r)
    }
}
