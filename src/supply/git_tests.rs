//! `on_branch` against real repositories made with the real `git`.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::Duration;

use super::*;

const T: Duration = Duration::from_secs(30);

fn git(dir: &Path, args: &[&str]) -> String {
    let out = StdCommand::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A repository with `main` (two commits) and `feature` (one more), and
/// the commits: (on main, only on feature).
fn repo(dir: &Path) -> (String, String) {
    git(dir, &["init", "--quiet", "-b", "main"]);
    std::fs::write(dir.join("a.txt"), "a").unwrap();
    git(dir, &["add", "a.txt"]);
    git(dir, &["commit", "--quiet", "-m", "one"]);
    git(dir, &["commit", "--quiet", "--allow-empty", "-m", "two"]);
    let on_main = git(dir, &["rev-parse", "HEAD"]);
    git(dir, &["checkout", "--quiet", "-b", "feature"]);
    git(dir, &["commit", "--quiet", "--allow-empty", "-m", "three"]);
    let on_feature = git(dir, &["rev-parse", "HEAD"]);
    git(dir, &["checkout", "--quiet", "main"]);
    (on_main, on_feature)
}

#[tokio::test]
async fn a_local_repository_is_asked_directly() {
    let tmp = tempfile::tempdir().unwrap();
    let (main, feature) = repo(tmp.path());
    let r = tmp.path().to_str().unwrap();
    let cache = tmp.path().join("cache");
    assert_eq!(on_branch(r, "main", &main, &cache, T, true).await, Ok(true));
    // Abbreviated commits work too.
    assert_eq!(
        on_branch(r, "main", &main[..10], &cache, T, true).await,
        Ok(true)
    );
    assert_eq!(
        on_branch(r, "main", &feature, &cache, T, true).await,
        Ok(false)
    );
    assert_eq!(
        on_branch(r, "feature", &main, &cache, T, true).await,
        Ok(true)
    );
    // A commit the repository never saw is not on the branch.
    let unknown = "0123456789abcdef0123456789abcdef01234567";
    assert_eq!(
        on_branch(r, "main", unknown, &cache, T, true).await,
        Ok(false)
    );
    assert_eq!(
        on_branch(r, "release", &main, &cache, T, true).await,
        Err(GitError::NoBranch("release".into()))
    );
    assert!(!cache.exists(), "a local repository needs no cache");
}

/// A repository made by [`repo`] in a fresh directory, and its `file://` URL.
fn origin() -> (tempfile::TempDir, PathBuf, String, (String, String)) {
    let tmp = tempfile::tempdir().unwrap();
    let origin = tmp.path().join("origin");
    std::fs::create_dir(&origin).unwrap();
    let commits = repo(&origin);
    let url = format!("file://{}", origin.display());
    (tmp, origin, url, commits)
}

#[tokio::test]
async fn a_url_is_fetched_into_a_bare_partial_clone() {
    let (tmp, origin, url, (main, feature)) = origin();
    let cache = tmp.path().join("cache");
    assert_eq!(
        on_branch(&url, "main", &main, &cache, T, true).await,
        Ok(true)
    );
    assert_eq!(
        on_branch(&url, "main", &feature, &cache, T, true).await,
        Ok(false)
    );
    let clones: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
    assert_eq!(clones.len(), 1, "one bare clone, no leftovers");
    // A commit pushed later is seen: the clone is fetched again.
    git(
        &origin,
        &["commit", "--quiet", "--allow-empty", "-m", "four"],
    );
    let later = git(&origin, &["rev-parse", "HEAD"]);
    assert_eq!(
        on_branch(&url, "main", &later, &cache, T, true).await,
        Ok(true)
    );
    let missing = on_branch(&url, "nope", &main, &cache, T, true).await;
    assert_eq!(missing, Err(GitError::NoBranch("nope".into())));
}

/// Questions asked together about one clone all get their answer (two
/// fetches into one clone would fail on git's ref locks); those that are
/// not rechecks share a fresh fetch, a recheck fetches again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn questions_at_once_share_one_clone_and_only_a_recheck_fetches_again() {
    let (tmp, origin, url, (main, feature)) = origin();
    let cache = tmp.path().join("cache");
    let asks = (0..6).map(|i| {
        let (url, cache) = (url.clone(), cache.clone());
        let commit = if i % 2 == 0 {
            main.clone()
        } else {
            feature.clone()
        };
        tokio::spawn(async move { on_branch(&url, "main", &commit, &cache, T, i % 3 == 0).await })
    });
    let answers: Vec<_> = futures::future::join_all(asks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        answers,
        vec![
            Ok(true),
            Ok(false),
            Ok(true),
            Ok(false),
            Ok(true),
            Ok(false)
        ]
    );
    git(
        &origin,
        &["commit", "--quiet", "--allow-empty", "-m", "four"],
    );
    let later = git(&origin, &["rev-parse", "HEAD"]);
    let fetch_head = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path().join("FETCH_HEAD"))
        .find(|p| p.exists())
        .unwrap();
    let fetched = || std::fs::metadata(&fetch_head).unwrap().modified().unwrap();
    let before = fetched();
    // Fetched a moment ago: a board's question about a commit the clone has
    // is answered from that fetch.
    assert_eq!(
        on_branch(&url, "main", &main, &cache, T, false).await,
        Ok(true)
    );
    assert_eq!(fetched(), before);
    // A commit the clone does not have is fetched for, recheck or not.
    assert_eq!(
        on_branch(&url, "main", &later, &cache, T, false).await,
        Ok(true)
    );
    let after = fetched();
    assert_ne!(after, before);
    // The gate's recheck fetches again.
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(
        on_branch(&url, "main", &main, &cache, T, true).await,
        Ok(true)
    );
    assert_ne!(fetched(), after);
}

#[tokio::test]
async fn bad_input_never_reaches_git() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().to_str().unwrap();
    for bad in [
        "--upload-pack=touch /tmp/x",
        "abc",
        "xyz1234",
        &"a".repeat(65),
    ] {
        assert!(
            matches!(
                on_branch(r, "main", bad, tmp.path(), T, true).await,
                Err(GitError::BadCommit(_))
            ),
            "{bad}"
        );
    }
    for bad in ["-main", "a..b", "a b", "x:y", ""] {
        assert!(
            matches!(
                on_branch(r, bad, "0123456", tmp.path(), T, true).await,
                Err(GitError::BadBranch(_))
            ),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn a_repository_that_is_not_one_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().to_str().unwrap();
    let e = on_branch(r, "main", "0123456", tmp.path(), T, true)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            GitError::Failed {
                what: "rev-parse",
                ..
            }
        ),
        "{e}"
    );
}

#[tokio::test]
async fn a_remote_that_never_answers_is_stopped_at_the_deadline() {
    // Accepts connections and never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in listener.incoming().take(4) {
            conns.push(c);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/shop.git");
    let started = std::time::Instant::now();
    let e = on_branch(
        &url,
        "main",
        "0123456",
        tmp.path(),
        Duration::from_secs(1),
        true,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, GitError::Timeout { what: "clone", .. }), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(e.to_string(), "git clone did not finish within 1s");
    // Nothing half-cloned is left behind.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    let e = on_branch(&url, "main", "0123456", tmp.path(), Duration::ZERO, true)
        .await
        .unwrap_err();
    assert!(matches!(e, GitError::Timeout { .. }), "{e}");
}

#[test]
fn urls_and_paths_are_told_apart() {
    assert!(is_url("https://github.com/acme/shop.git"));
    assert!(is_url("git@github.com:acme/shop.git"));
    assert!(is_url("ssh://git@host/shop"));
    assert!(!is_url("/srv/git/shop.git"));
    assert!(!is_url("repos/shop"));
    assert!(!is_url("C:/repos/shop"));
    assert!(!is_url("./a:b/c"));
}
