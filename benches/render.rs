//! Time per frame of the board with 500 services × 3 environments (target: < 2 ms).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use shipdeck::app::keys::{Key, KeyCode, KeyMap};
use shipdeck::app::{App, Command, Msg, update};
use shipdeck::clock::ManualClock;
use shipdeck::config::{self, Theme as ThemeName};
use shipdeck::provider::{Provider, ReadScope};
use shipdeck::sim::{FleetFile, SimFleet, scaled};
use shipdeck::ui::{self, Theme};

fn loaded_app(services: usize) -> App {
    let (cfg_text, fleet_text) = scaled(services);
    let cfg = config::parse_str(&cfg_text, "bench", None).unwrap();
    let fleet = FleetFile::parse(&fleet_text, "bench").unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap();
    let sim = SimFleet::new(&fleet, 1, Arc::new(ManualClock::new(now)));
    let mut app = App::new(&cfg, KeyMap::default(), "bench".into(), now);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for cmd in update(&mut app, Msg::Tick(now)) {
        if let Command::PollEnv { env, request } = cmd {
            let result = rt.block_on(sim.read_env(&cfg.environments[env], ReadScope::CONSOLE));
            update(
                &mut app,
                Msg::EnvPolled {
                    env,
                    request,
                    at: now,
                    result,
                },
            );
        }
    }
    assert!(app.envs.iter().all(|e| e.snapshot.is_some()));
    app
}

fn bench_render(c: &mut Criterion) {
    let mut app = loaded_app(500);
    let theme = Theme::new(ThemeName::Dark, false);
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    c.bench_function("board 500x3 at 120x40", |b| {
        b.iter(|| {
            term.draw(|f| ui::render(f, &app, &theme)).unwrap();
        });
    });
    // Scrolled to the middle with the detail pane open: the heaviest layout.
    for _ in 0..250 {
        update(&mut app, Msg::Key(Key::ch('j')));
    }
    update(&mut app, Msg::Key(Key::plain(KeyCode::Enter)));
    c.bench_function("board 500x3 + detail at 120x40", |b| {
        b.iter(|| {
            term.draw(|f| ui::render(f, &app, &theme)).unwrap();
        });
    });
    let mut big = Terminal::new(TestBackend::new(250, 70)).unwrap();
    c.bench_function("board 500x3 + detail at 250x70", |b| {
        b.iter(|| {
            big.draw(|f| ui::render(f, &app, &theme)).unwrap();
        });
    });
}

criterion_group!(benches, bench_render);
criterion_main!(benches);
