//! Rewrites a chat-completion body from a local server into the shape async-openai decodes.
//!
//! Ollama, vLLM and llama.cpp's server bend the OpenAI shape in small ways that make a strict
//! decoder reject an otherwise usable answer: `usage` missing, tool calls without `id` or `type`,
//! `arguments` as a JSON object instead of a string, unknown `finish_reason`s, missing `created`.
//! Fixing the JSON before it is decoded keeps one decoding path for every provider.

use serde_json::{Map, Value, json};

const FINISH_REASONS: [&str; 5] = [
    "stop",
    "length",
    "tool_calls",
    "content_filter",
    "function_call",
];

/// The normalised body, or `None` when it is not a JSON object (the decoder then reports it).
pub fn normalise_completion(body: &[u8]) -> Option<Vec<u8>> {
    let mut root: Value = serde_json::from_slice(body).ok()?;
    let obj = root.as_object_mut()?;
    set_if_not(obj, "id", Value::is_string, || json!("chatcmpl-local"));
    set_if_not(obj, "object", Value::is_string, || json!("chat.completion"));
    set_if_not(obj, "model", Value::is_string, || json!(""));
    set_if_not(
        obj,
        "created",
        |v| v.as_u64().is_some_and(|n| u32::try_from(n).is_ok()),
        || json!(0),
    );
    // Fields deskhand never reads whose shapes vary between servers.
    for unused in [
        "service_tier",
        "system_fingerprint",
        "metadata",
        "moderation",
    ] {
        obj.remove(unused);
    }
    obj.insert("usage".into(), normalise_usage(obj.get("usage")));
    if let Some(Value::Array(choices)) = obj.get_mut("choices") {
        for (i, choice) in choices.iter_mut().enumerate() {
            if let Some(choice) = choice.as_object_mut() {
                normalise_choice(i, choice);
            }
        }
    }
    serde_json::to_vec(&root).ok()
}

fn set_if_not(
    obj: &mut Map<String, Value>,
    key: &str,
    ok: impl Fn(&Value) -> bool,
    default: impl FnOnce() -> Value,
) {
    if !obj.get(key).is_some_and(ok) {
        obj.insert(key.into(), default());
    }
}

fn count(v: Option<&Value>) -> u64 {
    v.and_then(|v| v.as_u64().or_else(|| v.as_f64().map(|f| f.max(0.0) as u64)))
        .unwrap_or(0)
        .min(u64::from(u32::MAX))
}

fn normalise_usage(usage: Option<&Value>) -> Value {
    let usage = usage.and_then(Value::as_object);
    let prompt = count(usage.and_then(|u| u.get("prompt_tokens")));
    let completion = count(usage.and_then(|u| u.get("completion_tokens")));
    let total = match usage.and_then(|u| u.get("total_tokens")) {
        Some(t) if t.is_number() => count(Some(t)),
        _ => (prompt + completion).min(u64::from(u32::MAX)),
    };
    // OpenAI, vLLM and llama.cpp's server report the prompt-cache hits under
    // `prompt_tokens_details`; DeepSeek-style servers as `prompt_cache_hit_tokens`.
    let cached = usage.and_then(|u| {
        u.get("prompt_tokens_details")
            .and_then(|d| d.get("cached_tokens"))
            .filter(|c| c.is_number())
            .or_else(|| u.get("prompt_cache_hit_tokens").filter(|c| c.is_number()))
    });
    let mut out =
        json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total});
    if let (Some(cached), Some(obj)) = (cached, out.as_object_mut()) {
        obj.insert(
            "prompt_tokens_details".into(),
            json!({"cached_tokens": count(Some(cached)).min(prompt)}),
        );
    }
    out
}

fn normalise_choice(index: usize, choice: &mut Map<String, Value>) {
    set_if_not(choice, "index", Value::is_u64, || json!(index));
    choice.remove("logprobs");
    if !choice.get("message").is_some_and(Value::is_object) {
        choice.insert("message".into(), json!({}));
    }
    let has_calls = match choice.get_mut("message").and_then(Value::as_object_mut) {
        Some(message) => normalise_message(index, message),
        None => false,
    };
    let reason = choice.get("finish_reason").and_then(Value::as_str);
    let reason = match reason {
        _ if has_calls => "tool_calls",
        Some(r) if FINISH_REASONS.contains(&r) => r,
        _ => "stop",
    }
    .to_owned();
    choice.insert("finish_reason".into(), json!(reason));
}

/// Returns whether the message carries tool calls.
fn normalise_message(choice: usize, message: &mut Map<String, Value>) -> bool {
    message.insert("role".into(), json!("assistant"));
    for unused in ["annotations", "audio", "function_call", "reasoning_content"] {
        message.remove(unused);
    }
    set_if_not(message, "refusal", Value::is_string, || Value::Null);
    let content = match message.remove("content") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) => Value::String(s),
        // Content parts: keep the text ones.
        Some(Value::Array(parts)) => Value::String(
            parts
                .iter()
                .filter_map(|p| match p {
                    Value::String(s) => Some(s.as_str()),
                    other => other.get("text").and_then(Value::as_str),
                })
                .collect::<Vec<_>>()
                .join(""),
        ),
        Some(other) => Value::String(other.to_string()),
    };
    message.insert("content".into(), content);

    let calls: Vec<Value> = match message.remove("tool_calls") {
        Some(Value::Array(calls)) => calls
            .into_iter()
            .enumerate()
            .filter_map(|(i, call)| normalise_tool_call(choice, i, call))
            .collect(),
        _ => Vec::new(),
    };
    let has_calls = !calls.is_empty();
    if has_calls {
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    has_calls
}

fn normalise_tool_call(choice: usize, index: usize, call: Value) -> Option<Value> {
    let call = call.as_object()?;
    let function = call.get("function")?.as_object()?;
    let name = function.get("name")?.as_str()?.to_owned();
    let arguments = match function.get("arguments") {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(Value::String(s)) => s.clone(),
        // llama.cpp and Ollama sometimes send the arguments as an object.
        Some(other) => other.to_string(),
    };
    let id = match call.get("id").and_then(Value::as_str) {
        Some(id) if !id.trim().is_empty() => id.to_owned(),
        _ => synthetic_id(choice, index, &name, &arguments),
    };
    Some(json!({
        "id": id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }))
}

/// An id for a tool call the server left unnamed: derived from its position and content, so the
/// same response always yields the same ids (replays and stored conversations stay consistent).
fn synthetic_id(choice: usize, index: usize, name: &str, arguments: &str) -> String {
    // FNV-1a: stable across Rust versions and platforms, unlike `DefaultHasher`.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes().chain([0]).chain(arguments.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("call_{choice}_{index}_{hash:016x}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn run(v: Value) -> Value {
        serde_json::from_slice(&normalise_completion(&serde_json::to_vec(&v).unwrap()).unwrap())
            .unwrap()
    }

    #[test]
    fn llama_cpp_style_tool_call() {
        let out = run(json!({
            "choices": [{"message": {"content": null, "tool_calls": [
                {"function": {"name": "get_ticket", "arguments": {"ticket_id": "42"}}}
            ]}, "finish_reason": "eos"}]
        }));
        let call = &out["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["arguments"], r#"{"ticket_id":"42"}"#);
        assert!(call["id"].as_str().unwrap().starts_with("call_0_0_"));
        assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(out["choices"][0]["message"]["role"], "assistant");
        assert_eq!(
            out["usage"],
            json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0})
        );
        // Stable: the same body gives the same id.
        let again = run(json!({
            "choices": [{"message": {"tool_calls": [
                {"function": {"name": "get_ticket", "arguments": {"ticket_id": "42"}}}
            ]}}]
        }));
        assert_eq!(
            again["choices"][0]["message"]["tool_calls"][0]["id"],
            call["id"]
        );
    }

    #[test]
    fn usage_without_total_is_summed() {
        let out =
            run(json!({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}}));
        assert_eq!(out["usage"]["total_tokens"], 8);
    }

    #[test]
    fn cached_prompt_tokens_are_kept() {
        let out = run(json!({"choices": [], "usage": {
            "prompt_tokens": 2048, "completion_tokens": 3, "total_tokens": 2051,
            "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0}
        }}));
        assert_eq!(out["usage"]["prompt_tokens_details"]["cached_tokens"], 1920);
        let deepseek = run(json!({"choices": [], "usage": {
            "prompt_tokens": 100, "completion_tokens": 3, "prompt_cache_hit_tokens": 64
        }}));
        assert_eq!(
            deepseek["usage"]["prompt_tokens_details"]["cached_tokens"],
            64
        );
        let none = run(json!({"choices": [], "usage": {"prompt_tokens": 5}}));
        assert!(none["usage"].get("prompt_tokens_details").is_none());
    }

    #[test]
    fn not_json_is_left_to_the_decoder() {
        assert!(normalise_completion(b"<html>").is_none());
    }
}
