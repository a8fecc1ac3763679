//! The console's model and `update`: pure, no I/O, no clock (time arrives in messages).

pub mod flow;
pub mod histories;
mod input;
pub mod keys;
pub mod logs;
mod messages;
mod poll;
pub mod problems;
mod records;
pub mod supply;
pub mod timeline;
pub mod views;

use input::handle_key;
pub use messages::{Command, Msg};
use poll::{update_polled, update_probed, update_smoke, update_tick};

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{Config, EnvId};
use crate::health::{HealthTracker, SmokeResult};
use crate::ledger::Record;
use crate::model::drift::{self, DriftRow};
use crate::model::{EnvSnapshot, Freshness, ServiceSnapshot};
pub use flow::Flow;
use keys::{Context, KeyMap};
use timeline::Timeline;

/// Shortest wait after a transient failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(2);
/// Longest wait between retries.
pub const BACKOFF_MAX: Duration = Duration::from_mins(2);
/// Health latencies kept per cell for the sparkline.
pub const HEALTH_HISTORY: usize = 60;
/// Rows moved by page up/down.
pub const PAGE_ROWS: usize = 10;

/// Which pane has focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// The service × environment matrix.
    Board,
    /// Details of the selected cell.
    Detail,
    /// The event timeline.
    Timeline,
}

/// What the timeline shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimelineScope {
    /// The selected service in the selected environment.
    Service,
    /// Everything in the selected environment.
    Environment,
    /// Everything.
    All,
}

/// A popup or text input that captures keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    /// None.
    None,
    /// The help overlay.
    Help,
    /// Typing a filter.
    Filter,
    /// Picking an environment scope; the highlighted choice (0 = all).
    EnvPicker(usize),
    /// The promotions waiting for approval.
    Approvals,
    /// The last messages in full (the status line shows one, cut to fit).
    Messages,
}

/// Per-environment state: what was read and when. Its configuration is
/// `App::cfg.environments[i]`, never copied here.
#[derive(Debug, Clone)]
pub struct EnvState {
    /// How current `snapshot` is (the ECS reading).
    pub freshness: Freshness,
    /// How current the CloudWatch alarms are, apart from ECS (`Unknown` while
    /// nothing watches an alarm here).
    pub alarms_freshness: Freshness,
    /// How current the CloudWatch metrics are.
    pub metrics_freshness: Freshness,
    /// The last alarms read per service while CloudWatch cannot be read: shown
    /// as stale in the detail pane, never as the current state.
    pub last_good_alarms: HashMap<String, Vec<crate::model::Alarm>>,
    /// Last good reading.
    pub snapshot: Option<EnvSnapshot>,
    /// Request in flight, if any.
    pub in_flight: Option<u64>,
    /// Consecutive failures (drives backoff).
    pub failures: u32,
    /// When the next reading is due.
    pub next_poll: Option<DateTime<Utc>>,
}

impl std::ops::Index<EnvId> for Vec<EnvState> {
    type Output = EnvState;

    fn index(&self, id: EnvId) -> &EnvState {
        &self[id.index()]
    }
}

impl std::ops::IndexMut<EnvId> for Vec<EnvState> {
    fn index_mut(&mut self, id: EnvId) -> &mut EnvState {
        &mut self[id.index()]
    }
}

/// Severity of the status-bar message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Information.
    Info,
    /// Something was refused or failed.
    Warn,
}

/// The whole console state.
#[derive(Debug, Clone)]
pub struct App {
    /// Environments in promotion order.
    pub envs: Vec<EnvState>,
    /// All service names, configuration order.
    pub services: Vec<String>,
    /// Drift per service, recomputed when a reading arrives.
    pub drift: Vec<DriftRow>,
    /// `drift` by service name.
    drift_index: crate::index::NameIndex,
    /// Bumped whenever a reading (and so the drift) changes: the key under
    /// which the header's problem counts are kept between frames.
    pub(crate) readings: u64,
    /// The header's problem counts as last computed, with what they were
    /// computed from (see `App::problem_counts`).
    pub(crate) problem_memo: std::cell::RefCell<Option<problems::Memo>>,
    /// Characters in the longest service name (the board's first column).
    pub longest_name: usize,
    /// Selected row within the visible services.
    pub row: usize,
    /// Selected environment column.
    pub col: EnvId,
    /// Focused pane.
    pub focus: Pane,
    /// Detail pane shown.
    pub detail_open: bool,
    /// How far the detail pane and popups are scrolled; the messages said.
    pub views: views::Views,
    /// Service-name filter.
    pub filter: String,
    /// Only rows with a problem are shown (`!`): firing, failing, unknown,
    /// behind, in progress.
    pub problems_only: bool,
    /// Only this environment is shown, when set.
    pub env_scope: Option<EnvId>,
    /// Timeline scope.
    pub timeline_scope: TimelineScope,
    /// The timeline.
    pub timeline: Timeline,
    /// Popup capturing keys.
    pub overlay: Overlay,
    /// Global read-only (`--read-only`, `read_only = true`): this session's switch.
    pub read_only: bool,
    /// Current time (from the last tick).
    pub now: DateTime<Utc>,
    /// Status-bar message.
    pub message: Option<(Level, String)>,
    /// Health latency history per (env, service), in ms, from provider readings;
    /// probed services keep theirs in `trackers`.
    pub health_history: HashMap<EnvId, HashMap<String, VecDeque<u32>>>,
    /// Real probe results per (env, service); when present they replace the provider's health.
    pub trackers: HashMap<(EnvId, String), HealthTracker>,
    /// Stability window per (env, service) for new trackers.
    pub windows: HashMap<(EnvId, String), Duration>,
    /// Environments with a smoke run under way.
    pub smoke_running: Vec<EnvId>,
    /// Key bindings.
    pub keymap: KeyMap,
    /// Who is operating (shown in the status bar).
    pub operator: String,
    /// Whether the screen must be redrawn.
    pub dirty: bool,
    /// Set when the user asked to quit.
    pub quitting: bool,
    /// The configuration (gates, rollout policies).
    pub cfg: Arc<Config>,
    /// The wizard, rollback dialog or watch on screen.
    pub flow: Option<Flow>,
    /// Audit records (approvals, stable revisions), as last read.
    pub records: Vec<Record>,
    /// Latest smoke results per environment.
    pub smoke_results: HashMap<EnvId, (DateTime<Utc>, Vec<SmokeResult>)>,
    /// When the ledger was last asked for.
    pub ledger_asked: Option<DateTime<Utc>>,
    /// `q` was pressed once during a watch.
    pub quit_armed: bool,
    /// Revision histories read lazily (ECS readings leave them out).
    pub histories: histories::Histories,
    /// Supply-chain evidence per digest, read from registries.
    pub supply: supply::SupplyState,
    /// The logs pane, while open (`L`).
    pub logs: Option<logs::LogsView>,
    next_request: u64,
}

/// How often the ledger is re-read while the wizard waits for approvals.
pub const LEDGER_EVERY: Duration = Duration::from_secs(2);
/// Longest gap between readings of an environment while a deploy is watched.
pub const WATCH_POLL: Duration = Duration::from_secs(2);

/// Exponential backoff with deterministic jitter (from the request id), capped.
pub fn backoff(failures: u32, request: u64, retry_after: Option<Duration>) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1u32 << failures.saturating_sub(1).min(10));
    let capped = exp.min(BACKOFF_MAX);
    // Up to +25 % jitter, spread by a cheap hash of the request id so that
    // environments failing together do not retry in lockstep.
    let spread = request.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54; // 0..1023
    let jitter = capped.mul_f64(f64::from(u32::try_from(spread).unwrap_or(0)) / 1023.0 * 0.25);
    (capped + jitter)
        .max(retry_after.unwrap_or_default())
        .min(BACKOFF_MAX + BACKOFF_MAX / 4)
}

fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl App {
    /// A console for `cfg`, nothing read yet.
    pub fn new(cfg: &Config, keymap: KeyMap, operator: String, now: DateTime<Utc>) -> Self {
        let envs = cfg
            .environments
            .iter()
            .map(|_| EnvState {
                freshness: Freshness::Unknown,
                alarms_freshness: Freshness::Unknown,
                metrics_freshness: Freshness::Unknown,
                last_good_alarms: HashMap::new(),
                snapshot: None,
                in_flight: None,
                failures: 0,
                next_poll: None,
            })
            .collect();
        let mut app = Self {
            envs,
            services: cfg.service_names(),
            drift: Vec::new(),
            drift_index: crate::index::NameIndex::default(),
            readings: 0,
            problem_memo: std::cell::RefCell::new(None),
            longest_name: cfg
                .service_names()
                .iter()
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0),
            row: 0,
            col: EnvId(0),
            focus: Pane::Board,
            detail_open: false,
            views: views::Views::default(),
            filter: String::new(),
            problems_only: false,
            env_scope: None,
            timeline_scope: TimelineScope::All,
            timeline: Timeline::default(),
            overlay: Overlay::None,
            read_only: cfg.read_only,
            now,
            message: None,
            health_history: HashMap::new(),
            trackers: HashMap::new(),
            windows: cfg
                .environments
                .iter()
                .enumerate()
                .flat_map(|(i, e)| {
                    let i = EnvId(i);
                    e.services.iter().filter_map(move |s| {
                        s.health
                            .as_ref()
                            .map(|h| ((i, s.name.clone()), h.stability_window))
                    })
                })
                .collect(),
            smoke_running: Vec::new(),
            keymap,
            operator,
            dirty: true,
            quitting: false,
            cfg: Arc::new(cfg.clone()),
            flow: None,
            records: Vec::new(),
            smoke_results: HashMap::new(),
            ledger_asked: None,
            quit_armed: false,
            histories: histories::Histories::default(),
            supply: supply::SupplyState::default(),
            logs: None,
            next_request: 1,
        };
        app.recompute_drift();
        app
    }

    /// Services passing the filter, in order.
    pub fn visible_services(&self) -> Vec<&str> {
        let needle = self.filter.to_lowercase();
        self.services
            .iter()
            .filter(|s| needle.is_empty() || s.to_lowercase().contains(&needle))
            .filter(|s| !self.problems_only || self.is_problem_row(s))
            .map(String::as_str)
            .collect()
    }

    /// Environment columns shown, as indices.
    pub fn visible_envs(&self) -> Vec<EnvId> {
        match self.env_scope {
            Some(i) => vec![i],
            None => self.cfg.env_ids().collect(),
        }
    }

    /// The selected service name.
    pub fn selected_service(&self) -> Option<&str> {
        self.visible_services().get(self.row).copied()
    }

    /// The selected cell's snapshot.
    pub fn selected_snapshot(&self) -> Option<&ServiceSnapshot> {
        let svc = self.selected_service()?;
        self.envs
            .get(self.col.index())?
            .snapshot
            .as_ref()?
            .service(svc)
    }

    /// The key context for the focused pane.
    pub fn context(&self) -> Context {
        if let Some(c) = self.flow_context() {
            return c;
        }
        match self.focus {
            Pane::Board => Context::Board,
            Pane::Timeline => Context::Timeline,
            Pane::Detail => Context::Global,
        }
    }

    /// The key context of the dialog on screen, if one is.
    pub fn flow_context(&self) -> Option<Context> {
        match &self.flow {
            Some(Flow::Wizard(w)) if w.confirming.is_some() => Some(Context::Confirm),
            Some(Flow::Wizard(w)) if w.editing.is_some() => Some(Context::Editing),
            Some(Flow::Wizard(_)) => Some(Context::Wizard),
            Some(Flow::Rollback(_)) => Some(Context::Confirm),
            Some(Flow::Interrupted(_)) => Some(Context::Interrupted),
            Some(Flow::Watch(v)) if !v.minimised => Some(match v.phase {
                flow::Phase::Deciding(_) => Context::Decide,
                flow::Phase::ConfirmAbort => Context::ConfirmAbort,
                flow::Phase::Watching | flow::Phase::Recording(..) | flow::Phase::Done => {
                    Context::Watch
                }
            }),
            Some(Flow::Watch(_)) | None => None,
        }
    }

    /// Recomputes the drift rows a new reading of `env` can change: every row
    /// when the board has none yet, else only the services whose digest,
    /// pinning or history differ from `prev` (a reading of 20,000 unchanged
    /// services then costs no drift work).
    pub(crate) fn recompute_drift_after(&mut self, env: EnvId, prev: Option<&EnvSnapshot>) {
        // Every reading counts, drift or not: the header's problem counts
        // are kept until the readings change, and a rollout that failed
        // without a new digest is a change.
        self.readings += 1;
        let (Some(prev), Some(now)) = (prev, self.envs[env].snapshot.as_ref()) else {
            return self.recompute_drift();
        };
        if self.drift.len() != self.services.len() {
            return self.recompute_drift();
        }
        let changed: Vec<usize> = self
            .services
            .iter()
            .enumerate()
            .filter(|(_, name)| !drift::same_for_drift(prev.service(name), now.service(name)))
            .map(|(i, _)| i)
            .collect();
        if changed.is_empty() {
            return;
        }
        let names = self.cfg.env_names();
        let snaps: Vec<Option<&EnvSnapshot>> =
            self.envs.iter().map(|e| e.snapshot.as_ref()).collect();
        let rows: Vec<(usize, DriftRow)> = changed
            .into_iter()
            .filter_map(|i| Some((i, drift::drift_row(self.services.get(i)?, &names, &snaps))))
            .collect();
        for (i, row) in rows {
            if let Some(slot) = self.drift.get_mut(i) {
                *slot = row;
            }
        }
    }

    fn recompute_drift(&mut self) {
        let names = self.cfg.env_names();
        let snaps: Vec<Option<&EnvSnapshot>> =
            self.envs.iter().map(|e| e.snapshot.as_ref()).collect();
        self.drift = drift::drift(&self.services, &names, &snaps);
        self.drift_index = crate::index::NameIndex::default();
        self.readings += 1;
    }

    /// The drift of one service (constant time at any fleet size).
    pub fn drift_row(&self, service: &str) -> Option<&DriftRow> {
        let i = self
            .drift_index
            .position(&self.drift, service, |d| d.service.as_str())?;
        self.drift.get(i)
    }

    fn issue_poll(&mut self, env: EnvId) -> Command {
        let request = self.next_request;
        self.next_request += 1;
        let e = &mut self.envs[env];
        e.in_flight = Some(request);
        if matches!(e.freshness, Freshness::Unknown) {
            e.freshness = Freshness::Loading;
        }
        Command::PollEnv { env, request }
    }

    fn clamp_selection(&mut self) {
        let rows = self.visible_services().len();
        self.row = self.row.min(rows.saturating_sub(1));
        if let Some(i) = self.env_scope {
            self.col = i;
        }
        self.col = EnvId(self.col.index().min(self.envs.len().saturating_sub(1)));
    }

    /// Shows a notice from outside the console's own flow (start-up).
    pub fn notify(&mut self, text: impl Into<String>) {
        self.say(Level::Info, text);
    }

    fn say(&mut self, level: Level, text: impl Into<String>) {
        // Messages quote errors and names from outside.
        let text = crate::model::sanitize(&text.into());
        self.views.remember(self.now, level, &text);
        self.message = Some((level, text));
    }

    /// The configuration of environment `env`.
    pub fn env_cfg(&self, env: EnvId) -> Option<&crate::config::EnvConfig> {
        self.cfg.env_at(env)
    }

    /// Whether environment `env` has smoke checks configured.
    pub fn has_smoke(&self, env: EnvId) -> bool {
        self.env_cfg(env).is_some_and(|e| !e.smoke.is_empty())
    }

    /// Records read or written since: kept in order, each once.
    pub fn add_records(&mut self, new: Vec<Record>) {
        self.note_notification_failures(&new);
        for r in new {
            if self.records.last().is_none_or(|l| l.seq < r.seq) {
                self.records.push(r);
            } else if !self.records.iter().any(|x| x.seq == r.seq) {
                let at = self.records.partition_point(|x| x.seq < r.seq);
                self.records.insert(at, r);
            }
        }
    }
}

/// The one entry point: applies a message, returns the effects to run.
pub fn update(app: &mut App, msg: Msg) -> Vec<Command> {
    match msg {
        Msg::Tick(now) => {
            let mut cmds = update_tick(app, now);
            if app.supply.on_tick(&app.cfg.supply, now) {
                flow::on_supply(app);
            }
            cmds.extend(logs::on_tick(app));
            cmds
        }
        Msg::Resized => {
            app.dirty = true;
            Vec::new()
        }
        Msg::Key(key) => logs::on_key(app, key).unwrap_or_else(|| handle_key(app, key)),
        Msg::EnvPolled {
            env,
            request,
            at,
            result,
        } => {
            let ok = result.is_ok();
            update_polled(app, env, request, at, result);
            if ok {
                flow::refresh_gate(app);
                let mut cmds = flow::on_reading(app, env);
                cmds.extend(supply::board_requests(app, env));
                cmds
            } else {
                Vec::new()
            }
        }
        Msg::Issued { op, result } => {
            app.dirty = true;
            flow::on_issued(app, op, result)
        }
        Msg::Recorded(result) => {
            app.dirty = true;
            flow::on_recorded(app, result);
            Vec::new()
        }
        Msg::Closed {
            op,
            written,
            records,
        } => {
            app.dirty = true;
            app.add_records(records);
            flow::on_closed(app, op, &written);
            flow::refresh_gate(app);
            Vec::new()
        }
        Msg::StepDecided(result) => {
            app.dirty = true;
            flow::on_step_decided(app, result);
            Vec::new()
        }
        Msg::SupplyRead {
            digest,
            recheck,
            evidence,
        } => {
            supply::on_read(app, digest, recheck, *evidence);
            flow::on_supply(app);
            Vec::new()
        }
        Msg::HistoryRead {
            env,
            service,
            current,
            result,
        } => {
            let now = app.now;
            histories::on_read(app, env, &service, &current, result, now);
            flow::refresh_gate(app);
            Vec::new()
        }
        Msg::LogsRead {
            request,
            at,
            result,
        } => {
            logs::on_read(app, request, at, result);
            Vec::new()
        }
        Msg::LedgerRead { records, lock } => {
            app.dirty = true;
            match records {
                Ok(r) => {
                    flow::on_step_records(app, &r);
                    app.add_records(r);
                }
                Err(e) => app.say(Level::Warn, format!("audit ledger unreadable: {e}")),
            }
            if let Some(Flow::Wizard(w)) = &mut app.flow {
                w.lock = lock;
            }
            flow::refresh_gate(app);
            Vec::new()
        }
        Msg::HealthProbed {
            env,
            service,
            result,
        } => {
            update_probed(app, env, &service, result);
            Vec::new()
        }
        Msg::SmokeFinished { env, at, results } => {
            update_smoke(app, env, at, &results);
            app.smoke_results.insert(env, (at, results));
            flow::refresh_gate(app);
            Vec::new()
        }
    }
}

/// Why a mutating action on the selected cell is not allowed, if it is not
/// (the engine's one refusal).
pub fn mutation_blocked(app: &App) -> Option<String> {
    crate::release::refusal(app.read_only, app.env_cfg(app.col)?)
}

#[cfg(test)]
mod tests;
