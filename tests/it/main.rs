//! Every integration suite, one module each, in one test binary (matklad's
//! "Delete Cargo Integration Tests"): each file directly under `tests/` is a
//! binary that links the crate and the AWS SDKs again, so ~30 of them were
//! most of CI's time and its disk. Run one suite or test with a filter:
//! `cargo test --test it ui_render::` or `cargo test --test it team::concurrent`.
//!
//! Tests of all suites run in parallel here. Each test owns what it starts:
//! free ports (`127.0.0.1:0`), its own temporary directories, tmux servers on
//! sockets unique to the test, children re-run from this binary by their full
//! test path (`audit::crash_child`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod approve_cli;
mod audit;
mod audit_report;
mod aws_provider;
mod blind;
mod blind_aws;
mod cli;
mod config;
mod dialog_keys;
mod differential;
mod escapes;
mod fleet_scale;
mod fly;
mod fly_promote;
mod hardening;
mod health;
mod kube_promote;
mod kubernetes;
mod lambda;
mod lambda_cache;
mod lambda_people;
mod leak;
mod ledger_follow;
mod lock_race;
mod metric_math_aws;
mod notify;
mod notify_sns;
mod promotion;
mod proxy;
mod registry;
mod release_cli;
mod responsive;
mod scenarios;
mod seam;
mod service_deployments;
mod signals;
mod status_table;
mod stepped;
mod supply_board;
mod supply_gate;
mod team;
mod tmux_journey;
mod ui_render;
