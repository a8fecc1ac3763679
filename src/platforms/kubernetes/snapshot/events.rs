//! Kubernetes events as the timeline shows them, and Kubernetes times.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Event;

use super::EVENTS;
use crate::model::ServiceEvent;

/// A Kubernetes time (k8s-openapi's `jiff` timestamp) as the model's.
pub fn chrono_time(t: &k8s_openapi::jiff::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(
        t.as_second(),
        u32::try_from(t.subsec_nanosecond()).unwrap_or(0),
    )
}

/// Kubernetes events, newest first, as the timeline shows them.
pub(super) fn events(evs: &[&Event]) -> Vec<ServiceEvent> {
    let when = |e: &Event| {
        e.last_timestamp
            .as_ref()
            .and_then(|t| chrono_time(&t.0))
            .or_else(|| e.event_time.as_ref().and_then(|t| chrono_time(&t.0)))
            .or_else(|| {
                e.metadata
                    .creation_timestamp
                    .as_ref()
                    .and_then(|t| chrono_time(&t.0))
            })
    };
    let mut out: Vec<(DateTime<Utc>, &Event)> =
        evs.iter().filter_map(|e| Some((when(e)?, *e))).collect();
    out.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
    out.into_iter()
        .take(EVENTS)
        .map(|(at, e)| {
            let reason = e.reason.as_deref().unwrap_or("");
            let msg = e.message.as_deref().unwrap_or("");
            let warn = if e.type_.as_deref() == Some("Warning") {
                "warning: "
            } else {
                ""
            };
            ServiceEvent {
                id: format!(
                    "{}:{}",
                    e.metadata.uid.as_deref().unwrap_or(""),
                    e.count.unwrap_or(1)
                )
                .into(),
                at,
                message: format!("{warn}{reason}: {msg}").into(),
            }
        })
        .collect()
}
