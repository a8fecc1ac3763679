//! Time per frame of the board with 500 services × 3 environments (target: < 2 ms),
//! and at 20,000 services the two things the console loop does between key
//! presses: answer a key (update + draw) and take in a reading (target: both
//! well under 100 ms, so a key is never kept waiting).
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
use shipdeck::platforms::sim::{FleetFile, SimFleet, scaled};
use shipdeck::provider::{Provider, ReadScope};
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

/// Taking in one reading of the second environment, as the console loop does.
fn bench_take_in(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    app: &mut App,
    reading: &shipdeck::model::EnvSnapshot,
    now: chrono::DateTime<Utc>,
) {
    let mut request = 1_000_000;
    group.bench_function("take in one environment's reading", |b| {
        b.iter_batched(
            || reading.clone(),
            |snap| {
                request += 1;
                app.envs[shipdeck::config::EnvId(1)].in_flight = Some(request);
                update(
                    app,
                    Msg::EnvPolled {
                        env: shipdeck::config::EnvId(1),
                        request,
                        at: now,
                        result: Ok(snap),
                    },
                );
            },
            criterion::BatchSize::LargeInput,
        );
    });
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

fn bench_fleet_20k(c: &mut Criterion) {
    let mut app = loaded_app(20_000);
    let theme = Theme::new(ThemeName::Dark, false);
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let mut group = c.benchmark_group("20000x3");
    group.sample_size(10);
    group.bench_function("key j + draw at 120x40", |b| {
        b.iter(|| {
            update(&mut app, Msg::Key(Key::ch('j')));
            term.draw(|f| ui::render(f, &app, &theme)).unwrap();
        });
    });
    group.bench_function("search key + draw at 120x40", |b| {
        b.iter(|| {
            update(&mut app, Msg::Key(Key::ch('/')));
            update(&mut app, Msg::Key(Key::ch('9')));
            update(&mut app, Msg::Key(Key::plain(KeyCode::Esc)));
            term.draw(|f| ui::render(f, &app, &theme)).unwrap();
        });
    });
    // Taking in one environment's reading (what a key waits behind at worst).
    let (cfg_text, fleet_text) = scaled(20_000);
    let cfg = config::parse_str(&cfg_text, "bench", None).unwrap();
    let fleet = FleetFile::parse(&fleet_text, "bench").unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap();
    let sim = SimFleet::new(&fleet, 1, Arc::new(ManualClock::new(now)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let reading = rt
        .block_on(sim.read_env(&cfg.environments[1], ReadScope::CONSOLE))
        .unwrap();
    bench_take_in(&mut group, &mut app, &reading, now);
    group.finish();
}

/// What the idle console spends at 2,000 services × 3 (`demo --services
/// 2000`) in one 5 s refresh interval: three simulated readings (each
/// stepping the fleet on by the time passed), three take-ins, five ticks
/// with their redraw. `scripts/measure-idle.sh` measures the whole process.
fn bench_idle_2000(c: &mut Criterion) {
    let mut app = loaded_app(2_000);
    let theme = Theme::new(ThemeName::Dark, false);
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let (cfg_text, fleet_text) = scaled(2_000);
    let cfg = config::parse_str(&cfg_text, "bench", None).unwrap();
    let fleet = FleetFile::parse(&fleet_text, "bench").unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap();
    let clock = ManualClock::new(now);
    let sim = SimFleet::new(&fleet, 1, Arc::new(clock.clone()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("2000x3 idle");
    group.bench_function("simulator reads one environment, 5 s on", |b| {
        b.iter(|| {
            clock.advance(std::time::Duration::from_secs(5));
            rt.block_on(sim.read_env(&cfg.environments[1], ReadScope::CONSOLE))
                .unwrap()
        });
    });
    group.bench_function("simulator reads one environment, no time on", |b| {
        b.iter(|| {
            rt.block_on(sim.read_env(&cfg.environments[1], ReadScope::CONSOLE))
                .unwrap()
        });
    });
    let reading = rt
        .block_on(sim.read_env(&cfg.environments[1], ReadScope::CONSOLE))
        .unwrap();
    bench_take_in(&mut group, &mut app, &reading, now);
    let mut t = now;
    group.bench_function("tick + draw at 120x40", |b| {
        b.iter(|| {
            t += chrono::Duration::seconds(1);
            update(&mut app, Msg::Tick(t));
            term.draw(|f| ui::render(f, &app, &theme)).unwrap();
        });
    });
    group.finish();
}

criterion_group!(benches, bench_render, bench_fleet_20k, bench_idle_2000);
criterion_main!(benches);
