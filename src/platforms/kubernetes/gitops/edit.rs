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
use crate::model::text::clip;

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

fn at(line: Option<usize>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

fn missing_hint(missing: &str) -> String {
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

/// One line: `start..end` its text without the line break, `next` where the
/// following line starts.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    end: usize,
    next: usize,
}

fn split_lines(text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    while start < text.len() {
        let (end, next) = match bytes[start..].iter().position(|b| *b == b'\n') {
            Some(i) => {
                let nl = start + i;
                let end = if nl > start && bytes[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                (end, nl + 1)
            }
            None => (text.len(), text.len()),
        };
        out.push(Line { start, end, next });
        start = next;
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Nothing after the colon (null, or a nested block below).
    Empty,
    Plain,
    Single,
    Double,
    Flow,
    Block,
    Anchor,
    Alias,
    Tag,
    Junk,
}

/// A value on an entry's line: `start..end` its bytes (quotes included);
/// for `Empty`, both are just after the colon.
#[derive(Debug, Clone, Copy)]
struct Value {
    kind: Kind,
    start: usize,
    end: usize,
    /// A quoted value or a flow collection that ends on this line.
    closed: bool,
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

    fn locate(&self) -> Result<Spot, EditError> {
        let root: Vec<&Entry> = self.entries.iter().collect();
        match self.setting {
            ImageSetting::Helm { path, .. } => {
                let mut level = self.mapping(&root)?;
                let mut parent = None;
                let Some((last, above)) = path.split_last() else {
                    return Err(self.unsupported(0, "an empty path"));
                };
                for key in above {
                    let e = self.find(&level, key, parent)?;
                    let inner = self.nested(e)?;
                    parent = Some(e.line);
                    level = self.mapping(&inner)?;
                }
                Ok(Spot::Value(self.find(&level, last, parent)?.clone()))
            }
            ImageSetting::Kustomize { image, .. } => self.locate_image(&root, image),
        }
    }

    fn locate_image(&self, root: &[&Entry], image: &str) -> Result<Spot, EditError> {
        let level = self.mapping(root)?;
        let images = self.find(&level, "images", None)?;
        let items = self.nested(images)?;
        let Some(first) = items.first() else {
            return Err(self.missing_image(images.line));
        };
        if !first.dash {
            return Err(self.unsupported(first.line, "images: is not a list"));
        }
        let item_indent = first.indent;
        let mut found: Option<(&Entry, Vec<&Entry>, Vec<&Entry>)> = None;
        for (n, &head) in items.iter().enumerate() {
            if head.indent != item_indent {
                continue;
            }
            if !head.dash {
                return Err(
                    self.unsupported(head.line, "a line among the images entries that is not one")
                );
            }
            let below: Vec<&Entry> = items[n + 1..]
                .iter()
                .take_while(|x| x.indent > item_indent)
                .copied()
                .collect();
            let fields = self.item_fields(head, &below)?;
            let name = fields.iter().find(|f| f.key.as_deref() == Some("name"));
            let Some(name) = name else { continue };
            if self.read(name)?.as_deref() != Some(image) {
                continue;
            }
            if let Some((other, ..)) = &found {
                return Err(EditError::Ambiguous {
                    file: self.file.clone(),
                    path: self.path.clone(),
                    first: other.line + 1,
                    second: head.line + 1,
                });
            }
            found = Some((head, fields, below));
        }
        let Some((head, fields, below)) = found else {
            return Err(self.missing_image(images.line));
        };
        if let Some(e) = self.find_field(&fields, "digest")? {
            return Ok(Spot::Value(e.clone()));
        }
        // After the entry's last line: its last field, or what is nested in it.
        let last = below.last().copied().unwrap_or(head);
        if last.continued || !last.value.closed {
            return Err(self.unsupported(
                last.line,
                "the entry's last line continues over several lines; add digest: by hand once",
            ));
        }
        let after = last.line;
        let col = fields.first().map_or(head.col, |f| f.col);
        Ok(Spot::Absent { after, col })
    }

    /// An `images:` entry's fields: the one on the dash's line and those at
    /// its column below it.
    fn item_fields<'s>(
        &'s self,
        head: &'s Entry,
        below: &[&'s Entry],
    ) -> Result<Vec<&'s Entry>, EditError> {
        if head.key.is_none() {
            if head.value.kind != Kind::Empty {
                let shape = match head.value.kind {
                    Kind::Flow => Shape::FlowCollection,
                    Kind::Anchor => Shape::Anchor,
                    Kind::Alias => Shape::Alias,
                    _ => Shape::Unreadable,
                };
                return Err(self.unsupported(head.line, format!("an images entry that is {shape}")));
            }
            return self.mapping(below);
        }
        if head.key_junk {
            return Err(self.unsupported(head.line, "a key this reader cannot read"));
        }
        let mut fields = vec![head];
        for e in below {
            if e.indent < head.col {
                return Err(self.unsupported(
                    e.line,
                    "a line indented between an entry's dash and its fields",
                ));
            }
            if e.indent > head.col {
                continue;
            }
            if e.dash || e.key_junk || e.key.is_none() {
                return Err(self.unsupported(e.line, "a key this reader cannot read"));
            }
            fields.push(e);
        }
        Ok(fields)
    }

    fn find_field<'s>(
        &self,
        fields: &[&'s Entry],
        key: &str,
    ) -> Result<Option<&'s Entry>, EditError> {
        let mut found = fields.iter().filter(|f| f.key.as_deref() == Some(key));
        match (found.next(), found.next()) {
            (Some(a), Some(b)) => Err(EditError::Ambiguous {
                file: self.file.clone(),
                path: self.path.clone(),
                first: a.line + 1,
                second: b.line + 1,
            }),
            (a, _) => {
                if a.is_none()
                    && let Some(m) = fields.iter().find(|e| e.key.as_deref() == Some("<<"))
                {
                    return Err(
                        self.unsupported(m.line, format!("a merge key (<<) that may hold {key}"))
                    );
                }
                Ok(a.copied())
            }
        }
    }

    fn missing_image(&self, line: usize) -> EditError {
        let image = match self.setting {
            ImageSetting::Kustomize { image, .. } => image.as_str(),
            ImageSetting::Helm { .. } => "",
        };
        EditError::Missing {
            file: self.file.clone(),
            path: self.path.clone(),
            missing: format!("images: entry named {image}"),
            line: Some(line + 1),
        }
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

fn is_marker(text: &str, marker: &str) -> bool {
    text.starts_with(marker)
        && text[marker.len()..]
            .chars()
            .next()
            .is_none_or(|c| c == ' ' || c == '\t')
}

enum KeyRead {
    Key { key: String, after_colon: usize },
    NotAKey,
    Junk,
}

/// A mapping key at `p`: plain, or single- or double-quoted, followed by
/// `:` and a space or the end of the line.
fn read_key(text: &str, p: usize, end: usize) -> KeyRead {
    let s = &text[p..end];
    let b = s.as_bytes();
    let colon_ok = |i: usize| i + 1 >= b.len() || matches!(b[i + 1], b' ' | b'\t');
    match b[0] {
        b'?' if b.len() == 1 || matches!(b[1], b' ' | b'\t') => KeyRead::Junk,
        b'"' | b'\'' => {
            let double = b[0] == b'"';
            let Some(close) = quote_end(s, 1, double) else {
                return KeyRead::NotAKey;
            };
            let after = s[close..].trim_start_matches([' ', '\t']);
            let skipped = s.len() - close - after.len();
            if after.starts_with(':') && colon_ok(close + skipped) {
                let inner = &s[1..close - 1];
                if double && inner.contains('\\') {
                    return KeyRead::Junk;
                }
                let key = if double {
                    inner.to_string()
                } else {
                    inner.replace("''", "'")
                };
                KeyRead::Key {
                    key,
                    after_colon: p + close + skipped + 1,
                }
            } else {
                KeyRead::NotAKey
            }
        }
        b'[' | b'{' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@' | b'`' | b'#' => {
            KeyRead::NotAKey
        }
        _ => {
            for i in 0..b.len() {
                if b[i] == b'#' && i > 0 && matches!(b[i - 1], b' ' | b'\t') {
                    return KeyRead::NotAKey;
                }
                if b[i] == b':' && colon_ok(i) {
                    let key = s[..i].trim_end();
                    return KeyRead::Key {
                        key: key.to_string(),
                        after_colon: p + i + 1,
                    };
                }
            }
            KeyRead::NotAKey
        }
    }
}

/// Where a quoted scalar opened before `from` closes on this line (the index
/// just after its closing quote), if it does.
fn quote_end(s: &str, from: usize, double: bool) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = from;
    while i < b.len() {
        match (double, b[i]) {
            (true, b'\\') => i += 2,
            (false, b'\'') if b.get(i + 1) == Some(&b'\'') => i += 2,
            (true, b'"') | (false, b'\'') => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// A value starting at or after `p` (spaces skipped) up to the line's end.
fn read_value(text: &str, from: usize, end: usize) -> Value {
    let b = text.as_bytes();
    let mut q = from;
    while q < end && matches!(b[q], b' ' | b'\t') {
        q += 1;
    }
    let mut v = Value {
        kind: Kind::Empty,
        start: from,
        end: from,
        closed: true,
    };
    if q >= end || b[q] == b'#' {
        return v;
    }
    v.start = q;
    let rest_ok = |after: usize| {
        let rest = text[after..end].trim_start_matches([' ', '\t']);
        rest.is_empty() || rest.starts_with('#')
    };
    match b[q] {
        b'"' | b'\'' => {
            let double = b[q] == b'"';
            v.kind = if double { Kind::Double } else { Kind::Single };
            if let Some(close) = quote_end(&text[q..end], 1, double) {
                v.end = q + close;
                if !rest_ok(v.end) {
                    v.kind = Kind::Junk;
                }
            } else {
                v.end = end;
                v.closed = false;
            }
        }
        b'[' | b'{' => {
            v.kind = Kind::Flow;
            v.end = end;
            let mut scan = FlowScan::default();
            v.closed = scan.feed(&text[q..end]);
        }
        b'|' | b'>' => v.kind = Kind::Block,
        b'&' => v.kind = Kind::Anchor,
        b'*' => v.kind = Kind::Alias,
        b'!' => v.kind = Kind::Tag,
        b'%' | b'@' | b'`' => v.kind = Kind::Junk,
        b'-' if q + 1 >= end || matches!(b[q + 1], b' ' | b'\t') => v.kind = Kind::Junk,
        _ => {
            v.kind = Kind::Plain;
            let mut stop = end;
            for i in q..end {
                if b[i] == b'#' && matches!(b[i - 1], b' ' | b'\t') {
                    stop = i;
                    break;
                }
            }
            while stop > q && matches!(b[stop - 1], b' ' | b'\t') {
                stop -= 1;
            }
            v.end = stop;
        }
    }
    if matches!(
        v.kind,
        Kind::Block | Kind::Anchor | Kind::Alias | Kind::Tag | Kind::Junk
    ) {
        v.end = end;
    }
    v
}

/// Brackets and quotes of a flow collection, line by line.
#[derive(Debug, Default, Clone, Copy)]
struct FlowScan {
    depth: usize,
    quote: Option<u8>,
}

impl FlowScan {
    /// Feeds one line; whether the collection closed in it.
    fn feed(&mut self, line: &str) -> bool {
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            match self.quote {
                Some(b'"') if c == b'\\' => i += 1,
                Some(q) if c == q => {
                    if q == b'\'' && b.get(i + 1) == Some(&b'\'') {
                        i += 1;
                    } else {
                        self.quote = None;
                    }
                }
                Some(_) => {}
                None => match c {
                    b'"' | b'\'' => self.quote = Some(c),
                    b'[' | b'{' => self.depth += 1,
                    b']' | b'}' => {
                        self.depth = self.depth.saturating_sub(1);
                        if self.depth == 0 {
                            return true;
                        }
                    }
                    b'#' if i == 0 || matches!(b[i - 1], b' ' | b'\t') => return false,
                    _ => {}
                },
            }
            i += 1;
        }
        false
    }
}

#[cfg(test)]
#[path = "edit_tests.rs"]
mod tests;
