//! OCI registries (issue 33): who shipdeck is to a registry (the user's
//! Docker configuration, `docker_config.rs`), and what a registry says of
//! a digest (`reading.rs`).

pub mod docker_config;
pub mod reading;

pub use docker_config::{Credential, CredentialError, DockerConfig};
pub use reading::{Labels, Reading, SignatureLayer};
