//! What a reading of a simulated environment sees: its services (on ECS,
//! on the proxy platform, on Lambda, on Fly and on Kubernetes), alarms and sources, as one
//! [`EnvSnapshot`].

use std::sync::{Arc, PoisonError};

use chrono::{DateTime, Utc};

use super::{SimEnv, SimFleet, SimState, proxied};
use crate::config::EnvConfig;
use crate::model::{AlarmReading, EnvSnapshot, SourceState, Sources};
use crate::provider::ProviderError;

impl SimFleet {
    /// The alarms of `env` as one index, rebuilt only when one of them
    /// changed since the last reading (told by a hash of every alarm).
    pub(super) fn alarm_reading(&self, env: &str, sim_env: &SimEnv) -> Arc<AlarmReading> {
        use std::hash::{Hash, Hasher};
        let alarms = || sim_env.services.values().flat_map(|s| s.alarms.iter());
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for a in alarms() {
            // Every field: a field added to Alarm must be added here.
            let crate::model::Alarm {
                name,
                state,
                reason,
                updated_at,
            } = a;
            (name, state, reason, updated_at).hash(&mut h);
        }
        let print = h.finish();
        let mut cache = self
            .alarm_readings
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((p, r)) = cache.get(env)
            && *p == print
        {
            return r.clone();
        }
        let reading = Arc::new(AlarmReading::of(alarms().cloned()));
        cache.insert(env.to_string(), (print, reading.clone()));
        reading
    }

    /// What a reading of `env` sees in the state `st`.
    pub(super) fn snapshot(
        &self,
        st: &SimState,
        now: DateTime<Utc>,
        env: &EnvConfig,
    ) -> Result<EnvSnapshot, ProviderError> {
        let now = st.time.max(now);
        let Some(sim_env) = st.envs.get(&env.name) else {
            return Err(ProviderError::NotFound {
                what: "cluster".to_string(),
                name: crate::platforms::ecs::cluster(env).to_string(),
            });
        };
        // CloudWatch answers for the whole environment, as DescribeAlarms does.
        let cloudwatch_error = sim_env.cloudwatch_down.then(|| {
            format!(
                "network: cannot connect to the CloudWatch endpoint of \"{}\": connection refused",
                env.name
            )
        });
        let alarms = match &cloudwatch_error {
            Some(e) => Arc::new(AlarmReading {
                error: Some(e.clone()),
                ..AlarmReading::default()
            }),
            None => self.alarm_reading(&env.name, sim_env),
        };
        // CloudWatch's (ECS and Lambda): a service behind a proxy has the proxy's counters.
        let on_cloudwatch = || env.services.iter().filter(|s| !proxied::is_proxied(s));
        let any_alarms =
            on_cloudwatch().any(|s| !s.alarms.is_empty() || !s.alarm_prefixes.is_empty());
        let any_metrics = on_cloudwatch().any(|s| !s.metrics.is_empty());
        let sources = Sources {
            alarms: alarms.state(any_alarms),
            metrics: match (&cloudwatch_error, any_metrics) {
                (_, false) => SourceState::NotUsed,
                (Some(e), true) => SourceState::Failed { error: e.clone() },
                (None, true) => SourceState::Ready,
            },
        };
        let mut services = Vec::with_capacity(env.services.len());
        let mut warnings = sources.failed();
        self.take_saved_functions(&env.name, sim_env.lambda.as_ref());
        self.take_saved_machines(&env.name, sim_env);
        let mut kube = Self::snapshot_kube(sim_env, env, now, cloudwatch_error.as_deref());
        for cfg in env.services.iter() {
            if super::kube::is_kube(cfg) {
                match kube.remove(&cfg.name) {
                    Some(s) => services.push(s),
                    None => warnings.push(format!(
                        "service \"{}\": not read from the simulated Kubernetes of \"{}\"",
                        cfg.name, env.name
                    )),
                }
                continue;
            }
            if super::machines::is_fly(cfg) {
                match self.snapshot_fly(st, env, cfg, now, cloudwatch_error.as_deref()) {
                    Ok(s) => services.push(s),
                    Err(e) => warnings.push(format!("service \"{}\": {e}", cfg.name)),
                }
                continue;
            }
            if super::functions::is_lambda(cfg) {
                let effects = cfg
                    .lambda
                    .as_deref()
                    .and_then(|l| sim_env.functions.get(&l.function));
                match self.snapshot_lambda(env, cfg, now, effects, cloudwatch_error.as_deref()) {
                    Ok(s) => services.push(s),
                    Err(e) => warnings.push(format!("service \"{}\": {e}", cfg.name)),
                }
                continue;
            }
            if proxied::is_proxied(cfg) {
                match sim_env.blue_green.get(proxied::backend_of(cfg)) {
                    Some(b) => services.push(b.snapshot(env, cfg, now)),
                    None => warnings.push(format!(
                        "blue/green service \"{}\" not found in the simulated \"{}\"",
                        proxied::backend_of(cfg),
                        env.name
                    )),
                }
                continue;
            }
            match sim_env
                .services
                .get(crate::platforms::ecs::service_name(cfg))
            {
                Some(s) => {
                    let snap = s.snapshot(cfg, now, &alarms, cloudwatch_error.as_deref());
                    services.push(snap.placed_in(env.aws.as_deref().map(|a| a.region.as_str())));
                }
                None => warnings.push(format!(
                    "service \"{}\" not found in cluster \"{}\"",
                    crate::platforms::ecs::service_name(cfg),
                    crate::platforms::ecs::cluster(env)
                )),
            }
        }
        Ok(EnvSnapshot {
            env: env.name.clone(),
            read_at: now,
            services,
            warnings,
            sources,
            index: crate::model::ServiceIndex::default(),
        })
    }
}
