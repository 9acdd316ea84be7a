//! Turns the two YAML files into a [`Catalog`], checking everything that would otherwise fail at
//! call time: unknown verbs, malformed paths, schemas with keywords the validator cannot enforce,
//! arguments that would land in two places, documentation for methods that do not exist.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value, json};

use super::definition::{
    Access, DeclaredKind, DefinitionError, DocRecord, DocumentationFile, EnvelopeKey, MethodDef,
    PaginationStyle, ResourcesFile, at, parse_yaml,
};
use super::routing::Route;
use super::{
    Catalog, Contract, MethodKind, Operation, Paging, ToolSpec, composite, naming, schema,
};

const RESOURCES: &str = "resources.yaml";
const DOCS: &str = "documentation.yaml";
const STANDARD: [&str; 5] = ["list", "get", "create", "update", "delete"];
/// Arguments the gateway adds to every paginated tool.
const PAGING_ARGS: [&str; 2] = ["limit", "next_cursor"];

fn invalid(at: impl Into<String>, message: impl Into<String>) -> DefinitionError {
    DefinitionError::Invalid {
        at: at.into(),
        message: message.into(),
    }
}

pub(crate) fn build(resources_text: &str, docs_text: &str) -> Result<Catalog, DefinitionError> {
    let resources: ResourcesFile = parse_yaml(resources_text, RESOURCES)?;
    let docs: DocumentationFile = parse_yaml(docs_text, DOCS)?;
    let integration = resources.integration.clone();
    if !naming::is_identifier(&integration) {
        return Err(invalid(
            RESOURCES,
            format!("integration `{integration}` must be snake_case"),
        ));
    }

    let mut ops = Vec::new();
    let mut by_method = HashMap::new();
    let mut meta = Vec::new(); // (singular, resource tags, method tags, hints override, location)
    let mut also_in_body: Vec<Vec<String>> = Vec::new();
    for (rname, rdef) in &resources.resources {
        let rat = at(RESOURCES, rdef);
        if !naming::is_identifier(rname) || !naming::is_identifier(&rdef.value.singular) {
            return Err(invalid(
                &rat,
                format!("resource `{rname}` and its singular must be snake_case"),
            ));
        }
        for (mname, mdef) in &rdef.value.methods {
            let mat = at(RESOURCES, mdef);
            if !naming::is_identifier(mname) {
                return Err(invalid(
                    &mat,
                    format!("method `{mname}` must be snake_case"),
                ));
            }
            let op = operation(rname, mname, &mdef.value, &mat)?;
            by_method.insert((rname.clone(), mname.clone()), ops.len());
            ops.push(op);
            also_in_body.push(mdef.value.also_in_body.clone());
            meta.push((
                rdef.value.singular.clone(),
                rdef.value.tags.clone(),
                mdef.value.tags.clone(),
                mdef.value.hints.unwrap_or_default(),
            ));
        }
    }

    for (key, record) in &docs.records {
        let rat = at(DOCS, record);
        let known = key
            .split_once('.')
            .is_some_and(|(r, m)| by_method.contains_key(&(r.to_string(), m.to_string())));
        if !known {
            return Err(invalid(
                rat,
                format!(
                    "documentation record `{key}` names no method declared in {RESOURCES} (expected `<resource>.<method>`)"
                ),
            ));
        }
    }

    for op in &ops {
        if op.kind == MethodKind::Composite {
            let needs = composite::requirements(&op.resource, &op.method).ok_or_else(|| {
                invalid(
                    RESOURCES,
                    format!(
                        "composite method `{}.{}` has no implementation in catalog/composite.rs",
                        op.resource, op.method
                    ),
                )
            })?;
            for (r, m) in needs {
                if !by_method.contains_key(&(r.to_string(), m.to_string())) {
                    return Err(invalid(
                        RESOURCES,
                        format!(
                            "composite `{}.{}` needs method `{r}.{m}`, which is not declared",
                            op.resource, op.method
                        ),
                    ));
                }
            }
        }
    }

    let mut tools = Vec::new();
    let mut tool_ops = Vec::new();
    let mut by_name = HashMap::new();
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| {
        let op = &ops[i];
        let rank = STANDARD
            .iter()
            .position(|s| *s == op.method)
            .unwrap_or(STANDARD.len());
        (op.resource.clone(), rank, op.method.clone())
    });
    for i in order {
        let key = format!("{}.{}", ops[i].resource, ops[i].method);
        let Some(record) = docs.records.get(&key) else {
            continue;
        };
        let rat = at(DOCS, record);
        let (singular, rtags, mtags, hints) = &meta[i];
        let (spec, query_keys, body_keys, has_body) =
            tool_spec(&integration, &ops[i], singular, &record.value, &rat)?;
        let mut spec = spec;
        let mut tags: Vec<String> = Vec::new();
        for t in rtags.iter().chain(mtags) {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        spec.tags = tags;
        let h = &mut spec.annotations;
        h.read_only = hints.read_only.unwrap_or(h.read_only);
        h.destructive = hints.destructive.unwrap_or(h.destructive);
        h.idempotent = hints.idempotent.unwrap_or(h.idempotent);
        h.open_world = hints.open_world.unwrap_or(h.open_world);
        if h.read_only != ops[i].kind.is_read() {
            return Err(invalid(
                &rat,
                format!("`{key}`: hints.read_only contradicts the method's access"),
            ));
        }
        if by_name.contains_key(&spec.name) {
            return Err(invalid(
                &rat,
                format!("two methods produce the tool name `{}`", spec.name),
            ));
        }
        let mut body_keys = body_keys;
        check_contract(&ops[i], &also_in_body[i], &spec, &query_keys, has_body)
            .map_err(|m| invalid(&rat, format!("`{key}`: {m}")))?;
        body_keys.extend(also_in_body[i].iter().cloned());
        ops[i].query_keys = query_keys;
        ops[i].body_keys = body_keys;
        ops[i].has_body = has_body;
        by_name.insert(spec.name.clone(), tools.len());
        tools.push(spec);
        tool_ops.push(i);
    }

    Ok(Catalog {
        integration,
        tools,
        tool_ops,
        ops,
        by_name,
        by_method,
    })
}

fn operation(
    resource: &str,
    method: &str,
    def: &MethodDef,
    mat: &str,
) -> Result<Operation, DefinitionError> {
    let here = |m: String| invalid(mat, format!("`{resource}.{method}`: {m}"));
    let composite = def.kind == Some(DeclaredKind::Composite);
    let kind = if composite {
        if def.access != Some(Access::Read) {
            return Err(here("composite methods must declare `access: read`".into()));
        }
        if def.http.is_some() || def.path.is_some() || def.pagination.is_some() {
            return Err(here(
                "composite methods take no http, path or pagination".into(),
            ));
        }
        MethodKind::Composite
    } else {
        match method {
            "list" => MethodKind::List,
            "get" => MethodKind::Get,
            "create" => MethodKind::Create,
            "update" => MethodKind::Update,
            "delete" => MethodKind::Delete,
            _ => match def.access {
                Some(a) => MethodKind::Custom {
                    read_only: a == Access::Read,
                },
                None => {
                    return Err(here(
                        "custom methods must declare `access: read` or `access: write`".into(),
                    ));
                }
            },
        }
    };
    if STANDARD.contains(&method) {
        let implied = matches!(kind, MethodKind::List | MethodKind::Get);
        if def.access.is_some_and(|a| (a == Access::Read) != implied) {
            return Err(here("`access` contradicts the standard method".into()));
        }
    }

    let route = if composite {
        None
    } else {
        let verb = def
            .http
            .as_deref()
            .ok_or_else(|| here("`http` is required".into()))?;
        let verb = match verb.to_ascii_uppercase().as_str() {
            "GET" => http::Method::GET,
            "POST" => http::Method::POST,
            "PATCH" => http::Method::PATCH,
            "PUT" => http::Method::PUT,
            "DELETE" => http::Method::DELETE,
            other => return Err(here(format!("unsupported http verb `{other}`"))),
        };
        let path = def
            .path
            .as_deref()
            .ok_or_else(|| here("`path` is required".into()))?;
        Some(Route::parse(verb, path).map_err(here)?)
    };

    let style = def.pagination.unwrap_or(PaginationStyle::None);
    if kind == MethodKind::List && def.pagination.is_none() {
        return Err(here(
            "list methods must declare `pagination` (use `none` for unpaged lists)".into(),
        ));
    }
    let paging = if style == PaginationStyle::None {
        if def.page_size.is_some() || def.max_offset.is_some() {
            return Err(here("page_size/max_offset need a pagination style".into()));
        }
        None
    } else {
        let size = def
            .page_size
            .ok_or_else(|| here("paginated methods must declare `page_size`".into()))?;
        let reserved = u64::from(style == PaginationStyle::Offset);
        if size.min == 0 || size.min > size.default || size.default + reserved > size.max {
            return Err(here(if reserved == 1 {
                "page_size needs 1 <= min <= default < max (one slot is kept for the overlap item)"
                    .into()
            } else {
                "page_size needs 1 <= min <= default <= max".into()
            }));
        }
        Some(Paging {
            style,
            size,
            max_offset: def.max_offset,
        })
    };
    let envelope = def.envelope.unwrap_or(EnvelopeKey::None);
    let lists = paging.is_some() || (kind == MethodKind::List);
    if lists && envelope == EnvelopeKey::None {
        return Err(here(
            "list-shaped methods must declare `envelope: data` or `envelope: teams`".into(),
        ));
    }
    if !lists && envelope != EnvelopeKey::None {
        return Err(here("only paginated methods take an envelope".into()));
    }
    if def.count && paging.is_none() {
        return Err(here(
            "`count: true` is only meaningful on paginated methods".into(),
        ));
    }
    Ok(Operation {
        resource: resource.to_string(),
        method: method.to_string(),
        kind,
        route,
        paging,
        envelope,
        count: def.count,
        query_keys: Vec::new(),
        body_keys: Vec::new(),
        has_body: false,
        contract: Contract {
            empty_result: def.empty_result.clone(),
            required_when: def.required_when.clone(),
            email_args: def.email_args.clone(),
        },
    })
}

/// Every argument a contract rule names must be an argument of the tool; `also_in_body` names
/// query arguments of a method that has a body.
fn check_contract(
    op: &Operation,
    also_in_body: &[String],
    spec: &ToolSpec,
    query_keys: &[String],
    has_body: bool,
) -> Result<(), String> {
    let declared = |name: &str| {
        spec.input_schema
            .get("properties")
            .and_then(|p| p.get(name))
            .is_some()
    };
    let c = &op.contract;
    let named = c
        .required_when
        .iter()
        .flat_map(|r| r.when.keys().chain(&r.fields))
        .chain(&c.email_args)
        .chain(c.empty_result.iter().flat_map(|r| &r.echo));
    for name in named {
        if !declared(name) {
            return Err(format!(
                "the contract names `{name}`, which is not an argument"
            ));
        }
    }
    for name in also_in_body {
        if !query_keys.contains(name) || !has_body {
            return Err(format!(
                "also_in_body `{name}` must be a query argument of a method with a body"
            ));
        }
    }
    if c.empty_result.is_some() && op.paging.is_some() {
        return Err("empty_result is for single calls, not lists".into());
    }
    Ok(())
}

/// Builds the tool and returns the query and body keys used for routing.
fn tool_spec(
    integration: &str,
    op: &Operation,
    singular: &str,
    doc: &DocRecord,
    rat: &str,
) -> Result<(ToolSpec, Vec<String>, Vec<String>, bool), DefinitionError> {
    let key = format!("{}.{}", op.resource, op.method);
    let here = |m: String| invalid(rat, format!("`{key}`: {m}"));
    let mut props = Map::new();
    let mut required: Vec<String> = Vec::new();
    let add = |name: &str, schema: Value, origin: &str, props: &mut Map<String, Value>| {
        if props.contains_key(name) {
            return Err(here(format!(
                "argument `{name}` is declared twice (again in {origin}); the flat argument namespace needs unique names"
            )));
        }
        props.insert(name.to_string(), schema);
        Ok(())
    };
    let object_props = |schema: &Value,
                        what: &str|
     -> Result<(Map<String, Value>, Vec<String>), DefinitionError> {
        if schema.get("type").and_then(Value::as_str) != Some("object") {
            return Err(here(format!("{what} must be `type: object`")));
        }
        schema::check_supported(schema, &format!("{rat} {what}")).map_err(&here)?;
        let props = schema
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let required = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Ok((props, required))
    };

    let mut query_keys = Vec::new();
    let mut body_keys = Vec::new();
    let has_body;
    if op.kind == MethodKind::Composite {
        if doc.query_schema.is_some() || doc.body_schema.is_some() || doc.path_schema.is_some() {
            return Err(here(
                "composite methods declare their arguments in input_schema only".into(),
            ));
        }
        let input = doc
            .input_schema
            .as_ref()
            .ok_or_else(|| here("composite methods need an input_schema".into()))?;
        let (p, r) = object_props(input, "input_schema")?;
        for (name, s) in p {
            add(&name, s, "input_schema", &mut props)?;
        }
        required.extend(r);
        has_body = false;
    } else {
        if doc.input_schema.is_some() {
            return Err(here(
                "input_schema is only for composite methods; use path/query/body schemas".into(),
            ));
        }
        let route = op
            .route
            .as_ref()
            .ok_or_else(|| here("missing route".into()))?;
        let path_docs = doc
            .path_schema
            .as_ref()
            .and_then(|p| p.get("properties"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for name in path_docs.keys() {
            if !route.params.contains(name) {
                return Err(here(format!(
                    "path_schema describes `{name}`, which is not in the path `{}`",
                    route.template
                )));
            }
        }
        for param in &route.params {
            let description = path_docs
                .get(param)
                .and_then(|p| p.get("description"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| default_param_description(param, singular));
            add(
                param,
                json!({"type": "string", "minLength": 1, "description": description}),
                "the path",
                &mut props,
            )?;
            required.push(param.clone());
        }
        if let Some(q) = &doc.query_schema {
            let (p, r) = object_props(q, "query_schema")?;
            for (name, s) in p {
                if op.paging.is_some() && (PAGING_ARGS.contains(&name.as_str()) || name == "from") {
                    return Err(here(format!(
                        "query_schema must not declare `{name}`; the gateway pages with limit and next_cursor"
                    )));
                }
                query_keys.push(name.clone());
                add(&name, s, "query_schema", &mut props)?;
            }
            required.extend(r);
        }
        if let Some(b) = &doc.body_schema {
            let (p, r) = object_props(b, "body_schema")?;
            for (name, s) in p {
                body_keys.push(name.clone());
                add(&name, s, "body_schema", &mut props)?;
            }
            required.extend(r);
            has_body = true;
        } else {
            has_body = false;
        }
        if !has_body
            && matches!(
                route.http,
                http::Method::POST | http::Method::PATCH | http::Method::PUT
            )
        {
            return Err(here(format!("{} methods need a body_schema", route.http)));
        }
    }

    if let Some(paging) = &op.paging {
        let s = paging.size;
        let max = paging.max_limit();
        add(
            "limit",
            json!({"type": "integer", "minimum": s.min, "maximum": max,
                   "description": format!("Page size, {}–{} (default {}).", s.min, max, s.default)}),
            "pagination",
            &mut props,
        )?;
        add(
            "next_cursor",
            json!({"type": "string", "description": "The next_cursor of the previous page, to continue the same query. The other arguments may then be omitted."}),
            "pagination",
            &mut props,
        )?;
    }

    let mut seen = BTreeSet::new();
    required.retain(|r| seen.insert(r.clone()));
    for r in &required {
        if !props.contains_key(r) {
            return Err(here(format!("`{r}` is required but not declared")));
        }
    }
    let mut input_schema =
        json!({"type": "object", "properties": props, "additionalProperties": false});
    if !required.is_empty() {
        input_schema["required"] = json!(required);
    }
    schema::check_supported(&input_schema, &format!("{rat} input")).map_err(here)?;

    let output_schema = match &doc.response_schema {
        None => None,
        Some(r) if !r.is_object() => return Err(here("response_schema must be an object".into())),
        Some(item) if op.paging.is_some() || op.kind == MethodKind::List => {
            let mut props = json!({"result": {"type": "array", "items": item}});
            if op.paging.is_some() {
                props["next_cursor"] =
                    json!({"type": "string", "description": "Absent on the last page."});
            }
            if op.count {
                props["count"] =
                    json!({"type": "integer", "description": "Total matches reported by Zoho."});
            }
            Some(json!({"type": "object", "properties": props, "required": ["result"]}))
        }
        Some(r) if r.get("type").and_then(Value::as_str) == Some("object") => Some(r.clone()),
        // Tool results must be objects; a non-object response is wrapped as {result}.
        Some(r) => Some(json!({"type": "object", "properties": {"result": r}})),
    };

    let kind = op.kind;
    let name = naming::tool_name(integration, &op.resource, singular, &op.method, kind);
    if !naming::is_valid_tool_name(&name) {
        return Err(here(format!(
            "tool name `{name}` is not a valid MCP tool name (1–128 of [A-Za-z0-9_.-])"
        )));
    }
    let mut description = doc.description.trim().to_string();
    if op.paging.is_some() {
        description.push_str(
            "\n\nPaged: returns {\"result\": [...], \"next_cursor\": \"...\"}. To get more, call again with next_cursor; it is absent on the last page.",
        );
    }
    let spec = ToolSpec {
        name,
        title: doc
            .title
            .clone()
            .unwrap_or_else(|| naming::default_title(&op.resource, singular, &op.method, kind)),
        description,
        input_schema,
        output_schema,
        annotations: kind.default_hints(),
        resource: op.resource.clone(),
        method: op.method.clone(),
        kind,
        tags: Vec::new(),
        generated: false,
    };
    Ok((spec, query_keys, body_keys, has_body))
}

fn default_param_description(param: &str, singular: &str) -> String {
    if param == "id" {
        format!(
            "ID of the {} (a numeric string).",
            singular.replace('_', " ")
        )
    } else {
        let base = param.strip_suffix("Id").unwrap_or(param);
        format!("ID of the {base} (a numeric string).")
    }
}
