//! The simulator's logs: plausible request lines from each running task, as
//! the `awslogs` driver would ship them (one stream per task,
//! `ecs/<container>/<task id>`), so that the demo's logs pane shows what a
//! release does. A line is a stable function of the service, the task and the
//! second, so a reading repeats exactly for the same time; a scenario's
//! errors (a game-day `error_rate` or `latency` effect, a health outage) show
//! in the lines of the revision being rolled out.

use chrono::{DateTime, Utc};

use super::script::MetricKind;
use super::service::SimService;
use super::{SimFleet, chrono_dur};
use crate::config::{EnvConfig, ServiceConfig};
use crate::model::logs::{LogConfig, LogLine, LogOrigin, LogPage};
use crate::model::{DeploymentRole, Digest};
use crate::provider::{LogQuery, ProviderError};

/// The longest stretch of the past a reading goes back.
const BACKLOG: chrono::Duration = chrono::Duration::minutes(3);
/// Lines returned per reading at most (the newest are kept).
const LINES_PER_PAGE: usize = 500;
/// The usual share of failed requests, in percent.
const USUAL_ERRORS: f64 = 0.5;

/// What a service's requests look like.
const REQUESTS: [(&str, &str); 8] = [
    ("GET", "/api/products"),
    ("GET", "/api/products/4411"),
    ("GET", "/api/cart"),
    ("POST", "/api/cart/items"),
    ("POST", "/api/orders"),
    ("GET", "/api/orders/88231"),
    ("GET", "/health"),
    ("GET", "/api/search?q=boots"),
];
/// Why a failed request failed.
const FAILURES: [&str; 4] = [
    "upstream payments: connection reset by peer",
    "database: deadline exceeded after 2000ms",
    "NullPointerException in OrderService.total (OrderService.java:142)",
    "upstream inventory answered 503",
];

/// The default log driver of a simulated service.
pub(super) fn awslogs() -> String {
    "awslogs".to_string()
}

/// A stable number from text.
fn hash(text: &str) -> u64 {
    let d = Digest::of_bytes(text.as_bytes());
    u64::from_str_radix(&d.short()[..12], 16).unwrap_or(0)
}

/// One generated line with its id.
struct Generated {
    id: String,
    line: LogLine,
}

impl SimService {
    /// Where the container's logs go, as its task definition says.
    pub(super) fn log_config(&self, container: &str) -> LogConfig {
        match self.log_driver.as_str() {
            "awslogs" => LogConfig::Awslogs {
                group: format!("/ecs/{}", self.ecs_service),
                stream_prefix: Some("ecs".to_string()),
                region: None,
                container: container.to_string(),
            },
            "none" | "" => LogConfig::Other {
                driver: None,
                container: container.to_string(),
            },
            other => LogConfig::Other {
                driver: Some(other.to_string()),
                container: container.to_string(),
            },
        }
    }

    /// The id of task `n` of deployment `id`, as ECS names tasks (32 hex digits).
    fn task_id(&self, deployment: &str, n: u32) -> String {
        Digest::of_bytes(format!("{}:{deployment}:{n}", self.ecs_service).as_bytes()).as_str()
            [7..39]
            .to_string()
    }

    /// A metric of the tasks of `revision`, moved by the game-day effects
    /// that hit it at `t`, from `usual`. An effect hits the revision the
    /// service ran when it began, and its tasks for as long as they run: a
    /// bad release keeps failing while a rollback drains it, and read after
    /// the rollback its lines still show its errors.
    fn shifted(&self, kind: MetricKind, revision: u32, usual: f64, t: DateTime<Utc>) -> f64 {
        self.shifts
            .iter()
            .filter(|s| s.metric == kind && s.revision.is_none_or(|r| r == revision))
            .fold(usual, |v, s| {
                let mut s = s.clone();
                s.until = None;
                s.apply(v, t)
            })
    }

    /// The lines logged in `(from, to]`, oldest first.
    fn log_lines(&self, container: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Generated> {
        let mut out = Vec::new();
        for d in self.deployments.iter().filter(|d| d.running > 0) {
            let version = self
                .revisions
                .iter()
                .find(|r| r.revision == d.revision)
                .and_then(|r| r.version.clone())
                .unwrap_or_else(|| format!("revision {}", d.revision));
            let newest = d.role == DeploymentRole::Primary;
            for n in 0..d.running {
                let task = self.task_id(&d.id, n);
                let stream = format!("ecs/{container}/{task}");
                // Tasks start a few seconds apart after their deployment began.
                let started =
                    d.created_at + chrono_dur(std::time::Duration::from_secs(3 * u64::from(n) + 2));
                let mut push = |at: DateTime<Utc>, k: &str, text: String| {
                    if at > from && at <= to {
                        out.push(Generated {
                            id: format!("{task}-{}-{k}", at.timestamp_millis()),
                            line: LogLine {
                                at,
                                stream: stream.clone(),
                                text,
                            },
                        });
                    }
                };
                push(
                    started,
                    "start",
                    format!(
                        "INFO starting {} {version} (task definition {}:{})",
                        self.family, self.family, d.revision
                    ),
                );
                push(
                    started + chrono::Duration::milliseconds(850),
                    "ready",
                    "INFO listening on :8080, ready for traffic".to_string(),
                );
                let first = from.max(started).timestamp() + 1;
                for sec in first..=to.timestamp() {
                    // A request line each second (a release failing for a
                    // few seconds shows its errors).
                    let h = hash(&format!("{task}:{sec}"));
                    let Some(at) = DateTime::from_timestamp(sec, 0).map(|t| {
                        t + chrono::Duration::milliseconds(
                            i64::try_from((h >> 8) % 1000).unwrap_or(0),
                        )
                    }) else {
                        continue;
                    };
                    let (method, path) = REQUESTS[usize::try_from((h >> 20) % 8).unwrap_or(0)];
                    let errors = self.shifted(MetricKind::ErrorRate, d.revision, USUAL_ERRORS, at);
                    let usual_ms = f64::from(self.latency_ms.unwrap_or(40));
                    let typical = self.shifted(MetricKind::Latency, d.revision, usual_ms, at);
                    #[allow(clippy::cast_precision_loss)] // a value below 10,000
                    let roll = ((h >> 30) % 10_000) as f64 / 100.0;
                    #[allow(clippy::cast_precision_loss)]
                    let spread = 0.5 + ((h >> 44) % 100) as f64 / 100.0;
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let ms = (typical * spread).round().max(1.0) as u64;
                    let text = if path == "/health" && newest && self.is_down(at) {
                        format!("WARN {method} {path} 503 {ms}ms: dependency check failed")
                    } else if roll < errors {
                        let why = FAILURES[usize::try_from((h >> 52) % 4).unwrap_or(0)];
                        format!("ERROR {method} {path} 500 {ms}ms: {why}")
                    } else {
                        format!("INFO {method} {path} 200 {ms}ms")
                    };
                    push(at, "req", text);
                }
            }
        }
        out.sort_by(|a, b| (a.line.at, &a.line.stream).cmp(&(b.line.at, &b.line.stream)));
        out
    }
}

impl SimFleet {
    /// A page of a simulated service's logs, as CloudWatch Logs would give it.
    pub(super) fn logs_sync(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        query: &LogQuery,
    ) -> Result<LogPage, ProviderError> {
        let now = self.clock.now();
        let st = self.enter(&env.name)?;
        let sim_env = st.envs.get(&env.name);
        let svc = sim_env
            .and_then(|e| e.services.get(crate::platforms::ecs::service_name(service)))
            .ok_or_else(|| ProviderError::NotFound {
                what: "service".to_string(),
                name: crate::platforms::ecs::service_name(service).to_string(),
            })?;
        let config = svc.log_config(crate::platforms::ecs::container(service));
        let td = svc.task_def(svc.current).to_string();
        if let Some(why) = config.unreadable(&td) {
            return Ok(LogPage::nowhere(why));
        }
        // CloudWatch Logs is CloudWatch's neighbour: down with it.
        if sim_env.is_some_and(|e| e.cloudwatch_down) {
            return Err(ProviderError::Network {
                message: format!(
                    "cannot connect to CloudWatch Logs in \"{}\": connection refused",
                    env.name
                ),
            });
        }
        let mut cursor = query.cursor.clone();
        let from = cursor.since.map_or(now - BACKLOG, |s| s.max(now - BACKLOG))
            - chrono::Duration::milliseconds(1);
        let generated = svc.log_lines(crate::platforms::ecs::container(service), from, now);
        drop(st);
        let fresh: Vec<Generated> = generated
            .into_iter()
            .filter(|g| !cursor.returned(g.line.at, &g.id))
            .collect();
        let skip = fresh.len().saturating_sub(LINES_PER_PAGE);
        let mut lines = Vec::with_capacity(fresh.len() - skip);
        for g in fresh.into_iter().skip(skip) {
            cursor.take(g.line.at, &g.id);
            lines.push(g.line);
        }
        cursor.page_ended(None);
        Ok(LogPage {
            origin: LogOrigin::From(config.origin()),
            lines,
            cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::Clock;
    use crate::platforms::sim::FleetFile;

    const FLEET: &str = "[[environment]]\nname = \"prod\"\n\
        [[environment.service]]\necs_service = \"api\"\nfamily = \"api\"\n\
        repository = \"r.example/api\"\nreleases = [\"1.0\", \"1.1\"]\ndesired = 2\nage = \"1h\"\n\
        [[environment.service]]\necs_service = \"quiet\"\nrepository = \"r.example/q\"\n\
        releases = [\"1\"]\nlog_driver = \"none\"\n\
        [[fault]]\nname = \"bad\"\nenv = \"prod\"\nservice = \"api\"\ntrigger = \"deploy\"\n\
        effect = \"error_rate\"\nvalue = 60.0\n";

    fn config() -> crate::config::Config {
        crate::config::parse_str(
            "[[environment]]\nname = \"prod\"\ncluster = \"c\"\nregion = \"eu-west-1\"\n\
             [[environment.service]]\nname = \"api\"\necs_service = \"api\"\ncontainer = \"app\"\n\
             [[environment.service]]\nname = \"quiet\"\necs_service = \"quiet\"\ncontainer = \"app\"\n",
            "<test>",
            None,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn lines_follow_without_repeats_and_errors_show_after_a_bad_release() {
        use crate::provider::Provider;
        let clock = Arc::new(crate::clock::ManualClock::new(
            DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        ));
        let fleet = SimFleet::new(
            &FleetFile::parse(FLEET, "<fleet>").unwrap(),
            7,
            clock.clone(),
        );
        let cfg = config();
        let (env, api) = (&cfg.environments[0], &cfg.environments[0].services[0]);
        let start = LogQuery {
            cursor: crate::model::logs::LogCursor::starting(
                clock.now() - chrono::Duration::minutes(2),
            ),
            ..LogQuery::default()
        };
        let first = fleet.logs(env, api, &start).await.unwrap();
        assert_eq!(
            first.origin,
            LogOrigin::From("CloudWatch Logs /ecs/api · ecs/app/…".into())
        );
        assert!(first.lines.len() > 20, "{}", first.lines.len());
        assert!(first.lines.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(first.lines.iter().all(|l| l.stream.starts_with("ecs/app/")));
        assert!(
            !first
                .lines
                .iter()
                .any(|l| l.text.starts_with("ERROR") && l.text.contains("60"))
        );
        // Nothing new at the same time; new lines once time moves.
        let same = LogQuery {
            cursor: first.cursor.clone(),
            ..LogQuery::default()
        };
        assert!(fleet.logs(env, api, &same).await.unwrap().lines.is_empty());
        // A release that fails most requests: its errors are in its lines.
        let digest = Digest::of_bytes(b"r.example/api:2.0");
        fleet.deploy(env, api, &digest).await.unwrap();
        clock.advance(std::time::Duration::from_secs(90));
        let next = fleet.logs(env, api, &same).await.unwrap();
        assert!(
            next.lines
                .iter()
                .all(|l| l.at > first.lines.last().unwrap().at)
        );
        assert!(
            next.lines
                .iter()
                .any(|l| l.text.contains("INFO starting api")),
            "{next:#?}"
        );
        let errors = next
            .lines
            .iter()
            .filter(|l| l.text.starts_with("ERROR"))
            .count();
        assert!(
            errors * 4 > next.lines.len(),
            "{errors} of {}",
            next.lines.len()
        );
        // No log configuration is said, not shown as an empty log.
        let quiet = &env.services[1];
        let none = fleet.logs(env, quiet, &start).await.unwrap();
        assert_eq!(
            none.origin,
            LogOrigin::Nowhere(
                "no awslogs configuration in quiet:1 (container app: no log driver)".into()
            )
        );
    }
}
