//! Boards whose rows run on different platforms: what a platform shows of a
//! service reaches the board and the detail pane as it wrote it, and a mixed
//! board (one environment with ECS services beside two blue/green services
//! behind a proxy, all served by the simulator) reads and draws as any board.

use std::sync::Arc;

use ratatui::style::Color;
use shipdeck::app::App;
use shipdeck::app::keys::{Key, KeyCode, KeyMap};
use shipdeck::app::{Msg, update};
use shipdeck::clock::{Clock, ManualClock};
use shipdeck::config::{self, Theme as ThemeName};
use shipdeck::platforms::sim::{FleetFile, SimFleet};
use shipdeck::provider::Provider;
use shipdeck::ui::Theme;

use super::{SIZES, World, snap_both, t0};

const CONFIG: &str = r#"
provider = "simulated"
refresh_interval = "2s"

[[environment]]
name = "shop"
region = "eu-west-1"
cluster = "shop"

[environment.proxy]
kind = "haproxy"
url = "https://www.shop.example"
socket = "haproxy.shop.internal:9999"

[[environment.service]]
name = "api"
ecs_service = "shop-api"
alarm_prefixes = ["shop-api-"]
health = { url = "https://api.shop.example/healthz" }

[[environment.service]]
name = "storefront"
platform = "proxy"
blue = "http://storefront-blue.shop.internal:8080"
green = "http://storefront-green.shop.internal:8080"
deploy = ["deploy-colour", "{colour}", "{digest}"]
metric = [{ label = "5xx %", proxy = "5xx_percent", role = "error_rate" }]

[[environment.service]]
name = "checkout"
ecs_service = "shop-checkout"
alarm_prefixes = ["shop-checkout-"]
health = { url = "https://checkout.shop.example/healthz" }

[[environment.service]]
name = "search"
platform = "proxy"
blue = "http://search-blue.shop.internal:8080"
green = "http://search-green.shop.internal:8080"
deploy = ["deploy-colour", "{colour}", "{digest}"]
"#;

const FLEET: &str = r#"
[[environment]]
name = "shop"

[[environment.service]]
ecs_service = "shop-api"
family = "shop-api"
repository = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/api"
releases = ["2.4.0", "2.5.0"]
desired = 3
latency_ms = 42
alarms = [{ name = "shop-api-5xx", state = "OK" }]

[[environment.service]]
ecs_service = "shop-checkout"
family = "shop-checkout"
repository = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/checkout"
releases = ["1.9.0", "1.10.0"]
desired = 2
latency_ms = 88
strategy = "blue_green"
alarms = [{ name = "shop-checkout-5xx", state = "OK" }]

[[environment.blue_green]]
backend = "storefront"
repository = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/storefront"
blue = "3.0.0"
green = "3.1.0"
live = "green"

# search's idle colour does not answer: no rollback to it.
[[environment.blue_green]]
backend = "search"
repository = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/search"
blue = "1.0.0"
green = "0.9.4"
live = "blue"
down = ["green"]
"#;

fn mixed() -> World {
    let cfg = config::parse_str(CONFIG, "<mixed>", None).unwrap();
    let fleet = FleetFile::parse(FLEET, "<mixed fleet>").unwrap();
    let clock = ManualClock::new(t0());
    let sim = SimFleet::new(&fleet, 7, Arc::new(clock.clone()));
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
async fn mixed_board() {
    let mut w = mixed();
    w.poll_all().await;
    snap_both("mixed_board", &w);
    for (width, height) in SIZES {
        let screen = w.screen(width, height);
        // ECS cells say their revision and tasks; blue/green cells their
        // idle colour, warm or not.
        let row = |name: &str| {
            screen
                .lines()
                .skip_while(|l| !l.contains(name))
                .take(2)
                .collect::<Vec<_>>()
                .join("\n")
        };
        for (service, says) in [
            ("api", "r2 ✓ 3/3"),
            ("storefront", "blue✓"),
            ("search", "green✗"),
        ] {
            assert!(row(service).contains(says), "{width}x{height}\n{screen}");
        }
    }
    // Not answering is said in the bad tone, with its symbol.
    let term = w.draw(120, 40, &Theme::new(ThemeName::Dark, false));
    let buf = term.backend().buffer();
    let mut found = false;
    for y in 0..40 {
        let line: String = (0..120).map(|x| buf[(x, y)].symbol().to_string()).collect();
        if let Some(pos) = line.find("green✗") {
            let x = u16::try_from(line[..pos].chars().count()).unwrap();
            assert_eq!(buf[(x, y)].fg, Color::LightRed);
            found = true;
        }
    }
    assert!(found, "search's idle colour is marked");
}

#[tokio::test]
async fn mixed_board_detail_of_a_service_behind_the_proxy() {
    let mut w = mixed();
    w.poll_all().await;
    for _ in 0..3 {
        w.key(Key::ch('j'));
    }
    w.key(Key::plain(KeyCode::Enter));
    snap_both("mixed_board_search_detail", &w);
    let screen = w.screen(120, 40);
    assert!(screen.contains("Detail · search @ shop"), "{screen}");
    assert!(screen.contains("NOT ANSWERING"), "{screen}");
    // How it rolls out, in the proxy's words: no ECS circuit breaker here.
    assert!(
        screen.contains("strategy blue/green on haproxy"),
        "{screen}"
    );
    assert!(!screen.contains("circuit breaker"), "{screen}");
}

/// Beside it, an ECS service's detail pane says what guards its rollouts in
/// ECS's words.
#[tokio::test]
async fn mixed_board_detail_of_a_service_on_ecs_names_its_circuit_breaker() {
    let mut w = mixed();
    w.poll_all().await;
    w.key(Key::plain(KeyCode::Enter));
    let screen = w.screen(120, 40);
    assert!(screen.contains("Detail · api @ shop"), "{screen}");
    assert!(
        screen.contains("strategy rolling · circuit breaker"),
        "{screen}"
    );
}

/// What a platform shows of a service reaches the board and the detail pane
/// as the platform wrote it, whichever platform that is: here the proxy's
/// lines and its idle colour as the board's badge, on the demo's payments in
/// prod. A badge that is not good is `✗` in the bad tone, never colour alone.
#[tokio::test]
async fn a_platforms_own_lines_and_badge_reach_the_board_and_the_detail_pane() {
    use shipdeck::config::proxy::Colour;
    use shipdeck::platforms::proxy::{ColourView, ProxyView, Traffic};
    let mut w = World::new();
    w.poll_all().await;
    let now = w.clock.now();
    let cmds = update(&mut w.app, Msg::Tick(now + chrono::Duration::seconds(30)));
    let colour = |c: Colour, answering: bool, reason: &str| ColourView {
        colour: c,
        digest: Some(shipdeck::model::Digest::of_bytes(c.name().as_bytes())),
        answering,
        reason: reason.into(),
    };
    let view = ProxyView {
        kind: "haproxy".into(),
        live: Colour::Green,
        colours: vec![
            colour(Colour::Blue, false, "connection refused"),
            colour(Colour::Green, true, "answered 200"),
        ],
        traffic: Traffic::Unreadable("the admin socket did not answer".into()),
    };
    for cmd in cmds {
        if let shipdeck::app::Command::PollEnv { env, request } = cmd {
            let mut result = w
                .fleet
                .read_env(
                    &w.cfg.environments[env],
                    shipdeck::provider::ReadScope::CONSOLE,
                )
                .await;
            if env == shipdeck::config::EnvId(2)
                && let Ok(snap) = &mut result
            {
                let payments = snap
                    .services
                    .iter_mut()
                    .find(|s| s.name == "payments")
                    .unwrap();
                payments.detail = view.detail();
            }
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
    for _ in 0..3 {
        w.key(Key::ch('j'));
    }
    w.key(Key::ch('l'));
    w.key(Key::ch('l'));
    w.key(Key::plain(KeyCode::Enter));
    let screen = w.screen(120, 40);
    assert!(screen.contains("Detail · payments @ prod"), "{screen}");
    // The platform's lines, labelled, in place of ECS's task definition.
    assert!(screen.contains("live     green · "), "{screen}");
    assert!(
        screen.contains("idle     blue · ") && screen.contains("ANSWERING: no rollback to it"),
        "{screen}"
    );
    assert!(
        screen.contains("traffic  UNREADABLE: the admin socket did not answer"),
        "{screen}"
    );
    assert!(!screen.contains("task def arn"), "{screen}");
    // The badge: the idle colour, ✗ and the bad tone.
    let term = w.draw(120, 40, &Theme::new(ThemeName::Dark, false));
    let buf = term.backend().buffer();
    let mut found = false;
    for y in 0..40 {
        let line: String = (0..120).map(|x| buf[(x, y)].symbol().to_string()).collect();
        if let Some(pos) = line.find(" blue✗") {
            let x = u16::try_from(line[..pos].chars().count()).unwrap() + 1;
            assert_eq!(buf[(x, y)].fg, Color::LightRed, "{line}");
            found = true;
        }
    }
    assert!(found, "the idle colour's badge is on the board\n{screen}");
    // Another cell, on ECS, still says its task definition.
    w.key(Key::plain(KeyCode::Esc));
    w.key(Key::ch('h'));
    w.key(Key::plain(KeyCode::Enter));
    let screen = w.screen(120, 40);
    assert!(screen.contains("Detail · payments @ staging"), "{screen}");
    assert!(screen.contains("task def arn:aws:ecs:"), "{screen}");
}
