//! Real reverse proxies (HAProxy, Caddy, nginx) and two colour backends on
//! 127.0.0.1, each on a free port, stopped when dropped; a shipdeck
//! configuration with a proxy environment next to simulated ones; and a
//! bounded load generator.

use crate::support::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub const OLD: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";

fn support(file: &str) -> String {
    format!("{}/tests/support/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// Whether `program` can be run (the proxy tests need the three proxies;
/// `scripts/test` installs them).
pub fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // TERM first: nginx's master then stops its workers, which a KILL
        // would leave running as orphans; KILL what has not ended in 5 s.
        let _ = Command::new("kill")
            .args(["-s", "TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_port(port: u16, what: &str) {
    let until = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Blue and green, each a small HTTP server reading its state file.
pub struct Backends {
    pub dir: PathBuf,
    pub blue: u16,
    pub green: u16,
    _procs: Vec<Proc>,
}

impl Backends {
    pub fn start(dir: &Path) -> Self {
        let (blue, green) = (free_port(), free_port());
        let mut procs = Vec::new();
        for (colour, port) in [("blue", blue), ("green", green)] {
            let state = dir.join(format!("{colour}.json"));
            std::fs::write(
                &state,
                format!("{{\"digest\": \"{OLD}\", \"status\": 200}}"),
            )
            .expect("state");
            let child = Command::new("python3")
                .arg(support("colour_backend.py"))
                .arg(port.to_string())
                .arg(&state)
                .arg(colour)
                .stdout(Stdio::null())
                .spawn()
                .expect("python3");
            procs.push(Proc(child));
            wait_port(port, colour);
        }
        Self {
            dir: dir.to_path_buf(),
            blue,
            green,
            _procs: procs,
        }
    }

    /// Changes a colour's state (status code, flapping).
    pub fn set(&self, colour: &str, status: u16, flap: bool) {
        self.update(colour, |v| {
            v["status"] = status.into();
            v["flap"] = flap.into();
        });
    }

    /// Makes every path but the status path of a colour answer 500.
    pub fn fail_all(&self, colour: &str) {
        self.update(colour, |v| v["fail_all"] = true.into());
    }

    fn update(&self, colour: &str, f: impl FnOnce(&mut serde_json::Value)) {
        let path = self.dir.join(format!("{colour}.json"));
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        f(&mut v);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, v.to_string()).expect("write");
        std::fs::rename(tmp, path).expect("rename");
    }

    pub fn deploy_command(&self) -> String {
        format!(
            "[\"python3\", \"{}\", \"{}\", \"{{colour}}\", \"{{digest}}\"]",
            support("deploy_colour.py"),
            self.dir.display()
        )
    }
}

/// Which proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Haproxy,
    Caddy,
    Nginx,
}

impl Kind {
    pub fn program(self) -> &'static str {
        match self {
            Self::Haproxy => "haproxy",
            Self::Caddy => "caddy",
            Self::Nginx => "nginx",
        }
    }
}

/// A running proxy in front of the backends, blue live.
pub struct Proxy {
    pub kind: Kind,
    pub port: u16,
    pub dir: PathBuf,
    /// The `[environment.proxy]` keys shipdeck needs for it.
    pub keys: String,
    /// The service keys it needs besides the colours (nginx's include).
    pub service_keys: String,
    pub admin: u16,
    _proc: Proc,
}

impl Proxy {
    pub fn start(kind: Kind, dir: &Path, b: &Backends) -> Self {
        let port = free_port();
        let admin = free_port();
        let d = dir.display();
        let (child, keys, service_keys) = match kind {
            Kind::Haproxy => {
                let cfg = format!(
                    "global\n  stats socket {d}/admin.sock mode 600 level admin\n\
                     defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\
                     frontend fe\n  bind 127.0.0.1:{port}\n  default_backend api\n\
                     backend api\n  server blue 127.0.0.1:{}\n  server green 127.0.0.1:{} disabled\n",
                    b.blue, b.green
                );
                std::fs::write(dir.join("haproxy.cfg"), cfg).expect("cfg");
                let child = Command::new("haproxy")
                    .args(["-db", "-f"])
                    .arg(dir.join("haproxy.cfg"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("haproxy");
                (
                    child,
                    format!("kind = \"haproxy\"\nsocket = \"{d}/admin.sock\"\n"),
                    String::new(),
                )
            }
            Kind::Caddy => {
                let cfg = serde_json::json!({
                    "admin": {"listen": format!("127.0.0.1:{admin}")},
                    "apps": {"http": {"servers": {"srv": {
                        "listen": [format!("127.0.0.1:{port}")],
                        "automatic_https": {"disable": true},
                        "routes": [{"handle": [{
                            "handler": "reverse_proxy",
                            "@id": "api",
                            "upstreams": [{"dial": format!("127.0.0.1:{}", b.blue)}]
                        }]}]
                    }}}}
                });
                std::fs::write(dir.join("caddy.json"), cfg.to_string()).expect("cfg");
                let child = Command::new("caddy")
                    .args(["run", "--config"])
                    .arg(dir.join("caddy.json"))
                    .env("HOME", dir)
                    .env("XDG_DATA_HOME", dir.join("xdg-data"))
                    .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("caddy");
                wait_port(admin, "caddy admin");
                (
                    child,
                    format!("kind = \"caddy\"\nadmin = \"http://127.0.0.1:{admin}\"\n"),
                    String::new(),
                )
            }
            Kind::Nginx => {
                std::fs::write(
                    dir.join("api-upstream.conf"),
                    format!("server 127.0.0.1:{};\n", b.blue),
                )
                .expect("include");
                let cfg = format!(
                    "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
                     events {{ worker_connections 512; }}\n\
                     http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
                     fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
                     upstream api {{ include {d}/api-upstream.conf; }}\n\
                     server {{\n    listen 127.0.0.1:{port};\n    location = /nginx_status {{ stub_status; }}\n\
                     location / {{ proxy_pass http://api; proxy_http_version 1.1; proxy_set_header Connection \"\"; }}\n  }}\n}}\n"
                );
                std::fs::write(dir.join("nginx.conf"), cfg).expect("cfg");
                let child = Command::new("nginx")
                    .args(Self::nginx_args(dir))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("nginx");
                let args: Vec<String> = Self::nginx_args(dir)
                    .iter()
                    .map(|a| format!("\"{a}\""))
                    .collect();
                (
                    child,
                    format!(
                        "kind = \"nginx\"\nnginx = [\"nginx\", {}]\nstub_status = \"http://127.0.0.1:{port}/nginx_status\"\n",
                        args.join(", ")
                    ),
                    format!("include = \"{d}/api-upstream.conf\"\n"),
                )
            }
        };
        wait_port(port, kind.program());
        Self {
            kind,
            port,
            dir: dir.to_path_buf(),
            keys,
            service_keys,
            admin,
            _proc: Proc(child),
        }
    }

    fn nginx_args(dir: &Path) -> Vec<String> {
        vec![
            "-p".into(),
            format!("{}/", dir.display()),
            "-e".into(),
            format!("{}/error.log", dir.display()),
            "-c".into(),
            format!("{}/nginx.conf", dir.display()),
        ]
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Switches the proxy to `colour` by hand, as an operator would.
    pub fn switch_by_hand(&self, b: &Backends, colour: &str) {
        let (to, other) = if colour == "green" {
            (b.green, "blue")
        } else {
            (b.blue, "green")
        };
        match self.kind {
            Kind::Haproxy => {
                let cmd = format!(
                    "echo 'set server api/{colour} state ready; set server api/{other} state maint' | python3 -c \"import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect('{}/admin.sock'); s.sendall(sys.stdin.buffer.read()); print(s.recv(4096))\"",
                    self.dir.display()
                );
                assert!(
                    Command::new("sh")
                        .args(["-c", &cmd])
                        .status()
                        .unwrap()
                        .success()
                );
            }
            Kind::Caddy => {
                let out = Command::new("curl")
                    .args([
                        "-sf",
                        "-X",
                        "PATCH",
                        "-H",
                        "content-type: application/json",
                        "-d",
                    ])
                    .arg(format!("[{{\"dial\":\"127.0.0.1:{to}\"}}]"))
                    .arg(format!("http://127.0.0.1:{}/id/api/upstreams", self.admin))
                    .status()
                    .unwrap();
                assert!(out.success());
            }
            Kind::Nginx => {
                std::fs::write(
                    self.dir.join("api-upstream.conf"),
                    format!("server 127.0.0.1:{to};\n"),
                )
                .unwrap();
                let ok = Command::new("nginx")
                    .args(Self::nginx_args(&self.dir))
                    .args(["-s", "reload"])
                    .status()
                    .unwrap();
                assert!(ok.success());
            }
        }
    }
}

/// The `edge` environment behind the proxy, promoted into from the
/// environment before it.
fn edge_env(proxy: &Proxy, b: &Backends, extra_service: &str) -> String {
    format!(
        r#"
[[environment]]
name = "edge"
provider = "proxy"

[environment.proxy]
url = "{url}"
{keys}
[environment.gate]
checks = ["rollout_completed", "alarms_ok", "not_in_flight", "pinned", "fresh"]
checklist = [{{ item = "Run irreversible migrations", after_stable = true }}]

[environment.rollout]
stability_window = "2s"
timeout = "2m"

[[environment.service]]
name = "api"
blue = "http://127.0.0.1:{blue}"
green = "http://127.0.0.1:{green}"
deploy = {deploy}
stability_window = "3s"
ready_timeout = "10s"
{keep_warm}{service_keys}{extra_service}
[[environment.service.smoke]]
name = "home page"
path = "/"
body_contains = "sha256:"
"#,
        url = proxy.url(""),
        keys = proxy.keys,
        blue = b.blue,
        green = b.green,
        deploy = b.deploy_command(),
        service_keys = proxy.service_keys,
        keep_warm = if extra_service.contains("keep_warm") {
            ""
        } else {
            "keep_warm = \"1s\"\n"
        },
    )
}

/// The start of a configuration whose proxy environment promotes from a
/// simulated staging (the source of the digest).
pub fn staging() -> String {
    format!(
        r#"provider = "simulated"
refresh_interval = "1s"
allow_operator_override = true

[simulator]
fleet = "{}/tests/configs/good/release-fleet.toml"
seed = 5

[[environment]]
name = "staging"
region = "us-east-1"
cluster = "staging"

[[environment.service]]
name = "api"
ecs_service = "api-staging"
container = "api"
alarms = ["api-staging-5xx"]
"#,
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A shipdeck configuration: a simulated staging (the source of the digest)
/// and `edge`, behind the proxy.
pub fn config(dir: &Path, proxy: &Proxy, b: &Backends, extra_service: &str) -> PathBuf {
    let text = format!("{}{}", staging(), edge_env(proxy, b, extra_service));
    let path = dir.join("shipdeck.toml");
    std::fs::write(&path, text).expect("config");
    path
}

/// The demo's configuration (three simulated ECS stages) with `edge` behind
/// the proxy after prod.
pub fn demo_config(dir: &Path, proxy: &Proxy, b: &Backends) -> PathBuf {
    let demo = std::fs::read_to_string(format!(
        "{}/assets/demo-config.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("demo config");
    let path = dir.join("demo-edge.toml");
    std::fs::write(&path, format!("{demo}{}", edge_env(proxy, b, ""))).expect("config");
    path
}

/// What the load generator saw.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub ok: u64,
    pub failed: u64,
    /// Requests sent again once after the connection was reset without an
    /// answer (what browsers do for a GET), and why.
    pub retried: u64,
    pub retry_reasons: Vec<String>,
    pub failures: Vec<String>,
    pub elapsed: Duration,
    /// When the answers first came from green, and from blue after that.
    pub first_green: Option<Instant>,
    pub first_blue_after_green: Option<Instant>,
    pub last_body: String,
}

/// Sends GET / through the proxy from `workers` concurrent loops until
/// stopped (at most `limit` requests, at most `max` time).
pub struct Load {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<LoadReport>,
}

async fn worker(
    client: reqwest::Client,
    url: String,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    limit: u64,
    until: Instant,
) -> LoadReport {
    let mut r = LoadReport::default();
    while !stop.load(Ordering::SeqCst)
        && sent.fetch_add(1, Ordering::SeqCst) < limit
        && Instant::now() < until
    {
        let mut answer = get(&client, &url).await;
        if let Err(e) = &answer
            && (e.is_connect() || e.is_request())
        {
            r.retried += 1;
            r.retry_reasons.push(chain(e));
            answer = get(&client, &url).await;
        }
        match answer {
            Ok((s, body)) if s.is_success() => {
                r.ok += 1;
                if body.starts_with("green") {
                    r.first_green.get_or_insert_with(Instant::now);
                } else if r.first_green.is_some() {
                    r.first_blue_after_green.get_or_insert_with(Instant::now);
                }
                r.last_body = body;
            }
            Ok((s, body)) => {
                r.failed += 1;
                r.failures.push(format!("{s}: {body}"));
            }
            Err(e) => {
                r.failed += 1;
                r.failures.push(chain(&e));
            }
        }
    }
    r
}

async fn get(
    client: &reqwest::Client,
    url: &str,
) -> Result<(reqwest::StatusCode, String), reqwest::Error> {
    let x = client.get(url).send().await?;
    let s = x.status();
    x.text().await.map(|t| (s, t))
}

fn chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Load {
    /// `fresh`: a new connection per request. A reload (nginx, Caddy) closes
    /// idle keep-alive connections, and a client that sends on one at that
    /// moment sees an error it would retry (browsers do); fresh connections
    /// measure the switch itself.
    pub fn start(url: String, workers: usize, limit: u64, max: Duration, fresh: bool) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, sent2) = (stop.clone(), Arc::new(AtomicU64::new(0)));
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let started = Instant::now();
                let mut client = reqwest::Client::builder().timeout(Duration::from_secs(5));
                if fresh {
                    client = client.pool_max_idle_per_host(0);
                }
                let client = client.build().unwrap();
                let tasks: Vec<_> = (0..workers)
                    .map(|_| {
                        tokio::spawn(worker(
                            client.clone(),
                            url.clone(),
                            stop2.clone(),
                            sent2.clone(),
                            limit,
                            started + max,
                        ))
                    })
                    .collect();
                let mut total = LoadReport::default();
                for t in tasks {
                    let r = t.await.unwrap();
                    total.ok += r.ok;
                    total.failed += r.failed;
                    total.failures.extend(r.failures);
                    total.retried += r.retried;
                    total.retry_reasons.extend(r.retry_reasons);
                    total.first_green = earliest(total.first_green, r.first_green);
                    total.first_blue_after_green =
                        earliest(total.first_blue_after_green, r.first_blue_after_green);
                    total.last_body = r.last_body;
                }
                total.elapsed = started.elapsed();
                total
            })
        });
        Self { stop, handle }
    }

    pub fn finish(self) -> LoadReport {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap()
    }
}
