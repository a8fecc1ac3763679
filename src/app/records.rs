//! What the console keeps from the ledger and probes beyond the board: the
//! records read at start-up, actions a previous run left unfinished, and a
//! cell's recent latencies.

use super::timeline::EntryKind;
use super::{App, Flow, Level, flow};
use crate::config::EnvId;

impl App {
    /// Recent health latencies (ms) of a cell, oldest first: probe results where
    /// the service is probed, else the provider's readings.
    pub fn latencies(&self, env: EnvId, service: &str) -> Vec<u64> {
        match self.trackers.get(&(env, service.to_string())) {
            Some(t) => t.latencies(),
            None => self
                .health_history
                .get(&env)
                .and_then(|e| e.get(service))
                .map(|h| h.iter().copied().map(u64::from).collect())
                .unwrap_or_default(),
        }
    }

    /// The ledger as read at start-up: kept for rollback targets and approvals, and
    /// whatever a previous run left unfinished is shown.
    pub fn load_records(&mut self, records: Vec<crate::ledger::Record>) {
        let open = crate::stable::interrupted(&records);
        self.note_notification_failures(&records);
        self.records = records;
        self.note_interrupted(&open);
    }

    /// Notifications that were not delivered (issue 32), on the timeline.
    pub fn note_notification_failures(&mut self, records: &[crate::ledger::Record]) {
        for r in records {
            if let Some(text) = crate::notify::failures::timeline_line(r) {
                let env = r.draft.env.as_deref().unwrap_or("");
                let key = format!("notify:{}", r.id);
                let service = r.draft.service.as_deref();
                self.timeline
                    .push(key, r.at, env, service, EntryKind::Action, &text, true);
            }
        }
    }

    /// Puts a warning in the status bar.
    pub fn say_warning(&mut self, text: String) {
        self.say(Level::Warn, text);
    }

    /// Shows promotions or rollbacks that a previous run started and never finished.
    pub fn note_interrupted(&mut self, list: &[crate::stable::Interrupted]) {
        for i in list {
            let kind = i.last.kind.as_str();
            let text = format!(
                "INTERRUPTED: {} of {} in {} never finished (last record: {kind} by {}); check the service before acting",
                i.what(),
                i.service,
                i.env,
                i.last.draft.operator
            );
            let key = format!("interrupted:{}", i.last.id);
            self.timeline.push(
                key,
                i.last.at,
                &i.env,
                Some(&i.service),
                EntryKind::Action,
                &text,
                true,
            );
        }
        if !list.is_empty() && self.flow.is_none() {
            self.flow = Some(Flow::Interrupted(Box::new(flow::InterruptedDialog {
                items: list.to_vec(),
            })));
        }
        if let Some(first) = list.first() {
            self.say(
                Level::Warn,
                format!(
                    "{} interrupted action(s), e.g. {} in {}: see the timeline and `shipdeck audit{} --service {}`",
                    list.len(),
                    first.service,
                    first.env,
                    if self.cfg.is_demo() { " --demo" } else { "" },
                    first.service
                ),
            );
        }
    }
}
