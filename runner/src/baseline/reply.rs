//! KB-grounded replies without a model: take the ticket's suggested articles, keep the best one
//! if the ticket really talks about what its title and summary say, and write a reply made of
//! that article's own text, citing it. Nothing is ever composed beyond the article: when no
//! article fits, the ticket gets a private note saying so and what article is missing.
//!
//! Where the answer goes follows Zoho's reply contract (Thread.json): replies exist only on the
//! channels EMAIL, FACEBOOK, TWITTER and FORUMS, drafts only on EMAIL, FACEBOOK and FORUMS, and
//! an EMAIL reply or draft needs one of the department's reply addresses. In draft mode an
//! e-mail ticket gets a real Zoho draft reply (an agent sends it from the reply editor); every
//! other ticket gets the draft as a private comment. In public mode a ticket on a reply channel
//! is answered; a phone, web or chat ticket gets the private comment instead.

use serde_json::{Map, Value, json};

use super::text::{coverage, strip_html, top_terms};
use super::{
    Prepared, SIGNATURE, customer_text, id_of, number_input, read, round2, str_of, ticket_id, write,
};
use crate::agent::{Finish, ItemTools};
use crate::workflow::list_elements;

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
    prepared: Option<&Prepared<'_>>,
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
    let prefetched = prepared.filter(|p| p.prefetch.get("ticket").is_some_and(|t| !t.is_null()));
    let (context, suggested, read_articles) = match prefetched {
        Some(p) => from_prefetch(&p.prefetch),
        None => {
            let context = read(
                tools,
                "zoho_desk_tickets_get_full_context",
                json!({ "ticketId": ticket_id, "includeFromAddresses": true }),
            )
            .await?;
            // Department "0": the whole knowledge base, since a ticket may sit in the wrong
            // department.
            (context, list_all_head(tools, &ticket_id).await?, Vec::new())
        }
    };
    let (subject, body) = customer_text(&context);
    let text = format!("{subject}\n{body}");

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
    let full = match read_articles
        .iter()
        .find(|a| id_of(a.get("id")).as_deref() == Some(article_id.as_str()))
    {
        Some(a) => a.clone(),
        None => {
            read(
                tools,
                "get_single_zoho_desk_kb_article_by_id",
                json!({ "id": article_id }),
            )
            .await?
        }
    };
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
    let customer_reply = format!(
        "Hello,\n\nthank you for contacting us. Our knowledge-base article {citation} answers your question:\n\n{answer}\n\n\
         This reply was assembled automatically by deskhand's deterministic baseline (not an LLM, not a person) from the article above. \
         If it does not solve your problem, reply to this message and an agent will take over."
    );
    let ticket = context.get("ticket").unwrap_or(&Value::Null);
    let channel = reply_channel(str_of(ticket, "channel"));
    let (action, where_) = match (mode, channel) {
        (Mode::DraftComment, Some(ReplyChannel::Email)) => match from_address(&context) {
            Ok(from) => {
                // The agent sends the draft as their own: the baseline's signature tells them
                // who wrote it (and to remove that line), the rest is the article's text.
                let draft = format!(
                    "{SIGNATURE}\nHello,\n\nthank you for contacting us. Our knowledge-base article {citation} answers your question:\n\n{answer}\n"
                );
                reply(tools, DRAFT_REPLY, &ticket_id, "EMAIL", Some(&from), &draft).await?;
                (
                    "drafted",
                    format!("; drafted as a Zoho e-mail draft from {from}"),
                )
            }
            Err(why) => {
                draft_note(
                    tools, &ticket_id, &citation, confidence, &answer, &link, &title,
                )
                .await?;
                ("drafted", format!("; drafted as a private comment ({why})"))
            }
        },
        (Mode::DraftComment, _) => {
            draft_note(
                tools, &ticket_id, &citation, confidence, &answer, &link, &title,
            )
            .await?;
            ("drafted", String::new())
        }
        (Mode::PublicReply, Some(c)) => {
            let from = match c {
                ReplyChannel::Email => Some(
                    from_address(&context)
                        .map_err(|why| Finish::Tool(format!("cannot reply by e-mail: {why}")))?,
                ),
                _ => None,
            };
            reply(
                tools,
                SEND_REPLY,
                &ticket_id,
                c.name(),
                from.as_deref(),
                &customer_reply,
            )
            .await?;
            ("replied", String::new())
        }
        (Mode::PublicReply, None) => {
            draft_note(
                tools, &ticket_id, &citation, confidence, &answer, &link, &title,
            )
            .await?;
            let on = match str_of(ticket, "channel") {
                "" => "no channel".to_owned(),
                c => format!("channel {c}"),
            };
            (
                "drafted",
                format!("; Zoho takes no reply on {on}, so the answer is a private comment"),
            )
        }
    };
    Ok(json!({
        "action": action,
        "articleIds": [article_id],
        "confidence": confidence,
        "reason": format!("{reason}{where_}"),
    }))
}

const SEND_REPLY: &str = "zoho_desk_tickets_send_reply";
const DRAFT_REPLY: &str = "zoho_desk_tickets_draft_reply";

/// The OAS reply channels (the `channel` discriminator of the reply body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplyChannel {
    Email,
    Facebook,
    Twitter,
    Forums,
}

impl ReplyChannel {
    fn name(self) -> &'static str {
        match self {
            ReplyChannel::Email => "EMAIL",
            ReplyChannel::Facebook => "FACEBOOK",
            ReplyChannel::Twitter => "TWITTER",
            ReplyChannel::Forums => "FORUMS",
        }
    }
}

/// The reply channel of a ticket channel as Zoho displays it ("Email", "Forums", ...); `None`
/// for channels Zoho takes no reply on (phone, web form, chat, feedback, ...).
fn reply_channel(ticket_channel: &str) -> Option<ReplyChannel> {
    match ticket_channel.trim().to_ascii_lowercase().as_str() {
        "email" => Some(ReplyChannel::Email),
        "facebook" => Some(ReplyChannel::Facebook),
        "twitter" => Some(ReplyChannel::Twitter),
        "forums" | "forum" => Some(ReplyChannel::Forums),
        _ => None,
    }
}

/// The from address of an e-mail reply: one of the ticket department's reply addresses (the
/// context's `fromAddresses`), preferably the one the customer wrote to.
fn from_address(context: &Value) -> Result<String, String> {
    let listed = &context["fromAddresses"];
    let allowed: Vec<&str> = listed["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.get("address").and_then(Value::as_str))
        .filter(|a| a.contains('@'))
        .collect();
    if allowed.is_empty() {
        return Err(match listed.get("error").and_then(Value::as_str) {
            Some(e) => format!("the department's reply addresses could not be read ({e})"),
            None => "the ticket's department has no active reply address".to_owned(),
        });
    }
    let written_to = context
        .get("threads")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| str_of(t, "direction") == "in")
        .flat_map(|t| str_of(t, "to").split(','))
        .map(str::trim)
        .find_map(|to| allowed.iter().find(|a| a.eq_ignore_ascii_case(to)));
    Ok(written_to.copied().unwrap_or(allowed[0]).to_owned())
}

/// What a decide-mode run read for the item (see workflows/kb-grounded-reply.yaml): the full
/// context's shape (`{ticket, threads, fromAddresses}`), the suggestions whose text was read (so
/// the baseline reads nothing more and spends the credits a model's run spends), and those texts.
fn from_prefetch(prefetch: &Value) -> (Value, Vec<Value>, Vec<Value>) {
    let articles: Vec<Value> = list_elements(&prefetch["articles"]).to_vec();
    let has_text = |s: &Value| {
        let id = id_of(s.get("id"));
        articles.iter().any(|a| id_of(a.get("id")) == id)
    };
    let mut suggested: Vec<Value> = list_elements(&prefetch["suggestions"])
        .iter()
        .filter(|s| has_text(s))
        .cloned()
        .collect();
    if suggested.is_empty() {
        suggested = articles.clone();
    }
    let addresses = list_elements(&prefetch["from_addresses"]).to_vec();
    let context = json!({
        "ticket": prefetch["ticket"],
        "threads": list_elements(&prefetch["threads"]),
        "fromAddresses": { "addresses": addresses },
    });
    (context, suggested, articles)
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

/// The draft as a private comment, for tickets Zoho keeps no draft reply for.
async fn draft_note(
    tools: &ItemTools<'_>,
    ticket_id: &str,
    citation: &str,
    confidence: f64,
    answer: &str,
    link: &Option<String>,
    title: &str,
) -> Result<Value, Finish> {
    note(
        tools,
        ticket_id,
        &format!(
            "Draft reply for an agent to review, taken from the knowledge-base article {citation} (fit {confidence}):\n\n\
             Hello,\n\nthank you for contacting us. This article answers your question:\n\n{answer}\n\nFull article: {}\n",
            link.as_deref().unwrap_or(title)
        ),
    )
    .await
}

/// A reply (`SEND_REPLY`) or a Zoho draft reply (`DRAFT_REPLY`) on `channel`.
async fn reply(
    tools: &ItemTools<'_>,
    tool: &str,
    ticket_id: &str,
    channel: &str,
    from: Option<&str>,
    content: &str,
) -> Result<Value, Finish> {
    let mut args = json!({
        "ticketId": ticket_id,
        "channel": channel,
        "contentType": "plainText",
        "content": content,
    });
    if let Some(from) = from {
        args["fromEmailAddress"] = json!(from);
    }
    write(tools, tool, args).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_the_oas_reply_channels_take_a_reply() {
        assert_eq!(reply_channel("Email"), Some(ReplyChannel::Email));
        assert_eq!(reply_channel("Forums"), Some(ReplyChannel::Forums));
        assert_eq!(
            reply_channel("Twitter").map(ReplyChannel::name),
            Some("TWITTER")
        );
        for none in ["Chat", "Phone", "Web", "Feedback", "Customer Portal", ""] {
            assert_eq!(reply_channel(none), None, "{none}");
        }
    }

    #[test]
    fn the_from_address_is_the_departments_preferably_the_one_written_to() {
        let context = json!({
            "fromAddresses": {"addresses": [{"address": "a@x.example"}, {"address": "b@x.example"}]},
            "threads": [
                {"direction": "in", "to": "other@y.example, B@x.example"},
                {"direction": "out", "to": "a@x.example"}
            ]
        });
        assert_eq!(from_address(&context).unwrap(), "b@x.example");
        let context = json!({
            "fromAddresses": {"addresses": [{"address": "a@x.example"}]},
            "threads": [{"direction": "in", "to": "wrong-department@y.example"}]
        });
        assert_eq!(from_address(&context).unwrap(), "a@x.example");
        let context = json!({"fromAddresses": {"addresses": [], "error": "403 FORBIDDEN"}});
        assert!(
            from_address(&context)
                .unwrap_err()
                .contains("403 FORBIDDEN")
        );
        assert!(from_address(&json!({})).is_err());
    }
}
