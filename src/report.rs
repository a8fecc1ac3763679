//! The evidence pack (`shipdeck audit report`): everything the ledger says
//! about one promotion, gathered in order, with the hashes of the records it
//! cites so that a reader can check them against the chain.
//!
//! Pure: records (with their hashes) in, a [`Report`] out; [`markdown`]
//! renders it for a release-notes file, serde renders it as JSON
//! (`"schema": 1`). No clock, no I/O.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod build;
mod markdown;

pub use build::{build, since};
pub use markdown::{escape, human_duration, markdown};

/// The version of the JSON form.
pub const SCHEMA: u32 = 1;

/// One ledger record and the hash its line carries (what `audit verify`
/// recomputes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The record.
    pub record: crate::ledger::Record,
    /// Its line's `hash`.
    pub hash: String,
}

/// Why no report could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// No record names this promotion.
    #[error(
        "no promotion \"{0}\" in the ledger; `shipdeck audit --type promotion_started` lists the promotions"
    )]
    Unknown(String),
}

/// The evidence pack of one promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The promotion id.
    pub promotion: String,
    /// What moved.
    pub moved: Moved,
    /// Who and why.
    pub who: Who,
    /// Every gate check, as last evaluated.
    pub gate: Vec<GateLine>,
    /// Break-glass overrides.
    pub overrides: Vec<Note>,
    /// The rollout, step by step.
    pub rollout: Vec<Note>,
    /// How it ended (or that it has not).
    pub outcome: Outcome,
    /// The records cited, in chain order.
    pub cited: Vec<Cited>,
}

/// What moved: the service, the stages, the artifact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moved {
    /// The service.
    pub service: Option<String>,
    /// The stage it left (when recorded).
    pub from_env: Option<String>,
    /// The stage it went to.
    pub to_env: Option<String>,
    /// The digest the target ran before.
    pub from_digest: Option<String>,
    /// The digest promoted.
    pub to_digest: Option<String>,
    /// The target's revision before.
    pub from_revision: Option<String>,
    /// The revision the deploy made.
    pub to_revision: Option<String>,
    /// The image's commit (its `org.opencontainers.image.revision` label).
    pub commit: Option<String>,
    /// The commit the target ran before, by its label.
    pub from_commit: Option<String>,
    /// Where the image's source lives (its `…image.source` label).
    pub source: Option<String>,
    /// The change the platform made (a GitOps commit), when it names one.
    pub change: Option<String>,
    /// A hotfix (a stage skipped).
    pub hotfix: bool,
    /// The stages a hotfix skipped.
    pub skipped: Vec<String>,
    /// The digest's supply-chain evidence as the gate judged it (the key
    /// its signature verified with, its scan, its commit), when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supply: Option<crate::supply::SupplyRecord>,
}

/// Who asked, why, and who agreed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Who {
    /// Who started the promotion.
    pub initiator: Option<String>,
    /// The change record.
    pub change_record: Option<String>,
    /// The change type (`feature`, `hotfix`…).
    pub change_type: Option<String>,
    /// Each approval, in order.
    pub approvers: Vec<Approver>,
    /// The checklist items ticked (passed) at the last gate.
    pub checklist: Vec<String>,
    /// Reasons given with the request (a hotfix's, a restated request's),
    /// besides the image labels.
    pub reasons: Vec<String>,
}

/// One approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approver {
    /// Who.
    pub name: String,
    /// The roles they matched.
    pub roles: Vec<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// Its record.
    pub seq: u64,
    /// Whether the gate that let the deploy go counted it (`None`: no gate
    /// said GO in the records).
    pub counted: Option<bool>,
}

/// One gate check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateLine {
    /// The check.
    pub check: String,
    /// Its verdict.
    pub verdict: String,
    /// Why.
    pub reason: String,
    /// The gate record it comes from.
    pub seq: u64,
}

/// One thing that happened, as a record says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// Its record.
    pub seq: u64,
    /// The record's kind.
    pub kind: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub operator: String,
    /// The decision or outcome the record states.
    pub outcome: Option<String>,
    /// The record's reasons (the step, the rule, the decision's words).
    pub reasons: Vec<String>,
}

/// How the promotion ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// `succeeded`, `aborted`, `failed`, `unknown`, `changed_outside`…;
    /// `None` while no outcome is recorded.
    pub result: Option<String>,
    /// The rollback's outcome, when one ran.
    pub rollback: Option<String>,
    /// In words, for people.
    pub said: String,
    /// The first record.
    pub start: DateTime<Utc>,
    /// The record that ended it (`None`: in progress).
    pub end: Option<DateTime<Utc>>,
    /// From start to end, in milliseconds.
    pub duration_ms: Option<u64>,
}

/// A record the report cites.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cited {
    /// Its sequence number (the ledger line of that seq).
    pub seq: u64,
    /// Its kind.
    pub kind: String,
    /// When it was written.
    pub at: DateTime<Utc>,
    /// The hash its line carries.
    pub hash: String,
}

/// The line that tells a reader how to check the hashes.
pub const VERIFY_LINE: &str = "`shipdeck audit verify` recomputes every hash in the chain; each hash cited here must equal the `hash` of the ledger line with that seq.";

#[cfg(test)]
mod tests;
