//! Opaque list cursors. A cursor carries the logical 0-based offset where the returned page ended
//! (Zoho's 1-based KB offsets never leak out), a hash of the tool that issued it, and the
//! arguments of the query it belongs to. Carrying the arguments lets a model continue with just
//! `next_cursor`, and lets the gateway refuse a cursor replayed against a different query instead
//! of silently paging through something else.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cursor {
    pub v: u32,
    /// First 8 hex digits of SHA-256 of the tool name.
    pub t: String,
    /// Logical (0-based) offset of the next item.
    pub o: u64,
    /// The query arguments (everything but `limit` and `next_cursor`).
    #[serde(default)]
    pub a: Map<String, Value>,
    /// Id of the last item returned, to recognise the overlap item on the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CursorError {
    #[error(
        "next_cursor is not a cursor issued by this gateway; call the tool without next_cursor to start over"
    )]
    Malformed,
    #[error("next_cursor was issued by another tool; pass it only to the tool that returned it")]
    OtherTool,
}

pub(crate) fn tool_hash(tool: &str) -> String {
    hex::encode(&Sha256::digest(tool.as_bytes())[..4])
}

impl Cursor {
    pub fn new(tool: &str, offset: u64, args: Map<String, Value>, prev: Option<String>) -> Self {
        Cursor {
            v: VERSION,
            t: tool_hash(tool),
            o: offset,
            a: args,
            p: prev,
        }
    }

    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64url_encode(&json)
    }

    pub fn decode(tool: &str, text: &str) -> Result<Self, CursorError> {
        let bytes = base64url_decode(text.trim()).ok_or(CursorError::Malformed)?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| CursorError::Malformed)?;
        if cursor.v != VERSION {
            return Err(CursorError::Malformed);
        }
        if cursor.t != tool_hash(tool) {
            return Err(CursorError::OtherTool);
        }
        Ok(cursor)
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let idx = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[idx as usize]));
        }
    }
    out
}

fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base64url_round_trips() {
        for len in 0..20 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 250) as u8).collect();
            let enc = base64url_encode(&data);
            assert!(
                enc.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            );
            assert_eq!(base64url_decode(&enc).unwrap(), data);
        }
        assert_eq!(base64url_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url_encode(b"fo"), "Zm8");
    }

    #[test]
    fn cursor_round_trips_and_is_bound_to_its_tool() {
        let mut args = Map::new();
        args.insert("status".into(), json!("Open"));
        let c = Cursor::new("list_all_zoho_desk_tickets", 50, args, Some("9".into()));
        let text = c.encode();
        assert_eq!(
            Cursor::decode("list_all_zoho_desk_tickets", &text).unwrap(),
            c
        );
        assert_eq!(
            Cursor::decode("list_all_zoho_desk_agents", &text),
            Err(CursorError::OtherTool)
        );
        assert_eq!(
            Cursor::decode("list_all_zoho_desk_tickets", "not a cursor!"),
            Err(CursorError::Malformed)
        );
        assert_eq!(
            Cursor::decode("list_all_zoho_desk_tickets", "eyJ4IjoxfQ"),
            Err(CursorError::Malformed)
        );
    }
}
