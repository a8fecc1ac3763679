//! Drives the real binary in a private tmux server: send keys, poll the screen.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Servers started by this process. Every suite runs in this one process:
/// the pid alone does not tell two servers apart, a count does (another run
/// has another pid).
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// A tmux server on its own socket, killed on drop.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts a 120×40 session running a plain shell; `None` (with the reason
    /// printed) when tmux is not installed.
    pub fn start(name: &str, width: u16, height: u16) -> Option<Self> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("SKIPPED: tmux is not installed (scripts/test installs it)");
            return None;
        }
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let socket = format!("shipdeck-test-{name}-{}-{n}", std::process::id());
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "main",
            ])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg("env PS1='PROMPT$ ' TERM=xterm-256color bash --norc --noprofile")
            .status()
            .expect("run tmux");
        assert!(status.success(), "tmux new-session failed");
        Some(Self { socket })
    }

    /// The server's socket name, for `tmux -L` commands this type lacks.
    /// Resizes the window to `cols` × `rows`, as a person resizing their terminal.
    pub fn resize(&self, cols: u16, rows: u16) {
        let status = std::process::Command::new("tmux")
            .args(["-L", self.socket(), "resize-window", "-t", "main"])
            .args(["-x", &cols.to_string(), "-y", &rows.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "tmux resize-window to {cols}×{rows}");
    }

    pub fn socket(&self) -> &str {
        &self.socket
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    /// Types keys (tmux key names, or literal text).
    pub fn send(&self, keys: &[&str]) {
        let status = self
            .tmux()
            .args(["send-keys", "-t", "main"])
            .args(keys)
            .status()
            .expect("send-keys");
        assert!(status.success());
    }

    /// Types literal text followed by Enter.
    pub fn run(&self, line: &str) {
        let status = self
            .tmux()
            .args(["send-keys", "-t", "main", "-l", line])
            .status()
            .expect("send-keys");
        assert!(status.success());
        self.send(&["Enter"]);
    }

    /// The visible screen.
    pub fn screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", "main"])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Whether the pane shows the alternate screen (a TUI that did not restore).
    pub fn alternate_on(&self) -> bool {
        let out = self
            .tmux()
            .args(["display-message", "-p", "-t", "main", "#{alternate_on}"])
            .output()
            .expect("display-message");
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    /// Whether the pane shows its cursor (a TUI that did not restore hides it).
    pub fn cursor_visible(&self) -> bool {
        let out = self
            .tmux()
            .args(["display-message", "-p", "-t", "main", "#{cursor_flag}"])
            .output()
            .expect("display-message");
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    /// Polls until `text` is on screen or the deadline passes (then panics with the screen).
    pub fn wait_for(&self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "\"{text}\" did not appear within {within:?}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Tmux {
    /// Polls until `text` is gone from the screen or the deadline passes.
    pub fn wait_gone(&self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.screen();
            // A capture can land while the terminal is half redrawn (the
            // top of the old overlay already replaced, its bottom not yet);
            // only a screen that reads the same twice counts.
            if !screen.contains(text) {
                std::thread::sleep(Duration::from_millis(150));
                if self.screen() == screen {
                    return screen;
                }
                continue;
            }
            assert!(
                Instant::now() < deadline,
                "\"{text}\" still on screen after {within:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status();
    }
}
