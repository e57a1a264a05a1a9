//! Starting one mode's services, waiting until each is ready, holding them through a stability
//! window, sampling their health, and stopping them with their whole process trees.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::services::{Mode, Service, levels, pick_port};
use crate::gates::GateCtx;
use crate::probe::ready::{Backoff, HEALTH_CANDIDATES, http_status, http_status_on, tcp_connect};
use crate::process::{CommandSpec, Ending, Finished, Running};
use crate::report::{Event, EventSink};

/// How a service became ready.
#[derive(Debug, Clone)]
pub(crate) enum Ready {
    /// Its port accepted and its health endpoint answered 2xx.
    Http { addr: SocketAddr, path: String },
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
    pub(crate) port: Option<u16>,
    pub(crate) port_var: Option<String>,
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
}

/// One health request.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) status: Option<u16>,
    pub(crate) ms: f64,
    pub(crate) error: Option<String>,
}

/// Settings of a mode run.
pub(crate) struct Settings {
    pub(crate) ready_timeout: Duration,
    pub(crate) stability: Duration,
    pub(crate) samples: u32,
}

/// Run every service that has a start command for `mode`.
pub(crate) async fn run_mode(
    ctx: &GateCtx,
    sink: &EventSink,
    services: &[Service],
    mode: Mode,
    settings: &Settings,
    keep: bool,
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
        if let Some(p) = pick_port(s.port_preferred, &taken) {
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
    let (order, _) = levels(&owned);
    let mut runs: Vec<Option<(ServiceRun, Option<Running>)>> =
        (0..owned.len()).map(|_| None).collect();
    let redactor = ctx.project.env.redactor();
    for level in order {
        let mut tasks = tokio::task::JoinSet::new();
        for i in level {
            let service = owned[i].clone();
            let failed_dep = service.depends_on.iter().find(|d| {
                owned.iter().position(|s| &s.name == *d).is_some_and(|j| {
                    runs[j]
                        .as_ref()
                        .is_some_and(|(r, _)| r.ready.is_err() || r.crashed.is_some())
                })
            });
            let Some(launch) = service.launch(mode).cloned() else {
                continue;
            };
            let port = ports.get(&service.name).copied();
            let mut run = ServiceRun {
                name: service.name.clone(),
                command: redactor.redact(&launch.command),
                source: launch.source.clone(),
                port,
                port_var: service.port_var.clone(),
                ready: Err(String::new()),
                ready_ms: None,
                ready_at: None,
                crashed: None,
                samples: Vec::new(),
                finished: None,
                port_released: None,
                prod_build: None,
            };
            if let Some(dep) = failed_dep {
                run.ready = Err(format!(
                    "not started: {dep}, which it depends on, is not ready"
                ));
                runs[i] = Some((run, None));
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
            let spec = CommandSpec {
                command: launch.command.clone(),
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
            tasks.spawn(async move {
                let started = Instant::now();
                match Running::spawn(&spec, &processes) {
                    Err(ending) => {
                        run.ready = Err(ending.describe(timeout));
                        (i, run, None)
                    }
                    Ok(mut running) => {
                        run.ready = wait_ready(&mut running, &service, port, timeout).await;
                        if run.ready.is_ok() {
                            run.ready_at = Some(crate::report::now_rfc3339());
                            run.ready_ms = Some(ms(started.elapsed()));
                        }
                        (i, run, Some(running))
                    }
                }
            });
        }
        while let Some(joined) = tasks.join_next().await {
            if let Ok((i, run, running)) = joined {
                if let (Ok(ready), Some(at)) = (&run.ready, &run.ready_at) {
                    sink.emit(&Event::ServiceReady {
                        service: run.name.clone(),
                        mode: mode.name().to_owned(),
                        port: run.port,
                        url: match ready {
                            Ready::Http { addr, path } => Some(format!("http://{addr}{path}")),
                            Ready::Log | Ready::Running => None,
                        },
                        ready_at: at.clone(),
                        ready_ms: run.ready_ms.unwrap_or(0),
                    });
                }
                runs[i] = Some((run, running));
            }
        }
    }

    // Stability: every ready service must still be up after the window.
    if runs.iter().flatten().any(|(r, _)| r.ready.is_ok()) {
        tokio::select! {
            () = tokio::time::sleep(settings.stability) => {}
            _ = ctx.processes.until_cancelled() => {}
        }
    }
    for (run, running) in runs.iter_mut().flatten() {
        if let (Ok(_), Some(running)) = (&run.ready, running.as_mut()) {
            let ending = running.wait(Some(Duration::from_millis(1))).await;
            // Stopped because the run was cancelled is not a crash.
            if !matches!(ending, Ending::TimedOut | Ending::Cancelled(_)) {
                run.crashed = Some(format!(
                    "{} within the {} stability window after it was ready",
                    ending.describe(settings.ready_timeout),
                    humantime::format_duration(settings.stability)
                ));
            }
        }
    }

    // Health samples from every ready, stable HTTP service.
    for (run, _) in runs.iter_mut().flatten() {
        if run.crashed.is_some() || ctx.processes.cancelled().is_some() {
            continue;
        }
        if let Ok(Ready::Http { addr, path }) = &run.ready {
            for _ in 0..settings.samples {
                let sample = match http_status(*addr, path, Duration::from_secs(5)).await {
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
                };
                run.samples.push(sample);
            }
        }
    }

    // Hand a healthy stack to the integration gate instead of stopping it.
    let healthy = runs
        .iter()
        .flatten()
        .all(|(r, running)| r.ready.is_ok() && r.crashed.is_none() && running.is_some());
    if keep && healthy && ctx.processes.cancelled().is_none() {
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
                health_path: match &run.ready {
                    Ok(Ready::Http { path, .. }) => Some(path.clone()),
                    _ => None,
                },
            });
            if let Some(running) = running {
                live.running.push(running);
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

/// Wait until `service` is ready, exits, or `timeout` passes.
async fn wait_ready(
    running: &mut Running,
    service: &Service,
    port: Option<u16>,
    timeout: Duration,
) -> Result<Ready, String> {
    if port.is_none() && service.ready_log.is_none() {
        return Ok(Ready::Running);
    }
    let tap = running.output_tap();
    let probe = async {
        let mut backoff = Backoff::default();
        loop {
            if let Some(needle) = &service.ready_log {
                if tap.contains(needle) {
                    return Ready::Log;
                }
            } else if let Some(port) = port
                && let Some((addr, stream)) = tcp_connect(port, Duration::from_millis(200)).await
            {
                let paths: Vec<String> = match &service.health {
                    Some(p) => vec![p.clone()],
                    None => HEALTH_CANDIDATES.iter().map(|p| (*p).to_owned()).collect(),
                };
                // The first request goes on the connection that proved the port open.
                let mut stream = Some(stream);
                for path in paths {
                    let answer =
                        http_status_on(stream.take(), addr, &path, Duration::from_secs(2)).await;
                    if let Ok((status, _)) = answer
                        && (200..300).contains(&status)
                    {
                        return Ready::Http { addr, path };
                    }
                }
            }
            tokio::time::sleep(backoff.step()).await;
        }
    };
    tokio::pin!(probe);
    tokio::select! {
        ready = &mut probe => Ok(ready),
        ending = running.wait(Some(timeout)) => Err(match ending {
            Ending::TimedOut => {
                let what = if let Some(needle) = &service.ready_log {
                    format!("the log line \"{needle}\" never appeared")
                } else if let Some(p) = port {
                    let health = service
                        .health
                        .clone()
                        .unwrap_or_else(|| format!("a health endpoint ({})", HEALTH_CANDIDATES.join(", ")));
                    format!("127.0.0.1:{p} and [::1]:{p} never accepted with {health} answering 2xx")
                } else {
                    "no port to probe".to_owned()
                };
                format!("not ready within {}: {what}", humantime::format_duration(timeout))
            }
            other => format!("{} before it was ready", other.describe(timeout)),
        }),
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
