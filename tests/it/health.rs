//! Health probes, smoke checks and secrets against real HTTP servers on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use shipdeck::config::{HealthCheck, SmokeCheck};
use shipdeck::health::{self, BODY_LIMIT, HealthTracker, ProbeResult};
use shipdeck::secrets::{MemoryStore, Redactor, SecretStore, Secrets};

use crate::support::http::Server;

fn check(url: String, timeout_ms: u64) -> HealthCheck {
    HealthCheck {
        url,
        method: "GET".into(),
        expected_status: 200,
        timeout: Duration::from_millis(timeout_ms),
        interval: Duration::from_secs(1),
        stability_window: Duration::from_secs(30),
        headers: vec![],
    }
}

fn secrets() -> Secrets {
    Secrets::with_env(
        Arc::new(MemoryStore::default()),
        Redactor::default(),
        |_| None,
    )
}

async fn probe(c: &HealthCheck) -> ProbeResult {
    let client = health::client().unwrap();
    health::probe(&client, c, &secrets(), Utc::now).await
}

#[tokio::test]
async fn healthy() {
    let s = Server::start();
    let r = probe(&check(s.url("/ok"), 2000)).await;
    assert!(r.ok, "{r:?}");
    assert_eq!(r.status, Some(200));
}

#[tokio::test]
async fn wrong_status_quotes_the_body() {
    let s = Server::start();
    let r = probe(&check(s.url("/wrong"), 2000)).await;
    assert!(!r.ok);
    assert_eq!(r.status, Some(503));
    assert_eq!(r.reason, "answered 503, expected 200: upstream down");
}

#[tokio::test]
async fn slow_endpoint_times_out() {
    let s = Server::start();
    let r = probe(&check(s.url("/slow"), 300)).await;
    assert!(!r.ok);
    assert_eq!(r.status, None);
    assert_eq!(r.reason, "no answer within 300ms");
}

#[tokio::test]
async fn connection_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = probe(&check(format!("http://127.0.0.1:{port}/ok"), 2000)).await;
    assert!(!r.ok);
    assert_eq!(r.reason, "connection refused or host unreachable");
}

#[tokio::test]
async fn redirect_is_an_answer_not_followed() {
    let s = Server::start();
    let r = probe(&check(s.url("/redirect"), 2000)).await;
    assert!(!r.ok);
    assert_eq!(r.status, Some(302));
    assert_eq!(r.reason, "answered 302 (redirect to /ok), expected 200");
}

#[tokio::test]
async fn large_body_is_read_only_up_to_the_limit() {
    let s = Server::start();
    let mut c = check(s.url("/big"), 5000);
    c.expected_status = 500; // so the body is quoted
    let r = probe(&c).await;
    assert_eq!(r.status, Some(200));
    assert!(
        r.reason.chars().count() < 200,
        "bounded snippet: {}",
        r.reason.len()
    );
    // A 20 MiB body is never downloaded whole: the probe returns well within its timeout.
    assert!(r.latency < Duration::from_secs(5));
    const { assert!(BODY_LIMIT <= 64 * 1024) };
}

#[tokio::test]
async fn binary_and_escape_bodies_are_sanitised() {
    let s = Server::start();
    let r = probe(&check(s.url("/binary"), 2000)).await;
    assert!(!r.reason.chars().any(char::is_control), "{:?}", r.reason);
    let r = probe(&check(s.url("/escape"), 2000)).await;
    assert!(!r.reason.contains('\u{1b}'), "{:?}", r.reason);
    assert_eq!(r.reason, "answered 500, expected 200: evil body");
}

#[tokio::test]
async fn flapping_resets_the_stability_window() {
    let s = Server::start();
    let c = check(s.url("/flap"), 2000);
    let client = health::client().unwrap();
    let mut tracker = HealthTracker::new(Duration::from_secs(30));
    let t0 = Utc::now();
    // Answers go ok, ok, fail, ok, ok, fail…; stamp them 10 s apart.
    let mut stable_seen = false;
    for i in 0..6 {
        let at = t0 + chrono::Duration::seconds(10 * i);
        let r = health::probe(&client, &c, &secrets(), || at).await;
        let failed = !r.ok;
        tracker.record(r);
        if failed {
            assert!(
                !tracker.healthy_stable(at + chrono::Duration::seconds(60)),
                "a failure resets the window"
            );
        }
        stable_seen |= tracker.healthy_stable(at);
    }
    assert!(!stable_seen, "never 30 s without a failure");
}

fn smoke(name: &str, url: String, status: u16, body: Option<&str>, timeout_ms: u64) -> SmokeCheck {
    SmokeCheck {
        name: name.into(),
        method: "GET".into(),
        url,
        expected_status: status,
        body_contains: body.map(str::to_string),
        timeout: Duration::from_millis(timeout_ms),
    }
}

#[tokio::test]
async fn smoke_checks_each_get_a_verdict() {
    let s = Server::start();
    let checks = vec![
        smoke("home", s.url("/home"), 200, Some("Welcome"), 2000),
        smoke("status", s.url("/wrong"), 200, None, 2000),
        smoke("body", s.url("/home"), 200, Some("Checkout"), 2000),
        smoke("slow", s.url("/slow"), 200, None, 10_000),
    ];
    let client = health::client().unwrap();
    let started = std::time::Instant::now();
    let results = health::run_smoke(&client, &checks, &secrets(), Duration::from_millis(500)).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the deadline bounds the run"
    );
    assert!(results[0].passed, "{:?}", results[0]);
    assert!(!results[1].passed);
    assert_eq!(
        results[1].reason,
        "answered 503, expected 200: upstream down"
    );
    assert!(!results[2].passed);
    assert_eq!(
        results[2].reason,
        "answered 200 but the body does not contain \"Checkout\""
    );
    assert!(!results[3].passed);
    assert_eq!(results[3].reason, "smoke run deadline of 500ms exceeded");
}

#[tokio::test]
async fn secret_headers_are_sent_and_redacted_from_reasons() {
    let s = Server::start();
    let store = MemoryStore::default();
    store.set("PROBE_TOKEN", "canary-7f3a9c").unwrap();
    let secrets = Secrets::with_env(Arc::new(store), Redactor::default(), |_| None);
    let mut c = check(s.url("/echo-token"), 2000);
    c.headers = vec![("X-Token".into(), "${secret:PROBE_TOKEN}".into())];
    let client = health::client().unwrap();
    let r = health::probe(&client, &c, &secrets, Utc::now).await;
    assert_eq!(r.status, Some(500));
    assert!(
        r.reason.contains("token was [REDACTED]"),
        "the server saw the token, the reason hides it: {}",
        r.reason
    );
    assert!(!r.reason.contains("canary-7f3a9c"));
    // A missing secret is a clear failure, not a request without the header.
    c.headers = vec![("X-Token".into(), "${secret:NOPE}".into())];
    let r = health::probe(&client, &c, &secrets, Utc::now).await;
    assert!(!r.ok);
    assert!(r.reason.contains("SHIPDECK_SECRET_NOPE"), "{}", r.reason);
}

#[test]
fn keyutils_backend_set_get_rm() {
    use shipdeck::secrets::KeyringStore;
    let dir = tempfile::tempdir().unwrap();
    let store = match KeyringStore::new(dir.path().join("names.json")) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("SKIPPED: the kernel refuses keyrings here: {e}");
            return;
        }
    };
    let name = format!("SHIPDECK_TEST_{}", std::process::id());
    store.set(&name, "value-one").unwrap();
    assert_eq!(store.get(&name).unwrap().as_deref(), Some("value-one"));
    assert!(store.names().unwrap().contains(&name));
    store.set(&name, "value-two").unwrap();
    assert_eq!(store.get(&name).unwrap().as_deref(), Some("value-two"));
    assert!(store.remove(&name).unwrap());
    assert_eq!(store.get(&name).unwrap(), None);
    assert!(!store.remove(&name).unwrap());
    assert!(!store.names().unwrap().contains(&name));
}
