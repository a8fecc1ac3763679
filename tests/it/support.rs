//! Helpers the suites share: the in-process console harness and its screen,
//! the AWS emulators and their fixtures, tmux, real proxies, an HTTP server,
//! the binary in team mode and the demo's canary started through it.

pub mod codeproxy;
pub mod console;
pub mod cosign;
pub mod demo_canary;
pub mod emulators;
pub mod faultproxy;
pub mod fixture;
pub mod fly;
pub mod http;
pub mod kube;
pub mod proxies;
pub mod registry;
pub mod screen;
pub mod stepping;
pub mod team;
pub mod tmux;

/// A port free on 127.0.0.1 now, for a server a test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A command run to its end that must succeed: its output, or the test
/// fails with what it wrote to stderr.
pub trait Succeed {
    fn succeed(&mut self) -> std::process::Output;
}

impl Succeed for std::process::Command {
    fn succeed(&mut self) -> std::process::Output {
        let out = self.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}
