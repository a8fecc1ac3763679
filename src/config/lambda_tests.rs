use std::time::Duration;

use proptest::prelude::*;
use rstest::rstest;

use super::*;
use crate::model::Strategy;

fn step(weight: u32, hold: Duration) -> PlannedStep {
    PlannedStep { weight, hold }
}

fn last() -> PlannedStep {
    step(ALL, Duration::ZERO)
}

fn list(entries: &[&str]) -> Result<StepPlan, String> {
    StepPlan::from_list(&entries.iter().map(|e| (*e).to_string()).collect::<Vec<_>>())
}

#[test]
fn linear_steps_every_interval_then_all() {
    let plan = StepPlan::parse("linear 5% every 10m").unwrap();
    assert_eq!(plan.steps.len(), 20);
    assert_eq!(plan.steps[0], step(500, Duration::from_mins(10)));
    assert_eq!(plan.steps[18], step(9_500, Duration::from_mins(10)));
    assert_eq!(plan.steps[19], last());
    // The same weights as an ECS linear rollout of the same step.
    let ecs = Strategy::Linear {
        step_hundredths: 500,
        interval: Duration::from_mins(10),
        bake: Duration::ZERO,
    };
    assert_eq!(
        Some(plan.weights()),
        crate::model::shift::planned_weights(&ecs)
    );
}

#[rstest]
#[case("linear 30% every 1m", vec![3_000, 6_000, 9_000, ALL])]
#[case("linear 50% every 2m", vec![5_000, ALL])]
#[case("linear 100% every 2m", vec![ALL])]
#[case("linear 12.5% every 30s", vec![1_250, 2_500, 3_750, 5_000, 6_250, 7_500, 8_750, ALL])]
#[case("LINEAR  10 %   Every 5m", vec![1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000, 8_000, 9_000, ALL])]
#[case("canary 10% then 100% after 5m", vec![1_000, ALL])]
#[case("canary 0.25% then 100 % after 1h 30m", vec![25, ALL])]
#[case("all at once", vec![ALL])]
#[case("  All At  Once ", vec![ALL])]
fn every_spelling_parses(#[case] text: &str, #[case] weights: Vec<u32>) {
    let plan = StepPlan::parse(text).unwrap();
    assert_eq!(plan.weights(), weights);
}

#[test]
fn holds_are_humantime_durations_and_the_last_holds_nothing() {
    let plan = StepPlan::parse("canary 10% then 100% after 1h 30m").unwrap();
    assert_eq!(
        plan.steps,
        vec![step(1_000, Duration::from_mins(90)), last()]
    );
    let plan = StepPlan::parse("linear 50% every 30s").unwrap();
    assert_eq!(
        plan.steps,
        vec![step(5_000, Duration::from_secs(30)), last()]
    );
    assert_eq!(
        StepPlan::parse("all at once").unwrap(),
        StepPlan::all_at_once()
    );
}

#[test]
fn an_explicit_list_keeps_its_own_holds() {
    let plan = list(&["5% 10m", "25 % 30s", "50.5% 1h", "100%"]).unwrap();
    assert_eq!(
        plan.steps,
        vec![
            step(500, Duration::from_mins(10)),
            step(2_500, Duration::from_secs(30)),
            step(5_050, Duration::from_hours(1)),
            last(),
        ]
    );
    assert_eq!(list(&["100%"]).unwrap(), StepPlan::all_at_once());
}

#[rstest]
#[case("", "empty")]
#[case("gradually", "is not a step plan")]
#[case("5% 10m", "is one step, not a plan")]
#[case("linear 5%", "write it as \"linear 5% every 10m\"")]
#[case("linear every 10m", "write it as \"linear 5% every 10m\"")]
#[case("linear 0% every 10m", "moves no traffic")]
#[case("linear 101% every 10m", "over 100%")]
#[case("linear 5 every 10m", "is not a percentage")]
#[case("linear -5% every 10m", "is not a percentage")]
#[case("linear 5.% every 10m", "is not a percentage")]
#[case("linear .5% every 10m", "is not a percentage")]
#[case("linear 99999999999999999999% every 10m", "over 100%")]
#[case("linear 5.125% every 10m", "more than two decimals")]
#[case("linear 5% every", "the hold is missing")]
#[case("linear 5% every 0s", "gives the abort rules no time")]
#[case("linear 5% every ten minutes", "is not a duration")]
#[case("linear 5% every 10x", "is not a duration")]
#[case("linear 0.5% every 1m", "200 steps, more than 100")]
#[case("canary 10% after 5m", "write it as \"canary 10% then 100% after 5m\"")]
#[case("canary 10% then 50% after 5m", "followed by 100%, not \"50%\"")]
#[case("canary 100% then 100% after 5m", "is not a canary")]
#[case("canary 0% then 100% after 5m", "moves no traffic")]
#[case("canary 10% then 100% after", "the hold is missing")]
fn every_bad_plan_names_its_bad_part(#[case] text: &str, #[case] says: &str) {
    let err = StepPlan::parse(text).unwrap_err();
    assert!(err.contains(says), "{text:?}: {err}");
    // Every error tells how to write it right.
    assert!(err.contains("write"), "{text:?}: {err}");
}

#[rstest]
#[case(&[], "the list of steps is empty")]
#[case(&["5% 10m", "50% 10m"], "the list ends at 50%, not 100%")]
#[case(&["5% 10m", "5% 10m", "100%"], "step 2 (\"5% 10m\") does not rise above step 1 (5%)")]
#[case(&["50% 10m", "25% 10m", "100%"], "does not rise above step 1 (50%)")]
#[case(&["100% 1m", "100%"], "does not rise above step 1 (100%)")]
#[case(&["5%", "100%"], "step 1 (\"5%\") has no hold")]
#[case(&["5% 10m", "100% 5m"], "the last step holds nothing")]
#[case(&["0% 10m", "100%"], "moves no traffic")]
#[case(&["5% 10m", "120%"], "over 100%")]
#[case(&["5.555% 10m", "100%"], "more than two decimals")]
#[case(&["five 10m", "100%"], "is not a percentage")]
#[case(&["5% soon", "100%"], "step 1 (\"5% soon\"): \"soon\" is not a duration")]
#[case(&["5% 0m", "100%"], "gives the abort rules no time")]
fn every_bad_list_names_its_bad_part(#[case] entries: &[&str], #[case] says: &str) {
    let err = list(entries).unwrap_err();
    assert!(err.contains(says), "{entries:?}: {err}");
    assert!(
        err.contains("write") || err.contains("end it with"),
        "{entries:?}: {err}"
    );
}

#[test]
fn a_list_longer_than_the_limit_is_refused() {
    let mut entries: Vec<String> = (1..=MAX_STEPS).map(|n| format!("{n}% 1m")).collect();
    entries.push("100%".into());
    let err = StepPlan::from_list(&entries).unwrap_err();
    assert!(err.contains("101 steps"), "{err}");
}

#[test]
fn hostile_text_in_an_error_is_one_short_line() {
    let err = StepPlan::parse("\u{1b}[31mred\nplan that goes on and on and on and on and on")
        .unwrap_err();
    assert!(!err.contains('\u{1b}') && !err.contains('\n'), "{err:?}");
    assert!(err.contains('…'), "{err}");
}

#[rstest]
#[case("linear 5% every 10m", "5% → 10% → … → 100%, 10m each")]
#[case("linear 30% every 1m", "30% → 60% → 90% → 100%, 1m each")]
#[case("linear 12.5% every 90s", "12.5% → 25% → … → 100%, 1m 30s each")]
#[case("canary 10% then 100% after 5m", "10% → 100% after 5m")]
#[case("all at once", "100% at once")]
fn plans_describe_themselves_in_short_words(#[case] text: &str, #[case] words: &str) {
    assert_eq!(StepPlan::parse(text).unwrap().describe(), words);
}

#[test]
fn a_list_with_mixed_holds_says_each_hold() {
    let plan = list(&["5% 10m", "25% 30m", "100%"]).unwrap();
    assert_eq!(plan.describe(), "5% for 10m → 25% for 30m → 100%");
    let long: Vec<String> = (1..=9)
        .map(|n| format!("{}% {}m", n * 10, n))
        .chain(["100%".to_string()])
        .collect();
    let plan = StepPlan::from_list(&long).unwrap();
    assert_eq!(plan.describe(), "10% for 1m → 20% for 2m → … → 100%");
    assert_eq!(
        list(&["5% 10m", "25% 10m", "100%"]).unwrap().describe(),
        "5% → 25% → 100%, 10m each"
    );
}

/// A percentage as written: whole and up to two decimals.
fn written(hundredths: u32) -> String {
    crate::model::strategy::percent(hundredths)
}

fn assert_well_formed(plan: &StepPlan) -> Result<(), TestCaseError> {
    let (held, last) = plan.steps.split_at(plan.steps.len() - 1);
    prop_assert_eq!(
        last,
        &[PlannedStep {
            weight: ALL,
            hold: Duration::ZERO
        }]
    );
    prop_assert!(plan.steps.windows(2).all(|w| w[0].weight < w[1].weight));
    prop_assert!(plan.steps[0].weight > 0);
    prop_assert!(held.iter().all(|s| !s.hold.is_zero()));
    prop_assert!(plan.steps.len() <= MAX_STEPS);
    Ok(())
}

proptest! {
    #[test]
    fn a_parsed_linear_or_canary_plan_ends_at_all_strictly_rising(
        step in 100u32..=ALL, secs in 1u64..100_000, canary in any::<bool>()
    ) {
        let text = if canary && step < ALL {
            format!("canary {} then 100% after {secs}s", written(step))
        } else {
            format!("linear {} every {secs}s", written(step))
        };
        let plan = StepPlan::parse(&text).map_err(TestCaseError::fail)?;
        assert_well_formed(&plan)?;
        prop_assert_eq!(plan.steps[0].weight, step);
    }

    #[test]
    fn a_parsed_list_ends_at_all_strictly_rising(
        below in proptest::collection::btree_set(1u32..ALL, 0..12),
        secs in proptest::collection::vec(1u64..10_000, 12),
    ) {
        let weights: Vec<u32> = below.into_iter().chain([ALL]).collect();
        let entries: Vec<String> = weights
            .iter()
            .zip(&secs)
            .enumerate()
            .map(|(i, (w, s))| {
                if i + 1 == weights.len() { written(*w) } else { format!("{} {s}s", written(*w)) }
            })
            .collect();
        let plan = StepPlan::from_list(&entries).map_err(TestCaseError::fail)?;
        assert_well_formed(&plan)?;
        prop_assert_eq!(plan.weights(), weights);
    }

    #[test]
    fn a_list_out_of_order_is_refused(weights in proptest::collection::vec(1u32..=ALL, 2..8)) {
        let entries: Vec<String> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| if i + 1 == weights.len() { written(*w) } else { format!("{} 1m", written(*w)) })
            .collect();
        let ok = weights.windows(2).all(|w| w[0] < w[1]) && weights.last() == Some(&ALL);
        prop_assert_eq!(StepPlan::from_list(&entries).is_ok(), ok);
    }

    #[test]
    fn parsing_never_panics(text in ".{0,60}", entries in proptest::collection::vec(".{0,20}", 0..5)) {
        if let Ok(plan) = StepPlan::parse(&text) {
            assert_well_formed(&plan)?;
        }
        if let Ok(plan) = StepPlan::from_list(&entries) {
            assert_well_formed(&plan)?;
        }
    }
}
