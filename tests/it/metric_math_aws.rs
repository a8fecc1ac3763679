//! An abort rule over a metric-math ratio on the AWS path: ECS on moto,
//! CloudWatch on LocalStack behind the metric-math stand-in
//! (tests/support/cloudwatch_math.py: neither emulator computes expressions).
//! The test puts 5xx and request counts; after the deploy starts, the errors
//! rise; `promote --wait` must abort on the rule, naming it and the numbers,
//! and issue the rollback.

use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use aws_sdk_ecs::types::ContainerDefinition;
use shipdeck::model::Digest;

use crate::support::emulators;
use crate::support::fixture::{REPO, cw_client, ecs_client};

/// Puts `errors` and `requests` of api in prod at `ago` before now.
async fn put(cw: &aws_sdk_cloudwatch::Client, ago: Duration, errors: f64, requests: f64) {
    let at = std::time::SystemTime::now() - ago;
    let dim = Dimension::builder()
        .name("Service")
        .value("api-prod")
        .build();
    let datum = |name: &str, v: f64| {
        MetricDatum::builder()
            .metric_name(name)
            .dimensions(dim.clone())
            .timestamp(aws_smithy_types::DateTime::from(at))
            .value(v)
            .build()
    };
    cw.put_metric_data()
        .namespace("Shop")
        .metric_data(datum("Errors", errors))
        .metric_data(datum("Requests", requests))
        .send()
        .await
        .unwrap();
}

fn config_text(moto: &str, cw: &str) -> String {
    let mut t = String::from("refresh_interval = \"1s\"\nledger_path = \"ledger.jsonl\"\n");
    for env in ["staging", "prod"] {
        t.push_str(&format!(
            "\n[[environment]]\nname = \"{env}\"\nregion = \"us-east-1\"\ncluster = \"{env}\"\n\
             ecs_endpoint_url = \"{moto}\"\ncloudwatch_endpoint_url = \"{cw}\"\n"
        ));
        if env == "prod" {
            t.push_str(
                "\n[environment.gate]\nchecks = [\"rollout_completed\", \"pinned\", \"fresh\"]\n\
                 approvals_required = 0\nfour_eyes = false\nallow_override = false\n\
                 \n[environment.rollout]\ntimeout = \"90s\"\nstability_window = \"30s\"\n\
                 \n[[environment.rollout.rule]]\nname = \"error rate above 5 %\"\n\
                 metric = \"error %\"\nabove = 5.0\nfor = \"1m\"\nmissing = \"wait\"\n",
            );
        }
        t.push_str(
            "\n[[environment.service]]\nname = \"api\"\necs_service = \"api\"\ncontainer = \"app\"\n",
        );
        if env == "prod" {
            t.push_str(
                "metric = [\n\
                 { id = \"errors\", label = \"5xx\", namespace = \"Shop\", metric_name = \"Errors\", dimensions = { Service = \"api-prod\" }, stat = \"Sum\" },\n\
                 { id = \"requests\", label = \"requests\", namespace = \"Shop\", metric_name = \"Requests\", dimensions = { Service = \"api-prod\" }, stat = \"Sum\" },\n\
                 { label = \"error %\", expression = \"errors / requests * 100\" },\n]\n",
            );
        }
    }
    t
}

fn kinds(path: &Path) -> Vec<String> {
    shipdeck::ledger::Ledger::new(path)
        .read()
        .unwrap_or_default()
        .iter()
        .map(|r| {
            serde_json::to_value(r.kind)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ratio_rising_after_the_deploy_aborts_the_watch_and_rolls_back() {
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let moto = emulators::moto(&bin);
    let localstack = emulators::localstack(&bin);
    let math = emulators::cloudwatch_math(&bin, &localstack.url);
    let ecs = ecs_client(&moto.url);
    for (cluster, release) in [("staging", "2.0"), ("prod", "1.0")] {
        ecs.create_cluster()
            .cluster_name(cluster)
            .send()
            .await
            .unwrap();
        ecs.register_task_definition()
            .family(format!("{cluster}-api"))
            .container_definitions(
                ContainerDefinition::builder()
                    .name("app")
                    .image(format!("{REPO}@{}", Digest::of_bytes(release.as_bytes())))
                    .memory(128)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        // No tasks: moto reports each rollout COMPLETED at once.
        ecs.create_service()
            .cluster(cluster)
            .service_name("api")
            .task_definition(format!("{cluster}-api:1"))
            .desired_count(0)
            .send()
            .await
            .unwrap();
    }
    // Half an hour at 0.5 % errors: healthy before the deploy.
    let cw = cw_client(&localstack.url);
    for minute in 0..30 {
        put(&cw, Duration::from_secs(minute * 60 + 30), 5.0, 1000.0).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shipdeck.toml");
    std::fs::write(&config, config_text(&moto.url, &math.url)).unwrap();
    let ledger = dir.path().join("ledger.jsonl");

    // The ratio is read through GetMetricData's metric math: status shows it.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .envs(aws_env(dir.path()))
        .arg("--config")
        .arg(&config)
        .args(["config", "check"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .envs(aws_env(dir.path()))
        .arg("--config")
        .arg(&config)
        .args([
            "promote", "api", "--to", "prod", "--yes", "--wait", "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_mins(1);
    while !kinds(&ledger).contains(&"deploy_issued".to_string()) {
        assert!(Instant::now() < deadline, "the deploy was never issued");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The new release fails a fifth of its requests.
    put(&cw, Duration::from_secs(2), 200.0, 1000.0).await;
    let out = tokio::time::timeout(Duration::from_mins(3), child.wait_with_output())
        .await
        .expect("promote --wait hung")
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["outcome"], "rolled_back", "{text}");
    let why = report["reason"].as_str().unwrap();
    assert!(
        why.contains("rule \"error rate above 5 %\"") && why.contains("error % above 5"),
        "{why}"
    );
    let kinds = kinds(&ledger);
    for k in ["deploy_issued", "aborted", "rollback_issued"] {
        assert!(kinds.contains(&k.to_string()), "{k} missing: {kinds:?}");
    }
    // The rollback really went to ECS: prod runs its first revision again.
    let svc = ecs
        .describe_services()
        .cluster("prod")
        .services("api")
        .send()
        .await
        .unwrap();
    let td = svc.services()[0].task_definition().unwrap_or_default();
    assert!(td.ends_with("prod-api:1"), "{td}");
}

fn aws_env(dir: &Path) -> Vec<(String, String)> {
    [
        ("NO_COLOR", "1".to_string()),
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
        ("AWS_CONFIG_FILE", dir.join("none").display().to_string()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("none").display().to_string(),
        ),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ("SHIPDECK_LOG_FILE", dir.join("log").display().to_string()),
        ("XDG_CACHE_HOME", dir.join("cache").display().to_string()),
        ("XDG_DATA_HOME", dir.join("data").display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
