//! A promotion's commit message, and a rollback's reading of its Rollout:
//! the status counts only once the controller has seen the reverted
//! template.

use serde_json::{Value, json};

use super::*;

const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn rollout(img: &str, generation: i64, status: &Value) -> Rollout {
    serde_json::from_value(json!({
        "metadata": {"name": "search", "namespace": "shop-prod", "generation": generation},
        "spec": {"replicas": 4, "template": {"spec": {"containers": [
            {"name": "app", "image": format!("ghcr.io/acme/search@{img}")}]}}},
        "status": status,
    }))
    .unwrap()
}

fn old() -> Digest {
    Digest::parse(OLD).unwrap()
}

#[test]
fn the_promoted_images_healthy_status_is_not_read_as_a_straight_revert() {
    // Argo CD wrote the reverted template (generation 3); the controller's
    // status is still the promoted image's, settled at generation 2.
    let settled = json!({"phase": "Healthy", "currentPodHash": "bbb", "stableRS": "bbb",
                         "observedGeneration": "2"});
    let r = rollout(OLD, 3, &settled);
    assert_eq!(revert_state(Some(&r), None, &old()), Revert::Pending);
    // No observed generation at all is not seen either.
    let r = rollout(
        OLD,
        3,
        &json!({"phase": "Healthy", "currentPodHash": "bbb", "stableRS": "bbb"}),
    );
    assert_eq!(revert_state(Some(&r), None, &old()), Revert::Pending);
}

#[test]
fn once_seen_a_canary_is_skipped_and_a_return_to_stable_needs_nothing() {
    let canary = json!({"phase": "Paused", "currentPodHash": "aaa", "stableRS": "bbb",
                        "observedGeneration": "3"});
    let r = rollout(OLD, 3, &canary);
    assert_eq!(revert_state(Some(&r), None, &old()), Revert::Canary);
    let straight = json!({"phase": "Healthy", "currentPodHash": "aaa", "stableRS": "aaa",
                          "observedGeneration": 3});
    let r = rollout(OLD, 3, &straight);
    assert_eq!(revert_state(Some(&r), None, &old()), Revert::Straight);
    // Back on stable but still progressing: wait.
    let moving = json!({"phase": "Progressing", "currentPodHash": "aaa", "stableRS": "aaa",
                        "observedGeneration": "3"});
    let r = rollout(OLD, 3, &moving);
    assert_eq!(revert_state(Some(&r), None, &old()), Revert::Pending);
}

#[test]
fn a_template_not_yet_reverted_or_a_missing_rollout_is_pending() {
    let canary = json!({"phase": "Paused", "currentPodHash": "aaa", "stableRS": "bbb",
                        "observedGeneration": "3"});
    let r = rollout(NEW, 3, &canary);
    assert_eq!(revert_state(Some(&r), None, &old()), Revert::Pending);
    assert_eq!(revert_state(None, None, &old()), Revert::Pending);
}

#[test]
fn the_message_names_the_promotion_the_change_record_the_digest_and_who() {
    let d = Digest::of_bytes(b"x");
    let by = Asking {
        operator: "alice".into(),
        promotion: Some("P-7".into()),
        change_record: Some("CHG-42".into()),
        rollback: false,
        reason: None,
    };
    let m = message("search", "prod", &d, &by, false);
    assert!(
        m.starts_with(&format!(
            "shipdeck: promote search to {} in prod\n\n",
            d.short()
        )),
        "{m}"
    );
    for want in [
        "Promotion: P-7",
        "Change: CHG-42",
        &format!("Digest: {d}"),
        "Operator: alice",
    ] {
        assert!(m.contains(want), "{want} in {m}");
    }
    let back = message(
        "search",
        "prod",
        &d,
        &Asking {
            reason: Some("errors above 2 %\n\u{1b}[31m".into()),
            ..by
        },
        true,
    );
    assert!(
        back.starts_with("shipdeck: roll back search in prod"),
        "{back}"
    );
    assert!(back.contains("Reason: errors above 2 %"), "{back}");
    assert!(!back.contains('\u{1b}'), "{back}");
}

#[test]
fn the_author_is_the_operator() {
    let a = author(&Asking {
        operator: "bob".into(),
        ..Asking::default()
    });
    assert_eq!(
        (a.name.as_str(), a.email.as_str()),
        ("bob", "bob@shipdeck.invalid")
    );
    let a = author(&Asking {
        operator: "carol@example.com".into(),
        ..Asking::default()
    });
    assert_eq!(a.email, "carol@example.com");
}
