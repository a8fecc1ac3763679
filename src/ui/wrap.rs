//! Long text is never cut: styled lines wrap at spaces into rows of a
//! width, each continuation indented under the text it continues, and a
//! view taller than its pane scrolls with a count of what is off screen.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::{Theme, Tone};
use crate::app::App;
use crate::app::keys::{Action, KeyCode};
use crate::app::views::Scroll;

/// Columns `c` takes on a terminal.
fn char_width(c: char) -> usize {
    let mut buf = [0u8; 4];
    Span::raw(&*c.encode_utf8(&mut buf)).width()
}

/// One character of a row: the character, its style, its columns.
type Cell = (char, Style, usize);

fn to_line(cells: &[Cell], indent: usize, style: Style) -> Line<'static> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    if indent > 0 {
        spans.push(Span::raw(" ".repeat(indent)));
    }
    let mut text = String::new();
    let mut current: Option<Style> = None;
    for (c, s, _) in cells {
        if current.is_some_and(|x| x != *s) {
            spans.push(Span::styled(
                std::mem::take(&mut text),
                current.unwrap_or_default(),
            ));
        }
        current = Some(*s);
        text.push(*c);
    }
    if let Some(s) = current {
        spans.push(Span::styled(text, s));
    }
    Line::from(spans).style(style)
}

/// The columns a continuation of `line` is indented by: under the text after
/// a short label (`image    …`, `  ✗ ALARM   …`), else two more than the
/// line's own indent.
pub fn hanging(line: &Line<'_>) -> usize {
    let lead = line
        .spans
        .first()
        .map_or(0, |s| s.content.chars().take_while(|c| *c == ' ').count());
    match line.spans.first() {
        Some(first) if line.spans.len() > 1 && first.width() <= 20 && first.width() > lead => {
            first.width()
        }
        _ => lead + 2,
    }
}

/// `line` in rows of at most `width` columns, broken at spaces; rows after
/// the first start `indent` columns in (less when the width leaves no room).
/// A word longer than a row is cut across rows, so nothing is lost.
pub fn wrap_line(line: &Line<'_>, width: usize, indent: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let indent = if indent * 2 > width { 0 } else { indent };
    let cells: Vec<Cell> = line
        .spans
        .iter()
        .flat_map(|s| s.content.chars().map(move |c| (c, s.style, char_width(c))))
        .collect();
    let mut rows: Vec<Line<'static>> = Vec::new();
    let mut row: Vec<Cell> = Vec::new();
    let mut used = 0;
    for cell in cells {
        let (first, limit) = if rows.is_empty() {
            (true, width)
        } else {
            (false, width - indent)
        };
        if used + cell.2 > limit && !row.is_empty() {
            // Break after the last space that leaves text past the indent
            // on this row (never a label alone); else cut the word here.
            let mut col = 0;
            let mut at = None;
            for (i, (c, _, w)) in row.iter().enumerate() {
                if *c == ' ' && (!first || col >= indent) && row[..i].iter().any(|x| x.0 != ' ') {
                    at = Some(i);
                }
                col += w;
            }
            let carry = match at {
                Some(i) => row.split_off(i),
                None => Vec::new(),
            };
            while row.last().is_some_and(|c| c.0 == ' ') {
                row.pop();
            }
            rows.push(to_line(&row, if first { 0 } else { indent }, line.style));
            row = carry.into_iter().skip_while(|c| c.0 == ' ').collect();
            used = row.iter().map(|c| c.2).sum();
        }
        if row.is_empty() && !rows.is_empty() && cell.0 == ' ' {
            continue;
        }
        used += cell.2;
        row.push(cell);
    }
    if !row.is_empty() || rows.is_empty() {
        let indent = if rows.is_empty() { 0 } else { indent };
        rows.push(to_line(&row, indent, line.style));
    }
    rows
}

/// Every line wrapped at `width`, each under its own [`hanging`] indent.
pub fn wrap_all(lines: &[Line<'_>], width: usize) -> Vec<Line<'static>> {
    lines
        .iter()
        .flat_map(|l| wrap_line(l, width, hanging(l)))
        .collect()
}

/// The key for `action` a hint names: a letter where one is bound (`j`
/// reads shorter than `↓`), else the first.
fn hint_key(app: &App, action: Action) -> String {
    let keys = app.keymap.keys_for(action);
    keys.iter()
        .find(|k| matches!(k.code, KeyCode::Char(_)) && !k.ctrl && !k.alt)
        .or(keys.first())
        .map_or_else(|| "(unbound)".to_string(), ToString::to_string)
}

/// How to scroll, from the keymap: `j/k g/G`.
pub fn scroll_hint(app: &App) -> String {
    format!(
        "{}/{} {}/{}",
        hint_key(app, Action::Down),
        hint_key(app, Action::Up),
        hint_key(app, Action::Top),
        hint_key(app, Action::Bottom)
    )
}

/// Draws `rows` (already wrapped) in `block` at `area`, from where `scroll`
/// stands; the bottom border counts what is above and below, with `hint`
/// (how to scroll) when there is more than fits.
pub fn render_scrolled(
    frame: &mut Frame<'_>,
    area: Rect,
    block: Block<'_>,
    rows: Vec<Line<'static>>,
    scroll: &Scroll,
    hint: &str,
    theme: &Theme,
) {
    let height = usize::from(area.height.saturating_sub(2));
    let first = scroll.first_line(rows.len(), height);
    let below = rows.len().saturating_sub(first + height);
    let mut marks = Vec::new();
    if first > 0 {
        marks.push(format!("↑ {first} above"));
    }
    if below > 0 {
        marks.push(format!("↓ {below} more"));
    }
    if !marks.is_empty() && !hint.is_empty() {
        marks.push(hint.to_string());
    }
    let block = if marks.is_empty() {
        block
    } else {
        block.title_bottom(
            Line::styled(format!(" {} ", marks.join(" · ")), theme.tone(Tone::Warn))
                .right_aligned(),
        )
    };
    let shown: Vec<Line<'static>> = rows.into_iter().skip(first).take(height).collect();
    frame.render_widget(Paragraph::new(shown).block(block), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(rows: &[Line<'_>]) -> Vec<String> {
        rows.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn wraps_at_spaces_under_a_hanging_indent() {
        let line = Line::from(vec![
            Span::raw("rollback "),
            Span::raw("shop-api:3 · 417961446c0f · UNVERIFIED: newest older revision"),
        ]);
        let rows = wrap_line(&line, 30, hanging(&line));
        assert_eq!(
            text(&rows),
            [
                "rollback shop-api:3 ·",
                "         417961446c0f ·",
                "         UNVERIFIED: newest",
                "         older revision",
            ]
        );
    }

    #[test]
    fn a_long_word_is_cut_across_rows_and_nothing_is_lost() {
        let line = Line::from(vec![
            Span::raw("image    "),
            Span::raw("123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/api:1.4.2"),
        ]);
        let rows = wrap_line(&line, 30, hanging(&line));
        let joined: String = text(&rows).iter().map(|r| r.trim_start()).collect();
        assert_eq!(
            joined,
            "image    123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/api:1.4.2"
        );
        assert!(rows.iter().all(|r| r.width() <= 30), "{:?}", text(&rows));
        assert!(
            text(&rows)[0].starts_with("image    1234"),
            "the label keeps its value"
        );
    }

    #[test]
    fn short_lines_and_styles_stay_as_they_are() {
        let bad = Style::default().fg(ratatui::style::Color::Red);
        let line = Line::from(vec![Span::raw("  "), Span::styled("✗ ALARM", bad)]);
        let rows = wrap_line(&line, 40, 4);
        assert_eq!(text(&rows), ["  ✗ ALARM"]);
        assert_eq!(rows[0].spans[1].style, bad);
        assert_eq!(text(&wrap_line(&Line::raw(""), 10, 2)), [""]);
    }
}
