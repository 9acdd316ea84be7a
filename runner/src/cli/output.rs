//! Everything the commands print on stdout goes through [`line`], so a reader that goes away
//! early (`deskhand history 1 --json | head -c1`) ends the command cleanly: `println!` panics on
//! a closed pipe, and a panic is exit code 101 with a backtrace hint.

use std::fmt::Display;
use std::io::Write;

/// Standard output was closed by its reader. `main` turns it into a clean exit: the reader got
/// what it wanted, there is nobody left to tell about an error.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub struct ClosedPipe;

/// Writes `text` and a newline to stdout, and flushes so a closed pipe is noticed here. Control
/// characters are escaped (see [`terminal_safe`]).
pub fn line(text: impl Display) -> anyhow::Result<()> {
    let text = terminal_safe(&text.to_string());
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(ClosedPipe.into()),
        Err(e) => Err(anyhow::Error::new(e).context("could not write to standard output")),
    }
}

/// A note for the operator on stderr; like [`line`], a closed stderr is not worth a panic.
pub fn note(text: impl Display) {
    let text = terminal_safe(&text.to_string());
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Ticket subjects, comments, answers and error texts come from Zoho users and models: an escape
/// sequence in them would reach the operator's terminal (recolour it, rewrite the lines above,
/// set the window title). Every control character but newline and tab, and the bidirectional
/// overrides that reorder what is shown, is printed as its `\uXXXX` escape instead: the JSON
/// form, so `--json` output stays valid JSON that decodes to the original text.
pub fn terminal_safe(text: &str) -> String {
    if !text.chars().any(is_unsafe) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `println!` that returns [`ClosedPipe`] (through `?`) instead of panicking.
macro_rules! outln {
    () => {
        $crate::cli::output::line("")?
    };
    ($($arg:tt)*) => {
        $crate::cli::output::line(format_args!($($arg)*))?
    };
}
pub(crate) use outln;

/// An error as one line for the operator: see [`crate::error_text::one_line`].
pub fn error_text(err: &anyhow::Error) -> String {
    crate::error_text::one_line(err.as_ref())
}
