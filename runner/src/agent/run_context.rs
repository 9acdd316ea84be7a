//! A run's `context:`: reads made once per run, before the first item, through the run's
//! [`Toolbox`] (same session, rate gate and retry as every call), and shared by every item.
//!
//! The `directory` builtin is the org as triage needs it: enabled departments, their teams,
//! active agents and each agent's open-ticket count. Counting a listing of the agents' open
//! tickets is one call per page (3 credits for up to 100 tickets), where a count per agent would be
//! one call (1 credit) per agent. The counts are kept current as the run assigns tickets, so
//! load balancing inside a run sees its own assignments.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde_json::{Map, Value, json};

use super::toolbox::{ReadError, Toolbox};
use crate::workflow::{ContextBuiltin, ContextSource, RunInfo, Workflow, render_json};

/// Pages one context listing follows at most: an org directory is small, and a server that
/// always returns a cursor must not hold the run.
const MAX_PAGES: usize = 50;

/// Agent ids per open-ticket listing (the `assignee` filter is a comma-separated list).
const ASSIGNEES_PER_LISTING: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("context `{name}`: {source}")]
    Read {
        name: String,
        #[source]
        source: ReadError,
    },
    #[error("context `{name}`: {message}")]
    Invalid { name: String, message: String },
}

impl ContextError {
    /// Whether the error is an outside fault (rate limit, lost connection) rather than a broken
    /// workflow.
    pub fn read_error(&self) -> Option<&ReadError> {
        match self {
            ContextError::Read { source, .. } => Some(source),
            ContextError::Invalid { .. } => None,
        }
    }
}

/// What `context:` gave for this run.
#[derive(Debug, Default)]
pub struct RunContext {
    values: BTreeMap<String, Value>,
    directories: BTreeMap<String, Directory>,
    /// Prefetch results marked `cache: run`, by tool and arguments.
    shared: Mutex<HashMap<String, Value>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Department {
    pub id: String,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Team {
    pub id: String,
    pub name: String,
    pub description: String,
    pub department_id: String,
    /// `None` when the listing did not say who is in the team.
    pub members: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub department_ids: Vec<String>,
}

/// The org as triage sees it, with each active agent's open tickets counted.
#[derive(Debug, Default)]
pub struct Directory {
    pub departments: Vec<Department>,
    pub teams: Vec<Team>,
    pub agents: Vec<Agent>,
    load: Mutex<HashMap<String, u64>>,
}

impl RunContext {
    /// Makes the workflow's context calls. An empty `context:` makes none.
    pub async fn fetch(
        toolbox: &Toolbox,
        workflow: &Workflow,
        info: &RunInfo,
    ) -> Result<RunContext, ContextError> {
        let mut out = RunContext::default();
        let template_ctx = workflow.context(info, None);
        for (name, source) in &workflow.decide.context {
            match source {
                ContextSource::Call { tool, args } => {
                    let args = match render_json(&Value::Object(args.clone()), &template_ctx) {
                        Ok(Value::Object(a)) => a,
                        Ok(_) => Map::new(),
                        Err(e) => {
                            return Err(ContextError::Invalid {
                                name: name.clone(),
                                message: e.to_string(),
                            });
                        }
                    };
                    let args = args
                        .into_iter()
                        .filter(|(_, v)| !v.is_null() && v.as_str() != Some(""))
                        .collect();
                    let value = read_all(toolbox, name, tool, args).await?;
                    out.values.insert(name.clone(), value);
                }
                ContextSource::Builtin(ContextBuiltin::Directory) => {
                    let directory = Directory::fetch(toolbox, name).await?;
                    out.directories.insert(name.clone(), directory);
                }
            }
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.directories.is_empty()
    }

    /// The `context` template variable, with the directories' current loads.
    pub fn value(&self) -> Value {
        let mut map = Map::new();
        for (name, value) in &self.values {
            map.insert(name.clone(), value.clone());
        }
        for (name, directory) in &self.directories {
            map.insert(name.clone(), directory.value());
        }
        Value::Object(map)
    }

    pub fn directory(&self, name: &str) -> Option<&Directory> {
        self.directories.get(name)
    }

    /// The first directory, for the baseline (which needs one whatever it is called).
    pub fn any_directory(&self) -> Option<&Directory> {
        self.directories.values().next()
    }

    /// A `cache: run` prefetch result read earlier in the run.
    pub fn shared(&self, key: &str) -> Option<Value> {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    /// Keeps a `cache: run` prefetch result for the run's other items. Two items that miss at
    /// once both read; the second answer replaces the first, which is as fresh.
    pub fn share(&self, key: String, value: Value) {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, value);
    }

    /// Counts a ticket assigned to `agent_id` by this run in every directory.
    pub fn assigned(&self, agent_id: &str) {
        for directory in self.directories.values() {
            directory.assigned(agent_id);
        }
    }
}

impl Directory {
    /// Departments, teams, active agents, then the agents' open tickets: four listings for an
    /// org whose lists fit a page each.
    pub async fn fetch(toolbox: &Toolbox, name: &str) -> Result<Directory, ContextError> {
        let list = |tool: &'static str, args: Value| async move {
            let args = match args {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            read_all(toolbox, name, tool, args).await.map(into_list)
        };
        let departments: Vec<Department> = list(
            "list_all_zoho_desk_departments",
            json!({ "isEnabled": true, "limit": 100 }),
        )
        .await?
        .iter()
        .filter(|d| d.get("isEnabled").and_then(Value::as_bool) != Some(false))
        .filter_map(|d| {
            Some(Department {
                id: id_of(d.get("id"))?,
                name: str_of(d, "name"),
                description: str_of(d, "description"),
            })
        })
        .collect();
        let teams: Vec<Team> = list("list_all_zoho_desk_teams", json!({}))
            .await?
            .iter()
            .filter_map(|t| {
                Some(Team {
                    id: id_of(t.get("id"))?,
                    name: str_of(t, "name"),
                    description: str_of(t, "description"),
                    department_id: id_of(t.get("departmentId")).unwrap_or_default(),
                    members: t
                        .get("agents")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(|x| id_of(Some(x))).collect()),
                })
            })
            .filter(|t| departments.iter().any(|d| d.id == t.department_id))
            .collect();
        let agents: Vec<Agent> = list(
            "list_all_zoho_desk_agents",
            json!({ "status": "ACTIVE", "limit": 100 }),
        )
        .await?
        .iter()
        // Asked of the server, checked again: a lenient server may ignore the filter, and
        // assigning a disabled agent fails the update.
        .filter(|a| {
            a.get("status")
                .and_then(Value::as_str)
                .is_none_or(|s| s == "ACTIVE")
        })
        .filter_map(|a| {
            Some(Agent {
                id: id_of(a.get("id"))?,
                name: match str_of(a, "name") {
                    n if n.is_empty() => {
                        format!("{} {}", str_of(a, "firstName"), str_of(a, "lastName"))
                            .trim()
                            .to_owned()
                    }
                    n => n,
                },
                department_ids: a
                    .get("associatedDepartmentIds")
                    .and_then(Value::as_array)
                    .map(|ids| ids.iter().filter_map(|x| id_of(Some(x))).collect())
                    .unwrap_or_default(),
            })
        })
        .collect();
        let mut load: HashMap<String, u64> = agents.iter().map(|a| (a.id.clone(), 0)).collect();
        for chunk in agents.chunks(ASSIGNEES_PER_LISTING) {
            let ids: Vec<&str> = chunk.iter().map(|a| a.id.as_str()).collect();
            let open = list(
                "list_all_zoho_desk_tickets",
                json!({ "assignee": ids.join(","), "status": "Open", "limit": 99 }),
            )
            .await?;
            for ticket in &open {
                if let Some(a) = id_of(ticket.get("assigneeId"))
                    && let Some(n) = load.get_mut(&a)
                {
                    *n += 1;
                }
            }
        }
        Ok(Directory {
            departments,
            teams,
            agents,
            load: Mutex::new(load),
        })
    }

    /// Builds a directory from known parts (tests, and callers that read the org themselves).
    pub fn new(
        departments: Vec<Department>,
        teams: Vec<Team>,
        agents: Vec<Agent>,
        load: HashMap<String, u64>,
    ) -> Directory {
        Directory {
            departments,
            teams,
            agents,
            load: Mutex::new(load),
        }
    }

    /// Open tickets of `agent_id`, this run's assignments included.
    pub fn load(&self, agent_id: &str) -> u64 {
        self.lock().get(agent_id).copied().unwrap_or(0)
    }

    pub fn assigned(&self, agent_id: &str) {
        *self.lock().entry(agent_id.to_owned()).or_insert(0) += 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.load.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn department(&self, id: &str) -> Option<&Department> {
        self.departments.iter().find(|d| d.id == id)
    }

    pub fn team(&self, id: &str) -> Option<&Team> {
        self.teams.iter().find(|t| t.id == id)
    }

    pub fn agent(&self, id: &str) -> Option<&Agent> {
        self.agents.iter().find(|a| a.id == id)
    }

    /// The agents who may take a ticket of `department_id` (and of `team_id`, when given).
    pub fn eligible(&self, department_id: &str, team_id: Option<&str>) -> Vec<&Agent> {
        let team = team_id.and_then(|t| self.team(t));
        self.agents
            .iter()
            .filter(|a| a.department_ids.iter().any(|d| d == department_id))
            .filter(|a| {
                team.and_then(|t| t.members.as_ref())
                    .is_none_or(|m| m.contains(&a.id))
            })
            .collect()
    }

    /// The template value: each department with its teams (and their members), then the agents
    /// with their departments and open tickets. Compact, since it is in every item's prompt.
    pub fn value(&self) -> Value {
        let load = self.lock().clone();
        let departments: Vec<Value> = self
            .departments
            .iter()
            .map(|d| {
                let teams: Vec<Value> = self
                    .teams
                    .iter()
                    .filter(|t| t.department_id == d.id)
                    .map(|t| {
                        let mut team =
                            json!({ "id": t.id, "name": t.name, "description": t.description });
                        if let Some(m) = &t.members {
                            team["agentIds"] = json!(m);
                        }
                        team
                    })
                    .collect();
                json!({ "id": d.id, "name": d.name, "description": d.description, "teams": teams })
            })
            .collect();
        let agents: Vec<Value> = self
            .agents
            .iter()
            .map(|a| {
                json!({
                    "id": a.id,
                    "name": a.name,
                    "departmentIds": a.department_ids,
                    "openTickets": load.get(&a.id).copied().unwrap_or(0),
                })
            })
            .collect();
        json!({ "departments": departments, "agents": agents })
    }
}

/// Every page of `tool`'s result, as one list (or the value itself for a non-list tool).
async fn read_all(
    toolbox: &Toolbox,
    name: &str,
    tool: &str,
    mut args: Map<String, Value>,
) -> Result<Value, ContextError> {
    let mut out: Vec<Value> = Vec::new();
    for _ in 0..MAX_PAGES {
        let page = toolbox
            .read(tool, args.clone())
            .await
            .map_err(|source| ContextError::Read {
                name: name.to_owned(),
                source,
            })?;
        let list = page
            .get("result")
            .or_else(|| page.get("data"))
            .and_then(Value::as_array)
            .cloned()
            .or_else(|| page.as_array().cloned());
        let Some(list) = list else {
            return Ok(page);
        };
        out.extend(list);
        match page
            .get("next_cursor")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
        {
            Some(cursor) => {
                args.insert("next_cursor".into(), json!(cursor));
            }
            None => break,
        }
    }
    Ok(Value::Array(out))
}

fn into_list(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        _ => Vec::new(),
    }
}

fn id_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn str_of(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}
