//! Revisions: what a platform deploys and rolls back to, on every platform.

use serde::{Deserialize, Serialize};

use super::{Shared, sanitize};

/// What a platform calls one revision within its family.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RevisionId {
    /// A number that grows with each revision: an ECS task-definition
    /// revision, a Lambda version, a Kubernetes ReplicaSet revision, a Fly
    /// release.
    Number(u32),
    /// A name with no order: a colour behind a reverse proxy, a git commit.
    Label(Shared),
}

/// One deployable revision on any platform: a family (a task-definition
/// family, a function, an app, a service behind a proxy) and the revision
/// within it, with the platform's full reference (an ARN, a URL) when known.
///
/// Written as `family:12` for numbered revisions and `family@label` for
/// labelled ones: the spelling in the ledger, which old records share.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RevisionRepr", into = "RevisionRepr")]
pub struct Revision {
    /// The family the revision belongs to.
    pub family: Shared,
    /// The revision within it.
    pub id: RevisionId,
    /// The platform's full reference (or the simulator's equivalent).
    pub arn: Shared,
}

/// How a revision is serialised (demo worlds, spools): a numbered one as
/// task definitions always were (`{family, revision, arn}`), a labelled one
/// with `label` instead of `revision`.
#[derive(Serialize, Deserialize)]
struct RevisionRepr {
    family: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revision: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    arn: String,
}

impl TryFrom<RevisionRepr> for Revision {
    type Error = String;
    fn try_from(r: RevisionRepr) -> Result<Self, Self::Error> {
        match (r.label, r.revision) {
            (Some(label), _) => Ok(Self {
                family: r.family.into(),
                id: RevisionId::Label(label.into()),
                arn: r.arn.into(),
            }),
            // The proxy's colours were once squeezed into task definitions
            // as `colour:blue`, revision 1 or 2.
            (None, Some(_)) if r.arn.starts_with("colour:") => {
                Ok(Self::labelled(&r.family, &r.arn["colour:".len()..]))
            }
            (None, Some(n)) => Ok(Self::numbered(&r.family, n, &r.arn)),
            (None, None) => Err(format!(
                "revision of {} has neither a number nor a label",
                sanitize(&r.family)
            )),
        }
    }
}

impl From<Revision> for RevisionRepr {
    fn from(r: Revision) -> Self {
        let (revision, label) = match r.id {
            RevisionId::Number(n) => (Some(n), None),
            RevisionId::Label(l) => (None, Some(l.to_string())),
        };
        Self {
            family: r.family.to_string(),
            revision,
            label,
            arn: r.arn.to_string(),
        }
    }
}

impl Revision {
    /// A numbered revision, with the platform's reference to it (`arn`; the
    /// `family:number` text when the platform has none).
    pub fn numbered(family: &str, number: u32, arn: &str) -> Self {
        Self {
            family: family.into(),
            id: RevisionId::Number(number),
            arn: if arn.is_empty() {
                format!("{family}:{number}").into()
            } else {
                arn.into()
            },
        }
    }

    /// A labelled revision (`api@green`, `api@3f2a1c9`).
    pub fn labelled(family: &str, label: &str) -> Self {
        Self {
            family: family.into(),
            id: RevisionId::Label(label.into()),
            arn: format!("{family}@{label}").into(),
        }
    }

    /// A revision from its text: `family@label`, `family:12`, or a
    /// reference ending in `/family:12` (an ECS task-definition or Lambda
    /// version ARN): the one parser of revisions.
    pub fn parse(text: &str) -> Option<Self> {
        if let Some((family, label)) = text.rsplit_once('@')
            && !family.is_empty()
            && !label.is_empty()
            && !family.contains('/')
            && !label.contains([':', '/'])
        {
            return Some(Self::labelled(family, label));
        }
        let tail = text.rsplit('/').next().unwrap_or(text);
        let (family, rev) = tail.rsplit_once(':')?;
        if family.is_empty() {
            return None;
        }
        Some(Self::numbered(family, rev.parse().ok()?, text))
    }

    /// The number of a numbered revision.
    pub fn number(&self) -> Option<u32> {
        match self.id {
            RevisionId::Number(n) => Some(n),
            RevisionId::Label(_) => None,
        }
    }

    /// The label of a labelled revision.
    pub fn label(&self) -> Option<&str> {
        match &self.id {
            RevisionId::Label(l) => Some(l),
            RevisionId::Number(_) => None,
        }
    }

    /// Same family and revision: the reference's spelling differs between
    /// APIs (full ARN, `family:rev`), the revision does not.
    pub fn same_revision(&self, other: &Self) -> bool {
        self.family == other.family && self.id == other.id
    }

    /// Whether `self` is an older revision of the same family than `other`
    /// (only numbered revisions have an order).
    pub fn older_than(&self, other: &Self) -> bool {
        self.family == other.family
            && matches!((self.number(), other.number()), (Some(a), Some(b)) if a < b)
    }

    /// The revision within its family in few characters, for a board cell:
    /// `r12`, or the label.
    pub fn short(&self) -> String {
        match &self.id {
            RevisionId::Number(n) => format!("r{n}"),
            RevisionId::Label(l) => l.to_string(),
        }
    }
}

impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.id {
            RevisionId::Number(n) => write!(f, "{}:{n}", self.family),
            RevisionId::Label(l) => write!(f, "{}@{l}", self.family),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn task_definition_references() {
        let t = Revision::parse("arn:aws:ecs:eu-west-1:123:task-definition/shop-api:12").unwrap();
        assert_eq!((&*t.family, t.number()), ("shop-api", Some(12)));
        // moto stores what UpdateService was given.
        let t = Revision::parse("api:2").unwrap();
        assert_eq!((&*t.family, t.number()), ("api", Some(2)));
        assert!(Revision::parse("api").is_none());
        assert!(Revision::parse("api:x").is_none());
    }

    #[test]
    fn revisions_of_every_platform_read_and_write_as_the_ledger_spells_them() {
        let green = Revision::parse("api@green").unwrap();
        assert_eq!((green.label(), green.number()), (Some("green"), None));
        assert_eq!(green.to_string(), "api@green");
        // A digest reference is not a revision.
        assert!(Revision::parse("repo@sha256:abcd").is_none());
        // A Lambda version keeps its family and its reference through a
        // round trip; an ECS revision serialises as it always did.
        let v = Revision::numbered("thumbs", 7, "arn:aws:lambda:eu-west-1:1:function:thumbs:7");
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<Revision>(&json).unwrap(), v);
        let ecs = Revision::parse("arn:aws:ecs:eu-west-1:1:task-definition/shop-api:12").unwrap();
        assert_eq!(
            serde_json::to_string(&ecs).unwrap(),
            r#"{"family":"shop-api","revision":12,"arn":"arn:aws:ecs:eu-west-1:1:task-definition/shop-api:12"}"#
        );
        let json = serde_json::to_string(&green).unwrap();
        assert_eq!(serde_json::from_str::<Revision>(&json).unwrap(), green);
        // The old shape, as demo worlds and spools wrote it before.
        let old: Revision =
            serde_json::from_str(r#"{"family":"api","revision":3,"arn":"api:3"}"#).unwrap();
        assert_eq!(old, Revision::numbered("api", 3, "api:3"));
        let old: Revision =
            serde_json::from_str(r#"{"family":"api","revision":2,"arn":"colour:green"}"#).unwrap();
        assert!(old.same_revision(&green));
        assert!(
            Revision::parse("api:2")
                .unwrap()
                .older_than(&Revision::parse("api:3").unwrap())
        );
        assert!(!green.older_than(&Revision::parse("api@blue").unwrap()));
    }
}
