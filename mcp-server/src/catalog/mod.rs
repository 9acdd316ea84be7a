//! The tool catalog: MCP tools generated from the integration definition under `integration/`,
//! and the [`Gateway`] that executes them against Zoho Desk.
//!
//! A tool exists only if its documentation record exists, so the catalog is exactly as good as its
//! documentation; adding a documented endpoint is a YAML edit, not a Rust change.

mod build;
mod composite;
mod cursor;
mod definition;
mod error;
mod filter;
mod gateway;
pub mod generate;
mod naming;
mod openapi;
mod routing;
mod schema;
mod search;

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

pub use definition::{DefinitionError, EnvelopeKey, PageSize, PaginationStyle};
pub use error::ToolError;
pub use filter::{FilterError, ToolFilter, Toolset};
pub use gateway::Gateway;
pub use openapi::DEFAULT_SERVER_URL;

/// The embedded Zoho Desk definition.
pub const ZOHO_DESK_RESOURCES: &str = include_str!("../../integration/zoho-desk/resources.yaml");
pub const ZOHO_DESK_DOCUMENTATION: &str =
    include_str!("../../integration/zoho-desk/documentation.yaml");
/// The definition generated from the OAS extract for the operations the curated files leave out
/// (see [`generate`]).
pub const ZOHO_DESK_GENERATED_RESOURCES: &str =
    include_str!("../../integration/zoho-desk/generated/resources.yaml");
pub const ZOHO_DESK_GENERATED_DOCUMENTATION: &str =
    include_str!("../../integration/zoho-desk/generated/documentation.yaml");

/// Checks that `schema` uses only the JSON Schema keywords [`validate_json`] enforces.
///
/// Shared with the runner, which holds workflow output schemas to the same subset so that a
/// schema never promises a check that silently does not happen.
pub fn check_schema(schema: &Value, at: &str) -> Result<(), String> {
    schema::check_supported(schema, at)
}

/// Validates `value` against `schema` (the subset in [`check_schema`]) and returns it, with the
/// same harmless coercions tool arguments get. The error names the failing path.
pub fn validate_json(schema: &Value, value: Value) -> Result<Value, String> {
    schema::validate(schema, value, "").map_err(|v| v.to_string())
}

/// What a tool does, as far as filtering and annotations are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum MethodKind {
    List,
    Get,
    Create,
    Update,
    Delete,
    Custom {
        read_only: bool,
    },
    /// Several upstream reads combined into one tool (implemented in Rust); always read-only.
    Composite,
}

impl MethodKind {
    pub fn is_read(self) -> bool {
        match self {
            MethodKind::List | MethodKind::Get | MethodKind::Composite => true,
            MethodKind::Custom { read_only } => read_only,
            MethodKind::Create | MethodKind::Update | MethodKind::Delete => false,
        }
    }

    /// MCP's defaults (not read-only, destructive, not idempotent) are the unsafe ones, so every
    /// tool states all four hints.
    pub fn default_hints(self) -> Hints {
        let (read_only, destructive, idempotent) = match self {
            MethodKind::List | MethodKind::Get | MethodKind::Composite => (true, false, true),
            MethodKind::Custom { read_only: true } => (true, false, true),
            MethodKind::Custom { read_only: false } => (false, false, false),
            MethodKind::Create => (false, false, false),
            MethodKind::Update => (false, false, true),
            MethodKind::Delete => (false, true, true),
        };
        Hints {
            read_only,
            destructive,
            idempotent,
            open_world: true,
        }
    }
}

/// MCP tool annotations (`readOnlyHint`, `destructiveHint`, `idempotentHint`, `openWorldHint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Hints {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
}

/// One MCP tool, ready to be listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    pub name: String,
    pub title: String,
    pub description: String,
    /// Always an object schema with `additionalProperties: false`.
    pub input_schema: Value,
    pub output_schema: Option<Value>,
    pub annotations: Hints,
    pub resource: String,
    pub method: String,
    pub kind: MethodKind,
    /// Resource tags ∪ method tags.
    pub tags: Vec<String>,
    /// Generated from the OAS extract rather than curated: outside the default listing
    /// ([`Toolset::Core`]).
    pub generated: bool,
}

/// How one declared method is called upstream; exists whether or not it is documented (composites
/// use undocumented methods too).
#[derive(Debug, Clone)]
pub(crate) struct Operation {
    pub resource: String,
    pub method: String,
    pub kind: MethodKind,
    pub route: Option<routing::Route>,
    pub paging: Option<Paging>,
    pub envelope: EnvelopeKey,
    pub count: bool,
    pub query_keys: Vec<String>,
    pub body_keys: Vec<String>,
    pub has_body: bool,
    pub contract: Contract,
}

/// What an operation's contract says beyond its schemas (see resources.yaml).
#[derive(Debug, Clone, Default)]
pub(crate) struct Contract {
    pub empty_result: Option<definition::EmptyResult>,
    pub required_when: Vec<definition::RequiredWhen>,
    pub email_args: Vec<String>,
}

impl Operation {
    /// The checks the schema subset cannot express (conditional requirements, e-mail syntax),
    /// run on validated arguments before anything is sent.
    pub fn check_arguments(&self, args: &serde_json::Map<String, Value>) -> Result<(), String> {
        for rule in &self.contract.required_when {
            let applies = rule.when.iter().all(|(k, want)| {
                args.get(k)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v == want)
            });
            if !applies {
                continue;
            }
            for field in &rule.fields {
                let present = args
                    .get(field)
                    .and_then(Value::as_str)
                    .is_some_and(|v| !v.trim().is_empty());
                if !present {
                    let cond: Vec<String> = rule
                        .when
                        .iter()
                        .map(|(k, v)| format!("`{k}` is {v}"))
                        .collect();
                    return Err(format!(
                        "argument `{field}`: is required when {}",
                        cond.join(" and ")
                    ));
                }
            }
        }
        for name in &self.contract.email_args {
            if let Some(v) = args.get(name).and_then(Value::as_str)
                && !is_email_address(v)
            {
                return Err(format!(
                    "argument `{name}`: \"{v}\" is not one e-mail address (expected e.g. support@example.com)"
                ));
            }
        }
        Ok(())
    }

    /// The tool result for an upstream success: the body object as sent, or, for an empty body
    /// on an operation that declares `empty_result`, that result (Zoho answers some writes with
    /// an empty 200 and the caller still needs to know what happened).
    /// A list the endpoint answers whole (it takes no paging parameter): the envelope's items as
    /// `{result}`, the shape of every list tool.
    pub fn whole_list(&self, body: Option<Value>) -> Value {
        let key = match self.envelope {
            EnvelopeKey::Data => "data",
            EnvelopeKey::Teams => "teams",
            EnvelopeKey::None => return self.result(body, &serde_json::Map::new()),
        };
        let items = body
            .as_ref()
            .and_then(|b| b.get(key))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        serde_json::json!({ "result": items })
    }

    pub fn result(&self, body: Option<Value>, args: &serde_json::Map<String, Value>) -> Value {
        let empty = match &body {
            None => true,
            Some(Value::Object(o)) => o.is_empty(),
            Some(_) => false,
        };
        if empty && let Some(r) = &self.contract.empty_result {
            let mut out = r.set.clone();
            for name in &r.echo {
                if let Some(v) = args.get(name) {
                    out.insert(name.clone(), v.clone());
                }
            }
            return Value::Object(out);
        }
        match body {
            Some(Value::Object(obj)) => Value::Object(obj),
            None => serde_json::json!({}),
            Some(other) => serde_json::json!({ "result": other }),
        }
    }
}

/// One address `local@domain.tld`: no spaces, no list, a dot in the domain. Zoho checks the
/// full pattern; this catches what a model or template gets wrong (a name, a list, an empty
/// template value) before a reply is refused upstream.
pub(crate) fn is_email_address(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let ok_chars = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_alphanumeric() || "._+-'&~!".contains(c))
    };
    ok_chars(local)
        && ok_chars(domain)
        && !domain.contains('@')
        && domain
            .rsplit_once('.')
            .is_some_and(|(host, tld)| !host.is_empty() && tld.chars().count() >= 2)
        && !domain.starts_with('.')
        && !domain.ends_with('.')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Paging {
    pub style: PaginationStyle,
    pub size: PageSize,
    pub max_offset: Option<u64>,
}

impl Paging {
    /// Zoho's `from` for a logical 0-based offset (for [`PaginationStyle::Offset`], the 0-based
    /// reading; the overlap item covers the other).
    pub fn upstream_from(&self, offset: u64) -> u64 {
        match self.style {
            PaginationStyle::Offset1 => offset.saturating_add(1),
            _ => offset,
        }
    }

    /// Items asked for beyond the wanted ones to detect a 1-based reading of `from`.
    pub fn overlap(&self, offset: u64) -> u64 {
        u64::from(self.style == PaginationStyle::Offset && offset > 0)
    }

    /// The largest page a tool offers: the endpoint's, less the overlap slot.
    pub fn max_limit(&self) -> u64 {
        match self.style {
            PaginationStyle::Offset => self.size.max - 1,
            _ => self.size.max,
        }
    }
}

/// All tools of one integration, built once at startup.
#[derive(Debug, Clone)]
pub struct Catalog {
    integration: String,
    tools: Vec<ToolSpec>,
    /// `tool_ops[i]` is the operation behind `tools[i]`.
    tool_ops: Vec<usize>,
    ops: Vec<Operation>,
    by_name: HashMap<String, usize>,
    by_method: HashMap<(String, String), usize>,
}

impl Catalog {
    /// The curated Zoho Desk definition embedded in this crate (the core tools).
    pub fn zoho_desk() -> Result<Catalog, DefinitionError> {
        Catalog::from_yaml(ZOHO_DESK_RESOURCES, ZOHO_DESK_DOCUMENTATION)
    }

    /// The curated core plus every tool generated from the OAS extract. Servers hold this one;
    /// their filter's [`Toolset`] decides whether the generated tools are in scope.
    pub fn zoho_desk_all() -> Result<Catalog, DefinitionError> {
        let generated = Catalog::from_yaml(
            ZOHO_DESK_GENERATED_RESOURCES,
            ZOHO_DESK_GENERATED_DOCUMENTATION,
        )
        .map_err(|e| match e {
            DefinitionError::Syntax {
                file,
                location,
                message,
            } => DefinitionError::Syntax {
                file: format!("generated/{file}"),
                location,
                message,
            },
            DefinitionError::Invalid { at, message } => DefinitionError::Invalid {
                at: format!("generated/{at}"),
                message,
            },
        })?;
        Catalog::zoho_desk()?.extended(generated)
    }

    /// Appends `other`'s tools, marked generated. Tool names and `(resource, method)` pairs must
    /// stay unique across both.
    fn extended(mut self, other: Catalog) -> Result<Catalog, DefinitionError> {
        let clash = |what: String| DefinitionError::Invalid {
            at: "generated/resources.yaml".into(),
            message: format!(
                "{what} is also in the curated definition; regenerate the generated files"
            ),
        };
        if other.integration != self.integration {
            return Err(clash(format!("integration `{}`", other.integration)));
        }
        let base = self.ops.len();
        for (key, i) in other.by_method {
            if self.by_method.contains_key(&key) {
                return Err(clash(format!("method `{}.{}`", key.0, key.1)));
            }
            self.by_method.insert(key, base + i);
        }
        self.ops.extend(other.ops);
        for (mut spec, op) in other.tools.into_iter().zip(other.tool_ops) {
            if self.by_name.contains_key(&spec.name) {
                return Err(clash(format!("tool `{}`", spec.name)));
            }
            spec.generated = true;
            self.by_name.insert(spec.name.clone(), self.tools.len());
            self.tools.push(spec);
            self.tool_ops.push(base + op);
        }
        Ok(self)
    }

    pub fn from_yaml(resources: &str, docs: &str) -> Result<Catalog, DefinitionError> {
        build::build(resources, docs)
    }

    pub fn integration(&self) -> &str {
        &self.integration
    }

    pub fn tools(&self) -> &[ToolSpec] {
        &self.tools
    }

    pub fn filtered(&self, f: &ToolFilter) -> Vec<&ToolSpec> {
        self.tools.iter().filter(|t| f.allows(t)).collect()
    }

    pub fn get(&self, name: &str) -> Option<&ToolSpec> {
        self.by_name.get(name).map(|&i| &self.tools[i])
    }

    /// Ranks tools by how many query words appear in their name, tags and description (for
    /// discovery mode's `search_tools`). An empty query lists tools in catalog order.
    pub fn search(&self, query: &str, limit: usize, f: &ToolFilter) -> Vec<&ToolSpec> {
        search::rank(&self.tools, query, limit, f)
    }

    /// The checks a server record's filter must pass when it is created: every exact method name
    /// and tag must exist, and the filter must leave at least one tool.
    pub fn check_filter(&self, f: &ToolFilter) -> Result<(), FilterError> {
        for name in f.exact_methods() {
            if !self.tools.iter().any(|t| t.method == name) {
                let mut known: Vec<&str> = self.tools.iter().map(|t| t.method.as_str()).collect();
                known.sort_unstable();
                known.dedup();
                return Err(FilterError::UnknownMethod {
                    given: name.to_string(),
                    examples: known.join(", "),
                });
            }
        }
        for tag in f.tags() {
            if !self.tools.iter().any(|t| t.tags.iter().any(|x| x == tag)) {
                return Err(FilterError::InvalidTag { given: tag.clone() });
            }
        }
        if self.filtered(f).is_empty()
            && f.toolset() == Toolset::Core
            && !self
                .filtered(&f.clone().with_toolset(Toolset::All))
                .is_empty()
        {
            let (methods, tags) = f.describe();
            return Err(FilterError::OnlyGenerated { methods, tags });
        }
        if self.filtered(f).is_empty() {
            let (methods, tags) = f.describe();
            return Err(FilterError::MatchesNothing { methods, tags });
        }
        Ok(())
    }

    /// Every tag used by some tool, sorted.
    pub fn tags(&self) -> Vec<&str> {
        let mut tags: Vec<&str> = self
            .tools
            .iter()
            .flat_map(|t| t.tags.iter().map(String::as_str))
            .collect();
        tags.sort_unstable();
        tags.dedup();
        tags
    }

    pub(crate) fn tool(&self, name: &str) -> Option<(&ToolSpec, &Operation)> {
        let &i = self.by_name.get(name)?;
        Some((&self.tools[i], &self.ops[self.tool_ops[i]]))
    }

    pub(crate) fn operation(&self, resource: &str, method: &str) -> Option<&Operation> {
        self.by_method
            .get(&(resource.to_string(), method.to_string()))
            .map(|&i| &self.ops[i])
    }
}
