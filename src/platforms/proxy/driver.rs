//! The three proxies: which colour is live, switching it, and the proxy's own
//! counters. Every answer from a proxy is outside text: errors carry it
//! sanitised and bounded.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::proxy::{Colour, ProxyEnv, ProxyKind, ProxyService, authority_of};
use crate::model::text::sanitize;

/// Longest one exchange with a proxy's admin interface may take.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest admin answer read.
const ANSWER_LIMIT: u64 = 1024 * 1024;

/// What the proxy counts for one colour (or for all traffic, where the proxy
/// does not count per server).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Requests answered so far.
    pub requests: u64,
    /// Of which 5xx.
    pub errors_5xx: Option<u64>,
    /// Requests per second now, where the proxy says (HAProxy: over the last second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u64>,
}

/// The proxy's own view of traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Traffic {
    /// Per colour (HAProxy).
    PerColour {
        /// Blue's counters.
        blue: Counters,
        /// Green's counters.
        green: Counters,
    },
    /// All traffic together (nginx `stub_status`).
    Total(Counters),
    /// The proxy does not expose counters (Caddy), or none are configured.
    NotAvailable(String),
    /// Could not be read.
    Unreadable(String),
}

fn short(text: &str) -> String {
    let clean = sanitize(text.trim());
    let mut s: String = clean.chars().take(300).collect();
    if clean.chars().count() > 300 {
        s.push('…');
    }
    s
}

/// The live colour of `svc` as the proxy serves it now.
pub async fn live(
    client: &reqwest::Client,
    proxy: &ProxyEnv,
    svc: &ProxyService,
) -> Result<Colour, String> {
    match &proxy.kind {
        ProxyKind::Haproxy { socket } => {
            let stat = haproxy_command(socket, "show stat").await?;
            let rows = haproxy_servers(&stat, &svc.backend)?;
            let ready: Vec<Colour> = rows
                .iter()
                .filter(|r| !r.status.starts_with("MAINT") && r.weight > 0)
                .map(|r| r.colour)
                .collect();
            one_live(&ready, &format!("HAProxy backend \"{}\"", svc.backend))
        }
        ProxyKind::Caddy { admin } => {
            let ups = caddy_upstreams(client, admin, &svc.backend).await?;
            let colours: Vec<Colour> = ups
                .iter()
                .filter_map(|d| svc.colour_of_authority(d))
                .collect();
            if colours.len() != ups.len() {
                return Err(format!(
                    "Caddy handler \"{}\" proxies to {} — not blue ({}) or green ({})",
                    svc.backend,
                    short(&ups.join(", ")),
                    svc.blue,
                    svc.green
                ));
            }
            one_live(&colours, &format!("Caddy handler \"{}\"", svc.backend))
        }
        ProxyKind::Alb { .. } => {
            let c = super::alb::client(&proxy.kind).await?;
            super::alb::live(&c, svc).await
        }
        ProxyKind::Nginx { .. } => {
            let path = include_path(svc)?;
            let text = tokio::fs::read_to_string(path)
                .await
                .map_err(|e| format!("cannot read the nginx include {}: {e}", path.display()))?;
            let colours = nginx_servers(&text)
                .iter()
                .map(|a| {
                    svc.colour_of_authority(a).ok_or_else(|| {
                        format!(
                            "the nginx include {} names server {} — not blue or green",
                            path.display(),
                            short(a)
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            one_live(&colours, &format!("the nginx include {}", path.display()))
        }
    }
}

fn one_live(colours: &[Colour], what: &str) -> Result<Colour, String> {
    match colours {
        [c] => Ok(*c),
        [] => Err(format!("{what} sends traffic to neither colour")),
        _ => Err(format!(
            "{what} sends traffic to both colours (a switch half done, or by hand)"
        )),
    }
}

/// Switches `svc` to `to` in one step; on error the proxy is as it was.
pub async fn switch(
    client: &reqwest::Client,
    proxy: &ProxyEnv,
    svc: &ProxyService,
    to: Colour,
) -> Result<(), String> {
    match &proxy.kind {
        ProxyKind::Haproxy { socket } => {
            let b = &svc.backend;
            // The new colour takes traffic before the old one stops taking it:
            // no request finds no server.
            let ready = format!("set server {b}/{to} state ready");
            check_haproxy_answer(&haproxy_command(socket, &ready).await?)?;
            let maint = format!("set server {b}/{} state maint", to.other());
            if let Err(e) = haproxy_command(socket, &maint)
                .await
                .and_then(|a| check_haproxy_answer(&a))
            {
                // Put the new colour back out, so the proxy is as it was.
                let undo = format!("set server {b}/{to} state maint");
                let undone = haproxy_command(socket, &undo).await;
                return Err(match undone {
                    Ok(_) => format!("{e} (the switch was undone)"),
                    Err(u) => format!("{e}; undoing it failed too: {u}"),
                });
            }
            Ok(())
        }
        ProxyKind::Caddy { admin } => {
            let dial = authority_of(svc.address(to))
                .ok_or_else(|| format!("the {to} address {} has no host:port", svc.address(to)))?;
            let url = caddy_url(admin, &svc.backend);
            let body = serde_json::json!([{ "dial": dial }]).to_string();
            let resp = client
                .patch(&url)
                .header("content-type", "application/json")
                .body(body)
                .timeout(ADMIN_TIMEOUT)
                .send()
                .await
                .map_err(|e| format!("Caddy's admin API did not answer: {}", e.without_url()))?;
            let status = resp.status();
            if !status.is_success() {
                let text = resp.text().await.unwrap_or_default();
                return Err(format!(
                    "Caddy refused the new upstream ({status}): {}",
                    short(&text)
                ));
            }
            Ok(())
        }
        ProxyKind::Alb { .. } => {
            let c = super::alb::client(&proxy.kind).await?;
            super::alb::switch(&c, svc, to).await
        }
        ProxyKind::Nginx { command, .. } => nginx_switch(command, svc, to).await,
    }
}

/// The proxy's counters for `svc`.
pub async fn traffic(client: &reqwest::Client, proxy: &ProxyEnv, svc: &ProxyService) -> Traffic {
    match &proxy.kind {
        ProxyKind::Haproxy { socket } => {
            let rows = match haproxy_command(socket, "show stat").await {
                Ok(stat) => haproxy_servers(&stat, &svc.backend),
                Err(e) => Err(e),
            };
            match rows {
                Ok(rows) => {
                    let of = |c: Colour| {
                        rows.iter()
                            .find(|r| r.colour == c)
                            .map(|r| r.counters.clone())
                            .unwrap_or_default()
                    };
                    Traffic::PerColour {
                        blue: of(Colour::Blue),
                        green: of(Colour::Green),
                    }
                }
                Err(e) => Traffic::Unreadable(e),
            }
        }
        ProxyKind::Caddy { .. } => Traffic::NotAvailable(
            "Caddy's admin API does not count requests per upstream".to_string(),
        ),
        ProxyKind::Alb { .. } => Traffic::NotAvailable(
            "per-target-group CloudWatch metrics are not read for ALB colours".to_string(),
        ),
        ProxyKind::Nginx { stub_status, .. } => match stub_status {
            None => Traffic::NotAvailable("no stub_status configured".to_string()),
            Some(url) => match stub(client, url).await {
                Ok(c) => Traffic::Total(c),
                Err(e) => Traffic::Unreadable(e),
            },
        },
    }
}

// --- HAProxy -------------------------------------------------------------

/// One exchange with HAProxy's runtime API (`host:port` or a unix socket path).
pub async fn haproxy_command(socket: &str, command: &str) -> Result<String, String> {
    let run = async {
        let mut out = Vec::new();
        let line = format!("{command}\n");
        if socket.starts_with('/') {
            let mut s = tokio::net::UnixStream::connect(socket).await?;
            s.write_all(line.as_bytes()).await?;
            s.take(ANSWER_LIMIT).read_to_end(&mut out).await?;
        } else {
            let mut s = tokio::net::TcpStream::connect(socket).await?;
            s.write_all(line.as_bytes()).await?;
            s.take(ANSWER_LIMIT).read_to_end(&mut out).await?;
        }
        Ok::<_, std::io::Error>(out)
    };
    match tokio::time::timeout(ADMIN_TIMEOUT, run).await {
        Ok(Ok(out)) => Ok(String::from_utf8_lossy(&out).into_owned()),
        Ok(Err(e)) => Err(format!(
            "HAProxy's runtime API at {} failed: {e}",
            short(socket)
        )),
        Err(_) => Err(format!(
            "HAProxy's runtime API at {} did not answer within {}s",
            short(socket),
            ADMIN_TIMEOUT.as_secs()
        )),
    }
}

fn check_haproxy_answer(answer: &str) -> Result<(), String> {
    let a = answer.trim();
    if a.is_empty() {
        Ok(())
    } else {
        Err(format!("HAProxy refused: {}", short(a)))
    }
}

#[derive(Debug)]
struct ServerRow {
    colour: Colour,
    status: String,
    weight: u64,
    counters: Counters,
}

/// The blue and green server rows of `backend` in `show stat` CSV.
fn haproxy_servers(stat: &str, backend: &str) -> Result<Vec<ServerRow>, String> {
    let mut lines = stat.lines();
    let header = lines
        .next()
        .and_then(|h| h.strip_prefix("# "))
        .ok_or_else(|| {
            format!(
                "HAProxy answered something that is not stats: {}",
                short(stat)
            )
        })?;
    let cols: Vec<&str> = header.split(',').collect();
    let col = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .ok_or_else(|| format!("HAProxy's stats have no \"{name}\" column"))
    };
    let (px, sv, status, weight, total, e5) = (
        col("pxname")?,
        col("svname")?,
        col("status")?,
        col("weight")?,
        col("stot")?,
        col("hrsp_5xx")?,
    );
    let rate = col("rate").ok();
    let mut rows = Vec::new();
    let mut seen_backend = false;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        if f.get(px) != Some(&backend) {
            continue;
        }
        seen_backend = true;
        let Some(colour) = f.get(sv).and_then(|s| Colour::parse(s)) else {
            continue;
        };
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
        rows.push(ServerRow {
            colour,
            status: f.get(status).copied().unwrap_or_default().to_string(),
            weight: num(weight).unwrap_or(0),
            counters: Counters {
                requests: num(total).unwrap_or(0),
                errors_5xx: num(e5),
                rate: rate.and_then(num),
            },
        });
    }
    if !seen_backend {
        return Err(format!("HAProxy has no backend \"{}\"", short(backend)));
    }
    for c in Colour::BOTH {
        if !rows.iter().any(|r| r.colour == c) {
            return Err(format!(
                "HAProxy backend \"{}\" has no server named \"{c}\"",
                short(backend)
            ));
        }
    }
    Ok(rows)
}

// --- Caddy ---------------------------------------------------------------

fn caddy_url(admin: &str, id: &str) -> String {
    format!("{}/id/{id}/upstreams", admin.trim_end_matches('/'))
}

async fn caddy_upstreams(
    client: &reqwest::Client,
    admin: &str,
    id: &str,
) -> Result<Vec<String>, String> {
    let resp = client
        .get(caddy_url(admin, id))
        .timeout(ADMIN_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("Caddy's admin API did not answer: {}", e.without_url()))?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| {
        format!(
            "Caddy's admin API answer could not be read: {}",
            e.without_url()
        )
    })?;
    if !status.is_success() {
        return Err(format!(
            "Caddy has no handler \"{}\" with upstreams ({status}): {}",
            short(id),
            short(&body)
        ));
    }
    let v: serde_json::Value = serde_json::from_str(&body)
        .map_err(|_| format!("Caddy's upstreams are not JSON: {}", short(&body)))?;
    let list = v
        .as_array()
        .ok_or_else(|| format!("Caddy's upstreams are not a list: {}", short(&body)))?;
    Ok(list
        .iter()
        .map(|u| {
            u.get("dial")
                .and_then(|d| d.as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect())
}

// --- nginx ---------------------------------------------------------------

fn include_path(svc: &ProxyService) -> Result<&std::path::Path, String> {
    svc.include
        .as_deref()
        .ok_or_else(|| "no nginx include is configured for this service".to_string())
}

/// The `server host:port` entries of an include, in order.
fn nginx_servers(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter_map(|l| l.strip_prefix("server "))
        .filter_map(|rest| rest.split([';', ' ']).find(|w| !w.is_empty()))
        .map(str::to_string)
        .collect()
}

/// The include shipdeck writes for a colour.
pub fn nginx_include(svc: &ProxyService, c: Colour) -> Result<String, String> {
    let a = authority_of(svc.address(c))
        .ok_or_else(|| format!("the {c} address {} has no host:port", svc.address(c)))?;
    Ok(format!(
        "# Written by shipdeck: the live colour of \"{}\" is {c}.\nserver {a};\n",
        svc.backend
    ))
}

async fn run_nginx(command: &[String], args: &[&str]) -> Result<(), String> {
    let (prog, lead) = command
        .split_first()
        .ok_or_else(|| "no nginx command configured".to_string())?;
    // Its own process group, stopped whole at the deadline (a wrapper script's
    // children included).
    let (status, stderr) = super::runbook::command::output_within(
        tokio::process::Command::new(prog).args(lead).args(args),
        Duration::from_secs(30),
    )
    .await
    .map_err(|e| format!("cannot run {}: {e}", short(prog)))?
    .ok_or_else(|| format!("`nginx {}` did not finish within 30s", args.join(" ")))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`nginx {}` failed ({status}): {}",
            args.join(" "),
            short(&stderr)
        ))
    }
}

/// Writes `contents` to `path` atomically (a temporary file beside it, synced, renamed).
async fn write_atomically(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| std::path::Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.shipdeck-tmp"));
    let mut f = tokio::fs::File::create(&tmp).await?;
    f.write_all(contents.as_bytes()).await?;
    f.sync_all().await?;
    drop(f);
    tokio::fs::rename(&tmp, path).await
}

async fn nginx_switch(command: &[String], svc: &ProxyService, to: Colour) -> Result<(), String> {
    let path = include_path(svc)?;
    let previous = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| format!("cannot read the nginx include {}: {e}", path.display()))?;
    let next = nginx_include(svc, to)?;
    write_atomically(path, &next).await.map_err(|e| {
        format!(
            "cannot write the nginx include {}: {e}; nothing was reloaded",
            path.display()
        )
    })?;
    let restore = |why: String| async move {
        match write_atomically(path, &previous).await {
            Ok(()) => {
                format!("{why}; the previous include was restored and nginx was not reloaded")
            }
            Err(e) => format!(
                "{why}; restoring the previous include {} failed too: {e}",
                path.display()
            ),
        }
    };
    if let Err(e) = run_nginx(command, &["-t"]).await {
        return Err(restore(e).await);
    }
    if let Err(e) = run_nginx(command, &["-s", "reload"]).await {
        return Err(restore(e).await);
    }
    Ok(())
}

async fn stub(client: &reqwest::Client, url: &str) -> Result<Counters, String> {
    let text = client
        .get(url)
        .timeout(ADMIN_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("nginx stub_status did not answer: {}", e.without_url()))?
        .text()
        .await
        .map_err(|e| format!("nginx stub_status could not be read: {}", e.without_url()))?;
    // "server accepts handled requests\n 3 3 7\n": the third number.
    let requests = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("server accepts"))
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("nginx stub_status answered: {}", short(&text)))?;
    Ok(Counters {
        requests,
        errors_5xx: None,
        rate: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_stats_name_the_live_server() {
        let stat = "# pxname,svname,status,weight,stot,hrsp_5xx\napi,BACKEND,UP,1,10,0\napi,blue,no check,1,7,1\napi,green,MAINT,1,3,0\n";
        let rows = haproxy_servers(stat, "api").unwrap();
        assert_eq!(rows.len(), 2);
        let live: Vec<Colour> = rows
            .iter()
            .filter(|r| !r.status.starts_with("MAINT"))
            .map(|r| r.colour)
            .collect();
        assert_eq!(live, [Colour::Blue]);
        assert_eq!(rows[0].counters.errors_5xx, Some(1));
        assert!(
            haproxy_servers(stat, "web")
                .unwrap_err()
                .contains("no backend")
        );
        assert!(haproxy_servers("Unknown command\n", "api").is_err());
    }

    #[test]
    fn nginx_include_round_trips() {
        let svc = ProxyService {
            backend: "api".into(),
            include: None,
            alb: None,
            blue: "http://127.0.0.1:5001".into(),
            green: "http://127.0.0.1:5002".into(),
            status_path: "/s".into(),
            digest_pointer: "/d".into(),
            deploy: vec!["x".into()],
            deploy_timeout: Duration::from_secs(1),
            stability_window: Duration::from_secs(1),
            ready_timeout: Duration::from_secs(1),
            keep_warm: Duration::from_secs(1),
            smoke: vec![],
        };
        let text = nginx_include(&svc, Colour::Green).unwrap();
        assert_eq!(nginx_servers(&text), ["127.0.0.1:5002"]);
        assert_eq!(
            svc.colour_of_authority("127.0.0.1:5002"),
            Some(Colour::Green)
        );
        assert_eq!(
            nginx_servers("server 10.0.0.1:80 weight=3;  # x\n"),
            ["10.0.0.1:80"]
        );
    }
}
