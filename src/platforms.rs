//! The platforms shipdeck deploys to, each in its own folder behind the
//! [`Provider`] trait: ECS (with CloudWatch), blue/green behind a reverse
//! proxy, and the simulated world of the demo and the tests.
//!
//! This file is the registry: the one place that maps a platform's kind
//! ([`PlatformKind`], from the configuration) to its implementation and its
//! declared [`Capabilities`]. The engine, the gate, the console, the CLI and
//! `status` talk to [`AnyProvider`] through the trait and never branch on a
//! platform's kind.

pub mod ecs;
pub mod fly;
pub mod kubernetes;
pub mod lambda;
pub mod proxy;
pub mod sim;

use crate::config::{EnvConfig, PlatformKind, ServiceConfig};
use crate::model::logs::LogPage;
use crate::model::{Digest, EnvSnapshot, Revision, RevisionInfo, SourceState, Sources};
use crate::provider::{Capabilities, DeployStarted, LogQuery, Provider, ProviderError, ReadScope};

/// Where an environment's services on `kind` run, in a few words (an ECS
/// region and cluster, a proxy's kind and address): `status`'s `location`.
pub fn location(env: &EnvConfig, kind: PlatformKind) -> String {
    match kind {
        PlatformKind::Ecs => ecs::location(env),
        PlatformKind::Proxy => proxy::location(env),
        PlatformKind::Lambda => lambda::words::location(env),
        PlatformKind::Fly => fly::words::location(env),
        PlatformKind::Kubernetes => kubernetes::words::location(env),
    }
}

/// The platforms an environment's services run on, its own first: `ecs`, or
/// `ecs+proxy` for a mixed one.
pub fn kinds(env: &EnvConfig) -> Vec<PlatformKind> {
    let mut out = vec![env.platform];
    for s in env.services.iter() {
        if !out.contains(&s.platform) {
            out.push(s.platform);
        }
    }
    if !env.services.is_empty() && !env.services.iter().any(|s| s.platform == env.platform) {
        out.remove(0);
    }
    out
}

/// An environment's platforms and where each runs, in the one wording of
/// `status` (its `platform` and `location`) and `config check`: `ecs+proxy`,
/// `eu-west-1/shop-prod · haproxy http://…`.
pub fn summary(env: &EnvConfig) -> (String, String) {
    let kinds = kinds(env);
    let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
    let places: Vec<String> = kinds.iter().map(|k| location(env, *k)).collect();
    (names.join("+"), places.join(" · "))
}

/// Ends what this process runs on the platforms before it exits, within
/// `within`: Fly's runs stop after their call in flight and release their
/// machines' leases (the machines stay as they are; `r` or a promotion goes
/// on from there). Whether everything was released in time.
pub async fn shutdown(within: std::time::Duration) -> bool {
    fly::provider::provider().runs.shutdown(within).await
}

/// What each platform declares it can do.
pub fn capabilities(kind: PlatformKind) -> Capabilities {
    match kind {
        PlatformKind::Ecs => ecs::CAPABILITIES,
        PlatformKind::Proxy => proxy::CAPABILITIES,
        PlatformKind::Lambda => lambda::CAPABILITIES,
        PlatformKind::Fly => fly::CAPABILITIES,
        PlatformKind::Kubernetes => kubernetes::CAPABILITIES,
    }
}

/// What promoting `digest` into `svc` in `env` will do, in its platform's
/// words: the change, and the steps confirming it starts. `now` is the
/// target's reading (what the change starts from); `release` the digest's
/// release name where the source knows one. Pure: for the plan, the wizard,
/// the confirmation, `promote` and `approve`.
pub fn deploy_words(
    env: &EnvConfig,
    svc: &ServiceConfig,
    now: Option<&crate::model::ServiceSnapshot>,
    digest: Option<&Digest>,
    release: Option<&str>,
) -> crate::model::DeployWords {
    match svc.platform {
        PlatformKind::Ecs => ecs::words::deploy(svc, now, digest, release),
        PlatformKind::Proxy => proxy::words::deploy(env, svc, now, digest),
        PlatformKind::Lambda => lambda::words::deploy(svc, now, digest),
        PlatformKind::Fly => fly::words::deploy(svc, now, digest),
        PlatformKind::Kubernetes => kubernetes::words::deploy(env, svc, now, digest),
    }
}

/// What confirming a rollback of `svc` in `env` to `to` does, in one
/// sentence in its platform's words: for the console's dialog and
/// `shipdeck rollback`.
pub fn rollback_words(env: &EnvConfig, svc: &ServiceConfig, to: &Revision) -> String {
    match svc.platform {
        PlatformKind::Ecs => ecs::words::rollback(svc, to),
        PlatformKind::Proxy => proxy::words::rollback(env, svc, to),
        PlatformKind::Lambda => lambda::words::rollback(svc, to),
        PlatformKind::Fly => fly::words::rollback(svc, to),
        PlatformKind::Kubernetes => kubernetes::words::rollback(svc, to),
    }
}

/// The platform `service` runs on in `env`: its own where it names one,
/// else the environment's (a service not configured there too).
pub fn kind_of(env: &EnvConfig, service: &str) -> PlatformKind {
    env.service(service).map_or(env.platform, |s| s.platform)
}

/// What `service`'s running/desired count in `env` ([`Capabilities::units`]).
pub fn units(env: &EnvConfig, service: &str) -> Option<&'static str> {
    capabilities(kind_of(env, service)).units
}

/// What `kind` calls rolling a deployment back by itself (`ECS's circuit
/// breaker or alarm rollback`), for generic words to name beside "the
/// platform rolled it back by itself"
/// ([`crate::model::detail::rolled_back_by_itself`]); `None` where it never
/// does, or has no name for it.
pub fn self_rollback(kind: PlatformKind) -> Option<&'static str> {
    match kind {
        PlatformKind::Ecs => ecs::words::SELF_ROLLBACK,
        PlatformKind::Proxy => proxy::words::SELF_ROLLBACK,
        PlatformKind::Lambda => lambda::words::SELF_ROLLBACK,
        PlatformKind::Fly => fly::words::SELF_ROLLBACK,
        PlatformKind::Kubernetes => kubernetes::words::SELF_ROLLBACK,
    }
}

/// How a service on `kind` rolls out, in its platform's words, from the
/// reading's deployment configuration: the detail pane's `strategy` line.
pub fn strategy_words(kind: PlatformKind, config: &crate::model::DeploymentConfig) -> String {
    match kind {
        PlatformKind::Ecs => ecs::words::strategy(config),
        PlatformKind::Proxy => proxy::words::strategy(config),
        PlatformKind::Lambda => lambda::words::strategy(config),
        PlatformKind::Fly => fly::words::strategy(config),
        PlatformKind::Kubernetes => kubernetes::words::strategy(config),
    }
}

/// The providers shipdeck can run against: the simulator (every service its
/// fleet serves, on each platform it simulates) or AWS (the services on ECS).
/// Services neither serves go to their own platform's implementation.
#[derive(Debug, Clone)]
pub enum AnyProvider {
    /// The in-process simulated fleet.
    Sim(sim::SimFleet),
    /// ECS and CloudWatch.
    Aws(ecs::AwsProvider),
}

/// One platform's implementation, borrowed for one call.
enum Platform<'a> {
    Sim(&'a sim::SimFleet),
    Ecs(&'a ecs::AwsProvider),
    Proxy(&'static proxy::ProxyProvider),
    Lambda(&'static lambda::provider::LambdaProvider),
    Fly(&'static fly::provider::FlyProvider),
    Kube(&'static kubernetes::provider::KubeProvider),
}

impl AnyProvider {
    /// Why the provider's cache file could not be used, once (then `None`).
    pub fn cache_warning(&self) -> Option<String> {
        let own = match self {
            Self::Sim(_) => None,
            Self::Aws(p) => p.cache_warning(),
        };
        match (own, lambda::artifacts::take_warning()) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        }
    }

    /// The API calls this process made, per environment and operation, on
    /// every platform that counts them (ECS and CloudWatch, the Machines
    /// API): `status --json`'s diagnostics. `None` in simulator mode, where
    /// nothing is called.
    pub fn accounting(&self) -> Option<crate::aws::Accounting> {
        let mut out = match self {
            Self::Aws(p) => p.accounting(),
            Self::Sim(_) => crate::aws::Accounting::new(),
        };
        for (env, ops) in fly::provider::provider().accounting() {
            let mine = out.entry(env).or_default();
            for (op, n) in ops {
                *mine.entry(op).or_default() += n;
            }
        }
        (matches!(self, Self::Aws(_)) || !out.is_empty()).then_some(out)
    }

    /// Writes what the provider learned to its cache file, if it keeps one.
    pub fn save_cache(&self) {
        if let Self::Aws(p) = self {
            p.save_cache();
        }
        lambda::artifacts::save();
    }

    fn platform(&self, kind: PlatformKind) -> Platform<'_> {
        match (kind, self) {
            (PlatformKind::Proxy, _) => Platform::Proxy(proxy::provider()),
            (PlatformKind::Lambda, _) => Platform::Lambda(lambda::provider::provider()),
            (PlatformKind::Fly, _) => Platform::Fly(fly::provider::provider()),
            (PlatformKind::Kubernetes, _) => Platform::Kube(kubernetes::provider::provider()),
            (PlatformKind::Ecs, Self::Sim(p)) => Platform::Sim(p),
            (PlatformKind::Ecs, Self::Aws(p)) => Platform::Ecs(p),
        }
    }

    /// Who reads a service: in simulator mode the simulator, for every
    /// service its fleet serves (ECS, and a service it declares on another
    /// platform); otherwise its platform's implementation (a real proxy
    /// beside simulated stages).
    fn reader(&self, env: &EnvConfig, service: &ServiceConfig) -> Reader {
        match self {
            Self::Sim(p) if p.simulates(env, service) => Reader::Simulator,
            _ => Reader::Platform(service.platform),
        }
    }

    /// Where a service's calls go (see [`Self::reader`]).
    fn serving(&self, env: &EnvConfig, service: &ServiceConfig) -> Platform<'_> {
        match (self.reader(env, service), self) {
            (Reader::Simulator, Self::Sim(p)) => Platform::Sim(p),
            _ => self.platform(service.platform),
        }
    }
}

/// Who reads a service: the simulator (every platform it simulates, in one
/// reading), or a platform's own implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader {
    Simulator,
    Platform(PlatformKind),
}

/// `env` with only the services `keep` holds, on `platform`: what one
/// reader reads.
fn only(
    env: &EnvConfig,
    keep: impl Fn(&ServiceConfig) -> bool,
    platform: PlatformKind,
) -> EnvConfig {
    let mut part = env.clone();
    part.services = std::sync::Arc::new(env.services.iter().filter(|s| keep(s)).cloned().collect());
    part.service_index = crate::index::NameIndex::default();
    part.platform = platform;
    part
}

/// The worse of two states of one source: failed beats read, read beats
/// unused.
fn worse(a: SourceState, b: SourceState) -> SourceState {
    match (a, b) {
        (f @ SourceState::Failed { .. }, _) | (_, f @ SourceState::Failed { .. }) => f,
        (SourceState::Ready, _) | (_, SourceState::Ready) => SourceState::Ready,
        (SourceState::NotUsed, SourceState::NotUsed) => SourceState::NotUsed,
    }
}

/// One reading of an environment from the readings of its platforms: the
/// services in configuration order, every warning, each source at its worst,
/// and the oldest reading's time (nothing looks fresher than its oldest part).
fn merge(env: &EnvConfig, parts: Vec<EnvSnapshot>) -> EnvSnapshot {
    let mut out = EnvSnapshot {
        env: env.name.clone(),
        read_at: parts.iter().map(|p| p.read_at).min().unwrap_or_default(),
        services: Vec::with_capacity(env.services.len()),
        warnings: Vec::new(),
        sources: Sources::default(),
        index: crate::model::ServiceIndex::default(),
    };
    let mut all = Vec::new();
    for p in parts {
        out.warnings.extend(p.warnings);
        out.sources = Sources {
            alarms: worse(out.sources.alarms, p.sources.alarms),
            metrics: worse(out.sources.metrics, p.sources.metrics),
        };
        all.extend(p.services);
    }
    let order = |name: &str| env.services.iter().position(|s| s.name == name);
    all.sort_by_key(|s| order(&s.name));
    out.services = all;
    out
}

impl AnyProvider {
    async fn read_kind(
        &self,
        env: &EnvConfig,
        kind: PlatformKind,
        scope: ReadScope,
    ) -> Result<EnvSnapshot, ProviderError> {
        // The SDK's futures are large: keep them off the callers' stacks.
        match self.platform(kind) {
            Platform::Sim(p) => p.read_env(env, scope).await,
            Platform::Ecs(p) => Box::pin(p.read_env(env, scope)).await,
            Platform::Proxy(p) => Box::pin(Provider::read_env(p, env, scope)).await,
            Platform::Lambda(p) => Box::pin(Provider::read_env(p, env, scope)).await,
            Platform::Fly(p) => Box::pin(Provider::read_env(p, env, scope)).await,
            Platform::Kube(p) => Box::pin(Provider::read_env(p, env, scope)).await,
        }
    }
}

impl Provider for AnyProvider {
    async fn read_env(
        &self,
        env: &EnvConfig,
        scope: ReadScope,
    ) -> Result<EnvSnapshot, ProviderError> {
        let mut readers: Vec<Reader> = Vec::new();
        for s in env.services.iter() {
            let r = self.reader(env, s);
            if !readers.contains(&r) {
                readers.push(r);
            }
        }
        match readers.as_slice() {
            [] => self.read_kind(env, env.platform, scope).await,
            // The simulator reads every service it serves in one reading.
            [Reader::Simulator] => match self {
                Self::Sim(p) => p.read_env(env, scope).await,
                Self::Aws(_) => self.read_kind(env, env.platform, scope).await,
            },
            [Reader::Platform(one)] if *one == env.platform => {
                self.read_kind(env, *one, scope).await
            }
            _ => {
                // A board's rows may mix platforms: each reads its own
                // services; one that cannot be read fails the reading, as a
                // whole reading fails when its one platform cannot be read.
                // One platform after the other: a mixed environment has a
                // handful of platforms, each read with its own budget.
                let mut parts = Vec::with_capacity(readers.len());
                for r in readers {
                    let (k, mine) = match r {
                        Reader::Simulator => (env.platform, true),
                        Reader::Platform(k) => (k, false),
                    };
                    let part = only(env, |s| self.reader(env, s) == r, k);
                    let names: Vec<&str> = kinds(&part).iter().map(|k| k.name()).collect();
                    let read = match (mine, self) {
                        (true, Self::Sim(p)) => p.read_env(&part, scope).await,
                        _ => Box::pin(self.read_kind(&part, k, scope)).await,
                    };
                    parts.push(read.map_err(|e| with_platform(e, &names.join("+")))?);
                }
                Ok(merge(env, parts))
            }
        }
    }

    async fn history(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        current: &Revision,
    ) -> Result<Vec<RevisionInfo>, ProviderError> {
        match self.serving(env, service) {
            Platform::Sim(p) => p.history(env, service, current).await,
            Platform::Ecs(p) => Box::pin(p.history(env, service, current)).await,
            Platform::Proxy(p) => Box::pin(Provider::history(p, env, service, current)).await,
            Platform::Lambda(p) => Box::pin(Provider::history(p, env, service, current)).await,
            Platform::Fly(p) => Box::pin(Provider::history(p, env, service, current)).await,
            Platform::Kube(p) => Box::pin(Provider::history(p, env, service, current)).await,
        }
    }

    async fn deploy(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        digest: &Digest,
    ) -> Result<DeployStarted, ProviderError> {
        match self.serving(env, service) {
            Platform::Sim(p) => p.deploy(env, service, digest).await,
            Platform::Ecs(p) => Box::pin(p.deploy(env, service, digest)).await,
            Platform::Proxy(p) => Box::pin(Provider::deploy(p, env, service, digest)).await,
            Platform::Lambda(p) => Box::pin(Provider::deploy(p, env, service, digest)).await,
            Platform::Fly(p) => Box::pin(Provider::deploy(p, env, service, digest)).await,
            Platform::Kube(p) => Box::pin(Provider::deploy(p, env, service, digest)).await,
        }
    }

    async fn redeploy(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        digest: &Digest,
    ) -> Result<DeployStarted, ProviderError> {
        match self.serving(env, service) {
            Platform::Sim(p) => p.redeploy(env, service, digest).await,
            Platform::Ecs(p) => Box::pin(p.redeploy(env, service, digest)).await,
            Platform::Proxy(p) => Box::pin(Provider::redeploy(p, env, service, digest)).await,
            Platform::Lambda(p) => Box::pin(Provider::redeploy(p, env, service, digest)).await,
            Platform::Fly(p) => Box::pin(Provider::redeploy(p, env, service, digest)).await,
            Platform::Kube(p) => Box::pin(Provider::redeploy(p, env, service, digest)).await,
        }
    }

    async fn deploy_as(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        digest: &Digest,
        by: &crate::provider::Asking,
    ) -> Result<DeployStarted, ProviderError> {
        match self.serving(env, service) {
            Platform::Kube(p) => Box::pin(p.deploy_as(env, service, digest, by)).await,
            _ if by.rollback => self.redeploy(env, service, digest).await,
            _ => self.deploy(env, service, digest).await,
        }
    }

    async fn rollback(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        to: &Revision,
    ) -> Result<DeployStarted, ProviderError> {
        match self.serving(env, service) {
            Platform::Sim(p) => p.rollback(env, service, to).await,
            Platform::Ecs(p) => Box::pin(p.rollback(env, service, to)).await,
            Platform::Proxy(p) => Box::pin(Provider::rollback(p, env, service, to)).await,
            Platform::Lambda(p) => Box::pin(Provider::rollback(p, env, service, to)).await,
            Platform::Fly(p) => Box::pin(Provider::rollback(p, env, service, to)).await,
            Platform::Kube(p) => Box::pin(Provider::rollback(p, env, service, to)).await,
        }
    }

    async fn decide_step(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        shift: &crate::model::Shift,
        decision: crate::model::Decision,
    ) -> Result<String, ProviderError> {
        match self.serving(env, service) {
            Platform::Sim(p) => p.decide_step(env, service, shift, decision).await,
            Platform::Ecs(p) => Box::pin(p.decide_step(env, service, shift, decision)).await,
            Platform::Proxy(p) => p.decide_step(env, service, shift, decision).await,
            Platform::Lambda(p) => Box::pin(p.decide_step(env, service, shift, decision)).await,
            Platform::Fly(p) => Box::pin(p.decide_step(env, service, shift, decision)).await,
            Platform::Kube(p) => Box::pin(p.decide_step(env, service, shift, decision)).await,
        }
    }

    async fn logs(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        query: &LogQuery,
    ) -> Result<LogPage, ProviderError> {
        match self.serving(env, service) {
            Platform::Sim(p) => p.logs(env, service, query).await,
            Platform::Ecs(p) => Box::pin(p.logs(env, service, query)).await,
            Platform::Proxy(p) => Provider::logs(p, env, service, query).await,
            Platform::Lambda(p) => Provider::logs(p, env, service, query).await,
            Platform::Fly(p) => Provider::logs(p, env, service, query).await,
            Platform::Kube(p) => Provider::logs(p, env, service, query).await,
        }
    }
}

/// A failed reading of one platform of a mixed environment says which.
fn with_platform(e: ProviderError, name: &str) -> ProviderError {
    match e {
        ProviderError::Network { message } => ProviderError::Network {
            message: format!("{name}: {message}"),
        },
        ProviderError::Other { message } => ProviderError::Other {
            message: format!("{name}: {message}"),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In simulator mode a service on the proxy platform goes to the
    /// simulator where its fleet declares it (the demo's storefront), and to
    /// a real proxy where it does not (an `edge` beside simulated stages).
    #[test]
    fn the_simulator_serves_what_its_fleet_declares_and_a_real_proxy_the_rest() {
        let clock = std::sync::Arc::new(crate::clock::ManualClock::new(chrono::Utc::now()));
        let sim = AnyProvider::Sim(sim::SimFleet::demo(7, clock).unwrap());
        let demo = crate::config::demo().unwrap();
        let staging = demo.env("staging").unwrap();
        for s in staging.services.iter() {
            assert_eq!(sim.reader(staging, s), Reader::Simulator, "{}", s.name);
        }
        let edge = crate::config::parse_str(
            "provider = \"simulated\"\n[[environment]]\nname = \"edge\"\nplatform = \"proxy\"\n\
             [environment.proxy]\nkind = \"haproxy\"\nurl = \"http://127.0.0.1:8080\"\nsocket = \"127.0.0.1:9999\"\n\
             [[environment.service]]\nname = \"storefront\"\nblue = \"http://127.0.0.1:5001\"\n\
             green = \"http://127.0.0.1:5002\"\ndeploy = [\"./deploy\", \"{colour}\", \"{digest}\"]\n",
            "edge.toml",
            None,
        )
        .unwrap();
        let edge = edge.env("edge").unwrap();
        assert_eq!(
            sim.reader(edge, &edge.services[0]),
            Reader::Platform(PlatformKind::Proxy)
        );
    }

    #[test]
    fn every_kind_declares_its_capabilities() {
        assert!(capabilities(PlatformKind::Ecs).pauses);
        assert!(!capabilities(PlatformKind::Proxy).pauses);
        assert!(capabilities(PlatformKind::Proxy).runs_in_process);
    }

    #[test]
    fn a_source_is_as_bad_as_its_worst_part() {
        let failed = SourceState::Failed { error: "x".into() };
        assert_eq!(worse(SourceState::Ready, failed.clone()), failed);
        assert_eq!(
            worse(SourceState::NotUsed, SourceState::Ready),
            SourceState::Ready
        );
        assert_eq!(
            worse(SourceState::NotUsed, SourceState::NotUsed),
            SourceState::NotUsed
        );
    }
}
