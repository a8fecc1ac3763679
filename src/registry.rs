//! OCI registries (issue 33): who shipdeck is to a registry (the user's
//! Docker configuration, `docker_config.rs`), and what a registry says of
//! a digest (`reading.rs`).

mod auth;
mod cache;
mod client;
pub mod docker_config;
mod fetch;
pub mod reading;

pub use auth::{decode_ecr_token, ecr_region};
pub use cache::FAILURE_TTL;
pub use client::{
    DOCKER_HUB, DSSE_MEDIA_TYPE, Registries, RegistryError, SIGNATURE_ANNOTATION, host_of,
    labels_of, repository_of,
};
pub use docker_config::{Credential, CredentialError, DockerConfig};
pub use fetch::{BLOB_MAX, CALL_TIMEOUT};
pub use reading::{Labels, Reading, SignatureLayer};
