//! When the alias came to serve its version. Lambda keeps no time on an
//! alias, and a soak ("the digest ran 24 h in staging") needs one: so the
//! `UpdateAlias` that ends a shift (its last step, or a rollback) stamps the
//! description with the version and the time, as the shift's marker does
//! while it runs: `original words [shipdeck settled=13 at=1767225600]`.
//!
//! An alias without a stamp for the version it serves was set outside
//! shipdeck (or before it stamped): how long it has served is not known,
//! and a soak counts it as not soaked, never as soaked.

use std::fmt;

use super::marker::{DESCRIPTION_LIMIT, cut, strip, unix_seconds};
use super::routing::number;

/// Where a stamp begins.
const TAG: &str = "[shipdeck settled=";

/// The version an alias was settled on, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// The version the alias serves alone.
    pub version: u32,
    /// When it began to, in seconds since the Unix epoch.
    pub at: i64,
}

impl Settled {
    /// The description to send: `original` without any shipdeck marker or
    /// stamp, cut so the whole fits in [`DESCRIPTION_LIMIT`], then this stamp.
    pub fn write(&self, original: &str) -> String {
        let stamp = self.to_string();
        let base = strip(original);
        let kept = cut(&base, DESCRIPTION_LIMIT.saturating_sub(stamp.len() + 1));
        if kept.is_empty() {
            stamp
        } else {
            format!("{kept} {stamp}")
        }
    }

    /// The well-formed stamp that ends `description`, if one does.
    pub fn read(description: &str) -> Option<Self> {
        trailing(description).map(|(_, s)| s)
    }
}

impl fmt::Display for Settled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{TAG}{} at={}]", self.version, self.at)
    }
}

/// The byte offset and contents of the well-formed stamp ending `description`.
pub(super) fn trailing(description: &str) -> Option<(usize, Settled)> {
    let body = description.strip_suffix(']')?;
    let start = body.rfind(TAG)?;
    let (version, at) = body[start + TAG.len()..].split_once(" at=")?;
    Some((
        start,
        Settled {
            version: number(version)?,
            at: unix_seconds(at)?,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::super::marker::Marker;
    use super::*;

    #[test]
    fn a_stamp_reads_back_and_replaces_a_marker_or_an_older_stamp() {
        let s = Settled {
            version: 13,
            at: 1_767_225_600,
        };
        let written = s.write("thumbs live");
        assert_eq!(written, "thumbs live [shipdeck settled=13 at=1767225600]");
        assert_eq!(Settled::read(&written), Some(s));
        let next = Settled { version: 14, at: 5 };
        assert_eq!(
            next.write(&written),
            "thumbs live [shipdeck settled=14 at=5]"
        );
        let m = Marker {
            run: "r1".to_string(),
            from: 13,
            to: 14,
            step: 1,
            of: 2,
            weight: 1000,
            paused: false,
            at: 7,
        };
        let shifting = m.write(&written);
        assert_eq!(Settled::read(&shifting), None, "{shifting}");
        assert_eq!(
            next.write(&shifting),
            "thumbs live [shipdeck settled=14 at=5]"
        );
        assert_eq!(strip(&next.write(&shifting)), "thumbs live");
    }

    #[test]
    fn a_long_description_is_cut_never_the_stamp() {
        let s = Settled {
            version: 2,
            at: 1_767_225_600,
        };
        let written = s.write(&"é".repeat(300));
        assert!(written.len() <= DESCRIPTION_LIMIT, "{}", written.len());
        assert_eq!(Settled::read(&written), Some(s));
    }

    #[test]
    fn anything_but_a_well_formed_stamp_at_the_end_is_none() {
        for d in [
            "",
            "[shipdeck settled=13 at=1]x",
            "[shipdeck settled=013 at=1]",
            "[shipdeck settled=13 at=]",
            "[shipdeck settled=13]",
            "[shipdeck settled=-1 at=1]",
            "[shipdeck settled=13 at=1 extra]",
        ] {
            assert_eq!(Settled::read(d), None, "{d}");
        }
    }
}
