//! The simulated fleet's services on the proxy platform behind the provider
//! seam: which services the simulator serves, and the deploys, rollbacks,
//! histories and logs of its blue/green services, each a call the way the
//! proxy platform takes one.

use super::SimFleet;
use super::blue_green::SimBlueGreen;
use super::script::Trigger;
use crate::config::proxy::Colour;
use crate::config::{EnvConfig, PlatformKind, ServiceConfig};
use crate::model::logs::LogPage;
use crate::model::{Digest, Revision, RevisionInfo, RolloutState};
use crate::provider::{DeployStarted, LogQuery, ProviderError};

/// What the proxy switches for a service: its configured backend, else its name.
pub(super) fn backend_of(cfg: &ServiceConfig) -> &str {
    cfg.proxy
        .as_deref()
        .map_or(cfg.name.as_str(), |p| p.backend.as_str())
}

/// Whether a service of the configuration is one of the fleet's blue/green
/// services (rather than an ECS service).
pub(super) fn is_proxied(cfg: &ServiceConfig) -> bool {
    cfg.platform == PlatformKind::Proxy
}

/// The proxy's kind as the configuration names it.
fn kind_of(env: &EnvConfig) -> &'static str {
    env.proxy.as_deref().map_or("haproxy", |p| p.kind.name())
}

fn not_found(cfg: &ServiceConfig) -> ProviderError {
    ProviderError::NotFound {
        what: "blue/green service".to_string(),
        name: backend_of(cfg).to_string(),
    }
}

impl SimFleet {
    /// Whether the simulator serves `service` of `env`: every service on
    /// ECS, and a service on another platform that the simulated fleet
    /// declares (`[[environment.blue_green]]`, `[[environment.lambda]]`,
    /// `[[environment.fly]]`, `[[environment.kubernetes]]`); the rest go to
    /// their platform.
    pub fn simulates(&self, env: &EnvConfig, service: &ServiceConfig) -> bool {
        match service.platform {
            PlatformKind::Ecs => return true,
            PlatformKind::Lambda => return self.simulates_lambda(env, service),
            PlatformKind::Fly => return self.simulates_fly(env, service),
            PlatformKind::Kubernetes => return self.simulates_kube(env, service),
            PlatformKind::Proxy => {}
        }
        self.lock()
            .envs
            .get(&env.name)
            .is_some_and(|e| e.blue_green.contains_key(backend_of(service)))
    }

    /// The version label of `digest`, where the simulated world knows it
    /// (the registry's image data): from any service that ran it.
    fn version_in_world(st: &super::SimState, digest: &Digest) -> Option<String> {
        st.envs
            .values()
            .flat_map(|e| {
                e.services
                    .values()
                    .filter_map(|s| s.version_of(digest))
                    .chain(e.blue_green.values().filter_map(|b| b.version_of(digest)))
            })
            .next()
            .map(str::to_string)
    }

    /// Starts the cutover of a blue/green service to `digest`: the idle
    /// colour is deployed, probed, then switched to.
    pub(super) fn deploy_proxied(
        &self,
        env: &EnvConfig,
        cfg: &ServiceConfig,
        digest: &Digest,
    ) -> Result<DeployStarted, ProviderError> {
        let _lock = self.world.as_ref().map(|w| w.lock());
        let mut st = self.enter(&env.name)?;
        let now = st.time;
        let id = format!("cutover-{:016}", st.next_id);
        st.next_id += 1;
        let version = Self::version_in_world(&st, digest);
        let bg = blue_green_mut(&mut st, env, cfg)?;
        if bg
            .run
            .as_ref()
            .is_some_and(|r| r.state == RolloutState::InProgress)
        {
            return Err(ProviderError::Conflict {
                message: format!(
                    "a cutover of {} in {} is already running",
                    cfg.name, env.name
                ),
            });
        }
        let from = bg.live;
        bg.deploy(
            &id,
            digest,
            version,
            cfg.proxy.as_deref(),
            kind_of(env),
            now,
        );
        st.trigger(&env.name, backend_of(cfg), Trigger::Deploy, now);
        self.save(&st);
        Ok(DeployStarted {
            service: cfg.name.clone(),
            from: Some(from.revision_of(&cfg.name)),
            to: Some(from.other().revision_of(&cfg.name)),
            change: None,
            deployment_id: Some(id),
        })
    }

    /// Switches a blue/green service back to the colour `to`, after checking
    /// that it answers.
    pub(super) fn rollback_proxied(
        &self,
        env: &EnvConfig,
        cfg: &ServiceConfig,
        to: &Revision,
    ) -> Result<DeployStarted, ProviderError> {
        let Some(target) = Colour::of(to) else {
            return Err(ProviderError::Other {
                message: format!("{to} is not a colour of a proxy environment"),
            });
        };
        let _lock = self.world.as_ref().map(|w| w.lock());
        let mut st = self.enter(&env.name)?;
        let now = st.time;
        let id = format!("switch-back-{:016}", st.next_id);
        st.next_id += 1;
        let bg = blue_green_mut(&mut st, env, cfg)?;
        let live = bg
            .switch_back(&id, target, kind_of(env), now)
            .map_err(|message| ProviderError::Conflict { message })?;
        st.trigger(&env.name, backend_of(cfg), Trigger::Rollback, now);
        self.save(&st);
        Ok(DeployStarted {
            service: cfg.name.clone(),
            from: Some(live.revision_of(&cfg.name)),
            to: Some(target.revision_of(&cfg.name)),
            change: None,
            deployment_id: Some(id),
        })
    }

    /// Both colours of a blue/green service, as revisions.
    pub(super) fn history_proxied(
        &self,
        env: &EnvConfig,
        cfg: &ServiceConfig,
    ) -> Result<Vec<RevisionInfo>, ProviderError> {
        let st = self.enter(&env.name)?;
        let now = st.time;
        blue_green(&st, env, cfg).map(|b| b.history(&cfg.name, now))
    }

    /// The simulated deploy command's output of a blue/green service.
    pub(super) fn logs_proxied(
        &self,
        env: &EnvConfig,
        cfg: &ServiceConfig,
        query: &LogQuery,
    ) -> Result<LogPage, ProviderError> {
        let st = self.enter(&env.name)?;
        blue_green(&st, env, cfg).map(|b| b.logs(&env.name, &cfg.name, query))
    }
}

fn blue_green<'a>(
    st: &'a super::SimState,
    env: &EnvConfig,
    cfg: &ServiceConfig,
) -> Result<&'a SimBlueGreen, ProviderError> {
    st.envs
        .get(&env.name)
        .and_then(|e| e.blue_green.get(backend_of(cfg)))
        .ok_or_else(|| not_found(cfg))
}

fn blue_green_mut<'a>(
    st: &'a mut super::SimState,
    env: &EnvConfig,
    cfg: &ServiceConfig,
) -> Result<&'a mut SimBlueGreen, ProviderError> {
    st.envs
        .get_mut(&env.name)
        .and_then(|e| e.blue_green.get_mut(backend_of(cfg)))
        .ok_or_else(|| not_found(cfg))
}
