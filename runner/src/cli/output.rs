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

/// Writes `text` and a newline to stdout, and flushes so a closed pipe is noticed here.
pub fn line(text: impl Display) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(ClosedPipe.into()),
        Err(e) => Err(anyhow::Error::new(e).context("could not write to standard output")),
    }
}

/// A note for the operator on stderr; like [`line`], a closed stderr is not worth a panic.
pub fn note(text: impl Display) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
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
