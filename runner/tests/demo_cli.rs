//! `deskhand demo --database FILE` through the binary: it replaces its own earlier store and
//! nothing else unless told to.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::temp_path;
use deskhand::store::{NewRun, Store, Trigger};
use zoho_desk_mcp::registry::database::{remove_sqlite_files, sqlite_url};

/// Runs the demo on one ticket from the repository root (it needs the shipped workflows).
fn demo(db: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deskhand"))
        .args(["demo", "--tickets", "1", "--database"])
        .arg(db)
        .args(extra)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .env("RUST_LOG", "off")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .output()
        .expect("deskhand runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_file_that_is_not_a_demo_store_is_refused_and_kept() {
    let db = temp_path("demo-precious", "db");
    std::fs::write(&db, "not a database, and not the demo's").unwrap();
    let out = demo(&db, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "error: {} exists and is not an earlier demo's store; the demo replaces its store, so pass --replace to delete it, or choose another --database\n",
            db.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(&db).unwrap(),
        "not a database, and not the demo's"
    );

    let out = demo(&db, &["--replace"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !std::fs::read(&db).unwrap().starts_with(b"not a database"),
        "--replace replaced it"
    );
    remove_sqlite_files(&db);
}

#[tokio::test]
async fn a_real_run_store_is_refused_and_its_runs_kept() {
    let db = temp_path("demo-real-store", "db");
    let store = Store::connect(&sqlite_url(&db.to_string_lossy()))
        .await
        .unwrap();
    let run = store
        .create_run(&NewRun::new(
            "triage-and-assign",
            Trigger::Schedule,
            "replica",
        ))
        .await
        .unwrap();
    let out = demo(&db, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not an earlier demo's store"),
        "{}",
        stderr(&out)
    );
    assert!(store.get_run(run).await.unwrap().is_some());
    remove_sqlite_files(&db);
}

#[test]
fn an_earlier_demo_store_is_replaced() {
    let db = temp_path("demo-again", "db");
    for _ in 0..2 {
        let out = demo(&db, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    remove_sqlite_files(&db);
}
