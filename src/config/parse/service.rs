//! A service of an environment: its health endpoint, metrics and smoke checks.

use std::time::Duration;

use super::super::walk::{Ctx, Table};
use super::super::{
    AutoCheck, DEFAULT_STABILITY_WINDOW, GatePolicy, HealthCheck, MetricConfig, MetricRole,
    MetricSource, OnAbort, RolloutPolicy, ServiceConfig, SmokeCheck,
};
use super::{check_http_url, range, valid_name};

const SERVICE_KEYS: &[&str] = &[
    "name",
    "platform",
    "ecs_service",
    "container",
    "ecs",
    "lambda",
    "fly",
    "kubernetes",
    "alarms",
    "alarm_prefixes",
    "health",
    "metric",
    "alert",
    "prometheus",
    "alertmanager",
];
const HEALTH_KEYS: &[&str] = &[
    "url",
    "method",
    "expected_status",
    "timeout",
    "interval",
    "stability_window",
    "headers",
];
const METRIC_KEYS: &[&str] = &[
    "promql",
    "proxy",
    "label",
    "id",
    "expression",
    "namespace",
    "metric_name",
    "dimensions",
    "stat",
    "role",
];
const SMOKE_KEYS: &[&str] = &[
    "name",
    "method",
    "url",
    "expected_status",
    "body_contains",
    "timeout",
];
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// What a service takes from its environment's configuration.
pub(super) struct EnvDefaults<'a> {
    /// The environment's platform.
    pub platform: crate::config::PlatformKind,
    /// Its proxy, when it has one.
    pub proxy: Option<&'a crate::config::proxy::ProxyEnv>,
    /// Its signal servers.
    pub signals: &'a super::signals::EnvSignals,
    /// Its Lambda steps, when it says them.
    pub lambda_steps: Option<&'a crate::config::lambda::StepPlan>,
    /// Its Fly section (the API and the pace), when it has one.
    pub fly: Option<&'a (crate::config::fly::FlyEnv, super::fly::Pace)>,
    /// Whether it writes a `[fly]` at all (one that failed to parse was
    /// reported there).
    pub has_fly: bool,
    /// Its Kubernetes section, when it has one.
    pub kubernetes: Option<&'a crate::config::kubernetes::KubeEnv>,
    /// Whether it writes a `[kubernetes]` at all.
    pub has_kubernetes: bool,
}

pub(super) fn parse_service(
    ctx: &mut Ctx<'_>,
    t: &Table<'_>,
    env: &EnvDefaults<'_>,
    base: Option<&std::path::Path>,
    old_keys: &mut super::aws::OldKeys,
) -> Option<ServiceConfig> {
    let (env_platform, env_proxy, env_signals, lambda_steps) =
        (env.platform, env.proxy, env.signals, env.lambda_steps);
    let names: Vec<&str> = crate::config::PlatformKind::ALL
        .iter()
        .map(|k| k.name())
        .collect();
    let platform = t
        .choice(ctx, "platform", &names)
        .as_deref()
        .and_then(crate::config::PlatformKind::parse)
        .unwrap_or(env_platform);
    // Only a service behind the proxy has colours.
    let proxy = env_proxy.filter(|_| platform == crate::config::PlatformKind::Proxy);
    if platform == crate::config::PlatformKind::Proxy && env_proxy.is_none() {
        ctx.report(
            t.value_span("platform"),
            format!(
                "{} runs on platform \"proxy\" but its environment has no [proxy]",
                t.path
            ),
            "add [environment.proxy] with kind, url and the proxy's admin address",
        );
    }
    if proxy.is_some() {
        let keys: Vec<&str> = SERVICE_KEYS
            .iter()
            .chain(super::proxy::PROXY_SERVICE_KEYS)
            .copied()
            .collect();
        t.check_keys(ctx, &keys);
    } else {
        t.check_keys(ctx, SERVICE_KEYS);
    }
    let name = t.req_str(
        ctx,
        "name",
        "add name = \"api\" (the same name in every environment)",
    )?;
    if !valid_name(&name) {
        ctx.report(
            t.value_span("name"),
            format!("service name \"{name}\" is not allowed"),
            "use letters, digits, '-' and '_' only, starting with a letter or digit",
        );
    }
    let ecs = (platform == crate::config::PlatformKind::Ecs)
        .then(|| std::sync::Arc::new(super::aws::parse_ecs_service(ctx, t, &name, old_keys)));
    let lambda = if platform == crate::config::PlatformKind::Lambda {
        super::lambda::parse_service_lambda(ctx, t, &name, lambda_steps).map(std::sync::Arc::new)
    } else {
        None
    };
    let fly = (platform == crate::config::PlatformKind::Fly)
        .then(|| super::fly::parse_service_fly(ctx, t, &name, env.fly, env.has_fly))
        .flatten()
        .map(std::sync::Arc::new);
    let kubernetes = (platform == crate::config::PlatformKind::Kubernetes)
        .then(|| {
            super::kubernetes::parse_service_kubernetes(
                ctx,
                t,
                &name,
                env.kubernetes,
                env.has_kubernetes,
            )
        })
        .flatten()
        .map(std::sync::Arc::new);
    let mut health = t
        .table(ctx, "health", format!("{} > health", t.path))
        .and_then(|h| parse_health(ctx, &h));
    let proxied = proxy.and_then(|p| {
        super::proxy::parse_proxy_service(ctx, t, p, base, &mut health).map(std::sync::Arc::new)
    });
    let mut metrics = Vec::new();
    for (i, mut m) in t.tables(ctx, "metric").into_iter().enumerate() {
        m.path = format!("{} > metric #{}", t.path, i + 1);
        if let Some(metric) = parse_metric(ctx, &m) {
            metrics.push((m, metric));
        }
    }
    check_metric_ids(ctx, &metrics);
    for (m, metric) in &metrics {
        if let MetricSource::Proxy(what) = metric.source
            && let Some(why) = proxy_metric_refusal(proxy, what)
        {
            ctx.report(
                m.value_span("proxy"),
                format!("{} > proxy = \"{}\": {why}", m.path, what.name()),
                "count it with HAProxy (both) or nginx's stub_status (requests_per_second), or use a CloudWatch metric",
            );
        }
    }
    let signals = super::signals::parse_service_signals(ctx, t, env_signals, &metrics);
    let metrics = metrics.into_iter().map(|(_, m)| m).collect();
    Some(ServiceConfig {
        signals,
        alarms: t.str_list(ctx, "alarms"),
        alarm_prefixes: t.str_list(ctx, "alarm_prefixes"),
        name,
        ecs,
        lambda,
        fly,
        kubernetes,
        health,
        metrics,
        proxy: proxied,
        platform,
    })
}

/// Why a proxy metric cannot be counted here, if it cannot.
fn proxy_metric_refusal(
    proxy: Option<&crate::config::proxy::ProxyEnv>,
    what: crate::config::ProxyMetric,
) -> Option<String> {
    use crate::config::ProxyMetric;
    use crate::config::proxy::ProxyKind;
    match (proxy.map(|p| &p.kind), what) {
        (None, _) => Some("only a provider = \"proxy\" environment has proxy metrics".into()),
        (Some(ProxyKind::Haproxy { .. }), _)
        | (
            Some(ProxyKind::Nginx {
                stub_status: Some(_),
                ..
            }),
            ProxyMetric::RequestsPerSecond,
        ) => None,
        (
            Some(ProxyKind::Nginx {
                stub_status: None, ..
            }),
            ProxyMetric::RequestsPerSecond,
        ) => Some("nginx counts requests only through stub_status: set stub_status".into()),
        (Some(ProxyKind::Nginx { .. }), ProxyMetric::ErrorPercent) => {
            Some("nginx's stub_status does not count 5xx answers".into())
        }
        (Some(ProxyKind::Caddy { .. }), _) => {
            Some("Caddy's admin API does not count requests".into())
        }
        (Some(ProxyKind::Alb { .. }), _) => {
            Some("shipdeck does not read an ALB's counters yet".into())
        }
    }
}

pub(super) fn parse_method(ctx: &mut Ctx<'_>, t: &Table<'_>) -> String {
    t.choice(ctx, "method", METHODS)
        .unwrap_or_else(|| "GET".to_string())
}

pub(super) fn parse_status(ctx: &mut Ctx<'_>, t: &Table<'_>) -> u16 {
    u16::try_from(t.int(ctx, "expected_status", 100..600, 200)).unwrap_or(200)
}

pub(super) fn parse_health(ctx: &mut Ctx<'_>, t: &Table<'_>) -> Option<HealthCheck> {
    t.check_keys(ctx, HEALTH_KEYS);
    let url = t.req_str(ctx, "url", "add url = \"https://…/healthz\"")?;
    check_http_url(ctx, t, "url", &url);
    let headers = t.string_map(ctx, "headers");
    for (k, v) in &headers {
        check_secret_refs(ctx, t, "headers", k, v);
    }
    Some(HealthCheck {
        url,
        method: parse_method(ctx, t),
        expected_status: parse_status(ctx, t),
        timeout: t.positive_duration(ctx, "timeout", Duration::from_secs(2), range::REQUEST),
        interval: t.positive_duration(ctx, "interval", Duration::from_secs(5), range::REFRESH),
        stability_window: t.positive_duration(
            ctx,
            "stability_window",
            DEFAULT_STABILITY_WINDOW,
            range::WINDOW,
        ),
        headers,
    })
}

/// Header values may reference secrets as `${secret:NAME}`; check the syntax of each.
pub(super) fn check_secret_refs(
    ctx: &mut Ctx<'_>,
    t: &Table<'_>,
    key: &str,
    header: &str,
    value: &str,
) {
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            ctx.report(
                t.value_span(key),
                format!("header \"{header}\" has an unclosed \"${{\""),
                "write secret references as ${secret:NAME}",
            );
            return;
        };
        let inner = &after[..end];
        let ok = inner.strip_prefix("secret:").is_some_and(|n| {
            !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
        if !ok {
            ctx.report(
                t.value_span(key),
                format!("header \"{header}\" has a bad reference \"${{{inner}}}\""),
                "write secret references as ${secret:NAME} with NAME made of letters, digits and '_'",
            );
        }
        rest = &after[end + 1..];
    }
}

pub(super) fn parse_metric(ctx: &mut Ctx<'_>, t: &Table<'_>) -> Option<MetricConfig> {
    t.check_keys(ctx, METRIC_KEYS);
    let role = match t
        .choice(ctx, "role", &["chart", "error_rate", "latency_p95"])
        .as_deref()
    {
        Some("error_rate") => MetricRole::ErrorRate,
        Some("latency_p95") => MetricRole::LatencyP95,
        _ => MetricRole::Chart,
    };
    let id = t.str(ctx, "id");
    if let Some(id) = &id
        && !valid_metric_id(id)
    {
        ctx.report(
            t.value_span("id"),
            format!("metric id \"{id}\" is not allowed"),
            "start with a lower-case letter; then letters, digits and '_' (CloudWatch's rule for query ids)",
        );
    }
    if let Some(query) = t.str(ctx, "promql") {
        let source = super::signals::parse_promql(ctx, t, query)?;
        let label = t.req_str(
            ctx,
            "label",
            "a promql metric needs label = \"5xx %\" (rules and the watch name it by label)",
        )?;
        return Some(MetricConfig {
            label,
            id,
            source,
            role,
        });
    }
    if let Some(what) = t.choice(ctx, "proxy", &["5xx_percent", "requests_per_second"]) {
        let label = t.req_str(
            ctx,
            "label",
            "a proxy metric needs label = \"5xx %\" (rules and the watch name it by label)",
        )?;
        return Some(MetricConfig {
            label,
            id,
            source: MetricSource::Proxy(if what == "5xx_percent" {
                crate::config::ProxyMetric::ErrorPercent
            } else {
                crate::config::ProxyMetric::RequestsPerSecond
            }),
            role,
        });
    }
    if let Some(expression) = t.str(ctx, "expression") {
        for key in ["namespace", "metric_name", "dimensions", "stat"] {
            if t.has(key) {
                ctx.report(
                    t.key_span(key),
                    format!("{key} has no meaning beside expression"),
                    "an expression computes from other metrics of the service: give those their namespace, metric_name and an id",
                );
            }
        }
        if expression.trim().is_empty() {
            ctx.report(
                t.value_span("expression"),
                "expression is empty",
                "write metric math such as expression = \"errors / requests * 100\"",
            );
            return None;
        }
        let deep = MetricSource::nesting(&expression);
        if deep > crate::config::MAX_EXPRESSION_NESTING {
            ctx.report(
                t.value_span("expression"),
                format!(
                    "expression nests {deep} levels deep (parentheses and signs); at most {} are allowed",
                    crate::config::MAX_EXPRESSION_NESTING
                ),
                "write it flatter, or give a part of it its own metric with an id and refer to that",
            );
        }
        let label = t.req_str(
            ctx,
            "label",
            "an expression needs label = \"error %\" (rules and the watch name it by label)",
        )?;
        return Some(MetricConfig {
            label,
            id,
            source: MetricSource::Expression(expression),
            role,
        });
    }
    let namespace = t.req_str(
        ctx,
        "namespace",
        "add namespace = \"AWS/ApplicationELB\" (or expression = \"…\" for metric math)",
    );
    let metric_name = t.req_str(
        ctx,
        "metric_name",
        "add metric_name = \"HTTPCode_Target_5XX_Count\"",
    );
    let metric_name = metric_name?;
    Some(MetricConfig {
        label: t.str(ctx, "label").unwrap_or_else(|| metric_name.clone()),
        id,
        source: MetricSource::Stat {
            namespace: namespace?,
            metric_name,
            dimensions: t.string_map(ctx, "dimensions"),
            stat: t.str(ctx, "stat").unwrap_or_else(|| "Sum".to_string()),
        },
        role,
    })
}

/// CloudWatch's rule for query ids.
fn valid_metric_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && id.len() <= 255
}

/// Ids are unique within a service, and an expression refers only to ids of
/// the same service's other metrics.
fn check_metric_ids(ctx: &mut Ctx<'_>, metrics: &[(Table<'_>, MetricConfig)]) {
    let mut seen: Vec<&str> = Vec::new();
    for (t, m) in metrics {
        if let Some(id) = m.id.as_deref() {
            if seen.contains(&id) {
                ctx.report(
                    t.value_span("id"),
                    format!("metric id \"{id}\" is used twice in this service"),
                    "give each metric of a service its own id",
                );
            }
            seen.push(id);
        }
    }
    for (t, m) in metrics {
        let MetricSource::Expression(e) = &m.source else {
            continue;
        };
        for (_, id) in MetricSource::referenced_ids(e) {
            if Some(id) == m.id.as_deref() {
                ctx.report(
                    t.value_span("expression"),
                    format!("expression refers to its own id \"{id}\""),
                    "an expression computes from the service's other metrics",
                );
            } else if !seen.contains(&id) {
                ctx.report(
                    t.value_span("expression"),
                    format!("expression refers to \"{id}\", which no metric of this service has as its id"),
                    format!(
                        "give the metric it means id = \"{id}\"{}",
                        if seen.is_empty() {
                            String::new()
                        } else {
                            format!(" (ids here: {})", seen.join(", "))
                        }
                    ),
                );
            }
        }
    }
}

pub(super) fn parse_smoke(ctx: &mut Ctx<'_>, t: &Table<'_>) -> Option<SmokeCheck> {
    t.check_keys(ctx, SMOKE_KEYS);
    let name = t.req_str(ctx, "name", "add name = \"home page\"");
    let url = t.req_str(ctx, "url", "add url = \"https://…\"")?;
    check_http_url(ctx, t, "url", &url);
    Some(SmokeCheck {
        name: name?,
        method: parse_method(ctx, t),
        url,
        expected_status: parse_status(ctx, t),
        body_contains: t.str(ctx, "body_contains"),
        timeout: t.positive_duration(ctx, "timeout", Duration::from_secs(5), range::SMOKE),
    })
}

impl GatePolicy {
    /// Whether the gate checks what the registry holds (`signed`,
    /// `scanned`, `provenance`): a promotion then reads it afresh.
    pub fn reads_registry(&self) -> bool {
        self.checks.iter().any(|c| c.reads_registry())
    }

    /// Defaults: every automatic check (`allowed_regions` only with a region
    /// list); production adds four eyes and two approvals.
    pub fn defaults(production: bool) -> Self {
        Self {
            checks: AutoCheck::defaults(),
            allow_insufficient_data: false,
            allow_override: !production,
            approvals_required: if production { 2 } else { 0 },
            four_eyes: production,
            change_record: None,
            soak: Duration::ZERO,
            checklist: Vec::new(),
            after_stable: Vec::new(),
            freeze: Vec::new(),
            approval_ttl: Duration::from_hours(4),
            allowed_regions: Vec::new(),
            matrix: Vec::new(),
        }
    }
}

impl RolloutPolicy {
    /// Defaults from the runbooks: 10 min timeout, 30 s stability, roll back on abort.
    pub fn defaults() -> Self {
        Self {
            timeout: Duration::from_mins(10),
            stability_window: DEFAULT_STABILITY_WINDOW,
            on_abort: OnAbort::Rollback,
            abort_on_alarm: true,
            abort_on_health: true,
            max_error_rate_increase: Some(0.5),
            error_rate_window: Duration::from_mins(5),
            p95_latency_slo: None,
            rules: Vec::new(),
            pause_steps: false,
            step_approvals: 0,
        }
    }
}
