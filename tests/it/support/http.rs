//! A tiny HTTP/1.1 server on 127.0.0.1 (free port) with canned behaviours per path.
//! Stopped when dropped.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

/// Every kind of terminal escape the corpus tests put into outside text: OSC
/// title, OSC 52 clipboard, CSI clear, CSI cursor move, colour, bare ESC, C1
/// CSI and OSC, NUL, BEL, CR and a bidi override.
pub const CORPUS: &str = "\u{1b}]0;pwned\u{7}\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}[2J\u{1b}[10;10H\u{1b}[31m\u{1b}\u{9b}2J\u{9d}0;pwned\u{9c}\u{0}\u{7}\r\u{202e}";

/// The running server.
pub struct Server {
    pub port: u16,
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Server {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flaps = Arc::new(AtomicUsize::new(0));
        let stop2 = stop.clone();
        let handle = thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let flaps = flaps.clone();
                thread::spawn(move || {
                    let _ = handle(conn, &flaps);
                });
            }
        });
        Self {
            port,
            stop,
            handle: Some(handle),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Unblock accept().
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn respond(conn: &mut TcpStream, status: &str, extra: &str, body: &[u8]) -> std::io::Result<()> {
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    )?;
    conn.write_all(body)?;
    conn.flush()
}

fn handle(mut conn: TcpStream, flaps: &AtomicUsize) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let mut token = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("x-token:") {
            let _ = v;
            token = line[8..].trim().to_string();
        }
    }
    match path.split('?').next().unwrap_or("/") {
        "/ok" => respond(&mut conn, "200 OK", "", b"ok"),
        "/wrong" => respond(&mut conn, "503 Service Unavailable", "", b"upstream down"),
        "/slow" => {
            thread::sleep(Duration::from_secs(3));
            respond(&mut conn, "200 OK", "", b"late")
        }
        "/redirect" => respond(&mut conn, "302 Found", "Location: /ok\r\n", b""),
        "/big" => {
            // 20 MiB; the client must stop reading early.
            let size = 20 * 1024 * 1024;
            write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
            )?;
            let chunk = vec![b'x'; 64 * 1024];
            for _ in 0..(size / chunk.len()) {
                conn.write_all(&chunk)?;
            }
            Ok(())
        }
        "/binary" => respond(
            &mut conn,
            "500 Internal Server Error",
            "",
            &[0, 159, 146, 150, 0xff, 0xfe, 7, 27, 0],
        ),
        "/escape" => respond(
            &mut conn,
            "500 Internal Server Error",
            "",
            b"\x1b[2J\x1b]0;pwned\x07evil\x1b[31m body",
        ),
        "/corpus" => respond(
            &mut conn,
            "500 Internal Server Error",
            "",
            CORPUS.as_bytes(),
        ),
        "/echo-token" => respond(
            &mut conn,
            "500 Internal Server Error",
            "",
            format!("token was {token}").as_bytes(),
        ),
        "/flap" => {
            let n = flaps.fetch_add(1, Ordering::SeqCst);
            if n % 3 == 2 {
                respond(&mut conn, "503 Service Unavailable", "", b"flap")
            } else {
                respond(&mut conn, "200 OK", "", b"ok")
            }
        }
        "/home" => respond(&mut conn, "200 OK", "", b"<h1>Welcome to the shop</h1>"),
        _ => respond(&mut conn, "404 Not Found", "", b"no such path"),
    }
}
