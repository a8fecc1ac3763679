//! Boards wider than any terminal: the service column stays, the view
//! scrolls sideways.

use std::sync::Arc;

use shipdeck::app::App;
use shipdeck::app::keys::{Key, KeyCode, KeyMap};
use shipdeck::clock::ManualClock;
use shipdeck::config;
use shipdeck::platforms::sim::SimFleet;

use super::{World, t0};

/// A world over a generated fleet of `envs` environments × `services` services.
fn wide(envs: usize, services: usize) -> World {
    let (cfg_text, fleet_text) = shipdeck::platforms::sim::scaled_wide(envs, services);
    let cfg = config::parse_str(&cfg_text, "<wide>", None).unwrap();
    let fleet = shipdeck::platforms::sim::FleetFile::parse(&fleet_text, "<wide>").unwrap();
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
