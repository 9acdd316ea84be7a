//! Who may use the console: sign-in with an admin API token, a session cookie, a CSRF token per
//! session, and the hosts it answers to.
//!
//! Sessions live in memory: a restart signs everyone out, which is the safe direction. The cookie
//! is `HttpOnly` (no script reads it) and `SameSite=Strict` (no other site's page sends it); every
//! state-changing request also carries the session's CSRF token in its form, compared in constant
//! time. The `Host` header must name a loopback address or one of `--allowed-hosts`, so a DNS
//! rebinding page cannot talk to a console on localhost.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header::{COOKIE, HOST};
use zoho_desk_mcp::registry::token;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "deskhand_session";

/// How long a session lasts without use.
const IDLE: Duration = Duration::from_secs(8 * 60 * 60);

#[derive(Debug, Clone)]
pub struct Session {
    pub csrf: String,
    /// The hash of the API token it signed in with: the guard asks the registry on every request
    /// whether that token is still live, so revoking it signs the session out.
    pub token_hash: String,
    pub flash: Vec<String>,
    last_used: Instant,
}

/// The signed-in sessions, by the hash of their cookie value (a memory dump shows no live cookie).
#[derive(Debug, Default)]
pub struct Sessions {
    by_hash: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Opens a session for the API token `token` signed in with; returns the cookie value.
    pub fn open(&self, token: &str) -> Option<String> {
        let id = token::generate("dhs_").ok()?;
        let csrf = token::generate("csrf_").ok()?;
        let mut map = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, s| s.last_used.elapsed() < IDLE);
        map.insert(
            token::hash(&id),
            Session {
                csrf,
                token_hash: token::hash(token),
                flash: Vec::new(),
                last_used: Instant::now(),
            },
        );
        Some(id)
    }

    /// The session of a request's cookie, if it is live (and marks it used).
    pub fn get(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = cookie(headers, COOKIE_NAME)?;
        let key = token::hash(&id);
        let mut map = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
        let session = map.get_mut(&key)?;
        if session.last_used.elapsed() >= IDLE {
            map.remove(&key);
            return None;
        }
        session.last_used = Instant::now();
        Some((key, session.clone()))
    }

    /// Adds a message shown once on the next page.
    pub fn flash(&self, key: &str, messages: Vec<String>) {
        let mut map = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = map.get_mut(key) {
            s.flash.extend(messages);
        }
    }

    /// Takes the session's pending messages.
    pub fn take_flash(&self, key: &str) -> Vec<String> {
        let mut map = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
        map.get_mut(key)
            .map(|s| std::mem::take(&mut s.flash))
            .unwrap_or_default()
    }

    pub fn close(&self, key: &str) {
        let mut map = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
    }
}

/// The `Set-Cookie` value that opens a session.
pub fn session_cookie(id: &str) -> String {
    format!("{COOKIE_NAME}={id}; HttpOnly; SameSite=Strict; Path=/")
}

/// The `Set-Cookie` value that ends one.
pub fn expired_cookie() -> String {
    format!("{COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// Equality that takes as long whatever the inputs share, for secrets.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the request's `Host` names this console: a loopback name, or one of `allowed`.
pub fn host_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    let name = name.to_ascii_lowercase();
    matches!(name.as_str(), "127.0.0.1" | "localhost" | "::1")
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(&name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_host(host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            HOST,
            HeaderValue::from_str(host).unwrap_or(HeaderValue::from_static("x")),
        );
        h
    }

    #[test]
    fn only_loopback_and_allowed_hosts_are_answered() {
        assert!(host_allowed(&with_host("127.0.0.1:8080"), &[]));
        assert!(host_allowed(&with_host("localhost"), &[]));
        assert!(host_allowed(&with_host("[::1]:9"), &[]));
        assert!(!host_allowed(&with_host("evil.example:8080"), &[]));
        assert!(host_allowed(
            &with_host("desk.example:443"),
            &["desk.example".to_owned()]
        ));
        assert!(!host_allowed(&HeaderMap::new(), &[]));
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
