//! The ledger records that close a watch.

use chrono::{DateTime, Utc};

use crate::ledger::{Draft, RecordKind};

use super::{OpKind, Step, Watch};

/// The ledger records that close a watch with `step` (plus the stable mark on success).
pub fn closing_records(
    w: &Watch,
    step: &Step,
    operator: &str,
    now: DateTime<Utc>,
) -> Vec<(RecordKind, Draft)> {
    let mut d = w.draft(operator);
    d.duration_ms = u64::try_from((now - w.issued_at).num_milliseconds()).ok();
    let deploy = w.kind == OpKind::Deploy;
    match step {
        Step::Continue => Vec::new(),
        Step::Succeeded => {
            d.outcome = Some("succeeded".to_string());
            d.reasons.extend(
                w.after_stable
                    .iter()
                    .map(|i| format!("now due (after stable): {i}")),
            );
            let mut out = vec![(
                if deploy {
                    RecordKind::DeploySucceeded
                } else {
                    RecordKind::RollbackSucceeded
                },
                d.clone(),
            )];
            if d.to_revision.is_some() && d.to_digest.is_some() {
                out.push((
                    RecordKind::RevisionMarkedStable,
                    Draft {
                        operator: d.operator.clone(),
                        env: d.env.clone(),
                        service: d.service.clone(),
                        promotion: d.promotion.clone(),
                        to_revision: d.to_revision.clone(),
                        to_digest: d.to_digest.clone(),
                        ..Draft::default()
                    },
                ));
            }
            out
        }
        Step::Unknown(why) => {
            d.outcome = Some("unknown".to_string());
            d.reasons.push(why.clone());
            let kind = if deploy {
                RecordKind::DeployUnverified
            } else {
                RecordKind::RollbackUnverified
            };
            vec![(kind, d)]
        }
        Step::ChangedOutside(found) => {
            d.outcome = Some("changed_outside".to_string());
            d.reasons.push(format!("changed outside shipdeck: {found}"));
            let kind = if deploy {
                RecordKind::DeployFailed
            } else {
                RecordKind::RollbackFailed
            };
            vec![(kind, d)]
        }
        Step::Failed(why) | Step::Abort(why) => {
            let aborted = deploy && matches!(step, Step::Abort(_));
            d.outcome = Some(if aborted { "aborted" } else { "failed" }.to_string());
            d.reasons.push(why.clone());
            let kind = match (deploy, aborted) {
                (true, true) => RecordKind::Aborted,
                (true, false) => RecordKind::DeployFailed,
                (false, _) => RecordKind::RollbackFailed,
            };
            vec![(kind, d)]
        }
    }
}
