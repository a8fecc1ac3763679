//! The effects of promotions and rollbacks, in the order the audit trail needs:
//! take the lock, write the record (appended and fsynced), then call the cloud.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::config::{EnvConfig, EnvId};
use crate::ledger::{Draft, Follower, Ledger, LedgerError, Record, RecordKind};
use crate::lock::{LockError, LockGuard, LockStore};
use crate::model::{Digest, Revision};
use crate::provider::{AnyProvider, DeployStarted, Provider};

/// Longest a deploy or rollback call may take: two API calls (register, then
/// update), each with its own SDK timeout, and some room.
pub const ISSUE_TIMEOUT: Duration = Duration::from_secs(45);

/// Tries of a record that closes an action before it is kept to be written late.
pub const RECORD_ATTEMPTS: u32 = 3;

/// A provider call that changes something, bounded by [`ISSUE_TIMEOUT`].
async fn bounded<T>(
    call: impl std::future::Future<Output = Result<T, crate::provider::ProviderError>>,
) -> Result<T, String> {
    match tokio::time::timeout(ISSUE_TIMEOUT, call).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "no answer within {}s; check the service before retrying",
            ISSUE_TIMEOUT.as_secs()
        )),
    }
}

/// What to ask the cloud for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issue {
    /// Register a copy of the current revision with the image at `digest`, and deploy it.
    Deploy(Digest),
    /// Go back to an earlier artifact, as the platform's rollback style says.
    Rollback(RollbackTo),
}

/// What a rollback goes back to ([`crate::provider::RollbackStyle`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTo {
    /// Point the service back at a revision the platform keeps
    /// ([`Provider::rollback`]).
    Revision(Revision),
    /// Deploy an earlier digest again ([`Provider::deploy`]), on a platform
    /// that rolls back by redeploying: it mints a new, higher revision, and
    /// the action is still recorded as a rollback.
    Digest(Digest),
}

/// Runs promotion and rollback effects for one operator.
#[derive(Debug)]
pub struct Executor {
    provider: AnyProvider,
    envs: Vec<EnvConfig>,
    ledger: Ledger,
    locks: LockStore,
    operator: String,
    clock: Arc<dyn Clock>,
    guards: HashMap<(String, String), LockGuard>,
    /// `" --demo"` when the commands printed in hints need it.
    demo_flag: &'static str,
    /// Where the console's reading of the ledger stands.
    follower: Follower,
}

impl Executor {
    /// An executor writing to `ledger`, with its locks in `locks` (a lock
    /// directory, or the team table).
    pub fn new(
        provider: AnyProvider,
        envs: Vec<EnvConfig>,
        ledger: Ledger,
        locks: impl Into<LockStore>,
        operator: String,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let follower = Follower::new(ledger.clone());
        Self {
            provider,
            envs,
            ledger,
            locks: locks.into(),
            operator,
            clock,
            guards: HashMap::new(),
            demo_flag: "",
            follower,
        }
    }

    /// Hints name `shipdeck … --demo` commands (the demo's own ledger and locks).
    pub fn for_demo(mut self, demo: bool) -> Self {
        self.demo_flag = if demo { " --demo" } else { "" };
        self
    }

    /// Name of environment `env` (empty when out of range).
    pub fn env_name(&self, env: EnvId) -> String {
        self.envs
            .get(env.index())
            .map(|e| e.name.clone())
            .unwrap_or_default()
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The operator.
    pub fn operator(&self) -> &str {
        &self.operator
    }

    /// Who holds the lock of `service` in `env`, other than us.
    pub fn holder(&self, env: EnvId, service: &str) -> Option<String> {
        let env = self.env_name(env);
        if self
            .guards
            .contains_key(&(env.clone(), service.to_string()))
        {
            return None;
        }
        match self.locks.holder(&env, service) {
            Ok(Some(info)) => Some(info.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    /// Appends a record now.
    pub fn record(&self, kind: RecordKind, draft: Draft) -> Result<Record, String> {
        self.write(kind, draft, None)
            .map_err(|e| format!("could not write the audit record ({}): {e}", kind.as_str()))
    }

    /// Appends a record now; with `once`, a record that takes that key once
    /// (the ledger refuses a second one with [`LedgerError::Duplicate`]).
    fn write(
        &self,
        kind: RecordKind,
        draft: Draft,
        once: Option<&str>,
    ) -> Result<Record, LedgerError> {
        // A record about a service whose lock we hold is written only while
        // the lock is still ours (team mode checks it in the same write).
        let fence = match (&draft.env, &draft.service) {
            (Some(e), Some(s)) => {
                self.guards
                    .get(&(e.clone(), s.clone()))
                    .map(|g| crate::ledger::Fence {
                        env: e.clone(),
                        service: s.clone(),
                        holder: g.info().clone(),
                    })
            }
            _ => None,
        };
        let now = self.clock.now();
        match once {
            Some(key) => self
                .ledger
                .append_once(kind, draft, now, key, fence.as_ref()),
            None => self.ledger.append_fenced(kind, draft, now, fence.as_ref()),
        }
    }

    /// Takes the lock (unless held already), writes `kind` (`DeployIssued` or
    /// `RollbackIssued`), then calls the provider. A provider failure is recorded
    /// (`DeployFailed`/`RollbackFailed`) and releases the lock. Errors say whether
    /// a closing record was written.
    pub async fn issue(
        &mut self,
        env: EnvId,
        service: &str,
        issue: &Issue,
        draft: Draft,
    ) -> Result<(DeployStarted, Record), (String, bool)> {
        let Some(env_cfg) = self.envs.get(env.index()).cloned() else {
            return Err((format!("no environment #{env}"), false));
        };
        let Some(svc_cfg) = env_cfg.services.iter().find(|s| s.name == service).cloned() else {
            return Err((
                format!(
                    "service \"{service}\" is not configured in \"{}\"",
                    env_cfg.name
                ),
                false,
            ));
        };
        let key = (env_cfg.name.clone(), service.to_string());
        let (kind, failed, purpose) = match issue {
            Issue::Deploy(_) => (
                RecordKind::DeployIssued,
                RecordKind::DeployFailed,
                "promotion",
            ),
            Issue::Rollback(_) => (
                RecordKind::RollbackIssued,
                RecordKind::RollbackFailed,
                "rollback",
            ),
        };
        if !self.guards.contains_key(&key) {
            let guard = self
                .locks
                .acquire(
                &env_cfg.name,
                service,
                &self.operator,
                purpose,
                self.clock.now(),
            )
            .map_err(|e| {
                let hint = match e {
                    LockError::Held { .. } => format!(
                        "; if that process is gone, run `shipdeck unlock{} --env {} --service {service}`",
                        self.demo_flag, env_cfg.name
                    ),
                    _ => String::new(),
                };
                (format!("{e}{hint}"), false)
            })?;
            self.guards.insert(key.clone(), guard);
        }
        let record = match self.record(kind, draft.clone()) {
            Ok(r) => r,
            Err(e) => {
                self.guards.remove(&key);
                return Err((format!("{e}; nothing was deployed"), false));
            }
        };
        let asking = crate::provider::Asking {
            operator: self.operator.clone(),
            promotion: draft.promotion.clone(),
            change_record: draft.change_record.clone(),
            rollback: matches!(issue, Issue::Rollback(_)),
            reason: draft.reasons.first().cloned(),
        };
        let call = async {
            match issue {
                // A rollback by digest deploys it again (`asking.rollback`).
                Issue::Deploy(d) | Issue::Rollback(RollbackTo::Digest(d)) => {
                    self.provider
                        .deploy_as(&env_cfg, &svc_cfg, d, &asking)
                        .await
                }
                Issue::Rollback(RollbackTo::Revision(to)) => {
                    self.provider.rollback(&env_cfg, &svc_cfg, to).await
                }
            }
        };
        let result = bounded(call).await;
        match result {
            Ok(started) => Ok((started, record)),
            Err(e) => {
                let mut d = draft;
                d.outcome = Some("failed".to_string());
                d.reasons.push(e.clone());
                let closed = self.record(failed, d).is_ok();
                self.guards.remove(&key);
                Err((e, closed))
            }
        }
    }

    /// A decision at a paused step, judged on the ledger as it is now: the
    /// record first, then (when it is to be taken) the provider's call; a
    /// call that fails is recorded too. Returns whether it was taken (not only
    /// recorded as one approval of several), and what happened, in words.
    ///
    /// The record takes its step's once key ([`super::step::once_key`]): of
    /// two people deciding the same step at the same moment, the ledger
    /// writes one, and the other is refused before anything is done.
    ///
    /// `hold` is the step's least time as the caller read it; the judge
    /// counts it to now, and a continue before it is over is taken only
    /// with `cut_hold` (the person confirmed), said on the record.
    #[allow(clippy::too_many_arguments)]
    pub async fn decide_step(
        &self,
        env: EnvId,
        service: &str,
        shift: &crate::model::Shift,
        decision: crate::model::Decision,
        to_digest: Option<String>,
        reason: &str,
        hold: Option<super::evidence::Hold>,
        cut_hold: bool,
    ) -> Result<(bool, String), String> {
        use super::step::Verdict;
        let env_cfg = self
            .envs
            .get(env.index())
            .ok_or_else(|| format!("no environment #{env}"))?;
        let records = self.read()?;
        let verdict = super::step::judge(
            &records,
            env_cfg,
            service,
            shift,
            to_digest,
            &super::step::Ask {
                decision,
                operator: &self.operator,
                reason,
                hold,
                now: self.clock.now(),
                cut_hold,
                demo_flag: self.demo_flag,
            },
        );
        let draft = match verdict {
            Verdict::Refused(why) => return Err(why),
            Verdict::Held(left) => {
                return Err(format!(
                    "{left}: continuing now cuts it short and needs a confirmation"
                ));
            }
            Verdict::Apply(d) => d,
            Verdict::Approval { draft, have, need } => {
                let label = shift.step_label();
                let key = super::step::once_key(&records, shift, &draft);
                self.write(RecordKind::StepDecision, draft, Some(&key))
                    .map_err(|e| match e {
                        LedgerError::Duplicate { .. } => format!(
                            "{} already approved continuing {label}: no approver counts twice",
                            self.operator
                        ),
                        e => format!("could not write the audit record (step_decision): {e}"),
                    })?;
                return Ok((
                    false,
                    format!(
                        "approval {have} of {need} to continue {label} recorded; {} more needed",
                        need - have
                    ),
                ));
            }
        };
        let svc_cfg = env_cfg.service(service).ok_or_else(|| {
            format!(
                "service \"{service}\" is not configured in \"{}\"",
                env_cfg.name
            )
        })?;
        let key = super::step::once_key(&records, shift, &draft);
        self.write(RecordKind::StepDecision, draft.clone(), Some(&key))
            .map_err(|e| match e {
                LedgerError::Duplicate { by, record, .. } => format!(
                    "{} decided {} at {} of {service} in {} already (record {}): this {} was not recorded and nothing was done",
                    by.as_deref().unwrap_or("someone else"),
                    decision.as_str(),
                    shift.step_label(),
                    env_cfg.name,
                    record.map_or_else(|| "?".to_string(), |n| n.to_string()),
                    decision.as_str(),
                ),
                e => format!("could not write the audit record (step_decision): {e}"),
            })?;
        let call = self.provider.decide_step(env_cfg, svc_cfg, shift, decision);
        let result = bounded(call).await;
        match result {
            Ok(said) => Ok((true, said)),
            Err(e) => {
                let mut d = draft;
                d.outcome = Some(super::step::NOT_APPLIED.to_string());
                d.reasons.push(e.clone());
                let _ = self.record(RecordKind::StepDecision, d);
                Err(format!("{} was not taken: {e}", decision.as_str()))
            }
        }
    }

    /// Appends the records that close an action, in order, each retried a
    /// few times; the ones the ledger still refuses are kept in the local
    /// spool, to be written late at the next start. What was written is what
    /// the ending may claim ([`Watch::claim`](super::Watch::claim)).
    pub async fn record_closing(
        &self,
        items: Vec<(RecordKind, Draft)>,
    ) -> (super::Written, Vec<Record>) {
        let mut written = super::Written::default();
        let mut records = Vec::new();
        let mut unwritten = Vec::new();
        let observed_at = self.clock.now();
        for (kind, draft) in items {
            // Once one failed, the rest wait behind it: the spool keeps order.
            let result = if unwritten.is_empty() {
                self.record_retrying(kind, draft.clone()).await
            } else {
                Err("not tried: an earlier closing record was not written".to_string())
            };
            written.add(kind, &result);
            match result {
                Ok(r) => records.push(r),
                Err(_) => unwritten.push(super::pending::Pending {
                    kind,
                    draft,
                    observed_at,
                }),
            }
        }
        if !unwritten.is_empty() {
            let kept = super::pending::keep(&self.ledger, &unwritten)
                .map(|p| p.display().to_string())
                .map_err(|e| e.to_string());
            match &kept {
                Ok(p) => {
                    let n = unwritten.len();
                    tracing::warn!(spool = %p, n, "closing records kept to be written late");
                }
                Err(e) => tracing::error!(error = %e, "closing records could not be kept"),
            }
            written.kept = Some(kept);
        }
        (written, records)
    }

    /// One append, tried again after a short pause while it fails (a ledger
    /// that blinked), up to [`RECORD_ATTEMPTS`] times.
    async fn record_retrying(&self, kind: RecordKind, draft: Draft) -> Result<Record, String> {
        let mut pause = Duration::from_millis(250);
        let mut tries = 1;
        loop {
            match self.record(kind, draft.clone()) {
                Ok(r) => return Ok(r),
                Err(e) if tries >= RECORD_ATTEMPTS => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, tries, "closing record not written; trying again");
                    tokio::time::sleep(pause).await;
                    pause *= 4;
                    tries += 1;
                }
            }
        }
    }

    /// Writes the records kept by an earlier run that could not write them,
    /// as late records; returns what to tell the operator.
    pub fn flush_pending(&self) -> Option<String> {
        match super::pending::flush(&self.ledger, self.clock.now()) {
            Ok(f) if f.written.is_empty() && f.unreadable == 0 => None,
            Ok(f) => Some(format!(
                "wrote {} late record(s) kept by an earlier run that could not write them: {}{}",
                f.written.len(),
                f.written.join(", "),
                if f.unreadable > 0 {
                    format!(
                        "; {} unreadable line(s) of the spool were moved aside",
                        f.unreadable
                    )
                } else {
                    String::new()
                }
            )),
            Err(e) => Some(format!(
                "records kept by an earlier run are still not written ({e}); they stay kept and are tried again at the next start"
            )),
        }
    }

    /// Releases the lock of `service` in `env`, if we hold it.
    pub fn release(&mut self, env: EnvId, service: &str) {
        let env = self.env_name(env);
        self.guards.remove(&(env, service.to_string()));
    }

    /// Reads every record.
    pub fn read(&self) -> Result<Vec<Record>, String> {
        self.ledger.read().map_err(|e| e.to_string())
    }

    /// The records appended since the last call (the first call reads them
    /// all): only the new bytes are read and verified.
    pub fn read_new(&mut self) -> Result<Vec<Record>, String> {
        self.follower.poll().map_err(|e| e.to_string())
    }

    /// Bytes of the ledger read by [`Self::read_new`] so far.
    pub fn ledger_bytes_read(&self) -> u64 {
        self.follower.bytes_read()
    }
}
