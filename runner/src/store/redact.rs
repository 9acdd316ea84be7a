//! Keeping secrets and bulk out of the history tables.

use serde_json::Value;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// The longest result summary kept per tool call, in characters.
pub const SUMMARY_MAX_CHARS: usize = 2000;

/// Key fragments that mark a secret, compared after lower-casing and dropping `_` and `-`, so
/// `apiKey`, `api-key` and `X_API_KEY` all match `api_key`.
const SECRET_KEY_PARTS: &[&str] = &["token", "secret", "password", "authorization", "apikey"];

/// A copy of `value` with the value of every object key that names a secret (token, secret,
/// password, authorization, api_key; any case, at any depth) replaced by [`REDACTED`], and any
/// string that is itself an HTTP credential (`Bearer ...`, `Zoho-oauthtoken ...`) masked too.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| {
                    let value = if is_secret_key(key) {
                        Value::String(REDACTED.to_owned())
                    } else {
                        redact(value)
                    };
                    (key.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        Value::String(text) if is_credential(text) => Value::String(REDACTED.to_owned()),
        other => other.clone(),
    }
}

fn is_secret_key(key: &str) -> bool {
    let normalised: String = key
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_KEY_PARTS
        .iter()
        .any(|part| normalised.contains(part))
}

fn is_credential(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    ["bearer ", "zoho-oauthtoken ", "basic "]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
}

/// `text` cut to [`SUMMARY_MAX_CHARS`] characters (on a character boundary), marked when cut.
pub fn truncate_summary(text: &str) -> String {
    match text.char_indices().nth(SUMMARY_MAX_CHARS) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}… [truncated, {} bytes in all]", &text[..cut], text.len()),
    }
}
