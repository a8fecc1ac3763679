//! Two people continue the same paused step at the same moment, round after
//! round: a linear rollout of the demo's notifications in prod, paused at
//! every step, and two executors (two terminals) racing at each pause. The
//! ledger's write decides: one `continue` record per step, and the loser is
//! refused before anything is recorded or done.

use std::sync::{Arc, Barrier};

use shipdeck::config::Config;
use shipdeck::ledger::{Ledger, RecordKind};
use shipdeck::model::{Decision, ServiceSnapshot, Shift};
use shipdeck::platforms::sim::FleetFile;
use shipdeck::release::exec::Executor;
use shipdeck::release::step;

use super::console::Harness;

const FLEET: &str = include_str!("../../../assets/demo-fleet.toml");
const CANARY: &str = "strategy = \"canary\"\npercent = 10\ninterval = \"1m\"\nbake = \"20s\"";
/// 25 steps of 4 %, each paused for a person.
const LINEAR: &str = "strategy = \"linear\"\npercent = 4\ninterval = \"30s\"\nbake = \"10s\"";

/// The demo fleet with notifications in prod rolled out linearly in 4 % steps.
pub fn linear_fleet() -> FleetFile {
    assert!(FLEET.contains(CANARY));
    FleetFile::parse(&FLEET.replace(CANARY, LINEAR), "race-fleet.toml").unwrap()
}

/// The demo configuration with prod's steps paused for anyone to continue.
pub fn paused_config() -> Config {
    let mut cfg = shipdeck::config::demo().unwrap();
    let prod = cfg.env_index("prod").unwrap();
    cfg.environments[prod.index()].rollout.pause_steps = true;
    cfg.environments[prod.index()].rollout.step_approvals = 0;
    cfg
}

fn notifications(h: &Harness) -> ServiceSnapshot {
    let prod = h.cfg.env_index("prod").unwrap();
    h.app.envs[prod]
        .snapshot
        .as_ref()
        .and_then(|s| s.service("notifications"))
        .cloned()
        .unwrap()
}

/// Ticks until notifications is paused at `n`.
async fn paused_at(h: &mut Harness, n: u32) -> Shift {
    for _ in 0..600 {
        h.tick(1).await;
        if let Some(sh) = step::in_flight(&notifications(h))
            && sh.step == n
            && sh.pause.is_some()
        {
            return sh.clone();
        }
    }
    panic!("step {n} never paused: {:#?}", h.app.flow);
}

/// Promotes notifications into prod through the console `h`, then for each
/// of `rounds` steps lets two people (on `ledgers`: the same ledger, opened
/// once per terminal) continue it at the same moment, and checks that
/// exactly one `continue` is recorded, that the other is refused with
/// nothing recorded, and that nothing is `not_applied`.
pub async fn race_continues(h: &mut Harness, ledgers: [Ledger; 2], rounds: u32) {
    h.open_prod_wizard("notifications").await;
    h.approve_and_confirm_prod().await;
    let prod = h.cfg.env_index("prod").unwrap();
    for round in 1..=rounds {
        let shift = paused_at(h, round).await;
        let label = shift.step_label();
        let digest = notifications(h).digest.as_ref().map(ToString::to_string);
        let locks = tempfile::tempdir().unwrap();
        let start = Barrier::new(2);
        let results: Vec<Result<String, String>> = std::thread::scope(|s| {
            let racers: Vec<_> = ["dave", "erin"]
                .into_iter()
                .zip(ledgers.iter())
                .map(|(who, ledger)| {
                    let exec = Executor::new(
                        h.provider.clone(),
                        h.cfg.environments.clone(),
                        ledger.clone(),
                        // A decision takes no lock: the console's watch holds it.
                        shipdeck::lock::LockStore::Dir(locks.path().to_path_buf()),
                        who.to_string(),
                        Arc::new(h.clock.clone()),
                    );
                    let (start, shift, digest) = (&start, &shift, digest.clone());
                    s.spawn(move || {
                        let rt = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .unwrap();
                        start.wait();
                        rt.block_on(exec.decide_step(
                            prod,
                            "notifications",
                            shift,
                            Decision::Continue,
                            digest,
                            "racing",
                            // The race, not the hold, is what is tested.
                            None,
                            false,
                        ))
                        .map(|(_, said)| said)
                    })
                })
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round} ({label}): {results:#?}");
        let refused = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert!(
            refused.contains("already") && refused.contains("nothing was done"),
            "round {round}: {refused}"
        );
        let decided: Vec<String> = h
            .records()
            .into_iter()
            .filter(|r| {
                r.kind == RecordKind::StepDecision && r.draft.reasons.first() == Some(&label)
            })
            .map(|r| r.draft.outcome.unwrap_or_default())
            .collect();
        assert_eq!(decided, vec!["continue"], "round {round} ({label})");
    }
}
