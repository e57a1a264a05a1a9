//! One run of the command line: parse, load the project, run the gates under a deadline and
//! signal handling, and write the outputs.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser};

use crate::check::{GateId, GateResult};
use crate::cli::{Cli, Command, Format, PortsAction};
use crate::exit;
use crate::gates::{self, GateCtx};
use crate::process::{CancelReason, Interrupt, Processes, Signals};
use crate::project::{ConfigError, Project};
use crate::report::{self, Event, EventSink, RunError, RunRecord};

/// Entry point of the binary.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return ExitCode::from(usage_error(&e)),
    };
    init_logging(&cli);
    match &cli.command {
        Command::Schema => {
            report::write_stdout(&report::schema_json());
            ExitCode::SUCCESS
        }
        Command::Man => {
            let mut out = Vec::new();
            if let Err(e) = clap_mangen::Man::new(Cli::command()).render(&mut out) {
                tracing::error!("cannot render the man page: {e}");
                return ExitCode::from(exit::USAGE_OR_CONFIG);
            }
            report::write_stdout(&String::from_utf8_lossy(&out));
            ExitCode::SUCCESS
        }
        Command::Init { force } => ExitCode::from(init(&cli, *force)),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "devops-agent", &mut out);
            report::write_stdout(&String::from_utf8_lossy(&out));
            ExitCode::SUCCESS
        }
        Command::Validate { .. }
        | Command::Ports { .. }
        | Command::Deps
        | Command::Build
        | Command::Startup { .. }
        | Command::Integration { .. } => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!("cannot start the async runtime: {e}");
                    return ExitCode::from(exit::USAGE_OR_CONFIG);
                }
            };
            let code = runtime.block_on(execute(&cli));
            // The report is written. Blocking work still running (a cancelled walk finishing
            // its current file) must not keep the process alive: dropping the runtime would
            // wait for it.
            runtime.shutdown_timeout(Duration::from_millis(100));
            ExitCode::from(code)
        }
    }
}

/// Bad flags: clap's message on stderr, and still one JSON document on stdout so a program
/// parsing it learns what went wrong. `--help` and `--version` print as usual.
fn usage_error(e: &clap::Error) -> u8 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                exit::USAGE_OR_CONFIG
            } else {
                exit::READY
            }
        }
        _ => {
            let _ = e.print();
            let message = e
                .to_string()
                .lines()
                .next()
                .unwrap_or("invalid usage")
                .trim_start_matches("error: ")
                .to_owned();
            let record = RunRecord {
                command: "usage".to_owned(),
                timestamp: report::now_rfc3339(),
                project: std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default(),
                errors: vec![RunError {
                    message,
                    file: None,
                    line: None,
                    column: None,
                }],
                config_error: true,
                ..RunRecord::default()
            };
            report::write_stdout(&report::render_json(&report::assemble(&record)));
            exit::USAGE_OR_CONFIG
        }
    }
}

fn init_logging(cli: &Cli) {
    let level = if cli.global.quiet {
        "error"
    } else {
        match cli.global.verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("DEVOPS_AGENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(report::RedactingStderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// The gates a command runs, in order.
fn planned(command: &Command) -> Vec<GateId> {
    match command {
        Command::Validate { selection, .. } => GateId::ALL
            .iter()
            .copied()
            .filter(|g| {
                selection.gates.is_empty() || selection.gates.iter().any(|s| s == g.as_str())
            })
            .filter(|g| !selection.skip.iter().any(|s| s == g.as_str()))
            .collect(),
        Command::Ports { .. } => vec![GateId::Ports],
        Command::Deps => vec![GateId::Deps],
        Command::Build => vec![GateId::Build],
        Command::Startup { .. } => vec![GateId::Startup],
        Command::Integration { .. } => vec![GateId::Integration],
        Command::Schema | Command::Completions { .. } | Command::Init { .. } | Command::Man => {
            Vec::new()
        }
    }
}

/// `init`: write the configuration and print what was written as one JSON object.
fn init(cli: &Cli, force: bool) -> u8 {
    confine(cli);
    let outcome = Project::load(&cli.global.project, cli.global.config.as_deref())
        .map_err(|e| e.to_string())
        .and_then(|project| crate::init::write(&project, force).map_err(|e| e.to_string()));
    match outcome {
        Ok(written) => {
            let mut text = serde_json::to_string_pretty(&written).unwrap_or_default();
            text.push('\n');
            report::write_stdout(&text);
            exit::READY
        }
        Err(message) => {
            tracing::error!("{message}");
            let mut text = serde_json::to_string_pretty(&serde_json::json!({ "error": message }))
                .unwrap_or_default();
            text.push('\n');
            report::write_stdout(&text);
            exit::USAGE_OR_CONFIG
        }
    }
}

/// Every file read from here on must be inside the project, the `--config` file or the state
/// directory ([`crate::fsread`]).
fn confine(cli: &Cli) {
    crate::fsread::confine_to(&cli.global.project);
    if let Some(config) = &cli.global.config {
        crate::fsread::allow(config);
    }
    crate::fsread::allow(&gates::ports::state_dir());
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Validate { .. } => "validate",
        Command::Deps => "deps",
        Command::Build => "build",
        Command::Startup { .. } => "startup",
        Command::Integration { .. } => "integration",
        Command::Ports { action: None } => "ports",
        Command::Ports {
            action: Some(PortsAction::Allocate),
        } => "ports allocate",
        Command::Schema => "schema",
        Command::Completions { .. } => "completions",
        Command::Init { .. } => "init",
        Command::Man => "man",
    }
}

/// `--output [FORMAT=]FILE` entries, resolved.
fn outputs(cli: &Cli) -> Result<Vec<(Format, PathBuf)>, String> {
    use clap::ValueEnum;
    cli.global
        .output
        .iter()
        .map(|spec| match spec.split_once('=') {
            Some((name, file)) if Format::from_str(name, true).is_ok() => Ok((
                Format::from_str(name, true).unwrap_or(cli.global.format),
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
            _ => Ok((cli.global.format, PathBuf::from(spec))),
        })
        .collect()
}

/// Make sure a report or events file can be written before any gate runs: its missing parent
/// directories are created, and a path that cannot be opened for writing is a usage error now
/// rather than a lost artifact after a long run.
fn prepare_output(path: &std::path::Path) -> Result<(), String> {
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

async fn execute(cli: &Cli) -> u8 {
    let started = Instant::now();
    // Before anything else: a signal during loading must still end in a report.
    let mut signals = Signals::install();
    let story = match &cli.command {
        Command::Validate { story_id, .. } => Some(story_id.clone()),
        _ => None,
    };
    let mut record = RunRecord {
        command: command_name(&cli.command).to_owned(),
        story: story.clone(),
        project: std::path::absolute(&cli.global.project)
            .unwrap_or_else(|_| cli.global.project.clone())
            .display()
            .to_string(),
        timestamp: report::now_rfc3339(),
        planned: planned(&cli.command)
            .into_iter()
            .map(GateId::as_str)
            .collect(),
        ..RunRecord::default()
    };

    let mut sink = EventSink::new();
    let outputs = match outputs(cli) {
        Ok(o) => o,
        Err(message) => return finish_with_error(record, &sink, cli, &[], message, started),
    };
    for (_, path) in &outputs {
        if let Err(message) = prepare_output(path) {
            return finish_with_error(record, &sink, cli, &[], message, started);
        }
    }
    let mut event_files: Vec<PathBuf> = cli.global.events.iter().cloned().collect();
    event_files.extend(
        outputs
            .iter()
            .filter(|(f, _)| *f == Format::Jsonl)
            .map(|(_, p)| p.clone()),
    );
    for path in &event_files {
        if let Err(e) = prepare_output(path)
            .map_err(std::io::Error::other)
            .and_then(|()| sink.add_file(path))
        {
            let message = format!("cannot write events to {}: {e}", path.display());
            return finish_with_error(record, &sink, cli, &outputs, message, started);
        }
    }
    if cli.global.format == Format::Jsonl {
        sink.add_stdout();
    }
    sink.show_progress(!cli.global.quiet);
    sink.emit(&Event::DeploymentValidation {
        story: story.clone(),
        status: "validating".to_owned(),
        command: record.command.clone(),
        project: record.project.clone(),
    });

    if let Err(message) = check_selection(&cli.command) {
        return finish_with_error(record, &sink, cli, &outputs, message, started);
    }
    confine(cli);
    let mut project = match Project::load(&cli.global.project, cli.global.config.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            record.errors.push(config_run_error(&e));
            record.config_error = true;
            tracing::error!("{e}");
            return finish(record, &sink, cli, &outputs, started);
        }
    };
    // From here on every output also knows the project's own secrets (.env, config).
    crate::redact::install(project.redactor());
    record.project = project.root.display().to_string();
    record.config = project
        .config_file
        .as_ref()
        .map(|(p, _)| p.display().to_string());

    if matches!(
        cli.command,
        Command::Ports {
            action: Some(PortsAction::Allocate)
        }
    ) {
        let decls = gates::ports::collect(&project);
        match gates::ports::allocate(&project, decls, &gates::ports::state_dir()) {
            Ok((allocations, env_path)) => {
                sink.emit(&Event::PortsAllocated {
                    ports: allocations
                        .iter()
                        .map(|a| (a.variable.clone(), a.port))
                        .collect(),
                    env_file: project.relative(&env_path),
                });
                for a in &allocations {
                    tracing::info!("{} = {} ({})", a.variable, a.port, a.service);
                }
                project.env = crate::project::Env::load(&project.root);
            }
            Err(e) => {
                record.errors.push(RunError {
                    message: format!("ports allocate: {e}"),
                    file: None,
                    line: None,
                    column: None,
                });
                record.config_error = true;
                return finish(record, &sink, cli, &outputs, started);
            }
        }
    }

    Processes::become_subreaper();
    let mut ctx = GateCtx::new(project, cli.global.timeout);
    let keep_going = match &cli.command {
        Command::Validate {
            selection, remote, ..
        } => {
            ctx.skip = skipped_checks(selection);
            ctx.env = selection.env;
            ctx.remote = remote.clone();
            selection.keep_going
        }
        Command::Integration { remote, env } => {
            ctx.remote = remote.clone();
            ctx.env = *env;
            false
        }
        Command::Startup { env } => {
            ctx.env = *env;
            false
        }
        _ => false,
    };
    // The startup gate leaves the app running when integration will probe it locally.
    ctx.keep_live = planned(&cli.command).contains(&GateId::Integration)
        && ctx.remote.base_url.is_none()
        && ctx.remote.frontend_url.is_none()
        && ctx.remote.backend_url.is_none();
    let mut results: Vec<GateResult> = Vec::new();
    let outcome = {
        let run_all = async {
            let plan = planned(&cli.command);
            let mut blocked_gates: Vec<(GateId, &str)> = Vec::new();
            // The static gates share nothing: run them together.
            if plan.contains(&GateId::Ports) && plan.contains(&GateId::Deps) {
                let (ports, deps) = tokio::join!(
                    gates::ports::run(&ctx, &sink),
                    gates::deps::run(&ctx, &sink)
                );
                results.push(ports);
                results.push(deps);
            }
            for gate in plan {
                if results.iter().any(|r| r.id == gate) {
                    continue;
                }
                if ctx.processes.cancelled().is_some() {
                    // The rest are reported as cancelled before they started.
                    break;
                }
                let blocked = gate.precondition().and_then(|(before, reason)| {
                    let failed = results
                        .iter()
                        .find(|r| r.id == before)
                        .is_some_and(|r| r.status().is_blocking());
                    // A gate skipped for its own precondition passes the skip on.
                    let inherited = blocked_gates.iter().find(|(g, _)| *g == before);
                    match (inherited, failed && !keep_going) {
                        (Some((_, why)), _) => Some(*why),
                        (None, true) => Some(reason),
                        (None, false) => None,
                    }
                });
                if let Some(why) = blocked {
                    blocked_gates.push((gate, why));
                }
                let result = match (blocked, gate) {
                    (Some(reason), _) => skipped_gate(gate, reason, &sink),
                    (None, GateId::Ports) => gates::ports::run(&ctx, &sink).await,
                    (None, GateId::Deps) => gates::deps::run(&ctx, &sink).await,
                    (None, GateId::Build) => gates::build::run(&ctx, &sink).await,
                    (None, GateId::Startup) => gates::startup::run(&ctx, &sink).await,
                    (None, GateId::Integration) => gates::integration::run(&ctx, &sink).await,
                };
                results.push(result);
            }
        };
        tokio::pin!(run_all);
        let outcome = tokio::select! {
            () = &mut run_all => Outcome::Completed,
            signal = signals.recv() => Outcome::Interrupted(signal),
            () = tokio::time::sleep(cli.global.timeout) => Outcome::TimedOut,
        };
        if !matches!(outcome, Outcome::Completed) {
            // Work the tool does itself stops at its next check; the gates stop their own
            // commands and record how they ended; if they cannot within the grace period,
            // every process group is stopped here.
            crate::cancel::request();
            ctx.processes.cancel(match outcome {
                Outcome::Interrupted(signal) => CancelReason::Interrupted(signal),
                Outcome::Completed | Outcome::TimedOut => CancelReason::Deadline,
            });
            let wait = ctx.grace() + Duration::from_secs(2);
            if tokio::time::timeout(wait, &mut run_all).await.is_err() {
                ctx.processes.stop_all(ctx.grace()).await;
            }
        }
        outcome
    };
    // Whatever happened, nothing started for integration outlives the run.
    ctx.stop_live().await;
    let strays = ctx.processes.shutdown(ctx.grace()).await;
    if !strays.is_empty() {
        tracing::warn!(
            "stopped {} process(es) no command claimed: {}",
            strays.len(),
            crate::process::ProcInfo::list(&strays)
        );
    }
    let cut_short = match outcome {
        Outcome::Interrupted(signal) => Some(format!("interrupted by {signal}")),
        Outcome::TimedOut => Some("the run's --timeout passed".to_owned()),
        Outcome::Completed => None,
    };
    if let Some(why) = cut_short {
        // Every planned gate is in the partial report: what ran, and the rest as cancelled.
        gates::cancelled::complete(&mut results, &planned(&cli.command), &sink, &why);
    }
    for gate in &mut results {
        for check in &mut gate.checks {
            if ctx.skip.contains(&check.id) {
                let reason = "skipped with --skip".to_owned();
                check.status = crate::check::Status::Skipped {
                    reason: reason.clone(),
                };
                check.message = reason;
                check.findings.clear();
            }
        }
    }
    record.gates = results;
    record.facts = ctx.facts();
    match outcome {
        Outcome::Completed => {}
        Outcome::Interrupted(signal) => {
            record.interrupted = true;
            record.interrupted_by = Some(signal);
        }
        Outcome::TimedOut => {
            record.errors.push(RunError {
                message: format!(
                    "the run exceeded --timeout {}",
                    humantime::format_duration(cli.global.timeout)
                ),
                file: None,
                line: None,
                column: None,
            });
            record.config_error = true;
        }
    }
    finish(record, &sink, cli, &outputs, started)
}

/// Unknown names in `--gates` / `--skip` are usage errors: a typo must not silently run (or
/// skip) something else.
fn check_selection(command: &Command) -> Result<(), String> {
    let Command::Validate { selection, .. } = command else {
        return Ok(());
    };
    let gates: Vec<&str> = GateId::ALL.iter().map(|g| g.as_str()).collect();
    for name in &selection.gates {
        if GateId::parse(name).is_none() {
            return Err(format!(
                "--gates: unknown gate `{name}` (one of {})",
                gates.join(", ")
            ));
        }
    }
    for name in &selection.skip {
        if GateId::parse(name).is_none() && crate::check::CheckId::matching(name).is_empty() {
            return Err(format!(
                "--skip: `{name}` is neither a gate ({}) nor a check id",
                gates.join(", ")
            ));
        }
    }
    Ok(())
}

/// Checks excluded by `--skip` (`--env` is the startup gate's own business: it reports the
/// mode it did not run as "not selected").
fn skipped_checks(
    selection: &crate::cli::Selection,
) -> std::collections::BTreeSet<crate::check::CheckId> {
    use crate::check::CheckId;
    let skip: std::collections::BTreeSet<CheckId> = selection
        .skip
        .iter()
        .flat_map(|name| {
            let mut ids = CheckId::matching(name);
            if let Some(gate) = GateId::parse(name) {
                ids.extend(gate.checks());
            }
            ids
        })
        .collect();
    skip
}

/// A gate not run because one it depends on failed: every check skipped with the reason.
fn skipped_gate(gate: GateId, reason: &str, sink: &EventSink) -> GateResult {
    sink.gate_started(gate);
    let checks = gate
        .checks()
        .into_iter()
        .map(|id| {
            let check = crate::check::CheckResult::new(
                id,
                crate::check::Status::Skipped {
                    reason: reason.to_owned(),
                },
                reason,
            );
            sink.check_completed(gate, &check);
            check
        })
        .collect();
    let result = GateResult {
        id: gate,
        checks,
        duration: Duration::ZERO,
        ports: Vec::new(),
    };
    sink.gate_completed(&result);
    result
}

/// GitHub Actions shows `$GITHUB_STEP_SUMMARY` on the run's page.
fn append_step_summary(markdown: &str) {
    use std::io::Write as _;
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

#[derive(Clone, Copy)]
enum Outcome {
    Completed,
    Interrupted(Interrupt),
    TimedOut,
}

fn config_run_error(e: &ConfigError) -> RunError {
    RunError {
        message: e.message.clone(),
        file: Some(e.path.display().to_string()),
        line: e.line,
        column: e.column,
    }
}

fn finish_with_error(
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
fn finish(
    mut record: RunRecord,
    sink: &EventSink,
    cli: &Cli,
    outputs: &[(Format, PathBuf)],
    started: Instant,
) -> u8 {
    record.ports = record.gates.iter().flat_map(|g| g.ports.clone()).collect();
    record.duration = started.elapsed();
    let mut report = report::assemble(&record);
    let history_root = match &cli.command {
        Command::Validate { selection, .. } if !selection.no_history && !record.config_error => {
            Some(std::path::PathBuf::from(&record.project))
        }
        _ => None,
    };
    if let Some(root) = &history_root
        && let Some(previous) = report::history::previous(root)
    {
        report::history::compare(&mut report, &previous);
    }
    // Every output below is rendered from this one redacted report.
    let report = report::redacted(&report);
    if let Some(root) = &history_root
        && let Err(e) = report::history::append(root, &report)
    {
        tracing::warn!("cannot append to .devops-agent/history.jsonl: {e}");
    }
    let mut code = report::exit_code(&report);
    // Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org).
    let color = std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let render = |format: Format| match format {
        Format::Json => Some(report::render_json(&report)),
        Format::Human => Some(report::render_human(&report, false)),
        Format::Junit => Some(report::render_junit(&report)),
        Format::Markdown => Some(report::render_markdown(&report)),
        Format::Github => Some(report::render_github(&report)),
        Format::Jsonl => None,
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
    if lost && !record.interrupted {
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
