//! The checks a cutover runs on the colour it switches to (its digest, its
//! readiness, the smoke requests, the confirmation after the switch) and on
//! the live colour while it keeps the other warm.

use super::super::driver;
use super::{Ctx, PROBE_EVERY};
use crate::config::proxy::Colour;
use crate::model::Digest;
use std::sync::Arc;
use std::time::Duration;

pub(super) async fn verify_digest(ctx: &Ctx, to: Colour, digest: &Digest) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + ctx.svc.ready_timeout;
    loop {
        let v = super::super::read_colour(&ctx.client, &ctx.svc, to).await;
        if v.digest.as_ref() == Some(digest) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "{to} not ready: it does not serve {} ({}); the proxy was not touched",
                digest.short(),
                match &v.digest {
                    Some(d) => format!("it serves {}", d.short()),
                    None => v.reason,
                }
            ));
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

/// Waits until `to` answers 200 without a break for the stability window.
pub(super) async fn ready(ctx: &Ctx, id: &str, to: Colour) -> Result<(), String> {
    let window = ctx.svc.stability_window;
    let deadline = tokio::time::Instant::now() + ctx.svc.ready_timeout;
    let mut since: Option<tokio::time::Instant> = None;
    let mut breaks = 0u32;
    let mut last = String::new();
    loop {
        let v = super::super::read_colour(&ctx.client, &ctx.svc, to).await;
        let now = tokio::time::Instant::now();
        if v.answering {
            let s = *since.get_or_insert(now);
            if now - s >= window {
                return Ok(());
            }
        } else {
            if since.take().is_some() {
                breaks += 1;
                ctx.update(id, |r| {
                    r.event(format!("{to} broke its window: {}", v.reason));
                });
            }
            last.clone_from(&v.reason);
        }
        if now >= deadline {
            return Err(format!(
                "{to} not ready within {}: it never answered 200 for {} without a break ({}{breaks} break(s)); the proxy was not touched",
                humantime::format_duration(ctx.svc.ready_timeout),
                humantime::format_duration(window),
                if last.is_empty() {
                    String::new()
                } else {
                    format!("last failure: {last}; ")
                },
            ));
        }
        if !ctx.current(id) {
            return Err("replaced by a switch back".to_string());
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

pub(super) async fn smoke(ctx: &Ctx, to: Colour) -> Result<(), String> {
    let secrets = crate::secrets::Secrets::new(
        Arc::new(crate::secrets::MemoryStore::default()),
        crate::secrets::Redactor::default(),
    );
    let results = crate::health::run_smoke(
        &ctx.client,
        &ctx.svc.smoke_checks(to),
        &secrets,
        Duration::from_mins(1),
    )
    .await;
    match crate::health::smoke_failures(&results) {
        None => Ok(()),
        Some(failed) => Err(format!(
            "{to} not ready: smoke checks failed ({failed}); the proxy was not touched"
        )),
    }
}

/// Confirms through the proxy's public address that `to` serves: its status
/// path answers 200 (with `digest`, when given) a few times in a row.
pub(super) async fn confirm(ctx: &Ctx, to: Colour, digest: Option<&Digest>) -> Result<(), String> {
    let Some(base) = &ctx.proxy.url else {
        // No public address: the proxy's own view, read back, confirms it.
        return match driver::live(&ctx.client, &ctx.proxy, &ctx.svc).await {
            Ok(c) if c == to => Ok(()),
            Ok(c) => Err(format!(
                "after the switch, the proxy still sends traffic to {c}"
            )),
            Err(e) => Err(format!("after the switch, the proxy cannot be read: {e}")),
        };
    };
    let url = format!("{}{}", base.trim_end_matches('/'), ctx.svc.status_path);
    let mut good = 0;
    let mut last = String::new();
    for _ in 0..20 {
        let v = super::super::read_status(&ctx.client, &ctx.svc, &url, to).await;
        let right = v.answering && digest.is_none_or(|d| v.digest.as_ref() == Some(d));
        if right {
            good += 1;
            if good >= 3 {
                return Ok(());
            }
        } else {
            good = 0;
            last = match (&v.digest, digest) {
                (Some(seen), Some(want)) if seen != want => {
                    format!("it serves {}, not {}", seen.short(), want.short())
                }
                _ => v.reason,
            };
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(format!(
        "after the switch, requests through the proxy do not reach {to}: {last}"
    ))
}

/// Before the first change: the live colour must still be `live` (a hand
/// switch stops the runbook); `Err` also when the run was replaced.
pub(super) async fn check_live(ctx: &Ctx, id: &str, live: Colour) -> Result<(), String> {
    if !ctx.step(id, format!("checking that {live} is still live")) {
        return Err("replaced by a switch back".to_string());
    }
    let now = driver::live(&ctx.client, &ctx.proxy, &ctx.svc)
        .await
        .map_err(|e| {
            format!("cannot read the proxy before switching: {e}; nothing was switched")
        })?;
    if now != live {
        return Err(format!(
            "the proxy was switched by hand: {now} is live, shipdeck expected {live}; it stopped before touching the proxy"
        ));
    }
    Ok(())
}
