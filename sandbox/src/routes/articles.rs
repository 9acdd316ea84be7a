//! Knowledge base: article list (1-based `from`), detail, search (0-based), and suggestions for a
//! ticket ranked by relevance to its text.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{ApiResult, data, object, page0, search_result, time_range};
use crate::app::{App, lock};
use crate::input::{JsonBody, Params, PathIds, is_id};
use crate::record::{self, Record, as_id_string, s};
use crate::shapes;
use crate::suggest::rank;
use crate::text::{contains_ci, strip_html};
use crate::zoho_error::{ApiError, FieldError};

const SORTS: &[&str] = &[
    "createdTime",
    "modifiedTime",
    "likeCount",
    "viewCount",
    "feedbackCount",
    "dislikeCount",
    "-createdTime",
    "-modifiedTime",
    "-likeCount",
    "-viewCount",
    "-feedbackCount",
    "-dislikeCount",
];

fn article_text(a: &Record) -> String {
    let title = s(a, "title").unwrap_or("");
    format!(
        "{title} {title} {} {}",
        s(a, "summary").unwrap_or(""),
        strip_html(s(a, "answer").unwrap_or(""))
    )
}

/// Counts sort numerically; times as ISO strings.
fn sort_articles(list: &mut [&Record], sort: &str) {
    let (desc, key) = sort.strip_prefix('-').map_or((false, sort), |k| (true, k));
    list.sort_by(|a, b| {
        let o = if key.ends_with("Count") {
            let n = |r: &Record| s(r, key).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            n(a).cmp(&n(b))
        } else {
            s(a, key).cmp(&s(b, key))
        }
        .then_with(|| record::id(a).cmp(record::id(b)));
        if desc { o.reverse() } else { o }
    });
}

/// GET /articles: `from` ≥ 1 (1-based), `limit` 1–50 (default 10, unconfirmed); newest first
/// unless `sortBy` says otherwise.
pub(crate) async fn list(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> ApiResult {
    let p = Params::parse(
        q.as_deref(),
        &[
            "permission",
            "authorId",
            "categoryId",
            "status",
            "sortBy",
            "modifiedTimeRange",
            "expiryTimeRange",
            "from",
            "limit",
        ],
    )?;
    let from = p.int("from", 1, i64::from(i32::MAX), 1)?;
    let limit = p.int("limit", 1, 50, 10)?;
    let perms = p.enum_list("permission", &["ALL", "REGISTEREDUSERS", "AGENTS"])?;
    let statuses = p.enum_list(
        "status",
        &["Draft", "Published", "Review", "Expired", "Unpublished"],
    )?;
    let author = p.id("authorId")?;
    let category = p.id("categoryId")?;
    let sort = p.one_of("sortBy", SORTS)?.unwrap_or("-createdTime");
    let modified = time_range(&p, "modifiedTimeRange")?;
    let expiry = time_range(&p, "expiryTimeRange")?;
    let store = lock(&app.store);
    let in_range = |a: &Record, k: &str, r: &Option<(String, String)>| {
        r.as_ref()
            .is_none_or(|(x, y)| s(a, k).is_some_and(|v| v >= x.as_str() && v <= y.as_str()))
    };
    let mut list: Vec<&Record> = store
        .data
        .articles
        .iter()
        .filter(|a| {
            perms.is_empty() || perms.iter().any(|x| Some(x.as_str()) == s(a, "permission"))
        })
        .filter(|a| {
            statuses.is_empty() || statuses.iter().any(|x| Some(x.as_str()) == s(a, "status"))
        })
        .filter(|a| {
            author
                .as_deref()
                .is_none_or(|x| s(a, "authorId") == Some(x))
        })
        .filter(|a| {
            category
                .as_deref()
                .is_none_or(|x| s(a, "categoryId") == Some(x))
        })
        .filter(|a| in_range(a, "modifiedTime", &modified) && in_range(a, "expiryDate", &expiry))
        .collect();
    sort_articles(&mut list, sort);
    Ok(data(
        page0(list, from - 1, limit)
            .into_iter()
            .map(shapes::article_list_item)
            .collect(),
    ))
}

pub(crate) async fn get_one(
    State(app): State<Arc<App>>,
    ids: PathIds,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let id = ids.get("articleId")?;
    let p = Params::parse(q.as_deref(), &["version"])?;
    let store = lock(&app.store);
    let a = store.article(&id).ok_or_else(ApiError::not_found)?;
    if let Some(v) = p.str("version")
        && Some(v) != s(a, "latestVersion")
    {
        return Err(ApiError::not_found());
    }
    Ok(object(shapes::article_detail(a)))
}

/// GET /articles/search: `_all` (≥ 3 characters) matches when every term occurs; results are
/// ranked by BM25 relevance unless `sortBy` asks for a time order.
pub(crate) async fn search(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> ApiResult {
    let p = Params::parse(
        q.as_deref(),
        &[
            "_all",
            "title",
            "categoryId",
            "categoryName",
            "tag",
            "departmentId",
            "id",
            "createdTimeRange",
            "modifiedTimeRange",
            "sortBy",
            "from",
            "limit",
        ],
    )?;
    let from = p.int("from", 0, super::tickets::SEARCH_MAX_FROM, 0)?;
    let limit = p.int("limit", 1, 100, 10)?;
    let all = p.full_text("_all")?.map(str::to_owned);
    let title = p.text("title", 3)?.map(str::to_owned);
    let category = p.id("categoryId")?;
    let category_name = p.text("categoryName", 1)?.map(str::to_owned);
    let tag = p.text("tag", 1)?.map(str::to_owned);
    let dept = p.id("departmentId")?;
    let id = p.id("id")?;
    let created = time_range(&p, "createdTimeRange")?;
    let modified = time_range(&p, "modifiedTimeRange")?;
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
    let in_range = |a: &Record, k: &str, r: &Option<(String, String)>| {
        r.as_ref()
            .is_none_or(|(x, y)| s(a, k).is_some_and(|v| v >= x.as_str() && v <= y.as_str()))
    };
    let candidates: Vec<&Record> = store
        .data
        .articles
        .iter()
        .filter(|a| {
            title
                .as_deref()
                .is_none_or(|t| contains_ci(s(a, "title").unwrap_or(""), t))
        })
        .filter(|a| {
            category
                .as_deref()
                .is_none_or(|c| s(a, "categoryId") == Some(c))
        })
        .filter(|a| {
            category_name.as_deref().is_none_or(|c| {
                a.get("category")
                    .and_then(Value::as_object)
                    .and_then(|o| s(o, "name"))
                    .is_some_and(|n| contains_ci(n, c))
            })
        })
        .filter(|a| {
            tag.as_deref().is_none_or(|t| {
                a.get("tags").and_then(Value::as_array).is_some_and(|ts| {
                    ts.iter()
                        .any(|x| x.as_str().is_some_and(|x| x.eq_ignore_ascii_case(t)))
                })
            })
        })
        .filter(|a| {
            dept.as_deref()
                .is_none_or(|d| s(a, "departmentId") == Some(d))
        })
        .filter(|a| id.as_deref().is_none_or(|i| record::id(a) == i))
        .filter(|a| in_range(a, "createdTime", &created) && in_range(a, "modifiedTime", &modified))
        .filter(|a| {
            all.as_deref().is_none_or(|q| {
                let hay = article_text(a).to_lowercase();
                q.split_whitespace()
                    .all(|t| hay.contains(&t.to_lowercase()))
            })
        })
        .collect();
    let mut ordered: Vec<&Record> = match (&all, sort) {
        (Some(q), None | Some("relevance")) => {
            let docs: Vec<String> = candidates.iter().map(|a| article_text(a)).collect();
            let ranked = rank(q, &docs);
            let mut out: Vec<&Record> = ranked
                .iter()
                .filter_map(|(i, _)| candidates.get(*i).copied())
                .collect();
            // Every candidate matched all terms; keep any BM25 scored zero (stop words) at the end.
            for c in &candidates {
                if !out.iter().any(|o| record::id(o) == record::id(c)) {
                    out.push(c);
                }
            }
            out
        }
        _ => candidates,
    };
    if let Some(sb) = sort.filter(|s| *s != "relevance") {
        sort_articles(&mut ordered, sb);
    }
    let total = ordered.len();
    Ok(search_result(
        page0(ordered, from, limit)
            .into_iter()
            .map(shapes::article_list_item)
            .collect(),
        total,
    ))
}

/// GET /tickets/{id}/articleSuggestion: published articles ranked by BM25 against the ticket's
/// subject, description and incoming threads. Without `departmentId` the ticket's own department's
/// articles are searched (Zoho's KB is per department); `departmentId=0` searches all. The response
/// schema is unconfirmed (reference 5.10); the sandbox uses the `{"data":[...]}` list form, 204 when
/// nothing is relevant.
pub(crate) async fn suggest(
    State(app): State<Arc<App>>,
    ids: PathIds,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let id = ids.get("ticketId")?;
    let p = Params::parse(q.as_deref(), &["from", "limit", "departmentId"])?;
    let from = p.int("from", 1, i64::from(i32::MAX), 1)?;
    let limit = p.int("limit", 1, 50, 10)?;
    let dept_param = p.id("departmentId")?;
    let store = lock(&app.store);
    let e = store.ticket(&id).ok_or_else(ApiError::not_found)?;
    let dept = match dept_param.as_deref() {
        Some("0") => None,
        Some(d) => {
            store
                .department(d)
                .ok_or_else(|| ApiError::invalid_param("departmentId"))?;
            Some(d.to_owned())
        }
        None => record::owned(&e.ticket, "departmentId"),
    };
    let mut query = format!(
        "{} {}",
        s(&e.ticket, "subject").unwrap_or(""),
        strip_html(s(&e.ticket, "description").unwrap_or(""))
    );
    for th in e.threads.iter().filter(|t| s(t, "direction") == Some("in")) {
        query.push(' ');
        query.push_str(&strip_html(s(th, "content").unwrap_or("")));
    }
    let candidates: Vec<&Record> = store
        .data
        .articles
        .iter()
        .filter(|a| s(a, "status") == Some("Published") && !record::flag(a, "isTrashed"))
        .filter(|a| {
            dept.as_deref()
                .is_none_or(|d| s(a, "departmentId") == Some(d))
        })
        .collect();
    let docs: Vec<String> = candidates.iter().map(|a| article_text(a)).collect();
    let ranked: Vec<&Record> = rank(&query, &docs)
        .into_iter()
        .filter_map(|(i, _)| candidates.get(i).copied())
        .collect();
    Ok(data(
        page0(ranked, from - 1, limit)
            .into_iter()
            .map(shapes::article_suggestion)
            .collect(),
    ))
}

/// POST /tickets/{id}/notifyArticleUsage `{"articleIds":[...]}` → 204; bumps each `usageCount`.
pub(crate) async fn notify_usage(
    State(app): State<Arc<App>>,
    ids: PathIds,
    RawQuery(q): RawQuery,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let id = ids.get("ticketId")?;
    Params::parse(q.as_deref(), &[])?;
    let bad: Vec<FieldError> = body
        .keys()
        .filter(|k| *k != "articleIds")
        .map(|k| FieldError::invalid(k, format!("The field '{k}' is not allowed in the input.")))
        .collect();
    if !bad.is_empty() {
        return Err(ApiError::invalid_data(bad));
    }
    let Some(list) = body.get("articleIds") else {
        return Err(ApiError::invalid_data(vec![FieldError::missing(
            "articleIds",
        )]));
    };
    let article_ids: Vec<String> = list
        .as_array()
        .map(|a| a.iter().filter_map(as_id_string).collect())
        .unwrap_or_default();
    let mut store = lock(&app.store);
    store.ticket(&id).ok_or_else(ApiError::not_found)?;
    if article_ids.is_empty()
        || list
            .as_array()
            .is_some_and(|a| a.len() != article_ids.len())
        || article_ids
            .iter()
            .any(|a| !is_id(a) || store.article(a).is_none())
    {
        return Err(ApiError::invalid_data(vec![FieldError::invalid(
            "articleIds",
            "articleIds must list existing article ids.",
        )]));
    }
    for a in store.data.articles.iter_mut() {
        if article_ids.iter().any(|x| x == record::id(a)) {
            let n = s(a, "usageCount")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
                + 1;
            a.insert("usageCount".into(), json!(n.to_string()));
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
