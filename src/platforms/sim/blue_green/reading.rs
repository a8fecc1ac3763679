//! What a reading of a simulated blue/green service shows: both colours'
//! answers, the proxy's counters, health through the proxy and the proxy
//! metrics, handed to the proxy's own snapshot builder
//! ([`crate::platforms::proxy::snapshot::service_snapshot`]).

use chrono::{DateTime, Utc};

use super::run::Outside;
use super::{SimBlueGreen, noise};
use crate::config::proxy::{Colour, ProxyKind};
use crate::config::{EnvConfig, MetricSource, ProxyMetric, ServiceConfig};
use crate::model::logs::LogPage;
use crate::model::{Deployment, Health, MetricSeries, RevisionInfo, RolloutState, ServiceSnapshot};
use crate::platforms::proxy::snapshot::{ServiceReading, service_snapshot};
use crate::platforms::proxy::{ColourView, Counters, Traffic};
use crate::provider::LogQuery;

impl SimBlueGreen {
    /// What a colour answers on its status path at `t`.
    pub(in crate::platforms::sim) fn view(&self, c: Colour, t: DateTime<Utc>) -> ColourView {
        let colour = self.colour(c);
        if colour.starting_until.is_some_and(|s| t < s) {
            return ColourView {
                colour: c,
                digest: None,
                answering: false,
                reason: "connection refused (being deployed)".to_string(),
            };
        }
        let answering = colour.answering_at(t);
        ColourView {
            colour: c,
            digest: Some(colour.digest.clone()),
            answering,
            reason: if answering {
                "answered 200".to_string()
            } else {
                "answered 503".to_string()
            },
        }
    }

    /// Both colours as revisions (`svc@blue`, `svc@green`): the one that
    /// answers can be switched back to.
    pub(in crate::platforms::sim) fn history(
        &self,
        service: &str,
        t: DateTime<Utc>,
    ) -> Vec<RevisionInfo> {
        Colour::BOTH
            .iter()
            .map(|c| {
                let v = self.view(*c, t);
                RevisionInfo {
                    task_definition: c.revision_of(service),
                    digest: v.digest,
                    active: v.answering,
                }
            })
            .collect()
    }

    /// The proxy's counters, as its kind counts them.
    fn traffic(&self, kind: Option<&ProxyKind>) -> Traffic {
        let counters = |c: Colour, errors: bool| {
            let c = self.colour(c);
            Counters {
                requests: c.requests,
                errors_5xx: errors.then_some(c.errors_5xx),
                rate: Some(c.rate),
            }
        };
        match kind {
            None | Some(ProxyKind::Haproxy { .. }) => Traffic::PerColour {
                blue: counters(Colour::Blue, true),
                green: counters(Colour::Green, true),
            },
            Some(ProxyKind::Nginx {
                stub_status: Some(_),
                ..
            }) => Traffic::Total(Counters {
                requests: self.colours.iter().map(|c| c.requests).sum(),
                errors_5xx: None,
                rate: None,
            }),
            Some(ProxyKind::Nginx { .. }) => {
                Traffic::NotAvailable("no stub_status configured".to_string())
            }
            Some(ProxyKind::Caddy { .. }) => Traffic::NotAvailable(
                "Caddy's admin API does not count requests per upstream".to_string(),
            ),
            Some(ProxyKind::Alb { .. }) => Traffic::NotAvailable(
                "per-target-group CloudWatch metrics are not read for ALB colours".to_string(),
            ),
        }
    }

    /// A proxy metric's per-minute points, oldest first (NaN: unknown).
    fn points(&self, what: ProxyMetric, errors_known: bool) -> Vec<f64> {
        self.minutes
            .iter()
            .chain(std::iter::once(&self.minute).filter(|m| m.seconds > 0))
            .map(|m| {
                #[allow(clippy::cast_precision_loss)] // counts of a minute
                let point = match what {
                    ProxyMetric::ErrorPercent => (m.requests > 0 && errors_known)
                        .then(|| m.errors as f64 * 100.0 / m.requests as f64),
                    ProxyMetric::RequestsPerSecond => {
                        (m.seconds > 0).then(|| m.requests as f64 / f64::from(m.seconds))
                    }
                };
                point.unwrap_or(f64::NAN)
            })
            .collect()
    }

    /// What clients get through the proxy: the live colour's answer.
    fn health(&self, t: DateTime<Utc>) -> Health {
        let served = self.view(self.live, t);
        match self.served_since.filter(|_| served.answering) {
            Some(since) => {
                let base = f64::from(self.latency_ms);
                let ms = base * (0.85 + 0.3 * noise(self.key ^ 0x5eed, t.timestamp()));
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // ms, rounded
                let latency = std::time::Duration::from_millis(ms.round().max(0.0) as u64);
                Health::Healthy {
                    status: 200,
                    latency,
                    healthy_for: (t - since).to_std().unwrap_or_default(),
                }
            }
            None => Health::Unhealthy {
                status: None,
                reason: format!("through the proxy: {}", served.reason),
            },
        }
    }

    /// The run's deployments as a reading of the proxy finds them: a switch
    /// made outside shipdeck since the run switched is what serves.
    fn run_view(&self, service: &str, kind: &str) -> Option<Vec<Deployment>> {
        let run = self.run.as_ref()?;
        let left = run.switched && run.outside.is_none() && run.state != RolloutState::Failed;
        let found = (left && self.live != run.to).then(|| Outside {
            colour: self.live,
            found: format!(
                "{kind} sends the traffic to {} since shipdeck switched it to {}",
                self.live, run.to
            ),
        });
        Some(run.deployments(service, found.as_ref()))
    }

    /// The service as a reading of `env` at `t` finds it, through the
    /// proxy's own snapshot builder.
    pub(in crate::platforms::sim) fn snapshot(
        &self,
        env: &EnvConfig,
        cfg: &ServiceConfig,
        t: DateTime<Utc>,
    ) -> ServiceSnapshot {
        let kind = env.proxy.as_deref().map(|p| &p.kind);
        let kind_name = kind.map_or("haproxy", ProxyKind::name);
        let traffic = self.traffic(kind);
        let errors_known = matches!(traffic, Traffic::PerColour { .. });
        let unavailable = match &traffic {
            Traffic::NotAvailable(why) | Traffic::Unreadable(why) => Some(why.clone()),
            Traffic::PerColour { .. } | Traffic::Total(_) => None,
        };
        let metrics = cfg
            .metrics
            .iter()
            .filter_map(|m| match m.source {
                MetricSource::Proxy(what) => Some(MetricSeries {
                    label: m.label.clone(),
                    points: if unavailable.is_some() {
                        Vec::new()
                    } else {
                        self.points(what, errors_known)
                    },
                    error: unavailable.clone(),
                }),
                _ => None,
            })
            .collect();
        service_snapshot(
            &cfg.name,
            ServiceReading {
                kind: kind_name,
                backend: cfg
                    .proxy
                    .as_deref()
                    .map_or_else(|| self.backend.clone(), |p| p.backend.clone()),
                live: self.live,
                colours: Colour::BOTH.iter().map(|c| self.view(*c, t)).collect(),
                traffic,
                run: self.run_view(&cfg.name, kind_name),
                events: self.events.iter().cloned().collect(),
                health: self.health(t),
                metrics,
                at: t,
            },
        )
    }

    /// The deploy command's simulated output with the runbook's steps, from
    /// `query.cursor` on, as the proxy's logs show a real one.
    pub(in crate::platforms::sim) fn logs(
        &self,
        env: &str,
        service: &str,
        query: &LogQuery,
    ) -> LogPage {
        let Some(run) = &self.run else {
            return LogPage::nowhere(format!(
                "no deploy of {service} in {env} has run in the simulated world yet: the deploy command's output shows here while one runs"
            ));
        };
        crate::platforms::proxy::logs::page(self.events.iter().rev(), &run.id, query)
    }
}
