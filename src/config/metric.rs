//! Where a metric's datapoints come from: one metric's statistic, or a
//! CloudWatch metric-math expression over the service's other metrics.

/// How deep an expression may nest parentheses and signs (`-(-(x))` is 4).
/// Metric math that CloudWatch computes needs a handful; a limit keeps a
/// hostile configuration from overflowing a parser's stack.
pub const MAX_EXPRESSION_NESTING: usize = 64;

/// Where a metric's datapoints come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricSource {
    /// One metric's statistic.
    Stat {
        /// CloudWatch namespace.
        namespace: String,
        /// Metric name.
        metric_name: String,
        /// Dimensions.
        dimensions: Vec<(String, String)>,
        /// Statistic (`Sum`, `Average`, `p95`, …).
        stat: String,
    },
    /// A metric-math expression over the service's metrics by their `id`
    /// (e.g. `errors / requests * 100`), computed by CloudWatch in the same
    /// `GetMetricData` call.
    Expression(String),
    /// Counted by the reverse proxy of a proxy environment, one point per
    /// minute (the newest one covers the minute so far).
    Proxy(ProxyMetric),
    /// A PromQL expression, read from the service's Prometheus by
    /// `crate::signals` (one point a minute), whatever the platform.
    Prometheus(super::signals::PromQuery),
}

/// What a proxy counts that a rollout can be judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMetric {
    /// 5xx answers per 100 requests, both colours together (HAProxy).
    ErrorPercent,
    /// Requests per second (HAProxy, nginx `stub_status`).
    RequestsPerSecond,
}

impl ProxyMetric {
    /// The configuration's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ErrorPercent => "5xx_percent",
            Self::RequestsPerSecond => "requests_per_second",
        }
    }
}

impl MetricSource {
    /// Whether CloudWatch answers it (a metric or a metric-math expression).
    pub fn is_cloudwatch(&self) -> bool {
        matches!(self, Self::Stat { .. } | Self::Expression(_))
    }

    /// The ids an expression refers to (identifiers starting with a lower-case
    /// letter, as CloudWatch ids do; functions are upper case), outside quotes.
    pub fn referenced_ids(expression: &str) -> Vec<(std::ops::Range<usize>, &str)> {
        let bytes = expression.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            if c == b'\'' || c == b'"' {
                // Skip a quoted string (SEARCH terms, labels).
                i += 1;
                while i < bytes.len() && bytes[i] != c {
                    i += 1;
                }
                i += 1;
            } else if c.is_ascii_alphabetic() || c == b'_' {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                if c.is_ascii_lowercase() {
                    out.push((start..i, &expression[start..i]));
                }
            } else if c.is_ascii_digit() || c == b'.' {
                // A number, with an exponent such as 1e3 (not an id).
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                    i += 1;
                }
            } else {
                i += 1;
            }
        }
        out
    }

    /// How deep `expression` nests: each open parenthesis and each sign in
    /// front of an operand (`-x`, `- -x`) is one level, until the operand ends.
    /// This is the recursion a recursive-descent parser of it needs; counted
    /// here without any, outside quotes.
    pub fn nesting(expression: &str) -> usize {
        let bytes = expression.as_bytes();
        // `base`: the depth where the current operand started; `outer`: the
        // bases of the enclosing parentheses.
        let (mut depth, mut base, mut deepest) = (0usize, 0usize, 0usize);
        let mut outer: Vec<usize> = Vec::new();
        let mut operand_next = true;
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            i += 1;
            match c {
                b'\'' | b'"' => {
                    while i < bytes.len() && bytes[i] != c {
                        i += 1;
                    }
                    i += 1;
                    (depth, operand_next) = (base, false);
                }
                b'(' => {
                    depth += 1;
                    outer.push(base);
                    (base, operand_next) = (depth, true);
                }
                b')' => {
                    base = outer.pop().unwrap_or(0);
                    (depth, operand_next) = (base, false);
                }
                b'+' | b'-' | b'!' if operand_next => depth += 1,
                c if c.is_ascii_whitespace() => {}
                c if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' => {
                    while i < bytes.len()
                        && (bytes[i].is_ascii_alphanumeric()
                            || bytes[i] == b'_'
                            || bytes[i] == b'.')
                    {
                        i += 1;
                    }
                    (depth, operand_next) = (base, false);
                }
                // A binary operator or a comma: a new operand follows.
                _ => (depth, operand_next) = (base, true),
            }
            deepest = deepest.max(depth);
        }
        deepest
    }

    /// The expression with each referenced id replaced by `rename(id)`.
    pub fn rewrite(expression: &str, rename: impl Fn(&str) -> Option<String>) -> String {
        let mut out = String::with_capacity(expression.len());
        let mut last = 0;
        for (span, id) in Self::referenced_ids(expression) {
            if let Some(new) = rename(id) {
                out.push_str(&expression[last..span.start]);
                out.push_str(&new);
                last = span.end;
            }
        }
        out.push_str(&expression[last..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::MetricSource;

    #[test]
    fn nesting_counts_parentheses_and_signs_in_front_of_an_operand() {
        for (expression, deep) in [
            ("errors / requests * 100", 0),
            ("(errors)", 1),
            ("-x", 1),
            ("- -x + y", 2),
            ("-(-(x))", 4),
            ("((a + b) * (c + d)) / 2", 2),
            ("SUM(METRICS()) - 1", 2),
            ("FILL(m1, -1)", 2),
            ("a - -b", 1),
            ("1e-3 * x", 0),
            ("SEARCH('((((((', 'Sum')", 1),
            ("a)) + ((b", 2),
        ] {
            assert_eq!(MetricSource::nesting(expression), deep, "{expression}");
        }
        let deep = format!("{}x{}", "(".repeat(20_000), ")".repeat(20_000));
        assert_eq!(MetricSource::nesting(&deep), 20_000);
        assert_eq!(MetricSource::nesting(&"-".repeat(20_000)), 20_000);
    }
}
