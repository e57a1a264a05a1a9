//! The fixes that findings outside the ports gate suggest are valid in their own grammar:
//! a command (deps: `npm ci`, `uv sync`, …) passes `sh -n`; an nginx directive
//! (`integration.static_assets`, `integration.websocket`) passes `nginx -t` inside a location
//! block; a `host:port` (`integration.api_proxy`) names a host and a port number; a `NAME=value`
//! assignment (`integration.frontend_backend`) is a dotenv line. What remains is advice in prose
//! ("set `DATABASE_URL` in the environment or in .env"): it must say something.
//! [`crate::common::Run::report`] runs [`check_advice`] on every report a test reads, beside the
//! ports fixes' re-check in [`crate::ports_fixes`].

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// Panics listing every suggestion of `report` (outside the ports gate) that does not parse.
pub(crate) fn check_advice(report: &Value) {
    let mut failures = Vec::new();
    let checks = report["gates"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["checks"].as_array().into_iter().flatten());
    for check in checks {
        let id = check["id"].as_str().unwrap_or("");
        if id.starts_with("ports.") {
            continue;
        }
        for finding in check["findings"].as_array().into_iter().flatten() {
            let Some(text) = finding["suggestion"].as_str() else {
                continue;
            };
            if let Err(why) = check_one(id, text) {
                failures.push(format!("{id}: `{text}`: {why}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "suggestion(s) that do not parse:\n{}",
        failures.join("\n")
    );
}

fn check_one(id: &str, text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("an empty suggestion".into());
    }
    if id.starts_with("deps.") {
        return shell(text);
    }
    if let Some(directive) = text.strip_prefix("nginx: ") {
        return nginx(directive);
    }
    match id {
        "integration.websocket" => nginx(text),
        "integration.api_proxy" => {
            let (host, port) = text.rsplit_once(':').ok_or("not host:port")?;
            if host.is_empty() || host.contains(char::is_whitespace) {
                return Err(format!("`{host}` is not a host name"));
            }
            port.parse::<u16>()
                .map(drop)
                .map_err(|e| format!("`{port}` is not a port: {e}"))
        }
        "integration.frontend_backend" if !text.contains(' ') => {
            devops_agent::dotenv::parse(std::path::Path::new(".env"), text)
                .map(drop)
                .map_err(|e| format!("not a dotenv line: {e}"))
        }
        // Advice in prose: nothing to parse.
        _ => Ok(()),
    }
}

/// The command parses as POSIX sh.
fn shell(command: &str) -> Result<(), String> {
    let out = Command::new("sh")
        .args(["-n", "-c", command])
        .output()
        .map_err(|e| format!("sh: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`sh -n` rejects it: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The directives pass `nginx -t` inside a proxied location block of a minimal configuration.
fn nginx(directives: &str) -> Result<(), String> {
    let Some(binary) = ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
    else {
        crate::common::skip("nginx is not installed (scripts/test.sh installs it)");
        unreachable!();
    };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "error_log stderr;\npid {pid};\nevents {{}}\nhttp {{\n  access_log off;\n  \
             server {{\n    listen 127.0.0.1:9;\n    location / {{\n      \
             proxy_pass http://127.0.0.1:9;\n      {directives}\n    }}\n  }}\n}}\n",
            pid = dir.path().join("nginx.pid").display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let out = Command::new(binary)
        .arg("-t")
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf)
        .output()
        .map_err(|e| format!("nginx: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`nginx -t` rejects it: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[test]
fn advice_checks_reject_broken_suggestions() {
    assert!(check_one("deps.lockfile_valid", "npm ci").is_ok());
    assert!(check_one("deps.lockfile_valid", "npm ci && (").is_err());
    assert!(
        check_one(
            "integration.static_assets",
            "nginx: try_files $uri $uri/ /index.html;"
        )
        .is_ok()
    );
    assert!(check_one("integration.static_assets", "nginx: try_files $uri {").is_err());
    assert!(check_one("integration.websocket", "proxy_http_version 1.1;").is_ok());
    assert!(check_one("integration.websocket", "proxy_http_version").is_err());
    assert!(check_one("integration.api_proxy", "backend:3000").is_ok());
    assert!(check_one("integration.api_proxy", "backend:99999").is_err());
    assert!(
        check_one(
            "integration.frontend_backend",
            "VITE_API_URL=http://127.0.0.1:3000"
        )
        .is_ok()
    );
    assert!(check_one("startup.env_vars", " ").is_err());
}
