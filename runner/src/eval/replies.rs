//! Scoring a reply run: whether each ticket got a written answer when the knowledge base has one,
//! whether that answer cites a gold article and sticks to what its articles say, and whether
//! tickets the knowledge base cannot answer got a note instead of an invented reply.

use serde::Serialize;
use serde_json::Value;

use super::claims::{self, Sources};
use super::{Gold, States, ratio};
use crate::engine::ItemReport;

/// Unsupported sentences kept in the report, so a reader can check the check.
const EXAMPLES: usize = 20;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ReplyScore {
    pub tickets: usize,
    /// Tickets the gold file lists at least one answering article for.
    pub answerable: usize,
    pub unanswerable: usize,
    pub failed: usize,
    /// Tickets that got a written answer (a draft comment or a sent reply).
    pub answered: usize,
    /// Answerable tickets that got an answer, over answerable tickets.
    pub answer_rate: f64,
    /// Answers that cite (by id, link or title) at least one gold article, over answers.
    pub citing_gold_share: f64,
    /// Answers in which the claims check finds nothing unsupported, over answers.
    pub grounded_share: f64,
    /// Unanswerable tickets that got a note and no answer, over unanswerable tickets.
    pub no_article_share: f64,
    /// Answers written for tickets no article answers: invented replies.
    pub invented: usize,
    /// Replies sent to customers (as opposed to private drafts and notes).
    pub public_replies: usize,
    /// Zoho draft replies saved for an agent to send from the reply editor.
    pub drafts: usize,
    pub unsupported_examples: Vec<Unsupported>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Unsupported {
    pub ticket: String,
    pub sentence: String,
}

pub fn score(gold: &Gold, states: &States, items: &[ItemReport]) -> ReplyScore {
    let mut s = ReplyScore::default();
    let (mut answered_answerable, mut citing_gold, mut grounded, mut noted) = (0, 0, 0, 0);
    for item in items {
        let Some(g) = gold.get(&item.key) else {
            continue;
        };
        if states.after(&item.key).is_none() {
            continue;
        }
        s.tickets += 1;
        s.public_replies += states.sent_replies(&item.key);
        s.drafts += states.draft_replies(&item.key);
        let answerable = !g.article_ids.is_empty();
        if answerable {
            s.answerable += 1;
        } else {
            s.unanswerable += 1;
        }
        if item.error.is_some() {
            s.failed += 1;
            continue;
        }
        let action = item
            .output
            .as_ref()
            .and_then(|o| o.get("action"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let written = states.written(&item.key);
        let answered = matches!(action, "drafted" | "replied") && !written.trim().is_empty();
        if !answered {
            noted += usize::from(!answerable && !written.trim().is_empty());
            continue;
        }
        s.answered += 1;
        if answerable {
            answered_answerable += 1;
        } else {
            s.invented += 1;
        }
        let cited = states.cited_articles(&written);
        if cited.iter().any(|a| g.article_ids.iter().any(|g| g == a)) {
            citing_gold += 1;
        }
        let sources = Sources::new(
            cited
                .iter()
                .filter_map(|id| states.article_text(id).map(|text| (id.as_str(), text))),
        );
        let flagged = claims::unsupported(&written, &sources);
        if flagged.is_empty() {
            grounded += 1;
        }
        for sentence in flagged {
            if s.unsupported_examples.len() < EXAMPLES {
                s.unsupported_examples.push(Unsupported {
                    ticket: item.key.clone(),
                    sentence,
                });
            }
        }
    }
    s.answer_rate = ratio(answered_answerable, s.answerable);
    s.citing_gold_share = ratio(citing_gold, s.answered);
    s.grounded_share = ratio(grounded, s.answered);
    s.no_article_share = ratio(noted, s.unanswerable);
    s
}
