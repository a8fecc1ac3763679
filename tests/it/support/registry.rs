//! A real OCI registry: Debian's `docker-registry` (the CNCF distribution
//! registry; `scripts/test` installs it) on 127.0.0.1 on a free port, with
//! filesystem storage in a temporary directory and htpasswd (bcrypt)
//! authentication, stopped on drop. Images are pushed over the registry API
//! (small OCI manifests and blobs), with cosign's tag scheme for signatures
//! (`sha256-<hex>.sig`) and attestations (`sha256-<hex>.att`). The registry's
//! access log counts the requests it served, by user agent: the pushes
//! here say [`PUSH_AGENT`], so what is left is what shipdeck asked.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::free_port;
use shipdeck::model::Digest;

/// The user agent of this harness's own requests.
pub const PUSH_AGENT: &str = "shipdeck-test-push";
/// The user and password the registry accepts.
/// Secrets with nothing stored: `[registry.auth]` finds nothing.
pub fn no_secrets() -> shipdeck::secrets::Secrets {
    shipdeck::secrets::Secrets::with_env(
        std::sync::Arc::new(shipdeck::secrets::MemoryStore::default()),
        shipdeck::secrets::Redactor::default(),
        |_| None,
    )
}

pub const USER: &str = "ci";
pub const PASSWORD: &str = "registry-test-pw";
/// Where cosign puts a signature layer's base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";

/// Whether the registry and htpasswd can be run.
pub fn installed() -> bool {
    std::path::Path::new("/usr/bin/docker-registry").exists()
        && Command::new("sh")
            .args(["-c", "command -v htpasswd"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// A running registry.
pub struct Registry {
    child: Option<Child>,
    /// `127.0.0.1:PORT`: the host part of its images.
    pub host: String,
    log: PathBuf,
    http: reqwest::Client,
    /// Blobs pushed already, by repository (pushing one twice is skipped).
    pushed: std::sync::Mutex<std::collections::HashSet<(String, Digest)>>,
    /// Taken on drop, which may happen inside an async test.
    rt: Option<tokio::runtime::Runtime>,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Registry {
    /// Starts a registry that accepts [`USER`] / [`PASSWORD`]; panics
    /// (naming its log) when it does not answer `/v2/` within 20 s.
    pub fn start() -> Self {
        assert!(
            installed(),
            "docker-registry and htpasswd are not installed: run scripts/test (it installs the docker-registry and apache2-utils packages)"
        );
        let dir = tempfile::tempdir().unwrap();
        let htpasswd = Command::new("htpasswd")
            .args(["-Bbn", "-C", "4", USER, PASSWORD])
            .output()
            .unwrap();
        assert!(htpasswd.status.success(), "htpasswd failed");
        std::fs::write(dir.path().join("htpasswd"), &htpasswd.stdout).unwrap();
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n\
             http:\n  addr: {host}\n\
             auth:\n  htpasswd:\n    realm: shipdeck-test\n    path: {pw}\n",
            data = dir.path().join("data").display(),
            pw = dir.path().join("htpasswd").display(),
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.path().join("registry.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let http = reqwest::Client::builder()
            .user_agent(PUSH_AGENT)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let r = Self {
            child: Some(child),
            host,
            log,
            http,
            pushed: std::sync::Mutex::default(),
            rt: Some(rt),
            _dir: dir,
        };
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let answered = r.block(async {
                r.http
                    .get(format!("http://{}/v2/", r.host))
                    .send()
                    .await
                    .map(|a| a.status().as_u16())
                    .ok()
            });
            if answered == Some(401) {
                break;
            }
            assert!(
                Instant::now() < until,
                "docker-registry did not answer /v2/ within 20 s; its log:\n{}",
                r.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    /// Runs `f` to completion on this harness's runtime, from any thread
    /// (also from inside a `#[tokio::test]`).
    fn block<T: Send>(&self, f: impl Future<Output = T> + Send) -> T {
        let rt = self.rt.as_ref().unwrap();
        std::thread::scope(|s| s.spawn(|| rt.block_on(f)).join().unwrap())
    }

    /// Stops it (the registry is down from now on); idempotent.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-s", "TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// What it printed (the access log among it).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The requests it logged (`"GET /v2/… HTTP/1.1"`): (all, not from this harness).
    fn counts(&self) -> (u64, u64) {
        let text = self.log_text();
        let mut all = 0;
        let mut others = 0;
        for line in text.lines() {
            let is_request = [
                "\"GET /",
                "\"HEAD /",
                "\"POST /",
                "\"PUT /",
                "\"PATCH /",
                "\"DELETE /",
            ]
            .iter()
            .any(|m| line.contains(m));
            if !is_request {
                continue;
            }
            all += 1;
            if !line.contains(PUSH_AGENT) {
                others += 1;
            }
        }
        (all, others)
    }

    /// The requests it logged that did not come from this harness (what
    /// the code under test asked), once its access log has stopped growing
    /// (a line is written after its answer; at most 0.5 s).
    pub fn settled_client_requests(&self) -> u64 {
        let mut last = self.counts();
        let until = Instant::now() + Duration::from_millis(500);
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
            let now = self.counts();
            if now == last {
                break;
            }
            last = now;
        }
        last.1
    }

    /// Pushes a blob (an upload session, then one PUT with the bytes) and
    /// returns its digest; a blob this harness pushed to `repo` already is
    /// not pushed again.
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> Digest {
        let digest = Digest::of_bytes(bytes);
        if !self
            .pushed
            .lock()
            .unwrap()
            .insert((repo.to_string(), digest.clone()))
        {
            return digest;
        }
        let base = format!("http://{}", self.host);
        let start = format!("{base}/v2/{repo}/blobs/uploads/");
        let body = bytes.to_vec();
        let (status, text) = self.block(async {
            let a = self
                .http
                .post(start)
                .basic_auth(USER, Some(PASSWORD))
                .send()
                .await
                .unwrap();
            assert_eq!(a.status().as_u16(), 202, "blob upload to {repo} refused");
            let location = a
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .unwrap()
                .to_string();
            let location = if location.starts_with('/') {
                format!("{base}{location}")
            } else {
                location
            };
            let sep = if location.contains('?') { '&' } else { '?' };
            let a = self
                .http
                .put(format!("{location}{sep}digest={digest}"))
                .basic_auth(USER, Some(PASSWORD))
                .header("Content-Type", "application/octet-stream")
                .body(body)
                .send()
                .await
                .unwrap();
            (a.status().as_u16(), a.text().await.unwrap_or_default())
        });
        assert_eq!(status, 201, "blob push to {repo} failed: {text}");
        digest
    }

    /// Pushes a manifest under `reference` (a tag or a digest) and returns its digest.
    pub fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        manifest: &[u8],
        media_type: &str,
    ) -> Digest {
        let url = format!("http://{}/v2/{repo}/manifests/{reference}", self.host);
        let body = manifest.to_vec();
        let (status, text) = self.block(async {
            let a = self
                .http
                .put(url)
                .basic_auth(USER, Some(PASSWORD))
                .header("Content-Type", media_type)
                .body(body)
                .send()
                .await
                .unwrap();
            (a.status().as_u16(), a.text().await.unwrap_or_default())
        });
        assert_eq!(
            status, 201,
            "manifest push to {repo}:{reference} failed: {text}"
        );
        Digest::of_bytes(manifest)
    }

    fn descriptor(media_type: &str, bytes: &[u8], digest: &Digest) -> serde_json::Value {
        serde_json::json!({"mediaType": media_type, "digest": digest.as_str(), "size": bytes.len()})
    }

    /// Pushes an image: a config whose `config.Labels` holds `labels`, one
    /// small layer. Returns the manifest's digest.
    pub fn push_image(&self, repo: &str, labels: &[(&str, &str)]) -> Digest {
        let labels: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), serde_json::Value::from(*v)))
            .collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": []},
        }))
        .unwrap();
        let layer = b"shipdeck test layer".to_vec();
        let config_digest = self.push_blob(repo, &config);
        let layer_digest = self.push_blob(repo, &layer);
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": Self::descriptor(OCI_CONFIG, &config, &config_digest),
            "layers": [Self::descriptor(OCI_LAYER, &layer, &layer_digest)],
        }))
        .unwrap();
        let digest = Digest::of_bytes(&manifest);
        self.push_manifest(repo, digest.as_str(), &manifest, OCI_MANIFEST)
    }

    /// Pushes a manifest of one-annotated-layer-each under cosign's tag for
    /// `digest` (`sha256-<hex>.<suffix>`), replacing what was there.
    fn push_cosign(
        &self,
        repo: &str,
        digest: &Digest,
        suffix: &str,
        layers: &[(&[u8], &str, &str)],
    ) -> Digest {
        let empty = b"{}".to_vec();
        let empty_digest = self.push_blob(repo, &empty);
        let mut descs = Vec::new();
        for (bytes, media_type, signature) in layers {
            let d = self.push_blob(repo, bytes);
            let mut desc = Self::descriptor(media_type, bytes, &d);
            desc["annotations"] = serde_json::json!({ SIGNATURE_ANNOTATION: signature });
            descs.push(desc);
        }
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": Self::descriptor(EMPTY_CONFIG, &empty, &empty_digest),
            "layers": descs,
        }))
        .unwrap();
        let tag = format!("sha256-{}.{suffix}", &digest.as_str()[7..]);
        self.push_manifest(repo, &tag, &manifest, OCI_MANIFEST)
    }

    /// A cosign signature of `digest`: the simple-signing `payload` as the
    /// one layer, `signature_b64` in its annotation.
    pub fn push_signature(&self, repo: &str, digest: &Digest, payload: &[u8], signature_b64: &str) {
        self.push_signatures(repo, digest, &[(payload, signature_b64)]);
    }

    /// Several signatures of `digest` in one `.sig` manifest (cosign appends).
    pub fn push_signatures(&self, repo: &str, digest: &Digest, sigs: &[(&[u8], &str)]) {
        let layers: Vec<(&[u8], &str, &str)> =
            sigs.iter().map(|(p, s)| (*p, SIMPLE_SIGNING, *s)).collect();
        self.push_cosign(repo, digest, "sig", &layers);
    }

    /// A cosign attestation of `digest`: the DSSE envelope as the one layer.
    pub fn push_attestation(&self, repo: &str, digest: &Digest, envelope_json: &[u8]) {
        self.push_cosign(repo, digest, "att", &[(envelope_json, DSSE, "")]);
    }

    /// A Docker configuration whose `auths` log in as `user`/`password` here.
    pub fn docker_config(&self, user: &str, password: &str) -> shipdeck::registry::DockerConfig {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let json = serde_json::json!({"auths": {self.host.clone(): {"auth": auth}}}).to_string();
        shipdeck::registry::DockerConfig::parse(&json, "test-config.json").unwrap()
    }
}
