//! `provider = "proxy"` environments: `[environment.proxy]` and the proxy keys
//! of their services.

use std::time::Duration;

use super::super::walk::{Ctx, Table};
use super::super::{DEFAULT_STABILITY_WINDOW, HealthCheck};
use super::service::parse_status;
use super::{check_http_url, range, resolve};
use crate::config::proxy::{ColourSmoke, ProxyEnv, ProxyKind, ProxyService};

const PROXY_KEYS: &[&str] = &[
    "kind",
    "url",
    "socket",
    "admin",
    "nginx",
    "stub_status",
    "region",
    "profile",
    "endpoint_url",
];
/// Service keys that only a proxy environment's services have.
pub(super) const PROXY_SERVICE_KEYS: &[&str] = &[
    "backend",
    "include",
    "listener_rule",
    "blue_target_group",
    "green_target_group",
    "weights",
    "step_interval",
    "blue",
    "green",
    "status_path",
    "digest_pointer",
    "deploy",
    "deploy_timeout",
    "stability_window",
    "ready_timeout",
    "keep_warm",
    "smoke",
];
const SMOKE_KEYS: &[&str] = &["name", "path", "expected_status", "body_contains"];

/// `weights = ["10%", "50%"]`: the new colour's share at each step before all
/// of it, rising, each between 1 and 99 percent.
fn alb_steps(ctx: &mut Ctx<'_>, t: &Table<'_>) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for w in t.str_list(ctx, "weights") {
        let n = w.trim().trim_end_matches('%').trim().parse::<u32>().ok();
        match n {
            Some(n) if (1..=99).contains(&n) && out.last().is_none_or(|l| *l < n) => out.push(n),
            _ => {
                ctx.report(
                    t.value_span("weights"),
                    format!("weights of {} lists \"{w}\": not a rising percentage from 1% to 99%", t.path),
                    "write the new colour's share at each step, rising: weights = [\"10%\", \"50%\"] (100% is the last step, always)",
                );
                return Vec::new();
            }
        }
    }
    out
}

/// `[environment.proxy]`.
pub(super) fn parse_proxy_env(
    ctx: &mut Ctx<'_>,
    t: &Table<'_>,
    base: Option<&std::path::Path>,
) -> Option<ProxyEnv> {
    t.check_keys(ctx, PROXY_KEYS);
    let url = t.str(ctx, "url");
    if let Some(u) = &url {
        check_http_url(ctx, t, "url", u);
    }
    let kind = match t
        .choice(ctx, "kind", &["haproxy", "caddy", "nginx", "alb"])
        .as_deref()
    {
        Some("haproxy") => ProxyKind::Haproxy {
            socket: t.req_str(
                ctx,
                "socket",
                "add socket = \"/run/haproxy/admin.sock\" or \"127.0.0.1:9999\" (HAProxy's stats socket, level admin)",
            )?,
        },
        Some("caddy") => {
            let admin = t.req_str(
                ctx,
                "admin",
                "add admin = \"http://127.0.0.1:2019\" (Caddy's admin API)",
            )?;
            check_http_url(ctx, t, "admin", &admin);
            ProxyKind::Caddy { admin }
        }
        Some("alb") => {
            let endpoint_url = t.str(ctx, "endpoint_url");
            if let Some(u) = &endpoint_url {
                check_http_url(ctx, t, "endpoint_url", u);
            }
            ProxyKind::Alb {
                region: t.req_str(
                    ctx,
                    "region",
                    "add region = \"eu-west-1\" (the load balancer's AWS region)",
                )?,
                profile: t.str(ctx, "profile"),
                endpoint_url,
            }
        }
        Some("nginx") => {
            let mut command = t.str_list(ctx, "nginx");
            if command.is_empty() {
                command = vec!["nginx".to_string()];
            } else if let Some(first) = command.first_mut()
                && first.contains('/')
            {
                *first = resolve(base, first).to_string_lossy().into_owned();
            }
            let stub_status = t.str(ctx, "stub_status");
            if let Some(s) = &stub_status {
                check_http_url(ctx, t, "stub_status", s);
            }
            ProxyKind::Nginx {
                command,
                stub_status,
            }
        }
        Some(_) => return None,
        None => {
            if !t.has("kind") {
                t.missing(
                    ctx,
                    "kind",
                    "add kind = \"haproxy\", \"caddy\" or \"nginx\"",
                );
            }
            return None;
        }
    };
    if url.is_none() && !matches!(kind, ProxyKind::Alb { .. }) {
        t.missing(
            ctx,
            "url",
            "add url = \"http://127.0.0.1:8080\" (the address clients reach the proxy at)",
        );
        return None;
    }
    Some(ProxyEnv { kind, url })
}

/// The proxy keys of a service in a proxy environment, and its health check
/// (through the proxy, at the status path) unless one is configured.
pub(super) fn parse_proxy_service(
    ctx: &mut Ctx<'_>,
    t: &Table<'_>,
    proxy: &ProxyEnv,
    base: Option<&std::path::Path>,
    health: &mut Option<HealthCheck>,
) -> Option<ProxyService> {
    let name = t.str(ctx, "name").unwrap_or_default();
    let backend = t.str(ctx, "backend").unwrap_or(name);
    let include = t.path(ctx, "include").map(|p| resolve(base, &p));
    if matches!(proxy.kind, ProxyKind::Nginx { .. }) && include.is_none() {
        t.missing(
            ctx,
            "include",
            "add include = \"/etc/nginx/shipdeck/api.conf\" (the file inside the upstream block that shipdeck writes)",
        );
    }
    let alb = if matches!(proxy.kind, ProxyKind::Alb { .. }) {
        let mut arn = |key: &str, what: &str| {
            t.req_str(
                ctx,
                key,
                &format!("add {key} = \"arn:aws:elasticloadbalancing:…\" ({what})"),
            )
        };
        let rule = arn(
            "listener_rule",
            "the listener rule that forwards to both target groups",
        );
        let blue = arn("blue_target_group", "blue's target group");
        let green = arn("green_target_group", "green's target group");
        let steps = alb_steps(ctx, t);
        let step_interval =
            t.positive_duration(ctx, "step_interval", Duration::from_mins(1), range::WINDOW);
        match (rule, blue, green) {
            (Some(rule), Some(blue), Some(green)) => Some(crate::config::proxy::AlbRule {
                rule,
                blue,
                green,
                steps,
                step_interval,
            }),
            _ => None,
        }
    } else {
        None
    };
    let mut colour = |key: &str| {
        let a = t.req_str(
            ctx,
            key,
            &format!("add {key} = \"http://127.0.0.1:5001\" (the {key} colour's own address)"),
        )?;
        check_http_url(ctx, t, key, &a).then_some(a)
    };
    let blue = colour("blue");
    let green = colour("green");
    let status_path = t
        .str(ctx, "status_path")
        .unwrap_or_else(|| "/api/system/status".to_string());
    if !status_path.starts_with('/') {
        ctx.report(
            t.value_span("status_path"),
            format!(
                "status_path \"{status_path}\" in {} does not start with '/'",
                t.path
            ),
            "write a path such as \"/api/system/status\"",
        );
    }
    let digest_pointer = t
        .str(ctx, "digest_pointer")
        .unwrap_or_else(|| "/build/digest".to_string());
    if !digest_pointer.is_empty() && !digest_pointer.starts_with('/') {
        ctx.report(
            t.value_span("digest_pointer"),
            format!(
                "digest_pointer \"{digest_pointer}\" in {} is not a JSON pointer",
                t.path
            ),
            "write a pointer such as \"/build/digest\"",
        );
    }
    let deploy = t.str_list(ctx, "deploy");
    if deploy.is_empty() {
        t.missing(
            ctx,
            "deploy",
            "add deploy = [\"./deploy-colour\", \"{colour}\", \"{digest}\"] (run without a shell; {colour} and {digest} are replaced)",
        );
    }
    let deploy = deploy
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            if i == 0 && a.contains('/') {
                resolve(base, &a).to_string_lossy().into_owned()
            } else {
                a
            }
        })
        .collect();
    let stability_window = t.positive_duration(
        ctx,
        "stability_window",
        DEFAULT_STABILITY_WINDOW,
        range::WINDOW,
    );
    let mut smoke = Vec::new();
    for (i, mut s) in t.tables(ctx, "smoke").into_iter().enumerate() {
        s.path = format!("{} > smoke #{}", t.path, i + 1);
        s.check_keys(ctx, SMOKE_KEYS);
        let name = s.req_str(ctx, "name", "add name = \"home page\"");
        let path = s.req_str(
            ctx,
            "path",
            "add path = \"/\" (against the colour's address)",
        );
        if let (Some(name), Some(path)) = (name, path) {
            smoke.push(ColourSmoke {
                name,
                path,
                expected_status: parse_status(ctx, &s),
                body_contains: s.str(ctx, "body_contains"),
            });
        }
    }
    if let (None, Some(url)) = (&health, &proxy.url) {
        *health = Some(HealthCheck {
            url: format!("{}{status_path}", url.trim_end_matches('/')),
            method: "GET".to_string(),
            expected_status: 200,
            timeout: Duration::from_secs(2),
            interval: Duration::from_secs(2),
            stability_window,
            headers: Vec::new(),
        });
    }
    Some(ProxyService {
        backend,
        include,
        alb,
        blue: blue?,
        green: green?,
        status_path,
        digest_pointer,
        deploy,
        deploy_timeout: t.positive_duration(
            ctx,
            "deploy_timeout",
            Duration::from_mins(10),
            range::ROLLOUT,
        ),
        stability_window,
        ready_timeout: t.positive_duration(
            ctx,
            "ready_timeout",
            Duration::from_mins(5),
            range::ROLLOUT,
        ),
        keep_warm: t
            .bounded_duration(ctx, "keep_warm", range::SOAK)
            .unwrap_or(Duration::from_mins(10)),
        smoke,
    })
}
