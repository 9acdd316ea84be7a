//! `workflows/schema.json` is generated from the Rust types and must match them.
//! `DESKHAND_UPDATE_SCHEMA=1 cargo test -p deskhand --test workflow_schema` rewrites it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use deskhand::workflow::{SCHEMA_PATH, workflow_schema, workflow_schema_json};

#[test]
fn committed_schema_matches_the_rust_types() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(SCHEMA_PATH);
    let generated = workflow_schema_json();
    if std::env::var_os("DESKHAND_UPDATE_SCHEMA").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date; regenerate it with DESKHAND_UPDATE_SCHEMA=1 cargo test -p deskhand --test workflow_schema",
        path.display()
    );
}

#[test]
fn schema_is_strict_about_keys_and_documents_the_choices() {
    let schema = workflow_schema();
    assert_eq!(schema["additionalProperties"], false);
    let required = schema["required"].as_array().unwrap();
    for key in ["version", "name", "description", "tools", "prompt"] {
        assert!(required.iter().any(|r| r == key), "{key} is required");
    }
    let text = schema.to_string();
    for word in [
        "apply",
        "dry_run",
        "approve",
        "openai_compatible",
        "embedded",
        "skip",
        "queue",
        "latest",
    ] {
        assert!(
            text.contains(&format!("\"{word}\"")),
            "{word} missing from the schema"
        );
    }
    assert_eq!(schema["properties"]["name"]["pattern"], "^[a-z0-9-]+$");
}
