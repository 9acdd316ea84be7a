#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn agents_list_filter_and_detail() {
    let env = small().await;
    let r = env.get("/agents").await;
    assert_eq!(
        ids(&r.body),
        vec!["5000000000201", "5000000000202", "5000000000203"]
    );
    let a = &r.body["data"][0];
    assert_eq!(a["emailId"], "ada@acme.example");
    assert_eq!(a["name"], "Ada Lovelace");
    assert_eq!(a["associatedDepartmentIds"], json!(["5000000000001"]));
    assert!(a.get("email").is_none());
    assert_eq!(
        ids(&env
            .get("/agents?status=ACTIVE&departmentIds=5000000000001")
            .await
            .body),
        vec!["5000000000201"]
    );
    assert_eq!(
        ids(&env
            .get("/agents?searchStr=cle&fieldName=firstName")
            .await
            .body),
        vec!["5000000000203"]
    );
    assert_eq!(env.get("/agents?status=GONE").await.status, 422);
    assert_eq!(
        env.get("/agents?limit=201").await.body["message"],
        "The value passed for field 'limit' exceeds the range of '0-200'."
    );
    assert_eq!(env.get("/agents?searchStr=zzzz").await.status, 204);
    let r = env
        .get("/agents/5000000000203?include=associatedDepartments")
        .await;
    assert_eq!(
        r.body["associatedDepartments"],
        json!([{"id": "5000000000002", "name": "Billing"}])
    );
    assert_eq!(
        env.get("/agents/5000000000299").await.code(),
        "URL_NOT_FOUND"
    );
}

#[tokio::test]
async fn departments_and_teams() {
    let env = small().await;
    let r = env.get("/departments").await;
    assert_eq!(ids(&r.body).len(), 3);
    assert!(r.body["data"][0].get("associatedAgentIds").is_none());
    assert_eq!(
        ids(&env.get("/departments?isEnabled=false").await.body),
        vec!["5000000000003"]
    );
    assert_eq!(
        ids(&env.get("/departments?searchStr=bill").await.body),
        vec!["5000000000002"]
    );
    assert_eq!(env.get("/departments?isEnabled=maybe").await.status, 422);
    let d = env.get("/departments/5000000000001").await.body;
    assert_eq!(
        d["associatedAgentIds"],
        json!(["5000000000201", "5000000000202"])
    );
    assert_eq!(d["sanitizedName"], "support");
    let r = env.get("/teams").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["teams"].as_array().unwrap().len(), 2);
    assert!(r.body.get("data").is_none());
    let r = env.get("/departments/5000000000002/teams").await;
    assert_eq!(r.body["teams"][0]["name"], "Refunds");
    let r = env.get("/departments/5000000000003/teams").await;
    assert_eq!((r.status, r.body.clone()), (200, json!({"teams": []})));
    assert_eq!(
        env.get("/departments/5000000000009/teams").await.status,
        404
    );
}

#[tokio::test]
async fn contacts_list_detail_and_search() {
    let env = small().await;
    let r = env.get("/contacts?sortBy=-lastName").await;
    assert_eq!(ids(&r.body), vec!["5000000000301", "5000000000302"]);
    assert!(r.body["data"][0].get("cf").is_none());
    assert_eq!(
        env.get("/contacts/5000000000301").await.body["cf"],
        json!({})
    );
    assert_eq!(env.get("/contacts?limit=101").await.status, 422);
    let r = env.get("/contacts/search?email=fox@").await;
    assert_eq!(
        (ids(&r.body), r.body["count"].clone()),
        (vec!["5000000000302".to_owned()], json!("1"))
    );
    let r = env.get("/contacts/search?_all=scully").await;
    assert_eq!(ids(&r.body), vec!["5000000000301"]);
    assert_eq!(env.get("/contacts/search?lastName=zzz").await.status, 204);
    assert_eq!(env.get("/contacts/search?_all=ab").await.status, 422);
}

#[tokio::test]
async fn articles_list_detail_and_search() {
    let env = small().await;
    let r = env.get("/articles").await;
    assert_eq!(
        ids(&r.body),
        vec!["5000000000403", "5000000000402", "5000000000401"]
    );
    assert!(r.body["data"][0].get("answer").is_none());
    let r = env
        .get("/articles?status=Published&sortBy=createdTime")
        .await;
    assert_eq!(ids(&r.body), vec!["5000000000401", "5000000000402"]);
    assert_eq!(
        ids(&env.get("/articles?from=3").await.body),
        vec!["5000000000401"]
    );
    assert_eq!(
        env.get("/articles?from=0").await.body["message"],
        "The value passed for field 'from' exceeds the range of '1-2147483647'."
    );
    assert_eq!(
        env.get("/articles?limit=51").await.body["message"],
        "The value passed for field 'limit' exceeds the range of '1-50'."
    );
    let a = env.get("/articles/5000000000401").await.body;
    assert!(a["answer"].as_str().unwrap().contains("reset button"));
    assert_eq!(a["author"]["name"], "Ada Lovelace");
    assert_eq!(a["category"]["id"], "5000000000501");
    let r = env.get("/articles/search?_all=refund").await;
    assert_eq!(
        (ids(&r.body), r.body["count"].clone()),
        (vec!["5000000000402".to_owned()], json!("1"))
    );
    let r = env
        .get("/articles/search?_all=password&departmentId=5000000000002")
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(env.get("/articles/search?_all=pa").await.status, 422);
}

#[tokio::test]
async fn article_suggestion_ranks_the_relevant_article_first() {
    let env = small().await;
    // The router ticket lives in Support: only Support's published articles are candidates.
    let r = env.get("/tickets/5000000001001/articleSuggestion").await;
    assert_eq!(r.status, 200);
    assert_eq!(ids(&r.body), vec!["5000000000401"]);
    assert!(r.body["data"][0].get("answer").is_none());
    assert!(r.body["data"][0].get("recycleBinEntityId").is_some());
    // Across all departments the refund ticket still ranks the refund article first.
    let r = env
        .get("/tickets/5000000001002/articleSuggestion?departmentId=0")
        .await;
    assert_eq!(ids(&r.body)[0], "5000000000402");
    // No overlapping term: nothing to suggest.
    assert_eq!(
        env.get("/tickets/5000000001003/articleSuggestion?departmentId=0")
            .await
            .status,
        204
    );
    assert_eq!(
        env.get("/tickets/5000000001001/articleSuggestion?from=0")
            .await
            .status,
        422
    );
    assert_eq!(
        env.get("/tickets/5000000001001/articleSuggestion?limit=51")
            .await
            .status,
        422
    );
}

#[tokio::test]
async fn notify_article_usage_counts_usage() {
    let env = small().await;
    let r = env
        .post(
            "/tickets/5000000001001/notifyArticleUsage",
            json!({"articleIds": ["5000000000401"]}),
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(r.text.is_empty());
    assert_eq!(
        env.get("/articles/5000000000401").await.body["usageCount"],
        "1"
    );
    let r = env
        .post(
            "/tickets/5000000001001/notifyArticleUsage",
            json!({"articleIds": ["5000000000499"]}),
        )
        .await;
    assert_eq!(r.code(), "INVALID_DATA");
    let r = env
        .post("/tickets/5000000001001/notifyArticleUsage", json!({}))
        .await;
    assert_eq!(r.body["errors"][0]["errorType"], "missing");
}

#[tokio::test]
async fn suggestions_on_the_generated_org_find_the_labelled_articles() {
    let env = start(zoho_desk_sandbox::SandboxConfig::default()).await;
    let gold = zoho_desk_sandbox::SeedData::generated_gold_labels(42);
    let labels = gold["tickets"].as_object().unwrap();
    let (mut asked, mut hit) = (0, 0);
    for (id, label) in labels.iter().take(120) {
        let expected: Vec<&str> = label["articleIds"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        if expected.is_empty() {
            continue;
        }
        asked += 1;
        let r = env
            .get(&format!(
                "/tickets/{id}/articleSuggestion?departmentId=0&limit=3"
            ))
            .await;
        if ids(&r.body).iter().any(|a| expected.contains(&a.as_str())) {
            hit += 1;
        }
    }
    eprintln!("top-3 hits: {hit}/{asked}");
    assert!(asked > 50);
    assert!(hit * 10 >= asked * 6, "top-3 hit rate {hit}/{asked}");
}

/// GET /mailReplyAddress: departmentId required, the department's addresses in the OAS shape.
#[tokio::test]
async fn mail_reply_addresses_per_department() {
    let env = small().await;
    let r = env.get("/mailReplyAddress").await;
    assert_eq!((r.status, r.code()), (422, "UNPROCESSABLE_ENTITY"));
    let r = env
        .get("/mailReplyAddress?departmentId=5000000000002")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let list = r.body["data"].as_array().unwrap();
    let addresses: Vec<&str> = list.iter().filter_map(|a| a["address"].as_str()).collect();
    assert_eq!(addresses, vec!["billing@acme.example"]);
    let a = &list[0];
    assert_eq!(a["departmentId"], "5000000000002");
    assert_eq!(a["isActive"], true);
    assert_eq!(a["serviceProviderType"], "ZohoSMTP");
    assert!(a["createdBy"]["email"].is_string());
    assert_eq!(
        env.get("/mailReplyAddress?departmentId=5000000000002&isActive=false")
            .await
            .status,
        204
    );
    assert_eq!(
        env.get("/mailReplyAddress?departmentId=5000000000002&bogus=1")
            .await
            .status,
        422
    );
    assert_eq!(
        env.get("/mailReplyAddress?departmentId=123").await.status,
        422
    );
}
