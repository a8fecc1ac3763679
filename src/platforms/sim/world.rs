//! One demo world shared by the console and every `--demo` command: the
//! simulator's state persisted in the data dir, written atomically (a whole
//! new file renamed over the old one) under an exclusive lock, and read back
//! by every process at its next call when another one changed it.
//!
//! Only changes are written (deploys, rollbacks, faults injected). Between
//! them, every process advances the same saved state with the same seeded
//! steps, so they see the same world.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::SimState;

/// What the file says it is.
const KIND: &str = "shipdeck demo world";
/// Its layout; another one is replaced by the initial world.
const SCHEMA: u32 = 1;
/// Largest world file read.
const WORLD_LIMIT: u64 = 64 * 1024 * 1024;
/// Demo fleets whose saved worlds continue under the current one, with what
/// the fleet added since started afresh: the demo fleet before it had
/// services on the proxy platform (shipdeck before issue 28's simulated
/// blue/green services).
pub(super) const CONTINUED: &[&str] =
    &["sha256:4a33e7eeee4e74ccb44cb2ecb6a751d08a3dfa98e4b7b2dbb67931b58817f1a4"];

#[derive(Serialize, Deserialize)]
struct WorldFile {
    kind: String,
    schema: u32,
    /// Hash of the fleet description the world started from.
    fleet: String,
    /// The game-day scenario it runs, if any.
    scenario: Option<String>,
    state: SimState,
}

/// Borrowed form for writing without cloning the state.
#[derive(Serialize)]
struct WorldFileRef<'a> {
    kind: &'a str,
    schema: u32,
    fleet: &'a str,
    scenario: Option<&'a str>,
    state: &'a SimState,
}

/// Identity of one written version of the file.
type Stamp = (u64, Option<SystemTime>, u64);

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let ino = 0;
    Some((meta.len(), meta.modified().ok(), ino))
}

/// The world file of a simulated fleet.
#[derive(Debug)]
pub(super) struct World {
    path: PathBuf,
    fleet: String,
    /// The scenario asked for, then the one the world runs once opened.
    scenario: Mutex<Option<String>>,
    /// The version this process has in memory.
    seen: Mutex<Option<Stamp>>,
    /// Why the last write failed (which file, the OS error); `None` once one succeeds.
    unsaved: Mutex<Option<String>>,
}

/// What opening the world found, to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// A new world (no file yet).
    Created,
    /// The world as other processes left it.
    Continued,
    /// Replaced by the initial world: `--reset`.
    Reset,
    /// Replaced: it ran another scenario (or none).
    Restarted,
    /// Replaced: the file could not be used (the reason).
    Replaced(String),
}

impl super::SimFleet {
    /// Why the shared world's last write failed (which file, the OS error):
    /// a process carries on in memory, but `--reset` must not claim a reset.
    pub fn world_unsaved(&self) -> Option<String> {
        self.world.as_ref()?.unsaved()
    }
}

/// An exclusive lock on the world, held while a change is read, made and written.
pub(super) struct WorldLock(Option<File>);

impl Drop for WorldLock {
    fn drop(&mut self) {
        if let Some(f) = &self.0 {
            let _ = f.unlock();
        }
    }
}

/// Adds to a world saved from an older fleet the environments and services
/// the current fleet has and it has not, as `initial` starts them.
fn upgrade(state: &mut SimState, initial: SimState) {
    for (name, env) in initial.envs {
        match state.envs.get_mut(&name) {
            Some(saved) => {
                for (k, s) in env.services {
                    saved.services.entry(k).or_insert(s);
                }
                for (k, b) in env.blue_green {
                    saved.blue_green.entry(k).or_insert(b);
                }
                for (k, r) in env.kube {
                    saved.kube.entry(k).or_insert(r);
                }
            }
            None => {
                state.envs.insert(name, env);
            }
        }
    }
}

impl World {
    pub(super) fn new(path: PathBuf, fleet: String, scenario: Option<String>) -> Self {
        Self {
            path,
            fleet,
            scenario: Mutex::new(scenario),
            seen: Mutex::new(None),
            unsaved: Mutex::new(None),
        }
    }

    /// The world's path.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Locks the world against other processes' changes (best effort: a lock
    /// file that cannot be opened only loses the cross-process exclusion).
    pub(super) fn lock(&self) -> WorldLock {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path.with_extension("lock"))
            .ok()
            .filter(|f| f.lock().is_ok());
        if file.is_none() {
            tracing::warn!(path = %self.path.display(), "demo world cannot be locked");
        }
        WorldLock(file)
    }

    /// Reads the file: `Ok(None)` when there is none.
    fn read(&self) -> Result<Option<WorldFile>, String> {
        let bytes = match crate::paths::read_regular(&self.path, WORLD_LIMIT) {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let file: WorldFile =
            serde_json::from_slice(&bytes).map_err(|e| format!("not a demo world: {e}"))?;
        if file.kind != KIND {
            return Err(format!("not a demo world (kind \"{}\")", file.kind));
        }
        if file.schema != SCHEMA {
            return Err(format!(
                "layout {} where {SCHEMA} is expected (another shipdeck version)",
                file.schema
            ));
        }
        if file.fleet != self.fleet && !CONTINUED.contains(&file.fleet.as_str()) {
            return Err("made from another demo fleet (another shipdeck version)".to_string());
        }
        Ok(Some(file))
    }

    /// Opens the world under its lock: the saved state (returned), or a new one
    /// written from `initial`, and what was found.
    pub(super) fn open(&self, initial: SimState, reset: bool) -> (SimState, Opened) {
        let _lock = self.lock();
        let asked = self.scenario();
        let (state, opened) = match self.read() {
            _ if reset => (initial, Opened::Reset),
            Ok(None) => (initial, Opened::Created),
            Ok(Some(f)) if asked.is_some() && f.scenario != asked => (initial, Opened::Restarted),
            Ok(Some(f)) => {
                *self.scenario.lock().unwrap_or_else(PoisonError::into_inner) = f.scenario;
                let mut state = f.state;
                if f.fleet != self.fleet {
                    // An older demo fleet's world: what was added since joins it.
                    upgrade(&mut state, initial);
                    self.save(&state);
                }
                (state, Opened::Continued)
            }
            Err(e) => (initial, Opened::Replaced(e)),
        };
        if opened == Opened::Continued {
            *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = stamp(&self.path);
        } else {
            self.save(&state);
        }
        (state, opened)
    }

    /// The scenario the world runs (once opened: a continued world keeps its own).
    pub(super) fn scenario(&self) -> Option<String> {
        self.scenario
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces `st` with the file's state when another process changed it.
    pub(super) fn sync_in(&self, st: &mut SimState) {
        let now = stamp(&self.path);
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if now.is_none() || *seen == now {
            return;
        }
        *seen = now;
        match self.read() {
            Ok(Some(f)) => {
                let calls = st.calls;
                *st = f.state;
                st.calls = calls;
                *self.scenario.lock().unwrap_or_else(PoisonError::into_inner) = f.scenario;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "demo world unreadable; keeping this process's state");
            }
        }
    }

    /// Writes `st` as the world (temporary file, fsync, rename).
    pub(super) fn save(&self, st: &SimState) {
        let written = self.write(st);
        if let Err(e) = &written {
            tracing::warn!(path = %self.path.display(), error = %e, "demo world not saved");
        }
        *self.unsaved.lock().unwrap_or_else(PoisonError::into_inner) = written.err();
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = stamp(&self.path);
    }

    /// Why the last write failed, if it did.
    fn unsaved(&self) -> Option<String> {
        self.unsaved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn write(&self, st: &SimState) -> Result<(), String> {
        let scenario = self.scenario();
        let text = serde_json::to_vec(&WorldFileRef {
            kind: KIND,
            schema: SCHEMA,
            fleet: &self.fleet,
            scenario: scenario.as_deref(),
            state: st,
        })
        .map_err(|e| e.to_string())?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let tmp = self
            .path
            .with_extension(format!("tmp-{}", std::process::id()));
        let written = (|| {
            use std::io::Write as _;
            let mut f = File::create(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        written.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("{}: {e}", self.path.display())
        })
    }
}
