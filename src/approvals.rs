//! Approvals recorded in the ledger, so a second person can approve from their own
//! terminal (`shipdeck approve ID`) and the initiator's shipdeck sees it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::Digest as _;

use crate::config::GatePolicy;
use crate::config::approvals::Roles;
use crate::ledger::{Draft, Ledger, LedgerError, Record, RecordKind};

mod matrix;

pub use matrix::{Filled, SlotFill, fill, progress, requirement};

/// A promotion waiting for approvals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Short id shown to people (`P7K3QX`).
    pub promotion: String,
    /// Target environment.
    pub env: String,
    /// Service.
    pub service: String,
    /// Digest to promote.
    pub digest: String,
    /// Gate-policy hash at request time.
    pub policy: String,
    /// Who started it.
    pub initiator: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Its change type, where one was chosen.
    pub change_type: Option<String>,
    /// The stages it skips (the hotfix path); a request of an older
    /// shipdeck that says only "hotfix" names none but still skips.
    pub skipped: Vec<String>,
    /// It skips a stage.
    pub hotfix: bool,
    /// The stage it promotes from, where the request names it.
    pub from_env: Option<String>,
}

impl Request {
    /// The stage it promotes from: as recorded, else (a request of an older
    /// shipdeck) the stage before its skipped ones in `cfg`'s chain.
    pub fn source(&self, cfg: &crate::config::Config) -> Option<String> {
        self.from_env.clone().or_else(|| {
            let i = cfg.env_index(&self.env)?.index();
            let s = i.checked_sub(1 + self.skipped.len())?;
            Some(cfg.environments[s].name.clone())
        })
    }
}

/// Why an approval was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// No promotion with that id.
    #[error("no promotion \"{0}\" is waiting for approval; check the id shown in the wizard")]
    NotFound(String),
    /// Four eyes: the initiator cannot approve.
    #[error("{0} started this promotion and cannot approve it (four eyes)")]
    SelfApproval(String),
    /// The approver already approved.
    #[error("{0} has already approved this promotion; approvals count once per person")]
    Duplicate(String),
    /// The approver fills no slot the gate still has open.
    #[error("{who} ({held}) fills no open slot of this promotion: {needs}")]
    NoSlot {
        /// The approver.
        who: String,
        /// The roles they hold, in words.
        held: String,
        /// What is still open (`needs 1 business`).
        needs: String,
    },
    /// The request is older than the approval lifetime.
    #[error(
        "promotion \"{id}\" was requested {age} ago; approvals expire after {ttl}; start it again"
    )]
    Expired {
        /// Promotion id.
        id: String,
        /// Its age.
        age: String,
        /// The lifetime.
        ttl: String,
    },
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// Hash of a gate policy; an approval given under another policy does not count.
pub fn policy_hash(gate: &GatePolicy) -> String {
    crate::model::digest::hex_lower(&sha2::Sha256::digest(format!("{gate:?}").as_bytes()))[..16]
        .to_string()
}

/// A short, readable promotion id.
pub fn new_id(env: &str, service: &str, digest: &str, at: DateTime<Utc>) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let h = sha2::Sha256::digest(
        format!(
            "{env}/{service}/{digest}/{}",
            at.timestamp_nanos_opt().unwrap_or(0)
        )
        .as_bytes(),
    );
    h.iter()
        .take(6)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// Records a promotion that waits for approvals.
pub fn request(
    ledger: &Ledger,
    env: &str,
    service: &str,
    digest: &str,
    policy: &str,
    initiator: &str,
    at: DateTime<Utc>,
) -> Result<Request, LedgerError> {
    let req = Request {
        promotion: new_id(env, service, digest, at),
        env: env.to_string(),
        service: service.to_string(),
        digest: digest.to_string(),
        policy: policy.to_string(),
        initiator: initiator.to_string(),
        at,
        change_type: None,
        skipped: Vec::new(),
        hotfix: false,
        from_env: None,
    };
    ledger.append(
        RecordKind::PromotionStarted,
        Draft {
            operator: initiator.to_string(),
            env: Some(env.to_string()),
            service: Some(service.to_string()),
            promotion: Some(req.promotion.clone()),
            to_digest: Some(digest.to_string()),
            policy: Some(policy.to_string()),
            ..Draft::default()
        },
        at,
    )?;
    Ok(req)
}

/// Finds a request by id in the records.
pub fn find(records: &[Record], id: &str) -> Option<Request> {
    records.iter().rev().find_map(|r| {
        (r.kind == RecordKind::PromotionStarted && r.draft.promotion.as_deref() == Some(id)).then(
            || Request {
                promotion: id.to_string(),
                env: r.draft.env.clone().unwrap_or_default(),
                service: r.draft.service.clone().unwrap_or_default(),
                digest: r.draft.to_digest.clone().unwrap_or_default(),
                policy: r.draft.policy.clone().unwrap_or_default(),
                initiator: r.draft.operator.clone(),
                at: r.at,
                change_type: r.draft.change_type.clone(),
                skipped: r.draft.skipped.clone(),
                hotfix: r.draft.hotfix || !r.draft.skipped.is_empty(),
                from_env: r.draft.from_env.clone(),
            },
        )
    })
}

/// Approvers that count now: same digest and policy as the request currently has,
/// not expired, distinct, and (with four eyes) never the initiator.
pub fn valid_approvers(
    records: &[Record],
    req: &Request,
    current_digest: &str,
    current_policy: &str,
    ttl: Duration,
    four_eyes: bool,
    now: DateTime<Utc>,
) -> Vec<String> {
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    let mut out: Vec<String> = Vec::new();
    for r in records {
        let counts = r.kind == RecordKind::Approval
            && r.draft.promotion.as_deref() == Some(req.promotion.as_str())
            && r.draft.to_digest.as_deref() == Some(current_digest)
            && r.draft.policy.as_deref() == Some(current_policy)
            && now - r.at <= ttl
            && !(four_eyes && same_person(&r.draft.operator, &req.initiator))
            && !out.iter().any(|o| same_person(o, &r.draft.operator));
        if counts {
            out.push(r.draft.operator.clone());
        }
    }
    out
}

/// The approvers that count now for promotion `id` (none when it was never requested).
pub fn current(
    records: &[Record],
    id: &str,
    digest: &str,
    gate: &GatePolicy,
    policy: &str,
    now: DateTime<Utc>,
) -> Vec<String> {
    find(records, id).map_or_else(Vec::new, |req| {
        valid_approvers(
            records,
            &req,
            digest,
            policy,
            gate.approval_ttl,
            gate.four_eyes,
            now,
        )
    })
}

/// A promotion waiting for approvals, as `shipdeck approvals` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The request.
    pub request: Request,
    /// The stage it promotes from.
    pub from_env: Option<String>,
    /// Its change record, when the wizard had one.
    pub change_record: Option<String>,
    /// Approvals that count now.
    pub approvers: Vec<String>,
    /// Its gate's slots and who fills them.
    pub slots: SlotFill,
}

/// Column titles of [`Pending::columns`], after the id column.
pub const PENDING_HEADER: &str =
    "SERVICE       FROM → TO          DIGEST        INITIATOR    CHANGE       AGE  APPROVALS";

impl Pending {
    /// The row `shipdeck approvals` and the console's pane both show, after
    /// the id: service, stages, digest, initiator, change record, age (whole
    /// minutes at `now`), the slots filled, by whom, and what is still open.
    pub fn columns(&self, now: DateTime<Utc>) -> String {
        let r = &self.request;
        format!(
            "{:<13} {:<18} {:<13} {:<12} {:<12} {:>3}m {}",
            r.service,
            format!("{} → {}", self.from_env.as_deref().unwrap_or("?"), r.env),
            r.digest.get(7..19).unwrap_or(&r.digest),
            r.initiator,
            self.change_record.as_deref().unwrap_or("-"),
            (now - r.at).num_minutes().max(0),
            self.slots.summary(),
        )
    }

    /// The change type and the stages skipped, for a line of its own
    /// (`feature`, `hotfix, skips staging`); `None` when neither is known.
    pub fn kind_words(&self) -> Option<String> {
        let r = &self.request;
        let skips = (!r.skipped.is_empty()).then(|| format!("skips {}", r.skipped.join(", ")));
        match (r.change_type.as_deref(), skips) {
            (Some(t), Some(s)) => Some(format!("{t}, {s}")),
            (Some(t), None) => Some(t.to_string()),
            (None, Some(s)) => Some(s),
            (None, None) => None,
        }
    }
}

/// The approvals that count now for `req` itself (its digest and policy).
fn approvers_of(
    records: &[Record],
    req: &Request,
    gate: &GatePolicy,
    now: DateTime<Utc>,
) -> Vec<String> {
    valid_approvers(
        records,
        req,
        &req.digest,
        &req.policy,
        gate.approval_ttl,
        gate.four_eyes,
        now,
    )
}

/// Promotions requested, not yet issued or closed, not expired, whose gate
/// asks for approvals: oldest first.
pub fn pending(
    records: &[Record],
    cfg: &crate::config::Config,
    now: DateTime<Utc>,
) -> Vec<Pending> {
    let mut out: Vec<Pending> = Vec::new();
    for r in records {
        let Some(id) = r.draft.promotion.as_deref() else {
            continue;
        };
        let over = r.kind == RecordKind::DeployIssued || crate::stable::ends_action(r.kind);
        if over {
            out.retain(|p| p.request.promotion != id);
            continue;
        }
        if r.kind == RecordKind::GateEvaluated
            && let Some(p) = out.iter_mut().find(|p| p.request.promotion == id)
            && r.draft.change_record.is_some()
        {
            p.change_record.clone_from(&r.draft.change_record);
        }
        if r.kind != RecordKind::PromotionStarted {
            continue;
        }
        let Some(req) = find(records, id) else {
            continue;
        };
        let Some(i) = cfg.env_index(&req.env).map(crate::config::EnvId::index) else {
            continue;
        };
        let gate = &cfg.environments[i].gate;
        let slots = requirement(gate, req.change_type.as_deref(), req.hotfix);
        if slots.is_empty()
            || now - req.at
                > chrono::Duration::from_std(gate.approval_ttl).unwrap_or(chrono::Duration::MAX)
        {
            continue;
        }
        let approvers = approvers_of(records, &req, gate, now);
        out.retain(|p| p.request.promotion != id);
        out.push(Pending {
            from_env: req.source(cfg),
            change_record: r.draft.change_record.clone(),
            slots: fill(&slots, &cfg.roles, &approvers),
            approvers,
            request: req,
        });
    }
    out
}

/// The key an approval takes once: one per promotion and person (the
/// principal, so two spellings of one ARN are one person).
pub fn once_key(promotion: &str, approver: &str) -> String {
    format!("approval#{promotion}#{}", principal(approver))
}

/// Records an approval by `approver`, or says why it cannot count. Once per
/// person is decided by the ledger's write itself ([`Ledger::append_once`]):
/// of several racing approvals by one person, one is written.
pub fn approve(
    ledger: &Ledger,
    id: &str,
    approver: &str,
    comment: Option<&str>,
    gate: &GatePolicy,
    roles: &Roles,
    now: DateTime<Utc>,
) -> Result<(Request, Record), ApprovalError> {
    let records = ledger.read()?;
    let req = precheck(&records, id, approver, gate, roles, now)?;
    let key = once_key(&req.promotion, approver);
    let record = ledger
        .append_once(
            RecordKind::Approval,
            Draft {
                operator: approver.to_string(),
                env: Some(req.env.clone()),
                service: Some(req.service.clone()),
                promotion: Some(req.promotion.clone()),
                to_digest: Some(req.digest.clone()),
                policy: Some(req.policy.clone()),
                reasons: comment
                    .map(|c| vec![crate::model::text::fold_line(c)])
                    .unwrap_or_default(),
                change_type: req.change_type.clone(),
                roles: roles.of(approver),
                ..Draft::default()
            },
            now,
            &key,
            None,
        )
        .map_err(|e| match e {
            LedgerError::Duplicate { .. } => ApprovalError::Duplicate(approver.to_string()),
            e => ApprovalError::Ledger(e),
        })?;
    Ok((req, record))
}

/// The principal an operator names, for four eyes: an IAM or STS ARN is
/// compared by account and principal. An assumed role is its role session
/// (`assumed-role/ROLE/SESSION`): two sessions of one role are two people, and
/// a role's name is compared without case, as IAM names are unique without
/// case. Any other operator (a name in file mode) is compared as written.
fn principal(operator: &str) -> String {
    let parts: Vec<&str> = operator.splitn(6, ':').collect();
    let [arn, _partition, service, _region, account, resource] = parts[..] else {
        return operator.to_string();
    };
    if arn != "arn" || !matches!(service, "iam" | "sts") {
        return operator.to_string();
    }
    let mut segments = resource.split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some("assumed-role"), Some(role), Some(session)) => {
            format!("{account}:assumed-role/{}/{session}", role.to_lowercase())
        }
        (Some(kind), Some(_), _) => {
            // user/NAME or role/NAME (a path may come before the name).
            let name = resource.rsplit('/').next().unwrap_or(resource);
            format!("{account}:{kind}/{}", name.to_lowercase())
        }
        _ => operator.to_string(),
    }
}

/// Who `operator` is as a person, for keys that count once per person.
pub fn person_key(operator: &str) -> String {
    principal(operator)
}

/// Whether two operators are the same principal (four eyes, distinct approvers).
pub fn same_person(a: &str, b: &str) -> bool {
    a == b || principal(a) == principal(b)
}

/// Whether `approver`'s approval of `id` would count now: the request, or why not
/// (unknown id, expired, the initiator under four eyes, already approved).
pub fn precheck(
    records: &[Record],
    id: &str,
    approver: &str,
    gate: &GatePolicy,
    roles: &Roles,
    now: DateTime<Utc>,
) -> Result<Request, ApprovalError> {
    let req = find(records, id).ok_or_else(|| ApprovalError::NotFound(id.to_string()))?;
    let age = (now - req.at).to_std().unwrap_or_default();
    if age > gate.approval_ttl {
        return Err(ApprovalError::Expired {
            id: id.to_string(),
            age: humantime::format_duration(Duration::from_secs(age.as_secs())).to_string(),
            ttl: humantime::format_duration(gate.approval_ttl).to_string(),
        });
    }
    if gate.four_eyes && same_person(approver, &req.initiator) {
        return Err(ApprovalError::SelfApproval(approver.to_string()));
    }
    let already = approvers_of(records, &req, gate, now);
    if already.iter().any(|a| same_person(a, approver)) {
        return Err(ApprovalError::Duplicate(approver.to_string()));
    }
    // Under a matrix, an approval counts only where it fills a slot: a
    // developer's approval never fills the business one.
    let slots = requirement(gate, req.change_type.as_deref(), req.hotfix);
    if slots.iter().any(|s| s.role.is_some()) {
        let before = fill(&slots, roles, &already);
        let mut with = already.clone();
        with.push(approver.to_string());
        if fill(&slots, roles, &with).have() <= before.have() {
            let held = roles.of(approver);
            return Err(ApprovalError::NoSlot {
                who: approver.to_string(),
                held: if held.is_empty() {
                    "no role".to_string()
                } else {
                    held.join(", ")
                },
                needs: if before.done() {
                    "every slot is filled".to_string()
                } else {
                    before.needs()
                },
            });
        }
    }
    Ok(req)
}

#[cfg(test)]
mod tests;
