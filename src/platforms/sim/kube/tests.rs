//! Simulated Argo Rollouts read through the Kubernetes platform's own
//! builder: a promotion by commit, synced then stepped; pauses decided here
//! and from a second process over the world file; an abort and the revert
//! commit; a game day whose analysis fails at 50 %; and a Rollout that is
//! not there read as unknown, never converged.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;

use super::super::{Fault, FleetFile, SimFleet};
use crate::clock::ManualClock;
use crate::config::{self, Config};
use crate::model::{
    ConvergenceState, Decision, Digest, Health, RolloutState, ServiceSnapshot, Shift, shift::ALL,
};
use crate::provider::{Provider, ProviderError, ReadScope};

const REPO: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/search";

fn config(application: &str) -> Config {
    let text = format!(
        r#"
provider = "simulated"

[[environment]]
name = "prod"
[environment.kubernetes]
namespace = "shop-prod"
argocd_namespace = "argocd"
[environment.kubernetes.git]
url = "git@github.com:acme/shop-deploy.git"
branch = "main"

[[environment.service]]
name = "search"
platform = "kubernetes"
health = {{ url = "https://search.shop.example/healthz" }}
[environment.service.kubernetes]
rollout = "search"
application = "{application}"
kustomization = "overlays/prod/kustomization.yaml"
image = "{REPO}"
"#
    );
    config::parse_str(&text, "test.toml", None).unwrap()
}

fn fleet_text(faults: &str) -> String {
    format!(
        r#"
[[environment]]
name = "prod"

[[environment.kubernetes]]
service = "search"
rollout = "search"
repository = "{REPO}"
releases = ["0.9.0", "0.9.4"]
replicas = 4
steps = [{{ setWeight = 20 }}, {{ pause = {{}} }}, {{ setWeight = 50 }}, {{ pause = {{}} }}]
application = "search-prod"
step_seconds = 10
{faults}
"#
    )
}

fn clock() -> ManualClock {
    ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap())
}

fn fleet(faults: &str, clock: &ManualClock) -> SimFleet {
    let f = FleetFile::parse(&fleet_text(faults), "fleet.toml").unwrap();
    SimFleet::new(&f, 7, Arc::new(clock.clone()))
}

fn digest(release: &str) -> Digest {
    Digest::of_bytes(format!("{REPO}:{release}").as_bytes())
}

async fn read(fleet: &SimFleet, cfg: &Config) -> ServiceSnapshot {
    let snap = fleet
        .read_env(cfg.env("prod").unwrap(), ReadScope::CONSOLE)
        .await
        .unwrap();
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
    snap.service("search").unwrap().clone()
}

fn shift(s: &ServiceSnapshot) -> Option<Shift> {
    s.deployments
        .iter()
        .find_map(|d| d.shift.as_deref().cloned())
}

fn detail(s: &ServiceSnapshot, label: &str) -> String {
    s.detail
        .lines
        .iter()
        .find(|l| l.label.to_string() == label)
        .map(|l| l.text.to_string())
        .unwrap_or_default()
}

/// Moves the clock a second at a time until `done` holds (at most 120 s).
async fn until(
    fleet: &SimFleet,
    cfg: &Config,
    clock: &ManualClock,
    done: impl Fn(&ServiceSnapshot) -> bool,
) -> ServiceSnapshot {
    for _ in 0..120 {
        clock.advance(Duration::from_secs(1));
        let s = read(fleet, cfg).await;
        if done(&s) {
            return s;
        }
    }
    panic!("never done: {:?}", read(fleet, cfg).await);
}

fn paused_at(index: usize) -> impl Fn(&ServiceSnapshot) -> bool {
    move |s| {
        shift(s)
            .and_then(|sh| sh.pause)
            .is_some_and(|p| p.hook == format!("rollout/search/{index}"))
    }
}

async fn decide(
    fleet: &SimFleet,
    cfg: &Config,
    s: &ServiceSnapshot,
    d: Decision,
) -> Result<String, ProviderError> {
    let prod = cfg.env("prod").unwrap();
    let sh = shift(s).unwrap();
    fleet
        .decide_step(prod, prod.service("search").unwrap(), &sh, d)
        .await
}

#[tokio::test]
async fn a_commit_is_synced_then_the_canary_steps_pauses_and_completes() {
    let clock = clock();
    let fleet = fleet("", &clock);
    let cfg = config("search-prod");
    let prod = cfg.env("prod").unwrap();
    let svc = prod.service("search").unwrap();
    assert!(fleet.simulates(prod, svc));
    let before = read(&fleet, &cfg).await;
    assert_eq!(before.digest, Some(digest("0.9.4")));
    assert_eq!(before.convergence.state, ConvergenceState::Converged);
    assert_eq!((before.running, before.desired), (4, 4));
    assert!(
        matches!(before.health, Health::Healthy { .. }),
        "{:?}",
        before.health
    );
    assert_eq!(before.history.len(), 2);
    let to = digest("1.0.0");
    let started = fleet.deploy(prod, svc, &to).await.unwrap();
    assert!(started.to.is_none());
    let sha = started.change.clone().unwrap();
    assert!(
        sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
        "{sha}"
    );
    // Argo CD has not synced it yet: OutOfSync, at that commit.
    let out = read(&fleet, &cfg).await;
    assert_eq!(out.convergence.state, ConvergenceState::Converging);
    assert_eq!(out.convergence.change.as_deref(), Some(sha.as_str()));
    assert_eq!(
        out.detail.badge.as_ref().map(|b| b.text.clone()),
        Some("OutOfSync".into())
    );
    // Synced two seconds later; the first step takes step_seconds.
    let first = until(&fleet, &cfg, &clock, paused_at(1)).await;
    let sh = shift(&first).unwrap();
    assert_eq!(sh.new_weight, 2000);
    assert_eq!(sh.weights, vec![2000, 5000, ALL]);
    // The new digest is what it is told to run; the stable set serves.
    assert_eq!(
        first.deployments[1].role,
        crate::model::DeploymentRole::Active,
        "the stable set"
    );
    assert_ne!(first.digest, Some(digest("0.9.4")));
    assert_eq!(detail(&first, "weights"), "canary 20% · stable 80%");
    assert!(
        detail(&first, "phase").starts_with("Paused"),
        "{}",
        detail(&first, "phase")
    );
    let primary = &first.deployments[0];
    assert_eq!(primary.rollout, RolloutState::InProgress);
    assert_eq!(primary.running, 1, "a fifth of four pods, rounded up");
    // A pause waits for a person, however long.
    clock.advance(Duration::from_mins(5));
    assert!(paused_at(1)(&read(&fleet, &cfg).await));
    let said = decide(&fleet, &cfg, &first, Decision::Continue)
        .await
        .unwrap();
    assert!(said.contains("past its pause at 20%"), "{said}");
    // The same pause decided twice: refused, nothing changed.
    let again = decide(&fleet, &cfg, &first, Decision::Continue)
        .await
        .unwrap_err();
    assert!(again.to_string().contains("nothing was changed"), "{again}");
    let second = until(&fleet, &cfg, &clock, paused_at(3)).await;
    assert_eq!(shift(&second).unwrap().new_weight, 5000);
    assert_eq!(second.deployments[0].running, 2);
    decide(&fleet, &cfg, &second, Decision::Continue)
        .await
        .unwrap();
    let done = until(&fleet, &cfg, &clock, |s| s.digest == Some(digest("1.0.0"))).await;
    assert_eq!(done.convergence.state, ConvergenceState::Converged);
    assert_eq!(done.convergence.change.as_deref(), Some(sha.as_str()));
    assert_eq!(done.deployments[0].rollout, RolloutState::Completed);
    assert!(shift(&done).is_none());
    assert!(detail(&done, "phase").starts_with("Healthy"));
    assert_eq!(
        done.task_definition
            .as_ref()
            .and_then(crate::model::Revision::number),
        Some(3)
    );
    let events: Vec<String> = done.events.iter().map(|e| e.message.to_string()).collect();
    for want in [
        "RolloutUpdated",
        "RolloutPaused",
        "RolloutResumed",
        "RolloutCompleted",
    ] {
        assert!(
            events.iter().any(|e| e.starts_with(want)),
            "{want}: {events:?}"
        );
    }
    // Deploying what runs is no commit.
    let same = fleet.deploy(prod, svc, &to).await.unwrap_err();
    assert!(same.to_string().contains("nothing was changed"), "{same}");
}

#[tokio::test]
async fn a_pause_is_continued_from_a_second_process_over_the_world_file() {
    let clock = clock();
    let dir = tempfile::tempdir().unwrap();
    let file = FleetFile::parse(&fleet_text(""), "fleet.toml").unwrap();
    let open = || {
        SimFleet::open_world(
            &file,
            7,
            Arc::new(clock.clone()),
            dir.path().join("world.json"),
            "v1".to_string(),
            None,
            false,
        )
        .0
    };
    let (alice, bob) = (open(), open());
    let cfg = config("search-prod");
    let prod = cfg.env("prod").unwrap();
    alice
        .deploy(prod, prod.service("search").unwrap(), &digest("1.0.0"))
        .await
        .unwrap();
    until(&alice, &cfg, &clock, paused_at(1)).await;
    // Bob's process sees the same pause, and decides it.
    let seen = read(&bob, &cfg).await;
    assert!(paused_at(1)(&seen), "{:?}", shift(&seen));
    decide(&bob, &cfg, &seen, Decision::Continue).await.unwrap();
    // Alice's process goes on past it.
    let at_50 = until(&alice, &cfg, &clock, paused_at(3)).await;
    assert_eq!(shift(&at_50).unwrap().new_weight, 5000);
    // Bob, deciding the pause he saw (the first) while the Rollout waits at
    // the second, is refused: nothing changed, it still waits there.
    let stale = decide(&bob, &cfg, &seen, Decision::Continue)
        .await
        .unwrap_err();
    assert!(stale.to_string().contains("nothing was changed"), "{stale}");
    assert!(paused_at(3)(&read(&alice, &cfg).await));
    decide(&alice, &cfg, &at_50, Decision::Continue)
        .await
        .unwrap();
    let done = until(&bob, &cfg, &clock, |s| s.convergence.is_converged()).await;
    assert_eq!(done.digest, Some(digest("1.0.0")));
}

#[tokio::test]
async fn an_abort_puts_all_traffic_on_stable_and_the_revert_commit_goes_back_to_it() {
    let clock = clock();
    let fleet = fleet("", &clock);
    let cfg = config("search-prod");
    let prod = cfg.env("prod").unwrap();
    let svc = prod.service("search").unwrap();
    let old = digest("0.9.4");
    fleet.deploy(prod, svc, &digest("1.0.0")).await.unwrap();
    let paused = until(&fleet, &cfg, &clock, paused_at(1)).await;
    let said = decide(&fleet, &cfg, &paused, Decision::Rollback)
        .await
        .unwrap();
    assert!(said.contains("aborted"), "{said}");
    let aborted = read(&fleet, &cfg).await;
    assert_ne!(
        aborted.digest,
        Some(old.clone()),
        "the canary's digest failed"
    );
    assert_eq!(detail(&aborted, "weights"), "canary 0% · stable 100%");
    assert_eq!(aborted.deployments[0].rollout, RolloutState::Failed);
    assert!(
        aborted.deployments[0]
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("RolloutAborted")
    );
    assert_eq!(detail(&aborted, "weights"), "canary 0% · stable 100%");
    assert_eq!(
        aborted.detail.badge.as_ref().map(|b| b.text.clone()),
        Some("aborted".into())
    );
    assert!(!aborted.convergence.is_converged());
    // The engine's way back: a revert commit of the stable digest.
    let back = fleet.redeploy(prod, svc, &old).await.unwrap();
    let sha = back.change.unwrap();
    let healthy = until(&fleet, &cfg, &clock, |s| s.convergence.is_converged()).await;
    assert_eq!(healthy.digest, Some(old.clone()));
    assert_eq!(healthy.convergence.change.as_deref(), Some(sha.as_str()));
    assert_eq!(healthy.deployments[0].rollout, RolloutState::Completed);
    assert!(detail(&healthy, "phase").starts_with("Healthy"));
    // A new, higher revision of the stable template.
    assert_eq!(
        healthy
            .task_definition
            .as_ref()
            .and_then(crate::model::Revision::number),
        Some(4)
    );
    assert_eq!(healthy.running, 4);
}

#[tokio::test]
async fn the_way_back_mid_canary_aborts_first_then_reverts() {
    let clock = clock();
    let fleet = fleet("", &clock);
    let cfg = config("search-prod");
    let prod = cfg.env("prod").unwrap();
    let svc = prod.service("search").unwrap();
    fleet.deploy(prod, svc, &digest("1.0.0")).await.unwrap();
    until(&fleet, &cfg, &clock, paused_at(1)).await;
    fleet.redeploy(prod, svc, &digest("0.9.4")).await.unwrap();
    let now = read(&fleet, &cfg).await;
    assert_eq!(
        now.deployments[0].rollout,
        RolloutState::Failed,
        "aborted at once"
    );
    assert_eq!(detail(&now, "weights"), "canary 0% · stable 100%");
    let back = until(&fleet, &cfg, &clock, |s| s.convergence.is_converged()).await;
    assert_eq!(back.digest, Some(digest("0.9.4")));
    assert!(shift(&back).is_none());
}

const ANALYSIS: &str = r#"
[[fault]]
name = "search's canary fails its analysis at 50 %"
env = "prod"
service = "search"
trigger = "step"
step = 3
after = "5s"
effect = "analysis_fails"
metric = "error-rate"

[[fault]]
name = "search's errors rise at 50 %"
env = "prod"
service = "search"
trigger = "step"
step = 3
effect = "error_rate"
value = 12.0
"#;

#[tokio::test]
async fn the_game_days_analysis_fails_at_fifty_percent_and_the_rollout_aborts_itself() {
    let clock = clock();
    let fleet = fleet(ANALYSIS, &clock);
    let cfg = config("search-prod");
    let prod = cfg.env("prod").unwrap();
    fleet
        .deploy(prod, prod.service("search").unwrap(), &digest("1.0.0"))
        .await
        .unwrap();
    let first = until(&fleet, &cfg, &clock, paused_at(1)).await;
    // Nothing fails at 20 %.
    clock.advance(Duration::from_secs(30));
    let still = read(&fleet, &cfg).await;
    assert_eq!(still.deployments[0].rollout, RolloutState::InProgress);
    decide(&fleet, &cfg, &first, Decision::Continue)
        .await
        .unwrap();
    let failed = until(&fleet, &cfg, &clock, |s| {
        s.deployments[0].rollout == RolloutState::Failed
    })
    .await;
    let why = failed.deployments[0].reason.clone().unwrap_or_default();
    assert!(
        why.contains("RolloutAborted") && why.contains("\"error-rate\""),
        "{why}"
    );
    assert!(
        detail(&failed, "phase").starts_with("Degraded"),
        "{}",
        detail(&failed, "phase")
    );
    assert_eq!(
        detail(&failed, "weights"),
        "canary 0% · stable 100%",
        "all traffic back on stable"
    );
    assert!(!failed.convergence.is_converged());
    assert!(
        failed
            .events
            .iter()
            .any(|e| e.message.contains("AnalysisRunFailed"))
    );
    // search's errors rose when it reached 50 %, for shipdeck's own rules.
    let st = fleet.lock();
    let shifts = &st.envs["prod"].functions["search"].shifts;
    assert_eq!(shifts.len(), 1);
    assert!(shifts[0].apply(0.5, st.time) > 10.0);
}

#[tokio::test]
async fn a_rollout_or_application_that_is_not_there_reads_unknown_never_converged() {
    let clock = clock();
    let fleet = fleet("", &clock);
    // The configuration names an Application Argo CD does not have.
    let cfg = config("search-elsewhere");
    let s = read(&fleet, &cfg).await;
    assert_eq!(s.convergence.state, ConvergenceState::Unknown);
    assert_eq!(
        s.detail.badge.as_ref().map(|b| b.text.clone()),
        Some("no app".into())
    );
    // The Rollout deleted from the namespace: unknown, with why.
    let cfg = config("search-prod");
    fleet.inject(Fault::RolloutDeleted {
        env: "prod".to_string(),
        rollout: "search".to_string(),
    });
    let gone = read(&fleet, &cfg).await;
    assert_eq!(gone.deployments[0].rollout, RolloutState::Unknown);
    assert!(!gone.convergence.is_converged());
    assert!(gone.digest.is_none());
    let why = gone.deployments[0].reason.clone().unwrap_or_default();
    assert!(
        why.contains("no Rollout search in namespace shop-prod"),
        "{why}"
    );
    assert!(!matches!(gone.health, Health::Healthy { .. }));
    let prod = cfg.env("prod").unwrap();
    let refused = fleet
        .deploy(prod, prod.service("search").unwrap(), &digest("1.0.0"))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ProviderError::NotFound { .. }),
        "{refused}"
    );
}

#[test]
fn fleet_entries_that_cannot_be_simulated_are_named() {
    let bad = |from: &str, to: &str| {
        let text = fleet_text("").replace(from, to);
        FleetFile::parse(&text, "fleet.toml")
            .unwrap_err()
            .to_string()
    };
    let e = bad("replicas = 4", "replicas = 0");
    assert!(
        e.contains("Kubernetes rollout \"search\" in environment \"prod\" must have from 1"),
        "{e}"
    );
    let e = bad("{ setWeight = 50 }", "{ setWeight = 150 }");
    assert!(e.contains("step 3: setWeight must be from 0 to 100"), "{e}");
    let e = bad("{ setWeight = 50 }", "{ experiment = {} }");
    assert!(
        e.contains("step 3: the simulator runs setWeight and pause steps, not experiment"),
        "{e}"
    );
    let e = bad("rollout = \"search\"", "rollout = \"Search\"");
    assert!(e.contains("must be a Kubernetes name"), "{e}");
    let e = bad("step_seconds = 10", "step_seconds = 0");
    assert!(e.contains("step_seconds must be from 1"), "{e}");
    // A fault on a Rollout takes its own effects only.
    let e = FleetFile::parse(
        &fleet_text("[[fault]]\nenv = \"prod\"\nservice = \"search\"\neffect = \"health_down\"\n"),
        "fleet.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("a Kubernetes rollout takes analysis_fails"),
        "{e}"
    );
}
