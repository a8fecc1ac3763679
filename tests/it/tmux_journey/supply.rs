//! A digest's supply chain at the moment of the decision, through the
//! console against a real registry: prod's gate checks `signed` and
//! `provenance`; staging runs an image that is not signed, so the wizard
//! refuses it naming why; once CI's key has signed that very digest, the
//! wizard opened again reads the signature afresh, the gate passes, and the
//! deploy's records keep the key it verified with and the commit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;

use super::{WAIT, launch, run_as, word_after};
use crate::support::cosign::{self, Key};
use crate::support::registry::{self, Registry};
use crate::support::tmux::Tmux;
use shipdeck::model::Digest;

const OLD_COMMIT: &str = "1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const NEW_COMMIT: &str = "2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// The release-test stages, their images in `reg`; prod checks signatures
/// and provenance with CI's key, and wants one approval from someone else.
fn config(dir: &Path, reg: &Registry, key: &Key, old: &str, new: &str) -> PathBuf {
    let repo = format!("{}/team/api", reg.host);
    let fleet = std::fs::read_to_string("tests/configs/good/release-fleet.toml")
        .unwrap()
        .replace("registry.example.com/team/api", &repo)
        .replace(
            "releases = [\"1.0\", \"1.1\"]",
            &format!("releases = [\"1.0@{old}\", \"1.1@{new}\"]"),
        )
        .replace(
            "releases = [\"0.9\", \"1.0\"]",
            &format!("releases = [\"0.9\", \"1.0@{old}\"]"),
        );
    std::fs::write(dir.join("release-fleet.toml"), fleet).unwrap();
    std::fs::write(dir.join("ci.pub"), key.public_pem()).unwrap();
    let base = std::fs::read_to_string("tests/configs/good/release.toml").unwrap();
    let text = format!(
        "{}\n[registry]\nread = [\"{host}\"]\ninsecure = [\"{host}\"]\n\n[supply_chain]\nkeys = [{{ name = \"ci\", pem = \"ci.pub\" }}]\n",
        base.replace(
            "change_record_pattern = \"^CHG-[0-9]+$\"",
            "checks = [\"rollout_completed\", \"alarms_ok\", \"not_in_flight\", \"pinned\", \"fresh\", \"signed\", \"provenance\"]",
        ),
        host = reg.host
    );
    let path = dir.join("shipdeck.toml");
    std::fs::write(&path, text).unwrap();
    // The user's own Docker login to the registry.
    let auth = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        registry::USER,
        registry::PASSWORD
    ));
    std::fs::create_dir_all(dir.join("docker")).unwrap();
    std::fs::write(
        dir.join("docker/config.json"),
        format!("{{\"auths\":{{\"{}\":{{\"auth\":\"{auth}\"}}}}}}", reg.host),
    )
    .unwrap();
    path
}

/// The registry with prod's image (signed) and staging's new one (not
/// yet), and the stages' configuration over them.
fn stages() -> (Registry, Key, Digest, Digest, tempfile::TempDir, PathBuf) {
    let reg = Registry::start();
    let key = Key::p256();
    let labels = |commit: &'static str, created: &'static str| {
        [
            ("org.opencontainers.image.revision", commit),
            (
                "org.opencontainers.image.source",
                "https://github.com/acme/api",
            ),
            ("org.opencontainers.image.created", created),
        ]
    };
    let old = reg.push_image("team/api", &labels(OLD_COMMIT, "2026-11-20T09:00:00Z"));
    let new = reg.push_image("team/api", &labels(NEW_COMMIT, "2026-12-01T10:02:00Z"));
    sign(&reg, &key, &old);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &reg, &key, old.as_str(), new.as_str());
    (reg, key, old, new, dir, cfg)
}

/// The promotion's `gate_evaluated` record in the ledger under `dir`.
fn gate_record(dir: &Path) -> serde_json::Value {
    let ledger = std::fs::read_to_string(dir.join("data/shipdeck/ledger.jsonl")).unwrap();
    ledger
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["record"].clone())
        .find(|r| r["kind"] == "gate_evaluated")
        .unwrap_or_else(|| panic!("no gate record in:\n{ledger}"))
}

/// CI signs `d` with `key`, as `cosign sign` does.
fn sign(reg: &Registry, key: &Key, d: &Digest) {
    let payload = cosign::simple_signing_payload(&format!("{}/team/api", reg.host), d.as_str());
    reg.push_signature("team/api", d, &payload, &key.sign_b64(&payload));
}

/// The same through the CLI: `promote --json` names the unsigned digest's
/// refusal in its checks and deploys nothing; once CI signed it and bob
/// approved, the promotion goes through and its gate record keeps the key.
#[test]
fn the_cli_refuses_an_unsigned_digest_and_promotes_it_once_signed() {
    let (reg, key, _, new, dir, cfg) = stages();
    let promote = ["promote", "api", "--to", "prod", "--yes", "--json"];
    let (ok, said) = run_as(dir.path(), &cfg, "alice", &promote);
    assert!(!ok, "{said}");
    // The report comes first (stdout), then what was said on stderr.
    let report: serde_json::Value = serde_json::Deserializer::from_str(&said)
        .into_iter::<serde_json::Value>()
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("no report in: {said}"));
    let signed = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "signed"))
        .cloned()
        .unwrap_or_else(|| panic!("{said}"));
    assert_eq!(signed["verdict"], "fail", "{said}");
    assert_eq!(signed["reason"], "no cosign signature for this digest");
    let id = report["promotion"].as_str().unwrap().to_string();

    sign(&reg, &key, &new);
    let (ok, said) = run_as(dir.path(), &cfg, "bob", &["approve", "--yes", &id]);
    assert!(ok, "{said}");
    let mut args = promote.to_vec();
    args.push("--wait");
    let (ok, said) = run_as(dir.path(), &cfg, "alice", &args);
    assert!(ok, "{said}");
    let gate = gate_record(dir.path());
    assert_eq!(gate["supply"]["key"], "ci", "{gate}");
    assert_eq!(gate["supply"]["commit"], NEW_COMMIT, "{gate}");
}

#[test]
fn an_unsigned_digest_is_refused_into_prod_and_passes_once_ci_signed_it() {
    let Some(tmux) = Tmux::start("supply", 120, 40) else {
        return;
    };
    let (reg, key, _, new, dir, cfg) = stages();
    let sign = |d: &Digest| sign(&reg, &key, d);
    tmux.wait_for("PROMPT$", WAIT);
    tmux.run(&format!(
        "export XDG_DATA_HOME={d}/data XDG_CACHE_HOME={d}/cache DOCKER_CONFIG={d}/docker SHIPDECK_OPERATOR=alice; clear",
        d = dir.path().display()
    ));
    launch(&tmux, &format!("--config {}", cfg.display()));
    tmux.wait_for("✓ read", WAIT);

    // The wizard into prod: the plan says where the digest was built from
    // and the gate refuses it, unsigned.
    tmux.send(&["l", "l", "p"]);
    let screen = tmux.wait_for("no cosign signature for this digest", WAIT);
    assert!(screen.contains("Promote api · staging → prod"), "{screen}");
    // The plan names both commits once prod's image was read too.
    let screen = tmux.wait_for("commit 1111111 → 2222222", WAIT);
    assert!(screen.contains("github.com/acme/api"), "{screen}");
    assert!(screen.contains("NO-GO"), "{screen}");
    // At 80×24 the refusal reads whole.
    tmux.resize(80, 24);
    let screen = tmux.wait_for("no cosign signature for this digest", WAIT);
    assert!(screen.contains("✗ signed"), "{screen}");
    tmux.resize(120, 40);
    tmux.send(&["Escape"]);
    tmux.wait_gone("Promote api", WAIT);

    // CI signs that very digest; the wizard, opened again, reads it afresh.
    sign(&new);
    tmux.send(&["p"]);
    tmux.wait_for("signed by ci", WAIT);
    let screen = tmux.wait_for("Approvals for ", WAIT);
    let id = word_after(&screen, "Approvals for ")
        .trim_end_matches(':')
        .to_string();
    assert!(!screen.contains("no cosign signature"), "{screen}");

    // bob sees the same from his terminal, and approves.
    let (ok, said) = run_as(dir.path(), &cfg, "bob", &["approve", "--yes", &id]);
    assert!(ok, "{said}");
    assert!(
        said.contains("built from  commit 1111111 → 2222222"),
        "{said}"
    );
    assert!(said.contains("signed      ✓ signed by ci"), "{said}");

    // GO, typed, deployed.
    tmux.wait_for("Gate: GO", WAIT);
    tmux.send(&["g"]);
    tmux.wait_for("Type \"prod\" and press enter to deploy", WAIT);
    tmux.send(&["-l", "prod"]);
    tmux.send(&["Enter"]);
    tmux.wait_for("deploy of api in prod succeeded", Duration::from_mins(2));
    tmux.send(&["Enter"]);
    tmux.wait_gone("Deploy api · prod", WAIT);
    tmux.send(&["q"]);
    tmux.wait_for("EXIT=0", WAIT);

    // The records keep the key the signature verified with, and the commit.
    let gate = gate_record(dir.path());
    assert_eq!(gate["supply"]["key"], "ci", "{gate}");
    assert!(
        gate["supply"]["key_id"]
            .as_str()
            .is_some_and(|k| k.starts_with("sha256:") && k.len() == 71),
        "{gate}"
    );
    assert_eq!(gate["supply"]["commit"], NEW_COMMIT, "{gate}");
}
