//! What a shell user gets: completion scripts that real bash and fish load and complete with,
//! and a man page per command that man(1) renders.

use std::path::Path;
use std::process::Command;

use clap::ValueEnum;

use crate::common::skip;

fn generated(what: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::common::devops_agent(dir.path())
        .args(what)
        .output()
        .expect("run devops-agent");
    assert!(out.status.success(), "{what:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn have(program: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        skip(&format!(
            "{program} is not installed (scripts/test.sh installs it)"
        ));
    }
    found
}

/// What bash offers for `words` (the words typed so far; an empty last word completes a new
/// one), as bash would: the script is sourced, the function `complete -p devops-agent`
/// registered is called with `COMP_WORDS`, `COMP_CWORD`, `COMP_LINE` and `COMP_POINT` set and
/// the command, current and previous words as arguments, and `COMPREPLY` is printed.
fn bash_complete(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect();
    let program = format!(
        r#"source "$1" || exit 9
spec=$(complete -p devops-agent) || exit 8
fn=${{spec##*-F }}; fn=${{fn%% *}}
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
prev=""
[ "$COMP_CWORD" -gt 0 ] && prev=${{COMP_WORDS[COMP_CWORD-1]}}
"$fn" devops-agent "${{COMP_WORDS[COMP_CWORD]}}" "$prev"
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        words = quoted.join(" ")
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program, "bash"])
        .arg(script)
        .output()
        .expect("run bash");
    assert!(out.status.success(), "bash: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_subcommands_flags_and_values_below_the_top_level() {
    if !have("bash") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("devops-agent.bash");
    std::fs::write(&script, generated(&["completions", "bash"])).unwrap();

    let formats: Vec<String> = devops_agent::cli::Format::value_variants()
        .iter()
        .filter_map(ValueEnum::to_possible_value)
        .map(|v| v.get_name().to_owned())
        .collect();
    assert!(formats.len() >= 6, "{formats:?}");
    for sub in ["validate", "ports", "build", "startup", "integration"] {
        assert_eq!(
            bash_complete(&script, &["devops-agent", sub, "--format", ""]),
            formats,
            "{sub} --format <TAB>"
        );
    }
    assert_eq!(
        bash_complete(&script, &["devops-agent", "validate", "--format", "j"]),
        ["json", "jsonl", "junit"]
    );
    assert_eq!(
        bash_complete(&script, &["devops-agent", "val"]),
        ["validate"]
    );
    assert_eq!(
        bash_complete(&script, &["devops-agent", "ports", "all"]),
        ["allocate"]
    );
    let flags = bash_complete(&script, &["devops-agent", "validate", "--"]);
    for flag in ["--skip", "--gates", "--keep-going", "--format", "--timeout"] {
        assert!(flags.iter().any(|f| f == flag), "{flag} in {flags:?}");
    }
    // At a positional, clap's script offers the flags too.
    let shells = bash_complete(&script, &["devops-agent", "completions", ""]);
    for shell in ["bash", "elvish", "fish", "powershell", "zsh"] {
        assert!(shells.iter().any(|s| s == shell), "{shell} in {shells:?}");
    }
    assert_eq!(
        bash_complete(&script, &["devops-agent", "completions", "f"]),
        ["fish"]
    );
}

#[test]
fn fish_offers_the_formats_with_their_descriptions_unexpanded() {
    if !have("fish") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("devops-agent.fish");
    std::fs::write(&script, generated(&["completions", "fish"])).unwrap();
    let out = Command::new("fish")
        .args(["--no-config", "-c"])
        .arg(r#"source $argv[1]; and complete -C "devops-agent validate --format ""#)
        .arg(&script)
        // Were the description expanded, this value would show in it.
        .env("GITHUB_STEP_SUMMARY", "/tmp/sentinel-step-summary")
        .env("HOME", dir.path())
        .output()
        .expect("run fish");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "fish: {out:?}");
    let offered: Vec<&str> = text.lines().filter_map(|l| l.split('\t').next()).collect();
    for format in ["json", "jsonl", "human", "junit", "markdown", "github"] {
        assert!(offered.contains(&format), "{format} in {text}");
    }
    let github = text.lines().find(|l| l.starts_with("github\t")).unwrap();
    assert!(github.contains("$GITHUB_STEP_SUMMARY"), "{github}");
    assert!(!text.contains("sentinel-step-summary"), "{text}");
}

/// Every command path the CLI has, as the man pages are named: `devops-agent-ports-allocate`.
fn page_names() -> Vec<String> {
    fn walk(cmd: &clap::Command, prefix: &str, names: &mut Vec<String>) {
        names.push(prefix.to_owned());
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            if sub.get_name() != "help" {
                walk(sub, &format!("{prefix}-{}", sub.get_name()), names);
            }
        }
    }
    let mut names = Vec::new();
    walk(
        &<devops_agent::cli::Cli as clap::CommandFactory>::command(),
        "devops-agent",
        &mut names,
    );
    names
}

#[test]
fn every_command_has_a_man_page_that_man_renders() {
    if !have("man") || !have("groff") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let out = crate::common::devops_agent(dir.path())
        .args(["man", "--format", "json", "--dir"])
        .arg(&pages)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names = page_names();
    assert!(names.len() >= 12, "{names:?}");
    assert_eq!(listed["written"].as_array().unwrap().len(), names.len());
    for name in &names {
        let file = pages.join(format!("{name}.1"));
        assert!(file.is_file(), "{} missing", file.display());
        // groff's warnings (-ww) about the page's roff, with preconv for UTF-8 text.
        let lint = Command::new("groff")
            .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            lint.status.success() && lint.stderr.is_empty(),
            "{name}: {}",
            String::from_utf8_lossy(&lint.stderr)
        );
        let rendered = Command::new("man")
            .arg("-l")
            .arg(&file)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .unwrap();
        assert!(rendered.status.success(), "man -l {name}: {rendered:?}");
        let text = String::from_utf8_lossy(&rendered.stdout);
        for section in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "EXIT STATUS",
            "ENVIRONMENT",
        ] {
            assert!(
                text.lines().any(|l| l == section),
                "{name}: no {section} section:\n{text}"
            );
        }
        assert!(text.contains("DEVOPS_AGENT_EVENTS"), "{name}");
        if name == "devops-agent" {
            assert!(references(&text).len() >= 10, "{text}");
        }
        for referenced in references(&text) {
            assert!(
                names.iter().any(|n| n == referenced),
                "{name} refers to {referenced}(1), which is not generated"
            );
        }
    }
    let top = std::fs::read_to_string(pages.join("devops-agent.1")).unwrap();
    assert_eq!(generated(&["man"]), top, "`man` prints devops-agent(1)");
    let allocate = std::fs::read_to_string(pages.join("devops-agent-ports-allocate.1")).unwrap();
    assert_eq!(generated(&["man", "ports", "allocate"]), allocate);
}

/// Every `devops-agent…(1)` page the rendered text refers to.
fn references(text: &str) -> Vec<&str> {
    text.match_indices("(1)")
        .filter_map(|(at, _)| {
            let start = text[..at]
                .char_indices()
                .rev()
                .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '-')
                .last()
                .map_or(at, |(i, _)| i);
            Some(&text[start..at]).filter(|r| r.starts_with("devops-agent"))
        })
        .collect()
}
