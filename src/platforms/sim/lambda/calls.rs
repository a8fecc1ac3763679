//! The calls of [`LambdaApi`] on the simulated functions, each under the
//! real API's rules and refused as the real API refuses. The routing rules
//! are checked here on their own, not through `lambda::routing`: the
//! simulator is what that code is tested against.

use chrono::{DateTime, Utc};

use super::{
    ARN_PREFIX, Alias, Function, LATEST, Package, SimLambda, State, Update, alias_of, conflict,
    function_mut, function_of, in_progress, not_found, number, refused, shown,
};
use crate::platforms::lambda::api::{AliasUpdate, Code, LambdaApi, LatestCode};
use crate::platforms::lambda::digest::zip_code_sha256;
use crate::platforms::lambda::package::PackageError;
use crate::platforms::lambda::read::AliasView;
use crate::platforms::lambda::snapshot::Artifact;
use crate::provider::ProviderError;

/// The most a zip package uploaded directly may weigh (50 MB).
const ZIP_LIMIT: usize = 50 * 1024 * 1024;
/// The longest alias description.
const DESCRIPTION_LIMIT: usize = 256;
/// A weight given in hundredths of a percent, as a fraction.
const ALL: f64 = 10_000.0;

/// A change of an alias, whoever makes it.
pub(super) struct Change {
    pub(super) version: String,
    pub(super) weighted: Option<(String, f64)>,
    pub(super) description: String,
    /// The revision the change was read at; none: unconditional.
    pub(super) revision_id: Option<String>,
    /// Who made it, for the event: `UpdateAlias`, `by hand`.
    pub(super) by: &'static str,
}

/// Changes `function`'s `alias`, in the order the API checks: the alias,
/// its revision, the description, the version, then the routing.
pub(super) fn set_alias(
    st: &mut State,
    now: DateTime<Utc>,
    function: &str,
    alias: &str,
    change: Change,
) -> Result<AliasView, ProviderError> {
    const OP: &str = "UpdateAlias";
    let State { ids, functions, .. } = st;
    let f = function_mut(functions, function)?;
    let resource = format!("{function}:{alias}");
    let current = alias_of(f, alias)?;
    if let Some(rid) = &change.revision_id
        && *rid != current.revision_id
    {
        return Err(conflict(
            OP,
            &resource,
            "PreconditionFailedException",
            "The Revision Id provided does not match the latest Revision Id. Call the GetAlias \
             API to retrieve the latest Revision Id",
        ));
    }
    if change.description.chars().count() > DESCRIPTION_LIMIT {
        return Err(refused(
            OP,
            &resource,
            "ValidationException",
            "Value at 'description' failed to satisfy constraint: Member must have length less \
             than or equal to 256",
        ));
    }
    check_version(f, &resource, "functionVersion", &change.version)?;
    if let Some((to, weight)) = &change.weighted {
        check_routing(f, &resource, &change.version, to, *weight)?;
    }
    let words = match &change.weighted {
        None => format!("alias {alias} → version {} ({})", change.version, change.by),
        Some((to, w)) => format!(
            "alias {alias} → version {}, {}% on version {to} ({})",
            change.version,
            (w * ALL).round() / 100.0,
            change.by
        ),
    };
    let next = Alias {
        version: change.version,
        weighted: change.weighted,
        description: change.description,
        revision_id: ids.mint(),
    };
    let view = next.view();
    f.aliases.insert(alias.to_string(), next);
    f.event(now, words);
    Ok(view)
}

/// A version an alias may name: `$LATEST` or a published version.
fn check_version(
    f: &Function,
    resource: &str,
    field: &str,
    version: &str,
) -> Result<(), ProviderError> {
    if version == LATEST {
        return Ok(());
    }
    if version.is_empty() || version.len() > 1024 || !version.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refused(
            "UpdateAlias",
            resource,
            "ValidationException",
            &format!(
                "Value '{}' at '{field}' failed to satisfy constraint: Member must satisfy \
                 regular expression pattern: (\\$LATEST|[0-9]+)",
                shown(version)
            ),
        ));
    }
    if number(version).and_then(|n| f.version(n)).is_none() {
        return Err(not_found(
            resource,
            &format!("Function not found: {ARN_PREFIX}{}:{version}", f.name),
        ));
    }
    Ok(())
}

/// An additional version's weight: strictly between none and all of the
/// traffic, to another published version, the alias not on `$LATEST`.
fn check_routing(
    f: &Function,
    resource: &str,
    own: &str,
    to: &str,
    weight: f64,
) -> Result<(), ProviderError> {
    const BAD: &str = "InvalidParameterValueException";
    if !(weight > 0.0 && weight < 1.0) {
        return Err(refused(
            "UpdateAlias",
            resource,
            BAD,
            &format!(
                "Invalid RoutingConfig: the weight {weight} of version {} is not above 0.0 and \
                 below 1.0",
                shown(to)
            ),
        ));
    }
    if own == LATEST || to == LATEST {
        return Err(refused(
            "UpdateAlias",
            resource,
            BAD,
            "$LATEST is not supported for an alias pointing to more than 1 version",
        ));
    }
    check_version(f, resource, "additionalVersionWeights", to)?;
    if number(to) == number(own) {
        return Err(refused(
            "UpdateAlias",
            resource,
            BAD,
            &format!(
                "Invalid function version {to}. Function version {to} is already included in \
                 routing configuration."
            ),
        ));
    }
    Ok(())
}

impl SimLambda {
    /// An API call's entry: counted (in all and by operation), time caught up.
    fn call(&self, op: &str) -> (std::sync::MutexGuard<'_, State>, DateTime<Utc>) {
        let (mut st, now) = self.enter();
        st.calls += 1;
        *st.ops.entry(op.to_string()).or_default() += 1;
        (st, now)
    }

    /// When an update started at `now` ends.
    fn update_ends(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        chrono::Duration::from_std(self.update_delay)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// The new `CodeSha256` of `code` for `f`, or why the API refuses it.
fn code_sha256(
    f: &Function,
    images: &std::collections::BTreeSet<(String, String)>,
    code: &Code,
) -> Result<String, ProviderError> {
    const OP: &str = "UpdateFunctionCode";
    const BAD: &str = "InvalidParameterValueException";
    match (code, f.package) {
        (Code::Image { repository, digest }, Package::Image) => {
            let hex = digest.as_str().trim_start_matches("sha256:").to_string();
            if images.contains(&(repository.clone(), hex.clone())) {
                Ok(hex)
            } else {
                Err(refused(
                    OP,
                    &f.name,
                    BAD,
                    &format!(
                        "Source image {} does not exist. Provide a valid source image.",
                        shown(&Code::image_uri(repository, digest))
                    ),
                ))
            }
        }
        (Code::Zip(bytes), Package::Zip) => {
            if bytes.len() > ZIP_LIMIT {
                return Err(refused(
                    OP,
                    &f.name,
                    "RequestEntityTooLargeException",
                    "the zip package is over the 50 MB limit of a direct upload",
                ));
            }
            // A zip begins with a local file header, or is an empty archive.
            if !(bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")) {
                return Err(refused(
                    OP,
                    &f.name,
                    BAD,
                    "Could not unzip uploaded file. Please check your file, then try to upload \
                     again.",
                ));
            }
            Ok(zip_code_sha256(bytes))
        }
        (Code::Zip(_), Package::Image) => Err(refused(
            OP,
            &f.name,
            BAD,
            "Please provide ImageUri when updating a function with packageType Image.",
        )),
        (Code::Image { .. }, Package::Zip) => Err(refused(
            OP,
            &f.name,
            BAD,
            "Please don't provide ImageUri when updating a function with packageType Zip.",
        )),
    }
}

impl LambdaApi for SimLambda {
    async fn alias(&self, function: &str, alias: &str) -> Result<AliasView, ProviderError> {
        let (st, _) = self.call("GetAlias");
        let f = function_of(&st, function)?;
        Ok(alias_of(f, alias)?.view())
    }

    async fn update_alias(
        &self,
        function: &str,
        alias: &str,
        update: &AliasUpdate,
    ) -> Result<AliasView, ProviderError> {
        let (mut st, now) = self.call("UpdateAlias");
        let change = Change {
            version: update.version.clone(),
            weighted: update
                .weighted
                .as_ref()
                .map(|(v, h)| (v.clone(), f64::from(*h) / ALL)),
            description: update.description.clone(),
            revision_id: update.revision_id.clone(),
            by: "UpdateAlias",
        };
        set_alias(&mut st, now, function, alias, change)
    }

    async fn latest(&self, function: &str) -> Result<LatestCode, ProviderError> {
        let (st, _) = self.call("GetFunctionConfiguration");
        Ok(function_of(&st, function)?.latest_code())
    }

    async fn update_code(&self, function: &str, code: &Code) -> Result<LatestCode, ProviderError> {
        const OP: &str = "UpdateFunctionCode";
        let (mut st, now) = self.call("UpdateFunctionCode");
        let until = self.update_ends(now);
        let State {
            ids,
            functions,
            images,
            packages,
            ..
        } = &mut *st;
        let f = function_mut(functions, function)?;
        if f.in_progress() {
            return Err(in_progress(OP, f));
        }
        let sha = code_sha256(f, images, code)?;
        if let Code::Zip(bytes) = code {
            packages.insert(sha.clone(), bytes.clone());
        }
        let previous = std::mem::replace(&mut f.code_sha256, sha);
        f.update = Update::InProgress {
            until,
            previous,
            fails: f.fail_next.take(),
        };
        f.revision_id = ids.mint();
        f.event(
            now,
            format!(
                "UpdateFunctionCode: $LATEST gets CodeSha256 {} (in progress)",
                f.code_sha256
            ),
        );
        Ok(f.latest_code())
    }

    async fn publish(
        &self,
        function: &str,
        code_sha256: &str,
        revision_id: Option<&str>,
    ) -> Result<Artifact, ProviderError> {
        const OP: &str = "PublishVersion";
        let (mut st, now) = self.call("PublishVersion");
        let f = function_mut(&mut st.functions, function)?;
        if f.in_progress() {
            return Err(in_progress(OP, f));
        }
        if let Some(rid) = revision_id
            && rid != f.revision_id
        {
            return Err(conflict(
                OP,
                function,
                "PreconditionFailedException",
                "The Revision Id provided does not match the latest Revision Id. Call the \
                 GetFunction API to retrieve the latest Revision Id",
            ));
        }
        if code_sha256 != f.code_sha256 {
            return Err(ProviderError::Conflict {
                message: format!(
                    "the code changed underneath: lambda:{OP} on {function}: CodeSHA256 ({}) is \
                     different from current CodeSHA256 in $LATEST ({}). Please try again with \
                     the current CodeSHA256.",
                    shown(code_sha256),
                    f.code_sha256
                ),
            });
        }
        // Nothing changed since the last publish: the API answers that version.
        let number = match f.versions.last() {
            Some(v) if v.code_sha256 == f.code_sha256 => v.number,
            _ => f.publish(now),
        };
        f.artifact(number).ok_or_else(|| ProviderError::Other {
            message: format!("lambda:{OP} on {function}: version {number} vanished"),
        })
    }

    async fn artifact(&self, function: &str, version: u32) -> Result<Artifact, ProviderError> {
        let (st, _) = self.call("GetFunctionConfiguration");
        let f = function_of(&st, function)?;
        f.artifact(version).ok_or_else(|| {
            not_found(
                &format!("{function}:{version}"),
                &format!("Function not found: {}:{version}", f.arn()),
            )
        })
    }

    /// `GetFunction` with the version, then a download of its
    /// `Code.Location`: the bytes kept for its `CodeSha256`.
    async fn package(
        &self,
        function: &str,
        version: u32,
        limit: u64,
    ) -> Result<Vec<u8>, ProviderError> {
        let (st, _) = self.call("GetFunction");
        let f = function_of(&st, function)?;
        let what = format!("{function}:{version}");
        let v = f.version(version).ok_or_else(|| {
            not_found(&what, &format!("Function not found: {}:{version}", f.arn()))
        })?;
        // An image version has an ImageUri, no package to download; a zip
        // version created without its bytes has nothing to serve either.
        let Some(bytes) = st
            .packages
            .get(&v.code_sha256)
            .filter(|_| v.package == Package::Zip)
        else {
            return Err(PackageError::NoLocation { what }.into());
        };
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if size > limit {
            return Err(PackageError::TooBig {
                what,
                size: Some(size),
                limit,
            }
            .into());
        }
        let mut bytes = bytes.clone();
        if f.corrupt_downloads {
            match bytes.last_mut() {
                Some(b) => *b ^= 0xff,
                None => bytes.push(0),
            }
        }
        Ok(bytes)
    }
}
