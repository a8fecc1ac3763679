//! Fly.io Machines services read through the real binary against the
//! Machines API stub (`tests/support/fly_machines.py`; no Fly emulator
//! exists): `status --json` shows each machine, its region, the digest and
//! the OCI labels; a reading is one `GET …/machines` per app; an API out of
//! reach, a machine on an unreachable host and a refused token are unknown
//! or an error, never green.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::fly::{self, FlyStub};

const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn image(app: &str, digest: &str) -> String {
    format!("registry.fly.io/{app}@{digest}")
}

/// The stub with `edge-prod` on four machines (fra ×2, ams ×2) and
/// `api-prod` on two, every image labelled.
fn stub() -> FlyStub {
    let s = FlyStub::start(&["--start-delay", "0.1", "--check-delay", "0.1"]);
    for (app, n) in [("edge-prod", 4), ("api-prod", 2)] {
        for d in [OLD, NEW] {
            s.seed_image(
                &image(app, d),
                &json!({
                    "org.opencontainers.image.revision": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
                    "org.opencontainers.image.source": "https://github.com/acme/edge",
                    "org.opencontainers.image.version": "1.0.0",
                }),
            );
        }
        let mut machines: Vec<Value> = (0..n)
            .map(|i| {
                fly::machine(
                    &format!("148ed726c5d91{i}"),
                    ["fra", "fra", "ams", "ams"][i],
                    &image(app, OLD),
                )
            })
            .collect();
        if app == "api-prod" {
            // A second process group, its own service: the same app's list.
            let mut worker = fly::machine("7a1b2c3d4e5f60", "ams", &image(app, OLD));
            worker["metadata"]["fly_process_group"] = json!("worker");
            machines.push(worker);
        }
        s.seed_app(app, &Value::Array(machines));
    }
    s
}

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
}

fn setup(api_url: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shipdeck.toml");
    let text = format!(
        r#"refresh_interval = "5s"

[[environment]]
name = "prod"
platform = "fly"
[environment.fly]
api_url = "{api_url}"
token = "${{secret:FLY_API_TOKEN}}"

[[environment.service]]
name = "edge"
[environment.service.fly]
app = "edge-prod"

[[environment.service]]
name = "api"
[environment.service.fly]
app = "api-prod"
group = "app"

[[environment.service]]
name = "worker"
[environment.service.fly]
app = "api-prod"
group = "worker"
"#
    );
    std::fs::write(&config, text).unwrap();
    Setup { dir, config }
}

impl Setup {
    fn run(&self, args: &[&str], secret: &str) -> (i32, Value, String) {
        let d = self.dir.path();
        let out = assert_cmd::Command::cargo_bin("shipdeck")
            .unwrap()
            .env_remove("SHIPDECK_CONFIG")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .env("XDG_DATA_HOME", d.join("data"))
            .env("XDG_STATE_HOME", d.join("state"))
            .env("SHIPDECK_OPERATOR", "alice")
            .env("SHIPDECK_LOG_FILE", d.join("shipdeck.log"))
            .env("SHIPDECK_SECRET_FLY_API_TOKEN", secret)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .timeout(Duration::from_mins(1))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let v = serde_json::from_str(&stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap_or(-1), v, stderr)
    }

    fn status(&self, secret: &str) -> (i32, Value, String) {
        self.run(&["status", "--json"], secret)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("shipdeck.log")).unwrap_or_default()
    }
}

fn cell<'a>(v: &'a Value, service: &str) -> &'a Value {
    v["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == service))
        .map_or(&Value::Null, |s| &s["cells"][0])
}

fn lines(cell: &Value) -> String {
    cell["detail"]["lines"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .map(|l| {
                    format!(
                        "{} {}",
                        l["label"].as_str().unwrap_or(""),
                        l["text"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

#[test]
fn status_json_shows_machines_regions_digest_counts_and_labels() {
    let s = stub();
    let set = setup(&s.url());
    let (code, v, err) = set.status(fly::TOKEN);
    assert_eq!(code, 0, "{v}\n{err}\n{}", set.log());
    assert_eq!(v["environments"][0]["platform"], "fly", "{v}");
    assert!(
        v["environments"][0]["location"]
            .as_str()
            .unwrap_or_default()
            .starts_with("fly 127.0.0.1:"),
        "{v}"
    );
    let edge = cell(&v, "edge");
    assert_eq!(edge["presence"], "deployed", "{edge}");
    assert_eq!(edge["platform"], "fly", "{edge}");
    assert_eq!(edge["digest"], OLD, "{edge}");
    assert_eq!(edge["revision"], "edge-prod@111111111111", "{edge}");
    assert_eq!(
        (edge["running"].as_u64(), edge["desired"].as_u64()),
        (Some(4), Some(4)),
        "{edge}"
    );
    assert_eq!(edge["rollout"], "completed", "{edge}");
    assert_eq!(edge["unknown"], json!([]), "{edge}");
    assert_eq!(edge["version"], "1.0.0", "{edge}");
    assert_eq!(
        edge["image_revision"], "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        "{edge}"
    );
    assert_eq!(
        edge["image_source"], "https://github.com/acme/edge",
        "{edge}"
    );
    assert_eq!(edge["image"], image("edge-prod", OLD), "{edge}");
    let regions: Vec<String> = edge["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}={}",
                p["unit"].as_str().unwrap(),
                p["region"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        regions,
        [
            "148ed726c5d910=fra",
            "148ed726c5d911=fra",
            "148ed726c5d912=ams",
            "148ed726c5d913=ams"
        ],
        "{edge}"
    );
    let text = lines(edge);
    for want in [
        "machine 148ed726c5d9 fra started 111111111111 v12 checks 1/1 ✓",
        " ams started",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
    assert_eq!(text.matches("machine ").count(), 4, "{text}");
    assert_eq!(edge["detail"]["title"], "on fly edge-prod", "{edge}");
    // The API's call counts are in the debug log, never the token.
    assert!(!set.log().contains(fly::TOKEN), "{}", set.log());
    let api = cell(&v, "api");
    assert_eq!(api["revision"], "api-prod.app@111111111111", "{api}");
    let worker = cell(&v, "worker");
    assert_eq!(
        worker["revision"], "api-prod.worker@111111111111",
        "{worker}"
    );
    assert_eq!(
        (worker["running"].as_u64(), worker["desired"].as_u64()),
        (Some(1), Some(1)),
        "{worker}"
    );
    assert!(
        lines(worker).contains("7a1b2c3d4e5f ams started"),
        "{worker}"
    );
    assert_eq!(
        (api["running"].as_u64(), api["desired"].as_u64()),
        (Some(2), Some(2)),
        "{api}"
    );
}

#[test]
fn a_reading_is_exactly_one_get_per_app_however_many_groups_it_serves() {
    let s = stub();
    let set = setup(&s.url());
    s.clear_log();
    let (code, v, err) = set.status(fly::TOKEN);
    assert_eq!(code, 0, "{v}\n{err}");
    let log = s.log();
    let mut got: Vec<String> = log
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r["method"].as_str().unwrap(),
                r["path"].as_str().unwrap(),
                r["status"]
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            "GET /v1/apps/api-prod/machines 200",
            "GET /v1/apps/edge-prod/machines 200"
        ],
        "{log:?}"
    );
    // shipdeck counts them the same: `status --json`'s diagnostics.
    assert_eq!(
        v["diagnostics"]["api_calls"]["prod"]["ListMachines"], 2,
        "{}",
        v["diagnostics"]
    );
}

#[test]
fn machines_on_two_digests_are_in_flight_on_the_old_digest() {
    let s = stub();
    let mut ms: Vec<Value> = (0..4)
        .map(|i| {
            fly::machine(
                &format!("1000000000000{i}"),
                ["fra", "fra", "ams", "ams"][i],
                &image("edge-prod", OLD),
            )
        })
        .collect();
    ms[0]["image"] = json!(image("edge-prod", NEW));
    s.seed_app("edge-prod", &Value::Array(ms));
    let set = setup(&s.url());
    let (code, v, err) = set.status(fly::TOKEN);
    assert_ne!(code, 0, "{v}\n{err}");
    let edge = cell(&v, "edge");
    assert_eq!(edge["digest"], OLD, "{edge}");
    assert_eq!(edge["in_progress"], true, "{edge}");
    assert_eq!(edge["detail"]["badge"]["text"], "mix 1/4 new", "{edge}");
}

#[test]
fn an_unreachable_machines_api_is_unknown_never_green() {
    let mut s = stub();
    let set = setup(&s.url());
    s.stop();
    let (code, v, err) = set.status(fly::TOKEN);
    assert_eq!(code, 3, "{v}\n{err}");
    assert_eq!(v["verdict"], "unknown", "{v}");
    for name in ["edge", "api"] {
        let c = cell(&v, name);
        assert_eq!(c["rollout"], "unknown", "{c}");
        assert!(c["digest"].is_null(), "{c}");
        assert_eq!(c["promotable"], false, "{c}");
        let text = lines(c);
        assert!(text.contains("unreadable: network:"), "{text}");
        assert!(text.contains("connection refused"), "{text}");
    }
    let unknowns = v["unknowns"].to_string();
    assert!(unknowns.contains("prod/edge"), "{unknowns}");
}

#[test]
fn an_app_that_does_not_exist_is_that_service_unknown_the_others_read() {
    let s = stub();
    let set = setup(&s.url());
    std::fs::write(
        &set.config,
        std::fs::read_to_string(&set.config)
            .unwrap()
            .replace("app = \"api-prod\"", "app = \"api-gone\""),
    )
    .unwrap();
    let (code, v, err) = set.status(fly::TOKEN);
    assert_eq!(code, 3, "{v}\n{err}");
    assert_eq!(cell(&v, "edge")["rollout"], "completed", "{v}");
    let api = cell(&v, "api");
    assert_eq!(api["rollout"], "unknown", "{api}");
    assert!(lines(api).contains("app api-gone not found"), "{api}");
}

#[test]
fn a_machine_on_an_unreachable_host_is_unknown() {
    let s = stub();
    s.fault(&json!({"kind": "host", "machine": "148ed726c5d912", "status": "unreachable"}));
    let set = setup(&s.url());
    let (code, v, err) = set.status(fly::TOKEN);
    assert_eq!(code, 3, "{v}\n{err}");
    let edge = cell(&v, "edge");
    assert_eq!(edge["rollout"], "unknown", "{edge}");
    assert_eq!(edge["promotable"], false, "{edge}");
    let text = lines(edge);
    assert!(
        text.contains(
            "machine 148ed726c5d9 (ams) is on a host unreachable: its state is not known"
        ),
        "{text}"
    );
    assert!(text.contains("host unreachable: not read whole"), "{text}");
    // The other app is read as usual.
    assert_eq!(cell(&v, "api")["rollout"], "completed", "{v}");
}

#[test]
fn a_bad_token_is_a_clear_auth_error() {
    let s = stub();
    let set = setup(&s.url());
    let (code, v, err) = set.status("not-the-token");
    assert_eq!(code, 1, "{v}\n{err}");
    let env = &v["environments"][0];
    let error = env["freshness"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("not authorised"), "{env}");
    assert!(error.contains("refused the token (401)"), "{env}");
    assert!(error.contains("[environment.fly] token"), "{env}");
    assert!(!v.to_string().contains("not-the-token"), "{v}");
    assert!(!set.log().contains("not-the-token"));
    // A missing secret says how to set it, and nothing is asked of the API.
    s.clear_log();
    let (code, v, _) = set.run(&["status", "--json"], "");
    assert_eq!(code, 1, "{v}");
    let error = v["environments"][0]["freshness"]["error"].to_string();
    assert!(error.contains("SHIPDECK_SECRET_FLY_API_TOKEN"), "{error}");
    assert!(s.log().is_empty(), "{:?}", s.log());
}

/// `HttpFly` straight against the stub, as the promotion uses it.
fn http_fly(s: &FlyStub) -> shipdeck::platforms::fly::http::HttpFly {
    let set = setup(&s.url());
    let cfg =
        shipdeck::config::parse_str(&std::fs::read_to_string(&set.config).unwrap(), "t", None)
            .unwrap();
    shipdeck::platforms::fly::http::HttpFly::new(
        &cfg.environments[0],
        &s.url(),
        fly::TOKEN,
        shipdeck::secrets::Redactor::default(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_lease_held_by_another_deployer_is_refused_naming_the_holder_and_expiry() {
    use shipdeck::platforms::fly::api::{FlyApi, LeaseError};
    let s = stub();
    s.fault(
        &json!({"kind": "hold_lease", "app": "edge-prod", "machine": "148ed726c5d912",
                    "owner": "ci@acme.dev", "description": "deploy by ci", "ttl": 600}),
    );
    let api = http_fly(&s);
    let ttl = Duration::from_secs(30);
    let e = api
        .acquire_lease("edge-prod", "148ed726c5d912", ttl, "shipdeck test")
        .await
        .unwrap_err();
    let LeaseError::Held {
        machine,
        owner,
        expires_at,
        description,
        message,
    } = &e
    else {
        panic!("{e:?}");
    };
    assert_eq!(machine, "148ed726c5d912");
    assert_eq!(owner, "ci@acme.dev");
    assert_eq!(description, "deploy by ci");
    let now = chrono::Utc::now().timestamp();
    assert!((now + 590..=now + 610).contains(expires_at), "{expires_at}");
    assert!(
        message.contains("lease currently held by ci@acme.dev"),
        "{message}"
    );
    // A free machine's lease: taken, refreshed under its nonce, read, released.
    let l = api
        .acquire_lease("edge-prod", "148ed726c5d910", ttl, "shipdeck test")
        .await
        .unwrap();
    assert!(!l.nonce.is_empty());
    assert_eq!(l.description, "shipdeck test");
    let again = api
        .refresh_lease("edge-prod", "148ed726c5d910", &l.nonce, ttl)
        .await
        .unwrap();
    assert_eq!(again.nonce, l.nonce);
    let read = api.lease("edge-prod", "148ed726c5d910").await.unwrap();
    assert_eq!(read.map(|r| r.nonce), Some(l.nonce.clone()));
    api.release_lease("edge-prod", "148ed726c5d910", &l.nonce)
        .await
        .unwrap();
    assert_eq!(
        api.lease("edge-prod", "148ed726c5d910").await.unwrap(),
        None
    );
    // Released twice: already gone is fine.
    api.release_lease("edge-prod", "148ed726c5d910", &l.nonce)
        .await
        .unwrap();
    let nonces: Vec<Value> = s
        .log()
        .iter()
        .filter(|r| r["path"].as_str().unwrap_or_default().ends_with("/lease"))
        .map(|r| json!([r["method"], r["status"], r["nonce"].is_string()]))
        .collect();
    assert_eq!(
        nonces,
        [
            json!(["POST", 409, false]),
            json!(["GET", 200, false]),
            json!(["POST", 201, false]),
            json!(["POST", 200, true]),
            json!(["GET", 200, false]),
            json!(["DELETE", 200, true]),
            json!(["GET", 404, false]),
            json!(["DELETE", 404, true]),
        ]
    );
    let calls = api.calls();
    assert_eq!(calls.get("AcquireLease"), Some(&2), "{calls:?}");
    assert_eq!(calls.get("GetLease"), Some(&3), "{calls:?}");
}

#[tokio::test]
async fn a_throttled_list_is_retried_after_retry_after_and_a_5xx_or_a_missing_machine_is_said() {
    use shipdeck::platforms::fly::api::FlyApi;
    use shipdeck::provider::ProviderError;
    let s = stub();
    let api = http_fly(&s);
    s.clear_log();
    s.fault(
        &json!({"kind": "http", "method": "GET", "path_re": "^/v1/apps/edge-prod/machines$",
                    "status": 429, "times": 1, "retry_after": 0.2}),
    );
    let machines = api.list("edge-prod").await.unwrap();
    assert_eq!(machines.len(), 4);
    let statuses: Vec<Value> = s.log().iter().map(|r| r["status"].clone()).collect();
    assert_eq!(statuses, [json!(429), json!(200)]);
    assert_eq!(api.calls().get("ListMachines"), Some(&2));
    s.fault(
        &json!({"kind": "http", "method": "GET", "path_re": "^/v1/apps/edge-prod/machines$",
                    "status": 503, "times": 1, "message": "flaps is down"}),
    );
    let e = api.list("edge-prod").await.unwrap_err();
    assert!(
        matches!(&e, ProviderError::Network { message } if message.contains("503") && message.contains("flaps is down")),
        "{e:?}"
    );
    let e = api.get("edge-prod", "nope").await.unwrap_err();
    assert_eq!(
        e,
        ProviderError::NotFound {
            what: "machine".into(),
            name: "nope".into()
        }
    );
}
