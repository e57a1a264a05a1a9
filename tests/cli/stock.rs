//! Stock stacks, zero configuration: a real Vite app (`npm ci` of a real lock), CRA- and
//! Next-style scripts (stand-in CLIs with the real ones' server behaviour), a Flask app in a
//! real `.venv` started by a Procfile, a `FastAPI` app run by uvicorn, and a frontend/backend
//! pair named `vote`/`result` whose backend allows only `http://localhost:<frontend port>`, a
//! real socket.io backend, and a push feed on the real `ws` library that never echoes.
//! Each passes `validate` with no devops-agent.toml; a broken variant of each fails with a
//! message that names the cause. Installed trees are cached under `target/fixture-cache/`.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{
    Run, check, devops_agent, have, installed_fixture, project, run, sh, skip, status,
};

const INSTALLED: &[&str] = &["node_modules", ".venv", "dist", "build", ".next"];

/// How a fixture's tree is installed.
#[derive(Clone, Copy)]
enum Install {
    /// `npm ci` in this subdirectory.
    Npm(&'static str),
    /// `python3 -m venv .venv` and `pip install -r requirements.txt`.
    Pip,
}

fn install(dir: &Path, how: Install) -> Result<(), String> {
    match how {
        Install::Npm(sub) => sh(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(dir.join(sub)),
            "npm ci",
        ),
        Install::Pip => {
            sh(
                Command::new("python3")
                    .args(["-m", "venv", ".venv"])
                    .current_dir(dir),
                "python3 -m venv",
            )?;
            sh(
                Command::new(dir.join(".venv/bin/python"))
                    .args(["-m", "pip", "install", "--quiet", "-r", "requirements.txt"])
                    .current_dir(dir),
                "pip install",
            )
        }
    }
}

/// A private copy of fixture `name` with its tree installed (cached by content), or None
/// after `skip` when npm or python3 is missing or the install fails.
fn installed(name: &str, how: Install) -> Option<tempfile::TempDir> {
    let tool = match how {
        Install::Npm(_) => "npm",
        Install::Pip => "python3",
    };
    if !have(tool) {
        skip(&format!("{tool} is not installed"));
        return None;
    }
    let (dir, cached) = installed_fixture(name, INSTALLED, |dir| install(dir, how))?;
    // A virtualenv's scripts name its interpreter by absolute path: make a fresh one here
    // rather than trusting the cached copy's paths.
    if matches!(how, Install::Pip) {
        let venv = dir.path().join(".venv");
        let _ = fs::remove_dir_all(&venv);
        // Installed under the `.partial` name, then renamed.
        copy_venv(
            &cached.join(".venv"),
            &venv,
            (&cached.with_extension("partial").join(".venv"), &venv),
        );
    }
    Some(dir)
}

/// Copy a virtualenv, rewriting the absolute paths its scripts and pyvenv.cfg carry.
fn copy_venv(from: &Path, to: &Path, (old_root, new_root): (&Path, &Path)) {
    fs::create_dir_all(to).unwrap();
    let new = new_root.to_string_lossy().into_owned();
    let old = old_root.to_string_lossy().into_owned();
    for entry in fs::read_dir(from).unwrap().flatten() {
        let kind = entry.file_type().unwrap();
        let target = to.join(entry.file_name());
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else if kind.is_dir() {
            copy_venv(&entry.path(), &target, (old_root, new_root));
        } else {
            let bytes = fs::read(entry.path()).unwrap();
            match String::from_utf8(bytes) {
                Ok(text) if text.contains(&old) => {
                    fs::write(&target, text.replace(&old, &new)).unwrap();
                    fs::set_permissions(&target, entry.metadata().unwrap().permissions()).unwrap();
                }
                _ => {
                    fs::copy(entry.path(), &target).unwrap();
                }
            }
        }
    }
}

fn agent(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(args)
        .arg("--project")
        .arg(dir)
        .env_remove("VIRTUAL_ENV")
        .env_remove("NODE_ENV")
        .env_remove("PORT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd)
}

fn validate(dir: &Path, env: &[(&str, &str)]) -> Run {
    agent(dir, &["validate", "STORY-21", "--no-history"], env)
}

/// `startup --env MODE` alone: its mode check must have `want` as its status; its message.
fn one_mode(dir: &Path, mode: &str, want: &str) -> String {
    let out = agent(dir, &["startup", "--env", mode], &[]);
    let report = out.report();
    let id = format!("startup.{mode}_mode");
    assert_eq!(status(&report, &id), want, "{}", message(&report, &id));
    message(&report, &id)
}

fn message(report: &Value, id: &str) -> String {
    check(report, id)["message"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

fn service<'a>(report: &'a Value, id: &str) -> &'a Value {
    &check(report, id)["evidence"]["services"][0]
}

/// Every startup and integration check passed or was skipped with a reason; none failed.
fn assert_ready(out: &Run) -> Value {
    let report = out.report();
    for gate in report["gates"].as_array().unwrap() {
        for c in gate["checks"].as_array().unwrap() {
            let s = c["status"].as_str().unwrap();
            assert!(
                matches!(s, "passed" | "skipped" | "warning"),
                "{} is {s}: {}\n{}",
                c["id"],
                c["message"],
                out.stderr
            );
            if s == "skipped" {
                assert!(
                    !c["message"].as_str().unwrap().is_empty(),
                    "{} skipped without a reason",
                    c["id"]
                );
            }
        }
    }
    assert_eq!(out.code, 0, "{}", report["summary"]);
    assert!(!fixture_has_toml(&report));
    report
}

fn fixture_has_toml(report: &Value) -> bool {
    report["meta"]["config"]
        .as_str()
        .is_some_and(|c| !c.is_empty())
}

#[test]
fn stock_vite_app_gets_its_port_as_vite_takes_it() {
    let Some(dir) = installed("stock-vite", Install::Npm(".")) else {
        return;
    };
    let out = validate(dir.path(), &[]);
    let report = assert_ready(&out);
    assert_eq!(status(&report, "startup.dev_mode"), "passed");
    assert_eq!(status(&report, "startup.prod_mode"), "passed");
    let dev = service(&report, "startup.dev_mode");
    assert_eq!(dev["framework"], "vite");
    let command = dev["command"].as_str().unwrap();
    assert!(
        command.starts_with("npm run dev -- --port ") && command.ends_with(" --strictPort"),
        "{command}"
    );
    assert_eq!(dev["port"], dev["port_offered"]);
    assert!(
        dev["environment"]
            .as_str()
            .unwrap()
            .contains("node_modules/.bin")
    );
    let prod = service(&report, "startup.prod_mode");
    assert!(
        prod["command"]
            .as_str()
            .unwrap()
            .starts_with("npm run preview -- --port ")
    );
    assert_eq!(status(&report, "integration.static_assets"), "passed");

    // Broken: the script pins a port another process holds; Vite moves on without a word. The
    // app is probed where it went, and the warning names the holder instead of "pass PORT".
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let held = holder.local_addr().unwrap().port();
    let pkg = fs::read_to_string(dir.path().join("package.json")).unwrap();
    fs::write(
        dir.path().join("package.json"),
        pkg.replace(
            "\"dev\": \"vite\"",
            &format!("\"dev\": \"vite --port {held}\""),
        ),
    )
    .unwrap();
    let out = agent(dir.path(), &["startup", "--env", "dev"], &[]);
    let report = out.report();
    assert_eq!(status(&report, "startup.dev_mode"), "warning");
    let m = message(&report, "startup.dev_mode");
    assert!(
        m.contains(&format!("port {held}, which the command pins, is held by "))
            && m.contains(&format!("(pid {})", std::process::id())),
        "{m}"
    );
    assert_ne!(service(&report, "startup.dev_mode")["port"], held);
    drop(holder);
    fs::write(dir.path().join("package.json"), pkg).unwrap();

    // Broken: a config Vite cannot load. The message carries Vite's own error line.
    fs::write(
        dir.path().join("vite.config.js"),
        "export default {\n  plugins: [\n",
    )
    .unwrap();
    let out = agent(dir.path(), &["startup"], &[]);
    let report = out.report();
    assert_eq!(status(&report, "startup.dev_mode"), "failed");
    let m = message(&report, "startup.dev_mode");
    assert!(m.contains("vite.config.js"), "{m}");
    assert!(!m.contains("ELIFECYCLE"), "{m}");
}

#[test]
fn app_listening_elsewhere_is_found_probed_and_warned_about() {
    let fixed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = format!(
        "require('http').createServer((q, s) => s.end('ok')).listen({fixed}, () => console.log('listening on http://localhost:{fixed}'));\n"
    );
    let dir = project(&[
        (
            "package.json",
            r#"{"name":"fixed","private":true,"scripts":{"start":"node server.js"}}"#,
        ),
        ("server.js", &server),
    ]);
    let out = agent(dir.path(), &["startup", "--env", "dev"], &[]);
    let report = out.report();
    assert_eq!(
        status(&report, "startup.dev_mode"),
        "warning",
        "{}",
        message(&report, "startup.dev_mode")
    );
    let dev = service(&report, "startup.dev_mode");
    assert_eq!(dev["port"], fixed);
    assert_ne!(dev["port_offered"], fixed);
    let m = message(&report, "startup.dev_mode");
    assert!(m.contains(&format!("listens on port {fixed}")), "{m}");
    assert!(
        m.contains(&dev["port_offered"].to_string()) && m.contains("PORT"),
        "{m}"
    );
    // --env dev: production is not selected, not "skipped with --skip".
    assert_eq!(status(&report, "startup.prod_mode"), "skipped");
    assert_eq!(
        message(&report, "startup.prod_mode"),
        "not selected: --env dev"
    );
}

#[test]
fn cra_scripts_run_the_dev_server_and_say_why_there_is_no_production_one() {
    let Some(dir) = installed("stock-cra", Install::Npm(".")) else {
        return;
    };
    let out = validate(dir.path(), &[]);
    let report = assert_ready(&out);
    assert_eq!(status(&report, "startup.dev_mode"), "passed");
    assert_eq!(service(&report, "startup.dev_mode")["framework"], "cra");
    assert_eq!(status(&report, "startup.prod_mode"), "skipped");
    assert!(
        message(&report, "startup.prod_mode")
            .contains("react-scripts start is the development server")
    );

    fs::remove_file(dir.path().join("src/App.js")).unwrap();
    let out = agent(dir.path(), &["startup"], &[]);
    let report = out.report();
    assert_eq!(status(&report, "startup.dev_mode"), "failed");
    let m = message(&report, "startup.dev_mode");
    assert!(
        m.contains("Module not found: Error: Can't resolve './App'"),
        "{m}"
    );
    assert!(!m.contains("ELIFECYCLE") && !m.contains("npm error"), "{m}");
}

#[test]
fn next_start_gets_a_production_build_first() {
    let Some(dir) = installed("stock-next", Install::Npm(".")) else {
        return;
    };
    let out = validate(dir.path(), &[]);
    let report = assert_ready(&out);
    let prod = service(&report, "startup.prod_mode");
    assert!(
        prod["command"]
            .as_str()
            .unwrap()
            .contains("npm run start -- -p "),
        "{prod}"
    );
    // `next dev` deleted the build the build gate made; startup rebuilt it before next start.
    assert!(
        prod["prod_build"].as_str().unwrap().starts_with("rebuilt"),
        "{prod}"
    );

    // Broken: no build script, so nothing can make the production build.
    let pkg = fs::read_to_string(dir.path().join("package.json")).unwrap();
    fs::write(
        dir.path().join("package.json"),
        pkg.replace("\"build\": \"next build\",", ""),
    )
    .unwrap();
    let _ = fs::remove_dir_all(dir.path().join(".next"));
    let out = agent(dir.path(), &["startup", "--env", "prod"], &[]);
    let report = out.report();
    assert_eq!(status(&report, "startup.prod_mode"), "failed");
    let m = message(&report, "startup.prod_mode");
    assert!(m.contains("Could not find a production build"), "{m}");
    assert!(!m.contains("ELIFECYCLE"), "{m}");
    assert_eq!(
        message(&report, "startup.dev_mode"),
        "not selected: --env prod"
    );
}

#[test]
fn flask_procfile_runs_in_the_venv_and_a_login_redirect_is_ready() {
    let Some(dir) = installed("stock-flask", Install::Pip) else {
        return;
    };
    let out = validate(dir.path(), &[]);
    let report = assert_ready(&out);
    for id in ["startup.dev_mode", "startup.prod_mode"] {
        let s = service(&report, id);
        assert_eq!(s["framework"], "gunicorn");
        assert!(
            s["environment"]
                .as_str()
                .unwrap()
                .contains(".venv/bin (VIRTUAL_ENV)"),
            "{s}"
        );
        assert!(
            s["command"]
                .as_str()
                .unwrap()
                .starts_with("gunicorn app:app --bind 127.0.0.1:")
        );
        assert!(
            s["ready_via"].as_str().unwrap().contains("GET / 302"),
            "{s}"
        );
        assert!(s["http_answers_seen"].to_string().contains("/ 302"), "{s}");
    }
    assert_eq!(status(&report, "startup.health_checks"), "passed");

    fs::write(
        dir.path().join("Procfile"),
        "web: gunicorn app:application\n",
    )
    .unwrap();
    let out = agent(dir.path(), &["startup", "--env", "prod"], &[]);
    let report = out.report();
    assert_eq!(status(&report, "startup.prod_mode"), "failed");
    let m = message(&report, "startup.prod_mode");
    assert!(
        m.contains("Failed to find attribute 'application' in 'app'"),
        "{m}"
    );

    // Broken readiness: / fails with a 500 instead of redirecting. The app is listening, and
    // the message says what it answered (a short ready_timeout keeps the test quick).
    fs::write(dir.path().join("Procfile"), "web: gunicorn app:app\n").unwrap();
    let app = fs::read_to_string(dir.path().join("app.py")).unwrap();
    fs::write(
        dir.path().join("app.py"),
        app.replace(
            "return redirect(\"/login\")",
            "raise RuntimeError(\"no session store\")",
        ),
    )
    .unwrap();
    fs::write(
        dir.path().join("devops-agent.toml"),
        "[startup]\nready_timeout = \"4s\"\n",
    )
    .unwrap();
    let m = one_mode(dir.path(), "prod", "failed");
    assert!(
        m.contains("accepted connections but answered") && m.contains("/ 500"),
        "{m}"
    );
}

#[test]
fn fastapi_app_without_procfile_runs_under_uvicorn() {
    let Some(dir) = installed("stock-fastapi", Install::Pip) else {
        return;
    };
    let out = validate(dir.path(), &[]);
    let report = assert_ready(&out);
    let dev = service(&report, "startup.dev_mode");
    assert_eq!(dev["framework"], "fastapi");
    assert!(
        dev["command"]
            .as_str()
            .unwrap()
            .starts_with("uvicorn main:app --port "),
        "{dev}"
    );
    assert!(
        dev["ready_via"].as_str().unwrap().contains("/health 200"),
        "{dev}"
    );

    let main = fs::read_to_string(dir.path().join("main.py")).unwrap();
    fs::write(
        dir.path().join("main.py"),
        format!("import fastapi_missing_plugin\n{main}"),
    )
    .unwrap();
    let m = one_mode(dir.path(), "dev", "failed");
    assert!(
        m.contains("ModuleNotFoundError: No module named 'fastapi_missing_plugin'"),
        "{m}"
    );
}

#[test]
fn cors_is_probed_from_the_origin_the_frontend_is_served_at() {
    let Some(dir) = installed("stock-cors", Install::Npm("vote")) else {
        return;
    };
    let out = validate(dir.path(), &[]);
    let report = assert_ready(&out);
    let cors = check(&report, "integration.cors");
    assert_eq!(cors["status"], "passed", "{cors}");
    assert!(
        cors["evidence"]["origin"]
            .as_str()
            .unwrap()
            .starts_with("http://localhost:")
    );
    assert_eq!(status(&report, "integration.frontend_backend"), "passed");
    assert_eq!(status(&report, "integration.api_proxy"), "skipped");
    assert!(message(&report, "integration.api_proxy").contains("calls the API directly"));
    let roles = check(&report, "integration.cors")["evidence"]["roles"].to_string();
    assert!(roles.contains("vote looks like a frontend"), "{roles}");
    // result has no start script: npm start runs node server.js.
    let dev = &check(&report, "startup.dev_mode")["evidence"]["services"];
    assert!(
        dev.to_string().contains("npm start runs node server.js"),
        "{dev}"
    );

    // Broken: the backend allows an origin the frontend is not served at.
    let out = validate(dir.path(), &[("ALLOWED_ORIGIN", "http://localhost:1")]);
    let report = out.report();
    assert_eq!(out.code, 1);
    let cors = check(&report, "integration.cors");
    assert_eq!(cors["status"], "failed");
    let tried = cors["evidence"]["origins_tried"].as_array().unwrap();
    assert_eq!(tried.len(), 3, "{cors}");
    assert!(
        cors["message"]
            .as_str()
            .unwrap()
            .contains("allows none of the origins"),
        "{cors}"
    );
}

#[test]
fn unknown_roles_skip_the_integration_checks_with_the_reason() {
    let server = "require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT);\n";
    let dir = project(&[
        (
            "one/package.json",
            r#"{"name":"one","private":true,"scripts":{"start":"node server.js"}}"#,
        ),
        ("one/server.js", server),
        (
            "two/package.json",
            r#"{"name":"two","private":true,"scripts":{"start":"node server.js"}}"#,
        ),
        ("two/server.js", server),
    ]);
    let out = agent(dir.path(), &["integration"], &[]);
    let report = out.report();
    for id in [
        "integration.frontend_backend",
        "integration.cors",
        "integration.static_assets",
    ] {
        assert_eq!(status(&report, id), "skipped", "{id}");
        assert!(
            message(&report, id).contains("nothing says which is the frontend"),
            "{}",
            message(&report, id)
        );
    }
    assert_ne!(out.code, 1, "no failure from a name guess");
}

#[test]
fn socket_io_backend_gets_an_engine_io_session_not_an_echo() {
    let Some(dir) = installed("stock-socketio", Install::Npm(".")) else {
        return;
    };
    let out = validate(dir.path(), &[]);
    let report = assert_ready(&out);
    let ws = check(&report, "integration.websocket");
    assert_eq!(ws["status"], "passed", "{ws}");
    assert!(
        ws["evidence"]["detected_from"]
            .as_str()
            .unwrap()
            .contains("socket.io among the dependencies in package.json"),
        "{ws}"
    );
    let trip = &ws["evidence"]["round_trips"][0];
    assert!(
        trip["url"]
            .as_str()
            .unwrap()
            .ends_with("/socket.io/?EIO=4&transport=websocket"),
        "{trip}"
    );
    assert_eq!(trip["status"], 101);
    assert_eq!(
        trip["protocol"],
        "Engine.IO open packet received; Socket.IO CONNECT answered"
    );
    // Probed directly: nothing proxies it, so there is no "through the proxy" leg to fail.
    assert_eq!(ws["evidence"]["round_trips"].as_array().unwrap().len(), 1);
    // One page and no client-side router: an undefined path is rightly a 404, not a missing
    // SPA fallback (the false warning socket.io's own chat example got).
    let assets = check(&report, "integration.static_assets");
    assert_eq!(assets["status"], "passed", "{assets}");
    assert!(
        assets["evidence"]["spa_fallback"]["skipped"]
            .as_str()
            .unwrap()
            .contains("no client-side router"),
        "{assets}"
    );

    // With a client-side router the app is an SPA: its server must answer deep links with the
    // index, and this one does not.
    let pkg = fs::read_to_string(dir.path().join("package.json")).unwrap();
    fs::write(
        dir.path().join("package.json"),
        pkg.replace(
            "\"socket.io\": \"^4.8.0\"",
            "\"socket.io\": \"^4.8.0\",\n    \"vue-router\": \"^4.5.0\"",
        ),
    )
    .unwrap();
    let out = agent(dir.path(), &["integration"], &[]);
    let report = out.report();
    assert_eq!(status(&report, "integration.static_assets"), "warning");
    let m = message(&report, "integration.static_assets");
    assert!(
        m.contains("answered 404 Not Found, not the index")
            && m.contains("it is an SPA: vue-router in package.json"),
        "{m}"
    );
    fs::write(dir.path().join("package.json"), pkg).unwrap();

    // Broken: the server offers only HTTP long-polling, so the WebSocket upgrade is refused.
    let server = fs::read_to_string(dir.path().join("server.js")).unwrap();
    fs::write(
        dir.path().join("server.js"),
        server.replace(
            "new Server(server)",
            "new Server(server, { transports: ['polling'] })",
        ),
    )
    .unwrap();
    let out = agent(dir.path(), &["integration"], &[]);
    let report = out.report();
    assert_eq!(out.code, 1);
    assert_eq!(status(&report, "integration.websocket"), "failed");
    let m = message(&report, "integration.websocket");
    assert!(
        m.contains("400 Bad Request") && m.contains("does not offer the websocket transport"),
        "{m}"
    );
    assert!(m.contains("\"Transport unknown\""), "{m}");
}

#[test]
fn dockerfile_entrypoint_and_cmd_start_an_app_nothing_else_describes() {
    // No start script and no server.js (npm start would fail): the image's command is the hint.
    let server = "require('http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT || 8080));\n";
    let dir = project(&[
        (
            "package.json",
            r#"{"name":"dock","version":"1.0.0","private":true,"main":"index.js"}"#,
        ),
        ("index.js", server),
        (
            "Dockerfile",
            "FROM node:20-alpine AS base\nWORKDIR /app\nCOPY . .\nARG PORT=8080\nENV PORT=${PORT}\nEXPOSE ${PORT}\nENTRYPOINT [\"/sbin/tini\", \"--\", \"/usr/local/bin/node\"]\nCMD [\"index.js\"]\n",
        ),
    ]);
    // tini only wraps what follows it: the node after it, with the CMD, is the server.
    let out = validate(dir.path(), &[]);
    let report = assert_ready(&out);
    let dev = service(&report, "startup.dev_mode");
    assert_eq!(status(&report, "startup.dev_mode"), "passed");
    assert_eq!(status(&report, "startup.prod_mode"), "passed");
    assert_eq!(dev["command"], "node index.js", "{dev}");
    assert!(
        dev["source"]
            .as_str()
            .unwrap()
            .starts_with("Dockerfile ENTRYPOINT/CMD"),
        "{dev}"
    );

    // Broken: the image's command names a file the project does not have.
    fs::remove_file(dir.path().join("index.js")).unwrap();
    let m = one_mode(dir.path(), "dev", "failed");
    assert!(m.contains("Cannot find module"), "{m}");
}

#[test]
fn vite_env_files_are_read_in_vites_order() {
    let Some(dir) = installed("stock-cors", Install::Npm("vote")) else {
        return;
    };
    let vote = dir.path().join("vote");
    let api_base = |report: &Value| {
        check(report, "integration.frontend_backend")["evidence"]["api_base"]["source"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    // .env.local wins over .env: a wrong API base there fails, naming the file.
    fs::write(vote.join(".env.local"), "VITE_API_URL=http://localhost:1\n").unwrap();
    let out = agent(dir.path(), &["integration", "--env", "dev"], &[]);
    let report = out.report();
    assert_eq!(status(&report, "integration.frontend_backend"), "failed");
    let m = message(&report, "integration.frontend_backend");
    assert!(m.contains("http://localhost:1 (vote/.env.local)"), "{m}");

    // Vite puts .env.[mode] after .env.local (CRA and Next put it before): the development
    // file's right value is what the dev server uses.
    fs::write(
        vote.join(".env.development"),
        "VITE_API_URL=http://localhost:${RESULT_PORT}\n",
    )
    .unwrap();
    let out = agent(dir.path(), &["integration", "--env", "dev"], &[]);
    let report = out.report();
    assert_eq!(
        status(&report, "integration.frontend_backend"),
        "passed",
        "{}",
        message(&report, "integration.frontend_backend")
    );
    assert_eq!(api_base(&report), "vote/.env.development");

    // .env.[mode].local comes last of all.
    fs::write(
        vote.join(".env.development.local"),
        "VITE_API_URL=http://localhost:2\n",
    )
    .unwrap();
    let out = agent(dir.path(), &["integration", "--env", "dev"], &[]);
    let report = out.report();
    assert_eq!(status(&report, "integration.frontend_backend"), "failed");
    assert_eq!(api_base(&report), "vote/.env.development.local");
}

#[test]
fn a_websocket_feed_that_never_echoes_passes_on_its_pong() {
    let Some(dir) = installed("stock-ws", Install::Npm(".")) else {
        return;
    };
    let out = agent(dir.path(), &["integration"], &[]);
    let report = out.report();
    let ws = check(&report, "integration.websocket");
    assert_eq!(ws["status"], "passed", "{ws}");
    let trip = &ws["evidence"]["round_trips"][0];
    assert_eq!(
        (trip["pong"].clone(), trip["echoed"].clone()),
        (true.into(), false.into()),
        "{trip}"
    );
    // The feed closed on the text message it cannot parse: evidence, not a failure.
    assert!(
        trip["protocol"]
            .as_str()
            .unwrap()
            .contains("code 1003, JSON only"),
        "{trip}"
    );

    // Broken: the feed moved to another path, so /feed is refused.
    let server = fs::read_to_string(dir.path().join("server.js")).unwrap();
    fs::write(
        dir.path().join("server.js"),
        server.replace("path: '/feed'", "path: '/live'"),
    )
    .unwrap();
    let out = agent(dir.path(), &["integration"], &[]);
    let report = out.report();
    assert_eq!(status(&report, "integration.websocket"), "failed");
    let m = message(&report, "integration.websocket");
    assert!(m.contains("/feed") && m.contains("400 Bad Request"), "{m}");
}

#[test]
fn an_nginx_location_named_like_a_websocket_is_not_failed_for_its_name() {
    // /socket-stats is plain HTTP; only its name says "socket". The backend's answer decides.
    let server = "require('http').createServer((q, s) => { s.writeHead(q.url === '/health' || q.url === '/socket-stats' ? 200 : 404, {'content-type': 'application/json'}); s.end('{}'); }).listen(Number(process.env.PORT || 3000));\n";
    let dir = project(&[
        (
            "package.json",
            r#"{"name":"api","version":"1.0.0","private":true,"scripts":{"start":"node server.js"}}"#,
        ),
        ("server.js", server),
        (
            "nginx.conf",
            "events {}\nhttp {\n  upstream api { server api:3000; }\n  server {\n    listen 8080;\n    location /socket-stats { proxy_pass http://api; }\n  }\n}\n",
        ),
        (
            "docker-compose.yml",
            "services:\n  api:\n    build: .\n    ports:\n      - \"${API_PORT:-3000}:3000\"\n",
        ),
    ]);
    let out = agent(dir.path(), &["integration"], &[]);
    let report = out.report();
    assert_eq!(status(&report, "integration.websocket"), "skipped");
    let m = message(&report, "integration.websocket");
    assert!(
        m.contains("/socket-stats is named like a WebSocket path")
            && m.contains("answers as plain HTTP"),
        "{m}"
    );
    assert_ne!(out.code, 1, "{}", out.stdout);
}

/// An Nx "integrated" repository (a real `nx` from a real lock): one package.json at the
/// root whose `start` is `nx serve`, the project in project.json, and the Dockerfile Nx
/// generates, whose `CMD ["node", "api"]` names a path that exists only inside the image. The
/// root's `nx serve` is the app's start (there are no workspaces for it to fan out to), so it
/// runs, and the inspector its executor opens beside the app is not taken for it.
#[test]
fn nx_integrated_repository_serves_its_root_project() {
    let Some(dir) = installed("stock-nx", Install::Npm(".")) else {
        return;
    };
    let out = validate(dir.path(), &[]);
    let report = assert_ready(&out);
    assert_eq!(status(&report, "startup.dev_mode"), "passed");
    let dev = service(&report, "startup.dev_mode");
    assert_eq!(dev["command"], "npm run start", "{dev}");
    assert_eq!(dev["port"], dev["port_offered"], "{dev}");
    assert!(dev["listened_elsewhere"].is_null(), "{dev}");

    // Broken: the served app never listens (it crashed, and the executor waits); only its
    // inspector answers. That is not a ready app.
    fs::write(
        dir.path().join("src/main.js"),
        "console.log('waiting for a database that is not there');\nsetInterval(() => {}, 1000);\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("devops-agent.toml"),
        "[startup]\nready_timeout = \"20s\"\n",
    )
    .unwrap();
    let m = one_mode(dir.path(), "dev", "failed");
    assert!(
        m.contains("not the app, so not probed") && m.contains("debugger its output announced"),
        "{m}"
    );

    // Many Nx repositories have no start script: the Dockerfile's command is the hint, and
    // its `api` is what the image copied from `dist/api` — run here as `node dist/api`, on the
    // build the build gate made.
    fs::remove_file(dir.path().join("devops-agent.toml")).unwrap();
    fs::write(
        dir.path().join("src/main.js"),
        fs::read(crate::common::fixture("stock-nx/src/main.js")).unwrap(),
    )
    .unwrap();
    let pkg = fs::read_to_string(dir.path().join("package.json")).unwrap();
    fs::write(
        dir.path().join("package.json"),
        pkg.replace("    \"start\": \"nx serve\",\n", ""),
    )
    .unwrap();
    let out = validate(dir.path(), &[]);
    let report = assert_ready(&out);
    let dev = service(&report, "startup.dev_mode");
    assert_eq!(dev["command"], "node dist/api", "{dev}");
    assert!(
        dev["source"].as_str().unwrap().starts_with("Dockerfile"),
        "{dev}"
    );
}

/// A real Vite frontend proxying `/api` to `http://localhost:3000` written in vite.config.js,
/// and a backend reading `PORT` with 3000 as its default: with the default ports `vite
/// preview` reaches it. This run offers the backend another port, so a request through the
/// proxy fails for the run's doing — `integration.api_proxy` and
/// `integration.frontend_backend` are skipped naming the fixed target and the port the backend
/// got, never failed.
#[test]
fn stock_vite_proxy_to_a_fixed_port_is_not_failed_when_the_run_moved_the_backend() {
    let Some(dir) = installed("stock-vite-proxy", Install::Npm("web")) else {
        return;
    };
    let out = agent(
        dir.path(),
        &["validate", "STORY-22", "--no-history", "--env", "prod"],
        &[],
    );
    let report = out.report();
    assert_eq!(
        status(&report, "startup.prod_mode"),
        "passed",
        "{}",
        out.stdout
    );
    for id in ["integration.api_proxy", "integration.frontend_backend"] {
        let said = message(&report, id);
        assert_eq!(status(&report, id), "skipped", "{id}: {said}");
        assert!(
            said.contains("web/vite.config.js sends /api to http://localhost:3000, a port written in the config, while this run started"),
            "{id}: {said}"
        );
        assert!(
            said.contains("the proxy cannot be checked here"),
            "{id}: {said}"
        );
    }
    assert_eq!(out.code, 0, "{}", out.stdout);
}

/// A real Django site (sqlite, contrib apps) whose migrations were never applied: `runserver`
/// starts and its home page answers, but Django says "You have N unapplied migration(s)" and
/// its pages that use the database fail — `startup.dev_mode` is a warning that quotes it and
/// says to migrate, not a silent pass. After `manage.py migrate` it passes.
#[test]
fn stock_django_with_unapplied_migrations_warns() {
    let Some(dir) = installed("stock-django", Install::Pip) else {
        return;
    };
    let said = one_mode(dir.path(), "dev", "warning");
    assert!(said.contains("1 warning(s)"), "{said}");
    let out = agent(dir.path(), &["startup", "--env", "dev"], &[]);
    let report = out.report();
    let finding = check(&report, "startup.dev_mode")["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap_or_default().to_owned())
        .find(|m| m.contains("unapplied migration(s)"))
        .unwrap_or_else(|| panic!("no migration finding: {}", out.stdout));
    assert!(finding.contains("python manage.py migrate"), "{finding}");
    assert!(finding.contains("You have "), "{finding}");

    sh(
        Command::new(dir.path().join(".venv/bin/python"))
            .args(["manage.py", "migrate", "--no-input"])
            .current_dir(dir.path()),
        "manage.py migrate",
    )
    .unwrap();
    one_mode(dir.path(), "dev", "passed");
}
