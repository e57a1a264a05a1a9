//! Running the build gate: each app's development then production build, then the checks on
//! what they printed and produced.

use std::path::{Path, PathBuf};
use std::time::Instant;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use super::assets;
use super::bundle::{self, Compression};
use super::detect::{self, App, BuildCommand, Kind, Order, Plan};
use super::orchestrated;
use super::warnings::{self, Level};
use crate::check::{CheckId, CheckResult, Finding, GateId, GateResult, Severity, Status};
use crate::framework::Output;
use crate::gates::{GateCtx, GateScope};
use crate::process::{self, CommandSpec, Ending, Finished};
use crate::redact::Redactor;
use crate::report::{Event, EventSink};

/// One build that ran.
struct BuildRun<'a> {
    app: &'a App,
    command: BuildCommand,
    finished: Finished,
    /// Diagnostics parsed from its output.
    diagnostics: Vec<warnings::Diagnostic>,
    tail: Vec<String>,
    /// For an orchestrator's run: what each workspace printed and whether it failed.
    workspaces: Vec<orchestrated::MemberOutput>,
}

/// Development or production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Dev,
    Prod,
}

/// The builds of one mode: those that ran, and the apps that did not, with why.
struct ModeRuns<'a> {
    runs: Vec<BuildRun<'a>>,
    not_run: Vec<NotRun>,
}

/// An app whose build did not run.
struct NotRun {
    dir: String,
    reason: String,
    /// A workspace it needs failed: this counts as a failure. Otherwise (no development build
    /// in its framework) it does not.
    blocking: bool,
}

impl ModeRuns<'_> {
    /// Whether `app`'s build ran and succeeded (for an orchestrator's run: its workspace).
    fn built(&self, app: &App) -> bool {
        self.runs.iter().any(|r| {
            if r.workspaces.is_empty() {
                r.app.dir == app.dir && r.finished.ending.success()
            } else {
                r.finished.ending.success()
                    || r.workspaces
                        .iter()
                        .any(|w| w.dir == app.dir && !w.failed && w.lines > 0)
            }
        })
    }
}

/// Run the builds of `mode` in the plan's order: level by level, the apps of a level
/// concurrently, or the orchestrator's one command.
async fn run_mode<'a>(
    ctx: &GateCtx,
    sink: &EventSink,
    redactor: &Redactor,
    plan: &'a Plan,
    mode: Mode,
) -> ModeRuns<'a> {
    let purpose = match mode {
        Mode::Dev => CheckId::BuildDevBuild,
        Mode::Prod => CheckId::BuildProdBuild,
    };
    let command_of = |app: &'a App| match mode {
        Mode::Dev => &app.dev,
        Mode::Prod => &app.prod,
    };
    let mut out = ModeRuns {
        runs: Vec::new(),
        not_run: Vec::new(),
    };
    match &plan.order {
        Order::Orchestrated(o) => {
            let skipped: Vec<&App> = plan
                .apps
                .iter()
                .filter(|a| mode == Mode::Dev && a.no_dev_build.is_some())
                .collect();
            for app in &skipped {
                out.not_run.push(NotRun {
                    dir: app.dir.clone(),
                    reason: app.no_dev_build.unwrap_or_default().to_owned(),
                    blocking: false,
                });
            }
            if !plan.apps.is_empty() && skipped.len() == plan.apps.len() {
                return out;
            }
            // Leave out the workspaces whose framework has no development build.
            let mut command = command_of(&o.runner).clone();
            let excluded: Vec<&String> = o
                .members
                .iter()
                .filter(|(_, dir)| skipped.iter().any(|a| &a.dir == *dir))
                .map(|(name, _)| name)
                .collect();
            if !excluded.is_empty() {
                let flags = orchestrated::exclude_flags(o.tool, &excluded);
                command.command = if command.command.contains(" run build")
                    && !command.command.contains("turbo")
                    && !command.command.contains(" nx ")
                {
                    format!("{} -- {flags}", command.command)
                } else {
                    format!("{} {flags}", command.command)
                };
            }
            let mut runs =
                build_many(ctx, sink, redactor, vec![(&o.runner, command)], purpose).await;
            if let Some(mut run) = runs.pop() {
                let text = crate::process::strip_ansi(&run.finished.output.text(redactor));
                run.workspaces = orchestrated::attribute(o.tool, &text, &o.members);
                run.diagnostics = run
                    .workspaces
                    .iter()
                    .flat_map(|w| {
                        let framework = plan.apps.iter().find(|a| a.dir == w.dir);
                        let mut d = warnings::parse(&w.text);
                        if let Some(app) = framework {
                            d.extend(framework_warnings(app, &w.text));
                        }
                        for diag in &mut d {
                            if let Some(f) = &diag.file
                                && !Path::new(f).is_absolute()
                            {
                                diag.file = Some(format!("{}/{f}", w.dir));
                            }
                        }
                        d
                    })
                    .collect();
                out.runs.push(run);
            }
        }
        Order::Levels(levels) => {
            let mut failed: Vec<String> = Vec::new();
            for level in levels {
                let mut batch = Vec::new();
                for &i in level {
                    let app = &plan.apps[i];
                    if mode == Mode::Dev
                        && let Some(reason) = app.no_dev_build
                    {
                        out.not_run.push(NotRun {
                            dir: app.dir.clone(),
                            reason: reason.to_owned(),
                            blocking: false,
                        });
                        continue;
                    }
                    if let Some(dep) = app.after.iter().find(|d| failed.contains(d)) {
                        failed.push(app.dir.clone());
                        out.not_run.push(NotRun {
                            dir: app.dir.clone(),
                            reason: format!("not built: {dep}, which it imports, failed to build"),
                            blocking: true,
                        });
                        continue;
                    }
                    batch.push((app, command_of(app).clone()));
                }
                for run in build_many(ctx, sink, redactor, batch, purpose).await {
                    if !run.finished.ending.success() {
                        failed.push(run.app.dir.clone());
                    }
                    out.runs.push(run);
                }
            }
        }
    }
    out
}

/// Warnings the app's framework prints that the generic parser does not recognise.
fn framework_warnings(app: &App, text: &str) -> Vec<warnings::Diagnostic> {
    let Some((framework, _)) = &app.framework else {
        return Vec::new();
    };
    framework
        .build_warnings
        .iter()
        .filter(|p| text.contains(p.contains))
        .map(|p| warnings::Diagnostic {
            file: None,
            line: None,
            column: None,
            level: Level::Warning,
            message: p.message.to_owned(),
            tool: framework.id,
        })
        .collect()
}

/// Run the five build checks.
pub async fn run(ctx: &GateCtx, sink: &EventSink) -> GateResult {
    let scope = GateScope::begin(ctx, sink, GateId::Build);
    let redactor = ctx.project.env.redactor();
    let (plan, errors) = detect::plan(&ctx.project);
    let apps = &plan.apps;

    if apps.is_empty() && !matches!(plan.order, Order::Orchestrated(_)) {
        let (status, message) = if let Some(e) = errors.first() {
            (Status::Error, format!("cannot build: {e}"))
        } else {
            let reason = "no build command configured or detected (package.json build script, Cargo.toml, go.mod, Makefile build target)".to_owned();
            (
                Status::Skipped {
                    reason: reason.clone(),
                },
                reason,
            )
        };
        for id in GateId::Build.checks() {
            scope
                .check(id, async {
                    CheckResult::new(id, status.clone(), message.clone())
                })
                .await;
        }
        return scope.finish();
    }

    let mut dev_runs = None;
    scope
        .check(CheckId::BuildDevBuild, async {
            let runs = dev_runs.insert(run_mode(ctx, sink, &redactor, &plan, Mode::Dev).await);
            build_check(CheckId::BuildDevBuild, "development", runs, &errors, ctx)
        })
        .await;

    let mut prod_runs = None;
    scope
        .check(CheckId::BuildProdBuild, async {
            let runs = prod_runs.insert(run_mode(ctx, sink, &redactor, &plan, Mode::Prod).await);
            build_check(CheckId::BuildProdBuild, "production", runs, &errors, ctx)
        })
        .await;

    let all_runs: Vec<&BuildRun> = dev_runs
        .iter()
        .chain(&prod_runs)
        .flat_map(|m| &m.runs)
        .collect();
    scope
        .check(CheckId::BuildNoBlockingWarnings, async {
            warnings_check(&all_runs, ctx)
        })
        .await;

    // Output checks look at what the production build left, file work off the runtime.
    let outputs: Option<Vec<(App, bool)>> = prod_runs.as_ref().map(|prod| {
        plan.apps
            .iter()
            .map(|a| (a.clone(), prod.built(a)))
            .collect()
    });
    let project = ctx.project.clone();
    scope
        .checks(
            &[CheckId::BuildBundleSize, CheckId::BuildAssetsGenerated],
            async {
                let Some(outputs) = outputs else {
                    let reason =
                        "the production build did not run, so there is no output to measure";
                    return Ok([CheckId::BuildBundleSize, CheckId::BuildAssetsGenerated]
                        .map(|id| {
                            CheckResult::new(
                                id,
                                Status::Skipped {
                                    reason: reason.to_owned(),
                                },
                                reason,
                            )
                        })
                        .to_vec());
                };
                tokio::task::spawn_blocking(move || {
                    vec![
                        bundle_check(&project, &outputs),
                        assets_check(&project, &outputs),
                    ]
                })
                .await
                .map_err(|e| e.to_string())
            },
        )
        .await;
    scope.finish()
}

/// Run `builds` concurrently; results in the order given.
async fn build_many<'a>(
    ctx: &GateCtx,
    sink: &EventSink,
    redactor: &Redactor,
    builds: Vec<(&'a App, BuildCommand)>,
    purpose: CheckId,
) -> Vec<BuildRun<'a>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (app, command)) in builds.iter().enumerate() {
        let spec = CommandSpec {
            label: if app.dir == "." {
                purpose.as_str().to_owned()
            } else {
                format!("{} {}", purpose.as_str(), app.dir)
            },
            command: command.command.clone(),
            cwd: app.path.clone(),
            env: command.env.clone(),
            timeout: ctx.build_timeout(),
            grace: ctx.grace(),
        };
        sink.emit(&Event::CommandStarted {
            gate: "build".to_owned(),
            purpose: purpose.as_str().to_owned(),
            command: redactor.redact(&command.command),
            cwd: app.dir.clone(),
        });
        let processes = ctx.processes.clone();
        tasks.spawn(async move { (i, process::run(&spec, &processes).await) });
    }
    let mut finished: Vec<Option<Finished>> = builds.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((i, f)) = joined {
            finished[i] = Some(f);
        }
    }
    let mut runs = Vec::new();
    for ((app, command), finished) in builds.into_iter().zip(finished) {
        // A task only fails to join when it panicked; nothing ran to report then.
        let Some(finished) = finished else {
            continue;
        };
        sink.emit(&Event::CommandFinished {
            gate: "build".to_owned(),
            purpose: purpose.as_str().to_owned(),
            command: redactor.redact(&command.command),
            ending: finished.ending.kind().to_owned(),
            exit_code: match finished.ending {
                Ending::Exited(code) => Some(code),
                _ => None,
            },
            duration_ms: ms(finished.duration),
        });
        let text = crate::process::strip_ansi(&finished.output.text(redactor));
        let mut diagnostics = warnings::parse(&text);
        diagnostics.extend(framework_warnings(app, &text));
        let tail = finished.output.tail(redactor);
        runs.push(BuildRun {
            app,
            command,
            finished,
            diagnostics,
            tail: tail.iter().map(|l| cargo_line(l)).collect(),
            workspaces: Vec::new(),
        });
    }
    runs
}

/// cargo's JSON lines carry a human rendering; show that instead of the JSON.
fn cargo_line(line: &str) -> String {
    if line.starts_with('{')
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
    {
        if let Some(r) = v.pointer("/message/rendered").and_then(|r| r.as_str()) {
            return r.lines().next().unwrap_or("").to_owned();
        }
        if let Some(reason) = v.get("reason").and_then(|r| r.as_str()) {
            return format!("[cargo {reason}]");
        }
    }
    line.to_owned()
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The verdict on one mode's builds. `unbuildable` are apps whose build could not be known
/// (an unreadable package.json, an empty build script): the check cannot pass over them.
fn build_check(
    id: CheckId,
    mode: &str,
    mode_runs: &ModeRuns,
    unbuildable: &[crate::project::FileError],
    ctx: &GateCtx,
) -> CheckResult {
    let runs = &mode_runs.runs;
    let mut findings: Vec<Finding> = unbuildable
        .iter()
        .map(|e| {
            Finding::new(Severity::Error, e.message.clone()).at(e.file.clone(), e.line, e.column)
        })
        .collect();
    let mut failed = Vec::new();
    let mut cancelled = None;
    let mut evidence = Vec::new();
    let mut leaked = 0;
    for run in runs {
        let ending = &run.finished.ending;
        if let Some(finding) = leak_finding(run) {
            leaked += 1;
            findings.push(finding);
        }
        evidence.push(json!({
            "app": run.app.dir,
            "kind": run.app.kind.as_str(),
            "command": run.command.command,
            "source": run.command.source,
            "env": run.command.env.keys().collect::<Vec<_>>(),
            "ending": ending.kind(),
            "exit_code": match ending { Ending::Exited(c) => Some(*c), _ => None },
            "duration_ms": ms(run.finished.duration),
            "output_bytes": run.finished.output.total_bytes,
            "processes_stopped_after": run.finished.leftovers_stopped(),
            "left_running": run.finished.left_running.iter()
                .map(|p| json!({ "pid": p.pid, "name": p.name }))
                .collect::<Vec<_>>(),
            "stop": run.finished.stop.evidence(),
            "output_tail": if ending.success() { Vec::new() } else { run.tail.clone() },
            "framework": run.app.framework.as_ref().map(|(_, e)| e),
            "after": run.app.after,
            "workspaces": run.workspaces.iter().map(orchestrated::MemberOutput::evidence).collect::<Vec<_>>(),
        }));
        match ending {
            Ending::Exited(0) => {}
            Ending::Cancelled(reason) => cancelled = Some(*reason),
            _ => {
                let first_error = run
                    .diagnostics
                    .iter()
                    .find(|d| d.level == Level::Error)
                    .map(|d| d.message.clone())
                    .or_else(|| last_meaningful(&run.tail));
                let failed_workspaces: Vec<String> = run
                    .workspaces
                    .iter()
                    .filter(|w| w.failed)
                    .map(|w| format!("{} ({})", w.dir, w.name))
                    .collect();
                let first_error = run
                    .diagnostics
                    .iter()
                    .find(|d| d.level == Level::Error)
                    .map(|d| match &d.file {
                        Some(f) => format!("{f}: {}", d.message),
                        None => d.message.clone(),
                    })
                    .or(first_error);
                failed.push(format!(
                    "{} ({}) {}{}{}",
                    run.app.dir,
                    run.command.command,
                    ending.describe(ctx.build_timeout()),
                    if failed_workspaces.is_empty() {
                        String::new()
                    } else {
                        format!(" in {}", failed_workspaces.join(", "))
                    },
                    first_error.map_or_else(String::new, |e| format!(": {e}"))
                ));
                for d in run
                    .diagnostics
                    .iter()
                    .filter(|d| d.level == Level::Error)
                    .take(20)
                {
                    let mut f = Finding::new(Severity::Error, d.message.clone());
                    if let Some(file) = &d.file {
                        f = f.at(in_app(run.app, file), d.line, d.column);
                    }
                    findings.push(f);
                }
                if !run.diagnostics.iter().any(|d| d.level == Level::Error) {
                    findings.push(Finding::new(
                        Severity::Error,
                        format!(
                            "{} {}; last output: {}",
                            run.command.command,
                            ending.describe(ctx.build_timeout()),
                            last_meaningful(&run.tail).unwrap_or_else(|| "(none)".to_owned())
                        ),
                    ));
                }
            }
        }
    }
    for n in mode_runs.not_run.iter().filter(|n| n.blocking) {
        failed.push(format!("{} {}", n.dir, n.reason));
    }
    let not_run: Vec<String> = mode_runs
        .not_run
        .iter()
        .map(|n| format!("{}: {}", n.dir, n.reason))
        .collect();
    let (status, message) = if let Some(reason) = cancelled {
        crate::gates::cancelled_status(reason, &format!("the {mode} build"), ctx.timeout)
    } else if runs.is_empty() && failed.is_empty() {
        let reason = not_run.join("; ");
        (
            Status::Skipped {
                reason: reason.clone(),
            },
            reason,
        )
    } else if failed.is_empty() && !unbuildable.is_empty() {
        let named: Vec<String> = unbuildable.iter().map(ToString::to_string).collect();
        (
            Status::Error,
            format!("cannot build every app: {}", named.join("; ")),
        )
    } else if failed.is_empty() {
        let total: u64 = runs.iter().map(|r| ms(r.finished.duration)).sum();
        let skipped = if not_run.is_empty() {
            String::new()
        } else {
            format!("; not run: {}", not_run.join("; "))
        };
        let built = format!(
            "{} {mode} build(s) succeeded in {total} ms{skipped}",
            runs.len()
        );
        if leaked == 0 {
            (Status::Passed, built)
        } else {
            (
                Status::Warning,
                format!("{built}, but {leaked} of them left processes running (stopped)"),
            )
        }
    } else {
        (
            Status::Failed,
            format!("{mode} build failed: {}", failed.join("; ")),
        )
    };
    CheckResult::new(id, status, message)
        .with_findings(findings)
        .with_evidence(&BuildEvidence {
            builds: evidence,
            not_run,
        })
}

/// What `build.dev_build` and `build.prod_build` measured: each build that ran, and the apps
/// not built.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct BuildEvidence {
    /// One entry per build command that ran, in order: `app` (directory), `kind`, `command`,
    /// `source` (where the command came from), `env` (names of the variables set, never
    /// values), `ending` (`exited`, `timed_out`, `cancelled`, …), `exit_code` (null unless it
    /// exited), `duration_ms`, `output_bytes`, `processes_stopped_after`, `left_running`
    /// (`pid`, `name`), `stop` (how the process group was stopped), `output_tail` (last lines,
    /// only for a failed build), `framework`, `after` and `workspaces` (per member of an
    /// orchestrated build).
    pub(crate) builds: Vec<serde_json::Value>,
    /// Apps not built in this mode, as `dir: reason`.
    pub(crate) not_run: Vec<String>,
}

/// A build that exited but left processes running (a forgotten watcher, a detached daemon):
/// like nextest's leak detection, a warning naming them. They were stopped afterwards.
fn leak_finding(run: &BuildRun) -> Option<Finding> {
    let left = &run.finished.left_running;
    if left.is_empty() {
        return None;
    }
    let stop = &run.finished.stop;
    let mut message = format!(
        "{} left {} running: {}; stopped them ({})",
        run.command.command,
        plural(left.len(), "process", "processes"),
        crate::process::ProcInfo::list(left),
        stop.mechanism.as_str()
    );
    if !stop.killed.is_empty() {
        let _ = std::fmt::Write::write_fmt(
            &mut message,
            format_args!(
                "; {} ignored SIGTERM and got SIGKILL",
                crate::process::ProcInfo::list(&stop.killed)
            ),
        );
    }
    if !stop.survived.is_empty() {
        let _ = std::fmt::Write::write_fmt(
            &mut message,
            format_args!(
                "; still running after SIGKILL: {}",
                crate::process::ProcInfo::list(&stop.survived)
            ),
        );
    }
    Some(Finding::new(Severity::Warning, message))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The last output line that says something (not a blank or an npm footer).
fn last_meaningful(tail: &[String]) -> Option<String> {
    tail.iter()
        .rev()
        .find(|l| {
            let t = l.trim();
            !t.is_empty()
                && !t.starts_with("npm ERR! A complete log")
                && !t.starts_with("npm error A complete log")
        })
        .map(|l| l.trim().to_owned())
}

/// A diagnostic's file relative to the project: tools print paths relative to the app.
fn in_app(app: &App, file: &str) -> String {
    if Path::new(file).is_absolute() || app.dir == "." {
        file.to_owned()
    } else {
        format!("{}/{file}", app.dir)
    }
}

/// What `build.no_blocking_warnings` measured in the output of the builds that ran.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct WarningsEvidence {
    /// Distinct warnings (same app, file, position and message counted once).
    pub(crate) warnings: u32,
    /// The same count per tool that printed them (`cargo`, `tsc`, `eslint`, `vite`, …).
    pub(crate) by_tool: std::collections::BTreeMap<String, u32>,
    /// The most warnings allowed (`0` with `deny_warnings`); null when no budget is set (then
    /// warnings make the check a warning, never a failure).
    pub(crate) limit: Option<u32>,
}

fn warnings_check(runs: &[&BuildRun], ctx: &GateCtx) -> CheckResult {
    let started = Instant::now();
    let cfg = &ctx.project.config.build;
    if runs.iter().all(|r| {
        matches!(
            r.finished.ending,
            Ending::SpawnFailed(_) | Ending::Cancelled(_)
        )
    }) {
        let reason = "no build ran, so there is no output to read warnings from".to_owned();
        return CheckResult::new(
            CheckId::BuildNoBlockingWarnings,
            Status::Skipped {
                reason: reason.clone(),
            },
            reason,
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut findings = Vec::new();
    let mut by_tool: std::collections::BTreeMap<&str, u32> = std::collections::BTreeMap::new();
    for run in runs {
        for d in run.diagnostics.iter().filter(|d| d.level == Level::Warning) {
            let key = (
                run.app.dir.clone(),
                d.file.clone(),
                d.line,
                d.column,
                d.message.clone(),
            );
            if !seen.insert(key) {
                continue;
            }
            *by_tool.entry(d.tool).or_default() += 1;
            let mut f = Finding::new(Severity::Warning, format!("{}: {}", d.tool, d.message));
            if let Some(file) = &d.file {
                f = f.at(in_app(run.app, file), d.line, d.column);
            }
            findings.push(f);
        }
    }
    let count = u32::try_from(findings.len()).unwrap_or(u32::MAX);
    let limit = if cfg.deny_warnings {
        Some(0)
    } else {
        cfg.max_warnings
    };
    let (status, message) = match limit {
        _ if count == 0 => (Status::Passed, "the builds printed no warnings".to_owned()),
        Some(max) if count > max => {
            for f in &mut findings {
                f.severity = Severity::Error;
            }
            (
                Status::Failed,
                format!(
                    "{count} build warning(s), more than the {max} allowed (deny_warnings / max_warnings in devops-agent.toml)"
                ),
            )
        }
        Some(max) => (
            Status::Passed,
            format!("{count} build warning(s), within the {max} allowed"),
        ),
        None => (
            Status::Warning,
            format!(
                "{count} build warning(s); set [build] max_warnings or deny_warnings to make them block"
            ),
        ),
    };
    let shown: Vec<Finding> = findings.into_iter().take(100).collect();
    let mut result = CheckResult::new(CheckId::BuildNoBlockingWarnings, status, message)
        .with_findings(shown)
        .with_evidence(&WarningsEvidence {
            warnings: count,
            by_tool: by_tool
                .into_iter()
                .map(|(tool, n)| (tool.to_owned(), n))
                .collect(),
            limit,
        });
    result.duration = started.elapsed();
    result.started = Some(started);
    result
}

/// The output directory of an app after its production build, if there is one.
fn output_dir(project: &crate::project::Project, app: &App) -> Option<(String, PathBuf, Output)> {
    let configured = project
        .config
        .build
        .output
        .as_ref()
        .map(|o| vec![Output::at_root(o)]);
    configured
        .unwrap_or_else(|| app.outputs.clone())
        .into_iter()
        .map(|o| {
            (
                o.dir.trim_end_matches('/').to_owned(),
                app.path.join(&o.dir),
                o,
            )
        })
        .find(|(_, p, _)| p.is_dir())
}

/// The output candidates of an app, for a "not found" message.
fn candidates(app: &App) -> String {
    app.outputs
        .iter()
        .map(|o| o.dir.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `build.bundle_size` measured in the production build's output.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct BundleSizeEvidence {
    /// One entry per app measured: `app`, `output` (directory), `framework`, `files` (count),
    /// `total` (`raw`, `gzip`, `brotli` in bytes; null when a file could not be compressed),
    /// `largest` (the ten largest files with their sizes) and `budgets` (each with its limit in
    /// bytes and where it came from).
    pub(crate) outputs: Vec<serde_json::Value>,
    /// Apps not measured, as `dir: reason`.
    pub(crate) not_measured: Vec<String>,
}

fn bundle_check(project: &crate::project::Project, apps: &[(App, bool)]) -> CheckResult {
    let started = Instant::now();
    let mut findings = Vec::new();
    let mut evidence = Vec::new();
    let mut blocking = 0usize;
    let mut advisory = 0usize;
    let mut measured_any = false;
    let mut skipped = Vec::new();
    for (app, succeeded) in apps {
        if !succeeded {
            skipped.push(format!("{}: the production build failed", app.dir));
            continue;
        }
        let Some((output, dir, _)) = output_dir(project, app) else {
            skipped.push(format!(
                "{}: no output directory ({})",
                app.dir,
                candidates(app)
            ));
            continue;
        };
        let mut files = bundle::measure(&app.path, &dir);
        if app.kind == Kind::Cargo {
            // target/release holds build intermediates too; the deliverables are the top-level
            // executables.
            files.retain(|f| {
                let name = f.path.rsplit('/').next().unwrap_or("");
                f.path.matches('/').count() == 2
                    && !name.contains('.')
                    && is_executable(&app.path.join(&f.path))
            });
        }
        measured_any = true;
        let mut budgets = match bundle::config_budgets(&project.config.build.budgets, &output) {
            Ok(b) => b,
            Err(e) => {
                return CheckResult::new(
                    CheckId::BuildBundleSize,
                    Status::Error,
                    format!(
                        "devops-agent.toml [build.budgets]: {}",
                        crate::error_chain::chain(&e)
                    ),
                );
            }
        };
        match bundle::ecosystem_budgets(&app.path) {
            Ok(b) => budgets.extend(b),
            Err(e) => {
                return CheckResult::new(
                    CheckId::BuildBundleSize,
                    Status::Error,
                    format!("{}: {}", app.dir, crate::error_chain::chain(&e)),
                );
            }
        }
        let own_budgets = !budgets.is_empty();
        if !own_budgets {
            budgets.push(bundle::default_budget(&output));
        }
        let (excess, unmatched) = bundle::evaluate(&files, &budgets);
        for e in &excess {
            let severity = if e.budget.advisory {
                Severity::Warning
            } else {
                Severity::Error
            };
            if e.budget.advisory {
                advisory += 1;
            } else {
                blocking += 1;
            }
            findings.push(
                Finding::new(
                    severity,
                    format!(
                        "{} is {} {}, over the {} budget from {}",
                        e.what,
                        bundle::show(e.size),
                        compression_name(e.budget.compression),
                        bundle::show(e.budget.limit),
                        e.budget.source
                    ),
                )
                .at(in_app(app, &e.what.replace("/**", "")), None, None),
            );
        }
        for source in &unmatched {
            if own_budgets {
                findings.push(Finding::new(
                    Severity::Warning,
                    format!("budget {source} matches no file of the build"),
                ));
            }
        }
        let mut largest = files.clone();
        largest.sort_by_key(|f| std::cmp::Reverse(f.raw));
        largest.truncate(10);
        evidence.push(json!({
            "app": app.dir,
            "output": output,
            "framework": app.framework.as_ref().map(|(_, e)| e),
            "files": files.len(),
            "total": {
                "raw": files.iter().map(|f| f.raw).sum::<u64>(),
                "gzip": files.iter().map(|f| f.gzip).sum::<Option<u64>>(),
                "brotli": files.iter().map(|f| f.brotli).sum::<Option<u64>>(),
            },
            "largest": largest,
            "budgets": budgets,
        }));
    }
    let (status, message) = if !measured_any {
        let reason = format!("nothing to measure: {}", skipped.join("; "));
        (
            Status::Skipped {
                reason: reason.clone(),
            },
            reason,
        )
    } else if blocking > 0 {
        (
            Status::Failed,
            format!("{blocking} size budget(s) exceeded"),
        )
    } else if advisory > 0 {
        (
            Status::Warning,
            format!(
                "{advisory} file(s) over the default 500 kB JavaScript chunk size; set budgets in devops-agent.toml, size-limit or bundlesize"
            ),
        )
    } else {
        (
            Status::Passed,
            "the build output is within its size budgets".to_owned(),
        )
    };
    let mut result = CheckResult::new(CheckId::BuildBundleSize, status, message)
        .with_findings(findings)
        .with_evidence(&BundleSizeEvidence {
            outputs: evidence,
            not_measured: skipped,
        });
    result.duration = started.elapsed();
    result.started = Some(started);
    result
}

fn compression_name(c: Compression) -> &'static str {
    match c {
        Compression::Raw => "raw",
        Compression::Gzip => "gzipped",
        Compression::Brotli => "brotli",
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    crate::fsread::stat(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// What `build.assets_generated` checked in the production build's output.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct AssetsEvidence {
    /// One entry per app checked: `app`, `output` (directory), `references` (assets referenced
    /// by the built HTML and manifest), `missing` (how many of them are missing or empty),
    /// `artifacts` (configured artifacts), `public_path` and `pages` (the built HTML read).
    pub(crate) outputs: Vec<serde_json::Value>,
    /// Apps not checked, as `dir: reason`.
    pub(crate) not_checked: Vec<String>,
}

fn assets_check(project: &crate::project::Project, apps: &[(App, bool)]) -> CheckResult {
    let started = Instant::now();
    let cfg = &project.config.build;
    let mut findings = Vec::new();
    let mut checked = 0usize;
    let mut inline_pages = 0usize;
    let mut skipped = Vec::new();
    let mut evidence = Vec::new();
    let mut unreadable: Vec<String> = Vec::new();
    // Every app's output, resolved: one app's output inside another's is checked as its own.
    let outputs: Vec<PathBuf> = apps
        .iter()
        .filter_map(|(app, _)| output_dir(project, app))
        .filter_map(|(_, dir, _)| std::fs::canonicalize(dir).ok())
        .collect();
    for (app, succeeded) in apps {
        if !succeeded {
            skipped.push(format!("{}: the production build failed", app.dir));
            continue;
        }
        let mut app_checked = 0usize;
        for artifact in &cfg.artifacts {
            app_checked += 1;
            let path = app.path.join(artifact);
            // Read under the project's confinement rule: `../../etc/passwd` or a symlink out is
            // refused (never looked at), a FIFO or device is not an artifact.
            if let Some(why) = crate::fsread::refusal(&project.root, &path) {
                findings.push(
                    Finding::new(
                        Severity::Error,
                        format!("artifact {artifact} is not checked: {why}"),
                    )
                    .at(in_app(app, artifact), None, None),
                );
                continue;
            }
            match crate::fsread::stat(&path) {
                Ok(m) if m.len() > 0 => {}
                Ok(_) => findings.push(
                    Finding::new(Severity::Error, format!("artifact {artifact} is empty")).at(
                        in_app(app, artifact),
                        None,
                        None,
                    ),
                ),
                // A directory artifact (`dist/`) must hold something.
                Err(crate::fsread::ReadError::Special("directory")) => {
                    if std::fs::read_dir(&path).map_or(true, |mut d| d.next().is_none()) {
                        findings.push(
                            Finding::new(
                                Severity::Error,
                                format!("artifact {artifact} is an empty directory"),
                            )
                            .at(in_app(app, artifact), None, None),
                        );
                    }
                }
                Err(e @ crate::fsread::ReadError::Special(_)) => findings.push(
                    Finding::new(Severity::Error, format!("artifact {artifact} is {e}")).at(
                        in_app(app, artifact),
                        None,
                        None,
                    ),
                ),
                Err(_) => findings.push(
                    Finding::new(
                        Severity::Error,
                        format!("artifact {artifact} was not generated"),
                    )
                    .at(in_app(app, artifact), None, None),
                ),
            }
        }
        let Some((output, dir, found)) = output_dir(project, app) else {
            if app_checked == 0 {
                skipped.push(format!(
                    "{}: no output directory ({})",
                    app.dir,
                    candidates(app)
                ));
            }
            checked += app_checked;
            continue;
        };
        let public_path = cfg
            .public_path
            .clone()
            .unwrap_or_else(|| found.public_path.clone());
        let mut pages: Vec<PathBuf> = found
            .pages
            .iter()
            .map(|p| app.path.join(p))
            .filter(|p| p.is_dir())
            .collect();
        if pages.is_empty() {
            pages.push(dir.clone());
        }
        let mut refs: Vec<assets::Reference> = Vec::new();
        for page_dir in &pages {
            let own = std::fs::canonicalize(&dir).ok();
            let others: Vec<PathBuf> = outputs
                .iter()
                .filter(|o| Some(*o) != own.as_ref())
                .cloned()
                .collect();
            let (found, unread) =
                assets::html_references(&app.path, page_dir, &dir, &public_path, &others);
            refs.extend(found);
            // Built HTML that could not be read: its references are unknown, so the check
            // cannot pass (and must not say there is no HTML).
            app_checked += unread.len();
            for why in unread {
                unreadable.push(format!("{}: {why}", app.dir));
                findings.push(Finding::new(Severity::Error, format!("cannot read {why}")));
            }
        }
        match assets::manifest_references(&app.path, &dir) {
            Ok(m) => refs.extend(m),
            Err(e) => findings.push(Finding::new(
                Severity::Error,
                format!(
                    "cannot read the Vite manifest: {}",
                    crate::error_chain::chain(&e)
                ),
            )),
        }
        let mut missing = 0usize;
        for r in &refs {
            // A reference that leaves the project (`../../etc/passwd`, a symlink out) is
            // refused, not looked up.
            let refused = crate::fsread::refusal(&project.root, &r.path);
            if let Some(why) = refused {
                missing += 1;
                findings.push(
                    Finding::new(
                        Severity::Error,
                        format!(
                            "{} references {}, which is not checked: {why}",
                            r.from, r.url
                        ),
                    )
                    .at(in_app(app, &r.from), r.line, None),
                );
                continue;
            }
            let ok = crate::fsread::stat(&r.path).is_ok_and(|m| m.len() > 0);
            if !ok {
                missing += 1;
                let rel = r
                    .path
                    .strip_prefix(&app.path)
                    .unwrap_or(&r.path)
                    .to_string_lossy()
                    .into_owned();
                findings.push(
                    Finding::new(
                        Severity::Error,
                        format!(
                            "{} references {} but {rel} is missing or empty",
                            r.from, r.url
                        ),
                    )
                    .at(in_app(app, &r.from), r.line, None),
                );
            }
        }
        app_checked += refs.len();
        checked += app_checked;
        evidence.push(json!({
            "app": app.dir,
            "output": output,
            "references": refs.len(),
            "missing": missing,
            "artifacts": cfg.artifacts,
            "public_path": public_path,
            "pages": pages
                .iter()
                .map(|p| p.strip_prefix(&app.path).unwrap_or(p).to_string_lossy().into_owned())
                .collect::<Vec<_>>(),
        }));
        // A page whose every asset is inlined (Astro and Vite inline small scripts and styles)
        // references nothing, and that is a correct build, not "no built HTML".
        let self_contained = app_checked == 0
            && pages
                .iter()
                .any(|p| crate::fsread::stat(&p.join("index.html")).is_ok_and(|m| m.len() > 0));
        if self_contained {
            inline_pages += 1;
        } else if app_checked == 0 {
            skipped.push(format!(
                "{}: no built HTML, Vite manifest or configured artifacts in {output}",
                app.dir
            ));
        }
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count()
        - unreadable.len();
    let (status, message) = if errors > 0 {
        (
            Status::Failed,
            format!("{errors} expected asset(s) missing or empty"),
        )
    } else if !unreadable.is_empty() {
        (
            Status::Error,
            format!("could not check the built HTML: {}", unreadable.join("; ")),
        )
    } else if checked == 0 && inline_pages > 0 {
        (
            Status::Passed,
            format!(
                "{inline_pages} built page(s) with every asset inline: nothing referenced is missing"
            ),
        )
    } else if checked == 0 {
        let reason = format!("nothing to check: {}", skipped.join("; "));
        (
            Status::Skipped {
                reason: reason.clone(),
            },
            reason,
        )
    } else {
        (
            Status::Passed,
            format!("all {checked} referenced and configured asset(s) exist and are non-empty"),
        )
    };
    let mut result = CheckResult::new(CheckId::BuildAssetsGenerated, status, message)
        .with_findings(findings)
        .with_evidence(&AssetsEvidence {
            outputs: evidence,
            not_checked: skipped,
        });
    result.duration = started.elapsed();
    result.started = Some(started);
    result
}
