//! Stable means still true at the end: what a watch switched to, compared
//! with what a reading finds serving. A change made outside shipdeck since
//! the switch (an `UpdateService` by hand, a proxy switched back by hand,
//! listener weights set by hand) ends the watch as changed outside, saying
//! what was found; it is never a success and never rolled back over.
//!
//! The readings carry what serves: ECS's primary deployment and the service's
//! task definition; a proxy environment's live colour and listener weights,
//! re-read with every reading (a run whose switch was undone is then no longer
//! the primary deployment). Nothing here reads anything.

use crate::model::{Deployment, DeploymentRole, Revision, ServiceSnapshot};

/// The watched deployment is no longer the primary one: another one replaced
/// it since the switch. What was found, when so.
pub(super) fn replaced(ours: &Deployment, s: &ServiceSnapshot, to: &Revision) -> Option<String> {
    if ours.role == DeploymentRole::Primary {
        return None;
    }
    let primary = s
        .deployments
        .iter()
        .find(|d| d.role == DeploymentRole::Primary && d.id != ours.id)?;
    Some(format!(
        "{} is the primary deployment now, not {to}{} (deployment {} replaced {})",
        primary.task_definition,
        primary
            .reason
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(|r| format!(": {r}"))
            .unwrap_or_default(),
        primary.id,
        ours.id
    ))
}

/// What the service runs is not what was switched to. Asked once the rollout
/// completed, up to the success itself: what was true at the switch must
/// still be true at the end.
pub(super) fn not_serving(s: &ServiceSnapshot, to: &Revision) -> Option<String> {
    let runs = s.task_definition.as_ref()?;
    (!runs.same_revision(to)).then(|| format!("{runs} is what runs now, not {to}"))
}
