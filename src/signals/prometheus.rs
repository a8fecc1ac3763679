//! Prometheus's HTTP API: PromQL range and instant queries as metrics, and
//! the alerts of its alerting rules as alarms.
//!
//! `/api/v1/rules?type=alert` answers both questions an alert needs: whether
//! its rule exists (a rule that does not is unknown, never OK) and which of
//! its alerts are active, pending or firing (the same list `/api/v1/alerts`
//! gives, per rule), in one request per reading.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{Server, SignalError, since};
use crate::config::{AlertConfig, MetricConfig, PromQuery};
use crate::model::{Alarm, AlarmState, MetricSeries};

/// Points a metric reads: one a minute, as CloudWatch's (the abort rules
/// count points as minutes).
pub const POINTS: u32 = 30;
/// The step between points, in seconds.
pub const STEP_SECS: u32 = 60;

/// Every answer's envelope.
#[derive(Debug, Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// The `data` of an answer, or why there is none: Prometheus's own error
/// (`bad_data` for a query it cannot parse), an HTTP error, a body that is not
/// the API's.
pub fn answer_data(
    server: &str,
    status: u16,
    body: &[u8],
) -> Result<serde_json::Value, SignalError> {
    let ok = (200..300).contains(&status);
    match serde_json::from_slice::<Envelope>(body) {
        Ok(e) if e.status == "error" => Err(SignalError::Refused {
            server: server.to_string(),
            error_type: super::clip(e.error_type.as_deref().unwrap_or("error")),
            message: super::clip(e.error.as_deref().unwrap_or("(no message)")),
        }),
        Ok(_) | Err(_) if !ok => Err(status_error(server, status, body)),
        Ok(e) if e.status == "success" => e
            .data
            .ok_or_else(|| unparsable(server, "success without data")),
        Ok(e) => Err(unparsable(server, format!("status \"{}\"", e.status))),
        Err(e) => Err(unparsable(server, e)),
    }
}

pub(super) fn unparsable(server: &str, why: impl std::fmt::Display) -> SignalError {
    SignalError::Unparsable {
        server: server.to_string(),
        why: super::clip(&why.to_string()),
    }
}

pub(super) fn status_error(server: &str, status: u16, body: &[u8]) -> SignalError {
    let text = super::clip(String::from_utf8_lossy(body).trim());
    let mut detail = if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    };
    // What a person checks first when a server refuses shipdeck.
    if matches!(status, 401 | 403) {
        detail.push_str(" (check its token)");
    }
    SignalError::Status {
        server: server.to_string(),
        status,
        detail,
    }
}

/// A sample's value as Prometheus writes it: a number in a string, or
/// `NaN`, `+Inf`, `-Inf`.
pub fn sample_value(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok()
}

#[derive(Debug, Deserialize)]
struct QueryData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct RangeSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

#[derive(Debug, Deserialize)]
struct InstantSample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    super::clip(&format!("{{{}}}", inner.join(", ")))
}

fn not_one(server: &str, count: usize, first: &BTreeMap<String, String>) -> SignalError {
    SignalError::NotOneSeries {
        server: server.to_string(),
        count,
        first: labels_text(first),
    }
}

/// The points of a range query's answer, oldest first: one series (a metric
/// is one line), or none at all (no data: no points).
pub fn parse_range(server: &str, data: serde_json::Value) -> Result<Vec<f64>, SignalError> {
    let d: QueryData = serde_json::from_value(data).map_err(|e| unparsable(server, e))?;
    if d.result_type != "matrix" {
        return Err(unparsable(
            server,
            format!("a range query answered a {}", d.result_type),
        ));
    }
    let mut series: Vec<RangeSeries> =
        serde_json::from_value(d.result).map_err(|e| unparsable(server, e))?;
    if series.len() > 1 {
        return Err(not_one(server, series.len(), &series[0].metric));
    }
    let Some(mut s) = series.pop() else {
        return Ok(Vec::new());
    };
    s.values.sort_by(|a, b| a.0.total_cmp(&b.0));
    s.values
        .iter()
        .map(|(_, v)| {
            sample_value(v).ok_or_else(|| {
                unparsable(
                    server,
                    format!("a sample's value is \"{}\"", super::clip(v)),
                )
            })
        })
        .collect()
}

/// The value of an instant query's answer: one sample or a scalar; `None`
/// when the query has no data now.
pub fn parse_instant(server: &str, data: serde_json::Value) -> Result<Option<f64>, SignalError> {
    let d: QueryData = serde_json::from_value(data).map_err(|e| unparsable(server, e))?;
    let value = match d.result_type.as_str() {
        "scalar" => {
            let (_, v): (f64, String) =
                serde_json::from_value(d.result).map_err(|e| unparsable(server, e))?;
            v
        }
        "vector" => {
            let mut samples: Vec<InstantSample> =
                serde_json::from_value(d.result).map_err(|e| unparsable(server, e))?;
            if samples.len() > 1 {
                return Err(not_one(server, samples.len(), &samples[0].metric));
            }
            match samples.pop() {
                Some(s) => s.value.1,
                None => return Ok(None),
            }
        }
        other => {
            return Err(unparsable(
                server,
                format!("an instant query answered a {other}"),
            ));
        }
    };
    sample_value(&value).map(Some).ok_or_else(|| {
        unparsable(
            server,
            format!("a sample's value is \"{}\"", super::clip(&value)),
        )
    })
}

/// One `promql` metric: the last [`POINTS`] minutes, one point a minute.
pub(super) async fn read_series(
    server: &Server<'_>,
    m: &MetricConfig,
    q: &PromQuery,
    now: DateTime<Utc>,
) -> Result<MetricSeries, SignalError> {
    #[allow(clippy::cast_precision_loss)] // seconds since 1970 in an f64: exact to the microsecond
    let end = now.timestamp_millis() as f64 / 1000.0;
    let start = end - f64::from((POINTS - 1) * STEP_SECS);
    let (start, end, step) = (
        format!("{start:.3}"),
        format!("{end:.3}"),
        STEP_SECS.to_string(),
    );
    let (status, body) = server
        .get(
            "/api/v1/query_range",
            &[
                ("query", &q.query),
                ("start", &start),
                ("end", &end),
                ("step", &step),
            ],
        )
        .await?;
    let points = parse_range(&server.name, answer_data(&server.name, status, &body)?)?;
    Ok(MetricSeries {
        label: m.label.clone(),
        points,
        error: None,
    })
}

/// The value of `query` now (an instant query): where one number is needed.
pub async fn query_instant(server: &Server<'_>, query: &str) -> Result<Option<f64>, SignalError> {
    let (status, body) = server.get("/api/v1/query", &[("query", query)]).await?;
    parse_instant(&server.name, answer_data(&server.name, status, &body)?)
}

/// One alerting rule as `/api/v1/rules` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Rule {
    /// The rule's name: its alerts' `alertname`.
    pub name: String,
    /// `alerting` or `recording`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// `ok`, `err` or `unknown` (not evaluated yet).
    #[serde(default)]
    pub health: String,
    /// Why its last evaluation failed.
    #[serde(default, rename = "lastError")]
    pub last_error: Option<String>,
    /// When it was last evaluated.
    #[serde(default, rename = "lastEvaluation")]
    pub last_evaluation: Option<String>,
    /// Its active alerts, pending or firing.
    #[serde(default)]
    pub alerts: Vec<ActiveAlert>,
}

/// One active alert of a rule.
#[derive(Debug, Clone, Deserialize)]
pub struct ActiveAlert {
    /// Its labels, `alertname` among them.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `pending` or `firing`.
    pub state: String,
    /// When it became active.
    #[serde(default, rename = "activeAt")]
    pub active_at: Option<String>,
    /// The expression's value that made it active.
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RulesData {
    groups: Vec<Group>,
}

#[derive(Debug, Deserialize)]
struct Group {
    #[serde(default)]
    rules: Vec<Rule>,
}

/// The alerting rules of a `/api/v1/rules` answer's data.
pub fn parse_rules(server: &str, data: serde_json::Value) -> Result<Vec<Rule>, SignalError> {
    let d: RulesData = serde_json::from_value(data).map_err(|e| unparsable(server, e))?;
    Ok(d.groups
        .into_iter()
        .flat_map(|g| g.rules)
        .filter(|r| r.kind == "alerting")
        .collect())
}

/// A number as people read it: whole numbers bare, others to two places.
pub(super) fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn time(text: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
        // Go's zero time: never.
        .filter(|t| t.timestamp() > 0)
}

/// What Prometheus's rules say about one configured alert: ALARM while a
/// matching alert fires, OK while none does (pending is not firing, and is
/// said), and unknown when its rule does not exist, fails, or has not been
/// evaluated yet.
pub fn judge(
    server: &str,
    cfg: &AlertConfig,
    rules: &[Rule],
    now: DateTime<Utc>,
) -> Result<Alarm, String> {
    let name = cfg.alarm_name();
    let of_rule: Vec<&Rule> = rules.iter().filter(|r| r.name == cfg.name).collect();
    if of_rule.is_empty() {
        return Err(format!(
            "alert rule \"{}\" does not exist in {server} (alert configured at {})",
            super::clip(&cfg.name),
            cfg.location
        ));
    }
    let matching: Vec<&ActiveAlert> = of_rule
        .iter()
        .flat_map(|r| &r.alerts)
        .filter(|a| cfg.matches(|k| a.labels.get(k).map(String::as_str)))
        .collect();
    let firing: Vec<&ActiveAlert> = matching
        .iter()
        .copied()
        .filter(|a| a.state == "firing")
        .collect();
    let earliest = |alerts: &[&ActiveAlert]| {
        alerts
            .iter()
            .filter_map(|a| time(a.active_at.as_deref()))
            .min()
    };
    if !firing.is_empty() {
        let at = earliest(&firing).unwrap_or(now);
        let value = firing[0]
            .value
            .as_deref()
            .and_then(sample_value)
            .map(|v| format!(", value {}", number(v)))
            .unwrap_or_default();
        return Ok(Alarm {
            name: name.into(),
            state: AlarmState::Alarm,
            reason: format!(
                "Prometheus alert firing for {} ({} alert{}{value})",
                since(at, now),
                firing.len(),
                if firing.len() == 1 { "" } else { "s" }
            )
            .into(),
            updated_at: at,
        });
    }
    if let Some(r) = of_rule.iter().find(|r| r.health == "err") {
        return Err(format!(
            "alert rule \"{}\" fails in {server}: {}",
            super::clip(&cfg.name),
            super::clip(r.last_error.as_deref().unwrap_or("(no error given)"))
        ));
    }
    if of_rule.iter().all(|r| r.health == "unknown") {
        return Err(format!(
            "alert rule \"{}\" has not been evaluated yet by {server}",
            super::clip(&cfg.name)
        ));
    }
    let pending: Vec<&ActiveAlert> = matching
        .iter()
        .copied()
        .filter(|a| a.state == "pending")
        .collect();
    let (reason, at) = if pending.is_empty() {
        let evaluated = of_rule
            .iter()
            .filter_map(|r| time(r.last_evaluation.as_deref()))
            .max();
        (
            "no matching Prometheus alert is active".to_string(),
            evaluated.unwrap_or(now),
        )
    } else {
        let at = earliest(&pending).unwrap_or(now);
        (
            format!(
                "pending for {}, not firing yet (Prometheus)",
                since(at, now)
            ),
            at,
        )
    };
    Ok(Alarm {
        name: name.into(),
        state: AlarmState::Ok,
        reason: reason.into(),
        updated_at: at,
    })
}

/// Every configured alert of one Prometheus, from one read of its rules; and
/// why the server failed, when it did.
pub(super) async fn read_alerts(
    server: &Server<'_>,
    alerts: &[(usize, &AlertConfig)],
) -> (Vec<(usize, Result<Alarm, String>)>, Option<String>) {
    let rules = match server.get("/api/v1/rules", &[("type", "alert")]).await {
        Ok((status, body)) => {
            answer_data(&server.name, status, &body).and_then(|d| parse_rules(&server.name, d))
        }
        Err(e) => Err(e),
    };
    let now = Utc::now();
    match rules {
        Ok(rules) => (
            alerts
                .iter()
                .map(|(i, a)| (*i, judge(&server.name, a, &rules, now)))
                .collect(),
            None,
        ),
        Err(e) => {
            let why = e.to_string();
            (
                alerts
                    .iter()
                    .map(|(i, a)| (*i, Err(format!("alert {}: {why}", a.alarm_name()))))
                    .collect(),
                Some(why),
            )
        }
    }
}
