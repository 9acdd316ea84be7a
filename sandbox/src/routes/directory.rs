//! The org's people and structure: organizations, agents, departments, teams and contacts.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use serde_json::{Value, json};

use super::{ApiResult, data, object, page, page0, search_result};
use crate::app::{App, lock};
use crate::input::{Params, PathIds};
use crate::record::{self, Record, s};
use crate::shapes;
use crate::text::contains_ci;
use crate::zoho_error::ApiError;

/// GET /organizations: the orgs the token reaches (no orgId needed). Beyond `id` the field names
/// are unconfirmed (reference 5.12); the sandbox uses the likely ones.
pub(crate) async fn organizations(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> ApiResult {
    Params::parse(q.as_deref(), &[])?;
    let store = lock(&app.store);
    let org = &store.data.organization;
    let name = s(org, "companyName").unwrap_or("Sandbox Support");
    let portal = s(org, "portalName").unwrap_or("sandbox");
    Ok(data(vec![json!({
        "id": app.credentials.org_id,
        "companyName": name,
        "portalName": portal,
        "portalURL": format!("https://desk.zoho.eu/support/{portal}"),
        "edition": s(org, "edition").unwrap_or("ENTERPRISE"),
        "isDefault": true,
        "isAdmin": true,
        "isPayloadEncryptionEnabled": false,
    })]))
}

/// A `limit` of 0 means "all" on the agent, department and team lists (OAS minimum 0).
fn limit_or_all(n: i64) -> i64 {
    if n == 0 { i64::MAX } else { n }
}

/// GET /agents. Without `status` every agent is listed. `include=profile,role` is accepted; the
/// OAS declares no field for it, so nothing is added.
pub(crate) async fn agents(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> ApiResult {
    let p = Params::parse(
        q.as_deref(),
        &[
            "include",
            "from",
            "limit",
            "status",
            "departmentIds",
            "searchStr",
            "fieldName",
            "isLightAgent",
            "isConfirmed",
            "rolePermissionType",
            "roleIds",
            "profileIds",
            "sortOrder",
        ],
    )?;
    let from = p.int("from", 0, i64::from(i32::MAX), 0)?;
    let limit = limit_or_all(p.int("limit", 0, 200, 10)?);
    p.enum_list("include", &["profile", "role"])?;
    let status = p.one_of("status", &["ACTIVE", "DISABLED", "DELETED", "IMPORTED"])?;
    let depts = p.id_list("departmentIds", 100)?;
    let search = p.str("searchStr").map(str::to_owned);
    if search
        .as_deref()
        .is_some_and(|v| v.is_empty() || v.chars().count() > 100)
    {
        return Err(ApiError::invalid_param("searchStr"));
    }
    let field = p.one_of("fieldName", &["firstName", "lastName", "emailId", "name"])?;
    let light = p.bool("isLightAgent")?;
    let confirmed = p.bool("isConfirmed")?;
    let role_type = p.one_of(
        "rolePermissionType",
        &[
            "AgentPublic",
            "AgentPersonal",
            "AgentTeamPersonal",
            "Admin",
            "Custom",
            "Light",
        ],
    )?;
    let role_ids = p.id_list("roleIds", 100)?;
    let profile_ids = p.id_list("profileIds", 100)?;
    let order = p.one_of("sortOrder", &["asc", "desc"])?;
    let store = lock(&app.store);
    let mut list: Vec<&Record> = store
        .data
        .agents
        .iter()
        .filter(|a| status.is_none_or(|st| s(a, "status") == Some(st)))
        .filter(|a| {
            depts.as_ref().is_none_or(|d| {
                record::id_array(a, "associatedDepartmentIds")
                    .iter()
                    .any(|x| d.contains(x))
            })
        })
        .filter(|a| match (&search, field) {
            (None, _) => true,
            (Some(q), Some(f)) => contains_ci(s(a, f).unwrap_or(""), q),
            (Some(q), None) => {
                contains_ci(s(a, "name").unwrap_or(""), q)
                    || contains_ci(s(a, "emailId").unwrap_or(""), q)
            }
        })
        .filter(|a| light.is_none_or(|l| (s(a, "rolePermissionType") == Some("Light")) == l))
        .filter(|a| confirmed.is_none_or(|c| record::flag(a, "isConfirmed") == c))
        .filter(|a| role_type.is_none_or(|r| s(a, "rolePermissionType") == Some(r)))
        .filter(|a| {
            role_ids
                .as_ref()
                .is_none_or(|r| s(a, "roleId").is_some_and(|x| r.iter().any(|y| y == x)))
        })
        .filter(|a| {
            profile_ids
                .as_ref()
                .is_none_or(|r| s(a, "profileId").is_some_and(|x| r.iter().any(|y| y == x)))
        })
        .collect();
    if let Some(o) = order {
        list.sort_by(|a, b| s(a, "name").cmp(&s(b, "name")));
        if o == "desc" {
            list.reverse();
        }
    }
    Ok(data(
        page0(list, from, limit)
            .into_iter()
            .map(shapes::agent)
            .collect(),
    ))
}

pub(crate) async fn agent(
    State(app): State<Arc<App>>,
    ids: PathIds,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let id = ids.get("agentId")?;
    let p = Params::parse(q.as_deref(), &["include"])?;
    let include = p.enum_list(
        "include",
        &[
            "profile",
            "role",
            "associatedDepartments",
            "associatedChatDepartments",
            "verifiedEmails",
        ],
    )?;
    let store = lock(&app.store);
    let a = store.agent(&id).ok_or_else(ApiError::not_found)?;
    let mut out = shapes::agent(a);
    if let Some(o) = out.as_object_mut() {
        for inc in &include {
            match inc.as_str() {
                "associatedDepartments" => {
                    let ds: Vec<Value> = record::id_array(a, "associatedDepartmentIds")
                        .iter()
                        .filter_map(|d| store.department(d))
                        .map(|d| json!({"id": record::id(d), "name": s(d, "name")}))
                        .collect();
                    o.insert("associatedDepartments".into(), json!(ds));
                }
                "associatedChatDepartments" => {
                    o.insert("associatedChatDepartments".into(), json!([]));
                }
                "verifiedEmails" => {
                    o.insert("verifiedEmails".into(), json!([s(a, "emailId")]));
                }
                _ => {}
            }
        }
    }
    Ok(object(out))
}

pub(crate) async fn departments(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> ApiResult {
    let p = Params::parse(
        q.as_deref(),
        &["isEnabled", "chatStatus", "searchStr", "from", "limit"],
    )?;
    let from = p.int("from", 0, i64::from(i32::MAX), 0)?;
    let limit = limit_or_all(p.int("limit", 0, 200, 10)?);
    let enabled = p.bool("isEnabled")?;
    let chat = p.one_of(
        "chatStatus",
        &["AVAILABLE", "DISABLED", "NOT_CREATED", "${UNAVAILABLE}"],
    )?;
    let search = p.str("searchStr").map(str::to_owned);
    if search
        .as_deref()
        .is_some_and(|v| v.is_empty() || v.chars().count() > 100)
    {
        return Err(ApiError::invalid_param("searchStr"));
    }
    let store = lock(&app.store);
    let list: Vec<Value> = store
        .data
        .departments
        .iter()
        .filter(|d| enabled.is_none_or(|e| record::flag(d, "isEnabled") == e))
        .filter(|d| {
            chat.is_none_or(|c| {
                c == "${UNAVAILABLE}" && s(d, "chatStatus") != Some("AVAILABLE")
                    || s(d, "chatStatus") == Some(c)
            })
        })
        .filter(|d| {
            search
                .as_deref()
                .is_none_or(|q| contains_ci(s(d, "name").unwrap_or(""), q))
        })
        .map(|d| shapes::department(d, false))
        .collect();
    Ok(data(page0(list, from, limit)))
}

pub(crate) async fn department(
    State(app): State<Arc<App>>,
    ids: PathIds,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let id = ids.get("departmentId")?;
    Params::parse(q.as_deref(), &[])?;
    let store = lock(&app.store);
    let d = store.department(&id).ok_or_else(ApiError::not_found)?;
    Ok(object(shapes::department(d, true)))
}

/// Teams come in a `teams` envelope, and an empty list is still 200 `{"teams":[]}`.
pub(crate) async fn teams(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> ApiResult {
    let p = Params::parse(q.as_deref(), &["from", "limit"])?;
    let from = p.int("from", 0, i64::from(i32::MAX), 0)?;
    let limit = limit_or_all(p.int("limit", 0, 200, 0)?);
    let store = lock(&app.store);
    let list: Vec<Value> = store.data.teams.iter().map(shapes::team).collect();
    Ok(object(json!({ "teams": page0(list, from, limit) })))
}

pub(crate) async fn department_teams(
    State(app): State<Arc<App>>,
    ids: PathIds,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let id = ids.get("departmentId")?;
    Params::parse(q.as_deref(), &[])?;
    let store = lock(&app.store);
    store.department(&id).ok_or_else(ApiError::not_found)?;
    let list: Vec<Value> = store
        .data
        .teams
        .iter()
        .filter(|t| s(t, "departmentId") == Some(id.as_str()))
        .map(shapes::team)
        .collect();
    Ok(object(json!({ "teams": list })))
}

const CONTACT_SORTS: &[&str] = &[
    "firstName",
    "lastName",
    "phone",
    "email",
    "account",
    "createdTime",
    "modifiedTime",
    "-firstName",
    "-lastName",
    "-phone",
    "-email",
    "-account",
    "-createdTime",
    "-modifiedTime",
];

pub(crate) async fn contacts(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> ApiResult {
    let p = Params::parse(
        q.as_deref(),
        &[
            "fields", "viewId", "filterId", "from", "limit", "include", "sortBy",
        ],
    )?;
    let from = p.int("from", 0, i64::from(i32::MAX), 0)?;
    let limit = p.int("limit", 1, 99, 10)?;
    p.list_max("fields", 30)?;
    p.id("viewId")?;
    p.id("filterId")?;
    p.enum_list("include", &["accounts"])?;
    let sort = p.one_of("sortBy", CONTACT_SORTS)?;
    let store = lock(&app.store);
    let mut list: Vec<&Record> = store.data.contacts.iter().collect();
    if let Some(sb) = sort {
        let (desc, key) = sb.strip_prefix('-').map_or((false, sb), |k| (true, k));
        let key = if key == "account" { "accountId" } else { key };
        list.sort_by(|a, b| {
            let o = s(a, key)
                .unwrap_or("")
                .to_lowercase()
                .cmp(&s(b, key).unwrap_or("").to_lowercase());
            if desc { o.reverse() } else { o }
        });
    }
    Ok(data(
        page(list, from, limit)
            .into_iter()
            .map(|c| shapes::contact(c, false))
            .collect(),
    ))
}

pub(crate) async fn contact(
    State(app): State<Arc<App>>,
    ids: PathIds,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let id = ids.get("contactId")?;
    let p = Params::parse(q.as_deref(), &["include"])?;
    let include = p.enum_list("include", &["accounts", "owner"])?;
    let store = lock(&app.store);
    let c = store.contact(&id).ok_or_else(ApiError::not_found)?;
    let mut out = shapes::contact(c, true);
    if let Some(o) = out.as_object_mut() {
        for inc in include {
            match inc.as_str() {
                "accounts" => o.insert("account".into(), Value::Null),
                _ => o.insert("owner".into(), Value::Null),
            };
        }
    }
    Ok(object(out))
}

/// GET /contacts/search: 0-based `from`, `{data, count}`.
pub(crate) async fn search_contacts(
    State(app): State<Arc<App>>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let p = Params::parse(
        q.as_deref(),
        &[
            "_all",
            "email",
            "firstName",
            "lastName",
            "fullName",
            "phone",
            "mobile",
            "sortBy",
            "from",
            "limit",
        ],
    )?;
    let from = p.int("from", 0, super::tickets::SEARCH_MAX_FROM, 0)?;
    let limit = p.int("limit", 1, 100, 10)?;
    let all = p.full_text("_all")?.map(str::to_lowercase);
    let mut terms: Vec<(&str, String)> = Vec::new();
    for k in [
        "email",
        "firstName",
        "lastName",
        "fullName",
        "phone",
        "mobile",
    ] {
        if let Some(v) = p.text(k, 3)? {
            terms.push((k, v.to_owned()));
        }
    }
    let sort = p.one_of(
        "sortBy",
        &[
            "relevance",
            "modifiedTime",
            "-modifiedTime",
            "createdTime",
            "-createdTime",
        ],
    )?;
    let store = lock(&app.store);
    let name = |c: &Record| {
        format!(
            "{} {}",
            s(c, "firstName").unwrap_or(""),
            s(c, "lastName").unwrap_or("")
        )
    };
    let mut list: Vec<&Record> = store
        .data
        .contacts
        .iter()
        .filter(|c| {
            terms.iter().all(|(k, v)| match *k {
                "fullName" => contains_ci(&name(c), v),
                k => contains_ci(s(c, k).unwrap_or(""), v),
            })
        })
        .filter(|c| {
            all.as_deref().is_none_or(|q| {
                let hay = format!(
                    "{} {} {} {}",
                    name(c),
                    s(c, "email").unwrap_or(""),
                    s(c, "phone").unwrap_or(""),
                    s(c, "mobile").unwrap_or("")
                );
                q.split_whitespace().all(|t| contains_ci(&hay, t))
            })
        })
        .collect();
    if let Some(sb) = sort.filter(|s| *s != "relevance") {
        let (desc, key) = sb.strip_prefix('-').map_or((false, sb), |k| (true, k));
        list.sort_by(|a, b| {
            let o = s(a, key).cmp(&s(b, key));
            if desc { o.reverse() } else { o }
        });
    }
    let total = list.len();
    Ok(search_result(
        page0(list, from, limit)
            .into_iter()
            .map(|c| shapes::contact(c, false))
            .collect(),
        total,
    ))
}

/// GET /mailReplyAddress?departmentId=… (required): the addresses a department replies from,
/// those of the department plus org-wide ones (a seed address without a department), in the
/// OAS list shape. `isActive` filters; `from` is read like the other plain lists (the OAS gives
/// no base) and `limit` has no OAS bound, so 1–100 is the sandbox's own range.
pub(crate) async fn mail_reply_addresses(
    State(app): State<Arc<App>>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let p = Params::parse(q.as_deref(), &["departmentId", "isActive", "from", "limit"])?;
    let dept = p.required_id("departmentId")?;
    let active = p.bool("isActive")?;
    let from = p.int("from", 0, i64::from(i32::MAX), 0)?;
    let limit = p.int("limit", 1, 100, 100)?;
    let store = lock(&app.store);
    if store.department(&dept).is_none() {
        return Err(ApiError::invalid_param("departmentId"));
    }
    let creator = store
        .current_agent()
        .map(|a| {
            json!({
                "id": record::id(a),
                "firstName": a.get("firstName").cloned().unwrap_or(Value::Null),
                "lastName": a.get("lastName").cloned().unwrap_or(Value::Null),
                "email": a.get("emailId").cloned().unwrap_or(Value::Null),
                "photoURL": a.get("photoURL").cloned().unwrap_or(Value::Null),
            })
        })
        .unwrap_or(Value::Null);
    let list: Vec<Value> = store
        .data
        .support_email_addresses
        .iter()
        .filter(|e| s(e, "departmentId").is_none_or(|d| d == dept))
        .filter(|e| active.is_none_or(|want| record::flag(e, "isActive") == want))
        .map(|e| {
            json!({
                "id": record::id(e),
                "address": e.get("address").cloned().unwrap_or(Value::Null),
                "displayName": e.get("displayName").cloned().unwrap_or(Value::Null),
                "departmentId": dept,
                "isActive": record::flag(e, "isActive"),
                "isVerified": record::flag(e, "isVerified"),
                "isSmtpEnabled": false,
                "serviceProviderType": "ZohoSMTP",
                "smtpDetails": Value::Null,
                "createdBy": creator,
                "modifiedBy": creator,
                "createdTime": e.get("createdTime").cloned().unwrap_or(Value::Null),
                "modifiedTime": e.get("modifiedTime").cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(data(page(list, from, limit)))
}
