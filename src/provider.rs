//! The cloud behind a trait that speaks only shipdeck's domain types.
//!
//! Implementations: the simulated fleet (demo and tests) and, separately, ECS/CloudWatch.
//! Dispatch goes through [`AnyProvider`], an enum, so no boxed futures are needed.

pub mod limit;

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{EnvConfig, ServiceConfig};
use crate::model::logs::{LogConfig, LogCursor, LogPage};
use crate::model::{Digest, EnvSnapshot, Revision, RevisionInfo};
pub use crate::platforms::AnyProvider;

/// A classified provider failure; the UI acts on the kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ProviderError {
    /// The API throttled us; retry later.
    #[error("throttled: {message}")]
    Throttled {
        /// What the API said.
        message: String,
        /// How long the API asked us to wait, if it said.
        #[serde(with = "opt_secs")]
        retry_after: Option<Duration>,
    },
    /// Credentials missing, expired or lacking permission.
    #[error("not authorised: {message}")]
    Auth {
        /// Which action on which resource, or what to do.
        message: String,
    },
    /// A cluster, service, revision or alarm does not exist.
    #[error("{what} not found: {name}")]
    NotFound {
        /// Kind of thing.
        what: String,
        /// Its name.
        name: String,
    },
    /// The change conflicts with the current state.
    #[error("conflict: {message}")]
    Conflict {
        /// What conflicted.
        message: String,
    },
    /// Network failure or timeout.
    #[error("network: {message}")]
    Network {
        /// What failed.
        message: String,
    },
    /// Anything else.
    #[error("{message}")]
    Other {
        /// Description.
        message: String,
    },
}

impl ProviderError {
    /// Whether retrying with backoff makes sense.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Network { .. })
    }
}

mod opt_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    #[allow(clippy::ref_option)] // serde's `with` hands us `&Option<T>`.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<f64>::deserialize(d)?
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64))
    }
}

/// What a deploy or rollback call started.
///
/// A platform may not know the new revision when the call returns: a git
/// commit that a GitOps controller applies later has none yet. Then `to` is
/// `None`, and the watch follows the promoted digest (and `change`, when the
/// platform names one) until a reading shows the revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployStarted {
    /// shipdeck service name.
    pub service: String,
    /// Revision the service ran before.
    pub from: Option<Revision>,
    /// Revision the service now converges to, when the platform knows it
    /// already (never made up when it does not).
    pub to: Option<Revision>,
    /// What the platform calls the change it made, when it names one that a
    /// reading reports back (a git commit pushed for a controller to apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// Provider id of the new deployment, when known.
    pub deployment_id: Option<String>,
}

/// Who asks for a change, and under which records: what a platform that
/// writes its change down itself (a GitOps commit) names in it. The
/// executor fills it from the issue record it has just written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Asking {
    /// The operator, as the ledger names them.
    pub operator: String,
    /// The promotion the change belongs to.
    pub promotion: Option<String>,
    /// The change record (ticket) it was approved under.
    pub change_record: Option<String>,
    /// A rollback to an earlier, known-stable digest (else a promotion).
    pub rollback: bool,
    /// Why, where the record says (an abort's rule, a person's reason).
    pub reason: Option<String>,
}

/// What a reading covers. A reading costs only what the view shows: the board
/// and `status` never pay for revision histories (read lazily with
/// [`Provider::history`]), and `status` does not read metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadScope {
    /// Read the configured CloudWatch metrics (the console's detail pane and
    /// the deploy watch need them; `status` does not).
    pub metrics: bool,
    /// Ask ECS's service-deployment API about rollouts in flight (one call
    /// per service mid-rollout; `status` shows what DescribeServices says).
    pub service_deployments: bool,
}

impl ReadScope {
    /// What the console and the deploy watch read on every refresh.
    pub const CONSOLE: Self = Self {
        metrics: true,
        service_deployments: true,
    };
    /// What `status` reads: services and alarms.
    pub const STATUS: Self = Self {
        metrics: false,
        service_deployments: false,
    };
}

/// What a platform can do beyond reading and deploying, declared once per
/// platform (its `CAPABILITIES`) and looked up through the registry
/// ([`crate::platforms::capabilities`]), so that no caller branches on a
/// platform's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Stepped traffic pauses for a person's decision
    /// ([`Provider::decide_step`]).
    pub pauses: bool,
    /// Its deploys are run by shipdeck itself, in this process (probes, a
    /// switch): a promotion must be watched to completion, or it would stop
    /// half way.
    pub runs_in_process: bool,
    /// Reading a service's revision history costs API calls (read lazily,
    /// never as part of a board reading).
    pub history_costs_calls: bool,
    /// How the platform goes back to an earlier artifact: what a rollback
    /// targets ([`crate::release::rollback_target`]) and how it is issued.
    pub rollback: RollbackStyle,
    /// What a service's `running`/`desired` count, in words (`tasks`), or
    /// `None` where they count nothing a person could act on (a Lambda
    /// alias: there is nothing running to count), and are not shown.
    pub units: Option<&'static str>,
    /// Its units run in named regions a reading reports
    /// ([`crate::model::ServiceSnapshot::regions`]), so an environment's
    /// `allowed_regions` applies to it; `false` where nothing is placed by
    /// region (two colours behind a proxy).
    pub places: bool,
    /// Its readings come from watches it keeps open, not from requests: a
    /// reading costs nothing, so the console reads an environment whose
    /// every platform is watched each [`WATCHED_POLL`], and a change shows
    /// within a second.
    pub watched: bool,
}

/// How often the console reads an environment whose platforms all read
/// from watches ([`Capabilities::watched`]).
pub const WATCHED_POLL: Duration = Duration::from_millis(500);

/// How a platform rolls back: to the previous *known-stable artifact*, by
/// revision where the platform keeps them, by digest where it redeploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollbackStyle {
    /// Numbered revisions it keeps and points the service back at (ECS task
    /// definitions, Lambda versions): the previous stable revision, else the
    /// newest older one still kept ([`Provider::rollback`]).
    Revisions,
    /// Labelled slots kept warm side by side (two colours behind a proxy):
    /// switch back to the other slot ([`Provider::rollback`]).
    Slots,
    /// It redeploys an earlier image, which becomes a new, *higher* revision
    /// (Fly machines, a GitOps revert): the previous stable digest, deployed
    /// again ([`Provider::deploy`]) and recorded as a rollback. A number says
    /// nothing about age there.
    Redeploy,
}

/// What a reading of a service's logs asks for: the revision and log
/// configuration the console's last reading saw (the revision being rolled
/// out, during a watch), and where to start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogQuery {
    /// The task definition the service runs, when known.
    pub task_definition: Option<Revision>,
    /// Its log configuration as read, when known (a provider reads it itself
    /// when it is not).
    pub config: Option<LogConfig>,
    /// Where to start, and what was returned already.
    pub cursor: LogCursor,
}

/// Everything shipdeck needs from a cloud.
pub trait Provider: Send + Sync {
    /// Reads services, deployments, events and alarms of one environment (and
    /// metrics when `scope` asks). Revision histories may be left empty where
    /// reading them costs API calls.
    fn read_env(
        &self,
        env: &EnvConfig,
        scope: ReadScope,
    ) -> impl Future<Output = Result<EnvSnapshot, ProviderError>> + Send;

    /// The revisions of a service's task-definition family that can be rolled
    /// back to (ACTIVE), oldest first, with digests where known; `current` is
    /// the revision the service runs. Read when a rollback or the detail pane
    /// needs it, never as part of a reading.
    fn history(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        current: &Revision,
    ) -> impl Future<Output = Result<Vec<RevisionInfo>, ProviderError>> + Send;

    /// Registers a revision identical to the current one but for the image
    /// (`repo@digest`) and points the service at it. Says the new revision
    /// where the call knows it; a platform that learns it only later (a
    /// commit a controller applies) says `to: None` and the change it made.
    /// A platform that rolls back by redeploying ([`RollbackStyle::Redeploy`])
    /// is also called here for a rollback, with an earlier digest.
    fn deploy(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        digest: &Digest,
    ) -> impl Future<Output = Result<DeployStarted, ProviderError>> + Send;

    /// Deploys an earlier, known-stable `digest` again as a rollback
    /// ([`RollbackStyle::Redeploy`]): the same change as [`Self::deploy`],
    /// which it is by default, for a platform that goes back faster than it
    /// goes forward (Fly: no canary, no holds, no pause). Only the engine's
    /// rollback calls it, so a platform never has to guess a rollback from
    /// the digest it is given.
    fn redeploy(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        digest: &Digest,
    ) -> impl Future<Output = Result<DeployStarted, ProviderError>> + Send {
        self.deploy(env, service, digest)
    }

    /// [`Self::deploy`] (or, for a rollback, [`Self::redeploy`]) for
    /// `by`: a platform that writes the change down itself (a GitOps
    /// commit, authored by the operator and naming the promotion and the
    /// change record) overrides this; the others keep the default. The
    /// executor calls this one.
    fn deploy_as(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        digest: &Digest,
        by: &Asking,
    ) -> impl Future<Output = Result<DeployStarted, ProviderError>> + Send {
        async move {
            if by.rollback {
                self.redeploy(env, service, digest).await
            } else {
                self.deploy(env, service, digest).await
            }
        }
    }

    /// Points the service back at an existing revision (platforms that keep
    /// them: [`RollbackStyle::Revisions`], [`RollbackStyle::Slots`]).
    fn rollback(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        to: &Revision,
    ) -> impl Future<Output = Result<DeployStarted, ProviderError>> + Send;

    /// A person's decision at the paused step of `shift` (as the latest reading
    /// saw it): continue to the next step, or send all traffic back. Returns
    /// what the provider did, in words. A platform whose rollouts never pause
    /// for a person (see [`Capabilities::pauses`]) keeps this default.
    fn decide_step(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        shift: &crate::model::Shift,
        decision: crate::model::Decision,
    ) -> impl Future<Output = Result<String, ProviderError>> + Send {
        let _ = (shift, decision);
        std::future::ready(Err(ProviderError::Conflict {
            message: format!(
                "{} in {} runs on a platform whose rollouts do not pause for decisions",
                service.name, env.name
            ),
        }))
    }

    /// The service's log lines from `query.cursor` on, oldest first, one page
    /// per call (the console polls while its logs pane is open). A platform
    /// has none shipdeck can read unless it says otherwise: that is said, not
    /// shown as an empty log.
    fn logs(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        query: &LogQuery,
    ) -> impl Future<Output = Result<LogPage, ProviderError>> + Send {
        let _ = query;
        std::future::ready(Ok(LogPage::nowhere(format!(
            "shipdeck cannot read the logs of {} in {} on this platform",
            service.name, env.name
        ))))
    }
}

/// Longest one reading of logs may take before it counts as failed.
pub const LOGS_TIMEOUT: Duration = Duration::from_secs(10);

/// A page of a service's logs, with a timeout like a reading's, every text
/// through the one sanitiser: log lines are written by programs shipdeck does
/// not control, and reach the screen only this way.
pub async fn logs_with_timeout<P: Provider>(
    provider: &P,
    env: &EnvConfig,
    service: &ServiceConfig,
    query: &LogQuery,
) -> Result<LogPage, ProviderError> {
    match tokio::time::timeout(LOGS_TIMEOUT, provider.logs(env, service, query)).await {
        Ok(r) => r.map(LogPage::sanitized),
        Err(_) => Err(ProviderError::Network {
            message: format!(
                "reading the logs of \"{}\" in \"{}\" took longer than {}s",
                service.name,
                env.name,
                LOGS_TIMEOUT.as_secs()
            ),
        }),
    }
}

/// Longest a single environment reading may take before it counts as failed
/// (plus [`READ_TIME_PER_SERVICE`] for each service it reads).
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// Extra time a reading may take per service: a cold reading of a large
/// environment describes one task definition per service, and a fixed budget
/// would turn a big but healthy fleet into a failed reading.
pub const READ_TIME_PER_SERVICE: Duration = Duration::from_millis(40);

/// How long reading `env` may take: [`READ_TIMEOUT`] plus its per-service share.
pub fn read_budget(env: &EnvConfig) -> Duration {
    READ_TIMEOUT + READ_TIME_PER_SERVICE * u32::try_from(env.services.len()).unwrap_or(u32::MAX)
}

/// Reads an environment, turning a hung endpoint into a network error after
/// its [`read_budget`] so that one environment never blocks the others.
pub async fn read_with_timeout<P: Provider>(
    provider: &P,
    env: &EnvConfig,
    scope: ReadScope,
) -> Result<EnvSnapshot, ProviderError> {
    let budget = read_budget(env);
    // Prometheus and Alertmanager are read beside the platform, whatever it
    // is, each within its own timeout, and put into its reading.
    let (platform, signals) = futures::future::join(
        tokio::time::timeout(budget, provider.read_env(env, scope)),
        crate::signals::read(env, scope),
    )
    .await;
    match platform {
        // Outside text enters shipdeck sanitised, once, here.
        Ok(r) => r.map(|snap| signals.apply(snap).sanitized()),
        Err(_) => Err(ProviderError::Network {
            message: format!(
                "reading \"{}\" took longer than {}s",
                env.name,
                budget.as_secs()
            ),
        }),
    }
}

/// A service's rollback history, with a timeout like a reading's.
pub async fn history_with_timeout<P: Provider>(
    provider: &P,
    env: &EnvConfig,
    service: &ServiceConfig,
    current: &Revision,
) -> Result<crate::model::History, ProviderError> {
    match tokio::time::timeout(READ_TIMEOUT, provider.history(env, service, current)).await {
        Ok(r) => r.map(|h| crate::model::text::sanitized_history(h.into())),
        Err(_) => Err(ProviderError::Network {
            message: format!(
                "reading the revisions of \"{}\" in \"{}\" took longer than {}s",
                service.name,
                env.name,
                READ_TIMEOUT.as_secs()
            ),
        }),
    }
}

/// Reads a page of the logs of `service` in the environment at `env` of
/// `envs` (the console's `ReadLogs`, run off its loop).
pub async fn read_logs<P: Provider>(
    provider: &P,
    envs: &[EnvConfig],
    env: usize,
    service: &str,
    query: &LogQuery,
) -> Result<LogPage, ProviderError> {
    match envs.get(env).and_then(|e| Some((e, e.service(service)?))) {
        Some((e, svc)) => logs_with_timeout(provider, e, svc, query).await,
        None => Err(ProviderError::NotFound {
            what: "service".to_string(),
            name: service.to_string(),
        }),
    }
}
