//! Secrets: named in the configuration, stored in the OS keyring, never shown.
//!
//! Lookup order: `$SHIPDECK_SECRET_<NAME>`, then the keyring. Every resolved value
//! is registered with a [`Redactor`] so that no text leaving shipdeck (screen,
//! logs, JSON, audit) can carry it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

/// Keyring service name under which shipdeck stores its secrets.
pub const KEYRING_SERVICE: &str = "shipdeck";
/// Shown instead of a secret value.
pub const REDACTED: &str = "[REDACTED]";

/// Why a secret could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Neither the environment variable nor the keyring has it.
    #[error(
        "secret \"{name}\" is not set: export SHIPDECK_SECRET_{name}=… or run `shipdeck secret set {name}`"
    )]
    Missing {
        /// Secret name.
        name: String,
    },
    /// The name is not usable.
    #[error("secret name \"{0}\" is not allowed: use letters, digits and '_' (e.g. API_TOKEN)")]
    BadName(String),
    /// The keyring refused.
    #[error("the OS keyring failed for \"{name}\": {message}")]
    Keyring {
        /// Secret name.
        name: String,
        /// The keyring's message.
        message: String,
    },
}

/// Checks a secret name: `[A-Za-z0-9_]+`, at most 64 characters.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Where secret values live. The keyring in production, memory in tests.
pub trait SecretStore: Send + Sync {
    /// Reads a value; `Ok(None)` when absent.
    fn get(&self, name: &str) -> Result<Option<String>, SecretError>;
    /// Stores a value.
    fn set(&self, name: &str, value: &str) -> Result<(), SecretError>;
    /// Deletes a value; `Ok(false)` when it was absent.
    fn remove(&self, name: &str) -> Result<bool, SecretError>;
    /// Names stored (never values).
    fn names(&self) -> Result<Vec<String>, SecretError>;
}

/// An in-memory store for tests.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore(Arc<Mutex<BTreeMap<String, String>>>);

impl SecretStore for MemoryStore {
    fn get(&self, name: &str) -> Result<Option<String>, SecretError> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned())
    }
    fn set(&self, name: &str, value: &str) -> Result<(), SecretError> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_string(), value.to_string());
        Ok(())
    }
    fn remove(&self, name: &str) -> Result<bool, SecretError> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name)
            .is_some())
    }
    fn names(&self) -> Result<Vec<String>, SecretError> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect())
    }
}

/// Replaces known secret values (and credential-looking URL parts) in text.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    values: Arc<Mutex<BTreeSet<String>>>,
}

/// Query parameters whose values are treated as credentials.
const SENSITIVE_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "id_token",
    "key",
    "api_key",
    "apikey",
    "secret",
    "password",
    "passwd",
    "sig",
    "signature",
    "auth",
    "x-amz-signature",
    "x-amz-security-token",
    "code",
];

impl Redactor {
    /// Remembers a value to hide. Very short values are not registered: hiding
    /// every "a" would destroy messages without protecting anything.
    pub fn register(&self, value: &str) {
        if value.chars().count() >= 4 {
            self.values
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(value.to_string());
        }
    }

    /// Hides every registered value and credential-looking URL parts.
    pub fn redact(&self, text: &str) -> String {
        let mut out = redact_urls(text);
        let values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        // Longest first, so a value containing another is hidden whole.
        let mut sorted: Vec<&String> = values.iter().collect();
        sorted.sort_by_key(|v| std::cmp::Reverse(v.len()));
        for v in sorted {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), REDACTED);
            }
        }
        out
    }
}

/// Redacts passwords in URL userinfo and sensitive query values anywhere in `text`.
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if word.contains("://") {
            out.push_str(&redact_url_word(word));
        } else {
            out.push_str(word);
        }
    }
    out
}

fn redact_url_word(word: &str) -> String {
    let Some(scheme_end) = word.find("://") else {
        return word.to_string();
    };
    let (head, rest) = word.split_at(scheme_end + 3);
    // userinfo: user:password@host
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(host_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:{REDACTED}{host}"),
                None => format!("{REDACTED}{host}"),
            }
        }
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = match query.split_once('#') {
                Some((q, f)) => (q, Some(f)),
                None => (query, None),
            };
            let redacted: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if SENSITIVE_PARAMS.contains(&k.to_ascii_lowercase().as_str()) => {
                        format!("{k}={REDACTED}")
                    }
                    _ => pair.to_string(),
                })
                .collect();
            let mut t = format!("{path}?{}", redacted.join("&"));
            if let Some(f) = fragment {
                t.push('#');
                t.push_str(f);
            }
            t
        }
        None => tail.to_string(),
    };
    format!("{head}{authority}{tail}")
}

/// Reads an environment variable (injectable for tests).
type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Resolves secrets: environment first, then the store; every value found is
/// registered with the redactor before it is returned.
#[derive(Clone)]
pub struct Secrets {
    store: Arc<dyn SecretStore>,
    redactor: Redactor,
    env: EnvLookup,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

impl Secrets {
    /// Secrets from the process environment and `store`.
    pub fn new(store: Arc<dyn SecretStore>, redactor: Redactor) -> Self {
        Self {
            store,
            redactor,
            env: Arc::new(|k| std::env::var(k).ok()),
        }
    }

    /// Same, with a custom environment (tests).
    pub fn with_env(
        store: Arc<dyn SecretStore>,
        redactor: Redactor,
        env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        Self {
            store,
            redactor,
            env: Arc::new(env),
        }
    }

    /// The redactor every resolved value is registered with.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Looks a secret up: `$SHIPDECK_SECRET_<NAME>`, then the store.
    pub fn get(&self, name: &str) -> Result<String, SecretError> {
        if !valid_name(name) {
            return Err(SecretError::BadName(name.to_string()));
        }
        let value = match (self.env)(&format!("SHIPDECK_SECRET_{name}")).filter(|v| !v.is_empty()) {
            Some(v) => v,
            None => self.store.get(name)?.ok_or_else(|| SecretError::Missing {
                name: name.to_string(),
            })?,
        };
        self.redactor.register(&value);
        Ok(value)
    }

    /// Replaces every `${secret:NAME}` in `template`.
    pub fn expand(&self, template: &str) -> Result<String, SecretError> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("${secret:") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 9..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return Ok(out);
            };
            out.push_str(&self.get(&after[..end])?);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(env: &'static [(&'static str, &'static str)]) -> (Secrets, MemoryStore) {
        let store = MemoryStore::default();
        let s = Secrets::with_env(Arc::new(store.clone()), Redactor::default(), move |k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_string())
        });
        (s, store)
    }

    #[test]
    fn env_var_wins_over_store() {
        let (s, store) = secrets(&[("SHIPDECK_SECRET_TOKEN", "from-env")]);
        store.set("TOKEN", "from-store").unwrap();
        assert_eq!(s.get("TOKEN").unwrap(), "from-env");
        store.set("OTHER", "stored-value").unwrap();
        assert_eq!(s.get("OTHER").unwrap(), "stored-value");
    }

    #[test]
    fn missing_secret_names_both_ways() {
        let (s, _) = secrets(&[]);
        let msg = s.get("API_TOKEN").unwrap_err().to_string();
        assert!(msg.contains("SHIPDECK_SECRET_API_TOKEN"), "{msg}");
        assert!(msg.contains("shipdeck secret set API_TOKEN"), "{msg}");
        assert!(matches!(s.get("bad-name"), Err(SecretError::BadName(_))));
    }

    #[test]
    fn expand_and_redact() {
        let (s, store) = secrets(&[]);
        store.set("TOKEN", "s3cr3t-value").unwrap();
        let header = s.expand("Bearer ${secret:TOKEN}").unwrap();
        assert_eq!(header, "Bearer s3cr3t-value");
        assert_eq!(
            s.redactor().redact("error: got s3cr3t-value back"),
            format!("error: got {REDACTED} back")
        );
    }

    #[test]
    fn urls_lose_credentials() {
        let r = Redactor::default();
        assert_eq!(
            r.redact("GET https://u:pw@h.example/x?token=abc&page=2#f failed"),
            format!("GET https://u:{REDACTED}@h.example/x?token={REDACTED}&page=2#f failed")
        );
        assert_eq!(r.redact("no url here"), "no url here");
    }
}

/// Makes sure this process has a session keyring. On headless Linux none exists
/// by default and every keyutils call then fails with "no entry".
pub fn ensure_session_keyring() -> Result<(), String> {
    #[cfg(target_os = "linux")]
    {
        linux_keyutils::KeyRing::from_special_id(linux_keyutils::KeyRingIdentifier::Session, true)
            .map(|_| ())
            .map_err(|e| format!("the kernel refused a session keyring: {e:?}"))
    }
    #[cfg(not(target_os = "linux"))]
    {
        Ok(())
    }
}

/// The OS keyring (keyutils on Linux, Keychain on macOS, Credential Manager on
/// Windows). Keyrings cannot list entries, so the *names* (never values) are
/// kept in a small index file beside the audit data.
#[derive(Debug, Clone)]
pub struct KeyringStore {
    index: std::path::PathBuf,
}

impl KeyringStore {
    /// A store whose name index lives at `index`.
    pub fn new(index: std::path::PathBuf) -> Result<Self, SecretError> {
        ensure_session_keyring().map_err(|message| SecretError::Keyring {
            name: "(session)".to_string(),
            message,
        })?;
        Ok(Self { index })
    }

    fn entry(name: &str) -> Result<keyring::Entry, SecretError> {
        keyring::Entry::new(KEYRING_SERVICE, name).map_err(|e| keyring_error(name, &e))
    }

    fn read_index(&self) -> BTreeSet<String> {
        std::fs::read_to_string(&self.index)
            .ok()
            .and_then(|t| serde_json::from_str::<BTreeSet<String>>(&t).ok())
            .unwrap_or_default()
    }

    fn write_index(&self, names: &BTreeSet<String>) -> Result<(), SecretError> {
        let fail = |e: &dyn std::fmt::Display| SecretError::Keyring {
            name: "(index)".to_string(),
            message: format!("cannot write {}: {e}", self.index.display()),
        };
        if let Some(dir) = self.index.parent() {
            std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        }
        let text = serde_json::to_string_pretty(names).map_err(|e| fail(&e))?;
        let tmp = self.index.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(|e| fail(&e))?;
        std::fs::rename(&tmp, &self.index).map_err(|e| fail(&e))
    }
}

fn keyring_error(name: &str, e: &keyring::Error) -> SecretError {
    SecretError::Keyring {
        name: name.to_string(),
        // keyring's messages name the entry, never its value.
        message: e.to_string(),
    }
}

impl SecretStore for KeyringStore {
    fn get(&self, name: &str) -> Result<Option<String>, SecretError> {
        match Self::entry(name)?.get_password() {
            Ok(v) => Ok(Some(v)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_error(name, &e)),
        }
    }

    fn set(&self, name: &str, value: &str) -> Result<(), SecretError> {
        Self::entry(name)?
            .set_password(value)
            .map_err(|e| keyring_error(name, &e))?;
        let mut names = self.read_index();
        names.insert(name.to_string());
        self.write_index(&names)
    }

    fn remove(&self, name: &str) -> Result<bool, SecretError> {
        let existed = match Self::entry(name)?.delete_credential() {
            Ok(()) => true,
            Err(keyring::Error::NoEntry) => false,
            Err(e) => return Err(keyring_error(name, &e)),
        };
        let mut names = self.read_index();
        let listed = names.remove(name);
        if listed {
            self.write_index(&names)?;
        }
        Ok(existed || listed)
    }

    fn names(&self) -> Result<Vec<String>, SecretError> {
        Ok(self.read_index().into_iter().collect())
    }
}
