//! The supply-chain checks at the gate: mapped as judged, pending until
//! the registry was read, overridden only where the policy allows and only
//! when they failed (an unknown is never passed by a reason).

use super::tests::{World, verdict};
use super::{Verdict, evaluate};
use crate::config::AutoCheck;
use crate::supply::{Assessment, Finding, SupplyRecord};

fn judged(signed: Verdict, scanned: Verdict, provenance: Verdict) -> Assessment {
    let f = |v: Verdict, why: &str| Finding {
        verdict: v,
        reason: why.to_string(),
    };
    Assessment {
        digest: crate::model::Digest::of_bytes(b"x"),
        signed: f(signed, "signed by ci"),
        scanned: f(scanned, "nothing at or above high"),
        provenance: f(provenance, "built from commit 9f8e7d6"),
        record: SupplyRecord::default(),
    }
}

fn world() -> World {
    let mut w = World::new();
    w.policy
        .checks
        .extend([AutoCheck::Signed, AutoCheck::Scanned, AutoCheck::Provenance]);
    w
}

#[test]
fn no_reading_yet_is_pending_and_no_go() {
    let w = world();
    let r = evaluate(&w.input());
    for name in ["signed", "scanned", "provenance"] {
        assert_eq!(verdict(&r, name), Verdict::Pending, "{r:?}");
    }
    assert!(!r.go);
}

#[test]
fn all_three_judged_passing_is_go_with_their_reasons() {
    let w = world();
    let a = judged(Verdict::Pass, Verdict::Pass, Verdict::Pass);
    let r = evaluate(&super::GateInput {
        supply: Some(&a),
        ..w.input()
    });
    assert!(r.go, "{r:#?}");
    let signed = r.checks.iter().find(|c| c.name == "signed").unwrap();
    assert_eq!(signed.reason, "signed by ci");
    assert!(signed.automatic);
}

#[test]
fn a_failed_signature_is_overridden_with_a_reason_only_where_allowed() {
    let mut w = world();
    let a = judged(Verdict::Fail, Verdict::Pass, Verdict::Pass);
    let go = |w: &World| {
        evaluate(&super::GateInput {
            supply: Some(&a),
            ..w.input()
        })
    };
    assert!(!go(&w).go);
    w.overrides = vec![("signed".into(), "cosign outage, INC-7".into())];
    let r = go(&w);
    assert!(r.go, "{r:#?}");
    let c = r.checks.iter().find(|c| c.name == "signed").unwrap();
    assert!(c.overridden && c.reason.starts_with("OVERRIDDEN (cosign outage, INC-7)"));
    w.policy.allow_override = false;
    let r = go(&w);
    assert!(!r.go);
    assert_eq!(verdict(&r, "signed"), Verdict::Fail);
}

#[test]
fn an_unknown_reading_never_passes_even_with_a_reason() {
    let mut w = world();
    let a = judged(Verdict::Unknown, Verdict::Unknown, Verdict::Unknown);
    w.overrides = ["signed", "scanned", "provenance"]
        .iter()
        .map(|n| ((*n).to_string(), "trust me".to_string()))
        .collect();
    let r = evaluate(&super::GateInput {
        supply: Some(&a),
        ..w.input()
    });
    assert!(!r.go);
    for name in ["signed", "scanned", "provenance"] {
        assert_eq!(verdict(&r, name), Verdict::Unknown);
    }
}

#[test]
fn evidence_for_another_digest_is_unknown_never_a_pass() {
    let w = world();
    let mut a = judged(Verdict::Pass, Verdict::Pass, Verdict::Pass);
    a.digest = crate::model::Digest::of_bytes(b"another");
    let r = evaluate(&super::GateInput {
        supply: Some(&a),
        ..w.input()
    });
    assert!(!r.go);
    let c = r.checks.iter().find(|c| c.name == "signed").unwrap();
    assert_eq!(c.verdict, Verdict::Unknown);
    assert!(c.reason.contains("not the digest promoted"), "{}", c.reason);
}
