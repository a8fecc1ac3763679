//! Render snapshots with ratatui's TestBackend, driven by messages on a fixed clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod screen;
}

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use shipdeck::app::keys::{Key, KeyCode, KeyMap};
use shipdeck::app::{App, Msg, update};
use shipdeck::clock::{Clock, ManualClock};
use shipdeck::config::{self, Theme as ThemeName};
use shipdeck::provider::{Provider, ProviderError};
use shipdeck::sim::SimFleet;
use shipdeck::ui::Theme;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap()
}

struct World {
    app: App,
    fleet: SimFleet,
    clock: ManualClock,
    cfg: config::Config,
    request: u64,
}

impl World {
    fn new() -> Self {
        let clock = ManualClock::new(t0());
        let cfg = config::demo().unwrap();
        let fleet = SimFleet::demo(7, Arc::new(clock.clone())).unwrap();
        let app = App::new(&cfg, KeyMap::default(), "alice".into(), t0());
        Self {
            app,
            fleet,
            clock,
            cfg,
            request: 0,
        }
    }

    /// Ticks (which issues polls) and answers every poll from the simulator.
    async fn poll_all(&mut self) {
        let now = self.clock.now();
        let cmds = update(&mut self.app, Msg::Tick(now));
        for cmd in cmds {
            if let shipdeck::app::Command::PollEnv { env, request } = cmd {
                self.request = request;
                let result = self
                    .fleet
                    .read_env(
                        &self.cfg.environments[env],
                        shipdeck::provider::ReadScope::CONSOLE,
                    )
                    .await;
                update(
                    &mut self.app,
                    Msg::EnvPolled {
                        env,
                        request,
                        at: now,
                        result,
                    },
                );
            }
        }
    }

    fn key(&mut self, k: Key) {
        update(&mut self.app, Msg::Key(k));
    }

    fn draw(&self, w: u16, h: u16, theme: &Theme) -> Terminal<TestBackend> {
        support::screen::draw(&self.app, w, h, theme)
    }

    fn screen(&self, w: u16, h: u16) -> String {
        support::screen::text(&self.app, w, h)
    }
}

fn snap_both(name: &str, world: &World) {
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), world.screen(w, h));
    }
}

#[tokio::test]
async fn board_loading() {
    let mut w = World::new();
    // Polls are issued but nothing has answered yet.
    update(&mut w.app, Msg::Tick(t0()));
    snap_both("board_loading", &w);
}

#[tokio::test]
async fn board_ready() {
    let mut w = World::new();
    w.poll_all().await;
    w.clock.advance(Duration::from_secs(3));
    update(&mut w.app, Msg::Tick(w.clock.now()));
    snap_both("board_ready", &w);
}

#[tokio::test]
async fn stale_environment() {
    let mut w = World::new();
    w.poll_all().await;
    w.clock.advance(Duration::from_secs(5));
    let now = w.clock.now();
    let cmds = update(&mut w.app, Msg::Tick(now));
    for cmd in cmds {
        if let shipdeck::app::Command::PollEnv { env, request } = cmd {
            let result = if env == shipdeck::config::EnvId(2) {
                Err(ProviderError::Network {
                    message: "cannot connect to ecs.eu-central-1".into(),
                })
            } else {
                w.fleet
                    .read_env(
                        &w.cfg.environments[env],
                        shipdeck::provider::ReadScope::CONSOLE,
                    )
                    .await
            };
            update(
                &mut w.app,
                Msg::EnvPolled {
                    env,
                    request,
                    at: now,
                    result,
                },
            );
        }
    }
    w.clock.advance(Duration::from_secs(40));
    update(&mut w.app, Msg::Tick(w.clock.now()));
    snap_both("stale_environment", &w);
    assert!(w.screen(120, 40).contains("STALE"));
}

#[tokio::test]
async fn detail_pane() {
    let mut w = World::new();
    w.poll_all().await;
    for _ in 0..3 {
        w.key(Key::ch('j'));
    }
    w.key(Key::ch('l'));
    w.key(Key::ch('l'));
    w.key(Key::plain(KeyCode::Enter));
    snap_both("detail_pane", &w);
    let screen = w.screen(120, 40);
    assert!(screen.contains("Detail · payments @ prod"));
    assert!(screen.contains("ALARM"));
}

#[tokio::test]
async fn timeline_with_a_deploy() {
    let mut w = World::new();
    w.poll_all().await;
    let staging = &w.cfg.environments[1];
    let dev_digest = shipdeck::model::Digest::of_bytes(
        b"123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/checkout:1.10.0",
    );
    w.fleet
        .deploy(staging, staging.service("checkout").unwrap(), &dev_digest)
        .await
        .unwrap();
    for _ in 0..15 {
        w.clock.advance(Duration::from_secs(2));
        w.poll_all().await;
    }
    w.key(Key::plain(KeyCode::Tab));
    snap_both("timeline", &w);
    let screen = w.screen(120, 40);
    assert!(
        screen.contains("rollout completed → in progress")
            || screen.contains("has begun a deployment")
    );
}

#[tokio::test]
async fn help_overlay() {
    let mut w = World::new();
    w.poll_all().await;
    w.key(Key::ch('?'));
    snap_both("help_overlay", &w);
    assert!(w.screen(120, 40).contains("Keys in the board"));
}

#[tokio::test]
async fn read_only() {
    let mut w = World::new();
    w.app.read_only = true;
    w.poll_all().await;
    w.key(Key::ch('p'));
    snap_both("read_only", &w);
    let screen = w.screen(80, 24);
    assert!(screen.contains("READ-ONLY"));
}

#[tokio::test]
async fn too_small_terminal_gets_a_message() {
    let mut w = World::new();
    w.poll_all().await;
    let screen = w.screen(60, 15);
    assert!(screen.contains("need at least 80×24"), "{screen}");
}

#[tokio::test]
async fn status_is_coloured_and_never_colour_alone() {
    let mut w = World::new();
    w.poll_all().await;
    let term = w.draw(120, 40, &Theme::new(ThemeName::Dark, false));
    let buf = term.backend().buffer();
    // Find the ALARM badge of payments in prod and check its colour and symbol.
    let mut found = false;
    for y in 0..40 {
        let line: String = (0..120).map(|x| buf[(x, y)].symbol().to_string()).collect();
        if let Some(pos) = line.find("A✗1") {
            let x = u16::try_from(line[..pos].chars().count()).unwrap();
            assert_eq!(buf[(x, y)].fg, Color::LightRed);
            found = true;
        }
    }
    assert!(found, "the firing alarm is shown with a symbol");
    // NO_COLOR: no foreground colours at all.
    let plain = w.draw(120, 40, &Theme::new(ThemeName::Dark, true));
    let buf = plain.backend().buffer();
    for y in 0..40 {
        for x in 0..120 {
            assert!(
                matches!(buf[(x, y)].fg, Color::Reset),
                "colour at {x},{y} under NO_COLOR"
            );
        }
    }
}

/// A world over a generated fleet of `envs` environments × `services` services.
fn wide(envs: usize, services: usize) -> World {
    let (cfg_text, fleet_text) = shipdeck::sim::scaled_wide(envs, services);
    let cfg = config::parse_str(&cfg_text, "<wide>", None).unwrap();
    let fleet = shipdeck::sim::FleetFile::parse(&fleet_text, "<wide>").unwrap();
    let clock = ManualClock::new(t0());
    let sim = SimFleet::new(&fleet, 3, Arc::new(clock.clone()));
    let app = App::new(&cfg, KeyMap::default(), "alice".into(), t0());
    World {
        app,
        fleet: sim,
        clock,
        cfg,
        request: 0,
    }
}

#[tokio::test]
async fn wide_boards_scroll_sideways_with_the_service_column_pinned() {
    for (envs, w, h) in [(10, 80, 24), (40, 120, 40), (100, 120, 40), (200, 120, 40)] {
        let mut world = wide(envs, 12);
        world.poll_all().await;
        let screen = world.screen(w, h);
        let board: Vec<&str> = screen.lines().skip(1).take(12).collect();
        let cells = board
            .iter()
            .filter(|l| l.contains("svc-00"))
            .map(|l| l.matches(" ✓").count())
            .sum::<usize>();
        assert!(
            cells >= 5 * 4,
            "{envs} environments at {w}x{h}: cells drawn\n{screen}"
        );
        assert!(
            screen.contains("env-01") && screen.contains(" ▶"),
            "{envs} at {w}: the first environments, and more to the right\n{screen}"
        );
        // To the last environment: the service column stays, the view scrolls.
        for _ in 1..envs {
            world.key(Key::plain(KeyCode::Right));
        }
        let screen = world.screen(w, h);
        assert!(
            screen.contains(&format!("env-{envs:02}")) && screen.contains("◀ +"),
            "{envs} at {w}: scrolled to the last\n{screen}"
        );
        assert!(screen.contains("▶svc-0000"), "{screen}");
        let header = screen.lines().nth(2).unwrap_or_default();
        assert!(!header.contains("env-01 "), "{header}");
    }
}
