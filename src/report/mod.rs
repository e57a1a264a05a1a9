//! The report: wire model, event stream, and one file per output format. Only this module
//! writes to stdout and stderr (enforced by clippy's `disallowed-macros`).

mod build;
mod charts;
pub(crate) mod escape;
mod events;
mod github;
pub mod history;
mod html;
mod human;
mod json;
mod junit;
mod markdown;
mod mermaid;
mod model;
pub mod progress;
mod schema;
mod stderr;
mod svg;

pub use build::{RunEnding, RunRecord, assemble, exit_code};
pub use events::{Event, EventSink};
pub use github::render as render_github;
pub use html::render as render_html;
pub use human::render as render_human;
pub use json::render as render_json;
pub use junit::render as render_junit;
pub use markdown::render as render_markdown;
pub use model::*;
pub use schema::schema_json;
pub use stderr::RedactingStderr;

/// The current time, RFC 3339 UTC with millisecond precision.
pub fn now_rfc3339() -> String {
    format_time(time::OffsetDateTime::now_utc())
}

/// Format a timestamp as RFC 3339, falling back to the Unix epoch form on the (impossible in
/// practice) formatting error rather than panicking.
pub fn format_time(t: time::OffsetDateTime) -> String {
    // Fixed width (always three fractional digits, always `Z`), still RFC 3339.
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Write a whole document to stdout, every known secret replaced ([`crate::redact::current`]).
/// A closed pipe (`devops-agent … | head`) is not an error worth a panic; it is logged.
pub fn write_stdout(text: &str) {
    if let Err(e) = try_write_stdout(text) {
        tracing::debug!("stdout: {e}");
    }
}

/// Write a whole document to `path`, every known secret replaced.
pub fn write_file(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, crate::redact::current().replace_known(text))
}

/// The report with every string redacted by the run's redactor — the one step every output
/// (each format, the history, the step summary) is rendered from. Should redaction ever make
/// the report unreadable (a replacement landing on a status word), the report is replaced by
/// one that says so rather than written unredacted.
pub fn redacted(report: &Report) -> Report {
    let redactor = crate::redact::current();
    if let Some(clean) = redactor.redact_serde(report) {
        return clean;
    }
    let record = RunRecord {
        command: report.meta.command.clone(),
        timestamp: report.meta.timestamp.clone(),
        errors: vec![RunError {
            message: "the report could not be redacted, so it is not shown".to_owned(),
            file: None,
            line: None,
            column: None,
        }],
        config_error: true,
        ..RunRecord::default()
    };
    assemble(&record)
}

/// Write `text` to stdout (every known secret replaced) and flush it, saying whether it
/// arrived (a full disk, a closed pipe).
pub fn try_write_stdout(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let text = crate::redact::current().replace_known(text);
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush())
}
