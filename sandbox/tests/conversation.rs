#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn threads_list_without_content_and_detail_with_it() {
    let env = small().await;
    let r = env.get("/tickets/5000000001001/threads").await;
    assert_eq!(r.status, 200);
    let list = r.body["data"].as_array().unwrap();
    assert_eq!(
        ids(&r.body),
        vec!["5000000002003", "5000000002002", "5000000002001"],
        "newest first"
    );
    for t in list {
        assert!(t.get("content").is_none());
        assert_eq!(t["channel"], "EMAIL");
        assert!(t["fromEmailAddress"].is_string());
    }
    assert_eq!(list[1]["direction"], "out");
    assert_eq!(list[1]["author"]["type"], "AGENT");
    assert_eq!(list[1]["author"]["email"], "ada@acme.example");
    assert_eq!(list[2]["author"]["type"], "END_USER");
    assert_eq!(list[2]["fromEmailAddress"], "dana@example.com");
    assert_eq!(list[2]["to"], "support@acme.example");
    let r = env
        .get("/tickets/5000000001001/threads?sortBy=sendDateTime&limit=1")
        .await;
    assert_eq!(ids(&r.body), vec!["5000000002001"]);
    assert_eq!(
        env.get("/tickets/5000000001001/threads?limit=201")
            .await
            .body["message"],
        "The value passed for field 'limit' exceeds the range of '1-200'."
    );
    assert_eq!(env.get("/tickets/5000000001003/threads").await.status, 204);

    let r = env
        .get("/tickets/5000000001001/threads/5000000002003?include=plainText")
        .await;
    assert_eq!(r.body["content"], "<p>The AX-3000.</p>");
    assert_eq!(r.body["plainText"], "The AX-3000.");
    assert_eq!(r.body["summary"], "The AX-3000.");
    let r = env
        .get("/tickets/5000000001001/threads/5000000002003")
        .await;
    assert!(r.body.get("plainText").is_none());
    assert_eq!(
        env.get("/tickets/5000000001001/threads/5000000002999")
            .await
            .status,
        404
    );

    let r = env.get("/tickets/5000000001001/latestThread").await;
    assert_eq!(r.body["id"], "5000000002003");
    let r = env
        .get("/tickets/5000000001001/latestThread?needIncomingThread=true")
        .await;
    assert_eq!(r.body["direction"], "in");
    assert_eq!(
        env.get("/tickets/5000000001003/latestThread").await.status,
        204
    );
}

#[tokio::test]
async fn send_reply_creates_an_outgoing_thread() {
    let env = small().await;
    let r = env
        .post(
            "/tickets/5000000001001/sendReply",
            json!({"channel": "EMAIL", "content": "Hold reset for 10s."}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "INVALID_DATA"));
    assert_eq!(r.body["errors"][0]["fieldName"], "/fromEmailAddress");
    assert_eq!(r.body["errors"][0]["errorType"], "missing");
    let r = env
        .post(
            "/tickets/5000000001001/sendReply",
            json!({"channel": "EMAIL", "content": "x", "fromEmailAddress": "billing@acme.example"}),
        )
        .await;
    assert_eq!(
        r.body["errors"][0]["errorType"], "invalid",
        "address of another department"
    );
    let r = env
        .post("/tickets/5000000001001/sendReply", json!({"content": "x"}))
        .await;
    assert_eq!(r.body["errors"][0]["fieldName"], "/channel");

    let r = env
        .post(
            "/tickets/5000000001001/sendReply",
            json!({
                "channel": "EMAIL", "content": "<p>Hold reset for 10s.</p>", "contentType": "html",
                "fromEmailAddress": "support@acme.example", "ticketStatus": "On Hold"
            }),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["direction"], "out");
    assert_eq!(r.body["status"], "SUCCESS");
    assert_eq!(r.body["to"], "dana@example.com");
    assert_eq!(r.body["content"], "<p>Hold reset for 10s.</p>");
    let t = env.get("/tickets/5000000001001").await.body;
    assert_eq!(t["threadCount"], "4");
    assert_eq!(t["status"], "On Hold");
    let latest = env.get("/tickets/5000000001001/latestThread").await.body;
    assert_eq!(latest["id"], r.body["id"]);
}

/// The OAS reply body is a `oneOf` by channel: EMAIL, FACEBOOK, TWITTER, FORUMS (drafts without
/// TWITTER), exactly so spelled; everything else is refused before anything is sent.
#[tokio::test]
async fn replies_only_on_the_oas_channels() {
    let env = small().await;
    let from = "support@acme.example";
    for (path, channel) in [
        ("sendReply", "WEB"),
        ("sendReply", "PHONE"),
        ("sendReply", "ONLINE_CHAT"),
        ("sendReply", "CHAT"),
        ("sendReply", "email"),
        ("sendReply", "Email"),
        ("draftReply", "WEB"),
        ("draftReply", "TWITTER"),
        ("draftReply", "email"),
    ] {
        let r = env
            .post(
                &format!("/tickets/5000000001002/{path}"),
                json!({"channel": channel, "content": "Refund issued."}),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (422, "INVALID_DATA"),
            "{path} {channel}"
        );
        assert_eq!(
            r.body["errors"][0]["fieldName"], "/channel",
            "{path} {channel}"
        );
        let r = env
            .post(
                &format!("/tickets/5000000001001/{path}"),
                json!({"channel": channel, "content": "x", "fromEmailAddress": from}),
            )
            .await;
        assert_eq!(r.status, 422, "{path} {channel} on an e-mail ticket");
    }
    // The EMAIL variant requires a department address, for drafts as for replies.
    let r = env
        .post(
            "/tickets/5000000001001/draftReply",
            json!({"channel": "EMAIL", "content": "Draft text"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "INVALID_DATA"));
    assert_eq!(r.body["errors"][0]["fieldName"], "/fromEmailAddress");
    assert_eq!(r.body["errors"][0]["errorType"], "missing");
    // Only the EMAIL variant declares the e-mail fields.
    let r = env
        .post(
            "/tickets/5000000001001/sendReply",
            json!({"channel": "FORUMS", "content": "x", "fromEmailAddress": from}),
        )
        .await;
    assert_eq!(r.status, 422);
    // The same reply on EMAIL goes out.
    let r = env
        .post(
            "/tickets/5000000001002/sendReply",
            json!({"channel": "EMAIL", "content": "Refund issued.",
                   "fromEmailAddress": "billing@acme.example"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["channel"], "EMAIL");
}

#[tokio::test]
async fn draft_reply_is_a_draft_thread() {
    let env = small().await;
    let r = env
        .post(
            "/tickets/5000000001001/draftReply",
            json!({"channel": "EMAIL", "content": "Draft text", "contentType": "plainText",
                   "fromEmailAddress": "support@acme.example"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "DRAFT");
    assert_eq!(r.body["contentType"], "text/plain");
    assert_eq!(r.body["actions"][0]["rel"], "send");
    let t = env.get("/tickets/5000000001001").await.body;
    assert_eq!(t["threadCount"], "3", "drafts are not counted");
    let list = env.get("/tickets/5000000001001/threads").await.body;
    assert_eq!(list["data"][0]["status"], "DRAFT");
    let list = env
        .get("/tickets?departmentId=5000000000001&sortBy=-createdTime&limit=1&status=Open")
        .await
        .body;
    assert_eq!(list["data"][0]["lastThread"]["isDraft"], true);
}

#[tokio::test]
async fn comments_crud() {
    let env = small().await;
    let r = env.get("/tickets/5000000001001/comments").await;
    assert_eq!(r.body["data"][0]["content"], "Likely a factory reset.");
    assert_eq!(r.body["data"][0]["commenter"]["name"], "Ada Lovelace");
    assert_eq!(env.get("/tickets/5000000001002/comments").await.status, 204);
    assert_eq!(
        env.get("/tickets/5000000001001/comments?limit=101")
            .await
            .status,
        422
    );

    let r = env
        .post("/tickets/5000000001001/comments", json!({"isPublic": true}))
        .await;
    assert_eq!(
        r.body["errors"][0],
        json!({"fieldName": "/content", "errorType": "missing", "errorMessage": "The field 'content' is mandatory and no value was given."})
    );
    let r = env
        .post(
            "/tickets/5000000001001/comments",
            json!({"content": "x".repeat(32_001)}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["fieldName"], "/content");
    let r = env
        .post(
            "/tickets/5000000001001/comments",
            json!({"content": "a", "mention": []}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["fieldName"], "/mention");
    let r = env
        .post(
            "/tickets/5000000001001/comments",
            json!({"content": "<b>Escalating</b>", "isPublic": false}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["contentType"], "html");
    assert_eq!(r.body["isPublic"], false);
    assert_eq!(r.body["encodedContent"], "&lt;b&gt;Escalating&lt;/b&gt;");
    assert_eq!(r.body["commenterId"], "5000000000201");
    let cid = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        env.get("/tickets/5000000001001").await.body["commentCount"],
        "2"
    );

    let path = format!("/tickets/5000000001001/comments/{cid}");
    assert_eq!(env.get(&path).await.body["content"], "<b>Escalating</b>");
    // The OAS requires `content` on update; `isPublic` is fixed at creation (reference 5.5).
    let r = env.patch(&path, json!({"isPublic": true})).await;
    assert_eq!(
        (r.status, r.body["errors"][0]["fieldName"].clone()),
        (422, Value::from("/content"))
    );
    let r = env
        .patch(&path, json!({"content": "Public now", "isPublic": true}))
        .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["fieldName"].clone()),
        (422, Value::from("/isPublic"))
    );
    let r = env
        .patch(
            &path,
            json!({"content": "Escalated", "contentType": "plainText"}),
        )
        .await;
    assert_eq!(r.body["content"], "Escalated");
    assert_eq!(r.body["contentType"], "plainText");
    let r = read(env.req(Method::DELETE, &path).send().await.unwrap()).await;
    assert_eq!(r.status, 204);
    assert!(r.text.is_empty());
    assert_eq!(env.get(&path).await.status, 404);
    assert_eq!(
        env.get("/tickets/5000000001001").await.body["commentCount"],
        "1"
    );
}
