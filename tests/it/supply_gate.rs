//! The supply-chain checks judged end to end against a real registry
//! (Debian's `docker-registry` with htpasswd auth, `support::registry`):
//! images pushed over the registry API, signed and attested in cosign's own
//! formats (`support::cosign`), read by `supply::gather::gather` (with
//! `recheck`, as a gate reads), judged by `Evidence::assess` and, for the
//! signature and the unknown cases, put through `gate::evaluate`.
//! Every verdict is asserted with its reason; unknown is never a pass.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use shipdeck::config::registry::RegistryConfig;
use shipdeck::config::supply::{AllowEntry, SupplyPolicy, TrustedKey};
use shipdeck::config::{AutoCheck, GatePolicy};
use shipdeck::gate::{GateInput, GateResult, Verdict, evaluate};
use shipdeck::model::{Digest, ImageRef};
use shipdeck::registry::Registries;
use shipdeck::supply::gather::gather;
use shipdeck::supply::{AllowedFinding, Assessment};

use crate::support::cosign::{Key, simple_signing_payload, vuln_statement};
use crate::support::registry::{self, PASSWORD, Registry, USER};

const REPO: &str = "team/api";
const REVISION: &str = "4f2c9a1e0b7d3c5a6e8f9012345678901234abcd";
const SOURCE: &str = "https://github.com/acme/api";
const LABELS: &[(&str, &str)] = &[
    ("org.opencontainers.image.revision", REVISION),
    ("org.opencontainers.image.source", SOURCE),
    ("org.opencontainers.image.created", "2026-12-01T10:00:00Z"),
];
const CVE: &str = "CVE-2026-0001";

/// The moment every judgement is made at.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap()
}

/// A registry, the team's CI key and the policy trusting it (as `ci`,
/// read from a PEM file), and a cache directory.
struct Team {
    reg: Registry,
    key: Key,
    policy: SupplyPolicy,
    dir: tempfile::TempDir,
}

impl Team {
    fn start() -> Self {
        let reg = Registry::start();
        let key = Key::p256();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ci.pub");
        std::fs::write(&path, key.public_pem()).unwrap();
        let pem = std::fs::read(&path).unwrap();
        let policy = SupplyPolicy {
            keys: vec![TrustedKey::from_pem("ci", path, &pem).unwrap()],
            ..SupplyPolicy::default()
        };
        Self {
            reg,
            key,
            policy,
            dir,
        }
    }

    fn registries(&self, password: &str) -> Registries {
        let cfg = RegistryConfig {
            read: vec![self.reg.host.clone()],
            insecure: vec![self.reg.host.clone()],
            ..Default::default()
        };
        Registries::with_docker_config(
            Arc::new(cfg),
            Some(self.dir.path().join("cache")),
            registry::no_secrets(),
            self.reg.docker_config(USER, password),
        )
    }

    fn image(&self, digest: &Digest) -> ImageRef {
        ImageRef::parse(&format!("{}/{REPO}@{digest}", self.reg.host)).unwrap()
    }

    /// Signs `over` with `key` (cosign's simple-signing payload) and pushes
    /// the signature under `digest`'s `.sig` tag.
    fn sign(&self, key: &Key, digest: &Digest, over: &Digest) {
        let payload = simple_signing_payload(&format!("{}/{REPO}", self.reg.host), over.as_str());
        self.reg
            .push_signature(REPO, digest, &payload, &key.sign_b64(&payload));
    }

    /// Attests a trivy scan of `digest` finding `findings`, signed by the
    /// team key.
    fn attest_scan(&self, digest: &Digest, findings: &[(&str, &str)]) {
        let statement = vuln_statement(&digest.as_str()["sha256:".len()..], findings);
        self.reg
            .push_attestation(REPO, digest, &self.key.envelope(&statement));
    }

    /// Gathers (rechecking, as the gate does) with `password` and judges.
    async fn judge_with(&self, digest: &Digest, password: &str) -> Assessment {
        let evidence = gather(
            &self.registries(password),
            &self.policy,
            &self.image(digest),
            true,
        )
        .await;
        evidence.assess(digest, &self.policy, now())
    }

    async fn judge(&self, digest: &Digest) -> Assessment {
        self.judge_with(digest, PASSWORD).await
    }
}

/// The gate of a production environment that asks for the three
/// supply-chain checks only, with `overrides` given.
fn gate(
    a: &Assessment,
    digest: &Digest,
    allow_override: bool,
    overrides: &[(String, String)],
) -> GateResult {
    let mut policy = GatePolicy::defaults(true);
    policy.checks = vec![AutoCheck::Signed, AutoCheck::Scanned, AutoCheck::Provenance];
    policy.approvals_required = 0;
    policy.allow_override = allow_override;
    let roles = shipdeck::config::approvals::Roles::default();
    evaluate(&GateInput {
        policy: &policy,
        source: None,
        source_self_rollback: None,
        source_fresh: true,
        target_fresh: true,
        stale: &[],
        digest: Some(digest),
        source_healthy_stable: None,
        smoke: None,
        smoke_configured: false,
        soaked_for: None,
        now: now(),
        in_flight: None,
        ticked: &[],
        approvers: &[],
        initiator: "alice",
        change_record: None,
        hotfix_reason: None,
        hotfix: false,
        skipped: &[],
        change_type: None,
        change_types: &[],
        roles: &roles,
        overrides,
        target_regions: None,
        target_places: false,
        target_platform: "fly",
        target_units: "machines",
        supply: Some(a),
    })
}

/// The gate's check `name`: (verdict, reason).
fn check<'r>(r: &'r GateResult, name: &str) -> (Verdict, &'r str) {
    let c = r
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name} in {r:#?}"));
    (c.verdict, c.reason.as_str())
}

#[tokio::test]
async fn an_image_signed_by_the_team_key_passes_naming_the_key_and_the_gate_says_go() {
    let team = Team::start();
    let digest = team.reg.push_image(REPO, LABELS);
    team.sign(&team.key, &digest, &digest);
    team.attest_scan(&digest, &[("CVE-2026-0002", "MEDIUM")]);
    let a = team.judge(&digest).await;
    assert_eq!(a.signed.verdict, Verdict::Pass, "{a:#?}");
    assert_eq!(a.signed.reason, "signed by ci");
    assert_eq!(a.record.key.as_deref(), Some("ci"));
    assert_eq!(a.scanned.verdict, Verdict::Pass, "{a:#?}");
    assert!(
        a.scanned.reason.contains("nothing at or above high"),
        "{}",
        a.scanned.reason
    );

    let r = gate(&a, &digest, false, &[]);
    assert_eq!(check(&r, "signed"), (Verdict::Pass, "signed by ci"));
    assert!(r.go, "{r:#?}");
}

#[tokio::test]
async fn an_image_signed_by_another_key_fails_saying_no_trusted_key_signed_it() {
    let team = Team::start();
    let digest = team.reg.push_image(REPO, LABELS);
    team.sign(&Key::p256(), &digest, &digest);
    let a = team.judge(&digest).await;
    assert_eq!(a.signed.verdict, Verdict::Fail, "{a:#?}");
    assert_eq!(a.signed.reason, "1 signature, not by a trusted key (ci)");
    assert_eq!(a.record.key, None);

    let r = gate(&a, &digest, false, &[]);
    assert_eq!(
        check(&r, "signed"),
        (Verdict::Fail, "1 signature, not by a trusted key (ci)")
    );
    assert!(!r.go);
}

#[tokio::test]
async fn an_unsigned_image_fails_and_an_override_is_refused_where_overrides_are_not_allowed() {
    let team = Team::start();
    let digest = team.reg.push_image(REPO, LABELS);
    let a = team.judge(&digest).await;
    assert_eq!(a.signed.verdict, Verdict::Fail, "{a:#?}");
    assert_eq!(a.signed.reason, "no cosign signature for this digest");
    assert_eq!(a.scanned.verdict, Verdict::Fail, "{a:#?}");
    assert_eq!(
        a.scanned.reason,
        "no vulnerability scan attested for this digest"
    );

    let overrides = vec![("signed".to_string(), "cosign outage, INC-7".to_string())];
    let r = gate(&a, &digest, false, &overrides);
    let (v, why) = check(&r, "signed");
    assert_eq!(v, Verdict::Fail);
    assert!(
        why.starts_with("no cosign signature for this digest")
            && why.ends_with("(overrides are not allowed here)"),
        "{why}"
    );
    assert!(!r.go);
}

#[tokio::test]
async fn a_team_key_signature_over_another_digest_fails_naming_that_digest() {
    let team = Team::start();
    let digest = team.reg.push_image(REPO, LABELS);
    let other = team
        .reg
        .push_image(REPO, &[("org.opencontainers.image.revision", "0123")]);
    assert_ne!(digest, other);
    // The team key's signature of `other`, put under this digest's tag.
    team.sign(&team.key, &digest, &other);
    let a = team.judge(&digest).await;
    assert_eq!(a.signed.verdict, Verdict::Fail, "{a:#?}");
    let short = &other.as_str()[.."sha256:".len() + 12];
    assert_eq!(
        a.signed.reason,
        format!("signed by ci, but over another digest ({short}), not this one")
    );
    assert_eq!(a.record.key, None);

    let r = gate(&a, &digest, false, &[]);
    assert_eq!(check(&r, "signed").0, Verdict::Fail);
    assert!(!r.go);
}

#[tokio::test]
async fn a_scan_with_a_high_finding_fails_naming_the_cve() {
    let team = Team::start();
    let digest = team.reg.push_image(REPO, LABELS);
    team.sign(&team.key, &digest, &digest);
    team.attest_scan(&digest, &[(CVE, "HIGH"), ("CVE-2026-0002", "LOW")]);
    let a = team.judge(&digest).await;
    assert_eq!(a.scanned.verdict, Verdict::Fail, "{a:#?}");
    assert_eq!(
        a.scanned.reason,
        format!("1 finding at or above high: {CVE} (HIGH, libexample 1.2.3)")
    );
    assert!(a.record.allowed.is_empty());
    let summary = a.record.scan.as_deref().unwrap_or_default();
    assert!(summary.contains("1 high"), "{summary}");

    let r = gate(&a, &digest, false, &[]);
    let (v, why) = check(&r, "scanned");
    assert_eq!(v, Verdict::Fail);
    assert!(why.contains(CVE), "{why}");
    assert!(!r.go);
}

#[tokio::test]
async fn a_high_finding_on_an_unexpired_allow_list_passes_and_the_record_keeps_the_reason() {
    let mut team = Team::start();
    team.policy.allow.push(AllowEntry {
        cve: CVE.to_string(),
        reason: "not reachable: the parser is never fed user input".to_string(),
        expires: NaiveDate::from_ymd_opt(2027, 1, 31).unwrap(),
    });
    let digest = team.reg.push_image(REPO, LABELS);
    team.sign(&team.key, &digest, &digest);
    team.attest_scan(&digest, &[(CVE, "HIGH")]);
    let a = team.judge(&digest).await;
    assert_eq!(a.scanned.verdict, Verdict::Pass, "{a:#?}");
    assert!(
        a.scanned
            .reason
            .ends_with(&format!("but what the allow-list lets through ({CVE})")),
        "{}",
        a.scanned.reason
    );
    assert_eq!(
        a.record.allowed,
        vec![AllowedFinding {
            cve: CVE.to_string(),
            reason: "not reachable: the parser is never fed user input".to_string(),
            expires: "2027-01-31".to_string(),
        }]
    );
    let summary = a.record.scan.as_deref().unwrap_or_default();
    assert!(summary.contains("1 high (1 allowed)"), "{summary}");

    let r = gate(&a, &digest, false, &[]);
    assert!(r.go, "{r:#?}");
}

#[tokio::test]
async fn a_high_finding_whose_allow_list_entry_expired_fails_naming_the_date() {
    let mut team = Team::start();
    team.policy.allow.push(AllowEntry {
        cve: CVE.to_string(),
        reason: "until the base image is rebuilt".to_string(),
        expires: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
    });
    let digest = team.reg.push_image(REPO, LABELS);
    team.sign(&team.key, &digest, &digest);
    team.attest_scan(&digest, &[(CVE, "HIGH")]);
    let a = team.judge(&digest).await;
    assert_eq!(a.scanned.verdict, Verdict::Fail, "{a:#?}");
    assert_eq!(
        a.scanned.reason,
        format!(
            "1 finding at or above high: {CVE} (HIGH, libexample 1.2.3); \
             {CVE}'s allow-list entry expired on 2026-11-30"
        )
    );
    assert!(a.record.allowed.is_empty());
}

#[tokio::test]
async fn a_registry_that_is_down_is_unknown_naming_the_host_and_never_passes() {
    let mut team = Team::start();
    let digest = team.reg.push_image(REPO, LABELS);
    team.sign(&team.key, &digest, &digest);
    team.attest_scan(&digest, &[]);
    team.reg.stop();
    let a = team.judge(&digest).await;
    for (name, f) in [
        ("signed", &a.signed),
        ("scanned", &a.scanned),
        ("provenance", &a.provenance),
    ] {
        assert_eq!(f.verdict, Verdict::Unknown, "{name}: {a:#?}");
        assert!(
            f.reason.starts_with("the registry could not be read: ")
                && f.reason.contains(&team.reg.host),
            "{name}: {}",
            f.reason
        );
    }
    assert_eq!(a.record, shipdeck::supply::SupplyRecord::default());

    // Not even a reason where overrides are allowed passes an unknown.
    let overrides: Vec<(String, String)> = ["signed", "scanned", "provenance"]
        .iter()
        .map(|n| ((*n).to_string(), "registry outage".to_string()))
        .collect();
    let r = gate(&a, &digest, true, &overrides);
    for name in ["signed", "scanned", "provenance"] {
        let (v, why) = check(&r, name);
        assert_eq!(v, Verdict::Unknown, "{name}: {why}");
        assert!(why.contains(&team.reg.host), "{why}");
    }
    assert!(!r.go, "{r:#?}");
}

#[tokio::test]
async fn a_wrong_password_is_unknown_never_a_pass_and_never_shows_the_secret() {
    let team = Team::start();
    let digest = team.reg.push_image(REPO, LABELS);
    team.sign(&team.key, &digest, &digest);
    team.attest_scan(&digest, &[]);
    let a = team.judge_with(&digest, "wrong-canary-pw").await;
    for (name, f) in [
        ("signed", &a.signed),
        ("scanned", &a.scanned),
        ("provenance", &a.provenance),
    ] {
        assert_eq!(f.verdict, Verdict::Unknown, "{name}: {a:#?}");
        assert!(f.reason.contains(&team.reg.host), "{name}: {}", f.reason);
        assert!(!f.reason.contains("wrong-canary-pw"), "{}", f.reason);
        assert!(!f.reason.contains(PASSWORD), "{}", f.reason);
    }
    let r = gate(&a, &digest, true, &[]);
    assert!(
        r.checks.iter().all(|c| c.verdict != Verdict::Pass),
        "{r:#?}"
    );
    assert!(!r.go);

    // The same image with the right password passes: the failure above
    // was the credentials'.
    let a = team.judge(&digest).await;
    assert_eq!(a.signed.verdict, Verdict::Pass, "{a:#?}");
    assert_eq!(a.scanned.verdict, Verdict::Pass, "{a:#?}");
}

#[tokio::test]
async fn an_image_with_a_revision_label_passes_provenance_naming_the_commit_and_one_without_fails()
{
    let team = Team::start();
    let labelled = team.reg.push_image(REPO, LABELS);
    let a = team.judge(&labelled).await;
    assert_eq!(a.provenance.verdict, Verdict::Pass, "{a:#?}");
    assert_eq!(
        a.provenance.reason,
        format!("built from commit {} of {SOURCE}", &REVISION[..12])
    );
    assert_eq!(a.record.commit.as_deref(), Some(REVISION));
    assert_eq!(a.record.source.as_deref(), Some(SOURCE));
    assert_eq!(a.record.created.as_deref(), Some("2026-12-01T10:00:00Z"));

    let bare = team
        .reg
        .push_image(REPO, &[("org.opencontainers.image.source", SOURCE)]);
    let a = team.judge(&bare).await;
    assert_eq!(a.provenance.verdict, Verdict::Fail, "{a:#?}");
    assert_eq!(
        a.provenance.reason,
        "no org.opencontainers.image.revision label"
    );
    assert_eq!(a.record.commit, None);
    let r = gate(&a, &bare, false, &[]);
    assert_eq!(
        check(&r, "provenance"),
        (Verdict::Fail, "no org.opencontainers.image.revision label")
    );
}
