//! Plain aligned tables for terminal output (no colour, no box drawing: they are read in CI logs).

/// `text` cut to `max` characters, with `…` where it was cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() > max {
        let kept: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{kept}…")
    } else {
        text.to_owned()
    }
}

/// Renders rows under headers, each column as wide as its widest cell (cells cut at `max`).
pub fn render(headers: &[&str], rows: &[Vec<String>], max: usize) -> String {
    let cut = |s: &str| -> String {
        let one_line = super::output::terminal_safe(&s.replace(['\n', '\r', '\t'], " "));
        if one_line.chars().count() > max {
            let kept: String = one_line.chars().take(max.saturating_sub(1)).collect();
            format!("{kept}…")
        } else {
            one_line
        }
    };
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| cut(c)).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let w = widths.get(i).copied().unwrap_or(0);
                format!("{c:<w$}")
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    out.push_str(&line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    ));
    for row in &rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// A token count with the part served from the provider's prompt cache, when there is one:
/// `1520 (1024 cached)`.
pub fn tokens(total: i64, cached: i64) -> String {
    if cached > 0 {
        format!("{total} ({cached} cached)")
    } else {
        total.to_string()
    }
}

/// The run's LLM spend in one line: totals, the cached share and the figure per item.
pub fn token_line(t: &crate::store::RunTokens) -> String {
    let cached = if t.cached_tokens > 0 {
        format!(" ({} cached)", t.cached_tokens)
    } else {
        String::new()
    };
    format!(
        "tokens: {} prompt{cached} + {} completion = {}, {} per item",
        t.prompt_tokens,
        t.completion_tokens,
        t.total(),
        t.per_item()
    )
}

/// Epoch milliseconds as a UTC timestamp to the second.
pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Milliseconds as `850ms`, `12.3s` or `4m05s`.
pub fn duration(ms: i64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}
