//! Cosign's formats, written exactly as cosign writes them, for tests that
//! sign and attest their own images: keys made by sigstore itself (ECDSA
//! P-256 or Ed25519), the simple-signing payload and its base64 signature
//! (the `dev.cosignproject.cosign/signature` annotation), an in-toto
//! statement with cosign's vuln predicate around a trivy report, and the
//! DSSE envelope signed over its pre-authentication encoding.
//!
//! Written independently of shipdeck's own reader, so a test catches a
//! reader that disagrees with the format.

#![allow(dead_code)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use sigstore::crypto::{SigStoreSigner, SigningScheme};

/// A signing key pair (test use only).
pub struct Key {
    signer: SigStoreSigner,
}

impl Key {
    /// A fresh ECDSA P-256 key (cosign's default).
    pub fn p256() -> Self {
        Self {
            signer: SigningScheme::ECDSA_P256_SHA256_ASN1
                .create_signer()
                .expect("P-256 key"),
        }
    }

    /// A fresh Ed25519 key.
    pub fn ed25519() -> Self {
        Self {
            signer: SigningScheme::ED25519.create_signer().expect("Ed25519 key"),
        }
    }

    /// The public key as PEM (`-----BEGIN PUBLIC KEY-----`), as cosign.pub.
    pub fn public_pem(&self) -> String {
        self.signer
            .to_sigstore_keypair()
            .expect("key pair")
            .public_key_to_pem()
            .expect("public PEM")
    }

    /// Base64 of the signature over `payload` (the annotation's value).
    pub fn sign_b64(&self, payload: &[u8]) -> String {
        STANDARD.encode(self.signer.sign(payload).expect("signature"))
    }

    /// The DSSE envelope (cosign's `.att` layer) for an in-toto `statement`.
    pub fn envelope(&self, statement: &[u8]) -> Vec<u8> {
        let sig = self.sign_b64(&pae(IN_TOTO, statement));
        // Field order as cosign writes it.
        format!(
            r#"{{"payloadType":"{IN_TOTO}","payload":"{}","signatures":[{{"keyid":"","sig":"{sig}"}}]}}"#,
            STANDARD.encode(statement)
        )
        .into_bytes()
    }
}

/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// `"DSSEv1" SP len(type) SP type SP len(body) SP body`.
pub fn pae(kind: &str, body: &[u8]) -> Vec<u8> {
    let mut out = b"DSSEv1 ".to_vec();
    out.extend_from_slice(kind.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(kind.as_bytes());
    out.push(b' ');
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(body);
    out
}

/// Cosign's simple-signing payload for `image_ref` (without tag or digest)
/// at `digest` (`sha256:…`), byte for byte as `cosign sign` writes it.
pub fn simple_signing_payload(image_ref: &str, digest: &str) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{image_ref}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
    )
    .into_bytes()
}

/// An in-toto statement of a trivy scan of `digest_hex` (no `sha256:`),
/// in cosign's vuln predicate (`cosign attest --type vuln`), finished at
/// 2026-12-01T10:00:05Z, reporting `findings` as (CVE, severity).
pub fn vuln_statement(digest_hex: &str, findings: &[(&str, &str)]) -> Vec<u8> {
    vuln_statement_at(digest_hex, findings, "2026-12-01T10:00:05Z")
}

/// [`vuln_statement`] finished at `finished` (RFC 3339).
pub fn vuln_statement_at(digest_hex: &str, findings: &[(&str, &str)], finished: &str) -> Vec<u8> {
    let vulns: Vec<_> = findings
        .iter()
        .map(|(cve, sev)| {
            json!({
                "VulnerabilityID": cve,
                "PkgName": "libexample",
                "InstalledVersion": "1.2.3",
                "FixedVersion": "1.2.4",
                "Severity": sev,
            })
        })
        .collect();
    let report = json!({
        "SchemaVersion": 2,
        "CreatedAt": finished,
        "ArtifactName": format!("registry.test/app@sha256:{digest_hex}"),
        "ArtifactType": "container_image",
        "Results": [{
            "Target": "registry.test/app (debian 12.8)",
            "Class": "os-pkgs",
            "Type": "debian",
            "Vulnerabilities": vulns,
        }],
    });
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://cosign.sigstore.dev/attestation/vuln/v1",
        "subject": [{
            "name": "registry.test/app",
            "digest": { "sha256": digest_hex },
        }],
        "predicate": {
            "invocation": {
                "parameters": null,
                "uri": "",
                "event_id": "",
                "builder.id": "",
            },
            "scanner": {
                "uri": "pkg:github/aquasecurity/trivy@v0.58.1",
                "version": "0.58.1",
                "db": { "uri": "", "version": "" },
                "result": report,
            },
            "metadata": {
                "scanStartedOn": "2026-12-01T10:00:00Z",
                "scanFinishedOn": finished,
            },
        },
    });
    serde_json::to_vec(&statement).expect("statement JSON")
}
