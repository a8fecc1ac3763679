//! `shipdeck promote` and `shipdeck rollback` through the real binary, on a small
//! simulated fleet whose deploys settle in seconds.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

const CONFIG: &str = "tests/configs/good/release.toml";

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self, operator: &str) -> Command {
        let mut cmd = Command::cargo_bin("shipdeck").unwrap();
        cmd.env_remove("SHIPDECK_CONFIG")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env("SHIPDECK_OPERATOR", operator)
            .env("SHIPDECK_LOG_FILE", self.dir.path().join("shipdeck.log"))
            .args(["--config", CONFIG]);
        cmd
    }

    fn ledger(&self) -> Vec<Value> {
        let path = self.dir.path().join("data/shipdeck/ledger.jsonl");
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["record"].clone())
            .collect()
    }

    fn kinds(&self) -> Vec<String> {
        self.ledger()
            .iter()
            .map(|r| r["kind"].as_str().unwrap().to_string())
            .collect()
    }
}

fn json(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(out)))
}

#[test]
fn promote_waits_for_the_deploy_and_records_it() {
    let env = Env::new();
    let out = env
        .cmd("alice")
        .args([
            "promote", "api", "--to", "staging", "--tick", "1", "--yes", "--wait", "--json",
        ])
        .timeout(std::time::Duration::from_mins(2))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report = json(&out);
    assert_eq!(report["outcome"], "succeeded");
    assert_eq!(report["from_env"], "dev");
    assert_eq!(report["to_revision"], "api:3");
    assert_eq!(
        env.kinds(),
        [
            "promotion_started",
            "gate_evaluated",
            "deploy_issued",
            "deploy_succeeded",
            "revision_marked_stable"
        ]
    );
    env.cmd("alice")
        .args(["audit", "verify"])
        .assert()
        .success();
}

#[test]
fn a_no_go_gate_lists_the_failing_checks_and_exits_1() {
    let env = Env::new();
    env.cmd("alice")
        .args(["promote", "api", "--to", "staging", "--yes"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("checklist: Release notes updated"))
        .stdout(predicate::str::contains("promote: NO-GO (not passed: "));
    assert!(!env.kinds().contains(&"deploy_issued".to_string()));
}

#[test]
fn prod_needs_an_approval_from_someone_else_then_continues() {
    let env = Env::new();
    let out = env
        .cmd("alice")
        .args([
            "promote", "api", "--to", "prod", "--change", "CHG-7", "--yes", "--json",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("shipdeck approve"))
        .get_output()
        .stdout
        .clone();
    let report = json(&out);
    assert_eq!(report["outcome"], "no_go");
    let id = report["promotion"].as_str().unwrap().to_string();
    env.cmd("alice")
        .args(["approve", &id])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("four eyes"));
    env.cmd("bob")
        .args(["approve", &id])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("pass --yes"));
    env.cmd("bob")
        .args(["approve", "--yes", &id])
        .assert()
        .success();
    // Run again: the same promotion continues with bob's approval.
    let out = env
        .cmd("alice")
        .args([
            "promote", "api", "--to", "prod", "--change", "CHG-7", "--yes", "--wait", "--json",
        ])
        .timeout(std::time::Duration::from_mins(2))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report = json(&out);
    assert_eq!(report["promotion"], id.as_str());
    assert_eq!(report["outcome"], "succeeded");
    let issued = env
        .ledger()
        .into_iter()
        .find(|r| r["kind"] == "deploy_issued")
        .unwrap();
    assert_eq!(issued["approvers"][0], "bob");
    assert_eq!(issued["change_record"], "CHG-7");
}

#[test]
fn hotfix_needs_a_reason_and_an_extra_approval() {
    let env = Env::new();
    env.cmd("alice")
        .args([
            "promote", "api", "--from", "dev", "--to", "prod", "--change", "CHG-8", "--yes",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("hotfix_reason"))
        .stdout(predicate::str::contains("0 of 2 approvals"));
}

#[test]
fn without_yes_and_without_a_terminal_nothing_is_deployed() {
    let env = Env::new();
    env.cmd("alice")
        .args(["promote", "api", "--to", "staging", "--tick", "1"])
        .write_stdin("")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("pass --yes"));
    assert!(!env.kinds().contains(&"deploy_issued".to_string()));
    env.cmd("alice")
        .args(["rollback", "api", "--env", "prod"])
        .write_stdin("")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("pass --yes"));
}

#[test]
fn read_only_refuses_promote_and_rollback() {
    let env = Env::new();
    for args in [
        vec!["--read-only", "promote", "api", "--to", "staging", "--yes"],
        vec!["--read-only", "rollback", "api", "--env", "prod", "--yes"],
    ] {
        env.cmd("alice")
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("read-only"));
    }
    assert!(env.kinds().is_empty());
}

#[test]
fn rollback_goes_to_the_older_active_revision_unverified() {
    let env = Env::new();
    let out = env
        .cmd("alice")
        .args([
            "rollback", "api", "--env", "prod", "--yes", "--wait", "--json",
        ])
        .timeout(std::time::Duration::from_mins(2))
        .assert()
        .success()
        .stderr(predicate::str::contains("UNVERIFIED"))
        .get_output()
        .stdout
        .clone();
    let report = json(&out);
    assert_eq!(report["from_revision"], "api:2");
    assert_eq!(report["to_revision"], "api:1");
    assert_eq!(report["outcome"], "succeeded");
    assert_eq!(
        env.kinds(),
        [
            "rollback_issued",
            "rollback_succeeded",
            "revision_marked_stable"
        ]
    );
}

#[test]
fn unknown_environment_and_first_stage_are_usage_errors() {
    let env = Env::new();
    env.cmd("alice")
        .args(["promote", "api", "--to", "qa", "--yes"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no environment \"qa\""));
    env.cmd("alice")
        .args(["promote", "api", "--to", "dev", "--yes"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("first stage"));
    env.cmd("alice")
        .args(["promote", "api", "--to", "staging", "--tick", "9", "--yes"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("matches no checklist item"));
}

/// A CODE_DEPLOY-controlled service: promote and rollback say why they refuse,
/// and nothing is issued or recorded as issued.
#[test]
fn a_code_deploy_service_is_refused_before_any_change() {
    let env = Env::new();
    let cmd = |args: &[&str]| {
        let mut c = Command::cargo_bin("shipdeck").unwrap();
        c.env_remove("SHIPDECK_CONFIG")
            .env("XDG_DATA_HOME", env.dir.path().join("data"))
            .env("XDG_STATE_HOME", env.dir.path().join("state"))
            .env("SHIPDECK_OPERATOR", "alice")
            .env("SHIPDECK_LOG_FILE", env.dir.path().join("shipdeck.log"))
            .args(["--config", "tests/configs/good/code-deploy.toml"])
            .args(args)
            .timeout(std::time::Duration::from_mins(1));
        c
    };
    cmd(&["promote", "api", "--to", "prod", "--yes", "--wait"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("deployed by CodeDeploy"))
        .stderr(predicate::str::contains("nothing was changed"));
    cmd(&["rollback", "api", "--env", "prod", "--yes", "--wait"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("deployed by CodeDeploy"));
    assert!(
        !env.kinds()
            .iter()
            .any(|k| k == "deploy_issued" || k == "rollback_issued"),
        "{:?}",
        env.kinds()
    );
}

/// `shipdeck step` with nothing in flight says so and records nothing; a step
/// decision needs a terminal or --yes; read-only refuses it.
#[test]
fn step_without_a_stepped_rollout_in_flight_is_refused_and_records_nothing() {
    let env = Env::new();
    env.cmd("bob")
        .args([
            "step",
            "continue",
            "notifications",
            "--env",
            "prod",
            "--demo",
            "--yes",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "no stepped rollout (canary, linear) of notifications is in flight in prod",
        ));
    env.cmd("bob")
        .args([
            "--read-only",
            "step",
            "rollback",
            "notifications",
            "--env",
            "prod",
            "--demo",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("read-only"));
    env.cmd("bob")
        .args(["step", "pause", "notifications", "--env", "prod", "--demo"])
        .assert()
        .code(2);
    assert!(
        !env.kinds().iter().any(|k| k == "step_decision"),
        "{:?}",
        env.kinds()
    );
}

/// D1: the team table stops answering mid-watch. The outcome is never
/// "succeeded": it is *unrecorded* (exit 4), the records are kept locally, and
/// the next start writes them as late records that name when the outcome was
/// observed.
#[test]
fn a_ledger_lost_mid_watch_makes_the_outcome_unrecorded_and_a_later_start_writes_it_late() {
    use crate::support::faultproxy::{FaultProxy, Mode};
    use std::time::{Duration, Instant};
    let Some(bin) = crate::support::emulators::venv_bin() else {
        return;
    };
    let moto = crate::support::emulators::moto(&bin);
    let proxy = FaultProxy::start(&moto.url);
    let env = Env::new();
    let dir = env.dir.path();
    let cfg = crate::support::team::config_file_at(dir, &proxy.url(), "unrecorded");
    let team = |args: &[&str]| {
        let mut c = crate::support::team::process(dir, &cfg, "alice");
        c.args(args);
        c
    };
    let init = team(&["team", "init"]).output().unwrap();
    assert!(init.status.success(), "{init:?}");
    let exported = || {
        let out = team(&["audit", "export"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };

    let promote = team(&[
        "promote", "api", "--to", "staging", "--tick", "1", "--yes", "--wait", "--json",
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    // Cut the table once the deploy is issued (and recorded), before its end.
    let deadline = Instant::now() + Duration::from_mins(1);
    while !exported().contains("\"kind\":\"deploy_issued\"") {
        assert!(Instant::now() < deadline, "the deploy was never issued");
        std::thread::sleep(Duration::from_millis(100));
    }
    proxy.set(Mode::Refuse);
    let out = promote.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = json(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{report}\n{stderr}");
    assert_eq!(report["outcome"], "unrecorded", "{report}\n{stderr}");
    let reason = report["reason"].as_str().unwrap();
    assert!(reason.contains("UNRECORDED"), "{reason}");
    assert!(!reason.contains(" succeeded"), "{reason}");
    assert!(!reason.contains("marked in the ledger"), "{reason}");
    assert!(reason.contains("late record"), "{reason}");

    // The table is back: the next start writes what was observed, late.
    proxy.set(Mode::Pass);
    let before = exported();
    assert!(!before.contains("deploy_succeeded"), "{before}");
    let later = team(&["rollback", "api", "--env", "staging"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&later.stderr);
    assert!(said.contains("late record"), "{said}");
    let after = exported();
    let late: Vec<Value> = after
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["record"].clone())
        .filter(|r| r["observed_at"].is_string())
        .collect();
    let kinds: Vec<&str> = late.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["deploy_succeeded", "revision_marked_stable"],
        "{after}"
    );
    assert!(
        shipdeck::ledger::verify_text(&after).is_ok(),
        "the chain stays whole: {after}"
    );
}

/// D10: a signal while `promote --wait` watches stops watching, says the
/// deploy goes on, and exits 128 + the signal: never 0, which means success.
#[test]
fn a_signal_while_watching_exits_non_zero_and_says_the_deploy_goes_on() {
    use std::time::{Duration, Instant};
    for (signal, code) in [("TERM", 143), ("INT", 130), ("HUP", 129)] {
        let env = Env::new();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"));
        cmd.env_remove("SHIPDECK_CONFIG")
            .env("NO_COLOR", "1")
            .env("XDG_DATA_HOME", env.dir.path().join("data"))
            .env("XDG_STATE_HOME", env.dir.path().join("state"))
            .env("SHIPDECK_OPERATOR", "alice")
            .env("SHIPDECK_LOG_FILE", env.dir.path().join("shipdeck.log"))
            .args(["--config", CONFIG])
            .args([
                "promote", "api", "--to", "staging", "--tick", "1", "--yes", "--wait", "--json",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_mins(1);
        while !env.kinds().iter().any(|k| k == "deploy_issued") {
            assert!(Instant::now() < deadline, "the deploy was never issued");
            std::thread::sleep(Duration::from_millis(50));
        }
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let out = child.wait_with_output().unwrap();
        let report = json(&out.stdout);
        assert_eq!(out.status.code(), Some(code), "SIG{signal}: {report}");
        assert_eq!(report["outcome"], "interrupted", "{report}");
        let reason = report["reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("SIG{signal}")) && reason.contains("goes on unwatched"),
            "{reason}"
        );
        assert!(
            !env.kinds().iter().any(|k| k == "deploy_succeeded"),
            "nothing claimed: {:?}",
            env.kinds()
        );
        // Recorded as interrupted, and still open: the next start offers it.
        let last = env.ledger().last().cloned().unwrap();
        assert_eq!(last["kind"], "watch_interrupted", "{last}");
        assert_eq!(last["outcome"], "interrupted", "{last}");
        assert!(
            last["reasons"][0]
                .as_str()
                .unwrap()
                .contains(&format!("SIG{signal}")),
            "{last}"
        );
    }
}
