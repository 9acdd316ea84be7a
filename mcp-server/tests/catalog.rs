#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The catalog generated from the embedded Zoho Desk definition: names, schemas, annotations,
//! filters, search, and the definition checks.

use serde_json::{Value, json};
use zoho_desk_mcp::catalog::{ZOHO_DESK_DOCUMENTATION, ZOHO_DESK_RESOURCES};
use zoho_desk_mcp::{Catalog, DefinitionError, FilterError, MethodKind, ToolFilter};

fn names(c: &Catalog) -> Vec<&str> {
    c.tools().iter().map(|t| t.name.as_str()).collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const EXPECTED: [&str; 27] = [
    "list_all_zoho_desk_tickets",
    "get_single_zoho_desk_ticket_by_id",
    "create_a_zoho_desk_ticket",
    "update_a_zoho_desk_ticket_by_id",
    "zoho_desk_tickets_search",
    "zoho_desk_tickets_count",
    "zoho_desk_tickets_send_reply",
    "zoho_desk_tickets_draft_reply",
    "zoho_desk_tickets_move",
    "zoho_desk_tickets_suggest_relevant_articles_for_ticket",
    "zoho_desk_tickets_get_full_context",
    "list_all_zoho_desk_ticket_threads",
    "get_single_zoho_desk_ticket_thread_by_id",
    "list_all_zoho_desk_ticket_comments",
    "create_a_zoho_desk_ticket_comment",
    "list_all_zoho_desk_agents",
    "get_single_zoho_desk_agent_by_id",
    "list_all_zoho_desk_departments",
    "get_single_zoho_desk_department_by_id",
    "list_all_zoho_desk_teams",
    "list_all_zoho_desk_contacts",
    "get_single_zoho_desk_contact_by_id",
    "zoho_desk_contacts_search",
    "list_all_zoho_desk_kb_articles",
    "get_single_zoho_desk_kb_article_by_id",
    "zoho_desk_kb_articles_search",
    "list_all_zoho_desk_mail_reply_addresses",
];

#[test]
fn every_documented_method_is_a_tool_with_the_expected_name() {
    let c = Catalog::zoho_desk().unwrap();
    let mut got = names(&c);
    got.sort_unstable();
    let mut want = EXPECTED.to_vec();
    want.sort_unstable();
    assert_eq!(got, want);
}

#[test]
fn input_schemas_are_closed_objects_with_path_params_required() {
    let c = Catalog::zoho_desk().unwrap();
    for t in c.tools() {
        assert_eq!(t.input_schema["type"], "object", "{}", t.name);
        assert_eq!(t.input_schema["additionalProperties"], false, "{}", t.name);
        assert!(
            !t.description.is_empty() && !t.title.is_empty(),
            "{}",
            t.name
        );
    }
    let thread = c.get("get_single_zoho_desk_ticket_thread_by_id").unwrap();
    assert_eq!(thread.input_schema["required"], json!(["ticketId", "id"]));
    assert_eq!(
        thread.input_schema["properties"]["id"]["description"],
        "The thread's id"
    );
    let create = c.get("create_a_zoho_desk_ticket").unwrap();
    assert_eq!(
        create.input_schema["required"],
        json!(["subject", "departmentId"])
    );
    let comment = c.get("create_a_zoho_desk_ticket_comment").unwrap();
    assert_eq!(
        comment.input_schema["required"],
        json!(["ticketId", "content"])
    );
}

#[test]
fn list_tools_page_with_limit_and_cursor() {
    let c = Catalog::zoho_desk().unwrap();
    let list = c.get("list_all_zoho_desk_tickets").unwrap();
    let props = &list.input_schema["properties"];
    assert_eq!(props["limit"]["minimum"], 1);
    // One slot of the endpoint's 100 is kept for the overlap item (see resources.yaml).
    assert_eq!(props["limit"]["maximum"], 99);
    assert_eq!(props["next_cursor"]["type"], "string");
    assert!(props.get("from").is_none());
    let out = list.output_schema.as_ref().unwrap();
    assert_eq!(out["properties"]["result"]["type"], "array");
    let kb = c.get("list_all_zoho_desk_kb_articles").unwrap();
    assert_eq!(kb.input_schema["properties"]["limit"]["maximum"], 50);
    let search = c.get("zoho_desk_tickets_search").unwrap();
    assert!(search.output_schema.as_ref().unwrap()["properties"]["count"].is_object());
    // Teams come in one answer: the OAS gives that endpoint no paging parameter at all.
    let teams = c.get("list_all_zoho_desk_teams").unwrap();
    assert!(teams.input_schema["properties"].get("limit").is_none());
    assert!(
        teams.input_schema["properties"]
            .get("next_cursor")
            .is_none()
    );
    for t in c.tools() {
        if t.kind == MethodKind::List && t.name != teams.name {
            assert!(
                t.input_schema["properties"]["next_cursor"].is_object(),
                "{}",
                t.name
            );
        }
    }
}

#[test]
fn annotations_are_explicit_and_follow_the_method() {
    let c = Catalog::zoho_desk().unwrap();
    let h = |n: &str| c.get(n).unwrap().annotations;
    for read in [
        "list_all_zoho_desk_tickets",
        "get_single_zoho_desk_ticket_by_id",
        "zoho_desk_tickets_search",
        "zoho_desk_tickets_get_full_context",
        "zoho_desk_tickets_suggest_relevant_articles_for_ticket",
    ] {
        assert!(
            h(read).read_only && !h(read).destructive && h(read).open_world,
            "{read}"
        );
    }
    for write in [
        "create_a_zoho_desk_ticket",
        "update_a_zoho_desk_ticket_by_id",
        "zoho_desk_tickets_send_reply",
        "zoho_desk_tickets_draft_reply",
        "create_a_zoho_desk_ticket_comment",
    ] {
        assert!(!h(write).read_only && !h(write).destructive, "{write}");
    }
    assert!(h("update_a_zoho_desk_ticket_by_id").idempotent);
    assert!(!h("zoho_desk_tickets_send_reply").idempotent);
}

#[test]
fn tags_are_resource_tags_plus_method_tags() {
    let c = Catalog::zoho_desk().unwrap();
    let t = c
        .get("zoho_desk_tickets_suggest_relevant_articles_for_ticket")
        .unwrap();
    assert_eq!(t.tags, strings(&["tickets", "support", "knowledge_base"]));
    assert_eq!(
        c.get("get_single_zoho_desk_kb_article_by_id").unwrap().tags,
        strings(&["knowledge_base"])
    );
}

fn without_record(key: &str, next: &str) -> String {
    let start = ZOHO_DESK_DOCUMENTATION
        .find(&format!("\n  {key}:\n"))
        .unwrap();
    let end = ZOHO_DESK_DOCUMENTATION
        .find(&format!("\n  {next}:\n"))
        .unwrap();
    format!(
        "{}{}",
        &ZOHO_DESK_DOCUMENTATION[..start],
        &ZOHO_DESK_DOCUMENTATION[end..]
    )
}

#[test]
fn removing_a_documentation_record_removes_the_tool() {
    let docs = without_record("agents.get", "departments.list");
    let c = Catalog::from_yaml(ZOHO_DESK_RESOURCES, &docs).unwrap();
    assert!(c.get("get_single_zoho_desk_agent_by_id").is_none());
    assert!(c.get("list_all_zoho_desk_agents").is_some());
    assert_eq!(c.tools().len(), EXPECTED.len() - 1);
}

#[test]
fn removing_a_method_used_by_documentation_is_an_error() {
    let resources = ZOHO_DESK_RESOURCES.replace(
        "      get:\n        http: GET\n        path: /agents/{id}\n",
        "",
    );
    assert_ne!(resources, ZOHO_DESK_RESOURCES);
    let err = Catalog::from_yaml(&resources, ZOHO_DESK_DOCUMENTATION).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("agents.get") && text.contains("documentation.yaml:"),
        "{text}"
    );
}

#[test]
fn yaml_errors_carry_file_line_and_column() {
    let resources =
        "integration: zoho_desk\nresources:\n  tickets:\n    singular: ticket\n    methodz: {}\n";
    let err = Catalog::from_yaml(resources, "records: {}\n").unwrap_err();
    match &err {
        DefinitionError::Syntax {
            file,
            location,
            message,
        } => {
            assert_eq!(file, "resources.yaml");
            assert_eq!(location, "5:5", "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unsupported_schema_keywords_are_refused_at_load() {
    let docs = ZOHO_DESK_DOCUMENTATION.replace(
        "viewId: {type: string, description: A saved view's id}",
        "viewId: {type: string, pattern: \"^[0-9]+$\"}",
    );
    assert_ne!(docs, ZOHO_DESK_DOCUMENTATION);
    let err = Catalog::from_yaml(ZOHO_DESK_RESOURCES, &docs).unwrap_err();
    assert!(err.to_string().contains("pattern"), "{err}");
}

#[test]
fn definition_checks() {
    let base = "integration: zoho_desk\nresources:\n  things:\n    singular: thing\n    methods:\n";
    let doc = |key: &str, extra: &str| format!("records:\n  {key}:\n    description: d\n{extra}");
    let cases: [(&str, String, &str); 6] = [
        (
            "      frob:\n        http: GET\n        path: /things\n",
            doc("things.frob", ""),
            "access",
        ),
        (
            "      list:\n        http: GET\n        path: /things\n",
            doc("things.list", ""),
            "pagination",
        ),
        (
            "      get:\n        http: FETCH\n        path: /things/{id}\n",
            doc("things.get", ""),
            "FETCH",
        ),
        (
            "      get:\n        http: GET\n        path: /things/{id}\n",
            doc(
                "things.get",
                "    query_schema: {type: object, properties: {id: {type: string}}}\n",
            ),
            "declared twice",
        ),
        (
            "      create:\n        http: POST\n        path: /things\n",
            doc("things.create", ""),
            "body_schema",
        ),
        (
            "      sum:\n        kind: composite\n        access: read\n",
            doc("things.sum", "    input_schema: {type: object}\n"),
            "no implementation",
        ),
    ];
    for (methods, docs, needle) in cases {
        let err = Catalog::from_yaml(&format!("{base}{methods}"), &docs).unwrap_err();
        assert!(err.to_string().contains(needle), "{needle}: {err}");
    }
}

fn filter(methods: &[&str], tags: &[&str]) -> ToolFilter {
    ToolFilter::parse(&strings(methods), &strings(tags)).unwrap()
}

#[test]
fn filters_combine_methods_and_tags() {
    let c = Catalog::zoho_desk().unwrap();
    assert_eq!(c.filtered(&ToolFilter::all()).len(), EXPECTED.len());
    let read = c.filtered(&filter(&["read"], &[]));
    assert!(read.iter().all(|t| t.annotations.read_only));
    assert!(
        read.iter()
            .any(|t| t.name == "zoho_desk_tickets_get_full_context")
    );
    assert!(read.iter().any(|t| t.name == "zoho_desk_tickets_search"));
    let write = c.filtered(&filter(&["WRITE"], &[]));
    let mut w: Vec<&str> = write.iter().map(|t| t.name.as_str()).collect();
    w.sort_unstable();
    assert_eq!(
        w,
        [
            "create_a_zoho_desk_ticket",
            "create_a_zoho_desk_ticket_comment",
            "update_a_zoho_desk_ticket_by_id",
            "zoho_desk_tickets_draft_reply",
            "zoho_desk_tickets_move",
            "zoho_desk_tickets_send_reply"
        ]
    );
    let kb_read = c.filtered(&filter(&["list", "get"], &["knowledge_base"]));
    let mut k: Vec<&str> = kb_read.iter().map(|t| t.name.as_str()).collect();
    k.sort_unstable();
    assert_eq!(
        k,
        [
            "get_single_zoho_desk_kb_article_by_id",
            "list_all_zoho_desk_kb_articles"
        ]
    );
    let exact = c.filtered(&filter(&["search"], &[]));
    assert_eq!(exact.len(), 3);
}

#[test]
fn bad_filters_are_refused() {
    let err = ToolFilter::parse(&strings(&["read-only"]), &[]).unwrap_err();
    assert!(matches!(err, FilterError::UnknownMethod { .. }), "{err}");
    let c = Catalog::zoho_desk().unwrap();
    let err = c.check_filter(&filter(&["frobnicate"], &[])).unwrap_err();
    assert!(err.to_string().contains("frobnicate"), "{err}");
    let err = c.check_filter(&filter(&[], &["billing"])).unwrap_err();
    assert!(err.to_string().contains("billing"), "{err}");
    let err = c
        .check_filter(&filter(&["write"], &["knowledge_base"]))
        .unwrap_err();
    assert!(matches!(err, FilterError::MatchesNothing { .. }), "{err}");
    assert!(c.check_filter(&filter(&["read"], &["tickets"])).is_ok());
}

#[test]
fn search_ranks_by_words() {
    let c = Catalog::zoho_desk().unwrap();
    let all = ToolFilter::all();
    let hits: Vec<&str> = c
        .search("reply to a customer", 3, &all)
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert!(
        hits[..2].contains(&"zoho_desk_tickets_send_reply"),
        "{hits:?}"
    );
    assert!(
        hits[..2].contains(&"zoho_desk_tickets_draft_reply"),
        "{hits:?}"
    );
    let hits = c.search("knowledge base article", 10, &all);
    assert!(
        hits.iter()
            .any(|t| t.name == "zoho_desk_kb_articles_search")
    );
    let read_only = c.search("reply", 10, &filter(&["read"], &[]));
    assert!(read_only.iter().all(|t| t.annotations.read_only));
    assert_eq!(c.search("", 5, &all).len(), 5);
    assert!(c.search("xylophone", 5, &all).is_empty());
}

#[test]
fn specs_serialize_for_the_server_layer() {
    let c = Catalog::zoho_desk().unwrap();
    let v: Value = serde_json::to_value(c.get("list_all_zoho_desk_agents").unwrap()).unwrap();
    assert_eq!(v["annotations"]["read_only"], true);
}
