//! `deskhand connect`: turns a Zoho grant code (a Self Client's, pasted, or the browser flow's,
//! received on a loopback callback) into a saved, verified connection. Every value can come from
//! a flag; on a terminal the missing ones are asked for, elsewhere they are all named at once.
//!
//! The code exchange returns an access token as well as the refresh token, and every check here
//! uses it, so connecting spends one of Zoho's ten tokens per ten minutes, not several.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;
use zoho_desk_mcp::zoho::connections::{self, DEFAULT_NAME, NewConnection, default_path};
use zoho_desk_mcp::zoho::oauth::{self, DESK_SCOPES};
use zoho_desk_mcp::zoho::{
    DataCentre, Mint, Secret, SharedToken, TokenShare, ZohoClient, ZohoConfig, ZohoError,
};

use super::output::outln;
use super::table;

#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// The name to save the connection under; commands pick it with --connection.
    #[arg(long, default_value = DEFAULT_NAME)]
    name: String,
    /// The Zoho data centre the org lives on.
    #[arg(long, value_parser = parse_dc, conflicts_with_all = ["accounts_url", "desk_url"])]
    dc: Option<DataCentre>,
    /// The accounts host root, instead of --dc (the sandbox: its base URL).
    #[arg(long, requires = "desk_url")]
    accounts_url: Option<Url>,
    /// The Desk host root, instead of --dc.
    #[arg(long, requires = "accounts_url")]
    desk_url: Option<Url>,
    /// The client id from Zoho's API console (Self Client or server-based application).
    #[arg(long, env = "ZOHO_CLIENT_ID")]
    client_id: Option<String>,
    /// The client secret (better given through ZOHO_CLIENT_SECRET or the prompt than on the
    /// command line, where shell history keeps it).
    #[arg(long, env = "ZOHO_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// A Self Client grant code, generated with the scopes `--print-scopes` shows.
    #[arg(long, conflicts_with = "browser")]
    code: Option<String>,
    /// Use the browser flow of a server-based client: open the printed URL, accept, and Zoho
    /// redirects to a callback on 127.0.0.1.
    #[arg(long)]
    browser: bool,
    /// The callback port of the browser flow; register http://127.0.0.1:PORT/callback as the
    /// client's redirect URI.
    #[arg(long, default_value_t = 8977)]
    port: u16,
    /// How long to wait for the browser flow's callback, in seconds.
    #[arg(long, default_value_t = 300)]
    wait_secs: u64,
    /// The org to connect to when the token sees several.
    #[arg(long)]
    org_id: Option<String>,
    /// The connections file to write (default: connections.yaml in the user's config directory).
    #[arg(long, env = "DESKHAND_CONNECTIONS")]
    connections: Option<PathBuf>,
    /// Print the scope string to paste into Zoho's API console, and exit.
    #[arg(long)]
    print_scopes: bool,
}

fn parse_dc(s: &str) -> Result<DataCentre, String> {
    s.parse()
        .map_err(|e: zoho_desk_mcp::zoho::UnknownDataCentre| e.to_string())
}

/// Prompts on a terminal; elsewhere collects what is missing so it can be named in one sentence.
struct Asker {
    interactive: bool,
    missing: Vec<&'static str>,
}

impl Asker {
    fn ask(&mut self, given: Option<String>, flag: &'static str, question: &str) -> String {
        if let Some(v) = given.filter(|v| !v.trim().is_empty()) {
            return v.trim().to_owned();
        }
        if self.interactive
            && let Some(answer) = prompt(question)
        {
            return answer;
        }
        self.missing.push(flag);
        String::new()
    }
}

impl Asker {
    /// Like [`Asker::ask`], with the terminal's echo off while the answer is typed.
    fn ask_secret(&mut self, given: Option<String>, flag: &'static str, question: &str) -> String {
        if given.as_deref().is_some_and(|v| !v.trim().is_empty()) || !self.interactive {
            return self.ask(given, flag, question);
        }
        let hidden = set_echo(false);
        let answer = prompt(question);
        if hidden {
            set_echo(true);
            eprintln!();
        }
        match answer {
            Some(v) => v,
            None => {
                self.missing.push(flag);
                String::new()
            }
        }
    }
}

/// Switches the controlling terminal's echo through `stty`; `false` when that is not possible,
/// in which case the answer is simply echoed.
fn set_echo(on: bool) -> bool {
    std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn prompt(question: &str) -> Option<String> {
    let mut out = std::io::stderr();
    let _ = write!(out, "{question}: ");
    let _ = out.flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).ok()?;
    let line = line.trim().to_owned();
    (!line.is_empty()).then_some(line)
}

pub async fn run(args: ConnectArgs) -> anyhow::Result<ExitCode> {
    if args.print_scopes {
        outln!("{DESK_SCOPES}");
        return Ok(ExitCode::SUCCESS);
    }
    anyhow::ensure!(
        connections::valid_name(&args.name),
        "the connection name `{}` may hold only letters, digits, `-` and `_`",
        args.name
    );
    let file = match &args.connections {
        Some(path) => path.clone(),
        None => default_path().context(
            "no config directory to save the connection in: set HOME or DESKHAND_CONFIG_DIR, or pass --connections",
        )?,
    };
    let mut asker = Asker {
        interactive: std::io::stdin().is_terminal(),
        missing: Vec::new(),
    };
    let (accounts_url, desk_url, dc) = match (&args.dc, &args.accounts_url, &args.desk_url) {
        (Some(dc), _, _) => (dc.accounts_url(), dc.desk_base_url(), Some(*dc)),
        (None, Some(a), Some(d)) => (a.clone(), d.clone(), None),
        _ => {
            let answer = asker.ask(
                None,
                "--dc",
                "Data centre of your Zoho org (US, EU, IN, AU, JP, CA, CN, SA, SG, AE)",
            );
            match answer.parse::<DataCentre>() {
                Ok(dc) => (dc.accounts_url(), dc.desk_base_url(), Some(dc)),
                Err(e) if !answer.is_empty() => return Err(e.into()),
                Err(_) => (
                    DataCentre::Us.accounts_url(),
                    DataCentre::Us.desk_base_url(),
                    None,
                ),
            }
        }
    };
    let client_id = asker.ask(
        args.client_id.clone(),
        "--client-id",
        "Client id (API console)",
    );
    let client_secret = Secret::new(asker.ask_secret(
        args.client_secret.clone(),
        "--client-secret",
        "Client secret (API console; not shown)",
    ));
    let mut code = args.code.clone().map(Secret::new);
    if code.is_none() && !args.browser {
        if asker.interactive {
            eprintln!(
                "\nIn Zoho's API console (https://api-console.zoho.{}), open your Self Client, choose \"Generate Code\", and paste this scope:\n\n  {DESK_SCOPES}\n\nThe code expires after the minutes you choose there.",
                console_tld(dc)
            );
        }
        let answer = asker.ask(
            None,
            "--code (or --browser)",
            "Grant code (leave empty to use the browser flow)",
        );
        if !answer.is_empty() {
            code = Some(Secret::new(answer));
        }
    }
    if !asker.missing.is_empty() {
        anyhow::bail!(
            "missing {}: pass them as flags (scope for the grant code: {DESK_SCOPES})",
            asker.missing.join(", ")
        );
    }

    let (code, redirect_uri, accounts_url, desk_url) = match code {
        Some(code) => (code, None, accounts_url, desk_url),
        None => {
            let (code, uri, accounts) = browser_flow(&args, &accounts_url, &client_id).await?;
            let (accounts, desk) = match accounts {
                Some(dc) => (dc.accounts_url(), dc.desk_base_url()),
                None => (accounts_url, desk_url),
            };
            (code, Some(uri), accounts, desk)
        }
    };

    let grant = oauth::exchange_code(
        &accounts_url,
        &client_id,
        &client_secret,
        &code,
        redirect_uri.as_deref(),
    )
    .await
    .map_err(sentence)?;
    let orgs = organizations(&desk_url, &grant.access_token).await?;
    let org = pick_org(&orgs, args.org_id.as_deref(), asker.interactive)?;

    let config = ZohoConfig {
        desk_base_url: desk_url.clone(),
        accounts_url: accounts_url.clone(),
        org_id: org.0.clone(),
        client_id: client_id.clone(),
        client_secret: client_secret.clone(),
        refresh_token: grant.refresh_token.clone(),
        timeout: zoho_desk_mcp::zoho::config::DEFAULT_TIMEOUT,
    };
    let preset = Arc::new(Preset(SharedToken {
        value: grant.access_token.clone(),
        refresh_at: SystemTime::now() + grant.expires_in.mul_f64(0.9),
    }));
    let client = ZohoClient::with_token_share(config, preset)?;
    let departments = client
        .request(
            Method::GET,
            "/departments",
            &[("limit".to_owned(), "200".to_owned())],
            None,
        )
        .await
        .map_err(sentence)?;

    let saved = connections::save(
        &file,
        &args.name,
        &NewConnection {
            dc: dc.map(|d| d.code().to_owned()),
            desk_base_url: dc.is_none().then(|| desk_url.to_string()),
            accounts_url: dc.is_none().then(|| accounts_url.to_string()),
            org_id: org.0.clone(),
            client_id,
            client_secret,
            refresh_token: grant.refresh_token,
        },
    )?;

    outln!(
        "Connected to {} (org {}) as connection `{}`.",
        org.1,
        org.0,
        args.name
    );
    outln!("  settings  {}", saved.connections_file.display());
    outln!(
        "  secrets   {} (readable by you only)",
        saved.secrets_file.display()
    );
    outln!();
    let rows: Vec<Vec<String>> = departments
        .body
        .as_ref()
        .and_then(|b| b.get("data"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|d| {
            let text = |k: &str| {
                d.get(k)
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .unwrap_or_default()
            };
            vec![text("id"), text("name"), text("isEnabled")]
        })
        .collect();
    outln!(
        "{}",
        table::render(&["department id", "name", "enabled"], &rows, 60).trim_end()
    );
    let flag = if args.name == DEFAULT_NAME {
        String::new()
    } else {
        format!(" --connection {}", args.name)
    };
    outln!();
    outln!("Next:");
    outln!("  deskhand doctor{flag}");
    outln!("  deskhand run triage-and-assign --dry-run{flag}");
    outln!(
        "  deskhand run triage-and-assign --dry-run --set department_ids=<a department id above>{flag}"
    );
    Ok(ExitCode::SUCCESS)
}

/// Zoho's own sentences, without the variant prefix that would repeat "Zoho".
fn sentence(e: ZohoError) -> anyhow::Error {
    match e {
        ZohoError::Auth { message, .. } => anyhow::anyhow!(message),
        ZohoError::Upstream(up) if up.error_code.as_deref() == Some("SCOPE_MISMATCH") => {
            anyhow::anyhow!(
                "the grant lacks a scope deskhand needs ({}); generate a new code with exactly these scopes: {DESK_SCOPES}",
                up.message
            )
        }
        ZohoError::Upstream(up) if up.error_code.as_deref() == Some("OAUTH_ORG_MISMATCH") => {
            anyhow::anyhow!(
                "the token cannot reach this org ({}); pick an org id that `deskhand connect` lists",
                up.message
            )
        }
        other => other.into(),
    }
}

fn console_tld(dc: Option<DataCentre>) -> &'static str {
    dc.map(|d| d.accounts_host().trim_start_matches("accounts.zoho"))
        .map(|t| t.trim_start_matches('.'))
        .filter(|t| !t.is_empty())
        .unwrap_or("com")
}

/// A token share that hands out the exchange's access token and mints only once it is refused.
struct Preset(SharedToken);

impl TokenShare for Preset {
    fn token<'a>(
        &'a self,
        _key: &'a str,
        _mint: Mint<'a>,
    ) -> BoxFuture<'a, Result<SharedToken, ZohoError>> {
        Box::pin(async move { Ok(self.0.clone()) })
    }

    fn forget<'a>(&'a self, _key: &'a str, _failed: &'a Secret) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// `GET /api/v1/organizations`, the one call that needs no orgId: `(id, name)` pairs.
async fn organizations(
    desk_url: &Url,
    access_token: &Secret,
) -> anyhow::Result<Vec<(String, String)>> {
    let url = desk_url.join("/api/v1/organizations")?;
    let resp = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?
        .get(url)
        .header(
            "Authorization",
            format!("Zoho-oauthtoken {}", access_token.expose()),
        )
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("could not reach Zoho Desk: {}", e.without_url()))?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await?;
    if status == 204 {
        anyhow::bail!(
            "the token sees no Zoho Desk organization; sign in to Zoho Desk once with this user, or check the data centre"
        );
    }
    if !(200..300).contains(&status) {
        let err =
            zoho_desk_mcp::zoho::UpstreamError::from_response(status, &bytes, Default::default());
        return Err(sentence(ZohoError::Upstream(err)));
    }
    let body: Value = serde_json::from_slice(&bytes)
        .context("Zoho answered the organization list with a body that is not JSON")?;
    Ok(body
        .get("data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let id = zoho_desk_mcp::zoho::lenient::as_string(o.get("id")?)?;
            let name = o
                .get("companyName")
                .or_else(|| o.get("portalName"))
                .and_then(Value::as_str)
                .unwrap_or("(unnamed)")
                .to_owned();
            Some((id, name))
        })
        .collect())
}

fn pick_org(
    orgs: &[(String, String)],
    wanted: Option<&str>,
    interactive: bool,
) -> anyhow::Result<(String, String)> {
    let listing = || {
        orgs.iter()
            .map(|(id, name)| format!("{id} ({name})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(wanted) = wanted {
        return orgs
            .iter()
            .find(|(id, _)| id == wanted.trim())
            .cloned()
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "the token does not see org {wanted}; it sees: {}",
                    listing()
                )
            });
    }
    match orgs {
        [] => anyhow::bail!("the token sees no Zoho Desk organization"),
        [one] => Ok(one.clone()),
        _ if interactive => {
            for (i, (id, name)) in orgs.iter().enumerate() {
                eprintln!("  {}. {name} ({id})", i + 1);
            }
            let answer = prompt("Which org (number)").unwrap_or_default();
            answer
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| orgs.get(i))
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("`{answer}` is not one of the numbers listed"))
        }
        _ => anyhow::bail!(
            "the token sees several orgs; pass --org-id with one of: {}",
            listing()
        ),
    }
}

/// The browser flow: prints the consent URL, waits for Zoho's redirect to the loopback callback,
/// checks `state`, and returns the code, the redirect URI it is bound to, and the data centre
/// Zoho names in `accounts-server` when that differs from the one configured.
async fn browser_flow(
    args: &ConnectArgs,
    accounts_url: &Url,
    client_id: &str,
) -> anyhow::Result<(Secret, String, Option<DataCentre>)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| {
            format!(
                "could not listen on 127.0.0.1:{} for the callback",
                args.port
            )
        })?;
    let port = listener.local_addr()?.port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let state = random_hex(16)?;
    let url =
        oauth::authorization_url(accounts_url, client_id, &redirect_uri, &state, DESK_SCOPES)?;
    eprintln!(
        "Open this URL in a browser, sign in and accept (the client's redirect URI must be {redirect_uri}):\n\n  {url}\n"
    );
    let wait = Duration::from_secs(args.wait_secs);
    let found = tokio::time::timeout(wait, async {
        loop {
            let (mut socket, _) = listener.accept().await?;
            let mut buf = vec![0u8; 8192];
            let mut len = 0;
            while len < buf.len() {
                let n = socket.read(&mut buf[len..]).await?;
                if n == 0 {
                    break;
                }
                len += n;
                if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&buf[..len]).into_owned();
            let target = head
                .lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .unwrap_or("/");
            let Ok(parsed) = Url::parse(&format!("http://127.0.0.1{target}")) else {
                continue;
            };
            if parsed.path() != "/callback" {
                let _ = respond(&mut socket, 404, "Not the callback.").await;
                continue;
            }
            let get = |k: &str| {
                parsed
                    .query_pairs()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.into_owned())
            };
            if get("state").as_deref() != Some(state.as_str()) {
                let _ = respond(&mut socket, 400, "The state does not match this sign-in; start `deskhand connect` again.").await;
                return Ok::<_, std::io::Error>(Err(anyhow::anyhow!(
                    "the callback's state does not match the one deskhand sent; the redirect did not come from this sign-in, so nothing was saved"
                )));
            }
            if let Some(error) = get("error") {
                let _ = respond(&mut socket, 400, "Access was not granted; you can close this tab.").await;
                return Ok(Err(anyhow::anyhow!(
                    "Zoho did not grant access ({error}); accept the consent page to connect"
                )));
            }
            let Some(code) = get("code") else {
                let _ = respond(&mut socket, 400, "No code in the callback.").await;
                continue;
            };
            let _ = respond(&mut socket, 200, "deskhand is connected; you can close this tab.").await;
            let dc = get("accounts-server").and_then(|server| {
                let host = Url::parse(&server).ok()?.host_str()?.to_owned();
                if Some(host.as_str()) == accounts_url.host_str() {
                    return None;
                }
                DataCentre::ALL.into_iter().find(|d| d.accounts_host() == host)
            });
            return Ok(Ok((Secret::new(code), dc)));
        }
    })
    .await
    .map_err(|_| {
        anyhow::anyhow!(
            "no callback within {} s; run `deskhand connect --browser` again and accept the consent page",
            args.wait_secs
        )
    })??;
    let (code, dc) = found?;
    Ok((code, redirect_uri, dc))
}

async fn respond(
    socket: &mut tokio::net::TcpStream,
    status: u16,
    text: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let body = format!("<!DOCTYPE html><html><body><p>{text}</p></body></html>");
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(body.as_bytes()).await?;
    socket.shutdown().await
}

fn random_hex(bytes: usize) -> anyhow::Result<String> {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; bytes];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| anyhow::anyhow!("the system random source failed"))?;
    Ok(hex::encode(buf))
}
