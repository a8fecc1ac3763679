//! [`Registries`]: reads what a registry holds for a digest (labels,
//! cosign signatures, attestations) with the right credentials, bounded in
//! time and size, kept in memory and on disk.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::auth::{Auth, Login};
use super::cache::Cache;
use super::fetch::{CALL_TIMEOUT, LAYERS_MAX, Manifest, Session};
use super::{CredentialError, DockerConfig, Labels, Reading, SignatureLayer};
use crate::config::registry::RegistryConfig;
use crate::model::ImageRef;
use crate::secrets::Secrets;

/// The annotation of a cosign signature layer holding its base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The media type of an attestation layer (a DSSE envelope).
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// Docker Hub's host, for images without one.
pub const DOCKER_HUB: &str = "docker.io";

/// Why a registry could not be read. Never carries a secret; its texts
/// from the registry are sanitised and cut short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The image has no digest: only a digest's content can be read.
    #[error("{image} is not pinned by digest; only a digest can be read from the registry")]
    Unpinned {
        /// The image.
        image: String,
    },
    /// Nothing answered, or it answered with a server error.
    #[error("registry {host} cannot be reached: {why}")]
    Unreachable {
        /// The registry.
        host: String,
        /// What happened.
        why: String,
    },
    /// The registry refused the credentials (or their absence).
    #[error("registry {host} refused access: {why}")]
    Unauthorized {
        /// The registry.
        host: String,
        /// What it said.
        why: String,
    },
    /// The registry has no such image.
    #[error("{what} is not in the registry")]
    NotFound {
        /// The manifest or blob.
        what: String,
    },
    /// The registry answered something unusable.
    #[error("the registry's answer for {what} is not usable: {why}")]
    BadAnswer {
        /// The manifest or blob.
        what: String,
        /// What is wrong with it.
        why: String,
    },
    /// The Docker configuration could not give credentials.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// A `[registry.auth]` secret or an ECR token could not be had.
    #[error("no credentials for registry {host}: {why}")]
    Secret {
        /// The registry.
        host: String,
        /// Why (never the value).
        why: String,
    },
    /// A call did not finish in time.
    #[error("registry {host} did not answer within {secs} s")]
    Timeout {
        /// The registry.
        host: String,
        /// The bound.
        secs: u64,
    },
}

/// The registry host of `image` (`docker.io` when it names none).
pub fn host_of(image: &ImageRef) -> &str {
    image.registry.as_deref().unwrap_or(DOCKER_HUB)
}

/// The repository of `image` as the registry knows it (Docker Hub's
/// official images under `library/`).
pub fn repository_of(image: &ImageRef) -> String {
    if image.registry.is_none() && !image.repository.contains('/') {
        format!("library/{}", image.repository)
    } else {
        image.repository.clone()
    }
}

struct Inner {
    cfg: Arc<RegistryConfig>,
    auth: Auth,
    cache: Cache,
    /// One client per host, with the login it was made for (a new login,
    /// such as a renewed ECR token, gets a new client).
    clients: Mutex<HashMap<String, (Login, oci_client::Client)>>,
    requests: AtomicU64,
}

/// Reads registries. Shared, cheap to clone.
#[derive(Clone)]
pub struct Registries {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Registries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registries { .. }")
    }
}

impl Registries {
    /// Registries as `cfg` says, readings kept in `cache_dir` (none: in
    /// memory only), credentials from `secrets` (`[registry.auth]`), ECR and
    /// the Docker configuration at [`super::docker_config::default_path`]
    /// (read now; a file that cannot be read makes every read that needs it
    /// fail with the reason).
    pub fn new(cfg: Arc<RegistryConfig>, cache_dir: Option<PathBuf>, secrets: Secrets) -> Self {
        let docker = match super::docker_config::default_path() {
            Some(p) => DockerConfig::load(&p).map(|c| Some(Arc::new(c))),
            None => Ok(None),
        };
        Self::with(cfg, cache_dir, secrets, docker)
    }

    /// The same with this Docker configuration instead of the user's.
    pub fn with_docker_config(
        cfg: Arc<RegistryConfig>,
        cache_dir: Option<PathBuf>,
        secrets: Secrets,
        docker: DockerConfig,
    ) -> Self {
        Self::with(cfg, cache_dir, secrets, Ok(Some(Arc::new(docker))))
    }

    fn with(
        cfg: Arc<RegistryConfig>,
        cache_dir: Option<PathBuf>,
        secrets: Secrets,
        docker: Result<Option<Arc<DockerConfig>>, CredentialError>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                auth: Auth::new(cfg.clone(), docker, secrets),
                cfg,
                cache: Cache::new(cache_dir),
                clients: Mutex::new(HashMap::new()),
                requests: AtomicU64::new(0),
            }),
        }
    }

    /// Whether images on this host are read for every digest shown
    /// (`[registry] read` patterns).
    pub fn reads(&self, image: &ImageRef) -> bool {
        self.inner.cfg.reads(image)
    }

    fn key(image: &ImageRef) -> Result<String, RegistryError> {
        let digest = image
            .digest
            .as_ref()
            .ok_or_else(|| RegistryError::Unpinned {
                image: image.to_string(),
            })?;
        Ok(format!(
            "{}/{}@{digest}",
            host_of(image),
            repository_of(image)
        ))
    }

    /// The reading kept for this digest (memory, else disk), without any
    /// request.
    pub fn cached(&self, image: &ImageRef) -> Option<Reading> {
        self.inner.cache.get(&Self::key(image).ok()?)
    }

    /// How many registry calls this `Registries` has made: one per manifest
    /// and one per blob read (`oci-client` does not count its own HTTP
    /// requests; the `/v2/` probe it makes when a token is due is not
    /// counted). ECR token calls are not counted.
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    fn client(&self, host: &str, login: &Login) -> oci_client::Client {
        let mut clients = self
            .inner
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((l, c)) = clients.get(host)
            && l == login
        {
            return c.clone();
        }
        let config = oci_client::client::ClientConfig {
            protocol: oci_client::client::ClientProtocol::HttpsExcept(
                self.inner.cfg.insecure.clone(),
            ),
            read_timeout: Some(CALL_TIMEOUT),
            connect_timeout: Some(std::time::Duration::from_secs(3)),
            ..Default::default()
        };
        let c = oci_client::Client::new(config);
        clients.insert(host.to_string(), (login.clone(), c.clone()));
        c
    }

    /// Reads the registry: the labels (from the image's config; kept for
    /// good, a digest's content never changes), the signatures (tag
    /// `sha256-<hex>.sig`: each layer's blob is a payload, its
    /// `dev.cosignproject.cosign/signature` annotation the signature) and
    /// the attestations (tag `sha256-<hex>.att`: each DSSE layer's blob). A
    /// missing `.sig` or `.att` tag is an empty list. With `recheck` false
    /// a kept reading, or a failure under 30 s old (of this image, or its
    /// host being unreachable), is returned without a request; with `recheck` true the labels are kept but signatures and
    /// attestations are read again. A reading is kept in memory and on
    /// disk; a failure only in memory.
    pub async fn read(&self, image: &ImageRef, recheck: bool) -> Result<Reading, RegistryError> {
        let key = Self::key(image)?;
        // A host that could not be reached is not asked again for any image
        // for a while (a space: no image key has one).
        let host_key = format!("host {}", host_of(image));
        let cache = &self.inner.cache;
        let kept = cache.get(&key);
        if !recheck {
            if let Some(r) = kept {
                return Ok(r);
            }
            if let Some(e) = cache.failure(&key).or_else(|| cache.failure(&host_key)) {
                return Err(e);
            }
        }
        // Boxed: oci-client's and the AWS SDK's futures are large, and a
        // caller's future holds this one.
        match Box::pin(self.fetch(image, &key, kept.map(|r| r.labels))).await {
            Ok(r) => {
                cache.put(&key, &r);
                cache.forget_failure(&host_key);
                Ok(r)
            }
            Err(e) => {
                cache.fail(&key, &e);
                if matches!(
                    e,
                    RegistryError::Unreachable { .. } | RegistryError::Timeout { .. }
                ) {
                    cache.fail(&host_key, &e);
                }
                Err(e)
            }
        }
    }

    async fn fetch(
        &self,
        image: &ImageRef,
        key: &str,
        labels: Option<Labels>,
    ) -> Result<Reading, RegistryError> {
        let Some(digest) = image.digest.as_ref() else {
            return Err(RegistryError::Unpinned {
                image: image.to_string(),
            });
        };
        let host = host_of(image);
        let repository = repository_of(image);
        let login = self.inner.auth.login(host).await?;
        let client = self.client(host, &login);
        let s = Session {
            client: &client,
            auth: login.to_oci(),
            host,
            repository: &repository,
            requests: &self.inner.requests,
        };
        let labels = match labels {
            Some(l) => l,
            None => read_labels(&s, digest.as_str()).await?,
        };
        let hex = digest.as_str().trim_start_matches("sha256:");
        let signatures = match s.manifest(&format!("sha256-{hex}.sig")).await? {
            None => Vec::new(),
            Some(m) => {
                let mut out = Vec::new();
                for layer in bounded(&s, &m)? {
                    out.push(SignatureLayer {
                        payload: s.blob(layer).await?,
                        signature: layer
                            .annotations
                            .get(SIGNATURE_ANNOTATION)
                            .cloned()
                            .unwrap_or_default(),
                    });
                }
                out
            }
        };
        let attestations = match s.manifest(&format!("sha256-{hex}.att")).await? {
            None => Vec::new(),
            Some(m) => {
                let mut out = Vec::new();
                for layer in bounded(&s, &m)? {
                    if layer.media_type == DSSE_MEDIA_TYPE {
                        out.push(s.blob(layer).await?);
                    }
                }
                out
            }
        };
        Ok(Reading {
            image: key.to_string(),
            labels,
            signatures,
            attestations,
            read_at: chrono::Utc::now(),
        })
    }
}

/// The layers of a signature or attestation manifest, at most [`LAYERS_MAX`].
fn bounded<'m>(
    s: &Session<'_>,
    m: &'m Manifest,
) -> Result<&'m [super::fetch::Descriptor], RegistryError> {
    if m.layers.len() > LAYERS_MAX {
        return Err(RegistryError::BadAnswer {
            what: format!("{}/{}", s.host, s.repository),
            why: format!(
                "a signature manifest lists {} layers, over {LAYERS_MAX}",
                m.layers.len()
            ),
        });
    }
    Ok(&m.layers)
}

/// The labels of the image at `digest`: its config's `config.Labels` (an
/// index: its first entry for a real platform).
async fn read_labels(s: &Session<'_>, digest: &str) -> Result<Labels, RegistryError> {
    let what = format!("{}/{}@{digest}", s.host, s.repository);
    let not_found = || RegistryError::NotFound { what: what.clone() };
    let mut manifest = s.manifest(digest).await?.ok_or_else(not_found)?;
    if manifest.config.is_none()
        && let Some(entry) = manifest.manifests.iter().find(|m| {
            m.platform
                .as_ref()
                .is_none_or(|p| p.os != "unknown" && p.architecture != "unknown")
        })
    {
        let entry = entry.digest.clone();
        manifest = s.manifest(&entry).await?.ok_or_else(not_found)?;
    }
    let Some(config) = manifest.config.as_ref() else {
        return Err(RegistryError::BadAnswer {
            what,
            why: "the manifest names no image config".to_string(),
        });
    };
    let blob = s.blob(config).await?;
    labels_of(&blob).map_err(|why| RegistryError::BadAnswer { what, why })
}

/// The `org.opencontainers.image.*` labels of an image config blob.
pub fn labels_of(config: &[u8]) -> Result<Labels, String> {
    let v: serde_json::Value = serde_json::from_slice(config)
        .map_err(|e| format!("the image config is not valid JSON: {e}"))?;
    let labels = v.get("config").and_then(|c| c.get("Labels"));
    let get = |name: &str| {
        labels
            .and_then(|l| l.get(format!("org.opencontainers.image.{name}")))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    Ok(Labels {
        revision: get("revision"),
        source: get("source"),
        created: get("created"),
        version: get("version"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_the_config_and_may_be_absent() {
        let l = labels_of(
            br#"{"config":{"Labels":{"org.opencontainers.image.revision":"abc123","org.opencontainers.image.source":"https://github.com/o/r","x":"y"}}}"#,
        )
        .unwrap();
        assert_eq!(l.revision.as_deref(), Some("abc123"));
        assert_eq!(l.source.as_deref(), Some("https://github.com/o/r"));
        assert_eq!(l.created, None);
        assert_eq!(
            labels_of(br#"{"config":{"Labels":null}}"#).unwrap(),
            Labels::default()
        );
        assert!(
            labels_of(b"not json")
                .unwrap_err()
                .contains("not valid JSON")
        );
    }

    #[test]
    fn docker_hub_short_names_are_official_images() {
        let i = ImageRef::parse(
            "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        )
        .unwrap();
        assert_eq!(host_of(&i), "docker.io");
        assert_eq!(repository_of(&i), "library/nginx");
        let j = ImageRef::parse("ghcr.io/o/r:1").unwrap();
        assert_eq!(repository_of(&j), "o/r");
    }

    #[test]
    fn an_unpinned_image_is_refused_and_read_patterns_match_hosts() {
        let cfg = RegistryConfig {
            read: vec!["*.dkr.ecr.*.amazonaws.com".into(), "127.0.0.1:5000".into()],
            ..Default::default()
        };
        let secrets = crate::secrets::Secrets::with_env(
            Arc::new(crate::secrets::MemoryStore::default()),
            crate::secrets::Redactor::default(),
            |_| None,
        );
        let r = Registries::new(Arc::new(cfg), None, secrets);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let tagged = ImageRef::parse("127.0.0.1:5000/a:1").unwrap();
        assert!(matches!(
            rt.block_on(r.read(&tagged, false)),
            Err(RegistryError::Unpinned { .. })
        ));
        assert_eq!(r.requests(), 0);
        assert!(r.reads(&tagged));
        assert!(
            r.reads(&ImageRef::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com/a:1").unwrap())
        );
        assert!(!r.reads(&ImageRef::parse("ghcr.io/a:1").unwrap()));
    }
}
