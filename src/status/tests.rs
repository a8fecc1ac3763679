//! The JSON cell's image labels and regions (schema 2 only grows).

use chrono::{TimeZone, Utc};
use serde_json::json;

use super::{Filter, build};
use crate::model::{EnvSnapshot, ImageRef, Placement, ServiceSnapshot};

fn config() -> crate::config::Config {
    crate::config::parse_str(
        "[[environment]]\nname = \"prod\"\nregion = \"eu-central-1\"\ncluster = \"p\"\n\
         [[environment.service]]\nname = \"api\"\n[[environment.service]]\nname = \"web\"\n",
        "t.toml",
        None,
    )
    .unwrap()
}

#[test]
fn a_cell_names_its_images_commit_and_source_and_where_its_units_run() {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let hex = "1111111111111111111111111111111111111111111111111111111111111111";
    let mut api = ServiceSnapshot::bare("api", "api");
    let mut img = ImageRef::parse(&format!("registry.fly.io/edge@sha256:{hex}")).unwrap();
    img.revision = Some("9f8e7d6c5b4a39281706f5e4d3c2b1a098765432".into());
    // Outside text: what a terminal could act on never reaches the JSON.
    img.source = Some("https://github.com/acme/edge\u{1b}[2J".into());
    api.image = Some(img);
    api.regions = Some(vec![
        Placement::new("148ed726c5d918", "fra"),
        Placement::new("3d8d413b29d089\u{7}", "ams"),
    ]);
    let snap = EnvSnapshot {
        env: "prod".into(),
        read_at: at,
        services: vec![api, ServiceSnapshot::bare("web", "web")],
        warnings: Vec::new(),
        sources: crate::model::Sources::default(),
        index: crate::model::ServiceIndex::default(),
    };
    let report = build(&config(), &[Ok(snap)], &Filter::default(), at);
    let json = serde_json::to_value(&report).unwrap();
    let api = &json["services"][0]["cells"][0];
    assert_eq!(
        api["image_revision"],
        "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
    );
    assert_eq!(api["image_source"], "https://github.com/acme/edge");
    assert_eq!(
        api["regions"],
        json!([
            {"unit": "148ed726c5d918", "region": "fra"},
            {"unit": "3d8d413b29d089", "region": "ams"}
        ])
    );
    // Unknown is absent, never an empty value that could pass for "none".
    let web = json["services"][1]["cells"][0].as_object().unwrap();
    for key in ["image_revision", "image_source", "regions"] {
        assert!(!web.contains_key(key), "{key}: {web:?}");
    }
    assert_eq!(report.schema_version, 2);
}
