//! Supply-chain evidence in the console: what the registry holds for each
//! digest on the board (its labels fill in the commit, source and build
//! time where the platform did not say them), read once per digest and
//! kept; and, for a promotion, the signatures and attestations read afresh
//! and judged for the gate. A digest's content never changes, so a board
//! refresh asks the registry for nothing it has read already.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::{App, Command};
use crate::config::EnvId;
use crate::config::supply::SupplyPolicy;
use crate::model::{Digest, EnvSnapshot, ImageRef};
use crate::supply::Assessment;
pub use crate::supply::gather::{Evidence, fill_labels, pinned_image};

/// How long a failed reading is left alone before the board asks again.
const RETRY_AFTER: chrono::Duration = chrono::Duration::minutes(1);

/// One digest's evidence, judged when it arrived (signature verification
/// is not done again for every frame or gate refresh), and again when the
/// day changes (an allow-list entry may have expired).
#[derive(Debug, Clone)]
struct Known {
    evidence: Evidence,
    at: DateTime<Utc>,
    judged: Assessment,
}

/// What the console knows of the digests it asked the registry about.
#[derive(Debug, Clone, Default)]
pub struct SupplyState {
    /// Gathered evidence per digest, judged.
    known: HashMap<Digest, Known>,
    /// Digests being read.
    in_flight: HashSet<Digest>,
    /// Digests read afresh (signatures included) since the wizard opened.
    rechecked: HashSet<Digest>,
    /// The UTC day the evidence was judged on.
    day: Option<chrono::NaiveDate>,
}

impl SupplyState {
    /// The evidence gathered for `digest`, if any.
    pub fn evidence(&self, digest: &Digest) -> Option<&Evidence> {
        self.known.get(digest).map(|k| &k.evidence)
    }

    /// Whether `digest` is being read.
    pub fn reading(&self, digest: &Digest) -> bool {
        self.in_flight.contains(digest)
    }

    /// The evidence for `digest` as judged, whichever way it was read (the
    /// detail pane's view).
    pub fn judged(&self, digest: &Digest) -> Option<&Assessment> {
        self.known.get(digest).map(|k| &k.judged)
    }

    /// The evidence for `digest` judged, for a gate: only once its
    /// signatures were read afresh for this promotion (`None` until then:
    /// the gate's checks wait).
    pub fn assessment(&self, digest: &Digest) -> Option<&Assessment> {
        if !self.rechecked.contains(digest) {
            return None;
        }
        self.judged(digest)
    }

    /// Judges everything again when the UTC day changed since it was last
    /// judged: allow-list entries expire by the day.
    /// Whether anything was judged again.
    pub(super) fn on_tick(&mut self, policy: &SupplyPolicy, now: DateTime<Utc>) -> bool {
        let today = now.date_naive();
        if self.day == Some(today) {
            return false;
        }
        self.day = Some(today);
        for (d, k) in &mut self.known {
            k.judged = k.evidence.assess(d, policy, now);
        }
        !self.known.is_empty()
    }
}

/// Fills in the labels the platform did not give, from the reading of
/// `digest`, in every service of `snap` that runs it.
fn apply_one(snap: &mut EnvSnapshot, digest: &Digest, labels: &crate::registry::Labels) {
    for s in snap
        .services
        .iter_mut()
        .filter(|s| s.digest.as_ref() == Some(digest))
    {
        if let Some(image) = &mut s.image {
            fill_labels(image, labels);
        }
    }
}

impl SupplyState {
    /// Fills in the labels the platform did not give, from readings: the
    /// commit, the source and the build time of each image read (a new
    /// reading of an environment).
    pub(super) fn apply(&self, snap: &mut EnvSnapshot) {
        if self.known.is_empty() {
            return;
        }
        for s in &mut snap.services {
            let Some(d) = &s.digest else {
                continue;
            };
            let Some(Known {
                evidence: Evidence { reading: Ok(r), .. },
                ..
            }) = self.known.get(d)
            else {
                continue;
            };
            if let Some(image) = &mut s.image {
                fill_labels(image, &r.labels);
            }
        }
    }
}

/// The reads the board needs after a reading of `env`: every digest on a
/// registry `[registry] read` names that was never read (or whose reading
/// failed over a minute ago). A digest read once is never asked again.
pub(super) fn board_requests(app: &mut App, env: EnvId) -> Vec<Command> {
    let now = app.now;
    let Some(snap) = app.envs.get(env.index()).and_then(|e| e.snapshot.as_ref()) else {
        return Vec::new();
    };
    let mut cmds = Vec::new();
    for s in &snap.services {
        let Some(image) = pinned_image(s) else {
            continue;
        };
        let Some(d) = image.digest.clone() else {
            continue;
        };
        if !app.cfg.registry.reads(&image) || app.supply.in_flight.contains(&d) {
            continue;
        }
        match app.supply.known.get(&d) {
            Some(Known {
                evidence: Evidence {
                    reading: Err(_), ..
                },
                at,
                ..
            }) if now - *at >= RETRY_AFTER => {}
            Some(_) => continue,
            None => {}
        }
        app.supply.in_flight.insert(d);
        cmds.push(Command::ReadSupply {
            image: Box::new(image),
            recheck: false,
        });
    }
    cmds
}

/// A promotion's reads ([`crate::supply::gather::promotion_reads`]): the
/// digest to promote read afresh (its signatures may have been added
/// since; until it answers the gate's checks wait), and the image the
/// target runs for its labels, unless known.
pub(super) fn promotion_requests(
    app: &mut App,
    promoted: Option<ImageRef>,
    running: Option<ImageRef>,
) -> Vec<Command> {
    let mut cmds = Vec::new();
    if let Some(image) = promoted
        && let Some(d) = image.digest.clone()
    {
        app.supply.rechecked.remove(&d);
        app.supply.in_flight.insert(d);
        cmds.push(Command::ReadSupply {
            image: Box::new(image),
            recheck: true,
        });
    }
    if let Some(image) = running
        && let Some(d) = image.digest.clone()
        && !app.supply.known.contains_key(&d)
        && !app.supply.in_flight.contains(&d)
    {
        app.supply.in_flight.insert(d);
        cmds.push(Command::ReadSupply {
            image: Box::new(image),
            recheck: false,
        });
    }
    cmds
}

/// A reading arrived: judged and kept, its labels put into the readings on
/// screen that run its digest.
pub(super) fn on_read(app: &mut App, digest: Digest, recheck: bool, evidence: Evidence) {
    app.supply.in_flight.remove(&digest);
    if recheck {
        app.supply.rechecked.insert(digest.clone());
    }
    // A board reading never replaces one read afresh for a gate, and a
    // failure never replaces a good reading (the board keeps the labels).
    let keep_old = !recheck
        && (app.supply.rechecked.contains(&digest)
            || evidence.reading.is_err()
                && matches!(
                    app.supply.known.get(&digest),
                    Some(Known {
                        evidence: Evidence { reading: Ok(_), .. },
                        ..
                    })
                ));
    if keep_old {
        return;
    }
    if let Ok(r) = &evidence.reading {
        for e in &mut app.envs {
            if let Some(snap) = &mut e.snapshot {
                apply_one(snap, &digest, &r.labels);
            }
        }
    }
    let judged = evidence.assess(&digest, &app.cfg.supply, app.now);
    app.supply.known.insert(
        digest,
        Known {
            evidence,
            at: app.now,
            judged,
        },
    );
    app.dirty = true;
}
