//! The commands that run no gate (`schema`, `man`, `completions`, `init`), the `ports allocate`
//! step that runs before the ports gate, and the usage-error document.

use std::fmt::Write as _;

use crate::cli::{Cli, Command, Format, PortsAction};
use crate::exit;
use crate::project::{Env, Project};
use crate::report::{self, Event, EventSink, RunError, RunRecord};

/// `schema`: the report's JSON Schema.
pub(super) fn schema() -> u8 {
    report::write_stdout(&report::schema_json());
    exit::READY
}

/// `list`: every check, and the framework catalogue, as tables or JSON.
pub(super) fn list(format: Format) -> u8 {
    let all = crate::explain::all();
    let frameworks = crate::framework::rows::catalogue();
    if format == Format::Human {
        let width = all.iter().map(|e| e.id.len()).max().unwrap_or(0);
        let mut text = String::from("Checks:\n");
        for e in &all {
            let _ = writeln!(text, "  {:width$}  {}", e.id, e.title);
        }
        text.push_str("\nFrameworks recognised (what is known of each: `list --format json`):\n");
        let width = frameworks.iter().map(|f| f.id.len()).max().unwrap_or(0);
        for f in &frameworks {
            let _ = writeln!(
                text,
                "  {:width$}  {} ({}, {})",
                f.id, f.name, f.ecosystem, f.role
            );
        }
        text.push_str(
            "\n`devops-agent explain CHECK_ID` tells what a check verifies and how to fix it.\n",
        );
        report::write_stdout(&text);
    } else {
        let rows: Vec<_> = all
            .iter()
            .map(|e| {
                serde_json::json!({
                    "id": e.id, "gate": e.gate, "title": e.title, "verifies": e.verifies,
                })
            })
            .collect();
        write_json(&serde_json::json!({ "checks": rows, "frameworks": frameworks }));
    }
    exit::READY
}

/// `explain CHECK_ID`: one check, as text or JSON. An unknown id is a usage error.
pub(super) fn explain(name: &str, format: Format) -> u8 {
    let Some(e) = crate::explain::find(name) else {
        let message = format!("unknown check `{name}`: `devops-agent list` shows every check id");
        tracing::error!("{message}");
        if format != Format::Human {
            write_json(&serde_json::json!({ "error": message }));
        }
        return exit::USAGE_OR_CONFIG;
    };
    if format == Format::Human {
        let mut text = format!(
            "{} ({} gate)\n{}\n\n{}\n",
            e.id, e.gate, e.title, e.verifies
        );
        let sections: [(&str, &[&str]); 3] = [
            ("Looks at", e.looks_at),
            ("Configuration", e.config),
            ("Typical failures", e.fixes),
        ];
        for (heading, items) in sections {
            if items.is_empty() {
                continue;
            }
            let _ = writeln!(text, "\n{heading}:");
            for item in items {
                let _ = writeln!(text, "  • {item}");
            }
        }
        report::write_stdout(&text);
    } else {
        write_json(&e);
    }
    exit::READY
}

fn write_json(value: &impl serde::Serialize) {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    report::write_stdout(&text);
}

/// `man [COMMAND…]`: one page on stdout; `man --dir DIR`: every page into DIR, and the list of
/// files written as JSON.
pub(super) fn man(dir: Option<&std::path::Path>, command: &[String]) -> u8 {
    let pages = match super::man::pages() {
        Ok(pages) => pages,
        Err(e) => {
            tracing::error!("cannot render the man pages: {e}");
            return exit::USAGE_OR_CONFIG;
        }
    };
    if let Some(dir) = dir {
        let mut written = Vec::new();
        for page in &pages {
            let path = dir.join(format!("{}.1", page.name));
            if let Err(e) =
                std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, &page.roff))
            {
                tracing::error!("cannot write {}: {e}", path.display());
                return exit::USAGE_OR_CONFIG;
            }
            written.push(path.display().to_string());
        }
        write_json(&serde_json::json!({ "written": written }));
        return exit::READY;
    }
    let Some(page) = pages.iter().find(|p| p.path == command) else {
        let known: Vec<String> = pages.iter().skip(1).map(|p| p.path.join(" ")).collect();
        tracing::error!(
            "no man page for `{}`; pages: {}",
            command.join(" "),
            known.join(", ")
        );
        return exit::USAGE_OR_CONFIG;
    };
    report::write_stdout(&page.roff);
    exit::READY
}

/// `completions SHELL`.
pub(super) fn completions(shell: clap_complete::Shell) -> u8 {
    report::write_stdout(&super::completions::script(shell));
    exit::READY
}

/// `init`: write the configuration and print what was written as one JSON object.
pub(super) fn init(cli: &Cli, force: bool) -> u8 {
    confine(cli);
    let outcome = Project::load(&cli.global.project, cli.global.config.as_deref())
        .map_err(|e| e.to_string())
        .and_then(|project| {
            crate::init::write(&project, force).map_err(|e| crate::error_chain::chain(&e))
        });
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

/// `ports allocate`: give every port variable a free, reserved port in the project's `.env`,
/// then reload the environment so the ports gate checks the new values.
pub(super) fn allocate_ports(project: &mut Project, sink: &EventSink) -> Result<(), RunError> {
    let decls = crate::gates::ports::collect(project);
    let (allocations, env_path) =
        crate::gates::ports::allocate(project, decls, &crate::gates::ports::state_dir()).map_err(
            |e| RunError {
                message: format!("ports allocate: {}", crate::error_chain::chain(&e)),
                file: None,
                line: None,
                column: None,
            },
        )?;
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
    project.env = Env::load(&project.root);
    Ok(())
}

/// Bad flags: clap's message on stderr and exit 2. When stdout is not a terminal (a program is
/// reading it) it also gets the one JSON document with the error, so the program learns what
/// went wrong; a person at a terminal sees only clap's message. `--help` and `--version` print
/// as usual.
pub(super) fn usage_error(e: &clap::Error) -> u8 {
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
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                return exit::USAGE_OR_CONFIG;
            }
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

/// Every file read from here on must be inside the project, the `--config` file or the state
/// directory ([`crate::fsread`]).
pub(super) fn confine(cli: &Cli) {
    crate::fsread::confine_to(&cli.global.project);
    if let Some(config) = &cli.global.config {
        crate::fsread::allow(config);
    }
    crate::fsread::allow(&crate::gates::ports::state_dir());
}

/// The command's name in the report (`meta.command`).
pub(super) fn name(command: &Command) -> &'static str {
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
        Command::List => "list",
        Command::Explain { .. } => "explain",
        Command::Completions { .. } => "completions",
        Command::Init { .. } => "init",
        Command::Man { .. } => "man",
        Command::Mcp { .. } => "mcp",
    }
}

/// Logs on stderr, redacted: `-q` errors only, `-v`/`-vv` more, `DEVOPS_AGENT_LOG` a filter.
pub(super) fn init_logging(cli: &Cli) {
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
        .with_ansi(
            cli.global
                .color_for(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with_target(false)
        .try_init();
}
