//! The integration definition as data: resources.yaml (what can be called and how) and
//! documentation.yaml (what the model is told and which arguments exist). Only the YAML shape lives
//! here; checking it and turning it into tools happens in `catalog/build.rs`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    #[error("{file}:{location}: {message}")]
    Syntax {
        file: String,
        location: String,
        message: String,
    },
    #[error("{at}: {message}")]
    Invalid { at: String, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResourcesFile {
    pub integration: String,
    pub resources: BTreeMap<String, Spanned<ResourceDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResourceDef {
    pub singular: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub methods: BTreeMap<String, Spanned<MethodDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MethodDef {
    #[serde(default)]
    pub kind: Option<DeclaredKind>,
    pub http: Option<String>,
    pub path: Option<String>,
    pub access: Option<Access>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub pagination: Option<PaginationStyle>,
    pub envelope: Option<EnvelopeKey>,
    #[serde(default)]
    pub count: bool,
    pub page_size: Option<PageSize>,
    pub max_offset: Option<u64>,
    pub hints: Option<HintOverrides>,
    /// Query arguments that are sent as body fields too (an OAS that declares a field in both
    /// places, where commits disagree on which one is required).
    #[serde(default)]
    pub also_in_body: Vec<String>,
    /// What the tool returns when Zoho answers a success with no body.
    pub empty_result: Option<EmptyResult>,
    /// Arguments required only when another argument has a given value: the OAS's `oneOf`
    /// body variants by discriminator, which the schema subset cannot say.
    #[serde(default)]
    pub required_when: Vec<RequiredWhen>,
    /// Arguments that must each be one e-mail address (the OAS `pattern` the schema subset
    /// cannot enforce).
    #[serde(default)]
    pub email_args: Vec<String>,
}

/// `{set: {...}, echo: [args]}`: the fixed fields plus the named arguments as they were sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmptyResult {
    #[serde(default)]
    pub set: serde_json::Map<String, Value>,
    #[serde(default)]
    pub echo: Vec<String>,
}

/// `{when: {channel: EMAIL}, fields: [fromEmailAddress]}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequiredWhen {
    pub when: BTreeMap<String, String>,
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DeclaredKind {
    Http,
    Composite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Access {
    Read,
    Write,
}

/// How an endpoint pages. Zoho pages by offset (`from`) and `limit`, but KB endpoints count `from`
/// from 1, and teams come in their own envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaginationStyle {
    /// Plain lists, where Zoho's own sources disagree on whether `from` counts from 0 or from 1
    /// (both treat 0 and 1 as "the start"). The gateway asks for one item of overlap and drops
    /// it if it is the previous page's last item, which is correct under either reading.
    Offset,
    /// Strictly 0-based `from` (the search endpoints).
    Offset0,
    Offset1,
    Teams,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvelopeKey {
    Data,
    Teams,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageSize {
    pub min: u64,
    pub max: u64,
    pub default: u64,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HintOverrides {
    pub read_only: Option<bool>,
    pub destructive: Option<bool>,
    pub idempotent: Option<bool>,
    pub open_world: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DocumentationFile {
    /// Anchors for shared schemas; not read directly.
    #[serde(default)]
    #[allow(dead_code)]
    pub schemas: Option<Value>,
    pub records: BTreeMap<String, Spanned<DocRecord>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DocRecord {
    pub title: Option<String>,
    pub description: String,
    pub path_schema: Option<Value>,
    pub query_schema: Option<Value>,
    pub body_schema: Option<Value>,
    pub input_schema: Option<Value>,
    pub response_schema: Option<Value>,
}

pub(crate) fn parse_yaml<T: for<'de> Deserialize<'de>>(
    text: &str,
    file: &str,
) -> Result<T, DefinitionError> {
    serde_saphyr::from_str(text).map_err(|e| DefinitionError::Syntax {
        file: file.to_string(),
        location: e
            .location()
            .map(|l| format!("{}:{}", l.line(), l.column()))
            .unwrap_or_else(|| "?".to_string()),
        message: e.to_string(),
    })
}

pub(crate) fn at<T>(file: &str, spanned: &Spanned<T>) -> String {
    format!(
        "{file}:{}:{}",
        spanned.referenced.line(),
        spanned.referenced.column()
    )
}
