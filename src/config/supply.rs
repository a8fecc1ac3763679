//! `[supply_chain]`: the keys a signature must verify with, the severity a
//! scan may not reach, the CVEs allowed for a while, and where a commit
//! must have landed.
//!
//! Keys are public keys only (PEM, ECDSA P-256 or Ed25519): keyless
//! verification (Fulcio certificates, Rekor entries) is not supported.

use std::fmt;
use std::path::PathBuf;

use chrono::NaiveDate;
use sigstore::crypto::CosignVerificationKey;

/// The `[supply_chain]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SupplyPolicy {
    /// The public keys a signature or attestation must verify with
    /// (`keys = [{ name = "ci", pem = "keys/ci.pub" }]`); empty: nothing is
    /// trusted, and `signed` and `scanned` fail.
    pub keys: Vec<TrustedKey>,
    /// `scanned` fails on a finding at or above this (`severity`, default
    /// `high`).
    pub severity: Severity,
    /// CVEs let through until a date (`[[supply_chain.allow]]`).
    pub allow: Vec<AllowEntry>,
    /// Where the image's commit must have landed
    /// (`[supply_chain.provenance]`); `None`: a revision label is enough.
    pub provenance: Option<ProvenanceRule>,
}

impl SupplyPolicy {
    /// The allow-list's entry for `cve`, if there is one (expired or not).
    pub fn allowed(&self, cve: &str) -> Option<&AllowEntry> {
        self.allow.iter().find(|a| a.cve.eq_ignore_ascii_case(cve))
    }
}

/// A public key a signature may verify with, under its configured name.
#[derive(Clone)]
pub struct TrustedKey {
    /// Its name (`ci`), shown in reasons and kept in the ledger.
    pub name: String,
    /// The PEM file it was read from.
    pub path: PathBuf,
    /// The key, as sigstore verifies with it.
    pub key: CosignVerificationKey,
    /// `ECDSA P-256` or `Ed25519`.
    pub algorithm: &'static str,
    /// The key's SubjectPublicKeyInfo (DER), to compare keys by.
    pub spki: Vec<u8>,
}

impl TrustedKey {
    /// Reads a PEM public key (`name` is its configured name): ECDSA
    /// P-256 or Ed25519; anything else is an error saying what it is.
    ///
    /// # Errors
    /// The text is not a PEM public key, or not of a supported kind.
    pub fn from_pem(name: &str, path: PathBuf, pem: &[u8]) -> Result<Self, String> {
        let key = CosignVerificationKey::try_from_pem(pem).map_err(|e| e.to_string())?;
        let (algorithm, spki) = match &key {
            CosignVerificationKey::ECDSA_P256_SHA256_ASN1(d) => ("ECDSA P-256", d.clone()),
            CosignVerificationKey::ED25519(d) => ("Ed25519", d.clone()),
            CosignVerificationKey::ECDSA_P384_SHA384_ASN1(_) => {
                return Err("an ECDSA P-384 key; use ECDSA P-256 or Ed25519".to_string());
            }
            CosignVerificationKey::ECDSA_P521_SHA512_ASN1(_) => {
                return Err("an ECDSA P-521 key; use ECDSA P-256 or Ed25519".to_string());
            }
            CosignVerificationKey::RSA_PSS_SHA256(_)
            | CosignVerificationKey::RSA_PKCS1_SHA256(_) => {
                return Err("an RSA key; use ECDSA P-256 or Ed25519".to_string());
            }
        };
        Ok(Self {
            name: name.to_string(),
            path,
            key,
            algorithm,
            spki,
        })
    }
}

impl fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedKey")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TrustedKey {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.path == other.path && self.spki == other.spki
    }
}

impl Eq for TrustedKey {}

/// A vulnerability's severity, as trivy rates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Severity {
    /// `LOW`.
    Low,
    /// `MEDIUM`.
    Medium,
    /// `HIGH` (the default threshold).
    #[default]
    High,
    /// `CRITICAL`.
    Critical,
}

impl Severity {
    /// The names the config accepts, lowest first.
    pub const NAMES: [&'static str; 4] = ["low", "medium", "high", "critical"];

    /// `low`, `medium`, `high` or `critical` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Some(Self::Low),
            "medium" => Some(Self::Medium),
            "high" => Some(Self::High),
            "critical" => Some(Self::Critical),
            _ => None,
        }
    }

    /// Its lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A CVE let through until a date, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    /// `CVE-2026-0001` (or a GHSA id: any id trivy reports).
    pub cve: String,
    /// Why it is acceptable, kept in the ledger.
    pub reason: String,
    /// The last day it allows (UTC); after it the entry allows nothing.
    pub expires: NaiveDate,
}

/// `[supply_chain.provenance]`: the branch the commit must be on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenanceRule {
    /// A local repository (resolved against the config's directory) or a
    /// URL `git` can fetch.
    pub repository: String,
    /// The branch (`main`).
    pub branch: String,
}
