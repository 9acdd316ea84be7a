//! Workflow errors: one clear sentence that starts with `file:line:col:` so that editors and
//! terminals turn it into a link.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::template::TemplateError;

/// A 1-based line and character column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u64,
    pub col: u64,
}

impl Position {
    pub(crate) fn from_location(location: serde_saphyr::Location) -> Option<Position> {
        (location != serde_saphyr::Location::UNKNOWN && location.line() > 0).then(|| Position {
            line: location.line(),
            col: location.column(),
        })
    }
}

/// Why a workflow file was refused.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowErrorKind {
    #[error("cannot read: {0}")]
    Read(#[source] std::io::Error),
    /// YAML syntax, an unknown key, a wrong type, a missing required key.
    #[error("{0}")]
    Yaml(String),
    #[error("unknown tool `{name}`{}", suggest(suggestions))]
    UnknownTool {
        name: String,
        suggestions: Vec<String>,
    },
    #[error("invalid cron expression \"{expression}\": {message}")]
    Cron { expression: String, message: String },
    #[error("unknown time zone \"{0}\" (expected an IANA name such as Europe/Berlin or UTC)")]
    Timezone(String),
    #[error(
        "invalid duration \"{0}\" (expected a whole number followed by ms, s, m or h, e.g. 500ms, 30s, 2m, 1h)"
    )]
    Duration(String),
    #[error("file not found: {}", .0.display())]
    MissingFile(PathBuf),
    /// A prompt or argument template that does not parse, or that names a variable that cannot
    /// exist at run time.
    #[error("{}", .0.message())]
    Template(#[source] TemplateError),
    /// A template names a variable that will not exist when it is rendered.
    #[error("unknown variable `{name}` ({hint})")]
    UnknownVariable { name: String, hint: String },
    #[error("unknown input `{key}` (known inputs: {})", list_or_none(known))]
    UnknownInput { key: String, known: Vec<String> },
    #[error("input `{key}` expects {expected}, got \"{value}\"")]
    InputType {
        key: String,
        expected: &'static str,
        value: String,
    },
    #[error("input `{key}` is one of {}, got {value}", choices.join(", "))]
    InputChoice {
        key: String,
        value: String,
        choices: Vec<String>,
    },
    #[error("workflow name `{name}` is also used by {}", .other.display())]
    DuplicateName { name: String, other: PathBuf },
    /// Any other rule a value breaks; the message says which.
    #[error("{0}")]
    Invalid(String),
}

/// A workflow that cannot be loaded. `Display` is `path:line:col: field: message` (the position and
/// the field are left out when unknown). For template errors `path` is the prompt file, since that
/// is where the fix goes.
#[derive(Debug)]
pub struct WorkflowError {
    pub path: PathBuf,
    pub position: Option<Position>,
    /// Dotted path of the offending key (`limits.item_timeout`), when known.
    pub field: Option<String>,
    pub kind: WorkflowErrorKind,
}

impl WorkflowError {
    pub(crate) fn new(path: &Path, kind: WorkflowErrorKind) -> WorkflowError {
        WorkflowError {
            path: path.to_path_buf(),
            position: None,
            field: None,
            kind,
        }
    }

    pub(crate) fn at(mut self, position: Option<Position>) -> WorkflowError {
        self.position = position;
        self
    }

    pub(crate) fn field(mut self, field: impl Into<String>) -> WorkflowError {
        self.field = Some(field.into());
        self
    }

    /// The message without the `path:line:col:` prefix.
    pub fn message(&self) -> String {
        match &self.field {
            Some(field) => format!("{field}: {}", self.kind),
            None => self.kind.to_string(),
        }
    }
}

impl fmt::Display for WorkflowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(Position { line, col }) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        write!(f, ": {}", self.message())
    }
}

impl std::error::Error for WorkflowError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

/// Every broken file of a directory, so one `validate` run shows them all.
#[derive(Debug, thiserror::Error)]
#[error("{}", join_lines(.0))]
pub struct WorkflowErrors(pub Vec<WorkflowError>);

fn join_lines(errors: &[WorkflowError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn suggest(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!("; did you mean `{one}`?"),
        many => format!(
            "; did you mean one of: {}?",
            many.iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn list_or_none(known: &[String]) -> String {
    if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    }
}
