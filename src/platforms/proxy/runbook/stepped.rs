//! ALB weights in configured steps: before the final switch, the new colour
//! takes `weights` of the traffic one `ModifyRule` at a time, each held for
//! `step_interval` while the watch judges it. The switch lock is taken for
//! each change only, so an abort's switch back is never kept waiting.

use super::{Ctx, Outside, PROBE_EVERY, check_live, switch_lock};
use crate::model::Shift;
use crate::model::shift::ALL;
use crate::platforms::proxy::Colour;

/// Shifts the weights from `live` to `to` in the configured steps. `Some(n)`:
/// `n` steps taken (0 when none are configured: the switch is all at once);
/// `None`: a switch back replaced the run.
pub(super) async fn shift(
    ctx: &Ctx,
    id: &str,
    live: Colour,
    to: Colour,
) -> Result<Option<usize>, String> {
    let Some(rule) = ctx.svc.alb.as_ref().filter(|a| !a.steps.is_empty()) else {
        return Ok(Some(0));
    };
    let client = crate::platforms::proxy::alb::client(&ctx.proxy.kind).await?;
    let n = rule.steps.len() + 1;
    for (i, w) in rule.steps.iter().enumerate() {
        {
            let _one = switch_lock().lock().await;
            if i == 0 {
                check_live(ctx, id, live).await?;
            } else {
                unchanged(ctx, id, &client, to, rule.steps[i - 1]).await?;
            }
            let step = u32::try_from(i + 1).unwrap_or(u32::MAX);
            if !ctx.step(
                id,
                format!(
                    "shifting alb weights: {to} {w}%, {live} {}% (step {step} of {n})",
                    100 - w
                ),
            ) {
                return Ok(None);
            }
            crate::platforms::proxy::alb::set(&client, &ctx.svc, to, *w)
                .await
                .map_err(|e| {
                    format!(
                        "weight shift failed: {e}; {}",
                        if i == 0 {
                            format!("{live} still takes all the traffic")
                        } else {
                            format!("{to} keeps {}%", rule.steps[i - 1])
                        }
                    )
                })?;
            let view = view(id, step, *w, &rule.steps);
            ctx.update(id, |r| {
                r.switched = true;
                r.shift = Some(view);
            });
        }
        let until = tokio::time::Instant::now() + rule.step_interval;
        while tokio::time::Instant::now() < until {
            if !ctx.current(id) {
                return Ok(None);
            }
            tokio::time::sleep(PROBE_EVERY.min(until - tokio::time::Instant::now())).await;
        }
    }
    Ok(Some(rule.steps.len()))
}

/// Before the next change: the weights must be where this run left them
/// (a person or another process may have changed them; the run then stops
/// as changed outside shipdeck, never as failed: nothing is rolled back over
/// that change).
pub(super) async fn unchanged(
    ctx: &Ctx,
    id: &str,
    client: &aws_sdk_elasticloadbalancingv2::Client,
    to: Colour,
    left: u32,
) -> Result<(), String> {
    let now = crate::platforms::proxy::alb::share(client, &ctx.svc, to)
        .await
        .map_err(|e| format!("cannot read the listener rule before the next step: {e}"))?;
    if now == left {
        return Ok(());
    }
    let found = Outside::weights(to, now, left);
    let why = format!("{}; it stopped", found.found);
    ctx.changed_outside(id, found);
    Err(why)
}

/// A run's weights as a [`Shift`] for readings.
fn view(id: &str, step: u32, percent: u32, steps: &[u32]) -> Shift {
    Shift {
        kind: "blue/green (ALB weights)".to_string(),
        deployment: id.to_string(),
        new_weight: percent * 100,
        weights: steps.iter().map(|s| s * 100).chain([ALL]).collect(),
        step,
        started: Vec::new(),
        stage: "PRODUCTION_TRAFFIC_SHIFT".to_string(),
        ends_at: None,
        pause: None,
        revisions: Vec::new(),
    }
}
