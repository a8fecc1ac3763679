//! A service behind a proxy as one reading shows it: the one builder of its
//! [`ServiceSnapshot`]. The proxy provider calls it with what it read from
//! the proxy and the colours; the simulator calls it with what it simulates,
//! so that a simulated blue/green service reads exactly as a real one.

use chrono::{DateTime, Utc};

use super::{ColourView, ProxyView, Traffic, revision};
use crate::config::proxy::Colour;
use crate::model::{
    Deployment, DeploymentConfig, DeploymentRole, Health, MetricSeries, Pinning, RolloutState,
    ServiceEvent, ServiceSnapshot, Strategy,
};

/// What one reading of a service behind a proxy found.
#[derive(Debug, Clone)]
pub struct ServiceReading {
    /// The proxy's kind, as [`super::ProxyKind::name`] says it.
    pub kind: &'static str,
    /// What the proxy switches: HAProxy backend, nginx upstream, Caddy handler.
    pub backend: String,
    /// The colour the proxy sends traffic to.
    pub live: Colour,
    /// What each colour answered, blue then green.
    pub colours: Vec<ColourView>,
    /// The proxy's counters.
    pub traffic: Traffic,
    /// The service's cutover or switch back as deployments, when one ran
    /// (`None`: the live colour, settled).
    pub run: Option<Vec<Deployment>>,
    /// The runbook's steps and the deploy command's output, newest first.
    pub events: Vec<ServiceEvent>,
    /// What the service answers through the proxy.
    pub health: Health,
    /// The proxy metrics configured for the service.
    pub metrics: Vec<MetricSeries>,
    /// When it was read.
    pub at: DateTime<Utc>,
}

/// The service `service` as `r` found it: the live colour is the current
/// revision, both colours its history (one that answers can be switched
/// back to), the run's deployments or the live colour settled.
pub fn service_snapshot(service: &str, r: ServiceReading) -> ServiceSnapshot {
    let view = ProxyView {
        kind: r.kind.to_string(),
        live: r.live,
        colours: r.colours,
        traffic: r.traffic,
    };
    let live_view = view.colour(r.live).cloned();
    let answering = live_view.as_ref().is_some_and(|v| v.answering);
    let current = r.live.revision_of(service);
    let history = view
        .colours
        .iter()
        .map(|v| revision(service, v))
        .collect::<Vec<_>>()
        .into();
    let deployments = r.run.unwrap_or_else(|| {
        vec![Deployment {
            id: format!("{service}-{}", r.live),
            role: DeploymentRole::Primary,
            task_definition: current.clone(),
            rollout: RolloutState::Completed,
            reason: None,
            steps: Vec::new(),
            nothing_changed: false,
            shift: None,
            running: u32::from(answering),
            desired: 1,
            pending: 0,
            failed_tasks: 0,
            created_at: r.at,
            updated_at: r.at,
        }]
    });
    let digest = live_view.as_ref().and_then(|v| v.digest.clone());
    ServiceSnapshot {
        // The proxy has no regions.
        regions: None,
        name: service.to_string(),
        ecs_service: format!("{} {}", r.kind, r.backend),
        image: None,
        pinning: if digest.is_some() {
            Pinning::Pinned
        } else {
            Pinning::Unpinned
        },
        digest,
        task_definition: Some(current),
        running: u32::from(answering),
        desired: 1,
        pending: 0,
        convergence: super::runbook::convergence(&deployments, answering),
        deployments,
        deployment_config: DeploymentConfig {
            circuit_breaker: false,
            circuit_breaker_rollback: false,
            alarm_rollback: false,
            strategy: Strategy::Other {
                name: format!("blue/green on {}", r.kind),
            },
        },
        alarms: Vec::new(),
        alarms_unknown: None,
        // The deploy command's output is its log (see `logs`).
        logs: None,
        health: r.health,
        events: r.events,
        history,
        metrics: r.metrics,
        detail: view.detail(),
    }
}
