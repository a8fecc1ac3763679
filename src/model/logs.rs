//! A service's logs: where its task definition sends them, and a page of
//! lines read from there with the cursor that follows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a service's container sends its logs, as its task definition says
/// (`logConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LogConfig {
    /// The `awslogs` driver: CloudWatch Logs, one stream per task named
    /// `prefix/container/task-id`.
    Awslogs {
        /// `awslogs-group`.
        group: String,
        /// `awslogs-stream-prefix`, when set.
        stream_prefix: Option<String>,
        /// `awslogs-region`, when set.
        region: Option<String>,
        /// The container whose streams these are.
        container: String,
    },
    /// Another driver, or no log configuration at all: nothing shipdeck reads.
    Other {
        /// The driver named (`splunk`, `awsfirelens`…), if any.
        driver: Option<String>,
        /// The container.
        container: String,
    },
}

impl LogConfig {
    /// The stream-name prefix of the container's streams (`prefix/container`),
    /// when the configuration names a prefix.
    pub fn stream_prefix(&self) -> Option<String> {
        match self {
            Self::Awslogs {
                stream_prefix: Some(p),
                container,
                ..
            } if !p.is_empty() => Some(format!("{p}/{container}")),
            _ => None,
        }
    }

    /// Where the lines come from, said: `CloudWatch Logs /ecs/api · ecs/app/…`.
    pub fn origin(&self) -> String {
        match self {
            Self::Awslogs { group, .. } => format!(
                "CloudWatch Logs {group} · {}",
                self.stream_prefix()
                    .map_or_else(|| "every stream".to_string(), |p| format!("{p}/…"))
            ),
            Self::Other { driver, container } => match driver {
                Some(d) => format!("{container} logs through {d}, not awslogs"),
                None => format!("{container} has no log configuration"),
            },
        }
    }

    /// Why nothing can be read, when nothing can, for the task definition
    /// `task_def`: `no awslogs configuration in shop-api:4 (driver splunk)`.
    pub fn unreadable(&self, task_def: &str) -> Option<String> {
        match self {
            Self::Awslogs { .. } => None,
            Self::Other { driver, container } => Some(format!(
                "no awslogs configuration in {task_def} (container {container}{})",
                driver.as_ref().map_or_else(
                    || ": no log driver".to_string(),
                    |d| format!(" logs to {d}")
                )
            )),
        }
    }
}

/// Where a reading of logs starts, and what it already returned.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogCursor {
    /// Lines at or after this time (CloudWatch's `startTime`).
    pub since: Option<DateTime<Utc>>,
    /// The page after the last one returned (CloudWatch's `nextToken`), while
    /// the reading that started at `since` has more.
    pub token: Option<String>,
    /// The newest line returned so far.
    pub newest: Option<DateTime<Utc>>,
    /// The ids of the lines returned at `newest`: a reading that starts there
    /// again skips them.
    pub seen: Vec<String>,
}

impl LogCursor {
    /// A cursor that starts at `since`.
    pub fn starting(since: DateTime<Utc>) -> Self {
        Self {
            since: Some(since),
            ..Self::default()
        }
    }

    /// Whether the line `id` at `at` was returned already.
    pub fn returned(&self, at: DateTime<Utc>, id: &str) -> bool {
        self.newest
            .is_some_and(|n| at < n || (at == n && self.seen.iter().any(|s| s == id)))
    }

    /// Takes a line in: it is the newest now.
    pub fn take(&mut self, at: DateTime<Utc>, id: &str) {
        if self.newest != Some(at) {
            self.newest = Some(at);
            self.seen.clear();
        }
        self.seen.push(id.to_string());
    }

    /// The page ended: the next reading continues with `token`, or, with
    /// none, starts again at the newest line returned.
    pub fn page_ended(&mut self, token: Option<String>) {
        self.token = token;
        if self.token.is_none()
            && let Some(n) = self.newest
        {
            self.since = Some(n);
        }
    }
}

/// One line of a service's logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// When it was logged.
    pub at: DateTime<Utc>,
    /// The stream (`ecs/app/3f2a…`) or source it came from.
    pub stream: String,
    /// The text, one line.
    pub text: String,
}

/// Where a page of logs came from, or why there is nothing to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogOrigin {
    /// Lines are read from here (`CloudWatch Logs /ecs/api · ecs/app/…`).
    From(String),
    /// Nothing can be read, and why (`no awslogs configuration in shop-api:4`):
    /// a fact about the service, not a failure to read.
    Nowhere(String),
}

/// A page of log lines, oldest first, and the cursor that reads the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPage {
    /// Where they came from.
    pub origin: LogOrigin,
    /// New lines, oldest first.
    pub lines: Vec<LogLine>,
    /// Where the next reading starts.
    pub cursor: LogCursor,
}

impl LogPage {
    /// No lines, and why none can be read.
    pub fn nowhere(why: impl Into<String>) -> Self {
        Self {
            origin: LogOrigin::Nowhere(why.into()),
            lines: Vec::new(),
            cursor: LogCursor::default(),
        }
    }

    /// Every text in the page through the one sanitiser: lines come from
    /// processes shipdeck does not control.
    #[must_use]
    pub fn sanitized(mut self) -> Self {
        match &mut self.origin {
            LogOrigin::From(t) | LogOrigin::Nowhere(t) => *t = super::sanitize(t),
        }
        for l in &mut self.lines {
            l.stream = super::sanitize(&l.stream);
            l.text = super::sanitize(&l.text);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap()
    }

    #[test]
    fn the_cursor_skips_what_it_returned_and_starts_again_at_the_newest() {
        let mut c = LogCursor::starting(t(100));
        assert!(!c.returned(t(100), "a"));
        c.take(t(100), "a");
        c.take(t(101), "b");
        c.take(t(101), "c");
        c.page_ended(Some("next".into()));
        assert_eq!(
            c.since,
            Some(t(100)),
            "a page in the middle keeps its start"
        );
        c.page_ended(None);
        assert_eq!(c.since, Some(t(101)));
        assert!(c.returned(t(101), "b") && c.returned(t(100), "z"));
        assert!(!c.returned(t(101), "d") && !c.returned(t(102), "b"));
    }

    #[test]
    fn where_logs_are_is_said() {
        let aws = LogConfig::Awslogs {
            group: "/ecs/api".into(),
            stream_prefix: Some("ecs".into()),
            region: None,
            container: "app".into(),
        };
        assert_eq!(aws.stream_prefix().as_deref(), Some("ecs/app"));
        assert_eq!(aws.origin(), "CloudWatch Logs /ecs/api · ecs/app/…");
        assert_eq!(aws.unreadable("api:4"), None);
        let none = LogConfig::Other {
            driver: None,
            container: "app".into(),
        };
        assert_eq!(
            none.unreadable("shop-api:4").as_deref(),
            Some("no awslogs configuration in shop-api:4 (container app: no log driver)")
        );
    }

    #[test]
    fn a_page_is_sanitised() {
        let page = LogPage {
            origin: LogOrigin::From("g\u{1b}[2J".into()),
            lines: vec![LogLine {
                at: t(1),
                stream: "ecs/app/1".into(),
                text: "red \u{1b}[31mERROR\u{1b}[0m\u{7}\r\nnext".into(),
            }],
            cursor: LogCursor::default(),
        }
        .sanitized();
        assert_eq!(page.origin, LogOrigin::From("g".into()));
        assert!(
            !page.lines[0].text.chars().any(char::is_control),
            "{page:?}"
        );
        assert!(page.lines[0].text.contains("ERROR"));
    }
}
