//! The console follows the ledger incrementally: with 100,000 records and the
//! wizard open, each poll reads only the bytes appended since the last one
//! (shown by the executor's byte counter, not by timing).

use shipdeck::ledger::{Draft, RecordKind};

use crate::support::console::{Harness, monday};

#[tokio::test]
async fn each_poll_reads_only_the_new_bytes_of_a_large_ledger() {
    let mut h = Harness::new("alice", monday()).await;
    let history: Vec<(RecordKind, Draft)> = (0..100_000)
        .map(|i| {
            (
                RecordKind::LockBroken,
                Draft {
                    operator: "ops".into(),
                    env: Some("dev".into()),
                    service: Some(format!("old-{i}")),
                    ..Draft::default()
                },
            )
        })
        .collect();
    h.ledger.append_batch(history, monday()).unwrap();
    let path = h.ledger.path().to_path_buf();
    let size = || std::fs::metadata(&path).unwrap().len();
    let full = size();

    // Opening the wizard reads the ledger: all of it, once. The wizard's own
    // request record follows at the next poll.
    h.select("api", "prod");
    h.keys("p").await;
    assert_eq!(
        h.exec.ledger_bytes_read(),
        full,
        "the first read reads the file once"
    );
    h.tick(3).await;
    let after_open = h.exec.ledger_bytes_read();
    assert_eq!(after_open, size(), "every byte read exactly once");

    // The wizard keeps polling (every 2 s); nothing new, nothing read.
    h.tick(7).await;
    assert_eq!(h.exec.ledger_bytes_read(), after_open);

    // An approval from another terminal: the next poll reads exactly its line.
    let before = size();
    h.approve("bob");
    let grown = size() - before;
    assert!(grown > 0 && grown < 2048, "one line: {grown} bytes");
    h.tick(3).await;
    assert_eq!(h.exec.ledger_bytes_read(), after_open + grown);
    let approvals = h.check("approvals");
    assert!(approvals.reason.contains("bob"), "{approvals:?}");
    assert_eq!(
        h.app.records.len(),
        100_002,
        "request + approval after the history"
    );
}
