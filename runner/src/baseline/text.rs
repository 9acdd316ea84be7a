//! Text handling for the baseline: HTML to plain text, a tokeniser with a light stemmer, a
//! language guess, and BM25 ranking. Deliberately simple and dependency-free, so that what the
//! baseline decides can be explained in one sentence of its note.

use std::collections::{HashMap, HashSet};

/// English function words: they carry no topic and would drown the signal in short texts.
const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at",
    "be", "because", "been", "before", "being", "but", "by", "can", "cannot", "could", "did", "do",
    "does", "doing", "don", "for", "from", "get", "got", "had", "has", "have", "he", "her", "here",
    "hi", "hello", "how", "i", "if", "im", "in", "into", "is", "it", "its", "just", "me", "more",
    "my", "need", "no", "not", "now", "of", "on", "one", "only", "or", "our", "out", "please",
    "regards", "she", "should", "so", "some", "still", "than", "thank", "thanks", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "those", "to", "too", "up", "us",
    "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "why", "will",
    "with", "would", "you", "your", "dear", "best", "hey", "ve", "ll", "re", "yes", "since", "any",
    "anyone", "other", "each", "etc", "e", "g", "via", "per",
];

/// Frequent English words, used only to tell English from other languages.
const ENGLISH_MARKERS: &[&str] = &[
    "the", "and", "is", "it", "my", "to", "of", "in", "for", "you", "with", "have", "on", "not",
    "this", "that", "can", "but", "i", "we", "please", "was", "are", "be", "at", "from", "when",
    "what", "how", "our", "your", "there", "no", "do", "does", "am", "an", "a",
];

/// Frequent words of the other languages a European helpdesk sees most.
const FOREIGN_MARKERS: &[&str] = &[
    // German
    "der",
    "die",
    "das",
    "und",
    "ist",
    "ich",
    "nicht",
    "ein",
    "eine",
    "mit",
    "zu",
    "den",
    "von",
    "auf",
    "für",
    "sie",
    "es",
    "wir",
    "bitte",
    "danke",
    "hallo",
    "mein",
    "meine",
    "habe",
    "wird",
    "kann",
    "aber",
    "auch",
    "noch",
    "mir",
    "mich",
    "seit",
    "wie",
    "bei",
    "nach",
    "dem",
    "im",
    "sehr",
    "geehrte",
    "grüße",
    "gruß",
    "leider",
    "keine",
    "kein",
    // French
    "le",
    "la",
    "les",
    "et",
    "est",
    "je",
    "pas",
    "un",
    "une",
    "avec",
    "pour",
    "de",
    "des",
    "du",
    "mon",
    "ma",
    "mes",
    "vous",
    "nous",
    "merci",
    "bonjour",
    "ne",
    "que",
    "qui",
    "sur",
    "dans",
    "ai",
    "mais",
    "cordialement",
    "au",
    "ce",
    "il",
    "elle",
    // Spanish / Portuguese / Italian
    "el",
    "los",
    "las",
    "y",
    "es",
    "yo",
    "con",
    "por",
    "para",
    "mi",
    "gracias",
    "hola",
    "lo",
    "pero",
    "muy",
    "del",
    "o",
    "os",
    "em",
    "não",
    "uma",
    "meu",
    "minha",
    "obrigado",
    "olá",
    "di",
    "che",
    "non",
    "per",
    "sono",
    "ho",
    "grazie",
    "buongiorno",
    "il",
    "mio",
    // Dutch
    "het",
    "een",
    "ik",
    "niet",
    "met",
    "voor",
    "van",
    "mijn",
    "en",
    "maar",
    "ook",
    "dank",
    "hallo",
    "graag",
    "kunnen",
    "wij",
    "op",
    "naar",
];

/// Plain text of an HTML fragment: tags become spaces (block tags line breaks), the common
/// entities are decoded. Good enough for ranking and for quoting an article's answer.
pub fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[start + 1..start + end]
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match tag.as_str() {
            "li" if !rest[start + 1..].starts_with('/') => out.push_str("\n- "),
            "p" | "div" | "br" | "h1" | "h2" | "h3" | "h4" | "ul" | "ol" | "tr" | "li" => {
                out.push('\n')
            }
            _ => out.push(' '),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'");
    // Collapse runs of blank space, keep single line breaks.
    decoded
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty() && l != "-")
        .collect::<Vec<_>>()
        .join("\n")
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
}

/// Content terms of `text`: lower-cased, stop words dropped, lightly stemmed so that "refunds",
/// "refunded" and "refund" meet.
pub fn tokenize(text: &str) -> Vec<String> {
    let stop: HashSet<&str> = STOP_WORDS.iter().copied().collect();
    words(text)
        .filter(|w| w.chars().count() >= 2 && !stop.contains(w.as_str()))
        .map(|w| stem(&w))
        .collect()
}

/// A few suffix rules, applied in order; crude, but the same on both sides of a comparison.
pub fn stem(word: &str) -> String {
    let mut w = word.to_owned();
    let len = |s: &str| s.chars().count();
    if w.ends_with("ies") && len(&w) > 4 {
        w.truncate(w.len() - 3);
        w.push('y');
    } else if w.ends_with('s') && !w.ends_with("ss") && len(&w) > 3 {
        w.pop();
    }
    if w.ends_with("ing") && len(&w) > 5 {
        w.truncate(w.len() - 3);
    } else if w.ends_with("ed") && len(&w) > 4 {
        w.truncate(w.len() - 2);
    }
    if w.ends_with('e') && len(&w) > 4 {
        w.pop();
    }
    w
}

/// Whether `text` reads as something other than English: more frequent words of other
/// languages than of English. Empty text is not English either (there is nothing to route on).
pub fn looks_non_english(text: &str) -> bool {
    let english: HashSet<&str> = ENGLISH_MARKERS.iter().copied().collect();
    let foreign: HashSet<&str> = FOREIGN_MARKERS.iter().copied().collect();
    let (mut en, mut other, mut total) = (0usize, 0usize, 0usize);
    for w in words(text) {
        total += 1;
        if english.contains(w.as_str()) {
            en += 1;
        } else if foreign.contains(w.as_str()) {
            other += 1;
        }
    }
    total == 0 || (other >= 3 && other > en)
}

/// BM25 over a small fixed set of documents.
pub struct Bm25 {
    docs: Vec<HashMap<String, usize>>,
    lens: Vec<f64>,
    avg_len: f64,
    df: HashMap<String, usize>,
}

impl Bm25 {
    const K1: f64 = 1.2;
    const B: f64 = 0.75;

    pub fn new<S: AsRef<str>>(docs: &[S]) -> Self {
        let mut df: HashMap<String, usize> = HashMap::new();
        let mut tfs = Vec::with_capacity(docs.len());
        let mut lens = Vec::with_capacity(docs.len());
        for doc in docs {
            let tokens = tokenize(doc.as_ref());
            lens.push(tokens.len() as f64);
            let mut tf: HashMap<String, usize> = HashMap::new();
            for t in tokens {
                *tf.entry(t).or_default() += 1;
            }
            for t in tf.keys() {
                *df.entry(t.clone()).or_default() += 1;
            }
            tfs.push(tf);
        }
        let avg_len = if lens.is_empty() {
            1.0
        } else {
            (lens.iter().sum::<f64>() / lens.len() as f64).max(1.0)
        };
        Bm25 {
            docs: tfs,
            lens,
            avg_len,
            df,
        }
    }

    /// One score per document, in document order; each distinct query term counts once.
    pub fn scores(&self, query: &str) -> Vec<f64> {
        let terms: HashSet<String> = tokenize(query).into_iter().collect();
        let n = self.docs.len() as f64;
        self.docs
            .iter()
            .zip(&self.lens)
            .map(|(tf, len)| {
                terms
                    .iter()
                    .filter_map(|t| {
                        let f = *tf.get(t)? as f64;
                        let df = *self.df.get(t)? as f64;
                        let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                        let norm = Self::K1 * (1.0 - Self::B + Self::B * len / self.avg_len);
                        Some(idf * f * (Self::K1 + 1.0) / (f + norm))
                    })
                    .sum()
            })
            .collect()
    }
}

/// The share of `reference`'s distinct terms that also occur in `text` (0 when `reference` has
/// none): how much of an article's title a ticket talks about.
pub fn coverage(reference: &str, text: &str) -> f64 {
    let wanted: HashSet<String> = tokenize(reference).into_iter().collect();
    if wanted.is_empty() {
        return 0.0;
    }
    let have: HashSet<String> = tokenize(text).into_iter().collect();
    wanted.intersection(&have).count() as f64 / wanted.len() as f64
}

/// The most frequent content terms of `text`, for saying what a missing article should cover.
pub fn top_terms(text: &str, n: usize) -> Vec<String> {
    let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
    let stop: HashSet<&str> = STOP_WORDS.iter().copied().collect();
    for (i, w) in words(text)
        .filter(|w| w.chars().count() >= 4 && !stop.contains(w.as_str()))
        .enumerate()
    {
        counts.entry(w).or_insert((0, i)).0 += 1;
    }
    let mut ranked: Vec<(String, (usize, usize))> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.1.1.cmp(&b.1.1)));
    ranked.into_iter().take(n).map(|(w, _)| w).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_meet() {
        for (a, b) in [
            ("refunds", "refund"),
            ("charged", "charge"),
            ("devices", "device"),
        ] {
            assert_eq!(stem(a), stem(b), "{a} / {b}");
        }
    }

    #[test]
    fn html_becomes_lines() {
        let text = strip_html("<p>Hi&nbsp;there</p><ul><li>one</li><li>two &amp; three</li></ul>");
        assert_eq!(text, "Hi there\n- one\n- two & three");
    }

    #[test]
    fn ranks_the_matching_document_first() {
        let bm = Bm25::new(&["refunds and double charges", "wifi pairing and firmware"]);
        let s = bm.scores("I was charged twice, please refund");
        assert!(s[0] > 0.0 && s[1] == 0.0, "{s:?}");
    }

    #[test]
    fn tells_languages_apart() {
        assert!(looks_non_english(
            "Hallo, ich habe eine Frage zu meiner Rechnung und die Zahlung ist nicht angekommen"
        ));
        assert!(!looks_non_english(
            "Hi, my camera is offline and the app does not show it since the update"
        ));
        assert!(looks_non_english("   "));
    }
}
