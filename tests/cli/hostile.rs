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
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{assert_valid, check, devops_agent, run};

/// The wall-time bound of the cases outside the table (signals).
const WALL: Duration = Duration::from_secs(10);

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
    for format in ["markdown", "human", "github", "junit", "html"] {
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
    if let Ok(junit) = std::fs::read_to_string(outdir.path().join("junit")) {
        crate::common::assert_junit_valid(&junit);
    }
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
            // `a/node_modules -> ..` three times over: unrolled, 3^depth paths (37 s with two
            // links before); each real node_modules is listed once.
            name: "node_modules symlink cycle",
            files: &[
                (
                    "package.json",
                    "{\"name\":\"x\",\"version\":\"1.0.0\",\"dependencies\":{\"a\":\"1.0.0\",\"b\":\"1.0.0\",\"c\":\"1.0.0\"}}",
                ),
                (
                    "node_modules/a/package.json",
                    "{\"name\":\"a\",\"version\":\"1.0.0\"}",
                ),
                (
                    "node_modules/b/package.json",
                    "{\"name\":\"b\",\"version\":\"1.0.0\"}",
                ),
                (
                    "node_modules/c/package.json",
                    "{\"name\":\"c\",\"version\":\"1.0.0\"}",
                ),
            ],
            setup: Some(|dir, _| {
                for pkg in ["a", "b", "c"] {
                    std::os::unix::fs::symlink(
                        "..",
                        dir.join("node_modules").join(pkg).join("node_modules"),
                    )
                    .unwrap();
                }
            }),
            args: &["deps"],
            codes: &[1],
            check: |report, _| {
                assert_eq!(
                    check(report, "deps.packages_installed")["status"],
                    "passed",
                    "{report:#}"
                );
            },
        },
        Case {
            // A password in an absolute asset URL of the built HTML: the CDN check names the
            // asset it could not fetch, never the password (127.0.0.1:9 refuses: loopback only).
            name: "CDN asset URL with userinfo",
            files: &[
                ("package.json", "{\"name\":\"x\",\"version\":\"1.0.0\"}"),
                (
                    "dist/index.html",
                    "<!doctype html><html><head><script src=\"http://bob:{URL_PW}@127.0.0.1:9/assets/app.js\"></script></head><body></body></html>",
                ),
            ],
            setup: None,
            args: &["integration", "--base-url", "http://127.0.0.1:9"],
            codes: &[1],
            check: |report, _| {
                let cdn = check(report, "integration.cdn");
                assert_eq!(cdn["status"], "failed", "{cdn:#}");
                assert!(
                    cdn["message"]
                        .as_str()
                        .unwrap()
                        .contains("bob:***@127.0.0.1:9/assets/app.js"),
                    "{cdn:#}"
                );
            },
        },
        Case {
            // Configured artifacts are checked under the confinement rule: a path out of the
            // project is refused unread, a FIFO is not an artifact (and never blocks).
            name: "build artifacts outside the project and a FIFO",
            files: &[(
                "devops-agent.toml",
                "[build]\ndev = \"true\"\nprod = \"true\"\nartifacts = [\"../../../../etc/hostname\", \"out.fifo\"]\n",
            )],
            setup: Some(|dir, _| mkfifo(&dir.join("out.fifo"))),
            args: &["build"],
            codes: &[1],
            check: |report, _| {
                let assets = check(report, "build.assets_generated");
                let text = assets.to_string();
                assert!(text.contains("points outside the project"), "{assets:#}");
                assert!(text.contains("FIFO"), "{assets:#}");
            },
        },
        Case {
            // Directory names that are not UTF-8 (Latin-1 bytes) must not hide what is inside:
            // the compose file's hard-coded port and the app's missing dependency are found,
            // named by the lossy path.
            name: "non-UTF-8 directory names",
            files: &[],
            setup: Some(|dir, _| {
                use std::os::unix::ffi::OsStrExt;
                let svc = dir.join(std::ffi::OsStr::from_bytes(b"svc\xff"));
                std::fs::create_dir_all(&svc).unwrap();
                std::fs::write(
                    svc.join("docker-compose.yml"),
                    "services:\n  web:\n    image: nginx\n    ports:\n      - \"8080:80\"\n",
                )
                .unwrap();
                let app = dir.join(std::ffi::OsStr::from_bytes(b"app\xfe"));
                std::fs::create_dir_all(&app).unwrap();
                std::fs::write(
                    app.join("package.json"),
                    "{\"name\":\"x\",\"version\":\"1.0.0\",\"dependencies\":{\"left-pad\":\"1.3.0\"}}",
                )
                .unwrap();
            }),
            args: &["validate", "S-1", "--gates", "ports,deps"],
            codes: &[1],
            check: |report, _| {
                let ports = check(report, "ports.env_configured");
                assert_eq!(ports["status"], "failed", "{ports:#}");
                assert_eq!(
                    ports["findings"][0]["file"],
                    "svc\u{fffd}/docker-compose.yml"
                );
                let deps = check(report, "deps.packages_installed");
                assert_eq!(deps["status"], "failed", "{deps:#}");
                assert!(
                    deps.to_string().contains("app\u{fffd}/package.json"),
                    "{deps:#}"
                );
            },
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
                // The HTML page shows the name as text, in the prose and in the evidence.
                let html = outputs.get("html");
                assert!(html.contains("onerror"), "{html}");
                assert!(!html.contains("<img"), "{html}");
                assert!(!html.contains('\u{1b}'), "the HTML carries ESC");
            },
        },
    ]
}

#[test]
fn hostile_corpus() {
    let only = std::env::var("HOSTILE_CASE").ok();
    let mut ran = 0;
    for case in cases().into_iter().chain(robust_cases()) {
        if only.as_deref().is_some_and(|o| !case.name.contains(o)) {
            continue;
        }
        run_case(&case);
        ran += 1;
    }
    assert!(ran > 0, "no hostile case matched HOSTILE_CASE");
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A virtualenv as the deps gate reads it, without starting Python: `pyvenv.cfg` and an empty
/// `site-packages`.
fn fake_venv(dir: &Path) {
    write(
        dir,
        ".venv/pyvenv.cfg",
        "home = /usr/bin\nversion = 3.12.1\n",
    );
    std::fs::create_dir_all(dir.join(".venv/lib/python3.12/site-packages")).unwrap();
}

/// Every check message and finding of the report as `file:line: message` lines, for
/// `contains` assertions.
fn said(report: &Value) -> String {
    let mut out = String::new();
    for gate in report["gates"].as_array().into_iter().flatten() {
        for c in gate["checks"].as_array().into_iter().flatten() {
            let _ = writeln!(out, "{}: {}: {}", c["id"], c["status"], c["message"]);
            for f in c["findings"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    out,
                    "  {}:{}: {}",
                    f["file"].as_str().unwrap_or("-"),
                    f["line"],
                    f["message"]
                );
            }
        }
    }
    for e in report["sprint_validation"]["blocking_issues"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let _ = writeln!(out, "blocking: {e}");
    }
    out
}

fn assert_said(report: &Value, wanted: &[&str]) {
    let text = said(report);
    for w in wanted {
        assert!(text.contains(w), "expected {w:?} in:\n{text}");
    }
}

fn status<'a>(report: &'a Value, id: &str) -> &'a str {
    check(report, id)["status"].as_str().unwrap_or("")
}

/// The parser-depth, scale, silent-pass and output cases (issue 12 part B).
fn robust_cases() -> Vec<Case> {
    vec![
        Case {
            name: "pep508 marker nested 3,000 deep",
            files: &[],
            setup: Some(|d, _| {
                fake_venv(d);
                let marker = format!("{}os_name == 'nt'{}", "(".repeat(3_000), ")".repeat(3_000));
                write(
                    d,
                    "requirements.txt",
                    &format!("six\nrequests ; {marker}\n"),
                );
            }),
            args: &["deps"],
            codes: &[2],
            check: |r, _| {
                // The file cannot be fully read: an error (exit 2), at its line, and the
                // rest of it is still checked.
                assert_eq!(status(r, "deps.packages_installed"), "error");
                assert_said(
                    r,
                    &[
                        "requirements.txt:2: \"marker parentheses nest more than 32 levels deep",
                        "requirements.txt:1: \"six is not installed",
                    ],
                );
            },
        },
        Case {
            name: "100k-term marker chain",
            files: &[],
            setup: Some(|d, _| {
                fake_venv(d);
                let chain = vec!["os_name == 'posix'"; 100_000].join(" and ");
                write(d, "requirements.txt", &format!("six ; {chain}\n"));
            }),
            args: &["deps"],
            codes: &[1],
            check: |r, _| assert_said(r, &["six", "is not installed"]),
        },
        Case {
            name: "nginx.conf nested 50,000 deep",
            files: &[],
            setup: Some(|d, _| {
                let deep = format!("{}listen 80;{}", "a {\n".repeat(50_000), "}".repeat(50_000));
                write(d, "nginx.conf", &deep);
                write(
                    d,
                    "devops-agent.toml",
                    "[integration]\nnginx = \"nginx.conf\"\n",
                );
            }),
            args: &["integration"],
            codes: &[1],
            check: |r, _| {
                assert_eq!(status(r, "integration.api_proxy"), "failed");
                assert_said(
                    r,
                    &[
                        "nginx.conf:65: \"cannot parse",
                        "nested more than 64 levels",
                    ],
                );
            },
        },
        Case {
            name: "20k declared npm dependencies, none installed",
            files: &[],
            setup: Some(|d, _| {
                let deps: Vec<String> = (0..20_000)
                    .map(|i| format!("    \"pkg-{i:05}\": \"^1.0.0\""))
                    .collect();
                write(
                    d,
                    "package.json",
                    &format!(
                        "{{\n  \"dependencies\": {{\n{}\n  }}\n}}\n",
                        deps.join(",\n")
                    ),
                );
                std::fs::create_dir_all(d.join("node_modules")).unwrap();
            }),
            args: &["deps"],
            codes: &[1],
            check: |r, _| {
                let c = check(r, "deps.packages_installed");
                assert!(c["message"].as_str().unwrap().contains("20000"), "{c}");
                // Lines come from the index: the last dependency is on line 20002.
                let last = crate::common::findings(c)
                    .into_iter()
                    .find(|f| f["message"].as_str().unwrap().contains("pkg-19999"));
                if let Some(f) = last {
                    assert_eq!(f["line"], 20_002);
                }
                assert_said(
                    r,
                    &["package.json:3: ", "pkg-00000@^1.0.0 is not installed"],
                );
            },
        },
        Case {
            name: "package.json that is an array",
            files: &[],
            setup: Some(|d, _| write(d, "package.json", "[\"react\", \"vite\"]\n")),
            args: &["deps"],
            codes: &[2],
            check: |r, _| {
                assert_eq!(status(r, "deps.packages_installed"), "error");
                assert_said(r, &["package.json:1", "must be a JSON object"]);
            },
        },
        Case {
            name: "package.json dependencies that is an array",
            files: &[],
            setup: Some(|d, _| {
                write(
                    d,
                    "package.json",
                    "{\n  \"name\": \"app\",\n  \"dependencies\": [\"react\"]\n}\n",
                );
                std::fs::create_dir_all(d.join("node_modules")).unwrap();
            }),
            args: &["deps"],
            codes: &[2],
            check: |r, _| {
                assert_eq!(status(r, "deps.packages_installed"), "error");
                assert_said(
                    r,
                    &["package.json:3", "expected an object of package names"],
                );
            },
        },
        Case {
            name: "requirements include loop through ../ keeps the root checked",
            files: &[],
            setup: Some(|d, _| {
                fake_venv(d);
                write(
                    d,
                    "requirements.txt",
                    "-r sub/requirements.txt\nroot-only\n",
                );
                write(
                    d,
                    "sub/requirements.txt",
                    "-r ../requirements.txt\nsub-only\n",
                );
            }),
            args: &["deps"],
            codes: &[1],
            check: |r, _| {
                // Each directory is a project of its own, each including the other: every
                // package is flagged once per project, at its own line, and nothing loops.
                let text = said(r);
                assert!(!text.contains("nest too deep"), "{text}");
                assert!(!text.contains("sub/../"), "{text}");
                assert_said(
                    r,
                    &[
                        "  requirements.txt:2: \"root-only is not installed",
                        "  sub/requirements.txt:2: \"sub-only is not installed",
                    ],
                );
                let c = check(r, "deps.packages_installed");
                assert!(
                    c["message"].as_str().unwrap().starts_with("4 problems"),
                    "{c}"
                );
            },
        },
        Case {
            name: "compose depends_on cycle",
            files: &[],
            setup: Some(|d, _| {
                write(
                    d,
                    "docker-compose.yml",
                    "services:\n  web:\n    image: x\n    depends_on: [api]\n  api:\n    image: x\n    depends_on:\n      web:\n        condition: service_started\n",
                );
            }),
            args: &["ports"],
            codes: &[2],
            check: |r, _| {
                assert_said(
                    r,
                    &[
                        "docker-compose.yml:8",
                        "depends_on cycle: api -> web -> api",
                    ],
                );
            },
        },
        Case {
            name: "compose self-dependency and unknown service",
            files: &[],
            setup: Some(|d, _| {
                write(
                    d,
                    "compose.yaml",
                    "services:\n  web:\n    image: x\n    depends_on: [web]\n  api:\n    image: x\n    depends_on: [db]\n  worker:\n    image: x\n    depends_on:\n      cache: {required: false}\n",
                );
            }),
            args: &["ports"],
            codes: &[2],
            check: |r, _| {
                let text = said(r);
                assert!(text.contains("service web depends on itself"), "{text}");
                assert!(
                    text.contains("service api depends on undefined service db"),
                    "{text}"
                );
                assert!(
                    !text.contains("cache"),
                    "required: false is allowed: {text}"
                );
            },
        },
        Case {
            name: "blank build command in devops-agent.toml",
            files: &[],
            setup: Some(|d, _| {
                write(
                    d,
                    "devops-agent.toml",
                    "[build]\ndev = \"   \"\nprod = \"make\"\n",
                );
            }),
            args: &["build"],
            codes: &[2],
            check: |r, _| {
                let errors = r["sprint_validation"]["blocking_issues"].to_string();
                assert!(errors.contains("the command is empty"), "{r:#}");
                assert!(r.to_string().contains("devops-agent.toml"), "{r:#}");
            },
        },
        Case {
            name: "empty build script in package.json",
            files: &[],
            setup: Some(|d, _| {
                write(
                    d,
                    "package.json",
                    "{\n  \"name\": \"app\",\n  \"scripts\": {\n    \"build\": \"\"\n  }\n}\n",
                );
            }),
            args: &["build"],
            codes: &[2],
            check: |r, _| {
                assert_eq!(status(r, "build.prod_build"), "error");
                assert_said(r, &["package.json:4", "script \\\"build\\\" is empty"]);
            },
        },
        Case {
            name: "17 MB index.html is too large, not missing",
            files: &[],
            setup: Some(|d, _| {
                write(
                    d,
                    "devops-agent.toml",
                    "[build]\ndev = \"true\"\nprod = \"true\"\noutput = \"dist\"\n",
                );
                let mut html = String::from("<!doctype html><script src=\"/app.js\"></script>");
                html.push_str(&"<p>padding</p>".repeat(17 * 1024 * 1024 / 14));
                write(d, "dist/index.html", &html);
                write(d, "dist/app.js", "console.log(1)\n");
            }),
            args: &["build"],
            codes: &[2],
            check: |r, _| {
                assert_eq!(status(r, "build.assets_generated"), "error");
                assert_said(r, &["dist/index.html is ", "more than the 16777216 bytes"]);
                assert!(!said(r).contains("no built HTML"));
            },
        },
        Case {
            name: "budget glob with twelve **/ segments",
            files: &[],
            setup: Some(|d, _| {
                write(
                    d,
                    "devops-agent.toml",
                    &format!(
                        "[build]\ndev = \"true\"\nprod = \"true\"\noutput = \"dist\"\n[[build.budgets.files]]\npath = \"{}*.js\"\nlimit = \"1 MB\"\n",
                        "**/".repeat(12)
                    ),
                );
                write(d, &format!("dist/{}x.css", "a/".repeat(40)), "p{}\n");
                write(d, "dist/app.js", "console.log(1)\n");
            }),
            args: &["build"],
            codes: &[0],
            check: |r, _| assert_eq!(status(r, "build.bundle_size"), "passed"),
        },
        Case {
            name: "--output with an unknown format",
            files: &[],
            setup: Some(|d, _| write(d, "README", "")),
            args: &["ports", "--output", "xml=report.xml"],
            codes: &[2],
            check: |r, o| {
                assert!(r.to_string().contains("unknown format `xml`"), "{r:#}");
                assert!(
                    !o.0.keys().any(|k| k.contains("report.xml")),
                    "nothing written"
                );
            },
        },
        Case {
            name: "--output that cannot be created",
            files: &[],
            setup: Some(|d, _| write(d, "blocker", "a file, not a directory\n")),
            args: &["ports", "--output", "json=/proc/version/report.json"],
            codes: &[2],
            check: |r, _| {
                assert!(r.to_string().contains("/proc/version"), "{r:#}");
                assert_eq!(r["gates"].as_array().map_or(0, Vec::len), 0, "no gate ran");
            },
        },
    ]
}

#[test]
fn stdout_on_a_full_device_exits_2() {
    let state = tempfile::tempdir().unwrap();
    let dir = crate::common::project(&[("README", "")]);
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("devops-agent"))
        .args(["ports", "--project"])
        .arg(dir.path())
        .env("DEVOPS_AGENT_STATE_DIR", state.path())
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot write the report to stdout"),
        "{stderr}"
    );
}

#[test]
fn output_parents_are_created_and_the_report_written() {
    let state = tempfile::tempdir().unwrap();
    let dir = crate::common::project(&[("README", "")]);
    let mut cmd = devops_agent(state.path());
    cmd.args([
        "ports",
        "--output",
        "json=out/a/b/report.json",
        "--events",
        "out/c/events.jsonl",
    ])
    .arg("--project")
    .arg(dir.path())
    .current_dir(dir.path());
    let out = run(cmd);
    let stdout = out.report();
    assert_eq!(out.code, 0, "{}", said(&stdout));
    let written: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/a/b/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(written["meta"]["command"], "ports");
    let events = std::fs::read_to_string(dir.path().join("out/c/events.jsonl")).unwrap();
    assert!(
        events
            .lines()
            .last()
            .unwrap()
            .contains("validation_complete")
    );
}

#[test]
fn a_garbage_port_registry_is_set_aside_and_allocate_works() {
    for garbage in [
        "",
        "{\"version\": 1, \"reservations\": [{\"port\": \"x\"}",
        "\u{7f}ELF",
    ] {
        let state = tempfile::tempdir().unwrap();
        std::fs::write(state.path().join("ports.json"), garbage).unwrap();
        let dir = crate::common::project(&[(
            "docker-compose.yml",
            "services:\n  web:\n    image: x\n    ports:\n      - \"${WEB_PORT:-8080}:80\"\n",
        )]);
        let mut cmd = devops_agent(state.path());
        cmd.args(["ports", "allocate", "--project"]).arg(dir.path());
        let out = run(cmd);
        out.report();
        assert_eq!(out.code, 0, "{garbage:?}: {}", out.stderr);
        assert!(out.stderr.contains("moved it to"), "{}", out.stderr);
        let env = std::fs::read_to_string(dir.path().join(".env")).unwrap();
        assert!(env.contains("WEB_PORT="), "{env}");
        let registry: Value = serde_json::from_str(
            &std::fs::read_to_string(state.path().join("ports.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(registry["reservations"].as_array().unwrap().len(), 1);
        let aside = std::fs::read_dir(state.path())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("ports.json.corrupt-"))
            .count();
        assert_eq!(aside, 1);
    }
}

/// Start `build` on a command that sleeps, send `signal` once it runs, and return the exit code
/// and report.
fn interrupt_build(signal: rustix::process::Signal) -> (Option<i32>, Value, Duration) {
    let state = tempfile::tempdir().unwrap();
    let dir = crate::common::project(&[(
        "devops-agent.toml",
        "[build]\ndev = \"touch started && sleep 30\"\nprod = \"true\"\n[timeouts]\ngrace = \"300ms\"\n",
    )]);
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("devops-agent"))
        .args(["build", "--project"])
        .arg(dir.path())
        .env("DEVOPS_AGENT_STATE_DIR", state.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.path().join("started").exists() {
        assert!(Instant::now() < deadline, "the build never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    let sent = Instant::now();
    rustix::process::kill_process(pid, signal).unwrap();
    let out = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no report after {signal:?} ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    crate::common::assert_valid(&report);
    (out.status.code(), report, took)
}

#[test]
fn sighup_writes_the_report_and_exits_129() {
    let (code, report, took) = interrupt_build(rustix::process::Signal::HUP);
    assert_eq!(code, Some(129));
    assert_eq!(report["meta"]["interrupted"], true);
    assert!(took < WALL, "took {took:?}");
}

#[test]
fn sigterm_writes_the_report_and_exits_130() {
    let (code, report, took) = interrupt_build(rustix::process::Signal::TERM);
    assert_eq!(code, Some(130));
    assert_eq!(report["meta"]["interrupted"], true);
    let dev = check(&report, "build.dev_build");
    assert_eq!(dev["status"], "skipped");
    assert!(
        dev["message"].as_str().unwrap().starts_with("cancelled"),
        "{dev:#}"
    );
    assert!(took < WALL, "took {took:?}");
}
