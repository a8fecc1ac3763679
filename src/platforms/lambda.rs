//! AWS Lambda as a platform: a service is a function and an alias; a
//! revision is a published version; a promotion publishes the source stage's
//! artifact (by digest) as a new version and shifts the alias's traffic to
//! it in steps; a rollback is one `UpdateAlias` back to the stable version.

pub mod api;
pub mod artifacts;
pub mod codedeploy;
pub mod digest;
pub mod marker;
pub mod package;
pub mod provider;
pub mod read;
pub mod routing;
pub mod runner;
pub mod sdk;
pub mod settled;
pub mod snapshot;
pub mod steps;
pub mod words;

/// What Lambda can do beyond reading and deploying.
pub const CAPABILITIES: crate::provider::Capabilities = crate::provider::Capabilities {
    // Each step can wait for a person, from any process (the alias's marker).
    pauses: true,
    // The promotion's steps are driven by the process that started it.
    runs_in_process: true,
    history_costs_calls: true,
    // Published versions are kept, numbered: the alias points back at one.
    rollback: crate::provider::RollbackStyle::Revisions,
    // An alias runs nothing to count: no running/desired is shown.
    units: None,
    places: true,
    watched: false,
};
