//! Every fix a ports finding suggests is valid in its file's own grammar and clears the
//! finding: [`checked_ports`] runs `devops-agent ports`, then, for each suggestion in the
//! report, parses it (YAML with serde-saphyr and the crate's compose interpolation, package.json
//! with `serde_json` and the script with `sh -n`, Kubernetes values rendered by the real GNU
//! `envsubst`, Dockerfile lines by their instruction grammar, `.env` lines with the crate's
//! dotenv parser, TOML with the toml crate), applies it to a copy of the project as the report
//! says to (see `src/gates/ports/fix.rs`), runs the checks again and asserts the finding is gone
//! and nothing new went wrong. [`crate::common::Run::report`] calls it on every report a test
//! reads, so every suggestion the test suite produces — from `ports`, `validate`, `ports
//! allocate` or any other command — is re-checked.

use std::path::Path;
use std::process::Command as Process;

use serde_json::Value;

use crate::common::{Run, devops_agent, run};

/// `devops-agent ports` on `dir` with a state directory and extra environment, every
/// suggestion re-checked. Returns the run and how many suggestions were verified.
pub(crate) fn checked_ports(dir: &Path, state: &Path, envs: &[(&str, &str)]) -> (Run, usize) {
    let out = ports_once(dir, state, envs);
    let verified = suggestion_count(&out.report());
    (out, verified)
}

/// How many fixes the report's ports findings suggest.
pub(crate) fn suggestion_count(report: &Value) -> usize {
    suggestions(report).len()
}

fn ports_once(dir: &Path, state: &Path, envs: &[(&str, &str)]) -> Run {
    let mut cmd = devops_agent(state);
    cmd.args(["ports", "--project"]).arg(dir);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    run(cmd)
}

/// One suggestion as the report gives it.
#[derive(Debug)]
struct Suggested {
    check: String,
    message: String,
    file: String,
    line: Option<u64>,
    column: Option<u64>,
    text: String,
}

fn suggestions(report: &Value) -> Vec<Suggested> {
    let mut out = Vec::new();
    for check in port_checks(report) {
        for f in check["findings"].as_array().into_iter().flatten() {
            let Some(text) = f["suggestion"].as_str() else {
                continue;
            };
            out.push(Suggested {
                check: check["id"].as_str().unwrap_or("").to_owned(),
                message: f["message"].as_str().unwrap_or("").to_owned(),
                file: f["file"].as_str().unwrap_or("").to_owned(),
                line: f["line"].as_u64(),
                column: f["column"].as_u64(),
                text: text.to_owned(),
            });
        }
    }
    out
}

fn port_checks(report: &Value) -> impl Iterator<Item = &Value> {
    report["gates"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["checks"].as_array().into_iter().flatten())
        .filter(|c| c["id"].as_str().is_some_and(|id| id.starts_with("ports.")))
}

/// Parse, apply and re-check every suggestion of `report`; panics listing every failure.
pub(crate) fn verify_suggestions(
    dir: &Path,
    state: &Path,
    envs: &[(&str, &str)],
    report: &Value,
) -> usize {
    let all = suggestions(report);
    let mut failures = Vec::new();
    for s in &all {
        if let Err(why) = verify_one(dir, state, envs, report, s) {
            failures.push(format!(
                "{}:{:?} `{}` ({}): {}",
                s.file,
                s.line,
                short(&s.text),
                short(&s.message),
                short(&why)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} suggestion(s) failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
    all.len()
}

fn verify_one(
    dir: &Path,
    state: &Path,
    envs: &[(&str, &str)],
    before: &Value,
    s: &Suggested,
) -> Result<(), String> {
    if s.file.is_empty() {
        return Err("a suggestion without a file cannot be applied".into());
    }
    let copy = tempfile::tempdir().map_err(|e| e.to_string())?;
    copy_tree(dir, copy.path());
    let path = copy.path().join(&s.file);
    let original = std::fs::read_to_string(&path).unwrap_or_default();
    let json = extension(&s.file) == "json";
    let fixed = apply(&original, s.line, s.column, &s.text, json)?;
    check_grammar(&s.file, &s.text, &fixed)?;
    std::fs::write(&path, &fixed).map_err(|e| e.to_string())?;

    let after = ports_once(copy.path(), state, envs).parsed();
    let messages = |report: &Value, check: &str, severity: Option<&str>| -> Vec<String> {
        port_checks(report)
            .filter(|c| c["id"] == check)
            .flat_map(|c| c["findings"].as_array().cloned().unwrap_or_default())
            .filter(|f| severity.is_none_or(|sev| f["severity"] == sev))
            .map(|f| f["message"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    for check in port_checks(&after) {
        let was_error =
            port_checks(before).any(|c| c["id"] == check["id"] && c["status"] == "error");
        if check["status"] == "error" && !was_error {
            return Err(format!(
                "after the fix {} is an error: {}",
                check["id"], check["message"]
            ));
        }
    }
    if messages(&after, &s.check, None).contains(&s.message) {
        return Err(format!(
            "the finding is still there after the fix:\n{fixed}"
        ));
    }
    for check in ["ports.env_configured", "ports.no_conflicts"] {
        let old = messages(before, check, Some("error"));
        for new in messages(&after, check, Some("error")) {
            if !old.contains(&new) {
                return Err(format!("the fix introduced a new {check} error: {new}"));
            }
        }
    }
    Ok(())
}

/// Apply a suggestion as `src/gates/ports/fix.rs` defines it.
fn apply(
    text: &str,
    line: Option<u64>,
    column: Option<u64>,
    fix: &str,
    json: bool,
) -> Result<String, String> {
    let Some(line) = line else {
        let mut out = text.to_owned();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(fix);
        out.push('\n');
        return Ok(out);
    };
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_owned).collect();
    let index = usize::try_from(line).map_err(|e| e.to_string())? - 1;
    let Some(target) = lines.get(index).cloned() else {
        return Err(format!("line {line} is past the end of the file"));
    };
    let (body, ending) = match target.strip_suffix("\r\n") {
        Some(b) => (b.to_owned(), "\r\n"),
        None => match target.strip_suffix('\n') {
            Some(b) => (b.to_owned(), "\n"),
            None => (target.clone(), ""),
        },
    };
    let replaced = if let Some(column) = column {
        let start = body
            .char_indices()
            .nth(usize::try_from(column).map_err(|e| e.to_string())? - 1)
            .map_or(body.len(), |(i, _)| i);
        let end = start + yaml_scalar_len(&body[start..]);
        format!("{}{fix}{}", &body[..start], &body[end..])
    } else {
        let indent_len = body.len() - body.trim_start().len();
        let indent = &body[..indent_len];
        let mut rest = &body[indent_len..];
        let mut prefix = indent.to_owned();
        if let Some(r) = rest.strip_prefix("- ") {
            prefix.push_str("- ");
            rest = r;
        }
        let comma = if json && rest.trim_end().ends_with(',') {
            ","
        } else {
            ""
        };
        let continuation = " ".repeat(prefix.len());
        let mut out = String::new();
        for (i, l) in fix.lines().enumerate() {
            if i > 0 {
                out.push_str(if ending.is_empty() { "\n" } else { ending });
                out.push_str(&continuation);
            }
            out.push_str(l);
        }
        format!("{prefix}{out}{comma}")
    };
    lines[index] = format!("{replaced}{ending}");
    Ok(lines.concat())
}

/// Length in bytes of the YAML scalar at the start of `text` (quoted or plain, in block or
/// flow context).
fn yaml_scalar_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    match bytes.first() {
        Some(b'"') => {
            let mut i = 1;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 2,
                    b'"' => return i + 1,
                    _ => i += 1,
                }
            }
            text.len()
        }
        Some(b'\'') => {
            let mut i = 1;
            while i < bytes.len() {
                if bytes[i] == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    return i + 1;
                }
                i += 1;
            }
            text.len()
        }
        _ => {
            let end = text
                .find(" #")
                .into_iter()
                .chain(text.find([',', ']', '}']))
                .min()
                .unwrap_or(text.len());
            text[..end].trim_end().len()
        }
    }
}

/// The suggestion, and the whole file with it applied, parse in the file's grammar.
fn check_grammar(file: &str, suggestion: &str, fixed: &str) -> Result<(), String> {
    let name = Path::new(file)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    let ext = extension(name);
    if ext == "yml" || ext == "yaml" {
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(fixed)
            .map_err(|e| format!("fixed file is not YAML: {e}"))?;
        if docs.iter().any(|d| d.get("apiVersion").is_some()) {
            check_k8s(fixed)?;
        } else {
            check_compose(&docs)?;
        }
    } else if name == "Dockerfile"
        || name.starts_with("Dockerfile.")
        || name.ends_with(".Dockerfile")
    {
        check_dockerfile(suggestion)?;
    } else if ext == "json" {
        let member: serde_json::Map<String, Value> =
            serde_json::from_str(&format!("{{{suggestion}}}"))
                .map_err(|e| format!("suggestion is not a JSON member: {e}"))?;
        let (script, command) = member.iter().next().ok_or("empty JSON member")?;
        let command = command.as_str().ok_or("script is not a string")?;
        let whole: Value =
            serde_json::from_str(fixed).map_err(|e| format!("fixed file is not JSON: {e}"))?;
        if whole["scripts"][script] != command {
            return Err(format!("script {script} did not take the fixed command"));
        }
        // On stdin: a command can be longer than one exec argument may be.
        let sh = piped(Process::new("sh").arg("-n"), command)?;
        if !sh.status.success() {
            return Err(format!(
                "`sh -n` rejects the command: {}",
                String::from_utf8_lossy(&sh.stderr)
            ));
        }
    } else if name.starts_with(".env") {
        devops_agent::dotenv::parse(Path::new(file), fixed)
            .map_err(|e| format!("fixed file is not a dotenv file: {e}"))?;
        let (key, value) = suggestion.split_once('=').ok_or("not KEY=value")?;
        if !devops_agent::dotenv::is_valid_key(key)
            || (!value.is_empty() && value.parse::<u16>().is_err())
        {
            return Err(format!("`{suggestion}` is not a port variable assignment"));
        }
    } else if ext == "toml" {
        let value: toml::Table =
            toml::from_str(fixed).map_err(|e| format!("fixed file is not TOML: {e}"))?;
        let _ = value;
    } else {
        return Err(format!("no grammar known for {file}"));
    }
    Ok(())
}

/// A file name's extension, lower-cased (empty when none).
fn extension(name: &str) -> String {
    Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Every port of every compose service is a string or number whose interpolation parses.
fn check_compose(docs: &[Value]) -> Result<(), String> {
    for doc in docs {
        for (name, service) in doc["services"].as_object().into_iter().flatten() {
            for port in service["ports"].as_array().into_iter().flatten() {
                let texts: Vec<String> = match port {
                    Value::String(s) => vec![s.clone()],
                    Value::Number(n) => vec![n.to_string()],
                    Value::Object(o) => o
                        .get("published")
                        .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                        .into_iter()
                        .collect(),
                    other => return Err(format!("service {name}: port entry {other} is neither")),
                };
                for text in texts {
                    devops_agent::interp::Template::parse(&text)
                        .map_err(|e| format!("service {name}: `{text}`: {e}"))?;
                }
            }
        }
    }
    Ok(())
}

/// The manifest rendered by the real GNU `envsubst` (each variable set to a port, and unset)
/// still parses, and every `hostPort`/`nodePort` is an integer or empty.
fn check_k8s(fixed: &str) -> Result<(), String> {
    for set in [true, false] {
        let mut cmd = Process::new("envsubst");
        cmd.env_clear();
        if set {
            for word in fixed.split(|c: char| {
                !(c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '{' || c == '}')
            }) {
                if let Some(name) = word.strip_prefix("${").and_then(|w| w.strip_suffix('}')) {
                    cmd.env(name, "30123");
                }
            }
        }
        let output = piped(&mut cmd, fixed)?;
        let rendered = String::from_utf8_lossy(&output.stdout).into_owned();
        let docs: Vec<Value> = serde_saphyr::from_multiple(&rendered)
            .map_err(|e| format!("rendered manifest is not YAML: {e}"))?;
        let mut bad = Vec::new();
        for doc in &docs {
            walk_ports(doc, &mut bad);
        }
        if !bad.is_empty() {
            return Err(format!(
                "after envsubst (variables set: {set}) these are not integers: {bad:?}"
            ));
        }
    }
    Ok(())
}

fn walk_ports(value: &Value, bad: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if (k == "nodePort" || k == "hostPort") && !(v.is_u64() || v.is_null()) {
                    bad.push(format!("{k}: {v}"));
                }
                walk_ports(v, bad);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| walk_ports(v, bad)),
        _ => {}
    }
}

/// `ARG NAME=port` lines and an `EXPOSE` whose words, with those defaults substituted, are
/// `port[/tcp|udp]`.
fn check_dockerfile(suggestion: &str) -> Result<(), String> {
    let mut args = std::collections::BTreeMap::new();
    let mut exposed = false;
    for line in suggestion.lines() {
        let (keyword, rest) = line
            .split_once(' ')
            .ok_or_else(|| format!("`{line}` is not an instruction"))?;
        match keyword {
            "ARG" => {
                let (name, value) = rest
                    .split_once('=')
                    .ok_or_else(|| format!("`{line}` has no default"))?;
                let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid || value.split('-').any(|p| p.parse::<u16>().is_err()) {
                    return Err(format!("`{line}` is not ARG NAME=port"));
                }
                args.insert(name.to_owned(), value.to_owned());
            }
            "EXPOSE" => {
                exposed = true;
                for word in rest.split_whitespace() {
                    // A variable the suggestion does not define is the file's own: any port.
                    let value = devops_agent::interp::interpolate(word, &|n| {
                        Some(args.get(n).cloned().unwrap_or_else(|| "1".to_owned()))
                    })
                    .map_err(|e| format!("`{word}`: {e}"))?;
                    let port = value.split('/').next().unwrap_or("");
                    let proto_ok = value
                        .split_once('/')
                        .is_none_or(|(_, p)| p == "tcp" || p == "udp");
                    if port.split('-').any(|p| p.parse::<u16>().is_err()) || !proto_ok {
                        return Err(format!("`{word}` renders to `{value}`, not a port"));
                    }
                }
            }
            other => return Err(format!("unexpected instruction {other}")),
        }
    }
    if exposed {
        Ok(())
    } else {
        Err("no EXPOSE".into())
    }
}

/// The start of a long text, for failure messages.
fn short(text: &str) -> String {
    match text.char_indices().nth(400) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// Run with `input` on stdin, capturing stdout and stderr.
fn piped(cmd: &mut Process, input: &str) -> Result<std::process::Output, String> {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(input.as_bytes())
        .map_err(|e| e.to_string())?;
    child.wait_with_output().map_err(|e| e.to_string())
}

/// Copy a project (symlinks recreated, not followed).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if entry.file_name() == "node_modules" || entry.file_name() == "target" {
            continue;
        }
        if kind.is_symlink() {
            let link = std::fs::read_link(entry.path()).unwrap();
            let link = if link == from { to.to_path_buf() } else { link };
            std::os::unix::fs::symlink(link, target).unwrap();
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn apply_follows_the_fix_rules() {
    let yaml = "services:\n  a:\n    ports:\n      - \"3000:3000\" # api\n      - [1, 2]\n";
    let out = apply(yaml, Some(4), Some(9), "\"${A_PORT:-3000}:3000\"", false).unwrap();
    assert!(
        out.contains("      - \"${A_PORT:-3000}:3000\" # api\n"),
        "{out}"
    );
    let out = apply(
        "FROM x\n  EXPOSE 80 81\n",
        Some(2),
        None,
        "ARG P=80\nEXPOSE ${P} 81",
        false,
    )
    .unwrap();
    assert_eq!(out, "FROM x\n  ARG P=80\n  EXPOSE ${P} 81\n");
    let out = apply(
        "{\n  \"dev\": \"vite --port 1\",\n}",
        Some(2),
        None,
        "\"dev\": \"x\"",
        true,
    )
    .unwrap();
    assert_eq!(out, "{\n  \"dev\": \"x\",\n}");
    assert_eq!(
        apply("A=1", None, None, "B=2", false).unwrap(),
        "A=1\nB=2\n"
    );
    assert_eq!(yaml_scalar_len("'it''s' x"), 7);
    assert_eq!(yaml_scalar_len("80, 81]"), 2);
}
