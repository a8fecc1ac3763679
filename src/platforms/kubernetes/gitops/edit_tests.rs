use proptest::prelude::*;

use super::*;
use crate::config::kubernetes::HelmValue;

const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn kustomize(image: &str) -> ImageSetting {
    ImageSetting::Kustomize {
        file: "apps/api/kustomization.yaml".to_string(),
        image: image.to_string(),
    }
}

fn helm(path: &str) -> ImageSetting {
    ImageSetting::Helm {
        file: "values-prod.yaml".to_string(),
        path: path.split('.').map(str::to_string).collect(),
        value: HelmValue::Digest,
    }
}

/// `set` turns `before` into exactly `after`, and `get` reads both ends.
fn round_trip(setting: &ImageSetting, before: &str, after: &str, old: Option<&str>) {
    assert_eq!(get(before, setting).unwrap().as_deref(), old, "{before}");
    assert_eq!(set(before, setting, NEW).unwrap(), after);
    assert_eq!(get(after, setting).unwrap().as_deref(), Some(NEW));
}

#[test]
fn kustomize_digest_is_replaced_and_nothing_else() {
    let t = |d: &str| {
        format!(
            "# prod kustomization\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\n\
             resources:\n  - ../../base   # the base\n\nimages:\n  # the web tier\n  - name: ghcr.io/acme/web\n    \
             newTag: v1\n\n  # the api\n  - name: ghcr.io/acme/api # ours\n    newName: ghcr.io/acme/api\n    \
             digest: {d}   # pinned by shipdeck\n  - name: ghcr.io/acme/worker\n    digest: {OLD}\n"
        )
    };
    round_trip(&kustomize("ghcr.io/acme/api"), &t(OLD), &t(NEW), Some(OLD));
}

#[test]
fn digest_first_and_fields_in_any_order() {
    let t = |d: &str| {
        format!(
            "images:\n- digest: {d}\n  newTag: latest\n  name: api\n- name: web\n  digest: {OLD}\n"
        )
    };
    round_trip(&kustomize("api"), &t(OLD), &t(NEW), Some(OLD));
}

#[test]
fn quoting_style_is_kept() {
    for (q, o) in [("\"", "\""), ("'", "'")] {
        let t = |d: &str| format!("images:\n  - name: \"api\"\n    digest: {q}{d}{o} # c\n");
        round_trip(&kustomize("api"), &t(OLD), &t(NEW), Some(OLD));
        let h = |d: &str| format!("\"image\":\n  'digest': {q}{d}{o}\n");
        round_trip(&helm("image.digest"), &h(OLD), &h(NEW), Some(OLD));
    }
}

#[test]
fn an_absent_digest_is_added_after_the_entry_with_its_indentation() {
    let before = "images:\n  - name: api\n    newName: reg/api\n    newTag: v2 # old\n  # next\n  - name: web\n";
    let after = format!(
        "images:\n  - name: api\n    newName: reg/api\n    newTag: v2 # old\n    digest: {NEW}\n  # next\n  - name: web\n"
    );
    round_trip(&kustomize("api"), before, &after, None);
    // The dash on a line of its own.
    let before = "images:\n-\n  name: api\n";
    round_trip(
        &kustomize("api"),
        before,
        &format!("{before}  digest: {NEW}\n"),
        None,
    );
}

#[test]
fn line_endings_and_a_missing_final_newline_are_kept() {
    let before = "images:\r\n  - name: api\r\n    newTag: v1";
    let after = format!("images:\r\n  - name: api\r\n    newTag: v1\r\n    digest: {NEW}");
    round_trip(&kustomize("api"), before, &after, None);
    let t = |d: &str| format!("image:\r\n  digest: {d}");
    round_trip(&helm("image.digest"), &t(OLD), &t(NEW), Some(OLD));
}

#[test]
fn a_null_value_is_read_as_none_and_written() {
    let before = "image:\n  digest:   # set by shipdeck\n  tag: ~\n";
    let after = format!("image:\n  digest: {NEW}   # set by shipdeck\n  tag: ~\n");
    round_trip(&helm("image.digest"), before, &after, None);
    let t = |d: &str| format!("image:\n  tag: {d}\n");
    round_trip(&helm("image.tag"), &t("~"), &t(NEW), None);
}

#[test]
fn helm_nested_path_with_siblings_and_lookalikes() {
    let t = |d: &str| {
        format!(
            "# values\nnotes: |\n  image:\n    digest: not this one\nsidecar:\n  image:\n    digest: {OLD}\n\
             image:\n    repository: ghcr.io/acme/api\n    # pinned\n    digest: {d}\n    pullPolicy: IfNotPresent\n\
             quoted: \"multi\n  line\"\nlist:\n- a\n- b\n"
        )
    };
    round_trip(&helm("image.digest"), &t(OLD), &t(NEW), Some(OLD));
    let r = |d: &str| format!("app:\n  image: {d}\n");
    let reference = ImageSetting::Helm {
        file: "v.yaml".to_string(),
        path: vec!["app".to_string(), "image".to_string()],
        value: HelmValue::Reference,
    };
    let old_ref = format!("ghcr.io/acme/api@{OLD}");
    let new_ref = format!("ghcr.io/acme/api@{NEW}");
    assert_eq!(
        get(&r(&old_ref), &reference).unwrap().as_deref(),
        Some(old_ref.as_str())
    );
    assert_eq!(
        set(&r(&old_ref), &reference, &new_ref).unwrap(),
        r(&new_ref)
    );
}

fn err(text: &str, setting: &ImageSetting) -> EditError {
    let e = get(text, setting).unwrap_err();
    // `set` refuses the same way.
    assert_eq!(set(text, setting, NEW).unwrap_err(), e);
    e
}

#[test]
fn a_missing_key_names_file_path_and_line() {
    let e = err("image:\n  repository: x\n", &helm("image.digest"));
    assert_eq!(
        e,
        EditError::Missing {
            file: "values-prod.yaml".to_string(),
            path: "image.digest".to_string(),
            missing: "key digest".to_string(),
            line: Some(1),
        }
    );
    assert_eq!(
        e.to_string(),
        "values-prod.yaml:1: image.digest is missing (no key digest)"
    );
    let e = err("other: 1\n", &helm("image.digest"));
    assert!(matches!(e, EditError::Missing { line: None, .. }), "{e:?}");
    // A key with nothing below it is null: its child is missing.
    let e = err("image:\nnext: 1\n", &helm("image.digest"));
    assert!(
        matches!(e, EditError::Missing { line: Some(1), .. }),
        "{e:?}"
    );
}

#[test]
fn a_missing_image_entry_is_named() {
    let e = err("images:\n  - name: web\n    digest: x\n", &kustomize("api"));
    assert!(
        e.to_string()
            .contains("apps/api/kustomization.yaml:1: images[name=api].digest is missing"),
        "{e}"
    );
    let e = err("resources: []\n", &kustomize("api"));
    assert!(matches!(e, EditError::Missing { .. }), "{e:?}");
}

fn shape(text: &str, setting: &ImageSetting) -> (usize, Shape) {
    match err(text, setting) {
        EditError::NotAValue { line, shape, .. } => (line, shape),
        other => panic!("{other:?}"),
    }
}

#[test]
fn collections_are_refused() {
    let h = helm("image.digest");
    assert_eq!(
        shape("image:\n  digest:\n    a: 1\n", &h),
        (2, Shape::Collection)
    );
    assert_eq!(
        shape("image:\n  digest:\n  - a\n", &h),
        (2, Shape::Collection)
    );
    assert_eq!(
        shape("image:\n  digest: [a, b]\n", &h),
        (2, Shape::FlowCollection)
    );
    assert_eq!(
        shape("image:\n  digest: {a: b,\n    c: d}\n", &h),
        (2, Shape::FlowCollection)
    );
    assert_eq!(
        shape("image: {digest: x}\n", &h),
        (1, Shape::FlowCollection)
    );
    assert_eq!(
        shape("images: [{name: api, digest: x}]\n", &kustomize("api")),
        (1, Shape::FlowCollection)
    );
    let e = err("images:\n- {name: api, digest: x}\n", &kustomize("api"));
    assert!(matches!(e, EditError::Unsupported { line: 2, .. }), "{e:?}");
}

#[test]
fn multi_line_scalars_are_refused() {
    let h = helm("image.digest");
    assert_eq!(
        shape("image:\n  digest: |\n    sha256:1\n", &h),
        (2, Shape::MultiLine)
    );
    assert_eq!(
        shape("image:\n  digest: >-\n    x\n", &h),
        (2, Shape::MultiLine)
    );
    assert_eq!(
        shape("image:\n  digest: \"sha256:1\n    2\"\n", &h),
        (2, Shape::MultiLine)
    );
    assert_eq!(
        shape("image:\n  digest: sha256:1\n    continued\n", &h),
        (2, Shape::MultiLine)
    );
    assert_eq!(
        shape(
            "images:\n- name: api\n  digest: 'a\n  b'\n",
            &kustomize("api")
        ),
        (3, Shape::MultiLine)
    );
}

#[test]
fn anchors_aliases_tags_and_merge_keys_are_refused() {
    let h = helm("image.digest");
    assert_eq!(
        shape("image:\n  digest: &d sha256:1\n", &h),
        (2, Shape::Anchor)
    );
    assert_eq!(
        shape("d: &d x\nimage:\n  digest: *d\n", &h),
        (3, Shape::Alias)
    );
    assert_eq!(shape("image:\n  digest: !!str x\n", &h), (2, Shape::Tag));
    assert_eq!(
        shape("base: &b\n  digest: x\nimage: *b\n", &h),
        (3, Shape::Alias)
    );
    let e = err("base: &b\n  digest: x\nimage:\n  <<: *b\n", &h);
    assert!(
        matches!(&e, EditError::Unsupported { line: 4, why, .. } if why.contains("merge key")),
        "{e:?}"
    );
    // A merge key does not matter when the key itself is there.
    assert_eq!(
        get("image:\n  <<: *b\n  digest: x\n", &h)
            .unwrap()
            .as_deref(),
        Some("x")
    );
}

#[test]
fn shapes_on_the_way_are_refused() {
    let h = helm("image.digest");
    let e = err("image: ghcr.io/acme/api\n", &h);
    assert!(
        matches!(&e, EditError::Unsupported { line: 1, why, .. } if why.contains("image is a value")),
        "{e:?}"
    );
    let e = err("image:\n  - digest: x\n", &h);
    assert!(
        matches!(&e, EditError::Unsupported { line: 2, why, .. } if why.contains("a list")),
        "{e:?}"
    );
    let e = err("- a\n- b\n", &h);
    assert!(matches!(e, EditError::Unsupported { line: 1, .. }), "{e:?}");
    let e = err("images:\n  name: api\n", &kustomize("api"));
    assert!(
        matches!(&e, EditError::Unsupported { why, .. } if why.contains("not a list")),
        "{e:?}"
    );
}

#[test]
fn duplicates_are_refused() {
    let e = err("image:\n  digest: a\n  digest: b\n", &helm("image.digest"));
    assert!(
        matches!(
            e,
            EditError::Ambiguous {
                first: 2,
                second: 3,
                ..
            }
        ),
        "{e:?}"
    );
    let e = err(
        "images:\n- name: api\n  digest: a\n- name: api\n  digest: b\n",
        &kustomize("api"),
    );
    assert!(
        matches!(
            e,
            EditError::Ambiguous {
                first: 2,
                second: 4,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn documents_this_reader_does_not_take_are_refused() {
    let h = helm("image.digest");
    for (text, line, why) in [
        ("image:\n\tdigest: x\n", 2, "tab"),
        (
            "image:\n  digest: x\n---\nimage:\n  digest: y\n",
            3,
            "more than one",
        ),
        ("%YAML 1.2\n---\nimage:\n  digest: x\n", 1, "directive"),
        ("image:\n    tag: 1\n  digest: x\n", 3, "indented less"),
        ("image:\n  ? digest\n  : x\n", 2, "cannot read"),
        ("image:\n  digest: \"a\\u0041\"\n", 2, "escape"),
        ("\u{feff}image:\n  digest: x\n", 1, "byte-order mark"),
    ] {
        let e = err(text, &h);
        assert!(
            matches!(&e, EditError::Unsupported { line: l, why: w, .. } if *l == line && w.contains(why)),
            "{text:?}: {e:?}"
        );
    }
    // One leading document marker is fine.
    assert_eq!(
        get("--- # values\nimage:\n  digest: x\n", &h)
            .unwrap()
            .as_deref(),
        Some("x")
    );
}

#[test]
fn only_digests_and_references_are_written() {
    let text = "image:\n  digest: x\n";
    for bad in [
        "",
        "latest",
        "sha256:1 # comment",
        "\"sha256:1\"",
        "sha256:1\nimage: x",
        "-sha256:1",
        "*sha256",
    ] {
        let e = set(text, &helm("image.digest"), bad).unwrap_err();
        assert!(matches!(e, EditError::BadValue { .. }), "{bad:?}: {e:?}");
    }
    // The value's shape follows the setting: a digest where a digest is
    // written, a reference where a reference is.
    let reference = format!("ghcr.io/acme/api@{NEW}");
    let e = set(text, &helm("image.digest"), &reference).unwrap_err();
    assert!(matches!(e, EditError::BadValue { .. }), "{e:?}");
    let e = set("images:\n- name: a\n", &kustomize("a"), &reference).unwrap_err();
    assert!(matches!(e, EditError::BadValue { .. }), "{e:?}");
    let as_reference = ImageSetting::Helm {
        file: "v.yaml".to_string(),
        path: vec!["image".to_string()],
        value: HelmValue::Reference,
    };
    let e = set("image: x\n", &as_reference, NEW).unwrap_err();
    assert!(matches!(e, EditError::BadValue { .. }), "{e:?}");
    assert!(set("image: x\n", &as_reference, &reference).is_ok());
}

/// Comments, blank lines and spacing around a kustomization entry.
fn kustomization_template() -> impl Strategy<Value = (String, String)> {
    let comment = "[a-zA-Z0-9 :#'\"@.-]{0,24}";
    let gap = proptest::collection::vec(
        prop_oneof![Just(String::new()), comment.prop_map(|c| format!("# {c}")),],
        0..3,
    );
    (
        (gap.clone(), gap.clone(), gap),
        (0usize..3, 1usize..4, 0usize..3),
        (
            prop_oneof![Just(""), Just("\""), Just("'")],
            proptest::option::of(comment),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (g1, g2, g3),
                (list_indent, spaces, order),
                (quote, trailing, crlf, final_nl, newtag),
            )| {
                let pad = " ".repeat(list_indent);
                let field = " ".repeat(list_indent + 2);
                let lines = |g: &[String]| -> Vec<String> {
                    g.iter()
                        .map(|c| {
                            if c.is_empty() {
                                String::new()
                            } else {
                                format!("{pad}{c}")
                            }
                        })
                        .collect()
                };
                let digest = format!(
                    "digest:{}{quote}{{V}}{quote}{}",
                    " ".repeat(spaces),
                    trailing.map(|c| format!("  # {c}")).unwrap_or_default()
                );
                let mut entry = vec!["name: app".to_string(), digest];
                if newtag {
                    entry.push("newTag: v1.2.3 # tag".to_string());
                }
                let n = entry.len();
                entry.rotate_left(order % n);
                let mut out = vec!["kind: Kustomization".to_string(), "images:".to_string()];
                out.extend(lines(&g1));
                out.push(format!("{pad}- name: other\n{field}digest: sha256:00"));
                out.extend(lines(&g2));
                for (i, f) in entry.iter().enumerate() {
                    out.push(if i == 0 {
                        format!("{pad}- {f}")
                    } else {
                        format!("{field}{f}")
                    });
                }
                out.extend(lines(&g3));
                out.push("resources:\n- deploy.yaml".to_string());
                let eol = if crlf { "\r\n" } else { "\n" };
                let mut text = out.join("\n").replace('\n', eol);
                if final_nl {
                    text.push_str(eol);
                }
                (text, quote.to_string())
            },
        )
}

proptest! {
    #[test]
    fn only_the_value_changes(
        (template, _quote) in kustomization_template(),
        helm_indent in 1usize..5,
    ) {
        let before = template.replace("{V}", OLD);
        let after = template.replace("{V}", NEW);
        let k = kustomize("app");
        let got = get(&before, &k).unwrap();
        prop_assert_eq!(got.as_deref(), Some(OLD));
        prop_assert_eq!(set(&before, &k, NEW).unwrap(), after);
        // The same entry without its digest gets one, and keeps the rest.
        let without: String = template
            .split_inclusive('\n')
            .filter(|l| !l.contains("{V}"))
            .collect();
        if !template.lines().any(|l| l.contains("{V}") && l.trim_start().starts_with("- ")) {
            let added = set(&without, &k, NEW).unwrap();
            let got = get(&added, &k).unwrap();
            prop_assert_eq!(got.as_deref(), Some(NEW));
            let removed: String = added
                .split_inclusive('\n')
                .filter(|l| !l.contains(NEW))
                .collect();
            prop_assert_eq!(removed, without);
        }
        // A Helm value under comments and a sibling, at any indentation.
        let ind = " ".repeat(helm_indent);
        let h = |d: &str| format!("# top\nimage: # the image\n{ind}# c\n\n{ind}repository: x\n{ind}digest: {d} # d\nother: 1");
        prop_assert_eq!(set(&h(OLD), &helm("image.digest"), NEW).unwrap(), h(NEW));
    }
}
