use chrono::{TimeZone, Utc};

use super::*;
use crate::model::ConvergenceState;
use crate::model::shift::ALL;
use crate::platforms::fly::api::{CheckView, EventView, ImageRefView};

const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 8, 20, 10, 0, 0).unwrap()
}

fn machine(id: &str, region: &str, digest: &str) -> MachineView {
    MachineView {
        id: id.into(),
        name: format!("edge-{region}"),
        state: "started".into(),
        region: region.into(),
        instance_id: format!("{id}-i1"),
        host_status: Some("ok".into()),
        image_ref: Some(ImageRefView {
            registry: "registry.fly.io".into(),
            repository: "edge-prod".into(),
            tag: "deployment-01J9".into(),
            digest: digest.into(),
            labels: [
                ("org.opencontainers.image.revision", "1a2b3c4d5e6f7a8b9c0d"),
                (
                    "org.opencontainers.image.source",
                    "https://github.com/acme/edge",
                ),
                ("org.opencontainers.image.version", "1.0.0"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        }),
        config: serde_json::json!({
            "image": format!("registry.fly.io/edge-prod@{digest}"),
            "metadata": {"fly_process_group": "app", "fly_release_version": "12"},
            "checks": {"health": {"type": "http", "port": 8080, "path": "/health"}},
        }),
        checks: vec![CheckView {
            name: "health".into(),
            status: "passing".into(),
            output: "HTTP GET /health: 200 OK".into(),
            updated_at: None,
        }],
        events: vec![EventView {
            kind: "start".into(),
            status: "started".into(),
            source: "flyd".into(),
            timestamp: at().timestamp_millis() - 60_000,
            request: serde_json::Value::Null,
        }],
        updated_at: Some("2026-08-20T09:00:00Z".into()),
        ..MachineView::default()
    }
}

fn four(digests: [&str; 4]) -> Vec<MachineView> {
    let regions = ["fra", "fra", "ams", "ams"];
    (0..4)
        .map(|i| machine(&format!("148ed726c5d91{i}"), regions[i], digests[i]))
        .collect()
}

fn reading(machines: Vec<MachineView>) -> FlyReading {
    FlyReading {
        app: "edge-prod".into(),
        group: None,
        machines,
        run: None,
        batch: 1,
        health: Health::NotConfigured,
        at: at(),
    }
}

fn text(s: &ServiceSnapshot) -> String {
    s.detail
        .lines
        .iter()
        .map(|l| format!("{} {}{}", l.label, l.text, if l.warn { " !" } else { "" }))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn machines_on_one_digest_with_checks_passing_have_converged_with_labels_and_regions() {
    let s = service_snapshot("edge", reading(four([OLD; 4])));
    assert_eq!(s.digest.as_ref().map(Digest::as_str), Some(OLD));
    assert_eq!(s.pinning, Pinning::Pinned);
    assert_eq!(
        s.task_definition
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("edge-prod@111111111111")
    );
    assert_eq!((s.running, s.desired, s.pending), (4, 4, 0));
    assert!(s.convergence.is_converged());
    assert_eq!(s.rollout(), RolloutState::Completed);
    assert!(!s.has_unknown(false));
    let image = s.image.as_ref().unwrap();
    assert_eq!(image.registry.as_deref(), Some("registry.fly.io"));
    assert_eq!(image.repository, "edge-prod");
    assert_eq!(image.tag.as_deref(), Some("deployment-01J9"));
    assert_eq!(image.version.as_deref(), Some("1.0.0"));
    assert_eq!(image.revision.as_deref(), Some("1a2b3c4d5e6f7a8b9c0d"));
    assert_eq!(
        image.source.as_deref(),
        Some("https://github.com/acme/edge")
    );
    let regions: Vec<String> = s
        .regions
        .as_ref()
        .unwrap()
        .iter()
        .map(|p| format!("{}={}", p.unit, p.region))
        .collect();
    assert_eq!(
        regions,
        [
            "148ed726c5d910=fra",
            "148ed726c5d911=fra",
            "148ed726c5d912=ams",
            "148ed726c5d913=ams"
        ]
    );
    assert_eq!(s.detail.title, "on fly edge-prod");
    assert!(s.detail.badge.is_none());
    let t = text(&s);
    assert!(
        t.contains("machine 148ed726c5d9 fra started 111111111111 v12 checks 1/1 ✓"),
        "{t}"
    );
    // The image and its labels are the pane's own line, from `image`.
    assert!(!t.contains("image"), "{t}");
    assert!(!t.contains(" !"), "{t}");
    // One digest says nothing of order: no history (drift says "differs").
    assert!(s.history.is_empty());
    assert_eq!(s.events.len(), 4);
    assert!(
        s.events[0].message.contains("start started by flyd"),
        "{:?}",
        s.events
    );
}

#[test]
fn machines_on_two_digests_are_a_deploy_in_flight_on_the_old_digest_with_a_mix_badge() {
    let mut ms = four([NEW, OLD, OLD, OLD]);
    ms[0].updated_at = Some("2026-08-20T09:59:00Z".into());
    let s = service_snapshot("edge", reading(ms));
    // The service runs what the machines not yet updated run.
    assert_eq!(s.digest.as_ref().map(Digest::as_str), Some(OLD));
    assert_eq!(s.convergence.state, ConvergenceState::Converging);
    assert_eq!(s.rollout(), RolloutState::InProgress);
    let primary = &s.deployments[0];
    assert_eq!(
        primary.task_definition.to_string(),
        "edge-prod@222222222222"
    );
    assert_eq!((primary.running, primary.desired), (1, 4));
    assert_eq!(s.deployments[1].role, DeploymentRole::Active);
    assert_eq!(
        s.deployments[1].task_definition.to_string(),
        "edge-prod@111111111111"
    );
    let badge = s.detail.badge.as_ref().unwrap();
    assert_eq!(badge.text, "mix 1/4 new");
    assert!(!badge.ok);
    assert!(
        primary
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("machines run 2 images"),
        "{:?}",
        primary.reason
    );
    let order: Vec<String> = s
        .history
        .iter()
        .map(|h| h.task_definition.to_string())
        .collect();
    assert_eq!(order, ["edge-prod@111111111111", "edge-prod@222222222222"]);
}

#[test]
fn blue_green_compat_checks_are_not_counted() {
    let mut ms = four([OLD; 4]);
    ms[1].checks.push(CheckView {
        name: "bg_deployments_compat_http".into(),
        status: "critical".into(),
        output: "compat".into(),
        updated_at: None,
    });
    let s = service_snapshot("edge", reading(ms));
    assert!(s.convergence.is_converged(), "{}", text(&s));
    assert!(!text(&s).contains("compat"));
}

#[test]
fn a_machine_on_a_host_not_ok_makes_the_service_unknown_never_converged() {
    let mut ms = four([OLD; 4]);
    ms[2].host_status = Some("unreachable".into());
    ms[2].incomplete_config = true;
    let s = service_snapshot("edge", reading(ms));
    assert_eq!(s.convergence.state, ConvergenceState::Unknown);
    assert_eq!(s.rollout(), RolloutState::Unknown);
    assert!(s.has_unknown(false));
    let t = text(&s);
    assert!(t.contains("is on a host unreachable"), "{t}");
    assert!(
        t.contains("148ed726c5d9 ams started 111111111111 v12 checks 1/1 (host unreachable: not read whole) !"),
        "{t}"
    );
}

#[test]
fn a_machine_stopped_by_autostop_is_at_rest_not_failing() {
    let mut ms = four([OLD; 4]);
    ms[3].state = "stopped".into();
    ms[3].checks.clear();
    let s = service_snapshot("edge", reading(ms));
    assert_eq!((s.running, s.desired), (3, 4));
    assert!(s.convergence.is_converged(), "{}", text(&s));
    assert_eq!(s.rollout(), RolloutState::Completed);
}

#[test]
fn a_critical_check_or_a_replacing_machine_is_not_converged_and_says_why() {
    let mut ms = four([OLD; 4]);
    ms[1].checks[0].status = "critical".into();
    ms[1].checks[0].output = "HTTP GET /health: 503 Service Unavailable".into();
    ms[1].cordoned = true;
    ms[2].state = "replacing".into();
    let s = service_snapshot("edge", reading(ms));
    assert_eq!(s.convergence.state, ConvergenceState::Converging);
    assert_eq!(s.pending, 1);
    let reason = s.deployments[0].reason.clone().unwrap_or_default();
    assert!(
        reason.contains("check health critical on 148ed726c5d9 (fra): HTTP GET /health: 503"),
        "{reason}"
    );
    assert!(reason.contains("148ed726c5d9 replacing"), "{reason}");
    let t = text(&s);
    assert!(t.contains("checks 0/1 ✗ (check health critical: HTTP GET /health: 503 Service Unavailable; cordoned) !"), "{t}");
}

#[test]
fn a_run_in_flight_shows_its_canary_share_and_pause() {
    let ms = four([NEW, OLD, OLD, OLD]);
    let run = RunView {
        id: "fly-01J9".into(),
        from: Some(OLD.into()),
        to: NEW.into(),
        rollback: false,
        canary: Some("148ed726c5d910".into()),
        updated: vec!["148ed726c5d910".into()],
        total: 4,
        paused_since: Some(at()),
        steps: vec!["canary 148ed726c5d9 (fra) updated".into()],
        ended: None,
        started: at(),
    };
    let mut r = reading(ms);
    r.run = Some(run);
    let s = service_snapshot("edge", r);
    let primary = &s.deployments[0];
    assert_eq!(primary.id, "fly-01J9");
    assert_eq!(primary.rollout, RolloutState::InProgress);
    assert_eq!(primary.steps.len(), 1);
    let shift = primary.shift.as_ref().unwrap();
    assert_eq!(shift.kind, "canary");
    assert_eq!(shift.weights, [2500, 5000, 7500, ALL]);
    assert_eq!((shift.step, shift.new_weight), (1, 2500));
    assert_eq!(shift.stage, "fra");
    assert!(shift.pause.is_some());
    assert_eq!(shift.cell(at()), "⏸ canary 25% · awaiting decision");
    // shipdeck's own run is the shift, not a warning badge.
    assert!(s.detail.badge.is_none());
    assert!(text(&s).contains("canary 148ed726c5d9 (fra) · 1 of 4 machines updated"));
    assert_eq!(s.digest.as_ref().map(Digest::as_str), Some(OLD));
}

#[test]
fn a_failed_run_fails_its_deployment_with_its_reason() {
    let mut r = reading(four([NEW, OLD, OLD, OLD]));
    r.batch = 2;
    r.run = Some(RunView {
        id: "fly-01J9".into(),
        from: Some(OLD.into()),
        to: NEW.into(),
        rollback: false,
        canary: Some("148ed726c5d910".into()),
        updated: vec!["148ed726c5d910".into()],
        total: 4,
        paused_since: None,
        steps: Vec::new(),
        ended: Some(Err("check \"health\" critical".into())),
        started: at(),
    });
    let s = service_snapshot("edge", r);
    assert_eq!(s.rollout(), RolloutState::Failed);
    assert!(s.deployments[0].shift.is_none());
    assert!(!s.deployments[0].nothing_changed);
}

#[test]
fn a_process_group_is_its_own_family_and_an_empty_group_is_unknown() {
    let mut r = reading(Vec::new());
    r.group = Some("worker".into());
    let s = service_snapshot("edge", r);
    assert_eq!(s.ecs_service, "edge-prod.worker");
    assert_eq!(s.rollout(), RolloutState::Unknown);
    assert!(s.has_unknown(false));
    assert!(s.digest.is_none());
    assert!(
        s.deployments[0]
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("edge-prod has no machines in process group worker")
    );
}

#[test]
fn an_app_that_cannot_be_read_is_unknown_with_its_reason() {
    let s = unreadable(
        "edge",
        "edge-prod",
        None,
        "network: connection refused",
        Health::NotConfigured,
        at(),
    );
    assert!(s.has_unknown(false));
    assert!(!s.convergence.is_converged());
    assert!(s.digest.is_none());
    assert_eq!(
        s.deployments[0].reason.as_deref(),
        Some("machines of edge-prod unreadable: network: connection refused")
    );
    assert!(s.detail.lines[0].warn);
}

/// A stage's soak counts from when its last machine got the digest (its
/// newest `update` or `launch` event), not from the reading: the Machines
/// API keeps no deployments. A machine that says nothing counts as just now.
#[test]
fn the_digest_runs_since_its_last_machine_got_it() {
    let d = format!("sha256:{}", "1".repeat(64));
    let mut ms = four([d.as_str(); 4]);
    let update = |hours_ago: i64| EventView {
        kind: "update".into(),
        status: "replacing".into(),
        source: "user".into(),
        timestamp: at().timestamp_millis() - hours_ago * 3_600_000,
        request: serde_json::Value::Null,
    };
    for (i, m) in ms.iter_mut().enumerate() {
        m.events.push(update(30 - i64::try_from(i).unwrap()));
    }
    let s = service_snapshot("edge", reading(ms.clone()));
    let primary = &s.deployments[0];
    assert_eq!(primary.created_at, at() - chrono::Duration::hours(27));
    // Without events or updated_at, nothing has soaked.
    for m in &mut ms {
        m.events.clear();
        m.updated_at = None;
    }
    let s = service_snapshot("edge", reading(ms));
    assert_eq!(s.deployments[0].created_at, at());
}
