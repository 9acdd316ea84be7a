//! Writes the generated half of the integration definition (integration/zoho-desk/generated/)
//! from the facts-only extract of Zoho's OpenAPI description (integration/zoho-desk/oas/), for
//! every operation that no curated method of resources.yaml already covers (same HTTP method and
//! path). `cargo run -p zoho-desk-mcp --example generate` rewrites the files; a test fails when
//! the checked-in files differ from what this module produces.
//!
//! Decisions, in one place:
//! - Names follow the managed-gateway convention. A resource is named by its path: the singular
//!   of each parent collection, then the collection (`/tickets/{id}/timeEntry` →
//!   `ticket_time_entry`), reusing the curated resource name where the curated definition already
//!   names that collection (`/articles` → `kb_articles`). An action segment after a collection or
//!   an item (`/tasks/updateMany`, `/tickets/{id}/merge`) is a custom method on that resource. When
//!   two operations would get the same name, both take their operationId as the method instead.
//! - Arguments stay one flat object. On a name clash the path parameter wins over a query
//!   parameter, and a query parameter over a body field; the dropped one is named in the tool's
//!   description (the value then goes to the place that won).
//! - `orgId` is not an argument: the client sends it as a header on every call. Other header
//!   parameters are not sent either; the description names them.
//! - Paging: an operation with `from` and `limit` and a `data` (or `teams`) array in its answer is
//!   paged by the gateway when the extract bounds `limit`; `from`'s minimum picks the style (0 →
//!   offset0, 1 → offset1, undeclared → offset with the overlap item). Without a bound for
//!   `limit`, `from` and `limit` stay plain arguments: the gateway never invents a page size.
//! - Schemas keep what the gateway's validator enforces (types, enums, bounds, required,
//!   properties, items). Patterns (written for Java's regex engine) and other keywords are left
//!   to Zoho. `oneOf` variants merge into one object whose required fields are those all variants
//!   require; `allOf` parts merge with their required fields added up.
//! - Not generated: multipart uploads, binary downloads and bodies defined in another module's
//!   file (the extract does not carry them). The coverage table lists them.
//! - Descriptions are ours, built from facts (method, path, module, operationId); no response
//!   schemas are generated (the extract cuts response shapes and Zoho's answers vary).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::naming;
use super::{MethodKind, naming::tool_name};

const INTEGRATION: &str = "zoho_desk";
const API_PREFIX: &str = "/api/v1";
/// OpenAI's limit for function names; the MCP limit (128) is looser.
pub const MAX_TOOL_NAME: usize = 64;
/// Schemas nested deeper than this become `{}` (anything): Zoho still checks them.
const MAX_DEPTH: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    #[error("{file}: {message}")]
    Extract { file: String, message: String },
    #[error("resources.yaml: {0}")]
    Curated(String),
    #[error("{0}")]
    Naming(String),
}

/// The generator's output: the two definition files and the coverage per module.
#[derive(Debug, Clone)]
pub struct Generated {
    pub resources_yaml: String,
    pub documentation_yaml: String,
    pub coverage: Vec<ModuleCoverage>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleCoverage {
    pub module: String,
    pub operations: usize,
    /// Operations a curated method of resources.yaml calls.
    pub curated: usize,
    /// Operations with a generated tool.
    pub generated: usize,
    /// `(operationId, why)` for operations with no tool.
    pub skipped: Vec<(String, &'static str)>,
}

/// One extract file: its file name (`Ticket.json`) and text.
pub struct ExtractFile<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

struct Module {
    name: String,
    shapes: Map<String, Value>,
    operations: Vec<Value>,
}

struct Curated {
    /// `(METHOD, /api/v1 path with {} placeholders)`.
    covered: BTreeSet<(String, String)>,
    /// Collection path (with `{}` placeholders, without /api/v1) → (resource, singular, tags).
    collections: BTreeMap<String, (String, String, Vec<String>)>,
    pairs: BTreeSet<(String, String)>,
    names: BTreeSet<String>,
}

struct Planned {
    module: String,
    operation_id: String,
    http: String,
    resource: String,
    singular: String,
    resource_tags: Vec<String>,
    method: String,
    kind: MethodKind,
    def: Map<String, Value>,
    record: Map<String, Value>,
    /// The operationId-based method to fall back to on a name clash.
    fallback: String,
}

/// Generates the definition for every extract operation not covered by `curated_resources`.
pub fn generate(
    extract: &[ExtractFile<'_>],
    curated_resources: &str,
) -> Result<Generated, GenerateError> {
    let curated = curated(curated_resources)?;
    let mut modules = Vec::new();
    for file in extract {
        let err = |message: String| GenerateError::Extract {
            file: file.name.to_owned(),
            message,
        };
        let doc: Value = serde_json::from_str(file.text).map_err(|e| err(e.to_string()))?;
        let name = doc["module"]
            .as_str()
            .ok_or_else(|| err("no `module`".into()))?
            .to_owned();
        modules.push(Module {
            name,
            shapes: doc["shapes"].as_object().cloned().unwrap_or_default(),
            operations: doc["operations"].as_array().cloned().unwrap_or_default(),
        });
    }
    modules.sort_by(|a, b| a.name.cmp(&b.name));

    // Collections: paths some GET lists or that have items (`/x/{id}`), curated or extracted. A
    // POST to a collection creates; a POST anywhere else is an action.
    let mut listed: BTreeSet<String> = curated.collections.keys().cloned().collect();
    for m in &modules {
        for op in &m.operations {
            let Some(path) = op["path"].as_str().map(|p| placeholders(strip_prefix(p))) else {
                continue;
            };
            if op["method"].as_str() == Some("GET") && envelope(op, &m.shapes).is_some() {
                listed.insert(path.clone());
            }
            if let Some(parent) = path.strip_suffix("/{}") {
                listed.insert(parent.to_owned());
            }
        }
    }

    let mut coverage = Vec::new();
    let mut planned = Vec::new();
    for m in &modules {
        let mut row = ModuleCoverage {
            module: m.name.clone(),
            operations: m.operations.len(),
            curated: 0,
            generated: 0,
            skipped: Vec::new(),
        };
        for op in &m.operations {
            let http = op["method"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_uppercase();
            let full = op["path"].as_str().unwrap_or_default();
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            if curated
                .covered
                .contains(&(http.clone(), placeholders(full)))
            {
                row.curated += 1;
                continue;
            }
            match plan(m, op, &http, &id, &curated, &listed) {
                Ok(p) => planned.push(p),
                Err(why) => row.skipped.push((id, why)),
            }
        }
        coverage.push(row);
    }

    settle_names(&mut planned, &curated)?;
    for p in &planned {
        if let Some(row) = coverage.iter_mut().find(|r| r.module == p.module) {
            row.generated += 1;
        }
    }
    Ok(Generated {
        resources_yaml: resources_yaml(&planned),
        documentation_yaml: documentation_yaml(&planned),
        coverage,
    })
}

/// Runs [`generate`] on an integration folder as laid out in this repository: the extract in
/// `oas/*.json` and the curated `resources.yaml`.
pub fn from_folder(integration: &std::path::Path) -> Result<Generated, GenerateError> {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|e| GenerateError::Extract {
            file: path.display().to_string(),
            message: e.to_string(),
        })
    };
    let oas = integration.join("oas");
    let entries = std::fs::read_dir(&oas).map_err(|e| GenerateError::Extract {
        file: oas.display().to_string(),
        message: e.to_string(),
    })?;
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = entry.file_name().to_string_lossy().into_owned();
            files.push((name, read(&path)?));
        }
    }
    files.sort();
    let extract: Vec<ExtractFile<'_>> = files
        .iter()
        .map(|(name, text)| ExtractFile { name, text })
        .collect();
    generate(&extract, &read(&integration.join("resources.yaml"))?)
}

/// The README's coverage table (Markdown), from [`Generated::coverage`].
pub fn coverage_table(coverage: &[ModuleCoverage], curated_tools: usize) -> String {
    let mut out = String::from(
        "| Module | Operations | Curated | Generated | Not exposed |\n|---|---:|---:|---:|---|\n",
    );
    let (mut ops, mut cur, mut generated) = (0, 0, 0);
    let rows: Vec<&ModuleCoverage> = coverage.iter().filter(|r| r.operations > 0).collect();
    for row in &rows {
        ops += row.operations;
        cur += row.curated;
        generated += row.generated;
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, why) in &row.skipped {
            *reasons.entry(why).or_default() += 1;
        }
        let skipped = reasons
            .iter()
            .map(|(why, n)| format!("{n} {why}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            row.module, row.operations, row.curated, row.generated, skipped
        ));
    }
    let skipped = ops - cur - generated;
    out.push_str(&format!(
        "| **all {} modules** | **{ops}** | **{cur}** | **{generated}** | **{skipped}** |\n\n",
        rows.len()
    ));
    out.push_str(&format!(
        "{} tools in all: {curated_tools} curated (the default listing, including the composite context tool) and {generated} generated.\n",
        curated_tools + generated
    ));
    out
}

fn curated(text: &str) -> Result<Curated, GenerateError> {
    let doc: Value =
        serde_saphyr::from_str(text).map_err(|e| GenerateError::Curated(e.to_string()))?;
    let mut out = Curated {
        covered: BTreeSet::new(),
        collections: BTreeMap::new(),
        pairs: BTreeSet::new(),
        names: BTreeSet::new(),
    };
    let resources = doc["resources"]
        .as_object()
        .ok_or_else(|| GenerateError::Curated("no `resources`".into()))?;
    for (resource, def) in resources {
        let singular = def["singular"].as_str().unwrap_or(resource).to_owned();
        let tags: Vec<String> = def["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect();
        for (method, m) in def["methods"].as_object().into_iter().flatten() {
            out.pairs.insert((resource.clone(), method.clone()));
            let kind = match method.as_str() {
                "list" => MethodKind::List,
                "get" => MethodKind::Get,
                "create" => MethodKind::Create,
                "update" => MethodKind::Update,
                "delete" => MethodKind::Delete,
                _ => MethodKind::Custom { read_only: true },
            };
            out.names
                .insert(tool_name(INTEGRATION, resource, &singular, method, kind));
            let Some(path) = m["path"].as_str() else {
                continue;
            };
            let http = m["http"].as_str().unwrap_or_default().to_ascii_uppercase();
            out.covered
                .insert((http, placeholders(&format!("{API_PREFIX}{path}"))));
            let collection = match kind {
                MethodKind::List | MethodKind::Create => Some(placeholders(path)),
                MethodKind::Get | MethodKind::Update | MethodKind::Delete => path
                    .rsplit_once('/')
                    .filter(|(_, last)| last.starts_with('{'))
                    .map(|(head, _)| placeholders(head)),
                _ => None,
            };
            if let Some(c) = collection {
                out.collections
                    .entry(c)
                    .or_insert_with(|| (resource.clone(), singular.clone(), tags.clone()));
            }
        }
    }
    Ok(out)
}

fn strip_prefix(path: &str) -> &str {
    path.strip_prefix(API_PREFIX).unwrap_or(path)
}

/// `/tickets/{ticketId}/threads` → `/tickets/{}/threads`.
fn placeholders(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// `mailReplyAddress` → `mail_reply_address`, `KBRootCategory` → `kb_root_category`.
pub(crate) fn snake(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_owned()
}

fn singular(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("ies") {
        format!("{stem}y")
    } else if word.ends_with("sses") || word.ends_with("shes") || word.ends_with("xes") {
        word[..word.len() - 2].to_owned()
    } else if word.ends_with("ss") || word.ends_with("us") || word.ends_with("is") {
        word.to_owned()
    } else if let Some(stem) = word.strip_suffix('s') {
        stem.to_owned()
    } else {
        word.to_owned()
    }
}

fn plural(word: &str) -> String {
    if word.ends_with('s') || word.ends_with('x') || word.ends_with("sh") || word.ends_with("ch") {
        format!("{word}es")
    } else if let Some(stem) = word.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'o', 'u'])
    {
        format!("{stem}ies")
    } else {
        format!("{word}s")
    }
}

/// The `data`/`teams` key of a list answer, if the 200 response has one holding an array.
fn envelope(op: &Value, shapes: &Map<String, Value>) -> Option<&'static str> {
    let schema = op["responses"]["200"].get("schema")?;
    let mut seen = Vec::new();
    let object = resolve(schema, shapes, &mut seen)?;
    let mut parts = vec![object];
    if let Some(all) = object.get("allOf").and_then(Value::as_array) {
        parts.extend(
            all.iter()
                .filter_map(|p| resolve(p, shapes, &mut Vec::new())),
        );
    }
    for key in ["data", "teams"] {
        for part in &parts {
            if let Some(inner) = part.get("properties").and_then(|p| p.get(key))
                && let Some(inner) = resolve(inner, shapes, &mut Vec::new())
                && (has_type(inner, "array") || inner.get("items").is_some())
            {
                return Some(key);
            }
        }
    }
    None
}

fn has_type(schema: &Value, name: &str) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == name,
        Some(Value::Array(ts)) => ts.iter().any(|t| t == name),
        _ => false,
    }
}

/// Follows `$shape` references within the module; `None` for references to other files.
fn resolve<'a>(
    schema: &'a Value,
    shapes: &'a Map<String, Value>,
    seen: &mut Vec<String>,
) -> Option<&'a Value> {
    let mut current = schema;
    while let Some(name) = current.get("$shape").and_then(Value::as_str) {
        if seen.iter().any(|s| s == name) {
            return None;
        }
        seen.push(name.to_owned());
        current = shapes.get(name)?;
    }
    let external = ["$external", "$ref", "$common", "$commonResponse"];
    if external.iter().any(|k| current.get(*k).is_some()) {
        return None;
    }
    Some(current)
}

fn plan(
    m: &Module,
    op: &Value,
    http: &str,
    id: &str,
    curated: &Curated,
    listed: &BTreeSet<String>,
) -> Result<Planned, &'static str> {
    let full = op["path"].as_str().unwrap_or_default();
    let path = strip_prefix(full).to_owned();
    let body = &op["requestBody"];
    if body
        .get("contentType")
        .and_then(Value::as_str)
        .is_some_and(|c| c != "application/json")
    {
        return Err("file uploads");
    }
    if body.get("$external").is_some() || body.get("$ref").is_some() {
        return Err("bodies defined in another module");
    }
    let answer = &op["responses"]["200"];
    let binary = answer.get("$commonResponse").and_then(Value::as_str) == Some("fileResponse")
        || answer
            .get("contentType")
            .and_then(Value::as_str)
            .is_some_and(|c| c != "application/json");
    if binary {
        return Err("file downloads");
    }

    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let is_param = |s: &str| s.starts_with('{');
    let item = segments.last().is_some_and(|s| is_param(s));
    let statics: Vec<usize> = (0..segments.len())
        .filter(|&i| !is_param(segments[i]))
        .collect();
    let Some(&last) = statics.last() else {
        return Err("paths without a named segment");
    };
    let level = |k: usize| level_name(&segments, k, curated);

    let envelope_key = if http == "GET" {
        envelope(op, &m.shapes)
    } else {
        None
    };
    let preceded_by_param = last == 0 || is_param(segments[last - 1]);
    let fallback = snake(id);
    let (resource, singular_name, tags, method, kind) = if item {
        let (r, s, t) = level(last);
        let (method, kind) = match http {
            "GET" => ("get".to_owned(), MethodKind::Get),
            "PATCH" | "PUT" => ("update".to_owned(), MethodKind::Update),
            "DELETE" => ("delete".to_owned(), MethodKind::Delete),
            _ => (fallback.clone(), MethodKind::Custom { read_only: false }),
        };
        (r, s, t, method, kind)
    } else if preceded_by_param && http == "GET" && envelope_key.is_some() {
        let (r, s, t) = level(last);
        (r, s, t, "list".to_owned(), MethodKind::List)
    } else if http == "POST" && listed.contains(&placeholders(&path)) {
        let (r, s, t) = level(last);
        (r, s, t, "create".to_owned(), MethodKind::Create)
    } else {
        // An action or a sub-resource: a custom method on the collection or item before it,
        // named by the segment (`merge`, `metrics`), with the verb for a sub-resource's
        // update or removal (`delete_photo`).
        let read_only = http == "GET";
        let kind = MethodKind::Custom { read_only };
        let action = match http {
            "DELETE" => format!("delete_{}", snake(segments[last])),
            "PATCH" | "PUT" => format!("update_{}", snake(segments[last])),
            _ => snake(segments[last]),
        };
        match statics.iter().rev().nth(1) {
            Some(&before) => {
                let (r, s, t) = level(before);
                (r, s, t, action, kind)
            }
            None => {
                let resource = plural(&snake(&m.name));
                let s = snake(&m.name);
                (resource, s, Vec::new(), action, kind)
            }
        }
    };

    let mut notes = Vec::new();
    let (def, record) = definition(m, op, http, &path, id, kind, envelope_key, &mut notes);
    Ok(Planned {
        module: m.name.clone(),
        operation_id: id.to_owned(),
        http: http.to_owned(),
        resource,
        singular: singular_name,
        resource_tags: tags,
        method,
        kind,
        def,
        record,
        fallback,
    })
}

/// `(resource, singular, tags)` of the collection named by static segment `k`: the curated
/// resource if resources.yaml names that collection, else the parent's singular and this segment.
fn level_name(segments: &[&str], k: usize, curated: &Curated) -> (String, String, Vec<String>) {
    let prefix = format!("/{}", segments[..=k].join("/"));
    if let Some(found) = curated.collections.get(&placeholders(&prefix)) {
        return found.clone();
    }
    let parent = (0..k)
        .rev()
        .find(|&j| !segments[j].starts_with('{') && j + 1 < k && segments[j + 1].starts_with('{'));
    let word = snake(segments[k]);
    match parent {
        Some(j) if segments[k - 1].starts_with('{') => {
            let (_, ps, tags) = level_name(segments, j, curated);
            (
                format!("{ps}_{word}"),
                format!("{ps}_{}", singular(&word)),
                tags,
            )
        }
        _ => (word.clone(), singular(&word), Vec::new()),
    }
}

#[allow(clippy::too_many_arguments)]
fn definition(
    m: &Module,
    op: &Value,
    http: &str,
    path: &str,
    id: &str,
    kind: MethodKind,
    envelope_key: Option<&'static str>,
    notes: &mut Vec<String>,
) -> (Map<String, Value>, Map<String, Value>) {
    let params: Vec<&Value> = op["parameters"].as_array().into_iter().flatten().collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|p| p["name"] == name && p["in"] == "query")
            .copied()
    };
    let path_names: BTreeSet<String> = path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_owned)
        .collect();

    // Paging.
    let mut def = Map::new();
    def.insert("http".into(), json!(http));
    def.insert("path".into(), json!(path));
    if matches!(kind, MethodKind::Custom { .. }) {
        let access = if kind.is_read() { "read" } else { "write" };
        def.insert("access".into(), json!(access));
    }
    def.insert("tags".into(), json!([snake(&m.name)]));
    let mut paged = false;
    if let (Some(env), Some(from), Some(limit)) = (envelope_key, param("from"), param("limit")) {
        let bound = |p: &Value, key: &str| p["schema"].get(key).and_then(Value::as_u64);
        let from_min = bound(from, "minimum");
        let style = match from_min {
            Some(0) => "offset0",
            Some(1) => "offset1",
            _ => "offset",
        };
        if let Some(max) = bound(limit, "maximum") {
            let min = bound(limit, "minimum").unwrap_or(1).max(1);
            let reserved = u64::from(style == "offset");
            let ceiling = max.saturating_sub(reserved);
            let default = bound(limit, "default")
                .unwrap_or(ceiling.min(25))
                .min(ceiling);
            if min <= default && default >= 1 {
                paged = true;
                def.insert("pagination".into(), json!(style));
                def.insert("envelope".into(), json!(env));
                def.insert(
                    "page_size".into(),
                    json!({"min": min, "max": max, "default": default}),
                );
                if let Some(max_from) = bound(from, "maximum") {
                    def.insert("max_offset".into(), json!(max_from));
                }
            }
        }
    }
    if !paged && kind == MethodKind::List {
        def.insert("pagination".into(), json!("none"));
        def.insert("envelope".into(), json!(envelope_key.unwrap_or("data")));
    }
    if !kind.is_read() && destructive(id) {
        def.insert("hints".into(), json!({"destructive": true}));
    }

    // Query.
    let mut query = Map::new();
    let mut query_required = Vec::new();
    for p in &params {
        if p.get("$common").is_some() {
            continue;
        }
        let Some(name) = p["name"].as_str() else {
            continue;
        };
        if p["in"] == "header" {
            notes.push(format!(
                "Zoho also reads an optional `{name}` header, which this tool does not send."
            ));
            continue;
        }
        if p["in"] != "query" {
            continue;
        }
        if paged && (name == "from" || name == "limit") {
            continue;
        }
        if path_names.contains(name) {
            notes.push(format!(
                "The query parameter `{name}` has the name of a path parameter; the path one is used."
            ));
            continue;
        }
        let mut seen = Vec::new();
        query.insert(
            name.to_owned(),
            tool_schema(&p["schema"], &m.shapes, 0, &mut seen),
        );
        if p["required"] == true {
            query_required.push(name.to_owned());
        }
    }

    // Body.
    let mut body = None;
    if let Some(schema) = op["requestBody"].get("schema") {
        let mut seen = Vec::new();
        let mut converted = tool_schema(schema, &m.shapes, 0, &mut seen);
        if let Some(variants) = variants_note(schema, &m.shapes) {
            notes.push(variants);
        }
        let mut props = converted
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut required: Vec<String> = converted
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let clashes: Vec<String> = props
            .keys()
            .filter(|k| path_names.contains(*k) || query.contains_key(*k))
            .cloned()
            .collect();
        for name in clashes {
            props.remove(&name);
            required.retain(|r| r != &name);
            notes.push(format!(
                "The body field `{name}` has the name of a path or query parameter and is not offered; the value goes there."
            ));
        }
        let mut object = json!({"type": "object", "properties": props});
        if converted.get("additionalProperties") == Some(&Value::Bool(false)) {
            object["additionalProperties"] = json!(false);
        }
        if !required.is_empty() {
            object["required"] = json!(required);
        }
        converted = object;
        body = Some(converted);
    } else if matches!(http, "POST" | "PATCH" | "PUT") {
        // Zoho declares no body; the gateway still sends an empty JSON object.
        body = Some(json!({"type": "object", "properties": {}, "additionalProperties": false}));
    }

    let mut record = Map::new();
    let mut description = format!(
        "Zoho Desk {http} {API_PREFIX}{path} (module {}, operation {id}); arguments as Zoho's OpenAPI description declares them.",
        m.name
    );
    for note in notes.iter() {
        description.push(' ');
        description.push_str(note);
    }
    record.insert("description".into(), json!(description));
    if !query.is_empty() {
        let mut q = json!({"type": "object", "properties": query});
        if !query_required.is_empty() {
            q["required"] = json!(query_required);
        }
        record.insert("query_schema".into(), q);
    }
    if let Some(b) = body {
        record.insert("body_schema".into(), b);
    }
    (def, record)
}

/// Operations that delete or irreversibly drop data get `destructiveHint: true`.
fn destructive(operation_id: &str) -> bool {
    let id = operation_id.to_ascii_lowercase();
    [
        "delete",
        "remove",
        "trash",
        "emptyspam",
        "anonymize",
        "purge",
    ]
    .iter()
    .any(|w| id.contains(w))
}

fn variants_note(schema: &Value, shapes: &Map<String, Value>) -> Option<String> {
    let resolved = resolve(schema, shapes, &mut Vec::new())?;
    let d = resolved.get("discriminator")?;
    let prop = d.get("propertyName")?.as_str()?;
    let values: Vec<&str> = d
        .get("mapping")
        .and_then(Value::as_object)
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    Some(format!(
        "The body comes in variants by `{prop}` ({}); fields only one variant requires are checked by Zoho.",
        values.join(", ")
    ))
}

const TYPES: [&str; 7] = [
    "null", "boolean", "integer", "number", "string", "array", "object",
];

/// Converts an extract schema to the subset the gateway's validator enforces.
fn tool_schema(
    schema: &Value,
    shapes: &Map<String, Value>,
    depth: usize,
    seen: &mut Vec<String>,
) -> Value {
    if depth > MAX_DEPTH {
        return json!({});
    }
    let mark = seen.len();
    let Some(node) = resolve(schema, shapes, seen) else {
        seen.truncate(mark);
        return json!({});
    };
    let out = convert(node, shapes, depth, seen);
    seen.truncate(mark);
    out
}

fn convert(
    node: &Value,
    shapes: &Map<String, Value>,
    depth: usize,
    seen: &mut Vec<String>,
) -> Value {
    let Some(obj) = node.as_object() else {
        return json!({});
    };
    let mut out = Map::new();
    // Types.
    let mut types: Vec<String> = match obj.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    types.retain(|t| TYPES.contains(&t.as_str()));
    if obj.get("nullable") == Some(&Value::Bool(true)) && !types.is_empty() {
        types.push("null".into());
    }
    let mut unique = Vec::new();
    for t in types {
        if !unique.contains(&t) {
            unique.push(t);
        }
    }
    match unique.len() {
        0 => {}
        1 => {
            out.insert("type".into(), json!(unique[0]));
        }
        _ => {
            out.insert("type".into(), json!(unique));
        }
    }
    if let Some(e) = obj.get("enum").filter(|e| e.is_array()) {
        out.insert("enum".into(), e.clone());
    } else if let Some(c) = obj.get("const") {
        out.insert("enum".into(), json!([c]));
    }
    for key in ["minimum", "maximum"] {
        if let Some(v) = obj.get(key).filter(|v| v.is_number()) {
            out.insert(key.into(), v.clone());
        }
    }
    for key in ["minLength", "maxLength", "minItems", "maxItems"] {
        if let Some(v) = obj.get(key).filter(|v| v.is_u64()) {
            out.insert(key.into(), v.clone());
        }
    }
    for key in ["default", "format"] {
        if let Some(v) = obj.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(items) = obj.get("items") {
        out.insert("items".into(), tool_schema(items, shapes, depth + 1, seen));
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        let converted: Map<String, Value> = props
            .iter()
            .map(|(k, v)| (k.clone(), tool_schema(v, shapes, depth + 1, seen)))
            .collect();
        out.insert("properties".into(), Value::Object(converted));
    }
    if let Some(r) = obj.get("required").filter(|r| r.is_array()) {
        out.insert("required".into(), r.clone());
    }
    // Keys matched by patternProperties are allowed, and patterns are not enforced here.
    if obj.get("additionalProperties") == Some(&Value::Bool(false))
        && obj.get("patternProperties").is_none()
    {
        out.insert("additionalProperties".into(), json!(false));
    }

    if let Some(parts) = obj.get("allOf").and_then(Value::as_array) {
        let converted: Vec<Value> = parts
            .iter()
            .map(|p| tool_schema(p, shapes, depth + 1, seen))
            .collect();
        merge(&mut out, &converted, false);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(parts) = obj.get(key).and_then(Value::as_array) {
            let converted: Vec<Value> = parts
                .iter()
                .map(|p| tool_schema(p, shapes, depth + 1, seen))
                .collect();
            merge(&mut out, &converted, true);
        }
    }
    if let Some(Value::Array(required)) = out.get("required") {
        let names: BTreeSet<&str> = out
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let kept: Vec<Value> = required
            .iter()
            .filter(|r| r.as_str().is_some_and(|r| names.contains(r)))
            .cloned()
            .collect();
        if kept.is_empty() {
            out.remove("required");
        } else {
            out.insert("required".into(), Value::Array(kept));
        }
    }
    Value::Object(out)
}

/// Merges `parts` into `out`: properties are united; required fields are added up (`allOf`) or
/// kept only where every part requires them (`oneOf`/`anyOf`). A part that is not a plain object
/// (an unresolved reference, a scalar) opens the result to any further keys.
fn merge(out: &mut Map<String, Value>, parts: &[Value], alternatives: bool) {
    let objects = parts
        .iter()
        .all(|p| p.get("properties").is_some() || p.get("type").is_some_and(|t| t == "object"));
    if !objects {
        if alternatives {
            let mut types: Vec<Value> = Vec::new();
            let simple = parts.iter().all(|p| {
                p.as_object()
                    .is_some_and(|o| o.len() == 1 && o.contains_key("type"))
            });
            if simple {
                for p in parts {
                    match &p["type"] {
                        Value::Array(ts) => types.extend(ts.iter().cloned()),
                        t => types.push(t.clone()),
                    }
                }
                types.dedup();
                out.insert("type".into(), Value::Array(types));
            }
        }
        out.remove("additionalProperties");
        return;
    }
    if !out.contains_key("type") {
        out.insert("type".into(), json!("object"));
    }
    let mut props = out
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut required: BTreeSet<String> = out
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let mut common: Option<BTreeSet<String>> = None;
    let mut closed = true;
    for part in parts {
        for (k, v) in part
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            match props.get_mut(k) {
                Some(existing) if alternatives => unite_enums(existing, v),
                Some(_) => {}
                None => {
                    props.insert(k.clone(), v.clone());
                }
            }
        }
        let part_required: BTreeSet<String> = part
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        if alternatives {
            common = Some(match common {
                None => part_required,
                Some(c) => c.intersection(&part_required).cloned().collect(),
            });
        } else {
            required.extend(part_required);
        }
        closed &= part.get("additionalProperties") == Some(&Value::Bool(false));
    }
    if let Some(c) = common {
        required.extend(c);
    }
    out.insert("properties".into(), Value::Object(props));
    if required.is_empty() {
        out.remove("required");
    } else {
        out.insert("required".into(), json!(required));
    }
    if closed || out.get("additionalProperties") == Some(&Value::Bool(false)) {
        out.insert("additionalProperties".into(), json!(false));
    } else {
        out.remove("additionalProperties");
    }
}

/// A discriminator property declared by several variants accepts every variant's values.
fn unite_enums(existing: &mut Value, other: &Value) {
    if let (Some(Value::Array(a)), Some(Value::Array(b))) =
        (existing.get("enum").cloned(), other.get("enum"))
    {
        let mut all = a;
        for v in b {
            if !all.contains(v) {
                all.push(v.clone());
            }
        }
        existing["enum"] = Value::Array(all);
    } else if existing.get("enum").is_some()
        && other.get("enum").is_none()
        && let Some(o) = existing.as_object_mut()
    {
        o.remove("enum");
    }
}

fn settle_names(planned: &mut [Planned], curated: &Curated) -> Result<(), GenerateError> {
    // Pass 1: clashes between generated operations or with curated methods use the operationId.
    let mut count: BTreeMap<(String, String), usize> = BTreeMap::new();
    for p in planned.iter() {
        *count
            .entry((p.resource.clone(), p.method.clone()))
            .or_default() += 1;
    }
    for p in planned.iter_mut() {
        let key = (p.resource.clone(), p.method.clone());
        let name = tool_name(INTEGRATION, &p.resource, &p.singular, &p.method, p.kind);
        if count[&key] > 1 || curated.pairs.contains(&key) || curated.names.contains(&name) {
            to_custom(p);
        }
    }
    // Pass 2: names too long for OpenAI drop the parent prefix of the resource.
    for p in planned.iter_mut() {
        let name = tool_name(INTEGRATION, &p.resource, &p.singular, &p.method, p.kind);
        if name.len() > MAX_TOOL_NAME {
            let short = snake(&p.module);
            p.resource = plural(&short);
            p.singular = short;
            p.resource_tags.clear();
            to_custom(p);
        }
    }
    let mut names = curated.names.clone();
    let mut pairs = curated.pairs.clone();
    for p in planned.iter() {
        let name = tool_name(INTEGRATION, &p.resource, &p.singular, &p.method, p.kind);
        if name.len() > MAX_TOOL_NAME || !naming::is_valid_tool_name(&name) {
            return Err(GenerateError::Naming(format!(
                "{}.{}: the tool name `{name}` is longer than {MAX_TOOL_NAME} characters or not [A-Za-z0-9_-]",
                p.module, p.operation_id
            )));
        }
        if !names.insert(name.clone()) || !pairs.insert((p.resource.clone(), p.method.clone())) {
            return Err(GenerateError::Naming(format!(
                "{}.{}: the tool name `{name}` is taken twice",
                p.module, p.operation_id
            )));
        }
    }
    Ok(())
}

fn to_custom(p: &mut Planned) {
    p.method = p.fallback.clone();
    let read_only = p.http == "GET";
    p.kind = MethodKind::Custom { read_only };
    let access = if read_only { "read" } else { "write" };
    p.def.insert("access".into(), json!(access));
    // A custom method may still be paged, but an unpaged one takes no list envelope.
    if p.def.get("pagination").and_then(Value::as_str) == Some("none") {
        p.def.remove("pagination");
        p.def.remove("envelope");
    }
}

const HEADER: &str = "# GENERATED by `cargo run -p zoho-desk-mcp --example generate` from the facts-only extract in\n# ../oas/ for every operation no curated method of ../resources.yaml covers. Do not edit: change\n# the extract or mcp-server/src/catalog/generate.rs and regenerate (a test compares).\n";

fn resources_yaml(planned: &[Planned]) -> String {
    /// singular, tags, methods.
    type Resource<'a> = (&'a str, BTreeSet<&'a str>, BTreeMap<&'a str, &'a Planned>);
    let mut resources: BTreeMap<&str, Resource<'_>> = BTreeMap::new();
    for p in planned {
        let entry = resources
            .entry(p.resource.as_str())
            .or_insert_with(|| (p.singular.as_str(), BTreeSet::new(), BTreeMap::new()));
        entry.1.extend(p.resource_tags.iter().map(String::as_str));
        entry.2.insert(p.method.as_str(), p);
    }
    let mut out = String::from(HEADER);
    out.push_str("integration: zoho_desk\nresources:\n");
    for (resource, (singular, tags, methods)) in resources {
        out.push_str(&format!("  {resource}:\n    singular: {singular}\n"));
        out.push_str(&format!(
            "    tags: {}\n    methods:\n",
            json!(tags.into_iter().collect::<Vec<_>>())
        ));
        for (method, p) in methods {
            out.push_str(&format!(
                "      {method}: {}\n",
                serde_json::to_string(&p.def).unwrap_or_default()
            ));
        }
    }
    out
}

fn documentation_yaml(planned: &[Planned]) -> String {
    let mut records: BTreeMap<String, &Planned> = BTreeMap::new();
    for p in planned {
        records.insert(format!("{}.{}", p.resource, p.method), p);
    }
    let mut out = String::from(HEADER);
    out.push_str("records:\n");
    for (key, p) in records {
        out.push_str(&format!("  {key}:\n"));
        for (field, value) in &p.record {
            out.push_str(&format!(
                "    {field}: {}\n",
                serde_json::to_string(value).unwrap_or_default()
            ));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const CURATED: &str = "integration: zoho_desk\nresources:\n  widgets:\n    singular: widget\n    tags: [things]\n    methods:\n      get: {http: GET, path: \"/widgets/{id}\"}\n";

    const MODULE: &str = r#"{
     "module": "Widget",
     "operations": [
      {"operationId": "listWidgets", "method": "GET", "path": "/api/v1/widgets",
       "parameters": [{"$common": "orgId"},
        {"name": "from", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0, "maximum": 499}},
        {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 50}}],
       "requestBody": null,
       "responses": {"200": {"contentType": "application/json", "schema": {"$shape": "page"}}}},
      {"operationId": "getWidget", "method": "GET", "path": "/api/v1/widgets/{widgetId}",
       "parameters": [{"name": "widgetId", "in": "path", "required": true, "schema": {"type": "string"}}],
       "requestBody": null, "responses": {}},
      {"operationId": "moveWidget", "method": "POST", "path": "/api/v1/widgets/{widgetId}/move",
       "parameters": [{"name": "widgetId", "in": "path", "required": true, "schema": {"type": "string"}},
        {"name": "departmentId", "in": "query", "required": true, "schema": {"type": "string", "pattern": "[0-9]+"}}],
       "requestBody": {"required": true, "contentType": "application/json", "schema": {
        "oneOf": [{"$shape": "byMail"}, {"$shape": "byHand"}],
        "discriminator": {"propertyName": "via", "mapping": {"MAIL": "byMail", "HAND": "byHand"}}}},
       "responses": {}}
     ],
     "shapes": {
      "page": {"type": "object", "properties": {"data": {"type": "array", "items": {"type": "object"}}}},
      "byMail": {"type": "object", "required": ["via", "address"], "additionalProperties": false,
                 "properties": {"via": {"type": "string", "enum": ["MAIL"]}, "address": {"type": "string", "maxLength": 9}, "departmentId": {"type": "string"}}},
      "byHand": {"type": "object", "required": ["via"], "additionalProperties": false,
                 "properties": {"via": {"type": "string", "enum": ["HAND"]}, "courier": {"type": "string"}}}
     }
    }"#;

    #[test]
    fn a_small_module_becomes_named_paged_flat_tools() {
        let out = generate(
            &[ExtractFile {
                name: "Widget.json",
                text: MODULE,
            }],
            CURATED,
        )
        .unwrap();
        assert_eq!(out.coverage[0].curated, 1, "GET /widgets/{{id}} is curated");
        assert_eq!(out.coverage[0].generated, 2);
        let catalog =
            crate::catalog::Catalog::from_yaml(&out.resources_yaml, &out.documentation_yaml)
                .unwrap();
        let names: Vec<&str> = catalog.tools().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            ["list_all_zoho_desk_widgets", "zoho_desk_widgets_move"]
        );

        // Paged by the gateway: 0-based from, the declared limit range, no from/limit arguments.
        let list = catalog.get("list_all_zoho_desk_widgets").unwrap();
        let props = list.input_schema["properties"].as_object().unwrap();
        assert!(!props.contains_key("from"));
        assert_eq!(list.input_schema["properties"]["limit"]["maximum"], 50);
        assert!(out.resources_yaml.contains(r#""pagination":"offset0""#));
        assert!(out.resources_yaml.contains(r#""max_offset":499"#));

        // The flat namespace: the query parameter wins over the body field of the same name,
        // and the description says so; oneOf variants merge, required only where all agree.
        let moved = catalog.get("zoho_desk_widgets_move").unwrap();
        let schema = &moved.input_schema;
        assert_eq!(schema["properties"]["via"]["enum"], json!(["MAIL", "HAND"]));
        assert!(schema["properties"].get("address").is_some());
        assert!(schema["properties"].get("courier").is_some());
        assert!(
            schema["properties"]["departmentId"]
                .get("pattern")
                .is_none()
        );
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(required, ["widgetId", "departmentId", "via"]);
        assert!(moved.description.contains("body field `departmentId`"));
        assert!(
            moved.description.contains("variants by `via` (MAIL, HAND)"),
            "{}",
            moved.description
        );
        assert!(!moved.annotations.read_only);
    }

    #[test]
    fn words() {
        assert_eq!(snake("mailReplyAddress"), "mail_reply_address");
        assert_eq!(snake("KBRootCategory"), "kb_root_category");
        assert_eq!(snake("timeEntry"), "time_entry");
        assert_eq!(snake("getMyInfo"), "get_my_info");
        assert_eq!(singular("categories"), "category");
        assert_eq!(singular("addresses"), "address");
        assert_eq!(singular("status"), "status");
        assert_eq!(plural("category"), "categories");
        assert_eq!(plural("mail_reply_address"), "mail_reply_addresses");
    }
}
