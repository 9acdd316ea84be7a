#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn list_items_have_list_fields_only_and_string_ids() {
    let env = small().await;
    let r = env.get("/tickets").await;
    assert_eq!(r.status, 200);
    let items = r.body["data"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    // Newest first by default.
    assert_eq!(
        ids(&r.body),
        vec!["5000000001002", "5000000001001", "5000000001003"]
    );
    let t = &items[1];
    for absent in ["description", "cf", "modifiedTime", "contact"] {
        assert!(
            t.get(absent).is_none(),
            "{absent} must not be in a list item"
        );
    }
    assert_eq!(t["threadCount"], "3");
    assert_eq!(t["commentCount"], "1");
    assert_eq!(t["statusType"], "Open");
    assert_eq!(t["email"], "dana@example.com");
    assert_eq!(
        t["lastThread"],
        json!({"channel": "EMAIL", "isDraft": false, "isForward": false, "direction": "in"})
    );
    assert_eq!(t["customerResponseTime"], "2026-02-20T10:00:00.000Z");
    assert_eq!(items[0]["statusType"], "On Hold");
}

#[tokio::test]
async fn list_filters_paging_sorting_and_include() {
    let env = small().await;
    let r = env
        .get("/tickets?departmentId=5000000000001&sortBy=createdTime")
        .await;
    assert_eq!(ids(&r.body), vec!["5000000001003", "5000000001001"]);
    let r = env.get("/tickets?assignee=Unassigned").await;
    assert_eq!(ids(&r.body), vec!["5000000001001"]);
    let r = env
        .get("/tickets?assignee=5000000000203,5000000000201&status=Closed")
        .await;
    assert_eq!(ids(&r.body), vec!["5000000001003"]);
    let r = env
        .get("/tickets?status=Open,On%20Hold&sortBy=-createdTime")
        .await;
    assert_eq!(ids(&r.body), vec!["5000000001002", "5000000001001"]);
    let r = env
        .get("/tickets?teamIds=5000000000102&channel=Web&priority=Medium")
        .await;
    assert_eq!(ids(&r.body), vec!["5000000001002"]);
    // 0-based (the OAS default is 0): from=1 is the second item.
    let a = env.get("/tickets?from=0&limit=1").await;
    let b = env.get("/tickets?from=1&limit=1").await;
    let all = ids(&env.get("/tickets").await.body);
    assert_eq!(ids(&a.body), all[..1].to_vec());
    assert_eq!(ids(&b.body), all[1..2].to_vec());
    let r = env.get("/tickets?from=3").await;
    assert_eq!(r.status, 204);
    assert!(r.text.is_empty());
    let r = env
        .get("/tickets?include=contacts,assignee,departments,team&departmentId=5000000000002")
        .await;
    let t = &r.body["data"][0];
    assert_eq!(t["contact"]["email"], "fox@example.com");
    assert_eq!(
        t["assignee"],
        json!({"firstName": "Cleo", "photoURL": null, "lastName": "Patra", "id": "5000000000203", "email": "cleo@acme.example"})
    );
    assert_eq!(
        t["department"],
        json!({"name": "Billing", "id": "5000000000002"})
    );
    assert_eq!(t["team"]["name"], "Refunds");
    let r = env.get("/tickets?fields=subject,status").await;
    let keys: Vec<&String> = r.body["data"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["id", "subject", "status"]);
    let r = env.get("/tickets?sortBy=recentThread").await;
    assert_eq!(ids(&r.body).len(), 3);
}

#[tokio::test]
async fn list_validation_errors_are_zoho_422s() {
    let env = small().await;
    let r = env.get("/tickets?sortOrder=asc").await;
    assert_eq!((r.status, r.code()), (422, "UNPROCESSABLE_ENTITY"));
    assert_eq!(
        r.body["message"],
        "Extra query parameter 'sortOrder' is present in the input."
    );
    let r = env.get("/tickets?limit=101").await;
    assert_eq!(
        r.body["message"],
        "The value passed for field 'limit' exceeds the range of '1-100'."
    );
    let r = env.get("/tickets?limit=0").await;
    assert_eq!(r.status, 422);
    let r = env.get("/tickets?limit=abc").await;
    assert_eq!((r.status, r.code()), (422, "UNPROCESSABLE_ENTITY"));
    assert_eq!(env.get("/tickets?sortBy=modifiedTime").await.status, 422);
    assert_eq!(env.get("/tickets?include=everything").await.status, 422);
    assert_eq!(env.get("/tickets?status=Nonsense").await.status, 422);
    assert_eq!(env.get("/tickets?departmentId=abc").await.status, 422);
    assert_eq!(
        env.get("/tickets?filters=%7B%7D").await.body["message"],
        "Extra query parameter 'filters' is present in the input."
    );
    // orgId as a query parameter is always allowed.
    let org = env.sb.credentials().org_id.clone();
    assert_eq!(env.get(&format!("/tickets?orgId={org}")).await.status, 200);
}

#[tokio::test]
async fn get_one_has_the_full_ticket() {
    let env = small().await;
    let r = env.get("/tickets/5000000001001").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["description"],
        "<p>I forgot the router password and cannot log in.</p>"
    );
    assert_eq!(r.body["cf"], json!({}));
    assert!(r.body["modifiedTime"].as_str().unwrap().ends_with('Z'));
    assert!(
        r.body.get("lastThread").is_none(),
        "the detail schema does not declare lastThread"
    );
    assert_eq!(r.body["layoutDetails"]["id"], "5000000000001");
    let r = env
        .get("/tickets/5000000001001?include=contacts,isRead")
        .await;
    assert_eq!(r.body["contact"]["lastName"], "Scully");
    assert_eq!(r.body["isRead"], false);
    let r = env.get("/tickets/5000000009999").await;
    assert_eq!((r.status, r.code()), (404, "URL_NOT_FOUND"));
    assert_eq!(
        r.body["message"],
        "The URL you requested could not be found."
    );
    let r = env.get("/tickets/abc").await;
    assert_eq!((r.status, r.code()), (422, "UNPROCESSABLE_ENTITY"));
}

#[tokio::test]
async fn routing_errors_are_json_never_html() {
    let env = small().await;
    let r = read(
        env.req(Method::PUT, "/tickets/5000000001001")
            .json(&json!({"subject": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.code()), (405, "METHOD_NOT_ALLOWED"));
    let r = env.get("/nothing/here").await;
    assert_eq!((r.status, r.code()), (404, "URL_NOT_FOUND"));
    assert!(
        r.header("content-type")
            .unwrap()
            .contains("application/json")
    );
    let r = read(
        env.client
            .get(format!("{}/totally/unknown", env.sb.base_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.code()), (404, "URL_NOT_FOUND"));
}

#[tokio::test]
async fn create_ticket_validates_and_returns_the_full_ticket() {
    let env = small().await;
    let r = env.post("/tickets", json!({"subject": "Hi"})).await;
    assert_eq!((r.status, r.code()), (422, "INVALID_DATA"));
    let errs = r.body["errors"].as_array().unwrap();
    assert!(
        errs.iter()
            .any(|e| e["fieldName"] == "/departmentId" && e["errorType"] == "missing")
    );
    assert!(
        errs.iter()
            .any(|e| e["fieldName"] == "/contactId" && e["errorType"] == "missing")
    );
    let r = env.post("/tickets", json!({"subject": "Hi", "departmentId": "5000000000001", "contactId": "5000000000301", "bogus": 1})).await;
    assert_eq!(
        r.body["errors"][0],
        json!({"fieldName": "/bogus", "errorType": "invalid", "errorMessage": "The field 'bogus' is not allowed in the input."})
    );
    let r = env.post("/tickets", json!({"subject": "Hi", "departmentId": "5000000000001", "contactId": "5000000000301", "assigneeId": "5000000000203"})).await;
    assert_eq!(r.body["errors"][0]["fieldName"], "/assigneeId");

    let r = env.post("/tickets", json!({
        "subject": "Router blinks red", "departmentId": "5000000000001",
        "contact": {"lastName": "New", "email": "new.person@example.com"},
        "description": "<p>It blinks red.</p>", "priority": "high", "assigneeId": "5000000000201",
        "teamId": "5000000000101", "cf": {"cf_order": "A-1"}
    })).await;
    assert_eq!(r.status, 200);
    let t = &r.body;
    assert_eq!(t["ticketNumber"], "104");
    assert_eq!(t["priority"], "High");
    assert_eq!(t["status"], "Open");
    assert_eq!(t["threadCount"], "1");
    assert_eq!(t["cf"], json!({"cf_order": "A-1"}));
    assert_eq!(t["email"], "new.person@example.com");
    let id = t["id"].as_str().unwrap().to_owned();
    let contact = t["contactId"].as_str().unwrap().to_owned();
    assert_eq!(
        env.get(&format!("/contacts/{contact}")).await.body["lastName"],
        "New"
    );
    // The same e-mail matches the existing contact.
    let r = env.post("/tickets", json!({"subject": "Again", "departmentId": "5000000000001", "contact": {"lastName": "New", "email": "NEW.person@example.com"}})).await;
    assert_eq!(r.body["contactId"], Value::String(contact));
    // The OAS contact: lastName and email required, no phone.
    for (contact, field) in [
        (json!({"email": "x@example.com"}), "/lastName"),
        (json!({"lastName": "X"}), "/email"),
        (
            json!({"lastName": "X", "email": "x@example.com", "phone": "1"}),
            "/contact/phone",
        ),
        (
            json!({"lastName": "X", "email": "not-an-address"}),
            "/email",
        ),
    ] {
        let r = env
            .post(
                "/tickets",
                json!({"subject": "S", "departmentId": "5000000000001", "contact": contact}),
            )
            .await;
        assert_eq!((r.status, r.code()), (422, "INVALID_DATA"), "{contact}");
        let fields: Vec<&str> = r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["fieldName"].as_str())
            .collect();
        assert!(
            fields.iter().any(|f| f.ends_with(field)),
            "{contact}: {fields:?}"
        );
    }
    let r = env.get(&format!("/tickets/{id}/threads")).await;
    assert_eq!(r.body["data"][0]["isDescriptionThread"], true);
}

#[tokio::test]
async fn write_media_type_and_payload_errors() {
    let env = small().await;
    let r = read(
        env.req(Method::POST, "/tickets")
            .header("Content-Type", "text/plain")
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.code()), (415, "UNSUPPORTED_MEDIA_TYPE"));
    let r = read(
        env.req(Method::POST, "/tickets")
            .header("Content-Type", "application/json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.code()), (422, "EMPTY_PAYLOAD"));
    let r = read(
        env.req(Method::PATCH, "/tickets/5000000001001")
            .header("Content-Type", "application/json")
            .body("{\"subject\": ")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "BAD_REQUEST"));
    let r = read(
        env.req(Method::PATCH, "/tickets/5000000001001")
            .header("Content-Type", "application/json")
            .body("[1]")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.code()), (422, "INVALID_DATA"));
}

#[tokio::test]
async fn patch_validates_assignment_and_updates_modified_time() {
    let env = small().await;
    let before = env.get("/tickets/5000000001001").await.body;
    let r = env
        .patch(
            "/tickets/5000000001001",
            json!({"assigneeId": "5000000000202"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "INVALID_DATA"),
        "disabled agent"
    );
    let r = env
        .patch(
            "/tickets/5000000001001",
            json!({"assigneeId": "5000000000203"}),
        )
        .await;
    assert_eq!(
        r.body["errors"][0]["fieldName"], "/assigneeId",
        "agent of another department"
    );
    let r = env
        .patch("/tickets/5000000001001", json!({"teamId": "5000000000102"}))
        .await;
    assert_eq!(r.body["errors"][0]["fieldName"], "/teamId");
    let r = env
        .patch("/tickets/5000000001001", json!({"status": "Pending"}))
        .await;
    assert_eq!(r.body["errors"][0]["fieldName"], "/status");
    let r = env
        .patch("/tickets/5000000001001", json!({"sortOrder": 1}))
        .await;
    assert_eq!(r.body["errors"][0]["errorType"], "invalid");

    let r = env
        .patch(
            "/tickets/5000000001001",
            json!({"assigneeId": "5000000000201", "teamId": "5000000000101", "status": "Closed"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["assigneeId"], "5000000000201");
    assert_eq!(r.body["statusType"], "Closed");
    assert!(r.body["closedTime"].is_string());
    assert!(r.body["modifiedTime"].as_str().unwrap() > before["modifiedTime"].as_str().unwrap());
    assert_eq!(r.body["modifiedBy"], "5000000000201");
    assert_eq!(r.body["subject"], before["subject"]);
    // Moving by PATCH clears a team and an assignee that do not fit the new department.
    let r = env
        .patch(
            "/tickets/5000000001001",
            json!({"departmentId": "5000000000002"}),
        )
        .await;
    assert_eq!(r.body["departmentId"], "5000000000002");
    assert_eq!(r.body["assigneeId"], Value::Null);
    assert_eq!(r.body["teamId"], Value::Null);
    let r = env
        .patch(
            "/tickets/5000000001001",
            json!({"departmentId": "5000000000003"}),
        )
        .await;
    assert_eq!(
        r.body["errors"][0]["fieldName"], "/departmentId",
        "disabled department"
    );
    assert_eq!(env.admin_ticket_dept("5000000001001"), "5000000000002");
}

trait AdminExt {
    fn admin_ticket_dept(&self, id: &str) -> String;
}
impl AdminExt for Env {
    fn admin_ticket_dept(&self, id: &str) -> String {
        self.sb.admin().ticket(id).unwrap()["departmentId"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

#[tokio::test]
async fn move_takes_the_department_as_a_query_parameter_and_answers_an_empty_200() {
    let env = small().await;
    // The newest OAS: departmentId is a required query parameter; a body alone is refused.
    let r = env
        .post(
            "/tickets/5000000001002/move",
            json!({"departmentId": "5000000000001"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "UNPROCESSABLE_ENTITY"));
    assert_eq!(
        r.body["message"],
        "The query parameter 'departmentId' is mandatory and no value was given."
    );
    assert_eq!(env.admin_ticket_dept("5000000001002"), "5000000000002");
    // A body departmentId that contradicts the query is refused.
    let r = env
        .post(
            "/tickets/5000000001002/move?departmentId=5000000000001",
            json!({"departmentId": "5000000000002"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "INVALID_DATA"));
    // Query form, with the optional body echoing it: an empty 200.
    let r = env
        .post(
            "/tickets/5000000001002/move?departmentId=5000000000001",
            json!({"departmentId": "5000000000001"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.is_empty(), "empty body, got {}", r.text);
    let t = env.get("/tickets/5000000001002").await.body;
    assert_eq!(t["departmentId"], "5000000000001");
    assert_eq!(t["assigneeId"], Value::Null);
    assert_eq!(
        env.get("/tickets?departmentId=5000000000002").await.status,
        204
    );
    // Query form without any body.
    let r = env
        .client
        .post(format!(
            "{}/api/v1/tickets/5000000001002/move?departmentId=5000000000002",
            env.sb.base_url()
        ))
        .header("Authorization", format!("Zoho-oauthtoken {}", env.token))
        .header("orgId", env.sb.credentials().org_id.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(env.admin_ticket_dept("5000000001002"), "5000000000002");
}

#[tokio::test]
async fn search_and_count() {
    let env = small().await;
    let r = env.get("/tickets/search?_all=router").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["count"], "1");
    assert_eq!(ids(&r.body), vec!["5000000001001"]);
    assert!(r.body["data"][0].get("description").is_none());
    let r = env.get("/tickets/search?status=${open}").await;
    assert_eq!(ids(&r.body), vec!["5000000001001"]);
    let r = env
        .get("/tickets/search?status=${onhold},Closed&sortBy=createdTime")
        .await;
    assert_eq!(ids(&r.body), vec!["5000000001003", "5000000001002"]);
    assert_eq!(r.body["count"], "2");
    // assigneeId is numeric in the OAS: no ${Unassigned}.
    let r = env.get("/tickets/search?assigneeId=${Unassigned}").await;
    assert_eq!((r.status, r.code()), (422, "UNPROCESSABLE_ENTITY"));
    let r = env.get("/tickets/search?assigneeId=5000000000203").await;
    assert_eq!(r.status, 200);
    // departmentId is one id.
    let r = env
        .get("/tickets/search?departmentId=5000000000001,5000000000002")
        .await;
    assert_eq!(r.status, 422);
    let r = env
        .get("/tickets/search?subject=refund&departmentId=5000000000002")
        .await;
    assert_eq!(ids(&r.body), vec!["5000000001002"]);
    let r = env
        .get("/tickets/search?contactName=mulder&limit=1&from=1")
        .await;
    assert_eq!(r.body["count"], "2");
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    let r = env.get("/tickets/search?_all=nothing-matches-this").await;
    assert_eq!(r.status, 204);
    let r = env.get("/tickets/search?_all=ab").await;
    assert_eq!(
        r.body["message"],
        "The value passed for field '_all' is less than the specified minimum length of '3'."
    );
    let r = env
        .get(&format!("/tickets/search?_all={}", "a".repeat(101)))
        .await;
    assert_eq!(
        r.body["message"],
        "The value passed for field '_all' exceeds the specified maximum length of '100'."
    );
    assert_eq!(
        env.get(&format!("/tickets/search?_all={}", "a".repeat(100)))
            .await
            .status,
        204
    );
    // The OAS bounds `from` at 0-999.
    assert_eq!(
        env.get("/tickets/search?from=999&limit=100").await.status,
        204
    );
    assert_eq!(
        env.get("/tickets/search?from=1000").await.body["message"],
        "The value passed for field 'from' exceeds the range of '0-999'."
    );
    for path in ["/contacts/search?from=1000", "/articles/search?from=1000"] {
        assert_eq!(env.get(path).await.status, 422, "{path}");
    }
    assert_eq!(env.get("/tickets/search?searchStr=abc").await.status, 422);

    assert_eq!(env.get("/ticketsCount").await.body, json!({"count": "3"}));
    assert_eq!(
        env.get("/ticketsCount?departmentId=5000000000001")
            .await
            .body,
        json!({"count": "2"})
    );
    assert_eq!(
        env.get("/ticketsCount?assigneeId=5000000000203").await.body,
        json!({"count": "1"})
    );
    assert_eq!(
        env.get("/ticketsCount?contactId=5000000000301").await.body,
        json!({"count": "1"})
    );
    // No status on the count endpoint (the OAS has none; ticketsCountByFieldValues does that).
    let r = env
        .get("/ticketsCount?contactId=5000000000301&status=Closed")
        .await;
    assert_eq!((r.status, r.code()), (422, "UNPROCESSABLE_ENTITY"));
    assert_eq!(
        r.body["message"],
        "Extra query parameter 'status' is present in the input."
    );
    assert_eq!(
        env.get("/ticketsCount?assigneeId=${Unassigned}")
            .await
            .status,
        422
    );
}

/// The OAS types `teamId` on update as a string or integer id, never null; "" clears the team.
#[tokio::test]
async fn team_is_cleared_with_an_empty_string_not_null() {
    let env = small().await;
    let r = env
        .patch("/tickets/5000000001001", json!({"teamId": "5000000000101"}))
        .await;
    assert_eq!(r.body["teamId"], "5000000000101", "{}", r.text);
    let r = env
        .patch("/tickets/5000000001001", json!({"teamId": null}))
        .await;
    assert_eq!((r.status, r.code()), (422, "INVALID_DATA"));
    assert_eq!(r.body["errors"][0]["fieldName"], "/teamId");
    let r = env
        .patch("/tickets/5000000001001", json!({"teamId": ""}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["teamId"], Value::Null);
}

/// `from` on the ticket list is 0-based (the OAS default is 0): `from=1` skips the first ticket.
#[tokio::test]
async fn ticket_list_from_is_zero_based() {
    let env = small().await;
    let all = ids(&env.get("/tickets?sortBy=createdTime").await.body);
    assert_eq!(all.len(), 3);
    let from1 = ids(&env.get("/tickets?sortBy=createdTime&from=1").await.body);
    assert_eq!(from1, all[1..].to_vec());
    let from0 = ids(&env
        .get("/tickets?sortBy=createdTime&from=0&limit=1")
        .await
        .body);
    assert_eq!(from0, all[..1].to_vec());
}
