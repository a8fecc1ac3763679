//! `[supply_chain]`: the trusted keys (each PEM file read and parsed here, so
//! a key that does not parse is an error at its line), the severity, the
//! allow-list and the provenance rule. Every problem is reported at its line
//! with a hint.

use std::path::Path;

use chrono::NaiveDate;
use toml_edit::{Item, Value};

use super::super::supply::{AllowEntry, ProvenanceRule, Severity, SupplyPolicy, TrustedKey};
use super::super::walk::{Ctx, Table};

const SUPPLY_KEYS: &[&str] = &["keys", "severity", "allow", "provenance"];
const KEY_KEYS: &[&str] = &["name", "pem"];
const ALLOW_KEYS: &[&str] = &["cve", "reason", "expires"];
const PROVENANCE_KEYS: &[&str] = &["repository", "branch"];
/// The largest PEM file read.
const PEM_LIMIT: u64 = 64 * 1024;

/// `[supply_chain]`, checked; key files are read relative to `base`.
pub(in crate::config) fn parse_supply(
    ctx: &mut Ctx<'_>,
    root: &Table<'_>,
    base: Option<&Path>,
) -> SupplyPolicy {
    let Some(t) = root.table(ctx, "supply_chain", "[supply_chain]".to_string()) else {
        return SupplyPolicy::default();
    };
    t.check_keys(ctx, SUPPLY_KEYS);
    let mut keys: Vec<TrustedKey> = Vec::new();
    for (i, mut k) in t.tables(ctx, "keys").into_iter().enumerate() {
        k.path = format!("[supply_chain] keys #{}", i + 1);
        let Some(key) = parse_key(ctx, &k, base) else {
            continue;
        };
        if keys.iter().any(|x| x.name == key.name) {
            ctx.report(
                k.value_span("name"),
                format!("duplicate key name \"{}\" in [supply_chain] keys", key.name),
                "give every key a unique name (reasons and the ledger name it)",
            );
            continue;
        }
        keys.push(key);
    }
    let severity = t
        .choice(ctx, "severity", &Severity::NAMES)
        .and_then(|s| Severity::parse(&s))
        .unwrap_or_default();
    let mut allow: Vec<AllowEntry> = Vec::new();
    for (i, mut a) in t.tables(ctx, "allow").into_iter().enumerate() {
        a.path = format!("[[supply_chain.allow]] #{}", i + 1);
        let Some(entry) = parse_allow(ctx, &a) else {
            continue;
        };
        if allow.iter().any(|x| x.cve.eq_ignore_ascii_case(&entry.cve)) {
            ctx.report(
                a.value_span("cve"),
                format!(
                    "\"{}\" is allowed twice in [[supply_chain.allow]]",
                    entry.cve
                ),
                "keep one entry per CVE",
            );
            continue;
        }
        allow.push(entry);
    }
    let provenance = t
        .table(ctx, "provenance", "[supply_chain.provenance]".to_string())
        .and_then(|p| parse_provenance(ctx, &p, base));
    SupplyPolicy {
        keys,
        severity,
        allow,
        provenance,
    }
}

fn valid_key_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn parse_key(ctx: &mut Ctx<'_>, t: &Table<'_>, base: Option<&Path>) -> Option<TrustedKey> {
    t.check_keys(ctx, KEY_KEYS);
    let name = t.req_str(
        ctx,
        "name",
        "add name = \"ci\" (reasons and the ledger name the key)",
    );
    if let Some(n) = &name
        && !valid_key_name(n)
    {
        ctx.report(
            t.value_span("name"),
            format!("\"name\" in {} is not a usable key name: \"{n}\"", t.path),
            "use letters, digits, '-', '_' and '.', such as \"ci\"",
        );
        return None;
    }
    if !t.has("pem") {
        t.missing(
            ctx,
            "pem",
            "add pem = \"keys/ci.pub\" (the public key, as `cosign generate-key-pair` writes cosign.pub)",
        );
        return None;
    }
    let written = t.path(ctx, "pem")?;
    let name = name?;
    let path = super::resolve(base, &written);
    let text = match read_limited(&path) {
        Ok(t) => t,
        Err(why) => {
            ctx.report(
                t.value_span("pem"),
                format!(
                    "the key file \"{}\" of key \"{name}\" cannot be read: {why}",
                    path.display()
                ),
                "name an existing PEM public key file; a relative path is read from the config's directory",
            );
            return None;
        }
    };
    match TrustedKey::from_pem(&name, path.clone(), &text) {
        Ok(k) => Some(k),
        Err(why) => {
            ctx.report(
                t.value_span("pem"),
                format!(
                    "the key file \"{}\" of key \"{name}\" is not a usable public key: {}",
                    path.display(),
                    crate::model::sanitize(&why)
                ),
                "give a PEM public key (-----BEGIN PUBLIC KEY-----), ECDSA P-256 or Ed25519, such as cosign.pub",
            );
            None
        }
    }
}

/// The key file, a regular file of at most [`PEM_LIMIT`] bytes (a FIFO or
/// device named by mistake is refused, never waited on).
fn read_limited(path: &Path) -> Result<Vec<u8>, String> {
    match crate::paths::read_regular(path, PEM_LIMIT) {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err("no such file".to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Err("permission denied".to_string())
        }
        Err(e) => Err(crate::model::sanitize(&e.to_string())),
    }
}

fn valid_cve(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn parse_allow(ctx: &mut Ctx<'_>, t: &Table<'_>) -> Option<AllowEntry> {
    t.check_keys(ctx, ALLOW_KEYS);
    let cve = t.req_str(ctx, "cve", "add cve = \"CVE-2026-0001\"");
    if let Some(c) = &cve
        && !valid_cve(c)
    {
        ctx.report(
            t.value_span("cve"),
            format!("\"cve\" in {} is not a vulnerability id: \"{c}\"", t.path),
            "write the id the scanner reports, such as \"CVE-2026-0001\" or \"GHSA-xxxx-xxxx-xxxx\"",
        );
    }
    let reason = t.req_str(
        ctx,
        "reason",
        "add reason = \"…\": why this CVE is acceptable (the ledger keeps it)",
    );
    if let Some(r) = &reason
        && r.trim().is_empty()
    {
        ctx.report(
            t.value_span("reason"),
            format!("\"reason\" in {} is empty", t.path),
            "say why this CVE is acceptable, e.g. \"not reachable: we never parse TIFF\"",
        );
    }
    let expires = expires(ctx, t);
    let cve = cve.filter(|c| valid_cve(c))?;
    let reason = reason.filter(|r| !r.trim().is_empty())?;
    Some(AllowEntry {
        cve,
        reason: crate::model::text::fold_line(reason.trim()),
        expires: expires?,
    })
}

/// `expires = "2027-01-31"` or `expires = 2027-01-31` (a TOML date).
fn expires(ctx: &mut Ctx<'_>, t: &Table<'_>) -> Option<NaiveDate> {
    let help = "write the last day it allows, such as expires = \"2027-01-31\"";
    let Some((_, item)) = t.entries().into_iter().find(|(k, _)| k == "expires") else {
        t.missing(ctx, "expires", help);
        return None;
    };
    let text = match item {
        Item::Value(Value::String(s)) => s.value().clone(),
        Item::Value(Value::Datetime(d)) if d.value().time.is_none() => d.value().to_string(),
        other => {
            let shown = other.to_string();
            ctx.report(
                t.value_span("expires"),
                format!(
                    "\"expires\" in {} must be a date, found \"{}\"",
                    t.path,
                    shown.trim()
                ),
                help,
            );
            return None;
        }
    };
    if let Ok(d) = NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
        Some(d)
    } else {
        ctx.report(
            t.value_span("expires"),
            format!("\"expires\" in {} is not a date: \"{text}\"", t.path),
            help,
        );
        None
    }
}

fn parse_provenance(
    ctx: &mut Ctx<'_>,
    t: &Table<'_>,
    base: Option<&Path>,
) -> Option<ProvenanceRule> {
    t.check_keys(ctx, PROVENANCE_KEYS);
    let repository = t.req_str(
        ctx,
        "repository",
        "add repository = \"/srv/git/shop.git\" or a URL such as \"https://github.com/acme/shop.git\"",
    );
    let branch = t.req_str(ctx, "branch", "add branch = \"main\"");
    if let Some(b) = &branch
        && !crate::model::gitref::valid_branch(b)
    {
        ctx.report(
            t.value_span("branch"),
            format!("\"branch\" in {} is not a branch name: \"{b}\"", t.path),
            "write a branch name such as \"main\" (no spaces, no leading '-')",
        );
        return None;
    }
    let repository = repository?;
    if repository.trim().is_empty()
        || repository.starts_with('-')
        || repository.chars().any(char::is_control)
    {
        ctx.report(
            t.value_span("repository"),
            format!(
                "\"repository\" in {} is not a repository: \"{}\"",
                t.path,
                repository.escape_debug()
            ),
            "write a local path such as \"/srv/git/shop.git\" or a URL git can fetch",
        );
        return None;
    }
    // Credentials in the URL would be on git's command line and in the
    // clone's config: git's own credential helpers keep them instead.
    let userinfo = url::Url::parse(&repository).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https")
            && (!u.username().is_empty() || u.password().is_some())
    });
    if userinfo {
        ctx.report(
            t.value_span("repository"),
            format!(
                "\"repository\" in {} carries credentials in its URL (user or token before '@')",
                t.path
            ),
            "write the URL without them and let git's credential helper (or an SSH key) log in",
        );
        return None;
    }
    let repository = if crate::supply::git::is_url(&repository) {
        repository
    } else {
        super::resolve(base, &repository)
            .to_string_lossy()
            .into_owned()
    };
    Some(ProvenanceRule {
        repository,
        branch: branch?,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::NaiveDate;
    use sigstore::crypto::SigningScheme;

    use crate::config::supply::Severity;

    fn parse(supply: &str, base: Option<&Path>) -> Result<crate::config::Config, String> {
        let text = format!(
            "{supply}\n[[environment]]\nname = \"dev\"\nregion = \"us-east-1\"\ncluster = \"dev\"\n\
             [[environment.service]]\nname = \"api\"\n"
        );
        crate::config::parse_str(&text, "s.toml", base).map_err(|e| e.to_string())
    }

    fn write_key(dir: &Path, file: &str, scheme: &SigningScheme) {
        let signer = scheme.create_signer().unwrap();
        let pem = signer
            .to_sigstore_keypair()
            .unwrap()
            .public_key_to_pem()
            .unwrap();
        std::fs::write(dir.join(file), pem).unwrap();
    }

    #[test]
    fn the_section_is_read_with_keys_relative_to_the_config() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("keys")).unwrap();
        write_key(
            tmp.path(),
            "keys/ci.pub",
            &SigningScheme::ECDSA_P256_SHA256_ASN1,
        );
        write_key(tmp.path(), "keys/ed.pub", &SigningScheme::ED25519);
        let cfg = parse(
            "[supply_chain]\n\
             keys = [{ name = \"ci\", pem = \"keys/ci.pub\" }, { name = \"ed\", pem = \"keys/ed.pub\" }]\n\
             severity = \"critical\"\n\
             [[supply_chain.allow]]\ncve = \"CVE-2026-0001\"\nreason = \"not reachable\"\nexpires = \"2027-01-31\"\n\
             [[supply_chain.allow]]\ncve = \"GHSA-abcd-1234-wxyz\"\nreason = \"dev only\"\nexpires = 2027-02-01\n\
             [supply_chain.provenance]\nrepository = \"git/shop.git\"\nbranch = \"main\"\n",
            Some(tmp.path()),
        )
        .unwrap();
        let s = &cfg.supply;
        let names: Vec<(&str, &str)> = s
            .keys
            .iter()
            .map(|k| (k.name.as_str(), k.algorithm))
            .collect();
        assert_eq!(names, [("ci", "ECDSA P-256"), ("ed", "Ed25519")]);
        assert_eq!(s.keys[0].path, tmp.path().join("keys/ci.pub"));
        assert_eq!(s.severity, Severity::Critical);
        assert_eq!(s.allow.len(), 2);
        assert_eq!(
            s.allow[1].expires,
            NaiveDate::from_ymd_opt(2027, 2, 1).unwrap()
        );
        assert_eq!(s.allowed("cve-2026-0001").unwrap().reason, "not reachable");
        let prov = s.provenance.as_ref().unwrap();
        assert_eq!(
            prov.repository,
            tmp.path().join("git/shop.git").to_string_lossy()
        );
        assert_eq!(prov.branch, "main");
    }

    #[test]
    fn a_repository_url_with_credentials_is_refused_without_echoing_them() {
        let e = parse(
            "[supply_chain.provenance]\nrepository = \"https://ghp_s3cr3t@github.com/acme/shop.git\"\nbranch = \"main\"\n",
            None,
        )
        .unwrap_err();
        assert!(e.contains("carries credentials in its URL"), "{e}");
        assert!(!e.contains("ghp_s3cr3t"), "{e}");
        // An SSH remote's user is no secret.
        parse(
            "[supply_chain.provenance]\nrepository = \"ssh://git@github.com/acme/shop.git\"\nbranch = \"main\"\n",
            None,
        )
        .unwrap();
    }

    #[test]
    fn no_section_trusts_nothing_and_defaults_to_high() {
        let cfg = parse("", None).unwrap();
        assert!(cfg.supply.keys.is_empty());
        assert_eq!(cfg.supply.severity, Severity::High);
        assert!(cfg.supply.provenance.is_none());
        let cfg = parse(
            "[supply_chain.provenance]\nrepository = \"https://git.test/shop.git\"\nbranch = \"release/2026\"\n",
            None,
        )
        .unwrap();
        let prov = cfg.supply.provenance.as_ref().unwrap();
        assert_eq!(prov.repository, "https://git.test/shop.git");
    }

    #[test]
    fn every_mistake_is_reported_at_its_line_with_a_hint() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join("bad.pub"),
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        )
        .unwrap();
        std::fs::write(tmp.path().join("text.pub"), "hello").unwrap();
        write_key(tmp.path(), "ok.pub", &SigningScheme::ECDSA_P256_SHA256_ASN1);
        write_key(
            tmp.path(),
            "p384.pub",
            &SigningScheme::ECDSA_P384_SHA384_ASN1,
        );
        let e = parse(
            "[supply_chain]\n\
             keys = [{ name = \"ci\", pem = \"bad.pub\" }]\n\
             severity = \"severe\"\n\
             signers = []\n\
             [[supply_chain.allow]]\ncve = \"CVE-2026-0001\"\nreason = \"r\"\nexpires = \"31/01/2027\"\n\
             [[supply_chain.allow]]\ncve = \"CVE-2026-0002\"\nexpires = \"2027-01-31\"\n\
             [[supply_chain.allow]]\ncve = \"CVE-2026-0003\"\nreason = \"r\"\nexpires = \"2027-01-31\"\nuntil = \"x\"\n\
             [supply_chain.provenance]\nrepository = \"/srv/git/shop.git\"\nbranch = \"-main\"\n",
            Some(tmp.path()),
        )
        .unwrap_err();
        for want in [
            "s.toml:2:",
            "is not a usable public key",
            "s.toml:3:",
            "unknown value \"severe\"",
            "\"low\", \"medium\", \"high\", \"critical\"",
            "s.toml:4:",
            "unknown key \"signers\"",
            "s.toml:8:",
            "is not a date: \"31/01/2027\"",
            "missing required key \"reason\"",
            "unknown key \"until\"",
            "s.toml:19:",
            "is not a branch name: \"-main\"",
        ] {
            assert!(e.contains(want), "{want} missing in:\n{e}");
        }
        let e = parse(
            "[supply_chain]\nkeys = [\n  { name = \"a\", pem = \"text.pub\" },\n  { name = \"b\", pem = \"p384.pub\" },\n  { name = \"c\", pem = \"missing.pub\" },\n  { name = \"ok\", pem = \"ok.pub\" },\n  { name = \"ok\", pem = \"ok.pub\" },\n  { name = \"d e\", pem = \"ok.pub\" },\n  { pem = \"ok.pub\" },\n]\n",
            Some(tmp.path()),
        )
        .unwrap_err();
        for want in [
            "s.toml:3:",
            "text.pub\" of key \"a\" is not a usable public key",
            "s.toml:4:",
            "an ECDSA P-384 key; use ECDSA P-256 or Ed25519",
            "s.toml:5:",
            "cannot be read",
            "s.toml:7:",
            "duplicate key name \"ok\"",
            "not a usable key name: \"d e\"",
            "missing required key \"name\"",
        ] {
            assert!(e.contains(want), "{want} missing in:\n{e}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_key_named_as_a_pipe_or_a_directory_is_refused_not_waited_on() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("ci.pub");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let e = parse(
            "[supply_chain]\nkeys = [{ name = \"ci\", pem = \"ci.pub\" }, { name = \"d\", pem = \".\" }]\n",
            Some(tmp.path()),
        )
        .unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        assert!(e.contains("it is a directory"), "{e}");
    }
}
