//! Fly.io Machines as a platform: a service is an app (optionally one
//! process group of it) whose machines are read through the Machines API in
//! one request per app; a promotion takes every machine's lease, updates one
//! started machine to `repo@digest` (the canary), waits for it to start with
//! Fly's checks passing and shipdeck's health and smoke green, holds, then
//! updates the rest a batch at a time, every update carrying its lease's
//! nonce, and releases the leases at the end, also on abort. Fly has no
//! rollback: shipdeck's redeploys the previous stable digest the same way.

pub mod api;
pub mod choose;
pub mod http;
pub mod marker;
pub mod provider;
pub mod read;
pub mod runner;
pub mod snapshot;
pub mod steps;
pub mod words;

/// What Fly can do beyond reading and deploying.
pub const CAPABILITIES: crate::provider::Capabilities = crate::provider::Capabilities {
    // After the canary, a person may decide before the rest.
    pauses: true,
    // shipdeck itself updates the machines one by one, holding their leases.
    runs_in_process: true,
    // The machines say which image they run; there is no history to page.
    history_costs_calls: false,
    // An earlier image is deployed again (Fly keeps no rollback target).
    rollback: crate::provider::RollbackStyle::Redeploy,
    units: Some("machines"),
    places: true,
    watched: false,
};
