//! The proxy's own words: what its detail lines say of a service (both
//! colours and the proxy's counters), what a cutover will do step by step,
//! and what a switch back does. The registry hands them to the console,
//! `status`, `promote`, `rollback` and `approve`, which know no colour.

use super::{Colour, Counters, ProxyView, Traffic};
use crate::config::{EnvConfig, ServiceConfig};
use crate::model::text::sanitize;
use crate::model::{
    DeployWords, DeploymentConfig, DetailBadge, DetailLine, Digest, PlatformDetail, Revision,
    ServiceSnapshot,
};

impl ProxyView {
    /// What the view says, a line each (the live colour, the idle one and
    /// whether a rollback can switch to it, the proxy's counters), and the
    /// idle colour as the board's badge: `✓` warm, `✗` not answering.
    pub fn detail(&self) -> PlatformDetail {
        let colour = |c: Colour| {
            let v = self.colour(c);
            let digest = v
                .and_then(|v| v.digest.as_ref())
                .map_or_else(|| "digest unknown".to_string(), |d| d.short().to_string());
            let answer = v.map_or_else(|| "not read".to_string(), |v| v.reason.clone());
            (digest, answer, v.is_some_and(|v| v.answering))
        };
        let (live_digest, live_answer, live_answering) = colour(self.live);
        let idle = self.live.other();
        let (idle_digest, idle_answer, _) = colour(idle);
        let warm = self.idle_answering();
        let warm_text = if warm {
            "warm: a rollback switches to it"
        } else {
            "NOT ANSWERING: no rollback to it"
        };
        let count = |c: &Counters| {
            format!(
                "{}{} requests, {} 5xx",
                c.rate.map_or_else(String::new, |r| format!("{r}/s · ")),
                c.requests,
                c.errors_5xx
                    .map_or_else(|| "?".to_string(), |e| e.to_string())
            )
        };
        let (traffic, unreadable) = match &self.traffic {
            Traffic::PerColour { blue, green } => (
                format!("blue {} · green {}", count(blue), count(green)),
                false,
            ),
            Traffic::Total(c) => (format!("all colours {}", count(c)), false),
            Traffic::NotAvailable(why) => (format!("not available: {why}"), false),
            Traffic::Unreadable(why) => (format!("UNREADABLE: {why}"), true),
        };
        let line = |label: &'static str, text: String| DetailLine::new(label, sanitize(&text));
        PlatformDetail {
            title: format!("behind {}", self.kind),
            lines: vec![
                line(
                    "live",
                    format!("{} · {live_digest} · {live_answer}", self.live),
                )
                .warn_if(!live_answering),
                line(
                    "idle",
                    format!("{idle} · {idle_digest} · {idle_answer} · {warm_text}"),
                )
                .warn_if(!warm),
                line("traffic", traffic).warn_if(unreadable),
            ],
            badge: Some(DetailBadge {
                text: idle.name().to_string(),
                ok: warm,
            }),
        }
    }
}

/// A proxy never rolls a cutover back by itself: a colour that does not get
/// ready is not switched to, and a switch stays until a rollback switches
/// back.
pub const SELF_ROLLBACK: Option<&str> = None;

/// How the service rolls out, for the detail pane's `strategy` line: two
/// colours and one switch (`blue/green on haproxy`). Nothing else guards it
/// on the proxy's side: shipdeck's own watch does.
pub fn strategy(c: &DeploymentConfig) -> String {
    c.strategy.to_string()
}

/// What a promotion into a proxy environment does, step by step: the one
/// text of it, for the plan, the wizard, the confirmation and `approve`. The
/// live colour and the idle colour's digest come from `now`'s revision and
/// history (both colours, as read).
pub fn deploy(
    env: &EnvConfig,
    svc: &ServiceConfig,
    now: Option<&ServiceSnapshot>,
    digest: Option<&Digest>,
) -> DeployWords {
    let steps = cutover_steps(env, svc, now, digest);
    DeployWords {
        diff: steps.clone(),
        steps,
        watch_step: "then".to_string(),
    }
}

fn cutover_steps(
    env: &EnvConfig,
    svc: &ServiceConfig,
    now: Option<&ServiceSnapshot>,
    digest: Option<&Digest>,
) -> Vec<String> {
    let (Some(proxy), Some(p)) = (env.proxy.as_deref(), svc.proxy.as_deref()) else {
        return vec![format!(
            "{} in {} is not configured behind a proxy: nothing can be planned",
            svc.name, env.name
        )];
    };
    let Some(live) = now
        .and_then(|s| s.task_definition.as_ref())
        .and_then(Colour::of)
    else {
        return vec![
            "the live colour is unknown (no reading of the proxy): nothing can be planned"
                .to_string(),
        ];
    };
    let idle = live.other();
    let idle_now = now
        .and_then(|s| {
            s.history
                .iter()
                .find(|h| Colour::of(&h.task_definition) == Some(idle))
        })
        .and_then(|h| h.digest.as_ref())
        .map_or_else(|| "unknown".to_string(), |d| d.short().to_string());
    let digest_text = digest.map_or_else(|| "(no digest)".to_string(), ToString::to_string);
    let command: Vec<String> = p
        .deploy
        .iter()
        .map(|a| {
            sanitize(
                &a.replace("{colour}", idle.name())
                    .replace("{digest}", &digest_text),
            )
        })
        .collect();
    let window = humantime::format_duration(p.stability_window);
    vec![
        format!("1. deploy {idle} (serves {idle_now} now) with {digest_text}:"),
        format!("   run {}", command.join(" ")),
        format!(
            "2. verify that {idle} serves it; probe it until it answers 200 for {window}{}",
            if p.smoke.is_empty() {
                String::new()
            } else {
                format!(", then run {} smoke check(s)", p.smoke.len())
            }
        ),
        format!(
            "3. check that {live} is still live, then switch {} \"{}\" from {live} to {idle} in one step",
            proxy.kind.name(),
            sanitize(&p.backend)
        ),
        format!(
            "4. confirm {} that requests reach {idle}; keep {live} warm for {}",
            proxy.url.as_deref().map_or_else(
                || "by reading the proxy back".to_string(),
                |u| format!("through {}", sanitize(u))
            ),
            humantime::format_duration(p.keep_warm)
        ),
        format!("a rollback switches back to {live} in one step"),
    ]
}

/// What confirming a rollback to `to` does: a switch back, in one sentence.
pub fn rollback(env: &EnvConfig, svc: &ServiceConfig, to: &Revision) -> String {
    let kind = env.proxy.as_deref().map_or("the proxy", |p| p.kind.name());
    let backend = svc
        .proxy
        .as_deref()
        .map_or_else(|| svc.name.clone(), |p| sanitize(&p.backend));
    format!(
        "{kind} \"{backend}\" switches back to {to} in one step (no deploy), then it is watched like a deploy."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RevisionInfo;
    use crate::platforms::proxy::ColourView;

    const MIXED: &str = r#"
[[environment]]
name = "prod"
region = "eu-west-1"
cluster = "shop-prod"
[environment.proxy]
kind = "haproxy"
url = "http://127.0.0.1:8080"
socket = "/run/haproxy/admin.sock"
[[environment.service]]
name = "api"
[[environment.service]]
name = "thumbs"
platform = "proxy"
blue = "http://127.0.0.1:5001"
green = "http://127.0.0.1:5002"
deploy = ["./deploy-colour", "{colour}", "{digest}"]
"#;

    fn colour(c: Colour, answering: bool, reason: &str) -> ColourView {
        ColourView {
            colour: c,
            digest: Some(Digest::of_bytes(c.name().as_bytes())),
            answering,
            reason: reason.to_string(),
        }
    }

    fn view(idle_answers: bool, traffic: Traffic) -> ProxyView {
        ProxyView {
            kind: "haproxy".into(),
            live: Colour::Green,
            colours: vec![
                colour(Colour::Blue, idle_answers, "answered 503"),
                colour(Colour::Green, true, "answered 200"),
            ],
            traffic,
        }
    }

    #[test]
    fn the_detail_says_both_colours_and_marks_the_idle_one() {
        let warm = view(true, Traffic::NotAvailable("caddy has none".into())).detail();
        assert_eq!(warm.title, "behind haproxy");
        let labels: Vec<&str> = warm.lines.iter().map(|l| &*l.label).collect();
        assert_eq!(labels, ["live", "idle", "traffic"]);
        assert!(warm.lines[0].text.starts_with("green · "), "{warm:?}");
        assert!(
            warm.lines[1]
                .text
                .ends_with("warm: a rollback switches to it")
        );
        assert!(warm.lines.iter().all(|l| !l.warn), "{warm:?}");
        let badge = warm.badge.as_ref().unwrap();
        assert_eq!((badge.text.as_str(), badge.ok), ("blue", true));
        // A cold idle colour and unreadable counters: said, in the warning
        // tone, and the badge is not good.
        let cold = view(false, Traffic::Unreadable("socket gone".into())).detail();
        assert!(cold.lines[1].warn && cold.lines[2].warn, "{cold:?}");
        assert!(cold.lines[1].text.contains("NOT ANSWERING"));
        assert_eq!(&*cold.lines[2].text, "UNREADABLE: socket gone");
        assert!(!cold.badge.unwrap().ok);
    }

    /// What guards a rollout and what rolls one back by itself are each
    /// platform's own words: ECS names its circuit breaker, the proxy none.
    #[test]
    fn each_platform_names_what_guards_its_rollouts() {
        use crate::config::PlatformKind;
        use crate::model::{DeploymentConfig, Strategy};
        use crate::platforms::{self_rollback, strategy_words};
        let ecs = DeploymentConfig {
            circuit_breaker: true,
            circuit_breaker_rollback: true,
            alarm_rollback: false,
            strategy: Strategy::Rolling,
        };
        assert_eq!(
            strategy_words(PlatformKind::Ecs, &ecs),
            "rolling · circuit breaker on (rolls back) · alarm rollback off"
        );
        let proxy = DeploymentConfig {
            strategy: Strategy::Other {
                name: "blue/green on haproxy".into(),
            },
            ..DeploymentConfig::default()
        };
        assert_eq!(
            strategy_words(PlatformKind::Proxy, &proxy),
            "blue/green on haproxy"
        );
        assert_eq!(
            self_rollback(PlatformKind::Ecs),
            Some("ECS's circuit breaker or alarm rollback")
        );
        assert_eq!(self_rollback(PlatformKind::Proxy), None);
        // Which platform a service runs on: its own, else its environment's.
        let cfg = crate::config::parse_str(MIXED, "mixed.toml", None).unwrap();
        let env = cfg.env("prod").unwrap();
        let kind = |service| crate::platforms::kind_of(env, service);
        assert_eq!(kind("thumbs"), PlatformKind::Proxy);
        assert_eq!(kind("api"), PlatformKind::Ecs);
        assert_eq!(kind("gone"), PlatformKind::Ecs);
    }

    #[test]
    fn each_platform_says_what_a_promotion_and_a_rollback_do() {
        let cfg = crate::config::parse_str(MIXED, "mixed.toml", None).unwrap();
        let env = cfg.env("prod").unwrap();
        let (api, thumbs) = (env.service("api").unwrap(), env.service("thumbs").unwrap());
        let new = Digest::of_bytes(b"new");
        // Behind the proxy: green live, blue idle serving its own digest.
        let mut now = ServiceSnapshot::bare("thumbs", "haproxy thumbs");
        now.task_definition = Some(Colour::Green.revision_of("thumbs"));
        now.history = std::sync::Arc::new(
            Colour::BOTH
                .iter()
                .map(|c| RevisionInfo {
                    task_definition: c.revision_of("thumbs"),
                    digest: Some(Digest::of_bytes(c.name().as_bytes())),
                    active: true,
                })
                .collect(),
        );
        let w = crate::platforms::deploy_words(env, thumbs, Some(&now), Some(&new), None);
        let blue = Digest::of_bytes(b"blue");
        assert_eq!(
            w.steps[0],
            format!("1. deploy blue (serves {} now) with {new}:", blue.short())
        );
        assert_eq!(w.steps[1], format!("   run ./deploy-colour blue {new}"));
        assert!(
            w.steps[3].ends_with("switch haproxy \"thumbs\" from green to blue in one step"),
            "{w:?}"
        );
        assert_eq!(w.diff, w.steps);
        assert_eq!(w.watch_step, "then");
        // Nothing read: nothing planned, and said so.
        let blind = crate::platforms::deploy_words(env, thumbs, None, Some(&new), None);
        assert!(
            blind.diff[0].contains("live colour is unknown"),
            "{blind:?}"
        );
        // On ECS: a copy of the task definition, then UpdateService.
        let mut ecs = ServiceSnapshot::bare("api", "api");
        ecs.task_definition = Revision::parse("shop-api:3");
        let w = crate::platforms::deploy_words(env, api, Some(&ecs), Some(&new), None);
        assert_eq!(
            w.steps[0],
            "1. register a copy of shop-api:3 with the image"
        );
        assert_eq!(w.steps[2], "2. update ECS service api to the new revision");
        assert_eq!(w.watch_step, "3.");
        assert!(w.diff[0].starts_with("task definition shop-api:3 → shop-api:<next>"));
        // A rollback, in each platform's words.
        assert_eq!(
            crate::platforms::rollback_words(env, thumbs, &Colour::Blue.revision_of("thumbs")),
            "haproxy \"thumbs\" switches back to thumbs@blue in one step (no deploy), then it is watched like a deploy."
        );
        assert_eq!(
            crate::platforms::rollback_words(env, api, &Revision::parse("shop-api:2").unwrap()),
            "ECS service api is updated to shop-api:2, then watched like a deploy."
        );
    }
}
