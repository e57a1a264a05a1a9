//! What people see on stderr while a run is under way.
//!
//! * **Live** (stderr is a terminal): one spinner line per running command — its step, elapsed
//!   time and the last line it printed — drawn by `indicatif`, and a line per gate (and per
//!   check, unless the human report follows on the same terminal: every check is printed
//!   once). Log lines and `-v` output are printed above the spinners, never through them.
//! * **Plain** (stderr is a pipe or a file: every CI log): the same gate and check lines, and a
//!   heartbeat per running command every 12 s (`DEVOPS_AGENT_HEARTBEAT` changes it):
//!   `build: build.prod_build frontend `npm run build` 45s, last: vite v5 building…`.
//! * **Off** (`-q`): nothing but errors.
//!
//! `-v` streams every command's output, a line at a time, prefixed by its step. Every line is
//! redacted and its terminal escapes shown, not executed, like everything else on stderr.
//!
//! The display is process-wide (like the redactor): commands report their output from the
//! process runner without every gate passing a handle down.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Off,
    Live,
    Plain,
}

/// The longest "last output line" shown in a spinner or heartbeat.
const LAST_LINE_CHARS: usize = 80;
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(12);

struct Step {
    label: String,
    command: String,
    started: Instant,
    last_line: String,
    /// A partial line not yet ended by `\n`.
    pending: Vec<u8>,
    bar: Option<ProgressBar>,
    last_beat: Instant,
}

struct Progress {
    mode: Mode,
    stream_output: bool,
    show_checks: bool,
    heartbeat: Duration,
    multi: Option<MultiProgress>,
    steps: Mutex<BTreeMap<u64, Step>>,
}

static PROGRESS: OnceLock<Progress> = OnceLock::new();
static NEXT_STEP: AtomicU64 = AtomicU64::new(1);

/// Decide how progress is shown, once, before the run starts. `quiet` turns it off;
/// `report_on_terminal` (the human report goes to the same terminal) leaves the check lines to
/// the report; `verbose` streams command output.
pub fn init(quiet: bool, verbose: bool, report_on_terminal: bool) {
    let mode = if quiet {
        Mode::Off
    } else if io::stderr().is_terminal() {
        Mode::Live
    } else {
        Mode::Plain
    };
    let heartbeat = std::env::var("DEVOPS_AGENT_HEARTBEAT")
        .ok()
        .and_then(|v| humantime::parse_duration(&v).ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(DEFAULT_HEARTBEAT);
    let multi = (mode == Mode::Live)
        .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)));
    let progress = Progress {
        mode,
        stream_output: verbose && mode != Mode::Off,
        show_checks: !(mode == Mode::Live && report_on_terminal),
        heartbeat,
        multi,
        steps: Mutex::new(BTreeMap::new()),
    };
    if PROGRESS.set(progress).is_ok() && mode == Mode::Plain {
        // Heartbeats: a small thread that looks at the running steps once a second.
        let _ = std::thread::Builder::new()
            .name("heartbeat".to_owned())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(1).min(heartbeat));
                    if let Some(p) = PROGRESS.get() {
                        p.beat();
                    }
                }
            });
    }
}

/// The current mode (`Off` before [`init`]).
pub fn mode() -> Mode {
    PROGRESS.get().map_or(Mode::Off, |p| p.mode)
}

/// Print a line for people (a gate or check result): above the spinners when live.
pub fn line(text: &str, is_check: bool) {
    let Some(p) = PROGRESS.get() else { return };
    if p.mode == Mode::Off || (is_check && !p.show_checks) {
        return;
    }
    p.println(&clean(text));
}

/// Print an already redacted log line: above the spinners when live, else straight to stderr.
pub fn log(text: &str) {
    match PROGRESS.get().and_then(|p| p.multi.as_ref()) {
        Some(multi) => {
            let _ = multi.println(text.trim_end_matches('\n'));
        }
        None => {
            let _ = io::stderr().lock().write_all(text.as_bytes());
        }
    }
}

/// A command started (`label` is its step, `build.prod_build frontend`): returns its step id
/// for [`output`] and [`finished`].
pub fn started(label: &str, command: &str) -> u64 {
    let id = NEXT_STEP.fetch_add(1, Ordering::Relaxed);
    let Some(p) = PROGRESS.get().filter(|p| p.mode != Mode::Off) else {
        return id;
    };
    let label = clean(label);
    let command = shorten(&clean(command), LAST_LINE_CHARS / 2);
    let bar = p.multi.as_ref().map(|multi| {
        let bar = multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} {elapsed} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(format!("{label} `{command}`"));
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    });
    let now = Instant::now();
    p.steps
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(
            id,
            Step {
                label,
                command,
                started: now,
                last_line: String::new(),
                pending: Vec::new(),
                bar,
                last_beat: now,
            },
        );
    id
}

/// Output of a running command, as it arrives.
pub fn output(id: u64, chunk: &[u8]) {
    let Some(p) = PROGRESS.get().filter(|p| p.mode != Mode::Off) else {
        return;
    };
    let mut streamed = Vec::new();
    {
        let mut steps = p.steps.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(step) = steps.get_mut(&id) else {
            return;
        };
        step.pending.extend_from_slice(chunk);
        while let Some(end) = step.pending.iter().position(|&b| b == b'\n' || b == b'\r') {
            let raw: Vec<u8> = step.pending.drain(..=end).collect();
            let text = crate::process::strip_ansi(&String::from_utf8_lossy(&raw));
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let shown = clean(text);
            if p.stream_output {
                streamed.push(format!("[{}] {shown}", step.label));
            }
            step.last_line = shorten(&shown, LAST_LINE_CHARS);
            if let Some(bar) = &step.bar {
                bar.set_message(format!("· {}", step.last_line));
            }
        }
        // A partial line that never ends (a progress bar redrawn in place) must not grow
        // without bound.
        if step.pending.len() > 64 * 1024 {
            step.pending.clear();
        }
    }
    for text in streamed {
        p.println(&text);
    }
}

/// A command ended (its output read to the end): its spinner goes away, and with `-v` a last
/// line it printed without a newline is shown.
pub fn finished(id: u64) {
    let Some(p) = PROGRESS.get() else { return };
    let step = p
        .steps
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&id);
    if let Some(step) = &step
        && p.stream_output
    {
        let text = crate::process::strip_ansi(&String::from_utf8_lossy(&step.pending));
        let text = text.trim();
        if !text.is_empty() {
            p.println(&format!("[{}] {}", step.label, clean(text)));
        }
    }
    if let Some(bar) = step.and_then(|s| s.bar) {
        bar.finish_and_clear();
        if let Some(multi) = &p.multi {
            multi.remove(&bar);
        }
    }
}

impl Progress {
    fn println(&self, text: &str) {
        match &self.multi {
            Some(multi) => {
                let _ = multi.println(text);
            }
            None => {
                let _ = writeln!(io::stderr().lock(), "{text}");
            }
        }
    }

    /// Plain mode: a line for every step that has run a heartbeat's time since its last one.
    fn beat(&self) {
        let mut lines = Vec::new();
        {
            let mut steps = self.steps.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            for step in steps.values_mut() {
                if now.duration_since(step.last_beat) >= self.heartbeat {
                    step.last_beat = now;
                    let elapsed = Duration::from_secs(step.started.elapsed().as_secs());
                    let mut text = format!(
                        "{} `{}` {}",
                        step.label,
                        step.command,
                        humantime::format_duration(elapsed)
                    );
                    if !step.last_line.is_empty() {
                        text.push_str(", last: ");
                        text.push_str(&step.last_line);
                    }
                    lines.push(text);
                }
            }
        }
        for text in lines {
            self.println(&text);
        }
    }
}

/// Redacted, terminal escapes shown as text.
fn clean(text: &str) -> String {
    super::escape::terminal(&crate::redact::current().redact(text))
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        text.chars().take(max - 1).collect::<String>() + "…"
    }
}
