//! Reading manifests and lock files: size limits, UTF-8, and parse errors turned into
//! `file:line:column` [`FileError`]s.

use std::path::Path;

use crate::project::{FileError, line_col};

/// Manifests and lock files larger than this are refused rather than read (a 10,000-package
/// package-lock.json is about 6 MB).
pub(crate) const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;
/// Installed package.json / METADATA files are small; a huge one is a broken install.
pub(crate) const MAX_INSTALLED_BYTES: u64 = 2 * 1024 * 1024;

/// Read `path` as UTF-8 text of at most `limit` bytes; `rel` names it in errors.
pub(crate) fn text(rel: &str, path: &Path, limit: u64) -> Result<String, FileError> {
    let bytes = bytes(rel, path, limit)?;
    String::from_utf8(bytes).map_err(|e| {
        let (line, _) = line_col(
            &String::from_utf8_lossy(e.as_bytes()),
            e.utf8_error().valid_up_to(),
        );
        FileError::new(rel, "file is not valid UTF-8").at_line(line)
    })
}

/// Read `path` as bytes, refusing more than `limit` (checked while reading, so a file that
/// grows or a FIFO cannot make it read forever).
pub(crate) fn bytes(rel: &str, path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    // Confined to the project, regular files only, capped while reading.
    crate::fsread::read(path, limit).map_err(|e| FileError::new(rel, e.to_string()))
}

/// [`bytes`] into `buf` (cleared first), so a caller reading many files reuses one buffer.
pub(crate) fn bytes_into(
    rel: &str,
    path: &Path,
    limit: u64,
    buf: &mut Vec<u8>,
) -> Result<(), FileError> {
    crate::fsread::read_into(path, limit, buf).map_err(|e| FileError::new(rel, e.to_string()))
}

/// A small auxiliary file (`.gitignore`, `pyvenv.cfg`, …) as text, or None when it is absent,
/// not a regular file, too large or not UTF-8.
pub(crate) fn optional_text(path: &Path) -> Option<String> {
    text("", path, MAX_INSTALLED_BYTES).ok()
}

/// A located error for a JSON parse failure.
pub(crate) fn json_error(rel: &str, e: &serde_json::Error) -> FileError {
    FileError {
        file: rel.to_owned(),
        line: Some(e.line() as u64),
        column: Some(e.column() as u64),
        message: format!("invalid JSON: {e}"),
    }
}

/// A located error for a TOML parse failure.
pub(crate) fn toml_error(rel: &str, text: &str, e: &toml::de::Error) -> FileError {
    let (line, column) = e.span().map_or((None, None), |span| {
        let (l, c) = line_col(text, span.start);
        (Some(l), Some(c))
    });
    FileError {
        file: rel.to_owned(),
        line,
        column,
        message: format!("invalid TOML: {}", e.message()),
    }
}
