//! Snapshot of the status table for the demo fleet, on a fixed clock.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use shipdeck::clock::ManualClock;
use shipdeck::platforms::sim::SimFleet;
use shipdeck::provider::AnyProvider;
use shipdeck::status::{self, Filter, Style};

#[tokio::test]
async fn demo_status_table() {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap());
    let cfg = shipdeck::config::demo().unwrap();
    let provider = AnyProvider::Sim(SimFleet::demo(7, Arc::new(clock.clone())).unwrap());
    let readings = status::read_all(&cfg, &provider).await;
    let report = status::build(&cfg, &readings, &Filter::default(), clock.now());
    insta::assert_snapshot!(status::render_table(&report, Style { color: false }));
    // Colour is never the only signal: the coloured table has the same symbols.
    let coloured = status::render_table(&report, Style { color: true });
    assert!(coloured.contains("\u{1b}[31;1m✗ 1 ALARM"));
}

use shipdeck::clock::Clock as _;

/// The demo on a fixed clock with `service`'s staging digest deployed into
/// prod: what `status` says while that rollout is in flight.
struct Rollout {
    clock: ManualClock,
    cfg: shipdeck::config::Config,
    provider: AnyProvider,
}

impl Rollout {
    async fn start(service: &str) -> Self {
        use shipdeck::provider::Provider as _;
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap());
        let cfg = shipdeck::config::demo().unwrap();
        let provider = AnyProvider::Sim(SimFleet::demo(7, Arc::new(clock.clone())).unwrap());
        let staging = cfg.env("staging").unwrap();
        let digest = provider
            .read_env(staging, shipdeck::provider::ReadScope::STATUS)
            .await
            .unwrap()
            .service(service)
            .unwrap()
            .digest
            .clone()
            .unwrap();
        let prod = cfg.env("prod").unwrap();
        provider
            .deploy(prod, prod.service(service).unwrap(), &digest)
            .await
            .unwrap();
        Self {
            clock,
            cfg,
            provider,
        }
    }

    async fn report(&self, service: &str) -> status::StatusReport {
        let readings = status::read_all(&self.cfg, &self.provider).await;
        let filter = Filter {
            envs: Vec::new(),
            services: vec![service.to_string()],
        };
        status::build(&self.cfg, &readings, &filter, self.clock.now())
    }
}

/// The prod row of a one-service table.
fn prod_row(table: &str) -> &str {
    table
        .lines()
        .find(|l| l.trim_start().starts_with("prod ") && !l.contains("[PROD]"))
        .unwrap_or_else(|| panic!("no prod row:\n{table}"))
}

#[tokio::test]
async fn a_rolling_deploy_is_in_progress_until_it_lands_then_up_to_date() {
    use shipdeck::model::drift::Behind;
    let r = Rollout::start("api").await;
    r.clock.advance(std::time::Duration::from_secs(2));
    let report = r.report("api").await;
    let cell = &report.services[0].cells[2];
    assert_eq!((cell.env.as_str(), cell.in_progress), ("prod", true));
    assert_eq!(cell.behind, Behind::RollingOut);
    assert_eq!(report.verdict, status::Verdict::InProgress);
    assert_eq!(report.verdict(), status::Verdict::InProgress);
    assert!(report.in_progress && report.degraded && !report.unknown);
    let table = status::render_table(&report, Style { color: false });
    let row = prod_row(&table);
    assert!(
        row.contains("◐ in progress") && row.contains("rolling out"),
        "{row}"
    );
    assert!(!row.contains("up to date"), "{row}");
    assert!(!table.contains("all healthy"), "{table}");
    assert!(
        table.contains("◐ in progress: prod/api rolling out shop-api:4 ("),
        "{table}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["verdict"], "in_progress");
    assert_eq!(json["in_progress"], true);
    assert_eq!(json["services"][0]["cells"][2]["in_progress"], true);
    assert_eq!(
        json["services"][0]["cells"][2]["behind"]["kind"],
        "rolling_out"
    );
    assert_eq!(json["problems"][0]["kind"], "in_progress");
    assert_eq!(json["problems"][0]["env"], "prod");
    assert_eq!(json["problems"][0]["service"], "api");
    // Once it lands: up to date and healthy, exit 0 again.
    let mut landed = None;
    for _ in 0..300 {
        r.clock.advance(std::time::Duration::from_secs(1));
        let report = r.report("api").await;
        if !report.in_progress {
            landed = Some(report);
            break;
        }
    }
    let report = landed.expect("the rollout never landed");
    assert_eq!(report.services[0].cells[2].behind, Behind::UpToDate);
    assert_eq!(report.verdict, status::Verdict::Healthy);
    let table = status::render_table(&report, Style { color: false });
    assert!(prod_row(&table).contains("up to date"), "{table}");
    assert!(table.contains("✓ all healthy"), "{table}");
}

/// The demo's notifications canary into prod, paused at 10 % for a decision
/// (as `status --demo` saw it in issue 27, saying "up to date" and "all healthy").
#[tokio::test]
async fn the_demos_paused_canary_is_in_progress_not_up_to_date() {
    let r = Rollout::start("notifications").await;
    let mut paused = None;
    for _ in 0..600 {
        r.clock.advance(std::time::Duration::from_secs(1));
        let report = r.report("notifications").await;
        if report
            .problems
            .iter()
            .any(|p| p.kind == status::ProblemKind::Paused)
        {
            paused = Some(report);
            break;
        }
        // On its way to the pause it is in progress already.
        assert_eq!(report.verdict, status::Verdict::InProgress, "{report:?}");
    }
    let report = paused.expect("the canary never paused");
    assert_eq!(report.verdict, status::Verdict::InProgress);
    assert_eq!(status::EXIT_IN_PROGRESS, 5);
    let table = status::render_table(&report, Style { color: false });
    let row = prod_row(&table);
    assert!(row.contains("⏸ canary 10% · awaiting decision"), "{row}");
    assert!(
        row.contains("rolling out") && !row.contains("up to date"),
        "{row}"
    );
    assert!(
        table.contains(
            "◐ in progress: prod/notifications canary 10% · awaiting decision (shop-notifications:2)"
        ),
        "{table}"
    );
    assert!(!table.contains("all healthy"), "{table}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["verdict"], "in_progress");
    assert_eq!(json["problems"][0]["kind"], "paused");
    assert_eq!(json["problems"][0]["severity"], "in_progress");
    assert_eq!(
        json["services"][0]["cells"][2]["behind"]["kind"],
        "rolling_out"
    );
    // The whole demo: payments' alarm still makes it degraded, and the canary
    // is still named below the summary.
    let readings = status::read_all(&r.cfg, &r.provider).await;
    let all = status::build(&r.cfg, &readings, &Filter::default(), r.clock.now());
    assert_eq!(all.verdict, status::Verdict::Degraded);
    let table = status::render_table(&all, Style { color: false });
    assert!(
        table.contains("  ◐ prod/notifications: canary 10% · awaiting decision"),
        "{table}"
    );
}

/// `status` names each degraded cell and why, in the table as in the JSON.
#[tokio::test]
async fn status_names_each_degraded_cell_and_why() {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap());
    let cfg = shipdeck::config::demo().unwrap();
    let fleet = SimFleet::demo(7, Arc::new(clock.clone())).unwrap();
    // An alarm without data (the demo's staging search had one while it ran
    // on ECS; on Kubernetes it watches no CloudWatch alarm).
    fleet.inject(shipdeck::platforms::sim::Fault::SetAlarm {
        env: "staging".into(),
        alarm: "shop-notifications-staging-p95".into(),
        state: shipdeck::model::AlarmState::InsufficientData,
    });
    let provider = AnyProvider::Sim(fleet);
    let readings = status::read_all(&cfg, &provider).await;
    let report = status::build(&cfg, &readings, &Filter::default(), clock.now());
    let table = status::render_table(&report, Style { color: false });
    assert!(
        table.contains("✗ degraded: prod/payments alarm shop-payments-prod-5xx in ALARM"),
        "{table}"
    );
    assert!(!table.contains("see rows marked"), "{table}");
    let json = serde_json::to_value(&report).unwrap();
    let problems = json["problems"].as_array().unwrap();
    assert_eq!(
        problems[0],
        serde_json::json!({
            "env": "prod", "service": "payments", "kind": "alarm", "severity": "degraded",
            "reason": "alarm shop-payments-prod-5xx in ALARM"
        })
    );
    assert!(problems.iter().any(|p| p["env"] == "staging"
        && p["service"] == "notifications"
        && p["kind"] == "unknown"
        && p["reason"].as_str().unwrap().contains("INSUFFICIENT_DATA")));
    assert_eq!(json["verdict"], "degraded");
    // An environment that cannot be read is named as one problem, with why.
    let mut readings = readings;
    readings[2] = Err(shipdeck::provider::ProviderError::Network {
        message: "cannot connect to ecs.eu-central-1".into(),
    });
    let report = status::build(&cfg, &readings, &Filter::default(), clock.now());
    let table = status::render_table(&report, Style { color: false });
    assert!(
        table.contains("✗ degraded: prod unreadable: network: cannot connect to ecs.eu-central-1"),
        "{table}"
    );
    let unreadable = &report.problems[0];
    assert_eq!(unreadable.service, None);
    assert_eq!(unreadable.kind, status::ProblemKind::Unreadable);
}

/// A deployment the platform rolled back by itself (ECS's circuit breaker,
/// simulated): `status` names it in generic words, with the platform's own
/// name for what did it.
#[tokio::test]
async fn a_deployment_the_platform_rolled_back_by_itself_is_named_in_its_words() {
    use shipdeck::platforms::sim::Fault;
    use shipdeck::provider::Provider as _;
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap());
    let cfg = shipdeck::config::demo().unwrap();
    let fleet = SimFleet::demo(7, Arc::new(clock.clone())).unwrap();
    fleet.inject(Fault::CircuitBreakerRollback {
        env: "staging".into(),
        service: "shop-api-staging".into(),
    });
    let provider = AnyProvider::Sim(fleet);
    let staging = cfg.env("staging").unwrap();
    let digest = shipdeck::model::Digest::of_bytes(b"new release");
    provider
        .deploy(staging, staging.service("api").unwrap(), &digest)
        .await
        .unwrap();
    clock.advance(std::time::Duration::from_secs(30));
    let readings = status::read_all(&cfg, &provider).await;
    let filter = Filter {
        envs: vec!["staging".to_string()],
        services: vec!["api".to_string()],
    };
    let report = status::build(&cfg, &readings, &filter, clock.now());
    let table = status::render_table(&report, Style { color: false });
    assert!(
        table.contains(
            "✗ degraded: staging/api the platform rolled the failed rollout back by itself \
             (ECS's circuit breaker or alarm rollback): ECS deployment circuit breaker"
        ),
        "{table}"
    );
}
