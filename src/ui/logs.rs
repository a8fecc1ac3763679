//! The logs pane: a service's lines over the board or the watch, where they
//! come from on top, following the newest unless scrolled up. A source that
//! cannot be read, or a service with nothing to read, is said in words on the
//! pane: an empty log never stands for "no errors".

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::wrap::{hanging, scroll_hint, wrap_line};
use super::{Theme, Tone, age};
use crate::app::App;
use crate::app::keys::Action;
use crate::app::logs::{LOGS_EVERY, LogsState, LogsView};
use crate::model::logs::LogLine;

/// The short name of a stream: a task's id is told by its first eight digits.
fn stream_label(stream: &str) -> String {
    let last = stream.rsplit('/').next().unwrap_or(stream);
    if stream.contains('/') && last.len() > 8 && last.chars().all(|c| c.is_ascii_hexdigit()) {
        last[..8].to_string()
    } else {
        last.to_string()
    }
}

/// A line's tone: what the line itself says went wrong (the word is in it).
fn tone(text: &str) -> Tone {
    let head: String = text
        .chars()
        .take(24)
        .collect::<String>()
        .to_ascii_uppercase();
    if ["ERROR", "FATAL", "PANIC", "EXCEPTION", "FAILED"]
        .iter()
        .any(|w| head.contains(w))
    {
        Tone::Bad
    } else if head.contains("WARN") {
        Tone::Warn
    } else {
        Tone::Plain
    }
}

fn log_row(l: &LogLine, theme: &Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(
            format!(
                "{} {:<8} ",
                l.at.format("%H:%M:%S"),
                stream_label(&l.stream)
            ),
            theme.tone(Tone::Dim),
        ),
        Span::styled(l.text.clone(), theme.tone(tone(&l.text))),
    ])
}

/// What the pane says about its source, above the lines.
fn header(app: &App, v: &LogsView, theme: &Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    match v.state() {
        LogsState::Reading => out.push(Line::styled(
            "reading the logs…",
            theme.tone(Tone::Warn),
        )),
        LogsState::Following(from) => {
            let read = v
                .read_at
                .map_or_else(String::new, |at| format!(" · read {} ago", age(app.now, at)));
            out.push(Line::from(vec![
                Span::styled("from   ", theme.tone(Tone::Dim)),
                Span::raw(format!(
                    "{from} · every {}s{read}",
                    LOGS_EVERY.as_secs()
                )),
            ]));
        }
        LogsState::Nowhere(why) => out.push(Line::from(vec![
            Span::styled("⊘ NO LOGS  ", theme.tone(Tone::Warn).add_modifier(Modifier::BOLD)),
            Span::styled(why.to_string(), theme.tone(Tone::Warn)),
        ])),
        LogsState::Failed { since, why } => out.push(Line::from(vec![
            Span::styled(
                "? UNKNOWN  ",
                theme.tone(Tone::Warn).add_modifier(Modifier::BOLD),
            ),
            Span::styled(
                format!(
                    "the logs cannot be read (since {}): {why}; what follows the lines below is not known",
                    since.format("%H:%M:%S")
                ),
                theme.tone(Tone::Warn),
            ),
        ])),
    }
    if let Some(td) = &v.task_definition {
        out.push(Line::from(vec![
            Span::styled("of     ", theme.tone(Tone::Dim)),
            Span::raw(format!(
                "{td}{}",
                if v.from_watch {
                    " (the revision being rolled out)"
                } else {
                    ""
                }
            )),
        ]));
    }
    if v.dropped > 0 {
        out.push(Line::styled(
            format!("{} older lines dropped", v.dropped),
            theme.tone(Tone::Dim),
        ));
    }
    out
}

/// Draws the logs pane over `area`, when it is open.
pub(super) fn render_logs(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    let Some(v) = &app.logs else {
        return;
    };
    let width = usize::from(area.width.saturating_sub(2)).max(1);
    let mut rows: Vec<Line<'static>> = Vec::new();
    for l in header(app, v, theme) {
        rows.extend(wrap_line(&l, width, hanging(&l)));
    }
    let fixed = rows.len();
    let mut body: Vec<Line<'static>> = Vec::new();
    if v.lines.is_empty()
        && let LogsState::Following(_) = v.state()
    {
        body.push(Line::styled(
            format!(
                "no line logged since {}: following",
                v.cursor
                    .since
                    .map_or_else(|| "-".to_string(), |s| s.format("%H:%M:%S").to_string())
            ),
            theme.tone(Tone::Dim),
        ));
    }
    for l in &v.lines {
        // Under the time and task, a long line wraps: nothing is cut.
        body.extend(wrap_line(&log_row(l, theme), width, 18));
    }
    let height = usize::from(area.height.saturating_sub(2)).saturating_sub(fixed);
    let first = v.first_row(body.len(), height);
    let below = body.len().saturating_sub(first + height);
    rows.extend(body.into_iter().skip(first).take(height));
    let k = |a| app.keymap.first(a);
    let mut marks = Vec::new();
    if first > 0 {
        marks.push(format!("↑ {first} above"));
    }
    if below > 0 {
        marks.push(format!("↓ {below} more"));
    }
    marks.push(if matches!(v.state(), LogsState::Nowhere(_)) {
        "nothing to follow".to_string()
    } else if v.follow {
        "following".to_string()
    } else {
        format!("paused: {} follows", k(Action::Bottom))
    });
    marks.push(format!("{} scrolls", scroll_hint(app)));
    marks.push(format!("esc or {} closes", k(Action::Logs)));
    let title = format!(
        " Logs (UTC) · {} @ {} · {} lines ",
        v.service,
        v.env_name,
        v.lines.len() + v.dropped
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(true))
        .title(Span::styled(
            title,
            theme.tone(Tone::Plain).add_modifier(Modifier::BOLD),
        ))
        .title_bottom(
            Line::styled(format!(" {} ", marks.join(" · ")), theme.tone(Tone::Dim)).right_aligned(),
        );
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(rows).block(block), area);
}

/// The detail pane's hint: the key that follows this cell's logs.
pub(super) fn hint(app: &App) -> String {
    format!(" {} logs ", app.keymap.first(Action::Logs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_named_short_and_lines_toned_by_their_words() {
        assert_eq!(
            stream_label("ecs/app/3f2a9c01d4e5b6a7c8d9e0f1a2b3c4d5"),
            "3f2a9c01"
        );
        assert_eq!(stream_label("deploy command"), "deploy command");
        assert_eq!(tone("ERROR POST /api/orders 500"), Tone::Bad);
        assert_eq!(tone("WARN GET /health 503"), Tone::Warn);
        assert_eq!(tone("INFO GET / 200"), Tone::Plain);
    }
}
