//! Reading Lambda through the SDK: `$LATEST`'s state for every function
//! (`ListFunctions`, 50 a page), one `GetAlias` per service, and each
//! version's artifact (`GetFunctionConfiguration` with the version as
//! qualifier), kept once read, between runs too (`artifacts.rs`): a
//! published version never changes.
//!
//! Every call goes through the environment's AWS call budget
//! ([`crate::aws::Calls`]) under the API name `lambda`, so throttling slows a
//! reading down instead of failing it, and every call is counted.

use std::collections::HashMap;

use aws_sdk_lambda::Client;

use super::digest::digest_of;
use super::routing;
use super::snapshot::Artifact;
use crate::aws::{Calls, classify};
use crate::config::EnvConfig;
use crate::provider::ProviderError;

/// The API name Lambda's calls are limited and counted under.
pub const API: &str = "lambda";
/// Functions per `ListFunctions` page (the API's most).
const PAGE: i32 = 50;
/// Pages read at most (25,000 functions), so a misbehaving endpoint that
/// always answers a next marker cannot keep a reading going forever.
const MAX_PAGES: usize = 500;

/// `$LATEST` of one function, as `ListFunctions` says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest {
    /// `Active`, `Pending`, `Inactive`, `Failed`.
    pub state: Option<String>,
    /// `Successful`, `InProgress`, `Failed`, and its reason.
    pub last_update: Option<(String, Option<String>)>,
    /// `Image` or `Zip`.
    pub package: Option<String>,
}

/// An alias as read.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasView {
    /// Its version.
    pub version: String,
    /// The additional version and its weight, when traffic is split.
    pub weighted: Option<(String, f64)>,
    /// Its description.
    pub description: String,
    /// Its revision id (a precondition for `UpdateAlias` where the API honours it).
    pub revision_id: Option<String>,
}

pub use super::artifacts::Artifacts;

/// `$LATEST` of every function the endpoint lists, by name, page by page.
pub async fn latest_states(
    client: &Client,
    calls: &Calls,
    env: &EnvConfig,
) -> Result<HashMap<String, Latest>, ProviderError> {
    functions(client, calls, env, &Artifacts::default()).await
}

/// [`latest_states`], each function's ARN noted in `artifacts` (the key its
/// versions are kept under on disk).
pub async fn functions(
    client: &Client,
    calls: &Calls,
    env: &EnvConfig,
    artifacts: &Artifacts,
) -> Result<HashMap<String, Latest>, ProviderError> {
    let mut out = HashMap::new();
    let mut marker: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = calls
            .call(env, API, "ListFunctions", || async {
                client
                    .list_functions()
                    .max_items(PAGE)
                    .set_marker(marker.clone())
                    .send()
                    .await
                    .map_err(|e| classify(&e, "lambda:ListFunctions", &env.name))
            })
            .await?;
        for f in page.functions() {
            let Some(name) = f.function_name() else {
                continue;
            };
            if let Some(arn) = f.function_arn() {
                artifacts.note_arn(name, arn);
            }
            out.insert(
                name.to_string(),
                Latest {
                    state: f.state().map(|s| s.as_str().to_string()),
                    last_update: f.last_update_status().map(|s| {
                        (
                            s.as_str().to_string(),
                            f.last_update_status_reason().map(str::to_string),
                        )
                    }),
                    package: f.package_type().map(|p| p.as_str().to_string()),
                },
            );
        }
        match page.next_marker() {
            Some(m) if !m.is_empty() && marker.as_deref() != Some(m) => {
                marker = Some(m.to_string());
            }
            _ => return Ok(out),
        }
    }
    Err(ProviderError::Other {
        message: format!(
            "lambda:ListFunctions kept answering a next page after {MAX_PAGES} pages in {}",
            env.name
        ),
    })
}

/// The alias `alias` of `function`.
pub async fn alias(
    client: &Client,
    calls: &Calls,
    env: &EnvConfig,
    function: &str,
    alias: &str,
) -> Result<AliasView, ProviderError> {
    let what = format!("{function}:{alias}");
    let out = calls
        .call(env, API, "GetAlias", || async {
            client
                .get_alias()
                .function_name(function)
                .name(alias)
                .send()
                .await
                .map_err(|e| classify(&e, "lambda:GetAlias", &what))
        })
        .await?;
    let version = out
        .function_version()
        .ok_or_else(|| ProviderError::Other {
            message: format!("lambda:GetAlias answered {what} without a version"),
        })?
        .to_string();
    let weights = out
        .routing_config()
        .and_then(|r| r.additional_version_weights())
        .cloned()
        .unwrap_or_default();
    // The API allows one additional version; more is an answer we cannot
    // show truly, so it is an error rather than half of it.
    if weights.len() > 1 {
        return Err(ProviderError::Other {
            message: format!(
                "lambda:GetAlias answered {what} with {} weighted versions; Lambda allows one",
                weights.len()
            ),
        });
    }
    let weighted = weights.into_iter().next();
    if let Some((v, w)) = &weighted
        && routing::hundredths(*w).is_none()
    {
        return Err(ProviderError::Other {
            message: format!(
                "lambda:GetAlias answered {what} with weight {w} on version {}: not between 0 and 1",
                crate::model::sanitize(v)
            ),
        });
    }
    Ok(AliasView {
        version,
        weighted,
        description: out.description().unwrap_or_default().to_string(),
        revision_id: out.revision_id().map(str::to_string),
    })
}

/// The artifact of `function`'s published `version`, read once.
pub async fn artifact(
    client: &Client,
    calls: &Calls,
    env: &EnvConfig,
    cache: &Artifacts,
    function: &str,
    version: u32,
) -> Result<Artifact, ProviderError> {
    if let Some(a) = cache.get(function, version) {
        return Ok(a);
    }
    let what = format!("{function}:{version}");
    let out = calls
        .call(env, API, "GetFunctionConfiguration", || async {
            client
                .get_function_configuration()
                .function_name(function)
                .qualifier(version.to_string())
                .send()
                .await
                .map_err(|e| classify(&e, "lambda:GetFunctionConfiguration", &what))
        })
        .await?;
    let package = out
        .package_type()
        .map_or_else(|| "Zip".to_string(), |p| p.as_str().to_string());
    let a = Artifact {
        version,
        arn: out.function_arn().unwrap_or_default().to_string(),
        digest: out.code_sha256().map_or_else(
            || Err("no CodeSha256 in the answer".to_string()),
            |c| digest_of(&package, c),
        ),
        package,
    };
    cache.put(function, a.clone());
    Ok(a)
}

/// The numbers of `function`'s published versions, oldest first, page by page.
pub async fn versions(
    client: &Client,
    calls: &Calls,
    env: &EnvConfig,
    function: &str,
) -> Result<Vec<u32>, ProviderError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = calls
            .call(env, API, "ListVersionsByFunction", || async {
                client
                    .list_versions_by_function()
                    .function_name(function)
                    .max_items(PAGE)
                    .set_marker(marker.clone())
                    .send()
                    .await
                    .map_err(|e| classify(&e, "lambda:ListVersionsByFunction", function))
            })
            .await?;
        out.extend(
            page.versions()
                .iter()
                .filter_map(|v| v.version().and_then(routing::number)),
        );
        match page.next_marker() {
            Some(m) if !m.is_empty() && marker.as_deref() != Some(m) => {
                marker = Some(m.to_string());
            }
            _ => {
                out.sort_unstable();
                out.dedup();
                return Ok(out);
            }
        }
    }
    Err(ProviderError::Other {
        message: format!(
            "lambda:ListVersionsByFunction kept answering a next page after {MAX_PAGES} pages for {function}"
        ),
    })
}

/// The repository of `function`'s image (its `ImageUri` without tag or
/// digest); `None` for a zip function.
pub async fn image_repository(
    client: &Client,
    calls: &Calls,
    env: &EnvConfig,
    function: &str,
) -> Result<Option<String>, ProviderError> {
    let out = calls
        .call(env, API, "GetFunction", || async {
            client
                .get_function()
                .function_name(function)
                .send()
                .await
                .map_err(|e| classify(&e, "lambda:GetFunction", function))
        })
        .await?;
    Ok(out.code().and_then(|c| c.image_uri()).map(repository_of))
}

/// `repo` of `repo@sha256:…`, `repo:tag` or `repo` (a registry's port kept).
pub fn repository_of(uri: &str) -> String {
    let base = uri.split('@').next().unwrap_or(uri);
    let last_slash = base.rfind('/').unwrap_or(0);
    match base[last_slash..].find(':') {
        Some(colon) => base[..last_slash + colon].to_string(),
        None => base.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::repository_of;

    #[test]
    fn an_image_uri_loses_its_tag_and_digest_but_keeps_a_registry_port() {
        for (uri, repo) in [
            (
                "1.dkr.ecr.eu-west-1.amazonaws.com/thumbs@sha256:abc",
                "1.dkr.ecr.eu-west-1.amazonaws.com/thumbs",
            ),
            (
                "1.dkr.ecr.eu-west-1.amazonaws.com/thumbs:v2",
                "1.dkr.ecr.eu-west-1.amazonaws.com/thumbs",
            ),
            (
                "localhost:5000/shop/thumbs:v2",
                "localhost:5000/shop/thumbs",
            ),
            ("localhost:5000/shop/thumbs", "localhost:5000/shop/thumbs"),
            ("thumbs", "thumbs"),
        ] {
            assert_eq!(repository_of(uri), repo, "{uri}");
        }
    }
}
