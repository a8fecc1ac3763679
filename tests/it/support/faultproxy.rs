//! A TCP proxy on 127.0.0.1 in front of an emulator that can pass traffic,
//! refuse connections, reset them, or accept and never answer. Switching mode
//! also cuts the connections a client keeps pooled, so the next request meets
//! the fault. Stopped when dropped.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::thread;
use std::time::Duration;

/// What the proxy does with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Forward both ways.
    Pass = 0,
    /// Nothing listens: connection refused.
    Refuse = 1,
    /// Accept, then reset (RST) once the request arrived.
    Reset = 2,
    /// Accept and never answer.
    Hang = 3,
}

impl Mode {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Refuse,
            2 => Self::Reset,
            3 => Self::Hang,
            _ => Self::Pass,
        }
    }
}

/// The running proxy.
pub struct FaultProxy {
    pub port: u16,
    mode: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
}

impl FaultProxy {
    /// A proxy forwarding to `upstream` (a base URL such as `http://127.0.0.1:4566`).
    pub fn start(upstream: &str) -> Self {
        let target: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("upstream host:port");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mode = Arc::new(AtomicU8::new(Mode::Pass as u8));
        let stop = Arc::new(AtomicBool::new(false));
        let (mode2, stop2) = (mode.clone(), stop.clone());
        thread::spawn(move || accept_loop(Some(listener), port, target, &mode2, &stop2));
        Self { port, mode, stop }
    }

    /// Base URL to point a client at.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Switches the fault.
    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
        // Give the accept loop a moment to drop or rebind its socket.
        thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn accept_loop(
    mut listener: Option<TcpListener>,
    port: u16,
    target: SocketAddr,
    mode: &Arc<AtomicU8>,
    stop: &Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        let now = Mode::from_u8(mode.load(Ordering::SeqCst));
        if now == Mode::Refuse {
            listener = None;
            thread::sleep(Duration::from_millis(20));
            continue;
        }
        let Some(l) = listener.as_ref() else {
            listener = TcpListener::bind(("127.0.0.1", port)).ok();
            if let Some(l) = &listener {
                let _ = l.set_nonblocking(true);
            } else {
                thread::sleep(Duration::from_millis(20));
            }
            continue;
        };
        let _ = l.set_nonblocking(true);
        match l.accept() {
            Ok((conn, _)) => {
                let _ = conn.set_nonblocking(false);
                let (mode, stop) = (mode.clone(), stop.clone());
                thread::spawn(move || serve(conn, target, now, &mode, &stop));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn serve(
    conn: TcpStream,
    target: SocketAddr,
    at_accept: Mode,
    mode: &Arc<AtomicU8>,
    stop: &Arc<AtomicBool>,
) {
    match at_accept {
        Mode::Reset => {
            // Closing with unread data makes the kernel send RST.
            thread::sleep(Duration::from_millis(50));
            drop(conn);
        }
        Mode::Hang => {
            let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
            let mut buf = [0u8; 4096];
            let mut conn = conn;
            while !stop.load(Ordering::SeqCst)
                && Mode::from_u8(mode.load(Ordering::SeqCst)) == Mode::Hang
            {
                match conn.read(&mut buf) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => return,
                }
            }
        }
        Mode::Pass | Mode::Refuse => {
            let Ok(up) = TcpStream::connect(target) else {
                return;
            };
            let alive = Arc::new(AtomicBool::new(true));
            let (c2, u2) = (conn.try_clone(), up.try_clone());
            let (Ok(c2), Ok(u2)) = (c2, u2) else {
                return;
            };
            let a = {
                let (mode, stop, alive) = (mode.clone(), stop.clone(), alive.clone());
                thread::spawn(move || pump(conn, up, &mode, &stop, &alive))
            };
            pump(u2, c2, mode, stop, &alive);
            let _ = a.join();
        }
    }
}

/// Copies `from` to `to` until either side closes or the mode leaves Pass.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    mode: &Arc<AtomicU8>,
    stop: &Arc<AtomicBool>,
    alive: &Arc<AtomicBool>,
) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = [0u8; 16 * 1024];
    loop {
        if !alive.load(Ordering::SeqCst)
            || stop.load(Ordering::SeqCst)
            || Mode::from_u8(mode.load(Ordering::SeqCst)) != Mode::Pass
        {
            break;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    alive.store(false, Ordering::SeqCst);
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
