//! Which LLM endpoint to call and how, merged from a workflow's `model:` block and the environment.

use std::fmt;
use std::time::Duration;

use crate::workflow::{AzureSettings, ModelSettings, Provider};

use super::error::LlmError;

/// Model used when neither the workflow nor `DESKHAND_LLM_MODEL` names one.
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-4.1-mini";
/// Per-attempt limit when nothing else is configured; local CPU models need generous time.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The kind of endpoint; the offline baseline is not one, so it has no variant here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LlmProvider {
    OpenAi,
    Azure,
    /// Ollama, vLLM, llama.cpp server and the like: the key is optional and `tool_choice:
    /// "required"` is often unsupported.
    OpenAiCompatible,
}

impl LlmProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            LlmProvider::OpenAi => "openai",
            LlmProvider::Azure => "azure",
            LlmProvider::OpenAiCompatible => "openai_compatible",
        }
    }
}

/// An API key. It has no `Display`, and its `Debug` never shows the value, so a key cannot reach
/// a log line or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Layer 1 of the runner's retry: what the LLM HTTP client does on 429, 5xx, timeouts and
/// dropped connections.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Total HTTP attempts per chat call, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Upper bound on any single wait, including waits the provider asks for: a `Retry-After:
    /// 3600` must not stall a workflow for an hour.
    pub max_wait: Duration,
    /// First backoff delay when the provider gives no hint; doubles per attempt, with jitter.
    pub min_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            max_wait: Duration::from_secs(60),
            min_backoff: Duration::from_millis(500),
        }
    }
}

/// Everything needed to build an [`LlmClient`](super::LlmClient).
#[derive(Debug, Clone, PartialEq)]
pub struct LlmSettings {
    pub provider: LlmProvider,
    /// Model name sent in each request (for Azure the deployment decides; this is informational).
    pub model: String,
    pub temperature: Option<f32>,
    /// API base including `/v1` (OpenAI and compatible) or the resource endpoint (Azure).
    pub base_url: Option<String>,
    /// The environment variable the key came from; named in auth errors so users know what to fix.
    pub api_key_env: Option<String>,
    pub api_key: Option<ApiKey>,
    /// OpenAI organization (`OPENAI_ORG_ID`).
    pub organization: Option<String>,
    pub azure: Option<AzureSettings>,
    pub max_completion_tokens: Option<u32>,
    /// Send `tool_choice: "required"` when asked to force a tool call. Off by default because
    /// llama.cpp's server answers it with HTTP 500.
    pub tool_choice_required: bool,
    /// Send the output schema as `response_format` (`json_schema`, strict) for the final answer.
    /// On by default; when off, or when the provider refuses it, the schema is described in the
    /// prompt and a non-conforming answer gets one correction.
    pub structured_output: bool,
    /// Limit for one HTTP attempt (connect, response and body).
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

/// Reads an environment variable; `None` when unset or blank.
fn lookup(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.trim().is_empty())
}

impl LlmSettings {
    /// Settings for an OpenAI-compatible server at `base_url` (which must include `/v1`), no key.
    pub fn openai_compatible(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            provider: LlmProvider::OpenAiCompatible,
            model: model.into(),
            temperature: None,
            base_url: Some(base_url.into()),
            api_key_env: None,
            api_key: None,
            organization: None,
            azure: None,
            max_completion_tokens: None,
            tool_choice_required: false,
            structured_output: true,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }

    /// Settings for OpenAI itself (or a proxy at `base_url`).
    pub fn openai(model: impl Into<String>, api_key: ApiKey) -> Self {
        Self {
            provider: LlmProvider::OpenAi,
            base_url: None,
            api_key: Some(api_key),
            tool_choice_required: true,
            ..Self::openai_compatible(String::new(), model)
        }
    }

    /// Settings for an Azure OpenAI deployment; `endpoint` is `https://RESOURCE.openai.azure.com`.
    pub fn azure(
        endpoint: impl Into<String>,
        deployment: impl Into<String>,
        api_version: impl Into<String>,
        api_key: ApiKey,
    ) -> Self {
        let deployment = deployment.into();
        Self {
            provider: LlmProvider::Azure,
            model: deployment.clone(),
            base_url: Some(endpoint.into()),
            api_key: Some(api_key),
            azure: Some(AzureSettings {
                deployment,
                api_version: api_version.into(),
            }),
            tool_choice_required: true,
            ..Self::openai_compatible(String::new(), String::new())
        }
    }

    /// What the process environment configures, or `None` when it configures no LLM (the runner
    /// then uses its offline baseline).
    pub fn from_env() -> Result<Option<Self>, LlmError> {
        Self::resolve(None, |name| std::env::var(name).ok())
    }

    /// Merges a workflow's `model:` block with the environment, which holds what must not be in
    /// a committed file (keys, the Azure endpoint) and the defaults for workflows without a block.
    ///
    /// `Ok(None)`: no LLM (the workflow asks for the baseline, or nothing is configured).
    /// Environment variables: `OPENAI_API_KEY`, `OPENAI_BASE_URL`, `OPENAI_ORG_ID`,
    /// `AZURE_OPENAI_ENDPOINT`, `AZURE_OPENAI_API_KEY`, `AZURE_OPENAI_DEPLOYMENT`,
    /// `AZURE_OPENAI_API_VERSION` (or `OPENAI_API_VERSION`), `DESKHAND_LLM_PROVIDER`
    /// (`openai` | `azure` | `openai_compatible`), `DESKHAND_LLM_MODEL`,
    /// `DESKHAND_LLM_TIMEOUT_SECS`.
    pub fn resolve(
        workflow_model: Option<&ModelSettings>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, LlmError> {
        let env: &dyn Fn(&str) -> Option<String> = &env;
        let settings = match workflow_model {
            Some(m) => match m.provider {
                Provider::Baseline => return Ok(None),
                Provider::Openai => Some(openai_from(
                    env,
                    m.name.clone(),
                    m.base_url.clone(),
                    m.api_key_env.clone(),
                )?),
                Provider::OpenaiCompatible => Some(compatible_from(
                    env,
                    m.name.clone(),
                    m.base_url.clone(),
                    m.api_key_env.clone(),
                )?),
                Provider::Azure => Some(azure_from(
                    env,
                    m.name.clone(),
                    m.azure.clone(),
                    m.api_key_env.clone(),
                )?),
            },
            None => detect(env)?,
        };
        let Some(mut settings) = settings else {
            return Ok(None);
        };
        if let Some(m) = workflow_model {
            settings.temperature = m.temperature;
            settings.max_completion_tokens = m.max_completion_tokens;
            settings.tool_choice_required = m.tool_choice_required;
            settings.structured_output = m.structured_output;
        }
        if let Some(secs) = lookup(env, "DESKHAND_LLM_TIMEOUT_SECS") {
            let secs: u64 = secs.trim().parse().map_err(|_| {
                LlmError::Config(format!(
                    "DESKHAND_LLM_TIMEOUT_SECS must be a whole number of seconds, not \"{}\"",
                    secs.trim()
                ))
            })?;
            settings.request_timeout = Duration::from_secs(secs.max(1));
        }
        settings.validate()?;
        Ok(Some(settings))
    }

    /// Checks what would otherwise fail deep inside the HTTP client (async-openai panics on a key
    /// that is not a valid header value).
    pub fn validate(&self) -> Result<(), LlmError> {
        if self.model.trim().is_empty() && self.provider != LlmProvider::Azure {
            return Err(LlmError::Config(
                "no model name is configured (the workflow's `model.name` or DESKHAND_LLM_MODEL)"
                    .into(),
            ));
        }
        match (self.provider, &self.base_url) {
            (LlmProvider::OpenAi, None) => {}
            (LlmProvider::OpenAi, Some(url)) => check_url("base_url", url)?,
            (LlmProvider::OpenAiCompatible, Some(url)) => check_url("base_url", url)?,
            (LlmProvider::OpenAiCompatible, None) => {
                return Err(LlmError::Config(
                    "an openai_compatible provider needs a base_url (e.g. http://127.0.0.1:11434/v1)"
                        .into(),
                ));
            }
            (LlmProvider::Azure, Some(url)) => check_url("the Azure endpoint", url)?,
            (LlmProvider::Azure, None) => {
                return Err(LlmError::Config(
                    "Azure OpenAI needs an endpoint (AZURE_OPENAI_ENDPOINT)".into(),
                ));
            }
        }
        if self.provider == LlmProvider::Azure {
            match &self.azure {
                Some(a) if !a.deployment.trim().is_empty() && !a.api_version.trim().is_empty() => {
                    if !a
                        .deployment
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                    {
                        return Err(LlmError::Config(format!(
                            "the Azure deployment name \"{}\" may contain only letters, digits, '-', '_' and '.'",
                            a.deployment
                        )));
                    }
                }
                _ => {
                    return Err(LlmError::Config(
                        "Azure OpenAI needs a deployment and an api_version".into(),
                    ));
                }
            }
        }
        let needs_key = matches!(self.provider, LlmProvider::OpenAi | LlmProvider::Azure);
        match &self.api_key {
            None if needs_key => {
                return Err(LlmError::Config(format!(
                    "no API key for {}: set {}",
                    self.provider.as_str(),
                    self.api_key_env
                        .as_deref()
                        .unwrap_or("the API key variable")
                )));
            }
            Some(key) if !is_header_safe(key.expose()) => {
                return Err(LlmError::Config(format!(
                    "the API key in {} contains characters that cannot be sent in an HTTP header (a stray newline or quote?)",
                    self.api_key_env.as_deref().unwrap_or("the settings")
                )));
            }
            _ => {}
        }
        if let Some(org) = &self.organization
            && !is_header_safe(org)
        {
            return Err(LlmError::Config(
                "OPENAI_ORG_ID contains characters that cannot be sent in an HTTP header".into(),
            ));
        }
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(LlmError::Config(format!(
                "temperature {t} is outside 0..=2"
            )));
        }
        if self.retry.max_attempts == 0 {
            return Err(LlmError::Config(
                "retry.max_attempts must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// How errors name the endpoint: never a key, never URL credentials.
    pub fn provider_label(&self) -> String {
        let host = self.base_url.as_deref().and_then(|u| {
            let url = url::Url::parse(u).ok()?;
            let host = url.host_str()?.to_owned();
            Some(match url.port() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            })
        });
        match (self.provider, host) {
            (LlmProvider::OpenAi, None) => "OpenAI".into(),
            (LlmProvider::OpenAi, Some(h)) => format!("OpenAI (via {h})"),
            (LlmProvider::Azure, Some(h)) => format!("Azure OpenAI ({h})"),
            (LlmProvider::Azure, None) => "Azure OpenAI".into(),
            (LlmProvider::OpenAiCompatible, Some(h)) => {
                format!("the OpenAI-compatible server at {h}")
            }
            (LlmProvider::OpenAiCompatible, None) => "the OpenAI-compatible server".into(),
        }
    }
}

fn is_header_safe(v: &str) -> bool {
    v.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
}

fn check_url(what: &str, raw: &str) -> Result<(), LlmError> {
    match url::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(LlmError::Config(format!(
            "{what} must be an http(s) URL, not \"{}\"",
            redact_userinfo(raw)
        ))),
    }
}

fn redact_userinfo(raw: &str) -> String {
    match raw.split_once('@') {
        Some((before, after)) if before.contains("://") => {
            let scheme = before.split("://").next().unwrap_or("");
            format!("{scheme}://<redacted>@{after}")
        }
        _ => raw.to_owned(),
    }
}

fn trim_base(url: String) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

fn key_from(
    env: &dyn Fn(&str) -> Option<String>,
    var: &str,
    required: bool,
) -> Result<Option<ApiKey>, LlmError> {
    match lookup(env, var) {
        Some(k) => Ok(Some(ApiKey::new(k.trim()))),
        None if required => Err(LlmError::Config(format!(
            "the API key variable {var} is not set"
        ))),
        None => Ok(None),
    }
}

fn openai_from(
    env: &dyn Fn(&str) -> Option<String>,
    name: Option<String>,
    base_url: Option<String>,
    api_key_env: Option<String>,
) -> Result<LlmSettings, LlmError> {
    let key_var = api_key_env.unwrap_or_else(|| "OPENAI_API_KEY".into());
    let api_key = key_from(env, &key_var, true)?;
    Ok(LlmSettings {
        provider: LlmProvider::OpenAi,
        model: name
            .or_else(|| lookup(env, "DESKHAND_LLM_MODEL"))
            .unwrap_or_else(|| DEFAULT_OPENAI_MODEL.into()),
        base_url: base_url
            .or_else(|| lookup(env, "OPENAI_BASE_URL"))
            .map(trim_base),
        api_key_env: Some(key_var),
        api_key,
        organization: lookup(env, "OPENAI_ORG_ID").map(|o| o.trim().to_owned()),
        tool_choice_required: false,
        ..LlmSettings::openai_compatible(String::new(), String::new())
    })
}

fn compatible_from(
    env: &dyn Fn(&str) -> Option<String>,
    name: Option<String>,
    base_url: Option<String>,
    api_key_env: Option<String>,
) -> Result<LlmSettings, LlmError> {
    // OPENAI_API_KEY is deliberately not sent to arbitrary servers; a key must be named.
    let api_key = match &api_key_env {
        Some(var) => key_from(env, var, true)?,
        None => None,
    };
    Ok(LlmSettings {
        base_url: base_url
            .or_else(|| lookup(env, "OPENAI_BASE_URL"))
            .map(trim_base),
        api_key_env,
        api_key,
        ..LlmSettings::openai_compatible(
            String::new(),
            name.or_else(|| lookup(env, "DESKHAND_LLM_MODEL"))
                .unwrap_or_default(),
        )
    })
}

fn azure_from(
    env: &dyn Fn(&str) -> Option<String>,
    name: Option<String>,
    azure: Option<AzureSettings>,
    api_key_env: Option<String>,
) -> Result<LlmSettings, LlmError> {
    let key_var = api_key_env.unwrap_or_else(|| "AZURE_OPENAI_API_KEY".into());
    let api_key = key_from(env, &key_var, true)?;
    let endpoint = lookup(env, "AZURE_OPENAI_ENDPOINT")
        .map(trim_base)
        .ok_or_else(|| {
            LlmError::Config(
                "Azure OpenAI needs AZURE_OPENAI_ENDPOINT (https://RESOURCE.openai.azure.com)"
                    .into(),
            )
        })?;
    let azure = match azure {
        Some(a) => a,
        None => AzureSettings {
            deployment: lookup(env, "AZURE_OPENAI_DEPLOYMENT").ok_or_else(|| {
                LlmError::Config("Azure OpenAI needs AZURE_OPENAI_DEPLOYMENT".into())
            })?,
            api_version: lookup(env, "AZURE_OPENAI_API_VERSION")
                .or_else(|| lookup(env, "OPENAI_API_VERSION"))
                .ok_or_else(|| {
                    LlmError::Config("Azure OpenAI needs AZURE_OPENAI_API_VERSION".into())
                })?,
        },
    };
    Ok(LlmSettings {
        model: name.unwrap_or_else(|| azure.deployment.clone()),
        api_key_env: Some(key_var),
        tool_choice_required: false,
        ..LlmSettings::azure(
            endpoint,
            azure.deployment,
            azure.api_version,
            api_key.unwrap_or_else(|| ApiKey::new("")),
        )
    })
}

fn detect(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<LlmSettings>, LlmError> {
    let explicit = lookup(env, "DESKHAND_LLM_PROVIDER").map(|p| p.trim().to_ascii_lowercase());
    let provider = match explicit.as_deref() {
        Some("openai") => LlmProvider::OpenAi,
        Some("azure") => LlmProvider::Azure,
        Some("openai_compatible") => LlmProvider::OpenAiCompatible,
        Some("baseline") => return Ok(None),
        Some(other) => {
            return Err(LlmError::Config(format!(
                "DESKHAND_LLM_PROVIDER must be openai, azure, openai_compatible or baseline, not \"{other}\""
            )));
        }
        None if lookup(env, "AZURE_OPENAI_ENDPOINT").is_some() => LlmProvider::Azure,
        None if lookup(env, "OPENAI_API_KEY").is_some() => LlmProvider::OpenAi,
        None if lookup(env, "OPENAI_BASE_URL").is_some() => LlmProvider::OpenAiCompatible,
        None => return Ok(None),
    };
    let model = lookup(env, "DESKHAND_LLM_MODEL");
    Ok(Some(match provider {
        LlmProvider::OpenAi => openai_from(env, model, None, None)?,
        LlmProvider::Azure => azure_from(env, model, None, None)?,
        LlmProvider::OpenAiCompatible => {
            let key_env = lookup(env, "OPENAI_API_KEY").map(|_| "OPENAI_API_KEY".to_owned());
            compatible_from(env, model, None, key_env)?
        }
    }))
}
