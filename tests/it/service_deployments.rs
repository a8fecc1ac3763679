//! ECS's service-deployment API, which moto does not implement, against a
//! small stub on 127.0.0.1 that answers `DescribeServiceDeployments`,
//! `ContinueServiceDeployment` and `StopServiceDeployment` in the JSON shapes
//! of the AWS API reference (awsJson1_1, `X-Amz-Target`). The stub records
//! every request so the tests check what shipdeck sent, not only what it read.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use shipdeck::model::{Decision, Shift};

const ARN: &str =
    "arn:aws:ecs:us-east-1:123456789012:service-deployment/shop-prod/notifications/Kx2Xbz";
const TARGET: &str = "AmazonEC2ContainerServiceV20141113.";

/// The stub: answers by operation; keeps (operation, body) of each request.
struct Stub {
    url: String,
    seen: Arc<Mutex<Vec<(String, Value)>>>,
}

fn describe_answer(hook_status: &str) -> Value {
    json!({
        "serviceDeployments": [{
            "serviceDeploymentArn": ARN,
            "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/shop-prod/shop-notifications-prod",
            "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/shop-prod",
            "createdAt": 1_764_670_000.0,
            "startedAt": 1_764_670_001.0,
            "updatedAt": 1_764_670_060.0,
            "sourceServiceRevisions": [{
                "arn": "arn:aws:ecs:us-east-1:123456789012:service-revision/shop-prod/shop-notifications-prod/1",
                "requestedTaskCount": 2, "runningTaskCount": 2, "pendingTaskCount": 0,
                "requestedProductionTrafficWeight": 90.0
            }],
            "targetServiceRevision": {
                "arn": "arn:aws:ecs:us-east-1:123456789012:service-revision/shop-prod/shop-notifications-prod/2",
                "requestedTaskCount": 2, "runningTaskCount": 2, "pendingTaskCount": 0,
                "requestedProductionTrafficWeight": 10.0
            },
            "status": "IN_PROGRESS",
            "lifecycleStage": "POST_PRODUCTION_TRAFFIC_SHIFT",
            "lifecycleHookDetails": [{
                "hookId": "a1b2c3\u{1b}[2J",
                "targetType": "PAUSE",
                "status": hook_status,
                "expiresAt": 1_764_673_600.0,
                "timeoutAction": "ROLLBACK"
            }],
            "deploymentConfiguration": {
                "strategy": "CANARY",
                "bakeTimeInMinutes": 2,
                "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 5}
            }
        }],
        "failures": []
    })
}

fn serve(
    mut conn: TcpStream,
    seen: &Mutex<Vec<(String, Value)>>,
    hook: &str,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let (mut target, mut length) = (String::new(), 0usize);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("x-amz-target:") {
            target = v
                .trim()
                .trim_start_matches(&TARGET.to_ascii_lowercase())
                .to_string();
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    seen.lock().unwrap().push((target.clone(), body.clone()));
    let (status, answer) = match target.as_str() {
        "describeservicedeployments" => ("200 OK", describe_answer(hook)),
        "continueservicedeployment" if hook == "AWAITING_ACTION" => {
            ("200 OK", json!({"serviceDeploymentArn": ARN}))
        }
        "continueservicedeployment" => (
            "400 Bad Request",
            json!({"__type": "InvalidParameterException", "message": "The lifecycle hook is not awaiting action."}),
        ),
        "stopservicedeployment" => ("200 OK", json!({"serviceDeploymentArn": ARN})),
        _ => (
            "400 Bad Request",
            json!({"__type": "UnknownOperationException", "message": "not stubbed"}),
        ),
    };
    let text = answer.to_string();
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    conn.flush()
}

impl Stub {
    /// A stub whose pause hook has `hook` status; stops with the test process.
    fn start(hook: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let _ = serve(conn, &s2, hook);
            }
        });
        Self { url, seen }
    }

    fn client(&self) -> aws_sdk_ecs::Client {
        let conf = aws_sdk_ecs::Config::builder()
            .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
            .region(aws_sdk_ecs::config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .endpoint_url(&self.url)
            .build();
        aws_sdk_ecs::Client::from_conf(conf)
    }

    fn seen(&self) -> Vec<(String, Value)> {
        self.seen.lock().unwrap().clone()
    }
}

async fn shift(stub: &Stub) -> Shift {
    shipdeck::platforms::ecs::steps::describe(&stub.client(), ARN)
        .await
        .unwrap()
        .expect("a canary is a stepped deployment")
}

#[tokio::test]
async fn a_paused_canary_is_read_with_its_weight_step_and_hook() {
    let stub = Stub::start("AWAITING_ACTION");
    let s = shift(&stub).await;
    assert_eq!(s.kind, "canary");
    assert_eq!((s.new_weight, s.step, s.steps()), (1_000, 1, 2));
    assert_eq!(s.stage, "POST_PRODUCTION_TRAFFIC_SHIFT");
    let pause = s.pause.clone().expect("the PAUSE hook awaits action");
    // Text from the API reaches shipdeck only through the sanitiser.
    assert!(!pause.hook.contains('\u{1b}'), "{:?}", pause.hook);
    assert_eq!(pause.timeout_action.as_deref(), Some("ROLLBACK"));
    assert!(s.cell(chrono::Utc::now()).starts_with("⏸ canary 10%"));
    let (op, body) = &stub.seen()[0];
    assert_eq!(op, "describeservicedeployments");
    assert_eq!(body["serviceDeploymentArns"], json!([ARN]));
}

#[tokio::test]
async fn continue_and_rollback_at_a_hook_are_continue_service_deployment_calls() {
    let stub = Stub::start("AWAITING_ACTION");
    let s = shift(&stub).await;
    let said = shipdeck::platforms::ecs::steps::decide(&stub.client(), &s, Decision::Continue)
        .await
        .unwrap();
    assert!(said.contains("CONTINUE"), "{said}");
    shipdeck::platforms::ecs::steps::decide(&stub.client(), &s, Decision::Rollback)
        .await
        .unwrap();
    let calls: Vec<(String, Value)> = stub
        .seen()
        .into_iter()
        .filter(|(op, _)| op == "continueservicedeployment")
        .collect();
    assert_eq!(calls.len(), 2);
    for ((_, body), action) in calls.iter().zip(["CONTINUE", "ROLLBACK"]) {
        assert_eq!(body["serviceDeploymentArn"], ARN);
        assert_eq!(body["hookId"], json!(s.pause.as_ref().unwrap().hook));
        assert_eq!(body["action"], action);
    }
}

#[tokio::test]
async fn without_a_hook_a_rollback_stops_the_deployment_and_a_continue_is_refused() {
    let stub = Stub::start("SUCCEEDED");
    let s = shift(&stub).await;
    assert!(s.pause.is_none(), "no hook awaits action");
    let refused = shipdeck::platforms::ecs::steps::decide(&stub.client(), &s, Decision::Continue)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("not paused"), "{refused}");
    shipdeck::platforms::ecs::steps::decide(&stub.client(), &s, Decision::Rollback)
        .await
        .unwrap();
    let last = stub.seen().pop().unwrap();
    assert_eq!(last.0, "stopservicedeployment");
    assert_eq!(last.1["stopType"], "ROLLBACK");
    assert_eq!(last.1["serviceDeploymentArn"], ARN);
}

#[tokio::test]
async fn a_refused_continue_says_what_ecs_said() {
    let stub = Stub::start("AWAITING_ACTION");
    let mut s = shift(&stub).await;
    // The hook timed out between the reading and the decision.
    let stale = Stub::start("TIMED_OUT");
    s.deployment = ARN.to_string();
    let err = shipdeck::platforms::ecs::steps::decide(&stale.client(), &s, Decision::Continue)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not awaiting action"), "{err}");
}
