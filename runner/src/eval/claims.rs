//! The unsupported-claims check for grounded replies. Deliberately lexical and explainable, so a
//! reader can redo it by hand for any flagged sentence:
//!
//! 1. The reply is cut into sentences (at `.`, `!`, `?` and line breaks).
//! 2. Sentences that are not claims are skipped: the baseline's signature, citations (a sentence
//!    naming a cited article's id or containing a link), and sentences with fewer than
//!    [`MIN_TERMS`] content terms (greetings, sign-offs, "this article answers your question").
//! 3. A claim is supported when at least [`MIN_SUPPORT`] of its distinct content terms (stop words
//!    dropped, lightly stemmed) occur in the cited articles, and every number in it occurs in them
//!    too (a wrong refund window or price is the typical invented fact).
//!
//! A reply written in another language than its articles is flagged: the check cannot see that a
//! translation is faithful, and says so rather than guess.

use std::collections::HashSet;

use crate::baseline::text::{strip_html, tokenize};

/// Content terms a sentence needs before it counts as a claim.
pub const MIN_TERMS: usize = 4;
/// Share of a claim's terms that must occur in the cited articles.
pub const MIN_SUPPORT: f64 = 0.6;

/// The text of the articles a reply cites, and what identifies them in a citation.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    terms: HashSet<String>,
    numbers: HashSet<String>,
    ids: Vec<String>,
}

impl Sources {
    /// `articles` are `(id, text)`; the text may be HTML.
    pub fn new<'a>(articles: impl IntoIterator<Item = (&'a str, &'a str)>) -> Sources {
        let mut sources = Sources::default();
        for (id, text) in articles {
            let plain = strip_html(text);
            sources.terms.extend(tokenize(&plain));
            sources.numbers.extend(numbers(&plain));
            sources.ids.push(id.to_owned());
        }
        sources
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// The sentences of `reply` that `sources` do not support, in order.
pub fn unsupported(reply: &str, sources: &Sources) -> Vec<String> {
    sentences(&strip_html(reply))
        .into_iter()
        .filter(|s| is_claim(s, sources))
        .filter(|s| !supported(s, sources))
        .collect()
}

fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            push(&mut out, &mut current);
            continue;
        }
        current.push(c);
        // A full stop inside "1.5" or "e.g." is not a sentence end: require a space after it.
        if matches!(c, '.' | '!' | '?') && chars.peek().is_none_or(|n| n.is_whitespace()) {
            push(&mut out, &mut current);
        }
    }
    push(&mut out, &mut current);
    out
}

fn push(out: &mut Vec<String>, current: &mut String) {
    let sentence = current.trim();
    if !sentence.is_empty() {
        out.push(sentence.to_owned());
    }
    current.clear();
}

fn is_claim(sentence: &str, sources: &Sources) -> bool {
    if sentence.starts_with("[deskhand") {
        return false;
    }
    let lower = sentence.to_lowercase();
    if lower.contains("http://") || lower.contains("https://") {
        return false;
    }
    if sources.ids.iter().any(|id| sentence.contains(id.as_str())) {
        return false;
    }
    distinct_terms(sentence).len() >= MIN_TERMS
}

fn supported(sentence: &str, sources: &Sources) -> bool {
    let terms = distinct_terms(sentence);
    let known = terms.iter().filter(|t| sources.terms.contains(*t)).count();
    let share = known as f64 / terms.len().max(1) as f64;
    share >= MIN_SUPPORT && numbers(sentence).all(|n| sources.numbers.contains(&n))
}

fn distinct_terms(text: &str) -> HashSet<String> {
    tokenize(text).into_iter().collect()
}

/// Numbers as written, without thousands separators: "1,299" and "1299" meet.
fn numbers(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_ascii_digit() || c == ',' || c == '.'))
        .map(|t| t.trim_matches(|c| c == ',' || c == '.').replace(',', ""))
        .filter(|t| t.chars().any(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARTICLE: &str = "<p>Refunds for hardware are possible within 30 days of delivery.</p>\
        <p>The money reaches your card within 5 to 10 business days after we receive the return.</p>";

    fn sources() -> Sources {
        Sources::new([("1892000005010001", ARTICLE)])
    }

    #[test]
    fn sentences_taken_from_the_article_are_supported() {
        let reply = "Hello,\n\nthank you for contacting us.\n\
            Refunds for hardware are possible within 30 days of delivery. \
            The money reaches your card within 5 to 10 business days.\n\
            Source: article 1892000005010001.";
        assert!(unsupported(reply, &sources()).is_empty());
    }

    #[test]
    fn a_wrong_number_or_an_invented_promise_is_flagged() {
        let reply = "Refunds for hardware are possible within 90 days of delivery. \
            We will also send you a free replacement camera by express courier tomorrow.";
        let flagged = unsupported(reply, &sources());
        assert_eq!(flagged.len(), 2, "{flagged:?}");
        assert!(flagged[0].contains("90 days"));
        assert!(flagged[1].contains("replacement camera"));
    }

    #[test]
    fn without_sources_every_claim_is_unsupported() {
        let reply = "Refunds for hardware are possible within 30 days of delivery.";
        assert_eq!(unsupported(reply, &Sources::default()).len(), 1);
    }

    #[test]
    fn decimals_stay_inside_their_sentence() {
        assert_eq!(
            sentences("Firmware 2.5.1 fixes the pairing bug. Update now!"),
            vec!["Firmware 2.5.1 fixes the pairing bug.", "Update now!"]
        );
        assert_eq!(
            numbers("costs 1,299.00 or 2.5").collect::<Vec<_>>(),
            ["1299.00", "2.5"]
        );
    }
}
