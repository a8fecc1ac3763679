//! `shipdeck approve` from a second process lands in the same ledger and counts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use assert_cmd::Command;
use chrono::Utc;
use predicates::prelude::*;
use shipdeck::approvals;
use shipdeck::ledger::Ledger;

fn setup(
    allow_override: bool,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    shipdeck::config::Config,
) {
    let dir = tempfile::tempdir().unwrap();
    let cfg_text = format!(
        "allow_operator_override = {allow_override}\nledger_path = \"ledger.jsonl\"\n\
         [[environment]]\nname = \"prod\"\nregion = \"eu-west-1\"\ncluster = \"p\"\nproduction = true\n\
         [[environment.service]]\nname = \"api\"\n"
    );
    let path = dir.path().join("config.toml");
    std::fs::write(&path, &cfg_text).unwrap();
    let cfg = shipdeck::config::load(&path, shipdeck::config::ConfigOrigin::Flag).unwrap();
    (dir, path, cfg)
}

fn approve(config: &std::path::Path, id: &str, who: &str) -> assert_cmd::assert::Assert {
    Command::cargo_bin("shipdeck")
        .unwrap()
        .env("SHIPDECK_OPERATOR", who)
        .env("SHIPDECK_LOG_FILE", config.with_extension("log"))
        .arg("--config")
        .arg(config)
        .args(["approve", id, "--yes", "--comment", "checked the diff"])
        .assert()
}

#[test]
fn a_second_process_approval_is_seen_by_the_first() {
    let (dir, config, cfg) = setup(true);
    let ledger = Ledger::new(dir.path().join("ledger.jsonl"));
    let gate = &cfg.env("prod").unwrap().gate;
    let policy = approvals::policy_hash(gate);
    let req = approvals::request(
        &ledger,
        "prod",
        "api",
        "sha256:abc",
        &policy,
        "alice",
        Utc::now(),
    )
    .unwrap();

    approve(&config, &req.promotion, "alice")
        .code(1)
        .stderr(predicate::str::contains("cannot approve it (four eyes)"));
    approve(&config, &req.promotion, "bob").code(0).stdout(
        predicate::str::starts_with(format!("promotion {}: api", req.promotion)).and(
            predicate::str::contains(format!("bob approved {}", req.promotion)),
        ),
    );
    approve(&config, &req.promotion, "bob")
        .code(1)
        .stderr(predicate::str::contains("already approved"));
    approve(&config, "ZZZZZZ", "carol")
        .code(1)
        .stderr(predicate::str::contains("no promotion \"ZZZZZZ\""));

    let records = ledger.read().unwrap();
    let ok = approvals::valid_approvers(
        &records,
        &req,
        "sha256:abc",
        &policy,
        gate.approval_ttl,
        gate.four_eyes,
        Utc::now(),
    );
    assert_eq!(ok, vec!["bob".to_string()]);
    Command::cargo_bin("shipdeck")
        .unwrap()
        .env("SHIPDECK_LOG_FILE", config.with_extension("log"))
        .arg("--config")
        .arg(&config)
        .args(["audit", "verify"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("OK, 2 records"));
}

#[test]
fn operator_override_needs_the_policy() {
    let (dir, config, cfg) = setup(false);
    let ledger = Ledger::new(dir.path().join("ledger.jsonl"));
    let policy = approvals::policy_hash(&cfg.env("prod").unwrap().gate);
    let me = whoami::username().unwrap();
    let req = approvals::request(
        &ledger,
        "prod",
        "api",
        "sha256:abc",
        &policy,
        &me,
        Utc::now(),
    )
    .unwrap();
    // $SHIPDECK_OPERATOR is ignored here, so the OS user is the initiator approving himself.
    approve(&config, &req.promotion, "bob")
        .code(1)
        .stderr(predicate::str::contains("cannot approve it (four eyes)"));
}

#[test]
fn stale_lock_is_broken_only_when_stale_and_is_recorded() {
    let (dir, config, _) = setup(true);
    let locks = dir.path().join("locks");
    let run = |args: &[&str]| {
        Command::cargo_bin("shipdeck")
            .unwrap()
            .env("SHIPDECK_OPERATOR", "dave")
            .env("SHIPDECK_LOG_FILE", config.with_extension("log"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .assert()
    };
    run(&["unlock", "--env", "prod", "--service", "api", "--yes"])
        .code(0)
        .stdout(predicate::str::contains("is not locked"));
    // A live lock (this test process) is never broken.
    let guard =
        shipdeck::lock::acquire(&locks, "prod", "api", "erin", "promotion", Utc::now()).unwrap();
    run(&["unlock", "--env", "prod", "--service", "api", "--yes"])
        .code(1)
        .stderr(predicate::str::contains("is not stale"));
    std::mem::forget(guard);
    // A lock left by a dead process: without --yes and without a terminal, nothing happens.
    let dead = shipdeck::lock::LockInfo {
        owner: "frank".into(),
        pid: u32::MAX - 3,
        host: shipdeck::lock::host(),
        since: Utc::now(),
        purpose: "rollback".into(),
        lease_until: None,
    };
    std::fs::write(
        locks.join("prod--api.lock"),
        serde_json::to_string(&dead).unwrap(),
    )
    .unwrap();
    run(&["unlock", "--env", "prod", "--service", "api"])
        .code(2)
        .stderr(predicate::str::contains("confirmation needed"));
    assert!(
        shipdeck::lock::holder(&locks, "prod", "api")
            .unwrap()
            .is_some()
    );
    run(&["unlock", "--env", "prod", "--service", "api", "--yes"])
        .code(0)
        .stdout(predicate::str::contains("stale because process"))
        .stdout(predicate::str::contains("lock broken by dave"));
    assert!(
        shipdeck::lock::holder(&locks, "prod", "api")
            .unwrap()
            .is_none()
    );
    let records = Ledger::new(dir.path().join("ledger.jsonl")).read().unwrap();
    let last = records.last().unwrap();
    assert_eq!(last.kind, shipdeck::ledger::RecordKind::LockBroken);
    assert_eq!(last.draft.operator, "dave");
    assert!(last.draft.reasons[0].contains("broke stale lock of frank"));
}
