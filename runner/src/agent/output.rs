//! The agent's final answer, checked against the workflow's `output.schema`.

use serde_json::Value;
use zoho_desk_mcp::catalog::validate_json;

use crate::llm::structured::strip_added_nulls;

/// Reads the final answer: the JSON object in `text` (bare, or in a ```json fence, or the first
/// `{...}` span when a model wraps it in prose), validated against `schema` when there is one.
/// Without a schema any text is an answer, kept as `{"text": ...}` unless it is JSON.
pub fn check_answer(schema: Option<&Value>, text: Option<&str>) -> Result<Value, String> {
    let text = text.map(str::trim).unwrap_or_default();
    let Some(schema) = schema else {
        return Ok(extract_json(text).unwrap_or_else(|| serde_json::json!({ "text": text })));
    };
    if text.is_empty() {
        return Err("the answer is empty; a JSON object is required".into());
    }
    let Some(value) = extract_json(text) else {
        return Err("the answer is not a JSON object".into());
    };
    validate_json(schema, value)
}

/// Reads an answer given under a strict `response_format`: as [`check_answer`], after removing
/// the `null`s strict mode puts in place of the optional properties it cannot leave out.
pub fn check_structured_answer(schema: &Value, text: Option<&str>) -> Result<Value, String> {
    let text = text.map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Err("the answer is empty; a JSON object is required".into());
    }
    let Some(value) = extract_json(text) else {
        return Err("the answer is not a JSON object".into());
    };
    validate_json(schema, strip_added_nulls(schema, value))
}

fn extract_json(text: &str) -> Option<Value> {
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        return Some(value);
    }
    let unfenced = text
        .split("```")
        .nth(1)
        .map(|block| block.trim_start_matches("json").trim());
    if let Some(block) = unfenced
        && let Ok(value) = serde_json::from_str::<Value>(block)
    {
        return Some(value);
    }
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    (end > start)
        .then(|| serde_json::from_str(&text[start..=end]).ok())
        .flatten()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "required": ["decision"], "properties": {"decision": {"type": "string", "enum": ["assign", "abstain"]}}})
    }

    #[test]
    fn accepts_bare_fenced_and_embedded_json() {
        for text in [
            r#"{"decision":"assign"}"#,
            "```json\n{\"decision\":\"assign\"}\n```",
            "Done. {\"decision\": \"assign\"} Thanks",
        ] {
            assert_eq!(
                check_answer(Some(&schema()), Some(text)).unwrap()["decision"],
                "assign",
                "{text}"
            );
        }
    }

    #[test]
    fn names_what_breaks_the_schema() {
        let err = check_answer(Some(&schema()), Some(r#"{"decision":"maybe"}"#)).unwrap_err();
        assert!(err.contains("decision"), "{err}");
        assert!(check_answer(Some(&schema()), Some("no json here")).is_err());
        assert!(check_answer(Some(&schema()), None).is_err());
    }

    #[test]
    fn a_strict_answer_loses_the_nulls_strict_mode_added() {
        let schema = json!({"type": "object", "required": ["decision"], "properties": {
            "decision": {"type": "string"}, "teamId": {"type": "string"}}});
        let text = r#"{"decision":"assign","teamId":null}"#;
        assert_eq!(
            check_structured_answer(&schema, Some(text)).unwrap(),
            json!({"decision": "assign"})
        );
        // The prompt-and-correct path keeps its own contract: null is not a string.
        assert!(check_answer(Some(&schema), Some(text)).is_err());
        assert!(
            check_structured_answer(&schema, Some(r#"{"decision":null}"#))
                .unwrap_err()
                .contains("decision")
        );
    }

    #[test]
    fn without_a_schema_text_is_kept() {
        assert_eq!(
            check_answer(None, Some("all done")).unwrap(),
            json!({"text": "all done"})
        );
    }
}
