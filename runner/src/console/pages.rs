//! The console's pages. Every value is escaped by maud; tool arguments and results are shown as
//! the store keeps them (redacted before they were stored).

use std::collections::BTreeMap;

use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use super::TicketView;
use crate::cli::approvals::change_text;
use crate::store::{Approval, ApprovalState, RunDetail};

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

fn layout(title: &str, csrf: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · deskhand" }
                link rel="stylesheet" href="/assets/console.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    nav aria-label="Main" {
                        strong { "deskhand" }
                        @if let Some(csrf) = csrf {
                            a href="/" { "Runs" }
                            a href="/approvals" { "Approvals" }
                            form.inline method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

pub fn message(title: &str, text: &str) -> Markup {
    layout(title, None, html! { p.error role="alert" { (text) } })
}

pub fn login(error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            @if let Some(error) = error {
                p.error role="alert" { (error) }
            }
            form method="post" action="/login" {
                label for="token" { "Admin API token" }
                input #token type="password" name="token" autocomplete="off" required autofocus;
                button type="submit" { "Sign in" }
            }
            p.hint { "Create one with " code { "deskhand mcp tokens create NAME" } "." }
        },
    )
}

pub fn runs(csrf: &str, runs: &[crate::store::Run]) -> Markup {
    layout(
        "Runs",
        Some(csrf),
        html! {
            @if runs.is_empty() {
                p { "No runs yet." }
            } @else {
                div.scroll {
                    table {
                        thead { tr { th { "Run" } th { "Workflow" } th { "Status" } th { "Writes" } th { "Items ok" } th { "Failed" } th { "Started" } } }
                        tbody {
                            @for r in runs {
                                tr {
                                    td { a href=(format!("/runs/{}", r.id)) { (r.id) } }
                                    td { (r.workflow) }
                                    td { span class=(format!("state {}", r.status)) { (r.status) } }
                                    td { (r.summary.as_ref().and_then(|s| s.get("writes")).and_then(Value::as_str).unwrap_or("-")) }
                                    td { (r.counts.succeeded) "/" (r.counts.total) }
                                    td { (r.counts.failed) }
                                    td { (time(r.started_at)) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

pub fn run(csrf: &str, detail: &RunDetail) -> Markup {
    let r = &detail.run;
    layout(
        &format!("Run {} of {}", r.id, r.workflow),
        Some(csrf),
        html! {
            p {
                "Status " span class=(format!("state {}", r.status)) { (r.status) }
                ", started " (time(r.started_at))
                ", decider " (r.model.clone().unwrap_or_default())
                ", tokens " (detail.prompt_tokens() + detail.completion_tokens())
            }
            @if let Some(e) = &r.error { p.error { (e) } }
            div.scroll {
                table {
                    thead { tr { th { "Item" } th { "Attempt" } th { "Status" } th { "Decision" } th { "Writes" } th { "Tokens" } th { "Error" } } }
                    tbody {
                        @for a in &detail.attempts {
                            tr {
                                td { a href=(format!("/tickets/{}", a.attempt.item_key)) { (a.attempt.item_key) } }
                                td { (a.attempt.attempt) }
                                td { span class=(format!("state {}", a.attempt.status)) { (a.attempt.status) } }
                                td { (a.attempt.output.as_ref().and_then(|o| o.get("decision").or_else(|| o.get("action"))).and_then(Value::as_str).unwrap_or("-")) }
                                td { (a.tool_calls.iter().filter(|t| t.is_write).count()) }
                                td { (a.attempt.prompt_tokens + a.attempt.completion_tokens) }
                                td { (a.attempt.error.clone().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        },
    )
}

pub fn ticket(csrf: &str, view: &TicketView) -> Markup {
    let title = match &view.subject {
        Some(s) => format!("Ticket {} — {s}", view.wanted),
        None => format!("Ticket {}", view.wanted),
    };
    layout(
        &title,
        Some(csrf),
        html! {
            @if let Some(url) = &view.url {
                p { a href=(url) rel="noopener noreferrer" { "Open the ticket in Zoho Desk" } }
            }
            @if view.keys.is_empty() {
                p { "No run has worked this ticket." }
            }
            @if !view.approvals.is_empty() {
                h2 { "Proposed writes" }
                ul {
                    @for a in &view.approvals {
                        li {
                            "#" (a.id) " " (change_text(a)) " — " span class=(format!("state {}", a.state)) { (a.state) }
                            (edited_note(a))
                        }
                    }
                }
            }
            @for detail in &view.runs {
                section.run {
                    h2 {
                        a href=(format!("/runs/{}", detail.run.id)) { "Run " (detail.run.id) }
                        " · " (detail.run.workflow) " · " (detail.run.status) " · " (time(detail.run.started_at))
                    }
                    @for a in &detail.attempts {
                        h3 { "Attempt " (a.attempt.attempt) ": " (a.attempt.status) }
                        @if let Some(e) = &a.attempt.error { p.error { (e) } }
                        @if let Some(output) = &a.attempt.output {
                            details open {
                                summary { "Answer" }
                                pre { (pretty(output)) }
                            }
                        }
                        @if !a.steps.is_empty() {
                            h4 { "Model steps" }
                            ol {
                                @for s in &a.steps {
                                    li { (s.model) ": " (s.prompt_tokens) " + " (s.completion_tokens) " tokens, " (s.latency_ms) " ms" @if let Some(f) = &s.finish_reason { ", " (f) } }
                                }
                            }
                        }
                        @if !a.tool_calls.is_empty() {
                            h4 { "Tool calls" }
                            @for t in &a.tool_calls {
                                details {
                                    summary {
                                        "step " (t.step) ": " code { (t.tool) }
                                        @if t.is_write { " (write)" }
                                        " — " (t.outcome)
                                        @if let Some(status) = t.http_status { " " (status) }
                                    }
                                    p { "Arguments" }
                                    pre { (pretty(&t.arguments)) }
                                    @if let Some(result) = &t.result_summary {
                                        p { "Result" }
                                        pre { (result) }
                                    }
                                }
                            }
                        }
                        @if !a.retries.is_empty() {
                            h4 { "Retries" }
                            ul {
                                @for r in &a.retries {
                                    li { (r.layer) " #" (r.attempt) ": " (r.reason) " (waited " (r.wait_ms) " ms)" }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// The decision's reason and confidence, as one line.
fn why(a: &Approval) -> String {
    let mut parts = Vec::new();
    if let Some(r) = &a.reason {
        parts.push(format!("Reason: {r}"));
    }
    if let Some(c) = a.confidence {
        parts.push(format!("confidence {c:.2}"));
    }
    parts.join(" · ")
}

/// For a write a reviewer edited before approving it: who, and what the agent had proposed.
fn edited_note(a: &Approval) -> Markup {
    html! {
        @if let Some(proposed) = &a.proposed_arguments {
            details.edited {
                summary { "Edited by " (a.decided_by.as_deref().unwrap_or("a reviewer")) " before approval; the agent proposed" }
                pre { (pretty(proposed)) }
            }
        }
    }
}

/// The editable arguments of a pending write, approved as edited in one step.
fn edit_form(a: &Approval) -> Markup {
    let fields: Vec<(&String, &Value)> = a
        .arguments
        .as_object()
        .map(|args| {
            args.iter()
                .filter(|(k, v)| super::editable(k, v))
                .collect()
        })
        .unwrap_or_default();
    html! {
        @if !fields.is_empty() {
            details.edit {
                summary { "Edit, then approve " (a.id) }
                @for (name, value) in &fields {
                    @let id = super::edit_field(a.id, name);
                    @let text = match value { Value::String(s) => s.clone(), Value::Null => String::new(), other => other.to_string() };
                    label for=(id) {
                        (crate::agent::writes::field_label(name))
                        @if !matches!(value, Value::String(_)) || name.ends_with("Id") {
                            " (proposed: " (a.named(value)) ")"
                        }
                    }
                    @if name.as_str() == "content" {
                        textarea id=(id) name=(id) rows="6" { (text) }
                    } @else {
                        input id=(id) type="text" name=(id) value=(text);
                    }
                }
                button type="submit" name="one" value=(format!("edit:{}", a.id)) { "Approve " (a.id) " as edited" }
            }
        }
    }
}

/// Pending (and approved or failed, not yet applied) writes grouped per ticket.
pub fn approvals(csrf: &str, open: &[Approval], flash: &[String]) -> Markup {
    let mut by_ticket: BTreeMap<(String, String), Vec<&Approval>> = BTreeMap::new();
    for a in open {
        by_ticket
            .entry((a.workflow.clone(), a.item_key.clone()))
            .or_default()
            .push(a);
    }
    layout(
        "Approvals",
        Some(csrf),
        html! {
            @if !flash.is_empty() {
                div.flash role="status" {
                    ul { @for m in flash { li { (m) } } }
                }
            }
            @if open.is_empty() {
                p { "Nothing waits for a decision." }
            } @else {
                form method="post" action="/approvals" {
                    // Enter in a text field must not approve the first write on the page: a
                    // disabled first submit button turns implicit submission off.
                    button.hidden type="submit" disabled aria-hidden="true" tabindex="-1" { "-" }
                    input type="hidden" name="csrf" value=(csrf);
                    @for ((workflow, _), items) in &by_ticket {
                        @let first = items[0];
                        section.ticket {
                            h2 {
                                a href=(format!("/tickets/{}", first.ticket_number())) { "#" (first.ticket_number()) }
                                @if let Some(s) = first.subject() { " " (s) }
                                small { " · " (workflow) }
                            }
                            @for a in items {
                                div.approval {
                                    p.head {
                                        @if a.state == ApprovalState::Pending {
                                            input type="checkbox" name="id" value=(a.id) id=(format!("pick-{}", a.id));
                                            " "
                                        }
                                        label for=(format!("pick-{}", a.id)) { "Approval " (a.id) " · " (a.tool) }
                                        " " span class=(format!("state {}", a.state)) { (a.state) }
                                    }
                                    @if let Some(content) = a.arguments.get("content").and_then(Value::as_str) {
                                        pre.text { (content) }
                                    } @else {
                                        table.changes {
                                            thead { tr { th { "Field" } th { "Current" } th { "Proposed" } } }
                                            tbody {
                                                @for c in a.changes() {
                                                    tr {
                                                        td { (crate::agent::writes::field_label(&c.field)) }
                                                        td { (c.current.as_ref().map_or_else(|| "?".to_owned(), |v| a.named(v))) }
                                                        td { (a.named(&c.proposed)) }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                    @if a.reason.is_some() || a.confidence.is_some() {
                                        p.why { (why(a)) }
                                    }
                                    (edited_note(a))
                                    @if a.state == ApprovalState::Pending {
                                        (edit_form(a))
                                    }
                                    p.actions {
                                        @match a.state {
                                            ApprovalState::Pending => {
                                                button type="submit" name="one" value=(format!("approve:{}", a.id)) { "Approve " (a.id) }
                                                " "
                                                button type="submit" name="one" value=(format!("reject:{}", a.id)) { "Reject " (a.id) }
                                            }
                                            ApprovalState::Failed | ApprovalState::Approved => {
                                                button type="submit" name="one" value=(format!("retry:{}", a.id)) { "Retry " (a.id) }
                                            }
                                            _ => {}
                                        }
                                    }
                                }
                            }
                        }
                    }
                    fieldset.bulk {
                        legend { "Checked approvals" }
                        label { input type="checkbox" name="anyway"; " Apply even if the ticket changed since the proposal" }
                        label for="note" { "Note (optional)" }
                        input #note type="text" name="note";
                        button type="submit" name="action" value="approve" { "Approve checked" }
                        " "
                        button type="submit" name="action" value="reject" { "Reject checked" }
                    }
                }
            }
        },
    )
}
