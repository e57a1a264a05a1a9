//! The JSONL event stream: one JSON object a line, flushed as it happens.
//!
//! Event names follow the seed's "Streaming Events" (`deployment_validation`, `health_check`,
//! `validation_complete`) plus gate and check progress. Every line has `event` and `timestamp`.
//! Gates emit through an [`EventSink`]; only this module writes.
//!
//! The sink also remembers when each `command_started` was emitted and what its
//! `command_finished` said, so the report's timeline (`commands`) is made of the same events
//! as the stream, with the start measured on the monotonic clock.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use super::model::{BlockingIssue, CheckStatus, CommandRun};

/// One event. Serialized with its name in `event`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A run started (the seed's `deployment_validation` with status `validating`).
    DeploymentValidation {
        story: Option<String>,
        status: String,
        command: String,
        project: String,
    },
    GateStarted {
        gate: String,
    },
    CheckCompleted {
        gate: String,
        check: String,
        status: CheckStatus,
        message: String,
        duration_ms: u64,
    },
    GateCompleted {
        gate: String,
        status: CheckStatus,
        duration_ms: u64,
    },
    /// A gate started a command (a build, an app).
    CommandStarted {
        gate: String,
        /// What the command is for, e.g. `build.dev_build`.
        purpose: String,
        command: String,
        cwd: String,
    },
    /// The command ended: `ending` is `exited`, `signaled`, `timed_out`, `cancelled` or
    /// `spawn_failed`.
    CommandFinished {
        gate: String,
        purpose: String,
        command: String,
        ending: String,
        exit_code: Option<i32>,
        duration_ms: u64,
    },
    /// A service became ready (`ready_at` is when it was seen, which may be a little before
    /// this line is written when services start together).
    ServiceReady {
        service: String,
        mode: String,
        port: Option<u16>,
        url: Option<String>,
        ready_at: String,
        ready_ms: u64,
    },
    /// Health endpoints sampled (the seed's `health_check`).
    HealthCheck {
        /// `passing` or `failing`.
        status: String,
        services: Vec<String>,
        mode: String,
    },
    /// Ports written by `ports allocate`.
    PortsAllocated {
        ports: std::collections::BTreeMap<String, u16>,
        env_file: String,
    },
    /// The run ended: the verdict (seed: `validation_complete`). Always the last line.
    ValidationComplete {
        story: Option<String>,
        /// `passed`, `failed`, or `pending` when interrupted.
        result: String,
        deployment_ready: bool,
        exit_code: u8,
        blocking_issues: Vec<BlockingIssue>,
        duration_ms: u64,
    },
}

#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    event: &'a Event,
    timestamp: String,
}

/// Where events go: any number of JSONL writers, plus an optional one-line-per-step progress
/// display on stderr for people. (What the checks reported is kept by the run's ledger,
/// `gates::Ledger`, not here: this only writes.)
pub struct EventSink {
    writers: Mutex<Vec<Box<dyn Write + Send>>>,
    progress: bool,
    /// Every command started so far: when, and its `command_finished` once emitted.
    commands: Mutex<Vec<(Instant, CommandRun)>>,
}

impl EventSink {
    /// A sink that writes nowhere.
    pub fn new() -> EventSink {
        EventSink {
            writers: Mutex::new(Vec::new()),
            progress: false,
            commands: Mutex::new(Vec::new()),
        }
    }

    /// Also write JSONL to `path` (truncated first).
    pub fn add_file(&mut self, path: &Path) -> io::Result<()> {
        let file = File::create(path)?;
        self.add_writer(Box::new(file));
        Ok(())
    }

    /// Also write JSONL to stdout (`--format jsonl`).
    pub fn add_stdout(&mut self) {
        self.add_writer(Box::new(io::stdout()));
    }

    pub fn add_writer(&mut self, writer: Box<dyn Write + Send>) {
        self.writers
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(writer);
    }

    /// Show gate and check lines on stderr (how: [`super::progress`]).
    pub fn show_progress(&mut self, enabled: bool) {
        self.progress = enabled;
    }

    /// Write one event to every writer, flushed, every string in it redacted. Write errors are
    /// logged, never fatal: the report on stdout matters more than a side stream.
    pub fn emit(&self, event: &Event) {
        self.trace_command(event);
        let line = Line {
            event,
            timestamp: super::now_rfc3339(),
        };
        let redactor = crate::redact::current();
        let Ok(mut value) = serde_json::to_value(&line) else {
            return;
        };
        redactor.redact_json(&mut value);
        let Ok(mut text) = serde_json::to_string(&value) else {
            return;
        };
        text.push('\n');
        let mut writers = self
            .writers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for writer in writers.iter_mut() {
            if let Err(e) = writer
                .write_all(text.as_bytes())
                .and_then(|()| writer.flush())
            {
                tracing::warn!("could not write event: {e}");
            }
        }
        drop(writers);
        if self.progress {
            progress_line(event);
        }
    }
}

impl EventSink {
    /// Remember a command's start, or complete the earliest unfinished start of the same gate,
    /// purpose and command line with what its end said (commands of one purpose may run at
    /// once and finish in any order, but each gate reports its finishes in start order).
    fn trace_command(&self, event: &Event) {
        let mut commands = self
            .commands
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match event {
            Event::CommandStarted {
                gate,
                purpose,
                command,
                ..
            } => commands.push((
                Instant::now(),
                CommandRun {
                    gate: gate.clone(),
                    purpose: purpose.clone(),
                    command: command.clone(),
                    started_ms: 0,
                    duration_ms: None,
                    ending: None,
                    exit_code: None,
                },
            )),
            Event::CommandFinished {
                gate,
                purpose,
                command,
                ending,
                exit_code,
                duration_ms,
            } => {
                if let Some((_, run)) = commands.iter_mut().find(|(_, r)| {
                    r.ending.is_none()
                        && &r.gate == gate
                        && &r.purpose == purpose
                        && &r.command == command
                }) {
                    run.duration_ms = Some(*duration_ms);
                    run.ending = Some(ending.clone());
                    run.exit_code = *exit_code;
                }
            }
            _ => {}
        }
    }

    /// The commands started so far, `started_ms` counted from `run_started`.
    pub fn commands(&self, run_started: Instant) -> Vec<CommandRun> {
        self.commands
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(at, run)| CommandRun {
                started_ms: u64::try_from(at.saturating_duration_since(run_started).as_millis())
                    .unwrap_or(u64::MAX),
                ..run.clone()
            })
            .collect()
    }

    pub fn gate_started(&self, gate: crate::check::GateId) {
        self.emit(&Event::GateStarted {
            gate: gate.as_str().to_owned(),
        });
    }

    pub fn check_completed(&self, gate: crate::check::GateId, check: &crate::check::CheckResult) {
        let status = super::build::wire_status(&check.status);
        self.emit(&Event::CheckCompleted {
            gate: gate.as_str().to_owned(),
            check: check.id.as_str().to_owned(),
            status,
            message: check.message.clone(),
            duration_ms: u64::try_from(check.duration.as_millis()).unwrap_or(u64::MAX),
        });
    }

    pub fn gate_completed(&self, gate: &crate::check::GateResult) {
        self.emit(&Event::GateCompleted {
            gate: gate.id.as_str().to_owned(),
            status: super::build::wire_status(&gate.status()),
            duration_ms: u64::try_from(gate.duration.as_millis()).unwrap_or(u64::MAX),
        });
    }
}

impl Default for EventSink {
    fn default() -> Self {
        EventSink::new()
    }
}

fn progress_line(event: &Event) {
    let text = match event {
        Event::GateStarted { gate } => format!("▶ {gate}"),
        Event::CheckCompleted {
            check,
            status,
            duration_ms,
            ..
        } => format!(
            "  {} {check} ({duration_ms} ms)",
            super::human::mark(*status)
        ),
        Event::GateCompleted {
            gate,
            status,
            duration_ms,
        } => format!("{} {gate} {duration_ms} ms", super::human::mark(*status)),
        // Live, the command's spinner line shows it.
        Event::CommandStarted { .. } if super::progress::mode() == super::progress::Mode::Live => {
            return;
        }
        Event::CommandStarted { command, cwd, .. } => format!("  $ {command}  (in {cwd})"),
        Event::CommandFinished {
            command,
            ending,
            exit_code,
            duration_ms,
            ..
        } => format!(
            "  {} {command}: {ending}{} ({duration_ms} ms)",
            if exit_code == &Some(0) { "✓" } else { "✗" },
            exit_code.map_or_else(String::new, |c| format!(" {c}"))
        ),
        Event::ServiceReady {
            service, ready_ms, ..
        } => format!("  ✓ {service} ready after {ready_ms} ms"),
        Event::DeploymentValidation { .. }
        | Event::HealthCheck { .. }
        | Event::PortsAllocated { .. }
        | Event::ValidationComplete { .. } => return,
    };
    super::progress::line(&text, matches!(event, Event::CheckCompleted { .. }));
}
