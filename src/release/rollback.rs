//! Where a rollback goes, as the platform's rollback style says: the
//! previous stable revision, else the newest older ACTIVE one (unverified);
//! the other slot; or the previous stable digest, deployed again. And the
//! watch of a confirmed rollback.

use chrono::{DateTime, Utc};

use crate::config::{Config, EnvId};
use crate::ledger::{Draft, Record};
use crate::model::{Digest, Revision, ServiceSnapshot};
use crate::provider::RollbackStyle;

use super::exec::RollbackTo;
use super::{OpKind, PlanError, Watch};

/// Where a rollback would go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackTarget {
    /// The revision.
    pub revision: Revision,
    /// Its digest, if known.
    pub digest: Option<Digest>,
    /// From shipdeck's stable records (true) or only the newest older ACTIVE revision.
    pub verified: bool,
    /// When it was marked stable.
    pub stable_at: Option<DateTime<Utc>>,
    /// Why the stable revision in the records was passed over (not ACTIVE here).
    pub passed_over: Option<String>,
    /// The target is newer than the revision that runs: a roll forward.
    pub roll_forward: bool,
    /// How the platform goes back to it: by this revision, or (a platform
    /// that redeploys) by deploying this digest again, when `revision` is
    /// only the one it ran as when marked stable.
    pub style: RollbackStyle,
}

impl RollbackTarget {
    /// What issuing this rollback asks the platform for. A redeploy target
    /// always carries its digest: it was chosen by it.
    pub fn issue(&self) -> RollbackTo {
        match (&self.style, &self.digest) {
            (RollbackStyle::Redeploy, Some(d)) => RollbackTo::Digest(d.clone()),
            _ => RollbackTo::Revision(self.revision.clone()),
        }
    }

    /// The same in few words, for the detail pane's one line.
    pub fn short_label(&self) -> String {
        if let Some(c) = self.revision.label() {
            return if self.verified {
                format!("switch back to {c} (marked stable)")
            } else {
                format!("UNVERIFIED: switch back to {c} (not marked stable with this digest)")
            };
        }
        match (self.roll_forward, self.verified, &self.passed_over) {
            (true, _, _) => "ROLL FORWARD: newer than the running revision".to_string(),
            (false, true, _) => "previous stable revision".to_string(),
            (false, false, None) => "UNVERIFIED: newest older ACTIVE revision".to_string(),
            (false, false, Some(_)) => {
                "UNVERIFIED: stable revision not ACTIVE; newest older ACTIVE".to_string()
            }
        }
    }

    /// What kind of target this is, the one way the dialog, the CLI and the
    /// record say it.
    pub fn label(&self) -> String {
        if self.revision.label().is_some() {
            return self.short_label();
        }
        let kind = if self.verified {
            "previous stable revision".to_string()
        } else {
            match &self.passed_over {
                Some(why) => format!("UNVERIFIED: {why}; newest older ACTIVE revision"),
                None => "UNVERIFIED: no stable record; newest older ACTIVE revision".to_string(),
            }
        };
        if self.roll_forward {
            format!("ROLL FORWARD to a newer revision than the one running ({kind})")
        } else {
            kind
        }
    }
}

/// What confirming a rollback to `target` does, in one sentence in the
/// platform's words: the one wording of the console's dialog and of
/// `shipdeck rollback`.
pub fn rollback_effect(
    env: &crate::config::EnvConfig,
    service: &str,
    target: &RollbackTarget,
) -> String {
    env.service(service).map_or_else(
        || {
            format!(
                "{service} goes back to {}, then it is watched like a deploy.",
                target.revision
            )
        },
        |svc| crate::platforms::rollback_words(env, svc, &target.revision),
    )
}

/// How the platform `service` runs on in `env` rolls back, as the platform
/// declares it ([`crate::platforms::capabilities`]).
pub fn rollback_style(env: &crate::config::EnvConfig, service: &str) -> RollbackStyle {
    crate::platforms::capabilities(crate::platforms::kind_of(env, service)).rollback
}

/// The rollback target of a service, by its platform's rollback `style`
/// ([`rollback_style`]): numbered revisions go to the previous stable
/// revision from the records, else the newest older revision that is still
/// ACTIVE (unverified); slots switch to the other one; a platform that
/// redeploys goes back to the previous stable digest.
pub fn rollback_target(
    records: &[Record],
    env: &str,
    snap: &ServiceSnapshot,
    style: RollbackStyle,
) -> Result<RollbackTarget, PlanError> {
    if style == RollbackStyle::Redeploy {
        if let Some(why) = snap.deployment_config.strategy.refusal(&snap.name) {
            return Err(PlanError(format!("nothing was changed: {why}")));
        }
        return redeploy_target(records, env, snap);
    }
    let Some(current) = &snap.task_definition else {
        return Err(PlanError(format!(
            "the revision {} runs in \"{env}\" is unknown; nothing to roll back from",
            snap.name
        )));
    };
    if let Some(why) = snap.deployment_config.strategy.refusal(&snap.name) {
        return Err(PlanError(format!("nothing was changed: {why}")));
    }
    if style == RollbackStyle::Slots {
        return slot_target(records, env, snap, current);
    }
    let find = |rev: &Revision| {
        snap.history
            .iter()
            .find(|h| h.task_definition.same_revision(rev))
    };
    let mut passed_over = None;
    if let Some(s) = crate::stable::previous_stable(records, env, &snap.name, &current.to_string())
        && let Some(stable) = Revision::parse(&s.revision)
    {
        let known = find(&stable);
        // A read history lists the ACTIVE revisions: a stable revision missing
        // from it was deregistered (or is too old to be listed), and ECS would
        // refuse it. Only an unread history leaves it to ECS to say.
        let usable = match known {
            Some(h) => h.active,
            None => snap.history.is_empty(),
        };
        if usable {
            let roll_forward = current.older_than(&stable);
            return Ok(RollbackTarget {
                revision: known.map_or(stable, |h| h.task_definition.clone()),
                digest: Digest::parse(&s.digest).ok(),
                verified: true,
                stable_at: Some(s.at),
                passed_over: None,
                roll_forward,
                style: RollbackStyle::Revisions,
            });
        }
        passed_over = Some(format!(
            "the stable revision {stable} is not ACTIVE here (deregistered, or never registered)"
        ));
    }
    snap.history
        .iter()
        .filter(|h| {
            h.active && h.task_definition.older_than(current)
        })
        .max_by_key(|h| h.task_definition.number())
        .map(|h| RollbackTarget {
            revision: h.task_definition.clone(),
            digest: h.digest.clone(),
            verified: false,
            stable_at: None,
            passed_over: passed_over.clone(),
            roll_forward: false,
            style: RollbackStyle::Revisions,
        })
        .ok_or_else(|| {
            PlanError(format!(
                "{} of {} in \"{env}\" and no older ACTIVE revision than {current}: nothing to roll back to",
                passed_over
                    .clone()
                    .unwrap_or_else(|| "no known stable revision".to_string()),
                snap.name
            ))
        })
}

/// Labelled revisions have no order (two colours behind a proxy): a
/// rollback switches back to the other one the platform lists, which must
/// still answer (kept warm). It is verified when the ledger marked that
/// revision stable with the digest it serves now.
fn slot_target(
    records: &[Record],
    env: &str,
    snap: &ServiceSnapshot,
    current: &Revision,
) -> Result<RollbackTarget, PlanError> {
    let Some(idle) = snap.history.iter().find(|h| {
        h.task_definition.family == current.family && !h.task_definition.same_revision(current)
    }) else {
        return Err(PlanError(format!(
            "the revision of {} in \"{env}\" other than {current} is unknown: nothing to switch back to",
            snap.name
        )));
    };
    let other = idle.task_definition.clone();
    if !idle.active {
        return Err(PlanError(format!(
            "{other} does not answer (not kept warm): switching back to it would send traffic nowhere"
        )));
    }
    let stable = crate::stable::previous_stable(records, env, &snap.name, &current.to_string());
    let verified = stable.as_ref().is_some_and(|s| {
        s.revision == other.to_string()
            && idle.digest.as_ref().is_some_and(|d| d.as_str() == s.digest)
    });
    Ok(RollbackTarget {
        revision: other,
        digest: idle.digest.clone(),
        verified,
        stable_at: stable.filter(|_| verified).map(|s| s.at),
        passed_over: None,
        roll_forward: false,
        style: RollbackStyle::Slots,
    })
}

/// A platform that redeploys an image gives the old artifact a new, higher
/// revision: the target is a digest, never a lower number. The newest digest
/// the records marked stable other than the one that runs (by digest, not
/// revision: a redeploy runs an old digest under a new revision), else,
/// unverified, the newest other digest the platform lists (by its order,
/// newest last, never by number).
fn redeploy_target(
    records: &[Record],
    env: &str,
    snap: &ServiceSnapshot,
) -> Result<RollbackTarget, PlanError> {
    let Some(running) = &snap.digest else {
        return Err(PlanError(format!(
            "the digest {} runs in \"{env}\" is unknown; this platform rolls back by digest, so there is nothing to go back from",
            snap.name
        )));
    };
    let stable = crate::stable::history(records, env, &snap.name)
        .into_iter()
        .filter(|s| s.digest != running.as_str())
        .find_map(|s| {
            Some((
                Digest::parse(&s.digest).ok()?,
                Revision::parse(&s.revision)?,
                s.at,
            ))
        });
    if let Some((digest, revision, at)) = stable {
        return Ok(RollbackTarget {
            revision,
            digest: Some(digest),
            verified: true,
            stable_at: Some(at),
            passed_over: None,
            roll_forward: false,
            style: RollbackStyle::Redeploy,
        });
    }
    snap.history
        .iter()
        .rev()
        .find(|h| h.digest.as_ref().is_some_and(|d| d != running))
        .map(|h| RollbackTarget {
            revision: h.task_definition.clone(),
            digest: h.digest.clone(),
            verified: false,
            stable_at: None,
            passed_over: None,
            roll_forward: false,
            style: RollbackStyle::Redeploy,
        })
        .ok_or_else(|| {
            PlanError(format!(
                "no digest of {} in \"{env}\" other than {} is marked stable or listed: nothing to roll back to",
                snap.name,
                running.short()
            ))
        })
}

/// A confirmed rollback of `service` in environment `env` to `target`: the watch
/// (with `before` as its baseline) and the `RollbackIssued` draft.
#[allow(clippy::too_many_arguments)]
pub fn rollback_start(
    cfg: &Config,
    env: EnvId,
    service: &str,
    promotion: &str,
    before: Option<&ServiceSnapshot>,
    target: &RollbackTarget,
    operator: &str,
    now: DateTime<Utc>,
) -> (Watch, Draft) {
    let watch = Watch::new(
        cfg,
        OpKind::Rollback,
        env,
        service,
        promotion,
        before,
        target.digest.clone(),
        now,
    );
    let mut draft = watch.draft(operator);
    // A redeploy's revision is minted by the platform: recorded once a
    // reading shows it, never guessed here.
    draft.to_revision =
        (target.style != RollbackStyle::Redeploy).then(|| target.revision.to_string());
    draft
        .reasons
        .push(match (target.verified, &target.passed_over) {
            _ if target.style == RollbackStyle::Redeploy => format!(
                "rollback by deploying {} again ({})",
                target
                    .digest
                    .as_ref()
                    .map_or_else(|| "?".to_string(), ToString::to_string),
                if target.verified {
                    "the previous stable digest"
                } else {
                    "unverified: no stable record; the newest other digest listed"
                }
            ),
            _ if target.roll_forward => format!("roll forward: {}", target.label()),
            (true, _) => "rollback to the previous stable revision".to_string(),
            (false, None) => {
                "rollback to the newest older ACTIVE revision (unverified: no stable record)"
                    .to_string()
            }
            (false, Some(_)) => format!("rollback to the {}", target.label()),
        });
    (watch, draft)
}
