//! Line framing for the stdio transport, with an answer for lines over the size limit.
//!
//! rmcp drops a line longer than its limit without a word, so a client waits for ever for the
//! answer to that request. Here stdin is split into lines before rmcp sees it: a line within the
//! limit is passed on, a longer one is skipped while its top-level `id` is looked for, and the
//! client gets a JSON-RPC error for that id (or for `null` when the id cannot be found).

use serde_json::{Value, json};

/// The largest message accepted on stdin, rmcp's own limit.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Longest `id` value kept while scanning a skipped line.
const MAX_ID_BYTES: usize = 256;

/// What one chunk of input held.
#[derive(Debug, PartialEq)]
pub enum Piece {
    /// A complete line within the limit, without its newline.
    Line(Vec<u8>),
    /// A line over the limit ended; its id if one was found.
    Oversized(Option<Value>),
}

/// Splits a byte stream into lines, never holding more than `limit` bytes of one line.
#[derive(Debug)]
pub struct LineSplitter {
    limit: usize,
    current: Vec<u8>,
    /// Set once the current line went over the limit: its bytes are only scanned for the id.
    skipping: Option<IdScanner>,
}

impl LineSplitter {
    pub fn new(limit: usize) -> Self {
        LineSplitter {
            limit,
            current: Vec::new(),
            skipping: None,
        }
    }

    /// Feeds bytes; returns the lines they completed.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<Piece> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let (chunk, ended) = match bytes.iter().position(|&b| b == b'\n') {
                Some(at) => (&bytes[..at], true),
                None => (bytes, false),
            };
            bytes = if ended {
                &bytes[chunk.len() + 1..]
            } else {
                &[]
            };
            match &mut self.skipping {
                Some(scanner) => scanner.feed(chunk),
                None if self.current.len() + chunk.len() > self.limit => {
                    let mut scanner = IdScanner::default();
                    scanner.feed(&self.current);
                    scanner.feed(chunk);
                    self.current = Vec::new();
                    self.skipping = Some(scanner);
                }
                None => self.current.extend_from_slice(chunk),
            }
            if ended {
                match self.skipping.take() {
                    Some(scanner) => out.push(Piece::Oversized(scanner.found)),
                    None => {
                        let line = std::mem::take(&mut self.current);
                        if !line.iter().all(u8::is_ascii_whitespace) {
                            out.push(Piece::Line(line));
                        }
                    }
                }
            }
        }
        out
    }

    /// At end of input: an unterminated last line.
    pub fn finish(&mut self) -> Option<Piece> {
        if let Some(scanner) = self.skipping.take() {
            return Some(Piece::Oversized(scanner.found));
        }
        let line = std::mem::take(&mut self.current);
        (!line.iter().all(u8::is_ascii_whitespace)).then_some(Piece::Line(line))
    }
}

/// The JSON-RPC error answered for a skipped line.
pub fn oversized_error(id: Option<Value>, limit: usize) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id.unwrap_or(Value::Null),
        "error": {
            "code": -32600,
            "message": format!("the message is longer than the {limit}-byte limit of this server and was not read"),
        },
    })
}

/// Finds the value of the top-level `"id"` key of a JSON object read in pieces, in bounded
/// memory: it tracks nesting and strings, so an `id` inside `params` is not taken for it.
#[derive(Debug, Default)]
struct IdScanner {
    depth: u32,
    in_string: bool,
    escaped: bool,
    text: Vec<u8>,
    text_overflow: bool,
    /// The string just closed at depth 1 was `"id"`, so a `:` makes the next value the id.
    key_is_id: bool,
    expecting_value: bool,
    number: Vec<u8>,
    found: Option<Value>,
    done: bool,
}

impl IdScanner {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.done {
                return;
            }
            self.step(b);
        }
    }

    fn step(&mut self, b: u8) {
        if self.in_string {
            if self.escaped {
                self.escaped = false;
                self.push_text(b);
            } else if b == b'\\' {
                self.escaped = true;
                self.push_text(b);
            } else if b == b'"' {
                self.in_string = false;
                self.string_ended();
            } else {
                self.push_text(b);
            }
            return;
        }
        if self.expecting_value && !self.number.is_empty() {
            if b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E') {
                if self.number.len() < MAX_ID_BYTES {
                    self.number.push(b);
                }
                return;
            }
            self.number_ended();
            if self.done {
                return;
            }
        }
        match b {
            b'"' => {
                self.in_string = true;
                self.text.clear();
                self.text_overflow = false;
            }
            b'{' | b'[' => {
                self.depth += 1;
                self.expecting_value = false;
                self.key_is_id = false;
            }
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                self.expecting_value = false;
            }
            b':' if self.depth == 1 => {
                self.expecting_value = self.key_is_id;
                self.key_is_id = false;
            }
            b',' => {
                self.expecting_value = false;
                self.key_is_id = false;
            }
            b if self.expecting_value && (b.is_ascii_digit() || b == b'-') => self.number.push(b),
            b if b.is_ascii_whitespace() => {}
            _ => {
                // `null`, `true` and the like: not an id a response can carry.
                self.expecting_value = false;
                self.key_is_id = false;
            }
        }
    }

    fn push_text(&mut self, b: u8) {
        if self.text.len() < MAX_ID_BYTES {
            self.text.push(b);
        } else {
            self.text_overflow = true;
        }
    }

    fn string_ended(&mut self) {
        if self.depth != 1 {
            return;
        }
        if self.expecting_value {
            self.expecting_value = false;
            if !self.text_overflow
                && let Ok(Value::String(id)) =
                    serde_json::from_slice::<Value>(&[b"\"", &self.text[..], b"\""].concat())
            {
                self.found = Some(Value::String(id));
                self.done = true;
            }
        } else {
            self.key_is_id = !self.text_overflow && self.text == b"id";
        }
    }

    fn number_ended(&mut self) {
        self.expecting_value = false;
        if let Ok(n @ Value::Number(_)) = serde_json::from_slice::<Value>(&self.number) {
            self.found = Some(n);
            self.done = true;
        }
        self.number.clear();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn split(limit: usize, input: &[u8], chunk: usize) -> Vec<Piece> {
        let mut splitter = LineSplitter::new(limit);
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            out.extend(splitter.feed(piece));
        }
        out.extend(splitter.finish());
        out
    }

    #[test]
    fn lines_within_the_limit_pass_whole() {
        for chunk in [1, 3, 1000] {
            let out = split(64, b"{\"a\":1}\n\n{\"b\":2}", chunk);
            assert_eq!(
                out,
                vec![
                    Piece::Line(b"{\"a\":1}".to_vec()),
                    Piece::Line(b"{\"b\":2}".to_vec())
                ]
            );
        }
    }

    #[test]
    fn an_oversized_line_yields_its_top_level_id() {
        let pad = "x".repeat(200);
        let cases = [
            (
                format!(r#"{{"jsonrpc":"2.0","id":42,"params":{{"p":"{pad}"}}}}"#),
                Some(json!(42)),
            ),
            (
                format!(
                    r#"{{"jsonrpc":"2.0","method":"m","params":{{"id":"inner","p":"{pad}"}},"id":"outer"}}"#
                ),
                Some(json!("outer")),
            ),
            (
                format!(r#"{{"params":{{"p":"{pad} \"id\": 9"}}, "id" : -7 }}"#),
                Some(json!(-7)),
            ),
            (format!(r#"{{"params":"{pad}"}}"#), None),
            (format!("not json at all {pad}"), None),
        ];
        for (line, id) in cases {
            for chunk in [1, 7, 4096] {
                let input = format!("{line}\n{{\"ok\":1}}\n");
                let out = split(64, input.as_bytes(), chunk);
                assert_eq!(
                    out,
                    vec![
                        Piece::Oversized(id.clone()),
                        Piece::Line(b"{\"ok\":1}".to_vec())
                    ],
                    "{line} / {chunk}"
                );
            }
        }
    }

    #[test]
    fn the_error_names_the_id_and_the_limit() {
        let e = oversized_error(Some(json!(5)), 100);
        assert_eq!(e["id"], 5);
        assert_eq!(e["error"]["code"], -32600);
        assert!(e["error"]["message"].as_str().unwrap().contains("100"));
        assert_eq!(oversized_error(None, 1)["id"], Value::Null);
    }
}
