//! Promotion locks in the team table: a conditional put of
//! `lock#ENV#SERVICE` with a lease its holder renews while it runs. A refusal
//! names the holder from the item the failed condition returns; a lapsed
//! lease is stale and is broken only as the operator confirms, as for files.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};

use super::{TeamError, TeamStore, classify, strings};
use crate::lock::LockInfo;

fn pk(env: &str, service: &str) -> String {
    format!("lock#{env}#{service}")
}

fn key(env: &str, service: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk(env, service))),
        ("sk".to_string(), AttributeValue::N("0".to_string())),
    ])
}

fn info_of(item: &HashMap<String, AttributeValue>) -> Option<LockInfo> {
    let s = strings(item);
    Some(LockInfo {
        owner: s.get("owner")?.clone(),
        pid: s.get("pid").and_then(|p| p.parse().ok()).unwrap_or(0),
        host: s.get("host").cloned().unwrap_or_default(),
        since: s
            .get("since")
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))?,
        purpose: s.get("purpose").cloned().unwrap_or_default(),
        lease_until: s
            .get("lease_until")
            .and_then(|t| t.parse::<i64>().ok())
            .and_then(|t| DateTime::from_timestamp(t, 0)),
    })
}

/// Who holds the lock, if anyone.
pub fn holder(store: &TeamStore, env: &str, service: &str) -> Result<Option<LockInfo>, TeamError> {
    let (table, key) = (store.table().to_string(), key(env, service));
    store.call(move |c| async move {
        let out = c
            .get_item()
            .table_name(&table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&table, &e))?;
        Ok(out.item().and_then(info_of))
    })
}

/// Takes the lock: `Ok(Err(holder))` when someone holds it.
pub fn acquire(
    store: &TeamStore,
    env: &str,
    service: &str,
    info: &LockInfo,
) -> Result<Result<(), Option<LockInfo>>, TeamError> {
    let table = store.table().to_string();
    let mut item = key(env, service);
    for (k, v) in [
        ("owner", AttributeValue::S(info.owner.clone())),
        ("pid", AttributeValue::N(info.pid.to_string())),
        ("host", AttributeValue::S(info.host.clone())),
        ("since", AttributeValue::S(info.since.to_rfc3339())),
        ("purpose", AttributeValue::S(info.purpose.clone())),
        (
            "lease_until",
            AttributeValue::N(info.lease_until.map_or(0, |t| t.timestamp()).to_string()),
        ),
    ] {
        item.insert(k.to_string(), v);
    }
    let mine = info.clone();
    store.call(move |c| async move {
        let sent = c
            .put_item()
            .table_name(&table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Ok(())),
            Err(e) => {
                if let Some(
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(
                        f,
                    ),
                ) = e.as_service_error()
                {
                    let held = f.item().and_then(info_of);
                    // Our own put, landed on an attempt whose answer was lost
                    // and retried by the SDK: the lock is ours.
                    if held.as_ref().is_some_and(|h| {
                        (&h.owner, h.pid, &h.host, h.since)
                            == (&mine.owner, mine.pid, &mine.host, mine.since)
                    }) {
                        return Ok(Ok(()));
                    }
                    return Ok(Err(held));
                }
                Err(classify(&table, &e))
            }
        }
    })
}

/// Removes the lock if it is still exactly `info` (ours, or the stale one the
/// operator confirmed); `Ok(false)` when it changed meanwhile.
pub fn release(
    store: &TeamStore,
    env: &str,
    service: &str,
    info: &LockInfo,
) -> Result<bool, TeamError> {
    let (table, key) = (store.table().to_string(), key(env, service));
    let (owner, since) = (info.owner.clone(), info.since.to_rfc3339());
    store.call(move |c| async move {
        let sent = c
            .delete_item()
            .table_name(&table)
            .set_key(Some(key))
            .condition_expression("#o = :o AND #s = :s")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_names("#s", "since")
            .expression_attribute_values(":o", AttributeValue::S(owner))
            .expression_attribute_values(":s", AttributeValue::S(since))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e) => {
                let err = classify(&table, &e);
                if err.conflict { Ok(false) } else { Err(err) }
            }
        }
    })
}

/// Renews the lease every third of it while `alive` holds and the lock is
/// still ours (a lock broken and retaken by someone else is left alone).
pub fn keep_renewed(
    store: &TeamStore,
    env: &str,
    service: &str,
    info: &LockInfo,
    alive: Arc<AtomicBool>,
) {
    let (table, key) = (store.table().to_string(), key(env, service));
    let (owner, since) = (info.owner.clone(), info.since.to_rfc3339());
    let lease = store.cfg.lease;
    store.spawn(move |c| async move {
        let every = (lease / 3).max(std::time::Duration::from_secs(1));
        loop {
            tokio::time::sleep(every).await;
            if !alive.load(Ordering::SeqCst) {
                return;
            }
            let until = Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default();
            let renewed = c
                .update_item()
                .table_name(&table)
                .set_key(Some(key.clone()))
                .update_expression("SET lease_until = :u")
                .condition_expression("#o = :o AND #s = :s")
                .expression_attribute_names("#o", "owner")
                .expression_attribute_names("#s", "since")
                .expression_attribute_values(":u", AttributeValue::N(until.timestamp().to_string()))
                .expression_attribute_values(":o", AttributeValue::S(owner.clone()))
                .expression_attribute_values(":s", AttributeValue::S(since.clone()))
                .send()
                .await;
            if let Err(e) = renewed {
                let err = classify(&table, &e);
                tracing::warn!(error = %err, "lock lease not renewed");
                if err.message.contains("ConditionalCheckFailed") {
                    return;
                }
            }
        }
    });
}
