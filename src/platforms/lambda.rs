//! AWS Lambda as a platform: a service is a function and an alias; a
//! revision is a published version; a promotion publishes the source stage's
//! artifact (by digest) as a new version and shifts the alias's traffic to
//! it in steps; a rollback is one `UpdateAlias` back to the stable version.

pub mod api;
pub mod digest;
pub mod marker;
pub mod read;
pub mod routing;
pub mod runner;
pub mod sdk;
pub mod snapshot;
pub mod steps;
