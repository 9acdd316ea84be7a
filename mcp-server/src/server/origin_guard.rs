//! `Host` and `Origin` checks for every route of the HTTP server.
//!
//! A browser page can make requests to a server on the user's machine; DNS rebinding lets it
//! claim any host name. The MCP transport specification therefore requires servers to validate
//! `Origin`, and a `Host` allow-list keeps a rebound name from reaching `/admin` or `/healthz`.
//! Requests without `Origin` (every non-browser client) pass the Origin check.

use url::Url;

const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The allow-lists, normalised once.
#[derive(Debug, Clone, Default)]
pub struct OriginGuard {
    /// Lower-case `host` (any port) or `host:port` entries, besides the loopback names.
    hosts: Vec<String>,
    /// Serialised origins (`scheme://host[:port]`, default ports omitted).
    origins: Vec<String>,
    /// Loopback origins are accepted when the server only listens on loopback.
    loopback_bound: bool,
}

impl OriginGuard {
    pub fn new(hosts: &[String], origins: &[String], loopback_bound: bool) -> Self {
        OriginGuard {
            hosts: hosts
                .iter()
                .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            origins: origins.iter().filter_map(|o| normalise_origin(o)).collect(),
            loopback_bound,
        }
    }

    /// Whether a `Host` header value names this server: a loopback name, or an allowed host.
    pub fn host_allowed(&self, host: Option<&str>) -> bool {
        let Some(authority) = host.map(|h| h.trim().to_ascii_lowercase()) else {
            return false;
        };
        let (name, _port) = split_authority(&authority);
        let name = name.trim_end_matches('.');
        LOOPBACK_HOSTS.contains(&name)
            || self
                .hosts
                .iter()
                .any(|allowed| allowed == name || *allowed == authority)
    }

    /// Whether a request with this `Origin` header may proceed (absent: yes).
    pub fn origin_allowed(&self, origin: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        let Some(normalised) = normalise_origin(origin) else {
            return false;
        };
        if self.origins.contains(&normalised) {
            return true;
        }
        self.loopback_bound
            && Url::parse(&normalised).is_ok_and(|url| {
                matches!(url.scheme(), "http" | "https")
                    && url.host_str().is_some_and(|h| {
                        LOOPBACK_HOSTS.contains(&h.trim_start_matches('[').trim_end_matches(']'))
                    })
            })
    }
}

/// `name` and `port` of an authority; IPv6 literals keep no brackets.
fn split_authority(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((name, tail)) => (name, tail.strip_prefix(':')),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            (name, Some(port))
        }
        _ => (authority, None),
    }
}

/// `https://App.Example.com:443/` → `https://app.example.com`; `None` for anything that is not a
/// tuple origin (`null`, opaque schemes, garbage).
fn normalise_origin(text: &str) -> Option<String> {
    let url = Url::parse(text.trim()).ok()?;
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(loopback: bool) -> OriginGuard {
        OriginGuard::new(
            &["mcp.example.com".into(), "edge:8443".into()],
            &["https://app.example.com".into()],
            loopback,
        )
    }

    #[test]
    fn hosts() {
        let g = guard(true);
        for ok in [
            "localhost:8080",
            "127.0.0.1",
            "[::1]:80",
            "MCP.example.com",
            "mcp.example.com:443",
            "edge:8443",
        ] {
            assert!(g.host_allowed(Some(ok)), "{ok}");
        }
        for bad in [
            "evil.com",
            "edge:9000",
            "localhost.evil.com",
            "",
            "127.0.0.1.nip.io",
        ] {
            assert!(!g.host_allowed(Some(bad)), "{bad}");
        }
        assert!(!g.host_allowed(None));
    }

    #[test]
    fn origins() {
        let g = guard(true);
        assert!(g.origin_allowed(None));
        assert!(g.origin_allowed(Some("https://app.example.com:443")));
        assert!(g.origin_allowed(Some("http://localhost:5173")));
        assert!(g.origin_allowed(Some("http://[::1]:3000")));
        assert!(!g.origin_allowed(Some("https://evil.com")));
        assert!(!g.origin_allowed(Some("null")));
        assert!(!g.origin_allowed(Some("https://app.example.com:8443")));
        let public = guard(false);
        assert!(!public.origin_allowed(Some("http://localhost:5173")));
        assert!(public.origin_allowed(Some("https://app.example.com")));
    }
}
