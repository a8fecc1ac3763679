//! `[registry]`: `read` and `insecure` host lists, `[registry.auth]`
//! (host → secret name) and `[registry.ecr]`. Every problem is reported at
//! its line with a hint.

use std::collections::BTreeMap;

use super::super::registry::{EcrConfig, RegistryConfig};
use super::super::walk::{Ctx, Table};
use super::check_http_url;

const REGISTRY_KEYS: &[&str] = &["read", "insecure", "auth", "ecr"];
const ECR_KEYS: &[&str] = &["profile", "endpoint_url"];

/// `[registry]`, checked.
pub(in crate::config) fn parse_registry(ctx: &mut Ctx<'_>, root: &Table<'_>) -> RegistryConfig {
    let Some(t) = root.table(ctx, "registry", "[registry]".to_string()) else {
        return RegistryConfig::default();
    };
    t.check_keys(ctx, REGISTRY_KEYS);
    let read = hosts(ctx, &t, "read", true);
    let insecure = hosts(ctx, &t, "insecure", false);
    let auth = auth(ctx, &t);
    let ecr = ecr(ctx, &t);
    RegistryConfig {
        read,
        insecure,
        auth,
        ecr,
    }
}

/// Why `host` is not a registry host (`name[:port]`, with `*`/`?` when
/// `patterns`), or `None` when it is one.
fn bad_host(host: &str, patterns: bool) -> Option<&'static str> {
    if host.contains("://") {
        return Some("it has a scheme; write the host alone");
    }
    if host.is_empty() {
        return Some("it is empty");
    }
    if host.contains('/') {
        return Some("it has a path; write the host alone");
    }
    let allowed = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(c, '.' | '-' | ':' | '_')
            || (patterns && matches!(c, '*' | '?'))
    };
    if !host.chars().all(allowed) {
        return Some(if patterns {
            "only letters, digits, '.', '-', ':', '*' and '?' may be used"
        } else {
            "only letters, digits, '.', '-' and ':' may be used"
        });
    }
    if let Some((_, port)) = host.rsplit_once(':')
        && (port.is_empty()
            || !port
                .bytes()
                .all(|b| b.is_ascii_digit() || (patterns && b == b'*')))
    {
        return Some("the port must be a number");
    }
    None
}

/// A list of registry hosts (or host patterns).
fn hosts(ctx: &mut Ctx<'_>, t: &Table<'_>, key: &str, patterns: bool) -> Vec<String> {
    let mut out = Vec::new();
    for h in t.str_list(ctx, key) {
        match bad_host(&h, patterns) {
            None => out.push(h),
            Some(why) => ctx.report(
                t.value_span(key),
                format!(
                    "\"{key}\" in {} names \"{}\", which is not a registry host: {why}",
                    t.path,
                    h.escape_debug()
                ),
                if patterns {
                    "write hosts or patterns such as \"registry.example.com\", \"127.0.0.1:5000\", \"*.dkr.ecr.*.amazonaws.com\""
                } else {
                    "write hosts such as \"127.0.0.1:5000\" (no http://)"
                },
            ),
        }
    }
    out
}

/// `[registry.auth]`: host → secret name.
fn auth(ctx: &mut Ctx<'_>, t: &Table<'_>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if !t.has("auth") {
        return out;
    }
    let Some(a) = t.table(ctx, "auth", "[registry.auth]".to_string()) else {
        return out;
    };
    for (host, name) in t.string_map(ctx, "auth") {
        if let Some(why) = bad_host(&host, false) {
            ctx.report(
                a.key_span(&host),
                format!(
                    "[registry.auth] names \"{}\", which is not a registry host: {why}",
                    host.escape_debug()
                ),
                "write it as \"registry.example.com\" = \"REGISTRY_CREDENTIALS\"",
            );
            continue;
        }
        let secret = super::signals::secret_name(&name);
        if !crate::secrets::valid_name(secret) {
            // Never echoed: it may be the credential itself.
            ctx.report(
                a.value_span(&host),
                format!(
                    "[registry.auth] \"{}\" is not a valid secret name; it must name a secret, never hold one",
                    host.escape_debug()
                ),
                "store \"user:password\" with `shipdeck secret set REGISTRY_CREDENTIALS` and write \"HOST\" = \"REGISTRY_CREDENTIALS\"",
            );
            continue;
        }
        out.insert(host, secret.to_string());
    }
    out
}

/// `[registry.ecr]`.
fn ecr(ctx: &mut Ctx<'_>, t: &Table<'_>) -> EcrConfig {
    if !t.has("ecr") {
        return EcrConfig::default();
    }
    let Some(e) = t.table(ctx, "ecr", "[registry.ecr]".to_string()) else {
        return EcrConfig::default();
    };
    e.check_keys(ctx, ECR_KEYS);
    let endpoint_url = e
        .str(ctx, "endpoint_url")
        .filter(|u| check_http_url(ctx, &e, "endpoint_url", u));
    EcrConfig {
        profile: e.str(ctx, "profile"),
        endpoint_url,
    }
}

#[cfg(test)]
mod tests {
    fn parse(registry: &str) -> Result<crate::config::Config, String> {
        let text = format!(
            "{registry}\n[[environment]]\nname = \"dev\"\nregion = \"us-east-1\"\ncluster = \"dev\"\n\
             [[environment.service]]\nname = \"api\"\n"
        );
        crate::config::parse_str(&text, "r.toml", None).map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_section_is_read() {
        let cfg = parse(
            "[registry]\nread = [\"127.0.0.1:5000\", \"*.dkr.ecr.*.amazonaws.com\"]\n\
             insecure = [\"127.0.0.1:5000\"]\n\
             [registry.auth]\n\"127.0.0.1:5000\" = \"LOCAL_REGISTRY\"\n\
             \"ghcr.io\" = \"${secret:GHCR}\"\n\
             [registry.ecr]\nprofile = \"ci\"\nendpoint_url = \"http://127.0.0.1:4566\"\n",
        )
        .unwrap();
        let r = &cfg.registry;
        assert_eq!(r.read, ["127.0.0.1:5000", "*.dkr.ecr.*.amazonaws.com"]);
        assert_eq!(r.insecure, ["127.0.0.1:5000"]);
        assert_eq!(r.auth.get("127.0.0.1:5000").unwrap(), "LOCAL_REGISTRY");
        assert_eq!(r.auth.get("ghcr.io").unwrap(), "GHCR");
        assert_eq!(r.ecr.profile.as_deref(), Some("ci"));
        assert_eq!(r.ecr.endpoint_url.as_deref(), Some("http://127.0.0.1:4566"));
    }

    #[test]
    fn no_section_reads_nothing() {
        let cfg = parse("").unwrap();
        assert!(cfg.registry.read.is_empty());
        assert!(cfg.registry.auth.is_empty());
    }

    #[test]
    fn every_mistake_is_reported_at_its_line_with_a_hint() {
        let e = parse(
            "[registry]\nread = [\"https://ghcr.io\"]\n\
             insecure = [\"localhost:abc\"]\n\
             raed = []\n\
             [registry.auth]\n\"ghcr.io\" = \"ghp_canarySECRETvalue:pw\"\n\
             \"a/b\" = \"X\"\n\
             [registry.ecr]\nendpoint = \"x\"\nendpoint_url = \"ftp://x\"\n",
        )
        .unwrap_err();
        for want in [
            "r.toml:2:",
            "has a scheme",
            "r.toml:3:",
            "port must be a number",
            "r.toml:4:",
            "did you mean \"read\"?",
            "r.toml:6:",
            "must name a secret",
            "r.toml:7:",
            "has a path",
            "r.toml:9:",
            "unknown key \"endpoint\"",
            "r.toml:10:",
            "not an http(s) URL",
        ] {
            assert!(e.contains(want), "{want} missing in:\n{e}");
        }
        assert!(!e.contains("canarySECRET"), "a secret was echoed:\n{e}");
    }

    #[test]
    fn wrong_types_are_reported_and_one_host_may_be_written_alone() {
        let e = parse("[registry]\nread = 3\nauth = 3\n").unwrap_err();
        assert!(e.contains("r.toml:2:"), "{e}");
        assert!(e.contains("must be a list of strings"), "{e}");
        assert!(e.contains("r.toml:3:"), "{e}");
        assert!(e.contains("must be a table"), "{e}");
        let cfg = parse("[registry]\nread = \"ghcr.io\"\n").unwrap();
        assert_eq!(cfg.registry.read, ["ghcr.io"]);
    }
}
