use super::*;

#[test]
fn four_eyes_compares_principals_and_role_sessions() {
    let alice = "arn:aws:sts::111122223333:assumed-role/Release/alice";
    // The same session, the role's name in another case: the same person.
    assert!(same_person(
        alice,
        "arn:aws:sts::111122223333:assumed-role/release/alice"
    ));
    // Another session of the same role, another account, another user: not.
    assert!(!same_person(
        alice,
        "arn:aws:sts::111122223333:assumed-role/Release/bob"
    ));
    assert!(!same_person(
        alice,
        "arn:aws:sts::444455556666:assumed-role/Release/alice"
    ));
    assert!(same_person(
        "arn:aws:iam::111122223333:user/ops/Carol",
        "arn:aws:iam::111122223333:user/carol"
    ));
    assert!(!same_person("arn:aws:iam::111122223333:user/carol", alice));
    // Names (file mode) as written.
    assert!(same_person("alice", "alice") && !same_person("alice", "Alice"));
    assert!(!same_person("arn:broken", "arn:other"));
}

#[test]
fn an_assumed_role_initiator_cannot_approve_under_another_spelling() {
    let dir = tempfile::tempdir().unwrap();
    let l = Ledger::new(dir.path().join("l.jsonl"));
    let now = Utc::now();
    let policy = policy_hash(&gate());
    let initiator = "arn:aws:sts::111122223333:assumed-role/Release/alice";
    let req = request(&l, "prod", "api", "sha256:aa", &policy, initiator, now).unwrap();
    let records = l.read().unwrap();
    let again = "arn:aws:sts::111122223333:assumed-role/RELEASE/alice";
    assert!(matches!(
        precheck(
            &records,
            &req.promotion,
            again,
            &gate(),
            &Roles::default(),
            now
        ),
        Err(ApprovalError::SelfApproval(_))
    ));
    let bob = "arn:aws:sts::111122223333:assumed-role/Release/bob";
    assert!(
        precheck(
            &records,
            &req.promotion,
            bob,
            &gate(),
            &Roles::default(),
            now
        )
        .is_ok()
    );
}

/// `who` approves `req` under the test gate, with no roles.
fn approve_as(
    l: &Ledger,
    req: &Request,
    who: &str,
    comment: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(Request, Record), ApprovalError> {
    approve(
        l,
        &req.promotion,
        who,
        comment,
        &gate(),
        &Roles::default(),
        at,
    )
}

fn gate() -> GatePolicy {
    GatePolicy::defaults(true)
}

fn setup() -> (tempfile::TempDir, Ledger, Request, DateTime<Utc>) {
    let dir = tempfile::tempdir().unwrap();
    let l = Ledger::new(dir.path().join("l.jsonl"));
    let now = Utc::now();
    let req = request(
        &l,
        "prod",
        "api",
        "sha256:aa",
        &policy_hash(&gate()),
        "alice",
        now,
    )
    .unwrap();
    (dir, l, req, now)
}

#[test]
fn self_approval_refused_with_four_eyes() {
    let (_d, l, req, now) = setup();
    let err = approve_as(&l, &req, "alice", None, now).unwrap_err();
    assert_eq!(
        err.to_string(),
        "alice started this promotion and cannot approve it (four eyes)"
    );
}

#[test]
fn duplicate_approver_refused_and_counted_once() {
    let (_d, l, req, now) = setup();
    approve_as(&l, &req, "bob", Some("lgtm"), now).unwrap();
    let err = approve_as(&l, &req, "bob", None, now).unwrap_err();
    assert!(matches!(err, ApprovalError::Duplicate(_)));
    approve_as(&l, &req, "carol", None, now).unwrap();
    let recs = l.read().unwrap();
    let ok = valid_approvers(
        &recs,
        &req,
        "sha256:aa",
        &req.policy,
        gate().approval_ttl,
        true,
        now,
    );
    assert_eq!(ok, vec!["bob".to_string(), "carol".to_string()]);
}

#[test]
fn racing_approvals_by_one_person_are_written_once() {
    for round in 0..20 {
        let (_d, l, req, now) = setup();
        let gate_open = std::sync::Barrier::new(3);
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..3)
                .map(|_| {
                    s.spawn(|| {
                        gate_open.wait();
                        approve_as(&l, &req, "bob", None, now)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "round {round}"
        );
        assert!(
            results
                .iter()
                .filter_map(|r| r.as_ref().err())
                .all(|e| matches!(e, ApprovalError::Duplicate(_))),
            "round {round}"
        );
        let approvals = l
            .read()
            .unwrap()
            .iter()
            .filter(|r| r.kind == RecordKind::Approval)
            .count();
        assert_eq!(approvals, 1, "round {round}");
    }
}

#[test]
fn approvals_expire() {
    let (_d, l, req, now) = setup();
    approve_as(&l, &req, "bob", None, now).unwrap();
    let recs = l.read().unwrap();
    let later = now
        + chrono::Duration::from_std(gate().approval_ttl).unwrap()
        + chrono::Duration::seconds(1);
    assert!(
        valid_approvers(
            &recs,
            &req,
            "sha256:aa",
            &req.policy,
            gate().approval_ttl,
            true,
            later
        )
        .is_empty()
    );
    let err = approve_as(&l, &req, "carol", None, later).unwrap_err();
    assert!(
        err.to_string().contains("approvals expire after 4h"),
        "{err}"
    );
}

#[test]
fn digest_or_policy_change_voids_approvals() {
    let (_d, l, req, now) = setup();
    approve_as(&l, &req, "bob", None, now).unwrap();
    let recs = l.read().unwrap();
    assert_eq!(
        valid_approvers(
            &recs,
            &req,
            "sha256:aa",
            &req.policy,
            gate().approval_ttl,
            true,
            now
        )
        .len(),
        1
    );
    assert!(
        valid_approvers(
            &recs,
            &req,
            "sha256:bb",
            &req.policy,
            gate().approval_ttl,
            true,
            now
        )
        .is_empty()
    );
    let mut stricter = gate();
    stricter.approvals_required = 3;
    assert_ne!(policy_hash(&stricter), req.policy);
    assert!(
        valid_approvers(
            &recs,
            &req,
            "sha256:aa",
            &policy_hash(&stricter),
            gate().approval_ttl,
            true,
            now
        )
        .is_empty()
    );
}

#[test]
fn unknown_id() {
    let (_d, l, _, now) = setup();
    assert!(matches!(
        approve(&l, "NOPE12", "bob", None, &gate(), &Roles::default(), now),
        Err(ApprovalError::NotFound(_))
    ));
}
