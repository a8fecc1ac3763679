//! Rendering: reads the model, draws, mutates nothing.

mod board;
mod detail;
mod flow;
mod logs;
mod overlays;
pub mod theme;
mod timeline;
mod watch;
mod wrap;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::keys::Action;
use crate::app::{App, Level, Overlay};
pub use theme::{Theme, Tone};

/// Smallest usable terminal.
pub const MIN_WIDTH: u16 = 80;
/// Smallest usable terminal.
pub const MIN_HEIGHT: u16 = 24;

/// Draws the whole console.
pub fn render(frame: &mut Frame<'_>, app: &App, theme: &Theme) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        render_too_small(frame, area, theme);
        return;
    }
    let [title, main, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(10),
        Constraint::Length(1),
    ])
    .areas(area);
    render_title(frame, title, app, theme);
    let board_share = if app.detail_open { 45 } else { 58 };
    let [board_area, lower] = Layout::vertical([
        Constraint::Percentage(board_share),
        Constraint::Percentage(100 - board_share),
    ])
    .areas(main);
    board::render_board(frame, board_area, app, theme);
    if app.detail_open {
        let [d, t] = Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
            .areas(lower);
        detail::render_detail(frame, d, app, theme);
        timeline::render_timeline(frame, t, app, theme);
    } else {
        timeline::render_timeline(frame, lower, app, theme);
    }
    render_status(frame, status, app, theme);
    flow::render_flow(frame, main, app, theme);
    logs::render_logs(frame, main, app, theme);
    match &app.overlay {
        Overlay::Help => overlays::render_help(frame, area, app, theme),
        Overlay::EnvPicker(i) => overlays::render_env_picker(frame, area, app, *i, theme),
        Overlay::Approvals => overlays::render_approvals(frame, area, app, theme),
        Overlay::Messages => overlays::render_messages(frame, area, app, theme),
        Overlay::Filter | Overlay::None => {}
    }
}

fn render_too_small(frame: &mut Frame<'_>, area: Rect, theme: &Theme) {
    let text = vec![
        Line::from(Span::styled(
            "shipdeck needs a bigger terminal",
            theme.tone(Tone::Warn),
        )),
        Line::from(format!(
            "now {}×{}, need at least {MIN_WIDTH}×{MIN_HEIGHT}",
            area.width, area.height
        )),
        Line::from("resize the window, or press q to quit"),
    ];
    let y = area.height.saturating_sub(3) / 2;
    let rect = Rect::new(area.x, area.y + y, area.width, area.height.min(3));
    frame.render_widget(Paragraph::new(text).alignment(Alignment::Center), rect);
}

fn render_title(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    let mut spans = vec![
        Span::styled(
            " shipdeck ",
            Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ),
        Span::raw(format!(
            "  {} environments · {} services",
            app.envs.len(),
            app.services.len()
        )),
    ];
    if let Some(line) = watch::minimised_line(app) {
        spans.push(Span::styled(format!(" · {line}"), theme.tone(Tone::Warn)));
    }
    if let Some(i) = app.env_scope {
        spans.push(Span::styled(
            format!(" · scope: {}", app.cfg.environments[i].name),
            theme.tone(Tone::Warn),
        ));
    }
    if !app.filter.is_empty() || app.overlay == Overlay::Filter {
        let cursor = if app.overlay == Overlay::Filter {
            "▏"
        } else {
            ""
        };
        spans.push(Span::styled(
            format!(" · filter: /{}{cursor}", app.filter),
            theme.tone(Tone::Warn),
        ));
        spans.push(Span::raw(format!(
            " ({} shown)",
            app.visible_services().len()
        )));
    }
    // Problems first: counted beside the sizes, in the room the rest leaves.
    let used: usize = spans.iter().map(Span::width).sum();
    let problems = board::problem_spans(app, usize::from(area.width).saturating_sub(used), theme);
    spans.splice(2..2, problems);
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_status(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    let mut left = vec![Span::raw(format!(" {} ", app.operator))];
    if app.read_only {
        left.push(Span::styled(
            " READ-ONLY ",
            theme.tone(Tone::Warn).add_modifier(Modifier::REVERSED),
        ));
        left.push(Span::raw(" "));
    }
    // A message cut to fit points to the log that holds it in full.
    let room = usize::from(area.width)
        .saturating_sub(left.iter().map(Span::width).sum::<usize>())
        .saturating_sub(1);
    let said = |m: &str| {
        if m.chars().count() <= room {
            return m.to_string();
        }
        let more = format!(" ({}: more)", app.keymap.first(Action::Messages));
        format!(
            "{}{more}",
            fit(m, room.saturating_sub(more.chars().count()))
        )
    };
    match &app.message {
        Some((Level::Warn, m)) => {
            left.push(Span::styled(said(&format!("✗ {m}")), theme.tone(Tone::Bad)));
        }
        Some((Level::Info, m)) => left.push(Span::raw(said(m))),
        None if app.overlay == Overlay::Filter => {
            left.push(Span::raw("type to filter · enter keep · esc clear"));
        }
        None => {}
    }
    // A message needs the room more than the hints do.
    let hints = if app.message.is_some() {
        String::new()
    } else {
        format!(
            "{} help · {} quit ",
            app.keymap.label(Action::Help),
            app.keymap.label(Action::Quit)
        )
    };
    let width = usize::from(area.width);
    let hint_width = hints.chars().count();
    let [l, r] = Layout::horizontal([
        Constraint::Min(1),
        Constraint::Length(u16::try_from(hint_width.min(width / 2)).unwrap_or(0)),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(Line::from(left)), l);
    frame.render_widget(
        Paragraph::new(hints)
            .style(theme.tone(Tone::Dim))
            .alignment(Alignment::Right),
        r,
    );
}

/// Short human age: `4s`, `3m`, `2h`, `5d`.
pub fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let s = (now - then).num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// Cuts `s` to `width` characters, ending in `…` when cut.
pub fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ages() {
        let t = Utc.timestamp_opt(1_000_000, 0).unwrap();
        assert_eq!(age(t, t), "0s");
        assert_eq!(age(t + chrono::Duration::seconds(59), t), "59s");
        assert_eq!(age(t + chrono::Duration::seconds(61), t), "1m");
        assert_eq!(age(t + chrono::Duration::hours(5), t), "5h");
        assert_eq!(age(t + chrono::Duration::days(3), t), "3d");
        assert_eq!(age(t, t + chrono::Duration::days(3)), "0s");
    }

    #[test]
    fn columns_fit_and_keep_the_selection_on_screen() {
        use board::columns;
        // The demo's three environments at 80 columns: full cells.
        let c = columns(64, 3, 0);
        assert!(!c.compact && c.shown == 3 && c.width >= 18, "{c:?}");
        // Ten at 80 columns: compact and scrolled, still several on screen.
        for avail in [50, 64, 100, 200] {
            for n in [1, 2, 3, 10, 40, 100, 200] {
                for sel in 0..n {
                    let c = columns(avail, n, sel);
                    assert!(
                        c.shown >= 1 && c.first + c.shown <= n,
                        "{avail} {n} {sel}: {c:?}"
                    );
                    assert!(
                        (c.first..c.first + c.shown).contains(&sel),
                        "{avail} {n} {sel}: {c:?}"
                    );
                    assert!(c.shown * (c.width + 1) <= avail.max(c.width + 1), "{c:?}");
                    assert!(c.width >= 9 || c.shown == 1, "{avail} {n}: {c:?}");
                }
            }
        }
        let c = columns(64, 10, 0);
        assert!(c.compact && c.shown >= 5, "{c:?}");
    }

    #[test]
    fn fits() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
        assert_eq!(fit("abc", 0), "");
    }
}
