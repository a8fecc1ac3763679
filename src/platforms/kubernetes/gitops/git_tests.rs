//! With the real `git`, in temporary directories, under a home and a global
//! configuration of their own (no identity: shipdeck's commits must work on
//! a machine without one).

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use super::*;
use crate::config::kubernetes::HelmValue;
use crate::platforms::kubernetes::gitops::EditError;

const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const OTHER: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

const KUSTOMIZATION: &str = "# prod overlay\r\napiVersion: kustomize.config.k8s.io/v1beta1\r\nkind: Kustomization\r\n\r\nresources:\r\n  - ../../base # shared\r\n\r\nimages:\r\n  # the web tier\r\n  - name: ghcr.io/acme/web\r\n    newTag: v3\r\n\r\n  # the api, pinned by shipdeck\r\n  - name: ghcr.io/acme/api   # ours\r\n    newName: ghcr.io/acme/api\r\n    digest: \"sha256:1111111111111111111111111111111111111111111111111111111111111111\"  # do not edit by hand\r\n    # after\r\n";

const VALUES: &str = "# Helm values\nreplicaCount: 3\n\nimage:\n  repository: ghcr.io/acme/api\n  # set by shipdeck\n  digest: sha256:1111111111111111111111111111111111111111111111111111111111111111\n  pullPolicy: IfNotPresent\nresources: {}";

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    bare: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        std::fs::create_dir_all(root.join("home")).unwrap();
        std::fs::write(root.join("gitconfig"), "").unwrap();
        let bare = root.join("remote.git");
        let f = Self {
            _tmp: tmp,
            root,
            bare,
        };
        f.git(
            &f.root,
            &[
                "init",
                "--quiet",
                "--bare",
                "--initial-branch=main",
                "remote.git",
            ],
        );
        let seed = f.root.join("seed");
        f.git(&f.root, &["clone", "--quiet", "remote.git", "seed"]);
        std::fs::create_dir_all(seed.join("apps/api")).unwrap();
        std::fs::write(seed.join("apps/api/kustomization.yaml"), KUSTOMIZATION).unwrap();
        std::fs::write(seed.join("values.yaml"), VALUES).unwrap();
        f.git(&seed, &["symbolic-ref", "HEAD", "refs/heads/main"]);
        f.git(&seed, &["add", "."]);
        f.as_other(
            &seed,
            &["commit", "--quiet", "-m", "seed"],
            "Seed",
            "seed@example.com",
        );
        f.git(&seed, &["push", "--quiet", "origin", "main"]);
        f
    }

    fn env(&self, cmd: &mut StdCommand) {
        cmd.env("HOME", self.root.join("home"))
            .env("XDG_CONFIG_HOME", self.root.join("home"))
            .env("GIT_CONFIG_GLOBAL", self.root.join("gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_AUTHOR_NAME")
            .env_remove("GIT_AUTHOR_EMAIL")
            .env_remove("GIT_COMMITTER_NAME")
            .env_remove("GIT_COMMITTER_EMAIL")
            .env_remove("EMAIL");
    }

    fn git(&self, cwd: &Path, args: &[&str]) -> String {
        let mut cmd = StdCommand::new("git");
        cmd.args(args).current_dir(cwd);
        self.env(&mut cmd);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn as_other(&self, cwd: &Path, args: &[&str], name: &str, email: &str) -> String {
        let mut all = vec!["-c".to_string(), format!("user.name={name}")];
        all.push("-c".to_string());
        all.push(format!("user.email={email}"));
        all.extend(args.iter().map(ToString::to_string));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        self.git(cwd, &all)
    }

    fn bare_git(&self, args: &[&str]) -> String {
        self.git(&self.bare, args)
    }

    fn head(&self) -> String {
        self.bare_git(&["rev-parse", "main"]).trim().to_string()
    }

    fn count(&self) -> usize {
        self.bare_git(&["rev-list", "--count", "main"])
            .trim()
            .parse()
            .unwrap()
    }

    fn checkout(&self, name: &str) -> Checkout {
        let repo = GitRepoConfig {
            url: self.bare.display().to_string(),
            branch: "main".to_string(),
            refresh: false,
        };
        Checkout::new(self.root.join("cache").join(name), &repo)
            .with_timeout(Duration::from_secs(30))
            .with_env("HOME", self.root.join("home"))
            .with_env("XDG_CONFIG_HOME", self.root.join("home"))
            .with_env("GIT_CONFIG_GLOBAL", self.root.join("gitconfig"))
            .with_env("GIT_CONFIG_NOSYSTEM", "1")
    }

    /// Another person's clone, with a commit made but not yet pushed.
    fn other_commit(&self, file: &str, from: &str, to: &str) -> PathBuf {
        let other = self.root.join("other");
        self.git(&self.root, &["clone", "--quiet", "remote.git", "other"]);
        let path = other.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from));
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        self.as_other(
            &other,
            &["commit", "--quiet", "-am", "their change"],
            "Olga Other",
            "olga@example.com",
        );
        other
    }

    /// A pre-push hook in the checkout that pushes the other clone first
    /// (`once`: then removes itself; else commits again and pushes every time).
    fn race(checkout: &Checkout, other: &Path, once: bool) {
        let hook = checkout.dir().join(".git/hooks/pre-push");
        let other = other.display();
        let script = if once {
            format!(
                "#!/bin/sh\nrm -f \"$0\"\nunset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE\ngit -C '{other}' push --quiet origin HEAD:main >&2\n"
            )
        } else {
            format!(
                "#!/bin/sh\nunset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE\ngit -C '{other}' -c user.name=Olga -c user.email=olga@example.com commit --quiet --allow-empty -m again >&2\ngit -C '{other}' push --quiet origin HEAD:main >&2\n"
            )
        };
        std::fs::write(&hook, script).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
}

fn kustomize() -> ImageSetting {
    ImageSetting::Kustomize {
        file: "apps/api/kustomization.yaml".to_string(),
        image: "ghcr.io/acme/api".to_string(),
    }
}

fn helm() -> ImageSetting {
    ImageSetting::Helm {
        file: "values.yaml".to_string(),
        path: vec!["image".to_string(), "digest".to_string()],
        value: HelmValue::Digest,
    }
}

fn request(setting: ImageSetting, value: &str) -> CommitRequest {
    CommitRequest {
        setting,
        value: value.to_string(),
        message: "Promote api to staging's digest\n\nBy shipdeck.".to_string(),
        author: Author {
            name: "Ada Lovelace".to_string(),
            email: "ada@example.com".to_string(),
        },
    }
}

fn committed(p: Promotion) -> Committed {
    match p {
        Promotion::Committed(c) => c,
        other @ Promotion::AlreadySet { .. } => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_promotion_is_one_commit_changing_one_value() {
    let f = Fixture::new();
    let seed = f.head();
    let c = f.checkout("prod");
    let done = committed(c.commit_value(&request(kustomize(), NEW)).await.unwrap());
    assert_eq!(done.parent, seed);
    assert_eq!(done.before.as_deref(), Some(OLD));
    assert!(!done.rebased);
    assert_eq!(f.head(), done.commit);
    assert_eq!(f.count(), 2);
    let meta = f.bare_git(&["log", "-1", "--format=%an <%ae>%n%cn <%ce>%n%B", "main"]);
    assert_eq!(
        meta.trim_end(),
        "Ada Lovelace <ada@example.com>\nAda Lovelace <ada@example.com>\nPromote api to staging's digest\n\nBy shipdeck."
    );
    let files = f.bare_git(&["show", "--name-only", "--format=", "main"]);
    assert_eq!(files.trim(), "apps/api/kustomization.yaml");
    // Every byte but the value's, CRLF, quotes and comments included.
    let shown = f.bare_git(&["show", "main:apps/api/kustomization.yaml"]);
    assert_eq!(shown, KUSTOMIZATION.replace(OLD, NEW));
    assert_eq!(
        f.bare_git(&["show", "main:values.yaml"]),
        VALUES,
        "untouched"
    );
    // Read back through a checkout of its own.
    let fresh = f.checkout("fresh");
    assert_eq!(
        fresh.value(&kustomize()).await.unwrap().as_deref(),
        Some(NEW)
    );
}

#[tokio::test]
async fn a_helm_value_is_committed_and_the_same_value_twice_commits_nothing() {
    let f = Fixture::new();
    let c = f.checkout("prod");
    let done = committed(c.commit_value(&request(helm(), NEW)).await.unwrap());
    assert_eq!(done.before.as_deref(), Some(OLD));
    assert_eq!(
        f.bare_git(&["show", "main:values.yaml"]),
        VALUES.replace(OLD, NEW)
    );
    assert_eq!(f.count(), 2);
    let again = c.commit_value(&request(helm(), NEW)).await.unwrap();
    assert_eq!(
        again,
        Promotion::AlreadySet {
            commit: done.commit.clone()
        }
    );
    assert_eq!(f.count(), 2, "nothing committed");
    assert_eq!(f.head(), done.commit);
}

#[tokio::test]
async fn a_commit_pushed_meanwhile_that_left_the_value_is_rebased_onto() {
    let f = Fixture::new();
    let c = f.checkout("prod");
    c.sync().await.unwrap();
    // Theirs changes another line of the same file.
    let other = f.other_commit("apps/api/kustomization.yaml", "newTag: v3", "newTag: v4");
    Fixture::race(&c, &other, true);
    let done = committed(c.commit_value(&request(kustomize(), NEW)).await.unwrap());
    assert!(done.rebased);
    assert_eq!(f.count(), 3, "both commits on the branch");
    assert_eq!(f.head(), done.commit);
    let theirs = f.bare_git(&["rev-parse", "main^"]);
    assert_eq!(done.parent, theirs.trim());
    assert_eq!(
        f.bare_git(&["log", "-1", "--format=%an", "main^"]).trim(),
        "Olga Other"
    );
    assert_eq!(
        f.bare_git(&["show", "main:apps/api/kustomization.yaml"]),
        KUSTOMIZATION
            .replace(OLD, NEW)
            .replace("newTag: v3", "newTag: v4")
    );
}

#[tokio::test]
async fn a_commit_pushed_meanwhile_that_changed_the_value_stops_the_promotion() {
    let f = Fixture::new();
    let c = f.checkout("prod");
    c.sync().await.unwrap();
    let other = f.other_commit("values.yaml", OLD, OTHER);
    Fixture::race(&c, &other, true);
    let err = c.commit_value(&request(helm(), NEW)).await.unwrap_err();
    let theirs = f.head();
    assert_eq!(
        err,
        GitOpsError::Changed {
            by: "Olga Other <olga@example.com>".to_string(),
            commit: theirs.clone(),
            value: Some(OTHER.to_string()),
            file: "values.yaml".to_string(),
            branch: "main".to_string(),
        }
    );
    assert!(err.to_string().contains("nothing was pushed"), "{err}");
    assert_eq!(f.count(), 2, "theirs only");
    assert_eq!(
        f.bare_git(&["show", "main:values.yaml"]),
        VALUES.replace(OLD, OTHER)
    );
    // Nothing of ours lingers in the checkout.
    let local = f.git(c.dir(), &["rev-parse", "HEAD"]);
    assert_eq!(local.trim(), theirs);
    assert_eq!(f.git(c.dir(), &["status", "--porcelain"]), "");
}

#[tokio::test]
async fn a_second_rejection_stops_and_pushes_nothing_of_ours() {
    let f = Fixture::new();
    let c = f.checkout("prod");
    c.sync().await.unwrap();
    let other = f.other_commit("values.yaml", "replicaCount: 3", "replicaCount: 4");
    Fixture::race(&c, &other, false);
    let err = c.commit_value(&request(helm(), NEW)).await.unwrap_err();
    assert_eq!(
        err,
        GitOpsError::RejectedTwice {
            branch: "main".to_string()
        }
    );
    assert_eq!(f.count(), 4, "the seed and the other's three commits");
    let authors = f.bare_git(&["log", "--format=%an", "main"]);
    assert!(!authors.contains("Ada"), "{authors}");
    assert_eq!(f.git(c.dir(), &["status", "--porcelain"]), "");
    assert_eq!(f.git(c.dir(), &["rev-parse", "HEAD"]).trim(), f.head());
}

#[tokio::test]
async fn an_unreachable_repository_is_a_clear_error() {
    let f = Fixture::new();
    let repo = GitRepoConfig {
        url: f.root.join("nowhere.git").display().to_string(),
        branch: "main".to_string(),
        refresh: false,
    };
    let c = Checkout::new(f.root.join("cache/x"), &repo)
        .with_env("HOME", f.root.join("home"))
        .with_env("GIT_CONFIG_GLOBAL", f.root.join("gitconfig"))
        .with_env("GIT_CONFIG_NOSYSTEM", "1");
    let err = c.commit_value(&request(helm(), NEW)).await.unwrap_err();
    assert!(
        matches!(&err, GitOpsError::Failed { what: "clone the GitOps repository", code: Some(128), stderr } if stderr.contains("nowhere.git")),
        "{err:?}"
    );
    // A missing branch too.
    let mut c = f.checkout("y");
    c.branch = "release".to_string();
    let err = c.sync().await.unwrap_err();
    assert!(
        matches!(&err, GitOpsError::Failed { what: "clone the GitOps repository", stderr, .. } if stderr.contains("release")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_remote_that_never_answers_is_stopped_at_the_deadline() {
    let f = Fixture::new();
    // Accepts (through the backlog) and never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let repo = GitRepoConfig {
        url: format!("git://127.0.0.1:{port}/repo.git"),
        branch: "main".to_string(),
        refresh: false,
    };
    let c = Checkout::new(f.root.join("cache/hung"), &repo)
        .with_timeout(Duration::from_secs(2))
        .with_env("HOME", f.root.join("home"))
        .with_env("GIT_CONFIG_GLOBAL", f.root.join("gitconfig"))
        .with_env("GIT_CONFIG_NOSYSTEM", "1");
    let started = Instant::now();
    let err = c.sync().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        err,
        GitOpsError::Timeout {
            what: "clone the GitOps repository",
            after: Duration::from_secs(2),
        }
    );
    assert!(err.to_string().contains("within 2s"), "{err}");
    drop(listener);
}

#[tokio::test]
async fn a_held_checkout_is_refused_and_released() {
    let f = Fixture::new();
    let c = f.checkout("prod");
    let held = c.try_lock().unwrap();
    let err = c.sync().await.unwrap_err();
    assert!(matches!(err, GitOpsError::Locked { .. }), "{err:?}");
    drop(held);
    c.sync().await.unwrap();
}

#[tokio::test]
async fn failures_before_any_commit_leave_nothing() {
    let f = Fixture::new();
    let c = f.checkout("prod").with_program(f.root.join("no-git-here"));
    let err = c.sync().await.unwrap_err();
    assert!(matches!(err, GitOpsError::GitMissing { .. }), "{err:?}");

    let c = f.checkout("prod");
    let missing = ImageSetting::Helm {
        file: "values.yaml".to_string(),
        path: vec!["image".to_string(), "tag".to_string()],
        value: HelmValue::Digest,
    };
    let err = c.commit_value(&request(missing, NEW)).await.unwrap_err();
    assert!(
        matches!(err, GitOpsError::Edit(EditError::Missing { .. })),
        "{err:?}"
    );
    let gone = ImageSetting::Kustomize {
        file: "apps/web/kustomization.yaml".to_string(),
        image: "web".to_string(),
    };
    let err = c.commit_value(&request(gone, NEW)).await.unwrap_err();
    assert!(matches!(err, GitOpsError::FileMissing { .. }), "{err:?}");
    let outside = ImageSetting::Kustomize {
        file: "../remote.git/config".to_string(),
        image: "web".to_string(),
    };
    let err = c.commit_value(&request(outside, NEW)).await.unwrap_err();
    assert!(matches!(err, GitOpsError::BadRequest { .. }), "{err:?}");
    // Local leftovers from before are wiped by the next sync.
    std::fs::write(c.dir().join("stray.txt"), "x").unwrap();
    std::fs::write(c.dir().join("values.yaml"), "edited").unwrap();
    c.sync().await.unwrap();
    assert_eq!(f.git(c.dir(), &["status", "--porcelain", "--ignored"]), "");
    assert_eq!(f.count(), 1, "nothing pushed");
}

#[test]
fn a_password_in_the_url_is_never_shown() {
    let repo = GitRepoConfig {
        url: "https://deploy:s3cr3t@git.example.com/acme/gitops.git".to_string(),
        branch: "main".to_string(),
        refresh: false,
    };
    let c = Checkout::new("/tmp/x", &repo);
    let debug = format!("{c:?}");
    assert!(!debug.contains("s3cr3t"), "{debug}");
    assert!(debug.contains("git.example.com"), "{debug}");
    let shown = c.shown(
        "fatal: unable to access 'https://deploy:s3cr3t@git.example.com/acme/gitops.git/':\n\x1b[31mCould not resolve host\x1b[0m",
    );
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(!shown.contains('\x1b') && !shown.contains('\n'), "{shown}");
    assert!(shown.contains("Could not resolve host"), "{shown}");
    let long = c.shown(&"x".repeat(10_000));
    assert_eq!(long.chars().count(), STDERR_SHOWN + 1);
}

#[test]
fn requests_are_checked_before_any_git() {
    assert!(relative("apps/api/kustomization.yaml").is_ok());
    for bad in ["", "/etc/passwd", "../x.yaml", "a/../../x", "a\\b"] {
        assert!(relative(bad).is_err(), "{bad}");
    }
    for bad in ["", "-x", "a..b", "a b", "a:b"] {
        assert!(check_branch(bad).is_err(), "{bad}");
    }
    let mut r = request(helm(), NEW);
    r.author.name = "Eve <evil@example.com>".to_string();
    assert!(matches!(
        check_request(&r),
        Err(GitOpsError::BadRequest { .. })
    ));
    let mut r = request(helm(), NEW);
    r.message = " \n".to_string();
    assert!(matches!(
        check_request(&r),
        Err(GitOpsError::BadRequest { .. })
    ));
}
