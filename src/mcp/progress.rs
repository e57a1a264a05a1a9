//! The child's event stream turned into MCP progress: a value that rises with every event
//! (whole numbers are completed checks, out of the checks the run plans), and a one-line
//! message saying what happened. While a command runs without a word, a heartbeat says it is
//! still running and for how long.
//!
//! MCP requires the progress value to increase with every notification. Completed checks make
//! the whole part; the n-th other event since the last completed check adds n/(n+1), which
//! rises every time and never reaches the next check.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a running command may go without an event before a heartbeat is sent.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(5);

/// Where progress goes: the client that asked for it with a progress token, or nowhere.
pub(crate) struct Reporter {
    to: Option<(rmcp::Peer<rmcp::RoleServer>, rmcp::model::ProgressToken)>,
}

impl Reporter {
    /// Progress for the request `ctx`, when its client sent a progress token.
    pub(crate) fn for_request(ctx: &rmcp::service::RequestContext<rmcp::RoleServer>) -> Reporter {
        Reporter {
            to: ctx
                .meta
                .get_progress_token()
                .map(|token| (ctx.peer.clone(), token)),
        }
    }

    /// Send one step; a client that went away only costs a log line.
    pub(crate) async fn send(&self, step: Step) {
        let Some((peer, token)) = &self.to else {
            return;
        };
        let mut param = rmcp::model::ProgressNotificationParam::new(token.clone(), step.progress)
            .with_message(step.message);
        param.total = step.total;
        if let Err(e) = peer.notify_progress(param).await {
            tracing::debug!("progress notification not sent: {e}");
        }
    }
}

/// One progress notification's content.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Step {
    pub(crate) progress: f64,
    pub(crate) total: Option<f64>,
    pub(crate) message: String,
}

/// Where a run is.
pub(crate) struct Progress {
    total: Option<f64>,
    completed: u32,
    since_check: u32,
    /// Commands started and not finished: purpose → (command line, started).
    running: BTreeMap<String, (String, Instant)>,
    last_sent: Instant,
}

fn text<'a>(event: &'a Value, key: &str) -> &'a str {
    event[key].as_str().unwrap_or("")
}

impl Progress {
    /// A run expected to report `total` checks (unknown when `None`).
    pub(crate) fn new(total: Option<usize>) -> Progress {
        Progress {
            total: total.map(|t| f64::from(u32::try_from(t).unwrap_or(u32::MAX))),
            completed: 0,
            since_check: 0,
            running: BTreeMap::new(),
            last_sent: Instant::now(),
        }
    }

    fn step(&mut self, message: String) -> Step {
        self.last_sent = Instant::now();
        let minor = f64::from(self.since_check) / (f64::from(self.since_check) + 1.0);
        Step {
            progress: f64::from(self.completed) + minor,
            total: self.total,
            message,
        }
    }

    /// The step one event (a parsed line of the stream) makes.
    pub(crate) fn event(&mut self, event: &Value) -> Step {
        let name = text(event, "event");
        let message = match name {
            "deployment_validation" => format!(
                "{} started on {}",
                text(event, "command"),
                text(event, "project")
            ),
            "gate_started" => format!("gate {} started", text(event, "gate")),
            "check_started" => format!("check {} started", text(event, "check")),
            "check_completed" => {
                let message = format!(
                    "{}: {} — {}",
                    text(event, "check"),
                    text(event, "status"),
                    text(event, "message")
                );
                self.completed += 1;
                self.since_check = 0;
                return self.step(message);
            }
            "gate_completed" => format!(
                "gate {}: {} ({} ms)",
                text(event, "gate"),
                text(event, "status"),
                event["duration_ms"]
            ),
            "command_started" => {
                self.running.insert(
                    text(event, "purpose").to_owned(),
                    (text(event, "command").to_owned(), Instant::now()),
                );
                format!(
                    "{}: $ {} (in {})",
                    text(event, "purpose"),
                    text(event, "command"),
                    text(event, "cwd")
                )
            }
            "command_finished" => {
                self.running.remove(text(event, "purpose"));
                let code = event["exit_code"]
                    .as_i64()
                    .map_or_else(String::new, |c| format!(" {c}"));
                format!(
                    "{}: {} {}{code} ({} ms)",
                    text(event, "purpose"),
                    text(event, "command"),
                    text(event, "ending"),
                    event["duration_ms"]
                )
            }
            "service_ready" => format!(
                "{} ({}) ready after {} ms",
                text(event, "service"),
                text(event, "mode"),
                event["ready_ms"]
            ),
            "health_check" => format!(
                "health checks {} ({})",
                text(event, "status"),
                text(event, "mode")
            ),
            "ports_allocated" => {
                let ports: Vec<String> = event["ports"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                format!(
                    "ports allocated in {}: {}",
                    text(event, "env_file"),
                    ports.join(", ")
                )
            }
            "validation_complete" => format!(
                "run complete: {} (exit code {})",
                text(event, "result"),
                event["exit_code"]
            ),
            other => other.to_owned(),
        };
        self.since_check += 1;
        self.step(message)
    }

    /// A heartbeat, when a command is running and nothing was said for [`HEARTBEAT`].
    pub(crate) fn heartbeat(&mut self, now: Instant) -> Option<Step> {
        if now.duration_since(self.last_sent) < HEARTBEAT {
            return None;
        }
        let (purpose, (command, started)) = self.running.iter().next()?;
        let message = format!(
            "{purpose}: still running after {} s: {command}",
            now.duration_since(*started).as_secs()
        );
        self.since_check += 1;
        Some(self.step(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn progress_rises_with_every_event_and_counts_checks() {
        let mut p = Progress::new(Some(2));
        let events = [
            json!({"event": "deployment_validation", "command": "ports", "project": "/p"}),
            json!({"event": "gate_started", "gate": "ports"}),
            json!({"event": "check_completed", "check": "ports.env_configured", "status": "passed", "message": "ok"}),
            json!({"event": "command_started", "purpose": "build.dev_build", "command": "npm run build", "cwd": "."}),
            json!({"event": "check_completed", "check": "ports.no_conflicts", "status": "failed", "message": "taken"}),
            json!({"event": "gate_completed", "gate": "ports", "status": "failed", "duration_ms": 3}),
        ];
        let steps: Vec<Step> = events.iter().map(|e| p.event(e)).collect();
        for pair in steps.windows(2) {
            assert!(pair[1].progress > pair[0].progress, "{pair:?}");
        }
        assert!((steps[2].progress - 1.0).abs() < f64::EPSILON);
        assert!((steps[4].progress - 2.0).abs() < f64::EPSILON);
        assert_eq!(steps[4].total, Some(2.0));
        assert_eq!(steps[4].message, "ports.no_conflicts: failed — taken");
    }

    #[test]
    fn heartbeat_only_while_a_command_runs_silently() {
        let mut p = Progress::new(None);
        let later = Instant::now() + HEARTBEAT * 2;
        assert_eq!(p.heartbeat(later), None);
        p.event(&json!({"event": "command_started", "purpose": "build.dev_build", "command": "sh hang.sh", "cwd": "."}));
        assert_eq!(p.heartbeat(Instant::now()), None);
        let beat = p.heartbeat(later).unwrap();
        assert!(
            beat.message
                .starts_with("build.dev_build: still running after "),
            "{beat:?}"
        );
        p.event(&json!({"event": "command_finished", "purpose": "build.dev_build", "command": "sh hang.sh", "ending": "exited", "exit_code": 0, "duration_ms": 1}));
        assert_eq!(p.heartbeat(later + HEARTBEAT * 2), None);
    }
}
