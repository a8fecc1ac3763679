//! One simulated function: `$LATEST`, its last update, its published
//! versions and its aliases, and the revision ids they are given.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ARN_PREFIX, EVENTS_KEPT, Package};
use crate::model::ServiceEvent;
use crate::platforms::lambda::api::LatestCode;
use crate::platforms::lambda::digest::digest_of;
use crate::platforms::lambda::read::{AliasView, Latest};
use crate::platforms::lambda::snapshot::Artifact;

/// `$LATEST`'s last update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) enum Update {
    Successful,
    /// Until `until`; the code it replaces comes back if it fails.
    InProgress {
        until: DateTime<Utc>,
        previous: String,
        fails: Option<String>,
    },
    Failed(String),
}

/// A published version: never changes once published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Version {
    pub(super) number: u32,
    pub(super) arn: String,
    pub(super) code_sha256: String,
    pub(super) package: Package,
}

/// An alias and its routing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Alias {
    pub(super) version: String,
    pub(super) weighted: Option<(String, f64)>,
    pub(super) description: String,
    pub(super) revision_id: String,
}

/// One function.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Function {
    pub(super) name: String,
    pub(super) package: Package,
    /// `$LATEST`'s `CodeSha256`, as the API spells it.
    pub(super) code_sha256: String,
    pub(super) state: String,
    pub(super) update: Update,
    pub(super) revision_id: String,
    /// Oldest first; numbered 1, 2, 3…
    pub(super) versions: Vec<Version>,
    pub(super) aliases: BTreeMap<String, Alias>,
    /// Newest first.
    pub(super) events: VecDeque<ServiceEvent>,
    pub(super) seq: u64,
    /// The next `UpdateFunctionCode` ends `Failed` with this reason.
    pub(super) fail_next: Option<String>,
    /// Its packages' downloads answer other bytes.
    #[serde(default)]
    pub(super) corrupt_downloads: bool,
}

impl Function {
    pub(super) fn arn(&self) -> String {
        format!("{ARN_PREFIX}{}", self.name)
    }

    pub(super) fn event(&mut self, at: DateTime<Utc>, text: String) {
        self.seq += 1;
        self.events.push_front(ServiceEvent {
            id: format!("{}-{}", self.name, self.seq).into(),
            at,
            message: text.into(),
        });
        self.events.truncate(EVENTS_KEPT);
    }

    pub(super) fn in_progress(&self) -> bool {
        matches!(self.update, Update::InProgress { .. })
    }

    /// Ends an update whose time has come, at its end's time.
    pub(super) fn settle(&mut self, now: DateTime<Utc>, ids: &mut Ids) {
        let Update::InProgress {
            until,
            previous,
            fails,
        } = &self.update
        else {
            return;
        };
        if *until > now {
            return;
        }
        let at = *until;
        if let Some(reason) = fails.clone() {
            // Lambda keeps the code it had when an update fails.
            self.code_sha256 = previous.clone();
            self.event(at, format!("update of $LATEST failed: {reason}"));
            self.update = Update::Failed(reason);
        } else {
            self.event(at, "update of $LATEST successful".to_string());
            self.update = Update::Successful;
        }
        self.revision_id = ids.mint();
    }

    pub(super) fn version(&self, number: u32) -> Option<&Version> {
        self.versions.iter().find(|v| v.number == number)
    }

    pub(super) fn artifact(&self, number: u32) -> Option<Artifact> {
        self.version(number).map(|v| Artifact {
            version: v.number,
            arn: v.arn.clone(),
            package: v.package.as_str().to_string(),
            digest: digest_of(v.package.as_str(), &v.code_sha256),
        })
    }

    pub(super) fn latest_code(&self) -> LatestCode {
        let (status, reason) = match &self.update {
            Update::Successful => ("Successful", None),
            Update::InProgress { .. } => ("InProgress", None),
            Update::Failed(why) => ("Failed", Some(why.clone())),
        };
        LatestCode {
            latest: Latest {
                state: Some(self.state.clone()),
                last_update: Some((status.to_string(), reason)),
                package: Some(self.package.as_str().to_string()),
            },
            code_sha256: Some(self.code_sha256.clone()),
            revision_id: Some(self.revision_id.clone()),
        }
    }

    pub(super) fn publish(&mut self, at: DateTime<Utc>) -> u32 {
        let number = self.versions.last().map_or(1, |v| v.number + 1);
        self.versions.push(Version {
            number,
            arn: format!("{}:{number}", self.arn()),
            code_sha256: self.code_sha256.clone(),
            package: self.package,
        });
        self.event(
            at,
            format!(
                "published version {number} (CodeSha256 {})",
                self.code_sha256
            ),
        );
        number
    }
}

impl Alias {
    pub(super) fn view(&self) -> AliasView {
        AliasView {
            version: self.version.clone(),
            weighted: self.weighted.clone(),
            description: self.description.clone(),
            revision_id: Some(self.revision_id.clone()),
        }
    }
}

/// Revision ids, minted from the seed in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Ids {
    pub(super) seed: u64,
    pub(super) next: u64,
}

impl Ids {
    /// The next id, shaped as Lambda's (a UUID).
    pub(super) fn mint(&mut self) -> String {
        self.next += 1;
        let a = mix(self.seed ^ self.next.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let b = mix(a ^ self.next);
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }
}

/// SplitMix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
