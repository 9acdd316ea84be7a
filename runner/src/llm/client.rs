//! The chat-completions client the agent loop calls.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::{AzureConfig, Config, OpenAIConfig};
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;
use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestToolMessage,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, ChatCompletionTool, ChatCompletionToolChoiceOption,
    ChatCompletionTools, CreateChatCompletionRequest, CreateChatCompletionResponse,
    FinishReason as WireFinishReason, FunctionCall, FunctionObject,
    ResponseFormat as WireResponseFormat, ResponseFormatJsonSchema, ToolChoiceOptions,
};
use serde_json::Value;
use tower::Layer;

use super::chat::{
    ChatMessage, ChatRequest, ChatResponse, FinishReason, TokenUsage, ToolCall, ToolChoice,
};
use super::error::LlmError;
use super::retry_layer::{CallStats, LLM_LAYER, RetryContext, RetryLayer, RetryObserver};
use super::settings::{LlmProvider, LlmSettings};
use super::structured::ResponseFormat;

/// A chat-completions client for one provider. Cheap to clone; share one per workflow run.
///
/// async-openai's built-in retry is replaced by the runner's own layer ([`RetryLayer`]), so a
/// call makes at most `settings.retry.max_attempts` HTTP requests and never waits longer than
/// `settings.retry.max_wait` at a time.
#[derive(Clone)]
pub struct LlmClient {
    settings: Arc<LlmSettings>,
    config: Arc<dyn Config>,
    http: reqwest::Client,
    ctx: RetryContext,
    /// Set once the provider has refused `response_format`; shared by every clone, so the rest
    /// of the run (one client per run) asks no more and uses the prompt instead.
    structured_refused: Arc<AtomicBool>,
    /// Set once it has been logged that the output schema cannot go out as a strict format.
    inexpressible_logged: Arc<AtomicBool>,
}

impl fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `settings` redacts the key; the async-openai config is left out because it holds it.
        f.debug_struct("LlmClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl LlmClient {
    pub fn new(settings: LlmSettings) -> Result<Self, LlmError> {
        settings.validate()?;
        let key = settings
            .api_key
            .as_ref()
            .map(|k| k.expose().to_owned())
            .unwrap_or_default();
        let config: Arc<dyn Config> = match settings.provider {
            LlmProvider::Azure => {
                let (Some(base), Some(azure)) = (&settings.base_url, &settings.azure) else {
                    return Err(LlmError::Config(
                        "Azure OpenAI needs an endpoint, a deployment and an api_version".into(),
                    ));
                };
                Arc::new(
                    AzureConfig::new()
                        .with_api_base(base.trim_end_matches('/'))
                        .with_deployment_id(azure.deployment.as_str())
                        .with_api_version(azure.api_version.as_str())
                        .with_api_key(key.as_str()),
                )
            }
            LlmProvider::OpenAi | LlmProvider::OpenAiCompatible => {
                let base = settings
                    .base_url
                    .as_deref()
                    .unwrap_or(async_openai::config::OPENAI_API_BASE)
                    .trim_end_matches('/');
                // Every field is set explicitly: `OpenAIConfig::new()` also reads OPENAI_*
                // variables, which must not leak into an openai_compatible endpoint.
                Arc::new(
                    OpenAIConfig::new()
                        .with_api_base(base)
                        .with_api_key(key.as_str())
                        .with_org_id(settings.organization.as_deref().unwrap_or(""))
                        .with_project_id(""),
                )
            }
        };
        zoho_desk_mcp::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(settings.request_timeout.min(Duration::from_secs(30)))
            .build()
            .map_err(|e| LlmError::Config(format!("cannot build the HTTP client: {e}")))?;
        let ctx = RetryContext {
            policy: settings.retry,
            attempt_timeout: settings.request_timeout,
            provider: settings.provider_label().into(),
            key_env: settings.api_key_env.as_deref().map(Arc::from),
            key: settings
                .api_key
                .as_ref()
                .filter(|k| !k.expose().is_empty())
                .map(|k| Arc::from(k.expose())),
            observer: None,
        };
        Ok(Self {
            settings: Arc::new(settings),
            config,
            http,
            ctx,
            structured_refused: Arc::new(AtomicBool::new(false)),
            inexpressible_logged: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Reports every retry to `observer` (in addition to the tracing event).
    pub fn with_observer(mut self, observer: Arc<dyn RetryObserver>) -> Self {
        self.ctx.observer = Some(observer);
        self
    }

    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    /// The `response_format` to send for an answer that must satisfy `schema`, or `None` when
    /// the schema goes in the prompt instead: the workflow turned structured outputs off, the
    /// provider refused them earlier in this run, or strict mode cannot express the schema.
    pub fn response_format(&self, schema: &Value) -> Option<ResponseFormat> {
        if !self.settings.structured_output || self.structured_output_refused() {
            return None;
        }
        match ResponseFormat::for_schema(schema) {
            Ok(format) => Some(format),
            Err(why) => {
                if !self.inexpressible_logged.swap(true, Ordering::Relaxed) {
                    tracing::info!(
                        reason = %why,
                        "the output schema goes in the prompt: strict structured outputs cannot express it"
                    );
                }
                None
            }
        }
    }

    /// Whether the provider refused `response_format` earlier in this client's run.
    pub fn structured_output_refused(&self) -> bool {
        self.structured_refused.load(Ordering::SeqCst)
    }

    /// Called with the error of a request that carried a `response_format`: when the provider
    /// refused it, structured outputs are off for the rest of the run and the caller should
    /// repeat the request with the schema in the prompt (returns true). The first refusal is
    /// reported to the observer, so the run history says once why the prompt changed.
    pub fn refuse_structured_output(&self, error: &LlmError) -> bool {
        if !error.rejects_response_format() {
            return false;
        }
        if !self.structured_refused.swap(true, Ordering::SeqCst) {
            let reason = format!(
                "structured outputs refused, the output schema goes in the prompt for the rest of the run: {error}"
            );
            tracing::warn!(layer = LLM_LAYER, provider = %self.ctx.provider, "{reason}");
            if let Some(observer) = &self.ctx.observer {
                observer.on_retry(LLM_LAYER, 1, Duration::ZERO, &reason);
            }
        }
        true
    }

    /// One chat completion, with the runner's retry policy applied to the HTTP exchange.
    pub async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let wire = self.wire_request(request);
        let stats = Arc::new(CallStats::default());
        // A client per call so the retry layer can count this call's retries; it shares the
        // connection pool and config, so this costs a few Arc clones.
        let service = RetryLayer {
            ctx: self.ctx.clone(),
            stats: stats.clone(),
        }
        .layer(ReqwestService::new(self.http.clone()));
        let client =
            Client::build(self.http.clone(), self.config.clone()).with_http_service(service);
        let started = Instant::now();
        let result = client.chat().create(wire).await;
        let latency = started.elapsed();
        let response = result.map_err(|e| self.map_error(e))?;
        self.response(response, latency, stats.retries.load(Ordering::SeqCst))
    }

    fn wire_request(&self, request: ChatRequest) -> CreateChatCompletionRequest {
        let s = &self.settings;
        let tool_choice = if request.tools.is_empty() {
            None
        } else {
            let wanted = request.tool_choice.unwrap_or(if s.tool_choice_required {
                ToolChoice::Required
            } else {
                ToolChoice::Auto
            });
            Some(ChatCompletionToolChoiceOption::Mode(match wanted {
                ToolChoice::Required if s.tool_choice_required => ToolChoiceOptions::Required,
                ToolChoice::Required => {
                    tracing::debug!(
                        "tool_choice \"required\" downgraded to \"auto\": the settings do not enable tool_choice_required"
                    );
                    ToolChoiceOptions::Auto
                }
                ToolChoice::Auto => ToolChoiceOptions::Auto,
                ToolChoice::None => ToolChoiceOptions::None,
            }))
        };
        let tools = (!request.tools.is_empty()).then(|| {
            request
                .tools
                .into_iter()
                .map(|t| {
                    ChatCompletionTools::Function(ChatCompletionTool {
                        function: FunctionObject {
                            name: t.name,
                            description: t.description,
                            parameters: Some(t.parameters),
                            // MCP schemas are not written for strict mode.
                            strict: None,
                        },
                    })
                })
                .collect()
        });
        let max_tokens = request.max_completion_tokens.or(s.max_completion_tokens);
        let response_format = request
            .response_format
            .map(|f| WireResponseFormat::JsonSchema {
                json_schema: ResponseFormatJsonSchema {
                    description: None,
                    name: f.name,
                    schema: f.schema,
                    strict: Some(true),
                },
            });
        #[allow(deprecated)]
        let mut wire = CreateChatCompletionRequest {
            model: s.model.clone(),
            messages: request.messages.into_iter().map(wire_message).collect(),
            tools,
            tool_choice,
            temperature: request.temperature.or(s.temperature),
            response_format,
            ..Default::default()
        };
        if s.provider == LlmProvider::OpenAiCompatible {
            // Ollama and older llama.cpp servers know only the older name.
            #[allow(deprecated)]
            {
                wire.max_tokens = max_tokens;
            }
        } else {
            wire.max_completion_tokens = max_tokens;
        }
        wire
    }

    fn map_error(&self, e: OpenAIError) -> LlmError {
        let provider = self.ctx.provider.to_string();
        match e {
            OpenAIError::Boxed(boxed) => match boxed.downcast::<LlmError>() {
                Ok(e) => *e,
                Err(other) => LlmError::Transport {
                    provider,
                    attempts: 1,
                    message: other.to_string(),
                },
            },
            OpenAIError::JSONDeserialize(err, _) => LlmError::Decode {
                provider,
                message: err.to_string(),
            },
            // Our layer turns every non-2xx into an LlmError, so this is a 2xx async-openai
            // still refused; report it without the body.
            OpenAIError::ApiError(api) => LlmError::BadRequest {
                provider,
                status: api.status_code.as_u16(),
                message: api.api_error.message,
            },
            OpenAIError::Reqwest(e) => LlmError::Transport {
                provider,
                attempts: 1,
                message: e.without_url().to_string(),
            },
            other => LlmError::Config(other.to_string()),
        }
    }

    fn response(
        &self,
        response: CreateChatCompletionResponse,
        latency: Duration,
        retries: u32,
    ) -> Result<ChatResponse, LlmError> {
        let usage = response
            .usage
            .map_or_else(TokenUsage::default, |u| TokenUsage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
                total_tokens: u.total_tokens,
                cached_tokens: u
                    .prompt_tokens_details
                    .and_then(|d| d.cached_tokens)
                    .unwrap_or(0),
            });
        let Some(choice) = response.choices.into_iter().next() else {
            return Err(LlmError::Decode {
                provider: self.ctx.provider.to_string(),
                message: "the response has no choices".into(),
            });
        };
        let tool_calls: Vec<ToolCall> = choice
            .message
            .tool_calls
            .unwrap_or_default()
            .into_iter()
            .map(|c| match c {
                ChatCompletionMessageToolCalls::Function(f) => ToolCall {
                    id: f.id,
                    name: f.function.name,
                    arguments: f.function.arguments,
                },
                ChatCompletionMessageToolCalls::Custom(c) => ToolCall {
                    id: c.id,
                    name: c.custom_tool.name,
                    arguments: c.custom_tool.input,
                },
            })
            .collect();
        let finish_reason = if tool_calls.is_empty() {
            match choice.finish_reason {
                Some(WireFinishReason::Length) => FinishReason::Length,
                Some(WireFinishReason::ContentFilter) => FinishReason::ContentFilter,
                Some(WireFinishReason::ToolCalls | WireFinishReason::FunctionCall) => {
                    FinishReason::ToolCalls
                }
                Some(WireFinishReason::Stop) | None => FinishReason::Stop,
            }
        } else {
            FinishReason::ToolCalls
        };
        Ok(ChatResponse {
            text: choice.message.content.filter(|t| !t.is_empty()),
            refusal: choice.message.refusal.filter(|r| !r.is_empty()),
            tool_calls,
            finish_reason,
            usage,
            model: response.model,
            latency,
            retries,
        })
    }
}

fn wire_message(message: ChatMessage) -> ChatCompletionRequestMessage {
    match message {
        ChatMessage::System { content } => {
            ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
                content: ChatCompletionRequestSystemMessageContent::Text(content),
                name: None,
            })
        }
        ChatMessage::User { content } => {
            ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
                content: ChatCompletionRequestUserMessageContent::Text(content),
                name: None,
            })
        }
        ChatMessage::Assistant {
            content,
            tool_calls,
        } => {
            let tool_calls = (!tool_calls.is_empty()).then(|| {
                tool_calls
                    .into_iter()
                    .map(|c| {
                        ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                            id: c.id,
                            function: FunctionCall {
                                name: c.name,
                                arguments: c.arguments,
                            },
                        })
                    })
                    .collect()
            });
            // llama.cpp's server answers 500 to an assistant message whose content is null or
            // absent, so it is always a string, empty when the model only called tools.
            ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
                content: Some(ChatCompletionRequestAssistantMessageContent::Text(
                    content.unwrap_or_default(),
                )),
                tool_calls,
                ..Default::default()
            })
        }
        ChatMessage::Tool {
            tool_call_id,
            content,
        } => ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
            content: ChatCompletionRequestToolMessageContent::Text(content),
            tool_call_id,
        }),
    }
}
