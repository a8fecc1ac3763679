//! Following the ledger as it grows: each poll reads only the bytes appended
//! since the last one and verifies only them, against the last hash it saw. A
//! console waiting for approvals over a ledger of 100,000 records reads a few
//! hundred bytes per poll, not the whole file.

use std::io::{Read, Seek, SeekFrom};

use super::chain::parse_line;
use super::{GENESIS, Ledger, LedgerError, Record};

/// Where a reader of the ledger stands.
#[derive(Debug, Clone)]
pub struct Follower {
    ledger: Ledger,
    /// Bytes of complete lines consumed so far.
    offset: u64,
    /// Hash and sequence of the last record read.
    last: (String, u64),
    /// Bytes read from the file over all polls (a counter for tests and logs).
    bytes_read: u64,
}

impl Follower {
    /// A follower at the start of `ledger`: its first poll reads everything.
    pub fn new(ledger: Ledger) -> Self {
        Self {
            ledger,
            offset: 0,
            last: (GENESIS.to_string(), 0),
            bytes_read: 0,
        }
    }

    /// Bytes read from the file so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The records appended since the last poll, each checked against the
    /// chain so far. A torn tail is left for later (it completes or gets
    /// repaired); a file that shrank or was rewritten is an error.
    pub fn poll(&mut self) -> Result<Vec<Record>, LedgerError> {
        if let Some(store) = self.ledger.team_store().cloned() {
            return self.poll_team(&store);
        }
        let path = self.ledger.path().to_path_buf();
        let io = |source| LedgerError::Io {
            path: path.display().to_string(),
            source,
        };
        if !crate::paths::is_regular_or_absent(&path).map_err(io)? {
            return Err(io(crate::paths::not_regular(&path)));
        }
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(e)),
        };
        let len = file.metadata().map_err(io)?.len();
        if len < self.offset {
            return Err(LedgerError::Broken {
                path: path.display().to_string(),
                line: usize::try_from(self.last.1).unwrap_or(usize::MAX),
                problem: format!(
                    "the file shrank from {} to {len} bytes while it was followed (records were removed)",
                    self.offset
                ),
            });
        }
        if len == self.offset {
            return Ok(Vec::new());
        }
        file.seek(SeekFrom::Start(self.offset)).map_err(io)?;
        let mut bytes = Vec::new();
        file.take(len - self.offset)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        self.bytes_read += u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let text = String::from_utf8_lossy(&bytes[..complete]);
        let mut out = Vec::new();
        for line in text.split_terminator('\n') {
            let at = usize::try_from(self.last.1 + 1).unwrap_or(usize::MAX);
            let broken = |problem: String| LedgerError::Broken {
                path: path.display().to_string(),
                line: at,
                problem,
            };
            let (record, hash) = parse_line(line).map_err(broken)?;
            if record.prev_hash != self.last.0 || record.seq != self.last.1 + 1 {
                return Err(broken(
                    "it does not follow the record before it (a record was deleted, inserted or reordered)"
                        .to_string(),
                ));
            }
            self.last = (hash, record.seq);
            out.push(record);
        }
        self.offset += u64::try_from(complete).unwrap_or(u64::MAX);
        Ok(out)
    }
}

impl Follower {
    /// Team mode: one query for the records after the last one seen (an
    /// empty answer when nothing changed), each checked against the chain.
    fn poll_team(&mut self, store: &crate::team::TeamStore) -> Result<Vec<Record>, LedgerError> {
        let path = self.ledger.path().display().to_string();
        let lines = crate::team::lines_after(store, self.last.1).map_err(|e| LedgerError::Io {
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let mut out = Vec::with_capacity(lines.len());
        for (_, line) in lines {
            let at = usize::try_from(self.last.1 + 1).unwrap_or(usize::MAX);
            let broken = |problem: String| LedgerError::Broken {
                path: path.clone(),
                line: at,
                problem,
            };
            self.bytes_read += u64::try_from(line.len()).unwrap_or(u64::MAX);
            let (record, hash) = parse_line(&line).map_err(broken)?;
            if record.prev_hash != self.last.0 || record.seq != self.last.1 + 1 {
                return Err(broken(
                    "it does not follow the record before it (a record was deleted, inserted or reordered)"
                        .to_string(),
                ));
            }
            self.last = (hash, record.seq);
            out.push(record);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Draft, RecordKind};
    use chrono::Utc;

    fn draft() -> Draft {
        Draft {
            operator: "alice".into(),
            ..Draft::default()
        }
    }

    #[test]
    fn reads_only_what_is_new_and_verifies_it() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path().join("l.jsonl"));
        l.append(RecordKind::Approval, draft(), Utc::now()).unwrap();
        let mut f = Follower::new(l.clone());
        assert_eq!(f.poll().unwrap().len(), 1);
        let after_first = f.bytes_read();
        assert!(f.poll().unwrap().is_empty());
        assert_eq!(f.bytes_read(), after_first, "nothing new, nothing read");
        let r = l.append(RecordKind::Approval, draft(), Utc::now()).unwrap();
        let new = f.poll().unwrap();
        assert_eq!(new, vec![r]);
        let size = std::fs::metadata(l.path()).unwrap().len();
        assert_eq!(f.bytes_read(), size, "each byte read once");
    }

    #[test]
    fn a_rewritten_or_truncated_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path().join("l.jsonl"));
        for _ in 0..3 {
            l.append(RecordKind::Approval, draft(), Utc::now()).unwrap();
        }
        let mut f = Follower::new(l.clone());
        f.poll().unwrap();
        let text = std::fs::read_to_string(l.path()).unwrap();
        let keep = text.match_indices('\n').nth(1).map_or(0, |(i, _)| i + 1);
        let first_two = &text[..keep];
        std::fs::write(l.path(), first_two).unwrap();
        assert!(f.poll().unwrap_err().to_string().contains("shrank"));
    }
}
