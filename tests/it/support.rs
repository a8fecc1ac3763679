//! Helpers the suites share: the in-process console harness and its screen,
//! the AWS emulators and their fixtures, tmux, real proxies, an HTTP server,
//! the binary in team mode and the demo's canary started through it.

pub mod codeproxy;
pub mod console;
pub mod cosign;
pub mod demo_canary;
pub mod emulators;
pub mod faultproxy;
pub mod fixture;
pub mod fly;
pub mod http;
pub mod kube;
pub mod proxies;
pub mod registry;
pub mod screen;
pub mod stepping;
pub mod team;
pub mod tmux;
