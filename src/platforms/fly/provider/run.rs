//! Promotions, rollbacks and decisions of services on Fly: the runs this
//! process drives, from the first lease to the last release.

use std::collections::HashMap;
use std::sync::Mutex;

use super::FlyProvider;
use crate::config::{EnvConfig, ServiceConfig};
use crate::model::{Digest, Revision};
use crate::platforms::fly::api::RunView;
use crate::provider::{DeployStarted, ProviderError};

/// The runs of this process, by (environment, service).
#[derive(Debug, Default)]
pub struct Runs(pub(crate) Mutex<HashMap<(String, String), RunView>>);

fn not_yet() -> ProviderError {
    ProviderError::Other {
        message: "promoting on Fly is not built yet".to_string(),
    }
}

/// Promotes `digest` into `service` (or redeploys an earlier one).
pub(super) async fn deploy(
    p: &FlyProvider,
    env: &EnvConfig,
    service: &ServiceConfig,
    digest: &Digest,
) -> Result<DeployStarted, ProviderError> {
    let _ = (p, env, service, digest);
    Err(not_yet())
}

/// Fly keeps no revisions to point back at: a rollback is a redeploy.
pub(super) async fn rollback(
    p: &FlyProvider,
    env: &EnvConfig,
    service: &ServiceConfig,
    to: &Revision,
) -> Result<DeployStarted, ProviderError> {
    let _ = (p, env, service, to);
    Err(not_yet())
}

/// A person's decision at a paused run.
pub(super) async fn decide_step(
    p: &FlyProvider,
    env: &EnvConfig,
    service: &ServiceConfig,
    shift: &crate::model::Shift,
    decision: crate::model::Decision,
) -> Result<String, ProviderError> {
    let _ = (p, env, service, shift, decision);
    Err(not_yet())
}
