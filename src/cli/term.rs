//! Everything the command line prints passes through here: text through the
//! one sanitiser ([`crate::model::sanitize_lines`]), JSON through
//! [`crate::model::json_safe`]. A configuration value, file name, API answer or
//! ledger field never reaches the terminal raw, whatever command printed it.

use std::io::Write;

use serde::Serialize;

use crate::model::{json_safe, sanitize_lines};

fn write(mut to: impl Write, text: &str) {
    // A closed pipe (`| head`) is not worth a panic or an error message.
    let _ = to.write_all(text.as_bytes());
    let _ = to.flush();
}

/// Prints `text` to stdout, sanitised (line breaks kept).
pub fn out(text: &str) {
    write(std::io::stdout(), &sanitize_lines(text));
}

/// Prints a line to stdout, sanitised.
pub fn outln(text: &str) {
    out(&format!("{text}\n"));
}

/// Prints `text` to stderr, sanitised (prompts, progress).
pub fn err(text: &str) {
    write(std::io::stderr(), &sanitize_lines(text));
}

/// Prints a line to stderr, sanitised.
pub fn errln(text: &str) {
    err(&format!("{text}\n"));
}

/// `error: …` on stderr.
pub fn error(msg: &str) {
    errln(&format!("error: {msg}"));
}

/// Prints text that was assembled only from sanitised parts plus shipdeck's own
/// colour codes (the status table's `Style::paint` sanitises every cell).
pub fn out_styled(text: &str) {
    write(std::io::stdout(), text);
}

/// Pretty JSON with every character a terminal could act on escaped.
pub fn json<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(value).map(|s| json_safe(&s) + "\n")
}

/// One compact JSON line, escaped the same way.
pub fn json_line<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    serde_json::to_string(value).map(|s| json_safe(&s))
}
