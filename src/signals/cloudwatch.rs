//! CloudWatch as a signal source: alarms by name and prefix, and every
//! configured metric, each failure kept as the source's error (unknown, never
//! "none"). Read by an AWS platform's reading (ECS today) with the
//! environment's CloudWatch client, under its in-flight limit and counted in
//! its accounting ([`crate::aws::Calls`]).

use std::collections::HashMap;

use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricStat, StateValue, StatusCode,
};
use chrono::Utc;

use crate::aws::{Calls, classify, to_chrono};
use crate::config::{EnvConfig, MetricSource};
use crate::model::{Alarm, AlarmReading, AlarmState};

/// The API name CloudWatch's calls are limited and counted under.
const API: &str = "cloudwatch";
/// CloudWatch describes at most this many alarms by name per call.
const ALARMS_PER_CALL: usize = 100;
/// GetMetricData takes at most this many queries per call.
const QUERIES_PER_CALL: usize = 500;
/// Metric history read (one point a minute).
const METRIC_WINDOW: chrono::Duration = chrono::Duration::minutes(30);

fn alarm_state(s: Option<&StateValue>) -> AlarmState {
    match s {
        Some(StateValue::Alarm) => AlarmState::Alarm,
        Some(StateValue::Ok) => AlarmState::Ok,
        _ => AlarmState::InsufficientData,
    }
}

/// Every alarm the environment watches, by name (100 per call) and by prefix
/// (paginated). A failed call leaves the reading's error set: what it would
/// have found is unknown.
pub async fn read_alarms(
    calls: &Calls,
    client: &aws_sdk_cloudwatch::Client,
    env: &EnvConfig,
) -> AlarmReading {
    let mut names: Vec<String> = env
        .services
        .iter()
        .flat_map(|s| s.alarms.iter().cloned())
        .collect();
    names.sort();
    names.dedup();
    let mut prefixes: Vec<String> = env
        .services
        .iter()
        .flat_map(|s| s.alarm_prefixes.iter().cloned())
        .collect();
    prefixes.sort();
    prefixes.dedup();
    let mut reading = AlarmReading::default();
    let push = |a: &aws_sdk_cloudwatch::types::MetricAlarm, reading: &mut AlarmReading| {
        let Some(name) = a.alarm_name() else {
            return;
        };
        reading.add(Alarm {
            name: name.into(),
            state: alarm_state(a.state_value()),
            reason: crate::model::sanitize(a.state_reason().unwrap_or_default()).into(),
            updated_at: a
                .state_updated_timestamp()
                .and_then(to_chrono)
                .unwrap_or_else(Utc::now),
        });
    };
    // Batches of names side by side; each prefix pages on its own.
    let by_name = names.chunks(ALARMS_PER_CALL).map(|batch| async move {
        calls
            .call(env, API, "DescribeAlarms", || async {
                client
                    .describe_alarms()
                    .set_alarm_names(Some(batch.to_vec()))
                    .max_records(i32::try_from(ALARMS_PER_CALL).unwrap_or(100))
                    .send()
                    .await
                    .map_err(|e| classify(&e, "cloudwatch:DescribeAlarms", &env.name))
            })
            .await
            .map(|out| vec![out])
    });
    let by_prefix = prefixes.iter().map(|prefix| async move {
        let mut pages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = calls
                .call(env, API, "DescribeAlarms", || async {
                    client
                        .describe_alarms()
                        .alarm_name_prefix(prefix)
                        .set_next_token(token.clone())
                        .send()
                        .await
                        .map_err(|e| classify(&e, "cloudwatch:DescribeAlarms", prefix))
                })
                .await?;
            token = out.next_token().map(str::to_string);
            pages.push(out);
            if token.is_none() {
                return Ok(pages);
            }
        }
    });
    let (by_name, by_prefix) = futures::future::join(
        futures::future::join_all(by_name),
        futures::future::join_all(by_prefix),
    )
    .await;
    for result in by_name.into_iter().chain(by_prefix) {
        match result {
            Ok(pages) => {
                for a in pages
                    .iter()
                    .flat_map(aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput::metric_alarms) {
                    push(a, &mut reading);
                }
            }
            Err(e) => {
                reading.error.get_or_insert(e.to_string());
            }
        }
    }
    reading
}

/// Datapoints per (service, label), oldest first.
pub type Datapoints = HashMap<(String, String), Vec<f64>>;

/// A query: its id, the (service, label) it answers, the request.
type Query = (String, (String, String), MetricDataQuery);

/// Reads every configured metric of the environment, 500 queries per call.
/// A failed call leaves its error: those series are unknown, not empty.
pub async fn read_metrics(
    calls: &Calls,
    client: &aws_sdk_cloudwatch::Client,
    env: &EnvConfig,
    now: chrono::DateTime<Utc>,
) -> (Datapoints, Option<String>) {
    let mut queries: Vec<Query> = Vec::new();
    // Where each service's queries start: an expression and the metrics it
    // reads must travel in the same call.
    let mut starts = Vec::new();
    for s in env.services.iter() {
        let first = queries.len();
        starts.push(first);
        // A service's own ids become its query ids ("m<position>"), unique in the call.
        let query_id = |id: &str| {
            s.metrics
                .iter()
                .position(|m| m.id.as_deref() == Some(id))
                .map(|i| format!("m{}", first + i))
        };
        for m in &s.metrics {
            let id = format!("m{}", queries.len());
            let q = match &m.source {
                MetricSource::Stat {
                    namespace,
                    metric_name,
                    dimensions,
                    stat,
                } => {
                    let metric = Metric::builder()
                        .namespace(namespace)
                        .metric_name(metric_name)
                        .set_dimensions(Some(
                            dimensions
                                .iter()
                                .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                                .collect(),
                        ))
                        .build();
                    MetricDataQuery::builder().metric_stat(
                        MetricStat::builder()
                            .metric(metric)
                            .period(60)
                            .stat(stat)
                            .build(),
                    )
                }
                MetricSource::Expression(e) => {
                    MetricDataQuery::builder().expression(MetricSource::rewrite(e, query_id))
                }
                // Counted by a reverse proxy: never an ECS environment's; or
                // read from Prometheus by crate::signals, beside this reading.
                MetricSource::Proxy(_) | MetricSource::Prometheus(_) => continue,
            }
            .id(&id)
            .label(&m.label)
            .return_data(true)
            .build();
            queries.push((id, (s.name.clone(), m.label.clone()), q));
        }
    }
    starts.push(queries.len());
    // Whole services per call, up to 500 queries (a service with more is split,
    // and its expressions then fail alone, as CloudWatch says).
    let mut batches: Vec<&[Query]> = Vec::new();
    let mut from = 0;
    for w in starts.windows(2) {
        let (start, end) = (w[0], w[1]);
        if end - from > QUERIES_PER_CALL && start > from {
            batches.push(&queries[from..start]);
            from = start;
        }
        while end - from > QUERIES_PER_CALL {
            batches.push(&queries[from..from + QUERIES_PER_CALL]);
            from += QUERIES_PER_CALL;
        }
    }
    if from < queries.len() {
        batches.push(&queries[from..]);
    }
    let mut out: Datapoints = HashMap::new();
    let mut error: Option<String> = None;
    let start = aws_smithy_types::DateTime::from_secs((now - METRIC_WINDOW).timestamp());
    let end = aws_smithy_types::DateTime::from_secs(now.timestamp());
    let calls = batches.into_iter().map(|batch| {
        calls.call(env, API, "GetMetricData", || async {
            client
                .get_metric_data()
                .set_metric_data_queries(Some(batch.iter().map(|(_, _, q)| q.clone()).collect()))
                .start_time(start)
                .end_time(end)
                .send()
                .await
                .map_err(|e| classify(&e, "cloudwatch:GetMetricData", &env.name))
        })
    });
    // Query ids are "m<position>": the answer finds its series without a scan.
    let key_of = |id: Option<&str>| {
        let i: usize = id?.strip_prefix('m')?.parse().ok()?;
        queries.get(i).map(|(_, key, _)| key)
    };
    for result in futures::future::join_all(calls).await {
        match result {
            Ok(r) => {
                for res in r.metric_data_results() {
                    let Some(key) = key_of(res.id()) else {
                        continue;
                    };
                    // An expression CloudWatch could not compute is unknown, never empty.
                    if matches!(
                        res.status_code(),
                        Some(StatusCode::InternalError | StatusCode::Forbidden)
                    ) {
                        continue;
                    }
                    // CloudWatch answers newest first.
                    let mut points: Vec<(i64, f64)> = res
                        .timestamps()
                        .iter()
                        .map(aws_smithy_types::DateTime::secs)
                        .zip(res.values().iter().copied())
                        .collect();
                    points.sort_by_key(|(t, _)| *t);
                    out.insert(key.clone(), points.into_iter().map(|(_, v)| v).collect());
                }
            }
            Err(e) => {
                error.get_or_insert(e.to_string());
            }
        }
    }
    (out, error)
}

/// Longest the CloudWatch part of a reading may take (well inside the
/// reading's own timeout, so that the platform's own data still arrives when
/// CloudWatch hangs).
pub const BUDGET: std::time::Duration = std::time::Duration::from_secs(8);

/// What CloudWatch told one reading of an environment: its alarms, its
/// metrics (or why they could not be read), and the state of each source.
#[derive(Debug, Clone)]
pub struct CloudWatchReading {
    /// The alarms the environment watches.
    pub alarms: AlarmReading,
    /// Its metrics' points, by service and label.
    pub metrics: Datapoints,
    /// Why the metrics could not be read, when they could not.
    pub metrics_error: Option<String>,
    /// Each source's state, for the environment's reading.
    pub sources: crate::model::Sources,
}

impl CloudWatchReading {
    /// The alarms `cfg` watches, and why they are unknown when they are.
    pub fn alarms_of(
        &self,
        cfg: &crate::config::ServiceConfig,
    ) -> (Vec<crate::model::Alarm>, Option<String>) {
        self.alarms.watched(&cfg.alarms, &cfg.alarm_prefixes)
    }

    /// `cfg`'s configured metrics as series (none when `scope` reads none).
    pub fn metrics_of(
        &self,
        cfg: &crate::config::ServiceConfig,
        scope: crate::provider::ReadScope,
    ) -> Vec<crate::model::MetricSeries> {
        if !scope.metrics {
            return Vec::new();
        }
        cfg.metrics
            .iter()
            .map(|m| crate::model::MetricSeries {
                label: m.label.clone(),
                points: self
                    .metrics
                    .get(&(cfg.name.clone(), m.label.clone()))
                    .cloned()
                    .unwrap_or_default(),
                error: self.metrics_error.clone(),
            })
            .collect()
    }
}

/// Reads the environment's alarms and (when `scope` asks) its metrics at
/// once, within [`BUDGET`]: a hanging CloudWatch leaves the platform's
/// reading intact and its own data unknown, never "none".
pub async fn read(
    calls: &Calls,
    client: &aws_sdk_cloudwatch::Client,
    env: &EnvConfig,
    scope: crate::provider::ReadScope,
    now: chrono::DateTime<Utc>,
) -> CloudWatchReading {
    let budget_error = || {
        format!(
            "network: CloudWatch did not answer within {}s",
            BUDGET.as_secs()
        )
    };
    let (alarms, (metrics, metrics_error)) = futures::future::join(
        async {
            tokio::time::timeout(BUDGET, read_alarms(calls, client, env))
                .await
                .unwrap_or_else(|_| AlarmReading {
                    found: std::collections::BTreeMap::new(),
                    error: Some(budget_error()),
                })
        },
        async {
            if !scope.metrics {
                return (HashMap::new(), None);
            }
            tokio::time::timeout(BUDGET, read_metrics(calls, client, env, now))
                .await
                .unwrap_or_else(|_| (HashMap::new(), Some(budget_error())))
        },
    )
    .await;
    let any_metrics = scope.metrics && env.services.iter().any(|s| !s.metrics.is_empty());
    let sources = crate::model::Sources {
        alarms: alarms.state(
            env.services
                .iter()
                .any(|s| !s.alarms.is_empty() || !s.alarm_prefixes.is_empty()),
        ),
        metrics: match &metrics_error {
            Some(e) => crate::model::SourceState::Failed { error: e.clone() },
            None if any_metrics => crate::model::SourceState::Ready,
            None => crate::model::SourceState::NotUsed,
        },
    };
    CloudWatchReading {
        alarms,
        metrics,
        metrics_error,
        sources,
    }
}
