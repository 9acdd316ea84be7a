//! The conversation the agent loop holds, independent of async-openai's wire types so the rest of
//! the runner (and the store) does not depend on them.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::structured::ResponseFormat;

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum ChatMessage {
    System {
        content: String,
    },
    User {
        content: String,
    },
    /// What the model said; when it called tools, `content` is usually empty.
    Assistant {
        content: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    /// The result of one tool call, matched to it by `tool_call_id`.
    Tool {
        tool_call_id: String,
        content: String,
    },
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        ChatMessage::System {
            content: content.into(),
        }
    }

    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage::User {
            content: content.into(),
        }
    }

    pub fn tool_result(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage::Tool {
            tool_call_id: tool_call_id.into(),
            content: content.into(),
        }
    }
}

/// A tool the model may call. `parameters` is a JSON Schema object, sent unchanged (an MCP tool's
/// `inputSchema` fits as is).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: Option<String>,
    pub parameters: Value,
}

/// A tool call requested by the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments exactly as the model produced them (a JSON text that may not parse: the agent
    /// loop reports that back to the model instead of failing).
    pub arguments: String,
}

/// Whether the model must call a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides (the default whenever tools are offered).
    #[default]
    Auto,
    /// Force a tool call. Sent only when the settings say the provider supports it
    /// (`tool_choice_required`); otherwise downgraded to `auto`.
    Required,
    /// Offer the tools but forbid calling them (e.g. to ask for a final answer at max steps).
    None,
}

/// One chat-completions call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    pub messages: Vec<ChatMessage>,
    pub tools: Vec<ToolSpec>,
    /// `None`: `Required` if the settings enable `tool_choice_required`, else `Auto`.
    pub tool_choice: Option<ToolChoice>,
    /// Overrides the settings' temperature.
    pub temperature: Option<f32>,
    /// Overrides the settings' `max_completion_tokens`.
    pub max_completion_tokens: Option<u32>,
    /// Sent as `response_format: {type: json_schema, json_schema: {name, schema, strict: true}}`:
    /// the final text answer must follow this schema. Tool calls stay allowed alongside it.
    pub response_format: Option<ResponseFormat>,
}

impl ChatRequest {
    pub fn new(messages: Vec<ChatMessage>) -> Self {
        Self {
            messages,
            ..Self::default()
        }
    }

    pub fn with_tools(mut self, tools: Vec<ToolSpec>) -> Self {
        self.tools = tools;
        self
    }

    pub fn with_tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = Some(choice);
        self
    }

    pub fn with_response_format(mut self, format: Option<ResponseFormat>) -> Self {
        self.response_format = format;
        self
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    /// Cut off at the token limit: the answer is incomplete.
    Length,
    ToolCalls,
    ContentFilter,
}

/// Tokens billed for one call (zeros when the server does not report usage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenUsage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
    /// The part of `prompt_tokens` the provider served from its prompt cache
    /// (`usage.prompt_tokens_details.cached_tokens`; billed at a discount by OpenAI). Zero when
    /// the server does not say.
    #[serde(default)]
    pub cached_tokens: u32,
}

impl std::ops::AddAssign for TokenUsage {
    fn add_assign(&mut self, rhs: Self) {
        self.prompt_tokens = self.prompt_tokens.saturating_add(rhs.prompt_tokens);
        self.completion_tokens = self.completion_tokens.saturating_add(rhs.completion_tokens);
        self.total_tokens = self.total_tokens.saturating_add(rhs.total_tokens);
        self.cached_tokens = self.cached_tokens.saturating_add(rhs.cached_tokens);
    }
}

/// The model's answer to one [`ChatRequest`].
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    /// Assistant text; `None` when empty.
    pub text: Option<String>,
    /// Why the model declined to answer in the requested format (structured outputs' `refusal`).
    pub refusal: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    /// `ToolCalls` whenever `tool_calls` is non-empty, whatever the server said (Ollama reports
    /// `stop` with tool calls).
    pub finish_reason: FinishReason,
    pub usage: TokenUsage,
    /// The model the server says answered.
    pub model: String,
    /// Wall time of the whole call, retries and their waits included.
    pub latency: Duration,
    /// HTTP retries this call needed (0 when the first attempt succeeded).
    pub retries: u32,
}

impl ChatResponse {
    /// The assistant message to append to the conversation before the tool results.
    pub fn to_message(&self) -> ChatMessage {
        ChatMessage::Assistant {
            content: self.text.clone(),
            tool_calls: self.tool_calls.clone(),
        }
    }
}
