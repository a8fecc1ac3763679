//! The audit ledger: append-only JSON lines, hash-chained, fsync'd before the
//! recorded action proceeds.
//!
//! Each line is `{"hash":"<sha256 of body>","record":<body>}` where the body
//! carries `prev_hash`. The hash covers the exact bytes of the body as written,
//! so any edit, deletion, reordering or truncation is found by [`verify`].

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod chain;
mod follow;
mod team;

pub use chain::verify_text;
use chain::{chain, last_link, sha_hex, split_torn};
pub use follow::Follower;
pub use team::Fence;

/// `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
pub(crate) const PREFIX: &str = "{\"hash\":\"";
pub(crate) const MIDDLE: &str = "\",\"record\":";

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A promotion was started.
    PromotionStarted,
    /// A gate was evaluated.
    GateEvaluated,
    /// Someone approved a promotion.
    Approval,
    /// A failed automatic check was overridden.
    Override,
    /// A deploy was issued.
    DeployIssued,
    /// A deploy succeeded.
    DeploySucceeded,
    /// A deploy failed.
    DeployFailed,
    /// A deploy was aborted.
    Aborted,
    /// A rollback was issued.
    RollbackIssued,
    /// A rollback succeeded.
    RollbackSucceeded,
    /// A rollback failed.
    RollbackFailed,
    /// A deploy's watch ended without being able to see enough to call it a
    /// success or a failure (a source stayed unreadable): outcome unknown.
    DeployUnverified,
    /// The same for a rollback.
    RollbackUnverified,
    /// A revision was marked stable.
    RevisionMarkedStable,
    /// A stale lock was broken.
    LockBroken,
    /// A torn final line was moved aside before appending.
    LedgerRepaired,
    /// A provider-run rollout reached a new step (a proxy cutover's runbook).
    Step,
    /// A person decided at a paused step: continue (or approve continuing), roll back.
    StepDecision,
    /// The watch of an issued deploy or rollback stopped (a signal) while the
    /// action went on: it stays open, and the next start offers to resume it.
    WatchInterrupted,
    /// A notification could not be delivered after its retries (its event and
    /// sink named, never a secret).
    NotificationFailed,
}

impl RecordKind {
    /// The snake_case name used in the ledger and by `audit --type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PromotionStarted => "promotion_started",
            Self::GateEvaluated => "gate_evaluated",
            Self::Approval => "approval",
            Self::Override => "override",
            Self::DeployIssued => "deploy_issued",
            Self::DeploySucceeded => "deploy_succeeded",
            Self::DeployFailed => "deploy_failed",
            Self::Aborted => "aborted",
            Self::RollbackIssued => "rollback_issued",
            Self::RollbackSucceeded => "rollback_succeeded",
            Self::RollbackFailed => "rollback_failed",
            Self::DeployUnverified => "deploy_unverified",
            Self::RollbackUnverified => "rollback_unverified",
            Self::RevisionMarkedStable => "revision_marked_stable",
            Self::LockBroken => "lock_broken",
            Self::LedgerRepaired => "ledger_repaired",
            Self::Step => "step",
            Self::StepDecision => "step_decision",
            Self::WatchInterrupted => "watch_interrupted",
            Self::NotificationFailed => "notification_failed",
        }
    }
}

/// One gate check as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateEntry {
    /// Check name.
    pub check: String,
    /// pass, fail, pending, unknown, overridden.
    pub verdict: String,
    /// Human reason.
    pub reason: String,
}

/// The fields a caller fills in; the ledger adds sequence, id, time and chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    /// Who acted.
    pub operator: String,
    /// Environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Promotion id this belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion: Option<String>,
    /// Digest before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_digest: Option<String>,
    /// Digest after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_digest: Option<String>,
    /// Revision before (`family:rev`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_revision: Option<String>,
    /// Revision after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_revision: Option<String>,
    /// Gate results.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gate: Vec<GateEntry>,
    /// Approvers so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// Change-record id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_record: Option<String>,
    /// Hash of the target's gate policy when the record was made (voids stale approvals).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Reasons (override, hotfix, abort…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Duration in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Hotfix path (a stage skipped).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hotfix: bool,
    /// The change the platform made and names (the commit a GitOps
    /// promotion or revert pushed), once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// A late record: what it records was observed then, but the ledger could
    /// not be written until the record's own time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<DateTime<Utc>>,
    /// The promotion's change type (`feature`, `hotfix`…), where one was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_type: Option<String>,
    /// The roles the approver (the operator) matched when approving.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// The stages a hotfix skipped, in chain order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// The stage a promotion takes its digest from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_env: Option<String>,
    /// The promoted digest's supply-chain evidence as the gate judged it:
    /// the key its signature verified with, its scan, its commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supply: Option<crate::supply::SupplyRecord>,
}

/// A written record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// 1-based position in the chain.
    pub seq: u64,
    /// Unique id (`r<seq>-<8 hex>`).
    pub id: String,
    /// Kind.
    pub kind: RecordKind,
    /// When it was written.
    pub at: DateTime<Utc>,
    /// Caller-supplied fields.
    #[serde(flatten)]
    pub draft: Draft,
    /// Hash of the previous record's body.
    pub prev_hash: String,
    /// The key this record took once (an approval by one person, a decision
    /// at one step): no other record may take it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub once: Option<String>,
}

/// Ledger failures.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// I/O on the ledger file.
    #[error("audit ledger {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Error.
        source: std::io::Error,
    },
    /// The chain is broken; appending would hide it.
    #[error("audit ledger {path} is broken at line {line}: {problem}; run `shipdeck audit verify`")]
    Broken {
        /// File.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// A record that is written once was written already (by another
    /// process, or another person racing this one): this one was not.
    #[error(
        "audit ledger {path}: \"{key}\" was recorded already by {} (record {}); it is written once, and this one was not",
        by.as_deref().unwrap_or("someone"),
        record.map_or_else(|| "?".to_string(), |n| n.to_string())
    )]
    Duplicate {
        /// File or table.
        path: String,
        /// The once key.
        key: String,
        /// Who wrote the record that took it, when known.
        by: Option<String>,
        /// Its sequence number, when known.
        record: Option<u64>,
    },
}

/// The first problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub problem: String,
}

/// What a tolerant read found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    /// Every complete record.
    pub records: Vec<Record>,
    /// Bytes of a torn final line, if there is one.
    pub torn: Option<usize>,
}

impl Contents {
    /// A warning for readers when the tail is torn.
    pub fn torn_warning(&self) -> Option<String> {
        self.torn.map(|n| {
            format!(
                "the final line is torn ({n} bytes, a write cut off by a crash); it is not listed, and the next write moves it to a side file and records the repair"
            )
        })
    }
}

/// The ledger: a file (one person, the default), or the team's DynamoDB table.
#[derive(Debug, Clone)]
pub struct Ledger {
    /// The file, or `dynamodb://TABLE` (for messages) in team mode.
    path: PathBuf,
    team: Option<crate::team::TeamStore>,
}

impl Ledger {
    /// A ledger at `path` (created on first append).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            team: None,
        }
    }

    /// The team's ledger in DynamoDB.
    pub fn team(store: crate::team::TeamStore) -> Self {
        Self {
            path: PathBuf::from(format!("dynamodb://{}", store.table())),
            team: Some(store),
        }
    }

    /// The team store, in team mode.
    pub fn team_store(&self) -> Option<&crate::team::TeamStore> {
        self.team.as_ref()
    }

    fn team_err(&self, e: &crate::team::TeamError) -> LedgerError {
        self.io(std::io::Error::other(e.to_string()))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> LedgerError {
        LedgerError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// `audit verify`, whichever backend holds the ledger: the hash chain, and
    /// in team mode also the head item against the tail (the callers do not
    /// need to know which backend is active).
    pub fn verify(&self) -> Result<Result<u64, Break>, LedgerError> {
        if self.team.is_some() {
            return self.verify_team();
        }
        self.text().map(|t| verify_text(&t.unwrap_or_default()))
    }

    /// Every complete record, in order (fails on the first break). A torn
    /// final line (a crash mid-write, never acknowledged) is left out; the next
    /// append moves it aside and records that.
    pub fn read(&self) -> Result<Vec<Record>, LedgerError> {
        self.read_all().map(|c| c.records)
    }

    /// Every complete record, and the size of a torn final line if there is one.
    pub fn read_all(&self) -> Result<Contents, LedgerError> {
        let Some(text) = self.text()? else {
            return Ok(Contents::default());
        };
        let (keep, torn) = split_torn(&text);
        let records = chain(keep)
            .map(|links| links.into_iter().map(|(r, _)| r).collect())
            .map_err(|b| self.broken(b))?;
        Ok(Contents { records, torn })
    }

    /// The whole file as text (`None` when it does not exist yet). Anything but a
    /// regular file is refused before it is opened: `/dev/full` would never end.
    pub fn text(&self) -> Result<Option<String>, LedgerError> {
        if let Some(store) = &self.team {
            let lines = crate::team::lines_after(store, 0).map_err(|e| self.team_err(&e))?;
            if lines.is_empty() {
                return Ok(None);
            }
            let mut text = String::new();
            for (_, line) in lines {
                text.push_str(&line);
                text.push('\n');
            }
            return Ok(Some(text));
        }
        if !crate::paths::is_regular_or_absent(&self.path).map_err(|e| self.io(e))? {
            return Err(self.io(crate::paths::not_regular(&self.path)));
        }
        match std::fs::read(&self.path) {
            Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    fn duplicate(&self, key: &str, by: Option<String>, record: Option<u64>) -> LedgerError {
        LedgerError::Duplicate {
            path: self.path.display().to_string(),
            key: key.to_string(),
            by,
            record,
        }
    }

    fn broken(&self, b: Break) -> LedgerError {
        LedgerError::Broken {
            path: self.path.display().to_string(),
            line: b.line,
            problem: b.problem,
        }
    }

    /// Appends one record with a single write and fsync, under an exclusive lock
    /// so that concurrent writers (other processes, other machines on a shared
    /// filesystem with working locks) keep one chain. Returns once it is durable.
    pub fn append(
        &self,
        kind: RecordKind,
        draft: Draft,
        at: DateTime<Utc>,
    ) -> Result<Record, LedgerError> {
        self.append_fenced(kind, draft, at, None)
    }

    /// [`append`](Self::append) under a lock: in team mode nothing is written
    /// unless the lock is still `fence` (the file backend's locks cannot be
    /// lost without the holder's process dying).
    pub fn append_fenced(
        &self,
        kind: RecordKind,
        draft: Draft,
        at: DateTime<Utc>,
        fence: Option<&Fence>,
    ) -> Result<Record, LedgerError> {
        self.append_one(kind, draft, at, fence, None)
    }

    /// Appends a record that takes `key` once: an approval by one person, a
    /// decision at one step. The store itself refuses a second record with
    /// the same key ([`LedgerError::Duplicate`]): the file under its lock,
    /// the team table in the same transaction as the record. Two people
    /// racing get one record, never two.
    pub fn append_once(
        &self,
        kind: RecordKind,
        draft: Draft,
        at: DateTime<Utc>,
        key: &str,
        fence: Option<&Fence>,
    ) -> Result<Record, LedgerError> {
        self.append_one(kind, draft, at, fence, Some(key))
    }

    fn append_one(
        &self,
        kind: RecordKind,
        draft: Draft,
        at: DateTime<Utc>,
        fence: Option<&Fence>,
        once: Option<&str>,
    ) -> Result<Record, LedgerError> {
        let mut written = match &self.team {
            Some(store) => self.append_team(store, &[(kind, draft)], at, fence, once)?,
            None => self.append_file(vec![(kind, draft)], at, once)?,
        };
        // Notifications (issue 32): the process that appended sends.
        crate::notify::appended(self, &written);
        written
            .pop()
            .ok_or_else(|| self.io(std::io::Error::other("nothing was written")))
    }

    /// Appends several records in order with one write and one fsync (a
    /// migration, a bulk import): all of them are durable when it returns.
    pub fn append_batch(
        &self,
        items: Vec<(RecordKind, Draft)>,
        at: DateTime<Utc>,
    ) -> Result<Vec<Record>, LedgerError> {
        let written = match &self.team {
            Some(store) => self.append_team(store, &items, at, None, None)?,
            None => self.append_file(items, at, None)?,
        };
        // Notifications (issue 32): the process that appended sends.
        crate::notify::appended(self, &written);
        Ok(written)
    }

    fn append_file(
        &self,
        items: Vec<(RecordKind, Draft)>,
        at: DateTime<Utc>,
        once: Option<&str>,
    ) -> Result<Vec<Record>, LedgerError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        if !crate::paths::is_regular_or_absent(&self.path).map_err(|e| self.io(e))? {
            return Err(self.io(crate::paths::not_regular(&self.path)));
        }
        let lock_path = self.path.with_extension("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| self.io(e))?;
        lock.lock().map_err(|e| self.io(e))?;
        let result = self.append_locked(items, at, once);
        let _ = lock.unlock();
        result
    }

    fn append_locked(
        &self,
        items: Vec<(RecordKind, Draft)>,
        at: DateTime<Utc>,
        once: Option<&str>,
    ) -> Result<Vec<Record>, LedgerError> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| self.io(e))?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(|e| self.io(e))?;
        let (keep, torn) = split_torn(&text);
        let chained = chain(keep).map_err(|b| self.broken(b))?;
        // Decided under the lock, before anything is written.
        if let Some(key) = once
            && let Some((r, _)) = chained.iter().find(|(r, _)| r.once.as_deref() == Some(key))
        {
            return Err(self.duplicate(key, Some(r.draft.operator.clone()), Some(r.seq)));
        }
        let (mut prev_hash, mut seq) = last_link(&chained);
        drop(chained);
        let mut items = items;
        if let Some(n) = torn {
            // A torn tail was never acknowledged: move it aside, say so in the chain.
            let aside = self
                .path
                .with_extension(format!("torn-{}", at.timestamp_millis()));
            std::fs::write(&aside, &text[keep.len()..]).map_err(|e| self.io(e))?;
            file.set_len(u64::try_from(keep.len()).unwrap_or(0))
                .map_err(|e| self.io(e))?;
            file.seek(SeekFrom::End(0)).map_err(|e| self.io(e))?;
            let repair = Draft {
                operator: "shipdeck".to_string(),
                reasons: vec![format!(
                    "torn final line ({n} bytes) moved to {}",
                    aside.display()
                )],
                ..Draft::default()
            };
            items.insert(0, (RecordKind::LedgerRepaired, repair));
        }
        let mut lines = String::new();
        let mut written = Vec::with_capacity(items.len());
        let n = items.len();
        for (i, (kind, draft)) in items.into_iter().enumerate() {
            seq += 1;
            // The key goes with the record it was asked for: the last.
            let key = once.filter(|_| i + 1 == n);
            let (record, hash, line) = encode(kind, draft, at, &prev_hash, seq, key)
                .map_err(|e| self.io(std::io::Error::other(e)))?;
            lines.push_str(&line);
            prev_hash = hash;
            written.push(record);
        }
        // One write of every line, then fsync: acknowledged means durable.
        file.write_all(lines.as_bytes()).map_err(|e| self.io(e))?;
        file.sync_data().map_err(|e| self.io(e))?;
        if torn.is_some() {
            written.remove(0);
        }
        Ok(written)
    }
}

/// A record as one line of the ledger, with its hash; `once`, the key it
/// takes, when it is written once.
fn encode(
    kind: RecordKind,
    draft: Draft,
    at: DateTime<Utc>,
    prev_hash: &str,
    seq: u64,
    once: Option<&str>,
) -> Result<(Record, String, String), serde_json::Error> {
    let salt =
        &sha_hex(format!("{seq}{prev_hash}{}", at.timestamp_nanos_opt().unwrap_or(0)).as_bytes())
            [..8];
    // Typed text is one line in the ledger, whoever wrote it: a reason can
    // never look like another record.
    let mut draft = draft;
    for r in &mut draft.reasons {
        *r = crate::model::text::fold_line(r);
    }
    if let Some(c) = draft.change_record.as_mut() {
        *c = crate::model::text::fold_line(c);
    }
    let record = Record {
        seq,
        id: format!("r{seq}-{salt}"),
        kind,
        at,
        draft,
        prev_hash: prev_hash.to_string(),
        once: once.map(str::to_string),
    };
    let body = serde_json::to_string(&record)?;
    let hash = sha_hex(body.as_bytes());
    let line = format!("{PREFIX}{hash}{MIDDLE}{body}}}\n");
    Ok((record, hash, line))
}

#[cfg(test)]
mod tests;
