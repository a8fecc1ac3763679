//! Reading one environment in as few calls as the APIs allow.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_ecs::types::{
    DeploymentControllerType, DeploymentRolloutState, DeploymentStrategy, DesiredStatus, SortOrder,
    TaskDefinitionStatus,
};
use chrono::Utc;

use super::cache::TaskDefInfo;
use super::{AwsProvider, classify, to_chrono};
use crate::config::{EnvConfig, ServiceConfig};
use crate::model::{
    Deployment, DeploymentConfig, DeploymentRole, Digest, EnvSnapshot, Health, ImageRef, Pinning,
    Revision, RevisionInfo, RolloutState, ServiceEvent, ServiceSnapshot, Strategy,
};
use crate::provider::{ProviderError, ReadScope};

/// ECS describes at most this many services per call.
const SERVICES_PER_CALL: usize = 10;
/// Older revisions listed for rollback.
const REVISIONS_LISTED: i32 = 100;
/// Newest events kept per service.
const EVENTS_KEPT: usize = 50;

fn rollout(d: &aws_sdk_ecs::types::Deployment) -> RolloutState {
    let reason = d.rollout_state_reason().unwrap_or_default().to_lowercase();
    match d.rollout_state() {
        Some(DeploymentRolloutState::Completed) => RolloutState::Completed,
        Some(DeploymentRolloutState::Failed) => RolloutState::Failed,
        Some(DeploymentRolloutState::InProgress)
            if reason.contains("circuit breaker") && reason.contains("roll") =>
        {
            RolloutState::RolledBack
        }
        Some(DeploymentRolloutState::InProgress) => RolloutState::InProgress,
        // Older services and emulators report no rollout state: a lone primary
        // deployment with every task running has settled.
        _ if d.status() == Some("PRIMARY") && d.running_count() >= d.desired_count() => {
            RolloutState::Completed
        }
        _ if d.status() == Some("PRIMARY") => RolloutState::InProgress,
        _ => RolloutState::Unknown,
    }
}

fn role(status: Option<&str>) -> DeploymentRole {
    match status {
        Some("PRIMARY") => DeploymentRole::Primary,
        Some("ACTIVE") => DeploymentRole::Active,
        _ => DeploymentRole::Inactive,
    }
}

fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn deployment_config(s: &aws_sdk_ecs::types::Service) -> DeploymentConfig {
    let dc = s.deployment_configuration();
    let cb = dc.and_then(|d| d.deployment_circuit_breaker());
    let alarms = dc.and_then(|d| d.alarms());
    let code_deploy = matches!(
        s.deployment_controller()
            .map(aws_sdk_ecs::types::DeploymentController::r#type),
        Some(DeploymentControllerType::CodeDeploy)
    );
    DeploymentConfig {
        circuit_breaker: cb.is_some_and(aws_sdk_ecs::types::DeploymentCircuitBreaker::enable),
        circuit_breaker_rollback: cb.is_some_and(|c| c.enable() && c.rollback()),
        alarm_rollback: alarms.is_some_and(|a| a.enable() && a.rollback()),
        strategy: strategy_of(dc, code_deploy),
    }
}

/// The strategy a service's (or a service deployment's) configuration names.
pub(super) fn strategy_of(
    dc: Option<&aws_sdk_ecs::types::DeploymentConfiguration>,
    code_deploy: bool,
) -> Strategy {
    let minutes =
        |m: Option<i32>| Duration::from_secs(u64::try_from(m.unwrap_or(0)).unwrap_or(0) * 60);
    let bake =
        minutes(dc.and_then(aws_sdk_ecs::types::DeploymentConfiguration::bake_time_in_minutes));
    match dc.and_then(|d| d.strategy()) {
        _ if code_deploy => Strategy::CodeDeploy,
        Some(DeploymentStrategy::BlueGreen) => Strategy::BlueGreen { bake },
        Some(DeploymentStrategy::Canary) => {
            let c = dc.and_then(|d| d.canary_configuration());
            Strategy::Canary {
                percent_hundredths: Strategy::hundredths(
                    c.and_then(aws_sdk_ecs::types::CanaryConfiguration::canary_percent),
                ),
                canary_bake: minutes(c.and_then(
                    aws_sdk_ecs::types::CanaryConfiguration::canary_bake_time_in_minutes,
                )),
                bake,
            }
        }
        Some(DeploymentStrategy::Linear) => {
            let l = dc.and_then(|d| d.linear_configuration());
            Strategy::Linear {
                step_hundredths: Strategy::hundredths(
                    l.and_then(aws_sdk_ecs::types::LinearConfiguration::step_percent),
                ),
                interval: minutes(
                    l.and_then(aws_sdk_ecs::types::LinearConfiguration::step_bake_time_in_minutes),
                ),
                bake,
            }
        }
        _ => Strategy::Rolling,
    }
}

/// Describes a task definition unless it is cached (they never change).
pub(super) async fn describe(
    p: &AwsProvider,
    c: &super::Clients,
    env: &EnvConfig,
    arn: &str,
) -> Result<(), ProviderError> {
    if p.shared().task_defs.contains(arn) {
        return Ok(());
    }
    let out = p
        .call(env, super::ECS, "DescribeTaskDefinition", || async {
            c.ecs
                .describe_task_definition()
                .task_definition(arn)
                .send()
                .await
                .map_err(|e| classify(&e, "ecs:DescribeTaskDefinition", arn))
        })
        .await?;
    if let Some(td) = out.task_definition() {
        let info = TaskDefInfo {
            task_def: Revision::numbered(
                td.family().unwrap_or_default(),
                u32::try_from(td.revision()).unwrap_or(0),
                td.task_definition_arn().unwrap_or(arn),
            ),
            images: td
                .container_definitions()
                .iter()
                .map(|cd| {
                    (
                        cd.name().unwrap_or_default().to_string(),
                        cd.image().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
            logs: super::logs::configs(td),
        };
        p.shared().task_defs.insert(arn.to_string(), info);
    }
    Ok(())
}

/// Every configured service of the environment, ten per `DescribeServices`,
/// the calls side by side under the environment's in-flight limit.
async fn read_services(
    p: &AwsProvider,
    c: &super::Clients,
    env: &EnvConfig,
    warnings: &mut Vec<String>,
) -> Result<HashMap<String, aws_sdk_ecs::types::Service>, ProviderError> {
    let names: Vec<String> = env
        .services
        .iter()
        .map(|s| super::service_name(s).to_string())
        .collect();
    let calls = names.chunks(SERVICES_PER_CALL).map(|batch| {
        p.call(env, super::ECS, "DescribeServices", || async {
            c.ecs
                .describe_services()
                .cluster(super::cluster(env))
                .set_services(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| classify(&e, "ecs:DescribeServices", super::cluster(env)))
        })
    });
    let mut services = HashMap::new();
    for out in futures::future::join_all(calls).await {
        let out = out?;
        for f in out.failures() {
            warnings.push(format!(
                "service \"{}\" not found in cluster \"{}\" ({})",
                f.arn().map_or("?", |a| a.rsplit('/').next().unwrap_or(a)),
                super::cluster(env),
                f.reason().unwrap_or("no reason")
            ));
        }
        for s in out.services() {
            if let Some(name) = s.service_name() {
                if s.status() == Some("INACTIVE") {
                    warnings.push(format!(
                        "service \"{name}\" in cluster \"{}\" is INACTIVE (deleted)",
                        super::cluster(env)
                    ));
                    continue;
                }
                services.insert(name.to_string(), s.clone());
            }
        }
    }
    Ok(services)
}

/// Reads services, task definitions and alarms of one environment, and its
/// metrics when `scope` asks. Revision histories are not read here
/// ([`history`] reads them when a rollback or the detail pane needs them).
pub async fn read_env(
    p: &AwsProvider,
    env: &EnvConfig,
    scope: ReadScope,
) -> Result<EnvSnapshot, ProviderError> {
    let c = p.clients(env).await?.clone();
    let mut warnings = Vec::new();
    let now = Utc::now();
    let services = read_services(p, &c, env, &mut warnings).await?;

    // Task definitions: immutable, so each ARN is described once, ever (the
    // cache outlives the process).
    let mut wanted: HashSet<&str> = HashSet::new();
    for s in services.values() {
        wanted.extend(
            std::iter::once(s.task_definition())
                .chain(s.deployments().iter().map(|d| d.task_definition()))
                .flatten(),
        );
    }
    let described =
        futures::future::join_all(wanted.into_iter().map(|arn| describe(p, &c, env, arn))).await;
    warnings.extend(
        described
            .into_iter()
            .filter_map(Result::err)
            .map(|e| e.to_string()),
    );

    // CloudWatch has its own budget, so that a hanging CloudWatch leaves the ECS
    // reading intact and its own data unknown.
    let cw = crate::signals::cloudwatch::read(&p.calls, &c.cloudwatch, env, scope, now).await;
    let sources = cw.sources.clone();
    warnings.extend(sources.failed());

    let reported: HashSet<String> = warnings
        .iter()
        .filter_map(|w| w.split('"').nth(1).map(str::to_string))
        .collect();
    let mut found = Vec::new();
    for cfg in env.services.iter() {
        match services.get(super::service_name(cfg)) {
            Some(s) => found.push((cfg, s)),
            None if !reported.contains(super::service_name(cfg)) => warnings.push(format!(
                "service \"{}\" not found in cluster \"{}\"",
                super::service_name(cfg),
                super::cluster(env)
            )),
            None => {}
        }
    }
    let snaps = futures::future::join_all(
        found
            .into_iter()
            .map(|(cfg, s)| service_snapshot(p, &c, env, cfg, s, &cw, scope)),
    )
    .await;
    let mut out = Vec::with_capacity(snaps.len());
    for (snap, mut w) in snaps {
        warnings.append(&mut w);
        out.push(snap);
    }
    Ok(EnvSnapshot {
        env: env.name.clone(),
        read_at: now,
        services: out,
        warnings,
        sources,
        index: crate::model::ServiceIndex::default(),
    })
}

/// One service as read (and the warnings it adds). The running tasks are
/// asked only when the image is a tag.
async fn service_snapshot(
    p: &AwsProvider,
    c: &super::Clients,
    env: &EnvConfig,
    cfg: &ServiceConfig,
    s: &aws_sdk_ecs::types::Service,
    cw: &crate::signals::cloudwatch::CloudWatchReading,
    scope: ReadScope,
) -> (ServiceSnapshot, Vec<String>) {
    let mut warnings = Vec::new();
    let td_arn = s.task_definition().unwrap_or_default().to_string();
    let info = p.shared().task_defs.get(&td_arn).cloned();
    let task_definition = info
        .as_ref()
        .map(|i| i.task_def.clone())
        .or_else(|| Revision::parse(&td_arn));
    let image_text = info.as_ref().and_then(|i| {
        i.images
            .iter()
            .find(|(n, _)| *n == super::container(cfg))
            .or_else(|| (i.images.len() == 1).then(|| &i.images[0]))
            .map(|(_, img)| img.clone())
    });
    if info.is_some() && image_text.is_none() {
        warnings.push(format!(
            "{}: no container \"{}\" in {td_arn}",
            cfg.name,
            super::container(cfg)
        ));
    }
    let image = image_text.as_deref().and_then(|t| ImageRef::parse(t).ok());
    let (digest, pinning) = match image.as_ref().and_then(|i| i.digest.clone()) {
        Some(d) => (Some(d), Pinning::Pinned),
        None => match task_digest(p, c, env, cfg).await {
            Ok(Some(d)) => (Some(d), Pinning::ResolvedFromTasks),
            Ok(None) => (None, Pinning::Unpinned),
            Err(e) => {
                warnings.push(format!(
                    "{}: digest from running tasks unknown: {e}",
                    cfg.name
                ));
                (None, Pinning::Unpinned)
            }
        },
    };
    let mut deployments: Vec<Deployment> = s
        .deployments()
        .iter()
        .map(|d| {
            let arn = d.task_definition().unwrap_or_default();
            Deployment {
                id: d.id().unwrap_or_default().to_string(),
                role: role(d.status()),
                task_definition: p
                    .shared()
                    .task_defs
                    .get(arn)
                    .map(|i| i.task_def.clone())
                    .or_else(|| Revision::parse(arn))
                    .unwrap_or_else(|| Revision::numbered("", 0, arn)),
                rollout: rollout(d),
                reason: d.rollout_state_reason().map(crate::model::sanitize),
                steps: Vec::new(),
                nothing_changed: false,
                shift: None,
                running: count(d.running_count()),
                desired: count(d.desired_count()),
                pending: count(d.pending_count()),
                failed_tasks: count(d.failed_tasks()),
                created_at: d.created_at().and_then(to_chrono).unwrap_or_else(Utc::now),
                updated_at: d.updated_at().and_then(to_chrono).unwrap_or_else(Utc::now),
            }
        })
        .collect();
    // An ECS-native deployment in flight: show its own status on the primary
    // (the console and the watch; `status` shows what DescribeServices says).
    if scope.service_deployments
        && deployments
            .iter()
            .any(|d| d.role == DeploymentRole::Primary && d.rollout == RolloutState::InProgress)
        && let Some((arn, status)) = super::write::native_status(p, c, env, cfg).await
        && let Some(primary) = deployments
            .iter_mut()
            .find(|d| d.role == DeploymentRole::Primary)
    {
        p.count(&env.name, "DescribeServiceDeployments");
        // Unreadable steps are said, never shown as a plain rollout.
        let steps = match super::steps::describe(&c.ecs, &arn).await {
            Ok(shift) => {
                primary.shift = shift.map(Box::new);
                String::new()
            }
            Err(e) => {
                tracing::warn!(error = %e, "DescribeServiceDeployments failed");
                let e = crate::model::sanitize(&e.to_string());
                format!(" (its steps and pauses unknown: {e})")
            }
        };
        let reason = primary.reason.take().unwrap_or_default();
        primary.reason = Some(
            format!("{reason} · service deployment {status}{steps}")
                .trim_start_matches(" · ")
                .to_string(),
        );
        if status.starts_with("ROLLBACK") {
            primary.rollout = RolloutState::RolledBack;
        }
    }
    let (watched, alarms_unknown) = cw.alarms_of(cfg);
    let snap = ServiceSnapshot {
        detail: super::words::detail(task_definition.as_ref()),
        logs: info.as_ref().and_then(|i| super::logs::of(i, cfg)),
        name: cfg.name.clone(),
        ecs_service: super::service_name(cfg).to_string(),
        image,
        digest,
        pinning,
        task_definition,
        running: count(s.running_count()),
        desired: count(s.desired_count()),
        pending: count(s.pending_count()),
        convergence: super::convergence(
            count(s.running_count()),
            count(s.desired_count()),
            &deployments,
        ),
        deployments,
        deployment_config: deployment_config(s),
        alarms: watched,
        alarms_unknown,
        health: if cfg.health.is_some() {
            Health::Unknown
        } else {
            Health::NotConfigured
        },
        events: s
            .events()
            .iter()
            .take(EVENTS_KEPT)
            .map(|e| ServiceEvent {
                id: e.id().unwrap_or_default().into(),
                at: e.created_at().and_then(to_chrono).unwrap_or_else(Utc::now),
                message: crate::model::sanitize(e.message().unwrap_or_default()).into(),
            })
            .collect(),
        // Read when needed: see [`history`].
        history: crate::model::History::default(),
        metrics: cw.metrics_of(cfg, scope),
        regions: None,
    };
    (
        snap.placed_in(env.aws.as_deref().map(|a| a.region.as_str())),
        warnings,
    )
}

/// The digest of the configured container in the service's running tasks.
async fn task_digest(
    p: &AwsProvider,
    c: &super::Clients,
    env: &EnvConfig,
    cfg: &ServiceConfig,
) -> Result<Option<Digest>, ProviderError> {
    let tasks = p
        .call(env, super::ECS, "ListTasks", || async {
            c.ecs
                .list_tasks()
                .cluster(super::cluster(env))
                .service_name(super::service_name(cfg))
                .desired_status(DesiredStatus::Running)
                .max_results(10)
                .send()
                .await
                .map_err(|e| classify(&e, "ecs:ListTasks", super::service_name(cfg)))
        })
        .await?;
    if tasks.task_arns().is_empty() {
        return Ok(None);
    }
    let out = p
        .call(env, super::ECS, "DescribeTasks", || async {
            c.ecs
                .describe_tasks()
                .cluster(super::cluster(env))
                .set_tasks(Some(tasks.task_arns().to_vec()))
                .send()
                .await
                .map_err(|e| classify(&e, "ecs:DescribeTasks", super::service_name(cfg)))
        })
        .await?;
    Ok(out
        .tasks()
        .iter()
        .flat_map(aws_sdk_ecs::types::Task::containers)
        .filter(|ct| ct.name() == Some(super::container(cfg)))
        .find_map(|ct| ct.image_digest().and_then(|d| Digest::parse(d).ok())))
}

/// The revisions of a service's family that can be rolled back to: the ACTIVE
/// ones (newest hundred), oldest first, plus the current one. One
/// `ListTaskDefinitions`, always asked afresh (a deregistration must never hide
/// behind a cache), and one `DescribeTaskDefinition` for the rollback
/// candidate (the newest older revision) unless it is cached; other revisions
/// carry the digests the cache already knows.
pub async fn history(
    p: &AwsProvider,
    env: &EnvConfig,
    cfg: &ServiceConfig,
    current: &Revision,
) -> Result<Vec<RevisionInfo>, ProviderError> {
    let c = p.clients(env).await?.clone();
    let list = {
        let out = p
            .call(env, super::ECS, "ListTaskDefinitions", || async {
                c.ecs
                    .list_task_definitions()
                    .family_prefix(&*current.family)
                    .status(TaskDefinitionStatus::Active)
                    .sort(SortOrder::Desc)
                    .max_results(REVISIONS_LISTED)
                    .send()
                    .await
                    .map_err(|e| classify(&e, "ecs:ListTaskDefinitions", &current.family))
            })
            .await?;
        let list: Vec<Revision> = out
            .task_definition_arns()
            .iter()
            .filter_map(|a| Revision::parse(a))
            .filter(|t| t.family == current.family)
            .collect();
        list
    };
    // The rollback fallback is the newest older revision: learn its digest.
    if let Some(prev) = list
        .iter()
        .filter(|t| t.older_than(current))
        .max_by_key(|t| t.number())
    {
        describe(p, &c, env, &prev.arn).await?;
    }
    let sh = p.shared();
    let digest_of = |arn: &str| {
        sh.task_defs.get(arn).and_then(|i| {
            i.images
                .iter()
                .find(|(n, _)| *n == super::container(cfg))
                .or_else(|| (i.images.len() == 1).then(|| &i.images[0]))
                .and_then(|(_, img)| ImageRef::parse(img).ok().and_then(|r| r.digest))
        })
    };
    let mut out: Vec<RevisionInfo> = list
        .iter()
        .map(|t| RevisionInfo {
            task_definition: t.clone(),
            digest: digest_of(&t.arn),
            active: true,
        })
        .collect();
    if !out.iter().any(|r| r.task_definition.same_revision(current)) {
        // Running, but not ACTIVE: deregistered (it cannot be deployed again).
        out.push(RevisionInfo {
            task_definition: current.clone(),
            digest: digest_of(&current.arn),
            active: false,
        });
    }
    out.sort_by_key(|r| r.task_definition.number());
    Ok(out)
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
