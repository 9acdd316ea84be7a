//! KB-grounded replies without a model: take the ticket's suggested articles, keep the best one
//! if the ticket really talks about what its title and summary say, and write a reply made of
//! that article's own text, citing it. Nothing is ever composed beyond the article: when no
//! article fits, the ticket gets a private note saying so and what article is missing.

use serde_json::{Map, Value, json};

use super::text::{coverage, strip_html, top_terms};
use super::{
    SIGNATURE, customer_text, id_of, number_input, read, round2, str_of, ticket_id, write,
};
use crate::agent::{Finish, ItemTools};

/// The lowest fit (share of the article's title and summary terms found in the ticket) that
/// counts as an answer. Measured on tests/fixtures/eval (see tests/workflows_baseline.rs).
pub const DEFAULT_MIN_ARTICLE_SCORE: f64 = 0.3;

/// Suggestions looked at: the server ranks them; the baseline only checks the head of that list.
const CANDIDATES: usize = 5;

/// The longest quote of an article in a reply; the citation carries the rest.
const MAX_QUOTE_CHARS: usize = 1500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    DraftComment,
    PublicReply,
}

pub async fn work(
    item: Option<&Value>,
    inputs: &Map<String, Value>,
    tools: &ItemTools<'_>,
) -> Result<Value, Finish> {
    let ticket_id = ticket_id(item, inputs)?;
    let mode = match inputs.get("reply_mode").and_then(Value::as_str) {
        None | Some("draft_comment") => Mode::DraftComment,
        Some("public_reply") => Mode::PublicReply,
        Some(other) => {
            return Err(Finish::Tool(format!(
                "inputs.reply_mode is `{other}`; expected draft_comment or public_reply"
            )));
        }
    };
    let min_score = number_input(inputs, "min_article_score", DEFAULT_MIN_ARTICLE_SCORE);
    let context = read(
        tools,
        "zoho_desk_tickets_get_full_context",
        json!({ "ticketId": ticket_id }),
    )
    .await?;
    let (subject, body) = customer_text(&context);
    let text = format!("{subject}\n{body}");

    // Department "0": the whole knowledge base, since a ticket may sit in the wrong department.
    let suggested = list_all_head(tools, &ticket_id).await?;
    let mut best: Option<(f64, &Value)> = None;
    for article in &suggested {
        let fit = fit(article, &subject, &text);
        if best.is_none_or(|(b, _)| fit > b) {
            best = Some((fit, article));
        }
    }
    let Some((score, article)) = best.filter(|(s, _)| *s >= min_score) else {
        let best_note = best
            .map(|(s, a)| {
                format!(
                    " The closest suggestion, \"{}\", fits only {:.2} (needs {min_score}).",
                    str_of(a, "title"),
                    s
                )
            })
            .unwrap_or_else(|| " The knowledge base suggested nothing.".into());
        let missing = top_terms(&text, 6).join(", ");
        let reason = format!("no knowledge-base article answers this ticket.{best_note}");
        note(
            tools,
            &ticket_id,
            &format!(
                "No article: {reason} No reply was drafted. Missing article: one that covers \"{subject}\" (key terms: {missing})."
            ),
        )
        .await?;
        return Ok(json!({
            "action": "no_article",
            "articleIds": [],
            "confidence": round2(best.map_or(0.0, |b| b.0)),
            "reason": reason,
        }));
    };
    let article_id = id_of(article.get("id"))
        .ok_or_else(|| Finish::Tool("a suggested article has no id".into()))?;
    let full = read(
        tools,
        "get_single_zoho_desk_kb_article_by_id",
        json!({ "id": article_id }),
    )
    .await?;
    let title = match str_of(&full, "title") {
        "" => str_of(article, "title").to_owned(),
        t => t.to_owned(),
    };
    let link = [str_of(&full, "webUrl"), str_of(&full, "permalink")]
        .into_iter()
        .find(|s| !s.is_empty())
        .map(str::to_owned);
    let citation = match &link {
        Some(url) => format!("\"{title}\" (article {article_id}, {url})"),
        None => format!("\"{title}\" (article {article_id})"),
    };
    let answer = quote(&strip_html(str_of(&full, "answer")));
    let answer = if answer.is_empty() {
        str_of(&full, "summary").to_owned()
    } else {
        answer
    };
    let confidence = round2(score.min(1.0));
    let reason = format!("the suggested article {citation} covers the ticket (fit {confidence})");
    let action = match mode {
        Mode::DraftComment => {
            note(
                tools,
                &ticket_id,
                &format!(
                    "Draft reply for an agent to review, taken from the knowledge-base article {citation} (fit {confidence}):\n\n\
                     Hello,\n\nthank you for contacting us. This article answers your question:\n\n{answer}\n\nFull article: {}\n",
                    link.as_deref().unwrap_or(&title)
                ),
            )
            .await?;
            "drafted"
        }
        Mode::PublicReply => {
            send_reply(tools, &ticket_id, &context, &format!(
                "Hello,\n\nthank you for contacting us. Our knowledge-base article {citation} answers your question:\n\n{answer}\n\n\
                 This reply was assembled automatically by deskhand's deterministic baseline (not an LLM, not a person) from the article above. \
                 If it does not solve your problem, reply to this message and an agent will take over."
            ))
            .await?;
            "replied"
        }
    };
    Ok(json!({
        "action": action,
        "articleIds": [article_id],
        "confidence": confidence,
        "reason": reason,
    }))
}

/// The first few suggestions (one page).
async fn list_all_head(tools: &ItemTools<'_>, ticket_id: &str) -> Result<Vec<Value>, Finish> {
    let page = read(
        tools,
        "zoho_desk_tickets_suggest_relevant_articles_for_ticket",
        json!({ "ticketId": ticket_id, "departmentId": "0", "limit": CANDIDATES }),
    )
    .await?;
    let mut list = match &page {
        Value::Array(a) => a.clone(),
        other => other
            .get("result")
            .or_else(|| other.get("data"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    };
    list.truncate(CANDIDATES);
    Ok(list)
}

/// How well an article fits a ticket: the share of its title's terms the ticket uses, blended with
/// the share of its summary's. A suggestion that only shares a word or two scores low.
fn fit(article: &Value, subject: &str, text: &str) -> f64 {
    let title = str_of(article, "title");
    let summary = str_of(article, "summary");
    let title_fit = coverage(title, text);
    // A subject that names the article's topic is the strongest signal a ticket gives.
    let subject_fit = coverage(subject, title);
    let summary_fit = coverage(summary, text);
    0.5 * title_fit + 0.2 * subject_fit + 0.3 * summary_fit
}

/// The article text, cut at a line end near the limit.
fn quote(text: &str) -> String {
    if text.chars().count() <= MAX_QUOTE_CHARS {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX_QUOTE_CHARS).collect();
    match cut.rfind('\n') {
        Some(i) if i > MAX_QUOTE_CHARS / 2 => format!("{}\n[...]", &cut[..i]),
        _ => format!("{cut} [...]"),
    }
}

async fn note(tools: &ItemTools<'_>, ticket_id: &str, text: &str) -> Result<Value, Finish> {
    write(
        tools,
        "create_a_zoho_desk_ticket_comment",
        json!({
            "ticketId": ticket_id,
            "isPublic": false,
            "contentType": "plainText",
            "content": format!("{SIGNATURE}\n{text}"),
        }),
    )
    .await
}

/// A public reply on the ticket's own channel; e-mail goes out from the support address the
/// customer wrote to.
async fn send_reply(
    tools: &ItemTools<'_>,
    ticket_id: &str,
    context: &Value,
    content: &str,
) -> Result<Value, Finish> {
    let ticket = context.get("ticket").unwrap_or(&Value::Null);
    let channel = match str_of(ticket, "channel") {
        "" | "Email" | "EMAIL" | "email" => "EMAIL".to_owned(),
        other => other.to_uppercase(),
    };
    let mut args = json!({
        "ticketId": ticket_id,
        "channel": channel,
        "contentType": "plainText",
        "content": content,
    });
    if channel == "EMAIL" {
        let from = context
            .get("threads")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|t| str_of(t, "direction") == "in")
            .map(|t| str_of(t, "to"))
            .find(|to| to.contains('@'))
            .map(|to| to.split(',').next().unwrap_or(to).trim().to_owned());
        let Some(from) = from else {
            return Err(Finish::Tool(
                "cannot reply by e-mail: no support address found on the ticket's incoming threads"
                    .into(),
            ));
        };
        args["fromEmailAddress"] = json!(from);
    }
    write(tools, "zoho_desk_tickets_send_reply", args).await
}
