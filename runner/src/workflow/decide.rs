//! Decide mode's part of a workflow: the run context, the per-item prefetch, the decision's id
//! checks and the actions that turn a decision into writes.
//!
//! In decide mode the runner makes every call: the reads the model needs (once per run under
//! `context:`, per item under `prefetch:`), then, from the model's one structured decision, the
//! writes the workflow's `actions:` spell out. The model holds no tool, so nothing a ticket says
//! can make it call one.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::template::{Template, TemplateError};

/// How the model works on an item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The model holds the allow-listed tools and loops until it answers.
    #[default]
    Agent,
    /// The runner fetches what the model needs (`context`, `prefetch`), the model answers one
    /// decision against `output.schema` with no tool, and `actions` turn it into writes.
    Decide,
}

/// What the runner knows how to build from several calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContextBuiltin {
    /// The org directory: enabled departments, their teams, the active agents and each agent's
    /// open-ticket count, from one listing of each (paged only when the org outgrows a page).
    /// The count is kept current as the run assigns tickets.
    Directory,
}

/// One entry of `context:`: a tool call (every page followed) or a built-in.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextFile {
    /// A read tool; its result (all pages of a list) becomes `context.<name>`.
    #[serde(default)]
    pub tool: Option<String>,
    /// Arguments; string values may be templates over `inputs` and `run`.
    #[serde(default)]
    pub args: Map<String, Value>,
    #[serde(default)]
    pub builtin: Option<ContextBuiltin>,
}

/// One read made for each item before the model is asked; its result is `prefetch.<name>`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrefetchFile {
    /// The variable name; several entries may share one, the first whose `when` holds is used.
    pub name: String,
    /// A read tool listed in `tools`.
    pub tool: String,
    /// Arguments; string values are templates over `item`, `inputs` and `run`.
    #[serde(default)]
    pub args: Map<String, Value>,
    /// All must hold for this read to be made.
    #[serde(default)]
    pub when: Vec<ConditionFile>,
    /// Keep only these fields of the result (of each element, for a list): what the model needs,
    /// not every field Zoho returns.
    #[serde(default)]
    pub fields: Vec<String>,
}

/// A test on a rendered template: `{ value: "{{ item.threadCount }}", at_most: 1 }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionFile {
    /// A template; compared as text (numbers as numbers for `at_most`).
    pub value: String,
    #[serde(default)]
    pub equals: Option<Value>,
    #[serde(default)]
    pub not_equals: Option<Value>,
    #[serde(default)]
    pub at_most: Option<f64>,
    #[serde(default)]
    pub at_least: Option<f64>,
}

/// A write (or read) the runner makes from the decision.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionFile {
    /// A tool listed in `tools`.
    pub tool: String,
    /// Arguments; string values are templates over `decision`, `chosen`, `item`, `context`,
    /// `prefetch`, `inputs` and `run`. A value that renders to null or "" is left out.
    #[serde(default)]
    pub args: Map<String, Value>,
    /// All must hold for this action to run.
    #[serde(default)]
    pub when: Vec<ConditionFile>,
}

/// How decide mode checks a decision.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideFile {
    /// The decision's ids that must exist in a `builtin: directory` context.
    #[serde(default)]
    pub ids: Option<DirectoryIdsFile>,
    /// The decision the runner substitutes when the model's stays invalid after one correction;
    /// the other properties of `output.schema` are null and `reason` says what went wrong.
    pub abstain: Map<String, Value>,
    /// The decision property whose value in `abstain` means "do not act" (default `decision`);
    /// ids are only required of decisions that act.
    #[serde(default)]
    pub abstain_field: Option<String>,
}

/// Which decision properties hold which kind of directory id.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectoryIdsFile {
    /// The name of the `builtin: directory` entry of `context`.
    pub context: String,
    pub department: String,
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub assignee: Option<String>,
}

/// A checked `context:` entry.
#[derive(Debug, Clone)]
pub enum ContextSource {
    Call {
        tool: String,
        args: Map<String, Value>,
    },
    Builtin(ContextBuiltin),
}

#[derive(Debug, Clone)]
pub struct Prefetch {
    pub name: String,
    pub tool: String,
    pub args: Map<String, Value>,
    pub when: Vec<Condition>,
    /// Empty: the whole result.
    pub fields: Vec<String>,
}

impl Prefetch {
    /// The result with only `fields` kept (in a list's elements, or under a `result` envelope).
    pub fn project(&self, value: Value) -> Value {
        if self.fields.is_empty() {
            return value;
        }
        let pick = |v: Value| match v {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .filter(|(k, _)| self.fields.contains(k))
                    .collect(),
            ),
            other => other,
        };
        match value {
            Value::Array(items) => Value::Array(items.into_iter().map(pick).collect()),
            Value::Object(mut map) if map.get("result").is_some_and(Value::is_array) => {
                match map.remove("result") {
                    Some(Value::Array(items)) => {
                        Value::Array(items.into_iter().map(pick).collect())
                    }
                    _ => Value::Null,
                }
            }
            other => pick(other),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Condition {
    pub value: Template,
    pub equals: Option<Template>,
    pub not_equals: Option<Template>,
    pub at_most: Option<f64>,
    pub at_least: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Action {
    pub tool: String,
    pub args: Map<String, Value>,
    pub when: Vec<Condition>,
}

#[derive(Debug, Clone)]
pub struct DirectoryIds {
    pub context: String,
    pub department: String,
    pub team: Option<String>,
    pub assignee: Option<String>,
}

/// Decide mode's settings, checked.
#[derive(Debug, Clone, Default)]
pub struct DecideSettings {
    pub context: BTreeMap<String, ContextSource>,
    pub prefetch: Vec<Prefetch>,
    pub actions: Vec<Action>,
    pub ids: Option<DirectoryIds>,
    pub abstain: Map<String, Value>,
    pub abstain_field: String,
}

impl Condition {
    /// Whether the condition holds in `ctx`.
    /// A value that is not there (a field Zoho left out) reads as null, so `equals: ""` can
    /// test for it.
    pub fn holds(&self, ctx: &Value) -> Result<bool, TemplateError> {
        let value = match self.value.render_value(ctx) {
            Err(TemplateError::Missing { .. }) => Value::Null,
            other => other?,
        };
        let text = as_text(&value);
        if let Some(equals) = &self.equals
            && text != as_text(&equals.render_value(ctx)?)
        {
            return Ok(false);
        }
        if let Some(not_equals) = &self.not_equals
            && text == as_text(&not_equals.render_value(ctx)?)
        {
            return Ok(false);
        }
        let number = match &value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        if let Some(max) = self.at_most
            && number.is_none_or(|n| n > max)
        {
            return Ok(false);
        }
        if let Some(min) = self.at_least
            && number.is_none_or(|n| n < min)
        {
            return Ok(false);
        }
        Ok(true)
    }
}

/// A value as text for comparisons: strings raw, null as "", the rest as JSON.
pub fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Every condition of `conditions` holds.
pub fn all_hold(conditions: &[Condition], ctx: &Value) -> Result<bool, TemplateError> {
    for c in conditions {
        if !c.holds(ctx)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The template roots each part of decide mode may name.
pub(super) const PREFETCH_ROOTS: [&str; 5] = ["item", "inputs", "run", "context", "prefetch"];
pub(super) const ACTION_ROOTS: [&str; 7] = [
    "item", "inputs", "run", "context", "prefetch", "decision", "chosen",
];

/// Parses every template in `value`, and checks each names only `roots`.
pub(super) fn check_templates(value: &Value, roots: &[&str]) -> Result<(), String> {
    match value {
        Value::String(s) => check_template(s, roots).map(|_| ()),
        Value::Array(items) => items.iter().try_for_each(|v| check_templates(v, roots)),
        Value::Object(map) => map.values().try_for_each(|v| check_templates(v, roots)),
        _ => Ok(()),
    }
}

pub(super) fn check_template(text: &str, roots: &[&str]) -> Result<Template, String> {
    let template = Template::parse(text).map_err(|e| format!("template \"{text}\": {e}"))?;
    for p in template.placeholders() {
        if !roots.contains(&p.path[0].as_str()) {
            return Err(format!(
                "unknown variable `{}` in \"{text}\" (variables here start with {})",
                p.name(),
                roots
                    .iter()
                    .map(|r| format!("`{r}.`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(template)
}

pub(super) fn check_conditions(
    conditions: &[ConditionFile],
    roots: &[&str],
) -> Result<Vec<Condition>, String> {
    conditions
        .iter()
        .map(|c| {
            let literal = |v: &Value| check_template(&as_text(v), roots);
            Ok(Condition {
                value: check_template(&c.value, roots)?,
                equals: c.equals.as_ref().map(literal).transpose()?,
                not_equals: c.not_equals.as_ref().map(literal).transpose()?,
                at_most: c.at_most,
                at_least: c.at_least,
            })
        })
        .collect()
}

/// Checks the decide-mode fields of `file`. The error is (field, message).
pub(super) fn build(
    file: &super::file::WorkflowFile,
    tools: &[String],
    mode: Mode,
    output_schema: Option<&Value>,
) -> Result<DecideSettings, (String, String)> {
    let err = |field: &str, message: String| (field.to_owned(), message);
    let mut settings = DecideSettings {
        abstain_field: "decision".into(),
        ..DecideSettings::default()
    };
    for (name, entry) in &file.context {
        let field = format!("context.{name}");
        if !is_name(name) {
            return Err(err(
                &field,
                "context names may contain only ASCII letters, digits, `_` and `-`".into(),
            ));
        }
        let source = match (&entry.tool, entry.builtin) {
            (Some(tool), None) => {
                check_templates(&Value::Object(entry.args.clone()), &["inputs", "run"])
                    .map_err(|m| err(&field, m))?;
                ContextSource::Call {
                    tool: tool.clone(),
                    args: entry.args.clone(),
                }
            }
            (None, Some(builtin)) if entry.args.is_empty() => ContextSource::Builtin(builtin),
            (None, Some(_)) => return Err(err(&field, "a builtin takes no `args`".into())),
            _ => {
                return Err(err(
                    &field,
                    "give either `tool` (with optional `args`) or `builtin`".into(),
                ));
            }
        };
        settings.context.insert(name.clone(), source);
    }
    let in_tools = |field: &str, tool: &str| {
        if tools.iter().any(|t| t == tool) {
            Ok(())
        } else {
            Err(err(
                field,
                format!("`{tool}` is not in `tools`; the runner calls only tools listed there"),
            ))
        }
    };
    let decide_only = |field: &str, present: bool| {
        if present && mode != Mode::Decide {
            Err(err(field, "applies only with `mode: decide`".into()))
        } else {
            Ok(())
        }
    };
    decide_only("prefetch", !file.prefetch.is_empty())?;
    decide_only("actions", !file.actions.is_empty())?;
    decide_only("decide", file.decide.is_some())?;
    let mut prefetch_roots: Vec<&str> = PREFETCH_ROOTS.to_vec();
    if file.context.is_empty() {
        prefetch_roots.retain(|r| *r != "context");
    }
    for (i, p) in file.prefetch.iter().enumerate() {
        let field = format!("prefetch[{i}]");
        if !is_name(&p.name) {
            return Err(err(
                &field,
                "prefetch names may contain only ASCII letters, digits, `_` and `-`".into(),
            ));
        }
        in_tools(&field, &p.tool)?;
        check_templates(&Value::Object(p.args.clone()), &prefetch_roots)
            .map_err(|m| err(&field, m))?;
        settings.prefetch.push(Prefetch {
            name: p.name.clone(),
            tool: p.tool.clone(),
            args: p.args.clone(),
            when: check_conditions(&p.when, &prefetch_roots).map_err(|m| err(&field, m))?,
            fields: p.fields.clone(),
        });
    }
    for (i, a) in file.actions.iter().enumerate() {
        let field = format!("actions[{i}]");
        in_tools(&field, &a.tool)?;
        check_templates(&Value::Object(a.args.clone()), &ACTION_ROOTS)
            .map_err(|m| err(&field, m))?;
        settings.actions.push(Action {
            tool: a.tool.clone(),
            args: a.args.clone(),
            when: check_conditions(&a.when, &ACTION_ROOTS).map_err(|m| err(&field, m))?,
        });
    }
    if mode == Mode::Decide {
        if file.for_each.is_none() {
            return Err(err(
                "mode",
                "decide mode works on items: add a `for_each`".into(),
            ));
        }
        let Some(schema) = output_schema else {
            return Err(err(
                "mode",
                "decide mode needs `output.schema`: the decision is checked against it".into(),
            ));
        };
        let Some(decide) = &file.decide else {
            return Err(err(
                "decide",
                "decide mode needs a `decide` block with at least `abstain` (what the runner decides when the model's decision stays invalid)".into(),
            ));
        };
        let properties = schema.get("properties").and_then(Value::as_object);
        let known = |field: &str, name: &str| match properties {
            Some(p) if !p.contains_key(name) => Err(err(
                field,
                format!("`{name}` is not a property of `output.schema`"),
            )),
            _ => Ok(()),
        };
        settings.abstain_field = decide
            .abstain_field
            .clone()
            .unwrap_or_else(|| "decision".into());
        known("decide.abstain_field", &settings.abstain_field)?;
        if !decide.abstain.contains_key(&settings.abstain_field) {
            return Err(err(
                "decide.abstain",
                format!(
                    "must set `{}`, the property that says the decision does not act",
                    settings.abstain_field
                ),
            ));
        }
        for key in decide.abstain.keys() {
            known("decide.abstain", key)?;
        }
        settings.abstain = decide.abstain.clone();
        if let Some(ids) = &decide.ids {
            match file.context.get(&ids.context) {
                Some(c) if c.builtin == Some(ContextBuiltin::Directory) => {}
                _ => {
                    return Err(err(
                        "decide.ids.context",
                        format!(
                            "`{}` is not a `builtin: directory` entry of `context`",
                            ids.context
                        ),
                    ));
                }
            }
            known("decide.ids.department", &ids.department)?;
            for name in [&ids.team, &ids.assignee].into_iter().flatten() {
                known("decide.ids", name)?;
            }
            settings.ids = Some(DirectoryIds {
                context: ids.context.clone(),
                department: ids.department.clone(),
                team: ids.team.clone(),
                assignee: ids.assignee.clone(),
            });
        }
    }
    Ok(settings)
}

fn is_name(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
