//! What a promotion does to a function, call by call, on any [`LambdaApi`]:
//! publish the source's artifact as a new version, move the alias's
//! traffic to it one step at a time, finish, or roll back. Each alias
//! change is checked before any call (some emulators accept anything) and
//! preceded by a read-back: an alias changed by someone else is left as they
//! set it, and said so.

use std::time::Duration;

use super::api::{AliasUpdate, Code, LambdaApi};
use super::marker::Marker;
use super::read::AliasView;
use super::routing::{self, RoutingError};
use super::settled::Settled;
use super::snapshot::Artifact;
use crate::model::Digest;
use crate::provider::ProviderError;

/// Why a step or a publication stopped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
    /// The alias is not as this shift left it: someone changed it. Nothing
    /// was changed over it.
    #[error("{function}:{alias} was changed outside shipdeck ({what}); it is left as it is")]
    ChangedOutside {
        /// The function.
        function: String,
        /// The alias.
        alias: String,
        /// What differs, in words.
        what: String,
    },
    /// The change would break Lambda's rules; refused before any call.
    #[error("refused before any call: {0}")]
    Routing(#[from] RoutingError),
    /// The published version's code is not the promoted artifact.
    #[error("{function}: version {version} holds {found}, not the promoted {expected}")]
    WrongArtifact {
        /// The function.
        function: String,
        /// The version published.
        version: u32,
        /// What it holds.
        found: String,
        /// What was promoted.
        expected: Digest,
    },
    /// `$LATEST`'s update failed or did not finish in time.
    #[error(
        "{function}: the code update {what}; nothing was published, and the alias was not touched"
    )]
    Update {
        /// The function.
        function: String,
        /// What happened (`failed: …`, `did not finish within 5m`).
        what: String,
    },
    /// `PublishVersion` was refused (the code changed underneath, or
    /// anything else): `$LATEST` was updated, but nothing was published.
    #[error(
        "{function}: publishing the promoted code was refused: {source}; nothing was published, and the alias was not touched"
    )]
    Publish {
        /// The function.
        function: String,
        /// The API's refusal.
        source: ProviderError,
    },
    /// A zip package could not be fetched, or is not the promoted one: it
    /// was not uploaded.
    #[error(transparent)]
    Package(#[from] super::package::PackageError),
    /// The API refused or failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

/// What the alias must read before the next change: as the shift left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The alias's version.
    pub version: String,
    /// The weighted version and its share in hundredths, if any.
    pub weighted: Option<(String, u32)>,
}

impl Expected {
    /// Whether `a` reads as expected.
    pub fn matches(&self, a: &AliasView) -> bool {
        self.check(a).is_ok()
    }

    /// Whether `a` reads as expected; else what differs.
    fn check(&self, a: &AliasView) -> Result<(), String> {
        let read = a
            .weighted
            .as_ref()
            .map(|(v, w)| (v.clone(), routing::hundredths(*w)));
        let want = self.weighted.as_ref().map(|(v, w)| (v.clone(), Some(*w)));
        if a.version != self.version {
            return Err(format!(
                "it names version {}, not {}",
                crate::model::sanitize(&a.version),
                self.version
            ));
        }
        if read != want {
            let say = |w: &Option<(String, Option<u32>)>| match w {
                None => "no weighted version".to_string(),
                Some((v, Some(h))) => {
                    format!(
                        "{} on version {}",
                        crate::model::strategy::percent(*h),
                        crate::model::sanitize(v)
                    )
                }
                Some((v, None)) => format!(
                    "an unreadable weight on version {}",
                    crate::model::sanitize(v)
                ),
            };
            return Err(format!("it has {}, not {}", say(&read), say(&want)));
        }
        Ok(())
    }
}

/// One step of a shift: `marker.weight` of the traffic on `marker.to`, the
/// rest on `marker.from`, with the marker in the description. The alias
/// must read as `expected` first.
pub async fn step<A: LambdaApi>(
    api: &A,
    function: &str,
    alias: &str,
    marker: &Marker,
    expected: &Expected,
    versions: &[String],
) -> Result<AliasView, StepError> {
    let now = read_back(api, function, alias, expected).await?;
    let to = marker.to.to_string();
    routing::validate(&now.version, &to, marker.weight, versions)?;
    // The alias keeps its version while the traffic moves: a marker that
    // names another one is not this alias's shift.
    if routing::number(&now.version) != Some(marker.from) {
        return Err(StepError::ChangedOutside {
            function: function.to_string(),
            alias: alias.to_string(),
            what: format!(
                "it names version {}, the shift moves from {}",
                crate::model::sanitize(&now.version),
                marker.from
            ),
        });
    }
    let update = AliasUpdate {
        version: now.version.clone(),
        weighted: Some((to, marker.weight)),
        description: marker.write(&now.description),
        revision_id: now.revision_id.clone(),
    };
    Ok(api.update_alias(function, alias, &update).await?)
}

/// The alias as it is now, which must read as the shift left it
/// (`expected`): someone's change stops the shift and is left alone.
async fn read_back<A: LambdaApi>(
    api: &A,
    function: &str,
    alias: &str,
    expected: &Expected,
) -> Result<AliasView, StepError> {
    let now = api.alias(function, alias).await?;
    expected
        .check(&now)
        .map_err(|what| StepError::ChangedOutside {
            function: function.to_string(),
            alias: alias.to_string(),
            what,
        })?;
    Ok(now)
}

/// The version a new shift of `function`'s `alias` (read as `now`) moves
/// from: a published one, with no shift already under way.
pub fn shift_start(function: &str, alias: &str, now: &AliasView) -> Result<u32, ProviderError> {
    let Some(from) = routing::number(&now.version) else {
        return Err(ProviderError::Other {
            message: format!(
                "alias {function}:{alias} names {}, not a published version: point it at one first",
                crate::model::sanitize(&now.version)
            ),
        });
    };
    if now.weighted.is_some() {
        return Err(ProviderError::Conflict {
            message: format!(
                "alias {function}:{alias} is already shifting traffic; finish or roll that back first"
            ),
        });
    }
    Ok(from)
}

/// A step's error as the provider seam reports it: the API's own, a change
/// someone made as a conflict, the rest as they say.
impl From<StepError> for ProviderError {
    fn from(e: StepError) -> Self {
        match e {
            StepError::Provider(p) => p,
            StepError::ChangedOutside { .. } => Self::Conflict {
                message: e.to_string(),
            },
            other => Self::Other {
                message: other.to_string(),
            },
        }
    }
}

/// The last step: the alias names `to`, weights cleared, the marker gone.
pub async fn finish<A: LambdaApi>(
    api: &A,
    function: &str,
    alias: &str,
    to: u32,
    expected: &Expected,
    at: i64,
) -> Result<AliasView, StepError> {
    let now = read_back(api, function, alias, expected).await?;
    let update = AliasUpdate {
        version: to.to_string(),
        weighted: None,
        description: Settled { version: to, at }.write(&now.description),
        revision_id: now.revision_id.clone(),
    };
    Ok(api.update_alias(function, alias, &update).await?)
}

/// A rollback: one alias change back to `to`, weights cleared, the marker
/// replaced by the stamp of `at` (when `to` began to serve again). It does not ask how the alias reads first: a rollback is what a
/// person or an abort wants whatever happened.
pub async fn rollback<A: LambdaApi>(
    api: &A,
    function: &str,
    alias: &str,
    to: u32,
    at: i64,
) -> Result<AliasView, StepError> {
    let now = api.alias(function, alias).await?;
    if routing::number(&now.version).is_none() {
        return Err(RoutingError::AliasOnLatest.into());
    }
    let update = AliasUpdate {
        version: to.to_string(),
        weighted: None,
        description: Settled { version: to, at }.write(&now.description),
        revision_id: None,
    };
    Ok(api.update_alias(function, alias, &update).await?)
}

/// How long a code update may take, and how often it is looked at.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    /// Longest wait for `LastUpdateStatus` to leave `InProgress`.
    pub limit: Duration,
    /// Between two looks.
    pub every: Duration,
}

/// Puts `code` into `$LATEST`, waits for the update, and publishes it as a
/// version only while `$LATEST` still holds it: a concurrent change is
/// refused by the API, and the published version is checked anyway (some
/// emulators ignore the condition). `sleep` waits (the real clock, or the
/// simulator's).
pub async fn publish<A, S, F>(
    api: &A,
    function: &str,
    code: &Code,
    expected: &Digest,
    wait: Wait,
    sleep: S,
) -> Result<Artifact, StepError>
where
    A: LambdaApi,
    S: Fn(Duration) -> F,
    F: std::future::Future<Output = ()>,
{
    let mut latest = api.update_code(function, code).await?;
    let mut waited = Duration::ZERO;
    loop {
        match latest
            .latest
            .last_update
            .as_ref()
            .map(|(s, why)| (s.as_str(), why))
        {
            Some(("InProgress", _)) if waited < wait.limit => {
                sleep(wait.every).await;
                waited += wait.every;
                latest = api.latest(function).await?;
            }
            Some(("InProgress", _)) => {
                return Err(StepError::Update {
                    function: function.to_string(),
                    what: format!(
                        "did not finish within {}",
                        humantime::format_duration(wait.limit)
                    ),
                });
            }
            Some(("Failed", why)) => {
                return Err(StepError::Update {
                    function: function.to_string(),
                    what: format!(
                        "failed: {}",
                        crate::model::sanitize(why.as_deref().unwrap_or("no reason given"))
                    ),
                });
            }
            _ => break,
        }
    }
    let package = latest
        .latest
        .package
        .clone()
        .unwrap_or_else(|| "Zip".to_string());
    let sha = latest.code_sha256.clone().unwrap_or_default();
    // $LATEST must hold what was promoted before anything is published.
    match super::digest::digest_of(&package, &sha) {
        Ok(d) if &d == expected => {}
        found => {
            return Err(StepError::Update {
                function: function.to_string(),
                what: format!(
                    "left $LATEST holding {} instead of {expected}",
                    found.map_or_else(|e| e, |d| d.to_string())
                ),
            });
        }
    }
    let published = api
        .publish(function, &sha, latest.revision_id.as_deref())
        .await
        .map_err(|source| StepError::Publish {
            function: function.to_string(),
            source,
        })?;
    match &published.digest {
        Ok(d) if d == expected => Ok(published),
        found => Err(StepError::WrongArtifact {
            function: function.to_string(),
            version: published.version,
            found: found
                .as_ref()
                .map_or_else(Clone::clone, ToString::to_string),
            expected: expected.clone(),
        }),
    }
}
