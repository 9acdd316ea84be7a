//! From [`WorkflowFile`] to [`Workflow`]: every rule the YAML shape alone cannot express. The first
//! broken rule is the error, pointing at the value that breaks it.

use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use super::file::{ForEachFile, LimitsFile, McpFile, ModelFile, WorkflowFile};
use super::{
    ForEach, Limits, MAX_ITEM_TIMEOUT, McpConnection, ModelSettings, Position, PromptFile,
    Provider, RunInfo, Schedule, ToolCondition, ToolDirectory, Workflow, WorkflowError,
    WorkflowErrorKind, format_duration, nearest_names, parse_duration,
};
use crate::template::{Placeholder, Template, TemplateError};
use crate::workflow::model::AzureSettings;

/// Items per run when `for_each.max_items` is not given.
const DEFAULT_MAX_ITEMS: u32 = 100;

fn pos<T>(s: &Spanned<T>) -> Option<Position> {
    Position::from_location(s.referenced)
}

struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
    /// Template roots prompts may name beyond `item`, `inputs` and `run` (`context`, `prefetch`),
    /// each with the names declared under it.
    prompt_roots: Vec<(&'static str, Vec<String>)>,
}

impl Checker<'_> {
    fn err(&self, field: &str, at: Option<Position>, kind: WorkflowErrorKind) -> WorkflowError {
        WorkflowError::new(self.path, kind).at(at).field(field)
    }

    fn invalid(
        &self,
        field: &str,
        at: Option<Position>,
        message: impl Into<String>,
    ) -> WorkflowError {
        self.err(field, at, WorkflowErrorKind::Invalid(message.into()))
    }
}

pub(super) fn build(
    path: &Path,
    text: &str,
    file: WorkflowFile,
    directory: &dyn ToolDirectory,
) -> Result<Workflow, WorkflowError> {
    let mut prompt_roots = Vec::new();
    if !file.context.is_empty() {
        prompt_roots.push(("context", file.context.keys().cloned().collect()));
    }
    if !file.prefetch.is_empty() {
        prompt_roots.push((
            "prefetch",
            file.prefetch.iter().map(|p| p.name.clone()).collect(),
        ));
    }
    let c = Checker {
        path,
        text,
        prompt_roots,
    };

    if file.version.value != 1 {
        return Err(c.invalid(
            "version",
            pos(&file.version),
            format!(
                "unsupported version {} (this deskhand reads version 1)",
                file.version.value
            ),
        ));
    }

    let name = &file.name.value;
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-');
    if !name_ok {
        return Err(c.invalid(
            "name",
            pos(&file.name),
            format!("invalid name \"{name}\" (use 1 to 64 lowercase letters, digits and `-`)"),
        ));
    }

    if file.description.trim().is_empty() {
        return Err(c.invalid(
            "description",
            find_key(text, "description"),
            "must not be empty",
        ));
    }

    let schedule = match &file.schedule {
        None => None,
        Some(s) => Some(Schedule::parse(&s.value).map_err(|message| {
            c.err(
                "schedule",
                pos(s),
                WorkflowErrorKind::Cron {
                    expression: s.value.clone(),
                    message,
                },
            )
        })?),
    };

    let timezone = match &file.timezone {
        None => chrono_tz::UTC,
        Some(tz) => tz.value.parse::<chrono_tz::Tz>().map_err(|_| {
            c.err(
                "timezone",
                pos(tz),
                WorkflowErrorKind::Timezone(tz.value.clone()),
            )
        })?,
    };

    let model = file
        .model
        .as_ref()
        .map(|m| check_model(&c, m))
        .transpose()?;
    let mcp = match &file.mcp {
        None => McpConnection::Embedded,
        Some(m) => check_mcp(&c, m)?,
    };
    let connection = file
        .connection
        .as_ref()
        .map(|conn| check_connection(&c, conn, &mcp))
        .transpose()?;

    // Remote servers may offer other tools than the embedded catalog; their names are checked
    // when a live listing is available, not here.
    let tools_verified = mcp.is_embedded();
    let known = if tools_verified {
        directory.tool_names()
    } else {
        Vec::new()
    };
    let check_tool = |field: &str, tool: &Spanned<String>| -> Result<(), WorkflowError> {
        if tools_verified && !known.contains(&tool.value) {
            return Err(c.err(
                field,
                pos(tool),
                WorkflowErrorKind::UnknownTool {
                    name: tool.value.clone(),
                    suggestions: nearest_names(&tool.value, &known),
                },
            ));
        }
        Ok(())
    };

    let mut tools: Vec<String> = Vec::with_capacity(file.tools.len());
    for tool in &file.tools {
        check_tool("tools", tool)?;
        if tools.contains(&tool.value) {
            return Err(c.invalid(
                "tools",
                pos(tool),
                format!("`{}` is listed twice", tool.value),
            ));
        }
        tools.push(tool.value.clone());
    }

    let mut tools_when = Vec::with_capacity(file.tools_when.len());
    for (tool, when) in &file.tools_when {
        let field = format!("tools_when.{tool}");
        if !tools.contains(tool) {
            return Err(c.invalid(
                &field,
                find_key(text, tool),
                format!("`{tool}` is not in `tools`; list it there too"),
            ));
        }
        if !file.inputs.contains_key(&when.input) {
            return Err(c.invalid(
                &format!("{field}.input"),
                find_key(text, tool),
                format!("`{}` is not an input of this workflow", when.input),
            ));
        }
        if let Some(choices) = file.input_choices.get(&when.input)
            && !choices.contains(&when.equals)
        {
            return Err(c.invalid(
                &format!("{field}.equals"),
                find_key(text, tool),
                format!(
                    "{} is not one of `input_choices.{}`, so the tool would never be offered",
                    when.equals, when.input
                ),
            ));
        }
        tools_when.push(ToolCondition {
            tool: tool.clone(),
            input: when.input.clone(),
            equals: when.equals.clone(),
        });
    }

    for (key, choices) in &file.input_choices {
        let field = format!("input_choices.{key}");
        // The key also names its input under `inputs:`; point at the section instead.
        let at = find_key(text, "input_choices");
        let Some(default) = file.inputs.get(key) else {
            return Err(c.invalid(
                &field,
                at,
                format!("`{key}` is not an input of this workflow"),
            ));
        };
        if choices.is_empty() {
            return Err(c.invalid(&field, at, "lists no value"));
        }
        if !choices.contains(default) {
            return Err(c.invalid(
                &field,
                at,
                format!("the default of `inputs.{key}`, {default}, is not one of them"),
            ));
        }
    }

    for key in file.inputs.keys() {
        if !is_variable_name(key) {
            return Err(c.invalid(
                &format!("inputs.{key}"),
                find_key(text, key),
                "input names may contain only ASCII letters, digits, `_` and `-` (templates refer to them as inputs.<name>)",
            ));
        }
    }

    let for_each = match &file.for_each {
        None => None,
        Some(f) => {
            check_tool("for_each.tool", &f.tool)?;
            Some(check_for_each(
                &c,
                f,
                &file.inputs,
                directory,
                tools_verified,
            )?)
        }
    };

    let allow_item = for_each.is_some();
    let prompt = load_prompt(&c, "prompt", &file.prompt, allow_item, &file.inputs)?;
    let system_prompt = file
        .system_prompt
        .as_ref()
        .map(|p| load_prompt(&c, "system_prompt", p, allow_item, &file.inputs))
        .transpose()?;

    let limits = match &file.limits {
        None => Limits::default(),
        Some(l) => check_limits(&c, l)?,
    };

    let output_schema = match &file.output {
        None => None,
        Some(o) => {
            let schema = &o.schema.value;
            let type_ok = match schema.get("type") {
                None | Some(Value::String(_)) => true,
                Some(Value::Array(types)) => types.iter().all(Value::is_string),
                Some(_) => false,
            };
            if !schema.is_object() || !type_ok {
                return Err(c.invalid(
                    "output.schema",
                    pos(&o.schema),
                    "must be a JSON Schema object (e.g. { type: object, properties: {...} })",
                ));
            }
            Some(schema.clone())
        }
    };

    let mode = file.mode.unwrap_or_default();
    let decide = super::decide::build(&file, &tools, mode, output_schema.as_ref()).map_err(
        |(field, message)| {
            let key = field.split(['.', '[']).next().unwrap_or(&field);
            c.invalid(&field, find_key(text, key), message)
        },
    )?;

    Ok(Workflow {
        mode,
        decide,
        source: path.to_path_buf(),
        name: name.clone(),
        description: file.description.clone(),
        schedule,
        timezone,
        overlap: file.overlap.unwrap_or_default(),
        catch_up: file.catch_up.unwrap_or_default(),
        model,
        mcp,
        connection,
        tools,
        tools_when,
        tools_verified,
        for_each,
        prompt,
        system_prompt,
        inputs: file.inputs,
        input_choices: file.input_choices,
        writes: file.writes.unwrap_or_default(),
        notify: file.notify.clone(),
        baseline: file.baseline,
        limits,
        output_schema,
        name_position: pos(&file.name),
        connection_position: file.connection.as_ref().and_then(pos),
    })
}

fn is_variable_name(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_')
        && chars.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

fn check_model(
    c: &Checker<'_>,
    spanned: &Spanned<ModelFile>,
) -> Result<ModelSettings, WorkflowError> {
    let m = &spanned.value;
    let at = pos(spanned);
    let provider = m.provider;
    let needs_name = matches!(provider, Provider::Openai | Provider::OpenaiCompatible);
    if needs_name && m.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(c.invalid("model.name", at, "required for this provider"));
    }
    match (provider, &m.azure) {
        (Provider::Azure, None) => {
            return Err(c.invalid(
                "model.azure",
                at,
                "the azure provider needs `azure: { deployment, api_version }`",
            ));
        }
        (Provider::Azure, Some(_)) | (_, None) => {}
        (_, Some(_)) => {
            return Err(c.invalid("model.azure", at, "only for `provider: azure`"));
        }
    }
    if m.base_url.is_some() && matches!(provider, Provider::Azure | Provider::Baseline) {
        return Err(c.invalid(
            "model.base_url",
            at,
            "only for the openai and openai_compatible providers",
        ));
    }
    if let Some(base_url) = &m.base_url {
        check_http_url(base_url).map_err(|msg| c.invalid("model.base_url", at, msg))?;
    }
    if let Some(env) = &m.api_key_env
        && !is_env_name(env)
    {
        return Err(c.invalid(
            "model.api_key_env",
            at,
            format!("\"{}\" is not an environment variable name; put the key in an environment variable and name the variable here", redact(env)),
        ));
    }
    if let Some(t) = m.temperature
        && !(0.0..=2.0).contains(&t)
    {
        return Err(c.invalid("model.temperature", at, format!("{t} is outside 0..=2")));
    }
    if m.max_completion_tokens == Some(0) {
        return Err(c.invalid("model.max_completion_tokens", at, "must be at least 1"));
    }
    Ok(ModelSettings {
        provider,
        name: m.name.clone(),
        temperature: m.temperature,
        base_url: m.base_url.clone(),
        api_key_env: m.api_key_env.clone(),
        azure: m.azure.as_ref().map(|a| AzureSettings {
            deployment: a.deployment.clone(),
            api_version: a.api_version.clone(),
        }),
        max_completion_tokens: m.max_completion_tokens,
        tool_choice_required: m.tool_choice_required.unwrap_or(false),
        structured_output: m.structured_output.unwrap_or(true),
    })
}

/// Something that is not an environment variable name may be the secret itself: never echo it.
fn redact(value: &str) -> String {
    let shown: String = value.chars().take(4).collect();
    if value.chars().count() > 4 {
        format!("{shown}…")
    } else {
        shown
    }
}

fn check_http_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("invalid URL \"{text}\": {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("URL \"{text}\" must be http or https"));
    }
    Ok(())
}

/// A connection name is only checked for its form here; whether the connections file defines it
/// is a question about the machine, asked by `deskhand validate`, `doctor` and the commands that
/// connect.
fn check_connection(
    c: &Checker<'_>,
    spanned: &Spanned<String>,
    mcp: &McpConnection,
) -> Result<String, WorkflowError> {
    let at = pos(spanned);
    let name = spanned.value.trim();
    if !mcp.is_embedded() {
        return Err(c.invalid(
            "connection",
            at,
            "names a Zoho connection of the embedded MCP server, but this workflow reaches Zoho through its own `mcp:` server, which brings its own credentials; remove `connection:` or use `mcp: embedded`",
        ));
    }
    if !zoho_desk_mcp::zoho::connections::valid_name(name) {
        return Err(c.invalid(
            "connection",
            at,
            format!(
                "\"{name}\" is not a connection name (letters, digits, `-` and `_`, as `deskhand connect --name` saves them)"
            ),
        ));
    }
    Ok(name.to_owned())
}

fn check_mcp(c: &Checker<'_>, spanned: &Spanned<McpFile>) -> Result<McpConnection, WorkflowError> {
    let at = pos(spanned);
    Ok(match &spanned.value {
        McpFile::Embedded(_) => McpConnection::Embedded,
        McpFile::Url(u) => {
            // The URL may carry a server token; the message must not repeat it.
            if url::Url::parse(&u.url)
                .ok()
                .is_none_or(|url| !matches!(url.scheme(), "http" | "https"))
            {
                return Err(c.invalid("mcp.url", at, "must be an http or https URL"));
            }
            if let Some(env) = &u.bearer_token_env
                && !is_env_name(env)
            {
                return Err(c.invalid(
                    "mcp.bearer_token_env",
                    at,
                    format!("\"{}\" is not an environment variable name", redact(env)),
                ));
            }
            McpConnection::Url {
                url: u.url.clone(),
                bearer_token_env: u.bearer_token_env.clone(),
            }
        }
        McpFile::Command(cmd) => {
            if cmd.command.first().is_none_or(|p| p.trim().is_empty()) {
                return Err(c.invalid(
                    "mcp.command",
                    at,
                    "must name the program to start, e.g. [deskhand, mcp, serve, --stdio]",
                ));
            }
            McpConnection::Command {
                command: cmd.command.clone(),
                env: cmd.env.clone(),
            }
        }
    })
}

fn check_for_each(
    c: &Checker<'_>,
    f: &ForEachFile,
    inputs: &Map<String, Value>,
    directory: &dyn ToolDirectory,
    tools_verified: bool,
) -> Result<ForEach, WorkflowError> {
    let tool = &f.tool.value;
    for (key, value) in &f.args {
        let field = format!("for_each.args.{key}");
        check_arg_templates(&value.value, inputs)
            .map_err(|(kind, _)| c.err(&field, pos(value), kind))?;
    }
    if tools_verified && let Some(schema) = directory.input_schema(tool) {
        let properties = schema.get("properties").and_then(Value::as_object);
        let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
        if let (Some(properties), true) = (properties, closed) {
            for (key, value) in &f.args {
                if !properties.contains_key(key) {
                    let allowed: Vec<&str> = properties.keys().map(String::as_str).collect();
                    return Err(c.invalid(
                        &format!("for_each.args.{key}"),
                        pos(value).or_else(|| find_key(c.text, key)),
                        format!(
                            "`{tool}` has no argument `{key}` (allowed: {})",
                            allowed.join(", ")
                        ),
                    ));
                }
            }
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for key in required.iter().filter_map(Value::as_str) {
                if !f.args.contains_key(key) {
                    return Err(c.invalid(
                        "for_each.args",
                        pos(&f.tool),
                        format!("`{tool}` requires the argument `{key}`"),
                    ));
                }
            }
        }
    }
    let max_items = match &f.max_items {
        None => DEFAULT_MAX_ITEMS,
        Some(m) if m.value == 0 => {
            return Err(c.invalid("for_each.max_items", pos(m), "must be at least 1"));
        }
        Some(m) => m.value,
    };
    let id_field = f.id_field.clone().unwrap_or_else(|| "id".to_string());
    if id_field.trim().is_empty() {
        return Err(c.invalid(
            "for_each.id_field",
            find_key(c.text, "id_field"),
            "must not be empty",
        ));
    }
    Ok(ForEach {
        tool: tool.clone(),
        args: f
            .args
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect(),
        max_items,
        id_field,
        fingerprint: f.fingerprint.clone().unwrap_or_default(),
    })
}

/// Every string inside an argument value must be a template over `inputs` and `run` only: the
/// arguments are rendered once per run, before there are items.
fn check_arg_templates(
    value: &Value,
    inputs: &Map<String, Value>,
) -> Result<(), (WorkflowErrorKind, Option<Placeholder>)> {
    match value {
        Value::String(s) => {
            let template =
                Template::parse(s).map_err(|e| (WorkflowErrorKind::Template(e), None))?;
            check_placeholders(&template, false, true, inputs, &[])
                .map_err(|(p, kind)| (kind, Some(p)))
        }
        Value::Array(items) => items
            .iter()
            .try_for_each(|v| check_arg_templates(v, inputs)),
        Value::Object(map) => map
            .values()
            .try_for_each(|v| check_arg_templates(v, inputs)),
        _ => Ok(()),
    }
}

/// The variables a template names must exist when it is rendered: `item` only with `for_each`,
/// `inputs.<key>` only for declared inputs, `run.<key>` only for [`RunInfo::VARIABLES`].
fn check_placeholders(
    template: &Template,
    allow_item: bool,
    in_args: bool,
    inputs: &Map<String, Value>,
    extra_roots: &[(&str, Vec<String>)],
) -> Result<(), (Placeholder, WorkflowErrorKind)> {
    for p in template.placeholders() {
        let unknown = |hint: String| {
            Err((
                p.clone(),
                WorkflowErrorKind::UnknownVariable {
                    name: p.name(),
                    hint,
                },
            ))
        };
        match p.path[0].as_str() {
            "item" if !allow_item => {
                return unknown(if in_args {
                    "for_each.args are rendered before there are items".to_string()
                } else {
                    "there is no item without `for_each`".to_string()
                });
            }
            "item" => {}
            "inputs" => {
                if let Some(key) = p.path.get(1)
                    && !inputs.contains_key(key)
                {
                    return unknown(if inputs.is_empty() {
                        "the workflow declares no inputs".to_string()
                    } else {
                        format!(
                            "known inputs: {}",
                            inputs.keys().cloned().collect::<Vec<_>>().join(", ")
                        )
                    });
                }
            }
            "run" => {
                if let Some(key) = p.path.get(1)
                    && !RunInfo::VARIABLES.contains(&key.as_str())
                {
                    return unknown(format!("run variables: {}", RunInfo::VARIABLES.join(", ")));
                }
            }
            root if extra_roots.iter().any(|(r, _)| *r == root) => {
                let names = extra_roots
                    .iter()
                    .find(|(r, _)| *r == root)
                    .map(|(_, n)| n.as_slice())
                    .unwrap_or_default();
                if let Some(name) = p.path.get(1)
                    && !names.contains(name)
                {
                    return unknown(format!(
                        "the workflow's {root} declares: {}",
                        names.join(", ")
                    ));
                }
            }
            _ => {
                return unknown(if extra_roots.is_empty() {
                    "variables start with `item.`, `inputs.` or `run.`".to_string()
                } else {
                    format!(
                        "variables start with `item.`, `inputs.`, `run.`{}",
                        extra_roots
                            .iter()
                            .map(|(r, _)| format!(", `{r}.`"))
                            .collect::<String>()
                    )
                });
            }
        }
    }
    Ok(())
}

fn load_prompt(
    c: &Checker<'_>,
    field: &str,
    raw: &Spanned<String>,
    allow_item: bool,
    inputs: &Map<String, Value>,
) -> Result<PromptFile, WorkflowError> {
    let base = c.path.parent().unwrap_or(Path::new(""));
    let joined = base.join(&raw.value);
    // Shown in messages: relative to where the user is, without `workflows/../`.
    let shown = normalize(&joined);
    if raw.value.trim().is_empty() || !joined.is_file() {
        return Err(c.err(field, pos(raw), WorkflowErrorKind::MissingFile(shown)));
    }
    if let Some(message) = super::prompt_roots::outside(base, &joined) {
        return Err(c.invalid(field, pos(raw), message));
    }
    let text = std::fs::read_to_string(&joined)
        .map_err(|e| WorkflowError::new(&shown, WorkflowErrorKind::Read(e)).field(field))?;
    let at_template = |e: TemplateError| {
        let (line, col) = e.position();
        WorkflowError::new(&shown, WorkflowErrorKind::Template(e))
            .at(Some(Position {
                line: line as u64,
                col: col as u64,
            }))
            .field(field)
    };
    let template = Template::parse(&text).map_err(at_template)?;
    check_placeholders(&template, allow_item, false, inputs, &c.prompt_roots).map_err(
        |(p, kind)| {
            WorkflowError::new(&shown, kind)
                .at(Some(Position {
                    line: p.line as u64,
                    col: p.col as u64,
                }))
                .field(field)
        },
    )?;
    let path = std::fs::canonicalize(&joined)
        .unwrap_or_else(|_| std::path::absolute(&joined).unwrap_or(joined.clone()));
    Ok(PromptFile { path, template })
}

fn check_limits(c: &Checker<'_>, l: &LimitsFile) -> Result<Limits, WorkflowError> {
    let defaults = Limits::default();
    let at_least_one = |field: &str, v: &Option<Spanned<u32>>, default: u32| match v {
        None => Ok(default),
        Some(s) if s.value == 0 => Err(c.invalid(field, pos(s), "must be at least 1")),
        Some(s) => Ok(s.value),
    };
    let item_timeout = match &l.item_timeout {
        None => defaults.item_timeout,
        Some(s) => {
            let timeout = parse_duration(&s.value).ok_or_else(|| {
                c.err(
                    "limits.item_timeout",
                    pos(s),
                    WorkflowErrorKind::Duration(s.value.clone()),
                )
            })?;
            if timeout > MAX_ITEM_TIMEOUT {
                return Err(c.invalid(
                    "limits.item_timeout",
                    pos(s),
                    format!(
                        "{} is longer than the longest item budget, {}",
                        s.value.trim(),
                        format_duration(MAX_ITEM_TIMEOUT)
                    ),
                ));
            }
            timeout
        }
    };
    let token_budget = match &l.token_budget {
        Some(s) if s.value == 0 => {
            return Err(c.invalid("limits.token_budget", pos(s), "must be at least 1"));
        }
        other => other.as_ref().map(|s| s.value),
    };
    Ok(Limits {
        max_steps: at_least_one("limits.max_steps", &l.max_steps, defaults.max_steps)?,
        item_timeout,
        concurrency: at_least_one("limits.concurrency", &l.concurrency, defaults.concurrency)?,
        token_budget,
        max_attempts: at_least_one(
            "limits.max_attempts",
            &l.max_attempts,
            defaults.max_attempts,
        )?,
    })
}

/// Removes `.` and resolves `..` against the preceding component, without touching the disk (the
/// result is only shown to people; the file itself is opened by its joined path).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Fallback for values without a span: the first `key:` in the text that looks like a mapping
/// key (at the start of a line or after `{`/`,` in a flow map).
pub(super) fn find_key(text: &str, key: &str) -> Option<Position> {
    let needle = format!("{key}:");
    for (i, line) in text.lines().enumerate() {
        let mut from = 0;
        while let Some(found) = line[from..].find(&needle) {
            let at = from + found;
            let before = line[..at].trim_end();
            if before.is_empty()
                || before.ends_with('{')
                || before.ends_with(',')
                || before.ends_with('-')
            {
                return Some(Position {
                    line: i as u64 + 1,
                    col: line[..at].chars().count() as u64 + 1,
                });
            }
            from = at + needle.len();
        }
    }
    None
}
