//! Supply-chain evidence judged (issue 33): whether a digest is signed by a
//! trusted key, what its signed vulnerability scan found, and which commit
//! it was built from. Pure: the registry's [`Reading`] (or why there is
//! none), the policy, whether the commit is on the branch (asked of `git`
//! beforehand) and the time come in; three findings and what the ledger
//! keeps come out. Unknown is never a pass.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::supply::SupplyPolicy;
use crate::gate::Verdict;
use crate::model::Digest;
use crate::registry::Reading;

pub mod gather;
pub mod git;
mod provenance;
mod scan;
mod signature;

pub use scan::{IN_TOTO_PAYLOAD_TYPE, VULN_PREDICATE, pae};
pub use signature::SIMPLE_SIGNING_TYPE;

/// One check's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Only `Pass` lets the gate say GO.
    pub verdict: Verdict,
    /// Why, for a person (outside text already sanitised).
    pub reason: String,
}

/// A CVE at or above the severity that the allow-list let through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowedFinding {
    /// `CVE-2026-1234`.
    pub cve: String,
    /// The allow-list's reason.
    pub reason: String,
    /// Until when (`2027-01-31`).
    pub expires: String,
}

/// What the promotion record keeps of the evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupplyRecord {
    /// The trusted key a signature verified with (its configured name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// That key's id: `sha256:` and the hex of its public key's DER
    /// (SubjectPublicKeyInfo), so the record names the key even if the name
    /// is later given to another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The scan in one line (`trivy 0.58.1 on 2026-12-01: 0 critical, 1 high (allowed), 4 medium`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<String>,
    /// Findings let through by the allow-list, each with its reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<AllowedFinding>,
    /// The commit it was built from (`org.opencontainers.image.revision`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The source repository (`org.opencontainers.image.source`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// When it was built (`org.opencontainers.image.created`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

/// The three findings and the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The digest judged: a gate judging another digest reads *unknown*.
    pub digest: Digest,
    /// `signed`.
    pub signed: Finding,
    /// `scanned`.
    pub scanned: Finding,
    /// `provenance`.
    pub provenance: Finding,
    /// What the ledger keeps.
    pub record: SupplyRecord,
}

/// Judges what the registry said of `digest` (`Err`: why it could not be
/// read) under `policy` at `now`. `on_branch` is `git`'s answer to whether
/// the image's commit is on the configured branch (`None`: not asked yet;
/// `Err`: why `git` could not tell).
///
/// Signatures are verified with the configured public keys only; keyless
/// verification (Fulcio certificates, Rekor inclusion) is out of scope, and
/// a keyless signature counts as not by a trusted key.
pub fn assess(
    digest: &Digest,
    reading: Result<&Reading, &str>,
    policy: &SupplyPolicy,
    on_branch: Option<&Result<bool, String>>,
    now: DateTime<Utc>,
) -> Assessment {
    let reading = match reading {
        Ok(r) => r,
        Err(why) => {
            let why = format!(
                "the registry could not be read: {}",
                crate::model::text::clip(why, 300)
            );
            return Assessment {
                digest: digest.clone(),
                signed: Finding::new(Verdict::Unknown, why.clone()),
                scanned: Finding::new(Verdict::Unknown, why.clone()),
                provenance: Finding::new(Verdict::Unknown, why),
                record: SupplyRecord::default(),
            };
        }
    };
    let (signed, key) = signature::judge(digest, &reading.signatures, policy);
    let scan = scan::judge(digest, &reading.attestations, policy, now.date_naive());
    let provenance = provenance::judge(&reading.labels, policy, on_branch);
    let label = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| crate::model::text::clip(s, 200))
    };
    let key_id = key.as_ref().and_then(|name| {
        policy
            .keys
            .iter()
            .find(|k| &k.name == name)
            .map(|k| key_id(&k.spki))
    });
    let record = SupplyRecord {
        key,
        key_id,
        scan: scan.summary,
        allowed: scan.allowed,
        commit: label(&reading.labels.revision),
        source: label(&reading.labels.source),
        created: label(&reading.labels.created),
    };
    Assessment {
        digest: digest.clone(),
        signed,
        scanned: scan.finding,
        provenance,
        record,
    }
}

/// A public key's id: `sha256:` and the hex of its DER SubjectPublicKeyInfo.
pub fn key_id(spki: &[u8]) -> String {
    use sha2::Digest as _;
    format!(
        "sha256:{}",
        crate::model::digest::hex_lower(&sha2::Sha256::digest(spki))
    )
}

impl Assessment {
    /// The finding of a supply-chain check (`None` for any other check).
    pub fn finding(&self, check: crate::config::AutoCheck) -> Option<&Finding> {
        use crate::config::AutoCheck;
        match check {
            AutoCheck::Signed => Some(&self.signed),
            AutoCheck::Scanned => Some(&self.scanned),
            AutoCheck::Provenance => Some(&self.provenance),
            _ => None,
        }
    }
}

impl Finding {
    /// A finding; `reason` is clean text already.
    pub fn new(verdict: Verdict, reason: impl Into<String>) -> Self {
        Self {
            verdict,
            reason: reason.into(),
        }
    }
}

/// A digest from outside as a reason shows it: `sha256:` and twelve hex
/// characters, sanitised.
fn short_digest(d: &str) -> String {
    let clean = crate::model::sanitize(d);
    match clean.strip_prefix("sha256:") {
        Some(hex) => format!("sha256:{}", hex.chars().take(12).collect::<String>()),
        None => clean.chars().take(24).collect(),
    }
}

#[cfg(test)]
mod tests;
