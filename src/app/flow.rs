//! The mutating flows on screen: the promotion wizard, the rollback dialog,
//! the deploy watch and the interrupted-actions dialog, one file each. They hold
//! only what the screen needs; every decision is the release engine's
//! ([`crate::release::engine`]), and every effect leaves as a [`Command`].

mod interrupted;
mod rollback;
mod watch;
mod wizard;

use super::keys::{Action, Context, Key, KeyCode};
use super::{App, Command, Level};
use crate::config::EnvId;
use crate::model::{Freshness, ServiceSnapshot};
use crate::release::Effect;

pub use interrupted::{InterruptedDialog, interrupted_key};
pub(super) use rollback::dialog as rollback_dialog;
pub use rollback::{RollbackDialog, open_rollback, rollback_key};
pub use watch::{
    Phase, WatchView, interrupt, on_closed, on_issued, on_reading, on_step_decided,
    on_step_records, on_tick, watch_key,
};
pub use wizard::{Field, Row, Wizard, on_supply, open_wizard, refresh_gate, wizard_key};

/// Longest text typed into a wizard field.
const FIELD_MAX: usize = 128;
/// Readings older than this many refresh intervals never pass a gate.
const FRESH_INTERVALS: i32 = 3;

/// The mutating flow on screen, if any.
#[derive(Debug, Clone)]
pub enum Flow {
    /// The promotion wizard.
    Wizard(Box<Wizard>),
    /// The rollback dialog.
    Rollback(Box<RollbackDialog>),
    /// A watched deploy or rollback.
    Watch(Box<WatchView>),
    /// Unfinished actions found at start-up.
    Interrupted(Box<InterruptedDialog>),
}

/// Whether an environment's reading is current enough for a gate.
pub fn is_fresh(app: &App, env: EnvId) -> bool {
    let Some(e) = app.envs.get(env.index()) else {
        return false;
    };
    match e.freshness {
        Freshness::Ready { at } => {
            let limit = super::chrono_dur(app.cfg.refresh_interval) * FRESH_INTERVALS;
            app.now - at <= limit.max(chrono::Duration::seconds(30))
        }
        _ => false,
    }
}

fn snap<'a>(app: &'a App, env: EnvId, service: &str) -> Option<&'a ServiceSnapshot> {
    app.envs
        .get(env.index())?
        .snapshot
        .as_ref()?
        .service(service)
}

fn next_op(app: &mut App) -> u64 {
    let op = app.next_request;
    app.next_request += 1;
    op
}

/// Why a new mutation cannot start: read-only, or one is being watched.
fn blocked(app: &App) -> Option<String> {
    if let Some(why) = super::mutation_blocked(app) {
        return Some(why);
    }
    match &app.flow {
        Some(Flow::Watch(v)) if v.phase != Phase::Done => Some(format!(
            "a {} of {} in {} is being watched; press {} to show it",
            v.watch.kind.noun(),
            v.watch.service,
            v.watch.env_name,
            app.keymap.label(super::keys::Action::ShowWatch)
        )),
        _ => None,
    }
}

fn printable(key: Key) -> Option<char> {
    match key.code {
        KeyCode::Char(c) if !key.ctrl && !key.alt && !c.is_control() => Some(c),
        _ => None,
    }
}

/// What `key` means in a dialog's context, from the key map. Where the dialog
/// takes text, a printable key is text, never an action.
fn action(app: &App, key: Key, ctx: Context) -> Option<Action> {
    if ctx.is_typing() && printable(key).is_some() {
        return None;
    }
    app.keymap.action(key, ctx)
}

/// The engine's effects as the console's commands. An issue gets a fresh
/// operation id, which the watch on screen then answers to.
fn commands(app: &mut App, effects: Vec<Effect>) -> Vec<Command> {
    effects
        .into_iter()
        .map(|e| match e {
            Effect::Record { kind, draft } => Command::Record { kind, draft },
            Effect::Release { env, service } => Command::Release { env, service },
            Effect::Issue {
                env,
                service,
                issue,
                draft,
            } => {
                let op = next_op(app);
                if let Some(Flow::Watch(v)) = &mut app.flow {
                    v.op = op;
                }
                Command::Issue {
                    op,
                    env,
                    service,
                    issue,
                    draft,
                }
            }
        })
        .collect()
}

/// A record this process wrote.
pub fn on_recorded(app: &mut App, result: Result<Box<crate::ledger::Record>, String>) {
    match result {
        Ok(r) => {
            app.add_records(vec![*r]);
            refresh_gate(app);
        }
        Err(e) => app.say(Level::Warn, format!("AUDIT: {e}")),
    }
}

/// Whether a deploy or rollback is being watched.
pub fn watch_running(app: &App) -> bool {
    matches!(&app.flow, Some(Flow::Watch(v)) if v.phase != Phase::Done)
}

/// Leaves the console; a promotion waiting in the wizard is closed in the ledger first.
pub fn quit(app: &mut App) -> Vec<Command> {
    app.quitting = true;
    let mut cmds = match &app.flow {
        Some(Flow::Wizard(w)) => {
            let w = (**w).clone();
            wizard::close(app, &w, "console closed with the wizard open")
        }
        _ => Vec::new(),
    };
    cmds.push(Command::Quit);
    cmds
}
