//! What a reading of one simulated service shows: its health, its image
//! (tag and version label beside the digest), deployments and revisions, as
//! DescribeServices and DescribeTaskDefinition would report them.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::SimService;
use crate::config::ServiceConfig;
use crate::model::{
    AlarmReading, Deployment, Health, History, MetricSeries, Pinning, RevisionInfo, RolloutState,
    ServiceSnapshot,
};
use crate::platforms::sim::fleet_file::FleetPinning;

impl SimService {
    pub(in crate::platforms::sim) fn health(&self, now: DateTime<Utc>) -> Health {
        let Some(_) = self.latency_ms else {
            return Health::NotConfigured;
        };
        if self.is_down(now) {
            return Health::Unhealthy {
                status: Some(503),
                reason: "answered 503 Service Unavailable, expected 200".to_string(),
            };
        }
        Health::Healthy {
            status: 200,
            latency: Duration::from_millis(u64::from(self.last_latency)),
            healthy_for: (now - self.healthy_since).to_std().unwrap_or_default(),
        }
    }

    /// Whether the health endpoint fails at `now`.
    pub(in crate::platforms::sim) fn is_down(&self, now: DateTime<Utc>) -> bool {
        self.health_forced_down
            || self.health_down_until.is_some_and(|t| t > now)
            || self.outages.iter().any(|o| o.down_at(now))
    }

    pub(in crate::platforms::sim) fn snapshot(
        &self,
        cfg: &ServiceConfig,
        now: DateTime<Utc>,
        alarms: &AlarmReading,
        metrics_error: Option<&str>,
    ) -> ServiceSnapshot {
        let current = self.revision_of(self.current);
        let digest = current.map(|r| r.digest.clone());
        let (mut image, digest, pinning) = match self.pinning {
            FleetPinning::Digest => (
                digest.as_ref().map(|d| {
                    let mut img = self.repo.pinned_to(d);
                    img.tag = current.and_then(|r| r.tag.clone());
                    img
                }),
                digest,
                Pinning::Pinned,
            ),
            FleetPinning::Tasks => {
                let mut img = self.repo.clone();
                img.tag = Some(self.tag.clone());
                (Some(img), digest, Pinning::ResolvedFromTasks)
            }
            FleetPinning::None => {
                let mut img = self.repo.clone();
                img.tag = Some(self.tag.clone());
                (Some(img), None, Pinning::Unpinned)
            }
        };
        // The image's version label, as a registry (or a docker label) gives it.
        if let Some(img) = &mut image {
            img.version = current.and_then(|r| r.version.clone());
        }
        let deployments: Vec<Deployment> = self
            .deployments
            .iter()
            .map(|d| Deployment {
                id: d.id.clone(),
                role: d.role,
                task_definition: self.task_def(d.revision),
                rollout: d.rollout,
                reason: d.reason.clone(),
                steps: Vec::new(),
                nothing_changed: false,
                shift: d
                    .shift
                    .as_ref()
                    .filter(|_| d.rollout == RolloutState::InProgress)
                    .map(|s| Box::new(self.shift_view(s, d, cfg, now, metrics_error))),
                running: d.running,
                desired: d.desired,
                pending: if d.rollout == RolloutState::InProgress {
                    d.desired.saturating_sub(d.running).min(1)
                } else {
                    0
                },
                failed_tasks: d.failed_tasks,
                created_at: d.created_at,
                updated_at: d.updated_at,
            })
            .collect();
        let running = deployments.iter().map(|d| d.running).sum();
        let pending = deployments.iter().map(|d| d.pending).sum();
        let (alarms, alarms_unknown) = alarms.watched(&cfg.alarms, &cfg.alarm_prefixes);
        ServiceSnapshot {
            detail: crate::platforms::ecs::words::detail(Some(&self.task_def(self.current))),
            logs: Some(self.log_config(crate::platforms::ecs::container(cfg))),
            name: cfg.name.clone(),
            ecs_service: self.ecs_service.clone(),
            image,
            digest,
            pinning,
            task_definition: Some(self.task_def(self.current)),
            running,
            desired: self.desired,
            pending,
            // As ECS judges it, by ECS's own rule.
            convergence: crate::platforms::ecs::convergence(running, self.desired, &deployments),
            deployments,
            deployment_config: self.config.clone(),
            alarms,
            alarms_unknown,
            health: if cfg.health.is_some() {
                self.health(now)
            } else {
                Health::NotConfigured
            },
            events: self.events.iter().cloned().collect(),
            history: self.history().clone(),
            metrics: cfg
                .metrics
                .iter()
                .map(|m| match metrics_error {
                    Some(e) => MetricSeries {
                        label: m.label.clone(),
                        points: Vec::new(),
                        error: Some(e.to_string()),
                    },
                    None => self.metric_series(m, &cfg.metrics, now),
                })
                .collect(),
            // Placed in the environment's region by the reading, as ECS's.
            regions: None,
        }
    }

    /// The family's revisions, oldest first, as ListTaskDefinitions plus
    /// DescribeTaskDefinition would report them.
    pub(in crate::platforms::sim) fn history(&self) -> &History {
        self.history.get_or_init(|| {
            std::sync::Arc::new(
                self.revisions
                    .iter()
                    .map(|r| RevisionInfo {
                        task_definition: self.minted_task_def(r.revision),
                        digest: match self.pinning {
                            FleetPinning::Digest => Some(r.digest.clone()),
                            _ => None,
                        },
                        active: r.active,
                    })
                    .collect(),
            )
        })
    }
}
