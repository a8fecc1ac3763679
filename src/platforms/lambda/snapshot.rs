//! A Lambda service as one reading shows it: the one builder of its
//! [`ServiceSnapshot`], called with what the real API answered and (later)
//! with what the simulator simulates, so both read alike.
//!
//! The alias is the service: its version is the current revision and that
//! version's artifact digest is the service's digest. A second version with
//! a weight is a shift in progress: the new version is the primary
//! deployment with its weight, the alias's version the active one. The
//! shift's step and pause come from shipdeck's marker in the alias's
//! description, which every process reads alike.

use chrono::{DateTime, Utc};

use super::marker::Marker;
use super::routing;
use crate::model::shift::{ALL, Pause, Shift};
use crate::model::{
    Convergence, Deployment, DeploymentConfig, DeploymentRole, DetailBadge, DetailLine, Digest,
    Health, MetricSeries, Pinning, PlatformDetail, Revision, RevisionInfo, RolloutState,
    ServiceEvent, ServiceSnapshot, Strategy,
};

/// One published version and its artifact (immutable once published).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The version's number.
    pub version: u32,
    /// The version's ARN.
    pub arn: String,
    /// `Image` or `Zip`.
    pub package: String,
    /// The artifact's digest, or why `CodeSha256` could not be read as one.
    pub digest: Result<Digest, String>,
}

/// The CodeDeploy deployment group that shifts the alias (SAM's
/// `DeploymentPreference`), as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeDeployView {
    /// The deployment group, `application/group`.
    pub group: String,
    /// Its newest deployment in flight (`None`: none is), or why its
    /// deployments could not be read: then what CodeDeploy does is unknown.
    pub deployment: Result<Option<CodeDeployment>, String>,
}

/// A CodeDeploy deployment in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeDeployment {
    /// Its id (`d-ABC123`).
    pub id: String,
    /// `Created`, `Queued`, `InProgress`, `Baking` or `Ready`.
    pub status: String,
    /// `CurrentVersion` → `TargetVersion`, when its AppSpec names this
    /// function and alias.
    pub versions: Option<(String, String)>,
}

impl CodeDeployment {
    /// `12 → 13`, when its AppSpec names the versions.
    pub fn versions_text(&self) -> Option<String> {
        self.versions
            .as_ref()
            .map(|(from, to)| format!("{from} → {to}"))
    }

    /// ` · 12 → 13`, or nothing.
    fn versions_tail(&self) -> String {
        self.versions_text()
            .map_or_else(String::new, |v| format!(" · {v}"))
    }
}

/// What one reading of a function and its alias found.
#[derive(Debug, Clone)]
pub struct LambdaReading {
    /// The function's name.
    pub function: String,
    /// The alias (`live`).
    pub alias: String,
    /// The alias's version (`12`; `$LATEST` is read as it is).
    pub alias_version: String,
    /// The additional version and its weight, when traffic is split.
    pub weighted: Option<(String, f64)>,
    /// The alias's description (shipdeck's shift marker is at its end).
    pub description: String,
    /// `$LATEST`'s state (`Active`, `Pending`, `Failed`, …).
    pub state: Option<String>,
    /// `$LATEST`'s last update (`Successful`, `InProgress`, `Failed`) and its reason.
    pub last_update: Option<(String, Option<String>)>,
    /// The artifacts of the versions the alias names.
    pub artifacts: Vec<Artifact>,
    /// The configured steps' weights of the new version (hundredths), for
    /// saying "step 2 of 4"; empty when not known.
    pub plan: Vec<u32>,
    /// When CodeDeploy manages the alias: its deployment group and deployment.
    pub codedeploy: Option<CodeDeployView>,
    /// What the service answers, when probed.
    pub health: Health,
    /// Events, newest first.
    pub events: Vec<ServiceEvent>,
    /// Metrics read for it (CloudWatch's, put in by the platform's reading).
    pub metrics: Vec<MetricSeries>,
    /// When it was read.
    pub at: DateTime<Utc>,
}

impl LambdaReading {
    fn artifact(&self, version: &str) -> Option<&Artifact> {
        let n = routing::number(version)?;
        self.artifacts.iter().find(|a| a.version == n)
    }

    fn revision(&self, version: &str) -> Option<Revision> {
        let n = routing::number(version)?;
        let arn = self.artifact(version).map_or("", |a| a.arn.as_str());
        Some(Revision::numbered(&self.function, n, arn))
    }

    /// The shift in progress: the weighted version, its weight and the
    /// marker's step and pause where shipdeck's marker names this shift.
    fn shift(&self) -> Option<(String, u32, Option<Marker>)> {
        let (version, weight) = self.weighted.as_ref()?;
        let hundredths = routing::hundredths(*weight)?;
        // shipdeck's marker counts only while the alias is as it says: weights
        // set by hand since are someone else's change, not this shift.
        let marker = Marker::read(&self.description).filter(|m| {
            routing::number(version) == Some(m.to)
                && routing::number(&self.alias_version) == Some(m.from)
                && m.weight == hundredths
        });
        Some((version.clone(), hundredths, marker))
    }
}

/// The service `service` as `r` found it.
pub fn service_snapshot(service: &str, r: LambdaReading) -> ServiceSnapshot {
    let current = r.revision(&r.alias_version);
    let artifact = r.artifact(&r.alias_version);
    let digest = artifact.and_then(|a| a.digest.clone().ok());
    let updating = r
        .last_update
        .as_ref()
        .is_some_and(|(s, _)| s == "InProgress");
    let failed = r.last_update.as_ref().is_some_and(|(s, _)| s == "Failed")
        || r.state.as_deref() == Some("Failed");
    let shift = r.shift();
    let mut deployments = Vec::new();
    // A shift is shipdeck's only while its marker says so; weights set by
    // someone else are said as such, never taken for a promotion's step.
    // Where CodeDeploy manages the alias, the weights are its shift.
    let managed = r.codedeploy.as_ref();
    let ours = shift
        .as_ref()
        .filter(|(_, _, m)| m.is_some() && managed.is_none());
    let by_hand = shift
        .as_ref()
        .filter(|(_, _, m)| m.is_none() && managed.is_none());
    if let (Some(cd), Some(cur)) = (managed, &current) {
        deployments = codedeploy_deployments(&r, cd, cur, shift.as_ref());
    } else if let (Some((version, weight, marker)), Some(old)) = (ours, &current)
        && let Some(new) = r.revision(version)
    {
        let step = marker.as_ref().map_or(1, |m| m.step);
        // The plan's weights when they match the marker's count of steps;
        // else what is known: this weight, then all of it.
        let weights = match &marker {
            Some(m) if usize::try_from(m.of).is_ok_and(|n| n == r.plan.len()) => r.plan.clone(),
            _ => vec![*weight, ALL],
        };
        let started = marker
            .as_ref()
            .and_then(|m| DateTime::from_timestamp(m.at, 0))
            .unwrap_or(r.at);
        let id = marker
            .as_ref()
            .map_or_else(|| format!("{}:{}", r.function, r.alias), |m| m.run.clone());
        deployments.push(Deployment {
            id: id.clone(),
            role: DeploymentRole::Primary,
            task_definition: new,
            rollout: RolloutState::InProgress,
            reason: None,
            steps: Vec::new(),
            nothing_changed: false,
            shift: Some(Box::new(Shift {
                kind: "linear".to_string(),
                deployment: id.clone(),
                new_weight: *weight,
                weights,
                step,
                started: vec![started],
                stage: if marker.as_ref().is_some_and(|m| m.paused) {
                    "PAUSED".to_string()
                } else {
                    "SHIFTING".to_string()
                },
                ends_at: None,
                // A pause never times out: shipdeck waits for a person.
                pause: marker.as_ref().filter(|m| m.paused).map(|m| Pause {
                    hook: format!("{}/{}", m.run, m.step),
                    expires_at: None,
                    timeout_action: None,
                }),
                revisions: Vec::new(),
            })),
            running: 1,
            desired: 1,
            pending: 0,
            failed_tasks: 0,
            created_at: started,
            updated_at: r.at,
        });
        deployments.push(settled(&id, old.clone(), DeploymentRole::Active, r.at));
    } else if let Some(cur) = &current {
        // Since when it serves its version: the stamp of the change that put
        // it there; without one (set outside shipdeck) not known, and read as
        // just now, so a soak never counts time it cannot vouch for.
        let since = super::settled::Settled::read(&r.description)
            .filter(|s| s.version.to_string() == r.alias_version)
            .and_then(|s| DateTime::from_timestamp(s.at, 0))
            .filter(|t| *t <= r.at)
            .unwrap_or(r.at);
        let mut d = settled(
            &format!("{}:{}", r.function, r.alias),
            cur.clone(),
            DeploymentRole::Primary,
            since,
        );
        if let Some((version, weight, _)) = by_hand {
            d.rollout = RolloutState::InProgress;
            d.reason = Some(format!(
                "{} on version {} set outside shipdeck",
                crate::model::strategy::percent(*weight),
                crate::model::sanitize(version)
            ));
        }
        deployments.push(d);
    }
    let converged = shift.is_none() && !updating && !failed && current.is_some();
    // CodeDeploy unread: whether it is moving the alias is unknown, and
    // unknown never passes for converged.
    let convergence = match managed.map(|cd| &cd.deployment) {
        Some(Err(_)) => Convergence::default(),
        Some(Ok(Some(_))) => Convergence::judged(false),
        Some(Ok(None)) | None => Convergence::judged(converged),
    };
    let history = r
        .artifacts
        .iter()
        .map(|a| RevisionInfo {
            task_definition: Revision::numbered(&r.function, a.version, &a.arn),
            digest: a.digest.clone().ok(),
            active: true,
        })
        .collect::<Vec<_>>()
        .into();
    let detail = detail(&r, shift.clone());
    ServiceSnapshot {
        name: service.to_string(),
        ecs_service: format!("{}:{}", r.function, r.alias),
        image: None,
        pinning: if digest.is_some() {
            Pinning::Pinned
        } else {
            Pinning::Unpinned
        },
        digest,
        task_definition: current,
        running: u32::from(!failed),
        desired: 1,
        pending: u32::from(updating),
        convergence,
        deployments,
        deployment_config: DeploymentConfig {
            circuit_breaker: false,
            circuit_breaker_rollback: false,
            alarm_rollback: false,
            strategy: if r.codedeploy.is_some() {
                Strategy::Other {
                    name: "CodeDeploy traffic shifting".to_string(),
                }
            } else {
                Strategy::Other {
                    name: "alias weights".to_string(),
                }
            },
        },
        alarms: Vec::new(),
        alarms_unknown: None,
        logs: None,
        health: r.health,
        events: r.events,
        history,
        metrics: r.metrics,
        detail,
        // The platform's reading knows the region: see `ServiceSnapshot::placed_in`.
        regions: None,
    }
}

/// The deployments of an alias CodeDeploy manages: its weights are
/// CodeDeploy's shift (the new version primary, labelled as CodeDeploy's),
/// its deployment in flight keeps the service in progress, and a group whose
/// deployments could not be read leaves the rollout unknown, never completed.
fn codedeploy_deployments(
    r: &LambdaReading,
    cd: &CodeDeployView,
    current: &Revision,
    shift: Option<&(String, u32, Option<Marker>)>,
) -> Vec<Deployment> {
    let (id, rollout, reason, stage) = match &cd.deployment {
        Ok(Some(d)) => (
            d.id.clone(),
            RolloutState::InProgress,
            Some(format!(
                "CodeDeploy deployment {} {}{}",
                d.id,
                d.status,
                d.versions_tail()
            )),
            stage_of(&d.status),
        ),
        Ok(None) => (
            format!("{}:{}", r.function, r.alias),
            if shift.is_some() {
                RolloutState::InProgress
            } else {
                RolloutState::Completed
            },
            shift.map(|(v, w, _)| {
                format!(
                    "{} on version {} with no CodeDeploy deployment in flight",
                    crate::model::strategy::percent(*w),
                    crate::model::sanitize(v)
                )
            }),
            "NO_DEPLOYMENT".to_string(),
        ),
        Err(why) => (
            format!("{}:{}", r.function, r.alias),
            RolloutState::Unknown,
            Some(format!("CodeDeploy unreadable: {why}")),
            "UNKNOWN".to_string(),
        ),
    };
    if let Some((version, weight, _)) = shift
        && let Some(new) = r.revision(version)
    {
        let mut primary = settled(&id, new, DeploymentRole::Primary, r.at);
        primary.rollout = rollout;
        primary.reason = reason;
        primary.shift = Some(Box::new(Shift {
            kind: "CodeDeploy".to_string(),
            deployment: id.clone(),
            new_weight: *weight,
            // CodeDeploy's own plan is its deployment configuration's; what
            // is known is this weight, then all of it.
            weights: vec![*weight, ALL],
            step: 1,
            started: Vec::new(),
            stage,
            ends_at: None,
            pause: None,
            revisions: Vec::new(),
        }));
        return vec![
            primary,
            settled(&id, current.clone(), DeploymentRole::Active, r.at),
        ];
    }
    let mut primary = settled(&id, current.clone(), DeploymentRole::Primary, r.at);
    primary.rollout = rollout;
    primary.reason = reason;
    vec![primary]
}

/// CodeDeploy's status as a shift's stage: `InProgress` → `IN_PROGRESS`
/// (the board's cell says `in progress`).
fn stage_of(status: &str) -> String {
    let mut out = String::new();
    for (i, c) in crate::model::sanitize(status).chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_uppercase());
    }
    out
}

fn settled(id: &str, rev: Revision, role: DeploymentRole, at: DateTime<Utc>) -> Deployment {
    Deployment {
        id: id.to_string(),
        role,
        task_definition: rev,
        rollout: RolloutState::Completed,
        reason: None,
        steps: Vec::new(),
        nothing_changed: false,
        shift: None,
        running: 1,
        desired: 1,
        pending: 0,
        failed_tasks: 0,
        created_at: at,
        updated_at: at,
    }
}

/// The detail pane's lines and the board's badge.
fn detail(r: &LambdaReading, shift: Option<(String, u32, Option<Marker>)>) -> PlatformDetail {
    let mut lines = vec![DetailLine::new(
        "alias",
        format!("{}:{} → version {}", r.function, r.alias, r.alias_version),
    )];
    if let Some((version, weight, marker)) = &shift {
        let by_hand = marker.is_none() && r.codedeploy.is_none();
        let line = DetailLine::new(
            "traffic",
            format!(
                "{} on version {}, the rest on {}{}",
                crate::model::strategy::percent(*weight),
                crate::model::sanitize(version),
                r.alias_version,
                if r.codedeploy.is_some() {
                    " (CodeDeploy's shift)"
                } else if by_hand {
                    " (set outside shipdeck)"
                } else {
                    ""
                }
            ),
        );
        lines.push(line.warn_if(by_hand));
    }
    let state = r.state.as_deref().unwrap_or("unknown");
    let (update, reason) = r
        .last_update
        .as_ref()
        .map_or(("unknown", None), |(s, why)| (s.as_str(), why.as_deref()));
    let line = format!(
        "state {state} · last update {update}{}",
        reason.map_or_else(String::new, |w| format!(" ({w})"))
    );
    let bad = state != "Active" || update == "Failed";
    lines.push(DetailLine::new("function", line).warn_if(bad));
    if let Some(a) = r.artifact(&r.alias_version) {
        // The digest itself is the pane's `digest` line: said once.
        let package = a.package.to_lowercase();
        let line = match &a.digest {
            Ok(_) => DetailLine::new("artifact", format!("{package} (CodeSha256 is its digest)")),
            Err(why) => {
                DetailLine::new("artifact", format!("{package}: digest unreadable ({why})"))
                    .warn_if(true)
            }
        };
        lines.push(line);
    }
    if let Some(cd) = &r.codedeploy {
        lines.push(codedeploy_line(cd, shift.as_ref()));
    }
    PlatformDetail {
        title: String::new(),
        lines,
        // The board's cell shows shipdeck's shift itself (`◐ linear 10% ·
        // shifting`); weights set by hand show here, as a warning.
        badge: shift
            .filter(|(_, _, m)| m.is_none() && r.codedeploy.is_none())
            .map(|(version, weight, _)| DetailBadge {
                text: format!(
                    "v{} {}",
                    crate::model::sanitize(&version),
                    crate::model::strategy::percent(weight)
                ),
                ok: false,
            }),
    }
}

/// `deploy   CodeDeploy app/group · d-ABC123 InProgress · 12 → 13 · 10% on 13`
/// (the pane's labels fit 8 characters): the deployment in flight and the
/// traffic it moved (the alias's weights). An unreadable group is said, with
/// its reason, as a warning.
fn codedeploy_line(
    cd: &CodeDeployView,
    shift: Option<&(String, u32, Option<Marker>)>,
) -> DetailLine {
    let traffic = shift.map_or_else(String::new, |(v, w, _)| {
        format!(
            " · {} on {}",
            crate::model::strategy::percent(*w),
            crate::model::sanitize(v)
        )
    });
    let (text, warn) = match &cd.deployment {
        Ok(Some(d)) => (
            format!(
                "CodeDeploy {} · {} {}{}{traffic}",
                cd.group,
                d.id,
                d.status,
                d.versions_tail()
            ),
            false,
        ),
        Ok(None) => (
            format!("CodeDeploy {} · no deployment in flight{traffic}", cd.group),
            shift.is_some(),
        ),
        Err(why) => (
            format!(
                "CodeDeploy {} · deployment unknown ({why}){traffic}",
                cd.group
            ),
            true,
        ),
    };
    DetailLine::new("deploy", text).warn_if(warn)
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
