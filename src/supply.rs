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
/// the image's commit is on the configured branch (`None`: not asked).
pub fn assess(
    digest: &Digest,
    reading: Result<&Reading, &str>,
    policy: &SupplyPolicy,
    on_branch: Option<&Result<bool, String>>,
    now: DateTime<Utc>,
) -> Assessment {
    let _ = (digest, policy, on_branch, now);
    let unknown = |why: &str| Finding {
        verdict: Verdict::Unknown,
        reason: why.to_string(),
    };
    match reading {
        Ok(_) => Assessment {
            signed: unknown("not judged yet"),
            scanned: unknown("not judged yet"),
            provenance: unknown("not judged yet"),
            record: SupplyRecord::default(),
        },
        Err(why) => Assessment {
            signed: unknown(why),
            scanned: unknown(why),
            provenance: unknown(why),
            record: SupplyRecord::default(),
        },
    }
}
