//! `deskhand sandbox` as a user runs it: connection details on one JSON line, a working token
//! endpoint and API, a bad seed file refused clearly, and a clean stop on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncBufReadExt;

#[tokio::test]
async fn sandbox_prints_json_serves_zoho_and_stops_on_sigterm() {
    zoho_desk_mcp::install_crypto_provider();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_deskhand"))
        .args([
            "sandbox",
            "--port",
            "0",
            "--json",
            "--token-ttl-secs",
            "120",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let info: Value = serde_json::from_str(&line).unwrap();
    for key in [
        "base_url",
        "accounts_url",
        "org_id",
        "client_id",
        "client_secret",
        "refresh_token",
    ] {
        assert!(
            info[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key} in {line}"
        );
    }

    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!(
            "{}/oauth/v2/token",
            info["accounts_url"].as_str().unwrap()
        ))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", info["refresh_token"].as_str().unwrap()),
            ("client_id", info["client_id"].as_str().unwrap()),
            ("client_secret", info["client_secret"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(token["expires_in"], 120);
    let departments: Value = http
        .get(format!(
            "{}/api/v1/departments",
            info["base_url"].as_str().unwrap()
        ))
        .header(
            "Authorization",
            format!(
                "Zoho-oauthtoken {}",
                token["access_token"].as_str().unwrap()
            ),
        )
        .header("orgId", info["org_id"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!departments["data"].as_array().unwrap().is_empty());

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "clean exit on SIGTERM, got {status:?}");
}

#[tokio::test]
async fn a_broken_seed_file_is_one_clear_error() {
    let path = std::env::temp_dir().join(format!("deskhand-bad-seed-{}.json", std::process::id()));
    std::fs::write(&path, "{\"departments\": [\n  {\"id\": \"1\",}\n]}").unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_deskhand"))
        .args(["sandbox", "--port", "0", "--seed-file"])
        .arg(&path)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
