//! Game-day scenarios end to end: through the console's own code on a paused
//! clock, and through the real binary (`promote --demo --scenario … --wait`)
//! on the shared demo world; fleet files with bad fault entries; the demo
//! world shared by processes, reset, and replaced when corrupt.

use assert_cmd::Command;
use serde_json::Value;
use shipdeck::app::Flow;
use shipdeck::gate::Verdict;
use shipdeck::ledger::RecordKind;
use shipdeck::platforms::sim::FleetFile;
use shipdeck::release::{OpKind, Outcome, Step};
use shipdeck::ui::{Theme, Tone};

use crate::support::console::{Harness, monday};

// ---------------------------------------------------------------- console

/// Promotes api to prod in the console of a demo world running `scenario`;
/// the watch view once it is over, and the reasons of the abort record.
async fn rehearse_in_console(scenario: &str) -> (Harness, String, Vec<String>) {
    let fleet = FleetFile::demo_scenario(scenario).unwrap();
    let cfg = shipdeck::config::demo().unwrap();
    let mut h = Harness::with_fleet(cfg, &fleet, "alice", monday()).await;
    let before = h.digest("api", "prod");
    h.open_prod_wizard("api").await;
    h.approve_and_confirm_prod().await;
    let v = h.watch_until_over(300).await;
    assert_eq!(v.watch.kind, OpKind::Rollback, "{v:#?}");
    assert!(v.watch.automatic);
    assert_eq!(v.watch.outcome, Some(Step::Succeeded));
    assert_eq!(
        h.digest("api", "prod"),
        before,
        "api runs what it ran before"
    );
    let reasons = h
        .records()
        .into_iter()
        .find(|r| r.kind == RecordKind::Aborted)
        .expect("an abort record")
        .draft
        .reasons;
    (h, before, reasons)
}

#[tokio::test]
async fn bad_release_in_the_console_aborts_on_the_error_rule_and_rolls_back() {
    let (h, _, reasons) = rehearse_in_console("bad-release").await;
    let why = reasons.join("; ");
    assert!(
        why.contains("rule \"error rate above 5 %\"") && why.contains("35"),
        "{why}"
    );
    let screen = h.screen(120, 40);
    assert!(screen.contains("error rate above 5 %"), "{screen}");
    // The headline is the engine's one outcome, with the rule that aborted:
    // never a green SUCCEEDED for the rollback that followed.
    match &h.app.flow {
        Some(Flow::Watch(v)) => assert_eq!(v.outcome, Some(Outcome::RolledBack)),
        other => panic!("{other:?}"),
    }
    let headline = "ROLLED BACK (aborted: rule \"error rate above 5 %\": 5xx % above 5";
    for (w, ht) in [(120, 40), (80, 24)] {
        let screen = h.screen(w, ht);
        assert!(!screen.contains("SUCCEEDED"), "{screen}");
        // Wrapped, never cut: the whole reason is in the box, on the rows
        // from the headline's, between its left edge and the box's border.
        let rows: Vec<Vec<char>> = screen.lines().map(|l| l.chars().collect()).collect();
        let (top, left) = rows
            .iter()
            .enumerate()
            .find_map(|(y, r)| {
                let text: String = r.iter().collect();
                text.find("ROLLED BACK")
                    .map(|i| (y, text[..i].chars().count()))
            })
            .expect("the headline on screen");
        let boxed: String = rows[top..top + 3]
            .iter()
            .map(|r| {
                r[left..]
                    .iter()
                    .take_while(|c| **c != '│')
                    .collect::<String>()
                    .trim()
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            boxed.contains(&format!("{headline} for 1 point(s) of 1 min: 35)")),
            "{w}x{ht}: {boxed}\n{screen}"
        );
        insta::assert_snapshot!(format!("bad_release_rolled_back_{w}x{ht}"), screen);
        // Colour-critical: the headline is the bad tone, not the good one.
        let theme = Theme::new(shipdeck::config::Theme::Dark, false);
        let term = crate::support::screen::draw(&h.app, w, ht, &theme);
        let buf = term.backend().buffer();
        let (x, y) = (0..ht)
            .find_map(|y| {
                let row: String = (0..w).map(|x| buf[(x, y)].symbol()).collect();
                row.find("ROLLED BACK")
                    .map(|i| (u16::try_from(row[..i].chars().count()).unwrap(), y))
            })
            .expect("the headline on screen");
        let cell = &buf[(x, y)];
        assert_eq!(Some(cell.fg), theme.tone(Tone::Bad).fg, "{w}x{ht}");
        assert_ne!(Some(cell.fg), theme.tone(Tone::Good).fg, "{w}x{ht}");
    }
}

#[tokio::test]
async fn slow_release_in_the_console_aborts_when_p95_crosses_the_slo() {
    let (_, _, reasons) = rehearse_in_console("slow-release").await;
    let why = reasons.join("; ");
    assert!(why.contains("rule \"p95 above the 400 ms SLO\""), "{why}");
}

#[tokio::test]
async fn flaky_health_in_the_console_aborts_on_failing_health() {
    let (_, _, reasons) = rehearse_in_console("flaky-health").await;
    let why = reasons.join("; ");
    assert!(why.contains("health failing"), "{why}");
}

#[tokio::test]
async fn region_outage_in_the_console_shows_prod_unknown_and_the_gate_says_no() {
    let fleet = FleetFile::demo_scenario("region-outage").unwrap();
    let cfg = shipdeck::config::demo().unwrap();
    let mut h = Harness::with_fleet(cfg, &fleet, "alice", monday()).await;
    h.tick(3).await;
    let prod = h.cfg.env_index("prod").unwrap();
    assert!(
        !matches!(
            h.app.envs[prod].freshness,
            shipdeck::model::Freshness::Ready { .. }
        ),
        "prod must not read as fresh: {:?}",
        h.app.envs[prod].freshness
    );
    let screen = h.screen(120, 40);
    assert!(screen.contains("connection refused"), "{screen}");
    h.open_prod_wizard("api").await;
    assert!(!h.gate_go());
    assert_eq!(h.check("fresh").verdict, Verdict::Fail);
    assert!(matches!(h.app.flow, Some(Flow::Wizard(_))));
}

// ---------------------------------------------------------------- CLI

/// A data dir of its own: its demo world and demo ledger.
struct Demo {
    dir: tempfile::TempDir,
}

impl Demo {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self, operator: &str) -> Command {
        let mut cmd = Command::cargo_bin("shipdeck").unwrap();
        cmd.env_remove("SHIPDECK_CONFIG")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("SHIPDECK_OPERATOR", operator)
            .env("SHIPDECK_LOG_FILE", self.dir.path().join("shipdeck.log"))
            .timeout(std::time::Duration::from_mins(4));
        cmd
    }

    fn world(&self) -> std::path::PathBuf {
        self.dir.path().join("data/shipdeck/demo-world.json")
    }

    /// `promote … --json` with `extra` flags: exit code and report.
    fn promote(&self, service: &str, to: &str, extra: &[&str]) -> (i32, Value) {
        let mut args = vec!["promote", "--demo", service, "--to", to, "--yes", "--json"];
        if to == "prod" {
            args.extend(["--change", "CHG-1234", "--tick", "1", "--tick", "2"]);
        } else {
            args.extend(["--tick", "1"]);
        }
        args.extend(extra);
        let out = self.cmd("alice").args(&args).output().unwrap();
        let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap(), report)
    }

    /// Promotes with the approvals the gate asks for, then waits for the outcome.
    fn promote_approved(&self, service: &str, to: &str, extra: &[&str]) -> (i32, Value) {
        let (code, first) = self.promote(service, to, extra);
        assert_eq!(code, 1, "waits for approvals: {first}");
        assert_eq!(first["outcome"], "no_go", "{first}");
        let id = first["promotion"].as_str().unwrap().to_string();
        let approvers: &[&str] = if to == "prod" {
            &["bob", "carol"]
        } else {
            &["bob"]
        };
        for who in approvers {
            self.cmd(who)
                .args(["approve", "--demo", "--yes", &id])
                .assert()
                .success();
        }
        let mut wait = extra.to_vec();
        wait.push("--wait");
        self.promote(service, to, &wait)
    }

    fn audit_verifies(&self) {
        self.cmd("alice")
            .args(["audit", "--demo", "verify"])
            .assert()
            .success();
    }

    fn status_json(&self) -> Value {
        let out = self
            .cmd("alice")
            .args(["status", "--demo", "--json"])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn digest_of(status: &Value, env: &str, service: &str) -> String {
    status["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == service)
        .and_then(|s| {
            s["cells"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["env"] == env)
        })
        .map(|c| c["digest"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

/// A scenario through `promote --demo --scenario … --wait`: rolled back, exit 1.
fn rehearse_with_cli(scenario: &str) -> String {
    let demo = Demo::new();
    let (code, report) = demo.promote_approved("api", "prod", &["--scenario", scenario]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["outcome"], "rolled_back", "{report}");
    // Why in short, as the last line says it: what aborted the deploy.
    let cause = report["cause"].as_str().unwrap_or_default();
    assert!(cause.starts_with("aborted: "), "{report}");
    demo.audit_verifies();
    report["reason"].as_str().unwrap().to_string() + "\n" + cause
}

#[test]
fn bad_release_through_the_cli_rolls_back_naming_the_rule_and_numbers() {
    let why = rehearse_with_cli("bad-release");
    assert!(
        why.contains("rule \"error rate above 5 %\"") && why.contains(": 35"),
        "{why}"
    );
    let cause = why.lines().last().unwrap();
    assert_eq!(
        cause,
        "aborted: rule \"error rate above 5 %\": 5xx % above 5 for 1 point(s) of 1 min: 35"
    );
}

#[test]
fn slow_release_through_the_cli_rolls_back_on_p95() {
    let why = rehearse_with_cli("slow-release");
    assert!(why.contains("rule \"p95 above the 400 ms SLO\""), "{why}");
}

#[test]
fn flaky_health_through_the_cli_rolls_back_on_health() {
    let why = rehearse_with_cli("flaky-health");
    assert!(why.contains("health failing"), "{why}");
}

#[test]
fn region_outage_through_the_cli_refuses_prod_and_status_is_not_green() {
    let demo = Demo::new();
    let out = demo
        .cmd("alice")
        .args([
            "promote",
            "--demo",
            "--scenario",
            "region-outage",
            "api",
            "--to",
            "prod",
            "--yes",
            "--change",
            "CHG-1234",
            "--tick",
            "1",
            "--tick",
            "2",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("reading \"prod\" failed") && err.contains("connection refused"),
        "{err}"
    );
    let kinds: Vec<String> =
        std::fs::read_to_string(demo.dir.path().join("data/shipdeck/demo-ledger.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["record"]["kind"].to_string())
            .collect();
    assert!(
        !kinds.iter().any(|k| k.contains("deploy_issued")),
        "{kinds:?}"
    );
    // The same world, read by another process: prod stays unknown, never green.
    let out = demo
        .cmd("alice")
        .args(["status", "--demo", "--json"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["degraded"], true, "{status}");
}

// ------------------------------------------------------- fleet-file faults

/// A config over `fleet` (the release-test fleet plus `extra`) in a temp dir.
fn config_with_faults(extra: &str) -> (tempfile::TempDir, std::path::PathBuf, usize) {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string("tests/configs/good/release-fleet.toml").unwrap();
    let line = base.lines().count() + 2;
    std::fs::write(
        dir.path().join("bad-fleet.toml"),
        format!("{base}\n{extra}"),
    )
    .unwrap();
    let cfg = std::fs::read_to_string("tests/configs/good/release.toml")
        .unwrap()
        .replace("release-fleet.toml", "bad-fleet.toml");
    let path = dir.path().join("shipdeck.toml");
    std::fs::write(&path, cfg).unwrap();
    (dir, path, line)
}

#[rstest::rstest]
#[case::unknown_effect(
    "[[fault]]\nenv = \"prod\"\nservice = \"api-prod\"\neffect = \"explode\"\n",
    "unknown variant `explode`"
)]
#[case::negative_delay(
    "[[fault]]\nenv = \"prod\"\nservice = \"api-prod\"\ntrigger = \"deploy\"\nafter = \"-5s\"\neffect = \"rollout_fails\"\n",
    "must not be negative"
)]
#[case::no_such_service(
    "[[fault]]\nenv = \"prod\"\nservice = \"ghost-prod\"\neffect = \"health_down\"\n",
    "service \"ghost-prod\" does not exist"
)]
fn a_bad_fault_entry_exits_2_naming_file_and_line(#[case] entry: &str, #[case] says: &str) {
    let (dir, cfg, line) = config_with_faults(entry);
    let out = Command::cargo_bin("shipdeck")
        .unwrap()
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("SHIPDECK_LOG_FILE", dir.path().join("log"))
        .env("NO_COLOR", "1")
        .args(["--config", cfg.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(says), "{err}");
    // The entry starts on `line`; a field's error may point a few lines in.
    let at: Vec<String> = (line..line + 6)
        .map(|l| format!("bad-fleet.toml:{l}"))
        .collect();
    assert!(
        at.iter().any(|a| err.contains(a.as_str())),
        "{err} (entry at line {line})"
    );
}

// ------------------------------------------------------------- demo world

#[test]
fn promote_then_rollback_in_two_processes_share_one_world() {
    let demo = Demo::new();
    let initial = digest_of(&demo.status_json(), "staging", "checkout");
    let dev = digest_of(&demo.status_json(), "dev", "checkout");
    assert_ne!(initial, dev);
    let (code, report) = demo.promote_approved("checkout", "staging", &[]);
    assert_eq!(code, 0, "{report}");
    // Another process reads the world the promotion left.
    assert_eq!(digest_of(&demo.status_json(), "staging", "checkout"), dev);
    let out = demo
        .cmd("alice")
        .args([
            "rollback", "--demo", "checkout", "--env", "staging", "--yes", "--wait", "--json",
        ])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["outcome"], "succeeded", "{report}");
    assert_eq!(
        digest_of(&demo.status_json(), "staging", "checkout"),
        initial
    );
    demo.audit_verifies();
}

/// The demo's storefront runs on the proxy platform, simulated: promoted
/// into staging it is cut over (each runbook step a record, green switched
/// to only after it answered) and rolled back by one switch to blue, by
/// separate processes on the one world.
#[test]
fn the_demos_blue_green_storefront_is_cut_over_and_switched_back_with_its_steps_recorded() {
    let demo = Demo::new();
    let dev = digest_of(&demo.status_json(), "dev", "storefront");
    let before = digest_of(&demo.status_json(), "staging", "storefront");
    assert_ne!(dev, before);
    // The proxy's cutover runs in the promoting process: --wait from the start.
    let (code, first) = demo.promote("storefront", "staging", &["--wait"]);
    assert_eq!(
        (code, &first["outcome"]),
        (1, &Value::from("no_go")),
        "{first}"
    );
    let id = first["promotion"].as_str().unwrap();
    demo.cmd("bob")
        .args(["approve", "--demo", "--yes", id])
        .assert()
        .success();
    let (code, report) = demo.promote("storefront", "staging", &["--wait"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["outcome"], "succeeded", "{report}");
    assert_eq!(report["to_revision"], "storefront@green", "{report}");
    assert_eq!(digest_of(&demo.status_json(), "staging", "storefront"), dev);
    let out = demo
        .cmd("alice")
        .args([
            "rollback",
            "--demo",
            "storefront",
            "--env",
            "staging",
            "--yes",
            "--wait",
            "--json",
        ])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["outcome"], "succeeded", "{report}");
    assert_eq!(
        digest_of(&demo.status_json(), "staging", "storefront"),
        before
    );
    let ledger =
        std::fs::read_to_string(demo.dir.path().join("data/shipdeck/demo-ledger.jsonl")).unwrap();
    let records: Vec<Value> = ledger
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["record"].clone())
        .filter(|r| r["service"] == "storefront" && r["env"] == "staging")
        .collect();
    let said = |r: &Value| {
        let kind = r["kind"].as_str().unwrap().to_string();
        match r["reasons"][0].as_str() {
            Some(why) if kind == "step" => format!("step: {why}"),
            _ => kind,
        }
    };
    let short = |d: &str| d.trim_start_matches("sha256:")[..12].to_string();
    let (dev, before) = (short(&dev), short(&before));
    assert_eq!(
        records.iter().map(said).collect::<Vec<_>>(),
        [
            "promotion_started".to_string(),
            "approval".into(),
            "gate_evaluated".into(),
            "deploy_issued".into(),
            format!("step: deploying green with {dev}"),
            format!("step: verifying that green serves {dev}"),
            "step: probing green until it answers 200 for 10s".into(),
            "step: checking that blue is still live".into(),
            "step: switching haproxy from blue to green".into(),
            "step: confirming that requests reach green".into(),
            "step: switched to green in 0 ms; blue kept warm for 20s, watched".into(),
            "step: green live; blue was kept warm for 20s and stays as it is".into(),
            "deploy_succeeded".into(),
            "revision_marked_stable".into(),
            "rollback_issued".into(),
            "step: switched haproxy from green to blue in 0 ms".into(),
            "step: switched back: blue serves again".into(),
            "rollback_succeeded".into(),
            "revision_marked_stable".into(),
        ],
        "{ledger}"
    );
    let deploy = records
        .iter()
        .find(|r| r["kind"] == "deploy_succeeded")
        .unwrap();
    assert_eq!(deploy["from_revision"], "storefront@blue");
    assert_eq!(deploy["to_revision"], "storefront@green");
    let back = records
        .iter()
        .find(|r| r["kind"] == "rollback_succeeded")
        .unwrap();
    assert_eq!(back["to_revision"], "storefront@blue");
    assert!(
        back["to_digest"].as_str().unwrap().contains(&before),
        "{back}"
    );
    demo.audit_verifies();
}

#[test]
fn demo_reset_restores_the_initial_digests_and_says_so() {
    let demo = Demo::new();
    let initial = demo.status_json();
    let (code, report) = demo.promote_approved("checkout", "staging", &[]);
    assert_eq!(code, 0, "{report}");
    assert_ne!(
        digest_of(&demo.status_json(), "staging", "checkout"),
        digest_of(&initial, "staging", "checkout")
    );
    let out = demo
        .cmd("alice")
        .args(["demo", "--reset"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("reset to its initial state"), "{said}");
    assert_eq!(
        digest_of(&demo.status_json(), "staging", "checkout"),
        digest_of(&initial, "staging", "checkout")
    );
    demo.audit_verifies();
}

#[test]
fn a_corrupt_world_file_is_reported_and_replaced_by_the_initial_world() {
    let demo = Demo::new();
    let initial = demo.status_json();
    std::fs::write(demo.world(), b"{\"kind\": \"shipdeck demo world\", \"sch").unwrap();
    let out = demo
        .cmd("alice")
        .args(["status", "--demo", "--json"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("could not be used") && err.contains("replaced by the initial world"),
        "{err}"
    );
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        digest_of(&status, "prod", "api"),
        digest_of(&initial, "prod", "api")
    );
    // …and the replacement is a good world file again.
    let again = demo
        .cmd("alice")
        .args(["status", "--demo", "--json"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&again.stderr).contains("could not be used"));
}

/// `lambda-errors` through the CLI: alice promotes thumbnailer into prod and
/// watches; step 1 (25 %) is clean and waits for a person; bob continues it
/// from another process; at step 2 the new version's errors rise, the watch
/// aborts on the Lambda rule and the alias goes back, weights cleared.
#[test]
fn lambda_errors_through_the_cli_abort_at_the_second_step_and_roll_the_alias_back() {
    let demo = Demo::new();
    // Lambda's shift runs in the promoting process: --wait even to ask.
    let scenario = ["--scenario", "lambda-errors", "--wait"];
    let (code, first) = demo.promote("thumbnailer", "prod", &scenario);
    assert_eq!(
        (code, &first["outcome"]),
        (1, &Value::from("no_go")),
        "{first}"
    );
    let id = first["promotion"].as_str().unwrap().to_string();
    for who in ["bob", "carol"] {
        demo.cmd(who)
            .args(["approve", "--demo", "--yes", &id])
            .assert()
            .success();
    }
    let watching = std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .env_remove("SHIPDECK_CONFIG")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env("XDG_DATA_HOME", demo.dir.path().join("data"))
        .env("XDG_STATE_HOME", demo.dir.path().join("state"))
        .env("XDG_CONFIG_HOME", demo.dir.path().join("config"))
        .env("SHIPDECK_OPERATOR", "alice")
        .env("SHIPDECK_LOG_FILE", demo.dir.path().join("watch.log"))
        .args([
            "promote",
            "--demo",
            "--scenario",
            "lambda-errors",
            "thumbnailer",
            "--to",
            "prod",
            "--yes",
            "--json",
            "--change",
            "CHG-1234",
            "--tick",
            "1",
            "--tick",
            "2",
            "--wait",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // bob continues step 1 once it waits (a continue before is refused).
    let mut continued = None;
    for _ in 0..120 {
        let out = demo
            .cmd("bob")
            .args(["step", "continue", "--demo", "thumbnailer", "--env", "prod"])
            .args(["--yes", "--cut-hold", "--reason", "step 1 clean"])
            .output()
            .unwrap();
        if out.status.success() {
            continued = Some(String::from_utf8_lossy(&out.stdout).to_string());
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    let continued = continued.expect("step 1 never waited for a decision");
    assert!(continued.contains("step 2 of 4"), "{continued}");
    let out = watching.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert_eq!(report["outcome"], "rolled_back", "{report}");
    let cause = report["cause"].as_str().unwrap_or_default();
    assert!(
        cause.starts_with("aborted: rule \"Lambda errors above 2 %\": errors % above 2"),
        "{report}"
    );
    // The alias is back on the version it served, weights cleared.
    let status = demo.status_json();
    let cell = status["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "thumbnailer")
        .and_then(|s| {
            s["cells"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["env"] == "prod")
        })
        .cloned()
        .unwrap();
    assert_eq!(cell["revision"], "thumbnailer-prod:2", "{cell}");
    demo.audit_verifies();
}

/// `fly-canary-critical` through the CLI: alice promotes edge (on Fly) into
/// prod and watches; the canary machine starts but its check "health" goes
/// critical, the run fails naming it, the watch aborts and deploys the
/// digest prod ran before back onto the canary: all four machines run it
/// again.
#[test]
fn fly_canary_critical_through_the_cli_rolls_back_naming_the_check() {
    let demo = Demo::new();
    let before = digest_of(&demo.status_json(), "prod", "edge");
    assert!(!before.is_empty());
    // Fly's runs go on in the promoting process: --wait even to ask.
    let scenario = ["--scenario", "fly-canary-critical", "--wait"];
    let (code, first) = demo.promote("edge", "prod", &scenario);
    assert_eq!(
        (code, &first["outcome"]),
        (1, &Value::from("no_go")),
        "{first}"
    );
    let id = first["promotion"].as_str().unwrap().to_string();
    for who in ["bob", "carol"] {
        demo.cmd(who)
            .args(["approve", "--demo", "--yes", &id])
            .assert()
            .success();
    }
    let (code, report) = demo.promote("edge", "prod", &scenario);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["outcome"], "rolled_back", "{report}");
    let cause = report["cause"].as_str().unwrap_or_default();
    assert!(cause.starts_with("aborted: "), "{report}");
    let why = format!("{}\n{cause}", report["reason"].as_str().unwrap_or_default());
    assert!(why.contains("\"health\""), "the check is named: {report}");
    // Every machine runs the digest it ran before.
    let status = demo.status_json();
    assert_eq!(digest_of(&status, "prod", "edge"), before, "{status}");
    let cell = status["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "edge")
        .and_then(|s| {
            s["cells"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["env"] == "prod")
        })
        .cloned()
        .unwrap();
    // Each machine's detail line names the old digest.
    let short = before.trim_start_matches("sha256:");
    let short = &short[..12.min(short.len())];
    let machines: Vec<String> = cell["detail"]["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["label"] == "machine")
        .map(|l| l["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(machines.len(), 4, "{cell}");
    assert!(machines.iter().all(|m| m.contains(short)), "{cell}");
    demo.audit_verifies();
}
