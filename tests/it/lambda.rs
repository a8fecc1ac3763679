//! The Lambda platform against moto 5.2.1 (issue 29): what a reading of a
//! function and its alias finds, through the SDK, as the board will show it.
//! moto's known gaps (no paging, no preconditions, a shared `Code.ImageUri`)
//! are listed in the README; what only a stub can check is said there too.

use serde_json::Value;
use shipdeck::aws::{Calls, session};
use shipdeck::config;
use shipdeck::model::ConvergenceState;
use shipdeck::platforms::lambda::api::Code;
use shipdeck::platforms::lambda::marker::Marker;
use shipdeck::platforms::lambda::read::{self, Artifacts};
use shipdeck::platforms::lambda::sdk::SdkLambda;
use shipdeck::platforms::lambda::snapshot::{LambdaReading, service_snapshot};
use shipdeck::platforms::lambda::steps::{self, Expected, StepError, Wait};

use crate::support::Succeed;
use crate::support::emulators;
use crate::support::fixture::creds;

/// The fixture's two images, as ECR computed their digests.
const IMAGE_1: &str = "sha256:d5d3aa66cf11f2da52320c9f426e0910bd102c7119771add4c56a303d3eaa9eb";
const IMAGE_2: &str = "sha256:a5cf9592f12920d37735b9f1c2fe250340435818750507efc2b34c40ce387273";
/// The fixture's first zip package, as its SHA-256.
const ZIP_1: &str = "sha256:79ee48b9cd93b5e9126e62f3b640fa830972d30d9e81088f125f50acc2116c92";

pub(crate) fn fixture(url: &str, args: &[&str]) -> Value {
    let bin = emulators::venv_bin().unwrap();
    let out = std::process::Command::new(bin.join("python"))
        .arg(format!(
            "{}/tests/support/lambda_fixture.py",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(url)
        .args(args)
        .succeed();
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// `shipdeck --config CONFIG` as the CLI tests run it: its own data, state
/// and log under `dir`, the emulators' keys, alice as the operator.
pub(crate) fn shipdeck(dir: &std::path::Path, config: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"));
    cmd.env_remove("SHIPDECK_CONFIG")
        .env("NO_COLOR", "1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("SHIPDECK_OPERATOR", "alice")
        .env("SHIPDECK_LOG_FILE", dir.join("shipdeck.log"))
        .arg("--config")
        .arg(config);
    cmd
}

fn env_on(url: &str) -> config::EnvConfig {
    let text = format!(
        "[[environment]]\nname = \"prod\"\n[environment.aws]\nregion = \"us-east-1\"\nendpoint_url = \"{url}\"\n\
         [environment.ecs]\ncluster = \"c\"\n[[environment.service]]\nname = \"x\"\n"
    );
    config::parse_str(&text, "t.toml", None)
        .unwrap()
        .environments
        .remove(0)
}

async fn reading(
    client: &aws_sdk_lambda::Client,
    calls: &Calls,
    env: &config::EnvConfig,
    cache: &Artifacts,
    function: &str,
) -> LambdaReading {
    let latest = read::latest_states(client, calls, env).await.unwrap();
    let alias = read::alias(client, calls, env, function, "live")
        .await
        .unwrap();
    let mut artifacts = Vec::new();
    for v in std::iter::once(&alias.version).chain(alias.weighted.as_ref().map(|(v, _)| v)) {
        let n = v.parse().unwrap();
        artifacts.push(
            read::artifact(client, calls, env, cache, function, n)
                .await
                .unwrap(),
        );
    }
    let l = &latest[function];
    LambdaReading {
        function: function.into(),
        alias: "live".into(),
        alias_version: alias.version,
        weighted: alias.weighted,
        description: alias.description,
        state: l.state.clone(),
        last_update: l.last_update.clone(),
        artifacts,
        plan: Vec::new(),
        codedeploy: None,
        health: shipdeck::model::Health::NotConfigured,
        events: Vec::new(),
        metrics: Vec::new(),
        at: chrono::Utc::now(),
    }
}

#[tokio::test]
async fn an_alias_reads_as_its_versions_digest_and_a_weight_as_a_shift() {
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let moto = emulators::moto_lambda(&bin);
    fixture(&moto.url, &["image-function", "thumbs-prod", "live"]);
    fixture(&moto.url, &["zip-function", "resize-prod", "live"]);
    let env = env_on(&moto.url);
    let sdk = session(env.aws.as_deref(), Some(creds())).await;
    let client = aws_sdk_lambda::Client::new(&sdk);
    let calls = Calls::default();
    let cache = Artifacts::default();

    // Settled: the image's digest from CodeSha256, the zip's as sha256 hex.
    let s = service_snapshot(
        "thumbnailer",
        reading(&client, &calls, &env, &cache, "thumbs-prod").await,
    );
    assert_eq!(s.digest.as_ref().unwrap().as_str(), IMAGE_1);
    assert_eq!(
        s.task_definition.as_ref().unwrap().to_string(),
        "thumbs-prod:1"
    );
    assert_eq!(s.convergence.state, ConvergenceState::Converged);
    let z = service_snapshot(
        "resizer",
        reading(&client, &calls, &env, &cache, "resize-prod").await,
    );
    assert_eq!(z.digest.as_ref().unwrap().as_str(), ZIP_1);

    // Version 2 takes 10 % by hand: said as set outside shipdeck, never
    // taken for a promotion's step (no shipdeck marker).
    fixture(&moto.url, &["publish", "thumbs-prod"]);
    fixture(
        &moto.url,
        &["set-alias", "thumbs-prod", "live", "1", "2", "0.1"],
    );
    let s = service_snapshot(
        "thumbnailer",
        reading(&client, &calls, &env, &cache, "thumbs-prod").await,
    );
    assert_eq!(s.digest.as_ref().unwrap().as_str(), IMAGE_1);
    assert!(s.deployments[0].shift.is_none());
    assert_eq!(
        s.deployments[0].reason.as_deref(),
        Some("10% on version 2 set outside shipdeck")
    );
    assert_eq!(s.detail.badge.as_ref().unwrap().text, "v2 10%");
    let v2 = s
        .history
        .iter()
        .find(|h| h.task_definition.number() == Some(2))
        .unwrap();
    assert_eq!(v2.digest.as_ref().unwrap().as_str(), IMAGE_2);

    // Published versions are read once: a second reading asks no version again.
    let before = calls.accounting()["prod"]["GetFunctionConfiguration"];
    reading(&client, &calls, &env, &cache, "thumbs-prod").await;
    assert_eq!(
        calls.accounting()["prod"]["GetFunctionConfiguration"],
        before
    );

    // A function that does not exist is not found, by name.
    let err = read::alias(&client, &calls, &env, "nope", "live")
        .await
        .unwrap_err();
    assert!(
        matches!(err, shipdeck::provider::ProviderError::NotFound { ref name, .. } if name.contains("nope")),
        "{err:?}"
    );
}

/// shipdeck's Lambda calls against `url` with the emulators' keys, counted
/// apart.
async fn client_on(url: &str) -> SdkLambda {
    let env = env_on(url);
    let sdk = session(env.aws.as_deref(), Some(creds())).await;
    sdk_on(url, aws_sdk_lambda::Client::new(&sdk))
}

fn sdk_on(url: &str, client: aws_sdk_lambda::Client) -> SdkLambda {
    SdkLambda {
        client,
        calls: Calls::default(),
        env: env_on(url),
        artifacts: Artifacts::default(),
    }
}

fn digest(text: &str) -> shipdeck::model::Digest {
    shipdeck::model::Digest::parse(text).unwrap()
}

const WAIT: Wait = Wait {
    limit: std::time::Duration::from_secs(30),
    every: std::time::Duration::from_millis(200),
};

/// Staging's image into prod in two steps, read back between them; a hand
/// change stops the next step and is left alone; a rollback is one call.
#[tokio::test]
async fn an_image_is_published_by_digest_shifted_read_back_and_rolled_back() {
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let moto = emulators::moto_lambda(&bin);
    let fx = fixture(&moto.url, &["image-function", "thumbs-prod", "live"]);
    let repository = fx["repository_uri"].as_str().unwrap().to_string();
    let api = client_on(&moto.url).await;
    let sleep = |d| tokio::time::sleep(d);

    // Publish the promoted digest as version 2; it holds exactly that image.
    let code = Code::Image {
        repository,
        digest: digest(IMAGE_2),
    };
    let v2 = steps::publish(&api, "thumbs-prod", &code, &digest(IMAGE_2), WAIT, sleep)
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.digest.as_ref().unwrap().as_str(), IMAGE_2);

    // Step 1 of 2: 10 % on version 2, the marker in the description.
    let versions = vec!["1".to_string(), "2".to_string()];
    let marker = Marker {
        run: "promo-1".into(),
        from: 1,
        to: 2,
        step: 1,
        of: 2,
        weight: 1000,
        paused: false,
        at: 1_700_000_000,
    };
    let settled = Expected {
        version: "1".into(),
        weighted: None,
    };
    let a = steps::step(&api, "thumbs-prod", "live", &marker, &settled, &versions)
        .await
        .unwrap();
    assert_eq!(a.weighted, Some(("2".to_string(), 0.1)));
    // Read back by someone else (the fixture): the configured weight.
    let seen = fixture(&moto.url, &["alias", "thumbs-prod", "live"]);
    assert_eq!(seen["Weights"]["2"].as_f64(), Some(0.1), "{seen}");
    assert_eq!(
        Marker::read(seen["Description"].as_str().unwrap()),
        Some(marker.clone())
    );

    // Refused before any call: a weight on the alias's own version.
    let own = Marker {
        to: 1,
        ..marker.clone()
    };
    let err = steps::step(
        &api,
        "thumbs-prod",
        "live",
        &own,
        &Expected {
            version: "1".into(),
            weighted: Some(("2".into(), 1000)),
        },
        &versions,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StepError::Routing(_)), "{err}");

    // A person moves the alias by hand: the next step stops, changes nothing.
    fixture(
        &moto.url,
        &["set-alias", "thumbs-prod", "live", "1", "2", "0.3"],
    );
    let at_step_1 = Expected {
        version: "1".into(),
        weighted: Some(("2".into(), 1000)),
    };
    let next = Marker {
        step: 2,
        weight: 5000,
        ..marker.clone()
    };
    let err = steps::step(&api, "thumbs-prod", "live", &next, &at_step_1, &versions)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StepError::ChangedOutside { ref what, .. } if what.contains("30% on version 2")),
        "{err}"
    );
    let left = fixture(&moto.url, &["alias", "thumbs-prod", "live"]);
    assert_eq!(
        left["Weights"]["2"].as_f64(),
        Some(0.3),
        "left as the person set it"
    );

    // A rollback is one alias change: version 1, no weights, no marker,
    // stamped with when version 1 began to serve again.
    let back = steps::rollback(&api, "thumbs-prod", "live", 1, 1_767_225_600)
        .await
        .unwrap();
    assert_eq!((back.version.as_str(), back.weighted), ("1", None));
    assert_eq!(Marker::read(&back.description), None);
    assert_eq!(
        shipdeck::platforms::lambda::settled::Settled::read(&back.description),
        Some(shipdeck::platforms::lambda::settled::Settled {
            version: 1,
            at: 1_767_225_600
        })
    );
    assert_eq!(api.calls.accounting()["prod"]["UpdateAlias"], 2);

    // The last step: version 2 takes it all, weights cleared.
    let a = steps::step(&api, "thumbs-prod", "live", &marker, &settled, &versions)
        .await
        .unwrap();
    let done = steps::finish(
        &api,
        "thumbs-prod",
        "live",
        2,
        &Expected {
            version: "1".into(),
            weighted: Some(("2".into(), 1000)),
        },
        1_767_225_660,
    )
    .await
    .unwrap();
    assert_eq!(a.version, "1");
    assert_eq!((done.version.as_str(), done.weighted), ("2", None));
    assert_eq!(Marker::read(&done.description), None);
}

/// What the API refuses is said clearly, and nothing is half-applied.
#[tokio::test]
async fn a_missing_function_or_an_unknown_image_is_refused_and_publishes_nothing() {
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let moto = emulators::moto_lambda(&bin);
    let fx = fixture(&moto.url, &["image-function", "thumbs-prod", "live"]);
    let repository = fx["repository_uri"].as_str().unwrap().to_string();
    let api = client_on(&moto.url).await;
    let sleep = |d| tokio::time::sleep(d);
    let code = Code::Image {
        repository: repository.clone(),
        digest: digest(IMAGE_2),
    };
    let err = steps::publish(&api, "nope", &code, &digest(IMAGE_2), WAIT, sleep)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StepError::Provider(shipdeck::provider::ProviderError::NotFound { .. })
        ),
        "{err}"
    );
    // An image that is not in the repository: refused, no version published.
    let missing = format!("sha256:{}", "0".repeat(64));
    let code = Code::Image {
        repository,
        digest: digest(&missing),
    };
    let err = steps::publish(&api, "thumbs-prod", &code, &digest(&missing), WAIT, sleep)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("ImageNotFound") || err.to_string().contains("does not exist"),
        "{err}"
    );
    let alias = fixture(&moto.url, &["alias", "thumbs-prod", "live"]);
    assert_eq!(alias["FunctionVersion"], "1");
    assert_eq!(api.calls.accounting()["prod"].get("PublishVersion"), None);
}

/// A stepped shift that pauses for a person at each step: the runner holds,
/// marks the pause in the alias, and another process's decision (a second
/// client, as `shipdeck step continue` elsewhere would be) moves it on; the
/// runner adopts the step, pauses again, and ends when the last continue
/// points the alias at the new version. A rollback decision ends it too.
#[tokio::test]
async fn a_paused_shift_waits_for_a_decision_from_any_process() {
    use shipdeck::model::shift::Decision;
    use shipdeck::platforms::lambda::runner::{self, Ended, Progress, Shift, Time};
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let moto = emulators::moto_lambda(&bin);
    fixture(&moto.url, &["image-function", "thumbs-prod", "live"]);
    fixture(&moto.url, &["publish", "thumbs-prod"]);
    let runner_api = client_on(&moto.url).await;
    let elsewhere = client_on(&moto.url).await;
    let shift = Shift {
        run: "promo-7".into(),
        function: "thumbs-prod".into(),
        alias: "live".into(),
        from: 1,
        to: 2,
        plan: shipdeck::config::lambda::StepPlan::from_list(&[
            "10% 1s".to_string(),
            "50% 1s".to_string(),
            "100%".to_string(),
        ])
        .unwrap(),
        pause: true,
    };
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let task = {
        let shift = shift.clone();
        tokio::spawn(async move {
            let time = Time {
                now: chrono::Utc::now,
                sleep: tokio::time::sleep,
                poll: std::time::Duration::from_millis(100),
            };
            runner::run(&runner_api, &shift, &time, |p| log.lock().unwrap().push(p)).await
        })
    };
    let paused_at = |n: u32| {
        let seen = seen.clone();
        async move {
            for _ in 0..200 {
                if seen.lock().unwrap().contains(&Progress::Paused(n)) {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("never paused at step {n}: {:?}", seen.lock().unwrap());
        }
    };
    paused_at(1).await;
    // The pause is in the alias for everyone, and it does not time out.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let a = fixture(&moto.url, &["alias", "thumbs-prod", "live"]);
    let m = Marker::read(a["Description"].as_str().unwrap()).unwrap();
    assert!(m.paused && m.step == 1, "{a}");
    assert_eq!(a["Weights"]["2"].as_f64(), Some(0.1));
    assert!(!task.is_finished());

    let said = runner::decide(&elsewhere, &shift, Decision::Continue, chrono::Utc::now)
        .await
        .unwrap();
    assert_eq!(said, "step 2 of 3: 50% on version 2");
    paused_at(2).await;
    let said = runner::decide(&elsewhere, &shift, Decision::Continue, chrono::Utc::now)
        .await
        .unwrap();
    assert!(said.contains("now names version 2"), "{said}");
    let ended = task.await.unwrap().unwrap();
    assert!(matches!(ended, Ended::Finished(ref a) if a.version == "2" && a.weighted.is_none()));
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            Progress::Step {
                n: 1,
                of: 3,
                weight: 1000
            },
            Progress::Paused(1),
            Progress::Step {
                n: 2,
                of: 3,
                weight: 5000
            },
            Progress::Paused(2),
        ]
    );
    // No decision is waiting now: a second continue is refused, changes nothing.
    let err = runner::decide(&elsewhere, &shift, Decision::Continue, chrono::Utc::now)
        .await
        .unwrap_err();
    assert!(matches!(err, StepError::ChangedOutside { .. }), "{err}");

    // Again from version 2 to 1... rolled back at the first pause instead.
    let back = Shift {
        run: "promo-8".into(),
        from: 2,
        to: 1,
        ..shift.clone()
    };
    let api = client_on(&moto.url).await;
    let seen2 = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log2 = seen2.clone();
    let task = {
        let back = back.clone();
        tokio::spawn(async move {
            let time = Time {
                now: chrono::Utc::now,
                sleep: tokio::time::sleep,
                poll: std::time::Duration::from_millis(100),
            };
            runner::run(&api, &back, &time, |p| log2.lock().unwrap().push(p)).await
        })
    };
    for _ in 0..200 {
        if seen2.lock().unwrap().contains(&Progress::Paused(1)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    runner::decide(&elsewhere, &back, Decision::Rollback, chrono::Utc::now)
        .await
        .unwrap();
    assert_eq!(task.await.unwrap().unwrap(), Ended::RolledBack);
    let a = fixture(&moto.url, &["alias", "thumbs-prod", "live"]);
    assert_eq!(a["FunctionVersion"], "2");
    assert_eq!(a["Weights"], serde_json::json!({}));
}

/// Image functions on moto, staging's alias on image 2 and prod's on image
/// 1, and the configuration of both stages in `dir`: `header` at its top,
/// the stages' `steps`, and `rollout` lines beside a 2 s stability window.
pub(crate) fn image_stages(
    url: &str,
    dir: &std::path::Path,
    header: &str,
    steps: &str,
    rollout: &str,
) -> std::path::PathBuf {
    fixture(url, &["image-function", "thumbs-staging", "live"]);
    fixture(url, &["publish", "thumbs-staging"]);
    fixture(url, &["set-alias", "thumbs-staging", "live", "2"]);
    fixture(url, &["image-function", "thumbs-prod", "live"]);
    let env = |name: &str| {
        format!(
            r#"
[[environment]]
name = "{name}"
platform = "lambda"
[environment.aws]
region = "us-east-1"
endpoint_url = "{url}"
[environment.lambda]
steps = {steps}
[environment.gate]
checks = ["rollout_completed", "alarms_ok", "not_in_flight", "pinned", "fresh"]
[environment.rollout]
stability_window = "2s"
{rollout}
[[environment.service]]
name = "thumbnailer"
[environment.service.lambda]
function = "thumbs-{name}"
alias = "live"
"#
        )
    };
    let config = dir.join("shipdeck.toml");
    std::fs::write(
        &config,
        format!(
            "refresh_interval = \"1s\"\n{header}\n{}{}",
            env("staging"),
            env("prod")
        ),
    )
    .unwrap();
    config
}

/// The whole promotion through the CLI, on moto: staging's published
/// version (image 2) into prod in two steps with a hold, watched to the end;
/// the alias then names the new version with no weights, and the ledger
/// holds the publication and every step; `status` shows the platform.
#[test]
fn the_cli_promotes_staging_into_prod_in_steps_and_records_each() {
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let moto = emulators::moto_lambda(&bin);
    let dir = tempfile::tempdir().unwrap();
    let config = image_stages(
        &moto.url,
        dir.path(),
        "allow_operator_override = true",
        r#"["10% 2s", "100%"]"#,
        "timeout = \"2m\"",
    );
    let run = |args: &[&str]| {
        let out = assert_cmd::Command::from_std(shipdeck(dir.path(), &config))
            .args(args)
            .timeout(std::time::Duration::from_mins(2))
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, out, err) = run(&["status", "--json"]);
    assert!(code == 0 || code == 1, "{code}\n{out}\n{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["environments"][0]["platform"], "lambda", "{v}");
    let (code, out, err) = run(&["promote", "thumbnailer", "--to", "prod", "--yes", "--wait"]);
    assert_eq!(
        code,
        0,
        "{out}\n{err}\n{}",
        std::fs::read_to_string(dir.path().join("shipdeck.log")).unwrap_or_default()
    );
    let alias = fixture(&moto.url, &["alias", "thumbs-prod", "live"]);
    assert_eq!(alias["FunctionVersion"], "2", "{alias}");
    assert_eq!(alias["Weights"], serde_json::json!({}));
    let (_, steps) = ledger(dir.path());
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with("published version 2 with sha256:a5cf")),
        "{steps:?}"
    );
    // Each step recorded once: the watch records the shift, the run only
    // what it did besides (the publication).
    assert_eq!(
        steps
            .iter()
            .filter(|s| s.contains("step 1 of 2 (10%)"))
            .count(),
        1,
        "{steps:?}"
    );
    assert!(
        out.contains("SUCCEEDED") || out.contains("succeeded"),
        "{out}"
    );
}

/// Puts Lambda's `Errors` of `function`'s alias `live` at `ago` before now.
async fn put_errors(
    cw: &aws_sdk_cloudwatch::Client,
    function: &str,
    ago: std::time::Duration,
    errors: f64,
) {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let at = std::time::SystemTime::now() - ago;
    cw.put_metric_data()
        .namespace("AWS/Lambda")
        .metric_data(
            MetricDatum::builder()
                .metric_name("Errors")
                .dimensions(
                    Dimension::builder()
                        .name("FunctionName")
                        .value(function)
                        .build(),
                )
                .dimensions(
                    Dimension::builder()
                        .name("Resource")
                        .value(format!("{function}:live"))
                        .build(),
                )
                .timestamp(aws_smithy_types::DateTime::from(at))
                .value(errors)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Errors rise once the first step sends traffic to the new version: the
/// watch aborts on the rule, names it, and the alias is back on the old
/// version with no weights (CloudWatch on LocalStack, Lambda on moto).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_at_the_first_step_abort_and_the_alias_goes_back() {
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let moto = emulators::moto_lambda(&bin);
    let localstack = emulators::localstack(&bin);
    fixture(&moto.url, &["image-function", "thumbs-staging", "live"]);
    fixture(&moto.url, &["publish", "thumbs-staging"]);
    fixture(&moto.url, &["set-alias", "thumbs-staging", "live", "2"]);
    fixture(&moto.url, &["image-function", "thumbs-prod", "live"]);
    let cw = crate::support::fixture::cw_client(&localstack.url);
    // Half an hour without errors before the promotion.
    for minute in 0..30 {
        put_errors(
            &cw,
            "thumbs-prod",
            std::time::Duration::from_secs(minute * 60 + 30),
            0.0,
        )
        .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shipdeck.toml");
    let env = |name: &str, extra: &str| {
        format!(
            r#"
[[environment]]
name = "{name}"
platform = "lambda"
[environment.aws]
region = "us-east-1"
endpoint_url = "{moto}"
endpoints = {{ cloudwatch = "{cw}" }}
[environment.lambda]
steps = ["10% 5m", "100%"]
[environment.gate]
checks = ["rollout_completed", "not_in_flight", "pinned", "fresh"]
{extra}
[[environment.service]]
name = "thumbnailer"
[environment.service.lambda]
function = "thumbs-{name}"
alias = "live"
[[environment.service.metric]]
label = "errors"
namespace = "AWS/Lambda"
metric_name = "Errors"
dimensions = {{ FunctionName = "thumbs-{name}", Resource = "thumbs-{name}:live" }}
stat = "Sum"
"#,
            moto = moto.url,
            cw = localstack.url
        )
    };
    let rule = "[environment.rollout]\ntimeout = \"3m\"\n[[environment.rollout.rule]]\nname = \"lambda errors\"\nmetric = \"errors\"\nabove = 5.0\nfor = \"1m\"\n";
    std::fs::write(
        &config,
        format!(
            "refresh_interval = \"1s\"\nallow_operator_override = true\n{}{}",
            env("staging", ""),
            env("prod", rule)
        ),
    )
    .unwrap();
    let child = tokio::process::Command::from(shipdeck(dir.path(), &config))
        .args([
            "promote",
            "thumbnailer",
            "--to",
            "prod",
            "--yes",
            "--wait",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The first step: 10 % on version 2, read back by someone else.
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    loop {
        let a = fixture(&moto.url, &["alias", "thumbs-prod", "live"]);
        if a["Weights"]["2"].as_f64() == Some(0.1) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no first step: {a}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // The new version fails: errors above the rule's limit.
    put_errors(&cw, "thumbs-prod", std::time::Duration::from_secs(2), 50.0).await;
    let out = tokio::time::timeout(std::time::Duration::from_mins(3), child.wait_with_output())
        .await
        .expect("promote --wait hung")
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["outcome"], "rolled_back", "{text}");
    let why = report["reason"].as_str().unwrap();
    assert!(why.contains("rule \"lambda errors\""), "{why}");
    let a = fixture(&moto.url, &["alias", "thumbs-prod", "live"]);
    assert_eq!(a["FunctionVersion"], "1", "{a}");
    assert_eq!(a["Weights"], serde_json::json!({}), "{a}");
    assert_eq!(Marker::read(a["Description"].as_str().unwrap()), None);
}

/// A person changes the alias by hand during the shift: the promotion stops
/// as changed outside shipdeck, and the alias is left as they set it (no
/// rollback over their change).
#[test]
fn a_hand_change_mid_shift_stops_the_promotion_and_is_left_alone() {
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let moto = emulators::moto_lambda(&bin);
    fixture(&moto.url, &["image-function", "thumbs-staging", "live"]);
    fixture(&moto.url, &["publish", "thumbs-staging"]);
    fixture(&moto.url, &["set-alias", "thumbs-staging", "live", "2"]);
    fixture(&moto.url, &["image-function", "thumbs-prod", "live"]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shipdeck.toml");
    let env = |name: &str| {
        format!(
            "\n[[environment]]\nname = \"{name}\"\nplatform = \"lambda\"\n[environment.aws]\nregion = \"us-east-1\"\n\
             endpoint_url = \"{url}\"\n[environment.lambda]\nsteps = [\"10% 30s\", \"100%\"]\n[environment.gate]\n\
             checks = [\"rollout_completed\", \"not_in_flight\", \"pinned\", \"fresh\"]\n[environment.rollout]\n\
             timeout = \"2m\"\n[[environment.service]]\nname = \"thumbnailer\"\n[environment.service.lambda]\n\
             function = \"thumbs-{name}\"\nalias = \"live\"\n",
            url = moto.url
        )
    };
    std::fs::write(
        &config,
        format!(
            "refresh_interval = \"1s\"\nallow_operator_override = true\n{}{}",
            env("staging"),
            env("prod")
        ),
    )
    .unwrap();
    let child = shipdeck(dir.path(), &config)
        .args([
            "promote",
            "thumbnailer",
            "--to",
            "prod",
            "--yes",
            "--wait",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    loop {
        let a = fixture(&moto.url, &["alias", "thumbs-prod", "live"]);
        if a["Weights"]["2"].as_f64() == Some(0.1) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no first step: {a}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // By hand: 30 % on version 2.
    fixture(
        &moto.url,
        &["set-alias", "thumbs-prod", "live", "1", "2", "0.3"],
    );
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(report["outcome"], "changed_outside", "{text}");
    assert_ne!(out.status.code(), Some(0), "{text}");
    // Left as the person set it, also after the runner's next look.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let a = fixture(&moto.url, &["alias", "thumbs-prod", "live"]);
    assert_eq!(a["FunctionVersion"], "1", "{a}");
    assert_eq!(a["Weights"]["2"].as_f64(), Some(0.3), "{a}");
}

/// Two stages on `url` for the CodeDeploy tests: staging's thumbnailer
/// shifted by shipdeck, prod's by the CodeDeploy group the fixture made.
fn codedeploy_config(url: &str, prod: &str, made: &Value) -> String {
    let env = |name: &str, function: &str, extra: &str| {
        format!(
            "\n[[environment]]\nname = \"{name}\"\nplatform = \"lambda\"\n[environment.aws]\nregion = \"us-east-1\"\n\
             endpoint_url = \"{url}\"\n[environment.gate]\nchecks = [\"rollout_completed\", \"pinned\", \"fresh\"]\n\
             [[environment.service]]\nname = \"thumbnailer\"\n[environment.service.lambda]\n\
             function = \"{function}\"\nalias = \"live\"\n{extra}"
        )
    };
    format!(
        "allow_operator_override = true\n{}{}",
        env("staging", "thumbs-staging", ""),
        env(
            prod,
            "thumbs-prod",
            &format!(
                "codedeploy = {{ application = \"{}\", group = \"{}\" }}\n",
                made["application"].as_str().unwrap(),
                made["deployment_group"].as_str().unwrap()
            )
        )
    )
}

/// A CodeDeploy deployment (moto keeps it `Created`) of prod's alias from
/// version 1 to 2; staging serves version 2.
fn codedeploy_world(url: &str) -> Value {
    fixture(url, &["image-function", "thumbs-staging", "live"]);
    fixture(url, &["publish", "thumbs-staging"]);
    fixture(url, &["set-alias", "thumbs-staging", "live", "2"]);
    fixture(url, &["image-function", "thumbs-prod", "live"]);
    fixture(url, &["publish", "thumbs-prod"]);
    let made = fixture(url, &["codedeploy", "thumbs-prod", "live"]);
    assert_eq!(made["status"], "Created", "{made}");
    made
}

/// Prod's alias as the fixture left it: version 1, no weights.
fn untouched(url: &str) {
    let alias = fixture(url, &["alias", "thumbs-prod", "live"]);
    assert_eq!(alias["FunctionVersion"], "1", "{alias}");
    assert_eq!(alias["Weights"], serde_json::json!({}));
}

/// A CodeDeploy-managed alias reads with its deployment (id, status, the
/// AppSpec's versions) and stays in progress; a rollback by hand is refused,
/// naming the command that stops the deployment, and the alias is untouched.
/// (Through the platform's CodeDeploy reading with the emulators' keys; the
/// CLI test below goes through the provider.)
#[tokio::test]
async fn a_codedeploy_managed_alias_shows_its_deployment_and_refuses_a_rollback_by_hand() {
    use shipdeck::platforms::lambda::codedeploy::{ByHand, Clients};
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let moto = emulators::moto_codedeploy(&bin);
    let made = codedeploy_world(&moto.url);
    let id = made["deployment_id"].as_str().unwrap();
    let cfg =
        config::parse_str(&codedeploy_config(&moto.url, "prod", &made), "t.toml", None).unwrap();
    let env = &cfg.environments[1];
    let l = env.services[0].lambda.as_deref().unwrap();
    let sdk = session(env.aws.as_deref(), Some(creds())).await;
    let api = sdk_on(&moto.url, aws_sdk_lambda::Client::new(&sdk));
    let clients = Clients::default();
    clients.build(env, &sdk);
    let base = reading(
        &api.client,
        &api.calls,
        &api.env,
        &api.artifacts,
        "thumbs-prod",
    )
    .await;
    let mut r = base.clone();
    r.codedeploy = clients.view(&api, l).await;
    let s = service_snapshot("thumbnailer", r);
    let line = format!("CodeDeploy thumbs-prod-app/thumbs-prod-live · {id} Created · 1 → 2");
    assert!(
        s.detail
            .lines
            .iter()
            .any(|l| &*l.label == "deploy" && *l.text == line),
        "{:?}",
        s.detail
    );
    assert_eq!(s.rollout(), shipdeck::model::RolloutState::InProgress);
    assert_eq!(s.convergence.state, ConvergenceState::Converging);
    let err = clients
        .refusal(&api, l, "1", ByHand::Rollback { to: 2 })
        .await
        .unwrap()
        .to_string();
    assert!(
        err.contains(&format!("its deployment {id} is Created (1 → 2)"))
            && err.ends_with(&format!(
                "`aws deploy stop-deployment --deployment-id {id} --auto-rollback-enabled`"
            )),
        "{err}"
    );
    assert_eq!(api.calls.accounting()["prod"]["ListDeployments"], 2);
    // CodeDeploy out of reach: unknown, with the reason, never "none in
    // flight". (moto lists nothing for a group that does not exist, where
    // AWS answers DeploymentGroupDoesNotExistException.)
    let mut down = env.clone();
    let mut aws = env.aws.as_deref().unwrap().clone();
    aws.endpoints
        .insert("codedeploy".into(), "http://127.0.0.1:9".into());
    down.aws = Some(aws.into());
    let unreachable = Clients::default();
    unreachable.build(&down, &sdk);
    let view = unreachable.view(&api, l).await.unwrap();
    let why = view.deployment.clone().unwrap_err();
    assert!(why.contains("codedeploy:ListDeployments"), "{why}");
    let mut r = base;
    r.codedeploy = Some(view);
    let s = service_snapshot("thumbnailer", r);
    assert_eq!(s.rollout(), shipdeck::model::RolloutState::Unknown);
    assert!(s.has_unknown(false));
    untouched(&moto.url);
}

/// `shipdeck status` shows CodeDeploy's deployment, and `shipdeck promote`
/// into the alias it manages is refused with the reason and the command to
/// use; the alias is unchanged.
#[test]
fn the_cli_refuses_to_promote_into_a_codedeploy_managed_alias() {
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let moto = emulators::moto_codedeploy(&bin);
    let made = codedeploy_world(&moto.url);
    let id = made["deployment_id"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shipdeck.toml");
    std::fs::write(&config, codedeploy_config(&moto.url, "prod", &made)).unwrap();
    // The two commands answer at once (a reading; a refusal before any change).
    let status = shipdeck(dir.path(), &config)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&status.stdout);
    assert!(
        out.contains(&format!(
            "CodeDeploy thumbs-prod-app/thumbs-prod-live · {id} Created · 1 → 2"
        )),
        "{out}"
    );
    let promote = shipdeck(dir.path(), &config)
        .args(["promote", "thumbnailer", "--to", "prod", "--yes", "--wait"])
        .output()
        .unwrap();
    let code = promote.status.code();
    let out = String::from_utf8_lossy(&promote.stdout) + String::from_utf8_lossy(&promote.stderr);
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains(
            "alias thumbs-prod:live is shifted by CodeDeploy (thumbs-prod-app/thumbs-prod-live)"
        ) && out.contains(&format!("its deployment {id} is Created (1 → 2)"))
            && out.contains("`sam deploy`")
            && out.contains("aws deploy create-deployment"),
        "{out}"
    );
    untouched(&moto.url);
}

/// The ledger's records, and the first reason of each `step` record.
pub(crate) fn ledger(dir: &std::path::Path) -> (Vec<Value>, Vec<String>) {
    let text = std::fs::read_to_string(dir.join("data/shipdeck/ledger.jsonl")).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["record"].clone())
        .collect();
    let steps = records
        .iter()
        .filter(|r| r["kind"] == "step")
        .map(|r| r["reasons"][0].as_str().unwrap_or_default().to_string())
        .collect();
    (records, steps)
}

/// The fixture's second zip package, as its SHA-256.
const ZIP_2: &str = "sha256:932906c5d4564648fb1377dcdf2c1fedd640ce28c0d731d93181c7c726c8804e";

/// Zip functions on moto: staging's alias on version 2 (package 2), prod's
/// on version 1 (package 1); Lambda reached through the stand-in that
/// serves the packages moto cannot (`support::codeproxy`). Answers the
/// stand-in, the fixture's two packages and the configuration, whose steps
/// are `10% 8s` then all.
fn zip_stages(
    moto: &emulators::Emulator,
    dir: &std::path::Path,
) -> (
    crate::support::codeproxy::CodeProxy,
    Vec<Vec<u8>>,
    std::path::PathBuf,
) {
    let fx = fixture(&moto.url, &["zip-function", "thumbs-staging", "live"]);
    fixture(&moto.url, &["publish", "thumbs-staging"]);
    fixture(&moto.url, &["set-alias", "thumbs-staging", "live", "2"]);
    fixture(&moto.url, &["zip-function", "thumbs-prod", "live"]);
    let packages: Vec<Vec<u8>> = fx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| aws_smithy_types::base64::decode(p["zip_base64"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(
        shipdeck::model::Digest::of_bytes(&packages[1]).as_str(),
        ZIP_2
    );
    let proxy = crate::support::codeproxy::CodeProxy::start(&moto.url);
    let env = |name: &str| {
        format!(
            "\n[[environment]]\nname = \"{name}\"\nplatform = \"lambda\"\n[environment.aws]\nregion = \"us-east-1\"\n\
             endpoint_url = \"{url}\"\nendpoints = {{ lambda = \"{proxy}\" }}\n[environment.lambda]\n\
             steps = [\"10% 8s\", \"100%\"]\n[environment.gate]\n\
             checks = [\"rollout_completed\", \"not_in_flight\", \"pinned\", \"fresh\"]\n[environment.rollout]\n\
             stability_window = \"2s\"\ntimeout = \"2m\"\n[[environment.service]]\nname = \"thumbnailer\"\n\
             [environment.service.lambda]\nfunction = \"thumbs-{name}\"\nalias = \"live\"\n",
            url = moto.url,
            proxy = proxy.url()
        )
    };
    let config = dir.join("shipdeck.toml");
    std::fs::write(
        &config,
        format!(
            "refresh_interval = \"1s\"\nallow_operator_override = true\n{}{}",
            env("staging"),
            env("prod")
        ),
    )
    .unwrap();
    (proxy, packages, config)
}

/// A zip function: staging's package is fetched from its version's
/// `Code.Location`, checked against staging's `CodeSha256`, uploaded into
/// prod and published, and prod's alias moves to it in two steps, each read
/// back and recorded.
#[test]
fn a_zip_function_staging_s_package_is_promoted_into_prod_in_two_steps() {
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let moto = emulators::moto_lambda(&bin);
    let dir = tempfile::tempdir().unwrap();
    let (proxy, packages, config) = zip_stages(&moto, dir.path());
    proxy.serve("thumbs-staging", 2, packages[1].clone());
    let child = shipdeck(dir.path(), &config)
        .args(["promote", "thumbnailer", "--to", "prod", "--yes", "--wait"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Mid-shift, the alias read back by someone else carries the step's weight.
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    loop {
        let a = fixture(&moto.url, &["alias", "thumbs-prod", "live"]);
        if a["Weights"]["2"].as_f64() == Some(0.1) {
            assert_eq!(a["FunctionVersion"], "1", "{a}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no first step: {a}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        std::fs::read_to_string(dir.path().join("shipdeck.log")).unwrap_or_default()
    );
    let alias = fixture(&moto.url, &["alias", "thumbs-prod", "live"]);
    assert_eq!(alias["FunctionVersion"], "2", "{alias}");
    assert_eq!(alias["Weights"], serde_json::json!({}));
    // Prod holds staging's package: moto computed its CodeSha256 from the
    // bytes uploaded.
    let staging = fixture(&moto.url, &["function", "thumbs-staging", "2"]);
    let latest = fixture(&moto.url, &["function", "thumbs-prod"]);
    let v2 = fixture(&moto.url, &["function", "thumbs-prod", "2"]);
    assert_eq!(latest["CodeSha256"], staging["CodeSha256"], "{latest}");
    assert_eq!(v2["digest"], ZIP_2, "{v2}");
    // Downloaded once, from the version staging's alias serves; uploaded once.
    let seen = proxy.seen();
    let count = |r: &str| seen.iter().filter(|s| s.as_str() == r).count();
    assert_eq!(count("GET /package/thumbs-staging/2"), 1, "{seen:?}");
    assert_eq!(
        count("PUT /2015-03-31/functions/thumbs-prod/code"),
        1,
        "{seen:?}"
    );
    let (records, steps) = ledger(dir.path());
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with(&format!("published version 2 with {ZIP_2}"))),
        "{steps:?}"
    );
    assert_eq!(
        steps
            .iter()
            .filter(|s| s.contains("step 1 of 2 (10%)"))
            .count(),
        1,
        "{steps:?}"
    );
    // The last step is the outcome: the alias on the new version.
    assert!(
        records
            .iter()
            .any(|r| r["kind"] == "deploy_succeeded" && r["to_digest"] == ZIP_2),
        "{records:?}"
    );
}

/// The stand-in serves other bytes than staging's package: the promotion
/// is refused naming both digests, before anything reaches prod.
#[test]
fn a_zip_package_that_is_not_the_promoted_one_is_refused_and_prod_is_unchanged() {
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let moto = emulators::moto_lambda(&bin);
    let dir = tempfile::tempdir().unwrap();
    let (proxy, packages, config) = zip_stages(&moto, dir.path());
    let mut corrupted = packages[1].clone();
    corrupted[40] ^= 0xff;
    let found = shipdeck::model::Digest::of_bytes(&corrupted);
    proxy.serve("thumbs-staging", 2, corrupted);
    let out = assert_cmd::Command::from_std(shipdeck(dir.path(), &config))
        .args(["promote", "thumbnailer", "--to", "prod", "--yes", "--wait"])
        .timeout(std::time::Duration::from_mins(2))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(found.as_str()) && text.contains(ZIP_2),
        "both digests named: {text}"
    );
    assert!(text.contains("nothing was uploaded"), "{text}");
    // Nothing reached prod: no upload, no version, the alias where it was.
    let seen = proxy.seen();
    assert!(
        seen.iter().any(|s| s == "GET /package/thumbs-staging/2"),
        "{seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|s| s.starts_with("PUT ") || s.starts_with("POST ")),
        "{seen:?}"
    );
    let prod = fixture(&moto.url, &["function", "thumbs-prod"]);
    assert_eq!(
        prod["versions"],
        serde_json::json!(["$LATEST", "1"]),
        "{prod}"
    );
    assert_eq!(prod["digest"], ZIP_1, "{prod}");
    let alias = fixture(&moto.url, &["alias", "thumbs-prod", "live"]);
    assert_eq!(alias["FunctionVersion"], "1", "{alias}");
    assert_eq!(alias["Weights"], serde_json::json!({}));
}
