//! Notifications to an SNS topic (issue 32) on moto, which serves SNS and SQS:
//! the topic has an SQS queue subscribed, a real release through the binary
//! publishes, and the messages are read back from the queue with their
//! dedupe key (the record's hash) as body field and message attribute.

use std::path::Path;

use serde_json::Value;

use crate::notify::{cmd, config, ledger};
use crate::support::Succeed;
use crate::support::emulators;

/// Creates the topic, the queue and the subscription; prints the topic ARN.
const SETUP: &str = r#"
import sys, boto3
kw = dict(endpoint_url=sys.argv[1], region_name="eu-west-1",
          aws_access_key_id="test", aws_secret_access_key="test")
sns, sqs = boto3.client("sns", **kw), boto3.client("sqs", **kw)
topic = sns.create_topic(Name="releases")["TopicArn"]
queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
print(topic)
"#;

/// Prints every message on the queue, one JSON body a line.
const DRAIN: &str = r#"
import sys, boto3
kw = dict(endpoint_url=sys.argv[1], region_name="eu-west-1",
          aws_access_key_id="test", aws_secret_access_key="test")
sqs = boto3.client("sqs", **kw)
queue = sqs.get_queue_url(QueueName="inbox")["QueueUrl"]
while True:
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    if not got:
        break
    for m in got:
        print(m["Body"].replace("\n", " "))
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
"#;

fn python(bin: &Path, script: &str, url: &str) -> String {
    let out = std::process::Command::new(bin.join("python"))
        .arg("-c")
        .arg(script)
        .arg(url)
        .succeed();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_release_reaches_an_sns_topic_and_its_subscribed_queue() {
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let moto = emulators::moto(&bin);
    let topic = python(&bin, SETUP, &moto.url).trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    let sinks = format!(
        "[[notify.sink]]\nname = \"topic\"\nkind = \"sns\"\ntopic_arn = \"{topic}\"\n\
         endpoint_url = \"{}\"\n",
        moto.url
    );
    let cfg = config(dir.path(), &sinks, "[\"topic\"]");
    cmd(dir.path(), &cfg, "alice")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args([
            "promote", "api", "--to", "staging", "--tick", "1", "--yes", "--wait",
        ])
        .assert()
        .success();
    let ledger = ledger(dir.path());
    assert!(
        !ledger
            .iter()
            .any(|(_, r)| r["kind"] == "notification_failed"),
        "{ledger:#?}"
    );
    let (hash, _) = ledger
        .iter()
        .find(|(_, r)| r["kind"] == "deploy_succeeded")
        .unwrap();
    let lines = python(&bin, DRAIN, &moto.url);
    let envelopes: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(envelopes.len(), 1, "{lines}");
    let envelope = &envelopes[0];
    assert_eq!(envelope["TopicArn"], topic.as_str());
    assert_eq!(
        envelope["MessageAttributes"]["dedupe_key"]["Value"],
        hash.as_str(),
        "{envelope}"
    );
    let body: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(body["schema"], 1);
    assert_eq!(body["event"], "succeeded");
    assert_eq!(body["dedupe_key"], hash.as_str());
    assert_eq!(body["env"], "staging");
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("api → staging: sha256:"),
        "{body}"
    );
}

/// Team mode: the records go to the team's table on the same moto, and the
/// process that appended sends; a process that only reads the team ledger
/// afterwards (`audit verify`) sends nothing, so one record is one message.
#[test]
fn in_team_mode_only_the_appending_process_sends() {
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let moto = emulators::moto(&bin);
    let topic = python(&bin, SETUP, &moto.url).trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[[notify.sink]]\nname = \"topic\"\nkind = \"sns\"\ntopic_arn = \"{topic}\"\n\
         endpoint_url = \"{url}\"\n\
         [team]\nbackend = \"dynamodb\"\ntable = \"notify-team\"\nregion = \"us-east-1\"\n\
         endpoint_url = \"{url}\"\nlease = \"5s\"\n",
        url = moto.url
    );
    let cfg = config(dir.path(), &extra, "[\"topic\"]");
    let aws = |mut c: assert_cmd::Command| {
        c.env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_CONFIG_FILE", dir.path().join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
            .env("AWS_EC2_METADATA_DISABLED", "true");
        c
    };
    aws(cmd(dir.path(), &cfg, "alice"))
        .args(["team", "init"])
        .assert()
        .success();
    aws(cmd(dir.path(), &cfg, "alice"))
        .args([
            "promote", "api", "--to", "staging", "--tick", "1", "--yes", "--wait",
        ])
        .assert()
        .success();
    for _ in 0..2 {
        aws(cmd(dir.path(), &cfg, "bob"))
            .args(["audit", "verify"])
            .assert()
            .success();
    }
    let store = shipdeck::team::TeamStore::open_with(
        shipdeck::team::TeamConfig {
            table: "notify-team".to_string(),
            region: "us-east-1".to_string(),
            profile: None,
            endpoint_url: Some(moto.url.clone()),
            lease: std::time::Duration::from_secs(5),
        },
        Some(aws_credential_types::Credentials::new(
            "test", "test", None, None, "tests",
        )),
    )
    .unwrap();
    let text = shipdeck::ledger::Ledger::team(store)
        .text()
        .unwrap()
        .unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        !lines
            .iter()
            .any(|l| l["record"]["kind"] == "notification_failed"),
        "{text}"
    );
    let hash = lines
        .iter()
        .find(|l| l["record"]["kind"] == "deploy_succeeded")
        .map(|l| l["hash"].as_str().unwrap().to_string())
        .unwrap();
    let got = python(&bin, DRAIN, &moto.url);
    let envelopes: Vec<Value> = got
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(envelopes.len(), 1, "{got}");
    assert_eq!(
        envelopes[0]["MessageAttributes"]["dedupe_key"]["Value"],
        hash.as_str()
    );
}
