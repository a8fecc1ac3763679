//! Team mode on DynamoDB (moto, started by the tests): one ledger, locks and
//! approvals shared by people on many machines.

/// Team mode under faults and races: a table that never answers, a cut
/// tail, racing approvals and step decisions.
mod faults;
/// The approval matrix with STS sessions as people.
mod matrix;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use shipdeck::ledger::{Draft, Ledger, RecordKind};
use shipdeck::lock::{LockError, LockStore};
use shipdeck::team::{TeamConfig, TeamStore};

use crate::support::console::{Harness, monday};
use crate::support::emulators::{self, Emulator};
use crate::support::team::{config_file_at, process};

fn creds() -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new("test", "test", None, None, "tests")
}

fn team_cfg(url: &str, table: &str) -> TeamConfig {
    TeamConfig {
        table: table.to_string(),
        region: "us-east-1".to_string(),
        profile: None,
        endpoint_url: Some(url.to_string()),
        lease: Duration::from_secs(5),
    }
}

fn store(moto: &Emulator, table: &str) -> TeamStore {
    TeamStore::open_with(team_cfg(&moto.url, table), Some(creds())).unwrap()
}

/// A process of this test binary in a role (`child_process_entry`), talking
/// over its stdin and stdout: the concurrency tests race separate processes,
/// each with its own client and connections, as machines of a team do.
struct Peer {
    proc: std::process::Child,
    stdin: std::process::ChildStdin,
    out: std::io::BufReader<std::process::ChildStdout>,
}

impl Peer {
    fn spawn(role: &str, moto: &Emulator, table: &str, id: usize) -> Self {
        use std::process::{Command, Stdio};
        let mut proc = Command::new(std::env::current_exe().unwrap())
            .args([
                "team::child_process_entry",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env("TEAM_CHILD", role)
            .env("TEAM_URL", &moto.url)
            .env("TEAM_TABLE", table)
            .env("TEAM_ID", id.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = proc.stdin.take().unwrap();
        let out = std::io::BufReader::new(proc.stdout.take().unwrap());
        Self { proc, stdin, out }
    }

    fn send(&mut self, line: &str) {
        use std::io::Write as _;
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The next line the role said (the test harness's own lines are skipped).
    fn recv(&mut self) -> String {
        use std::io::BufRead as _;
        loop {
            let mut line = String::new();
            assert!(self.out.read_line(&mut line).unwrap() > 0, "a peer ended");
            if let Some(said) = line.trim_end().strip_prefix("@@") {
                return said.to_string();
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

fn say(what: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "@@{what}").unwrap();
    out.flush().unwrap();
}

#[test]
#[ignore = "the entry of the processes the concurrency tests start, not a test itself"]
fn child_process_entry() {
    use std::io::BufRead as _;
    let Ok(role) = std::env::var("TEAM_CHILD") else {
        return;
    };
    let url = std::env::var("TEAM_URL").unwrap();
    let table = std::env::var("TEAM_TABLE").unwrap();
    let id: usize = std::env::var("TEAM_ID").unwrap().parse().unwrap();
    let s = TeamStore::open_with(team_cfg(&url, &table), Some(creds())).unwrap();
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    match role.as_str() {
        // Each "go": race for the lock, say won/lost (with the holder named),
        // hold it until the next line, release, say done.
        "racer" => {
            let locks = LockStore::Team(s);
            let me = format!("racer{id}");
            say("ready");
            while let Some(Ok(line)) = lines.next() {
                if line != "go" {
                    break;
                }
                let got = locks.acquire("prod", "api", &me, "promotion", Utc::now());
                match &got {
                    Ok(_) => say("won"),
                    Err(LockError::Held { info, .. }) => say(&format!("lost {}", info.owner)),
                    Err(e) => say(&format!("error {e}")),
                }
                let _ = lines.next();
                drop(got);
                say("done");
            }
        }
        // On "go N": append N records, then say done.
        "writer" => {
            let l = Ledger::team(s);
            say("ready");
            let Some(Ok(line)) = lines.next() else { return };
            let n: usize = line.strip_prefix("go ").unwrap().parse().unwrap();
            for i in 0..n {
                l.append(
                    RecordKind::Approval,
                    draft(&format!("w{id}"), i),
                    Utc::now(),
                )
                .unwrap();
            }
            say("done");
        }
        other => panic!("unknown role {other}"),
    }
}

fn ddb(moto: &Emulator) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(creds())
            .endpoint_url(&moto.url)
            .build(),
    )
}

/// The release-test configuration over the simulated fleet, with its ledger,
/// locks and approvals in the team table `table`.
fn config_file(dir: &Path, moto: &Emulator, table: &str) -> PathBuf {
    config_file_at(dir, &moto.url, table)
}

fn cmd(dir: &Path, cfg: &Path, operator: &str) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::from_std(process(dir, cfg, operator));
    c.timeout(Duration::from_mins(3));
    c
}

fn draft(who: &str, n: usize) -> Draft {
    Draft {
        operator: who.to_string(),
        env: Some("prod".into()),
        service: Some("api".into()),
        reasons: vec![format!("record {n}")],
        ..Draft::default()
    }
}

/// How many different drafts (writer, number) the records hold.
fn distinct(records: &[shipdeck::ledger::Record]) -> usize {
    let mut seen: Vec<(String, String)> = records
        .iter()
        .map(|r| (r.draft.operator.clone(), r.draft.reasons.join(" ")))
        .collect();
    seen.sort();
    seen.dedup();
    seen.len()
}

/// A test's own team table: moto (injecting `faults`, as
/// tests/support/moto_serial.py reads them; "" for none), a directory, and the
/// configuration `team init` created `name` with. `None` without the emulators.
struct Table {
    moto: Emulator,
    dir: tempfile::TempDir,
    cfg: PathBuf,
}

fn table(name: &str, faults: &str) -> Option<Table> {
    let bin = emulators::venv_bin()?;
    let moto = emulators::moto_faults(&bin, faults);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), &moto, name);
    init(dir.path(), &cfg);
    Some(Table { moto, dir, cfg })
}

fn init(dir: &Path, cfg: &Path) {
    let out = cmd(dir, cfg, "alice")
        .args(["team", "init"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("created table") && text.contains("dynamodb:TransactWriteItems"),
        "{text}"
    );
}

#[test]
fn init_check_promote_verify_export_and_approvals_through_the_cli() {
    let Some(Table {
        moto: _moto,
        dir,
        cfg,
    }) = table("team-cli", "")
    else {
        return;
    };
    let again = cmd(dir.path(), &cfg, "alice")
        .args(["team", "init"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("exists already"));
    cmd(dir.path(), &cfg, "alice")
        .args(["team", "check"])
        .assert()
        .success()
        .stdout(predicates::str::contains("ledger OK (0 records"));

    // prod wants one approval under four eyes: alice asks, bob (another
    // machine: another data dir) sees the request and approves.
    let first = cmd(dir.path(), &cfg, "alice")
        .args([
            "promote", "api", "--to", "prod", "--change", "CHG-7", "--yes", "--json",
        ])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(report["outcome"], "no_go", "{report}");
    let id = report["promotion"].as_str().unwrap().to_string();
    let bob_dir = tempfile::tempdir().unwrap();
    let listed = cmd(bob_dir.path(), &cfg, "bob")
        .args(["approvals", "--json"])
        .output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(list[0]["id"], id.as_str(), "{list}");
    assert_eq!(list[0]["initiator"], "alice");
    assert_eq!(list[0]["approvals_required"], 1);
    assert_eq!(list[0]["change_record"], "CHG-7", "{list}");
    cmd(dir.path(), &cfg, "alice")
        .args(["approve", &id])
        .assert()
        .failure()
        .stderr(predicates::str::contains("four eyes"));
    // bob sees what he approves: the request and what it changes in prod.
    cmd(bob_dir.path(), &cfg, "bob")
        .args(["approve", "--yes", &id])
        .assert()
        .success()
        .stdout(predicates::str::contains("change      CHG-7"))
        .stdout(predicates::str::contains(
            "diff        task definition api:2 → api:<next> (a copy of api:2)",
        ))
        .stdout(predicates::str::contains("everything else unchanged"))
        .stdout(predicates::str::contains(format!(
            "+ registry.example.com/team/api@{}",
            report["digest"].as_str().unwrap()
        )));
    let done = cmd(dir.path(), &cfg, "alice")
        .args([
            "promote", "api", "--to", "prod", "--change", "CHG-7", "--yes", "--wait", "--json",
        ])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(report["outcome"], "succeeded", "{report}");
    let listed = cmd(bob_dir.path(), &cfg, "bob")
        .args(["approvals"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains("no promotion is waiting"));

    cmd(dir.path(), &cfg, "alice")
        .args(["audit", "verify"])
        .assert()
        .success()
        .stdout(predicates::str::contains("OK"));
    let export = cmd(dir.path(), &cfg, "alice")
        .args(["audit", "export"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&export.stdout);
    let n = shipdeck::ledger::verify_text(&text).unwrap();
    assert!(n >= 6, "{text}");
    assert!(text.contains("\"kind\":\"approval\"") && text.contains("\"operator\":\"bob\""));
}

#[test]
fn concurrent_writers_keep_one_chain_and_tampering_is_named() {
    let Some(Table { moto, dir, cfg: _ }) = table("team-chain", "") else {
        return;
    };
    // 8 writer processes, 125 records each, started together.
    let writers = 8;
    let each = 125;
    let mut peers: Vec<Peer> = (0..writers)
        .map(|w| Peer::spawn("writer", &moto, "team-chain", w))
        .collect();
    for p in &mut peers {
        assert_eq!(p.recv(), "ready");
    }
    let start = Instant::now();
    for p in &mut peers {
        p.send(&format!("go {each}"));
    }
    for p in &mut peers {
        assert_eq!(p.recv(), "done");
    }
    let elapsed = start.elapsed();
    let ledger = Ledger::team(store(&moto, "team-chain"));
    let records = ledger.read().unwrap();
    let total = writers * each;
    assert_eq!(records.len(), total);
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(
        seqs,
        (1..=u64::try_from(total).unwrap()).collect::<Vec<_>>()
    );
    assert_eq!(
        ledger.verify_team().unwrap(),
        Ok(u64::try_from(total).unwrap())
    );
    assert_eq!(distinct(&records), total, "a record written twice");
    eprintln!(
        "8 writers: {total} records in {:.1} s = {:.0} records/s",
        elapsed.as_secs_f64(),
        f64::from(u32::try_from(total).unwrap()) / elapsed.as_secs_f64()
    );
    // One writer, for the latency.
    let one = Ledger::team(store(&moto, "team-chain"));
    let start = Instant::now();
    for n in 0..50 {
        one.append(RecordKind::Approval, draft("solo", n), Utc::now())
            .unwrap();
    }
    eprintln!(
        "1 writer: 50 appends, {:.1} ms each",
        start.elapsed().as_secs_f64() * 1000.0 / 50.0
    );

    // Tampering, each on a copy of a 20-record table.
    let client = ddb(&moto);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = |pk: &str, sk: u64| {
        HashMap::from([
            ("pk".to_string(), AttributeValue::S(pk.into())),
            ("sk".to_string(), AttributeValue::N(sk.to_string())),
        ])
    };
    let cases: [(&str, &str); 4] = [
        ("middle", "does not follow the record before it"),
        ("edited", "does not match its hash"),
        ("tail", "the last 3 record(s) were deleted"),
        ("head", "does not match the last record"),
    ];
    for (case, says) in cases {
        let table = format!("tamper-{case}");
        init(dir.path(), &config_file(dir.path(), &moto, &table));
        let l = Ledger::team(store(&moto, &table));
        for n in 0..20 {
            l.append(RecordKind::Approval, draft("alice", n), Utc::now())
                .unwrap();
        }
        assert_eq!(l.verify_team().unwrap(), Ok(20));
        rt.block_on(async {
            match case {
                "middle" => {
                    client
                        .delete_item()
                        .table_name(&table)
                        .set_key(Some(key("ledger", 10)))
                        .send()
                        .await
                        .unwrap();
                }
                "edited" => {
                    let item = client
                        .get_item()
                        .table_name(&table)
                        .set_key(Some(key("ledger", 7)))
                        .send()
                        .await
                        .unwrap();
                    let mut item = item.item().unwrap().clone();
                    let line = match &item["line"] {
                        AttributeValue::S(s) => s.replace("record 6", "record X"),
                        _ => panic!(),
                    };
                    item.insert("line".into(), AttributeValue::S(line));
                    client
                        .put_item()
                        .table_name(&table)
                        .set_item(Some(item))
                        .send()
                        .await
                        .unwrap();
                }
                "tail" => {
                    for sk in 18..=20 {
                        client
                            .delete_item()
                            .table_name(&table)
                            .set_key(Some(key("ledger", sk)))
                            .send()
                            .await
                            .unwrap();
                    }
                }
                _ => {
                    let mut head = key("head", 0);
                    head.insert("seq".into(), AttributeValue::N("20".into()));
                    head.insert("hash".into(), AttributeValue::S("0".repeat(64)));
                    client
                        .put_item()
                        .table_name(&table)
                        .set_item(Some(head))
                        .send()
                        .await
                        .unwrap();
                }
            }
        });
        let broken = l.verify_team().unwrap().unwrap_err();
        assert!(broken.problem.contains(says), "{case}: {broken:?}");
        // The CLI says the same, with exit 1.
        let cfg = config_file(dir.path(), &moto, &table);
        let out = cmd(dir.path(), &cfg, "alice")
            .args(["audit", "verify"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{case}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("BROKEN"),
            "{case}"
        );
    }
}

#[test]
fn a_lock_race_has_one_winner_per_round_and_losers_name_it() {
    let Some(Table {
        moto,
        dir: _dir,
        cfg: _,
    }) = table("team-locks", "")
    else {
        return;
    };
    // 8 racer processes, 50 rounds: each round all race, then all release.
    let mut peers: Vec<Peer> = (0..8)
        .map(|r| Peer::spawn("racer", &moto, "team-locks", r))
        .collect();
    for p in &mut peers {
        assert_eq!(p.recv(), "ready");
    }
    for round in 0..50 {
        for p in &mut peers {
            p.send("go");
        }
        let said: Vec<String> = peers.iter_mut().map(Peer::recv).collect();
        let winners: Vec<usize> = (0..said.len()).filter(|&i| said[i] == "won").collect();
        assert_eq!(winners.len(), 1, "round {round}: {said:?}");
        let winner = format!("racer{}", winners[0]);
        for (i, s) in said.iter().enumerate() {
            if i != winners[0] {
                // Every loser names this round's holder.
                assert_eq!(s, &format!("lost {winner}"), "round {round}: {said:?}");
            }
        }
        for p in &mut peers {
            p.send("release");
        }
        for p in &mut peers {
            assert_eq!(p.recv(), "done");
        }
    }
}

/// What the moto wrapper counted at `path` (`/__faults`, `/__requests`).
fn counted(moto: &Emulator, path: &str) -> HashMap<String, u64> {
    let port: u16 = moto.url.rsplit(':').next().unwrap().parse().unwrap();
    let (_, text) = emulators::get(port, path).unwrap();
    serde_json::from_str(&text[text.find('{').unwrap()..]).unwrap()
}

#[test]
fn following_the_table_costs_one_query_per_poll_when_nothing_changed() {
    let Some(Table {
        moto,
        dir: _dir,
        cfg: _,
    }) = table("team-follow", "")
    else {
        return;
    };
    let l = Ledger::team(store(&moto, "team-follow"));
    for n in 0..3 {
        l.append(RecordKind::Approval, draft("alice", n), Utc::now())
            .unwrap();
    }
    let mut f = shipdeck::ledger::Follower::new(l.clone());
    assert_eq!(f.poll().unwrap().len(), 3);
    let total = |m: &HashMap<String, u64>| m.values().sum::<u64>();
    let before = counted(&moto, "/__requests");
    for _ in 0..10 {
        assert!(f.poll().unwrap().is_empty());
    }
    let after = counted(&moto, "/__requests");
    assert_eq!(total(&after) - total(&before), 10, "{before:?} → {after:?}");
    assert_eq!(after["Query"] - before["Query"], 10);
    // A new record arrives in the next poll, still one request.
    l.append(RecordKind::Approval, draft("bob", 9), Utc::now())
        .unwrap();
    let before = counted(&moto, "/__requests");
    assert_eq!(f.poll().unwrap().len(), 1);
    assert_eq!(total(&counted(&moto, "/__requests")) - total(&before), 1);
}

#[test]
fn injected_throttling_conflicts_and_lost_answers_lose_nothing_and_write_nothing_twice() {
    // Every 3rd write throttled, every 4th transaction cancelled by a
    // conflict, every 5th applied but its answer lost (a 500).
    let Some(Table {
        moto,
        dir: _dir,
        cfg: _,
    }) = table("team-faults", "throttle=3,conflict=4,lost=5")
    else {
        return;
    };
    let handles: Vec<_> = (0..2)
        .map(|w| {
            let s = store(&moto, "team-faults");
            std::thread::spawn(move || {
                let l = Ledger::team(s.clone());
                let locks = LockStore::Team(s);
                for n in 0..30 {
                    l.append(RecordKind::Approval, draft(&format!("w{w}"), n), Utc::now())
                        .unwrap();
                    if n % 5 == 0 {
                        let me = format!("w{w}");
                        // The lock's put meets the same faults; it is ours or
                        // held by the other writer, never an error.
                        match locks.acquire("prod", &me, &me, "promotion", Utc::now()) {
                            Ok(guard) => drop(guard),
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let ledger = Ledger::team(store(&moto, "team-faults"));
    let records = ledger.read().unwrap();
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=60).collect::<Vec<u64>>());
    assert_eq!(
        distinct(&records),
        60,
        "nothing lost, nothing written twice"
    );
    assert_eq!(ledger.verify_team().unwrap(), Ok(60));
    // The faults did happen, each kind.
    let injected = counted(&moto, "/__faults");
    for kind in ["throttle", "conflict", "lost"] {
        assert!(injected[kind] > 0, "{kind}: {injected:?}");
    }
    eprintln!("injected: {injected:?}");
}

#[test]
fn a_killed_holders_lease_lapses_and_the_break_is_recorded() {
    let Some(Table { moto, dir, cfg }) = table("team-lease", "") else {
        return;
    };
    // A holder in another process, killed without a chance to release.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("SHIPDECK_LOG_FILE", dir.path().join("log"))
        .env("SHIPDECK_OPERATOR", "frank")
        .arg("--config")
        .arg(&cfg)
        .args([
            "promote", "api", "--to", "staging", "--tick", "1", "--yes", "--wait",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let locks = LockStore::Team(store(&moto, "team-lease"));
    let deadline = Instant::now() + Duration::from_mins(1);
    let held = loop {
        if let Some(info) = locks.holder("staging", "api").unwrap() {
            break info;
        }
        assert!(Instant::now() < deadline, "the child never took the lock");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(held.owner, "frank");
    child.kill().unwrap();
    let _ = child.wait();
    // Not stale while the lease runs: unlock refuses.
    cmd(dir.path(), &cfg, "alice")
        .args(["unlock", "--env", "staging", "--service", "api", "--yes"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("not stale"));
    std::thread::sleep(Duration::from_secs(7));
    let info = locks.holder("staging", "api").unwrap().unwrap();
    assert!(
        shipdeck::lock::staleness(&info, Utc::now())
            .unwrap()
            .contains("lease lapsed"),
        "{info:?}"
    );
    cmd(dir.path(), &cfg, "alice")
        .args(["unlock", "--env", "staging", "--service", "api", "--yes"])
        .assert()
        .success()
        .stdout(predicates::str::contains("lock broken by alice"));
    assert!(locks.holder("staging", "api").unwrap().is_none());
    let l = Ledger::team(store(&moto, "team-lease"));
    assert!(
        l.read()
            .unwrap()
            .iter()
            .any(|r| r.kind == RecordKind::LockBroken)
    );
}

#[test]
fn a_local_ledger_of_500_records_migrates_and_verifies() {
    let Some(Table { moto, dir, cfg }) = table("team-migrate", "") else {
        return;
    };
    let file = dir.path().join("old.jsonl");
    let local = Ledger::new(&file);
    let items: Vec<_> = (0..500)
        .map(|n| (RecordKind::Approval, draft("alice", n)))
        .collect();
    local.append_batch(items, Utc::now()).unwrap();
    // An approval, written once: it stays once in the table.
    local
        .append_once(
            RecordKind::Approval,
            draft("bob", 500),
            Utc::now(),
            "approval#P1#bob",
            None,
        )
        .unwrap();
    cmd(dir.path(), &cfg, "alice")
        .args(["ledger", "migrate", "--from-file"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicates::str::contains("copied 501 records"));
    let team = Ledger::team(store(&moto, "team-migrate"));
    assert_eq!(team.verify_team().unwrap(), Ok(501));
    // Same lines, same hashes.
    assert_eq!(team.text().unwrap(), local.text().unwrap());
    let again = team
        .append_once(
            RecordKind::Approval,
            draft("bob", 501),
            Utc::now(),
            "approval#P1#bob",
            None,
        )
        .unwrap_err();
    assert!(
        matches!(
            &again,
            shipdeck::ledger::LedgerError::Duplicate { by: Some(b), record: Some(501), .. } if b == "bob"
        ),
        "{again}"
    );
    // A second migration into the now full table is refused.
    cmd(dir.path(), &cfg, "alice")
        .args(["ledger", "migrate", "--from-file"])
        .arg(&file)
        .assert()
        .failure()
        .stderr(predicates::str::contains("already holds 501 records"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consoles_share_approvals_through_the_table() {
    let Some(Table {
        moto,
        dir: _dir,
        cfg: _,
    }) = table("team-consoles", "")
    else {
        return;
    };
    let cfg = shipdeck::config::demo().unwrap();
    let fleet = shipdeck::platforms::sim::FleetFile::demo().unwrap();
    let (a, b) = (store(&moto, "team-consoles"), store(&moto, "team-consoles"));
    let mut alice = Harness::with_state(
        cfg.clone(),
        &fleet,
        "alice",
        monday(),
        Ledger::team(a.clone()),
        LockStore::Team(a),
    )
    .await;
    let mut bob = Harness::with_state(
        cfg.clone(),
        &fleet,
        "bob",
        monday(),
        Ledger::team(b.clone()),
        LockStore::Team(b),
    )
    .await;
    // alice opens the staging wizard (one approval, four eyes off in staging).
    alice.select("checkout", "staging");
    alice.keys("p").await;
    alice.key(shipdeck::app::keys::Key::ch(' ')).await;
    alice.tick(2).await;
    assert!(!alice.gate_go());
    let id = alice.promotion();
    // bob's console follows the same table: the request is there to approve.
    bob.tick(2).await;
    let pending = shipdeck::approvals::pending(&bob.records(), &bob.cfg, bob.clock.now());
    assert!(
        pending.iter().any(|p| p.request.promotion == id),
        "{pending:?}"
    );
    // …and his console lists it in the approvals pane (A).
    bob.keys("A").await;
    bob.tick(1).await;
    let screen = bob.screen(120, 40);
    assert!(
        screen.contains("Waiting for approval · 1") && screen.contains(&id),
        "{screen}"
    );
    bob.esc().await;
    shipdeck::approvals::approve(
        &bob.ledger,
        &id,
        "bob",
        None,
        &bob.cfg.env("staging").unwrap().gate,
        &bob.cfg.roles,
        bob.clock.now(),
    )
    .unwrap();
    // alice sees it arrive, and the deploy proceeds.
    alice.tick(3).await;
    assert!(alice.gate_go(), "{:#?}", alice.app.flow);
    alice.keys("g").await;
    alice.enter().await;
    let v = alice.watch_until_over(120).await;
    assert_eq!(v.watch.outcome, Some(shipdeck::release::Step::Succeeded));
    // While alice held the lock, the table named her; now it is free.
    assert!(
        LockStore::Team(store(&moto, "team-consoles"))
            .holder("staging", "checkout")
            .unwrap()
            .is_none()
    );
    assert_eq!(
        Ledger::team(store(&moto, "team-consoles"))
            .verify_team()
            .unwrap()
            .map(|n| n > 3),
        Ok(true)
    );
}

use shipdeck::clock::Clock as _;

#[test]
fn a_holder_that_lost_its_lock_cannot_write_records_for_it() {
    let Some(Table {
        moto,
        dir: _dir,
        cfg: _,
    }) = table("team-fence", "")
    else {
        return;
    };
    let locks = LockStore::Team(store(&moto, "team-fence"));
    let ledger = Ledger::team(store(&moto, "team-fence"));
    let guard = locks
        .acquire("prod", "api", "alice", "promotion", Utc::now())
        .unwrap();
    let fence = shipdeck::ledger::Fence {
        env: "prod".into(),
        service: "api".into(),
        holder: guard.info().clone(),
    };
    // While the lock is hers, her records are written.
    ledger
        .append_fenced(
            RecordKind::DeployIssued,
            draft("alice", 1),
            Utc::now(),
            Some(&fence),
        )
        .unwrap();
    // Her lease lapses (she is paused, say) and bob breaks it and takes it.
    let other = LockStore::Team(store(&moto, "team-fence"));
    other.break_stale("prod", "api", guard.info()).unwrap();
    let _bobs = other
        .acquire("prod", "api", "bob", "rollback", Utc::now())
        .unwrap();
    let err = ledger
        .append_fenced(
            RecordKind::DeploySucceeded,
            draft("alice", 2),
            Utc::now(),
            Some(&fence),
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("no longer this process's"),
        "{err}"
    );
    let kinds: Vec<RecordKind> = ledger.read().unwrap().iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [RecordKind::DeployIssued]);
    std::mem::forget(guard);
}

#[test]
fn in_team_mode_the_operator_is_the_sts_caller() {
    let Some(Table { moto, dir, cfg }) = table("team-who", "") else {
        return;
    };
    // No override allowed: the operator comes from STS, whatever the OS user.
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "allow_operator_override = true",
        "allow_operator_override = false",
    );
    std::fs::write(&cfg, text).unwrap();
    cmd(dir.path(), &cfg, "mallory")
        .args([
            "promote", "api", "--to", "staging", "--tick", "1", "--yes", "--wait",
        ])
        .assert()
        .success();
    let records = Ledger::team(store(&moto, "team-who")).read().unwrap();
    assert!(!records.is_empty());
    for r in &records {
        assert!(r.draft.operator.starts_with("arn:aws:"), "{r:?}");
    }
}
