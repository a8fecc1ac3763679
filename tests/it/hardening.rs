//! Regressions of the adversarial run: inputs that panicked (exit 101) or hung
//! now end with exit 2 and a clear message, within a deadline; a torn ledger
//! tail no longer blocks the command line; `config check` judges key bindings
//! as the console does; usage errors exit 2 in every command.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;

/// Every hang test ends within this; a hang is a failure, not a stuck CI.
const DEADLINE: Duration = Duration::from_secs(30);
const RELEASE: &str = "tests/configs/good/release.toml";

mod input;

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("shipdeck").unwrap();
        cmd.env_remove("SHIPDECK_CONFIG")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_STATE_HOME", self.path("state"))
            .env("SHIPDECK_OPERATOR", "alice")
            .env("SHIPDECK_LOG_FILE", self.path("shipdeck.log"))
            .timeout(DEADLINE);
        cmd
    }

    /// A copy of the release test config (and its fleet) with `extra` prepended.
    fn release_config(&self, extra: &str) -> PathBuf {
        let text = std::fs::read_to_string(RELEASE).unwrap();
        std::fs::copy(
            "tests/configs/good/release-fleet.toml",
            self.path("release-fleet.toml"),
        )
        .unwrap();
        let path = self.path("release.toml");
        std::fs::write(&path, format!("{extra}\n{text}")).unwrap();
        path
    }

    fn ledger(&self) -> PathBuf {
        self.path("data/shipdeck/ledger.jsonl")
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn audit_since_that_overflows_a_date_is_a_usage_error() {
    let env = Env::new();
    for since in ["300000y", "107000000d", "9223372036854775807s"] {
        env.cmd()
            .args(["audit", "--ledger"])
            .arg(env.path("l.jsonl"))
            .args(["--since", since])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!(
                "--since \"{since}\" reaches further back than a date can go"
            )));
    }
}

#[test]
fn a_fleet_file_with_an_absurd_age_is_a_usage_error() {
    let env = Env::new();
    let cfg = env.release_config("");
    let fleet = std::fs::read_to_string(env.path("release-fleet.toml")).unwrap();
    std::fs::write(
        env.path("release-fleet.toml"),
        fleet.replacen("age = \"2d\"", "age = \"300000y\"", 1),
    )
    .unwrap();
    env.cmd()
        .arg("--config")
        .arg(&cfg)
        .arg("status")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("must be at most 10 years"));
}

#[test]
fn durations_outside_their_range_are_refused_by_config_check() {
    let env = Env::new();
    for (extra, message) in [
        (
            "refresh_interval = \"300000y\"",
            "\"refresh_interval\" is too long: \"300000y\"",
        ),
        (
            "refresh_interval = \"1ms\"",
            "\"refresh_interval\" is too short: \"1ms\"",
        ),
    ] {
        let text = std::fs::read_to_string(RELEASE)
            .unwrap()
            .replace("refresh_interval = \"1s\"", extra);
        let path = env.path("c.toml");
        std::fs::write(&path, text).unwrap();
        let out = env
            .cmd()
            .arg("--config")
            .arg(&path)
            .args(["config", "check"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(message), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("use a duration from \"1s\" to \"1h\""),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn an_aws_variable_with_a_control_character_is_named_not_a_panic() {
    let env = Env::new();
    let path = env.path("aws.toml");
    std::fs::write(
        &path,
        "[[environment]]\nname = \"dev\"\nregion = \"us-east-1\"\ncluster = \"c\"\n\
         endpoint_url = \"http://127.0.0.1:9\"\n[[environment.service]]\nname = \"api\"\n",
    )
    .unwrap();
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ] {
        let out = env
            .cmd()
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env(var, "secret-value\r")
            .arg("--config")
            .arg(&path)
            .arg("status")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "environment variable {var} contains a control character"
            )),
            "{err}"
        );
        assert!(
            !err.contains("secret-value"),
            "the value is never shown: {err}"
        );
    }
}

#[test]
fn devices_and_pipes_are_refused_where_a_file_is_meant() {
    let env = Env::new();
    // A config that is a device or a FIFO (opening a FIFO would block forever).
    let fifo = env.path("fifo.toml");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for path in [Path::new("/dev/zero"), fifo.as_path()] {
        env.cmd()
            .arg("--config")
            .arg(path)
            .args(["config", "check"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("not a regular file"));
    }
    // A ledger that is a device that never ends (or never takes a write): a
    // usage error (more in `input::a_device_or_fifo_as_the_ledger_…`).
    let cfg = env.release_config("ledger_path = \"/dev/full\"");
    for args in [
        vec!["audit", "verify"],
        vec!["audit"],
        vec!["rollback", "api", "--env", "staging", "--yes"],
    ] {
        let out = env
            .cmd()
            .arg("--config")
            .arg(&cfg)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("/dev/full") && stderr(&out).contains("not a regular file"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn an_empty_ledger_path_is_a_config_error() {
    let env = Env::new();
    let cfg = env.release_config("ledger_path = \"\"");
    env.cmd()
        .arg("--config")
        .arg(&cfg)
        .args(["config", "check"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "\"ledger_path\" is not a usable file path: \"\"",
        ));
}

/// A ledger with two good records and a torn third line.
fn torn_ledger(env: &Env) {
    let l = shipdeck::ledger::Ledger::new(env.ledger());
    for env_name in ["dev", "staging"] {
        l.append(
            shipdeck::ledger::RecordKind::LockBroken,
            shipdeck::ledger::Draft {
                operator: "bob".into(),
                env: Some(env_name.into()),
                service: Some("api".into()),
                ..Default::default()
            },
            chrono::Utc::now(),
        )
        .unwrap();
    }
    let mut text = std::fs::read_to_string(env.ledger()).unwrap();
    text.push_str("{\"hash\":\"abc");
    std::fs::write(env.ledger(), text).unwrap();
}

fn kinds(env: &Env) -> Vec<String> {
    shipdeck::ledger::Ledger::new(env.ledger())
        .read()
        .unwrap()
        .iter()
        .map(|r| r.kind.as_str().to_string())
        .collect()
}

#[test]
fn readers_list_complete_records_and_say_the_tail_is_torn() {
    let env = Env::new();
    let cfg = env.release_config("");
    torn_ledger(&env);
    let out = env
        .cmd()
        .arg("--config")
        .arg(&cfg)
        .arg("audit")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The table's header, then the two complete records.
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1 + 2);
    assert!(
        stderr(&out).contains("the final line is torn"),
        "{}",
        stderr(&out)
    );
    env.cmd()
        .arg("--config")
        .arg(&cfg)
        .args(["audit", "verify"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("torn"));
}

#[test]
fn every_cli_writer_repairs_a_torn_tail_once_and_records_it() {
    let cases: Vec<Vec<&str>> = vec![
        vec!["promote", "api", "--to", "staging", "--tick", "1", "--yes"],
        vec!["rollback", "api", "--env", "staging", "--yes"],
        vec!["unlock", "--env", "staging", "--service", "api", "--yes"],
    ];
    for args in cases {
        let env = Env::new();
        let cfg = env.release_config("");
        torn_ledger(&env);
        if args[0] == "unlock" {
            // A stale lock (a pid that cannot exist) to break.
            let dir = env.path("data/shipdeck/locks");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("staging--api.lock"),
                format!(
                    "{{\"owner\":\"bob\",\"pid\":4194304,\"host\":\"{}\",\"since\":\"2026-01-01T00:00:00Z\",\"purpose\":\"promotion\"}}",
                    shipdeck::lock::host()
                ),
            )
            .unwrap();
        }
        let out = env
            .cmd()
            .arg("--config")
            .arg(&cfg)
            .args(&args)
            .output()
            .unwrap();
        // Every reader warns about the torn tail (issue 26, D17); none stops at it.
        assert!(
            !stderr(&out)
                .lines()
                .any(|l| l.contains("torn") && !l.starts_with("warning:")),
            "{args:?} must not stop at the torn tail: {}",
            stderr(&out)
        );
        let k = kinds(&env);
        assert_eq!(
            k.iter().filter(|k| *k == "ledger_repaired").count(),
            1,
            "{args:?}: {k:?}"
        );
        assert!(k.len() > 3, "{args:?} wrote its own records: {k:?}");
        env.cmd()
            .arg("--config")
            .arg(&cfg)
            .args(["audit", "verify"])
            .assert()
            .success();
    }
    // approve: a request in the ledger, then the torn tail.
    let env = Env::new();
    let cfg = env.release_config("");
    let out = env
        .cmd()
        .arg("--config")
        .arg(&cfg)
        .args([
            "promote", "api", "--to", "prod", "--change", "CHG-1", "--yes",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let id = text
        .split("shipdeck approve ")
        .nth(1)
        .and_then(|t| t.split('`').next())
        .unwrap_or_else(|| panic!("no promotion id: {text}"))
        .to_string();
    let mut ledger = std::fs::read_to_string(env.ledger()).unwrap();
    ledger.push_str("{\"hash\":");
    std::fs::write(env.ledger(), ledger).unwrap();
    env.cmd()
        .env("SHIPDECK_OPERATOR", "bob")
        .arg("--config")
        .arg(&cfg)
        .args(["approve", "--yes", &id])
        .assert()
        .success();
    let k = kinds(&env);
    assert_eq!(k.iter().filter(|k| *k == "ledger_repaired").count(), 1);
    assert_eq!(k.last().map(String::as_str), Some("approval"));
}

#[test]
fn config_check_and_the_console_judge_key_bindings_alike() {
    let env = Env::new();
    for (binding, message) in [
        ("refresh = \"ctrl-\"", "\"ctrl-\" is not a key"),
        ("refresh = \"hyper-x\"", "\"hyper-x\" is not a key"),
        ("refresh = \"F99\"", "\"F99\" is not a key"),
        ("refresh = \"ab\"", "\"ab\" is not a key"),
        ("refesh = \"F5\"", "unknown action \"refesh\""),
        ("help = \"j\"", "key \"j\" is bound to both"),
    ] {
        let text = std::fs::read_to_string(RELEASE).unwrap();
        let text = text.replacen(
            "[simulator]",
            &format!("[keys]\n{binding}\n\n[simulator]"),
            1,
        );
        let path = env.path("keys.toml");
        std::fs::write(&path, text).unwrap();
        let run = |args: &[&str]| {
            let out = env
                .cmd()
                .arg("--config")
                .arg(&path)
                .args(args)
                .output()
                .unwrap();
            (out.status.code(), stderr(&out))
        };
        let check = run(&["config", "check"]);
        let console = run(&[]);
        assert_eq!(check.0, Some(2), "{binding}: {}", check.1);
        assert!(check.1.contains(message), "{binding}: {}", check.1);
        assert_eq!(check, console, "{binding}: the same verdict and message");
    }
}

#[test]
fn usage_errors_exit_2_in_every_command() {
    let env = Env::new();
    for args in [
        vec!["promote", "--demo", "nope", "--to", "prod", "--yes"],
        vec![
            "promote", "--demo", "api", "--from", "prod", "--to", "dev", "--yes",
        ],
        vec!["promote", "--demo", "api", "--to", "dev", "--yes"],
        vec!["rollback", "--demo", "nope", "--env", "prod", "--yes"],
        vec!["rollback", "--demo", "api", "--env", "qa", "--yes"],
        vec!["unlock", "--demo", "--env", "nope", "--service", "api"],
        vec!["unlock", "--demo", "--env", "prod", "--service", "nope"],
    ] {
        let out = env.cmd().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).starts_with("error: "), "{args:?}");
    }
}

#[test]
fn the_demo_stale_lock_hint_is_a_command_that_works() {
    let env = Env::new();
    let locks = env.path("data/shipdeck/locks");
    // Held by this (live) test process: a refusal, with the hint.
    let _guard = shipdeck::lock::acquire(
        &locks,
        "prod",
        "api",
        "bob",
        "promotion",
        chrono::Utc::now(),
    )
    .unwrap();
    let out = env
        .cmd()
        .args(["rollback", "--demo", "api", "--env", "prod", "--yes"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    assert!(
        text.contains("shipdeck unlock --demo --env prod --service api"),
        "{text}"
    );
    // And that command finds the lock (held, not stale: it is refused, exit 1).
    env.cmd()
        .args([
            "unlock",
            "--demo",
            "--env",
            "prod",
            "--service",
            "api",
            "--yes",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not stale"));
}
