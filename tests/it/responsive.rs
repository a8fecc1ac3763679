//! The console's real loop keeps drawing and answering keys while a deploy
//! call hangs: effects run on the executor task, not on the loop.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc;
use ratatui::Terminal;
use ratatui::backend::{Backend, ClearType, TestBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use shipdeck::app::Msg;
use shipdeck::app::keys::{Key, KeyCode, KeyMap};
use shipdeck::clock::{Clock, SystemClock};
use shipdeck::ledger::Ledger;
use shipdeck::platforms::sim::{Fault, FleetFile, SimFleet};
use shipdeck::provider::AnyProvider;
use shipdeck::release::exec::Executor;
use shipdeck::runtime::{Console, run_loop};
use shipdeck::ui::Theme;

/// A TestBackend that keeps the text of every frame it was asked to show.
struct Spy {
    inner: TestBackend,
    frames: Arc<Mutex<Vec<String>>>,
}

impl Backend for Spy {
    type Error = <TestBackend as Backend>::Error;

    fn draw<'a, I>(&mut self, content: I) -> Result<(), Self::Error>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.inner.draw(content)
    }
    fn hide_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.hide_cursor()
    }
    fn show_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.show_cursor()
    }
    fn get_cursor_position(&mut self) -> Result<Position, Self::Error> {
        self.inner.get_cursor_position()
    }
    fn set_cursor_position<P: Into<Position>>(&mut self, p: P) -> Result<(), Self::Error> {
        self.inner.set_cursor_position(p)
    }
    fn clear(&mut self) -> Result<(), Self::Error> {
        self.inner.clear()
    }
    fn clear_region(&mut self, t: ClearType) -> Result<(), Self::Error> {
        self.inner.clear_region(t)
    }
    fn size(&self) -> Result<Size, Self::Error> {
        self.inner.size()
    }
    fn window_size(&mut self) -> Result<WindowSize, Self::Error> {
        self.inner.window_size()
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        let buf = self.inner.buffer();
        let mut text = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                text.push_str(buf[(x, y)].symbol());
            }
            text.push('\n');
        }
        self.frames.lock().unwrap().push(text);
        self.inner.flush()
    }
}

struct Running {
    keys: mpsc::UnboundedSender<std::io::Result<Msg>>,
    frames: Arc<Mutex<Vec<String>>>,
    ledger: Ledger,
    fleet: SimFleet,
    _dir: tempfile::TempDir,
}

impl Running {
    fn key(&self, k: Key) {
        self.keys.unbounded_send(Ok(Msg::Key(k))).unwrap();
    }

    fn frame_count(&self) -> usize {
        self.frames.lock().unwrap().len()
    }

    /// Waits (on tokio's clock) until a frame drawn after `from` shows `text`.
    async fn wait_frame(&self, text: &str, from: usize) -> usize {
        for _ in 0..20_000 {
            {
                let frames = self.frames.lock().unwrap();
                if let Some(i) = frames.iter().skip(from).position(|f| f.contains(text)) {
                    return from + i;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let last = self
            .frames
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default();
        panic!("no frame showed {text:?}; last frame:\n{last}");
    }

    fn kinds(&self) -> Vec<String> {
        self.ledger
            .read()
            .unwrap()
            .iter()
            .map(|r| r.kind.as_str().to_string())
            .collect()
    }
}

fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let cfg = shipdeck::config::load(
        std::path::Path::new("tests/configs/good/release.toml"),
        shipdeck::config::ConfigOrigin::Flag,
    )
    .unwrap();
    let fleet_file = FleetFile::load(std::path::Path::new(
        "tests/configs/good/release-fleet.toml",
    ))
    .unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let fleet = SimFleet::new(&fleet_file, 5, clock.clone());
    // RegisterTaskDefinition/UpdateService hang for 20 s.
    fleet.inject(Fault::SlowDeploys {
        env: "staging".into(),
        delay: Duration::from_secs(20),
    });
    let ledger = Ledger::new(dir.path().join("ledger.jsonl"));
    let exec = Executor::new(
        AnyProvider::Sim(fleet.clone()),
        cfg.environments.clone(),
        ledger.clone(),
        dir.path().join("locks"),
        "alice".to_string(),
        clock,
    );
    let frames = Arc::new(Mutex::new(Vec::new()));
    let backend = Spy {
        inner: TestBackend::new(120, 40),
        frames: frames.clone(),
    };
    let (keys, events) = mpsc::unbounded();
    let console = Console {
        cfg,
        provider: AnyProvider::Sim(fleet.clone()),
        exec,
        keymap: KeyMap::default(),
        operator: "alice".into(),
        theme: Theme::new(shipdeck::config::Theme::Dark, true),
        secrets: shipdeck::cli::secrets_for_run(),
        notice: None,
    };
    tokio::spawn(async move {
        let mut terminal = Terminal::new(backend).unwrap();
        run_loop(&mut terminal, events, console).await.unwrap();
    });
    Running {
        keys,
        frames,
        ledger,
        fleet,
        _dir: dir,
    }
}

#[tokio::test(start_paused = true)]
async fn keys_are_answered_while_a_deploy_call_hangs() {
    let r = start();
    r.wait_frame("✓ read", 0).await;
    // api @ staging: promote dev's digest (staging's gate: one checklist item).
    r.key(Key::ch('l'));
    r.key(Key::ch('p'));
    let f = r.wait_frame("Promote api · dev → staging", 0).await;
    r.key(Key::ch(' '));
    r.key(Key::ch('g'));
    r.wait_frame("Press enter to deploy", f).await;
    r.key(Key::plain(KeyCode::Enter));
    let f = r.wait_frame("Deploy api · staging", f).await;
    // The deploy call now hangs on the executor task. The loop still answers:
    // hide the watch, open help, and see it drawn.
    while !r.kinds().contains(&"deploy_issued".to_string()) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = r.frame_count();
    r.key(Key::plain(KeyCode::Esc));
    r.key(Key::ch('?'));
    let help = r.wait_frame("Keys in the board", f).await;
    assert!(help >= before, "drawn after the key");
    let frames = r.frames.lock().unwrap().clone();
    assert!(
        frames[help].contains("deploying api staging: issuing"),
        "the help was drawn while the deploy call was still pending:\n{}",
        frames[help]
    );
    assert!(
        r.fleet.calls() > 0,
        "the fleet was read; its deploy is the one call still out"
    );
    // When the call returns, the deploy is accepted and recorded once.
    r.key(Key::plain(KeyCode::Esc));
    r.key(Key::ch('w'));
    r.wait_frame("deploy accepted", help).await;
    let kinds = r.kinds();
    assert_eq!(
        kinds.iter().filter(|k| *k == "deploy_issued").count(),
        1,
        "{kinds:?}"
    );
}
