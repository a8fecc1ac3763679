//! The Lambda platform against moto 5.2.1 (issue 29): what a reading of a
//! function and its alias finds, through the SDK, as the board will show it.
//! moto's known gaps (no paging, no preconditions, a shared `Code.ImageUri`)
//! are listed in the README; what only a stub can check is said there too.

use serde_json::Value;
use shipdeck::aws::{Calls, session};
use shipdeck::config;
use shipdeck::model::ConvergenceState;
use shipdeck::platforms::lambda::read::{self, Artifacts};
use shipdeck::platforms::lambda::snapshot::{LambdaReading, service_snapshot};

use crate::support::emulators;
use crate::support::fixture::creds;

/// The fixture's two images, as ECR computed their digests.
const IMAGE_1: &str = "sha256:d5d3aa66cf11f2da52320c9f426e0910bd102c7119771add4c56a303d3eaa9eb";
const IMAGE_2: &str = "sha256:a5cf9592f12920d37735b9f1c2fe250340435818750507efc2b34c40ce387273";
/// The fixture's first zip package, as its SHA-256.
const ZIP_1: &str = "sha256:79ee48b9cd93b5e9126e62f3b640fa830972d30d9e81088f125f50acc2116c92";

fn fixture(url: &str, args: &[&str]) -> Value {
    let bin = emulators::venv_bin().unwrap();
    let out = std::process::Command::new(bin.join("python"))
        .arg(format!(
            "{}/tests/support/lambda_fixture.py",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(url)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
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

    // Version 2 takes 10 % by hand: a shift, no pause (no shipdeck marker).
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
    let shift = s.deployments[0].shift.as_ref().unwrap();
    assert_eq!(shift.new_weight, 1000);
    assert!(shift.pause.is_none());
    assert_eq!(
        s.deployments[0].task_definition.to_string(),
        "thumbs-prod:2"
    );
    assert_eq!(s.detail.badge.as_ref().unwrap().text, "◐ 10% → v2");
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
