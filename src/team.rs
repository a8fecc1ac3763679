//! Team mode: the ledger, locks, approvals and stable marks of a team in one
//! DynamoDB table, so that people on many machines keep the same promises
//! (four eyes, one promotion at a time, one audit trail).
//!
//! Items (partition key `pk`, sort key `sk`):
//! - `ledger` / seq: one record each, `line` holding the exact ledger line
//!   (hash + body) the file backend would write;
//! - `head` / 0: the last sequence number and hash, updated in the same
//!   `TransactWriteItems` as each append, so a deleted or rewritten tail is
//!   found by `audit verify` (a bare hash chain cannot see it), and an append
//!   onto a cut or rewritten tail is refused;
//! - `lock#ENV#SERVICE` / 0: a promotion lock with a lease;
//! - `once#HASH` / 0: a decision that is taken once (an approval by one
//!   person, a step decision), put in the same transaction as its record.
//!
//! The SDK is async and the ledger API is not: one worker thread owns a
//! runtime and the client, and every call is handed to it. Every call has a
//! deadline: an endpoint that accepts connections and never answers is an
//! error within [`CALL_DEADLINE`], never a hang.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

mod chain;
pub mod locks;

pub use chain::{
    ChainProblem, OnceHolder, append, claim_once, diagnose, hash_at, head, lines_after, once_holder,
};

/// The ledger's partition.
pub const LEDGER_PK: &str = "ledger";
/// The head item's partition.
pub const HEAD_PK: &str = "head";
/// Records per append transaction: DynamoDB allows 100 items, and an append
/// also holds the head, the check of the last record, a lock's fence and a
/// once item.
pub const BATCH: usize = 96;
/// Attempts of an append that loses a race (or is throttled) before it gives up.
const ATTEMPTS: u32 = 400;
/// Connecting to the table's endpoint.
pub const CONNECT_DEADLINE: Duration = Duration::from_secs(3);
/// One attempt of one DynamoDB request.
pub const ATTEMPT_DEADLINE: Duration = Duration::from_secs(8);
/// One DynamoDB request, the SDK's own retries included.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(20);
/// One call to the table as shipdeck makes it (a request, or a read and a
/// write): past it the call is dropped and said to have no answer.
pub const CALL_DEADLINE: Duration = Duration::from_secs(30);
/// The STS caller identity (who the operator is).
pub const IDENTITY_DEADLINE: Duration = Duration::from_secs(8);

/// The SDK's deadlines for every team request.
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_DEADLINE)
        .operation_attempt_timeout(ATTEMPT_DEADLINE)
        .operation_timeout(REQUEST_DEADLINE)
        .build()
}

/// What a request that could not be signed for want of credentials says,
/// when `said` (the SDK's whole error) is that.
fn no_credentials(said: &str) -> Option<String> {
    (said.contains("no credentials found in chain") || said.contains("CredentialsNotLoaded")).then(
        || {
            "no AWS credentials were found (environment variables, the shared credentials and config files or their profile, web identity, container or instance metadata)".to_string()
        },
    )
}

/// What a call that outlived its deadline says.
pub fn no_answer(what: &str, within: Duration) -> String {
    format!(
        "{what} had no answer within {} s (the deadline of a call to the team table): check the endpoint and the network, then try again",
        within.as_secs()
    )
}

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

    /// Runs `f` with the client on the worker and waits for its answer, at
    /// most [`CALL_DEADLINE`].
    pub fn call<T, F, Fut>(&self, f: F) -> Result<T, TeamError>
    where
        T: Send + 'static,
        F: FnOnce(Client) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, TeamError>> + Send + 'static,
    {
        self.call_within(CALL_DEADLINE, f)
    }

    /// [`call`](Self::call) with its own deadline (`team init` waits for a
    /// new table to become active).
    pub fn call_within<T, F, Fut>(&self, deadline: Duration, f: F) -> Result<T, TeamError>
    where
        T: Send + 'static,
        F: FnOnce(Client) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, TeamError>> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let table = self.cfg.table.clone();
        let job: Job = Box::new(move |c| {
            Box::pin(async move {
                // Dropping the future at the deadline drops its requests.
                let answer = tokio::time::timeout(deadline, f(c))
                    .await
                    .unwrap_or_else(|_| {
                        Err(TeamError::plain(&table, no_answer("the call", deadline)))
                    });
                let _ = tx.send(answer);
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| self.err("the DynamoDB worker stopped"))?;
        // The worker answers at its deadline; this one only guards against a
        // worker that cannot run at all.
        match rx.recv_timeout(deadline + Duration::from_secs(5)) {
            Ok(answer) => answer,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(self.err(no_answer("the call", deadline))),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(self.err("the DynamoDB worker stopped"))
            }
        }
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
        .region(aws_config::Region::new(cfg.region.clone()))
        .timeout_config(timeouts());
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
        .region(aws_config::Region::new(cfg.region.clone()))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_DEADLINE)
                .operation_timeout(IDENTITY_DEADLINE)
                .build(),
        );
    if let Some(p) = &cfg.profile {
        loader = loader.profile_name(p);
    }
    let shared = loader.load().await;
    let mut b = aws_sdk_sts::config::Builder::from(&shared);
    if let Some(url) = &cfg.endpoint_url {
        b = b.endpoint_url(url);
    }
    let sts = aws_sdk_sts::Client::from_conf(b.build());
    let late = || {
        format!(
            "sts:GetCallerIdentity had no answer within {} s (the identity deadline)",
            IDENTITY_DEADLINE.as_secs()
        )
    };
    let out = tokio::time::timeout(IDENTITY_DEADLINE, sts.get_caller_identity().send())
        .await
        .map_err(|_| late())?
        .map_err(|e| match e {
            aws_sdk_sts::error::SdkError::TimeoutError(_) => late(),
            e => {
                let said = aws_sdk_sts::error::DisplayErrorContext(&e).to_string();
                let said = no_credentials(&said).unwrap_or(said);
                crate::model::sanitize(&format!("sts:GetCallerIdentity: {said}"))
            }
        })?;
    out.arn()
        .map(crate::model::sanitize)
        .ok_or_else(|| "sts:GetCallerIdentity answered without an ARN".to_string())
}

/// Classifies an SDK error: a failed condition or a cancelled transaction is
/// a conflict (re-read and retry); throttling is retried too. A request that
/// outlived its deadline, or that could not be signed for want of
/// credentials, is said as such.
pub fn classify<E, R>(table: &str, e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> TeamError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_dynamodb::error::{ProvideErrorMetadata as _, SdkError};
    let timed_out = match e {
        SdkError::TimeoutError(_) => true,
        SdkError::DispatchFailure(d) => d.is_timeout(),
        _ => false,
    };
    if timed_out {
        return TeamError::plain(table, no_answer("DynamoDB", REQUEST_DEADLINE));
    }
    let code = e.code().unwrap_or_default().to_string();
    let message = if let Some(m) = e.message() {
        format!("{code}: {m}")
    } else {
        let said = aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string();
        no_credentials(&said).unwrap_or_else(|| format!("{code} {said}"))
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
