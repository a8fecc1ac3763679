//! The rollback dialog: now → the previous stable revision, and its
//! confirmation.

use super::super::keys::{Action, Context, Key, KeyCode};
use super::{
    App, Command, FIELD_MAX, Flow, action, blocked, commands, printable, snap, watch::start_view,
};
use crate::app::Level;
use crate::config::Confirm;
use crate::config::EnvId;
use crate::model::{Digest, Revision};
use crate::release::{self, RollbackTarget};

/// The rollback dialog.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackDialog {
    /// Environment.
    pub env: EnvId,
    /// Service.
    pub service: String,
    /// Revision now.
    pub current: Option<Revision>,
    /// Digest now.
    pub current_digest: Option<Digest>,
    /// Where it goes.
    pub target: RollbackTarget,
    /// What was typed (type-to-confirm environments).
    pub typed: String,
    /// An ECS blue/green bake is under way (rollback shifts traffic back).
    pub during_bake: bool,
}

/// `r` on a cell: opens the rollback dialog (once the cell's revision
/// history is read, where readings leave it out).
pub fn open_rollback(app: &mut App) -> Vec<Command> {
    if let Some(why) = blocked(app) {
        app.say(Level::Warn, format!("cannot roll back: {why}"));
        return Vec::new();
    }
    let Some(service) = app.selected_service().map(str::to_string) else {
        return Vec::new();
    };
    crate::app::histories::rollback_when_read(app, app.col, &service)
}

/// Opens the dialog for `service` in `env` (also from the interrupted dialog).
pub(crate) fn dialog(app: &mut App, env: EnvId, service: &str) {
    let Some(s) = snap(app, env, service).cloned() else {
        app.say(
            Level::Warn,
            format!("cannot roll back: no reading of {service} yet"),
        );
        return;
    };
    let env_name = app.cfg.environments[env].name.clone();
    let style = release::rollback_style(&app.cfg.environments[env], service);
    match release::rollback_target(&app.records, &env_name, &s, style) {
        Ok(target) => {
            let during_bake = matches!(
                s.deployment_config.strategy,
                crate::model::Strategy::BlueGreen { .. }
                    | crate::model::Strategy::Canary { .. }
                    | crate::model::Strategy::Linear { .. }
            ) && s.rollout() == crate::model::RolloutState::InProgress;
            app.flow = Some(Flow::Rollback(Box::new(RollbackDialog {
                env,
                service: service.to_string(),
                current: s.task_definition.clone(),
                current_digest: s.digest.clone(),
                target,
                typed: String::new(),
                during_bake,
            })));
        }
        Err(e) => app.say(Level::Warn, format!("cannot roll back: {e}")),
    }
}

/// Keys in the rollback dialog.
pub fn rollback_key(app: &mut App, key: Key) -> Vec<Command> {
    let Some(Flow::Rollback(d)) = &app.flow else {
        return Vec::new();
    };
    let mut d = (**d).clone();
    let env_name = app.cfg.environments[d.env].name.clone();
    let mode = app.cfg.environments[d.env].confirm;
    match action(app, key, Context::Confirm) {
        Some(Action::Cancel) => {
            app.flow = None;
            app.say(Level::Info, "rollback cancelled; nothing changed");
            return Vec::new();
        }
        Some(Action::Accept) => {
            if mode == Confirm::Enter || d.typed == env_name {
                return confirm(app, &d);
            }
            app.say(
                Level::Warn,
                format!("type \"{env_name}\" exactly to confirm"),
            );
        }
        _ if key.code == KeyCode::Backspace => {
            d.typed.pop();
        }
        _ => {
            if let (Some(c), Confirm::Type) = (printable(key), mode)
                && d.typed.chars().count() < FIELD_MAX
            {
                d.typed.push(c);
            }
        }
    }
    app.flow = Some(Flow::Rollback(Box::new(d)));
    Vec::new()
}

fn confirm(app: &mut App, d: &RollbackDialog) -> Vec<Command> {
    let before = snap(app, d.env, &d.service).cloned();
    let (watch, effects) = release::start_rollback(
        &app.cfg,
        d.env,
        &d.service,
        before.as_ref(),
        &d.target,
        &app.operator,
        app.now,
    );
    let text = format!(
        "rollback of {} in {} to {} confirmed by {}",
        d.service, watch.env_name, d.target.revision, app.operator
    );
    start_view(app, watch, &text);
    commands(app, effects)
}
