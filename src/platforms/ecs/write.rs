//! Promotion: register a copy of the running revision with only the image changed,
//! then point the service at it. Rollback: point the service at an older revision
//! (or stop an in-flight native deployment with ROLLBACK).

use aws_sdk_ecs::types::{
    ServiceDeploymentStatus, StopServiceDeploymentStopType, TaskDefinitionField,
};

use super::{AwsProvider, classify};
use crate::config::{EnvConfig, ServiceConfig};
use crate::model::{Digest, ImageRef, Revision};
use crate::provider::{DeployStarted, ProviderError};

async fn current_task_def(
    p: &AwsProvider,
    c: &super::Clients,
    env: &EnvConfig,
    svc: &ServiceConfig,
) -> Result<String, ProviderError> {
    p.count(&env.name, "DescribeServices");
    let out = c
        .ecs
        .describe_services()
        .cluster(super::cluster(env))
        .services(super::service_name(svc))
        .send()
        .await
        .map_err(|e| classify(&e, "ecs:DescribeServices", super::cluster(env)))?;
    out.services()
        .iter()
        .find(|s| s.status() != Some("INACTIVE"))
        .and_then(|s| s.task_definition())
        .map(str::to_string)
        .ok_or_else(|| ProviderError::NotFound {
            what: "service".to_string(),
            name: format!(
                "{} in cluster {}",
                super::service_name(svc),
                super::cluster(env)
            ),
        })
}

async fn update_service(
    p: &AwsProvider,
    c: &super::Clients,
    env: &EnvConfig,
    svc: &ServiceConfig,
    from: Option<Revision>,
    to_arn: &str,
) -> Result<DeployStarted, ProviderError> {
    p.count(&env.name, "UpdateService");
    let out = c
        .ecs
        .update_service()
        .cluster(super::cluster(env))
        .service(super::service_name(svc))
        .task_definition(to_arn)
        .send()
        .await
        .map_err(|e| classify(&e, "ecs:UpdateService", super::service_name(svc)))?;
    let primary = out.service().and_then(|s| {
        s.deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"))
    });
    let to = Revision::parse(to_arn).ok_or_else(|| ProviderError::Other {
        message: format!("\"{to_arn}\" is not a task-definition reference"),
    })?;
    Ok(DeployStarted {
        service: svc.name.clone(),
        from,
        // Only a deployment running our revision is ours (moto adds none).
        deployment_id: primary
            .filter(|d| {
                d.task_definition()
                    .and_then(Revision::parse)
                    .is_some_and(|t| t.same_revision(&to))
            })
            .and_then(|d| d.id())
            .map(str::to_string),
        to: Some(to),
        change: None,
    })
}

/// Registers a copy of the service's revision with the container image at `digest`
/// and updates the service to it.
pub async fn deploy(
    p: &AwsProvider,
    env: &EnvConfig,
    svc: &ServiceConfig,
    digest: &Digest,
) -> Result<DeployStarted, ProviderError> {
    let c = p.clients(env).await?.clone();
    let current = current_task_def(p, &c, env, svc).await?;
    p.count(&env.name, "DescribeTaskDefinition");
    let out = c
        .ecs
        .describe_task_definition()
        .task_definition(&current)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .map_err(|e| classify(&e, "ecs:DescribeTaskDefinition", &current))?;
    let td = out
        .task_definition()
        .ok_or_else(|| ProviderError::NotFound {
            what: "task definition".to_string(),
            name: current.clone(),
        })?;
    let mut containers = td.container_definitions().to_vec();
    let Some(container) = containers
        .iter_mut()
        .find(|cd| cd.name() == Some(super::container(svc)))
    else {
        return Err(ProviderError::NotFound {
            what: "container".to_string(),
            name: format!("{} in {current}", super::container(svc)),
        });
    };
    let image = container.image().unwrap_or_default();
    let base = ImageRef::parse(image).map_err(|e| ProviderError::Other {
        message: format!(
            "the image of \"{}\" ({image}) is unreadable: {e}",
            super::container(svc)
        ),
    })?;
    container.image = Some(base.pinned_to(digest).to_string());
    let tags = out.tags().to_vec();
    p.count(&env.name, "RegisterTaskDefinition");
    // Every writable field is copied; read-only ones (ARN, revision, status,
    // registeredAt/By, requiresAttributes, compatibilities) are left out.
    let registered = c
        .ecs
        .register_task_definition()
        .family(td.family().unwrap_or_default())
        .set_task_role_arn(td.task_role_arn().map(str::to_string))
        .set_execution_role_arn(td.execution_role_arn().map(str::to_string))
        .set_network_mode(td.network_mode().cloned())
        .set_container_definitions(Some(containers))
        .set_volumes(Some(td.volumes().to_vec()))
        .set_placement_constraints(Some(td.placement_constraints().to_vec()))
        .set_requires_compatibilities(Some(td.requires_compatibilities().to_vec()))
        .set_cpu(td.cpu().map(str::to_string))
        .set_memory(td.memory().map(str::to_string))
        .set_tags((!tags.is_empty()).then_some(tags))
        .set_pid_mode(td.pid_mode().cloned())
        .set_ipc_mode(td.ipc_mode().cloned())
        .set_proxy_configuration(td.proxy_configuration().cloned())
        .set_ephemeral_storage(td.ephemeral_storage().cloned())
        .set_runtime_platform(td.runtime_platform().cloned())
        .set_enable_fault_injection(td.enable_fault_injection())
        .send()
        .await
        .map_err(|e| {
            classify(
                &e,
                "ecs:RegisterTaskDefinition",
                td.family().unwrap_or_default(),
            )
        })?;
    let new_arn = registered
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .ok_or_else(|| ProviderError::Other {
            message: "RegisterTaskDefinition answered without an ARN".to_string(),
        })?
        .to_string();
    update_service(p, &c, env, svc, Revision::parse(&current), &new_arn).await
}

/// Points the service at `to`. During an ECS-native deployment that is still in
/// flight, it is stopped with ROLLBACK instead, where the endpoint supports it.
pub async fn rollback(
    p: &AwsProvider,
    env: &EnvConfig,
    svc: &ServiceConfig,
    to: &Revision,
) -> Result<DeployStarted, ProviderError> {
    let c = p.clients(env).await?.clone();
    let current = current_task_def(p, &c, env, svc).await?;
    let from = Revision::parse(&current);
    if let Some(arn) = native_in_flight(p, &c, env, svc).await {
        p.count(&env.name, "StopServiceDeployment");
        match c
            .ecs
            .stop_service_deployment()
            .service_deployment_arn(&arn)
            .stop_type(StopServiceDeploymentStopType::Rollback)
            .send()
            .await
        {
            Ok(_) => {
                return Ok(DeployStarted {
                    service: svc.name.clone(),
                    from,
                    to: Some(to.clone()),
                    change: None,
                    deployment_id: None,
                });
            }
            Err(e) => tracing::warn!(
                error = %classify(&e, "ecs:StopServiceDeployment", &arn),
                "native rollback refused; updating the service instead"
            ),
        }
    }
    let target = if to.arn.contains(":task-definition/") {
        to.arn.to_string()
    } else {
        to.to_string()
    };
    update_service(p, &c, env, svc, from, &target).await
}

/// The newest in-flight ECS service deployment (ARN and status), when the API offers one.
async fn in_flight(
    p: &AwsProvider,
    c: &super::Clients,
    env: &EnvConfig,
    svc: &ServiceConfig,
) -> Option<(String, String)> {
    let _probe = p.service_deployments_probe(&env.name).await;
    if !p.service_deployments_supported(&env.name) {
        return None;
    }
    p.count(&env.name, "ListServiceDeployments");
    match c
        .ecs
        .list_service_deployments()
        .cluster(super::cluster(env))
        .service(super::service_name(svc))
        .set_status(Some(vec![
            ServiceDeploymentStatus::Pending,
            ServiceDeploymentStatus::InProgress,
            ServiceDeploymentStatus::RollbackRequested,
            ServiceDeploymentStatus::RollbackInProgress,
        ]))
        .send()
        .await
    {
        Ok(out) => {
            p.set_service_deployments(&env.name, true);
            out.service_deployments().first().and_then(|d| {
                Some((
                    d.service_deployment_arn()?.to_string(),
                    d.status().map_or("?", |s| s.as_str()).to_string(),
                ))
            })
        }
        Err(e) => {
            // Emulators (and older endpoints) lack these APIs: fall back, and stop asking.
            tracing::debug!(error = %classify(&e, "ecs:ListServiceDeployments", super::service_name(svc)), "no service-deployment API");
            p.set_service_deployments(&env.name, false);
            None
        }
    }
}

/// The ARN and status of an in-flight native deployment (`IN_PROGRESS`, `ROLLBACK_IN_PROGRESS`…).
pub async fn native_status(
    p: &AwsProvider,
    c: &super::Clients,
    env: &EnvConfig,
    svc: &ServiceConfig,
) -> Option<(String, String)> {
    in_flight(p, c, env, svc).await
}

async fn native_in_flight(
    p: &AwsProvider,
    c: &super::Clients,
    env: &EnvConfig,
    svc: &ServiceConfig,
) -> Option<String> {
    in_flight(p, c, env, svc)
        .await
        .filter(|(_, status)| status == "PENDING" || status == "IN_PROGRESS")
        .map(|(arn, _)| arn)
}
