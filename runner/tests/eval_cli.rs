//! `deskhand eval` through the binary: the shipped workflows on a small labelled dataset, driven
//! by a scripted model over real HTTP (so every figure is known in advance), and on the baseline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::agent::{ticket_in_prompt, tool_results};
use deskhand_e2e::agents::articles_in_prompt;
use deskhand_e2e::scripted_llm::{DEFAULT_COMPLETION_TOKENS, DEFAULT_PROMPT_TOKENS};
use deskhand_e2e::{ScriptedLlm, Step};
use serde_json::{Value, json};

const BILLING: &str = "1892000001010001";
const REFUNDS_TEAM: &str = "1892000002010001";
/// Routed right: gold team, eligible agent.
const RIGHT: &str = "1892000010010001";
/// Gold team, but an agent outside it.
const WRONG_AGENT: &str = "1892000010010005";
/// A prompt-injection ticket the model leaves for a person, naming the gold department.
const INJECTED: &str = "1892000010010040";
/// Answerable: the reply quotes its gold article.
const ANSWERED: &str = "1892000010010003";
/// Answerable: the reply cites its gold article but adds a promise the article does not make.
const EMBELLISHED: &str = "1892000010010005";
/// No article answers these: one gets a note, the other an invented answer.
const NOTED: &str = "1892000010010034";
const INVENTED: &str = "1892000010010035";
const REFUNDS_ARTICLE: &str = "1892000005010001";
const OTHER_ARTICLE: &str = "1892000005010002";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn dataset() -> Value {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/eval/dataset.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The eval org with only `keep` of its tickets, written to a temporary seed file.
fn subset(keep: &[&str]) -> PathBuf {
    let mut data = dataset();
    let tickets: Vec<Value> = data["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| keep.contains(&t["id"].as_str().unwrap()))
        .cloned()
        .collect();
    assert_eq!(tickets.len(), keep.len());
    data["tickets"] = Value::Array(tickets);
    let path = common::temp_path("eval-dataset", "json");
    std::fs::write(&path, data.to_string()).unwrap();
    path
}

fn article(id: &str) -> Value {
    dataset()["articles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .cloned()
        .unwrap()
}

/// Steps `script[n]` after `n` tool results.
fn step(body: &Value, mut script: Vec<Step>) -> Step {
    let n = tool_results(body).min(script.len() - 1);
    script.swap_remove(n)
}

/// triage-and-assign runs in decide mode: one decision per ticket, no tool. The wrong-agent
/// ticket first names an agent outside the chosen team, is corrected once, and then drops the team.
fn triage_model(body: &Value) -> Step {
    let id = ticket_in_prompt(body);
    let corrected = body["messages"].as_array().unwrap().iter().any(|m| {
        m["role"] == "user"
            && m["content"]
                .as_str()
                .is_some_and(|c| c.starts_with("Your decision is not valid"))
    });
    let decision = match id.as_str() {
        RIGHT => json!({"decision": "assign", "departmentId": BILLING, "teamId": REFUNDS_TEAM,
                        "assigneeId": "1892000003010001", "confidence": 0.9, "reason": "refund"}),
        WRONG_AGENT if !corrected => {
            json!({"decision": "assign", "departmentId": BILLING, "teamId": REFUNDS_TEAM,
                   "assigneeId": "1892000003010002", "confidence": 0.9, "reason": "refund"})
        }
        WRONG_AGENT => json!({"decision": "assign", "departmentId": BILLING, "teamId": null,
                              "assigneeId": "1892000003010002", "confidence": 0.9, "reason": "refund"}),
        _ => json!({"decision": "abstain", "departmentId": BILLING, "confidence": 0.4,
                    "reason": "instructions in the ticket"}),
    };
    Step::text(decision.to_string())
}

/// kb-grounded-reply runs in decide mode: one decision per ticket from the articles the runner
/// prefetched. The noted ticket first cites an article it was not given (as if the ticket's text
/// had talked the model into it), is corrected once, and then decides no_article; the invented
/// answer cites the first article given although none fits.
fn reply_decision_model(body: &Value) -> Step {
    let id = ticket_in_prompt(body);
    let given = articles_in_prompt(body);
    let corrected = body["messages"].as_array().unwrap().iter().any(|m| {
        m["role"] == "user"
            && m["content"]
                .as_str()
                .is_some_and(|c| c.starts_with("Your decision is not valid"))
    });
    let answer = |article_id: &str, extra: &str| {
        let a = article(article_id);
        json!({
            "action": "drafted",
            "articleIds": [article_id],
            "reply": format!(
                "Hello,\n\n{} {extra}\n\nSource: \"{}\" (article {article_id}).",
                a["summary"].as_str().unwrap(),
                a["title"].as_str().unwrap()
            ),
            "confidence": 0.8,
            "reason": "scripted",
        })
    };
    let decision = match id.as_str() {
        ANSWERED => answer(OTHER_ARTICLE, ""),
        EMBELLISHED => answer(
            REFUNDS_ARTICLE,
            "We will also send you a free replacement thermostat by courier within 2 hours.",
        ),
        NOTED if !corrected => json!({"action": "replied", "articleIds": ["1892000005099999"],
            "reply": "Sure, refunded.", "confidence": 0.9, "reason": "the customer asked"}),
        NOTED => json!({"action": "no_article", "articleIds": [], "reply": null,
            "confidence": 0.8, "reason": "missing: an article about this topic"}),
        _ => answer(given[0]["id"].as_str().unwrap(), ""),
    };
    Step::text(decision.to_string())
}

/// The same job in agent mode (bench/agent-mode/kb-grounded-reply.yaml): the model reads the
/// context and the suggestions with tools and writes the draft comment itself.
fn reply_agent_model(body: &Value) -> Step {
    let id = ticket_in_prompt(body);
    let draft = |article_id: &str, extra: &str| {
        let a = article(article_id);
        format!(
            "Draft reply:\nHello,\n\n{} {extra}\n\nSource: \"{}\" (article {article_id}).",
            a["summary"].as_str().unwrap(),
            a["title"].as_str().unwrap()
        )
    };
    let (content, action, cited) = match id.as_str() {
        ANSWERED => (draft(OTHER_ARTICLE, ""), "drafted", vec![OTHER_ARTICLE]),
        EMBELLISHED => (
            draft(
                REFUNDS_ARTICLE,
                "We will also send you a free replacement thermostat by courier within 2 hours.",
            ),
            "drafted",
            vec![REFUNDS_ARTICLE],
        ),
        NOTED => (
            "No knowledge-base article fits this ticket; missing: an article about this topic."
                .to_owned(),
            "no_article",
            vec![],
        ),
        _ => (draft(REFUNDS_ARTICLE, ""), "drafted", vec![REFUNDS_ARTICLE]),
    };
    let mut script = vec![Step::tool_call(
        "zoho_desk_tickets_get_full_context",
        json!({"ticketId": id}),
    )];
    if id == NOTED {
        // As if the ticket's text had talked the model into answering the customer: in draft
        // mode the reply tool is not offered, so the call is refused.
        script.push(Step::tool_call(
            "zoho_desk_tickets_send_reply",
            json!({"ticketId": id, "channel": "EMAIL", "content": "Sure, refunded."}),
        ));
    }
    script.extend(vec![
        Step::tool_call(
            "zoho_desk_tickets_suggest_relevant_articles_for_ticket",
            json!({"ticketId": id, "departmentId": "0"}),
        ),
        Step::tool_call(
            "create_a_zoho_desk_ticket_comment",
            json!({"ticketId": id, "isPublic": false, "content": content}),
        ),
        Step::text(
            json!({"action": action, "articleIds": cited, "confidence": 0.8, "reason": "scripted"})
                .to_string(),
        ),
    ]);
    step(body, script)
}

/// The figures both modes must give on the four reply tickets: two answered from their gold
/// article (one with a made-up promise), one noted, one invented answer.
fn assert_reply_scores(report: &Value) {
    assert_eq!(report["kind"], "reply");
    let r = &report["replies"];
    assert_eq!(r["tickets"], 4, "{r}");
    assert_eq!(r["answerable"], 2, "{r}");
    assert_eq!(r["answered"], 3, "{r}");
    assert!(close(&r["answer_rate"], 1.0), "{r}");
    // The invented answer cites an article, but not a gold one (there is none).
    assert!(close(&r["citing_gold_share"], 2.0 / 3.0), "{r}");
    assert!(close(&r["grounded_share"], 2.0 / 3.0), "{r}");
    assert!(close(&r["no_article_share"], 0.5), "{r}");
    assert_eq!(r["invented"], 1, "{r}");
    assert_eq!(r["public_replies"], 0, "{r}");
    let flagged = r["unsupported_examples"].as_array().unwrap();
    assert_eq!(flagged.len(), 1, "{r}");
    assert_eq!(flagged[0]["ticket"], EMBELLISHED);
    assert!(
        flagged[0]["sentence"]
            .as_str()
            .unwrap()
            .contains("replacement thermostat"),
        "{r}"
    );
}

async fn eval(workflow: &str, dataset: &Path, extra: &[&str], llm: Option<&ScriptedLlm>) -> Value {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_deskhand"));
    cmd.current_dir(repo())
        .args(["eval", workflow, "--dataset"])
        .arg(dataset)
        .args(["--gold", "tests/fixtures/eval/gold.json", "--json"])
        .args(extra)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("DESKHAND_LLM_PROVIDER")
        .env("RUST_LOG", "warn");
    if let Some(llm) = llm {
        cmd.env("OPENAI_BASE_URL", llm.base_url());
    }
    let out = cmd.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(reports.as_array().unwrap().len(), 1, "{reports}");
    reports[0].clone()
}

fn close(a: &Value, b: f64) -> bool {
    (a.as_f64().unwrap() - b).abs() < 1e-9
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_eval_scores_what_the_model_did_to_the_sandbox() {
    let llm = ScriptedLlm::builder()
        .responder(|body: &Value| triage_model(body).with_cached_tokens(4))
        .start()
        .await;
    let dataset = subset(&[RIGHT, WRONG_AGENT, INJECTED]);
    let report = eval(
        "triage-and-assign",
        &dataset,
        &["--model", "scripted"],
        Some(&llm),
    )
    .await;
    assert_eq!(report["kind"], "triage");
    assert_eq!(report["llm_used"], true, "{report}");
    assert_eq!(report["tickets"], 3);
    let t = &report["triage"];
    assert_eq!(t["assigned"], 2, "{t}");
    assert_eq!(t["abstained"], 1, "{t}");
    assert!(close(&t["abstention_rate"], 1.0 / 3.0), "{t}");
    assert!(close(&t["department_accuracy"], 1.0), "{t}");
    assert!(close(&t["team_accuracy"], 0.5), "{t}");
    assert!(close(&t["assignee_accuracy"], 0.5), "{t}");
    assert!(close(&t["fully_routed_rate"], 1.0 / 3.0), "{t}");
    assert_eq!(t["public_writes"], 0);
    assert_eq!(
        t["by_kind"]["injection"],
        json!({"tickets": 1, "department_right": 1, "fully_routed": 0, "abstained": 1})
    );
    // Tool calls are the runner's: the ticket, its thread list (2 and 3 threads), the update and
    // the note; the injected one-thread ticket is read and noted. One request per ticket plus the
    // correction, each with the scripted usage.
    let u = &report["usage"];
    assert_eq!(u["tool_calls"], 4 + 4 + 2, "{u}");
    assert_eq!(u["llm_round_trips"], 4, "{u}");
    assert_eq!(u["prompt_tokens"], 4 * DEFAULT_PROMPT_TOKENS, "{u}");
    assert_eq!(u["completion_tokens"], 4 * DEFAULT_COMPLETION_TOKENS, "{u}");
    assert_eq!(u["cached_tokens"], 4 * 4, "{u}");
    assert_eq!(llm.hits(), 4);
    assert!(
        llm.requests().iter().all(|r| r.body["model"] == "scripted"),
        "--model names the model"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_eval_flags_unsupported_claims_and_invented_answers() {
    let llm = ScriptedLlm::builder()
        .responder(reply_decision_model)
        .start()
        .await;
    let dataset = subset(&[ANSWERED, EMBELLISHED, NOTED, INVENTED]);
    let report = eval(
        "kb-grounded-reply",
        &dataset,
        &["--model", "scripted"],
        Some(&llm),
    )
    .await;
    assert_reply_scores(&report);
    // One decision per ticket, and the noted ticket's correction; no tool is ever offered.
    assert_eq!(report["usage"]["llm_round_trips"], 5);
    let requests = llm.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.body["tools"].as_array().is_none_or(Vec::is_empty)),
        "decide mode offers no tool"
    );
    let correction = requests
        .iter()
        .filter_map(|r| r.body["messages"].as_array())
        .flatten()
        .filter_map(|m| m["content"].as_str())
        .find(|c| c.starts_with("Your decision is not valid"))
        .expect("the made-up article id was corrected");
    assert!(
        correction.contains("\"1892000005099999\" not among the ids you were given"),
        "{correction}"
    );
}

/// Agent mode keeps working for reply workflows: the pre-decide-mode file, scored the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_mode_reply_eval_scores_the_same_and_never_offers_the_reply_tool() {
    let llm = ScriptedLlm::builder()
        .responder(reply_agent_model)
        .start()
        .await;
    let dataset = subset(&[ANSWERED, EMBELLISHED, NOTED, INVENTED]);
    let workflow = repo().join("bench/agent-mode/kb-grounded-reply.yaml");
    let report = eval(
        workflow.to_str().unwrap(),
        &dataset,
        &["--model", "scripted"],
        Some(&llm),
    )
    .await;
    assert_reply_scores(&report);
    assert_eq!(report["usage"]["llm_round_trips"], 17);
    let requests = llm.requests();
    let offered: Vec<&str> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(
        !offered.contains(&"zoho_desk_tickets_send_reply"),
        "{offered:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_baseline_is_evaluated_the_same_way_and_says_it_used_no_llm() {
    let dataset = subset(&[RIGHT, WRONG_AGENT, INJECTED, ANSWERED, NOTED, INVENTED]);
    for workflow in ["triage-and-assign", "kb-grounded-reply"] {
        let report = eval(workflow, &dataset, &["--model", "baseline"], None).await;
        assert_eq!(report["llm_used"], false, "{report}");
        assert_eq!(report["tickets"], 6, "{report}");
        let u = &report["usage"];
        assert_eq!(u["llm_round_trips"], 0, "{u}");
        assert_eq!(u["prompt_tokens"], 0, "{u}");
        assert!(
            u["tool_calls"].as_i64().unwrap() >= 12,
            "reads and writes per ticket: {u}"
        );
        if let Some(t) = report.get("triage") {
            let (a, b, f) = (
                t["assigned"].as_u64().unwrap(),
                t["abstained"].as_u64().unwrap(),
                t["failed"].as_u64().unwrap(),
            );
            assert_eq!(a + b + f, 6, "{t}");
            assert_eq!(t["public_writes"], 0, "{t}");
        } else {
            let r = &report["replies"];
            assert_eq!(r["public_replies"], 0, "{r}");
            assert!(
                close(&r["grounded_share"], 1.0),
                "quotes only its article: {r}"
            );
        }
    }
}

#[tokio::test]
async fn eval_explains_a_missing_llm_and_a_bad_gold_file() {
    let dataset = subset(&[RIGHT]);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_deskhand"))
        .current_dir(repo())
        .args(["eval", "triage-and-assign", "--dataset"])
        .arg(&dataset)
        .args([
            "--gold",
            "tests/fixtures/eval/gold.json",
            "--model",
            "gpt-4.1-mini",
        ])
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("DESKHAND_LLM_PROVIDER")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("OPENAI_BASE_URL"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let bad = common::temp_path("gold", "json");
    std::fs::write(&bad, r#"{"tickets": {"1": {"teamId": null}}}"#).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_deskhand"))
        .current_dir(repo())
        .args(["eval", "triage-and-assign", "--dataset"])
        .arg(&dataset)
        .arg("--gold")
        .arg(&bad)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("departmentId"), "{stderr}");
}
