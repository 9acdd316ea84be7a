//! Tickets: list, get, search, count, create, update (PATCH only; PUT is 405) and move.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use chrono::Duration;
use serde_json::{Map, Value, json};

use super::{ApiResult, data, object, page0, search_result, time_range};
use crate::app::{App, lock};
use crate::clock::parse_iso;
use crate::input::{JsonBody, OptionalJsonBody, Params, PathIds, is_id};
use crate::record::{self, Record, as_id_string, s};
use crate::seed::{
    PRIORITIES, TicketEntry, canonical_status, contact_author, fill_thread_defaults,
    fill_ticket_defaults, refresh_ticket, status_type,
};
use crate::shapes::{
    self, TICKET_DETAIL, TICKET_DETAIL_INCLUDES, TICKET_INCLUDES, TICKET_LIST, TICKET_WRITE,
};
use crate::store::Store;
use crate::text::{contains_ci, strip_html};
use crate::zoho_error::{ApiError, FieldError};

/// Ticket channels as Zoho displays them.
const CHANNELS: &[&str] = &[
    "Email",
    "Phone",
    "Web",
    "Chat",
    "Forums",
    "Twitter",
    "Facebook",
    "Feedback",
    "Feedback Widget",
    "Customer Portal",
];

#[derive(Default)]
struct Filter {
    departments: Option<Vec<String>>,
    assignees: Option<Vec<String>>,
    unassigned: bool,
    teams: Option<Vec<String>>,
    channels: Option<Vec<String>>,
    statuses: Option<Vec<String>>,
    status_types: Option<Vec<&'static str>>,
    priorities: Option<Vec<String>>,
    contact: Option<String>,
    created_after: Option<String>,
    created_range: Option<(String, String)>,
    modified_range: Option<(String, String)>,
    category: Option<String>,
}

impl Filter {
    fn matches(&self, t: &Record) -> bool {
        let field = |k: &str| s(t, k).unwrap_or("");
        let any = |list: &Option<Vec<String>>, v: &str| {
            list.as_ref()
                .is_none_or(|l| l.iter().any(|x| x.eq_ignore_ascii_case(v)))
        };
        let assignee_ok = match (&self.assignees, self.unassigned) {
            (None, false) => true,
            (list, unassigned) => {
                let a = s(t, "assigneeId");
                (unassigned && a.is_none())
                    || a.is_some_and(|a| list.as_ref().is_some_and(|l| l.iter().any(|x| x == a)))
            }
        };
        let status_ok = match (&self.statuses, &self.status_types) {
            (None, None) => true,
            (names, types) => {
                names
                    .as_ref()
                    .is_some_and(|n| n.iter().any(|x| x.eq_ignore_ascii_case(field("status"))))
                    || types
                        .as_ref()
                        .is_some_and(|ty| ty.contains(&field("statusType")))
            }
        };
        let in_range = |k: &str, r: &Option<(String, String)>| {
            r.as_ref().is_none_or(|(a, b)| {
                let v = field(k);
                v >= a.as_str() && v <= b.as_str()
            })
        };
        any(&self.departments, field("departmentId"))
            && assignee_ok
            && (self.teams.is_none() || s(t, "teamId").is_some_and(|tm| any(&self.teams, tm)))
            && any(&self.channels, field("channel"))
            && status_ok
            && (self.priorities.is_none()
                || s(t, "priority").is_some_and(|p| any(&self.priorities, p)))
            && self
                .contact
                .as_deref()
                .is_none_or(|c| field("contactId") == c)
            && self
                .category
                .as_deref()
                .is_none_or(|c| field("category").eq_ignore_ascii_case(c))
            && self
                .created_after
                .as_deref()
                .is_none_or(|a| field("createdTime") >= a)
            && in_range("createdTime", &self.created_range)
            && in_range("modifiedTime", &self.modified_range)
    }
}

/// Status names, and status types from the `${open}` forms.
type StatusFilter = (Option<Vec<String>>, Option<Vec<&'static str>>);

fn statuses(p: &Params, key: &str, allow_types: bool) -> Result<StatusFilter, ApiError> {
    let Some(items) = p.list(key)? else {
        return Ok((None, None));
    };
    let mut names = Vec::new();
    let mut types = Vec::new();
    for i in items {
        match i.to_ascii_lowercase().as_str() {
            "${open}" if allow_types => types.push("Open"),
            "${onhold}" if allow_types => types.push("On Hold"),
            "${closed}" if allow_types => types.push("Closed"),
            _ => names.push(
                canonical_status(&i)
                    .ok_or_else(|| ApiError::invalid_param(key))?
                    .to_owned(),
            ),
        }
    }
    Ok((Some(names), Some(types)))
}

fn recent_thread_time(e: &TicketEntry) -> String {
    e.threads
        .iter()
        .filter_map(|t| s(t, "createdTime"))
        .max()
        .or_else(|| s(&e.ticket, "createdTime"))
        .unwrap_or("")
        .to_owned()
}

fn sort_tickets(list: &mut Vec<&TicketEntry>, sort: &str) {
    let (desc, key) = match sort.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, sort),
    };
    list.sort_by(|a, b| {
        let ka = match key {
            "recentThread" => recent_thread_time(a),
            // Tickets without a due date sort after those with one.
            "dueDate" => s(&a.ticket, "dueDate").unwrap_or("9999").to_owned(),
            k => s(&a.ticket, k).unwrap_or("").to_owned(),
        };
        let kb = match key {
            "recentThread" => recent_thread_time(b),
            "dueDate" => s(&b.ticket, "dueDate").unwrap_or("9999").to_owned(),
            k => s(&b.ticket, k).unwrap_or("").to_owned(),
        };
        let ord = ka
            .cmp(&kb)
            .then_with(|| record::id(&a.ticket).cmp(record::id(&b.ticket)));
        if desc { ord.reverse() } else { ord }
    });
}

const LIST_PARAMS: &[&str] = &[
    "include",
    "from",
    "limit",
    "departmentId",
    "departmentIds",
    "viewId",
    "assignee",
    "teamIds",
    "channel",
    "status",
    "priority",
    "receivedInDays",
    "sortBy",
    "fields",
];

/// GET /tickets. `from` is 0-based (the OAS default is 0). `assignee` takes agent ids or
/// `Unassigned`: the newest OAS types it as integers only, Zoho's API and SDK documentation name
/// `Unassigned` (docs/zoho-contract.md). Without `sortBy` the newest tickets come first (Zoho's UI
/// default; the API default is not documented). `viewId` is accepted but views are not modelled: every ticket the
/// other filters allow is listed. `filters` (a JSON filter) is not supported and is refused.
pub(crate) async fn list(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> ApiResult {
    let p = Params::parse(q.as_deref(), LIST_PARAMS)?;
    let from = p.int("from", 0, i64::from(i32::MAX), 0)?;
    let limit = p.int("limit", 1, 100, 25)?;
    let include = p.enum_list("include", TICKET_INCLUDES)?;
    let mut filter = Filter::default();
    if let Some(d) = p.id("departmentId")? {
        filter.departments = Some(vec![d]);
    }
    if let Some(ds) = p.id_list("departmentIds", 20)? {
        filter.departments = Some(ds);
    }
    if let Some(items) = p.list("assignee")? {
        let mut ids = Vec::new();
        for i in items {
            if i.eq_ignore_ascii_case("Unassigned") {
                filter.unassigned = true;
            } else if is_id(&i) {
                ids.push(i);
            } else {
                return Err(ApiError::invalid_param("assignee"));
            }
        }
        filter.assignees = Some(ids);
    }
    filter.teams = p.id_list("teamIds", 100)?;
    filter.channels = p.list("channel")?;
    (filter.statuses, _) = statuses(&p, "status", false)?;
    filter.priorities = p.list_max("priority", 20)?;
    p.id("viewId")?;
    let sort = p
        .one_of(
            "sortBy",
            &[
                "createdTime",
                "-createdTime",
                "dueDate",
                "-dueDate",
                "recentThread",
                "-recentThread",
            ],
        )?
        .unwrap_or("-createdTime")
        .to_owned();
    let fields: Option<Vec<String>> = p.list_max("fields", 30)?;
    if let Some(f) = &fields
        && f.iter().any(|x| !TICKET_LIST.contains(&x.as_str()))
    {
        return Err(ApiError::invalid_param("fields"));
    }
    let now = app.clock.now();
    if let Some(days) = p.one_of("receivedInDays", &["15", "30", "90", "-1"])?
        && days != "-1"
    {
        let days: i64 = days.parse().unwrap_or(0);
        filter.created_after = Some(crate::clock::iso(now - Duration::days(days)));
    }

    let store = lock(&app.store);
    let mut matched: Vec<&TicketEntry> = store
        .data
        .tickets
        .iter()
        .filter(|e| filter.matches(&e.ticket))
        .collect();
    sort_tickets(&mut matched, &sort);
    let field_list: Vec<&str> = match &fields {
        // `fields` narrows the item; `id` always comes back so the item can be addressed.
        Some(f) => std::iter::once("id")
            .chain(f.iter().map(String::as_str).filter(|x| *x != "id"))
            .collect(),
        None => TICKET_LIST.to_vec(),
    };
    let items = page0(matched, from, limit)
        .into_iter()
        .map(|e| shapes::ticket(&store, &e.ticket, &field_list, &include))
        .collect();
    Ok(data(items))
}

pub(crate) async fn get_one(
    State(app): State<Arc<App>>,
    ids: PathIds,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let id = ids.get("ticketId")?;
    let p = Params::parse(q.as_deref(), &["include"])?;
    let include = p.enum_list("include", TICKET_DETAIL_INCLUDES)?;
    let store = lock(&app.store);
    let e = store.ticket(&id).ok_or_else(ApiError::not_found)?;
    Ok(object(shapes::ticket(
        &store,
        &e.ticket,
        TICKET_DETAIL,
        &include,
    )))
}

/// The OAS bound on `from` for every search (live reports say 4999: docs/zoho-contract.md).
pub(crate) const SEARCH_MAX_FROM: i64 = 999;

const SEARCH_PARAMS: &[&str] = &[
    "_all",
    "id",
    "ticketNumber",
    "subject",
    "description",
    "email",
    "phone",
    "contactName",
    "category",
    "status",
    "priority",
    "channel",
    "departmentId",
    "assigneeId",
    "contactId",
    "createdTimeRange",
    "modifiedTimeRange",
    "sortBy",
    "from",
    "limit",
];

/// GET /tickets/search, per the OAS: 0-based `from` (0–999), `limit` 1–100 (default 10), `_all`
/// of 3 to 100 characters, other text of at least three, `assigneeId` agent ids only,
/// `departmentId` one id. Comma-separated values are OR-ed.
pub(crate) async fn search(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> ApiResult {
    let p = Params::parse(q.as_deref(), SEARCH_PARAMS)?;
    let from = p.int("from", 0, SEARCH_MAX_FROM, 0)?;
    let limit = p.int("limit", 1, 100, 10)?;
    let all = p.full_text("_all")?.map(str::to_owned);
    let mut texts: Vec<(&str, String)> = Vec::new();
    for k in [
        "subject",
        "description",
        "email",
        "phone",
        "contactName",
        "ticketNumber",
        "id",
    ] {
        let min = if matches!(k, "ticketNumber" | "id") {
            1
        } else {
            3
        };
        if let Some(v) = p.text(k, min)? {
            texts.push((k, v.to_owned()));
        }
    }
    let mut filter = Filter::default();
    if let Some(id) = p.id("departmentId")? {
        filter.departments = Some(vec![id]);
    }
    filter.assignees = p.id_list("assigneeId", 100)?;
    (filter.statuses, filter.status_types) = statuses(&p, "status", true)?;
    filter.priorities = p.list("priority")?;
    filter.channels = p.list("channel")?;
    filter.contact = p.id("contactId")?;
    filter.category = p.text("category", 1)?.map(str::to_owned);
    filter.created_range = time_range(&p, "createdTimeRange")?;
    filter.modified_range = time_range(&p, "modifiedTimeRange")?;
    let sort = p
        .one_of(
            "sortBy",
            &[
                "relevance",
                "-relevance",
                "modifiedTime",
                "-modifiedTime",
                "createdTime",
                "-createdTime",
                "customerResponseTime",
                "-customerResponseTime",
            ],
        )?
        .map(str::to_owned);

    let store = lock(&app.store);
    let mut scored: Vec<(usize, &TicketEntry)> = Vec::new();
    for e in &store.data.tickets {
        if !filter.matches(&e.ticket) {
            continue;
        }
        let t = &e.ticket;
        let contact_name = record::owned(t, "contactId")
            .and_then(|c| store.contact(&c).cloned())
            .map(|c| {
                format!(
                    "{} {}",
                    s(&c, "firstName").unwrap_or(""),
                    s(&c, "lastName").unwrap_or("")
                )
            })
            .unwrap_or_default();
        let text_ok = texts.iter().all(|(k, v)| match *k {
            "description" => contains_ci(&strip_html(s(t, "description").unwrap_or("")), v),
            "contactName" => contains_ci(&contact_name, v),
            "id" | "ticketNumber" => v.split(',').any(|x| s(t, k) == Some(x.trim())),
            k => contains_ci(s(t, k).unwrap_or(""), v),
        });
        if !text_ok {
            continue;
        }
        let score = match &all {
            None => 0,
            Some(q) => {
                let haystack = format!(
                    "{} {} {} {} {} {}",
                    s(t, "subject").unwrap_or(""),
                    strip_html(s(t, "description").unwrap_or("")),
                    s(t, "ticketNumber").unwrap_or(""),
                    s(t, "email").unwrap_or(""),
                    contact_name,
                    e.threads
                        .iter()
                        .map(|th| strip_html(s(th, "content").unwrap_or("")))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
                .to_lowercase();
                let terms: Vec<String> = q.split_whitespace().map(str::to_lowercase).collect();
                if !terms.iter().all(|term| haystack.contains(term.as_str())) {
                    continue;
                }
                terms
                    .iter()
                    .map(|term| haystack.matches(term.as_str()).count())
                    .sum()
            }
        };
        scored.push((score, e));
    }
    match sort.as_deref() {
        Some(sb) if !sb.ends_with("relevance") => {
            let mut list: Vec<&TicketEntry> = scored.iter().map(|(_, e)| *e).collect();
            sort_tickets(&mut list, sb);
            scored = list.into_iter().map(|e| (0, e)).collect();
        }
        _ => scored.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then_with(|| s(&b.1.ticket, "createdTime").cmp(&s(&a.1.ticket, "createdTime")))
                .then_with(|| record::id(&a.1.ticket).cmp(record::id(&b.1.ticket)))
        }),
    }
    let total = scored.len();
    let items = page0(scored, from, limit)
        .into_iter()
        .map(|(_, e)| shapes::ticket(&store, &e.ticket, TICKET_LIST, &[]))
        .collect();
    Ok(search_result(items, total))
}

/// GET /ticketsCount → `{"count":"N"}` (200 even for zero). The OAS parameters only: no `status`
/// (Zoho answers 422; `ticketsCountByFieldValues` counts by status), id lists of agents,
/// departments and contacts, and `customField1..3` (accepted; the sandbox has no custom fields to
/// match, so a custom-field filter matches nothing).
pub(crate) async fn count(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> ApiResult {
    let p = Params::parse(
        q.as_deref(),
        &[
            "departmentId",
            "assigneeId",
            "contactId",
            "category",
            "createdTimeRange",
            "modifiedTimeRange",
            "customField1",
            "customField2",
            "customField3",
        ],
    )?;
    let filter = Filter {
        departments: p.id_list("departmentId", 100)?,
        assignees: p.id_list("assigneeId", 100)?,
        created_range: time_range(&p, "createdTimeRange")?,
        modified_range: time_range(&p, "modifiedTimeRange")?,
        ..Filter::default()
    };
    let contacts = p.id_list("contactId", 100)?;
    let categories = p.list("category")?;
    let custom = ["customField1", "customField2", "customField3"]
        .iter()
        .any(|k| p.str(k).is_some());
    let store = lock(&app.store);
    let n = store
        .data
        .tickets
        .iter()
        .filter(|e| filter.matches(&e.ticket))
        .filter(|e| {
            contacts
                .as_ref()
                .is_none_or(|c| s(&e.ticket, "contactId").is_some_and(|x| c.iter().any(|y| y == x)))
        })
        .filter(|e| {
            categories.as_ref().is_none_or(|c| {
                s(&e.ticket, "category")
                    .is_some_and(|x| c.iter().any(|y| y.eq_ignore_ascii_case(x)))
            })
        })
        .filter(|_| !custom)
        .count();
    Ok(object(json!({ "count": n.to_string() })))
}

const WRITE_KEYS: &[&str] = &[
    "subject",
    "departmentId",
    "contactId",
    "contact",
    "description",
    "status",
    "priority",
    "assigneeId",
    "teamId",
    "email",
    "phone",
    "channel",
    "category",
    "subCategory",
    "classification",
    "language",
    "dueDate",
    "responseDueDate",
    "productId",
    "accountId",
    "cf",
    "customFields",
    "secondaryContacts",
    "uploads",
    "layoutId",
    "entitySkills",
    "sharedDepartments",
    "resolution",
];

fn unknown_keys(body: &Map<String, Value>, allowed: &[&str]) -> Vec<FieldError> {
    body.keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| FieldError::invalid(k, format!("The field '{k}' is not allowed in the input.")))
        .collect()
}

fn body_id(
    body: &Map<String, Value>,
    key: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Option<String>> {
    match body.get(key)? {
        Value::Null => Some(None),
        v => match as_id_string(v) {
            Some(id) if is_id(&id) => Some(Some(id)),
            _ => {
                errors.push(FieldError::invalid(
                    key,
                    format!("The value of '{key}' is not a valid id."),
                ));
                None
            }
        },
    }
}

/// Validates `body` against the store and applies it to `t` (a copy of the ticket). Department,
/// team and assignee are checked together: the assignee must be an ACTIVE agent of the resulting
/// department and the team must belong to it. When only the department changes, a team of the old
/// department is cleared and so is an assignee who is not an agent of the new one (Zoho's UI does
/// the same on a move).
fn apply(
    store: &Store,
    t: &mut Record,
    body: &Map<String, Value>,
    now: &str,
    errors: &mut Vec<FieldError>,
) {
    let str_field =
        |k: &str, max: usize, nullable: bool, errors: &mut Vec<FieldError>| -> Option<Value> {
            match body.get(k)? {
                Value::Null if nullable => Some(Value::Null),
                Value::String(v)
                    if v.chars().count() <= max && (nullable || !v.trim().is_empty()) =>
                {
                    Some(json!(v))
                }
                Value::String(_) => {
                    errors.push(FieldError::invalid(
                        k,
                        format!("The value of '{k}' is empty or longer than {max} characters."),
                    ));
                    None
                }
                _ => {
                    errors.push(FieldError::invalid(
                        k,
                        format!("The value of '{k}' must be a string."),
                    ));
                    None
                }
            }
        };
    if let Some(v) = str_field("subject", 255, false, errors) {
        t.insert("subject".into(), v);
    }
    if let Some(v) = str_field("description", 65_535, true, errors) {
        t.insert("description".into(), v);
    }
    for k in [
        "category",
        "subCategory",
        "classification",
        "language",
        "email",
        "phone",
        "resolution",
    ] {
        if let Some(v) = str_field(k, 65_535, true, errors) {
            t.insert(k.into(), v);
        }
    }
    if let Some(v) = body.get("status") {
        match v.as_str().and_then(canonical_status) {
            Some(st) => {
                let old_type = s(t, "statusType").unwrap_or("Open").to_owned();
                let new_type = status_type(st).unwrap_or("Open");
                t.insert("status".into(), json!(st));
                t.insert("statusType".into(), json!(new_type));
                if new_type == "Closed" && old_type != "Closed" {
                    t.insert("closedTime".into(), json!(now));
                } else if new_type != "Closed" {
                    t.insert("closedTime".into(), Value::Null);
                }
                if new_type == "On Hold" && old_type != "On Hold" {
                    t.insert("onholdTime".into(), json!(now));
                } else if new_type != "On Hold" {
                    t.insert("onholdTime".into(), Value::Null);
                }
            }
            None => errors.push(FieldError::invalid("status", "The value of 'status' is not a status of this organization (Open, On Hold, Escalated, Closed).")),
        }
    }
    if let Some(v) = body.get("priority") {
        match v {
            Value::Null => {
                t.insert("priority".into(), Value::Null);
            }
            Value::String(p) => match PRIORITIES.iter().find(|x| x.eq_ignore_ascii_case(p)) {
                Some(p) => {
                    t.insert("priority".into(), json!(p));
                }
                None => errors.push(FieldError::invalid(
                    "priority",
                    "The value of 'priority' is not one of High, Medium, Low.",
                )),
            },
            _ => errors.push(FieldError::invalid(
                "priority",
                "The value of 'priority' must be a string.",
            )),
        }
    }
    if let Some(v) = body.get("channel") {
        match v
            .as_str()
            .and_then(|c| CHANNELS.iter().find(|x| x.eq_ignore_ascii_case(c)))
        {
            Some(c) => {
                t.insert("channel".into(), json!(c));
            }
            None => errors.push(FieldError::invalid(
                "channel",
                format!(
                    "The value of 'channel' is not one of {}.",
                    CHANNELS.join(", ")
                ),
            )),
        }
    }
    for k in ["dueDate", "responseDueDate"] {
        if let Some(v) = body.get(k) {
            match v {
                Value::Null => {
                    t.insert(k.into(), Value::Null);
                }
                Value::String(d) if parse_iso(d).is_some() => {
                    t.insert(k.into(), json!(parse_iso(d).map(crate::clock::iso)));
                }
                _ => errors.push(FieldError::invalid(
                    k,
                    format!("The value of '{k}' is not an ISO-8601 date-time."),
                )),
            }
        }
    }
    for k in ["productId", "accountId"] {
        if let Some(Some(_)) = body_id(body, k, errors) {
            errors.push(FieldError::invalid(
                k,
                format!("The {k} does not exist in this organization."),
            ));
        }
    }
    if let Some(Some(c)) = body_id(body, "contactId", errors) {
        if store.contact(&c).is_some() {
            t.insert("contactId".into(), json!(c));
        } else {
            errors.push(FieldError::invalid(
                "contactId",
                "The contact does not exist.",
            ));
        }
    } else if body.get("contactId") == Some(&Value::Null) {
        errors.push(FieldError::invalid(
            "contactId",
            "A ticket must have a contact.",
        ));
    }
    for k in ["cf", "customFields"] {
        match body.get(k) {
            None => {}
            Some(Value::Object(m)) => {
                if k == "cf"
                    && let Some(bad) = m.keys().find(|key| !key.starts_with("cf_"))
                {
                    errors.push(FieldError::invalid(
                        &format!("cf/{bad}"),
                        "Custom field API names start with 'cf_'.",
                    ));
                    continue;
                }
                let mut cur = t
                    .get(k)
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                for (key, val) in m {
                    cur.insert(key.clone(), val.clone());
                }
                t.insert(k.into(), Value::Object(cur));
            }
            Some(_) => errors.push(FieldError::invalid(
                k,
                format!("The value of '{k}' must be an object."),
            )),
        }
    }
    if let Some(v) = body.get("secondaryContacts") {
        let ids: Option<Vec<String>> = v
            .as_array()
            .map(|a| a.iter().filter_map(as_id_string).collect());
        match ids {
            Some(ids) if ids.len() <= 20 && ids.iter().all(|c| store.contact(c).is_some()) => {
                t.insert("secondaryContacts".into(), json!(ids));
            }
            _ => errors.push(FieldError::invalid(
                "secondaryContacts",
                "secondaryContacts must list at most 20 existing contact ids.",
            )),
        }
    }
    for k in ["uploads", "entitySkills", "sharedDepartments"] {
        match body.get(k) {
            None => {}
            Some(Value::Array(a)) if a.is_empty() => {}
            Some(_) => errors.push(FieldError::invalid(
                k,
                format!(
                    "The sandbox organization has nothing '{k}' can refer to; send an empty array."
                ),
            )),
        }
    }
    if let Some(Some(l)) = body_id(body, "layoutId", errors)
        && Some(l.as_str()) != s(t, "layoutId")
    {
        errors.push(FieldError::invalid(
            "layoutId",
            "The layout does not belong to the ticket's department.",
        ));
    }

    // Department, then team and assignee against the resulting department.
    let old_dept = record::owned(t, "departmentId").unwrap_or_default();
    let mut dept = old_dept.clone();
    if let Some(d) = body_id(body, "departmentId", errors) {
        match d.as_deref().and_then(|d| store.department(d)) {
            Some(rec) if record::flag(rec, "isEnabled") => dept = record::id(rec).to_owned(),
            _ => errors.push(FieldError::invalid(
                "departmentId",
                "The department does not exist or is disabled.",
            )),
        }
    }
    if dept != old_dept {
        t.insert("departmentId".into(), json!(dept));
        let layout_name = format!(
            "{} Layout",
            store
                .department(&dept)
                .and_then(|d| s(d, "name"))
                .unwrap_or("Standard")
        );
        t.insert("layoutId".into(), json!(dept));
        t.insert(
            "layoutDetails".into(),
            json!({"id": dept, "layoutName": layout_name}),
        );
        if let Some(team) = s(t, "teamId")
            && store.team(team).and_then(|tm| s(tm, "departmentId")) != Some(dept.as_str())
        {
            t.insert("teamId".into(), Value::Null);
        }
        if let Some(a) = s(t, "assigneeId")
            && !store
                .agent(a)
                .is_some_and(|a| record::id_array(a, "associatedDepartmentIds").contains(&dept))
        {
            t.insert("assigneeId".into(), Value::Null);
        }
    }
    // The OAS types teamId string|integer (no null); an empty string clears the team.
    let team_arg = match body.get("teamId") {
        Some(Value::Null) => {
            errors.push(FieldError::invalid(
                "teamId",
                "The value of 'teamId' must be a team id, or \"\" to clear the team.",
            ));
            None
        }
        Some(Value::String(v)) if v.is_empty() => Some(None),
        _ => body_id(body, "teamId", errors),
    };
    match team_arg {
        Some(None) => {
            t.insert("teamId".into(), Value::Null);
        }
        Some(Some(team)) => match store.team(&team) {
            Some(tm) if s(tm, "departmentId") == Some(dept.as_str()) => {
                t.insert("teamId".into(), json!(team));
            }
            _ => errors.push(FieldError::invalid(
                "teamId",
                "The team does not exist in the ticket's department.",
            )),
        },
        None => {}
    }
    match body_id(body, "assigneeId", errors) {
        Some(None) => {
            t.insert("assigneeId".into(), Value::Null);
        }
        Some(Some(a)) => match store.agent(&a) {
            Some(ag)
                if s(ag, "status") == Some("ACTIVE")
                    && record::id_array(ag, "associatedDepartmentIds").contains(&dept) =>
            {
                t.insert("assigneeId".into(), json!(a));
            }
            _ => errors.push(FieldError::invalid(
                "assigneeId",
                "The assignee is not an active agent of the ticket's department.",
            )),
        },
        None => {}
    }
}

/// POST /tickets. Zoho answers 200 (not 201) with the ticket.
pub(crate) async fn create(
    State(app): State<Arc<App>>,
    RawQuery(q): RawQuery,
    JsonBody(body): JsonBody,
) -> ApiResult {
    Params::parse(q.as_deref(), &[])?;
    let mut errors = unknown_keys(&body, WRITE_KEYS);
    if !errors.is_empty() {
        return Err(ApiError::invalid_data(errors));
    }
    if !body.contains_key("subject") {
        errors.push(FieldError::missing("subject"));
    }
    if !body.contains_key("departmentId") {
        errors.push(FieldError::missing("departmentId"));
    }
    if !body.contains_key("contactId") && !body.contains_key("contact") {
        errors.push(FieldError::missing("contactId"));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid_data(errors));
    }
    let now = app.clock.now_iso();
    let mut store = lock(&app.store);
    let tid = store.ids.next();
    let number = store.next_ticket_number;

    // The contact: by id, or matched by e-mail, or created.
    let mut new_contact: Option<Record> = None;
    let contact_id = if let Some(v) = body.get("contactId") {
        match as_id_string(v) {
            Some(c) if store.contact(&c).is_some() => c,
            _ => {
                return Err(ApiError::invalid_data(vec![FieldError::invalid(
                    "contactId",
                    "The contact does not exist.",
                )]));
            }
        }
    } else {
        let Some(c) = body.get("contact").and_then(Value::as_object) else {
            return Err(ApiError::invalid_data(vec![FieldError::invalid(
                "contact",
                "The value of 'contact' must be an object.",
            )]));
        };
        // The OAS contact object: lastName and email required, firstName optional, nothing else.
        let allowed = ["firstName", "lastName", "email"];
        let mut bad = unknown_keys(c, &allowed);
        for k in ["lastName", "email"] {
            match c.get(k) {
                Some(Value::String(v)) if !v.trim().is_empty() => {}
                Some(Value::String(_)) | None | Some(Value::Null) => {
                    bad.push(FieldError::missing(k))
                }
                Some(_) => bad.push(FieldError::invalid(
                    k,
                    format!("The value of '{k}' must be a string."),
                )),
            }
        }
        if let Some(e) = s(c, "email")
            && !e.trim().is_empty()
            && !crate::text::looks_like_email(e)
        {
            bad.push(FieldError::invalid(
                "email",
                "The value of 'email' is not an e-mail address.",
            ));
        }
        if !bad.is_empty() {
            return Err(ApiError::invalid_data(
                bad.into_iter()
                    .map(|mut e| {
                        e.field = format!("/contact{}", e.field);
                        e
                    })
                    .collect(),
            ));
        }
        let email = s(c, "email").map(str::to_owned);
        let existing = email.as_ref().and_then(|em| {
            store
                .data
                .contacts
                .iter()
                .find(|x| s(x, "email").is_some_and(|e| e.eq_ignore_ascii_case(em)))
                .map(|x| record::id(x).to_owned())
        });
        match existing {
            Some(id) => id,
            None => {
                let last = s(c, "lastName").unwrap_or_default().to_owned();
                let cid = store.ids.next();
                let mut rec = Record::new();
                rec.insert("id".into(), json!(cid));
                rec.insert("lastName".into(), json!(last));
                for k in ["firstName", "email"] {
                    rec.insert(k.into(), c.get(k).cloned().unwrap_or(Value::Null));
                }
                rec.insert("createdTime".into(), json!(now));
                rec.insert("modifiedTime".into(), json!(now));
                new_contact = Some(rec);
                cid
            }
        }
    };
    let mut contact_rec = match &new_contact {
        Some(c) => c.clone(),
        None => store.contact(&contact_id).cloned().unwrap_or_default(),
    };
    if new_contact.is_some() {
        // Fill the contact's defaults the way a seed contact gets them.
        let seed = crate::seed::SeedData::from_value(
            json!({"contacts": [Value::Object(contact_rec.clone())]}),
        );
        if let Ok(seed) = seed
            && let Some(c) = seed.contacts.into_iter().next()
        {
            contact_rec = c;
        }
    }

    let dept = body
        .get("departmentId")
        .and_then(as_id_string)
        .unwrap_or_default();
    let mut t = Record::new();
    t.insert("id".into(), json!(tid));
    t.insert("ticketNumber".into(), json!(number.to_string()));
    t.insert("subject".into(), json!(""));
    t.insert("departmentId".into(), json!(dept));
    t.insert("layoutId".into(), json!(dept));
    t.insert("contactId".into(), json!(contact_id));
    t.insert("status".into(), json!("Open"));
    t.insert("statusType".into(), json!("Open"));
    t.insert("createdTime".into(), json!(now));
    let mut body_wo_contact = body.clone();
    body_wo_contact.remove("contact");
    body_wo_contact.remove("contactId");
    body_wo_contact.remove("departmentId");
    if store
        .department(&dept)
        .is_none_or(|d| !record::flag(d, "isEnabled"))
    {
        errors.push(FieldError::invalid(
            "departmentId",
            "The department does not exist or is disabled.",
        ));
    }
    apply(&store, &mut t, &body_wo_contact, &now, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid_data(errors));
    }
    let dept_names = store
        .data
        .departments
        .iter()
        .map(|d| {
            (
                record::id(d).to_owned(),
                s(d, "name").unwrap_or("").to_owned(),
            )
        })
        .collect();
    let me = store.current_agent().map(|a| record::id(a).to_owned());
    t.insert("createdBy".into(), json!(me));
    t.insert("modifiedBy".into(), json!(me));
    fill_ticket_defaults(&mut t, &contact_rec, &now, &dept_names);
    let mut entry = TicketEntry {
        ticket: t,
        threads: Vec::new(),
        comments: Vec::new(),
    };
    if let Some(desc) = s(&entry.ticket, "description").map(str::to_owned) {
        let mut th = Record::new();
        th.insert("id".into(), json!(store.ids.next()));
        th.insert("content".into(), json!(desc));
        th.insert("direction".into(), json!("in"));
        th.insert("isDescriptionThread".into(), json!(true));
        let support = store
            .support_addresses(&dept)
            .into_iter()
            .next()
            .unwrap_or_default();
        let channel = s(&entry.ticket, "channel").unwrap_or("Email").to_owned();
        fill_thread_defaults(
            &mut th,
            &channel,
            &now,
            Some(contact_author(&contact_rec)),
            &contact_rec,
            &support,
        );
        entry.threads.push(th);
    }
    refresh_ticket(&mut entry);
    if new_contact.is_some() {
        store.data.contacts.push(contact_rec);
    }
    store.next_ticket_number += 1;
    let out = shapes::ticket(&store, &entry.ticket, TICKET_WRITE, &[]);
    store.data.tickets.push(entry);
    Ok(object(out))
}

/// PATCH /tickets/{id}: any subset of the create fields.
pub(crate) async fn update(
    State(app): State<Arc<App>>,
    ids: PathIds,
    RawQuery(q): RawQuery,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let id = ids.get("ticketId")?;
    let p = Params::parse(q.as_deref(), &["disableClosureNotification"])?;
    p.bool("disableClosureNotification")?;
    let errors = unknown_keys(
        &body,
        &WRITE_KEYS
            .iter()
            .copied()
            .filter(|k| *k != "contact")
            .collect::<Vec<_>>(),
    );
    if !errors.is_empty() {
        return Err(ApiError::invalid_data(errors));
    }
    let now = app.clock.now_iso();
    let mut store = lock(&app.store);
    let mut t = store
        .ticket(&id)
        .ok_or_else(ApiError::not_found)?
        .ticket
        .clone();
    let mut errors = Vec::new();
    apply(&store, &mut t, &body, &now, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid_data(errors));
    }
    save(&mut store, &id, t, &now)
}

fn save(store: &mut Store, id: &str, mut t: Record, now: &str) -> ApiResult {
    let me = store.current_agent().map(|a| record::id(a).to_owned());
    t.insert("modifiedTime".into(), json!(now));
    t.insert("modifiedBy".into(), json!(me));
    let entry = store.ticket_mut(id).ok_or_else(ApiError::not_found)?;
    entry.ticket = t;
    refresh_ticket(entry);
    let t = entry.ticket.clone();
    Ok(object(shapes::ticket(store, &t, TICKET_WRITE, &[])))
}

/// POST /tickets/{id}/move?departmentId=…, per the newest OAS: the query parameter is required,
/// the body is optional (`{departmentId, forumId}`, nothing required; a body departmentId must
/// name the same department), and the answer is an empty 200.
pub(crate) async fn move_ticket(
    State(app): State<Arc<App>>,
    ids: PathIds,
    RawQuery(q): RawQuery,
    OptionalJsonBody(body): OptionalJsonBody,
) -> ApiResult {
    let id = ids.get("ticketId")?;
    let p = Params::parse(q.as_deref(), &["departmentId"])?;
    let dept = p.required_id("departmentId")?;
    let mut errors = unknown_keys(&body, &["departmentId", "forumId"]);
    if let Some(Some(b)) = body_id(&body, "departmentId", &mut errors)
        && b != dept
    {
        errors.push(FieldError::invalid(
            "departmentId",
            "The body's departmentId differs from the query parameter.",
        ));
    }
    if let Some(Some(_)) = body_id(&body, "forumId", &mut errors) {
        errors.push(FieldError::invalid(
            "forumId",
            "The sandbox organization has no forums to move a topic to.",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid_data(errors));
    }
    let mut body = Map::new();
    body.insert("departmentId".into(), json!(dept));
    let now = app.clock.now_iso();
    let mut store = lock(&app.store);
    let mut t = store
        .ticket(&id)
        .ok_or_else(ApiError::not_found)?
        .ticket
        .clone();
    let mut errors = Vec::new();
    apply(&store, &mut t, &body, &now, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid_data(errors));
    }
    save(&mut store, &id, t, &now)?;
    Ok(axum::http::StatusCode::OK.into_response())
}
