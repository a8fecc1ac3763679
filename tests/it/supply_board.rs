//! A board of 500 services whose images live in a real registry: each
//! digest is read once (labels, signatures, attestations), a board refresh
//! afterwards asks the registry nothing, and a console started again reads
//! what it needs from the disk cache, not the registry. The counts are
//! printed for the closing note and asserted from both sides: the commands
//! the console issued and the requests the registry logged.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use shipdeck::app::keys::KeyMap;
use shipdeck::app::{App, Command, Msg, update};
use shipdeck::clock::ManualClock;
use shipdeck::platforms::sim::{FleetFile, SimFleet, scaled};
use shipdeck::provider::{Provider, ReadScope};
use shipdeck::registry::Registries;

use crate::support::registry::{self, Registry};

const SERVICES: usize = 500;

/// Ticks at `at`, answers every poll from the simulator, and gathers every
/// registry read the console asks for; how many reads it asked for.
async fn refresh(
    app: &mut App,
    sim: &SimFleet,
    cfg: &shipdeck::config::Config,
    registries: &Registries,
    at: chrono::DateTime<Utc>,
) -> usize {
    let mut reads = 0;
    for cmd in update(app, Msg::Tick(at)) {
        let Command::PollEnv { env, request } = cmd else {
            continue;
        };
        let result = sim
            .read_env(&cfg.environments[env], ReadScope::CONSOLE)
            .await;
        assert!(result.is_ok(), "{result:?}");
        for next in update(
            app,
            Msg::EnvPolled {
                env,
                request,
                at,
                result,
            },
        ) {
            let Command::ReadSupply { image, recheck } = next else {
                continue;
            };
            reads += 1;
            let evidence =
                shipdeck::supply::gather::gather(registries, &cfg.supply, &image, recheck).await;
            assert!(evidence.reading.is_ok(), "{image}: {:?}", evidence.reading);
            update(
                app,
                Msg::SupplyRead {
                    digest: image.digest.clone().unwrap(),
                    recheck,
                    evidence: Box::new(evidence),
                },
            );
        }
    }
    reads
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_of_500_services_reads_each_digest_once_and_a_refresh_asks_the_registry_nothing() {
    let reg = Registry::start();
    // One image per service, each with its commit label.
    let digests: Vec<_> = (0..SERVICES)
        .map(|i| {
            let commit = format!("{i:040x}");
            reg.push_image(
                &format!("scale/svc-{i:04}"),
                &[("org.opencontainers.image.revision", commit.as_str())],
            )
        })
        .collect();
    let (cfg_text, fleet_text) = scaled(SERVICES);
    // Every stage runs the service's one pushed image.
    let mut fleet_lines: Vec<String> = Vec::new();
    let mut service = None;
    for line in fleet_text.lines() {
        if let Some(name) = line
            .strip_prefix("family = \"svc-")
            .and_then(|r| r.strip_suffix('"'))
        {
            service = name.parse::<usize>().ok();
        }
        if line.starts_with("releases = ")
            && let Some(i) = service
        {
            fleet_lines.push(format!("releases = [\"1.1@{}\"]", digests[i]));
            continue;
        }
        fleet_lines.push(line.replace("registry.example.com", &reg.host));
    }
    let fleet = FleetFile::parse(&fleet_lines.join("\n"), "<scaled>").unwrap();
    let cfg_text = format!(
        "{cfg_text}\n[registry]\nread = [\"{h}\"]\ninsecure = [\"{h}\"]\n",
        h = reg.host
    );
    let cfg = shipdeck::config::parse_str(&cfg_text, "<scaled>", None).unwrap();
    let now = Utc::now();
    let sim = SimFleet::new(&fleet, 1, Arc::new(ManualClock::new(now)));
    let cache = tempfile::tempdir().unwrap();
    let open = || {
        Registries::with_docker_config(
            cfg.registry.clone(),
            Some(cache.path().to_path_buf()),
            registry::no_secrets(),
            reg.docker_config(registry::USER, registry::PASSWORD),
        )
    };
    let registries = open();

    // The first board: every digest once, whichever stages show it.
    let mut app = App::new(&cfg, KeyMap::default(), "alice".into(), now);
    let first = refresh(&mut app, &sim, &cfg, &registries, now).await;
    let first_requests = reg.settled_client_requests();
    println!(
        "board of {SERVICES} services in 3 stages: {first} digests read, {first_requests} registry requests ({} counted by shipdeck)",
        registries.requests()
    );
    assert_eq!(first, SERVICES, "each digest read once, not once per stage");
    assert!(first_requests > 0);
    // The labels reached the board.
    let staging = app.envs[1].snapshot.as_ref().unwrap();
    let svc = staging.service("svc-0007").unwrap();
    assert_eq!(
        svc.image
            .as_ref()
            .and_then(shipdeck::model::ImageRef::commit)
            .as_deref(),
        Some("0000000"),
        "{:?}",
        svc.image
    );

    // A refresh: nothing asked.
    let later = now + chrono::Duration::seconds(60);
    let again = refresh(&mut app, &sim, &cfg, &registries, later).await;
    let again_requests = reg.settled_client_requests() - first_requests;
    println!("board refresh: {again} digests read, {again_requests} registry requests");
    assert_eq!(again, 0);
    assert_eq!(again_requests, 0);

    // A console started again: the digests are asked for, and answered
    // from the disk cache.
    let registries = open();
    let mut app = App::new(&cfg, KeyMap::default(), "alice".into(), later);
    let restarted = refresh(&mut app, &sim, &cfg, &registries, later).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let restarted_requests = reg.settled_client_requests() - first_requests;
    println!(
        "console started again: {restarted} digests asked, {restarted_requests} registry requests"
    );
    assert_eq!(restarted, SERVICES);
    assert_eq!(restarted_requests, 0);
}
