//! Promotions and rollbacks a previous run left unfinished: resume watching,
//! or roll back.

use super::super::keys::{Action, Context, Key};
use super::{App, Command, Flow, action, snap, watch::start_view};
use crate::app::Level;
use crate::config::EnvId;
use crate::ledger::RecordKind;
use crate::model::{Digest, Revision};
use crate::release::{OpKind, Watch};

/// A promotion or rollback a previous run left unfinished.
#[derive(Debug, Clone, PartialEq)]
pub struct InterruptedDialog {
    /// The unfinished actions.
    pub items: Vec<crate::stable::Interrupted>,
}

/// Keys in the interrupted-actions dialog.
pub fn interrupted_key(app: &mut App, key: Key) -> Vec<Command> {
    let Some(Flow::Interrupted(d)) = &app.flow else {
        return Vec::new();
    };
    let Some(first) = d.items.first().cloned() else {
        app.flow = None;
        return Vec::new();
    };
    let rest: Vec<_> = d.items[1..].to_vec();
    let env = app.cfg.env_index(&first.env);
    let next = |app: &mut App| {
        app.flow = (!rest.is_empty()).then(|| {
            Flow::Interrupted(Box::new(InterruptedDialog {
                items: rest.clone(),
            }))
        });
    };
    match action(app, key, Context::Interrupted) {
        Some(Action::Skip) => next(app),
        Some(Action::Resume) => {
            let Some(env) = env else {
                app.say(
                    Level::Warn,
                    format!("environment \"{}\" is not configured", first.env),
                );
                return Vec::new();
            };
            return resume(app, env, &first);
        }
        Some(Action::RollBackInterrupted) => {
            let Some(env) = env else {
                return Vec::new();
            };
            if snap(app, env, &first.service).is_none() {
                app.say(
                    Level::Info,
                    "waiting for the first reading; try again in a moment",
                );
                return Vec::new();
            }
            return crate::app::histories::rollback_when_read(app, env, &first.service);
        }
        _ => {}
    }
    Vec::new()
}

/// Watches an unfinished action again, from its last record.
fn resume(app: &mut App, env: EnvId, first: &crate::stable::Interrupted) -> Vec<Command> {
    let last = &first.last;
    // A deploy's revision is known once the platform accepted it: find it by
    // digest. A platform that names it only later (a controller applying a
    // commit) has none yet: then the watch follows the digest.
    let to = last
        .draft
        .to_revision
        .as_deref()
        .and_then(Revision::parse)
        .or_else(|| {
            let digest = last.draft.to_digest.as_deref()?;
            snap(app, env, &first.service)?
                .history
                .iter()
                .rev()
                .find(|h| h.digest.as_ref().is_some_and(|d| d.as_str() == digest))
                .map(|h| h.task_definition.clone())
        });
    let digest = last
        .draft
        .to_digest
        .as_deref()
        .and_then(|d| Digest::parse(d).ok());
    if to.is_none() {
        // The deploy's revision may be in the history: read it if the reading left it out.
        if let Some(cmd) = crate::app::histories::request(app, env, &first.service, false) {
            app.say(
                Level::Info,
                "reading the revisions to find the deployed one; press again in a moment",
            );
            return vec![cmd];
        }
        if digest.is_none() {
            app.say(
                Level::Warn,
                "no revision or digest to watch: nothing was deployed, or no reading yet (try again in a moment)",
            );
            return Vec::new();
        }
    }
    let kind = if last.kind == RecordKind::RollbackIssued {
        OpKind::Rollback
    } else {
        OpKind::Deploy
    };
    let mut watch = Watch::new(
        &app.cfg,
        kind,
        env,
        &first.service,
        last.draft.promotion.as_deref().unwrap_or("resumed"),
        None,
        digest,
        app.now,
    );
    watch.from = last
        .draft
        .from_revision
        .as_deref()
        .and_then(Revision::parse);
    watch.from_digest = last
        .draft
        .from_digest
        .as_deref()
        .and_then(|d| Digest::parse(d).ok());
    // No revision yet: follow the digest until a reading names it.
    watch.accepted(to, None, None);
    let text = format!(
        "resumed watching {} of {} in {}",
        last.kind.as_str(),
        first.service,
        first.env
    );
    start_view(app, watch, &text);
    Vec::new()
}
