//! A Fly service as one reading shows it: the one builder of its
//! [`ServiceSnapshot`], called with the machines the Machines API listed and
//! (later) with the simulator's, so both read alike.
//!
//! The machines of the app (or of its process group) are the service. The
//! digest they all run is its digest; while they run more than one (a
//! promotion in flight, or one that stopped half way) the service's digest is
//! the one of the machines not yet updated, the newer one is the primary
//! deployment, and the service has not converged. The revision is
//! `app[.group]@<digest's 12 hex>`: shipdeck's updates create no Fly release,
//! so Fly's `fly_release_version` is shown per machine but names nothing.
//!
//! Only a machine whose host answers is read whole: a host that is not `ok`
//! makes the service unknown, never converged. A started machine counts as
//! healthy only with every check passing; a stopped one (autostop) is at
//! rest, not failing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::api::{CheckView, MachineView, RunView};
use super::words;
use crate::model::{
    Convergence, Deployment, DeploymentConfig, DeploymentRole, DetailBadge, Digest, Health,
    ImageRef, Pinning, Placement, PlatformDetail, Revision, RevisionInfo, RolloutState,
    ServiceEvent, ServiceSnapshot, Strategy,
};

/// Events kept per service, newest first.
const EVENTS: usize = 20;
/// What one reading of an app's machines found.
#[derive(Debug, Clone)]
pub struct FlyReading {
    /// The Fly app.
    pub app: String,
    /// The process group, when the service is one group of the app.
    pub group: Option<String>,
    /// The machines of the service, as listed (already of its group, without
    /// destroyed, release-command and console machines).
    pub machines: Vec<MachineView>,
    /// This process's run on the service, if any.
    pub run: Option<RunView>,
    /// Machines per batch after the canary (for the shift's steps).
    pub batch: usize,
    /// What the service answers, when probed.
    pub health: Health,
    /// When it was read.
    pub at: DateTime<Utc>,
}

/// The family of a Fly service's revisions: `app`, or `app.group`.
pub fn family(app: &str, group: Option<&str>) -> String {
    group.map_or_else(|| app.to_string(), |g| format!("{app}.{g}"))
}

/// The revision of `digest` on `app[.group]`: `edge-prod@1111aaaa2222`.
pub fn revision(app: &str, group: Option<&str>, digest: &Digest) -> Revision {
    Revision::labelled(&family(app, group), digest.short())
}

/// A machine as the snapshot judges it.
#[derive(Debug, Clone)]
pub(crate) struct Judged<'a> {
    pub m: &'a MachineView,
    /// The digest it runs, when the API names a valid one.
    pub digest: Option<Digest>,
    /// Its host answered (`ok`, or not said) and its config is whole.
    pub known: bool,
    /// On its way to another state.
    pub transient: bool,
    /// Checks passing, and checks reported (compat checks dropped).
    pub passing: usize,
    /// Checks reported.
    pub reported: usize,
    /// Checks its config defines.
    pub defined: usize,
    /// The first check that is critical, if any.
    pub critical: Option<&'a CheckView>,
}

impl Judged<'_> {
    /// Started with every check it defines passing (a stopped machine is
    /// at rest: nothing to pass).
    pub fn checks_ok(&self) -> bool {
        if self.m.state != "started" {
            return true;
        }
        self.critical.is_none()
            && self.passing == self.reported
            && self.reported >= self.defined.min(1)
    }
}

pub(crate) fn judge(m: &MachineView) -> Judged<'_> {
    let reported: Vec<&CheckView> = super::steps::checks(m).collect();
    Judged {
        m,
        digest: m.digest().and_then(|d| Digest::parse(d).ok()),
        known: m.is_known(),
        transient: m.is_transient(),
        passing: reported.iter().filter(|c| c.status == "passing").count(),
        reported: reported.len(),
        defined: super::steps::configured_checks(m),
        critical: reported.iter().find(|c| c.status == "critical").copied(),
    }
}

/// When a machine last changed: its `updated_at`, else its newest event.
fn changed_at(m: &MachineView) -> Option<DateTime<Utc>> {
    m.updated_at
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| {
            m.events
                .iter()
                .map(|e| e.timestamp)
                .max()
                .and_then(DateTime::from_timestamp_millis)
        })
}

/// When a machine got what it runs now: its newest `launch` or `update`
/// event, else when it last changed.
fn deployed_at(m: &MachineView) -> Option<DateTime<Utc>> {
    m.events
        .iter()
        .filter(|e| e.kind == "launch" || e.kind == "update")
        .map(|e| e.timestamp)
        .max()
        .and_then(DateTime::from_timestamp_millis)
        .or_else(|| changed_at(m))
}

/// Since when every machine of `on` has run its digest (the last one to get
/// it), for a stage's soak; `at` (no time soaked) where one does not say.
fn running_since(on: &[&Judged<'_>], at: DateTime<Utc>) -> DateTime<Utc> {
    on.iter()
        .map(|j| deployed_at(j.m))
        .try_fold(DateTime::<Utc>::MIN_UTC, |newest, t| Some(newest.max(t?)))
        .filter(|t| *t != DateTime::<Utc>::MIN_UTC && *t <= at)
        .unwrap_or(at)
}

/// The digests the machines run, with their machines, most machines first.
fn by_digest<'a>(judged: &'a [Judged<'a>]) -> Vec<(Digest, Vec<&'a Judged<'a>>)> {
    let mut map: BTreeMap<Digest, Vec<&Judged<'_>>> = BTreeMap::new();
    for j in judged {
        if let Some(d) = &j.digest {
            map.entry(d.clone()).or_default().push(j);
        }
    }
    let mut out: Vec<_> = map.into_iter().collect();
    out.sort_by_key(|(_, ms)| std::cmp::Reverse(ms.len()));
    out
}

/// Which digest is the newer one (the primary) and which the older, read
/// from the run, else from the machines: the one a machine was changed to
/// last is newer.
fn new_and_old(
    groups: &[(Digest, Vec<&Judged<'_>>)],
    run: Option<&RunView>,
) -> (Option<Digest>, Option<Digest>) {
    if let Some(run) = run
        && let Ok(to) = Digest::parse(&run.to)
    {
        let from = run
            .from
            .as_deref()
            .and_then(|f| Digest::parse(f).ok())
            .filter(|f| *f != to && groups.iter().any(|(d, _)| d == f))
            .or_else(|| groups.iter().map(|(d, _)| d).find(|d| **d != to).cloned());
        return (Some(to), from);
    }
    match groups {
        [] => (None, None),
        [(one, _)] => (Some(one.clone()), None),
        _ => {
            let newest = groups
                .iter()
                .flat_map(|(d, ms)| ms.iter().map(move |j| (changed_at(j.m), d)))
                .max_by_key(|(t, _)| *t)
                .map(|(_, d)| d.clone());
            let old = groups
                .iter()
                .map(|(d, _)| d)
                .find(|d| Some(*d) != newest.as_ref())
                .cloned();
            (newest, old)
        }
    }
}

/// The image a digest's machines run, with its OCI labels.
fn image_of(judged: &[Judged<'_>], digest: &Digest) -> Option<ImageRef> {
    let r = judged
        .iter()
        .find(|j| j.digest.as_ref() == Some(digest))?
        .m
        .image_ref
        .as_ref()?;
    let label = |k: &str| {
        r.labels
            .get(&format!("org.opencontainers.image.{k}"))
            .map(|v| crate::model::sanitize(v))
            .filter(|v| !v.trim().is_empty())
    };
    Some(ImageRef {
        registry: Some(r.registry.clone()).filter(|s| !s.is_empty()),
        repository: r.repository.clone(),
        tag: Some(r.tag.clone()).filter(|s| !s.is_empty()),
        digest: Some(digest.clone()),
        version: label("version"),
        revision: label("revision"),
        source: label("source"),
        created: label("created"),
    })
}

/// What the machines of one digest amount to.
fn counts(ms: &[&Judged<'_>]) -> (u32, u32, u32) {
    let n = |f: &dyn Fn(&&Judged<'_>) -> bool| {
        u32::try_from(ms.iter().filter(|j| f(j)).count()).unwrap_or(u32::MAX)
    };
    (
        n(&|j| j.m.state == "started"),
        n(&|_| true),
        n(&|j| j.transient),
    )
}

/// The service `service` as `r` found it.
pub fn service_snapshot(service: &str, r: FlyReading) -> ServiceSnapshot {
    let judged: Vec<Judged<'_>> = r.machines.iter().map(judge).collect();
    let groups = by_digest(&judged);
    let (new, old) = new_and_old(&groups, r.run.as_ref());
    let mixed = groups.len() > 1;
    let digest = if mixed { old.clone() } else { new.clone() };
    let rev = |d: &Digest| revision(&r.app, r.group.as_deref(), d);
    let of = |d: &Digest| -> Vec<&Judged<'_>> {
        groups
            .iter()
            .find(|(g, _)| g == d)
            .map(|(_, ms)| ms.clone())
            .unwrap_or_default()
    };
    let unknown: Vec<&Judged<'_>> = judged
        .iter()
        .filter(|j| !j.known || j.digest.is_none())
        .collect();
    let transient = judged.iter().filter(|j| j.transient).count();
    let failing: Vec<&Judged<'_>> = judged.iter().filter(|j| !j.checks_ok()).collect();
    let failed: Vec<&Judged<'_>> = judged.iter().filter(|j| j.m.state == "failed").collect();
    let run_active = r.run.as_ref().is_some_and(|run| run.ended.is_none());
    let settled = !mixed && transient == 0 && failing.is_empty() && failed.is_empty();
    let converged = settled && !run_active && !judged.is_empty() && new.is_some();
    let convergence = if unknown.is_empty() && !judged.is_empty() {
        Convergence::judged(converged)
    } else {
        Convergence::default()
    };
    let why_not = words::not_settled(&r.app, r.group.as_deref(), &judged, &unknown, &failing);
    let mut deployments = Vec::new();
    if let Some(new) = &new {
        let judgement = Judgement {
            converged,
            failed: !failed.is_empty(),
            unknown: !unknown.is_empty(),
            why_not: why_not.clone(),
        };
        deployments.push(primary(&r, &judged, &of(new), new, &judgement));
    }
    for (d, ms) in &groups {
        if Some(d) == new.as_ref() {
            continue;
        }
        let (running, desired, pending) = counts(ms);
        let id = format!("{}@{}", family(&r.app, r.group.as_deref()), d.short());
        deployments.push(Deployment {
            running,
            desired,
            pending,
            ..base(id, rev(d), DeploymentRole::Active, r.at)
        });
    }
    if judged.is_empty() || new.is_none() {
        // No machine says what it runs: nothing about the service is known.
        deployments.insert(
            0,
            unknown_deployment(&r.app, r.group.as_deref(), why_not.clone(), r.at),
        );
    }
    let n = |k: usize| u32::try_from(k).unwrap_or(u32::MAX);
    // The Machines API keeps no earlier images: what is known is the digests
    // run now. One digest says nothing of order (a stage on another one
    // "differs", never "diverged"); two are the old, then the new.
    let history = if mixed {
        let mut order: Vec<&Digest> = old.iter().collect();
        order.extend(
            groups
                .iter()
                .map(|(d, _)| d)
                .filter(|d| Some(*d) != old.as_ref() && Some(*d) != new.as_ref()),
        );
        order.extend(new.iter());
        order
            .into_iter()
            .map(|d| RevisionInfo {
                task_definition: rev(d),
                digest: Some(d.clone()),
                active: true,
            })
            .collect::<Vec<_>>()
    } else {
        Vec::new()
    }
    .into();
    let fresh = new.as_ref().map(|d| of(d).len()).unwrap_or_default();
    let detail = PlatformDetail {
        title: format!("on fly {}", crate::model::sanitize(&r.app)),
        lines: words::detail_lines(
            &judged,
            r.run.as_ref(),
            why_not.as_deref().filter(|_| !unknown.is_empty()),
        ),
        // shipdeck's own run shows as the board's shift; machines on two
        // digests without one show here, as a warning.
        badge: (mixed && !run_active).then(|| DetailBadge {
            text: format!("mix {fresh}/{} new", judged.len()),
            ok: false,
        }),
    };
    ServiceSnapshot {
        name: service.to_string(),
        ecs_service: family(&r.app, r.group.as_deref()),
        image: digest.as_ref().and_then(|d| image_of(&judged, d)),
        pinning: if digest.is_some() {
            Pinning::Pinned
        } else {
            Pinning::Unpinned
        },
        task_definition: digest.as_ref().map(rev),
        digest,
        running: n(judged.iter().filter(|j| j.m.state == "started").count()),
        desired: n(judged.len()),
        pending: n(transient),
        convergence,
        deployments,
        deployment_config: DeploymentConfig {
            circuit_breaker: false,
            circuit_breaker_rollback: false,
            alarm_rollback: false,
            strategy: Strategy::Other {
                name: words::STRATEGY.to_string(),
            },
        },
        alarms: Vec::new(),
        alarms_unknown: None,
        logs: None,
        health: r.health,
        events: events(&r.machines),
        history,
        metrics: Vec::new(),
        detail,
        regions: Some(
            r.machines
                .iter()
                .map(|m| Placement::new(m.id.as_str(), m.region.as_str()))
                .collect(),
        ),
    }
}

fn unknown_deployment(
    app: &str,
    group: Option<&str>,
    why: Option<String>,
    at: DateTime<Utc>,
) -> Deployment {
    let rev = Revision::labelled(&family(app, group), "unknown");
    Deployment {
        rollout: RolloutState::Unknown,
        reason: why,
        desired: 0,
        ..base(family(app, group), rev, DeploymentRole::Primary, at)
    }
}

/// A deployment of `rev`, completed, nothing counted yet.
fn base(id: String, rev: Revision, role: DeploymentRole, at: DateTime<Utc>) -> Deployment {
    Deployment::bare(id, role, rev, RolloutState::Completed, at)
}

/// What the snapshot found of the machines, for the primary deployment.
struct Judgement {
    converged: bool,
    /// A machine is in state `failed`.
    failed: bool,
    /// A machine is not known (host not ok, no digest).
    unknown: bool,
    why_not: Option<String>,
}

/// The newer digest's deployment: this process's run (its id, steps, shift
/// and how it ended), else the machines on that digest as they stand.
fn primary(
    r: &FlyReading,
    judged: &[Judged<'_>],
    on_new: &[&Judged<'_>],
    new: &Digest,
    j: &Judgement,
) -> Deployment {
    let (running, _, pending) = counts(on_new);
    let rev = revision(&r.app, r.group.as_deref(), new);
    let mut d = if let Some(run) = &r.run {
        let (rollout, reason) = match &run.ended {
            None => (RolloutState::InProgress, None),
            Some(Err(why)) => (RolloutState::Failed, Some(why.clone())),
            Some(Ok(())) if j.converged => (RolloutState::Completed, None),
            Some(Ok(())) => (RolloutState::InProgress, j.why_not.clone()),
        };
        Deployment {
            rollout,
            reason,
            steps: run.steps.clone(),
            nothing_changed: run.updated.is_empty() && run.ended.is_some(),
            shift: run
                .ended
                .is_none()
                .then(|| Box::new(shift(run, r.batch, judged))),
            created_at: run.started,
            ..base(run.id.clone(), rev, DeploymentRole::Primary, r.at)
        }
    } else {
        let (rollout, reason) = if j.failed {
            (RolloutState::Failed, j.why_not.clone())
        } else if j.converged {
            (RolloutState::Completed, None)
        } else {
            (RolloutState::InProgress, j.why_not.clone())
        };
        let id = format!("{}@{}", family(&r.app, r.group.as_deref()), new.short());
        Deployment {
            rollout,
            reason,
            // The Machines API keeps no deployments: the machines' own
            // updates say since when the stage runs this digest.
            created_at: running_since(on_new, r.at),
            ..base(id, rev, DeploymentRole::Primary, r.at)
        }
    };
    // A machine not known: never completed.
    if j.unknown && d.rollout == RolloutState::Completed {
        d.rollout = RolloutState::Unknown;
        d.reason.clone_from(&j.why_not);
    }
    d.running = running;
    d.pending = pending;
    d.desired = u32::try_from(judged.len()).unwrap_or(u32::MAX);
    d.failed_tasks =
        u32::try_from(on_new.iter().filter(|j| j.m.state == "failed").count()).unwrap_or(u32::MAX);
    d
}

/// A service whose app could not be read: unknown, with why, never green.
pub fn unreadable(
    service: &str,
    app: &str,
    group: Option<&str>,
    why: &str,
    health: Health,
    at: DateTime<Utc>,
) -> ServiceSnapshot {
    let why = format!(
        "machines of {} unreadable: {}",
        crate::model::sanitize(app),
        crate::model::sanitize(why)
    );
    ServiceSnapshot {
        name: service.to_string(),
        ecs_service: family(app, group),
        image: None,
        digest: None,
        pinning: Pinning::Unpinned,
        task_definition: None,
        running: 0,
        desired: 0,
        pending: 0,
        deployments: vec![unknown_deployment(app, group, Some(why.clone()), at)],
        convergence: Convergence::default(),
        deployment_config: DeploymentConfig {
            strategy: Strategy::Other {
                name: words::STRATEGY.to_string(),
            },
            ..DeploymentConfig::default()
        },
        alarms: Vec::new(),
        alarms_unknown: None,
        health,
        events: Vec::new(),
        history: Vec::new().into(),
        metrics: Vec::new(),
        detail: PlatformDetail {
            title: format!("on fly {}", crate::model::sanitize(app)),
            lines: vec![crate::model::DetailLine::new("machines", why).warn_if(true)],
            badge: None,
        },
        logs: None,
        regions: None,
    }
}

/// The machines' events, newest first: `148ed726c5d9 (fra) exit: code 1`.
fn events(machines: &[MachineView]) -> Vec<ServiceEvent> {
    let mut out: Vec<ServiceEvent> = machines
        .iter()
        .flat_map(|m| {
            m.events.iter().filter_map(move |e| {
                let at = DateTime::from_timestamp_millis(e.timestamp)?;
                Some(ServiceEvent {
                    id: format!("{}/{}/{}/{}", m.id, e.timestamp, e.kind, e.status).into(),
                    at,
                    message: words::event(m, e).into(),
                })
            })
        })
        .collect();
    out.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.id.cmp(&b.id)));
    out.truncate(EVENTS);
    out
}

mod shift;
use shift::shift;

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
