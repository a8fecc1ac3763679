//! Drives the console's pure `update` against the simulated fleet on a paused
//! clock, executing its commands with the same `runtime::execute` the real
//! console uses. Every deploy or rollback command is remembered.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use shipdeck::app::keys::{Key, KeyCode, KeyMap};
use shipdeck::app::{App, Command, Msg, update};
use shipdeck::clock::{Clock, ManualClock};
use shipdeck::config::Config;
use shipdeck::ledger::{Ledger, Record, RecordKind};
use shipdeck::platforms::sim::SimFleet;
use shipdeck::provider::AnyProvider;
use shipdeck::release::exec::Executor;

pub struct Harness {
    pub app: Box<App>,
    pub exec: Executor,
    /// The simulated fleet (for `Harness::over` a provider, an idle stand-in).
    pub fleet: SimFleet,
    /// What readings and deploys go to.
    pub provider: AnyProvider,
    pub clock: ManualClock,
    pub cfg: Config,
    pub ledger: Ledger,
    pub issued: Vec<Command>,
    pub _dir: tempfile::TempDir,
}

/// A quiet weekday morning, outside every demo freeze window.
pub fn monday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

impl Harness {
    pub async fn new(operator: &str, at: DateTime<Utc>) -> Self {
        let clock = ManualClock::new(at);
        let c: Arc<dyn Clock> = Arc::new(clock.clone());
        let fleet = SimFleet::demo(7, c).unwrap();
        let cfg = shipdeck::config::demo().unwrap();
        Self::over(cfg, AnyProvider::Sim(fleet.clone()), fleet, clock, operator).await
    }

    /// A console over a configuration and a simulated fleet of its own.
    pub async fn with_fleet(
        cfg: Config,
        fleet: &shipdeck::platforms::sim::FleetFile,
        operator: &str,
        at: DateTime<Utc>,
    ) -> Self {
        let clock = ManualClock::new(at);
        let sim = SimFleet::new(fleet, 5, Arc::new(clock.clone()));
        Self::over(cfg, AnyProvider::Sim(sim.clone()), sim, clock, operator).await
    }

    /// A console over any provider and configuration (e.g. AWS on emulators).
    pub async fn with_provider(cfg: Config, provider: AnyProvider, operator: &str) -> Self {
        let clock = ManualClock::new(Utc::now());
        let idle = SimFleet::demo(7, Arc::new(clock.clone())).unwrap();
        Self::over(cfg, provider, idle, clock, operator).await
    }

    /// A console over a simulated fleet of its own whose ledger and locks are
    /// `ledger` and `locks` (the team table: two consoles, one table).
    pub async fn with_state(
        cfg: Config,
        fleet: &shipdeck::platforms::sim::FleetFile,
        operator: &str,
        at: DateTime<Utc>,
        ledger: Ledger,
        locks: shipdeck::lock::LockStore,
    ) -> Self {
        let clock = ManualClock::new(at);
        let sim = SimFleet::new(fleet, 5, Arc::new(clock.clone()));
        Self::over_state(
            cfg,
            AnyProvider::Sim(sim.clone()),
            sim,
            clock,
            operator,
            Some((ledger, locks)),
        )
        .await
    }

    async fn over(
        cfg: Config,
        provider: AnyProvider,
        fleet: SimFleet,
        clock: ManualClock,
        operator: &str,
    ) -> Self {
        Self::over_state(cfg, provider, fleet, clock, operator, None).await
    }

    async fn over_state(
        mut cfg: Config,
        provider: AnyProvider,
        fleet: SimFleet,
        clock: ManualClock,
        operator: &str,
        state: Option<(Ledger, shipdeck::lock::LockStore)>,
    ) -> Self {
        let at = clock.now();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.jsonl");
        cfg.ledger_path = Some(path.clone());
        let c: Arc<dyn Clock> = Arc::new(clock.clone());
        let (ledger, locks) = state.unwrap_or_else(|| {
            (
                Ledger::new(&path),
                shipdeck::lock::LockStore::Dir(dir.path().join("locks")),
            )
        });
        let mut exec = Executor::new(
            provider.clone(),
            cfg.environments.clone(),
            ledger.clone(),
            locks,
            operator.to_string(),
            c,
        );
        let mut app = App::new(&cfg, KeyMap::default(), operator.to_string(), at);
        app.load_records(exec.read_new().unwrap());
        let mut h = Self {
            app: Box::new(app),
            exec,
            fleet,
            provider,
            clock,
            cfg,
            ledger,
            issued: Vec::new(),
            _dir: dir,
        };
        h.tick(1).await;
        h
    }

    pub async fn pump(&mut self, first: Vec<Command>) {
        let mut queue: VecDeque<Command> = first.into();
        while let Some(cmd) = queue.pop_front() {
            let msg = match &cmd {
                Command::PollEnv { env, request } => {
                    let env_cfg = &self.cfg.environments[*env];
                    Some(Msg::EnvPolled {
                        env: *env,
                        request: *request,
                        at: self.clock.now(),
                        result: shipdeck::provider::read_with_timeout(
                            &self.provider,
                            env_cfg,
                            shipdeck::provider::ReadScope::CONSOLE,
                        )
                        .await,
                    })
                }
                Command::ReadHistory {
                    env,
                    service,
                    current,
                } => Some(
                    shipdeck::runtime::read_history(
                        &self.provider,
                        &self.cfg.environments,
                        *env,
                        service.clone(),
                        current.clone(),
                    )
                    .await,
                ),
                Command::ReadLogs {
                    request,
                    env,
                    service,
                    query,
                } => Some(Msg::LogsRead {
                    request: *request,
                    at: self.clock.now(),
                    result: shipdeck::provider::read_logs(
                        &self.provider,
                        &self.cfg.environments,
                        env.index(),
                        service,
                        query,
                    )
                    .await,
                }),
                Command::RunSmoke { env } => Some(Msg::SmokeFinished {
                    env: *env,
                    at: self.clock.now(),
                    results: Vec::new(),
                }),
                Command::Quit => None,
                other => {
                    if matches!(other, Command::Issue { .. }) {
                        self.issued.push(other.clone());
                    }
                    shipdeck::runtime::execute(&mut self.exec, cmd.clone()).await
                }
            };
            if let Some(m) = msg {
                queue.extend(update(&mut self.app, m));
            }
        }
    }

    /// Advances the paused clock one second at a time, polling as the console would.
    pub async fn tick(&mut self, seconds: u64) {
        for _ in 0..seconds {
            self.clock.advance(Duration::from_secs(1));
            let cmds = update(&mut self.app, Msg::Tick(self.clock.now()));
            self.pump(cmds).await;
        }
    }

    pub async fn key(&mut self, key: Key) {
        let cmds = update(&mut self.app, Msg::Key(key));
        self.pump(cmds).await;
    }

    pub async fn keys(&mut self, text: &str) {
        for c in text.chars() {
            self.key(Key::ch(c)).await;
        }
    }

    pub async fn enter(&mut self) {
        self.key(Key::plain(KeyCode::Enter)).await;
    }

    pub async fn esc(&mut self) {
        self.key(Key::plain(KeyCode::Esc)).await;
    }

    /// Selects a cell by service and environment name.
    pub fn select(&mut self, service: &str, env: &str) {
        self.app.row = self
            .app
            .visible_services()
            .iter()
            .position(|s| *s == service)
            .unwrap();
        self.app.col = self.cfg.env_index(env).unwrap();
    }

    pub fn records(&self) -> Vec<Record> {
        self.ledger.read().unwrap()
    }

    pub fn kinds(&self) -> Vec<RecordKind> {
        self.records().iter().map(|r| r.kind).collect()
    }

    pub fn digest(&self, service: &str, env: &str) -> String {
        let i = self.cfg.env_index(env).unwrap();
        self.app.envs[i]
            .snapshot
            .as_ref()
            .and_then(|s| s.service(service))
            .and_then(|s| s.digest.as_ref())
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// The wizard's promotion id.
    pub fn promotion(&self) -> String {
        match &self.app.flow {
            Some(shipdeck::app::Flow::Wizard(w)) => w.promotion.clone(),
            other => panic!("no wizard open: {other:?}"),
        }
    }

    /// Approves the open wizard's promotion as `who`, from "another terminal".
    pub fn approve(&self, who: &str) {
        let target = match &self.app.flow {
            Some(shipdeck::app::Flow::Wizard(w)) => w.plan.target,
            _ => panic!("no wizard"),
        };
        shipdeck::approvals::approve(
            &self.ledger,
            &self.promotion(),
            who,
            None,
            &self.cfg.environments[target].gate,
            &self.cfg.roles,
            self.clock.now(),
        )
        .unwrap();
    }

    pub fn gate_go(&self) -> bool {
        match &self.app.flow {
            Some(shipdeck::app::Flow::Wizard(w)) => w.gate.go,
            _ => false,
        }
    }

    pub fn check(&self, name: &str) -> shipdeck::gate::Check {
        match &self.app.flow {
            Some(shipdeck::app::Flow::Wizard(w)) => w
                .gate
                .checks
                .iter()
                .find(|c| c.name == name)
                .cloned()
                .unwrap_or_else(|| panic!("no check {name}: {:?}", w.gate.checks)),
            _ => panic!("no wizard"),
        }
    }

    /// The prod wizard: two checklist items, a change record, two approvers, typed confirmation.
    pub async fn open_prod_wizard(&mut self, service: &str) {
        self.select(service, "prod");
        self.keys("p").await;
        assert!(
            matches!(self.app.flow, Some(shipdeck::app::Flow::Wizard(_))),
            "{:?}",
            self.app.message
        );
        self.keys(" j j").await; // tick both items, move to the change record
        self.enter().await;
        self.keys("CHG-1234").await;
        self.enter().await;
    }

    /// Two approvals from other terminals, GO, the typed confirmation: the watch opens.
    pub async fn approve_and_confirm_prod(&mut self) {
        self.approve("bob");
        self.approve("carol");
        self.tick(3).await;
        assert!(self.gate_go(), "{:#?}", self.app.flow);
        self.keys("g").await;
        self.keys("prod").await;
        self.enter().await;
        assert!(
            matches!(self.app.flow, Some(shipdeck::app::Flow::Watch(_))),
            "{:?}",
            self.app.message
        );
    }

    /// The watch's outcome once it is over (ticks up to `limit` seconds).
    pub async fn watch_until_over(&mut self, limit: u64) -> shipdeck::app::flow::WatchView {
        for _ in 0..limit {
            self.tick(1).await;
            if let Some(shipdeck::app::Flow::Watch(v)) = &self.app.flow
                && v.phase == shipdeck::app::flow::Phase::Done
            {
                return (**v).clone();
            }
        }
        panic!("the watch did not end within {limit}s: {:?}", self.app.flow);
    }
}

impl Harness {
    /// The screen as text (no colour), as the console would draw it.
    pub fn screen(&self, w: u16, h: u16) -> String {
        super::screen::text(&self.app, w, h)
    }
}
