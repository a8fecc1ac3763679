//! The shift of a Fly run in flight, as the board shows it: the canary
//! machine, then a batch at a time, each step's weight the share of the
//! service's machines updated by its end.

use super::Judged;
use crate::model::shift::{ALL, Pause, Shift};
use crate::platforms::fly::api::RunView;

/// The shift a run in flight stands at: the canary, then batches, as the
/// share of machines updated.
pub(super) fn shift(run: &RunView, batch: usize, judged: &[Judged<'_>]) -> Shift {
    let total = run.total.max(1);
    let batch = batch.max(1);
    // Machines updated after each step: the canary (none for a rollback),
    // then a batch at a time.
    let mut counts = Vec::new();
    let mut n = 0;
    if !run.rollback {
        n = 1;
        counts.push(1);
    }
    while n < total {
        n = (n + batch).min(total);
        counts.push(n);
    }
    let share = |k: usize| {
        if k >= total {
            ALL
        } else {
            u32::try_from(k * ALL as usize / total).unwrap_or(ALL)
        }
    };
    let weights: Vec<u32> = counts.iter().map(|k| share(*k)).collect();
    let done = run.updated.len();
    let step = counts.iter().position(|k| *k >= done.max(1)).unwrap_or(0) + 1;
    // The region(s) of the machines of the current step: the cell says where.
    let first = counts.get(step.saturating_sub(2)).copied().unwrap_or(0);
    let mut regions: Vec<String> = run
        .updated
        .iter()
        .skip(if step == 1 { 0 } else { first })
        .filter_map(|id| judged.iter().find(|j| &j.m.id == id))
        .map(|j| crate::model::sanitize(&j.m.region))
        .collect();
    regions.dedup();
    let stage = if regions.is_empty() {
        if run.rollback {
            "ROLLING BACK"
        } else {
            "CANARY"
        }
        .to_string()
    } else {
        regions.join(",")
    };
    let step = u32::try_from(step).unwrap_or(u32::MAX);
    Shift {
        kind: if run.rollback { "rollback" } else { "canary" }.to_string(),
        deployment: run.id.clone(),
        new_weight: share(done),
        weights,
        step,
        started: vec![run.started],
        stage,
        ends_at: None,
        // A pause never times out: shipdeck waits for a person.
        pause: run.paused_since.map(|_| Pause {
            hook: format!("{}/{step}", run.id),
            expires_at: None,
            timeout_action: None,
        }),
        revisions: Vec::new(),
    }
}
