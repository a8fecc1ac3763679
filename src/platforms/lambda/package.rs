//! A zip function's promotion: the package comes from the stage whose alias
//! serves the promoted digest (its version's `GetFunction`, then a download
//! of `Code.Location`, bounded in time and in size), is checked against that
//! digest here and nowhere else, and only then goes to the target
//! (`steps::publish`, as an image does). A package that cannot be fetched,
//! is too big, or is not the promoted bytes is never uploaded: the promotion
//! stops before `UpdateFunctionCode`.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::api::{Code, LambdaApi};
use super::routing;
use super::sdk::SdkLambda;
use super::steps::StepError;
use crate::model::Digest;
use crate::provider::ProviderError;

/// The most a package may weigh: Lambda's limit for a zip uploaded through
/// its API (50 MB). A bigger one needs an S3 upload, which is not built.
pub const PACKAGE_LIMIT: u64 = 50 * 1024 * 1024;
/// Longest wait for the download's connection.
const CONNECT: Duration = Duration::from_secs(10);
/// Longest the whole download may take (50 MB at about 1.5 Mbit/s).
pub const DOWNLOAD: Duration = Duration::from_mins(5);

/// Why a package was not fetched or not taken. Nothing was uploaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    /// `GetFunction` named no place to download the package from.
    #[error("{what}: lambda:GetFunction gave no Code.Location to download the package from")]
    NoLocation {
        /// The version, and the stage it is in.
        what: String,
    },
    /// `Code.Location` is not an http(s) URL.
    #[error("{what}: the package's Code.Location is not an http(s) URL")]
    BadLocation {
        /// The version, and the stage it is in.
        what: String,
    },
    /// The download answered something other than success.
    #[error("{what}: the package download answered HTTP {status}")]
    Status {
        /// The version, and the stage it is in.
        what: String,
        /// The HTTP status.
        status: u16,
    },
    /// The download did not finish in time.
    #[error(
        "{what}: the package download did not finish within {}",
        humantime::format_duration(*after)
    )]
    Timeout {
        /// The version, and the stage it is in.
        what: String,
        /// How long it was given.
        after: Duration,
    },
    /// The download failed on the way.
    #[error("{what}: the package download failed: {reason}")]
    Network {
        /// The version, and the stage it is in.
        what: String,
        /// Why, without the URL (a presigned URL is a credential).
        reason: String,
    },
    /// The package weighs more than may be uploaded through the API.
    #[error(
        "{what}: the package is {}, more than the {} a zip uploaded through the Lambda API may \
         weigh; promoting through S3 is not built",
        size_words(*size, *limit),
        limit_words(*limit)
    )]
    TooBig {
        /// The version, and the stage it is in.
        what: String,
        /// Its size, when said before reading it.
        size: Option<u64>,
        /// The limit.
        limit: u64,
    },
    /// The bytes fetched are not the promoted artifact.
    #[error(
        "{what}: the package fetched has SHA-256 {found}, not the promoted {expected}; nothing \
         was uploaded"
    )]
    Mismatch {
        /// The version, and the stage it is in.
        what: String,
        /// The SHA-256 of the bytes fetched.
        found: Digest,
        /// The digest promoted (the source version's `CodeSha256`).
        expected: Digest,
    },
}

fn size_words(size: Option<u64>, limit: u64) -> String {
    size.map_or_else(|| format!("over {limit} bytes"), |n| format!("{n} bytes"))
}

fn limit_words(limit: u64) -> String {
    if limit.is_multiple_of(1024 * 1024) {
        format!("{} MB", limit / (1024 * 1024))
    } else {
        format!("{limit} bytes")
    }
}

impl From<PackageError> for ProviderError {
    fn from(e: PackageError) -> Self {
        match e {
            PackageError::Timeout { .. } | PackageError::Network { .. } => Self::Network {
                message: e.to_string(),
            },
            _ => Self::Other {
                message: e.to_string(),
            },
        }
    }
}

/// A stage where the promoted package may be: its name, its Lambda, and the
/// service's function and alias there.
#[derive(Debug, Clone)]
pub struct Stage<A> {
    /// The environment's name.
    pub name: String,
    /// Its Lambda.
    pub api: A,
    /// The service's function there.
    pub function: String,
    /// The service's alias there.
    pub alias: String,
}

/// Where a promotion's code comes from.
#[derive(Debug, Clone)]
pub enum Origin<A> {
    /// An image: the target's repository, at the promoted digest.
    Image(String),
    /// A zip package: `function`'s published `version` in `stage`.
    Zip {
        /// The stage.
        stage: String,
        /// Its Lambda.
        api: A,
        /// The function there.
        function: String,
        /// The version that holds the package.
        version: u32,
    },
}

impl<A, L> Origin<A>
where
    A: Deref<Target = L>,
    L: LambdaApi,
{
    /// The code to put into the target's `$LATEST`. For a zip, the package
    /// fetched and checked against `digest` first: bytes that are not the
    /// promoted package are refused, and nothing is uploaded.
    pub async fn code(&self, digest: &Digest, limit: u64) -> Result<Code, StepError> {
        match self {
            Self::Image(repository) => Ok(Code::Image {
                repository: repository.clone(),
                digest: digest.clone(),
            }),
            Self::Zip {
                stage,
                api,
                function,
                version,
            } => {
                let what = format!("{function}:{version} in {stage}");
                let bytes = api.package(function, *version, limit).await?;
                verify(&bytes, digest, &what, limit)?;
                Ok(Code::Zip(bytes))
            }
        }
    }
}

/// The one check of a package: at most `limit` bytes, and its SHA-256 is
/// the promoted digest (a zip version's `CodeSha256`, as `sha256:` + hex).
pub fn verify(bytes: &[u8], expected: &Digest, what: &str, limit: u64) -> Result<(), PackageError> {
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > limit {
        return Err(PackageError::TooBig {
            what: what.to_string(),
            size: Some(size),
            limit,
        });
    }
    let found = Digest::of_bytes(bytes);
    if &found != expected {
        return Err(PackageError::Mismatch {
            what: what.to_string(),
            found,
            expected: expected.clone(),
        });
    }
    Ok(())
}

/// The first of `stages` whose alias serves `digest` (on its version or its
/// weighted one), as a zip package to promote into `target`. A stage whose
/// function or alias is missing is passed over; any other failure to read
/// one stops the search, since the package may be there.
pub async fn locate<A, L>(
    stages: Vec<Stage<A>>,
    target: &str,
    digest: &Digest,
) -> Result<Origin<A>, ProviderError>
where
    A: Deref<Target = L>,
    L: LambdaApi,
{
    for s in stages {
        let alias = match s.api.alias(&s.function, &s.alias).await {
            Ok(a) => a,
            Err(ProviderError::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        let named = std::iter::once(alias.version.as_str())
            .chain(alias.weighted.as_ref().map(|(v, _)| v.as_str()))
            .filter_map(routing::number);
        for n in named {
            let a = s.api.artifact(&s.function, n).await?;
            if a.digest.as_ref() != Ok(digest) {
                continue;
            }
            if a.package != "Zip" {
                return Err(ProviderError::Other {
                    message: format!(
                        "{target} is a zip function, but {digest} is {}:{n} in {}, a {} \
                         function: a package type is never changed by a promotion",
                        s.function,
                        s.name,
                        crate::model::sanitize(&a.package)
                    ),
                });
            }
            return Ok(Origin::Zip {
                stage: s.name,
                api: s.api,
                function: s.function,
                version: n,
            });
        }
    }
    Err(ProviderError::Other {
        message: format!(
            "{target} is a zip function, and no other stage read by this shipdeck has its alias \
             on a version holding {digest}: there is no package to fetch"
        ),
    })
}

/// The stages other than `target` this process reaches through the SDK,
/// with `service`'s function and alias in each, by name.
pub fn stages(
    apis: Vec<Arc<SdkLambda>>,
    target: &str,
    service: &str,
) -> Vec<Stage<Arc<SdkLambda>>> {
    let mut out: Vec<Stage<Arc<SdkLambda>>> = apis
        .into_iter()
        .filter(|a| a.env.name != target)
        .filter_map(|api| {
            let l = api.env.service(service)?.lambda.as_deref()?;
            let (name, function, alias) =
                (api.env.name.clone(), l.function.clone(), l.alias.clone());
            Some(Stage {
                name,
                api,
                function,
                alias,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The HTTP client of package downloads: rustls, a connection timeout, no
/// redirect followed (a presigned URL answers itself).
fn client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(CONNECT)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("shipdeck/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// An error and its causes, in one line (`error sending request: client
/// error (Connect): dns error: …`), for an error that holds no URL.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    crate::model::sanitize(&out)
}

/// Downloads the package at `url` (`Code.Location`): at most `limit` bytes
/// (a bigger one is refused as soon as it says its size, or when reading
/// passes the limit), within `within`. The URL never appears in an error:
/// a presigned URL is a credential.
pub async fn download(
    url: &str,
    what: &str,
    limit: u64,
    within: Duration,
) -> Result<Vec<u8>, PackageError> {
    let network = |e: reqwest::Error| PackageError::Network {
        what: what.to_string(),
        reason: causes(&e.without_url()),
    };
    let parsed = url::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| PackageError::BadLocation {
            what: what.to_string(),
        })?;
    let client = client().map_err(|reason| PackageError::Network {
        what: what.to_string(),
        reason,
    })?;
    let too_big = |size| PackageError::TooBig {
        what: what.to_string(),
        size,
        limit,
    };
    let fetch = async {
        let mut resp = client.get(parsed).send().await.map_err(network)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(PackageError::Status {
                what: what.to_string(),
                status: status.as_u16(),
            });
        }
        let said = resp.content_length();
        if let Some(n) = said
            && n > limit
        {
            return Err(too_big(Some(n)));
        }
        let mut out = Vec::with_capacity(usize::try_from(said.unwrap_or(0)).unwrap_or(0));
        while let Some(chunk) = resp.chunk().await.map_err(network)? {
            let size = u64::try_from(out.len() + chunk.len()).unwrap_or(u64::MAX);
            if size > limit {
                return Err(too_big(None));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    };
    tokio::time::timeout(within, fetch)
        .await
        .map_err(|_| PackageError::Timeout {
            what: what.to_string(),
            after: within,
        })?
}

#[cfg(test)]
#[path = "package_tests.rs"]
mod tests;
