//! Fly's own words: what a promotion changes (the machines' image, canary
//! first, then the rest), what a rollback does, where an environment's apps
//! are reached.

use crate::config::{EnvConfig, ServiceConfig};
use crate::model::{DeployWords, Digest, Revision, ServiceSnapshot};

/// Where an environment's Fly apps are reached: the Machines API's host.
pub fn location(env: &EnvConfig) -> String {
    let url = env
        .fly
        .as_ref()
        .map_or(crate::config::fly::DEFAULT_API_URL, |f| f.api_url.as_str());
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(u.port().map_or(host.clone(), |p| format!("{host}:{p}")))
        })
        .unwrap_or_else(|| url.to_string());
    format!("fly {host}")
}

/// Fly never rolls a deploy back by itself.
pub const SELF_ROLLBACK: Option<&str> = None;

/// How a service on Fly rolls out.
pub fn strategy(c: &crate::model::DeploymentConfig) -> String {
    c.strategy.to_string()
}

/// What promoting `digest` into `svc` does.
pub fn deploy(
    svc: &ServiceConfig,
    now: Option<&ServiceSnapshot>,
    digest: Option<&Digest>,
) -> DeployWords {
    let Some(f) = svc.fly.as_deref() else {
        return DeployWords {
            diff: vec![format!("{} has no [environment.service.fly]", svc.name)],
            steps: Vec::new(),
            watch_step: "then".to_string(),
        };
    };
    let current = now
        .and_then(|s| s.digest.as_ref())
        .map_or_else(|| "its current image".to_string(), ToString::to_string);
    let new = digest.map_or_else(|| "the promoted image".to_string(), ToString::to_string);
    DeployWords {
        diff: vec![
            format!("- machines of {} run {current}", f.app),
            format!("+ machines of {} run {new}", f.app),
        ],
        steps: vec![
            format!("1. lease every machine of {} (a concurrent deploy is refused)", f.app),
            "2. update one started machine (the canary) and wait for it to start with its checks passing".to_string(),
            "3. update the rest a batch at a time, judging the abort rules between batches".to_string(),
        ],
        watch_step: "4.".to_string(),
    }
}

/// What rolling `svc` back to `to` does.
pub fn rollback(svc: &ServiceConfig, to: &Revision) -> String {
    svc.fly.as_deref().map_or_else(
        || format!("{} has no [environment.service.fly]", svc.name),
        |f| {
            format!(
                "every machine of {} that runs another image is updated back to {to}, under its lease, then watched like a deploy.",
                f.app
            )
        },
    )
}
