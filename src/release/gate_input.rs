//! The gate input assembled from readings: everything a target's gate looks at.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::gate::{self, GateInput, GateResult};
use crate::health::SmokeResult;
use crate::ledger::GateEntry;
use crate::model::{Digest, Health, RolloutState, ServiceSnapshot};

use super::{Answers, Plan, service_config};

/// Whether a health reading has been good for `window` (`None`: nothing to tell).
pub fn healthy_stable(h: &Health, window: Duration) -> Option<bool> {
    match h {
        Health::Healthy { healthy_for, .. } => Some(*healthy_for >= window),
        Health::Unhealthy { .. } => Some(false),
        Health::Unknown | Health::NotConfigured => None,
    }
}

/// How long `digest` has run in a service: since its deployment began, once completed.
pub fn soaked_for(s: &ServiceSnapshot, digest: &Digest, now: DateTime<Utc>) -> Option<Duration> {
    if s.digest.as_ref() != Some(digest) {
        return None;
    }
    let primary = s
        .deployments
        .iter()
        .find(|d| d.role == crate::model::DeploymentRole::Primary)?;
    match primary.rollout {
        RolloutState::Completed => Some((now - primary.created_at).to_std().unwrap_or_default()),
        RolloutState::InProgress => Some(Duration::ZERO),
        _ => None,
    }
}

/// Readings a gate looks at, besides the plan.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    /// The service in the source.
    pub source: Option<&'a ServiceSnapshot>,
    /// The service in the target, as read (`None`: not read, or not there).
    pub target: Option<&'a ServiceSnapshot>,
    /// Source reading current.
    pub source_fresh: bool,
    /// Target reading current.
    pub target_fresh: bool,
    /// Other sources the gate reads that are not current ([`stale_sources`]).
    pub stale: Vec<String>,
    /// Smoke results of the source, if run.
    pub smoke: Option<&'a [SmokeResult]>,
    /// Now.
    pub now: DateTime<Utc>,
    /// Who holds the target's lock, if anyone.
    pub in_flight: Option<String>,
    /// Distinct valid approvers.
    pub approvers: &'a [String],
    /// Who runs the promotion.
    pub initiator: &'a str,
    /// The digest's supply-chain evidence, judged (`None`: not read yet).
    pub supply: Option<&'a crate::supply::Assessment>,
}

/// Evaluates the target's gate for `plan`.
pub fn gate_for(cfg: &Config, plan: &Plan, obs: &Observed<'_>, answers: &Answers) -> GateResult {
    let Some(target) = cfg.environments.get(plan.target.index()) else {
        return GateResult {
            checks: Vec::new(),
            go: false,
        };
    };
    let source_env = cfg.environments.get(plan.source.index());
    let window = service_config(cfg, plan.source, &plan.service)
        .and_then(|s| s.health.as_ref())
        .map_or(crate::config::DEFAULT_STABILITY_WINDOW, |h| {
            h.stability_window
        });
    let change = answers.change_record.trim();
    let reason = answers.hotfix_reason.trim();
    let target_kind = service_config(cfg, plan.target, &plan.service).map(|s| s.platform);
    let places = target_kind.is_some_and(|k| crate::platforms::capabilities(k).places);
    let target_regions = obs.target.and_then(|t| t.regions.as_deref());
    gate::evaluate(&GateInput {
        policy: &target.gate,
        source: obs.source,
        source_self_rollback: service_config(cfg, plan.source, &plan.service)
            .and_then(|s| crate::platforms::self_rollback(s.platform)),
        source_fresh: obs.source_fresh,
        target_fresh: obs.target_fresh,
        stale: &obs.stale,
        digest: plan.digest.as_ref(),
        source_healthy_stable: obs.source.and_then(|s| healthy_stable(&s.health, window)),
        smoke: obs.smoke,
        smoke_configured: source_env.is_some_and(|e| !e.smoke.is_empty()),
        soaked_for: match (obs.source, plan.digest.as_ref()) {
            (Some(s), Some(d)) => soaked_for(s, d, obs.now),
            _ => None,
        },
        now: obs.now,
        in_flight: obs.in_flight.clone(),
        ticked: &answers.ticked,
        approvers: obs.approvers,
        initiator: obs.initiator,
        change_record: (!change.is_empty()).then_some(change),
        hotfix_reason: (!reason.is_empty()).then_some(reason),
        hotfix: plan.hotfix,
        skipped: &plan.skipped,
        change_type: plan.change_type.as_deref(),
        change_types: &cfg.change_types,
        roles: &cfg.roles,
        overrides: &answers.overrides,
        target_regions,
        target_places: places,
        target_platform: target_kind.map_or("its platform", crate::config::PlatformKind::name),
        target_units: placement_units(obs.target, target_kind),
        supply: obs.supply,
    })
}

/// What the target's placements are, plural: the service itself where a
/// platform places it whole (ECS, Lambda: one region per service), else the
/// platform's units (`machines`).
fn placement_units(
    target: Option<&ServiceSnapshot>,
    kind: Option<crate::config::PlatformKind>,
) -> &'static str {
    let whole = target.is_some_and(|t| {
        t.regions
            .as_deref()
            .is_some_and(|r| r.iter().all(|p| *p.unit == *t.ecs_service))
    });
    match kind.and_then(|k| crate::platforms::capabilities(k).units) {
        Some(units) if !whole => units,
        _ => "services",
    }
}

/// The sources of the promotion's source environment that a gate reads and
/// that are not current, as reasons (`alarms of staging: …`).
pub fn stale_sources(env: &str, sources: &crate::model::Sources) -> Vec<String> {
    sources
        .alarms
        .error()
        .map(|e| format!("alarms of {env} unreadable: {e}"))
        .into_iter()
        .collect()
}

/// Gate checks as ledger entries.
pub fn gate_entries(result: &GateResult) -> Vec<GateEntry> {
    result
        .checks
        .iter()
        .map(|c| GateEntry {
            check: c.name.clone(),
            verdict: if c.overridden {
                "overridden".to_string()
            } else {
                format!("{:?}", c.verdict).to_lowercase()
            },
            reason: c.reason.clone(),
        })
        .collect()
}
