//! Popups: help, the message log, the approvals and the environment picker.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::wrap::{render_scrolled, scroll_hint, wrap_all};
use super::{Theme, Tone};
use crate::app::keys::{ACTIONS, Action, Context};
use crate::app::{App, Level, Pane, mutation_blocked};

/// A `width`×`height` rectangle in the middle of `area` (clipped to it).
pub(super) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [h] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    h
}

/// A popup as wide as it may be, at most `width`, holding `lines` wrapped;
/// taller than the screen, it scrolls.
fn render_popup(
    frame: &mut Frame<'_>,
    area: Rect,
    app: &App,
    (title, width): (String, u16),
    lines: &[Line<'_>],
    theme: &Theme,
) {
    let inner = usize::from(width.min(area.width).saturating_sub(2));
    let rows = wrap_all(lines, inner);
    let height = u16::try_from(rows.len() + 2).unwrap_or(u16::MAX);
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(true))
        .title(Span::styled(
            title,
            theme.tone(Tone::Plain).add_modifier(Modifier::BOLD),
        ));
    render_scrolled(
        frame,
        rect,
        block,
        rows,
        &app.views.popup,
        &scroll_hint(app),
        theme,
    );
}

pub(super) fn render_help(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    let ctx = app.context();
    let pane = match app.focus {
        Pane::Board => "board",
        Pane::Detail => "detail",
        Pane::Timeline => "timeline",
    };
    let mut lines: Vec<Line<'_>> = Vec::new();
    for info in ACTIONS
        .iter()
        .filter(|i| i.context == Context::Global || i.context == ctx)
    {
        let keys = app.keymap.label(info.action);
        if keys.is_empty() {
            continue;
        }
        let mut desc = info.description.to_string();
        if matches!(info.action, Action::Promote | Action::Rollback)
            && mutation_blocked(app).is_some()
        {
            desc.push_str(" (disabled: read-only)");
        }
        lines.push(Line::from(vec![
            Span::styled(format!("  {keys:<16}"), theme.tone(Tone::Good)),
            Span::raw(desc),
        ]));
    }
    lines.push(Line::raw(""));
    for l in [
        "Badges: ✓ ok  ✗ failed/firing  ? unknown  ◐ in progress  - none  ~ stale",
        "A = alarms, H = health, ↑ = promotable, * = digest from running tasks",
        "Timeline: ▶ deploy started / shipdeck acted  ✓ done  ✗ failed  ? unknown",
    ] {
        lines.push(Line::styled(l, theme.tone(Tone::Dim)));
    }
    lines.push(Line::styled(
        format!(
            "esc or {} closes · {} scrolls · keys are configurable in [keys]",
            app.keymap.first(Action::Help),
            scroll_hint(app)
        ),
        theme.tone(Tone::Dim),
    ));
    let title = format!(" Help · Keys in the {pane} ");
    render_popup(frame, area, app, (title, 76), &lines, theme);
}

/// The messages the status line said, newest first, each in full.
pub(super) fn render_messages(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    let mut lines: Vec<Line<'_>> = Vec::new();
    for m in app.views.said.iter().rev() {
        let (sym, tone) = match m.level {
            Level::Warn => ("✗ ", Tone::Bad),
            Level::Info => ("· ", Tone::Plain),
        };
        lines.push(Line::from(vec![
            Span::styled(m.at.format("%H:%M:%S ").to_string(), theme.tone(Tone::Dim)),
            Span::styled(sym, theme.tone(tone)),
            Span::styled(m.text.clone(), theme.tone(tone)),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        format!(
            "esc or {} closes · {} scrolls",
            app.keymap.first(Action::Messages),
            scroll_hint(app)
        ),
        theme.tone(Tone::Dim),
    ));
    let title = format!(" Messages · newest first · {} ", app.views.said.len());
    render_popup(frame, area, app, (title, 100), &lines, theme);
}

/// The promotions waiting for approval, as `shipdeck approvals` lists them,
/// from the ledger the console follows (the team table in team mode).
pub(super) fn render_approvals(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    use crate::model::sanitize;
    let pending = crate::approvals::pending(&app.records, &app.cfg, app.now);
    let mut lines: Vec<Line<'_>> = Vec::new();
    if pending.is_empty() {
        lines.push(Line::raw("  no promotion is waiting for approval"));
    }
    // Each promotion as a few lines that wrap, so that what is still open
    // ("needs 1 business") is whole on a narrow terminal too.
    for p in &pending {
        let r = &p.request;
        lines.push(Line::from(vec![
            Span::styled(
                format!("{} ", sanitize(&r.promotion)),
                theme.tone(Tone::Good).add_modifier(Modifier::BOLD),
            ),
            Span::raw(sanitize(&format!(
                "{} {} → {} · {} · by {} · {}m ago",
                r.service,
                p.from_env.as_deref().unwrap_or("?"),
                r.env,
                r.digest.get(7..19).unwrap_or(&r.digest),
                r.initiator,
                (app.now - r.at).num_minutes().max(0)
            ))),
        ]));
        lines.push(Line::styled(
            sanitize(&format!(
                "  type {} · change {}",
                p.kind_words().unwrap_or_else(|| "-".to_string()),
                p.change_record.as_deref().unwrap_or("-")
            )),
            theme.tone(Tone::Dim),
        ));
        let tone = if p.slots.done() {
            Tone::Good
        } else {
            Tone::Warn
        };
        lines.push(Line::styled(
            sanitize(&format!("  {}", p.slots.summary())),
            theme.tone(tone),
        ));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        format!(
            "approve from any terminal: shipdeck approve{} ID (it shows the request first) · esc closes",
            app.cfg.demo_flag()
        ),
        theme.tone(Tone::Dim),
    ));
    let width = 100.min(area.width);
    let lines = wrap_all(&lines, usize::from(width.saturating_sub(2)));
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(true))
        .title(Span::styled(
            format!(" Waiting for approval · {} ", pending.len()),
            theme.tone(Tone::Plain).add_modifier(Modifier::BOLD),
        ));
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

pub(super) fn render_env_picker(
    frame: &mut Frame<'_>,
    area: Rect,
    app: &App,
    highlighted: usize,
    theme: &Theme,
) {
    let mut choices = vec!["all environments".to_string()];
    choices.extend(app.cfg.environments.iter().map(|e| {
        if e.production {
            format!("{} [PROD]", e.name)
        } else {
            e.name.clone()
        }
    }));
    let lines: Vec<Line<'_>> = choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let current = app.env_scope.map_or(0, |s| s.index() + 1) == i;
            let text = format!(
                "{} {c}{}",
                if i == highlighted { "▶" } else { " " },
                if current { " (current)" } else { "" }
            );
            if i == highlighted {
                Line::styled(text, theme.selected())
            } else {
                Line::raw(text)
            }
        })
        .collect();
    let rect = centered(area, 36, u16::try_from(lines.len() + 2).unwrap_or(u16::MAX));
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(true))
        .title(" Environment scope ");
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}
