//! What `validate` and `schedule` make of hostile and careless workflow directories, through the
//! binary: prompts outside the workflow's directory, entries that cannot be workflows, bytes that
//! are not UTF-8, durations too long to hold, and a SIGHUP reload that is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod scheduler_support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use scheduler_support::{ScheduleProcess, temp_dir, wait_for};

/// A workflow body after `name:`, with `prompt` as its prompt path.
fn workflow(name: &str, prompt: &str, extra: &str) -> String {
    format!(
        "version: 1\nname: {name}\ndescription: test\ntools: [list_all_zoho_desk_tickets]\nprompt: {prompt}\n{extra}"
    )
}

/// `root/workflows/ok.yaml` with its prompt in `root/prompts/`, the repository's layout.
fn project() -> std::path::PathBuf {
    let root = temp_dir("wf-files");
    std::fs::create_dir_all(root.join("workflows")).unwrap();
    std::fs::create_dir_all(root.join("prompts")).unwrap();
    std::fs::write(root.join("prompts/plain.md"), "Summarise the backlog.\n").unwrap();
    std::fs::write(
        root.join("workflows/ok.yaml"),
        workflow("ok", "../prompts/plain.md", ""),
    )
    .unwrap();
    root
}

fn deskhand(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deskhand"))
        .args(args)
        .current_dir(root)
        .env("RUST_LOG", "off")
        .env_remove("DESKHAND_ALLOW_OUTSIDE_PROMPTS")
        .env_remove("DESKHAND_WORKFLOWS")
        .output()
        .expect("deskhand runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn prompts_stay_in_the_workflow_directory_unless_the_operator_allows_more() {
    let root = project();
    let outside = temp_dir("wf-secret").join("secret.md");
    std::fs::write(&outside, "the secret\n").unwrap();
    let secret = std::fs::canonicalize(&outside).unwrap();
    let up = "../".repeat(root.components().count() + 2);
    let escape = format!(
        "{up}{}",
        secret.display().to_string().trim_start_matches('/')
    );
    let files = [
        ("dotdot.yaml", workflow("dotdot", &escape, "")),
        (
            "absolute.yaml",
            workflow("absolute", &secret.display().to_string(), ""),
        ),
        (
            "system.yaml",
            workflow(
                "system",
                "../prompts/plain.md",
                &format!("system_prompt: {}\n", secret.display()),
            ),
        ),
    ];
    for (file, body) in &files {
        std::fs::write(root.join("workflows").join(file), body).unwrap();
    }
    // A symbolic link inside the directory is judged by where it leads.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&secret, root.join("prompts/linked.md")).unwrap();
        std::fs::write(
            root.join("workflows/linked.yaml"),
            workflow("linked", "../prompts/linked.md", ""),
        )
        .unwrap();
    }

    let out = deskhand(&root, &["validate"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let refusal = format!(
        "{} resolves outside the workflow's directory (prompt files must be under {} or {}; run with --allow-outside-prompts to allow any path)",
        secret.display(),
        std::fs::canonicalize(root.join("workflows"))
            .unwrap()
            .display(),
        std::fs::canonicalize(root.join("prompts"))
            .unwrap()
            .display(),
    );
    assert!(
        text.contains(&format!("err workflows/dotdot.yaml:5:9: prompt: {refusal}")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "err workflows/absolute.yaml:5:9: prompt: {refusal}"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "err workflows/system.yaml:6:16: system_prompt: {refusal}"
        )),
        "{text}"
    );
    #[cfg(unix)]
    assert!(
        text.contains(&format!("err workflows/linked.yaml:5:9: prompt: {refusal}")),
        "{text}"
    );
    assert!(text.contains("ok  workflows/ok.yaml"), "{text}");

    for allow in [
        vec!["--allow-outside-prompts", "validate"],
        vec!["validate", "--allow-outside-prompts"],
    ] {
        let out = deskhand(&root, &allow);
        assert_eq!(out.status.code(), Some(0), "{allow:?}: {}", stdout(&out));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_deskhand"))
        .arg("validate")
        .current_dir(&root)
        .env("DESKHAND_ALLOW_OUTSIDE_PROMPTS", "true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn entries_that_cannot_be_workflows_are_each_one_error_naming_the_path() {
    let root = project();
    let dir = root.join("workflows");
    std::fs::create_dir(dir.join("folder.yaml")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        symlink("nowhere.yaml", dir.join("dangling.yaml")).unwrap();
        symlink("loop-b.yaml", dir.join("loop-a.yaml")).unwrap();
        symlink("loop-a.yaml", dir.join("loop-b.yaml")).unwrap();
    }
    std::fs::write(
        dir.join("latin1.yaml"),
        b"version: 1\nname: latin\ndescription: \"caf\xe9\"\n",
    )
    .unwrap();

    let out = deskhand(&root, &["validate"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let mut expected = vec![
        "err workflows/folder.yaml: is a directory, not a workflow file",
        "err workflows/latin1.yaml:3:18: not valid UTF-8 (a workflow file is UTF-8 text)",
        "ok  workflows/ok.yaml (ok: 1 tool, writes approve, no schedule)",
    ];
    #[cfg(unix)]
    expected.extend([
        "err workflows/dangling.yaml: dangling symbolic link: its target nowhere.yaml does not exist",
        "err workflows/loop-a.yaml: symbolic link that cannot be followed (a link loop?): ",
        "err workflows/loop-b.yaml: symbolic link that cannot be followed (a link loop?): ",
    ]);
    for line in &expected {
        assert!(text.lines().any(|l| l.starts_with(line)), "{line}\n{text}");
    }
    assert_eq!(text.lines().count(), expected.len(), "{text}");

    // The scheduler refuses the same directory at start, naming each path.
    let out = deskhand(&root, &["schedule", "--metrics-addr", "off"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8(out.stderr).unwrap();
    assert!(
        said.contains("workflows/folder.yaml: is a directory"),
        "{said}"
    );
    assert!(said.contains("workflows/latin1.yaml:3:18"), "{said}");
}

#[test]
fn durations_too_long_to_hold_are_refused_before_anything_runs() {
    let root = project();
    std::fs::write(
        root.join("workflows/slow.yaml"),
        workflow(
            "slow",
            "../prompts/plain.md",
            "limits: { item_timeout: 5000000000000000h }\n",
        ),
    )
    .unwrap();
    let out = deskhand(&root, &["validate", "workflows/slow.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "err workflows/slow.yaml:6:25: limits.item_timeout: 5000000000000000h is longer than the longest item budget, 24h\n"
    );
    let out = deskhand(&root, &["run", "workflows/slow.yaml", "--sandbox"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is longer than the longest item budget"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = deskhand(
        &root,
        &[
            "schedule",
            "--metrics-addr",
            "off",
            "--grace",
            "5000000000000000h",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8(out.stderr).unwrap();
    assert!(
        said.contains("`5000000000000000h` is longer than the longest grace period, 24h"),
        "{said}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_refused_reload_shows_on_healthz_and_in_the_metrics() {
    zoho_desk_mcp::install_crypto_provider();
    let root = project();
    let dir = root.join("workflows");
    let db = common::temp_path("wf-reload", "db");
    let mut process = ScheduleProcess::spawn(
        &[
            "--sandbox",
            "--workflows",
            dir.to_str().unwrap(),
            "--database-url",
            db.to_str().unwrap(),
            "--metrics-addr",
            "127.0.0.1:0",
        ],
        &[],
    );
    let serving = process
        .log_line("serving /healthz and /metrics", Duration::from_secs(60))
        .await;
    let addr = serving["fields"]["addr"].as_str().unwrap().to_owned();
    process
        .log_line("scheduler started", Duration::from_secs(30))
        .await;
    let http = reqwest::Client::new();
    let get = |path: &'static str| {
        let http = http.clone();
        let url = format!("http://{addr}{path}");
        async move {
            let response = http.get(url).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    assert_eq!(get("/healthz").await, (200, "ok\n".to_owned()));
    assert!(
        get("/metrics")
            .await
            .1
            .contains("deskhand_reloads_refused_total 0\n")
    );

    std::os::unix::fs::symlink("gone.yaml", dir.join("broken.yaml")).unwrap();
    process.signal("HUP");
    let health = wait_for(Duration::from_secs(30), "a degraded /healthz", || async {
        let (status, body) = get("/healthz").await;
        body.starts_with("degraded").then_some((status, body))
    })
    .await;
    assert_eq!(
        health,
        (
            200,
            format!(
                "degraded: the last reload was refused, the previous workflows stay scheduled: {}: dangling symbolic link: its target gone.yaml does not exist\n",
                dir.join("broken.yaml").display()
            )
        )
    );
    assert!(
        get("/metrics")
            .await
            .1
            .contains("deskhand_reloads_refused_total 1\n")
    );

    // A reload that succeeds clears it; the count stays.
    std::fs::remove_file(dir.join("broken.yaml")).unwrap();
    process.signal("HUP");
    wait_for(Duration::from_secs(30), "a healthy /healthz", || async {
        (get("/healthz").await == (200, "ok\n".to_owned())).then_some(())
    })
    .await;
    assert!(
        get("/metrics")
            .await
            .1
            .contains("deskhand_reloads_refused_total 1\n")
    );
    process.signal("TERM");
    assert_eq!(process.exit_code(Duration::from_secs(60)).await, Some(0));
    zoho_desk_mcp::registry::database::remove_sqlite_files(&db);
}
