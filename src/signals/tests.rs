//! Parsing of Prometheus and Alertmanager answers, hostile ones included, and
//! how a reading of them is judged and put into a platform's reading.

use chrono::{TimeZone, Utc};
use serde_json::json;

use super::alertmanager::{self, HeldAlert};
use super::prometheus::{
    self, Rule, answer_data, parse_instant, parse_range, parse_rules, sample_value,
};
use super::{SignalError, SignalReading, merge};
use crate::config::{AlertConfig, SignalKind};
use crate::model::{AlarmState, SourceState};

const P: &str = "Prometheus at http://127.0.0.1:9090";

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap()
}

fn alert(name: &str, labels: &[(&str, &str)]) -> AlertConfig {
    AlertConfig {
        source: SignalKind::Prometheus,
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        location: "shipdeck.toml:40:1".into(),
    }
}

fn data(body: &serde_json::Value) -> Result<serde_json::Value, SignalError> {
    answer_data(P, 200, body.to_string().as_bytes())
}

#[test]
fn sample_values_as_prometheus_writes_them() {
    assert_eq!(sample_value("1.5"), Some(1.5));
    assert_eq!(sample_value("1e+03"), Some(1000.0));
    assert_eq!(sample_value("+Inf"), Some(f64::INFINITY));
    assert_eq!(sample_value("-Inf"), Some(f64::NEG_INFINITY));
    assert!(sample_value("NaN").is_some_and(f64::is_nan));
    assert_eq!(sample_value("twelve"), None);
    assert_eq!(sample_value(""), None);
}

#[test]
fn a_range_answer_is_one_series_of_points_oldest_first() {
    let d = data(&json!({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {}, "values": [[1_700_000_060.0, "2"], [1_700_000_000.0, "1"], [1_700_000_120.0, "NaN"]]}
    ]}}))
    .unwrap();
    let points = parse_range(P, d).unwrap();
    assert_eq!(points[..2], [1.0, 2.0]);
    assert!(points[2].is_nan());
    // No series: no data, not an error (the rules say how many points they lack).
    let d = data(&json!({"status": "success", "data": {"resultType": "matrix", "result": []}}))
        .unwrap();
    assert_eq!(parse_range(P, d).unwrap(), Vec::<f64>::new());
    // Two series: a metric is one line; the answer names them and says how.
    let d = data(
        &json!({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"code": "500"}, "values": [[1.0, "1"]]},
            {"metric": {"code": "502"}, "values": [[1.0, "1"]]}
        ]}}),
    )
    .unwrap();
    let e = parse_range(P, d).unwrap_err();
    assert!(!e.server_failed());
    assert!(
        e.to_string().contains("2 series, such as {code=\"500\"}"),
        "{e}"
    );
    assert!(e.to_string().contains("sum("), "{e}");
}

#[test]
fn an_instant_answer_is_one_value_or_none() {
    let one = json!({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1.0, "12.5"]}]}});
    assert_eq!(parse_instant(P, data(&one).unwrap()).unwrap(), Some(12.5));
    let scalar =
        json!({"status": "success", "data": {"resultType": "scalar", "result": [1.0, "3"]}});
    assert_eq!(parse_instant(P, data(&scalar).unwrap()).unwrap(), Some(3.0));
    let none = json!({"status": "success", "data": {"resultType": "vector", "result": []}});
    assert_eq!(parse_instant(P, data(&none).unwrap()).unwrap(), None);
    let string =
        json!({"status": "success", "data": {"resultType": "string", "result": [1.0, "x"]}});
    assert!(parse_instant(P, data(&string).unwrap()).is_err());
}

#[test]
fn prometheus_refusing_a_query_is_its_error_type_and_message() {
    let body = json!({"status": "error", "errorType": "bad_data",
        "error": "1:5: parse error: unclosed left parenthesis"});
    let e = answer_data(P, 400, body.to_string().as_bytes()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Prometheus at http://127.0.0.1:9090: refused the query (bad_data): 1:5: parse error: unclosed left parenthesis"
    );
    assert!(!e.server_failed(), "bad_data is the query's fault");
    let body = json!({"status": "error", "errorType": "timeout", "error": "query timed out"});
    assert!(
        answer_data(P, 503, body.to_string().as_bytes())
            .unwrap_err()
            .server_failed()
    );
}

#[test]
fn hostile_and_malformed_answers_are_unreadable_never_a_value() {
    let cases: &[(u16, &[u8], &str)] = &[
        (200, b"", "cannot read"),
        (200, b"<html>login</html>", "cannot read"),
        (200, b"\xff\xfe\x00garbage", "cannot read"),
        (200, br#"{"status": "success"}"#, "success without data"),
        (
            200,
            br#"{"status": "maybe", "data": {}}"#,
            "status \"maybe\"",
        ),
        (200, b"[1, 2, 3]", "cannot read"),
        (502, b"Bad Gateway", "HTTP 502: Bad Gateway"),
        (401, b"", "HTTP 401 (check its token)"),
        (500, b"\x1b[31mred\x1b[0m", "HTTP 500"),
    ];
    for (status, body, want) in cases {
        let e = answer_data(P, *status, body).unwrap_err();
        assert!(e.server_failed(), "{e}");
        let text = e.to_string();
        assert!(text.contains(want), "{text}");
        assert!(
            !text.contains('\x1b'),
            "control characters are cleaned: {text:?}"
        );
    }
    // Deep nesting stops at serde_json's recursion limit, not the stack.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(answer_data(P, 200, deep.as_bytes()).is_err());
    // A value that is not a number, timestamps that are strings, labels that are not text.
    for result in [
        json!([{"metric": {}, "values": [[1.0, "lots"]]}]),
        json!([{"metric": {}, "values": [["x", "1"]]}]),
        json!([{"metric": {"a": 1}, "values": [[1.0, "1"]]}]),
        json!({"not": "a list"}),
    ] {
        let d = json!({"resultType": "matrix", "result": result});
        assert!(parse_range(P, d).is_err());
    }
    // A huge message is clipped.
    let body = json!({"status": "error", "errorType": "bad_data", "error": "x".repeat(100_000)});
    let e = answer_data(P, 400, body.to_string().as_bytes()).unwrap_err();
    assert!(e.to_string().len() < 500);
}

fn rules(body: &serde_json::Value) -> Vec<Rule> {
    parse_rules(P, data(body).unwrap()).unwrap()
}

fn rules_with(alerts: &serde_json::Value, health: &str) -> Vec<Rule> {
    rules(
        &json!({"status": "success", "data": {"groups": [{"name": "g", "file": "f", "rules": [
            {"name": "HighErrorRate", "type": "alerting", "health": health, "lastError": "boom",
             "lastEvaluation": "2026-03-02T09:59:59.5Z", "alerts": alerts},
            {"name": "requests:rate1m", "type": "recording", "health": "ok"}
        ]}]}}),
    )
}

#[test]
fn a_firing_alert_matching_name_and_labels_is_alarm() {
    let r = rules_with(
        &json!([{"labels": {"alertname": "HighErrorRate", "service": "api", "severity": "page"},
                 "state": "firing", "activeAt": "2026-03-02T09:57:00Z", "value": "5e+01"}]),
        "ok",
    );
    let a =
        prometheus::judge(P, &alert("HighErrorRate", &[("service", "api")]), &r, now()).unwrap();
    assert_eq!(a.state, AlarmState::Alarm);
    assert_eq!(&*a.name, "HighErrorRate{service=\"api\"}");
    assert_eq!(
        &*a.reason,
        "Prometheus alert firing for 3m (1 alert, value 50)"
    );
    // Another service's alert is not this one's.
    let b =
        prometheus::judge(P, &alert("HighErrorRate", &[("service", "web")]), &r, now()).unwrap();
    assert_eq!(b.state, AlarmState::Ok);
    assert_eq!(&*b.reason, "no matching Prometheus alert is active");
    assert_eq!(
        b.updated_at,
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 59, 59).unwrap() + chrono::Duration::milliseconds(500)
    );
}

#[test]
fn pending_is_not_firing_and_says_so() {
    let r = rules_with(
        &json!([{"labels": {"alertname": "HighErrorRate", "service": "api"},
                 "state": "pending", "activeAt": "2026-03-02T09:59:30Z"}]),
        "ok",
    );
    let a =
        prometheus::judge(P, &alert("HighErrorRate", &[("service", "api")]), &r, now()).unwrap();
    assert_eq!(a.state, AlarmState::Ok);
    assert_eq!(&*a.reason, "pending for 30s, not firing yet (Prometheus)");
}

#[test]
fn a_rule_that_does_not_exist_fails_or_was_not_evaluated_is_unknown() {
    let r = rules_with(&json!([]), "ok");
    let why = prometheus::judge(P, &alert("HighLatency", &[]), &r, now()).unwrap_err();
    assert_eq!(
        why,
        "alert rule \"HighLatency\" does not exist in Prometheus at http://127.0.0.1:9090 (alert configured at shipdeck.toml:40:1)"
    );
    // A recording rule of that name is not an alert rule.
    assert!(prometheus::judge(P, &alert("requests:rate1m", &[]), &r, now()).is_err());
    let failing = rules_with(&json!([]), "err");
    let why = prometheus::judge(P, &alert("HighErrorRate", &[]), &failing, now()).unwrap_err();
    assert!(
        why.contains("fails in Prometheus") && why.contains("boom"),
        "{why}"
    );
    let fresh = rules_with(&json!([]), "unknown");
    let why = prometheus::judge(P, &alert("HighErrorRate", &[]), &fresh, now()).unwrap_err();
    assert!(why.contains("not been evaluated yet"), "{why}");
}

#[test]
fn malformed_rules_answers_are_unreadable() {
    for d in [
        json!({"groups": "no"}),
        json!({"groups": [{"rules": [{"name": 5, "type": "alerting"}]}]}),
        json!({"groups": [{"rules": [{"name": "x", "type": "alerting", "alerts": [{"labels": {}, "state": 3}]}]}]}),
        json!({}),
    ] {
        assert!(parse_rules(P, d).is_err());
    }
}

fn held(labels: &serde_json::Value, silenced: bool) -> HeldAlert {
    serde_json::from_value(json!({
        "labels": labels, "startsAt": "2026-03-02T09:58:00Z", "endsAt": "2026-03-02T10:30:00Z",
        "status": {"state": if silenced { "suppressed" } else { "active" },
                   "silencedBy": if silenced { json!(["s1"]) } else { json!([]) }, "inhibitedBy": []},
        "fingerprint": "abc", "receivers": [{"name": "x"}], "annotations": {}, "updatedAt": "2026-03-02T09:58:00Z"
    }))
    .unwrap()
}

#[test]
fn alertmanager_holding_a_matching_alert_is_alarm_silenced_or_not() {
    let mut cfg = alert("HighErrorRate", &[("service", "api")]);
    cfg.source = SignalKind::Alertmanager;
    let a = alertmanager::judge(
        &cfg,
        &[held(
            &json!({"alertname": "HighErrorRate", "service": "api"}),
            false,
        )],
        now(),
    );
    assert_eq!(
        (a.state, &*a.reason),
        (AlarmState::Alarm, "firing for 2m in Alertmanager (1 alert)")
    );
    let s = alertmanager::judge(
        &cfg,
        &[held(
            &json!({"alertname": "HighErrorRate", "service": "api"}),
            true,
        )],
        now(),
    );
    assert_eq!(s.state, AlarmState::Alarm);
    assert!(
        s.reason.contains("silenced or inhibited: still firing"),
        "{}",
        s.reason
    );
    let other = alertmanager::judge(
        &cfg,
        &[held(
            &json!({"alertname": "HighErrorRate", "service": "web"}),
            false,
        )],
        now(),
    );
    assert_eq!(
        (other.state, &*other.reason),
        (AlarmState::Ok, "no matching alert in Alertmanager")
    );
    assert_eq!(
        alertmanager::matcher("service", "a\"b\\c"),
        r#"service="a\"b\\c""#
    );
}

#[test]
fn malformed_alertmanager_answers_are_unreadable() {
    const A: &str = "Alertmanager at http://127.0.0.1:9093";
    assert!(
        alertmanager::parse_alerts(A, 200, b"[]")
            .unwrap()
            .is_empty()
    );
    for (status, body) in [
        (200, &b"{}"[..]),
        (200, b"[{\"labels\": {}}]"),
        (
            200,
            b"[{\"labels\": [], \"status\": {\"state\": \"active\"}}]",
        ),
        (200, b"null"),
        (200, b""),
        (503, b"[]"),
    ] {
        let e = alertmanager::parse_alerts(A, status, body).unwrap_err();
        assert!(e.server_failed(), "{e}");
    }
}

#[test]
fn sources_merge_failed_over_read_over_not_used() {
    let f = |e: &str| SourceState::Failed { error: e.into() };
    assert_eq!(
        merge(SourceState::NotUsed, SourceState::NotUsed),
        SourceState::NotUsed
    );
    assert_eq!(
        merge(SourceState::NotUsed, SourceState::Ready),
        SourceState::Ready
    );
    assert_eq!(merge(SourceState::Ready, f("down")), f("down"));
    assert_eq!(merge(f("cw"), SourceState::Ready), f("cw"));
    assert_eq!(merge(f("cw"), f("prom")), f("cw; prom"));
    assert!(SignalReading::default().is_empty());
}
