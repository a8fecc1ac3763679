//! Unit tests of `read.rs`: ECS answers built with the SDK's builders.
use super::*;
use aws_sdk_ecs::types::{
    CanaryConfiguration, DeploymentConfiguration, DeploymentController, LinearConfiguration,
    Service,
};

fn service(dc: DeploymentConfiguration) -> Service {
    Service::builder().deployment_configuration(dc).build()
}

#[test]
fn every_ecs_strategy_is_read() {
    let canary = service(
        DeploymentConfiguration::builder()
            .strategy(DeploymentStrategy::Canary)
            .bake_time_in_minutes(10)
            .canary_configuration(
                CanaryConfiguration::builder()
                    .canary_percent(5.5)
                    .canary_bake_time_in_minutes(3)
                    .build(),
            )
            .build(),
    );
    let s = deployment_config(&canary).strategy;
    assert_eq!(
        s,
        Strategy::Canary {
            percent_hundredths: 550,
            canary_bake: Duration::from_mins(3),
            bake: Duration::from_mins(10),
        }
    );
    assert_eq!(s.to_string(), "canary 5.5% for 3m, then all (bake 10m)");
    let linear = service(
        DeploymentConfiguration::builder()
            .strategy(DeploymentStrategy::Linear)
            .linear_configuration(
                LinearConfiguration::builder()
                    .step_percent(20.0)
                    .step_bake_time_in_minutes(2)
                    .build(),
            )
            .build(),
    );
    assert_eq!(
        deployment_config(&linear).strategy.to_string(),
        "linear 20% every 2m (bake 0s)"
    );
    let bg = service(
        DeploymentConfiguration::builder()
            .strategy(DeploymentStrategy::BlueGreen)
            .bake_time_in_minutes(5)
            .build(),
    );
    assert_eq!(
        deployment_config(&bg).strategy,
        Strategy::BlueGreen {
            bake: Duration::from_mins(5)
        }
    );
    // CODE_DEPLOY is not blue/green on ECS's terms: shipdeck cannot drive it.
    let cd = Service::builder()
        .deployment_controller(
            DeploymentController::builder()
                .r#type(DeploymentControllerType::CodeDeploy)
                .build()
                .unwrap(),
        )
        .build();
    assert_eq!(deployment_config(&cd).strategy, Strategy::CodeDeploy);
    assert!(
        Strategy::CodeDeploy
            .refusal("api")
            .is_some_and(|r| r.contains("CODE_DEPLOY"))
    );
    assert_eq!(
        deployment_config(&Service::builder().build()).strategy,
        Strategy::Rolling
    );
    // A percentage outside 0–100 or not a number is bounded, never a panic.
    assert_eq!(Strategy::hundredths(Some(f64::NAN)), 0);
    assert_eq!(Strategy::hundredths(Some(250.0)), 10_000);
}
