//! Running the startup gate.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use super::early::Early;
use super::launch::{self, Ready, ServiceRun, Settings, Window};
use super::services::{self, Mode};
use super::{databases, env_vars, external};
use crate::check::{CheckId, CheckResult, Finding, GateId, GateResult, Severity, Status};
use crate::gates::{GateCtx, GateScope};
use crate::process::Ending;
use crate::report::{Event, EventSink};

const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_STABILITY: Duration = Duration::from_secs(1);
const DEFAULT_SAMPLES: u32 = 20;
/// The seed's alert table: p95 over 1 s is worth an alert.
const DEFAULT_P95: Duration = Duration::from_secs(1);

/// The settings of the mode runs: ready timeout, stability window, health samples.
pub(super) fn settings(ctx: &GateCtx) -> Settings {
    let cfg = &ctx.project.config.startup;
    Settings {
        ready_timeout: cfg
            .ready_timeout
            .unwrap_or(DEFAULT_READY_TIMEOUT)
            .min(ctx.timeout),
        stability: cfg.stability.unwrap_or(DEFAULT_STABILITY),
        samples: cfg.health_samples.unwrap_or(DEFAULT_SAMPLES),
    }
}

/// Whether `mode`'s services stay up after its check, for a later gate (integration) to
/// probe: the last mode that runs does.
pub(super) fn keeps(ctx: &GateCtx, services: &[services::Service], mode: Mode) -> bool {
    let last = mode == Mode::Prod
        || services.iter().all(|s| s.prod.is_none())
        || ctx.skipped(CheckId::StartupProdMode);
    ctx.keep_live && last
}

/// Run the six startup checks. `early` is the first mode's run the orchestrator started
/// alongside the build gate (its services that need no build output are already starting);
/// its check takes it over, or it is stopped if that check does not run.
pub async fn run(ctx: &GateCtx, sink: &EventSink, early: Option<Early<'_>>) -> GateResult {
    let scope = GateScope::begin(ctx, sink, GateId::Startup);

    scope
        .check(CheckId::StartupEnvVars, async {
            env_vars::check(&ctx.project)
        })
        .await;
    scope
        .check(CheckId::StartupDatabaseConnections, databases::check(ctx))
        .await;
    scope
        .check(CheckId::StartupExternalServices, external::check(ctx))
        .await;

    let cfg = &ctx.project.config.startup;
    let settings = settings(ctx);
    // The early run detected the same services (it needs a clean detection to start).
    let (services, errors) = if let Some(early) = &early {
        (early.services.clone(), Vec::new())
    } else {
        let decls = crate::gates::ports::collect(&ctx.project);
        services::detect(&ctx.project, &decls.ports)
    };
    let mut early = early;

    let mut all_runs: Vec<(Mode, Vec<ServiceRun>)> = Vec::new();
    for (mode, id) in [
        (Mode::Dev, CheckId::StartupDevMode),
        (Mode::Prod, CheckId::StartupProdMode),
    ] {
        scope
            .check(id, async {
                if services.iter().all(|s| s.launch(mode).is_none()) {
                    let reason = match errors.first() {
                        Some(e) => format!("cannot read {e}"),
                        None if services.is_empty() => "no service to start: no start command configured or detected (package.json dev/start scripts or server.js, Procfile web, a Python ASGI/WSGI app, Cargo binary, go.mod, Dockerfile CMD)".to_owned(),
                        None => {
                            let why: Vec<String> = services
                                .iter()
                                .filter_map(|s| {
                                    s.prod_skip.as_ref().map(|w| format!("{}: {w}", s.name))
                                })
                                .collect();
                            if mode == Mode::Prod && !why.is_empty() {
                                format!("no production server to start: {}", why.join("; "))
                            } else {
                                format!("no service has a {} start command", mode.name())
                            }
                        }
                    };
                    return if errors.is_empty() {
                        CheckResult::new(
                            id,
                            Status::Skipped {
                                reason: reason.clone(),
                            },
                            reason,
                        )
                    } else {
                        CheckResult::new(id, Status::Error, reason)
                    };
                }
                let runs = match early.take() {
                    Some(started) if started.mode == mode => started.finish().await,
                    other => {
                        early = other;
                        let keep = keeps(ctx, &services, mode);
                        launch::run_mode(ctx, sink, &services, mode, &settings, keep, None).await
                    }
                };
                let check = mode_check(id, mode, &runs, &services, settings.stability, ctx);
                record_environment(ctx, mode, &runs);
                all_runs.push((mode, runs));
                check
            })
            .await;
    }

    // Its check did not run (the run was cut short): stop what it started.
    if let Some(early) = early.take() {
        early.abandon().await;
    }

    scope
        .check(CheckId::StartupHealthChecks, async {
            health_check(&all_runs, cfg.health_p95.unwrap_or(DEFAULT_P95), ctx, sink)
        })
        .await;
    scope.finish()
}

fn url(run: &ServiceRun) -> Option<String> {
    match &run.ready {
        Ok(Ready::Http { addr, path, .. }) => Some(format!("http://{addr}{path}")),
        _ => None,
    }
}

fn mode_check(
    id: CheckId,
    mode: Mode,
    runs: &[ServiceRun],
    services: &[services::Service],
    window: Duration,
    ctx: &GateCtx,
) -> CheckResult {
    let redactor = ctx.project.env.redactor();
    let mut findings = Vec::new();
    let mut problems = Vec::new();
    let mut elsewhere = Vec::new();
    let mut cancelled = ctx.processes.cancelled();
    let mut evidence = Vec::new();
    let mut mechanism = None;
    for run in runs {
        let ending = run.finished.as_ref().map(|f| &f.ending);
        if let Some(Ending::Cancelled(reason)) = ending {
            cancelled = Some(*reason);
        }
        let stop = run.finished.as_ref().map(|f| &f.stop);
        if let Some(stop) = stop {
            mechanism = Some(stop.mechanism.as_str());
            if !stop.killed.is_empty() {
                findings.push(Finding::new(
                    Severity::Warning,
                    format!(
                        "{} ({}): {} ignored SIGTERM for the {} grace period and got SIGKILL",
                        run.name,
                        run.command,
                        crate::process::ProcInfo::list(&stop.killed),
                        humantime::format_duration(ctx.grace())
                    ),
                ));
            }
        }
        let tail = run
            .finished
            .as_ref()
            .map(|f| f.output.tail(&redactor))
            .unwrap_or_default();
        let survived = stop.map(|s| s.survived.as_slice()).unwrap_or_default();
        let problem = match (&run.ready, &run.crashed) {
            (Err(why), _) => Some(why.clone()),
            (Ok(_), Some(crash)) => Some(format!("crashed: {crash}")),
            (Ok(_), None) if !survived.is_empty() => Some(format!(
                "{} still running after SIGKILL: {}",
                if survived.len() == 1 {
                    "1 process"
                } else {
                    "processes"
                },
                crate::process::ProcInfo::list(survived)
            )),
            (Ok(_), None) if run.port_released == Some(false) => Some(format!(
                "port {} still held after it was stopped",
                run.port.unwrap_or(0)
            )),
            (Ok(_), None) => None,
        };
        if problem.is_none()
            && let Some(said) = run
                .finished
                .as_ref()
                .and_then(|f| unapplied_migrations(&f.output.text(&redactor)))
        {
            // Django's own warning at start: the app runs, and the pages that touch the
            // database fail until the schema is there.
            findings.push(Finding::new(
                Severity::Warning,
                format!(
                    "{} ({}): it printed \"{said}\": pages that use the database fail until the migrations are applied (`python manage.py migrate`)",
                    run.name, run.command
                ),
            ).suggest("python manage.py migrate"));
        }
        if let Some(p) = &problem {
            let lines = super::output::first_error_lines(&tail);
            let said = if lines.is_empty() {
                "(no output)".to_owned()
            } else {
                lines.join(" | ")
            };
            problems.push(format!("{}: {p}; output: {said}", run.name));
            findings.push(Finding::new(
                Severity::Error,
                format!("{} ({}): {p}; output: {said}", run.name, run.command),
            ));
        } else if let (Some(seen), Some(offered)) = (&run.elsewhere, run.offered) {
            let fix = match pinned_port_holder(run, offered) {
                // The command pins the port and the app moved on: the port was taken, and
                // "pass the port" would be the wrong advice.
                Some(holder) => format!(
                    "port {offered}, which the command pins, is held by {holder}, so the app moved to {}: free port {offered} or pin another{}",
                    seen.port,
                    if run.framework == Some("vite") {
                        " (with `--strictPort` Vite fails instead of moving)"
                    } else {
                        ""
                    }
                ),
                None => fix_for_port(run, services),
            };
            let text = format!(
                "{} listens on port {}, not on the port it was offered ({offered}, through {}): probed on {} (seen: {}); fix: {fix}",
                run.name, seen.port, run.port_passing, seen.port, seen.how
            );
            elsewhere.push(text.clone());
            findings.push(Finding::new(Severity::Warning, text).suggest(fix));
        }
        evidence.push(json!({
            "service": run.name,
            "command": run.command,
            "source": run.source,
            "port": run.port,
            "port_offered": run.offered,
            "port_variable": run.port_var,
            "port_passed_as": run.port_passing,
            "listened_elsewhere": run.elsewhere.as_ref().map(|s| json!({"port": s.port, "seen": s.how})),
            "framework": run.framework,
            "environment": run.environment,
            "http_answers_seen": run.statuses,
            "ready": run.ready.is_ok(),
            "ready_via": match &run.ready {
                Ok(Ready::Http { path, status, fallback: false, .. }) => format!("tcp + GET {path} {status}"),
                Ok(Ready::Http { path, status, fallback: true, .. }) => format!("tcp + GET {path} {status} (no health endpoint; below 500 means the app answers)"),
                Ok(Ready::Log) => "log line".to_owned(),
                Ok(Ready::Running) => "process stayed up (no port)".to_owned(),
                Err(_) => "not ready".to_owned(),
            },
            "url": url(run),
            "ready_ms": run.ready_ms,
            "ready_at": run.ready_at,
            "ending": ending.map(Ending::kind),
            "exit_code": match ending { Some(Ending::Exited(c)) => Some(*c), _ => None },
            "port_released": run.port_released,
            "stop": stop.map(crate::process::StopReport::evidence),
            "prod_build": run.prod_build,
            "started_alongside_build": run.alongside_build,
            "earlier_attempt": run.earlier_attempt,
            "output_tail": if problem.is_some() { tail } else { Vec::new() },
        }));
    }
    let (status, message) = if let Some(reason) = cancelled {
        crate::gates::cancelled_status(
            reason,
            &format!("starting in {} mode", mode.name()),
            ctx.timeout,
        )
    } else if problems.is_empty() && !elsewhere.is_empty() {
        (
            Status::Warning,
            format!("{} mode: {}", mode.name(), elsewhere.join("; ")),
        )
    } else if problems.is_empty() {
        let slowest = runs.iter().filter_map(|r| r.ready_ms).max().unwrap_or(0);
        // "Stopped cleanly" is what the stop verified: no process left, ports released.
        let stopped = match mechanism {
            Some(m) => format!("stopped cleanly (no process left: {m}; ports released)"),
            None => "left running for the integration gate".to_owned(),
        };
        let message = format!(
            "{} service(s) started in {} mode, ready within {slowest} ms, stayed up and {stopped}",
            runs.len(),
            mode.name()
        );
        if findings.is_empty() {
            (Status::Passed, message)
        } else {
            (
                Status::Warning,
                format!("{message}; {} warning(s)", findings.len()),
            )
        }
    } else {
        (
            Status::Failed,
            format!("{} mode: {}", mode.name(), problems.join("; ")),
        )
    };
    let not_started: Vec<serde_json::Value> = services
        .iter()
        .filter(|s| s.launch(mode).is_none())
        .map(|s| {
            json!({
                "service": s.name,
                "reason": match (mode, &s.prod_skip) {
                    (Mode::Prod, Some(why)) => why.clone(),
                    _ => format!("no {} start command", mode.name()),
                },
            })
        })
        .collect();
    // What the stability window cost this mode: the wait after every service's start and
    // health samples were done (the window runs alongside them), measured; null when no
    // service was held through one.
    let window_cost = Window::cost(runs.iter().filter_map(|r| r.window.as_ref()))
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    CheckResult::new(id, status, message)
        .with_findings(findings)
        .with_evidence(&StartEvidence {
            services: evidence,
            not_started,
            stability_window_configured_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            stability_window_ms: window_cost,
        })
}

/// Django's "You have 3 unapplied migration(s). Your project may not work properly until you
/// apply the migrations for app(s): auth, sessions." in what a service printed, as one line.
fn unapplied_migrations(output: &str) -> Option<String> {
    let text = crate::process::strip_ansi(output);
    let line = text
        .lines()
        .find(|l| l.contains("unapplied migration(s)"))?
        .trim();
    Some(crate::probe::http::clip(line))
}

/// What `startup.dev_mode` and `startup.prod_mode` measured: each service started, and those
/// with no start command in the mode.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct StartEvidence {
    /// One entry per service started: `service`, `command`, `source`, `port` (the one probed),
    /// `port_offered`, `port_variable`, `port_passed_as`, `listened_elsewhere` (`port`, `seen`),
    /// `framework`, `environment`, `http_answers_seen`, `ready`, `ready_via`, `url`,
    /// `ready_ms` (from spawn to ready), `ready_at`, `ending`, `exit_code`, `port_released`,
    /// `stop` (how the process group was stopped), `prod_build`, `started_alongside_build`
    /// (it needs no build output, so it started while the build gate ran),
    /// `earlier_attempt` (why such a start failed before the build ended and was made again
    /// after it) and `output_tail` (only when it failed). Null where not measured (no port, not stopped yet).
    pub(crate) services: Vec<serde_json::Value>,
    /// Services not started in this mode: `service`, `reason`.
    pub(crate) not_started: Vec<serde_json::Value>,
    /// The stability window each service must stay up through after it is ready, ms.
    pub(crate) stability_window_configured_ms: u64,
    /// What the window cost this mode: the wait after every service's start and health
    /// samples were done (it runs alongside them), ms; null when no service was held through
    /// one.
    pub(crate) stability_window_ms: Option<u64>,
}

/// Who holds `port` when the service's command pins it (`vite --port 3333`): a process named
/// by its program and pid from `/proc` (never its arguments), or "another process".
fn pinned_port_holder(run: &ServiceRun, port: u16) -> Option<String> {
    if !run.port_passing.starts_with("pinned by the command") {
        return None;
    }
    let inodes: std::collections::BTreeSet<u64> =
        crate::probe::listeners(&[crate::probe::Proto::Tcp])
            .into_iter()
            .filter(|l| l.port == port)
            .map(|l| l.inode)
            .collect();
    if inodes.is_empty() {
        return None;
    }
    Some(crate::probe::owners(&inodes).values().next().map_or_else(
        || "another process".to_owned(),
        |o| {
            let program = o.command.split_whitespace().next().unwrap_or_default();
            let name = program.rsplit('/').next().unwrap_or(program);
            format!("{name} (pid {})", o.pid)
        },
    ))
}

/// How to make a service listen where it is told: the framework's own way.
fn fix_for_port(run: &ServiceRun, services: &[services::Service]) -> String {
    let var = run.port_var.as_deref().unwrap_or("PORT");
    let framework = services
        .iter()
        .find(|s| s.name == run.name)
        .and_then(|s| s.framework)
        .or_else(|| run.framework.and_then(crate::framework::by_id));
    match framework.and_then(|f| f.commands.first().map(|c| (f, c.port))) {
        Some((f, crate::framework::PortStyle::Flag { flag, extra })) => format!(
            "{} ignores {var}: start it with `{flag} ${var}{}` (or pin the port in its config)",
            f.name,
            extra.iter().fold(String::new(), |mut out, e| {
                out.push(' ');
                out.push_str(e);
                out
            })
        ),
        Some((f, crate::framework::PortStyle::Bind(flag))) => {
            format!("start {} with `{flag} 0.0.0.0:${var}`", f.name)
        }
        Some((f, crate::framework::PortStyle::Positional)) => {
            format!("start {} with the address `0.0.0.0:${var}`", f.name)
        }
        Some((_, crate::framework::PortStyle::Env(_))) | None => {
            format!("listen on the port in the {var} environment variable")
        }
    }
}

fn record_environment(ctx: &GateCtx, mode: Mode, runs: &[ServiceRun]) {
    let healthy = runs.iter().all(|r| r.ready.is_ok() && r.crashed.is_none());
    let url = runs.iter().find_map(url);
    ctx.record(|f| {
        f.environments.insert(
            mode.name().to_owned(),
            (
                (if healthy { "healthy" } else { "unhealthy" }).to_owned(),
                url,
            ),
        );
    });
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index from a rank within the slice length"
    )]
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn health_check(
    all_runs: &[(Mode, Vec<ServiceRun>)],
    p95_limit: Duration,
    ctx: &GateCtx,
    sink: &EventSink,
) -> CheckResult {
    let limit_ms = p95_limit.as_secs_f64() * 1000.0;
    let mut findings = Vec::new();
    let mut evidence = Vec::new();
    let mut endpoints = 0;
    let mut failing = 0;
    // Endpoints where `/` stood in for a missing health endpoint, and the statuses other
    // than 2xx they answered: the message must not claim a 2xx it never saw.
    let mut stand_ins = 0;
    let mut stand_in_statuses = std::collections::BTreeSet::new();
    for (mode, runs) in all_runs {
        let mut names = Vec::new();
        let mut mode_ok = true;
        for run in runs {
            if run.samples.is_empty() {
                continue;
            }
            endpoints += 1;
            names.push(run.name.clone());
            // A real health endpoint must answer 2xx; `/` standing in for one only has to
            // answer (a redirect to a login page is the app working).
            let fallback = matches!(run.ready, Ok(Ready::Http { fallback: true, .. }));
            let good = |c: u16| {
                if fallback {
                    c < 500
                } else {
                    (200..300).contains(&c)
                }
            };
            let mut ok: Vec<f64> = run
                .samples
                .iter()
                .filter(|s| s.status.is_some_and(good))
                .map(|s| s.ms)
                .collect();
            ok.sort_by(f64::total_cmp);
            let bad = run.samples.len() - ok.len();
            if fallback {
                stand_ins += 1;
                stand_in_statuses.extend(
                    run.samples
                        .iter()
                        .filter_map(|s| s.status)
                        .filter(|c| good(*c) && !(200..300).contains(c)),
                );
            }
            let p50 = percentile(&ok, 50.0);
            let p95 = percentile(&ok, 95.0);
            let max = ok.last().copied().unwrap_or(0.0);
            #[expect(clippy::cast_precision_loss, reason = "a sample count")]
            let avg = if ok.is_empty() {
                0.0
            } else {
                ok.iter().sum::<f64>() / ok.len() as f64
            };
            let endpoint = url(run).unwrap_or_default();
            let requests = u32::try_from(run.samples.len()).unwrap_or(u32::MAX);
            let failed_requests = u32::try_from(bad).unwrap_or(u32::MAX);
            ctx.record(|f| {
                f.latencies_ms.extend(ok.iter().copied());
                f.requests += requests;
                f.failed_requests += failed_requests;
            });
            if bad > 0 {
                mode_ok = false;
                let first = run.samples.iter().find(|s| !s.status.is_some_and(good));
                let what = first.map_or_else(String::new, |s| match (&s.error, s.status) {
                    (Some(e), _) => e.clone(),
                    (None, Some(c)) => format!("status {c}"),
                    (None, None) => String::new(),
                });
                findings.push(Finding::new(
                    Severity::Error,
                    format!(
                        "{} ({}) {endpoint}: {bad} of {} requests failed ({what})",
                        run.name,
                        mode.name(),
                        run.samples.len()
                    ),
                ));
            } else if p95 > limit_ms {
                mode_ok = false;
                findings.push(Finding::new(
                    Severity::Error,
                    format!(
                        "{} ({}) {endpoint}: p95 {:.1} ms is over the {:.0} ms threshold",
                        run.name,
                        mode.name(),
                        p95,
                        limit_ms
                    ),
                ));
                ctx.record(|f| {
                    f.alerts.push(format!(
                        "{} health p95 {p95:.0} ms > {limit_ms:.0} ms",
                        run.name
                    ));
                });
            }
            if !mode_ok {
                failing += 1;
            }
            evidence.push(HealthEndpoint {
                service: run.name.clone(),
                mode: mode.name(),
                endpoint,
                rule: if fallback {
                    "any status below 500 (/ stands in for a health endpoint)"
                } else {
                    "2xx"
                },
                samples: run.samples.len(),
                // Each successful sample's latency in request order: the distribution behind
                // the percentiles (the HTML report draws it).
                samples_ms: run
                    .samples
                    .iter()
                    .filter(|s| s.status.is_some_and(good))
                    .map(|s| round(s.ms))
                    .collect(),
                failed: bad,
                p50_ms: (!ok.is_empty()).then(|| round(p50)),
                p95_ms: (!ok.is_empty()).then(|| round(p95)),
                max_ms: (!ok.is_empty()).then(|| round(max)),
                avg_ms: (!ok.is_empty()).then(|| round(avg)),
            });
        }
        if !names.is_empty() {
            sink.emit(&Event::HealthCheck {
                status: if mode_ok { "passing" } else { "failing" }.to_owned(),
                services: names,
                mode: mode.name().to_owned(),
            });
        }
    }
    let (status, message) = if endpoints == 0 {
        let reason = "no health endpoint to sample: no service became ready over HTTP".to_owned();
        (
            Status::Skipped {
                reason: reason.clone(),
            },
            reason,
        )
    } else if failing > 0 {
        (
            Status::Failed,
            format!("{failing} of {endpoints} health endpoint(s) failing or slow"),
        )
    } else if stand_ins == 0 {
        (
            Status::Passed,
            format!(
                "{endpoints} health endpoint(s) answered 2xx on every sample, p95 under {limit_ms:.0} ms"
            ),
        )
    } else {
        let answered = if stand_in_statuses.is_empty() {
            "it answered 2xx".to_owned()
        } else {
            let codes: Vec<String> = stand_in_statuses.iter().map(u16::to_string).collect();
            format!("it answered {}", codes.join(", "))
        };
        (
            Status::Passed,
            format!(
                "{endpoints} endpoint(s) answered every sample, p95 under {limit_ms:.0} ms; {stand_ins} of them with no health endpoint: / stood in, where any status below 500 counts ({answered}) — add a health endpoint that answers 2xx, or set [services.NAME] health"
            ),
        )
    };
    CheckResult::new(CheckId::StartupHealthChecks, status, message)
        .with_findings(findings)
        .with_evidence(&HealthChecksEvidence {
            endpoints: evidence,
            p95_threshold_ms: round(limit_ms),
        })
}

/// What `startup.health_checks` measured: repeated requests to each ready service's health
/// endpoint.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct HealthChecksEvidence {
    /// One entry per service and mode sampled.
    pub(crate) endpoints: Vec<HealthEndpoint>,
    /// The p95 latency an endpoint must stay under, in milliseconds.
    pub(crate) p95_threshold_ms: f64,
}

/// The samples of one health endpoint.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct HealthEndpoint {
    /// The service's name.
    pub(crate) service: String,
    /// `development` or `production`.
    pub(crate) mode: &'static str,
    /// The URL requested.
    pub(crate) endpoint: String,
    /// Which statuses count as healthy.
    pub(crate) rule: &'static str,
    /// Requests sent.
    pub(crate) samples: usize,
    /// Each healthy answer's latency in milliseconds, in request order.
    pub(crate) samples_ms: Vec<f64>,
    /// Requests that failed or answered an unhealthy status.
    pub(crate) failed: usize,
    /// Median latency of the healthy answers, ms; null when none was healthy.
    pub(crate) p50_ms: Option<f64>,
    /// 95th percentile latency of the healthy answers, ms; null when none was healthy.
    pub(crate) p95_ms: Option<f64>,
    /// Slowest healthy answer, ms; null when none was healthy.
    pub(crate) max_ms: Option<f64>,
    /// Mean latency of the healthy answers, ms; null when none was healthy.
    pub(crate) avg_ms: Option<f64>,
}

/// Start the app for the integration gate when the startup gate did not run in this
/// invocation (`devops-agent integration`): production mode when it has services, else
/// development, left running in `ctx.live`. Returns why nothing could be started.
pub async fn start_live(ctx: &GateCtx, sink: &EventSink) -> Result<(), String> {
    let settings = Settings {
        samples: 0,
        ..settings(ctx)
    };
    let decls = crate::gates::ports::collect(&ctx.project);
    let (services, errors) = services::detect(&ctx.project, &decls.ports);
    if let Some(e) = errors.first() {
        return Err(format!("cannot read {e}"));
    }
    let mode = if ctx.env == Some(crate::cli::EnvMode::Dev) {
        Mode::Dev
    } else if services.iter().any(|s| s.prod.is_some()) {
        Mode::Prod
    } else if services.iter().any(|s| s.dev.is_some()) {
        Mode::Dev
    } else {
        return Err("no service to start: no start command configured or detected".to_owned());
    };
    let runs = launch::run_mode(ctx, sink, &services, mode, &settings, true, None).await;
    let problems: Vec<String> = runs
        .iter()
        .filter_map(|r| match (&r.ready, &r.crashed) {
            (Err(why), _) => Some(format!("{}: {why}", r.name)),
            (Ok(_), Some(c)) => Some(format!("{}: crashed: {c}", r.name)),
            (Ok(_), None) => None,
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the app did not start in {} mode: {}",
            mode.name(),
            problems.join("; ")
        ))
    }
}
