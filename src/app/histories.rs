//! Revision histories, read lazily. An ECS reading leaves them out (each costs
//! a `ListTaskDefinitions` and maybe a `DescribeTaskDefinition`), so the
//! console asks for one when `r` is pressed or the detail pane shows a cell,
//! and, one at a time, in the background once every environment was read.
//! What was read is kept per service while it runs the same revision, and put
//! back into every new reading, so drift and rollback targets stay exact.
//! The simulator's readings carry their histories, so nothing is asked there.

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};

use super::{App, Command, Flow, Level, flow};
use crate::config::EnvId;
use crate::model::{EnvSnapshot, History, Revision};
use crate::provider::ProviderError;

/// How long a failed history is left alone by the background reader.
const RETRY_AFTER: chrono::Duration = chrono::Duration::minutes(5);

#[derive(Debug, Clone)]
enum Known {
    /// Read for the revision `arn`.
    Read { arn: String, revisions: History },
    /// Could not be read for `arn`.
    Failed {
        arn: String,
        error: String,
        at: DateTime<Utc>,
    },
}

impl Known {
    fn arn(&self) -> &str {
        match self {
            Self::Read { arn, .. } | Self::Failed { arn, .. } => arn,
        }
    }
}

/// What the console knows about revision histories it asked for.
#[derive(Debug, Clone, Default)]
pub struct Histories {
    known: HashMap<EnvId, HashMap<String, Known>>,
    in_flight: HashSet<(EnvId, String)>,
    /// The cell whose rollback dialog opens once its history arrives.
    then_rollback: Option<(EnvId, String)>,
    /// Cells still without a history, per environment, in board order.
    queue: HashMap<EnvId, VecDeque<String>>,
}

/// What the detail pane says about a cell's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryState<'a> {
    /// In the reading, or read.
    Known,
    /// Being read.
    Reading,
    /// Could not be read.
    Failed(&'a str),
    /// Not read yet.
    NotRead,
}

impl Histories {
    /// Puts what was read back into a new reading, for services still on the
    /// revision it was read for; then queues the cells still without one.
    pub(super) fn apply(&mut self, env: EnvId, snap: &mut EnvSnapshot, now: DateTime<Utc>) {
        let known = self.known.entry(env).or_default();
        // Services that moved lose what was read for their old revision.
        known.retain(|name, k| {
            snap.service(name)
                .and_then(|s| s.task_definition.as_ref())
                .is_some_and(|t| &*t.arn == k.arn())
        });
        let mut queue = VecDeque::new();
        for s in &mut snap.services {
            if !s.history.is_empty() {
                continue;
            }
            let Some(td) = &s.task_definition else {
                continue;
            };
            match known.get(&s.name) {
                Some(Known::Read { revisions, .. }) => s.history.clone_from(revisions),
                Some(Known::Failed { at, .. }) if now - *at < RETRY_AFTER => {}
                _ if !td.arn.is_empty() => queue.push_back(s.name.clone()),
                _ => {}
            }
        }
        self.queue.insert(env, queue);
    }

    /// What is known about a cell's history.
    pub fn state(&self, env: EnvId, service: &str, in_reading: bool) -> HistoryState<'_> {
        if self.in_flight.contains(&(env, service.to_string())) {
            return HistoryState::Reading;
        }
        match self.known.get(&env).and_then(|k| k.get(service)) {
            Some(Known::Failed { error, .. }) => HistoryState::Failed(error),
            Some(Known::Read { .. }) => HistoryState::Known,
            None if in_reading => HistoryState::Known,
            None => HistoryState::NotRead,
        }
    }

    /// Whether this history was read lazily (and so may be read again).
    fn lazily_read(&self, env: EnvId, service: &str) -> bool {
        self.known
            .get(&env)
            .is_some_and(|k| k.contains_key(service))
    }
}

/// The command that reads a cell's history, unless the reading carried it
/// (`fresh`: read again even when it was read lazily before, as a rollback
/// does, since a revision may have been deregistered since).
pub(super) fn request(app: &mut App, env: EnvId, service: &str, fresh: bool) -> Option<Command> {
    let s = app
        .envs
        .get(env.index())?
        .snapshot
        .as_ref()?
        .service(service)?;
    let current = s.task_definition.clone()?;
    let lazily = app.histories.lazily_read(env, service);
    let wanted = s.history.is_empty() || (fresh && lazily);
    let key = (env, service.to_string());
    if !wanted || current.arn.is_empty() || app.histories.in_flight.contains(&key) {
        return None;
    }
    app.histories.in_flight.insert(key);
    Some(Command::ReadHistory {
        env,
        service: service.to_string(),
        current,
    })
}

/// `r`: opens the rollback dialog once the cell's history is read (at once
/// when the reading carried it).
pub(super) fn rollback_when_read(app: &mut App, env: EnvId, service: &str) -> Vec<Command> {
    match request(app, env, service, true) {
        Some(cmd) => {
            app.histories.then_rollback = Some((env, service.to_string()));
            let env_name = app.cfg.environments[env].name.clone();
            app.say(
                Level::Info,
                format!("reading the revisions of {service} in {env_name}…"),
            );
            vec![cmd]
        }
        None if app
            .histories
            .in_flight
            .contains(&(env, service.to_string())) =>
        {
            app.histories.then_rollback = Some((env, service.to_string()));
            Vec::new()
        }
        None => {
            flow::rollback_dialog(app, env, service);
            Vec::new()
        }
    }
}

/// A history arrived.
pub(super) fn on_read(
    app: &mut App,
    env: EnvId,
    service: &str,
    current: &Revision,
    result: Result<History, ProviderError>,
    now: DateTime<Utc>,
) {
    app.dirty = true;
    app.histories.in_flight.remove(&(env, service.to_string()));
    let then = app.histories.then_rollback.as_ref() == Some(&(env, service.to_string()));
    if then {
        app.histories.then_rollback = None;
    }
    let known = app.histories.known.entry(env).or_default();
    match result {
        Ok(revisions) => {
            if let Some(s) = app
                .envs
                .get_mut(env.index())
                .and_then(|e| e.snapshot.as_mut())
                .and_then(|snap| snap.service_mut(service))
                .filter(|s| {
                    s.task_definition
                        .as_ref()
                        .is_some_and(|t| t.arn == current.arn)
                })
            {
                s.history.clone_from(&revisions);
            }
            known.insert(
                service.to_string(),
                Known::Read {
                    arn: current.arn.to_string(),
                    revisions,
                },
            );
            app.recompute_drift();
            if then && matches!(app.flow, None | Some(Flow::Interrupted(_))) {
                flow::rollback_dialog(app, env, service);
            }
        }
        Err(e) => {
            let error = e.to_string();
            known.insert(
                service.to_string(),
                Known::Failed {
                    arn: current.arn.to_string(),
                    error: error.clone(),
                    at: now,
                },
            );
            if then {
                app.say(
                    Level::Warn,
                    format!("cannot roll back: reading the revisions of {service} failed: {error}"),
                );
            }
        }
    }
}

/// On each tick: the selected cell's history when the detail pane shows it,
/// else (once every environment was read, and nothing else is being read) the
/// next history in the background.
pub(super) fn on_tick(app: &mut App) -> Option<Command> {
    if app.detail_open
        && let Some(service) = app.selected_service().map(str::to_string)
        && let Some(cmd) = request(app, app.col, &service, false)
    {
        return Some(cmd);
    }
    let board_complete = app.envs.iter().all(|e| e.snapshot.is_some());
    let watching = matches!(app.flow, Some(Flow::Watch(_)));
    if !board_complete || watching || !app.histories.in_flight.is_empty() {
        return None;
    }
    for env in app.cfg.env_ids() {
        while let Some(service) = app
            .histories
            .queue
            .get_mut(&env)
            .and_then(VecDeque::pop_front)
        {
            if let Some(cmd) = request(app, env, &service, false) {
                return Some(cmd);
            }
        }
    }
    None
}
