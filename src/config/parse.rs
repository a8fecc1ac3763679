//! The configuration schema: which keys exist where, their defaults and their checks.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime, Weekday};
use regex::Regex;

use super::walk::{Ctx, Problem, Table};
use super::{
    AutoCheck, Config, Confirm, DEFAULT_REFRESH_INTERVAL, DEFAULT_STABILITY_WINDOW, EnvConfig,
    FreezeKind, FreezeWindow, GatePolicy, HealthCheck, KeyBinding, MetricConfig, MetricRole,
    OnAbort, ProviderKind, RolloutPolicy, ServiceConfig, SmokeCheck, Theme,
};

const TOP_KEYS: &[&str] = &[
    "refresh_interval",
    "read_only",
    "theme",
    "ledger_path",
    "provider",
    "simulator",
    "keys",
    "allow_operator_override",
    "environment",
];
const ENV_KEYS: &[&str] = &[
    "name",
    "region",
    "profile",
    "cluster",
    "endpoint_url",
    "ecs_endpoint_url",
    "cloudwatch_endpoint_url",
    "read_only",
    "production",
    "confirm",
    "color",
    "promotes_from",
    "service",
    "gate",
    "rollout",
    "smoke",
];
const SERVICE_KEYS: &[&str] = &[
    "name",
    "ecs_service",
    "container",
    "alarms",
    "alarm_prefixes",
    "health",
    "metric",
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
    "label",
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
const GATE_KEYS: &[&str] = &[
    "checks",
    "allow_insufficient_data",
    "allow_override",
    "approvals_required",
    "four_eyes",
    "change_record_pattern",
    "soak",
    "checklist",
    "freeze",
    "approval_ttl",
];
const FREEZE_KEYS: &[&str] = &["name", "timezone", "days", "from", "to", "start", "end"];
const ROLLOUT_KEYS: &[&str] = &[
    "timeout",
    "stability_window",
    "on_abort",
    "abort_on_alarm",
    "abort_on_health",
    "max_error_rate_increase",
    "error_rate_window",
    "p95_latency_slo",
];
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Parses and validates the whole document.
pub fn parse(text: &str, file: &str, base: Option<&Path>) -> Result<Config, Vec<Problem>> {
    let mut ctx = Ctx::new(text, file);
    let doc: toml_edit::Document<String> = match text.parse() {
        Ok(d) => d,
        Err(e) => {
            let message = e.message().trim().to_string();
            ctx.report(
                e.span(),
                format!("this is not valid TOML: {message}"),
                "fix the syntax at this position (see https://toml.io)",
            );
            return Err(ctx.problems);
        }
    };
    let root = Table::new(doc.as_table(), None, "");
    root.check_keys(&mut ctx, TOP_KEYS);

    let refresh_interval = root.positive_duration(
        &mut ctx,
        "refresh_interval",
        DEFAULT_REFRESH_INTERVAL,
        range::REFRESH,
    );
    let read_only = root.bool(&mut ctx, "read_only", false);
    let allow_operator_override = root.bool(&mut ctx, "allow_operator_override", false);
    let theme = match root
        .choice(&mut ctx, "theme", &["dark", "light"])
        .as_deref()
    {
        Some("light") => Theme::Light,
        _ => Theme::Dark,
    };
    let ledger_path = root
        .path(&mut ctx, "ledger_path")
        .map(|p| resolve(base, &p));
    let provider = parse_provider(&mut ctx, &root, base);
    let keys = parse_keys(&mut ctx, &root);

    let mut envs = Vec::new();
    let mut promotes_from: Vec<Link> = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    let env_tables = root.tables(&mut ctx, "environment");
    if env_tables.is_empty() && !root.has("environment") {
        ctx.report(
            None,
            "no environments are configured".to_string(),
            "add at least one [[environment]] table with name, region, cluster and a [[environment.service]]",
        );
    }
    for (i, mut t) in env_tables.into_iter().enumerate() {
        t.path = format!("[[environment]] #{}", i + 1);
        let Some(env) = parse_env(&mut ctx, &mut t) else {
            continue;
        };
        if let Some(first) = seen.get(&env.name) {
            ctx.report(
                t.value_span("name"),
                format!(
                    "duplicate environment \"{}\" (first defined at {first})",
                    env.name
                ),
                "give every environment a unique name",
            );
            continue;
        }
        seen.insert(
            env.name.clone(),
            ctx.location(t.value_span("name").as_ref()),
        );
        promotes_from.push(
            t.str(&mut ctx, "promotes_from")
                .map(|s| (s, t.value_span("promotes_from"))),
        );
        envs.push(env);
    }
    let environments = order_environments(&mut ctx, envs, &promotes_from);

    if !ctx.problems.is_empty() {
        return Err(ctx.problems);
    }
    Ok(Config {
        source: std::path::PathBuf::from(file),
        refresh_interval,
        read_only,
        allow_operator_override,
        theme,
        ledger_path,
        provider,
        environments,
        keys,
    })
}

fn resolve(base: Option<&Path>, p: &str) -> std::path::PathBuf {
    let path = Path::new(p);
    match base {
        Some(b) if path.is_relative() => b.join(path),
        _ => path.to_path_buf(),
    }
}

fn parse_provider(ctx: &mut Ctx<'_>, root: &Table<'_>, base: Option<&Path>) -> ProviderKind {
    let kind = root.choice(ctx, "provider", &["aws", "simulated"]);
    let sim = root.table(ctx, "simulator", "[simulator]".to_string());
    if let Some(s) = &sim {
        s.check_keys(ctx, &["fleet", "seed", "health"]);
    }
    if let Some("simulated") = kind.as_deref() {
        let fleet = sim
            .as_ref()
            .and_then(|s| s.path(ctx, "fleet"))
            .map(|p| resolve(base, &p));
        let seed = sim
            .as_ref()
            .map_or(1, |s| s.int(ctx, "seed", 0..i64::MAX, 1));
        let probe_health = sim
            .as_ref()
            .and_then(|s| s.choice(ctx, "health", &["simulated", "probe"]))
            .is_some_and(|h| h == "probe");
        ProviderKind::Simulated {
            fleet,
            seed: u64::try_from(seed).unwrap_or(1),
            probe_health,
        }
    } else {
        if sim.is_some() {
            ctx.report(
                root.key_span("simulator"),
                "[simulator] is set but provider is not \"simulated\"".to_string(),
                "add provider = \"simulated\" at the top, or remove [simulator]",
            );
        }
        ProviderKind::Aws
    }
}

/// Key bindings: `action = "key"` or `action = ["key", "key"]`. Syntax only here;
/// the console knows the actions and reports unknown ones with this location.
fn parse_keys(ctx: &mut Ctx<'_>, root: &Table<'_>) -> Vec<KeyBinding> {
    let Some(keys) = root.table(ctx, "keys", "[keys]".to_string()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (action, _) in keys.entries() {
        let list = keys.str_list(ctx, &action);
        if list.iter().any(|k| k.trim().is_empty()) {
            ctx.report(
                keys.value_span(&action),
                format!("key binding for \"{action}\" is empty: \"\""),
                "name a key such as \"r\", \"ctrl-r\" or \"F5\"",
            );
            continue;
        }
        out.push(KeyBinding {
            location: ctx.location(keys.value_span(&action).as_ref()),
            action,
            keys: list,
        });
    }
    out
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn parse_env(ctx: &mut Ctx<'_>, t: &mut Table<'_>) -> Option<EnvConfig> {
    let name = t.req_str(
        ctx,
        "name",
        "add name = \"staging\" (any short unique name)",
    );
    if let Some(n) = &name {
        t.path = format!("environment \"{n}\"");
    }
    t.check_keys(ctx, ENV_KEYS);
    let region = t.req_str(
        ctx,
        "region",
        "add region = \"eu-west-1\" (the AWS region of the cluster)",
    );
    let cluster = t.req_str(
        ctx,
        "cluster",
        "add cluster = \"my-cluster\" (ECS cluster name or ARN)",
    );
    let name = name?;
    if !valid_name(&name) {
        ctx.report(
            t.value_span("name"),
            format!("environment name \"{name}\" is not allowed"),
            "use letters, digits, '-' and '_' only, starting with a letter or digit",
        );
    }
    if let Some(r) = &region {
        let ok = Regex::new(r"^[a-z]{2}(-[a-z]+)+-\d+$").is_ok_and(|re| re.is_match(r));
        if !ok {
            ctx.report(
                t.value_span("region"),
                format!("region \"{r}\" in environment \"{name}\" is not an AWS region"),
                "use a region code such as \"us-east-1\" or \"eu-west-1\"",
            );
        }
    }
    let mut endpoints = Vec::new();
    for key in [
        "endpoint_url",
        "ecs_endpoint_url",
        "cloudwatch_endpoint_url",
    ] {
        let u = t.str(ctx, key);
        if let Some(u) = &u {
            check_http_url(ctx, t, key, u);
        }
        endpoints.push(u);
    }
    let cloudwatch_endpoint_url = endpoints.pop().flatten();
    let ecs_endpoint_url = endpoints.pop().flatten();
    let endpoint_url = endpoints.pop().flatten();
    let production = t.bool(ctx, "production", false);
    // Production defaults to typing the environment's name.
    let confirm = match t.choice(ctx, "confirm", &["enter", "type"]).as_deref() {
        Some("type") => Confirm::Type,
        None if production => Confirm::Type,
        _ => Confirm::Enter,
    };
    let color = t.str(ctx, "color");
    if let Some(c) = &color
        && c.parse::<ratatui::style::Color>().is_err()
    {
        ctx.report(
            t.value_span("color"),
            format!("color \"{c}\" in environment \"{name}\" is not a colour"),
            "use a colour name such as \"red\", \"lightblue\", or a hex value \"#ff8800\"",
        );
    }

    let mut services = Vec::new();
    let service_tables = t.tables(ctx, "service");
    if service_tables.is_empty() {
        ctx.report(
            t.key_span("service").or_else(|| t.value_span("name")),
            format!("environment \"{name}\" has an empty service list"),
            "add at least one [[environment.service]] with name, ecs_service and container",
        );
    }
    let mut seen_services: Vec<String> = Vec::new();
    for (i, mut s) in service_tables.into_iter().enumerate() {
        s.path = format!("environment \"{name}\" > service #{}", i + 1);
        if let Some(svc) = parse_service(ctx, &s) {
            if seen_services.contains(&svc.name) {
                ctx.report(
                    s.value_span("name"),
                    format!(
                        "duplicate service \"{}\" in environment \"{name}\"",
                        svc.name
                    ),
                    "list each service once per environment",
                );
                continue;
            }
            seen_services.push(svc.name.clone());
            services.push(svc);
        }
    }
    let gate = match t.table(ctx, "gate", format!("environment \"{name}\" > gate")) {
        Some(g) => parse_gate(ctx, &g, production),
        None => GatePolicy::defaults(production),
    };
    let rollout = match t.table(ctx, "rollout", format!("environment \"{name}\" > rollout")) {
        Some(r) => parse_rollout(ctx, &r),
        None => RolloutPolicy::defaults(),
    };
    let mut smoke = Vec::new();
    for (i, mut s) in t.tables(ctx, "smoke").into_iter().enumerate() {
        s.path = format!("environment \"{name}\" > smoke #{}", i + 1);
        if let Some(c) = parse_smoke(ctx, &s) {
            smoke.push(c);
        }
    }
    Some(EnvConfig {
        name,
        region: region?,
        profile: t.str(ctx, "profile"),
        cluster: cluster?,
        endpoint_url,
        ecs_endpoint_url,
        cloudwatch_endpoint_url,
        read_only: t.bool(ctx, "read_only", false),
        production,
        confirm,
        color,
        services,
        gate,
        rollout,
        smoke,
    })
}

fn check_http_url(ctx: &mut Ctx<'_>, t: &Table<'_>, key: &str, value: &str) -> bool {
    match url::Url::parse(value) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => true,
        _ => {
            ctx.report(
                t.value_span(key),
                format!("\"{key}\" in {} is not an http(s) URL: \"{value}\"", t.path),
                "write a full URL such as \"https://api.example.com/healthz\"",
            );
            false
        }
    }
}

fn parse_service(ctx: &mut Ctx<'_>, t: &Table<'_>) -> Option<ServiceConfig> {
    t.check_keys(ctx, SERVICE_KEYS);
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
    let ecs_service = t.str(ctx, "ecs_service").unwrap_or_else(|| name.clone());
    let container = t.str(ctx, "container").unwrap_or_else(|| name.clone());
    let health = t
        .table(ctx, "health", format!("{} > health", t.path))
        .and_then(|h| parse_health(ctx, &h));
    let mut metrics = Vec::new();
    for (i, mut m) in t.tables(ctx, "metric").into_iter().enumerate() {
        m.path = format!("{} > metric #{}", t.path, i + 1);
        if let Some(metric) = parse_metric(ctx, &m) {
            metrics.push(metric);
        }
    }
    Some(ServiceConfig {
        alarms: t.str_list(ctx, "alarms"),
        alarm_prefixes: t.str_list(ctx, "alarm_prefixes"),
        name,
        ecs_service,
        container,
        health,
        metrics,
    })
}

fn parse_method(ctx: &mut Ctx<'_>, t: &Table<'_>) -> String {
    t.choice(ctx, "method", METHODS)
        .unwrap_or_else(|| "GET".to_string())
}

fn parse_status(ctx: &mut Ctx<'_>, t: &Table<'_>) -> u16 {
    u16::try_from(t.int(ctx, "expected_status", 100..600, 200)).unwrap_or(200)
}

fn parse_health(ctx: &mut Ctx<'_>, t: &Table<'_>) -> Option<HealthCheck> {
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
fn check_secret_refs(ctx: &mut Ctx<'_>, t: &Table<'_>, key: &str, header: &str, value: &str) {
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

fn parse_metric(ctx: &mut Ctx<'_>, t: &Table<'_>) -> Option<MetricConfig> {
    t.check_keys(ctx, METRIC_KEYS);
    let namespace = t.req_str(ctx, "namespace", "add namespace = \"AWS/ApplicationELB\"");
    let metric_name = t.req_str(
        ctx,
        "metric_name",
        "add metric_name = \"HTTPCode_Target_5XX_Count\"",
    );
    let role = match t
        .choice(ctx, "role", &["chart", "error_rate", "latency_p95"])
        .as_deref()
    {
        Some("error_rate") => MetricRole::ErrorRate,
        Some("latency_p95") => MetricRole::LatencyP95,
        _ => MetricRole::Chart,
    };
    let metric_name = metric_name?;
    Some(MetricConfig {
        label: t.str(ctx, "label").unwrap_or_else(|| metric_name.clone()),
        namespace: namespace?,
        metric_name,
        dimensions: t.string_map(ctx, "dimensions"),
        stat: t.str(ctx, "stat").unwrap_or_else(|| "Sum".to_string()),
        role,
    })
}

fn parse_smoke(ctx: &mut Ctx<'_>, t: &Table<'_>) -> Option<SmokeCheck> {
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
    /// Defaults: every automatic check; production adds four eyes and two approvals.
    pub fn defaults(production: bool) -> Self {
        Self {
            checks: AutoCheck::ALL.iter().map(|(c, _)| *c).collect(),
            allow_insufficient_data: false,
            allow_override: !production,
            approvals_required: if production { 2 } else { 0 },
            four_eyes: production,
            change_record: None,
            soak: Duration::ZERO,
            checklist: Vec::new(),
            freeze: Vec::new(),
            approval_ttl: Duration::from_hours(4),
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
        }
    }
}

fn parse_gate(ctx: &mut Ctx<'_>, t: &Table<'_>, production: bool) -> GatePolicy {
    t.check_keys(ctx, GATE_KEYS);
    let d = GatePolicy::defaults(production);
    let checks = if t.has("checks") {
        let names = t.str_list(ctx, "checks");
        let mut checks = Vec::new();
        for n in names {
            if let Some((c, _)) = AutoCheck::ALL.iter().find(|(_, name)| *name == n) {
                checks.push(*c);
            } else {
                let known: Vec<&str> = AutoCheck::ALL.iter().map(|(_, n)| *n).collect();
                let best = known
                    .iter()
                    .map(|k| (strsim::jaro_winkler(&n, k), *k))
                    .filter(|(s, _)| *s > 0.8)
                    .max_by(|a, b| a.0.total_cmp(&b.0));
                ctx.report(
                    t.value_span("checks"),
                    format!("unknown gate check \"{n}\" in {}", t.path),
                    match best {
                        Some((_, k)) => format!("did you mean \"{k}\"?"),
                        None => format!("use any of: {}", known.join(", ")),
                    },
                );
            }
        }
        checks
    } else {
        d.checks
    };
    let change_record = t.str(ctx, "change_record_pattern").and_then(|p| match Regex::new(&p) {
        Ok(re) => Some(re),
        Err(e) => {
            let why = e.to_string();
            let last = why.lines().last().unwrap_or("invalid").trim().to_string();
            ctx.report(
                t.value_span("change_record_pattern"),
                format!("change_record_pattern \"{p}\" is not a valid regular expression: {last}"),
                "write a regex such as \"^CHG-[0-9]{6}$\" (backslashes need doubling in TOML strings)",
            );
            None
        }
    });
    let mut freeze = Vec::new();
    for (i, mut f) in t.tables(ctx, "freeze").into_iter().enumerate() {
        f.path = format!("{} > freeze #{}", t.path, i + 1);
        if let Some(w) = parse_freeze(ctx, &f) {
            freeze.push(w);
        }
    }
    GatePolicy {
        checks,
        allow_insufficient_data: t.bool(ctx, "allow_insufficient_data", d.allow_insufficient_data),
        allow_override: t.bool(ctx, "allow_override", d.allow_override),
        approvals_required: u32::try_from(t.int(
            ctx,
            "approvals_required",
            0..11,
            i64::from(d.approvals_required),
        ))
        .unwrap_or(0),
        four_eyes: t.bool(ctx, "four_eyes", d.four_eyes),
        change_record,
        soak: t
            .bounded_duration(ctx, "soak", range::SOAK)
            .unwrap_or(d.soak),
        checklist: t.str_list(ctx, "checklist"),
        freeze,
        approval_ttl: t.positive_duration(ctx, "approval_ttl", d.approval_ttl, range::TTL),
    }
}

fn parse_weekday(s: &str) -> Option<Weekday> {
    match s.to_ascii_lowercase().as_str() {
        "mon" | "monday" => Some(Weekday::Mon),
        "tue" | "tuesday" => Some(Weekday::Tue),
        "wed" | "wednesday" => Some(Weekday::Wed),
        "thu" | "thursday" => Some(Weekday::Thu),
        "fri" | "friday" => Some(Weekday::Fri),
        "sat" | "saturday" => Some(Weekday::Sat),
        "sun" | "sunday" => Some(Weekday::Sun),
        _ => None,
    }
}

fn parse_freeze(ctx: &mut Ctx<'_>, t: &Table<'_>) -> Option<FreezeWindow> {
    t.check_keys(ctx, FREEZE_KEYS);
    let name = t.str(ctx, "name").unwrap_or_else(|| "freeze".to_string());
    let tz_name = t.str(ctx, "timezone").unwrap_or_else(|| "UTC".to_string());
    let timezone = if let Ok(tz) = tz_name.parse::<chrono_tz::Tz>() {
        Some(tz)
    } else {
        ctx.report(
            t.value_span("timezone"),
            format!("unknown time zone \"{tz_name}\" in {}", t.path),
            "use an IANA time zone name such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\"",
        );
        None
    };
    let dated = t.has("start") || t.has("end");
    let weekly = t.has("days") || t.has("from") || t.has("to");
    let kind = if dated && weekly {
        ctx.report(
            t.span.clone(),
            format!(
                "{} mixes a date range (start/end) with weekly times (days/from/to)",
                t.path
            ),
            "split it into two [[environment.gate.freeze]] tables",
        );
        None
    } else if dated {
        let date = |ctx: &mut Ctx<'_>, key: &str| -> Option<NaiveDate> {
            let s = t.req_str(ctx, key, "write dates as \"2026-12-20\"")?;
            NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .map_err(|_| {
                    ctx.report(
                        t.value_span(key),
                        format!("\"{key}\" in {} is not a date: \"{s}\"", t.path),
                        "write dates as \"YYYY-MM-DD\", e.g. \"2026-12-20\"",
                    );
                })
                .ok()
        };
        let start = date(ctx, "start");
        let end = date(ctx, "end");
        match (start, end) {
            (Some(s), Some(e)) if e < s => {
                ctx.report(
                    t.value_span("end"),
                    format!("freeze \"{name}\" ends (\"{e}\") before it starts (\"{s}\")"),
                    "swap start and end",
                );
                None
            }
            (Some(start), Some(end)) => Some(FreezeKind::Dates { start, end }),
            _ => None,
        }
    } else {
        let mut days = Vec::new();
        for d in t.str_list(ctx, "days") {
            match parse_weekday(&d) {
                Some(w) => days.push(w),
                None => ctx.report(
                    t.value_span("days"),
                    format!("\"{d}\" in {} is not a day of the week", t.path),
                    "use mon, tue, wed, thu, fri, sat or sun",
                ),
            }
        }
        if days.is_empty() && !t.has("days") {
            ctx.report(
                t.span.clone(),
                format!("{} has neither days nor start/end", t.path),
                "add days = [\"fri\"] with from/to times, or start/end dates",
            );
        }
        let time = |ctx: &mut Ctx<'_>, key: &str, default: NaiveTime| -> NaiveTime {
            let Some(s) = t.str(ctx, key) else {
                return default;
            };
            if s == "24:00" {
                return NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(default);
            }
            NaiveTime::parse_from_str(&s, "%H:%M").unwrap_or_else(|_| {
                ctx.report(
                    t.value_span(key),
                    format!("\"{key}\" in {} is not a time of day: \"{s}\"", t.path),
                    "write times as \"HH:MM\" in 24-hour form, e.g. \"17:30\"",
                );
                default
            })
        };
        let from = time(ctx, "from", NaiveTime::MIN);
        let to = time(
            ctx,
            "to",
            NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN),
        );
        Some(FreezeKind::Weekly { days, from, to })
    };
    Some(FreezeWindow {
        name,
        timezone: timezone?,
        kind: kind?,
    })
}

fn parse_rollout(ctx: &mut Ctx<'_>, t: &Table<'_>) -> RolloutPolicy {
    t.check_keys(ctx, ROLLOUT_KEYS);
    let d = RolloutPolicy::defaults();
    let rate = t.float(ctx, "max_error_rate_increase");
    if let Some(r) = rate
        && !(r > 0.0 && r.is_finite())
    {
        ctx.report(
            t.value_span("max_error_rate_increase"),
            format!("max_error_rate_increase must be above zero: \"{r}\""),
            "use a fraction such as 0.5 (50 % above the baseline)",
        );
    }
    RolloutPolicy {
        timeout: t.positive_duration(ctx, "timeout", d.timeout, range::ROLLOUT),
        stability_window: t.positive_duration(
            ctx,
            "stability_window",
            d.stability_window,
            range::WINDOW,
        ),
        on_abort: match t
            .choice(ctx, "on_abort", &["rollback", "prompt"])
            .as_deref()
        {
            Some("prompt") => OnAbort::Prompt,
            _ => OnAbort::Rollback,
        },
        abort_on_alarm: t.bool(ctx, "abort_on_alarm", d.abort_on_alarm),
        abort_on_health: t.bool(ctx, "abort_on_health", d.abort_on_health),
        max_error_rate_increase: rate.or(d.max_error_rate_increase),
        error_rate_window: t.positive_duration(
            ctx,
            "error_rate_window",
            d.error_rate_window,
            range::METRIC_WINDOW,
        ),
        p95_latency_slo: t.bounded_duration(ctx, "p95_latency_slo", range::LATENCY),
    }
}

/// A `promotes_from` value and where it was written.
type Link = Option<(String, Option<std::ops::Range<usize>>)>;

/// Puts environments in promotion order: file order, unless `promotes_from`
/// links them, in which case the links must form one cycle-free chain.
fn order_environments(ctx: &mut Ctx<'_>, envs: Vec<EnvConfig>, links: &[Link]) -> Vec<EnvConfig> {
    if links.iter().all(Option::is_none) {
        return envs;
    }
    let names: Vec<String> = envs.iter().map(|e| e.name.clone()).collect();
    let mut parent: Vec<Option<usize>> = vec![None; envs.len()];
    let mut ok = true;
    for (i, link) in links.iter().enumerate() {
        let Some((from, span)) = link else { continue };
        match names.iter().position(|n| n == from) {
            Some(j) if j == i => {
                ctx.report(
                    span.clone(),
                    format!("environment \"{from}\" promotes from itself"),
                    "name the stage before it",
                );
                ok = false;
            }
            Some(j) => parent[i] = Some(j),
            None => {
                ctx.report(
                    span.clone(),
                    format!("promotes_from names an unknown environment \"{from}\""),
                    format!("use one of: {}", names.join(", ")),
                );
                ok = false;
            }
        }
    }
    if !ok {
        return envs;
    }
    // Two stages promoting from the same source would fork the chain.
    for (i, p) in parent.iter().enumerate() {
        if let Some(p) = p
            && let Some(k) = parent.iter().skip(i + 1).position(|q| q == &Some(*p))
        {
            let other = i + 1 + k;
            ctx.report(
                links[other].as_ref().and_then(|l| l.1.clone()),
                format!(
                    "environments \"{}\" and \"{}\" both promote from \"{}\"",
                    names[i], names[other], names[*p]
                ),
                "shipdeck promotes along one chain; make one of them promote from the other",
            );
            return envs;
        }
    }
    let roots: Vec<usize> = (0..envs.len()).filter(|i| parent[*i].is_none()).collect();
    if roots.len() != 1 {
        // No root means every stage has a predecessor: a cycle.
        let msg = if roots.is_empty() {
            format!("promotes_from forms a cycle: {}", names.join(" -> "))
        } else {
            format!(
                "promotes_from leaves {} separate chains starting at {}",
                roots.len(),
                roots
                    .iter()
                    .map(|r| format!("\"{}\"", names[*r]))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let span = links.iter().flatten().next().and_then(|l| l.1.clone());
        ctx.report(
            span,
            msg,
            "link the stages into one chain: dev <- staging <- prod",
        );
        return envs;
    }
    let mut order = vec![roots[0]];
    while let Some(next) = parent.iter().position(|p| *p == order.last().copied()) {
        if order.contains(&next) {
            break;
        }
        order.push(next);
    }
    if order.len() != envs.len() {
        let in_cycle: Vec<String> = (0..envs.len())
            .filter(|i| !order.contains(i))
            .map(|i| names[i].clone())
            .collect();
        let span = links.iter().flatten().next().and_then(|l| l.1.clone());
        ctx.report(
            span,
            format!("promotes_from forms a cycle among {}", in_cycle.join(", ")),
            "link the stages into one chain: dev <- staging <- prod",
        );
        return envs;
    }
    let mut slots: Vec<Option<EnvConfig>> = envs.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// What each duration key accepts (stated in config.example.toml).
mod range {
    use std::time::Duration;

    use super::super::walk::DurationRange;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }
    const HOUR: u64 = 3600;
    const DAY: u64 = 24 * HOUR;

    /// `refresh_interval`, health `interval`.
    pub const REFRESH: DurationRange = (secs(1), secs(HOUR));
    /// Health probe `timeout`.
    pub const REQUEST: DurationRange = (Duration::from_millis(100), secs(60));
    /// Smoke check `timeout`.
    pub const SMOKE: DurationRange = (Duration::from_millis(100), secs(300));
    /// `stability_window` (health and rollout).
    pub const WINDOW: DurationRange = (secs(1), secs(DAY));
    /// Gate `soak`.
    pub const SOAK: DurationRange = (Duration::ZERO, secs(90 * DAY));
    /// Gate `approval_ttl`.
    pub const TTL: DurationRange = (secs(60), secs(30 * DAY));
    /// Rollout `timeout`.
    pub const ROLLOUT: DurationRange = (secs(10), secs(DAY));
    /// Rollout `error_rate_window`.
    pub const METRIC_WINDOW: DurationRange = (secs(60), secs(DAY));
    /// Rollout `p95_latency_slo`.
    pub const LATENCY: DurationRange = (Duration::from_millis(1), secs(600));
}
