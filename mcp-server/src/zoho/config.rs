//! Connection settings for one Zoho Desk org.

use std::fmt;
use std::time::Duration;

use url::Url;

use super::datacentre::{DataCentre, UnknownDataCentre};

/// A credential. Debug and Display print `***` so that a config dumped into a log or an error
/// message never leaks the client secret or the refresh token.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The only way to read the value; grep for it to audit where secrets go.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_string())
    }
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything the client needs to reach one org. The URLs are host roots (`https://desk.zoho.eu`);
/// the client appends `/api/v1` and `/oauth/v2/token` itself, so the sandbox is reached by pointing
/// both at its address.
#[derive(Debug, Clone)]
pub struct ZohoConfig {
    pub desk_base_url: Url,
    pub accounts_url: Url,
    pub org_id: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub refresh_token: Secret,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("missing setting {name}: {hint}")]
    Missing { name: String, hint: String },
    /// Several settings are missing; all are named at once so one edit fixes them.
    #[error("missing settings {names}: {hint}")]
    MissingSeveral { names: String, hint: String },
    #[error("invalid setting {name}: {message}")]
    Invalid { name: String, message: String },
    #[error("{0}")]
    DataCentre(#[from] UnknownDataCentre),
    #[error("cannot read connections file {path}: {message}")]
    Io { path: String, message: String },
    #[error("{location}: {message}")]
    Syntax { location: String, message: String },
    #[error("unknown connection `{name}`; defined connections: {defined}")]
    UnknownConnection { name: String, defined: String },
}

impl ZohoConfig {
    /// Reads the process environment; see [`ZohoConfig::from_lookup`] for the variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// `ZOHO_DESK_BASE_URL` + `ZOHO_ACCOUNTS_URL` win over `ZOHO_DC` when both are set (that is how
    /// the sandbox is reached); `ZOHO_ORG_ID`, `ZOHO_CLIENT_ID`, `ZOHO_CLIENT_SECRET`,
    /// `ZOHO_REFRESH_TOKEN` are required; `ZOHO_TIMEOUT_SECS` is optional.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        // Every variable is read before the first error is reported, so a caller that records
        // the lookups (the compose test) sees all of them, and every missing one is named at once.
        let roots = hosts(
            get("ZOHO_DC").as_deref(),
            get("ZOHO_DESK_BASE_URL").as_deref(),
            get("ZOHO_ACCOUNTS_URL").as_deref(),
            ("ZOHO_DC", "ZOHO_DESK_BASE_URL", "ZOHO_ACCOUNTS_URL"),
            &allowed_http_hosts(&lookup),
        );
        let timeout = match get("ZOHO_TIMEOUT_SECS") {
            Some(raw) => parse_timeout("ZOHO_TIMEOUT_SECS", &raw),
            None => Ok(DEFAULT_TIMEOUT),
        };
        let mut missing = Vec::new();
        let mut require = |name: &str| {
            let value = get(name);
            if value.is_none() {
                missing.push(name.to_owned());
            }
            value.unwrap_or_default()
        };
        let org_id = require("ZOHO_ORG_ID");
        let client_id = require("ZOHO_CLIENT_ID");
        let client_secret = Secret(require("ZOHO_CLIENT_SECRET"));
        let refresh_token = Secret(require("ZOHO_REFRESH_TOKEN"));
        let hosts = match roots {
            Ok(hosts) => Some(hosts),
            Err(ConfigError::Missing { name, .. }) if name == "ZOHO_DC" => {
                missing.insert(
                    0,
                    "ZOHO_DC (or ZOHO_DESK_BASE_URL and ZOHO_ACCOUNTS_URL)".to_owned(),
                );
                None
            }
            Err(other) => return Err(other),
        };
        let hint = "set the environment variables, or run `deskhand connect` to save a connection";
        let (desk_base_url, accounts_url) = match (hosts, missing.len()) {
            (Some(hosts), 0) => hosts,
            (_, 1) => {
                return Err(ConfigError::Missing {
                    name: missing.remove(0),
                    hint: hint.to_owned(),
                });
            }
            _ => {
                return Err(ConfigError::MissingSeveral {
                    names: missing.join(", "),
                    hint: hint.to_owned(),
                });
            }
        };
        let timeout = timeout?;
        Ok(ZohoConfig {
            desk_base_url,
            accounts_url,
            org_id,
            client_id,
            client_secret,
            refresh_token,
            timeout,
        })
    }
}

pub(crate) fn parse_timeout(name: &str, raw: &str) -> Result<Duration, ConfigError> {
    match raw.trim().parse::<u64>() {
        Ok(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
        _ => Err(ConfigError::Invalid {
            name: name.to_string(),
            message: format!("expected a positive whole number of seconds, got `{raw}`"),
        }),
    }
}

/// The variable naming hosts besides loopback that may be reached over plain `http://`.
pub const ALLOW_HTTP_HOSTS_VAR: &str = "ZOHO_ALLOW_HTTP_HOSTS";

/// Host names (lower case) listed in `ZOHO_ALLOW_HTTP_HOSTS`, comma-separated: a sandbox on a
/// private network (docker compose's `sandbox`) is the one legitimate non-loopback `http` host.
pub(crate) fn allowed_http_hosts(lookup: &impl Fn(&str) -> Option<String>) -> Vec<String> {
    lookup(ALLOW_HTTP_HOSTS_VAR)
        .unwrap_or_default()
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

/// Explicit URLs win over the data centre; half an explicit pair is an error rather than a silent
/// mix of a sandbox Desk host with the real accounts server.
pub(crate) fn hosts(
    dc: Option<&str>,
    desk: Option<&str>,
    accounts: Option<&str>,
    names: (&str, &str, &str),
    allow_http: &[String],
) -> Result<(Url, Url), ConfigError> {
    match (desk, accounts) {
        (Some(desk), Some(accounts)) => Ok((
            parse_root(names.1, desk, allow_http)?,
            parse_root(names.2, accounts, allow_http)?,
        )),
        (Some(_), None) => Err(ConfigError::Missing {
            name: names.2.to_string(),
            hint: format!("{} is set, so {} must be set too", names.1, names.2),
        }),
        (None, Some(_)) => Err(ConfigError::Missing {
            name: names.1.to_string(),
            hint: format!("{} is set, so {} must be set too", names.2, names.1),
        }),
        (None, None) => match dc {
            Some(dc) => {
                let dc: DataCentre = dc.parse()?;
                Ok((dc.desk_base_url(), dc.accounts_url()))
            }
            None => Err(ConfigError::Missing {
                name: names.0.to_string(),
                hint: format!(
                    "set {} (one of US, EU, IN, AU, JP, CA, CN, SA, SG, AE) or both {} and {}",
                    names.0, names.1, names.2
                ),
            }),
        },
    }
}

/// The refresh token, the client secret and every access token travel to these hosts, so plain
/// `http` is accepted only where nothing leaves the machine (loopback) or where the operator
/// named the host in `ZOHO_ALLOW_HTTP_HOSTS`.
fn parse_root(name: &str, raw: &str, allow_http: &[String]) -> Result<Url, ConfigError> {
    let url = Url::parse(raw.trim()).map_err(|e| ConfigError::Invalid {
        name: name.to_string(),
        message: format!("`{raw}` is not an absolute URL ({e})"),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::Invalid {
            name: name.to_string(),
            message: format!("`{raw}` must be an http(s) URL with a host"),
        });
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    let listed = url
        .host_str()
        .is_some_and(|h| allow_http.iter().any(|a| a.eq_ignore_ascii_case(h)));
    if url.scheme() == "http" && !loopback && !listed {
        return Err(ConfigError::Invalid {
            name: name.to_string(),
            message: format!(
                "`{raw}` uses plain http:// for a host that is not loopback, so credentials would travel unencrypted; use https://, or name the host in {ALLOW_HTTP_HOSTS_VAR} if it is a sandbox on a private network"
            ),
        });
    }
    Ok(url)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const CREDS: [(&str, &str); 4] = [
        ("ZOHO_ORG_ID", "42"),
        ("ZOHO_CLIENT_ID", "cid"),
        ("ZOHO_CLIENT_SECRET", "very-secret"),
        ("ZOHO_REFRESH_TOKEN", "refresh-me"),
    ];

    #[test]
    fn dc_selects_both_hosts() {
        let mut pairs = CREDS.to_vec();
        pairs.push(("ZOHO_DC", "eu"));
        let cfg = ZohoConfig::from_lookup(lookup(&pairs)).unwrap();
        assert_eq!(cfg.desk_base_url.as_str(), "https://desk.zoho.eu/");
        assert_eq!(cfg.accounts_url.as_str(), "https://accounts.zoho.eu/");
        assert_eq!(cfg.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn explicit_urls_win_over_dc() {
        let mut pairs = CREDS.to_vec();
        pairs.extend([
            ("ZOHO_DC", "us"),
            ("ZOHO_DESK_BASE_URL", "http://127.0.0.1:9000"),
            ("ZOHO_ACCOUNTS_URL", "http://127.0.0.1:9000"),
            ("ZOHO_TIMEOUT_SECS", "5"),
        ]);
        let cfg = ZohoConfig::from_lookup(lookup(&pairs)).unwrap();
        assert_eq!(cfg.desk_base_url.as_str(), "http://127.0.0.1:9000/");
        assert_eq!(cfg.timeout, Duration::from_secs(5));
    }

    #[test]
    fn missing_variable_is_named() {
        let pairs = [("ZOHO_DC", "us"), ("ZOHO_ORG_ID", "1")];
        let err = ZohoConfig::from_lookup(lookup(&pairs)).unwrap_err();
        assert!(err.to_string().contains("ZOHO_CLIENT_ID"), "{err}");
        let err = ZohoConfig::from_lookup(lookup(&CREDS)).unwrap_err();
        assert!(err.to_string().contains("ZOHO_DC"), "{err}");
    }

    #[test]
    fn every_missing_variable_is_named_at_once() {
        let err = ZohoConfig::from_lookup(lookup(&[("ZOHO_CLIENT_ID", "c")])).unwrap_err();
        let text = err.to_string();
        for name in [
            "ZOHO_DC",
            "ZOHO_ORG_ID",
            "ZOHO_CLIENT_SECRET",
            "ZOHO_REFRESH_TOKEN",
        ] {
            assert!(text.contains(name), "{text}");
        }
        assert!(!text.contains("ZOHO_CLIENT_ID"), "{text}");
        assert!(text.contains("deskhand connect"), "{text}");
    }

    #[test]
    fn half_an_url_pair_is_refused() {
        let mut pairs = CREDS.to_vec();
        pairs.push(("ZOHO_DESK_BASE_URL", "http://127.0.0.1:9000"));
        let err = ZohoConfig::from_lookup(lookup(&pairs)).unwrap_err();
        assert!(err.to_string().contains("ZOHO_ACCOUNTS_URL"), "{err}");
    }

    #[test]
    fn secrets_never_print() {
        let mut pairs = CREDS.to_vec();
        pairs.push(("ZOHO_DC", "in"));
        let cfg = ZohoConfig::from_lookup(lookup(&pairs)).unwrap();
        let dump = format!("{cfg:?} {}", cfg.client_secret);
        assert!(!dump.contains("very-secret"), "{dump}");
        assert!(!dump.contains("refresh-me"), "{dump}");
        assert!(dump.contains("***"));
    }

    #[test]
    fn plain_http_only_for_loopback_or_listed_hosts() {
        let with = |desk: &str, extra: &[(&str, &str)]| {
            let mut pairs = CREDS.to_vec();
            pairs.extend([("ZOHO_DESK_BASE_URL", desk), ("ZOHO_ACCOUNTS_URL", desk)]);
            pairs.extend(extra);
            ZohoConfig::from_lookup(lookup(&pairs))
        };
        for ok in [
            "http://127.0.0.1:9000",
            "http://localhost:9000",
            "http://[::1]:9000",
            "https://desk.example.com",
        ] {
            assert!(with(ok, &[]).is_ok(), "{ok}");
        }
        for bad in [
            "http://desk.example.com",
            "http://10.0.0.5:8765",
            "http://sandbox:8765",
        ] {
            let err = with(bad, &[]).unwrap_err().to_string();
            assert!(err.contains("ZOHO_DESK_BASE_URL"), "{err}");
            assert!(err.contains("plain http://"), "{err}");
            assert!(!err.contains("very-secret"), "{err}");
        }
        assert!(with("http://sandbox:8765", &[(ALLOW_HTTP_HOSTS_VAR, "Sandbox")]).is_ok());
        assert!(with("http://other:8765", &[(ALLOW_HTTP_HOSTS_VAR, "sandbox")]).is_err());
    }

    #[test]
    fn bad_timeout_is_refused() {
        let mut pairs = CREDS.to_vec();
        pairs.extend([("ZOHO_DC", "us"), ("ZOHO_TIMEOUT_SECS", "soon")]);
        let err = ZohoConfig::from_lookup(lookup(&pairs)).unwrap_err();
        assert!(err.to_string().contains("ZOHO_TIMEOUT_SECS"), "{err}");
    }
}
