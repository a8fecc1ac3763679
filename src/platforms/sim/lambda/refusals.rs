//! The simulated API's refusals, worded and typed as the SDK's errors read
//! once classified (`crate::aws::classify`), and the checks of names and
//! `CodeSha256` shared by the calls and the construction helpers.

use super::{Function, Package};
use crate::platforms::lambda::digest::digest_of;
use crate::provider::ProviderError;

/// `ResourceNotFoundException`, as `classify` reads it.
pub(super) fn not_found(resource: &str, msg: &str) -> ProviderError {
    ProviderError::NotFound {
        what: "resource".to_string(),
        name: format!("{resource} ({msg})"),
    }
}

/// A refusal of the request's content, as `classify` reads it.
pub(super) fn refused(op: &str, resource: &str, code: &str, msg: &str) -> ProviderError {
    ProviderError::Other {
        message: format!("lambda:{op} on {resource} failed ({code}): {msg}"),
    }
}

/// A change refused because of the resource's state, as `classify` reads
/// it, with the API's error name kept.
pub(super) fn conflict(op: &str, resource: &str, code: &str, msg: &str) -> ProviderError {
    ProviderError::Conflict {
        message: format!("lambda:{op} on {resource}: {code}: {msg}"),
    }
}

/// `ResourceConflictException` while an update runs.
pub(super) fn in_progress(op: &str, f: &Function) -> ProviderError {
    conflict(
        op,
        &f.name,
        "ResourceConflictException",
        &format!(
            "The operation cannot be performed at this time. An update is in progress for \
             resource: {}",
            f.arn()
        ),
    )
}

/// Outside text in an error: one line, at most 200 characters (an image's
/// URI fits).
pub(super) fn shown(text: &str) -> String {
    const LIMIT: usize = 200;
    let clean = crate::model::sanitize(text);
    let mut out: String = clean.chars().take(LIMIT).collect();
    if clean.chars().count() > LIMIT {
        out.push('…');
    }
    out
}

pub(super) fn check_function_name(op: &str, name: &str) -> Result<(), ProviderError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        return Ok(());
    }
    Err(refused(
        op,
        &shown(name),
        "ValidationException",
        "Value at 'functionName' failed to satisfy constraint: 1 to 64 letters, digits, \
         hyphens or underscores",
    ))
}

pub(super) fn check_alias_name(op: &str, function: &str, alias: &str) -> Result<(), ProviderError> {
    let ok = !alias.is_empty()
        && alias.len() <= 128
        && alias
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !alias.bytes().all(|b| b.is_ascii_digit());
    if ok {
        return Ok(());
    }
    Err(refused(
        op,
        &format!("{function}:{}", shown(alias)),
        "ValidationException",
        "Value at 'name' failed to satisfy constraint: 1 to 128 letters, digits, hyphens or \
         underscores, not only digits",
    ))
}

pub(super) fn check_code_sha256(
    op: &str,
    function: &str,
    package: Package,
    code_sha256: &str,
) -> Result<(), ProviderError> {
    digest_of(package.as_str(), code_sha256)
        .map(|_| ())
        .map_err(|why| refused(op, function, "InvalidParameterValueException", &why))
}
