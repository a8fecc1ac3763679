//! Promotions, rollbacks and decisions of services on Fly: the runs this
//! process drives, from the first lease to the last release.
//!
//! `deploy` reads the group (one list), chooses what to do and takes every
//! lease before it answers, so a lease held elsewhere is the deploy's own
//! refusal ("nothing was changed"); the run itself goes on in a task
//! ([`super::super::runner::run`]). Fly keeps no rollback target, so the
//! engine goes back by deploying the digest that ran before: a deploy of the
//! digest this process's run of the service started from stops that run
//! (after its call in flight), takes its leases over and updates back only
//! the machines it touched; a deploy of a digest some machines of a mixed
//! group still run, or that shipdeck's last run wrote as the machines' way
//! back, updates back every machine that does not run it. Either way: no
//! canary, no holds, `max_unavailable` at a time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;

use super::FlyProvider;
use crate::config::fly::FlyService;
use crate::config::{EnvConfig, ServiceConfig};
use crate::model::text::fold_line;
use crate::model::{Digest, Revision};
use crate::platforms::fly::api::{FlyApi, RunView};
use crate::platforms::fly::choose::{choose, first_view, repository};
use crate::platforms::fly::runner::{self, Control, Probe, Stop, Time};
use crate::platforms::fly::steps;
use crate::provider::{DeployStarted, ProviderError};

/// How often a holding run re-reads its machines.
const POLL: Duration = Duration::from_secs(2);

type Key = (String, String);

/// The runs of this process, by (environment, service): what each tells
/// the reading (`.0`), its control (`.1`), and the repositories the
/// readings saw digests in (`.2`, digest → `registry/repository`).
#[derive(Debug, Default)]
pub struct Runs(
    pub(crate) Arc<Mutex<HashMap<Key, RunView>>>,
    pub(crate) Mutex<HashMap<Key, Arc<Control>>>,
    pub(crate) Mutex<HashMap<String, String>>,
);

impl Runs {
    /// What this process's run of `service` in `env` says, if it has one.
    pub fn view(&self, env: &str, service: &str) -> Option<RunView> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(env.to_string(), service.to_string()))
            .cloned()
    }

    /// A reading saw `digest` in `repository` (`registry.fly.io/edge`): a
    /// promotion of that digest into another app pulls it from there.
    pub fn saw(&self, digest: &str, repository: &str) {
        if digest.is_empty() || repository.is_empty() {
            return;
        }
        self.2
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(digest.to_string(), repository.to_string());
    }

    fn control(&self, key: &Key) -> Option<Arc<Control>> {
        self.1
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// Asks every run of this process to stop and release its leases (the
    /// process ends); the machines are left as they are.
    pub fn stop_all(&self) {
        for c in self
            .1
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            c.stop(Stop::Release);
        }
    }

    /// [`Self::stop_all`], then waits up to `within` for every run to have
    /// released its leases: whether they all did.
    pub async fn shutdown(&self, within: Duration) -> bool {
        self.stop_all();
        let controls: Vec<Arc<Control>> = self
            .1
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        let all = async {
            while !controls.iter().all(|c| c.is_finished()) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(within, all).await.is_ok()
    }
}

fn fly_of(service: &ServiceConfig) -> Result<&FlyService, ProviderError> {
    service.fly.as_deref().ok_or_else(|| ProviderError::Other {
        message: format!("{} has no [environment.service.fly]", service.name),
    })
}

/// Why a run is asked for: a promotion, or the engine's rollback to an
/// earlier stable digest ([`crate::provider::Provider::redeploy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Forward: canary, holds, pause.
    Promote,
    /// Back: every machine not on the digest, no canary, no holds.
    Back,
}

/// Promotes `digest` into `service`, or goes back to it (see the module).
pub(super) async fn deploy(
    p: &FlyProvider,
    env: &EnvConfig,
    service: &ServiceConfig,
    digest: &Digest,
    intent: Intent,
) -> Result<DeployStarted, ProviderError> {
    let f = fly_of(service)?.clone();
    let api = p.api(env).await?;
    let key = (env.name.clone(), service.name.clone());
    let digest = digest.as_str();
    let run_id = format!(
        "fly-{}",
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let running = p.runs.control(&key);
    let chosen = choose(
        &*api,
        &f,
        running.as_deref(),
        (&key.0, &key.1),
        digest,
        &run_id,
        intent == Intent::Back,
    )
    .await?;
    let machines = steps::members(&api.list(&f.app).await?, f.group.as_deref());
    let seen = p
        .runs
        .2
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(digest)
        .cloned();
    let image = match repository(&f, &machines, digest, seen, intent == Intent::Back) {
        Ok(r) => format!("{r}@{digest}"),
        Err(e) => {
            steps::release_all(&*api, &f.app, &chosen.leases).await;
            return Err(e);
        }
    };
    let spec = chosen.spec(&run_id, &f, digest, image, env.rollout.pause_steps);
    let view = first_view(&spec, Utc::now());
    let views = p.runs.0.clone();
    let mirror = {
        let key = key.clone();
        move |v: &RunView| {
            views
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key.clone(), v.clone());
        }
    };
    let ctl = Arc::new(Control::new(view, chosen.leases, mirror));
    p.runs
        .1
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key, ctl.clone());
    let probe = HttpProbe::for_service(env, service);
    let from = spec.from.as_deref().map(|d| steps::revision(&f, d));
    let to = steps::revision(&f, digest);
    tokio::spawn(async move {
        let time = Time {
            now: Utc::now,
            sleep: tokio::time::sleep,
            poll: POLL,
        };
        let ended = runner::run(&*api, &spec, &time, &probe, &ctl).await;
        tracing::info!(run = %spec.id, app = %spec.app, ?ended, "fly run ended");
    });
    Ok(DeployStarted {
        service: service.name.clone(),
        from,
        to: Some(to),
        change: None,
        deployment_id: Some(run_id),
    })
}

/// Fly keeps no revisions to point back at: a rollback to a labelled
/// revision (`edge-prod@1111aaaa2222`) is a redeploy of the digest its label
/// is the short form of, found where this process has seen it (a machine of
/// the group, the way back an update wrote on it, this process's run, a
/// reading of another stage).
pub(super) async fn rollback(
    p: &FlyProvider,
    env: &EnvConfig,
    service: &ServiceConfig,
    to: &Revision,
) -> Result<DeployStarted, ProviderError> {
    let f = fly_of(service)?;
    let api = p.api(env).await?;
    let machines = steps::members(&api.list(&f.app).await?, f.group.as_deref());
    let key = (env.name.clone(), service.name.clone());
    let run = p.runs.view(&key.0, &key.1);
    let mut known: Vec<String> = machines
        .iter()
        .flat_map(|m| [m.digest(), m.metadata(steps::FROM_KEY)])
        .flatten()
        .map(str::to_string)
        .collect();
    known.extend(run.into_iter().flat_map(|r| [r.from, Some(r.to)]).flatten());
    known.extend(
        p.runs
            .2
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned(),
    );
    let label = to.label().unwrap_or_default();
    let found = known.into_iter().find(|d| {
        steps::revision(f, d).same_revision(to)
            || (!label.is_empty() && d.trim_start_matches("sha256:").starts_with(label))
    });
    let Some(digest) = found.and_then(|d| Digest::parse(&d).ok()) else {
        return Err(ProviderError::NotFound {
            what: "digest of revision".to_string(),
            name: format!(
                "{to} (Fly keeps no revisions; no machine of {} or run of this shipdeck knows its digest)",
                fold_line(&f.app)
            ),
        });
    };
    deploy(p, env, service, &digest, Intent::Back).await
}

/// A person's decision at a paused run: handed to the run when this
/// process runs it, else written on the machine that carries its pause, for
/// the process that runs it (and holds the leases) to act on.
pub(super) async fn decide_step(
    p: &FlyProvider,
    env: &EnvConfig,
    service: &ServiceConfig,
    shift: &crate::model::Shift,
    decision: crate::model::Decision,
) -> Result<String, ProviderError> {
    let key = (env.name.clone(), service.name.clone());
    let Some(ctl) = p
        .runs
        .control(&key)
        .filter(|c| c.view().id == shift.deployment)
    else {
        return decide_elsewhere(p, env, service, shift, decision).await;
    };
    ctl.decide(decision)
        .map_err(|message| ProviderError::Conflict { message })?;
    Ok(match decision {
        crate::model::Decision::Continue => format!(
            "run {} goes on with the rest of the machines",
            shift.deployment
        ),
        crate::model::Decision::Rollback => format!(
            "run {} stops; the machines it updated go back to the digest before",
            shift.deployment
        ),
    })
}

/// A decision on a run another process drives: written beside its pause
/// on the machine that carries it.
async fn decide_elsewhere(
    p: &FlyProvider,
    env: &EnvConfig,
    service: &ServiceConfig,
    shift: &crate::model::Shift,
    decision: crate::model::Decision,
) -> Result<String, ProviderError> {
    use crate::platforms::fly::marker::{DECISION_KEY, PAUSE_KEY, Pause, Said};
    let f = fly_of(service)?;
    let api = p.api(env).await?;
    let machines = steps::members(&api.list(&f.app).await?, f.group.as_deref());
    let paused = machines.iter().find_map(|m| {
        let pause = Pause::read(m.metadata(PAUSE_KEY)?)?;
        (pause.run == shift.deployment).then_some((m, pause))
    });
    let Some((m, pause)) = paused else {
        return Err(ProviderError::Conflict {
            message: format!(
                "{} in {}: no machine of {} carries a pause of run {}; nothing was decided",
                service.name,
                env.name,
                fold_line(&f.app),
                fold_line(&shift.deployment)
            ),
        });
    };
    let said = Said {
        run: pause.run.clone(),
        step: pause.step,
        decision,
    };
    api.set_metadata(&f.app, &m.id, DECISION_KEY, &said.write())
        .await?;
    Ok(format!(
        "{} written on machine {}; the shipdeck that runs {} (and holds its leases) acts on it within seconds",
        decision.as_str(),
        steps::named(m),
        pause.run
    ))
}

/// The canary's probes over HTTP: the service's health URL for its
/// stability window, then the environment's smoke checks (as the proxy's
/// runbook does), each health request naming the machine
/// (`fly-force-instance-id`).
struct HttpProbe {
    health: Option<crate::config::HealthCheck>,
    smoke: Vec<crate::config::SmokeCheck>,
    limit: Duration,
}

impl HttpProbe {
    fn for_service(env: &EnvConfig, service: &ServiceConfig) -> Self {
        Self {
            health: service.health.clone(),
            smoke: env.smoke.clone(),
            limit: service
                .fly
                .as_deref()
                .map_or(Duration::from_mins(5), |f| f.wait_timeout),
        }
    }
}

impl Probe for HttpProbe {
    async fn canary(&self, machine: &str) -> Result<(), String> {
        if self.health.is_none() && self.smoke.is_empty() {
            return Ok(());
        }
        let client = crate::health::client()?;
        let secrets = crate::secrets::Secrets::new(
            Arc::new(crate::secrets::MemoryStore::default()),
            crate::secrets::Redactor::default(),
        );
        if let Some(h) = &self.health {
            let mut h = h.clone();
            h.headers
                .push(("fly-force-instance-id".to_string(), machine.to_string()));
            let deadline = tokio::time::Instant::now() + h.stability_window + self.limit;
            let mut since: Option<tokio::time::Instant> = None;
            let mut last = String::new();
            loop {
                let r = crate::health::probe(&client, &h, &secrets, Utc::now).await;
                let now = tokio::time::Instant::now();
                if r.ok {
                    if now - *since.get_or_insert(now) >= h.stability_window {
                        break;
                    }
                } else {
                    since = None;
                    last = r.reason;
                }
                if now >= deadline {
                    return Err(format!(
                        "its health URL never answered {} for {} without a break (last: {last})",
                        h.expected_status,
                        humantime::format_duration(h.stability_window)
                    ));
                }
                tokio::time::sleep(h.interval.min(Duration::from_secs(5))).await;
            }
        }
        let results =
            crate::health::run_smoke(&client, &self.smoke, &secrets, Duration::from_mins(1)).await;
        match crate::health::smoke_failures(&results) {
            None => Ok(()),
            Some(failed) => Err(format!("smoke checks failed ({failed})")),
        }
    }
}
