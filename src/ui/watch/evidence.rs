//! The watch's evidence on screen: at a step, the new revision beside the
//! old one and the hold's countdown; and each rule's live value against its
//! threshold (after an abort, the values it aborted on).

use ratatui::text::Line;

use super::super::wrap::wrap_line;
use super::super::{Theme, Tone};
use crate::app::App;
use crate::app::flow::{Phase, WatchView};
use crate::app::keys::Action;
use crate::model::sanitize;
use crate::model::shift::ALL;
use crate::release::evidence::{LiveState, RuleLive};

fn tone(state: &LiveState) -> Tone {
    match state {
        LiveState::Within => Tone::Good,
        LiveState::Above | LiveState::Unknown(_) => Tone::Warn,
        LiveState::Breach => Tone::Bad,
    }
}

fn rows(text: &str, inner: usize, tone: Tone, theme: &Theme) -> Vec<Line<'static>> {
    wrap_line(&Line::styled(sanitize(text), theme.tone(tone)), inner, 4)
}

/// The evidence's rows, wrapped at `inner` columns, in at most `budget`
/// rows where it can: rules within their limits fold into one line first.
pub(in crate::ui) fn lines(
    app: &App,
    v: &WatchView,
    inner: usize,
    budget: usize,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let w = &v.watch;
    let snap = app
        .envs
        .get(w.env.index())
        .and_then(|e| e.snapshot.as_ref())
        .and_then(|s| s.service(&w.service));
    let mut out = Vec::new();
    // Beside the old revision while both take traffic (not while the new
    // tasks start, nor once all traffic is on the new revision).
    if v.phase == Phase::Watching
        && w.shift
            .as_ref()
            .is_some_and(|sh| sh.new_weight > 0 && sh.new_weight < ALL)
        && let Some(ev) = snap.and_then(|s| w.step_evidence(&app.cfg, s, app.now))
    {
        for (i, l) in ev.lines().iter().enumerate() {
            // The step and its hold stand on the step's own line above
            // ([`countdown`]), and health in the tasks line below.
            let skip = match i {
                0 => true,
                n => n
                    .checked_sub(2)
                    .and_then(|i| ev.rows.get(i))
                    .is_some_and(|r| r.measure == "health"),
            };
            if !skip {
                out.extend(rows(&format!("  {l}"), inner, Tone::Plain, theme));
            }
        }
    }
    let live: Vec<RuleLive> = if w.seen.rules.is_empty() {
        // Not read yet: each rule is unknown, never fine.
        w.rules
            .iter()
            .map(|(r, _)| RuleLive {
                name: r.name.clone(),
                metric: r.metric.clone(),
                value: None,
                limit: None,
                basis: None,
                above: 0,
                window: r.points,
                state: LiveState::Unknown("not read yet".to_string()),
            })
            .collect()
    } else {
        w.seen.rules.clone()
    };
    if live.is_empty() {
        return out;
    }
    let mut rule_rows = Vec::new();
    if w.after_abort.is_some() {
        rule_rows.extend(rows(
            "  the deploy's rules when it aborted:",
            inner,
            Tone::Dim,
            theme,
        ));
    }
    let full: Vec<Line<'static>> = live
        .iter()
        .flat_map(|r| rows(&format!("  {}", r.line()), inner, tone(&r.state), theme))
        .collect();
    if out.len() + rule_rows.len() + full.len() <= budget {
        rule_rows.extend(full);
    } else {
        // Short of room: what is not within its limit keeps its line.
        let within = live.iter().filter(|r| r.state == LiveState::Within).count();
        for r in live.iter().filter(|r| r.state != LiveState::Within) {
            rule_rows.extend(rows(
                &format!("  {}", r.line()),
                inner,
                tone(&r.state),
                theme,
            ));
        }
        if within > 0 {
            rule_rows.extend(rows(
                &format!(
                    "  ✓ {within} rule{} within {} limit{}",
                    if within == 1 { "" } else { "s" },
                    if within == 1 { "its" } else { "their" },
                    if within == 1 { "" } else { "s" }
                ),
                inner,
                Tone::Good,
                theme,
            ));
        }
    }
    out.extend(rule_rows);
    out
}

/// The hold's countdown at a paused step (`held 28s of 1m: 32s left`),
/// for the step's own line.
pub(in crate::ui) fn countdown(app: &App, v: &WatchView) -> Option<String> {
    let w = &v.watch;
    w.shift.as_ref().filter(|s| s.pause.is_some())?;
    let snap = app
        .envs
        .get(w.env.index())
        .and_then(|e| e.snapshot.as_ref())
        .and_then(|s| s.service(&w.service))?;
    w.hold(snap).map(|h| h.countdown(app.now))
}

/// The question after a first press of continue during the hold, while it
/// stands: `the hold has 32s left of 1m: continue anyway? …`.
pub(in crate::ui) fn cut_ask(app: &App, v: &WatchView) -> Option<String> {
    let w = &v.watch;
    let sh = w.shift.as_ref().filter(|s| s.pause.is_some())?;
    if v.cut_asked != Some(sh.step) {
        return None;
    }
    let snap = app
        .envs
        .get(w.env.index())
        .and_then(|e| e.snapshot.as_ref())
        .and_then(|s| s.service(&w.service))?;
    let c = app.keymap.first(Action::ContinueStep);
    Some(match w.hold(snap).and_then(|h| h.not_over(app.now)) {
        Some(left) => format!(
            "{left}: continue anyway? {c} again continues (cuts the hold short, said on the record) · any other key keeps holding"
        ),
        None => format!("the hold is over: {c} continues"),
    })
}
