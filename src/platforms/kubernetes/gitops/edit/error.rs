//! Why the value could not be read or written, naming the file, the path
//! and the line; and what a path led to instead of a plain value.

/// Why a value could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// A key on the path (or the kustomization's image entry) is not there.
    #[error("{file}{}: {path} is missing{}", at(*line), missing_hint(missing))]
    Missing {
        /// The file.
        file: String,
        /// The whole path asked for.
        path: String,
        /// What is missing (a key, or the `images:` entry).
        missing: String,
        /// The line of the mapping it was looked for in (1-based), `None`
        /// at the top of the document.
        line: Option<usize>,
    },
    /// The path leads to something that is not a plain one-line value.
    #[error(
        "{file}:{line}: {path} is {shape}; shipdeck changes only a plain one-line value and will not guess"
    )]
    NotAValue {
        /// The file.
        file: String,
        /// The whole path asked for.
        path: String,
        /// Where (1-based).
        line: usize,
        /// What it is instead.
        shape: Shape,
    },
    /// The same key (or image entry) is written twice.
    #[error(
        "{file}: {path} is written more than once (lines {first} and {second}); which one counts is a guess"
    )]
    Ambiguous {
        /// The file.
        file: String,
        /// The whole path asked for.
        path: String,
        /// The first (1-based).
        first: usize,
        /// The second (1-based).
        second: usize,
    },
    /// The document is not in the simple shapes this reader supports.
    #[error(
        "{file}:{line}: {why} (looking for {path}); shipdeck edits only simple block YAML and will not guess"
    )]
    Unsupported {
        /// The file.
        file: String,
        /// The whole path asked for.
        path: String,
        /// Where (1-based).
        line: usize,
        /// What it found.
        why: String,
    },
    /// The value to write is not a digest or an image reference that can be
    /// written without escaping.
    #[error(
        "{value:?} cannot be written into {file}: expected sha256:<hex> (a digest) or repository@sha256:<hex> (a Helm reference value)"
    )]
    BadValue {
        /// The file.
        file: String,
        /// The value (clipped, one line).
        value: String,
    },
}

pub(super) fn at(line: Option<usize>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

pub(super) fn missing_hint(missing: &str) -> String {
    format!(" (no {missing})")
}

/// What a path led to instead of a plain value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A block mapping or list (or a key with nothing after it but nested lines).
    Collection,
    /// A plain or quoted value where a mapping was needed on the way.
    Scalar,
    /// `[…]` or `{…}`.
    FlowCollection,
    /// `|` or `>`, a quoted value over several lines, or a plain one continued.
    MultiLine,
    /// `&name`.
    Anchor,
    /// `*name`.
    Alias,
    /// `!tag`.
    Tag,
    /// Text this reader cannot take apart.
    Unreadable,
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Collection => "a mapping or a list",
            Self::Scalar => "a value, not a mapping",
            Self::FlowCollection => "a flow collection ([…] or {…})",
            Self::MultiLine => "a multi-line scalar",
            Self::Anchor => "an anchor (&…)",
            Self::Alias => "an alias (*…)",
            Self::Tag => "a tagged value (!…)",
            Self::Unreadable => "written in a way this reader does not understand",
        })
    }
}
