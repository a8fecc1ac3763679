//! Gathering one promotion's records into a [`Report`].

use chrono::{DateTime, Utc};

use super::{
    Approver, Cited, GateLine, Link, Moved, Note, Outcome, Report, ReportError, SCHEMA, Who,
};
use crate::ledger::{Record, RecordKind};

/// The report of `promotion`: every record that names it, in chain order
/// (the automatic rollback of an aborted deploy carries the promotion's id
/// too). An id no record names is [`ReportError::Unknown`].
pub fn build(links: &[Link], promotion: &str) -> Result<Report, ReportError> {
    let mine: Vec<&Link> = links
        .iter()
        .filter(|l| l.record.draft.promotion.as_deref() == Some(promotion))
        .collect();
    let (Some(first), Some(_)) = (mine.first(), mine.last()) else {
        return Err(ReportError::Unknown(promotion.to_string()));
    };
    let records: Vec<&Record> = mine.iter().map(|l| &l.record).collect();
    Ok(Report {
        schema: SCHEMA,
        promotion: promotion.to_string(),
        moved: moved(&records),
        who: who(&records),
        gate: gate(&records),
        overrides: records
            .iter()
            .filter(|r| r.kind == RecordKind::Override)
            .map(|r| note(r))
            .collect(),
        rollout: records
            .iter()
            .filter(|r| in_rollout(r.kind))
            .map(|r| note(r))
            .collect(),
        outcome: outcome(&records, first.record.at),
        cited: mine
            .iter()
            .map(|l| Cited {
                seq: l.record.seq,
                kind: l.record.kind.as_str().to_string(),
                at: l.record.at,
                hash: l.hash.clone(),
            })
            .collect(),
    })
}

/// One report per promotion started at or after `from`, oldest first.
pub fn since(links: &[Link], from: DateTime<Utc>) -> Vec<Report> {
    let mut ids: Vec<&str> = Vec::new();
    for l in links {
        if l.record.kind == RecordKind::PromotionStarted
            && l.record.at >= from
            && let Some(id) = l.record.draft.promotion.as_deref()
            && !ids.contains(&id)
        {
            ids.push(id);
        }
    }
    ids.into_iter()
        .filter_map(|id| build(links, id).ok())
        .collect()
}

/// The first value `f` gives, in record order.
fn first<T>(records: &[&Record], f: impl Fn(&Record) -> Option<T>) -> Option<T> {
    records.iter().find_map(|r| f(r))
}

/// The last value `f` gives, in record order.
fn last<T>(records: &[&Record], f: impl Fn(&Record) -> Option<T>) -> Option<T> {
    records.iter().rev().find_map(|r| f(r))
}

/// An image-labels line (`commit 1a2b3c4 → 9f8e7d6 · source github.com/acme/edge`,
/// what `release::plan::labels_line` writes into the promotion's reasons).
fn is_labels(reason: &str) -> bool {
    reason.starts_with("commit ") || reason.starts_with("source ")
}

/// `(commit before, commit now, source)` from a labels line.
fn labels(line: &str) -> (Option<String>, Option<String>, Option<String>) {
    let (mut was, mut now, mut source) = (None, None, None);
    let known = |s: &str| (s != "(no label)" && !s.is_empty()).then(|| s.to_string());
    for part in line.split(" · ") {
        if let Some(c) = part.strip_prefix("commit ") {
            let (a, b) = c.split_once(" → ").unwrap_or(("", c));
            was = known(a.trim());
            now = known(b.trim());
        } else if let Some(s) = part.strip_prefix("source ") {
            source = known(s.trim());
        }
    }
    (was, now, source)
}

fn moved(records: &[&Record]) -> Moved {
    let deploys = |k: RecordKind| {
        matches!(
            k,
            RecordKind::PromotionStarted
                | RecordKind::GateEvaluated
                | RecordKind::DeployIssued
                | RecordKind::DeploySucceeded
                | RecordKind::DeployFailed
                | RecordKind::DeployUnverified
                | RecordKind::Aborted
        )
    };
    let line = first(records, |r| {
        r.draft.reasons.iter().find(|x| is_labels(x)).cloned()
    });
    let (from_commit, commit, source) = line.as_deref().map(labels).unwrap_or_default();
    Moved {
        service: first(records, |r| r.draft.service.clone()),
        from_env: first(records, |r| r.draft.from_env.clone()),
        to_env: first(records, |r| r.draft.env.clone()),
        from_digest: first(records, |r| {
            r.draft.from_digest.clone().filter(|_| deploys(r.kind))
        }),
        to_digest: first(records, |r| {
            r.draft.to_digest.clone().filter(|_| deploys(r.kind))
        }),
        from_revision: first(records, |r| {
            r.draft.from_revision.clone().filter(|_| deploys(r.kind))
        }),
        to_revision: last(records, |r| {
            r.draft.to_revision.clone().filter(|_| deploys(r.kind))
        }),
        commit,
        from_commit,
        source,
        change: last(records, |r| r.draft.change.clone()),
        hotfix: records.iter().any(|r| r.draft.hotfix),
        skipped: first(records, |r| {
            (!r.draft.skipped.is_empty()).then(|| r.draft.skipped.clone())
        })
        .unwrap_or_default(),
        supply: last(records, |r| {
            r.draft.supply.clone().filter(|_| deploys(r.kind))
        }),
    }
}

fn who(records: &[&Record]) -> Who {
    let started = records
        .iter()
        .find(|r| r.kind == RecordKind::PromotionStarted);
    Who {
        initiator: started
            .or(records.first())
            .map(|r| r.draft.operator.clone()),
        change_record: last(records, |r| r.draft.change_record.clone()),
        change_type: last(records, |r| r.draft.change_type.clone()),
        approvers: records
            .iter()
            .filter(|r| r.kind == RecordKind::Approval)
            .map(|r| Approver {
                name: r.draft.operator.clone(),
                roles: r.draft.roles.clone(),
                at: r.at,
                seq: r.seq,
                // The GO gate's record names the approvers it counted.
                counted: records
                    .iter()
                    .rev()
                    .find(|g| {
                        g.kind == RecordKind::GateEvaluated
                            && g.draft.outcome.as_deref() == Some("go")
                    })
                    .map(|g| {
                        g.draft
                            .approvers
                            .iter()
                            .any(|a| crate::approvals::same_person(a, &r.draft.operator))
                    }),
            })
            .collect(),
        checklist: last_gate(records)
            .map(|g| {
                g.draft
                    .gate
                    .iter()
                    .filter(|e| e.verdict == "pass")
                    .filter_map(|e| e.check.strip_prefix("checklist: "))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        // The request's own words (a hotfix's reason, a restated request),
        // from each time it was made; the image labels are under What moved.
        reasons: records
            .iter()
            .filter(|r| r.kind == RecordKind::PromotionStarted)
            .flat_map(|r| r.draft.reasons.iter().filter(|x| !is_labels(x)).cloned())
            .collect(),
    }
}

fn last_gate<'a>(records: &[&'a Record]) -> Option<&'a Record> {
    records
        .iter()
        .rev()
        .find(|r| r.kind == RecordKind::GateEvaluated)
        .copied()
}

/// The checks of the last gate evaluation (the one the deploy went on, or the
/// one that stopped it).
fn gate(records: &[&Record]) -> Vec<GateLine> {
    last_gate(records)
        .map(|g| {
            g.draft
                .gate
                .iter()
                .map(|e| GateLine {
                    check: e.check.clone(),
                    verdict: e.verdict.clone(),
                    reason: e.reason.clone(),
                    seq: g.seq,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The records that tell the rollout.
fn in_rollout(kind: RecordKind) -> bool {
    use RecordKind as K;
    matches!(
        kind,
        K::DeployIssued
            | K::Step
            | K::StepDecision
            | K::WatchInterrupted
            | K::Aborted
            | K::DeploySucceeded
            | K::DeployFailed
            | K::DeployUnverified
            | K::RollbackIssued
            | K::RollbackSucceeded
            | K::RollbackFailed
            | K::RollbackUnverified
            | K::RevisionMarkedStable
    )
}

fn note(r: &Record) -> Note {
    Note {
        seq: r.seq,
        kind: r.kind.as_str().to_string(),
        at: r.at,
        operator: r.draft.operator.clone(),
        outcome: r.draft.outcome.clone(),
        reasons: r.draft.reasons.clone(),
    }
}

/// The deploy's ending, then the rollback's: what the records say, never more.
fn outcome(records: &[&Record], start: DateTime<Utc>) -> Outcome {
    use RecordKind as K;
    let deploy_end = records.iter().rev().find(|r| {
        matches!(
            r.kind,
            K::DeploySucceeded | K::DeployFailed | K::DeployUnverified | K::Aborted
        )
    });
    let rollback_issued = records.iter().any(|r| r.kind == K::RollbackIssued);
    let rollback_end = records.iter().rev().find(|r| {
        matches!(
            r.kind,
            K::RollbackSucceeded | K::RollbackFailed | K::RollbackUnverified
        )
    });
    let result = deploy_end.map(|r| {
        r.draft
            .outcome
            .clone()
            .unwrap_or_else(|| r.kind.as_str().to_string())
    });
    let rollback = rollback_end.map(|r| {
        r.draft
            .outcome
            .clone()
            .unwrap_or_else(|| r.kind.as_str().to_string())
    });
    // Ended when the deploy ended and any rollback it started ended too.
    let end = match (deploy_end, rollback_issued, rollback_end) {
        (Some(_), true, Some(rb)) => Some(rb.at),
        (Some(d), false, _) => Some(d.at),
        _ => None,
    };
    let said = match (&result, rollback_issued, &rollback) {
        (None, _, _) => "in progress: no outcome recorded".to_string(),
        (Some(r), false, _) => r.clone(),
        (Some(r), true, None) => format!("{r}; rollback in progress, no outcome recorded"),
        (Some(r), true, Some(rb)) => format!("{r}; rollback {rb}"),
    };
    Outcome {
        result,
        rollback,
        said,
        start,
        end,
        duration_ms: end.and_then(|e| u64::try_from((e - start).num_milliseconds()).ok()),
    }
}
