//! `.env` files: parse with line numbers, resolve as docker compose does, and
//! rewrite in place.
//!
//! The accepted syntax follows compose's dotenv reader (compose-go v2):
//! blank lines, `#` comment lines, an optional `export ` prefix, `KEY=VALUE`
//! with whitespace tolerated around `=`, keys `[A-Za-z_][A-Za-z0-9_.-]*`,
//! unquoted values (trimmed, an inline comment starts at ` #`), single-quoted
//! values (literal, one line, `\'` for a quote) and double-quoted values
//! (escapes, may span lines). Unquoted and double-quoted values are
//! interpolated with [`crate::interp`]; single-quoted ones are not.
//!
//! Deliberate differences from compose, chosen because this crate reports
//! problems rather than guessing:
//! - A line without `=` is a syntax error (compose would treat a bare `KEY`
//!   as "inherit from the environment" and also accepts `KEY: value`).
//! - Text after a closing quote other than whitespace or a `# comment` is a
//!   syntax error (compose silently parses it as another statement).
//! - `${...}` syntax errors are reported by [`parse`], with the line and
//!   column inside the file, instead of when the value is first used.
//!
//! Values may be secrets, so no error produced here ever contains a value:
//! messages name the file, line, column and at most the key.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::interp::{InterpError, Template};

/// Largest `.env` file [`load`] accepts; anything bigger is not a dotenv
/// file written by a person and would only cost memory.
pub const MAX_DOTENV_BYTES: u64 = 1024 * 1024;

/// One `KEY=VALUE` assignment.
///
/// Its `Debug` output shows the value's length instead of the value, so an
/// entry that ends up in a log line does not leak a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// The variable name.
    pub key: String,
    /// The value after quote and escape processing. When `interpolate` is
    /// true this is compose template text (a `\$` escape is stored as `$$`);
    /// use [`DotEnv::resolve`] for final values.
    pub value: String,
    /// 1-based line where the assignment starts.
    pub line: usize,
    /// False for single-quoted values, which are taken literally.
    pub interpolate: bool,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key)
            .field(
                "value",
                &format_args!("<{} bytes redacted>", self.value.len()),
            )
            .field("line", &self.line)
            .field("interpolate", &self.interpolate)
            .finish()
    }
}

/// A parsed `.env` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotEnv {
    /// Where the text came from; used in error messages.
    pub path: PathBuf,
    /// Assignments in file order, duplicates included.
    pub entries: Vec<Entry>,
}

/// Errors from reading, parsing or resolving a `.env` file. None of them
/// carries a value.
#[derive(Debug, thiserror::Error)]
pub enum DotEnvError {
    /// Malformed content; `line` and `column` are 1-based (column counts
    /// characters).
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The file, as displayed.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based character column.
        column: usize,
        /// What is wrong; never contains a value.
        message: String,
    },
    /// The file exceeds [`MAX_DOTENV_BYTES`].
    #[error("{path}: file is larger than {limit} bytes")]
    TooLarge {
        /// The file, as displayed.
        path: String,
        /// The limit that was exceeded.
        limit: u64,
    },
    /// The file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file, as displayed.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Parses `.env` text; `path` is only used for error messages.
pub fn parse(path: &Path, text: &str) -> Result<DotEnv, DotEnvError> {
    let positions = Positions::new(text);
    let syntax = |offset: usize, message: String| {
        let (line, column) = positions.locate(text, offset);
        syntax_error(path, line, column, message)
    };
    let mut entries = Vec::new();
    for scanned in scan(text) {
        if let Some(issue) = scanned.issue {
            return Err(syntax(issue.offset, issue.message));
        }
        let Some(stmt) = scanned.stmt else { continue };
        if stmt.interpolate {
            // Validate the template now so the error can point inside the
            // file; resolve() would only know the line.
            if let Err(err) = Template::parse(&stmt.value) {
                let offset = interp_offset(&err)
                    .and_then(|at| stmt.origin.get(at).copied())
                    .unwrap_or(stmt.value_span.start);
                return Err(syntax(offset, describe_interp_error(&stmt.key, &err)));
            }
        }
        entries.push(Entry {
            line: positions.locate(text, stmt.key_offset).0,
            key: stmt.key,
            value: stmt.value,
            interpolate: stmt.interpolate,
        });
    }
    Ok(DotEnv {
        path: path.to_path_buf(),
        entries,
    })
}

/// Read and parse; Ok(None) when the file does not exist. Refuses files over
/// `MAX_DOTENV_BYTES` and non-UTF-8 (Syntax error at line 1 or the offending
/// line).
pub fn load(path: &Path) -> Result<Option<DotEnv>, DotEnvError> {
    load_with(path, crate::fsread::read)
}

/// [`load`] for another project's `.env` (the port registry's view), outside this project.
pub fn load_other_project(path: &Path) -> Result<Option<DotEnv>, DotEnvError> {
    load_with(path, crate::fsread::read_other_project)
}

fn load_with(
    path: &Path,
    read: fn(&Path, u64) -> Result<Vec<u8>, crate::fsread::ReadError>,
) -> Result<Option<DotEnv>, DotEnvError> {
    let io_error = |source: std::io::Error| DotEnvError::Io {
        path: path.display().to_string(),
        source,
    };
    let too_large = || DotEnvError::TooLarge {
        path: path.display().to_string(),
        limit: MAX_DOTENV_BYTES,
    };
    // Confined, regular files only, size-capped while reading (crate::fsread).
    let bytes = match read(path, MAX_DOTENV_BYTES) {
        Ok(bytes) => bytes,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(crate::fsread::ReadError::TooLarge { .. }) => return Err(too_large()),
        Err(crate::fsread::ReadError::Io(err)) => return Err(io_error(err)),
        Err(e) => return Err(io_error(std::io::Error::other(e.to_string()))),
    };
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let valid = err.utf8_error().valid_up_to();
            let prefix = err.as_bytes().get(..valid).unwrap_or_default();
            let prefix = std::str::from_utf8(prefix).unwrap_or_default();
            let prefix = prefix.strip_prefix('\u{feff}').unwrap_or(prefix);
            let line = prefix.matches('\n').count() + 1;
            let line_start = prefix.rfind('\n').map_or(0, |i| i + 1);
            let column = prefix.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
            return Err(syntax_error(
                path,
                line,
                column,
                "file is not valid UTF-8".to_owned(),
            ));
        }
    };
    parse(path, &text).map(Some)
}

impl DotEnv {
    /// Resolve the values as docker compose does: in file order, unquoted and
    /// double-quoted values are interpolated (`crate::interp`) against the
    /// process lookup first, then earlier entries of this file; single-quoted
    /// values are literal. Later duplicates win. Interpolation errors become
    /// `DotEnvError::Syntax` naming the line.
    ///
    /// The column of such an error is 1: an [`Entry`] does not record where
    /// its value starts. The message names the key and, for `:?`/`?`, the
    /// missing variable, but not the template's own message text, since that
    /// may interpolate other (secret) variables.
    pub fn resolve(
        &self,
        process: &dyn Fn(&str) -> Option<String>,
    ) -> Result<BTreeMap<String, String>, DotEnvError> {
        // `A=x$A$A` repeated doubles the value on every line (a "billion laughs"): what the
        // references of the whole file substitute is capped, so memory stays linear.
        const MAX_SUBSTITUTED: usize = 16 * 1024 * 1024;
        let substituted = std::cell::Cell::new(0usize);
        let mut resolved: BTreeMap<String, String> = BTreeMap::new();
        for entry in &self.entries {
            let value = if entry.interpolate {
                let lookup = |name: &str| {
                    let value = process(name).or_else(|| resolved.get(name).cloned())?;
                    let total = substituted.get().saturating_add(value.len());
                    substituted.set(total);
                    Some(if total > MAX_SUBSTITUTED {
                        String::new()
                    } else {
                        value
                    })
                };
                let value = crate::interp::interpolate(&entry.value, &lookup).map_err(|err| {
                    syntax_error(
                        &self.path,
                        entry.line,
                        1,
                        describe_interp_error(&entry.key, &err),
                    )
                })?;
                if substituted.get() > MAX_SUBSTITUTED {
                    return Err(syntax_error(
                        &self.path,
                        entry.line,
                        1,
                        format!(
                            "`{}`: the file's ${{VAR}} references expand to more than {} MiB",
                            entry.key,
                            MAX_SUBSTITUTED / (1024 * 1024)
                        ),
                    ));
                }
                value
            } else {
                entry.value.clone()
            };
            resolved.insert(entry.key.clone(), value);
        }
        Ok(resolved)
    }

    /// The assignment of `key` that takes effect (the last one in the file).
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|entry| entry.key == key)
    }
}

/// True when `key` can be written as a `.env` key: `[A-Za-z_][A-Za-z0-9_.-]*`.
pub fn is_valid_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes.next().is_some_and(is_key_start) && bytes.all(is_key_continue)
}

/// Rewrite .env text setting each (key, value): replace the value of the
/// first assignment of key in place (keeping an `export ` prefix and the rest
/// of the file byte-for-byte, including comments, blank lines and CRLF line
/// endings), drop later duplicate assignments of that key, append keys that
/// are absent at the end (adding a trailing newline first if the text lacks
/// one). Values are written unquoted when they match `[A-Za-z0-9_./:@-]*`,
/// else double-quoted with escaping.
///
/// Values are literal: `$` is written as `\$`, so resolving the result gives
/// back exactly the value passed in. When a key appears several times in
/// `updates` the last value wins. Keys that are not valid `.env` keys (see
/// [`is_valid_key`]) are skipped, because writing them would corrupt the
/// file. Appended lines use CRLF when the text's first line ending is CRLF.
/// Lines that do not parse are left untouched; an assignment whose quoted
/// value is unterminated is treated as ending at the end of its line, so
/// setting that key repairs it.
pub fn set_vars(text: &str, updates: &[(String, String)]) -> String {
    // Last value per key wins; first appearance decides the append order.
    let mut wanted: Vec<(&str, &str, bool)> = Vec::new();
    for (key, value) in updates {
        if !is_valid_key(key) {
            continue;
        }
        match wanted.iter_mut().find(|(k, _, _)| *k == key.as_str()) {
            Some(slot) => slot.1 = value.as_str(),
            None => wanted.push((key.as_str(), value.as_str(), false)),
        }
    }

    let mut out = String::with_capacity(text.len() + 64);
    let mut cursor = 0;
    for stmt in scan(text).into_iter().filter_map(|scanned| scanned.stmt) {
        let Some(slot) = wanted.iter_mut().find(|(k, _, _)| *k == stmt.key) else {
            continue;
        };
        let (replace, with) = if slot.2 {
            (stmt.start..stmt.end, String::new())
        } else {
            slot.2 = true;
            (stmt.value_span.clone(), encode_value(slot.1))
        };
        out.push_str(text.get(cursor..replace.start).unwrap_or_default());
        out.push_str(&with);
        cursor = replace.end;
        // What followed the old value on its line (a comment) stays a comment after the new
        // one: a quoted value may be followed by `#note` or `<TAB>#note`, a bare value needs a
        // space right before `#` — a gap without one becomes one space (a gap ending in a
        // space is kept as written).
        if !with.is_empty() {
            let rest = text.get(replace.end..).unwrap_or_default();
            let line = &rest[..rest.find(['\n', '\r']).unwrap_or(rest.len())];
            let after = line.trim_start();
            let gap = &line[..line.len() - after.len()];
            if !after.is_empty() && !gap.ends_with(' ') {
                out.push(' ');
                cursor = replace.end + gap.len();
            }
        }
    }
    out.push_str(text.get(cursor..).unwrap_or_default());

    let missing: Vec<_> = wanted.iter().filter(|(_, _, found)| !found).collect();
    if !missing.is_empty() {
        let eol = match text.find('\n') {
            Some(i) if i > 0 && text.as_bytes().get(i - 1) == Some(&b'\r') => "\r\n",
            _ => "\n",
        };
        if !out.is_empty() && out != "\u{feff}" && !out.ends_with('\n') {
            // A file ending in a lone CR (an old Mac line end the parser accepts at the end)
            // gets its LF, not a second CR.
            if out.ends_with('\r') {
                out.push('\n');
            } else {
                out.push_str(eol);
            }
        }
        for (key, value, _) in missing {
            out.push_str(key);
            out.push('=');
            out.push_str(&encode_value(value));
            out.push_str(eol);
        }
    }
    out
}

/// Formats a value so that compose reads it back unchanged.
fn encode_value(value: &str) -> String {
    let plain = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_./:@-".contains(&b));
    if plain {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            // `\$` rather than `$$`: compose reads both as a literal `$`,
            // and `\$` also survives a shell `source` of the file.
            '$' => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ => out.push(ch),
        }
    }
    out.push('"');
    out
}

fn syntax_error(path: &Path, line: usize, column: usize, message: String) -> DotEnvError {
    DotEnvError::Syntax {
        path: path.display().to_string(),
        line,
        column,
        message,
    }
}

/// The byte offset (into the template text) an interpolation error points at.
fn interp_offset(err: &InterpError) -> Option<usize> {
    match err {
        InterpError::Unterminated { offset }
        | InterpError::InvalidName { offset }
        | InterpError::TooDeep { offset } => Some(*offset),
        InterpError::Required { .. } => None,
    }
}

/// An error message for an interpolation failure that names the key but
/// never the value (the `InterpError` text would carry the rendered message).
fn describe_interp_error(key: &str, err: &InterpError) -> String {
    match err {
        InterpError::Unterminated { .. } => format!("value of `{key}`: unterminated `${{`"),
        InterpError::InvalidName { .. } => {
            format!("value of `{key}`: invalid variable name or operator in `${{...}}`")
        }
        InterpError::TooDeep { .. } => {
            format!("value of `{key}`: `${{...}}` nested too deeply")
        }
        InterpError::Required { name, .. } => {
            format!("value of `{key}`: required variable `{name}` is missing a value")
        }
    }
}

fn is_key_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_'
}

fn is_key_continue(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-')
}

fn is_blank(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

/// Maps byte offsets to 1-based (line, character column).
struct Positions {
    line_starts: Vec<usize>,
}

impl Positions {
    fn new(text: &str) -> Self {
        // Line 1 starts after the BOM so that columns ignore it.
        let first = if text.starts_with('\u{feff}') { 3 } else { 0 };
        let mut line_starts = vec![first];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Positions { line_starts }
    }

    fn locate(&self, text: &str, offset: usize) -> (usize, usize) {
        let index = self
            .line_starts
            .partition_point(|&start| start <= offset)
            .saturating_sub(1);
        let start = self.line_starts.get(index).copied().unwrap_or(0);
        let column = text
            .get(start..offset)
            .map_or(0, |prefix| prefix.chars().count())
            + 1;
        (index + 1, column)
    }
}

/// A problem found by the scanner, positioned by byte offset.
struct Issue {
    offset: usize,
    message: String,
}

/// An assignment found by the scanner, with the spans `set_vars` edits.
struct Stmt {
    key: String,
    /// Byte offset of the key.
    key_offset: usize,
    /// Start of the statement's first line.
    start: usize,
    /// Just past the statement's last line terminator (or the text end).
    end: usize,
    /// The value as written, quotes included.
    value_span: Range<usize>,
    value: String,
    interpolate: bool,
    /// For each byte of `value` (and one past its end), the byte offset in
    /// the text it came from, so interpolation errors can be located.
    origin: Vec<usize>,
}

/// One non-blank, non-comment statement. `parse` fails on any `issue`;
/// `set_vars` uses `stmt` whenever a key and `=` were recognised.
struct Scanned {
    stmt: Option<Stmt>,
    issue: Option<Issue>,
}

/// Returns the end of the line's content (before `\r\n` or `\n`) and the
/// start of the next line.
fn line_bounds(text: &str, from: usize) -> (usize, usize) {
    let bytes = text.as_bytes();
    let newline = bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        .map(|i| from + i);
    match newline {
        Some(nl) => {
            let content_end = if nl > from && bytes.get(nl - 1) == Some(&b'\r') {
                nl - 1
            } else {
                nl
            };
            (content_end, nl + 1)
        }
        // A last line without `\n` may still end in a stray `\r`.
        None if text.len() > from && text.ends_with('\r') => (text.len() - 1, text.len()),
        None => (text.len(), text.len()),
    }
}

fn skip_blanks(bytes: &[u8], mut pos: usize, end: usize) -> usize {
    while pos < end && bytes.get(pos).copied().is_some_and(is_blank) {
        pos += 1;
    }
    pos
}

/// Splits the text into statements. Every offset produced lands on a char
/// boundary because the scanner only ever steps over ASCII bytes or whole
/// chars.
fn scan(text: &str) -> Vec<Scanned> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut pos = if text.starts_with('\u{feff}') { 3 } else { 0 };
    while pos < text.len() {
        let (content_end, next) = line_bounds(text, pos);
        let first = skip_blanks(bytes, pos, content_end);
        if first >= content_end || bytes.get(first) == Some(&b'#') {
            pos = next;
            continue;
        }
        let (scanned, resume) = scan_statement(text, pos, first, content_end, next);
        out.push(scanned);
        // Always make progress, whatever the statement scanner returned.
        pos = resume.max(next);
    }
    out
}

/// Scans one statement whose line starts at `line_start` and whose first
/// non-blank byte is at `first`. Returns the result and where to resume.
fn scan_statement(
    text: &str,
    line_start: usize,
    first: usize,
    content_end: usize,
    next: usize,
) -> (Scanned, usize) {
    let bytes = text.as_bytes();
    let fail = |offset: usize, message: &str| Scanned {
        stmt: None,
        issue: Some(Issue {
            offset,
            message: message.to_owned(),
        }),
    };

    let mut i = first;
    if text.get(i..content_end).is_some_and(|rest| {
        rest.starts_with("export") && rest.as_bytes().get(6).copied().is_some_and(is_blank)
    }) {
        i = skip_blanks(bytes, i + 6, content_end);
    }

    // The key. Error messages before the `=` never quote the line: a line
    // without `=` may well be a pasted secret.
    let key_offset = i;
    if !bytes.get(i).copied().is_some_and(is_key_start) {
        return (
            fail(
                i,
                "expected a variable name ([A-Za-z_][A-Za-z0-9_.-]*) followed by `=`",
            ),
            next,
        );
    }
    while i < content_end && bytes.get(i).copied().is_some_and(is_key_continue) {
        i += 1;
    }
    let key = text.get(key_offset..i).unwrap_or_default().to_owned();
    let after_key = skip_blanks(bytes, i, content_end);
    if bytes.get(after_key) != Some(&b'=') || after_key >= content_end {
        let message = if after_key > i || after_key >= content_end {
            "expected `=` after the variable name"
        } else {
            "invalid character in variable name (expected `=`)"
        };
        return (fail(after_key, message), next);
    }

    let value_start = skip_blanks(bytes, after_key + 1, content_end);
    let shell = StmtShell {
        key,
        key_offset,
        start: line_start,
    };
    match bytes.get(value_start) {
        Some(b'\'') if value_start < content_end => {
            scan_single_quoted(text, shell, value_start, content_end, next)
        }
        Some(b'"') if value_start < content_end => {
            scan_double_quoted(text, shell, value_start, content_end, next)
        }
        _ => {
            let raw = text.get(value_start..content_end).unwrap_or_default();
            // Compose cuts at the first " #" and then trims the right side.
            let mut end = raw.find(" #").map_or(content_end, |j| value_start + j);
            while end > value_start && bytes.get(end - 1).copied().is_some_and(is_blank) {
                end -= 1;
            }
            let value = text.get(value_start..end).unwrap_or_default().to_owned();
            let stmt = shell.finish(
                next,
                value_start..end,
                value,
                true,
                (value_start..=end).collect(),
            );
            (
                Scanned {
                    stmt: Some(stmt),
                    issue: None,
                },
                next,
            )
        }
    }
}

/// The parts of a statement known before its value is scanned.
struct StmtShell {
    key: String,
    key_offset: usize,
    start: usize,
}

impl StmtShell {
    fn finish(
        self,
        end: usize,
        value_span: Range<usize>,
        value: String,
        interpolate: bool,
        origin: Vec<usize>,
    ) -> Stmt {
        Stmt {
            key: self.key,
            key_offset: self.key_offset,
            start: self.start,
            end,
            value_span,
            value,
            interpolate,
            origin,
        }
    }
}

/// Checks that only blanks or a `# comment` follow a closing quote.
fn trailing_issue(text: &str, key: &str, after_quote: usize, content_end: usize) -> Option<Issue> {
    let pos = skip_blanks(text.as_bytes(), after_quote, content_end);
    if pos >= content_end || text.as_bytes().get(pos) == Some(&b'#') {
        None
    } else {
        Some(Issue {
            offset: pos,
            message: format!("unexpected text after the closing quote of `{key}`"),
        })
    }
}

fn scan_single_quoted(
    text: &str,
    shell: StmtShell,
    quote: usize,
    content_end: usize,
    next: usize,
) -> (Scanned, usize) {
    let body = text.get(quote + 1..content_end).unwrap_or_default();
    let mut value = String::new();
    let mut chars = body.char_indices().peekable();
    let mut close = None;
    while let Some((j, ch)) = chars.next() {
        match ch {
            // Compose unescapes `\'` inside single quotes and nothing else.
            '\\' if chars.peek().map(|&(_, c)| c) == Some('\'') => {
                value.push('\'');
                chars.next();
            }
            '\'' => {
                close = Some(quote + 1 + j);
                break;
            }
            _ => value.push(ch),
        }
    }
    let Some(close) = close else {
        let issue = Issue {
            offset: quote,
            message: format!(
                "unterminated single-quoted value of `{}` (single quotes cannot span lines)",
                shell.key
            ),
        };
        let stmt = shell.finish(next, quote..content_end, String::new(), false, Vec::new());
        return (
            Scanned {
                stmt: Some(stmt),
                issue: Some(issue),
            },
            next,
        );
    };
    let issue = trailing_issue(text, &shell.key, close + 1, content_end);
    let stmt = shell.finish(next, quote..close + 1, value, false, Vec::new());
    (
        Scanned {
            stmt: Some(stmt),
            issue,
        },
        next,
    )
}

fn scan_double_quoted(
    text: &str,
    shell: StmtShell,
    quote: usize,
    content_end: usize,
    next: usize,
) -> (Scanned, usize) {
    let body = text.get(quote + 1..).unwrap_or_default();
    let mut value = String::new();
    let mut origin = Vec::new();
    let mut push = |piece: &str, at: usize, value: &mut String| {
        value.push_str(piece);
        origin.extend(std::iter::repeat_n(at, piece.len()));
    };
    let mut chars = body.char_indices().peekable();
    let mut close = None;
    while let Some((j, ch)) = chars.next() {
        let at = quote + 1 + j;
        match ch {
            '"' => {
                close = Some(at);
                break;
            }
            '\\' => {
                let escaped = match chars.peek().map(|&(_, c)| c) {
                    Some('n') => Some("\n"),
                    Some('t') => Some("\t"),
                    Some('r') => Some("\r"),
                    Some('"') => Some("\""),
                    Some('\\') => Some("\\"),
                    Some('a') => Some("\u{7}"),
                    Some('b') => Some("\u{8}"),
                    Some('f') => Some("\u{c}"),
                    Some('v') => Some("\u{b}"),
                    // A literal `$`, spelled in template syntax because the
                    // value is interpolated afterwards.
                    Some('$') => Some("$$"),
                    _ => None,
                };
                match escaped {
                    Some(piece) => {
                        push(piece, at, &mut value);
                        chars.next();
                    }
                    // Unknown escapes keep their backslash, as in compose.
                    None => push("\\", at, &mut value),
                }
            }
            // A multi-line value in a CRLF file should not gain `\r`s.
            '\r' if chars.peek().map(|&(_, c)| c) == Some('\n') => {}
            _ => {
                let mut buf = [0; 4];
                push(ch.encode_utf8(&mut buf), at, &mut value);
            }
        }
    }
    let Some(close) = close else {
        let issue = Issue {
            offset: quote,
            message: format!("unterminated double-quoted value of `{}`", shell.key),
        };
        // For set_vars: treat the value as ending with its first line.
        let stmt = shell.finish(next, quote..content_end, String::new(), true, Vec::new());
        return (
            Scanned {
                stmt: Some(stmt),
                issue: Some(issue),
            },
            next,
        );
    };
    origin.push(close);
    let (last_content_end, last_next) = line_bounds(text, close);
    let issue = trailing_issue(text, &shell.key, close + 1, last_content_end);
    let stmt = shell.finish(last_next, quote..close + 1, value, true, origin);
    (
        Scanned {
            stmt: Some(stmt),
            issue,
        },
        last_next,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parsed(text: &str) -> DotEnv {
        match parse(Path::new(".env"), text) {
            Ok(env) => env,
            Err(err) => panic!("{text:?}: {err}"),
        }
    }

    fn values(text: &str) -> Vec<(String, String)> {
        parsed(text)
            .entries
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn syntax(text: &str) -> (usize, usize, String) {
        match parse(Path::new("app/.env"), text) {
            Err(DotEnvError::Syntax {
                path,
                line,
                column,
                message,
            }) => {
                assert_eq!(path, "app/.env");
                (line, column, message)
            }
            other => panic!("{text:?}: expected a syntax error, got {other:?}"),
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn resolved(text: &str, process: &[(&str, &str)]) -> BTreeMap<String, String> {
        let process: HashMap<String, String> = pairs(process).into_iter().collect();
        parsed(text)
            .resolve(&|name| process.get(name).cloned())
            .unwrap()
    }

    // --- syntax forms ------------------------------------------------------------

    #[test]
    fn blank_lines_comments_and_line_numbers() {
        let env = parsed("# header\n\n   \nA=1\n  # indented comment\n\tB=2\n");
        let got: Vec<_> = env
            .entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str(), e.line, e.interpolate))
            .collect();
        assert_eq!(got, [("A", "1", 4, true), ("B", "2", 6, true)]);
        assert!(parsed("").entries.is_empty());
        assert!(parsed("\n\n# only comments").entries.is_empty());
    }

    #[test]
    fn export_prefix() {
        assert_eq!(
            values("export A=1\nexport\tB = 2\nexportC=3\nexport=4\n"),
            pairs(&[("A", "1"), ("B", "2"), ("exportC", "3"), ("export", "4")])
        );
    }

    #[test]
    fn empty_values_and_whitespace_around_equals() {
        assert_eq!(
            values("A=\nB =\nC = value\nD\t=\tx y \t\nE=  \n"),
            pairs(&[
                ("A", ""),
                ("B", ""),
                ("C", "value"),
                ("D", "x y"),
                ("E", "")
            ])
        );
    }

    #[test]
    fn key_characters() {
        assert_eq!(
            values("_A.b-c9=1\nlower=2\n"),
            pairs(&[("_A.b-c9", "1"), ("lower", "2")])
        );
    }

    #[test]
    fn unquoted_inline_comments_follow_compose() {
        assert_eq!(
            values("A=value # comment\nB=a#b\nC=#c\nD=x  #  y\nE=http://h/#frag\n"),
            pairs(&[
                ("A", "value"),
                ("B", "a#b"),
                ("C", "#c"),
                ("D", "x"),
                ("E", "http://h/#frag")
            ])
        );
    }

    #[test]
    fn unquoted_values_keep_inner_quotes_and_equals() {
        assert_eq!(
            values("A=it's\nB=a\"b\nC=k=v=w\n"),
            pairs(&[("A", "it's"), ("B", "a\"b"), ("C", "k=v=w")])
        );
    }

    #[test]
    fn single_quoted_values_are_literal() {
        let env = parsed("A='$HOME \\n # not a comment'  # comment\nB='it\\'s'\nC=''\n");
        let a = &env.entries[0];
        assert_eq!(a.value, "$HOME \\n # not a comment");
        assert!(!a.interpolate);
        assert_eq!(env.entries[1].value, "it's");
        assert_eq!(env.entries[2].value, "");
    }

    #[test]
    fn double_quoted_escapes() {
        let env = parsed(r#"A="a\nb\tc\"d\\e\qf" # comment"#);
        assert_eq!(env.entries[0].value, "a\nb\tc\"d\\e\\qf");
        assert!(env.entries[0].interpolate);
        assert_eq!(values(r#"B="x # y""#), pairs(&[("B", "x # y")]));
        assert_eq!(values(r#"C="""#), pairs(&[("C", "")]));
    }

    #[test]
    fn double_quoted_values_span_lines() {
        let env = parsed("A=\"line1\nline2\n# not a comment\n\"\nB=after\n");
        assert_eq!(env.entries[0].value, "line1\nline2\n# not a comment\n");
        assert_eq!(env.entries[0].line, 1);
        assert_eq!(env.entries[1].key, "B");
        assert_eq!(env.entries[1].line, 5);
    }

    #[test]
    fn crlf_line_endings() {
        let env = parsed("A=1\r\n# c\r\nB=\"x\r\ny\"\r\nC='z'\r\n");
        let got: Vec<_> = env
            .entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str(), e.line))
            .collect();
        assert_eq!(got, [("A", "1", 1), ("B", "x\ny", 3), ("C", "z", 5)]);
        assert_eq!(values("A=1\r"), pairs(&[("A", "1")]));
        assert_eq!(set_vars("A=1\r", &pairs(&[("A", "2")])), "A=2\r");
    }

    #[test]
    fn bom_is_ignored() {
        assert_eq!(values("\u{feff}A=1\n"), pairs(&[("A", "1")]));
        let (line, column, _) = syntax("\u{feff}oops\n");
        assert_eq!((line, column), (1, 5));
    }

    #[test]
    fn debug_output_redacts_values() {
        let env = parsed("TOKEN=hunter2\n");
        let debug = format!("{env:?}");
        assert!(debug.contains("TOKEN"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn get_returns_the_last_assignment() {
        let env = parsed("A=1\nB=2\nA=3\n");
        assert_eq!(
            env.get("A").map(|e| (e.value.as_str(), e.line)),
            Some(("3", 3))
        );
        assert!(env.get("Z").is_none());
    }

    // --- errors -------------------------------------------------------------------

    #[test]
    fn line_without_equals_reports_line_and_column() {
        let (line, column, message) = syntax("A=1\n\nsk-live-SECRET123\n");
        assert_eq!((line, column), (3, 18));
        assert!(!message.contains("SECRET"), "{message}");

        let (line, column, message) = syntax("A=1\nTOKENSECRETVALUE\n");
        assert_eq!((line, column), (2, 17));
        assert!(message.contains("expected `=`"), "{message}");
        assert!(!message.contains("TOKENSECRET"), "{message}");

        let (line, column, _) = syntax("A B=1");
        assert_eq!((line, column), (1, 3));
        let (line, column, _) = syntax("A:1");
        assert_eq!((line, column), (1, 2));
    }

    #[test]
    fn invalid_keys() {
        assert_eq!(syntax("1A=x").0, 1);
        assert_eq!(syntax("A=1\n=x").0, 2);
        let (line, column, message) = syntax("A=1\n  ké=x");
        assert_eq!((line, column), (2, 4));
        assert!(message.contains("invalid character"), "{message}");
    }

    #[test]
    fn unterminated_double_quote_names_the_starting_line() {
        let text = "A=1\nPASSWORD=\"hunter2\nB=2\nC=3\n";
        let (line, column, message) = syntax(text);
        assert_eq!((line, column), (2, 10));
        assert!(message.contains("`PASSWORD`"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        let err = parse(Path::new(".env"), text).unwrap_err().to_string();
        assert!(err.starts_with(".env:2:10: "), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn unterminated_single_quote_cannot_span_lines() {
        let (line, column, message) = syntax("A='abc\ndef'\n");
        assert_eq!((line, column), (1, 3));
        assert!(message.contains("single"), "{message}");
    }

    #[test]
    fn text_after_closing_quote_is_an_error() {
        let (line, column, message) = syntax("A=1\nB='x' y\n");
        assert_eq!((line, column), (2, 7));
        assert!(message.contains("`B`"), "{message}");
        let (line, column, _) = syntax("A=\"a\nb\"c\n");
        assert_eq!((line, column), (2, 3));
    }

    #[test]
    fn interpolation_syntax_errors_point_into_the_file() {
        let (line, column, message) = syntax("A=1\nB=x${\n");
        assert_eq!((line, column), (2, 4));
        assert!(message.contains("`B`"), "{message}");
        let (line, column, _) = syntax("A=\"one\\ntwo\n  ${1}\"\n");
        assert_eq!((line, column), (2, 5));
        // Single-quoted values are never interpolated, so never invalid.
        assert_eq!(values("A='${'"), pairs(&[("A", "${")]));
    }

    // --- resolve -----------------------------------------------------------------

    #[test]
    fn resolve_refers_to_earlier_keys_and_process_env_first() {
        let text = "HOST=db\nPORT=5432\nURL=postgres://${HOST}:$PORT/app\nLATER=${NEXT}\nNEXT=n\n";
        let map = resolved(text, &[]);
        assert_eq!(map["URL"], "postgres://db:5432/app");
        // Only earlier entries are visible.
        assert_eq!(map["LATER"], "");

        let map = resolved(text, &[("HOST", "prod-db"), ("NEXT", "from-env")]);
        assert_eq!(map["URL"], "postgres://prod-db:5432/app");
        assert_eq!(map["LATER"], "from-env");
        // The file's own value is still reported for HOST.
        assert_eq!(map["HOST"], "db");
    }

    #[test]
    fn resolve_quoting_rules() {
        let text = "A=x\nB='${A}'\nC=\"${A}\\$A\"\nD=$$A\nE=${MISSING:-dflt}\n";
        let map = resolved(text, &[]);
        assert_eq!(map["B"], "${A}");
        assert_eq!(map["C"], "x$A");
        assert_eq!(map["D"], "$A");
        assert_eq!(map["E"], "dflt");
    }

    #[test]
    fn resolve_later_duplicates_win() {
        let map = resolved("A=1\nB=${A}\nA=2\nC=${A}\n", &[]);
        assert_eq!(map["A"], "2");
        assert_eq!(map["B"], "1");
        assert_eq!(map["C"], "2");
    }

    #[test]
    fn resolve_required_error_names_line_and_key_but_no_value() {
        let env = parsed("SECRET=hunter2\nA=1\nDB=${DB_PASS:?$SECRET}\n");
        match env.resolve(&no_env) {
            Err(DotEnvError::Syntax {
                line,
                column,
                message,
                ..
            }) => {
                assert_eq!((line, column), (3, 1));
                assert!(message.contains("`DB`"), "{message}");
                assert!(message.contains("`DB_PASS`"), "{message}");
                assert!(!message.contains("hunter2"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
        let ok = env.resolve(&|name| (name == "DB_PASS").then(|| "pw".to_owned()));
        assert_eq!(ok.unwrap()["DB"], "pw");
    }

    // --- load --------------------------------------------------------------------

    #[test]
    fn load_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(&dir.path().join(".env")).unwrap().is_none());
    }

    #[test]
    fn load_reads_and_parses() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "A=1\n").unwrap();
        let env = load(&path).unwrap().unwrap();
        assert_eq!(env.path, path);
        assert_eq!(env.entries.len(), 1);
    }

    #[test]
    fn load_refuses_large_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        let size = usize::try_from(MAX_DOTENV_BYTES).unwrap() + 1;
        std::fs::write(&path, "#".repeat(size)).unwrap();
        assert!(matches!(
            load(&path),
            Err(DotEnvError::TooLarge {
                limit: MAX_DOTENV_BYTES,
                ..
            })
        ));
    }

    #[test]
    fn load_refuses_non_utf8_with_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, b"A=1\nB=ok\xff\n").unwrap();
        match load(&path) {
            Err(DotEnvError::Syntax {
                line,
                column,
                message,
                ..
            }) => {
                assert_eq!((line, column), (2, 5));
                assert!(message.contains("UTF-8"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn load_directory_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(load(dir.path()), Err(DotEnvError::Io { .. })));
    }

    // --- set_vars ------------------------------------------------------------------

    #[test]
    fn set_vars_replaces_in_place_and_keeps_everything_else() {
        let text = "# ports\nexport FRONTEND_PORT = 5173  # vite\n\nAPI_PORT=8080\n# end\n";
        let out = set_vars(text, &pairs(&[("FRONTEND_PORT", "5174")]));
        assert_eq!(
            out,
            "# ports\nexport FRONTEND_PORT = 5174  # vite\n\nAPI_PORT=8080\n# end\n"
        );
    }

    #[test]
    fn set_vars_replaces_quoted_and_multiline_values() {
        let text = "A='old'\nB=\"multi\nline\"\nC=keep\n";
        let out = set_vars(text, &pairs(&[("A", "new"), ("B", "two words")]));
        assert_eq!(out, "A=new\nB=\"two words\"\nC=keep\n");
    }

    #[test]
    fn set_vars_keeps_a_comment_that_followed_a_closing_quote() {
        // Found by the dotenv fuzz target: the comment became part of the new bare value.
        let text = "PORT=\"4\nx\"#note\nOTHER=1\n";
        let out = set_vars(text, &[("PORT".to_owned(), "3000".to_owned())]);
        assert_eq!(out, "PORT=3000 #note\nOTHER=1\n");
        let env = parse(Path::new(".env"), &out).unwrap();
        assert_eq!(env.get("PORT").unwrap().value, "3000");
    }

    #[test]
    fn references_that_double_on_every_line_stop_at_the_cap() {
        // Found by the dotenv fuzz target (out of memory): each line doubles the value.
        let mut text = String::from("A=xxxxxxxxxxxxxxxx\n");
        for _ in 0..40 {
            text.push_str("A=$A$A\n");
        }
        let env = parse(Path::new(".env"), &text).unwrap();
        let err = env.resolve(&|_: &str| None).unwrap_err();
        assert!(err.to_string().contains("more than 16 MiB"), "{err}");
    }

    #[test]
    fn set_vars_keeps_a_comment_after_tabs() {
        // Found by the dotenv fuzz target: `''<TAB><TAB>#c` became part of the bare value.
        let text = "A=40\nPORT=''\t\t#A=/";
        let out = set_vars(text, &[("PORT".to_owned(), "3000".to_owned())]);
        assert_eq!(out, "A=40\nPORT=3000 #A=/");
        let env = parse(Path::new(".env"), &out).unwrap();
        assert_eq!(env.get("PORT").unwrap().value, "3000");
    }

    #[test]
    fn set_vars_appends_after_a_file_ending_in_a_lone_cr() {
        // Found by the dotenv fuzz target: a second CR made the quoted value's line invalid.
        let text = "T=\"\r\nT=\"\r";
        let out = set_vars(text, &[("PORT".to_owned(), "3000".to_owned())]);
        let env = parse(Path::new(".env"), &out).unwrap();
        assert_eq!(env.get("PORT").unwrap().value, "3000");
    }

    #[test]
    fn set_vars_preserves_crlf() {
        let text = "# c\r\nA=1\r\n\r\nB=2\r\n";
        let out = set_vars(text, &pairs(&[("B", "3"), ("NEW", "x")]));
        assert_eq!(out, "# c\r\nA=1\r\n\r\nB=3\r\nNEW=x\r\n");
    }

    #[test]
    fn set_vars_drops_later_duplicates() {
        let text = "A=1\nB=2\n  export A=3 # dup\nC=4\nA=\"5\nstill 5\"\n";
        let out = set_vars(text, &pairs(&[("A", "9")]));
        assert_eq!(out, "A=9\nB=2\nC=4\n");
    }

    #[test]
    fn set_vars_appends_missing_keys() {
        assert_eq!(
            set_vars("A=1\n", &pairs(&[("B", "2"), ("C", "")])),
            "A=1\nB=2\nC=\n"
        );
        assert_eq!(set_vars("A=1", &pairs(&[("B", "2")])), "A=1\nB=2\n");
        assert_eq!(set_vars("", &pairs(&[("B", "2")])), "B=2\n");
        assert_eq!(set_vars("\u{feff}", &pairs(&[("B", "2")])), "\u{feff}B=2\n");
    }

    #[test]
    fn set_vars_without_updates_is_identity() {
        for text in [
            "",
            "A=1",
            "# c\r\n\r\nA='x' # y\r\n",
            "bad line\nA=\"open\n",
        ] {
            assert_eq!(set_vars(text, &[]), text);
        }
    }

    #[test]
    fn set_vars_last_update_wins_and_skips_invalid_keys() {
        let out = set_vars(
            "A=1\n",
            &pairs(&[("A", "2"), ("BAD KEY", "x"), ("A", "3"), ("", "y")]),
        );
        assert_eq!(out, "A=3\n");
    }

    #[test]
    fn set_vars_leaves_broken_lines_alone_and_repairs_its_key() {
        let text = "garbage line\nA=\"unterminated\nB=2\n";
        let out = set_vars(text, &pairs(&[("A", "ok")]));
        assert_eq!(out, "garbage line\nA=ok\nB=2\n");
    }

    #[test]
    fn set_vars_quotes_and_values_round_trip_through_resolve() {
        let tricky = [
            "plain-1.2_3/x:y@z",
            "",
            "two words",
            "p@ss$word\"\\",
            "${NOT_EXPANDED}",
            "line1\nline2\r\n",
            "tab\there",
            "#hash",
            "it's",
            "ünï",
        ];
        for value in tricky {
            let text = set_vars("# keep\nV=old\n", &pairs(&[("V", value), ("W", value)]));
            assert!(text.starts_with("# keep\n"), "{text:?}");
            let map = parsed(&text).resolve(&no_env).unwrap();
            assert_eq!(map["V"], value, "{text:?}");
            assert_eq!(map["W"], value, "{text:?}");
        }
        assert_eq!(
            set_vars("", &pairs(&[("V", "plain-1.2_3/x:y@z")])),
            "V=plain-1.2_3/x:y@z\n"
        );
        assert_eq!(set_vars("", &pairs(&[("V", "a b")])), "V=\"a b\"\n");
    }

    #[test]
    fn scanning_arbitrary_text_never_panics() {
        const PIECES: [&str; 12] = [
            "A", "=", "'", "\"", "\\", "#", " ", "\n", "\r", "$", "{", "é",
        ];
        let mut frontier = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for prefix in &frontier {
                for piece in PIECES {
                    let text = format!("{prefix}{piece}");
                    let _ = parse(Path::new(".env"), &text).map(|env| env.resolve(&no_env));
                    let _ = set_vars(&text, &pairs(&[("A", "v w")]));
                    next.push(text);
                }
            }
            frontier = next;
        }
    }
}
