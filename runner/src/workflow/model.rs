//! Which LLM a workflow talks to.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// api.openai.com (or `base_url`/OPENAI_BASE_URL).
    Openai,
    /// Azure OpenAI: `azure.deployment` and `azure.api_version` are required.
    Azure,
    /// Any server with the OpenAI chat completions API (Ollama, vLLM, llama.cpp server).
    OpenaiCompatible,
    /// The deterministic offline baseline; not an LLM.
    Baseline,
}

/// The model settings of a workflow, checked for consistency with the provider.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSettings {
    pub provider: Provider,
    /// Model name; `None` only for the baseline and for Azure (which names a deployment).
    pub name: Option<String>,
    pub temperature: Option<f32>,
    pub base_url: Option<String>,
    /// Environment variable holding the key; the runner reads it at run time so the key never
    /// sits in a file that gets committed.
    pub api_key_env: Option<String>,
    pub azure: Option<AzureSettings>,
    pub max_completion_tokens: Option<u32>,
    pub tool_choice_required: bool,
    /// Send the output schema as the provider's structured-output `response_format` (default).
    pub structured_output: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AzureSettings {
    pub deployment: String,
    pub api_version: String,
}

/// The built-in non-LLM routine a workflow falls back to when no LLM is configured. It does the
/// same job through the same tools and policy, deterministically, and says it is not a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BaselineKind {
    /// Rank departments and teams by their descriptions against the ticket text; assign the
    /// least-loaded active agent of the chosen team; abstain with a note when unsure.
    TriageAndAssign,
    /// Reply from the best suggested knowledge-base article, citing it; a note when none fits.
    KbGroundedReply,
}
