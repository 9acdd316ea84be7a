//! integration/zoho-desk/oas/extract.py turns raw OAS module files into the facts-only extract.
//! It is held to a small made-up module (tests/fixtures/oas/v1.0/Gadget.json, our own words) whose
//! expected extract was checked by hand: `$ref`s resolved or named per the extract's conventions,
//! every piece of prose dropped, and the notes of an earlier extract kept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("deskhand-oas-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run_script(out: &Path) {
    let status = Command::new("python3")
        .arg(manifest().join("integration/zoho-desk/oas/extract.py"))
        .arg("--src")
        .arg(manifest().join("tests/fixtures/oas/v1.0"))
        .arg("--out")
        .arg(out)
        .args(["--commit", COMMIT, "Gadget"])
        .status()
        .expect("python3 runs (it is on every development machine and in CI)");
    assert!(status.success(), "extract.py failed: {status}");
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_script_turns_a_raw_module_into_the_expected_extract() {
    let out = out_dir("extract");
    let expected = read(&manifest().join("tests/fixtures/oas/expected/Gadget.json"));
    // An earlier extract with our notes: regenerating must keep them.
    std::fs::write(
        out.join("Gadget.json"),
        serde_json::to_string(&serde_json::json!({"notes": expected["notes"]})).unwrap(),
    )
    .unwrap();
    run_script(&out);
    let got = read(&out.join("Gadget.json"));
    assert_eq!(got, expected);

    // No prose of the raw file survives, whatever the keyword.
    let text = std::fs::read_to_string(out.join("Gadget.json")).unwrap();
    for prose in [
        "prose",
        "drop me",
        "words",
        "a page",
        "invented",
        "x-internal",
        "example",
        "gone",
    ] {
        assert!(!text.contains(prose), "`{prose}` leaked into the extract");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_missing_module_is_one_clear_error() {
    let out = out_dir("missing");
    let output = Command::new("python3")
        .arg(manifest().join("integration/zoho-desk/oas/extract.py"))
        .arg("--src")
        .arg(manifest().join("tests/fixtures/oas/v1.0"))
        .arg("--out")
        .arg(&out)
        .args(["--commit", COMMIT, "Nothing"])
        .output()
        .expect("python3 runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot read") && !stderr.contains("Traceback"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
