//! Records that could not be appended when what they record was observed
//! (the ledger unreachable, the table gone, a full disk): kept in a local
//! spool beside the ledger, then written at the next start as *late* records
//! that name when it was observed. Nothing is claimed from a spooled record:
//! the outcome that needed it is *unrecorded* until it lands.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ledger::{Draft, Ledger, RecordKind};

/// Longest spool read: it holds a handful of records, never megabytes.
const SPOOL_LIMIT: u64 = 4 * 1024 * 1024;

/// One record waiting to be written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// Kind.
    pub kind: RecordKind,
    /// Its fields, as they would have been written.
    pub draft: Draft,
    /// When what it records was observed.
    pub observed_at: DateTime<Utc>,
}

/// Spool failures.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// No place for the spool (no data directory).
    #[error("no directory for the spool of unrecorded records")]
    NoPlace,
    /// Reading or writing the spool.
    #[error("spool {path}: {source}")]
    Io {
        /// The spool file.
        path: String,
        /// Error.
        source: std::io::Error,
    },
    /// Writing a spooled record to the ledger.
    #[error("{0}")]
    Ledger(#[from] crate::ledger::LedgerError),
}

/// The spool of `ledger`: beside the file, or in the data directory for the
/// team table (one per table).
pub fn spool_path(ledger: &Ledger) -> Option<PathBuf> {
    match ledger.team_store() {
        Some(store) => {
            crate::paths::data_dir().map(|d| d.join(format!("unrecorded-{}.jsonl", store.table())))
        }
        None => Some(ledger.path().with_extension("unrecorded.jsonl")),
    }
}

fn io(path: &std::path::Path) -> impl Fn(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Holds the spool's lock while `f` runs: two processes never flush (or
/// keep and flush) the same spool at once.
fn locked<T>(
    path: &std::path::Path,
    f: impl FnOnce() -> Result<T, SpoolError>,
) -> Result<T, SpoolError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(path))?;
    }
    let lock_path = path.with_extension("lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(&lock_path))?;
    lock.lock().map_err(io(&lock_path))?;
    let result = f();
    let _ = lock.unlock();
    result
}

/// Keeps `items` to be written later; returns the spool's path.
pub fn keep(ledger: &Ledger, items: &[Pending]) -> Result<PathBuf, SpoolError> {
    let path = spool_path(ledger).ok_or(SpoolError::NoPlace)?;
    locked(&path, || {
        if !crate::paths::is_regular_or_absent(&path).map_err(io(&path))? {
            return Err(io(&path)(crate::paths::not_regular(&path)));
        }
        let mut lines = String::new();
        for p in items {
            let line = serde_json::to_string(p).map_err(|e| io(&path)(std::io::Error::other(e)))?;
            lines.push_str(&line);
            lines.push('\n');
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        file.write_all(lines.as_bytes()).map_err(io(&path))?;
        file.sync_data().map_err(io(&path))?;
        Ok(())
    })?;
    Ok(path)
}

/// What a flush did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flushed {
    /// Late records written, as `kind (observed at …)`.
    pub written: Vec<String>,
    /// Lines of the spool that could not be read (left in a side file).
    pub unreadable: usize,
}

/// Writes every spooled record to the ledger as a late record (its
/// `observed_at` set), in order, and empties the spool. A record the ledger
/// still refuses stays spooled, with every one after it.
pub fn flush(ledger: &Ledger, now: DateTime<Utc>) -> Result<Flushed, SpoolError> {
    let Some(path) = spool_path(ledger) else {
        return Ok(Flushed::default());
    };
    if !path.exists() {
        return Ok(Flushed::default());
    }
    locked(&path, || {
        let bytes = match crate::paths::read_regular(&path, SPOOL_LIMIT) {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(Flushed::default()),
            Err(e) => return Err(io(&path)(e)),
        };
        let text = String::from_utf8_lossy(&bytes);
        let mut out = Flushed::default();
        let mut bad = String::new();
        let mut items = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Ok(p) = serde_json::from_str::<Pending>(line) {
                items.push(p);
            } else {
                out.unreadable += 1;
                bad.push_str(line);
                bad.push('\n');
            }
        }
        if !bad.is_empty() {
            let aside = path.with_extension(format!("unreadable-{}", now.timestamp_millis()));
            std::fs::write(&aside, bad).map_err(io(&aside))?;
        }
        let mut left = items.len();
        let mut result = Ok(());
        for (i, p) in items.iter().enumerate() {
            let mut draft = p.draft.clone();
            draft.observed_at = Some(p.observed_at);
            if let Err(e) = ledger.append(p.kind, draft, now) {
                result = Err(e);
                break;
            }
            left = items.len() - i - 1;
            out.written.push(format!(
                "{} (observed at {})",
                p.kind.as_str(),
                p.observed_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        // What is still to write goes back; an empty spool is removed.
        let rest = &items[items.len() - left..];
        if rest.is_empty() {
            std::fs::remove_file(&path).map_err(io(&path))?;
        } else {
            let mut lines = String::new();
            for p in rest {
                let line =
                    serde_json::to_string(p).map_err(|e| io(&path)(std::io::Error::other(e)))?;
                lines.push_str(&line);
                lines.push('\n');
            }
            std::fs::write(&path, lines).map_err(io(&path))?;
        }
        result?;
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn pending(kind: RecordKind, secs: i64) -> Pending {
        Pending {
            kind,
            draft: Draft {
                operator: "alice".into(),
                env: Some("prod".into()),
                service: Some("api".into()),
                to_revision: Some("shop-api:3".into()),
                to_digest: Some(format!("sha256:{}", "a".repeat(64))),
                ..Draft::default()
            },
            observed_at: Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap(),
        }
    }

    #[test]
    fn kept_records_are_written_late_at_the_next_flush_and_only_once() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::new(dir.path().join("ledger.jsonl"));
        let kept = keep(
            &ledger,
            &[
                pending(RecordKind::DeploySucceeded, 0),
                pending(RecordKind::RevisionMarkedStable, 0),
            ],
        )
        .unwrap();
        assert!(kept.exists());
        let now = Utc.timestamp_opt(1_800_000_600, 0).unwrap();
        let done = flush(&ledger, now).unwrap();
        assert_eq!(done.written.len(), 2, "{done:?}");
        let records = ledger.read().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].kind, RecordKind::RevisionMarkedStable);
        assert_eq!(
            records[0].draft.observed_at,
            Some(Utc.timestamp_opt(1_800_000_000, 0).unwrap())
        );
        assert_eq!(records[0].at, now);
        assert!(!kept.exists(), "the spool is emptied");
        assert_eq!(flush(&ledger, now).unwrap(), Flushed::default());
        assert_eq!(ledger.read().unwrap().len(), 2, "nothing written twice");
    }

    #[test]
    fn a_ledger_that_still_refuses_keeps_the_records() {
        let dir = tempfile::tempdir().unwrap();
        // The ledger's path is a directory: every append fails.
        let ledger_path = dir.path().join("ledger.jsonl");
        std::fs::create_dir(&ledger_path).unwrap();
        let ledger = Ledger::new(&ledger_path);
        let kept = keep(&ledger, &[pending(RecordKind::DeploySucceeded, 0)]).unwrap();
        assert!(flush(&ledger, Utc::now()).is_err());
        let text = std::fs::read_to_string(&kept).unwrap();
        assert_eq!(text.lines().count(), 1, "still spooled: {text}");
    }

    #[test]
    fn old_records_without_observed_at_read_and_hash_unchanged() {
        // A record written before `observed_at` existed has no such key, and
        // a new record without it serialises exactly as before.
        let d = Draft {
            operator: "alice".into(),
            ..Draft::default()
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            "{\"operator\":\"alice\"}"
        );
    }
}
