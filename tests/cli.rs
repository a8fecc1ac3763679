//! The command line through the real binary: configs, status, exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use shipdeck::status::{Presence, StatusReport};

fn shipdeck() -> Command {
    let mut cmd = Command::cargo_bin("shipdeck").unwrap();
    // Keep tests away from the developer's own config, logs and colours.
    cmd.env_remove("SHIPDECK_CONFIG")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env(
            "SHIPDECK_LOG_FILE",
            std::env::temp_dir().join("shipdeck-test.log"),
        );
    cmd
}

#[test]
fn every_bad_config_gets_its_exact_message_and_exit_2() {
    let dir = Path::new("tests/configs/bad");
    let mut count = 0;
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
    {
        let expected = std::fs::read_to_string(path.with_extension("expected"))
            .unwrap_or_else(|_| panic!("{} needs a .expected file", path.display()));
        for args in [vec!["config", "check"], vec!["status"]] {
            let out = shipdeck()
                .args(&args)
                .arg("--config")
                .arg(path)
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(2),
                "{} via {args:?}",
                path.display()
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stderr),
                expected,
                "{} via {args:?}",
                path.display()
            );
            assert!(
                out.stdout.is_empty(),
                "nothing starts for {}",
                path.display()
            );
        }
        count += 1;
    }
    assert!(count >= 20, "only {count} malformed configs");
}

#[test]
fn the_example_config_is_valid_and_summarised() {
    shipdeck()
        .args(["config", "check", "--config", "config.example.toml"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "promotion order: dev -> staging -> prod",
        ))
        .stdout(predicate::str::contains("prod [PROD]"))
        .stdout(predicate::str::contains(
            "four eyes, change record, 2 freeze window(s)",
        ))
        .stdout(predicate::str::contains("log file: "));
}

#[test]
fn config_lookup_order_flag_then_env_var() {
    shipdeck()
        .env("SHIPDECK_CONFIG", "tests/configs/bad/bad_theme.toml")
        .args(["config", "check"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad_theme.toml:1:9"));
    // --config wins over the variable.
    shipdeck()
        .env("SHIPDECK_CONFIG", "tests/configs/bad/bad_theme.toml")
        .args(["config", "check", "--config", "config.example.toml"])
        .assert()
        .code(0);
}

#[test]
fn missing_config_file_is_a_clear_error() {
    shipdeck()
        .args(["status", "--config", "does/not/exist.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "does/not/exist.toml: config file not found (given with --config)",
        ))
        .stderr(predicate::str::contains("shipdeck demo"));
}

#[test]
fn status_exit_codes() {
    shipdeck()
        .args(["status", "--config", "tests/configs/good/healthy.toml"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("✓ all healthy"));
    // The demo has an alarm firing in prod.
    shipdeck()
        .args(["status", "--demo"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("✗ 1 ALARM"));
    // An unreachable environment is degraded; the other one is still read.
    shipdeck()
        .args(["status", "--config", "tests/configs/good/unreachable.toml"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "✗ unreadable: network: cannot connect",
        ))
        .stdout(predicate::str::contains(
            "dev          us-east-1  dev      ✓ read",
        ));
    shipdeck()
        .args(["status", "--demo", "--env", "qa"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "unknown environment \"qa\" in --env; known: dev, staging, prod",
        ));
    shipdeck().args(["status", "--bogus"]).assert().code(2);
}

#[test]
fn status_filters() {
    let out = shipdeck()
        .args([
            "status",
            "--demo",
            "--env",
            "prod",
            "--service",
            "payments",
            "--service",
            "api",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("payments"));
    assert!(text.contains("api"));
    assert!(!text.contains("checkout"));
    assert!(!text.contains("staging"));
    // Filtering out the only degraded cell gives exit 0.
    shipdeck()
        .args(["status", "--demo", "--service", "api"])
        .assert()
        .code(0);
}

#[test]
fn status_json_round_trips_through_the_schema() {
    let out = shipdeck()
        .args(["status", "--demo", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let report: StatusReport = serde_json::from_str(&text).unwrap();
    assert_eq!(report.schema_version, 1);
    assert!(report.degraded);
    assert_eq!(report.environments.len(), 3);
    assert!(report.services.len() >= 6);
    let reencoded = serde_json::to_string_pretty(&report).unwrap();
    assert_eq!(
        reencoded.trim_end(),
        text.trim_end(),
        "schema round-trip is lossless"
    );
    // Field names are part of the contract.
    let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cell = &raw["services"][0]["cells"][0];
    for key in [
        "env",
        "presence",
        "image",
        "digest",
        "short_digest",
        "pinning",
        "task_definition",
        "revision",
        "rollout",
        "running",
        "desired",
        "alarms",
        "alarms_firing",
        "health",
        "behind",
        "promotable",
        "degraded",
    ] {
        assert!(cell.get(key).is_some(), "cell lacks {key}: {cell}");
    }
    let unpinned = report
        .services
        .iter()
        .flat_map(|s| &s.cells)
        .find(|c| c.presence == Presence::Deployed && c.digest.is_none())
        .unwrap();
    assert_eq!(unpinned.pinning, Some(shipdeck::model::Pinning::Unpinned));
    // demo --status --json is the same report.
    shipdeck()
        .args(["demo", "--status", "--json"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("\"schema_version\": 1"));
}

#[test]
fn no_color_and_pipes_get_plain_text() {
    let out = shipdeck().args(["status", "--demo"]).output().unwrap();
    assert!(!out.stdout.contains(&0x1b), "no escape codes when piped");
}

#[test]
fn version_help_and_completions() {
    shipdeck()
        .arg("--version")
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("shipdeck "));
    shipdeck()
        .arg("--help")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Log file:"))
        .stdout(predicate::str::contains("Exit codes: 0"));
    for shell in ["bash", "zsh", "fish"] {
        shipdeck()
            .args(["completions", shell])
            .assert()
            .code(0)
            .stdout(predicate::str::contains("shipdeck"))
            .stdout(predicate::str::contains("status"));
    }
}

#[test]
fn logs_go_to_the_file_not_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logs/shipdeck.log");
    let out = shipdeck()
        .env("SHIPDECK_LOG_FILE", &log)
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .args(["status", "--demo", "--log-level", "debug"])
        .output()
        .unwrap();
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(written.contains("environment read"), "{written}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains("environment read"));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn broken_key_bindings_stop_the_console_before_it_starts() {
    shipdeck()
        .args(["--config", "tests/configs/keys/broken.toml"])
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(
            "tests/configs/keys/broken.toml:4:10: unknown action \"refesh\" in [keys]\n  help: did you mean \"refresh\"?",
        ))
        .stderr(predicate::str::contains("tests/configs/keys/broken.toml:5:8: \"hyper-h\" is not a key (for \"help\")"))
        .stderr(predicate::str::contains("2 problem(s) in [keys]; nothing was started"));
}

#[test]
fn console_refuses_a_non_terminal() {
    shipdeck()
        .arg("demo")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "the console needs an interactive terminal",
        ));
}

#[test]
fn scaled_demo_status() {
    let out = shipdeck()
        .args(["demo", "--status", "--json", "--services", "40"])
        .output()
        .unwrap();
    let report: StatusReport =
        serde_json::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(report.services.len(), 40);
    shipdeck()
        .args(["demo", "--services", "0"])
        .assert()
        .code(2);
}
