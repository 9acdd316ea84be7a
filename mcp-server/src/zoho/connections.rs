//! Named connections, so one deployment can serve several Zoho orgs (or DCs). Secrets can stay in
//! the environment through `*_env` indirection, so the file itself can be committed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::config::{ConfigError, DEFAULT_TIMEOUT, Secret, ZohoConfig, hosts, parse_timeout};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionsFile {
    #[serde(default)]
    connections: BTreeMap<String, Spanned<ConnectionEntry>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionEntry {
    dc: Option<String>,
    desk_base_url: Option<String>,
    accounts_url: Option<String>,
    org_id: Option<Scalar>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_secret_env: Option<String>,
    refresh_token: Option<String>,
    refresh_token_env: Option<String>,
    timeout_secs: Option<Scalar>,
}

/// Org ids are numeric strings; YAML readers would otherwise have to remember to quote them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Int(u64),
    Text(String),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::Int(n) => n.to_string(),
            Scalar::Text(s) => s.clone(),
        }
    }
}

/// The connections file, parsed but not resolved: `*_env` references are read at
/// [`Connections::resolve`] time so a missing variable is reported for the connection in use only.
#[derive(Debug, Default)]
pub struct Connections {
    source: String,
    entries: BTreeMap<String, (ConnectionEntry, String)>,
}

impl Connections {
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// `source` names the text in error messages (a file path, usually).
    pub fn parse(text: &str, source: &str) -> Result<Self, ConfigError> {
        let file: ConnectionsFile = serde_saphyr::from_str(text).map_err(|e| {
            let location = match e.location() {
                Some(loc) => format!("{source}:{}:{}", loc.line(), loc.column()),
                None => source.to_string(),
            };
            ConfigError::Syntax {
                location,
                message: e.to_string(),
            }
        })?;
        let entries = file
            .connections
            .into_iter()
            .map(|(name, spanned)| {
                let at = format!(
                    "{source}:{}:{}",
                    spanned.referenced.line(),
                    spanned.referenced.column()
                );
                (name, (spanned.value, at))
            })
            .collect();
        Ok(Connections {
            source: source.to_string(),
            entries,
        })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// `None` is the connection described by the process environment (`ZOHO_*`).
    pub fn resolve(&self, name: Option<&str>) -> Result<ZohoConfig, ConfigError> {
        self.resolve_with(name, |k| std::env::var(k).ok())
    }

    pub fn resolve_with(
        &self,
        name: Option<&str>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ZohoConfig, ConfigError> {
        let Some(name) = name else {
            return ZohoConfig::from_lookup(lookup);
        };
        let (entry, at) = self
            .entries
            .get(name)
            .ok_or_else(|| ConfigError::UnknownConnection {
                name: name.to_string(),
                defined: if self.entries.is_empty() {
                    format!("none in {}", self.source)
                } else {
                    self.names().collect::<Vec<_>>().join(", ")
                },
            })?;
        let field = |f: &str| format!("{at}: connection `{name}` field {f}");
        let (desk_base_url, accounts_url) = hosts(
            entry.dc.as_deref(),
            entry.desk_base_url.as_deref(),
            entry.accounts_url.as_deref(),
            (
                &field("dc"),
                &field("desk_base_url"),
                &field("accounts_url"),
            ),
            &super::config::allowed_http_hosts(&lookup),
        )?;
        let required = |value: &Option<String>, f: &str| {
            value
                .clone()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| ConfigError::Missing {
                    name: field(f),
                    hint: "add it to the connection".to_string(),
                })
        };
        let secret = |direct: &Option<String>, env: &Option<String>, f: &str| match (direct, env) {
            (Some(_), Some(_)) => Err(ConfigError::Invalid {
                name: field(f),
                message: format!("give either {f} or {f}_env, not both"),
            }),
            (Some(v), None) => Ok(Secret::new(v.clone())),
            (None, Some(var)) => lookup(var)
                .filter(|v| !v.trim().is_empty())
                .map(Secret::new)
                .ok_or_else(|| ConfigError::Missing {
                    name: var.clone(),
                    hint: format!(
                        "{} names this environment variable",
                        field(&format!("{f}_env"))
                    ),
                }),
            (None, None) => Err(ConfigError::Missing {
                name: field(f),
                hint: format!("give {f} or {f}_env"),
            }),
        };
        let timeout = match &entry.timeout_secs {
            Some(raw) => parse_timeout(&field("timeout_secs"), &raw.text())?,
            None => DEFAULT_TIMEOUT,
        };
        Ok(ZohoConfig {
            desk_base_url,
            accounts_url,
            org_id: required(&entry.org_id.as_ref().map(Scalar::text), "org_id")?,
            client_id: required(&entry.client_id, "client_id")?,
            client_secret: secret(
                &entry.client_secret,
                &entry.client_secret_env,
                "client_secret",
            )?,
            refresh_token: secret(
                &entry.refresh_token,
                &entry.refresh_token_env,
                "refresh_token",
            )?,
            timeout,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const FILE: &str = "connections:
  acme:
    dc: eu
    org_id: 123456
    client_id: acme-client
    client_secret_env: ACME_SECRET
    refresh_token: rt-acme
  sandbox:
    desk_base_url: http://127.0.0.1:9999
    accounts_url: http://127.0.0.1:9999
    org_id: \"1\"
    client_id: c
    client_secret: s
    refresh_token_env: SANDBOX_RT
    timeout_secs: 3
";

    fn env(k: &str) -> Option<String> {
        match k {
            "ACME_SECRET" => Some("from-env".into()),
            "SANDBOX_RT" => Some("rt-sandbox".into()),
            _ => None,
        }
    }

    #[test]
    fn resolves_with_env_indirection() {
        let conns = Connections::parse(FILE, "conns.yaml").unwrap();
        let acme = conns.resolve_with(Some("acme"), env).unwrap();
        assert_eq!(acme.desk_base_url.as_str(), "https://desk.zoho.eu/");
        assert_eq!(acme.org_id, "123456");
        assert_eq!(acme.client_secret.expose(), "from-env");
        let sb = conns.resolve_with(Some("sandbox"), env).unwrap();
        assert_eq!(sb.refresh_token.expose(), "rt-sandbox");
        assert_eq!(sb.timeout, std::time::Duration::from_secs(3));
    }

    #[test]
    fn missing_env_variable_is_named() {
        let conns = Connections::parse(FILE, "conns.yaml").unwrap();
        let err = conns.resolve_with(Some("acme"), |_| None).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("ACME_SECRET"), "{text}");
        assert!(text.contains("conns.yaml:3:"), "{text}");
    }

    #[test]
    fn unknown_connection_lists_defined_ones() {
        let conns = Connections::parse(FILE, "conns.yaml").unwrap();
        let err = conns.resolve_with(Some("nope"), env).unwrap_err();
        assert!(err.to_string().contains("acme, sandbox"), "{err}");
    }

    #[test]
    fn unknown_key_reports_line_and_column() {
        let text = "connections:\n  a:\n    dc: us\n    orgid: 1\n";
        let err = Connections::parse(text, "c.yaml").unwrap_err();
        let ConfigError::Syntax { location, message } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(location, "c.yaml:4:5", "{message}");
        assert!(message.contains("orgid"), "{message}");
    }

    #[test]
    fn none_means_environment() {
        let conns = Connections::default();
        let err = conns.resolve_with(None, |_| None).unwrap_err();
        assert!(err.to_string().contains("ZOHO_DC"), "{err}");
    }
}
