//! Property tests of the workflow parser: arbitrary bytes, YAML-ish token soup and mutated valid
//! workflows never make it panic, and every refusal is one clear error that starts with the file
//! (and `:line:col` when it has a position, which then lies inside the text).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use deskhand::workflow::{MAX_ITEM_TIMEOUT, Workflow, WorkflowError, WorkflowErrorKind};
use proptest::prelude::*;
use zoho_desk_mcp::catalog::Catalog;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workflows")
}

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::zoho_desk().expect("embedded catalog"))
}

/// Bounded so the whole file runs in seconds; no regression files written into the tree.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The checks every refusal must pass, for workflow `path` holding `text`.
fn assert_clear(path: &Path, text: &str, error: &WorkflowError) {
    let shown = error.to_string();
    let message = error.message();
    assert!(!message.trim().is_empty(), "empty message for {text:?}");
    assert!(
        !shown.contains("panicked") && !message.contains("Some("),
        "{shown}"
    );
    // Template errors point into the prompt file, where the fix goes; everything else at the
    // workflow file.
    let prompt_error = matches!(
        error.kind,
        WorkflowErrorKind::Template(_) | WorkflowErrorKind::UnknownVariable { .. }
    );
    if !prompt_error {
        assert!(
            shown.starts_with(&path.display().to_string()),
            "{shown} (for {text:?})"
        );
    }
    if let Some(position) = error.position {
        assert!(
            shown.contains(&format!(":{}:{}: ", position.line, position.col)),
            "{shown}"
        );
        if !prompt_error {
            // YAML breaks lines at "\r\n", "\n" and a lone "\r" alike, and so do positions.
            let lines = text.replace("\r\n", "\n").split(['\n', '\r']).count() as u64;
            assert!(
                position.line >= 1 && position.line <= lines.max(1),
                "line {} of {lines} in {shown} (for {text:?})",
                position.line
            );
            assert!(position.col >= 1, "{shown}");
        }
    }
    if matches!(error.kind, WorkflowErrorKind::Yaml(_)) && !text.trim().is_empty() {
        // A syntax or shape error in a non-empty file points somewhere.
        assert!(
            error.position.is_some(),
            "no position: {shown} (for {text:?})"
        );
    }
}

/// Pieces of workflow files, right and wrong, for the token soup.
const TOKENS: &[&str] = &[
    "version: 1\n",
    "version: 2\n",
    "name: soup\n",
    "name: \"Bad Name\"\n",
    "description: d\n",
    "tools: [list_all_zoho_desk_tickets]\n",
    "tools: [\n",
    "prompt: ../prompts/plain.md\n",
    "prompt: ../../../../etc/passwd\n",
    "system_prompt: ../prompts/system.md\n",
    "schedule: \"*/15 * * * *\"\n",
    "schedule: \"99 * * * *\"\n",
    "timezone: Mars/Olympus\n",
    "limits: { item_timeout: 5000000000000000h }\n",
    "limits: { item_timeout: 18446744073709551615ms, concurrency: 0 }\n",
    "limits:\n  max_steps: -1\n",
    "for_each: { tool: list_all_zoho_desk_tickets, args: { status: \"{{ inputs.x }}\" } }\n",
    "inputs: { x: 1 }\n",
    "mcp: { url: \"http://[::1\" }\n",
    "mcp: { command: [] }\n",
    "model: { provider: openai, temperature: 9e999 }\n",
    "output: { schema: { type: object } }\n",
    "writes: sometimes\n",
    "&anchor ",
    "*anchor\n",
    "<<: *anchor\n",
    "!!binary ",
    "? complex\n",
    "%YAML 1.2\n---\n",
    "...\n",
    "- ",
    "  ",
    "\t",
    ": ",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "'",
    "#",
    "\n",
    "\u{1b}[31m",
    "\u{feff}",
    "é",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..24).prop_map(|t| t.concat())
}

/// A valid workflow with some bytes replaced, some cut off, or some inserted.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let valid = std::fs::read(fixtures().join("valid/full.yaml")).unwrap();
    let len = valid.len();
    (
        prop::collection::vec((0..len, any::<u8>()), 0..6),
        0..=len,
        prop::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(move |(edits, cut, insert)| {
            let mut bytes = valid.clone();
            for (at, byte) in edits {
                bytes[at] = byte;
            }
            bytes.truncate(cut);
            let at = bytes.len() / 2;
            bytes.splice(at..at, insert);
            bytes
        })
}

/// Loads `bytes` as a workflow file next to the fixtures' prompts, through the file path (so
/// invalid UTF-8 takes the same route as on disk).
fn load_bytes(bytes: &[u8]) {
    let dir = fixtures().join("valid");
    let path = common::temp_path("prop", "yaml");
    let path = dir.join(path.file_name().unwrap());
    std::fs::write(&path, bytes).unwrap();
    let result = Workflow::load(&path, catalog());
    std::fs::remove_file(&path).unwrap();
    if let Err(error) = result {
        let text = String::from_utf8_lossy(bytes);
        assert_clear(&path, &text, &error);
        if std::str::from_utf8(bytes).is_err() {
            // Not UTF-8: the position of the first bad byte.
            assert!(error.position.is_some(), "{error}");
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_are_refused_clearly(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        load_bytes(&bytes);
    }

    #[test]
    fn mutated_workflows_are_loaded_or_refused_clearly(bytes in mutated()) {
        load_bytes(&bytes);
    }

    #[test]
    fn yaml_ish_text_is_loaded_or_refused_clearly(text in soup()) {
        let path = fixtures().join("valid/soup.yaml");
        match Workflow::from_source(&path, &text, catalog()) {
            // What loads can run: its item budget is one the timers can hold.
            Ok(w) => prop_assert!(w.limits.item_timeout <= MAX_ITEM_TIMEOUT),
            Err(error) => assert_clear(&path, &text, &error),
        }
    }
}
