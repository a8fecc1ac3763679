//! The Argo CD Application's verdict on a service: synced and healthy or
//! not, the commit it synced, and what the board's badge says of it.

use super::AppRead;
use crate::model::DetailBadge;

pub(super) enum AppState {
    NoApp,
    Unknown,
    Converging,
    Done,
}

/// Whether the Application is synced and healthy, the commit it synced,
/// and why not.
pub(super) fn app_state(
    app: &AppRead<'_>,
) -> (AppState, Option<crate::model::Shared>, Option<String>) {
    match app {
        AppRead::None => (AppState::NoApp, None, None),
        AppRead::Missing(name) => (
            AppState::Unknown,
            None,
            Some(format!("Argo CD Application {name} not found")),
        ),
        AppRead::Found(a) => {
            let st = a.status.as_ref();
            let sync = st.and_then(|s| s.sync.as_ref());
            let change = sync
                .and_then(|s| s.revision.as_deref())
                .filter(|r| !r.is_empty())
                .map(crate::model::Shared::from);
            let sync_status = sync.map_or("", |s| s.status.as_str());
            let health = st
                .and_then(|s| s.health.as_ref())
                .map_or("", |h| h.status.as_str());
            let op = st.and_then(|s| s.operation_state.as_ref());
            let op_running = op.is_some_and(|o| o.phase == "Running" || o.phase == "Terminating");
            let op_failed = op.filter(|o| o.phase == "Failed" || o.phase == "Error");
            let error = st.and_then(|s| s.conditions.iter().find(|c| c.kind.ends_with("Error")));
            let why = if let Some(e) = error {
                Some(format!("Argo CD: {}: {}", e.kind, e.message))
            } else if let Some(o) = op_failed {
                Some(format!(
                    "Argo CD sync {}: {}",
                    o.phase.to_lowercase(),
                    o.message.clone().unwrap_or_default()
                ))
            } else if sync_status != "Synced" {
                Some(format!(
                    "Argo CD: {}",
                    if sync_status.is_empty() {
                        "sync status not reported"
                    } else {
                        sync_status
                    }
                ))
            } else {
                None
            };
            let state = if sync_status.is_empty() || sync_status == "Unknown" || change.is_none() {
                AppState::Unknown
            } else if sync_status == "Synced"
                && !op_running
                && error.is_none()
                && health == "Healthy"
            {
                AppState::Done
            } else {
                AppState::Converging
            };
            (state, change, why)
        }
    }
}

/// The board's badge: where a canary stands, or what is wrong.
pub(super) fn badge(app: &AppRead<'_>, aborted: bool) -> Option<DetailBadge> {
    if aborted {
        return Some(DetailBadge {
            text: "aborted".into(),
            ok: false,
        });
    }
    match app {
        AppRead::Missing(_) => {
            return Some(DetailBadge {
                text: "no app".into(),
                ok: false,
            });
        }
        AppRead::Found(a) => {
            let sync = a
                .status
                .as_ref()
                .and_then(|s| s.sync.as_ref())
                .map_or("Unknown", |s| s.status.as_str());
            if sync != "Synced" {
                return Some(DetailBadge {
                    text: if sync == "OutOfSync" {
                        "OutOfSync".into()
                    } else {
                        "sync ?".into()
                    },
                    ok: false,
                });
            }
        }
        AppRead::None => {}
    }
    // A canary in flight shows as the board's shift, not as a badge.
    None
}
