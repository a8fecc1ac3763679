//! Promotions into a Kubernetes stage by commit, through the real binary,
//! the API stub's Argo controller and a real bare git repository: one
//! commit changing one value, followed through Argo CD's sync and the
//! Rollout's steps; pauses held for a second person with the patches
//! `kubectl argo rollouts promote` sends; a concurrent commit rebased or
//! refused.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::kubernetes::{FILE, NEW, OLD, Stage, kustomization, stage};
use crate::support::kube::git;

/// prod: promotion gates a test can pass, a short stability window, four
/// eyes at every pause.
const PROD: &str = r#"[environment.gate]
checks = ["rollout_completed", "not_in_flight", "pinned", "fresh"]
[environment.rollout]
stability_window = "1s"
timeout = "2m"
step_approvals = 1
"#;

impl Stage {
    /// `promote search --to prod --yes --wait --json` as alice, running.
    fn promote(&self) -> Child {
        self.command("alice")
            .args([
                "promote", "search", "--to", "prod", "--yes", "--wait", "--json",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The ledger's records.
    fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("data/shipdeck/ledger.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["record"].clone())
            .collect()
    }

    /// prod's Rollout, paused at step `index` (0-based).
    fn paused_at(&self, index: u64) -> bool {
        let r = self.stub.rollout("shop-prod", "search");
        r["status"]["currentStepIndex"].as_u64() == Some(index)
            && r["status"]["pauseConditions"]
                .as_array()
                .is_some_and(|p| !p.is_empty())
    }

    /// `step continue search --env prod --yes` as `who`.
    fn step(&self, who: &str) -> (i32, String) {
        let (code, out, err) = self.run(
            who,
            &["step", "continue", "search", "--env", "prod", "--yes"],
        );
        (code, format!("{out}{err}"))
    }
}

/// Waits for `child` (at most 3 minutes): exit code, report, all its text.
fn finish(s: &Stage, child: Child) -> (i32, Value, String) {
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let text = format!(
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        text,
    )
}

/// Waits for `ok`, failing with the promotion's own words if it ended.
fn wait_while_running(s: &Stage, child: &mut Child, what: &str, ok: impl Fn(&Stage) -> bool) {
    let start = Instant::now();
    while !ok(s) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the promotion ended ({status}) before {what}\n{}", s.log());
        }
        assert!(
            start.elapsed() < Duration::from_mins(1),
            "timed out waiting for {what}\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The promotion is one commit by alice changing the one value, every other
/// byte identical, comments included; the watch follows it through Argo
/// CD's sync and the Rollout's steps; each pause refuses alice and is
/// continued by bob with the two patches `kubectl argo rollouts promote`
/// sends; the promotion succeeds on the new digest.
#[test]
fn a_promotion_is_one_commit_followed_through_sync_steps_and_pauses_decided_by_a_second_person() {
    let s = stage(PROD);
    let head = git(&s.bare, &["rev-parse", "main"]);
    s.stub.clear_requests();
    let mut child = s.promote();
    wait_while_running(&s, &mut child, "the first pause (20 %)", |st| {
        st.paused_at(1)
    });

    // One commit, by alice, naming the promotion and the digest.
    let commits = git(&s.bare, &["rev-list", &format!("{head}..main")]);
    assert_eq!(commits.lines().count(), 1, "{commits}");
    let author = git(&s.bare, &["log", "-1", "--format=%an <%ae>", "main"]);
    assert!(author.starts_with("alice <"), "{author}");
    let message = git(&s.bare, &["log", "-1", "--format=%B", "main"]);
    assert!(
        message.starts_with("shipdeck: promote search to"),
        "{message}"
    );
    assert!(message.contains(&format!("Digest: {NEW}")), "{message}");
    assert!(message.contains("Promotion: "), "{message}");
    assert_eq!(
        s.file_at("main"),
        kustomization("prod", NEW),
        "only the value changed"
    );
    let changed = git(&s.bare, &["diff", "--name-only", &head, "main"]);
    assert_eq!(changed, FILE);
    // Argo CD synced that commit.
    let commit = git(&s.bare, &["rev-parse", "main"]);
    let app = s.stub.application("argocd", "search-prod");
    assert_eq!(app["status"]["sync"]["revision"], commit.as_str(), "{app}");

    // The initiator cannot continue their own promotion.
    let (code, said) = s.step("alice");
    assert_ne!(code, 0, "{said}");
    assert!(said.contains("four eyes"), "{said}");
    assert!(s.paused_at(1), "a refused decision changed nothing");

    let (code, said) = s.step("bob");
    assert_eq!(code, 0, "{said}");
    let patches: Vec<(String, String, String)> = s
        .stub
        .requests()
        .iter()
        .filter(|r| {
            r["method"] == "PATCH" && r["path"].as_str().unwrap_or("").contains("/rollouts/")
        })
        .map(|r| {
            (
                r["path"].as_str().unwrap_or("").to_string(),
                r["content_type"].as_str().unwrap_or("").to_string(),
                r["body"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let base = "/apis/argoproj.io/v1alpha1/namespaces/shop-prod/rollouts/search";
    assert_eq!(patches.len(), 2, "{patches:?}");
    assert_eq!(patches[0].0, format!("{base}/status"), "{patches:?}");
    assert_eq!(patches[0].1, "application/merge-patch+json");
    let body: Value = serde_json::from_str(&patches[0].2).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": {"pauseConditions": null}})
    );
    assert_eq!(patches[1].0, base, "{patches:?}");
    let body: Value = serde_json::from_str(&patches[1].2).unwrap();
    assert_eq!(body, serde_json::json!({"spec": {"paused": false}}));

    wait_while_running(&s, &mut child, "the second pause (50 %)", |st| {
        st.paused_at(3)
    });
    let (code, said) = s.step("bob");
    assert_eq!(code, 0, "{said}");

    let (code, report, text) = finish(&s, child);
    assert_eq!(code, 0, "{text}");
    assert_eq!(report["outcome"], "succeeded", "{text}");
    assert!(s.settled_on("shop-prod", NEW), "{text}");
}

/// Makes the bare repository take `concurrent` (a commit pushed to the
/// side branch `concurrent`, a child of main) as main's head the first time
/// a push arrives, and reject that push: another commit landed between
/// shipdeck's fetch and its push.
fn race_with(s: &Stage) {
    let hook = s.bare.join("hooks/pre-receive");
    let marker = s.dir.path().join("raced");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\ncat >/dev/null\nif [ ! -e '{m}' ]; then\n  touch '{m}'\n  env -u GIT_QUARANTINE_PATH git update-ref refs/heads/main refs/heads/concurrent || exit 2\n  echo 'main moved meanwhile' >&2\n  exit 1\nfi\nexit 0\n",
            m = marker.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&hook)
        .status()
        .unwrap();
}

/// A commit on the side branch `concurrent` by `who`, writing `file`.
fn concurrent_commit(s: &Stage, who: &str, file: &str, text: &str) {
    std::fs::write(s.seed.join(file), text).unwrap();
    let out = std::process::Command::new("git")
        .current_dir(&s.seed)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args([
            "-c",
            &format!("user.name={who}"),
            "-c",
            &format!("user.email={}@example.com", who.to_lowercase()),
        ])
        .args(["commit", "-q", "-a", "-m", &format!("{who}'s change")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    git(
        &s.seed,
        &["push", "-q", "origin", "HEAD:refs/heads/concurrent"],
    );
}

/// Another commit lands between shipdeck's fetch and its push, and the push
/// is rejected: one that left the value alone is rebased onto once and the
/// promotion goes on; one that changed the value stops it, naming its
/// author, with nothing pushed.
#[test]
fn a_concurrent_commit_is_rebased_onto_when_it_left_the_value_alone_and_refused_when_it_changed_it()
{
    let s = stage(PROD);
    std::fs::write(s.seed.join("README.md"), "deploy repo\n").unwrap();
    git(&s.seed, &["add", "README.md"]);
    git(&s.seed, &["commit", "-q", "-m", "readme"]);
    git(&s.seed, &["push", "-q", "origin", "main"]);
    concurrent_commit(&s, "Dave", "README.md", "deploy repo, with notes\n");
    race_with(&s);
    let mut child = s.promote();
    wait_while_running(&s, &mut child, "the first pause", |st| st.paused_at(1));
    let log = git(&s.bare, &["log", "--format=%an %s", "main"]);
    let mut lines = log.lines();
    assert!(
        lines
            .next()
            .unwrap_or("")
            .starts_with("alice shipdeck: promote"),
        "{log}"
    );
    assert_eq!(
        lines.next(),
        Some("Dave Dave's change"),
        "rebased onto Dave's: {log}"
    );
    assert_eq!(s.file_at("main"), kustomization("prod", NEW));
    let _ = child.kill();
    let _ = child.wait();

    // Carol pins another digest meanwhile: refused, naming her.
    let s = stage(PROD);
    let third = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
    concurrent_commit(&s, "Carol", FILE, &kustomization("prod", third));
    race_with(&s);
    let child = s.promote();
    let (code, _, text) = finish(&s, child);
    assert_ne!(code, 0, "{text}");
    let head = git(&s.bare, &["rev-parse", "main"]);
    let concurrent = git(&s.bare, &["rev-parse", "concurrent"]);
    assert_eq!(head, concurrent, "only Carol's commit is on main: {text}");
    assert!(text.contains("Carol"), "names who changed it: {text}");
    assert!(text.contains("nothing was"), "{text}");
    let _ = OLD;
}

/// Prometheus — a real one — shows a 5xx ratio above the rule at 50 %:
/// the watch aborts the Rollout (all traffic back to stable at once, the
/// patch `kubectl argo rollouts abort` sends), pushes a revert commit so
/// Argo CD keeps the stable digest, and the stable version serves.
#[test]
fn a_5xx_ratio_in_prometheus_at_50_percent_aborts_the_rollout_and_a_revert_commit_restores_stable()
{
    use crate::signals::servers;
    if servers::skip_without(&["prometheus", "python3"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exporter = servers::Exporter::start();
    let prom = servers::Prometheus::start(dir.path(), &exporter, None);
    servers::wait_for("the 5xx ratio in Prometheus", servers::FIRST_ANSWER, || {
        servers::instant(prom.port, servers::RATIO)
    });
    let extra = format!(
        "{PROD}[[environment.rollout.rule]]\nname = \"5xx ratio\"\nmetric = \"5xx %\"\nabove = 5.0\nfor = \"1m\"\n\
         [environment.prometheus]\nurl = \"{}\"\n",
        prom.url()
    );
    let s = stage(&extra);
    let config = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        format!(
            "{config}[[environment.service.metric]]\nlabel = \"5xx %\"\nrole = \"error_rate\"\npromql = '{}'\n",
            servers::RATIO
        ),
    )
    .unwrap();
    let mut child = s.promote();
    wait_while_running(&s, &mut child, "the first pause (20 %)", |st| {
        st.paused_at(1)
    });
    let (code, said) = s.step("bob");
    assert_eq!(code, 0, "{said}");
    wait_while_running(&s, &mut child, "the second pause (50 %)", |st| {
        st.paused_at(3)
    });
    s.stub.clear_requests();
    exporter.set_requests(50, 50);
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_mins(3),
            "promote --wait hung\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, report, text) = finish(&s, child);
    assert_ne!(code, 0, "{text}");
    assert_eq!(report["outcome"], "rolled_back", "{text}");
    assert!(
        report["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("5xx ratio"),
        "{text}"
    );
    // The abort came first: the status patch kubectl argo rollouts abort sends.
    let abort = s.stub.requests().into_iter().find(|r| {
        r["method"] == "PATCH"
            && r["path"]
                .as_str()
                .unwrap_or("")
                .ends_with("/rollouts/search/status")
    });
    let abort = abort.unwrap_or_else(|| panic!("no abort patch\n{text}"));
    let body: Value = serde_json::from_str(abort["body"].as_str().unwrap_or("")).unwrap();
    assert_eq!(body, serde_json::json!({"status": {"abort": true}}));
    // Then the revert commit, with the stable digest back in the file.
    let subject = git(&s.bare, &["log", "-1", "--format=%s", "main"]);
    assert!(
        subject.starts_with("shipdeck: roll back search in prod"),
        "{subject}"
    );
    assert_eq!(s.file_at("main"), kustomization("prod", OLD));
    s.wait_for("prod Healthy on the stable digest", |st| {
        st.settled_on("shop-prod", OLD)
    });
    // Both are in the ledger: the promotion's commit on its abort, the
    // revert's commit on the rollback's success.
    let revert = git(&s.bare, &["rev-parse", "main"]);
    let promoted = git(&s.bare, &["rev-parse", "main~1"]);
    let records = s.records();
    let by_kind = |k: &str| {
        records
            .iter()
            .find(|r| r["kind"] == k)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        by_kind("aborted")["change"],
        promoted.as_str(),
        "{records:?}"
    );
    assert_eq!(
        by_kind("rollback_succeeded")["change"],
        revert.as_str(),
        "{records:?}"
    );
}

/// `shipdeck rollback` after a finished promotion: a commit restores the
/// digest prod ran before, and once Argo CD applied it the canary's steps
/// are skipped (`promoteFull`, as `kubectl argo rollouts promote --full`):
/// nobody has to continue a rollback's pauses.
#[test]
fn a_rollback_after_a_promotion_is_a_revert_commit_whose_canary_steps_are_skipped() {
    let s = stage(PROD);
    let mut child = s.promote();
    wait_while_running(&s, &mut child, "the first pause", |st| st.paused_at(1));
    assert_eq!(s.step("bob").0, 0);
    wait_while_running(&s, &mut child, "the second pause", |st| st.paused_at(3));
    assert_eq!(s.step("bob").0, 0);
    let (code, _, text) = finish(&s, child);
    assert_eq!(code, 0, "{text}");
    s.stub.clear_requests();
    let (code, out, err) = s.run(
        "alice",
        &[
            "rollback", "search", "--env", "prod", "--yes", "--wait", "--json",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}\n{}", s.log());
    let subject = git(&s.bare, &["log", "-1", "--format=%s", "main"]);
    assert!(
        subject.starts_with("shipdeck: roll back search in prod"),
        "{subject}"
    );
    assert_eq!(s.file_at("main"), kustomization("prod", OLD));
    let full = s.stub.requests().into_iter().any(|r| {
        r["method"] == "PATCH"
            && r["path"]
                .as_str()
                .unwrap_or("")
                .ends_with("/rollouts/search/status")
            && r["body"].as_str().unwrap_or("").contains("promoteFull")
    });
    assert!(
        full,
        "the canary's steps were skipped: {:?}",
        s.stub.requests()
    );
    assert!(s.settled_on("shop-prod", OLD), "{out}");
}
