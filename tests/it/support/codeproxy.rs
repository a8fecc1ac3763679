//! A stand-in for Lambda's package downloads, in front of moto: moto's
//! `Code.Location` is a made-up S3 URL nobody can download, and moto shares
//! one `Code` between all versions of a function. So this HTTP/1.1 proxy on
//! 127.0.0.1 forwards every request to moto unchanged, rewrites `Code.Location`
//! in the answers to `GET /2015-03-31/functions/NAME?Qualifier=N` to a URL
//! on itself, and there serves the bytes the test gave for NAME's version N
//! (404 for any other). One request per connection. Stopped when dropped.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

#[derive(Default)]
struct Shared {
    /// What a version's Location serves: (function, version) → bytes.
    packages: HashMap<(String, String), Vec<u8>>,
    /// Every request, as `METHOD path`.
    seen: Vec<String>,
}

/// The running stand-in.
pub struct CodeProxy {
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
}

impl CodeProxy {
    /// A stand-in forwarding to `upstream` (moto's base URL, `http://127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> Self {
        let target = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (shared2, stop2) = (shared.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (shared, target) = (shared2.clone(), target.clone());
                thread::spawn(move || {
                    let _ = serve(conn, &target, port, &shared);
                });
            }
        });
        Self { port, shared, stop }
    }

    /// The base URL to configure as Lambda's endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What `function`'s `version` downloads from now on.
    pub fn serve(&self, function: &str, version: u32, bytes: Vec<u8>) {
        self.shared
            .lock()
            .unwrap()
            .packages
            .insert((function.to_string(), version.to_string()), bytes);
    }

    /// Every request so far, as `METHOD path`.
    pub fn seen(&self) -> Vec<String> {
        self.shared.lock().unwrap().seen.clone()
    }
}

impl Drop for CodeProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Unblock accept().
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Headers about the message's framing, written anew by [`Message::write`].
const FRAMING: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "expect",
];

/// A request or a response: its first line, its headers, its body.
struct Message {
    first: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Written with its body's length, and the connection closed after it.
    fn write(&self, to: &mut impl Write) -> std::io::Result<()> {
        let mut head = format!("{}\r\n", self.first);
        for (k, v) in &self.headers {
            if !FRAMING.contains(&k.to_ascii_lowercase().as_str()) {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        to.write_all(head.as_bytes())?;
        to.write_all(&self.body)?;
        to.flush()
    }
}

/// Reads a message's head, then its body (by length, chunked, or to the end
/// for a response that says neither).
fn read(r: &mut impl BufRead, to_end: bool) -> std::io::Result<Message> {
    let mut m = read_head(r)?;
    read_body(r, &mut m, to_end)?;
    Ok(m)
}

fn read_head(r: &mut impl BufRead) -> std::io::Result<Message> {
    let mut first = String::new();
    r.read_line(&mut first)?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok(Message {
        first: first.trim_end().to_string(),
        headers,
        body: Vec::new(),
    })
}

fn read_body(r: &mut impl BufRead, m: &mut Message, to_end: bool) -> std::io::Result<()> {
    if let Some(n) = m.header("content-length") {
        let mut body = vec![0; n.parse().unwrap_or(0)];
        r.read_exact(&mut body)?;
        m.body = body;
    } else if m
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            m.body.extend_from_slice(&chunk[..n]);
        }
    } else if to_end {
        r.read_to_end(&mut m.body)?;
    }
    Ok(())
}

/// `(function, version)` of `GetFunction` with a qualifier, from its path.
fn get_function(path: &str) -> Option<(String, String)> {
    let (path, query) = path.split_once('?')?;
    let name = path.strip_prefix("/2015-03-31/functions/")?;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    let version = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("Qualifier="))?;
    Some((name.to_string(), version.to_string()))
}

fn serve(conn: TcpStream, target: &str, port: u16, shared: &Mutex<Shared>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut conn = conn;
    let mut request = read_head(&mut reader)?;
    if request
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    read_body(&mut reader, &mut request, false)?;
    let mut parts = request.first.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("/").to_string(),
    );
    shared.lock().unwrap().seen.push(format!("{method} {path}"));
    if let Some(rest) = path.strip_prefix("/package/") {
        let (name, version) = rest.split_once('/').unwrap_or((rest, ""));
        let bytes = shared
            .lock()
            .unwrap()
            .packages
            .get(&(name.to_string(), version.to_string()))
            .cloned();
        let answer = match bytes {
            Some(body) => Message {
                first: "HTTP/1.1 200 OK".into(),
                headers: vec![("Content-Type".into(), "application/zip".into())],
                body,
            },
            None => Message {
                first: "HTTP/1.1 404 Not Found".into(),
                headers: Vec::new(),
                body: b"no such package".to_vec(),
            },
        };
        return answer.write(&mut conn);
    }
    let mut up = TcpStream::connect(target)?;
    up.set_read_timeout(Some(Duration::from_mins(1)))?;
    request.write(&mut up)?;
    let mut response = read(&mut BufReader::new(up), true)?;
    let ok = response.first.split_whitespace().nth(1) == Some("200");
    if let (true, "GET", Some((name, version))) = (ok, method.as_str(), get_function(&path))
        && let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&response.body)
        && let Some(code) = v.get_mut("Code").and_then(|c| c.as_object_mut())
    {
        code.insert(
            "Location".into(),
            format!("http://127.0.0.1:{port}/package/{name}/{version}").into(),
        );
        response.body = serde_json::to_vec(&v).unwrap();
    }
    response.write(&mut conn)
}
