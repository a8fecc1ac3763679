//! Real Prometheus and Alertmanager on 127.0.0.1 (free ports, temporary
//! configuration and storage, stopped when dropped), and a small exporter
//! whose values the test sets.

use crate::support::free_port;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to give its first answer: Prometheus applies
/// its scrape targets and rules on a timer.
pub const FIRST_ANSWER: Duration = Duration::from_secs(30);

/// Whether `program` is on the PATH.
pub fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The binaries these tests need, or why the test is skipped (printed).
pub fn skip_without(programs: &[&str]) -> bool {
    let missing: Vec<&str> = programs.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return false;
    }
    eprintln!(
        "SKIPPED: {} not installed (scripts/test installs it)",
        missing.join(" and ")
    );
    true
}

/// Polls `check` until it gives a value or `within` passes.
pub fn wait_for<T>(what: &str, within: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < until, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One GET on 127.0.0.1: the status and the body (`None` when nothing answers).
pub fn get(port: u16, path_and_query: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    // Go's servers chunk longer answers.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        unchunk(body)
    } else {
        body.to_string()
    };
    Some((status, body))
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A PromQL query's value now, through shipdeck's own client (its instant
/// query): `None` while Prometheus has no data for it.
pub fn instant(port: u16, query: &str) -> Option<f64> {
    let endpoint = shipdeck::config::SignalEndpoint {
        kind: shipdeck::config::SignalKind::Prometheus,
        url: format!("http://127.0.0.1:{port}"),
        token: None,
        timeout: Duration::from_secs(5),
        location: "test".into(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let server = shipdeck::signals::Server::new(&client, &endpoint, None);
    rt.block_on(shipdeck::signals::prometheus::query_instant(&server, query))
        .ok()
        .flatten()
        .filter(|v| v.is_finite())
}

/// An HTTP server serving `/metrics` in Prometheus's text format: request
/// counters of one service, which grow by the set amounts at every scrape,
/// and a gauge an alert rule watches.
pub struct Exporter {
    pub port: u16,
    ok_per_scrape: Arc<AtomicU64>,
    errors_per_scrape: Arc<AtomicU64>,
    failing: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Exporter {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let e = Self {
            port,
            ok_per_scrape: Arc::new(AtomicU64::new(100)),
            errors_per_scrape: Arc::new(AtomicU64::new(0)),
            failing: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (ok, err, failing, stop) = (
            e.ok_per_scrape.clone(),
            e.errors_per_scrape.clone(),
            e.failing.clone(),
            e.stop.clone(),
        );
        std::thread::spawn(move || {
            let (mut ok_total, mut err_total) = (0u64, 0u64);
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let mut line = String::new();
                let _ = BufReader::new(conn.try_clone().unwrap()).read_line(&mut line);
                ok_total += ok.load(Ordering::SeqCst);
                err_total += err.load(Ordering::SeqCst);
                let body = format!(
                    "# TYPE http_requests_total counter\n\
                     http_requests_total{{service=\"api\",code=\"200\"}} {ok_total}\n\
                     http_requests_total{{service=\"api\",code=\"500\"}} {err_total}\n\
                     # TYPE api_failing gauge\n\
                     api_failing{{service=\"api\"}} {}\n",
                    u8::from(failing.load(Ordering::SeqCst))
                );
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        e
    }

    /// Requests answered per scrape, good and 5xx (the 5xx ratio is
    /// `errors / (ok + errors)`).
    pub fn set_requests(&self, ok: u64, errors: u64) {
        self.ok_per_scrape.store(ok, Ordering::SeqCst);
        self.errors_per_scrape.store(errors, Ordering::SeqCst);
    }

    /// Sets the gauge the `ApiFailing` rule fires on.
    pub fn set_failing(&self, on: bool) {
        self.failing.store(on, Ordering::SeqCst);
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// The 5xx ratio of the exporter's service, in percent, as a metric asks it.
pub const RATIO: &str = "sum(rate(http_requests_total{service=\"api\",code=\"500\"}[1m])) / sum(rate(http_requests_total{service=\"api\"}[1m])) * 100";

/// The alerting rules every test's Prometheus has.
const RULES: &str = "groups:\n- name: api\n  rules:\n  - alert: ApiFailing\n    expr: api_failing > 0\n    labels:\n      severity: page\n";

struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(program: &str, args: &[String], log: &Path) -> Proc {
    let out = std::fs::File::create(log).unwrap();
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    Proc { child }
}

/// A Prometheus scraping the exporter every second and evaluating the
/// `ApiFailing` rule every second (sending it to `alertmanager` when given).
pub struct Prometheus {
    pub port: u16,
    pub dir: PathBuf,
    proc: Option<Proc>,
}

impl Prometheus {
    pub fn start(dir: &Path, exporter: &Exporter, alertmanager: Option<&Alertmanager>) -> Self {
        let dir = dir.join("prometheus");
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        std::fs::write(dir.join("rules.yml"), RULES).unwrap();
        let alerting = alertmanager.map_or(String::new(), |am| {
            format!(
                "alerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['127.0.0.1:{}']\n",
                am.port
            )
        });
        std::fs::write(
            dir.join("prometheus.yml"),
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files: ['{}']\n{alerting}\
                 scrape_configs:\n- job_name: app\n  static_configs:\n  - targets: ['127.0.0.1:{}']\n",
                dir.join("rules.yml").display(),
                exporter.port
            ),
        )
        .unwrap();
        let args = vec![
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--log.level=warn".to_string(),
        ];
        let proc = spawn("prometheus", &args, &dir.join("log"));
        let p = Self {
            port,
            dir,
            proc: Some(proc),
        };
        wait_for("Prometheus ready", FIRST_ANSWER, || {
            get(port, "/-/ready").filter(|(s, _)| *s == 200)
        });
        p
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until the `ApiFailing` alert is in `state` (`firing`,
    /// `inactive`: none) for the exporter's service.
    pub fn wait_alert(&self, state: &str) {
        wait_for(&format!("ApiFailing {state}"), FIRST_ANSWER, || {
            let (_, body) = get(self.port, "/api/v1/rules?type=alert")?;
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            let rule = v["data"]["groups"][0]["rules"][0].clone();
            (rule["health"] == "ok" && rule["state"] == state).then_some(())
        });
    }

    /// Stops it: every later reading finds nothing listening.
    pub fn stop(&mut self) {
        self.proc = None;
    }

    /// Its log, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

/// An Alertmanager without clustering, holding what Prometheus sends it.
pub struct Alertmanager {
    pub port: u16,
    _proc: Proc,
}

impl Alertmanager {
    pub fn start(dir: &Path) -> Self {
        let dir = dir.join("alertmanager");
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        std::fs::write(
            dir.join("alertmanager.yml"),
            "route:\n  receiver: nobody\n  group_wait: 0s\nreceivers:\n- name: nobody\n",
        )
        .unwrap();
        let args = vec![
            format!("--config.file={}", dir.join("alertmanager.yml").display()),
            format!("--storage.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--cluster.listen-address=".to_string(),
            "--log.level=warn".to_string(),
        ];
        let proc = spawn("prometheus-alertmanager", &args, &dir.join("log"));
        wait_for("Alertmanager ready", FIRST_ANSWER, || {
            get(port, "/-/ready").filter(|(s, _)| *s == 200)
        });
        Self { port, _proc: proc }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until Alertmanager holds the `ApiFailing` alert.
    pub fn wait_alert(&self) {
        wait_for("ApiFailing in Alertmanager", FIRST_ANSWER, || {
            let (_, body) = get(
                self.port,
                "/api/v2/alerts?filter=alertname%3D%22ApiFailing%22",
            )?;
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            (v.as_array()?.len() == 1).then_some(())
        });
    }
}
