//! The SQLite store holds ticket text, notes and write intents: its file is the user's alone
//! (0600). sqlx creates a missing file with the process umask (0644 usually), so the store creates
//! it first; SQLite gives the `-wal` and `-shm` files the database file's mode.

use std::path::{Path, PathBuf};

/// The file a SQLite URL opens, or `None` for PostgreSQL and in-memory databases. Accepts what
/// [`zoho_desk_mcp::registry::database::connect`] accepts: a bare path, `sqlite:PATH` or
/// `sqlite://PATH`, each with an optional `?query`.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = if url.contains("://") || url.starts_with("sqlite:") {
        let rest = url.strip_prefix("sqlite:")?;
        rest.strip_prefix("//").unwrap_or(rest)
    } else {
        url
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let memory =
        path.is_empty() || path == ":memory:" || query.split('&').any(|pair| pair == "mode=memory");
    (!memory).then(|| PathBuf::from(path))
}

/// Whether connecting to `url` may create the file (`mode=rwc`, which a bare path implies).
fn creates(url: &str) -> bool {
    let bare = !(url.contains("://") || url.starts_with("sqlite:"));
    bare || url
        .split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|pair| pair == "mode=rwc"))
}

/// Creates a missing store file as 0600, and narrows an existing store file (and its `-wal` and
/// `-shm`) that others may read to 0600, with a warning naming it. A file this process may not
/// change is left to SQLite, which then reports why it cannot be opened.
pub fn secure_sqlite_file(url: &str) {
    let Some(path) = sqlite_file(url) else {
        return;
    };
    #[cfg(unix)]
    {
        if creates(url) {
            create_private(&path);
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            narrow(Path::new(&file));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, creates(url));
}

#[cfg(unix)]
fn create_private(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    // `create_new`: another process that created it first keeps its file (and its mode check).
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
}

#[cfg(unix)]
fn narrow(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return;
    }
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        Ok(()) => tracing::warn!(
            "the run store file {} was readable by others (mode {mode:o}); it is now 0600 (user only)",
            path.display()
        ),
        Err(e) => tracing::warn!(
            "the run store file {} is readable by others (mode {mode:o}) and could not be made user-only: {e}",
            path.display()
        ),
    }
}
