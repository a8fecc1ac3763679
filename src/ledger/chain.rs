//! The hash chain: parsing and checking lines, one at a time or all of them.

use sha2::Digest as _;

use super::{Break, GENESIS, MIDDLE, PREFIX, Record};

pub(super) fn sha_hex(bytes: &[u8]) -> String {
    crate::model::digest::hex_lower(&sha2::Sha256::digest(bytes))
}

/// Parses one line (without newline): checks its own hash; returns the record and hash.
pub(super) fn parse_line(line: &str) -> Result<(Record, String), String> {
    let rest = line.strip_prefix(PREFIX).ok_or("not a ledger record")?;
    let hash = rest.get(..64).ok_or("the hash is cut short")?;
    let body = rest
        .get(64..)
        .and_then(|r| r.strip_prefix(MIDDLE))
        .and_then(|r| r.strip_suffix('}'))
        .ok_or("the record is cut short or malformed")?;
    if sha_hex(body.as_bytes()) != hash {
        return Err("its content does not match its hash (edited)".to_string());
    }
    let record: Record =
        serde_json::from_str(body).map_err(|e| format!("unreadable record: {e}"))?;
    Ok((record, hash.to_string()))
}

/// Checks the whole chain. `Ok(n)` with the number of records, or the first break.
pub fn verify_text(text: &str) -> Result<u64, Break> {
    chain(text).map(|links| links.last().map_or(0, |(r, _)| r.seq))
}

/// Parses and checks every line once: each record with its hash, or the first break.
pub(super) fn chain(text: &str) -> Result<Vec<(Record, String)>, Break> {
    let mut links: Vec<(Record, String)> = Vec::new();
    let ends_clean = text.is_empty() || text.ends_with('\n');
    let rows: Vec<&str> = text.split_terminator('\n').collect();
    for (i, line) in rows.iter().enumerate() {
        let n = i + 1;
        if i + 1 == rows.len() && !ends_clean {
            return Err(Break {
                line: n,
                problem: "the final line is torn (written partly, never acknowledged)".to_string(),
            });
        }
        let (record, hash) = parse_line(line).map_err(|problem| Break { line: n, problem })?;
        let (prev, seq) = links
            .last()
            .map_or((GENESIS, 0), |(r, h)| (h.as_str(), r.seq));
        if record.prev_hash != prev {
            return Err(Break {
                line: n,
                problem: "it does not follow the record before it (a record was deleted, inserted or reordered)"
                    .to_string(),
            });
        }
        if record.seq != seq + 1 {
            return Err(Break {
                line: n,
                problem: format!("sequence {} where {} was expected", record.seq, seq + 1),
            });
        }
        links.push((record, hash));
    }
    Ok(links)
}

/// The text up to the last complete line, and the size of a torn tail after it.
pub(super) fn split_torn(text: &str) -> (&str, Option<usize>) {
    if text.is_empty() || text.ends_with('\n') {
        return (text, None);
    }
    let keep = text.rfind('\n').map_or(0, |i| i + 1);
    (&text[..keep], Some(text.len() - keep))
}

/// Hash and sequence of the last link of a verified chain.
pub(super) fn last_link(links: &[(Record, String)]) -> (String, u64) {
    links
        .last()
        .map_or((GENESIS.to_string(), 0), |(r, h)| (h.clone(), r.seq))
}
