//! The logs pane: one key from the watch or the board follows a service's
//! logs. While the pane is open its lines are read every [`LOGS_EVERY`] (one
//! request in flight at most); once it closes nothing is read. A reading
//! that fails keeps the lines already read and says, on the pane, that what
//! follows them is unknown: never an empty pane that reads as "no errors".

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::keys::{Action, Context, Key, KeyCode};
use super::views::Seen;
use super::{App, Command, Flow, Level, Overlay, PAGE_ROWS};
use crate::config::EnvId;
use crate::model::Revision;
use crate::model::logs::{LogConfig, LogCursor, LogLine, LogOrigin, LogPage};
use crate::provider::{LogQuery, ProviderError};

/// How often an open pane reads what was logged since.
pub const LOGS_EVERY: Duration = Duration::from_secs(2);
/// Longest wait after failed readings.
pub const LOGS_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How far back the first reading goes.
pub const LOG_BACKLOG: Duration = Duration::from_mins(5);
/// Lines kept in the pane; older ones go.
pub const LINES_KEPT: usize = 2_000;

/// The logs pane.
#[derive(Debug, Clone)]
pub struct LogsView {
    /// Environment.
    pub env: EnvId,
    /// Environment name.
    pub env_name: String,
    /// Service name.
    pub service: String,
    /// Opened from the deploy watch (its service is the one rolled out).
    pub from_watch: bool,
    /// The revision whose logs are read, as the last reading saw it.
    pub task_definition: Option<Revision>,
    /// Its log configuration, as the last reading saw it.
    pub config: Option<LogConfig>,
    /// Where the lines come from, or why there are none; `None` until the
    /// first answer.
    pub origin: Option<LogOrigin>,
    /// Lines read, oldest first, at most [`LINES_KEPT`].
    pub lines: VecDeque<LogLine>,
    /// Lines dropped off the top to keep [`LINES_KEPT`].
    pub dropped: usize,
    /// Where the next reading starts.
    pub cursor: LogCursor,
    /// The request in flight, if any.
    pub in_flight: Option<u64>,
    /// When the next reading is due.
    pub next_read: Option<DateTime<Utc>>,
    /// When the last reading answered.
    pub read_at: Option<DateTime<Utc>>,
    /// Why the last reading failed, since when, and how many failed in a row.
    pub error: Option<(DateTime<Utc>, String, u32)>,
    /// The view sticks to the newest line.
    pub follow: bool,
    /// First row shown while not following.
    pub top: usize,
    /// The size it was last drawn at (rendering writes it).
    pub seen: Seen,
}

impl LogsView {
    /// Moves as a scroll key asks; at the bottom it follows again.
    pub fn scroll(&mut self, action: Action) {
        let (max, page) = self.seen.limits().unwrap_or((usize::MAX, PAGE_ROWS));
        let at = if self.follow { max } else { self.top.min(max) };
        let to = match action {
            Action::Up => at.saturating_sub(1),
            Action::Down => at.saturating_add(1).min(max),
            Action::Top => 0,
            Action::Bottom => max,
            Action::PageUp => at.saturating_sub(page),
            Action::PageDown => at.saturating_add(page).min(max),
            _ => return,
        };
        self.top = to;
        self.follow = to >= max;
    }

    /// The first of `rows` wrapped rows to show in `height` rows.
    /// Remembers the size (rendering's scroll state).
    pub fn first_row(&self, rows: usize, height: usize) -> usize {
        self.seen.record(rows, height);
        let max = rows.saturating_sub(height);
        if self.follow { max } else { self.top.min(max) }
    }

    /// What the pane shows about its source, said once for the screen.
    pub fn state(&self) -> LogsState<'_> {
        match (&self.origin, &self.error) {
            (_, Some((since, why, _))) => LogsState::Failed { since: *since, why },
            (None, None) => LogsState::Reading,
            (Some(LogOrigin::Nowhere(why)), None) => LogsState::Nowhere(why),
            (Some(LogOrigin::From(from)), None) => LogsState::Following(from),
        }
    }

    fn take(&mut self, page: LogPage) {
        self.origin = Some(page.origin);
        self.cursor = page.cursor;
        for l in page.lines {
            if self.lines.len() >= LINES_KEPT {
                self.lines.pop_front();
                self.dropped += 1;
                // A reader scrolled up keeps their place as lines go.
                self.top = self.top.saturating_sub(1);
            }
            self.lines.push_back(l);
        }
    }
}

/// Where the pane stands, for rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogsState<'a> {
    /// Waiting for the first answer.
    Reading,
    /// Lines are read from this source.
    Following(&'a str),
    /// There is nothing to read, and why.
    Nowhere(&'a str),
    /// The last reading failed: what follows the lines shown is unknown.
    Failed {
        /// Since when readings fail.
        since: DateTime<Utc>,
        /// Why.
        why: &'a str,
    },
}

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The service a key opens logs for here: the watched one in the watch,
/// else the selected cell.
fn target(app: &App, ctx: Context) -> Option<(EnvId, String, bool)> {
    match (&app.flow, ctx) {
        (Some(Flow::Watch(v)), Context::Watch) => {
            Some((v.watch.env, v.watch.service.clone(), true))
        }
        _ => Some((app.col, app.selected_service()?.to_string(), false)),
    }
}

/// A key, when the logs pane takes it: every key while the pane is open
/// (scrolling, closing; help, the message log and quitting pass through),
/// and the logs key where it opens the pane. `None`: not the pane's.
pub fn on_key(app: &mut App, key: Key) -> Option<Vec<Command>> {
    if app.overlay != Overlay::None || key == Key::ctrl('c') {
        return None;
    }
    if let Some(view) = &mut app.logs {
        let action = app.keymap.action(key, Context::Global);
        let opener = app.keymap.action(key, Context::Watch) == Some(Action::WatchLogs);
        match action {
            _ if key.code == KeyCode::Esc || opener => app.logs = None,
            Some(Action::Logs | Action::Close) => app.logs = None,
            Some(Action::Help | Action::Messages | Action::Quit) => return None,
            Some(a) => view.scroll(a),
            None => {}
        }
        app.dirty = true;
        return Some(Vec::new());
    }
    let ctx = app.context();
    if ctx.is_typing() {
        return None;
    }
    let wanted = match ctx {
        Context::Watch => Action::WatchLogs,
        c if c.is_modal() => return None,
        _ => Action::Logs,
    };
    if app.keymap.action(key, ctx) != Some(wanted) {
        return None;
    }
    app.dirty = true;
    let Some((env, service, from_watch)) = target(app, ctx) else {
        app.say(Level::Info, "no service selected: nothing to follow");
        return Some(Vec::new());
    };
    app.message = None;
    let env_name = app
        .env_cfg(env)
        .map_or_else(String::new, |e| e.name.clone());
    app.logs = Some(LogsView {
        env,
        env_name,
        service,
        from_watch,
        task_definition: None,
        config: None,
        origin: None,
        lines: VecDeque::new(),
        dropped: 0,
        cursor: LogCursor::starting(app.now - chrono(LOG_BACKLOG)),
        in_flight: None,
        next_read: None,
        read_at: None,
        error: None,
        follow: true,
        top: 0,
        seen: Seen::default(),
    });
    Some(read(app).into_iter().collect())
}

/// Every tick: an open pane reads again when its reading is due.
pub fn on_tick(app: &mut App) -> Vec<Command> {
    let due = app.logs.as_ref().is_some_and(|v| {
        v.in_flight.is_none()
            && !matches!(v.origin, Some(LogOrigin::Nowhere(_)))
            && v.next_read.is_none_or(|at| at <= app.now)
    });
    if due {
        read(app).into_iter().collect()
    } else {
        Vec::new()
    }
}

/// A reading's command, with the revision and log configuration the latest
/// reading of the environment holds (a watch's new revision, once it runs).
fn read(app: &mut App) -> Option<Command> {
    let request = app.next_request;
    let view = app.logs.as_ref()?;
    let snap = app
        .envs
        .get(view.env.index())
        .and_then(|e| e.snapshot.as_ref())
        .and_then(|s| s.service(&view.service));
    let (task_definition, config) = match snap {
        Some(s) => (s.task_definition.clone(), s.logs.clone()),
        None => (view.task_definition.clone(), view.config.clone()),
    };
    let query = LogQuery {
        task_definition: task_definition.clone(),
        config: config.clone(),
        cursor: view.cursor.clone(),
    };
    let (env, service) = (view.env, view.service.clone());
    app.next_request += 1;
    let view = app.logs.as_mut()?;
    view.task_definition = task_definition;
    view.config = config;
    view.in_flight = Some(request);
    Some(Command::ReadLogs {
        request,
        env,
        service,
        query: Box::new(query),
    })
}

/// A page arrived (or an error): taken in when it answers the request in
/// flight of the pane still open; anything else is dropped.
pub fn on_read(
    app: &mut App,
    request: u64,
    at: DateTime<Utc>,
    result: Result<LogPage, ProviderError>,
) {
    let Some(view) = app.logs.as_mut().filter(|v| v.in_flight == Some(request)) else {
        return;
    };
    view.in_flight = None;
    app.dirty = true;
    match result {
        Ok(page) => {
            view.take(page);
            view.error = None;
            view.read_at = Some(at);
            view.next_read = Some(at + chrono(LOGS_EVERY));
        }
        Err(e) => {
            let failures = view.error.as_ref().map_or(1, |(_, _, n)| n + 1);
            let since = view.error.as_ref().map_or(at, |(s, _, _)| *s);
            let wait = LOGS_EVERY
                .saturating_mul(1 << failures.min(4))
                .min(LOGS_BACKOFF_MAX);
            view.error = Some((since, crate::model::sanitize(&e.to_string()), failures));
            view.next_read = Some(at + chrono(wait));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::logs::LogLine;

    fn app() -> App {
        let cfg = crate::config::parse_str(
            "[[environment]]\nname = \"prod\"\ncluster = \"c\"\nregion = \"eu-west-1\"\n\
             [[environment.service]]\nname = \"api\"\necs_service = \"api\"\n",
            "<test>",
            None,
        )
        .unwrap();
        App::new(
            &cfg,
            super::super::keys::KeyMap::default(),
            "me".into(),
            DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        )
    }

    fn page(lines: &[&str], at: i64) -> LogPage {
        LogPage {
            origin: LogOrigin::From("CloudWatch Logs /ecs/api · ecs/app/…".into()),
            lines: lines
                .iter()
                .map(|t| LogLine {
                    at: DateTime::from_timestamp(at, 0).unwrap(),
                    stream: "ecs/app/1".into(),
                    text: (*t).into(),
                })
                .collect(),
            cursor: LogCursor::default(),
        }
    }

    fn request(cmds: &[Command]) -> u64 {
        match cmds {
            [Command::ReadLogs { request, .. }] => *request,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_pane_reads_while_open_and_never_once_closed() {
        let mut a = app();
        let opened = on_key(&mut a, Key::ch('L')).unwrap();
        let first = request(&opened);
        // One request in flight: a tick sends no other.
        assert!(on_tick(&mut a).is_empty());
        let now = a.now;
        on_read(&mut a, first, now, Ok(page(&["one", "two"], 1)));
        assert_eq!(a.logs.as_ref().unwrap().lines.len(), 2);
        // Not due yet; due after LOGS_EVERY.
        assert!(on_tick(&mut a).is_empty());
        a.now += chrono(LOGS_EVERY);
        let second = request(&on_tick(&mut a));
        // An answer to another request is dropped.
        let now = a.now;
        on_read(&mut a, first, now, Ok(page(&["stale"], 2)));
        assert_eq!(a.logs.as_ref().unwrap().lines.len(), 2);
        // A failure keeps the lines and says so.
        on_read(
            &mut a,
            second,
            now,
            Err(ProviderError::Network {
                message: "connection refused".into(),
            }),
        );
        let v = a.logs.as_ref().unwrap();
        assert_eq!(v.lines.len(), 2);
        assert!(matches!(v.state(), LogsState::Failed { why, .. } if why.contains("refused")));
        // Closed: nothing more is read.
        assert_eq!(on_key(&mut a, Key::plain(KeyCode::Esc)), Some(Vec::new()));
        assert!(a.logs.is_none());
        a.now += chrono(LOGS_BACKOFF_MAX);
        assert!(on_tick(&mut a).is_empty());
    }

    #[test]
    fn scrolling_up_stops_following_and_the_bottom_follows_again() {
        let mut a = app();
        let r = request(&on_key(&mut a, Key::ch('L')).unwrap());
        let lines: Vec<String> = (0..50).map(|i| format!("line {i}")).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let now = a.now;
        on_read(&mut a, r, now, Ok(page(&refs, 1)));
        let v = a.logs.as_mut().unwrap();
        assert_eq!(v.first_row(50, 10), 40);
        v.scroll(Action::PageUp);
        assert!(!v.follow);
        assert_eq!(v.first_row(50, 10), 31);
        v.scroll(Action::Bottom);
        assert!(v.follow);
        v.scroll(Action::Up);
        v.scroll(Action::Down);
        assert!(v.follow, "down to the bottom follows again");
    }

    #[test]
    fn nowhere_to_read_is_said_and_not_asked_again() {
        let mut a = app();
        let r = request(&on_key(&mut a, Key::ch('L')).unwrap());
        let now = a.now;
        on_read(
            &mut a,
            r,
            now,
            Ok(LogPage::nowhere("no awslogs configuration in api:4")),
        );
        assert_eq!(
            a.logs.as_ref().unwrap().state(),
            LogsState::Nowhere("no awslogs configuration in api:4")
        );
        a.now += chrono(LOGS_BACKOFF_MAX);
        assert!(on_tick(&mut a).is_empty());
    }
}
