//! The one value a promotion changes, read and written in the text of a YAML
//! file without a YAML library: a kustomization's `images:` entry's `digest`,
//! or a Helm values file's value at a dotted path. Pure (no I/O).
//!
//! Only the value's bytes change: comments, blank lines, key order,
//! indentation, quoting, line endings and a missing final newline are kept,
//! because the file is the user's and its diff is what reviewers read. The
//! reader understands the simple block shapes these files are written in and
//! refuses, naming the file, the path and the line, anything else it would
//! have to guess about: a flow or block collection where a value is meant, a
//! multi-line scalar, an anchor, an alias, a tag, a merge key, a duplicate
//! key, tabs as indentation, more than one document.

use crate::config::kubernetes::{HelmValue, ImageSetting};

mod error;
mod locate;
mod scan;

use crate::model::text::clip;
pub use error::{EditError, Shape};
use scan::{
    FlowScan, KeyRead, Kind, Line, Value, is_marker, quote_end, read_key, read_value, split_lines,
};

/// The value now: `None` when the kustomization's entry has no `digest`
/// yet, or the value is null (`key:` with nothing after it, `~`, `null`).
pub fn get(text: &str, setting: &ImageSetting) -> Result<Option<String>, EditError> {
    let doc = Doc::parse(text, setting)?;
    match doc.locate()? {
        Spot::Absent { .. } => Ok(None),
        Spot::Value(e) => doc.read(&e),
    }
}

/// The text with the value set to `value` and every other byte unchanged.
/// A quoted value stays quoted the same way; a kustomization's entry without
/// `digest` gets one after its last field, at its fields' indentation.
pub fn set(text: &str, setting: &ImageSetting, value: &str) -> Result<String, EditError> {
    let doc = Doc::parse(text, setting)?;
    if !writable(value, setting) {
        return Err(EditError::BadValue {
            file: doc.file.clone(),
            value: clip(value, 100),
        });
    }
    match doc.locate()? {
        Spot::Value(e) => {
            // Read it first: whatever cannot be read is not overwritten.
            doc.read(&e)?;
            let v = &e.value;
            let new = match v.kind {
                Kind::Double => format!("\"{value}\""),
                Kind::Single => format!("'{value}'"),
                Kind::Empty => format!(" {value}"),
                _ => value.to_string(),
            };
            Ok(format!("{}{new}{}", &text[..v.start], &text[v.end..]))
        }
        Spot::Absent { after, col } => {
            let l = &doc.lines[after];
            let eol = if l.next > l.end {
                &text[l.end..l.next]
            } else {
                doc.eol()
            };
            let line = format!("{}digest: {value}", " ".repeat(col));
            if l.next > l.end {
                Ok(format!("{}{line}{eol}{}", &text[..l.next], &text[l.next..]))
            } else {
                Ok(format!("{}{eol}{line}", &text[..l.end]))
            }
        }
    }
}

/// A digest (a kustomization's `digest`, a Helm digest value) or a
/// reference (a Helm reference value), in characters that need no quoting
/// or escaping in any style, starting with one that is not a YAML indicator.
fn writable(value: &str, setting: &ImageSetting) -> bool {
    let shape = match setting {
        ImageSetting::Kustomize { .. }
        | ImageSetting::Helm {
            value: HelmValue::Digest,
            ..
        } => value.starts_with("sha256:"),
        ImageSetting::Helm {
            value: HelmValue::Reference,
            ..
        } => value.contains("@sha256:"),
    };
    shape
        && value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c))
}

/// A line that starts a node: `key: value`, `- key: value` or `- value`.
#[derive(Debug, Clone)]
struct Entry {
    /// Index into the lines.
    line: usize,
    /// Column of its first character (the dash, for a list item).
    indent: usize,
    dash: bool,
    /// Column of the key (or of the value of a bare `- value`).
    col: usize,
    /// `None`: a bare list item, or a key this reader cannot read.
    key: Option<String>,
    /// The key is there but unreadable (`? complex`, an unclosed quote).
    key_junk: bool,
    value: Value,
    /// More-indented lines after it are its value's (a block scalar, a
    /// multi-line plain or quoted scalar, a flow collection).
    continued: bool,
}

/// Where the value is, or where it would go.
enum Spot {
    Value(Entry),
    /// A kustomization entry with no `digest`: after which line, at which
    /// column.
    Absent {
        after: usize,
        col: usize,
    },
}

struct Doc<'a> {
    text: &'a str,
    lines: Vec<Line>,
    entries: Vec<Entry>,
    setting: &'a ImageSetting,
    file: String,
    path: String,
}

/// How the lines after an entry continue its value.
enum Mode {
    Normal,
    /// Lines indented more than this column (and blank ones) are its value's.
    Cont(usize),
    /// Inside a quoted scalar; then `Cont`.
    Quote {
        double: bool,
        col: usize,
    },
    /// Inside a flow collection; then `Cont`.
    Flow {
        scan: FlowScan,
        col: usize,
    },
}

impl<'a> Doc<'a> {
    fn parse(text: &'a str, setting: &'a ImageSetting) -> Result<Self, EditError> {
        let path = match setting {
            ImageSetting::Kustomize { image, .. } => format!("images[name={image}].digest"),
            ImageSetting::Helm { path, .. } => path.join("."),
        };
        let mut doc = Doc {
            text,
            lines: split_lines(text),
            entries: Vec::new(),
            setting,
            file: setting.file().to_string(),
            path,
        };
        if text.starts_with('\u{feff}') {
            return Err(doc.unsupported(0, "a byte-order mark"));
        }
        doc.scan()?;
        Ok(doc)
    }

    fn unsupported(&self, line: usize, why: impl Into<String>) -> EditError {
        EditError::Unsupported {
            file: self.file.clone(),
            path: self.path.clone(),
            line: line + 1,
            why: why.into(),
        }
    }

    fn not_a_value(&self, line: usize, shape: Shape) -> EditError {
        EditError::NotAValue {
            file: self.file.clone(),
            path: self.path.clone(),
            line: line + 1,
            shape,
        }
    }

    /// The file's line break, for a line added after its last one.
    fn eol(&self) -> &'a str {
        self.lines
            .iter()
            .find(|l| l.next > l.end)
            .map_or("\n", |l| &self.text[l.end..l.next])
    }

    fn line_text(&self, i: usize) -> &'a str {
        let l = self.lines[i];
        &self.text[l.start..l.end]
    }

    /// Classifies every line; keeps the ones that start a node.
    fn scan(&mut self) -> Result<(), EditError> {
        let mut mode = Mode::Normal;
        let mut seen_content = false;
        for i in 0..self.lines.len() {
            let text = self.line_text(i);
            let indent = text.len() - text.trim_start_matches(' ').len();
            let rest = &text[indent..];
            let blank = rest.trim().is_empty();
            mode = match mode {
                Mode::Cont(col) if blank || indent > col => {
                    if !blank && let Some(last) = self.entries.last_mut() {
                        last.continued = true;
                    }
                    Mode::Cont(col)
                }
                Mode::Quote { double, col } => {
                    if let Some(last) = self.entries.last_mut() {
                        last.continued = true;
                    }
                    if quote_end(text, 0, double).is_some() {
                        Mode::Cont(col)
                    } else {
                        Mode::Quote { double, col }
                    }
                }
                Mode::Flow { mut scan, col } => {
                    if let Some(last) = self.entries.last_mut() {
                        last.continued = true;
                    }
                    if scan.feed(text) {
                        Mode::Cont(col)
                    } else {
                        Mode::Flow { scan, col }
                    }
                }
                Mode::Normal | Mode::Cont(_) => {
                    if blank || rest.starts_with('#') {
                        Mode::Normal
                    } else if rest.starts_with('\t') {
                        return Err(self.unsupported(i, "a tab in the indentation"));
                    } else if indent == 0 && (is_marker(text, "---") || is_marker(text, "...")) {
                        if seen_content || text.starts_with("...") {
                            return Err(self.unsupported(i, "more than one YAML document"));
                        }
                        if !text[3..].trim().is_empty() && !text[3..].trim_start().starts_with('#')
                        {
                            return Err(self.unsupported(i, "content on the document marker"));
                        }
                        Mode::Normal
                    } else if indent == 0 && text.starts_with('%') {
                        return Err(self.unsupported(i, "a YAML directive"));
                    } else {
                        seen_content = true;
                        let entry = self.entry(i, indent);
                        let next = match entry.value.kind {
                            Kind::Empty => Mode::Normal,
                            Kind::Double | Kind::Single if !entry.value.closed => Mode::Quote {
                                double: entry.value.kind == Kind::Double,
                                col: entry.cont_col(),
                            },
                            Kind::Flow if !entry.value.closed => {
                                let mut scan = FlowScan::default();
                                scan.feed(&self.text[entry.value.start..self.lines[i].end]);
                                Mode::Flow {
                                    scan,
                                    col: entry.cont_col(),
                                }
                            }
                            _ => Mode::Cont(entry.cont_col()),
                        };
                        self.entries.push(entry);
                        next
                    }
                }
            };
        }
        Ok(())
    }

    /// Reads one line that starts a node.
    fn entry(&self, line: usize, indent: usize) -> Entry {
        let l = self.lines[line];
        let text = self.text;
        let mut p = l.start + indent;
        let mut dash = false;
        let rest = &text[p..l.end];
        if rest == "-" || rest.starts_with("- ") || rest.starts_with("-\t") {
            dash = true;
            p += 1;
            while p < l.end && matches!(text.as_bytes()[p], b' ' | b'\t') {
                p += 1;
            }
        }
        let col = p - l.start;
        let mut entry = Entry {
            line,
            indent,
            dash,
            col,
            key: None,
            key_junk: false,
            value: Value {
                kind: Kind::Empty,
                start: p,
                end: p,
                closed: true,
            },
            continued: false,
        };
        if p >= l.end || text.as_bytes()[p] == b'#' {
            return entry;
        }
        match read_key(text, p, l.end) {
            KeyRead::Key { key, after_colon } => {
                entry.key = Some(key);
                entry.value = read_value(text, after_colon, l.end);
            }
            KeyRead::NotAKey => {
                if dash {
                    entry.value = read_value(text, p, l.end);
                    if entry.value.kind == Kind::Empty {
                        entry.value.kind = Kind::Junk;
                    }
                } else {
                    entry.key_junk = true;
                    entry.value.kind = Kind::Junk;
                }
            }
            KeyRead::Junk => {
                entry.key_junk = true;
                entry.value.kind = Kind::Junk;
            }
        }
        entry
    }

    /// Reads a plain, quoted or null value.
    fn read(&self, e: &Entry) -> Result<Option<String>, EditError> {
        let v = &e.value;
        let shape = match v.kind {
            Kind::Flow => Some(Shape::FlowCollection),
            Kind::Block => Some(Shape::MultiLine),
            Kind::Anchor => Some(Shape::Anchor),
            Kind::Alias => Some(Shape::Alias),
            Kind::Tag => Some(Shape::Tag),
            Kind::Junk => Some(Shape::Unreadable),
            Kind::Single | Kind::Double if !v.closed => Some(Shape::MultiLine),
            _ if e.continued => Some(Shape::MultiLine),
            _ => None,
        };
        if let Some(shape) = shape {
            return Err(self.not_a_value(e.line, shape));
        }
        if v.kind == Kind::Empty && self.children(e).next().is_some() {
            return Err(self.not_a_value(e.line, Shape::Collection));
        }
        let raw = &self.text[v.start..v.end];
        match v.kind {
            Kind::Empty => Ok(None),
            Kind::Plain => {
                if matches!(raw, "~" | "null" | "Null" | "NULL") {
                    Ok(None)
                } else if raw.contains(": ") || raw.contains(":\t") {
                    Err(self.not_a_value(e.line, Shape::Unreadable))
                } else {
                    Ok(Some(raw.to_string()))
                }
            }
            Kind::Single => Ok(Some(raw[1..raw.len() - 1].replace("''", "'"))),
            Kind::Double => {
                let inner = &raw[1..raw.len() - 1];
                if inner.contains('\\') {
                    Err(self.unsupported(e.line, "an escape sequence in a quoted value"))
                } else {
                    Ok(Some(inner.to_string()))
                }
            }
            _ => Err(self.not_a_value(e.line, Shape::Unreadable)),
        }
    }

    /// The entries nested under `e` (indented more, or a list at its
    /// indentation right under a key).
    fn children<'s>(&'s self, e: &Entry) -> impl Iterator<Item = &'s Entry> + 's {
        let first = self
            .entries
            .iter()
            .position(|x| x.line == e.line)
            .map_or(self.entries.len(), |i| i + 1);
        let base = e.col;
        let list_at_key = self
            .entries
            .get(first)
            .is_some_and(|x| x.dash && x.indent == base && e.key.is_some());
        self.entries[first..]
            .iter()
            .take_while(move |x| x.indent > base || (list_at_key && x.indent == base && x.dash))
    }

    /// The entries of one mapping level: those at the level's indentation.
    /// Refuses a list where a mapping is needed, lines indented between
    /// levels and unreadable keys.
    fn mapping<'s>(&'s self, scope: &[&'s Entry]) -> Result<Vec<&'s Entry>, EditError> {
        let Some(first) = scope.first() else {
            return Ok(Vec::new());
        };
        let level = first.indent;
        let mut out: Vec<&Entry> = Vec::new();
        // A list may sit at its key's own indentation (`key:` then `- item`).
        let mut in_list = false;
        for e in scope {
            if e.indent < level {
                return Err(
                    self.unsupported(e.line, "a line indented less than the lines above it")
                );
            }
            if e.indent > level {
                continue;
            }
            if e.dash {
                in_list = in_list
                    || out.last().is_some_and(|k| {
                        k.value.kind == Kind::Empty
                            && !self
                                .entries
                                .iter()
                                .any(|x| x.line > k.line && x.line < e.line && x.indent > level)
                    });
                if !in_list {
                    return Err(self.unsupported(e.line, "a list where a mapping is needed"));
                }
                continue;
            }
            in_list = false;
            if e.key_junk || e.key.is_none() {
                return Err(self.unsupported(e.line, "a key this reader cannot read"));
            }
            out.push(*e);
        }
        Ok(out)
    }

    /// The one entry with `key` in a mapping level, refusing duplicates and a
    /// merge key when it is absent.
    fn find<'s>(
        &'s self,
        level: &[&'s Entry],
        key: &str,
        parent: Option<usize>,
    ) -> Result<&'s Entry, EditError> {
        let mut found = level
            .iter()
            .copied()
            .filter(|e| e.key.as_deref() == Some(key));
        match (found.next(), found.next()) {
            (Some(a), Some(b)) => Err(EditError::Ambiguous {
                file: self.file.clone(),
                path: self.path.clone(),
                first: a.line + 1,
                second: b.line + 1,
            }),
            (Some(a), None) => Ok(a),
            (None, _) => {
                if let Some(m) = level.iter().find(|e| e.key.as_deref() == Some("<<")) {
                    return Err(
                        self.unsupported(m.line, format!("a merge key (<<) that may hold {key}"))
                    );
                }
                Err(EditError::Missing {
                    file: self.file.clone(),
                    path: self.path.clone(),
                    missing: format!("key {key}"),
                    line: parent.map(|l| l + 1),
                })
            }
        }
    }

    /// Descends into a key's nested mapping.
    fn nested<'s>(&'s self, e: &Entry) -> Result<Vec<&'s Entry>, EditError> {
        match e.value.kind {
            Kind::Empty => {}
            Kind::Plain | Kind::Single | Kind::Double => {
                let shape = if e.continued || !e.value.closed {
                    Shape::MultiLine
                } else {
                    Shape::Scalar
                };
                return Err(self.not_a_value(e.line, shape).into_parent(self, e));
            }
            _ => {
                return Err(self
                    .read(e)
                    .err()
                    .unwrap_or_else(|| self.not_a_value(e.line, Shape::Unreadable)));
            }
        }
        Ok(self.children(e).collect())
    }
}

impl EditError {
    /// A value found where the path needs a mapping.
    fn into_parent(self, doc: &Doc<'_>, e: &Entry) -> Self {
        match self {
            Self::NotAValue {
                file,
                path,
                line,
                shape,
            } => Self::Unsupported {
                file,
                path,
                line,
                why: format!(
                    "{} is {shape}",
                    e.key
                        .as_deref()
                        .unwrap_or_else(|| doc.line_text(e.line).trim())
                ),
            },
            other => other,
        }
    }
}

impl Entry {
    /// Lines indented more than this column continue its value.
    fn cont_col(&self) -> usize {
        if self.key.is_some() {
            self.col
        } else {
            self.indent
        }
    }
}

#[cfg(test)]
#[path = "edit_tests.rs"]
mod tests;
