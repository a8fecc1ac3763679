//! The demo's notifications canary into prod through the real binary, as
//! several suites start it: alice asks with a change record, bob and carol
//! approve, alice's second `promote` issues it. Its first step then pauses
//! at 10 % for someone other than alice to decide.

use std::process::Output;

/// alice's promote: the canary into prod, two ticks of reading.
pub const PROMOTE: [&str; 12] = [
    "promote",
    "notifications",
    "--to",
    "prod",
    "--demo",
    "--change",
    "CHG-1234",
    "--tick",
    "1",
    "--tick",
    "2",
    "--yes",
];

/// Starts the canary with `run(who, args)`, the binary as `who` on the
/// caller's data directory: each approval and the issuing promote exit 0.
/// Returns bob's and carol's approval outputs.
pub fn start(run: impl Fn(&str, &[&str]) -> Output) -> Vec<Output> {
    let asked = String::from_utf8_lossy(&run("alice", &PROMOTE).stderr).into_owned();
    let id = asked
        .split("shipdeck approve --demo ")
        .nth(1)
        .and_then(|t| t.split('`').next())
        .unwrap_or_else(|| panic!("no promotion id: {asked}"))
        .to_string();
    let mut approvals = Vec::new();
    for who in ["bob", "carol"] {
        let out = run(who, &["approve", "--demo", &id, "--yes"]);
        assert_eq!(out.status.code(), Some(0), "{who}: {out:?}");
        approvals.push(out);
    }
    let out = run("alice", &PROMOTE);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    approvals
}
