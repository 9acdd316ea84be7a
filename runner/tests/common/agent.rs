//! A scripted "model" that triages a ticket the way a tool-using LLM would, and the workflow
//! files the agent-run tests share.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use deskhand_e2e::scripted_llm::{ScriptedToolCall, Step};
use serde_json::{Value, json};

/// The comment the scripted model writes on ticket `id`.
pub fn note_for(id: &str) -> String {
    format!("Routed by the scripted model for ticket {id}: billing question, high priority.")
}

/// Messages of a recorded chat request.
pub fn messages(body: &Value) -> Vec<Value> {
    body["messages"].as_array().cloned().unwrap_or_default()
}

pub use deskhand_e2e::agents::ticket_in_prompt;

/// Tool results in the conversation so far.
pub fn tool_results(body: &Value) -> usize {
    messages(body)
        .iter()
        .filter(|m| m["role"] == "tool")
        .count()
}

/// Reads the ticket, then updates it and comments in one turn (parallel tool calls), then answers.
pub fn triage(body: &Value) -> Step {
    let id = ticket_in_prompt(body);
    match tool_results(body) {
        0 => Step::tool_call(
            "zoho_desk_tickets_get_full_context",
            json!({ "ticketId": id }),
        ),
        1 => Step::tool_calls(vec![
            ScriptedToolCall::new(
                "update_a_zoho_desk_ticket_by_id",
                json!({ "id": id, "priority": "High" }),
            ),
            ScriptedToolCall::new(
                "create_a_zoho_desk_ticket_comment",
                json!({ "ticketId": id, "content": note_for(&id), "isPublic": false }),
            ),
        ]),
        _ => Step::text(r#"{"decision": "assign", "confidence": 0.9}"#),
    }
}

/// A workflow over the first `items` tickets, with the scripted model at `llm_url`.
pub fn workflow_yaml(name: &str, llm_url: &str, items: u32, writes: &str, extra: &str) -> String {
    format!(
        r#"version: 1
name: {name}
description: Test triage over a few tickets.
model: {{ provider: openai_compatible, base_url: "{llm_url}", name: scripted }}
mcp: embedded
tools:
  - zoho_desk_tickets_get_full_context
  - update_a_zoho_desk_ticket_by_id
  - create_a_zoho_desk_ticket_comment
for_each:
  tool: list_all_zoho_desk_tickets
  args: {{ limit: {items} }}
  max_items: {items}
  fingerprint: [subject, status, assigneeId, threadCount]
prompt: prompt.md
writes: {writes}
output:
  schema:
    type: object
    required: [decision]
    properties:
      decision: {{ type: string, enum: [assign, abstain] }}
      confidence: {{ type: number }}
{extra}"#
    )
}

/// Writes the workflow and its prompt into a fresh directory; returns the workflow file.
pub fn write_workflow(yaml: &str) -> PathBuf {
    let dir = super::temp_path("workflow", "d");
    std::fs::create_dir_all(&dir).expect("workflow dir");
    std::fs::write(
        dir.join("prompt.md"),
        "Triage ticket {{ item.id }} ({{ item.subject }}).\n",
    )
    .expect("prompt");
    let path = dir.join("workflow.yaml");
    std::fs::write(&path, yaml).expect("workflow file");
    path
}

pub fn load(path: &Path) -> deskhand::workflow::Workflow {
    deskhand::workflow::Workflow::load(path, super::catalog().as_ref()).expect("workflow loads")
}

/// Comments on a ticket in the sandbox's state whose text contains `needle`.
pub fn comments_containing(state: &Value, ticket: &str, needle: &str) -> usize {
    state["tickets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["id"] == ticket)
        .flat_map(|t| t["comments"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["content"].as_str().is_some_and(|s| s.contains(needle)))
        .count()
}
