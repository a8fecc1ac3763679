//! Colours. Every status also carries a symbol or word, so `NO_COLOR` loses nothing.

use ratatui::style::{Color, Modifier, Style};

use crate::config::Theme as ThemeName;

/// How good or bad something is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Healthy / done.
    Good,
    /// Failed / firing.
    Bad,
    /// In progress / unknown / stale.
    Warn,
    /// Secondary text.
    Dim,
    /// Normal text.
    Plain,
}

/// Resolved styles.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    color: bool,
    fg: Color,
    dim: Color,
    good: Color,
    bad: Color,
    warn: Color,
    /// Accent for titles and focused borders.
    pub accent: Color,
}

impl Theme {
    /// The named theme, or no colour at all.
    pub fn new(name: ThemeName, no_color: bool) -> Self {
        let mut t = match name {
            ThemeName::Dark => Self {
                color: true,
                fg: Color::Gray,
                dim: Color::DarkGray,
                good: Color::Green,
                bad: Color::LightRed,
                warn: Color::Yellow,
                accent: Color::Cyan,
            },
            ThemeName::Light => Self {
                color: true,
                fg: Color::Black,
                dim: Color::Gray,
                good: Color::Rgb(0, 120, 0),
                bad: Color::Rgb(180, 0, 0),
                warn: Color::Rgb(150, 100, 0),
                accent: Color::Blue,
            },
        };
        if no_color {
            t.color = false;
            t.fg = Color::Reset;
            t.dim = Color::Reset;
            t.good = Color::Reset;
            t.bad = Color::Reset;
            t.warn = Color::Reset;
            t.accent = Color::Reset;
        }
        t
    }

    /// Whether colours are used.
    pub fn has_color(&self) -> bool {
        self.color
    }

    /// Style for a tone.
    pub fn tone(&self, tone: Tone) -> Style {
        let s = Style::default();
        match tone {
            Tone::Good => s.fg(self.good),
            Tone::Bad => s.fg(self.bad).add_modifier(Modifier::BOLD),
            Tone::Warn => s.fg(self.warn),
            Tone::Dim => {
                if self.color {
                    s.fg(self.dim)
                } else {
                    s.add_modifier(Modifier::DIM)
                }
            }
            Tone::Plain => s.fg(self.fg),
        }
    }

    /// The selected cell: reversed, which survives NO_COLOR.
    pub fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }

    /// Border of a pane, brighter when focused.
    pub fn border(&self, focused: bool) -> Style {
        if focused {
            Style::default()
                .fg(self.accent)
                .add_modifier(Modifier::BOLD)
        } else {
            self.tone(Tone::Dim)
        }
    }

    /// An environment's accent (its configured colour), bold.
    pub fn env_accent(&self, color: Option<&str>) -> Style {
        let base = Style::default().add_modifier(Modifier::BOLD);
        match color.and_then(|c| c.parse::<Color>().ok()) {
            Some(c) if self.color => base.fg(c),
            _ => base,
        }
    }
}
