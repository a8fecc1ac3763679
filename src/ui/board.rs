//! The board: services × environments. Only the visible rows are built.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Cell, Row, Table};

use super::{Theme, Tone, age, fit};
use crate::app::{App, EnvState, Pane};
use crate::config::EnvConfig;
use crate::config::EnvId;
use crate::model::drift::{Behind, DriftCell};
use crate::model::{
    AlarmSummary, Freshness, Health, Pinning, RolloutState, ServiceSnapshot, sanitize,
};

/// Lines per service row.
const ROW_HEIGHT: u16 = 2;
/// Lines of the environment header.
const HEADER_HEIGHT: u16 = 3;

pub(super) fn render_board(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    let envs = app.visible_envs();
    let services = app.visible_services();
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(app.focus == Pane::Board))
        .title(" Board · services × environments ");
    let inner = block.inner(area);
    let longest = services
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(7)
        .clamp(7, 20);
    let name_w = u16::try_from(longest).unwrap_or(20) + 1;
    let col_w = usize::from(inner.width.saturating_sub(name_w)) / envs.len().max(1);
    let col_w = col_w.saturating_sub(1);

    let header_cells = std::iter::once(Cell::from(Text::from(vec![Line::from(Span::styled(
        "SERVICE",
        theme.tone(Tone::Dim),
    ))])))
    .chain(envs.iter().map(|&i| {
        Cell::from(env_header(
            &app.envs[i],
            &app.cfg.environments[i],
            app,
            col_w,
            theme,
        ))
    }));
    let header = Row::new(header_cells).height(HEADER_HEIGHT);

    let visible_rows = usize::from(inner.height.saturating_sub(HEADER_HEIGHT) / ROW_HEIGHT).max(1);
    // Stateless scrolling: keep the selection on screen.
    let offset = app.row.saturating_sub(visible_rows - 1);
    let rows: Vec<Row<'_>> = services
        .iter()
        .enumerate()
        .skip(offset)
        .take(visible_rows)
        .map(|(r, svc)| {
            let drift_row = app.drift.iter().find(|d| d.service == *svc);
            let selected_row = r == app.row;
            let name_style = if selected_row {
                theme.tone(Tone::Plain).add_modifier(Modifier::BOLD)
            } else {
                theme.tone(Tone::Plain)
            };
            let marker = if selected_row { "▶" } else { " " };
            let mut cells = vec![Cell::from(Span::styled(
                fit(&format!("{marker}{svc}"), usize::from(name_w)),
                name_style,
            ))];
            for &i in &envs {
                let drift_cell = drift_row
                    .and_then(|d| d.cells.get(i.index()))
                    .and_then(Option::as_ref);
                let mut cell = Cell::from(service_cell(app, i, svc, drift_cell, col_w, theme));
                if selected_row && i == app.col {
                    cell = cell.style(theme.selected());
                }
                cells.push(cell);
            }
            Row::new(cells).height(ROW_HEIGHT)
        })
        .collect();

    let widths: Vec<Constraint> = std::iter::once(Constraint::Length(name_w))
        .chain(
            envs.iter()
                .map(|_| Constraint::Length(u16::try_from(col_w).unwrap_or(0))),
        )
        .collect();
    let mut table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .column_spacing(1);
    if services.is_empty() {
        table = table.footer(Row::new(vec![Cell::from(Span::styled(
            format!("no service matches \"{}\"", app.filter),
            theme.tone(Tone::Warn),
        ))]));
    }
    frame.render_widget(table, area);
}

fn env_header<'a>(
    env: &EnvState,
    cfg: &EnvConfig,
    app: &App,
    width: usize,
    theme: &Theme,
) -> Text<'a> {
    let accent = theme.env_accent(cfg.color.as_deref());
    let mut name = cfg.name.clone();
    if cfg.production {
        name.push_str(" ▲PROD");
    }
    if cfg.read_only {
        name.push_str(" RO");
    }
    let source_problem = [
        ("alarms", &env.alarms_freshness),
        ("metrics", &env.metrics_freshness),
    ]
    .into_iter()
    .find_map(|(name, f)| match f {
        Freshness::Stale { last_good, error } => Some(format!(
            "! {name} STALE {} · {}",
            age(app.now, *last_good),
            sanitize(error)
        )),
        Freshness::Failed { error } => Some(format!("✗ {name} UNREADABLE · {}", sanitize(error))),
        _ => None,
    });
    let (tone, fresh) = match &env.freshness {
        Freshness::Unknown | Freshness::Loading => (Tone::Warn, "… loading".to_string()),
        // ECS answered but another source did not: the header names it.
        Freshness::Ready { .. } if source_problem.is_some() => {
            (Tone::Bad, source_problem.unwrap_or_default())
        }
        Freshness::Ready { at } => (Tone::Good, format!("✓ read {} ago", age(app.now, *at))),
        Freshness::Stale { last_good, error } => (
            Tone::Bad,
            format!("! STALE {} · {}", age(app.now, *last_good), sanitize(error)),
        ),
        Freshness::Failed { error } => (Tone::Bad, format!("✗ FAILED · {}", sanitize(error))),
    };
    let mut style = accent;
    if cfg.production {
        style = style.add_modifier(Modifier::UNDERLINED);
    }
    Text::from(vec![
        Line::from(Span::styled(fit(&name, width), style)),
        Line::from(Span::styled(
            fit(&sanitize(&format!("{}/{}", cfg.region, cfg.cluster)), width),
            theme.tone(Tone::Dim),
        )),
        Line::from(Span::styled(fit(&fresh, width), theme.tone(tone))),
    ])
}

/// Symbol and tone of a rollout state.
pub(super) fn rollout_badge(r: RolloutState) -> (&'static str, Tone) {
    match r {
        RolloutState::Completed => ("✓", Tone::Good),
        RolloutState::InProgress => ("◐", Tone::Warn),
        RolloutState::Failed => ("✗", Tone::Bad),
        RolloutState::RolledBack => ("✗↩", Tone::Bad),
        RolloutState::Unknown => ("?", Tone::Warn),
    }
}

fn alarm_badge(a: AlarmSummary) -> (String, Tone) {
    match a {
        AlarmSummary::None => ("A-".into(), Tone::Dim),
        AlarmSummary::Ok => ("A✓".into(), Tone::Good),
        AlarmSummary::Alarm { count } => (format!("A✗{count}"), Tone::Bad),
        AlarmSummary::Unknown { count } => (format!("A?{count}"), Tone::Warn),
        AlarmSummary::Unreadable => ("A?".into(), Tone::Warn),
    }
}

/// Health badge with latency.
pub(super) fn health_badge(h: &Health) -> (String, Tone) {
    match h {
        Health::NotConfigured => ("H-".into(), Tone::Dim),
        Health::Unknown => ("H?".into(), Tone::Warn),
        Health::Healthy { latency, .. } => (format!("H✓{}ms", latency.as_millis()), Tone::Good),
        Health::Unhealthy {
            status: Some(s), ..
        } => (format!("H✗{s}"), Tone::Bad),
        Health::Unhealthy { status: None, .. } => ("H✗down".into(), Tone::Bad),
    }
}

fn behind_badge(c: Option<&DriftCell>) -> (String, Tone) {
    let Some(c) = c else {
        return (String::new(), Tone::Dim);
    };
    let mark = if c.promotable { "↑" } else { "" };
    match c.behind {
        Behind::FirstStage => (String::new(), Tone::Dim),
        Behind::UpToDate => ("=".into(), Tone::Good),
        Behind::Behind { count } => (format!("{mark}{count} behind"), Tone::Warn),
        Behind::Diverged => (format!("{mark}diverged"), Tone::Warn),
        Behind::Differs => (format!("{mark}differs"), Tone::Warn),
        Behind::Unknown => ("?".into(), Tone::Dim),
    }
}

fn service_cell<'a>(
    app: &App,
    env: EnvId,
    svc: &str,
    drift: Option<&DriftCell>,
    width: usize,
    theme: &Theme,
) -> Text<'a> {
    let e = &app.envs[env];
    let snap: Option<&ServiceSnapshot> = e.snapshot.as_ref().and_then(|s| s.service(svc));
    let Some(s) = snap else {
        let (text, tone) = match (&e.snapshot, &e.freshness) {
            (None, Freshness::Failed { .. }) => ("✗ no data", Tone::Bad),
            (None, _) => ("… loading", Tone::Dim),
            (Some(_), _) if app_lists(app, env, svc) => ("✗ not found", Tone::Bad),
            (Some(_), _) => ("- not here", Tone::Dim),
        };
        return Text::from(Span::styled(text, theme.tone(tone)));
    };
    let stale = !e.freshness.is_fresh();
    let digest_len = if width >= 26 { 12 } else { 8 };
    let (digest, dtone) = match (&s.digest, s.pinning) {
        (Some(d), Pinning::ResolvedFromTasks) => {
            (format!("{}*", &d.short()[..digest_len]), Tone::Plain)
        }
        (Some(d), _) => (d.short()[..digest_len].to_string(), Tone::Plain),
        (None, _) => ("?unpinned".to_string(), Tone::Warn),
    };
    let rev = s
        .task_definition
        .as_ref()
        .map_or("-".to_string(), |t| format!("r{}", t.revision));
    let (rsym, rtone) = rollout_badge(s.rollout());
    let tasks_tone = if s.running == s.desired {
        Tone::Plain
    } else {
        Tone::Warn
    };
    let (alarm, atone) = alarm_badge(s.alarm_summary());
    let (health, htone) = health_badge(&s.health);
    let (behind, btone) = behind_badge(drift);
    // Stale data is dimmed and marked, never shown as if it were current.
    let dim = |t: Tone| if stale { Tone::Dim } else { t };
    let line1 = Line::from(vec![
        Span::styled(if stale { "~" } else { "" }, theme.tone(Tone::Warn)),
        Span::styled(digest, theme.tone(dim(dtone))),
        Span::styled(format!(" {rev} "), theme.tone(Tone::Dim)),
        Span::styled(rsym, theme.tone(dim(rtone))),
        Span::styled(
            format!(" {}/{}", s.running, s.desired),
            theme.tone(dim(tasks_tone)),
        ),
    ]);
    let line2 = Line::from(vec![
        Span::styled(alarm, theme.tone(dim(atone))),
        Span::raw(" "),
        Span::styled(health, theme.tone(dim(htone))),
        Span::raw(" "),
        Span::styled(behind, theme.tone(dim(btone))),
    ]);
    Text::from(vec![line1, line2])
}

fn app_lists(app: &App, env: EnvId, svc: &str) -> bool {
    app.env_cfg(env).is_some_and(|e| e.service(svc).is_some())
}
