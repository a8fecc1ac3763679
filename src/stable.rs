//! What shipdeck remembers that ECS does not: the last *stable* revision of each
//! service per environment, and promotions cut off mid-way by a crash.

use chrono::{DateTime, Utc};

use crate::ledger::{Draft, Ledger, LedgerError, Record, RecordKind};

/// A revision that completed its deploy watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stable {
    /// Task-definition revision (`family:rev`).
    pub revision: String,
    /// Its digest.
    pub digest: String,
    /// When it was marked.
    pub at: DateTime<Utc>,
}

/// Records `revision` (running `digest`) as stable for `service` in `env`.
pub fn mark(
    ledger: &Ledger,
    operator: &str,
    env: &str,
    service: &str,
    revision: &str,
    digest: &str,
    at: DateTime<Utc>,
) -> Result<Record, LedgerError> {
    ledger.append(
        RecordKind::RevisionMarkedStable,
        Draft {
            operator: operator.to_string(),
            env: Some(env.to_string()),
            service: Some(service.to_string()),
            to_revision: Some(revision.to_string()),
            to_digest: Some(digest.to_string()),
            ..Draft::default()
        },
        at,
    )
}

fn concerns(r: &Record, env: &str, service: &str) -> bool {
    r.draft.env.as_deref() == Some(env) && r.draft.service.as_deref() == Some(service)
}

/// Stable revisions of a service in an environment, newest first.
pub fn history(records: &[Record], env: &str, service: &str) -> Vec<Stable> {
    records
        .iter()
        .rev()
        .filter(|r| r.kind == RecordKind::RevisionMarkedStable && concerns(r, env, service))
        .filter_map(|r| {
            Some(Stable {
                revision: r.draft.to_revision.clone()?,
                digest: r.draft.to_digest.clone()?,
                at: r.at,
            })
        })
        .collect()
}

/// The rollback target: the newest stable revision other than `current`.
pub fn previous_stable(
    records: &[Record],
    env: &str,
    service: &str,
    current: &str,
) -> Option<Stable> {
    history(records, env, service)
        .into_iter()
        .find(|s| s.revision != current)
}

/// A promotion or rollback that started and never reached an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    /// Environment.
    pub env: String,
    /// Service.
    pub service: String,
    /// The last record written for it.
    pub last: Record,
}

impl Interrupted {
    /// "rollback" or "promotion", from the last record.
    pub fn what(&self) -> &'static str {
        if self.last.kind == RecordKind::RollbackIssued {
            "rollback"
        } else {
            "promotion"
        }
    }
}

fn is_start(k: RecordKind) -> bool {
    matches!(
        k,
        RecordKind::PromotionStarted | RecordKind::DeployIssued | RecordKind::RollbackIssued
    )
}

/// Whether a record ends a promotion or rollback (its outcome). Approvals, gate
/// evaluations and overrides do not; an issued deploy is still under way.
pub fn ends_action(k: RecordKind) -> bool {
    matches!(
        k,
        RecordKind::DeploySucceeded
            | RecordKind::DeployFailed
            | RecordKind::Aborted
            | RecordKind::RollbackSucceeded
            | RecordKind::RollbackFailed
            | RecordKind::DeployUnverified
            | RecordKind::RollbackUnverified
    )
}

/// Per service and environment, the last action that reached the cloud (a
/// deploy or rollback was issued) and never ended. Approvals, gate
/// evaluations and overrides do not end a promotion; a promotion still
/// waiting for approvals (nothing issued) is a request, not an interruption:
/// `shipdeck approvals` lists it.
pub fn interrupted(records: &[Record]) -> Vec<Interrupted> {
    let mut open: Vec<Interrupted> = Vec::new();
    for r in records {
        let (Some(env), Some(service)) = (r.draft.env.clone(), r.draft.service.clone()) else {
            continue;
        };
        let pos = open
            .iter()
            .position(|i| i.env == env && i.service == service);
        if ends_action(r.kind) {
            if let Some(p) = pos {
                open.remove(p);
            }
        } else if is_start(r.kind)
            || (pos.is_some()
                && !matches!(
                    r.kind,
                    // Neither ends the action nor is its last step: a watch
                    // that stopped leaves it open, to be resumed.
                    RecordKind::RevisionMarkedStable | RecordKind::WatchInterrupted
                ))
        {
            match pos {
                Some(p) => open[p].last = r.clone(),
                None => open.push(Interrupted {
                    env,
                    service,
                    last: r.clone(),
                }),
            }
        }
    }
    open.retain(|i| {
        matches!(
            i.last.kind,
            RecordKind::DeployIssued | RecordKind::RollbackIssued
        )
    });
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_stopped_by_a_signal_leaves_its_action_open_to_resume() {
        let dir = tempfile::tempdir().unwrap();
        let l = crate::ledger::Ledger::new(dir.path().join("l.jsonl"));
        let d = || crate::ledger::Draft {
            operator: "alice".into(),
            env: Some("prod".into()),
            service: Some("api".into()),
            ..crate::ledger::Draft::default()
        };
        let t = chrono::Utc::now();
        l.append(RecordKind::DeployIssued, d(), t).unwrap();
        l.append(RecordKind::WatchInterrupted, d(), t).unwrap();
        let open = interrupted(&l.read().unwrap());
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].last.kind, RecordKind::DeployIssued);
        assert_eq!(open[0].what(), "promotion");
    }

    fn d(env: &str) -> Draft {
        Draft {
            operator: "alice".into(),
            env: Some(env.into()),
            service: Some("api".into()),
            ..Draft::default()
        }
    }

    #[test]
    fn previous_stable_skips_the_current_revision() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path().join("l"));
        let t = Utc::now();
        mark(&l, "a", "prod", "api", "api:3", "sha256:c", t).unwrap();
        mark(&l, "a", "prod", "api", "api:4", "sha256:d", t).unwrap();
        mark(&l, "a", "staging", "api", "api:9", "sha256:z", t).unwrap();
        let recs = l.read().unwrap();
        assert_eq!(
            previous_stable(&recs, "prod", "api", "api:4")
                .unwrap()
                .revision,
            "api:3"
        );
        assert_eq!(
            previous_stable(&recs, "prod", "api", "api:5")
                .unwrap()
                .revision,
            "api:4"
        );
        assert_eq!(previous_stable(&recs, "dev", "api", "api:1"), None);
    }

    #[test]
    fn a_deploy_without_outcome_is_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path().join("l"));
        let t = Utc::now();
        l.append(RecordKind::PromotionStarted, d("staging"), t)
            .unwrap();
        l.append(RecordKind::DeployIssued, d("staging"), t).unwrap();
        l.append(RecordKind::DeploySucceeded, d("staging"), t)
            .unwrap();
        l.append(RecordKind::PromotionStarted, d("prod"), t)
            .unwrap();
        l.append(RecordKind::Approval, d("prod"), t).unwrap();
        l.append(RecordKind::DeployIssued, d("prod"), t).unwrap();
        let recs = l.read().unwrap();
        let open = interrupted(&recs);
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].env, "prod");
        assert_eq!(open[0].last.kind, RecordKind::DeployIssued);
        l.append(RecordKind::Aborted, d("prod"), t).unwrap();
        assert!(interrupted(&l.read().unwrap()).is_empty());
    }

    #[test]
    fn a_request_waiting_for_approvals_is_not_an_interruption() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path().join("l"));
        let t = Utc::now();
        l.append(RecordKind::PromotionStarted, d("prod"), t)
            .unwrap();
        l.append(RecordKind::Approval, d("prod"), t).unwrap();
        assert!(interrupted(&l.read().unwrap()).is_empty());
        l.append(RecordKind::DeployIssued, d("prod"), t).unwrap();
        let open = interrupted(&l.read().unwrap());
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].last.kind, RecordKind::DeployIssued);
        l.append(RecordKind::DeploySucceeded, d("prod"), t).unwrap();
        assert!(interrupted(&l.read().unwrap()).is_empty());
    }
}
