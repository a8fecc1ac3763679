//! The ledger's own tests: the chain, torn tails, and records written once.

use super::*;
use chrono::TimeZone;

fn draft(env: &str) -> Draft {
    Draft {
        operator: "alice".into(),
        env: Some(env.into()),
        service: Some("api".into()),
        ..Draft::default()
    }
}

fn ledger_with(n: usize) -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let l = Ledger::new(dir.path().join("ledger.jsonl"));
    for i in 0..n {
        let at = Utc
            .timestamp_opt(1_800_000_000 + i64::try_from(i).unwrap(), 0)
            .unwrap();
        l.append(RecordKind::DeployIssued, draft(&format!("env{i}")), at)
            .unwrap();
    }
    (dir, l)
}

fn text(l: &Ledger) -> String {
    std::fs::read_to_string(l.path()).unwrap()
}

#[test]
fn kind_names_match_the_serialised_form() {
    use RecordKind as K;
    for k in [
        K::PromotionStarted,
        K::GateEvaluated,
        K::Approval,
        K::Override,
        K::DeployIssued,
        K::DeploySucceeded,
        K::DeployFailed,
        K::Aborted,
        K::RollbackIssued,
        K::RollbackSucceeded,
        K::RollbackFailed,
        K::DeployUnverified,
        K::RollbackUnverified,
        K::RevisionMarkedStable,
        K::LockBroken,
        K::LedgerRepaired,
        K::Step,
        K::StepDecision,
        K::WatchInterrupted,
        K::NotificationFailed,
    ] {
        assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
    }
}

#[test]
fn appends_chain_and_verify() {
    let (_d, l) = ledger_with(5);
    assert_eq!(verify_text(&text(&l)), Ok(5));
    let recs = l.read().unwrap();
    assert_eq!(recs.len(), 5);
    assert_eq!(recs[0].prev_hash, GENESIS);
    assert_eq!(recs[4].seq, 5);
    assert_eq!(recs[2].draft.env.as_deref(), Some("env2"));
}

#[test]
fn edited_field_is_found() {
    let (_d, l) = ledger_with(4);
    let t = text(&l).replacen("env2", "env9", 1);
    assert_eq!(verify_text(&t).unwrap_err().line, 3);
}

#[test]
fn deleted_line_is_found() {
    let (_d, l) = ledger_with(4);
    let t = text(&l);
    let lines: Vec<&str> = t.lines().collect();
    let t = format!("{}\n{}\n{}\n", lines[0], lines[2], lines[3]);
    assert_eq!(verify_text(&t).unwrap_err().line, 2);
}

#[test]
fn swapped_lines_are_found() {
    let (_d, l) = ledger_with(4);
    let lines: Vec<String> = text(&l).lines().map(str::to_string).collect();
    let t = format!("{}\n{}\n{}\n{}\n", lines[0], lines[2], lines[1], lines[3]);
    assert_eq!(verify_text(&t).unwrap_err().line, 2);
}

#[test]
fn torn_last_line_is_reported_then_repaired_on_append() {
    let (_d, l) = ledger_with(3);
    let full = text(&l);
    let torn = &full[..full.len() - 20];
    std::fs::write(l.path(), torn).unwrap();
    let b = verify_text(torn).unwrap_err();
    assert_eq!(b.line, 3);
    assert!(b.problem.contains("torn"));
    let at = Utc.timestamp_opt(1_900_000_000, 0).unwrap();
    let rec = l.append(RecordKind::Approval, draft("prod"), at).unwrap();
    let recs = l.read().unwrap();
    assert_eq!(
        recs.len(),
        4,
        "two good records, the repair note, the new one"
    );
    assert_eq!(recs[2].kind, RecordKind::LedgerRepaired);
    assert!(recs[2].draft.reasons[0].contains("torn final line"));
    assert_eq!(rec.seq, 4);
}

#[test]
fn a_broken_middle_refuses_appends() {
    let (_d, l) = ledger_with(3);
    std::fs::write(l.path(), text(&l).replacen("env1", "envX", 1)).unwrap();
    let err = l
        .append(RecordKind::Approval, draft("prod"), Utc::now())
        .unwrap_err();
    assert!(err.to_string().contains("broken at line 2"), "{err}");
}

#[test]
fn a_once_key_is_written_once_and_the_refusal_names_the_record() {
    let (_d, l) = ledger_with(2);
    let at = Utc.timestamp_opt(1_900_000_000, 0).unwrap();
    let first = l
        .append_once(
            RecordKind::Approval,
            draft("prod"),
            at,
            "approval#P1#bob",
            None,
        )
        .unwrap();
    assert_eq!(first.once.as_deref(), Some("approval#P1#bob"));
    let mut again = draft("prod");
    again.operator = "bob".into();
    let err = l
        .append_once(RecordKind::Approval, again, at, "approval#P1#bob", None)
        .unwrap_err();
    match &err {
        LedgerError::Duplicate {
            key, by, record, ..
        } => {
            assert_eq!(key, "approval#P1#bob");
            assert_eq!(by.as_deref(), Some("alice"));
            assert_eq!(*record, Some(3));
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("written once"), "{err}");
    // Another key is another decision; plain appends are untouched.
    l.append_once(
        RecordKind::Approval,
        draft("prod"),
        at,
        "approval#P1#carol",
        None,
    )
    .unwrap();
    l.append(RecordKind::Approval, draft("prod"), at).unwrap();
    let recs = l.read().unwrap();
    assert_eq!(recs.len(), 5);
    assert_eq!(recs.iter().filter(|r| r.once.is_some()).count(), 2);
    assert_eq!(verify_text(&text(&l)), Ok(5));
}

#[test]
fn racing_threads_write_a_once_key_once() {
    for round in 0..20 {
        let (_d, l) = ledger_with(1);
        let gate = std::sync::Barrier::new(4);
        let results: Vec<Result<Record, LedgerError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        gate.wait();
                        l.append_once(RecordKind::Approval, draft("prod"), Utc::now(), "k", None)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let written = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(written, 1, "round {round}: {results:?}");
        assert!(
            results
                .iter()
                .filter_map(|r| r.as_ref().err())
                .all(|e| matches!(e, LedgerError::Duplicate { .. })),
            "round {round}: {results:?}"
        );
        let keyed = l
            .read()
            .unwrap()
            .iter()
            .filter(|r| r.once.is_some())
            .count();
        assert_eq!(keyed, 1, "round {round}");
    }
}

#[test]
fn typed_reasons_are_one_line_in_the_ledger_whoever_appends_them() {
    // D12 at the write itself: a caller that did not fold (the console, a
    // future command) still cannot write a reason that forges a record line.
    let dir = tempfile::tempdir().unwrap();
    let l = Ledger::new(dir.path().join("ledger.jsonl"));
    let d = Draft {
        operator: "bob".into(),
        reasons: vec!["fine\n{\"hash\":\"00\",\"record\":{}}\r\nmore".into()],
        change_record: Some("CHG-1\n2".into()),
        ..Draft::default()
    };
    let r = l.append(RecordKind::StepDecision, d, Utc::now()).unwrap();
    assert!(!r.draft.reasons[0].contains('\n') && !r.draft.reasons[0].contains('\r'));
    assert!(r.draft.reasons[0].contains("fine") && r.draft.reasons[0].contains("more"));
    assert!(!r.draft.change_record.unwrap().contains('\n'));
    let text = std::fs::read_to_string(l.path()).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert_eq!(verify_text(&text), Ok(1));
}
