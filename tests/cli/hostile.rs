//! The hostile corpus: projects built to leak secrets, read outside the project, block, or
//! break the outputs. Table-driven — one [`Case`] per hostile input — and every case is held to
//! the same invariants ([`assert_invariants`]): the expected exit code, exactly one valid JSON
//! document on stdout, no panic, under 10 s of wall time, and none of the planted secrets (nor
//! their URL-encoded forms) in stdout, stderr, the events file, the other `--output` formats,
//! the history or any file the run wrote.
//!
//! To add a case, add an entry to [`cases`]: files to write (`{NAME}` is replaced by the
//! planted secret `NAME`), an optional `setup` for what files cannot express (FIFOs, symlinks),
//! the command line, the exit codes allowed, and a `check` that proves the case reached what it
//! attacks (a refusal finding, a `[redacted]`), so it cannot pass by testing nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{assert_valid, devops_agent};

/// Secrets planted in every case: (placeholder, value). Each is put where the tool could pick
/// it up — the process environment, `.env`, devops-agent.toml, URLs, commands.
const SECRETS: &[(&str, &str)] = &[
    // In the process environment under a secret-looking name, as a CI runner's token is.
    ("CI_TOKEN", "ci-tok-PLANT3d-0a1b2c3d4e"),
    // In `.env`, by name and with characters that URL-encoding changes.
    ("DOTENV_PW", "dotenv/PLANT3d pw+44@ff"),
    // In `[services.X.environment]` / `[build.env]` under an innocent name: random-looking.
    ("CFG_VALUE", "cfgEnvPLANT3d9x8y7z6w5"),
    // URL userinfo, header tokens and assignments written into files and commands.
    ("URL_PW", "urlpw-PLANT3d-5566"),
    ("BEARER", "bearer-PLANT3d-tok-6677"),
    ("API_KEY", "assign-PLANT3d-7788"),
];

fn secret(name: &str) -> &'static str {
    SECRETS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or_else(|| panic!("no planted secret {name}"), |(_, v)| *v)
}

/// Replace `{NAME}` placeholders with planted secrets.
fn plant(text: &str) -> String {
    let mut out = text.to_owned();
    for (name, value) in SECRETS {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// One hostile input.
pub(crate) struct Case {
    pub(crate) name: &'static str,
    /// Project files (path, text with `{NAME}` placeholders).
    pub(crate) files: &'static [(&'static str, &'static str)],
    /// What files cannot express: FIFOs, symlinks, special files. Gets the project and the
    /// state directory.
    pub(crate) setup: Option<fn(&Path, &Path)>,
    /// Arguments before `--project DIR` (the subcommand), and after it.
    pub(crate) args: &'static [&'static str],
    /// Exit codes this case may end with.
    pub(crate) codes: &'static [i32],
    /// Proves the case reached what it attacks; gets the report and every output's text.
    pub(crate) check: fn(&Value, &Outputs),
}

/// Everything one run wrote, by name (`stdout`, `stderr`, `events`, `markdown`, …, and project
/// files the run created or changed).
pub(crate) struct Outputs(pub(crate) BTreeMap<String, String>);

impl Outputs {
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }
}

/// Every check's message, findings and evidence, as one text to search.
fn report_text(report: &Value) -> String {
    report.to_string()
}

fn percent_encode(value: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Files under `dir` with their contents (lossy), for before/after comparison.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir() {
                stack.push(e.path());
            } else if kind.is_file() {
                // Only regular files: a FIFO planted by the case must not block the test.
                out.insert(e.path(), std::fs::read(e.path()).unwrap_or_default());
            }
        }
    }
    out
}

fn run_case(case: &Case) {
    let project = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let outdir = tempfile::tempdir().unwrap();
    for (name, text) in case.files {
        let path = project.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, plant(text)).unwrap();
    }
    if let Some(setup) = case.setup {
        setup(project.path(), state.path());
    }
    let before = snapshot(project.path());
    let before_state = snapshot(state.path());
    let mut cmd = devops_agent(state.path());
    let events = outdir.path().join("events.jsonl");
    cmd.args(case.args.iter().take_while(|a| !a.starts_with('-')))
        .arg("--project")
        .arg(project.path())
        .args(case.args.iter().skip_while(|a| !a.starts_with('-')))
        .arg("--format")
        .arg("json")
        .arg("--events")
        .arg(&events)
        .env("CI_TOKEN", secret("CI_TOKEN"))
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(30));
    for format in ["markdown", "human", "github", "junit"] {
        cmd.arg("--output")
            .arg(format!("{format}={}", outdir.path().join(format).display()));
    }
    let started = Instant::now();
    let out = cmd.output().expect("run devops-agent");
    let elapsed = started.elapsed();

    let mut outputs = BTreeMap::new();
    outputs.insert(
        "stdout".to_owned(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    );
    outputs.insert(
        "stderr".to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    for (path, bytes) in snapshot(outdir.path()) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        outputs.insert(name, String::from_utf8_lossy(&bytes).into_owned());
    }
    for (path, bytes) in snapshot(state.path()) {
        if before_state.get(&path) == Some(&bytes) {
            continue;
        }
        outputs.insert(
            format!("state:{}", path.display()),
            String::from_utf8_lossy(&bytes).into_owned(),
        );
    }
    for (path, bytes) in snapshot(project.path()) {
        if before.get(&path) != Some(&bytes) {
            outputs.insert(
                format!("project:{}", path.display()),
                String::from_utf8_lossy(&bytes).into_owned(),
            );
        }
    }
    let outputs = Outputs(outputs);
    let code = out.status.code().unwrap_or(-1);
    let report = assert_invariants(case, code, elapsed, &outputs);
    (case.check)(&report, &outputs);
}

/// The invariants every hostile case is held to; returns the parsed report.
fn assert_invariants(case: &Case, code: i32, elapsed: Duration, outputs: &Outputs) -> Value {
    let name = case.name;
    let stdout = outputs.get("stdout");
    let stderr = outputs.get("stderr");
    assert!(
        !stderr.contains("panicked"),
        "{name}: the tool panicked:\n{stderr}"
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "{name}: took {elapsed:?} (limit 10 s)"
    );
    let report: Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("{name}: stdout is not one JSON document ({e}):\n{stdout}"));
    assert_valid(&report);
    assert!(
        case.codes.contains(&code),
        "{name}: exit code {code}, expected one of {:?}\n{stdout}\n{stderr}",
        case.codes
    );
    for (secret_name, value) in SECRETS {
        for form in [value.to_string(), percent_encode(value)] {
            for (output, text) in &outputs.0 {
                assert!(
                    !text.contains(&form),
                    "{name}: planted secret {secret_name} ({form}) appears in {output}:\n{text}"
                );
            }
        }
    }
    report
}

/// Markdown without its fenced code blocks.
fn outside_fences(md: &str) -> String {
    let mut out = String::new();
    let mut fence: Option<String> = None;
    for line in md.lines() {
        let ticks: String = line.chars().take_while(|c| *c == '`').collect();
        match &fence {
            Some(f) if line.trim_end() == f => fence = None,
            Some(_) => {}
            None if ticks.len() >= 3 => fence = Some(ticks),
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// The texts of every check of the report with `id`.
fn check_text(report: &Value, id: &str) -> String {
    crate::common::check(report, id).to_string()
}

fn mkfifo(path: &Path) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo");
    assert!(status.success());
}

/// The report mentions `needle` somewhere (a finding, an error, a message).
fn mentions(report: &Value, needle: &str) {
    let text = report_text(report);
    assert!(
        text.contains(needle),
        "the report does not mention {needle:?}:\n{report:#}"
    );
}

/// A `.env` with a planted password, in every case that wants one.
const DOTENV: (&str, &str) = (".env", "DB_PASSWORD=\"{DOTENV_PW}\"\nPORT=3000\n");

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "requirements include of /proc/self/environ",
            files: &[
                DOTENV,
                ("requirements.txt", "-r /proc/self/environ\nflask==3.0.0\n"),
            ],
            setup: None,
            args: &["deps"],
            codes: &[1, 2],
            check: |report, _| mentions(report, "/proc or /sys entry"),
        },
        Case {
            name: "requirements include of /etc/passwd, absolute and relative",
            files: &[
                DOTENV,
                (
                    "requirements.txt",
                    "-r /etc/passwd\n-c ../../../../../../../../etc/passwd\nflask==3.0.0\n",
                ),
            ],
            setup: None,
            args: &["deps"],
            codes: &[1, 2],
            check: |report, _| {
                mentions(report, "outside the project");
                assert!(!report_text(report).contains("root:x:0"), "{report:#}");
            },
        },
        Case {
            name: "requirements include of .env and of a symlink out",
            files: &[DOTENV, ("requirements.txt", "-r .env\n-r link.txt\n")],
            setup: Some(|dir, _| {
                std::os::unix::fs::symlink("/etc/hostname", dir.join("link.txt")).unwrap();
            }),
            args: &["deps"],
            codes: &[1, 2],
            check: |report, _| mentions(report, "outside the project"),
        },
        Case {
            name: "FIFO named .env",
            files: &[("package.json", "{\"name\":\"x\",\"version\":\"1.0.0\"}")],
            setup: Some(|dir, _| mkfifo(&dir.join(".env"))),
            args: &["ports"],
            codes: &[0, 1, 2],
            check: |_, _| {},
        },
        Case {
            name: "FIFO named devops-agent.toml",
            files: &[DOTENV],
            setup: Some(|dir, _| mkfifo(&dir.join("devops-agent.toml"))),
            args: &["ports"],
            codes: &[2],
            check: |report, _| mentions(report, "FIFO"),
        },
        Case {
            name: "FIFO as the port registry",
            files: &[
                DOTENV,
                (
                    "docker-compose.yml",
                    "services:\n  web:\n    image: nginx\n    ports:\n      - \"${WEB_PORT:-8080}:80\"\n",
                ),
            ],
            setup: Some(|_, state| mkfifo(&state.join("ports.json"))),
            args: &["ports", "allocate"],
            codes: &[2],
            check: |report, _| mentions(report, "FIFO"),
        },
        Case {
            name: "--config /dev/zero",
            files: &[DOTENV],
            setup: None,
            args: &["ports", "--config", "/dev/zero"],
            codes: &[2],
            check: |report, _| mentions(report, "character device"),
        },
        Case {
            name: "devops-agent.toml symlinked to /dev/zero",
            files: &[DOTENV],
            setup: Some(|dir, _| {
                std::os::unix::fs::symlink("/dev/zero", dir.join("devops-agent.toml")).unwrap();
            }),
            args: &["ports"],
            codes: &[2],
            check: |report, _| mentions(report, "devops-agent.toml"),
        },
        Case {
            name: "built HTML and Vite manifest point outside the project",
            files: &[
                DOTENV,
                (
                    "devops-agent.toml",
                    "[build]\ndev = \"true\"\nprod = \"true\"\noutput = \"dist\"\n",
                ),
                (
                    "dist/index.html",
                    "<!doctype html><script src=\"../../../../../../../../etc/passwd\"></script><link rel=stylesheet href=\"/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/hostname\"><img src=\"out.png\">",
                ),
                (
                    "dist/.vite/manifest.json",
                    "{\"main.js\":{\"file\":\"../../../../../../../etc/passwd\"}}",
                ),
            ],
            setup: Some(|dir, _| {
                std::os::unix::fs::symlink("/etc/hostname", dir.join("dist/out.png")).unwrap();
            }),
            args: &["build"],
            codes: &[1],
            check: |report, _| {
                let assets = check_text(report, "build.assets_generated");
                assert!(assets.contains("outside the project"), "{assets}");
                assert!(assets.contains("out.png"), "{assets}");
            },
        },
        Case {
            name: "build command carries header tokens and key assignments",
            files: &[
                DOTENV,
                (
                    "devops-agent.toml",
                    "[build]\n\
                     dev = \"curl -s -H 'Authorization: Bearer {BEARER}' -H 'X-Api-Key: {BEARER}' http://127.0.0.1:9/ ; API_KEY={API_KEY} echo API_KEY={API_KEY}; echo $DB_PASSWORD; exit 3\"\n\
                     prod = \"echo pulling git+https://bob:{URL_PW}@git.example/x.git; echo $SIGNING; exit 3\"\n\
                     [build.env]\nSIGNING = \"{CFG_VALUE}\"\n",
                ),
            ],
            setup: None,
            args: &["build"],
            codes: &[1],
            check: |report, outputs| {
                let dev = check_text(report, "build.dev_build");
                assert!(dev.contains("Bearer ***"), "{dev}");
                assert!(dev.contains("API_KEY=***"), "{dev}");
                let prod = check_text(report, "build.prod_build");
                assert!(prod.contains("bob:***@git.example"), "{prod}");
                assert!(prod.contains("[redacted]"), "{prod}");
                let events = outputs.get("events.jsonl");
                assert!(
                    events.contains("\"command_started\"") && events.contains("Bearer ***"),
                    "{events}"
                );
            },
        },
        Case {
            name: "service prints its configured environment and .env password",
            files: &[
                DOTENV,
                (
                    "devops-agent.toml",
                    "[services.api]\n\
                     dev = \"echo cfg=$SVC_SIGNING fromenv=$DB_PASSWORD ci=$CI_TOKEN; exit 4\"\n\
                     [services.api.environment]\nSVC_SIGNING = \"{CFG_VALUE}\"\n\
                     [startup]\nready_timeout = \"3s\"\n",
                ),
            ],
            setup: None,
            args: &["startup"],
            codes: &[1],
            check: |report, _| {
                let dev = check_text(report, "startup.dev_mode");
                assert!(dev.contains("cfg=[redacted]"), "{dev}");
                assert!(dev.contains("fromenv=[redacted]"), "{dev}");
                assert!(dev.contains("ci=[redacted]"), "{dev}");
            },
        },
        Case {
            name: "requirements line with credentials in a VCS URL",
            files: &[
                DOTENV,
                (
                    "requirements.txt",
                    "flask @ git+https://bob:{URL_PW}@git.example/flask.git\nrequests==2.32.3\n",
                ),
            ],
            setup: None,
            args: &["deps"],
            codes: &[1, 2],
            check: |_, _| {},
        },
        Case {
            name: "dependency names with terminal escapes and HTML",
            files: &[
                DOTENV,
                (
                    "package.json",
                    "{\"name\":\"x\",\"version\":\"1.0.0\",\"dependencies\":{\"\\u001b]0;pwned\\u0007\\u001b[2J<img src=x onerror=alert(1)>\":\"1.0.0\",\"[click](https://evil.example)\":\"1.0.0\"}}",
                ),
            ],
            setup: None,
            args: &["deps"],
            codes: &[1, 2],
            check: |report, outputs| {
                assert!(
                    report_text(report).contains("onerror"),
                    "the dependency reached the report"
                );
                for name in ["human", "stderr", "github"] {
                    let text = outputs.get(name);
                    assert!(!text.contains('\u{1b}'), "{name} carries ESC:\n{text}");
                    assert!(!text.contains('\u{7}'), "{name} carries BEL:\n{text}");
                }
                // Code blocks (the evidence) show text literally; the prose must be escaped.
                let md = outside_fences(outputs.get("markdown"));
                assert!(md.contains("onerror"), "{md}");
                assert!(!md.contains("<img"), "{md}");
                assert!(!md.contains("[click](https"), "{md}");
            },
        },
    ]
}

#[test]
fn hostile_corpus() {
    let only = std::env::var("HOSTILE_CASE").ok();
    let mut ran = 0;
    for case in cases() {
        if only.as_deref().is_some_and(|o| !case.name.contains(o)) {
            continue;
        }
        run_case(&case);
        ran += 1;
    }
    assert!(ran > 0, "no hostile case matched HOSTILE_CASE");
}
