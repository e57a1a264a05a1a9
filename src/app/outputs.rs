//! The end of a run: assemble the report from the run record, compare with and append to the
//! history, print the document on stdout, write the `--output` files and the GitHub step
//! summary, and emit the closing event. The exit code comes from the record (see
//! `report::exit_code`), so every output and the code agree.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use crate::cli::{Cli, Command, Format};
use crate::exit;
use crate::project::ConfigError;
use crate::report::{self, Event, EventSink, RunError, RunRecord};

/// How many recorded runs the HTML report's history trend shows.
const HISTORY_SHOWN: usize = 30;

/// `--output [FORMAT=]FILE` entries, resolved.
pub(super) fn outputs(cli: &Cli) -> Result<Vec<(Format, PathBuf)>, String> {
    use clap::ValueEnum;
    cli.global
        .output
        .iter()
        .map(|spec| match spec.split_once('=') {
            Some((name, file)) if Format::from_str(name, true).is_ok() => Ok((
                Format::from_str(name, true).unwrap_or(file_format(cli)),
                PathBuf::from(file),
            )),
            // `xml=report.xml`: a format name that is not one, not a file called that.
            Some((name, _))
                if !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
            {
                let known: Vec<String> = Format::value_variants()
                    .iter()
                    .filter_map(|f| f.to_possible_value().map(|v| v.get_name().to_owned()))
                    .filter(|name| name != "auto")
                    .collect();
                Err(format!(
                    "--output {spec}: unknown format `{name}` (one of {})",
                    known.join(", ")
                ))
            }
            _ if spec.is_empty() => Err("--output needs a file name".to_owned()),
            _ => Ok((file_format(cli), PathBuf::from(spec))),
        })
        .collect()
}

/// The format of an `--output FILE` that names none: `--format`, or JSON when that was `auto`
/// (a file is not a terminal).
fn file_format(cli: &Cli) -> Format {
    if cli.global.format_was_auto {
        Format::Json
    } else {
        cli.global.format
    }
}

/// Make sure a report or events file can be written before any gate runs: its missing parent
/// directories are created, and a path that cannot be opened for writing is a usage error now
/// rather than a lost artifact after a long run.
/// Attach the event stream's destinations to `sink`: every `--events` file, every
/// `--output FILE` in the jsonl format, stdout for `--format jsonl`, and the progress lines.
pub(super) fn open_events(
    cli: &Cli,
    outputs: &[(Format, PathBuf)],
    sink: &mut EventSink,
) -> Result<(), String> {
    let jsonl = outputs.iter().filter(|(f, _)| *f == Format::Jsonl);
    for path in cli.global.events.iter().chain(jsonl.map(|(_, p)| p)) {
        prepare(path)
            .map_err(std::io::Error::other)
            .and_then(|()| sink.add_file(path))
            .map_err(|e| format!("cannot write events to {}: {e}", path.display()))?;
    }
    if cli.global.format == Format::Jsonl {
        sink.add_stdout();
    }
    sink.show_progress(!cli.global.quiet);
    Ok(())
}

pub(super) fn prepare(path: &std::path::Path) -> Result<(), String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map(drop)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Record `message` as the error that stopped the run, then finish.
pub(super) fn finish_with_error(
    mut record: RunRecord,
    sink: &EventSink,
    cli: &Cli,
    outputs: &[(Format, PathBuf)],
    message: String,
    started: Instant,
) -> u8 {
    tracing::error!("{message}");
    record.errors.push(RunError {
        message,
        file: None,
        line: None,
        column: None,
    });
    record.config_error = true;
    finish(record, sink, cli, outputs, started)
}

/// Assemble the report, print it, write the extra outputs, and emit the closing event.
pub(super) fn finish(
    mut record: RunRecord,
    sink: &EventSink,
    cli: &Cli,
    outputs: &[(Format, PathBuf)],
    started: Instant,
) -> u8 {
    record.ports = record.gates.iter().flat_map(|g| g.ports.clone()).collect();
    record.duration = started.elapsed();
    record.started = Some(started);
    record.commands = sink.commands(started);
    let mut code = report::exit_code(&record);
    let mut report = report::assemble(&record);
    let history_root = match &cli.command {
        Command::Validate { selection, .. } if !selection.no_history && !record.config_error => {
            Some(PathBuf::from(&record.project))
        }
        _ => None,
    };
    if let Some(root) = &history_root
        && let Some(previous) = report::history::previous(root)
    {
        report::history::compare(&mut report, &previous);
    }
    // The recorded runs before this one, for the HTML report's trend (read before this run is
    // appended).
    let past = history_root
        .as_ref()
        .map(|root| report::history::recent(root, HISTORY_SHOWN))
        .unwrap_or_default();
    // Every output below is rendered from this one redacted report.
    let report = report::redacted(&report);
    if let Some(root) = &history_root
        && let Err(e) = report::history::append(root, &report)
    {
        tracing::warn!("cannot append to .devops-agent/history.jsonl: {e}");
    }
    let color = cli
        .global
        .color_for(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let render = |format: Format| match format {
        Format::Json => Some(report::render_json(&report)),
        Format::Human => Some(report::render_human(&report, false)),
        Format::Junit => Some(report::render_junit(&report)),
        Format::Markdown => Some(report::render_markdown(&report)),
        Format::Github => Some(report::render_github(&report)),
        Format::Html => Some(report::render_html(&report, &past)),
        // `auto` is decided before the run ([`crate::cli::GlobalArgs::resolve_format`]).
        Format::Jsonl | Format::Auto => None,
    };
    if cli.global.format == Format::Github || outputs.iter().any(|(f, _)| *f == Format::Github) {
        append_step_summary(&report::render_markdown(&report));
    }
    let stdout = if cli.global.format == Format::Human {
        report::try_write_stdout(&report::render_human(&report, color))
    } else if let Some(text) = render(cli.global.format) {
        report::try_write_stdout(&text)
    } else {
        Ok(())
    };
    // A reader that closed the pipe (`| head`) chose to stop reading; any other failure (a full
    // disk) lost the report, which the exit code must say.
    let mut lost = match stdout {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            tracing::error!("cannot write the report to stdout: {e}");
            true
        }
        _ => false,
    };
    for (format, path) in outputs {
        if let Some(text) = render(*format)
            && let Err(e) = report::write_file(path, &text)
        {
            tracing::error!("cannot write {}: {e}", path.display());
            lost = true;
        }
    }
    if lost && !record.ending.interrupted() {
        code = exit::USAGE_OR_CONFIG;
    }
    sink.emit(&Event::ValidationComplete {
        story: record.story.clone(),
        result: match report.sprint_validation.validation_status {
            report::ValidationStatus::Passed => "passed",
            report::ValidationStatus::Failed => "failed",
            report::ValidationStatus::Pending => "pending",
        }
        .to_owned(),
        deployment_ready: report.sprint_validation.deployment_ready,
        exit_code: code,
        blocking_issues: report.sprint_validation.blocking_issues.clone(),
        duration_ms: report.meta.duration_ms,
    });
    let _ = std::io::stdout().flush();
    code
}

/// GitHub Actions shows `$GITHUB_STEP_SUMMARY` on the run's page.
fn append_step_summary(markdown: &str) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return;
    };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(crate::redact::current().replace_known(markdown).as_bytes()));
    if let Err(e) = written {
        tracing::warn!("cannot append to $GITHUB_STEP_SUMMARY: {e}");
    }
}

/// The run error of a configuration that could not be loaded, with its file and line.
pub(super) fn config_run_error(e: &ConfigError) -> RunError {
    RunError {
        message: e.message.clone(),
        file: Some(e.path.display().to_string()),
        line: e.line,
        column: e.column,
    }
}
