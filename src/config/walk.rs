//! Typed, span-aware reading of a `toml_edit` document that collects every problem.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use toml_edit::{Item, TableLike, Value};

/// Shortest and longest value a duration key accepts.
pub type DurationRange = (Duration, Duration);

/// One configuration problem, located in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// File as given by the user.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
    /// What is wrong, with the bad value in quotes.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}\n  help: {}",
            self.file, self.line, self.col, self.message, self.help
        )
    }
}

/// Collects problems while the document is walked.
pub struct Ctx<'a> {
    src: &'a str,
    file: &'a str,
    /// Problems found so far.
    pub problems: Vec<Problem>,
    /// What works but is spelled the old way (`file:line:col: …`), for
    /// `config check` to name the new spelling.
    pub notes: Vec<String>,
}

/// A table being read, with the keys it knows and where it starts.
pub struct Table<'t> {
    inner: &'t dyn TableLike,
    /// Span of the table (its header or its inline braces).
    pub span: Option<Range<usize>>,
    /// Human path, e.g. `environment "prod" > gate`.
    pub path: String,
}

fn type_name(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
        Item::Value(v) => match v {
            Value::String(_) => "a string",
            Value::Integer(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Boolean(_) => "a boolean",
            Value::Datetime(_) => "a date-time",
            Value::Array(_) => "an array",
            Value::InlineTable(_) => "a table",
        },
    }
}

/// Shows a value in quotes, the way the user wrote it (trimmed).
fn shown(item: &Item) -> String {
    match item {
        Item::Value(Value::String(s)) => format!("\"{}\"", s.value()),
        Item::Value(v) => format!("\"{}\"", v.to_string().trim()),
        other => type_name(other).to_string(),
    }
}

impl<'a> Ctx<'a> {
    /// Starts a walk of `src`, reported as `file`.
    pub fn new(src: &'a str, file: &'a str) -> Self {
        Self {
            src,
            file,
            problems: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.src.len());
        let before = self.src.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self
            .src
            .get(line_start..offset)
            .map_or(0, |s| s.chars().count())
            + 1;
        (line, col)
    }

    /// `file:line:col` for a span (start of file when unknown).
    pub fn location(&self, span: Option<&Range<usize>>) -> String {
        let (line, col) = self.position(span.map_or(0, |s| s.start));
        format!("{}:{line}:{col}", self.file)
    }

    /// Records something that works but has a newer spelling.
    pub fn note(&mut self, span: Option<&Range<usize>>, message: &str) {
        let at = self.location(span);
        self.notes.push(format!("{at}: {message}"));
    }

    /// Records a problem at a span.
    pub fn report(
        &mut self,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let (line, col) = self.position(span.map_or(0, |s| s.start));
        self.problems.push(Problem {
            file: self.file.to_string(),
            line,
            col,
            message: message.into(),
            help: help.into(),
        });
    }
}

impl<'t> Table<'t> {
    /// Wraps a table.
    pub fn new(
        inner: &'t dyn TableLike,
        span: Option<Range<usize>>,
        path: impl Into<String>,
    ) -> Self {
        Self {
            inner,
            span,
            path: path.into(),
        }
    }

    /// Span of a key, falling back to its value and then the table.
    pub fn key_span(&self, key: &str) -> Option<Range<usize>> {
        self.inner
            .key(key)
            .and_then(toml_edit::Key::span)
            .or_else(|| self.inner.get(key).and_then(Item::span))
            .or_else(|| self.span.clone())
    }

    /// Span of a value, falling back to its key.
    pub fn value_span(&self, key: &str) -> Option<Range<usize>> {
        self.inner
            .get(key)
            .and_then(Item::span)
            .or_else(|| self.key_span(key))
    }

    fn label(&self, key: &str) -> String {
        if self.path.is_empty() {
            format!("\"{key}\"")
        } else {
            format!("\"{key}\" in {}", self.path)
        }
    }

    /// Reports every key not in `known`, with a did-you-mean suggestion.
    pub fn check_keys(&self, ctx: &mut Ctx<'_>, known: &[&str]) {
        for (key, _) in self.inner.iter() {
            if known.contains(&key) {
                continue;
            }
            let best = known
                .iter()
                .map(|k| (strsim::jaro_winkler(key, k), *k))
                .filter(|(score, _)| *score > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let help = match best {
                Some((_, k)) => format!("did you mean \"{k}\"?"),
                None => format!("remove it; known keys here are: {}", known.join(", ")),
            };
            let where_ = if self.path.is_empty() {
                "at the top level".to_string()
            } else {
                format!("in {}", self.path)
            };
            ctx.report(
                self.key_span(key),
                format!("unknown key \"{key}\" {where_}"),
                help,
            );
        }
    }

    /// Whether the key is present.
    pub fn has(&self, key: &str) -> bool {
        self.inner.get(key).is_some_and(|i| !i.is_none())
    }

    fn wrong_type(&self, ctx: &mut Ctx<'_>, key: &str, item: &Item, want: &str, help: &str) {
        ctx.report(
            self.value_span(key),
            format!(
                "{} must be {want}, found {} {}",
                self.label(key),
                type_name(item),
                shown(item)
            ),
            help,
        );
    }

    /// Reports a missing required key.
    pub fn missing(&self, ctx: &mut Ctx<'_>, key: &str, help: &str) {
        let where_ = if self.path.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in {}", self.path)
        };
        ctx.report(
            self.span.clone(),
            format!("missing required key \"{key}\" {where_}"),
            help,
        );
    }

    /// A string value.
    pub fn str(&self, ctx: &mut Ctx<'_>, key: &str) -> Option<String> {
        let item = self.inner.get(key)?;
        if let Some(s) = item.as_str() {
            return Some(s.to_string());
        }
        self.wrong_type(ctx, key, item, "a string", "put the value in double quotes");
        None
    }

    /// A file path: a non-empty string without control characters.
    pub fn path(&self, ctx: &mut Ctx<'_>, key: &str) -> Option<String> {
        let p = self.str(ctx, key)?;
        if p.trim().is_empty() || p.chars().any(char::is_control) {
            ctx.report(
                self.value_span(key),
                format!(
                    "{} is not a usable file path: \"{}\"",
                    self.label(key),
                    p.escape_debug()
                ),
                "write a path such as \"/shared/release/ledger.jsonl\", or leave the key out for the default",
            );
            return None;
        }
        Some(p)
    }

    /// A required string value.
    pub fn req_str(&self, ctx: &mut Ctx<'_>, key: &str, help: &str) -> Option<String> {
        if !self.has(key) {
            self.missing(ctx, key, help);
            return None;
        }
        self.str(ctx, key)
    }

    /// A boolean with a default.
    pub fn bool(&self, ctx: &mut Ctx<'_>, key: &str, default: bool) -> bool {
        let Some(item) = self.inner.get(key) else {
            return default;
        };
        if let Some(b) = item.as_bool() {
            return b;
        }
        self.wrong_type(
            ctx,
            key,
            item,
            "true or false",
            "write true or false without quotes",
        );
        default
    }

    /// A non-negative integer within `range`, with a default.
    pub fn int(&self, ctx: &mut Ctx<'_>, key: &str, range: Range<i64>, default: i64) -> i64 {
        let Some(item) = self.inner.get(key) else {
            return default;
        };
        let Some(n) = item.as_integer() else {
            self.wrong_type(
                ctx,
                key,
                item,
                "an integer",
                "write a whole number without quotes",
            );
            return default;
        };
        if !range.contains(&n) {
            ctx.report(
                self.value_span(key),
                format!("{} is out of range: \"{n}\"", self.label(key)),
                format!("use a number from {} to {}", range.start, range.end - 1),
            );
            return default;
        }
        n
    }

    /// A float with a default.
    pub fn float(&self, ctx: &mut Ctx<'_>, key: &str) -> Option<f64> {
        let item = self.inner.get(key)?;
        match item {
            Item::Value(Value::Float(f)) => Some(*f.value()),
            #[allow(clippy::cast_precision_loss)]
            Item::Value(Value::Integer(i)) => Some(*i.value() as f64),
            other => {
                self.wrong_type(
                    ctx,
                    key,
                    other,
                    "a number",
                    "write a number such as 0.5 without quotes",
                );
                None
            }
        }
    }

    /// A duration written as text with a unit (`"30s"`, `"5m"`, `"24h"`).
    pub fn duration(&self, ctx: &mut Ctx<'_>, key: &str) -> Option<Duration> {
        let item = self.inner.get(key)?;
        let help = "write a number with a unit in quotes, e.g. \"30s\", \"5m\", \"24h\"";
        let Some(s) = item.as_str() else {
            self.wrong_type(ctx, key, item, "a duration", help);
            return None;
        };
        if let Ok(d) = humantime::parse_duration(s) {
            Some(d)
        } else {
            ctx.report(
                self.value_span(key),
                format!("{} is not a valid duration: \"{s}\"", self.label(key)),
                help,
            );
            None
        }
    }

    /// A duration with a default, rejecting zero and anything outside `range`
    /// (a year-long refresh interval is a typo, and would overflow clock arithmetic).
    pub fn positive_duration(
        &self,
        ctx: &mut Ctx<'_>,
        key: &str,
        default: Duration,
        range: DurationRange,
    ) -> Duration {
        match self.duration(ctx, key) {
            Some(d) if d.is_zero() => {
                ctx.report(
                    self.value_span(key),
                    format!("{} must be longer than zero: \"0s\"", self.label(key)),
                    "use a positive duration, e.g. \"5s\"",
                );
                default
            }
            Some(d) if self.in_range(ctx, key, d, range) => d,
            _ => default,
        }
    }

    /// An optional duration (zero allowed where `range` starts at zero) within `range`.
    pub fn bounded_duration(
        &self,
        ctx: &mut Ctx<'_>,
        key: &str,
        range: DurationRange,
    ) -> Option<Duration> {
        self.duration(ctx, key)
            .filter(|d| self.in_range(ctx, key, *d, range))
    }

    fn in_range(&self, ctx: &mut Ctx<'_>, key: &str, d: Duration, range: DurationRange) -> bool {
        let (min, max) = range;
        let show = |d: Duration| humantime::format_duration(d).to_string();
        let written = self
            .inner
            .get(key)
            .and_then(|i| i.as_str())
            .unwrap_or_default()
            .to_string();
        let problem = if d < min {
            Some(format!("{} is too short: \"{written}\"", self.label(key)))
        } else if d > max {
            Some(format!("{} is too long: \"{written}\"", self.label(key)))
        } else {
            None
        };
        if let Some(message) = problem {
            ctx.report(
                self.value_span(key),
                message,
                format!("use a duration from \"{}\" to \"{}\"", show(min), show(max)),
            );
            return false;
        }
        true
    }

    /// An array of strings (a single string is accepted as a one-element list).
    pub fn str_list(&self, ctx: &mut Ctx<'_>, key: &str) -> Vec<String> {
        let Some(item) = self.inner.get(key) else {
            return Vec::new();
        };
        if let Some(s) = item.as_str() {
            return vec![s.to_string()];
        }
        let Some(arr) = item.as_array() else {
            self.wrong_type(
                ctx,
                key,
                item,
                "a list of strings",
                "write a list such as [\"a\", \"b\"]",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for v in arr {
            match v.as_str() {
                Some(s) => out.push(s.to_string()),
                None => ctx.report(
                    v.span().or_else(|| self.value_span(key)),
                    format!(
                        "{} must list strings only, found \"{}\"",
                        self.label(key),
                        v.to_string().trim()
                    ),
                    "put every element in double quotes",
                ),
            }
        }
        out
    }

    /// A checklist: strings, or `{ item = "…", after_stable = true }` for an
    /// item due only once the deploy is stable. Returns (item, after_stable).
    pub fn checklist(&self, ctx: &mut Ctx<'_>, key: &str) -> Vec<(String, bool)> {
        let Some(arr) = self.inner.get(key).and_then(Item::as_array) else {
            return self
                .str_list(ctx, key)
                .into_iter()
                .map(|s| (s, false))
                .collect();
        };
        let mut out = Vec::new();
        for v in arr {
            if let Some(s) = v.as_str() {
                out.push((s.to_string(), false));
                continue;
            }
            let entry = v.as_inline_table().and_then(|t| {
                let item = t.get("item")?.as_str()?.to_string();
                let after = match t.get("after_stable") {
                    None => false,
                    Some(a) => a.as_bool()?,
                };
                t.iter()
                    .all(|(k, _)| k == "item" || k == "after_stable")
                    .then_some((item, after))
            });
            match entry {
                Some(e) => out.push(e),
                None => ctx.report(
                    v.span().or_else(|| self.value_span(key)),
                    format!(
                        "{} must list strings or {{ item = \"…\", after_stable = true }}, found \"{}\"",
                        self.label(key),
                        v.to_string().trim()
                    ),
                    "write \"Release notes updated\", or { item = \"Run irreversible migrations\", after_stable = true } for a step due once the deploy is stable",
                ),
            }
        }
        out
    }

    /// A sub-table (standard or inline).
    pub fn table(&self, ctx: &mut Ctx<'_>, key: &str, path: String) -> Option<Table<'t>> {
        let item = self.inner.get(key)?;
        if let Some(t) = item.as_table_like() {
            Some(Table::new(
                t,
                item.span().or_else(|| self.key_span(key)),
                path,
            ))
        } else {
            self.wrong_type(
                ctx,
                key,
                item,
                "a table",
                &format!("write it as [{key}] or {key} = {{ … }}"),
            );
            None
        }
    }

    /// Each table of an array of tables (`[[key]]`, or an array of inline tables).
    pub fn tables(&self, ctx: &mut Ctx<'_>, key: &str) -> Vec<Table<'t>> {
        let Some(item) = self.inner.get(key) else {
            return Vec::new();
        };
        if let Some(aot) = item.as_array_of_tables() {
            return aot
                .iter()
                .map(|t| Table::new(t, t.span().or_else(|| self.key_span(key)), String::new()))
                .collect();
        }
        if let Some(arr) = item.as_array() {
            let mut out = Vec::new();
            for v in arr {
                match v.as_inline_table() {
                    Some(t) => out.push(Table::new(t, v.span(), String::new())),
                    None => ctx.report(
                        v.span(),
                        format!(
                            "{} must list tables, found \"{}\"",
                            self.label(key),
                            v.to_string().trim()
                        ),
                        format!("write each entry as [[{key}]] or {{ … }}"),
                    ),
                }
            }
            return out;
        }
        self.wrong_type(
            ctx,
            key,
            item,
            "a list of tables",
            &format!("write each entry as [[{key}]]"),
        );
        Vec::new()
    }

    /// Key/value pairs of a table whose values are strings (headers, dimensions).
    pub fn string_map(&self, ctx: &mut Ctx<'_>, key: &str) -> Vec<(String, String)> {
        let Some(t) = self.table(ctx, key, format!("{} > {key}", self.path)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, item) in t.inner.iter() {
            match item.as_str() {
                Some(v) => out.push((k.to_string(), v.to_string())),
                None => t.wrong_type(ctx, k, item, "a string", "put the value in double quotes"),
            }
        }
        out
    }

    /// Keys and items, for tables with free-form keys.
    pub fn entries(&self) -> Vec<(String, &'t Item)> {
        self.inner.iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// A string chosen from `choices`.
    pub fn choice(&self, ctx: &mut Ctx<'_>, key: &str, choices: &[&str]) -> Option<String> {
        let s = self.str(ctx, key)?;
        if choices.contains(&s.as_str()) {
            return Some(s);
        }
        ctx.report(
            self.value_span(key),
            format!("{} has an unknown value \"{s}\"", self.label(key)),
            format!(
                "use one of: {}",
                choices
                    .iter()
                    .map(|c| format!("\"{c}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        None
    }
}
