//! Who may approve what: roles defined once for the team (`[team.roles]`),
//! the change types a promotion is one of (`[team] change_types`), and each
//! gate's approval matrix (`[environment.gate.approvals]`).

/// The change types when the configuration names none: the runbook's five.
pub const DEFAULT_CHANGE_TYPES: [&str; 5] = [
    "feature",
    "bugfix",
    "hotfix",
    "infrastructure",
    "configuration",
];

/// A role: its name and the identity patterns that make someone hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Name (`developer`, `business`).
    pub name: String,
    /// Patterns over the operator's identity (the STS caller ARN, or the OS
    /// user in file mode): `*` matches any run of characters, `?` one; the
    /// whole identity must match.
    pub patterns: Vec<String>,
}

/// The team's roles, in the order written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles(pub Vec<Role>);

impl Roles {
    /// The roles `operator` holds, in the order written.
    pub fn of(&self, operator: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|r| {
                r.patterns
                    .iter()
                    .any(|p| wildmatch::WildMatch::new(p).matches(operator))
            })
            .map(|r| r.name.clone())
            .collect()
    }

    /// Whether a role of that name is defined.
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|r| r.name == name)
    }
}

/// Approvals a role must give: `count` distinct people holding `role`
/// (`None`: anyone, the gate's plain `approvals_required`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The role, or anyone.
    pub role: Option<String>,
    /// How many people.
    pub count: u32,
}

impl Slot {
    /// `2 developer`, `1 approver` (anyone).
    pub fn words(&self) -> String {
        format!(
            "{} {}",
            self.count,
            self.role.as_deref().unwrap_or("approver")
        )
    }
}

/// One row of an approval matrix: what a change type needs in this stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixRow {
    /// The change type.
    pub change_type: String,
    /// The approvals, by role.
    pub slots: Vec<Slot>,
    /// Whether this change type may come from an earlier stage than the one
    /// before (skip a stage: the hotfix path).
    pub may_skip_stage: bool,
}

/// The slots in words: `2 developer, 1 business`.
pub fn slots_words(slots: &[Slot]) -> String {
    slots.iter().map(Slot::words).collect::<Vec<_>>().join(", ")
}
