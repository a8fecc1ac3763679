//! Keys, actions and the configurable keymap. Pure: no crossterm types here.

use std::fmt;

use crate::config::KeyBinding;

mod actions;

pub use actions::{ACTIONS, Action, ActionInfo, Context};

/// A key as shipdeck sees it (translated from the terminal's events at the edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// Which key.
    pub code: KeyCode,
    /// Control held.
    pub ctrl: bool,
    /// Alt held.
    pub alt: bool,
}

/// Key codes shipdeck binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyCode {
    /// A printable character (case matters: `R` is shift-r).
    Char(char),
    /// Enter / Return.
    Enter,
    /// Escape.
    Esc,
    /// Tab.
    Tab,
    /// Shift-Tab.
    BackTab,
    /// Backspace.
    Backspace,
    /// Arrow up.
    Up,
    /// Arrow down.
    Down,
    /// Arrow left.
    Left,
    /// Arrow right.
    Right,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Home.
    Home,
    /// End.
    End,
    /// Function key.
    F(u8),
}

impl Key {
    /// A plain key without modifiers.
    pub const fn plain(code: KeyCode) -> Self {
        Self {
            code,
            ctrl: false,
            alt: false,
        }
    }

    /// A character key without modifiers.
    pub const fn ch(c: char) -> Self {
        Self::plain(KeyCode::Char(c))
    }

    /// Ctrl + character.
    pub const fn ctrl(c: char) -> Self {
        Self {
            code: KeyCode::Char(c),
            ctrl: true,
            alt: false,
        }
    }

    /// Parses `"q"`, `"R"`, `"ctrl-r"`, `"alt-x"`, `"F5"`, `"enter"`, `"pgdn"`, `"?"`, `"space"`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = s;
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.len() > 1 && (lower.starts_with("ctrl-") || lower.starts_with("ctrl+")) {
                ctrl = true;
                rest = &rest[5..];
            } else if rest.len() > 1 && (lower.starts_with("alt-") || lower.starts_with("alt+")) {
                alt = true;
                rest = &rest[4..];
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) if !c.is_control() => {
                KeyCode::Char(if ctrl { c.to_ascii_lowercase() } else { c })
            }
            _ => match rest.to_ascii_lowercase().as_str() {
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "tab" => KeyCode::Tab,
                "backtab" | "shift-tab" => KeyCode::BackTab,
                "backspace" => KeyCode::Backspace,
                "space" => KeyCode::Char(' '),
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "pgup" | "pageup" => KeyCode::PageUp,
                "pgdn" | "pagedown" => KeyCode::PageDown,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                f if f.starts_with('f') => match f[1..].parse::<u8>() {
                    Ok(n) if (1..=12).contains(&n) => KeyCode::F(n),
                    _ => return Err(format!("\"{s}\" is not a key")),
                },
                _ => return Err(format!("\"{s}\" is not a key")),
            },
        };
        Ok(Self { code, ctrl, alt })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("shift-tab"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::F(n) => write!(f, "F{n}"),
        }
    }
}

/// Resolved key bindings.
#[derive(Debug, Clone)]
pub struct KeyMap {
    bindings: Vec<(Key, Action)>,
}

/// Looks up an action's metadata.
pub fn info(action: Action) -> &'static ActionInfo {
    ACTIONS
        .iter()
        .find(|i| i.action == action)
        .unwrap_or(&ACTIONS[ACTIONS.len() - 1])
}

impl Default for KeyMap {
    fn default() -> Self {
        let mut bindings = Vec::new();
        for info in ACTIONS {
            for k in info.defaults {
                // Defaults are literals covered by a test; a typo would only drop a binding.
                if let Ok(key) = Key::parse(k) {
                    bindings.push((key, info.action));
                }
            }
        }
        Self { bindings }
    }
}

impl KeyMap {
    /// Defaults overridden by the configuration; every problem names its `file:line:col`.
    pub fn from_config(overrides: &[KeyBinding]) -> Result<Self, Vec<String>> {
        let mut map = Self::default();
        let mut errors = Vec::new();
        for b in overrides {
            let Some(info) = ACTIONS.iter().find(|i| i.name == b.action) else {
                let names: Vec<&str> = ACTIONS.iter().map(|i| i.name).collect();
                let best = names
                    .iter()
                    .map(|n| (strsim::jaro_winkler(&b.action, n), *n))
                    .filter(|(s, _)| *s > 0.8)
                    .max_by(|a, b| a.0.total_cmp(&b.0));
                errors.push(format!(
                    "{}: unknown action \"{}\" in [keys]\n  help: {}",
                    b.location,
                    b.action,
                    match best {
                        Some((_, n)) => format!("did you mean \"{n}\"?"),
                        None => format!("actions are: {}", names.join(", ")),
                    }
                ));
                continue;
            };
            let mut keys = Vec::new();
            for k in &b.keys {
                match Key::parse(k) {
                    Ok(key) if key == Key::ctrl('c') => errors.push(format!(
                        "{}: \"{k}\" cannot be bound to \"{}\"\n  help: ctrl-c always quits; choose another key",
                        b.location, b.action
                    )),
                    Ok(key) => keys.push(key),
                    Err(e) => errors.push(format!(
                        "{}: {e} (for \"{}\")\n  help: write keys like \"r\", \"R\", \"ctrl-r\", \"F5\", \"enter\", \"pgdn\"",
                        b.location, b.action
                    )),
                }
            }
            map.bindings.retain(|(_, a)| *a != info.action);
            for key in keys {
                map.bindings.push((key, info.action));
            }
        }
        // Two actions on one key where both could apply would make one unreachable.
        for (i, (k1, a1)) in map.bindings.iter().enumerate() {
            for (k2, a2) in &map.bindings[i + 1..] {
                if k1 == k2 && a1 != a2 && contexts_overlap(info(*a1).context, info(*a2).context) {
                    let loc = overrides
                        .iter()
                        .find(|b| b.action == info(*a2).name || b.action == info(*a1).name)
                        .map_or("[keys]".to_string(), |b| b.location.clone());
                    errors.push(format!(
                        "{loc}: key \"{k1}\" is bound to both \"{}\" and \"{}\"\n  help: give one of them another key",
                        info(*a1).name,
                        info(*a2).name
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(map)
        } else {
            Err(errors)
        }
    }

    /// The action bound to `key` in `context`: context-specific bindings win
    /// over global ones; in a modal context only its own bindings (and help
    /// and the message log, outside text input) apply.
    pub fn action(&self, key: Key, context: Context) -> Option<Action> {
        let mut found = None;
        for (k, a) in &self.bindings {
            if *k != key {
                continue;
            }
            let c = info(*a).context;
            if c == context {
                return Some(*a);
            }
            let fallback = if context.is_modal() {
                matches!(*a, Action::Help | Action::Messages) && !context.is_typing()
            } else {
                c == Context::Global
            };
            if fallback {
                found = Some(*a);
            }
        }
        found
    }

    /// The first key of an action, for one-key hints ("g deploy…").
    pub fn first(&self, action: Action) -> String {
        self.keys_for(action)
            .first()
            .map_or_else(|| "(unbound)".to_string(), ToString::to_string)
    }

    /// Keys bound to an action, for help and hints.
    pub fn keys_for(&self, action: Action) -> Vec<Key> {
        self.bindings
            .iter()
            .filter(|(_, a)| *a == action)
            .map(|(k, _)| *k)
            .collect()
    }

    /// "k/↑"-style label of an action's keys.
    pub fn label(&self, action: Action) -> String {
        self.keys_for(action)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// Whether one key on two actions of these contexts would make one unreachable:
/// the same context, or a global binding under a non-modal context.
fn contexts_overlap(a: Context, b: Context) -> bool {
    a == b || (a == Context::Global && !b.is_modal()) || (b == Context::Global && !a.is_modal())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(action: &str, keys: &[&str]) -> KeyBinding {
        KeyBinding {
            action: action.into(),
            keys: keys.iter().map(|k| (*k).to_string()).collect(),
            location: "c.toml:3:1".into(),
        }
    }

    #[test]
    fn parses_keys() {
        assert_eq!(Key::parse("q").unwrap(), Key::ch('q'));
        assert_eq!(Key::parse("R").unwrap(), Key::ch('R'));
        assert_eq!(Key::parse("ctrl-r").unwrap(), Key::ctrl('r'));
        assert_eq!(Key::parse("Ctrl+R").unwrap(), Key::ctrl('r'));
        assert_eq!(Key::parse("F5").unwrap(), Key::plain(KeyCode::F(5)));
        assert_eq!(Key::parse("pgdn").unwrap(), Key::plain(KeyCode::PageDown));
        assert_eq!(Key::parse("-").unwrap(), Key::ch('-'));
        assert!(Key::parse("F13").is_err());
        assert!(Key::parse("hyper-x").is_err());
        assert!(Key::parse("").is_err());
    }

    #[test]
    fn every_default_key_parses() {
        for info in ACTIONS {
            for k in info.defaults {
                assert!(Key::parse(k).is_ok(), "{k}");
            }
        }
        assert!(KeyMap::from_config(&[]).is_ok(), "defaults do not clash");
    }

    #[test]
    fn overrides_replace_defaults() {
        let map = KeyMap::from_config(&[binding("refresh", &["F5", "ctrl-r"])]).unwrap();
        assert_eq!(
            map.action(Key::plain(KeyCode::F(5)), Context::Board),
            Some(Action::Refresh)
        );
        assert_eq!(map.action(Key::ch('R'), Context::Board), None);
    }

    #[test]
    fn broken_bindings_are_reported_with_location() {
        let errs = KeyMap::from_config(&[
            binding("refesh", &["x"]),
            binding("help", &["hyper-h"]),
            binding("quit", &["ctrl-c"]),
        ])
        .unwrap_err();
        assert_eq!(errs.len(), 3);
        assert!(errs[0].starts_with("c.toml:3:1: unknown action \"refesh\""));
        assert!(errs[0].contains("did you mean \"refresh\"?"));
        assert!(errs[1].contains("\"hyper-h\" is not a key"));
        assert!(errs[2].contains("ctrl-c always quits"));
    }

    #[test]
    fn clashing_bindings_are_reported() {
        let errs = KeyMap::from_config(&[binding("refresh", &["q"])]).unwrap_err();
        assert!(errs[0].contains("key \"q\" is bound to both"), "{errs:?}");
    }
}
