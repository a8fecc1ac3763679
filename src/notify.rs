//! Notifications that reach people (issue 32): events derived from ledger
//! records ([`event::events_for`]), sent to webhooks (Slack's `{"text": …}` or
//! shipdeck's own JSON) and SNS topics, routed per environment, with
//! freeze overrides and hotfixes to the operations route.
//!
//! **Who sends.** The process that appended a record sends its
//! notification: the ledger hands every successful append to
//! [`appended`] (file and team mode alike), which only queues it; a worker
//! thread with its own small runtime derives the events and delivers them,
//! in order. Other consoles that only read the record send nothing.
//!
//! **Never in the way.** Queueing costs a channel send; a delivery is
//! retried a bounded number of times with backoff ([`deliver`]); what still
//! fails is written as a `NotificationFailed` record (event, sink, kind of
//! error; never a URL) and logged, and `status` and the timeline show it
//! ([`failures`]). At exit, [`shutdown`] waits a bounded time for deliveries
//! in flight. Every body passes the one sanitiser and the secrets' redactor.

pub mod body;
pub mod deliver;
pub mod event;
pub mod failures;
mod sns;
mod webhook;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use sha2::Digest as _;

use crate::config::Config;
use crate::config::notify::{Sink, SinkKind};
use crate::ledger::{Draft, Ledger, Record, RecordKind};
use crate::secrets::Secrets;

pub use deliver::{ATTEMPTS, Failure};
pub use event::{Context, Event, EventKind, events_for};
pub use sns::DEDUPE_ATTRIBUTE;
pub use webhook::DEDUPE_HEADER;

/// What [`shutdown`] keeps, of its time, for writing the failures of
/// deliveries it cut short.
const RECORD_RESERVE: Duration = Duration::from_millis(500);

static NOTIFIER: OnceLock<Notifier> = OnceLock::new();

/// Records appended by this process, and the ledger they went to.
struct Job {
    ledger: Ledger,
    records: Vec<Record>,
}

struct Notifier {
    tx: mpsc::Sender<Job>,
    /// Jobs queued or being delivered.
    pending: Arc<AtomicUsize>,
    deadline: deliver::Deadline,
}

/// Installs this process's notifier for `cfg`'s sinks, once (later calls
/// change nothing). Nothing is installed, and nothing is ever sent, when no
/// sink is configured.
pub fn install(cfg: &Config, secrets: Secrets) -> bool {
    if cfg.notify.is_empty() || NOTIFIER.get().is_some() {
        return false;
    }
    let (tx, rx) = mpsc::channel();
    let pending = Arc::new(AtomicUsize::new(0));
    let deadline = deliver::Deadline::default();
    let worker = Worker {
        cfg: cfg.clone(),
        secrets,
        http: None,
        sns: HashMap::new(),
        deadline: deadline.clone(),
    };
    let counter = pending.clone();
    let spawned = std::thread::Builder::new()
        .name("shipdeck-notify".to_string())
        .spawn(move || worker.run(&rx, &counter));
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "notifications are off: cannot start their thread");
        return false;
    }
    NOTIFIER
        .set(Notifier {
            tx,
            pending,
            deadline,
        })
        .is_ok()
}

/// The ledger's hook: `records` were just appended to `ledger` by this
/// process. Queues them and returns at once; a no-op without sinks.
pub fn appended(ledger: &Ledger, records: &[Record]) {
    let Some(n) = NOTIFIER.get() else {
        return;
    };
    if records.is_empty() {
        return;
    }
    n.pending.fetch_add(1, Ordering::SeqCst);
    let job = Job {
        ledger: ledger.clone(),
        records: records.to_vec(),
    };
    if n.tx.send(job).is_err() {
        n.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// At process end: waits at most `within` for the notifications in flight
/// (deliveries still retrying are cut short in time to record their
/// failure). `false` when some were still in flight.
pub async fn shutdown(within: Duration) -> bool {
    let Some(n) = NOTIFIER.get() else {
        return true;
    };
    let end = Instant::now() + within;
    n.deadline
        .set(end.checked_sub(RECORD_RESERVE).unwrap_or_else(Instant::now));
    while n.pending.load(Ordering::SeqCst) > 0 {
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// The record's hash as the ledger wrote it: the SHA-256 of its body (the
/// ledger hashes exactly these bytes, `ledger::encode`).
pub fn hash_of(record: &Record) -> String {
    let body = serde_json::to_string(record).unwrap_or_default();
    crate::model::digest::hex_lower(&sha2::Sha256::digest(body.as_bytes()))
}

/// The sinks `event` goes to: the operations route for freeze overrides and
/// hotfixes (its environment's route where no operations route is set, so
/// that they are never dropped), else its environment's route.
pub fn route<'a>(cfg: &'a Config, event: &Event) -> Vec<&'a Sink> {
    let env_route: &[String] = match event.env.as_deref().and_then(|e| cfg.env(e)) {
        Some(env) => &env.notify,
        None => &[],
    };
    let names: &[String] = if event.kind.operations() && !cfg.notify.operations.is_empty() {
        &cfg.notify.operations
    } else {
        env_route
    };
    names.iter().filter_map(|n| cfg.notify.sink(n)).collect()
}

/// Whether a record of this kind may give an event (the rest are skipped
/// without reading the ledger).
fn may_notify(r: &Record) -> bool {
    r.kind != RecordKind::NotificationFailed
}

/// Whether judging `r` needs the ledger before it: the open slots of a
/// promotion, and whether a hotfix or freeze override was told already.
fn needs_history(r: &Record) -> bool {
    matches!(
        r.kind,
        RecordKind::PromotionStarted
            | RecordKind::Approval
            | RecordKind::GateEvaluated
            | RecordKind::Override
    ) || r.draft.hotfix
        || r.draft.change_type.as_deref() == Some("hotfix")
        || !r.draft.skipped.is_empty()
}

/// The delivering side, on its own thread.
struct Worker {
    cfg: Config,
    secrets: Secrets,
    http: Option<reqwest::Client>,
    sns: HashMap<String, aws_sdk_sns::Client>,
    deadline: deliver::Deadline,
}

impl Worker {
    fn run(mut self, rx: &mpsc::Receiver<Job>, pending: &AtomicUsize) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let rt = match rt {
            Ok(rt) => Some(rt),
            Err(e) => {
                tracing::warn!(error = %e, "notifications are off: cannot start their runtime");
                None
            }
        };
        while let Ok(job) = rx.recv() {
            if let Some(rt) = &rt {
                rt.block_on(self.job(&job));
            }
            pending.fetch_sub(1, Ordering::SeqCst);
        }
    }

    async fn job(&mut self, job: &Job) {
        let mut history: Option<Vec<Record>> = None;
        for record in job.records.iter().filter(|r| may_notify(r)) {
            if needs_history(record) && history.is_none() {
                history = Some(job.ledger.read().unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "notifications: the ledger could not be read; open slots and repeats are not known");
                    job.records.clone()
                }));
            }
            let records = history.as_deref().unwrap_or(&job.records);
            let ctx = Context {
                cfg: &self.cfg,
                records,
                now: Utc::now(),
            };
            let hash = hash_of(record);
            for event in events_for(record, &hash, &ctx) {
                self.send(&job.ledger, record, &event).await;
            }
        }
    }

    /// Delivers `event` to each sink of its route, side by side; records
    /// what could not be delivered.
    async fn send(&mut self, ledger: &Ledger, record: &Record, event: &Event) {
        let sinks: Vec<Sink> = route(&self.cfg, event).into_iter().cloned().collect();
        if sinks.is_empty() {
            return;
        }
        if self.http.is_none()
            && sinks
                .iter()
                .any(|s| matches!(s.kind, SinkKind::Webhook { .. }))
        {
            self.http = webhook::client()
                .map_err(|e| tracing::warn!(error = %e, "notifications: no HTTP client"))
                .ok();
        }
        for s in &sinks {
            if let SinkKind::Sns { access, .. } = &s.kind
                && !self.sns.contains_key(&s.name)
            {
                self.sns.insert(s.name.clone(), sns::client(access).await);
            }
        }
        let this = &*self;
        let results = futures::future::join_all(sinks.iter().map(|s| this.deliver(s, event))).await;
        for (sink, result) in sinks.iter().zip(results) {
            match result {
                Ok(n) => tracing::info!(
                    sink = %sink.name,
                    event = event.kind.as_str(),
                    attempts = n,
                    "notification delivered"
                ),
                Err(f) => self.failed(ledger, record, event, sink, &f),
            }
        }
    }

    async fn deliver(&self, sink: &Sink, event: &Event) -> Result<u32, Failure> {
        let redactor = self.secrets.redactor();
        match &sink.kind {
            SinkKind::Webhook { url_secret } => {
                // Resolved first: the value is registered with the redactor
                // before any body is written.
                let url = self.secrets.get(url_secret).map_err(|e| Failure {
                    attempts: 0,
                    kind: body::clean(&e.to_string(), redactor),
                })?;
                let Some(http) = &self.http else {
                    return Err(Failure {
                        attempts: 0,
                        kind: "no HTTP client".to_string(),
                    });
                };
                let text = body::body(event, sink.format, redactor);
                deliver::with_retries(&self.deadline, |within| {
                    webhook::post(
                        http,
                        &url,
                        text.clone(),
                        &event.dedupe_key,
                        event.kind.as_str(),
                        within,
                    )
                })
                .await
            }
            SinkKind::Sns { topic_arn, .. } => {
                let Some(client) = self.sns.get(&sink.name) else {
                    return Err(Failure {
                        attempts: 0,
                        kind: "no SNS client".to_string(),
                    });
                };
                let text = body::body(event, sink.format, redactor);
                let group = event.env.as_deref().unwrap_or("shipdeck");
                deliver::with_retries(&self.deadline, |_| {
                    sns::publish(
                        client,
                        topic_arn,
                        text.clone(),
                        &event.dedupe_key,
                        event.kind.as_str(),
                        group,
                    )
                })
                .await
            }
        }
    }

    /// A delivery that still failed: a `NotificationFailed` record (which
    /// itself never notifies) and a warning in the log.
    fn failed(&self, ledger: &Ledger, record: &Record, event: &Event, sink: &Sink, f: &Failure) {
        let redactor = self.secrets.redactor();
        let why = body::clean(
            &format!(
                "{} to sink \"{}\" ({}) not delivered after {} attempt(s): {}",
                event.kind.as_str(),
                sink.name,
                sink.kind_name(),
                f.attempts,
                f.kind
            ),
            redactor,
        );
        tracing::warn!(sink = %sink.name, event = event.kind.as_str(), "{why}");
        let draft = Draft {
            operator: record.draft.operator.clone(),
            env: record.draft.env.clone(),
            service: record.draft.service.clone(),
            promotion: record.draft.promotion.clone(),
            outcome: Some(event.kind.as_str().to_string()),
            reasons: vec![why, format!("dedupe key {}", event.dedupe_key)],
            ..Draft::default()
        };
        if let Err(e) = ledger.append(RecordKind::NotificationFailed, draft, Utc::now()) {
            tracing::warn!(error = %e, "notifications: the failure could not be recorded");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_the_ledgers_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.jsonl");
        let ledger = Ledger::new(&path);
        let r = ledger
            .append(
                RecordKind::Approval,
                Draft {
                    operator: "bob".to_string(),
                    reasons: vec!["line\none".to_string()],
                    ..Draft::default()
                },
                Utc::now(),
            )
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let written: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(written["hash"], hash_of(&r).as_str());
    }
}
