//! The automatic rollback after an aborted deploy, watched like any deploy.

use chrono::{DateTime, Utc};

use super::{OpKind, Watch};
use crate::ledger::Draft;
use crate::model::{Digest, Revision};

impl Watch {
    /// After an aborted deploy: the watch of the rollback to the revision that ran
    /// before, the revision, and its `RollbackIssued` draft. `None` when that
    /// revision is unknown.
    pub fn rollback_after_abort(
        &self,
        operator: &str,
        why: &str,
        now: DateTime<Utc>,
    ) -> Option<(Self, Revision, Draft)> {
        let from = self.from.clone()?;
        let rb = self.way_back(now);
        let mut draft = rb.draft(operator);
        draft.to_revision = Some(from.to_string());
        draft
            .reasons
            .push(format!("automatic rollback after abort: {why}"));
        Some((rb, from, draft))
    }

    /// After an aborted deploy on a platform that rolls back by redeploying
    /// ([`crate::provider::RollbackStyle::Redeploy`]): the watch of the deploy
    /// of the digest that ran before, that digest, and its `RollbackIssued`
    /// draft, without a revision (the platform mints a new one, and the
    /// watch adopts it from a reading). `None` when that digest is unknown.
    pub fn redeploy_after_abort(
        &self,
        operator: &str,
        why: &str,
        now: DateTime<Utc>,
    ) -> Option<(Self, Digest, Draft)> {
        let from = self.from_digest.clone()?;
        let rb = self.way_back(now);
        let mut draft = rb.draft(operator);
        draft.reasons.push(format!(
            "automatic rollback after abort, by deploying the digest that ran before again: {why}"
        ));
        Some((rb, from, draft))
    }

    /// The watch of the way back from this one, not yet issued.
    fn way_back(&self, now: DateTime<Utc>) -> Self {
        let mut rb = self.clone();
        rb.kind = OpKind::Rollback;
        rb.automatic = true;
        rb.from.clone_from(&self.to);
        rb.from_digest.clone_from(&self.to_digest);
        rb.to = None;
        rb.to_digest.clone_from(&self.from_digest);
        rb.change = None;
        rb.deployment_id = None;
        rb.issued = false;
        rb.issued_at = now;
        rb.completed_at = None;
        rb.healthy_since = None;
        rb.unhealthy_since = None;
        rb.outcome = None;
        // Alarms that fired during the bad deploy must not abort the way back.
        rb.firing_before = Vec::new();
        rb.policy.abort_on_alarm = false;
        // …nor the metrics it spoiled.
        rb.rules = Vec::new();
        rb.blind = Vec::new();
        rb.progress = "issuing rollback…".to_string();
        rb.stage = "issuing";
        rb
    }
}
