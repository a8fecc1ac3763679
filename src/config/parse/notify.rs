//! `[notify]` with its `[[notify.sink]]`s and `operations` route, and an
//! environment's `notify = ["…"]` route. Every problem is reported at its
//! line with a hint; a route naming no sink is one of them.

use std::collections::BTreeMap;

use super::super::aws::AwsAccess;
use super::super::notify::{BodyFormat, NotifyConfig, Sink, SinkKind};
use super::super::walk::{Ctx, Table};
use super::check_http_url;

const NOTIFY_KEYS: &[&str] = &["sink", "operations"];
const SINK_KEYS: &[&str] = &[
    "name",
    "kind",
    "format",
    "url_secret",
    "topic_arn",
    "region",
    "profile",
    "endpoint_url",
];
/// Keys only an SNS sink has.
const SNS_ONLY: &[&str] = &["topic_arn", "region", "profile", "endpoint_url"];

/// `[notify]`: its sinks, each checked, and the operations route.
pub(in crate::config) fn parse_notify(ctx: &mut Ctx<'_>, root: &Table<'_>) -> NotifyConfig {
    let Some(t) = root.table(ctx, "notify", "[notify]".to_string()) else {
        return NotifyConfig::default();
    };
    t.check_keys(ctx, NOTIFY_KEYS);
    let mut sinks: Vec<Sink> = Vec::new();
    for (i, mut s) in t.tables(ctx, "sink").into_iter().enumerate() {
        s.path = format!("[[notify.sink]] #{}", i + 1);
        let Some(sink) = parse_sink(ctx, &s) else {
            continue;
        };
        if let Some(first) = sinks.iter().find(|x| x.name == sink.name) {
            ctx.report(
                s.value_span("name"),
                format!(
                    "duplicate notification sink \"{}\" (first defined at {})",
                    sink.name, first.location
                ),
                "give every [[notify.sink]] a unique name",
            );
            continue;
        }
        sinks.push(sink);
    }
    let mut cfg = NotifyConfig {
        sinks,
        operations: Vec::new(),
    };
    cfg.operations = route(ctx, &t, "operations", &cfg);
    cfg
}

/// An environment's `notify = ["sink", …]`: every name must be a sink.
pub(in crate::config) fn parse_route(
    ctx: &mut Ctx<'_>,
    t: &Table<'_>,
    notify: &NotifyConfig,
) -> Vec<String> {
    route(ctx, t, "notify", notify)
}

fn route(ctx: &mut Ctx<'_>, t: &Table<'_>, key: &str, notify: &NotifyConfig) -> Vec<String> {
    let names = t.str_list(ctx, key);
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if notify.sink(&n).is_none() {
            let known = notify.names();
            let hint = if known.is_empty() {
                format!("define it first: [[notify.sink]] name = \"{n}\" kind = \"webhook\" …")
            } else {
                format!(
                    "name one of the [[notify.sink]]s: {}",
                    known
                        .iter()
                        .map(|k| format!("\"{k}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            ctx.report(
                t.value_span(key),
                format!(
                    "\"{key}\" in {} names an unknown notification sink \"{n}\"",
                    t.path
                ),
                hint,
            );
        } else if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

fn valid_sink_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn parse_sink(ctx: &mut Ctx<'_>, t: &Table<'_>) -> Option<Sink> {
    t.check_keys(ctx, SINK_KEYS);
    let name = t.req_str(
        ctx,
        "name",
        "add name = \"releases\" (routes name the sink)",
    );
    if let Some(n) = &name
        && !valid_sink_name(n)
    {
        ctx.report(
            t.value_span("name"),
            format!("\"name\" in {} is not a usable sink name: \"{n}\"", t.path),
            "use letters, digits, '-' and '_', such as \"releases\"",
        );
        return None;
    }
    let kind = t.choice(ctx, "kind", &["webhook", "sns"]);
    if kind.is_none() && !t.has("kind") {
        t.missing(ctx, "kind", "add kind = \"webhook\" or kind = \"sns\"");
    }
    let format = match t.choice(ctx, "format", &["slack", "shipdeck"]).as_deref() {
        Some("slack") => Some(BodyFormat::Slack),
        Some("shipdeck") => Some(BodyFormat::Shipdeck),
        _ => None,
    };
    let location = ctx.location(t.span.as_ref());
    let sink_kind = if kind.as_deref()? == "webhook" {
        for key in SNS_ONLY {
            if t.has(key) {
                ctx.report(
                    t.key_span(key),
                    format!("{key} has no meaning for a webhook in {}", t.path),
                    "remove it, or write kind = \"sns\"",
                );
            }
        }
        SinkKind::Webhook {
            url_secret: url_secret(ctx, t)?,
        }
    } else {
        if t.has("url_secret") {
            ctx.report(
                t.key_span("url_secret"),
                format!("url_secret has no meaning for an SNS topic in {}", t.path),
                "remove it, or write kind = \"webhook\"",
            );
        }
        sns(ctx, t)?
    };
    let format = format.unwrap_or(match sink_kind {
        SinkKind::Webhook { .. } => BodyFormat::Slack,
        SinkKind::Sns { .. } => BodyFormat::Shipdeck,
    });
    Some(Sink {
        name: name?,
        kind: sink_kind,
        format,
        location,
    })
}

/// `url_secret = "NAME"` (or `"${secret:NAME}"`): a secret's name, never a URL.
fn url_secret(ctx: &mut Ctx<'_>, t: &Table<'_>) -> Option<String> {
    let raw = t.req_str(
        ctx,
        "url_secret",
        "add url_secret = \"RELEASES_WEBHOOK\" and store the URL with `shipdeck secret set RELEASES_WEBHOOK`",
    )?;
    let name = super::signals::secret_name(&raw);
    if crate::secrets::valid_name(name) {
        return Some(name.to_string());
    }
    // The value is shown only when it cannot be a URL (which is a secret).
    let (what, hint) = if raw.contains("://") || raw.contains('/') {
        (
            format!(
                "\"url_secret\" in {} holds a URL; it must name a secret, never hold one",
                t.path
            ),
            "store the URL with `shipdeck secret set RELEASES_WEBHOOK` and write url_secret = \"RELEASES_WEBHOOK\"",
        )
    } else {
        (
            format!(
                "\"url_secret\" in {} is not a valid secret name: \"{raw}\"",
                t.path
            ),
            "use letters, digits and '_' (at most 64), such as \"RELEASES_WEBHOOK\"",
        )
    };
    ctx.report(t.value_span("url_secret"), what, hint);
    None
}

/// `topic_arn` (`arn:aws:sns:REGION:ACCOUNT:NAME`), with `region` from it
/// unless given, and `profile`, `endpoint_url` as in `[team]`.
fn sns(ctx: &mut Ctx<'_>, t: &Table<'_>) -> Option<SinkKind> {
    let arn = t.req_str(
        ctx,
        "topic_arn",
        "add topic_arn = \"arn:aws:sns:eu-west-1:123456789012:releases\"",
    )?;
    let parts: Vec<&str> = arn.split(':').collect();
    let well_formed = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "sns"
        && parts.iter().skip(3).all(|p| !p.is_empty());
    if !well_formed {
        ctx.report(
            t.value_span("topic_arn"),
            format!(
                "\"topic_arn\" in {} is not an SNS topic ARN: \"{arn}\"",
                t.path
            ),
            "write it as arn:aws:sns:REGION:ACCOUNT:TOPIC (see `aws sns list-topics`)",
        );
        return None;
    }
    let region = t.str(ctx, "region").unwrap_or_else(|| parts[3].to_string());
    let endpoint_url = t.str(ctx, "endpoint_url");
    if let Some(u) = &endpoint_url
        && !check_http_url(ctx, t, "endpoint_url", u)
    {
        return None;
    }
    Some(SinkKind::Sns {
        topic_arn: arn,
        access: AwsAccess {
            region,
            profile: t.str(ctx, "profile"),
            endpoint_url,
            endpoints: BTreeMap::new(),
        },
    })
}

#[cfg(test)]
mod tests {
    use crate::config::notify::{BodyFormat, SinkKind};

    fn parse(notify: &str, route: &str) -> Result<crate::config::Config, String> {
        let text = format!(
            "{notify}\n[[environment]]\nname = \"dev\"\nregion = \"us-east-1\"\ncluster = \"dev\"\n\
             {route}\n[[environment.service]]\nname = \"api\"\n"
        );
        crate::config::parse_str(&text, "n.toml", None).map_err(|e| e.to_string())
    }

    const SINKS: &str = "[[notify.sink]]\nname = \"releases\"\nkind = \"webhook\"\n\
                         url_secret = \"RELEASES_WEBHOOK\"\n\
                         [[notify.sink]]\nname = \"ops\"\nkind = \"sns\"\n\
                         topic_arn = \"arn:aws:sns:eu-west-1:123456789012:ops\"\n\
                         endpoint_url = \"http://127.0.0.1:5000\"\n\
                         [notify]\noperations = [\"ops\"]\n";

    #[test]
    fn sinks_and_routes_are_read() {
        let cfg = parse(SINKS, "notify = [\"releases\"]").unwrap();
        assert_eq!(cfg.notify.sinks.len(), 2);
        assert_eq!(cfg.notify.operations, ["ops"]);
        assert_eq!(cfg.environments[0].notify, ["releases"]);
        let releases = cfg.notify.sink("releases").unwrap();
        assert_eq!(releases.format, BodyFormat::Slack);
        assert_eq!(
            releases.kind,
            SinkKind::Webhook {
                url_secret: "RELEASES_WEBHOOK".to_string()
            }
        );
        let ops = cfg.notify.sink("ops").unwrap();
        assert_eq!(ops.format, BodyFormat::Shipdeck);
        match &ops.kind {
            SinkKind::Sns { access, .. } => {
                assert_eq!(access.region, "eu-west-1");
                assert_eq!(
                    access.endpoint_url.as_deref(),
                    Some("http://127.0.0.1:5000")
                );
            }
            other @ SinkKind::Webhook { .. } => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_notify_section_sends_nothing() {
        let cfg = parse("", "").unwrap();
        assert!(cfg.notify.is_empty());
        assert!(cfg.environments[0].notify.is_empty());
    }

    #[test]
    fn an_unknown_sink_in_a_route_is_an_error_at_its_line() {
        let e = parse(SINKS, "notify = [\"relaeses\"]").unwrap_err();
        assert!(e.contains("n.toml:17:"), "{e}");
        assert!(e.contains("unknown notification sink \"relaeses\""), "{e}");
        assert!(e.contains("\"releases\", \"ops\""), "{e}");
        let e = parse(
            "[notify]\noperations = [\"pager\"]\n[[notify.sink]]\nname = \"a\"\nkind = \"webhook\"\nurl_secret = \"A\"\n",
            "",
        )
        .unwrap_err();
        assert!(e.contains("n.toml:2:"), "{e}");
        assert!(e.contains("\"pager\""), "{e}");
    }

    #[test]
    fn a_url_where_a_secret_name_belongs_is_refused_without_echoing_it() {
        let e = parse(
            "[[notify.sink]]\nname = \"r\"\nkind = \"webhook\"\nurl_secret = \"https://hooks.example.com/T0/B0/canary-XYZ\"\n",
            "",
        )
        .unwrap_err();
        assert!(e.contains("n.toml:4:"), "{e}");
        assert!(e.contains("must name a secret"), "{e}");
        assert!(!e.contains("canary-XYZ"), "{e}");
        let e = parse(
            "[[notify.sink]]\nname = \"r\"\nkind = \"webhook\"\nurl_secret = \"bad name\"\n",
            "",
        )
        .unwrap_err();
        assert!(e.contains("not a valid secret name"), "{e}");
    }

    #[test]
    fn every_sink_mistake_is_reported_with_a_hint() {
        let e = parse(
            "[[notify.sink]]\nname = \"a\"\nkind = \"email\"\n\
             [[notify.sink]]\nname = \"b\"\nkind = \"sns\"\ntopic_arn = \"ops\"\n\
             [[notify.sink]]\nname = \"c\"\nkind = \"webhook\"\nurl_secret = \"C\"\ntopic_arn = \"x\"\nformat = \"teams\"\n\
             [[notify.sink]]\nname = \"c\"\nkind = \"webhook\"\nurl_secret = \"C\"\n\
             [[notify.sink]]\nkind = \"webhook\"\nurl_secret = \"C\"\n\
             [[notify.sink]]\nname = \"d\"\nkind = \"webhook\"\n",
            "",
        )
        .unwrap_err();
        for want in [
            "n.toml:3:",
            "unknown value \"email\"",
            "n.toml:7:",
            "not an SNS topic ARN",
            "topic_arn has no meaning for a webhook",
            "unknown value \"teams\"",
            "duplicate notification sink \"c\"",
            "url_secret",
            "name",
        ] {
            assert!(e.contains(want), "{want} missing in:\n{e}");
        }
    }
}
