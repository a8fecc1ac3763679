//! Popups: help and the environment picker.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::{Theme, Tone};
use crate::app::keys::{ACTIONS, Context};
use crate::app::{App, Pane, mutation_blocked};

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
        if matches!(
            info.action,
            crate::app::keys::Action::Promote | crate::app::keys::Action::Rollback
        ) && mutation_blocked(app).is_some()
        {
            desc.push_str(" (disabled: read-only)");
        }
        lines.push(Line::from(vec![
            Span::styled(format!("  {keys:<16}"), theme.tone(Tone::Good)),
            Span::raw(desc),
        ]));
    }
    let legend = [
        "Badges: ✓ ok  ✗ failed/firing  ? unknown  ◐ in progress  - none  ~ stale",
        "A = alarms, H = health, ↑ = promotable, * = digest from running tasks",
    ];
    // On short terminals the key list matters more than the legend.
    let room = usize::from(area.height.saturating_sub(2));
    if lines.len() + legend.len() + 2 <= room {
        lines.push(Line::raw(""));
        for l in legend {
            lines.push(Line::styled(l, theme.tone(Tone::Dim)));
        }
    }
    lines.push(Line::styled(
        "esc or ? closes · keys are configurable in [keys]",
        theme.tone(Tone::Dim),
    ));
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let rect = centered(area, 76, height);
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(true))
        .title(Span::styled(
            format!(" Help · Keys in the {pane} "),
            theme.tone(Tone::Plain).add_modifier(Modifier::BOLD),
        ));
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

/// The promotions waiting for approval, as `shipdeck approvals` lists them,
/// from the ledger the console follows (the team table in team mode).
pub(super) fn render_approvals(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    use crate::model::sanitize;
    let pending = crate::approvals::pending(&app.records, &app.cfg, app.now);
    let mut lines: Vec<Line<'_>> = Vec::new();
    if pending.is_empty() {
        lines.push(Line::raw("  no promotion is waiting for approval"));
    } else {
        lines.push(Line::styled(
            format!("  ID      {}", crate::approvals::PENDING_HEADER),
            theme.tone(Tone::Dim),
        ));
    }
    for p in &pending {
        lines.push(Line::from(vec![
            Span::styled(
                format!("  {:<7} ", sanitize(&p.request.promotion)),
                theme.tone(Tone::Good),
            ),
            Span::raw(sanitize(&p.columns(app.now))),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "approve from any terminal: shipdeck approve ID (it shows the request first) · esc closes",
        theme.tone(Tone::Dim),
    ));
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let rect = centered(area, 110, height);
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
