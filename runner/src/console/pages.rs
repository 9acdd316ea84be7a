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
                            a href="/schedules" { "Schedules" }
                            a href="/mcp-servers" { "MCP servers" }
                            a href="/api-tokens" { "API tokens" }
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
        .map(|args| args.iter().filter(|(k, v)| super::editable(k, v)).collect())
        .unwrap_or_default();
    html! {
        @if !fields.is_empty() {
            details.edit id=(format!("edit-{}", a.id)) {
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

fn flash_list(flash: &[String]) -> Markup {
    html! {
        @if !flash.is_empty() {
            div.flash role="status" {
                ul { @for m in flash { li { (m) } } }
            }
        }
    }
}

fn expiry(at: Option<i64>) -> String {
    at.map_or_else(|| "never".to_owned(), crate::cli::mcp::format_ms)
}

/// Hosted MCP servers: the list (never a URL), a create form, revoke buttons.
pub fn servers(
    csrf: &str,
    servers: &[zoho_desk_mcp::registry::ServerRecord],
    flash: &[String],
) -> Markup {
    use crate::cli::mcp::or_all;
    layout(
        "MCP servers",
        Some(csrf),
        html! {
            (flash_list(flash))
            p { "Hosted servers are served by " code { "deskhand mcp serve --http" } " at " code { "/mcp/<token>" } ". A server's URL is its credential: it is shown once, when the server is created." }
            @if servers.is_empty() {
                p { "No hosted MCP servers yet." }
            } @else {
                div.scroll {
                    table {
                        thead { tr { th { "Name" } th { "Id" } th { "Connection" } th { "Methods" } th { "Tags" } th { "API-token auth" } th { "Expires" } th { span.hidden { "Revoke" } } } }
                        tbody {
                            @for s in servers {
                                tr {
                                    td { (s.name) }
                                    td { code { (s.id) } }
                                    td { (s.connection) }
                                    td { (or_all(&s.methods)) }
                                    td { (or_all(&s.tags)) }
                                    td { @if s.require_api_token_auth { "required" } @else { "no" } }
                                    td { (expiry(s.expires_at)) }
                                    td {
                                        form.inline method="post" action="/mcp-servers/revoke" {
                                            input type="hidden" name="csrf" value=(csrf);
                                            input type="hidden" name="id" value=(s.id);
                                            button type="submit" aria-label=(format!("Revoke {}", s.name)) { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Create a server" }
            form method="post" action="/mcp-servers" {
                input type="hidden" name="csrf" value=(csrf);
                label for="name" { "Name" }
                input #name type="text" name="name" required maxlength="64";
                label for="connection" { "Connection" }
                input #connection type="text" name="connection" value="default";
                label for="methods" { "Methods (read, write, or method names; comma-separated; empty: all)" }
                input #methods type="text" name="methods";
                label for="tags" { "Tags (comma-separated; empty: all)" }
                input #tags type="text" name="tags";
                label for="expires_at" { "Expires at (RFC 3339, e.g. 2030-01-31T18:00:00Z; empty: never)" }
                input #expires_at type="text" name="expires_at";
                label { input type="checkbox" name="require_api_token_auth"; " Clients must also send an admin API token" }
                label { input type="checkbox" name="discovery"; " Discovery tools only (search, schema, call)" }
                button type="submit" { "Create server" }
            }
        },
    )
}

/// The one page that shows a new server's URL.
pub fn server_created(
    csrf: &str,
    record: &zoho_desk_mcp::registry::ServerRecord,
    url: &str,
) -> Markup {
    layout(
        "MCP server created",
        Some(csrf),
        html! {
            p { "Server " strong { (record.name) } " (" code { (record.id) } ") was created. Its URL is shown here once and never again; copy it now. Anyone with the URL can use the server" @if record.require_api_token_auth { " (with an admin API token)" } "." }
            p.secret { (url) }
            p { a href="/mcp-servers" { "Back to MCP servers" } }
        },
    )
}

/// Admin API tokens: the list (never a token), a create form, revoke buttons.
pub fn tokens(
    csrf: &str,
    tokens: &[zoho_desk_mcp::registry::ApiTokenRecord],
    flash: &[String],
) -> Markup {
    layout(
        "API tokens",
        Some(csrf),
        html! {
            (flash_list(flash))
            p { "Admin API tokens sign in to this console, call " code { "/admin" } " and authorise servers that require them. A token is shown once, when it is created." }
            @if tokens.is_empty() {
                p { "No API tokens." }
            } @else {
                div.scroll {
                    table {
                        thead { tr { th { "Name" } th { "Id" } th { "Created" } th { "Expires" } th { span.hidden { "Revoke" } } } }
                        tbody {
                            @for t in tokens {
                                tr {
                                    td { (t.name) }
                                    td { code { (t.id) } }
                                    td { (time(t.created_at)) }
                                    td { (expiry(t.expires_at)) }
                                    td {
                                        form.inline method="post" action="/api-tokens/revoke" {
                                            input type="hidden" name="csrf" value=(csrf);
                                            input type="hidden" name="id" value=(t.id);
                                            button type="submit" aria-label=(format!("Revoke {}", t.name)) { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Create a token" }
            form method="post" action="/api-tokens" {
                input type="hidden" name="csrf" value=(csrf);
                label for="name" { "Name" }
                input #name type="text" name="name" required;
                label for="expires_at" { "Expires at (RFC 3339; empty: never)" }
                input #expires_at type="text" name="expires_at";
                button type="submit" { "Create token" }
            }
        },
    )
}

/// The one page that shows a new API token.
pub fn token_created(
    csrf: &str,
    record: &zoho_desk_mcp::registry::ApiTokenRecord,
    token: &str,
) -> Markup {
    layout(
        "API token created",
        Some(csrf),
        html! {
            p { "Token " strong { (record.name) } " (" code { (record.id) } ") was created. It is shown here once and never again; copy it now." }
            p.secret { (token) }
            p { a href="/api-tokens" { "Back to API tokens" } }
        },
    )
}

/// Scheduled workflows: cron, zone, next tick, last run, policies; broken files with their error.
pub fn schedules(csrf: &str, view: &super::schedules::SchedulesView) -> Markup {
    use super::schedules::ScheduleRow;
    layout(
        "Schedules",
        Some(csrf),
        html! {
            p { "Workflows in " code { (view.dir.display()) } " that have a " code { "schedule" } ", as " code { "deskhand schedule" } " runs them." }
            @if let Some(error) = &view.error {
                p.error role="alert" { (error) }
            }
            @if view.rows.is_empty() && view.error.is_none() {
                p { "No workflow has a schedule." }
            }
            @if !view.rows.is_empty() {
                div.scroll {
                    table {
                        thead { tr { th { "Workflow" } th { "Schedule" } th { "Next tick" } th { "Last run" } th { "Overlap" } th { "Catch-up" } th { "Writes" } } }
                        tbody {
                            @for row in &view.rows {
                                @match row {
                                    ScheduleRow::Scheduled { name, expression, timezone, next, overlap, catch_up, writes, last_run } => {
                                        tr {
                                            td { (name) }
                                            td { code { (expression) } " " small { (timezone) } }
                                            td {
                                                @match next {
                                                    Ok(Some(at)) => { (at.format("%Y-%m-%d %H:%M:%S UTC")) }
                                                    Ok(None) => { "none" }
                                                    Err(e) => { span.error { (e) } }
                                                }
                                            }
                                            td {
                                                @if let Some(r) = last_run {
                                                    a href=(format!("/runs/{}", r.id)) { "Run " (r.id) }
                                                    " " span class=(format!("state {}", r.status)) { (r.status) }
                                                    ", " (time(r.started_at))
                                                    ", " (r.counts.succeeded) "/" (r.counts.total) " ok"
                                                    @if r.counts.failed > 0 { ", " (r.counts.failed) " failed" }
                                                } @else {
                                                    "never"
                                                }
                                            }
                                            td { (overlap) }
                                            td { (catch_up) }
                                            td { (writes) }
                                        }
                                    }
                                    ScheduleRow::Broken { file, error } => {
                                        tr {
                                            td { code { (file) } }
                                            td colspan="6" { span.error { "Does not load: " (error) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if !view.unscheduled.is_empty() {
                p.hint { "Without a schedule: " (view.unscheduled.join(", ")) "." }
            }
        },
    )
}
