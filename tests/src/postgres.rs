//! The one gate every PostgreSQL test goes through: [`test_url`].
//!
//! - `DESKHAND_TEST_POSTGRES_URL` set and the server accepting connections: the URL.
//! - Under CI (`CI=true`, which `.ci/run` exports): a panic, so the test fails instead of
//!   passing without having run. CI installs and starts PostgreSQL; a missing server there is a
//!   broken pipeline, not a reason to skip.
//! - Elsewhere: `None`, and a line `SKIPPED (PostgreSQL): <test>: <reason>` written straight
//!   to the process's stderr. libtest captures only what the `print!` family writes, so this
//!   line shows in `cargo test` output next to the test's `ok`, without `--nocapture`.
//!
//! The mcp-server crate includes this file by path (it does not depend on this crate).

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The variable naming the PostgreSQL test database.
pub const URL_VAR: &str = "DESKHAND_TEST_POSTGRES_URL";

/// The PostgreSQL URL to test against, or `None` (with the skip reported) outside CI.
pub fn test_url() -> Option<String> {
    let reason = match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => match reachable(&url) {
            Ok(()) => return Some(url),
            Err(why) => format!("{URL_VAR} is set, but {why}"),
        },
        _ => format!("{URL_VAR} is not set"),
    };
    let test = std::thread::current()
        .name()
        .unwrap_or("a PostgreSQL test")
        .to_owned();
    if under_ci() {
        panic!("{test}: {reason}; CI must run every PostgreSQL test (see .ci/run)");
    }
    // Straight to the file descriptor: libtest would swallow an `eprintln!`.
    let _ = writeln!(std::io::stderr(), "SKIPPED (PostgreSQL): {test}: {reason}");
    None
}

/// `CI=true` (or `1`), as CI services and `.ci/run` set it.
fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| matches!(v.trim(), "true" | "1" | "TRUE" | "True"))
}

/// Whether the server in `url` accepts a TCP connection within a few seconds. A URL whose host
/// cannot be read (a Unix socket, say) is left to the test's own connection attempt.
fn reachable(url: &str) -> Result<(), String> {
    let Some((host, port)) = host_port(url) else {
        return Ok(());
    };
    let addrs: Vec<_> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("{host}:{port} does not resolve ({e})"))?
        .collect();
    let mut last = format!("{host}:{port} has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("nothing accepts connections on {addr} ({e})"),
        }
    }
    Err(last)
}

/// Host and port of `postgres://[user[:password]@]host[:port][/db][?params]`.
fn host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if hostport.is_empty() {
        return None;
    }
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => 5432,
    };
    Some((host.to_owned(), port))
}
