//! Signals beyond the platform: Prometheus and Alertmanager, configured once
//! per environment (`[environment.prometheus]`, `[environment.alertmanager]`,
//! overridable per service) and used by metrics (`promql = "…"`) and alerts
//! (`[[environment.service.alert]]`). Pure data and a syntactic check; the
//! reading is `crate::signals`.

use std::sync::Arc;
use std::time::Duration;

use super::ServiceConfig;

/// How long one signal source may take to answer a reading, unless its
/// `timeout` says otherwise.
pub const DEFAULT_SIGNAL_TIMEOUT: Duration = Duration::from_secs(5);

/// Which kind of server a signal comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalKind {
    /// Prometheus: PromQL metrics, and alerts from its alerting rules.
    Prometheus,
    /// Alertmanager: alerts only (it cannot tell a rule that does not exist).
    Alertmanager,
}

impl SignalKind {
    /// The server's name, for people.
    pub fn name(self) -> &'static str {
        match self {
            Self::Prometheus => "Prometheus",
            Self::Alertmanager => "Alertmanager",
        }
    }

    /// The configuration key that names it (`prometheus`, `alertmanager`).
    pub fn key(self) -> &'static str {
        match self {
            Self::Prometheus => "prometheus",
            Self::Alertmanager => "alertmanager",
        }
    }
}

/// A Prometheus or Alertmanager server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalEndpoint {
    /// What it is.
    pub kind: SignalKind,
    /// Base URL without a trailing slash (`http://prometheus:9090`, or with a
    /// path prefix behind a reverse proxy).
    pub url: String,
    /// Bearer token as a secret reference (`${secret:NAME}`), never the value.
    pub token: Option<String>,
    /// Longest one reading of this server may take.
    pub timeout: Duration,
    /// Where it was configured, `file:line:col`.
    pub location: String,
}

/// One alert watched as an alarm of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertConfig {
    /// Where the alert is read.
    pub source: SignalKind,
    /// The `alertname` (for Prometheus: the alerting rule's name).
    pub name: String,
    /// Labels an alert must carry, each matched exactly; sorted by name.
    pub labels: Vec<(String, String)>,
    /// Where it was configured, `file:line:col`.
    pub location: String,
}

impl AlertConfig {
    /// The alarm's name as shown everywhere: `HighErrorRate{service="api"}`.
    pub fn alarm_name(&self) -> String {
        if self.labels.is_empty() {
            return self.name.clone();
        }
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", v.escape_debug()))
            .collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }

    /// Whether an alert with `labels` is one this configuration watches:
    /// the same `alertname` and every configured label with the same value.
    pub fn matches<'a>(&self, mut labels: impl FnMut(&str) -> Option<&'a str>) -> bool {
        labels("alertname") == Some(self.name.as_str())
            && self
                .labels
                .iter()
                .all(|(k, v)| labels(k) == Some(v.as_str()))
    }
}

/// A metric read from Prometheus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromQuery {
    /// The PromQL expression; one series (aggregate it).
    pub query: String,
    /// Where it was configured, `file:line:col`: named when Prometheus
    /// refuses the query.
    pub location: String,
}

/// The signal sources a service reads besides its platform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceSignals {
    /// The Prometheus its `promql` metrics and Prometheus alerts come from
    /// (its own `[environment.service.prometheus]`, else the environment's).
    pub prometheus: Option<Arc<SignalEndpoint>>,
    /// The Alertmanager its Alertmanager alerts come from.
    pub alertmanager: Option<Arc<SignalEndpoint>>,
    /// Alerts watched as alarms.
    pub alerts: Vec<AlertConfig>,
}

impl ServiceSignals {
    /// The server `kind` of this service, when one is configured.
    pub fn endpoint(&self, kind: SignalKind) -> Option<&Arc<SignalEndpoint>> {
        match kind {
            SignalKind::Prometheus => self.prometheus.as_ref(),
            SignalKind::Alertmanager => self.alertmanager.as_ref(),
        }
    }
}

impl ServiceConfig {
    /// Whether the service watches any alarm: CloudWatch names or prefixes,
    /// or alerts. A watch of a service that does is blind while they are
    /// unknown.
    pub fn watches_alarms(&self) -> bool {
        !self.alarms.is_empty()
            || !self.alarm_prefixes.is_empty()
            || !self.signals.alerts.is_empty()
    }

    /// The alarms the service watches as configured, for people: CloudWatch
    /// names, prefixes as patterns (`api-*`), then alerts by their alarm name.
    pub fn watched_alarm_names(&self) -> Vec<String> {
        self.alarms
            .iter()
            .cloned()
            .chain(self.alarm_prefixes.iter().map(|p| format!("{p}*")))
            .chain(self.signals.alerts.iter().map(AlertConfig::alarm_name))
            .collect()
    }
}

/// Whether `name` is a Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// What is syntactically wrong with a PromQL expression, cheaply: empty,
/// brackets that do not balance, a string that is not closed. Returns the
/// 1-based character where the problem is, and what it is. Prometheus
/// parses the rest (its refusal names the metric's configuration line).
pub fn promql_problem(query: &str) -> Option<(usize, String)> {
    if query.trim().is_empty() {
        return Some((1, "the query is empty".to_string()));
    }
    // Open brackets: (character, position).
    let mut open: Vec<(char, usize)> = Vec::new();
    let mut chars = query.chars().enumerate().map(|(i, c)| (i + 1, c));
    while let Some((at, c)) = chars.next() {
        match c {
            '"' | '\'' | '`' => {
                let mut closed = false;
                while let Some((_, d)) = chars.next() {
                    if d == '\\' && c != '`' {
                        chars.next();
                    } else if d == c {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return Some((at, format!("the string opened with {c} is not closed")));
                }
            }
            // A comment runs to the end of its line.
            '#' => {
                for (_, d) in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '(' | '[' | '{' => open.push((c, at)),
            ')' | ']' | '}' => {
                let want = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                match open.pop() {
                    Some((o, _)) if o == want => {}
                    Some((o, from)) => {
                        return Some((
                            at,
                            format!("'{c}' closes the '{o}' opened at character {from}"),
                        ));
                    }
                    None => return Some((at, format!("'{c}' closes nothing"))),
                }
            }
            _ => {}
        }
    }
    open.pop()
        .map(|(o, from)| (from, format!("'{o}' is never closed")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promql_syntax_is_checked_cheaply() {
        for ok in [
            "up",
            r#"sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m])) * 100"#,
            r#"x{a="(", b='[\'', c=`\`} # a comment with ( unbalanced"#,
            "histogram_quantile(0.95, sum by (le) (rate(h_bucket[5m])))",
        ] {
            assert_eq!(promql_problem(ok), None, "{ok}");
        }
        for (bad, at, what) in [
            ("", 1, "empty"),
            ("   \n", 1, "empty"),
            ("sum(rate(x[1m])", 4, "'(' is never closed"),
            ("rate(x[1m)]", 10, "')' closes the '['"),
            ("x)", 2, "closes nothing"),
            (r#"x{a="b}"#, 5, "not closed"),
            (r"x{a='b\'}", 5, "not closed"),
        ] {
            let (got_at, got) = promql_problem(bad).unwrap();
            assert_eq!(got_at, at, "{bad}: {got}");
            assert!(got.contains(what), "{bad}: {got}");
        }
        // Deep nesting costs a Vec, never the stack.
        let deep = format!("{}x{}", "(".repeat(100_000), ")".repeat(100_000));
        assert_eq!(promql_problem(&deep), None);
    }

    #[test]
    fn an_alert_matches_by_name_and_every_label_exactly() {
        let a = AlertConfig {
            source: SignalKind::Prometheus,
            name: "HighErrorRate".into(),
            labels: vec![("service".into(), "api".into())],
            location: "c.toml:1:1".into(),
        };
        assert_eq!(a.alarm_name(), "HighErrorRate{service=\"api\"}");
        let labels = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
        };
        assert!(a.matches(labels(&[
            ("alertname", "HighErrorRate"),
            ("service", "api"),
            ("severity", "page")
        ])));
        assert!(!a.matches(labels(&[
            ("alertname", "HighErrorRate"),
            ("service", "api2")
        ])));
        assert!(!a.matches(labels(&[("alertname", "HighErrorRate")])));
        assert!(!a.matches(labels(&[("alertname", "Other"), ("service", "api")])));
    }
}
