//! The text as lines, and what one line holds: a key, a value (plain,
//! quoted, flow), a document marker. No structure beyond one line.

/// One line: `start..end` its text without the line break, `next` where the
/// following line starts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Line {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) next: usize,
}

pub(super) fn split_lines(text: &str) -> Vec<Line> {
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
pub(super) enum Kind {
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
pub(super) struct Value {
    pub(super) kind: Kind,
    pub(super) start: usize,
    pub(super) end: usize,
    /// A quoted value or a flow collection that ends on this line.
    pub(super) closed: bool,
}

pub(super) fn is_marker(text: &str, marker: &str) -> bool {
    text.starts_with(marker)
        && text[marker.len()..]
            .chars()
            .next()
            .is_none_or(|c| c == ' ' || c == '\t')
}

pub(super) enum KeyRead {
    Key { key: String, after_colon: usize },
    NotAKey,
    Junk,
}

/// A mapping key at `p`: plain, or single- or double-quoted, followed by
/// `:` and a space or the end of the line.
pub(super) fn read_key(text: &str, p: usize, end: usize) -> KeyRead {
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
pub(super) fn quote_end(s: &str, from: usize, double: bool) -> Option<usize> {
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
pub(super) fn read_value(text: &str, from: usize, end: usize) -> Value {
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
pub(super) struct FlowScan {
    depth: usize,
    quote: Option<u8>,
}

impl FlowScan {
    /// Feeds one line; whether the collection closed in it.
    pub(super) fn feed(&mut self, line: &str) -> bool {
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
