//! [`HttpFly`]: the Machines API over HTTP (Fly, or the tests' stub), as
//! [`FlyApi`].
//!
//! Every request carries the token in the scheme its shape asks for
//! ([`crate::signals::authorization`], fly-go `tokens/tokens.go`: macaroons
//! `fm1r_`/`fm1a_`/`fm2_` as `FlyV1`, the rest as `Bearer`, a value that
//! already names its scheme as it is), runs under
//! the environment's in-flight limit (a 429 halves it and is retried after
//! `Retry-After`), within its own timeout, and is counted. Answers are
//! bounded, and what the API says in them is outside text: sanitised and
//! clipped before it goes into any message.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;

use super::api::{FlyApi, Lease, LeaseError, MachineView, UpdateBody};
use crate::config::EnvConfig;
use crate::provider::ProviderError;
use crate::provider::limit::Limiter;
use crate::secrets::Redactor;

/// The header every change of a leased machine carries (fly-go `NonceHeader`).
pub const NONCE_HEADER: &str = "fly-machine-lease-nonce";
/// How long one request may take (a wait gets its own timeout on top).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// The largest answer read (a list of a big app's machines with their events).
const BODY_LIMIT: usize = 16 * 1024 * 1024;
/// The most of the API's own words kept in a message.
const TEXT_LIMIT: usize = 300;
/// The longest a single wait asks the API to block (fly-go's proxy limit).
pub const MAX_WAIT: Duration = Duration::from_mins(1);

/// One environment's Machines API.
#[derive(Debug)]
pub struct HttpFly {
    client: reqwest::Client,
    base: url::Url,
    auth: HeaderValue,
    limiter: Limiter,
    redactor: Redactor,
    calls: Mutex<BTreeMap<String, u64>>,
    /// `Machines API at https://api.machines.dev`, for messages.
    name: String,
}

/// What a request is, for its count and its messages.
#[derive(Debug, Clone, Copy)]
struct Op<'a> {
    /// The operation's name as counted (`ListMachines`).
    name: &'static str,
    /// What a 404 says is missing (`app`, `machine`, `lease`).
    what: &'static str,
    /// Its name.
    subject: &'a str,
}

impl HttpFly {
    /// The Machines API of `env` at `api_url`, sending `token` (already
    /// expanded; `redactor` hides it in every message).
    pub fn new(
        env: &EnvConfig,
        api_url: &str,
        token: &str,
        redactor: Redactor,
    ) -> Result<Self, ProviderError> {
        let base =
            url::Url::parse(api_url.trim_end_matches('/')).map_err(|e| ProviderError::Other {
                message: format!("the Machines API URL {api_url:?} is not usable: {e}"),
            })?;
        redactor.register(token.trim());
        let mut auth =
            HeaderValue::from_str(&crate::signals::authorization(token)).map_err(|_| {
                ProviderError::Auth {
                    message: "the Fly token holds characters an HTTP header cannot carry"
                        .to_string(),
                }
            })?;
        auth.set_sensitive(true);
        let client = crate::health::client().map_err(|message| ProviderError::Other { message })?;
        Ok(Self {
            client,
            name: format!(
                "Machines API at {}",
                crate::secrets::redact_urls(base.as_str().trim_end_matches('/'))
            ),
            base,
            auth,
            limiter: Limiter::new(env.max_in_flight),
            redactor,
            calls: Mutex::new(BTreeMap::new()),
        })
    }

    /// The calls made so far, by operation (`ListMachines`: 100).
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn count(&self, op: &str) {
        tracing::debug!(op, "fly call");
        *self
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(op.to_string())
            .or_default() += 1;
    }

    /// `/v1/apps/{app}/machines[/…]`, each part escaped.
    fn url(&self, app: &str, rest: &[&str]) -> url::Url {
        let mut u = self.base.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty().extend(["v1", "apps", app, "machines"]);
            p.extend(rest);
        }
        u
    }

    /// One request under the limit, retried when throttled: the status and
    /// the body of an answer the API gave, else why none came.
    async fn send(
        &self,
        op: Op<'_>,
        method: reqwest::Method,
        url: url::Url,
        nonce: Option<&str>,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), ProviderError> {
        self.limiter
            .call(|| {
                self.count(op.name);
                let mut req = self
                    .client
                    .request(method.clone(), url.clone())
                    .timeout(timeout)
                    .header(reqwest::header::AUTHORIZATION, self.auth.clone())
                    .header(reqwest::header::ACCEPT, "application/json");
                if let Some(n) = nonce {
                    req = req.header(NONCE_HEADER, n);
                }
                if let Some(b) = &body {
                    req = req
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(b.clone());
                }
                async move {
                    let mut resp = req.send().await.map_err(|e| self.transport(op, &e))?;
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    let mut out = Vec::new();
                    while let Some(chunk) =
                        resp.chunk().await.map_err(|e| self.transport(op, &e))?
                    {
                        if out.len() + chunk.len() > BODY_LIMIT {
                            return Err(ProviderError::Other {
                                message: format!(
                                    "{}: the answer to {} is larger than {} MiB",
                                    self.name,
                                    op.name,
                                    BODY_LIMIT / 1024 / 1024
                                ),
                            });
                        }
                        out.extend_from_slice(&chunk);
                    }
                    if status == 429 {
                        return Err(self.error(op, status, &headers, &out));
                    }
                    Ok((status, out))
                }
            })
            .await
    }

    fn transport(&self, op: Op<'_>, e: &reqwest::Error) -> ProviderError {
        let why = if e.is_timeout() {
            "no answer in time".to_string()
        } else if e.is_connect() {
            "connection refused or host unreachable".to_string()
        } else if e.is_body() || e.is_decode() {
            "the answer broke off".to_string()
        } else {
            e.without_url_text()
        };
        ProviderError::Network {
            message: format!("{} ({}): {why}", self.name, op.name),
        }
    }

    /// The error an answer other than success stands for.
    fn error(&self, op: Op<'_>, status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError {
        let said = self.redactor.redact(&said(body));
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        classify(&self.name, op, status, retry_after, &said)
    }

    /// A JSON answer of one of `ok`, else its error.
    async fn json<T: DeserializeOwned>(
        &self,
        op: Op<'_>,
        method: reqwest::Method,
        url: url::Url,
        nonce: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<T, ProviderError> {
        let (status, out) = self
            .send(op, method, url, nonce, body, REQUEST_TIMEOUT)
            .await?;
        if !(200..300).contains(&status) {
            return Err(self.error(op, status, &HeaderMap::new(), &out));
        }
        self.parse(op, &out)
    }

    fn parse<T: DeserializeOwned>(&self, op: Op<'_>, body: &[u8]) -> Result<T, ProviderError> {
        serde_json::from_slice(body).map_err(|e| ProviderError::Other {
            message: format!(
                "{}: the answer to {} is not what the API documents ({e})",
                self.name, op.name
            ),
        })
    }

    /// A lease's answer (`{"status":"success","data":{…}}`), or who holds it.
    async fn lease_call(
        &self,
        op: Op<'_>,
        app: &str,
        id: &str,
        nonce: Option<&str>,
        ttl: Duration,
        description: &str,
    ) -> Result<Lease, LeaseError> {
        let secs = ttl.as_secs().max(1);
        let mut url = self.url(app, &[id, "lease"]);
        url.query_pairs_mut().append_pair("ttl", &secs.to_string());
        let body = serde_json::to_vec(&serde_json::json!({
            "ttl": secs,
            "description": description,
        }))
        .map_err(|e| ProviderError::Other {
            message: format!("cannot encode a lease request: {e}"),
        })?;
        let (status, out) = self
            .send(
                op,
                reqwest::Method::POST,
                url,
                nonce,
                Some(body),
                REQUEST_TIMEOUT,
            )
            .await?;
        if status == 409 {
            return Err(self.held(app, id, &out).await);
        }
        if !(200..300).contains(&status) {
            return Err(self.error(op, status, &HeaderMap::new(), &out).into());
        }
        let answer: LeaseAnswer = self.parse(op, &out)?;
        Ok(answer.data)
    }

    /// Who holds `id`'s lease, after a 409: the lease as the API gives it,
    /// else what its message says.
    async fn held(&self, app: &str, id: &str, body: &[u8]) -> LeaseError {
        let message = self.redactor.redact(&said(body));
        if let Ok(Some(l)) = self.lease(app, id).await {
            return LeaseError::Held {
                machine: id.to_string(),
                owner: clip(&l.owner),
                expires_at: l.expires_at,
                description: clip(&l.description),
                message,
            };
        }
        let (owner, expires_at) = held_by(&message).unwrap_or_default();
        LeaseError::Held {
            machine: id.to_string(),
            owner,
            expires_at,
            description: String::new(),
            message,
        }
    }
}

/// `{"status":"success","data":{…}}`.
#[derive(serde::Deserialize)]
struct LeaseAnswer {
    data: Lease,
}

trait WithoutUrl {
    fn without_url_text(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    /// The error's words without its URL (shown by the API's name instead).
    fn without_url_text(&self) -> String {
        let mut msg = self.to_string();
        if let Some(u) = self.url() {
            msg = msg.replace(u.as_str(), "<url>");
        }
        clip(&msg)
    }
}

/// At most [`TEXT_LIMIT`] characters of outside text, on one line.
pub(crate) fn clip(text: &str) -> String {
    crate::model::text::clip(text, TEXT_LIMIT)
}

/// What an error answer says: its `error` or `message`, else its text.
pub(crate) fn said(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        for key in ["error", "message"] {
            if let Some(s) = v.get(key).and_then(serde_json::Value::as_str)
                && !s.trim().is_empty()
            {
                return clip(s);
            }
        }
    }
    clip(text.trim())
}

/// An answer's status as a [`ProviderError`]: who refused (`name`), what
/// (`op`), and what the API said.
fn classify(
    name: &str,
    op: Op<'_>,
    status: u16,
    retry_after: Option<Duration>,
    said: &str,
) -> ProviderError {
    let said_tail = if said.is_empty() {
        String::new()
    } else {
        format!(": {said}")
    };
    match status {
        401 | 403 => ProviderError::Auth {
            message: format!(
                "{name} refused the token ({status}) for {}{said_tail}; check the secret [environment.fly] token names",
                op.name
            ),
        },
        404 => ProviderError::NotFound {
            what: op.what.to_string(),
            name: op.subject.to_string(),
        },
        409 => ProviderError::Conflict {
            message: format!("{name}: {} {}{said_tail}", op.name, op.subject),
        },
        429 => ProviderError::Throttled {
            message: format!("{name} throttled {}{said_tail}", op.name),
            retry_after,
        },
        500..=599 => ProviderError::Network {
            message: format!("{name} answered {status} to {}{said_tail}", op.name),
        },
        _ => ProviderError::Other {
            message: format!(
                "{name} answered {status} to {} {}{said_tail}",
                op.name, op.subject
            ),
        },
    }
}

/// Who holds a lease and until when, from the API's words: `machine ID …
/// lease currently held by ci@acme.dev, expires at 2026-08-20 10:00:00 +0000
/// UTC`.
pub(crate) fn held_by(message: &str) -> Option<(String, i64)> {
    let (_, rest) = message.split_once("held by ")?;
    let (owner, rest) = rest.split_once(", expires at ")?;
    let when = rest.get(..19)?;
    let at = chrono::NaiveDateTime::parse_from_str(when, "%Y-%m-%d %H:%M:%S")
        .ok()?
        .and_utc()
        .timestamp();
    Some((clip(owner.trim()), at))
}

const fn op<'a>(name: &'static str, what: &'static str, subject: &'a str) -> Op<'a> {
    Op {
        name,
        what,
        subject,
    }
}

impl FlyApi for HttpFly {
    async fn list(&self, app: &str) -> Result<Vec<MachineView>, ProviderError> {
        self.json(
            op("ListMachines", "app", app),
            reqwest::Method::GET,
            self.url(app, &[]),
            None,
            None,
        )
        .await
    }

    async fn get(&self, app: &str, id: &str) -> Result<MachineView, ProviderError> {
        self.json(
            op("GetMachine", "machine", id),
            reqwest::Method::GET,
            self.url(app, &[id]),
            None,
            None,
        )
        .await
    }

    async fn acquire_lease(
        &self,
        app: &str,
        id: &str,
        ttl: Duration,
        description: &str,
    ) -> Result<Lease, LeaseError> {
        self.lease_call(
            op("AcquireLease", "machine", id),
            app,
            id,
            None,
            ttl,
            description,
        )
        .await
    }

    async fn refresh_lease(
        &self,
        app: &str,
        id: &str,
        nonce: &str,
        ttl: Duration,
    ) -> Result<Lease, LeaseError> {
        self.lease_call(
            op("RefreshLease", "machine", id),
            app,
            id,
            Some(nonce),
            ttl,
            "",
        )
        .await
    }

    async fn lease(&self, app: &str, id: &str) -> Result<Option<Lease>, ProviderError> {
        let o = op("GetLease", "lease", id);
        let (status, out) = self
            .send(
                o,
                reqwest::Method::GET,
                self.url(app, &[id, "lease"]),
                None,
                None,
                REQUEST_TIMEOUT,
            )
            .await?;
        match status {
            404 => Ok(None),
            200..=299 => Ok(Some(self.parse::<LeaseAnswer>(o, &out)?.data)),
            _ => Err(self.error(o, status, &HeaderMap::new(), &out)),
        }
    }

    async fn release_lease(&self, app: &str, id: &str, nonce: &str) -> Result<(), ProviderError> {
        let o = op("ReleaseLease", "lease", id);
        let (status, out) = self
            .send(
                o,
                reqwest::Method::DELETE,
                self.url(app, &[id, "lease"]),
                Some(nonce),
                None,
                REQUEST_TIMEOUT,
            )
            .await?;
        match status {
            // Already gone: expired, or released before.
            200..=299 | 404 => Ok(()),
            _ => Err(self.error(o, status, &HeaderMap::new(), &out)),
        }
    }

    async fn update(
        &self,
        app: &str,
        id: &str,
        nonce: &str,
        body: &UpdateBody,
    ) -> Result<MachineView, ProviderError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ProviderError::Other {
            message: format!("cannot encode the update of {id}: {e}"),
        })?;
        self.json(
            op("UpdateMachine", "machine", id),
            reqwest::Method::POST,
            self.url(app, &[id]),
            Some(nonce),
            Some(bytes),
        )
        .await
    }

    async fn wait(
        &self,
        app: &str,
        id: &str,
        instance_id: &str,
        state: &str,
        timeout: Duration,
    ) -> Result<bool, ProviderError> {
        let o = op("WaitMachine", "machine", id);
        let secs = timeout.min(MAX_WAIT).as_secs().max(1);
        let mut url = self.url(app, &[id, "wait"]);
        url.query_pairs_mut()
            .append_pair("state", state)
            .append_pair("timeout", &secs.to_string())
            .append_pair("instance_id", instance_id);
        let (status, out) = self
            .send(
                o,
                reqwest::Method::GET,
                url,
                None,
                None,
                Duration::from_secs(secs) + REQUEST_TIMEOUT,
            )
            .await?;
        match status {
            200..=299 => Ok(true),
            408 => Ok(false),
            _ => Err(self.error(o, status, &HeaderMap::new(), &out)),
        }
    }

    async fn set_metadata(
        &self,
        app: &str,
        id: &str,
        key: &str,
        value: &str,
    ) -> Result<(), ProviderError> {
        let o = op("SetMetadata", "machine", id);
        let body = serde_json::to_vec(&serde_json::json!({ "value": value })).map_err(|e| {
            ProviderError::Other {
                message: format!("cannot encode metadata: {e}"),
            }
        })?;
        let (status, out) = self
            .send(
                o,
                reqwest::Method::POST,
                self.url(app, &[id, "metadata", key]),
                None,
                Some(body),
                REQUEST_TIMEOUT,
            )
            .await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(self.error(o, status, &HeaderMap::new(), &out))
        }
    }

    async fn delete_metadata(&self, app: &str, id: &str, key: &str) -> Result<(), ProviderError> {
        let o = op("DeleteMetadata", "machine", id);
        let (status, out) = self
            .send(
                o,
                reqwest::Method::DELETE,
                self.url(app, &[id, "metadata", key]),
                None,
                None,
                REQUEST_TIMEOUT,
            )
            .await?;
        match status {
            200..=299 | 404 => Ok(()),
            _ => Err(self.error(o, status, &HeaderMap::new(), &out)),
        }
    }
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
