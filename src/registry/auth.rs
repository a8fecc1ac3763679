//! Who shipdeck is to a registry, first that applies: a `[registry.auth]`
//! secret (`user:password`, from the keyring or `$SHIPDECK_SECRET_<NAME>`),
//! an ECR token (`GetAuthorizationToken`, kept until shortly before it
//! expires), the Docker configuration, else anonymous.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};

use super::RegistryError;
use super::docker_config::{Credential, CredentialError, DockerConfig};
use crate::config::aws::AwsAccess;
use crate::config::registry::RegistryConfig;
use crate::secrets::Secrets;

/// An ECR token is renewed this long before AWS says it expires.
const ECR_RENEW_BEFORE: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
/// How long `GetAuthorizationToken` may take.
const ECR_TIMEOUT: Duration = Duration::from_secs(10);

/// What a registry is told, resolved. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum Login {
    /// No credentials.
    Anonymous,
    /// A user name and password (ECR: `AWS` and the token's password).
    Basic(String, String),
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic(user, _) => write!(f, "Basic({user}, <redacted>)"),
        }
    }
}

impl Login {
    pub(super) fn to_oci(&self) -> oci_client::secrets::RegistryAuth {
        match self {
            Self::Anonymous => oci_client::secrets::RegistryAuth::Anonymous,
            Self::Basic(u, p) => oci_client::secrets::RegistryAuth::Basic(u.clone(), p.clone()),
        }
    }
}

/// The region of an ECR registry host
/// (`<account>.dkr.ecr.<region>.amazonaws.com[.cn]`), `None` for any other host.
pub fn ecr_region(host: &str) -> Option<&str> {
    let host = host.split(':').next().unwrap_or(host);
    let rest = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    let mut parts = rest.split('.');
    let account = parts.next()?;
    let (dkr, ecr) = (parts.next()?, parts.next()?);
    let region = parts.next()?;
    // `ecr-fips` is the FIPS endpoint's spelling.
    let ok = account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && dkr == "dkr"
        && (ecr == "ecr" || ecr == "ecr-fips")
        && !region.is_empty()
        && parts.next().is_none();
    ok.then_some(region)
}

/// Decodes an ECR authorization token: base64 of `AWS:<password>`.
pub fn decode_ecr_token(token: &str) -> Result<(String, String), String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|_| "the ECR authorization token is not base64".to_string())?;
    let text = String::from_utf8(bytes)
        .map_err(|_| "the ECR authorization token is not text".to_string())?;
    match text.split_once(':') {
        Some((user, password)) if !user.is_empty() && !password.is_empty() => {
            Ok((user.to_string(), password.to_string()))
        }
        _ => Err("the ECR authorization token is not user:password".to_string()),
    }
}

/// Resolves and keeps credentials per host.
pub(super) struct Auth {
    cfg: Arc<RegistryConfig>,
    /// The Docker configuration, or why it could not be read.
    docker: Result<Option<Arc<DockerConfig>>, CredentialError>,
    secrets: Secrets,
    /// ECR tokens per host, with when they must be renewed.
    ecr: Mutex<HashMap<String, (Login, DateTime<Utc>)>>,
}

impl Auth {
    pub(super) fn new(
        cfg: Arc<RegistryConfig>,
        docker: Result<Option<Arc<DockerConfig>>, CredentialError>,
        secrets: Secrets,
    ) -> Self {
        Self {
            cfg,
            docker,
            secrets,
            ecr: Mutex::new(HashMap::new()),
        }
    }

    /// The credentials for `host` (`docker.io` for Docker Hub).
    pub(super) async fn login(&self, host: &str) -> Result<Login, RegistryError> {
        if let Some(name) = self.cfg.auth.get(host) {
            let value = self.secrets.get(name).map_err(|e| RegistryError::Secret {
                host: host.to_string(),
                why: e.to_string(),
            })?;
            return match value.split_once(':') {
                Some((u, p)) if !u.is_empty() => Ok(Login::Basic(u.to_string(), p.to_string())),
                _ => Err(RegistryError::Secret {
                    host: host.to_string(),
                    why: format!("secret \"{name}\" is not user:password"),
                }),
            };
        }
        if let Some(region) = ecr_region(host) {
            return self.ecr_login(host, region).await;
        }
        let Some(docker) = self.docker.clone()? else {
            return Ok(Login::Anonymous);
        };
        // Helpers are programs that may block: off the runtime's threads.
        // (`credential_for` knows Docker Hub's spellings.)
        let key = host.to_string();
        let found = tokio::task::spawn_blocking(move || docker.credential_for(&key))
            .await
            .map_err(|e| RegistryError::Secret {
                host: host.to_string(),
                why: format!("the credential lookup failed: {e}"),
            })??;
        match found {
            None => Ok(Login::Anonymous),
            Some(Credential::Basic { username, password }) => Ok(Login::Basic(username, password)),
            Some(Credential::IdentityToken(_)) => Err(RegistryError::Secret {
                host: host.to_string(),
                why: "the Docker configuration has an identity token for it, which shipdeck cannot use yet; log in with a user name and password or set [registry.auth]".to_string(),
            }),
        }
    }

    async fn ecr_login(&self, host: &str, region: &str) -> Result<Login, RegistryError> {
        let now = Utc::now();
        if let Some((login, renew_at)) = self
            .ecr
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(host)
            && *renew_at > now
        {
            return Ok(login.clone());
        }
        let fail = |why: String| RegistryError::Secret {
            host: host.to_string(),
            why,
        };
        let access = AwsAccess {
            region: region.to_string(),
            profile: self.cfg.ecr.profile.clone(),
            endpoint_url: self.cfg.ecr.endpoint_url.clone(),
            endpoints: std::collections::BTreeMap::new(),
        };
        let sdk = crate::aws::session(Some(&access), None).await;
        let client = aws_sdk_ecr::Client::new(&sdk);
        let out = tokio::time::timeout(ECR_TIMEOUT, client.get_authorization_token().send())
            .await
            .map_err(|_| RegistryError::Timeout {
                host: host.to_string(),
                secs: ECR_TIMEOUT.as_secs(),
            })?
            .map_err(|e| {
                fail(format!(
                    "ECR GetAuthorizationToken failed: {}",
                    aws_sdk_ecr::error::DisplayErrorContext(&e)
                ))
            })?;
        let data = out
            .authorization_data()
            .first()
            .ok_or_else(|| fail("ECR GetAuthorizationToken returned no token".to_string()))?;
        let token = data
            .authorization_token()
            .ok_or_else(|| fail("ECR GetAuthorizationToken returned no token".to_string()))?;
        let (user, password) = decode_ecr_token(token).map_err(fail)?;
        let expires = data
            .expires_at()
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), 0))
            .unwrap_or(now + chrono::TimeDelta::hours(1));
        let login = Login::Basic(user, password);
        self.ecr
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                host.to_string(),
                (login.clone(), expires - ECR_RENEW_BEFORE),
            );
        Ok(login)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_tokens_decode_to_user_and_password() {
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:eyJwYXlsb2FkIjoi:x==");
        assert_eq!(
            decode_ecr_token(&token).unwrap(),
            ("AWS".to_string(), "eyJwYXlsb2FkIjoi:x==".to_string())
        );
        assert!(decode_ecr_token("%%%").unwrap_err().contains("not base64"));
        let no_colon = base64::engine::general_purpose::STANDARD.encode("AWSonly");
        assert!(
            decode_ecr_token(&no_colon)
                .unwrap_err()
                .contains("user:password")
        );
        let empty_pw = base64::engine::general_purpose::STANDARD.encode("AWS:");
        assert!(decode_ecr_token(&empty_pw).is_err());
    }

    #[test]
    fn ecr_hosts_are_recognised_with_their_region() {
        assert_eq!(
            ecr_region("123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
            Some("eu-west-1")
        );
        assert_eq!(
            ecr_region("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"),
            Some("cn-north-1")
        );
        assert_eq!(
            ecr_region("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com"),
            Some("us-east-1")
        );
        for other in [
            "ghcr.io",
            "127.0.0.1:5000",
            "12345.dkr.ecr.eu-west-1.amazonaws.com",
            "123456789012.dkr.ecr.amazonaws.com",
            "public.ecr.aws",
            "123456789012.dkr.ecr.eu-west-1.evil.example.amazonaws.com",
        ] {
            assert_eq!(ecr_region(other), None, "{other}");
        }
    }

    #[test]
    fn a_login_never_shows_its_password() {
        let l = Login::Basic("AWS".into(), "hunter2-canary".into());
        assert!(!format!("{l:?}").contains("hunter2"));
    }
}
