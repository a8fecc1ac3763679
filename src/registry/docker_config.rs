//! The user's Docker configuration (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`) as a source of registry credentials: an
//! `auths` entry (`auth` = base64 of `user:password`, or `username` and
//! `password`, or an `identitytoken`), a registry's `credHelpers` entry, or
//! the `credsStore` for every registry. A helper is the user's own program
//! `docker-credential-NAME`, run as an argv (never a shell) with the
//! registry on its standard input, bounded in time and output; at the
//! deadline its whole process group is stopped.

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

// No `Debug` on the file's shapes: they hold secrets (`auth`, `password`,
// `identitytoken`, a helper's `Secret`); `DockerConfig`'s own `Debug` shows
// only which kinds of credential each registry has.
#[derive(Default, Deserialize)]
#[serde(default)]
struct File {
    auths: HashMap<String, AuthEntry>,
    #[serde(rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// A Docker configuration, read.
#[derive(Default)]
pub struct DockerConfig {
    file: File,
    /// Where a helper named `x` is found: `docker-credential-x` on `PATH`,
    /// unless set (tests).
    helper_dir: Option<PathBuf>,
}

impl std::fmt::Debug for DockerConfig {
    /// Registries and helpers, and per `auths` entry only which kinds of
    /// credential it holds: never a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::collections::BTreeMap;
        let kinds = |e: &AuthEntry| {
            [
                ("auth", &e.auth),
                ("username", &e.username),
                ("password", &e.password),
                ("identitytoken", &e.identitytoken),
            ]
            .into_iter()
            .filter(|(_, v)| v.as_ref().is_some_and(|v| !v.is_empty()))
            .map(|(kind, _)| kind)
            .collect::<Vec<_>>()
        };
        let auths: BTreeMap<_, _> = self.file.auths.iter().map(|(k, e)| (k, kinds(e))).collect();
        f.debug_struct("DockerConfig")
            .field("auths", &auths)
            .field(
                "cred_helpers",
                &self.file.cred_helpers.iter().collect::<BTreeMap<_, _>>(),
            )
            .field("creds_store", &self.file.creds_store)
            .field("helper_dir", &self.helper_dir)
            .finish()
    }
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
            why: json_problem(&e),
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
        let mut cmd = Command::new(&program);
        cmd.arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Never read: a helper's chatter must not fill a pipe and block it.
            .stderr(Stdio::null());
        // Its own process group, so the deadline stops what it started too.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => CredentialError::HelperMissing {
                helper: helper.to_string(),
                registry: registry.to_string(),
            },
            _ => failed(e.to_string()),
        })?;
        let deadline = Instant::now() + HELPER_TIMEOUT;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading is judged by its answer.
            let _ = stdin.write_all(registry.as_bytes());
        }
        let stdout = child.stdout.take();
        let (tx, rx) = std::sync::mpsc::channel();
        // Detached: a process outside the group may hold the pipe forever.
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(mut s) = stdout {
                let _ = (&mut s).take(HELPER_OUTPUT_MAX).read_to_end(&mut out);
                // The rest is dropped, so the helper never blocks writing.
                let _ = std::io::copy(&mut s, &mut std::io::sink());
            }
            let _ = tx.send(out);
        });
        // The output first: the child stays unreaped until its group is
        // judged, so the group id cannot name anyone else's processes.
        let out = match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(out) => out,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                return Err(timed_out(&mut child, helper, registry));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                stop_now(&mut child);
                return Err(failed("its output could not be read".to_string()));
            }
        };
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if Instant::now() >= deadline => {
                    return Err(timed_out(&mut child, helper, registry));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => {
                    stop_now(&mut child);
                    return Err(failed(e.to_string()));
                }
            }
        };
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

/// Where and what kind of problem serde_json found, never its text: that
/// can quote a value from the file (a base64 `auth`, a password).
fn json_problem(e: &serde_json::Error) -> String {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "it could not be read",
        serde_json::error::Category::Syntax => "it is not well-formed JSON",
        serde_json::error::Category::Data => "a value has the wrong type or shape",
        serde_json::error::Category::Eof => "it ends early",
    };
    format!("{kind} (line {}, column {})", e.line(), e.column())
}

/// Kills the helper's whole process group (it is not yet reaped, so its
/// id is still its own), then the helper itself, and reaps it.
fn stop_now(child: &mut std::process::Child) {
    crate::process::stop_group(Some(child.id()));
    let _ = child.kill();
    let _ = child.wait();
}

/// The deadline passed: the helper and all it started are stopped.
fn timed_out(child: &mut std::process::Child, helper: &str, registry: &str) -> CredentialError {
    stop_now(child);
    CredentialError::HelperTimeout {
        helper: helper.to_string(),
        registry: registry.to_string(),
        secs: HELPER_TIMEOUT.as_secs(),
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
        // Standard error is never read, so no amount of it blocks a helper.
        helper(
            dir.path(),
            "noisy",
            r#"head -c 1048576 /dev/zero >&2; printf '{"Username":"u","Secret":"s"}'"#,
        );
        let text = r#"{
            "credHelpers": {"123456789012.dkr.ecr.eu-west-1.amazonaws.com": "ecr",
                            "bad.io": "broken", "junk.io": "garbage", "gone.io": "absent",
                            "noisy.io": "noisy"},
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
        assert_eq!(c.credential_for("noisy.io").unwrap(), Some(basic("u", "s")));
        assert!(matches!(
            c.credential_for("gone.io").unwrap_err(),
            CredentialError::HelperMissing { .. }
        ));
    }

    #[test]
    fn a_debug_print_of_the_configuration_holds_no_secret() {
        let auth = base64::engine::general_purpose::STANDARD.encode("ci:auth-s3cret");
        let text = format!(
            r#"{{"auths": {{
                "a.io": {{"auth": "{auth}"}},
                "b.io": {{"username": "me", "password": "pw-s3cret"}},
                "c.io": {{"identitytoken": "tok-s3cret"}}
            }}, "credHelpers": {{"d.io": "ecr"}}, "credsStore": "store"}}"#
        );
        let c = DockerConfig::parse(&text, "c.json").unwrap();
        let shown = format!("{c:?}");
        for secret in [auth.as_str(), "auth-s3cret", "pw-s3cret", "tok-s3cret"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        // What it does show: which registries have which kinds of credential.
        assert_eq!(
            shown,
            r#"DockerConfig { auths: {"a.io": ["auth"], "b.io": ["username", "password"], "c.io": ["identitytoken"]}, cred_helpers: {"d.io": "ecr"}, creds_store: Some("store"), helper_dir: None }"#
        );
    }

    #[test]
    fn an_invalid_file_is_placed_without_quoting_its_values() {
        let secret = base64::engine::general_purpose::STANDARD.encode("ci:quoted-s3cret");
        // An entry that is a string where an object belongs: serde_json's
        // own message would quote the string.
        let text = format!("{{\"auths\": {{\"r.io\": \"{secret}\"}}}}");
        let err = DockerConfig::parse(&text, "c.json").unwrap_err();
        let shown = err.to_string();
        assert!(!shown.contains(&secret), "{shown}");
        assert!(!shown.contains("quoted-s3cret"), "{shown}");
        assert!(
            shown.contains("a value has the wrong type or shape (line 1, column"),
            "{shown}"
        );
        // A string left open: serde_json would quote nothing here, but the
        // category and place are still given.
        let err =
            DockerConfig::parse("{\n\"auths\": {\"r.io\": {\"auth\": \"abc", "c.json").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the Docker configuration c.json is not valid: it ends early (line 2, column 31)"
        );
    }

    #[test]
    fn a_helper_whose_child_holds_its_output_is_stopped_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("grandchild.pid");
        // The background sleep inherits standard output and outlives the
        // helper, so the output never ends by itself.
        helper(
            dir.path(),
            "forks",
            &format!("sleep 30 &\necho $! > '{}'\nexit 0", pid_file.display()),
        );
        let c = DockerConfig::parse(r#"{"credsStore": "forks"}"#, "c.json")
            .unwrap()
            .with_helper_dir(dir.path().to_path_buf());
        let started = Instant::now();
        let err = c.credential_for("r.io").unwrap_err();
        let took = started.elapsed();
        assert!(
            matches!(err, CredentialError::HelperTimeout { secs: 10, .. }),
            "{err}"
        );
        assert!(took < Duration::from_secs(12), "{took:?}");
        // The grandchild was stopped with the helper's group.
        #[cfg(target_os = "linux")]
        {
            let pid = std::fs::read_to_string(&pid_file).unwrap();
            let pid = pid.trim();
            let stat = format!("/proc/{pid}/stat");
            // Gone, or a zombie waiting for its reaper: not running.
            let running = || {
                std::fs::read_to_string(&stat)
                    .is_ok_and(|s| s.rsplit(')').next().is_some_and(|r| !r.contains(" Z ")))
            };
            let gone = (0..100).any(|_| {
                std::thread::sleep(Duration::from_millis(20));
                !running()
            });
            assert!(gone, "the helper's background sleep {pid} still runs");
        }
    }
}
