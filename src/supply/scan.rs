//! `scanned`: a vulnerability scan of the digest, attested in a DSSE
//! envelope signed by a configured key (verified over the DSSE
//! pre-authentication encoding by sigstore), whose in-toto statement names
//! the digest, with cosign's vuln predicate around a trivy JSON report (or a
//! trivy report as the predicate itself). The newest such scan is judged
//! against `[supply_chain] severity` and the allow-list.

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::{AllowedFinding, Finding, signature::verified_by};
use crate::config::supply::{Severity, SupplyPolicy};
use crate::gate::Verdict;
use crate::model::Digest;
use crate::model::text::clip;

/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// Cosign's vulnerability-scan predicate type.
pub const VULN_PREDICATE: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";
/// CVEs named in a reason before "and N more".
const NAMED: usize = 3;

/// The DSSE pre-authentication encoding signed for `payload` of `kind`:
/// `"DSSEv1" SP len(type) SP type SP len(body) SP body`.
pub fn pae(kind: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {kind} {} ", kind.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload_type: String,
    payload: String,
    #[serde(default)]
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Deserialize)]
struct EnvelopeSignature {
    sig: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Statement {
    #[serde(default)]
    subject: Vec<Subject>,
    predicate_type: String,
    #[serde(default)]
    predicate: Value,
}

#[derive(Debug, Deserialize)]
struct Subject {
    #[serde(default)]
    digest: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct Report {
    #[serde(rename = "Trivy", default)]
    trivy: Option<TrivyVersion>,
    #[serde(rename = "Results", default)]
    results: Option<Vec<ReportResult>>,
}

#[derive(Debug, Default, Deserialize)]
struct TrivyVersion {
    #[serde(rename = "Version", default)]
    version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ReportResult {
    #[serde(rename = "Vulnerabilities", default)]
    vulnerabilities: Option<Vec<Vulnerability>>,
}

#[derive(Debug, Default, Deserialize)]
struct Vulnerability {
    #[serde(rename = "VulnerabilityID", default)]
    id: String,
    #[serde(rename = "Severity", default)]
    severity: String,
    #[serde(rename = "PkgName", default)]
    pkg: String,
    #[serde(rename = "InstalledVersion", default)]
    installed: String,
}

/// One signed scan of the digest, read.
struct Scan {
    scanner: String,
    version: Option<String>,
    finished: Option<DateTime<Utc>>,
    report: Report,
}

/// What the judgement gives the record: the scan in a line, and what the
/// allow-list let through.
pub(super) struct Judged {
    pub(super) finding: Finding,
    pub(super) summary: Option<String>,
    pub(super) allowed: Vec<AllowedFinding>,
}

impl Judged {
    fn only(verdict: Verdict, reason: impl Into<String>) -> Self {
        Self {
            finding: Finding::new(verdict, reason),
            summary: None,
            allowed: Vec::new(),
        }
    }
}

/// What one attestation turned out to be.
enum Seen {
    Scan(Box<Scan>),
    Untrusted,
    OtherDigest,
    OtherKind,
}

fn read_one(digest: &Digest, bytes: &[u8], policy: &SupplyPolicy) -> Result<Seen, String> {
    let env: Envelope =
        serde_json::from_slice(bytes).map_err(|e| format!("is not a DSSE envelope ({e})"))?;
    let body = base64::engine::general_purpose::STANDARD
        .decode(env.payload.trim())
        .map_err(|e| format!("has a payload that is not base64 ({e})"))?;
    let signed = pae(&env.payload_type, &body);
    let trusted = env
        .signatures
        .iter()
        .any(|s| verified_by(&policy.keys, s.sig.trim().as_bytes(), &signed).is_some());
    if !trusted {
        return Ok(Seen::Untrusted);
    }
    if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Ok(Seen::OtherKind);
    }
    let st: Statement = serde_json::from_slice(&body)
        .map_err(|e| format!("has an in-toto statement that cannot be read ({e})"))?;
    let scan = if st.predicate_type == VULN_PREDICATE {
        true
    } else {
        looks_like_trivy(&st.predicate)
    };
    if !scan {
        return Ok(Seen::OtherKind);
    }
    let hex = digest.as_str().trim_start_matches("sha256:");
    let names_it = st.subject.iter().any(|s| {
        s.digest
            .get("sha256")
            .is_some_and(|d| d.eq_ignore_ascii_case(hex))
    });
    if !names_it {
        return Ok(Seen::OtherDigest);
    }
    read_scan(&st).map(|s| Seen::Scan(Box::new(s)))
}

fn looks_like_trivy(v: &Value) -> bool {
    v.get("SchemaVersion").is_some()
        && (v.get("Results").is_some() || v.get("ArtifactName").is_some())
}

fn read_scan(st: &Statement) -> Result<Scan, String> {
    let time = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
    };
    if st.predicate_type == VULN_PREDICATE {
        let scanner = st.predicate.get("scanner");
        let result = scanner
            .and_then(|s| s.get("result"))
            .filter(|r| r.is_object());
        let Some(result) = result else {
            return Err(
                "is a vulnerability scan without a result (predicate.scanner.result)".to_string(),
            );
        };
        if !looks_like_trivy(result) {
            return Err(
                "is a vulnerability scan whose result is not a trivy JSON report".to_string(),
            );
        }
        let report = Report::deserialize(result)
            .map_err(|e| format!("has a trivy report that cannot be read ({e})"))?;
        let uri = scanner
            .and_then(|s| s.get("uri"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let version = scanner
            .and_then(|s| s.get("version"))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .or_else(|| {
                uri.split_once('@')
                    .map(|(_, v)| v.trim_start_matches('v').to_string())
            });
        let name = uri
            .split('@')
            .next()
            .and_then(|u| u.rsplit('/').next())
            .filter(|n| !n.is_empty())
            .unwrap_or("scanner");
        let finished = time(
            st.predicate
                .get("metadata")
                .and_then(|m| m.get("scanFinishedOn")),
        );
        Ok(Scan {
            scanner: name.to_string(),
            version,
            finished,
            report,
        })
    } else {
        let report = Report::deserialize(&st.predicate)
            .map_err(|e| format!("has a trivy report that cannot be read ({e})"))?;
        let finished = time(st.predicate.get("CreatedAt"));
        let version = report.trivy.as_ref().and_then(|t| t.version.clone());
        Ok(Scan {
            scanner: "trivy".to_string(),
            version,
            finished,
            report,
        })
    }
}

fn severity_of(s: &str) -> Option<Severity> {
    Severity::parse(s)
}

/// Judges the attestations of `digest`.
pub(super) fn judge(
    digest: &Digest,
    attestations: &[Vec<u8>],
    policy: &SupplyPolicy,
    today: NaiveDate,
) -> Judged {
    if policy.keys.is_empty() {
        return Judged::only(
            Verdict::Fail,
            "no trusted keys in [supply_chain] to verify a scan with",
        );
    }
    if attestations.is_empty() {
        return Judged::only(
            Verdict::Fail,
            "no vulnerability scan attested for this digest",
        );
    }
    let (mut untrusted, mut other_digest, mut other_kind) = (0usize, 0usize, 0usize);
    let mut newest: Option<Box<Scan>> = None;
    for (i, bytes) in attestations.iter().enumerate() {
        match read_one(digest, bytes, policy) {
            Err(why) => {
                return Judged::only(
                    Verdict::Unknown,
                    format!("attestation #{} {}", i + 1, clip(&why, 200)),
                );
            }
            Ok(Seen::Untrusted) => untrusted += 1,
            Ok(Seen::OtherDigest) => other_digest += 1,
            Ok(Seen::OtherKind) => other_kind += 1,
            Ok(Seen::Scan(s)) => {
                if newest.as_ref().is_none_or(|n| s.finished >= n.finished) {
                    newest = Some(s);
                }
            }
        }
    }
    let Some(scan) = newest else {
        let why = if other_digest > 0 {
            "a trusted scan exists, but of another digest".to_string()
        } else if untrusted > 0 {
            format!(
                "{untrusted} attestation{}, none signed by a trusted key",
                if untrusted == 1 { "" } else { "s" }
            )
        } else {
            format!("no vulnerability scan among {other_kind} signed attestation(s)")
        };
        return Judged::only(
            Verdict::Fail,
            format!("no signed scan of this digest: {why}"),
        );
    };
    judge_scan(&scan, policy, today)
}

fn judge_scan(scan: &Scan, policy: &SupplyPolicy, today: NaiveDate) -> Judged {
    let threshold = policy.severity;
    let mut counts: BTreeMap<Severity, usize> = BTreeMap::new();
    let mut allowed_counts: BTreeMap<Severity, usize> = BTreeMap::new();
    let mut unrated = 0usize;
    let mut blocked: Vec<String> = Vec::new();
    let mut blocked_ids: Vec<String> = Vec::new();
    let mut expired: Vec<String> = Vec::new();
    let mut allowed: Vec<AllowedFinding> = Vec::new();
    let vulns = scan
        .report
        .results
        .iter()
        .flatten()
        .flat_map(|r| r.vulnerabilities.iter().flatten());
    for v in vulns {
        let Some(sev) = severity_of(&v.severity) else {
            unrated += 1;
            continue;
        };
        *counts.entry(sev).or_default() += 1;
        if sev < threshold {
            continue;
        }
        let id = clip(if v.id.is_empty() { "(no id)" } else { &v.id }, 64);
        match policy.allowed(&v.id) {
            Some(a) if a.expires >= today => {
                *allowed_counts.entry(sev).or_default() += 1;
                if !allowed.iter().any(|x| x.cve == id) {
                    allowed.push(AllowedFinding {
                        cve: id,
                        reason: crate::model::sanitize(&a.reason),
                        expires: a.expires.to_string(),
                    });
                }
                continue;
            }
            Some(a) => {
                let note = format!("{id}'s allow-list entry expired on {}", a.expires);
                if !expired.contains(&note) {
                    expired.push(note);
                }
            }
            None => {}
        }
        if !blocked_ids.contains(&id) {
            blocked.push(format!(
                "{id} ({}, {} {})",
                sev.name().to_ascii_uppercase(),
                clip(&v.pkg, 60),
                clip(&v.installed, 40)
            ));
            blocked_ids.push(id);
        }
    }
    let summary = summary(scan, &counts, &allowed_counts, unrated);
    if !blocked.is_empty() {
        let mut reason = format!(
            "{} at or above {threshold}: {}",
            plural(blocked.len(), "finding"),
            named(&blocked)
        );
        if !expired.is_empty() {
            reason.push_str("; ");
            reason.push_str(&expired.join("; "));
        }
        return Judged {
            finding: Finding::new(Verdict::Fail, reason),
            summary: Some(summary),
            allowed,
        };
    }
    let reason = if allowed.is_empty() {
        format!("{summary}: nothing at or above {threshold}")
    } else {
        let ids: Vec<String> = allowed.iter().map(|a| a.cve.clone()).collect();
        format!(
            "{summary}: nothing at or above {threshold} but what the allow-list lets through ({})",
            named(&ids)
        )
    };
    Judged {
        finding: Finding::new(Verdict::Pass, reason),
        summary: Some(summary),
        allowed,
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The first few, then "and N more".
fn named(items: &[String]) -> String {
    let shown = items
        .iter()
        .take(NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > NAMED {
        format!("{shown} and {} more", items.len() - NAMED)
    } else {
        shown
    }
}

/// `trivy 0.58.1 on 2026-12-01: 0 critical, 1 high (1 allowed), 4 medium, 0 low`.
fn summary(
    scan: &Scan,
    counts: &BTreeMap<Severity, usize>,
    allowed: &BTreeMap<Severity, usize>,
    unrated: usize,
) -> String {
    let mut head = clip(&scan.scanner, 40);
    if let Some(v) = &scan.version {
        head.push(' ');
        head.push_str(&clip(v, 40));
    }
    match scan.finished {
        Some(t) => head.push_str(&format!(" on {}", t.format("%Y-%m-%d"))),
        None => head.push_str(" (undated)"),
    }
    let mut parts: Vec<String> = Vec::new();
    for sev in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ] {
        let n = counts.get(&sev).copied().unwrap_or(0);
        let mut part = format!("{n} {sev}");
        if let Some(a) = allowed.get(&sev).filter(|a| **a > 0) {
            part.push_str(&format!(" ({a} allowed)"));
        }
        parts.push(part);
    }
    if unrated > 0 {
        parts.push(format!("{unrated} unrated"));
    }
    format!("{head}: {}", parts.join(", "))
}
