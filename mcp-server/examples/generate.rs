//! Regenerates integration/zoho-desk/generated/{resources,documentation}.yaml from the OAS
//! extract and the curated resources.yaml, and the coverage table in the README.
//!
//! `cargo run -p zoho-desk-mcp --example generate` (the `generated_definition` test says when
//! this is due).

use std::path::Path;
use std::process::ExitCode;

use zoho_desk_mcp::catalog::{Catalog, generate};

const START: &str = "<!-- coverage:start -->";
const END: &str = "<!-- coverage:end -->";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("generate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let integration = crate_dir.join("integration/zoho-desk");
    let out = generate::from_folder(&integration).map_err(|e| e.to_string())?;
    let dir = integration.join("generated");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))
    };
    write("resources.yaml", &out.resources_yaml)?;
    write("documentation.yaml", &out.documentation_yaml)?;

    let curated = Catalog::zoho_desk()
        .map_err(|e| e.to_string())?
        .tools()
        .len();
    let table = generate::coverage_table(&out.coverage, curated);
    let readme_path = crate_dir.join("../README.md");
    let readme = std::fs::read_to_string(&readme_path).map_err(|e| e.to_string())?;
    let (Some(a), Some(b)) = (readme.find(START), readme.find(END)) else {
        return Err(format!("README.md has no {START} … {END} block"));
    };
    let updated = format!("{}{START}\n{table}{}", &readme[..a], &readme[b..]);
    std::fs::write(&readme_path, updated).map_err(|e| e.to_string())?;
    let generated: usize = out.coverage.iter().map(|c| c.generated).sum();
    eprintln!("generate: {generated} generated tools, {curated} curated");
    Ok(())
}
