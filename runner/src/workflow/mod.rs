//! Workflow definitions: the YAML files under `workflows/`, parsed strictly and checked against the
//! MCP server's tools before anything runs.
//!
//! [`WorkflowFile`] is the file as written (its JSON Schema is `workflows/schema.json`);
//! [`Workflow`] is the checked result the runner, the scheduler and the CLI use: prompt files
//! read and their templates parsed, cron and time zone parsed, defaults filled in. Anything wrong
//! is one [`WorkflowError`] whose text starts with `file:line:col:`.
//!
//! Positions: serde-saphyr reports the position of syntax and shape errors (unknown key, wrong
//! type) itself. Values that are checked afterwards are deserialized as
//! [`serde_saphyr::Spanned`], so a bad cron expression or an unknown tool points at the value in
//! the file. The few places without a span (keys of `inputs`) fall back to a search of the source
//! text for the key.

mod check;
mod connection;
mod decide;
mod duration;
mod error;
mod file;
mod limits;
mod model;
mod policy;
mod prompt_roots;
mod schema;
mod tools;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::template::{Template, TemplateError};

pub use connection::McpConnection;
pub use decide::{
    Action, Condition, ContextBuiltin, ContextSource, DecideSettings, DirectoryIds, KnownIds, Mode,
    Prefetch, PrefetchCache, all_hold, as_text, list_elements,
};
pub use duration::{format_duration, parse_duration};
pub use error::{Position, WorkflowError, WorkflowErrorKind, WorkflowErrors};
pub use file::{
    AzureFile, EmbeddedKeyword, ForEachFile, LimitsFile, McpCommandFile, McpFile, McpUrlFile,
    ModelFile, OutputFile, WorkflowFile,
};
pub use limits::{Limits, MAX_ITEM_TIMEOUT};
pub use model::{AzureSettings, BaselineKind, ModelSettings, Provider};
pub use policy::{CatchUp, Notify, OverlapPolicy, WritePolicy};
pub use prompt_roots::allow_prompts_anywhere;
pub use schema::{SCHEMA_PATH, workflow_schema, workflow_schema_json};
pub use tools::{AnyTools, ToolDirectory, nearest_names};

/// The outcome of each file of a directory, in file-name order.
pub type LoadResults = Vec<(PathBuf, Result<Workflow, WorkflowError>)>;

/// The extensions `load_all` picks up.
pub const WORKFLOW_EXTENSIONS: [&str; 2] = ["yaml", "yml"];

/// A checked workflow.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// The file it was loaded from, as given (relative paths stay relative, for messages).
    pub source: PathBuf,
    pub name: String,
    pub description: String,
    pub schedule: Option<Schedule>,
    /// The zone `schedule` is read in; runs at the same wall-clock time across DST changes.
    pub timezone: Tz,
    pub overlap: OverlapPolicy,
    pub catch_up: CatchUp,
    /// `None`: the best available (OPENAI_* environment, else the offline baseline).
    pub model: Option<ModelSettings>,
    pub mcp: McpConnection,
    /// The Zoho connection named by `connection:` (embedded MCP only); `None` is the default
    /// connection. A command's `--connection` replaces it (see `cli::backend::connection_for`).
    pub connection: Option<String>,
    /// The allow-list, in file order; [`Workflow::offered_tools`] is what the model sees.
    pub tools: Vec<String>,
    /// Tools of `tools` offered only while an input has a given value.
    pub tools_when: Vec<ToolCondition>,
    /// Whether `tools` and `for_each.tool` were checked against the server's tool list (not for a
    /// url/command MCP connection, whose tools are only known once connected).
    pub tools_verified: bool,
    /// `None`: one run with no item.
    pub for_each: Option<ForEach>,
    pub prompt: PromptFile,
    pub system_prompt: Option<PromptFile>,
    /// Input values: the defaults from the file, then `--set` overrides.
    pub inputs: Map<String, Value>,
    /// `input_choices:`: the values an input may take, checked on load and on `--set`.
    pub input_choices: BTreeMap<String, Vec<Value>>,
    pub writes: WritePolicy,
    pub notify: Option<Notify>,
    pub baseline: Option<BaselineKind>,
    pub limits: Limits,
    /// JSON Schema for the agent's final answer.
    pub output_schema: Option<Value>,
    pub mode: Mode,
    /// `context`, `prefetch`, `actions` and the decision's checks (empty in agent mode, except
    /// `context`, which agent-mode prompts may use too).
    pub decide: DecideSettings,
    /// Where `name` is in the file, for the duplicate-name error of `load_all`.
    pub(crate) name_position: Option<Position>,
    /// Where `connection` is in the file, for [`Workflow::connection_error`].
    pub(crate) connection_position: Option<Position>,
}

/// A parsed cron schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// As written in the file (5 or 6 fields).
    pub expression: String,
    /// Always 6 fields (seconds first), the form tokio-cron-scheduler requires.
    pub cron: String,
    parsed: croner::Cron,
}

impl Schedule {
    /// Parses a 5-field (minute first) or 6-field (seconds first) expression; the error is
    /// croner's message.
    pub fn parse(expression: &str) -> Result<Schedule, String> {
        let fields = expression.split_whitespace().count();
        let cron = match fields {
            5 => format!("0 {}", expression.trim()),
            6 => expression.split_whitespace().collect::<Vec<_>>().join(" "),
            n => {
                return Err(format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), found {n}"
                ));
            }
        };
        let parsed = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Required)
            .year(croner::parser::Year::Disallowed)
            .build()
            .parse(&cron)
            .map_err(|e| e.to_string())?;
        Ok(Schedule {
            expression: expression.to_string(),
            cron,
            parsed,
        })
    }

    /// The first tick strictly after `after`, in `tz`.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Tz>> {
        // croner keeps the sub-second part of the start time in its answer; ticks are whole
        // seconds.
        let after = after.trunc_subsecs(0);
        self.parsed
            .find_next_occurrence(&after.with_timezone(&tz), false)
            .ok()
    }
}

/// The item source: one call of `tool`; each element of its result is an item.
#[derive(Debug, Clone)]
pub struct ForEach {
    pub tool: String,
    /// Arguments as written; string values are templates over `inputs` and `run`
    /// (see [`Workflow::for_each_args`]).
    pub args: Map<String, Value>,
    /// At most this many items per run (default 100).
    pub max_items: u32,
    /// Field of each item that identifies it across runs (default `id`).
    pub id_field: String,
    /// Fields hashed into the item's fingerprint; empty means the whole item.
    pub fingerprint: Vec<String>,
}

/// A prompt template file.
#[derive(Debug, Clone)]
pub struct PromptFile {
    /// Absolute path.
    pub path: PathBuf,
    pub template: Template,
}

/// The `run` variables of a template.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub id: String,
    pub workflow: String,
    pub started_at: DateTime<Utc>,
    /// The tick a scheduled run belongs to; null for a run from the command line.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// `schedule` or `manual`.
    pub trigger: String,
}

impl RunInfo {
    /// The variable names templates may use under `run.` (checked at load time).
    pub const VARIABLES: [&'static str; 5] =
        ["id", "workflow", "started_at", "scheduled_for", "trigger"];
}

impl Workflow {
    /// Loads and checks one workflow file. `tools` is the embedded catalog (or any directory of the
    /// server's tools); for a url/command MCP connection tool names are not checked, see
    /// [`Workflow::tools_verified`].
    pub fn load(path: &Path, tools: &dyn ToolDirectory) -> Result<Workflow, WorkflowError> {
        let bytes = std::fs::read(path).map_err(|e| unreadable(path, e))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            WorkflowError::new(
                path,
                WorkflowErrorKind::Invalid(
                    "not valid UTF-8 (a workflow file is UTF-8 text)".to_string(),
                ),
            )
            .at(Some(position_after(valid)))
        })?;
        Workflow::from_source(path, &text, tools)
    }

    /// Parses and checks workflow `text` as if read from `path` (prompt paths are relative to it).
    pub fn from_source(
        path: &Path,
        text: &str,
        tools: &dyn ToolDirectory,
    ) -> Result<Workflow, WorkflowError> {
        let file = parse_file(path, text)?;
        check::build(path, text, file, tools)
    }

    /// Loads every `*.yaml`/`*.yml` in `dir` (not recursive), in file-name order. Every broken
    /// file is reported, not just the first, and two files may not share a name.
    pub fn load_all(
        dir: &Path,
        tools: &dyn ToolDirectory,
    ) -> Result<Vec<Workflow>, WorkflowErrors> {
        let mut ok = Vec::new();
        let mut errors = Vec::new();
        match Workflow::load_each(dir, tools) {
            Ok(results) => {
                for (_, result) in results {
                    match result {
                        Ok(w) => ok.push(w),
                        Err(e) => errors.push(e),
                    }
                }
            }
            Err(e) => errors.push(e),
        }
        if errors.is_empty() {
            Ok(ok)
        } else {
            Err(WorkflowErrors(errors))
        }
    }

    /// Like [`Workflow::load_all`], but keeps the outcome of each file (for `deskhand validate`,
    /// which reports the good ones too). The outer error is an unreadable directory.
    pub fn load_each(dir: &Path, tools: &dyn ToolDirectory) -> Result<LoadResults, WorkflowError> {
        let paths = workflow_files(dir)?;
        Ok(Workflow::load_paths(&paths, tools))
    }

    /// Loads the given files; a name used by an earlier file makes the later one an error.
    pub fn load_paths(paths: &[PathBuf], tools: &dyn ToolDirectory) -> LoadResults {
        let mut seen: Vec<(String, PathBuf)> = Vec::new();
        paths
            .iter()
            .map(|path| {
                let result = Workflow::load(path, tools).and_then(|w| {
                    if let Some((_, other)) = seen.iter().find(|(n, _)| *n == w.name) {
                        return Err(WorkflowError::new(
                            path,
                            WorkflowErrorKind::DuplicateName {
                                name: w.name.clone(),
                                other: other.clone(),
                            },
                        )
                        .at(w.name_position)
                        .field("name"));
                    }
                    seen.push((w.name.clone(), path.clone()));
                    Ok(w)
                });
                (path.clone(), result)
            })
            .collect()
    }

    /// Applies `--set key=value` overrides. Each value is typed by its default: a number default
    /// takes a number, a boolean `true`/`false`, a string anything, an array or object JSON of
    /// that kind, a null default any JSON (or else the text as a string). An unknown key is an
    /// error, since a typo would otherwise run the workflow with the default silently.
    pub fn apply_overrides<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        overrides: &[(K, V)],
    ) -> Result<(), WorkflowError> {
        for (key, value) in overrides {
            let (key, text) = (key.as_ref(), value.as_ref());
            let err = |kind| WorkflowError::new(&self.source, kind).field(format!("inputs.{key}"));
            let Some(default) = self.inputs.get(key) else {
                return Err(err(WorkflowErrorKind::UnknownInput {
                    key: key.to_string(),
                    known: self.inputs.keys().cloned().collect(),
                })
                .field("--set"));
            };
            let typed = coerce(default, text).map_err(|expected| {
                err(WorkflowErrorKind::InputType {
                    key: key.to_string(),
                    expected,
                    value: text.to_string(),
                })
            })?;
            if let Some(choices) = self.input_choices.get(key)
                && !choices.contains(&typed)
            {
                return Err(err(WorkflowErrorKind::InputChoice {
                    key: key.to_string(),
                    value: typed.to_string(),
                    choices: choices.iter().map(Value::to_string).collect(),
                })
                .field("--set"));
            }
            self.inputs.insert(key.to_string(), typed);
        }
        Ok(())
    }

    /// An error about the workflow's `connection:` (one the connections file does not define),
    /// pointing at the key in the file.
    pub fn connection_error(&self, message: impl Into<String>) -> WorkflowError {
        WorkflowError::new(&self.source, WorkflowErrorKind::Invalid(message.into()))
            .at(self.connection_position)
            .field("connection")
    }

    /// The schedule in 6-field form for tokio-cron-scheduler, if the workflow has one.
    pub fn cron(&self) -> Option<&str> {
        self.schedule.as_ref().map(|s| s.cron.as_str())
    }

    /// The first scheduled tick strictly after `after`, in the workflow's time zone.
    pub fn next_run(&self, after: DateTime<Utc>) -> Option<DateTime<Tz>> {
        self.schedule
            .as_ref()
            .and_then(|s| s.next_after(after, self.timezone))
    }

    /// The template context: `{ inputs, run, item }` (`item` only when given).
    pub fn context(&self, run: &RunInfo, item: Option<&Value>) -> Value {
        let mut ctx = Map::new();
        ctx.insert("inputs".into(), Value::Object(self.inputs.clone()));
        ctx.insert(
            "run".into(),
            serde_json::to_value(run).unwrap_or(Value::Null),
        );
        if let Some(item) = item {
            ctx.insert("item".into(), item.clone());
        }
        Value::Object(ctx)
    }

    /// [`Workflow::context`] with more roots (`context`, `prefetch`, `decision`, ...).
    pub fn context_with(
        &self,
        run: &RunInfo,
        item: Option<&Value>,
        extra: &[(&str, &Value)],
    ) -> Value {
        let mut ctx = self.context(run, item);
        if let Value::Object(map) = &mut ctx {
            for (key, value) in extra {
                map.insert((*key).to_owned(), (*value).clone());
            }
        }
        ctx
    }

    /// The user prompt for one item (or for the single run without items).
    pub fn render_prompt(
        &self,
        run: &RunInfo,
        item: Option<&Value>,
    ) -> Result<String, TemplateError> {
        self.prompt.template.render(&self.context(run, item))
    }

    pub fn render_system_prompt(
        &self,
        run: &RunInfo,
        item: Option<&Value>,
    ) -> Option<Result<String, TemplateError>> {
        self.system_prompt
            .as_ref()
            .map(|p| p.template.render(&self.context(run, item)))
    }

    /// The user and system prompts rendered in a prepared template context (one that holds
    /// `context` and `prefetch` besides `inputs`, `run` and `item`).
    pub fn render_prompts_in(
        &self,
        ctx: &Value,
    ) -> Result<(String, Option<String>), (&'static str, TemplateError)> {
        let prompt = self
            .prompt
            .template
            .render(ctx)
            .map_err(|e| ("prompt", e))?;
        let system = self
            .system_prompt
            .as_ref()
            .map(|p| p.template.render(ctx))
            .transpose()
            .map_err(|e| ("system prompt", e))?;
        Ok((prompt, system))
    }

    /// The `for_each` tool's arguments with their templates rendered: a string that is exactly one
    /// placeholder keeps the value's JSON type.
    pub fn for_each_args(
        &self,
        run: &RunInfo,
    ) -> Option<Result<Map<String, Value>, TemplateError>> {
        let for_each = self.for_each.as_ref()?;
        let ctx = self.context(run, None);
        Some(
            for_each
                .args
                .iter()
                .map(|(k, v)| render_json(v, &ctx).map(|v| (k.clone(), v)))
                // An argument whose template renders to nothing (an input left at "" or null) is
                // left out: such an input means "no filter", not "match the empty value".
                .filter(|r| !matches!(r, Ok((_, v)) if v.is_null() || v.as_str() == Some("")))
                .collect(),
        )
    }
}

/// A tool of the allow-list that is offered only while `input` equals `equals`.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCondition {
    pub tool: String,
    pub input: String,
    pub equals: Value,
}

impl Workflow {
    /// The allow-list under the current inputs: `tools` less those whose `tools_when` condition
    /// does not hold. Values compare as text, so `--set flag=true` meets `equals: true`.
    pub fn offered_tools(&self) -> Vec<String> {
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        self.tools
            .iter()
            .filter(|tool| {
                self.tools_when
                    .iter()
                    .filter(|c| &c.tool == *tool)
                    .all(|c| self.inputs.get(&c.input).map(text) == Some(text(&c.equals)))
            })
            .cloned()
            .collect()
    }
}

/// Splits a `--set key=value` argument.
pub fn parse_assignment(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected key=value, got \"{text}\"")),
    }
}

fn parse_file(path: &Path, text: &str) -> Result<WorkflowFile, WorkflowError> {
    use serde_saphyr::MessageFormatter;
    serde_saphyr::from_str::<WorkflowFile>(text).map_err(|e| {
        let message = serde_saphyr::DefaultMessageFormatter
            .format_message(e.without_snippet())
            .into_owned();
        let position = e.location().and_then(Position::from_location);
        let error =
            WorkflowError::new(path, WorkflowErrorKind::Yaml(plain_words(message))).at(position);
        match position.and_then(|p| key_before(text, p)) {
            Some(key) => error.field(key),
            None => error,
        }
    })
}

/// serde-saphyr names YAML events and Rust types; people write lists, maps and numbers.
fn plain_words(message: String) -> String {
    let replacement = match message.as_str() {
        "expected sequence start" => "expected a list",
        "expected mapping start" => "expected a map",
        "expected string scalar" => "expected a string",
        "invalid u8" | "invalid u16" | "invalid u32" | "invalid u64" => {
            "expected a whole number (0 or more)"
        }
        "invalid f32" | "invalid f64" => "expected a number",
        "invalid bool" => "expected true or false",
        _ => {
            return match message.split_once(", set DuplicateKeyPolicy") {
                Some((head, _)) => head.to_string(),
                None => message,
            };
        }
    };
    replacement.to_string()
}

/// The key whose value starts at `position` (`max_steps` in `limits: { max_steps: many }`), so a
/// type error names what it is about. `None` when the value is not on the key's line.
fn key_before(text: &str, position: Position) -> Option<String> {
    let line = text
        .lines()
        .nth(usize::try_from(position.line).ok()?.checked_sub(1)?)?;
    let prefix: String = line
        .chars()
        .take(usize::try_from(position.col).ok()?.saturating_sub(1))
        .collect();
    let before_colon = prefix.trim_end().strip_suffix(':')?.trim_end();
    let key: String = before_colon
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    (!key.is_empty()).then_some(key)
}

/// Every entry directly in `dir` named like a workflow file, sorted by name. Entries that cannot
/// be workflows (a directory named `x.yaml`, a dangling symbolic link, a link loop) are listed
/// too, so that loading them reports each as an error instead of the workflow quietly dropping
/// out of the schedule. Editor lock files (`.#x.yaml`) are not workflows and are left out.
pub fn workflow_files(dir: &Path) -> Result<Vec<PathBuf>, WorkflowError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| WorkflowError::new(dir, WorkflowErrorKind::Read(e)))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| WorkflowError::new(dir, WorkflowErrorKind::Read(e)))?;
        let path = entry.path();
        let named_like_one = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| WORKFLOW_EXTENSIONS.contains(&e));
        let lock_file = entry.file_name().to_string_lossy().starts_with(".#");
        if named_like_one && !lock_file {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

/// Why a workflow path could not be read, in words for what it is rather than an OS error code.
fn unreadable(path: &Path, error: std::io::Error) -> WorkflowError {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let kind = if path.is_dir() {
        WorkflowErrorKind::Invalid("is a directory, not a workflow file".to_string())
    } else if is_link && error.kind() == std::io::ErrorKind::NotFound {
        let target = std::fs::read_link(path)
            .map(|t| t.display().to_string())
            .unwrap_or_default();
        WorkflowErrorKind::Invalid(format!(
            "dangling symbolic link: its target {target} does not exist"
        ))
    } else if is_link && std::fs::metadata(path).is_err() {
        WorkflowErrorKind::Invalid(format!(
            "symbolic link that cannot be followed (a link loop?): {error}"
        ))
    } else {
        WorkflowErrorKind::Read(error)
    };
    WorkflowError::new(path, kind)
}

/// The line and column just after `bytes` (valid UTF-8 up to there), 1-based.
fn position_after(bytes: &[u8]) -> Position {
    let text = String::from_utf8_lossy(bytes);
    let line = text.matches('\n').count() as u64 + 1;
    let last = text.rsplit('\n').next().unwrap_or_default();
    Position {
        line,
        col: last.chars().count() as u64 + 1,
    }
}

pub(crate) fn render_json(value: &Value, ctx: &Value) -> Result<Value, TemplateError> {
    Ok(match value {
        Value::String(s) => Template::parse(s)?.render_value(ctx)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_json(v, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| render_json(v, ctx).map(|v| (k.clone(), v)))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

/// Types `text` like `default`; the error names the expected type.
fn coerce(default: &Value, text: &str) -> Result<Value, &'static str> {
    match default {
        Value::String(_) => Ok(Value::String(text.to_string())),
        Value::Bool(_) => match text.trim() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err("a boolean (true or false)"),
        },
        Value::Number(_) => {
            let t = text.trim();
            if let Ok(i) = t.parse::<i64>() {
                Ok(Value::from(i))
            } else {
                t.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or("a number")
            }
        }
        Value::Array(_) => match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Array(_)) => Ok(v),
            _ => Err("a JSON array"),
        },
        Value::Object(_) => match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err("a JSON object"),
        },
        Value::Null => {
            Ok(serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.into())))
        }
    }
}
