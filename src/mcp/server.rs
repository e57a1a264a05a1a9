//! The MCP server: its tools, resources and life cycle on stdio. Each gate-running tool checks
//! the project against the roots, claims it, runs the engine as a child ([`super::child`]) and
//! maps the exit code and report onto a tool result.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, JsonObject, ListResourceTemplatesResult,
    ListResourcesResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Resource, ResourceContents, ResourceTemplate, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use serde_json::{Value, json};

use super::child::{self, Outcome, Running};
use super::params::{
    CommandLine, ExplainArgs, GateArgs, IntegrationArgs, StartupArgs, Target, ValidateArgs,
};
use super::progress::{Progress, Reporter};
use super::roots::{self, Busy, Roots, RootsError};
use crate::check::GateId;
use crate::error_chain::chain;
use crate::exit;

/// URI scheme of the resources: `devops-agent://PROJECT/report/latest`, `…/history`.
const SCHEME: &str = "devops-agent://";
const LATEST: &str = "/report/latest";
const HISTORY: &str = "/history";
/// The last report a tool returned for a project, beside its history.
const LAST_REPORT: &str = ".devops-agent/last-report.json";
/// The most a resource read takes from a file (the history's most recent part).
const RESOURCE_BYTES: u64 = 4 * 1024 * 1024;
/// How long a client may take to list its roots.
const ROOTS_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutting down waits for interrupted runs to stop what they started.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(30);

/// The server's state, shared by every call.
#[derive(Clone)]
pub(crate) struct Server {
    roots: Roots,
    busy: Busy,
    running: Running,
    /// The last report per project, as returned.
    latest: Arc<Mutex<BTreeMap<PathBuf, Value>>>,
    tool_router: ToolRouter<Server>,
}

/// The report's JSON Schema, the output schema of every tool that returns a report.
fn report_schema() -> Arc<JsonObject> {
    let schema: Value =
        serde_json::from_str(&crate::report::schema_json()).unwrap_or_else(|_| json!({}));
    Arc::new(schema.as_object().cloned().unwrap_or_default())
}

fn refused(message: String) -> CallToolResult {
    tracing::warn!("refused: {message}");
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// A failure of the server itself (not of the run it was asked for), with its causes.
fn internal(err: impl std::error::Error + 'static) -> ErrorData {
    ErrorData::internal_error(chain(&err), None)
}

/// `result` with `text` as its one content block: what people (and models) read beside the
/// structured content.
fn with_text(mut result: CallToolResult, text: String) -> CallToolResult {
    result.content = vec![ContentBlock::text(text)];
    result
}

/// The checks a run of `gates` reports, for the progress total.
fn planned_checks(gates: &[GateId]) -> usize {
    gates.iter().map(|g| g.checks().len()).sum()
}

/// A few lines for people (and models): the report's summary, the blocking issues, the exit
/// code.
fn summary(report: &Value, code: Option<i32>) -> String {
    let mut text = report["summary"]
        .as_str()
        .unwrap_or("no summary")
        .to_owned();
    for issue in report["sprint_validation"]["blocking_issues"]
        .as_array()
        .into_iter()
        .flatten()
        .take(10)
    {
        let _ = write!(
            text,
            "\n- {} ({}): {}",
            issue["check"].as_str().unwrap_or("?"),
            issue["status"].as_str().unwrap_or("?"),
            issue["message"].as_str().unwrap_or("")
        );
    }
    for error in report["errors"].as_array().into_iter().flatten().take(5) {
        let _ = write!(
            text,
            "\n- error: {}",
            error["message"].as_str().unwrap_or("")
        );
    }
    if let Some(code) = code {
        let _ = write!(text, "\nexit code {code}");
    }
    text
}

/// The tool result of a run. 0 (ready) and 1 (not ready) are answers; 2 is one too when gates
/// ran (a check that could not be evaluated, the deadline) but a usage or configuration error
/// when nothing was evaluated; an interrupted run, or one that printed no report, is an error.
fn tool_result(outcome: Outcome) -> CallToolResult {
    let Outcome {
        code,
        report,
        cancelled,
    } = outcome;
    let Some(report) = report else {
        return CallToolResult::error(vec![ContentBlock::text(format!(
            "devops-agent ended ({}) without printing a report; its stderr is in the server log",
            code.map_or_else(|| "by a signal".to_owned(), |c| format!("exit code {c}"))
        ))]);
    };
    let nothing_evaluated = report["gates"].as_array().is_none_or(Vec::is_empty);
    let error = match code.and_then(|c| u8::try_from(c).ok()) {
        _ if cancelled => Some("cancelled: every process the run started was stopped".to_owned()),
        Some(exit::USAGE_OR_CONFIG) if nothing_evaluated => {
            Some("usage or configuration error".to_owned())
        }
        // Ready, not ready, or no verdict although gates ran (a check in error, the deadline):
        // each is the answer to the call.
        Some(exit::READY | exit::NOT_READY | exit::USAGE_OR_CONFIG) => None,
        Some(exit::INTERRUPTED | exit::HANGUP) => Some("interrupted".to_owned()),
        Some(other) => Some(format!("unexpected exit code {other}")),
        None => Some("devops-agent was killed by a signal".to_owned()),
    };
    let text = summary(&report, code);
    match error {
        Some(why) => with_text(
            CallToolResult::structured_error(report),
            format!("{why}\n{text}"),
        ),
        None => with_text(CallToolResult::structured(report), text),
    }
}

impl Server {
    fn new(roots: Roots) -> Server {
        Server {
            roots,
            busy: Busy::default(),
            running: Running::default(),
            latest: Arc::default(),
            tool_router: Self::tool_router(),
        }
    }

    /// The client's roots as resolved directories; empty when it declared none.
    #[expect(
        deprecated,
        reason = "roots are how a 2025-11-25 client (every client today) names its workspace"
    )]
    async fn client_roots(
        &self,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Vec<PathBuf>, RootsError> {
        let declared = ctx
            .peer
            .peer_info()
            .is_some_and(|info| info.capabilities.roots.is_some());
        if !declared {
            return Ok(Vec::new());
        }
        let listed = tokio::time::timeout(ROOTS_TIMEOUT, ctx.peer.list_roots())
            .await
            .map_err(|_| RootsError::ClientRootsTimeout)?
            .map_err(|e| RootsError::ClientRoots {
                reason: e.to_string(),
            })?;
        Ok(listed
            .roots
            .iter()
            .filter_map(|r| roots::file_uri_path(&r.uri))
            .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
            .collect())
    }

    async fn project(
        &self,
        ctx: &RequestContext<RoleServer>,
        requested: Option<&str>,
    ) -> Result<PathBuf, RootsError> {
        let client = self.client_roots(ctx).await?;
        self.roots.project(requested, &client)
    }

    /// Run one command of the engine for a tool call: check the project, claim it, run the
    /// child with progress and cancellation, remember the report.
    async fn run_engine(
        &self,
        ctx: RequestContext<RoleServer>,
        subcommand: &[&str],
        target: &Target,
        gates: &[GateId],
        keep_file: bool,
        extend: impl FnOnce(&mut CommandLine),
    ) -> Result<CallToolResult, ErrorData> {
        let project = match self.project(&ctx, target.project.as_deref()).await {
            Ok(p) => p,
            Err(e) => return Ok(refused(chain(&e))),
        };
        let claim = match self.busy.claim(&project) {
            Ok(c) => c,
            Err(e) => return Ok(refused(chain(&e))),
        };
        let events = child::events_path().map_err(internal)?;
        let mut line = CommandLine::new(subcommand, &project, target, &events.path);
        extend(&mut line);
        let reporter = Reporter::for_request(&ctx);
        let outcome = child::run(
            line.into_args(),
            events,
            &self.running,
            Progress::new(Some(planned_checks(gates))),
            ctx.ct.cancelled(),
            &reporter,
        )
        .await
        .map_err(internal)?;
        drop(claim);
        if let Some(report) = &outcome.report {
            self.remember(&project, report, keep_file);
        }
        Ok(tool_result(outcome))
    }

    /// A tool that runs one gate (`subcommand` of the CLI) and keeps its report as the
    /// project's latest, on disk too.
    async fn one_gate(
        &self,
        ctx: RequestContext<RoleServer>,
        subcommand: &[&str],
        target: &Target,
        gate: GateId,
        extend: impl FnOnce(&mut CommandLine),
    ) -> Result<CallToolResult, ErrorData> {
        self.run_engine(ctx, subcommand, target, &[gate], true, extend)
            .await
    }

    /// The last report per project, locked; a panic in another call does not lose them.
    fn latest(&self) -> MutexGuard<'_, BTreeMap<PathBuf, Value>> {
        self.latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keep `report` as the project's latest, in memory and (unless the run was told to leave
    /// the project's state alone) in `.devops-agent/last-report.json`.
    fn remember(&self, project: &Path, report: &Value, keep_file: bool) {
        self.latest().insert(project.to_owned(), report.clone());
        if !keep_file {
            return;
        }
        let path = project.join(LAST_REPORT);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                // Never through a symlink out of the project (a hostile repository could point
                // `.devops-agent/` or the file anywhere).
                let inside = path
                    .parent()
                    .and_then(|d| std::fs::canonicalize(d).ok())
                    .is_some_and(|d| d.starts_with(project));
                let link = std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_file());
                if !inside || link {
                    return Err("it would be written outside the project".to_owned());
                }
                let mut text = serde_json::to_string_pretty(report).unwrap_or_default();
                text.push('\n');
                crate::report::write_file(&path, &text).map_err(|e| e.to_string())
            });
        if let Err(e) = written {
            tracing::warn!("not writing {}: {e}", path.display());
        }
    }
}

#[tool_router]
impl Server {
    /// Every gate for a story; the report's `sprint_validation` carries the verdict.
    #[tool(
        description = "Run every readiness gate for a story (ports, deps, build, startup, \
                       integration) and return the JSON report with its verdict \
                       (sprint_validation.deployment_ready). A not-ready verdict is a normal \
                       result; isError means the run could not be evaluated (usage or \
                       configuration error, refused project, cancelled).",
        output_schema = report_schema()
    )]
    async fn validate(
        &self,
        Parameters(args): Parameters<ValidateArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let gates: Vec<GateId> = if args.gates.is_empty() {
            GateId::ALL.to_vec()
        } else {
            args.gates.iter().filter_map(|g| GateId::parse(g)).collect()
        };
        // A gate named in `skip` is not run at all, as on the command line.
        let gates: Vec<GateId> = gates
            .into_iter()
            .filter(|g| !args.skip.iter().any(|s| s == g.as_str()))
            .collect();
        self.run_engine(
            ctx,
            &["validate"],
            &args.target,
            &gates,
            !args.no_history,
            |line| {
                line.validate(&args);
            },
        )
        .await
    }

    #[tool(
        description = "Check dependencies: deps.packages_installed, deps.lockfile_valid, \
                       deps.no_version_conflicts, deps.peer_dependencies. Returns the JSON report.",
        output_schema = report_schema()
    )]
    async fn deps(
        &self,
        Parameters(args): Parameters<GateArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.one_gate(ctx, &["deps"], &args.target, GateId::Deps, |_| {})
            .await
    }

    #[tool(
        description = "Run the dev and production builds: build.dev_build, build.prod_build, \
                       build.no_blocking_warnings, build.bundle_size, build.assets_generated. \
                       Returns the JSON report; cancelling stops every build process.",
        output_schema = report_schema()
    )]
    async fn build(
        &self,
        Parameters(args): Parameters<GateArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.one_gate(ctx, &["build"], &args.target, GateId::Build, |_| {})
            .await
    }

    #[tool(
        description = "Start the app in dev and production mode and check it: startup.dev_mode, \
                       startup.prod_mode, startup.env_vars, startup.database_connections, \
                       startup.external_services, startup.health_checks. Everything started is \
                       stopped before the result. Returns the JSON report.",
        output_schema = report_schema()
    )]
    async fn startup(
        &self,
        Parameters(args): Parameters<StartupArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.one_gate(ctx, &["startup"], &args.target, GateId::Startup, |line| {
            line.env(args.env);
        })
        .await
    }

    #[tool(
        description = "Probe a running stack (started locally, or a deployed one with base_url): \
                       integration.frontend_backend, integration.api_proxy, integration.cors, \
                       integration.websocket, integration.static_assets, integration.cdn. \
                       Returns the JSON report.",
        output_schema = report_schema()
    )]
    async fn integration(
        &self,
        Parameters(args): Parameters<IntegrationArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.one_gate(
            ctx,
            &["integration"],
            &args.target,
            GateId::Integration,
            |line| {
                line.env(args.env).remote(&args.remote);
            },
        )
        .await
    }

    #[tool(
        description = "Check port configuration: ports.env_configured (every published port \
                       comes from an env var with a default) and ports.no_conflicts (no two \
                       services share a host port, none is held by another process). Returns \
                       the JSON report.",
        output_schema = report_schema()
    )]
    async fn ports(
        &self,
        Parameters(args): Parameters<GateArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.one_gate(ctx, &["ports"], &args.target, GateId::Ports, |_| {})
            .await
    }

    #[tool(
        description = "Pick free ports for every port variable, reserve them machine-wide (two \
                       projects never get the same ones), write them to the project's .env, then \
                       run the ports checks on the result. Returns the JSON report.",
        output_schema = report_schema()
    )]
    async fn ports_allocate(
        &self,
        Parameters(args): Parameters<GateArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.one_gate(
            ctx,
            &["ports", "allocate"],
            &args.target,
            GateId::Ports,
            |_| {},
        )
        .await
    }

    #[tool(
        description = "List every check devops-agent runs (id, gate, title, what it verifies) \
                       and the framework catalogue: the JSON `devops-agent list --format json` \
                       prints."
    )]
    async fn list_checks(&self) -> Result<CallToolResult, ErrorData> {
        let (_, value) = child::document(&["list", "--format=json"])
            .await
            .map_err(internal)?;
        let text = value["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                format!(
                    "{} — {}",
                    c["id"].as_str().unwrap_or(""),
                    c["title"].as_str().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        Ok(with_text(CallToolResult::structured(value), text))
    }

    #[tool(
        description = "Explain one check: what it verifies, where it looks, the devops-agent.toml \
                       keys that change it and how its typical failures are fixed: the JSON \
                       `devops-agent explain CHECK_ID --format json` prints."
    )]
    async fn explain_check(
        &self,
        Parameters(args): Parameters<ExplainArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let (code, value) = child::document(&["explain", "--format=json", "--", &args.check_id])
            .await
            .map_err(internal)?;
        if code != Some(i32::from(exit::READY)) {
            let message = value["error"]
                .as_str()
                .unwrap_or("unknown check")
                .to_owned();
            return Ok(CallToolResult::error(vec![ContentBlock::text(message)]));
        }
        let field = |k: &str| value[k].as_str().unwrap_or("").to_owned();
        let mut text = format!(
            "{} ({} gate): {}\n{}",
            field("id"),
            field("gate"),
            field("title"),
            field("verifies")
        );
        for (heading, key) in [
            ("Looks at", "looks_at"),
            ("Configuration", "config"),
            ("Typical failures", "fixes"),
        ] {
            let items: Vec<&str> = value[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !items.is_empty() {
                let _ = write!(text, "\n{heading}:");
                for item in items {
                    let _ = write!(text, "\n- {item}");
                }
            }
        }
        Ok(with_text(CallToolResult::structured(value), text))
    }
}

/// Which resource a URI names.
enum Kind {
    Latest,
    History,
}

fn parse_uri(uri: &str) -> Option<(String, Kind)> {
    let rest = uri.strip_prefix(SCHEME)?;
    let (project, kind) = if let Some(p) = rest.strip_suffix(LATEST) {
        (p, Kind::Latest)
    } else {
        (rest.strip_suffix(HISTORY)?, Kind::History)
    };
    Some((roots::percent_decode(project), kind))
}

fn uri(project: &Path, suffix: &str) -> String {
    format!("{SCHEME}{}{suffix}", roots::percent_encode(project))
}

/// The `suffix` resource of `project` in a resource list, named `what`.
fn resource(project: &Path, suffix: &str, what: &str) -> Resource {
    Resource::new(
        uri(project, suffix),
        format!("{} {what}", project.display()),
    )
    .with_mime_type("application/json")
}

/// Why a resource (the latest report, the history) cannot be read.
#[derive(Debug, thiserror::Error)]
enum ResourceError {
    #[error("{} resolves outside the project ({})", .path.display(), .real.display())]
    Outside { path: PathBuf, real: PathBuf },
    #[error("{} has no history yet (run validate first)", .project.display())]
    NoHistory { project: PathBuf },
    #[error("no report for {} yet (run a tool on it first)", .project.display())]
    NoReport { project: PathBuf },
    #[error("{}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: crate::fsread::ReadError,
    },
    #[error("{}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", .path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl ResourceError {
    /// `source`, the error reading `path`; `missing()` when the file is not there (yet).
    fn read(
        path: &Path,
        source: crate::fsread::ReadError,
        missing: impl FnOnce() -> ResourceError,
    ) -> ResourceError {
        if source.is_not_found() {
            missing()
        } else {
            ResourceError::Read {
                path: path.to_owned(),
                source,
            }
        }
    }
}

/// `path` (in `project`) for reading, refused when it resolves outside the project: the
/// server has no process-wide confinement of its own, since it serves several projects.
fn confined(project: &Path, path: &Path) -> Result<(), ResourceError> {
    match std::fs::canonicalize(path) {
        Ok(real) if !real.starts_with(project) => Err(ResourceError::Outside {
            path: path.to_owned(),
            real,
        }),
        Ok(_) | Err(_) => Ok(()),
    }
}

/// The history's most recent entries, oldest first, as one JSON array.
fn read_history(project: &Path) -> Result<Value, ResourceError> {
    let path = project.join(".devops-agent/history.jsonl");
    confined(project, &path)?;
    let (mut file, meta) = crate::fsread::open(&path).map_err(|source| {
        ResourceError::read(&path, source, || ResourceError::NoHistory {
            project: project.to_owned(),
        })
    })?;
    let io = |source| ResourceError::Io {
        path: path.clone(),
        source,
    };
    let start = meta.len().saturating_sub(RESOURCE_BYTES);
    file.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(RESOURCE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = text.lines();
    if start > 0 {
        // The first line read is a partial one.
        lines.next();
    }
    Ok(Value::Array(
        lines
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect(),
    ))
}

impl Server {
    fn latest_report(&self, project: &Path) -> Result<Value, ResourceError> {
        if let Some(report) = self.latest().get(project) {
            return Ok(report.clone());
        }
        let path = project.join(LAST_REPORT);
        confined(project, &path)?;
        let text = crate::fsread::read_lossy(&path, RESOURCE_BYTES).map_err(|source| {
            ResourceError::read(&path, source, || ResourceError::NoReport {
                project: project.to_owned(),
            })
        })?;
        serde_json::from_str(&text).map_err(|source| ResourceError::Json { path, source })
    }

    /// Projects that have resources: the roots and every project a tool ran on.
    fn known_projects(&self) -> Vec<PathBuf> {
        let mut projects: Vec<PathBuf> = self.roots.server().to_vec();
        for p in self.latest().keys() {
            if !projects.contains(p) {
                projects.push(p.clone());
            }
        }
        projects
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new(
            "devops-agent",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(
            "Deployment-readiness validation. `validate` runs every gate for a story and returns \
             the JSON report (sprint_validation.deployment_ready is the verdict); `deps`, \
             `build`, `startup`, `integration` and `ports` run one gate; `ports_allocate` \
             writes free ports to .env. `project` is a directory under the server's roots. \
             Progress notifications follow the run; cancelling a call stops every process it \
             started. list_checks / explain_check describe the checks.",
        )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let mut resources = Vec::new();
        for project in self.known_projects() {
            let has_latest =
                self.latest().contains_key(&project) || project.join(LAST_REPORT).is_file();
            if has_latest {
                resources.push(resource(&project, LATEST, "latest report"));
            }
            if project.join(".devops-agent/history.jsonl").is_file() {
                resources.push(resource(&project, HISTORY, "history"));
            }
        }
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(format!("{SCHEME}{{+project}}{LATEST}"), "latest report")
                .with_description(
                    "The last report a tool returned for the project (an absolute path, or one \
                     relative to the first root)",
                )
                .with_mime_type("application/json"),
            ResourceTemplate::new(format!("{SCHEME}{{+project}}{HISTORY}"), "history")
                .with_description(
                    "The project's validate history (.devops-agent/history.jsonl) as a JSON array, \
                     oldest first",
                )
                .with_mime_type("application/json"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let Some((project, kind)) = parse_uri(&request.uri) else {
            return Err(ErrorData::resource_not_found(
                format!(
                    "unknown resource {}: devops-agent://PROJECT/report/latest or \
                     devops-agent://PROJECT/history",
                    request.uri
                ),
                None,
            ));
        };
        let requested = (!project.is_empty()).then_some(project.as_str());
        let project = self
            .project(&context, requested)
            .await
            .map_err(|e| ErrorData::invalid_params(chain(&e), None))?;
        let value = match kind {
            Kind::Latest => self.latest_report(&project),
            Kind::History => read_history(&project),
        }
        .map_err(|e| ErrorData::resource_not_found(chain(&e), None))?;
        let text = serde_json::to_string_pretty(&value).unwrap_or_default();
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(text, request.uri).with_mime_type("application/json"),
        ])
        .into())
    }
}

/// Resolves on SIGINT, SIGTERM or SIGHUP with the exit code the CLI uses for each; never when
/// the handlers cannot be installed.
async fn stop_signal() -> u8 {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return std::future::pending().await;
    };
    let (code, name) = tokio::select! {
        _ = int.recv() => (exit::INTERRUPTED, "SIGINT"),
        _ = term.recv() => (exit::INTERRUPTED, "SIGTERM"),
        _ = hup.recv() => (exit::HANGUP, "SIGHUP"),
    };
    tracing::warn!("{name}: stopping the runs in progress");
    code
}

/// `devops-agent mcp`: serve on stdin/stdout until the client closes the connection, then
/// interrupt whatever still runs and wait for it to stop.
pub fn serve(roots: &[PathBuf]) -> u8 {
    let roots = match Roots::new(roots) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("{}", chain(&e));
            return exit::USAGE_OR_CONFIG;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return exit::USAGE_OR_CONFIG;
        }
    };
    let code = runtime.block_on(async {
        let server = Server::new(roots);
        let running = server.running.clone();
        let session = async {
            match server.serve(rmcp::transport::stdio()).await {
                Ok(service) => match service.waiting().await {
                    Ok(_) => exit::READY,
                    Err(e) => {
                        tracing::error!("MCP session ended with an error: {e}");
                        exit::USAGE_OR_CONFIG
                    }
                },
                Err(e) => {
                    tracing::error!("MCP session could not start: {e}");
                    exit::USAGE_OR_CONFIG
                }
            }
        };
        // A signal to the server (rather than to its process group) must not orphan the runs:
        // they are interrupted and waited for like at the end of the session.
        let code = tokio::select! {
            code = session => code,
            code = stop_signal() => code,
        };
        running.interrupt_all(SHUTDOWN_WAIT).await;
        code
    });
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(code: Option<i32>, report: Option<Value>, cancelled: bool) -> Outcome {
        Outcome {
            code,
            report,
            cancelled,
        }
    }

    #[test]
    fn only_usage_and_config_errors_interruptions_and_lost_reports_are_tool_errors() {
        let ran = json!({"summary": "S-1: not deployment ready", "gates": [{"id": "ports"}]});
        let nothing =
            json!({"summary": "config error", "gates": [], "errors": [{"message": "bad"}]});
        let cases = [
            (outcome(Some(0), Some(ran.clone()), false), false),
            (outcome(Some(1), Some(ran.clone()), false), false),
            (outcome(Some(2), Some(ran.clone()), false), false),
            (outcome(Some(2), Some(nothing), false), true),
            (outcome(Some(130), Some(ran.clone()), false), true),
            (outcome(Some(1), Some(ran.clone()), true), true),
            (outcome(Some(0), None, false), true),
            (outcome(None, Some(ran), false), true),
        ];
        for (case, is_error) in cases {
            let described = format!("{case:?}");
            let result = tool_result(case);
            assert_eq!(result.is_error, Some(is_error), "{described}");
        }
    }

    #[test]
    fn resources_and_the_last_report_never_go_through_a_symlink_out_of_the_project() {
        let project = tempfile::tempdir().unwrap();
        let project = std::fs::canonicalize(project.path()).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("history.jsonl"), "{\"secret\": 1}\n").unwrap();
        std::os::unix::fs::symlink(outside.path(), project.join(".devops-agent")).unwrap();
        let err = read_history(&project).unwrap_err();
        assert!(matches!(err, ResourceError::Outside { .. }), "{err}");
        assert!(err.to_string().contains("outside the project"), "{err}");
        let server = Server::new(Roots::new(std::slice::from_ref(&project)).unwrap());
        server.remember(&project, &json!({"summary": "x"}), true);
        assert!(!outside.path().join("last-report.json").exists());
        // In memory it is still the latest.
        assert_eq!(server.latest_report(&project).unwrap()["summary"], "x");
    }

    #[test]
    fn resource_uris_round_trip_paths() {
        let project = Path::new("/srv/my app");
        let (path, kind) = parse_uri(&uri(project, LATEST)).unwrap();
        assert_eq!(path, "/srv/my app");
        assert!(matches!(kind, Kind::Latest));
        let (path, kind) = parse_uri("devops-agent://app/history").unwrap();
        assert_eq!(path, "app");
        assert!(matches!(kind, Kind::History));
        assert!(parse_uri("devops-agent:///srv/app/report").is_none());
    }
}
