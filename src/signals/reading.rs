//! What the signals of one environment add to a platform's reading, and how
//! it is put in: the one place where Prometheus's and Alertmanager's alarms,
//! series and failures meet CloudWatch's.

use super::{Job, ServerRead};
use crate::config::EnvConfig;
use crate::model::{Alarm, EnvSnapshot, MetricSeries, SourceState};

/// What the signals of one environment add to its reading.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SignalReading {
    /// Per service (by name): alarms found, why some are unknown, series read.
    services: Vec<(String, ServiceSignalsRead)>,
    /// How the alert sources fared (not used when no alert is configured).
    pub alarms: SourceState,
    /// How the metric sources fared.
    pub metrics: SourceState,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct ServiceSignalsRead {
    alarms: Vec<Alarm>,
    unknown: Vec<String>,
    metrics: Vec<MetricSeries>,
}

impl SignalReading {
    pub(super) fn assemble(env: &EnvConfig, jobs: &[Job<'_>], results: Vec<ServerRead>) -> Self {
        let mut per: Vec<ServiceSignalsRead> =
            vec![ServiceSignalsRead::default(); env.services.len()];
        let (mut alarm_errors, mut metric_errors) = (Vec::new(), Vec::new());
        for r in results {
            for (i, a) in r.alerts {
                match a {
                    Ok(alarm) => per[i].alarms.push(alarm),
                    Err(why) => per[i].unknown.push(why),
                }
            }
            for (i, s) in r.metrics {
                per[i].metrics.push(s);
            }
            alarm_errors.extend(r.alerts_failed);
            metric_errors.extend(r.metrics_failed);
        }
        let state = |used: bool, errors: Vec<String>| match (used, errors.is_empty()) {
            (false, _) => SourceState::NotUsed,
            (true, true) => SourceState::Ready,
            (true, false) => SourceState::Failed {
                error: errors.join("; "),
            },
        };
        Self {
            alarms: state(jobs.iter().any(|j| !j.alerts.is_empty()), alarm_errors),
            metrics: state(jobs.iter().any(|j| !j.metrics.is_empty()), metric_errors),
            services: env
                .services
                .iter()
                .zip(per)
                .filter(|(_, r)| *r != ServiceSignalsRead::default())
                .map(|(s, r)| (s.name.clone(), r))
                .collect(),
        }
    }

    /// Whether the signals added nothing (none configured).
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
            && self.alarms == SourceState::NotUsed
            && self.metrics == SourceState::NotUsed
    }

    /// The platform's reading with the signals put in: alarms beside
    /// CloudWatch's, unknown reasons beside theirs, each `promql` series in
    /// place of whatever the platform had under its label, and each failed
    /// server in the alarms' or metrics' source state (so freshness, the
    /// gate, `status` and the console say it as for CloudWatch).
    pub fn apply(self, mut snap: EnvSnapshot) -> EnvSnapshot {
        if self.is_empty() {
            return snap;
        }
        for (name, read) in self.services {
            let Some(s) = snap.service_mut(&name) else {
                continue;
            };
            s.alarms.extend(read.alarms);
            if !read.unknown.is_empty() {
                let why = read.unknown.join("; ");
                s.alarms_unknown = Some(match s.alarms_unknown.take() {
                    Some(before) => format!("{before}; {why}"),
                    None => why,
                });
            }
            for series in read.metrics {
                match s.metrics.iter_mut().find(|m| m.label == series.label) {
                    Some(m) => *m = series,
                    None => s.metrics.push(series),
                }
            }
        }
        for (what, state) in [("alarms", &self.alarms), ("metrics", &self.metrics)] {
            if let Some(e) = state.error() {
                snap.warnings.push(format!("{what} unreadable: {e}"));
            }
        }
        snap.sources.alarms = merge(std::mem::take(&mut snap.sources.alarms), self.alarms);
        snap.sources.metrics = merge(std::mem::take(&mut snap.sources.metrics), self.metrics);
        snap
    }
}

/// Two sources of the same kind as one: failed if either failed (both
/// reasons), read if either was read, otherwise not used.
pub(super) fn merge(a: SourceState, b: SourceState) -> SourceState {
    match (a, b) {
        (SourceState::Failed { error: x }, SourceState::Failed { error: y }) => {
            SourceState::Failed {
                error: format!("{x}; {y}"),
            }
        }
        (f @ SourceState::Failed { .. }, _) | (_, f @ SourceState::Failed { .. }) => f,
        (SourceState::Ready, _) | (_, SourceState::Ready) => SourceState::Ready,
        (SourceState::NotUsed, SourceState::NotUsed) => SourceState::NotUsed,
    }
}
