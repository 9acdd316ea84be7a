//! The tools a workflow may name, as listed by its MCP server.

use serde_json::Value;
use zoho_desk_mcp::catalog::Catalog;

/// Where tool names and input schemas come from. The embedded catalog implements it; a live
/// listing of a remote MCP server can too.
pub trait ToolDirectory {
    fn tool_names(&self) -> Vec<String>;
    fn input_schema(&self, name: &str) -> Option<Value>;
}

impl ToolDirectory for Catalog {
    fn tool_names(&self) -> Vec<String> {
        self.tools().iter().map(|t| t.name.clone()).collect()
    }

    fn input_schema(&self, name: &str) -> Option<Value> {
        self.get(name).map(|t| t.input_schema.clone())
    }
}

/// Used when the tools cannot be known at load time (a remote MCP server not yet listed): every
/// name is accepted.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyTools;

impl ToolDirectory for AnyTools {
    fn tool_names(&self) -> Vec<String> {
        Vec::new()
    }

    fn input_schema(&self, _name: &str) -> Option<Value> {
        None
    }
}

/// Up to three known names closest to `name`, nearest first: tool names are long and differ in
/// one word (`ticket` / `tickets`), so the nearest ones are usually the intended one.
pub fn nearest_names(name: &str, known: &[String]) -> Vec<String> {
    let mut scored: Vec<(usize, &String)> = known
        .iter()
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, k)| *d <= (k.len().max(name.len()) / 3).max(2))
        .collect();
    scored.sort();
    // Only names about as near as the nearest: one good suggestion beats three noisy ones.
    let best = scored.first().map_or(0, |(d, _)| *d);
    scored
        .into_iter()
        .take_while(|(d, _)| *d <= best + 1)
        .take(3)
        .map(|(_, k)| k.clone())
        .collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
