//! The AWS provider against local emulators (moto for ECS and STS, LocalStack for
//! CloudWatch), and a contract both it and the simulated fleet must keep.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ecs::types::TaskDefinitionField;
use shipdeck::clock::SystemClock;
use shipdeck::config::Config;
use shipdeck::model::{Digest, Pinning};
use shipdeck::platforms::ecs::AwsProvider;
use shipdeck::platforms::sim::{FleetFile, SimFleet};
use shipdeck::provider::{AnyProvider, Provider, ProviderError, ReadScope};

use crate::support::fixture::{
    REPO, config_text, creds, cw_client, digest, ecs_client, ecs_fixture, parse, register, seeded,
    stack,
};

/// What every provider must do, whatever the cloud behind it.
async fn contract(p: &AnyProvider, cfg: &Config, d1: &Digest) {
    let env = &cfg.environments[0];
    let svc = env.services.iter().find(|s| s.name == "svc1").unwrap();
    let snap = p.read_env(env, ReadScope::CONSOLE).await.unwrap();
    let s = snap.service("svc1").expect("svc1 read");
    assert_eq!(s.digest.as_ref(), Some(d1));
    assert_eq!(s.pinning, Pinning::Pinned);
    let before = s.task_definition.clone().unwrap();

    // Promotion: a new revision with the new digest, and the service points at it.
    let started = p.deploy(env, svc, &digest("2.0")).await.unwrap();
    assert_eq!(
        started.from.as_ref().map(|f| f.number().unwrap()),
        Some(before.number().unwrap())
    );
    assert!(started.to.as_ref().unwrap().number().unwrap() > before.number().unwrap());
    let snap = p.read_env(env, ReadScope::CONSOLE).await.unwrap();
    let s = snap.service("svc1").unwrap();
    assert_eq!(
        s.task_definition.as_ref().map(|t| t.number().unwrap()),
        Some(started.to.as_ref().unwrap().number().unwrap())
    );
    assert_eq!(s.digest, Some(digest("2.0")));
    let current = s.task_definition.clone().unwrap();
    let history = p.history(env, svc, &current).await.unwrap();
    assert!(
        history.iter().any(
            |h| h.task_definition.number().unwrap() == before.number().unwrap()
                && h.active
                && h.digest.as_ref() == Some(d1)
        ),
        "the old revision stays ACTIVE, with its digest, for rollback: {history:?}"
    );

    // Rollback targets the given revision.
    p.rollback(env, svc, &before).await.unwrap();
    let snap = p.read_env(env, ReadScope::CONSOLE).await.unwrap();
    let s = snap.service("svc1").unwrap();
    assert_eq!(
        s.task_definition.as_ref().map(|t| t.number().unwrap()),
        Some(before.number().unwrap())
    );
    assert_eq!(s.digest.as_ref(), Some(d1));

    // An unknown service: a warning on the reading, NotFound on deploy.
    let mut ghost = svc.clone();
    ghost.name = "ghost".into();
    ghost.ecs = Some(std::sync::Arc::new(shipdeck::config::aws::EcsService {
        service: "ghost".into(),
        container: shipdeck::platforms::ecs::container(svc).to_string(),
    }));
    let mut env2 = env.clone();
    std::sync::Arc::make_mut(&mut env2.services).push(ghost.clone());
    let snap = p.read_env(&env2, ReadScope::CONSOLE).await.unwrap();
    assert!(snap.service("ghost").is_none());
    assert!(
        snap.warnings
            .iter()
            .any(|w| w.contains("ghost") && w.contains("not found")),
        "{:?}",
        snap.warnings
    );
    let err = p.deploy(&env2, &ghost, &digest("2.0")).await.unwrap_err();
    assert!(matches!(err, ProviderError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn contract_on_the_simulated_fleet() {
    let fleet = FleetFile::parse(
        &format!(
            "[[environment]]\nname = \"e1\"\n[[environment.service]]\necs_service = \"svc1\"\n\
             family = \"c1-svc1\"\nrepository = \"{REPO}\"\nreleases = [\"1.0\"]\ndesired = 1\n"
        ),
        "<test fleet>",
    )
    .unwrap();
    // The simulator names digests sha256("repository:label"); align the contract's.
    let cfg = parse(&config_text(
        1,
        1,
        "http://127.0.0.1:1",
        "http://127.0.0.1:1",
    ));
    let sim = SimFleet::new(&fleet, 1, Arc::new(SystemClock));
    let p = AnyProvider::Sim(sim);
    let env = &cfg.environments[0];
    let snap = p.read_env(env, ReadScope::CONSOLE).await.unwrap();
    let d1 = snap.service("svc1").unwrap().digest.clone().unwrap();
    assert_eq!(d1, Digest::of_bytes(format!("{REPO}:1.0").as_bytes()));
    // The same contract as on the emulators, with the simulator's digest naming.
    contract(&p, &cfg, &d1).await;
}

#[tokio::test]
async fn contract_on_the_emulators() {
    let Some((_st, cfg, p)) = seeded(1, 1).await else {
        return;
    };
    let p = AnyProvider::Aws(p);
    contract(&p, &cfg, &digest("1.0")).await;
}

#[tokio::test]
async fn promotion_changes_only_the_image() {
    let Some((st, cfg, p)) = seeded(1, 1).await else {
        return;
    };
    let ecs = ecs_client(&st.moto.url);
    let env = &cfg.environments[0];
    let started = p
        .deploy(env, &env.services[0], &digest("2.0"))
        .await
        .unwrap();
    let describe = |arn: String| {
        let ecs = ecs.clone();
        async move {
            ecs.describe_task_definition()
                .task_definition(arn)
                .include(TaskDefinitionField::Tags)
                .send()
                .await
                .unwrap()
        }
    };
    let old = describe("c1-svc1:1".into()).await;
    let new = describe(started.to.as_ref().unwrap().arn.to_string()).await;
    let (o, n) = (
        old.task_definition().unwrap(),
        new.task_definition().unwrap(),
    );
    // The chosen container's image is the only change.
    let mut containers = n.container_definitions().to_vec();
    let app = containers
        .iter_mut()
        .find(|c| c.name() == Some("app"))
        .unwrap();
    assert_eq!(
        app.image(),
        Some(format!("{REPO}@{}", digest("2.0")).as_str())
    );
    app.image = o
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some("app"))
        .unwrap()
        .image
        .clone();
    assert_eq!(containers, o.container_definitions());
    assert_eq!(n.family(), o.family());
    assert_eq!(n.revision(), o.revision() + 1);
    assert_eq!(n.task_role_arn(), o.task_role_arn());
    assert_eq!(n.execution_role_arn(), o.execution_role_arn());
    assert_eq!(n.network_mode(), o.network_mode());
    assert_eq!(n.volumes(), o.volumes());
    assert_eq!(n.placement_constraints(), o.placement_constraints());
    assert_eq!(n.requires_compatibilities(), o.requires_compatibilities());
    assert_eq!(n.cpu(), o.cpu());
    assert_eq!(n.memory(), o.memory());
    assert_eq!(n.pid_mode(), o.pid_mode());
    assert_eq!(n.ipc_mode(), o.ipc_mode());
    assert_eq!(n.proxy_configuration(), o.proxy_configuration());
    assert_eq!(n.ephemeral_storage(), o.ephemeral_storage());
    assert_eq!(n.runtime_platform(), o.runtime_platform());
    assert_eq!(new.tags(), old.tags());
    assert!(!new.tags().is_empty());
    // And the service points at it.
    let svc = ecs
        .describe_services()
        .cluster("c1")
        .services("svc1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        svc.services()[0].task_definition(),
        Some(&*started.to.as_ref().unwrap().arn)
    );
}

#[tokio::test]
async fn batching_and_task_definition_cache() {
    let Some((_st, cfg, p)) = seeded(3, 25).await else {
        return;
    };
    let any = AnyProvider::Aws(p.clone());
    let first = shipdeck::status::read_all(&cfg, &any).await;
    assert!(first.iter().all(Result::is_ok));
    assert_eq!(first[0].as_ref().unwrap().services.len(), 25);
    let calls = p.accounting();
    for e in ["e1", "e2", "e3"] {
        let ops = &calls[e];
        assert_eq!(ops["DescribeServices"], 3, "{e}: {ops:?}");
        assert_eq!(ops["DescribeTaskDefinition"], 25, "{e}: {ops:?}");
        assert_eq!(
            ops["DescribeAlarms"], 1,
            "25 alarm names fit one call: {ops:?}"
        );
        assert_eq!(
            ops.get("GetMetricData"),
            None,
            "status reads no metrics: {ops:?}"
        );
        assert_eq!(
            ops.get("ListTaskDefinitions"),
            None,
            "status reads no revision lists: {ops:?}"
        );
    }
    shipdeck::status::read_all(&cfg, &any).await;
    let again = p.accounting();
    for e in ["e1", "e2", "e3"] {
        assert_eq!(again[e]["DescribeServices"], 6);
        assert_eq!(
            again[e]["DescribeTaskDefinition"], 25,
            "unchanged ARNs are not described again"
        );
        assert_eq!(again[e].get("ListTaskDefinitions"), None);
    }
}

#[tokio::test]
async fn an_unreachable_environment_does_not_block_the_others() {
    let Some(st) = stack() else { return };
    let ecs = ecs_client(&st.moto.url);
    ecs_fixture(&ecs, 1, 1).await;
    let mut text = config_text(1, 1, &st.moto.url, &st.localstack.url);
    // A second environment whose endpoint refuses connections.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    text.push_str(
        &config_text(
            1,
            1,
            &format!("http://127.0.0.1:{closed}"),
            &format!("http://127.0.0.1:{closed}"),
        )
        .replace("refresh_interval = \"5s\"\n", "")
        .replace("name = \"e1\"", "name = \"e2\"")
        .replace("e1-svc1-5xx", "e2-svc1-5xx"),
    );
    let cfg = parse(&text);
    let p = AnyProvider::Aws(AwsProvider::new(&cfg).with_credentials(creds()));
    let started = std::time::Instant::now();
    let readings = shipdeck::status::read_all(&cfg, &p).await;
    assert!(readings[0].is_ok(), "{:?}", readings[0]);
    match &readings[1] {
        Err(ProviderError::Network { message }) => assert!(message.contains("reach"), "{message}"),
        other => panic!("expected a network error, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn unknown_cluster_is_not_found_and_tags_are_unpinned() {
    let Some(st) = stack() else { return };
    let ecs = ecs_client(&st.moto.url);
    ecs_fixture(&ecs, 1, 1).await;
    // svc1 runs a tag, not a digest: moto starts no tasks, so nothing resolves it.
    register(&ecs, "c1-svc1", &format!("{REPO}:latest")).await;
    ecs.update_service()
        .cluster("c1")
        .service("svc1")
        .task_definition("c1-svc1:2")
        .send()
        .await
        .unwrap();
    let cfg = parse(&config_text(1, 1, &st.moto.url, &st.localstack.url));
    let p = AwsProvider::new(&cfg).with_credentials(creds());
    let snap = p
        .read_env(&cfg.environments[0], ReadScope::CONSOLE)
        .await
        .unwrap();
    let s = snap.service("svc1").unwrap();
    assert_eq!(s.pinning, Pinning::Unpinned);
    assert_eq!(s.digest, None);
    let mut env = cfg.environments[0].clone();
    env.ecs = Some(std::sync::Arc::new(shipdeck::config::aws::EcsEnv {
        cluster: "nope".into(),
    }));
    let err = p.read_env(&env, ReadScope::CONSOLE).await.unwrap_err();
    assert!(
        matches!(
            err,
            ProviderError::NotFound { .. } | ProviderError::Other { .. }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn caller_identity_comes_from_sts() {
    let Some(st) = stack() else { return };
    let cfg = parse(&config_text(1, 1, &st.moto.url, &st.localstack.url));
    let p = AwsProvider::new(&cfg).with_credentials(creds());
    let arn = p.caller_identity().await.unwrap();
    assert!(arn.starts_with("arn:aws:"), "{arn}");
}

/// Alarms and metric data on LocalStack: one alarm goes to ALARM by itself, and the
/// real binary reports it and exits 1.
#[tokio::test]
async fn status_shows_an_alarm_that_localstack_evaluated() {
    let Some(st) = stack() else { return };
    let ecs = ecs_client(&st.moto.url);
    ecs_fixture(&ecs, 1, 2).await;
    let cw = cw_client(&st.localstack.url);
    for s in 1..=2 {
        cw.put_metric_alarm()
            .alarm_name(format!("e1-svc{s}-5xx"))
            .namespace("Shop")
            .metric_name(format!("Errors{s}"))
            .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
            .period(10)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(
                aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold,
            )
            .send()
            .await
            .unwrap();
    }
    // svc1 errors, svc2 does not, stamped a little in the past and kept coming
    // until LocalStack's evaluation (every period) has seen them.
    let put = |s: usize, v: f64| {
        let cw = cw.clone();
        async move {
            let at = aws_smithy_types::DateTime::from_secs(chrono::Utc::now().timestamp() - 2);
            cw.put_metric_data()
                .namespace("Shop")
                .metric_data(
                    aws_sdk_cloudwatch::types::MetricDatum::builder()
                        .metric_name(format!("Errors{s}"))
                        .value(v)
                        .timestamp(at)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        put(1, 5.0).await;
        put(2, 0.0).await;
        let out = cw
            .describe_alarms()
            .alarm_names("e1-svc1-5xx")
            .send()
            .await
            .unwrap();
        if out.metric_alarms().first().and_then(|a| a.state_value())
            == Some(&aws_sdk_cloudwatch::types::StateValue::Alarm)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "LocalStack never evaluated the alarm"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shipdeck.toml");
    std::fs::write(&path, config_text(1, 2, &st.moto.url, &st.localstack.url)).unwrap();
    let run = |json: bool| {
        let mut cmd = assert_cmd::Command::cargo_bin("shipdeck").unwrap();
        cmd.env_remove("SHIPDECK_CONFIG")
            .env("NO_COLOR", "1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", dir.path().join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("SHIPDECK_LOG_FILE", dir.path().join("log"))
            // Emulators reuse ARNs across runs: never share the user's cache.
            .env("XDG_CACHE_HOME", dir.path().join("cache"))
            .arg("--config")
            .arg(&path)
            .arg("status");
        if json {
            cmd.arg("--json");
        }
        cmd.timeout(Duration::from_mins(1))
            .assert()
            .code(1)
            .get_output()
            .stdout
            .clone()
    };
    let table = String::from_utf8(run(false)).unwrap();
    let row = table.lines().find(|l| l.starts_with("svc1")).unwrap();
    assert!(row.contains("✗ 1 ALARM"), "{table}");
    let row2 = table.lines().find(|l| l.starts_with("svc2")).unwrap();
    assert!(row2.contains("✓ ok"), "{table}");
    let report: serde_json::Value = serde_json::from_slice(&run(true)).unwrap();
    let cell = &report["services"][0]["cells"][0];
    assert_eq!(cell["alarms_firing"][0], "e1-svc1-5xx", "{cell}");
    assert_eq!(cell["digest"], digest("1.0").to_string());
    let calls = &report["diagnostics"]["api_calls"]["e1"];
    assert_eq!(calls["DescribeServices"], 1, "{calls}");
}

#[test]
fn missing_credentials_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shipdeck.toml");
    std::fs::write(
        &path,
        config_text(1, 1, "http://127.0.0.1:9", "http://127.0.0.1:9"),
    )
    .unwrap();
    let out = assert_cmd::Command::cargo_bin("shipdeck")
        .unwrap()
        .env_remove("SHIPDECK_CONFIG")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .env("SHIPDECK_LOG_FILE", dir.path().join("log"))
        .arg("--config")
        .arg(&path)
        .arg("status")
        .timeout(Duration::from_mins(1))
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let line = text.lines().find(|l| l.starts_with("e1")).unwrap();
    assert!(
        line.contains("no usable AWS credentials") && line.contains("aws sso login"),
        "{text}"
    );
    assert!(line.len() < 220, "one short line: {line}");
}

/// moto answers the service-deployment APIs with HTTP 500: the reading still
/// succeeds, and shipdeck stops asking that endpoint.
#[tokio::test]
async fn missing_service_deployment_api_does_not_fail_the_reading() {
    let Some((_st, cfg, p)) = seeded(1, 2).await else {
        return;
    };
    let env = &cfg.environments[0];
    // moto starts no tasks, so both rollouts look in flight and the API is asked.
    let first = p.read_env(env, ReadScope::CONSOLE).await.unwrap();
    assert_eq!(first.services.len(), 2);
    // Services are read side by side: each may ask once before the first
    // answer marks the endpoint; after that, nobody asks again.
    let asked = p.accounting()["e1"]["ListServiceDeployments"];
    assert!((1..=2).contains(&asked), "{asked}");
    p.read_env(env, ReadScope::CONSOLE).await.unwrap();
    assert_eq!(p.accounting()["e1"]["ListServiceDeployments"], asked);
    // Rollback falls back to UpdateService.
    let before = first
        .service("svc1")
        .unwrap()
        .task_definition
        .clone()
        .unwrap();
    p.deploy(env, &env.services[0], &digest("2.0"))
        .await
        .unwrap();
    p.rollback(env, &env.services[0], &before).await.unwrap();
    let s = p
        .read_env(env, ReadScope::CONSOLE)
        .await
        .unwrap()
        .service("svc1")
        .unwrap()
        .clone();
    assert_eq!(
        s.task_definition.map(|t| t.number().unwrap()),
        Some(before.number().unwrap())
    );
}

/// A CODE_DEPLOY-controlled service, as moto reports it, is read as such and
/// refused before any change. (moto keeps no canary or linear configuration:
/// those are read in `aws::read`'s unit tests from SDK-built answers.)
#[tokio::test]
async fn a_code_deploy_service_is_read_and_refused() {
    use aws_sdk_ecs::types::{DeploymentController, DeploymentControllerType};
    use shipdeck::model::Strategy;
    let Some(st) = stack() else { return };
    let ecs = ecs_client(&st.moto.url);
    ecs.create_cluster()
        .cluster_name("c1")
        .send()
        .await
        .unwrap();
    register(&ecs, "c1-svc1", &format!("{REPO}@{}", digest("1.0"))).await;
    ecs.create_service()
        .cluster("c1")
        .service_name("svc1")
        .task_definition("c1-svc1:1")
        .desired_count(1)
        .deployment_controller(
            DeploymentController::builder()
                .r#type(DeploymentControllerType::CodeDeploy)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let cfg = parse(&config_text(1, 1, &st.moto.url, &st.localstack.url));
    let p = AwsProvider::new(&cfg).with_credentials(creds());
    let snap = p
        .read_env(&cfg.environments[0], ReadScope::CONSOLE)
        .await
        .unwrap();
    let cd = snap.service("svc1").unwrap();
    assert_eq!(cd.deployment_config.strategy, Strategy::CodeDeploy);
    let err = shipdeck::release::rollback_target(
        &[],
        "e1",
        cd,
        shipdeck::provider::RollbackStyle::Revisions,
    )
    .unwrap_err();
    assert!(err.0.contains("deployed by CodeDeploy"), "{err}");
}

/// A CloudWatch Logs client on `url` (LocalStack).
fn logs_client(url: &str) -> aws_sdk_cloudwatchlogs::Client {
    let conf = aws_sdk_cloudwatchlogs::Config::builder()
        .behavior_version(aws_sdk_cloudwatchlogs::config::BehaviorVersion::latest())
        .region(aws_sdk_cloudwatchlogs::config::Region::new("us-east-1"))
        .credentials_provider(creds())
        .endpoint_url(url)
        .build();
    aws_sdk_cloudwatchlogs::Client::from_conf(conf)
}

/// Puts `(milliseconds, message)` events into a stream of `/ecs/shop-api`.
async fn put(logs: &aws_sdk_cloudwatchlogs::Client, stream: &str, events: &[(i64, &str)]) {
    let mut put = logs
        .put_log_events()
        .log_group_name("/ecs/shop-api")
        .log_stream_name(stream);
    for (at, message) in events {
        put = put.log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(*at)
                .message(*message)
                .build()
                .unwrap(),
        );
    }
    put.send().await.unwrap();
}

#[tokio::test]
async fn logs_follow_cloudwatch_logs_where_the_task_definition_sends_them() {
    use aws_sdk_ecs::types::{ContainerDefinition, LogConfiguration, LogDriver};
    use shipdeck::model::logs::{LogConfig, LogCursor, LogOrigin};
    use shipdeck::provider::{LogQuery, logs_with_timeout};
    let Some(bin) = crate::support::emulators::venv_bin() else {
        return;
    };
    let moto = crate::support::emulators::moto(&bin);
    let localstack = crate::support::emulators::localstack_logs(&bin);
    let ecs = ecs_client(&moto.url);
    ecs.create_cluster()
        .cluster_name("c1")
        .send()
        .await
        .unwrap();
    // svc1 logs through awslogs; svc2's task definition names no log driver.
    ecs.register_task_definition()
        .family("c1-svc1")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image(format!("{REPO}@{}", digest("1.0")))
                .memory(256)
                .log_configuration(
                    LogConfiguration::builder()
                        .log_driver(LogDriver::Awslogs)
                        .options("awslogs-group", "/ecs/shop-api")
                        .options("awslogs-stream-prefix", "ecs")
                        .options("awslogs-region", "us-east-1")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    register(&ecs, "c1-svc2", &format!("{REPO}@{}", digest("1.0"))).await;
    for s in 1..=2 {
        ecs.create_service()
            .cluster("c1")
            .service_name(format!("svc{s}"))
            .task_definition(format!("c1-svc{s}:1"))
            .desired_count(1)
            .send()
            .await
            .unwrap();
    }
    let cfg = parse(&config_text(1, 2, &moto.url, &localstack.url));
    let p = AnyProvider::Aws(AwsProvider::new(&cfg).with_credentials(creds()));
    let env = &cfg.environments[0];
    let snap = p.read_env(env, ReadScope::CONSOLE).await.unwrap();
    let s1 = snap.service("svc1").unwrap();
    assert_eq!(
        s1.logs,
        Some(LogConfig::Awslogs {
            group: "/ecs/shop-api".into(),
            stream_prefix: Some("ecs".into()),
            region: Some("us-east-1".into()),
            container: "app".into(),
        }),
        "the log configuration is read with the task definition"
    );

    let logs = logs_client(&localstack.url);
    logs.create_log_group()
        .log_group_name("/ecs/shop-api")
        .send()
        .await
        .unwrap();
    for stream in ["ecs/app/task1", "ecs/app/task2", "ecs/sidecar/task1"] {
        logs.create_log_stream()
            .log_group_name("/ecs/shop-api")
            .log_stream_name(stream)
            .send()
            .await
            .unwrap();
    }
    let now = chrono::Utc::now().timestamp_millis();
    put(
        &logs,
        "ecs/app/task1",
        &[
            (now - 3000, "GET /api/orders 200"),
            (
                now - 1000,
                "\u{1b}[31mERROR\u{1b}[0m boom\u{7}\u{1b}]0;pwned\u{7}",
            ),
        ],
    )
    .await;
    put(&logs, "ecs/app/task2", &[(now - 2000, "first\r\nsecond")]).await;
    put(
        &logs,
        "ecs/sidecar/task1",
        &[(now - 1500, "envoy: not ours")],
    )
    .await;

    let svc1 = &env.services[0];
    let query = LogQuery {
        task_definition: s1.task_definition.clone(),
        config: s1.logs.clone(),
        cursor: LogCursor::starting(chrono::Utc::now() - chrono::Duration::minutes(1)),
    };
    let page = logs_with_timeout(&p, env, svc1, &query).await.unwrap();
    assert_eq!(
        page.origin,
        LogOrigin::From("CloudWatch Logs /ecs/shop-api · ecs/app/…".into())
    );
    let texts: Vec<&str> = page.lines.iter().map(|l| l.text.as_str()).collect();
    // In time order, the container's streams only, sanitised.
    assert_eq!(texts, ["GET /api/orders 200", "first second", "ERROR boom"]);
    assert!(page.lines.iter().all(|l| l.stream.starts_with("ecs/app/")));

    // Following: the cursor returns only what was logged since.
    put(&logs, "ecs/app/task2", &[(now + 500, "a new line")]).await;
    let next = LogQuery {
        cursor: page.cursor.clone(),
        ..query.clone()
    };
    let page2 = logs_with_timeout(&p, env, svc1, &next).await.unwrap();
    let texts: Vec<&str> = page2.lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["a new line"]);
    let again = LogQuery {
        cursor: page2.cursor.clone(),
        ..query.clone()
    };
    assert!(
        logs_with_timeout(&p, env, svc1, &again)
            .await
            .unwrap()
            .lines
            .is_empty(),
        "nothing new: nothing returned twice"
    );

    // A task definition without awslogs is said, not read as an empty log.
    let s2 = snap.service("svc2").unwrap();
    let none = LogQuery {
        task_definition: s2.task_definition.clone(),
        config: s2.logs.clone(),
        cursor: query.cursor.clone(),
    };
    let page = logs_with_timeout(&p, env, &env.services[1], &none)
        .await
        .unwrap();
    assert_eq!(
        page.origin,
        LogOrigin::Nowhere(
            "no awslogs configuration in c1-svc2:1 (container app: no log driver)".into()
        )
    );

    // An endpoint that does not answer is an error (unknown), never no lines.
    let cfg = parse(&config_text(1, 2, &moto.url, "http://127.0.0.1:1"));
    let p = AnyProvider::Aws(AwsProvider::new(&cfg).with_credentials(creds()));
    let err = logs_with_timeout(
        &p,
        &cfg.environments[0],
        &cfg.environments[0].services[0],
        &query,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ProviderError::Network { .. }), "{err:?}");
}
