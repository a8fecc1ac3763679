//! ECS's service-deployment API for stepped rollouts (canary, linear,
//! blue/green): where one stands (`DescribeServiceDeployments`), and a
//! person's decision at a paused lifecycle hook (`ContinueServiceDeployment`)
//! or without one (`StopServiceDeployment` with `ROLLBACK`).
//!
//! Emulators do not implement these operations; `tests/service_deployments.rs`
//! checks the calls against a stub shaped from the API reference.

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    DeploymentLifecycleHookAction, DeploymentLifecycleHookStatus, ServiceDeployment,
    StopServiceDeploymentStopType,
};

use super::{classify, to_chrono};
use crate::model::shift::{ALL, planned_weights};
use crate::model::{Decision, Pause, Shift, Strategy, sanitize};
use crate::provider::ProviderError;

/// Where the service deployment `arn` stands, when it moves traffic in steps.
pub async fn describe(ecs: &Client, arn: &str) -> Result<Option<Shift>, ProviderError> {
    let out = ecs
        .describe_service_deployments()
        .service_deployment_arns(arn)
        .send()
        .await
        .map_err(|e| classify(&e, "ecs:DescribeServiceDeployments", arn))?;
    Ok(out.service_deployments().first().and_then(shift_of))
}

/// A service deployment as a [`Shift`]: `None` for a rolling one.
pub fn shift_of(d: &ServiceDeployment) -> Option<Shift> {
    let strategy = super::read::strategy_of(d.deployment_configuration(), false);
    let (kind, step_time, bake) = match &strategy {
        Strategy::Canary {
            canary_bake, bake, ..
        } => ("canary", *canary_bake, *bake),
        Strategy::Linear { interval, bake, .. } => ("linear", *interval, *bake),
        Strategy::BlueGreen { bake } => ("blue/green", *bake, *bake),
        _ => return None,
    };
    let weights = planned_weights(&strategy).unwrap_or_else(|| vec![ALL]);
    let new_weight =
        Strategy::hundredths(d.target_service_revision().and_then(
            aws_sdk_ecs::types::ServiceRevisionSummary::requested_production_traffic_weight,
        ));
    let step = if new_weight == 0 {
        0
    } else {
        weights
            .iter()
            .position(|w| *w >= new_weight)
            .map_or(weights.len(), |i| i + 1)
    };
    let step = u32::try_from(step).unwrap_or(u32::MAX);
    let stage = d
        .lifecycle_stage()
        .map_or("UNKNOWN", |s| s.as_str())
        .to_string();
    // The API names no step times: a step (or the bake) is timed from the
    // deployment's last update, which is when ECS moved it there.
    let updated = d.updated_at().and_then(to_chrono);
    let ends_at = match stage.as_str() {
        "BAKE_TIME" => updated.map(|u| u + crate::model::time::chrono_duration(bake)),
        "PRODUCTION_TRAFFIC_SHIFT" if (step as usize) < weights.len() => {
            updated.map(|u| u + crate::model::time::chrono_duration(step_time))
        }
        _ => None,
    };
    let pause = d
        .lifecycle_hook_details()
        .iter()
        .find(|h| h.status() == Some(&DeploymentLifecycleHookStatus::AwaitingAction))
        .map(|h| Pause {
            hook: sanitize(h.hook_id().unwrap_or_default()),
            expires_at: h.expires_at().and_then(to_chrono),
            timeout_action: h.timeout_action().map(|a| a.as_str().to_string()),
        });
    Some(Shift {
        kind: kind.to_string(),
        deployment: sanitize(d.service_deployment_arn().unwrap_or_default()),
        new_weight,
        weights,
        step,
        started: Vec::new(),
        stage: sanitize(&stage),
        ends_at,
        pause,
        revisions: Vec::new(),
    })
}

/// Takes `decision` on the service deployment of `shift`: at a paused hook,
/// `ContinueServiceDeployment` with `CONTINUE` or `ROLLBACK`; without one, a
/// rollback is `StopServiceDeployment` with `ROLLBACK` and a continue is refused.
pub async fn decide(
    ecs: &Client,
    shift: &Shift,
    decision: Decision,
) -> Result<String, ProviderError> {
    let arn = &shift.deployment;
    match (&shift.pause, decision) {
        (Some(p), _) => {
            let action = match decision {
                Decision::Continue => DeploymentLifecycleHookAction::Continue,
                Decision::Rollback => DeploymentLifecycleHookAction::Rollback,
            };
            ecs.continue_service_deployment()
                .service_deployment_arn(arn)
                .hook_id(&p.hook)
                .action(action.clone())
                .send()
                .await
                .map_err(|e| classify(&e, "ecs:ContinueServiceDeployment", arn))?;
            Ok(format!(
                "ECS takes {} at the paused {}",
                action.as_str(),
                shift.step_label()
            ))
        }
        (None, Decision::Rollback) => {
            ecs.stop_service_deployment()
                .service_deployment_arn(arn)
                .stop_type(StopServiceDeploymentStopType::Rollback)
                .send()
                .await
                .map_err(|e| classify(&e, "ecs:StopServiceDeployment", arn))?;
            Ok(format!(
                "ECS stops the deployment with ROLLBACK at {}",
                shift.step_label()
            ))
        }
        (None, Decision::Continue) => Err(ProviderError::Conflict {
            message: format!(
                "{} is not paused at a lifecycle hook: there is nothing to continue",
                shift.step_label()
            ),
        }),
    }
}
