//! What every AWS API shipdeck calls shares, whichever platform or signal
//! source calls it: the SDK session of an environment (its
//! `[environment.aws]`: region, profile, endpoints; adaptive retry and
//! timeouts), the in-flight limit and the count of calls per environment and
//! API ([`Calls`]), how an SDK error becomes one clear [`ProviderError`]
//! ([`classify`]), and the checks of the process environment and credential
//! files made before any client exists.
//!
//! The ECS platform and the CloudWatch signal source use it today; Lambda
//! will. The DynamoDB team store keeps its own (its table has its own region).

mod credential_files;
mod errors;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

use crate::config::EnvConfig;
use crate::config::aws::AwsAccess;
use crate::provider::ProviderError;
use crate::provider::limit::Limiter;

pub use credential_files::check_credential_files;
pub use errors::classify;

/// Connecting must not take longer than this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// One API call (all retries included) must not take longer than this.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);

/// The SDK session of an environment: its region and profile (or the
/// standard chain), adaptive retry, a 3 s connect and 15 s call timeout, and
/// the shared endpoint override. `credentials` replaces the chain (tests
/// against emulators). Each API's client is built from it with
/// [`endpoint`]'s override.
pub async fn session(
    access: Option<&AwsAccess>,
    credentials: Option<aws_credential_types::Credentials>,
) -> aws_config::SdkConfig {
    let region = access.map_or_else(String::new, |a| a.region.clone());
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .retry_config(RetryConfig::adaptive().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        );
    if let Some(p) = access.and_then(|a| a.profile.as_ref()) {
        loader = loader.profile_name(p);
    }
    if let Some(c) = credentials {
        loader = loader.credentials_provider(c);
    }
    if let Some(u) = access.and_then(|a| a.endpoint_url.as_ref()) {
        loader = loader.endpoint_url(u);
    }
    loader.load().await
}

/// Where `api` of `env` is reached when it has its own endpoint override.
pub fn endpoint<'a>(env: &'a EnvConfig, api: &str) -> Option<&'a str> {
    env.aws.as_deref().and_then(|a| a.endpoint(api))
}

/// A client of one SDK crate from a session, with an API's own endpoint
/// override when it has one: `client!(aws_sdk_ecs, &sdk, endpoint(env, "ecs"))`.
#[macro_export]
macro_rules! aws_client {
    ($krate:ident, $sdk:expr, $endpoint:expr) => {
        match $endpoint {
            Some(u) => $krate::Client::from_conf(
                $krate::config::Builder::from($sdk).endpoint_url(u).build(),
            ),
            None => $krate::Client::new($sdk),
        }
    };
}

/// API calls made, per environment and operation.
pub type Accounting = BTreeMap<String, BTreeMap<String, u64>>;

#[derive(Debug, Default)]
struct Ledger {
    /// In-flight limit per environment and API (APIs throttle apart).
    limiters: HashMap<(String, &'static str), Limiter>,
    calls: Accounting,
}

/// The calls to AWS APIs: each environment's in-flight limit per API and the
/// count of every call, shared by everyone who calls AWS for an environment.
#[derive(Debug, Clone, Default)]
pub struct Calls {
    inner: Arc<Mutex<Ledger>>,
}

impl Calls {
    fn lock(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The in-flight limit of `env`'s calls to `api` (`"ecs"`, `"cloudwatch"`, …).
    pub fn limiter(&self, env: &EnvConfig, api: &'static str) -> Limiter {
        self.lock()
            .limiters
            .entry((env.name.clone(), api))
            .or_insert_with(|| Limiter::new(env.max_in_flight))
            .clone()
    }

    /// One call of `op` to `api` for `env`: under the environment's in-flight
    /// limit, retried when throttled, each attempt counted.
    pub async fn call<T, F, Fut>(
        &self,
        env: &EnvConfig,
        api: &'static str,
        op: &str,
        mut f: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ProviderError>>,
    {
        self.limiter(env, api)
            .call(|| {
                self.count(&env.name, op);
                f()
            })
            .await
    }

    /// Counts one call of `op` for `env` (made outside [`Calls::call`]).
    pub fn count(&self, env: &str, op: &str) {
        tracing::debug!(env, op, "aws call");
        *self
            .lock()
            .calls
            .entry(env.to_string())
            .or_default()
            .entry(op.to_string())
            .or_default() += 1;
    }

    /// Every call counted so far.
    pub fn accounting(&self) -> Accounting {
        self.lock().calls.clone()
    }
}

/// Converts an SDK timestamp.
pub fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// Checks the process environment before any client is built: an `AWS_*`
/// variable with a control character (a pasted `\r`, say) or that is not UTF-8
/// would make the SDK's request signer panic. The value is never shown: it may
/// be a secret.
pub fn check_environment() -> Result<(), String> {
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str().filter(|n| n.starts_with("AWS_")) else {
            continue;
        };
        let problem = match value.to_str() {
            None => Some("is not valid UTF-8"),
            Some(v) if v.chars().any(char::is_control) => {
                Some("contains a control character (a stray carriage return or tab?)")
            }
            Some(_) => None,
        };
        if let Some(p) = problem {
            return Err(format!(
                "environment variable {} {p}\n  help: set it again without the stray character, or unset it",
                crate::model::sanitize(name)
            ));
        }
    }
    Ok(())
}
