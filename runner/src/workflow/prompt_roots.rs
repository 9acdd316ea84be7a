//! Where `prompt:` and `system_prompt:` may point. A prompt file is sent to the LLM provider, so a
//! workflow file that names `../../../../etc/shadow` (or a symlink to it) would ship that file
//! off the machine; whoever wrote the workflow is not necessarily whoever runs it. Prompts must
//! therefore resolve, after symlinks and `..`, inside the workflow file's directory or the
//! `prompts/` directory beside it (the repository layout: `workflows/x.yaml` names
//! `../prompts/x.md`). The operator, not the workflow, may lift this for a whole process with
//! `--allow-outside-prompts` (`DESKHAND_ALLOW_OUTSIDE_PROMPTS=true`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

static ANYWHERE: AtomicBool = AtomicBool::new(false);

/// Lets prompts of every workflow loaded from now on in this process resolve anywhere. Set once
/// by the command line; libraries and tests that never call it keep the confinement.
pub fn allow_prompts_anywhere(allow: bool) {
    ANYWHERE.store(allow, Ordering::Relaxed);
}

/// Why the prompt at `joined` (an existing file) may not be used, or `None` if it may. `base` is
/// the workflow file's directory.
pub(super) fn outside(base: &Path, joined: &Path) -> Option<String> {
    if ANYWHERE.load(Ordering::Relaxed) {
        return None;
    }
    let base = if base.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base
    };
    let roots: Vec<PathBuf> = [base.to_path_buf(), base.join("../prompts")]
        .iter()
        .filter_map(|root| std::fs::canonicalize(root).ok())
        .collect();
    let Ok(real) = std::fs::canonicalize(joined) else {
        return Some(format!(
            "{} cannot be resolved, so it cannot be checked to be inside the workflow's directory",
            joined.display()
        ));
    };
    if roots.iter().any(|root| real.starts_with(root)) {
        return None;
    }
    let shown_roots = roots
        .iter()
        .map(|r| r.display().to_string())
        .collect::<Vec<_>>()
        .join(" or ");
    Some(format!(
        "{} resolves outside the workflow's directory (prompt files must be under {shown_roots}; run with --allow-outside-prompts to allow any path)",
        real.display()
    ))
}
