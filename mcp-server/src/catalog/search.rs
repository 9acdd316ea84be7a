//! Tool search for discovery mode: clients that cannot hold dozens of tools ask for the few that
//! match a need ("reply to a ticket"). Scoring is plain word overlap, weighted towards names and
//! tags, with a light plural/singular fold so "ticket" finds `..._tickets`.

use super::{ToolFilter, ToolSpec};

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| fold(&w.to_ascii_lowercase()))
        .collect()
}

fn fold(w: &str) -> String {
    if w.len() > 3 && w.ends_with("ies") {
        format!("{}y", &w[..w.len() - 3])
    } else if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") {
        w[..w.len() - 1].to_string()
    } else {
        w.to_string()
    }
}

const STOP: &[&str] = &[
    "a", "an", "the", "of", "for", "to", "in", "on", "and", "or", "by", "with", "all", "zoho",
    "desk",
];

pub(crate) fn rank<'a>(
    tools: &'a [ToolSpec],
    query: &str,
    limit: usize,
    f: &ToolFilter,
) -> Vec<&'a ToolSpec> {
    let wanted: Vec<String> = words(query)
        .into_iter()
        .filter(|w| !STOP.contains(&w.as_str()))
        .collect();
    let mut scored: Vec<(u32, usize, &ToolSpec)> = tools
        .iter()
        .enumerate()
        .filter(|(_, t)| f.allows(t))
        .map(|(i, t)| {
            if wanted.is_empty() {
                return (1, i, t);
            }
            let name = words(&t.name);
            let tags: Vec<String> = t.tags.iter().flat_map(|x| words(x)).collect();
            let title = words(&t.title);
            let desc = words(&t.description);
            let score = wanted
                .iter()
                .map(|w| {
                    let mut s = 0;
                    if name.contains(w) {
                        s += 4;
                    }
                    if title.contains(w) {
                        s += 2;
                    }
                    if tags.contains(w) {
                        s += 2;
                    }
                    if desc.contains(w) {
                        s += 1;
                    }
                    s
                })
                .sum();
            (score, i, t)
        })
        .filter(|(s, _, _)| *s > 0)
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(limit).map(|(_, _, t)| t).collect()
}
