//! Scripted agents that do a shipped workflow's job the way a tool-using model following its
//! prompt would: they read the real tool results in the conversation and decide from them. Used
//! by the runner benchmarks (backlog drain, tokens per ticket), so that the requests the runner
//! sends, and the Zoho calls it makes, have realistic shapes and sizes.

use serde_json::{Value, json};

use crate::scripted_llm::{ScriptedToolCall, Step};

/// The ticket id the prompt names: the first long number after "ticket".
pub fn ticket_in_prompt(body: &Value) -> String {
    let prompt = messages(body)
        .iter()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned();
    prompt
        .split_whitespace()
        .skip_while(|w| !w.eq_ignore_ascii_case("ticket"))
        .nth(1)
        .unwrap_or_default()
        .trim_matches(|c: char| !c.is_ascii_digit())
        .to_owned()
}

fn messages(body: &Value) -> Vec<Value> {
    body["messages"].as_array().cloned().unwrap_or_default()
}

/// Whether the request offers `tool`.
pub fn offers(body: &Value, tool: &str) -> bool {
    body["tools"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["function"]["name"] == tool))
}

/// Assistant turns so far.
fn turns(body: &Value) -> usize {
    messages(body)
        .iter()
        .filter(|m| m["role"] == "assistant")
        .count()
}

/// The parsed result of the last call of `tool` in the conversation.
pub fn result_of(body: &Value, tool: &str) -> Option<Value> {
    let messages = messages(body);
    let id = messages
        .iter()
        .rev()
        .filter(|m| m["role"] == "assistant")
        .flat_map(|m| m["tool_calls"].as_array().cloned().unwrap_or_default())
        .find(|c| c["function"]["name"] == tool)?["id"]
        .as_str()?
        .to_owned();
    let text = messages
        .iter()
        .find(|m| m["role"] == "tool" && m["tool_call_id"] == id.as_str())?["content"]
        .as_str()?
        .to_owned();
    serde_json::from_str(&text).ok()
}

fn list(value: &Value) -> Vec<Value> {
    value
        .get("result")
        .or_else(|| value.get("data"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// triage-and-assign as its prompt asks: read the ticket (the composite context tool when it is
/// offered, else the ticket, its threads and comments, and the first thread's content), list the
/// teams and active agents, then assign the ticket to the first team of its department and that
/// team's first active agent, with a private note, and answer.
pub fn triage(body: &Value) -> Step {
    let id = ticket_in_prompt(body);
    let composite = offers(body, "zoho_desk_tickets_get_full_context");
    let turn = turns(body);
    let reading_turns = if composite { 1 } else { 2 };
    if turn == 0 {
        return if composite {
            Step::tool_call(
                "zoho_desk_tickets_get_full_context",
                json!({ "ticketId": id }),
            )
        } else {
            Step::tool_calls(vec![
                ScriptedToolCall::new("get_single_zoho_desk_ticket_by_id", json!({ "id": id })),
                ScriptedToolCall::new(
                    "list_all_zoho_desk_ticket_threads",
                    json!({ "ticketId": id }),
                ),
                ScriptedToolCall::new(
                    "list_all_zoho_desk_ticket_comments",
                    json!({ "ticketId": id }),
                ),
            ])
        };
    }
    if !composite && turn == 1 {
        let thread = result_of(body, "list_all_zoho_desk_ticket_threads")
            .map(|r| list(&r))
            .and_then(|l| l.first().and_then(|t| t["id"].as_str().map(str::to_owned)))
            .unwrap_or_default();
        return Step::tool_call(
            "get_single_zoho_desk_ticket_thread_by_id",
            json!({ "ticketId": id, "id": thread }),
        );
    }
    let department = result_of(body, "zoho_desk_tickets_get_full_context")
        .map(|c| c["ticket"]["departmentId"].clone())
        .or_else(|| {
            result_of(body, "get_single_zoho_desk_ticket_by_id").map(|t| t["departmentId"].clone())
        })
        .and_then(|d| d.as_str().map(str::to_owned))
        .unwrap_or_default();
    if turn == reading_turns {
        return Step::tool_calls(vec![
            ScriptedToolCall::new("list_all_zoho_desk_teams", json!({})),
            ScriptedToolCall::new(
                "list_all_zoho_desk_agents",
                json!({ "status": "ACTIVE", "departmentIds": department }),
            ),
        ]);
    }
    let teams = result_of(body, "list_all_zoho_desk_teams").map_or_else(Vec::new, |r| list(&r));
    let active: Vec<String> = result_of(body, "list_all_zoho_desk_agents")
        .map_or_else(Vec::new, |r| list(&r))
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_owned))
        .collect();
    let choice = teams
        .iter()
        .filter(|t| t["departmentId"] == department.as_str())
        .find_map(|t| {
            let agent = t["agents"]
                .as_array()?
                .iter()
                .filter_map(|a| a.as_str().or_else(|| a["id"].as_str()))
                .find(|a| active.iter().any(|x| x == a))?;
            Some((
                t["id"].as_str()?.to_owned(),
                t["name"].clone(),
                agent.to_owned(),
            ))
        });
    if turn == reading_turns + 1 {
        return match &choice {
            Some((team, name, agent)) => Step::tool_calls(vec![
                ScriptedToolCall::new(
                    "update_a_zoho_desk_ticket_by_id",
                    json!({ "id": id, "teamId": team, "assigneeId": agent }),
                ),
                ScriptedToolCall::new(
                    "create_a_zoho_desk_ticket_comment",
                    json!({ "ticketId": id, "isPublic": false,
                            "content": format!("Assigned to {} (agent {agent}): the ticket's department, first team with an active agent. Confidence 0.8.", name.as_str().unwrap_or("the team")) }),
                ),
            ]),
            None => Step::tool_call(
                "create_a_zoho_desk_ticket_comment",
                json!({ "ticketId": id, "isPublic": false,
                        "content": "Left unassigned: no team of this department has an active agent. Confidence 0.3." }),
            ),
        };
    }
    Step::text(
        match choice {
            Some((team, _, agent)) => json!({
                "decision": "assign", "departmentId": department, "teamId": team,
                "assigneeId": agent, "confidence": 0.8, "reason": "first team of the department",
            }),
            None => json!({
                "decision": "abstain", "departmentId": department, "confidence": 0.3,
                "reason": "no active agent",
            }),
        }
        .to_string(),
    )
}

/// kb-grounded-reply as its prompt asks: read the ticket, get suggested articles, read the first
/// one, and post a private draft quoting its summary and citing it (a no-article note when there
/// is no suggestion), then answer.
pub fn kb_reply(body: &Value) -> Step {
    let id = ticket_in_prompt(body);
    let composite = offers(body, "zoho_desk_tickets_get_full_context");
    let turn = turns(body);
    let offset = usize::from(!composite);
    match turn {
        0 if composite => Step::tool_call(
            "zoho_desk_tickets_get_full_context",
            json!({ "ticketId": id }),
        ),
        0 => Step::tool_calls(vec![
            ScriptedToolCall::new("get_single_zoho_desk_ticket_by_id", json!({ "id": id })),
            ScriptedToolCall::new(
                "list_all_zoho_desk_ticket_threads",
                json!({ "ticketId": id }),
            ),
        ]),
        1 if !composite => {
            let thread = result_of(body, "list_all_zoho_desk_ticket_threads")
                .map(|r| list(&r))
                .and_then(|l| l.first().and_then(|t| t["id"].as_str().map(str::to_owned)))
                .unwrap_or_default();
            Step::tool_call(
                "get_single_zoho_desk_ticket_thread_by_id",
                json!({ "ticketId": id, "id": thread }),
            )
        }
        t if t == 1 + offset => Step::tool_call(
            "zoho_desk_tickets_suggest_relevant_articles_for_ticket",
            json!({ "ticketId": id, "departmentId": "0" }),
        ),
        t if t == 2 + offset => {
            let first = result_of(
                body,
                "zoho_desk_tickets_suggest_relevant_articles_for_ticket",
            )
            .map(|r| list(&r))
            .and_then(|l| l.first().and_then(|a| a["id"].as_str().map(str::to_owned)));
            match first {
                Some(article) => Step::tool_call(
                    "get_single_zoho_desk_kb_article_by_id",
                    json!({ "id": article }),
                ),
                None => Step::tool_call(
                    "create_a_zoho_desk_ticket_comment",
                    json!({ "ticketId": id, "isPublic": false,
                            "content": "No knowledge-base article answers this ticket." }),
                ),
            }
        }
        t if t == 3 + offset => match result_of(body, "get_single_zoho_desk_kb_article_by_id") {
            Some(article) => Step::tool_call(
                "create_a_zoho_desk_ticket_comment",
                json!({ "ticketId": id, "isPublic": false, "content": format!(
                    "Draft reply:\nHello,\n\n{}\n\nSource: \"{}\" (article {}).",
                    article["summary"].as_str().unwrap_or_default(),
                    article["title"].as_str().unwrap_or_default(),
                    article["id"].as_str().unwrap_or_default(),
                ) }),
            ),
            None => Step::text(
                json!({ "action": "no_article", "articleIds": [], "confidence": 0.6,
                        "reason": "no suggestion" })
                .to_string(),
            ),
        },
        _ => {
            let cited: Vec<Value> = result_of(body, "get_single_zoho_desk_kb_article_by_id")
                .map(|a| vec![a["id"].clone()])
                .unwrap_or_default();
            let action = if cited.is_empty() {
                "no_article"
            } else {
                "drafted"
            };
            Step::text(
                json!({ "action": action, "articleIds": cited, "confidence": 0.7,
                        "reason": "the first suggested article" })
                .to_string(),
            )
        }
    }
}

/// Where the shipped triage system prompt puts the org directory.
const DIRECTORY_MARKER: &str = "then the active agents):\n";

/// The org directory a decide-mode triage prompt carries (the run context), if any.
pub fn directory_in_prompt(body: &Value) -> Option<Value> {
    let system = messages(body)
        .iter()
        .find(|m| m["role"] == "system")
        .and_then(|m| m["content"].as_str().map(str::to_owned))?;
    let at = system.find(DIRECTORY_MARKER)? + DIRECTORY_MARKER.len();
    serde_json::Deserializer::from_str(&system[at..])
        .into_iter::<Value>()
        .next()?
        .ok()
}

/// The department the decide-mode prompt says the ticket is in.
fn department_in_prompt(body: &Value) -> String {
    let prompt = messages(body)
        .iter()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str().map(str::to_owned))
        .unwrap_or_default();
    prompt
        .split("currently in department ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .unwrap_or_default()
        .to_owned()
}

/// triage-and-assign in decide mode, as its prompt asks: one decision from the directory and the
/// prefetched ticket, no tool. It keeps the ticket in its department, picks the first team with
/// an active agent and that team's least-loaded agent (the same choice [`triage`] makes, with the
/// load the directory shows), or abstains when the department has no active agent.
pub fn triage_decision(body: &Value) -> Step {
    let department = department_in_prompt(body);
    let directory = directory_in_prompt(body).unwrap_or_default();
    let agents: Vec<&Value> = directory["agents"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let teams = directory["departments"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["id"] == department.as_str())
        .and_then(|d| d["teams"].as_array().cloned())
        .unwrap_or_default();
    let choice = teams.iter().find_map(|t| {
        let members = t["agentIds"].as_array()?;
        let agent = agents
            .iter()
            .filter(|a| members.contains(&a["id"]))
            .filter(|a| {
                a["departmentIds"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|d| d == department.as_str()))
            })
            .min_by_key(|a| a["openTickets"].as_u64().unwrap_or(0))?;
        Some((t["id"].clone(), agent["id"].clone()))
    });
    Step::text(
        match choice {
            Some((team, agent)) => json!({
                "decision": "assign", "departmentId": department, "teamId": team,
                "assigneeId": agent, "confidence": 0.8,
                "reason": "the ticket's department; the first team with an active agent, its least-loaded member",
            }),
            None => json!({
                "decision": "abstain", "departmentId": department, "teamId": null,
                "assigneeId": null, "confidence": 0.3, "reason": "no active agent",
            }),
        }
        .to_string(),
    )
}

/// triage-and-assign in whichever mode the request shows: a decision when no tool is offered,
/// else the tool-using agent.
pub fn triage_any(body: &Value) -> Step {
    if body["tools"].as_array().is_some_and(|t| !t.is_empty()) {
        triage(body)
    } else {
        triage_decision(body)
    }
}

/// Where the shipped kb-grounded-reply prompt puts the prefetched articles.
const ARTICLES_MARKER: &str = "best first ([] when the knowledge base suggests none):\n";

/// The articles a decide-mode kb-grounded-reply prompt carries (the prefetch), best first.
pub fn articles_in_prompt(body: &Value) -> Vec<Value> {
    let prompt = messages(body)
        .iter()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let Some(at) = prompt.find(ARTICLES_MARKER) else {
        return Vec::new();
    };
    serde_json::Deserializer::from_str(&prompt[at + ARTICLES_MARKER.len()..])
        .into_iter::<Value>()
        .next()
        .and_then(Result::ok)
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

/// kb-grounded-reply in decide mode, as its prompt asks: one decision from the prefetched
/// articles, no tool. It answers from the first article (its summary, citing it), the same
/// choice [`kb_reply`] makes, or decides no_article when none was suggested.
pub fn kb_reply_decision(body: &Value) -> Step {
    let decision = match articles_in_prompt(body).first() {
        Some(a) => {
            let id = a["id"].as_str().unwrap_or_default();
            json!({
                "action": "drafted",
                "articleIds": [id],
                "reply": format!(
                    "Hello,\n\n{}\n\nSource: \"{}\" (article {id}).",
                    a["summary"].as_str().unwrap_or_default(),
                    a["title"].as_str().unwrap_or_default(),
                ),
                "confidence": 0.7,
                "reason": "the first suggested article",
            })
        }
        None => json!({
            "action": "no_article", "articleIds": [], "reply": null, "confidence": 0.6,
            "reason": "no suggestion",
        }),
    };
    Step::text(decision.to_string())
}

/// kb-grounded-reply in whichever mode the request shows.
pub fn kb_reply_any(body: &Value) -> Step {
    if body["tools"].as_array().is_some_and(|t| !t.is_empty()) {
        kb_reply(body)
    } else {
        kb_reply_decision(body)
    }
}
