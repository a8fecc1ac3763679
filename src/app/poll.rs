//! What readings, probes, smoke runs and ticks do to the model: freshness per
//! source, backoff, health history, the timeline.

use chrono::{DateTime, Utc};

use super::timeline::EntryKind;
use super::{
    App, BACKOFF_BASE, Command, EnvState, Flow, HEALTH_HISTORY, LEDGER_EVERY, Level, WATCH_POLL,
    backoff, chrono_dur, flow,
};
use crate::config::EnvId;
use crate::health::{HealthTracker, ProbeResult, SmokeResult};
use crate::model::{EnvSnapshot, Freshness, Health};
use crate::provider::ProviderError;

pub(super) fn update_tick(app: &mut App, now: DateTime<Utc>) -> Vec<Command> {
    // Ages on screen change with the second.
    if now.timestamp() != app.now.timestamp() {
        app.dirty = true;
    }
    app.now = now;
    let due: Vec<EnvId> = app
        .envs
        .iter()
        .enumerate()
        .filter(|(_, e)| e.in_flight.is_none() && e.next_poll.is_none_or(|t| t <= now))
        .map(|(i, _)| EnvId(i))
        .collect();
    let mut cmds: Vec<Command> = due.into_iter().map(|i| app.issue_poll(i)).collect();
    // Approvals arrive through the ledger: re-read it while the wizard or the
    // approvals pane is open.
    let due = app
        .ledger_asked
        .is_none_or(|at| now - at >= chrono_dur(LEDGER_EVERY));
    let ask = match &app.flow {
        Some(Flow::Wizard(w)) if due => Some((w.plan.target, w.plan.service.clone())),
        // A paused step: decisions from other terminals arrive through it too.
        Some(Flow::Watch(v))
            if due && v.watch.shift.as_ref().is_some_and(|s| s.pause.is_some()) =>
        {
            Some((v.watch.env, v.watch.service.clone()))
        }
        _ if due && app.overlay == super::Overlay::Approvals => app
            .selected_service()
            .map(|s| (EnvId(app.col.index()), s.to_string())),
        _ => None,
    };
    if let Some((env, service)) = ask {
        app.ledger_asked = Some(now);
        cmds.push(Command::ReadLedger { env, service });
    }
    flow::refresh_gate(app);
    cmds.extend(flow::on_tick(app));
    cmds.extend(super::histories::on_tick(app));
    cmds
}

/// When an environment read at `at` is read next: on a grid of `every` on
/// which each of the `envs` environments has its own phase, at least half an
/// interval on. Readings that arrive together (the first ones always do)
/// would otherwise stay in step forever, and the console would hold every
/// environment's old and new reading at once: at thousands of services that
/// peak is most of its memory.
pub(super) fn next_slot(
    at: DateTime<Utc>,
    every: std::time::Duration,
    env: EnvId,
    envs: usize,
) -> DateTime<Utc> {
    let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX).max(1);
    let envs = i64::try_from(envs.max(1)).unwrap_or(1);
    let index = i64::try_from(env.index()).unwrap_or(0) % envs;
    let phase = every_ms / envs * index;
    let earliest = at.timestamp_millis().saturating_add(every_ms / 2);
    let slots = (earliest - phase).div_euclid(every_ms).saturating_add(1);
    let next = slots.saturating_mul(every_ms).saturating_add(phase);
    DateTime::from_timestamp_millis(next)
        .or_else(|| at.checked_add_signed(chrono_dur(every)))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Whether every platform of `env` reads from watches, so that a reading
/// costs no request ([`crate::provider::Capabilities::watched`]).
fn watched_only(env: &crate::config::EnvConfig) -> bool {
    crate::platforms::kinds(env)
        .iter()
        .all(|k| crate::platforms::capabilities(*k).watched)
}

pub(super) fn update_polled(
    app: &mut App,
    env: EnvId,
    request: u64,
    at: DateTime<Utc>,
    result: Result<EnvSnapshot, ProviderError>,
) {
    let Some(e) = app.envs.get_mut(env.index()) else {
        return;
    };
    // A superseded request's answer is ignored.
    if e.in_flight != Some(request) {
        return;
    }
    e.in_flight = None;
    app.dirty = true;
    match result {
        Ok(snap) => {
            e.freshness = e.freshness.on_success(snap.read_at);
            e.failures = 0;
            let watched = matches!(&app.flow, Some(Flow::Watch(v)) if v.watch.env == env && v.phase == flow::Phase::Watching);
            e.next_poll = Some(if watched {
                at + chrono_dur(app.cfg.refresh_interval.min(WATCH_POLL))
            } else if watched_only(&app.cfg.environments[env]) {
                at + chrono_dur(app.cfg.refresh_interval.min(crate::provider::WATCHED_POLL))
            } else {
                next_slot(
                    at,
                    app.cfg.refresh_interval,
                    env,
                    app.cfg.environments.len(),
                )
            });
            // Names are looked up, not copied: this runs for every service
            // of every reading.
            let probed = !app.trackers.is_empty();
            let history = app.health_history.entry(env).or_default();
            for svc in &snap.services {
                // Probed services keep their history in the tracker.
                if probed && app.trackers.contains_key(&(env, svc.name.clone())) {
                    continue;
                }
                if let Health::Healthy { latency, .. } = &svc.health {
                    let ms = u32::try_from(latency.as_millis()).unwrap_or(u32::MAX);
                    let h = match history.get_mut(svc.name.as_str()) {
                        Some(h) => h,
                        None => history.entry(svc.name.clone()).or_default(),
                    };
                    h.push_back(ms);
                    if h.len() > HEALTH_HISTORY {
                        h.pop_front();
                    }
                }
            }
            let mut snap = snap;
            if probed {
                for svc in &mut snap.services {
                    if let Some(t) = app.trackers.get(&(env, svc.name.clone())) {
                        svc.health = t.health(at);
                    }
                }
            }
            app.histories.apply(env, &mut snap, at);
            app.supply.apply(&mut snap);
            let prev = app.envs[env].snapshot.take();
            update_sources(&mut app.envs[env], prev.as_ref(), &snap);
            app.timeline.record_reading(prev.as_ref(), &snap);
            app.envs[env].snapshot = Some(snap);
            app.recompute_drift_after(env, prev.as_ref());
            // Freeing a reading of thousands of services takes milliseconds
            // that a key press should not wait behind.
            if let Some(old) = prev
                && old.services.len() >= 1000
            {
                // If no thread can be started, the reading is freed here.
                let _ = std::thread::Builder::new()
                    .name("free-reading".into())
                    .spawn(move || drop(old));
            }
        }
        Err(err) => {
            let text = err.to_string();
            let changed = match &e.freshness {
                Freshness::Stale { error, .. } | Freshness::Failed { error } => *error != text,
                _ => true,
            };
            e.freshness = e.freshness.on_failure(text.clone());
            e.failures = e.failures.saturating_add(1);
            let wait = if err.is_transient() {
                let retry_after = match &err {
                    ProviderError::Throttled { retry_after, .. } => *retry_after,
                    _ => None,
                };
                backoff(e.failures, request, retry_after)
            } else {
                app.cfg.refresh_interval.max(BACKOFF_BASE)
            };
            e.next_poll = Some(at + chrono_dur(wait));
            let name = app.cfg.environments[env].name.clone();
            // Repeating the same error every retry would bury the timeline.
            if changed {
                let key = format!("err:{name}:{}", at.timestamp_millis());
                app.timeline.push(
                    key,
                    at,
                    &name,
                    None,
                    EntryKind::Error,
                    &format!("reading failed: {text}"),
                    true,
                );
            }
        }
    }
}

/// Each source keeps its own freshness: CloudWatch failing while ECS answers
/// makes the alarms stale (last good values kept aside), never "none".
pub(super) fn update_sources(e: &mut EnvState, prev: Option<&EnvSnapshot>, snap: &EnvSnapshot) {
    use crate::model::SourceState;
    let next = |f: &Freshness, s: &SourceState| match s {
        SourceState::NotUsed => Freshness::Unknown,
        SourceState::Ready => f.on_success(snap.read_at),
        SourceState::Failed { error } => f.on_failure(error.clone()),
    };
    e.alarms_freshness = next(&e.alarms_freshness, &snap.sources.alarms);
    e.metrics_freshness = next(&e.metrics_freshness, &snap.sources.metrics);
    if snap.sources.alarms.error().is_none() {
        e.last_good_alarms.clear();
        return;
    }
    for svc in &snap.services {
        if e.last_good_alarms.contains_key(&svc.name) {
            continue;
        }
        if let Some(p) = prev.and_then(|p| p.service(&svc.name))
            && p.alarms_unknown.is_none()
            && !p.alarms.is_empty()
        {
            e.last_good_alarms
                .insert(svc.name.clone(), p.alarms.clone());
        }
    }
}

pub(super) fn update_probed(app: &mut App, env: EnvId, service: &str, result: ProbeResult) {
    let key = (env, service.to_string());
    let window = app
        .windows
        .get(&key)
        .copied()
        .unwrap_or(crate::config::DEFAULT_STABILITY_WINDOW);
    let tracker = app
        .trackers
        .entry(key)
        .or_insert_with(|| HealthTracker::new(window));
    let was_bad = tracker.last().is_some_and(|r| !r.ok);
    let at = result.at;
    tracker.record(result);
    let health = tracker.health(app.now.max(at));
    let now_bad = health.is_bad();
    let Some(name) = app.env_cfg(env).map(|e| e.name.clone()) else {
        return;
    };
    let Some(e) = app.envs.get_mut(env.index()) else {
        return;
    };
    if let Some(s) = e
        .snapshot
        .as_mut()
        .and_then(|s| s.services.iter_mut().find(|s| s.name == service))
    {
        s.health = health.clone();
    }
    if was_bad != now_bad {
        let text = match &health {
            Health::Unhealthy { reason, .. } => format!("health failing: {reason}"),
            _ => "health recovered".to_string(),
        };
        let key = format!("probe:{name}:{service}:{}", at.timestamp_millis());
        app.timeline.push(
            key,
            at,
            &name,
            Some(service),
            EntryKind::Health,
            &text,
            now_bad,
        );
    }
    app.dirty = true;
}

pub(super) fn update_smoke(app: &mut App, env: EnvId, at: DateTime<Utc>, results: &[SmokeResult]) {
    app.smoke_running.retain(|e| *e != env);
    let Some(name) = app.env_cfg(env).map(|e| e.name.clone()) else {
        return;
    };
    for (i, r) in results.iter().enumerate() {
        let text = format!(
            "smoke {} {}: {}",
            if r.passed { "passed" } else { "FAILED" },
            r.name,
            r.reason
        );
        app.timeline.push(
            format!("smoke:{name}:{}:{i}", at.timestamp_millis()),
            at,
            &name,
            None,
            EntryKind::Action,
            &text,
            !r.passed,
        );
    }
    let failed = results.iter().filter(|r| !r.passed).count();
    let level = if failed == 0 {
        Level::Info
    } else {
        Level::Warn
    };
    app.say(
        level,
        format!(
            "smoke {name}: {} passed, {failed} failed",
            results.len() - failed
        ),
    );
    app.dirty = true;
}

#[cfg(test)]
mod tests {
    use super::next_slot;
    use crate::config::EnvId;
    use chrono::{DateTime, TimeZone, Utc};
    use std::time::Duration;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_800_000_000_000 + ms).unwrap()
    }

    #[test]
    fn readings_that_arrive_together_are_spread_over_the_interval() {
        let every = Duration::from_secs(6);
        let slots: Vec<i64> = (0..3)
            .map(|i| (next_slot(at(10), every, EnvId(i), 3) - at(0)).num_milliseconds())
            .collect();
        assert_eq!(slots, vec![6_000, 8_000, 4_000]);
    }

    #[test]
    fn an_environment_keeps_its_phase_and_waits_at_least_half_an_interval() {
        let every = Duration::from_secs(5);
        let mut t = at(0);
        for _ in 0..20 {
            // A reading lands anywhere from at once to 4.9 s after it was asked.
            for late in [0, 1_700, 4_900] {
                let arrived = t + chrono::Duration::milliseconds(late);
                let next = next_slot(arrived, every, EnvId(1), 3);
                assert!(next - arrived >= chrono::Duration::milliseconds(2_500));
                assert!(next - arrived <= chrono::Duration::milliseconds(7_500));
                assert_eq!((next - at(0)).num_milliseconds().rem_euclid(5_000), 1_666);
            }
            t = next_slot(t, every, EnvId(1), 3);
        }
    }

    #[test]
    fn odd_settings_still_give_a_later_time() {
        for every in [Duration::ZERO, Duration::from_millis(1), Duration::MAX] {
            for envs in [0, 1, 200] {
                let next = next_slot(at(0), every, EnvId(7), envs);
                assert!(next >= at(0), "{every:?} {envs}");
            }
        }
    }
}
