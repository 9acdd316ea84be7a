//! Resolving LLM settings from a workflow's model block and the environment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use deskhand::llm::{ApiKey, LlmClient, LlmError, LlmProvider, LlmSettings};
use deskhand::workflow::{AzureSettings, ModelSettings, Provider};

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn model(provider: Provider) -> ModelSettings {
    ModelSettings {
        provider,
        name: None,
        temperature: None,
        base_url: None,
        api_key_env: None,
        azure: None,
        max_completion_tokens: None,
        tool_choice_required: false,
        structured_output: true,
    }
}

#[test]
fn nothing_configured_means_no_llm() {
    assert_eq!(LlmSettings::resolve(None, env(&[])).unwrap(), None);
    let baseline = model(Provider::Baseline);
    assert_eq!(
        LlmSettings::resolve(Some(&baseline), env(&[("OPENAI_API_KEY", "sk-x")])).unwrap(),
        None
    );
}

#[test]
fn openai_from_the_environment() {
    let s = LlmSettings::resolve(
        None,
        env(&[("OPENAI_API_KEY", "sk-env"), ("OPENAI_ORG_ID", "org-1")]),
    )
    .unwrap()
    .unwrap();
    assert_eq!(s.provider, LlmProvider::OpenAi);
    assert_eq!(s.model, "gpt-4.1-mini");
    assert_eq!(s.api_key, Some(ApiKey::new("sk-env")));
    assert_eq!(s.api_key_env.as_deref(), Some("OPENAI_API_KEY"));
    assert_eq!(s.organization.as_deref(), Some("org-1"));
    assert_eq!(s.base_url, None);
    assert!(
        s.structured_output,
        "structured outputs are on unless a workflow says otherwise"
    );
}

#[test]
fn a_base_url_without_a_key_is_a_local_server() {
    let s = LlmSettings::resolve(
        None,
        env(&[
            ("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1/"),
            ("DESKHAND_LLM_MODEL", "qwen2.5"),
        ]),
    )
    .unwrap()
    .unwrap();
    assert_eq!(s.provider, LlmProvider::OpenAiCompatible);
    assert_eq!(s.base_url.as_deref(), Some("http://127.0.0.1:11434/v1"));
    assert_eq!(s.model, "qwen2.5");
    assert_eq!(s.api_key, None);
    // Without a model name it is a clear error, not a request that fails later.
    let err = LlmSettings::resolve(
        None,
        env(&[("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("DESKHAND_LLM_MODEL"), "{err}");
}

#[test]
fn workflow_block_merges_with_the_environment() {
    let m = ModelSettings {
        name: Some("llama3.1".into()),
        base_url: Some("http://gpu-box:8000/v1".into()),
        api_key_env: Some("VLLM_KEY".into()),
        temperature: Some(0.0),
        max_completion_tokens: Some(512),
        tool_choice_required: true,
        structured_output: false,
        ..model(Provider::OpenaiCompatible)
    };
    // OPENAI_API_KEY is not sent to a server the workflow did not say it belongs to.
    let s = LlmSettings::resolve(
        Some(&m),
        env(&[("VLLM_KEY", "vllm-secret"), ("OPENAI_API_KEY", "sk-other")]),
    )
    .unwrap()
    .unwrap();
    assert_eq!(s.provider, LlmProvider::OpenAiCompatible);
    assert_eq!(s.model, "llama3.1");
    assert_eq!(s.api_key, Some(ApiKey::new("vllm-secret")));
    assert_eq!(s.temperature, Some(0.0));
    assert_eq!(s.max_completion_tokens, Some(512));
    assert!(s.tool_choice_required);
    assert!(!s.structured_output);

    let err = LlmSettings::resolve(Some(&m), env(&[])).unwrap_err();
    assert!(matches!(err, LlmError::Config(_)));
    assert!(err.to_string().contains("VLLM_KEY"), "{err}");
}

#[test]
fn azure_takes_endpoint_and_key_from_the_environment() {
    let m = ModelSettings {
        azure: Some(AzureSettings {
            deployment: "triage".into(),
            api_version: "2024-10-21".into(),
        }),
        ..model(Provider::Azure)
    };
    let s = LlmSettings::resolve(
        Some(&m),
        env(&[
            ("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com/"),
            ("AZURE_OPENAI_API_KEY", "az-key"),
        ]),
    )
    .unwrap()
    .unwrap();
    assert_eq!(s.provider, LlmProvider::Azure);
    assert_eq!(s.base_url.as_deref(), Some("https://res.openai.azure.com"));
    assert_eq!(s.azure.as_ref().unwrap().deployment, "triage");
    assert_eq!(s.api_key_env.as_deref(), Some("AZURE_OPENAI_API_KEY"));

    let err = LlmSettings::resolve(Some(&m), env(&[("AZURE_OPENAI_API_KEY", "k")])).unwrap_err();
    assert!(err.to_string().contains("AZURE_OPENAI_ENDPOINT"), "{err}");

    // Environment only.
    let s = LlmSettings::resolve(
        None,
        env(&[
            ("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com"),
            ("AZURE_OPENAI_API_KEY", "az-key"),
            ("AZURE_OPENAI_DEPLOYMENT", "dep"),
            ("OPENAI_API_VERSION", "2024-10-21"),
        ]),
    )
    .unwrap()
    .unwrap();
    assert_eq!(s.azure.unwrap().api_version, "2024-10-21");
}

#[test]
fn secrets_stay_out_of_debug_and_errors() {
    let s = LlmSettings::resolve(None, env(&[("OPENAI_API_KEY", "sk-TOPSECRET")]))
        .unwrap()
        .unwrap();
    assert!(!format!("{s:?}").contains("TOPSECRET"));
    // A key that cannot be an HTTP header value is refused up front (async-openai would panic).
    let err = LlmSettings::resolve(None, env(&[("OPENAI_API_KEY", "sk-TOP\nSECRET")])).unwrap_err();
    assert!(!err.to_string().contains("TOPSECRET") && !err.to_string().contains("SECRET"));
    let bad = LlmSettings::openai("gpt-4.1-mini", ApiKey::new("sk-\u{7f}SECRET"));
    let err = LlmClient::new(bad).unwrap_err();
    assert!(matches!(err, LlmError::Config(_)));
    assert!(!err.to_string().contains("SECRET"));
}

#[test]
fn invalid_values_are_clear_errors() {
    let err =
        LlmSettings::resolve(None, env(&[("DESKHAND_LLM_PROVIDER", "anthropic")])).unwrap_err();
    assert!(err.to_string().contains("anthropic"));
    let err = LlmSettings::resolve(
        None,
        env(&[("OPENAI_BASE_URL", "ftp://x"), ("DESKHAND_LLM_MODEL", "m")]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("http(s) URL"), "{err}");
    let err = LlmSettings::resolve(
        None,
        env(&[
            ("OPENAI_API_KEY", "k"),
            ("DESKHAND_LLM_TIMEOUT_SECS", "soon"),
        ]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("DESKHAND_LLM_TIMEOUT_SECS"));
}
