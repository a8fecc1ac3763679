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

fn managed(deployment: Result<Option<CodeDeployment>, String>) -> LambdaReading {
    let mut r = reading();
    r.codedeploy = Some(CodeDeployView {
        group: "thumbs-app/thumbs-group".into(),
        deployment,
    });
    r
}

fn in_flight(status: &str) -> CodeDeployment {
    CodeDeployment {
        id: "d-ABC123".into(),
        status: status.into(),
        versions: Some(("12".into(), "13".into())),
    }
}

fn line<'a>(s: &'a ServiceSnapshot, label: &str) -> &'a DetailLine {
    s.detail
        .lines
        .iter()
        .find(|l| &*l.label == label)
        .unwrap_or_else(|| panic!("no {label} line in {:?}", s.detail.lines))
}

#[test]
fn a_codedeploy_shift_is_shown_as_codedeploys_with_its_deployment() {
    let mut r = managed(Ok(Some(in_flight("InProgress"))));
    r.weighted = Some(("13".into(), 0.1));
    let s = service_snapshot("thumbnailer", r);
    let cd = line(&s, "deploy");
    assert_eq!(
        &*cd.text,
        "CodeDeploy thumbs-app/thumbs-group · d-ABC123 InProgress · 12 → 13 · 10% on 13"
    );
    assert!(!cd.warn);
    // CodeDeploy's weights: its shift, never "set outside shipdeck".
    let traffic = line(&s, "traffic");
    assert_eq!(
        &*traffic.text,
        "10% on version 13, the rest on 12 (CodeDeploy's shift)"
    );
    assert!(s.detail.badge.is_none());
    let primary = &s.deployments[0];
    assert_eq!(primary.task_definition.to_string(), "thumbs:13");
    assert_eq!(primary.rollout, RolloutState::InProgress);
    let shift = primary.shift.as_ref().unwrap();
    assert_eq!(shift.deployment, "d-ABC123");
    assert!(shift.pause.is_none());
    assert_eq!(shift.cell(at()), "◐ CodeDeploy 10% · in progress");
    assert_eq!(s.deployments[1].task_definition.to_string(), "thumbs:12");
    assert_eq!(s.convergence.state, ConvergenceState::Converging);
    assert!(s.rollout_in_flight());
    // The digest stays the alias's version's until CodeDeploy is done.
    assert_eq!(s.digest.as_ref().unwrap().as_str(), format!("sha256:{D12}"));
}

#[test]
fn a_codedeploy_deployment_before_any_traffic_keeps_the_service_in_progress() {
    let s = service_snapshot("thumbnailer", managed(Ok(Some(in_flight("Created")))));
    assert_eq!(
        &*line(&s, "deploy").text,
        "CodeDeploy thumbs-app/thumbs-group · d-ABC123 Created · 12 → 13"
    );
    assert_eq!(s.deployments.len(), 1);
    let d = &s.deployments[0];
    assert_eq!(d.task_definition.to_string(), "thumbs:12");
    assert_eq!(d.rollout, RolloutState::InProgress);
    assert_eq!(
        d.reason.as_deref(),
        Some("CodeDeploy deployment d-ABC123 Created · 12 → 13")
    );
    assert_eq!(s.convergence.state, ConvergenceState::Converging);
    // Nothing in flight: settled, and said so.
    let s = service_snapshot("thumbnailer", managed(Ok(None)));
    assert_eq!(
        &*line(&s, "deploy").text,
        "CodeDeploy thumbs-app/thumbs-group · no deployment in flight"
    );
    assert_eq!(s.rollout(), RolloutState::Completed);
    assert_eq!(s.convergence.state, ConvergenceState::Converged);
    assert!(!s.has_unknown(false));
}

#[test]
fn an_unreadable_codedeploy_is_unknown_never_green() {
    let s = service_snapshot(
        "thumbnailer",
        managed(Err("codedeploy:ListDeployments on thumbs-app/thumbs-group was refused (AccessDeniedException): no".into())),
    );
    let cd = line(&s, "deploy");
    assert!(cd.warn, "{cd:?}");
    assert!(
        cd.text
            .starts_with("CodeDeploy thumbs-app/thumbs-group · deployment unknown (")
            && cd.text.contains("AccessDeniedException"),
        "{cd:?}"
    );
    assert_eq!(s.rollout(), RolloutState::Unknown);
    assert_eq!(s.convergence.state, ConvergenceState::Unknown);
    assert!(s.has_unknown(false));
    assert!(
        s.unknowns(false)
            .iter()
            .any(|u| u == "rollout state unknown"),
        "{:?}",
        s.unknowns(false)
    );
    assert!(
        s.deployments[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("CodeDeploy unreadable: ")),
        "{:?}",
        s.deployments[0]
    );
    // With weights on the alias: CodeDeploy's shift, its state unknown.
    let mut r = managed(Err("timed out".into()));
    r.weighted = Some(("13".into(), 0.1));
    let s = service_snapshot("thumbnailer", r);
    assert_eq!(s.rollout(), RolloutState::Unknown);
    assert_eq!(
        s.deployments[0].shift.as_ref().unwrap().cell(at()),
        "◐ CodeDeploy 10% · unknown"
    );
    assert_eq!(
        &*line(&s, "deploy").text,
        "CodeDeploy thumbs-app/thumbs-group · deployment unknown (timed out) · 10% on 13"
    );
}
