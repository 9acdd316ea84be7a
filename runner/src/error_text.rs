//! Errors as one line for people: each cause once, without the type names and driver framing
//! that libraries put in their messages.

use std::error::Error;

/// An error as one line for the operator: each cause once, in order. Causes whose message already
/// embeds their source (`could not connect: <source>`, and then the source again) are cut back to
/// their own words; for a database error the server's own message is kept and sqlx's framing
/// ("error returned from database", PostgreSQL's C source line) is dropped.
pub fn one_line(err: &(dyn Error + 'static)) -> String {
    let mut chain: Vec<&(dyn Error + 'static)> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        chain.push(e);
        next = e.source();
    }
    let texts: Vec<String> = chain.iter().map(ToString::to_string).collect();
    let mut server_message: Option<String> = None;
    let mut parts: Vec<String> = Vec::new();
    for (i, cause) in chain.iter().enumerate() {
        let mut own = texts[i].clone();
        if let Some(next) = texts.get(i + 1)
            && let Some(head) = own.strip_suffix(next.as_str())
        {
            own = head.trim_end_matches([' ', ':']).to_owned();
        }
        if let Some(sqlx::Error::Database(db)) = cause.downcast_ref::<sqlx::Error>() {
            // Its source is the driver's error, whose text adds "at line N" of PostgreSQL's C
            // code; the message alone is what the server said.
            server_message = Some(db.message().to_owned());
            continue;
        }
        if let Some(message) = server_message.take() {
            own = message;
        }
        let own = plain(&own);
        if own.is_empty() || parts.iter().any(|p| p.contains(&own)) {
            continue;
        }
        parts.push(own);
    }
    parts.join(": ")
}

/// Drops Rust type paths that libraries put in their messages
/// (`Transport [rmcp::transport::worker::WorkerTransport<...>] error`): they name our
/// dependencies' internals, not anything the operator can act on.
pub fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(close) = matching_bracket(&rest[open..]) else {
            break;
        };
        let inside = &rest[open + 1..open + close];
        out.push_str(&rest[..open]);
        if inside.contains("::") && !inside.contains(' ') {
            // Keep one space between the words around it.
            while out.ends_with(' ') {
                out.pop();
            }
        } else {
            out.push_str(&rest[open..=open + close]);
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out.trim().to_owned()
}

fn matching_bracket(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// An error whose message embeds its source's, as `#[error("...: {0}")] X(#[source] E)` does.
    #[derive(Debug)]
    struct Wrapping(&'static str, Box<dyn Error + 'static>);

    impl std::fmt::Display for Wrapping {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}: {}", self.0, self.1)
        }
    }

    impl Error for Wrapping {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(self.1.as_ref())
        }
    }

    #[test]
    fn each_cause_is_told_once() {
        let io = std::io::Error::other("connection refused");
        let inner = Wrapping("could not connect", Box::new(io));
        let outer = Wrapping("could not open the store", Box::new(inner));
        assert_eq!(
            one_line(&outer),
            "could not open the store: could not connect: connection refused"
        );
    }

    #[test]
    fn rust_type_paths_are_dropped_and_other_brackets_kept() {
        assert_eq!(
            plain(
                "Send message error Transport [rmcp::transport::worker::WorkerTransport<a::B<c::D>>] error: refused"
            ),
            "Send message error Transport error: refused"
        );
        assert_eq!(plain("tools [a, b] unknown"), "tools [a, b] unknown");
        assert_eq!(plain("unbalanced [x::y"), "unbalanced [x::y");
    }
}
