//! Structured outputs: the workflow's output schema sent as `response_format` (`json_schema`,
//! `strict: true`), so the provider constrains decoding to it instead of the runner describing it
//! in the prompt and correcting the model afterwards.
//!
//! Strict mode accepts a subset of JSON Schema: the root is an object, every object lists all its
//! properties in `required` and sets `additionalProperties: false`, and only some keywords
//! constrain decoding. [`strict_schema`] rewrites a workflow schema into that subset; the answer
//! is still validated against the workflow's own schema afterwards ([`strip_added_nulls`] undoes
//! the one change that would otherwise make it fail), so a keyword strict mode cannot enforce is
//! enforced by the runner's check and its one correction, as before.

use serde_json::{Map, Value, json};
use zoho_desk_mcp::catalog::validate_json;

/// The `json_schema.name` sent with every schema: the same for every item and run, so it never
/// breaks a provider's prompt cache.
pub const FORMAT_NAME: &str = "final_answer";

/// A `response_format` of type `json_schema`, already in strict form.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseFormat {
    pub name: String,
    pub schema: Value,
}

impl ResponseFormat {
    /// The strict form of `schema`, or why strict mode cannot express it.
    pub fn for_schema(schema: &Value) -> Result<Self, String> {
        Ok(ResponseFormat {
            name: FORMAT_NAME.into(),
            schema: strict_schema(schema)?,
        })
    }
}

/// Keywords strict mode accepts besides the structural ones handled one by one below. Anything
/// else (`minLength`, `uniqueItems`, `default`, `examples`, `not`, `if`, ...) is left out of the
/// strict schema; the runner's own validation still applies it.
const KEPT: &[&str] = &[
    "description",
    "title",
    "enum",
    "const",
    "pattern",
    "multipleOf",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "$ref",
];

/// String formats strict mode knows; any other `format` is left out.
const FORMATS: &[&str] = &[
    "date-time",
    "time",
    "date",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uuid",
];

/// Rewrites `schema` into what strict mode accepts: every object gets `additionalProperties:
/// false` and lists all its properties in `required`, the ones that were optional made nullable
/// (`null` is how a strict answer leaves them out); `oneOf` becomes `anyOf`; keywords strict mode
/// does not support are dropped. Fails when strict mode cannot express the schema at all: a
/// root that is not an object, a free-form object (no `properties`, or `additionalProperties`
/// other than `false`), `allOf`, tuple `items`, or a node with no type.
pub fn strict_schema(schema: &Value) -> Result<Value, String> {
    if !is_object_schema(schema) {
        return Err("the root of the output schema must be an object (`type: object`)".into());
    }
    let mut out = node(schema, "")?;
    for defs in ["$defs", "definitions"] {
        if let Some(Value::Object(entries)) = schema.get(defs) {
            let mut converted = Map::new();
            for (name, sub) in entries {
                converted.insert(name.clone(), node(sub, &format!("/{defs}/{name}"))?);
            }
            if let Some(obj) = out.as_object_mut() {
                obj.insert(defs.into(), Value::Object(converted));
            }
        }
    }
    Ok(out)
}

fn is_object_schema(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
        _ => schema.get("properties").is_some(),
    }
}

fn shown(at: &str) -> &str {
    if at.is_empty() { "the root" } else { at }
}

fn node(schema: &Value, at: &str) -> Result<Value, String> {
    let Some(src) = schema.as_object() else {
        return Err(format!("{}: a schema must be an object", shown(at)));
    };
    if src.contains_key("allOf") {
        return Err(format!("{}: strict mode has no `allOf`", shown(at)));
    }
    let mut out = Map::new();
    for key in KEPT {
        if let Some(v) = src.get(*key) {
            out.insert((*key).into(), v.clone());
        }
    }
    if let Some(Value::String(format)) = src.get("format")
        && FORMATS.contains(&format.as_str())
    {
        out.insert("format".into(), json!(format));
    }
    if let Some(t) = src.get("type") {
        out.insert("type".into(), t.clone());
    }
    let branches = src.get("anyOf").or_else(|| src.get("oneOf"));
    if let Some(branches) = branches {
        let Some(branches) = branches.as_array() else {
            return Err(format!("{}: `anyOf` must be an array", shown(at)));
        };
        let converted = branches
            .iter()
            .enumerate()
            .map(|(i, b)| node(b, &format!("{at}/anyOf/{i}")))
            .collect::<Result<Vec<_>, _>>()?;
        out.insert("anyOf".into(), Value::Array(converted));
    }
    let typed = ["type", "enum", "const", "$ref", "anyOf"]
        .iter()
        .any(|k| out.contains_key(*k));
    if !typed && !src.contains_key("properties") {
        return Err(format!(
            "{}: strict mode needs a type for every value (this one accepts anything)",
            shown(at)
        ));
    }
    if is_object_schema(schema) {
        object(src, &mut out, at)?;
    }
    if let Some(items) = src.get("items") {
        if !items.is_object() {
            return Err(format!(
                "{}: strict mode needs `items` to be one schema",
                shown(at)
            ));
        }
        out.insert("items".into(), node(items, &format!("{at}/items"))?);
    }
    Ok(Value::Object(out))
}

fn object(src: &Map<String, Value>, out: &mut Map<String, Value>, at: &str) -> Result<(), String> {
    match src.get("additionalProperties") {
        None | Some(Value::Bool(false)) => {}
        Some(_) => {
            return Err(format!(
                "{}: strict mode cannot express extra properties (`additionalProperties` must be false or absent)",
                shown(at)
            ));
        }
    }
    let Some(Value::Object(props)) = src.get("properties") else {
        return Err(format!(
            "{}: strict mode cannot express an object without `properties`",
            shown(at)
        ));
    };
    if !out.contains_key("type") {
        out.insert("type".into(), json!("object"));
    }
    let required: Vec<&str> = src
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut converted = Map::new();
    for (name, sub) in props {
        let mut strict = node(sub, &format!("{at}/properties/{name}"))?;
        if !required.contains(&name.as_str()) {
            strict = nullable(strict);
        }
        converted.insert(name.clone(), strict);
    }
    out.insert(
        "required".into(),
        Value::Array(props.keys().map(|k| json!(k)).collect()),
    );
    out.insert("properties".into(), Value::Object(converted));
    out.insert("additionalProperties".into(), Value::Bool(false));
    Ok(())
}

/// `schema` that also accepts `null`.
fn nullable(mut schema: Value) -> Value {
    if accepts_null(&schema) {
        return schema;
    }
    let Some(obj) = schema.as_object_mut() else {
        return schema;
    };
    if let Some(Value::Array(branches)) = obj.get_mut("anyOf") {
        branches.push(json!({"type": "null"}));
        return schema;
    }
    // A nullable object is written as a branch, the form strict mode documents; a scalar or
    // array just gains "null" among its types.
    let simple_type = obj.contains_key("type")
        && !obj.contains_key("const")
        && !obj.contains_key("$ref")
        && !obj.contains_key("properties");
    if simple_type {
        if let Some(t) = obj.get_mut("type") {
            *t = match t.take() {
                Value::Array(mut types) => {
                    if !types.iter().any(|t| t == "null") {
                        types.push(json!("null"));
                    }
                    Value::Array(types)
                }
                Value::String(single) if single == "null" => json!(single),
                single => json!([single, "null"]),
            };
        }
        if let Some(Value::Array(values)) = obj.get_mut("enum") {
            values.push(Value::Null);
        }
        return schema;
    }
    json!({"anyOf": [schema, {"type": "null"}]})
}

fn accepts_null(schema: &Value) -> bool {
    let by_type = match schema.get("type") {
        Some(Value::String(t)) => t == "null",
        Some(Value::Array(types)) => types.iter().any(|t| t == "null"),
        _ => false,
    };
    let by_enum = match schema.get("enum") {
        Some(Value::Array(values)) => values.contains(&Value::Null),
        _ => true,
    };
    let by_branch = schema
        .get("anyOf")
        .and_then(Value::as_array)
        .is_some_and(|b| b.iter().any(accepts_null));
    (by_type && by_enum) || by_branch
}

/// Removes the `null`s a strict answer puts where the workflow's schema had an optional property
/// that does not accept `null`: strict mode cannot leave a property out, so it says `null`, which
/// the workflow's own schema would refuse. Follows `properties`, `items` and local `$ref`s.
pub fn strip_added_nulls(schema: &Value, value: Value) -> Value {
    strip(schema, schema, value, 0)
}

/// Deep enough for any real answer; stops a `$ref` cycle.
const MAX_DEPTH: usize = 32;

fn strip(root: &Value, schema: &Value, value: Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return value;
    }
    let schema = resolve(root, schema);
    match value {
        Value::Object(map) => {
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let props = schema.get("properties").and_then(Value::as_object);
            let mut out = Map::new();
            for (key, v) in map {
                let sub = props.and_then(|p| p.get(&key));
                match (sub, v) {
                    (Some(sub), Value::Null)
                        if !required.contains(&key.as_str())
                            && validate_json(resolve(root, sub), Value::Null).is_err() => {}
                    (Some(sub), v) => {
                        out.insert(key, strip(root, sub, v, depth + 1));
                    }
                    (None, v) => {
                        out.insert(key, v);
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => match schema.get("items") {
            Some(item_schema) => Value::Array(
                items
                    .into_iter()
                    .map(|v| strip(root, item_schema, v, depth + 1))
                    .collect(),
            ),
            None => Value::Array(items),
        },
        other => other,
    }
}

/// The schema a local `$ref` (`#/$defs/x`, `#/definitions/x`) points at; `schema` otherwise.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .strip_prefix('#')
            .and_then(|pointer| root.pointer(pointer))
            .unwrap_or(schema),
        None => schema,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn optional_properties_become_required_and_nullable_and_objects_closed() {
        let schema = json!({
            "type": "object",
            "required": ["decision"],
            "properties": {
                "decision": {"type": "string", "enum": ["assign", "abstain"]},
                "teamId": {"type": "string"},
                "priority": {"type": "string", "enum": ["Low", "High"]},
                "note": {"type": "object", "properties": {"text": {"type": "string"}}},
            }
        });
        let strict = strict_schema(&schema).unwrap();
        assert_eq!(
            strict,
            json!({
                "type": "object",
                "required": ["decision", "teamId", "priority", "note"],
                "additionalProperties": false,
                "properties": {
                    "decision": {"type": "string", "enum": ["assign", "abstain"]},
                    "teamId": {"type": ["string", "null"]},
                    "priority": {"type": ["string", "null"], "enum": ["Low", "High", null]},
                    "note": {"anyOf": [
                        {
                            "type": "object",
                            "required": ["text"],
                            "additionalProperties": false,
                            "properties": {"text": {"type": ["string", "null"]}},
                        },
                        {"type": "null"},
                    ]},
                }
            })
        );
    }

    #[test]
    fn properties_that_already_accept_null_are_left_alone() {
        let schema = json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["reason"],
            "properties": {
                "reason": {"type": "string", "minLength": 1},
                "assigneeId": {"type": ["string", "null"], "description": "who"},
            }
        });
        let strict = strict_schema(&schema).unwrap();
        assert_eq!(
            strict["properties"]["assigneeId"],
            json!({"type": ["string", "null"], "description": "who"})
        );
        // minLength is not a strict-mode keyword: left to the runner's own validation.
        assert_eq!(strict["properties"]["reason"], json!({"type": "string"}));

        // Null among the types but not among the values: only the value is added.
        let narrowed = json!({"type": "object", "properties": {
            "level": {"type": ["string", "null"], "enum": ["low", "high"]}}});
        assert_eq!(
            strict_schema(&narrowed).unwrap()["properties"]["level"],
            json!({"type": ["string", "null"], "enum": ["low", "high", null]})
        );
    }

    #[test]
    fn unsupported_keywords_are_dropped_and_supported_ones_kept() {
        let schema = json!({
            "type": "object",
            "required": ["ids", "score", "when", "site"],
            "properties": {
                "ids": {"type": "array", "items": {"type": "string", "pattern": "^[0-9]+$"},
                        "minItems": 1, "maxItems": 3, "uniqueItems": true},
                "score": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
                "when": {"type": "string", "format": "date-time", "examples": ["x"]},
                "site": {"type": "string", "format": "uri", "maxLength": 20},
                "kind": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            }
        });
        let strict = strict_schema(&schema).unwrap();
        let p = &strict["properties"];
        assert_eq!(
            p["ids"],
            json!({"type": "array", "minItems": 1, "maxItems": 3,
                   "items": {"type": "string", "pattern": "^[0-9]+$"}})
        );
        assert_eq!(
            p["score"],
            json!({"type": "number", "minimum": 0, "maximum": 1})
        );
        assert_eq!(p["when"], json!({"type": "string", "format": "date-time"}));
        assert_eq!(p["site"], json!({"type": "string"}));
        assert_eq!(
            p["kind"],
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]})
        );
    }

    #[test]
    fn definitions_and_refs_are_converted() {
        let schema = json!({
            "type": "object",
            "properties": {"who": {"$ref": "#/$defs/agent"}},
            "$defs": {"agent": {"type": "object", "properties": {"id": {"type": "string"}}}},
        });
        let strict = strict_schema(&schema).unwrap();
        assert_eq!(
            strict["properties"]["who"],
            json!({"anyOf": [{"$ref": "#/$defs/agent"}, {"type": "null"}]})
        );
        assert_eq!(
            strict["$defs"]["agent"]["additionalProperties"],
            json!(false)
        );
        assert_eq!(strict["$defs"]["agent"]["required"], json!(["id"]));
    }

    #[test]
    fn what_strict_mode_cannot_express_is_refused_with_the_place() {
        for (schema, needle) in [
            (
                json!({"type": "array", "items": {"type": "string"}}),
                "root",
            ),
            (json!({"type": "object"}), "without `properties`"),
            (
                json!({"type": "object", "properties": {"a": {"type": "string"}},
                       "additionalProperties": {"type": "string"}}),
                "extra properties",
            ),
            (
                json!({"type": "object", "properties": {"a": {"description": "anything"}}}),
                "/properties/a",
            ),
            (
                json!({"type": "object", "properties": {"a": {"allOf": [{"type": "string"}]}}}),
                "allOf",
            ),
            (
                json!({"type": "object", "properties": {"a": {"type": "array", "items": [{"type": "string"}]}}}),
                "items",
            ),
        ] {
            let err = strict_schema(&schema).unwrap_err();
            assert!(err.contains(needle), "{schema}: {err}");
        }
    }

    #[test]
    fn the_shipped_triage_schema_converts() {
        let schema = json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["decision", "confidence", "reason"],
            "properties": {
                "decision": {"type": "string", "enum": ["assign", "abstain"]},
                "departmentId": {"type": ["string", "null"]},
                "teamId": {"type": ["string", "null"]},
                "assigneeId": {"type": ["string", "null"]},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                "reason": {"type": "string", "minLength": 1},
            }
        });
        let strict = strict_schema(&schema).unwrap();
        assert_eq!(
            strict["required"],
            json!([
                "decision",
                "departmentId",
                "teamId",
                "assigneeId",
                "confidence",
                "reason"
            ])
        );
        assert_eq!(
            strict["properties"]["teamId"]["type"],
            json!(["string", "null"])
        );
    }

    #[test]
    fn added_nulls_are_stripped_and_meaningful_ones_kept() {
        let schema = json!({
            "type": "object",
            "required": ["decision", "assigneeId"],
            "properties": {
                "decision": {"type": "string"},
                "assigneeId": {"type": ["string", "null"]},
                "teamId": {"type": "string"},
                "departmentId": {"type": ["string", "null"]},
                "notes": {"type": "array", "items": {"$ref": "#/$defs/note"}},
            },
            "$defs": {"note": {"type": "object", "properties": {"text": {"type": "string"}}}},
        });
        let answer = json!({
            "decision": "assign",
            "assigneeId": null,
            "teamId": null,
            "departmentId": null,
            "notes": [{"text": null}, {"text": "hi"}],
        });
        let stripped = strip_added_nulls(&schema, answer);
        assert_eq!(
            stripped,
            json!({
                "decision": "assign",
                "assigneeId": null,
                "departmentId": null,
                "notes": [{}, {"text": "hi"}],
            })
        );
    }
}
