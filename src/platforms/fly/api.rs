//! The Machines API calls a reading, a promotion and a rollback make, as one
//! trait: [`super::http::HttpFly`] implements it over HTTP (Fly, or the
//! tests' stub), and the simulator over its simulated machines, so both are
//! driven by the same steps and read by the same snapshot builder.
//!
//! The machine's shape is fly-go's `machine_types.go` (`Machine`,
//! `MachineImageRef`, `MachineCheckStatus`, `MachineEvent`, `MachineLease`);
//! only the fields shipdeck uses are kept, and the config is kept whole, as
//! read, because an update must send the entire config back ("we don't
//! support partial updates").

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::provider::ProviderError;

/// States a machine passes through on its way elsewhere (docs
/// `machine-states`).
const TRANSIENT: &[&str] = &[
    "replacing",
    "updating",
    "starting",
    "stopping",
    "creating",
    "destroying",
    "launch_failed",
    "suspending",
];

/// One machine as the API answers it (`GET /v1/apps/{app}/machines[/{id}]`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MachineView {
    /// The machine's id (`148ed726c5d918`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// `created started stopped suspended failed`, or a transient state
    /// (`replacing updating starting stopping creating destroying …`).
    pub state: String,
    /// Where it runs (`fra`).
    pub region: String,
    /// Changes with every update of the machine ("unique for each version").
    pub instance_id: String,
    /// `ok`, `unknown` or `unreachable`: only `ok` is read whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_status: Option<String>,
    /// The config could not be fully retrieved. The API sends the partial
    /// config itself here (fly-go `IncompleteConfig *MachineConfig`) in
    /// place of `config`: read as whether it came.
    #[serde(
        skip_serializing_if = "std::ops::Not::not",
        deserialize_with = "present"
    )]
    pub incomplete_config: bool,
    /// Excluded from new traffic.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cordoned: bool,
    /// The image it runs, as resolved by Fly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_ref: Option<ImageRefView>,
    /// The whole config as read (`image`, `metadata`, `checks`, `services`,
    /// …), sent back whole on an update with only the image changed.
    pub config: serde_json::Value,
    /// The checks' latest results.
    pub checks: Vec<CheckView>,
    /// Its events, as the API lists them.
    pub events: Vec<EventView>,
    /// When it last changed (RFC 3339), when the API says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// Whether a field came: `true`, or any object; `false`, `null` and absent
/// are not.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(!matches!(
        v,
        serde_json::Value::Null | serde_json::Value::Bool(false)
    ))
}

/// `MachineImageRef`: the image a machine runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageRefView {
    /// `registry.fly.io`.
    pub registry: String,
    /// `edge-prod`.
    pub repository: String,
    /// The tag it was deployed by, if any.
    pub tag: String,
    /// `sha256:…`.
    pub digest: String,
    /// The image's labels (`org.opencontainers.image.revision`, …).
    pub labels: BTreeMap<String, String>,
}

/// `MachineCheckStatus`: one check's latest result.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckView {
    /// The check's name (`servicecheck-00-http-8080`, or the config's key).
    pub name: String,
    /// `passing`, `warning` or `critical`.
    pub status: String,
    /// What the check saw.
    pub output: String,
    /// When it was last updated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// `MachineEvent`: something that happened to the machine.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EventView {
    /// `launch`, `update`, `start`, `exit`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The state it led to.
    pub status: String,
    /// `flyd`, `user`, …
    pub source: String,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The request behind it (an exit's code and whether it ran out of memory).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub request: serde_json::Value,
}

impl MachineView {
    /// A key of `config.metadata`, when it is text.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.config.get("metadata")?.get(key)?.as_str()
    }

    /// Its process group (`fly_process_group`, else `process_group`).
    pub fn group(&self) -> Option<&str> {
        self.metadata("fly_process_group")
            .or_else(|| self.metadata("process_group"))
    }

    /// The Fly release it was last deployed by (`fly_release_version`).
    pub fn release_version(&self) -> Option<&str> {
        self.metadata("fly_release_version")
    }

    /// Whether it is read whole: its host is `ok` (or not said) and its
    /// config came whole. A machine that is not is unknown: never green,
    /// never promoted over.
    pub fn is_known(&self) -> bool {
        self.host_status.as_deref().is_none_or(|h| h == "ok") && !self.incomplete_config
    }

    /// Whether it is on its way to another state (docs `machine-states`):
    /// never converged, never promoted over.
    pub fn is_transient(&self) -> bool {
        TRANSIENT.contains(&self.state.as_str())
    }

    /// The digest it runs, when the API names one.
    pub fn digest(&self) -> Option<&str> {
        self.image_ref
            .as_ref()
            .map(|i| i.digest.as_str())
            .filter(|d| !d.is_empty())
    }
}

/// A machine's lease (`MachineLease.data`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Lease {
    /// What every change of the leased machine must carry
    /// (`fly-machine-lease-nonce`).
    pub nonce: String,
    /// When it lapses unless refreshed, in seconds since the epoch.
    pub expires_at: i64,
    /// Who holds it (an email or an organisation's token name).
    pub owner: String,
    /// What the holder said it is for.
    pub description: String,
    /// The machine's `instance_id` when the lease was taken.
    pub version: String,
}

/// Why a lease could not be taken or refreshed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// Someone else holds it (409): who, until when, and what they said.
    #[error("machine {machine} is leased by {owner}: {message}")]
    Held {
        /// The machine.
        machine: String,
        /// The holder, as the API names it (outside text).
        owner: String,
        /// When it lapses, seconds since the epoch (0: not said).
        expires_at: i64,
        /// The holder's description (outside text).
        description: String,
        /// The API's message (outside text).
        message: String,
    },
    /// Any other failure.
    #[error(transparent)]
    Api(#[from] ProviderError),
}

/// An update of one machine: its whole config with the new image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpdateBody {
    /// The entire config (the API has no partial updates).
    pub config: serde_json::Value,
    /// The `instance_id` the config was read at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<String>,
    /// Do not start a stopped machine.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skip_launch: bool,
}

/// The calls, by app and machine id.
#[allow(async_fn_in_trait)] // used within the crate, with concrete types
pub trait FlyApi {
    /// Every machine of `app` (one request).
    async fn list(&self, app: &str) -> Result<Vec<MachineView>, ProviderError>;
    /// One machine.
    async fn get(&self, app: &str, id: &str) -> Result<MachineView, ProviderError>;
    /// Takes `id`'s lease for `ttl`, saying what for.
    async fn acquire_lease(
        &self,
        app: &str,
        id: &str,
        ttl: Duration,
        description: &str,
    ) -> Result<Lease, LeaseError>;
    /// Extends a lease this process holds.
    async fn refresh_lease(
        &self,
        app: &str,
        id: &str,
        nonce: &str,
        ttl: Duration,
    ) -> Result<Lease, LeaseError>;
    /// The lease on `id`, if any.
    async fn lease(&self, app: &str, id: &str) -> Result<Option<Lease>, ProviderError>;
    /// Releases a lease this process holds (a lease already gone is fine).
    async fn release_lease(&self, app: &str, id: &str, nonce: &str) -> Result<(), ProviderError>;
    /// Updates a leased machine; the answer is the machine with its new
    /// `instance_id`.
    async fn update(
        &self,
        app: &str,
        id: &str,
        nonce: &str,
        body: &UpdateBody,
    ) -> Result<MachineView, ProviderError>;
    /// Waits up to `timeout` (at most 60 s) for `instance_id` of `id` to
    /// reach `state`: `false` when it did not in time.
    async fn wait(
        &self,
        app: &str,
        id: &str,
        instance_id: &str,
        state: &str,
        timeout: Duration,
    ) -> Result<bool, ProviderError>;
    /// Sets `config.metadata[key]` without a new instance.
    async fn set_metadata(
        &self,
        app: &str,
        id: &str,
        key: &str,
        value: &str,
    ) -> Result<(), ProviderError>;
    /// Removes `config.metadata[key]`.
    async fn delete_metadata(&self, app: &str, id: &str, key: &str) -> Result<(), ProviderError>;
}

/// What a promotion or rollback this process runs says about its service,
/// for the service's reading (the snapshot builder shows its canary, its
/// progress, its pause and how it ended).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunView {
    /// The run's id (`fly-…`): the deployment's id in readings and records.
    pub id: String,
    /// The digest the machines ran before.
    pub from: Option<String>,
    /// The digest the run moves them to.
    pub to: String,
    /// It is a rollback (no canary, no holds).
    pub rollback: bool,
    /// The canary machine, once chosen.
    pub canary: Option<String>,
    /// The machines it has updated, in order.
    pub updated: Vec<String>,
    /// The machines it updates in all.
    pub total: usize,
    /// It waits for a person's decision (since then).
    pub paused_since: Option<chrono::DateTime<chrono::Utc>>,
    /// What it did, in order (each becomes one ledger record).
    pub steps: Vec<String>,
    /// How it ended, when it did: `Ok` finished, `Err` why it failed.
    pub ended: Option<Result<(), String>>,
    /// When it started.
    pub started: chrono::DateTime<chrono::Utc>,
}
