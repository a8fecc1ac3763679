//! The Kubernetes API stub with its Argo CD and Argo Rollouts controller
//! (`tests/support/kube_api.py`; the registries offer no API server) as a
//! test handle: started on a free port (it prints `PORT n`), a kubeconfig
//! pointing at it, a real bare git repository for its controller to read,
//! its `/_stub/*` control endpoints, killed when dropped.

#![allow(dead_code)] // each suite uses its part

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use serde_json::{Value, json};

use super::fly::{request, spawn_stub};

/// The token the stub is started with.
pub const TOKEN: &str = "kube-stub-token";

/// A running stub.
pub struct KubeStub {
    pub port: u16,
    child: Option<Child>,
}

fn script() -> String {
    format!("{}/tests/support/kube_api.py", env!("CARGO_MANIFEST_DIR"))
}

impl KubeStub {
    /// Starts the stub with `args` (`--controller FILE`, `--step-seconds`).
    pub fn start(args: &[&str]) -> Self {
        let base = ["--port", "0", "--token", TOKEN, "--bookmark-seconds", "1"];
        let (child, port) = spawn_stub(&script(), &[&base[..], args].concat(), "PORT ");
        Self {
            port,
            child: Some(child),
        }
    }

    /// The API server's URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One request (the API's or a control one): status and JSON body.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let auth = format!("Bearer {TOKEN}");
        request(
            self.port,
            method,
            path,
            body,
            &[("Authorization", auth.as_str())],
        )
    }

    /// A merge patch (as kubectl sends it), which must succeed.
    pub fn merge_patch(&self, path: &str, body: &Value) -> Value {
        use std::io::{Read, Write};
        let payload = body.to_string();
        let mut s =
            std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("the stub answers");
        write!(
            s,
            "PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Authorization: Bearer {TOKEN}\r\nContent-Type: application/merge-patch+json\r\n\
             Content-Length: {}\r\n\r\n{payload}",
            payload.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let (head, rest) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
        assert!(head.contains(" 200 "), "PATCH {path}: {head}\n{rest}");
        serde_json::from_str(rest).unwrap_or(Value::Null)
    }

    /// A control request that must succeed.
    pub fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, v) = self.call(method, path, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {v}"
        );
        v
    }

    /// Creates or replaces objects.
    pub fn put_objects(&self, objects: &[Value]) {
        self.control(
            "POST",
            "/_stub/objects",
            Some(&Value::Array(objects.to_vec())),
        );
    }

    /// Adds controller apps (as `--controller` takes them).
    pub fn controller(&self, apps: &Value) {
        self.control("POST", "/_stub/controller", Some(apps));
    }

    /// The API requests so far.
    pub fn requests(&self) -> Vec<Value> {
        match self.control("GET", "/_stub/requests", None) {
            Value::Array(v) => v,
            Value::Object(o) => o
                .get("requests")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            other => panic!("request log: {other}"),
        }
    }

    /// Clears the request log.
    pub fn clear_requests(&self) {
        self.control("POST", "/_stub/requests/clear", None);
    }

    /// One object, by its API path.
    pub fn get(&self, path: &str) -> Value {
        let (status, v) = self.call("GET", path, None);
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    /// A Rollout.
    pub fn rollout(&self, ns: &str, name: &str) -> Value {
        self.get(&format!(
            "/apis/argoproj.io/v1alpha1/namespaces/{ns}/rollouts/{name}"
        ))
    }

    /// An Application.
    pub fn application(&self, ns: &str, name: &str) -> Value {
        self.get(&format!(
            "/apis/argoproj.io/v1alpha1/namespaces/{ns}/applications/{name}"
        ))
    }

    /// Makes a Rollout's analysis fail (or pass again with `""`).
    pub fn analysis(&self, ns: &str, rollout: &str, result: &str) {
        self.control(
            "POST",
            &format!("/_stub/analysis?namespace={ns}&rollout={rollout}&result={result}"),
            None,
        );
    }

    /// Closes every open watch.
    pub fn drop_watches(&self) {
        self.control("POST", "/_stub/drop", None);
    }

    /// Compacts the history: older versions answer 410 Gone.
    pub fn expire(&self) {
        self.control("POST", "/_stub/expire", None);
    }

    /// Every API request fails until [`Self::up`].
    pub fn down(&self) {
        self.control("POST", "/_stub/down", None);
    }

    /// Answers again.
    pub fn up(&self) {
        self.control("POST", "/_stub/up", None);
    }

    /// Watches open now.
    pub fn open_watches(&self) -> u64 {
        self.control("GET", "/_stub/open-watches", None)["count"]
            .as_u64()
            .unwrap_or(0)
    }

    /// A kubeconfig for the stub, context `stub`, written to `path`.
    pub fn kubeconfig(&self, path: &Path) {
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: stub\n\
             clusters:\n- name: stub\n  cluster:\n    server: {}\n\
             users:\n- name: tester\n  user:\n    token: {TOKEN}\n\
             contexts:\n- name: stub\n  context:\n    cluster: stub\n    user: tester\n",
            self.url()
        );
        std::fs::write(path, text).expect("kubeconfig");
    }
}

impl Drop for KubeStub {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs `git` in `dir`, which must succeed; its stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Seed")
        .env("GIT_AUTHOR_EMAIL", "seed@example.com")
        .env("GIT_COMMITTER_NAME", "Seed")
        .env("GIT_COMMITTER_EMAIL", "seed@example.com")
        .args(args)
        .output()
        .expect("git must be installed");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare repository at `root/gitops.git` seeded with `files` on `main`,
/// and a working clone of it at `root/seed` for concurrent commits.
pub fn gitops_repo(root: &Path, files: &[(&str, &str)]) -> (PathBuf, PathBuf) {
    let bare = root.join("gitops.git");
    let seed = root.join("seed");
    std::fs::create_dir_all(&seed).unwrap();
    git(
        root,
        &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
    );
    git(&seed, &["init", "-q", "-b", "main"]);
    for (path, text) in files {
        let p = seed.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
    }
    git(&seed, &["add", "-A"]);
    git(&seed, &["commit", "-q", "-m", "seed"]);
    git(&seed, &["remote", "add", "origin", bare.to_str().unwrap()]);
    git(&seed, &["push", "-q", "origin", "main"]);
    (bare, seed)
}

/// A controller app for `rollout` in `ns`, synced by Application `app`
/// from `repo`'s `file` (a kustomization naming `image`).
pub fn kustomize_app(
    app: &str,
    ns: &str,
    rollout: &str,
    image: &str,
    repo: &Path,
    file: &str,
) -> Value {
    json!({
        "application": app, "argocd_namespace": "argocd", "namespace": ns,
        "kind": "Rollout", "name": rollout, "container": "app", "image": image,
        "repo": repo.to_str().unwrap(), "branch": "main", "path": file,
        "digest": {"kustomize": {"image": image}},
        "replicas": 4,
        "strategy": {"canary": {"steps": [
            {"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}
        ]}},
        "step_seconds": 1
    })
}
