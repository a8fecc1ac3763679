//! Configuration semantics beyond error messages.

use std::time::Duration;

use shipdeck::config::{self, AutoCheck, Confirm, FreezeKind};

const TWO: &str = r#"
[[environment]]
name = "prod"
region = "eu-west-1"
cluster = "p"
production = true
promotes_from = "dev"
[[environment.service]]
name = "api"

[[environment]]
name = "dev"
region = "eu-west-1"
cluster = "d"
[[environment.service]]
name = "api"
"#;

#[test]
fn promotes_from_reorders_the_chain() {
    let cfg = config::parse_str(TWO, "t.toml", None).unwrap();
    assert_eq!(cfg.env_names(), vec!["dev", "prod"]);
}

#[test]
fn production_gets_stricter_defaults() {
    let cfg = config::parse_str(TWO, "t.toml", None).unwrap();
    let prod = cfg.env("prod").unwrap();
    assert_eq!(prod.confirm, Confirm::Type);
    assert!(prod.gate.four_eyes);
    assert_eq!(prod.gate.approvals_required, 2);
    assert!(!prod.gate.allow_override);
    let dev = cfg.env("dev").unwrap();
    assert_eq!(dev.confirm, Confirm::Enter);
    // Every check but allowed_regions, which needs a region list.
    assert_eq!(dev.gate.checks, AutoCheck::defaults());
    assert_eq!(dev.gate.checks.len(), AutoCheck::ALL.len() - 4);
    // Service defaults: ECS name and container follow the shipdeck name.
    let ecs = dev.services[0].ecs.as_ref().unwrap();
    assert_eq!(ecs.service, "api");
    assert_eq!(ecs.container, "api");
}

#[test]
fn example_config_parses_every_documented_section() {
    let text = std::fs::read_to_string("config.example.toml").unwrap();
    let cfg = config::parse_str(&text, "config.example.toml", None).unwrap();
    let prod = cfg.env("prod").unwrap();
    assert_eq!(prod.gate.freeze.len(), 2);
    assert!(matches!(
        prod.gate.freeze[0].kind,
        FreezeKind::Weekly { .. }
    ));
    assert_eq!(prod.gate.freeze[0].timezone, chrono_tz::Europe::Berlin);
    assert_eq!(
        prod.rollout.p95_latency_slo,
        Some(Duration::from_millis(800))
    );
    assert!(
        prod.gate
            .change_record
            .as_ref()
            .unwrap()
            .is_match("CHG-123456")
    );
    let dev = cfg.env("dev").unwrap();
    let health = dev.services[0].health.as_ref().unwrap();
    assert_eq!(health.headers[0].0, "Authorization");
    assert_eq!(dev.smoke.len(), 1);
    assert_eq!(dev.services[0].metrics.len(), 1);
    assert_eq!(prod.rollout.rules.len(), 3);
    // The runbook's ratio is metric math over two metrics of the service.
    let ratio = prod.services[0]
        .metrics
        .iter()
        .find(|m| m.label == "5xx %")
        .unwrap();
    assert_eq!(
        ratio.source,
        config::MetricSource::Expression("errors / requests * 100".into())
    );
    assert_eq!(cfg.refresh_interval, Duration::from_secs(5));
}

#[test]
fn demo_config_is_valid() {
    let cfg = config::demo().unwrap();
    assert_eq!(cfg.env_names(), vec!["dev", "staging", "prod"]);
    assert!(cfg.service_names().len() >= 6);
}

proptest::proptest! {
    // Arbitrary text never panics the validator; it is accepted or rejected with located problems.
    #[test]
    fn validator_never_panics(text in "[\\[\\]a-z_=\" \n0-9.{}#,-]{0,200}") {
        if let Err(config::ConfigError::Invalid(problems)) = config::parse_str(&text, "f.toml", None) {
            proptest::prop_assert!(!problems.is_empty());
            for p in problems {
                proptest::prop_assert!(p.line >= 1 && p.col >= 1);
            }
        }
    }
}

#[test]
fn max_in_flight_defaults_to_eight_and_is_bounded() {
    let cfg = config::parse_str(TWO, "t.toml", None).unwrap();
    assert!(cfg.environments.iter().all(|e| e.max_in_flight == 8));
    let set = |n: &str| {
        TWO.replacen(
            "cluster = \"p\"",
            &format!("cluster = \"p\"\nmax_in_flight = {n}"),
            1,
        )
    };
    let cfg = config::parse_str(&set("16"), "t.toml", None).unwrap();
    assert_eq!(cfg.env("prod").unwrap().max_in_flight, 16);
    for bad in ["0", "65", "\"8\""] {
        let err = config::parse_str(&set(bad), "t.toml", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_in_flight"), "{bad}: {err}");
    }
}

const WITH_METRIC: &str = r#"
[[environment]]
name = "prod"
region = "eu-west-1"
cluster = "p"
[[environment.service]]
name = "api"
[[environment.service.metric]]
label = "5xx"
namespace = "N"
metric_name = "M"
[environment.rollout]
"#;

#[test]
fn abort_rules_parse_with_their_defaults() {
    use shipdeck::config::{AbortRule, Condition, Missing};
    let text = format!(
        "{WITH_METRIC}[[environment.rollout.rule]]\nname = \"ratio\"\nmetric = \"5xx\"\n\
         above_baseline_by = 0.5\nfor = \"5m\"\n\
         [[environment.rollout.rule]]\nname = \"abs\"\nmetric = \"5xx\"\nabove = 5.0\n\
         min_baseline = 0.0\n"
    );
    // min_baseline belongs to above_baseline_by.
    let err = config::parse_str(&text, "t.toml", None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("min_baseline applies only"), "{err}");
    let text = text.replace("min_baseline = 0.0\n", "missing = \"abort\"\n");
    let cfg = config::parse_str(&text, "t.toml", None).unwrap();
    assert_eq!(
        cfg.env("prod").unwrap().rollout.rules,
        vec![
            AbortRule {
                name: "ratio".into(),
                metric: "5xx".into(),
                condition: Condition::AboveBaselineBy {
                    fraction: 0.5,
                    min_baseline: 1.0
                },
                points: 5,
                missing: Missing::Wait,
                compare_to: None,
            },
            AbortRule {
                name: "abs".into(),
                metric: "5xx".into(),
                condition: Condition::Above(5.0),
                points: 1,
                missing: Missing::Abort,
                compare_to: None,
            },
        ]
    );
}

#[test]
fn bad_abort_rules_are_reported_at_their_line() {
    for (rule, want) in [
        (
            "metric = \"p95\"\nabove = 1.0",
            "no service in this environment has a metric labelled \"p95\"",
        ),
        ("metric = \"5xx\"", "above"),
        (
            "metric = \"5xx\"\nabove = 1.0\nabove_baseline_by = 0.5",
            "one condition",
        ),
        ("metric = \"5xx\"\nabove_baseline_by = -1.0", "above zero"),
        (
            "metric = \"5xx\"\nabove = 1.0\ncompare_to = \"5xx\"",
            "compare_to applies only with above_baseline_by",
        ),
        (
            "metric = \"5xx\"\nabove_baseline_by = 0.5\ncompare_to = \"5xx blue\"",
            "no service in this environment has a metric labelled \"5xx blue\"",
        ),
        (
            "metric = \"5xx\"\nabove = 1.0\nmissing = \"maybe\"",
            "missing",
        ),
        ("metric = \"5xx\"\nabove = 1.0\nfor = \"0s\"", "for"),
    ] {
        let text = format!("{WITH_METRIC}[[environment.rollout.rule]]\nname = \"r\"\n{rule}\n");
        let err = config::parse_str(&text, "t.toml", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{rule}: {err}");
        assert!(err.contains("t.toml:"), "located: {err}");
    }
}

const SERVICE: &str = r#"
[[environment]]
name = "prod"
region = "eu-west-1"
cluster = "p"
[[environment.service]]
name = "api"
"#;

#[test]
fn metric_math_expressions_parse_and_bad_ones_are_located() {
    let good = format!(
        "{SERVICE}metric = [\n\
         {{ id = \"errors\", label = \"5xx\", namespace = \"N\", metric_name = \"E\" }},\n\
         {{ id = \"requests\", label = \"req\", namespace = \"N\", metric_name = \"R\" }},\n\
         {{ label = \"5xx %\", expression = \"errors / requests * 100\", role = \"error_rate\" }},\n]\n"
    );
    let cfg = config::parse_str(&good, "t.toml", None).unwrap();
    let m = &cfg.env("prod").unwrap().services[0].metrics;
    assert_eq!(m[0].id.as_deref(), Some("errors"));
    assert_eq!(m[2].role, config::MetricRole::ErrorRate);
    for (metrics, want) in [
        (
            "{ label = \"x\", expression = \"errors / 2\" }",
            "refers to \"errors\", which no metric of this service has",
        ),
        (
            "{ id = \"Bad\", namespace = \"N\", metric_name = \"M\" }",
            "metric id \"Bad\" is not allowed",
        ),
        (
            "{ id = \"a\", namespace = \"N\", metric_name = \"M\" }, { id = \"a\", namespace = \"N\", metric_name = \"M2\" }",
            "used twice",
        ),
        (
            "{ id = \"a\", namespace = \"N\", metric_name = \"M\" }, { label = \"y\", expression = \"a * 2\", namespace = \"N\" }",
            "namespace has no meaning beside expression",
        ),
        ("{ expression = \"1 + 1\" }", "label"),
        (
            "{ label = \"z\", expression = \" \" }",
            "expression is empty",
        ),
        ("{ label = \"z\" }", "namespace"),
        (
            "{ id = \"a\", namespace = \"N\", metric_name = \"M\" }, { label = \"deep\", expression = \"-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(-(-a))))))))))))))))))))))))))))))))\" }",
            "expression nests 65 levels deep (parentheses and signs); at most 64 are allowed",
        ),
    ] {
        let text = format!("{SERVICE}metric = [{metrics}]\n");
        let err = config::parse_str(&text, "t.toml", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{metrics}: {err}");
        assert!(err.contains("t.toml:"), "located: {err}");
    }
}

/// Deep nesting is judged without recursion, and at the limit it is fine.
#[test]
fn expression_nesting_is_limited_and_located() {
    let metric = |expression: &str| {
        format!(
            "{SERVICE}metric = [\n{{ id = \"a\", namespace = \"N\", metric_name = \"M\" }},\n\
             {{ label = \"deep\", expression = \"{expression}\" }},\n]\n"
        )
    };
    let nested = |n: usize| format!("{}a{}", "(".repeat(n), ")".repeat(n));
    assert!(
        config::parse_str(
            &metric(&nested(config::MAX_EXPRESSION_NESTING)),
            "t.toml",
            None
        )
        .is_ok()
    );
    let text = metric(&nested(20_000));
    let line = text.lines().position(|l| l.contains("deep")).unwrap() + 1;
    let err = config::parse_str(&text, "t.toml", None)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("t.toml:{line}:"))
            && err.contains("expression nests 20000 levels deep"),
        "{err}"
    );
}

/// A ledger that is a device or FIFO is a problem in the file, with its line.
#[test]
fn a_device_as_the_ledger_is_a_config_problem() {
    for device in ["/dev/null", "/dev/full"] {
        let text = format!("ledger_path = \"{device}\"\n{SERVICE}");
        let err = config::parse_str(&text, "t.toml", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("t.toml:1:15: \"ledger_path\" \"{device}\" is a character device, not a regular file")),
            "{err}"
        );
    }
    let text = format!("ledger_path = \"not-there-yet.jsonl\"\n{SERVICE}");
    assert!(config::parse_str(&text, "t.toml", None).is_ok());
}

#[test]
fn expression_ids_are_found_outside_quotes_and_rewritten() {
    use config::MetricSource;
    let ids: Vec<&str> =
        MetricSource::referenced_ids("FILL(errors, 0) / requests * 1e2 + 'label x'")
            .into_iter()
            .map(|(_, id)| id)
            .collect();
    assert_eq!(ids, ["errors", "requests"]);
    let out = MetricSource::rewrite("errors / requests * 100", |id| {
        Some(format!("m{}", id.len()))
    });
    assert_eq!(out, "m6 / m8 * 100");
}

const PROXY_ENV: &str = r#"
[[environment]]
name = "edge"
provider = "proxy"
[environment.proxy]
kind = "haproxy"
url = "http://127.0.0.1:8080"
socket = "/run/haproxy/admin.sock"
[[environment.service]]
name = "api"
blue = "http://127.0.0.1:5001"
green = "http://127.0.0.1:5002"
deploy = ["./deploy-colour", "{colour}", "{digest}"]
"#;

#[test]
fn proxy_environments_parse_with_their_defaults() {
    let cfg = config::parse_str(&format!("{SERVICE}{PROXY_ENV}"), "t.toml", None).unwrap();
    let edge = cfg.env("edge").unwrap();
    let proxy = edge.proxy.as_ref().unwrap();
    assert_eq!(proxy.kind.name(), "haproxy");
    let svc = edge.services[0].proxy.as_ref().unwrap();
    assert_eq!(svc.backend, "api");
    assert_eq!(svc.status_path, "/api/system/status");
    assert_eq!(svc.digest_pointer, "/build/digest");
    assert_eq!(svc.stability_window, Duration::from_secs(30));
    assert_eq!(svc.keep_warm, Duration::from_mins(10));
    // Relative commands are resolved against the configuration's directory.
    assert_eq!(svc.deploy[0], "./deploy-colour");
    // Health is probed through the proxy at the status path.
    let health = edge.services[0].health.as_ref().unwrap();
    assert_eq!(health.url, "http://127.0.0.1:8080/api/system/status");
    // A proxy environment has no AWS region or cluster to require.
    assert!(edge.aws.is_none() && edge.ecs.is_none());
}

#[test]
fn bad_proxy_environments_are_reported_at_their_line() {
    for (from, to, want) in [
        (
            "kind = \"haproxy\"",
            "kind = \"traefik\"",
            "use one of: \"haproxy\", \"caddy\", \"nginx\"",
        ),
        ("socket = \"/run/haproxy/admin.sock\"\n", "", "add socket"),
        ("kind = \"haproxy\"", "kind = \"nginx\"", "add include"),
        ("kind = \"haproxy\"", "kind = \"caddy\"", "add admin"),
        ("blue = \"http://127.0.0.1:5001\"\n", "", "add blue"),
        (
            "green = \"http://127.0.0.1:5002\"",
            "green = \"127.0.0.1:5002\"",
            "not an http(s) URL",
        ),
        (
            "deploy = [\"./deploy-colour\", \"{colour}\", \"{digest}\"]\n",
            "",
            "add deploy",
        ),
        (
            "provider = \"proxy\"\n",
            "",
            "its provider is not \"proxy\"",
        ),
        (
            "provider = \"proxy\"",
            "provider = \"k8s\"",
            "use one of: \"ecs\", \"proxy\"",
        ),
        (
            "name = \"api\"\n",
            "name = \"api\"\nkeep_warm = \"soon\"\n",
            "keep_warm",
        ),
    ] {
        let env = PROXY_ENV.replacen(from, to, 1);
        assert_ne!(env, PROXY_ENV, "{from}");
        let err = config::parse_str(&format!("{SERVICE}{env}"), "t.toml", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{from} → {to}: {err}");
        assert!(err.contains("t.toml:"), "located: {err}");
    }
    // Proxy keys outside a proxy environment are unknown keys.
    let ecs = SERVICE.replace("name = \"api\"\n", "name = \"api\"\nblue = \"http://x\"\n");
    let err = config::parse_str(&ecs, "t.toml", None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("blue"), "{err}");
}

#[test]
fn after_stable_checklist_items_stay_out_of_the_gate() {
    let text = format!(
        "{SERVICE}[environment.gate]\nchecklist = [\"Release notes updated\", {{ item = \"Run irreversible migrations\", after_stable = true }}]\n"
    );
    let cfg = config::parse_str(&text, "t.toml", None).unwrap();
    let gate = &cfg.env("prod").unwrap().gate;
    assert_eq!(gate.checklist, ["Release notes updated"]);
    assert_eq!(gate.after_stable, ["Run irreversible migrations"]);
    for bad in [
        "{ item = 3 }",
        "{ item = \"x\", after_stable = \"yes\" }",
        "{ item = \"x\", when = \"later\" }",
        "4",
    ] {
        let text = format!("{SERVICE}[environment.gate]\nchecklist = [{bad}]\n");
        let err = config::parse_str(&text, "t.toml", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("after_stable = true"), "{bad}: {err}");
        assert!(err.contains("t.toml:"), "{err}");
    }
}

#[test]
fn proxy_metrics_need_a_proxy_that_counts_them() {
    let metric = "[[environment.service.metric]]\nlabel = \"5xx %\"\nproxy = \"5xx_percent\"\nrole = \"error_rate\"\n";
    let ok = format!("{SERVICE}{PROXY_ENV}{metric}");
    let cfg = config::parse_str(&ok, "t.toml", None).unwrap();
    assert_eq!(
        cfg.env("edge").unwrap().services[0].metrics[0].source,
        config::MetricSource::Proxy(config::ProxyMetric::ErrorPercent)
    );
    for (text, want) in [
        (
            ok.replace(
                "kind = \"haproxy\"",
                "kind = \"caddy\"\nadmin = \"http://127.0.0.1:2019\"",
            ),
            "Caddy's admin API does not count requests",
        ),
        (
            format!("{SERVICE}{metric}"),
            "only a provider = \"proxy\" environment",
        ),
    ] {
        let err = config::parse_str(&text, "t.toml", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{err}");
    }
}

/// The commented Caddy and nginx examples of config.example.toml, uncommented
/// in place of its HAProxy environment, are valid too.
#[test]
fn example_config_proxy_variants_parse() {
    let text = std::fs::read_to_string("config.example.toml").unwrap();
    let cfg = config::parse_str(&text, "config.example.toml", None).unwrap();
    let edge = cfg.env("edge").unwrap();
    assert_eq!(edge.proxy.as_ref().unwrap().kind.name(), "haproxy");
    assert_eq!(edge.gate.after_stable, ["Run irreversible migrations"]);
    let base = &text[..text.find("[[environment]]\nname = \"edge\"").unwrap()];
    for (from, to, kind) in [
        ("# --- ALB", "# --- Caddy", "alb"),
        ("# --- Caddy", "# --- nginx", "caddy"),
        ("# --- nginx", "# --- AWS Lambda", "nginx"),
    ] {
        let start = text.find(from).unwrap();
        let end = text[start..].find(to).map_or(text.len(), |e| start + e);
        let block: String = text[start..end]
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| {
                l.starts_with('[')
                    || l.starts_with('#')
                    || l.split_once(" = ").is_some_and(|(k, _)| {
                        !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    })
            })
            .flat_map(|l| [l, "\n"])
            .collect();
        let whole =
            format!("{base}[[environment]]\nname = \"edge\"\nprovider = \"proxy\"\n{block}");
        let cfg = config::parse_str(&whole, "example.toml", None)
            .unwrap_or_else(|e| panic!("{kind}: {e}\n{block}"));
        let edge = cfg.env("edge").unwrap();
        assert_eq!(edge.proxy.as_ref().unwrap().kind.name(), kind, "{block}");
    }
}

#[test]
fn alb_environments_need_a_rule_and_two_target_groups_but_no_url() {
    let alb = PROXY_ENV
        .replace(
            "kind = \"haproxy\"\nurl = \"http://127.0.0.1:8080\"\nsocket = \"/run/haproxy/admin.sock\"",
            "kind = \"alb\"\nregion = \"eu-west-1\"",
        )
        .replace(
            "name = \"api\"\n",
            "name = \"api\"\nlistener_rule = \"arn:rule\"\nblue_target_group = \"arn:blue\"\ngreen_target_group = \"arn:green\"\n",
        );
    let cfg = config::parse_str(&format!("{SERVICE}{alb}"), "t.toml", None).unwrap();
    let edge = cfg.env("edge").unwrap();
    assert_eq!(edge.proxy.as_ref().unwrap().url, None);
    let rule = edge.services[0]
        .proxy
        .as_ref()
        .unwrap()
        .alb
        .as_ref()
        .unwrap();
    assert_eq!(
        rule.target_group(shipdeck::platforms::proxy::Colour::Green),
        "arn:green"
    );
    // No public address: no health check through it. No weights: all at once.
    assert!(edge.services[0].health.is_none());
    assert!(rule.steps.is_empty());
    let stepped = alb.replace(
        "green_target_group = \"arn:green\"\n",
        "green_target_group = \"arn:green\"\nweights = [\"10%\", \"50 %\"]\nstep_interval = \"2m\"\n",
    );
    let cfg = config::parse_str(&format!("{SERVICE}{stepped}"), "t.toml", None).unwrap();
    let rule = cfg.env("edge").unwrap().services[0]
        .proxy
        .clone()
        .unwrap()
        .alb
        .clone()
        .unwrap();
    assert_eq!(
        (rule.steps, rule.step_interval.as_secs()),
        (vec![10, 50], 120)
    );
    for (from, to, want) in [
        (
            "green_target_group = \"arn:green\"\n",
            "",
            "add green_target_group",
        ),
        ("region = \"eu-west-1\"", "", "add region"),
        (
            "green_target_group = \"arn:green\"\n",
            "green_target_group = \"arn:green\"\nweights = [\"50%\", \"10%\"]\n",
            "lists \"10%\": not a rising percentage from 1% to 99%",
        ),
        (
            "green_target_group = \"arn:green\"\n",
            "green_target_group = \"arn:green\"\nweights = [\"100%\"]\n",
            "(100% is the last step, always)",
        ),
    ] {
        let err = config::parse_str(
            &format!("{SERVICE}{}", alb.replace(from, to)),
            "t.toml",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(want), "{err}");
    }
    // Other proxies need their public address.
    let err = config::parse_str(
        &format!(
            "{SERVICE}{}",
            PROXY_ENV.replace("url = \"http://127.0.0.1:8080\"\n", "")
        ),
        "t.toml",
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("add url"), "{err}");
}

const LAMBDA: &str = r#"
[[environment]]
name = "prod"
platform = "lambda"
[environment.aws]
region = "eu-west-1"
[environment.lambda]
steps = "linear 25% every 10m"
[[environment.service]]
name = "thumbnailer"
[environment.service.lambda]
function = "thumbs-prod"
alias = "live"
[[environment.service]]
name = "resizer"
[environment.service.lambda]
alias = "live"
steps = ["5% 1m", "100%"]
"#;

#[test]
fn lambda_services_take_their_environments_steps_unless_they_say_their_own() {
    let cfg = config::parse_str(LAMBDA, "t.toml", None).unwrap();
    let prod = cfg.env("prod").unwrap();
    let thumbs = prod.services[0].lambda.as_ref().unwrap();
    assert_eq!(
        (thumbs.function.as_str(), thumbs.alias.as_str()),
        ("thumbs-prod", "live")
    );
    assert_eq!(thumbs.steps.weights(), vec![2500, 5000, 7500, 10_000]);
    let resizer = prod.services[1].lambda.as_ref().unwrap();
    // The function defaults to the service's name.
    assert_eq!(resizer.function, "resizer");
    assert_eq!(resizer.steps.weights(), vec![500, 10_000]);
    assert!(prod.services[0].ecs.is_none());
}

#[test]
fn bad_lambda_sections_are_reported_at_their_line() {
    for (from, to, want) in [
        (
            "alias = \"live\"\n[[",
            "[[",
            "missing required key \"alias\"",
        ),
        ("linear 25% every 10m", "linear 0% every 10m", "> steps:"),
        ("[\"5% 1m\", \"100%\"]", "[\"50% 1m\", \"5%\"]", "> steps:"),
        (
            "[environment.aws]\nregion = \"eu-west-1\"\n",
            "",
            "runs on Lambda",
        ),
        (
            "function = \"thumbs-prod\"",
            "fn = \"thumbs-prod\"",
            "unknown key \"fn\"",
        ),
    ] {
        let text = LAMBDA.replacen(from, to, 1);
        assert_ne!(text, LAMBDA, "{from}");
        let err = config::parse_str(&text, "t.toml", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{from} → {to}: {err}");
        assert!(err.contains("t.toml:"), "located: {err}");
    }
}
