//! `shipdeck team init|check`, `shipdeck ledger migrate`, `shipdeck approvals`:
//! setting up and using the team's DynamoDB table.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification,
    ScalarAttributeType,
};

use super::setup::{config_or_demo, config_or_usage, state_for};
use super::{Cli, EXIT_DEGRADED, EXIT_OK, EXIT_USAGE, eprint_error, term};
use crate::team::{TeamError, TeamStore, classify};

/// How long `team init` waits for its table (created, active, backed up).
const INIT_DEADLINE: std::time::Duration = std::time::Duration::from_mins(2);

fn store_or_usage(cli: &Cli) -> Result<TeamStore, i32> {
    let cfg = config_or_usage(cli)?;
    let Some(team) = cfg.team.clone() else {
        eprint_error(&format!(
            "{}: no [team] with backend = \"dynamodb\"; add one (see README: Team mode)",
            cfg.source.display()
        ));
        return Err(EXIT_USAGE);
    };
    TeamStore::open(team).map_err(|e| {
        eprint_error(&e);
        EXIT_DEGRADED
    })
}

/// The least-privilege IAM policy a team needs, per action.
pub fn iam_policy(store: &TeamStore) -> String {
    let arn = format!(
        "arn:aws:dynamodb:{}:*:table/{}",
        store.cfg.region,
        store.table()
    );
    let stmt = |sid: &str, actions: &[&str]| serde_json::json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": arn });
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            stmt("ReadLedgerLocksApprovals", &["dynamodb:GetItem", "dynamodb:Query", "dynamodb:DescribeTable"]),
            stmt("AppendRecordsAndApprove", &["dynamodb:TransactWriteItems", "dynamodb:PutItem", "dynamodb:ConditionCheckItem"]),
            stmt("TakeRenewReleaseLocks", &["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]),
            stmt("TeamInitOnly", &["dynamodb:CreateTable", "dynamodb:UpdateContinuousBackups"]),
        ]
    });
    serde_json::to_string_pretty(&policy).unwrap_or_default()
}

/// `shipdeck team init`: the table (on-demand, point-in-time recovery on) and
/// the policy to give the team.
pub(crate) fn run_init(cli: &Cli) -> i32 {
    let store = match store_or_usage(cli) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let table = store.table().to_string();
    // A new table takes a while to become active: init waits longer than a call.
    let made = store.call_within(INIT_DEADLINE, move |c| async move {
        let key = |name: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(t)
                .build()
                .map_err(|e| e.to_string())
        };
        let attr = |name: &str, t: ScalarAttributeType| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(t)
                .build()
                .map_err(|e| e.to_string())
        };
        let built = (|| {
            Ok::<_, String>((
                key("pk", KeyType::Hash)?,
                key("sk", KeyType::Range)?,
                attr("pk", ScalarAttributeType::S)?,
                attr("sk", ScalarAttributeType::N)?,
            ))
        })();
        let (k1, k2, a1, a2) = built.map_err(|m| TeamError::plain(&table, m))?;
        match c
            .create_table()
            .table_name(&table)
            .key_schema(k1)
            .key_schema(k2)
            .attribute_definitions(a1)
            .attribute_definitions(a2)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e)
                if e.as_service_error().is_some_and(
                    aws_sdk_dynamodb::operation::create_table::CreateTableError::is_resource_in_use_exception,
                ) =>
            {
                return Ok(false);
            }
            Err(e) => return Err(classify(&table, &e)),
        }
        // Point-in-time recovery needs the table ACTIVE.
        for _ in 0..60 {
            let d = c
                .describe_table()
                .table_name(&table)
                .send()
                .await
                .map_err(|e| classify(&table, &e))?;
            if d.table()
                .and_then(aws_sdk_dynamodb::types::TableDescription::table_status)
                .map(aws_sdk_dynamodb::types::TableStatus::as_str)
                == Some("ACTIVE")
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        c.update_continuous_backups()
            .table_name(&table)
            .point_in_time_recovery_specification(
                PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(true)
                    .build()
                    .map_err(|e| TeamError::plain(&table, e))?,
            )
            .send()
            .await
            .map_err(|e| classify(&table, &e))?;
        Ok(true)
    });
    match made {
        Ok(created) => {
            term::outln(&if created {
                format!(
                    "created table {} in {} (on-demand billing, point-in-time recovery on)",
                    store.table(),
                    store.cfg.region
                )
            } else {
                format!("table {} exists already; nothing changed", store.table())
            });
            term::outln("\nIAM policy for the team (least privilege per action):");
            term::outln(&iam_policy(&store));
            EXIT_OK
        }
        Err(e) => {
            eprint_error(&e.to_string());
            EXIT_DEGRADED
        }
    }
}

/// `shipdeck team check`: the table answers, has the right keys, and the
/// ledger verifies up to its head.
pub(crate) fn run_check(cli: &Cli) -> i32 {
    let store = match store_or_usage(cli) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let table = store.table().to_string();
    let keys = store.call(move |c| async move {
        let d = c
            .describe_table()
            .table_name(&table)
            .send()
            .await
            .map_err(|e| classify(&table, &e))?;
        Ok(d.table()
            .map(|t| {
                t.key_schema()
                    .iter()
                    .map(|k| format!("{}:{}", k.attribute_name(), k.key_type().as_str()))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default())
    });
    match keys {
        Ok(k) if k == ["pk:HASH", "sk:RANGE"] => {}
        Ok(k) => {
            eprint_error(&format!(
                "table {} has keys {k:?}, not pk (HASH) + sk (RANGE): it is not a shipdeck team table",
                store.table()
            ));
            return EXIT_DEGRADED;
        }
        Err(e) => {
            eprint_error(&e.to_string());
            return EXIT_DEGRADED;
        }
    }
    let ledger = crate::ledger::Ledger::team(store.clone());
    match ledger.verify_team() {
        Ok(Ok(n)) => {
            term::outln(&format!(
                "team table {} in {}: reachable, keys right, ledger OK ({n} records, head matches)",
                store.table(),
                store.cfg.region
            ));
            EXIT_OK
        }
        Ok(Err(b)) => {
            term::outln(&format!(
                "team table {}: ledger BROKEN at record {}: {}",
                store.table(),
                b.line,
                b.problem
            ));
            EXIT_DEGRADED
        }
        Err(e) => {
            eprint_error(&e.to_string());
            EXIT_DEGRADED
        }
    }
}

/// `shipdeck ledger migrate --from-file PATH`: a verified local ledger copied
/// line for line (same hashes) into an empty team table.
pub(crate) fn run_migrate(cli: &Cli, from: &std::path::Path) -> i32 {
    let store = match store_or_usage(cli) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let text = match crate::ledger::Ledger::new(from).text() {
        Ok(Some(t)) => t,
        Ok(None) => {
            eprint_error(&format!("{}: no such ledger", from.display()));
            return EXIT_USAGE;
        }
        Err(e) => {
            eprint_error(&e.to_string());
            return EXIT_USAGE;
        }
    };
    let n = match crate::ledger::verify_text(&text) {
        Ok(n) => n,
        Err(b) => {
            eprint_error(&format!(
                "{}:{}: BROKEN: {}; nothing was copied",
                from.display(),
                b.line,
                b.problem
            ));
            return EXIT_DEGRADED;
        }
    };
    match crate::team::head(&store) {
        Ok(None) => {}
        Ok(Some((seq, _))) => {
            eprint_error(&format!(
                "the team ledger in {} already holds {seq} records; migrate into an empty table",
                store.table()
            ));
            return EXIT_DEGRADED;
        }
        Err(e) => {
            eprint_error(&e.to_string());
            return EXIT_DEGRADED;
        }
    }
    let lines: Vec<(u64, String, String)> = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let hash = line
                .strip_prefix(crate::ledger::PREFIX)
                .and_then(|r| r.get(..64))
                .unwrap_or_default()
                .to_string();
            (
                u64::try_from(i + 1).unwrap_or(u64::MAX),
                hash,
                line.to_string(),
            )
        })
        .collect();
    let mut expected: Option<(u64, String)> = None;
    for chunk in lines.chunks(crate::team::BATCH) {
        if let Err(e) = crate::team::append(&store, expected.clone(), chunk.to_vec(), None, None) {
            eprint_error(&format!(
                "{e}; the copy stopped after record {}",
                expected.map_or(0, |(s, _)| s)
            ));
            return EXIT_DEGRADED;
        }
        expected = chunk.last().map(|(s, h, _)| (*s, h.clone()));
    }
    // Records written once in the file stay once in the table.
    for (seq, hash, line) in &lines {
        let record = serde_json::from_str::<serde_json::Value>(line).unwrap_or_default();
        let record = &record["record"];
        let Some(once) = record["once"].as_str() else {
            continue;
        };
        let operator = record["operator"].as_str().unwrap_or_default();
        if let Err(e) = crate::team::claim_once(&store, once, *seq, hash, operator) {
            eprint_error(&format!(
                "{e}; every record was copied, but record {seq} may be written once more"
            ));
            return EXIT_DEGRADED;
        }
    }
    match crate::ledger::Ledger::team(store.clone()).verify_team() {
        Ok(Ok(m)) if m == n => {
            term::outln(&format!(
                "copied {n} records from {} into {}; the team ledger verifies",
                from.display(),
                store.table()
            ));
            EXIT_OK
        }
        Ok(Ok(m)) => {
            eprint_error(&format!("copied {n} records but the table verifies {m}"));
            EXIT_DEGRADED
        }
        Ok(Err(b)) => {
            eprint_error(&format!(
                "after the copy: BROKEN at {}: {}",
                b.line, b.problem
            ));
            EXIT_DEGRADED
        }
        Err(e) => {
            eprint_error(&e.to_string());
            EXIT_DEGRADED
        }
    }
}

/// `shipdeck approvals`: promotions waiting for approval, for approvers on
/// any machine.
pub(crate) fn run_approvals(cli: &Cli, demo: bool, json: bool) -> i32 {
    let cfg = match config_or_demo(cli, demo, None) {
        Ok((c, _)) => c,
        Err(code) => return code,
    };
    // Where the ledger is (a device or FIFO where a file is meant) is a
    // usage error; a ledger that cannot be read is a degraded answer.
    let ledger = match state_for(&cfg) {
        Ok((l, _)) => l,
        Err(e) => {
            eprint_error(&e);
            return EXIT_USAGE;
        }
    };
    let records = match super::audit::read_warned(&ledger) {
        Ok(r) => r,
        Err(e) => {
            eprint_error(&e.to_string());
            return EXIT_DEGRADED;
        }
    };
    let now = chrono::Utc::now();
    let pending = crate::approvals::pending(&records, &cfg, now);
    if json {
        let rows: Vec<serde_json::Value> = pending
            .iter()
            .map(|p| {
                serde_json::json!({
                    "id": p.request.promotion,
                    "service": p.request.service,
                    "from_env": p.from_env,
                    "env": p.request.env,
                    "digest": p.request.digest,
                    "initiator": p.request.initiator,
                    "change_record": p.change_record,
                    "requested_at": p.request.at,
                    "approvals": p.approvers,
                    "approvals_required": p.slots.required(),
                    "change_type": p.request.change_type,
                    "skipped": p.request.skipped,
                    "slots": p.slots.slots.iter().map(|s| serde_json::json!({
                        "role": s.role, "count": s.count,
                    })).collect::<Vec<_>>(),
                    "filled": p.slots.filled.iter().map(|f| serde_json::json!({
                        "role": f.role, "approver": f.approver,
                    })).collect::<Vec<_>>(),
                    "needs": p.slots.needs(),
                })
            })
            .collect();
        term::out_styled(&serde_json::to_string_pretty(&rows).unwrap_or_default());
        return EXIT_OK;
    }
    if pending.is_empty() {
        term::outln("no promotion is waiting for approval");
        return EXIT_OK;
    }
    term::outln(&format!("ID      {}", crate::approvals::PENDING_HEADER));
    for p in &pending {
        term::outln(&format!("{:<7} {}", p.request.promotion, p.columns(now)));
        if let Some(kind) = p.kind_words() {
            term::outln(&format!("        type: {kind}"));
        }
    }
    term::outln(&format!(
        "approve with: shipdeck approve{} ID",
        cfg.demo_flag()
    ));
    EXIT_OK
}
