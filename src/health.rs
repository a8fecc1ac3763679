//! Health probes and smoke checks over HTTP (reqwest + rustls), and the pure
//! tracker that turns probe results into "healthy-stable".

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{HealthCheck, SmokeCheck};
use crate::model::{Health, sanitize};
use crate::secrets::Secrets;

/// Bytes of a response body read at most; the rest is never downloaded.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Probe results kept per service for percentiles and sparklines.
pub const HISTORY: usize = 120;
/// Characters of a body quoted in a reason.
const BODY_SNIPPET: usize = 80;

/// One probe's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// When the probe finished.
    pub at: DateTime<Utc>,
    /// HTTP status, if an answer arrived.
    pub status: Option<u16>,
    /// Time to the answer (or to the failure).
    #[serde(with = "crate::model::duration_millis")]
    pub latency: Duration,
    /// Whether it answered as expected.
    pub ok: bool,
    /// Readable reason: sanitised and redacted.
    pub reason: String,
}

/// Health of one service over time: the stability window and latency history.
#[derive(Debug, Clone)]
pub struct HealthTracker {
    window: Duration,
    healthy_since: Option<DateTime<Utc>>,
    history: VecDeque<ProbeResult>,
}

impl HealthTracker {
    /// A tracker with a stability window.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            healthy_since: None,
            history: VecDeque::new(),
        }
    }

    /// Records a result; any failure resets the stability window.
    pub fn record(&mut self, r: ProbeResult) {
        if r.ok {
            if self.healthy_since.is_none() {
                self.healthy_since = Some(r.at);
            }
        } else {
            self.healthy_since = None;
        }
        self.history.push_back(r);
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
    }

    /// Healthy without interruption for the whole window, as of `now`.
    pub fn healthy_stable(&self, now: DateTime<Utc>) -> bool {
        self.healthy_since
            .is_some_and(|since| (now - since).to_std().unwrap_or_default() >= self.window)
    }

    /// How long it has been healthy without interruption.
    pub fn healthy_for(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.healthy_since
            .map(|s| (now - s).to_std().unwrap_or_default())
    }

    /// The latest result.
    pub fn last(&self) -> Option<&ProbeResult> {
        self.history.back()
    }

    /// Latencies (ms) of successful probes, oldest first.
    pub fn latencies(&self) -> Vec<u64> {
        self.history
            .iter()
            .filter(|r| r.ok)
            .map(|r| u64::try_from(r.latency.as_millis()).unwrap_or(u64::MAX))
            .collect()
    }

    /// p50 and p95 latency of the successful probes within the window before `now`.
    pub fn percentiles(&self, now: DateTime<Utc>) -> Option<(Duration, Duration)> {
        let since = now - chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX);
        let mut v: Vec<Duration> = self
            .history
            .iter()
            .filter(|r| r.ok && r.at >= since)
            .map(|r| r.latency)
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort();
        let pick = |p: usize| v[((v.len() - 1) * p).div_ceil(100)];
        Some((pick(50), pick(95)))
    }

    /// The model's view of this health.
    pub fn health(&self, now: DateTime<Utc>) -> Health {
        self.last().map_or(Health::Unknown, |r| {
            r.to_health(self.healthy_for(now).unwrap_or_default())
        })
    }
}

impl ProbeResult {
    /// The model's view of this one result, healthy for `healthy_for` so far.
    pub fn to_health(&self, healthy_for: Duration) -> Health {
        if self.ok {
            Health::Healthy {
                status: self.status.unwrap_or(0),
                latency: self.latency,
                healthy_for,
            }
        } else {
            Health::Unhealthy {
                status: self.status,
                reason: self.reason.clone(),
            }
        }
    }
}

/// Health probes in flight at once, across all services.
pub const PROBES_IN_FLIGHT: usize = 16;

/// An HTTP client for probes: rustls, no redirects followed (a redirect is an answer).
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("shipdeck/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))
}

/// One GET without headers: the status and at most [`BODY_LIMIT`] bytes of
/// body, or why there was no answer (the probes' own bounded exchange).
pub async fn get(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), String> {
    let none = Secrets::new(
        std::sync::Arc::new(crate::secrets::MemoryStore::default()),
        crate::secrets::Redactor::default(),
    );
    exchange(client, "GET", url, &[], timeout, &none)
        .await
        .map(|x| (x.status, x.body))
}

/// What one HTTP exchange produced.
struct Exchange {
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
    latency: Duration,
}

async fn exchange(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    timeout: Duration,
    secrets: &Secrets,
) -> Result<Exchange, String> {
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|_| format!("bad method \"{method}\""))?;
    let mut req = client.request(method, url).timeout(timeout);
    for (k, v) in headers {
        let value = secrets.expand(v).map_err(|e| e.to_string())?;
        let mut hv = reqwest::header::HeaderValue::from_str(&value)
            .map_err(|_| format!("header \"{k}\" has a value that is not valid in HTTP"))?;
        // Sensitive values are kept out of debug output by the HTTP stack.
        hv.set_sensitive(true);
        req = req.header(k.as_str(), hv);
    }
    let started = Instant::now();
    let send = async {
        let mut resp = req.send().await.map_err(|e| describe(&e, timeout))?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = Vec::new();
        // Bounded read: stop at BODY_LIMIT, whatever the server sends.
        while body.len() < BODY_LIMIT {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    let room = BODY_LIMIT - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Ok(None) => break,
                Err(e) => return Err(describe(&e, timeout)),
            }
        }
        Ok((status, location, body))
    };
    // The per-request timeout covers the body too; this guards a stalled body stream.
    let (status, location, body) = tokio::time::timeout(timeout, send)
        .await
        .map_err(|_| format!("no answer within {}", humantime::format_duration(timeout)))??;
    Ok(Exchange {
        status,
        location,
        body,
        latency: started.elapsed(),
    })
}

fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {}", humantime::format_duration(timeout));
    }
    if e.is_connect() {
        return "connection refused or host unreachable".to_string();
    }
    if e.is_body() || e.is_decode() {
        return "the response body could not be read".to_string();
    }
    // without_url: URLs can carry credentials; shipdeck shows its own redacted URL instead.
    let mut msg = e.to_string();
    if let Some(url) = e.url() {
        msg = msg.replace(url.as_str(), "<url>");
    }
    msg
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let clean = sanitize(&text);
    let mut s: String = clean.chars().take(BODY_SNIPPET).collect();
    if clean.chars().count() > BODY_SNIPPET {
        s.push('…');
    }
    s
}

/// Probes a health endpoint once.
pub async fn probe(
    client: &reqwest::Client,
    check: &HealthCheck,
    secrets: &Secrets,
    now: impl Fn() -> DateTime<Utc>,
) -> ProbeResult {
    let redactor = secrets.redactor().clone();
    match exchange(
        client,
        &check.method,
        &check.url,
        &check.headers,
        check.timeout,
        secrets,
    )
    .await
    {
        Ok(x) => {
            let ok = x.status == check.expected_status;
            let reason = if ok {
                format!("answered {}", x.status)
            } else if let Some(loc) = &x.location {
                format!(
                    "answered {} (redirect to {}), expected {}",
                    x.status,
                    sanitize(loc),
                    check.expected_status
                )
            } else {
                format!(
                    "answered {}, expected {}: {}",
                    x.status,
                    check.expected_status,
                    snippet(&x.body)
                )
            };
            ProbeResult {
                at: now(),
                status: Some(x.status),
                latency: x.latency,
                ok,
                reason: redactor.redact(reason.trim_end_matches(": ")),
            }
        }
        Err(e) => ProbeResult {
            at: now(),
            status: None,
            latency: check.timeout,
            ok: false,
            reason: redactor.redact(&sanitize(&e)),
        },
    }
}

/// A smoke check's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmokeResult {
    /// Check name.
    pub name: String,
    /// Passed.
    pub passed: bool,
    /// Why (sanitised, redacted).
    pub reason: String,
}

/// The smoke checks of `results` that failed, each with why (`name:
/// reason; …`), or `None` when every one passed.
pub fn smoke_failures(results: &[SmokeResult]) -> Option<String> {
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| format!("{}: {}", r.name, r.reason))
        .collect();
    (!failed.is_empty()).then(|| failed.join("; "))
}

/// Runs every smoke check concurrently within `deadline`; checks still running then fail.
pub async fn run_smoke(
    client: &reqwest::Client,
    checks: &[SmokeCheck],
    secrets: &Secrets,
    deadline: Duration,
) -> Vec<SmokeResult> {
    let redactor = secrets.redactor().clone();
    let runs = checks.iter().map(|c| async {
        let fut = exchange(client, &c.method, &c.url, &[], c.timeout, secrets);
        let (passed, reason) = match tokio::time::timeout(deadline, fut).await {
            Err(_) => (
                false,
                format!(
                    "smoke run deadline of {} exceeded",
                    humantime::format_duration(deadline)
                ),
            ),
            Ok(Err(e)) => (false, e),
            Ok(Ok(x)) if x.status != c.expected_status => (
                false,
                format!(
                    "answered {}, expected {}: {}",
                    x.status,
                    c.expected_status,
                    snippet(&x.body)
                ),
            ),
            Ok(Ok(x)) => match &c.body_contains {
                Some(needle) if !String::from_utf8_lossy(&x.body).contains(needle.as_str()) => (
                    false,
                    format!(
                        "answered {} but the body does not contain \"{}\"",
                        x.status,
                        sanitize(needle)
                    ),
                ),
                _ => (
                    true,
                    format!("answered {} in {}ms", x.status, x.latency.as_millis()),
                ),
            },
        };
        SmokeResult {
            name: c.name.clone(),
            passed,
            reason: redactor.redact(&sanitize(&reason)),
        }
    });
    futures::future::join_all(runs).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn r(s: i64, ok: bool, ms: u64) -> ProbeResult {
        ProbeResult {
            at: Utc.timestamp_opt(1_000_000 + s, 0).unwrap(),
            status: Some(if ok { 200 } else { 503 }),
            latency: Duration::from_millis(ms),
            ok,
            reason: String::new(),
        }
    }

    #[test]
    fn stability_window_and_reset() {
        let mut t = HealthTracker::new(Duration::from_secs(30));
        let at = |s: i64| Utc.timestamp_opt(1_000_000 + s, 0).unwrap();
        t.record(r(0, true, 10));
        assert!(!t.healthy_stable(at(29)));
        assert!(t.healthy_stable(at(30)));
        t.record(r(31, false, 10));
        assert!(!t.healthy_stable(at(100)));
        t.record(r(40, true, 10));
        assert!(!t.healthy_stable(at(69)));
        assert!(t.healthy_stable(at(70)));
    }

    #[test]
    fn percentiles_over_the_window() {
        let mut t = HealthTracker::new(Duration::from_secs(100));
        for i in 1..=100 {
            t.record(r(i, true, u64::try_from(i).unwrap()));
        }
        let now = Utc.timestamp_opt(1_000_100, 0).unwrap();
        let (p50, p95) = t.percentiles(now).unwrap();
        assert_eq!(p50, Duration::from_millis(51));
        assert_eq!(p95, Duration::from_millis(96));
        assert_eq!(t.latencies().len(), 100);
        for i in 0..200 {
            t.record(r(200 + i, true, 1));
        }
        assert_eq!(t.latencies().len(), HISTORY, "history is bounded");
    }
}
