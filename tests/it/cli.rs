//! The command line through the real binary: configs, status, exit codes.

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
            "dev          ecs       us-east-1/dev   ✓ read",
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
    assert_eq!(report.schema_version, 2);
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
        "platform",
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
        .stdout(predicate::str::contains("\"schema_version\": 2"));
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
fn completions_offer_environment_service_and_scenario_names_not_files() {
    let dir = tempfile::tempdir().unwrap();
    let script = |args: &[&str]| {
        let out = shipdeck()
            .env("XDG_CONFIG_HOME", dir.path())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    // Without a configuration: the demo's names.
    let bash = script(&["completions", "bash"]);
    for words in [
        "api web checkout payments search notifications auth storefront thumbnailer edge",
        "dev staging prod",
        "bad-release slow-release flaky-health region-outage lambda-errors fly-canary-critical kube-analysis-fails list",
    ] {
        assert!(
            bash.contains(&format!("compgen -W \"{words}\"")),
            "{words}:\n{bash}"
        );
    }
    // `promote SERVICE` offers the services among its words.
    let promote = bash
        .lines()
        .skip_while(|l| !l.contains("shipdeck__subcmd__promote)"))
        .find(|l| l.contains("opts="))
        .unwrap();
    assert!(promote.contains(" api web checkout"), "{promote}");
    assert!(
        bash.contains("step_decision"),
        "audit --type offers the types"
    );
    // With one: its own names, not the demo's.
    let config = ["--config", "tests/configs/good/healthy.toml"];
    let bash = script(&[&config[..], &["completions", "bash"]].concat());
    assert!(bash.contains("compgen -W \"dev prod\""), "{bash}");
    assert!(bash.contains("compgen -W \"api\""), "{bash}");
    assert!(!bash.contains("checkout"), "{bash}");
    let zsh = script(&[&config[..], &["completions", "zsh"]].concat());
    assert!(
        zsh.contains("--to=[Target environment]:ENV:(dev prod)"),
        "{zsh}"
    );
    let fish = script(&[&config[..], &["completions", "fish"]].concat());
    assert!(
        fish.lines().any(|l| l.contains("subcommand rollback")
            && l.contains("-l env")
            && l.contains("dev")),
        "{fish}"
    );
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

/// `demo --reset` claims the reset only once the initial world is written: on
/// a data dir that cannot be written it names the file and the OS error, and
/// exits non-zero.
#[test]
fn demo_reset_that_cannot_write_says_why_and_claims_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Tests run as root, where a read-only mode stops no write: a data dir
    // under a regular file cannot be created by anyone.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    let out = shipdeck()
        .env("XDG_DATA_HOME", &file)
        .args(["demo", "--reset"])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_ne!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(!stdout.contains("reset"), "{stdout}");
    assert!(!stderr.contains("world reset"), "{stderr}");
    assert!(
        stderr.contains("the demo world was not reset")
            && stderr.contains(&format!("{}/shipdeck", file.display()))
            && stderr.contains("Not a directory"),
        "{stderr}"
    );

    // Where it can write, the same command resets and says so.
    let data = dir.path().join("data");
    let out = shipdeck()
        .env("XDG_DATA_HOME", &data)
        .args(["demo", "--reset"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("demo world reset"));
    assert!(data.join("shipdeck/demo-world.json").is_file());
}

/// A reason typed with a newline is folded to one line when it is written, so
/// `shipdeck audit` cannot show a forged record line. The demo's canary into
/// prod pauses at its first step for someone other than the initiator.
#[test]
fn a_step_reason_with_a_newline_stays_on_its_record_line_in_audit() {
    let data = tempfile::tempdir().unwrap();
    let run = |who: &str, args: &[&str]| {
        shipdeck()
            .env("XDG_DATA_HOME", data.path())
            .env("XDG_STATE_HOME", data.path().join("state"))
            .env("SHIPDECK_OPERATOR", who)
            .args(args)
            .timeout(std::time::Duration::from_mins(1))
            .output()
            .unwrap()
    };
    crate::support::demo_canary::start(run);

    let forged = "looks fine\n2026-01-01 00:00:00 99     deploy_succeeded       mallory";
    let until = std::time::Instant::now() + std::time::Duration::from_mins(1);
    loop {
        let out = run(
            "bob",
            &[
                "step",
                "continue",
                "notifications",
                "--env",
                "prod",
                "--demo",
                "--yes",
                // At once after the pause: the step's minute is not over.
                "--cut-hold",
                "--reason",
                forged,
            ],
        );
        if out.status.success() {
            break;
        }
        // Until the canary reaches its first step and pauses there.
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not paused"), "{err}");
        assert!(
            std::time::Instant::now() < until,
            "the canary never paused: {err}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }

    let out = run("alice", &["audit", "--demo"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let audit = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !audit
            .lines()
            .any(|l| l.contains("mallory") && !l.contains("step_decision")),
        "a reason made a line of its own:\n{audit}"
    );
    let decision = audit
        .lines()
        .find(|l| l.contains("step_decision"))
        .unwrap_or_else(|| panic!("no step decision:\n{audit}"));
    assert!(
        decision.contains("looks fine \u{23ce} 2026-01-01 00:00:00 99"),
        "{decision}"
    );
    // The record holds the folded text too: JSON readers see one line as well.
    let json = run(
        "alice",
        &["audit", "--demo", "--type", "step_decision", "--json"],
    );
    let text = String::from_utf8_lossy(&json.stdout);
    assert!(!text.contains("\\n2026-01-01"), "{text}");
}

/// `status` while the demo's notifications canary rolls into prod: in
/// progress (exit 5) from the moment it is issued, and at the pause at 10 %
/// still in progress, never "up to date" nor "all healthy".
#[test]
fn status_mid_rollout_and_at_the_demos_paused_canary_is_in_progress_exit_5() {
    let data = tempfile::tempdir().unwrap();
    let run = |who: &str, args: &[&str]| {
        shipdeck()
            .env("XDG_DATA_HOME", data.path())
            .env("XDG_STATE_HOME", data.path().join("state"))
            .env("XDG_CACHE_HOME", data.path().join("cache"))
            .env("SHIPDECK_OPERATOR", who)
            .args(args)
            .timeout(std::time::Duration::from_mins(1))
            .output()
            .unwrap()
    };
    for out in crate::support::demo_canary::start(run) {
        // An approver sees the releases' names beside the digests.
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(
            shown.contains("release 4.4.0 → 4.5.0 (names only: the digest is what is deployed)"),
            "{shown}"
        );
    }
    let status = ["status", "--demo", "--service", "notifications"];
    let json = |out: &std::process::Output| -> serde_json::Value {
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // Mid-rollout: issued, the canary's tasks starting or its traffic moving.
    let out = run("alice", &[&status[..], &["--json"]].concat());
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let report = json(&out);
    assert_eq!(report["verdict"], "in_progress");
    assert_eq!(report["in_progress"], true);
    let prod = &report["services"][0]["cells"][2];
    assert_eq!(
        (&prod["env"], &prod["in_progress"]),
        (&"prod".into(), &true.into())
    );
    assert_eq!(prod["behind"]["kind"], "rolling_out");
    // Until the canary holds at 10 % for a decision.
    let until = std::time::Instant::now() + std::time::Duration::from_mins(1);
    loop {
        let out = run("alice", &[&status[..], &["--json"]].concat());
        assert_eq!(out.status.code(), Some(5), "{out:?}");
        let report = json(&out);
        if report["problems"][0]["kind"] == "paused" {
            assert_eq!(report["problems"][0]["severity"], "in_progress");
            assert_eq!(
                report["services"][0]["cells"][2]["behind"]["kind"],
                "rolling_out"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "the canary never paused: {report}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let out = run("alice", &status);
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let row = table
        .lines()
        .find(|l| l.trim_start().starts_with("prod ") && !l.contains("[PROD]"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("⏸ canary 10% · awaiting decision"), "{row}");
    assert!(
        row.contains("rolling out") && !row.contains("up to date"),
        "{row}"
    );
    assert!(
        table.contains("◐ in progress: prod/notifications canary 10% · awaiting decision"),
        "{table}"
    );
    assert!(!table.contains("all healthy"), "{table}");
    // The whole demo is degraded (payments' alarm), and names the canary too.
    let out = run("alice", &["status", "--demo"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("  ◐ prod/notifications: canary 10% · awaiting decision"),
        "{out:?}"
    );
}
