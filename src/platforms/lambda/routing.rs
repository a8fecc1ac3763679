//! An alias's routing change, checked before any call: Lambda refuses a bad
//! one, but some emulators store anything, and a weight stored by mistake
//! sends real traffic to the wrong code.
//!
//! Inside shipdeck a weight is hundredths of a percent ([`ALL`] = all of the
//! traffic); Lambda speaks a fraction between 0 and 1. The conversions live
//! here, at the edge.

use crate::model::shift::ALL;
use crate::model::strategy::percent;

/// The version name Lambda gives the unpublished code.
pub const LATEST: &str = "$LATEST";

/// Why an alias's routing change is refused before it is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    /// The alias points at `$LATEST`, which cannot carry an additional weight.
    #[error(
        "the alias points at $LATEST, which Lambda does not let share traffic: point it at a \
         published version first"
    )]
    AliasOnLatest,
    /// The alias's own version is not a version number.
    #[error("the alias's version \"{0}\" is not a published version number (1, 2, 3…)")]
    AliasVersion(String),
    /// The weight would go to `$LATEST`.
    #[error("traffic cannot be weighted to $LATEST: publish a version and shift to its number")]
    ToLatest,
    /// The version to shift to is not a version number.
    #[error("\"{0}\" is not a published version number (1, 2, 3…)")]
    NotAVersion(String),
    /// The version to shift to is not among the function's versions.
    #[error("version {version} does not exist on the function ({known})")]
    UnknownVersion {
        /// The version asked for.
        version: u32,
        /// The versions there are, in short words.
        known: String,
    },
    /// The weight would go to the version the alias already serves.
    #[error(
        "the alias already serves version {0}: an additional weight must go to another version"
    )]
    OwnVersion(u32),
    /// The weight is not strictly between none and all of the traffic.
    #[error(
        "an additional weight of {} is not above 0% and below 100%: the last step points the \
         alias at the new version and clears the weights instead",
        percent(*.0)
    )]
    Weight(u32),
}

/// Checks that `weight` (hundredths) of the alias's traffic may go to
/// `to_version`, the alias serving `alias_version`, the function having
/// published `versions` (as Lambda lists them, `$LATEST` among them or not).
pub fn validate(
    alias_version: &str,
    to_version: &str,
    weight: u32,
    versions: &[String],
) -> Result<(), RoutingError> {
    if alias_version == LATEST {
        return Err(RoutingError::AliasOnLatest);
    }
    let own =
        number(alias_version).ok_or_else(|| RoutingError::AliasVersion(shown(alias_version)))?;
    if to_version == LATEST {
        return Err(RoutingError::ToLatest);
    }
    let to = number(to_version).ok_or_else(|| RoutingError::NotAVersion(shown(to_version)))?;
    if to == own {
        return Err(RoutingError::OwnVersion(to));
    }
    if !versions.iter().any(|v| number(v) == Some(to)) {
        return Err(RoutingError::UnknownVersion {
            version: to,
            known: known(versions),
        });
    }
    if weight == 0 || weight >= ALL {
        return Err(RoutingError::Weight(weight));
    }
    Ok(())
}

/// Lambda's fraction for hundredths of a percent: 0.05 for 500.
pub fn weight_f64(hundredths: u32) -> f64 {
    f64::from(hundredths) / f64::from(ALL)
}

/// Hundredths of a percent for Lambda's fraction, to the nearest;
/// `None` for anything that is not a number between 0 and 1.
pub fn hundredths(weight: f64) -> Option<u32> {
    if !(0.0..=1.0).contains(&weight) {
        // NaN is in no range.
        return None;
    }
    let scaled = (weight * f64::from(ALL)).round();
    // In 0..=ALL after the range check: the cast cannot truncate or wrap.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let h = scaled as u32;
    Some(h)
}

/// A published version's number: decimal digits as Lambda writes them, no
/// sign, no leading zero.
pub fn number(version: &str) -> Option<u32> {
    let canonical = !version.is_empty()
        && version.len() <= 10
        && version.bytes().all(|b| b.is_ascii_digit())
        && (version == "0" || !version.starts_with('0'));
    canonical.then(|| version.parse().ok()).flatten()
}

/// A version as a person sees it in an error: one line, at most 40 characters.
fn shown(version: &str) -> String {
    const LIMIT: usize = 40;
    let clean = crate::model::sanitize(version);
    let mut out: String = clean.chars().take(LIMIT).collect();
    if clean.chars().count() > LIMIT {
        out.push('…');
    }
    out
}

/// The published versions in short words: `versions 1–13`, `no published version`.
fn known(versions: &[String]) -> String {
    let numbers: Vec<u32> = versions.iter().filter_map(|v| number(v)).collect();
    match (numbers.iter().min(), numbers.iter().max()) {
        (Some(lo), Some(hi)) if lo == hi => format!("its only version is {lo}"),
        (Some(lo), Some(hi)) => format!("its versions run {lo}–{hi}"),
        _ => "it has no published version".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    fn versions(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn a_weight_to_another_published_version_passes() {
        let all = versions(&["$LATEST", "11", "12", "13"]);
        assert_eq!(validate("12", "13", 500, &all), Ok(()));
        assert_eq!(validate("12", "13", 1, &all), Ok(()));
        assert_eq!(validate("12", "13", ALL - 1, &all), Ok(()));
        // Rolling back by weight to an older version is a routing change too.
        assert_eq!(validate("13", "11", 9_000, &all), Ok(()));
    }

    #[rstest]
    #[case("$LATEST", "13", 500, RoutingError::AliasOnLatest)]
    #[case("live", "13", 500, RoutingError::AliasVersion("live".into()))]
    #[case("12", "$LATEST", 500, RoutingError::ToLatest)]
    #[case("12", "v13", 500, RoutingError::NotAVersion("v13".into()))]
    #[case("12", "013", 500, RoutingError::NotAVersion("013".into()))]
    #[case("12", "+13", 500, RoutingError::NotAVersion("+13".into()))]
    #[case("12", "", 500, RoutingError::NotAVersion(String::new()))]
    #[case("12", "99999999999", 500, RoutingError::NotAVersion("99999999999".into()))]
    #[case("12", "14", 500, RoutingError::UnknownVersion { version: 14, known: "its versions run 11–13".into() })]
    #[case("12", "12", 500, RoutingError::OwnVersion(12))]
    #[case("12", "13", 0, RoutingError::Weight(0))]
    #[case("12", "13", ALL, RoutingError::Weight(ALL))]
    #[case("12", "13", u32::MAX, RoutingError::Weight(u32::MAX))]
    fn a_bad_change_is_refused_before_any_call(
        #[case] alias: &str,
        #[case] to: &str,
        #[case] weight: u32,
        #[case] why: RoutingError,
    ) {
        let all = versions(&["$LATEST", "11", "12", "13"]);
        assert_eq!(validate(alias, to, weight, &all), Err(why));
    }

    #[test]
    fn the_messages_say_what_is_wrong_and_what_to_do() {
        let msg = |e: RoutingError| e.to_string();
        assert_eq!(
            msg(RoutingError::Weight(ALL)),
            "an additional weight of 100% is not above 0% and below 100%: the last step points \
             the alias at the new version and clears the weights instead"
        );
        assert_eq!(
            msg(validate("12", "14", 500, &versions(&["12"])).unwrap_err()),
            "version 14 does not exist on the function (its only version is 12)"
        );
        assert_eq!(
            msg(validate("12", "14", 500, &versions(&["$LATEST"])).unwrap_err()),
            "version 14 does not exist on the function (it has no published version)"
        );
        assert!(msg(RoutingError::AliasOnLatest).contains("published version first"));
        assert!(msg(RoutingError::ToLatest).contains("publish a version"));
        assert!(msg(RoutingError::OwnVersion(12)).contains("already serves version 12"));
    }

    #[test]
    fn hostile_versions_reach_the_message_cleaned_and_cut() {
        let e = validate("12", "\u{1b}]0;pwned\u{7}13\nmore", 500, &[]).unwrap_err();
        let text = e.to_string();
        assert!(!text.contains('\u{1b}') && !text.contains('\n'), "{text:?}");
        let long = "9".repeat(500);
        let text = validate(&long, "13", 500, &[]).unwrap_err().to_string();
        assert!(text.chars().count() < 120 && text.contains('…'), "{text}");
    }

    #[rstest]
    #[case(500, 0.05)]
    #[case(1, 0.0001)]
    #[case(ALL, 1.0)]
    #[case(0, 0.0)]
    #[case(1_250, 0.125)]
    fn hundredths_and_fractions_convert_both_ways(#[case] h: u32, #[case] f: f64) {
        assert!((weight_f64(h) - f).abs() < 1e-12);
        assert_eq!(hundredths(f), Some(h));
    }

    #[rstest]
    #[case(f64::NAN)]
    #[case(-0.01)]
    #[case(-f64::EPSILON)]
    #[case(1.000_001)]
    #[case(2.0)]
    #[case(f64::INFINITY)]
    #[case(f64::NEG_INFINITY)]
    fn a_fraction_outside_zero_to_one_is_no_weight(#[case] f: f64) {
        assert_eq!(hundredths(f), None);
    }

    #[test]
    fn a_fraction_rounds_to_the_nearest_hundredth() {
        assert_eq!(hundredths(0.050_000_000_000_001), Some(500));
        assert_eq!(hundredths(0.049_96), Some(500));
        assert_eq!(hundredths(0.000_04), Some(0));
        assert_eq!(hundredths(-0.0), Some(0));
    }

    proptest! {
        #[test]
        fn every_hundredth_survives_the_round_trip(h in 0u32..=ALL) {
            prop_assert_eq!(hundredths(weight_f64(h)), Some(h));
        }

        #[test]
        fn any_fraction_is_a_weight_in_range_or_none(f in any::<f64>()) {
            match hundredths(f) {
                Some(h) => prop_assert!(h <= ALL && (0.0..=1.0).contains(&f)),
                None => prop_assert!(!(0.0..=1.0).contains(&f)),
            }
        }

        #[test]
        fn validation_never_panics_and_passes_only_good_changes(
            alias in "\\$LATEST|[0-9]{1,3}|.{0,12}",
            to in "\\$LATEST|[0-9]{1,3}|.{0,12}",
            weight in prop_oneof![Just(0u32), Just(ALL), 0u32..=ALL + 10, any::<u32>()],
            known in proptest::collection::vec("\\$LATEST|[0-9]{1,3}|.{0,5}", 0..6),
        ) {
            if validate(&alias, &to, weight, &known).is_ok() {
                let to_n = number(&to);
                prop_assert!(to_n.is_some() && number(&alias).is_some());
                prop_assert!(to_n != number(&alias));
                prop_assert!(known.iter().any(|v| number(v) == to_n));
                prop_assert!(weight > 0 && weight < ALL);
            }
        }
    }
}
