//! A reading over HTTP against stand-in servers that misbehave on purpose:
//! the bearer token sent (and a missing one said), a server that never
//! answers, an answer larger than shipdeck reads, and what the reading then
//! puts into a platform's reading.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};

use super::Reader;
use crate::model::{AlarmState, EnvSnapshot, ServiceSnapshot, SourceState, Sources};
use crate::provider::ReadScope;
use crate::secrets::{MemoryStore, Redactor, Secrets};

const RULES: &str = r#"{"status":"success","data":{"groups":[{"name":"g","rules":[
  {"name":"ApiFailing","type":"alerting","health":"ok","alerts":[
    {"labels":{"alertname":"ApiFailing","service":"api"},"state":"firing","activeAt":"2026-01-01T00:00:00Z","value":"1"}]}]}]}}"#;

/// How the stand-in answers each request.
#[derive(Clone, Copy)]
enum Behaviour {
    /// `RULES`, 200.
    Rules,
    /// Reads the request, never answers.
    Silent,
    /// 17 MiB of body.
    Huge,
}

/// A stand-in server on a free port; the request heads it received.
fn serve(behaviour: Behaviour) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            log.lock().unwrap().push(head);
            match behaviour {
                Behaviour::Rules => {
                    let _ = write!(
                        conn,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{RULES}",
                        RULES.len()
                    );
                }
                Behaviour::Silent => {
                    // Holds the connection open without a word.
                    let _ = conn.read(&mut [0u8; 1]);
                }
                Behaviour::Huge => {
                    let n = 17 * 1024 * 1024;
                    let _ = write!(
                        conn,
                        "HTTP/1.1 200 OK\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n"
                    );
                    let chunk = vec![b'x'; 64 * 1024];
                    for _ in 0..n / chunk.len() {
                        if conn.write_all(&chunk).is_err() {
                            break;
                        }
                    }
                }
            }
        }
    });
    (port, seen)
}

fn config(port: u16, extra: &str) -> crate::config::Config {
    let text = format!(
        "[[environment]]\nname = \"dev\"\nregion = \"us-east-1\"\ncluster = \"dev\"\n\
         [environment.prometheus]\nurl = \"http://127.0.0.1:{port}\"\n{extra}\n\
         [[environment.service]]\nname = \"api\"\n\
         [[environment.service.alert]]\nname = \"ApiFailing\"\nlabels = {{ service = \"api\" }}\n"
    );
    crate::config::parse_str(&text, "c.toml", None).unwrap()
}

fn reader(env: &'static [(&'static str, &'static str)]) -> Reader {
    let secrets = Secrets::with_env(
        Arc::new(MemoryStore::default()),
        Redactor::default(),
        move |k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_string())
        },
    );
    Reader::new(crate::health::client().unwrap(), secrets)
}

/// A platform's reading of one service with one CloudWatch alarm, read.
fn platform() -> EnvSnapshot {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut api = ServiceSnapshot::bare("api", "api");
    api.alarms = vec![crate::model::Alarm {
        name: "api-5xx".into(),
        state: AlarmState::Ok,
        reason: "fine".into(),
        updated_at: at,
    }];
    EnvSnapshot {
        env: "dev".into(),
        read_at: at,
        services: vec![api],
        warnings: Vec::new(),
        sources: Sources {
            alarms: SourceState::Ready,
            metrics: SourceState::NotUsed,
        },
        index: crate::model::ServiceIndex::default(),
    }
}

#[tokio::test]
async fn the_token_is_sent_as_a_bearer_and_the_alert_joins_the_platforms_alarms() {
    let (port, seen) = serve(Behaviour::Rules);
    let cfg = config(port, "token = \"${secret:PROM_TOKEN}\"");
    let r = reader(&[("SHIPDECK_SECRET_PROM_TOKEN", "s3cret-token-value")])
        .read(&cfg.environments[0], ReadScope::STATUS)
        .await;
    let head = seen.lock().unwrap().join("");
    assert!(head.starts_with("GET /api/v1/rules?type=alert "), "{head}");
    assert!(
        head.contains("authorization: Bearer s3cret-token-value\r\n"),
        "{head}"
    );
    assert_eq!(r.alarms, SourceState::Ready);
    let snap = r.apply(platform());
    let api = &snap.services[0];
    let names: Vec<(&str, AlarmState)> = api.alarms.iter().map(|a| (&*a.name, a.state)).collect();
    assert_eq!(
        names,
        [
            ("api-5xx", AlarmState::Ok),
            ("ApiFailing{service=\"api\"}", AlarmState::Alarm)
        ]
    );
    assert_eq!(api.alarms_unknown, None);
    assert_eq!(snap.sources.alarms, SourceState::Ready);
}

#[tokio::test]
async fn a_fly_macaroon_is_sent_as_flyv1_and_a_named_scheme_as_it_is() {
    // Fly's Prometheus takes `fly tokens create` tokens as `FlyV1 <token>`.
    let (port, seen) = serve(Behaviour::Rules);
    let cfg = config(port, "token = \"${secret:FLY_METRICS_TOKEN}\"");
    let r = reader(&[("SHIPDECK_SECRET_FLY_METRICS_TOKEN", "fm2_lJPECAAAAAAAAA")])
        .read(&cfg.environments[0], ReadScope::STATUS)
        .await;
    assert_eq!(r.alarms, SourceState::Ready);
    let head = seen.lock().unwrap().join("");
    assert!(
        head.contains("authorization: FlyV1 fm2_lJPECAAAAAAAAA\r\n"),
        "{head}"
    );
    // A secret that already names its scheme goes unchanged, never doubled.
    let (port, seen) = serve(Behaviour::Rules);
    let cfg = config(port, "token = \"${secret:FLY_METRICS_TOKEN}\"");
    reader(&[("SHIPDECK_SECRET_FLY_METRICS_TOKEN", "FlyV1 fm2_a,fm2_b")])
        .read(&cfg.environments[0], ReadScope::STATUS)
        .await;
    let head = seen.lock().unwrap().join("");
    assert!(
        head.contains("authorization: FlyV1 fm2_a,fm2_b\r\n"),
        "{head}"
    );
    assert!(!head.contains("Bearer"), "{head}");
}

#[tokio::test]
async fn a_missing_token_secret_is_unknown_saying_how_to_set_it() {
    let (port, seen) = serve(Behaviour::Rules);
    let cfg = config(port, "token = \"${secret:PROM_TOKEN}\"");
    let snap = reader(&[])
        .read(&cfg.environments[0], ReadScope::STATUS)
        .await
        .apply(platform());
    let why = snap.services[0].alarms_unknown.clone().unwrap_or_default();
    assert!(
        why.contains("its token cannot be read: secret \"PROM_TOKEN\" is not set"),
        "{why}"
    );
    assert!(why.contains("shipdeck secret set PROM_TOKEN"), "{why}");
    assert!(
        snap.sources
            .alarms
            .error()
            .is_some_and(|e| e.contains("PROM_TOKEN"))
    );
    assert!(
        snap.warnings
            .iter()
            .any(|w| w.starts_with("alarms unreadable: Prometheus at"))
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing is sent without the token"
    );
    // The platform's own alarm is still there, and the summary is unknown, not OK.
    assert_eq!(snap.services[0].alarms.len(), 1);
    assert_eq!(
        snap.services[0].alarm_summary(),
        crate::model::AlarmSummary::Unreadable
    );
}

#[tokio::test]
async fn a_server_that_never_answers_is_unknown_after_its_timeout() {
    let (port, _) = serve(Behaviour::Silent);
    let cfg = config(port, "timeout = \"300ms\"");
    let started = std::time::Instant::now();
    let snap = reader(&[])
        .read(&cfg.environments[0], ReadScope::STATUS)
        .await
        .apply(platform());
    assert!(started.elapsed() < Duration::from_secs(10));
    let why = snap.services[0].alarms_unknown.clone().unwrap_or_default();
    assert!(
        why.contains(&format!(
            "Prometheus at http://127.0.0.1:{port}: no answer within 300ms"
        )),
        "{why}"
    );
    assert!(matches!(snap.sources.alarms, SourceState::Failed { .. }));
}

#[tokio::test]
async fn an_answer_larger_than_shipdeck_reads_is_unknown() {
    let (port, _) = serve(Behaviour::Huge);
    let cfg = config(port, "timeout = \"30s\"");
    let snap = reader(&[])
        .read(&cfg.environments[0], ReadScope::STATUS)
        .await
        .apply(platform());
    let why = snap.services[0].alarms_unknown.clone().unwrap_or_default();
    assert!(why.contains("the answer is larger than 16 MiB"), "{why}");
}

#[tokio::test]
async fn nothing_configured_reads_nothing_and_changes_nothing() {
    let cfg = crate::config::parse_str(
        "[[environment]]\nname = \"dev\"\nregion = \"us-east-1\"\ncluster = \"dev\"\n[[environment.service]]\nname = \"api\"\n",
        "c.toml",
        None,
    )
    .unwrap();
    let r = super::read(&cfg.environments[0], ReadScope::CONSOLE).await;
    assert!(r.is_empty());
    assert_eq!(r.apply(platform()), platform());
}
