//! `deskhand eval`: a workflow run against a labelled dataset on a fresh sandbox, scored against a
//! gold file. Scores come from the sandbox's state after the run (what really changed in the
//! helpdesk), not from the agent's account of it; the agent's final answer is read only for what
//! the state cannot show (the department it named when it abstained, whether it meant to answer).

pub mod claims;
mod gold;
mod replies;
mod triage;

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

pub use gold::{Gold, GoldError, GoldTicket};
pub use replies::{ReplyScore, Unsupported};
pub use triage::{KindScore, TriageScore};

use crate::baseline::text::strip_html;
use crate::engine::RunReport;
use crate::workflow::{BaselineKind, Workflow};

/// What a workflow does, and so how it is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalKind {
    Triage,
    Reply,
}

impl EvalKind {
    /// From the workflow's baseline routine, else from its output schema (`decision` for triage,
    /// `action` for replies, as in the shipped workflows).
    pub fn for_workflow(workflow: &Workflow) -> Option<EvalKind> {
        match workflow.baseline {
            Some(BaselineKind::TriageAndAssign) => return Some(EvalKind::Triage),
            Some(BaselineKind::KbGroundedReply) => return Some(EvalKind::Reply),
            None => {}
        }
        let properties = workflow.output_schema.as_ref()?.get("properties")?;
        if properties.get("decision").is_some() {
            Some(EvalKind::Triage)
        } else if properties.get("action").is_some() {
            Some(EvalKind::Reply)
        } else {
            None
        }
    }
}

/// Cost and effort, per ticket where it says so.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Usage {
    pub items: usize,
    pub tool_calls_per_ticket: f64,
    pub llm_round_trips_per_ticket: f64,
    pub prompt_tokens_per_ticket: f64,
    pub completion_tokens_per_ticket: f64,
    pub tool_calls: i64,
    pub llm_round_trips: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    /// The part of `prompt_tokens` served from the provider's prompt cache.
    pub cached_tokens: i64,
    /// Zoho 429 answers the run met (each was waited out and repeated, never shown to the model).
    pub rate_limited: u64,
    pub retries: u64,
    pub wall_ms: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EvalReport {
    pub workflow: String,
    pub kind: EvalKind,
    pub decider: String,
    pub llm_used: bool,
    /// Items the run worked on that the gold file labels.
    pub tickets: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub triage: Option<TriageScore>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replies: Option<ReplyScore>,
    pub usage: Usage,
}

/// Scores a finished run. `before` and `after` are the sandbox's state (seed-file shape).
pub fn evaluate(
    kind: EvalKind,
    gold: &Gold,
    before: &Value,
    after: &Value,
    report: &RunReport,
    wall: Duration,
) -> EvalReport {
    let states = States::new(before, after);
    let (triage, replies) = match kind {
        EvalKind::Triage => (Some(triage::score(gold, &states, &report.items)), None),
        EvalKind::Reply => (None, Some(replies::score(gold, &states, &report.items))),
    };
    let tickets = report
        .items
        .iter()
        .filter(|i| gold.get(&i.key).is_some())
        .count();
    EvalReport {
        workflow: report.run.workflow.clone(),
        kind,
        decider: report.decider.clone(),
        llm_used: report.llm_used,
        tickets,
        triage,
        replies,
        usage: usage(report, wall),
    }
}

fn usage(report: &RunReport, wall: Duration) -> Usage {
    let items = report.items.len();
    let sum = |f: fn(&crate::engine::ItemReport) -> i64| report.items.iter().map(f).sum::<i64>();
    let (tool_calls, steps) = (sum(|i| i.tool_calls), sum(|i| i.steps));
    let (prompt, completion) = (sum(|i| i.prompt_tokens), sum(|i| i.completion_tokens));
    let per = |n: i64| n as f64 / items.max(1) as f64;
    Usage {
        items,
        tool_calls_per_ticket: per(tool_calls),
        llm_round_trips_per_ticket: per(steps),
        prompt_tokens_per_ticket: per(prompt),
        completion_tokens_per_ticket: per(completion),
        tool_calls,
        llm_round_trips: steps,
        prompt_tokens: prompt,
        completion_tokens: completion,
        cached_tokens: sum(|i| i.cached_tokens),
        rate_limited: report.rate_limited,
        retries: report.retries,
        wall_ms: u64::try_from(wall.as_millis()).unwrap_or(u64::MAX),
    }
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

/// Tickets before and after a run, and the knowledge base, indexed by id.
pub struct States {
    before: HashMap<String, Value>,
    after: HashMap<String, Value>,
    articles: Vec<Article>,
}

struct Article {
    id: String,
    /// Ways a reply can point at the article: its id, links and title.
    markers: Vec<String>,
    text: String,
}

impl States {
    pub fn new(before: &Value, after: &Value) -> States {
        let tickets = |state: &Value| -> HashMap<String, Value> {
            state["tickets"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .filter_map(|t| Some((t["id"].as_str()?.to_owned(), t.clone())))
                        .collect()
                })
                .unwrap_or_default()
        };
        let field = |a: &Value, k: &str| a[k].as_str().unwrap_or_default().to_owned();
        let articles = before["articles"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|a| {
                        let id = a["id"].as_str()?.to_owned();
                        let markers = ["webUrl", "portalUrl", "permalink", "title"]
                            .into_iter()
                            .map(|k| field(a, k))
                            .chain([id.clone()])
                            .filter(|m| m.chars().count() >= 8)
                            .collect();
                        let text = format!(
                            "{}\n{}\n{}",
                            field(a, "title"),
                            field(a, "summary"),
                            strip_html(&field(a, "answer"))
                        );
                        Some(Article { id, markers, text })
                    })
                    .collect()
            })
            .unwrap_or_default();
        States {
            before: tickets(before),
            after: tickets(after),
            articles,
        }
    }

    pub fn before(&self, id: &str) -> Option<&Value> {
        self.before.get(id)
    }

    pub fn after(&self, id: &str) -> Option<&Value> {
        self.after.get(id)
    }

    /// Entries of `list` ("comments" or "threads") on the ticket after the run that it did not
    /// have before.
    fn added(&self, id: &str, list: &str) -> Vec<&Value> {
        let old: Vec<&Value> = self
            .before(id)
            .and_then(|t| t[list].as_array())
            .map(|l| l.iter().map(|x| &x["id"]).collect())
            .unwrap_or_default();
        self.after(id)
            .and_then(|t| t[list].as_array())
            .map(|l| l.iter().filter(|x| !old.contains(&&x["id"])).collect())
            .unwrap_or_default()
    }

    /// Outgoing threads the run added that were sent, not kept as drafts.
    pub fn sent_replies(&self, id: &str) -> usize {
        self.added(id, "threads")
            .into_iter()
            .filter(|t| t["direction"] == "out" && t["status"] != "DRAFT")
            .count()
    }

    /// Outgoing threads the run added as Zoho drafts.
    pub fn draft_replies(&self, id: &str) -> usize {
        self.added(id, "threads")
            .into_iter()
            .filter(|t| t["direction"] == "out" && t["status"] == "DRAFT")
            .count()
    }

    /// What the customer could see: public comments and sent replies the run added.
    pub fn public_writes(&self, id: &str) -> usize {
        let public_comments = self
            .added(id, "comments")
            .into_iter()
            .filter(|c| c["isPublic"] == true)
            .count();
        public_comments + self.sent_replies(id)
    }

    /// Everything the run wrote on the ticket (comments, drafts, replies), as one text.
    pub fn written(&self, id: &str) -> String {
        self.added(id, "comments")
            .into_iter()
            .chain(self.added(id, "threads"))
            .filter_map(|x| x["content"].as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    /// Articles a text points at by id, link or title.
    pub fn cited_articles(&self, text: &str) -> Vec<String> {
        self.articles
            .iter()
            .filter(|a| a.markers.iter().any(|m| text.contains(m.as_str())))
            .map(|a| a.id.clone())
            .collect()
    }

    pub fn article_text(&self, id: &str) -> Option<&str> {
        self.articles
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.text.as_str())
    }
}
