//! Kubernetes with Argo Rollouts and GitOps through the real binary, against
//! the API stub and its Argo controller (`tests/support/kube_api.py`; no API
//! server is in the registries) and a real bare git repository pushed to
//! with the real `git`: readings by watches, promotion by commit followed
//! through sync, steps and pauses, decisions at a pause, an abort and a
//! revert, a concurrent commit, and watches that drop.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::kube::{KubeStub, gitops_repo, kustomize_app};

pub const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
pub const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
pub const IMAGE: &str = "ghcr.io/acme/search";
/// An overlay, with comments and an unrelated entry that must survive.
pub fn kustomization(stage: &str, digest: &str) -> String {
    format!(
        "# {stage} overlay: images are pinned by digest (runbook 002)\n\
         apiVersion: kustomize.config.k8s.io/v1beta1\n\
         kind: Kustomization\n\
         resources:\n  - ../../base   # the shared manifests\n\n\
         images:\n  # the search service\n  - name: {IMAGE}\n    digest: {digest}  # promoted by shipdeck\n\
         \x20 - name: ghcr.io/acme/sidecar\n    newTag: \"1.4\"\n"
    )
}

/// The prod overlay's path.
pub const FILE: &str = "overlays/prod/kustomization.yaml";
const STAGING_FILE: &str = "overlays/staging/kustomization.yaml";

/// staging and prod on the stub: the repo, the kubeconfig, shipdeck's config.
pub struct Stage {
    pub dir: tempfile::TempDir,
    pub stub: KubeStub,
    pub bare: PathBuf,
    pub seed: PathBuf,
    pub config: PathBuf,
}

/// One environment of shipdeck's configuration on the stub.
fn env_config(name: &str, file: &str, kubeconfig: &Path, repo: &Path, extra: &str) -> String {
    format!(
        r#"
[[environment]]
name = "{name}"
platform = "kubernetes"
{extra}
[environment.kubernetes]
kubeconfig = "{kc}"
context = "stub"
namespace = "shop-{name}"
[environment.kubernetes.git]
url = "{repo}"
branch = "main"

[[environment.service]]
name = "search"
[environment.service.kubernetes]
rollout = "search"
container = "app"
application = "search-{name}"
kustomization = "{file}"
image = "{IMAGE}"
"#,
        kc = kubeconfig.display(),
        repo = repo.display(),
    )
}

/// The stub with `search` synced from the repo: staging on `NEW`, prod on
/// `OLD`, both Healthy. `prod_extra` goes into prod's environment table.
pub fn stage(prod_extra: &str) -> Stage {
    let dir = tempfile::tempdir().unwrap();
    let (bare, seed) = gitops_repo(
        dir.path(),
        &[
            (STAGING_FILE, &kustomization("staging", NEW)),
            (FILE, &kustomization("prod", OLD)),
        ],
    );
    let apps = json!([
        kustomize_app(
            "search-staging",
            "shop-staging",
            "search",
            IMAGE,
            &bare,
            STAGING_FILE
        ),
        kustomize_app("search-prod", "shop-prod", "search", IMAGE, &bare, FILE),
    ]);
    let controller = dir.path().join("controller.json");
    std::fs::write(&controller, apps.to_string()).unwrap();
    let stub = KubeStub::start(&["--controller", controller.to_str().unwrap()]);
    let kubeconfig = dir.path().join("kubeconfig");
    stub.kubeconfig(&kubeconfig);
    let config = dir.path().join("shipdeck.toml");
    let text = format!(
        "refresh_interval = \"2s\"\nallow_operator_override = true\n{}{}",
        env_config("staging", STAGING_FILE, &kubeconfig, &bare, ""),
        env_config("prod", FILE, &kubeconfig, &bare, prod_extra),
    );
    std::fs::write(&config, text).unwrap();
    let s = Stage {
        dir,
        stub,
        bare,
        seed,
        config,
    };
    s.wait_for("search Healthy and synced in both stages", |st| {
        st.settled_on("shop-staging", NEW) && st.settled_on("shop-prod", OLD)
    });
    s
}

impl Stage {
    /// The Rollout runs `digest`, Healthy, and its Application is synced
    /// and healthy with its operation done.
    pub fn settled_on(&self, ns: &str, digest: &str) -> bool {
        let (code, r) = self.stub.call(
            "GET",
            &format!("/apis/argoproj.io/v1alpha1/namespaces/{ns}/rollouts/search"),
            None,
        );
        let app = ns.replace("shop-", "search-");
        let (acode, a) = self.stub.call(
            "GET",
            &format!("/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/{app}"),
            None,
        );
        code == 200
            && acode == 200
            && r["status"]["phase"] == "Healthy"
            && r["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .is_some_and(|i| i.ends_with(digest))
            && a["status"]["sync"]["status"] == "Synced"
            && a["status"]["health"]["status"] == "Healthy"
            && a["status"]["operationState"]["phase"] != "Running"
    }

    /// shipdeck as `operator`, in this stage's home, not started.
    pub fn command(&self, operator: &str) -> std::process::Command {
        let d = self.dir.path();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"));
        cmd.env_remove("SHIPDECK_CONFIG")
            .env_remove("RUST_LOG")
            .env_remove("KUBECONFIG")
            .env("NO_COLOR", "1")
            .env("HOME", d)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("XDG_DATA_HOME", d.join("data"))
            .env("XDG_STATE_HOME", d.join("state"))
            .env("XDG_CACHE_HOME", d.join("cache"))
            .env("SHIPDECK_OPERATOR", operator)
            .env("SHIPDECK_LOG_FILE", d.join("shipdeck.log"))
            .arg("--config")
            .arg(&self.config);
        cmd
    }

    /// Runs shipdeck as `operator`.
    pub fn run(&self, operator: &str, args: &[&str]) -> (i32, String, String) {
        let out = assert_cmd::Command::from_std(self.command(operator))
            .args(args)
            .timeout(Duration::from_mins(2))
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }

    /// `status --json`.
    pub fn status(&self) -> (i32, Value, String) {
        let (code, out, err) = self.run("alice", &["status", "--json"]);
        (code, serde_json::from_str(&out).unwrap_or(Value::Null), err)
    }

    /// The log shipdeck wrote.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("shipdeck.log")).unwrap_or_default()
    }

    /// Waits up to 30 s for `what`.
    pub fn wait_for(&self, what: &str, ok: impl Fn(&Self) -> bool) {
        let start = Instant::now();
        while !ok(self) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The repository's file at `rev`.
    pub fn file_at(&self, rev: &str) -> String {
        let _ = &self.seed;
        let out = std::process::Command::new("git")
            .current_dir(&self.bare)
            .args(["show", &format!("{rev}:{FILE}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    }
}

/// `service`'s cell in the `i`-th environment (0 staging, 1 prod).
pub fn cell_in<'a>(v: &'a Value, service: &str, i: usize) -> &'a Value {
    v["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == service))
        .map_or(&Value::Null, |s| &s["cells"][i])
}

#[test]
fn status_reads_the_rollout_its_application_and_replicasets_from_watches() {
    let s = stage("");
    let (code, v, err) = s.status();
    assert_eq!(code, 0, "{v}\n{err}\n{}", s.log());
    assert_eq!(v["environments"][0]["platform"], "kubernetes", "{v}");
    let c = cell_in(&v, "search", 1);
    assert_eq!(c["digest"], OLD, "{c}");
    assert_eq!(cell_in(&v, "search", 0)["digest"], NEW, "{v}");
    assert_eq!(c["rollout"], "completed", "{c}");
    assert_eq!(
        (c["running"].as_u64(), c["desired"].as_u64()),
        (Some(4), Some(4)),
        "{c}"
    );
    let lines = c["detail"]["lines"].to_string();
    assert!(lines.contains("search-prod Synced"), "{lines}");
    assert!(lines.contains("Healthy"), "{lines}");
}

#[test]
fn a_stub_that_refuses_every_request_makes_status_unknown_never_green() {
    let s = stage("");
    s.stub.down();
    let (code, v, err) = s.status();
    // Unreadable: degraded (exit 1), the reason named, nothing green.
    assert_eq!(code, 1, "{v}\n{err}");
    assert_eq!(v["verdict"], "degraded", "{v}");
    let error = v["environments"][0]["freshness"]["error"].to_string();
    assert!(
        error.contains("the watch on"),
        "the reason names the watch: {error}"
    );
    assert!(error.contains("503"), "and what the server said: {error}");
    let c = cell_in(&v, "search", 1);
    assert_eq!(c["presence"], "no_data", "{c}");
    assert!(c["rollout"].is_null(), "{c}");
    assert_eq!(c["promotable"], false, "{c}");
}

/// The board's reading of prod, through the library: what the console does
/// every half second for a watched environment.
async fn read_prod(
    cfg: &shipdeck::config::Config,
) -> Result<shipdeck::model::EnvSnapshot, shipdeck::provider::ProviderError> {
    use shipdeck::provider::Provider;
    let prod = cfg.env("prod").unwrap();
    shipdeck::platforms::kubernetes::provider::provider()
        .read_env(prod, shipdeck::provider::ReadScope::CONSOLE)
        .await
}

/// Whether a reading calls `search` green: read, its rollout completed.
fn green(r: &Result<shipdeck::model::EnvSnapshot, shipdeck::provider::ProviderError>) -> bool {
    r.as_ref().is_ok_and(|s| {
        s.services
            .iter()
            .any(|x| x.name == "search" && x.convergence.is_converged())
    })
}

/// The watches are cut, then answered `410 Gone` (their resource version
/// expired while they were down): meanwhile every reading fails with the
/// watch named (the cells go stale), none is green; once answered again
/// the watches re-list and the reading shows what changed while they were
/// down. An idle reading costs no request beyond the open watches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_cut_then_expired_go_stale_never_green_and_recover_with_what_changed() {
    let s = tokio::task::spawn_blocking(|| stage("")).await.unwrap();
    let cfg = shipdeck::config::load(&s.config, shipdeck::config::ConfigOrigin::Flag).unwrap();
    let first = read_prod(&cfg).await;
    assert!(green(&first), "{first:?}");
    // Idle: readings cost nothing but the open watches.
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.stub.clear_requests();
    for _ in 0..20 {
        assert!(green(&read_prod(&cfg).await));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let asked: Vec<Value> = s
        .stub
        .requests()
        .into_iter()
        .filter(|r| !r["query"].as_str().unwrap_or("").contains("watch"))
        .collect();
    assert!(asked.is_empty(), "20 readings asked nothing: {asked:?}");

    // Cut: every request fails and the open watches close.
    s.stub.down();
    let start = Instant::now();
    let stale = loop {
        let r = read_prod(&cfg).await;
        if let Err(e) = &r {
            break e.to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still read 10 s after the cut"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(stale.contains("the watch on"), "{stale}");
    // While it stays down, nothing reads green.
    for _ in 0..10 {
        let r = read_prod(&cfg).await;
        assert!(!green(&r), "green while the watches are down: {r:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Meanwhile prod's Rollout is scaled, and the history it was in expires.
    s.stub.up();
    s.stub.merge_patch(
        "/apis/argoproj.io/v1alpha1/namespaces/shop-prod/rollouts/search",
        &json!({"spec": {"replicas": 6}}),
    );
    s.stub.expire();
    s.stub.drop_watches();
    // Answered again: the watches get 410 Gone, re-list, and the reading
    // shows the change.
    let start = Instant::now();
    loop {
        let r = read_prod(&cfg).await;
        if let Ok(snap) = &r
            && snap
                .services
                .iter()
                .any(|x| x.name == "search" && x.desired == 6)
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never recovered: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let relisted = s.stub.requests().iter().any(|r| {
        r["status"].as_u64() == Some(200) && !r["query"].as_str().unwrap_or("").contains("watch")
    });
    assert!(relisted, "the watches re-listed");
}
