//! What a paused run says on its canary machine, and what a person's
//! decision from any process says back, as two keys of the machine's
//! `config.metadata` (written through the metadata endpoint: no new
//! instance, no nonce). Every shipdeck reads them in its one list of the
//! app; only the process that runs the promotion holds the leases, so it is
//! the one that acts on a decision, then removes both keys.

use super::api::{MachineView, RunView};
use super::steps::{FROM_KEY, RUN_KEY};
use crate::model::Decision;

/// The key of a pause: `run=fly-… step=1/4 at=1767225600`.
pub const PAUSE_KEY: &str = "shipdeck_pause";
/// The key of a decision: `run=fly-… step=1 continue`.
pub const DECISION_KEY: &str = "shipdeck_decision";

/// A run waiting for a person after step `step` of `of`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    /// The run's id.
    pub run: String,
    /// The step it waits after (1: the canary).
    pub step: u32,
    /// How many machines it updates in all.
    pub of: u32,
    /// Since when, in seconds since the epoch.
    pub at: i64,
}

/// A person's decision at a pause, written for the run to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// The run it is for.
    pub run: String,
    /// The step it decides.
    pub step: u32,
    /// Continue, or roll back.
    pub decision: Decision,
}

/// The value of `key=` among the words of `text`.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

fn run_id(text: &str) -> Option<String> {
    field(text, "run")
        .filter(|r| {
            !r.is_empty()
                && r.len() <= 64
                && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map(str::to_string)
}

impl Pause {
    /// Its metadata value.
    pub fn write(&self) -> String {
        format!(
            "run={} step={}/{} at={}",
            self.run, self.step, self.of, self.at
        )
    }

    /// A pause from a metadata value (outside text: anything else is none).
    pub fn read(text: &str) -> Option<Self> {
        let (step, of) = field(text, "step")?.split_once('/')?;
        Some(Self {
            run: run_id(text)?,
            step: step.parse().ok()?,
            of: of.parse().ok()?,
            at: field(text, "at")?.parse().ok()?,
        })
    }
}

impl Said {
    /// Its metadata value.
    pub fn write(&self) -> String {
        format!(
            "run={} step={} {}",
            self.run,
            self.step,
            self.decision.as_str()
        )
    }

    /// A decision from a metadata value.
    pub fn read(text: &str) -> Option<Self> {
        let decision = if text.split_whitespace().any(|w| w == "continue") {
            Decision::Continue
        } else if text.split_whitespace().any(|w| w == "rollback") {
            Decision::Rollback
        } else {
            return None;
        };
        Some(Self {
            run: run_id(text)?,
            step: field(text, "step")?.parse().ok()?,
            decision,
        })
    }
}

/// A run another process drives, as its machines say it: the one that
/// carries a pause (its canary), the machines updated by that run
/// (`shipdeck_run`), and the digest they came from (`shipdeck_from`). So a
/// console or `shipdeck step` elsewhere sees the pause and can decide it.
pub fn paused_run(machines: &[MachineView]) -> Option<RunView> {
    let (canary, pause) = machines
        .iter()
        .find_map(|m| Some((m, Pause::read(m.metadata(PAUSE_KEY)?)?)))?;
    let updated: Vec<&MachineView> = machines
        .iter()
        .filter(|m| m.metadata(RUN_KEY) == Some(pause.run.as_str()))
        .collect();
    let at = chrono::DateTime::from_timestamp(pause.at, 0)?;
    Some(RunView {
        id: pause.run.clone(),
        from: canary.metadata(FROM_KEY).map(str::to_string),
        to: canary.digest()?.to_string(),
        rollback: false,
        canary: Some(canary.id.clone()),
        updated: updated.iter().map(|m| m.id.clone()).collect(),
        total: usize::try_from(pause.of).unwrap_or(usize::MAX),
        paused_since: Some(at),
        steps: Vec::new(),
        ended: None,
        started: at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_and_a_decision_read_back_and_anything_else_is_none() {
        let p = Pause {
            run: "fly-1767225600123".to_string(),
            step: 1,
            of: 4,
            at: 1_767_225_600,
        };
        assert_eq!(p.write(), "run=fly-1767225600123 step=1/4 at=1767225600");
        assert_eq!(Pause::read(&p.write()), Some(p));
        for d in [Decision::Continue, Decision::Rollback] {
            let s = Said {
                run: "fly-1".to_string(),
                step: 1,
                decision: d,
            };
            assert_eq!(Said::read(&s.write()), Some(s));
        }
        for junk in [
            "",
            "run= step=1/4 at=1",
            "run=a;b step=1/4 at=1",
            "step=x/4",
        ] {
            assert_eq!(Pause::read(junk), None, "{junk}");
        }
        assert_eq!(Said::read("run=fly-1 step=1 maybe"), None);
    }
}
