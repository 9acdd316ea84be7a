//! The workflow file exactly as written: serde types that refuse unknown keys, with source spans on
//! every value a later check may refuse, and the JSON Schema published as `workflows/schema.json`.
//!
//! These types only describe shape; [`super::Workflow`] is what the rest of the runner uses.
//! Values that need outside context (the tool catalog, files next to the workflow) or a parser
//! (cron, time zone, durations, templates) stay as spanned strings here and are checked in
//! `workflow::check`, which can then point at the exact line and column.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use super::decide::{ActionFile, ContextFile, DecideFile, Mode, PrefetchFile};
use super::model::{BaselineKind, Provider};
use super::policy::{CatchUp, Notify, OverlapPolicy, WritePolicy};

/// A deskhand workflow: what to select, what to ask the model, which tools it may use and what it
/// may change.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "deskhand workflow")]
pub struct WorkflowFile {
    /// Format version; always 1.
    #[schemars(with = "u32", range(min = 1, max = 1))]
    pub version: Spanned<u32>,
    /// Unique name: lowercase letters, digits and `-`. Runs, history and schedule ticks are keyed
    /// by it.
    #[schemars(with = "String", regex(pattern = r"^[a-z0-9-]+$"), length(max = 64))]
    pub name: Spanned<String>,
    pub description: String,
    /// Cron expression: 5 fields (minute hour day-of-month month day-of-week) or 6 with leading
    /// seconds. Absent: the workflow only runs from the command line.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub schedule: Option<Spanned<String>>,
    /// IANA time zone the schedule is read in (default UTC).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timezone: Option<Spanned<String>>,
    #[serde(default)]
    pub overlap: Option<OverlapPolicy>,
    #[serde(default)]
    pub catch_up: Option<CatchUp>,
    #[serde(default)]
    #[schemars(with = "Option<ModelFile>")]
    pub model: Option<Spanned<ModelFile>>,
    /// How the agent reaches Zoho Desk (default `embedded`).
    #[serde(default)]
    #[schemars(with = "Option<McpFile>")]
    pub mcp: Option<Spanned<McpFile>>,
    /// The Zoho connection (a name in the connections file `deskhand connect` writes) the
    /// embedded MCP server uses for this workflow. `--connection` on the command line wins over
    /// it; absent, the default connection (or the `ZOHO_*` environment) is used. Only with
    /// `mcp: embedded`.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        regex(pattern = r"^[A-Za-z0-9_-]+$"),
        length(min = 1, max = 64)
    )]
    pub connection: Option<Spanned<String>>,
    /// The tools the model may call (the allow-list).
    #[schemars(with = "Vec<String>")]
    pub tools: Vec<Spanned<String>>,
    /// Tools of `tools` that are offered only while an input has a given value, e.g. a reply tool
    /// only when `reply_mode` is `public_reply`. Otherwise the model is not shown them at all, so
    /// text inside a ticket cannot talk it into using them.
    #[serde(default)]
    pub tools_when: BTreeMap<String, ToolWhenFile>,
    #[serde(default)]
    pub for_each: Option<ForEachFile>,
    /// Prompt template file, relative to this workflow file.
    #[schemars(with = "String")]
    pub prompt: Spanned<String>,
    /// System prompt template file, relative to this workflow file.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub system_prompt: Option<Spanned<String>>,
    /// Input defaults, available to templates as `inputs.<key>`; `--set key=value` overrides them.
    #[serde(default)]
    pub inputs: Map<String, Value>,
    /// The values an input may take, per input: the default and every `--set` must be one of
    /// them, so a typo is refused before the run instead of failing every item.
    #[serde(default)]
    pub input_choices: BTreeMap<String, Vec<Value>>,
    #[serde(default)]
    pub writes: Option<WritePolicy>,
    /// Tell people when a run leaves writes waiting for approval.
    #[serde(default)]
    pub notify: Option<Notify>,
    /// The offline routine used when no LLM is configured; without one, such a run is an error.
    #[serde(default)]
    pub baseline: Option<BaselineKind>,
    #[serde(default)]
    pub limits: Option<LimitsFile>,
    #[serde(default)]
    pub output: Option<OutputFile>,
    /// `agent` (default): the model holds `tools` and loops. `decide`: the runner makes every
    /// call (`context`, `prefetch`, `actions`) and the model answers one decision with no tool.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Calls made once per run, before the first item; their results are `context.<name>` in
    /// prompts and actions.
    #[serde(default)]
    pub context: BTreeMap<String, ContextFile>,
    /// Reads made for each item before the model is asked (decide mode); their results are
    /// `prefetch.<name>`.
    #[serde(default)]
    pub prefetch: Vec<PrefetchFile>,
    /// How decide mode checks the decision, and what it decides when the model's stays invalid.
    #[serde(default)]
    pub decide: Option<DecideFile>,
    /// Decide mode: the calls that turn the decision into writes, in order, each under the write
    /// policy and the exactly-once intents.
    #[serde(default)]
    pub actions: Vec<ActionFile>,
}

/// The condition under which a tool of the allow-list is offered.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolWhenFile {
    /// The name of an input of this workflow.
    pub input: String,
    /// The value that input must have (after `--set`) for the tool to be offered.
    pub equals: Value,
}

/// The LLM. Absent: the best available (OPENAI_* environment, else the offline baseline).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    pub provider: Provider,
    /// Model name (for Azure, the deployment is set under `azure`).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f32>,
    /// openai_compatible (and openai through a proxy): the API base URL.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Name of the environment variable holding the API key; the key itself never goes in YAML.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub azure: Option<AzureFile>,
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_completion_tokens: Option<u32>,
    /// Ask the provider to force a tool call each step; only where the provider supports
    /// `tool_choice: required`.
    #[serde(default)]
    pub tool_choice_required: Option<bool>,
    /// Send `output.schema` as the provider's structured-output `response_format` (json_schema,
    /// strict). Default true; false describes the schema in the prompt instead, for servers
    /// that mishandle it. A provider that refuses it is detected and falls back by itself.
    #[serde(default)]
    pub structured_output: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AzureFile {
    pub deployment: String,
    pub api_version: String,
}

/// `embedded`, `{ url, bearer_token_env }` or `{ command, env }`.
// Deserialized by hand: serde's untagged enums answer every mistake with "did not match any
// variant", whereas this names the unknown key or the missing one. The derive is for the schema.
#[derive(Debug, JsonSchema)]
#[serde(untagged)]
pub enum McpFile {
    Embedded(EmbeddedKeyword),
    Url(McpUrlFile),
    Command(McpCommandFile),
}

/// The in-process MCP server (the default).
#[derive(Debug, Clone, Copy, JsonSchema)]
pub enum EmbeddedKeyword {
    #[serde(rename = "embedded")]
    Embedded,
}

/// A Streamable HTTP MCP server (a hosted server URL includes its token).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpUrlFile {
    pub url: String,
    /// Environment variable holding a bearer token, for servers created with
    /// `require_api_token_auth`.
    #[serde(default)]
    pub bearer_token_env: Option<String>,
}

/// An MCP server started as a child process speaking stdio.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpCommandFile {
    #[schemars(length(min = 1))]
    pub command: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

impl<'de> Deserialize<'de> for McpFile {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct McpVisitor;

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Either {
            #[serde(default)]
            url: Option<String>,
            #[serde(default)]
            bearer_token_env: Option<String>,
            #[serde(default)]
            command: Option<Vec<String>>,
            #[serde(default)]
            env: Option<BTreeMap<String, String>>,
        }

        impl<'de> serde::de::Visitor<'de> for McpVisitor {
            type Value = McpFile;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`embedded`, a map with `url`, or a map with `command`")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<McpFile, E> {
                if v == "embedded" {
                    Ok(McpFile::Embedded(EmbeddedKeyword::Embedded))
                } else {
                    Err(E::custom(format!(
                        "unknown MCP connection `{v}`: expected `embedded`, {{ url: ... }} or {{ command: [...] }}"
                    )))
                }
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<McpFile, A::Error> {
                use serde::de::Error;
                let e = Either::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                match (e.url, e.command) {
                    (Some(url), None) => {
                        if e.env.is_some() {
                            return Err(A::Error::custom(
                                "`env` applies to a `command` MCP connection, not a `url` one",
                            ));
                        }
                        Ok(McpFile::Url(McpUrlFile {
                            url,
                            bearer_token_env: e.bearer_token_env,
                        }))
                    }
                    (None, Some(command)) => {
                        if e.bearer_token_env.is_some() {
                            return Err(A::Error::custom(
                                "`bearer_token_env` applies to a `url` MCP connection, not a `command` one",
                            ));
                        }
                        Ok(McpFile::Command(McpCommandFile {
                            command,
                            env: e.env.unwrap_or_default(),
                        }))
                    }
                    (Some(_), Some(_)) => Err(A::Error::custom(
                        "an MCP connection has either `url` or `command`, not both",
                    )),
                    (None, None) => Err(A::Error::custom(
                        "an MCP connection map needs `url` or `command`",
                    )),
                }
            }
        }

        deserializer.deserialize_any(McpVisitor)
    }
}

/// Where the items come from: one call of a (read) tool, each element of its result is an item.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForEachFile {
    /// Any catalog tool; it need not be in `tools`, since the runner calls it, not the model.
    #[schemars(with = "String")]
    pub tool: Spanned<String>,
    /// Tool arguments; string values may be templates over `inputs` and `run`.
    #[serde(default)]
    #[schemars(with = "Map<String, Value>")]
    pub args: BTreeMap<String, Spanned<Value>>,
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub max_items: Option<Spanned<u32>>,
    /// Field of each item that identifies it across runs (default `id`).
    #[serde(default)]
    pub id_field: Option<String>,
    /// Fields of each item whose change makes a handled item due again (default: the whole
    /// item). Leave out fields the workflow's own writes change, such as `commentCount`.
    #[serde(default)]
    pub fingerprint: Option<Vec<String>>,
}

/// Bounds on one run.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// Model turns per item.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub max_steps: Option<Spanned<u32>>,
    /// Wall-clock budget per item: 500ms, 30s, 2m, 1h.
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = r"^[0-9]+(ms|s|m|h)$"))]
    pub item_timeout: Option<Spanned<String>>,
    /// Items processed at the same time.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub concurrency: Option<Spanned<u32>>,
    /// Total tokens (prompt + completion) per run.
    #[serde(default)]
    #[schemars(with = "Option<u64>", range(min = 1))]
    pub token_budget: Option<Spanned<u64>>,
    /// Times an item is tried across runs before it is left alone.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub max_attempts: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputFile {
    /// JSON Schema the agent's final answer must satisfy.
    #[schemars(with = "Map<String, Value>")]
    pub schema: Spanned<Value>,
}
