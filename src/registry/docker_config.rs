//! The user's Docker configuration (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`) as a source of registry credentials: an
//! `auths` entry (`auth` = base64 of `user:password`, or `username` and
//! `password`, or an `identitytoken`), a registry's `credHelpers` entry, or
//! the `credsStore` for every registry. A helper is the user's own program
//! `docker-credential-NAME`, run as an argv (never a shell) with the
//! registry on its standard input, bounded in time and output.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Deserialize;

/// How long a credential helper may take.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(10);
/// The most a helper may print.
const HELPER_OUTPUT_MAX: u64 = 64 * 1024;

/// What a registry is told about who is asking.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A user name and password (or token used as one).
    Basic {
        /// User name.
        username: String,
        /// Password; never printed.
        password: String,
    },
    /// An identity token, exchanged by the registry's token service.
    IdentityToken(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Self::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

/// Why credentials could not be had. No variant carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The file could not be read.
    #[error("cannot read the Docker configuration {path}: {why}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// The file is not Docker's JSON.
    #[error("the Docker configuration {path} is not valid: {why}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// An `auths` entry's `auth` is not base64 of `user:password`.
    #[error(
        "the Docker configuration's entry for {registry} has an \"auth\" that is not base64 of user:password"
    )]
    BadAuth {
        /// The registry.
        registry: String,
    },
    /// The helper program is not installed.
    #[error(
        "credential helper docker-credential-{helper} for {registry} is not installed (not on PATH)"
    )]
    HelperMissing {
        /// The helper's name.
        helper: String,
        /// The registry.
        registry: String,
    },
    /// The helper failed or said it has no credentials.
    #[error("credential helper docker-credential-{helper} failed for {registry}: {why}")]
    HelperFailed {
        /// The helper's name.
        helper: String,
        /// The registry.
        registry: String,
        /// What it said (sanitised, first line).
        why: String,
    },
    /// The helper did not answer in time.
    #[error(
        "credential helper docker-credential-{helper} did not answer for {registry} within {secs} s"
    )]
    HelperTimeout {
        /// The helper's name.
        helper: String,
        /// The registry.
        registry: String,
        /// The bound.
        secs: u64,
    },
}

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

#[derive(Debug, Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// A Docker configuration, read.
#[derive(Debug, Default)]
pub struct DockerConfig {
    file: File,
    /// Where a helper named `x` is found: `docker-credential-x` on `PATH`,
    /// unless set (tests).
    helper_dir: Option<PathBuf>,
}

/// Where the Docker configuration is: `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`.
pub fn default_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("config.json"));
    }
    directories::BaseDirs::new().map(|b| b.home_dir().join(".docker").join("config.json"))
}

/// A registry host as the configuration's keys may spell it: with or
/// without a scheme, a path, Docker Hub's old names.
fn host_of(key: &str) -> String {
    let k = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_string(),
        _ => host,
    }
}

impl DockerConfig {
    /// Reads `path`; a file that does not exist is an empty configuration
    /// (anonymous everywhere).
    pub fn load(path: &Path) -> Result<Self, CredentialError> {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(CredentialError::Unreadable {
                    path: shown,
                    why: e.to_string(),
                });
            }
        };
        Self::parse(&text, &shown)
    }

    /// Reads the configuration's text (`path` names it in messages).
    pub fn parse(text: &str, path: &str) -> Result<Self, CredentialError> {
        let file: File = serde_json::from_str(text).map_err(|e| CredentialError::Invalid {
            path: path.to_string(),
            why: e.to_string(),
        })?;
        Ok(Self {
            file,
            helper_dir: None,
        })
    }

    /// Looks for helpers in `dir` instead of on `PATH`.
    #[must_use]
    pub fn with_helper_dir(mut self, dir: PathBuf) -> Self {
        self.helper_dir = Some(dir);
        self
    }

    /// The credentials for `registry` (a host, `127.0.0.1:5000`,
    /// `ghcr.io`): its helper's, else its `auths` entry, else the
    /// `credsStore`'s; `None`: anonymous.
    pub fn credential_for(&self, registry: &str) -> Result<Option<Credential>, CredentialError> {
        let host = host_of(registry);
        if let Some((_, helper)) = self
            .file
            .cred_helpers
            .iter()
            .find(|(k, _)| host_of(k) == host)
        {
            return self.ask_helper(helper, &host).map(Some);
        }
        if let Some((key, entry)) = self.file.auths.iter().find(|(k, _)| host_of(k) == host)
            && let Some(c) = from_entry(key, entry)?
        {
            return Ok(Some(c));
        }
        match &self.file.creds_store {
            Some(store) if !store.is_empty() => self.ask_helper(store, &host).map(Some),
            _ => Ok(None),
        }
    }

    fn ask_helper(&self, helper: &str, registry: &str) -> Result<Credential, CredentialError> {
        let program = format!("docker-credential-{helper}");
        let program = match &self.helper_dir {
            Some(d) => d.join(&program),
            None => PathBuf::from(&program),
        };
        let failed = |why: String| CredentialError::HelperFailed {
            helper: helper.to_string(),
            registry: registry.to_string(),
            why,
        };
        let mut child = Command::new(&program)
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => CredentialError::HelperMissing {
                    helper: helper.to_string(),
                    registry: registry.to_string(),
                },
                _ => failed(e.to_string()),
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading is judged by its answer.
            let _ = stdin.write_all(registry.as_bytes());
        }
        let stdout = child.stdout.take();
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(s) = stdout {
                let _ = s.take(HELPER_OUTPUT_MAX).read_to_end(&mut out);
            }
            out
        });
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if started.elapsed() > HELPER_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(CredentialError::HelperTimeout {
                        helper: helper.to_string(),
                        registry: registry.to_string(),
                        secs: HELPER_TIMEOUT.as_secs(),
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(failed(e.to_string())),
            }
        };
        let out = reader.join().unwrap_or_default();
        if !status.success() {
            // Helpers say "credentials not found in native keychain" on stdout.
            let said = String::from_utf8_lossy(&out);
            let first = said.lines().next().unwrap_or("").trim();
            return Err(failed(if first.is_empty() {
                format!("it exited with {status}")
            } else {
                crate::model::text::fold_line(first)
            }));
        }
        let answer: HelperAnswer = serde_json::from_slice(&out)
            .map_err(|_| failed("its answer is not {\"Username\", \"Secret\"} JSON".to_string()))?;
        if answer.secret.is_empty() {
            return Err(failed("it answered with no secret".to_string()));
        }
        // Docker's convention: the user "<token>" means an identity token.
        Ok(if answer.username == "<token>" {
            Credential::IdentityToken(answer.secret)
        } else {
            Credential::Basic {
                username: answer.username,
                password: answer.secret,
            }
        })
    }
}

fn from_entry(key: &str, e: &AuthEntry) -> Result<Option<Credential>, CredentialError> {
    if let Some(token) = e.identitytoken.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credential::IdentityToken(token.clone())));
    }
    if let Some(auth) = e.auth.as_ref().filter(|a| !a.is_empty()) {
        let bad = || CredentialError::BadAuth {
            registry: host_of(key),
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let (user, pass) = text.split_once(':').ok_or_else(bad)?;
        return Ok(Some(Credential::Basic {
            username: user.to_string(),
            password: pass.to_string(),
        }));
    }
    match (&e.username, &e.password) {
        (Some(u), Some(p)) if !u.is_empty() => Ok(Some(Credential::Basic {
            username: u.clone(),
            password: p.clone(),
        })),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(u: &str, p: &str) -> Credential {
        Credential::Basic {
            username: u.into(),
            password: p.into(),
        }
    }

    #[test]
    fn auths_entries_in_every_spelling() {
        let auth = base64::engine::general_purpose::STANDARD.encode("ci:s3cret");
        let text = format!(
            r#"{{"auths": {{
                "https://127.0.0.1:5000/v2/": {{"auth": "{auth}"}},
                "https://index.docker.io/v1/": {{"username": "me", "password": "pw"}},
                "ghcr.io": {{"identitytoken": "tok"}},
                "quay.io": {{}}
            }}}}"#
        );
        let c = DockerConfig::parse(&text, "c.json").unwrap();
        assert_eq!(
            c.credential_for("127.0.0.1:5000").unwrap(),
            Some(basic("ci", "s3cret"))
        );
        assert_eq!(
            c.credential_for("docker.io").unwrap(),
            Some(basic("me", "pw"))
        );
        assert_eq!(
            c.credential_for("GHCR.io").unwrap(),
            Some(Credential::IdentityToken("tok".into()))
        );
        assert_eq!(c.credential_for("quay.io").unwrap(), None);
        assert_eq!(c.credential_for("example.com").unwrap(), None);
        // The secret is never in a debug print.
        let shown = format!("{:?}", c.credential_for("127.0.0.1:5000").unwrap());
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn a_bad_file_or_auth_is_named_without_its_secret() {
        let err = DockerConfig::parse("{not json", "c.json").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the Docker configuration c.json is not valid")
        );
        let c =
            DockerConfig::parse(r#"{"auths": {"r.io": {"auth": "%%%s3cret"}}}"#, "c.json").unwrap();
        let err = c.credential_for("r.io").unwrap_err();
        assert_eq!(
            err,
            CredentialError::BadAuth {
                registry: "r.io".into()
            }
        );
        assert!(!err.to_string().contains("s3cret"));
        // A missing file is anonymous, not an error.
        let c = DockerConfig::load(Path::new("/nonexistent/shipdeck/config.json")).unwrap();
        assert_eq!(c.credential_for("r.io").unwrap(), None);
    }

    fn helper(dir: &Path, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        let p = dir.join(format!("docker-credential-{name}"));
        std::fs::write(&p, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn helpers_answer_for_their_registries_and_their_failures_are_named() {
        let dir = tempfile::tempdir().unwrap();
        // The registry arrives on standard input; the answer is Docker's JSON.
        helper(
            dir.path(),
            "ecr",
            r#"read reg; printf '{"ServerURL":"%s","Username":"AWS","Secret":"ecr-s3cret"}' "$reg""#,
        );
        helper(
            dir.path(),
            "store",
            r#"printf '{"Username":"<token>","Secret":"id-tok"}'"#,
        );
        helper(
            dir.path(),
            "broken",
            "echo 'credentials not found in native keychain'; exit 1",
        );
        helper(dir.path(), "garbage", "echo hello");
        let text = r#"{
            "credHelpers": {"123456789012.dkr.ecr.eu-west-1.amazonaws.com": "ecr",
                            "bad.io": "broken", "junk.io": "garbage", "gone.io": "absent"},
            "credsStore": "store",
            "auths": {"bad.io": {"username": "u", "password": "p"}}
        }"#;
        let c = DockerConfig::parse(text, "c.json")
            .unwrap()
            .with_helper_dir(dir.path().to_path_buf());
        assert_eq!(
            c.credential_for("123456789012.dkr.ecr.eu-west-1.amazonaws.com")
                .unwrap(),
            Some(basic("AWS", "ecr-s3cret"))
        );
        assert_eq!(
            c.credential_for("other.io").unwrap(),
            Some(Credential::IdentityToken("id-tok".into()))
        );
        // A registry's helper wins over its auths entry, and its failure is
        // an error, never anonymous.
        let err = c.credential_for("bad.io").unwrap_err();
        assert_eq!(
            err.to_string(),
            "credential helper docker-credential-broken failed for bad.io: credentials not found in native keychain"
        );
        let err = c.credential_for("junk.io").unwrap_err();
        assert!(err.to_string().contains("is not {\"Username\""), "{err}");
        assert!(matches!(
            c.credential_for("gone.io").unwrap_err(),
            CredentialError::HelperMissing { .. }
        ));
    }
}
