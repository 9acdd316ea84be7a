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
    /// A list (a template naming an earlier read, `"{{ prefetch.suggestions }}"`): the read is
    /// made once per element, with the element as `each` in `args`, and its result is the list
    /// of the answers. A value that is not a list reads as empty.
    #[serde(default)]
    pub each: Option<String>,
    /// With `each`: only the first N elements (default every element, at most 20).
    #[serde(default)]
    pub first: Option<u32>,
    /// Cut every text value of the result (after `fields`) to this many characters, so a long
    /// article or description cannot blow up the prompt.
    #[serde(default)]
    pub max_chars: Option<u32>,
    /// `run`: a read with the same tool and arguments is made once per run and shared by its
    /// items (a department's reply addresses, asked for by every ticket of that department).
    #[serde(default)]
    pub cache: Option<PrefetchCache>,
    /// A failed read leaves the value null instead of failing the item (a read the decision can
    /// do without, such as one needing a scope the connection may lack).
    #[serde(default)]
    pub optional: bool,
}

/// How long a prefetch result is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrefetchCache {
    /// For the rest of the run.
    Run,
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
    /// Decision properties whose ids must be among those of a list the runner read
    /// (`{ field: articleIds, in: "{{ prefetch.articles }}", key: id }`): the model may cite only
    /// what it was given.
    #[serde(default)]
    pub known_ids: Vec<KnownIdsFile>,
    /// Decision properties a decision that acts must fill (not null, "" or []).
    #[serde(default)]
    pub required_to_act: Vec<String>,
}

/// A decision property (a string or a list of strings) checked against a list the runner read.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KnownIdsFile {
    /// The decision property.
    pub field: String,
    /// A template naming the list: `"{{ prefetch.articles }}"` or `"{{ context.<name> }}"`.
    #[serde(rename = "in")]
    pub list: String,
    /// The property of each list element that holds its id.
    #[serde(default = "default_key")]
    pub key: String,
}

fn default_key() -> String {
    "id".into()
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
    /// The list the read is repeated over, and how many of its elements.
    pub each: Option<(Template, usize)>,
    pub max_chars: Option<usize>,
    /// Shared by the run's items.
    pub cache_run: bool,
    pub optional: bool,
}

/// Elements a prefetch `each` reads at most.
pub const MAX_EACH: usize = 20;

#[derive(Debug, Clone)]
pub struct KnownIds {
    pub field: String,
    pub list: Template,
    pub key: String,
}

impl Prefetch {
    /// The result with only `fields` kept (in a list's elements, or under a `result` envelope),
    /// and its texts cut to `max_chars`.
    pub fn project(&self, value: Value) -> Value {
        let value = self.pick_fields(value);
        match self.max_chars {
            Some(max) => cut_texts(value, max),
            None => value,
        }
    }

    fn pick_fields(&self, value: Value) -> Value {
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

/// Every string in `value` longer than `max` characters, cut at `max` with a marker.
fn cut_texts(value: Value, max: usize) -> Value {
    match value {
        Value::String(s) if s.chars().count() > max => {
            let mut cut: String = s.chars().take(max).collect();
            cut.push_str(" [...]");
            Value::String(cut)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(|v| cut_texts(v, max)).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, cut_texts(v, max)))
                .collect(),
        ),
        other => other,
    }
}

/// The elements of a list result: the list itself, or the list under a `result` or `data`
/// envelope; anything else is empty.
pub fn list_elements(value: &Value) -> &[Value] {
    value
        .as_array()
        .or_else(|| {
            value
                .get("result")
                .or_else(|| value.get("data"))
                .and_then(Value::as_array)
        })
        .map(Vec::as_slice)
        .unwrap_or_default()
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
    pub known_ids: Vec<KnownIds>,
    pub required_to_act: Vec<String>,
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
        let each = match &p.each {
            Some(list) => {
                let template = check_template(list, &prefetch_roots).map_err(|m| err(&field, m))?;
                let first = p.first.map_or(MAX_EACH, |n| n as usize);
                if first == 0 || first > MAX_EACH {
                    return Err(err(
                        &field,
                        format!("`first` must be between 1 and {MAX_EACH}"),
                    ));
                }
                Some((template, first))
            }
            None if p.first.is_some() => {
                return Err(err(&field, "`first` applies only with `each`".into()));
            }
            None => None,
        };
        let mut arg_roots = prefetch_roots.clone();
        if each.is_some() {
            arg_roots.push("each");
        }
        check_templates(&Value::Object(p.args.clone()), &arg_roots).map_err(|m| err(&field, m))?;
        if p.max_chars == Some(0) {
            return Err(err(&field, "`max_chars` must be at least 1".into()));
        }
        settings.prefetch.push(Prefetch {
            name: p.name.clone(),
            tool: p.tool.clone(),
            args: p.args.clone(),
            when: check_conditions(&p.when, &prefetch_roots).map_err(|m| err(&field, m))?,
            fields: p.fields.clone(),
            each,
            max_chars: p.max_chars.map(|n| n as usize),
            cache_run: p.cache == Some(PrefetchCache::Run),
            optional: p.optional,
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
        for name in &decide.required_to_act {
            known("decide.required_to_act", name)?;
        }
        settings.required_to_act = decide.required_to_act.clone();
        for (i, k) in decide.known_ids.iter().enumerate() {
            let field = format!("decide.known_ids[{i}]");
            known(&field, &k.field)?;
            let list = check_template(&k.list, &prefetch_roots).map_err(|m| err(&field, m))?;
            settings.known_ids.push(KnownIds {
                field: k.field.clone(),
                list,
                key: k.key.clone(),
            });
        }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn prefetch(fields: &[&str], max_chars: Option<usize>) -> Prefetch {
        Prefetch {
            name: "p".into(),
            tool: "t".into(),
            args: Map::new(),
            when: Vec::new(),
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            each: None,
            max_chars,
            cache_run: false,
            optional: false,
        }
    }

    #[test]
    fn project_keeps_the_fields_and_cuts_long_texts() {
        let p = prefetch(&["id", "answer"], Some(5));
        let got = p.project(json!({"result": [
            {"id": "1", "answer": "abcdefgh", "extra": "x"},
            {"id": "2", "answer": "abc", "nested": {"x": "long text"}}
        ]}));
        assert_eq!(
            got,
            json!([{"id": "1", "answer": "abcde [...]"}, {"id": "2", "answer": "abc"}])
        );
        let whole = prefetch(&[], Some(3)).project(json!({"a": {"b": ["abcd", 12345]}}));
        assert_eq!(whole, json!({"a": {"b": ["abc [...]", 12345]}}));
    }

    #[test]
    fn list_elements_reads_bare_lists_and_envelopes() {
        assert_eq!(list_elements(&json!([1, 2])).len(), 2);
        assert_eq!(list_elements(&json!({"result": [1]})).len(), 1);
        assert_eq!(list_elements(&json!({"data": [1, 2, 3]})).len(), 3);
        assert!(list_elements(&json!(null)).is_empty());
        assert!(list_elements(&json!({"id": "1"})).is_empty());
    }
}
