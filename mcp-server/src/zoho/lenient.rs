//! Zoho sends ids and counts as strings or numbers (the OAS types them `string|integer`), so
//! everything that reads them goes through these helpers instead of `as_str`/`as_u64`.

use serde_json::Value;

/// An id or other scalar as a string: `"123"` and `123` both give `"123"`; null, empty strings,
/// objects and arrays give `None`.
pub fn as_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A count: `"5"`, `5` and `5.0` give 5; negatives, fractions and text give `None`.
pub fn as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_from_strings_or_numbers() {
        assert_eq!(
            as_string(&json!("1892000000042001")).as_deref(),
            Some("1892000000042001")
        );
        assert_eq!(
            as_string(&json!(1892000000042001u64)).as_deref(),
            Some("1892000000042001")
        );
        assert_eq!(as_string(&json!(null)), None);
        assert_eq!(as_string(&json!("")), None);
        assert_eq!(as_string(&json!({"id": 1})), None);
    }

    #[test]
    fn counts_from_strings_or_numbers() {
        assert_eq!(as_u64(&json!("5")), Some(5));
        assert_eq!(as_u64(&json!(5)), Some(5));
        assert_eq!(as_u64(&json!(5.0)), Some(5));
        assert_eq!(as_u64(&json!(-1)), None);
        assert_eq!(as_u64(&json!("five")), None);
        assert_eq!(as_u64(&json!(null)), None);
    }
}
