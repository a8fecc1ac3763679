//! Fleet scale: a reading costs only what the view shows, task definitions are
//! kept in a cache file that a corrupt copy never fools, rollback targets are
//! read one service at a time, and calls run side by side under a limit that
//! throttling lowers and success restores.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use shipdeck::app::Flow;
use shipdeck::app::keys::Key;
use shipdeck::clock::ManualClock;
use shipdeck::platforms::sim::{Fault, FleetFile, SimFleet, scaled};
use shipdeck::provider::{AnyProvider, Provider, ReadScope};

use crate::support::console::Harness;
use crate::support::fixture::{config_text, digest, ecs_client, ecs_fixture, seeded, stack};

type Calls = BTreeMap<String, BTreeMap<String, u64>>;
/// Spoils the cache file at the path.
type Corrupt = Box<dyn Fn(&Path)>;

/// Runs `shipdeck status --json` on `config` with the cache under `cache_home`.
pub(crate) fn status(
    config: &Path,
    cache_home: &Path,
    extra: &[&str],
) -> (serde_json::Value, String) {
    let out = assert_cmd::Command::cargo_bin("shipdeck")
        .unwrap()
        .env_remove("SHIPDECK_CONFIG")
        .env("NO_COLOR", "1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", cache_home.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", cache_home.join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("SHIPDECK_LOG_FILE", cache_home.join("log"))
        .env("XDG_CACHE_HOME", cache_home)
        .arg("--config")
        .arg(config)
        .args(extra)
        .args(["status", "--json"])
        .timeout(Duration::from_mins(1))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&out.stdout)));
    (report, stderr)
}

fn calls(report: &serde_json::Value) -> Calls {
    serde_json::from_value(report["diagnostics"]["api_calls"].clone()).unwrap()
}

/// Every cell's digest, by (service, environment).
fn digests(report: &serde_json::Value) -> BTreeMap<(String, String), String> {
    let envs: Vec<String> = report["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    let mut out = BTreeMap::new();
    for s in report["services"].as_array().unwrap() {
        for (cell, env) in s["cells"].as_array().unwrap().iter().zip(&envs) {
            out.insert(
                (s["name"].as_str().unwrap().to_string(), env.clone()),
                cell["digest"].as_str().unwrap_or("").to_string(),
            );
        }
    }
    out
}

fn cache_file(cache_home: &Path) -> std::path::PathBuf {
    cache_home.join("shipdeck").join("task-definitions.json")
}

#[tokio::test]
async fn status_reads_only_what_it_shows_and_a_warm_run_describes_nothing() {
    let Some(st) = stack() else { return };
    let ecs = ecs_client(&st.moto.url);
    ecs_fixture(&ecs, 3, 5).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shipdeck.toml");
    std::fs::write(&config, config_text(3, 5, &st.moto.url, &st.localstack.url)).unwrap();
    let home = dir.path().join("home");

    let (cold, _) = status(&config, &home, &[]);
    let truth = digests(&cold);
    assert_eq!(truth.len(), 15);
    assert!(
        truth.values().all(|d| *d == digest("1.0").to_string()),
        "{truth:?}"
    );
    for (env, ops) in calls(&cold) {
        assert_eq!(ops["DescribeServices"], 1, "{env}: {ops:?}");
        assert_eq!(ops["DescribeTaskDefinition"], 5, "{env}: {ops:?}");
        assert_eq!(ops["DescribeAlarms"], 1, "{env}: {ops:?}");
        for op in ["ListTaskDefinitions", "GetMetricData", "ListTasks"] {
            assert!(
                !ops.contains_key(op),
                "status never calls {op}: {env}: {ops:?}"
            );
        }
    }
    assert!(cache_file(&home).is_file(), "the cache file was written");

    let (warm, _) = status(&config, &home, &[]);
    assert_eq!(digests(&warm), truth);
    for (env, ops) in calls(&warm) {
        assert!(
            !ops.contains_key("DescribeTaskDefinition"),
            "a second status describes no task definition: {env}: {ops:?}"
        );
        assert_eq!(ops.values().sum::<u64>(), 2, "{env}: {ops:?}");
    }

    // --no-cache: described afresh, and the file is left alone.
    let before = std::fs::read(cache_file(&home)).unwrap();
    std::fs::remove_file(cache_file(&home)).unwrap();
    let (fresh, _) = status(&config, &home, &["--no-cache"]);
    assert_eq!(digests(&fresh), truth);
    assert!(
        calls(&fresh)
            .values()
            .all(|ops| ops["DescribeTaskDefinition"] == 5)
    );
    assert!(!cache_file(&home).exists(), "--no-cache writes no cache");
    std::fs::write(cache_file(&home), &before).unwrap();
}

#[tokio::test]
async fn a_corrupt_cache_file_is_ignored_with_one_warning_and_rewritten() {
    let Some(st) = stack() else { return };
    let ecs = ecs_client(&st.moto.url);
    ecs_fixture(&ecs, 1, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shipdeck.toml");
    std::fs::write(&config, config_text(1, 3, &st.moto.url, &st.localstack.url)).unwrap();
    let home = dir.path().join("home");
    let (first, _) = status(&config, &home, &[]);
    let truth = digests(&first);
    let good = std::fs::read(cache_file(&home)).unwrap();

    let cases: Vec<(&str, Corrupt)> = vec![
        (
            "truncated",
            Box::new({
                let good = good.clone();
                move |p: &Path| std::fs::write(p, &good[..good.len() / 2]).unwrap()
            }),
        ),
        (
            "garbage",
            Box::new(|p: &Path| {
                std::fs::write(p, b"\x00\xff\xfe not json at all \x1b[2J").unwrap();
            }),
        ),
        (
            "another schema version",
            Box::new(|p: &Path| {
                std::fs::write(
                    p,
                    r#"{"kind":"shipdeck-task-definition-cache","schema":99,"entries":[]}"#,
                )
                .unwrap();
            }),
        ),
        (
            "another program's file",
            Box::new(|p: &Path| {
                std::fs::write(p, r#"{"kind":"something-else","schema":1,"entries":[]}"#).unwrap();
            }),
        ),
        (
            "not a regular file",
            Box::new(|p: &Path| {
                let status = std::process::Command::new("mkfifo")
                    .arg(p)
                    .status()
                    .unwrap();
                assert!(status.success());
            }),
        ),
    ];
    for (name, corrupt) in &cases {
        let path = cache_file(&home);
        let _ = std::fs::remove_file(&path);
        corrupt(&path);
        let (report, stderr) = status(&config, &home, &[]);
        assert_eq!(digests(&report), truth, "{name}: the reading stays correct");
        let warnings: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("task-definition cache"))
            .collect();
        assert_eq!(warnings.len(), 1, "{name}: one warning: {stderr}");
        assert!(warnings[0].contains("ignored"), "{name}: {stderr}");
        assert!(
            calls(&report)
                .values()
                .all(|ops| ops["DescribeTaskDefinition"] == 3),
            "{name}: rebuilt from the API"
        );
        // Rewritten: the next run trusts it, quietly.
        assert!(path.is_file(), "{name}: rewritten as a regular file");
        let (again, stderr) = status(&config, &home, &[]);
        assert_eq!(digests(&again), truth, "{name}");
        assert!(
            !stderr.contains("task-definition cache"),
            "{name}: {stderr}"
        );
        assert!(
            calls(&again)
                .values()
                .all(|ops| !ops.contains_key("DescribeTaskDefinition")),
            "{name}: the rewritten cache is used"
        );
    }

    // Unreadable permissions (a privileged user reads it anyway: then it is
    // simply used, and must still give the right answer).
    let path = cache_file(&home);
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let readable = std::fs::read(&path).is_ok();
    let (report, stderr) = status(&config, &home, &[]);
    assert_eq!(digests(&report), truth);
    let warned = stderr
        .lines()
        .filter(|l| l.contains("task-definition cache"))
        .count();
    assert_eq!(warned, usize::from(!readable), "{stderr}");
}

#[tokio::test]
async fn pressing_r_reads_one_services_rollback_target_and_nothing_else() {
    let Some((_st, cfg, p)) = seeded(1, 3).await else {
        return;
    };
    let env = &cfg.environments[0];
    // svc2 moves to a second revision; its first one is the rollback target.
    p.deploy(env, &env.services[1], &digest("2.0"))
        .await
        .unwrap();
    let mut h = Harness::with_provider(cfg.clone(), AnyProvider::Aws(p.clone()), "alice").await;
    assert_eq!(h.digest("svc2", "e1"), digest("2.0").to_string());
    // moto runs no tasks, so the old deployment may still be listed: then its
    // revision was described by the reading already and is cached.
    let old_listed = h.app.envs[0]
        .snapshot
        .as_ref()
        .and_then(|s| s.service("svc2"))
        .is_some_and(|s| {
            s.deployments
                .iter()
                .any(|d| d.task_definition.number().unwrap() == 1)
        });
    let before = p.accounting();
    h.select("svc2", "e1");
    h.key(Key::ch('r')).await;
    let after = p.accounting();
    let mut made: BTreeMap<String, u64> = BTreeMap::new();
    for (op, n) in &after["e1"] {
        let was = before["e1"].get(op).copied().unwrap_or(0);
        if *n > was {
            made.insert(op.clone(), n - was);
        }
    }
    let mut expected = BTreeMap::from([("ListTaskDefinitions".to_string(), 1)]);
    if !old_listed {
        expected.insert("DescribeTaskDefinition".to_string(), 1);
    }
    assert_eq!(
        made, expected,
        "exactly the calls for svc2's rollback target"
    );
    match &h.app.flow {
        Some(Flow::Rollback(d)) => {
            assert_eq!(d.service, "svc2");
            assert_eq!(d.target.revision.number().unwrap(), 1);
            assert_eq!(d.target.digest, Some(digest("1.0")));
        }
        other => panic!("the rollback dialog opens once the target is read: {other:?}"),
    }
}

#[tokio::test]
async fn a_deregistered_task_definition_still_cached_is_never_a_rollback_target() {
    let Some((st, cfg, p)) = seeded(1, 1).await else {
        return;
    };
    let ecs = ecs_client(&st.moto.url);
    let env = &cfg.environments[0];
    let svc = &env.services[0];
    p.deploy(env, svc, &digest("2.0")).await.unwrap();
    let snap = p.read_env(env, ReadScope::STATUS).await.unwrap();
    let mut s = snap.service("svc1").unwrap().clone();
    let current = s.task_definition.clone().unwrap();
    assert_eq!(current.number().unwrap(), 2);
    // Revision 1 is read (and cached) as the rollback target...
    s.history = p.history(env, svc, &current).await.unwrap().into();
    let t = shipdeck::release::rollback_target(
        &[],
        "e1",
        &s,
        shipdeck::provider::RollbackStyle::Revisions,
    )
    .unwrap();
    assert_eq!(
        (t.revision.number().unwrap(), t.digest.clone()),
        (1, Some(digest("1.0")))
    );
    // ...then deregistered. Also a ledger that remembers it as stable.
    ecs.deregister_task_definition()
        .task_definition("c1-svc1:1")
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ledger = shipdeck::ledger::Ledger::new(dir.path().join("l.jsonl"));
    shipdeck::stable::mark(
        &ledger,
        "alice",
        "e1",
        "svc1",
        &t.revision.to_string(),
        &digest("1.0").to_string(),
        Utc::now(),
    )
    .unwrap();
    s.history = p.history(env, svc, &current).await.unwrap().into();
    assert!(
        s.history
            .iter()
            .all(|h| h.task_definition.number().unwrap() != 1),
        "{:?}",
        s.history
    );
    let err = shipdeck::release::rollback_target(
        &ledger.read().unwrap(),
        "e1",
        &s,
        shipdeck::provider::RollbackStyle::Revisions,
    )
    .unwrap_err();
    assert!(err.0.contains("nothing to roll back to"), "{err}");

    // The running revision deregistered too: the reading stays right (from
    // the cache), and the history marks it INACTIVE.
    ecs.deregister_task_definition()
        .task_definition("c1-svc1:2")
        .send()
        .await
        .unwrap();
    let snap = p.read_env(env, ReadScope::STATUS).await.unwrap();
    let s2 = snap.service("svc1").unwrap();
    assert_eq!(s2.digest, Some(digest("2.0")));
    assert_eq!(
        s2.task_definition.as_ref().map(|t| t.number().unwrap()),
        Some(2)
    );
    let history = p.history(env, svc, &current).await.unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert!(!history[0].active);
}

#[tokio::test(start_paused = true)]
async fn a_throttled_burst_slows_the_reading_down_and_the_limit_recovers() {
    let (cfg_text, fleet_text) = scaled(400);
    let cfg = shipdeck::config::parse_str(&cfg_text, "<scaled>", None).unwrap();
    let fleet = FleetFile::parse(&fleet_text, "<scaled>").unwrap();
    let sim = SimFleet::new(&fleet, 1, Arc::new(ManualClock::new(Utc::now())));
    let staging = cfg.env("staging").unwrap();
    let limiter = sim.limiter(staging);
    assert_eq!(limiter.max(), 8, "the default in-flight limit");
    // A burst: the next 12 calls to staging are throttled.
    sim.inject(Fault::Throttle {
        env: "staging".into(),
        calls: 12,
    });
    let snap = sim.read_env(staging, ReadScope::STATUS).await.unwrap();
    assert_eq!(snap.services.len(), 400, "the reading completes");
    assert!(
        limiter.lowest() < 8,
        "throttling lowered the in-flight count: {}",
        limiter.lowest()
    );
    // Readings without throttling grow it back to the maximum.
    for _ in 0..8 {
        sim.read_env(staging, ReadScope::STATUS).await.unwrap();
    }
    assert_eq!(limiter.limit(), 8, "and it recovered");
}

#[tokio::test]
async fn drift_updated_row_by_row_equals_drift_computed_whole() {
    // A reading recomputes only the rows whose digest, pinning or history
    // changed; after deploys the board must match a full recomputation.
    let (cfg_text, fleet_text) = scaled(60);
    let cfg = shipdeck::config::parse_str(&cfg_text, "<scaled>", None).unwrap();
    let fleet = FleetFile::parse(&fleet_text, "<scaled>").unwrap();
    let mut h = Harness::with_fleet(
        cfg.clone(),
        &fleet,
        "tester",
        crate::support::console::monday(),
    )
    .await;
    h.tick(6).await;
    let whole = |h: &Harness| {
        let snaps: Vec<_> = h.app.envs.iter().map(|e| e.snapshot.as_ref()).collect();
        shipdeck::model::drift::drift(&h.app.services, &h.cfg.env_names(), &snaps)
    };
    assert_eq!(h.app.drift, whole(&h), "first readings");
    let before = h.app.drift.clone();
    // Bring three lagging staging services up to dev's digest.
    let (dev, staging) = (cfg.env("dev").unwrap(), cfg.env("staging").unwrap());
    let dev_snap = h.provider.read_env(dev, ReadScope::STATUS).await.unwrap();
    for name in ["svc-0000", "svc-0003", "svc-0006"] {
        let digest = dev_snap.service(name).unwrap().digest.clone().unwrap();
        let svc = staging.services.iter().find(|s| s.name == name).unwrap();
        h.provider.deploy(staging, svc, &digest).await.unwrap();
    }
    h.tick(120).await;
    assert_eq!(h.app.drift, whole(&h), "after deploys");
    assert_ne!(h.app.drift, before, "the deploys changed some rows");
}
