//! The registry reader against a real registry (Debian's `docker-registry`
//! with htpasswd auth, `support::registry`): labels, cosign signatures and
//! attestations read back exactly; credentials wrong or the registry down
//! are errors naming the host; kept readings make no request, counted by
//! shipdeck and by the registry's own access log.

use std::sync::Arc;

use shipdeck::config::registry::RegistryConfig;
use shipdeck::model::{Digest, ImageRef};
use shipdeck::registry::{Registries, RegistryError};

use crate::support::registry::{PASSWORD, Registry, USER, no_secrets};

const LABELS: &[(&str, &str)] = &[
    (
        "org.opencontainers.image.revision",
        "4f2c9a1e0b7d3c5a6e8f9012345678901234abcd",
    ),
    (
        "org.opencontainers.image.source",
        "https://github.com/acme/api",
    ),
    ("org.opencontainers.image.created", "2026-12-01T10:00:00Z"),
    ("org.opencontainers.image.version", "1.4.2"),
    ("com.example.other", "ignored"),
];

fn config(reg: &Registry) -> Arc<RegistryConfig> {
    Arc::new(RegistryConfig {
        read: vec![reg.host.clone()],
        insecure: vec![reg.host.clone()],
        ..Default::default()
    })
}

fn registries(reg: &Registry, cache: Option<&std::path::Path>) -> Registries {
    Registries::with_docker_config(
        config(reg),
        cache.map(std::path::Path::to_path_buf),
        no_secrets(),
        reg.docker_config(USER, PASSWORD),
    )
}

fn image(reg: &Registry, repo: &str, digest: &Digest) -> ImageRef {
    ImageRef::parse(&format!("{}/{repo}@{digest}", reg.host)).unwrap()
}

fn payload(digest: &Digest) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"x"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
    )
    .into_bytes()
}

#[tokio::test]
async fn labels_signatures_and_attestations_read_back_exactly() {
    let reg = Registry::start();
    let digest = reg.push_image("team/api", LABELS);
    let (p1, p2) = (payload(&digest), payload(&Digest::of_bytes(b"other")));
    reg.push_signatures(
        "team/api",
        &digest,
        &[(&p1, "MEUCIQsig1=="), (&p2, "MEUCIQsig2==")],
    );
    let envelope = br#"{"payloadType":"application/vnd.in-toto+json","payload":"eyJ9","signatures":[{"keyid":"","sig":"MEQ="}]}"#;
    reg.push_attestation("team/api", &digest, envelope);

    let r = registries(&reg, None);
    let img = image(&reg, "team/api", &digest);
    assert!(r.reads(&img));
    let reading = r.read(&img, false).await.unwrap();
    assert_eq!(reading.image, format!("{}/team/api@{digest}", reg.host));
    assert_eq!(reading.labels.revision.as_deref(), Some(LABELS[0].1));
    assert_eq!(reading.labels.source.as_deref(), Some(LABELS[1].1));
    assert_eq!(reading.labels.created.as_deref(), Some(LABELS[2].1));
    assert_eq!(reading.labels.version.as_deref(), Some(LABELS[3].1));
    assert_eq!(reading.signatures.len(), 2);
    assert_eq!(reading.signatures[0].payload, p1);
    assert_eq!(reading.signatures[0].signature, "MEUCIQsig1==");
    assert_eq!(reading.signatures[1].payload, p2);
    assert_eq!(reading.signatures[1].signature, "MEUCIQsig2==");
    assert_eq!(reading.attestations, vec![envelope.to_vec()]);
    // manifest + config + .sig manifest + 2 payloads + .att manifest + 1 envelope
    assert_eq!(r.requests(), 7);
}

#[tokio::test]
async fn a_digest_without_sig_or_att_tags_reads_empty_lists_and_an_unknown_digest_is_not_found() {
    let reg = Registry::start();
    let digest = reg.push_image("team/web", &[]);
    let r = registries(&reg, None);
    let reading = r
        .read(&image(&reg, "team/web", &digest), false)
        .await
        .unwrap();
    assert!(reading.signatures.is_empty());
    assert!(reading.attestations.is_empty());
    assert_eq!(reading.labels, shipdeck::registry::Labels::default());

    let missing = Digest::of_bytes(b"never pushed");
    let e = r
        .read(&image(&reg, "team/web", &missing), false)
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains(missing.as_str()), "{e}");
}

#[tokio::test]
async fn a_wrong_password_is_unauthorized_naming_the_host_and_never_the_secret() {
    let reg = Registry::start();
    let digest = reg.push_image("team/api", LABELS);
    let r = Registries::with_docker_config(
        config(&reg),
        None,
        no_secrets(),
        reg.docker_config(USER, "wrong-canary-pw"),
    );
    let e = r
        .read(&image(&reg, "team/api", &digest), false)
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::Unauthorized { .. }), "{e:?}");
    let text = format!("{e} {e:?}");
    assert!(text.contains(&reg.host), "{text}");
    assert!(!text.contains("wrong-canary-pw"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");

    // Anonymous is refused the same way.
    let anon = Registries::with_docker_config(
        config(&reg),
        None,
        no_secrets(),
        shipdeck::registry::DockerConfig::default(),
    );
    let e = anon
        .read(&image(&reg, "team/api", &digest), false)
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::Unauthorized { .. }), "{e:?}");
}

#[tokio::test]
async fn a_keyring_secret_wins_over_the_docker_configuration() {
    use shipdeck::secrets::{MemoryStore, Redactor, SecretStore, Secrets};
    let reg = Registry::start();
    let digest = reg.push_image("team/api", LABELS);
    let store = MemoryStore::default();
    store
        .set("LOCAL_REGISTRY", &format!("{USER}:{PASSWORD}"))
        .unwrap();
    let mut cfg = (*config(&reg)).clone();
    cfg.auth.insert(reg.host.clone(), "LOCAL_REGISTRY".into());
    let r = Registries::with_docker_config(
        Arc::new(cfg),
        None,
        Secrets::with_env(Arc::new(store), Redactor::default(), |_| None),
        reg.docker_config(USER, "wrong-pw"),
    );
    let reading = r
        .read(&image(&reg, "team/api", &digest), false)
        .await
        .unwrap();
    assert_eq!(reading.labels.source.as_deref(), Some(LABELS[1].1));
}

#[tokio::test]
async fn a_registry_that_is_down_is_unreachable_and_not_asked_again_at_once() {
    let mut reg = Registry::start();
    let digest = reg.push_image("team/api", LABELS);
    let r = registries(&reg, None);
    let img = image(&reg, "team/api", &digest);
    reg.stop();
    let e = r.read(&img, false).await.unwrap_err();
    assert!(matches!(e, RegistryError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains(&reg.host), "{e}");
    let asked = r.requests();
    assert!(asked >= 1);
    // Within 30 s the failure is answered from memory…
    assert_eq!(r.read(&img, false).await.unwrap_err(), e);
    assert_eq!(r.requests(), asked);
    // …for every image on that host…
    let other = image(&reg, "team/web", &Digest::of_bytes(b"web"));
    assert_eq!(r.read(&other, false).await.unwrap_err(), e);
    assert_eq!(r.requests(), asked);
    // …unless asked to recheck.
    assert!(r.read(&img, true).await.is_err());
    assert_eq!(r.requests(), asked + 1);
    assert!(r.cached(&img).is_none());
}

#[tokio::test]
async fn a_kept_reading_makes_no_request_also_after_a_restart() {
    let reg = Registry::start();
    let digest = reg.push_image("team/api", LABELS);
    reg.push_signature("team/api", &digest, &payload(&digest), "MEUCsig==");
    let cache = tempfile::tempdir().unwrap();
    let r = registries(&reg, Some(cache.path()));
    let img = image(&reg, "team/api", &digest);
    let first = r.read(&img, false).await.unwrap();
    let (ours, theirs) = (r.requests(), reg.settled_client_requests());
    assert!(ours > 0 && theirs >= ours, "ours {ours}, registry {theirs}");

    assert_eq!(r.read(&img, false).await.unwrap(), first);
    assert_eq!(r.cached(&img), Some(first.clone()));
    assert_eq!(r.requests(), ours);
    assert_eq!(reg.settled_client_requests(), theirs);

    // A new process: the disk has it.
    let again = registries(&reg, Some(cache.path()));
    assert_eq!(again.cached(&img), Some(first.clone()));
    assert_eq!(again.read(&img, false).await.unwrap(), first);
    assert_eq!(again.requests(), 0);
    assert_eq!(reg.settled_client_requests(), theirs);
    println!(
        "kept reading: shipdeck counted {ours} calls for the first reading, 0 after; the registry logged {theirs}, then none"
    );
}

#[tokio::test]
async fn recheck_sees_a_signature_pushed_after_the_first_reading() {
    let reg = Registry::start();
    let digest = reg.push_image("team/api", LABELS);
    let r = registries(&reg, None);
    let img = image(&reg, "team/api", &digest);
    assert!(r.read(&img, false).await.unwrap().signatures.is_empty());
    reg.push_signature("team/api", &digest, &payload(&digest), "MEUClater==");
    // Without recheck the kept reading stands.
    assert!(r.read(&img, false).await.unwrap().signatures.is_empty());
    let before = r.requests();
    let rechecked = r.read(&img, true).await.unwrap();
    assert_eq!(rechecked.signatures.len(), 1);
    assert_eq!(rechecked.signatures[0].signature, "MEUClater==");
    assert_eq!(rechecked.labels.revision.as_deref(), Some(LABELS[0].1));
    // Labels came from the cache: .sig manifest + payload + .att manifest.
    assert_eq!(r.requests() - before, 3);
    assert_eq!(r.cached(&img).unwrap().signatures.len(), 1);
}

#[tokio::test]
async fn a_blob_over_the_bound_is_refused_unread() {
    let reg = Registry::start();
    let big = "x".repeat(usize::try_from(shipdeck::registry::BLOB_MAX).unwrap() + 1);
    let digest = reg.push_image(
        "team/big",
        &[("org.opencontainers.image.description", &big)],
    );
    let r = registries(&reg, None);
    let e = r
        .read(&image(&reg, "team/big", &digest), false)
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::BadAnswer { .. }), "{e:?}");
    assert!(e.to_string().contains("over the"), "{e}");
    // The manifest was read, the blob was not.
    assert_eq!(r.requests(), 1);
}

#[tokio::test]
async fn a_registry_that_never_answers_times_out() {
    // Accepts connections and says nothing.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let cfg = RegistryConfig {
        insecure: vec![host.clone()],
        ..Default::default()
    };
    let r = Registries::with_docker_config(
        Arc::new(cfg),
        None,
        no_secrets(),
        shipdeck::registry::DockerConfig::default(),
    );
    let img = ImageRef::parse(&format!("{host}/team/api@{}", Digest::of_bytes(b"x"))).unwrap();
    let started = std::time::Instant::now();
    let e = r.read(&img, false).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(e, RegistryError::Timeout { .. }), "{e:?}");
    assert!(e.to_string().contains(&host), "{e}");
    assert!(
        took < shipdeck::registry::CALL_TIMEOUT + std::time::Duration::from_secs(3),
        "{took:?}"
    );
}
