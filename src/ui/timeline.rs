//! The timeline pane: one line per entry, newest at the bottom, with a time
//! column of one width in a view.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::{Theme, Tone};
use crate::app::timeline::{Entry, EntryKind};
use crate::app::{App, Pane, TimelineScope};

/// How a view's times are written: all of them the same width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// `HH:MM:SS`: every entry in the view is from today.
    Time,
    /// `MM-DD HH:MM:SS`: the view reaches another day.
    DateTime,
}

impl Stamp {
    /// The form for entries `first..=last` (oldest and newest in the view)
    /// seen on `now`'s day.
    pub fn for_view(now: DateTime<Utc>, first: DateTime<Utc>, last: DateTime<Utc>) -> Self {
        let today = now.date_naive();
        if first.date_naive() == today && last.date_naive() == today {
            Self::Time
        } else {
            Self::DateTime
        }
    }

    /// `at` in this form, with a space after it.
    pub fn format(self, at: DateTime<Utc>) -> String {
        match self {
            Self::Time => at.format("%H:%M:%S ").to_string(),
            Self::DateTime => at.format("%m-%d %H:%M:%S ").to_string(),
        }
    }
}

/// The symbol and tone of an entry: a start is a start, unknown is never ✓.
pub fn mark(e: &Entry) -> (&'static str, Tone) {
    match (e.kind, e.bad) {
        (_, true) => ("✗", Tone::Bad),
        // A deploy seen starting, and one shipdeck started: both a start.
        (EntryKind::Start | EntryKind::Action, false) => ("▶", Tone::Warn),
        (EntryKind::Unknown, false) => ("?", Tone::Warn),
        (EntryKind::Rollout | EntryKind::Health | EntryKind::Alarm, false) => ("✓", Tone::Good),
        _ => ("·", Tone::Dim),
    }
}

pub(super) fn render_timeline(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    let env = app.env_cfg(app.col).map(|e| e.name.as_str());
    let svc = app.selected_service();
    let (scope_label, env_f, svc_f) = match app.timeline_scope {
        TimelineScope::All => ("all".to_string(), None, None),
        TimelineScope::Environment => (format!("env {}", env.unwrap_or("-")), env, None),
        TimelineScope::Service => (
            format!("{} @ {}", svc.unwrap_or("-"), env.unwrap_or("-")),
            env,
            Some(svc.unwrap_or("")),
        ),
    };
    let inner_h = usize::from(area.height.saturating_sub(2));
    let entries: Vec<_> = app.timeline.filtered(env_f, svc_f).collect();
    let (start, end) = app.timeline.window(entries.len(), inner_h);
    let follow = if app.timeline.following() {
        "following".to_string()
    } else {
        format!("scrolled ↑{} (G follows)", app.timeline.scrolled())
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(app.focus == Pane::Timeline))
        .title(format!(" Timeline (UTC) · {scope_label} · {follow} "));
    let shown = &entries[start..end];
    let width = usize::from(area.width.saturating_sub(2));
    let lines: Vec<Line<'_>> = match (shown.first(), shown.last()) {
        (Some(first), Some(last)) => {
            // The rows on screen line up: one form for all of them.
            let stamp = Stamp::for_view(app.now, first.at, last.at);
            let rows: Vec<Line<'_>> = shown
                .iter()
                .map(|e| {
                    let (sym, tone) = mark(e);
                    Line::from(vec![
                        Span::styled(stamp.format(e.at), theme.tone(Tone::Dim)),
                        Span::styled(format!("{sym} "), theme.tone(tone)),
                        Span::raw(format!("{:<8} ", e.env)),
                        Span::styled(
                            format!("{} ", e.service.as_deref().unwrap_or("-")),
                            theme.tone(Tone::Plain).add_modifier(Modifier::BOLD),
                        ),
                        Span::styled(
                            e.text.clone(),
                            theme.tone(if e.bad { Tone::Bad } else { Tone::Plain }),
                        ),
                    ])
                })
                .collect();
            let indent = stamp.format(first.at).chars().count() + 2;
            fit(&rows, width, indent, inner_h, app.timeline.following())
        }
        _ => vec![Line::styled("no events yet", theme.tone(Tone::Dim))],
    };
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// The rows that fit `height` lines of `width` columns: each row wrapped
/// whole (its continuation indented under the entry's text, so no message is
/// cut off at the pane's edge). When they do not all fit, whole rows are
/// dropped: the oldest while following (the newest stays at the bottom),
/// else the newest (the view's first row stays at the top, where the person
/// scrolled to). A row taller than the pane keeps its first lines.
fn fit(
    rows: &[Line<'_>],
    width: usize,
    indent: usize,
    height: usize,
    newest: bool,
) -> Vec<Line<'static>> {
    let order: Vec<&Line<'_>> = if newest {
        rows.iter().rev().collect()
    } else {
        rows.iter().collect()
    };
    let mut kept: Vec<Vec<Line<'static>>> = Vec::new();
    let mut used = 0;
    for row in order {
        let wrapped = super::wrap::wrap_line(row, width, indent);
        if used + wrapped.len() > height {
            if kept.is_empty() {
                kept.push(wrapped.into_iter().take(height).collect());
            }
            break;
        }
        used += wrapped.len();
        kept.push(wrapped);
    }
    if newest {
        kept.reverse();
    }
    kept.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_in_a_view_have_one_width() {
        let now = Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap();
        let today = Utc.with_ymd_and_hms(2026, 11, 2, 7, 0, 0).unwrap();
        let before = Utc.with_ymd_and_hms(2026, 11, 1, 4, 0, 0).unwrap();
        assert_eq!(Stamp::for_view(now, today, now), Stamp::Time);
        let both = Stamp::for_view(now, before, now);
        assert_eq!(both, Stamp::DateTime);
        assert_eq!(both.format(before), "11-01 04:00:00 ");
        assert_eq!(both.format(today), "11-02 07:00:00 ");
        assert_eq!(Stamp::Time.format(today), "07:00:00 ");
    }

    fn text(lines: &[Line<'_>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn long_entries_wrap_whole_and_the_newest_stays_at_the_bottom() {
        let rows = vec![
            Line::from("10:00:00 old entry that is rather long indeed"),
            Line::from("10:00:01 mid"),
            Line::from("10:00:02 new entry that wraps onto a second row"),
        ];
        // Everything fits: each long entry on two rows, continuation indented.
        let all = text(&fit(&rows, 30, 9, 6, true));
        assert_eq!(all.len(), 5, "{all:?}");
        assert!(all[1].starts_with("         "), "{all:?}");
        assert!(all.concat().contains("indeed"));
        // Three rows: the oldest goes whole, never half of it.
        let three = text(&fit(&rows, 30, 9, 3, true));
        assert_eq!(three[0], "10:00:01 mid", "{three:?}");
        assert!(three.concat().contains("second row"), "{three:?}");
        // One row: the newest's head.
        let one = text(&fit(&rows, 30, 9, 1, true));
        assert_eq!(one.len(), 1);
        assert!(one[0].starts_with("10:00:02 new"), "{one:?}");
        // Scrolled: the view's first row stays at the top, the newest go.
        let top = text(&fit(&rows, 30, 9, 3, false));
        assert!(top[0].starts_with("10:00:00 old"), "{top:?}");
        assert_eq!(top[2], "10:00:01 mid", "{top:?}");
    }
}
