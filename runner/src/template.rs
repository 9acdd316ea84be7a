//! Prompt templates: `{{ item.subject }}`, `{{ inputs.department_id }}`, `{{ run.id }}`,
//! `{{ item | json }}`.
//!
//! Deliberately tiny (no loops, no conditionals): a prompt is text with holes, and anything cleverer
//! belongs in the agent's tools, not in the template. Templates are parsed once when a workflow is
//! loaded so that `deskhand validate` catches a broken one before any run, and rendering never
//! guesses: a variable that is not in the context is an error, never an empty string (an empty
//! department id in a prompt silently produces a wrong answer; an error produces a fix).
//!
//! Syntax:
//! - `{{ path }}` where `path` is dot-separated keys into the context; a numeric segment indexes an
//!   array (`item.threads.0.summary`). Keys may contain ASCII letters, digits, `_` and `-`.
//! - `{{ path | json }}` renders the value as pretty-printed JSON.
//! - Without a filter, strings render raw, numbers, booleans and null as JSON, and objects and
//!   arrays as compact JSON.
//! - `{{{{` renders a literal `{{`. A `}}` outside a placeholder is ordinary text and needs no escape.
//! - Whitespace inside the braces is optional.

use std::fmt;

use serde_json::Value;

/// A template error; positions are 1-based, columns count characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("{line}:{col}: unclosed \"{{{{\" (no matching \"}}}}\")")]
    Unclosed { line: usize, col: usize },
    #[error("{line}:{col}: {message}")]
    Syntax {
        message: String,
        line: usize,
        col: usize,
    },
    #[error("{line}:{col}: missing variable `{name}`")]
    Missing {
        name: String,
        line: usize,
        col: usize,
    },
}

impl TemplateError {
    /// The (line, column) the error points at.
    pub fn position(&self) -> (usize, usize) {
        match self {
            TemplateError::Unclosed { line, col }
            | TemplateError::Syntax { line, col, .. }
            | TemplateError::Missing { line, col, .. } => (*line, *col),
        }
    }

    /// The message without its position, for callers that print the position themselves.
    pub fn message(&self) -> String {
        match self {
            TemplateError::Unclosed { .. } => "unclosed \"{{\" (no matching \"}}\")".to_string(),
            TemplateError::Syntax { message, .. } => message.clone(),
            TemplateError::Missing { name, .. } => format!("missing variable `{name}`"),
        }
    }
}

/// How a placeholder's value is turned into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// Strings raw; everything else compact JSON.
    Plain,
    /// Pretty-printed JSON (strings quoted).
    Json,
}

/// One `{{ ... }}` placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// The path segments (`["item", "threads", "0", "summary"]`).
    pub path: Vec<String>,
    pub filter: Filter,
    /// Position of the opening `{{`.
    pub line: usize,
    pub col: usize,
}

impl Placeholder {
    /// The dotted path as written (`item.threads.0.summary`).
    pub fn name(&self) -> String {
        self.path.join(".")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Value(Placeholder),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
}

impl Template {
    /// Parses `source`; every syntax error carries the line and column of the offending `{{`.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut text = String::new();
        let mut rest = source;
        // Position of the start of `rest`.
        let mut line = 1;
        let mut col = 1;

        while let Some(open) = rest.find("{{") {
            let before = &rest[..open];
            text.push_str(before);
            advance(&mut line, &mut col, before);
            let after_open = &rest[open..];
            if let Some(after_escape) = after_open.strip_prefix("{{{{") {
                text.push_str("{{");
                advance(&mut line, &mut col, "{{{{");
                rest = after_escape;
                continue;
            }
            let (start_line, start_col) = (line, col);
            let inner_and_rest = &after_open[2..];
            let Some(close) = inner_and_rest.find("}}") else {
                return Err(TemplateError::Unclosed {
                    line: start_line,
                    col: start_col,
                });
            };
            let inner = &inner_and_rest[..close];
            if inner.contains("{{") {
                return Err(TemplateError::Unclosed {
                    line: start_line,
                    col: start_col,
                });
            }
            let placeholder = parse_placeholder(inner, start_line, start_col)?;
            if !text.is_empty() {
                segments.push(Segment::Text(std::mem::take(&mut text)));
            }
            segments.push(Segment::Value(placeholder));
            let consumed = &after_open[..2 + close + 2];
            advance(&mut line, &mut col, consumed);
            rest = &after_open[2 + close + 2..];
        }
        text.push_str(rest);
        if !text.is_empty() {
            segments.push(Segment::Text(text));
        }
        Ok(Template { segments })
    }

    /// Every placeholder, in source order (for static checks at load time).
    pub fn placeholders(&self) -> impl Iterator<Item = &Placeholder> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Value(p) => Some(p),
            Segment::Text(_) => None,
        })
    }

    /// Whether the template has no placeholders (its text is used as is).
    pub fn is_literal(&self) -> bool {
        self.placeholders().next().is_none()
    }

    /// Renders against `context`, an object whose top-level keys are the roots (`item`, `inputs`,
    /// `run`).
    pub fn render(&self, context: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Text(t) => out.push_str(t),
                Segment::Value(p) => {
                    let value = lookup(context, p)?;
                    match p.filter {
                        Filter::Plain => match value {
                            Value::String(s) => out.push_str(s),
                            other => out.push_str(&other.to_string()),
                        },
                        Filter::Json => out.push_str(
                            &serde_json::to_string_pretty(value)
                                .unwrap_or_else(|_| value.to_string()),
                        ),
                    }
                }
            }
        }
        Ok(out)
    }

    /// Renders to a JSON value: a template that is exactly one unfiltered placeholder yields the
    /// value itself (so `limit: "{{ inputs.page }}"` stays a number); anything else is a string.
    /// Used for tool arguments, where the type matters to the tool's input schema.
    pub fn render_value(&self, context: &Value) -> Result<Value, TemplateError> {
        if let [Segment::Value(p)] = self.segments.as_slice()
            && p.filter == Filter::Plain
        {
            return lookup(context, p).cloned();
        }
        self.render(context).map(Value::String)
    }
}

impl fmt::Display for Template {
    /// Writes the template back in canonical syntax (`{{ path }}`, `{{{{` for literal braces).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            match segment {
                Segment::Text(t) => f.write_str(&t.replace("{{", "{{{{"))?,
                Segment::Value(p) => match p.filter {
                    Filter::Plain => write!(f, "{{{{ {} }}}}", p.name())?,
                    Filter::Json => write!(f, "{{{{ {} | json }}}}", p.name())?,
                },
            }
        }
        Ok(())
    }
}

fn advance(line: &mut usize, col: &mut usize, text: &str) {
    for c in text.chars() {
        if c == '\n' {
            *line += 1;
            *col = 1;
        } else {
            *col += 1;
        }
    }
}

fn parse_placeholder(inner: &str, line: usize, col: usize) -> Result<Placeholder, TemplateError> {
    let syntax = |message: String| TemplateError::Syntax { message, line, col };
    let (expr, filter) = match inner.split_once('|') {
        None => (inner.trim(), Filter::Plain),
        Some((expr, filter)) => match filter.trim() {
            "json" => (expr.trim(), Filter::Json),
            "" => return Err(syntax("expected a filter name after `|`".to_string())),
            other => {
                return Err(syntax(format!(
                    "unknown filter `{other}` (the only filter is `json`)"
                )));
            }
        },
    };
    if expr.is_empty() {
        return Err(syntax("empty placeholder `{{ }}`".to_string()));
    }
    let mut path = Vec::new();
    for segment in expr.split('.') {
        let valid = !segment.is_empty()
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(syntax(format!(
                "invalid variable `{expr}` (expected dot-separated names such as `item.subject`)"
            )));
        }
        path.push(segment.to_string());
    }
    Ok(Placeholder {
        path,
        filter,
        line,
        col,
    })
}

fn lookup<'a>(context: &'a Value, p: &Placeholder) -> Result<&'a Value, TemplateError> {
    let mut current = context;
    for (depth, key) in p.path.iter().enumerate() {
        let next = match current {
            Value::Object(map) => map.get(key),
            Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        current = next.ok_or_else(|| TemplateError::Missing {
            name: p.path[..=depth].join("."),
            line: p.line,
            col: p.col,
        })?;
    }
    Ok(current)
}
