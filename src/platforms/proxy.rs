//! Environments that are not ECS: two colours of an app behind a reverse proxy
//! (HAProxy, Caddy or nginx), switched by shipdeck.
//!
//! A proxy environment is a provider like ECS and the simulator: it reads
//! into the same [`EnvSnapshot`], and it deploys and rolls back through the
//! same [`Provider`](crate::provider::Provider) calls, so the gate, the
//! release engine, the watch, the ledger and the console are the ones every
//! environment uses. Its revisions are its colours (`api@blue`, `api@green`).
//!
//! - [`crate::config::proxy`]: its own section of the configuration;
//! - [`driver`]: the three proxies (live colour, switch, counters);
//! - [`runbook`]: the cutover runbook a deploy runs, step by step.

pub mod alb;

pub mod driver;
pub mod logs;
pub mod meter;
pub mod runbook;
pub mod snapshot;
pub mod words;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::Utc;
use serde::{Deserialize, Serialize};

pub use crate::config::proxy::{Colour, ColourSmoke, ProxyEnv, ProxyKind, ProxyService};
pub use driver::{Counters, Traffic};

use crate::config::{EnvConfig, ServiceConfig};
use crate::model::{
    Deployment, Digest, EnvSnapshot, Health, Revision, RevisionInfo, ServiceSnapshot,
};
use crate::provider::{DeployStarted, ProviderError, ReadScope};

/// What one colour answered on its status path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColourView {
    /// Which colour.
    pub colour: Colour,
    /// The digest it says it runs, when it said.
    pub digest: Option<Digest>,
    /// It answered 200.
    pub answering: bool,
    /// What it answered, or why it could not be read.
    pub reason: String,
}

/// A service behind a proxy, as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyView {
    /// "haproxy", "caddy" or "nginx".
    pub kind: String,
    /// The colour the proxy sends traffic to.
    pub live: Colour,
    /// Blue, then green.
    pub colours: Vec<ColourView>,
    /// The proxy's counters.
    pub traffic: Traffic,
}

impl ProxyView {
    /// One colour's view.
    pub fn colour(&self, c: Colour) -> Option<&ColourView> {
        self.colours.iter().find(|v| v.colour == c)
    }

    /// The idle colour, when it answers (a switch back is possible).
    pub fn idle_answering(&self) -> bool {
        self.colour(self.live.other()).is_some_and(|v| v.answering)
    }
}

/// The proxy provider: readings, deploys (the runbook, run in this process)
/// and rollbacks (a switch back).
#[derive(Debug)]
pub struct ProxyProvider {
    client: reqwest::Client,
    runs: Arc<Mutex<HashMap<(String, String), runbook::Run>>>,
    /// Since when each service has answered through the proxy without a break.
    healthy_since: Mutex<HashMap<(String, String), chrono::DateTime<Utc>>>,
    /// Each service's counters over time (its proxy metrics).
    meters: Mutex<HashMap<(String, String), meter::Meter>>,
}

/// Where an environment's proxied services are switched: the proxy's kind
/// and public address.
pub fn location(env: &EnvConfig) -> String {
    env.proxy.as_deref().map_or_else(
        || "no [proxy] configured".to_string(),
        |p| match &p.url {
            Some(url) => format!("{} {}", p.kind.name(), crate::model::sanitize(url)),
            None => p.kind.name().to_string(),
        },
    )
}

/// What a proxy cutover can do beyond reading and deploying: it runs in
/// this process and switches all traffic at once (no pause for a person).
pub const CAPABILITIES: crate::provider::Capabilities = crate::provider::Capabilities {
    pauses: false,
    runs_in_process: true,
    history_costs_calls: false,
    // Two colours kept warm: switch back to the other one.
    rollback: crate::provider::RollbackStyle::Slots,
    // 1/1: the colour that serves answers.
    units: Some("serving colour"),
    places: false,
    watched: false,
};

/// The proxy as a platform: its own methods, through the one trait; a
/// cutover never pauses for a decision (the trait's default refuses).
impl crate::provider::Provider for ProxyProvider {
    async fn read_env(
        &self,
        env: &EnvConfig,
        scope: ReadScope,
    ) -> Result<EnvSnapshot, ProviderError> {
        ProxyProvider::read_env(self, env, scope).await
    }

    async fn history(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        _current: &Revision,
    ) -> Result<Vec<RevisionInfo>, ProviderError> {
        ProxyProvider::history(self, env, service).await
    }

    async fn deploy(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        digest: &crate::model::Digest,
    ) -> Result<DeployStarted, ProviderError> {
        ProxyProvider::deploy(self, env, service, digest).await
    }

    async fn rollback(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        to: &Revision,
    ) -> Result<DeployStarted, ProviderError> {
        ProxyProvider::rollback(self, env, service, to).await
    }

    async fn logs(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        query: &crate::provider::LogQuery,
    ) -> Result<crate::model::logs::LogPage, ProviderError> {
        Ok(ProxyProvider::logs(self, env, service, query))
    }
}

/// The process's proxy provider: deploys in flight are kept here, so that
/// every reading of the environment shows their steps.
pub fn provider() -> &'static ProxyProvider {
    static P: OnceLock<ProxyProvider> = OnceLock::new();
    P.get_or_init(|| ProxyProvider {
        client: crate::health::client().unwrap_or_default(),
        runs: Arc::default(),
        healthy_since: Mutex::default(),
        meters: Mutex::default(),
    })
}

fn parts<'a>(
    env: &'a EnvConfig,
    service: &'a ServiceConfig,
) -> Result<(&'a ProxyEnv, &'a ProxyService), ProviderError> {
    match (env.proxy.as_deref(), service.proxy.as_deref()) {
        (Some(p), Some(s)) => Ok((p, s)),
        _ => Err(ProviderError::Other {
            message: format!(
                "service \"{}\" in \"{}\" is not configured behind a proxy",
                service.name, env.name
            ),
        }),
    }
}

/// A colour as a revision: it can be switched back to while it answers.
fn revision(service: &str, v: &ColourView) -> RevisionInfo {
    RevisionInfo {
        task_definition: v.colour.revision_of(service),
        digest: v.digest.clone(),
        active: v.answering,
    }
}

/// What a colour answers on its status path: 200 and its digest, or why not.
pub async fn read_colour(client: &reqwest::Client, svc: &ProxyService, c: Colour) -> ColourView {
    read_status(client, svc, &svc.status_url(c), c).await
}

async fn read_status(
    client: &reqwest::Client,
    svc: &ProxyService,
    url: &str,
    c: Colour,
) -> ColourView {
    let fail = |reason: String| ColourView {
        colour: c,
        digest: None,
        answering: false,
        reason,
    };
    // Bounded: a colour answering a huge or endless body costs 64 KiB at most.
    let (status, body) =
        match crate::health::get(client, url, std::time::Duration::from_secs(2)).await {
            Ok(answer) => answer,
            Err(e) => return fail(crate::model::text::sanitize(&e)),
        };
    let digest = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.pointer(&svc.digest_pointer)
                .and_then(|d| d.as_str())
                .map(str::to_string)
        });
    let (digest, why) = match digest.as_deref().map(Digest::parse) {
        Some(Ok(d)) => (Some(d), String::new()),
        Some(Err(e)) => (None, format!("; {e}")),
        None => (
            None,
            format!("; no digest at {} in its answer", svc.digest_pointer),
        ),
    };
    ColourView {
        colour: c,
        digest,
        answering: status == 200,
        reason: crate::model::text::sanitize(&format!("answered {status}{why}")),
    }
}

impl ProxyProvider {
    /// The HTTP client of probes and admin APIs.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Reads every service of a proxy environment: a proxy that cannot be read
    /// fails the reading (nothing about the environment is known then).
    pub async fn read_env(
        &self,
        env: &EnvConfig,
        _scope: ReadScope,
    ) -> Result<EnvSnapshot, ProviderError> {
        let mut services = Vec::with_capacity(env.services.len());
        for s in env.services.iter() {
            services.push(self.read_service(env, s).await?);
        }
        Ok(EnvSnapshot {
            env: env.name.clone(),
            read_at: Utc::now(),
            services,
            warnings: Vec::new(),
            sources: crate::model::Sources::default(),
            index: crate::model::ServiceIndex::default(),
        })
    }

    async fn read_service(
        &self,
        env: &EnvConfig,
        s: &ServiceConfig,
    ) -> Result<ServiceSnapshot, ProviderError> {
        let (proxy, svc) = parts(env, s)?;
        let through = proxy
            .url
            .as_ref()
            .map(|u| format!("{}{}", u.trim_end_matches('/'), svc.status_path));
        let started = std::time::Instant::now();
        let (observed, blue, green, traffic, served) = tokio::join!(
            self.live_and_found(env, s, proxy, svc),
            read_colour(&self.client, svc, Colour::Blue),
            read_colour(&self.client, svc, Colour::Green),
            driver::traffic(&self.client, proxy, svc),
            async {
                match &through {
                    Some(u) => Some(read_status(&self.client, svc, u, Colour::Blue).await),
                    None => None,
                }
            },
        );
        let latency = started.elapsed();
        let (live, found) = observed;
        // Only shipdeck's own shift in steps may leave the rule forwarding
        // to both colours: the one shifted from is live until the switch.
        // Weights split by hand since: the larger share is what serves.
        let live = match (live, &found, self.stepping_from(&env.name, &s.name)) {
            (Ok(c), _, _) => c,
            (Err(_), Some((_, o)), _) => o.colour,
            (Err(_), None, Some(from)) => from,
            (Err(message), None, None) => {
                return Err(ProviderError::Network {
                    message: format!("{} proxy: {message}", proxy.kind.name()),
                });
            }
        };
        let metrics = self.metrics(env, s, &traffic);
        let colours = vec![blue, green];
        // Without a public address, health is the live colour's own answer.
        let served = served
            .or_else(|| colours.iter().find(|v| v.colour == live).cloned())
            .unwrap_or(ColourView {
                colour: live,
                digest: None,
                answering: false,
                reason: "not read".to_string(),
            });
        let health = self.health(env, s, &served, latency);
        Ok(snapshot::service_snapshot(
            &s.name,
            snapshot::ServiceReading {
                kind: proxy.kind.name(),
                backend: svc.backend.clone(),
                live,
                colours,
                traffic,
                run: self.run_view(&env.name, &s.name, found.as_ref()),
                events: self.events(&env.name, &s.name),
                health,
                metrics,
                at: Utc::now(),
            },
        ))
    }

    /// The service's proxy metrics, with the counters of this reading taken in.
    fn metrics(
        &self,
        env: &EnvConfig,
        s: &ServiceConfig,
        traffic: &Traffic,
    ) -> Vec<crate::model::MetricSeries> {
        let key = (env.name.clone(), s.name.clone());
        let Ok(mut meters) = self.meters.lock() else {
            return Vec::new();
        };
        let meter = meters.entry(key).or_default();
        meter.take(traffic, std::time::Instant::now());
        let error = match traffic {
            Traffic::Unreadable(why) | Traffic::NotAvailable(why) => Some(why.clone()),
            Traffic::PerColour { .. } | Traffic::Total(_) => None,
        };
        s.metrics
            .iter()
            .filter_map(|m| match m.source {
                crate::config::MetricSource::Proxy(what) => Some(crate::model::MetricSeries {
                    label: m.label.clone(),
                    points: meter.points(what),
                    error: error.clone(),
                }),
                _ => None,
            })
            .collect()
    }

    /// What the service answers through the proxy, as health: one probe per
    /// reading, stable for as long as the answers have been 200 without a break.
    fn health(
        &self,
        env: &EnvConfig,
        s: &ServiceConfig,
        served: &ColourView,
        latency: std::time::Duration,
    ) -> Health {
        let key = (env.name.clone(), s.name.clone());
        let Ok(mut since) = self.healthy_since.lock() else {
            return Health::Unknown;
        };
        if served.answering {
            let now = Utc::now();
            let at = *since.entry(key).or_insert(now);
            Health::Healthy {
                status: 200,
                latency,
                healthy_for: (now - at).to_std().unwrap_or_default(),
            }
        } else {
            since.remove(&key);
            Health::Unhealthy {
                status: None,
                reason: format!("through the proxy: {}", served.reason),
            }
        }
    }

    /// Both colours with their digests; the live one is the current revision.
    pub async fn history(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
    ) -> Result<Vec<RevisionInfo>, ProviderError> {
        // Only the colours: a rollback target needs neither the proxy's
        // counters nor its live colour (the reading has that).
        let (_, svc) = parts(env, service)?;
        let (blue, green) = tokio::join!(
            read_colour(&self.client, svc, Colour::Blue),
            read_colour(&self.client, svc, Colour::Green),
        );
        Ok([blue, green]
            .iter()
            .map(|v| revision(&service.name, v))
            .collect())
    }

    /// Starts the cutover runbook for `digest`; its steps show in readings.
    pub async fn deploy(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        digest: &Digest,
    ) -> Result<DeployStarted, ProviderError> {
        let (proxy, svc) = parts(env, service)?;
        let live = driver::live(&self.client, proxy, svc)
            .await
            .map_err(|message| ProviderError::Network { message })?;
        let key = (env.name.clone(), service.name.clone());
        let run = runbook::Run::new(live, digest);
        let id = run.id.clone();
        {
            let mut runs = self.runs.lock().map_err(|_| ProviderError::Other {
                message: "the runbook state is unusable after a crash".to_string(),
            })?;
            if runs.get(&key).is_some_and(runbook::Run::in_flight) {
                return Err(ProviderError::Conflict {
                    message: format!(
                        "a cutover of {} in {} is already running",
                        service.name, env.name
                    ),
                });
            }
            runs.insert(key.clone(), run);
        }
        let ctx = runbook::Ctx {
            client: self.client.clone(),
            runs: self.runs.clone(),
            key,
            proxy: proxy.clone(),
            svc: svc.clone(),
            env: env.name.clone(),
            service: service.name.clone(),
        };
        tokio::spawn(runbook::cutover(ctx, live, digest.clone()));
        Ok(DeployStarted {
            service: service.name.clone(),
            from: Some(live.revision_of(&service.name)),
            to: Some(live.other().revision_of(&service.name)),
            change: None,
            deployment_id: Some(id),
        })
    }

    /// Switches back to the colour `to`, after checking that it answers, and
    /// confirms through the proxy that it serves.
    pub async fn rollback(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        to: &Revision,
    ) -> Result<DeployStarted, ProviderError> {
        let (proxy, svc) = parts(env, service)?;
        let Some(target) = Colour::of(to) else {
            return Err(ProviderError::Other {
                message: format!("{to} is not a colour of a proxy environment"),
            });
        };
        let ctx = runbook::Ctx {
            client: self.client.clone(),
            runs: self.runs.clone(),
            key: (env.name.clone(), service.name.clone()),
            proxy: proxy.clone(),
            svc: svc.clone(),
            env: env.name.clone(),
            service: service.name.clone(),
        };
        runbook::switch_back(&ctx, target).await
    }

    /// The run's deployments; `found` applies to the run it was compared with.
    fn run_view(
        &self,
        env: &str,
        service: &str,
        found: Option<&(String, runbook::Outside)>,
    ) -> Option<Vec<Deployment>> {
        let runs = self.runs.lock().ok()?;
        runs.get(&(env.to_string(), service.to_string())).map(|r| {
            let found = found.filter(|(id, _)| *id == r.id).map(|(_, o)| o);
            r.deployments(service, found)
        })
    }

    /// Where this service's run left the proxy: (run id, colour, share).
    fn left_at(&self, env: &str, service: &str) -> Option<(String, Colour, u32)> {
        let runs = self.runs.lock().ok()?;
        let r = runs.get(&(env.to_string(), service.to_string()))?;
        r.left_at().map(|(c, share)| (r.id.clone(), c, share))
    }

    /// The live colour and, when this service's run has switched the proxy,
    /// what is found changed since (a hand switch back, weights set by hand):
    /// re-read with every reading, so that a watch never takes the run's own
    /// view for what serves. Read under the switch lock: a switch of
    /// shipdeck's own never reads as a change from outside, and a reading that
    /// finds the lock taken compares nothing.
    async fn live_and_found(
        &self,
        env: &EnvConfig,
        s: &ServiceConfig,
        proxy: &ProxyEnv,
        svc: &ProxyService,
    ) -> (Result<Colour, String>, Option<(String, runbook::Outside)>) {
        let guard = match self.left_at(&env.name, &s.name) {
            Some(_) => runbook::switch_lock().try_lock().ok(),
            None => None,
        };
        let left = guard
            .as_ref()
            .and_then(|_| self.left_at(&env.name, &s.name));
        let live = driver::live(&self.client, proxy, svc).await;
        let found = match left {
            Some((id, to, share)) => runbook::found_since(proxy, svc, &live, to, share)
                .await
                .map(|o| (id, o)),
            None => None,
        };
        drop(guard);
        (live, found)
    }

    fn stepping_from(&self, env: &str, service: &str) -> Option<Colour> {
        let runs = self.runs.lock().ok()?;
        runs.get(&(env.to_string(), service.to_string()))
            .and_then(runbook::Run::stepping_from)
    }

    fn events(&self, env: &str, service: &str) -> Vec<crate::model::ServiceEvent> {
        self.runs
            .lock()
            .ok()
            .and_then(|runs| {
                runs.get(&(env.to_string(), service.to_string()))
                    .map(runbook::Run::events)
            })
            .unwrap_or_default()
    }
}
