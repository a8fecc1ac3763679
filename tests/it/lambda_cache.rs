//! Lambda's published versions kept on disk (issue 29's measure): a second
//! process reads no version it has read before, and a cache file it cannot
//! use is ignored with one warning and rewritten. Against moto 5.2.1 with
//! the fixture's zip functions (tests/support/lambda_fixture.py).

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use shipdeck::aws::{Calls, session};
use shipdeck::cache::DiskCache;
use shipdeck::platforms::lambda::artifacts::Artifacts;
use shipdeck::platforms::lambda::read;

use crate::fleet_scale::status;
use crate::lambda::fixture;
use crate::support::emulators;
use crate::support::fixture::creds;

/// The fixture's first zip package, as its SHA-256.
const ZIP_1: &str = "sha256:79ee48b9cd93b5e9126e62f3b640fa830972d30d9e81088f125f50acc2116c92";
/// Its second.
const ZIP_2: &str = "sha256:932906c5d4564648fb1377dcdf2c1fedd640ce28c0d731d93181c7c726c8804e";

/// One environment of `n` Lambda services on `url`: `fn1` … on `cached-1` ….
fn config_text(url: &str, n: usize) -> String {
    let mut text = format!(
        "[[environment]]\nname = \"prod\"\nplatform = \"lambda\"\n[environment.aws]\n\
         region = \"us-east-1\"\nendpoint_url = \"{url}\"\n[environment.lambda]\n\
         steps = [\"10% 1m\", \"100%\"]\n"
    );
    for i in 1..=n {
        text.push_str(&format!(
            "[[environment.service]]\nname = \"fn{i}\"\n[environment.service.lambda]\n\
             function = \"cached-{i}\"\nalias = \"live\"\n"
        ));
    }
    text
}

/// Reads every service of `env` as a process does, with `artifacts`: the
/// functions, then each alias and the versions it names. The digests, by
/// function.
async fn read_all(
    client: &aws_sdk_lambda::Client,
    calls: &Calls,
    env: &shipdeck::config::EnvConfig,
    artifacts: &Artifacts,
) -> Vec<String> {
    read::functions(client, calls, env, artifacts)
        .await
        .unwrap();
    let mut out = Vec::new();
    for svc in env.services.iter() {
        let l = svc.lambda.as_deref().unwrap();
        let alias = read::alias(client, calls, env, &l.function, &l.alias)
            .await
            .unwrap();
        for v in std::iter::once(&alias.version).chain(alias.weighted.as_ref().map(|(v, _)| v)) {
            let a = read::artifact(
                client,
                calls,
                env,
                artifacts,
                &l.function,
                v.parse().unwrap(),
            )
            .await
            .unwrap();
            out.push(format!("{}:{v} {}", l.function, a.digest.unwrap()));
        }
    }
    out
}

fn version_reads(calls: &Calls) -> u64 {
    calls
        .accounting()
        .get("prod")
        .and_then(|ops| ops.get("GetFunctionConfiguration"))
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_second_process_reads_no_version_it_read_before() {
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let moto = emulators::moto_lambda(&bin);
    fixture(&moto.url, &["zip-functions", "cached", "3", "live"]);
    let env = shipdeck::config::parse_str(&config_text(&moto.url, 3), "t.toml", None)
        .unwrap()
        .environments
        .remove(0);
    let sdk = session(env.aws.as_deref(), Some(creds())).await;
    let client = aws_sdk_lambda::Client::new(&sdk);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lambda-versions.json");
    // A process: its own calls, its own store over the file.
    let process = || {
        let disk = Arc::new(Mutex::new(DiskCache::at(path.clone())));
        (
            Calls::default(),
            Artifacts::on_disk(&env, disk.clone()),
            disk,
        )
    };

    let (calls, artifacts, disk) = process();
    let cold = read_all(&client, &calls, &env, &artifacts).await;
    assert!(cold.iter().all(|d| d.ends_with(ZIP_1)), "{cold:?}");
    assert_eq!(version_reads(&calls), 3, "cold: each version once");
    disk.lock().unwrap().save().unwrap();

    let (calls, artifacts, _disk) = process();
    assert_eq!(read_all(&client, &calls, &env, &artifacts).await, cold);
    assert_eq!(version_reads(&calls), 0, "warm: no version read again");
    let ops = &calls.accounting()["prod"];
    assert_eq!(ops["GetAlias"], 3, "{ops:?}");
    assert_eq!(ops["ListFunctions"], 1, "{ops:?}");

    // A new version is read, once; the ones known are not.
    fixture(&moto.url, &["publish", "cached-2"]);
    fixture(
        &moto.url,
        &["set-alias", "cached-2", "live", "1", "2", "0.1"],
    );
    let (calls, artifacts, _disk) = process();
    let shifted = read_all(&client, &calls, &env, &artifacts).await;
    assert!(
        shifted.contains(&format!("cached-2:2 {ZIP_2}")),
        "{shifted:?}"
    );
    assert_eq!(version_reads(&calls), 1, "only version 2 of cached-2");
}

fn digests(report: &Value) -> Vec<String> {
    report["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["cells"][0]["digest"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The file as the disk holds it: its bytes and inode (a rewrite renames a
/// new file over it).
fn identity(path: &Path) -> (Vec<u8>, u64) {
    use std::os::unix::fs::MetadataExt as _;
    (
        std::fs::read(path).unwrap(),
        std::fs::metadata(path).unwrap().ino(),
    )
}

#[tokio::test]
async fn status_keeps_versions_beside_task_definitions_and_ignores_a_bad_file_once() {
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let moto = emulators::moto_lambda(&bin);
    fixture(&moto.url, &["zip-functions", "cached", "2", "live"]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shipdeck.toml");
    std::fs::write(&config, config_text(&moto.url, 2)).unwrap();
    let home = dir.path().join("cache");
    let path = home.join("shipdeck/lambda-versions.json");

    let (cold, stderr) = status(&config, &home, &[]);
    assert_eq!(digests(&cold), [ZIP_1, ZIP_1], "{stderr}");
    let file: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(file["kind"], "shipdeck-lambda-version-cache");
    assert_eq!(file["entries"].as_array().unwrap().len(), 2, "{file}");
    // Warm: every version found, so nothing learned and the file untouched.
    let before = identity(&path);
    let (warm, _) = status(&config, &home, &[]);
    assert_eq!(digests(&warm), digests(&cold));
    assert_eq!(identity(&path), before, "a warm reading learns nothing");

    let garbage: &[u8] = b"\x00\xff not json \x1b[2J";
    let foreign: &[u8] = br#"{"kind":"shipdeck-task-definition-cache","schema":2,"entries":[]}"#;
    let schema: &[u8] = br#"{"kind":"shipdeck-lambda-version-cache","schema":99,"entries":[]}"#;
    for bad in [garbage, foreign, schema] {
        std::fs::write(&path, bad).unwrap();
        let (report, stderr) = status(&config, &home, &[]);
        assert_eq!(digests(&report), digests(&cold), "the reading stays right");
        let warnings: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("Lambda version cache"))
            .collect();
        assert_eq!(warnings.len(), 1, "one warning: {stderr}");
        assert!(warnings[0].contains("ignored"), "{stderr}");
        let (_, stderr) = status(&config, &home, &[]);
        assert!(
            !stderr.contains("Lambda version cache"),
            "rewritten: {stderr}"
        );
    }

    // --no-cache: nothing written.
    std::fs::remove_file(&path).unwrap();
    let (fresh, _) = status(&config, &home, &["--no-cache"]);
    assert_eq!(digests(&fresh), digests(&cold));
    assert!(!path.exists(), "--no-cache writes no version cache");
}
