//! Lambda promotions on moto where who acts matters: four eyes at a pause
//! between two IAM identities (from STS, not an override), and a person
//! without the permission to shift, refused with nothing half-applied.

use serde_json::Value;

use crate::lambda::{fixture, image_stages, ledger, shipdeck};
use crate::support::emulators;

/// Staging's alias on image 2 and prod's on image 1, as the CLI tests set
/// them up; the configuration pauses prod's two steps for one other person.
fn stages(url: &str, dir: &std::path::Path) -> std::path::PathBuf {
    image_stages(
        url,
        dir,
        "",
        r#"["10% 1s", "100%"]"#,
        "timeout = \"5m\"\npause_steps = true\nstep_approvals = 1",
    )
}

/// shipdeck as the IAM user `user` answered by the fixture (its own keys,
/// no operator override: who it is comes from STS).
fn as_user(dir: &std::path::Path, config: &std::path::Path, user: &Value) -> std::process::Command {
    let mut cmd = shipdeck(dir, config);
    cmd.env_remove("SHIPDECK_OPERATOR")
        .env("AWS_ACCESS_KEY_ID", user["access_key_id"].as_str().unwrap())
        .env(
            "AWS_SECRET_ACCESS_KEY",
            user["secret_access_key"].as_str().unwrap(),
        );
    cmd
}

fn output(mut cmd: std::process::Command, args: &[&str]) -> (i32, String) {
    let out = cmd.args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The alias's marker says the shift waits at `step`.
fn paused_at(url: &str, step: u32) -> bool {
    let a = fixture(url, &["alias", "thumbs-prod", "live"]);
    a["Description"]
        .as_str()
        .and_then(shipdeck::platforms::lambda::marker::Marker::read)
        .is_some_and(|m| m.paused && m.step == step)
}

#[test]
fn a_pause_is_continued_by_another_identity_never_by_the_initiator() {
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let moto = emulators::moto_lambda(&bin);
    let dir = tempfile::tempdir().unwrap();
    let config = stages(&moto.url, dir.path());
    let alice = fixture(&moto.url, &["user", "alice"]);
    let bob = fixture(&moto.url, &["user", "bob"]);

    // alice promotes and watches, in her own process.
    let mut promote = as_user(dir.path(), &config, &alice);
    promote
        .args(["promote", "thumbnailer", "--to", "prod", "--yes", "--wait"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let watching = promote.spawn().unwrap();
    let mut waited = 0;
    while !paused_at(&moto.url, 1) {
        waited += 1;
        assert!(waited < 120, "the shift never paused at step 1");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }

    // Her own continue is refused: four eyes, judged on her IAM identity.
    let (code, said) = output(
        as_user(dir.path(), &config, &alice),
        &["step", "continue", "thumbnailer", "--env", "prod", "--yes"],
    );
    assert_ne!(code, 0, "{said}");
    assert!(
        said.contains("four eyes: arn:aws:iam::123456789012:user/alice started this promotion"),
        "{said}"
    );
    // The pause does not time out while nobody decides.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(paused_at(&moto.url, 1));

    // bob continues: the last step points the alias at the new version.
    let (code, said) = output(
        as_user(dir.path(), &config, &bob),
        &[
            "step",
            "continue",
            "thumbnailer",
            "--env",
            "prod",
            "--yes",
            "--reason",
            "clean at 10%",
        ],
    );
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("step continue: applied"), "{said}");
    let out = watching.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    let alias = fixture(&moto.url, &["alias", "thumbs-prod", "live"]);
    assert_eq!(alias["FunctionVersion"], "2", "{alias}");
    assert_eq!(alias["Weights"], serde_json::json!({}));

    // The decision is on the record, by bob's identity, with his reason.
    let (records, _) = ledger(dir.path());
    let decision = records
        .iter()
        .find(|r| r["kind"] == "step_decision")
        .unwrap_or_else(|| panic!("{records:#?}"));
    assert_eq!(
        decision["operator"], "arn:aws:iam::123456789012:user/bob",
        "{decision}"
    );
    assert!(decision.to_string().contains("clean at 10%"), "{decision}");
}

#[test]
fn a_person_without_permission_is_refused_and_nothing_is_half_applied() {
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let moto = emulators::moto_iam(&bin);
    let dir = tempfile::tempdir().unwrap();
    let config = stages(&moto.url, dir.path());
    let reader = fixture(&moto.url, &["restricted-user", "reader"]);
    fixture(&moto.url, &["enforce-iam", "0"]);

    // Reading is allowed: status shows both stages.
    let (code, said) = output(as_user(dir.path(), &config, &reader), &["status"]);
    assert!(code == 0 || code == 1, "{said}");
    assert!(!said.contains("AccessDenied"), "{said}");
    // Promoting is not: refused naming the permission, with exit 1.
    let (code, said) = output(
        as_user(dir.path(), &config, &reader),
        &["promote", "thumbnailer", "--to", "prod", "--yes", "--wait"],
    );
    fixture(&moto.url, &["enforce-iam", "inf"]);
    assert_ne!(code, 0, "{said}");
    assert!(
        said.contains("not authorised: lambda:UpdateFunctionCode on thumbs-prod was refused"),
        "{said}"
    );
    // Nothing was changed: no version published, the alias as it was.
    let alias = fixture(&moto.url, &["alias", "thumbs-prod", "live"]);
    assert_eq!(alias["FunctionVersion"], "1", "{alias}");
    assert_eq!(alias["Weights"], serde_json::json!({}));
    let f = fixture(&moto.url, &["function", "thumbs-prod"]);
    assert_eq!(f["versions"], serde_json::json!(["$LATEST", "1"]), "{f}");
    // And the record says the promotion failed, and why.
    let (records, _) = ledger(dir.path());
    let failed = records
        .iter()
        .find(|r| r["kind"] == "deploy_failed")
        .unwrap_or_else(|| panic!("{records:#?}"));
    assert!(
        failed.to_string().contains("lambda:UpdateFunctionCode"),
        "{failed}"
    );
}
