//! The command line: subcommands and the flags every command shares.
#![expect(
    clippy::doc_markdown,
    reason = "these doc comments are the --help text, read in a terminal where backticks are noise"
)]

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Deployment-readiness validator: proves an application installs, builds, starts, talks to its
/// services and is configured for ports that will not collide, and says so in one report.
///
/// stdout carries exactly one document: the human report at a terminal, JSON in a pipe or file
/// (`--format` to choose); progress and logs go to stderr.
///
/// Exit codes, in order of precedence: 130 interrupted (SIGINT/SIGTERM), 129 SIGHUP; 1 not
/// ready (a check failed — or warned, with --fail-on warning — also when others errored or --timeout was reached: a step still
/// running at the deadline has failed); 2 no verdict (usage or configuration error, a check in
/// error, the deadline reached before anything failed); 0 ready.
#[derive(Debug, Parser)]
#[command(name = "devops-agent", version, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Project directory to validate.
    #[arg(long, global = true, value_name = "DIR", default_value = ".")]
    pub project: PathBuf,

    /// Configuration file [default: DIR/devops-agent.toml, optional].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Format of the document printed on stdout (`auto`: human on a terminal, json otherwise;
    /// `--format json` always prints JSON).
    #[arg(long, global = true, value_enum, default_value_t = Format::Auto)]
    pub format: Format,

    /// Whether `--format` was `auto` (set when parsing; `--output FILE` without a format then
    /// writes JSON: a file is not a terminal).
    #[arg(skip)]
    pub format_was_auto: bool,

    /// Colour in the human report and the logs: `auto` on a terminal unless NO_COLOR is set.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorMode::Auto)]
    pub color: ColorMode,

    /// Lowest check status that makes the run not ready: `failed` (default) or `warning` (a
    /// warning then blocks deployment and exits 1 too).
    #[arg(long, global = true, value_enum, value_name = "STATUS", default_value_t = FailOn::Failed)]
    pub fail_on: FailOn,

    /// Also write the report to FILE, in FORMAT or else in --format (repeatable:
    /// `--output json=report.json --output human=report.txt`).
    #[arg(long, global = true, value_name = "[FORMAT=]FILE")]
    pub output: Vec<String>,

    /// Write the JSONL event stream to FILE as it happens.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "DEVOPS_AGENT_EVENTS",
        hide_env_values = true
    )]
    pub events: Option<PathBuf>,

    /// Deadline for the whole run, e.g. `90s`, `10m`.
    #[arg(long, global = true, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Print nothing on stderr but errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// More log detail on stderr (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl GlobalArgs {
    /// Decide `auto` once, before anything is printed: human when stdout is a terminal, json
    /// otherwise.
    pub fn resolve_format(&mut self) {
        if self.format == Format::Auto {
            self.format_was_auto = true;
            self.format = if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                Format::Human
            } else {
                Format::Json
            };
        }
    }

    /// Whether output written to a stream that is (or is not) a terminal gets ANSI colour.
    pub fn color_for(&self, is_terminal: bool) -> bool {
        match self.color {
            ColorMode::Always => true,
            ColorMode::Never => false,
            // https://no-color.org: a non-empty NO_COLOR turns colour off.
            ColorMode::Auto => {
                is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorMode {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always, also into pipes and files.
    Always,
    /// Never.
    Never,
}

/// `--fail-on`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    /// A check that failed (or a required check in error) blocks deployment.
    Failed,
    /// A warning blocks deployment as well.
    Warning,
}

/// Output formats of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `human` when stdout is a terminal, `json` otherwise (the default).
    Auto,
    /// One pretty-printed JSON document (the report).
    Json,
    /// The event stream, one JSON object a line; the last line (`validation_complete`) carries
    /// the verdict.
    Jsonl,
    /// A readable summary.
    Human,
    /// JUnit XML: a testsuite per gate, a testcase per check (CI test-report views).
    Junit,
    /// GitHub-flavoured markdown for pull request comments and step summaries.
    Markdown,
    /// GitHub Actions annotations (`::error file=…,line=…::`); also appends the markdown
    /// report to $GITHUB_STEP_SUMMARY when it is set.
    Github,
    /// One self-contained HTML page (inline CSS and SVG, no script, no network): verdict,
    /// run timeline, health latency, bundle sizes, port map, history trend, every check.
    Html,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every readiness gate for a story and print one report with its verdict.
    ///
    /// Gates run in order: ports (published ports come from env vars with defaults and are
    /// free), deps (declared dependencies installed, lock files valid, no conflicts), build (dev
    /// and production builds succeed within budgets), startup (the app starts in each mode,
    /// becomes ready and stops cleanly; env vars, databases, external services, health) and
    /// integration (the running frontend reaches the backend: API base, proxy, CORS, WebSocket,
    /// static assets, CDN); see `devops-agent startup --help` and `integration --help`. The
    /// report's `sprint_validation` carries the story id, `deployment_ready` and the blocking
    /// issues; the exit code is 0 only when the story is deployment ready.
    Validate {
        /// The story being validated, e.g. STORY-123.
        #[arg(value_name = "STORY_ID")]
        story_id: String,
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        remote: Remote,
    },
    /// Check port configuration: ports.env_configured and ports.no_conflicts.
    ///
    /// ports.env_configured: every published port (compose `ports:`, Kubernetes hostPort and
    /// nodePort, package.json scripts, devops-agent.toml services) comes from an environment
    /// variable with a default, like "${FRONTEND_PORT:-5173}:5173"; hard-coded ones are listed
    /// with file:line and the form to write instead. Dockerfile EXPOSE values are warnings.
    ///
    /// ports.no_conflicts: after interpolation (process env, then .env, then defaults) no two
    /// services that run together publish the same host port, and no configured port is held
    /// by a process on this machine (IPv4 or IPv6, named by pid and command from /proc).
    Ports {
        #[command(subcommand)]
        action: Option<PortsAction>,
    },
    /// Check dependencies: deps.packages_installed, deps.lockfile_valid,
    /// deps.no_version_conflicts and deps.peer_dependencies.
    ///
    /// Every manifest of the project is found (package.json with workspaces, requirements*.txt,
    /// pyproject.toml, Pipfile, Cargo.toml, go.mod; never inside node_modules or virtualenvs) and
    /// checked against what is installed where the app loads it from (node_modules, the
    /// project's virtualenv) and against its lock file (package-lock.json, npm-shrinkwrap.json,
    /// yarn.lock, pnpm-lock.yaml, poetry.lock, uv.lock, Pipfile.lock, Cargo.lock, go.sum).
    /// Installed versions must satisfy declared ranges transitively (as `npm ls` and `pip check`
    /// report), and npm peer dependencies must resolve. Nothing is installed or downloaded.
    Deps,
    /// Run the builds: build.dev_build, build.prod_build, build.no_blocking_warnings,
    /// build.bundle_size and build.assets_generated.
    ///
    /// Build commands come from devops-agent.toml, else are detected: package.json `build:dev`
    /// (or `build` with NODE_ENV=development) and `build` with NODE_ENV=production, run by the
    /// package manager its lock file names; cargo build / --release; go build; make. Each runs
    /// in its own process group with a timeout; on timeout or Ctrl-C the whole tree is stopped.
    /// Warnings are parsed from the output and counted against the budget, the output directory
    /// is measured (raw, gzip, brotli) against budgets (also size-limit and bundlesize
    /// settings), and every asset the built HTML or Vite manifest references must exist.
    Build,
    /// Start the app: startup.dev_mode, startup.prod_mode, startup.env_vars,
    /// startup.database_connections, startup.external_services and startup.health_checks.
    ///
    /// Each service (devops-agent.toml [services.*] with dev/prod commands, else package.json
    /// `dev` / `start` / `preview` scripts or npm's implicit `node server.js`, a Procfile `web:`
    /// line, a Python ASGI/WSGI app, a Cargo binary, a Go module, or the Dockerfile's
    /// ENTRYPOINT/CMD) starts in its own process group, in dependency order, with the project's virtualenv bin/ and
    /// every node_modules/.bin on PATH. Its port is passed the way its framework takes it (Vite
    /// `--port N --strictPort`, Next `-p N`, uvicorn `--port N`, gunicorn `--bind`, PORT for
    /// CRA and Node servers); a port the script pins is kept; an app listening elsewhere is
    /// found from its sockets and printed URLs and probed there, with a warning. Ready = its
    /// port accepts on 127.0.0.1 or ::1 and a health endpoint (configured, else /health,
    /// /healthz, /api/health, /ready) answers 2xx, or / answers below 500 (a redirect to a
    /// login page means the app is up); or a configured log line. Polling starts at once and
    /// pauses 2 ms growing to 5 ms (250 ms after 30 s). It must then stay up through a
    /// stability window and its health samples (p50/p95/max), which run at the same time;
    /// every service is then stopped with its whole tree and its port checked free. Required
    /// variables (config, .env.example keys used without a default, compose ${VAR:?}) must be
    /// set; database and broker URLs from the environment get a real protocol round trip;
    /// external URLs get DNS, TCP, HTTP and TLS certificate checks.
    Startup {
        /// Start the app in this mode only; the other mode's check is reported skipped ("not
        /// selected: --env dev").
        #[arg(long, value_enum, value_name = "MODE")]
        env: Option<EnvMode>,
    },
    /// Detect the stack and write a commented devops-agent.toml that validates as written.
    Init {
        /// Replace an existing devops-agent.toml.
        #[arg(long)]
        force: bool,
    },
    /// Probe a running stack: integration.frontend_backend, integration.api_proxy,
    /// integration.cors, integration.websocket, integration.static_assets and integration.cdn.
    ///
    /// Locally (default) the app is started as the startup gate starts it, probed, then
    /// stopped; with --base-url (and --frontend-url / --backend-url) a deployed environment is
    /// probed and nothing is started. The frontend's API base (VITE_API_URL, REACT_APP_API_URL,
    /// NEXT_PUBLIC_API_URL, compose environment, config) must reach the backend with the
    /// frontend's Origin; requests through the proxy (nginx.conf proxy_pass/upstream, the dev
    /// server's /api prefix) must reach it too; CORS preflights from the frontend origin must be
    /// allowed without wildcard-with-credentials or origin reflection; WebSockets must complete
    /// the 101 handshake and a round trip (ping answered by a pong; socket.io endpoints: an
    /// Engine.IO session and a Socket.IO CONNECT answered), directly and through the proxy; the
    /// served index and every asset it references must be 200 with a matching Content-Type; CDN
    /// assets must match the local build and carry cache headers.
    Integration {
        #[command(flatten)]
        remote: Remote,
        /// Locally, start the app in this mode to probe it (default: production when it has a
        /// production command, else development).
        #[arg(long, value_enum, value_name = "MODE")]
        env: Option<EnvMode>,
    },
    /// List every check: its id, gate, title and what it verifies (`--format human` for a
    /// table; any other format prints JSON).
    List,
    /// Explain one check: what it verifies, where it looks, the configuration keys that change
    /// it and how its typical failures are fixed (`--format human` for text; any other format
    /// prints JSON).
    Explain {
        /// The check id, e.g. `ports.no_conflicts`, or the part after the dot.
        #[arg(value_name = "CHECK_ID")]
        check: String,
    },
    /// Serve the same engine to agents: a Model Context Protocol server on stdin/stdout.
    ///
    /// Tools: validate, deps, build, startup, integration, ports, ports_allocate (each runs
    /// exactly what the command of that name runs and returns its JSON report, with progress
    /// notifications while it runs and MCP cancellation stopping every process as Ctrl-C
    /// does), list_checks and explain_check. Resources: devops-agent://PROJECT/report/latest and
    /// devops-agent://PROJECT/history. Only projects under an allowed root are served (and,
    /// when the client declares roots, under one of those too); one validation per project at a
    /// time.
    Mcp {
        /// Serve projects under this directory (repeatable) [default: the working directory].
        #[arg(long = "root", value_name = "DIR")]
        roots: Vec<PathBuf>,
    },
    /// Print the JSON Schema every report validates against.
    Schema,
    /// Print a man page (roff): `devops-agent man > devops-agent.1`, `devops-agent man
    /// validate` for devops-agent-validate(1), or every page into a directory with --dir.
    Man {
        /// Write every page (devops-agent.1, devops-agent-validate.1, …) into DIR and print the
        /// list of files written as JSON.
        #[arg(long, value_name = "DIR", conflicts_with = "command")]
        dir: Option<PathBuf>,
        /// The command whose page to print, e.g. `validate` or `ports allocate`.
        #[arg(value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Print a shell completion script.
    Completions {
        /// Shell to generate completions for.
        shell: clap_complete::Shell,
    },
}

/// Where the integration gate probes a deployed environment instead of starting the app.
#[derive(Debug, Clone, Default, Args)]
pub struct Remote {
    /// Probe this deployed base URL (e.g. a staging or preview deploy) instead of starting the
    /// app; the frontend and backend are both reached through it unless given separately.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The frontend's URL, when it differs from --base-url.
    #[arg(long, value_name = "URL")]
    pub frontend_url: Option<String>,
    /// The backend's URL, when it differs from --base-url.
    #[arg(long, value_name = "URL")]
    pub backend_url: Option<String>,
}

/// What `validate` runs.
#[derive(Debug, Clone, Default, Args)]
pub struct Selection {
    /// Run only these gates, in the usual order (comma-separated names: ports, deps, build,
    /// startup, integration). The others are not run and not reported.
    #[arg(long, value_delimiter = ',', value_name = "GATES")]
    pub gates: Vec<String>,

    /// Skip these checks or gates (comma-separated ids, e.g. `build.bundle_size`, or the part
    /// after the dot, e.g. `bundle_size`, or a gate name). Skipped checks are reported as
    /// `skipped`.
    #[arg(long, value_delimiter = ',', value_name = "CHECKS")]
    pub skip: Vec<String>,

    /// Start the app in this mode only: `dev` runs startup.dev_mode, `prod` runs
    /// startup.prod_mode; the other is reported skipped ("not selected: --env dev"), and
    /// integration probes the mode that ran.
    #[arg(long, value_enum, value_name = "MODE")]
    pub env: Option<EnvMode>,

    /// Run every gate even when an earlier one it depends on failed (by default a failed
    /// deps gate skips build, and a failed build skips startup).
    #[arg(long)]
    pub keep_going: bool,

    /// Do not read or append `.devops-agent/history.jsonl` (the run-to-run comparison).
    #[arg(long)]
    pub no_history: bool,
}

/// Startup modes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum EnvMode {
    /// Development: the dev server (`npm run dev`, `flask run`, …), NODE_ENV=development.
    Dev,
    /// Production: the production server (`npm start`, `vite preview`, gunicorn, …),
    /// NODE_ENV=production.
    Prod,
}

#[derive(Debug, Subcommand)]
pub enum PortsAction {
    /// Pick free ports for every port variable, reserve them machine-wide, write them to .env.
    ///
    /// For each variable (e.g. FRONTEND_PORT in "${FRONTEND_PORT:-5173}:5173") the current .env
    /// value is kept when still free, else the default, else the next free port above it, else
    /// one from allocate_range (the ports table of devops-agent.toml). Reservations live in a registry under the user's state
    /// directory ($DEVOPS_AGENT_STATE_DIR, $XDG_STATE_HOME/devops-agent or
    /// ~/.local/state/devops-agent), so two projects never get the same port. Other .env lines
    /// are left as they are. The ports checks then run on the result.
    Allocate,
}

/// Why a `--timeout`/`--*-timeout` value is refused; clap prints it after the flag's name.
#[derive(Debug, thiserror::Error)]
pub enum DurationError {
    /// Not a duration humantime reads (`5s`, `2m`, `1h 30m`); its reason is the text.
    #[error(transparent)]
    Syntax(#[from] humantime::DurationError),
    /// `0s`: every wait would end before it began.
    #[error("the timeout must be longer than zero")]
    Zero,
}

fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let d = humantime::parse_duration(text)?;
    if d.is_zero() {
        return Err(DurationError::Zero);
    }
    Ok(d)
}
