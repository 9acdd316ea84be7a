//! Entities are kept as JSON objects in Zoho's own shape (what a seed file holds and what the
//! API returns), with every optional field filled in. Each response then projects exactly the
//! fields its OAS schema declares (see `shapes`), so the stored object can be richer than any view.

use serde_json::{Map, Value};

pub(crate) type Record = Map<String, Value>;

pub(crate) fn s<'a>(r: &'a Record, key: &str) -> Option<&'a str> {
    r.get(key).and_then(Value::as_str)
}

pub(crate) fn owned(r: &Record, key: &str) -> Option<String> {
    s(r, key).map(str::to_owned)
}

pub(crate) fn id(r: &Record) -> &str {
    s(r, "id").unwrap_or("")
}

pub(crate) fn flag(r: &Record, key: &str) -> bool {
    r.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// Ids held in an array field (e.g. `associatedDepartmentIds`), as strings.
pub(crate) fn id_array(r: &Record, key: &str) -> Vec<String> {
    r.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(as_id_string).collect())
        .unwrap_or_default()
}

pub(crate) fn as_id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(crate) fn default(r: &mut Record, key: &str, v: Value) {
    if !r.contains_key(key) {
        r.insert(key.to_owned(), v);
    }
}

/// Zoho serialises ids and counts as strings; a seed file may use numbers.
pub(crate) fn stringify(r: &mut Record, keys: &[&str]) {
    for k in keys {
        if let Some(Value::Number(n)) = r.get(*k) {
            let s = n.to_string();
            r.insert((*k).to_owned(), Value::String(s));
        }
    }
}

pub(crate) fn stringify_array(r: &mut Record, key: &str) {
    if let Some(Value::Array(a)) = r.get_mut(key) {
        for v in a.iter_mut() {
            if let Value::Number(n) = v {
                *v = Value::String(n.to_string());
            }
        }
    }
}

/// Exactly `fields`, in that order; a field the record lacks is `null`.
pub(crate) fn project(r: &Record, fields: &[&str]) -> Record {
    fields
        .iter()
        .map(|f| ((*f).to_owned(), r.get(*f).cloned().unwrap_or(Value::Null)))
        .collect()
}

pub(crate) fn count(n: usize) -> Value {
    Value::String(n.to_string())
}
