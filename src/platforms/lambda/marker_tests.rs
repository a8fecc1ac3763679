use proptest::prelude::*;
use rstest::rstest;

use super::*;

fn marker() -> Marker {
    Marker {
        run: "promote-1767225600123456789".into(),
        from: 12,
        to: 13,
        step: 2,
        of: 4,
        weight: 1_000,
        paused: true,
        at: 1_767_225_600,
    }
}

const WRITTEN: &str = "[shipdeck run=promote-1767225600123456789 from=12 to=13 step=2/4 w=1000 paused=1 at=1767225600]";

#[test]
fn a_marker_follows_the_description_and_reads_back() {
    let desc = marker().write("thumbnailer prod traffic");
    assert_eq!(desc, format!("thumbnailer prod traffic {WRITTEN}"));
    assert_eq!(Marker::read(&desc), Some(marker()));
    assert_eq!(strip(&desc), "thumbnailer prod traffic");
}

#[test]
fn an_empty_description_is_the_marker_alone() {
    let desc = marker().write("");
    assert_eq!(desc, WRITTEN);
    assert_eq!(Marker::read(&desc), Some(marker()));
    assert_eq!(strip(&desc), "");
}

#[test]
fn the_next_step_replaces_the_marker_instead_of_adding_one() {
    let first = marker().write("live traffic");
    let next = Marker {
        step: 3,
        weight: 5_000,
        paused: false,
        ..marker()
    };
    let desc = next.write(&first);
    assert_eq!(desc.matches(TAG).count(), 1, "{desc}");
    assert_eq!(Marker::read(&desc), Some(next));
    assert_eq!(strip(&desc), "live traffic");
}

#[test]
fn a_long_description_is_cut_never_the_marker() {
    let long = "é".repeat(300);
    let desc = marker().write(&long);
    assert!(desc.len() <= DESCRIPTION_LIMIT, "{} bytes", desc.len());
    assert_eq!(Marker::read(&desc), Some(marker()));
    assert!(long.starts_with(&strip(&desc)));
    // The biggest marker there is still leaves room for words.
    let biggest = Marker {
        run: "r".repeat(RUN_LIMIT),
        from: u32::MAX,
        to: u32::MAX - 1,
        step: u32::MAX,
        of: u32::MAX,
        weight: ALL,
        paused: true,
        at: i64::MIN,
    };
    let desc = biggest.write(&"x".repeat(300));
    assert!(desc.len() <= DESCRIPTION_LIMIT);
    assert!(desc.starts_with("xxxxxxxxxx"), "{desc}");
    assert_eq!(Marker::read(&desc), Some(biggest));
}

#[test]
fn a_run_id_keeps_only_what_a_marker_can_hold() {
    let odd = Marker {
        run: format!("run with]spaces{}", "z".repeat(100)),
        ..marker()
    };
    let read = Marker::read(&odd.write("d")).unwrap();
    assert!(read.run.starts_with("run_with_spaces"));
    assert_eq!(read.run.chars().count(), RUN_LIMIT);
    let empty = Marker {
        run: String::new(),
        ..marker()
    };
    assert_eq!(Marker::read(&empty.write("")).unwrap().run, "_");
}

#[rstest]
#[case::two_markers_the_last_counts(
    "d [shipdeck run=a from=1 to=2 step=1/2 w=500 paused=0 at=5] [shipdeck run=b from=1 to=2 step=2/2 w=10000 paused=0 at=9]",
    Some("b")
)]
#[case::a_marker_in_the_middle_is_words(
    "[shipdeck run=a from=1 to=2 step=1/2 w=500 paused=0 at=5] added by hand",
    None
)]
#[case::garbage_after_a_good_one(
    "d [shipdeck run=a from=1 to=2 step=1/2 w=500 paused=0 at=5] [shipdeck run=b from=x]",
    None
)]
#[case::huge_version(
    "[shipdeck run=a from=99999999999 to=2 step=1/2 w=500 paused=0 at=5]",
    None
)]
#[case::version_past_u32(
    "[shipdeck run=a from=4294967296 to=2 step=1/2 w=500 paused=0 at=5]",
    None
)]
#[case::huge_time(
    "[shipdeck run=a from=1 to=2 step=1/2 w=500 paused=0 at=99999999999999999999]",
    None
)]
#[case::signed("[shipdeck run=a from=+1 to=2 step=1/2 w=500 paused=0 at=5]", None)]
#[case::leading_zero("[shipdeck run=a from=01 to=2 step=1/2 w=500 paused=0 at=5]", None)]
#[case::weight_over_all("[shipdeck run=a from=1 to=2 step=1/2 w=10001 paused=0 at=5]", None)]
#[case::step_past_the_end("[shipdeck run=a from=1 to=2 step=3/2 w=500 paused=0 at=5]", None)]
#[case::step_zero("[shipdeck run=a from=1 to=2 step=0/2 w=500 paused=0 at=5]", None)]
#[case::no_slash("[shipdeck run=a from=1 to=2 step=1 w=500 paused=0 at=5]", None)]
#[case::paused_two("[shipdeck run=a from=1 to=2 step=1/2 w=500 paused=2 at=5]", None)]
#[case::same_versions("[shipdeck run=a from=2 to=2 step=1/2 w=500 paused=0 at=5]", None)]
#[case::missing_field("[shipdeck run=a from=1 to=2 step=1/2 w=500 at=5]", None)]
#[case::extra_field("[shipdeck run=a from=1 to=2 step=1/2 w=500 paused=0 at=5 x=1]", None)]
#[case::out_of_order("[shipdeck from=1 run=a to=2 step=1/2 w=500 paused=0 at=5]", None)]
#[case::double_space("[shipdeck run=a  from=1 to=2 step=1/2 w=500 paused=0 at=5]", None)]
#[case::empty_run("[shipdeck run= from=1 to=2 step=1/2 w=500 paused=0 at=5]", None)]
#[case::control_in_run(
    "[shipdeck run=a\u{1b}[2J from=1 to=2 step=1/2 w=500 paused=0 at=5]",
    None
)]
#[case::trailing_space("[shipdeck run=a from=1 to=2 step=1/2 w=500 paused=0 at=5] ", None)]
#[case::unclosed("[shipdeck run=a from=1 to=2 step=1/2 w=500 paused=0 at=5", None)]
#[case::tag_only("[shipdeck ]", None)]
#[case::bracket_only("]", None)]
#[case::empty("", None)]
#[case::negative_time(
    "[shipdeck run=a from=1 to=2 step=1/2 w=500 paused=0 at=-5]",
    Some("a")
)]
fn hostile_descriptions_read_as_none_or_the_last_good_marker(
    #[case] desc: &str,
    #[case] run: Option<&str>,
) {
    assert_eq!(Marker::read(desc).map(|m| m.run), run.map(str::to_string));
    // Whatever it held, the stripped description is a prefix without a marker.
    let stripped = strip(desc);
    assert!(desc.starts_with(&stripped));
    assert_eq!(Marker::read(&stripped), None);
}

#[test]
fn stripping_takes_every_marker_off_the_end_and_nothing_else() {
    let desc = "words [shipdeck run=a from=1 to=2 step=1/2 w=500 paused=0 at=5] \
                [shipdeck run=b from=1 to=2 step=2/2 w=10000 paused=0 at=9]";
    assert_eq!(strip(desc), "words");
    assert_eq!(strip("no marker here"), "no marker here");
    assert_eq!(strip("ends in [brackets]"), "ends in [brackets]");
    let trailing_space = "kept as written  ";
    assert_eq!(strip(&marker().write(trailing_space)), trailing_space);
}

fn any_marker() -> impl Strategy<Value = Marker> {
    (
        "[A-Za-z0-9._:-]{1,64}",
        any::<u32>(),
        any::<u32>(),
        (1u32..=u32::MAX).prop_flat_map(|of| (1..=of, Just(of))),
        0..=ALL,
        any::<bool>(),
        any::<i64>(),
    )
        .prop_filter("a shift moves between two versions", |(_, from, to, ..)| {
            from != to
        })
        .prop_map(|(run, from, to, (step, of), weight, paused, at)| Marker {
            run,
            from,
            to,
            step,
            of,
            weight,
            paused,
            at,
        })
}

proptest! {
    #[test]
    fn any_marker_on_any_description_reads_back(m in any_marker(), desc in any::<String>()) {
        let written = m.write(&desc);
        prop_assert!(written.len() <= DESCRIPTION_LIMIT);
        prop_assert_eq!(Marker::read(&written), Some(m));
        let stripped = strip(&written);
        prop_assert!(desc.starts_with(&stripped), "{:?} is not a prefix of {:?}", stripped, desc);
    }

    #[test]
    fn a_short_description_comes_back_whole(m in any_marker(), desc in "[^\\]]{0,19}|[ -\\\\^-~]{0,77}") {
        prop_assert_eq!(strip(&m.write(&desc)), desc);
    }

    #[test]
    fn descriptions_made_of_marker_pieces_never_panic(
        pieces in proptest::collection::vec(
            prop_oneof![
                Just("[shipdeck ".to_string()),
                Just("]".to_string()),
                Just(" ".to_string()),
                "(run|from|to|step|w|paused|at)=[0-9/a-z-]{0,12}",
                ".{0,4}",
            ],
            0..24,
        )
    ) {
        let desc: String = pieces.concat();
        let stripped = strip(&desc);
        prop_assert!(desc.starts_with(&stripped));
        prop_assert_eq!(Marker::read(&stripped), None);
        if let Some(m) = Marker::read(&desc) {
            prop_assert!(m.step >= 1 && m.step <= m.of && m.weight <= ALL && m.from != m.to);
        }
    }
}
