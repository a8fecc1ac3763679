//! Lambda's own words: what a promotion changes (the alias's version, the
//! new version from the promoted artifact, the steps), what a rollback does,
//! where a function runs.

use crate::config::{EnvConfig, ServiceConfig};
use crate::model::{DeployWords, Digest, Revision, ServiceSnapshot};

/// Where an environment's Lambda functions run: their region.
pub fn location(env: &EnvConfig) -> String {
    env.aws
        .as_ref()
        .map_or_else(|| "lambda".to_string(), |a| format!("lambda {}", a.region))
}

/// A Lambda function never rolls a shift back by itself (a CodeDeploy
/// deployment may, and shipdeck does not drive those).
pub const SELF_ROLLBACK: Option<&str> = None;

/// How a service on Lambda rolls out.
pub fn strategy(c: &crate::model::DeploymentConfig) -> String {
    c.strategy.to_string()
}

/// What promoting `digest` into `svc` does.
pub fn deploy(
    svc: &ServiceConfig,
    now: Option<&ServiceSnapshot>,
    digest: Option<&Digest>,
) -> DeployWords {
    let Some(l) = svc.lambda.as_deref() else {
        return DeployWords {
            diff: vec![format!("{} has no [environment.service.lambda]", svc.name)],
            steps: Vec::new(),
            watch_step: "then".to_string(),
        };
    };
    let current = now
        .and_then(|s| s.task_definition.as_ref())
        .map_or_else(|| "its current version".to_string(), ToString::to_string);
    let new = digest.map_or_else(|| "the promoted artifact".to_string(), ToString::to_string);
    DeployWords {
        diff: vec![
            format!("- alias {}:{} → {current}", l.function, l.alias),
            format!("+ a new version of {} with {new}", l.function),
            format!("  traffic: {}", l.steps.describe()),
        ],
        steps: vec![
            format!("1. update {}'s code to {new} and wait for it", l.function),
            "2. publish it as a version, only while it still holds that code".to_string(),
            format!(
                "3. shift alias {} to it: {}, each step read back first",
                l.alias,
                l.steps.describe()
            ),
        ],
        watch_step: "4.".to_string(),
    }
}

/// What rolling `svc` back to `to` does.
pub fn rollback(svc: &ServiceConfig, to: &Revision) -> String {
    svc.lambda.as_deref().map_or_else(
        || format!("{} has no [environment.service.lambda]", svc.name),
        |l| {
            format!(
                "alias {}:{} points at {to} again with its weights cleared (one UpdateAlias), then watched like a deploy.",
                l.function, l.alias
            )
        },
    )
}
