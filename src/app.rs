//! One run of the command line: parse, plan, load the project, run the gates, write the
//! outputs. Each step lives in its own module: [`plan`] (what runs), [`orchestrate`] (gate
//! order, deadline, signals), [`outputs`] (report, formats, files, history) and [`commands`]
//! (the commands that run no gate).

mod commands;
mod completions;
mod man;
mod orchestrate;
mod outputs;
mod plan;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;

use crate::cli::{Cli, Command, Format, PortsAction};
use crate::gates::GateCtx;
use crate::process::{Processes, Signals};
use crate::project::Project;
use crate::report::{self, Event, EventSink, RunError, RunRecord};

/// Entry point of the binary.
pub fn run() -> ExitCode {
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return ExitCode::from(commands::usage_error(&e)),
    };
    cli.global.resolve_format();
    if matches!(
        cli.command,
        Command::Validate { .. }
            | Command::Ports { .. }
            | Command::Deps
            | Command::Build
            | Command::Startup { .. }
            | Command::Integration { .. }
    ) {
        report::progress::init(
            cli.global.quiet,
            cli.global.verbose > 0,
            cli.global.format == Format::Human
                && std::io::IsTerminal::is_terminal(&std::io::stdout()),
        );
    }
    commands::init_logging(&cli);
    let code = match &cli.command {
        Command::Schema => commands::schema(),
        Command::List => commands::list(cli.global.format),
        Command::Explain { check } => commands::explain(check, cli.global.format),
        Command::Man { dir, command } => commands::man(dir.as_deref(), command),
        Command::Init { force } => commands::init(&cli, *force),
        Command::Completions { shell } => commands::completions(*shell),
        Command::Mcp { roots } => crate::mcp::serve(roots),
        Command::Validate { .. }
        | Command::Ports { .. }
        | Command::Deps
        | Command::Build
        | Command::Startup { .. }
        | Command::Integration { .. } => orchestrate::block_on(execute(&cli)),
    };
    ExitCode::from(code)
}

/// A command that runs gates: plan, load, run, report.
async fn execute(cli: &Cli) -> u8 {
    let started = Instant::now();
    // Before anything else: a signal during loading must still end in a report.
    let mut signals = Signals::install();
    let story = match &cli.command {
        Command::Validate { story_id, .. } => Some(story_id.clone()),
        _ => None,
    };
    let plan = plan::plan(&cli.command);
    let mut record = RunRecord {
        command: commands::name(&cli.command).to_owned(),
        story: story.clone(),
        project: std::path::absolute(&cli.global.project)
            .unwrap_or_else(|_| cli.global.project.clone())
            .display()
            .to_string(),
        timestamp: report::now_rfc3339(),
        fail_on_warning: cli.global.fail_on == crate::cli::FailOn::Warning,
        planned: plan
            .as_ref()
            .map(|p| p.gates.iter().map(|g| g.as_str()).collect())
            .unwrap_or_default(),
        ..RunRecord::default()
    };

    let mut sink = EventSink::new();
    let outputs = match outputs::outputs(cli) {
        Ok(o) => o,
        Err(message) => {
            return outputs::finish_with_error(record, &sink, cli, &[], message, started);
        }
    };
    for (_, path) in &outputs {
        if let Err(message) = outputs::prepare(path) {
            return outputs::finish_with_error(record, &sink, cli, &[], message, started);
        }
    }
    if let Err(message) = outputs::open_events(cli, &outputs, &mut sink) {
        return outputs::finish_with_error(record, &sink, cli, &outputs, message, started);
    }
    sink.emit(&Event::DeploymentValidation {
        story,
        status: "validating".to_owned(),
        command: record.command.clone(),
        project: record.project.clone(),
    });

    let plan = match plan {
        Ok(plan) => plan,
        Err(e) => {
            return outputs::finish_with_error(
                record,
                &sink,
                cli,
                &outputs,
                e.to_string(),
                started,
            );
        }
    };
    commands::confine(cli);
    let mut project = match Project::load(&cli.global.project, cli.global.config.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            record.errors.push(outputs::config_run_error(&e));
            record.config_error = true;
            tracing::error!("{e}");
            return outputs::finish(record, &sink, cli, &outputs, started);
        }
    };
    // From here on every output also knows the project's own secrets (.env, config).
    crate::redact::install(project.redactor());
    record.project = project.root.display().to_string();
    record.config = project
        .config_file
        .as_ref()
        .map(|(p, _)| p.display().to_string());
    if let Command::Ports {
        action: Some(PortsAction::Allocate),
    } = cli.command
        && let Err(e) = commands::allocate_ports(&mut project, &sink)
    {
        record.errors.push(e);
        record.config_error = true;
        return outputs::finish(record, &sink, cli, &outputs, started);
    }

    let baseline = match crate::baseline::Baseline::load(
        &project.root,
        project.config.accept.clone(),
        project.config_file.as_ref().map(|(p, _)| p.as_path()),
    ) {
        Ok(b) => b,
        Err(e) => {
            record.errors.push(outputs::config_run_error(&e));
            record.config_error = true;
            tracing::error!("{e}");
            return outputs::finish(record, &sink, cli, &outputs, started);
        }
    };

    Processes::become_subreaper();
    let mut ctx = GateCtx::new(project, cli.global.timeout);
    ctx.baseline = Arc::new(baseline);
    (ctx.remote, ctx.env) = plan::target(&cli.command);
    // The startup gate leaves the app running when integration will probe it locally.
    ctx.keep_live = plan.gates.contains(&crate::check::GateId::Integration)
        && ctx.remote.base_url.is_none()
        && ctx.remote.frontend_url.is_none()
        && ctx.remote.backend_url.is_none();
    ctx.plan = Arc::new(plan);
    let (gates, ending) = orchestrate::run_gates(&ctx, &sink, &mut signals).await;
    record.gates = gates;
    record.facts = ctx.facts();
    record.ending = ending;
    if let report::RunEnding::DeadlineReached(timeout) = ending {
        record.errors.push(RunError {
            message: format!(
                "the run reached its --timeout {} before every gate finished",
                humantime::format_duration(timeout)
            ),
            file: None,
            line: None,
            column: None,
        });
    }
    outputs::finish(record, &sink, cli, &outputs, started)
}
