//! What the panes and popups hold beyond one screen: how far each is
//! scrolled, and the messages said so far (the status line shows only the
//! last, and only as much of it as fits).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};

use super::keys::Action;
use super::{Level, PAGE_ROWS};

/// Messages kept for the message log.
pub const MESSAGES_KEPT: usize = 50;

/// The size a view was last drawn at. Rendering writes it (it is scroll
/// state, the one thing rendering may change), so that keys stop at the
/// real end of the text and a page is a page of what is on screen.
#[derive(Debug, Default)]
pub struct Seen {
    lines: AtomicUsize,
    rows: AtomicUsize,
}

impl Clone for Seen {
    fn clone(&self) -> Self {
        let (lines, rows) = self.raw();
        Self {
            lines: AtomicUsize::new(lines),
            rows: AtomicUsize::new(rows),
        }
    }
}

impl Seen {
    /// Remembers that `lines` lines were shown in `rows` rows.
    pub fn record(&self, lines: usize, rows: usize) {
        self.lines.store(lines, Ordering::Relaxed);
        self.rows.store(rows, Ordering::Relaxed);
    }

    fn raw(&self) -> (usize, usize) {
        (
            self.lines.load(Ordering::Relaxed),
            self.rows.load(Ordering::Relaxed),
        )
    }

    /// The furthest a view can scroll and one page, as last drawn; `None`
    /// before the first draw.
    pub fn limits(&self) -> Option<(usize, usize)> {
        match self.raw() {
            (_, 0) => None,
            (lines, rows) => Some((lines.saturating_sub(rows), rows.saturating_sub(1).max(1))),
        }
    }
}

/// A view scrolled down from its top (the detail pane, a popup).
#[derive(Debug, Clone, Default)]
pub struct Scroll {
    offset: usize,
    /// The size it was last drawn at.
    pub seen: Seen,
}

impl Scroll {
    /// Back to the top (a new cell, a popup opened again).
    pub fn reset(&mut self) {
        self.offset = 0;
    }

    /// The first of `lines` lines to show in `rows` rows: never past the
    /// point where the view would stop being full. Remembers the size.
    pub fn first_line(&self, lines: usize, rows: usize) -> usize {
        self.seen.record(lines, rows);
        self.offset.min(lines.saturating_sub(rows))
    }

    /// Moves as a scroll key asks; `false` when `action` is not one.
    pub fn apply(&mut self, action: Action) -> bool {
        let (max, page) = self.seen.limits().unwrap_or((usize::MAX, PAGE_ROWS));
        let at = self.offset.min(max);
        self.offset = match action {
            Action::Up => at.saturating_sub(1),
            Action::Down => at.saturating_add(1).min(max),
            Action::Top => 0,
            Action::Bottom => max,
            Action::PageUp => at.saturating_sub(page),
            Action::PageDown => at.saturating_add(page).min(max),
            _ => return false,
        };
        true
    }
}

/// One message the status line showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// When it was said.
    pub at: DateTime<Utc>,
    /// Information or warning.
    pub level: Level,
    /// The text (sanitised).
    pub text: String,
}

/// Scroll positions and the message log.
#[derive(Debug, Clone, Default)]
pub struct Views {
    /// The detail pane.
    pub detail: Scroll,
    /// The popup on screen (help, the message log).
    pub popup: Scroll,
    /// The messages said, oldest first, at most [`MESSAGES_KEPT`].
    pub said: VecDeque<Said>,
}

impl Views {
    /// Keeps a message for the log; one said again at once is kept once.
    pub fn remember(&mut self, at: DateTime<Utc>, level: Level, text: &str) {
        if self
            .said
            .back()
            .is_some_and(|s| s.level == level && s.text == text)
        {
            return;
        }
        if self.said.len() >= MESSAGES_KEPT {
            self.said.pop_front();
        }
        self.said.push_back(Said {
            at,
            level,
            text: text.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scroll_stops_where_the_view_stays_full() {
        let mut s = Scroll::default();
        // Before the first draw keys move freely; drawing clamps.
        assert!(s.apply(Action::Bottom));
        assert_eq!(s.first_line(30, 10), 20);
        assert!(s.apply(Action::Down));
        assert_eq!(s.first_line(30, 10), 20);
        assert!(s.apply(Action::Up));
        assert_eq!(s.first_line(30, 10), 19);
        assert!(s.apply(Action::PageUp));
        assert_eq!(s.first_line(30, 10), 10);
        assert!(s.apply(Action::Top));
        assert_eq!(s.first_line(30, 10), 0);
        assert!(s.apply(Action::PageDown));
        assert_eq!(s.first_line(30, 10), 9);
        // Text shorter than the view never scrolls.
        assert_eq!(s.first_line(5, 10), 0);
        assert!(!s.apply(Action::Quit));
    }

    #[test]
    fn the_log_keeps_the_latest_and_drops_repeats() {
        let mut v = Views::default();
        let t = DateTime::<Utc>::UNIX_EPOCH;
        for i in 0..(MESSAGES_KEPT + 5) {
            v.remember(t, Level::Info, &format!("m{i}"));
        }
        v.remember(t, Level::Info, &format!("m{}", MESSAGES_KEPT + 4));
        assert_eq!(v.said.len(), MESSAGES_KEPT);
        assert_eq!(v.said.front().map(|s| s.text.as_str()), Some("m5"));
    }
}
