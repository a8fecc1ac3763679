//! The console's model and `update`: pure, no I/O, no clock (time arrives in messages).

pub mod flow;
pub mod keys;
pub mod timeline;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{Config, EnvId};
use crate::health::{HealthTracker, ProbeResult, SmokeResult};
use crate::ledger::{Draft, Record, RecordKind};
use crate::model::drift::{self, DriftRow};
use crate::model::{EnvSnapshot, Freshness, Health, ServiceSnapshot};
use crate::provider::{DeployStarted, ProviderError};
use crate::release::exec::Issue;
pub use flow::Flow;
use keys::{Action, Context, Key, KeyCode, KeyMap};
use timeline::{EntryKind, Timeline};

/// Shortest wait after a transient failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(2);
/// Longest wait between retries.
pub const BACKOFF_MAX: Duration = Duration::from_mins(2);
/// Health latencies kept per cell for the sparkline.
pub const HEALTH_HISTORY: usize = 60;
/// Rows moved by page up/down.
pub const PAGE_ROWS: usize = 10;

/// Messages: facts that happened, or user intents.
#[derive(Debug, Clone)]
pub enum Msg {
    /// The slow clock ticked; carries the current time.
    Tick(DateTime<Utc>),
    /// The user pressed a key.
    Key(Key),
    /// The terminal was resized.
    Resized,
    /// A reading of environment `env` finished.
    EnvPolled {
        /// Environment.
        env: EnvId,
        /// Request id that produced it.
        request: u64,
        /// When the answer arrived.
        at: DateTime<Utc>,
        /// The reading or its error.
        result: Result<EnvSnapshot, ProviderError>,
    },
    /// A health probe of a service finished.
    HealthProbed {
        /// Environment.
        env: EnvId,
        /// Service name.
        service: String,
        /// Outcome.
        result: ProbeResult,
    },
    /// A smoke run of an environment finished.
    SmokeFinished {
        /// Environment.
        env: EnvId,
        /// When it finished.
        at: DateTime<Utc>,
        /// Verdicts.
        results: Vec<SmokeResult>,
    },
    /// A deploy or rollback was accepted, or refused (message, and whether the
    /// refusal is already closed in the ledger).
    Issued {
        /// Operation id.
        op: u64,
        /// What the provider started.
        result: Result<Box<DeployStarted>, (String, bool)>,
    },
    /// A record was appended (or could not be).
    Recorded(Result<Box<Record>, String>),
    /// The ledger was read, with who holds the lock asked about.
    LedgerRead {
        /// The records appended since the last read, or why they could not be read.
        records: Result<Vec<Record>, String>,
        /// Lock holder of the asked-about service, if someone else.
        lock: Option<String>,
    },
}

/// Side effects for the runtime to execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Read environment `env`; answer with `Msg::EnvPolled` carrying `request`.
    PollEnv {
        /// Environment.
        env: EnvId,
        /// Request id.
        request: u64,
    },
    /// Run the smoke checks of environment `env`.
    RunSmoke {
        /// Environment.
        env: EnvId,
    },
    /// Take the lock, write the record, then deploy or roll back; answer `Msg::Issued`.
    Issue {
        /// Operation id.
        op: u64,
        /// Environment.
        env: EnvId,
        /// Service.
        service: String,
        /// Deploy or rollback.
        issue: Issue,
        /// The record (`DeployIssued`/`RollbackIssued`).
        draft: Draft,
    },
    /// Append a record; answer `Msg::Recorded`.
    Record {
        /// Kind.
        kind: RecordKind,
        /// Fields.
        draft: Draft,
    },
    /// Release the lock of a service in an environment.
    Release {
        /// Environment.
        env: EnvId,
        /// Service.
        service: String,
    },
    /// Read the ledger and the lock of a service; answer `Msg::LedgerRead`.
    ReadLedger {
        /// Environment.
        env: EnvId,
        /// Service.
        service: String,
    },
    /// Leave the console.
    Quit,
}

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
    /// Selected row within the visible services.
    pub row: usize,
    /// Selected environment column.
    pub col: EnvId,
    /// Focused pane.
    pub focus: Pane,
    /// Detail pane shown.
    pub detail_open: bool,
    /// Lines the detail pane is scrolled down.
    pub detail_scroll: usize,
    /// Service-name filter.
    pub filter: String,
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
    pub health_history: HashMap<(EnvId, String), VecDeque<u64>>,
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
            row: 0,
            col: EnvId(0),
            focus: Pane::Board,
            detail_open: false,
            detail_scroll: 0,
            filter: String::new(),
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
                flow::Phase::Watching | flow::Phase::Done => Context::Watch,
            }),
            Some(Flow::Watch(_)) | None => None,
        }
    }

    fn recompute_drift(&mut self) {
        let names = self.cfg.env_names();
        let snaps: Vec<Option<&EnvSnapshot>> =
            self.envs.iter().map(|e| e.snapshot.as_ref()).collect();
        self.drift = drift::drift(&self.services, &names, &snaps);
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

    fn say(&mut self, level: Level, text: impl Into<String>) {
        // Messages quote errors and names from outside.
        self.message = Some((level, crate::model::sanitize(&text.into())));
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

impl App {
    /// Recent health latencies (ms) of a cell, oldest first: probe results where
    /// the service is probed, else the provider's readings.
    pub fn latencies(&self, env: EnvId, service: &str) -> Vec<u64> {
        let key = (env, service.to_string());
        match self.trackers.get(&key) {
            Some(t) => t.latencies(),
            None => self
                .health_history
                .get(&key)
                .map(|h| h.iter().copied().collect())
                .unwrap_or_default(),
        }
    }

    /// The ledger as read at start-up: kept for rollback targets and approvals, and
    /// whatever a previous run left unfinished is shown.
    pub fn load_records(&mut self, records: Vec<crate::ledger::Record>) {
        let open = crate::stable::interrupted(&records);
        self.records = records;
        self.note_interrupted(&open);
    }

    /// Puts a warning in the status bar.
    pub fn say_warning(&mut self, text: String) {
        self.say(Level::Warn, text);
    }

    /// Shows promotions or rollbacks that a previous run started and never finished.
    pub fn note_interrupted(&mut self, list: &[crate::stable::Interrupted]) {
        for i in list {
            let kind = i.last.kind.as_str();
            let text = format!(
                "INTERRUPTED: {} of {} in {} never finished (last record: {kind} by {}); check the service before acting",
                i.what(),
                i.service,
                i.env,
                i.last.draft.operator
            );
            let key = format!("interrupted:{}", i.last.id);
            self.timeline.push(
                key,
                i.last.at,
                &i.env,
                Some(&i.service),
                EntryKind::Action,
                &text,
                true,
            );
        }
        if !list.is_empty() && self.flow.is_none() {
            self.flow = Some(Flow::Interrupted(Box::new(flow::InterruptedDialog {
                items: list.to_vec(),
            })));
        }
        if let Some(first) = list.first() {
            self.say(
                Level::Warn,
                format!(
                    "{} interrupted action(s), e.g. {} in {}: see the timeline and `shipdeck audit --service {}`",
                    list.len(),
                    first.service,
                    first.env,
                    first.service
                ),
            );
        }
    }
}

/// The one entry point: applies a message, returns the effects to run.
pub fn update(app: &mut App, msg: Msg) -> Vec<Command> {
    match msg {
        Msg::Tick(now) => update_tick(app, now),
        Msg::Resized => {
            app.dirty = true;
            Vec::new()
        }
        Msg::Key(key) => handle_key(app, key),
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
                flow::on_reading(app, env)
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
        Msg::LedgerRead { records, lock } => {
            app.dirty = true;
            match records {
                Ok(r) => app.add_records(r),
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

fn update_tick(app: &mut App, now: DateTime<Utc>) -> Vec<Command> {
    // Ages on screen change with the second.
    if now.timestamp() != app.now.timestamp() {
        app.dirty = true;
    }
    app.now = now;
    let due: Vec<EnvId> = app
        .envs
        .iter()
        .enumerate()
        .filter(|(_, e)| e.in_flight.is_none() && e.next_poll.is_none_or(|t| t <= now))
        .map(|(i, _)| EnvId(i))
        .collect();
    let mut cmds: Vec<Command> = due.into_iter().map(|i| app.issue_poll(i)).collect();
    // Approvals arrive through the ledger: re-read it while the wizard is open.
    let ask = match (&app.flow, app.ledger_asked) {
        (Some(Flow::Wizard(w)), asked)
            if asked.is_none_or(|at| now - at >= chrono_dur(LEDGER_EVERY)) =>
        {
            Some((w.plan.target, w.plan.service.clone()))
        }
        _ => None,
    };
    if let Some((env, service)) = ask {
        app.ledger_asked = Some(now);
        cmds.push(Command::ReadLedger { env, service });
    }
    flow::refresh_gate(app);
    cmds.extend(flow::on_tick(app));
    cmds
}

fn update_polled(
    app: &mut App,
    env: EnvId,
    request: u64,
    at: DateTime<Utc>,
    result: Result<EnvSnapshot, ProviderError>,
) {
    let Some(e) = app.envs.get_mut(env.index()) else {
        return;
    };
    // A superseded request's answer is ignored.
    if e.in_flight != Some(request) {
        return;
    }
    e.in_flight = None;
    app.dirty = true;
    match result {
        Ok(snap) => {
            e.freshness = e.freshness.on_success(snap.read_at);
            e.failures = 0;
            let watched = matches!(&app.flow, Some(Flow::Watch(v)) if v.watch.env == env && v.phase == flow::Phase::Watching);
            let every = if watched {
                app.cfg.refresh_interval.min(WATCH_POLL)
            } else {
                app.cfg.refresh_interval
            };
            e.next_poll = Some(at + chrono_dur(every));
            for svc in &snap.services {
                // Probed services keep their history in the tracker.
                if app.trackers.contains_key(&(env, svc.name.clone())) {
                    continue;
                }
                if let Health::Healthy { latency, .. } = &svc.health {
                    let h = app
                        .health_history
                        .entry((env, svc.name.clone()))
                        .or_default();
                    h.push_back(u64::try_from(latency.as_millis()).unwrap_or(u64::MAX));
                    if h.len() > HEALTH_HISTORY {
                        h.pop_front();
                    }
                }
            }
            let mut snap = snap;
            for svc in &mut snap.services {
                if let Some(t) = app.trackers.get(&(env, svc.name.clone())) {
                    svc.health = t.health(at);
                }
            }
            let prev = e.snapshot.take();
            update_sources(&mut app.envs[env], prev.as_ref(), &snap);
            app.timeline.record_reading(prev.as_ref(), &snap);
            app.envs[env].snapshot = Some(snap);
            app.recompute_drift();
        }
        Err(err) => {
            let text = err.to_string();
            let changed = match &e.freshness {
                Freshness::Stale { error, .. } | Freshness::Failed { error } => *error != text,
                _ => true,
            };
            e.freshness = e.freshness.on_failure(text.clone());
            e.failures = e.failures.saturating_add(1);
            let wait = if err.is_transient() {
                let retry_after = match &err {
                    ProviderError::Throttled { retry_after, .. } => *retry_after,
                    _ => None,
                };
                backoff(e.failures, request, retry_after)
            } else {
                app.cfg.refresh_interval.max(BACKOFF_BASE)
            };
            e.next_poll = Some(at + chrono_dur(wait));
            let name = app.cfg.environments[env].name.clone();
            // Repeating the same error every retry would bury the timeline.
            if changed {
                let key = format!("err:{name}:{}", at.timestamp_millis());
                app.timeline.push(
                    key,
                    at,
                    &name,
                    None,
                    EntryKind::Error,
                    &format!("reading failed: {text}"),
                    true,
                );
            }
        }
    }
}

/// Each source keeps its own freshness: CloudWatch failing while ECS answers
/// makes the alarms stale (last good values kept aside), never "none".
fn update_sources(e: &mut EnvState, prev: Option<&EnvSnapshot>, snap: &EnvSnapshot) {
    use crate::model::SourceState;
    let next = |f: &Freshness, s: &SourceState| match s {
        SourceState::NotUsed => Freshness::Unknown,
        SourceState::Ready => f.on_success(snap.read_at),
        SourceState::Failed { error } => f.on_failure(error.clone()),
    };
    e.alarms_freshness = next(&e.alarms_freshness, &snap.sources.alarms);
    e.metrics_freshness = next(&e.metrics_freshness, &snap.sources.metrics);
    if snap.sources.alarms.error().is_none() {
        e.last_good_alarms.clear();
        return;
    }
    for svc in &snap.services {
        if e.last_good_alarms.contains_key(&svc.name) {
            continue;
        }
        if let Some(p) = prev.and_then(|p| p.service(&svc.name))
            && p.alarms_unknown.is_none()
            && !p.alarms.is_empty()
        {
            e.last_good_alarms
                .insert(svc.name.clone(), p.alarms.clone());
        }
    }
}

fn update_probed(app: &mut App, env: EnvId, service: &str, result: ProbeResult) {
    let key = (env, service.to_string());
    let window = app
        .windows
        .get(&key)
        .copied()
        .unwrap_or(crate::config::DEFAULT_STABILITY_WINDOW);
    let tracker = app
        .trackers
        .entry(key)
        .or_insert_with(|| HealthTracker::new(window));
    let was_bad = tracker.last().is_some_and(|r| !r.ok);
    let at = result.at;
    tracker.record(result);
    let health = tracker.health(app.now.max(at));
    let now_bad = health.is_bad();
    let Some(name) = app.env_cfg(env).map(|e| e.name.clone()) else {
        return;
    };
    let Some(e) = app.envs.get_mut(env.index()) else {
        return;
    };
    if let Some(s) = e
        .snapshot
        .as_mut()
        .and_then(|s| s.services.iter_mut().find(|s| s.name == service))
    {
        s.health = health.clone();
    }
    if was_bad != now_bad {
        let text = match &health {
            Health::Unhealthy { reason, .. } => format!("health failing: {reason}"),
            _ => "health recovered".to_string(),
        };
        let key = format!("probe:{name}:{service}:{}", at.timestamp_millis());
        app.timeline.push(
            key,
            at,
            &name,
            Some(service),
            EntryKind::Health,
            &text,
            now_bad,
        );
    }
    app.dirty = true;
}

fn update_smoke(app: &mut App, env: EnvId, at: DateTime<Utc>, results: &[SmokeResult]) {
    app.smoke_running.retain(|e| *e != env);
    let Some(name) = app.env_cfg(env).map(|e| e.name.clone()) else {
        return;
    };
    for (i, r) in results.iter().enumerate() {
        let text = format!(
            "smoke {} {}: {}",
            if r.passed { "passed" } else { "FAILED" },
            r.name,
            r.reason
        );
        app.timeline.push(
            format!("smoke:{name}:{}:{i}", at.timestamp_millis()),
            at,
            &name,
            None,
            EntryKind::Action,
            &text,
            !r.passed,
        );
    }
    let failed = results.iter().filter(|r| !r.passed).count();
    let level = if failed == 0 {
        Level::Info
    } else {
        Level::Warn
    };
    app.say(
        level,
        format!(
            "smoke {name}: {} passed, {failed} failed",
            results.len() - failed
        ),
    );
    app.dirty = true;
}

fn handle_key(app: &mut App, key: Key) -> Vec<Command> {
    app.dirty = true;
    if key == Key::ctrl('c') {
        return flow::quit(app);
    }
    match app.overlay.clone() {
        Overlay::Help => {
            if matches!(key.code, KeyCode::Esc | KeyCode::Enter)
                || matches!(
                    app.keymap.action(key, Context::Global),
                    Some(Action::Help | Action::Quit | Action::Close)
                )
            {
                app.overlay = Overlay::None;
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
    // Help works in every dialog that does not take text.
    if let Some(ctx) = app.flow_context()
        && !ctx.is_typing()
        && app.keymap.action(key, ctx) == Some(Action::Help)
    {
        app.overlay = Overlay::Help;
        return Vec::new();
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
    app.message = None;
    update_action(app, action)
}

fn handle_filter_key(app: &mut App, key: Key) {
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

fn handle_picker_key(app: &mut App, key: Key, i: usize) {
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

fn update_action(app: &mut App, action: Action) -> Vec<Command> {
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
        Action::Help => app.overlay = Overlay::Help,
        Action::Filter => app.overlay = Overlay::Filter,
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
            app.detail_scroll = 0;
            app.focus = Pane::Detail;
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
                scroll_timeline(app, action);
            } else if app.focus == Pane::Detail {
                app.detail_scroll = match action {
                    Action::Up => app.detail_scroll.saturating_sub(1),
                    Action::Down => app.detail_scroll + 1,
                    Action::Top => 0,
                    Action::PageUp => app.detail_scroll.saturating_sub(PAGE_ROWS),
                    Action::PageDown => app.detail_scroll + PAGE_ROWS,
                    _ => app.detail_scroll,
                };
            } else {
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
                app.col = if action == Action::Left {
                    app.col.previous().unwrap_or(app.col)
                } else {
                    EnvId((app.col.index() + 1).min(app.envs.len().saturating_sub(1)))
                };
            }
        }
        Action::Promote => return flow::open_wizard(app),
        Action::Rollback => flow::open_rollback(app),
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
        | Action::WizardSmoke
        | Action::Back
        | Action::Keep
        | Action::Undo
        | Action::Accept
        | Action::Cancel
        | Action::AbortDeploy
        | Action::Hide
        | Action::Dismiss
        | Action::RollBackNow
        | Action::LeaveIt
        | Action::AbortYes
        | Action::AbortNo
        | Action::Resume
        | Action::RollBackInterrupted
        | Action::Skip => {}
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

fn scroll_timeline(app: &mut App, action: Action) {
    let len = app.timeline.entries().len();
    let s = &mut app.timeline.scroll;
    *s = match action {
        Action::Up => (*s + 1).min(len.saturating_sub(1)),
        Action::Down => s.saturating_sub(1),
        Action::Top => len.saturating_sub(1),
        Action::Bottom => 0,
        Action::PageUp => (*s + PAGE_ROWS).min(len.saturating_sub(1)),
        _ => s.saturating_sub(PAGE_ROWS),
    };
}

/// Why a mutating action on the selected cell is not allowed, if it is not
/// (the engine's one refusal).
pub fn mutation_blocked(app: &App) -> Option<String> {
    crate::release::refusal(app.read_only, app.env_cfg(app.col)?)
}

#[cfg(test)]
mod tests;
