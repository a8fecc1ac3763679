//! Team mode: the ledger, locks, approvals and stable marks of a team in one
//! DynamoDB table, so that people on many machines keep the same promises
//! (four eyes, one promotion at a time, one audit trail).
//!
//! Items (partition key `pk`, sort key `sk`):
//! - `ledger` / seq: one record each, `line` holding the exact ledger line
//!   (hash + body) the file backend would write;
//! - `head` / 0: the last sequence number and hash, updated in the same
//!   `TransactWriteItems` as each append, so a deleted or rewritten tail is
//!   found by `audit verify` (a bare hash chain cannot see it);
//! - `lock#ENV#SERVICE` / 0: a promotion lock with a lease.
//!
//! The SDK is async and the ledger API is not: one worker thread owns a
//! runtime and the client, and every call is handed to it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

pub mod locks;

/// The ledger's partition.
pub const LEDGER_PK: &str = "ledger";
/// The head item's partition.
pub const HEAD_PK: &str = "head";
/// Records per append transaction (DynamoDB allows 100 items; one is the head).
pub const BATCH: usize = 99;
/// Attempts of an append that loses a race (or is throttled) before it gives up.
const ATTEMPTS: u32 = 400;

/// Where the team table is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamConfig {
    /// Table name.
    pub table: String,
    /// Region.
    pub region: String,
    /// Named AWS profile.
    pub profile: Option<String>,
    /// Endpoint (an emulator).
    pub endpoint_url: Option<String>,
    /// Lock lease; the holder renews it while it runs.
    pub lease: Duration,
}

type Job = Box<dyn FnOnce(Client) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// The team table: a worker thread with the client.
#[derive(Debug, Clone)]
pub struct TeamStore {
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
    /// The configuration it was opened with.
    pub cfg: TeamConfig,
}

/// A DynamoDB failure, said for a person.
#[derive(Debug, Clone, thiserror::Error)]
#[error("DynamoDB table \"{table}\": {message}")]
pub struct TeamError {
    /// Table.
    pub table: String,
    /// What went wrong.
    pub message: String,
    /// The call lost a race (a condition failed), was throttled, or its
    /// outcome is unknown (a 500): retry after re-reading.
    pub conflict: bool,
    /// The item a failed condition found, when DynamoDB returned it.
    pub found: Option<HashMap<String, String>>,
}

impl TeamError {
    /// An error that retrying will not cure.
    pub fn plain(table: &str, message: impl std::fmt::Display) -> Self {
        Self {
            table: table.to_string(),
            message: message.to_string(),
            conflict: false,
            found: None,
        }
    }
}

fn text(v: &AttributeValue) -> Option<String> {
    match v {
        AttributeValue::S(s) | AttributeValue::N(s) => Some(s.clone()),
        _ => None,
    }
}

/// An item's string and number attributes.
pub fn strings<S: std::hash::BuildHasher>(
    item: &HashMap<String, AttributeValue, S>,
) -> HashMap<String, String> {
    item.iter()
        .filter_map(|(k, v)| text(v).map(|t| (k.clone(), t)))
        .collect()
}

impl TeamStore {
    /// Starts the worker for `cfg` (credentials from the standard chain and
    /// the profile, as for ECS).
    pub fn open(cfg: TeamConfig) -> Result<Self, String> {
        Self::open_with(cfg, None)
    }

    /// As [`open`](Self::open) with fixed credentials (tests).
    pub fn open_with(
        cfg: TeamConfig,
        creds: Option<aws_credential_types::Credentials>,
    ) -> Result<Self, String> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let thread_cfg = cfg.clone();
        std::thread::Builder::new()
            .name("shipdeck-dynamodb".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                rt.block_on(async move {
                    let client = client(&thread_cfg, creds).await;
                    let _ = ready_tx.send(Ok(()));
                    // Jobs run side by side (a renewal never waits behind an
                    // append); the worker ends when every handle is gone.
                    while let Some(job) = rx.recv().await {
                        tokio::spawn(job(client.clone()));
                    }
                });
            })
            .map_err(|e| format!("cannot start the DynamoDB worker: {e}"))?;
        ready_rx
            .recv()
            .map_err(|_| "the DynamoDB worker stopped".to_string())??;
        Ok(Self { jobs: tx, cfg })
    }

    /// Runs `f` with the client on the worker and waits for its answer.
    pub fn call<T, F, Fut>(&self, f: F) -> Result<T, TeamError>
    where
        T: Send + 'static,
        F: FnOnce(Client) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, TeamError>> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move |c| {
            Box::pin(async move {
                let _ = tx.send(f(c).await);
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| self.err("the DynamoDB worker stopped"))?;
        rx.recv()
            .map_err(|_| self.err("the DynamoDB worker stopped"))?
    }

    /// Starts `f` on the worker without waiting (a lease renewal).
    pub fn spawn<F, Fut>(&self, f: F)
    where
        F: FnOnce(Client) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let job: Job = Box::new(move |c| Box::pin(f(c)));
        let _ = self.jobs.send(job);
    }

    /// An error about this table.
    pub fn err(&self, message: impl Into<String>) -> TeamError {
        TeamError {
            table: self.cfg.table.clone(),
            message: message.into(),
            conflict: false,
            found: None,
        }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.cfg.table
    }
}

async fn client(cfg: &TeamConfig, creds: Option<aws_credential_types::Credentials>) -> Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(cfg.region.clone()));
    if let Some(p) = &cfg.profile {
        loader = loader.profile_name(p);
    }
    if let Some(c) = creds {
        loader = loader.credentials_provider(c);
    }
    let shared = loader.load().await;
    let mut b = aws_sdk_dynamodb::config::Builder::from(&shared);
    if let Some(url) = &cfg.endpoint_url {
        b = b.endpoint_url(url);
    }
    Client::from_conf(b.build())
}

/// The STS caller ARN of the credentials the team table is used with: the
/// operator in team mode.
pub async fn caller_arn(cfg: &TeamConfig) -> Result<String, String> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(cfg.region.clone()));
    if let Some(p) = &cfg.profile {
        loader = loader.profile_name(p);
    }
    let shared = loader.load().await;
    let mut b = aws_sdk_sts::config::Builder::from(&shared);
    if let Some(url) = &cfg.endpoint_url {
        b = b.endpoint_url(url);
    }
    let sts = aws_sdk_sts::Client::from_conf(b.build());
    let out = tokio::time::timeout(Duration::from_secs(8), sts.get_caller_identity().send())
        .await
        .map_err(|_| "sts:GetCallerIdentity did not answer within 8 s".to_string())?
        .map_err(|e| {
            format!(
                "sts:GetCallerIdentity: {}",
                aws_sdk_sts::error::DisplayErrorContext(&e)
            )
        })?;
    out.arn()
        .map(crate::model::sanitize)
        .ok_or_else(|| "sts:GetCallerIdentity answered without an ARN".to_string())
}

/// Classifies an SDK error: a failed condition or a cancelled transaction is
/// a conflict (re-read and retry); throttling is retried too.
pub fn classify<E, R>(table: &str, e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> TeamError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
    let code = e.code().unwrap_or_default().to_string();
    let message = match e.message() {
        Some(m) => format!("{code}: {m}"),
        None => format!("{code} {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)),
    };
    let conflict = matches!(
        code.as_str(),
        "ConditionalCheckFailedException"
            | "TransactionCanceledException"
            | "TransactionConflictException"
            | "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            // The write may or may not have been applied: the ledger's retry
            // checks whether it landed before it writes again.
            | "InternalServerError"
    );
    TeamError {
        table: table.to_string(),
        message: crate::model::sanitize(&message),
        conflict,
        found: None,
    }
}

fn key(pk: &str, sk: u64) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk.to_string())),
        ("sk".to_string(), AttributeValue::N(sk.to_string())),
    ])
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

/// Writes `lines` (seq, hash, line) and moves the head from `expected` to the
/// last of them, in one transaction; a conflict when another writer won.
pub fn append(
    store: &TeamStore,
    expected: Option<u64>,
    lines: Vec<(u64, String, String)>,
    fence: Option<&crate::ledger::Fence>,
) -> Result<(), TeamError> {
    use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem};
    let table = store.table().to_string();
    let fence = fence.map(|f| {
        (
            format!("lock#{}#{}", f.env, f.service),
            f.holder.owner.clone(),
            f.holder.since.to_rfc3339(),
        )
    });
    store.call(move |c| async move {
        let Some((last_seq, last_hash, _)) = lines.last().cloned() else {
            return Ok(());
        };
        let mut items = Vec::with_capacity(lines.len() + 1);
        for (seq, hash, line) in lines {
            let mut item = key(LEDGER_PK, seq);
            item.insert("hash".into(), AttributeValue::S(hash));
            item.insert("line".into(), AttributeValue::S(line));
            let put = Put::builder()
                .table_name(&table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| TeamError::plain(&table, e))?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        let mut head = key(HEAD_PK, 0);
        head.insert("seq".into(), AttributeValue::N(last_seq.to_string()));
        head.insert("hash".into(), AttributeValue::S(last_hash));
        let mut put = Put::builder().table_name(&table).set_item(Some(head));
        put = match expected {
            Some(n) => put
                .condition_expression("#s = :expected")
                .expression_attribute_names("#s", "seq")
                .expression_attribute_values(":expected", AttributeValue::N(n.to_string())),
            None => put.condition_expression("attribute_not_exists(pk)"),
        };
        let put = put.build().map_err(|e| TeamError::plain(&table, e))?;
        items.push(TransactWriteItem::builder().put(put).build());
        if let Some((pk, owner, since)) = fence {
            let check = ConditionCheck::builder()
                .table_name(&table)
                .key("pk", AttributeValue::S(pk))
                .key("sk", AttributeValue::N("0".into()))
                .condition_expression("#o = :o AND #s = :s")
                .expression_attribute_names("#o", "owner")
                .expression_attribute_names("#s", "since")
                .expression_attribute_values(":o", AttributeValue::S(owner))
                .expression_attribute_values(":s", AttributeValue::S(since))
                .build()
                .map_err(|e| TeamError::plain(&table, e))?;
            items.push(TransactWriteItem::builder().condition_check(check).build());
        }
        c.transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(|e| classify(&table, &e))?;
        Ok(())
    })
}

/// Ledger lines with a sequence number above `after`, in order (paginated).
pub fn lines_after(store: &TeamStore, after: u64) -> Result<Vec<(u64, String)>, TeamError> {
    let table = store.table().to_string();
    store.call(move |c| async move {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = c
                .query()
                .table_name(&table)
                .key_condition_expression("pk = :pk AND sk > :after")
                .expression_attribute_values(":pk", AttributeValue::S(LEDGER_PK.into()))
                .expression_attribute_values(":after", AttributeValue::N(after.to_string()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify(&table, &e))?;
            for item in page.items() {
                let s = strings(item);
                let seq = s.get("sk").and_then(|v| v.parse().ok()).unwrap_or(0);
                out.push((seq, s.get("line").cloned().unwrap_or_default()));
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    })
}

/// Retries `attempt` while it loses races or is throttled, with a growing,
/// jittered pause; anything else is returned at once.
pub fn retrying<T>(mut attempt: impl FnMut() -> Result<T, TeamError>) -> Result<T, TeamError> {
    let mut tries = 0;
    loop {
        match attempt() {
            Err(e) if e.conflict && tries + 1 < ATTEMPTS => {
                tries += 1;
                // Full jitter over a ceiling that doubles up to 200 ms: writers
                // that collided spread out instead of colliding again.
                let ceiling = (2u64 << tries.min(7)).min(200);
                std::thread::sleep(Duration::from_millis(rand::random_range(1..=ceiling)));
            }
            other => return other,
        }
    }
}
