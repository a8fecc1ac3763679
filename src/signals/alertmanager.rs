//! Alertmanager's API v2: the alerts it holds, as alarms.
//!
//! Alertmanager knows alerts, not rules: it cannot tell an alert that does not
//! fire from one whose rule does not exist. So no matching alert is OK only
//! because the server answered; when it does not, the alarm is unknown.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Deserialize;

use super::prometheus::{status_error, unparsable};
use super::{Server, SignalError, since};
use crate::config::AlertConfig;
use crate::model::{Alarm, AlarmState};

/// One alert as `/api/v2/alerts` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct HeldAlert {
    /// Its labels, `alertname` among them.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// When it started firing.
    #[serde(default, rename = "startsAt")]
    pub starts_at: Option<String>,
    /// Active, or suppressed by a silence or an inhibition.
    pub status: HeldStatus,
}

/// An alert's state in Alertmanager.
#[derive(Debug, Clone, Deserialize)]
pub struct HeldStatus {
    /// `active`, `suppressed` or `unprocessed`.
    pub state: String,
    /// Silences that mute it.
    #[serde(default, rename = "silencedBy")]
    pub silenced_by: Vec<String>,
    /// Alerts that inhibit it.
    #[serde(default, rename = "inhibitedBy")]
    pub inhibited_by: Vec<String>,
}

/// The alerts of an answer, or why it has none to give.
pub fn parse_alerts(server: &str, status: u16, body: &[u8]) -> Result<Vec<HeldAlert>, SignalError> {
    if !(200..300).contains(&status) {
        return Err(status_error(server, status, body));
    }
    serde_json::from_slice(body).map_err(|e| unparsable(server, e))
}

/// A label matcher for `filter=`: the value quoted, as Alertmanager parses it.
pub fn matcher(name: &str, value: &str) -> String {
    let mut v = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '\\' => v.push_str("\\\\"),
            '"' => v.push_str("\\\""),
            '\n' => v.push_str("\\n"),
            c => v.push(c),
        }
    }
    format!("{name}=\"{v}\"")
}

/// What Alertmanager's answer says about one configured alert: ALARM while a
/// matching alert is held (silenced or inhibited too: it fires all the same,
/// and the reason says so), OK when none is.
pub fn judge(cfg: &AlertConfig, alerts: &[HeldAlert], now: DateTime<Utc>) -> Alarm {
    let matching: Vec<&HeldAlert> = alerts
        .iter()
        .filter(|a| cfg.matches(|k| a.labels.get(k).map(String::as_str)))
        .collect();
    if matching.is_empty() {
        return Alarm {
            name: cfg.alarm_name().into(),
            state: AlarmState::Ok,
            reason: "no matching alert in Alertmanager".into(),
            updated_at: now,
        };
    }
    let at = matching
        .iter()
        .filter_map(|a| DateTime::parse_from_rfc3339(a.starts_at.as_deref()?).ok())
        .map(|t| t.with_timezone(&Utc))
        .min()
        .unwrap_or(now);
    let muted = matching
        .iter()
        .filter(|a| !a.status.silenced_by.is_empty() || !a.status.inhibited_by.is_empty())
        .count();
    let n = matching.len();
    Alarm {
        name: cfg.alarm_name().into(),
        state: AlarmState::Alarm,
        reason: format!(
            "firing for {} in Alertmanager ({n} alert{}{})",
            since(at, now),
            if n == 1 { "" } else { "s" },
            if muted > 0 {
                format!(", {muted} silenced or inhibited: still firing")
            } else {
                String::new()
            }
        )
        .into(),
        updated_at: at,
    }
}

/// Every configured alert of one Alertmanager, one filtered request each;
/// and why the server failed, when it did.
pub(super) async fn read_alerts(
    server: &Server<'_>,
    alerts: &[(usize, &AlertConfig)],
    now: DateTime<Utc>,
) -> (Vec<(usize, Result<Alarm, String>)>, Option<String>) {
    // Collected first: a stream over a closure borrowing `alerts` would not
    // be provably Send.
    let requests: Vec<_> = alerts
        .iter()
        .map(|&(i, a)| async move {
            let mut query: Vec<(&str, String)> = vec![
                ("active", "true".to_string()),
                ("filter", matcher("alertname", &a.name)),
            ];
            query.extend(a.labels.iter().map(|(k, v)| ("filter", matcher(k, v))));
            let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = match server.get("/api/v2/alerts", &pairs).await {
                Ok((status, body)) => parse_alerts(&server.name, status, &body),
                Err(e) => Err(e),
            };
            (i, a, r)
        })
        .collect();
    let answers = futures::stream::iter(requests)
        .buffered(8)
        .collect::<Vec<_>>()
        .await;
    let mut failed = None;
    let out = answers
        .into_iter()
        .map(|(i, a, r)| match r {
            Ok(held) => (i, Ok(judge(a, &held, now))),
            Err(e) => {
                let why = e.to_string();
                failed.get_or_insert_with(|| why.clone());
                (i, Err(format!("alert {}: {why}", a.alarm_name())))
            }
        })
        .collect();
    (out, failed)
}
