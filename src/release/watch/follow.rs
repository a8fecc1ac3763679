//! Following what was promoted: a platform may know the new revision only
//! after the deploy call returned (a git commit that a controller applies
//! later). Until a reading shows it, the watch follows the promoted digest,
//! and the change id where the platform names one; it adopts the revision
//! from the first reading that shows both with it, and never makes one up.

use crate::model::{Revision, ServiceSnapshot};

use super::Watch;

impl Watch {
    /// The command was accepted: watch for `to` where the platform knew it,
    /// else follow the promoted digest (and `change`) until a reading shows
    /// the revision ([`Self::observe`] adopts it).
    pub fn accepted(
        &mut self,
        to: Option<Revision>,
        change: Option<String>,
        deployment_id: Option<String>,
    ) {
        self.issued = true;
        self.to = to;
        self.change = change;
        self.deployment_id = deployment_id;
        self.stage = "issued";
        self.progress = match &self.to {
            Some(to) => format!("rolling out {to}"),
            None => format!("following {}", self.followed()),
        };
    }

    /// What a watch without a revision follows, in words: the digest, and
    /// the change where there is one.
    pub fn followed(&self) -> String {
        let digest = self
            .to_digest
            .as_ref()
            .map_or_else(|| "no digest".to_string(), ToString::to_string);
        match &self.change {
            Some(c) => format!("{digest} (change {c})"),
            None => digest,
        }
    }

    /// Whether this reading shows what was promoted: its digest, and its
    /// change where the watch and the reading both name one. Nothing to
    /// follow (no digest, no change) is never a match.
    pub(super) fn shows_promoted(&self, s: &ServiceSnapshot) -> bool {
        let change = match (&self.change, &s.convergence.change) {
            (Some(ours), Some(read)) => Some(**read == **ours),
            _ => None,
        };
        match &self.to_digest {
            Some(d) => s.digest.as_ref() == Some(d) && change != Some(false),
            None => change == Some(true),
        }
    }

    /// Before the platform reported the revision: the deployment it started
    /// (found by its id) names it, or a reading that shows the promoted
    /// digest with a revision does. Until then `to` stays unknown.
    pub(super) fn adopt(&mut self, s: &ServiceSnapshot) {
        if self.to.is_some() {
            return;
        }
        let by_id = self
            .deployment_id
            .as_deref()
            .and_then(|id| s.deployments.iter().find(|d| d.id == id));
        if let Some(d) = by_id {
            self.to = Some(d.task_definition.clone());
        } else if self.shows_promoted(s) {
            self.to.clone_from(&s.task_definition);
        } else if let Some(d) = self.applied_change(s) {
            self.to = Some(d.task_definition.clone());
        }
    }

    /// The platform reports it applied our change (a controller synced the
    /// commit we pushed), and its primary deployment is a new revision: the
    /// one our change made, though it does not serve yet (a canary's first
    /// step), so the reading's own digest is still the old one.
    fn applied_change<'s>(&self, s: &'s ServiceSnapshot) -> Option<&'s crate::model::Deployment> {
        let ours = self.change.as_deref()?;
        if s.convergence.change.as_deref() != Some(ours) {
            return None;
        }
        s.deployments.iter().find(|d| {
            d.role == crate::model::DeploymentRole::Primary
                && d.rollout != crate::model::RolloutState::Unknown
                && self
                    .from
                    .as_ref()
                    .is_none_or(|f| !d.task_definition.same_revision(f))
        })
    }

    /// The deployment the platform started (found by its id) failed before
    /// it changed anything, while the revision is still unknown (a version
    /// that was never published): it names no new revision, so nothing is
    /// adopted from it, and the watch ends there with nothing to roll back.
    pub(super) fn failed_unchanged(&mut self, s: &ServiceSnapshot) -> Option<super::Step> {
        if self.to.is_some() {
            return None;
        }
        let id = self.deployment_id.as_deref()?;
        let d = s.deployments.iter().find(|d| d.id == id)?;
        if d.rollout != crate::model::RolloutState::Failed || !d.nothing_changed {
            return None;
        }
        let why = d.reason.clone().unwrap_or_else(|| "no reason given".into());
        let why = if why.contains("nothing was changed") {
            why
        } else {
            format!("{why} (nothing was changed: nothing to roll back)")
        };
        Some(self.end(super::Step::Failed(why)))
    }

    /// Where a watch without a revision stands, said in its progress line.
    pub(super) fn following(&mut self, s: &ServiceSnapshot) {
        self.stage = "following";
        self.progress = if self.shows_promoted(s) {
            format!(
                "{} applied; waiting for the platform to report its revision",
                self.followed()
            )
        } else {
            format!("waiting for {} to appear", self.followed())
        };
    }
}
