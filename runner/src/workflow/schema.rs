//! The JSON Schema of workflow files, generated from [`WorkflowFile`] so that it cannot drift from
//! what the parser accepts (a test compares it with the committed `workflows/schema.json`).

use super::WorkflowFile;

/// Where the generated schema is committed, relative to the workspace root.
pub const SCHEMA_PATH: &str = "workflows/schema.json";

/// The schema as a JSON value.
pub fn workflow_schema() -> serde_json::Value {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<WorkflowFile>();
    schema.to_value()
}

/// The schema as committed: pretty-printed with a trailing newline.
pub fn workflow_schema_json() -> String {
    let mut text =
        serde_json::to_string_pretty(&workflow_schema()).unwrap_or_else(|_| "{}".to_string());
    text.push('\n');
    text
}
