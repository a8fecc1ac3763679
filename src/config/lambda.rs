//! The Lambda platform's own section of the configuration: which function
//! and alias a service is, and the steps in which the alias's traffic moves
//! to a new version.

use std::time::Duration;

use crate::model::shift::ALL;
use crate::model::strategy::percent;

/// The spellings a step plan accepts, for a help line.
pub const SPELLINGS: &str = "write \"linear 5% every 10m\", \"canary 10% then 100% after 5m\", \
\"all at once\", or a list such as [\"5% 10m\", \"25% 10m\", \"100%\"]";

/// The most steps a plan may take: each step is one alias update and one
/// ledger record, so a plan of thousands is a typo (`linear 0.01%`).
pub const MAX_STEPS: usize = 100;

/// How a percentage is written, for hints.
const PERCENT_HINT: &str = "write a percentage above 0% and at most 100%, with at most two \
decimals, such as 5%, 12.5% or 0.25%";

/// How a hold is written, for hints.
const HOLD_HINT: &str = "write a duration longer than zero with a unit, such as 30s, 10m or 1h";

/// One service on Lambda: a function and the alias that serves its traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaService {
    /// The function's name or ARN.
    pub function: String,
    /// The alias whose traffic shipdeck shifts (`live`).
    pub alias: String,
    /// The steps in which the alias's traffic moves to a new version.
    pub steps: StepPlan,
    /// The CodeDeploy deployment group that manages the alias (SAM's
    /// `DeploymentPreference`), when one does: shipdeck then shows its
    /// deployments and refuses to shift the alias by hand.
    pub codedeploy: Option<CodeDeployGroup>,
}

/// A CodeDeploy application and deployment group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeDeployGroup {
    /// The CodeDeploy application.
    pub application: String,
    /// The deployment group within it.
    pub group: String,
}

/// The steps of a shift, as parsed: weights strictly increasing, the last
/// one [`ALL`], every step but the last held for longer than zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepPlan {
    /// The steps in order.
    pub steps: Vec<PlannedStep>,
}

/// One step of a shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedStep {
    /// Traffic on the new version during this step, in hundredths of a
    /// percent; the last step's is [`ALL`].
    pub weight: u32,
    /// How long this step holds before the next; zero for the last.
    pub hold: Duration,
}

impl StepPlan {
    /// All the traffic in one step.
    pub fn all_at_once() -> Self {
        Self {
            steps: vec![PlannedStep {
                weight: ALL,
                hold: Duration::ZERO,
            }],
        }
    }

    /// Parses `"linear 5% every 10m"`, `"canary 10% then 100% after 5m"` or
    /// `"all at once"` (case and spacing do not matter).
    pub fn parse(text: &str) -> Result<Self, String> {
        let norm = normalise(text);
        let words: Vec<&str> = norm.split(' ').filter(|w| !w.is_empty()).collect();
        match words.as_slice() {
            ["all", "at", "once"] => Ok(Self::all_at_once()),
            ["linear", rest @ ..] => linear(rest),
            ["canary", rest @ ..] => canary(rest),
            [] => Err(format!("the step plan is empty: {SPELLINGS}")),
            [first, ..] if first.ends_with('%') => Err(format!(
                "{} is one step, not a plan: write the steps as a list, such as \
                 [\"5% 10m\", \"25% 10m\", \"100%\"], or {SPELLINGS}",
                quote(text)
            )),
            _ => Err(format!("{} is not a step plan: {SPELLINGS}", quote(text))),
        }
    }

    /// Parses an explicit list: every entry a percentage and a hold
    /// (`"25% 10m"`), the last one `"100%"` alone.
    pub fn from_list(entries: &[String]) -> Result<Self, String> {
        if entries.is_empty() {
            return Err(format!("the list of steps is empty: {SPELLINGS}"));
        }
        if entries.len() > MAX_STEPS {
            return Err(too_many(entries.len()));
        }
        let mut steps: Vec<PlannedStep> = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let n = i + 1;
            let last = n == entries.len();
            let name = format!("step {n} ({})", quote(entry));
            let norm = normalise(entry);
            let (pct, hold) = norm.split_once(' ').unwrap_or((norm.as_str(), ""));
            let weight = parse_percent(pct).map_err(|e| format!("{name}: {e}"))?;
            if let Some(before) = steps.last()
                && weight <= before.weight
            {
                return Err(format!(
                    "{name} does not rise above step {i} ({}): write each step higher than \
                     the one before, such as [\"5% 10m\", \"25% 10m\", \"100%\"]",
                    percent(before.weight)
                ));
            }
            if last && weight != ALL {
                return Err(ends_short(weight));
            }
            let hold = match (last, hold.trim()) {
                (true, "") => Duration::ZERO,
                (true, _) => {
                    return Err(format!(
                        "{name}: the last step holds nothing, the shift ends there: write \"{}\"",
                        percent(weight)
                    ));
                }
                (false, "") => {
                    return Err(format!(
                        "{name} has no hold: write how long every step but the last holds \
                         before the next, such as \"{} 10m\"",
                        percent(weight)
                    ));
                }
                (false, h) => parse_hold(h).map_err(|e| format!("{name}: {e}"))?,
            };
            steps.push(PlannedStep { weight, hold });
        }
        match steps.last() {
            Some(s) if s.weight == ALL => Ok(Self { steps }),
            Some(s) => Err(ends_short(s.weight)),
            None => Err(format!("the list of steps is empty: {SPELLINGS}")),
        }
    }

    /// The weight of each step, in hundredths of a percent.
    pub fn weights(&self) -> Vec<u32> {
        self.steps.iter().map(|s| s.weight).collect()
    }

    /// Short words for plans and confirmations: `5% → 10% → … → 100%, 10m
    /// each`, `10% → 100% after 5m`, `100% at once`.
    pub fn describe(&self) -> String {
        let (held, last) = match self.steps.as_slice() {
            [] => return "no steps".to_string(),
            [only] => return format!("{} at once", percent(only.weight)),
            [held @ .., last] => (held, last),
        };
        let said = |d: Duration| humantime::format_duration(d).to_string();
        let first = held[0].hold;
        if held.iter().all(|s| s.hold == first) {
            let path = elide(
                &self
                    .steps
                    .iter()
                    .map(|s| percent(s.weight))
                    .collect::<Vec<_>>(),
            );
            if held.len() == 1 {
                format!("{path} after {}", said(first))
            } else {
                format!("{path}, {} each", said(first))
            }
        } else {
            let mut parts: Vec<String> = held
                .iter()
                .map(|s| format!("{} for {}", percent(s.weight), said(s.hold)))
                .collect();
            parts.push(percent(last.weight));
            elide(&parts)
        }
    }
}

/// `linear P% every D`, the words after `linear`.
fn linear(words: &[&str]) -> Result<StepPlan, String> {
    let hint = "write it as \"linear 5% every 10m\"";
    let [pct, "every", hold @ ..] = words else {
        return Err(format!("a linear plan names its step and its hold: {hint}"));
    };
    let step = parse_percent(pct).map_err(|e| format!("linear step: {e}"))?;
    let hold = parse_hold(&hold.join(" ")).map_err(|e| format!("linear hold: {e}"))?;
    let count = usize::try_from(ALL.div_ceil(step)).unwrap_or(usize::MAX);
    if count > MAX_STEPS {
        return Err(too_many(count));
    }
    let mut steps: Vec<PlannedStep> = (step..ALL)
        .step_by(usize::try_from(step).unwrap_or(usize::MAX))
        .map(|weight| PlannedStep { weight, hold })
        .collect();
    steps.push(PlannedStep {
        weight: ALL,
        hold: Duration::ZERO,
    });
    Ok(StepPlan { steps })
}

/// `canary P% then 100% after D`, the words after `canary`.
fn canary(words: &[&str]) -> Result<StepPlan, String> {
    let hint = "write it as \"canary 10% then 100% after 5m\"";
    let [pct, "then", all, "after", hold @ ..] = words else {
        return Err(format!(
            "a canary plan names its share, then 100% and the hold: {hint}"
        ));
    };
    let weight = parse_percent(pct).map_err(|e| format!("canary step: {e}"))?;
    if weight == ALL {
        return Err(format!(
            "a canary of 100% is not a canary: write a share below 100%, or \"all at once\"; {hint}"
        ));
    }
    if parse_percent(all) != Ok(ALL) {
        return Err(format!(
            "a canary is followed by 100%, not {}: {hint}",
            quote(all)
        ));
    }
    let hold = parse_hold(&hold.join(" ")).map_err(|e| format!("canary hold: {e}"))?;
    Ok(StepPlan {
        steps: vec![
            PlannedStep { weight, hold },
            PlannedStep {
                weight: ALL,
                hold: Duration::ZERO,
            },
        ],
    })
}

/// `5%`, `12.5%`, `0.25%` as hundredths of a percent, above zero and at most [`ALL`].
fn parse_percent(word: &str) -> Result<u32, String> {
    let Some(number) = word.strip_suffix('%') else {
        return Err(format!(
            "{} is not a percentage: {PERCENT_HINT}",
            quote(word)
        ));
    };
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (number.contains('.') && !digits(frac)) {
        return Err(format!(
            "{} is not a percentage: {PERCENT_HINT}",
            quote(word)
        ));
    }
    if frac.len() > 2 {
        return Err(format!(
            "{} has more than two decimals: traffic moves in hundredths of a percent; \
             {PERCENT_HINT}",
            quote(word)
        ));
    }
    let whole = whole.trim_start_matches('0');
    if whole.len() > 3 {
        return Err(format!("{} is over 100%: {PERCENT_HINT}", quote(word)));
    }
    // At most three digits and two decimals: no overflow.
    let whole: u32 = whole.parse().unwrap_or(0);
    let frac: u32 = format!("{frac:0<2}").parse().unwrap_or(0);
    match whole * 100 + frac {
        0 => Err(format!("{} moves no traffic: {PERCENT_HINT}", quote(word))),
        w if w > ALL => Err(format!("{} is over 100%: {PERCENT_HINT}", quote(word))),
        w => Ok(w),
    }
}

/// A step's hold: a duration longer than zero.
fn parse_hold(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("the hold is missing: {HOLD_HINT}"));
    }
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err(format!(
            "a hold of {} gives the abort rules no time to judge the step: {HOLD_HINT}",
            quote(text)
        )),
        Ok(d) => Ok(d),
        Err(e) => Err(format!(
            "{} is not a duration ({}): {HOLD_HINT}",
            quote(text),
            crate::model::sanitize(&e.to_string())
        )),
    }
}

fn ends_short(weight: u32) -> String {
    format!(
        "the list ends at {}, not 100%: end it with \"100%\", the step that moves the last of \
         the traffic",
        percent(weight)
    )
}

fn too_many(count: usize) -> String {
    format!(
        "the plan makes {count} steps, more than {MAX_STEPS}: each step is an alias update and a \
         ledger record; take larger steps: write \"linear 5% every 10m\" or a shorter list"
    )
}

/// Lower case, one space between words, and `5 %` joined into `5%`.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() && word != "%" && !word.starts_with('%') {
            out.push(' ');
        }
        out.push_str(&word.to_ascii_lowercase());
    }
    out
}

/// A part of the configuration, quoted for an error: one line, at most 40 characters.
fn quote(text: &str) -> String {
    const LIMIT: usize = 40;
    let clean = crate::model::sanitize(text);
    let mut out: String = clean.chars().take(LIMIT).collect();
    if clean.chars().count() > LIMIT {
        out.push('…');
    }
    format!("\"{out}\"")
}

/// Parts joined by arrows; a long path shows its first two and its last.
fn elide(parts: &[String]) -> String {
    if parts.len() <= 6 {
        return parts.join(" → ");
    }
    let mut short: Vec<String> = parts[..2].to_vec();
    short.push("…".to_string());
    short.extend(parts.last().cloned());
    short.join(" → ")
}

#[cfg(test)]
#[path = "lambda_tests.rs"]
mod tests;
