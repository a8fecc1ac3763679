//! Keys, actions and the configurable keymap. Pure: no crossterm types here.

use std::fmt;

use crate::config::KeyBinding;

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

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Everywhere outside text input and popups.
    Global,
    /// The board has focus.
    Board,
    /// The timeline has focus.
    Timeline,
}

/// Everything a user can ask for with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Leave shipdeck.
    Quit,
    /// Show the keys of the current context.
    Help,
    /// Move up.
    Up,
    /// Move down.
    Down,
    /// Move left.
    Left,
    /// Move right.
    Right,
    /// Focus the next pane.
    NextPane,
    /// Focus the previous pane.
    PrevPane,
    /// Open the detail pane for the selected cell.
    OpenDetail,
    /// Close the detail pane or popup.
    Close,
    /// Filter services by name.
    Filter,
    /// Pick the environment scope.
    EnvScope,
    /// Cycle the timeline scope (service, environment, all).
    TimelineScope,
    /// Read every environment now.
    Refresh,
    /// Jump to the first row / oldest entry.
    Top,
    /// Jump to the last row / follow the tail.
    Bottom,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Promote the previous stage's digest into the selected cell.
    Promote,
    /// Roll the selected cell back to its previous stable revision.
    Rollback,
    /// Run the selected environment's smoke checks.
    Smoke,
    /// Show the deploy or rollback being watched.
    ShowWatch,
}

/// Action metadata: config name, context, description, default keys.
pub struct ActionInfo {
    /// The action.
    pub action: Action,
    /// Name in the `[keys]` table.
    pub name: &'static str,
    /// Where it applies.
    pub context: Context,
    /// One-line description for the help overlay.
    pub description: &'static str,
    /// Default keys.
    pub defaults: &'static [&'static str],
}

/// Every action, in help order.
pub const ACTIONS: &[ActionInfo] = &[
    ActionInfo {
        action: Action::Up,
        name: "up",
        context: Context::Global,
        description: "move up",
        defaults: &["up", "k"],
    },
    ActionInfo {
        action: Action::Down,
        name: "down",
        context: Context::Global,
        description: "move down",
        defaults: &["down", "j"],
    },
    ActionInfo {
        action: Action::Left,
        name: "left",
        context: Context::Board,
        description: "previous environment",
        defaults: &["left", "h"],
    },
    ActionInfo {
        action: Action::Right,
        name: "right",
        context: Context::Board,
        description: "next environment",
        defaults: &["right", "l"],
    },
    ActionInfo {
        action: Action::Top,
        name: "top",
        context: Context::Global,
        description: "first row / oldest entry",
        defaults: &["home", "g"],
    },
    ActionInfo {
        action: Action::Bottom,
        name: "bottom",
        context: Context::Global,
        description: "last row / follow the newest entry",
        defaults: &["end", "G"],
    },
    ActionInfo {
        action: Action::PageUp,
        name: "page_up",
        context: Context::Global,
        description: "page up",
        defaults: &["pgup", "ctrl-u"],
    },
    ActionInfo {
        action: Action::PageDown,
        name: "page_down",
        context: Context::Global,
        description: "page down",
        defaults: &["pgdn", "ctrl-d"],
    },
    ActionInfo {
        action: Action::NextPane,
        name: "next_pane",
        context: Context::Global,
        description: "focus next pane",
        defaults: &["tab"],
    },
    ActionInfo {
        action: Action::PrevPane,
        name: "prev_pane",
        context: Context::Global,
        description: "focus previous pane",
        defaults: &["shift-tab"],
    },
    ActionInfo {
        action: Action::OpenDetail,
        name: "detail",
        context: Context::Board,
        description: "open the detail pane for the cell",
        defaults: &["enter"],
    },
    ActionInfo {
        action: Action::Close,
        name: "close",
        context: Context::Global,
        description: "close detail pane / popup",
        defaults: &["esc"],
    },
    ActionInfo {
        action: Action::Filter,
        name: "filter",
        context: Context::Global,
        description: "filter services by name",
        defaults: &["/"],
    },
    ActionInfo {
        action: Action::EnvScope,
        name: "env_scope",
        context: Context::Global,
        description: "pick environment scope",
        defaults: &["e"],
    },
    ActionInfo {
        action: Action::TimelineScope,
        name: "timeline_scope",
        context: Context::Global,
        description: "timeline: service / environment / all",
        defaults: &["t"],
    },
    ActionInfo {
        action: Action::Refresh,
        name: "refresh",
        context: Context::Global,
        description: "read every environment now",
        defaults: &["R"],
    },
    ActionInfo {
        action: Action::Promote,
        name: "promote",
        context: Context::Board,
        description: "promote the previous stage's digest into this cell (wizard)",
        defaults: &["p"],
    },
    ActionInfo {
        action: Action::Rollback,
        name: "rollback",
        context: Context::Board,
        description: "roll back to the previous stable revision",
        defaults: &["r"],
    },
    ActionInfo {
        action: Action::Smoke,
        name: "smoke",
        context: Context::Board,
        description: "run the environment's smoke checks",
        defaults: &["s"],
    },
    ActionInfo {
        action: Action::ShowWatch,
        name: "watch",
        context: Context::Global,
        description: "show the deploy or rollback being watched",
        defaults: &["w"],
    },
    ActionInfo {
        action: Action::Help,
        name: "help",
        context: Context::Global,
        description: "this help",
        defaults: &["?"],
    },
    ActionInfo {
        action: Action::Quit,
        name: "quit",
        context: Context::Global,
        description: "quit (ctrl-c always quits)",
        defaults: &["q"],
    },
];

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

    /// The action bound to `key` in `context` (context-specific bindings win).
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
            if c == Context::Global {
                found = Some(*a);
            }
        }
        found
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

fn contexts_overlap(a: Context, b: Context) -> bool {
    a == b || a == Context::Global || b == Context::Global
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
