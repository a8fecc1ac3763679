//! A notification's body in a sink's format. Every text in it has passed the
//! one sanitiser and the secrets' redactor: no escape sequence and no known
//! secret value leaves shipdeck in a notification.

use serde::Serialize;

use super::event::Event;
use crate::config::notify::BodyFormat;
use crate::model::text::{json_safe, sanitize};
use crate::secrets::Redactor;

/// The version of shipdeck's own body; it only grows within a version.
pub const SCHEMA: u32 = 1;

#[derive(Serialize)]
struct Slack<'a> {
    text: &'a str,
}

#[derive(Serialize)]
struct Own<'a> {
    schema: u32,
    event: &'a str,
    dedupe_key: &'a str,
    record: &'a str,
    at: String,
    env: Option<String>,
    service: Option<String>,
    promotion: Option<String>,
    operator: String,
    text: &'a str,
}

/// Outside text as it may leave: one line, no controls, no secret.
pub fn clean(text: &str, redactor: &Redactor) -> String {
    redactor.redact(&sanitize(text))
}

/// The one line a person reads (Slack's `text`, SNS's subject line's source).
pub fn text(event: &Event, redactor: &Redactor) -> String {
    clean(&event.text, redactor)
}

/// The body for `format`: Slack's `{"text": …}` or shipdeck's own JSON.
pub fn body(event: &Event, format: BodyFormat, redactor: &Redactor) -> String {
    let text = text(event, redactor);
    let opt = |v: &Option<String>| v.as_deref().map(|s| clean(s, redactor));
    let json = match format {
        BodyFormat::Slack => serde_json::to_string(&Slack { text: &text }),
        BodyFormat::Shipdeck => serde_json::to_string(&Own {
            schema: SCHEMA,
            event: event.kind.as_str(),
            dedupe_key: &event.dedupe_key,
            record: &event.record,
            at: event
                .at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            env: opt(&event.env),
            service: opt(&event.service),
            promotion: opt(&event.promotion),
            operator: clean(&event.operator, redactor),
            text: &text,
        }),
    };
    // Serialising strings and options cannot fail; were it to, the text alone goes.
    json_safe(&json.unwrap_or_else(|_| format!("{{\"text\":{text:?}}}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::event::EventKind;

    fn event(text: &str) -> Event {
        Event {
            kind: EventKind::Succeeded,
            dedupe_key: "abc123".to_string(),
            record: "r7-0011aabb".to_string(),
            at: chrono::DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
                .unwrap()
                .into(),
            env: Some("prod".to_string()),
            service: Some("api".to_string()),
            promotion: Some("p-1".to_string()),
            operator: "alice".to_string(),
            text: text.to_string(),
        }
    }

    #[test]
    fn slack_is_text_only() {
        let b = body(
            &event("api → prod: live"),
            BodyFormat::Slack,
            &Redactor::default(),
        );
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v, serde_json::json!({"text": "api → prod: live"}));
    }

    #[test]
    fn shipdeck_json_carries_the_dedupe_key_and_where() {
        let b = body(&event("live"), BodyFormat::Shipdeck, &Redactor::default());
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["schema"], 1);
        assert_eq!(v["event"], "succeeded");
        assert_eq!(v["dedupe_key"], "abc123");
        assert_eq!(v["env"], "prod");
        assert_eq!(v["service"], "api");
        assert_eq!(v["promotion"], "p-1");
        assert_eq!(v["text"], "live");
        assert_eq!(v["at"], "2026-12-07T10:00:00.000Z");
    }

    #[test]
    fn secrets_and_escapes_never_leave_in_a_body() {
        let r = Redactor::default();
        r.register("canary-s3cr3t-value");
        let mut e = event("reason: \u{1b}[31mred\u{1b}[0m token canary-s3cr3t-value \u{202e}x");
        e.operator = "canary-s3cr3t-value".to_string();
        for f in [BodyFormat::Slack, BodyFormat::Shipdeck] {
            let b = body(&e, f, &r);
            assert!(!b.contains("canary-s3cr3t-value"), "{b}");
            assert!(!b.contains('\u{1b}') && !b.contains("\\u001b"), "{b}");
            assert!(!b.contains('\u{202e}'), "{b}");
            assert!(b.contains("[REDACTED]"), "{b}");
        }
        // A URL's credentials are hidden even when nobody registered them.
        let b = body(
            &event("see https://u:pw@hooks.example.com/x?token=t0k"),
            BodyFormat::Slack,
            &Redactor::default(),
        );
        assert!(!b.contains("pw@") && !b.contains("t0k"), "{b}");
    }
}
