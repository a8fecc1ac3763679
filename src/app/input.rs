//! Keys on the board, the timeline and the popups: what each action does.

use super::keys::{Action, Context, Key, KeyCode};
use super::{App, Command, Flow, Level, Overlay, PAGE_ROWS, Pane, TimelineScope, flow};
use crate::config::EnvId;

pub(super) fn handle_key(app: &mut App, key: Key) -> Vec<Command> {
    app.dirty = true;
    if key == Key::ctrl('c') {
        return flow::quit(app);
    }
    match app.overlay.clone() {
        Overlay::Help | Overlay::Approvals | Overlay::Messages => {
            let action = app.keymap.action(key, Context::Global);
            if matches!(key.code, KeyCode::Esc | KeyCode::Enter)
                || matches!(
                    action,
                    Some(
                        Action::Help
                            | Action::Quit
                            | Action::Close
                            | Action::Approvals
                            | Action::Messages
                    )
                )
            {
                app.overlay = Overlay::None;
            } else if let Some(a) = action {
                app.views.popup.apply(a);
            }
            return Vec::new();
        }
        Overlay::Filter => {
            handle_filter_key(app, key);
            return Vec::new();
        }
        Overlay::EnvPicker(i) => {
            handle_picker_key(app, key, i);
            return Vec::new();
        }
        Overlay::None => {}
    }
    // Help and the message log work in every dialog that does not take text.
    if let Some(ctx) = app.flow_context()
        && !ctx.is_typing()
        && let Some(a @ (Action::Help | Action::Messages)) = app.keymap.action(key, ctx)
    {
        return update_action(app, a);
    }
    match &app.flow {
        Some(Flow::Wizard(_)) => return flow::wizard_key(app, key),
        Some(Flow::Rollback(_)) => return flow::rollback_key(app, key),
        Some(Flow::Interrupted(_)) => return flow::interrupted_key(app, key),
        Some(Flow::Watch(v)) if !v.minimised => return flow::watch_key(app, key),
        _ => {}
    }
    let Some(action) = app.keymap.action(key, app.context()) else {
        app.say(
            Level::Info,
            format!(
                "no action on \"{key}\" here; press {} for help",
                app.keymap.label(Action::Help)
            ),
        );
        return Vec::new();
    };
    // The message log shows what the status line said: keep it there too.
    if action != Action::Messages {
        app.message = None;
    }
    update_action(app, action)
}

pub(super) fn handle_filter_key(app: &mut App, key: Key) {
    match key.code {
        KeyCode::Enter => app.overlay = Overlay::None,
        KeyCode::Esc => {
            app.filter.clear();
            app.overlay = Overlay::None;
        }
        KeyCode::Backspace => {
            app.filter.pop();
        }
        KeyCode::Char(c)
            if !key.ctrl && !key.alt && !c.is_control() && app.filter.chars().count() < 64 =>
        {
            app.filter.push(c);
        }
        _ => {}
    }
    app.row = 0;
    app.clamp_selection();
}

pub(super) fn handle_picker_key(app: &mut App, key: Key, i: usize) {
    let choices = app.envs.len() + 1;
    let action = app.keymap.action(key, Context::Global);
    match (key.code, action) {
        (KeyCode::Esc, _) | (_, Some(Action::Close | Action::Quit)) => app.overlay = Overlay::None,
        (KeyCode::Enter, _) => {
            app.env_scope = i.checked_sub(1).map(EnvId);
            app.overlay = Overlay::None;
            app.clamp_selection();
        }
        (_, Some(Action::Up)) => app.overlay = Overlay::EnvPicker(i.saturating_sub(1)),
        (_, Some(Action::Down)) => app.overlay = Overlay::EnvPicker((i + 1).min(choices - 1)),
        _ => {}
    }
}

pub(super) fn update_action(app: &mut App, action: Action) -> Vec<Command> {
    let rows = app.visible_services().len();
    match action {
        Action::Quit => {
            if flow::watch_running(app) && !app.quit_armed {
                app.quit_armed = true;
                app.say(
                    Level::Warn,
                    "a deploy or rollback is being watched: press q again to quit anyway (it shows as interrupted next time)",
                );
                return Vec::new();
            }
            return flow::quit(app);
        }
        Action::Help => {
            app.overlay = Overlay::Help;
            app.views.popup.reset();
        }
        Action::Messages => {
            if app.views.said.is_empty() {
                app.say(Level::Info, "no messages yet");
            } else {
                app.overlay = Overlay::Messages;
                app.views.popup.reset();
            }
        }
        Action::Approvals => {
            app.overlay = Overlay::Approvals;
            // Read the ledger now; the tick keeps re-reading while it is open.
            app.ledger_asked = None;
        }
        Action::Filter => app.overlay = Overlay::Filter,
        Action::Problems => app.toggle_problems(),
        Action::EnvScope => {
            app.overlay = Overlay::EnvPicker(app.env_scope.map_or(0, |i| i.index() + 1));
        }
        Action::TimelineScope => {
            app.timeline_scope = match app.timeline_scope {
                TimelineScope::All => TimelineScope::Service,
                TimelineScope::Service => TimelineScope::Environment,
                TimelineScope::Environment => TimelineScope::All,
            };
            app.timeline.scroll = 0;
        }
        Action::Refresh => {
            let cmds: Vec<Command> = app
                .cfg
                .env_ids()
                .filter(|i| app.envs[*i].in_flight.is_none())
                .collect::<Vec<_>>()
                .into_iter()
                .map(|i| app.issue_poll(i))
                .collect();
            app.say(
                Level::Info,
                format!("refreshing {} environment(s)", cmds.len()),
            );
            return cmds;
        }
        Action::NextPane | Action::PrevPane => {
            let mut panes = vec![Pane::Board];
            if app.detail_open {
                panes.push(Pane::Detail);
            }
            panes.push(Pane::Timeline);
            let i = panes.iter().position(|p| *p == app.focus).unwrap_or(0);
            let n = panes.len();
            app.focus = if action == Action::NextPane {
                panes[(i + 1) % n]
            } else {
                panes[(i + n - 1) % n]
            };
        }
        Action::OpenDetail => {
            app.detail_open = true;
            app.views.detail.reset();
            app.focus = Pane::Detail;
            // The pane shows the rollback target: read it if the reading left it out.
            if let Some(service) = app.selected_service().map(str::to_string) {
                return super::histories::request(app, app.col, &service, false)
                    .into_iter()
                    .collect();
            }
        }
        Action::Close => {
            if app.env_scope.is_some() && !app.detail_open && app.filter.is_empty() {
                app.env_scope = None;
            } else if app.detail_open {
                app.detail_open = false;
                app.focus = Pane::Board;
            } else if !app.filter.is_empty() {
                app.filter.clear();
                app.clamp_selection();
            }
        }
        Action::Up
        | Action::Down
        | Action::Top
        | Action::Bottom
        | Action::PageUp
        | Action::PageDown => {
            if app.focus == Pane::Timeline {
                app.timeline.scroll_by(action);
            } else if app.focus == Pane::Detail {
                app.views.detail.apply(action);
            } else {
                // Another cell: its details start at the top.
                app.views.detail.reset();
                app.row = match action {
                    Action::Up => app.row.saturating_sub(1),
                    Action::Down => (app.row + 1).min(rows.saturating_sub(1)),
                    Action::Top => 0,
                    Action::Bottom => rows.saturating_sub(1),
                    Action::PageUp => app.row.saturating_sub(PAGE_ROWS),
                    _ => (app.row + PAGE_ROWS).min(rows.saturating_sub(1)),
                };
            }
        }
        Action::Left | Action::Right => {
            if app.env_scope.is_none() {
                app.views.detail.reset();
                app.col = if action == Action::Left {
                    app.col.previous().unwrap_or(app.col)
                } else {
                    EnvId((app.col.index() + 1).min(app.envs.len().saturating_sub(1)))
                };
            }
        }
        Action::Promote => return flow::open_wizard(app),
        Action::Rollback => return flow::open_rollback(app),
        Action::ShowWatch => match &mut app.flow {
            Some(Flow::Watch(v)) => v.minimised = false,
            _ => app.say(Level::Info, "no deploy or rollback is being watched"),
        },
        // The dialogs' own actions are handled by their flows.
        Action::WizardUp
        | Action::WizardDown
        | Action::Tick
        | Action::Edit
        | Action::Go
        | Action::Hotfix
        | Action::ChangeType
        | Action::WizardSmoke
        | Action::Back
        | Action::Keep
        | Action::Undo
        | Action::Accept
        | Action::Cancel
        | Action::AbortDeploy
        | Action::ContinueStep
        | Action::Hide
        | Action::Dismiss
        | Action::RollBackNow
        | Action::LeaveIt
        | Action::AbortYes
        | Action::AbortNo
        | Action::Resume
        | Action::RollBackInterrupted
        | Action::Skip
        // The logs pane opens before a key reaches here (`logs::on_key`).
        | Action::Logs
        | Action::WatchLogs => {}
        Action::Smoke => {
            let env = app.col;
            let name = app
                .env_cfg(env)
                .map_or_else(String::new, |e| e.name.clone());
            if !app.has_smoke(env) {
                app.say(
                    Level::Warn,
                    format!("environment \"{name}\" has no smoke checks configured"),
                );
            } else if app.smoke_running.contains(&env) {
                app.say(
                    Level::Info,
                    format!("smoke checks of {name} are already running"),
                );
            } else {
                app.smoke_running.push(env);
                app.say(Level::Info, format!("running smoke checks of {name}…"));
                return vec![Command::RunSmoke { env }];
            }
        }
    }
    Vec::new()
}
