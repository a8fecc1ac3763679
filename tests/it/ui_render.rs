//! Render snapshots with ratatui's TestBackend, driven by messages on a fixed clock.

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
use shipdeck::platforms::sim::SimFleet;
use shipdeck::provider::{Provider, ProviderError};
use shipdeck::ui::Theme;

mod platforms;
mod supply;
mod wide;

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
        crate::support::screen::draw(&self.app, w, h, theme)
    }

    fn screen(&self, w: u16, h: u16) -> String {
        crate::support::screen::text(&self.app, w, h)
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
    // A deploy start reads as a start, with its own icon, never ✓ completed.
    assert!(
        screen.contains("▶ staging  checkout deploy started: shop-checkout:"),
        "{screen}"
    );
    assert!(!screen.contains("✓ staging  checkout rollout completed → in progress"));
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

/// A world over the demo configuration and `fleet`.
fn over(fleet: &shipdeck::platforms::sim::FleetFile) -> World {
    let clock = ManualClock::new(t0());
    let cfg = config::demo().unwrap();
    let sim = SimFleet::new(fleet, 7, Arc::new(clock.clone()));
    let app = App::new(&cfg, KeyMap::default(), "alice".into(), t0());
    World {
        app,
        fleet: sim,
        clock,
        cfg,
        request: 0,
    }
}

/// The reason CloudWatch gives is what a person acts on: it is never cut.
const LONG_REASON: &str = "Threshold Crossed: 3 out of the last 3 datapoints \
[12.5 (02/11/26 09:57:00), 11.0 (02/11/26 09:56:00), 14.2 (02/11/26 09:55:00)] \
were greater than the threshold (5.0) (minimum 3 datapoints for OK -> ALARM transition). \
END-OF-REASON";

#[tokio::test]
async fn help_scrolls_to_its_end_at_80x24() {
    let mut w = World::new();
    w.poll_all().await;
    w.key(Key::ch('?'));
    let top = w.screen(80, 24);
    assert!(top.contains("more"), "the help says there is more\n{top}");
    w.key(Key::ch('G'));
    let end = w.screen(80, 24);
    insta::assert_snapshot!("help_scrolled_to_its_end_80x24", end);
    assert!(end.contains("q               quit"), "{end}");
    assert!(end.contains("Badges: ✓ ok"), "{end}");
    assert!(end.contains("above"), "{end}");
    // Every line of the help ends inside its box: nothing is cut.
    for line in end.lines().chain(top.lines()) {
        assert!(!line.contains("(wiza│"), "{line}");
    }
    // Esc closes it; the board is back.
    w.key(Key::plain(KeyCode::Esc));
    assert!(!w.screen(80, 24).contains("Help ·"));
}

#[tokio::test]
async fn detail_pane_scrolls_to_a_long_alarm_reason() {
    let text = include_str!("../../assets/demo-fleet.toml").replace(
        r#"{ name = "shop-payments-prod-5xx", state = "ALARM" }"#,
        &format!(
            r#"{{ name = "shop-payments-prod-5xx", state = "ALARM", reason = "{LONG_REASON}" }}"#
        ),
    );
    assert!(
        text.contains("END-OF-REASON"),
        "the fixture holds the long reason"
    );
    let fleet = shipdeck::platforms::sim::FleetFile::parse(&text, "<long reason>").unwrap();
    let mut w = over(&fleet);
    w.poll_all().await;
    for _ in 0..3 {
        w.key(Key::ch('j'));
    }
    w.key(Key::ch('l'));
    w.key(Key::ch('l'));
    w.key(Key::plain(KeyCode::Enter));
    let first = w.screen(80, 24);
    assert!(first.contains("more"), "{first}");
    // Down until the end of the reason is on screen (the pane has focus).
    let mut screen = first;
    for _ in 0..40 {
        if screen.contains("END-OF-REASON") {
            break;
        }
        w.key(Key::ch('j'));
        screen = w.screen(80, 24);
    }
    insta::assert_snapshot!("detail_scrolled_to_a_long_alarm_reason_80x24", screen);
    assert!(screen.contains("END-OF-REASON"), "{screen}");
    assert!(screen.contains("transition)."), "{screen}");
    // G goes to the end and stays there; g back to the top.
    w.key(Key::ch('G'));
    w.key(Key::ch('j'));
    let end = w.screen(80, 24);
    assert!(!end.contains("more ·"), "nothing below the end\n{end}");
    w.key(Key::ch('k'));
    assert!(w.screen(80, 24).contains("↓ 1 more"), "one up from the end");
    w.key(Key::ch('g'));
    assert!(w.screen(80, 24).contains("service  shop-payments-prod"));
}

#[tokio::test]
async fn a_region_outage_shows_its_reason_in_full() {
    let fleet = shipdeck::platforms::sim::FleetFile::demo_scenario("region-outage").unwrap();
    let mut w = over(&fleet);
    w.poll_all().await;
    w.key(Key::ch('l'));
    w.key(Key::ch('l'));
    w.key(Key::plain(KeyCode::Enter));
    snap_both("region_outage_detail", &w);
    for (wd, h) in SIZES {
        let screen = w.screen(wd, h);
        let detail: String = screen
            .lines()
            .filter_map(|l| l.split('│').nth(1))
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(detail.contains("prod UNREADABLE"), "{screen}");
        assert!(!screen.contains("no data for this cell"), "{screen}");
        // The header's reason, cut to its column, is whole in the pane.
        let reason = match &w.app.envs[2].freshness {
            shipdeck::model::Freshness::Failed { error } => error.clone(),
            other => panic!("prod is not failed: {other:?}"),
        };
        let words: Vec<&str> = reason.split_whitespace().collect();
        assert!(
            words.iter().all(|word| detail.contains(word)),
            "every word of {reason:?} at {wd}x{h}\n{screen}"
        );
    }
}

#[tokio::test]
async fn the_status_line_message_opens_in_full() {
    let mut w = World::new();
    w.app.read_only = true;
    w.poll_all().await;
    w.key(Key::ch('p'));
    let cut = w.screen(80, 24);
    let status = cut.lines().last().unwrap_or_default().to_string();
    assert!(status.ends_with("… (m: more)"), "{status}");
    w.key(Key::ch('m'));
    let open = w.screen(80, 24);
    insta::assert_snapshot!("status_message_in_full_80x24", open);
    let full = w.app.message.clone().unwrap().1;
    let popup: String = open
        .lines()
        .filter_map(|l| l.split('│').nth(1))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    for word in full.split_whitespace() {
        assert!(popup.contains(word), "{word} of {full:?}\n{open}");
    }
    w.key(Key::ch('m'));
    assert!(!w.screen(80, 24).contains("Messages ·"));
}

#[tokio::test]
async fn timeline_top_keeps_the_pane_full_with_one_time_width() {
    let mut w = World::new();
    w.poll_all().await;
    for _ in 0..3 {
        w.clock.advance(Duration::from_secs(2));
        w.poll_all().await;
    }
    w.key(Key::plain(KeyCode::Tab));
    w.key(Key::ch('g'));
    let screen = w.screen(80, 24);
    insta::assert_snapshot!("timeline_top_80x24", screen);
    let rows = |screen: &str| -> Vec<String> {
        screen
            .lines()
            .skip_while(|l| !l.contains("Timeline (UTC)"))
            .skip(1)
            .take_while(|l| l.starts_with('│'))
            .map(str::to_string)
            .collect()
    };
    let top = rows(&screen);
    assert!(top.len() >= 7, "{screen}");
    // Entries wrap whole: at most the last row stays blank, when the next
    // entry needs two.
    let filled = top
        .iter()
        .filter(|r| !r.trim_matches('│').trim().is_empty())
        .count();
    assert!(filled + 1 >= top.len(), "g fills the pane\n{screen}");
    // From the top to the newest, through the change of day: in every view
    // the symbol column is at one place, so the times have one width.
    let column = |r: &str| r.chars().position(|c| "·✓✗▶?".contains(c));
    let mut widths = std::collections::BTreeSet::new();
    for _ in 0..60 {
        let screen = w.screen(80, 24);
        // A long entry wraps: its continuation rows start blank, under its text.
        let view: Vec<String> = rows(&screen)
            .into_iter()
            .filter(|r| !r.trim_start_matches('│').starts_with(' '))
            .collect();
        let first = column(&view[0]);
        assert!(view.iter().all(|r| column(r) == first), "{screen}");
        widths.insert(first);
        if w.app.timeline.following() {
            break;
        }
        w.key(Key::ch('j'));
    }
    assert!(w.app.timeline.following(), "j reaches the newest entry");
    assert!(widths.len() == 2, "views of one day and of two: {widths:?}");
}

#[tokio::test]
async fn a_wizard_taller_than_the_screen_keeps_its_keys() {
    let mut w = World::new();
    w.poll_all().await;
    // notifications into prod: four checks still open, two checklist items,
    // a change record: more than 80×24 holds with every blank row.
    for _ in 0..5 {
        w.key(Key::ch('j'));
    }
    w.key(Key::ch('l'));
    w.key(Key::ch('l'));
    w.key(Key::ch('p'));
    let screen = w.screen(80, 24);
    assert!(screen.contains("Promote notifications"), "{screen}");
    assert!(screen.contains("j/k move"), "the keys stay\n{screen}");
    assert!(screen.contains("esc back out"), "the keys stay\n{screen}");
    assert!(screen.contains("Change record:"), "{screen}");
}

/// Problems first: the header counts them (firing, unknown, behind, in
/// progress) and `!` keeps only their rows, saying so in the header.
#[tokio::test]
async fn problems_header_and_problems_only_board() {
    let mut w = World::new();
    // An alarm without data: unknown, counted (the demo's staging search
    // had one while it ran on ECS; on Kubernetes it watches none).
    w.fleet.inject(shipdeck::platforms::sim::Fault::SetAlarm {
        env: "staging".into(),
        alarm: "shop-notifications-staging-p95".into(),
        state: shipdeck::model::AlarmState::InsufficientData,
    });
    w.poll_all().await;
    w.clock.advance(Duration::from_secs(3));
    update(&mut w.app, Msg::Tick(w.clock.now()));
    let header = |w: &World, width: u16, height: u16| {
        w.screen(width, height)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        header(&w, 120, 40).contains("10 services · ✗1 firing · ?1 unknown · ↑8 behind"),
        "{}",
        header(&w, 120, 40)
    );
    assert!(header(&w, 80, 24).contains("✗1 firing · ?1 unknown · ↑8 behind"));
    w.key(Key::ch('!'));
    snap_both("problems_only", &w);
    let screen = w.screen(120, 40);
    assert!(
        header(&w, 120, 40).contains("· problems only: 8 of 10 rows (! shows all)"),
        "{screen}"
    );
    // At 80 columns the counts keep their symbols, and the mode is still said.
    assert!(
        header(&w, 80, 24).contains("✗1 firing ?1 ↑8 · problems only 8/10"),
        "{}",
        header(&w, 80, 24)
    );
    let board = |screen: &str| -> Vec<String> {
        screen
            .lines()
            .take_while(|l| !l.contains("Timeline"))
            .map(|l| l.chars().skip(1).take(14).collect::<String>())
            .collect()
    };
    let rows = board(&screen);
    for healthy in ["web", "auth"] {
        assert!(
            !rows
                .iter()
                .any(|r| r.trim_start_matches('▶').trim() == healthy),
            "{healthy} has no problem:\n{screen}"
        );
    }
    for problem in [
        "api",
        "checkout",
        "payments",
        "search",
        "notifications",
        "thumbnailer",
        "edge",
    ] {
        assert!(
            rows.iter()
                .any(|r| r.trim_start_matches('▶').trim() == problem),
            "{problem}:\n{screen}"
        );
    }
    // `!` again: every row.
    w.key(Key::ch('!'));
    let rows = board(&w.screen(120, 40));
    assert!(rows.iter().any(|r| r.trim() == "auth"));
    assert!(!header(&w, 120, 40).contains("problems only"));
}

/// A rollout in flight is counted in the header, and its stage says
/// `rolling out` until it lands, never `=`.
#[tokio::test]
async fn a_rollout_in_flight_is_counted_and_never_up_to_date() {
    use shipdeck::provider::Provider as _;
    let mut w = World::new();
    w.poll_all().await;
    let staging_api = shipdeck::model::Digest::of_bytes(
        b"123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/api:2.5.0",
    );
    let prod = &w.cfg.environments[2];
    w.fleet
        .deploy(prod, prod.service("api").unwrap(), &staging_api)
        .await
        .unwrap();
    w.clock.advance(Duration::from_secs(3));
    w.poll_all().await;
    let screen = w.screen(120, 40);
    let header = screen.lines().next().unwrap_or_default();
    assert!(header.contains("↑7 behind · ◐1 in progress"), "{header}");
    let api = screen
        .lines()
        .skip_while(|l| !l.contains("▶api"))
        .nth(1)
        .unwrap_or_default();
    assert!(api.contains("rolling out"), "{screen}");
    assert!(!api.trim_end_matches([' ', '│']).ends_with('='), "{api}");
    // The release promoted keeps its name: the image's version label.
    let line1 = screen
        .lines()
        .find(|l| l.contains("▶api"))
        .unwrap_or_default();
    assert!(line1.matches("3ffffd4e9aaf 2.5.0").count() == 3, "{line1}");
}

/// The release's name beside its digest: in a full cell (a compact one drops
/// it), and in the detail pane with its tag and version label.
#[tokio::test]
async fn release_names_beside_the_digests() {
    let mut w = World::new();
    w.poll_all().await;
    let wide = w.screen(120, 40);
    assert!(wide.contains("3ffffd4e9aaf 2.5.0 r4 ✓ 1/1"), "{wide}");
    assert!(wide.contains("?unpinned latest (4.5.0) r2"), "{wide}");
    assert!(wide.contains("162fedb3ea9f* 1.0.0 r3"), "{wide}");
    let narrow = w.screen(80, 24);
    assert!(narrow.contains("3ffffd4e r4 ✓ 1/1"), "{narrow}");
    // payments in prod: the detail pane names the tag and the version label.
    for _ in 0..3 {
        w.key(Key::ch('j'));
    }
    w.key(Key::ch('l'));
    w.key(Key::ch('l'));
    w.key(Key::plain(KeyCode::Enter));
    for (width, height) in SIZES {
        let screen = w.screen(width, height);
        assert!(
            screen.contains("release  tag 3.2.0 · version 3.2.0"),
            "{width}x{height}\n{screen}"
        );
    }
}

#[tokio::test]
async fn a_narrow_cell_keeps_the_idle_colour_beside_how_far_it_is_behind() {
    let mut w = World::new();
    w.poll_all().await;
    w.key(Key::ch('G'));
    let screen = w.screen(80, 24);
    // storefront's second row: staging is one behind dev and its idle colour
    // is warm; at 80 columns "↑1 behind" becomes "↑1" so the colour stays.
    let rows: Vec<&str> = screen.lines().collect();
    let at = rows
        .iter()
        .position(|l| l.contains("storefront"))
        .unwrap_or_else(|| panic!("no storefront row\n{screen}"));
    let second = rows[at + 1];
    assert!(second.contains("↑1 green✓"), "{screen}");
    assert!(second.contains("= blue✓"), "{screen}");
    // Wide enough, the words stay.
    let wide = w.screen(120, 40);
    let row = wide
        .lines()
        .skip_while(|l| !l.contains("storefront"))
        .nth(1)
        .unwrap_or_default();
    assert!(row.contains("↑1 behind green✓"), "{wide}");
}
