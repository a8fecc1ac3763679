//! Reading one environment in as few calls as the APIs allow.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_ecs::types::{
    DeploymentControllerType, DeploymentRolloutState, DeploymentStrategy, DesiredStatus, SortOrder,
    TaskDefinitionStatus,
};
use chrono::Utc;

use super::cloudwatch::{Datapoints, read_alarms, read_metrics};
use super::{AwsProvider, TASK_DEF_CACHE, TaskDefInfo, classify, to_chrono};
use crate::config::{EnvConfig, ServiceConfig};
use crate::model::{
    AlarmReading, Deployment, DeploymentConfig, DeploymentRole, Digest, EnvSnapshot, Health,
    ImageRef, MetricSeries, Pinning, RevisionInfo, RolloutState, ServiceEvent, ServiceSnapshot,
    Strategy, TaskDefRef,
};
use crate::provider::ProviderError;

/// ECS describes at most this many services per call.
const SERVICES_PER_CALL: usize = 10;
/// Older revisions listed for rollback.
const REVISIONS_LISTED: i32 = 10;
/// Newest events kept per service.
const EVENTS_KEPT: usize = 50;
/// Longest the CloudWatch part of a reading may take (well inside the reading's
/// own timeout, so that ECS data still arrives when CloudWatch hangs).
pub const CLOUDWATCH_BUDGET: Duration = Duration::from_secs(8);

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
    let blue_green = matches!(
        dc.and_then(|d| d.strategy()),
        Some(DeploymentStrategy::BlueGreen)
    ) || matches!(
        s.deployment_controller()
            .map(aws_sdk_ecs::types::DeploymentController::r#type),
        Some(DeploymentControllerType::CodeDeploy)
    );
    DeploymentConfig {
        circuit_breaker: cb.is_some_and(aws_sdk_ecs::types::DeploymentCircuitBreaker::enable),
        circuit_breaker_rollback: cb.is_some_and(|c| c.enable() && c.rollback()),
        alarm_rollback: alarms.is_some_and(|a| a.enable() && a.rollback()),
        strategy: if blue_green {
            Strategy::BlueGreen {
                bake: Duration::from_secs(
                    u64::try_from(
                        dc.and_then(
                            aws_sdk_ecs::types::DeploymentConfiguration::bake_time_in_minutes,
                        )
                        .unwrap_or(0),
                    )
                    .unwrap_or(0)
                        * 60,
                ),
            }
        } else {
            Strategy::Rolling
        },
    }
}

/// Describes a task definition unless it is cached (they never change).
async fn describe(
    p: &AwsProvider,
    c: &super::Clients,
    env: &EnvConfig,
    arn: &str,
) -> Result<(), ProviderError> {
    if p.shared().task_defs.contains_key(arn) {
        return Ok(());
    }
    p.count(&env.name, "DescribeTaskDefinition");
    let out = c
        .ecs
        .describe_task_definition()
        .task_definition(arn)
        .send()
        .await
        .map_err(|e| classify(&e, "ecs:DescribeTaskDefinition", arn))?;
    if let Some(td) = out.task_definition() {
        let info = TaskDefInfo {
            task_def: TaskDefRef {
                family: td.family().unwrap_or_default().to_string(),
                revision: u32::try_from(td.revision()).unwrap_or(0),
                arn: td.task_definition_arn().unwrap_or(arn).to_string(),
            },
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
        };
        let mut sh = p.shared();
        if sh.task_defs.len() >= TASK_DEF_CACHE {
            sh.task_defs.clear();
        }
        sh.task_defs.insert(arn.to_string(), info);
    }
    Ok(())
}

/// Reads services, task definitions, alarms and metrics of one environment.
pub async fn read_env(p: &AwsProvider, env: &EnvConfig) -> Result<EnvSnapshot, ProviderError> {
    let c = p.clients(env).await?.clone();
    let mut warnings = Vec::new();
    let now = Utc::now();

    // Services, ten at a time.
    let mut services: HashMap<String, aws_sdk_ecs::types::Service> = HashMap::new();
    let names: Vec<String> = env.services.iter().map(|s| s.ecs_service.clone()).collect();
    for batch in names.chunks(SERVICES_PER_CALL) {
        p.count(&env.name, "DescribeServices");
        let out = c
            .ecs
            .describe_services()
            .cluster(&env.cluster)
            .set_services(Some(batch.to_vec()))
            .send()
            .await
            .map_err(|e| classify(&e, "ecs:DescribeServices", &env.cluster))?;
        for f in out.failures() {
            warnings.push(format!(
                "service \"{}\" not found in cluster \"{}\" ({})",
                f.arn().map_or("?", |a| a.rsplit('/').next().unwrap_or(a)),
                env.cluster,
                f.reason().unwrap_or("no reason")
            ));
        }
        for s in out.services() {
            if let Some(name) = s.service_name() {
                if s.status() == Some("INACTIVE") {
                    warnings.push(format!(
                        "service \"{name}\" in cluster \"{}\" is INACTIVE (deleted)",
                        env.cluster
                    ));
                    continue;
                }
                services.insert(name.to_string(), s.clone());
            }
        }
    }

    // Task definitions: immutable, so each ARN is described once.
    let mut wanted: Vec<String> = Vec::new();
    for s in services.values() {
        for arn in std::iter::once(s.task_definition())
            .chain(s.deployments().iter().map(|d| d.task_definition()))
            .flatten()
        {
            if !wanted.iter().any(|w| w == arn) {
                wanted.push(arn.to_string());
            }
        }
    }
    for arn in wanted {
        if let Err(e) = describe(p, &c, env, &arn).await {
            warnings.push(e.to_string());
        }
    }

    // CloudWatch has its own budget, so that a hanging CloudWatch leaves the ECS
    // reading intact and its own data unknown. Alarms and metrics run together.
    let budget_error = || {
        format!(
            "network: CloudWatch did not answer within {}s",
            CLOUDWATCH_BUDGET.as_secs()
        )
    };
    let (alarms, (metrics, metrics_error)) = futures::future::join(
        async {
            tokio::time::timeout(CLOUDWATCH_BUDGET, read_alarms(p, &c, env))
                .await
                .unwrap_or_else(|_| AlarmReading {
                    found: Vec::new(),
                    error: Some(budget_error()),
                })
        },
        async {
            tokio::time::timeout(CLOUDWATCH_BUDGET, read_metrics(p, &c, env, now))
                .await
                .unwrap_or_else(|_| (HashMap::new(), Some(budget_error())))
        },
    )
    .await;
    let sources = crate::model::Sources {
        alarms: alarms.state(
            env.services
                .iter()
                .any(|s| !s.alarms.is_empty() || !s.alarm_prefixes.is_empty()),
        ),
        metrics: match &metrics_error {
            Some(e) => crate::model::SourceState::Failed { error: e.clone() },
            None if env.services.iter().any(|s| !s.metrics.is_empty()) => {
                crate::model::SourceState::Ready
            }
            None => crate::model::SourceState::NotUsed,
        },
    };
    warnings.extend(sources.failed());

    let mut out = Vec::new();
    for cfg in &env.services {
        let Some(s) = services.get(&cfg.ecs_service) else {
            if !warnings
                .iter()
                .any(|w| w.contains(&format!("\"{}\"", cfg.ecs_service)))
            {
                warnings.push(format!(
                    "service \"{}\" not found in cluster \"{}\"",
                    cfg.ecs_service, env.cluster
                ));
            }
            continue;
        };
        let snap = service_snapshot(
            p,
            &c,
            env,
            cfg,
            s,
            &alarms,
            (&metrics, metrics_error.as_deref()),
            &mut warnings,
        )
        .await;
        out.push(snap);
    }
    Ok(EnvSnapshot {
        env: env.name.clone(),
        read_at: now,
        services: out,
        warnings,
        sources,
    })
}

#[allow(clippy::too_many_arguments)]
async fn service_snapshot(
    p: &AwsProvider,
    c: &super::Clients,
    env: &EnvConfig,
    cfg: &ServiceConfig,
    s: &aws_sdk_ecs::types::Service,
    alarms: &AlarmReading,
    (metrics, metrics_error): (&Datapoints, Option<&str>),
    warnings: &mut Vec<String>,
) -> ServiceSnapshot {
    let td_arn = s.task_definition().unwrap_or_default().to_string();
    let info = p.shared().task_defs.get(&td_arn).cloned();
    let task_definition = info
        .as_ref()
        .map(|i| i.task_def.clone())
        .or_else(|| TaskDefRef::parse(&td_arn));
    let image_text = info.as_ref().and_then(|i| {
        i.images
            .iter()
            .find(|(n, _)| *n == cfg.container)
            .or_else(|| (i.images.len() == 1).then(|| &i.images[0]))
            .map(|(_, img)| img.clone())
    });
    if info.is_some() && image_text.is_none() {
        warnings.push(format!(
            "{}: no container \"{}\" in {td_arn}",
            cfg.name, cfg.container
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
                    .or_else(|| TaskDefRef::parse(arn))
                    .unwrap_or_else(|| TaskDefRef {
                        family: String::new(),
                        revision: 0,
                        arn: arn.to_string(),
                    }),
                rollout: rollout(d),
                reason: d.rollout_state_reason().map(crate::model::sanitize),
                running: count(d.running_count()),
                desired: count(d.desired_count()),
                pending: count(d.pending_count()),
                failed_tasks: count(d.failed_tasks()),
                created_at: d.created_at().and_then(to_chrono).unwrap_or_else(Utc::now),
                updated_at: d.updated_at().and_then(to_chrono).unwrap_or_else(Utc::now),
            }
        })
        .collect();
    // An ECS-native deployment in flight: show its own status on the primary.
    if deployments
        .iter()
        .any(|d| d.role == DeploymentRole::Primary && d.rollout == RolloutState::InProgress)
        && let Some(status) = super::write::native_status(p, c, env, cfg).await
        && let Some(primary) = deployments
            .iter_mut()
            .find(|d| d.role == DeploymentRole::Primary)
    {
        let reason = primary.reason.take().unwrap_or_default();
        primary.reason = Some(
            format!("{reason} · service deployment {status}")
                .trim_start_matches(" · ")
                .to_string(),
        );
        if status.starts_with("ROLLBACK") {
            primary.rollout = RolloutState::RolledBack;
        }
    }
    let (watched, alarms_unknown) = alarms.watched(&cfg.alarms, &cfg.alarm_prefixes);
    let history = match &task_definition {
        Some(t) => revisions(p, c, env, t).await.unwrap_or_else(|e| {
            warnings.push(format!("{}: revisions unreadable: {e}", cfg.name));
            Vec::new()
        }),
        None => Vec::new(),
    };
    ServiceSnapshot {
        name: cfg.name.clone(),
        ecs_service: cfg.ecs_service.clone(),
        image,
        digest,
        pinning,
        task_definition,
        running: count(s.running_count()),
        desired: count(s.desired_count()),
        pending: count(s.pending_count()),
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
                id: e.id().unwrap_or_default().to_string(),
                at: e.created_at().and_then(to_chrono).unwrap_or_else(Utc::now),
                message: crate::model::sanitize(e.message().unwrap_or_default()),
            })
            .collect(),
        history,
        metrics: cfg
            .metrics
            .iter()
            .map(|m| MetricSeries {
                label: m.label.clone(),
                points: metrics
                    .get(&(cfg.name.clone(), m.label.clone()))
                    .cloned()
                    .unwrap_or_default(),
                error: metrics_error.map(str::to_string),
            })
            .collect(),
    }
}

/// The digest of the configured container in the service's running tasks.
async fn task_digest(
    p: &AwsProvider,
    c: &super::Clients,
    env: &EnvConfig,
    cfg: &ServiceConfig,
) -> Result<Option<Digest>, ProviderError> {
    p.count(&env.name, "ListTasks");
    let tasks = c
        .ecs
        .list_tasks()
        .cluster(&env.cluster)
        .service_name(&cfg.ecs_service)
        .desired_status(DesiredStatus::Running)
        .max_results(10)
        .send()
        .await
        .map_err(|e| classify(&e, "ecs:ListTasks", &cfg.ecs_service))?;
    if tasks.task_arns().is_empty() {
        return Ok(None);
    }
    p.count(&env.name, "DescribeTasks");
    let out = c
        .ecs
        .describe_tasks()
        .cluster(&env.cluster)
        .set_tasks(Some(tasks.task_arns().to_vec()))
        .send()
        .await
        .map_err(|e| classify(&e, "ecs:DescribeTasks", &cfg.ecs_service))?;
    Ok(out
        .tasks()
        .iter()
        .flat_map(aws_sdk_ecs::types::Task::containers)
        .filter(|ct| ct.name() == Some(cfg.container.as_str()))
        .find_map(|ct| ct.image_digest().and_then(|d| Digest::parse(d).ok())))
}

/// ACTIVE revisions of the family, newest first; listed again only when the service moved.
async fn revisions(
    p: &AwsProvider,
    c: &super::Clients,
    env: &EnvConfig,
    current: &TaskDefRef,
) -> Result<Vec<RevisionInfo>, ProviderError> {
    let key = (env.name.clone(), current.family.clone());
    let cached = p
        .shared()
        .families
        .get(&key)
        .filter(|(for_arn, _)| *for_arn == current.arn)
        .map(|(_, list)| list.clone());
    let list = if let Some(l) = cached {
        l
    } else {
        p.count(&env.name, "ListTaskDefinitions");
        let out = c
            .ecs
            .list_task_definitions()
            .family_prefix(&current.family)
            .status(TaskDefinitionStatus::Active)
            .sort(SortOrder::Desc)
            .max_results(REVISIONS_LISTED)
            .send()
            .await
            .map_err(|e| classify(&e, "ecs:ListTaskDefinitions", &current.family))?;
        let list: Vec<TaskDefRef> = out
            .task_definition_arns()
            .iter()
            .filter_map(|a| TaskDefRef::parse(a))
            .filter(|t| t.family == current.family)
            .collect();
        p.shared()
            .families
            .insert(key, (current.arn.clone(), list.clone()));
        // The rollback fallback is the newest older revision: learn its digest once.
        if let Some(prev) = list
            .iter()
            .filter(|t| t.revision < current.revision)
            .max_by_key(|t| t.revision)
            && let Err(e) = describe(p, c, env, &prev.arn).await
        {
            tracing::debug!(error = %e, "previous revision not described");
        }
        list
    };
    let sh = p.shared();
    let digest_of = |arn: &str| {
        sh.task_defs.get(arn).and_then(|i| {
            i.images
                .iter()
                .find_map(|(_, img)| ImageRef::parse(img).ok().and_then(|r| r.digest))
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
        out.push(RevisionInfo {
            task_definition: current.clone(),
            digest: digest_of(&current.arn),
            active: true,
        });
    }
    out.sort_by_key(|r| r.task_definition.revision);
    Ok(out)
}
