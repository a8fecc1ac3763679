//! Notifications (issue 32) through the real binary on the simulator: a local
//! webhook receiver started here gets each event in order with its dedupe
//! key (the record's hash in the ledger); a receiver that only fails is tried
//! a bounded number of times while the release still succeeds, and the
//! failure shows in the ledger and in `shipdeck status`. The webhook URL is a
//! secret, and a canary in it appears in no body, header, record or output.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

/// Part of the webhook URLs, which are secrets.
const CANARY: &str = "canary-5e3a9c7d41";

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Got {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// A webhook receiver on 127.0.0.1: records each request and answers
/// `status`; stopped on drop.
pub struct Receiver {
    pub port: u16,
    got: Arc<Mutex<Vec<Got>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    pub fn start(status: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (got.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => serve(conn, status, &g),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self {
            port,
            got,
            stop,
            thread: Some(thread),
        }
    }

    pub fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request, keeps it, answers `status` and closes.
fn serve(conn: std::net::TcpStream, status: u16, got: &Mutex<Vec<Got>>) {
    if let Some(req) = read_request(&conn) {
        // Kept before the answer: the sender may exit once it has it.
        got.lock().unwrap().push(req);
    }
    let mut conn = conn;
    let _ = write!(
        conn,
        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let _ = conn.flush();
}

fn read_request(conn: &std::net::TcpStream) -> Option<Got> {
    conn.set_nonblocking(false).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Got {
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The release tests' three stages, with `sinks` and each stage's route.
pub fn config(dir: &Path, sinks: &str, route: &str) -> PathBuf {
    let good = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/configs/good");
    let text = std::fs::read_to_string(good.join("release.toml"))
        .unwrap()
        .replace(
            "fleet = \"release-fleet.toml\"",
            &format!("fleet = \"{}\"", good.join("release-fleet.toml").display()),
        );
    let mut text = text;
    for env in ["dev", "staging", "prod"] {
        text = text.replace(
            &format!("cluster = \"{env}\"\n"),
            &format!("cluster = \"{env}\"\nnotify = {route}\n"),
        );
    }
    let text = format!(
        "ledger_path = \"{}\"\n{text}\n{sinks}\n",
        dir.join("ledger.jsonl").display()
    );
    let path = dir.join("shipdeck.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub fn cmd(dir: &Path, cfg: &Path, operator: &str) -> Command {
    let mut cmd = Command::cargo_bin("shipdeck").unwrap();
    cmd.env_remove("SHIPDECK_CONFIG")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("SHIPDECK_OPERATOR", operator)
        .env("SHIPDECK_LOG_FILE", dir.join("shipdeck.log"))
        .arg("--config")
        .arg(cfg)
        .timeout(Duration::from_mins(2));
    cmd
}

/// Each ledger line: its hash and its record.
pub fn ledger(dir: &Path) -> Vec<(String, Value)> {
    std::fs::read_to_string(dir.join("ledger.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["hash"].as_str().unwrap().to_string(), v["record"].clone())
        })
        .collect()
}

fn kind_of(ledger: &[(String, Value)], hash: &str) -> String {
    ledger.iter().find(|(h, _)| h == hash).map_or_else(
        || format!("no record has hash {hash}"),
        |(_, r)| r["kind"].as_str().unwrap().to_string(),
    )
}

const SINKS: &str = r#"
[[notify.sink]]
name = "releases"
kind = "webhook"
format = "slack"
url_secret = "RELEASES_WEBHOOK"

[[notify.sink]]
name = "own"
kind = "webhook"
format = "shipdeck"
url_secret = "OWN_WEBHOOK"
"#;

#[test]
fn webhooks_get_each_event_in_order_with_the_records_hash_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(200);
    let cfg = config(dir.path(), SINKS, "[\"releases\", \"own\"]");
    let with_secrets = |mut c: Command| {
        c.env(
            "SHIPDECK_SECRET_RELEASES_WEBHOOK",
            format!("http://127.0.0.1:{}/slack/{CANARY}?token={CANARY}", rx.port),
        )
        .env(
            "SHIPDECK_SECRET_OWN_WEBHOOK",
            format!("http://127.0.0.1:{}/own/{CANARY}", rx.port),
        );
        c
    };
    // Waits for an approval: the first event.
    let out = with_secrets(cmd(dir.path(), &cfg, "alice"))
        .args([
            "promote", "api", "--to", "prod", "--change", "CHG-7", "--yes", "--json",
        ])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let report: Value = serde_json::from_slice(&out).unwrap();
    let id = report["promotion"].as_str().unwrap().to_string();
    // Each process sends what it appended before it exits.
    assert_eq!(rx.got().len(), 2, "{:#?}", rx.got());
    with_secrets(cmd(dir.path(), &cfg, "bob"))
        .args(["approve", "--yes", &id])
        .assert()
        .success();
    assert_eq!(rx.got().len(), 4, "{:#?}", rx.got());
    with_secrets(cmd(dir.path(), &cfg, "alice"))
        .args([
            "promote", "api", "--to", "prod", "--change", "CHG-7", "--yes", "--wait", "--json",
        ])
        .assert()
        .success();
    let got = rx.got();
    let ledger = ledger(dir.path());
    let own: Vec<&Got> = got.iter().filter(|g| g.path.starts_with("/own/")).collect();
    let slack: Vec<&Got> = got
        .iter()
        .filter(|g| g.path.starts_with("/slack/"))
        .collect();
    let events: Vec<Value> = own
        .iter()
        .map(|g| serde_json::from_str(&g.body).unwrap())
        .collect();
    assert_eq!(
        events
            .iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["waiting_for_approval", "approval_given", "succeeded"],
        "{got:#?}"
    );
    // Each carries its record's hash, as the body's key and as headers.
    let expect = ["promotion_started", "approval", "deploy_succeeded"];
    for (g, (e, kind)) in own.iter().zip(events.iter().zip(expect)) {
        let key = e["dedupe_key"].as_str().unwrap();
        assert_eq!(kind_of(&ledger, key), kind);
        assert_eq!(g.headers["x-shipdeck-dedupe-key"], key);
        assert_eq!(g.headers["idempotency-key"], key);
        assert_eq!(e["schema"], 1);
        assert_eq!(e["env"], "prod");
        assert_eq!(e["service"], "api");
        assert_eq!(e["promotion"], id.as_str());
    }
    assert!(
        events[0]["text"]
            .as_str()
            .unwrap()
            .contains("needs 1 approver")
    );
    assert!(events[1]["text"].as_str().unwrap().contains("bob approved"));
    assert!(events[2]["text"].as_str().unwrap().contains("deployed in"));
    // Slack's shape: the text alone, the same events in the same order.
    assert_eq!(slack.len(), 3, "{got:#?}");
    for (s, e) in slack.iter().zip(&events) {
        let v: Value = serde_json::from_str(&s.body).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 1, "{}", s.body);
        assert_eq!(v["text"], e["text"]);
        assert_eq!(
            s.headers["x-shipdeck-dedupe-key"],
            e["dedupe_key"].as_str().unwrap()
        );
    }
    for g in &got {
        assert!(!g.body.contains(CANARY), "{}", g.body);
        assert!(
            g.headers
                .iter()
                .all(|(k, v)| k == "host" || !v.contains(CANARY)),
            "{:?}",
            g.headers
        );
    }
    assert!(
        !ledger
            .iter()
            .any(|(_, r)| r["kind"] == "notification_failed")
    );
}

#[test]
fn a_receiver_that_fails_never_fails_the_release_and_the_failure_shows() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(500);
    let cfg = config(dir.path(), SINKS, "[\"releases\"]");
    let secret = format!("http://127.0.0.1:{}/slack/{CANARY}", rx.port);
    let out = cmd(dir.path(), &cfg, "alice")
        .env("SHIPDECK_SECRET_RELEASES_WEBHOOK", &secret)
        .args([
            "promote", "api", "--to", "staging", "--tick", "1", "--yes", "--wait", "--json",
        ])
        .assert()
        .success()
        .get_output()
        .clone();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["outcome"], "succeeded");
    // The one event (the success) was tried exactly as often as the bound.
    let got = rx.got();
    assert_eq!(got.len(), 4, "{got:#?}");
    let key = &got[0].headers["x-shipdeck-dedupe-key"];
    assert!(
        got.iter()
            .all(|g| &g.headers["x-shipdeck-dedupe-key"] == key)
    );
    let ledger = ledger(dir.path());
    assert_eq!(kind_of(&ledger, key), "deploy_succeeded");
    let failed: Vec<&Value> = ledger
        .iter()
        .map(|(_, r)| r)
        .filter(|r| r["kind"] == "notification_failed")
        .collect();
    assert_eq!(failed.len(), 1, "{ledger:#?}");
    let why = failed[0]["reasons"][0].as_str().unwrap();
    assert!(
        why.contains(
            "succeeded to sink \"releases\" (webhook) not delivered after 4 attempt(s): HTTP 500"
        ),
        "{why}"
    );
    assert_eq!(failed[0]["env"], "staging");
    // `status` warns of it (a reading of the simulator; its verdict is its own).
    let status = cmd(dir.path(), &cfg, "alice")
        .args(["status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("! staging: 1 notification(s) not delivered in the last 24 h"),
        "{text}"
    );
    let json = cmd(dir.path(), &cfg, "alice")
        .args(["status", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    let staging = v["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "staging")
        .unwrap();
    assert!(
        staging["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("not delivered")),
        "{staging}"
    );
    // The URL is a secret: nowhere in the ledger, the outputs or the bodies.
    let all = format!(
        "{}{}{}{}{}",
        std::fs::read_to_string(dir.path().join("ledger.jsonl")).unwrap(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        text,
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(!all.contains(CANARY), "{all}");
    assert!(got.iter().all(|g| !g.body.contains(CANARY)));
}

#[test]
fn a_missing_webhook_secret_is_a_recorded_failure_not_a_failed_release() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), SINKS, "[\"releases\"]");
    cmd(dir.path(), &cfg, "alice")
        .env_remove("SHIPDECK_SECRET_RELEASES_WEBHOOK")
        .args([
            "promote", "api", "--to", "staging", "--tick", "1", "--yes", "--wait",
        ])
        .assert()
        .success();
    let ledger = ledger(dir.path());
    let failed: Vec<String> = ledger
        .iter()
        .filter(|(_, r)| r["kind"] == "notification_failed")
        .map(|(_, r)| r["reasons"][0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(failed.len(), 1, "{ledger:#?}");
    assert!(
        failed[0].contains("after 0 attempt(s)") && failed[0].contains("RELEASES_WEBHOOK"),
        "{}",
        failed[0]
    );
}
