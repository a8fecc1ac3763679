//! The simulator's CloudWatch metrics: synthetic datapoints, stable for the
//! same service, metric and minute, moved by game-day shifts.

use chrono::{DateTime, Utc};

use super::faults::Shift;
use super::script::MetricKind;
use super::service::{METRIC_POINTS, SimService};
use crate::model::{Digest, MetricSeries};

impl SimService {
    /// Synthetic datapoints for a configured metric: a stable function of the metric,
    /// the service and the minute, so readings repeat exactly for the same time.
    /// An expression is computed from the service's other metrics, as
    /// CloudWatch's metric math would; game-day shifts move the metric by role.
    pub(super) fn metric_series(
        &self,
        m: &crate::config::MetricConfig,
        all: &[crate::config::MetricConfig],
        now: DateTime<Utc>,
    ) -> MetricSeries {
        series(
            &self.ecs_service,
            self.latency_ms,
            &self.shifts,
            m,
            all,
            now,
        )
    }
}

/// Synthetic datapoints of metric `m` of the simulated thing named `key` (an
/// ECS service, a function), moved by its game-day `shifts`.
pub(super) fn series(
    key: &str,
    latency_ms: Option<u32>,
    shifts: &[Shift],
    m: &crate::config::MetricConfig,
    all: &[crate::config::MetricConfig],
    now: DateTime<Utc>,
) -> MetricSeries {
    use crate::config::{MetricRole, MetricSource};
    let points = usize::try_from(METRIC_POINTS).unwrap_or(30);
    let usual_points =
        |m: &crate::config::MetricConfig, name: &str| usual_points(key, latency_ms, m, name, now);
    let usual = match &m.source {
        MetricSource::Stat { metric_name, .. } => Ok(usual_points(m, metric_name)),
        MetricSource::Expression(e) => super::math::evaluate(e, points, &|id| {
            let input = all.iter().find(|x| x.id.as_deref() == Some(id))?;
            match &input.source {
                MetricSource::Stat { metric_name, .. } => Some(usual_points(input, metric_name)),
                MetricSource::Expression(_)
                | MetricSource::Proxy(_)
                | MetricSource::Prometheus(_) => None,
            }
        }),
        MetricSource::Proxy(p) => Err(format!(
            "{} is counted by a reverse proxy, not simulated",
            p.name()
        )),
        // crate::signals reads it from Prometheus and puts it in place of this.
        MetricSource::Prometheus(_) => Err("read from Prometheus, not simulated".to_string()),
    };
    let shifted = match m.role {
        MetricRole::ErrorRate => Some(MetricKind::ErrorRate),
        MetricRole::LatencyP95 => Some(MetricKind::Latency),
        MetricRole::Chart => None,
    };
    let minute = now.timestamp().div_euclid(60);
    match usual {
        Ok(values) => MetricSeries {
            label: m.label.clone(),
            points: values
                .into_iter()
                .enumerate()
                .map(|(i, usual)| {
                    let t = minute - METRIC_POINTS + 1 + i64::try_from(i).unwrap_or(0);
                    // A point stands for the end of its minute (the newest one: now).
                    let at = DateTime::from_timestamp((t + 1) * 60 - 1, 0)
                        .map_or(now, |end| end.min(now));
                    shifts
                        .iter()
                        .filter(|s| Some(s.metric) == shifted)
                        .fold(usual, |v, s| s.apply(v, at))
                })
                .collect(),
            error: None,
        },
        Err(e) => MetricSeries {
            label: m.label.clone(),
            points: Vec::new(),
            error: Some(format!("metric math: {e}")),
        },
    }
}

/// A metric's usual values, by what it measures: its role, else its name
/// (5xx and error counts are small, request and invocation counts large).
fn usual_points(
    key: &str,
    latency_ms: Option<u32>,
    m: &crate::config::MetricConfig,
    metric_name: &str,
    now: DateTime<Utc>,
) -> Vec<f64> {
    use crate::config::MetricRole;
    let minute = now.timestamp().div_euclid(60);
    let name = metric_name.to_ascii_lowercase();
    (0..METRIC_POINTS)
        .map(|i| {
            let t = minute - METRIC_POINTS + 1 + i;
            let h = Digest::of_bytes(format!("{key}:{}:{t}", m.label).as_bytes());
            let noise = f64::from(u8::from_str_radix(&h.short()[..2], 16).unwrap_or(0)) / 255.0;
            let latency = f64::from(latency_ms.unwrap_or(50));
            match m.role {
                MetricRole::ErrorRate => 0.2 + noise * 0.6,
                MetricRole::LatencyP95 => latency * (1.8 + noise * 0.6),
                MetricRole::Chart if name.contains("5xx") || name.contains("error") => {
                    2.0 + noise * 6.0
                }
                MetricRole::Chart if name.contains("request") || name.contains("invocation") => {
                    900.0 + noise * 200.0
                }
                MetricRole::Chart => 100.0 + noise * 50.0,
            }
        })
        .collect()
}
