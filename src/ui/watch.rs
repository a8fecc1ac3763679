//! The deploy watch on screen, and its one-line form while hidden.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

use super::flow::{boxed, prod_tag};
use super::overlays::centered;
use super::wrap::wrap_line;
use super::{Theme, Tone, fit};
use crate::app::App;
use crate::app::flow::{Flow, Phase, WatchView};
use crate::app::keys::Action;
use crate::model::sanitize;
use crate::release::{OpKind, Outcome};

mod evidence;

pub(super) fn render_watch(
    frame: &mut Frame<'_>,
    area: Rect,
    app: &App,
    v: &WatchView,
    theme: &Theme,
) {
    let w = &v.watch;
    let width = area.width.saturating_sub(4).min(110);
    let inner = usize::from(width.saturating_sub(2));
    let height = area.height.saturating_sub(4).min(30);
    let elapsed = w.timeout_clock(app.now);
    // The headline is the engine's one outcome, said once its records are
    // in, with why in short: the rule that aborted, what failed, what could
    // not be seen.
    let (state, tone) = match (&v.phase, v.outcome) {
        (Phase::Deciding(_), _) => ("ABORTED — decide".to_string(), Tone::Bad),
        (Phase::ConfirmAbort, _) => ("confirm abort".to_string(), Tone::Warn),
        (Phase::Recording(..), _) => ("recording the outcome…".to_string(), Tone::Warn),
        (Phase::Done, Some(o)) => (
            sanitize(&o.said(v.watch.cause(o).as_deref())),
            outcome_tone(o),
        ),
        _ => ("watching".to_string(), Tone::Warn),
    };
    // Never cut: a long reason wraps inside the box.
    let mut lines = wrap_line(
        &Line::from(vec![
            Span::styled(
                format!("{state}  "),
                theme.tone(tone).add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                "{} → {}  ·  {}",
                w.from
                    .as_ref()
                    .map_or_else(|| "?".to_string(), ToString::to_string),
                w.to.as_ref()
                    .map_or_else(|| "…".to_string(), ToString::to_string),
                if w.shift.as_ref().is_some_and(|s| s.pause.is_some()) {
                    "paused: no timeout while a person decides".to_string()
                } else if w.shift.is_some() {
                    format!("{elapsed}s of {}s this step", w.policy.timeout.as_secs())
                } else {
                    format!("{elapsed}s of {}s", w.policy.timeout.as_secs())
                }
            )),
        ]),
        inner,
        2,
    );
    lines.push(Line::raw(fit(&w.progress, inner)));
    // A stepped rollout: every step with its weight and time.
    if let Some(sh) = w.shift.as_ref().filter(|_| v.phase == Phase::Watching) {
        // The paused step says how long it has been held, of its minute.
        let held = evidence::countdown(app, v);
        for l in sh.lines() {
            let l = match &held {
                Some(c) if l.starts_with('⏸') => format!("{l} · {c}"),
                _ => l,
            };
            lines.push(Line::styled(
                fit(&format!("  {l}"), inner),
                theme.tone(Tone::Warn),
            ));
        }
    }
    // What to decide on: new beside old and the hold at a step, each rule
    // live. Room is kept for the tasks line, two blanks and the keys.
    let rows = usize::from(height.saturating_sub(2));
    let budget = rows.saturating_sub(lines.len() + 5);
    lines.extend(evidence::lines(app, v, inner, budget, theme));
    if let Some(s) = app
        .envs
        .get(w.env.index())
        .and_then(|e| e.snapshot.as_ref())
        .and_then(|s| s.service(&w.service))
    {
        let health = match &s.health {
            crate::model::Health::Healthy { latency, .. } => {
                format!("healthy ({} ms)", latency.as_millis())
            }
            crate::model::Health::Unhealthy { reason, .. } => format!("FAILING: {reason}"),
            crate::model::Health::Unknown => "not probed yet".to_string(),
            crate::model::Health::NotConfigured => "no health endpoint".to_string(),
        };
        let firing: Vec<&str> = s
            .alarms
            .iter()
            .filter(|a| a.state == crate::model::AlarmState::Alarm)
            .map(|a| &*a.name)
            .collect();
        // What the platform counts running, where it counts something.
        let counted = app
            .env_cfg(w.env)
            .and_then(|e| crate::platforms::units(e, &w.service))
            .map(|u| format!("{u} {}/{} (pending {}) · ", s.running, s.desired, s.pending))
            .unwrap_or_default();
        // Wrapped, not cut: a failing health's reason is read in full.
        lines.extend(wrap_line(
            &Line::raw(format!(
                "{counted}health {health} · alarms {}",
                if firing.is_empty() {
                    "OK".to_string()
                } else {
                    format!("ALARM: {}", firing.join(", "))
                }
            )),
            inner,
            2,
        ));
        // Events as room allows (the timeline has them all).
        let spare = rows.saturating_sub(lines.len() + 5);
        for e in s.events.iter().take(spare.min(3)) {
            lines.push(Line::styled(
                fit(
                    &format!("  {} {}", e.at.format("%H:%M:%S"), e.message),
                    inner,
                ),
                theme.tone(Tone::Dim),
            ));
        }
    }
    lines.push(Line::raw(""));
    // A blank and the keys (two rows where they wrap) follow the log.
    let room = usize::from(height.saturating_sub(2)).saturating_sub(lines.len() + 3);
    // The newest entries that fit, each wrapped under its time: the ending
    // and its reasons are read whole, never cut.
    let mut tail: Vec<Line<'static>> = Vec::new();
    for (at, text) in v.log.iter().rev() {
        let rows = wrap_line(
            &Line::raw(format!("{} {}", at.format("%H:%M:%S"), sanitize(text))),
            inner,
            9,
        );
        if tail.len() + rows.len() > room {
            break;
        }
        tail.extend(rows.into_iter().rev());
    }
    tail.reverse();
    lines.extend(tail);
    lines.push(Line::raw(""));
    let k = |a| app.keymap.first(a);
    let hide = format!(
        "{} hide ({} shows it again) · {} logs",
        k(Action::Hide),
        k(Action::ShowWatch),
        k(Action::WatchLogs)
    );
    let ask = evidence::cut_ask(app, v);
    let keys = match &v.phase {
        Phase::Watching if let Some(ask) = &ask => ask.clone(),
        Phase::Watching if w.shift.as_ref().is_some_and(|s| s.pause.is_some()) => format!(
            "PAUSED at {}: {} continue · {} abort (rolls back) · {hide}",
            w.shift
                .as_ref()
                .map_or_else(String::new, crate::model::Shift::step_label),
            k(Action::ContinueStep),
            k(Action::AbortDeploy)
        ),
        Phase::Watching if w.kind == OpKind::Deploy => {
            format!("{} abort (rolls back) · {hide}", k(Action::AbortDeploy))
        }
        Phase::Watching | Phase::Recording(..) => hide,
        Phase::Deciding(why) => format!(
            "{why} — roll back now? {} yes · {} leave it",
            k(Action::RollBackNow),
            k(Action::LeaveIt)
        ),
        Phase::ConfirmAbort => format!(
            "Abort and roll back to {}? {} yes · {} no",
            w.from
                .as_ref()
                .map_or_else(|| "?".to_string(), ToString::to_string),
            app.keymap.label(Action::AbortYes),
            app.keymap.label(Action::AbortNo)
        ),
        Phase::Done => format!("{} or {} close", k(Action::Dismiss), k(Action::Hide)),
    };
    // Wrapped here, so that the box's height counts every row of it.
    lines.extend(wrap_line(
        &Line::styled(
            keys,
            theme.tone(
                if matches!(v.phase, Phase::Deciding(_) | Phase::ConfirmAbort) || ask.is_some() {
                    Tone::Warn
                } else {
                    Tone::Dim
                },
            ),
        ),
        inner,
        2,
    ));
    let title = format!(
        " {}{} {} · {}{} · {} ",
        if w.automatic { "Automatic " } else { "" },
        if w.kind == OpKind::Deploy {
            "Deploy"
        } else {
            "Rollback"
        },
        w.service,
        w.env_name,
        prod_tag(app, w.env),
        w.promotion
    );
    let h = u16::try_from(lines.len() + 2)
        .unwrap_or(u16::MAX)
        .min(height);
    boxed(frame, centered(area, width, h), title, lines, theme);
}

/// One line for the title bar while a watch is hidden.
pub(super) fn minimised_line(app: &App) -> Option<String> {
    match &app.flow {
        Some(Flow::Watch(v)) if v.minimised => Some(format!(
            "{} {} {}: {}",
            if v.watch.kind == OpKind::Deploy {
                "deploying"
            } else {
                "rolling back"
            },
            v.watch.service,
            v.watch.env_name,
            match (&v.phase, v.outcome) {
                (Phase::Done, Some(o)) => o.headline().to_lowercase(),
                (Phase::Recording(..), _) => "recording the outcome…".to_string(),
                _ => v.watch.progress.clone(),
            }
        )),
        _ => None,
    }
}

/// The colour an outcome deserves: only a success is good; what needs a
/// look (unknown, a stopped watch) warns; the rest is bad.
fn outcome_tone(o: Outcome) -> Tone {
    match o {
        Outcome::Succeeded | Outcome::Issued => Tone::Good,
        Outcome::Unknown | Outcome::Interrupted | Outcome::Cancelled => Tone::Warn,
        _ => Tone::Bad,
    }
}
