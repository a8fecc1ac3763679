//! What a registry says of one digest: the image's labels, its cosign
//! signatures (`sha256-<hex>.sig`) and attestations (`sha256-<hex>.att`),
//! as stored, not yet judged. Judging them is `crate::supply`'s.
//!
//! Every string here came from outside: it reaches a terminal or the
//! ledger only through `crate::model::sanitize`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The OCI labels shipdeck shows (`org.opencontainers.image.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Labels {
    /// `org.opencontainers.image.revision`: the commit it was built from.
    pub revision: Option<String>,
    /// `org.opencontainers.image.source`: the source repository's URL.
    pub source: Option<String>,
    /// `org.opencontainers.image.created`: when it was built (RFC 3339).
    pub created: Option<String>,
    /// `org.opencontainers.image.version`.
    pub version: Option<String>,
}

/// One layer of a cosign signature manifest: the simple-signing payload
/// exactly as stored, and the base64 signature from its
/// `dev.cosignproject.cosign/signature` annotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureLayer {
    /// The payload's bytes (the JSON that was signed).
    pub payload: Vec<u8>,
    /// The annotation's value: base64 of the signature.
    pub signature: String,
}

/// What the registry holds for one digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    /// The image read, `host/repository@sha256:…`.
    pub image: String,
    /// Its labels (all `None` when the config has none).
    pub labels: Labels,
    /// Its signature layers; empty when there is no `.sig` tag.
    pub signatures: Vec<SignatureLayer>,
    /// Its attestation layers, each a DSSE envelope's JSON as stored;
    /// empty when there is no `.att` tag.
    pub attestations: Vec<Vec<u8>>,
    /// When the signatures and attestations were read (labels never change).
    pub read_at: DateTime<Utc>,
}
