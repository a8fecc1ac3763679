use super::*;
use crate::app::keys::Key;
use crate::app::keys::KeyCode;
use crate::app::timeline::EntryKind;
use crate::config;
use crate::config::EnvId;
use crate::model::Health;
use crate::provider::ProviderError;
use chrono::TimeZone;
use rstest::rstest;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap()
}

fn app() -> App {
    App::new(
        &config::demo().unwrap(),
        KeyMap::default(),
        "tester".into(),
        t0(),
    )
}

fn key(app: &mut App, k: Key) -> Vec<Command> {
    update(app, Msg::Key(k))
}

fn snap(env: &str, at: DateTime<Utc>) -> EnvSnapshot {
    EnvSnapshot {
        env: env.into(),
        read_at: at,
        services: vec![],
        warnings: vec![],
        sources: crate::model::Sources::default(),
        index: crate::model::ServiceIndex::default(),
    }
}

#[test]
fn first_tick_polls_every_environment_once() {
    let mut a = app();
    let cmds = update(&mut a, Msg::Tick(t0()));
    assert_eq!(cmds.len(), 3);
    assert!(a.envs.iter().all(|e| e.freshness == Freshness::Loading));
    // At most one request in flight per environment.
    assert!(update(&mut a, Msg::Tick(t0() + chrono::Duration::seconds(30))).is_empty());
}

#[test]
fn success_schedules_next_poll_at_refresh_interval() {
    let mut a = app();
    let cmds = update(&mut a, Msg::Tick(t0()));
    let Command::PollEnv { env, request } = cmds[0].clone() else {
        panic!()
    };
    update(
        &mut a,
        Msg::EnvPolled {
            env,
            request,
            at: t0(),
            result: Ok(snap("dev", t0())),
        },
    );
    assert_eq!(a.envs[0].freshness, Freshness::Ready { at: t0() });
    assert!(update(&mut a, Msg::Tick(t0() + chrono::Duration::seconds(1))).is_empty());
    let cmds = update(&mut a, Msg::Tick(t0() + chrono::Duration::seconds(2)));
    assert_eq!(
        cmds,
        vec![Command::PollEnv {
            env: EnvId(0),
            request: 4
        }]
    );
}

#[test]
fn superseded_answers_are_ignored() {
    let mut a = app();
    update(&mut a, Msg::Tick(t0()));
    update(
        &mut a,
        Msg::EnvPolled {
            env: EnvId(0),
            request: 999,
            at: t0(),
            result: Ok(snap("dev", t0())),
        },
    );
    assert_eq!(a.envs[0].freshness, Freshness::Loading);
    assert!(a.envs[0].in_flight.is_some());
}

#[test]
fn freshness_goes_stale_then_ready_and_errors_reach_the_timeline_once() {
    let mut a = app();
    let err = || {
        Err(ProviderError::Network {
            message: "connection refused".into(),
        })
    };
    update(&mut a, Msg::Tick(t0()));
    update(
        &mut a,
        Msg::EnvPolled {
            env: EnvId(0),
            request: 1,
            at: t0(),
            result: Ok(snap("dev", t0())),
        },
    );
    let t1 = t0() + chrono::Duration::seconds(5);
    let cmds = update(&mut a, Msg::Tick(t1));
    let Command::PollEnv { request, .. } = cmds[0] else {
        panic!()
    };
    update(
        &mut a,
        Msg::EnvPolled {
            env: EnvId(0),
            request,
            at: t1,
            result: err(),
        },
    );
    assert!(
        matches!(&a.envs[0].freshness, Freshness::Stale { last_good, .. } if *last_good == t0())
    );
    let errors = a
        .timeline
        .entries()
        .iter()
        .filter(|e| e.kind == EntryKind::Error)
        .count();
    assert_eq!(errors, 1);
    // Same error again: no new timeline entry.
    let t2 = t1 + chrono::Duration::seconds(60);
    let cmds = update(&mut a, Msg::Tick(t2));
    let Command::PollEnv { request, .. } = cmds[0] else {
        panic!()
    };
    update(
        &mut a,
        Msg::EnvPolled {
            env: EnvId(0),
            request,
            at: t2,
            result: err(),
        },
    );
    assert_eq!(
        a.timeline
            .entries()
            .iter()
            .filter(|e| e.kind == EntryKind::Error)
            .count(),
        1
    );
    assert_eq!(a.envs[0].failures, 2);
}

#[test]
fn failure_without_data_is_failed_not_stale() {
    let mut a = app();
    update(&mut a, Msg::Tick(t0()));
    let result = Err(ProviderError::Auth {
        message: "expired SSO session".into(),
    });
    update(
        &mut a,
        Msg::EnvPolled {
            env: EnvId(1),
            request: 2,
            at: t0(),
            result,
        },
    );
    assert!(matches!(a.envs[1].freshness, Freshness::Failed { .. }));
}

#[rstest]
#[case(1, BACKOFF_BASE)]
#[case(2, BACKOFF_BASE * 2)]
#[case(3, BACKOFF_BASE * 4)]
#[case(30, BACKOFF_MAX)]
fn backoff_grows_and_is_capped(#[case] failures: u32, #[case] base: Duration) {
    for request in [1, 7, 12345, u64::MAX] {
        let d = backoff(failures, request, None);
        assert!(d >= base, "{d:?} < {base:?}");
        assert!(d <= base + base / 4, "{d:?} beyond jitter");
    }
}

#[test]
fn backoff_jitter_differs_between_requests_and_honours_retry_after() {
    assert_ne!(backoff(3, 1, None), backoff(3, 2, None));
    assert!(backoff(1, 1, Some(Duration::from_secs(30))) >= Duration::from_secs(30));
}

#[test]
fn throttling_backs_off_longer_each_time() {
    let mut a = app();
    let mut t = t0();
    let mut waits = Vec::new();
    update(&mut a, Msg::Tick(t));
    let mut request = 1;
    for _ in 0..4 {
        let result = Err(ProviderError::Throttled {
            message: "Rate exceeded".into(),
            retry_after: None,
        });
        update(
            &mut a,
            Msg::EnvPolled {
                env: EnvId(0),
                request,
                at: t,
                result,
            },
        );
        let next = a.envs[0].next_poll.unwrap();
        waits.push(next - t);
        t = next;
        let cmds = update(&mut a, Msg::Tick(t));
        request = cmds
            .iter()
            .find_map(|c| match c {
                Command::PollEnv {
                    env: EnvId(0),
                    request,
                } => Some(*request),
                _ => None,
            })
            .unwrap();
    }
    assert!(waits.windows(2).all(|w| w[1] > w[0]), "{waits:?}");
}

#[test]
fn navigation_stays_in_bounds() {
    let mut a = app();
    let n = a.services.len();
    for _ in 0..20 {
        key(&mut a, Key::ch('j'));
    }
    assert_eq!(a.row, n - 1);
    key(&mut a, Key::ch('g'));
    assert_eq!(a.row, 0);
    key(&mut a, Key::plain(KeyCode::Up));
    assert_eq!(a.row, 0);
    key(&mut a, Key::ch('l'));
    key(&mut a, Key::ch('l'));
    key(&mut a, Key::ch('l'));
    assert_eq!(a.col, EnvId(2));
    key(&mut a, Key::plain(KeyCode::Left));
    assert_eq!(a.col, EnvId(1));
    key(&mut a, Key::ch('G'));
    assert_eq!(a.row, n - 1);
}

#[test]
fn filtering_narrows_rows_and_esc_clears() {
    let mut a = app();
    key(&mut a, Key::ch('j'));
    key(&mut a, Key::ch('j'));
    key(&mut a, Key::ch('/'));
    assert_eq!(a.overlay, Overlay::Filter);
    for c in "PAY".chars() {
        key(&mut a, Key::ch(c));
    }
    assert_eq!(a.visible_services(), vec!["payments"]);
    assert_eq!(a.row, 0);
    key(&mut a, Key::plain(KeyCode::Enter));
    assert_eq!(a.overlay, Overlay::None);
    assert_eq!(a.selected_service(), Some("payments"));
    // The filter stays applied; letters now are actions again.
    key(&mut a, Key::ch('j'));
    assert_eq!(a.row, 0);
    key(&mut a, Key::plain(KeyCode::Esc));
    assert!(a.filter.is_empty());
    assert_eq!(a.visible_services().len(), a.services.len());
}

#[test]
fn filter_with_no_match_has_no_selection() {
    let mut a = app();
    key(&mut a, Key::ch('/'));
    key(&mut a, Key::ch('z'));
    key(&mut a, Key::ch('z'));
    assert!(a.visible_services().is_empty());
    assert_eq!(a.selected_service(), None);
    key(&mut a, Key::plain(KeyCode::Backspace));
    key(&mut a, Key::plain(KeyCode::Backspace));
    assert_eq!(a.visible_services().len(), a.services.len());
}

#[test]
fn env_scope_picker() {
    let mut a = app();
    key(&mut a, Key::ch('e'));
    assert_eq!(a.overlay, Overlay::EnvPicker(0));
    key(&mut a, Key::ch('j'));
    key(&mut a, Key::ch('j'));
    key(&mut a, Key::ch('j'));
    key(&mut a, Key::ch('j'));
    assert_eq!(a.overlay, Overlay::EnvPicker(3));
    key(&mut a, Key::plain(KeyCode::Enter));
    assert_eq!(a.env_scope, Some(EnvId(2)));
    assert_eq!(a.visible_envs(), vec![EnvId(2)]);
    assert_eq!(a.col, EnvId(2));
    // Left/right do not leave the scoped column.
    key(&mut a, Key::ch('h'));
    assert_eq!(a.col, EnvId(2));
    key(&mut a, Key::plain(KeyCode::Esc));
    assert_eq!(a.env_scope, None);
}

#[test]
fn timeline_scope_cycles_and_panes_rotate() {
    let mut a = app();
    key(&mut a, Key::ch('t'));
    assert_eq!(a.timeline_scope, TimelineScope::Service);
    key(&mut a, Key::ch('t'));
    assert_eq!(a.timeline_scope, TimelineScope::Environment);
    key(&mut a, Key::ch('t'));
    assert_eq!(a.timeline_scope, TimelineScope::All);
    key(&mut a, Key::plain(KeyCode::Tab));
    assert_eq!(a.focus, Pane::Timeline);
    key(&mut a, Key::plain(KeyCode::Tab));
    assert_eq!(a.focus, Pane::Board);
    key(&mut a, Key::plain(KeyCode::Enter));
    assert!(a.detail_open);
    assert_eq!(a.focus, Pane::Detail);
    key(&mut a, Key::plain(KeyCode::BackTab));
    assert_eq!(a.focus, Pane::Board);
    key(&mut a, Key::plain(KeyCode::Esc));
    assert!(!a.detail_open);
}

#[test]
fn help_opens_and_closes() {
    let mut a = app();
    key(&mut a, Key::ch('?'));
    assert_eq!(a.overlay, Overlay::Help);
    key(&mut a, Key::ch('j'));
    assert_eq!(
        a.overlay,
        Overlay::Help,
        "other keys do not leak through the overlay"
    );
    assert_eq!(a.row, 0);
    key(&mut a, Key::ch('?'));
    assert_eq!(a.overlay, Overlay::None);
}

#[test]
fn quit_keys() {
    let mut a = app();
    assert_eq!(key(&mut a, Key::ch('q')), vec![Command::Quit]);
    let mut a = app();
    key(&mut a, Key::ch('/'));
    assert_eq!(
        key(&mut a, Key::ctrl('c')),
        vec![Command::Quit],
        "ctrl-c quits even while typing"
    );
}

#[test]
fn refresh_polls_idle_environments_only() {
    let mut a = app();
    update(&mut a, Msg::Tick(t0()));
    update(
        &mut a,
        Msg::EnvPolled {
            env: EnvId(0),
            request: 1,
            at: t0(),
            result: Ok(snap("dev", t0())),
        },
    );
    let cmds = key(&mut a, Key::ch('R'));
    assert_eq!(cmds.len(), 1, "two are still in flight");
}

#[test]
fn read_only_refuses_mutations_with_a_reason() {
    let mut a = app();
    a.read_only = true;
    key(&mut a, Key::ch('p'));
    let (level, text) = a.message.clone().unwrap();
    assert_eq!(level, Level::Warn);
    assert!(text.contains("read-only mode"), "{text}");
    key(&mut a, Key::ch('r'));
    assert!(
        a.message
            .unwrap()
            .1
            .starts_with("cannot roll back: read-only mode")
    );
}

#[test]
fn timeline_scrolls_and_returns_to_follow() {
    let mut a = app();
    for i in 0..30 {
        a.timeline.push(
            format!("k{i}"),
            t0() + chrono::Duration::seconds(i),
            "dev",
            None,
            EntryKind::Event,
            "x",
            false,
        );
    }
    key(&mut a, Key::plain(KeyCode::Tab));
    assert_eq!(a.focus, Pane::Timeline);
    key(&mut a, Key::ch('k'));
    key(&mut a, Key::ch('k'));
    assert_eq!(a.timeline.scroll, 2);
    assert!(!a.timeline.following());
    key(&mut a, Key::ch('G'));
    assert!(a.timeline.following());
}

proptest::proptest! {
    #[test]
    fn selection_always_in_bounds(keys in proptest::collection::vec(0usize..16, 0..200)) {
        let table = [
            Key::ch('j'), Key::ch('k'), Key::ch('h'), Key::ch('l'), Key::ch('/'), Key::ch('a'),
            Key::plain(KeyCode::Enter), Key::plain(KeyCode::Esc), Key::plain(KeyCode::Backspace),
            Key::ch('e'), Key::ch('G'), Key::ch('g'), Key::plain(KeyCode::Tab), Key::ch('t'),
            Key::ch('?'), Key::plain(KeyCode::PageDown),
        ];
        let mut a = app();
        for k in keys {
            update(&mut a, Msg::Key(table[k]));
            let rows = a.visible_services().len();
            proptest::prop_assert!(rows == 0 || a.row < rows);
            proptest::prop_assert!(a.col.index() < a.envs.len());
            proptest::prop_assert!(a.env_scope.is_none_or(|i| i.index() < a.envs.len()));
        }
    }
}

fn probe_result(at: DateTime<Utc>, ok: bool) -> crate::health::ProbeResult {
    crate::health::ProbeResult {
        at,
        status: Some(if ok { 200 } else { 503 }),
        latency: Duration::from_millis(25),
        ok,
        reason: if ok {
            "answered 200".into()
        } else {
            "answered 503, expected 200: down".into()
        },
    }
}

#[test]
fn probe_results_replace_provider_health_and_reach_the_timeline() {
    let mut a = app();
    update(&mut a, Msg::Tick(t0()));
    let cfg = config::demo().unwrap();
    let svc = crate::model::ServiceSnapshot::bare("api", "shop-api-dev");
    let mut s = snap("dev", t0());
    s.services.push(svc);
    update(
        &mut a,
        Msg::EnvPolled {
            env: EnvId(0),
            request: 1,
            at: t0(),
            result: Ok(s.clone()),
        },
    );
    update(
        &mut a,
        Msg::HealthProbed {
            env: EnvId(0),
            service: "api".into(),
            result: probe_result(t0(), true),
        },
    );
    assert!(matches!(
        a.envs[0].snapshot.as_ref().unwrap().services[0].health,
        Health::Healthy { .. }
    ));
    let t1 = t0() + chrono::Duration::seconds(5);
    update(
        &mut a,
        Msg::HealthProbed {
            env: EnvId(0),
            service: "api".into(),
            result: probe_result(t1, false),
        },
    );
    assert!(
        a.envs[0].snapshot.as_ref().unwrap().services[0]
            .health
            .is_bad()
    );
    assert!(
        a.timeline
            .entries()
            .iter()
            .any(|e| e.kind == EntryKind::Health && e.bad && e.text.contains("503"))
    );
    // A new reading from the provider keeps the probed health.
    let cmds = update(&mut a, Msg::Tick(t1 + chrono::Duration::seconds(10)));
    let request = cmds
        .iter()
        .find_map(|c| match c {
            Command::PollEnv {
                env: EnvId(0),
                request,
            } => Some(*request),
            _ => None,
        })
        .unwrap();
    update(
        &mut a,
        Msg::EnvPolled {
            env: EnvId(0),
            request,
            at: t1,
            result: Ok(s),
        },
    );
    assert!(
        a.envs[0].snapshot.as_ref().unwrap().services[0]
            .health
            .is_bad()
    );
    drop(cfg);
}

#[test]
fn smoke_key_runs_once_and_reports() {
    let mut a = app();
    // The demo has no smoke checks: a clear refusal.
    assert!(key(&mut a, Key::ch('s')).is_empty());
    assert!(a.message.clone().unwrap().1.contains("no smoke checks"));
    // Whether smoke checks exist is read from the configuration, not copied.
    std::sync::Arc::make_mut(&mut a.cfg).environments[0]
        .smoke
        .push(crate::config::SmokeCheck {
            name: "home".into(),
            method: "GET".into(),
            url: "https://www.dev.example/".into(),
            expected_status: 200,
            body_contains: None,
            timeout: std::time::Duration::from_secs(5),
        });
    assert_eq!(
        key(&mut a, Key::ch('s')),
        vec![Command::RunSmoke { env: EnvId(0) }]
    );
    assert!(key(&mut a, Key::ch('s')).is_empty(), "one run at a time");
    let results = vec![crate::health::SmokeResult {
        name: "home".into(),
        passed: false,
        reason: "answered 500".into(),
    }];
    update(
        &mut a,
        Msg::SmokeFinished {
            env: EnvId(0),
            at: t0(),
            results,
        },
    );
    assert_eq!(
        a.message.clone().unwrap(),
        (Level::Warn, "smoke dev: 0 passed, 1 failed".to_string())
    );
    assert!(
        a.timeline
            .entries()
            .iter()
            .any(|e| e.text.starts_with("smoke FAILED home"))
    );
    assert_eq!(
        key(&mut a, Key::ch('s')),
        vec![Command::RunSmoke { env: EnvId(0) }]
    );
}

#[test]
fn interrupted_promotions_are_shown_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let l = crate::ledger::Ledger::new(dir.path().join("l"));
    let d = crate::ledger::Draft {
        operator: "alice".into(),
        env: Some("prod".into()),
        service: Some("api".into()),
        ..crate::ledger::Draft::default()
    };
    l.append(crate::ledger::RecordKind::DeployIssued, d, t0())
        .unwrap();
    let open = crate::stable::interrupted(&l.read().unwrap());
    let mut a = app();
    a.note_interrupted(&open);
    assert!(
        a.timeline
            .entries()
            .iter()
            .any(|e| e.bad && e.text.starts_with("INTERRUPTED: promotion of api in prod"))
    );
    assert_eq!(a.message.unwrap().0, Level::Warn);
}

#[test]
fn probed_latency_series_is_not_mixed_with_provider_readings() {
    let mut a = app();
    update(&mut a, Msg::Tick(t0()));
    let mut s = snap("dev", t0());
    let cfg = config::demo().unwrap();
    let fleet = crate::platforms::sim::SimFleet::demo(
        7,
        std::sync::Arc::new(crate::clock::ManualClock::new(t0())),
    )
    .unwrap();
    let real = futures::executor::block_on(crate::provider::Provider::read_env(
        &fleet,
        &cfg.environments[0],
        crate::provider::ReadScope::CONSOLE,
    ))
    .unwrap();
    s.services = real
        .services
        .into_iter()
        .filter(|x| x.name == "api")
        .collect();
    // Without probes the provider's latency feeds the series.
    update(
        &mut a,
        Msg::EnvPolled {
            env: EnvId(0),
            request: 1,
            at: t0(),
            result: Ok(s.clone()),
        },
    );
    assert_eq!(a.latencies(EnvId(0), "api"), vec![42]);
    // Once probed, only probe results count, whatever the provider reports.
    update(
        &mut a,
        Msg::HealthProbed {
            env: EnvId(0),
            service: "api".into(),
            result: probe_result(t0(), true),
        },
    );
    let cmds = update(&mut a, Msg::Tick(t0() + chrono::Duration::seconds(5)));
    let Command::PollEnv { request, .. } = cmds[0] else {
        panic!("{cmds:?}")
    };
    update(
        &mut a,
        Msg::EnvPolled {
            env: EnvId(0),
            request,
            at: t0(),
            result: Ok(s),
        },
    );
    assert_eq!(a.latencies(EnvId(0), "api"), vec![25]);
}
