//! Team mode under faults and races: a table that accepts connections and
//! never answers (every command errs within its deadline), a cut tail or a
//! rewritten head (nothing is appended, nothing issued), three approvals by
//! one person at once and two people continuing one step at once (the
//! table's write decides: one record).

use std::io::Read as _;
use std::sync::Arc;

use shipdeck::approvals;
use shipdeck::ledger::LedgerError;
use shipdeck::provider::Provider as _;
use shipdeck::release::exec::{Executor, Issue};

use crate::support::stepping;

use super::*;

/// An endpoint that accepts every connection and never answers a byte.
fn silent_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    url
}

/// Runs `c` to its end, or kills it after `limit`: its exit code (`None`
/// when killed), what it printed, and how long it ran.
fn run_for(mut c: std::process::Command, limit: Duration) -> (Option<i32>, String, Duration) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    let start = Instant::now();
    let mut child = c
        .stdout(out.reopen().unwrap())
        .stderr(err.reopen().unwrap())
        .spawn()
        .unwrap();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let elapsed = start.elapsed();
    let mut text = String::new();
    for mut f in [out.reopen().unwrap(), err.reopen().unwrap()] {
        f.read_to_string(&mut text).unwrap();
    }
    (code, text, elapsed)
}

#[test]
fn a_table_that_accepts_and_never_answers_is_an_error_within_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file_at(dir.path(), &silent_endpoint(), "silent");
    let commands: [&[&str]; 7] = [
        &["promote", "api", "--to", "staging", "--yes"],
        &["audit"],
        &["audit", "verify"],
        &["approvals"],
        &["approve", "ABCDEF", "--yes"],
        &["unlock", "--env", "staging", "--service", "api", "--yes"],
        &["team", "check"],
    ];
    // Generous for CI; a command with no deadline runs until it is killed.
    let bound = Duration::from_mins(1);
    let runs: Vec<(Option<i32>, String, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = commands
            .iter()
            .map(|args| {
                let mut c = process(dir.path(), &cfg, "alice");
                c.args(*args);
                s.spawn(move || run_for(c, bound + Duration::from_secs(30)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (args, (code, text, elapsed)) in commands.iter().zip(&runs) {
        assert!(
            code.is_some() && *elapsed < bound,
            "{args:?} ran {elapsed:?} (killed: {}): {text}",
            code.is_none()
        );
        assert_ne!(*code, Some(0), "{args:?}: {text}");
        assert!(
            text.contains("no answer within") && text.contains("deadline"),
            "{args:?}: {text}"
        );
        eprintln!("{args:?}: exit {code:?} after {elapsed:.1?}");
    }
}

/// Cuts the tail (deletes the last record) or rewrites the head item of
/// `table`, a ledger of 5 records.
fn break_chain(moto: &Emulator, table: &str, case: &str) {
    let client = ddb(moto);
    let key = |pk: &str, sk: u64| {
        HashMap::from([
            ("pk".to_string(), AttributeValue::S(pk.into())),
            ("sk".to_string(), AttributeValue::N(sk.to_string())),
        ])
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if case == "tail" {
            client
                .delete_item()
                .table_name(table)
                .set_key(Some(key("ledger", 5)))
                .send()
                .await
                .unwrap();
        } else {
            let mut head = key("head", 0);
            head.insert("seq".into(), AttributeValue::N("5".into()));
            head.insert("hash".into(), AttributeValue::S("0".repeat(64)));
            client
                .put_item()
                .table_name(table)
                .set_item(Some(head))
                .send()
                .await
                .unwrap();
        }
    });
}

#[test]
fn an_append_onto_a_cut_tail_or_a_rewritten_head_is_refused_and_nothing_is_issued() {
    let Some(Table { moto, dir, cfg: _ }) = table("team-cut", "") else {
        return;
    };
    let cases = [
        (
            "tail",
            "the head says 5 but record 5 is missing: the tail was cut",
        ),
        ("head", "the head or the tail was rewritten"),
    ];
    for (case, says) in cases {
        let name = format!("cut-{case}");
        let cfg = config_file(dir.path(), &moto, &name);
        init(dir.path(), &cfg);
        let s = store(&moto, &name);
        let l = Ledger::team(s.clone());
        for n in 0..5 {
            l.append(RecordKind::Approval, draft("alice", n), Utc::now())
                .unwrap();
        }
        break_chain(&moto, &name, case);
        let before = shipdeck::team::lines_after(&s, 0).unwrap();

        // The ledger refuses to grow it, and names the cut.
        let err = l
            .append(RecordKind::Approval, draft("alice", 9), Utc::now())
            .unwrap_err();
        assert!(matches!(err, LedgerError::Broken { .. }), "{case}: {err}");
        assert!(err.to_string().contains(says), "{case}: {err}");

        // A deploy is refused before the provider is called: the simulated
        // staging still runs what it ran.
        let config = shipdeck::config::load(&cfg, shipdeck::config::ConfigOrigin::Flag).unwrap();
        let clock = shipdeck::clock::ManualClock::new(Utc::now());
        let fleet =
            shipdeck::platforms::sim::FleetFile::load(&dir.path().join("release-fleet.toml"))
                .unwrap();
        let sim = shipdeck::platforms::sim::SimFleet::new(&fleet, 5, Arc::new(clock.clone()));
        let staging = config.env_index("staging").unwrap();
        let dev = config.env_index("dev").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let read = |env: shipdeck::config::EnvId| {
            rt.block_on(sim.read_env(
                &config.environments[env.index()],
                shipdeck::provider::ReadScope::STATUS,
            ))
            .unwrap()
            .service("api")
            .cloned()
            .unwrap()
        };
        let running = read(staging);
        let newer = read(dev).digest.unwrap();
        assert_ne!(running.digest.as_ref(), Some(&newer));
        let mut exec = Executor::new(
            shipdeck::provider::AnyProvider::Sim(sim.clone()),
            config.environments.clone(),
            l.clone(),
            LockStore::Team(s.clone()),
            "alice".to_string(),
            Arc::new(clock.clone()),
        );
        let issued = rt.block_on(exec.issue(
            staging,
            "api",
            &Issue::Deploy(newer.clone()),
            Draft {
                operator: "alice".into(),
                env: Some("staging".into()),
                service: Some("api".into()),
                to_digest: Some(newer.to_string()),
                ..Draft::default()
            },
        ));
        let (why, _) = issued.err().unwrap();
        assert!(
            why.contains(says) && why.contains("nothing was deployed"),
            "{case}: {why}"
        );
        let after = read(staging);
        assert_eq!(
            (after.digest, after.task_definition),
            (running.digest, running.task_definition),
            "{case}: the provider was called"
        );

        // The commands say the same, exit non-zero, and write nothing.
        for args in [
            &["promote", "api", "--to", "staging", "--tick", "1", "--yes"][..],
            &["rollback", "api", "--env", "staging", "--yes"][..],
        ] {
            let out = cmd(dir.path(), &cfg, "alice").args(args).output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                !out.status.success() && out.status.code().is_some(),
                "{case} {args:?}: {text}"
            );
            assert!(text.contains(says), "{case} {args:?}: {text}");
        }
        assert_eq!(
            shipdeck::team::lines_after(&s, 0).unwrap(),
            before,
            "{case}: something was appended"
        );
    }
}

#[test]
fn three_concurrent_approvals_by_one_person_write_one_record_in_the_table() {
    let Some(Table { moto, dir, cfg }) = table("team-approve-race", "") else {
        return;
    };
    let config = shipdeck::config::load(&cfg, shipdeck::config::ConfigOrigin::Flag).unwrap();
    let policy = approvals::policy_hash(&config.env("prod").unwrap().gate);
    let l = Ledger::team(store(&moto, "team-approve-race"));
    for round in 0..20 {
        let req = approvals::request(
            &l,
            "prod",
            "api",
            "sha256:abc",
            &policy,
            "alice",
            Utc::now(),
        )
        .unwrap();
        let racers: Vec<_> = (0..3)
            .map(|_| {
                process(dir.path(), &cfg, "bob")
                    .args(["approve", &req.promotion, "--yes"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<_> = racers
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let said: Vec<String> = outs
            .iter()
            .map(|o| {
                format!(
                    "{:?}: {}",
                    o.status.code(),
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .collect();
        let approvals = l
            .read()
            .unwrap()
            .into_iter()
            .filter(|r| {
                r.kind == RecordKind::Approval
                    && r.draft.promotion.as_deref() == Some(req.promotion.as_str())
            })
            .count();
        assert_eq!(approvals, 1, "round {round}: {said:#?}");
        let ok = outs.iter().filter(|o| o.status.success()).count();
        assert_eq!(ok, 1, "round {round}: {said:#?}");
        for o in outs.iter().filter(|o| !o.status.success()) {
            assert_eq!(o.status.code(), Some(1), "round {round}: {said:#?}");
            assert!(
                String::from_utf8_lossy(&o.stderr).contains("already approved"),
                "round {round}: {said:#?}"
            );
        }
    }
}

#[tokio::test]
async fn two_people_continuing_one_step_at_once_write_one_continue_in_the_table() {
    let Some(Table {
        moto,
        dir: _dir,
        cfg: _,
    }) = table("team-step-race", "")
    else {
        return;
    };
    let s = store(&moto, "team-step-race");
    let mut h = Harness::with_state(
        stepping::paused_config(),
        &stepping::linear_fleet(),
        "alice",
        monday(),
        Ledger::team(s.clone()),
        LockStore::Team(s),
    )
    .await;
    // Each person's terminal has its own client and connections.
    let ledgers = [
        Ledger::team(store(&moto, "team-step-race")),
        Ledger::team(store(&moto, "team-step-race")),
    ];
    stepping::race_continues(&mut h, ledgers, 20).await;
}
