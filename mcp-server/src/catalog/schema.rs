//! A small JSON Schema validator for tool arguments: exactly the keywords the documentation records
//! use, checked before anything goes upstream. Keywords it cannot enforce are refused when the
//! definition is loaded, so a schema never promises a check that silently does not happen.
//!
//! Validation also coerces the few shapes models commonly get wrong in harmless ways: a number
//! where a string id is expected (ids are numeric strings at Zoho), and a numeric or boolean string
//! where a number or boolean is expected.

use serde_json::{Map, Value};

const SUPPORTED: &[&str] = &[
    "type",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "required",
    "properties",
    "additionalProperties",
    "items",
    // Annotations: carry no validation.
    "description",
    "title",
    "default",
    "examples",
    "format",
    "deprecated",
];

const TYPES: &[&str] = &[
    "null", "boolean", "integer", "number", "string", "array", "object",
];

/// Definition-time check that `schema` only uses keywords [`validate`] enforces.
pub(crate) fn check_supported(schema: &Value, at: &str) -> Result<(), String> {
    let Some(obj) = schema.as_object() else {
        return Err(format!("{at}: a schema must be an object"));
    };
    for (key, value) in obj {
        if !SUPPORTED.contains(&key.as_str()) {
            return Err(format!(
                "{at}: unsupported schema keyword `{key}` (supported: {})",
                SUPPORTED.join(", ")
            ));
        }
        match key.as_str() {
            "type" => {
                let names: Vec<&Value> = match value {
                    Value::Array(items) => items.iter().collect(),
                    other => vec![other],
                };
                for name in names {
                    if !name.as_str().is_some_and(|n| TYPES.contains(&n)) {
                        return Err(format!("{at}: unknown type {name}"));
                    }
                }
            }
            "properties" => {
                let Some(props) = value.as_object() else {
                    return Err(format!("{at}: `properties` must be an object"));
                };
                for (name, sub) in props {
                    check_supported(sub, &format!("{at}.{name}"))?;
                }
            }
            "items" => check_supported(value, &format!("{at}[]"))?,
            "additionalProperties" if !value.is_boolean() => {
                check_supported(value, &format!("{at}{{*}}"))?
            }
            "enum" | "required" if !value.is_array() => {
                return Err(format!("{at}: `{key}` must be an array"));
            }
            "minimum" | "maximum" if !value.is_number() => {
                return Err(format!("{at}: `{key}` must be a number"));
            }
            "minLength" | "maxLength" | "minItems" | "maxItems" if !value.is_u64() => {
                return Err(format!("{at}: `{key}` must be a non-negative integer"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Where and why a value failed its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "argument `{}`: {}", self.path, self.message)
        }
    }
}

/// Validates `value` against `schema` and returns the (possibly coerced) value.
pub(crate) fn validate(schema: &Value, value: Value, path: &str) -> Result<Value, Violation> {
    let fail = |message: String| Violation {
        path: path.to_string(),
        message,
    };
    let types = declared_types(schema);
    let value = if types.is_empty() || types.iter().any(|t| matches_type(t, &value)) {
        value
    } else {
        coerce(&types, &value).ok_or_else(|| {
            fail(format!(
                "expected {}, got {}",
                types.join(" or "),
                describe(&value)
            ))
        })?
    };

    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(&value)
    {
        let list: Vec<String> = allowed.iter().map(render).collect();
        return Err(fail(format!(
            "expected one of {}, got {}",
            list.join(", "),
            describe(&value)
        )));
    }

    match value {
        Value::String(ref s) => {
            let len = s.chars().count() as u64;
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                && len < min
            {
                return Err(fail(format!(
                    "expected a string of at least {min} characters, got {len}"
                )));
            }
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && len > max
            {
                return Err(fail(format!(
                    "expected a string of at most {max} characters, got {len}"
                )));
            }
            Ok(value)
        }
        Value::Number(ref n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            let min = schema.get("minimum").and_then(Value::as_f64);
            let max = schema.get("maximum").and_then(Value::as_f64);
            let out_of_range = min.is_some_and(|m| x < m) || max.is_some_and(|m| x > m);
            if out_of_range {
                let range = match (min, max) {
                    (Some(a), Some(b)) => format!("between {} and {}", num(a), num(b)),
                    (Some(a), None) => format!("at least {}", num(a)),
                    (None, Some(b)) => format!("at most {}", num(b)),
                    (None, None) => String::new(),
                };
                return Err(fail(format!("expected a number {range}, got {n}")));
            }
            Ok(value)
        }
        Value::Array(items) => {
            let len = items.len() as u64;
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && len < min
            {
                return Err(fail(format!("expected at least {min} items, got {len}")));
            }
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && len > max
            {
                return Err(fail(format!("expected at most {max} items, got {len}")));
            }
            let item_schema = schema.get("items");
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                out.push(match item_schema {
                    Some(s) => validate(s, item, &format!("{path}[{i}]"))?,
                    None => item,
                });
            }
            Ok(Value::Array(out))
        }
        Value::Object(map) => validate_object(schema, map, path).map(Value::Object),
        other => Ok(other),
    }
}

fn validate_object(
    schema: &Value,
    map: Map<String, Value>,
    path: &str,
) -> Result<Map<String, Value>, Violation> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    let empty = Map::new();
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let additional = schema.get("additionalProperties");
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if map.get(name).is_none_or(Value::is_null) {
                return Err(Violation {
                    path: join(name),
                    message: "is required but missing".to_string(),
                });
            }
        }
    }
    let mut out = Map::new();
    for (key, value) in map {
        let checked = match props.get(&key) {
            Some(sub) => validate(sub, value, &join(&key))?,
            None => match additional {
                Some(Value::Bool(false)) => {
                    let allowed: Vec<&str> = props.keys().map(String::as_str).collect();
                    return Err(Violation {
                        path: join(&key),
                        message: format!(
                            "unknown argument; allowed here: {}",
                            if allowed.is_empty() {
                                "none".to_string()
                            } else {
                                allowed.join(", ")
                            }
                        ),
                    });
                }
                Some(sub @ Value::Object(_)) => validate(sub, value, &join(&key))?,
                _ => value,
            },
        };
        out.insert(key, checked);
    }
    Ok(out)
}

fn declared_types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn matches_type(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    }
}

fn coerce(types: &[&str], v: &Value) -> Option<Value> {
    let has = |t: &str| types.contains(&t);
    match v {
        Value::Number(n) if has("string") => Some(Value::String(n.to_string())),
        Value::String(s) if has("integer") => s.trim().parse::<i64>().ok().map(Value::from),
        Value::String(s) if has("number") => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::from),
        Value::String(s) if has("boolean") => match s.trim() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        _ => None,
    }
}

fn describe(v: &Value) -> String {
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    match v {
        Value::Array(_) | Value::Object(_) | Value::Null => kind.to_string(),
        _ => format!("{kind} {}", render(v)),
    }
}

fn render(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(60).collect();
        format!("{cut}…")
    } else {
        text
    }
}

fn num(f: f64) -> String {
    if f.fract() == 0.0 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["ticketId"],
            "properties": {
                "ticketId": {"type": "string"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                "status": {"type": ["string", "array"], "items": {"type": "string", "enum": ["Open", "Closed"]}},
                "q": {"type": "string", "minLength": 3, "maxLength": 5},
                "flag": {"type": "boolean"},
                "assigneeId": {"type": ["string", "null"]},
                "contact": {"type": "object", "additionalProperties": false,
                            "properties": {"email": {"type": "string"}}}
            }
        })
    }

    fn check(v: Value) -> Result<Value, String> {
        validate(&schema(), v, "").map_err(|e| e.to_string())
    }

    #[test]
    fn accepts_valid_and_coerces_ids() {
        let out = check(json!({"ticketId": 123, "limit": "5", "flag": "true", "assigneeId": null}))
            .unwrap();
        assert_eq!(
            out,
            json!({"ticketId": "123", "limit": 5, "flag": true, "assigneeId": null})
        );
    }

    #[test]
    fn type_arrays() {
        assert!(check(json!({"ticketId": "1", "status": "Open"})).is_ok());
        assert!(check(json!({"ticketId": "1", "status": ["Open", "Closed"]})).is_ok());
        let err = check(json!({"ticketId": "1", "status": ["Pending"]})).unwrap_err();
        assert!(
            err.contains("status[0]") && err.contains("\"Open\""),
            "{err}"
        );
        let err = check(json!({"ticketId": "1", "status": {"a": 1}})).unwrap_err();
        assert!(err.contains("expected string or array"), "{err}");
    }

    #[test]
    fn ranges_and_lengths() {
        let err = check(json!({"ticketId": "1", "limit": 500})).unwrap_err();
        assert!(
            err.contains("`limit`") && err.contains("between 1 and 100") && err.contains("500"),
            "{err}"
        );
        let err = check(json!({"ticketId": "1", "q": "ab"})).unwrap_err();
        assert!(err.contains("at least 3"), "{err}");
        let err = check(json!({"ticketId": "1", "q": "abcdef"})).unwrap_err();
        assert!(err.contains("at most 5"), "{err}");
        let err = check(json!({"ticketId": "1", "limit": "lots"})).unwrap_err();
        assert!(err.contains("expected integer"), "{err}");
    }

    #[test]
    fn required_and_unknown() {
        let err = check(json!({})).unwrap_err();
        assert!(
            err.contains("`ticketId`") && err.contains("required"),
            "{err}"
        );
        let err = check(json!({"ticketId": "1", "bogus": 1})).unwrap_err();
        assert!(
            err.contains("`bogus`") && err.contains("ticketId, limit"),
            "{err}"
        );
        let err = check(json!({"ticketId": "1", "contact": {"mail": "x"}})).unwrap_err();
        assert!(err.contains("`contact.mail`"), "{err}");
    }

    #[test]
    fn unsupported_keywords_are_refused() {
        assert!(check_supported(&schema(), "s").is_ok());
        let err = check_supported(&json!({"type": "string", "pattern": "x"}), "s").unwrap_err();
        assert!(err.contains("pattern"), "{err}");
        let err = check_supported(
            &json!({"type": "object", "properties": {"a": {"oneOf": []}}}),
            "s",
        )
        .unwrap_err();
        assert!(err.contains("s.a") && err.contains("oneOf"), "{err}");
        assert!(check_supported(&json!({"type": "strin"}), "s").is_err());
    }
}
