//! The sandbox's own reading of Zoho's contract: the facts-only extract of Zoho's OpenAPI
//! description (`mcp-server/integration/zoho-desk/oas/`), parsed here without any type or code of
//! the MCP client, so a mistake in the client's reading is not repeated by the server that tests
//! it. Before a handler runs, every `/api/v1` request of an operation the extract holds is checked
//! the way Zoho checks it: query parameters (unknown ones, required ones, enums, integer bounds,
//! lengths, item counts, id digits) and JSON bodies (required fields, undeclared fields where the
//! schema is closed, enums, lengths, bounds, item counts, and `oneOf` variants chosen by their
//! discriminator). Handlers keep the checks that need data (an id that does not exist, a from
//! address that is not the department's).
//!
//! Not checked: `pattern`s (they are written for Java's regex engine, e.g. `\P{InBasicLatin}`),
//! except the plain id pattern; `oneOf` without a discriminator; header parameters.

use std::sync::{Arc, OnceLock};

use axum::body::{Body, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::app::App;
use crate::urlencoded::parse_pairs;
use crate::zoho_error::{ApiError, FieldError};

/// The extract's modules the sandbox serves operations of.
const MODULES: &[(&str, &str)] = &[
    (
        "Common",
        include_str!("../../mcp-server/integration/zoho-desk/oas/Common.json"),
    ),
    (
        "Agent",
        include_str!("../../mcp-server/integration/zoho-desk/oas/Agent.json"),
    ),
    (
        "Article",
        include_str!("../../mcp-server/integration/zoho-desk/oas/Article.json"),
    ),
    (
        "Contact",
        include_str!("../../mcp-server/integration/zoho-desk/oas/Contact.json"),
    ),
    (
        "Department",
        include_str!("../../mcp-server/integration/zoho-desk/oas/Department.json"),
    ),
    (
        "MailReplyAddress",
        include_str!("../../mcp-server/integration/zoho-desk/oas/MailReplyAddress.json"),
    ),
    (
        "Organization",
        include_str!("../../mcp-server/integration/zoho-desk/oas/Organization.json"),
    ),
    (
        "Search",
        include_str!("../../mcp-server/integration/zoho-desk/oas/Search.json"),
    ),
    (
        "Team",
        include_str!("../../mcp-server/integration/zoho-desk/oas/Team.json"),
    ),
    (
        "Thread",
        include_str!("../../mcp-server/integration/zoho-desk/oas/Thread.json"),
    ),
    (
        "Ticket",
        include_str!("../../mcp-server/integration/zoho-desk/oas/Ticket.json"),
    ),
    (
        "TicketComment",
        include_str!("../../mcp-server/integration/zoho-desk/oas/TicketComment.json"),
    ),
    (
        "TicketCount",
        include_str!("../../mcp-server/integration/zoho-desk/oas/TicketCount.json"),
    ),
];

/// Where the sandbox deliberately reads a parameter otherwise than the extract; each is a choice
/// recorded with its evidence in `docs/zoho-contract.md`.
const DEVIATIONS: &[(&str, &str, Deviation)] = &[
    // "Unassigned tickets": Zoho documents `assignee=Unassigned` in two places; the OAS types the
    // parameter as an array of ids.
    (
        "getTickets",
        "assignee",
        Deviation::AlsoAccepts("Unassigned"),
    ),
    // "Paging bases and page sizes": the agents' minimum `limit` of 10 contradicts the documented
    // range and default.
    ("getAgents", "limit", Deviation::NoMinimum),
    // "Agents list": Zoho's documentation lists both; the OAS file does not.
    ("getAgents", "fieldName", Deviation::Undeclared),
    ("getAgents", "isLightAgent", Deviation::Undeclared),
];

/// Required body fields another field may stand in for: (operation, required, alternative).
const BODY_ALTERNATIVES: &[(&str, &str, &str)] = &[
    // "Creating a ticket": the OAS requires `contactId` and also declares `contact` for a
    // customer who is not yet a contact; Zoho's documentation takes either.
    ("createTicket", "contactId", "contact"),
];

#[derive(Debug, Clone, Copy)]
enum Deviation {
    AlsoAccepts(&'static str),
    NoMinimum,
    /// Accepted although the OAS does not declare it; its value is the handler's to check.
    Undeclared,
}

/// One operation as the sandbox checks it.
#[derive(Debug)]
pub(crate) struct Operation {
    id: String,
    method: Method,
    /// The path with every `{name}` written `{}`: route templates name their ids differently.
    template: String,
    query: Vec<QueryParam>,
    /// The request body's schema with every `$shape` and `allOf` resolved.
    body: Option<Value>,
}

#[derive(Debug)]
struct QueryParam {
    name: String,
    required: bool,
    schema: Value,
    deviation: Option<Deviation>,
}

/// Every operation of [`MODULES`].
#[derive(Debug)]
pub(crate) struct Contract {
    ops: Vec<Operation>,
}

static CONTRACT: OnceLock<Result<Contract, String>> = OnceLock::new();

/// The contract, parsed on first use. An error means a broken extract file (a build-time fact;
/// `contract_loads` below fails on it).
pub(crate) fn contract() -> Result<&'static Contract, &'static str> {
    CONTRACT
        .get_or_init(Contract::load)
        .as_ref()
        .map_err(String::as_str)
}

/// `/api/v1/tickets/{ticketId}` → `/api/v1/tickets/{}`.
pub(crate) fn template(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

impl Contract {
    fn load() -> Result<Contract, String> {
        let mut common = Map::new();
        let mut ops = Vec::new();
        for (name, text) in MODULES {
            let module: Value =
                serde_json::from_str(text).map_err(|e| format!("{name}.json: {e}"))?;
            if *name == "Common" {
                if let Some(p) = module.get("parameters").and_then(Value::as_object) {
                    common = p.clone();
                }
                continue;
            }
            let shapes = module
                .get("shapes")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            for op in module
                .get("operations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                ops.push(
                    Operation::read(op, &shapes, &common).map_err(|e| format!("{name}: {e}"))?,
                );
            }
        }
        Ok(Contract { ops })
    }

    pub(crate) fn operation(&self, method: &Method, template: &str) -> Option<&Operation> {
        self.ops
            .iter()
            .find(|o| o.method == method && o.template == template)
    }
}

impl Operation {
    fn read(
        op: &Value,
        shapes: &Map<String, Value>,
        common: &Map<String, Value>,
    ) -> Result<Self, String> {
        let id = op
            .get("operationId")
            .and_then(Value::as_str)
            .ok_or("an operation without operationId")?
            .to_owned();
        let method = op
            .get("method")
            .and_then(Value::as_str)
            .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
            .ok_or_else(|| format!("{id}: no method"))?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{id}: no path"))?;
        let mut query = Vec::new();
        for p in op
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let p = match p.get("$common").and_then(Value::as_str) {
                Some(name) => common
                    .get(name)
                    .ok_or_else(|| format!("{id}: unknown common parameter {name}"))?,
                None => p,
            };
            if p.get("in").and_then(Value::as_str) != Some("query") {
                continue;
            }
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{id}: a parameter without a name"))?
                .to_owned();
            let deviation = DEVIATIONS
                .iter()
                .find(|(o, n, _)| *o == id && *n == name)
                .map(|(_, _, d)| *d);
            query.push(QueryParam {
                required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
                schema: resolve(p.get("schema").unwrap_or(&Value::Null), shapes, 0),
                name,
                deviation,
            });
        }
        for (_, name, d) in DEVIATIONS
            .iter()
            .filter(|(o, _, d)| *o == id && matches!(d, Deviation::Undeclared))
        {
            query.push(QueryParam {
                name: (*name).to_owned(),
                required: false,
                schema: Value::Object(Map::new()),
                deviation: Some(*d),
            });
        }
        let body = op
            .get("requestBody")
            .and_then(|b| b.get("schema"))
            .filter(|s| !s.is_null())
            .map(|s| resolve(s, shapes, 0));
        Ok(Operation {
            id,
            method,
            template: template(path),
            query,
            body,
        })
    }

    /// Checks a query string; the first problem is Zoho's answer.
    pub(crate) fn check_query(&self, pairs: &[(String, String)]) -> Result<(), ApiError> {
        for (k, _) in pairs {
            if !self.query.iter().any(|p| &p.name == k) {
                return Err(ApiError::extra_param(k));
            }
        }
        for p in &self.query {
            match pairs.iter().find(|(k, _)| *k == p.name) {
                None if p.required => {
                    return Err(ApiError::unprocessable(format!(
                        "The query parameter '{}' is mandatory and no value was given.",
                        p.name
                    )));
                }
                None => {}
                Some((_, v)) => p.check(v)?,
            }
        }
        Ok(())
    }

    /// Checks a JSON body; every problem is listed, as Zoho's `INVALID_DATA` does.
    pub(crate) fn check_body(&self, body: &Value) -> Result<(), ApiError> {
        let Some(schema) = &self.body else {
            return Ok(());
        };
        let mut errors = Vec::new();
        let mut schema = schema.clone();
        for (_, required, _) in BODY_ALTERNATIVES
            .iter()
            .filter(|(o, _, a)| *o == self.id && body.get(a).is_some())
        {
            if let Some(list) = schema.get_mut("required").and_then(Value::as_array_mut) {
                list.retain(|r| r.as_str() != Some(required));
            }
        }
        check_value(body, &schema, "", &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid_data(errors))
        }
    }
}

impl QueryParam {
    fn check(&self, raw: &str) -> Result<(), ApiError> {
        if let Some(Deviation::AlsoAccepts(v)) = self.deviation
            && raw == v
        {
            return Ok(());
        }
        let name = self.name.as_str();
        let types = types(&self.schema);
        if types.contains(&"array") {
            let items: Vec<&str> = raw.split(',').map(str::trim).collect();
            if let Some(max) = self.schema.get("maxItems").and_then(Value::as_u64)
                && items.len() as u64 > max
            {
                return Err(ApiError::unprocessable(format!(
                    "The number of values passed for field '{name}' exceeds the maximum of '{max}'."
                )));
            }
            let item_schema = self.schema.get("items").unwrap_or(&Value::Null);
            for item in items {
                self.check_scalar(item, item_schema)?;
            }
            return Ok(());
        }
        self.check_scalar(raw, &self.schema)
    }

    fn check_scalar(&self, raw: &str, schema: &Value) -> Result<(), ApiError> {
        let name = self.name.as_str();
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
            // Zoho's documentation: a `-` before a sort field sorts descending. The OAS enums
            // list the fields only ("Sorting", docs/zoho-contract.md).
            let raw = match name {
                "sortBy" => raw.strip_prefix('-').unwrap_or(raw),
                _ => raw,
            };
            if !allowed
                .iter()
                .any(|a| scalar_text(a).as_deref() == Some(raw))
            {
                return Err(ApiError::invalid_param(name));
            }
            return Ok(());
        }
        let types = types(schema);
        let is = |t: &str| types.contains(&t);
        if is("boolean") && !is("string") {
            return match raw {
                "true" | "false" => Ok(()),
                _ => Err(ApiError::invalid_param(name)),
            };
        }
        // Counts and offsets are typed `[integer, string]` in places; a value that is not a
        // number is only a string where the schema has no integer format.
        let integer_format = matches!(
            schema.get("format").and_then(Value::as_str),
            Some("int32") | Some("int64")
        ) && !is_id_schema(schema);
        if is("integer") && (!is("string") || integer_format || raw.trim().parse::<i64>().is_ok()) {
            let n: i64 = raw
                .trim()
                .parse()
                .map_err(|_| ApiError::invalid_param(name))?;
            let min = match self.deviation {
                Some(Deviation::NoMinimum) => None,
                _ => schema.get("minimum").and_then(Value::as_i64),
            };
            let max = schema.get("maximum").and_then(Value::as_i64);
            if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
                // Zoho words a one-sided bound as a range to the type's end.
                let top = match schema.get("format").and_then(Value::as_str) {
                    Some("int32") => i64::from(i32::MAX),
                    _ => i64::MAX,
                };
                return Err(ApiError::out_of_range(
                    name,
                    min.unwrap_or(0),
                    max.unwrap_or(top),
                ));
            }
            return Ok(());
        }
        if is_id_schema(schema) && !is_digits(raw) {
            return Err(ApiError::invalid_param(name));
        }
        let len = raw.chars().count() as u64;
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            return Err(ApiError::unprocessable(format!(
                "The value passed for field '{name}' exceeds the specified maximum length of '{max}'."
            )));
        }
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            return Err(ApiError::too_short(name, min as usize));
        }
        Ok(())
    }
}

/// A schema with `$shape`s inlined and `allOf` merged into one object schema. `$external` and
/// `$ref` (definitions in files the sandbox does not read) become the empty schema, which accepts
/// anything; so does a `$shape` nested deeper than any body the sandbox serves.
fn resolve(schema: &Value, shapes: &Map<String, Value>, depth: usize) -> Value {
    let Some(obj) = schema.as_object() else {
        return Value::Object(Map::new());
    };
    if depth > 12 {
        return Value::Object(Map::new());
    }
    if let Some(name) = obj.get("$shape").and_then(Value::as_str) {
        return match shapes.get(name) {
            Some(s) => resolve(s, shapes, depth + 1),
            None => Value::Object(Map::new()),
        };
    }
    if obj.contains_key("$external") || obj.contains_key("$ref") {
        return Value::Object(Map::new());
    }
    let mut out = Map::new();
    for (k, v) in obj {
        match k.as_str() {
            "properties" => {
                let props = v
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(n, s)| (n.clone(), resolve(s, shapes, depth + 1)))
                            .collect::<Map<_, _>>()
                    })
                    .unwrap_or_default();
                merge_properties(&mut out, props);
            }
            "items" => {
                out.insert(k.clone(), resolve(v, shapes, depth + 1));
            }
            "allOf" => {
                for branch in v.as_array().into_iter().flatten() {
                    let b = resolve(branch, shapes, depth + 1);
                    merge_branch(&mut out, b);
                }
            }
            "oneOf" => {
                let variants: Vec<Value> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| resolve(s, shapes, depth + 1))
                    .collect();
                out.insert(k.clone(), Value::Array(variants));
            }
            "discriminator" => {
                // The mapping names shapes: keep it resolved, keyed by the discriminator's value.
                let prop = v.get("propertyName").cloned().unwrap_or(Value::Null);
                let mut mapping = Map::new();
                for (value, shape) in v
                    .get("mapping")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    if let Some(name) = shape.as_str() {
                        let target = shapes.get(name).cloned().unwrap_or(Value::Null);
                        mapping.insert(value.clone(), resolve(&target, shapes, depth + 1));
                    }
                }
                out.insert(
                    k.clone(),
                    serde_json::json!({ "propertyName": prop, "variants": mapping }),
                );
            }
            "required" => {
                let mut req = out
                    .get("required")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for r in v.as_array().into_iter().flatten() {
                    if !req.contains(r) {
                        req.push(r.clone());
                    }
                }
                out.insert(k.clone(), Value::Array(req));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

fn merge_properties(out: &mut Map<String, Value>, props: Map<String, Value>) {
    let entry = out
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(m) = entry.as_object_mut() {
        for (k, v) in props {
            m.insert(k, v);
        }
    }
}

/// One `allOf` branch into the merged schema: properties and required lists add up; the outer
/// schema's own keywords (`additionalProperties` above all) are not overwritten.
fn merge_branch(out: &mut Map<String, Value>, branch: Value) {
    let Value::Object(b) = branch else { return };
    for (k, v) in b {
        match k.as_str() {
            "properties" => {
                if let Value::Object(props) = v {
                    merge_properties(out, props);
                }
            }
            "required" => {
                let mut req = out
                    .get("required")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for r in v.as_array().into_iter().flatten() {
                    if !req.contains(r) {
                        req.push(r.clone());
                    }
                }
                out.insert(k, Value::Array(req));
            }
            _ => {
                out.entry(k).or_insert(v);
            }
        }
    }
}

fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Zoho's ids: `format: int64` with the plain digits pattern.
fn is_id_schema(schema: &Value) -> bool {
    schema.get("format").and_then(Value::as_str) == Some("int64")
        && schema.get("pattern").and_then(Value::as_str) == Some("([0-9]+)")
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn json_type_matches(v: &Value, types: &[&str]) -> bool {
    types.is_empty()
        || match v {
            Value::Null => types.contains(&"null"),
            Value::Bool(_) => types.contains(&"boolean"),
            Value::Number(n) => {
                types.contains(&"number")
                    || (types.contains(&"integer") && (n.is_i64() || n.is_u64()))
            }
            Value::String(_) => types.contains(&"string"),
            Value::Array(_) => types.contains(&"array"),
            Value::Object(_) => types.contains(&"object"),
        }
}

fn field(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}/{key}")
    }
}

fn invalid(path: &str) -> FieldError {
    FieldError::invalid(
        path,
        format!("The value passed for field '{path}' is invalid."),
    )
}

fn check_value(v: &Value, schema: &Value, path: &str, errors: &mut Vec<FieldError>) {
    if let Some(d) = schema.get("discriminator") {
        let prop = d.get("propertyName").and_then(Value::as_str).unwrap_or("");
        let variants = d.get("variants").and_then(Value::as_object);
        let chosen = v.get(prop).and_then(Value::as_str);
        let variant = match (chosen, variants) {
            (None, _) => {
                errors.push(FieldError::missing(&field(path, prop)));
                return;
            }
            (Some(c), Some(vs)) => vs.get(c),
            (Some(_), None) => None,
        };
        let Some(variant) = variant else {
            errors.push(invalid(&field(path, prop)));
            return;
        };
        // The outer schema's own properties (sendReply's `isPrivate`) hold beside the variant's.
        let mut merged = variant.clone();
        if let (Some(m), Some(outer)) = (
            merged.as_object_mut(),
            schema.get("properties").and_then(Value::as_object),
        ) {
            merge_properties(m, outer.clone());
        }
        check_value(v, &merged, path, errors);
        return;
    }
    if v.is_null() && types(schema).contains(&"null") {
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(v)
    {
        errors.push(invalid(path));
        return;
    }
    let types = types(schema);
    if !json_type_matches(v, &types) {
        errors.push(invalid(path));
        return;
    }
    match v {
        Value::String(s) => {
            let len = s.chars().count() as u64;
            let bad_id = is_id_schema(schema) && !is_digits(s);
            let too_long = schema
                .get("maxLength")
                .and_then(Value::as_u64)
                .is_some_and(|m| len > m);
            let too_short = schema
                .get("minLength")
                .and_then(Value::as_u64)
                .is_some_and(|m| len < m);
            if bad_id || too_long || too_short {
                errors.push(invalid(path));
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if schema
                .get("minimum")
                .and_then(Value::as_f64)
                .is_some_and(|m| x < m)
                || schema
                    .get("maximum")
                    .and_then(Value::as_f64)
                    .is_some_and(|m| x > m)
            {
                errors.push(invalid(path));
            }
        }
        Value::Array(items) => {
            let n = items.len() as u64;
            if schema
                .get("maxItems")
                .and_then(Value::as_u64)
                .is_some_and(|m| n > m)
                || schema
                    .get("minItems")
                    .and_then(Value::as_u64)
                    .is_some_and(|m| n < m)
            {
                errors.push(invalid(path));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check_value(item, item_schema, &field(path, &i.to_string()), errors);
                }
            }
        }
        Value::Object(map) => check_object(map, schema, path, errors),
        Value::Null | Value::Bool(_) => {}
    }
}

fn check_object(
    map: &Map<String, Value>,
    schema: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    for r in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if map.get(r).is_none_or(Value::is_null) {
            errors.push(FieldError::missing(&field(path, r)));
        }
    }
    let props = schema.get("properties").and_then(Value::as_object);
    let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
    // Custom fields (`cf`) are keyed by name patterns; patterns are not evaluated (see the
    // module's comment), so any key takes the first pattern's value schema.
    let by_pattern = schema
        .get("patternProperties")
        .and_then(Value::as_object)
        .and_then(|m| m.values().next());
    for (k, v) in map {
        match props.and_then(|p| p.get(k)).or(by_pattern) {
            Some(s) => check_value(v, s, &field(path, k), errors),
            None if closed => {
                let f = field(path, k);
                errors.push(FieldError::invalid(
                    &f,
                    format!("The field '{f}' is not allowed in the input."),
                ));
            }
            None => {}
        }
    }
}

/// Bodies above this are left to the handlers' extractor, which answers 413.
const MAX_CHECKED_BODY: usize = 1024 * 1024;

/// The layer in front of every served `/api/v1` route: the operation's query and JSON body are
/// held to the contract before the handler sees them. Routes the extract does not hold pass.
pub(crate) async fn enforce(State(_app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let Some(matched) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
    else {
        return next.run(req).await;
    };
    if !matched.starts_with("/api/v1/") {
        return next.run(req).await;
    }
    let contract = match contract() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = e, "the sandbox's contract extract does not load");
            return ApiError::internal(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
                .into_response();
        }
    };
    let Some(op) = contract.operation(req.method(), &template(&matched)) else {
        return next.run(req).await;
    };
    let mut resp = held(op, req, next).await;
    if let Ok(v) = HeaderValue::from_str(&op.id) {
        resp.headers_mut().insert(OPERATION_HEADER, v);
    }
    resp
}

/// Names the operation a request was served as, so a test can tell which of Zoho's operations
/// answered (`/contacts/count` is not `/contacts/{contactId}`). Zoho sends no such header;
/// clients ignore it.
pub const OPERATION_HEADER: &str = "x-sandbox-operation";

async fn held(op: &Operation, req: Request, next: Next) -> Response {
    let Some(pairs) = parse_pairs(req.uri().query().unwrap_or("")) else {
        return ApiError::bad_request("The query string is not valid UTF-8 percent-encoding.")
            .into_response();
    };
    if let Err(e) = op.check_query(&pairs) {
        tracing::debug!(operation = %op.id, message = %e.message, "refused by the contract");
        return e.into_response();
    }
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !is_json || op.body.is_none() {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_CHECKED_BODY).await else {
        return ApiError::payload_too_large().into_response();
    };
    // Only an object is checked; anything else gets the handler's own media-type and syntax
    // answers.
    if let Ok(value @ Value::Object(_)) = serde_json::from_slice::<Value>(&bytes)
        && let Err(e) = op.check_body(&value)
    {
        tracing::debug!(operation = %op.id, message = %e.message, "refused by the contract");
        return e.into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_loads_every_module() {
        let c = contract();
        assert!(c.is_ok(), "{c:?}");
        let ops = c.map(|c| c.ops.len()).unwrap_or(0);
        assert!(ops > 150, "only {ops} operations");
    }

    #[test]
    fn send_reply_variants_are_resolved_by_channel() {
        let Ok(c) = contract() else {
            panic!("no contract")
        };
        let Some(op) = c.operation(&Method::POST, "/api/v1/tickets/{}/sendReply") else {
            panic!("sendReply missing")
        };
        let phone = serde_json::json!({"channel": "PHONE", "content": "x"});
        assert!(op.check_body(&phone).is_err());
        let no_from = serde_json::json!({"channel": "EMAIL", "content": "x", "to": "a@b.co"});
        assert!(op.check_body(&no_from).is_err());
    }
}
