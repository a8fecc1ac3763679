//! A proxy environment's logs: the output of the deploy command the cutover
//! runbook ran in this process, with the runbook's own steps between its
//! lines. shipdeck reads no log of the colours themselves.

use super::ProxyProvider;
use crate::config::{EnvConfig, ServiceConfig};
use crate::model::logs::{LogLine, LogOrigin, LogPage};
use crate::provider::LogQuery;

/// What the runbook writes before a line of the deploy command's output
/// (the simulated runbook too), so that its log tells the two apart.
pub const OUTPUT: &str = "deploy: ";

impl ProxyProvider {
    /// The output of this service's last cutover in this process from
    /// `query.cursor` on; said plainly when no cutover ran here.
    pub fn logs(&self, env: &EnvConfig, service: &ServiceConfig, query: &LogQuery) -> LogPage {
        let key = (env.name.clone(), service.name.clone());
        let Some((id, mut events)) = self
            .runs
            .lock()
            .ok()
            .and_then(|runs| runs.get(&key).map(|r| (r.id.clone(), r.events())))
        else {
            return LogPage::nowhere(format!(
                "no deploy of {} in {} has run in this shipdeck yet: the deploy command's output shows here while one runs",
                service.name, env.name
            ));
        };
        // Newest first as events; oldest first as a log.
        events.reverse();
        page(&events, &id, query)
    }
}

/// A page of a cutover's log from `query.cursor` on: its events (oldest
/// first), the deploy command's output told from the runbook's own steps.
/// The one reading of a run's log, real or simulated.
pub fn page<'a>(
    events: impl IntoIterator<Item = &'a crate::model::ServiceEvent>,
    run_id: &str,
    query: &LogQuery,
) -> LogPage {
    let mut cursor = query.cursor.clone();
    let mut lines = Vec::new();
    for e in events {
        if cursor.since.is_some_and(|s| e.at < s) || cursor.returned(e.at, &e.id) {
            continue;
        }
        cursor.take(e.at, &e.id);
        let (stream, text) = match e.message.strip_prefix(OUTPUT) {
            Some(out) => ("deploy command", out.to_string()),
            None => ("runbook", e.message.to_string()),
        };
        lines.push(LogLine {
            at: e.at,
            stream: stream.to_string(),
            text,
        });
    }
    cursor.page_ended(None);
    LogPage {
        origin: LogOrigin::From(format!("the deploy command's output ({run_id})")),
        lines,
        cursor,
    }
}
