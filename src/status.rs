//! `shipdeck status`: the quick, scriptable glance.
//!
//! The JSON form is a stable, versioned schema (see README "status --json").

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::model::drift::{self, Behind};
use crate::model::{
    AlarmState, AlarmSummary, EnvSnapshot, Freshness, Health, Pinning, RolloutState, Sources,
    sanitize,
};
use crate::provider::{Provider, ProviderError};

mod problems;
mod table;
#[cfg(test)]
mod tests;

pub use problems::{Problem, ProblemKind, Severity};
pub use table::{Style, health_label, render_table};

/// Version of the JSON schema; bumped only on incompatible changes.
pub const SCHEMA_VERSION: u32 = 2;

/// An image label as JSON carries it: sanitised, `None` when blank.
fn label(text: Option<&str>) -> Option<String> {
    text.map(|t| sanitize(t.trim())).filter(|t| !t.is_empty())
}

/// Exit code of `status` when a rollout is in flight (or paused for a
/// decision) and nothing is degraded or unknown. Not 4: `promote` and
/// `rollback` say *unrecorded* with 4.
pub const EXIT_IN_PROGRESS: i32 = 5;

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// Schema version, currently 2.
    pub schema_version: u32,
    /// When the report was made.
    pub generated_at: DateTime<Utc>,
    /// True unless everything is healthy: something is degraded (exit code 1),
    /// something could not be read (`unknown`, exit code 3), or a rollout is in
    /// flight (`in_progress`, exit code 5).
    pub degraded: bool,
    /// Something could not be read (alarms unreadable or not found,
    /// INSUFFICIENT_DATA, a source down): never healthy.
    #[serde(default)]
    pub unknown: bool,
    /// What is unknown, one line each: `env: reason` or `env/service: reason`.
    #[serde(default)]
    pub unknowns: Vec<String>,
    /// A rollout is in flight somewhere (rolling, or traffic moving in steps,
    /// perhaps paused for a decision): not all healthy yet.
    #[serde(default)]
    pub in_progress: bool,
    /// What the report amounts to, the exit code's reason: `healthy` (0),
    /// `degraded` (1), `unknown` (3) or `in_progress` (5).
    #[serde(default)]
    pub verdict: Verdict,
    /// Every problem, named: degraded, unknown and in-flight cells (and whole
    /// environments), each with its reason.
    #[serde(default)]
    pub problems: Vec<Problem>,
    /// Environments in promotion order.
    pub environments: Vec<EnvStatus>,
    /// Services, each with one cell per environment.
    pub services: Vec<ServiceStatus>,
    /// Provider diagnostics (AWS: API calls per environment and operation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Diagnostics>,
}

/// How the readings were obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostics {
    /// API calls made, per environment and operation.
    pub api_calls: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>>,
}

/// One environment's header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvStatus {
    /// Name.
    pub name: String,
    /// The platforms its services run on (`ecs`, `proxy`, `ecs+proxy`).
    pub platform: String,
    /// Where they run, per platform: an ECS `region/cluster`, a proxy's kind
    /// and address (version 1's `region` and `cluster`).
    pub location: String,
    /// Production stage.
    pub production: bool,
    /// How current the ECS data is.
    pub freshness: Freshness,
    /// How the other sources fared: CloudWatch alarms and metrics.
    #[serde(default)]
    pub sources: Sources,
    /// Per-service problems that did not fail the reading.
    pub warnings: Vec<String>,
}

/// One service across environments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// shipdeck service name.
    pub name: String,
    /// One cell per environment, in promotion order.
    pub cells: Vec<CellStatus>,
}

/// One service in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellStatus {
    /// Environment name.
    pub env: String,
    /// `deployed`, `not_configured` (the environment does not list the service),
    /// `missing` (listed but not found) or `no_data` (environment unreadable).
    pub presence: Presence,
    /// Full image reference.
    pub image: Option<String>,
    /// The image's tag, when its reference names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The image's version label, where it is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The commit the image was built from, whole, as its label says
    /// (`org.opencontainers.image.revision`), where it is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_revision: Option<String>,
    /// Where the image's source lives, as its label says
    /// (`org.opencontainers.image.source`), where it is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_source: Option<String>,
    /// Where the service's units run (`[{"unit": "148ed726c5d918", "region":
    /// "fra"}]`), where its platform places them and they were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<Vec<crate::model::Placement>>,
    /// Full digest.
    pub digest: Option<String>,
    /// First 12 hex characters of the digest.
    pub short_digest: Option<String>,
    /// How the digest was learned.
    pub pinning: Option<Pinning>,
    /// The platform the service runs on here (`ecs`, `proxy`).
    pub platform: Option<String>,
    /// The revision it runs: `family:12` (an ECS task definition, numbered)
    /// or `family@label` (a proxy colour); version 1's `task_definition`.
    pub revision: Option<String>,
    /// Rollout state of the primary deployment.
    pub rollout: Option<RolloutState>,
    /// Tasks running.
    pub running: Option<u32>,
    /// Tasks desired.
    pub desired: Option<u32>,
    /// Alarm aggregate.
    pub alarms: Option<AlarmSummary>,
    /// Names of alarms in ALARM.
    pub alarms_firing: Vec<String>,
    /// Health reading.
    pub health: Option<Health>,
    /// Lag behind the previous stage.
    pub behind: Behind,
    /// The previous stage's digest can be promoted here.
    pub promotable: bool,
    /// Counts towards exit code 1.
    pub degraded: bool,
    /// A rollout in flight here (counts towards exit code 5): never up to date
    /// or healthy-and-done while it is.
    #[serde(default)]
    pub in_progress: bool,
    /// What about this cell could not be read, with reasons (exit code 3 when
    /// nothing is degraded).
    #[serde(default)]
    pub unknown: Vec<String>,
    /// What the platform shows of the service beyond the fields above, in
    /// its own words (an ECS task definition's ARN; behind a proxy, both
    /// colours and the proxy's counters): version 1's `proxy`.
    #[serde(
        default,
        skip_serializing_if = "crate::model::PlatformDetail::is_empty"
    )]
    pub detail: crate::model::PlatformDetail,
    /// A stepped rollout in flight (canary, linear): its weights and step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift: Option<crate::model::Shift>,
    /// The same in a few words (`◐ canary 10% · 3m left`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift_cell: Option<String>,
}

/// Whether a cell has data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Service read.
    Deployed,
    /// The environment does not list this service.
    NotConfigured,
    /// Listed in the config but not found in the cluster.
    Missing,
    /// The environment could not be read.
    NoData,
}

/// Which environments and services to show.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Environment names (all when empty).
    pub envs: Vec<String>,
    /// Service names (all when empty).
    pub services: Vec<String>,
}

/// Reads every environment concurrently; a failing one never blocks the others.
pub async fn read_all<P: Provider>(
    config: &Config,
    provider: &P,
) -> Vec<Result<EnvSnapshot, ProviderError>> {
    let reads = config.environments.iter().map(|env| {
        crate::provider::read_with_timeout(provider, env, crate::provider::ReadScope::STATUS)
    });
    futures::future::join_all(reads).await
}

/// Probes every configured health endpoint once (bounded concurrency) and puts
/// the results into the readings, replacing whatever health the provider had.
pub async fn probe_all(
    config: &Config,
    readings: &mut [Result<EnvSnapshot, ProviderError>],
    client: &reqwest::Client,
    secrets: &crate::secrets::Secrets,
    clock: &dyn crate::clock::Clock,
) {
    use futures::StreamExt;
    let mut jobs = Vec::new();
    for (i, env) in config.environments.iter().enumerate() {
        if readings.get(i).is_some_and(Result::is_ok) {
            for svc in env.services.iter() {
                if let Some(h) = &svc.health {
                    jobs.push((i, svc.name.clone(), h.clone()));
                }
            }
        }
    }
    let results: Vec<_> = futures::stream::iter(jobs)
        .map(|(i, name, check)| async move {
            let r = crate::health::probe(client, &check, secrets, || clock.now()).await;
            (i, name, r)
        })
        .buffer_unordered(crate::health::PROBES_IN_FLIGHT)
        .collect()
        .await;
    for (i, name, r) in results {
        tracing::debug!(service = %name, ok = r.ok, status = ?r.status, reason = %r.reason, "health probed");
        if let Some(Ok(snap)) = readings.get_mut(i)
            && let Some(s) = snap.services.iter_mut().find(|s| s.name == name)
        {
            // One probe says nothing about stability yet.
            s.health = r.to_health(Duration::ZERO);
        }
    }
}

/// Builds the report from readings (pure).
pub fn build(
    config: &Config,
    readings: &[Result<EnvSnapshot, ProviderError>],
    filter: &Filter,
    now: DateTime<Utc>,
) -> StatusReport {
    let env_names = config.env_names();
    let snaps: Vec<Option<&EnvSnapshot>> = readings.iter().map(|r| r.as_ref().ok()).collect();
    let service_names = config.service_names();
    let rows = drift::drift(&service_names, &env_names, &snaps);
    let keep_env = |name: &str| filter.envs.is_empty() || filter.envs.iter().any(|e| e == name);
    let keep_svc =
        |name: &str| filter.services.is_empty() || filter.services.iter().any(|s| s == name);

    let mut degraded = false;
    let mut unknowns: Vec<String> = Vec::new();
    let mut found: Vec<Problem> = Vec::new();
    let mut environments = Vec::new();
    for (env, reading) in config.environments.iter().zip(readings) {
        if !keep_env(&env.name) {
            continue;
        }
        let (freshness, warnings, sources) = match reading {
            Ok(s) => (
                Freshness::Ready { at: s.read_at },
                s.warnings.iter().map(|w| sanitize(w)).collect(),
                s.sources.clone(),
            ),
            Err(e) => {
                degraded = true;
                found.push(problems::env_problem(
                    &env.name,
                    ProblemKind::Unreadable,
                    &format!("unreadable: {e}"),
                ));
                (
                    Freshness::Failed {
                        error: sanitize(&e.to_string()),
                    },
                    Vec::new(),
                    Sources::default(),
                )
            }
        };
        for why in sources.failed() {
            unknowns.push(sanitize(&format!("{}: {why}", env.name)));
            found.push(problems::env_problem(&env.name, ProblemKind::Unknown, &why));
        }
        let (platform, location) = crate::platforms::summary(env);
        environments.push(EnvStatus {
            name: env.name.clone(),
            platform,
            location,
            production: env.production,
            freshness,
            sources,
            warnings,
        });
    }

    let mut services = Vec::new();
    for row in rows {
        if !keep_svc(&row.service) {
            continue;
        }
        let mut cells = Vec::new();
        for (i, env) in config.environments.iter().enumerate() {
            if !keep_env(&env.name) {
                continue;
            }
            let reading = snaps[i];
            let svc = reading.and_then(|s| s.service(&row.service));
            let cfg_svc = env.service(&row.service);
            let presence = match (cfg_svc, reading, svc) {
                (None, _, _) => Presence::NotConfigured,
                (Some(_), None, _) => Presence::NoData,
                (Some(_), Some(_), None) => Presence::Missing,
                (Some(_), Some(_), Some(_)) => Presence::Deployed,
            };
            let drift_cell = row.cells.get(i).and_then(Option::as_ref);
            let cell_degraded = svc.is_some_and(crate::model::ServiceSnapshot::is_degraded)
                || presence == Presence::Missing;
            degraded |= cell_degraded;
            let unknown: Vec<String> = svc
                .map(|s| {
                    s.unknowns(env.gate.allow_insufficient_data)
                        .iter()
                        .map(|u| sanitize(u))
                        .collect()
                })
                .unwrap_or_default();
            for u in &unknown {
                unknowns.push(format!("{}/{}: {u}", env.name, row.service));
            }
            if presence == Presence::Missing {
                found.push(problems::Problem {
                    service: Some(row.service.clone()),
                    ..problems::env_problem(
                        &env.name,
                        ProblemKind::Missing,
                        &format!(
                            "service {} not found ({})",
                            row.service,
                            cfg_svc.map_or_else(String::new, |c| crate::platforms::location(
                                env, c.platform
                            ))
                        ),
                    )
                });
            }
            // What the platform counts running, if anything.
            let units = cfg_svc.map_or(Some("tasks"), |c| {
                crate::platforms::capabilities(c.platform).units
            });
            if let Some(s) = svc {
                found.extend(problems::cell_problems(
                    &env.name,
                    &row.service,
                    s,
                    &unknown,
                    cfg_svc.and_then(|c| crate::platforms::self_rollback(c.platform)),
                    units,
                    now,
                ));
            }
            let in_progress = svc.is_some_and(|s| s.rollout_in_flight() && !s.rollout().is_bad());
            let shift = svc.and_then(crate::release::step::in_flight);
            cells.push(CellStatus {
                env: env.name.clone(),
                presence,
                image: svc.and_then(|s| s.image.as_ref().map(ToString::to_string)),
                tag: svc.and_then(|s| s.image.as_ref()?.tag.as_deref().map(sanitize)),
                version: svc.and_then(|s| s.image.as_ref()?.version.as_deref().map(sanitize)),
                image_revision: svc.and_then(|s| label(s.image.as_ref()?.revision.as_deref())),
                image_source: svc.and_then(|s| label(s.image.as_ref()?.source.as_deref())),
                regions: svc.and_then(|s| {
                    s.regions.as_ref().map(|r| {
                        r.iter()
                            .map(|p| {
                                crate::model::Placement::new(sanitize(&p.unit), sanitize(&p.region))
                            })
                            .collect()
                    })
                }),
                digest: svc.and_then(|s| s.digest.as_ref().map(ToString::to_string)),
                short_digest: svc.and_then(|s| s.digest.as_ref().map(|d| d.short().to_string())),
                pinning: svc.map(|s| s.pinning),
                platform: cfg_svc.map(|s| s.platform.name().to_string()),
                revision: svc.and_then(|s| s.task_definition.as_ref().map(ToString::to_string)),
                rollout: svc.map(crate::model::ServiceSnapshot::rollout),
                // Only where the platform counts something (not a Lambda alias).
                running: svc.filter(|_| units.is_some()).map(|s| s.running),
                desired: svc.filter(|_| units.is_some()).map(|s| s.desired),
                alarms: svc.map(crate::model::ServiceSnapshot::alarm_summary),
                alarms_firing: svc
                    .map(|s| {
                        s.alarms
                            .iter()
                            .filter(|a| a.state == AlarmState::Alarm)
                            .map(|a| sanitize(&a.name))
                            .collect()
                    })
                    .unwrap_or_default(),
                health: svc.map(|s| match &s.health {
                    Health::Unhealthy { status, reason } => Health::Unhealthy {
                        status: *status,
                        reason: sanitize(reason),
                    },
                    h => h.clone(),
                }),
                behind: drift_cell.map_or(Behind::Unknown, |c| c.behind),
                promotable: drift_cell.is_some_and(|c| c.promotable),
                degraded: cell_degraded,
                in_progress,
                unknown,
                detail: svc.map(|s| s.detail.clone()).unwrap_or_default(),
                shift_cell: shift.map(|sh| sh.cell(now)),
                shift: shift.cloned(),
            });
        }
        services.push(ServiceStatus {
            name: row.service,
            cells,
        });
    }
    let unknown = !unknowns.is_empty();
    let in_progress = services
        .iter()
        .flat_map(|s: &ServiceStatus| &s.cells)
        .any(|c| c.in_progress);
    let mut report = StatusReport {
        schema_version: SCHEMA_VERSION,
        generated_at: now,
        degraded: degraded || unknown || in_progress,
        unknown,
        unknowns,
        in_progress,
        verdict: Verdict::Unknown,
        problems: found,
        environments,
        services,
        diagnostics: None,
    };
    report.verdict = report.verdict();
    report
}

/// What a report amounts to, in the order exit codes rank it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Everything was read and is healthy, and no rollout is in flight (exit 0).
    Healthy,
    /// Something is known to be bad (exit 1), whatever else is unknown.
    Degraded,
    /// Nothing is known to be bad, but something could not be read (exit 3).
    /// (A report that names no verdict is unknown, never healthy.)
    #[default]
    Unknown,
    /// Everything was read and nothing is bad, but a rollout is in flight or
    /// paused for a decision (exit 5): not "all healthy" yet.
    InProgress,
}

impl StatusReport {
    /// Degraded beats unknown, which beats in progress; only a report with
    /// none of them is healthy.
    pub fn verdict(&self) -> Verdict {
        let bad = self
            .services
            .iter()
            .flat_map(|s| &s.cells)
            .any(|c| c.degraded)
            || self
                .environments
                .iter()
                .any(|e| !matches!(e.freshness, Freshness::Ready { .. }));
        if bad {
            Verdict::Degraded
        } else if self.unknown {
            Verdict::Unknown
        } else if self
            .services
            .iter()
            .flat_map(|s| &s.cells)
            .any(|c| c.in_progress)
        {
            Verdict::InProgress
        } else {
            Verdict::Healthy
        }
    }
}
