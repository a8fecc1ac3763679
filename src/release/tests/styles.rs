//! Rollback targets by the platform's declared style (issue 28, item 3):
//! the previous known-stable *artifact*, by revision where the platform keeps
//! them, by digest where it redeploys an image (and then a higher number).

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::ledger::Ledger;
use crate::platforms::sim::SimFleet;
use crate::provider::{AnyProvider, Provider, ReadScope, RollbackStyle};
use exec::{Executor, Issue, RollbackTo};

fn digest(name: &str) -> Digest {
    Digest::of_bytes(name.as_bytes())
}

/// A platform that redeploys: every deploy mints the next number, so an old
/// image comes back under a new, higher revision. Here v41 ran `y` and was
/// marked stable, v42 ran `z`, and v43 is `y` redeployed (a rollback).
fn redeployed(records_dir: &std::path::Path) -> (ServiceSnapshot, Vec<crate::ledger::Record>) {
    let mut s = snap(4, RolloutState::Completed);
    let rev = |n: u32, d: &str| RevisionInfo {
        task_definition: Revision::numbered("app", n, ""),
        digest: Some(digest(d)),
        active: true,
    };
    s.history = vec![rev(40, "x"), rev(41, "y"), rev(42, "z"), rev(43, "y")].into();
    s.task_definition = Some(Revision::numbered("app", 43, ""));
    s.digest = Some(digest("y"));
    let ledger = Ledger::new(records_dir.join("l.jsonl"));
    for (r, d) in [("app:40", "x"), ("app:41", "y")] {
        crate::stable::mark(
            &ledger,
            "alice",
            "staging",
            "api",
            r,
            &digest(d).to_string(),
            t0(),
        )
        .unwrap();
    }
    (s, ledger.read().unwrap())
}

#[test]
fn revisions_go_to_the_previous_stable_revision_by_its_number() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::new(dir.path().join("l.jsonl"));
    let d2 = digest("rev2").to_string();
    crate::stable::mark(&ledger, "alice", "staging", "api", "shop-api:2", &d2, t0()).unwrap();
    let t = rollback_target(
        &ledger.read().unwrap(),
        "staging",
        &snap(4, RolloutState::Completed),
        RollbackStyle::Revisions,
    )
    .unwrap();
    assert_eq!((t.revision.clone(), t.verified), (td(2), true));
    assert_eq!(t.issue(), RollbackTo::Revision(td(2)));
}

#[test]
fn slots_switch_to_the_other_one_kept_warm() {
    let mut s = snap(4, RolloutState::Completed);
    let colour = |c: &str, d: &str| RevisionInfo {
        task_definition: Revision::labelled("api", c),
        digest: Some(digest(d)),
        active: true,
    };
    s.history = vec![colour("blue", "old"), colour("green", "new")].into();
    s.task_definition = Some(Revision::labelled("api", "green"));
    s.digest = Some(digest("new"));
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::new(dir.path().join("l.jsonl"));
    let old = digest("old").to_string();
    crate::stable::mark(&ledger, "alice", "staging", "api", "api@blue", &old, t0()).unwrap();
    let t = rollback_target(&ledger.read().unwrap(), "staging", &s, RollbackStyle::Slots).unwrap();
    assert_eq!(t.revision, Revision::labelled("api", "blue"));
    assert!(t.verified && !t.roll_forward);
    assert_eq!(
        t.issue(),
        RollbackTo::Revision(Revision::labelled("api", "blue"))
    );
}

#[test]
fn a_platform_that_redeploys_goes_back_to_the_previous_stable_digest() {
    let dir = tempfile::tempdir().unwrap();
    let (s, records) = redeployed(dir.path());
    // By revision, the newest stable other than v43 is v41: the very image
    // that runs now (v43 is its redeploy). Going there changes nothing.
    let by_revision = rollback_target(&records, "staging", &s, RollbackStyle::Revisions).unwrap();
    assert_eq!(by_revision.digest, Some(digest("y")));
    // By digest: the newest stable digest other than the one that runs.
    let t = rollback_target(&records, "staging", &s, RollbackStyle::Redeploy).unwrap();
    assert_eq!(t.digest, Some(digest("x")));
    assert_eq!(
        t.revision,
        Revision::numbered("app", 40, ""),
        "what it ran as"
    );
    assert!(t.verified && !t.roll_forward && t.stable_at.is_some());
    assert_eq!(t.issue(), RollbackTo::Digest(digest("x")));
    // Issued as a deploy of that digest, recorded as a rollback whose
    // revision is not made up: the platform mints it.
    let (w, effects) = start_rollback(&cfg(), EnvId(1), "api", Some(&s), &t, "alice", t0());
    assert_eq!(w.kind, OpKind::Rollback);
    assert_eq!(w.to_digest, Some(digest("x")));
    match effects.as_slice() {
        [Effect::Issue { issue, draft, .. }] => {
            assert_eq!(*issue, Issue::Rollback(RollbackTo::Digest(digest("x"))));
            assert_eq!(draft.to_revision, None);
            assert_eq!(draft.to_digest, Some(digest("x").to_string()));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn without_a_stable_record_a_redeploy_goes_to_the_newest_other_digest_listed_unverified() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = redeployed(dir.path());
    let t = rollback_target(&[], "staging", &s, RollbackStyle::Redeploy).unwrap();
    // The newest listed whose digest differs from what runs, by the
    // platform's order, never by a number.
    assert_eq!(
        (t.revision.number(), t.digest.clone(), t.verified),
        (Some(42), Some(digest("z")), false)
    );
    // Nothing known about what runs: nothing to go back from.
    s.digest = None;
    let err = rollback_target(&[], "staging", &s, RollbackStyle::Redeploy).unwrap_err();
    assert!(err.0.contains("digest api runs"), "{err}");
    // Only the running digest anywhere: nothing to go back to.
    let mut only = snap(4, RolloutState::Completed);
    only.history = vec![RevisionInfo {
        task_definition: td(4),
        digest: only.digest.clone(),
        active: true,
    }]
    .into();
    let err = rollback_target(&[], "staging", &only, RollbackStyle::Redeploy).unwrap_err();
    assert!(err.0.contains("nothing to roll back to"), "{err}");
}

#[test]
fn an_abort_on_a_platform_that_redeploys_deploys_the_digest_before_again() {
    let c = cfg();
    let mut w = watch(&c);
    w.rollback = RollbackStyle::Redeploy;
    let before = snap(3, RolloutState::Completed).digest;
    let next = w.on_reading(
        &snap(4, RolloutState::Failed),
        at(5),
        "alice",
        crate::config::OnAbort::Rollback,
    );
    let issue = next.effects.iter().find_map(|e| match e {
        Effect::Issue { issue, draft, .. } => Some((issue.clone(), draft.clone())),
        _ => None,
    });
    let (issue, draft) = issue.expect("no rollback issued");
    assert_eq!(
        issue,
        Issue::Rollback(RollbackTo::Digest(before.clone().unwrap()))
    );
    assert_eq!(draft.to_revision, None, "the platform mints it");
    assert_eq!(draft.to_digest, before.map(|d| d.to_string()));
    assert_eq!((w.kind, w.automatic), (OpKind::Rollback, true));
}

async fn api(fleet: &SimFleet, env: &crate::config::EnvConfig) -> ServiceSnapshot {
    let snap = fleet.read_env(env, ReadScope::CONSOLE).await.unwrap();
    snap.service("api").unwrap().clone()
}

/// The way back on a platform that redeploys, through the executor against
/// the simulator (whose deploy mints the next revision): the previous stable
/// digest is deployed again under a *higher* number, the action is recorded
/// as a rollback, and its closing records carry the revision the reading
/// showed.
#[tokio::test]
async fn a_redeploy_rollback_runs_as_a_deploy_recorded_as_a_rollback() {
    let clock = ManualClock::new(t0());
    let fleet = SimFleet::demo(7, Arc::new(clock.clone())).unwrap();
    let c = crate::config::demo().unwrap();
    let env = c.env("staging").unwrap();
    let read = || api(&fleet, env);
    let good = read().await;
    let (good_rev, good_digest) = (
        good.task_definition.clone().unwrap(),
        good.digest.clone().unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::new(dir.path().join("l.jsonl"));
    crate::stable::mark(
        &ledger,
        "alice",
        "staging",
        "api",
        &good_rev.to_string(),
        good_digest.as_str(),
        t0(),
    )
    .unwrap();
    // A bad release goes out and settles.
    fleet
        .deploy(env, env.service("api").unwrap(), &digest("bad release"))
        .await
        .unwrap();
    clock.advance(Duration::from_mins(5));
    let bad = read().await;
    assert_eq!(bad.digest, Some(digest("bad release")));
    let target = rollback_target(
        &ledger.read().unwrap(),
        "staging",
        &bad,
        RollbackStyle::Redeploy,
    )
    .unwrap();
    assert_eq!(target.digest.as_ref(), Some(&good_digest));
    let (mut w, effects) = start_rollback(
        &c,
        EnvId(1),
        "api",
        Some(&bad),
        &target,
        "alice",
        clock.now(),
    );
    let [
        Effect::Issue {
            env: e,
            service,
            issue,
            draft,
        },
    ] = effects.as_slice()
    else {
        panic!("{effects:?}")
    };
    let mut exec = Executor::new(
        AnyProvider::Sim(fleet.clone()),
        c.environments.clone(),
        ledger.clone(),
        dir.path().join("locks"),
        "alice".to_string(),
        Arc::new(clock.clone()),
    );
    let (started, issued) = exec.issue(*e, service, issue, draft.clone()).await.unwrap();
    assert_eq!(issued.kind, RecordKind::RollbackIssued);
    assert_eq!(issued.draft.to_revision, None);
    let minted = started.to.clone().unwrap();
    let bad_rev = bad.task_definition.clone().unwrap();
    assert!(
        minted.number() > bad_rev.number() && bad_rev.number() > good_rev.number(),
        "{good_rev} → {bad_rev} → {minted}"
    );
    let next = w.on_issued(Ok(started), "alice");
    assert!(next.effects.is_empty());
    let mut closing = Vec::new();
    for _ in 0..600 {
        clock.advance(Duration::from_secs(1));
        let next = w.on_reading(
            &read().await,
            clock.now(),
            "alice",
            crate::config::OnAbort::Rollback,
        );
        if let Some((outcome, why)) = next.outcome.clone() {
            assert_eq!(outcome, Outcome::Succeeded, "{why}");
            closing = drafts(&next);
            break;
        }
    }
    assert_eq!(
        closing.iter().map(|r| r.0).collect::<Vec<_>>(),
        [
            RecordKind::RollbackSucceeded,
            RecordKind::RevisionMarkedStable
        ]
    );
    for (_, d) in &closing {
        assert_eq!(d.to_revision, Some(minted.to_string()));
        assert_eq!(d.to_digest, Some(good_digest.to_string()));
    }
    let (written, _) = exec.record_closing(closing).await;
    assert!(written.failed.is_empty());
    let now = read().await;
    assert_eq!(
        (now.task_definition, now.digest),
        (Some(minted), Some(good_digest))
    );
}

fn drafts(next: &Next) -> Vec<(RecordKind, crate::ledger::Draft)> {
    next.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Record { kind, draft } => Some((*kind, draft.clone())),
            _ => None,
        })
        .collect()
}
