//! The ledger in the team's DynamoDB table: appends under the head item (and
//! a lock's fence), and `audit verify` checking the head against the tail.

use chrono::{DateTime, Utc};

use super::chain::{chain, last_link};
use super::{Break, Draft, GENESIS, Ledger, LedgerError, Record, RecordKind, encode};

/// A lock a record is written under: in team mode the append checks, in the
/// same transaction, that the lock is still exactly this one, so a holder
/// whose lease lapsed and was broken cannot write records for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// Environment.
    pub env: String,
    /// Service.
    pub service: String,
    /// The lock as taken.
    pub holder: crate::lock::LockInfo,
}

/// How one attempt of an append ended, when it ended the retrying.
enum Attempt {
    /// The records are in the table.
    Written(Vec<Record>),
    /// The once key was taken by another record.
    Duplicate(crate::team::OnceHolder),
    /// The head and the records disagree: nothing is written onto that.
    Broken(crate::team::ChainProblem),
}

impl Ledger {
    /// Team mode: read the head, write the records after it and move the head
    /// in one transaction that also checks the record at the head (a cut or
    /// rewritten tail is refused, and named), the lock's fence, and the once
    /// key of the last record; a writer that loses the race re-reads and
    /// retries.
    pub(super) fn append_team(
        &self,
        store: &crate::team::TeamStore,
        items: &[(RecordKind, Draft)],
        at: DateTime<Utc>,
        fence: Option<&Fence>,
        once: Option<&str>,
    ) -> Result<Vec<Record>, LedgerError> {
        let mut written = Vec::with_capacity(items.len());
        let chunks: Vec<&[(RecordKind, Draft)]> = items.chunks(crate::team::BATCH).collect();
        for (c, chunk) in chunks.iter().enumerate() {
            let once = once.filter(|_| c + 1 == chunks.len());
            match self.append_chunk(store, chunk, at, fence, once)? {
                Attempt::Written(records) => written.extend(records),
                Attempt::Duplicate(h) => {
                    return Err(LedgerError::Duplicate {
                        path: self.path.display().to_string(),
                        key: once.unwrap_or_default().to_string(),
                        by: Some(h.operator).filter(|o| !o.is_empty()),
                        record: Some(h.seq),
                    });
                }
                Attempt::Broken(p) => {
                    return Err(LedgerError::Broken {
                        path: self.path.display().to_string(),
                        line: usize::try_from(p.record).unwrap_or(usize::MAX),
                        problem: format!("{}; nothing was written", p.problem),
                    });
                }
            }
        }
        Ok(written)
    }

    fn append_chunk(
        &self,
        store: &crate::team::TeamStore,
        chunk: &[(RecordKind, Draft)],
        at: DateTime<Utc>,
        fence: Option<&Fence>,
        once: Option<&str>,
    ) -> Result<Attempt, LedgerError> {
        // The last attempt sent: its first sequence number, first hash and
        // records. An attempt whose answer was lost (the SDK retried it and
        // the retry met our own write as a conflict) may have landed; then
        // it is not written again.
        let mut sent: Option<(u64, String, Vec<Record>)> = None;
        crate::team::retrying(|| {
            let head = crate::team::head(store)?;
            if let Some((first, hash, records)) = &sent {
                if head.as_ref().is_some_and(|(s, _)| s >= first)
                    && crate::team::hash_at(store, *first)?.as_deref() == Some(hash.as_str())
                {
                    return Ok(Attempt::Written(records.clone()));
                }
                // It did not land. Taken by someone else, or a broken chain,
                // ends the retrying; anything else was a race.
                if let Some(key) = once
                    && let Some(holder) = crate::team::once_holder(store, key)?
                {
                    return Ok(Attempt::Duplicate(holder));
                }
                if let Some(problem) = crate::team::diagnose(store, head.clone())? {
                    return Ok(Attempt::Broken(problem));
                }
            }
            let (mut seq, mut prev_hash) =
                head.clone().unwrap_or_else(|| (0, GENESIS.to_string()));
            let mut lines = Vec::with_capacity(chunk.len());
            let mut records = Vec::with_capacity(chunk.len());
            for (i, (kind, draft)) in chunk.iter().cloned().enumerate() {
                seq += 1;
                let key = once.filter(|_| i + 1 == chunk.len());
                let (record, hash, line) = encode(kind, draft, at, &prev_hash, seq, key)
                    .map_err(|e| store.err(e.to_string()))?;
                lines.push((seq, hash.clone(), line.trim_end_matches('\n').to_string()));
                prev_hash = hash;
                records.push(record);
            }
            if let Some((seq, hash, _)) = lines.first() {
                sent = Some((*seq, hash.clone(), records.clone()));
            }
            let claim = once.zip(records.last()).map(|(k, r)| (k.to_string(), r.draft.operator.clone()));
            match crate::team::append(store, head, lines, fence, claim) {
                // Lost a race, or the fence failed: which one?
                Err(e) if e.conflict => {
                    if let Some(f) = fence
                        && crate::team::locks::holder(store, &f.env, &f.service)?
                            .map(|h| (h.owner, h.since))
                            != Some((f.holder.owner.clone(), f.holder.since))
                    {
                        return Err(store.err(format!(
                            "the lock of {} in {} is no longer this process's (its lease lapsed and it was broken or taken): the record was not written",
                            f.service, f.env
                        )));
                    }
                    Err(e)
                }
                other => other,
            }?;
            Ok(Attempt::Written(records))
        })
        .map_err(|e| self.team_err(&e))
    }

    /// `audit verify` in team mode: the chain, then the head item, which must
    /// name the last record (a deleted or rewritten tail is found here).
    pub fn verify_team(&self) -> Result<Result<u64, Break>, LedgerError> {
        let Some(store) = &self.team else {
            return Err(self.io(std::io::Error::other("not a team ledger")));
        };
        let text = self.text()?.unwrap_or_default();
        let links = match chain(&text) {
            Ok(l) => l,
            Err(b) => return Ok(Err(b)),
        };
        let head = crate::team::head(store).map_err(|e| self.team_err(&e))?;
        let (last_hash, last_seq) = last_link(&links);
        let n = usize::try_from(last_seq).unwrap_or(usize::MAX);
        Ok(match head {
            None if last_seq == 0 => Ok(0),
            None => Err(Break {
                line: n,
                problem: "the head item is missing (deleted), so a cut tail cannot be ruled out"
                    .to_string(),
            }),
            Some((seq, _)) if seq > last_seq => Err(Break {
                line: n + 1,
                problem: format!(
                    "the head says {seq} records but the table holds {last_seq}: the last {} record(s) were deleted",
                    seq - last_seq
                ),
            }),
            Some((seq, hash)) if seq != last_seq || hash != last_hash => Err(Break {
                line: n,
                problem: format!(
                    "the head item (record {seq}) does not match the last record ({last_seq}): the head or the tail was rewritten"
                ),
            }),
            Some(_) => Ok(last_seq),
        })
    }
}
