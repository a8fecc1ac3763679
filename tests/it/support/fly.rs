//! The Fly Machines API stub (`tests/support/fly_machines.py`) as a test
//! handle: started on a free port (it prints `ready PORT`), seeded with apps
//! and images, given faults, asked for its request log and state over its
//! `/_stub/*` control endpoints, killed when dropped.

#![allow(dead_code)] // the promotion suites use the rest

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// The token the stub accepts unless told otherwise.
pub const TOKEN: &str = "fly-stub-token";

/// A running stub.
pub struct FlyStub {
    pub port: u16,
    child: Option<Child>,
}

/// The stub's script.
pub fn script() -> String {
    format!(
        "{}/tests/support/fly_machines.py",
        env!("CARGO_MANIFEST_DIR")
    )
}

impl FlyStub {
    /// Starts the stub with `args` (`--apps 100 --machines 10`, delays).
    pub fn start(args: &[&str]) -> Self {
        let (child, port) = spawn_stub(&script(), &[&["--port", "0"], args].concat(), "ready ");
        Self {
            port,
            child: Some(child),
        }
    }

    /// The Machines API's base URL (`api_url`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One request to the stub: its status and JSON body (`null` if none).
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        request(self.port, method, path, body, &[])
    }

    /// One control request that must succeed.
    fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, v) = self.call(method, path, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {v}"
        );
        v
    }

    /// Seeds (replaces) an app: `machines` as the stub's docstring says
    /// (`{"id", "region", "image", "state", "checks", "metadata", "labels"}`).
    pub fn seed_app(&self, app: &str, machines: &Value) -> Value {
        self.control(
            "POST",
            "/_stub/apps",
            Some(&json!({"app": app, "machines": machines})),
        )
    }

    /// Puts an image with its labels into the stub's registry.
    pub fn seed_image(&self, reference: &str, labels: &Value) {
        self.control(
            "POST",
            "/_stub/images",
            Some(&json!({"ref": reference, "labels": labels})),
        );
    }

    /// Sets the delays of the state machine (seconds).
    pub fn delays(&self, start: f64, checks: f64) {
        self.control(
            "POST",
            "/_stub/config",
            Some(&json!({"start_delay": start, "check_delay": checks})),
        );
    }

    /// Adds a fault (`{"kind": "host", "machine": …, "status": "unreachable"}`).
    pub fn fault(&self, fault: &Value) {
        self.control("POST", "/_stub/fault", Some(fault));
    }

    /// Clears every fault.
    pub fn clear_faults(&self) {
        self.control("DELETE", "/_stub/faults", None);
    }

    /// The `/v1` requests so far: `{"seq","t","method","path","query","nonce","status"}`.
    pub fn log(&self) -> Vec<Value> {
        match self.control("GET", "/_stub/log", None) {
            Value::Array(v) => v,
            other => panic!("the log is not a list: {other}"),
        }
    }

    /// Forgets the requests so far.
    pub fn clear_log(&self) {
        self.control("DELETE", "/_stub/log", None);
    }

    /// Everything the stub holds (apps, machines, leases, images, faults).
    pub fn state(&self) -> Value {
        self.control("GET", "/_stub/state", None)
    }

    /// Stops the stub (its port then refuses connections).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for FlyStub {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A machine to seed: `region`, `image` (`repo@sha256:…`), its checks passing.
pub fn machine(id: &str, region: &str, image: &str) -> Value {
    json!({
        "id": id,
        "region": region,
        "image": image,
        "state": "started",
        "checks": {"health": "passing"},
        "metadata": {"fly_process_group": "app", "fly_release_version": "12"},
    })
}

/// A minimal HTTP/1.1 exchange (the control endpoints need no more).
/// Starts a Python stand-in, `script` with `args`, and reads the port
/// from its first line, which starts with `prefix` (`ready `, `PORT `).
pub fn spawn_stub(script: &str, args: &[&str], prefix: &str) -> (Child, u16) {
    let mut child = Command::new("python3")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 must be installed for the stub's tests");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the stub's first line");
    let port = line
        .trim()
        .strip_prefix(prefix)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{script} did not say `{prefix}PORT`: {line:?}"));
    (child, port)
}

pub fn request(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("the stub answers");
    s.set_read_timeout(Some(Duration::from_secs(70))).unwrap();
    let payload = body.map(Value::to_string).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        payload.len()
    );
    if body.is_some() {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(payload.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let v = if rest.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(rest).unwrap_or_else(|e| panic!("{e}: {rest}"))
    };
    (status, v)
}
