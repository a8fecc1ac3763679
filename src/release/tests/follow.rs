//! A watch that follows what was promoted (issue 28, item 4): a platform
//! that knows the new revision only later (a git commit a controller applies)
//! is followed by the promoted digest and change id until a reading shows the
//! revision, and "converged" is the platform's answer, never a count of tasks.

use super::*;
use crate::config::OnAbort;
use crate::model::{Convergence, ConvergenceState};
use crate::provider::DeployStarted;

/// The commit a GitOps platform pushed for the promoted digest.
const COMMIT: &str = "3f2a1c9";

fn promoted() -> Digest {
    Digest::of_bytes(b"the promoted release")
}

/// The revision the controller reports once it applied the commit.
fn applied() -> Revision {
    Revision::labelled("shop-api", COMMIT)
}

/// What a fake GitOps-like platform reads: no deployments listed (the
/// controller reports the service as a whole), the digest the service runs,
/// the revision once known, and its own answer about convergence and the
/// change it is about.
fn gitops(
    digest: Digest,
    revision: Option<Revision>,
    change: &str,
    state: ConvergenceState,
) -> ServiceSnapshot {
    let mut s = snap(3, RolloutState::Completed);
    s.deployments.clear();
    s.digest = Some(digest);
    s.task_definition = revision;
    s.convergence = Convergence {
        state,
        change: Some(change.into()),
    };
    s
}

/// Before: revision 3 with its digest, converged on an older commit.
fn before() -> ServiceSnapshot {
    let s = snap(3, RolloutState::Completed);
    let digest = s.digest.clone().unwrap();
    gitops(digest, Some(td(3)), "0ld0ld0", ConvergenceState::Converged)
}

/// A deploy of the promoted digest on a platform whose deploy returns no
/// revision, only the commit it pushed.
fn issued(c: &Config) -> (Watch, Next) {
    let mut w = Watch::new(
        c,
        OpKind::Deploy,
        EnvId(1),
        "api",
        "P1",
        Some(&before()),
        Some(promoted()),
        t0(),
    );
    let next = w.on_issued(
        Ok(DeployStarted {
            service: "api".into(),
            from: Some(td(3)),
            to: None,
            change: Some(COMMIT.into()),
            deployment_id: None,
        }),
        "alice",
    );
    (w, next)
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

#[test]
fn a_deploy_without_a_revision_follows_the_digest_and_succeeds_only_once_converged() {
    let c = cfg();
    let (mut w, next) = issued(&c);
    assert_eq!(w.to, None, "no revision is made up");
    assert!(
        next.log[0].contains(&format!(
            "{} (change {COMMIT}) (revision not reported yet)",
            promoted()
        )),
        "{:?}",
        next.log
    );
    let read = |w: &mut Watch, s: &ServiceSnapshot, secs| {
        let next = w.on_reading(s, at(secs), "alice", OnAbort::Rollback);
        assert_eq!(next.outcome, None, "at {secs}s: {:?}", next.log);
        next
    };
    // The controller has not applied the commit: the old digest still runs,
    // converged on the old commit. Nothing of that is ours.
    read(&mut w, &before(), 5);
    assert_eq!((w.to.clone(), w.stage), (None, "following"));
    assert!(w.progress.contains("waiting for"), "{}", w.progress);
    // The promoted digest under someone else's commit is not ours either.
    let other = gitops(
        promoted(),
        Some(Revision::labelled("shop-api", "0therc0")),
        "0therc0",
        ConvergenceState::Converged,
    );
    read(&mut w, &other, 8);
    assert_eq!(w.to, None);
    // Ours, applied and even converged, but without a revision: followed,
    // never completed on it.
    let no_rev = gitops(promoted(), None, COMMIT, ConvergenceState::Converged);
    for secs in [10, 40, 70] {
        read(&mut w, &no_rev, secs);
    }
    assert_eq!((w.to.clone(), w.completed_at), (None, None));
    assert!(
        w.progress
            .contains("waiting for the platform to report its revision")
    );
    // The revision is reported while the platform still converges: adopted,
    // said once in the log, and still not complete.
    let converging = gitops(
        promoted(),
        Some(applied()),
        COMMIT,
        ConvergenceState::Converging,
    );
    let next = read(&mut w, &converging, 75);
    assert_eq!(w.to, Some(applied()));
    assert!(
        next.log
            .iter()
            .any(|l| l.ends_with(&format!("runs as {}", applied()))),
        "{:?}",
        next.log
    );
    read(&mut w, &converging, 110);
    assert_eq!(w.completed_at, None, "converging is not converged");
    // The platform says converged: complete, then stable for the window.
    let converged = gitops(
        promoted(),
        Some(applied()),
        COMMIT,
        ConvergenceState::Converged,
    );
    read(&mut w, &converged, 120);
    assert_eq!(w.completed_at, Some(at(120)));
    read(&mut w, &converged, 149);
    let next = w.on_reading(&converged, at(150), "alice", OnAbort::Rollback);
    assert_eq!(next.outcome.as_ref().map(|o| o.0), Some(Outcome::Succeeded));
    // The closing records carry the revision the platform reported.
    let records = drafts(&next);
    assert_eq!(
        records.iter().map(|r| r.0).collect::<Vec<_>>(),
        [
            RecordKind::DeploySucceeded,
            RecordKind::RevisionMarkedStable
        ]
    );
    for (_, d) in &records {
        assert_eq!(d.to_revision.as_deref(), Some("shop-api@3f2a1c9"));
        assert_eq!(d.to_digest, Some(promoted().to_string()));
    }
}

#[test]
fn a_digest_that_never_appears_times_out_and_never_succeeds() {
    let c = cfg(); // timeout 10 minutes
    let (mut w, _) = issued(&c);
    let mut ended = None;
    for secs in (30..=600).step_by(30) {
        let next = w.on_reading(&before(), at(secs), "alice", OnAbort::Rollback);
        assert_ne!(next.outcome.as_ref().map(|o| o.0), Some(Outcome::Succeeded));
        if !next.effects.is_empty() || next.outcome.is_some() {
            ended = Some((secs, next));
            break;
        }
    }
    let (secs, next) = ended.expect("the watch never ended");
    assert_eq!(secs, 600, "it ends at its timeout, not before");
    let records = drafts(&next);
    let (kind, d) = &records[0];
    assert_eq!(*kind, RecordKind::Aborted);
    assert!(
        d.reasons
            .iter()
            .any(|r| r.starts_with("not stable within 10m")
                && r.contains("the platform never reported a revision")
                && r.contains(COMMIT)),
        "{:?}",
        d.reasons
    );
    assert_eq!(d.to_revision, None, "never a made-up revision");
    // The abort goes back to what ran before, as this platform rolls back.
    assert!(
        next.effects.iter().any(|e| matches!(
            e,
            Effect::Issue { issue: exec::Issue::Rollback(exec::RollbackTo::Revision(r)), .. }
                if *r == td(3)
        )),
        "{:?}",
        next.effects
    );
    // A platform that never says converged: never a success either.
    let (mut w, _) = issued(&c);
    let unknown = gitops(
        promoted(),
        Some(applied()),
        COMMIT,
        ConvergenceState::Unknown,
    );
    for secs in (30..600).step_by(30) {
        let next = w.on_reading(&unknown, at(secs), "alice", OnAbort::Rollback);
        assert_eq!(next.outcome, None, "at {secs}s");
        assert_eq!(w.completed_at, None, "unknown is never converged");
    }
    assert!(matches!(
        w.observe(&unknown, at(600)),
        Step::Abort(why) if why == "not stable within 10m"
    ));
}

/// ECS as it was: a deployment that left the list is done when the service
/// is on the revision and ECS's reading says it converged; not before.
#[test]
fn a_deployment_that_left_the_list_is_done_when_the_platform_says_converged() {
    let c = cfg();
    let mut w = watch(&c);
    let mut s = snap(4, RolloutState::Completed);
    s.deployments.clear();
    s.convergence = Convergence::judged(false);
    assert_eq!(w.observe(&s, at(10)), Step::Continue);
    assert_eq!(w.completed_at, None);
    s.convergence = Convergence::default();
    assert_eq!(w.observe(&s, at(20)), Step::Continue);
    assert_eq!(w.completed_at, None, "unknown is not converged");
    s.convergence = Convergence::judged(true);
    assert_eq!(w.observe(&s, at(30)), Step::Continue);
    assert_eq!(w.completed_at, Some(at(30)));
    assert_eq!(w.observe(&s, at(60)), Step::Succeeded);
}

/// A platform whose run failed before it published anything (Lambda refused
/// the code update): its deployment, found by the run's id, still names the
/// old revision, which is never taken for the promoted one; the watch ends
/// failed, nothing to roll back, without saying the digest runs anywhere.
#[test]
fn a_run_that_failed_before_publishing_names_no_revision_and_ends_failed() {
    let c = cfg();
    let mut w = Watch::new(
        &c,
        OpKind::Deploy,
        EnvId(1),
        "api",
        "P1",
        Some(&before()),
        Some(promoted()),
        t0(),
    );
    w.on_issued(
        Ok(DeployStarted {
            service: "api".into(),
            from: Some(td(3)),
            to: None,
            change: None,
            deployment_id: Some("run-1".into()),
        }),
        "alice",
    );
    let mut s = snap(3, RolloutState::Completed);
    let mut failed = s.deployments[0].clone();
    failed.id = "run-1".into();
    failed.rollout = RolloutState::Failed;
    failed.nothing_changed = true;
    failed.reason = Some("not authorised: lambda:UpdateFunctionCode was refused".into());
    s.deployments.insert(0, failed);
    let next = w.on_reading(&s, at(5), "alice", OnAbort::Rollback);
    assert_eq!(w.to, None, "the old revision is not the promoted one");
    assert!(
        !next.log.iter().any(|l| l.contains("runs as")),
        "{:?}",
        next.log
    );
    let (outcome, why) = next.outcome.clone().unwrap();
    assert_eq!(outcome, Outcome::Failed);
    assert!(
        why.contains(
            "lambda:UpdateFunctionCode was refused (nothing was changed: nothing to roll back)"
        ),
        "{why}"
    );
    assert!(
        !drafts(&next)
            .iter()
            .any(|(k, _)| *k == RecordKind::RollbackIssued),
        "{:?}",
        drafts(&next)
    );
}

/// A canary of our change does not serve yet: the reading's digest is still
/// the old one, but the platform reports it synced our commit and its
/// primary deployment is the new revision. That revision is ours, adopted
/// at once (so the watch follows its steps and pauses); the same reading
/// under someone else's commit, or with the primary still the old
/// revision, adopts nothing.
#[test]
fn a_canary_of_our_change_is_adopted_from_its_primary_deployment_before_it_serves() {
    let c = cfg();
    let canary = |change: &str, rev: u32| {
        let mut s = snap(rev, RolloutState::InProgress);
        s.digest = before().digest.clone();
        s.task_definition = Some(td(3));
        s.convergence = Convergence {
            state: ConvergenceState::Converging,
            change: Some(change.into()),
        };
        s
    };
    let (mut w, _) = issued(&c);
    w.on_reading(&canary("0therc0", 4), at(5), "alice", OnAbort::Rollback);
    assert_eq!(w.to, None, "someone else's commit");
    w.on_reading(&canary(COMMIT, 3), at(6), "alice", OnAbort::Rollback);
    assert_eq!(w.to, None, "the primary is still the revision we came from");
    w.on_reading(&canary(COMMIT, 4), at(7), "alice", OnAbort::Rollback);
    assert_eq!(w.to, Some(td(4)));
}
