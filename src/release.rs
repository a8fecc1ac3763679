//! Promotions and rollbacks, shared by the console and the scriptable twins
//! (`shipdeck promote`, `shipdeck rollback`).
//!
//! - [`plan`]: what a promotion would change ([`Plan`]) and what was answered;
//! - [`gate_input`]: the gate input assembled from readings ([`gate_for`]);
//! - [`rollback`]: where a rollback goes ([`rollback_target`]);
//! - [`watch`]: the deploy watch and its abort criteria ([`Watch`]);
//! - [`records`]: the ledger records that close a watch;
//! - [`claim`]: what an ended watch may say, given what the ledger holds;
//! - [`engine`]: the one state machine both drivers run, from gate to outcome;
//! - [`step`]: a person's decision at a paused step (four eyes for a continue);
//! - [`evidence`]: what a person decides on: the rules a watch runs, their
//!   live values, and at a step the new revision beside the old with the hold;
//! - [`exec`]: the effects, in the order the audit trail needs;
//! - [`pending`]: closing records kept locally when the ledger refused them.
//!
//! Everything but `exec` is pure.

pub mod claim;
pub mod engine;
pub mod evidence;
pub mod exec;
pub mod gate_input;
pub mod outcome;
pub mod pending;
pub mod plan;
pub mod records;
pub mod rollback;
pub mod rules;
pub mod step;
pub mod watch;

pub use claim::Written;
pub use engine::{Effect, Next, Outcome, Promotion, open_request, refusal, start_rollback};
pub use gate_input::{Observed, gate_entries, gate_for, healthy_stable, soaked_for, stale_sources};
pub use plan::{Answers, Plan, PlanError, env_index, plan, service_config};
pub use records::closing_records;
pub use rollback::{
    RollbackTarget, rollback_effect, rollback_start, rollback_style, rollback_target,
};
pub use watch::{HEALTH_ABORT_AFTER, OpKind, SILENT_GRACE, Step, Watch};

#[cfg(test)]
mod tests;
