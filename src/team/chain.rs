//! The ledger's items in the team table: the head, the records, the once
//! items, and the one transaction that appends.
//!
//! An append refuses to grow a broken chain: in the same transaction as the
//! new records it checks that the head still names the sequence and hash it
//! read, and that the record at that sequence is there with that hash. A cut
//! tail or a rewritten head fails the transaction; [`diagnose`] then names
//! the cut, and nothing is written.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};
use sha2::Digest as _;

use super::{HEAD_PK, LEDGER_PK, TeamError, TeamStore, classify, strings};

fn key(pk: &str, sk: u64) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk.to_string())),
        ("sk".to_string(), AttributeValue::N(sk.to_string())),
    ])
}

/// The partition of the once item of `once`: a hash, so that any key (an
/// ARN, a long name) fits DynamoDB's key size.
fn once_pk(once: &str) -> String {
    let h = crate::model::digest::hex_lower(&sha2::Sha256::digest(once.as_bytes()));
    format!("once#{}", &h[..32])
}

/// A once item: which record took the key, and who wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnceHolder {
    /// The record's sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
    /// Its operator.
    pub operator: String,
}

/// Where the chain in the table is broken, as an append found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainProblem {
    /// The record at the break.
    pub record: u64,
    /// What is wrong, for a person.
    pub problem: String,
}

/// The ledger's head: last sequence number and hash.
pub fn head(store: &TeamStore) -> Result<Option<(u64, String)>, TeamError> {
    let table = store.table().to_string();
    store.call(move |c| async move {
        let out = c
            .get_item()
            .table_name(&table)
            .set_key(Some(key(HEAD_PK, 0)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&table, &e))?;
        Ok(out.item().map(|item| {
            let s = strings(item);
            (
                s.get("seq").and_then(|v| v.parse().ok()).unwrap_or(0),
                s.get("hash").cloned().unwrap_or_default(),
            )
        }))
    })
}

/// The hash of the record with sequence number `seq`, if it exists.
pub fn hash_at(store: &TeamStore, seq: u64) -> Result<Option<String>, TeamError> {
    let table = store.table().to_string();
    store.call(move |c| async move {
        let out = c
            .get_item()
            .table_name(&table)
            .set_key(Some(key(LEDGER_PK, seq)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&table, &e))?;
        Ok(out.item().and_then(|item| strings(item).remove("hash")))
    })
}

/// Who took the once key `once`, if anyone.
pub fn once_holder(store: &TeamStore, once: &str) -> Result<Option<OnceHolder>, TeamError> {
    let (table, pk) = (store.table().to_string(), once_pk(once));
    store.call(move |c| async move {
        let out = c
            .get_item()
            .table_name(&table)
            .set_key(Some(key(&pk, 0)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&table, &e))?;
        Ok(out.item().map(|item| {
            let s = strings(item);
            OnceHolder {
                seq: s.get("seq").and_then(|v| v.parse().ok()).unwrap_or(0),
                hash: s.get("hash").cloned().unwrap_or_default(),
                operator: s.get("operator").cloned().unwrap_or_default(),
            }
        }))
    })
}

/// Puts the once item of a record already in the table (a migrated ledger's
/// approvals and step decisions), so that the table refuses a second one
/// as it would have; a key taken already is left as it is.
pub fn claim_once(
    store: &TeamStore,
    once: &str,
    seq: u64,
    hash: &str,
    operator: &str,
) -> Result<(), TeamError> {
    let table = store.table().to_string();
    let mut item = key(&once_pk(once), 0);
    item.insert("key".into(), AttributeValue::S(once.to_string()));
    item.insert("seq".into(), AttributeValue::N(seq.to_string()));
    item.insert("hash".into(), AttributeValue::S(hash.to_string()));
    item.insert("operator".into(), AttributeValue::S(operator.to_string()));
    store.call(move |c| async move {
        match c
            .put_item()
            .table_name(&table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = classify(&table, &e);
                if err.message.starts_with("ConditionalCheckFailed") {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    })
}

/// Whether the head (as read before an append that failed) and the records
/// agree: `None` when they do, or when the head has moved since (the append
/// lost a race), else where and how the chain is cut or rewritten. The
/// record at the head and the one after it in one query, then the head again.
pub fn diagnose(
    store: &TeamStore,
    head: Option<(u64, String)>,
) -> Result<Option<ChainProblem>, TeamError> {
    let table = store.table().to_string();
    let from = head.as_ref().map_or(1, |(n, _)| *n);
    let found = store.call(move |c| async move {
        let page = c
            .query()
            .table_name(&table)
            .key_condition_expression("pk = :pk AND sk >= :from")
            .expression_attribute_values(":pk", AttributeValue::S(LEDGER_PK.into()))
            .expression_attribute_values(":from", AttributeValue::N(from.to_string()))
            .consistent_read(true)
            .limit(2)
            .send()
            .await
            .map_err(|e| classify(&table, &e))?;
        Ok(page
            .items()
            .iter()
            .map(|item| {
                let s = strings(item);
                (
                    s.get("sk").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0),
                    s.get("hash").cloned().unwrap_or_default(),
                )
            })
            .collect::<Vec<_>>())
    })?;
    // A writer that moved the head meanwhile explains anything found: that
    // is a race, not a cut (records move with the head, in one transaction).
    if self::head(store)? != head {
        return Ok(None);
    }
    let short = |h: &str| h.get(..12).unwrap_or(h).to_string();
    let Some((seq, hash)) = head else {
        return Ok(found.first().map(|(n, _)| ChainProblem {
            record: *n,
            problem: format!(
                "the head item is missing but record {n} is there: the head was deleted, so a cut tail cannot be ruled out"
            ),
        }));
    };
    let problem = match found.as_slice() {
        [] => Some(format!(
            "the head says {seq} but record {seq} is missing: the tail was cut"
        )),
        [(n, _), ..] if *n != seq => Some(format!(
            "the head says {seq} but record {seq} is missing: the tail was cut"
        )),
        [(_, h), ..] if *h != hash => Some(format!(
            "the head says record {seq} has hash {}… but record {seq} has {}…: the head or the tail was rewritten",
            short(&hash),
            short(h)
        )),
        [_, (n, _)] => Some(format!(
            "record {n} is there beyond the head ({seq}): the head was rewritten"
        )),
        _ => None,
    };
    Ok(problem.map(|problem| ChainProblem {
        record: seq,
        problem,
    }))
}

/// A lock an append is fenced by: its item's key, owner and since.
type FenceItem = (String, String, String);

/// Writes `lines` (seq, hash, line) after the head `expected` (sequence and
/// hash; `None` for an empty ledger) and moves the head to the last of them,
/// in one transaction that also checks that the record at the head is there
/// with that hash, that the lock `fence` is still as taken, and (with
/// `once`, a key and the record's operator) that the once item is new. A
/// conflict when any of those fail; the caller finds out which.
pub fn append(
    store: &TeamStore,
    expected: Option<(u64, String)>,
    lines: Vec<(u64, String, String)>,
    fence: Option<&crate::ledger::Fence>,
    once: Option<(String, String)>,
) -> Result<(), TeamError> {
    let table = store.table().to_string();
    let fence: Option<FenceItem> = fence.map(|f| {
        (
            format!("lock#{}#{}", f.env, f.service),
            f.holder.owner.clone(),
            f.holder.since.to_rfc3339(),
        )
    });
    store.call(move |c| async move {
        let items = transaction(&table, expected, lines, fence, once)?;
        if items.is_empty() {
            return Ok(());
        }
        c.transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(|e| classify(&table, &e))?;
        Ok(())
    })
}

fn transaction(
    table: &str,
    expected: Option<(u64, String)>,
    lines: Vec<(u64, String, String)>,
    fence: Option<FenceItem>,
    once: Option<(String, String)>,
) -> Result<Vec<TransactWriteItem>, TeamError> {
    let plain = |e: aws_sdk_dynamodb::error::BuildError| TeamError::plain(table, e);
    let Some((last_seq, last_hash, _)) = lines.last().cloned() else {
        return Ok(Vec::new());
    };
    let mut items = Vec::with_capacity(lines.len() + 4);
    for (seq, hash, line) in lines {
        let mut item = key(LEDGER_PK, seq);
        item.insert("hash".into(), AttributeValue::S(hash));
        item.insert("line".into(), AttributeValue::S(line));
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(plain)?;
        items.push(TransactWriteItem::builder().put(put).build());
    }
    let mut head = key(HEAD_PK, 0);
    head.insert("seq".into(), AttributeValue::N(last_seq.to_string()));
    head.insert("hash".into(), AttributeValue::S(last_hash.clone()));
    let mut put = Put::builder().table_name(table).set_item(Some(head));
    put = match &expected {
        Some((n, h)) => put
            .condition_expression("#s = :expected AND #h = :hash")
            .expression_attribute_names("#s", "seq")
            .expression_attribute_names("#h", "hash")
            .expression_attribute_values(":expected", AttributeValue::N(n.to_string()))
            .expression_attribute_values(":hash", AttributeValue::S(h.clone())),
        None => put.condition_expression("attribute_not_exists(pk)"),
    };
    items.push(
        TransactWriteItem::builder()
            .put(put.build().map_err(plain)?)
            .build(),
    );
    // The record the head names is there, with the hash the head says: a cut
    // tail or a rewritten head is never grown.
    if let Some((n, h)) = expected {
        let check = ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(key(LEDGER_PK, n)))
            .condition_expression("#h = :hash")
            .expression_attribute_names("#h", "hash")
            .expression_attribute_values(":hash", AttributeValue::S(h))
            .build()
            .map_err(plain)?;
        items.push(TransactWriteItem::builder().condition_check(check).build());
    }
    if let Some((pk, owner, since)) = fence {
        let check = ConditionCheck::builder()
            .table_name(table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::N("0".into()))
            .condition_expression("#o = :o AND #s = :s")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_names("#s", "since")
            .expression_attribute_values(":o", AttributeValue::S(owner))
            .expression_attribute_values(":s", AttributeValue::S(since))
            .build()
            .map_err(plain)?;
        items.push(TransactWriteItem::builder().condition_check(check).build());
    }
    if let Some((once, operator)) = once {
        let mut item = key(&once_pk(&once), 0);
        item.insert("key".into(), AttributeValue::S(once));
        item.insert("seq".into(), AttributeValue::N(last_seq.to_string()));
        item.insert("hash".into(), AttributeValue::S(last_hash));
        item.insert("operator".into(), AttributeValue::S(operator));
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(plain)?;
        items.push(TransactWriteItem::builder().put(put).build());
    }
    Ok(items)
}

/// Ledger lines with a sequence number above `after`, in order: one call
/// (with its deadline) per page, so a long ledger reads in full.
pub fn lines_after(store: &TeamStore, after: u64) -> Result<Vec<(u64, String)>, TeamError> {
    let mut out = Vec::new();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let table = store.table().to_string();
        let from = start.take();
        let (page, next) = store.call(move |c| async move {
            let page = c
                .query()
                .table_name(&table)
                .key_condition_expression("pk = :pk AND sk > :after")
                .expression_attribute_values(":pk", AttributeValue::S(LEDGER_PK.into()))
                .expression_attribute_values(":after", AttributeValue::N(after.to_string()))
                .consistent_read(true)
                .set_exclusive_start_key(from)
                .send()
                .await
                .map_err(|e| classify(&table, &e))?;
            let rows: Vec<(u64, String)> = page
                .items()
                .iter()
                .map(|item| {
                    let s = strings(item);
                    (
                        s.get("sk").and_then(|v| v.parse().ok()).unwrap_or(0),
                        s.get("line").cloned().unwrap_or_default(),
                    )
                })
                .collect();
            let next = page.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
            Ok((rows, next))
        })?;
        out.extend(page);
        match next {
            Some(k) => start = Some(k),
            None => return Ok(out),
        }
    }
}
