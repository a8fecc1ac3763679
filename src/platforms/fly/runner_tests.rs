//! The run against the fake Machines API on a manual clock: canary first,
//! batches, holds, lease refreshes, failures and their handover, stops, and
//! the release of every lease on every path.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::platforms::fly::api::RunView;
use crate::platforms::fly::steps::tests::{Fake, d, machine};
use crate::platforms::fly::steps::{lease_all, members, promotion, way_back};

/// A clock that moves only when the run sleeps.
#[derive(Clone)]
struct Clock(Arc<Mutex<DateTime<Utc>>>);

impl Clock {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        )))
    }

    #[allow(clippy::type_complexity)]
    fn time(&self) -> Time<Box<dyn Fn() -> DateTime<Utc>>, Box<dyn Fn(Duration) -> Yield>> {
        let (a, b) = (self.clone(), self.clone());
        Time {
            now: Box::new(move || *a.0.lock().unwrap()),
            sleep: Box::new(move |d: Duration| {
                *b.0.lock().unwrap() += chrono::Duration::from_std(d).unwrap();
                Box::pin(tokio::task::yield_now())
            }),
            poll: Duration::from_secs(2),
        }
    }
}

type Yield = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

fn pace(batch: Batch) -> Pace {
    Pace {
        batch,
        canary_hold: Duration::from_secs(10),
        hold: Duration::from_secs(5),
        wait_timeout: Duration::from_mins(1),
        checks_grace: Duration::from_secs(4),
        lease_ttl: Duration::from_secs(30),
    }
}

fn machines(n: usize) -> Vec<MachineView> {
    (1..=n)
        .map(|i| {
            let region = if i <= n / 2 { "fra" } else { "ams" };
            machine(&format!("m{i:02}"), region, &d('a'), "started")
        })
        .collect()
}

/// A promotion of `d('b')` planned and leased as `deploy` does it.
async fn start(fake: &Fake, batch: Batch, rollback_to: Option<char>) -> (Spec, Control) {
    let ms = members(&fake.list("edge").await.unwrap(), None);
    let (plan, rollback, digest) = match rollback_to {
        Some(c) => (way_back("edge", &ms, &d(c)).unwrap(), true, d(c)),
        None => (promotion("edge", &ms, &d('b')).unwrap(), false, d('b')),
    };
    let leases = lease_all(fake, "edge", &ms, &plan.group, Duration::from_secs(30), "t")
        .await
        .unwrap();
    fake.0.lock().unwrap().log.clear();
    let spec = Spec {
        id: "fly-1".to_string(),
        app: "edge".to_string(),
        digest: digest.clone(),
        image: format!("registry.fly.io/edge@{digest}"),
        from: plan.from.clone(),
        rollback,
        pause: false,
        pace: pace(batch),
        order: plan.order,
        group: plan.group.len(),
    };
    let view = RunView {
        id: spec.id.clone(),
        from: spec.from.clone(),
        to: digest,
        rollback,
        canary: None,
        updated: Vec::new(),
        total: spec.order.len(),
        paused_since: None,
        steps: Vec::new(),
        ended: None,
        started: Utc::now(),
    };
    (spec, Control::new(view, leases, |_| {}))
}

fn updates(log: &[String]) -> Vec<String> {
    log.iter()
        .filter(|l| l.starts_with("update"))
        .map(|l| l.split(' ').nth(1).unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_canary_goes_first_then_the_rest_one_by_one_each_under_its_nonce_and_every_lease_is_released()
 {
    let fake = Fake::with(machines(4));
    let (spec, ctl) = start(&fake, Batch::Count(1), None).await;
    let clock = Clock::new();
    let ended = run(&fake, &spec, &clock.time(), &NoProbe, &ctl).await;
    assert_eq!(ended, Ended::Finished);
    let log = fake.log();
    assert_eq!(updates(&log), ["m01", "m02", "m03", "m04"]);
    for l in log.iter().filter(|l| l.starts_with("update")) {
        let id = l.split(' ').nth(1).unwrap();
        assert!(l.contains(&format!("nonce-{id}-")), "{l}");
    }
    let released: Vec<&String> = log.iter().filter(|l| l.starts_with("release")).collect();
    assert_eq!(released.len(), 4, "{log:?}");
    let last_update = log.iter().rposition(|l| l.starts_with("update")).unwrap();
    let first_release = log.iter().position(|l| l.starts_with("release")).unwrap();
    assert!(
        first_release > last_update,
        "released after the last update: {log:?}"
    );
    assert!(fake.0.lock().unwrap().leases.is_empty());
    assert!(fake.digests().iter().all(|(_, dg)| *dg == d('b')));
    let v = ctl.view();
    assert_eq!(v.canary.as_deref(), Some("m01"));
    assert_eq!(v.ended, Some(Ok(())));
    let machine_steps: Vec<&String> = v
        .steps
        .iter()
        .filter(|s| s.starts_with("machine "))
        .collect();
    assert_eq!(machine_steps.len(), 4, "{:?}", v.steps);
    assert!(
        machine_steps[0].contains("m01 (fra) (canary)"),
        "{}",
        machine_steps[0]
    );
    assert!(
        machine_steps[3].contains("m04 (ams)"),
        "{}",
        machine_steps[3]
    );
}

#[tokio::test]
async fn after_the_canary_a_batch_of_max_unavailable_is_updated_before_any_of_it_is_waited_for() {
    let fake = Fake::with(machines(10));
    let (spec, ctl) = start(&fake, Batch::Fraction(0.33), None).await;
    let ended = run(&fake, &spec, &Clock::new().time(), &NoProbe, &ctl).await;
    assert_eq!(ended, Ended::Finished);
    // The canary, then batches of ceil(10 × 0.33) = 4: 4, 4, 1, each
    // batch's updates sent before any of them is waited for, the holds
    // (their readings of the group) between them.
    let log = fake.log();
    let mut runs: Vec<usize> = Vec::new();
    for segment in log.split(|l| l == "list") {
        let updated: Vec<(usize, &str)> = segment
            .iter()
            .enumerate()
            .filter(|(_, l)| l.starts_with("update"))
            .map(|(i, l)| (i, l.split(' ').nth(1).unwrap()))
            .collect();
        let Some(&(last, _)) = updated.last() else {
            continue;
        };
        // Before the batch's last update, a machine is read only to be
        // updated (never yet waited for).
        for (i, l) in segment[..last].iter().enumerate() {
            if let Some(id) = l.strip_prefix("get ") {
                assert!(
                    updated.iter().any(|&(u, uid)| uid == id && u > i),
                    "{segment:?}"
                );
            }
        }
        runs.push(updated.len());
    }
    assert_eq!(runs, [1, 4, 4, 1], "{log:?}");
}

#[tokio::test]
async fn a_canary_whose_check_stays_critical_past_its_grace_fails_the_run_naming_the_check_and_nothing_else_is_updated()
 {
    let fake = Fake::with(machines(4));
    fake.0.lock().unwrap().critical = Some(d('b'));
    let (spec, ctl) = start(&fake, Batch::Count(1), None).await;
    let ended = run(&fake, &spec, &Clock::new().time(), &NoProbe, &ctl).await;
    let Ended::Failed(why) = ended else {
        panic!("{ended:?}")
    };
    assert!(
        why.contains("check \"health\" of machine m01 (fra) critical"),
        "{why}"
    );
    assert!(why.contains("503 Service Unavailable"), "{why}");
    assert_eq!(updates(&fake.log()), ["m01"]);
    assert_eq!(ctl.view().ended, Some(Err(why)));
    // Nobody adopted the leases within the handover: released.
    assert!(fake.0.lock().unwrap().leases.is_empty());
}

#[tokio::test]
async fn a_canary_that_exits_fails_the_run_naming_its_exit_code() {
    let fake = Fake::with(machines(4));
    fake.0.lock().unwrap().fail_start = Some(d('b'));
    let (spec, ctl) = start(&fake, Batch::Count(1), None).await;
    let ended = run(&fake, &spec, &Clock::new().time(), &NoProbe, &ctl).await;
    assert_eq!(
        ended,
        Ended::Failed("machine m01 (fra) is stopped: it exited with code 1".to_string())
    );
    assert_eq!(updates(&fake.log()), ["m01"]);
}

#[tokio::test]
async fn a_failed_canarys_probe_fails_the_run() {
    struct Red;
    impl Probe for Red {
        async fn canary(&self, _machine: &str) -> Result<(), String> {
            Err("smoke checks failed (home: answered 500)".to_string())
        }
    }
    let fake = Fake::with(machines(2));
    let (spec, ctl) = start(&fake, Batch::Count(1), None).await;
    let ended = run(&fake, &spec, &Clock::new().time(), &Red, &ctl).await;
    assert_eq!(
        ended,
        Ended::Failed("canary m01 (fra): smoke checks failed (home: answered 500)".to_string())
    );
}

#[tokio::test]
async fn a_refresh_that_answers_another_nonce_stops_the_run_at_once_and_says_so() {
    let fake = Fake::with(machines(4));
    let (spec, ctl) = start(&fake, Batch::Count(1), None).await;
    let clock = Clock::new();
    let time = clock.time();
    let steal = async {
        // During the canary's hold, someone takes the leases.
        while ctl.view().updated.is_empty() {
            tokio::task::yield_now().await;
        }
        fake.0.lock().unwrap().steal_on_refresh = true;
    };
    let (ended, ()) = tokio::join!(run(&fake, &spec, &time, &NoProbe, &ctl), steal);
    let Ended::Failed(why) = ended else {
        panic!("{ended:?}")
    };
    assert!(why.contains("was lost"), "{why}");
    assert!(why.contains("updated nothing more"), "{why}");
    assert_eq!(updates(&fake.log()), ["m01"]);
}

#[tokio::test]
async fn leases_are_refreshed_every_third_of_their_life_with_their_nonce() {
    // A 30 s lease is refreshed every 10 s: once in a 10 s hold, twice in 25 s.
    for (hold, rounds) in [(9, 0), (10, 1), (25, 2)] {
        let fake = Fake::with(machines(2));
        let (mut spec, ctl) = start(&fake, Batch::Count(1), None).await;
        spec.pace.canary_hold = Duration::from_secs(hold);
        assert_eq!(
            run(&fake, &spec, &Clock::new().time(), &NoProbe, &ctl).await,
            Ended::Finished
        );
        let refreshed: Vec<String> = fake
            .log()
            .into_iter()
            .filter(|l| l.starts_with("refresh"))
            .collect();
        let one = ["refresh m01 nonce-m01-1", "refresh m02 nonce-m02-2"];
        assert_eq!(refreshed, one.repeat(rounds), "a hold of {hold} s");
    }
}

#[tokio::test]
async fn a_way_back_adopts_a_failed_runs_leases_and_updates_back_only_what_it_touched() {
    let fake = Fake::with(machines(4));
    fake.0.lock().unwrap().critical = Some(d('b'));
    let (spec, ctl) = start(&fake, Batch::Count(1), None).await;
    let time = Clock::new().time();
    let back = async {
        while ctl.view().ended.is_none() {
            tokio::task::yield_now().await;
        }
        ctl.adopt().await
    };
    let (ended, adopted) = tokio::join!(run(&fake, &spec, &time, &NoProbe, &ctl), back);
    assert!(matches!(ended, Ended::Failed(_)), "{ended:?}");
    assert_eq!(adopted.leases.len(), 4, "every lease handed over");
    let touched: Vec<&str> = adopted.touched.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(touched, ["m01"]);
    assert!(
        !fake.log().iter().any(|l| l.starts_with("release")),
        "nothing released: the way back holds them"
    );
    // The way back: only m01, no canary, then every lease released.
    fake.0.lock().unwrap().log.clear();
    let back = Spec {
        id: "fly-2".to_string(),
        digest: d('a'),
        image: format!("registry.fly.io/edge@{}", d('a')),
        from: Some(d('b')),
        rollback: true,
        order: adopted.touched.clone(),
        ..spec.clone()
    };
    let view = RunView {
        id: back.id.clone(),
        rollback: true,
        ..ctl.view()
    };
    let ctl2 = Control::new(view, adopted.leases, |_| {});
    assert_eq!(
        run(&fake, &back, &time, &NoProbe, &ctl2).await,
        Ended::Finished
    );
    assert_eq!(updates(&fake.log()), ["m01"]);
    assert!(fake.digests().iter().all(|(_, dg)| *dg == d('a')));
    assert!(fake.0.lock().unwrap().leases.is_empty());
}

#[tokio::test]
async fn an_abort_between_batches_stops_the_run_after_its_call_and_hands_its_leases_over() {
    let fake = Fake::with(machines(4));
    let (spec, ctl) = start(&fake, Batch::Count(1), None).await;
    let time = Clock::new().time();
    let abort = async {
        while ctl.view().updated.len() < 2 {
            tokio::task::yield_now().await;
        }
        ctl.adopt().await
    };
    let (ended, adopted) = tokio::join!(run(&fake, &spec, &time, &NoProbe, &ctl), abort);
    assert_eq!(ended, Ended::Adopted);
    assert_eq!(
        updates(&fake.log()),
        ["m01", "m02"],
        "m03 and m04 never updated"
    );
    let touched: Vec<&str> = adopted.touched.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(touched, ["m01", "m02"]);
    assert_eq!(adopted.leases.len(), 4);
}

#[tokio::test]
async fn a_stop_at_shutdown_releases_every_lease_and_leaves_the_machines() {
    let fake = Fake::with(machines(4));
    let (spec, ctl) = start(&fake, Batch::Count(1), None).await;
    let time = Clock::new().time();
    let stop = async {
        while ctl.view().updated.is_empty() {
            tokio::task::yield_now().await;
        }
        ctl.stop(Stop::Release);
    };
    let (ended, ()) = tokio::join!(run(&fake, &spec, &time, &NoProbe, &ctl), stop);
    assert_eq!(ended, Ended::Released);
    assert!(fake.0.lock().unwrap().leases.is_empty());
    assert_eq!(updates(&fake.log()), ["m01"]);
}

#[tokio::test]
async fn a_pause_waits_for_a_decision_and_a_rollback_there_fails_the_run_for_the_way_back() {
    for (decision, finished) in [(Decision::Continue, true), (Decision::Rollback, false)] {
        let fake = Fake::with(machines(3));
        let (mut spec, ctl) = start(&fake, Batch::Count(1), None).await;
        spec.pause = true;
        let time = Clock::new().time();
        let person = async {
            assert!(ctl.decide(decision).is_err(), "nothing waits yet");
            while ctl.view().paused_since.is_none() {
                tokio::task::yield_now().await;
            }
            ctl.decide(decision).unwrap();
        };
        let (ended, ()) = tokio::join!(run(&fake, &spec, &time, &NoProbe, &ctl), person);
        if finished {
            assert_eq!(ended, Ended::Finished);
            assert_eq!(updates(&fake.log()), ["m01", "m02", "m03"]);
        } else {
            assert_eq!(
                ended,
                Ended::Failed("a rollback was decided at the pause".to_string())
            );
            assert_eq!(updates(&fake.log()), ["m01"]);
        }
    }
}

#[tokio::test]
async fn a_way_back_has_no_canary_and_no_hold_and_skips_machines_already_back() {
    let mut ms = machines(4);
    ms[0] = machine("m01", "fra", &d('b'), "started");
    ms[1] = machine("m02", "fra", &d('b'), "started");
    let fake = Fake::with(ms);
    let (spec, ctl) = start(&fake, Batch::Count(2), Some('a')).await;
    let clock = Clock::new();
    let t0 = (clock.time().now)();
    assert_eq!(
        run(&fake, &spec, &clock.time(), &NoProbe, &ctl).await,
        Ended::Finished
    );
    assert_eq!(updates(&fake.log()), ["m01", "m02"]);
    assert!(ctl.view().canary.is_none());
    let waited = (clock.time().now)() - t0;
    assert!(waited < chrono::Duration::seconds(5), "no hold: {waited}");
    assert!(fake.digests().iter().all(|(_, dg)| *dg == d('a')));
}

#[tokio::test]
async fn a_decision_written_on_the_canary_by_another_process_is_taken_and_both_markers_removed() {
    use crate::platforms::fly::marker::{DECISION_KEY, PAUSE_KEY, Pause};
    let fake = Fake::with(machines(3));
    let (mut spec, ctl) = start(&fake, Batch::Count(1), None).await;
    spec.pause = true;
    let time = Clock::new().time();
    let elsewhere = async {
        // Another shipdeck reads the pause in its list, and writes its
        // decision beside it (what `decide_step` does there).
        let pause = loop {
            let m = fake.get("edge", "m01").await.unwrap();
            if let Some(p) = m.metadata(PAUSE_KEY).and_then(Pause::read) {
                break p;
            }
            tokio::task::yield_now().await;
        };
        assert_eq!((pause.run.as_str(), pause.step, pause.of), ("fly-1", 1, 3));
        fake.set_metadata("edge", "m01", DECISION_KEY, "run=fly-1 step=1 continue")
            .await
            .unwrap();
    };
    let (ended, ()) = tokio::join!(run(&fake, &spec, &time, &NoProbe, &ctl), elsewhere);
    assert_eq!(ended, Ended::Finished);
    assert_eq!(updates(&fake.log()), ["m01", "m02", "m03"]);
    let m = fake.get("edge", "m01").await.unwrap();
    assert_eq!(m.metadata(PAUSE_KEY), None);
    assert_eq!(m.metadata(DECISION_KEY), None);
    // A decision for another run is not this run's.
    let fake = Fake::with(machines(2));
    let (mut spec, ctl) = start(&fake, Batch::Count(1), None).await;
    spec.pause = true;
    let other = async {
        while ctl.view().paused_since.is_none() {
            tokio::task::yield_now().await;
        }
        fake.set_metadata("edge", "m01", DECISION_KEY, "run=fly-9 step=1 rollback")
            .await
            .unwrap();
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        assert!(ctl.view().ended.is_none(), "still paused");
        ctl.decide(Decision::Continue).unwrap();
    };
    let (ended, ()) = tokio::join!(run(&fake, &spec, &time, &NoProbe, &ctl), other);
    assert_eq!(ended, Ended::Finished);
}

#[tokio::test]
async fn an_abort_at_a_pause_hands_the_leases_over_and_leaves_no_pause_marker() {
    use crate::platforms::fly::marker::PAUSE_KEY;
    let fake = Fake::with(machines(3));
    let (mut spec, ctl) = start(&fake, Batch::Count(1), None).await;
    spec.pause = true;
    let time = Clock::new().time();
    let abort = async {
        while ctl.view().paused_since.is_none() {
            tokio::task::yield_now().await;
        }
        ctl.adopt().await
    };
    let (ended, adopted) = tokio::join!(run(&fake, &spec, &time, &NoProbe, &ctl), abort);
    assert_eq!(ended, Ended::Adopted);
    assert_eq!(adopted.leases.len(), 3);
    assert_eq!(ctl.view().paused_since, None);
    let m = fake.get("edge", "m01").await.unwrap();
    assert_eq!(m.metadata(PAUSE_KEY), None);
}
