//! The deploy watch on screen: it shows what the engine's [`Watch`] sees, asks
//! what the engine asks, and sends the engine's effects as commands.

use chrono::{DateTime, Utc};

use super::super::keys::{Action, Key};
use super::super::timeline::EntryKind;
use super::{App, Command, Flow, action, commands, snap};
use crate::app::Level;
use crate::config::EnvId;
use crate::model::Decision;
use crate::provider::DeployStarted;
use crate::release::{Effect, Next, OpKind, Outcome, Watch};

/// Where a watched operation stands on screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Watching (or waiting for the command to be accepted).
    Watching,
    /// Aborted; the policy says ask: roll back?
    Deciding(String),
    /// The captain asked to abort; confirm?
    ConfirmAbort,
    /// Over as the engine saw it; its records are being written, and nothing
    /// is claimed until they are.
    Recording(Outcome, String),
    /// Over.
    Done,
}

/// A deploy or rollback on screen.
#[derive(Debug, Clone)]
pub struct WatchView {
    /// Operation id (matches `Msg::Issued`).
    pub op: u64,
    /// The watch.
    pub watch: Watch,
    /// Phase.
    pub phase: Phase,
    /// Hidden behind the board (`w` shows it again).
    pub minimised: bool,
    /// Lines for the log, oldest first.
    pub log: Vec<(DateTime<Utc>, String)>,
    /// How it ended, once it did.
    pub outcome: Option<Outcome>,
    /// The step whose hold the person was asked to cut short (the next
    /// press of continue confirms; any other key keeps holding).
    pub cut_asked: Option<u32>,
}

/// Puts a confirmed deploy or rollback on screen; its issue command follows.
pub(super) fn start_view(app: &mut App, watch: Watch, text: &str) {
    let (env_name, service) = (watch.env_name.clone(), watch.service.clone());
    app.timeline.push(
        format!("start:{env_name}:{service}:{}", app.now.timestamp_millis()),
        app.now,
        &env_name,
        Some(&service),
        EntryKind::Action,
        text,
        false,
    );
    app.flow = Some(Flow::Watch(Box::new(WatchView {
        op: 0,
        watch,
        phase: Phase::Watching,
        minimised: false,
        log: vec![(app.now, text.to_string())],
        outcome: None,
        cut_asked: None,
    })));
    app.say(Level::Info, text.to_string());
}

/// Shows what the engine said and sends its effects. An ending is not said
/// yet: its records go first, as one command, and [`on_closed`] says it as
/// the ledger then allows.
fn apply(app: &mut App, next: Next) -> Vec<Command> {
    let now = app.now;
    let Some(Flow::Watch(v)) = &mut app.flow else {
        return Vec::new();
    };
    for line in &next.log {
        v.log.push((now, line.clone()));
    }
    match (&next.ask, &next.outcome) {
        (Some(why), _) => v.phase = Phase::Deciding(why.clone()),
        (None, Some((outcome, why))) => {
            v.phase = Phase::Recording(*outcome, why.clone());
            let op = v.op;
            let mut items = Vec::new();
            let mut rest = Vec::new();
            for e in next.effects {
                match e {
                    Effect::Record { kind, draft } => items.push((kind, draft)),
                    other => rest.push(other),
                }
            }
            // The records first: a lock's release comes after them.
            let mut cmds = vec![Command::RecordClosing { op, items }];
            cmds.extend(commands(app, rest));
            return cmds;
        }
        // An automatic rollback started: say why.
        (None, None) => {
            if let Some(text) = next.log.iter().rev().find(|l| l.starts_with("ABORTED")) {
                app.say(Level::Warn, text.clone());
            }
        }
    }
    commands(app, next.effects)
}

/// The console is stopping (a signal) while a watch runs: the record that
/// says so, leaving the action open to be resumed at the next start.
pub fn interrupt(app: &App, why: &str) -> Vec<Command> {
    match &app.flow {
        Some(Flow::Watch(v)) if !matches!(v.phase, Phase::Recording(..) | Phase::Done) => {
            let (kind, draft) = v.watch.interrupted(&app.operator, why);
            vec![Command::Record { kind, draft }]
        }
        _ => Vec::new(),
    }
}

/// The records that close the watched operation were written (or not): the
/// ending is said now, as the ledger holds it.
pub fn on_closed(app: &mut App, op: u64, written: &crate::release::Written) {
    let now = app.now;
    let Some(Flow::Watch(v)) = &mut app.flow else {
        return;
    };
    let Phase::Recording(outcome, why) = &v.phase else {
        return;
    };
    if v.op != op {
        return;
    }
    let (outcome, text) = v.watch.claim((*outcome, why.clone()), written);
    v.phase = Phase::Done;
    v.outcome = Some(outcome);
    v.log.push((now, text.clone()));
    let (env_name, service) = (v.watch.env_name.clone(), v.watch.service.clone());
    let good = outcome == Outcome::Succeeded;
    // The timeline's end entry reads the same outcome as the headline, with
    // why in short; an ending without a cause (a success) keeps its words.
    let entry = v
        .watch
        .cause(outcome)
        .map_or_else(|| text.clone(), |cause| outcome.said(Some(&cause)));
    app.timeline.push(
        format!("op:{op}:end"),
        now,
        &env_name,
        Some(&service),
        EntryKind::Action,
        &entry,
        !good,
    );
    app.say(if good { Level::Info } else { Level::Warn }, text);
}

/// The provider accepted (or refused) a deploy or rollback.
pub fn on_issued(
    app: &mut App,
    op: u64,
    result: Result<Box<DeployStarted>, (String, bool)>,
) -> Vec<Command> {
    let operator = app.operator.clone();
    let Some(Flow::Watch(v)) = &mut app.flow else {
        return Vec::new();
    };
    if v.op != op {
        return Vec::new();
    }
    let next = v.watch.on_issued(result.map(|b| *b), &operator);
    apply(app, next)
}

/// A new reading of the watched environment arrived.
pub fn on_reading(app: &mut App, env: EnvId) -> Vec<Command> {
    let (now, operator) = (app.now, app.operator.clone());
    let Some(Flow::Watch(v)) = &app.flow else {
        return Vec::new();
    };
    if v.watch.env != env || v.phase != Phase::Watching {
        return Vec::new();
    }
    let Some(s) = snap(app, env, &v.watch.service).cloned() else {
        return Vec::new();
    };
    let on_abort = app.cfg.environments[env].rollout.on_abort;
    let Some(Flow::Watch(v)) = &mut app.flow else {
        return Vec::new();
    };
    let next = v.watch.on_reading(&s, now, &operator, on_abort);
    apply(app, next)
}

/// Every tick: a watch whose environment stopped answering still ends at its timeout.
pub fn on_tick(app: &mut App) -> Vec<Command> {
    let (now, operator) = (app.now, app.operator.clone());
    let Some(Flow::Watch(v)) = &mut app.flow else {
        return Vec::new();
    };
    if v.phase != Phase::Watching {
        return Vec::new();
    }
    let on_abort = app.cfg.environments[v.watch.env].rollout.on_abort;
    let next = v.watch.on_silence(now, &operator, on_abort);
    apply(app, next)
}

/// A decision at a paused step was taken, or not: the watch's log says which.
pub fn on_step_decided(app: &mut App, result: Result<String, String>) {
    let now = app.now;
    let (level, text) = match result {
        Ok(said) => (Level::Info, said),
        Err(why) => (Level::Warn, why),
    };
    if let Some(Flow::Watch(v)) = &mut app.flow {
        v.log.push((now, text.clone()));
    }
    app.say(level, text);
}

/// Decisions about the watched promotion's steps taken in other terminals
/// (new ledger records): the watch's log names who and why.
pub fn on_step_records(app: &mut App, records: &[crate::ledger::Record]) {
    // The one hook a fresh read of the ledger passes: a wizard's `g` waits for it.
    super::wizard::on_ledger_read(app);
    let Some(Flow::Watch(v)) = &mut app.flow else {
        return;
    };
    for r in records.iter().filter(|r| {
        r.kind == crate::ledger::RecordKind::StepDecision
            && r.draft.promotion.as_deref() == Some(v.watch.promotion.as_str())
            && !crate::approvals::same_person(&r.draft.operator, &app.operator)
    }) {
        let d = &r.draft;
        v.log.push((
            r.at,
            format!(
                "{}: {} by {}{}",
                d.reasons.first().map_or("step", String::as_str),
                d.outcome.as_deref().unwrap_or("?").replace('_', " "),
                d.operator,
                // Why, and a hold cut short (said after it).
                d.reasons
                    .get(1..)
                    .filter(|rest| !rest.is_empty())
                    .map(|rest| format!(" ({})", rest.join("; ")))
                    .unwrap_or_default()
            ),
        ));
    }
}

/// Keys while the watch view is shown.
pub fn watch_key(app: &mut App, key: Key) -> Vec<Command> {
    let (now, operator) = (app.now, app.operator.clone());
    let Some(ctx) = app.flow_context() else {
        return Vec::new();
    };
    let pressed = action(app, key, ctx);
    let hold = match &app.flow {
        Some(Flow::Watch(v)) => {
            snap(app, v.watch.env, &v.watch.service).and_then(|s| v.watch.hold(s))
        }
        _ => None,
    };
    let again = app.keymap.first(Action::ContinueStep);
    let Some(Flow::Watch(v)) = &mut app.flow else {
        return Vec::new();
    };
    // Asked once: only the very next key may confirm.
    let asked = v.cut_asked.take();
    match (&v.phase, pressed) {
        (Phase::Deciding(_), Some(Action::RollBackNow)) => {
            v.phase = Phase::Watching;
            let next = v.watch.decide(true, &operator, now);
            return apply(app, next);
        }
        (Phase::Deciding(_), Some(Action::LeaveIt)) => {
            let next = v.watch.decide(false, &operator, now);
            return apply(app, next);
        }
        (Phase::Watching, Some(Action::ContinueStep)) => {
            let Some(shift) = v.watch.shift.clone().filter(|s| s.pause.is_some()) else {
                app.say(
                    Level::Warn,
                    "no step is paused: nothing to continue".to_string(),
                );
                return Vec::new();
            };
            // Before the step's hold is over, a second press confirms
            // cutting it short; the record will say so.
            let cut_hold = asked == Some(shift.step);
            if let Some(left) = hold.and_then(|h| h.not_over(now))
                && !cut_hold
            {
                v.cut_asked = Some(shift.step);
                app.say(
                    Level::Warn,
                    format!(
                        "{left}: continue anyway? {again} again continues (the record says the hold was cut short) · any other key keeps holding"
                    ),
                );
                return Vec::new();
            }
            // Judged by the executor on the ledger as it is then (four eyes, the hold).
            return vec![Command::DecideStep {
                env: v.watch.env,
                service: v.watch.service.clone(),
                shift: Box::new(shift),
                decision: Decision::Continue,
                to_digest: v.watch.to_digest.as_ref().map(ToString::to_string),
                hold,
                cut_hold,
            }];
        }
        (Phase::Watching, Some(Action::AbortDeploy)) if v.watch.kind == OpKind::Deploy => {
            v.phase = Phase::ConfirmAbort;
        }
        (Phase::ConfirmAbort, Some(Action::AbortYes)) => {
            v.phase = Phase::Watching;
            let next = v.watch.abort_by_hand(&operator, now);
            return apply(app, next);
        }
        (Phase::ConfirmAbort, Some(Action::AbortNo)) => v.phase = Phase::Watching,
        (Phase::Done, Some(Action::Dismiss | Action::Hide)) => app.flow = None,
        (Phase::Watching, Some(Action::Hide)) => v.minimised = true,
        _ => {}
    }
    Vec::new()
}
