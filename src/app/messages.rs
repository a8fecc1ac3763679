//! What the loop exchanges with the world: messages in (facts and intents),
//! commands out (effects for the runtime to run).

use chrono::{DateTime, Utc};

use super::keys::Key;
use crate::config::EnvId;
use crate::health::{ProbeResult, SmokeResult};
use crate::ledger::{Draft, Record, RecordKind};
use crate::model::{EnvSnapshot, History, Revision};
use crate::provider::{DeployStarted, ProviderError};
use crate::release::exec::Issue;

/// Messages: facts that happened, or user intents.
#[derive(Debug, Clone)]
pub enum Msg {
    /// The slow clock ticked; carries the current time.
    Tick(DateTime<Utc>),
    /// The user pressed a key.
    Key(Key),
    /// The terminal was resized.
    Resized,
    /// A reading of environment `env` finished.
    EnvPolled {
        /// Environment.
        env: EnvId,
        /// Request id that produced it.
        request: u64,
        /// When the answer arrived.
        at: DateTime<Utc>,
        /// The reading or its error.
        result: Result<EnvSnapshot, ProviderError>,
    },
    /// A health probe of a service finished.
    HealthProbed {
        /// Environment.
        env: EnvId,
        /// Service name.
        service: String,
        /// Outcome.
        result: ProbeResult,
    },
    /// A smoke run of an environment finished.
    SmokeFinished {
        /// Environment.
        env: EnvId,
        /// When it finished.
        at: DateTime<Utc>,
        /// Verdicts.
        results: Vec<SmokeResult>,
    },
    /// A deploy or rollback was accepted, or refused (message, and whether the
    /// refusal is already closed in the ledger).
    Issued {
        /// Operation id.
        op: u64,
        /// What the provider started.
        result: Result<Box<DeployStarted>, (String, bool)>,
    },
    /// A record was appended (or could not be).
    Recorded(Result<Box<Record>, String>),
    /// The records that close a watched operation were appended, or some
    /// could not be (and were kept to be written late).
    Closed {
        /// Operation id.
        op: u64,
        /// What was written and what was not.
        written: crate::release::Written,
        /// The records written.
        records: Vec<Record>,
    },
    /// A decision at a paused step was taken (what happened), or not (why).
    StepDecided(Result<String, String>),
    /// A digest's supply-chain evidence was gathered (`recheck`: its
    /// signatures read afresh, for a gate).
    SupplyRead {
        /// The digest.
        digest: crate::model::Digest,
        /// Whether signatures and attestations were read afresh.
        recheck: bool,
        /// What was gathered.
        evidence: Box<crate::supply::gather::Evidence>,
    },
    /// A service's revision history was read (for `current`), or could not be.
    HistoryRead {
        /// Environment.
        env: EnvId,
        /// Service name.
        service: String,
        /// The revision the service ran when asked.
        current: Revision,
        /// The revisions, oldest first, or the error.
        result: Result<History, ProviderError>,
    },
    /// A page of the logs pane's service's logs was read, or could not be.
    LogsRead {
        /// Request id (`Command::ReadLogs`).
        request: u64,
        /// When the answer arrived.
        at: DateTime<Utc>,
        /// The page, or why it could not be read.
        result: Result<crate::model::logs::LogPage, ProviderError>,
    },
    /// The ledger was read, with who holds the lock asked about.
    LedgerRead {
        /// The records appended since the last read, or why they could not be read.
        records: Result<Vec<Record>, String>,
        /// Lock holder of the asked-about service, if someone else.
        lock: Option<String>,
    },
}

/// Side effects for the runtime to execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Read environment `env`; answer with `Msg::EnvPolled` carrying `request`.
    PollEnv {
        /// Environment.
        env: EnvId,
        /// Request id.
        request: u64,
    },
    /// Read the revision history of a service; answer `Msg::HistoryRead`.
    ReadHistory {
        /// Environment.
        env: EnvId,
        /// Service name.
        service: String,
        /// The revision it runs.
        current: Revision,
    },
    /// Read a page of a service's logs; answer `Msg::LogsRead` with `request`.
    ReadLogs {
        /// Request id.
        request: u64,
        /// Environment.
        env: EnvId,
        /// Service name.
        service: String,
        /// Revision, log configuration and where to start.
        query: Box<crate::provider::LogQuery>,
    },
    /// Gather a digest's supply-chain evidence; answer `Msg::SupplyRead`.
    ReadSupply {
        /// The image, pinned by digest.
        image: Box<crate::model::ImageRef>,
        /// Read signatures and attestations afresh (a gate), not from the cache.
        recheck: bool,
    },
    /// Run the smoke checks of environment `env`.
    RunSmoke {
        /// Environment.
        env: EnvId,
    },
    /// Take the lock, write the record, then deploy or roll back; answer `Msg::Issued`.
    Issue {
        /// Operation id.
        op: u64,
        /// Environment.
        env: EnvId,
        /// Service.
        service: String,
        /// Deploy or rollback.
        issue: Issue,
        /// The record (`DeployIssued`/`RollbackIssued`).
        draft: Draft,
    },
    /// Record a decision at a paused step, then tell the provider; answer
    /// `Msg::StepDecided`.
    DecideStep {
        /// Environment.
        env: EnvId,
        /// Service.
        service: String,
        /// The shift as the watch saw it.
        shift: Box<crate::model::Shift>,
        /// Continue or roll back.
        decision: crate::model::Decision,
        /// The digest the deployment rolls out.
        to_digest: Option<String>,
        /// The step's hold as the watch saw it.
        hold: Option<crate::release::evidence::Hold>,
        /// The person confirmed continuing before the hold is over.
        cut_hold: bool,
    },
    /// Append a record; answer `Msg::Recorded`.
    Record {
        /// Kind.
        kind: RecordKind,
        /// Fields.
        draft: Draft,
    },
    /// Append the records that close a watched operation (kept to be
    /// written late when the ledger refuses them); answer `Msg::Closed`.
    RecordClosing {
        /// Operation id.
        op: u64,
        /// The records, in order.
        items: Vec<(RecordKind, Draft)>,
    },
    /// Release the lock of a service in an environment.
    Release {
        /// Environment.
        env: EnvId,
        /// Service.
        service: String,
    },
    /// Read the ledger and the lock of a service; answer `Msg::LedgerRead`.
    ReadLedger {
        /// Environment.
        env: EnvId,
        /// Service.
        service: String,
    },
    /// Leave the console.
    Quit,
}
