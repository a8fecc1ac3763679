//! Snapshot of the status table for the demo fleet, on a fixed clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use shipdeck::clock::ManualClock;
use shipdeck::provider::AnyProvider;
use shipdeck::sim::SimFleet;
use shipdeck::status::{self, Filter, Style};

#[tokio::test]
async fn demo_status_table() {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap());
    let cfg = shipdeck::config::demo().unwrap();
    let provider = AnyProvider::Sim(SimFleet::demo(7, Arc::new(clock.clone())).unwrap());
    let readings = status::read_all(&cfg, &provider).await;
    let report = status::build(&cfg, &readings, &Filter::default(), clock.now());
    insta::assert_snapshot!(status::render_table(&report, Style { color: false }));
    // Colour is never the only signal: the coloured table has the same symbols.
    let coloured = status::render_table(&report, Style { color: true });
    assert!(coloured.contains("\u{1b}[31;1m✗ 1 ALARM"));
}

use shipdeck::clock::Clock as _;
