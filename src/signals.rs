//! Signals as their own sources: Prometheus (PromQL metrics, alerts of its
//! alerting rules) and Alertmanager (alerts), read beside every platform's
//! reading and put into it, so the abort rules, the gate, `status` and the
//! console use them as they use CloudWatch's.
//!
//! Each server is read once per reading, all servers at once, each within its
//! own `timeout`. What a server could not tell is unknown with its reason,
//! never OK: an unreachable server, an error status, a timeout or an answer
//! that cannot be read makes every alarm and metric from it unknown; a
//! Prometheus alert whose rule does not exist is unknown too.

pub mod alertmanager;
pub mod auth;
pub mod cloudwatch;
pub mod prometheus;
mod reading;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_http;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::config::{
    AlertConfig, EnvConfig, MetricConfig, MetricSource, PromQuery, SignalEndpoint, SignalKind,
};
use crate::model::{Alarm, MetricSeries};
use crate::provider::ReadScope;
use crate::secrets::Secrets;
pub use auth::authorization;
pub use reading::SignalReading;
#[cfg(test)]
use reading::merge;

/// Largest answer read from a signal server; a larger one is unreadable.
pub const BODY_LIMIT: usize = 16 * 1024 * 1024;
/// Queries to one server in flight at once.
const QUERIES_IN_FLIGHT: usize = 8;
/// Longest text of a server's kept in a reason (a label value, an error).
const TEXT_LIMIT: usize = 200;

/// Why a signal server could not tell what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    /// The bearer token's secret could not be read.
    #[error("{server}: its token cannot be read: {message}")]
    Token {
        /// Which server, at which URL.
        server: String,
        /// Why (the secret's name and how to set it; never its value).
        message: String,
    },
    /// No connection.
    #[error("{server}: cannot connect ({message})")]
    Unreachable {
        /// Which server, at which URL.
        server: String,
        /// What failed.
        message: String,
    },
    /// No answer in time.
    #[error("{server}: no answer within {after}")]
    Timeout {
        /// Which server, at which URL.
        server: String,
        /// The timeout, for people.
        after: String,
    },
    /// An HTTP error status.
    #[error("{server}: answered HTTP {status}{detail}")]
    Status {
        /// Which server, at which URL.
        server: String,
        /// The status code.
        status: u16,
        /// The start of the body, when it says something.
        detail: String,
    },
    /// Prometheus answered with an error for this query (`bad_data`,
    /// `execution`, `timeout`, …).
    #[error("{server}: refused the query ({error_type}): {message}")]
    Refused {
        /// Which server, at which URL.
        server: String,
        /// Prometheus's `errorType`.
        error_type: String,
        /// Prometheus's `error`.
        message: String,
    },
    /// A metric's query returns several series; a metric is one line.
    #[error(
        "{server}: the query returns {count} series, such as {first}; a metric needs one (aggregate it, e.g. sum(…))"
    )]
    NotOneSeries {
        /// Which server, at which URL.
        server: String,
        /// How many it returned.
        count: usize,
        /// The labels of the first, for people.
        first: String,
    },
    /// An answer that is not what the API documents.
    #[error("{server}: sent an answer shipdeck cannot read ({why})")]
    Unparsable {
        /// Which server, at which URL.
        server: String,
        /// What was wrong with it.
        why: String,
    },
}

impl SignalError {
    /// Whether the server as a whole failed (its source is unreadable), not
    /// one query it refused.
    pub fn server_failed(&self) -> bool {
        match self {
            Self::Refused { error_type, .. } => {
                !matches!(error_type.as_str(), "bad_data" | "execution")
            }
            Self::NotOneSeries { .. } => false,
            _ => true,
        }
    }
}

/// A server as read: its configuration, the HTTP client and the token.
pub struct Server<'a> {
    client: &'a reqwest::Client,
    endpoint: &'a SignalEndpoint,
    token: Option<String>,
    /// `Prometheus at http://…`, for messages.
    pub name: String,
}

impl<'a> Server<'a> {
    /// A server reached with `client`, the token already resolved.
    pub fn new(
        client: &'a reqwest::Client,
        endpoint: &'a SignalEndpoint,
        token: Option<String>,
    ) -> Self {
        Self {
            client,
            endpoint,
            token,
            name: format!(
                "{} at {}",
                endpoint.kind.name(),
                crate::secrets::redact_urls(&endpoint.url)
            ),
        }
    }

    /// GETs `path` with `query`: the status and the body (bounded).
    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<(u16, Vec<u8>), SignalError> {
        let mut url = url::Url::parse(&format!("{}{path}", self.endpoint.url)).map_err(|e| {
            SignalError::Unreachable {
                server: self.name.clone(),
                message: format!("the URL is not usable: {e}"),
            }
        })?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut req = self
            .client
            .get(url)
            .timeout(self.endpoint.timeout)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(t) = &self.token {
            // `FlyV1` for Fly's macaroons, `Bearer` otherwise: see [`authorization`].
            let mut v =
                reqwest::header::HeaderValue::from_str(&authorization(t)).map_err(|_| {
                    SignalError::Token {
                        server: self.name.clone(),
                        message: "the token holds characters an HTTP header cannot carry"
                            .to_string(),
                    }
                })?;
            v.set_sensitive(true);
            req = req.header(reqwest::header::AUTHORIZATION, v);
        }
        let fail = |e: &reqwest::Error| self.transport_error(e);
        let mut resp = req.send().await.map_err(|e| fail(&e))?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| fail(&e))? {
            if body.len() + chunk.len() > BODY_LIMIT {
                return Err(SignalError::Unparsable {
                    server: self.name.clone(),
                    why: format!("the answer is larger than {} MiB", BODY_LIMIT / 1024 / 1024),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }

    fn transport_error(&self, e: &reqwest::Error) -> SignalError {
        if e.is_timeout() {
            return self.timeout();
        }
        let message = if e.is_connect() {
            "connection refused or host unreachable".to_string()
        } else if e.is_body() || e.is_decode() {
            "the answer broke off".to_string()
        } else {
            // URLs stay out (they may carry more than shipdeck shows): the
            // server is named by its configured URL.
            let mut msg = e.to_string();
            if let Some(u) = e.url() {
                msg = msg.replace(u.as_str(), "<url>");
            }
            msg
        };
        SignalError::Unreachable {
            server: self.name.clone(),
            message,
        }
    }

    fn timeout(&self) -> SignalError {
        SignalError::Timeout {
            server: self.name.clone(),
            after: humantime::format_duration(self.endpoint.timeout).to_string(),
        }
    }
}

/// At most [`TEXT_LIMIT`] characters of a server's text, on one line.
pub(crate) fn clip(text: &str) -> String {
    crate::model::text::clip(text, TEXT_LIMIT)
}

/// Reads signal servers: one HTTP client, the run's secrets.
pub struct Reader {
    client: reqwest::Client,
    secrets: Secrets,
}

/// The process's reader (its secrets: `$SHIPDECK_SECRET_*`, then the keyring).
pub fn reader() -> &'static Reader {
    static R: OnceLock<Reader> = OnceLock::new();
    R.get_or_init(|| {
        Reader::new(
            crate::health::client().unwrap_or_default(),
            crate::cli::setup::secrets_for_run(),
        )
    })
}

/// What an environment's signals add to a reading of it (nothing, quickly,
/// when it configures none).
pub async fn read(env: &EnvConfig, scope: ReadScope) -> SignalReading {
    // The servers to ask are worked out once per reading; with none, the
    // reader (and its secrets) is never even built.
    let jobs = jobs(env, scope);
    if jobs.is_empty() {
        return SignalReading::default();
    }
    reader().read_jobs(env, &jobs).await
}

/// What one server is asked in one reading.
struct Job<'a> {
    endpoint: Arc<SignalEndpoint>,
    /// Alerts, by the service (its position) that watches them.
    alerts: Vec<(usize, &'a AlertConfig)>,
    /// `promql` metrics, by service.
    metrics: Vec<(usize, &'a MetricConfig, &'a PromQuery)>,
}

/// Every server the environment's services read, with what each is asked.
fn jobs(env: &EnvConfig, scope: ReadScope) -> Vec<Job<'_>> {
    // The same server configured twice (per service) is read once.
    fn job_of(endpoint: &Arc<SignalEndpoint>, jobs: &mut Vec<Job<'_>>) -> usize {
        if let Some(i) = jobs
            .iter()
            .position(|j| Arc::ptr_eq(&j.endpoint, endpoint) || *j.endpoint == **endpoint)
        {
            return i;
        }
        jobs.push(Job {
            endpoint: endpoint.clone(),
            alerts: Vec::new(),
            metrics: Vec::new(),
        });
        jobs.len() - 1
    }
    let mut jobs: Vec<Job<'_>> = Vec::new();
    for (i, s) in env.services.iter().enumerate() {
        for a in &s.signals.alerts {
            if let Some(e) = s.signals.endpoint(a.source) {
                let j = job_of(e, &mut jobs);
                jobs[j].alerts.push((i, a));
            }
        }
        if !scope.metrics {
            continue;
        }
        for m in &s.metrics {
            if let (MetricSource::Prometheus(q), Some(e)) = (&m.source, &s.signals.prometheus) {
                let j = job_of(e, &mut jobs);
                jobs[j].metrics.push((i, m, q));
            }
        }
    }
    jobs
}

/// What one server told (or why it could not).
#[derive(Default)]
struct ServerRead {
    /// Per alert: the alarm, or why it is unknown.
    alerts: Vec<(usize, Result<Alarm, String>)>,
    /// Per metric: its series (with its error when unreadable).
    metrics: Vec<(usize, MetricSeries)>,
    /// The server failed as a whole (for alerts, for metrics).
    alerts_failed: Option<String>,
    metrics_failed: Option<String>,
}

impl Reader {
    /// A reader with its own client and secrets (tests, tools).
    pub fn new(client: reqwest::Client, secrets: Secrets) -> Self {
        Self { client, secrets }
    }

    /// Reads every signal server `env`'s services use, at once, each within
    /// its timeout.
    pub async fn read(&self, env: &EnvConfig, scope: ReadScope) -> SignalReading {
        self.read_jobs(env, &jobs(env, scope)).await
    }

    async fn read_jobs(&self, env: &EnvConfig, jobs: &[Job<'_>]) -> SignalReading {
        let now = Utc::now();
        let reads = jobs.iter().map(|job| async move {
            let read = tokio::time::timeout(job.endpoint.timeout, self.read_server(job, now));
            if let Ok(r) = read.await {
                r
            } else {
                let server = Server::new(&self.client, &job.endpoint, None);
                failed(job, &server.timeout())
            }
        });
        let results = futures::future::join_all(reads).await;
        SignalReading::assemble(env, jobs, results)
    }

    async fn read_server(&self, job: &Job<'_>, now: DateTime<Utc>) -> ServerRead {
        let token = match &job.endpoint.token {
            None => None,
            Some(t) => match self.secrets.expand(t) {
                Ok(v) => Some(v),
                Err(e) => {
                    let server = Server::new(&self.client, &job.endpoint, None);
                    return failed(
                        job,
                        &SignalError::Token {
                            server: server.name,
                            message: e.to_string(),
                        },
                    );
                }
            },
        };
        let server = Server::new(&self.client, &job.endpoint, token);
        let alerts = async {
            if job.alerts.is_empty() {
                return (Vec::new(), None);
            }
            match job.endpoint.kind {
                SignalKind::Prometheus => prometheus::read_alerts(&server, &job.alerts).await,
                SignalKind::Alertmanager => {
                    alertmanager::read_alerts(&server, &job.alerts, now).await
                }
            }
        };
        let metrics = async {
            // Collected first: a stream over a closure borrowing the job
            // would not be provably Send.
            let server = &server;
            let queries: Vec<_> = job
                .metrics
                .iter()
                .map(|&(i, m, q)| async move {
                    (i, m, q, prometheus::read_series(server, m, q, now).await)
                })
                .collect();
            let reads = futures::stream::iter(queries)
                .buffered(QUERIES_IN_FLIGHT)
                .collect::<Vec<_>>()
                .await;
            let mut failed = None;
            let series = reads
                .into_iter()
                .map(|(i, m, q, r)| match r {
                    Ok(s) => (i, s),
                    Err(e) if e.server_failed() => {
                        let why = e.to_string();
                        failed.get_or_insert_with(|| why.clone());
                        (i, unreadable(&m.label, &why))
                    }
                    // The query's own fault: name it and where it is written.
                    Err(e) => (
                        i,
                        unreadable(
                            &m.label,
                            &format!("{e} (metric \"{}\", promql at {})", m.label, q.location),
                        ),
                    ),
                })
                .collect::<Vec<_>>();
            (series, failed)
        };
        let ((alerts, alerts_failed), (metrics, metrics_failed)) =
            futures::future::join(alerts, metrics).await;
        ServerRead {
            alerts,
            metrics,
            alerts_failed,
            metrics_failed,
        }
    }
}

fn unreadable(label: &str, why: &str) -> MetricSeries {
    MetricSeries {
        label: label.to_string(),
        points: Vec::new(),
        error: Some(why.to_string()),
    }
}

/// Everything `job` asked is unknown because of `e`.
fn failed(job: &Job<'_>, e: &SignalError) -> ServerRead {
    let why = e.to_string();
    ServerRead {
        alerts: job
            .alerts
            .iter()
            .map(|(i, a)| (*i, Err(format!("alert {}: {why}", a.alarm_name()))))
            .collect(),
        metrics: job
            .metrics
            .iter()
            .map(|(i, m, _)| (*i, unreadable(&m.label, &why)))
            .collect(),
        alerts_failed: (!job.alerts.is_empty()).then(|| why.clone()),
        metrics_failed: (!job.metrics.is_empty()).then_some(why),
    }
}

/// How long ago `at` was, for reasons ("firing for 3m").
pub(crate) fn since(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = u64::try_from((now - at).num_seconds()).unwrap_or(0);
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}
