use chrono::TimeZone;

use super::*;
use crate::model::ConvergenceState;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap()
}

const D12: &str = "a5cf95920b4ba3bbcbd4d2e3a03bc1e2bba0ea9b4e4c0bc60f4fbb4bd2e07273";
const D13: &str = "0cf95920b4ba3bbcbd4d2e3a03bc1e2bba0ea9b4e4c0bc60f4fbb4bd2e072731";

fn artifact(version: u32, hex: &str) -> Artifact {
    Artifact {
        version,
        arn: format!("arn:aws:lambda:eu-west-1:1:function:thumbs:{version}"),
        package: "Image".into(),
        digest: super::super::digest::digest_of("Image", hex),
    }
}

fn reading() -> LambdaReading {
    LambdaReading {
        function: "thumbs".into(),
        alias: "live".into(),
        alias_version: "12".into(),
        weighted: None,
        description: "thumbnails".into(),
        state: Some("Active".into()),
        last_update: Some(("Successful".into(), None)),
        artifacts: vec![artifact(12, D12), artifact(13, D13)],
        plan: vec![1000, 5000, ALL],
        codedeploy: None,
        health: Health::NotConfigured,
        events: Vec::new(),
        metrics: Vec::new(),
        at: at(),
    }
}

#[test]
fn a_settled_alias_is_its_version_and_that_versions_digest() {
    let s = service_snapshot("thumbnailer", reading());
    assert_eq!(s.task_definition.as_ref().unwrap().to_string(), "thumbs:12");
    assert_eq!(s.digest.as_ref().unwrap().as_str(), format!("sha256:{D12}"));
    assert_eq!(s.convergence.state, ConvergenceState::Converged);
    assert_eq!(s.deployments.len(), 1);
    assert!(s.detail.badge.is_none());
    assert_eq!(s.history.len(), 2);
}

#[test]
fn a_weighted_version_is_a_shift_with_the_markers_step_and_pause() {
    let mut r = reading();
    r.weighted = Some(("13".into(), 0.5));
    r.description = Marker {
        run: "promo-1".into(),
        from: 12,
        to: 13,
        step: 2,
        of: 3,
        weight: 5000,
        paused: true,
        at: at().timestamp() - 60,
    }
    .write("thumbnails");
    let s = service_snapshot("thumbnailer", r);
    // The digest stays the alias's version's until the shift ends.
    assert_eq!(s.digest.as_ref().unwrap().as_str(), format!("sha256:{D12}"));
    assert_eq!(s.convergence.state, ConvergenceState::Converging);
    let primary = &s.deployments[0];
    assert_eq!(primary.task_definition.to_string(), "thumbs:13");
    let shift = primary.shift.as_ref().unwrap();
    assert_eq!((shift.new_weight, shift.step), (5000, 2));
    assert_eq!(shift.weights, vec![1000, 5000, ALL]);
    let pause = shift.pause.as_ref().unwrap();
    assert_eq!(pause.expires_at, None, "a pause never times out");
    assert_eq!(pause.hook, "promo-1/2");
    assert_eq!(s.deployments[1].role, DeploymentRole::Active);
    let traffic = s
        .detail
        .lines
        .iter()
        .find(|l| &*l.label == "traffic")
        .unwrap();
    assert_eq!(&*traffic.text, "50% on version 13, the rest on 12");
    assert_eq!(shift.cell(at()), "⏸ linear 50% · awaiting decision");
}

#[test]
fn weights_set_by_hand_are_said_and_never_taken_for_a_step() {
    let mut r = reading();
    r.weighted = Some(("13".into(), 0.1));
    let s = service_snapshot("thumbnailer", r);
    assert_eq!(s.deployments.len(), 1);
    let d = &s.deployments[0];
    assert!(d.shift.is_none());
    assert_eq!(d.task_definition.to_string(), "thumbs:12");
    assert_eq!(
        d.reason.as_deref(),
        Some("10% on version 13 set outside shipdeck")
    );
    assert_eq!(s.convergence.state, ConvergenceState::Converging);
    let badge = s.detail.badge.as_ref().unwrap();
    assert_eq!((badge.text.as_str(), badge.ok), ("v13 10%", false));
    // A marker whose weight is not the alias's: someone changed it since.
    let mut r = reading();
    r.weighted = Some(("13".into(), 0.3));
    r.description = Marker {
        run: "promo-1".into(),
        from: 12,
        to: 13,
        step: 1,
        of: 3,
        weight: 1000,
        paused: false,
        at: 0,
    }
    .write("");
    let s = service_snapshot("thumbnailer", r);
    assert!(
        s.deployments
            .iter()
            .all(|d| d.shift.is_none() && d.id != "promo-1")
    );
}

#[test]
fn an_update_in_progress_or_failed_never_converges() {
    for (update, state) in [
        ("InProgress", "Active"),
        ("Failed", "Active"),
        ("Successful", "Failed"),
    ] {
        let mut r = reading();
        r.last_update = Some((update.into(), Some("why".into())));
        r.state = Some(state.into());
        let s = service_snapshot("thumbnailer", r);
        assert_eq!(
            s.convergence.state,
            ConvergenceState::Converging,
            "{update} {state}"
        );
    }
    let mut r = reading();
    r.last_update = Some(("Failed".into(), Some("image not found".into())));
    let s = service_snapshot("thumbnailer", r);
    let line = s
        .detail
        .lines
        .iter()
        .find(|l| &*l.label == "function")
        .unwrap();
    assert!(
        line.warn && line.text.contains("image not found"),
        "{line:?}"
    );
}

#[test]
fn an_alias_on_latest_or_an_unreadable_artifact_has_no_revision_or_digest() {
    let mut r = reading();
    r.alias_version = "$LATEST".into();
    let s = service_snapshot("thumbnailer", r);
    assert!(s.task_definition.is_none() && s.digest.is_none());
    assert_eq!(s.convergence.state, ConvergenceState::Converging);
    let mut r = reading();
    r.artifacts[0].digest = Err("not a digest".into());
    let s = service_snapshot("thumbnailer", r);
    assert!(s.digest.is_none());
    assert_eq!(s.pinning, Pinning::Unpinned);
    let line = s
        .detail
        .lines
        .iter()
        .find(|l| &*l.label == "artifact")
        .unwrap();
    assert!(line.text.contains("digest unreadable"), "{line:?}");
}

#[test]
fn a_codedeploy_managed_alias_says_so() {
    let mut r = reading();
    r.codedeploy = Some(CodeDeployView {
        group: "thumbs-app/thumbs-group".into(),
        deployment: Some(("d-ABC".into(), "InProgress".into())),
    });
    let s = service_snapshot("thumbnailer", r);
    let line = s
        .detail
        .lines
        .iter()
        .find(|l| &*l.label == "codedeploy")
        .unwrap();
    assert!(line.text.contains("d-ABC InProgress"), "{line:?}");
}
