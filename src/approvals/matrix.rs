//! Who fills which slot of an approval matrix: the one function that decides
//! whether the approvals a promotion has are the ones its gate asks for.

use chrono::{DateTime, Utc};

use crate::config::approvals::{Roles, Slot};
use crate::config::{Config, GatePolicy};
use crate::ledger::Record;

/// A slot filled: the role (`None`: anyone) and the person in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filled {
    /// The role the slot asks for.
    pub role: Option<String>,
    /// Who fills it.
    pub approver: String,
}

/// The slots a promotion needs and who fills them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotFill {
    /// What the gate asks for.
    pub slots: Vec<Slot>,
    /// The slots filled, in the order the approvers approved.
    pub filled: Vec<Filled>,
    /// Approvers who count for no slot (no role the slots ask for, or every
    /// slot of their roles taken).
    pub spare: Vec<String>,
}

/// What `policy` asks of a promotion of `change_type`: its matrix row, or
/// (no matrix, or no row for that type) `approvals_required` from anyone,
/// plus one on the hotfix path. Empty: no approvals needed.
pub fn requirement(policy: &GatePolicy, change_type: Option<&str>, hotfix: bool) -> Vec<Slot> {
    if let Some(row) = change_type.and_then(|t| policy.matrix.iter().find(|r| r.change_type == t)) {
        return row.slots.clone();
    }
    let count = policy.approvals_required + u32::from(hotfix);
    if count == 0 {
        return Vec::new();
    }
    vec![Slot { role: None, count }]
}

/// Fills `slots` with `approvers` (distinct people, the initiator already
/// left out under four eyes): each person fills at most one slot, a slot of
/// a role only with someone who holds it, and as many slots are filled as
/// can be (a person holding two roles takes the one nobody else can).
/// Earlier approvers are placed first.
pub fn fill(slots: &[Slot], roles: &Roles, approvers: &[String]) -> SlotFill {
    // One seat per approval a slot asks for.
    let seats: Vec<Option<&str>> = slots
        .iter()
        .flat_map(|s| std::iter::repeat_n(s.role.as_deref(), usize::try_from(s.count).unwrap_or(0)))
        .collect();
    let held: Vec<Vec<String>> = approvers.iter().map(|a| roles.of(a)).collect();
    let fits = |person: usize, seat: usize| match seats[seat] {
        None => true,
        Some(role) => held[person].iter().any(|r| r == role),
    };
    // Maximum bipartite matching (augmenting paths): seat -> person.
    let mut owner: Vec<Option<usize>> = vec![None; seats.len()];
    for person in 0..approvers.len() {
        let mut seen = vec![false; seats.len()];
        augment(person, &fits, &mut owner, &mut seen);
    }
    // In the order they approved.
    let mut filled = Vec::new();
    for (person, approver) in approvers.iter().enumerate() {
        if let Some(seat) = owner.iter().position(|o| *o == Some(person)) {
            filled.push(Filled {
                role: seats[seat].map(str::to_string),
                approver: approver.clone(),
            });
        }
    }
    let spare = approvers
        .iter()
        .enumerate()
        .filter(|(p, _)| !owner.contains(&Some(*p)))
        .map(|(_, a)| a.clone())
        .collect();
    SlotFill {
        slots: slots.to_vec(),
        filled,
        spare,
    }
}

fn augment(
    person: usize,
    fits: &dyn Fn(usize, usize) -> bool,
    owner: &mut [Option<usize>],
    seen: &mut [bool],
) -> bool {
    for seat in 0..owner.len() {
        if seen[seat] || !fits(person, seat) {
            continue;
        }
        seen[seat] = true;
        let free = match owner[seat] {
            None => true,
            Some(other) => augment(other, fits, owner, seen),
        };
        if free {
            owner[seat] = Some(person);
            return true;
        }
    }
    false
}

impl SlotFill {
    /// Approvals asked for.
    pub fn required(&self) -> u32 {
        self.slots.iter().map(|s| s.count).sum()
    }

    /// Slots filled.
    pub fn have(&self) -> u32 {
        u32::try_from(self.filled.len()).unwrap_or(u32::MAX)
    }

    /// Every slot filled.
    pub fn done(&self) -> bool {
        self.have() >= self.required()
    }

    /// The slots still open, by role.
    pub fn open(&self) -> Vec<Slot> {
        self.slots
            .iter()
            .filter_map(|s| {
                let taken = self.filled.iter().filter(|f| f.role == s.role).count();
                let left = s
                    .count
                    .saturating_sub(u32::try_from(taken).unwrap_or(u32::MAX));
                (left > 0).then(|| Slot {
                    role: s.role.clone(),
                    count: left,
                })
            })
            .collect()
    }

    /// `needs 1 business`, `needs 2 approvers`; empty when every slot is filled.
    pub fn needs(&self) -> String {
        let open = self.open();
        if open.is_empty() {
            return String::new();
        }
        let words: Vec<String> = open
            .iter()
            .map(|s| match &s.role {
                Some(r) => format!("{} {r}", s.count),
                None if s.count == 1 => "1 approver".to_string(),
                None => format!("{} approvers", s.count),
            })
            .collect();
        format!("needs {}", words.join(", "))
    }

    /// Who fills what: `developer: bob, dave; business: carol`, or the names
    /// alone where the slots ask for anyone.
    pub fn filled_words(&self) -> String {
        let mut out: Vec<String> = Vec::new();
        for s in &self.slots {
            let who: Vec<&str> = self
                .filled
                .iter()
                .filter(|f| f.role == s.role)
                .map(|f| f.approver.as_str())
                .collect();
            if who.is_empty() {
                continue;
            }
            out.push(match &s.role {
                Some(r) => format!("{r}: {}", who.join(", ")),
                None => who.join(", "),
            });
        }
        out.join("; ")
    }

    /// One line for the gate, `approve` and the panes: `1 of 3 approvals
    /// (developer: bob) · needs 1 developer, 1 business`.
    pub fn summary(&self) -> String {
        let who = self.filled_words();
        let mut s = format!("{} of {} approvals", self.have(), self.required());
        if !who.is_empty() {
            s.push_str(&format!(" ({who})"));
        }
        let needs = self.needs();
        if !needs.is_empty() {
            s.push_str(&format!(" · {needs}"));
        }
        s
    }
}

/// Where promotion `id` stands now: its gate's slots and who fills them
/// (`None`: no such request, or its environment is not configured).
pub fn progress(
    records: &[Record],
    cfg: &Config,
    id: &str,
    now: DateTime<Utc>,
) -> Option<SlotFill> {
    let req = super::find(records, id)?;
    let env = cfg.env_index(&req.env)?;
    let gate = &cfg.environments[env].gate;
    let approvers = super::valid_approvers(
        records,
        &req,
        &req.digest,
        &req.policy,
        gate.approval_ttl,
        gate.four_eyes,
        now,
    );
    let slots = requirement(gate, req.change_type.as_deref(), req.hotfix);
    Some(fill(&slots, &cfg.roles, &approvers))
}
