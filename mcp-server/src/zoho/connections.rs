//! Named connections, so one deployment can serve several Zoho orgs (or DCs). Secrets can stay in
//! the environment through `*_env` indirection, or in a user-only `secrets_file` beside the
//! connections file (what `deskhand connect` writes), so the file itself can be committed.
//!
//! Without `--connections` the file is `connections.yaml` in the user's config directory
//! (`$DESKHAND_CONFIG_DIR`, else `$XDG_CONFIG_HOME/deskhand`, else `~/.config/deskhand`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// A YAML file holding `client_secret` and `refresh_token`, readable by the user only;
    /// relative paths are relative to the connections file.
    secrets_file: Option<String>,
    timeout_secs: Option<Scalar>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretsFile {
    client_secret: Option<String>,
    refresh_token: Option<String>,
}

/// The name of the connection commands use when none is named.
pub const DEFAULT_NAME: &str = "default";

/// The user's deskhand config directory (see the module documentation).
pub fn config_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("DESKHAND_CONFIG_DIR")
        .or_else(|| var("XDG_CONFIG_HOME").map(|d| d.join("deskhand")))
        .or_else(|| var("HOME").map(|h| h.join(".config").join("deskhand")))
}

/// Where the connections file is when `--connections` / `DESKHAND_CONNECTIONS` is not given.
pub fn default_path() -> Option<PathBuf> {
    config_dir().map(|d| d.join("connections.yaml"))
}

/// What `deskhand connect` saves for one connection (the secrets go to their own file).
#[derive(Debug, Clone)]
pub struct NewConnection {
    /// A data-centre code, or `None` when the hosts are given as URLs.
    pub dc: Option<String>,
    pub desk_base_url: Option<String>,
    pub accounts_url: Option<String>,
    pub org_id: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub refresh_token: Secret,
}

/// Where a saved connection went.
#[derive(Debug, Clone)]
pub struct Saved {
    pub connections_file: PathBuf,
    pub secrets_file: PathBuf,
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
    /// The directory relative `secrets_file` paths start from.
    dir: Option<PathBuf>,
    entries: BTreeMap<String, (ConnectionEntry, String)>,
}

impl Connections {
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let mut parsed = Self::parse(&text, &path.display().to_string())?;
        parsed.dir = path.parent().map(Path::to_path_buf);
        Ok(parsed)
    }

    /// `path` if given, else the default file if it exists, else no connections (the
    /// environment's `ZOHO_*` settings are then the `default` connection).
    pub fn load_or_default(path: Option<&Path>) -> Result<Self, ConfigError> {
        match path {
            Some(path) => Self::load(path),
            None => match default_path().filter(|p| p.is_file()) {
                Some(path) => Self::load(path),
                None => Ok(Connections::default()),
            },
        }
    }

    /// Whether a connection of this name is defined in the file.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
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
            dir: None,
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
            return self.resolve_overridden(DEFAULT_NAME, lookup);
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
        let stored = self.secrets_of(entry, &field("secrets_file"))?;
        let secret = |direct: &Option<String>, env: &Option<String>, f: &str| match (direct, env) {
            (Some(_), Some(_)) => Err(ConfigError::Invalid {
                name: field(f),
                message: format!("give either {f} or {f}_env, not both"),
            }),
            (Some(v), None) => Ok(Secret::new(v.clone())),
            (None, None) if stored.contains_key(f) => {
                Ok(Secret::new(stored.get(f).cloned().unwrap_or_default()))
            }
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
                hint: format!("give {f}, {f}_env or a secrets_file, or run `deskhand connect`"),
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

    /// The connection `name` with the environment's `ZOHO_*` settings laid over it, each set
    /// variable winning over the file's field; `default` with no file entry is the environment
    /// alone. Every missing setting is reported at once.
    pub fn resolve_overridden(
        &self,
        name: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ZohoConfig, ConfigError> {
        let Some((entry, at)) = self.entries.get(name) else {
            if name == DEFAULT_NAME {
                return ZohoConfig::from_lookup(lookup);
            }
            return self.resolve_with(Some(name), lookup);
        };
        let field = |f: &str| format!("{at}: connection `{name}` field {f}");
        let stored = self.secrets_of(entry, &field("secrets_file"))?;
        let mut file: BTreeMap<&str, String> = BTreeMap::new();
        let mut put = |k: &'static str, v: Option<String>| {
            if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
                file.insert(k, v);
            }
        };
        put("ZOHO_DC", entry.dc.clone());
        put("ZOHO_DESK_BASE_URL", entry.desk_base_url.clone());
        put("ZOHO_ACCOUNTS_URL", entry.accounts_url.clone());
        put("ZOHO_ORG_ID", entry.org_id.as_ref().map(Scalar::text));
        put("ZOHO_CLIENT_ID", entry.client_id.clone());
        put(
            "ZOHO_CLIENT_SECRET",
            entry
                .client_secret
                .clone()
                .or_else(|| entry.client_secret_env.as_deref().and_then(&lookup))
                .or_else(|| stored.get("client_secret").cloned()),
        );
        put(
            "ZOHO_REFRESH_TOKEN",
            entry
                .refresh_token
                .clone()
                .or_else(|| entry.refresh_token_env.as_deref().and_then(&lookup))
                .or_else(|| stored.get("refresh_token").cloned()),
        );
        put(
            "ZOHO_TIMEOUT_SECS",
            entry.timeout_secs.as_ref().map(Scalar::text),
        );
        let env = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        // A data centre in the environment replaces the file's hosts, whichever form they take.
        let env_dc_only = env("ZOHO_DC").is_some()
            && env("ZOHO_DESK_BASE_URL").is_none()
            && env("ZOHO_ACCOUNTS_URL").is_none();
        ZohoConfig::from_lookup(|k| {
            env(k).or_else(|| {
                let host_url = matches!(k, "ZOHO_DESK_BASE_URL" | "ZOHO_ACCOUNTS_URL");
                if env_dc_only && host_url {
                    None
                } else {
                    file.get(k).cloned()
                }
            })
        })
    }

    fn secrets_of(
        &self,
        entry: &ConnectionEntry,
        field: &str,
    ) -> Result<BTreeMap<&'static str, String>, ConfigError> {
        let mut out = BTreeMap::new();
        let Some(raw) = &entry.secrets_file else {
            return Ok(out);
        };
        let path = match &self.dir {
            Some(dir) => dir.join(raw),
            None => PathBuf::from(raw),
        };
        let shown = path.display().to_string();
        check_private(&path, field)?;
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Io {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        let parsed: SecretsFile =
            serde_saphyr::from_str(&text).map_err(|e| ConfigError::Syntax {
                location: shown,
                // The parser's message may quote the file, which holds secrets.
                message: match e.location() {
                    Some(loc) => format!(
                        "not a secrets file (line {}, column {})",
                        loc.line(),
                        loc.column()
                    ),
                    None => "not a secrets file".to_owned(),
                },
            })?;
        if let Some(v) = parsed.client_secret {
            out.insert("client_secret", v);
        }
        if let Some(v) = parsed.refresh_token {
            out.insert("refresh_token", v);
        }
        Ok(out)
    }
}

/// A secrets file that others can read has leaked already; refusing it (as ssh does with keys)
/// gets it fixed.
fn check_private(path: &Path, field: &str) -> Result<(), ConfigError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            return Err(ConfigError::Invalid {
                name: field.to_owned(),
                message: format!(
                    "{} is readable by other users; run `chmod 600 {}`",
                    path.display(),
                    path.display()
                ),
            });
        }
    }
    let _ = (path, field);
    Ok(())
}

/// Connection names become file names, so they are kept to letters, digits, `-` and `_`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Saves (or replaces) connection `name` in the connections file at `path`, with its secrets in
/// `secrets/<name>.yaml` beside it, created readable by the user only. The connections file is
/// rewritten whole (other connections are kept, comments are not).
pub fn save(path: &Path, name: &str, conn: &NewConnection) -> Result<Saved, ConfigError> {
    let io = |p: &Path, e: std::io::Error| ConfigError::Io {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    if !valid_name(name) {
        return Err(ConfigError::Invalid {
            name: "--name".to_owned(),
            message: format!("`{name}` may hold only letters, digits, `-` and `_`"),
        });
    }
    let mut existing = if path.is_file() {
        Connections::load(path)?.entries
    } else {
        BTreeMap::new()
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let secrets_rel = format!("secrets/{name}.yaml");
    let secrets_path = dir.join(&secrets_rel);
    let secrets_dir = dir.join("secrets");
    create_private_dir(&secrets_dir).map_err(|e| io(&secrets_dir, e))?;
    let secrets_text = format!(
        "client_secret: {}\nrefresh_token: {}\n",
        quote(conn.client_secret.expose()),
        quote(conn.refresh_token.expose())
    );
    write_private(&secrets_path, &secrets_text).map_err(|e| io(&secrets_path, e))?;
    existing.insert(
        name.to_owned(),
        (
            ConnectionEntry {
                dc: conn.dc.clone(),
                desk_base_url: conn.desk_base_url.clone(),
                accounts_url: conn.accounts_url.clone(),
                org_id: Some(Scalar::Text(conn.org_id.clone())),
                client_id: Some(conn.client_id.clone()),
                client_secret: None,
                client_secret_env: None,
                refresh_token: None,
                refresh_token_env: None,
                secrets_file: Some(secrets_rel),
                timeout_secs: None,
            },
            String::new(),
        ),
    );
    let mut text = String::from(
        "# Zoho Desk connections for deskhand (`deskhand connect` rewrites this file).\n# Secrets live in the user-only files named by secrets_file, never here.\nconnections:\n",
    );
    for (name, (entry, _)) in &existing {
        text.push_str(&format!("  {}:\n", quote(name)));
        let mut line = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                text.push_str(&format!("    {k}: {}\n", quote(v)));
            }
        };
        line("dc", &entry.dc);
        line("desk_base_url", &entry.desk_base_url);
        line("accounts_url", &entry.accounts_url);
        line("org_id", &entry.org_id.as_ref().map(Scalar::text));
        line("client_id", &entry.client_id);
        line("client_secret", &entry.client_secret);
        line("client_secret_env", &entry.client_secret_env);
        line("refresh_token", &entry.refresh_token);
        line("refresh_token_env", &entry.refresh_token_env);
        line("secrets_file", &entry.secrets_file);
        line(
            "timeout_secs",
            &entry.timeout_secs.as_ref().map(Scalar::text),
        );
    }
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let tmp = dir.join(format!(".connections.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    Ok(Saved {
        connections_file: path.to_path_buf(),
        secrets_file: secrets_path,
    })
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Writes through a new file created with mode 0600 and renamed over the old one, so the
/// secrets are never readable by others, not even for a moment.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("secret"),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
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

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("deskhand-conn-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn new_connection() -> NewConnection {
        NewConnection {
            dc: Some("EU".into()),
            desk_base_url: None,
            accounts_url: None,
            org_id: "777".into(),
            client_id: "1000.cid".into(),
            client_secret: Secret::new("sec-ret-value"),
            refresh_token: Secret::new("1000.refresh-value"),
        }
    }

    #[test]
    fn saved_connection_keeps_secrets_in_a_user_only_file() {
        let dir = temp_dir("save");
        let path = dir.join("connections.yaml");
        std::fs::write(&path, FILE).unwrap();
        let saved = save(&path, "default", &new_connection()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("sec-ret-value") && !text.contains("refresh-value"),
            "{text}"
        );
        assert!(text.contains("acme") && text.contains("sandbox"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&saved.secrets_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let conns = Connections::load(&path).unwrap();
        let cfg = conns.resolve_overridden("default", |_| None).unwrap();
        assert_eq!(cfg.desk_base_url.as_str(), "https://desk.zoho.eu/");
        assert_eq!(cfg.client_secret.expose(), "sec-ret-value");
        assert_eq!(cfg.refresh_token.expose(), "1000.refresh-value");
        // `None` (the multi-connection server's default) reads the same entry, and so does the
        // file-only resolution of a named connection.
        assert_eq!(conns.resolve(None).unwrap().org_id, "777");
        let named = conns.resolve_with(Some("default"), |_| None).unwrap();
        assert_eq!(named.refresh_token.expose(), "1000.refresh-value");
        // Environment variables win, field by field, and a DC replaces the file's hosts.
        let cfg = conns
            .resolve_overridden("default", |k| match k {
                "ZOHO_ORG_ID" => Some("888".into()),
                "ZOHO_DC" => Some("us".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(cfg.org_id, "888");
        assert_eq!(cfg.desk_base_url.as_str(), "https://desk.zoho.com/");
        assert_eq!(cfg.client_id, "1000.cid");
    }

    #[cfg(unix)]
    #[test]
    fn a_secrets_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("perm");
        let path = dir.join("connections.yaml");
        let saved = save(&path, "eu", &new_connection()).unwrap();
        std::fs::set_permissions(&saved.secrets_file, std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let conns = Connections::load(&path).unwrap();
        let err = conns.resolve_overridden("eu", |_| None).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn bad_names_are_refused() {
        let dir = temp_dir("name");
        let err = save(&dir.join("c.yaml"), "../x", &new_connection()).unwrap_err();
        assert!(err.to_string().contains("letters, digits"), "{err}");
    }

    #[test]
    fn none_means_environment() {
        let conns = Connections::default();
        let err = conns.resolve_with(None, |_| None).unwrap_err();
        assert!(err.to_string().contains("ZOHO_DC"), "{err}");
    }
}
