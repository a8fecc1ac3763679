//! The registry calls, through `oci-client`: a manifest by tag or digest
//! and a blob by descriptor, each bounded in time ([`CALL_TIMEOUT`]) and
//! blobs in size ([`BLOB_MAX`]), each counted. `oci-client` cannot count
//! the HTTP requests it makes, so one call into it (a manifest, a blob)
//! counts as one; the `/v2/` probe it makes when its token for a
//! repository is missing or expired (about once a minute per repository)
//! is not counted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use super::RegistryError;
use crate::model::text::clip;

/// The most one registry call (a manifest, a blob) may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest blob read (a config, a signature payload, an attestation).
pub const BLOB_MAX: u64 = 4 * 1024 * 1024;
/// The most layers a signature or attestation manifest may list.
pub const LAYERS_MAX: usize = 256;
/// The longest registry message kept in an error.
const WHY_MAX: usize = 200;

/// The manifest media types asked for.
const ACCEPT: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// A content descriptor, as much of it as shipdeck uses.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Descriptor {
    pub digest: String,
    #[serde(default)]
    pub size: i64,
    #[serde(default, rename = "mediaType")]
    pub media_type: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub platform: Option<Platform>,
}

/// An index entry's platform.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Platform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
}

/// An image manifest or an index, as much of it as shipdeck uses.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Manifest {
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// One registry, one repository, one login: the calls of one reading.
pub(super) struct Session<'a> {
    pub client: &'a oci_client::Client,
    pub auth: RegistryAuth,
    pub host: &'a str,
    /// Docker Hub's short names with `library/`.
    pub repository: &'a str,
    pub requests: &'a AtomicU64,
}

/// An answer's first line, as a reason quotes it.
fn trimmed(text: &str) -> String {
    clip(text.lines().next().unwrap_or(""), WHY_MAX)
}

impl Session<'_> {
    fn reference(&self, tag_or_digest: &str) -> oci_client::Reference {
        let (registry, repository) = (self.host.to_string(), self.repository.to_string());
        if tag_or_digest.starts_with("sha256:") {
            oci_client::Reference::with_digest(registry, repository, tag_or_digest.to_string())
        } else {
            oci_client::Reference::with_tag(registry, repository, tag_or_digest.to_string())
        }
    }

    /// What went wrong, as a [`RegistryError`] naming the host, never a secret.
    fn classify(&self, what: &str, e: &OciDistributionError) -> RegistryError {
        let host = self.host.to_string();
        let not_found = || RegistryError::NotFound {
            what: what.to_string(),
        };
        let bad = |why: String| RegistryError::BadAnswer {
            what: what.to_string(),
            why,
        };
        match e {
            OciDistributionError::UnauthorizedError { .. } => RegistryError::Unauthorized {
                host,
                why: "it answered 401 Unauthorized: the credentials are wrong or missing"
                    .to_string(),
            },
            OciDistributionError::AuthenticationFailure(m) => RegistryError::Unauthorized {
                host,
                why: format!("its token service refused: {}", trimmed(m)),
            },
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                let message = envelope
                    .errors
                    .first()
                    .map(|e| trimmed(&e.message))
                    .unwrap_or_default();
                if codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::NotFound
                            | OciErrorCode::BlobUnknown
                    )
                }) {
                    not_found()
                } else if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
                {
                    RegistryError::Unauthorized {
                        host,
                        why: format!("access denied: {message}"),
                    }
                } else {
                    bad(format!("the registry said: {message}"))
                }
            }
            OciDistributionError::ServerError { code, message, .. } => match code {
                404 => not_found(),
                401 | 403 => RegistryError::Unauthorized {
                    host,
                    why: format!("it answered HTTP {code}"),
                },
                500.. => RegistryError::Unreachable {
                    host,
                    why: format!("it answered HTTP {code}: {}", trimmed(message)),
                },
                _ => bad(format!("HTTP {code}: {}", trimmed(message))),
            },
            OciDistributionError::RequestError(r) if r.is_timeout() => RegistryError::Timeout {
                host,
                secs: CALL_TIMEOUT.as_secs(),
            },
            OciDistributionError::RequestError(r) => RegistryError::Unreachable {
                host,
                why: if r.is_connect() {
                    "the connection failed (is it running, and is the host right?)".to_string()
                } else {
                    // reqwest's text names the URL, which holds no credential.
                    trimmed(
                        &std::error::Error::source(r)
                            .map_or_else(|| r.to_string(), |s| format!("{r}: {s}")),
                    )
                },
            },
            other => bad(trimmed(&other.to_string())),
        }
    }

    /// The manifest at `tag_or_digest`; `None` when the registry has none.
    pub async fn manifest(&self, tag_or_digest: &str) -> Result<Option<Manifest>, RegistryError> {
        let what = format!("{}/{}:{tag_or_digest}", self.host, self.repository);
        let reference = self.reference(tag_or_digest);
        self.requests.fetch_add(1, Ordering::Relaxed);
        let call = self
            .client
            .pull_manifest_raw(&reference, &self.auth, ACCEPT);
        let (body, _) = match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Err(_) => {
                return Err(RegistryError::Timeout {
                    host: self.host.to_string(),
                    secs: CALL_TIMEOUT.as_secs(),
                });
            }
            Ok(Err(e)) => {
                return match self.classify(&what, &e) {
                    RegistryError::NotFound { .. } => Ok(None),
                    other => Err(other),
                };
            }
            Ok(Ok(answer)) => answer,
        };
        if body.len() as u64 > BLOB_MAX {
            return Err(RegistryError::BadAnswer {
                what,
                why: format!("the manifest is {} bytes, over {BLOB_MAX}", body.len()),
            });
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| RegistryError::BadAnswer {
                what,
                why: format!("the manifest is not valid JSON: {e}"),
            })
    }

    /// The blob `desc` names, whole, its digest checked.
    pub async fn blob(&self, desc: &Descriptor) -> Result<Vec<u8>, RegistryError> {
        let what = format!("{}/{}@{}", self.host, self.repository, desc.digest);
        let too_big = |size: u64| RegistryError::BadAnswer {
            what: what.clone(),
            why: format!("the blob is {size} bytes, over the {BLOB_MAX} read"),
        };
        let size = u64::try_from(desc.size).unwrap_or(0);
        if size > BLOB_MAX {
            return Err(too_big(size));
        }
        let reference = self.reference(&desc.digest);
        self.requests.fetch_add(1, Ordering::Relaxed);
        let read = async {
            let sized = self
                .client
                .pull_blob_stream(&reference, desc.digest.as_str())
                .await
                .map_err(|e| self.classify(&what, &e))?;
            if let Some(n) = sized.content_length
                && n > BLOB_MAX
            {
                return Err(too_big(n));
            }
            let mut stream = sized.stream;
            let mut out = Vec::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| RegistryError::BadAnswer {
                    what: what.clone(),
                    why: trimmed(&e.to_string()),
                })?;
                out.extend_from_slice(&chunk);
                if out.len() as u64 > BLOB_MAX {
                    return Err(too_big(out.len() as u64));
                }
            }
            Ok(out)
        };
        tokio::time::timeout(CALL_TIMEOUT, read)
            .await
            .map_err(|_| RegistryError::Timeout {
                host: self.host.to_string(),
                secs: CALL_TIMEOUT.as_secs(),
            })?
    }
}
