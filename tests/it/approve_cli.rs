//! `shipdeck approve` from a second process lands in the same ledger and counts.

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

/// The release-test configuration (simulated fleet: nothing leaves the
/// machine) with its ledger in `dir`, plus `extra` at the end.
fn sim_setup(
    extra: &str,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    shipdeck::config::Config,
) {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string("tests/configs/good/release.toml").unwrap();
    let fleet = std::fs::read_to_string("tests/configs/good/release-fleet.toml").unwrap();
    std::fs::write(dir.path().join("release-fleet.toml"), fleet).unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        format!("ledger_path = \"ledger.jsonl\"\n{base}\n{extra}"),
    )
    .unwrap();
    let cfg = shipdeck::config::load(&path, shipdeck::config::ConfigOrigin::Flag).unwrap();
    (dir, path, cfg)
}

fn prod_request(dir: &std::path::Path, cfg: &shipdeck::config::Config) -> approvals::Request {
    let ledger = Ledger::new(dir.join("ledger.jsonl"));
    let policy = approvals::policy_hash(&cfg.env("prod").unwrap().gate);
    approvals::request(
        &ledger,
        "prod",
        "api",
        "sha256:abc",
        &policy,
        "alice",
        Utc::now(),
    )
    .unwrap()
}

#[test]
fn three_concurrent_approvals_by_one_person_write_one_record() {
    let (dir, config, cfg) = sim_setup("");
    let ledger = Ledger::new(dir.path().join("ledger.jsonl"));
    for round in 0..20 {
        let req = prod_request(dir.path(), &cfg);
        let racers: Vec<_> = (0..3)
            .map(|_| {
                std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"))
                    .env("SHIPDECK_OPERATOR", "bob")
                    .env("SHIPDECK_LOG_FILE", config.with_extension("log"))
                    .env("XDG_DATA_HOME", dir.path().join("data"))
                    .arg("--config")
                    .arg(&config)
                    .args(["approve", &req.promotion, "--yes"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<_> = racers
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let said: Vec<String> = outs
            .iter()
            .map(|o| {
                format!(
                    "{:?}: {}{}",
                    o.status.code(),
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .collect();
        let approvals: Vec<_> = ledger
            .read()
            .unwrap()
            .into_iter()
            .filter(|r| {
                r.kind == shipdeck::ledger::RecordKind::Approval
                    && r.draft.promotion.as_deref() == Some(req.promotion.as_str())
            })
            .collect();
        assert_eq!(approvals.len(), 1, "round {round}: {said:#?}");
        let ok = outs.iter().filter(|o| o.status.code() == Some(0)).count();
        assert_eq!(ok, 1, "round {round}: {said:#?}");
        for o in outs.iter().filter(|o| o.status.code() != Some(0)) {
            assert_eq!(o.status.code(), Some(1), "round {round}: {said:#?}");
            assert!(
                String::from_utf8_lossy(&o.stderr).contains("already approved"),
                "round {round}: {said:#?}"
            );
        }
    }
}

#[test]
fn approvals_and_approve_warn_about_a_torn_tail() {
    let (dir, config, cfg) = sim_setup("");
    let req = prod_request(dir.path(), &cfg);
    // A crash mid-write: half a line, never acknowledged.
    let path = dir.path().join("ledger.jsonl");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"hash\":\"0123456789abcdef");
    std::fs::write(&path, text).unwrap();
    let run = |args: &[&str]| {
        Command::cargo_bin("shipdeck")
            .unwrap()
            .env("SHIPDECK_OPERATOR", "bob")
            .env("SHIPDECK_LOG_FILE", config.with_extension("log"))
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .assert()
    };
    let torn = "the final line is torn (";
    run(&["approvals"])
        .code(0)
        .stdout(predicate::str::contains(&req.promotion))
        .stderr(predicate::str::contains(torn));
    run(&["audit"])
        .code(0)
        .stderr(predicate::str::contains(torn));
    // promote, rollback and step read the ledger too (and write nothing here:
    // no terminal, no --yes; no stepped rollout in flight).
    run(&["rollback", "api", "--env", "prod"])
        .code(2)
        .stderr(predicate::str::contains(torn));
    run(&["step", "continue", "api", "--env", "prod", "--yes"])
        .stderr(predicate::str::contains(torn));
    run(&["approve", &req.promotion, "--yes"])
        .code(0)
        .stdout(predicate::str::contains(format!(
            "bob approved {}",
            req.promotion
        )))
        .stderr(predicate::str::contains(torn));
    // The approval's append moved the torn line aside: nothing to warn about now.
    run(&["approvals"])
        .code(0)
        .stderr(predicate::str::contains("torn").not());
}

/// No AWS credentials anywhere: no variables, empty credentials and config
/// files, no instance metadata.
fn without_credentials(c: &mut std::process::Command, dir: &std::path::Path) {
    let empty = dir.join("empty");
    std::fs::write(&empty, "").unwrap();
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "SHIPDECK_OPERATOR",
        "SHIPDECK_CONFIG",
    ] {
        c.env_remove(var);
    }
    c.env("AWS_SHARED_CREDENTIALS_FILE", &empty)
        .env("AWS_CONFIG_FILE", &empty)
        .env("AWS_EC2_METADATA_DISABLED", "true");
}

#[test]
fn without_credentials_team_mode_approve_and_unlock_give_the_identity_refusal() {
    // Nothing listens on port 9: the refusal comes before any table call.
    let (dir, config, _) = sim_setup(
        "[team]\nbackend = \"dynamodb\"\ntable = \"t\"\nregion = \"us-east-1\"\nendpoint_url = \"http://127.0.0.1:9\"\n",
    );
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "allow_operator_override = true",
        "allow_operator_override = false",
    );
    std::fs::write(&config, text).unwrap();
    for args in [
        vec!["approve", "ABCDEF", "--yes"],
        vec!["unlock", "--env", "prod", "--service", "api", "--yes"],
    ] {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"));
        without_credentials(&mut c, dir.path());
        let out = c
            .env("SHIPDECK_LOG_FILE", config.with_extension("log"))
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .arg("--config")
            .arg(&config)
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("team mode needs to know who you are, and cannot")
                && err.contains("nothing was done"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("no AWS credentials were found"),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains("DynamoDB table") && !err.contains("DispatchFailure"),
            "{args:?}: {err}"
        );
    }
}
