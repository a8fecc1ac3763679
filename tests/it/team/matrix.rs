//! The approval matrix with two (and more) identities on a team table:
//! people are STS assumed-role sessions on moto, their roles come from the
//! configuration's patterns, and a promotion into prod holds until the
//! business slot is filled by someone who holds that role.

use std::path::Path;

use shipdeck::ledger::{Ledger, RecordKind};

use super::{Table, cmd, store, table};

/// Credentials of an STS session of `role` named `session`, from moto.
fn session(moto_url: &str, role: &str, session: &str) -> (String, String, String) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::Config::builder()
                .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
                .region(aws_sdk_sts::config::Region::new("us-east-1"))
                .credentials_provider(super::creds())
                .endpoint_url(moto_url)
                .build(),
        );
        let out = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::123456789012:role/{role}"))
            .role_session_name(session)
            .send()
            .await
            .unwrap();
        let c = out.credentials().unwrap();
        (
            c.access_key_id().to_string(),
            c.secret_access_key().to_string(),
            c.session_token().to_string(),
        )
    })
}

/// The command as the STS session `who` (`Role/session`), never an override.
fn as_session(dir: &Path, cfg: &Path, moto_url: &str, who: &str) -> assert_cmd::Command {
    let (role, name) = who.split_once('/').unwrap();
    let (key, secret, token) = session(moto_url, role, name);
    let mut c = cmd(dir, cfg, "ignored");
    c.env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_SESSION_TOKEN", token);
    c
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_business_slot_is_filled_only_by_a_business_session() {
    let Some(Table { moto, dir, cfg }) = table("team-matrix", "") else {
        return;
    };
    // Operators are STS callers; roles by assumed-role patterns; prod's
    // feature row needs a developer and someone from the business.
    let base = std::fs::read_to_string(&cfg).unwrap();
    let text_cfg = base
        .replace(
            "allow_operator_override = true",
            "allow_operator_override = false",
        )
        .replace(
            "change_record_pattern = \"^CHG-[0-9]+$\"",
            "change_record_pattern = \"^CHG-[0-9]+$\"\n[environment.gate.approvals]\nfeature = \"1 developer, 1 business\"",
        )
        .replace(
            "[team]\n",
            "[team.roles]\ndeveloper = [\"arn:aws:sts::*:assumed-role/Developer/*\"]\nbusiness = [\"arn:aws:sts::*:assumed-role/Business/*\"]\n[team]\n",
        );
    assert_ne!(base, text_cfg);
    std::fs::write(&cfg, text_cfg).unwrap();
    let url = moto.url.clone();
    let d = dir.path();
    let promote = [
        "promote",
        "api",
        "--to",
        "prod",
        "--change",
        "CHG-9",
        "--change-type",
        "feature",
        "--yes",
        "--json",
    ];
    let first = as_session(d, &cfg, &url, "Developer/alice")
        .args(promote)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(report["outcome"], "no_go", "{report}");
    assert!(
        text(&first).contains("needs 1 developer, 1 business"),
        "{}",
        text(&first)
    );
    let id = report["promotion"].as_str().unwrap().to_string();

    // Another machine lists what is open.
    let other = tempfile::tempdir().unwrap();
    let listed = as_session(other.path(), &cfg, &url, "Business/carol")
        .args(["approvals"])
        .output()
        .unwrap();
    let out = text(&listed);
    assert!(out.contains("needs 1 developer, 1 business"), "{out}");
    assert!(out.contains("type: feature"), "{out}");

    // bob (developer) fills the developer slot.
    let bob = as_session(other.path(), &cfg, &url, "Developer/bob")
        .args(["approve", "--yes", &id])
        .output()
        .unwrap();
    let out = text(&bob);
    assert!(bob.status.success(), "{out}");
    assert!(out.contains("as developer"), "{out}");
    assert!(out.contains("· needs 1 business"), "{out}");

    // dave is a developer too: his approval fills nothing and is not written.
    let dave = as_session(other.path(), &cfg, &url, "Developer/dave")
        .args(["approve", "--yes", &id])
        .output()
        .unwrap();
    let out = text(&dave);
    assert!(!dave.status.success(), "{out}");
    assert!(
        out.contains("fills no open slot of this promotion: needs 1 business"),
        "{out}"
    );

    // The promotion still holds, naming the open slot.
    let held = as_session(d, &cfg, &url, "Developer/alice")
        .args(promote)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&held.stdout).unwrap();
    assert_eq!(report["outcome"], "no_go", "{report}");
    assert_eq!(report["promotion"], id.as_str());
    assert!(text(&held).contains("needs 1 business"), "{}", text(&held));

    // carol (business) fills it; the promotion goes through.
    let carol = as_session(other.path(), &cfg, &url, "Business/carol")
        .args(["approve", "--yes", &id])
        .output()
        .unwrap();
    let out = text(&carol);
    assert!(carol.status.success(), "{out}");
    assert!(out.contains("as business"), "{out}");
    let mut wait = promote.to_vec();
    wait.push("--wait");
    let done = as_session(d, &cfg, &url, "Developer/alice")
        .args(&wait)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(report["outcome"], "succeeded", "{report}");

    // The ledger holds who approved as what, and the change type.
    let records = Ledger::team(store(&moto, "team-matrix")).read().unwrap();
    let approvals: Vec<(String, Vec<String>)> = records
        .iter()
        .filter(|r| r.kind == RecordKind::Approval)
        .map(|r| (r.draft.operator.clone(), r.draft.roles.clone()))
        .collect();
    assert_eq!(
        approvals,
        [
            (
                "arn:aws:sts::123456789012:assumed-role/Developer/bob".to_string(),
                vec!["developer".to_string()]
            ),
            (
                "arn:aws:sts::123456789012:assumed-role/Business/carol".to_string(),
                vec!["business".to_string()]
            ),
        ]
    );
    let issued = records
        .iter()
        .find(|r| r.kind == RecordKind::DeployIssued)
        .unwrap();
    assert_eq!(issued.draft.change_type.as_deref(), Some("feature"));
}
