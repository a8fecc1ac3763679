//! The audit ledger through processes: tamper detection by `shipdeck audit verify`,
//! SIGKILL while appending, and concurrent appenders.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command as Proc, Stdio};
use std::time::Duration;

use assert_cmd::Command;
use chrono::Utc;
use predicates::prelude::*;
use shipdeck::ledger::{Draft, Ledger, RecordKind, verify_text};

const CHILD_ENV: &str = "SHIPDECK_TEST_LEDGER_CHILD";

fn draft(i: usize) -> Draft {
    Draft {
        operator: format!("op{}", i % 3),
        env: Some(
            if i.is_multiple_of(2) {
                "staging"
            } else {
                "prod"
            }
            .into(),
        ),
        service: Some("api".into()),
        to_digest: Some(format!("sha256:{i:064x}")),
        outcome: Some("issued".into()),
        ..Draft::default()
    }
}

fn filled(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("ledger.jsonl");
    let l = Ledger::new(&path);
    for i in 0..n {
        let kind = if i % 2 == 0 {
            RecordKind::DeployIssued
        } else {
            RecordKind::Approval
        };
        l.append(kind, draft(i), Utc::now()).unwrap();
    }
    path
}

fn verify(path: &Path) -> (Option<i32>, String) {
    let out = Command::cargo_bin("shipdeck")
        .unwrap()
        .env("SHIPDECK_LOG_FILE", path.with_extension("log"))
        .args(["audit", "verify", "--ledger"])
        .arg(path)
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(
        path,
        lines.iter().fold(String::new(), |acc, l| acc + l + "\n"),
    )
    .unwrap();
}

#[test]
fn intact_ledger_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled(dir.path(), 5);
    let (code, out) = verify(&path);
    assert_eq!(code, Some(0));
    assert!(
        out.ends_with(": OK, 5 records, hash chain intact\n"),
        "{out}"
    );
}

#[test]
fn edited_field_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled(dir.path(), 5);
    let mut l = lines(&path);
    l[2] = l[2].replace("\"operator\":\"op2\"", "\"operator\":\"mallory\"");
    write_lines(&path, &l);
    let (code, out) = verify(&path);
    assert_eq!(code, Some(1));
    assert!(
        out.contains(":3: BROKEN: its content does not match its hash (edited)"),
        "{out}"
    );
}

#[test]
fn deleted_line_is_found_at_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled(dir.path(), 5);
    let mut l = lines(&path);
    l.remove(1);
    write_lines(&path, &l);
    let (code, out) = verify(&path);
    assert_eq!(code, Some(1));
    assert!(
        out.contains(":2: BROKEN: it does not follow the record before it"),
        "{out}"
    );
}

#[test]
fn swapped_lines_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled(dir.path(), 5);
    let mut l = lines(&path);
    l.swap(3, 4);
    write_lines(&path, &l);
    let (code, out) = verify(&path);
    assert_eq!(code, Some(1));
    assert!(
        out.contains(":4: BROKEN: it does not follow the record before it"),
        "{out}"
    );
}

#[test]
fn truncated_last_line_is_torn() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled(dir.path(), 5);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() - 37]).unwrap();
    let (code, out) = verify(&path);
    assert_eq!(code, Some(1));
    assert!(out.contains(":5: BROKEN: the final line is torn"), "{out}");
}

#[test]
fn listing_filters() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled(dir.path(), 6);
    let run = |args: &[&str]| {
        let out = Command::cargo_bin("shipdeck")
            .unwrap()
            .env("SHIPDECK_LOG_FILE", dir.path().join("l.log"))
            .arg("audit")
            .arg("--ledger")
            .arg(&path)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // The table's header line, then one line per record.
    assert_eq!(run(&[]).lines().count(), 1 + 6);
    assert_eq!(run(&["--env", "prod"]).lines().count(), 1 + 3);
    assert_eq!(run(&["--type", "approval"]).lines().count(), 1 + 3);
    assert_eq!(
        run(&["--since", "1h", "--service", "api"]).lines().count(),
        1 + 6
    );
    assert_eq!(run(&["--since", "2999-01-01T00:00:00Z"]).lines().count(), 0);
    let json = run(&["--json", "--env", "staging"]);
    for line in json.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["env"], "staging");
        assert!(v["prev_hash"].is_string());
    }
    Command::cargo_bin("shipdeck")
        .unwrap()
        .args(["audit", "--ledger"])
        .arg(&path)
        .args(["--since", "last tuesday"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("neither a duration"));
}

#[test]
fn the_listing_has_a_header_aligned_with_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled(dir.path(), 4);
    // A long operator widens its column; the others follow it.
    Ledger::new(&path)
        .append(
            RecordKind::Override,
            Draft {
                operator: "arn:aws:iam::123456789012:user/alice".into(),
                ..draft(4)
            },
            Utc::now(),
        )
        .unwrap();
    let out = Command::cargo_bin("shipdeck")
        .unwrap()
        .env("SHIPDECK_LOG_FILE", dir.path().join("l.log"))
        .args(["audit", "--ledger"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    let header = rows[0];
    let titles = ["AT", "SEQ", "KIND", "OPERATOR", "ENV", "SERVICE", "DETAIL"];
    let starts: Vec<usize> = titles
        .iter()
        .map(|t| header.find(t).unwrap_or_else(|| panic!("no {t}: {header}")))
        .collect();
    assert!(starts.is_sorted(), "{header}");
    for row in &rows[1..] {
        // Every column starts where its title does: after a space, with text.
        for (t, at) in titles.iter().zip(&starts).skip(1) {
            let before = row.chars().nth(at - 1);
            let here = row.chars().nth(*at);
            assert!(
                before == Some(' ') && here.is_some_and(|c| c != ' '),
                "{t} at {at}:\n{header}\n{row}"
            );
        }
    }
    let wide = rows.iter().find(|r| r.contains("user/alice")).unwrap();
    assert_eq!(wide.find("staging"), Some(starts[4]), "{text}");
}

#[test]
fn an_unknown_record_type_is_a_usage_error_that_lists_the_types() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled(dir.path(), 2);
    let out = Command::cargo_bin("shipdeck")
        .unwrap()
        .env("SHIPDECK_LOG_FILE", dir.path().join("l.log"))
        .args(["audit", "--ledger"])
        .arg(&path)
        .args(["--type", "nonsense"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("'nonsense'"), "{err}");
    for kind in [
        "promotion_started",
        "approval",
        "deploy_issued",
        "step_decision",
    ] {
        assert!(err.contains(kind), "{kind} not listed: {err}");
    }
}

/// The child half of the crash test: appends forever, printing each acknowledged seq.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let l = Ledger::new(path);
    let mut i = 0;
    loop {
        let r = l
            .append(RecordKind::DeployIssued, draft(i), Utc::now())
            .unwrap();
        println!("ACK {}", r.id);
        i += 1;
    }
}

#[test]
fn sigkill_while_appending_loses_no_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.jsonl");
    let exe = std::env::current_exe().unwrap();
    let mut acked: Vec<String> = Vec::new();
    let mut torn_seen = 0;
    for round in 0..25u64 {
        let mut child = Proc::new(&exe)
            .args([
                "--exact",
                "audit::crash_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| l.strip_prefix("ACK ").map(str::to_string))
                .collect::<Vec<String>>()
        });
        // Kill at varying points (deterministic spread between 20 and 140 ms).
        std::thread::sleep(Duration::from_millis(20 + (round * 37) % 120));
        child.kill().unwrap(); // SIGKILL on Unix
        let _ = child.wait();
        acked.extend(reader.join().unwrap());
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()).into_owned();
        match verify_text(&text) {
            Ok(_) => {}
            Err(b) => {
                // The only acceptable damage is a torn final line, and it must be reported.
                assert!(b.problem.contains("torn"), "round {round}: {b:?}");
                assert_eq!(b.line, text.split_terminator('\n').count());
                torn_seen += 1;
            }
        }
    }
    // The next append repairs a torn tail explicitly; then everything verifies.
    Ledger::new(&path)
        .append(RecordKind::Approval, draft(0), Utc::now())
        .unwrap();
    let records = Ledger::new(&path).read().unwrap();
    let written: std::collections::HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert!(acked.len() > 25, "children appended ({} acks)", acked.len());
    for id in &acked {
        assert!(
            written.contains(id.as_str()),
            "acknowledged record {id} was lost"
        );
    }
    eprintln!(
        "crash test: {} acks, {} records, {torn_seen} torn tails repaired",
        acked.len(),
        records.len()
    );
}

#[test]
fn concurrent_appenders_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.jsonl");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            Proc::new(&exe)
                .args([
                    "--exact",
                    "audit::crash_child",
                    "--nocapture",
                    "--test-threads",
                    "1",
                ])
                .env(CHILD_ENV, &path)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    for mut c in children {
        c.kill().unwrap();
        let _ = c.wait();
    }
    let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
    match verify_text(&text) {
        Ok(n) => assert!(n > 3, "{n}"),
        Err(b) => assert!(
            b.problem.contains("torn"),
            "interleaved writers broke the chain: {b:?}"
        ),
    }
}
