//! `[environment.aws]`, `[environment.ecs]` and `[environment.service.ecs]`,
//! and the old flat keys they replace (still read; `config check` names the
//! new spelling).

use std::collections::BTreeMap;

use regex::Regex;

use super::super::aws::{AWS_APIS, AwsAccess, EcsEnv, EcsService};
use super::super::walk::{Ctx, Table};
use super::check_http_url;

/// The keys of `[environment.aws]`.
const AWS_KEYS: &[&str] = &["region", "profile", "endpoint_url", "endpoints"];
/// The keys of `[environment.ecs]`.
const ECS_ENV_KEYS: &[&str] = &["cluster"];
/// The keys of `[environment.service.ecs]`.
const ECS_SERVICE_KEYS: &[&str] = &["service", "container"];
/// The old flat keys of an environment, each with where it lives now.
pub(super) const OLD_ENV_KEYS: &[(&str, &str)] = &[
    ("region", "[environment.aws] region"),
    ("profile", "[environment.aws] profile"),
    ("endpoint_url", "[environment.aws] endpoint_url"),
    ("ecs_endpoint_url", "[environment.aws.endpoints] ecs"),
    (
        "cloudwatch_endpoint_url",
        "[environment.aws.endpoints] cloudwatch",
    ),
    ("cluster", "[environment.ecs] cluster"),
];
/// The old flat keys of a service, each with where it lives now.
pub(super) const OLD_SERVICE_KEYS: &[(&str, &str)] = &[
    ("ecs_service", "[environment.service.ecs] service"),
    ("container", "[environment.service.ecs] container"),
];

/// Old flat keys met while parsing, for one note per environment.
#[derive(Debug, Default)]
pub(super) struct OldKeys(Vec<&'static str>);

impl OldKeys {
    /// The note naming the new spelling, if any old key was used.
    pub(super) fn note(&self, ctx: &mut Ctx<'_>, env: &Table<'_>) {
        if self.0.is_empty() {
            return;
        }
        let mut moves: Vec<String> = Vec::new();
        for (old, new) in OLD_ENV_KEYS.iter().chain(OLD_SERVICE_KEYS) {
            if self.0.contains(old) {
                moves.push(format!("{old} → {new}"));
            }
        }
        ctx.note(
            env.key_span("name").as_ref(),
            &format!(
                "{} uses the old flat keys; the new spelling is {} (see config.example.toml)",
                env.path,
                moves.join(", ")
            ),
        );
    }
}

/// A key of `section`, or its old flat spelling `old` on `outer`. Both at
/// once is a problem: which one was meant?
fn either(
    ctx: &mut Ctx<'_>,
    section: Option<&Table<'_>>,
    key: &str,
    outer: &Table<'_>,
    old: &'static str,
    used: &mut OldKeys,
) -> Option<String> {
    let new = section.and_then(|s| s.str(ctx, key));
    let flat = outer.str(ctx, old);
    match (new, flat) {
        (Some(n), Some(_)) => {
            ctx.report(
                outer.key_span(old),
                format!(
                    "{} sets {old} twice: flat and in its {key} section",
                    outer.path
                ),
                "keep only the section's key (the flat one is the old spelling)",
            );
            Some(n)
        }
        (Some(n), None) => Some(n),
        (None, Some(f)) => {
            used.0.push(old);
            Some(f)
        }
        (None, None) => None,
    }
}

/// `[environment.aws]` (or the old flat keys). `None` when no region is
/// given: nothing in the environment calls AWS, or a later check says what
/// needs it.
pub(super) fn parse_aws(ctx: &mut Ctx<'_>, t: &Table<'_>, used: &mut OldKeys) -> Option<AwsAccess> {
    let section = t.table(ctx, "aws", format!("{} > aws", t.path));
    if let Some(s) = &section {
        s.check_keys(ctx, AWS_KEYS);
    }
    let s = section.as_ref();
    let region = either(ctx, s, "region", t, "region", used);
    let profile = either(ctx, s, "profile", t, "profile", used);
    let endpoint_url = either(ctx, s, "endpoint_url", t, "endpoint_url", used);
    let mut endpoints = BTreeMap::new();
    if let Some(s) = s {
        for (api, url) in s.string_map(ctx, "endpoints") {
            if !AWS_APIS.contains(&api.as_str()) {
                ctx.report(
                    s.value_span("endpoints"),
                    format!("{} > endpoints names an unknown API \"{api}\"", s.path),
                    format!("use one of: {}", AWS_APIS.join(", ")),
                );
                continue;
            }
            if !url.starts_with("http://") && !url.starts_with("https://") {
                ctx.report(
                    s.value_span("endpoints"),
                    format!(
                        "{} > endpoints > {api} is not an http(s) URL: \"{url}\"",
                        s.path
                    ),
                    "write a full URL such as \"http://127.0.0.1:5000\"",
                );
            }
            endpoints.insert(api, url);
        }
    }
    for (old, api) in [
        ("ecs_endpoint_url", "ecs"),
        ("cloudwatch_endpoint_url", "cloudwatch"),
    ] {
        if let Some(u) = t.str(ctx, old) {
            check_http_url(ctx, t, old, &u);
            used.0.push(old);
            if endpoints.insert(api.to_string(), u).is_some() {
                ctx.report(
                    t.key_span(old),
                    format!(
                        "{} sets the {api} endpoint twice: {old} and its aws.endpoints",
                        t.path
                    ),
                    "keep only [environment.aws.endpoints] (the flat key is the old spelling)",
                );
            }
        }
    }
    if let Some(u) = &endpoint_url {
        let table = where_is(s, t, "endpoint_url");
        check_http_url(ctx, table, "endpoint_url", u);
    }
    let region = region?;
    let ok = Regex::new(r"^[a-z]{2}(-[a-z]+)+-\d+$").is_ok_and(|re| re.is_match(&region));
    if !ok {
        let table = where_is(s, t, "region");
        ctx.report(
            table.value_span("region"),
            format!("region \"{region}\" in {} is not an AWS region", t.path),
            "use a region code such as \"us-east-1\" or \"eu-west-1\"",
        );
    }
    Some(AwsAccess {
        region,
        profile,
        endpoint_url,
        endpoints,
    })
}

/// The table `key` was written in: the section when it has it, else `outer`.
fn where_is<'a, 't>(
    section: Option<&'a Table<'t>>,
    outer: &'a Table<'t>,
    key: &str,
) -> &'a Table<'t> {
    match section {
        Some(s) if s.has(key) => s,
        _ => outer,
    }
}

/// `[environment.ecs]` (or the old flat `cluster`).
pub(super) fn parse_ecs_env(
    ctx: &mut Ctx<'_>,
    t: &Table<'_>,
    used: &mut OldKeys,
) -> Option<EcsEnv> {
    let section = t.table(ctx, "ecs", format!("{} > ecs", t.path));
    if let Some(s) = &section {
        s.check_keys(ctx, ECS_ENV_KEYS);
    }
    let cluster = either(ctx, section.as_ref(), "cluster", t, "cluster", used)?;
    Some(EcsEnv { cluster })
}

/// `[environment.service.ecs]` (or the old flat `ecs_service` and
/// `container`); both default to the service's name.
pub(super) fn parse_ecs_service(
    ctx: &mut Ctx<'_>,
    t: &Table<'_>,
    name: &str,
    used: &mut OldKeys,
) -> EcsService {
    let section = t.table(ctx, "ecs", format!("{} > ecs", t.path));
    if let Some(s) = &section {
        s.check_keys(ctx, ECS_SERVICE_KEYS);
    }
    let s = section.as_ref();
    EcsService {
        service: either(ctx, s, "service", t, "ecs_service", used)
            .unwrap_or_else(|| name.to_string()),
        container: either(ctx, s, "container", t, "container", used)
            .unwrap_or_else(|| name.to_string()),
    }
}

/// An environment with an ECS service needs its region and cluster, and a
/// service on another platform may not watch CloudWatch (nothing reads it there).
pub(super) fn check_aws_needs(
    ctx: &mut Ctx<'_>,
    t: &Table<'_>,
    services: &[crate::config::ServiceConfig],
    aws: Option<&crate::config::aws::AwsAccess>,
    ecs: Option<&crate::config::aws::EcsEnv>,
) {
    if let Some(s) = services.iter().find(|s| s.lambda.is_some())
        && aws.is_none()
    {
        t.missing(
            ctx,
            "region",
            &format!(
                "service \"{}\" runs on Lambda: add [environment.aws] region = \"eu-west-1\" (the function's region)",
                s.name
            ),
        );
    }
    let on_ecs = services.iter().find(|s| s.ecs.is_some());
    if let Some(s) = on_ecs {
        if aws.is_none() {
            t.missing(
                ctx,
                "region",
                &format!(
                    "service \"{}\" runs on ECS: add [environment.aws] region = \"eu-west-1\" (the AWS region of the cluster)",
                    s.name
                ),
            );
        }
        if ecs.is_none() {
            t.missing(
                ctx,
                "cluster",
                &format!(
                    "service \"{}\" runs on ECS: add [environment.ecs] cluster = \"my-cluster\" (ECS cluster name or ARN)",
                    s.name
                ),
            );
        }
    }
    let watches_cloudwatch = |s: &&crate::config::ServiceConfig| {
        !s.alarms.is_empty()
            || !s.alarm_prefixes.is_empty()
            || s.metrics.iter().any(|m| m.source.is_cloudwatch())
    };
    // CloudWatch is read as part of an AWS platform's reading; a service on
    // another platform would show no alarm at all, which looks like none firing.
    for s in services
        .iter()
        .filter(|s| s.ecs.is_none() && s.lambda.is_none())
        .filter(watches_cloudwatch)
    {
        ctx.report(
            t.value_span("name"),
            format!(
                "service \"{}\" in {} runs on platform \"{}\" but watches CloudWatch alarms or metrics, which shipdeck reads only for services on ECS and Lambda",
                s.name,
                t.path,
                s.platform.name()
            ),
            "watch it with Prometheus or Alertmanager ([[environment.service.alert]], promql metrics), or remove alarms, alarm_prefixes and its CloudWatch metrics",
        );
    }
}
