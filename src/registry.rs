//! OCI registries (issue 33, being built): who shipdeck is to a registry.
//! So far the credentials of the user's Docker configuration
//! (`docker_config.rs`): `auths` entries and credential helpers, read the
//! way `docker` reads them, the secret never in a message.

pub mod docker_config;

pub use docker_config::{Credential, CredentialError, DockerConfig};
