#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::ledger::{Draft, GateEntry, Record, RecordKind};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

fn base(operator: &str) -> Draft {
    Draft {
        operator: operator.into(),
        env: Some("prod".into()),
        service: Some("api".into()),
        promotion: Some("P1".into()),
        from_digest: Some(format!("sha256:{}", "a".repeat(64))),
        to_digest: Some(format!("sha256:{}", "b".repeat(64))),
        from_revision: Some("api:3".into()),
        ..Draft::default()
    }
}

/// Hand-made links: seq from 1, a minute apart, made-up hashes.
fn links(items: Vec<(RecordKind, Draft)>) -> Vec<Link> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, (kind, draft))| {
            let seq = u64::try_from(i).unwrap() + 1;
            Link {
                record: Record {
                    seq,
                    id: format!("r{seq}-00000000"),
                    kind,
                    at: t0() + Duration::minutes(i64::try_from(i).unwrap()),
                    draft,
                    prev_hash: String::new(),
                    once: None,
                },
                hash: format!("{seq:064x}"),
            }
        })
        .collect()
}

fn full() -> Vec<Link> {
    let started = Draft {
        reasons: vec!["commit 1a2b3c4 → 9f8e7d6 · source github.com/acme/api".into()],
        change_record: Some("CHG-1".into()),
        change_type: Some("feature".into()),
        ..base("alice")
    };
    let approval = |who: &str, role: &str| Draft {
        roles: vec![role.into()],
        ..base(who)
    };
    let gate = Draft {
        gate: vec![
            GateEntry {
                check: "alarms_ok".into(),
                verdict: "pass".into(),
                reason: "2 alarm(s), none in ALARM".into(),
            },
            GateEntry {
                check: "checklist: Release notes".into(),
                verdict: "pass".into(),
                reason: "ticked".into(),
            },
            GateEntry {
                check: "soak".into(),
                verdict: "overridden".into(),
                reason: "soaked 10m of 1h".into(),
            },
        ],
        ..base("alice")
    };
    let step = Draft {
        reasons: vec!["step 1 of 2 (10%) paused: awaiting a decision".into()],
        ..base("alice")
    };
    let decision = Draft {
        outcome: Some("continue".into()),
        reasons: vec!["step 1 of 2 (10%)".into(), "canary clean".into()],
        ..base("bob")
    };
    let aborted = Draft {
        outcome: Some("aborted".into()),
        reasons: vec!["rule \"error rate above 5 %\": 5xx % 35 above 5 for 1m".into()],
        to_revision: Some("api:4".into()),
        ..base("alice")
    };
    let rolled = Draft {
        outcome: Some("succeeded".into()),
        ..base("alice")
    };
    links(vec![
        (RecordKind::PromotionStarted, started),
        (RecordKind::Approval, approval("bob", "sre")),
        (RecordKind::Approval, approval("carol", "release-manager")),
        (RecordKind::GateEvaluated, gate),
        (
            RecordKind::Override,
            Draft {
                reasons: vec!["soak: hotfix for an outage".into()],
                ..base("alice")
            },
        ),
        (RecordKind::DeployIssued, base("alice")),
        (RecordKind::Step, step),
        (RecordKind::StepDecision, decision),
        (RecordKind::Aborted, aborted),
        (RecordKind::RollbackIssued, base("alice")),
        (RecordKind::RollbackSucceeded, rolled),
        // Another promotion's record: not cited.
        (
            RecordKind::PromotionStarted,
            Draft {
                promotion: Some("P2".into()),
                ..base("dave")
            },
        ),
    ])
}

#[test]
fn every_section_is_filled_from_the_records() {
    let r = build(&full(), "P1").unwrap();
    assert_eq!(r.schema, 1);
    assert_eq!(r.moved.service.as_deref(), Some("api"));
    assert_eq!(r.moved.to_env.as_deref(), Some("prod"));
    assert_eq!(r.moved.commit.as_deref(), Some("9f8e7d6"));
    assert_eq!(r.moved.from_commit.as_deref(), Some("1a2b3c4"));
    assert_eq!(r.moved.source.as_deref(), Some("github.com/acme/api"));
    assert_eq!(r.moved.to_revision.as_deref(), Some("api:4"));
    assert_eq!(r.who.initiator.as_deref(), Some("alice"));
    assert_eq!(r.who.change_type.as_deref(), Some("feature"));
    assert!(r.who.reasons.is_empty(), "labels are not reasons");
    let names: Vec<_> = r
        .who
        .approvers
        .iter()
        .map(|a| (a.name.as_str(), a.roles.join(","), a.seq))
        .collect();
    assert_eq!(
        names,
        [
            ("bob", "sre".to_string(), 2),
            ("carol", "release-manager".to_string(), 3)
        ]
    );
    assert_eq!(r.who.checklist, ["Release notes"]);
    assert_eq!(r.gate.len(), 3);
    assert_eq!(r.overrides.len(), 1);
    let kinds: Vec<_> = r.rollout.iter().map(|n| n.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "deploy_issued",
            "step",
            "step_decision",
            "aborted",
            "rollback_issued",
            "rollback_succeeded"
        ]
    );
    assert_eq!(r.outcome.result.as_deref(), Some("aborted"));
    assert_eq!(r.outcome.rollback.as_deref(), Some("succeeded"));
    assert_eq!(r.outcome.end, Some(t0() + Duration::minutes(10)));
    assert_eq!(r.outcome.duration_ms, Some(600_000));
    let seqs: Vec<u64> = r.cited.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, (1..=11).collect::<Vec<_>>());
    assert_eq!(r.cited[0].hash, format!("{:064x}", 1));

    let md = markdown(&r);
    for want in [
        "## api → prod · bbbbbbbbbbbb · aborted; rollback succeeded\n",
        "### What moved",
        "- Commit: 9f8e7d6 (was 1a2b3c4)",
        "- Source: github.com/acme/api",
        "### Who and why",
        "- Change record: CHG-1 (type: feature)",
        "  - bob (sre) at 2026-11-23 09:01:00 UTC (record 2)",
        "  - carol (release-manager) at 2026-11-23 09:02:00 UTC (record 3)",
        "  - [x] Release notes",
        "| soak | overridden | soaked 10m of 1h |",
        "- soak: hotfix for an outage by alice",
        "| 8 | 2026-11-23 09:07:00 UTC | step_decision | bob | continue; step 1 of 2 (10%); canary clean |",
        "rule \"error rate above 5 %\"",
        "- Duration: 10m",
        "| 1 | promotion_started | 2026-11-23 09:00:00 UTC | `0000000000000000000000000000000000000000000000000000000000000001` |",
        VERIFY_LINE,
    ] {
        assert!(md.contains(want), "missing {want:?} in\n{md}");
    }
    assert!(!md.contains("dave"), "{md}");
    // JSON round-trips, versioned.
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["schema"], 1);
    assert_eq!(json["cited"][0]["seq"], 1);
    let back: Report = serde_json::from_value(json).unwrap();
    assert_eq!(back, r);
}

#[test]
fn an_unknown_id_is_an_error_that_says_how_to_list_them() {
    let e = build(&full(), "NOPE").unwrap_err();
    assert_eq!(e, ReportError::Unknown("NOPE".into()));
    assert!(
        e.to_string()
            .contains("shipdeck audit --type promotion_started")
    );
}

#[test]
fn without_an_ending_record_the_outcome_is_in_progress_never_guessed() {
    let mut l = full();
    l.truncate(8); // up to the step decision
    let r = build(&l, "P1").unwrap();
    assert_eq!(r.outcome.result, None);
    assert_eq!(r.outcome.end, None);
    assert_eq!(r.outcome.duration_ms, None);
    let md = markdown(&r);
    assert!(md.contains("· in progress: no outcome recorded\n"), "{md}");
    assert!(md.contains("- End: not yet (in progress)"), "{md}");
    for made_up in ["succeeded", "aborted", "failed"] {
        assert!(!md.contains(made_up), "{made_up} in\n{md}");
    }
    // An abort whose rollback has not ended yet says so.
    let mut l = full();
    l.truncate(10);
    let r = build(&l, "P1").unwrap();
    assert_eq!(r.outcome.end, None);
    assert_eq!(
        r.outcome.said,
        "aborted; rollback in progress, no outcome recorded"
    );
}

#[test]
fn markdown_escapes_what_could_break_a_table_or_a_code_span() {
    assert_eq!(escape("a|b"), "a\\|b");
    assert_eq!(escape("`rm -rf`"), "\\`rm -rf\\`");
    assert_eq!(escape("<script>"), "\\<script\\>");
    assert!(!escape("line one\nline two\r\nthree").contains('\n'));
    let mut l = full();
    l[0].record.draft.reasons =
        vec!["commit 1a2b3c4 → fix | `evil`\n| x | y | · source a|b".into()];
    l[3].record.draft.gate[0].reason = "one | two\nthree".into();
    l[7].record.draft.reasons = vec!["`a` | b\n| c |".into()];
    let md = markdown(&build(&l, "P1").unwrap());
    for line in md.lines().filter(|l| l.starts_with('|')) {
        // Each table row keeps its own count of unescaped cell bars.
        let bars = line
            .match_indices('|')
            .filter(|(i, _)| !line[..*i].ends_with('\\'))
            .count();
        assert!(bars == 4 || bars == 5 || bars == 6, "{bars}: {line}");
    }
    assert!(md.contains("- Commit: fix \\| \\`evil\\`"), "{md}");
    assert!(md.contains("| alarms_ok | pass | one \\| two"), "{md}");
    assert!(!md.contains("\n| x |"), "{md}");
}

#[test]
fn since_gives_one_report_per_promotion_started_in_the_window() {
    let l = full();
    let all = since(&l, t0());
    let ids: Vec<_> = all.iter().map(|r| r.promotion.as_str()).collect();
    assert_eq!(ids, ["P1", "P2"]);
    let later = since(&l, t0() + Duration::minutes(5));
    let ids: Vec<_> = later.iter().map(|r| r.promotion.as_str()).collect();
    assert_eq!(ids, ["P2"]);
    assert!(since(&l, t0() + Duration::days(1)).is_empty());
}

#[test]
fn durations_read_as_words() {
    assert_eq!(human_duration(850), "850ms");
    assert_eq!(human_duration(65_000), "1m 5s");
    assert_eq!(human_duration(3_600_000 + 120_000), "1h 2m");
    assert_eq!(human_duration(7_000), "7s");
}

#[test]
fn a_hotfix_names_the_stages_it_skipped_and_the_request_its_reason() {
    let started = Draft {
        hotfix: true,
        skipped: vec!["staging".into()],
        reasons: vec!["hotfix: the checkout is down".into()],
        ..base("alice")
    };
    let l = links(vec![(RecordKind::PromotionStarted, started)]);
    let r = build(&l, "P1").unwrap();
    assert!(r.moved.hotfix);
    assert_eq!(r.moved.skipped, ["staging"]);
    assert_eq!(r.who.reasons, ["hotfix: the checkout is down"]);
    assert_eq!(r.moved.commit, None);
    let md = markdown(&r);
    for want in [
        "- Hotfix: skipped staging",
        "- Reason: hotfix: the checkout is down",
        "- Commit: not known (the image has no commit label)",
        "- Approvals: none recorded",
        "No gate evaluation recorded.",
        "Nothing was deployed.",
    ] {
        assert!(md.contains(want), "missing {want:?} in\n{md}");
    }
}

#[test]
fn an_approval_the_go_gate_did_not_count_is_marked() {
    let approval = |who: &str| (RecordKind::Approval, base(who));
    let go = (
        RecordKind::GateEvaluated,
        Draft {
            approvers: vec!["bob".into()],
            outcome: Some("go".into()),
            ..base("alice")
        },
    );
    let l = links(vec![
        (RecordKind::PromotionStarted, base("alice")),
        approval("bob"),
        approval("mallory"),
        go,
    ]);
    let r = build(&l, "P1").unwrap();
    let counted: Vec<(&str, Option<bool>)> = r
        .who
        .approvers
        .iter()
        .map(|a| (a.name.as_str(), a.counted))
        .collect();
    assert_eq!(counted, [("bob", Some(true)), ("mallory", Some(false))]);
    let md = markdown(&r);
    assert!(md.contains("mallory (no role recorded) at"), "{md}");
    assert!(md.contains("not counted by the gate)"), "{md}");
}

#[test]
fn the_supply_chain_evidence_the_gate_judged_is_in_the_pack() {
    let supply = crate::supply::SupplyRecord {
        key: Some("ci".into()),
        key_id: Some(format!("sha256:{}", "c".repeat(64))),
        scan: Some(
            "trivy 0.58.1 on 2026-12-01: 0 critical, 1 high (1 allowed), 0 medium, 0 low".into(),
        ),
        allowed: vec![crate::supply::AllowedFinding {
            cve: "CVE-2026-0001".into(),
            reason: "not reachable | we never parse TIFF".into(),
            expires: "2027-01-31".into(),
        }],
        commit: Some("9f8e7d6c5b4a39281706f5e4d3c2b1a098765432".into()),
        source: Some("https://github.com/acme/api".into()),
        created: Some("2026-12-01T10:02:00Z".into()),
    };
    let gate = Draft {
        supply: Some(supply.clone()),
        ..base("alice")
    };
    let pack = build(
        &links(vec![
            (RecordKind::PromotionStarted, base("alice")),
            (RecordKind::GateEvaluated, gate),
        ]),
        "P1",
    )
    .unwrap();
    assert_eq!(pack.moved.supply.as_ref(), Some(&supply));
    let md = markdown::markdown(&pack);
    for want in [
        &format!(
            "- Signature: verified with key ci (sha256:{})",
            "c".repeat(64)
        ),
        "- Scan: trivy 0.58.1 on 2026-12-01: 0 critical, 1 high (1 allowed)",
        "- Allowed: CVE-2026-0001 until 2027-01-31: not reachable \\| we never parse TIFF",
        "- Built: 2026-12-01T10:02:00Z",
    ] {
        assert!(md.contains(want), "{want} in:\n{md}");
    }
    // Without a reading at the gate it says so, never a verified key.
    let none = build(
        &links(vec![(RecordKind::PromotionStarted, base("alice"))]),
        "P1",
    )
    .unwrap();
    assert!(markdown::markdown(&none).contains("- Supply chain: not recorded"));
}
