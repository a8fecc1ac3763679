//! What the wizard reads from and writes to the ledger that other terminals
//! share: the change record typed in it reaches approvers, `g` answers on a
//! fresh read of the approvals, and the demo's hints name `--demo`.

use assert_cmd::Command;
use chrono::Utc;
use shipdeck::app::Flow;
use shipdeck::clock::Clock;
use shipdeck::ledger::{Ledger, RecordKind};
use shipdeck::platforms::sim::FleetFile;

use crate::support::console::{Harness, monday};

/// The wizard's promotion id, its confirmation typed so far (`None`: not
/// confirming).
fn confirming(h: &Harness) -> Option<String> {
    match &h.app.flow {
        Some(Flow::Wizard(w)) => w.confirming.clone(),
        other => panic!("no wizard: {other:?}"),
    }
}

/// `shipdeck …` as `operator` over the demo's data dir in `data`.
fn demo_cli(data: &std::path::Path, operator: &str) -> Command {
    let mut cmd = Command::cargo_bin("shipdeck").unwrap();
    cmd.env_remove("SHIPDECK_CONFIG")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env("XDG_DATA_HOME", data.join("data"))
        .env("XDG_STATE_HOME", data.join("state"))
        .env("XDG_CONFIG_HOME", data.join("config"))
        .env("SHIPDECK_OPERATOR", operator)
        .env("SHIPDECK_LOG_FILE", data.join("shipdeck.log"));
    cmd
}

#[tokio::test]
async fn the_change_record_typed_in_the_wizard_reaches_approvers() {
    // The console writes to the demo's ledger, which `approvals --demo` and
    // `approve --demo` of other processes read; its clock is now, so that
    // the request is not expired for them.
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::new(dir.path().join("data/shipdeck/demo-ledger.jsonl"));
    let locks = shipdeck::lock::LockStore::Dir(dir.path().join("locks"));
    let cfg = shipdeck::config::demo().unwrap();
    let mut h = Harness::with_state(
        cfg,
        &FleetFile::demo().unwrap(),
        "alice",
        Utc::now(),
        ledger,
        locks,
    )
    .await;
    h.open_prod_wizard("api").await; // types CHG-1234
    h.tick(1).await;
    let id = h.promotion();

    // The request restated with it, for the same promotion.
    let requests: Vec<_> = h
        .records()
        .into_iter()
        .filter(|r| {
            r.kind == RecordKind::PromotionStarted && r.draft.promotion.as_deref() == Some(&*id)
        })
        .collect();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_eq!(requests[1].draft.change_record.as_deref(), Some("CHG-1234"));
    // Typed again unchanged, it is not restated twice.
    h.keys("k").await; // back to the change record (the last row)
    h.keys("j").await;
    h.enter().await;
    h.enter().await;
    let again = h
        .records()
        .iter()
        .filter(|r| r.kind == RecordKind::PromotionStarted)
        .count();
    assert_eq!(again, 2);

    let out = demo_cli(dir.path(), "bob")
        .args(["approvals", "--demo", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mine = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == *id)
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(mine["change_record"], "CHG-1234", "{mine}");
    assert_eq!(mine["initiator"], "alice", "{mine}");

    let out = demo_cli(dir.path(), "bob")
        .args(["approvals", "--demo"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text.lines().find(|l| l.starts_with(&*id)).unwrap();
    assert!(row.contains("CHG-1234"), "{text}");
    assert!(
        text.contains("approve with: shipdeck approve --demo ID"),
        "{text}"
    );

    let out = demo_cli(dir.path(), "bob")
        .args(["approve", "--demo", &id, "--yes"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{out:?}");
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("change") && l.ends_with("CHG-1234")),
        "{text}"
    );
}

#[tokio::test]
async fn g_reads_approvals_recorded_a_moment_ago_without_waiting_for_a_poll() {
    let mut h = Harness::new("alice", monday()).await;
    h.open_prod_wizard("api").await;
    h.tick(3).await;
    assert!(!h.gate_go());
    // One approval from another terminal: not enough, and said so after the
    // re-read.
    h.approve("bob");
    h.keys("g").await;
    assert_eq!(confirming(&h), None);
    assert!(
        h.app
            .message
            .as_ref()
            .is_some_and(|(_, m)| m.contains("NO-GO") && m.contains("approvals")),
        "{:?}",
        h.app.message
    );
    // The second arrives; no tick, so no poll has read it: `g` reads it.
    h.approve("carol");
    h.keys("g").await;
    assert!(h.gate_go(), "{:#?}", h.app.flow);
    assert_eq!(confirming(&h), Some(String::new()));
}

#[tokio::test]
async fn the_approvals_pane_says_approve_with_demo_in_the_demo() {
    let mut h = Harness::new("alice", monday()).await;
    let req = shipdeck::approvals::request(
        &h.ledger,
        "prod",
        "api",
        "sha256:3ffffd4e9aaf407d13304f88ef78048824e123110ef42d334aba44fe753d2b46",
        &shipdeck::approvals::policy_hash(&h.cfg.environments[2].gate),
        "bob",
        h.clock.now(),
    )
    .unwrap();
    h.keys("A").await;
    h.tick(1).await;
    for (w, ht) in [(120, 40), (80, 24)] {
        let screen = h.screen(w, ht);
        assert!(screen.contains(&req.promotion), "{screen}");
        assert!(
            screen.contains("shipdeck approve --demo ID"),
            "{w}x{ht}:\n{screen}"
        );
    }
}
