//! The logs pane, one key from the deploy watch and from the detail pane:
//! the simulator's lines of the release being rolled out (a bad release's
//! 500s among them), and a service without a log configuration said as such.

use shipdeck::app::Flow;
use shipdeck::app::keys::Key;
use shipdeck::platforms::sim::FleetFile;

use crate::support::console::{Harness, monday};

/// The logs pane's lines as text.
fn lines(h: &Harness) -> Vec<String> {
    h.app
        .logs
        .as_ref()
        .map(|v| v.lines.iter().map(|l| l.text.clone()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn logs_from_the_watch_show_the_release_and_its_errors() {
    let fleet = FleetFile::demo_scenario("bad-release").unwrap();
    let cfg = shipdeck::config::demo().unwrap();
    let mut h = Harness::with_fleet(cfg, &fleet, "alice", monday()).await;
    h.open_prod_wizard("api").await;
    h.approve_and_confirm_prod().await;
    h.tick(4).await;
    assert!(
        h.screen(120, 40).contains("L logs"),
        "the watch names the key:\n{}",
        h.screen(120, 40)
    );
    h.key(Key::ch('L')).await;
    assert!(h.app.logs.as_ref().is_some_and(|v| v.from_watch));
    h.tick(2).await;
    for (w, ht) in [(80, 24), (120, 40)] {
        insta::assert_snapshot!(format!("logs_from_the_watch_{w}x{ht}"), h.screen(w, ht));
    }
    // The pane keeps following while the release fails and is rolled back.
    h.tick(30).await;
    let got = lines(&h);
    assert!(
        got.iter()
            .any(|l| l.starts_with("INFO starting shop-api 2.5.0")),
        "{got:#?}"
    );
    assert!(
        got.iter()
            .any(|l| l.starts_with("ERROR") && l.contains(" 500 ")),
        "the bad release's errors are in its lines: {got:#?}"
    );
    // Esc closes the pane, and the watch is there again; nothing more is read.
    h.esc().await;
    assert!(h.app.logs.is_none());
    assert!(matches!(h.app.flow, Some(Flow::Watch(_))));
}

#[tokio::test]
async fn logs_from_the_detail_pane_and_a_service_without_log_configuration() {
    let mut h = Harness::new("alice", monday()).await;
    h.select("api", "staging");
    h.enter().await;
    let detail = h.screen(80, 24);
    assert!(detail.contains("L logs"), "{detail}");
    h.key(Key::ch('L')).await;
    h.tick(2).await;
    insta::assert_snapshot!("logs_from_the_detail_pane_80x24", h.screen(80, 24));
    assert!(!lines(&h).is_empty());
    assert!(lines(&h).iter().all(|l| !l.chars().any(char::is_control)));
    h.key(Key::ch('L')).await;
    assert!(h.app.logs.is_none(), "the key closes the pane too");

    // dev notifications' task definition names no log driver.
    h.select("notifications", "dev");
    h.enter().await;
    h.key(Key::ch('L')).await;
    h.tick(1).await;
    let screen = h.screen(80, 24);
    assert!(
        screen.contains("no awslogs configuration in shop-notifications:2"),
        "{screen}"
    );
    insta::assert_snapshot!("logs_no_configuration_80x24", screen);
}
