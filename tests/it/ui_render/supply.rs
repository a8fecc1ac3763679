//! What the registry says of an image, on screen: its commit, source and
//! build time in the detail pane, and in the promotion's plan with a link
//! comparing the two commits.

use shipdeck::app::keys::{Key, KeyCode};
use shipdeck::app::{Msg, update};
use shipdeck::registry::{Labels, Reading};
use shipdeck::supply::gather::Evidence;

use super::{World, snap_both, t0};

/// The registry's labels for the digest `env` runs for `service`.
fn labels_arrive(w: &mut World, env: usize, service: &str, revision: &str, created: &str) {
    let snap = w.app.envs[env].snapshot.as_ref().unwrap();
    let digest = snap.service(service).unwrap().digest.clone().unwrap();
    let reading = Reading {
        image: format!("registry.example.com/team/{service}@{digest}"),
        labels: Labels {
            revision: Some(revision.into()),
            source: Some("https://github.com/acme/api.git".into()),
            created: Some(created.into()),
            version: None,
        },
        signatures: Vec::new(),
        attestations: Vec::new(),
        read_at: t0(),
    };
    update(
        &mut w.app,
        Msg::SupplyRead {
            digest,
            recheck: false,
            evidence: Box::new(Evidence {
                reading: Ok(reading),
                on_branch: None,
            }),
        },
    );
}

#[tokio::test]
async fn the_commit_source_and_build_time_in_the_detail_pane_and_the_plan() {
    let mut w = World::new();
    w.poll_all().await;
    labels_arrive(
        &mut w,
        1,
        "api",
        "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432",
        "2026-12-01T10:02:00Z",
    );
    labels_arrive(
        &mut w,
        2,
        "api",
        "1a2b3c4d5e6f708192a3b4c5d6e7f80912a3b4c5",
        "2026-11-20T09:00:00+01:00",
    );
    // api @ staging, in the detail pane.
    w.key(Key::ch('l'));
    w.key(Key::plain(KeyCode::Enter));
    snap_both("supply_labels_detail", &w);
    let screen = w.screen(120, 40);
    for part in [
        "commit 9f8e7d6",
        "github.com/acme/api",
        "built 2026-12-01 10:02Z",
    ] {
        assert!(screen.contains(part), "{part}:\n{screen}");
    }
    // The plan into prod: both commits, the source, the build time and
    // the compare link (wrapped, whole) at 120×40; at 80×24 the wizard is
    // compact (the confirmation says the rest) and keeps what is open whole.
    w.key(Key::plain(KeyCode::Esc));
    w.key(Key::ch('l'));
    w.key(Key::ch('p'));
    snap_both("supply_labels_plan", &w);
    let screen = w.screen(120, 40);
    assert!(screen.contains("commit 1a2b3c4 → 9f8e7d6"), "{screen}");
    assert!(
        screen.contains("https://github.com/acme/api/compare/1a2b3c4d5e6f708192a3b4c5d6e7f80912a3b4c5...9f8e7d6c"),
        "{screen}"
    );
}

/// The registry cannot be read: the detail pane says so with the reason,
/// and a gate that checks signatures is unknown, never GO.
#[tokio::test]
async fn an_unreachable_registry_is_unknown_in_the_detail_pane_and_at_the_gate() {
    let mut w = World::new();
    let mut cfg = w.cfg.clone();
    cfg.environments[2]
        .gate
        .checks
        .push(shipdeck::config::AutoCheck::Signed);
    w.app = shipdeck::app::App::new(
        &cfg,
        shipdeck::app::keys::KeyMap::default(),
        "alice".into(),
        t0(),
    );
    w.poll_all().await;
    let why = "cannot reach registry.example.com: connection refused";
    let staging = w.app.envs[1].snapshot.as_ref().unwrap();
    let digest = staging.service("api").unwrap().digest.clone().unwrap();
    let down = |recheck| Msg::SupplyRead {
        digest: digest.clone(),
        recheck,
        evidence: Box::new(Evidence {
            reading: Err(why.to_string()),
            on_branch: None,
        }),
    };
    update(&mut w.app, down(false));
    w.key(Key::ch('l'));
    w.key(Key::plain(KeyCode::Enter));
    let screen = w.screen(120, 40);
    assert!(
        screen.contains("registry unknown: cannot reach"),
        "{screen}"
    );
    // The wizard into prod asks the registry afresh; the answer is the same.
    w.key(Key::plain(KeyCode::Esc));
    w.key(Key::ch('l'));
    let cmds = update(&mut w.app, Msg::Key(Key::ch('p')));
    assert!(
        cmds.iter()
            .any(|c| matches!(c, shipdeck::app::Command::ReadSupply { recheck: true, .. })),
        "{cmds:?}"
    );
    let screen = w.screen(120, 40);
    assert!(screen.contains("reading the registry"), "{screen}");
    update(&mut w.app, down(true));
    for (width, height) in [(120, 40), (80, 24)] {
        let screen = w.screen(width, height);
        assert!(screen.contains("NO-GO"), "{screen}");
        assert!(
            screen.contains("? signed") && screen.contains("could not be read: cannot reach"),
            "{width}×{height}:\n{screen}"
        );
    }
}
