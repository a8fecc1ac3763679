//! `allowed_regions` in the console: the gate reads where the target's units
//! run (the simulated ECS services report their environment's AWS region),
//! says its verdict with its reason in the wizard's gate list, whole at
//! 80 columns, and a unit outside the list keeps the gate NO-GO.

use shipdeck::config::Config;
use shipdeck::gate::Verdict;
use shipdeck::platforms::sim::FleetFile;

use crate::support::console::{Harness, monday};

/// The demo's configuration with prod's `allowed_regions` set to `regions`
/// (a TOML list), whatever the demo sets there itself.
fn demo_allowing(regions: &str) -> Config {
    let text: String = include_str!("../../../assets/demo-config.toml")
        .lines()
        .filter(|l| !l.trim_start().starts_with("allowed_regions"))
        .flat_map(|l| [l, "\n"])
        .collect();
    let prod = text.find("name = \"prod\"").unwrap();
    let gate = prod + text[prod..].find("[environment.gate]\n").unwrap();
    let at = gate + "[environment.gate]\n".len();
    let text = format!(
        "{}allowed_regions = {regions}\n{}",
        &text[..at],
        &text[at..]
    );
    shipdeck::config::parse_str(&text, "demo-config.toml", None).unwrap()
}

async fn prod_wizard(regions: &str, service: &str) -> Harness {
    let fleet = FleetFile::demo().unwrap();
    let mut h = Harness::with_fleet(demo_allowing(regions), &fleet, "alice", monday()).await;
    h.open_prod_wizard(service).await;
    h.approve("bob");
    h.approve("carol");
    h.tick(3).await;
    h
}

/// The screen's words, borders dropped, so a reason wrapped under itself
/// reads whole.
fn words(screen: &str) -> String {
    screen
        .split_whitespace()
        .filter(|w| !w.chars().all(|c| "│┌┐└┘─".contains(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn a_service_outside_allowed_regions_is_refused_naming_it_and_its_region() {
    let mut h = prod_wizard("[\"fra\", \"ams\"]", "api").await;
    let c = h.check("allowed_regions");
    assert_eq!(c.verdict, Verdict::Fail, "{c:?}");
    assert_eq!(
        c.reason,
        "service shop-api-prod runs in eu-central-1, outside allowed_regions [fra, ams]"
    );
    assert!(!h.gate_go());
    for (w, ht) in [(80, 24), (120, 40)] {
        let screen = h.screen(w, ht);
        insta::assert_snapshot!(format!("wizard_allowed_regions_fail_{w}x{ht}"), screen);
        assert!(
            words(&screen).contains(
                "allowed_regions service shop-api-prod runs in eu-central-1, outside allowed_regions [fra, ams]"
            ),
            "{screen}"
        );
    }
    // NO-GO: `g` issues nothing.
    h.keys("g").await;
    h.keys("prod").await;
    h.enter().await;
    assert!(h.issued.is_empty());
}

#[tokio::test]
async fn inside_allowed_regions_the_check_passes_for_ecs_and_lambda() {
    let h = prod_wizard("[\"fra\", \"ams\", \"eu-central-1\"]", "api").await;
    let c = h.check("allowed_regions");
    assert_eq!(
        (c.verdict, c.reason.as_str()),
        (Verdict::Pass, "1 service in eu-central-1")
    );
    // Lambda: the function is placed in its environment's AWS region too.
    let h = prod_wizard("[\"eu-central-1\"]", "thumbnailer").await;
    let c = h.check("allowed_regions");
    assert_eq!(
        (c.verdict, c.reason.as_str()),
        (Verdict::Pass, "1 service in eu-central-1")
    );
}

/// The demo's readings with OCI labels on api's images: staging's (the
/// source) built from `9f8e7d6…` of github.com/acme/api, prod's from `1a2b3c4…`.
async fn labelled(h: &mut Harness) {
    use shipdeck::app::{Command, Msg, update};
    use shipdeck::clock::Clock as _;
    let now = h.clock.now();
    let cmds = update(&mut h.app, Msg::Tick(now + chrono::Duration::seconds(30)));
    for cmd in cmds {
        if let Command::PollEnv { env, request } = cmd {
            let mut result = shipdeck::provider::read_with_timeout(
                &h.provider,
                &h.cfg.environments[env],
                shipdeck::provider::ReadScope::CONSOLE,
            )
            .await;
            if let Ok(snap) = &mut result
                && let Some(api) = snap.services.iter_mut().find(|s| s.name == "api")
                && let Some(img) = &mut api.image
            {
                let (rev, source) = match snap.env.as_str() {
                    "staging" => (
                        "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432",
                        "https://github.com/acme/api",
                    ),
                    _ => (
                        "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d",
                        "https://github.com/acme/api",
                    ),
                };
                img.revision = Some(rev.into());
                img.source = Some(source.into());
            }
            update(
                &mut h.app,
                Msg::EnvPolled {
                    env,
                    request,
                    at: now,
                    result,
                },
            );
        }
    }
}

#[tokio::test]
async fn the_detail_pane_and_the_plan_name_the_images_commit_and_source() {
    let mut h = Harness::new("alice", monday()).await;
    labelled(&mut h).await;
    h.select("api", "prod");
    h.enter().await;
    let screen = h.screen(120, 40);
    assert!(screen.contains("Detail · api @ prod"), "{screen}");
    // The image line, wrapped under its label: reference, commit, source.
    assert!(
        screen.contains("f0531c522f37eb5fd6afe · commit 1a2b3c4 ·")
            && screen.contains("│         github.com/acme/api "),
        "{screen}"
    );
    h.esc().await;
    h.open_prod_wizard("api").await;
    let screen = h.screen(120, 40);
    assert!(
        screen.contains("commit 1a2b3c4 → 9f8e7d6 · source github.com/acme/api"),
        "{screen}"
    );
}

#[tokio::test]
async fn a_fly_machine_outside_allowed_regions_is_named_with_its_region() {
    // The demo's edge runs four machines, two in fra and two in ams.
    let h = prod_wizard("[\"fra\"]", "edge").await;
    let c = h.check("allowed_regions");
    assert_eq!(c.verdict, Verdict::Fail, "{c:?}");
    assert_eq!(c.reason.matches("runs in ams").count(), 2, "{}", c.reason);
    assert!(c.reason.starts_with("machine "), "{}", c.reason);
    assert!(
        c.reason.ends_with(", outside allowed_regions [fra]"),
        "{}",
        c.reason
    );
    assert!(!h.gate_go());
    let h = prod_wizard("[\"fra\", \"ams\"]", "edge").await;
    let c = h.check("allowed_regions");
    assert_eq!(
        (c.verdict, c.reason.as_str()),
        (Verdict::Pass, "4 machines in fra, ams")
    );
}
