//! Fly services: `[environment.fly]` (the Machines API, its token, and the
//! pace every Fly service of the environment promotes at unless it says its
//! own) and `[environment.service.fly]` (app, process group, pace).

use std::time::Duration;

use super::super::fly::{
    Batch, DEFAULT_API_URL, DEFAULT_CANARY_HOLD, DEFAULT_CHECKS_GRACE, DEFAULT_HOLD,
    DEFAULT_LEASE_TTL, DEFAULT_WAIT_TIMEOUT, FlyEnv, FlyService,
};
use super::super::walk::{Ctx, DurationRange, Table};

const PACE_KEYS: &[&str] = &[
    "max_unavailable",
    "canary_hold",
    "hold",
    "wait_timeout",
    "checks_grace",
    "lease_ttl",
];
const ENV_KEYS: &[&str] = &["api_url", "token"];
const SERVICE_KEYS: &[&str] = &["app", "group", "image_repository"];

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
const HOLD: DurationRange = (Duration::ZERO, secs(24 * 3600));
const WAIT: DurationRange = (secs(1), secs(3600));
const GRACE: DurationRange = (Duration::ZERO, secs(3600));
const TTL: DurationRange = (secs(10), secs(600));

/// The pace of a promotion, as an environment or a service writes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Pace {
    max_unavailable: Batch,
    canary_hold: Duration,
    hold: Duration,
    wait_timeout: Duration,
    checks_grace: Duration,
    lease_ttl: Duration,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            max_unavailable: Batch::Count(1),
            canary_hold: DEFAULT_CANARY_HOLD,
            hold: DEFAULT_HOLD,
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
            checks_grace: DEFAULT_CHECKS_GRACE,
            lease_ttl: DEFAULT_LEASE_TTL,
        }
    }
}

/// The pace keys `t` writes, over `base`.
fn pace(ctx: &mut Ctx<'_>, t: &Table<'_>, base: Pace) -> Pace {
    let batch = t.float(ctx, "max_unavailable").and_then(|f| {
        let ok_count = f >= 1.0 && f.fract() == 0.0 && f <= 1000.0;
        let ok_share = f > 0.0 && f < 1.0;
        if ok_count {
            // Checked just above: a whole number from 1 to 1000.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Some(Batch::Count(f as u32))
        } else if ok_share {
            Some(Batch::Fraction(f))
        } else {
            ctx.report(
                t.value_span("max_unavailable"),
                format!("{} > max_unavailable must be a whole number of machines from 1 to 1000, or a share between 0 and 1: {f}", t.path),
                "write max_unavailable = 1 (one machine at a time) or 0.25 (a quarter of the machines at a time)",
            );
            None
        }
    });
    Pace {
        max_unavailable: batch.unwrap_or(base.max_unavailable),
        canary_hold: t
            .bounded_duration(ctx, "canary_hold", HOLD)
            .unwrap_or(base.canary_hold),
        hold: t.bounded_duration(ctx, "hold", HOLD).unwrap_or(base.hold),
        wait_timeout: t
            .bounded_duration(ctx, "wait_timeout", WAIT)
            .unwrap_or(base.wait_timeout),
        checks_grace: t
            .bounded_duration(ctx, "checks_grace", GRACE)
            .unwrap_or(base.checks_grace),
        lease_ttl: t
            .bounded_duration(ctx, "lease_ttl", TTL)
            .unwrap_or(base.lease_ttl),
    }
}

/// `[environment.fly]`: the Machines API and its token, and the pace its
/// Fly services promote at unless they say their own.
pub(super) fn parse_env_fly(ctx: &mut Ctx<'_>, env: &Table<'_>) -> Option<(FlyEnv, Pace)> {
    let t = env.table(ctx, "fly", format!("{} > fly", env.path))?;
    let keys: Vec<&str> = ENV_KEYS.iter().chain(PACE_KEYS).copied().collect();
    t.check_keys(ctx, &keys);
    let api_url = t
        .str(ctx, "api_url")
        .unwrap_or_else(|| DEFAULT_API_URL.to_string());
    let url_ok = super::check_http_url(ctx, &t, "api_url", &api_url);
    let token = t.req_str(
        ctx,
        "token",
        "add token = \"${secret:FLY_API_TOKEN}\" and store it with `shipdeck secret set FLY_API_TOKEN`",
    );
    if let Some(tok) = &token
        && !super::signals::is_secret_ref(tok)
    {
        ctx.report(
            t.value_span("token"),
            format!("\"token\" in {} must name a secret, not hold one", t.path),
            "write token = \"${secret:FLY_API_TOKEN}\" and store the value with `shipdeck secret set FLY_API_TOKEN` (or $SHIPDECK_SECRET_FLY_API_TOKEN)",
        );
    }
    let token = token.filter(|tok| super::signals::is_secret_ref(tok));
    let pace = pace(ctx, &t, Pace::default());
    url_ok.then_some(())?;
    Some((
        FlyEnv {
            api_url: api_url.trim_end_matches('/').to_string(),
            token: token?,
        },
        pace,
    ))
}

/// `[environment.service.fly]` of a service on Fly (optional: the app is
/// the service's name by default), over its environment's pace.
pub(super) fn parse_service_fly(
    ctx: &mut Ctx<'_>,
    svc: &Table<'_>,
    name: &str,
    env: Option<&(FlyEnv, Pace)>,
    env_has_fly: bool,
) -> Option<FlyService> {
    let Some((_, base)) = env else {
        // A [fly] that failed to parse was reported already.
        if env_has_fly {
            return None;
        }
        ctx.report(
            svc.value_span("platform")
                .or_else(|| svc.value_span("name")),
            format!(
                "{} runs on platform \"fly\" but its environment has no [fly]",
                svc.path
            ),
            "add [environment.fly] with token = \"${secret:FLY_API_TOKEN}\"",
        );
        return None;
    };
    let (app, group, image_repository, pace) =
        match svc.table(ctx, "fly", format!("{} > fly", svc.path)) {
            Some(t) => {
                let keys: Vec<&str> = SERVICE_KEYS.iter().chain(PACE_KEYS).copied().collect();
                t.check_keys(ctx, &keys);
                (
                    t.str(ctx, "app"),
                    t.str(ctx, "group"),
                    t.str(ctx, "image_repository"),
                    pace(ctx, &t, *base),
                )
            }
            None => (None, None, None, *base),
        };
    Some(FlyService {
        app: app.unwrap_or_else(|| name.to_string()),
        group,
        image_repository,
        max_unavailable: pace.max_unavailable,
        canary_hold: pace.canary_hold,
        hold: pace.hold,
        wait_timeout: pace.wait_timeout,
        checks_grace: pace.checks_grace,
        lease_ttl: pace.lease_ttl,
    })
}
