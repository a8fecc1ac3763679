//! CloudWatch's part of a reading: alarms by name and prefix, and every
//! configured metric, each failure kept as the source's error (unknown, never
//! "none").

use std::collections::HashMap;

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, StateValue};
use chrono::Utc;

use super::{AwsProvider, classify, to_chrono};
use crate::config::EnvConfig;
use crate::model::{Alarm, AlarmReading, AlarmState};

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
pub(super) async fn read_alarms(
    p: &AwsProvider,
    c: &super::Clients,
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
    let push = |a: &aws_sdk_cloudwatch::types::MetricAlarm, found: &mut Vec<Alarm>| {
        let Some(name) = a.alarm_name() else {
            return;
        };
        if found.iter().any(|f| f.name == name) {
            return;
        }
        found.push(Alarm {
            name: name.to_string(),
            state: alarm_state(a.state_value()),
            reason: crate::model::sanitize(a.state_reason().unwrap_or_default()),
            updated_at: a
                .state_updated_timestamp()
                .and_then(to_chrono)
                .unwrap_or_else(Utc::now),
        });
    };
    for batch in names.chunks(ALARMS_PER_CALL) {
        p.count(&env.name, "DescribeAlarms");
        match c
            .cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(batch.to_vec()))
            .max_records(i32::try_from(ALARMS_PER_CALL).unwrap_or(100))
            .send()
            .await
        {
            Ok(out) => {
                for a in out.metric_alarms() {
                    push(a, &mut reading.found);
                }
            }
            Err(e) => {
                let e = classify(&e, "cloudwatch:DescribeAlarms", &env.name).to_string();
                reading.error.get_or_insert(e);
            }
        }
    }
    for prefix in prefixes {
        let mut token: Option<String> = None;
        loop {
            p.count(&env.name, "DescribeAlarms");
            match c
                .cloudwatch
                .describe_alarms()
                .alarm_name_prefix(&prefix)
                .set_next_token(token.clone())
                .send()
                .await
            {
                Ok(out) => {
                    for a in out.metric_alarms() {
                        push(a, &mut reading.found);
                    }
                    token = out.next_token().map(str::to_string);
                    if token.is_none() {
                        break;
                    }
                }
                Err(e) => {
                    let e = classify(&e, "cloudwatch:DescribeAlarms", &prefix).to_string();
                    reading.error.get_or_insert(e);
                    break;
                }
            }
        }
    }
    reading
}

/// Datapoints per (service, label), oldest first.
pub(super) type Datapoints = HashMap<(String, String), Vec<f64>>;

/// Reads every configured metric of the environment, 500 queries per call.
/// A failed call leaves its error: those series are unknown, not empty.
pub(super) async fn read_metrics(
    p: &AwsProvider,
    c: &super::Clients,
    env: &EnvConfig,
    now: chrono::DateTime<Utc>,
) -> (Datapoints, Option<String>) {
    let mut queries: Vec<(String, (String, String), MetricDataQuery)> = Vec::new();
    for s in &env.services {
        for m in &s.metrics {
            let id = format!("m{}", queries.len());
            let metric = Metric::builder()
                .namespace(&m.namespace)
                .metric_name(&m.metric_name)
                .set_dimensions(Some(
                    m.dimensions
                        .iter()
                        .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                        .collect(),
                ))
                .build();
            let q = MetricDataQuery::builder()
                .id(&id)
                .metric_stat(
                    MetricStat::builder()
                        .metric(metric)
                        .period(60)
                        .stat(&m.stat)
                        .build(),
                )
                .return_data(true)
                .build();
            queries.push((id, (s.name.clone(), m.label.clone()), q));
        }
    }
    let mut out: Datapoints = HashMap::new();
    let mut error: Option<String> = None;
    let start = aws_smithy_types::DateTime::from_secs((now - METRIC_WINDOW).timestamp());
    let end = aws_smithy_types::DateTime::from_secs(now.timestamp());
    for batch in queries.chunks(QUERIES_PER_CALL) {
        p.count(&env.name, "GetMetricData");
        let result = c
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(batch.iter().map(|(_, _, q)| q.clone()).collect()))
            .start_time(start)
            .end_time(end)
            .send()
            .await;
        match result {
            Ok(r) => {
                for res in r.metric_data_results() {
                    let Some((_, key, _)) = batch
                        .iter()
                        .find(|(id, _, _)| Some(id.as_str()) == res.id())
                    else {
                        continue;
                    };
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
                let e = classify(&e, "cloudwatch:GetMetricData", &env.name).to_string();
                error.get_or_insert(e);
            }
        }
    }
    (out, error)
}
