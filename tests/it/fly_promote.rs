//! Promoting and rolling back on Fly through the real binary, against the
//! Machines API stub (`tests/support/fly_machines.py`): canary first, then
//! the rest, every update under its lease's nonce and every lease released;
//! a canary whose check goes critical or that does not start, rolled back;
//! a lease held by a second deployer, refused before anything changes; and a
//! 5xx ratio in a real Prometheus that aborts mid-way and rolls back only
//! the machines updated. What only the stub checks is in the README.

use crate::signals::servers;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The machines of prod: two in fra, two in ams; the canary is the first.
const MACHINES: [(&str, &str); 4] = [
    ("148ed726c5d901", "fra"),
    ("148ed726c5d902", "fra"),
    ("3d8d413b29d003", "ams"),
    ("3d8d413b29d004", "ams"),
];
const REPO: &str = "registry.fly.io/edge";

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// The stub on a free port, stopped when dropped.
struct Stub {
    child: Child,
    port: u16,
}

impl Drop for Stub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Stub {
    /// `None` without python3.
    fn start() -> Option<Self> {
        if !servers::installed("python3") {
            eprintln!("skipped: python3 is not installed");
            return None;
        }
        let mut child = Command::new("python3")
            .arg(format!(
                "{}/tests/support/fly_machines.py",
                env!("CARGO_MANIFEST_DIR")
            ))
            .args([
                "--port",
                "0",
                "--start-delay",
                "0.1",
                "--check-delay",
                "0.1",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().strip_prefix("ready ").unwrap().parse().unwrap();
        Some(Self { child, port })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn call(&self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8_lossy(&raw).to_string();
        let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
        let (_, rest) = text.split_once("\r\n\r\n").unwrap();
        (status, serde_json::from_str(rest).unwrap_or(Value::Null))
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        let (status, v) = self.call("POST", path, body);
        assert!(status < 300, "{path}: {status} {v}");
        v
    }

    /// Prod (`edge-prod`: the four machines on digest a) and dev
    /// (`edge-dev`: one machine on digest b, the promoted one).
    fn seed(&self) {
        let labels = json!({"org.opencontainers.image.source": "https://github.com/acme/edge",
                            "org.opencontainers.image.revision": "9f8e7d6c5b4a"});
        let machines: Vec<Value> = MACHINES
            .iter()
            .map(|(id, region)| {
                json!({"id": id, "region": region, "image": format!("{REPO}@{}", digest('a')),
                       "checks": {"health": "passing"}})
            })
            .collect();
        self.post(
            "/_stub/apps",
            &json!({"app": "edge-prod", "machines": machines}),
        );
        self.post(
            "/_stub/apps",
            &json!({"app": "edge-dev", "machines": [
                {"id": "5e5e5e5e5e5e01", "region": "fra", "image": format!("{REPO}@{}", digest('b')),
                 "labels": labels, "checks": {"health": "passing"}}]}),
        );
        let (_, _) = self.call("DELETE", "/_stub/log", &Value::Null);
    }

    fn log(&self) -> Vec<Value> {
        let (_, v) = self.call("GET", "/_stub/log", &Value::Null);
        v.as_array().cloned().unwrap_or_default()
    }

    fn state(&self) -> Value {
        self.call("GET", "/_stub/state", &Value::Null).1
    }

    /// The digest each machine of prod runs.
    fn digests(&self) -> Vec<String> {
        let s = self.state();
        MACHINES
            .iter()
            .map(|(id, _)| {
                find_machine(&s, id)["digest"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string()
            })
            .collect()
    }

    /// The leases prod's machines have.
    fn leases(&self) -> Value {
        let s = self.state();
        s["apps"]["edge-prod"]["leases"].clone()
    }
}

/// A machine of prod in the stub's state dump, whatever its shape.
fn find_machine(state: &Value, id: &str) -> Value {
    let machines = &state["apps"]["edge-prod"]["machines"];
    if let Some(m) = machines.get(id) {
        return m.clone();
    }
    machines
        .as_array()
        .and_then(|a| a.iter().find(|m| m["id"] == id).cloned())
        .unwrap_or(Value::Null)
}

/// Requests of the log on prod's machines, as `(method, machine, what)`:
/// what is `update`, `lease`, `wait`, `get` or `metadata`.
fn on_prod(log: &[Value]) -> Vec<(String, String, String, Option<String>, u64)> {
    log.iter()
        .filter_map(|r| {
            let path = r["path"].as_str()?;
            let rest = path.strip_prefix("/v1/apps/edge-prod/machines/")?;
            let mut parts = rest.split('/');
            let id = parts.next()?.to_string();
            let what = parts.next().unwrap_or(match r["method"].as_str()? {
                "POST" => "update",
                _ => "get",
            });
            Some((
                r["method"].as_str()?.to_string(),
                id,
                what.to_string(),
                r["nonce"].as_str().map(str::to_string),
                r["status"].as_u64()?,
            ))
        })
        .collect()
}

fn updates(log: &[Value]) -> Vec<String> {
    on_prod(log)
        .into_iter()
        .filter(|(m, _, w, _, _)| m == "POST" && w == "update")
        .map(|(_, id, ..)| id)
        .collect()
}

/// A home for one test: the configuration of dev and prod on the stub.
struct Home {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Home {
    fn new(stub: &Stub, prod_extra: &str, service_extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("shipdeck.toml");
        let env = |name: &str, extra: &str, svc: &str| {
            format!(
                r#"
[[environment]]
name = "{name}"
platform = "fly"
[environment.fly]
api_url = "{url}"
token = "${{secret:FLY_API_TOKEN}}"
[environment.gate]
checks = ["rollout_completed", "not_in_flight", "pinned", "fresh"]
{extra}
[[environment.service]]
name = "edge"
[environment.service.fly]
app = "edge-{name}"
canary_hold = "1s"
hold = "1s"
lease_ttl = "10s"
checks_grace = "1s"
wait_timeout = "30s"
{svc}
"#,
                url = stub.url()
            )
        };
        let rollout = format!(
            "[environment.rollout]\nstability_window = \"1s\"\ntimeout = \"2m\"\n{prod_extra}"
        );
        std::fs::write(
            &config,
            format!(
                "refresh_interval = \"1s\"\nallow_operator_override = true\n{}{}",
                env("dev", "", ""),
                env("prod", &rollout, service_extra)
            ),
        )
        .unwrap();
        Self { dir, config }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shipdeck"));
        cmd.env_remove("SHIPDECK_CONFIG")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .env("SHIPDECK_SECRET_FLY_API_TOKEN", "fly-stub-token")
            .env("XDG_DATA_HOME", self.path().join("data"))
            .env("XDG_STATE_HOME", self.path().join("state"))
            .env("SHIPDECK_OPERATOR", "alice")
            .env("SHIPDECK_LOG_FILE", self.path().join("shipdeck.log"))
            .arg("--config")
            .arg(&self.config);
        cmd
    }

    /// `promote edge --to prod --yes --wait --json`: exit code and report.
    fn promote(&self) -> (i32, Value, String) {
        let out = assert_cmd::Command::from_std(self.cmd())
            .args([
                "promote", "edge", "--to", "prod", "--yes", "--wait", "--json",
            ])
            .timeout(Duration::from_mins(3))
            .output()
            .unwrap();
        self.report(&out)
    }

    fn report(&self, out: &std::process::Output) -> (i32, Value, String) {
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let text = format!(
            "{stdout}\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.path().join("shipdeck.log")).unwrap_or_default()
        );
        let v = serde_json::from_str(&stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap_or(-1), v, text)
    }

    /// The ledger's step records' first reasons, and every record.
    fn ledger(&self) -> (Vec<Value>, Vec<String>) {
        let text = std::fs::read_to_string(self.path().join("data/shipdeck/ledger.jsonl"))
            .unwrap_or_default();
        let records: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["record"].clone())
            .collect();
        let steps = records
            .iter()
            .filter(|r| r["kind"] == "step")
            .map(|r| r["reasons"][0].as_str().unwrap_or_default().to_string())
            .collect();
        (records, steps)
    }
}

/// Waits until every lease of prod is released.
fn released(stub: &Stub) {
    servers::wait_for("every lease released", Duration::from_secs(30), || {
        let l = stub.leases();
        (l.is_null()
            || l.as_object().is_some_and(serde_json::Map::is_empty)
            || l.as_array().is_some_and(Vec::is_empty))
        .then_some(())
    });
}

#[test]
fn canary_then_rolling_across_four_machines_in_two_regions_with_a_nonce_on_every_update() {
    let Some(stub) = Stub::start() else {
        return;
    };
    stub.seed();
    let home = Home::new(&stub, "", "");
    let (code, report, text) = home.promote();
    assert_eq!(code, 0, "{text}");
    assert_eq!(report["outcome"], "succeeded", "{text}");
    released(&stub);
    let log = stub.log();
    let reqs = on_prod(&log);
    // Every machine leased before the first update.
    let first_update = reqs
        .iter()
        .position(|(m, _, w, _, _)| m == "POST" && w == "update")
        .unwrap();
    let leased: Vec<&String> = reqs[..first_update]
        .iter()
        .filter(|(m, _, w, n, s)| m == "POST" && w == "lease" && n.is_none() && *s == 201)
        .map(|(_, id, ..)| id)
        .collect();
    assert_eq!(leased.len(), 4, "{reqs:?}");
    // The canary first (the lowest id of the started machines), then the
    // rest one at a time, by id.
    let ids: Vec<&str> = MACHINES.iter().map(|(id, _)| *id).collect();
    assert_eq!(updates(&log), ids, "{reqs:?}");
    // The canary was waited for before the second machine was updated.
    let second = reqs
        .iter()
        .enumerate()
        .filter(|(_, (m, _, w, _, _))| m == "POST" && w == "update")
        .nth(1)
        .unwrap()
        .0;
    assert!(
        reqs[first_update..second]
            .iter()
            .any(|(_, id, w, _, _)| id == ids[0] && w == "wait"),
        "{reqs:?}"
    );
    // Every update carries its machine's nonce (the one it is released with).
    for (method, id, what, nonce, status) in &reqs {
        if method == "POST" && what == "update" {
            let nonce = nonce.as_deref().unwrap_or_else(|| panic!("no nonce: {id}"));
            assert_eq!(*status, 200, "{id}");
            let release = reqs
                .iter()
                .find(|(m, i, w, _, _)| m == "DELETE" && i == id && w == "lease")
                .unwrap_or_else(|| panic!("{id} not released: {reqs:?}"));
            assert_eq!(release.3.as_deref(), Some(nonce), "{id}");
        }
    }
    // Every lease released after the last update.
    let last_update = reqs
        .iter()
        .rposition(|(m, _, w, _, _)| m == "POST" && w == "update")
        .unwrap();
    let releases: Vec<&String> = reqs[last_update..]
        .iter()
        .filter(|(m, _, w, _, s)| m == "DELETE" && w == "lease" && *s == 200)
        .map(|(_, id, ..)| id)
        .collect();
    assert_eq!(releases.len(), 4, "{reqs:?}");
    assert_eq!(stub.digests(), vec![digest('b'); 4]);
    // One step record per machine, naming it and its region.
    let (records, steps) = home.ledger();
    // The artifact's commit and source are recorded with the promotion
    // and its deploy (the runbook's "record the artifact, commit").
    for kind in ["promotion_started", "deploy_issued"] {
        let r = records.iter().find(|r| r["kind"] == kind).unwrap();
        let reasons = r["reasons"].to_string();
        assert!(
            reasons.contains("9f8e7d6") && reasons.contains("github.com/acme/edge"),
            "{kind}: {r}"
        );
    }
    for (id, region) in MACHINES {
        assert_eq!(
            steps
                .iter()
                .filter(|s| s.starts_with(&format!("machine {id} ({region})")))
                .count(),
            1,
            "{steps:?}"
        );
    }
}

/// Promotes into a prod whose canary goes wrong as `fault` says: the run
/// fails, the watch aborts, and the way back updates the canary back.
fn a_canary_that_goes_wrong(fault: &Value, named: &[&str]) {
    let Some(stub) = Stub::start() else {
        return;
    };
    stub.seed();
    stub.post("/_stub/fault", fault);
    let home = Home::new(&stub, "", "");
    let (code, report, text) = home.promote();
    assert_ne!(code, 0, "{text}");
    assert_eq!(report["outcome"], "rolled_back", "{text}");
    let why = report["reason"].as_str().unwrap_or_default();
    for part in named {
        assert!(why.contains(part), "{part} in {why}\n{text}");
    }
    released(&stub);
    let log = stub.log();
    // Only the canary moved: forward, then back.
    assert_eq!(
        updates(&log),
        [MACHINES[0].0, MACHINES[0].0],
        "{:?}",
        on_prod(&log)
    );
    assert_eq!(stub.digests(), vec![digest('a'); 4]);
}

#[test]
fn a_canary_whose_check_goes_critical_aborts_and_every_machine_runs_the_old_digest_again() {
    a_canary_that_goes_wrong(
        &json!({"kind": "check_critical", "digest": digest('b'), "check": "health",
                "output": "HTTP GET /health: 503 Service Unavailable", "after": 0.3}),
        &["check \"health\"", "503 Service Unavailable", MACHINES[0].0],
    );
}

#[test]
fn a_canary_that_fails_to_start_aborts_naming_its_exit_code() {
    a_canary_that_goes_wrong(
        &json!({"kind": "fail_start", "digest": digest('b')}),
        &["exited with code 1", MACHINES[0].0],
    );
}

#[test]
fn a_lease_held_by_another_deployer_refuses_before_anything_changes_naming_the_holder() {
    let Some(stub) = Stub::start() else {
        return;
    };
    stub.seed();
    let held = MACHINES[2].0;
    stub.post(
        "/_stub/fault",
        &json!({"kind": "hold_lease", "app": "edge-prod", "machine": held,
                "owner": "ci@acme.dev", "description": "", "ttl": 600}),
    );
    let home = Home::new(&stub, "", "");
    let (code, report, text) = home.promote();
    assert_ne!(code, 0, "{text}");
    assert_eq!(report["outcome"], "not_issued", "{text}");
    let why = report["reason"].as_str().unwrap_or_default();
    for part in ["ci@acme.dev", held, "(ams)", " UTC", "nothing was changed"] {
        assert!(why.contains(part), "{part} in {why}");
    }
    let reqs = on_prod(&stub.log());
    assert!(updates(&stub.log()).is_empty(), "{reqs:?}");
    // The leases taken before the held one were released, by their nonce.
    for (id, _) in &MACHINES[..2] {
        assert!(
            reqs.iter().any(|(m, i, w, n, s)| m == "DELETE"
                && i == id
                && w == "lease"
                && n.is_some()
                && *s == 200),
            "{id}: {reqs:?}"
        );
    }
    assert_eq!(stub.digests(), vec![digest('a'); 4]);
    let (records, _) = home.ledger();
    assert!(!records.iter().any(|r| r["kind"] == "step"), "{records:?}");
}

#[test]
fn a_5xx_ratio_in_prometheus_aborts_mid_rollout_and_rolls_the_updated_machines_back() {
    if servers::skip_without(&["prometheus", "python3"]) {
        return;
    }
    let Some(stub) = Stub::start() else {
        return;
    };
    stub.seed();
    let dir = tempfile::tempdir().unwrap();
    let exporter = servers::Exporter::start();
    let prom = servers::Prometheus::start(dir.path(), &exporter, None);
    servers::wait_for("the 5xx ratio in Prometheus", servers::FIRST_ANSWER, || {
        servers::instant(prom.port, servers::RATIO)
    });
    let rule = format!(
        "[[environment.rollout.rule]]\nname = \"5xx ratio\"\nmetric = \"5xx %\"\nabove = 5.0\nfor = \"1m\"\n\
         [environment.prometheus]\nurl = \"{}\"\n",
        prom.url()
    );
    let metric = format!(
        "[[environment.service.metric]]\nlabel = \"5xx %\"\nrole = \"error_rate\"\npromql = '{}'\n",
        servers::RATIO
    );
    // Long holds between batches: the rule is judged while the run holds.
    let home = Home::new(&stub, &rule, &metric);
    let text = std::fs::read_to_string(&home.config)
        .unwrap()
        .replace("hold = \"1s\"\nlease_ttl", "hold = \"3m\"\nlease_ttl")
        .replace("timeout = \"2m\"", "timeout = \"5m\"");
    std::fs::write(&home.config, text).unwrap();
    let mut child = home
        .cmd()
        .args([
            "promote", "edge", "--to", "prod", "--yes", "--wait", "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Machine 2 updated (the first batch after the canary): 5xx rise.
    let deadline = Instant::now() + Duration::from_mins(1);
    while updates(&stub.log()).len() < 2 {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let (_, _, text) = home.report(&child.wait_with_output().unwrap());
            panic!(
                "machine 2 never updated: {:?}\n{text}",
                on_prod(&stub.log())
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    exporter.set_requests(50, 50);
    let deadline = Instant::now() + Duration::from_mins(3);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("promote --wait hung");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().unwrap();
    let (code, report, text) = home.report(&out);
    assert_ne!(code, 0, "{text}");
    assert_eq!(report["outcome"], "rolled_back", "{text}");
    let why = report["reason"].as_str().unwrap_or_default();
    assert!(why.contains("5xx ratio"), "{why}");
    released(&stub);
    let log = stub.log();
    let ups = updates(&log);
    let (m1, m2) = (MACHINES[0].0, MACHINES[1].0);
    assert_eq!(ups.iter().filter(|u| *u == m1).count(), 2, "{ups:?}");
    assert_eq!(ups.iter().filter(|u| *u == m2).count(), 2, "{ups:?}");
    assert!(
        !ups.iter().any(|u| u == MACHINES[2].0 || u == MACHINES[3].0),
        "machines 3 and 4 never updated: {ups:?}"
    );
    assert_eq!(stub.digests(), vec![digest('a'); 4]);
}

/// `shipdeck rollback` after a finished promotion: Fly keeps no rollback,
/// so the previous stable digest (b, before c) is deployed again, every machine back at
/// once a batch at a time (no canary, no hold), under leases released at
/// the end; the machines no longer carry the way back.
#[test]
fn a_rollback_after_a_promotion_updates_every_machine_back_with_no_canary() {
    let Some(stub) = Stub::start() else {
        return;
    };
    stub.seed();
    let home = Home::new(&stub, "", "max_unavailable = 2\n");
    // b, then c, each promoted from dev and marked stable in prod.
    let (code, _, text) = home.promote();
    assert_eq!(code, 0, "{text}");
    released(&stub);
    stub.post(
        "/_stub/apps",
        &json!({"app": "edge-dev", "machines": [
            {"id": "5e5e5e5e5e5e01", "region": "fra", "image": format!("{REPO}@{}", digest('c')),
             "checks": {"health": "passing"}}]}),
    );
    let (code, _, text) = home.promote();
    assert_eq!(code, 0, "{text}");
    released(&stub);
    assert_eq!(stub.digests(), vec![digest('c'); 4]);
    let _ = stub.call("DELETE", "/_stub/log", &Value::Null);
    let out = assert_cmd::Command::from_std(home.cmd())
        .args([
            "rollback", "edge", "--env", "prod", "--yes", "--wait", "--json",
        ])
        .timeout(Duration::from_mins(3))
        .output()
        .unwrap();
    let (code, report, text) = home.report(&out);
    assert_eq!(code, 0, "{text}");
    assert_eq!(report["outcome"], "succeeded", "{text}");
    released(&stub);
    let log = stub.log();
    let reqs = on_prod(&log);
    let ids: Vec<&str> = MACHINES.iter().map(|(id, _)| *id).collect();
    assert_eq!(updates(&log), ids, "{reqs:?}");
    // Two at a time: the second machine is updated before the first is
    // waited for (no canary).
    let second = reqs
        .iter()
        .enumerate()
        .filter(|(_, (m, _, w, _, _))| m == "POST" && w == "update")
        .nth(1)
        .unwrap()
        .0;
    assert!(
        !reqs[..second].iter().any(|(_, _, w, _, _)| w == "wait"),
        "{reqs:?}"
    );
    assert_eq!(stub.digests(), vec![digest('b'); 4]);
    let state = stub.state();
    for (id, _) in MACHINES {
        let meta = &find_machine(&state, id)["metadata"];
        assert!(meta.get("shipdeck_from").is_none(), "{id}: {meta}");
    }
}

/// With `pause_steps`, the run waits after its canary with a marker on the
/// canary machine; another process (the console elsewhere, `shipdeck
/// step`) sees the pause in its reading, the initiator's own continue is
/// refused (four eyes), and a second person's continue is acted on by the
/// process that holds the leases, which then updates the rest.
#[test]
fn a_pause_is_continued_from_another_process_by_a_second_person() {
    let Some(stub) = Stub::start() else {
        return;
    };
    stub.seed();
    let home = Home::new(&stub, "pause_steps = true\nstep_approvals = 1\n", "");
    let mut promote = home.cmd();
    promote
        .args([
            "promote", "edge", "--to", "prod", "--yes", "--wait", "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let watching = promote.spawn().unwrap();
    let paused = || {
        let s = stub.state();
        MACHINES.iter().any(|(id, _)| {
            find_machine(&s, id)["metadata"]
                .get("shipdeck_pause")
                .is_some()
        })
    };
    let mut waited = 0;
    while !paused() {
        waited += 1;
        assert!(waited < 240, "the run never paused after its canary");
        std::thread::sleep(Duration::from_millis(250));
    }
    // Only the canary is on the new digest while it waits.
    let on_new = stub.digests().iter().filter(|d| **d == digest('b')).count();
    assert_eq!(on_new, 1, "{:?}", stub.digests());

    let step = |who: &str| {
        let out = assert_cmd::Command::from_std(home.cmd())
            .env("SHIPDECK_OPERATOR", who)
            .args(["step", "continue", "edge", "--env", "prod", "--yes"])
            .timeout(Duration::from_mins(1))
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (code, said) = step("alice");
    assert_ne!(code, 0, "{said}");
    assert!(said.contains("four eyes"), "{said}");
    assert!(paused(), "a refused decision changed nothing");

    let (code, said) = step("bob");
    assert_eq!(code, 0, "{said}");
    let out = watching.wait_with_output().unwrap();
    let (code, report, text) = home.report(&out);
    assert_eq!(code, 0, "{text}");
    assert_eq!(report["outcome"], "succeeded", "{text}");
    released(&stub);
    assert_eq!(stub.digests(), vec![digest('b'); 4]);
    assert!(!paused(), "the pause's marker is removed");
}

/// prod allows only `fra`, and two of its machines run in `ams`: the gate
/// refuses the promotion naming them, before any lease is taken.
#[test]
fn a_machine_outside_allowed_regions_is_refused_at_the_gate_naming_its_region() {
    let Some(stub) = Stub::start() else {
        return;
    };
    stub.seed();
    let home = Home::new(&stub, "", "");
    let config = std::fs::read_to_string(&home.config).unwrap();
    let checks = r#"checks = ["rollout_completed", "not_in_flight", "pinned", "fresh"]"#;
    assert!(config.contains(checks));
    std::fs::write(
        &home.config,
        config.replace(
            checks,
            r#"checks = ["rollout_completed", "not_in_flight", "pinned", "fresh", "allowed_regions"]
allowed_regions = ["fra"]"#,
        ),
    )
    .unwrap();
    let (code, report, text) = home.promote();
    assert_ne!(code, 0, "{text}");
    let said = report.to_string();
    assert!(said.contains("allowed_regions"), "{text}");
    for (id, region) in MACHINES.iter().filter(|(_, r)| *r == "ams") {
        assert!(said.contains(id) && said.contains(region), "{id}: {text}");
    }
    let log = stub.log();
    assert!(
        !log.iter().any(|r| r["method"] != "GET"),
        "nothing but readings: {log:?}"
    );
    assert_eq!(stub.digests(), vec![digest('a'); 4]);
}
