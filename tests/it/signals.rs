//! Prometheus and Alertmanager as signal sources, against the real servers
//! (Debian's `prometheus` and `prometheus-alertmanager`, which `scripts/test`
//! installs), each test with its own on free ports and a small exporter whose
//! values it sets; the platform is the simulator.
//!
//! Three stages: dev reads no signals; staging reads a PromQL 5xx ratio (an
//! abort rule watches it) and the `ApiFailing` alert; prod's gate looks at
//! staging.

pub(crate) mod servers;

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use servers::{Alertmanager, Exporter, Prometheus, RATIO, instant, skip_without, wait_for};

use crate::support::{console::Harness, screen};

/// What staging reads besides the simulator.
struct Staging<'a> {
    prometheus: &'a str,
    alertmanager: Option<&'a str>,
    promql: &'a str,
    /// The rollout's timeout: how long a blind watch waits before it says unknown.
    timeout: &'a str,
}

impl<'a> Staging<'a> {
    fn new(prometheus: &'a str) -> Self {
        Self {
            prometheus,
            alertmanager: None,
            promql: RATIO,
            timeout: "2m",
        }
    }
}

fn fleet() -> String {
    format!(
        "{}/tests/configs/good/release-fleet.toml",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn config_text(s: &Staging<'_>) -> String {
    let am = s.alertmanager.map_or(String::new(), |u| {
        format!(
            "[environment.alertmanager]\nurl = \"{u}\"\n\n\
             [[environment.service.alert]]\nsource = \"alertmanager\"\nname = \"ApiFailing\"\nlabels = {{ service = \"api\", severity = \"page\" }}\n"
        )
    });
    format!(
        r#"provider = "simulated"
refresh_interval = "1s"
allow_operator_override = true

[simulator]
fleet = "{fleet}"
seed = 5

[[environment]]
name = "dev"
region = "us-east-1"
cluster = "dev"

[[environment.service]]
name = "api"
ecs_service = "api-dev"
container = "api"
health = {{ url = "https://api.dev.example.com/healthz", stability_window = "5s" }}

[[environment]]
name = "staging"
region = "us-east-1"
cluster = "staging"

[environment.prometheus]
url = "{prometheus}"

[environment.rollout]
stability_window = "1s"
timeout = "{timeout}"

[[environment.rollout.rule]]
name = "5xx ratio"
metric = "5xx %"
above = 5
for = "1m"

[[environment.service]]
name = "api"
ecs_service = "api-staging"
container = "api"
health = {{ url = "https://api.staging.example.com/healthz", stability_window = "5s" }}

[[environment.service.metric]]
label = "5xx %"
promql = '{promql}'

[[environment.service.alert]]
source = "prometheus"
name = "ApiFailing"
labels = {{ service = "api" }}

{am}
[[environment]]
name = "prod"
region = "us-east-1"
cluster = "prod"

[[environment.service]]
name = "api"
ecs_service = "api-prod"
container = "api"
health = {{ url = "https://api.example.com/healthz", stability_window = "5s" }}
"#,
        fleet = fleet(),
        prometheus = s.prometheus,
        timeout = s.timeout,
        promql = s.promql,
    )
}

/// A temporary home for one test: its configuration, data and state.
struct Home {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Home {
    fn new(staging: &Staging<'_>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("shipdeck.toml");
        std::fs::write(&config, config_text(staging)).unwrap();
        Self { dir, config }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("shipdeck").unwrap();
        cmd.env_remove("SHIPDECK_CONFIG")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .env("XDG_DATA_HOME", self.path().join("data"))
            .env("XDG_STATE_HOME", self.path().join("state"))
            .env("SHIPDECK_OPERATOR", "alice")
            .env("SHIPDECK_LOG_FILE", self.path().join("shipdeck.log"))
            .arg("--config")
            .arg(&self.config)
            .timeout(Duration::from_mins(3));
        cmd
    }

    /// Runs shipdeck: exit code, stdout, stderr.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd().args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }

    fn json(&self, args: &[&str]) -> (i32, Value) {
        let (code, out, err) = self.run(args);
        let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
        (code, v)
    }
}

/// Staging's cell of the `status --json` report.
fn staging_cell(report: &Value) -> Value {
    report["services"][0]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["env"] == "staging")
        .unwrap()
        .clone()
}

/// The gate's check of the source's alarms, in a `promote --json` report.
fn alarms_check(report: &Value) -> Value {
    report["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks: {report}"))
        .iter()
        .find(|c| c["name"].as_str().is_some_and(|n| n.starts_with("alarms")))
        .unwrap_or_else(|| panic!("no alarms check: {report}"))
        .clone()
}

#[test]
fn a_promql_ratio_drives_an_abort_rule_that_rolls_back_a_simulated_deploy() {
    if skip_without(&["prometheus"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exporter = Exporter::start();
    // Half of the answers are 5xx: 50 %, against a rule's limit of 5 %.
    exporter.set_requests(100, 100);
    let prom = Prometheus::start(dir.path(), &exporter, None);
    let ratio = wait_for("the 5xx ratio in Prometheus", servers::FIRST_ANSWER, || {
        instant(prom.port, RATIO).filter(|r| *r > 5.0)
    });
    assert!(ratio <= 100.0, "{ratio}");
    let home = Home::new(&Staging::new(&prom.url()));
    let (code, report) = home.json(&[
        "promote", "api", "--to", "staging", "--yes", "--wait", "--json",
    ]);
    assert_eq!(report["outcome"], "rolled_back", "{report}\n{}", prom.log());
    assert_ne!(code, 0);
    let reason = report["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("rule \"5xx ratio\"")
            && reason.contains("5xx %")
            && reason.contains("above 5"),
        "{reason}"
    );
}

#[test]
fn a_firing_alert_is_alarm_on_the_board_in_status_and_at_the_gate() {
    if skip_without(&["prometheus", "prometheus-alertmanager"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exporter = Exporter::start();
    exporter.set_failing(true);
    let am = Alertmanager::start(dir.path());
    let prom = Prometheus::start(dir.path(), &exporter, Some(&am));
    prom.wait_alert("firing");
    am.wait_alert();
    let (prom_url, am_url) = (prom.url(), am.url());
    let mut staging = Staging::new(&prom_url);
    staging.alertmanager = Some(&am_url);
    let home = Home::new(&staging);

    // status: both alerts in ALARM, by name; degraded, exit 1.
    let (code, report) = home.json(&["status", "--json"]);
    let cell = staging_cell(&report);
    assert_eq!(cell["alarms"]["state"], "alarm", "{cell}");
    assert_eq!(cell["alarms"]["count"], 2, "{cell}");
    let firing: Vec<&str> = cell["alarms_firing"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        firing,
        [
            "ApiFailing{service=\"api\"}",
            "ApiFailing{service=\"api\",severity=\"page\"}"
        ],
        "{cell}"
    );
    assert_eq!(
        (code, &report["verdict"]),
        (1, &Value::from("degraded")),
        "{report}"
    );
    let (code, table, _) = home.run(&["status"]);
    assert_eq!(code, 1, "{table}");
    assert!(table.contains("✗ 2 ALARM"), "{table}");

    // The gate into prod: staging's alarms fail it.
    let (code, report) = home.json(&["promote", "api", "--to", "prod", "--yes", "--json"]);
    assert_eq!(
        (code, &report["outcome"]),
        (1, &Value::from("no_go")),
        "{report}"
    );
    let check = alarms_check(&report);
    assert_eq!(check["verdict"], "fail", "{check}");
    let why = check["reason"].as_str().unwrap();
    assert!(
        why.contains("in ALARM: ApiFailing{service=\"api\"}"),
        "{why}"
    );

    // The board: staging's cell says ALARM with a symbol and the count.
    let cfg = shipdeck::config::load(&home.config, shipdeck::config::ConfigOrigin::Flag).unwrap();
    let fleet_file = shipdeck::platforms::sim::FleetFile::load(Path::new(&fleet())).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let h = rt.block_on(Harness::with_fleet(
        cfg,
        &fleet_file,
        "alice",
        crate::support::console::monday(),
    ));
    for (w, ht) in [(120, 40), (80, 24)] {
        let text = screen::text(&h.app, w, ht);
        // The cell's second line: alarms, then health.
        let lines: Vec<&str> = text.lines().collect();
        let row = lines.iter().position(|l| l.contains("▶api")).unwrap();
        assert!(lines[row + 1].contains("A✗2 H✓"), "{text}");
        insta::assert_snapshot!(format!("signals_firing_alert_board_{w}x{ht}"), text);
    }
}

#[test]
fn prometheus_stopped_is_unknown_everywhere() {
    if skip_without(&["prometheus"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exporter = Exporter::start();
    let mut prom = Prometheus::start(dir.path(), &exporter, None);
    prom.wait_alert("inactive");
    wait_for("the 5xx ratio in Prometheus", servers::FIRST_ANSWER, || {
        instant(prom.port, RATIO)
    });
    let url = prom.url();
    let mut staging = Staging::new(&url);
    staging.timeout = "10s";
    let home = Home::new(&staging);
    let (_, before) = home.json(&["status", "--json"]);
    assert_eq!(before["unknown"], false, "{before}");
    assert_eq!(staging_cell(&before)["alarms"]["state"], "ok", "{before}");

    prom.stop();
    let gone = format!("Prometheus at {}: cannot connect", prom.url());

    // status: unknown, naming Prometheus; never exit 0.
    let (code, report) = home.json(&["status", "--json"]);
    assert_eq!(
        (code, &report["verdict"]),
        (3, &Value::from("unknown")),
        "{report}"
    );
    let unknowns = report["unknowns"].to_string();
    assert!(unknowns.contains(&gone), "{unknowns}");
    assert_eq!(
        staging_cell(&report)["alarms"]["state"],
        "unreadable",
        "{report}"
    );
    let (code, table, _) = home.run(&["status"]);
    assert_eq!(code, 3, "{table}");
    assert!(table.contains("? unknown"), "{table}");

    // The gate into prod refuses: staging's alarms are not known.
    let (code, report) = home.json(&["promote", "api", "--to", "prod", "--yes", "--json"]);
    assert_eq!(
        (code, &report["outcome"]),
        (1, &Value::from("no_go")),
        "{report}"
    );
    let check = alarms_check(&report);
    assert_eq!(check["verdict"], "fail", "{check}");
    assert!(check["reason"].as_str().unwrap().contains(&gone), "{check}");

    // A deploy into staging cannot be verified: the watch never succeeds.
    let (code, report) = home.json(&[
        "promote", "api", "--to", "staging", "--yes", "--wait", "--json",
    ]);
    assert_eq!(report["outcome"], "unknown", "{report}");
    assert_ne!(code, 0);
    let reason = report["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("could not verify") && reason.contains(&gone),
        "{reason}"
    );
}

#[test]
fn a_query_that_does_not_parse_is_an_error_naming_the_configuration_line() {
    // At load: `config check` names the line, with nothing started.
    let mut staging = Staging::new("http://127.0.0.1:9");
    staging.promql = "sum(rate(http_requests_total[1m])";
    let home = Home::new(&staging);
    let text = std::fs::read_to_string(&home.config).unwrap();
    let line = 1 + text.lines().position(|l| l.starts_with("promql")).unwrap();
    let (code, _, err) = home.run(&["config", "check"]);
    assert_eq!(code, 2, "{err}");
    let at = format!("{}:{line}:", home.config.display());
    assert!(err.contains(&at), "{err}");
    assert!(
        err.contains("not a query Prometheus can parse: '(' is never closed (character 4)"),
        "{err}"
    );

    // At runtime: Prometheus refuses what the cheap check cannot see, and the
    // metric is unknown naming itself and its line.
    if skip_without(&["prometheus"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exporter = Exporter::start();
    let prom = Prometheus::start(dir.path(), &exporter, None);
    let url = prom.url();
    let mut staging = Staging::new(&url);
    staging.promql = "sum(rate(http_requests_total[1m])) /";
    let home = Home::new(&staging);
    let (code, _, err) = home.run(&["config", "check"]);
    assert_eq!(code, 0, "{err}");
    let cfg = shipdeck::config::load(&home.config, shipdeck::config::ConfigOrigin::Flag).unwrap();
    let text = std::fs::read_to_string(&home.config).unwrap();
    let line = 1 + text.lines().position(|l| l.starts_with("promql")).unwrap();
    let clock = shipdeck::clock::ManualClock::new(chrono::Utc::now());
    let fleet_file = shipdeck::platforms::sim::FleetFile::load(Path::new(&fleet())).unwrap();
    let sim = shipdeck::platforms::sim::SimFleet::new(&fleet_file, 5, std::sync::Arc::new(clock));
    let provider = shipdeck::provider::AnyProvider::Sim(sim);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let snap = rt
        .block_on(shipdeck::provider::read_with_timeout(
            &provider,
            cfg.env("staging").unwrap(),
            shipdeck::provider::ReadScope::CONSOLE,
        ))
        .unwrap();
    let series = snap.services[0]
        .metrics
        .iter()
        .find(|m| m.label == "5xx %")
        .unwrap();
    let why = series
        .error
        .as_deref()
        .unwrap_or_else(|| panic!("{series:?}"));
    assert!(
        why.contains(&format!(
            "Prometheus at {url}: refused the query (bad_data)"
        )),
        "{why}"
    );
    assert!(
        why.contains(&format!(
            "metric \"5xx %\", promql at {}:{line}:",
            home.config.display()
        )),
        "{why}"
    );
    assert!(series.points.is_empty());
}
