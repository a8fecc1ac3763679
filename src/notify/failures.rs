//! Notifications that were not delivered, as the ledger remembers them
//! (`NotificationFailed` records): the timeline's line and `status`'s
//! warnings. Pure: the records and `now` arrive as values.

use chrono::{DateTime, Duration, Utc};

use crate::ledger::{Record, RecordKind};

/// How far back `status` looks for failed notifications.
pub const STATUS_WINDOW_HOURS: i64 = 24;

/// The timeline's line for a `NotificationFailed` record.
pub fn timeline_line(r: &Record) -> Option<String> {
    (r.kind == RecordKind::NotificationFailed).then(|| {
        format!(
            "notification NOT delivered: {}",
            r.draft
                .reasons
                .first()
                .map_or("no reason recorded", String::as_str)
        )
    })
}

/// One warning per environment (`None`: a record that names none) for the
/// notifications not delivered in the [`STATUS_WINDOW_HOURS`] before `now`,
/// in the order of the environments' first failure.
pub fn status_warnings(records: &[Record], now: DateTime<Utc>) -> Vec<(Option<String>, String)> {
    let since = now - Duration::hours(STATUS_WINDOW_HOURS);
    let mut per_env: Vec<(Option<String>, usize, &Record)> = Vec::new();
    for r in records
        .iter()
        .filter(|r| r.kind == RecordKind::NotificationFailed && r.at >= since && r.at <= now)
    {
        match per_env.iter_mut().find(|(e, _, _)| *e == r.draft.env) {
            Some((_, n, last)) => {
                *n += 1;
                *last = r;
            }
            None => per_env.push((r.draft.env.clone(), 1, r)),
        }
    }
    per_env
        .into_iter()
        .map(|(env, n, last)| {
            let reason = last
                .draft
                .reasons
                .first()
                .map_or("no reason recorded", String::as_str);
            (
                env,
                format!(
                    "{n} notification(s) not delivered in the last {STATUS_WINDOW_HOURS} h; latest at {}: {reason} (`shipdeck audit --type notification_failed`)",
                    last.at.format("%Y-%m-%d %H:%M UTC")
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Draft;

    fn rec(kind: RecordKind, env: Option<&str>, at: DateTime<Utc>, why: &str) -> Record {
        Record {
            seq: 1,
            id: "r1-00000000".to_string(),
            kind,
            at,
            draft: Draft {
                operator: "alice".to_string(),
                env: env.map(str::to_string),
                reasons: vec![why.to_string()],
                ..Draft::default()
            },
            prev_hash: String::new(),
            once: None,
        }
    }

    #[test]
    fn status_warns_of_recent_failures_per_environment_only() {
        let now = Utc::now();
        let records = vec![
            rec(
                RecordKind::NotificationFailed,
                Some("prod"),
                now - Duration::hours(30),
                "old",
            ),
            rec(
                RecordKind::NotificationFailed,
                Some("prod"),
                now - Duration::hours(2),
                "first",
            ),
            rec(
                RecordKind::DeploySucceeded,
                Some("prod"),
                now,
                "not a failure",
            ),
            rec(
                RecordKind::NotificationFailed,
                Some("prod"),
                now - Duration::hours(1),
                "second",
            ),
            rec(RecordKind::NotificationFailed, None, now, "nowhere"),
        ];
        let w = status_warnings(&records, now);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].0.as_deref(), Some("prod"));
        assert!(
            w[0].1.starts_with("2 notification(s) not delivered"),
            "{}",
            w[0].1
        );
        assert!(w[0].1.contains("second"), "{}", w[0].1);
        assert_eq!(w[1].0, None);
        assert!(status_warnings(&records[2..3], now).is_empty());
    }

    /// The console: a failure read from the ledger (at start or followed)
    /// is a bad-news line on the timeline, once.
    #[test]
    fn the_console_shows_a_failure_on_its_timeline_once() {
        use crate::app::{App, Msg, update};
        let now = Utc::now();
        let mut app = App::new(
            &crate::config::demo().unwrap(),
            crate::app::keys::KeyMap::default(),
            "tester".into(),
            now,
        );
        let r = rec(
            RecordKind::NotificationFailed,
            Some("prod"),
            now,
            "succeeded to sink \"releases\" (webhook) not delivered after 4 attempt(s): HTTP 500",
        );
        for _ in 0..2 {
            update(
                &mut app,
                Msg::LedgerRead {
                    records: Ok(vec![r.clone()]),
                    lock: None,
                },
            );
        }
        let lines: Vec<_> = app
            .timeline
            .entries()
            .iter()
            .filter(|e| e.text.starts_with("notification NOT delivered"))
            .collect();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].bad);
        assert_eq!(lines[0].env, "prod");
        assert!(lines[0].text.ends_with("HTTP 500"), "{}", lines[0].text);
    }

    #[test]
    fn the_timeline_line_names_what_failed() {
        let r = rec(
            RecordKind::NotificationFailed,
            Some("prod"),
            Utc::now(),
            "succeeded to sink \"releases\"",
        );
        assert_eq!(
            timeline_line(&r).as_deref(),
            Some("notification NOT delivered: succeeded to sink \"releases\"")
        );
        assert_eq!(
            timeline_line(&rec(RecordKind::Approval, None, Utc::now(), "x")),
            None
        );
    }
}
