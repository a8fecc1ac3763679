//! `signed`: a cosign signature layer over the exact digest, verified with
//! one of the configured public keys by sigstore's own verification.
//!
//! Key-based only: keyless signatures (a Fulcio certificate and a Rekor
//! entry in place of a configured key) are not verified, so such a
//! signature counts as "not by a trusted key".

use serde::Deserialize;
use sigstore::crypto::Signature;

use super::{Finding, short_digest};
use crate::config::supply::{SupplyPolicy, TrustedKey};
use crate::gate::Verdict;
use crate::model::Digest;
use crate::model::text::clip;
use crate::registry::reading::SignatureLayer;

/// The `critical.type` of cosign's simple-signing payload.
pub const SIMPLE_SIGNING_TYPE: &str = "cosign container image signature";

/// Cosign's simple-signing payload (the fields judged).
#[derive(Debug, Deserialize)]
pub(crate) struct SimpleSigning {
    pub(crate) critical: Critical,
}

/// Its `critical` part.
#[derive(Debug, Deserialize)]
pub(crate) struct Critical {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) image: CriticalImage,
}

/// Its `critical.image` part.
#[derive(Debug, Deserialize)]
pub(crate) struct CriticalImage {
    #[serde(rename = "docker-manifest-digest")]
    pub(crate) digest: String,
}

/// Why a payload is not a simple-signing payload.
fn parse_payload(bytes: &[u8]) -> Result<SimpleSigning, String> {
    let p: SimpleSigning = serde_json::from_slice(bytes)
        .map_err(|e| format!("not cosign's simple-signing JSON ({e})"))?;
    if p.critical.kind != SIMPLE_SIGNING_TYPE {
        return Err(format!(
            "not a cosign container image signature (type \"{}\")",
            clip(&p.critical.kind, 60)
        ));
    }
    Ok(p)
}

/// The configured key the base64 `signature` over `msg` verifies with.
pub(crate) fn verified_by<'k>(
    keys: &'k [TrustedKey],
    signature: &[u8],
    msg: &[u8],
) -> Option<&'k TrustedKey> {
    keys.iter().find(|k| {
        k.key
            .verify_signature(Signature::Base64Encoded(signature), msg)
            .is_ok()
    })
}

/// The judgement and the key's name when it passed.
pub(super) fn judge(
    digest: &Digest,
    layers: &[SignatureLayer],
    policy: &SupplyPolicy,
) -> (Finding, Option<String>) {
    if policy.keys.is_empty() {
        return (
            Finding::new(Verdict::Fail, "no trusted keys in [supply_chain]"),
            None,
        );
    }
    if layers.is_empty() {
        return (
            Finding::new(Verdict::Fail, "no cosign signature for this digest"),
            None,
        );
    }
    let mut other_digest: Option<(String, String)> = None;
    let mut unparsed: Option<String> = None;
    for layer in layers {
        let trusted = verified_by(
            &policy.keys,
            layer.signature.trim().as_bytes(),
            &layer.payload,
        );
        let payload = parse_payload(&layer.payload);
        match (trusted, payload) {
            (Some(key), Ok(p)) if p.critical.image.digest == digest.as_str() => {
                let name = crate::model::sanitize(&key.name);
                return (
                    Finding::new(Verdict::Pass, format!("signed by {name}")),
                    Some(name),
                );
            }
            (Some(key), Ok(p)) => {
                other_digest.get_or_insert((
                    crate::model::sanitize(&key.name),
                    short_digest(&p.critical.image.digest),
                ));
            }
            (_, Err(why)) => {
                unparsed.get_or_insert(why);
            }
            (None, Ok(_)) => {}
        }
    }
    if let Some((key, other)) = other_digest {
        return (
            Finding::new(
                Verdict::Fail,
                format!("signed by {key}, but over another digest ({other}), not this one"),
            ),
            None,
        );
    }
    if let Some(why) = unparsed {
        return (
            Finding::new(
                Verdict::Unknown,
                format!("a signature's payload cannot be read: {why}"),
            ),
            None,
        );
    }
    let n = layers.len();
    let names: Vec<String> = policy
        .keys
        .iter()
        .map(|k| crate::model::sanitize(&k.name))
        .collect();
    let counted = if n == 1 {
        "1 signature, not by a trusted key".to_string()
    } else {
        format!("{n} signatures, none by a trusted key")
    };
    (
        Finding::new(Verdict::Fail, format!("{counted} ({})", names.join(", "))),
        None,
    )
}
