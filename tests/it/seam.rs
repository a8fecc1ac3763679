//! The platform seam keeps what was written before it: a ledger and a demo
//! world written by the release before issue 28 (tests/fixtures/ledger-v1,
//! from `shipdeck` at 96aba75), and configurations in the old spelling; and
//! a configuration whose environment mixes platforms.

use std::path::Path;

use assert_cmd::Command;
use shipdeck::config::{self, PlatformKind};

/// A data dir holding the fixture's ledger and world.
fn old_data() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shipdeck");
    std::fs::create_dir_all(&data).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ledger-v1");
    for f in ["demo-ledger.jsonl", "demo-world.json"] {
        std::fs::copy(fixture.join(f), data.join(f)).unwrap();
    }
    dir
}

fn shipdeck(data: &Path) -> Command {
    let mut c = Command::cargo_bin("shipdeck").unwrap();
    c.env("XDG_DATA_HOME", data)
        .env("XDG_STATE_HOME", data.join("state"))
        .env("SHIPDECK_LOG_FILE", data.join("log"))
        .env("SHIPDECK_OPERATOR", "alice");
    c
}

#[test]
fn an_old_ledger_reads_verifies_and_offers_the_same_rollback_target() {
    let data = old_data();
    let out = shipdeck(data.path())
        .args(["audit", "verify", "--demo"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("OK, 6 records, hash chain intact"), "{said}");

    // Its revisions read back as they were written.
    let out = shipdeck(data.path())
        .args(["audit", "--demo", "--json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"to_revision\":\"shop-checkout:4\""),
        "{text}"
    );

    // What the release before the change offered for this world and ledger
    // (its own output, run on the same fixture), word for word.
    let out = shipdeck(data.path())
        .args(["rollback", "--demo", "checkout", "--env", "staging"])
        .write_stdin("")
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains(
            "roll back checkout in staging: shop-checkout:4 (947977cd4ff3) → shop-checkout:3 (036ee2bf7045) [UNVERIFIED: no stable record; newest older ACTIVE revision]"
        ),
        "{said}"
    );
    // Nothing was changed without a confirmation.
    assert_eq!(out.status.code(), Some(2));
}

const OLD_PROXY: &str = r#"
[[environment]]
name = "edge"
provider = "proxy"
[environment.proxy]
kind = "haproxy"
url = "http://127.0.0.1:8080"
socket = "/run/haproxy/admin.sock"
[[environment.service]]
name = "api"
blue = "http://127.0.0.1:5001"
green = "http://127.0.0.1:5002"
deploy = ["./deploy-colour", "{colour}", "{digest}"]
"#;

#[test]
fn the_old_spelling_still_works_and_is_named_with_the_new_one() {
    let cfg = config::parse_str(OLD_PROXY, "old.toml", None).unwrap();
    let edge = cfg.env("edge").unwrap();
    assert_eq!(edge.platform, PlatformKind::Proxy);
    assert_eq!(edge.services[0].platform, PlatformKind::Proxy);
    assert!(
        cfg.notes
            .iter()
            .any(|n| n.starts_with("old.toml:4:1:") && n.contains("write platform = \"proxy\"")),
        "{:?}",
        cfg.notes
    );
    let new = OLD_PROXY.replace("provider = \"proxy\"", "platform = \"proxy\"");
    let cfg = config::parse_str(&new, "new.toml", None).unwrap();
    assert_eq!(cfg.env("edge").unwrap().platform, PlatformKind::Proxy);
    assert!(cfg.notes.is_empty(), "{:?}", cfg.notes);
}

const OLD_ECS: &str = r#"
[[environment]]
name = "dev"
region = "eu-west-1"
profile = "shop-dev"
cluster = "shop-dev"
ecs_endpoint_url = "http://127.0.0.1:5000"
cloudwatch_endpoint_url = "http://127.0.0.1:4566"
[[environment.service]]
name = "api"
ecs_service = "shop-api-dev"
container = "app"
"#;

const NEW_ECS: &str = r#"
[[environment]]
name = "dev"
[environment.aws]
region = "eu-west-1"
profile = "shop-dev"
endpoints = { ecs = "http://127.0.0.1:5000", cloudwatch = "http://127.0.0.1:4566" }
[environment.ecs]
cluster = "shop-dev"
[[environment.service]]
name = "api"
[environment.service.ecs]
service = "shop-api-dev"
container = "app"
"#;

#[test]
fn ecs_keys_read_the_same_flat_or_in_their_sections_and_the_flat_ones_are_named() {
    let old = config::parse_str(OLD_ECS, "old.toml", None).unwrap();
    let new = config::parse_str(NEW_ECS, "new.toml", None).unwrap();
    let (o, n) = (old.env("dev").unwrap(), new.env("dev").unwrap());
    assert_eq!(o.aws, n.aws);
    assert_eq!(o.ecs, n.ecs);
    assert_eq!(o.services[0].ecs, n.services[0].ecs);
    let aws = n.aws.as_ref().unwrap();
    assert_eq!(aws.endpoint("ecs"), Some("http://127.0.0.1:5000"));
    assert_eq!(aws.endpoint("logs"), Some("http://127.0.0.1:4566"));
    assert_eq!(n.services[0].ecs.as_ref().unwrap().container, "app");
    assert!(new.notes.is_empty(), "{:?}", new.notes);
    let note = old.notes.join("\n");
    for moved in [
        "region → [environment.aws] region",
        "cluster → [environment.ecs] cluster",
        "ecs_endpoint_url → [environment.aws.endpoints] ecs",
        "ecs_service → [environment.service.ecs] service",
        "container → [environment.service.ecs] container",
    ] {
        assert!(note.contains(moved), "{moved}: {note}");
    }
    assert!(note.starts_with("old.toml:3:1:"), "{note}");
}

#[test]
fn aws_and_ecs_keys_are_checked_where_they_are_written() {
    for (from, to, want) in [
        // Both spellings at once: which was meant?
        (
            "name = \"dev\"\n",
            "name = \"dev\"\ncluster = \"x\"\n",
            "sets cluster twice",
        ),
        (
            "region = \"eu-west-1\"",
            "region = \"europe\"",
            "is not an AWS region",
        ),
        (
            "ecs = \"http://127.0.0.1:5000\"",
            "s3 = \"http://x\"",
            "unknown API \"s3\"",
        ),
        (
            "ecs = \"http://127.0.0.1:5000\"",
            "ecs = \"127.0.0.1:5000\"",
            "not an http(s) URL",
        ),
        (
            "[environment.ecs]\ncluster = \"shop-dev\"\n",
            "",
            "missing required key \"cluster\"",
        ),
        (
            "container = \"app\"",
            "image = \"app\"",
            "unknown key \"image\"",
        ),
    ] {
        let text = NEW_ECS.replacen(from, to, 1);
        assert_ne!(text, NEW_ECS, "{from}");
        let err = config::parse_str(&text, "t.toml", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{from} → {to}: {err}");
        assert!(err.contains("t.toml:"), "located: {err}");
    }
}

#[test]
fn a_service_off_ecs_may_not_watch_cloudwatch_and_an_ecs_service_needs_its_cluster() {
    // CloudWatch is read only in an ECS reading: a proxy service's alarms
    // would never be read, and no alarm looks like none firing.
    let watched = OLD_PROXY.replace(
        "name = \"api\"\n",
        "name = \"api\"\nalarms = [\"api-5xx\"]\n",
    );
    let err = config::parse_str(&watched, "t.toml", None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("runs on platform \"proxy\" but watches CloudWatch"),
        "{err}"
    );
    // An ECS service in a proxy environment needs the environment's AWS keys.
    let mixed =
        format!("{OLD_PROXY}[[environment.service]]\nname = \"worker\"\nplatform = \"ecs\"\n");
    let err = config::parse_str(&mixed, "t.toml", None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing required key \"region\""), "{err}");
    assert!(err.contains("missing required key \"cluster\""), "{err}");
    assert!(err.contains("service \"worker\" runs on ECS"), "{err}");
}

const MIXED: &str = r#"
[[environment]]
name = "prod"
region = "eu-west-1"
cluster = "shop-prod"
platform = "ecs"
[environment.proxy]
kind = "haproxy"
url = "http://127.0.0.1:8080"
socket = "/run/haproxy/admin.sock"
[[environment.service]]
name = "api"
[[environment.service]]
name = "thumbs"
platform = "proxy"
blue = "http://127.0.0.1:5001"
green = "http://127.0.0.1:5002"
deploy = ["./deploy-colour", "{colour}", "{digest}"]
"#;

#[test]
fn one_environment_may_run_services_on_different_platforms() {
    let cfg = config::parse_str(MIXED, "mixed.toml", None).unwrap();
    let prod = cfg.env("prod").unwrap();
    let kinds: Vec<_> = prod.services.iter().map(|s| s.platform).collect();
    assert_eq!(kinds, [PlatformKind::Ecs, PlatformKind::Proxy]);
    assert!(prod.services[0].proxy.is_none(), "api has no colours");
    assert!(prod.services[1].proxy.is_some(), "thumbs has its colours");
    assert_eq!(
        shipdeck::platforms::kinds(prod),
        [PlatformKind::Ecs, PlatformKind::Proxy]
    );
    // A service on the proxy needs the environment's [proxy].
    let bad = MIXED.replace(
        "[environment.proxy]\nkind = \"haproxy\"\nurl = \"http://127.0.0.1:8080\"\nsocket = \"/run/haproxy/admin.sock\"\n",
        "",
    );
    let err = config::parse_str(&bad, "mixed.toml", None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("runs on platform \"proxy\" but its environment has no [proxy]"),
        "{err}"
    );
    // A [proxy] nobody uses is a mistake, said as before.
    let unused = MIXED.replace("platform = \"proxy\"\n", "");
    let err = config::parse_str(&unused, "mixed.toml", None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("its provider is not \"proxy\""), "{err}");
}
