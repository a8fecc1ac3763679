//! The configuration schema: which keys exist where, their defaults and their checks.

use std::collections::HashMap;
use std::path::Path;

mod approvals;
mod aws;
mod fly;
mod gate;
mod kubernetes;
mod lambda;
mod notify;
mod proxy;
mod registry;
mod service;
mod signals;
mod supply;

use gate::{parse_gate, parse_rollout};

/// A `promotes_from` value and where it was written.
type Link = Option<(String, Option<std::ops::Range<usize>>)>;
use super::walk::{Ctx, Problem, Table};
use super::{
    Config, Confirm, DEFAULT_REFRESH_INTERVAL, EnvConfig, GatePolicy, KeyBinding, ProviderKind,
    RolloutPolicy, Theme,
};
use service::{parse_service, parse_smoke};

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
    "team",
    "notify",
    "registry",
    "supply_chain",
];
const ENV_KEYS: &[&str] = &[
    "name",
    "region",
    "profile",
    "cluster",
    "endpoint_url",
    "ecs_endpoint_url",
    "cloudwatch_endpoint_url",
    "aws",
    "ecs",
    "lambda",
    "fly",
    "kubernetes",
    "read_only",
    "max_in_flight",
    "production",
    "confirm",
    "color",
    "promotes_from",
    "service",
    "gate",
    "rollout",
    "smoke",
    "provider",
    "platform",
    "proxy",
    "prometheus",
    "alertmanager",
    "notify",
];
/// `platform = "ecs" | "proxy"` (or the old `provider = …`, which still
/// works and is named in `config check`'s notes).
fn parse_platform(ctx: &mut Ctx<'_>, t: &Table<'_>) -> crate::config::PlatformKind {
    let names: Vec<&str> = crate::config::PlatformKind::ALL
        .iter()
        .map(|k| k.name())
        .collect();
    let old = t.choice(ctx, "provider", &names);
    if let Some(o) = &old {
        ctx.note(
            t.key_span("provider").as_ref(),
            &format!(
                "{} > provider = \"{o}\" is the old spelling: write platform = \"{o}\"",
                t.path
            ),
        );
    }
    t.choice(ctx, "platform", &names)
        .or(old)
        .as_deref()
        .and_then(crate::config::PlatformKind::parse)
        .unwrap_or_default()
}

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
    if let Some(p) = &ledger_path
        && let Some(why) = crate::paths::unusable_ledger(p)
    {
        let help = "point ledger_path at a regular file, such as \"ledger.jsonl\" beside this config (it is created when first written)";
        let what = format!("\"ledger_path\" \"{}\" {why}", p.display());
        ctx.report(root.value_span("ledger_path"), what, help);
    }
    let provider = parse_provider(&mut ctx, &root, base);
    let keys = parse_keys(&mut ctx, &root);
    let team_table = root.table(&mut ctx, "team", "[team]".to_string());
    let team = team_table.as_ref().and_then(|t| parse_team(&mut ctx, t));
    let vocab = approvals::parse_vocabulary(&mut ctx, team_table.as_ref());
    let notify = notify::parse_notify(&mut ctx, &root);
    let registry = registry::parse_registry(&mut ctx, &root);
    let supply = supply::parse_supply(&mut ctx, &root, base);

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
        let Some(env) = parse_env(&mut ctx, &mut t, base, &vocab) else {
            continue;
        };
        let mut env = env;
        env.notify = notify::parse_route(&mut ctx, &t, &notify);
        gate::check_supply_gate(&mut ctx, &t, &env, &supply);
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
        cache_file: None,
        provider,
        environments,
        keys,
        team,
        roles: vocab.roles,
        change_types: vocab.change_types,
        notes: ctx.notes,
        notify: std::sync::Arc::new(notify),
        registry: std::sync::Arc::new(registry),
        supply: std::sync::Arc::new(supply),
    })
}

/// `[team]`: where a team keeps its ledger, locks and approvals.
fn parse_team(ctx: &mut Ctx<'_>, t: &Table<'_>) -> Option<crate::team::TeamConfig> {
    t.check_keys(
        ctx,
        &[
            "backend",
            "table",
            "region",
            "profile",
            "endpoint_url",
            "lease",
            "roles",
            "change_types",
        ],
    );
    if t.choice(ctx, "backend", &["file", "dynamodb"]).as_deref() != Some("dynamodb") {
        return None;
    }
    let table = t.req_str(
        ctx,
        "table",
        "add table = \"shipdeck-team\" (see `shipdeck team init`)",
    );
    let region = t.req_str(
        ctx,
        "region",
        "add region = \"eu-west-1\" (the table's region)",
    );
    let endpoint_url = t.str(ctx, "endpoint_url");
    if let Some(u) = &endpoint_url {
        check_http_url(ctx, t, "endpoint_url", u);
    }
    Some(crate::team::TeamConfig {
        table: table?,
        region: region?,
        profile: t.str(ctx, "profile"),
        endpoint_url,
        lease: t.positive_duration(
            ctx,
            "lease",
            std::time::Duration::from_mins(1),
            range::LEASE,
        ),
    })
}

pub(super) fn resolve(base: Option<&Path>, p: &str) -> std::path::PathBuf {
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

fn parse_env(
    ctx: &mut Ctx<'_>,
    t: &mut Table<'_>,
    base: Option<&Path>,
    vocab: &approvals::Vocabulary,
) -> Option<EnvConfig> {
    let name = t.req_str(
        ctx,
        "name",
        "add name = \"staging\" (any short unique name)",
    );
    if let Some(n) = &name {
        t.path = format!("environment \"{n}\"");
    }
    t.check_keys(ctx, ENV_KEYS);
    let platform = parse_platform(ctx, t);
    let is_proxy = platform == crate::config::PlatformKind::Proxy;
    let proxy_key = t.key_span("proxy");
    let proxy = if let Some(p) = t.table(ctx, "proxy", format!("{} > proxy", t.path)) {
        proxy::parse_proxy_env(ctx, &p, base)
    } else {
        if is_proxy {
            t.missing(
                ctx,
                "proxy",
                "add [environment.proxy] with kind, url and the proxy's admin address",
            );
        }
        None
    };
    let mut old_keys = aws::OldKeys::default();
    let aws = aws::parse_aws(ctx, t, &mut old_keys);
    let ecs = aws::parse_ecs_env(ctx, t, &mut old_keys);
    let name = name?;
    if !valid_name(&name) {
        ctx.report(
            t.value_span("name"),
            format!("environment name \"{name}\" is not allowed"),
            "use letters, digits, '-' and '_' only, starting with a letter or digit",
        );
    }
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
    let mut seen_services: std::collections::HashSet<String> = std::collections::HashSet::new();
    let signals = signals::parse_env_signals(ctx, t);
    let lambda_steps = lambda::parse_env_lambda(ctx, t);
    let fly = fly::parse_env_fly(ctx, t);
    let kube = kubernetes::parse_env_kubernetes(ctx, t);
    let defaults = service::EnvDefaults {
        platform,
        proxy: proxy.as_ref(),
        signals: &signals,
        lambda_steps: lambda_steps.as_ref(),
        fly: fly.as_ref(),
        has_fly: t.has("fly"),
        kubernetes: kube.as_ref(),
        has_kubernetes: t.has("kubernetes"),
    };
    for (i, mut s) in service_tables.into_iter().enumerate() {
        s.path = format!("environment \"{name}\" > service #{}", i + 1);
        if let Some(svc) = parse_service(ctx, &s, &defaults, base, &mut old_keys) {
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
            seen_services.insert(svc.name.clone());
            services.push(svc);
        }
    }
    if proxy.is_some()
        && !services
            .iter()
            .any(|s| s.platform == crate::config::PlatformKind::Proxy)
    {
        ctx.report(
            proxy_key,
            format!(
                "environment \"{name}\" has [proxy] but its provider is not \"proxy\": neither it nor any of its services says platform = \"proxy\""
            ),
            "add platform = \"proxy\" to the environment (or to the services behind the proxy), or remove its [proxy]",
        );
    }
    old_keys.note(ctx, t);
    aws::check_aws_needs(ctx, t, &services, aws.as_ref(), ecs.as_ref());
    let gate = match t.table(ctx, "gate", format!("environment \"{name}\" > gate")) {
        Some(g) => parse_gate(ctx, &g, production, vocab),
        None => GatePolicy::defaults(production),
    };
    let rollout = match t.table(ctx, "rollout", format!("environment \"{name}\" > rollout")) {
        Some(r) => {
            let labels: std::collections::HashSet<&str> = services
                .iter()
                .flat_map(|s| s.metrics.iter().map(|m| m.label.as_str()))
                .collect();
            parse_rollout(ctx, &r, &labels)
        }
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
        service_index: crate::index::NameIndex::default(),
        name,
        aws: aws.map(std::sync::Arc::new),
        ecs: ecs.map(std::sync::Arc::new),
        read_only: t.bool(ctx, "read_only", false),
        max_in_flight: usize::try_from(t.int(ctx, "max_in_flight", 1..65, 8)).unwrap_or(8),
        production,
        confirm,
        color,
        services: services.into(),
        gate,
        rollout,
        smoke,
        proxy: proxy.map(std::sync::Arc::new),
        fly: fly.map(|(f, _)| std::sync::Arc::new(f)),
        kubernetes: kube.map(std::sync::Arc::new),
        platform,
        notify: Vec::new(),
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
    /// Team lock `lease`.
    pub const LEASE: DurationRange = (secs(5), secs(HOUR));
    /// Rollout `p95_latency_slo`.
    pub const LATENCY: DurationRange = (Duration::from_millis(1), secs(600));
}
