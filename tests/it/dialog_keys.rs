//! Dialog keys come from the one key map: rebinding them changes what the
//! keys do and what the hints on screen say.

use shipdeck::app::Flow;
use shipdeck::app::keys::KeyMap;
use shipdeck::config::KeyBinding;

use crate::support::console::{Harness, monday};

fn bind(action: &str, keys: &[&str]) -> KeyBinding {
    KeyBinding {
        action: action.into(),
        keys: keys.iter().map(|k| (*k).to_string()).collect(),
        location: "test.toml:1:1".into(),
    }
}

#[tokio::test]
async fn a_rebound_dialog_key_works_and_shows_in_the_hints() {
    let mut h = Harness::new("alice", monday()).await;
    h.app.keymap = KeyMap::from_config(&[
        bind("go", &["d"]),
        bind("tick", &["t"]),
        bind("back", &["q"]),
        bind("accept", &["ctrl-y"]),
    ])
    .unwrap();
    h.select("checkout", "staging");
    h.keys("p").await;
    let screen = h.screen(120, 40);
    assert!(
        screen.contains("t tick") && screen.contains("d deploy…") && screen.contains("q back out"),
        "{screen}"
    );
    // The old keys are free again; the new ones act.
    h.keys(" ").await;
    h.keys("t").await; // the checklist item
    h.approve("bob");
    h.tick(3).await;
    assert!(h.gate_go(), "{:#?}", h.app.flow);
    h.keys("g").await;
    assert!(matches!(&h.app.flow, Some(Flow::Wizard(w)) if w.confirming.is_none()));
    h.keys("d").await;
    assert!(matches!(&h.app.flow, Some(Flow::Wizard(w)) if w.confirming.is_some()));
    let screen = h.screen(120, 40);
    assert!(screen.contains("Press ctrl-y to deploy"), "{screen}");
    // Back out with the rebound key: the request is closed in the ledger.
    h.esc().await; // esc is still "cancel" in the confirmation
    h.keys("q").await;
    assert!(h.app.flow.is_none(), "{:?}", h.app.message);
}

#[test]
fn dialog_bindings_may_reuse_board_keys_but_not_clash_within_a_dialog() {
    // 'g' goes to the top of the board and deploys in the wizard: no clash.
    assert!(KeyMap::from_config(&[]).is_ok());
    let errs = KeyMap::from_config(&[bind("tick", &["g"])]).unwrap_err();
    assert!(
        errs[0].contains("key \"g\" is bound to both"),
        "two wizard actions on one key: {errs:?}"
    );
}
