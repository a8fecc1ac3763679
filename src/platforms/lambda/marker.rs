//! Where a shift stands, kept in the alias's `Description`, written in the
//! same `UpdateAlias` call that moves the traffic: so every shipdeck, on any
//! machine, sees the same shift, its step and its pause, and a change made
//! by hand (the alias's weights differing from the marker's) shows.
//!
//! The marker ends the description:
//! `original words [shipdeck run=… from=12 to=13 step=2/4 w=1000 paused=1 at=…]`.
//! Only a well-formed marker at the very end counts; anything else (two
//! markers, text after one, a bad field, a number out of range) is read as no
//! marker, or as the last well-formed one, and never panics.

use std::fmt;

use super::routing::number;
use crate::model::shift::ALL;

/// The most a Lambda alias description holds. Counted in bytes, which is
/// never fewer than its characters, so the limit holds either way.
pub const DESCRIPTION_LIMIT: usize = 256;

/// The most characters of a run id a marker keeps.
pub const RUN_LIMIT: usize = 64;

/// Where a marker begins.
const TAG: &str = "[shipdeck ";

/// One shift's state, as the alias's description carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The run that shifts (shipdeck's id of the promotion).
    pub run: String,
    /// The version the alias served before the shift.
    pub from: u32,
    /// The version the shift moves the traffic to.
    pub to: u32,
    /// The step the shift is at, 1-based.
    pub step: u32,
    /// How many steps the shift has.
    pub of: u32,
    /// Traffic on `to` at this step, in hundredths of a percent.
    pub weight: u32,
    /// The step waits for a person's decision.
    pub paused: bool,
    /// When this step began, in seconds since the Unix epoch.
    pub at: i64,
}

impl Marker {
    /// The description to send with the alias update: `original` without any
    /// marker of its own, cut (never the marker) so that the whole fits in
    /// [`DESCRIPTION_LIMIT`], then this marker.
    ///
    /// A run id keeps only letters, digits and `-_.:` (others become `_`) and
    /// its first [`RUN_LIMIT`] characters: shipdeck's ids are made of those.
    pub fn write(&self, original: &str) -> String {
        let marker = self.to_string();
        let base = strip(original);
        let room = DESCRIPTION_LIMIT.saturating_sub(marker.len() + 1);
        let kept = cut(&base, room);
        if kept.is_empty() {
            marker
        } else {
            format!("{kept} {marker}")
        }
    }

    /// The marker that ends `description`, when a well-formed one does.
    pub fn read(description: &str) -> Option<Self> {
        trailing(description).map(|(_, marker)| marker)
    }
}

impl fmt::Display for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{TAG}run={} from={} to={} step={}/{} w={} paused={} at={}]",
            run_id(&self.run),
            self.from,
            self.to,
            self.step,
            self.of,
            self.weight,
            u8::from(self.paused),
            self.at
        )
    }
}

/// `description` without the marker(s) and settled stamps (`settled.rs`)
/// that end it: what a person wrote.
/// The result is always a prefix of `description`.
pub fn strip(description: &str) -> String {
    let mut rest = description;
    while let Some(start) = trailing(rest)
        .map(|(start, _)| start)
        .or_else(|| super::settled::trailing(rest).map(|(start, _)| start))
    {
        rest = &rest[..start];
        rest = rest.strip_suffix(' ').unwrap_or(rest);
    }
    rest.to_string()
}

/// The byte offset and contents of the well-formed marker ending `description`.
fn trailing(description: &str) -> Option<(usize, Marker)> {
    let body = description.strip_suffix(']')?;
    let start = body.rfind(TAG)?;
    let fields = &body[start + TAG.len()..];
    parse_fields(fields).map(|m| (start, m))
}

/// `run=… from=… to=… step=…/… w=… paused=… at=…`, exactly so.
fn parse_fields(text: &str) -> Option<Marker> {
    let mut words = text.split(' ');
    let mut field = |key: &str| {
        words
            .next()
            .and_then(|w| w.strip_prefix(key))
            .and_then(|w| w.strip_prefix('='))
    };
    let run = field("run").filter(|r| is_run_id(r))?.to_string();
    let from = field("from").and_then(number)?;
    let to = field("to").and_then(number)?;
    let (step, of) = field("step")?.split_once('/')?;
    let (step, of) = (number(step)?, number(of)?);
    let weight = field("w").and_then(number)?;
    let paused = match field("paused")? {
        "0" => false,
        "1" => true,
        _ => return None,
    };
    let at = field("at").and_then(unix_seconds)?;
    let sane = words.next().is_none() && from != to && (1..=of).contains(&step) && weight <= ALL;
    sane.then_some(Marker {
        run,
        from,
        to,
        step,
        of,
        weight,
        paused,
        at,
    })
}

/// Seconds since the epoch as written: an optional `-`, then digits.
pub(super) fn unix_seconds(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let plain =
        !digits.is_empty() && digits.len() <= 19 && digits.bytes().all(|b| b.is_ascii_digit());
    plain.then(|| text.parse().ok()).flatten()
}

fn is_run_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.:".contains(c)
}

fn is_run_id(text: &str) -> bool {
    !text.is_empty() && text.chars().count() <= RUN_LIMIT && text.chars().all(is_run_char)
}

/// A run id as a marker keeps it.
fn run_id(run: &str) -> String {
    let kept: String = run
        .chars()
        .take(RUN_LIMIT)
        .map(|c| if is_run_char(c) { c } else { '_' })
        .collect();
    if kept.is_empty() {
        "_".to_string()
    } else {
        kept
    }
}

/// At most `max` bytes of `text`, cut at a character boundary.
pub(super) fn cut(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
#[path = "marker_tests.rs"]
mod tests;
