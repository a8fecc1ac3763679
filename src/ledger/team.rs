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

impl Ledger {
    /// Team mode: read the head, write the records after it and move the head
    /// in one transaction; a writer that loses the race re-reads and retries.
    pub(super) fn append_team(
        &self,
        store: &crate::team::TeamStore,
        items: &[(RecordKind, Draft)],
        at: DateTime<Utc>,
        fence: Option<&Fence>,
    ) -> Result<Vec<Record>, LedgerError> {
        let mut written = Vec::with_capacity(items.len());
        for chunk in items.chunks(crate::team::BATCH) {
            // The last attempt sent: its first sequence number, first hash and
            // records. An attempt whose answer was lost (the SDK retried it and
            // the retry met our own write as a conflict) may have landed; then
            // it is not written again.
            let mut sent: Option<(u64, String, Vec<Record>)> = None;
            let records = crate::team::retrying(|| {
                let head = crate::team::head(store)?;
                if let Some((first, hash, records)) = &sent
                    && head.as_ref().is_some_and(|(s, _)| s >= first)
                    && crate::team::hash_at(store, *first)?.as_deref() == Some(hash.as_str())
                {
                    return Ok(records.clone());
                }
                let (mut seq, mut prev_hash) =
                    head.clone().unwrap_or_else(|| (0, GENESIS.to_string()));
                let mut lines = Vec::with_capacity(chunk.len());
                let mut records = Vec::with_capacity(chunk.len());
                for (kind, draft) in chunk.iter().cloned() {
                    seq += 1;
                    let (record, hash, line) = encode(kind, draft, at, &prev_hash, seq)
                        .map_err(|e| store.err(e.to_string()))?;
                    lines.push((seq, hash.clone(), line.trim_end_matches('\n').to_string()));
                    prev_hash = hash;
                    records.push(record);
                }
                if let Some((seq, hash, _)) = lines.first() {
                    sent = Some((*seq, hash.clone(), records.clone()));
                }
                match crate::team::append(store, head.map(|(s, _)| s), lines, fence) {
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
                Ok(records)
            })
            .map_err(|e| self.team_err(&e))?;
            written.extend(records);
        }
        Ok(written)
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
