//! CloudWatch Logs for ECS tasks that use the `awslogs` driver: where a task
//! definition sends each container's logs, and a page of the lines there.
//!
//! One `FilterLogEvents` per page on the task definition's group, narrowed to
//! the container's streams (`prefix/container/…`); a page continues with its
//! `nextToken`, and once a reading is through it starts again at the newest
//! line it returned (`startTime`), skipping the ids it returned there.

use aws_sdk_ecs::types::TaskDefinition;

use super::cache::TaskDefInfo;
use super::{AwsProvider, classify};
use crate::config::{EnvConfig, ServiceConfig};
use crate::model::logs::{LogConfig, LogLine, LogOrigin, LogPage};
use crate::provider::{LogQuery, ProviderError};

/// Lines asked for per call (CloudWatch answers at most 10,000).
const LINES_PER_PAGE: i32 = 500;

/// Each container's log configuration, as `DescribeTaskDefinition` says.
pub(super) fn configs(td: &TaskDefinition) -> Vec<LogConfig> {
    td.container_definitions()
        .iter()
        .map(|cd| {
            let container = cd.name().unwrap_or_default().to_string();
            let Some(lc) = cd.log_configuration() else {
                return LogConfig::Other {
                    driver: None,
                    container,
                };
            };
            let driver = lc.log_driver().as_str();
            let option = |k: &str| lc.options().and_then(|o| o.get(k)).cloned();
            match option("awslogs-group") {
                Some(group) if driver == "awslogs" => LogConfig::Awslogs {
                    group,
                    stream_prefix: option("awslogs-stream-prefix"),
                    region: option("awslogs-region"),
                    container,
                },
                None if driver == "awslogs" => LogConfig::Other {
                    driver: Some("awslogs without an awslogs-group".to_string()),
                    container,
                },
                _ => LogConfig::Other {
                    driver: Some(driver.to_string()),
                    container,
                },
            }
        })
        .collect()
}

/// The log configuration of the service's container (or of the only one).
pub(super) fn of(info: &TaskDefInfo, cfg: &ServiceConfig) -> Option<LogConfig> {
    let name = |c: &LogConfig| match c {
        LogConfig::Awslogs { container, .. } | LogConfig::Other { container, .. } => {
            container.clone()
        }
    };
    info.logs
        .iter()
        .find(|c| name(c) == super::container(cfg))
        .or_else(|| (info.logs.len() == 1).then(|| &info.logs[0]))
        .cloned()
}

/// A page of the service's logs from `q.cursor` on.
pub(super) async fn logs(
    p: &AwsProvider,
    env: &EnvConfig,
    cfg: &ServiceConfig,
    q: &LogQuery,
) -> Result<LogPage, ProviderError> {
    let c = p.clients(env).await?.clone();
    let td = q.task_definition.clone();
    let config = match (&q.config, &td) {
        (Some(config), _) => config.clone(),
        // Not in the reading: its task definition was not described then.
        (None, Some(td)) => {
            super::read::describe(p, &c, env, &td.arn).await?;
            let info = p.shared().task_defs.get(&td.arn).cloned();
            info.as_ref()
                .and_then(|i| of(i, cfg))
                .ok_or_else(|| ProviderError::Other {
                    message: format!(
                        "{td} has no container \"{}\": where its logs go is unknown",
                        super::container(cfg)
                    ),
                })?
        }
        (None, None) => {
            return Err(ProviderError::Other {
                message: format!(
                    "the task definition of {} in {} is not known yet, nor where its logs go",
                    cfg.name, env.name
                ),
            });
        }
    };
    let td_name = td.map_or_else(|| cfg.name.clone(), |t| t.to_string());
    let LogConfig::Awslogs { group, region, .. } = &config else {
        let why = config
            .unreadable(&td_name)
            .unwrap_or_else(|| format!("no awslogs configuration in {td_name}"));
        return Ok(LogPage::nowhere(why));
    };
    // The group may live in another region than the service's.
    let client = match region {
        Some(r) if r != super::region(env) => aws_sdk_cloudwatchlogs::Client::from_conf(
            c.logs
                .config()
                .to_builder()
                .region(aws_sdk_cloudwatchlogs::config::Region::new(r.clone()))
                .build(),
        ),
        _ => c.logs.clone(),
    };
    let mut cursor = q.cursor.clone();
    // A token continues the reading that started at `since`.
    let ask = client
        .filter_log_events()
        .log_group_name(group)
        .limit(LINES_PER_PAGE)
        .set_log_stream_name_prefix(config.stream_prefix())
        .set_start_time(cursor.since.map(|s| s.timestamp_millis()))
        .set_next_token(cursor.token.clone());
    let out = p
        .call(env, super::CLOUDWATCH, "FilterLogEvents", || async {
            ask.clone()
                .send()
                .await
                .map_err(|e| classify(&e, "logs:FilterLogEvents", group))
        })
        .await?;
    let mut events: Vec<_> = out
        .events()
        .iter()
        .filter_map(|e| {
            let at = chrono::DateTime::from_timestamp_millis(e.timestamp()?)?;
            let stream = e.log_stream_name().unwrap_or_default().to_string();
            let id = e.event_id().map_or_else(
                || format!("{stream}@{}", at.timestamp_millis()),
                str::to_string,
            );
            Some((at, id, stream, e.message().unwrap_or_default().to_string()))
        })
        .collect();
    // CloudWatch interleaves streams by time; a stable sort keeps that order.
    events.sort_by_key(|(at, ..)| *at);
    // Only the container's own streams, even from an endpoint that ignores
    // the prefix (LocalStack does): `prefix/container/task-id`.
    let ours = config.stream_prefix().map(|p| format!("{p}/"));
    let mut lines = Vec::with_capacity(events.len());
    let mut read = 0;
    for (at, id, stream, text) in events {
        if cursor.returned(at, &id) {
            continue;
        }
        cursor.take(at, &id);
        read += 1;
        if ours.as_ref().is_none_or(|p| stream.starts_with(p.as_str())) {
            lines.push(LogLine { at, stream, text });
        }
    }
    // A token after a page with nothing new is not followed: the next reading
    // starts again at the newest line read.
    cursor.page_ended(out.next_token().filter(|_| read > 0).map(str::to_string));
    Ok(LogPage {
        origin: LogOrigin::From(config.origin()),
        lines,
        cursor,
    })
}
