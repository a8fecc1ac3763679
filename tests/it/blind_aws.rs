//! Never green when blind, on the AWS path: ECS on moto, CloudWatch on
//! LocalStack behind a TCP proxy that can refuse, reset or hang it. For each
//! fault (refused, reset, hung past the budget, alarm deleted, INSUFFICIENT_DATA
//! only) all four views must fail safe:
//! - `status` does not exit 0 and does not say healthy;
//! - the gate's `alarms_ok` does not pass (and nothing is deployed);
//! - `promote --wait` does not end `succeeded`, and nothing is marked stable;
//! - the console shows `A?` (and the stale source), never `A-`.
//!
//! A control service promoted with CloudWatch healthy succeeds, so each check
//! above can fail.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use aws_sdk_ecs::types::ContainerDefinition;
use shipdeck::model::Digest;
use shipdeck::platforms::ecs::AwsProvider;
use shipdeck::provider::AnyProvider;

use crate::support::console::Harness;
use crate::support::emulators::{self, Emulator};
use crate::support::faultproxy::{FaultProxy, Mode};

const REPO: &str = "registry.example.com/team/api";

fn creds() -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new("test", "test", None, None, "tests")
}

fn digest(label: &str) -> Digest {
    Digest::of_bytes(label.as_bytes())
}

fn ecs_client(url: &str) -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::from_conf(
        aws_sdk_ecs::Config::builder()
            .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
            .region(aws_sdk_ecs::config::Region::new("us-east-1"))
            .credentials_provider(creds())
            .endpoint_url(url)
            .build(),
    )
}

fn cw_client(url: &str) -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::Config::builder()
            .behavior_version(aws_sdk_cloudwatch::config::BehaviorVersion::latest())
            .region(aws_sdk_cloudwatch::config::Region::new("us-east-1"))
            .credentials_provider(creds())
            .endpoint_url(url)
            .build(),
    )
}

/// How CloudWatch fails in one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Refused,
    Reset,
    Hang,
    Deleted,
    NoData,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Self::Refused => "refused",
            Self::Reset => "reset",
            Self::Hang => "hang",
            Self::Deleted => "deleted",
            Self::NoData => "nodata",
        }
    }

    fn network(self) -> bool {
        matches!(self, Self::Refused | Self::Reset | Self::Hang)
    }
}

/// One service in both clusters, its alarms, its own proxy and configuration.
struct Case {
    fault: Fault,
    service: String,
    proxy: FaultProxy,
    cw: aws_sdk_cloudwatch::Client,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Case {
    async fn new(
        fault: Fault,
        name: &str,
        ecs: &aws_sdk_ecs::Client,
        moto: &str,
        localstack: &str,
    ) -> Self {
        let service = format!("svc-{name}");
        for (cluster, release) in [("staging", "2.0"), ("prod", "1.0")] {
            ecs.register_task_definition()
                .family(format!("{cluster}-{service}"))
                .container_definitions(
                    ContainerDefinition::builder()
                        .name("app")
                        .image(format!("{REPO}@{}", digest(release)))
                        .memory(128)
                        .build(),
                )
                .send()
                .await
                .unwrap();
            // No tasks: moto reports the rollout COMPLETED at once, so a watch
            // with every source readable really can succeed.
            ecs.create_service()
                .cluster(cluster)
                .service_name(&service)
                .task_definition(format!("{cluster}-{service}:1"))
                .desired_count(0)
                .send()
                .await
                .unwrap();
        }
        let proxy = FaultProxy::start(localstack);
        let case = Self {
            fault,
            cw: cw_client(localstack),
            proxy,
            dir: tempfile::tempdir().unwrap(),
            config: PathBuf::new(),
            service,
        };
        for env in ["staging", "prod"] {
            case.create_alarm(env).await;
        }
        let mut case = case;
        case.config = case.dir.path().join("shipdeck.toml");
        std::fs::write(&case.config, case.config_text(moto)).unwrap();
        case
    }

    fn alarm(&self, env: &str) -> String {
        format!("{env}-{}-5xx", self.service)
    }

    /// An alarm LocalStack leaves alone (no data is ignored) in state OK.
    async fn create_alarm(&self, env: &str) {
        self.cw
            .put_metric_alarm()
            .alarm_name(self.alarm(env))
            .namespace("Shop")
            .metric_name(format!("Errors-{env}-{}", self.service))
            .statistic(Statistic::Sum)
            .period(3600)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            // Without data LocalStack keeps the state the test sets.
            .treat_missing_data("ignore")
            .send()
            .await
            .unwrap();
        self.set_state(env, StateValue::Ok).await;
    }

    async fn set_state(&self, env: &str, state: StateValue) {
        self.cw
            .set_alarm_state()
            .alarm_name(self.alarm(env))
            .state_value(state)
            .state_reason("set by the test")
            .send()
            .await
            .unwrap();
    }

    fn config_text(&self, moto: &str) -> String {
        let mut t = String::from("refresh_interval = \"1s\"\nledger_path = \"ledger.jsonl\"\n");
        for env in ["staging", "prod"] {
            t.push_str(&format!(
                "\n[[environment]]\nname = \"{env}\"\nregion = \"us-east-1\"\ncluster = \"{env}\"\n\
                 ecs_endpoint_url = \"{moto}\"\ncloudwatch_endpoint_url = \"{}\"\n",
                self.proxy.url()
            ));
            if env == "prod" {
                t.push_str(
                    "\n[environment.gate]\nchecks = [\"rollout_completed\", \"alarms_ok\", \"pinned\", \"fresh\"]\n\
                     approvals_required = 0\nfour_eyes = false\nallow_override = false\n\
                     \n[environment.rollout]\ntimeout = \"20s\"\nstability_window = \"2s\"\n",
                );
            }
            t.push_str(&format!(
                "\n[[environment.service]]\nname = \"{s}\"\necs_service = \"{s}\"\ncontainer = \"app\"\n\
                 alarms = [\"{}\"]\n",
                self.alarm(env),
                s = self.service
            ));
        }
        t
    }

    /// Turns the fault on (`on`) or off, for `envs`' alarms where it is per alarm.
    async fn apply(&self, on: bool, envs: &[&str]) {
        match self.fault {
            Fault::Refused => self.proxy.set(if on { Mode::Refuse } else { Mode::Pass }),
            Fault::Reset => self.proxy.set(if on { Mode::Reset } else { Mode::Pass }),
            Fault::Hang => self.proxy.set(if on { Mode::Hang } else { Mode::Pass }),
            Fault::Deleted => {
                for env in envs {
                    if on {
                        self.cw
                            .delete_alarms()
                            .alarm_names(self.alarm(env))
                            .send()
                            .await
                            .unwrap();
                    } else {
                        self.create_alarm(env).await;
                    }
                }
            }
            Fault::NoData => {
                for env in envs {
                    let state = if on {
                        StateValue::InsufficientData
                    } else {
                        StateValue::Ok
                    };
                    self.set_state(env, state).await;
                }
            }
        }
    }

    fn cmd(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"));
        cmd.env_remove("SHIPDECK_CONFIG")
            .env("NO_COLOR", "1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env("AWS_CONFIG_FILE", self.dir.path().join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.dir.path().join("none"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("SHIPDECK_LOG_FILE", self.dir.path().join("log"))
            // Emulators reuse ARNs across runs: never share the user's cache.
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .kill_on_drop(true);
        cmd
    }

    async fn run(&self, args: &[&str]) -> (Option<i32>, String) {
        let out = tokio::time::timeout(Duration::from_secs(90), self.cmd(args).output())
            .await
            .unwrap_or_else(|_| panic!("{:?}: {args:?} hung", self.fault))
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }

    fn kinds(&self) -> Vec<String> {
        ledger_kinds(&self.dir.path().join("ledger.jsonl"))
    }

    fn cfg(&self) -> shipdeck::config::Config {
        shipdeck::config::load(&self.config, shipdeck::config::ConfigOrigin::Flag).unwrap()
    }
}

fn ledger_kinds(path: &Path) -> Vec<String> {
    shipdeck::ledger::Ledger::new(path)
        .read()
        .unwrap()
        .iter()
        .map(|r| r.kind.as_str().to_string())
        .collect()
}

/// The alarm badge line (second line of the service row) of the board.
fn badge_line(screen: &str, service: &str) -> String {
    let lines: Vec<&str> = screen.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.contains(&format!("▶{service}")) || l.contains(&format!(" {service} ")))
        .unwrap_or_else(|| panic!("no row for {service}:\n{screen}"));
    lines[i + 1].to_string()
}

async fn console_check(case: &Case) {
    let f = case.fault;
    let provider = AnyProvider::Aws(AwsProvider::new(&case.cfg()).with_credentials(creds()));
    let mut h = Harness::with_provider(case.cfg(), provider, "alice").await;
    h.tick(2).await;
    let screen = h.screen(120, 40);
    assert!(
        badge_line(&screen, &case.service).matches("A✓").count() == 2,
        "{f:?} control: both cells read OK:\n{screen}"
    );
    case.apply(true, &["staging", "prod"]).await;
    h.tick(2).await;
    let screen = h.screen(120, 40);
    let line = badge_line(&screen, &case.service);
    assert_eq!(
        line.matches("A?").count(),
        2,
        "{f:?}: A? in both cells:\n{screen}"
    );
    assert!(!line.contains("A-"), "{f:?}: never A-:\n{screen}");
    if f.network() {
        assert!(
            screen.contains("alarms STALE"),
            "{f:?}: the header names the stale source:\n{screen}"
        );
    }
    case.apply(false, &["staging", "prod"]).await;
}

async fn status_check(case: &Case) {
    let f = case.fault;
    case.apply(true, &["staging", "prod"]).await;
    let (code, out) = case.run(&["status"]).await;
    assert_eq!(code, Some(3), "{f:?}: status exits 3 (unknown):\n{out}");
    assert!(!out.contains("all healthy"), "{f:?}:\n{out}");
    assert!(out.contains("? unknown"), "{f:?}:\n{out}");
    let (code, json) = case.run(&["status", "--json"]).await;
    assert_eq!(code, Some(3), "{f:?}");
    let start = json.find('{').unwrap();
    let v: serde_json::Value = serde_json::Deserializer::from_str(&json[start..])
        .into_iter::<serde_json::Value>()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(v["degraded"], true, "{f:?}");
    assert_eq!(v["unknown"], true, "{f:?}");
    case.apply(false, &["staging", "prod"]).await;
}

async fn gate_check(case: &Case) {
    let f = case.fault;
    case.apply(true, &["staging"]).await;
    let (code, out) = case
        .run(&["promote", &case.service, "--to", "prod", "--yes", "--json"])
        .await;
    assert_eq!(code, Some(1), "{f:?}: NO-GO:\n{out}");
    let start = out.find('{').unwrap();
    let v: serde_json::Value = serde_json::Deserializer::from_str(&out[start..])
        .into_iter::<serde_json::Value>()
        .next()
        .unwrap()
        .unwrap();
    let alarms = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "alarms_ok")
        .unwrap()
        .clone();
    assert_ne!(alarms["verdict"], "pass", "{f:?}: {alarms}");
    assert!(
        !case.kinds().contains(&"deploy_issued".to_string()),
        "{f:?}: nothing deployed"
    );
    case.apply(false, &["staging"]).await;
}

/// Starts `promote --wait`, turns the fault on once the deploy is issued, and
/// returns the exit code and output.
async fn watch_check(case: &Case) {
    let f = case.fault;
    let child = case
        .cmd(&[
            "promote",
            &case.service,
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
    let deadline = Instant::now() + Duration::from_mins(1);
    while !case.kinds().contains(&"deploy_issued".to_string()) {
        assert!(
            Instant::now() < deadline,
            "{f:?}: the deploy was never issued"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    case.apply(true, &["prod"]).await;
    let out = tokio::time::timeout(Duration::from_mins(2), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{f:?}: promote --wait hung"))
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{f:?}: outcome unknown:\n{text}"
    );
    assert!(text.contains("\"outcome\": \"unknown\""), "{f:?}:\n{text}");
    let kinds = case.kinds();
    assert!(
        kinds.contains(&"deploy_unverified".to_string()),
        "{f:?}: {kinds:?}"
    );
    assert!(
        !kinds.contains(&"deploy_succeeded".to_string())
            && !kinds.contains(&"revision_marked_stable".to_string()),
        "{f:?}: {kinds:?}"
    );
    case.apply(false, &["prod"]).await;
}

async fn run_case(case: Case) {
    console_check(&case).await;
    status_check(&case).await;
    gate_check(&case).await;
    watch_check(&case).await;
}

/// The control: with CloudWatch answering, the same promotion succeeds and is
/// marked stable, and status is healthy.
async fn control(case: Case) {
    let (code, out) = case.run(&["status"]).await;
    assert_eq!(code, Some(0), "control status:\n{out}");
    assert!(out.contains("✓ all healthy"), "{out}");
    let (code, out) = case
        .run(&[
            "promote",
            &case.service,
            "--to",
            "prod",
            "--yes",
            "--wait",
            "--json",
        ])
        .await;
    assert_eq!(code, Some(0), "control promote:\n{out}");
    let kinds = case.kinds();
    assert!(
        kinds.contains(&"revision_marked_stable".to_string()),
        "{kinds:?}"
    );
}

struct Stack {
    moto: Emulator,
    localstack: Emulator,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_faults_never_read_as_healthy() {
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let st = Stack {
        moto: emulators::moto(&bin),
        localstack: emulators::localstack(&bin),
    };
    let ecs = ecs_client(&st.moto.url);
    for cluster in ["staging", "prod"] {
        ecs.create_cluster()
            .cluster_name(cluster)
            .send()
            .await
            .unwrap();
    }
    let mut cases = Vec::new();
    for f in [
        Fault::Refused,
        Fault::Reset,
        Fault::Hang,
        Fault::Deleted,
        Fault::NoData,
    ] {
        cases.push(Case::new(f, f.name(), &ecs, &st.moto.url, &st.localstack.url).await);
    }
    // The control has a service of its own; no fault is ever applied to it.
    let ctl = Case::new(
        Fault::Deleted,
        "control",
        &ecs,
        &st.moto.url,
        &st.localstack.url,
    )
    .await;
    // Each case has its own service, proxy and ledger: run them side by side.
    let mut all: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>> =
        vec![Box::pin(control(ctl))];
    for c in cases {
        all.push(Box::pin(run_case(c)));
    }
    futures::future::join_all(all).await;
}
