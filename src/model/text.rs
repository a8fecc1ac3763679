//! The one sanitiser: text that came from outside (API answers, HTTP bodies,
//! configuration values, file names, ledger fields, error messages that echo
//! input) passes through here before it reaches a terminal, in the CLI as in the
//! console. JSON output keeps the exact text but escapes what a terminal would
//! act on ([`json_safe`]).

/// ESC.
const ESC: char = '\u{1b}';
/// BEL, one of the two terminators of an OSC string.
const BEL: char = '\u{7}';
/// The C1 string terminator.
const ST: char = '\u{9c}';

/// What a character starts, for the sequences a terminal would act on.
enum Seq {
    /// Control sequence: parameters up to a final byte in `@`..=`~`.
    Csi,
    /// A string (OSC, DCS, SOS, PM, APC) up to ST, ESC `\` or BEL.
    Str,
    /// ESC followed by one more character (ESC c, ESC 7, …).
    EscOne,
}

fn starts(c: char, next: Option<char>) -> Option<(Seq, bool)> {
    // The bool says whether `next` belongs to the introducer.
    match (c, next) {
        (ESC, Some('[')) => Some((Seq::Csi, true)),
        (ESC, Some(']' | 'P' | 'X' | '^' | '_')) => Some((Seq::Str, true)),
        (ESC, Some(n)) if !n.is_control() => Some((Seq::EscOne, true)),
        (ESC, _) => Some((Seq::EscOne, false)),
        ('\u{9b}', _) => Some((Seq::Csi, false)),
        ('\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}', _) => Some((Seq::Str, false)),
        _ => None,
    }
}

/// Unicode format characters that reorder text on screen (bidi overrides and
/// isolates): a name could be made to read as something else.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}' | '\u{200e}' | '\u{200f}')
}

/// What becomes of a line break.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Breaks {
    /// A space (tabs too): one line.
    Space,
    /// Kept as `\n`.
    Keep,
    /// A visible [`FOLDED_BREAK`]: one line that shows where it broke.
    Mark,
}

fn clean(text: &str, breaks: Breaks) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if breaks == Breaks::Mark && matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}') {
            if c == '\r' && chars.peek() == Some(&'\n') {
                chars.next();
            }
            out.push_str(FOLDED_BREAK);
            continue;
        }
        if let Some((seq, eat_next)) = starts(c, chars.peek().copied()) {
            if eat_next {
                chars.next();
            }
            match seq {
                Seq::Csi => {
                    for n in chars.by_ref() {
                        if ('@'..='~').contains(&n) {
                            break;
                        }
                    }
                }
                Seq::Str => {
                    while let Some(n) = chars.next() {
                        if n == BEL || n == ST {
                            break;
                        }
                        if n == ESC && chars.peek() == Some(&'\\') {
                            chars.next();
                            break;
                        }
                    }
                }
                Seq::EscOne => {}
            }
            continue;
        }
        match c {
            '\n' if breaks == Breaks::Keep => out.push('\n'),
            '\n' | '\t' => out.push(' '),
            c if c.is_control() || is_bidi_control(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// Removes control characters, terminal escape sequences (CSI, OSC, DCS, APC,
/// their C1 forms, bare ESC) and bidi overrides from text that came from outside
/// before it is drawn or printed. Newlines and tabs become spaces: the result is
/// one line.
pub fn sanitize(text: &str) -> String {
    clean(text, Breaks::Space)
}

/// Like [`sanitize`], but keeps line breaks (multi-line messages such as
/// configuration problems with their help lines).
pub fn sanitize_lines(text: &str) -> String {
    clean(text, Breaks::Keep)
}

/// The visible mark a folded line break becomes.
pub const FOLDED_BREAK: &str = " \u{23ce} ";

/// Folds text a person typed (a reason, a comment) into one line before it is
/// written to a record: what [`sanitize`] removes is removed, and each line
/// break (`\n`, `\r\n`, a lone `\r`, U+2028, U+2029) becomes a visible
/// [`FOLDED_BREAK`], so a reason can never pass for a record line of its own in
/// `shipdeck audit`, and its reader still sees where its lines broke.
pub fn fold_line(text: &str) -> String {
    clean(text, Breaks::Mark)
}

/// Outside text on one line ([`sanitize`]), at most `limit` characters, an
/// ellipsis saying where it was cut: a server's or an API's answer quoted
/// in a reason.
pub fn clip(text: &str, limit: usize) -> String {
    let clean = sanitize(text);
    let mut out: String = clean.chars().take(limit).collect();
    if clean.chars().count() > limit {
        out.push('…');
    }
    out
}

/// JSON text with every character a terminal could act on escaped as `\uXXXX`:
/// serde_json already escapes C0 controls; this adds DEL, C1 controls and bidi
/// overrides. Such characters only occur inside JSON strings, so the document
/// decodes to exactly the same values.
pub fn json_safe(json: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if (c.is_control() && c != '\n') || is_bidi_control(c) {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `s` holds anything the terminal would act on.
fn needs_cleaning(s: &str) -> bool {
    // Printable ASCII (nearly every text a reading holds) needs no char
    // decoding: the byte test is what a 6,000-service refresh spends here, so
    // it is written without a branch per byte, for the compiler to vectorise.
    let odd = s
        .bytes()
        .fold(0u8, |any, b| any | u8::from(!(0x20..0x7f).contains(&b)));
    odd != 0 && s.chars().any(|c| c.is_control() || is_bidi_control(c))
}

/// Sanitises `s` in place when it holds anything the terminal would act on;
/// clean text is left alone, so shared text (`Shared`) stays shared.
fn clean_in_place<T: AsRef<str> + From<String>>(s: &mut T) {
    if needs_cleaning(s.as_ref()) {
        *s = T::from(sanitize(s.as_ref()));
    }
}

fn clean_td(t: &mut super::Revision) {
    clean_in_place(&mut t.family);
    clean_in_place(&mut t.arn);
}

/// A revision history as read from a provider, sanitised like a reading.
/// A clean history (every one, but for a hostile API) is shared, not copied:
/// a reading of thousands of services hands on the histories it was given.
pub fn sanitized_history(mut history: super::History) -> super::History {
    let dirty = history.iter().any(|h| {
        needs_cleaning(&h.task_definition.family) || needs_cleaning(&h.task_definition.arn)
    });
    if dirty {
        for h in std::sync::Arc::make_mut(&mut history) {
            clean_td(&mut h.task_definition);
        }
    }
    history
}

impl super::EnvSnapshot {
    /// The reading with every text a cloud API supplied passed through the
    /// sanitiser: names, reasons, events, messages. Readings enter shipdeck
    /// this way ([`crate::provider::read_with_timeout`]), so the console, the
    /// gate, the watch and the CLI only ever hold clean text.
    pub fn sanitized(mut self) -> Self {
        let clean = clean_in_place;
        self.warnings.iter_mut().for_each(clean);
        for s in [&mut self.sources.alarms, &mut self.sources.metrics] {
            if let super::SourceState::Failed { error } = s {
                clean(error);
            }
        }
        for svc in &mut self.services {
            clean(&mut svc.ecs_service);
            if let Some(t) = &mut svc.task_definition {
                clean_td(t);
            }
            for d in &mut svc.deployments {
                clean(&mut d.id);
                clean_td(&mut d.task_definition);
                if let Some(r) = &mut d.reason {
                    clean(r);
                }
            }
            for a in &mut svc.alarms {
                clean_in_place(&mut a.name);
                clean_in_place(&mut a.reason);
            }
            if let Some(u) = &mut svc.alarms_unknown {
                clean(u);
            }
            if let super::Health::Unhealthy { reason, .. } = &mut svc.health {
                clean(reason);
            }
            for e in &mut svc.events {
                clean_in_place(&mut e.id);
                clean_in_place(&mut e.message);
            }
            svc.history = sanitized_history(std::mem::take(&mut svc.history));
            for m in &mut svc.metrics {
                clean(&mut m.label);
                if let Some(e) = &mut m.error {
                    clean(e);
                }
            }
            if let super::Strategy::Other { name } = &mut svc.deployment_config.strategy {
                clean(name);
            }
            clean(&mut svc.detail.title);
            for l in &mut svc.detail.lines {
                clean_in_place(&mut l.label);
                clean_in_place(&mut l.text);
            }
            if let Some(b) = &mut svc.detail.badge {
                clean(&mut b.text);
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_test_lets_through_only_what_needs_no_cleaning() {
        for clean in [
            "",
            " ",
            "~",
            "svc-0001 r3 ✓",
            "café",
            "arn:aws:ecs:x:1:task-definition/a:1",
        ] {
            assert!(!needs_cleaning(clean), "{clean:?}");
        }
        for dirty in [
            "\u{1f}",
            "\u{7f}",
            "a\u{1b}[2J",
            "\u{85}",
            "x\u{202e}y",
            "\t",
            "\n",
        ] {
            assert!(needs_cleaning(dirty), "{dirty:?}");
        }
    }

    /// Every kind of sequence the corpus in the integration tests uses.
    const NASTY: &[&str] = &[
        "\u{1b}]0;pwned\u{7}",
        "\u{1b}]52;c;ZXZpbA==\u{7}",
        "\u{1b}]8;;http://evil\u{1b}\\link\u{1b}]8;;\u{1b}\\",
        "\u{1b}[2J",
        "\u{1b}[10;10H",
        "\u{1b}[31;1m",
        "\u{1b}c",
        "\u{1b}",
        "\u{9b}2J",
        "\u{9d}0;t\u{9c}",
        "\u{90}q\u{9c}",
        "\u{0}",
        "\r",
        "\u{7f}",
        "\u{202e}",
    ];

    #[test]
    fn strips_escapes_and_controls() {
        assert_eq!(sanitize("ok\u{1b}[31mred\u{1b}[0m"), "okred");
        assert_eq!(sanitize("a\u{1b}]0;title\u{7}b"), "ab");
        assert_eq!(sanitize("line1\nline2\r\u{7}"), "line1 line2");
        assert_eq!(sanitize("a\u{9b}2Jb"), "ab");
        assert_eq!(sanitize("a\u{9d}0;t\u{9c}b"), "ab");
        assert_eq!(sanitize("a\u{1b}P1$r\u{1b}\\b"), "ab");
        assert_eq!(sanitize("a\u{202e}gnp.exe"), "agnp.exe");
        assert_eq!(sanitize_lines("one\r\ntwo\u{1b}[2J"), "one\ntwo");
    }

    #[test]
    fn nothing_a_terminal_acts_on_survives() {
        for n in NASTY {
            let text = format!("before{n}after");
            for out in [sanitize(&text), sanitize_lines(&text)] {
                assert!(
                    !out.chars()
                        .any(|c| c.is_control() && c != '\n' || is_bidi_control(c)),
                    "{n:?} left {out:?}"
                );
                assert!(out.starts_with("before"), "{out:?}");
            }
        }
    }

    #[test]
    fn a_typed_reason_folds_to_one_line_that_shows_its_breaks() {
        let forged = "ok\n{\"hash\":\"x\",\"seq\":9}\r\nthen\rmore\u{2028}end";
        let folded = fold_line(forged);
        assert_eq!(
            folded,
            "ok \u{23ce} {\"hash\":\"x\",\"seq\":9} \u{23ce} then \u{23ce} more \u{23ce} end"
        );
        assert!(!folded.chars().any(char::is_control), "{folded:?}");
        assert_eq!(fold_line("plain reason"), "plain reason");
        assert_eq!(fold_line("tab\there"), "tab here");
        for n in NASTY {
            let out = fold_line(&format!("before{n}\nafter"));
            assert!(
                !out.chars().any(|c| c.is_control() || is_bidi_control(c)),
                "{n:?} left {out:?}"
            );
            assert!(out.starts_with("before"), "{out:?}");
        }
        // The other two keep what they did.
        assert_eq!(sanitize("a\r\nb\u{2028}"), "a b\u{2028}");
        assert_eq!(sanitize_lines("a\r\nb"), "a\nb");
    }

    #[test]
    fn json_stays_exact() {
        let value = serde_json::json!({ "name": NASTY.concat() });
        let text = json_safe(&serde_json::to_string(&value).unwrap());
        assert!(!text.chars().any(|c| c.is_control() || is_bidi_control(c)));
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }
}
