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
