use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::ledger::{Draft, GateEntry, Record, RecordKind};

const CFG: &str = r#"
provider = "simulated"
[[notify.sink]]
name = "releases"
kind = "webhook"
url_secret = "RELEASES_WEBHOOK"
[[notify.sink]]
name = "ops"
kind = "webhook"
format = "shipdeck"
url_secret = "OPS_WEBHOOK"
[notify]
operations = ["ops"]

[[environment]]
name = "staging"
region = "us-east-1"
cluster = "staging"
notify = ["releases"]
[[environment.service]]
name = "api"

[[environment]]
name = "prod"
region = "us-east-1"
cluster = "prod"
notify = ["releases"]
[environment.gate]
approvals_required = 2
four_eyes = true
[[environment.service]]
name = "api"
"#;

fn cfg() -> Config {
    crate::config::parse_str(CFG, "t.toml", None).unwrap()
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
        .unwrap()
        .into()
}

fn rec(seq: u64, kind: RecordKind, env: &str, draft: Draft) -> Record {
    Record {
        seq,
        id: format!("r{seq}-00000000"),
        kind,
        at: t0() + Duration::seconds(i64::try_from(seq).unwrap()),
        draft: Draft {
            operator: if draft.operator.is_empty() {
                "alice".to_string()
            } else {
                draft.operator
            },
            env: Some(env.to_string()),
            service: Some("api".to_string()),
            promotion: Some("p-1".to_string()),
            to_digest: Some(format!("sha256:{}", "ab".repeat(32))),
            policy: Some("pol".to_string()),
            ..draft
        },
        prev_hash: String::new(),
        once: None,
    }
}

fn events(records: &[Record]) -> Vec<Event> {
    let cfg = cfg();
    let last = records.last().unwrap();
    let ctx = Context {
        cfg: &cfg,
        records,
        now: last.at,
    };
    events_for(last, "h4sh", &ctx)
}

fn kinds(records: &[Record]) -> Vec<EventKind> {
    events(records).iter().map(|e| e.kind).collect()
}

#[test]
fn a_promotion_that_needs_approvals_names_its_open_slots() {
    let started = rec(1, RecordKind::PromotionStarted, "prod", Draft::default());
    let e = events(std::slice::from_ref(&started));
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].kind, EventKind::WaitingForApproval);
    assert_eq!(e[0].dedupe_key, "h4sh");
    assert!(e[0].text.contains("needs 2 approvers"), "{}", e[0].text);
    assert!(e[0].text.contains("shipdeck approve p-1"), "{}", e[0].text);
    // Into a stage whose gate asks for no approval: nothing to wait for.
    let staging = rec(1, RecordKind::PromotionStarted, "staging", Draft::default());
    assert!(events(&[staging]).is_empty());
}

#[test]
fn an_approval_says_who_and_where_the_promotion_stands() {
    let started = rec(1, RecordKind::PromotionStarted, "prod", Draft::default());
    let approval = rec(
        2,
        RecordKind::Approval,
        "prod",
        Draft {
            operator: "bob".to_string(),
            ..Draft::default()
        },
    );
    let e = events(&[started, approval]);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].kind, EventKind::ApprovalGiven);
    assert!(
        e[0].text
            .starts_with("api → prod: bob approved promotion p-1"),
        "{}",
        e[0].text
    );
    assert!(e[0].text.contains("1 of 2 approvals"), "{}", e[0].text);
    assert!(e[0].text.contains("needs 1 approver"), "{}", e[0].text);
}

#[test]
fn a_paused_step_is_told_and_a_step_of_traffic_is_not() {
    let paused = rec(
        1,
        RecordKind::Step,
        "prod",
        Draft {
            reasons: vec![format!("step 1 of 2 (10%) {PAUSED}")],
            ..Draft::default()
        },
    );
    let e = events(&[paused]);
    assert_eq!(e[0].kind, EventKind::StepPaused);
    assert!(
        e[0].text.contains("step 1 of 2 (10%) paused"),
        "{}",
        e[0].text
    );
    let moving = rec(
        1,
        RecordKind::Step,
        "prod",
        Draft {
            reasons: vec!["traffic at step 1 of 2 (10%)".to_string()],
            ..Draft::default()
        },
    );
    assert!(events(&[moving]).is_empty());
}

#[test]
fn an_abort_and_its_rollback_carry_the_rule_and_its_numbers() {
    let rule = "5xx rate 7.20% > 2.00% for 3 of 3 minutes";
    let aborted = rec(
        1,
        RecordKind::Aborted,
        "prod",
        Draft {
            reasons: vec![rule.to_string()],
            ..Draft::default()
        },
    );
    let e = events(&[aborted]);
    assert_eq!(e[0].kind, EventKind::Aborted);
    assert!(e[0].text.contains(rule), "{}", e[0].text);
    assert!(e[0].text.starts_with('✗'), "{}", e[0].text);
    let back = rec(
        2,
        RecordKind::RollbackSucceeded,
        "prod",
        Draft {
            to_revision: Some("api:2".to_string()),
            reasons: vec![rule.to_string()],
            ..Draft::default()
        },
    );
    let e = events(&[back]);
    assert_eq!(e[0].kind, EventKind::RolledBack);
    assert!(e[0].text.contains("rolled back to api:2"), "{}", e[0].text);
    assert!(e[0].text.contains(rule), "{}", e[0].text);
}

#[test]
fn success_carries_its_duration() {
    let ok = rec(
        1,
        RecordKind::DeploySucceeded,
        "prod",
        Draft {
            duration_ms: Some(252_000),
            to_revision: Some("api:3".to_string()),
            ..Draft::default()
        },
    );
    let e = events(&[ok]);
    assert_eq!(e[0].kind, EventKind::Succeeded);
    assert!(e[0].text.contains("4m 12s"), "{}", e[0].text);
    assert!(e[0].text.contains("as api:3"), "{}", e[0].text);
    assert!(e[0].text.contains("sha256:abababababab"), "{}", e[0].text);
}

#[test]
fn a_freeze_override_is_told_once_to_operations() {
    let gate = rec(
        1,
        RecordKind::GateEvaluated,
        "prod",
        Draft {
            gate: vec![GateEntry {
                check: "freeze".to_string(),
                verdict: "overridden".to_string(),
                reason: "in freeze window \"holidays\"".to_string(),
            }],
            ..Draft::default()
        },
    );
    let over = rec(
        2,
        RecordKind::Override,
        "prod",
        Draft {
            reasons: vec!["freeze: in freeze window \"holidays\"".to_string()],
            ..Draft::default()
        },
    );
    let e = events(std::slice::from_ref(&gate));
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].kind, EventKind::FreezeOverride);
    assert!(e[0].kind.operations());
    assert!(
        e[0].text.contains("alice overrode the freeze"),
        "{}",
        e[0].text
    );
    let cfg = cfg();
    assert_eq!(
        crate::notify::route(&cfg, &e[0])
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["ops"]
    );
    // The override's own record repeats it: not told twice.
    assert!(events(&[gate, over.clone()]).is_empty());
    // Alone (no gate record showed it), the override tells.
    assert_eq!(kinds(&[over]), [EventKind::FreezeOverride]);
}

#[test]
fn a_hotfix_is_told_once_per_promotion_beside_its_own_event() {
    let hot = |seq, kind| {
        rec(
            seq,
            kind,
            "prod",
            Draft {
                hotfix: true,
                change_type: Some("hotfix".to_string()),
                skipped: vec!["staging".to_string()],
                reasons: vec!["hotfix from dev: payments down".to_string()],
                ..Draft::default()
            },
        )
    };
    let started = hot(1, RecordKind::PromotionStarted);
    let e = events(std::slice::from_ref(&started));
    assert_eq!(
        e.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [EventKind::WaitingForApproval, EventKind::Hotfix]
    );
    // Two events of one record: the second's key differs.
    assert_eq!(e[0].dedupe_key, "h4sh");
    assert_eq!(e[1].dedupe_key, "h4sh#hotfix");
    assert!(e[1].text.contains("skipping staging"), "{}", e[1].text);
    assert!(e[1].text.contains("payments down"), "{}", e[1].text);
    assert!(kinds(&[started, hot(2, RecordKind::DeployIssued)]).is_empty());
}

#[test]
fn failures_and_bookkeeping_never_notify() {
    for kind in [
        RecordKind::NotificationFailed,
        RecordKind::DeployIssued,
        RecordKind::RevisionMarkedStable,
        RecordKind::LockBroken,
    ] {
        assert!(
            events(&[rec(1, kind, "prod", Draft::default())]).is_empty(),
            "{kind:?}"
        );
    }
}

#[test]
fn an_event_goes_to_its_environments_route() {
    let cfg = cfg();
    let ok = rec(1, RecordKind::DeploySucceeded, "staging", Draft::default());
    let e = events(&[ok]);
    assert_eq!(
        crate::notify::route(&cfg, &e[0])
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["releases"]
    );
}

#[test]
fn a_request_closed_before_anything_was_issued_is_no_abort() {
    let started = rec(1, RecordKind::PromotionStarted, "prod", Draft::default());
    let closed = rec(
        2,
        RecordKind::Aborted,
        "prod",
        Draft {
            reasons: vec!["backed out in the wizard".into()],
            outcome: Some(crate::release::Outcome::Cancelled.as_str().to_string()),
            ..Draft::default()
        },
    );
    assert!(kinds(&[started.clone(), closed]).is_empty());
    let aborted = rec(
        2,
        RecordKind::Aborted,
        "prod",
        Draft {
            reasons: vec!["rule \"5xx\": above 5 for 1 point(s): 35".into()],
            outcome: Some("aborted".to_string()),
            ..Draft::default()
        },
    );
    assert_eq!(kinds(&[started, aborted]), [EventKind::Aborted]);
}

#[test]
fn without_an_operations_route_a_hotfix_goes_to_its_environments() {
    let text = CFG.replace("[notify]\noperations = [\"ops\"]\n", "");
    let bare = crate::config::parse_str(&text, "t.toml", None).unwrap();
    let hotfix = rec(
        1,
        RecordKind::GateEvaluated,
        "prod",
        Draft {
            hotfix: true,
            skipped: vec!["staging".into()],
            outcome: Some("go".into()),
            ..Draft::default()
        },
    );
    let ctx = Context {
        cfg: &bare,
        records: std::slice::from_ref(&hotfix),
        now: hotfix.at,
    };
    let e = events_for(&hotfix, "h", &ctx);
    let ops: Vec<&Event> = e.iter().filter(|e| e.kind.operations()).collect();
    assert!(!ops.is_empty(), "{e:?}");
    let sinks: Vec<&str> = crate::notify::route(&bare, ops[0])
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(sinks, ["releases"]);
    // With the route set, operations get it.
    let sinks: Vec<String> = crate::notify::route(&cfg(), ops[0])
        .iter()
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(sinks, ["ops"]);
}
