//! The live timeline: a capped, deduplicated, time-ordered stream of what happened.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::PAGE_ROWS;
use super::keys::Action;
use super::views::Seen;
use crate::model::{AlarmState, EnvSnapshot, Health, RolloutState, sanitize};

/// Entries kept; older ones are dropped.
pub const TIMELINE_CAP: usize = 2000;

/// What kind of thing happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// An ECS service event.
    Event,
    /// A deploy began: a rollout went in progress (drawn as a start, never ✓).
    Start,
    /// A rollout state change.
    Rollout,
    /// A state became unknown (a rollout or alarm with no reading): never ✓.
    Unknown,
    /// An alarm transition.
    Alarm,
    /// A health change.
    Health,
    /// Something shipdeck did.
    Action,
    /// A reading failed.
    Error,
}

/// One timeline line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Environment.
    pub env: String,
    /// Service, when it concerns one.
    pub service: Option<String>,
    /// Kind.
    pub kind: EntryKind,
    /// Text (sanitised).
    pub text: String,
    /// Whether this is bad news (drawn with ✗).
    pub bad: bool,
    key: String,
}

/// The buffer and its scroll state.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    entries: Vec<Entry>,
    seen: HashSet<String>,
    /// Time of the newest entry dropped at the cap: nothing at or before it is
    /// added again (each reading repeats the services' recent events, and
    /// re-adding what the cap just dropped would churn the whole buffer on
    /// every reading of a large fleet).
    floor: Option<DateTime<Utc>>,
    /// Lines scrolled up from the newest; 0 follows the tail.
    pub scroll: usize,
    /// The entries in scope and the rows at the last draw.
    pub view: Seen,
}

impl Timeline {
    /// All entries, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Whether the view follows new entries.
    pub fn following(&self) -> bool {
        self.scroll == 0
    }

    /// Adds an entry unless its key was seen; keeps time order and the cap.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        key: String,
        at: DateTime<Utc>,
        env: &str,
        service: Option<&str>,
        kind: EntryKind,
        text: &str,
        bad: bool,
    ) -> bool {
        if self.floor.is_some_and(|floor| at <= floor) || self.seen.contains(&key) {
            return false;
        }
        // At the cap, something older than everything kept would be dropped at once
        // and then re-added on the next poll: ignore it.
        if self.entries.len() >= TIMELINE_CAP && self.entries.first().is_some_and(|e| at < e.at) {
            return false;
        }
        let entry = Entry {
            at,
            env: env.to_string(),
            service: service.map(str::to_string),
            kind,
            text: sanitize(text),
            bad,
            key: key.clone(),
        };
        let pos = self.entries.partition_point(|e| e.at <= at);
        self.entries.insert(pos, entry);
        self.seen.insert(key);
        // Keep the user's view still when they scrolled up.
        if self.scroll > 0 && pos < self.entries.len() {
            self.scroll = self.scroll.saturating_add(1);
        }
        if self.entries.len() > TIMELINE_CAP {
            let excess = self.entries.len() - TIMELINE_CAP;
            for e in self.entries.drain(..excess) {
                self.seen.remove(&e.key);
                self.floor = Some(self.floor.map_or(e.at, |f| f.max(e.at)));
            }
            self.scroll = self.scroll.min(self.entries.len());
        }
        true
    }

    /// Records what changed between two readings of one environment.
    pub fn record_reading(&mut self, prev: Option<&EnvSnapshot>, next: &EnvSnapshot) {
        let env = next.env.as_str();
        for svc in &next.services {
            let old = prev.and_then(|p| p.service(&svc.name));
            // Events are newest first; those the last reading held were offered
            // then. Only the newer ones are new (at 6,000 services, offering
            // every event again cost a key each per reading).
            let last_seen = old.and_then(|o| o.events.first()).map(|e| &*e.id);
            let fresh = svc
                .events
                .iter()
                .position(|e| Some(&*e.id) == last_seen)
                .unwrap_or(svc.events.len());
            for ev in svc.events[..fresh].iter().rev() {
                self.push(
                    format!("ev:{env}:{}", ev.id),
                    ev.at,
                    env,
                    Some(&svc.name),
                    EntryKind::Event,
                    &ev.message,
                    false,
                );
            }
            let Some(old) = old else { continue };
            let (was, now) = (old.rollout(), svc.rollout());
            if was != now {
                let (kind, text) = rollout_entry(was, now, svc);
                let key = format!(
                    "ro:{env}:{}:{}:{}",
                    svc.name,
                    now.label(),
                    next.read_at.timestamp_millis()
                );
                self.push(
                    key,
                    next.read_at,
                    env,
                    Some(&svc.name),
                    kind,
                    &text,
                    now.is_bad(),
                );
            }
            for alarm in &svc.alarms {
                let before = old
                    .alarms
                    .iter()
                    .find(|a| a.name == alarm.name)
                    .map(|a| a.state);
                if before.is_some_and(|b| b != alarm.state) {
                    let text = format!(
                        "alarm {} → {}: {}",
                        alarm.name,
                        state_label(alarm.state),
                        alarm.reason
                    );
                    let key = format!(
                        "al:{env}:{}:{}:{}",
                        alarm.name,
                        state_label(alarm.state),
                        alarm.updated_at.timestamp_millis()
                    );
                    let kind = if alarm.state == AlarmState::InsufficientData {
                        EntryKind::Unknown
                    } else {
                        EntryKind::Alarm
                    };
                    self.push(
                        key,
                        alarm.updated_at,
                        env,
                        Some(&svc.name),
                        kind,
                        &text,
                        alarm.state == AlarmState::Alarm,
                    );
                }
            }
            if old.health.is_bad() != svc.health.is_bad() {
                let text = match &svc.health {
                    Health::Unhealthy { reason, .. } => format!("health failing: {reason}"),
                    _ => "health recovered".to_string(),
                };
                let key = format!("he:{env}:{}:{}", svc.name, next.read_at.timestamp_millis());
                self.push(
                    key,
                    next.read_at,
                    env,
                    Some(&svc.name),
                    EntryKind::Health,
                    &text,
                    svc.health.is_bad(),
                );
            }
        }
    }

    /// The entries to draw, `start..end` of `len` in scope, in `rows` rows:
    /// scrolled up at most until the oldest is at the top, so the pane stays
    /// full. Remembers the size for the keys.
    pub fn window(&self, len: usize, rows: usize) -> (usize, usize) {
        self.view.record(len, rows);
        let end = len - self.scroll.min(len.saturating_sub(rows));
        (end.saturating_sub(rows), end)
    }

    /// Lines scrolled up as drawn (never past the oldest entry at the top).
    pub fn scrolled(&self) -> usize {
        match self.view.limits() {
            Some((max, _)) => self.scroll.min(max),
            None => self.scroll,
        }
    }

    /// Moves as a scroll key asks (up is older); `false` when `action` is
    /// not one. `g` puts the oldest entry at the top of a full pane.
    pub fn scroll_by(&mut self, action: Action) -> bool {
        let (max, page) = self
            .view
            .limits()
            .unwrap_or((self.entries.len().saturating_sub(1), PAGE_ROWS));
        let at = self.scroll.min(max);
        self.scroll = match action {
            Action::Up => at.saturating_add(1).min(max),
            Action::Down => at.saturating_sub(1),
            Action::Top => max,
            Action::Bottom => 0,
            Action::PageUp => at.saturating_add(page).min(max),
            Action::PageDown => at.saturating_sub(page),
            _ => return false,
        };
        true
    }

    /// Entries matching a scope, oldest first.
    pub fn filtered<'a>(
        &'a self,
        env: Option<&'a str>,
        service: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| {
            env.is_none_or(|x| e.env == x)
                && service.is_none_or(|s| e.service.as_deref() == Some(s))
        })
    }
}

/// What a rollout's change says: a deploy start reads as a start, naming
/// what rolls out; a state no longer read reads as unknown.
fn rollout_entry(
    was: RolloutState,
    now: RolloutState,
    svc: &crate::model::ServiceSnapshot,
) -> (EntryKind, String) {
    match now {
        RolloutState::InProgress => {
            let what = svc
                .deployments
                .iter()
                .find(|d| d.role == crate::model::DeploymentRole::Primary)
                .map_or_else(String::new, |d| format!(": {}", d.task_definition));
            let after = match was {
                RolloutState::Completed => String::new(),
                other => format!(" (rollout was {})", other.label()),
            };
            (EntryKind::Start, format!("deploy started{what}{after}"))
        }
        RolloutState::Unknown => (
            EntryKind::Unknown,
            format!("rollout state unknown (was {})", was.label()),
        ),
        _ => (
            EntryKind::Rollout,
            format!("rollout {} → {}", was.label(), now.label()),
        ),
    }
}

fn state_label(s: AlarmState) -> &'static str {
    match s {
        AlarmState::Ok => "OK",
        AlarmState::Alarm => "ALARM",
        AlarmState::InsufficientData => "INSUFFICIENT_DATA",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    fn reading(events: &[u32]) -> EnvSnapshot {
        let svc = crate::model::ServiceSnapshot {
            // Newest first, as ECS lists them.
            events: events
                .iter()
                .map(|&n| crate::model::ServiceEvent {
                    id: format!("e{n}").into(),
                    at: t(i64::from(n)),
                    message: format!("event {n}").into(),
                })
                .collect(),
            ..crate::model::ServiceSnapshot::bare("api", "shop-api-dev")
        };
        EnvSnapshot {
            env: "dev".into(),
            read_at: t(100),
            services: vec![svc],
            warnings: vec![],
            sources: crate::model::Sources::default(),
            index: crate::model::ServiceIndex::default(),
        }
    }

    #[test]
    fn each_event_reaches_the_timeline_once_however_readings_overlap() {
        let mut tl = Timeline::default();
        let texts = |tl: &Timeline| -> Vec<String> {
            tl.entries().iter().map(|e| e.text.clone()).collect()
        };
        let first = reading(&[2, 1]);
        tl.record_reading(None, &first);
        assert_eq!(texts(&tl), ["event 1", "event 2"]);
        // Two new events on top of the ones already shown.
        let second = reading(&[4, 3, 2, 1]);
        tl.record_reading(Some(&first), &second);
        assert_eq!(texts(&tl), ["event 1", "event 2", "event 3", "event 4"]);
        // The newest event of the last reading is gone (a list cut short or
        // reordered): everything is offered again, and nothing is doubled.
        let third = reading(&[6, 5, 3]);
        tl.record_reading(Some(&second), &third);
        assert_eq!(
            texts(&tl),
            [
                "event 1", "event 2", "event 3", "event 4", "event 5", "event 6"
            ]
        );
        // Nothing new: nothing added.
        tl.record_reading(Some(&third), &third);
        assert_eq!(tl.entries().len(), 6);
    }

    #[test]
    fn dedups_by_key_and_orders_by_time() {
        let mut tl = Timeline::default();
        assert!(tl.push(
            "a".into(),
            t(10),
            "dev",
            None,
            EntryKind::Event,
            "later",
            false
        ));
        assert!(tl.push(
            "b".into(),
            t(5),
            "dev",
            None,
            EntryKind::Event,
            "earlier",
            false
        ));
        assert!(!tl.push(
            "a".into(),
            t(10),
            "dev",
            None,
            EntryKind::Event,
            "later",
            false
        ));
        let texts: Vec<_> = tl.entries().iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["earlier", "later"]);
    }

    #[test]
    fn cap_drops_oldest_and_does_not_readd_them() {
        let mut tl = Timeline::default();
        for i in 0..(TIMELINE_CAP + 10) {
            tl.push(
                format!("k{i}"),
                t(i64::try_from(i).unwrap()),
                "dev",
                None,
                EntryKind::Event,
                "x",
                false,
            );
        }
        assert_eq!(tl.entries().len(), TIMELINE_CAP);
        assert_eq!(tl.entries()[0].at, t(10));
        // A dropped entry arriving again is not re-added.
        assert!(!tl.push("k0".into(), t(0), "dev", None, EntryKind::Event, "x", false));
        assert_eq!(tl.entries().len(), TIMELINE_CAP);
    }

    #[test]
    fn a_full_buffer_does_not_churn_when_readings_repeat_equal_times() {
        // A large fleet's services started together: many events share one time.
        let mut tl = Timeline::default();
        let push_all = |tl: &mut Timeline| {
            (0..TIMELINE_CAP * 2)
                .filter(|i| {
                    tl.push(
                        format!("k{i}"),
                        t(0),
                        "dev",
                        None,
                        EntryKind::Event,
                        "x",
                        false,
                    )
                })
                .count()
        };
        assert_eq!(push_all(&mut tl), TIMELINE_CAP + 1);
        assert_eq!(tl.entries().len(), TIMELINE_CAP);
        // The next reading repeats the same events: nothing is added or dropped.
        assert_eq!(push_all(&mut tl), 0);
        // A newer event still arrives.
        assert!(tl.push(
            "new".into(),
            t(1),
            "dev",
            None,
            EntryKind::Event,
            "x",
            false
        ));
    }

    #[test]
    fn scrolled_view_stays_put_when_entries_arrive() {
        let mut tl = Timeline::default();
        for i in 0..5 {
            tl.push(
                format!("k{i}"),
                t(i),
                "dev",
                None,
                EntryKind::Event,
                "x",
                false,
            );
        }
        tl.scroll = 2;
        tl.push(
            "new".into(),
            t(100),
            "dev",
            None,
            EntryKind::Event,
            "y",
            false,
        );
        assert_eq!(tl.scroll, 3);
        tl.scroll = 0;
        tl.push(
            "new2".into(),
            t(101),
            "dev",
            None,
            EntryKind::Event,
            "z",
            false,
        );
        assert!(tl.following());
    }

    fn rolling(state: RolloutState, at: i64) -> EnvSnapshot {
        let mut r = reading(&[]);
        r.read_at = t(at);
        r.services[0].deployments = vec![crate::model::Deployment {
            id: "d1".into(),
            role: crate::model::DeploymentRole::Primary,
            task_definition: crate::model::Revision::parse("shop-api:5").unwrap(),
            rollout: state,
            reason: None,
            steps: vec![],
            nothing_changed: false,
            shift: None,
            running: 1,
            desired: 1,
            pending: 0,
            failed_tasks: 0,
            created_at: t(at),
            updated_at: t(at),
        }];
        r
    }

    #[test]
    fn a_deploy_start_reads_as_a_start_and_unknown_is_never_done() {
        let mut tl = Timeline::default();
        let done = rolling(RolloutState::Completed, 1);
        let going = rolling(RolloutState::InProgress, 2);
        let done_again = rolling(RolloutState::Completed, 3);
        let lost = rolling(RolloutState::Unknown, 4);
        tl.record_reading(Some(&done), &going);
        tl.record_reading(Some(&going), &done_again);
        tl.record_reading(Some(&done_again), &lost);
        let got: Vec<(EntryKind, &str)> = tl
            .entries()
            .iter()
            .map(|e| (e.kind, e.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (EntryKind::Start, "deploy started: shop-api:5"),
                (EntryKind::Rollout, "rollout in progress → completed"),
                (EntryKind::Unknown, "rollout state unknown (was completed)"),
            ]
        );
    }

    #[test]
    fn the_oldest_entry_at_the_top_keeps_the_pane_full() {
        let mut tl = Timeline::default();
        for i in 0..30 {
            tl.push(
                format!("k{i}"),
                t(i),
                "dev",
                None,
                EntryKind::Event,
                "x",
                false,
            );
        }
        // Following: the newest 10.
        assert_eq!(tl.window(30, 10), (20, 30));
        assert!(tl.scroll_by(Action::Top));
        assert_eq!(tl.window(30, 10), (0, 10), "g: ten rows, not one");
        assert!(tl.scroll_by(Action::Up));
        assert_eq!(tl.window(30, 10), (0, 10), "no further than the top");
        assert!(tl.scroll_by(Action::Down));
        assert_eq!(tl.window(30, 10), (1, 11));
        assert!(tl.scroll_by(Action::Bottom));
        assert!(tl.following());
        // Fewer entries than rows: all of them, whatever the scroll.
        tl.scroll = 7;
        assert_eq!(tl.window(4, 10), (0, 4));
        assert!(!tl.scroll_by(Action::Quit));
    }

    #[test]
    fn strips_control_characters() {
        let mut tl = Timeline::default();
        tl.push(
            "x".into(),
            t(0),
            "dev",
            None,
            EntryKind::Event,
            "evil\u{1b}[2Jtext",
            false,
        );
        assert_eq!(tl.entries()[0].text, "eviltext");
    }
}
