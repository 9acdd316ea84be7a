//! Plain-text handling shared by thread summaries, search and article suggestion.

/// HTML to plain text: tags become spaces, the common entities are decoded, whitespace collapses.
pub(crate) fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' if in_tag => in_tag = false,
            _ if in_tag => {}
            _ => out.push(c),
        }
    }
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Zoho's thread `summary`: a plain-text snippet of the content.
pub(crate) fn summary(html: &str) -> String {
    let plain = strip_html(html);
    if plain.chars().count() <= 200 {
        plain
    } else {
        let mut s: String = plain.chars().take(197).collect();
        s.push_str("...");
        s
    }
}

pub(crate) fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Case-insensitive containment, the semantics of Zoho's text search parameters.
pub(crate) fn contains_ci(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

/// One address `local@domain.tld`: the shape the OAS e-mail patterns share (their full character
/// classes are not reproduced).
pub(crate) fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.trim().split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !local.contains(char::is_whitespace)
        && !domain.contains(['@', ' ', ','])
        && domain
            .rsplit_once('.')
            .is_some_and(|(host, tld)| !host.is_empty() && tld.chars().count() >= 2)
}
