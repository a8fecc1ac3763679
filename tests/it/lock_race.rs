//! Two processes race for the same lock many times; exactly one wins each time.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "SHIPDECK_TEST_LOCK_CHILD";

/// Child: waits for the go file, tries the lock, prints WON/LOST, holds a winner briefly.
#[test]
fn lock_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dir.join("go").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    match shipdeck::lock::acquire(
        &dir.join("locks"),
        "prod",
        "api",
        "racer",
        "promotion",
        chrono::Utc::now(),
    ) {
        Ok(guard) => {
            println!("WON");
            std::thread::sleep(Duration::from_millis(300));
            drop(guard);
        }
        Err(e) => println!("LOST {e}"),
    }
}

#[test]
fn exactly_one_of_two_processes_wins_each_round() {
    let exe = std::env::current_exe().unwrap();
    for round in 0..15 {
        let dir = tempfile::tempdir().unwrap();
        let children: Vec<_> = (0..2)
            .map(|_| {
                Command::new(&exe)
                    .args([
                        "--exact",
                        "lock_race::lock_child",
                        "--nocapture",
                        "--test-threads",
                        "1",
                    ])
                    .env(CHILD_ENV, dir.path())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        std::thread::sleep(Duration::from_millis(150));
        std::fs::write(dir.path().join("go"), "").unwrap();
        let outputs: Vec<String> = children
            .into_iter()
            .map(|c| String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap())
            .collect();
        let won = outputs.iter().filter(|o| o.contains("WON")).count();
        let lost: Vec<&String> = outputs.iter().filter(|o| o.contains("LOST")).collect();
        assert_eq!(won, 1, "round {round}: {outputs:?}");
        assert_eq!(lost.len(), 1, "round {round}: {outputs:?}");
        assert!(
            lost[0].contains("locked by racer (pid "),
            "the loser is told who holds it: {}",
            lost[0]
        );
    }
}
