//! Article relevance: BM25 over each article's title (weighted double), summary and answer, with a
//! language-agnostic tokeniser (Unicode letters and digits, lower-cased, no stemming) and a small
//! multilingual stop-word list. An article sharing no term with the query scores nothing and is
//! not suggested.

use std::collections::{HashMap, HashSet};

const STOP_WORDS: &[&str] = &[
    // English
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been",
    "before", "but", "by", "can", "could", "did", "do", "does", "for", "from", "get", "got", "had",
    "has", "have", "he", "her", "hi", "hello", "how", "i", "if", "in", "into", "is", "it", "its",
    "just", "me", "my", "no", "not", "of", "on", "or", "our", "please", "regards", "she", "so",
    "some", "than", "thank", "thanks", "that", "the", "their", "them", "then", "there", "they",
    "this", "to", "up", "us", "was", "we", "were", "what", "when", "which", "who", "why", "will",
    "with", "would", "you", "your", "dear", "team", "best", // German
    "der", "die", "das", "und", "ist", "ich", "nicht", "ein", "eine", "mit", "zu", "den", "von",
    "auf", "für", "sie", "es", "wir", "bitte", "danke", "hallo", "mein", "meine",
    // French
    "le", "la", "les", "et", "est", "je", "pas", "un", "une", "avec", "pour", "de", "des", "du",
    "mon", "ma", "mes", "vous", "nous", "merci", "bonjour",
    // Spanish / Portuguese / Italian / Dutch
    "el", "los", "las", "y", "es", "yo", "una", "con", "por", "para", "que", "mi", "gracias",
    "hola", "o", "os", "em", "il", "di", "che", "het", "een", "ik", "niet", "met", "voor", "van",
];

pub(crate) fn tokenize(text: &str) -> Vec<String> {
    let stop: HashSet<&str> = STOP_WORDS.iter().copied().collect();
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .filter(|t| t.chars().count() >= 2 && !stop.contains(t.as_str()))
        .collect()
}

/// Scores each document against the query; returns `(document index, score)` for documents with a
/// positive score, best first (ties by index).
pub(crate) fn rank(query: &str, docs: &[String]) -> Vec<(usize, f64)> {
    const K1: f64 = 1.2;
    const B: f64 = 0.75;
    let tokenized: Vec<Vec<String>> = docs.iter().map(|d| tokenize(d)).collect();
    let n = tokenized.len() as f64;
    if tokenized.is_empty() {
        return Vec::new();
    }
    let avg_len = tokenized.iter().map(Vec::len).sum::<usize>() as f64 / n;
    let mut df: HashMap<&str, usize> = HashMap::new();
    for doc in &tokenized {
        let uniq: HashSet<&str> = doc.iter().map(String::as_str).collect();
        for t in uniq {
            *df.entry(t).or_default() += 1;
        }
    }
    let q_terms: HashSet<String> = tokenize(query).into_iter().collect();
    let mut out: Vec<(usize, f64)> = tokenized
        .iter()
        .enumerate()
        .filter_map(|(i, doc)| {
            let mut tf: HashMap<&str, usize> = HashMap::new();
            for t in doc {
                *tf.entry(t.as_str()).or_default() += 1;
            }
            let len = doc.len() as f64;
            let score: f64 = q_terms
                .iter()
                .filter_map(|q| {
                    let f = *tf.get(q.as_str())? as f64;
                    let d = *df.get(q.as_str())? as f64;
                    let idf = (1.0 + (n - d + 0.5) / (d + 0.5)).ln();
                    Some(idf * f * (K1 + 1.0) / (f + K1 * (1.0 - B + B * len / avg_len.max(1.0))))
                })
                .sum();
            (score > 0.0).then_some((i, score))
        })
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}
