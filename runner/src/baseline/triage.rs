//! Triage without a model: rank the ticket's text against the departments' and teams'
//! descriptions (BM25), pick the least-loaded active agent of the winning team, and abstain with
//! a private note whenever the ranking is not clear.
//!
//! Zoho's ticket update cannot change a department; a ticket that belongs elsewhere is moved
//! with the move tool first, then given a team and agent of its new department, but only when
//! `inputs.baseline_min_move_margin` allows moves (see below); otherwise it is left unassigned
//! with a note naming the department it seems to belong in.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::text::{Bm25, looks_non_english};
use super::{
    Prepared, SIGNATURE, customer_text, id_of, list_all, number_input, read, round2, str_of,
    ticket_id, write,
};
use crate::agent::run_context::Directory;
use crate::agent::{Finish, ItemTools};

/// Below this relative margin between the best and second-best department the baseline does
/// not trust its ranking. Measured on tests/fixtures/eval (see tests/workflows_baseline.rs).
pub const DEFAULT_MIN_MARGIN: f64 = 0.2;

// Moving a ticket out of the department it arrived in is off unless
// `inputs.baseline_min_move_margin` sets the lead it takes. On tests/fixtures/eval the ranking's
// confident cross-department calls were mostly wrong at every margin tried (0.2: 16 of 51 moves
// right, 0.5: 8 of 24, 0.75: 3 of 10), while leaving such tickets with a note naming the likely
// department costs only a person's move.

/// The best team must lead the second by this share of its score; otherwise no team clearly fits
/// and the ticket goes to the department's agents without a team.
const TEAM_MARGIN: f64 = 0.1;

struct Department {
    id: String,
    name: String,
    doc: String,
}

struct Team {
    id: String,
    name: String,
    department_id: String,
    doc: String,
    agents: Vec<String>,
}

struct Agent {
    id: String,
    name: String,
}

pub async fn work(
    item: Option<&Value>,
    inputs: &Map<String, Value>,
    tools: &ItemTools<'_>,
    prepared: Option<&Prepared<'_>>,
) -> Result<Value, Finish> {
    let ticket_id = ticket_id(item, inputs)?;
    let min_confidence = number_input(inputs, "baseline_min_margin", DEFAULT_MIN_MARGIN);
    let min_move = inputs
        .get("baseline_min_move_margin")
        .and_then(Value::as_f64);
    let directory = prepared.and_then(|p| p.context.any_directory());
    let prefetched = prepared
        .and_then(|p| p.prefetch.get("ticket"))
        .filter(|t| !t.is_null());
    let context = match prefetched {
        // The full context (`{ticket, threads, comments}`), or the ticket with the thread list
        // (each thread's summary) when the workflow read one.
        Some(c) if c.get("ticket").is_some() => c.clone(),
        Some(t) => {
            let threads = prepared
                .and_then(|p| p.prefetch.get("threads"))
                .filter(|t| t.is_array())
                .cloned()
                .unwrap_or_else(|| json!([]));
            json!({ "ticket": t, "threads": threads, "comments": [] })
        }
        None => {
            read(
                tools,
                "zoho_desk_tickets_get_full_context",
                json!({ "ticketId": ticket_id }),
            )
            .await?
        }
    };
    let ticket = context.get("ticket").cloned().unwrap_or(Value::Null);
    let current_department = id_of(ticket.get("departmentId")).unwrap_or_default();
    let (subject, body) = customer_text(&context);
    let text = format!("{subject}\n{subject}\n{body}");

    if looks_non_english(&format!("{subject}\n{body}")) {
        let reason = if body.trim().is_empty() && subject.trim().is_empty() {
            "the ticket has no text to route on".to_owned()
        } else {
            "the ticket is not in English, which the baseline's keyword ranking cannot read"
                .to_owned()
        };
        return abstain(tools, &ticket_id, None, 0.0, &reason).await;
    }

    let (departments, teams) = match directory {
        Some(d) => from_directory(d),
        None => organisation(tools).await?,
    };
    if departments.is_empty() {
        return Err(Finish::Tool(
            "list_all_zoho_desk_departments returned no enabled department".into(),
        ));
    }
    let scores = department_scores(&departments, &teams, &text);
    let mut ranked: Vec<(usize, f64)> = scores.into_iter().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let (best, best_score) = ranked[0];
    let second_score = ranked.get(1).map_or(0.0, |r| r.1);
    let department = &departments[best];
    if best_score <= 0.0 {
        let reason = "no department's description shares a term with the ticket".to_owned();
        return abstain(tools, &ticket_id, None, 0.0, &reason).await;
    }
    let confidence = round2((best_score - second_score) / best_score);
    let runner_up = ranked
        .get(1)
        .map(|r| format!("{} ({:.1})", departments[r.0].name, r.1))
        .unwrap_or_else(|| "none".into());
    if confidence < min_confidence {
        let reason = format!(
            "too close to call: {} scored {best_score:.1}, {runner_up} close behind (margin {confidence} below {min_confidence})",
            department.name
        );
        return abstain(tools, &ticket_id, Some(&department.id), confidence, &reason).await;
    }
    let moving = department.id != current_department;
    if moving && min_move.is_none_or(|m| confidence < m) {
        let reason = format!(
            "the ticket reads more like {} (score {best_score:.1}; runner-up {runner_up}) than the department it is in, \
             but not clearly enough to move it (margin {confidence}; moves need {}), so a person should decide whether to move it",
            department.name,
            min_move.map_or_else(
                || "inputs.baseline_min_move_margin, which is not set".to_owned(),
                |m| m.to_string()
            )
        );
        return abstain(tools, &ticket_id, Some(&department.id), confidence, &reason).await;
    }
    let team = choose_team(&teams, &department.id, &text);
    let active = match directory {
        Some(d) => d
            .eligible(&department.id, None)
            .into_iter()
            .map(|a| Agent {
                id: a.id.clone(),
                name: a.name.clone(),
            })
            .collect(),
        None => active_agents(tools, &department.id).await?,
    };
    let candidates: Vec<&Agent> = match team {
        Some(t) => active.iter().filter(|a| t.agents.contains(&a.id)).collect(),
        None => active.iter().collect(),
    };
    // A team whose members are all away is no help: fall back to the department's agents.
    let (team, candidates) = if candidates.is_empty() {
        (None, active.iter().collect::<Vec<_>>())
    } else {
        (team, candidates)
    };
    let chosen = match directory {
        Some(d) => candidates
            .iter()
            .enumerate()
            .min_by_key(|(i, a)| (d.load(&a.id), *i))
            .map(|(_, a)| *a),
        None => least_loaded(tools, &candidates).await?,
    };
    let Some(agent) = chosen else {
        let reason = format!("{} has no active agent to assign", department.name);
        return abstain(tools, &ticket_id, Some(&department.id), confidence, &reason).await;
    };

    if moving {
        write(
            tools,
            "zoho_desk_tickets_move",
            json!({ "ticketId": ticket_id, "departmentId": department.id }),
        )
        .await?;
    }
    let mut update = json!({ "id": ticket_id, "assigneeId": agent.id });
    if let Some(t) = team {
        update["teamId"] = json!(t.id);
    }
    write(tools, "update_a_zoho_desk_ticket_by_id", update).await?;
    if let Some(p) = prepared {
        p.context.assigned(&agent.id);
    }
    let moved = if moving {
        let from = departments
            .iter()
            .find(|d| d.id == current_department)
            .map_or(current_department.as_str(), |d| d.name.as_str());
        format!("; moved here from {from}")
    } else {
        String::new()
    };
    let reason = format!(
        "the ticket's text matches {}{} best (score {best_score:.1}; runner-up {runner_up}); {} is the active agent there with the fewest open tickets{moved}",
        department.name,
        team.map(|t| format!(" / {}", t.name)).unwrap_or_default(),
        agent.name
    );
    note(
        tools,
        &ticket_id,
        &format!(
            "Assigned to {} in {}{} (confidence {confidence}).\nWhy: {reason}.",
            agent.name,
            department.name,
            team.map(|t| format!(", team {}", t.name))
                .unwrap_or_default()
        ),
    )
    .await?;
    Ok(json!({
        "decision": "assign",
        "departmentId": department.id,
        "teamId": team.map(|t| t.id.clone()),
        "assigneeId": agent.id,
        "confidence": confidence,
        "reason": reason,
    }))
}

/// Leaves the ticket unassigned with one private note saying why.
async fn abstain(
    tools: &ItemTools<'_>,
    ticket_id: &str,
    department_id: Option<&str>,
    confidence: f64,
    reason: &str,
) -> Result<Value, Finish> {
    note(
        tools,
        ticket_id,
        &format!(
            "Left unassigned for a person to triage (confidence {confidence}).\nWhy: {reason}."
        ),
    )
    .await?;
    Ok(json!({
        "decision": "abstain",
        "departmentId": department_id,
        "teamId": null,
        "assigneeId": null,
        "confidence": confidence,
        "reason": reason,
    }))
}

async fn note(tools: &ItemTools<'_>, ticket_id: &str, text: &str) -> Result<Value, Finish> {
    write(
        tools,
        "create_a_zoho_desk_ticket_comment",
        json!({
            "ticketId": ticket_id,
            "isPublic": false,
            "contentType": "plainText",
            "content": format!("{SIGNATURE}\n{text}"),
        }),
    )
    .await
}

/// Enabled departments and all teams; each department's document is its name and description
/// plus those of its teams, so a ticket about "chargebacks" finds Billing through its team.
async fn organisation(tools: &ItemTools<'_>) -> Result<(Vec<Department>, Vec<Team>), Finish> {
    let raw_departments = list_all(tools, "list_all_zoho_desk_departments", json!({})).await?;
    let raw_teams = list_all(tools, "list_all_zoho_desk_teams", json!({})).await?;
    let teams: Vec<Team> = raw_teams
        .iter()
        .filter_map(|t| {
            Some(Team {
                id: id_of(t.get("id"))?,
                name: str_of(t, "name").to_owned(),
                department_id: id_of(t.get("departmentId")).unwrap_or_default(),
                doc: format!("{}\n{}", str_of(t, "name"), str_of(t, "description")),
                agents: t
                    .get("agents")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|x| id_of(Some(x))).collect())
                    .unwrap_or_default(),
            })
        })
        .collect();
    let departments = raw_departments
        .iter()
        .filter(|d| d.get("isEnabled").and_then(Value::as_bool) != Some(false))
        .filter_map(|d| {
            let id = id_of(d.get("id"))?;
            let mut doc = format!("{}\n{}", str_of(d, "name"), str_of(d, "description"));
            for t in teams.iter().filter(|t| t.department_id == id) {
                doc.push('\n');
                doc.push_str(&t.doc);
            }
            Some(Department {
                id,
                name: str_of(d, "name").to_owned(),
                doc,
            })
        })
        .collect();
    Ok((departments, teams))
}

/// The run context's directory in the routine's terms (enabled departments only, as
/// [`organisation`] reads them).
fn from_directory(directory: &Directory) -> (Vec<Department>, Vec<Team>) {
    let teams: Vec<Team> = directory
        .teams
        .iter()
        .map(|t| Team {
            id: t.id.clone(),
            name: t.name.clone(),
            department_id: t.department_id.clone(),
            doc: format!("{}\n{}", t.name, t.description),
            agents: t.members.clone().unwrap_or_default(),
        })
        .collect();
    let departments = directory
        .departments
        .iter()
        .map(|d| {
            let mut doc = format!("{}\n{}", d.name, d.description);
            for t in teams.iter().filter(|t| t.department_id == d.id) {
                doc.push('\n');
                doc.push_str(&t.doc);
            }
            Department {
                id: d.id.clone(),
                name: d.name.clone(),
                doc,
            }
        })
        .collect();
    (departments, teams)
}

/// Each department's BM25 score plus that of its best team (ranked among all teams): a ticket
/// that matches one team's narrow description strongly outweighs scattered matches.
fn department_scores(departments: &[Department], teams: &[Team], text: &str) -> Vec<f64> {
    let by_department = Bm25::new(
        &departments
            .iter()
            .map(|d| d.doc.as_str())
            .collect::<Vec<_>>(),
    )
    .scores(text);
    let by_team = Bm25::new(&teams.iter().map(|t| t.doc.as_str()).collect::<Vec<_>>()).scores(text);
    departments
        .iter()
        .zip(by_department)
        .map(|(d, score)| {
            let team_best = teams
                .iter()
                .zip(&by_team)
                .filter(|(t, _)| t.department_id == d.id)
                .map(|(_, s)| *s)
                .fold(0.0, f64::max);
            score + team_best
        })
        .collect()
}

/// The department's team that fits best, if one clearly fits at all.
fn choose_team<'t>(teams: &'t [Team], department_id: &str, text: &str) -> Option<&'t Team> {
    let own: Vec<&Team> = teams
        .iter()
        .filter(|t| t.department_id == department_id)
        .collect();
    if own.is_empty() {
        return None;
    }
    let scores = Bm25::new(&own.iter().map(|t| t.doc.as_str()).collect::<Vec<_>>()).scores(text);
    let mut ranked: Vec<(usize, f64)> = scores.into_iter().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let (best, score) = ranked[0];
    let second = ranked.get(1).map_or(0.0, |r| r.1);
    (score > 0.0 && second <= score * (1.0 - TEAM_MARGIN)).then(|| own[best])
}

async fn active_agents(tools: &ItemTools<'_>, department_id: &str) -> Result<Vec<Agent>, Finish> {
    let raw = list_all(
        tools,
        "list_all_zoho_desk_agents",
        json!({ "status": "ACTIVE", "departmentIds": department_id }),
    )
    .await?;
    Ok(raw
        .iter()
        // The filter is asked of the server; checked again here because a light or lenient
        // server may ignore it, and assigning a disabled agent fails the update.
        .filter(|a| {
            a.get("status")
                .and_then(Value::as_str)
                .is_none_or(|s| s == "ACTIVE")
        })
        .filter_map(|a| {
            Some(Agent {
                id: id_of(a.get("id"))?,
                name: match str_of(a, "name") {
                    "" => format!("{} {}", str_of(a, "firstName"), str_of(a, "lastName"))
                        .trim()
                        .to_owned(),
                    n => n.to_owned(),
                },
            })
        })
        .collect())
}

/// The candidate with the fewest open tickets (ties: the first listed), from one ticket list
/// filtered to the candidates.
async fn least_loaded<'a>(
    tools: &ItemTools<'_>,
    candidates: &[&'a Agent],
) -> Result<Option<&'a Agent>, Finish> {
    if candidates.len() <= 1 {
        return Ok(candidates.first().copied());
    }
    let ids: Vec<&str> = candidates.iter().map(|a| a.id.as_str()).collect();
    let open = list_all(
        tools,
        "list_all_zoho_desk_tickets",
        json!({ "assignee": ids.join(","), "status": "Open", "limit": 99 }),
    )
    .await?;
    let mut load: HashMap<String, usize> = HashMap::new();
    for t in &open {
        if let Some(a) = id_of(t.get("assigneeId")) {
            *load.entry(a).or_default() += 1;
        }
    }
    Ok(candidates
        .iter()
        .enumerate()
        .min_by_key(|(i, a)| (load.get(&a.id).copied().unwrap_or(0), *i))
        .map(|(_, a)| *a))
}
