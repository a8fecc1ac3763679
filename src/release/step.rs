//! A person's decision at a paused step of a stepped rollout: who may take it
//! (four eyes for a continue, as the environment's policy asks), what the
//! ledger records, and whether the provider is told now. The console's keys
//! and `shipdeck step` both ask [`judge`].

use chrono::{DateTime, Utc};

use super::evidence::Hold;
use crate::approvals::{person_key, same_person};
use crate::config::EnvConfig;
use crate::ledger::{Draft, Record, RecordKind};
use crate::model::{Decision, ServiceSnapshot, Shift};

/// `outcome` of a continue that is an approval still waiting for others.
pub const APPROVAL: &str = "continue_approval";

/// What a decision comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Take it now: record it, then tell the provider.
    Apply(Draft),
    /// A continue that counts as one approval; `need` are needed.
    Approval {
        /// The record.
        draft: Draft,
        /// Approvals with this one.
        have: u32,
        /// Approvals the policy asks for.
        need: u32,
    },
    /// Not allowed, and why.
    Refused(String),
    /// A continue before the step's hold is over, not confirmed: how much is
    /// left (`the hold has 32s left of 1m`). Confirmed (`cut_hold`), it is
    /// taken and the record says so.
    Held(String),
}

/// A person's decision, as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask<'a> {
    /// Continue or roll back.
    pub decision: Decision,
    /// Who decides.
    pub operator: &'a str,
    /// Why, as typed (kept in the record).
    pub reason: &'a str,
    /// The step's hold, where the policy holds it.
    pub hold: Option<Hold>,
    /// When the decision is judged (the hold counts to here).
    pub now: DateTime<Utc>,
    /// The person confirmed continuing before the hold is over.
    pub cut_hold: bool,
    /// `" --demo"` when the commands a refusal names need it.
    pub demo_flag: &'static str,
}

/// `outcome` of a decision the provider did not take.
pub const NOT_APPLIED: &str = "not_applied";

/// The key a decision at a step takes once, so that the ledger's write
/// itself refuses a second one: one approval per person, and one decision
/// taken (continue, roll back) per step. A decision the provider did not
/// take (`not_applied`) ends its round: the step may be decided again.
pub fn once_key(records: &[Record], shift: &Shift, draft: &Draft) -> String {
    let label = shift.step_label();
    let scope = draft.promotion.clone().unwrap_or_else(|| {
        format!(
            "{}/{}/{}",
            draft.env.as_deref().unwrap_or_default(),
            draft.service.as_deref().unwrap_or_default(),
            shift.deployment
        )
    });
    let outcome = draft.outcome.as_deref().unwrap_or_default();
    if outcome == APPROVAL {
        return format!(
            "step#{scope}#{label}#approval#{}",
            person_key(&draft.operator)
        );
    }
    let round = records
        .iter()
        .filter(|r| {
            r.kind == RecordKind::StepDecision
                && (&r.draft.promotion, &r.draft.env, &r.draft.service)
                    == (&draft.promotion, &draft.env, &draft.service)
                && r.draft.reasons.first() == Some(&label)
                && r.draft.outcome.as_deref() == Some(NOT_APPLIED)
        })
        .count();
    format!("step#{scope}#{label}#{outcome}#{round}")
}

/// The stepped deployment in flight of a service, as a reading shows it.
pub fn in_flight(s: &ServiceSnapshot) -> Option<&Shift> {
    s.deployments
        .iter()
        .filter(|d| d.role == crate::model::DeploymentRole::Primary)
        .find_map(|d| d.shift.as_deref())
}

/// The promotion that started the deployment of `service` in `env`, and
/// who started it: the newest deploy issued there.
pub fn started_by(records: &[Record], env: &str, service: &str) -> Option<(String, String)> {
    let issued = records.iter().rev().find(|r| {
        r.kind == RecordKind::DeployIssued
            && r.draft.env.as_deref() == Some(env)
            && r.draft.service.as_deref() == Some(service)
    })?;
    let promotion = issued.draft.promotion.clone()?;
    let initiator = records
        .iter()
        .find(|r| {
            r.kind == RecordKind::PromotionStarted
                && r.draft.promotion.as_deref() == Some(promotion.as_str())
        })
        .map_or_else(
            || issued.draft.operator.clone(),
            |r| r.draft.operator.clone(),
        );
    Some((promotion, initiator))
}

/// Judges `ask` at the current step of `shift`: who may continue (four
/// eyes), and whether the step has been held as long as the policy asks
/// (continuing sooner needs `cut_hold`, and the record says the hold was
/// cut short, by whom, with how much left). A rollback is never held.
pub fn judge(
    records: &[Record],
    env: &EnvConfig,
    service: &str,
    shift: &Shift,
    to_digest: Option<String>,
    ask: &Ask<'_>,
) -> Verdict {
    let Ask {
        decision,
        operator,
        reason,
        ..
    } = *ask;
    let label = shift.step_label();
    let started = started_by(records, &env.name, service);
    let mut draft = Draft {
        operator: operator.to_string(),
        env: Some(env.name.clone()),
        service: Some(service.to_string()),
        promotion: started.as_ref().map(|(p, _)| p.clone()),
        to_digest,
        reasons: std::iter::once(label.clone())
            .chain((!reason.trim().is_empty()).then(|| reason.trim().to_string()))
            .collect(),
        outcome: Some(decision.as_str().to_string()),
        ..Draft::default()
    };
    if decision == Decision::Rollback {
        // Sending traffic back is never held for approvals.
        return Verdict::Apply(draft);
    }
    if shift.pause.is_none() {
        return Verdict::Refused(format!(
            "{service} in {} is at {label} and not paused: there is nothing to continue",
            env.name
        ));
    }
    let need = env.rollout.step_approvals;
    if need == 0 {
        return held(draft, ask);
    }
    let initiator = started.as_ref().map(|(_, who)| who.as_str());
    if initiator.is_some_and(|who| same_person(who, operator)) {
        return Verdict::Refused(format!(
            "four eyes: {operator} started this promotion, so {need} other {} must continue {label} of {service} in {} (`shipdeck step continue{} {service} --env {}`)",
            if need == 1 { "person" } else { "people" },
            env.name,
            ask.demo_flag,
            env.name
        ));
    }
    let mut approvers: Vec<String> = Vec::new();
    for r in records.iter().filter(|r| {
        r.kind == RecordKind::StepDecision
            && r.draft.promotion == draft.promotion
            && r.draft.reasons.first() == Some(&label)
            && r.draft.outcome.as_deref() == Some(APPROVAL)
    }) {
        let who = &r.draft.operator;
        if !initiator.is_some_and(|i| same_person(i, who))
            && !approvers.iter().any(|a| same_person(a, who))
        {
            approvers.push(who.clone());
        }
    }
    if approvers.iter().any(|a| same_person(a, operator)) {
        return Verdict::Refused(format!(
            "{operator} already approved continuing {label}: no approver counts twice"
        ));
    }
    approvers.push(operator.to_string());
    let have = u32::try_from(approvers.len()).unwrap_or(u32::MAX);
    draft.approvers = approvers;
    if have >= need {
        held(draft, ask)
    } else {
        draft.outcome = Some(APPROVAL.to_string());
        Verdict::Approval { draft, have, need }
    }
}

/// A continue that would move the traffic now: taken once the hold is over,
/// or when the person confirmed cutting it short (said on the record);
/// otherwise held, saying how much is left.
fn held(mut draft: Draft, ask: &Ask<'_>) -> Verdict {
    let Some(hold) = ask.hold else {
        return Verdict::Apply(draft);
    };
    let Some(left) = hold.not_over(ask.now) else {
        return Verdict::Apply(draft);
    };
    if !ask.cut_hold {
        return Verdict::Held(left);
    }
    draft.reasons.extend(hold.cut_reason(ask.operator, ask.now));
    Verdict::Apply(draft)
}
