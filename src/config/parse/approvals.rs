//! `[team.roles]`, `[team] change_types` and `[environment.gate.approvals]`:
//! who holds which role, which change types there are, and what each stage's
//! gate asks of each change type.

use toml_edit::Item;

use super::super::approvals::{DEFAULT_CHANGE_TYPES, MatrixRow, Role, Roles, Slot};
use super::super::walk::{Ctx, Table};

/// What the gates' matrices may name: the roles and change types defined once.
#[derive(Debug, Clone, Default)]
pub(in crate::config) struct Vocabulary {
    /// The team's roles.
    pub roles: Roles,
    /// The change types, in the order written.
    pub change_types: Vec<String>,
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The roles and change types of `[team]` (either may be left out: no roles,
/// the five default change types).
pub(in crate::config) fn parse_vocabulary(
    ctx: &mut Ctx<'_>,
    team: Option<&Table<'_>>,
) -> Vocabulary {
    let mut v = Vocabulary {
        roles: Roles::default(),
        change_types: DEFAULT_CHANGE_TYPES
            .iter()
            .map(|s| (*s).to_string())
            .collect(),
    };
    let Some(team) = team else {
        return v;
    };
    if team.has("change_types") {
        let types = team.str_list(ctx, "change_types");
        let mut out: Vec<String> = Vec::new();
        for t in types {
            if !is_name(&t) {
                ctx.report(
                    team.value_span("change_types"),
                    format!("change type \"{t}\" in [team] is not a name"),
                    "write change types in lowercase letters, digits, - and _, e.g. \"feature\"",
                );
            } else if out.contains(&t) {
                ctx.report(
                    team.value_span("change_types"),
                    format!("change type \"{t}\" is listed twice in [team]"),
                    "list each change type once",
                );
            } else {
                out.push(t);
            }
        }
        if out.is_empty() {
            ctx.report(
                team.value_span("change_types"),
                "[team] change_types lists no change type".to_string(),
                format!(
                    "list at least one, or remove the key for the defaults ({})",
                    DEFAULT_CHANGE_TYPES.join(", ")
                ),
            );
        } else {
            v.change_types = out;
        }
    }
    let Some(roles) = team.table(ctx, "roles", "[team.roles]".to_string()) else {
        return v;
    };
    for (name, _) in roles.entries() {
        if !is_name(&name) {
            ctx.report(
                roles.key_span(&name),
                format!("role \"{name}\" in [team.roles] is not a name"),
                "name roles in lowercase letters, digits, - and _, e.g. business = [\"arn:aws:sts::*:assumed-role/Business/*\"]",
            );
            continue;
        }
        let patterns = roles.str_list(ctx, &name);
        if patterns.iter().any(|p| p.trim().is_empty()) || patterns.is_empty() {
            ctx.report(
                roles.value_span(&name),
                format!("role \"{name}\" in [team.roles] names nobody"),
                "list identity patterns: STS caller ARNs such as \"arn:aws:sts::*:assumed-role/Business/*\", or OS user names in file mode",
            );
            continue;
        }
        v.roles.0.push(Role { name, patterns });
    }
    v
}

/// `[environment.gate.approvals]`: change type = "2 developer, 1 business",
/// or `{ approvers = "…", may_skip_stage = true }`.
pub(super) fn parse_matrix(
    ctx: &mut Ctx<'_>,
    gate: &Table<'_>,
    vocab: &Vocabulary,
) -> Vec<MatrixRow> {
    let Some(t) = gate.table(ctx, "approvals", format!("{} > approvals", gate.path)) else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for (change_type, item) in t.entries() {
        if !vocab.change_types.contains(&change_type) {
            ctx.report(
                t.key_span(&change_type),
                format!("\"{change_type}\" in {} is not a change type", t.path),
                format!(
                    "use one of: {} (or add it to [team] change_types)",
                    vocab.change_types.join(", ")
                ),
            );
            continue;
        }
        let (words, may_skip_stage) = match item {
            Item::Value(v) if v.as_str().is_some() => (v.as_str().map(str::to_string), false),
            _ => match t.table(ctx, &change_type, format!("{} > {change_type}", t.path)) {
                Some(row) => {
                    row.check_keys(ctx, &["approvers", "may_skip_stage"]);
                    (
                        row.req_str(ctx, "approvers", "add approvers = \"1 senior, 1 business\""),
                        row.bool(ctx, "may_skip_stage", false),
                    )
                }
                None => (None, false),
            },
        };
        let Some(words) = words else { continue };
        if let Some(slots) = parse_slots(ctx, &t, &change_type, &words, vocab) {
            rows.push(MatrixRow {
                change_type,
                slots,
                may_skip_stage,
            });
        }
    }
    rows
}

/// "2 developer, 1 business" into slots, every role defined and named once.
fn parse_slots(
    ctx: &mut Ctx<'_>,
    t: &Table<'_>,
    key: &str,
    words: &str,
    vocab: &Vocabulary,
) -> Option<Vec<Slot>> {
    let mut slots: Vec<Slot> = Vec::new();
    let help =
        "write role counts such as \"2 developer, 1 business\", with roles from [team.roles]";
    for part in words.split(',').map(str::trim) {
        let mut it = part.split_whitespace();
        let (Some(n), Some(role), None) = (it.next(), it.next(), it.next()) else {
            ctx.report(
                t.value_span(key),
                format!("\"{part}\" in {} > {key} is not a count and a role", t.path),
                help,
            );
            return None;
        };
        let count = match n.parse::<u32>() {
            Ok(c) if (1..=10).contains(&c) => c,
            _ => {
                ctx.report(
                    t.value_span(key),
                    format!("\"{n}\" in {} > {key} is not a count from 1 to 10", t.path),
                    help,
                );
                return None;
            }
        };
        if !vocab.roles.has(role) {
            let known: Vec<&str> = vocab.roles.0.iter().map(|r| r.name.as_str()).collect();
            ctx.report(
                t.value_span(key),
                format!("role \"{role}\" in {} > {key} is not defined", t.path),
                if known.is_empty() {
                    "define it in [team.roles], e.g. business = [\"arn:aws:sts::*:assumed-role/Business/*\"]".to_string()
                } else {
                    format!("use one of: {} (or define it in [team.roles])", known.join(", "))
                },
            );
            return None;
        }
        if slots.iter().any(|s| s.role.as_deref() == Some(role)) {
            ctx.report(
                t.value_span(key),
                format!("role \"{role}\" is named twice in {} > {key}", t.path),
                "give each role one count, e.g. \"2 developer\"",
            );
            return None;
        }
        slots.push(Slot {
            role: Some(role.to_string()),
            count,
        });
    }
    Some(slots)
}

#[cfg(test)]
mod tests {
    fn parse(team: &str, gate: &str) -> Result<crate::config::Config, String> {
        let text = format!(
            "{team}\n[[environment]]\nname = \"prod\"\nplatform = \"kubernetes\"\n\
             [environment.kubernetes]\nnamespace = \"shop\"\n\
             [environment.kubernetes.git]\nurl = \"git@github.com:acme/deploy.git\"\n\
             [[environment.service]]\nname = \"search\"\n\
             [environment.service.kubernetes]\nkustomization = \"k.yaml\"\nimage = \"ghcr.io/acme/search\"\n\
             {gate}\n"
        );
        crate::config::parse_str(&text, "a.toml", None).map_err(|e| e.to_string())
    }

    const TEAM: &str = "[team.roles]\ndeveloper = [\"arn:aws:sts::*:assumed-role/Developer/*\", \"bob\"]\n\
        business = \"arn:aws:sts::*:assumed-role/Business/*\"\nsenior = [\"sam\"]\n";

    #[test]
    fn roles_change_types_and_the_matrix_are_read() {
        let cfg = parse(
            TEAM,
            "[environment.gate.approvals]\nfeature = \"2 developer, 1 business\"\n\
             hotfix = { approvers = \"1 senior, 1 business\", may_skip_stage = true }",
        )
        .unwrap();
        assert_eq!(cfg.change_types.len(), 5);
        assert_eq!(
            cfg.roles
                .of("arn:aws:sts::123456789012:assumed-role/Business/carol"),
            vec!["business".to_string()]
        );
        assert_eq!(cfg.roles.of("bob"), vec!["developer".to_string()]);
        assert!(cfg.roles.of("mallory").is_empty());
        let m = &cfg.environments[0].gate.matrix;
        assert_eq!(m.len(), 2);
        assert_eq!(
            crate::config::approvals::slots_words(&m[0].slots),
            "2 developer, 1 business"
        );
        assert!(!m[0].may_skip_stage && m[1].may_skip_stage);
    }

    #[test]
    fn every_mistake_is_named_with_its_place() {
        let cases: &[(&str, &str, &str)] = &[
            (
                TEAM,
                "[environment.gate.approvals]\nfeature = \"2 developers\"",
                "role \"developers\" in environment \"prod\" > gate > approvals > feature is not defined",
            ),
            (
                TEAM,
                "[environment.gate.approvals]\nrefactor = \"1 developer\"",
                "\"refactor\" in environment \"prod\" > gate > approvals is not a change type",
            ),
            (
                TEAM,
                "[environment.gate.approvals]\nfeature = \"two developer\"",
                "\"two\" in environment \"prod\" > gate > approvals > feature is not a count from 1 to 10",
            ),
            (
                TEAM,
                "[environment.gate.approvals]\nfeature = \"1 developer, 1 developer\"",
                "role \"developer\" is named twice",
            ),
            (
                TEAM,
                "[environment.gate.approvals]\nfeature = \"developer\"",
                "is not a count and a role",
            ),
            (
                TEAM,
                "[environment.gate.approvals]\nfeature = { may_skip_stage = true }",
                "missing required key \"approvers\"",
            ),
            (
                "[team.roles]\nDev = [\"x\"]",
                "",
                "role \"Dev\" in [team.roles] is not a name",
            ),
            (
                "[team.roles]\ndev = []",
                "",
                "role \"dev\" in [team.roles] names nobody",
            ),
            (
                "[team]\nchange_types = [\"feature\", \"feature\"]",
                "",
                "change type \"feature\" is listed twice",
            ),
            ("[team]\nchange_types = []", "", "lists no change type"),
        ];
        for (team, gate, want) in cases {
            let err = parse(team, gate).unwrap_err();
            assert!(err.contains(want), "{want}\n  got: {err}");
            assert!(err.starts_with("a.toml:"), "{err}");
        }
    }

    #[test]
    fn the_teams_own_change_types_replace_the_defaults() {
        let cfg = parse(
            "[team]\nchange_types = [\"feature\", \"security\"]\n[team.roles]\nsec = [\"sam\"]",
            "[environment.gate.approvals]\nsecurity = \"1 sec\"",
        )
        .unwrap();
        assert_eq!(cfg.change_types, vec!["feature", "security"]);
        let err = parse(
            "[team]\nchange_types = [\"feature\"]\n[team.roles]\nsec = [\"sam\"]",
            "[environment.gate.approvals]\nbugfix = \"1 sec\"",
        )
        .unwrap_err();
        assert!(err.contains("use one of: feature"), "{err}");
    }
}
