//! The first mode's services that need no build output start while the build gate runs.
//!
//! A backend in its own directory, with no build of its own and importing nothing that is
//! built, does not wait for the frontend's builds: the orchestrator starts the first mode's run
//! alongside the build gate, and that run starts only such services until the startup gate's
//! check of the mode takes it over (then everything else starts, in dependency order, as
//! before). The startup gate's checks and report are the same: the run is the mode's run, its
//! stability windows start at each service's ready moment and its crashes fail the mode. What
//! changes is when those services started (`started_alongside_build` in the evidence).
//!
//! The builds' outcome still decides: when the startup gate does not run (a failed build
//! without `--keep-going`, the run cut short), the early run is cancelled and everything it
//! started is stopped, with its `command_finished`. A start that fails before the build ended
//! is started again after the build (once, and the evidence says why): the failure may be the
//! build's doing (a server reading the frontend's `dist/` while it is rebuilt), and in the
//! order without the overlap it would have started on the finished build.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use tokio::sync::watch;

use super::gate::{keeps, settings};
use super::launch::{self, Alongside, Phase, ServiceRun};
use super::services::{self, Mode, Service};
use crate::check::{CheckId, GateId};
use crate::gates::GateCtx;
use crate::report::EventSink;

/// A mode run started alongside the build gate, until the startup gate takes it over.
pub struct Early<'a> {
    pub(super) mode: Mode,
    /// The services detected for the run (the startup gate reports on these).
    pub(super) services: Vec<Service>,
    phase: watch::Sender<Phase>,
    run: Pin<Box<dyn Future<Output = Vec<ServiceRun>> + 'a>>,
    /// Its runs, if it ended while the build ran (it waits for the phase, so it should not).
    done: Option<Vec<ServiceRun>>,
}

impl std::fmt::Debug for Early<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Early")
            .field("mode", &self.mode)
            .field("phase", &*self.phase.borrow())
            .finish_non_exhaustive()
    }
}

impl<'a> Early<'a> {
    /// The early run of this plan, when the startup gate will follow the build gate and its
    /// first mode (development) has a service that needs no build output; `None` otherwise
    /// (then nothing starts before the startup gate). Nothing starts until the run is polled.
    pub fn plan(ctx: &'a GateCtx, sink: &'a EventSink) -> Option<Early<'a>> {
        let mode = Mode::Dev;
        if !ctx.plan.gates.contains(&GateId::Startup)
            || ctx.skipped(CheckId::StartupDevMode)
            || ctx.processes.cancelled().is_some()
        {
            return None;
        }
        let decls = crate::gates::ports::collect(&ctx.project);
        let (services, errors) = services::detect(&ctx.project, &decls.ports);
        if !errors.is_empty() {
            return None;
        }
        let paths: Vec<&std::path::Path> = services.iter().map(|s| s.path.as_path()).collect();
        let needs = crate::gates::build::may_need_build(&ctx.project, &paths);
        let needs_build: Vec<String> = services
            .iter()
            .zip(&needs)
            .filter(|(_, needs)| **needs)
            .map(|(s, _)| s.name.clone())
            .collect();
        if !services
            .iter()
            .any(|s| s.launch(mode).is_some() && !needs_build.contains(&s.name))
        {
            return None;
        }
        let (phase, receiver) = watch::channel(Phase::Building);
        let settings = settings(ctx);
        let keep = keeps(ctx, &services, mode);
        let owned = services.clone();
        let run = Box::pin(async move {
            let alongside = Alongside {
                phase: receiver,
                needs_build,
            };
            launch::run_mode(ctx, sink, &owned, mode, &settings, keep, Some(alongside)).await
        });
        Some(Early {
            mode,
            services,
            phase,
            run,
            done: None,
        })
    }

    /// Run `build` (the build gate) while the early services start.
    pub async fn alongside<T>(&mut self, build: impl Future<Output = T>) -> T {
        tokio::pin!(build);
        let out = loop {
            // The build first: its gate starts before anything starts alongside it.
            tokio::select! {
                biased;
                out = &mut build => break out,
                runs = &mut self.run, if self.done.is_none() => self.done = Some(runs),
            }
        };
        self.phase.send_replace(Phase::Built(Instant::now()));
        out
    }

    /// The mode's check takes the run over: the rest of its services start; its runs.
    pub(super) async fn finish(self) -> Vec<ServiceRun> {
        let built = match *self.phase.borrow() {
            Phase::Built(at) | Phase::Go(at) => at,
            Phase::Building | Phase::Cancel => Instant::now(),
        };
        self.phase.send_replace(Phase::Go(built));
        match self.done {
            Some(runs) => runs,
            None => self.run.await,
        }
    }

    /// The startup gate does not run: stop everything the run started.
    pub async fn abandon(self) {
        self.phase.send_replace(Phase::Cancel);
        if self.done.is_none() {
            let _ = self.run.await;
        }
    }
}
