//! `devops-agent mcp`: the same engine as a Model Context Protocol server on stdin/stdout, built
//! on the official Rust SDK (`rmcp`), for agents that integrate tools through MCP instead of
//! shelling out and parsing stdout.
//!
//! # One engine, run as a child process per tool call
//!
//! Every tool that runs gates (`validate`, `deps`, `build`, `startup`, `integration`, `ports`,
//! `ports_allocate`) runs this very binary as a child process with the arguments of the
//! command of the same name, `--format json` and `--events FILE`, and returns the document it
//! printed. That is a choice, not a shortcut: a run's safety rests on state that is
//! process-wide by design —
//!
//! * the redactor ([`crate::redact`]) learns the project's own secrets (its `.env` values,
//!   passwords in its config) once the project is loaded and sits in front of every writer;
//! * file confinement ([`crate::fsread`]) fixes one project root for every reader;
//! * cancellation ([`crate::cancel`]) is one flag, and process containment
//!   ([`crate::process`]) installs the signal handlers, becomes the subreaper of everything the
//!   run starts, and stops every process group on SIGINT.
//!
//! Running two projects' validations in one process would mix their secrets and roots, and an
//! MCP cancel of one would have no way to reach only its processes. A child per call keeps all
//! of that exactly as the CLI has it: its redaction and confinement are per request because the
//! process is, an MCP `notifications/cancelled` becomes the SIGINT that Ctrl-C sends (the
//! child stops every process it started, writes its partial report and exits 130, and the tool
//! waits for that), and no check has a second implementation. The cost is one `exec` per call,
//! a few milliseconds next to runs that take seconds to minutes.
//!
//! The event stream the child writes (`--events`, flushed line by line) is followed while it
//! runs and turned into progress notifications ([`progress`]); heartbeats are added while a
//! command runs silently. The exit code maps onto MCP's two kinds of failure: 0 (ready) and 1
//! (not ready) are normal results — a not-ready verdict is an answer, not a tool error; a usage
//! or configuration error (exit 2 with nothing evaluated), an interrupted run, or a child that
//! printed no report are `isError` results that still carry whatever report there is.
//!
//! # Safety
//!
//! Only project directories under the server's roots (`--root`, default the working
//! directory) are served, and when the client declares MCP roots, only those under one of the
//! client's roots too ([`roots`]); symlinks are resolved before the comparison. One run per
//! project at a time: a second call for a project that is being validated is refused.
//! Resources (`devops-agent://PROJECT/report/latest`, `devops-agent://PROJECT/history`) read
//! the project's `.devops-agent/` through [`crate::fsread`] (regular files only, size-capped).

mod child;
mod params;
mod progress;
mod roots;
mod server;

pub use server::serve;
