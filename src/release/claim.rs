//! What an ended watch may claim: only what the ledger holds. The engine says
//! how a watch ended; the records that close it are appended; then, and only
//! then, [`Watch::claim`] turns that ending into the words and the outcome the
//! screen, the CLI's last line and the exit code show. Both drivers call it.

use crate::ledger::{Draft, RecordKind};

use super::{Outcome, Watch};

/// What became of the records that close an action, as a driver appended them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// Kinds appended, in order.
    pub recorded: Vec<RecordKind>,
    /// Kinds that could not be appended, with the error.
    pub failed: Vec<(RecordKind, String)>,
    /// Where the failed ones were kept to be written late, or why they could
    /// not be kept either.
    pub kept: Option<Result<String, String>>,
}

impl Written {
    /// Takes in one append's result.
    pub fn add<T>(&mut self, kind: RecordKind, result: &Result<T, String>) {
        match result {
            Ok(_) => self.recorded.push(kind),
            Err(e) => self.failed.push((kind, e.clone())),
        }
    }

    /// Whether every record was appended.
    pub fn complete(&self) -> bool {
        self.failed.is_empty()
    }
}

impl Watch {
    /// The record that says this watch stopped (`why`: the signal) while its
    /// action went on; it leaves the action open, to be resumed.
    pub fn interrupted(&self, operator: &str, why: &str) -> (RecordKind, Draft) {
        let mut d = self.draft(operator);
        d.outcome = Some(Outcome::Interrupted.as_str().to_string());
        d.reasons.push(format!(
            "watch stopped by {why}: the {} goes on unwatched",
            self.kind.noun()
        ));
        (RecordKind::WatchInterrupted, d)
    }

    /// The ending the engine reported (`end`), said as the ledger allows:
    /// an ending whose records could not be appended is *unrecorded* (never
    /// "succeeded"), and "marked in the ledger" appears only when the stable
    /// mark was written.
    pub fn claim(&self, end: (Outcome, String), written: &Written) -> (Outcome, String) {
        let (outcome, why) = end;
        let what = self.kind.noun();
        let (service, env) = (&self.service, &self.env_name);
        if let Some((_, error)) = written.failed.first() {
            let kinds: Vec<&str> = written.failed.iter().map(|(k, _)| k.as_str()).collect();
            let seen = match outcome {
                Outcome::Succeeded | Outcome::RolledBack => format!(
                    "{} converge and stay healthy for the window",
                    self.to
                        .as_ref()
                        .map_or_else(|| "the new revision".to_string(), ToString::to_string)
                ),
                other => format!("it end {} ({why})", other.as_str().replace('_', " ")),
            };
            let kept = match &written.kept {
                Some(Ok(where_)) => format!(
                    "the record is kept in {where_} and written as a late record at the next start of shipdeck"
                ),
                Some(Err(e)) => {
                    format!("it could not be kept locally either ({e}): note it by hand")
                }
                None => "it was not kept".to_string(),
            };
            return (
                Outcome::Unrecorded,
                format!(
                    "{what} of {service} in {env}: outcome UNRECORDED: the watch saw {seen}, but the ledger could not record it ({} not written: {error}); {kept}",
                    kinds.join(", ")
                ),
            );
        }
        let text = match outcome {
            Outcome::Succeeded | Outcome::RolledBack
                if written.recorded.contains(&RecordKind::RevisionMarkedStable) =>
            {
                format!("{why} (marked in the ledger)")
            }
            Outcome::Succeeded | Outcome::RolledBack => {
                format!("{why}; not marked stable: its digest is not known")
            }
            _ => why,
        };
        (outcome, text)
    }
}
