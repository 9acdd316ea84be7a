#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Property tests: arbitrary bytes and arbitrary JSON sent to the JSON-RPC HTTP endpoint (over a
//! real socket) and arbitrary arguments given to the tool router never panic, never answer 5xx,
//! and every refusal is a JSON error with a readable message. Case counts are bounded so the
//! file runs in seconds.

mod common;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::Mock;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;
use zoho_desk_mcp::catalog::ToolFilter;
use zoho_desk_mcp::registry::{Registry, ToolExposure, database};
use zoho_desk_mcp::server::hosted::{self, CreateServer};
use zoho_desk_mcp::server::{GatewayPool, HttpOptions, HttpState, http, listener};
use zoho_desk_mcp::{Catalog, Gateway};

struct World {
    runtime: tokio::runtime::Runtime,
    _mock: Mock,
    gateway: Arc<Gateway>,
    url: String,
    tools: Vec<(String, Vec<String>)>,
    client: reqwest::Client,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (mock, gateway, url) = runtime.block_on(async {
            let mock = Mock::start().await;
            let gateway = Arc::new(Gateway::new(
                Arc::new(Catalog::zoho_desk().unwrap()),
                mock.client(),
            ));
            let pool = Arc::new(GatewayPool::with_gateway(gateway.clone()));
            let path = std::env::temp_dir().join(format!(
                "deskhand-prop-{}-{}.db",
                std::process::id(),
                database::now_ms()
            ));
            let registry = Registry::open(database::connect(path.to_str().unwrap()).await.unwrap())
                .await
                .unwrap();
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
                .await
                .unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let state = HttpState::new(
                registry.clone(),
                pool.clone(),
                HttpOptions {
                    loopback_bound: true,
                    ..HttpOptions::default()
                },
                CancellationToken::new(),
            );
            tokio::spawn(listener::serve(
                listener,
                http::router(state),
                std::future::pending(),
            ));
            let hosted = hosted::create(
                &registry,
                &pool,
                CreateServer {
                    name: "prop".into(),
                    connection: "default".into(),
                    methods: vec![],
                    tags: vec![],
                    exposure: ToolExposure::All,
                    require_api_token_auth: false,
                    expires_at: None,
                },
                &base,
            )
            .await
            .unwrap();
            (mock, gateway, hosted.url)
        });
        let tools = gateway
            .catalog()
            .filtered(&ToolFilter::default())
            .into_iter()
            .map(|spec| {
                let keys = spec
                    .input_schema
                    .get("properties")
                    .and_then(Value::as_object)
                    .map(|p| p.keys().cloned().collect())
                    .unwrap_or_default();
                (spec.name.clone(), keys)
            })
            .collect();
        World {
            runtime,
            _mock: mock,
            gateway,
            url,
            tools,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,24}".prop_map(Value::from),
        "[0-9]{1,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::btree_map(".{0,10}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const METHODS: &[&str] = &[
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "prompts/get",
    "notifications/initialized",
    "notifications/cancelled",
    "no/such/method",
];

/// Bodies from garbage to nearly valid JSON-RPC.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (
            prop::sample::select(METHODS),
            json_value(),
            prop_oneof![Just(None), json_value().prop_map(Some)],
            any::<bool>(),
        )
            .prop_map(|(method, params, id, versioned)| {
                let mut m = Map::new();
                if versioned {
                    m.insert("jsonrpc".into(), json!("2.0"));
                }
                m.insert("method".into(), json!(method));
                m.insert("params".into(), params);
                if let Some(id) = id {
                    m.insert("id".into(), id);
                }
                Value::Object(m).to_string().into_bytes()
            }),
        (json_value(), any::<i64>()).prop_map(|(arguments, id)| {
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                   "params": {"name": "list_all_zoho_desk_tickets", "arguments": arguments}})
            .to_string()
            .into_bytes()
        }),
    ]
}

/// A refusal is clear when it is JSON carrying a non-empty message: the server's
/// `{error, message}` or a JSON-RPC error object.
fn assert_clear_refusal(status: u16, body: &[u8]) -> Result<(), TestCaseError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        TestCaseError::fail(format!(
            "HTTP {status} with a body that is not JSON ({e}): {}",
            String::from_utf8_lossy(body)
        ))
    })?;
    let message = value
        .get("message")
        .or_else(|| value.get("error").and_then(|e| e.get("message")))
        .and_then(Value::as_str)
        .unwrap_or("");
    prop_assert!(
        !message.trim().is_empty(),
        "HTTP {} without a message: {}",
        status,
        value
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_json_rpc_endpoint_answers_any_body_clearly(bytes in body()) {
        let w = world();
        let (status, answer) = w.runtime.block_on(async {
            let response = w
                .client
                .post(&w.url)
                .header("accept", "application/json, text/event-stream")
                .header("content-type", "application/json")
                .body(bytes.clone())
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.bytes().await.unwrap())
        });
        prop_assert!(status < 500, "HTTP {} for {:?}: {}", status, String::from_utf8_lossy(&bytes), String::from_utf8_lossy(&answer));
        if status >= 400 {
            assert_clear_refusal(status, &answer)?;
        } else if !answer.is_empty() {
            let value: Result<Value, _> = serde_json::from_slice(&answer);
            prop_assert!(value.is_ok(), "HTTP {} body is not JSON: {}", status, String::from_utf8_lossy(&answer));
        }
    }

    #[test]
    fn the_tool_router_refuses_any_arguments_clearly(
        tool in any::<prop::sample::Index>(),
        entries in prop::collection::vec(
            (any::<prop::sample::Index>(), any::<bool>(), "[a-zA-Z_]{1,12}", json_value()),
            0..6,
        ),
    ) {
        let w = world();
        let (name, keys) = &w.tools[tool.index(w.tools.len())];
        let mut args = Map::new();
        for (key, real, invented, value) in entries {
            let key = if real && !keys.is_empty() { keys[key.index(keys.len())].clone() } else { invented };
            args.insert(key, value);
        }
        let outcome = w.runtime.block_on(w.gateway.call(name, args.clone()));
        if let Err(e) = outcome {
            let structured = e.to_structured();
            let message = structured["message"].as_str().unwrap_or("");
            prop_assert!(!message.trim().is_empty(), "{}: {:?} -> {}", name, args, structured);
            prop_assert!(structured["status"].as_u64().is_some(), "{}", structured);
            if structured["errorCode"] == "INVALID_ARGUMENTS" && !keys.is_empty() {
                prop_assert!(
                    structured["allowed_keys"].as_array().is_some_and(|k| !k.is_empty()),
                    "{}: refusal without the allowed keys: {}", name, structured
                );
            }
        }
    }
}
