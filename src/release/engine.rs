//! The one release engine: a promotion or rollback from its gate to its
//! outcome. It decides — whether a mutation is allowed at all, when approvals
//! are requested, what confirming writes, how a watch ends, when it rolls back
//! by itself, which record closes an action that was not issued — and returns
//! [`Effect`]s and an [`Outcome`]. The console and the CLI only drive it: they
//! collect input, show output, and run the effects in order.
//!
//! Phases: [`Promotion`] (plan, gate, approvals, confirmation) → [`Watch`]
//! (issue, watch, ask, outcome). A rollback starts at the second phase.

use chrono::{DateTime, Utc};

use crate::config::{Config, EnvId, OnAbort};
use crate::gate::{self, GateResult, Verdict};
use crate::ledger::{Draft, Record, RecordKind};
use crate::model::{Revision, ServiceSnapshot};
use crate::provider::{DeployStarted, RollbackStyle};

use super::exec::{Issue, RollbackTo};
pub use super::outcome::Outcome;
use super::{
    Answers, Observed, OpKind, Plan, RollbackTarget, Step, Watch, closing_records, gate_for,
    rollback_start,
};

/// A side effect the engine asks for. Drivers run them in the order given:
/// the ledger holds a record before the action it records happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Append a record.
    Record {
        /// Kind.
        kind: RecordKind,
        /// Fields.
        draft: Draft,
    },
    /// Take the lock, write the issue record, call the provider; the answer goes
    /// to [`Watch::on_issued`].
    Issue {
        /// Environment index.
        env: EnvId,
        /// Service.
        service: String,
        /// Deploy or roll back.
        issue: Issue,
        /// The `DeployIssued`/`RollbackIssued` record.
        draft: Draft,
    },
    /// Release the lock of a service in an environment.
    Release {
        /// Environment index.
        env: EnvId,
        /// Service.
        service: String,
    },
}

/// What the engine wants after taking in an event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Next {
    /// Effects to run, in order.
    pub effects: Vec<Effect>,
    /// The policy says ask the operator: roll back now? (the abort's reason).
    pub ask: Option<String>,
    /// Over, with this outcome and a reason a person can read.
    pub outcome: Option<(Outcome, String)>,
    /// Lines for the watch log, in order (acceptance, stage changes, the end).
    pub log: Vec<String>,
}

impl Next {
    fn record(&mut self, kind: RecordKind, draft: Draft) {
        self.effects.push(Effect::Record { kind, draft });
    }

    fn release(&mut self, w: &Watch) {
        self.effects.push(Effect::Release {
            env: w.env,
            service: w.service.clone(),
        });
    }

    /// The ending, not yet said: the drivers say it once its records are
    /// in ([`Watch::claim`]), so it is not a log line here.
    fn end(&mut self, outcome: Outcome, why: String) {
        self.outcome = Some((outcome, why));
    }

    fn extend(&mut self, other: Self) {
        self.effects.extend(other.effects);
        self.log.extend(other.log);
        if other.ask.is_some() {
            self.ask = other.ask;
        }
        if other.outcome.is_some() {
            self.outcome = other.outcome;
        }
    }
}

/// Why no mutation is allowed in environment `env`, if it is not: the one
/// read-only refusal of the console and the CLI. `read_only` is the global
/// switch (`--read-only`, `read_only = true`).
pub fn refusal(read_only: bool, e: &crate::config::EnvConfig) -> Option<String> {
    if read_only {
        return Some(
            "read-only mode (--read-only or read_only = true): deploys and rollbacks are disabled"
                .to_string(),
        );
    }
    e.read_only.then(|| {
        format!(
            "environment \"{}\" is read-only in the configuration",
            e.name
        )
    })
}

/// A promotion before it is issued: its plan, its id, and whether approvals
/// were requested in the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct Promotion {
    /// What would change.
    pub plan: Plan,
    /// Promotion id (shown; approvers use it).
    pub promotion: String,
    /// Hash of the target's gate policy (approvals under another one do not count).
    pub policy_hash: String,
    /// Whether the request is in the ledger (approvals can arrive).
    pub requested: bool,
}

impl Promotion {
    /// Opens a promotion: approvals are requested up front when the gate needs
    /// them (and there is a digest to approve), so that approvers have the id at
    /// once. `open` continues a request already in the ledger.
    pub fn open(
        cfg: &Config,
        plan: Plan,
        operator: &str,
        now: DateTime<Utc>,
        open: Option<&str>,
    ) -> (Self, Vec<Effect>) {
        let policy = &cfg.environments[plan.target].gate;
        let digest = plan.digest_text();
        let policy_hash = crate::approvals::policy_hash(policy);
        // Under a matrix, approvals are asked for once the change type says
        // which row: approvers see what they approve.
        let needs = gate::approvals_required(policy, plan.change_type.as_deref(), plan.hotfix) > 0
            && plan.digest.is_some()
            && (policy.matrix.is_empty() || plan.change_type.is_some());
        let requested = open.is_some() || needs;
        let promotion = open.map_or_else(
            || crate::approvals::new_id(&plan.target_name, &plan.service, &digest, now),
            str::to_string,
        );
        let mut effects = Vec::new();
        if open.is_none() && requested {
            effects.push(Effect::Record {
                kind: RecordKind::PromotionStarted,
                draft: plan.request_draft(operator, &promotion, &policy_hash),
            });
        }
        (
            Self {
                plan,
                promotion,
                policy_hash,
                requested,
            },
            effects,
        )
    }

    /// The approvals that count now: for this digest, under this policy, not
    /// expired (the gate then applies four eyes).
    pub fn approvers(&self, cfg: &Config, records: &[Record], now: DateTime<Utc>) -> Vec<String> {
        if !self.requested {
            return Vec::new();
        }
        let digest = self.plan.digest_text();
        crate::approvals::current(
            records,
            &self.promotion,
            &digest,
            &cfg.environments[self.plan.target].gate,
            &self.policy_hash,
            now,
        )
    }

    /// The target's gate for this promotion.
    pub fn gate(&self, cfg: &Config, obs: &Observed<'_>, answers: &Answers) -> GateResult {
        gate_for(cfg, &self.plan, obs, answers)
    }

    /// Why the gate says no, as one line.
    pub fn no_go(gate: &GateResult) -> String {
        let open: Vec<&str> = gate
            .checks
            .iter()
            .filter(|c| c.verdict != Verdict::Pass)
            .map(|c| c.name.as_str())
            .collect();
        format!("not passed: {}", open.join(", "))
    }

    /// Whether the gate waits only for approvals that the request can still get.
    pub fn waits_for_approvals(&self, gate: &GateResult) -> bool {
        self.requested
            && gate
                .checks
                .iter()
                .any(|c| c.name == "approvals" && c.verdict != Verdict::Pass)
    }

    /// The confirmation said yes: on a GO gate, the records of the decision and
    /// the deploy, and the watch that follows it. `before` is the target's
    /// reading (the watch's baselines). A gate that is not GO issues nothing.
    #[allow(clippy::too_many_arguments)]
    pub fn confirm(
        &self,
        cfg: &Config,
        gate: &GateResult,
        answers: &Answers,
        approvers: &[String],
        before: Option<&ServiceSnapshot>,
        operator: &str,
        now: DateTime<Utc>,
    ) -> Result<(Watch, Vec<Effect>), String> {
        if !gate.go {
            return Err(Self::no_go(gate));
        }
        let Some(digest) = self.plan.digest.clone() else {
            return Err("the source is unpinned: there is no digest to deploy".to_string());
        };
        let (base, records) = self.plan.confirmation_records(
            gate,
            answers,
            approvers,
            operator,
            &self.promotion,
            &self.policy_hash,
            self.requested,
        );
        let mut effects: Vec<Effect> = records
            .into_iter()
            .map(|(kind, draft)| Effect::Record { kind, draft })
            .collect();
        let mut watch = Watch::new(
            cfg,
            OpKind::Deploy,
            self.plan.target,
            &self.plan.service,
            &self.promotion,
            before,
            Some(digest.clone()),
            now,
        );
        watch.carry(&base);
        effects.push(Effect::Issue {
            env: self.plan.target,
            service: self.plan.service.clone(),
            issue: Issue::Deploy(digest),
            draft: base,
        });
        Ok((watch, effects))
    }

    /// Backing out before anything was issued: a request in the ledger is
    /// closed, with the reason.
    pub fn cancel(&self, operator: &str, why: &str) -> Vec<Effect> {
        if !self.requested {
            return Vec::new();
        }
        let mut d = self.plan.draft(operator, &self.promotion);
        d.reasons.push(why.to_string());
        d.outcome = Some(Outcome::Cancelled.as_str().to_string());
        vec![Effect::Record {
            kind: RecordKind::Aborted,
            draft: d,
        }]
    }
}

/// A confirmed rollback of `service` in environment `env` to `target`: its
/// watch (with `before` as its baseline) and the effect that issues it.
pub fn start_rollback(
    cfg: &Config,
    env: EnvId,
    service: &str,
    before: Option<&ServiceSnapshot>,
    target: &RollbackTarget,
    operator: &str,
    now: DateTime<Utc>,
) -> (Watch, Vec<Effect>) {
    let env_name = cfg
        .environments
        .get(env.index())
        .map_or_else(String::new, |e| e.name.clone());
    let id = crate::approvals::new_id(&env_name, service, &target.revision.to_string(), now);
    let (watch, draft) = rollback_start(cfg, env, service, &id, before, target, operator, now);
    let effects = vec![Effect::Issue {
        env,
        service: service.to_string(),
        issue: Issue::Rollback(target.issue()),
        draft,
    }];
    (watch, effects)
}

/// The request still open for the same promotion by the same person, if any:
/// `promote` run again after the approvals arrived continues it. A request ends
/// once its deploy was issued, or the promotion ended.
pub fn open_request(records: &[Record], plan: &Plan, initiator: &str) -> Option<String> {
    let digest = plan.digest_text();
    let digest = digest.as_str();
    let mut open: Option<String> = None;
    for r in records {
        let same = r.draft.env.as_deref() == Some(plan.target_name.as_str())
            && r.draft.service.as_deref() == Some(plan.service.as_str());
        if !same {
            continue;
        }
        if r.kind == RecordKind::PromotionStarted
            && r.draft.to_digest.as_deref() == Some(digest)
            && r.draft.change_type == plan.change_type
            && crate::approvals::same_person(&r.draft.operator, initiator)
        {
            open.clone_from(&r.draft.promotion);
        } else if (r.kind == RecordKind::DeployIssued || crate::stable::ends_action(r.kind))
            && r.draft.promotion == open
        {
            open = None;
        }
    }
    open
}

impl Watch {
    /// The provider's answer to an [`Effect::Issue`] of this watch.
    pub fn on_issued(
        &mut self,
        result: Result<DeployStarted, (String, bool)>,
        operator: &str,
    ) -> Next {
        let mut next = Next::default();
        match result {
            Ok(started) => {
                self.accepted(started.to, started.change, started.deployment_id);
                next.log.push(format!(
                    "{} accepted: {} → {}",
                    self.kind.noun(),
                    started
                        .from
                        .as_ref()
                        .map_or_else(|| "?".to_string(), ToString::to_string),
                    self.to.as_ref().map_or_else(
                        || format!("{} (revision not reported yet)", self.followed()),
                        ToString::to_string
                    )
                ));
            }
            Err((e, closed)) => {
                self.outcome = Some(Step::Failed(e.clone()));
                next.log.push(format!("not issued: {e}"));
                if let Some(why) = self.after_abort.clone() {
                    // The automatic rollback after an abort could not be issued.
                    next.release(self);
                    next.outcome = Some((
                        Outcome::Aborted,
                        format!("{why}; the rollback could not be issued: {e}"),
                    ));
                    return next;
                }
                if !closed && self.kind == OpKind::Deploy {
                    let mut d = self.draft(operator);
                    d.reasons.push(e.clone());
                    d.outcome = Some(Outcome::NotIssued.as_str().to_string());
                    next.record(RecordKind::Aborted, d);
                }
                next.outcome = Some((Outcome::NotIssued, format!("nothing was changed: {e}")));
            }
        }
        next
    }

    /// A new reading of the watched service.
    pub fn on_reading(
        &mut self,
        s: &ServiceSnapshot,
        now: DateTime<Utc>,
        operator: &str,
        on_abort: OnAbort,
    ) -> Next {
        if self.is_over() || !self.issued {
            return Next::default();
        }
        let stage = self.stage;
        let following = self.to.is_none();
        // A rollback to a revision whose digest was not known when it was
        // issued learns it from the service running that revision, so that
        // its stable mark can be written (and claimed).
        if self.to_digest.is_none()
            && let (Some(to), Some(running)) = (&self.to, &s.task_definition)
            && running.same_revision(to)
        {
            self.to_digest.clone_from(&s.digest);
        }
        let step = self.observe(s, now);
        let mut next = Next::default();
        if following && let Some(to) = &self.to {
            next.log.push(format!("{} runs as {to}", self.followed()));
        }
        for named in std::mem::take(&mut self.new_steps) {
            next.log.push(format!("step: {named}"));
            let mut d = self.draft(operator);
            d.reasons.push(named);
            next.record(RecordKind::Step, d);
        }
        if self.stage != stage {
            next.log.push(self.progress.clone());
        }
        next.extend(self.finish(&step, operator, now, on_abort));
        next
    }

    /// A tick without a reading: a watch whose environment stopped answering
    /// still ends, past its timeout.
    pub fn on_silence(&mut self, now: DateTime<Utc>, operator: &str, on_abort: OnAbort) -> Next {
        let step = self.silent(now);
        self.finish(&step, operator, now, on_abort)
    }

    /// The operator's answer to [`Next::ask`]: roll back now, or leave it.
    pub fn decide(&mut self, roll_back: bool, operator: &str, now: DateTime<Utc>) -> Next {
        let why = match &self.outcome {
            Some(Step::Abort(why)) => why.clone(),
            _ => "aborted".to_string(),
        };
        if roll_back {
            return self.roll_back_after(&why, operator, now);
        }
        let mut next = Next::default();
        next.release(self);
        next.log.push("left as it is: no rollback".to_string());
        next.outcome = Some((Outcome::Aborted, why));
        next
    }

    /// The operator aborts a running deploy (after a confirmation): recorded,
    /// then rolled back to the revision before.
    pub fn abort_by_hand(&mut self, operator: &str, now: DateTime<Utc>) -> Next {
        if self.kind != OpKind::Deploy || self.is_over() {
            return Next::default();
        }
        let why = format!("aborted by hand by {operator}");
        let mut d = self.draft(operator);
        d.reasons.push(why.clone());
        d.outcome = Some(Outcome::Aborted.as_str().to_string());
        self.outcome = Some(Step::Abort(why.clone()));
        let mut next = Next::default();
        next.record(RecordKind::Aborted, d);
        next.log.push(format!("ABORTED: {why}; rolling back"));
        next.extend(self.roll_back_after(&why, operator, now));
        next
    }

    /// The records and follow-ups of the end of a watch.
    fn finish(
        &mut self,
        step: &Step,
        operator: &str,
        now: DateTime<Utc>,
        on_abort: OnAbort,
    ) -> Next {
        let mut next = Next::default();
        if *step == Step::Continue {
            return next;
        }
        for (kind, draft) in closing_records(self, step, operator, now) {
            next.record(kind, draft);
        }
        let what = self.kind.noun();
        let (env, service) = (self.env_name.clone(), self.service.clone());
        match (step, self.kind) {
            (Step::Abort(why), OpKind::Deploy) => {
                if on_abort == OnAbort::Rollback {
                    next.log
                        .push(format!("ABORTED: {why}; rolling back automatically"));
                    next.extend(self.roll_back_after(why, operator, now));
                } else {
                    next.log
                        .push(format!("ABORTED: {why}; roll back now? (y/n)"));
                    next.ask = Some(why.clone());
                }
            }
            (Step::Succeeded, kind) => {
                next.release(self);
                // Only now: irreversible steps wait until the deploy is stable.
                for item in &self.after_stable {
                    next.log.push(format!("now due (after stable): {item}"));
                }
                let outcome = if kind == OpKind::Rollback && self.automatic {
                    Outcome::RolledBack
                } else {
                    Outcome::Succeeded
                };
                let to = self
                    .to
                    .as_ref()
                    .map_or_else(String::new, ToString::to_string);
                let why = match (&self.after_abort, outcome) {
                    // The abort is what the operator must read first.
                    (Some(abort), Outcome::RolledBack) => {
                        format!("aborted: {abort}; rolled back: {to} runs again and is stable")
                    }
                    _ => format!("{what} of {service} in {env} succeeded: {to} is stable"),
                };
                next.end(outcome, why);
            }
            (Step::ChangedOutside(found), _) => {
                next.release(self);
                next.end(
                    Outcome::ChangedOutside,
                    format!(
                        "{what} of {service} in {env}: CHANGED OUTSIDE SHIPDECK ({found}); nothing marked stable and nothing rolled back over that change: check the service"
                    ),
                );
            }
            (Step::Unknown(why), _) => {
                next.release(self);
                next.end(
                    Outcome::Unknown,
                    format!(
                        "{what} of {service} in {env}: outcome UNKNOWN ({why}); nothing was rolled back and nothing marked stable: check the service"
                    ),
                );
            }
            (Step::Failed(why) | Step::Abort(why), _) => {
                next.release(self);
                next.end(
                    Outcome::Failed,
                    format!("{what} FAILED: {why}; check the service"),
                );
            }
            (Step::Continue, _) => {}
        }
        next
    }

    /// [`finish`](Self::finish) with `step`, for tests of how an ending closes.
    #[cfg(test)]
    pub(crate) fn finish_for_test(
        &mut self,
        step: &Step,
        operator: &str,
        now: DateTime<Utc>,
    ) -> Next {
        self.outcome = Some(step.clone());
        self.finish(step, operator, now, OnAbort::Rollback)
    }

    /// After an abort: watch the rollback to what ran before (the issue
    /// effect), or end aborted when that is unknown. A platform that rolls
    /// back by redeploying gets the digest that ran before deployed again;
    /// the others, the revision.
    fn roll_back_after(&mut self, why: &str, operator: &str, now: DateTime<Utc>) -> Next {
        let mut next = Next::default();
        let (back, unknown) = match self.rollback {
            RollbackStyle::Redeploy => (
                self.redeploy_after_abort(operator, why, now)
                    .map(|(rb, d, draft)| (rb, RollbackTo::Digest(d), draft)),
                "no previous digest known",
            ),
            RollbackStyle::Revisions | RollbackStyle::Slots => (
                self.rollback_after_abort(operator, why, now)
                    .map(|(rb, r, draft)| (rb, RollbackTo::Revision(r), draft)),
                "no previous revision known",
            ),
        };
        if let Some((rb, to, draft)) = back {
            *self = rb;
            self.after_abort = Some(why.to_string());
            next.effects.push(Effect::Issue {
                env: self.env,
                service: self.service.clone(),
                issue: Issue::Rollback(to),
                draft,
            });
        } else {
            next.release(self);
            next.end(
                Outcome::Aborted,
                format!("{why}; {unknown}: cannot roll back"),
            );
        }
        next
    }

    /// The revision a rollback after an abort would go to.
    pub fn previous(&self) -> Option<&Revision> {
        self.from.as_ref()
    }
}
