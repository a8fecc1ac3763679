//! shipdeck: a terminal release console for promotions across platforms.
//!
//! The library holds everything; `src/main.rs` only parses the command line,
//! loads the configuration, starts logging, builds the provider and runs.

pub mod app;
pub mod approvals;
pub mod aws;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod gate;
pub mod health;
pub mod index;
pub mod ledger;
pub mod lock;
pub mod logging;
pub mod model;
pub mod notify;
pub mod paths;
pub mod platforms;
pub mod process;
pub mod provider;
pub mod registry;
pub mod release;
pub mod report;
pub mod runtime;
pub mod secrets;
pub mod signals;
pub mod stable;
pub mod status;
pub mod supply;
pub mod team;
pub mod ui;
