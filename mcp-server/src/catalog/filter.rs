//! Which tools an MCP server record exposes. `methods` and `tags` combine with AND; each list is
//! an OR of its entries; an empty list does not restrict. The same filter is meant to be applied on
//! `tools/call` as well as on `tools/list`, so a hidden tool cannot be called by name.

use super::{MethodKind, ToolSpec};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error(
        "unknown method filter `{given}`; use read, write, custom, or a method name such as {examples}"
    )]
    UnknownMethod { given: String, examples: String },
    #[error("invalid tag filter `{given}`")]
    InvalidTag { given: String },
    #[error("the filter (methods: [{methods}], tags: [{tags}]) matches no tool")]
    MatchesNothing { methods: String, tags: String },
    #[error(
        "the filter (methods: [{methods}], tags: [{tags}]) matches only generated tools; add --toolset all"
    )]
    OnlyGenerated { methods: String, tags: String },
}

/// Which part of the catalog a server draws from. The curated core is the default listing:
/// several MCP clients cap the number of tools they hold, and the core is what most support work
/// needs. `All` adds every tool generated from Zoho's OpenAPI description.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Toolset {
    #[default]
    Core,
    All,
}

impl std::str::FromStr for Toolset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "core" => Ok(Toolset::Core),
            "all" => Ok(Toolset::All),
            _ => Err(format!("unknown toolset `{s}`; use core or all")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum MethodSelector {
    /// get, list, read-only custom methods and composites.
    Read,
    /// create, update, delete and writing custom methods.
    Write,
    /// Every non-CRUD method.
    Custom,
    Exact(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolFilter {
    methods: Vec<MethodSelector>,
    tags: Vec<String>,
    toolset: Toolset,
}

impl ToolFilter {
    pub fn all() -> Self {
        ToolFilter::default()
    }

    /// Entries are case-insensitive. Anything that is not `read`, `write`, `custom` or a
    /// snake_case method name is refused; whether a method name exists is a question for the
    /// catalog ([`super::Catalog::check_filter`]).
    pub fn parse(methods: &[String], tags: &[String]) -> Result<Self, FilterError> {
        let mut out = ToolFilter::default();
        for raw in methods {
            let m = raw.trim().to_ascii_lowercase();
            let selector = match m.as_str() {
                "read" => MethodSelector::Read,
                "write" => MethodSelector::Write,
                "custom" => MethodSelector::Custom,
                name if super::naming::is_identifier(name) => MethodSelector::Exact(m.clone()),
                _ => {
                    return Err(FilterError::UnknownMethod {
                        given: raw.clone(),
                        examples: "list, get, create, update, delete, search".to_string(),
                    });
                }
            };
            if !out.methods.contains(&selector) {
                out.methods.push(selector);
            }
        }
        for raw in tags {
            let t = raw.trim().to_ascii_lowercase();
            if t.is_empty() || t.chars().any(char::is_whitespace) {
                return Err(FilterError::InvalidTag { given: raw.clone() });
            }
            if !out.tags.contains(&t) {
                out.tags.push(t);
            }
        }
        Ok(out)
    }

    /// The same filter over another part of the catalog.
    pub fn with_toolset(mut self, toolset: Toolset) -> Self {
        self.toolset = toolset;
        self
    }

    pub fn toolset(&self) -> Toolset {
        self.toolset
    }

    /// No method or tag restriction (the toolset still applies).
    pub fn is_unrestricted(&self) -> bool {
        self.methods.is_empty() && self.tags.is_empty()
    }

    pub fn allows(&self, spec: &ToolSpec) -> bool {
        if spec.generated && self.toolset == Toolset::Core {
            return false;
        }
        let method_ok = self.methods.is_empty()
            || self.methods.iter().any(|sel| match sel {
                MethodSelector::Read => spec.kind.is_read(),
                MethodSelector::Write => !spec.kind.is_read(),
                MethodSelector::Custom => {
                    matches!(spec.kind, MethodKind::Custom { .. } | MethodKind::Composite)
                }
                MethodSelector::Exact(name) => &spec.method == name,
            });
        let tags_ok = self.tags.is_empty()
            || spec.tags.iter().any(|t| {
                self.tags
                    .iter()
                    .any(|wanted| wanted.eq_ignore_ascii_case(t))
            });
        method_ok && tags_ok
    }

    /// The exact method names in the filter (for the catalog's existence check).
    pub(crate) fn exact_methods(&self) -> impl Iterator<Item = &str> {
        self.methods.iter().filter_map(|m| match m {
            MethodSelector::Exact(n) => Some(n.as_str()),
            _ => None,
        })
    }

    pub(crate) fn tags(&self) -> &[String] {
        &self.tags
    }

    pub(crate) fn describe(&self) -> (String, String) {
        let methods = self
            .methods
            .iter()
            .map(|m| match m {
                MethodSelector::Read => "read".to_string(),
                MethodSelector::Write => "write".to_string(),
                MethodSelector::Custom => "custom".to_string(),
                MethodSelector::Exact(n) => n.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        (methods, self.tags.join(", "))
    }
}
