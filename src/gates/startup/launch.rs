//! Starting one mode's services, waiting until each is ready, holding them through a stability
//! window, sampling their health, and stopping them with their whole process trees.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::discover::{self, Seen};
use super::services::{Mode, Service, levels, pick_port};
use crate::gates::GateCtx;
use crate::probe::ready::{Backoff, HEALTH_CANDIDATES, http_status, tcp_connect};
use crate::process::{CommandSpec, Ending, Finished, Running};
use crate::report::{Event, EventSink};

/// How a service became ready.
#[derive(Debug, Clone)]
pub(crate) enum Ready {
    /// Its port accepted and its health endpoint answered 2xx — or, with no health endpoint,
    /// `/` answered below 500 (`fallback`: a redirect to a login page or a 401 means the app
    /// is up).
    Http {
        addr: SocketAddr,
        path: String,
        status: u16,
        fallback: bool,
    },
    /// A configured log line appeared.
    Log,
    /// No port is known: it stayed up.
    Running,
}

/// What happened to one service in one mode.
#[derive(Debug)]
pub(crate) struct ServiceRun {
    pub(crate) name: String,
    pub(crate) command: String,
    pub(crate) source: String,
    /// The port it was probed on: where it listens (the offered one unless it listened
    /// elsewhere).
    pub(crate) port: Option<u16>,
    /// The port it was offered.
    pub(crate) offered: Option<u16>,
    pub(crate) port_var: Option<String>,
    /// How the port was passed (`--port 41234 --strictPort (Vite's flag)`, `environment PORT`).
    pub(crate) port_passing: String,
    /// Set when it listened somewhere else than offered: where, and how that was seen.
    pub(crate) elsewhere: Option<Seen>,
    /// The framework the catalogue recognised (`vite`).
    pub(crate) framework: Option<&'static str>,
    /// What was put before `PATH` (virtualenv, `node_modules/.bin`).
    pub(crate) environment: String,
    /// HTTP answers seen while waiting (`/health 404`, `/ 302`), the last round.
    pub(crate) statuses: Vec<String>,
    pub(crate) ready: Result<Ready, String>,
    pub(crate) ready_ms: Option<u64>,
    /// Wall-clock time readiness was seen (RFC 3339, ms).
    pub(crate) ready_at: Option<String>,
    /// Set when it died after being ready (during the stability window or sampling).
    pub(crate) crashed: Option<String>,
    pub(crate) samples: Vec<Sample>,
    pub(crate) finished: Option<Finished>,
    /// After the stop: whether nothing listens on its port any more.
    pub(crate) port_released: Option<bool>,
    /// What was done to have a production build before a production start.
    pub(crate) prod_build: Option<String>,
    /// How its stability window went, once it was held through one.
    pub(crate) window: Option<Window>,
    /// It started before the startup gate reached its mode: alongside the build gate, as it
    /// needs no build output (see [`Phase`]).
    pub(crate) alongside_build: bool,
    /// Why its start alongside the build was not kept (it failed before the build ended, so
    /// it was started again after the build, as it would have been without the overlap).
    pub(crate) earlier_attempt: Option<String>,
}

/// Where the build gate is, for a mode run started alongside it (the first mode's services
/// that need no build output start while the builds run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The build gate runs: only services that need no build output start.
    Building,
    /// The build gate ended at this moment; the startup gate has not reached the mode yet.
    Built(Instant),
    /// The mode's check began (the build gate ended at the moment given): every service may
    /// start.
    Go(Instant),
    /// The startup gate does not run (the build failed, or the run was cut short): nothing
    /// more starts, and what did is stopped.
    Cancel,
}

/// A mode run started alongside the build gate: the phase it follows, and which services
/// wait for the build.
#[derive(Debug)]
pub(crate) struct Alongside {
    pub(crate) phase: tokio::sync::watch::Receiver<Phase>,
    /// Names of the services that may need the build's output.
    pub(crate) needs_build: Vec<String>,
}

/// Resolves once the phase is [`Phase::Cancel`]; never without a phase to follow.
async fn abandoned(phase: Option<tokio::sync::watch::Receiver<Phase>>) {
    if let Some(mut phase) = phase
        && phase.wait_for(|p| *p == Phase::Cancel).await.is_ok()
    {
        return;
    }
    std::future::pending::<()>().await;
}

/// One service's stability window, which starts when the service was seen ready and runs
/// alongside its health samples and the other services' starts instead of after them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// When its health samples were done: its last work apart from the window.
    pub(crate) sampled: Instant,
    /// When the window was over (or the process exited, or the run was cancelled).
    pub(crate) ended: Instant,
}

impl Window {
    /// What the windows of one mode cost: how long after the last of its services' other work
    /// (start, readiness, health samples) the mode waited only for a window to pass. `None`
    /// when no service was held through one.
    pub(crate) fn cost<'a>(windows: impl IntoIterator<Item = &'a Window>) -> Option<Duration> {
        let (sampled, ended) = windows.into_iter().fold(None, |acc, w| match acc {
            None => Some((w.sampled, w.ended)),
            Some((s, e)) => Some((w.sampled.max(s), w.ended.max(e))),
        })?;
        Some(ended.saturating_duration_since(sampled))
    }
}

/// What a task of [`run_mode`] hands back.
enum Step {
    /// A service's start ended: ready (with the moment it was seen ready), or not.
    Started(usize, ServiceRun, Option<Running>, Instant),
    /// A ready service was held through its window and sampled.
    Held(usize, ServiceRun, Running),
}

/// One health request.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) status: Option<u16>,
    pub(crate) ms: f64,
    pub(crate) error: Option<String>,
}

/// Settings of a mode run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) ready_timeout: Duration,
    pub(crate) stability: Duration,
    pub(crate) samples: u32,
}

/// Run every service that has a start command for `mode`. With `alongside`, the run starts
/// while the build gate runs: only the services that need no build output start until the
/// phase is [`Phase::Go`]; one of them that fails before the build ended is started again
/// after it (the failure may be the build's doing: a server reading the frontend's `dist/`
/// while it is rebuilt); on [`Phase::Cancel`] everything started is stopped.
pub(crate) async fn run_mode(
    ctx: &GateCtx,
    sink: &EventSink,
    services: &[Service],
    mode: Mode,
    settings: &Settings,
    keep: bool,
    mut alongside: Option<Alongside>,
) -> Vec<ServiceRun> {
    let chosen: Vec<&Service> = services
        .iter()
        .filter(|s| s.launch(mode).is_some())
        .collect();
    // Ports first, so every service learns every other service's port (a frontend proxying
    // to its backend reads BACKEND_PORT).
    let mut taken = Vec::new();
    let mut ports: BTreeMap<String, u16> = BTreeMap::new();
    for s in &chosen {
        // A port the command pins is where the app will listen, free or not.
        let pinned = s
            .launch(mode)
            .and_then(|l| l.server.as_ref())
            .and_then(|srv| srv.pinned);
        if let Some(p) = pinned.or_else(|| pick_port(s.port_preferred, &taken)) {
            taken.push(p);
            ports.insert(s.name.clone(), p);
        }
    }
    let mut shared_env: BTreeMap<String, String> = ctx
        .project
        .env
        .pairs()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for s in &chosen {
        if let (Some(var), Some(port)) = (&s.port_var, ports.get(&s.name))
            && var != "PORT"
        {
            shared_env.insert(var.clone(), port.to_string());
        }
    }

    let owned: Vec<Service> = chosen.iter().map(|s| (*s).clone()).collect();
    let after = start_after(&owned);
    let mut runs: Vec<Option<(ServiceRun, Option<Running>)>> =
        (0..owned.len()).map(|_| None).collect();
    // Started, or decided not to start: nothing more to schedule for it.
    let mut launched = vec![false; owned.len()];
    // Its readiness is known (ready, or not): the services after it may be decided.
    let mut settled = vec![false; owned.len()];
    // Started before the mode's check began (alongside the build), and why a failed such
    // start was dropped (it starts again once, after the build).
    let mut early = vec![false; owned.len()];
    let mut earlier: Vec<Option<String>> = vec![None; owned.len()];
    let waits_for_build: Vec<bool> = owned
        .iter()
        .map(|s| {
            alongside
                .as_ref()
                .is_some_and(|a| a.needs_build.contains(&s.name))
        })
        .collect();
    let redactor = ctx.project.env.redactor();
    let mut tasks: tokio::task::JoinSet<Step> = tokio::task::JoinSet::new();
    loop {
        // Without a build gate alongside, every service may start.
        let phase = alongside
            .as_ref()
            .map_or(Phase::Go(Instant::now()), |a| *a.phase.borrow());
        let building = matches!(phase, Phase::Building | Phase::Built(_));
        // Every service whose own dependencies have settled starts now (or is not started
        // because one of them is not ready), without waiting for unrelated services: a
        // backend does not wait for the frontend's readiness, nor any service for another's
        // stability window, nor for a build whose output it does not need.
        for i in 0..owned.len() {
            if launched[i] || !after[i].iter().all(|&j| settled[j]) {
                continue;
            }
            if phase == Phase::Cancel || (building && (waits_for_build[i] || earlier[i].is_some()))
            {
                continue;
            }
            launched[i] = true;
            early[i] = building;
            let service = owned[i].clone();
            let failed_dep = service.depends_on.iter().find(|d| {
                owned.iter().position(|s| &s.name == *d).is_some_and(|j| {
                    runs[j]
                        .as_ref()
                        .is_some_and(|(r, _)| r.ready.is_err() || r.crashed.is_some())
                })
            });
            let Some(launch) = service.launch(mode).cloned() else {
                settled[i] = true;
                continue;
            };
            let port = ports.get(&service.name).copied();
            let (command, port_passing) = launch.with_port(port, service.port_var.as_deref());
            let mut run = ServiceRun {
                name: service.name.clone(),
                command: redactor.redact(&command),
                source: launch.source.clone(),
                port,
                offered: port,
                port_var: service.port_var.clone(),
                port_passing,
                elsewhere: None,
                framework: launch
                    .server
                    .as_ref()
                    .map(|s| s.framework.id)
                    .or(service.framework.map(|f| f.id)),
                environment: service.run_env.describe(),
                statuses: Vec::new(),
                ready: Err(String::new()),
                ready_ms: None,
                ready_at: None,
                crashed: None,
                samples: Vec::new(),
                finished: None,
                port_released: None,
                prod_build: None,
                window: None,
                alongside_build: building,
                earlier_attempt: earlier[i].clone(),
            };
            if let Some(dep) = failed_dep {
                run.ready = Err(format!(
                    "not started: {dep}, which it depends on, is not ready"
                ));
                runs[i] = Some((run, None));
                settled[i] = true;
                continue;
            }
            if mode == Mode::Prod {
                run.prod_build = super::prod_build::ensure(ctx, &service).await.describe();
            }
            let mut env = shared_env.clone();
            env.extend(launch.env.clone());
            env.extend(service.environment.clone());
            if let Some(p) = port {
                env.insert("PORT".to_owned(), p.to_string());
                if let Some(var) = &service.port_var {
                    env.insert(var.clone(), p.to_string());
                }
            }
            service.run_env.apply(&mut env);
            let spec = CommandSpec {
                label: format!("{} {}", mode.name(), service.name),
                command,
                cwd: service.path.clone(),
                env,
                timeout: settings.ready_timeout,
                grace: ctx.grace(),
            };
            sink.emit(&Event::CommandStarted {
                gate: "startup".to_owned(),
                purpose: format!("{} {}", mode.name(), service.name),
                command: run.command.clone(),
                cwd: service.dir.clone(),
            });
            let processes = ctx.processes.clone();
            let timeout = settings.ready_timeout;
            let markers: &'static [&'static str] = launch
                .server
                .as_ref()
                .map_or(&[], |s| s.framework.url_markers);
            let cancel = alongside.as_ref().map(|a| a.phase.clone());
            tasks.spawn(async move {
                let started = Instant::now();
                match Running::spawn(&spec, &processes) {
                    Err(ending) => {
                        run.ready = Err(ending.describe(timeout));
                        Step::Started(i, run, None, Instant::now())
                    }
                    Ok(mut running) => {
                        let waited = tokio::select! {
                            waited = wait_ready(&mut running, &service, port, markers, timeout) => waited,
                            () = abandoned(cancel) => Waited {
                                ready: Err("not started: the startup gate does not run".to_owned()),
                                elsewhere: None,
                                statuses: Vec::new(),
                            },
                        };
                        run.ready = waited.ready;
                        run.statuses = waited.statuses;
                        if let Some(seen) = waited.elsewhere {
                            run.port = Some(seen.port);
                            run.elsewhere = Some(seen);
                        }
                        if run.ready.is_ok() {
                            run.ready_at = Some(crate::report::now_rfc3339());
                            run.ready_ms = Some(ms(started.elapsed()));
                        }
                        Step::Started(i, run, Some(running), Instant::now())
                    }
                }
            });
        }
        let joined = if tasks.is_empty() {
            // Nothing runs: done, unless services still wait for the build.
            match alongside.as_mut() {
                Some(a) if building => {
                    if a.phase.changed().await.is_err() {
                        break;
                    }
                    continue;
                }
                _ => break,
            }
        } else {
            let phase_change = async {
                match alongside.as_mut() {
                    Some(a) if phase != Phase::Cancel && !matches!(phase, Phase::Go(_)) => {
                        if a.phase.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                    _ => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                joined = tasks.join_next() => joined,
                () = phase_change => continue,
            }
        };
        let Some(joined) = joined else {
            break;
        };
        // A task only fails to join when it panicked; its service then has no result, as
        // before, and nothing waits for it.
        let Ok(step) = joined else {
            continue;
        };
        // A start alongside the build that failed before the build ended is dropped and
        // made again after the build, once.
        let phase = alongside
            .as_ref()
            .map_or(Phase::Go(Instant::now()), |a| *a.phase.borrow());
        let built_at = match phase {
            Phase::Building => None,
            Phase::Built(at) | Phase::Go(at) => Some(at),
            Phase::Cancel => Some(Instant::now()),
        };
        let failed_early = |i: usize, run: &ServiceRun, at: Instant| {
            early[i]
                && earlier[i].is_none()
                && phase != Phase::Cancel
                && ctx.processes.cancelled().is_none()
                && built_at.is_none_or(|b| at <= b)
                && (run.ready.is_err() || run.crashed.is_some())
        };
        match step {
            Step::Started(i, run, running, seen_ready) if failed_early(i, &run, seen_ready) => {
                earlier[i] = Some(drop_attempt(ctx, sink, mode, &run, running).await);
                launched[i] = false;
            }
            Step::Held(i, run, running)
                if failed_early(i, &run, run.window.map_or_else(Instant::now, |w| w.ended)) =>
            {
                earlier[i] = Some(drop_attempt(ctx, sink, mode, &run, Some(running)).await);
                launched[i] = false;
                settled[i] = false;
            }
            Step::Started(i, run, running, seen_ready) => {
                settled[i] = true;
                if let (Ok(ready), Some(at)) = (&run.ready, &run.ready_at) {
                    sink.emit(&Event::ServiceReady {
                        service: run.name.clone(),
                        mode: mode.name().to_owned(),
                        port: run.port,
                        url: match ready {
                            Ready::Http { addr, path, .. } => Some(format!("http://{addr}{path}")),
                            Ready::Log | Ready::Running => None,
                        },
                        ready_at: at.clone(),
                        ready_ms: run.ready_ms.unwrap_or(0),
                    });
                }
                match (run.ready.is_ok(), running) {
                    (true, Some(running)) => {
                        tasks.spawn(hold(
                            i,
                            run,
                            running,
                            seen_ready,
                            *settings,
                            ctx.processes.clone(),
                            alongside.as_ref().map(|a| a.phase.clone()),
                        ));
                    }
                    (_, running) => runs[i] = Some((run, running)),
                }
            }
            Step::Held(i, run, running) => runs[i] = Some((run, Some(running))),
        }
    }
    let cancelled = alongside
        .as_ref()
        .is_some_and(|a| *a.phase.borrow() == Phase::Cancel);

    // Hand a healthy stack to the integration gate instead of stopping it.
    let healthy = runs
        .iter()
        .flatten()
        .all(|(r, running)| r.ready.is_ok() && r.crashed.is_none() && running.is_some());
    if keep && healthy && !cancelled && ctx.processes.cancelled().is_none() {
        let mut live = crate::gates::LiveStack {
            mode: mode.name().to_owned(),
            services: Vec::new(),
            running: Vec::new(),
        };
        let mut out = Vec::new();
        for (i, slot) in runs.into_iter().enumerate() {
            let Some((run, running)) = slot else {
                continue;
            };
            live.services.push(crate::gates::LiveService {
                name: run.name.clone(),
                dir: owned[i].dir.clone(),
                port: run.port,
                base_url: match &run.ready {
                    Ok(Ready::Http { addr, .. }) => Some(format!("http://{addr}")),
                    _ => run.port.map(|p| format!("http://127.0.0.1:{p}")),
                },
                // `/` answering a redirect says the app is up, not that it has a health path.
                health_path: match &run.ready {
                    Ok(Ready::Http {
                        path,
                        fallback: false,
                        ..
                    }) => Some(path.clone()),
                    _ => None,
                },
            });
            if let Some(running) = running {
                live.running.push(crate::gates::LiveProcess {
                    purpose: format!("{} {}", mode.name(), run.name),
                    command: run.command.clone(),
                    running,
                });
            }
            out.push(run);
        }
        *ctx.live.lock().await = Some(live);
        return out;
    }

    // Stop in reverse start order, then confirm the ports are free again.
    let mut out = Vec::new();
    for slot in runs.into_iter().rev().flatten() {
        let (mut run, running) = slot;
        if let Some(running) = running {
            let finished = running.stop(ctx.grace(), Ending::Stopped).await;
            sink.emit(&Event::CommandFinished {
                gate: "startup".to_owned(),
                purpose: format!("{} {}", mode.name(), run.name),
                command: run.command.clone(),
                ending: finished.ending.kind().to_owned(),
                exit_code: match finished.ending {
                    Ending::Exited(c) => Some(c),
                    _ => None,
                },
                duration_ms: ms(finished.duration),
            });
            run.finished = Some(finished);
            if let Some(port) = run.port {
                run.port_released = Some(released(port).await);
            }
        }
        out.push(run);
    }
    out.reverse();
    out
}

/// Stop a dropped start alongside the build (see [`run_mode`]) and emit its
/// `command_finished`; why it was dropped, for the evidence of the start that replaces it.
async fn drop_attempt(
    ctx: &GateCtx,
    sink: &EventSink,
    mode: Mode,
    run: &ServiceRun,
    running: Option<Running>,
) -> String {
    if let Some(running) = running {
        let finished = running.stop(ctx.grace(), Ending::Stopped).await;
        sink.emit(&Event::CommandFinished {
            gate: "startup".to_owned(),
            purpose: format!("{} {}", mode.name(), run.name),
            command: run.command.clone(),
            ending: finished.ending.kind().to_owned(),
            exit_code: match finished.ending {
                Ending::Exited(c) => Some(c),
                _ => None,
            },
            duration_ms: ms(finished.duration),
        });
    }
    let why = match (&run.ready, &run.crashed) {
        (Err(why), _) => why.clone(),
        (Ok(_), Some(crash)) => format!("crashed: {crash}"),
        (Ok(_), None) => String::new(),
    };
    format!(
        "started alongside the build, it failed before the build ended ({why}); started again after the build"
    )
}

/// The services each one starts after, by index: its dependencies; for a service whose
/// dependencies are unknown or circular, every service that is not (they start last, as the
/// caller reports).
fn start_after(services: &[Service]) -> Vec<Vec<usize>> {
    let (levels, unresolved) = levels(services);
    let rest: Vec<usize> = if unresolved.is_empty() {
        Vec::new()
    } else {
        levels.last().cloned().unwrap_or_default()
    };
    (0..services.len())
        .map(|i| {
            if rest.contains(&i) {
                (0..services.len()).filter(|j| !rest.contains(j)).collect()
            } else {
                services[i]
                    .depends_on
                    .iter()
                    .filter_map(|d| services.iter().position(|s| &s.name == d))
                    .collect()
            }
        })
        .collect()
}

/// Hold a ready service through its stability window while its health is sampled: the window
/// starts when it was seen ready and ends no sooner than the samples. A process that exits
/// meanwhile has crashed (a run being cancelled is not a crash); its samples are dropped, as the
/// crash is what the mode check reports.
async fn hold(
    i: usize,
    mut run: ServiceRun,
    mut running: Running,
    ready: Instant,
    settings: Settings,
    processes: crate::process::Processes,
    cancel: Option<tokio::sync::watch::Receiver<Phase>>,
) -> Step {
    let window = settings.stability;
    let deadline = ready + window;
    let target = match &run.ready {
        Ok(Ready::Http { addr, path, .. }) => Some((*addr, path.clone())),
        _ => None,
    };
    let sampling = take_samples(target, settings.samples, processes);
    tokio::pin!(sampling);
    let abandon = abandoned(cancel);
    tokio::pin!(abandon);
    let mut taken: Option<(Vec<Sample>, Instant)> = None;
    let mut exited: Option<(Ending, Instant)> = None;
    while taken.is_none() || Instant::now() < deadline {
        // While samples are still being taken, only an exit ends the wait.
        let limit = taken.as_ref().map(|_| {
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        });
        tokio::select! {
            samples = &mut sampling, if taken.is_none() => taken = Some((samples, Instant::now())),
            () = &mut abandon => break,
            ending = running.wait(limit) => match ending {
                Ending::TimedOut => {}
                Ending::Cancelled(_) => break,
                ending => {
                    exited = Some((ending, Instant::now()));
                    break;
                }
            },
        }
    }
    // Still up at the end (with a zero window, this is the only look).
    if exited.is_none() {
        match running.wait(Some(Duration::from_millis(1))).await {
            Ending::TimedOut | Ending::Cancelled(_) => {}
            ending => exited = Some((ending, Instant::now())),
        }
    }
    let ended = Instant::now();
    let sampled = taken.as_ref().map_or(ended, |(_, at)| *at);
    if let Some((ending, at)) = exited {
        // Past the window only if the samples were still running when it was seen to exit
        // later than the window's end.
        let when = if taken.is_some() || at <= deadline {
            format!(
                "within the {} stability window after it was ready",
                humantime::format_duration(window)
            )
        } else {
            format!(
                "after it was ready, while its health was sampled (past the {} stability window)",
                humantime::format_duration(window)
            )
        };
        run.crashed = Some(format!(
            "{} {when}",
            ending.describe(settings.ready_timeout)
        ));
    } else if let Some((samples, _)) = taken {
        run.samples = samples;
    }
    run.window = Some(Window { sampled, ended });
    Step::Held(i, run, running)
}

/// `count` health requests to `target`, one after another, until the run is cancelled.
async fn take_samples(
    target: Option<(SocketAddr, String)>,
    count: u32,
    processes: crate::process::Processes,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let Some((addr, path)) = target else {
        return samples;
    };
    for _ in 0..count {
        if processes.cancelled().is_some() {
            break;
        }
        samples.push(
            match http_status(addr, &path, Duration::from_secs(5)).await {
                Ok((status, took)) => Sample {
                    status: Some(status),
                    ms: took.as_secs_f64() * 1000.0,
                    error: None,
                },
                Err(e) => Sample {
                    status: None,
                    ms: 0.0,
                    error: Some(e),
                },
            },
        );
    }
    samples
}

/// How often the process tree's sockets and the output are searched for where the app
/// listens, when the offered port does not answer.
const SCAN_EVERY: Duration = Duration::from_millis(250);

/// What waiting for readiness found.
struct Waited {
    ready: Result<Ready, String>,
    /// The app listened on another port than offered.
    elsewhere: Option<Seen>,
    /// Answers seen in the last round of health requests.
    statuses: Vec<String>,
}

/// Health paths that must answer 2xx, then `/`, which only has to answer below 500.
async fn answer(addr: SocketAddr, health: Option<&str>) -> (Option<Ready>, Vec<String>) {
    let mut seen = Vec::new();
    let required: Vec<&str> = match health {
        Some(p) => vec![p],
        None => HEALTH_CANDIDATES
            .iter()
            .copied()
            .filter(|p| *p != "/")
            .collect(),
    };
    for path in required {
        match http_status(addr, path, Duration::from_secs(2)).await {
            Ok((status, _)) if (200..300).contains(&status) => {
                seen.push(format!("{path} {status}"));
                let ready = Ready::Http {
                    addr,
                    path: path.to_owned(),
                    status,
                    fallback: false,
                };
                return (Some(ready), seen);
            }
            Ok((status, _)) => seen.push(format!("{path} {status}")),
            Err(e) => seen.push(format!("{path} {e}")),
        }
    }
    if health.is_none() {
        match http_status(addr, "/", Duration::from_secs(2)).await {
            Ok((status, _)) if status < 500 => {
                seen.push(format!("/ {status}"));
                let ready = Ready::Http {
                    addr,
                    path: "/".to_owned(),
                    status,
                    fallback: true,
                };
                return (Some(ready), seen);
            }
            Ok((status, _)) => seen.push(format!("/ {status}")),
            Err(e) => seen.push(format!("/ {e}")),
        }
    }
    (None, seen)
}

/// Wait until `service` is ready, exits, or `timeout` passes. The offered port is probed
/// first; the ports its process tree listens on and the URLs it prints are probed too, so an
/// app that ignores the offer is found where it really listens.
async fn wait_ready(
    running: &mut Running,
    service: &Service,
    port: Option<u16>,
    markers: &[&str],
    timeout: Duration,
) -> Waited {
    if port.is_none() && service.ready_log.is_none() {
        return Waited {
            ready: Ok(Ready::Running),
            elsewhere: None,
            statuses: Vec::new(),
        };
    }
    let root = running.root;
    // The last round's HTTP answers, per port that accepted a connection.
    let statuses = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(u16, Vec<String>)>::new()));
    let discovered = std::sync::Arc::new(std::sync::Mutex::new(discover::Found::default()));
    let tap = running.output_tap();
    let probe = {
        let statuses = std::sync::Arc::clone(&statuses);
        let discovered = std::sync::Arc::clone(&discovered);
        async move {
            let mut backoff = Backoff::default();
            // The first scan waits too: most apps take the offered port, and a /proc walk
            // on a busy machine would only delay seeing it.
            let mut scanned: Option<Instant> = Some(Instant::now());
            loop {
                if let Some(needle) = &service.ready_log {
                    if tap.contains(needle) {
                        return (Ready::Log, None);
                    }
                } else {
                    // Sockets and log are read every SCAN_EVERY: /proc walks cost more than a
                    // refused loopback connect.
                    if scanned.is_none_or(|t| t.elapsed() >= SCAN_EVERY) {
                        scanned = Some(Instant::now());
                        let mut found = discover::found(root, &tap.text(), markers);
                        found.ports.retain(|f| Some(f.port) != port);
                        *discovered
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = found;
                    }
                    let others = discovered
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .ports
                        .clone();
                    let candidates = port
                        .map(|p| (p, None))
                        .into_iter()
                        .chain(others.into_iter().map(|s| (s.port, Some(s))));
                    let mut round = Vec::new();
                    for (p, seen) in candidates {
                        if let Some((addr, stream)) =
                            tcp_connect(p, Duration::from_millis(200)).await
                        {
                            // Close the probing connection before asking over HTTP: a `_`
                            // pattern would keep it open through the requests, and a server
                            // with one synchronous worker (gunicorn's default) would serve that
                            // idle connection and never answer them.
                            drop(stream);
                            let (ready, got) = answer(addr, service.health.as_deref()).await;
                            round.push((p, got));
                            if let Some(ready) = ready {
                                // The answers that made it ready are evidence too
                                // (`http_answers_seen`: `/ 302` for a login redirect).
                                *statuses
                                    .lock()
                                    .unwrap_or_else(std::sync::PoisonError::into_inner) = round;
                                return (ready, seen);
                            }
                        }
                    }
                    if !round.is_empty() {
                        *statuses
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = round;
                    }
                }
                tokio::time::sleep(backoff.step()).await;
            }
        }
    };
    tokio::pin!(probe);
    let result = tokio::select! {
        (ready, seen) = &mut probe => Ok((ready, seen)),
        ending = running.wait(Some(timeout)) => Err(ending),
    };
    let answered = statuses
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let seen_statuses: Vec<String> = answered
        .iter()
        .flat_map(|(p, got)| got.iter().map(move |g| format!("{g} (port {p})")))
        .collect();
    let discovered = discovered
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    match result {
        Ok((ready, elsewhere)) => Waited {
            ready: Ok(ready),
            elsewhere,
            statuses: seen_statuses,
        },
        Err(ending) => {
            let why = match ending {
                Ending::TimedOut => {
                    let what = if let Some(needle) = &service.ready_log {
                        format!("the log line \"{needle}\" never appeared")
                    } else if let Some(p) = port {
                        let health = service.health.clone().map_or_else(
                            || {
                                format!(
                                    "a health endpoint ({}) answering 2xx or / answering below 500",
                                    HEALTH_CANDIDATES.join(", ")
                                )
                            },
                            |h| format!("{h} answering 2xx"),
                        );
                        let mut what = if answered.is_empty() {
                            format!(
                                "nothing listened on 127.0.0.1:{p} or [::1]:{p} (waited for {health})"
                            )
                        } else {
                            // The port is open: what it answered is the news, not "never
                            // accepted".
                            let answers: Vec<String> = answered
                                .iter()
                                .map(|(port, got)| {
                                    format!(
                                        "port {port} accepted connections but answered {}",
                                        got.join(", ")
                                    )
                                })
                                .collect();
                            format!("{} (waited for {health})", answers.join("; "))
                        };
                        if discovered.ports.is_empty() {
                            what.push_str(
                                "; its processes opened no other port and printed no URL naming one",
                            );
                        } else {
                            what.push_str("; also tried ");
                            what.push_str(&Seen::list(&discovered.ports));
                        }
                        if !discovered.inspectors.is_empty() {
                            what.push_str("; not the app, so not probed: ");
                            what.push_str(&Seen::list(&discovered.inspectors));
                        }
                        what
                    } else {
                        "no port to probe".to_owned()
                    };
                    format!(
                        "not ready within {}: {what}",
                        humantime::format_duration(timeout)
                    )
                }
                other => format!("{} before it was ready", other.describe(timeout)),
            };
            Waited {
                ready: Err(why),
                elsewhere: None,
                statuses: seen_statuses,
            }
        }
    }
}

/// Whether nothing listens on `port` any more (checked for up to a second: sockets of a
/// stopped process close as it exits).
async fn released(port: u16) -> bool {
    for _ in 0..200 {
        let held = crate::probe::listeners(&[crate::probe::Proto::Tcp])
            .iter()
            .any(|l| l.port == port);
        if !held {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
