//! The LLM layer: chat completions with tools against OpenAI, Azure OpenAI or any
//! OpenAI-compatible server (Ollama, vLLM, llama.cpp), through async-openai.
//!
//! async-openai's built-in retry is switched off: the client runs on a tower stack whose only
//! retry is [`retry_layer`], layer 1 of the runner's three retry layers (LLM HTTP; MCP 429s;
//! items retried on later runs), so waits never multiply. Local-server quirks are absorbed on
//! both sides: assistant tool-call messages go out with `content: ""`, and responses are
//! normalised ([`compat`]) before decoding.

pub mod chat;
pub mod client;
pub mod compat;
pub mod error;
pub mod retry_layer;
pub mod settings;
pub mod structured;
pub mod wait_hint;

pub use chat::{
    ChatMessage, ChatRequest, ChatResponse, FinishReason, TokenUsage, ToolCall, ToolChoice,
    ToolSpec,
};
pub use client::LlmClient;
pub use error::LlmError;
pub use retry_layer::{LLM_LAYER, RetryEvent, RetryLog, RetryObserver};
pub use settings::{ApiKey, LlmProvider, LlmSettings, RetryPolicy};
pub use structured::ResponseFormat;
