//! One table of scenarios, driven through the console (its own `update`, on
//! the harness) and through the CLI (`promote`'s and `rollback`'s own driver,
//! in-process on tokio's paused clock): both must write the same ledger record
//! types in the same order and reach the same outcome. The decisions live in
//! the release engine; the drivers may not differ.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use shipdeck::app::Flow;
use shipdeck::app::flow::Phase;
use shipdeck::app::keys::Key;
use shipdeck::cli::promote::{PromoteArgs, drive};
use shipdeck::cli::release::{Common, Driver};
use shipdeck::clock::Clock;
use shipdeck::config::{Config, ConfigOrigin, OnAbort};
use shipdeck::ledger::{Ledger, RecordKind};
use shipdeck::platforms::sim::{Fault, FleetFile, SimFleet};
use shipdeck::provider::AnyProvider;
use shipdeck::release::Outcome;
use shipdeck::release::exec::Executor;

use crate::support::console::{Harness, monday};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    ApprovalsPendingThenGiven,
    NoGo,
    Success,
    AbortWithAutomaticRollback,
    AbortWithPrompt,
    OperatorAbort,
    NotIssued,
    ReadOnly,
}

const CASES: [Case; 8] = [
    Case::ApprovalsPendingThenGiven,
    Case::NoGo,
    Case::Success,
    Case::AbortWithAutomaticRollback,
    Case::AbortWithPrompt,
    Case::OperatorAbort,
    Case::NotIssued,
    Case::ReadOnly,
];

fn config(case: Case) -> Config {
    let mut cfg = shipdeck::config::load(
        std::path::Path::new("tests/configs/good/release.toml"),
        ConfigOrigin::Flag,
    )
    .unwrap();
    let staging = &mut cfg.environments[1];
    match case {
        Case::AbortWithPrompt => staging.rollout.on_abort = OnAbort::Prompt,
        Case::ReadOnly => staging.read_only = true,
        _ => {}
    }
    cfg
}

fn fleet_file() -> FleetFile {
    FleetFile::load(std::path::Path::new(
        "tests/configs/good/release-fleet.toml",
    ))
    .unwrap()
}

fn faults(case: Case) -> Vec<Fault> {
    match case {
        Case::AbortWithAutomaticRollback | Case::AbortWithPrompt => vec![Fault::RolloutFails {
            env: "staging".into(),
            service: "api-staging".into(),
        }],
        Case::NotIssued => vec![Fault::RefuseDeploys {
            env: "staging".into(),
            on: true,
        }],
        _ => Vec::new(),
    }
}

fn target(case: Case) -> &'static str {
    if case == Case::ApprovalsPendingThenGiven {
        "prod"
    } else {
        "staging"
    }
}

/// What a driver left: record kinds in order, and the outcome (`None`: refused).
type Result = (Vec<RecordKind>, Option<Outcome>);

async fn console(case: Case) -> Result {
    let mut h = Harness::with_fleet(config(case), &fleet_file(), "alice", monday()).await;
    for f in faults(case) {
        h.fleet.inject(f);
    }
    h.tick(2).await;
    h.select("api", target(case));
    h.keys("p").await;
    if case == Case::ReadOnly {
        assert!(h.app.flow.is_none(), "refused: {:?}", h.app.message);
        return (h.kinds(), None);
    }
    if case == Case::ApprovalsPendingThenGiven {
        h.enter().await; // the change-record field
        h.keys("CHG-1").await;
        h.enter().await;
        h.tick(3).await;
        assert!(!h.gate_go(), "pending approvals");
        h.approve("bob");
        h.tick(3).await;
    } else if case != Case::NoGo {
        h.key(Key::ch(' ')).await; // "Release notes updated"
        h.tick(1).await;
    }
    h.keys("g").await;
    if case == Case::NoGo {
        assert!(matches!(&h.app.flow, Some(Flow::Wizard(w)) if w.confirming.is_none()));
        h.esc().await;
        return (h.kinds(), Some(Outcome::NoGo));
    }
    if case == Case::ApprovalsPendingThenGiven {
        h.keys("prod").await;
    }
    h.enter().await;
    match case {
        Case::OperatorAbort => {
            h.tick(2).await;
            h.keys("a").await;
            h.keys("y").await;
        }
        Case::AbortWithPrompt => {
            for _ in 0..120 {
                h.tick(1).await;
                if matches!(&h.app.flow, Some(Flow::Watch(v)) if matches!(v.phase, Phase::Deciding(_)))
                {
                    break;
                }
            }
            h.keys("n").await;
        }
        _ => {}
    }
    let v = h.watch_until_over(300).await;
    (console_kinds(&h, case), v.outcome)
}

/// The console's record kinds. The change record typed in the wizard comes
/// after its request was written (the CLI has it before): the console
/// restates the request with it, once, so that approvers see it. That
/// restatement is the one record the CLI has no reason to write.
fn console_kinds(h: &Harness, case: Case) -> Vec<RecordKind> {
    let records = h.records();
    let restated: Vec<_> = records
        .iter()
        .filter(|r| r.kind == RecordKind::PromotionStarted)
        .skip(1)
        .collect();
    let typed = usize::from(case == Case::ApprovalsPendingThenGiven);
    assert_eq!(restated.len(), typed, "{case:?}: {restated:#?}");
    if let Some(r) = restated.first() {
        assert_eq!(r.draft.change_record.as_deref(), Some("CHG-1"), "{r:#?}");
    }
    records
        .iter()
        .filter(|r| !restated.iter().any(|x| x.seq == r.seq))
        .map(|r| r.kind)
        .collect()
}

/// Wall time following tokio's (paused) clock, for the in-process CLI.
#[derive(Debug)]
struct TokioClock {
    base: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        self.base + chrono::Duration::from_std(self.start.elapsed()).unwrap()
    }
}

fn kinds(ledger: &Ledger) -> Vec<RecordKind> {
    ledger.read().unwrap().iter().map(|r| r.kind).collect()
}

async fn cli(case: Case) -> Result {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(case);
    let clock: Arc<dyn Clock> = Arc::new(TokioClock {
        base: monday(),
        start: tokio::time::Instant::now(),
    });
    let fleet = SimFleet::new(&fleet_file(), 5, clock.clone());
    for f in faults(case) {
        fleet.inject(f);
    }
    let ledger = Ledger::new(dir.path().join("ledger.jsonl"));
    let env = cfg.env_index(target(case)).unwrap();
    let driver = |operator: &str| {
        let exec = Executor::new(
            AnyProvider::Sim(fleet.clone()),
            cfg.environments.clone(),
            ledger.clone(),
            dir.path().join("locks"),
            operator.to_string(),
            clock.clone(),
        );
        Driver::with(
            &cfg,
            AnyProvider::Sim(fleet.clone()),
            exec,
            clock.clone(),
            env,
        )
    };
    let args = PromoteArgs {
        service: "api".into(),
        to: target(case).into(),
        tick: if matches!(case, Case::NoGo | Case::ApprovalsPendingThenGiven) {
            Vec::new()
        } else {
            vec!["1".into()]
        },
        change: Some("CHG-1".into()),
        ..PromoteArgs::default()
    };
    let common = Common {
        yes: true,
        wait: true,
        ..Common::default()
    };
    let d = match driver("alice") {
        Ok(d) => d,
        Err(e) => {
            assert_eq!(e.code, 2, "{e}");
            return (kinds(&ledger), None);
        }
    };
    if case == Case::ApprovalsPendingThenGiven {
        let first = drive(d, "alice", &args, &common).await.unwrap();
        assert_eq!(first.outcome, Outcome::NoGo, "pending approvals");
        let id = first.promotion.clone().unwrap();
        shipdeck::approvals::approve(
            &ledger,
            &id,
            "bob",
            None,
            &cfg.environments[env].gate,
            &cfg.roles,
            clock.now(),
        )
        .unwrap();
        let again = drive(driver("alice").unwrap(), "alice", &args, &common)
            .await
            .unwrap();
        return (kinds(&ledger), Some(again.outcome));
    }
    if case == Case::OperatorAbort {
        // The operator aborts once the deploy is issued (Ctrl-C, confirmed).
        let abort = d.abort.clone();
        let watched = ledger.clone();
        tokio::spawn(async move {
            while !kinds(&watched).contains(&RecordKind::DeployIssued) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            abort.store(true, Ordering::SeqCst);
        });
    }
    let report = drive(d, "alice", &args, &common).await.unwrap();
    (kinds(&ledger), Some(report.outcome))
}

#[tokio::test(start_paused = true)]
async fn console_and_cli_write_the_same_records_and_reach_the_same_outcome() {
    for case in CASES {
        let on_screen = console(case).await;
        let on_command_line = Box::pin(cli(case)).await;
        assert_eq!(
            on_screen, on_command_line,
            "{case:?}: console (left) and CLI (right) differ"
        );
        // And each case ends where it should, so the table tests something.
        let expected = match case {
            Case::ApprovalsPendingThenGiven | Case::Success => Some(Outcome::Succeeded),
            Case::NoGo => Some(Outcome::NoGo),
            Case::AbortWithAutomaticRollback | Case::OperatorAbort => Some(Outcome::RolledBack),
            Case::AbortWithPrompt => Some(Outcome::Aborted),
            Case::NotIssued => Some(Outcome::NotIssued),
            Case::ReadOnly => None,
        };
        assert_eq!(on_screen.1, expected, "{case:?}: {:?}", on_screen.0);
    }
}
