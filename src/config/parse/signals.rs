//! `[environment.prometheus]`, `[environment.alertmanager]` (and the same
//! per service), `promql = "…"` metrics and `[[environment.service.alert]]`.

use std::sync::Arc;
use std::time::Duration;

use super::super::walk::{Ctx, Table};
use super::super::{
    AlertConfig, DEFAULT_SIGNAL_TIMEOUT, MetricConfig, MetricSource, PromQuery, ServiceSignals,
    SignalEndpoint, SignalKind, promql_problem, valid_label_name,
};
use super::check_http_url;

const ENDPOINT_KEYS: &[&str] = &["url", "token", "timeout"];
const ALERT_KEYS: &[&str] = &["source", "name", "labels"];
/// Keys a `promql` metric has no use for.
const NOT_WITH_PROMQL: &[&str] = &[
    "expression",
    "namespace",
    "metric_name",
    "dimensions",
    "stat",
    "proxy",
    "id",
];
/// What a signal server may take to answer: `timeout`.
const TIMEOUT: super::super::walk::DurationRange =
    (Duration::from_millis(100), Duration::from_mins(1));

/// The signal servers an environment configures (its services inherit them).
#[derive(Debug, Clone, Default)]
pub(in crate::config) struct EnvSignals {
    prometheus: Option<Arc<SignalEndpoint>>,
    alertmanager: Option<Arc<SignalEndpoint>>,
}

/// `[environment.prometheus]` and `[environment.alertmanager]` of an
/// environment (or of a service, which then overrides them).
pub(in crate::config) fn parse_env_signals(ctx: &mut Ctx<'_>, t: &Table<'_>) -> EnvSignals {
    EnvSignals {
        prometheus: parse_endpoint(ctx, t, SignalKind::Prometheus),
        alertmanager: parse_endpoint(ctx, t, SignalKind::Alertmanager),
    }
}

fn parse_endpoint(
    ctx: &mut Ctx<'_>,
    parent: &Table<'_>,
    kind: SignalKind,
) -> Option<Arc<SignalEndpoint>> {
    let t = parent.table(ctx, kind.key(), format!("{} > {}", parent.path, kind.key()))?;
    t.check_keys(ctx, ENDPOINT_KEYS);
    let example = match kind {
        SignalKind::Prometheus => "http://prometheus:9090",
        SignalKind::Alertmanager => "http://alertmanager:9093",
    };
    let url = t.req_str(ctx, "url", &format!("add url = \"{example}\""))?;
    if !check_http_url(ctx, &t, "url", &url) {
        return None;
    }
    if let Ok(u) = url::Url::parse(&url) {
        if !u.username().is_empty() || u.password().is_some() {
            ctx.report(
                t.value_span("url"),
                format!("\"url\" in {} carries credentials", t.path),
                "remove user:password@ from the URL; give a bearer token as token = \"${secret:NAME}\"",
            );
            return None;
        }
        if u.query().is_some() || u.fragment().is_some() {
            ctx.report(
                t.value_span("url"),
                format!("\"url\" in {} has a query or fragment: \"{url}\"", t.path),
                format!("give the server's base URL, such as \"{example}\""),
            );
            return None;
        }
    }
    let token = t.str(ctx, "token");
    if let Some(tok) = &token
        && !is_secret_ref(tok)
    {
        ctx.report(
            t.value_span("token"),
            format!("\"token\" in {} must name a secret, not hold one", t.path),
            "write token = \"${secret:PROM_TOKEN}\" and store the value with `shipdeck secret set PROM_TOKEN` (or $SHIPDECK_SECRET_PROM_TOKEN)",
        );
        return None;
    }
    Some(Arc::new(SignalEndpoint {
        kind,
        url: url.trim_end_matches('/').to_string(),
        token,
        timeout: t.positive_duration(ctx, "timeout", DEFAULT_SIGNAL_TIMEOUT, TIMEOUT),
        location: ctx.location(t.span.as_ref()),
    }))
}

/// `${secret:NAME}` and nothing else.
pub(super) fn is_secret_ref(s: &str) -> bool {
    s.strip_prefix("${secret:")
        .and_then(|r| r.strip_suffix('}'))
        .is_some_and(crate::secrets::valid_name)
}

/// The secret's name a key written as `"NAME"` or `"${secret:NAME}"` holds
/// (not yet checked to be a valid name).
pub(super) fn secret_name(raw: &str) -> &str {
    raw.strip_prefix("${secret:")
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or(raw)
}

/// A metric with `promql = "…"`: the query, checked for what a person can fix
/// before Prometheus sees it.
pub(in crate::config) fn parse_promql(
    ctx: &mut Ctx<'_>,
    t: &Table<'_>,
    query: String,
) -> Option<MetricSource> {
    for key in NOT_WITH_PROMQL {
        if t.has(key) {
            ctx.report(
                t.key_span(key),
                format!("{key} has no meaning beside promql in {}", t.path),
                "a promql metric is read from Prometheus as it is written: remove the CloudWatch keys",
            );
        }
    }
    if let Some((at, what)) = promql_problem(&query) {
        ctx.report(
            t.value_span("promql"),
            format!(
                "promql in {} is not a query Prometheus can parse: {what} (character {at}): \"{}\"",
                t.path,
                query.escape_debug()
            ),
            "fix the PromQL; try it in Prometheus's expression browser (/graph) first",
        );
        return None;
    }
    Some(MetricSource::Prometheus(PromQuery {
        query,
        location: ctx.location(t.value_span("promql").as_ref()),
    }))
}

/// A service's signal servers (its own, else the environment's) and alerts;
/// every `promql` metric and every alert must have its server.
pub(in crate::config) fn parse_service_signals(
    ctx: &mut Ctx<'_>,
    t: &Table<'_>,
    env: &EnvSignals,
    metrics: &[(Table<'_>, MetricConfig)],
) -> ServiceSignals {
    let own = parse_env_signals(ctx, t);
    let signals = ServiceSignals {
        prometheus: own.prometheus.or_else(|| env.prometheus.clone()),
        alertmanager: own.alertmanager.or_else(|| env.alertmanager.clone()),
        alerts: Vec::new(),
    };
    for (m, metric) in metrics {
        if matches!(metric.source, MetricSource::Prometheus(_)) && signals.prometheus.is_none() {
            no_server(ctx, m, "promql", SignalKind::Prometheus);
        }
    }
    let mut alerts: Vec<AlertConfig> = Vec::new();
    for (i, mut a) in t.tables(ctx, "alert").into_iter().enumerate() {
        a.path = format!("{} > alert #{}", t.path, i + 1);
        let Some(alert) = parse_alert(ctx, &a) else {
            continue;
        };
        if signals.endpoint(alert.source).is_none() {
            no_server(ctx, &a, "source", alert.source);
            continue;
        }
        // The alarm's name is the alert's: one name, one alarm, whichever server.
        if alerts.iter().any(|x| x.alarm_name() == alert.alarm_name()) {
            ctx.report(
                a.value_span("name"),
                format!("alert {} is listed twice in {}", alert.alarm_name(), t.path),
                "list each alert once",
            );
            continue;
        }
        alerts.push(alert);
    }
    ServiceSignals { alerts, ..signals }
}

fn no_server(ctx: &mut Ctx<'_>, t: &Table<'_>, key: &str, kind: SignalKind) {
    ctx.report(
        t.value_span(key).or_else(|| t.span.clone()),
        format!("{} reads {}, but none is configured", t.path, kind.name()),
        format!(
            "add [environment.{0}] with url = \"…\" to the environment (or [environment.service.{0}] to this service)",
            kind.key()
        ),
    );
}

fn parse_alert(ctx: &mut Ctx<'_>, t: &Table<'_>) -> Option<AlertConfig> {
    t.check_keys(ctx, ALERT_KEYS);
    let source = match t
        .choice(ctx, "source", &["prometheus", "alertmanager"])
        .as_deref()
    {
        Some("alertmanager") => SignalKind::Alertmanager,
        _ => SignalKind::Prometheus,
    };
    let name = t.req_str(
        ctx,
        "name",
        "add name = \"HighErrorRate\" (the alert's alertname: for Prometheus, its alerting rule)",
    )?;
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        ctx.report(
            t.value_span("name"),
            format!(
                "alert name in {} is empty or holds control characters",
                t.path
            ),
            "write the alertname as Prometheus shows it, e.g. \"HighErrorRate\"",
        );
        return None;
    }
    let mut labels = t.string_map(ctx, "labels");
    for (k, v) in &labels {
        if !valid_label_name(k) || k == "alertname" {
            ctx.report(
                t.value_span("labels"),
                format!("label \"{}\" in {} is not a label an alert can be matched by", k.escape_debug(), t.path),
                "use label names of letters, digits and '_' (not starting with a digit); the alertname goes in name",
            );
            return None;
        }
        if v.chars().any(char::is_control) {
            ctx.report(
                t.value_span("labels"),
                format!("label \"{k}\" in {} holds control characters", t.path),
                "write the value as the alert carries it",
            );
            return None;
        }
    }
    labels.sort();
    Some(AlertConfig {
        source,
        name,
        labels,
        location: ctx.location(t.span.as_ref()),
    })
}

#[cfg(test)]
mod tests {
    use crate::config::{MetricSource, SignalKind, parse_str};

    const ENV: &str =
        "[[environment]]\nname = \"dev\"\nregion = \"us-east-1\"\ncluster = \"dev\"\n";

    fn problems(text: &str) -> String {
        match parse_str(text, "c.toml", None) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn servers_are_inherited_overridden_and_alerts_matched_by_labels() {
        let text = format!(
            "{ENV}[environment.prometheus]\nurl = \"http://prom:9090/\"\ntoken = \"${{secret:PROM_TOKEN}}\"\n\
             [environment.alertmanager]\nurl = \"http://am:9093\"\ntimeout = \"2s\"\n\
             [[environment.service]]\nname = \"api\"\nalarms = [\"api-5xx\"]\n\
             [[environment.service.metric]]\nlabel = \"5xx %\"\nrole = \"error_rate\"\npromql = 'sum(rate(x[1m]))'\n\
             [[environment.service.alert]]\nname = \"HighErrorRate\"\nlabels = {{ service = \"api\", env = \"dev\" }}\n\
             [[environment.service.alert]]\nsource = \"alertmanager\"\nname = \"Down\"\n\
             [[environment.service]]\nname = \"web\"\n\
             [environment.service.prometheus]\nurl = \"http://other:9090\"\n"
        );
        let cfg = parse_str(&text, "c.toml", None).unwrap();
        let api = &cfg.environments[0].services[0];
        let prom = api.signals.prometheus.as_ref().unwrap();
        assert_eq!(prom.url, "http://prom:9090");
        assert_eq!(prom.token.as_deref(), Some("${secret:PROM_TOKEN}"));
        assert_eq!(
            api.signals.alertmanager.as_ref().unwrap().timeout.as_secs(),
            2
        );
        let MetricSource::Prometheus(q) = &api.metrics[0].source else {
            panic!("{:?}", api.metrics[0]);
        };
        assert_eq!(
            (q.query.as_str(), q.location.as_str()),
            ("sum(rate(x[1m]))", "c.toml:17:10")
        );
        assert_eq!(
            api.signals.alerts[0].alarm_name(),
            "HighErrorRate{env=\"dev\",service=\"api\"}"
        );
        assert_eq!(api.signals.alerts[1].source, SignalKind::Alertmanager);
        assert!(api.watches_alarms());
        assert_eq!(
            api.watched_alarm_names(),
            [
                "api-5xx",
                "HighErrorRate{env=\"dev\",service=\"api\"}",
                "Down"
            ]
        );
        let web = &cfg.environments[0].services[1];
        assert_eq!(
            web.signals.prometheus.as_ref().unwrap().url,
            "http://other:9090"
        );
        assert!(!web.watches_alarms());
    }

    #[test]
    fn bad_servers_alerts_and_queries_name_their_line() {
        let svc = "[[environment.service]]\nname = \"api\"\n";
        for (extra, line, want) in [
            (
                format!("{svc}[[environment.service.metric]]\nlabel = \"x\"\npromql = \"up\"\n"),
                9,
                "reads Prometheus, but none is configured",
            ),
            (
                format!(
                    "{svc}[[environment.service.alert]]\nsource = \"alertmanager\"\nname = \"A\"\n"
                ),
                8,
                "reads Alertmanager, but none is configured",
            ),
            (
                format!("[environment.prometheus]\nurl = \"http://p\"\ntoken = \"abc123\"\n{svc}"),
                7,
                "must name a secret, not hold one",
            ),
            (
                format!("[environment.prometheus]\nurl = \"http://u:pw@p\"\n{svc}"),
                6,
                "carries credentials",
            ),
            (
                format!("[environment.prometheus]\nurl = \"ftp://p\"\n{svc}"),
                6,
                "is not an http(s) URL",
            ),
            (
                format!(
                    "[environment.prometheus]\nurl = \"http://p\"\n{svc}[[environment.service.alert]]\nname = \"A\"\nlabels = {{ \"0bad\" = \"x\" }}\n"
                ),
                11,
                "is not a label an alert can be matched by",
            ),
            (
                format!(
                    "[environment.prometheus]\nurl = \"http://p\"\n{svc}[[environment.service.alert]]\nname = \"A\"\n[[environment.service.alert]]\nname = \"A\"\n"
                ),
                12,
                "alert A is listed twice",
            ),
            (
                format!(
                    "[environment.prometheus]\nurl = \"http://p\"\n{svc}[[environment.service.metric]]\nlabel = \"x\"\npromql = \"rate(x[1m)]\"\nstat = \"Sum\"\n"
                ),
                11,
                "')' closes the '[' opened at character 7 (character 10)",
            ),
        ] {
            let got = problems(&format!("{ENV}{extra}"));
            assert!(
                got.contains(&format!("c.toml:{line}:")) && got.contains(want),
                "{want}:\n{got}"
            );
        }
        // A promql metric says which CloudWatch keys it has no use for.
        let got = problems(&format!(
            "{ENV}[environment.prometheus]\nurl = \"http://p\"\n{svc}[[environment.service.metric]]\nlabel = \"x\"\npromql = \"up\"\nstat = \"Sum\"\n"
        ));
        assert!(
            got.contains("c.toml:12:1: stat has no meaning beside promql"),
            "{got}"
        );
    }
}
