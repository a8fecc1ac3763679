//! An environment's gate (checks, approvals, freeze windows) and rollout policy.

use std::time::Duration;

use chrono::{NaiveDate, NaiveTime, Weekday};
use regex::Regex;

use super::super::walk::{Ctx, Table};
use super::super::{
    AbortRule, AutoCheck, Condition, DEFAULT_MIN_BASELINE, FreezeKind, FreezeWindow, GatePolicy,
    Missing, OnAbort, RolloutPolicy,
};
use super::range;

const GATE_KEYS: &[&str] = &[
    "checks",
    "allow_insufficient_data",
    "allow_override",
    "approvals_required",
    "approvals",
    "four_eyes",
    "change_record_pattern",
    "soak",
    "checklist",
    "freeze",
    "approval_ttl",
    "allowed_regions",
];
const FREEZE_KEYS: &[&str] = &["name", "timezone", "days", "from", "to", "start", "end"];
const ROLLOUT_KEYS: &[&str] = &[
    "timeout",
    "stability_window",
    "on_abort",
    "abort_on_alarm",
    "abort_on_health",
    "max_error_rate_increase",
    "error_rate_window",
    "p95_latency_slo",
    "rule",
    "pause_steps",
    "step_approvals",
];

const RULE_KEYS: &[&str] = &[
    "name",
    "metric",
    "above",
    "above_baseline_by",
    "min_baseline",
    "for",
    "missing",
    "compare_to",
];

fn parse_rule(
    ctx: &mut Ctx<'_>,
    t: &Table<'_>,
    labels: &std::collections::HashSet<&str>,
) -> Option<AbortRule> {
    t.check_keys(ctx, RULE_KEYS);
    let name = t.req_str(ctx, "name", "name the rule, e.g. name = \"5xx ratio\"");
    let metric = t.req_str(
        ctx,
        "metric",
        "give the label of a [[environment.service.metric]], e.g. metric = \"5xx %\"",
    );
    if let Some(m) = &metric
        && !labels.contains(m.as_str())
    {
        // A rule over a metric nobody has would never abort anything.
        let mut known: Vec<&str> = labels.iter().copied().collect();
        known.sort_unstable();
        ctx.report(
            t.value_span("metric"),
            format!("no service in this environment has a metric labelled \"{m}\""),
            if known.is_empty() {
                "add a [[environment.service.metric]] with this label to the services it judges"
                    .to_string()
            } else {
                format!("use one of: {}", known.join(", "))
            },
        );
        return None;
    }
    let finite = |ctx: &mut Ctx<'_>, key: &str, min_exclusive: bool| {
        let v = t.float(ctx, key)?;
        let ok = v.is_finite() && if min_exclusive { v > 0.0 } else { v >= 0.0 };
        if !ok {
            ctx.report(
                t.value_span(key),
                format!(
                    "{key} must be a finite number{}: \"{v}\"",
                    if min_exclusive {
                        " above zero"
                    } else {
                        " not below zero"
                    }
                ),
                "e.g. above = 5.0, above_baseline_by = 0.5, min_baseline = 1.0",
            );
            return None;
        }
        Some(v)
    };
    let above = finite(ctx, "above", false);
    let by = finite(ctx, "above_baseline_by", true);
    let floor = finite(ctx, "min_baseline", false);
    let condition = match (above, by) {
        (Some(v), None) => {
            if floor.is_some() {
                ctx.report(
                    t.key_span("min_baseline"),
                    "min_baseline applies only with above_baseline_by".to_string(),
                    "remove it, or compare against the baseline with above_baseline_by",
                );
            }
            Some(Condition::Above(v))
        }
        (None, Some(fraction)) => Some(Condition::AboveBaselineBy {
            fraction,
            min_baseline: floor.unwrap_or(DEFAULT_MIN_BASELINE),
        }),
        (Some(_), Some(_)) => {
            ctx.report(
                t.key_span("above"),
                "a rule has one condition: above or above_baseline_by, not both".to_string(),
                "write two rules for two conditions",
            );
            None
        }
        (None, None) => {
            if !t.has("above") && !t.has("above_baseline_by") {
                t.missing(
                    ctx,
                    "above",
                    "add above = <value> (absolute) or above_baseline_by = <fraction>",
                );
            }
            None
        }
    };
    let window = t.positive_duration(ctx, "for", Duration::from_mins(1), range::METRIC_WINDOW);
    let points = usize::try_from(window.as_secs().div_ceil(60))
        .unwrap_or(1)
        .max(1);
    let missing = match t
        .choice(ctx, "missing", &["wait", "abort", "ignore"])
        .as_deref()
    {
        Some("abort") => Missing::Abort,
        Some("ignore") => Missing::Ignore,
        _ => Missing::Wait,
    };
    let compare_to = t.str(ctx, "compare_to");
    if let Some(other) = &compare_to {
        if !labels.contains(other.as_str()) {
            ctx.report(
                t.value_span("compare_to"),
                format!("no service in this environment has a metric labelled \"{other}\""),
                "compare_to names the old revision's metric (its own target group), e.g. \"5xx % blue\"",
            );
        } else if !matches!(condition, Some(Condition::AboveBaselineBy { .. })) {
            ctx.report(
                t.key_span("compare_to"),
                "compare_to applies only with above_baseline_by".to_string(),
                "write above_baseline_by = 0.5: the new metric may be at most 50 % above the compared one",
            );
        }
    }
    Some(AbortRule {
        name: name?,
        metric: metric?,
        condition: condition?,
        points,
        missing,
        compare_to,
    })
}

/// `allowed_regions`: region codes, lowercase, each once; written but empty
/// (a gate no promotion could pass) or a blank code is a mistake.
fn parse_regions(ctx: &mut Ctx<'_>, t: &Table<'_>) -> Vec<String> {
    if !t.has("allowed_regions") {
        return Vec::new();
    }
    let problems = ctx.problems.len();
    let written = t.str_list(ctx, "allowed_regions");
    let mut regions: Vec<String> = Vec::new();
    // (A value of the wrong type was said already.)
    if written.is_empty() && ctx.problems.len() == problems {
        ctx.report(
            t.value_span("allowed_regions"),
            format!("allowed_regions in {} lists no region: no promotion could pass it", t.path),
            "list the regions the services may run in, e.g. allowed_regions = [\"fra\", \"ams\"], or remove the key for no region policy",
        );
    }
    for r in written {
        let code = r.trim().to_ascii_lowercase();
        if code.is_empty()
            || !code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            ctx.report(
                t.value_span("allowed_regions"),
                format!("\"{r}\" in {} is not a region code", t.path),
                "write region codes as the platforms name them, e.g. \"fra\", \"ams\" or \"eu-central-1\"",
            );
        } else if !regions.contains(&code) {
            regions.push(code);
        }
    }
    regions
}

pub(super) fn parse_gate(
    ctx: &mut Ctx<'_>,
    t: &Table<'_>,
    production: bool,
    vocab: &super::approvals::Vocabulary,
) -> GatePolicy {
    t.check_keys(ctx, GATE_KEYS);
    let d = GatePolicy::defaults(production);
    let checklist = t.checklist(ctx, "checklist");
    let allowed_regions = parse_regions(ctx, t);
    let checks = if t.has("checks") {
        let names = t.str_list(ctx, "checks");
        let mut checks = Vec::new();
        for n in names {
            if let Some((c, _)) = AutoCheck::ALL.iter().find(|(_, name)| *name == n) {
                checks.push(*c);
            } else {
                let known: Vec<&str> = AutoCheck::ALL.iter().map(|(_, n)| *n).collect();
                let best = known
                    .iter()
                    .map(|k| (strsim::jaro_winkler(&n, k), *k))
                    .filter(|(s, _)| *s > 0.8)
                    .max_by(|a, b| a.0.total_cmp(&b.0));
                ctx.report(
                    t.value_span("checks"),
                    format!("unknown gate check \"{n}\" in {}", t.path),
                    match best {
                        Some((_, k)) => format!("did you mean \"{k}\"?"),
                        None => format!("use any of: {}", known.join(", ")),
                    },
                );
            }
        }
        if !allowed_regions.is_empty() && !checks.contains(&AutoCheck::AllowedRegions) {
            // A region list no check reads would never refuse anything.
            ctx.report(
                t.value_span("checks"),
                format!(
                    "{} sets allowed_regions but its checks do not list \"allowed_regions\"",
                    t.path
                ),
                "add \"allowed_regions\" to checks, or remove allowed_regions",
            );
        }
        checks
    } else {
        let mut checks = d.checks;
        if !allowed_regions.is_empty() {
            checks.push(AutoCheck::AllowedRegions);
        }
        checks
    };
    let change_record = t.str(ctx, "change_record_pattern").and_then(|p| match Regex::new(&p) {
        Ok(re) => Some(re),
        Err(e) => {
            let why = e.to_string();
            let last = why.lines().last().unwrap_or("invalid").trim().to_string();
            ctx.report(
                t.value_span("change_record_pattern"),
                format!("change_record_pattern \"{p}\" is not a valid regular expression: {last}"),
                "write a regex such as \"^CHG-[0-9]{6}$\" (backslashes need doubling in TOML strings)",
            );
            None
        }
    });
    let matrix = super::approvals::parse_matrix(ctx, t, vocab);
    let mut freeze = Vec::new();
    for (i, mut f) in t.tables(ctx, "freeze").into_iter().enumerate() {
        f.path = format!("{} > freeze #{}", t.path, i + 1);
        if let Some(w) = parse_freeze(ctx, &f) {
            freeze.push(w);
        }
    }
    GatePolicy {
        checks,
        allow_insufficient_data: t.bool(ctx, "allow_insufficient_data", d.allow_insufficient_data),
        allow_override: t.bool(ctx, "allow_override", d.allow_override),
        approvals_required: u32::try_from(t.int(
            ctx,
            "approvals_required",
            0..11,
            i64::from(d.approvals_required),
        ))
        .unwrap_or(0),
        four_eyes: t.bool(ctx, "four_eyes", d.four_eyes),
        change_record,
        soak: t
            .bounded_duration(ctx, "soak", range::SOAK)
            .unwrap_or(d.soak),
        checklist: checklist
            .iter()
            .filter(|(_, after)| !after)
            .map(|(i, _)| i.clone())
            .collect(),
        after_stable: checklist
            .into_iter()
            .filter(|(_, after)| *after)
            .map(|(i, _)| i)
            .collect(),
        freeze,
        approval_ttl: t.positive_duration(ctx, "approval_ttl", d.approval_ttl, range::TTL),
        allowed_regions,
        matrix,
    }
}

pub(super) fn parse_weekday(s: &str) -> Option<Weekday> {
    match s.to_ascii_lowercase().as_str() {
        "mon" | "monday" => Some(Weekday::Mon),
        "tue" | "tuesday" => Some(Weekday::Tue),
        "wed" | "wednesday" => Some(Weekday::Wed),
        "thu" | "thursday" => Some(Weekday::Thu),
        "fri" | "friday" => Some(Weekday::Fri),
        "sat" | "saturday" => Some(Weekday::Sat),
        "sun" | "sunday" => Some(Weekday::Sun),
        _ => None,
    }
}

pub(super) fn parse_freeze(ctx: &mut Ctx<'_>, t: &Table<'_>) -> Option<FreezeWindow> {
    t.check_keys(ctx, FREEZE_KEYS);
    let name = t.str(ctx, "name").unwrap_or_else(|| "freeze".to_string());
    let tz_name = t.str(ctx, "timezone").unwrap_or_else(|| "UTC".to_string());
    let timezone = if let Ok(tz) = tz_name.parse::<chrono_tz::Tz>() {
        Some(tz)
    } else {
        ctx.report(
            t.value_span("timezone"),
            format!("unknown time zone \"{tz_name}\" in {}", t.path),
            "use an IANA time zone name such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\"",
        );
        None
    };
    let dated = t.has("start") || t.has("end");
    let weekly = t.has("days") || t.has("from") || t.has("to");
    let kind = if dated && weekly {
        ctx.report(
            t.span.clone(),
            format!(
                "{} mixes a date range (start/end) with weekly times (days/from/to)",
                t.path
            ),
            "split it into two [[environment.gate.freeze]] tables",
        );
        None
    } else if dated {
        let date = |ctx: &mut Ctx<'_>, key: &str| -> Option<NaiveDate> {
            let s = t.req_str(ctx, key, "write dates as \"2026-12-20\"")?;
            NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .map_err(|_| {
                    ctx.report(
                        t.value_span(key),
                        format!("\"{key}\" in {} is not a date: \"{s}\"", t.path),
                        "write dates as \"YYYY-MM-DD\", e.g. \"2026-12-20\"",
                    );
                })
                .ok()
        };
        let start = date(ctx, "start");
        let end = date(ctx, "end");
        match (start, end) {
            (Some(s), Some(e)) if e < s => {
                ctx.report(
                    t.value_span("end"),
                    format!("freeze \"{name}\" ends (\"{e}\") before it starts (\"{s}\")"),
                    "swap start and end",
                );
                None
            }
            (Some(start), Some(end)) => Some(FreezeKind::Dates { start, end }),
            _ => None,
        }
    } else {
        let mut days = Vec::new();
        for d in t.str_list(ctx, "days") {
            match parse_weekday(&d) {
                Some(w) => days.push(w),
                None => ctx.report(
                    t.value_span("days"),
                    format!("\"{d}\" in {} is not a day of the week", t.path),
                    "use mon, tue, wed, thu, fri, sat or sun",
                ),
            }
        }
        if days.is_empty() && !t.has("days") {
            ctx.report(
                t.span.clone(),
                format!("{} has neither days nor start/end", t.path),
                "add days = [\"fri\"] with from/to times, or start/end dates",
            );
        }
        let time = |ctx: &mut Ctx<'_>, key: &str, default: NaiveTime| -> NaiveTime {
            let Some(s) = t.str(ctx, key) else {
                return default;
            };
            if s == "24:00" {
                return NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(default);
            }
            NaiveTime::parse_from_str(&s, "%H:%M").unwrap_or_else(|_| {
                ctx.report(
                    t.value_span(key),
                    format!("\"{key}\" in {} is not a time of day: \"{s}\"", t.path),
                    "write times as \"HH:MM\" in 24-hour form, e.g. \"17:30\"",
                );
                default
            })
        };
        let from = time(ctx, "from", NaiveTime::MIN);
        let to = time(
            ctx,
            "to",
            NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN),
        );
        Some(FreezeKind::Weekly { days, from, to })
    };
    Some(FreezeWindow {
        name,
        timezone: timezone?,
        kind: kind?,
    })
}

/// `labels`: the metric labels of the environment's services (a rule must read one).
pub(super) fn parse_rollout(
    ctx: &mut Ctx<'_>,
    t: &Table<'_>,
    labels: &std::collections::HashSet<&str>,
) -> RolloutPolicy {
    t.check_keys(ctx, ROLLOUT_KEYS);
    let d = RolloutPolicy::defaults();
    let rate = t.float(ctx, "max_error_rate_increase");
    if let Some(r) = rate
        && !(r > 0.0 && r.is_finite())
    {
        ctx.report(
            t.value_span("max_error_rate_increase"),
            format!("max_error_rate_increase must be above zero: \"{r}\""),
            "use a fraction such as 0.5 (50 % above the baseline)",
        );
    }
    RolloutPolicy {
        timeout: t.positive_duration(ctx, "timeout", d.timeout, range::ROLLOUT),
        stability_window: t.positive_duration(
            ctx,
            "stability_window",
            d.stability_window,
            range::WINDOW,
        ),
        on_abort: match t
            .choice(ctx, "on_abort", &["rollback", "prompt"])
            .as_deref()
        {
            Some("prompt") => OnAbort::Prompt,
            _ => OnAbort::Rollback,
        },
        abort_on_alarm: t.bool(ctx, "abort_on_alarm", d.abort_on_alarm),
        abort_on_health: t.bool(ctx, "abort_on_health", d.abort_on_health),
        max_error_rate_increase: rate.or(d.max_error_rate_increase),
        error_rate_window: t.positive_duration(
            ctx,
            "error_rate_window",
            d.error_rate_window,
            range::METRIC_WINDOW,
        ),
        p95_latency_slo: t.bounded_duration(ctx, "p95_latency_slo", range::LATENCY),
        rules: t
            .tables(ctx, "rule")
            .iter()
            .filter_map(|r| parse_rule(ctx, r, labels))
            .collect(),
        pause_steps: t.bool(ctx, "pause_steps", d.pause_steps),
        step_approvals: u32::try_from(t.int(ctx, "step_approvals", 0..11, 0)).unwrap_or(0),
    }
}

/// A gate that checks signatures or scans needs `[supply_chain] keys` to
/// verify them with: without, every promotion would be refused.
pub(super) fn check_supply_gate(
    ctx: &mut Ctx<'_>,
    t: &Table<'_>,
    env: &crate::config::EnvConfig,
    supply: &crate::config::supply::SupplyPolicy,
) {
    use crate::config::AutoCheck;
    let needs: Vec<&str> = env
        .gate
        .checks
        .iter()
        .filter(|c| matches!(c, AutoCheck::Signed | AutoCheck::Scanned))
        .map(|c| c.name())
        .collect();
    if !needs.is_empty() && supply.keys.is_empty() {
        ctx.report(
            t.value_span("name"),
            format!(
                "the gate of \"{}\" checks {} but [supply_chain] has no keys",
                env.name,
                needs.join(" and ")
            ),
            "add keys = [{ name = \"ci\", pem = \"ci.pub\" }] under [supply_chain], the public keys your CI signs with",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{AutoCheck, parse_str};

    const ENV: &str = "[[environment]]\nname = \"prod\"\nregion = \"eu-central-1\"\ncluster = \"p\"\n\
                       [[environment.service]]\nname = \"api\"\n";

    #[test]
    fn allowed_regions_are_lowercase_each_once_and_join_the_default_checks() {
        let cfg = parse_str(
            &format!("{ENV}[environment.gate]\nallowed_regions = [\"FRA\", \"ams\", \"fra\", \"eu-central-1\"]\n"),
            "t.toml",
            None,
        )
        .unwrap();
        let gate = &cfg.environments[0].gate;
        assert_eq!(gate.allowed_regions, ["fra", "ams", "eu-central-1"]);
        assert_eq!(gate.checks.last(), Some(&AutoCheck::AllowedRegions));
        assert_eq!(gate.checks.len(), AutoCheck::defaults().len() + 1);
        // Without a list the check is not evaluated by default…
        let cfg = parse_str(ENV, "t.toml", None).unwrap();
        let gate = &cfg.environments[0].gate;
        assert!(gate.allowed_regions.is_empty());
        assert!(!gate.checks.contains(&AutoCheck::AllowedRegions));
        // …and `checks` may name it, and the typo hint knows it.
        let text = format!("{ENV}[environment.gate]\nchecks = [\"allowed_region\"]\n");
        let err = parse_str(&text, "t.toml", None).unwrap_err().to_string();
        assert!(err.contains("did you mean \"allowed_regions\"?"), "{err}");
    }

    /// config.example.toml's commented Fly block, uncommented, is valid:
    /// every key it documents, `allowed_regions` and the runbook's rules.
    #[test]
    fn the_example_configs_fly_block_parses() {
        let text = include_str!("../../../config.example.toml");
        let start = text.find("# --- Fly.io Machines").unwrap();
        // The block ends where the next section's rule begins.
        let end = text[start..]
            .find("\n# -----")
            .map_or(text.len(), |e| start + e);
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
        let cfg =
            parse_str(&block, "example.toml", None).unwrap_or_else(|e| panic!("{e}\n{block}"));
        let fly = &cfg.environments[0];
        assert_eq!(fly.platform, crate::config::PlatformKind::Fly);
        assert_eq!(fly.gate.allowed_regions, ["fra", "ams", "cdg"]);
        assert!(fly.gate.checks.contains(&AutoCheck::AllowedRegions));
        let rules: Vec<(&str, &str)> = fly
            .rollout
            .rules
            .iter()
            .map(|r| (r.name.as_str(), r.metric.as_str()))
            .collect();
        assert_eq!(
            rules,
            [
                ("5xx above baseline + 50 % for 5 minutes", "5xx %"),
                ("p95 above the 4 s SLO", "p95 ms")
            ]
        );
        assert_eq!(fly.rollout.rules[0].points, 5);
        assert_eq!(
            fly.rollout.rules[1].condition,
            crate::config::Condition::Above(4000.0)
        );
        let api = &fly.services[0];
        let f = api.fly.as_deref().unwrap();
        assert_eq!(
            (f.app.as_str(), f.group.as_deref()),
            ("api-prod", Some("app"))
        );
        assert_eq!(api.metrics.len(), 2);
        assert!(api.health.is_some());
    }
}
