//! The judgement, with keys made by sigstore and cosign's formats written
//! here as cosign writes them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::json;
use sigstore::crypto::{SigStoreSigner, SigningScheme};

use super::*;
use crate::config::supply::{AllowEntry, ProvenanceRule, Severity, TrustedKey};
use crate::registry::{Labels, SignatureLayer};

const HEX: &str = "4f1c2b3a4f1c2b3a4f1c2b3a4f1c2b3a4f1c2b3a4f1c2b3a4f1c2b3a4f1c2b3a";
const OTHER: &str = "9e8d7c6b9e8d7c6b9e8d7c6b9e8d7c6b9e8d7c6b9e8d7c6b9e8d7c6b9e8d7c6b";

fn digest() -> Digest {
    Digest::parse(&format!("sha256:{HEX}")).unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap()
}

struct Key(SigStoreSigner);

impl Key {
    fn p256() -> Self {
        Self(
            SigningScheme::ECDSA_P256_SHA256_ASN1
                .create_signer()
                .unwrap(),
        )
    }
    fn ed25519() -> Self {
        Self(SigningScheme::ED25519.create_signer().unwrap())
    }
    fn trusted(&self, name: &str) -> TrustedKey {
        let pem = self
            .0
            .to_sigstore_keypair()
            .unwrap()
            .public_key_to_pem()
            .unwrap();
        TrustedKey::from_pem(name, format!("{name}.pub").into(), pem.as_bytes()).unwrap()
    }
    fn sign_b64(&self, msg: &[u8]) -> String {
        STANDARD.encode(self.0.sign(msg).unwrap())
    }
    fn layer(&self, digest: &str) -> SignatureLayer {
        let payload = payload(digest);
        SignatureLayer {
            signature: self.sign_b64(&payload),
            payload,
        }
    }
    fn envelope(&self, statement: &[u8]) -> Vec<u8> {
        let t = "application/vnd.in-toto+json";
        let sig = self.sign_b64(&pae(t, statement));
        format!(
            r#"{{"payloadType":"{t}","payload":"{}","signatures":[{{"keyid":"","sig":"{sig}"}}]}}"#,
            STANDARD.encode(statement)
        )
        .into_bytes()
    }
}

fn payload(digest: &str) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"registry.test/shop/api"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
    )
    .into_bytes()
}

fn statement(hex: &str, findings: &[(&str, &str)], finished: &str) -> Vec<u8> {
    let vulns: Vec<_> = findings
        .iter()
        .map(|(id, sev)| {
            json!({"VulnerabilityID": id, "Severity": sev, "PkgName": "libtiff", "InstalledVersion": "4.5.0"})
        })
        .collect();
    serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": VULN_PREDICATE,
        "subject": [{"name": "registry.test/shop/api", "digest": {"sha256": hex}}],
        "predicate": {
            "invocation": {"parameters": null, "uri": "", "event_id": "", "builder.id": ""},
            "scanner": {
                "uri": "pkg:github/aquasecurity/trivy@v0.58.1",
                "version": "0.58.1",
                "db": {"uri": "", "version": ""},
                "result": {"SchemaVersion": 2, "ArtifactName": "api", "Results": [
                    {"Target": "api (debian 12.8)", "Vulnerabilities": vulns}
                ]}
            },
            "metadata": {"scanStartedOn": finished, "scanFinishedOn": finished}
        }
    }))
    .unwrap()
}

fn policy(keys: &[(&Key, &str)]) -> SupplyPolicy {
    SupplyPolicy {
        keys: keys.iter().map(|(k, n)| k.trusted(n)).collect(),
        ..SupplyPolicy::default()
    }
}

fn reading(signatures: Vec<SignatureLayer>, attestations: Vec<Vec<u8>>) -> Reading {
    Reading {
        image: format!("registry.test/shop/api@sha256:{HEX}"),
        labels: Labels {
            revision: Some("0123456789abcdef0123456789abcdef01234567".into()),
            source: Some("https://github.com/acme/shop".into()),
            created: Some("2026-12-01T09:58:00Z".into()),
            version: Some("1.4.2".into()),
        },
        signatures,
        attestations,
        read_at: now(),
    }
}

fn judge(r: &Reading, p: &SupplyPolicy) -> Assessment {
    assess(&digest(), Ok(r), p, None, now())
}

#[test]
fn signed_by_the_team_key_passes_and_names_it() {
    let ci = Key::p256();
    let other = Key::p256();
    let p = policy(&[(&other, "release"), (&ci, "ci")]);
    let a = judge(&reading(vec![ci.layer(digest().as_str())], vec![]), &p);
    assert_eq!(a.signed.verdict, Verdict::Pass, "{}", a.signed.reason);
    assert_eq!(a.signed.reason, "signed by ci");
    assert_eq!(a.record.key.as_deref(), Some("ci"));
}

#[test]
fn ed25519_and_p256_keys_both_verify() {
    let ed = Key::ed25519();
    let ec = Key::p256();
    let p = policy(&[(&ed, "ed"), (&ec, "ec")]);
    assert_eq!(p.keys[0].algorithm, "Ed25519");
    assert_eq!(p.keys[1].algorithm, "ECDSA P-256");
    let a = judge(&reading(vec![ed.layer(digest().as_str())], vec![]), &p);
    assert_eq!(a.signed.reason, "signed by ed");
    let a = judge(&reading(vec![ec.layer(digest().as_str())], vec![]), &p);
    assert_eq!(a.signed.reason, "signed by ec");
}

#[test]
fn signed_by_another_key_fails_counting_the_signatures() {
    let ci = Key::p256();
    let stranger = Key::p256();
    let p = policy(&[(&ci, "ci")]);
    let a = judge(
        &reading(vec![stranger.layer(digest().as_str())], vec![]),
        &p,
    );
    assert_eq!(a.signed.verdict, Verdict::Fail);
    assert_eq!(a.signed.reason, "1 signature, not by a trusted key (ci)");
    assert_eq!(a.record.key, None);
    let two = vec![
        stranger.layer(digest().as_str()),
        Key::ed25519().layer(digest().as_str()),
    ];
    let a = judge(&reading(two, vec![]), &p);
    assert_eq!(a.signed.reason, "2 signatures, none by a trusted key (ci)");
}

#[test]
fn a_payload_changed_after_signing_does_not_verify() {
    let ci = Key::p256();
    let p = policy(&[(&ci, "ci")]);
    // Signed over another digest, then the payload rewritten to this one.
    let mut layer = ci.layer(&format!("sha256:{OTHER}"));
    layer.payload = payload(digest().as_str());
    let a = judge(&reading(vec![layer], vec![]), &p);
    assert_eq!(a.signed.verdict, Verdict::Fail);
    assert!(
        a.signed.reason.contains("not by a trusted key"),
        "{}",
        a.signed.reason
    );
}

#[test]
fn unsigned_fails() {
    let ci = Key::p256();
    let a = judge(&reading(vec![], vec![]), &policy(&[(&ci, "ci")]));
    assert_eq!(a.signed.verdict, Verdict::Fail);
    assert_eq!(a.signed.reason, "no cosign signature for this digest");
}

#[test]
fn a_trusted_signature_over_another_digest_fails_naming_it() {
    let ci = Key::p256();
    let p = policy(&[(&ci, "ci")]);
    let a = judge(
        &reading(vec![ci.layer(&format!("sha256:{OTHER}"))], vec![]),
        &p,
    );
    assert_eq!(a.signed.verdict, Verdict::Fail);
    assert_eq!(
        a.signed.reason,
        "signed by ci, but over another digest (sha256:9e8d7c6b9e8d), not this one"
    );
}

#[test]
fn no_trusted_keys_fails_both_signature_checks() {
    let ci = Key::p256();
    let r = reading(vec![ci.layer(digest().as_str())], vec![]);
    let a = judge(&r, &SupplyPolicy::default());
    assert_eq!(a.signed.verdict, Verdict::Fail);
    assert_eq!(a.signed.reason, "no trusted keys in [supply_chain]");
    assert_eq!(a.scanned.verdict, Verdict::Fail);
}

#[test]
fn a_payload_that_is_not_simple_signing_is_unknown() {
    let ci = Key::p256();
    let p = policy(&[(&ci, "ci")]);
    let garbage = b"{\"critical\": 7}".to_vec();
    let layer = SignatureLayer {
        signature: ci.sign_b64(&garbage),
        payload: garbage,
    };
    let a = judge(&reading(vec![layer], vec![]), &p);
    assert_eq!(a.signed.verdict, Verdict::Unknown);
    assert!(
        a.signed.reason.contains("simple-signing"),
        "{}",
        a.signed.reason
    );
    // A good signature beside it still passes.
    let mut layers = a_layer_pair(&ci);
    layers.reverse();
    let a = judge(&reading(layers, vec![]), &p);
    assert_eq!(a.signed.verdict, Verdict::Pass);
}

fn a_layer_pair(k: &Key) -> Vec<SignatureLayer> {
    vec![
        k.layer(digest().as_str()),
        SignatureLayer {
            payload: b"not json".to_vec(),
            signature: "AAAA".into(),
        },
    ]
}

#[test]
fn pae_is_the_dsse_encoding() {
    // The DSSE specification's own example.
    assert_eq!(
        pae("http://example.com/HelloWorld", b"hello world"),
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
    );
}

fn scanned(p: &SupplyPolicy, atts: Vec<Vec<u8>>) -> Assessment {
    judge(&reading(vec![], atts), p)
}

#[test]
fn a_high_finding_fails_naming_the_cve() {
    let ci = Key::p256();
    let p = policy(&[(&ci, "ci")]);
    let st = statement(
        HEX,
        &[("CVE-2026-0001", "HIGH"), ("CVE-2026-0002", "MEDIUM")],
        "2026-12-01T10:00:05Z",
    );
    let a = scanned(&p, vec![ci.envelope(&st)]);
    assert_eq!(a.scanned.verdict, Verdict::Fail);
    assert_eq!(
        a.scanned.reason,
        "1 finding at or above high: CVE-2026-0001 (HIGH, libtiff 4.5.0)"
    );
    assert_eq!(
        a.record.scan.as_deref(),
        Some("trivy 0.58.1 on 2026-12-01: 0 critical, 1 high, 1 medium, 0 low")
    );
    // Below the threshold it passes; with "medium" the medium one fails too.
    let st = statement(HEX, &[("CVE-2026-0002", "MEDIUM")], "2026-12-01T10:00:05Z");
    let a = scanned(&p, vec![ci.envelope(&st)]);
    assert_eq!(a.scanned.verdict, Verdict::Pass, "{}", a.scanned.reason);
    let mut strict = p.clone();
    strict.severity = Severity::Medium;
    let a = scanned(&strict, vec![ci.envelope(&st)]);
    assert_eq!(a.scanned.verdict, Verdict::Fail);
    assert!(
        a.scanned.reason.contains("CVE-2026-0002"),
        "{}",
        a.scanned.reason
    );
}

#[test]
fn many_findings_are_named_first_few_then_counted() {
    let ci = Key::p256();
    let p = policy(&[(&ci, "ci")]);
    let ids: Vec<String> = (1..=5).map(|i| format!("CVE-2026-000{i}")).collect();
    let f: Vec<(&str, &str)> = ids.iter().map(|i| (i.as_str(), "CRITICAL")).collect();
    let a = scanned(
        &p,
        vec![ci.envelope(&statement(HEX, &f, "2026-12-01T10:00:05Z"))],
    );
    assert!(
        a.scanned
            .reason
            .starts_with("5 findings at or above high: CVE-2026-0001")
    );
    assert!(
        a.scanned.reason.ends_with("and 2 more"),
        "{}",
        a.scanned.reason
    );
    assert!(!a.scanned.reason.contains("CVE-2026-0004"));
}

fn allow(cve: &str, expires: (i32, u32, u32)) -> AllowEntry {
    AllowEntry {
        cve: cve.into(),
        reason: "not reachable: we never parse TIFF".into(),
        expires: NaiveDate::from_ymd_opt(expires.0, expires.1, expires.2).unwrap(),
    }
}

#[test]
fn an_unexpired_allow_list_entry_passes_and_is_recorded() {
    let ci = Key::p256();
    let mut p = policy(&[(&ci, "ci")]);
    // Expiring today still allows.
    p.allow = vec![allow("CVE-2026-0001", (2026, 12, 7))];
    let st = statement(HEX, &[("CVE-2026-0001", "HIGH")], "2026-12-01T10:00:05Z");
    let a = scanned(&p, vec![ci.envelope(&st)]);
    assert_eq!(a.scanned.verdict, Verdict::Pass, "{}", a.scanned.reason);
    assert!(
        a.scanned.reason.contains("CVE-2026-0001"),
        "{}",
        a.scanned.reason
    );
    assert_eq!(
        a.record.allowed,
        vec![AllowedFinding {
            cve: "CVE-2026-0001".into(),
            reason: "not reachable: we never parse TIFF".into(),
            expires: "2026-12-07".into(),
        }]
    );
    assert_eq!(
        a.record.scan.as_deref(),
        Some("trivy 0.58.1 on 2026-12-01: 0 critical, 1 high (1 allowed), 0 medium, 0 low")
    );
}

#[test]
fn an_expired_allow_list_entry_fails_saying_when_it_expired() {
    let ci = Key::p256();
    let mut p = policy(&[(&ci, "ci")]);
    p.allow = vec![allow("CVE-2026-0001", (2026, 12, 6))];
    let st = statement(HEX, &[("CVE-2026-0001", "HIGH")], "2026-12-01T10:00:05Z");
    let a = scanned(&p, vec![ci.envelope(&st)]);
    assert_eq!(a.scanned.verdict, Verdict::Fail);
    assert!(
        a.scanned
            .reason
            .contains("CVE-2026-0001's allow-list entry expired on 2026-12-06"),
        "{}",
        a.scanned.reason
    );
    assert!(a.record.allowed.is_empty());
}

#[test]
fn scans_that_are_not_trusted_or_not_of_this_digest_fail() {
    let ci = Key::p256();
    let p = policy(&[(&ci, "ci")]);
    let clean = statement(HEX, &[], "2026-12-01T10:00:05Z");
    let a = scanned(&p, vec![Key::p256().envelope(&clean)]);
    assert_eq!(a.scanned.verdict, Verdict::Fail);
    assert!(
        a.scanned
            .reason
            .contains("1 attestation, none signed by a trusted key")
    );
    let a = scanned(
        &p,
        vec![ci.envelope(&statement(OTHER, &[], "2026-12-01T10:00:05Z"))],
    );
    assert_eq!(a.scanned.verdict, Verdict::Fail);
    assert!(
        a.scanned.reason.contains("of another digest"),
        "{}",
        a.scanned.reason
    );
    let a = scanned(&p, vec![]);
    assert_eq!(
        a.scanned.reason,
        "no vulnerability scan attested for this digest"
    );
    // The right envelope passes.
    let a = scanned(&p, vec![ci.envelope(&clean)]);
    assert_eq!(a.scanned.verdict, Verdict::Pass, "{}", a.scanned.reason);
    assert_eq!(
        a.scanned.reason,
        "trivy 0.58.1 on 2026-12-01: 0 critical, 0 high, 0 medium, 0 low: nothing at or above high"
    );
}

#[test]
fn what_cannot_be_parsed_is_unknown() {
    let ci = Key::p256();
    let p = policy(&[(&ci, "ci")]);
    let a = scanned(&p, vec![b"{not json".to_vec()]);
    assert_eq!(a.scanned.verdict, Verdict::Unknown);
    assert!(
        a.scanned
            .reason
            .contains("attestation #1 is not a DSSE envelope"),
        "{}",
        a.scanned.reason
    );
    // A signed statement that is not JSON.
    let a = scanned(&p, vec![ci.envelope(b"[1, 2")]);
    assert_eq!(a.scanned.verdict, Verdict::Unknown);
    assert!(
        a.scanned.reason.contains("in-toto statement"),
        "{}",
        a.scanned.reason
    );
    // A vuln predicate whose result is not a trivy report.
    let st = serde_json::to_vec(&json!({
        "predicateType": VULN_PREDICATE,
        "subject": [{"digest": {"sha256": HEX}}],
        "predicate": {"scanner": {"uri": "pkg:github/anchore/grype@0.80", "result": {"matches": []}}}
    }))
    .unwrap();
    let a = scanned(&p, vec![ci.envelope(&st)]);
    assert_eq!(a.scanned.verdict, Verdict::Unknown);
    assert!(
        a.scanned.reason.contains("not a trivy JSON report"),
        "{}",
        a.scanned.reason
    );
}

#[test]
fn the_newest_scan_is_judged_and_a_bare_trivy_report_is_accepted() {
    let ci = Key::ed25519();
    let p = policy(&[(&ci, "ci")]);
    let old = statement(
        HEX,
        &[("CVE-2026-0009", "CRITICAL")],
        "2026-11-01T00:00:00Z",
    );
    let new = statement(HEX, &[], "2026-12-01T10:00:05Z");
    let a = scanned(&p, vec![ci.envelope(&new), ci.envelope(&old)]);
    assert_eq!(a.scanned.verdict, Verdict::Pass, "{}", a.scanned.reason);
    let a = scanned(&p, vec![ci.envelope(&old)]);
    assert_eq!(a.scanned.verdict, Verdict::Fail);
    let bare = serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "predicateType": "https://trivy.dev/report",
        "subject": [{"digest": {"sha256": HEX}}],
        "predicate": {"SchemaVersion": 2, "CreatedAt": "2026-12-02T08:00:00Z",
            "Trivy": {"Version": "0.59.0"},
            "Results": [{"Vulnerabilities": [{"VulnerabilityID": "CVE-2026-0100", "Severity": "HIGH",
                "PkgName": "openssl", "InstalledVersion": "3.0.1"}]}]}
    }))
    .unwrap();
    let a = scanned(&p, vec![ci.envelope(&bare)]);
    assert_eq!(a.scanned.verdict, Verdict::Fail);
    assert_eq!(
        a.scanned.reason,
        "1 finding at or above high: CVE-2026-0100 (HIGH, openssl 3.0.1)"
    );
    assert!(
        a.record
            .scan
            .unwrap()
            .starts_with("trivy 0.59.0 on 2026-12-02")
    );
}

#[test]
fn provenance_names_the_commit_and_asks_for_the_branch() {
    let p = SupplyPolicy::default();
    let mut r = reading(vec![], vec![]);
    let a = judge(&r, &p);
    assert_eq!(a.provenance.verdict, Verdict::Pass);
    assert_eq!(
        a.provenance.reason,
        "built from commit 0123456789ab of https://github.com/acme/shop"
    );
    assert_eq!(
        a.record.commit.as_deref(),
        Some("0123456789abcdef0123456789abcdef01234567")
    );
    assert_eq!(a.record.created.as_deref(), Some("2026-12-01T09:58:00Z"));
    let mut ruled = p.clone();
    ruled.provenance = Some(ProvenanceRule {
        repository: "/srv/git/shop.git".into(),
        branch: "main".into(),
    });
    let with = |b: Option<&Result<bool, String>>| assess(&digest(), Ok(&r), &ruled, b, now());
    assert_eq!(with(None).provenance.verdict, Verdict::Pending);
    assert_eq!(with(Some(&Ok(true))).provenance.verdict, Verdict::Pass);
    let no = with(Some(&Ok(false))).provenance;
    assert_eq!(no.verdict, Verdict::Fail);
    assert_eq!(
        no.reason,
        "commit 0123456789ab is not on main of /srv/git/shop.git"
    );
    let err = with(Some(&Err("git fetch failed".into()))).provenance;
    assert_eq!(err.verdict, Verdict::Unknown);
    assert!(err.reason.ends_with("git fetch failed"), "{}", err.reason);
    r.labels.revision = None;
    let a = assess(&digest(), Ok(&r), &ruled, Some(&Ok(true)), now());
    assert_eq!(a.provenance.verdict, Verdict::Fail);
    assert_eq!(
        a.provenance.reason,
        "no org.opencontainers.image.revision label"
    );
}

#[test]
fn outside_text_is_sanitised_in_reasons_and_the_record() {
    let mut r = reading(vec![], vec![]);
    r.labels.revision = Some("abc\u{1b}[2Jdef1234".into());
    r.labels.source = Some("https://evil.test/\u{1b}]0;pwned\u{7}x".into());
    let a = judge(&r, &SupplyPolicy::default());
    for text in [
        a.provenance.reason.as_str(),
        a.record.commit.as_deref().unwrap(),
        a.record.source.as_deref().unwrap(),
    ] {
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text:?}"
        );
    }
    let a = assess(
        &digest(),
        Err("connection refused\u{1b}[31m"),
        &SupplyPolicy::default(),
        None,
        now(),
    );
    assert!(!a.signed.reason.contains('\u{1b}'));
}

#[test]
fn a_registry_that_cannot_be_read_is_unknown_for_all_three() {
    let ci = Key::p256();
    let a = assess(
        &digest(),
        Err("registry.test: 401 Unauthorized"),
        &policy(&[(&ci, "ci")]),
        Some(&Ok(true)),
        now(),
    );
    for f in [&a.signed, &a.scanned, &a.provenance] {
        assert_eq!(f.verdict, Verdict::Unknown);
        assert_eq!(
            f.reason,
            "the registry could not be read: registry.test: 401 Unauthorized"
        );
    }
    assert_eq!(a.record, SupplyRecord::default());
}
