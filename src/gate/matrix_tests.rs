//! The runbook's approval matrix, row by row: who fills which slot, from
//! identity patterns; a person once; the initiator never under four eyes.

use rstest::rstest;

use super::tests::{World, verdict};
use super::{Verdict, evaluate};
use crate::config::approvals::{MatrixRow, Role, Roles, Slot};

/// The team: roles from STS assumed-role ARNs, and OS users in file mode.
fn roles() -> Roles {
    let role = |name: &str, patterns: &[&str]| Role {
        name: name.to_string(),
        patterns: patterns.iter().map(|p| (*p).to_string()).collect(),
    };
    Roles(vec![
        role(
            "developer",
            &["arn:aws:sts::*:assumed-role/Developer/*", "dev-*"],
        ),
        role(
            "senior",
            &["arn:aws:sts::*:assumed-role/Senior/*", "senior-*"],
        ),
        role(
            "business",
            &["arn:aws:sts::*:assumed-role/Business/*", "biz-*"],
        ),
        role("devops", &["arn:aws:sts::*:assumed-role/DevOps/*", "ops-*"]),
    ])
}

fn row(change_type: &str, slots: &str, may_skip_stage: bool) -> MatrixRow {
    MatrixRow {
        change_type: change_type.to_string(),
        slots: slots
            .split(", ")
            .map(|s| {
                let (n, role) = s.split_once(' ').unwrap();
                Slot {
                    role: Some(role.to_string()),
                    count: n.parse().unwrap(),
                }
            })
            .collect(),
        may_skip_stage,
    }
}

/// The runbook's table.
fn matrix(stage: &str) -> Vec<MatrixRow> {
    match stage {
        "staging" => vec![
            row("feature", "1 developer", false),
            row("bugfix", "1 developer", false),
            row("hotfix", "1 senior", false),
            row("infrastructure", "1 devops", false),
            row("configuration", "1 developer", false),
        ],
        _ => vec![
            row("feature", "2 developer, 1 business", false),
            row("bugfix", "2 developer", false),
            row("hotfix", "1 senior, 1 business", true),
            row("infrastructure", "2 devops, 1 developer", false),
            row("configuration", "1 senior, 1 devops", false),
        ],
    }
}

fn sts(role: &str, session: &str) -> String {
    format!("arn:aws:sts::123456789012:assumed-role/{role}/{session}")
}

fn world(stage: &str, change_type: &str, approvers: &[String]) -> World {
    let mut w = World::new();
    w.policy.matrix = matrix(stage);
    w.policy.four_eyes = true;
    w.roles = roles();
    w.change_type = Some(change_type.to_string());
    w.approvers = approvers.to_vec();
    w
}

fn approvals(w: &World) -> (Verdict, String) {
    let r = evaluate(&w.input());
    let c = r.checks.iter().find(|c| c.name == "approvals").unwrap();
    (c.verdict, c.reason.clone())
}

/// Each row: the approvers that fill it, and with the last one missing,
/// what it still needs.
#[rstest]
#[case::staging_feature("staging", "feature", &[sts("Developer", "bob")], "needs 1 developer")]
#[case::staging_bugfix("staging", "bugfix", &["dev-dave".to_string()], "needs 1 developer")]
#[case::staging_hotfix("staging", "hotfix", &[sts("Senior", "sam")], "needs 1 senior")]
#[case::staging_infrastructure("staging", "infrastructure", &[sts("DevOps", "olga")], "needs 1 devops")]
#[case::staging_configuration("staging", "configuration", &[sts("Developer", "bob")], "needs 1 developer")]
#[case::prod_feature(
    "prod",
    "feature",
    &[sts("Developer", "bob"), "dev-dave".to_string(), sts("Business", "carol")],
    "needs 1 business"
)]
#[case::prod_bugfix("prod", "bugfix", &[sts("Developer", "bob"), sts("Developer", "dave")], "needs 1 developer")]
#[case::prod_hotfix("prod", "hotfix", &[sts("Senior", "sam"), sts("Business", "carol")], "needs 1 business")]
#[case::prod_infrastructure(
    "prod",
    "infrastructure",
    &[sts("DevOps", "olga"), "ops-oscar".to_string(), sts("Developer", "bob")],
    "needs 1 developer"
)]
#[case::prod_configuration("prod", "configuration", &[sts("Senior", "sam"), sts("DevOps", "olga")], "needs 1 devops")]
fn each_row_of_the_runbooks_matrix(
    #[case] stage: &str,
    #[case] change_type: &str,
    #[case] enough: &[String],
    #[case] short_of_last: &str,
) {
    let (v, why) = approvals(&world(stage, change_type, enough));
    assert_eq!(v, Verdict::Pass, "{stage} {change_type}: {why}");
    assert!(!why.contains("needs"), "{why}");
    let fewer = &enough[..enough.len() - 1];
    let (v, why) = approvals(&world(stage, change_type, fewer));
    assert_eq!(v, Verdict::Pending, "{stage} {change_type}: {why}");
    assert!(why.ends_with(short_of_last), "{stage} {change_type}: {why}");
    // The wrong people never fill a row: a business person alone fills
    // nothing but a business slot.
    let (v, _) = approvals(&world(stage, change_type, &[sts("Marketing", "mia")]));
    assert_eq!(v, Verdict::Pending);
}

#[test]
fn a_developers_approval_does_not_fill_the_business_slot() {
    let devs = [
        sts("Developer", "bob"),
        sts("Developer", "dave"),
        sts("Developer", "erin"),
    ];
    let (v, why) = approvals(&world("prod", "feature", &devs));
    assert_eq!(v, Verdict::Pending);
    assert_eq!(
        why,
        format!(
            "2 of 3 approvals (developer: {}, {}) · needs 1 business",
            devs[0], devs[1]
        )
    );
}

#[test]
fn a_person_matching_two_roles_counts_once() {
    let mut r = roles();
    // Sam is a developer by one pattern and business by another.
    r.0[2].patterns.push("sam".to_string());
    r.0[0].patterns.push("sam".to_string());
    let mut w = world(
        "prod",
        "feature",
        &["sam".to_string(), sts("Developer", "bob")],
    );
    w.roles = r;
    let (v, why) = approvals(&w);
    assert_eq!(v, Verdict::Pending, "{why}");
    assert!(why.starts_with("2 of 3 approvals"), "{why}");
    // Another developer completes it: sam moves to the business slot.
    w.approvers.push("dev-dave".to_string());
    let (v, why) = approvals(&w);
    assert_eq!(v, Verdict::Pass, "{why}");
    assert!(why.contains("business: sam"), "{why}");
}

#[test]
fn the_initiator_never_counts_under_four_eyes() {
    // alice initiated; her business approval (another spelling of her own
    // session) is not counted.
    let mut w = world(
        "prod",
        "hotfix",
        &[
            sts("Senior", "sam"),
            "arn:aws:sts::123456789012:assumed-role/BUSINESS/alice".to_string(),
        ],
    );
    w.roles.0[2]
        .patterns
        .push("arn:aws:sts::*:assumed-role/BUSINESS/*".to_string());
    let alice = sts("Business", "alice");
    let r = evaluate(&super::GateInput {
        initiator: &alice,
        ..w.input()
    });
    let c = r.checks.iter().find(|c| c.name == "approvals").unwrap();
    assert_eq!(c.verdict, Verdict::Pending, "{}", c.reason);
    assert!(c.reason.ends_with("needs 1 business"), "{}", c.reason);
    // Without four eyes the initiator may fill a slot.
    w.policy.four_eyes = false;
    let r = evaluate(&super::GateInput {
        initiator: &alice,
        ..w.input()
    });
    assert_eq!(verdict(&r, "approvals"), Verdict::Pass);
}

#[test]
fn a_change_type_must_be_chosen_and_known() {
    let mut w = world("prod", "feature", &[]);
    w.change_type = None;
    let r = evaluate(&w.input());
    assert_eq!(verdict(&r, "change_type"), Verdict::Pending);
    assert!(!r.go);
    w.change_type = Some("refactor".to_string());
    let r = evaluate(&w.input());
    assert_eq!(verdict(&r, "change_type"), Verdict::Fail);
}

#[test]
fn only_a_change_type_the_matrix_allows_may_skip_a_stage() {
    let mut w = world(
        "prod",
        "hotfix",
        &[sts("Senior", "sam"), sts("Business", "carol")],
    );
    w.hotfix = true;
    w.skipped = vec!["staging".to_string()];
    let r = evaluate(&w.input());
    assert_eq!(verdict(&r, "skip_stage"), Verdict::Pass);
    assert_eq!(verdict(&r, "approvals"), Verdict::Pass);
    w.change_type = Some("feature".to_string());
    let r = evaluate(&w.input());
    let c = r.checks.iter().find(|c| c.name == "skip_stage").unwrap();
    assert_eq!(c.verdict, Verdict::Fail);
    assert_eq!(
        c.reason,
        "a feature may not skip staging here (only hotfix may)"
    );
    // In staging's matrix nothing may skip.
    let mut w = world("staging", "hotfix", &[sts("Senior", "sam")]);
    w.hotfix = true;
    let r = evaluate(&w.input());
    assert_eq!(verdict(&r, "skip_stage"), Verdict::Fail);
}

#[test]
fn without_a_matrix_approvals_count_as_before() {
    let mut w = World::new();
    w.policy.approvals_required = 2;
    w.approvers = vec!["bob".into()];
    let r = evaluate(&w.input());
    let c = r.checks.iter().find(|c| c.name == "approvals").unwrap();
    assert_eq!(c.reason, "1 of 2 approvals (bob) · needs 1 approver");
    assert!(r.checks.iter().all(|c| c.name != "change_type"));
}
