//! Never green when blind, on the simulated fleet: CloudWatch unreachable, an
//! alarm deleted, INSUFFICIENT_DATA only. Each view (status, gate, watch,
//! console) must show *unknown*, never healthy, never "none".

use std::path::Path;

use assert_cmd::Command;
use shipdeck::app::Flow;
use shipdeck::gate::Verdict;
use shipdeck::ledger::RecordKind;
use shipdeck::model::AlarmState;
use shipdeck::platforms::sim::Fault;
use shipdeck::release::Step;

use crate::support::console::{Harness, monday};

const CONFIG: &str = include_str!("../configs/good/healthy.toml");
const FLEET: &str = include_str!("../configs/good/healthy-fleet.toml");

/// `shipdeck status` over the healthy test fleet changed by `fleet_edit`, with
/// `config_edit` applied to the configuration: exit code and stdout.
fn status(
    config_edit: impl Fn(&str) -> String,
    fleet_edit: impl Fn(&str) -> String,
    json: bool,
) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "healthy.toml", &config_edit(CONFIG));
    write(dir.path(), "healthy-fleet.toml", &fleet_edit(FLEET));
    let mut cmd = Command::cargo_bin("shipdeck").unwrap();
    cmd.env_remove("SHIPDECK_CONFIG")
        .env("NO_COLOR", "1")
        .env("SHIPDECK_LOG_FILE", dir.path().join("log"))
        .arg("--config")
        .arg(dir.path().join("healthy.toml"))
        .arg("status");
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn same(s: &str) -> String {
    s.to_string()
}

/// The prod environment of the test fleet, as written.
fn prod_env(fleet: &str) -> usize {
    fleet.rfind("[[environment]]\nname = \"prod\"").unwrap()
}

#[test]
fn status_control_is_healthy_so_the_faults_below_can_fail() {
    let (code, out) = status(same, same, false);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("✓ all healthy"), "{out}");
}

#[test]
fn status_with_cloudwatch_unreachable_is_unknown_not_healthy() {
    let fault = |f: &str| {
        let at = prod_env(f);
        format!(
            "{}[[environment]]\nname = \"prod\"\ncloudwatch_unreachable = true{}",
            &f[..at],
            &f[at + "[[environment]]\nname = \"prod\"".len()..]
        )
    };
    let (code, out) = status(same, fault, false);
    assert_eq!(code, 3, "unknown is exit 3: {out}");
    assert!(!out.contains("all healthy"), "{out}");
    assert!(out.contains("? unknown"), "{out}");
    assert!(out.contains("? services read; alarms unreadable"), "{out}");
    assert!(
        out.contains("prod/api: alarms unreadable: network: cannot connect to the CloudWatch"),
        "{out}"
    );
    let prod_row = out
        .lines()
        .find(|l| l.trim_start().starts_with("prod ") && l.contains("completed"))
        .unwrap();
    assert!(prod_row.contains("? unknown"), "{prod_row}");
    assert!(!prod_row.contains("- none"), "{prod_row}");

    let (code, json) = status(same, fault, true);
    assert_eq!(code, 3);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["degraded"], true, "not healthy means degraded is true");
    assert_eq!(v["unknown"], true);
    let prod = &v["environments"][1];
    assert_eq!(prod["sources"]["alarms"]["state"], "failed", "{prod}");
    let cell = &v["services"][0]["cells"][1];
    assert_eq!(cell["alarms"]["state"], "unreadable", "{cell}");
    assert!(
        cell["unknown"][0]
            .as_str()
            .unwrap()
            .starts_with("alarms unreadable"),
        "{cell}"
    );
}

#[test]
fn status_with_a_deleted_alarm_is_unknown() {
    let fault = |f: &str| {
        let at = prod_env(f);
        format!(
            "{}{}",
            &f[..at],
            f[at..].replace("alarms = [{ name = \"api-prod-5xx\", state = \"OK\" }]", "")
        )
    };
    let (code, out) = status(same, fault, false);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("prod/api: alarm \"api-prod-5xx\" not found in CloudWatch"),
        "{out}"
    );
    assert!(!out.contains("all healthy"), "{out}");
}

#[test]
fn status_with_insufficient_data_only_is_unknown_unless_allowed() {
    let no_data = |f: &str| {
        f.replace(
            "{ name = \"api-prod-5xx\", state = \"OK\" }",
            "{ name = \"api-prod-5xx\", state = \"INSUFFICIENT_DATA\" }",
        )
    };
    let (code, out) = status(same, no_data, false);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("? 1 no data"), "{out}");
    assert!(
        out.contains("prod/api: INSUFFICIENT_DATA (unknown, not OK): api-prod-5xx"),
        "{out}"
    );
    // The environment's gate may allow INSUFFICIENT_DATA; unreadable never passes.
    let allow = |c: &str| format!("{c}\n[environment.gate]\nallow_insufficient_data = true\n");
    let (code, out) = status(allow, no_data, false);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn status_known_bad_beats_unknown() {
    let both = |f: &str| {
        let f = f.replace(
            "{ name = \"api-dev-5xx\", state = \"OK\" }",
            "{ name = \"api-dev-5xx\", state = \"ALARM\" }",
        );
        f.replace(
            "{ name = \"api-prod-5xx\", state = \"OK\" }",
            "{ name = \"api-prod-5xx\", state = \"INSUFFICIENT_DATA\" }",
        )
    };
    let (code, out) = status(same, both, false);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("✗ degraded"), "{out}");
    assert!(out.contains("? prod/api: INSUFFICIENT_DATA"), "{out}");
}

fn prod_cell_line(screen: &str, service: &str) -> String {
    // The second line of a service row carries the alarm badge.
    let lines: Vec<&str> = screen.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.contains(&format!("{service} ")) || l.contains(&format!("▶{service}")))
        .unwrap();
    lines[i + 1].to_string()
}

#[tokio::test]
async fn console_shows_a_and_names_the_stale_source_never_a_dash() {
    let mut h = Harness::new("alice", monday()).await;
    h.tick(3).await;
    h.select("payments", "prod");
    let before = h.screen(120, 40);
    assert!(
        prod_cell_line(&before, "payments").contains("A✗1"),
        "{before}"
    );
    h.fleet.inject(Fault::CloudWatchUnreachable {
        env: "prod".into(),
        on: true,
    });
    h.tick(3).await;
    let screen = h.screen(120, 40);
    let line = prod_cell_line(&screen, "payments");
    assert!(line.contains("A?"), "{screen}");
    assert!(!line.contains("A-"), "{screen}");
    assert!(screen.contains("! alarms STALE"), "{screen}");
    // The detail pane says why, and shows the last good values as stale.
    h.enter().await;
    let screen = h.screen(120, 40);
    assert!(screen.contains("? UNKNOWN: alarms unreadable"), "{screen}");
    assert!(!screen.contains("none watched"), "{screen}");
    // The pane wraps its lines and scrolls: the stale values are below.
    h.keys("G").await;
    let screen = h.screen(120, 40);
    assert!(screen.contains("stale, not the current state"), "{screen}");
    assert!(!screen.contains("none watched"), "{screen}");
    // CloudWatch back: current again.
    h.fleet.inject(Fault::CloudWatchUnreachable {
        env: "prod".into(),
        on: false,
    });
    h.tick(3).await;
    let screen = h.screen(120, 40);
    assert!(!screen.contains("STALE"), "{screen}");
}

#[tokio::test]
async fn the_gate_fails_alarms_ok_and_fresh_when_source_alarms_are_unreadable() {
    let mut h = Harness::new("alice", monday()).await;
    h.fleet.inject(Fault::CloudWatchUnreachable {
        env: "staging".into(),
        on: true,
    });
    h.tick(3).await;
    h.select("api", "prod");
    h.keys("p").await;
    assert!(matches!(h.app.flow, Some(Flow::Wizard(_))));
    let alarms = h.check("alarms_ok");
    assert_eq!(alarms.verdict, Verdict::Fail, "{alarms:?}");
    assert!(alarms.reason.starts_with("alarms unreadable"), "{alarms:?}");
    let fresh = h.check("fresh");
    assert_eq!(fresh.verdict, Verdict::Fail, "{fresh:?}");
    assert!(fresh.reason.contains("alarms of staging"), "{fresh:?}");
    assert!(!h.gate_go());
}

/// Promotes api from staging into prod (checklist, change record, two
/// approvals, typed confirmation), then applies `fault` once the deploy is
/// issued; the watch must end unknown, never succeeded.
async fn watch_with_fault(fault: Fault) -> Harness {
    let mut h = Harness::new("alice", monday()).await;
    h.select("api", "prod");
    h.keys("p").await;
    h.keys(" j j").await;
    h.enter().await;
    h.keys("CHG-1234").await;
    h.enter().await;
    h.approve("bob");
    h.approve("carol");
    h.tick(3).await;
    assert!(h.gate_go(), "{:#?}", h.app.flow);
    h.keys("g").await;
    h.keys("prod").await;
    h.enter().await;
    assert!(matches!(h.app.flow, Some(Flow::Watch(_))));
    h.fleet.inject(fault);
    let v = h.watch_until_over(700).await;
    match &v.watch.outcome {
        Some(Step::Unknown(why)) => assert!(why.contains("could not verify"), "{why}"),
        other => panic!("expected unknown, got {other:?}; {:?}", v.log),
    }
    let kinds = h.kinds();
    assert!(kinds.contains(&RecordKind::DeployUnverified), "{kinds:?}");
    assert!(!kinds.contains(&RecordKind::DeploySucceeded), "{kinds:?}");
    let issued = kinds
        .iter()
        .position(|k| *k == RecordKind::DeployIssued)
        .unwrap();
    assert!(
        !kinds[issued..].contains(&RecordKind::RevisionMarkedStable),
        "{kinds:?}"
    );
    // Nothing is rolled back on a guess.
    assert!(!kinds.contains(&RecordKind::RollbackIssued), "{kinds:?}");
    h
}

#[tokio::test]
async fn a_watch_with_cloudwatch_unreachable_ends_unknown() {
    let h = watch_with_fault(Fault::CloudWatchUnreachable {
        env: "prod".into(),
        on: true,
    })
    .await;
    let unverified = h
        .records()
        .into_iter()
        .find(|r| r.kind == RecordKind::DeployUnverified)
        .unwrap();
    assert_eq!(unverified.draft.outcome.as_deref(), Some("unknown"));
    assert!(
        unverified.draft.reasons[0].contains("alarms unreadable"),
        "{unverified:?}"
    );
}

#[tokio::test]
async fn a_watch_whose_alarm_is_deleted_ends_unknown() {
    watch_with_fault(Fault::DeleteAlarm {
        env: "prod".into(),
        alarm: "shop-api-prod-5xx".into(),
    })
    .await;
}

#[tokio::test]
async fn a_watch_whose_alarm_has_no_data_ends_unknown() {
    watch_with_fault(Fault::SetAlarm {
        env: "prod".into(),
        alarm: "shop-api-prod-p95".into(),
        state: AlarmState::InsufficientData,
    })
    .await;
}
