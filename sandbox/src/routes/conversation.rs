//! Threads (the customer-visible conversation), replies, drafts and comments (agent notes).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::{ApiResult, data, object, page, page0};
use crate::app::{App, lock};
use crate::input::{JsonBody, Params, PathIds};
use crate::record::{self, Record, s};
use crate::seed::{
    TicketEntry, agent_author, canonical_status, fill_comment_defaults, fill_thread_defaults,
    refresh_ticket, status_type, thread_channel,
};
use crate::shapes;
use crate::text::escape_html;
use crate::zoho_error::{ApiError, FieldError};

/// Thread lists: newest first by default; `sortBy=sendDateTime` is oldest first and
/// `-sendDateTime` newest first. The default `limit` is unconfirmed (reference 10); 100 is used.
pub(crate) async fn threads(
    State(app): State<Arc<App>>,
    ids: PathIds,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let id = ids.get("ticketId")?;
    let p = Params::parse(q.as_deref(), &["from", "limit", "sortBy"])?;
    let from = p.int("from", 0, i64::from(i32::MAX), 0)?;
    let limit = p.int("limit", 1, 200, 100)?;
    let sort = p
        .one_of("sortBy", &["sendDateTime", "-sendDateTime"])?
        .unwrap_or("-sendDateTime");
    let store = lock(&app.store);
    let e = store.ticket(&id).ok_or_else(ApiError::not_found)?;
    let mut list: Vec<&Record> = e.threads.iter().collect();
    sort_by_time(&mut list, "createdTime", sort.starts_with('-'));
    Ok(data(
        page(list, from, limit)
            .into_iter()
            .map(shapes::thread_list_item)
            .collect(),
    ))
}

fn sort_by_time(list: &mut [&Record], key: &str, desc: bool) {
    list.sort_by(|a, b| {
        let o = s(a, key)
            .cmp(&s(b, key))
            .then_with(|| record::id(a).cmp(record::id(b)));
        if desc { o.reverse() } else { o }
    });
}

pub(crate) async fn thread(
    State(app): State<Arc<App>>,
    ids: PathIds,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let id = ids.get("ticketId")?;
    let thread_id = ids.get("threadId")?;
    let p = Params::parse(q.as_deref(), &["include"])?;
    let plain = p
        .enum_list("include", &["plainText"])?
        .iter()
        .any(|i| i == "plainText");
    let store = lock(&app.store);
    let e = store.ticket(&id).ok_or_else(ApiError::not_found)?;
    let th = e
        .threads
        .iter()
        .find(|t| record::id(t) == thread_id)
        .ok_or_else(ApiError::not_found)?;
    Ok(object(shapes::thread_detail(th, plain)))
}

/// GET /tickets/{id}/latestThread: the newest thread that passes the filters, or 204.
pub(crate) async fn latest_thread(
    State(app): State<Arc<App>>,
    ids: PathIds,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let id = ids.get("ticketId")?;
    let p = Params::parse(
        q.as_deref(),
        &[
            "needPublic",
            "needIncomingThread",
            "include",
            "threadStatus",
        ],
    )?;
    let need_public = p.bool("needPublic")?.unwrap_or(false);
    let need_in = p.bool("needIncomingThread")?.unwrap_or(false);
    let plain = p
        .enum_list("include", &["plainText"])?
        .iter()
        .any(|i| i == "plainText");
    let status = p.one_of("threadStatus", &["SUCCESS", "PENDING", "FAILED", "DRAFT"])?;
    let store = lock(&app.store);
    let e = store.ticket(&id).ok_or_else(ApiError::not_found)?;
    let latest = e
        .threads
        .iter()
        .filter(|t| !need_public || s(t, "visibility") == Some("public"))
        .filter(|t| !need_in || s(t, "direction") == Some("in"))
        .filter(|t| match status {
            Some(st) => s(t, "status") == Some(st),
            None => s(t, "status") != Some("DRAFT"),
        })
        .max_by(|a, b| {
            s(a, "createdTime")
                .cmp(&s(b, "createdTime"))
                .then_with(|| record::id(a).cmp(record::id(b)))
        });
    Ok(match latest {
        Some(t) => object(shapes::thread_detail(t, plain)),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

const REPLY_KEYS: &[&str] = &[
    "channel",
    "content",
    "contentType",
    "fromEmailAddress",
    "to",
    "cc",
    "bcc",
    "isForward",
    "inReplyToThreadId",
    "attachmentIds",
    "ticketStatus",
    "isPrivate",
];

fn unknown(body: &Map<String, Value>, allowed: &[&str]) -> Vec<FieldError> {
    body.keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| FieldError::invalid(k, format!("The field '{k}' is not allowed in the input.")))
        .collect()
}

fn opt_str<'a>(
    body: &'a Map<String, Value>,
    key: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    match body.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(v)) => Some(v.as_str()),
        Some(_) => {
            errors.push(FieldError::invalid(
                key,
                format!("The value of '{key}' must be a string."),
            ));
            None
        }
    }
}

/// POST /tickets/{id}/sendReply → 200 with the new outgoing thread (`status: SUCCESS`).
pub(crate) async fn send_reply(
    State(app): State<Arc<App>>,
    ids: PathIds,
    RawQuery(q): RawQuery,
    JsonBody(body): JsonBody,
) -> ApiResult {
    reply(&app, ids, q, body, false)
}

/// POST /tickets/{id}/draftReply → 200 with a thread whose `status` is `DRAFT`.
pub(crate) async fn draft_reply(
    State(app): State<Arc<App>>,
    ids: PathIds,
    RawQuery(q): RawQuery,
    JsonBody(body): JsonBody,
) -> ApiResult {
    reply(&app, ids, q, body, true)
}

/// The reply body's `channel` discriminator (Thread.json `sendReply`); drafts have no TWITTER.
const REPLY_CHANNELS: &[&str] = &["EMAIL", "FACEBOOK", "TWITTER", "FORUMS"];
const DRAFT_CHANNELS: &[&str] = &["EMAIL", "FACEBOOK", "FORUMS"];
/// Fields only the EMAIL variant of the body declares.
const EMAIL_ONLY: &[&str] = &["fromEmailAddress", "to", "isForward", "attachmentIds"];

/// Replies and drafts per the OAS body variants: `channel` exactly one of the variant names (upper
/// case; no PHONE, WEB or chat), EMAIL on any ticket, another channel only on a ticket of that
/// channel; the EMAIL variant requires `fromEmailAddress` (drafts too), one of the department's
/// reply addresses, and only it takes `to`, `isForward` and `attachmentIds`.
fn reply(
    app: &Arc<App>,
    ids: PathIds,
    q: Option<String>,
    body: Map<String, Value>,
    draft: bool,
) -> ApiResult {
    let id = ids.get("ticketId")?;
    let p = Params::parse(q.as_deref(), &["isPrivate", "sendImmediately"])?;
    let private_q = p.bool("isPrivate")?;
    p.bool("sendImmediately")?;
    let mut errors = unknown(&body, REPLY_KEYS);
    if !errors.is_empty() {
        return Err(ApiError::invalid_data(errors));
    }
    let now = app.clock.now_iso();
    let mut store = lock(&app.store);
    let e = store.ticket(&id).ok_or_else(ApiError::not_found)?;
    let ticket = e.ticket.clone();
    let dept = record::owned(&ticket, "departmentId").unwrap_or_default();
    let ticket_channel = thread_channel(s(&ticket, "channel").unwrap_or("Email"));
    let channel = match opt_str(&body, "channel", &mut errors) {
        None => {
            errors.push(FieldError::missing("channel"));
            String::new()
        }
        Some(c) => {
            let allowed = if draft {
                DRAFT_CHANNELS
            } else {
                REPLY_CHANNELS
            };
            if !allowed.contains(&c) {
                errors.push(FieldError::invalid(
                    "channel",
                    format!(
                        "The value of 'channel' must be one of {}.",
                        allowed.join(", ")
                    ),
                ));
            } else if c != "EMAIL" && c != ticket_channel {
                errors.push(FieldError::invalid(
                    "channel",
                    format!("Replies on this ticket go out on EMAIL or {ticket_channel}."),
                ));
            }
            c.to_owned()
        }
    };
    if channel != "EMAIL" {
        for k in EMAIL_ONLY {
            if body.get(*k).is_some_and(|v| !v.is_null()) {
                errors.push(FieldError::invalid(
                    k,
                    format!("The field '{k}' is not allowed in the input."),
                ));
            }
        }
    }
    let content = match opt_str(&body, "content", &mut errors) {
        Some(c) if !c.trim().is_empty() => c.to_owned(),
        _ => {
            errors.push(FieldError::missing("content"));
            String::new()
        }
    };
    // E-mail replies default to plain text (reference 5.4).
    let content_type = match opt_str(&body, "contentType", &mut errors) {
        None => {
            if channel == "EMAIL" {
                "plainText"
            } else {
                "html"
            }
        }
        Some("html") => "html",
        Some("plainText") => "plainText",
        Some(_) => {
            errors.push(FieldError::invalid(
                "contentType",
                "contentType is html or plainText.",
            ));
            "html"
        }
    };
    let from = opt_str(&body, "fromEmailAddress", &mut errors).map(str::to_owned);
    let allowed_from = store.support_addresses(&dept);
    if channel == "EMAIL" {
        match &from {
            None => errors.push(FieldError::missing("fromEmailAddress")),
            Some(f) if !allowed_from.iter().any(|a| a.eq_ignore_ascii_case(f)) => errors.push(FieldError::invalid(
                "fromEmailAddress",
                "The fromEmailAddress is not a support email address configured for the ticket's department.",
            )),
            _ => {}
        }
    }
    let new_status = match opt_str(&body, "ticketStatus", &mut errors) {
        None => None,
        Some(st) => match canonical_status(st) {
            Some(st) => Some(st),
            None => {
                errors.push(FieldError::invalid(
                    "ticketStatus",
                    "The value of 'ticketStatus' is not a status of this organization.",
                ));
                None
            }
        },
    };
    let private = match body.get("isPrivate") {
        None | Some(Value::Null) => private_q.unwrap_or(false),
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(FieldError::invalid(
                "isPrivate",
                "isPrivate must be a boolean.",
            ));
            false
        }
    };
    let is_forward = body
        .get("isForward")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let Some(v) = body.get("attachmentIds")
        && v.as_array().is_none_or(|a| !a.is_empty())
    {
        errors.push(FieldError::invalid(
            "attachmentIds",
            "The sandbox holds no attachments; send an empty array.",
        ));
    }
    let (to, cc, bcc) = (
        opt_str(&body, "to", &mut errors).map(str::to_owned),
        opt_str(&body, "cc", &mut errors).map(str::to_owned),
        opt_str(&body, "bcc", &mut errors).map(str::to_owned),
    );
    if let Some(reply_to) = opt_str(&body, "inReplyToThreadId", &mut errors)
        && !e.threads.iter().any(|t| record::id(t) == reply_to)
    {
        errors.push(FieldError::invalid(
            "inReplyToThreadId",
            "The thread does not belong to this ticket.",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid_data(errors));
    }

    let contact = record::owned(&ticket, "contactId")
        .and_then(|c| store.contact(&c).cloned())
        .unwrap_or_default();
    let me = store.current_agent().cloned();
    let thread_id = store.ids.next();
    let html = if content_type == "plainText" {
        escape_html(&content).replace('\n', "<br>")
    } else {
        content.clone()
    };
    let mut th = Record::new();
    th.insert("id".into(), json!(thread_id));
    th.insert("channel".into(), json!(channel));
    th.insert("direction".into(), json!("out"));
    th.insert(
        "visibility".into(),
        json!(if private { "private" } else { "public" }),
    );
    th.insert(
        "status".into(),
        json!(if draft { "DRAFT" } else { "SUCCESS" }),
    );
    th.insert("content".into(), json!(html));
    th.insert(
        "contentType".into(),
        json!(if content_type == "plainText" {
            "text/plain"
        } else {
            "text/html"
        }),
    );
    th.insert("canReply".into(), json!(false));
    th.insert("isForward".into(), json!(is_forward));
    if channel == "EMAIL" {
        let from_addr = from
            .or_else(|| allowed_from.first().cloned())
            .unwrap_or_default();
        th.insert("fromEmailAddress".into(), json!(from_addr));
        th.insert(
            "to".into(),
            json!(
                to.or_else(|| record::owned(&contact, "email"))
                    .unwrap_or_default()
            ),
        );
        th.insert("cc".into(), json!(cc));
        th.insert("bcc".into(), json!(bcc));
    }
    if let Some(me) = &me {
        th.insert("responderId".into(), json!(record::id(me)));
    }
    if draft {
        let base = format!("/api/v1/tickets/{id}");
        th.insert("actions".into(), json!([
            {"method": "POST", "rel": "send", "href": format!("{base}/sendDraft?draftThreadId={thread_id}")},
            {"method": "PATCH", "rel": "update", "href": format!("{base}/draftReply/{thread_id}")},
            {"method": "DELETE", "rel": "delete", "href": format!("{base}/draftReply/{thread_id}")},
        ]));
    }
    let support = allowed_from.first().cloned().unwrap_or_default();
    fill_thread_defaults(
        &mut th,
        &channel,
        &now,
        me.as_ref().map(agent_author),
        &contact,
        &support,
    );
    let out = shapes::thread_detail(&th, false);
    let entry = store.ticket_mut(&id).ok_or_else(ApiError::not_found)?;
    entry.threads.push(th);
    if let Some(st) = new_status {
        entry.ticket.insert("status".into(), json!(st));
        entry
            .ticket
            .insert("statusType".into(), json!(status_type(st)));
        if st == "Closed" {
            entry.ticket.insert("closedTime".into(), json!(now));
        }
    }
    entry.ticket.insert("modifiedTime".into(), json!(now));
    refresh_ticket(entry);
    Ok(object(out))
}

/// Comments: newest first unless `sortBy=commentedTime`.
pub(crate) async fn comments(
    State(app): State<Arc<App>>,
    ids: PathIds,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let id = ids.get("ticketId")?;
    let p = Params::parse(q.as_deref(), &["include", "from", "limit", "sortBy"])?;
    let from = p.int("from", 0, i64::from(i32::MAX), 0)?;
    let limit = p.int("limit", 1, 100, 50)?;
    p.enum_list("include", &["mentions"])?;
    let sort = p
        .one_of("sortBy", &["commentedTime", "-commentedTime"])?
        .unwrap_or("-commentedTime");
    let store = lock(&app.store);
    let e = store.ticket(&id).ok_or_else(ApiError::not_found)?;
    let mut list: Vec<&Record> = e.comments.iter().collect();
    sort_by_time(&mut list, "commentedTime", sort.starts_with('-'));
    // 0-based: the OAS gives `from` a minimum of 0.
    Ok(data(
        page0(list, from, limit)
            .into_iter()
            .map(shapes::comment)
            .collect(),
    ))
}

pub(crate) async fn comment(
    State(app): State<Arc<App>>,
    ids: PathIds,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let id = ids.get("ticketId")?;
    let cid = ids.get("commentId")?;
    Params::parse(q.as_deref(), &["include"])?.enum_list("include", &["mentions"])?;
    let store = lock(&app.store);
    let e = store.ticket(&id).ok_or_else(ApiError::not_found)?;
    let c = e
        .comments
        .iter()
        .find(|c| record::id(c) == cid)
        .ok_or_else(ApiError::not_found)?;
    Ok(object(shapes::comment(c)))
}

fn comment_content(
    body: &Map<String, Value>,
    errors: &mut Vec<FieldError>,
    required: bool,
) -> Option<String> {
    match body.get("content") {
        None if required => {
            errors.push(FieldError::missing("content"));
            None
        }
        None => None,
        Some(Value::String(c)) if c.trim().is_empty() => {
            errors.push(FieldError::missing("content"));
            None
        }
        Some(Value::String(c)) if c.chars().count() > 32_000 => {
            errors.push(FieldError::invalid(
                "content",
                "The content exceeds the maximum length of 32000 characters.",
            ));
            None
        }
        Some(Value::String(c)) => Some(c.clone()),
        Some(_) => {
            errors.push(FieldError::invalid(
                "content",
                "The value of 'content' must be a string.",
            ));
            None
        }
    }
}

fn comment_type(body: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<&'static str> {
    match body.get("contentType") {
        None => None,
        Some(Value::String(t)) if t == "html" => Some("html"),
        Some(Value::String(t)) if t == "plainText" => Some("plainText"),
        Some(_) => {
            errors.push(FieldError::invalid(
                "contentType",
                "contentType is html or plainText.",
            ));
            None
        }
    }
}

/// POST /tickets/{id}/comments → 200 with the comment. `contentType` defaults to html, `isPublic` to false.
pub(crate) async fn add_comment(
    State(app): State<Arc<App>>,
    ids: PathIds,
    RawQuery(q): RawQuery,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let id = ids.get("ticketId")?;
    Params::parse(q.as_deref(), &[])?;
    let mut errors = unknown(
        &body,
        &["content", "isPublic", "contentType", "attachmentIds"],
    );
    let content = comment_content(&body, &mut errors, true);
    let ctype = comment_type(&body, &mut errors).unwrap_or("html");
    let public = match body.get("isPublic") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(FieldError::invalid(
                "isPublic",
                "isPublic must be a boolean.",
            ));
            false
        }
    };
    if let Some(v) = body.get("attachmentIds")
        && v.as_array().is_none_or(|a| !a.is_empty())
    {
        errors.push(FieldError::invalid(
            "attachmentIds",
            "The sandbox holds no attachments; send an empty array.",
        ));
    }
    let now = app.clock.now_iso();
    let mut store = lock(&app.store);
    store.ticket(&id).ok_or_else(ApiError::not_found)?;
    if !errors.is_empty() {
        return Err(ApiError::invalid_data(errors));
    }
    let me = store.current_agent().cloned();
    let mut c = Record::new();
    c.insert("id".into(), json!(store.ids.next()));
    c.insert("content".into(), json!(content.unwrap_or_default()));
    c.insert("contentType".into(), json!(ctype));
    c.insert("isPublic".into(), json!(public));
    fill_comment_defaults(&mut c, me.as_ref(), &now);
    let out = shapes::comment(&c);
    let entry = store.ticket_mut(&id).ok_or_else(ApiError::not_found)?;
    entry.comments.push(c);
    entry.ticket.insert("modifiedTime".into(), json!(now));
    refresh_ticket(entry);
    Ok(object(out))
}

/// PATCH a comment: `content` and `contentType` only; `isPublic` is fixed at creation (reference 5.5).
pub(crate) async fn update_comment(
    State(app): State<Arc<App>>,
    ids: PathIds,
    RawQuery(q): RawQuery,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let id = ids.get("ticketId")?;
    let cid = ids.get("commentId")?;
    Params::parse(q.as_deref(), &[])?;
    let mut errors = unknown(
        &body,
        &["content", "contentType", "isPublic", "attachmentIds"],
    );
    if body.contains_key("isPublic") {
        errors.push(FieldError::invalid(
            "isPublic",
            "isPublic can be set only when the comment is created.",
        ));
    }
    let content = comment_content(&body, &mut errors, false);
    let ctype = comment_type(&body, &mut errors);
    let now = app.clock.now_iso();
    let mut store = lock(&app.store);
    let entry = store.ticket_mut(&id).ok_or_else(ApiError::not_found)?;
    let c = entry
        .comments
        .iter_mut()
        .find(|c| record::id(c) == cid)
        .ok_or_else(ApiError::not_found)?;
    if !errors.is_empty() {
        return Err(ApiError::invalid_data(errors));
    }
    if let Some(content) = content {
        c.insert("encodedContent".into(), json!(escape_html(&content)));
        c.insert("content".into(), json!(content));
    }
    if let Some(t) = ctype {
        c.insert("contentType".into(), json!(t));
    }
    c.insert("modifiedTime".into(), json!(now));
    Ok(object(shapes::comment(c)))
}

pub(crate) async fn delete_comment(
    State(app): State<Arc<App>>,
    ids: PathIds,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let id = ids.get("ticketId")?;
    let cid = ids.get("commentId")?;
    Params::parse(q.as_deref(), &[])?;
    let mut store = lock(&app.store);
    let entry: &mut TicketEntry = store.ticket_mut(&id).ok_or_else(ApiError::not_found)?;
    let before = entry.comments.len();
    entry.comments.retain(|c| record::id(c) != cid);
    if entry.comments.len() == before {
        return Err(ApiError::not_found());
    }
    refresh_ticket(entry);
    Ok(StatusCode::NO_CONTENT.into_response())
}
