//! The console drawn into ratatui's TestBackend, as plain text.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use shipdeck::app::App;
use shipdeck::ui::{self, Theme};

/// Draws `app` at `w`×`h` with `theme`.
pub fn draw(app: &App, w: u16, h: u16, theme: &Theme) -> Terminal<TestBackend> {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| ui::render(f, app, theme)).unwrap();
    term
}

/// The screen's characters, one line per row, trailing blanks trimmed (no colour).
pub fn text(app: &App, w: u16, h: u16) -> String {
    let term = draw(app, w, h, &Theme::new(shipdeck::config::Theme::Dark, true));
    let buf = term.backend().buffer();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        for x in 0..w {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
