//! A Rollout's canary as the board's shift: the weight of each step, the
//! step whose weight applies, and a pause that waits for a person.

use chrono::{DateTime, Utc};

use super::super::objects::{CanaryStep, Rollout};
use super::super::words;
use crate::model::shift::{ALL, Pause, Shift};

/// Where a Rollout's canary stands, as a shift: the weight of each
/// `setWeight` step (the last is all traffic), the step reached, and a pause
/// for a person where the controller holds one.
pub fn canary_shift(ro: &Rollout, id: &str, at: DateTime<Utc>) -> Option<Shift> {
    let steps: &[CanaryStep] = ro
        .spec
        .strategy
        .canary
        .as_ref()
        .map(|c| c.steps.as_slice())?;
    let st = ro.status.as_ref()?;
    let index = usize::try_from(st.current_step_index.unwrap_or(0).max(0)).unwrap_or(0);
    let mut weights: Vec<u32> = steps
        .iter()
        .filter_map(|s| s.set_weight)
        .map(|w| u32::try_from(w.clamp(0, 100)).unwrap_or(0) * 100)
        .filter(|w| *w < ALL)
        .collect();
    weights.push(ALL);
    // The weight the steps so far set: what a canary without a traffic
    // router gets (by its share of pods), and the shift's step.
    let by_steps = steps
        .iter()
        .take(index.min(steps.len()))
        .filter_map(|s| s.set_weight)
        .next_back()
        .map_or(0, |w| u32::try_from(w.clamp(0, 100)).unwrap_or(0) * 100);
    let new_weight = st
        .canary
        .as_ref()
        .and_then(|c| c.weights.as_ref())
        .map_or(by_steps, |w| {
            u32::try_from(w.canary.weight.clamp(0, 100)).unwrap_or(0) * 100
        });
    let paused = st
        .pause_conditions
        .iter()
        .any(|p| p.reason == "CanaryPauseStep")
        && !st.abort;
    let stage = words::step_words(steps.get(index)).unwrap_or_else(|| "done".to_string());
    // The traffic step whose weight applies now (0: none yet).
    let step = if new_weight == 0 {
        0
    } else {
        weights
            .iter()
            .position(|w| *w >= new_weight)
            .map_or(u32::MAX, |i| u32::try_from(i + 1).unwrap_or(u32::MAX))
    };
    Some(Shift {
        kind: "canary".to_string(),
        deployment: id.to_string(),
        new_weight,
        weights,
        step,
        started: Vec::new(),
        stage: format!(
            "step {}/{}: {stage}",
            (index + 1).min(steps.len()),
            steps.len()
        ),
        ends_at: None,
        pause: paused.then(|| Pause {
            hook: words::pause_hook(&ro.metadata.name.clone().unwrap_or_default(), index),
            expires_at: None,
            timeout_action: None,
        }),
        revisions: Vec::new(),
    })
    .map(|mut s| {
        if let Some(t) = st
            .pause_conditions
            .first()
            .and_then(|p| p.start_time.as_deref())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        {
            s.started.push(t.with_timezone(&Utc).min(at));
        }
        s
    })
}
