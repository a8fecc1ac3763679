//! The evidence pack (`shipdeck audit report`): a demo promotion of the
//! notifications canary into prod on the simulator, on a paused clock (two
//! approvals from other people, bob continuing the paused first step, the
//! error rate aborting the second), then the binary's report of it:
//! snapshotted, its cited hashes checked against the ledger, and an edit
//! to a cited record named by `audit verify`.

use std::sync::Arc;

use serde_json::Value;
use shipdeck::ledger::RecordKind;
use shipdeck::platforms::sim::FleetFile;
use shipdeck::release::exec::Executor;

use crate::support::console::{Harness, monday};

const FLEET: &str = include_str!("../../assets/demo-fleet.toml");
const CANARY: &str = "strategy = \"canary\"\npercent = 10\ninterval = \"1m\"\nbake = \"20s\"";
/// A long bake: the rule crosses during step 2, never after a success.
const LONG_BAKE: &str = "strategy = \"canary\"\npercent = 10\ninterval = \"1m\"\nbake = \"10m\"";
/// The new release answers 5xx once it has all the traffic.
const FAULT: &str = r#"
[[fault]]
name = "notifications' new release answers 5xx"
env = "prod"
service = "shop-notifications-prod"
trigger = "deploy"
after = "90s"
effect = "error_rate"
value = 35.0
"#;

fn fleet() -> FleetFile {
    assert!(FLEET.contains(CANARY));
    FleetFile::parse(
        &format!("{}\n{FAULT}", FLEET.replace(CANARY, LONG_BAKE)),
        "test-fleet.toml",
    )
    .unwrap()
}

fn notifications(h: &Harness) -> shipdeck::model::ServiceSnapshot {
    let prod = h.cfg.env_index("prod").unwrap();
    h.app.envs[prod]
        .snapshot
        .as_ref()
        .and_then(|s| s.service("notifications"))
        .cloned()
        .unwrap()
}

/// bob runs `shipdeck step continue --cut-hold` (in process, the CLI's own code).
async fn bob_continues(h: &Harness) {
    let prod = h.cfg.env_index("prod").unwrap();
    let locks = tempfile::tempdir().unwrap();
    let exec = Executor::new(
        h.provider.clone(),
        h.cfg.environments.clone(),
        h.ledger.clone(),
        shipdeck::lock::LockStore::Dir(locks.path().to_path_buf()),
        "bob".to_string(),
        Arc::new(h.clock.clone()),
    );
    let driver = shipdeck::cli::release::Driver::with(
        &h.cfg,
        h.provider.clone(),
        exec,
        Arc::new(h.clock.clone()),
        prod,
    )
    .unwrap();
    let args = shipdeck::cli::step::StepArgs {
        decision: shipdeck::cli::step::Choice::Continue,
        service: "notifications".into(),
        env: "prod".into(),
        reason: Some("canary looks clean | so far".into()),
        yes: true,
        cut_hold: true,
        json: true,
        demo: false,
    };
    let r = shipdeck::cli::step::decide(&driver, "bob", &args)
        .await
        .unwrap();
    assert_eq!(r.outcome, "applied", "{}", r.said);
}

/// The promotion: asked by alice, approved by bob and carol, continued by
/// bob at 10 %, aborted on the error rate at 100 %, rolled back.
async fn promotion() -> Harness {
    let mut cfg = shipdeck::config::demo().unwrap();
    let prod = cfg.env_index("prod").unwrap();
    cfg.environments[prod.index()].rollout.pause_steps = true;
    cfg.environments[prod.index()].rollout.step_approvals = 1;
    let mut h = Harness::with_fleet(cfg, &fleet(), "alice", monday()).await;
    h.open_prod_wizard("notifications").await;
    h.approve_and_confirm_prod().await;
    let mut paused = false;
    for _ in 0..60 {
        h.tick(1).await;
        if shipdeck::release::step::in_flight(&notifications(&h))
            .is_some_and(|s| s.step == 1 && s.pause.is_some())
        {
            paused = true;
            break;
        }
    }
    assert!(paused, "the canary never paused: {:#?}", h.app.flow);
    h.tick(3).await;
    bob_continues(&h).await;
    let v = h.watch_until_over(600).await;
    assert_eq!(
        v.outcome,
        Some(shipdeck::release::Outcome::RolledBack),
        "{:#?}",
        v.log
    );
    h
}

fn shipdeck(args: &[&str]) -> std::process::Output {
    let home = tempfile::tempdir().unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .env_remove("SHIPDECK_CONFIG")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_STATE_HOME", home.path().join("state"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("SHIPDECK_LOG_FILE", home.path().join("log"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The report with what changes run to run (times, hashes, ids, digests,
/// durations) replaced by placeholders.
fn redacted(md: &str, id: &str) -> String {
    let mut out = md.replace(id, "[ID]");
    for (re, with) in [
        (r"`[0-9a-f]{64}`", "[HASH]"),
        (r"sha256:[0-9a-f]{64}", "[DIGEST]"),
        (r"\b[0-9a-f]{12}\b", "[DIGEST12]"),
        (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", "[TIME]"),
        (r"shop-notifications:\d+", "shop-notifications:[REV]"),
    ] {
        out = regex::Regex::new(re)
            .unwrap()
            .replace_all(&out, with)
            .into_owned();
    }
    out
}

#[tokio::test]
async fn the_evidence_pack_of_an_aborted_canary_cites_hashes_that_verify() {
    let h = Box::pin(promotion()).await;
    let records = h.records();
    let id = records
        .iter()
        .find(|r| r.kind == RecordKind::PromotionStarted)
        .and_then(|r| r.draft.promotion.clone())
        .unwrap();
    let path = h.ledger.path().to_path_buf();
    let ledger = path.to_str().unwrap();

    let out = shipdeck(&["audit", "--ledger", ledger, "report", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let md = text(&out.stdout);
    for want in [
        "## notifications staging → prod · ",
        "· aborted; rollback succeeded\n",
        "- Initiator: alice",
        "- Change record: CHG-1234",
        "  - bob (",
        "  - carol (",
        "| step_decision | bob | continue; ",
        "canary looks clean \\| so far",
        "| aborted | alice | aborted; ",
        "error rate above 5 %",
        "### Records cited",
    ] {
        assert!(md.contains(want), "missing {want:?} in\n{md}");
    }
    insta::assert_snapshot!("audit_report_markdown", redacted(&md, &id));

    // Every hash it cites is the hash of the ledger line with that seq.
    let lines: Vec<Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let cited: Vec<(u64, String)> = md
        .lines()
        .skip_while(|l| !l.starts_with("### Records cited"))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let seq = cells.get(1)?.parse().ok()?;
            Some((seq, cells.get(4)?.trim_matches('`').to_string()))
        })
        .collect();
    assert!(cited.len() >= 10, "{cited:?}");
    for (seq, hash) in &cited {
        let line = &lines[usize::try_from(*seq).unwrap() - 1];
        assert_eq!(line["record"]["seq"], *seq);
        assert_eq!(line["hash"].as_str(), Some(hash.as_str()), "seq {seq}");
    }

    // --format json: the same report, versioned.
    let out = shipdeck(&[
        "audit", "--ledger", ledger, "report", &id, "--format", "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["schema"], 1);
    assert_eq!(json["promotion"], id.as_str());
    assert_eq!(json["moved"]["service"], "notifications");
    assert_eq!(json["outcome"]["result"], "aborted");
    assert_eq!(json["outcome"]["rollback"], "succeeded");
    assert_eq!(json["who"]["approvers"].as_array().unwrap().len(), 2);
    assert_eq!(json["cited"].as_array().unwrap().len(), cited.len());
    for (c, (seq, hash)) in json["cited"].as_array().unwrap().iter().zip(&cited) {
        assert_eq!(
            (c["seq"].as_u64().unwrap(), c["hash"].as_str().unwrap()),
            (*seq, hash.as_str())
        );
    }

    // --since: every promotion in the window (here the one).
    let out = shipdeck(&["audit", "--ledger", ledger, "report", "--since", "3650d"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), md);

    // An unknown id: a usage error that says how to list them.
    let out = shipdeck(&["audit", "--ledger", ledger, "report", "NOSUCH"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("shipdeck audit --type promotion_started"),
        "{}",
        text(&out.stderr)
    );

    // An edit to a cited record: verify names it (seq, kind, its hash).
    let (seq, hash) = cited
        .iter()
        .find(|(s, _)| lines[usize::try_from(*s).unwrap() - 1]["record"]["kind"] == "step_decision")
        .cloned()
        .unwrap();
    let original = std::fs::read_to_string(&path).unwrap();
    let edited: String = original
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let l = if i + 1 == usize::try_from(seq).unwrap() {
                l.replace("canary looks clean", "canary looks great")
            } else {
                l.to_string()
            };
            l + "\n"
        })
        .collect();
    assert_ne!(edited, original);
    std::fs::write(&path, edited).unwrap();
    let out = shipdeck(&["audit", "--ledger", ledger, "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let said = text(&out.stdout);
    assert!(
        said.contains(&format!(
            "seq {seq}, kind step_decision, promotion {id}, recorded hash {hash}"
        )),
        "{said}"
    );
    // And the report refuses a broken chain, naming the same record.
    let out = shipdeck(&["audit", "--ledger", ledger, "report", &id]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!("seq {seq}, kind step_decision")));
}
