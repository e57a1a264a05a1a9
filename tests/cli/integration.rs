//! `devops-agent integration`: the full-stack fixture (a Node backend, the built frontend, a
//! real nginx in front and a second nginx server as the CDN) started on 127.0.0.1 by the
//! tests, probed remotely (`--base-url`/`--backend-url`) in its working form and in each
//! broken variant; plus the local mode, where devops-agent starts the app itself.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{
    Run, check, copy_fixture, demo_ports, devops_agent, findings, fixture, project, run, skip,
};

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A child process killed (and reaped) when the guard drops, also when a test panics.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

fn have_node() -> bool {
    Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Wait until `port` accepts connections, or fail with the process's state.
fn wait_for(port: u16, child: &mut Child, what: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status} before listening on {port}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not listen on {port} within 10 s");
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// How a stack is broken.
#[derive(Default)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "each flag is one independent way to break the fixture"
)]
struct Variant {
    /// `proxy_pass` for `/api/` names this port instead of the backend's upstream.
    proxy_port: Option<u16>,
    /// The `/ws` location forwards without `Upgrade`/`Connection` headers.
    no_upgrade: bool,
    /// `CORS_MODE` of the backend (`allow` by default).
    cors: Option<&'static str>,
    /// Delete the stylesheet from the build nginx serves.
    delete_stylesheet: bool,
    /// The CDN's copy of the app script differs from the build.
    stale_cdn: bool,
    /// The CDN sends no Cache-Control header.
    cdn_without_cache_headers: bool,
    /// `VITE_API_URL` instead of the backend's URL.
    api_url: Option<String>,
}

/// The running fixture: backend, nginx (site and CDN), in a temporary project.
struct Stack {
    dir: tempfile::TempDir,
    backend: u16,
    nginx: u16,
    cdn: u16,
    // Dropped after `dir`'s users, in field order: nginx first, then the backend.
    _nginx: Guard,
    _backend: Guard,
}

impl Stack {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Line of the first line of the generated nginx.conf containing `needle`.
    fn conf_line(&self, needle: &str) -> u64 {
        let text = std::fs::read_to_string(self.path().join("nginx.conf")).unwrap();
        let index = text.lines().position(|l| l.contains(needle)).expect(needle);
        u64::try_from(index + 1).unwrap()
    }

    /// `devops-agent integration` against the stack as a deployed environment.
    fn probe(&self) -> Run {
        let state = tempfile::tempdir().unwrap();
        let mut cmd = devops_agent(state.path());
        cmd.args(["integration", "--project"])
            .arg(self.path())
            .arg("--base-url")
            .arg(format!("http://127.0.0.1:{}", self.nginx))
            .arg("--backend-url")
            .arg(format!("http://127.0.0.1:{}", self.backend));
        run(cmd)
    }
}

fn nginx_conf(dir: &Path, variant: &Variant, ports: (u16, u16, u16)) -> String {
    let (backend, nginx, cdn) = ports;
    let dist = dir.join("frontend/dist");
    let run = dir.join("nginx-run");
    let api_target = match variant.proxy_port {
        Some(port) => format!("http://127.0.0.1:{port}"),
        None => "http://backend".to_owned(),
    };
    let upgrade = if variant.no_upgrade {
        ""
    } else {
        "        proxy_http_version 1.1;\n        proxy_set_header Upgrade $http_upgrade;\n        proxy_set_header Connection \"upgrade\";\n"
    };
    let cdn_cache = if variant.cdn_without_cache_headers {
        ""
    } else {
        "        add_header Cache-Control \"public, max-age=31536000, immutable\";\n"
    };
    format!(
        r#"# Generated by tests/cli/integration.rs: the frontend's site and a CDN, on loopback.
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    types {{
        text/html html;
        text/css css;
        text/javascript js;
        image/svg+xml svg;
        application/json json;
    }}
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    gzip on;
    gzip_min_length 1;
    gzip_types text/css text/javascript image/svg+xml;

    upstream backend {{
        server 127.0.0.1:{backend};
    }}

    server {{
        listen 127.0.0.1:{nginx};
        root {dist};

        location /api/ {{
            proxy_pass {api_target};
        }}

        location /ws {{
            proxy_pass http://backend;
{upgrade}        }}

        location /assets/ {{
            add_header Cache-Control "public, max-age=31536000, immutable";
            try_files $uri /index.html;
        }}

        location / {{
            try_files $uri /index.html;
        }}
    }}

    # The "CDN": a second static server holding a copy of the build.
    server {{
        listen 127.0.0.1:{cdn};
        root {cdn_root};
{cdn_cache}    }}
}}
"#,
        run = run.display(),
        dist = dist.display(),
        cdn_root = dir.join("cdn").display(),
    )
}

/// Build and start the fixture in `variant`; None (after `skip`) when nginx or node is missing.
fn stack(variant: &Variant) -> Option<Stack> {
    let Some(nginx_bin) = nginx_binary() else {
        skip("nginx is not installed (scripts/test.sh installs it)");
        return None;
    };
    if !have_node() {
        skip("node is not installed");
        return None;
    }
    let dir = copy_fixture("integration-stack");
    let built = Command::new("node")
        .arg("frontend/build.js")
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(built.success(), "frontend build failed");
    let assets = dir.path().join("frontend/dist/assets");
    let find = |ext: &str| {
        std::fs::read_dir(&assets)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == ext))
            .unwrap()
    };
    copy_tree(&dir.path().join("frontend/dist"), &dir.path().join("cdn"));
    if variant.stale_cdn {
        let name = find("js").file_name().unwrap().to_owned();
        let cdn_copy = dir.path().join("cdn/assets").join(name);
        let mut text = std::fs::read_to_string(&cdn_copy).unwrap();
        text.push_str("\n// an older deploy\n");
        std::fs::write(cdn_copy, text).unwrap();
    }
    if variant.delete_stylesheet {
        std::fs::remove_file(find("css")).unwrap();
    }

    let (backend, nginx, cdn) = (free_port(), free_port(), free_port());
    let api_url = variant
        .api_url
        .clone()
        .unwrap_or_else(|| format!("http://127.0.0.1:{backend}"));
    // What the production build of the frontend was made with.
    std::fs::write(
        dir.path().join(".env.production"),
        format!("# API base baked into the bundle\nVITE_API_URL={api_url}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("devops-agent.toml"),
        format!(
            "[integration]\ncdn_url = \"http://127.0.0.1:{cdn}\"\nbuild_dir = \"frontend/dist\"\nrequest_timeout = \"3s\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("nginx.conf"),
        nginx_conf(dir.path(), variant, (backend, nginx, cdn)),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("nginx-run")).unwrap();

    let mut backend_child = Guard(
        Command::new("node")
            .arg("backend/server.js")
            .current_dir(dir.path())
            .env("PORT", backend.to_string())
            .env("CORS_MODE", variant.cors.unwrap_or("allow"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the backend"),
    );
    wait_for(backend, &mut backend_child.0, "the backend");
    let run_dir = dir.path().join("nginx-run");
    // One process (no master, no workers): killing it frees every port at once.
    let globals = format!(
        "daemon off; master_process off; pid {}/nginx.pid; error_log {}/error.log;",
        run_dir.display(),
        run_dir.display()
    );
    let mut nginx_child = Guard(
        Command::new(nginx_bin)
            .arg("-p")
            .arg(&run_dir)
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-e")
            .arg(run_dir.join("error.log"))
            .arg("-g")
            .arg(globals)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx"),
    );
    wait_for(nginx, &mut nginx_child.0, "nginx");
    wait_for(cdn, &mut nginx_child.0, "nginx (CDN)");
    Some(Stack {
        dir,
        backend,
        nginx,
        cdn,
        _nginx: nginx_child,
        _backend: backend_child,
    })
}

fn status<'a>(report: &'a Value, id: &str) -> &'a Value {
    &check(report, id)["status"]
}

fn messages(check: &Value) -> String {
    findings(check)
        .iter()
        .map(|f| f["message"].as_str().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn working_stack_passes_every_check_remotely() {
    let Some(stack) = stack(&Variant::default()) else {
        return;
    };
    let out = stack.probe();
    let report = out.report();
    for id in [
        "integration.frontend_backend",
        "integration.api_proxy",
        "integration.cors",
        "integration.websocket",
        "integration.static_assets",
        "integration.cdn",
    ] {
        assert_eq!(
            status(&report, id),
            "passed",
            "{id}: {:#}",
            check(&report, id)
        );
    }
    assert_eq!(out.code, 0, "{}", out.stdout);

    let fb = &check(&report, "integration.frontend_backend")["evidence"];
    assert_eq!(fb["points_at_backend"], true);
    assert_eq!(fb["api_base"]["variable"], "VITE_API_URL");
    assert_eq!(fb["request"]["status"], 200);
    assert_eq!(fb["target_mode"], "remote");

    let proxy = &check(&report, "integration.api_proxy")["evidence"];
    let targets = proxy["nginx_targets"].as_array().unwrap();
    assert!(
        targets
            .iter()
            .any(|t| t["target"] == format!("127.0.0.1:{}", stack.backend)
                && t["state"] == "matches"
                && t["line"] == stack.conf_line(&format!("server 127.0.0.1:{}", stack.backend))),
        "{proxy:#}"
    );
    assert_eq!(proxy["nginx_configs"][0], "nginx.conf");
    assert_eq!(proxy["runtime"]["through_proxy"]["status"], 200);
    assert_eq!(
        proxy["runtime"]["through_proxy"]["url"],
        format!("http://127.0.0.1:{}/api/health", stack.nginx)
    );

    let cors = &check(&report, "integration.cors")["evidence"];
    let preflights = cors["preflights"].as_array().unwrap();
    assert_eq!(preflights.len(), 4);
    assert!(preflights.iter().all(|p| p["allowed"] == true), "{cors:#}");
    assert_eq!(cors["unrelated_origin"]["reflected"], false);
    assert_eq!(cors["origin"], format!("http://127.0.0.1:{}", stack.nginx));

    let ws = &check(&report, "integration.websocket")["evidence"];
    let trips = ws["round_trips"].as_array().unwrap();
    assert_eq!(trips.len(), 2, "{ws:#}");
    assert!(
        trips
            .iter()
            .all(|t| t["status"] == 101 && t["echoed"] == true)
    );
    assert_eq!(ws["detected_from"], "nginx location");

    let assets = &check(&report, "integration.static_assets")["evidence"];
    assert_eq!(assets["assets"].as_array().unwrap().len(), 3, "{assets:#}");
    assert_eq!(assets["spa_fallback"]["returns_index"], true);
    assert!(
        assets["compression"]["gzip"].as_u64().unwrap_or(0) >= 1,
        "{assets:#}"
    );

    let cdn = &check(&report, "integration.cdn")["evidence"];
    let cdn_assets = cdn["assets"].as_array().unwrap();
    assert_eq!(cdn_assets.len(), 3);
    assert!(
        cdn_assets
            .iter()
            .all(|a| a["status"] == 200 && a["matches_build"] == true)
    );
    assert_eq!(cdn["cdn_url"], format!("http://127.0.0.1:{}", stack.cdn));

    // Integration requests feed the report's monitoring.
    assert!(
        report["monitoring"]["response_time"]["samples"]
            .as_u64()
            .is_some_and(|n| n >= 20),
        "{:#}",
        report["monitoring"]
    );
}

#[test]
fn wrong_api_url_fails_frontend_backend() {
    let wrong = free_port();
    let Some(stack) = stack(&Variant {
        api_url: Some(format!("http://127.0.0.1:{wrong}")),
        ..Variant::default()
    }) else {
        return;
    };
    let out = stack.probe();
    let report = out.report();
    let fb = check(&report, "integration.frontend_backend");
    assert_eq!(fb["status"], "failed", "{fb:#}");
    assert_eq!(out.code, 1);
    let message = fb["message"].as_str().unwrap();
    assert!(message.contains(&format!("127.0.0.1:{wrong}")), "{message}");
    assert!(
        message.contains(&format!("listens on http://127.0.0.1:{}", stack.backend)),
        "{message}"
    );
    assert_eq!(fb["evidence"]["points_at_backend"], false);
    assert!(
        fb["evidence"]["request"]["error"]
            .as_str()
            .unwrap()
            .contains("refused")
    );
    assert_eq!(findings(fb)[0]["file"], ".env.production");
    assert_eq!(findings(fb)[0]["line"], 2);
}

#[test]
fn proxy_pass_to_the_wrong_port_fails_statically_and_at_runtime() {
    let wrong = free_port();
    let Some(stack) = stack(&Variant {
        proxy_port: Some(wrong),
        ..Variant::default()
    }) else {
        return;
    };
    let out = stack.probe();
    let report = out.report();
    let proxy = check(&report, "integration.api_proxy");
    assert_eq!(proxy["status"], "failed", "{proxy:#}");
    let line = stack.conf_line(&format!("proxy_pass http://127.0.0.1:{wrong}"));
    let static_finding = findings(proxy)
        .into_iter()
        .find(|f| f["message"].as_str().unwrap().contains("proxies to"))
        .expect("a static finding");
    assert_eq!(static_finding["file"], "nginx.conf");
    assert_eq!(static_finding["line"], line);
    assert_eq!(
        static_finding["suggestion"],
        format!("127.0.0.1:{}", stack.backend)
    );
    // At run time nginx cannot reach its upstream.
    assert_eq!(proxy["evidence"]["runtime"]["through_proxy"]["status"], 502);
    assert!(
        messages(proxy).contains("could not reach its upstream"),
        "{proxy:#}"
    );
}

#[test]
fn proxy_without_upgrade_headers_fails_websocket_through_it() {
    let Some(stack) = stack(&Variant {
        no_upgrade: true,
        ..Variant::default()
    }) else {
        return;
    };
    let out = stack.probe();
    let report = out.report();
    let ws = check(&report, "integration.websocket");
    assert_eq!(ws["status"], "failed", "{ws:#}");
    let trips = ws["evidence"]["round_trips"].as_array().unwrap();
    let direct = trips.iter().find(|t| t["route"] == "direct").unwrap();
    let proxied = trips
        .iter()
        .find(|t| t["route"] == "through_proxy")
        .unwrap();
    assert_eq!(direct["echoed"], true);
    assert_ne!(proxied["status"], 101);
    assert_eq!(proxied["echoed"], false);
    let line = stack.conf_line("location /ws");
    let header_finding = findings(ws)
        .into_iter()
        .find(|f| {
            f["message"]
                .as_str()
                .unwrap()
                .contains("proxy_set_header Upgrade")
        })
        .expect("a finding naming the missing headers");
    assert_eq!(header_finding["file"], "nginx.conf");
    assert_eq!(header_finding["line"], line);
    assert!(messages(ws).contains(&format!("ws://127.0.0.1:{}/ws", stack.nginx)));
}

#[test]
fn missing_cors_fails_the_preflight() {
    let Some(stack) = stack(&Variant {
        cors: Some("none"),
        ..Variant::default()
    }) else {
        return;
    };
    let report = stack.probe().report();
    let cors = check(&report, "integration.cors");
    assert_eq!(cors["status"], "failed", "{cors:#}");
    let preflights = cors["evidence"]["preflights"].as_array().unwrap();
    assert!(preflights.iter().all(|p| p["allowed"] == false));
    assert!(
        preflights[0]["problem"]
            .as_str()
            .unwrap()
            .contains("no Access-Control-Allow-Origin"),
        "{cors:#}"
    );
    assert!(
        cors["message"]
            .as_str()
            .unwrap()
            .contains("GET, POST, PUT, DELETE")
    );
}

#[test]
fn reflecting_any_origin_with_credentials_is_flagged() {
    let Some(stack) = stack(&Variant {
        cors: Some("reflect"),
        ..Variant::default()
    }) else {
        return;
    };
    let report = stack.probe().report();
    let cors = check(&report, "integration.cors");
    assert_eq!(cors["status"], "failed", "{cors:#}");
    assert_eq!(cors["evidence"]["unrelated_origin"]["reflected"], true);
    assert!(messages(cors).contains("reflects any Origin"), "{cors:#}");
    assert!(messages(cors).contains("with credentials"));
    assert_eq!(cors["evidence"]["null_origin_allowed"], true);
}

#[test]
fn missing_asset_fails_static_assets_naming_it() {
    let Some(stack) = stack(&Variant {
        delete_stylesheet: true,
        ..Variant::default()
    }) else {
        return;
    };
    let report = stack.probe().report();
    let assets = check(&report, "integration.static_assets");
    assert_eq!(assets["status"], "failed", "{assets:#}");
    let message = assets["message"].as_str().unwrap();
    assert!(
        message.contains("/assets/style-") && message.contains(".css"),
        "{message}"
    );
    let broken: Vec<&Value> = assets["evidence"]["assets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["ok"] == false)
        .collect();
    assert_eq!(broken.len(), 1);
    // nginx's fallback answers 200 with the index: the type gives the missing file away.
    assert!(
        broken[0]["content_type"]
            .as_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(messages(assets).contains("fell back to the index page"));
}

#[test]
fn stale_cdn_asset_fails_cdn() {
    let Some(stack) = stack(&Variant {
        stale_cdn: true,
        ..Variant::default()
    }) else {
        return;
    };
    let report = stack.probe().report();
    let cdn = check(&report, "integration.cdn");
    assert_eq!(cdn["status"], "failed", "{cdn:#}");
    let stale: Vec<&Value> = cdn["evidence"]["assets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["matches_build"] == false)
        .collect();
    assert_eq!(stale.len(), 1, "{cdn:#}");
    assert!(stale[0]["url"].as_str().unwrap().contains("/assets/app-"));
    assert_ne!(stale[0]["cdn_sha256"], stale[0]["local_sha256"]);
    assert_ne!(stale[0]["cdn_bytes"], stale[0]["local_bytes"]);
    assert!(messages(cdn).contains("stale"));
    // The site itself is fine.
    assert_eq!(status(&report, "integration.static_assets"), "passed");
}

#[test]
fn compose_service_port_mismatch_is_found_without_running_anything() {
    let compose = "services:\n  backend:\n    ports:\n      - \"${BACKEND_PORT:-3000}:3000\"\n";
    let conf = |port: u16| {
        format!(
            "upstream api {{\n    server backend:{port};\n}}\nserver {{\n    listen 80;\n    location /api/ {{\n        proxy_pass http://api;\n    }}\n    location /direct/ {{\n        proxy_pass http://backend:{port}/;\n    }}\n}}\n"
        )
    };
    let state = tempfile::tempdir().unwrap();
    let broken = project(&[("docker-compose.yml", compose), ("nginx.conf", &conf(4000))]);
    let mut cmd = devops_agent(state.path());
    cmd.args(["integration", "--project"]).arg(broken.path());
    let report = run(cmd).report();
    let proxy = check(&report, "integration.api_proxy");
    assert_eq!(proxy["status"], "failed", "{proxy:#}");
    let found = findings(proxy);
    assert_eq!(found.len(), 2, "{proxy:#}");
    assert_eq!(found[0]["file"], "nginx.conf");
    assert_eq!(found[0]["line"], 2, "the upstream's server line");
    assert_eq!(found[1]["line"], 10, "the proxy_pass line");
    assert_eq!(found[0]["suggestion"], "backend:3000");
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .contains("compose service backend listens on 3000")
    );
    // Nothing to start: the runtime checks say why they did not run.
    assert_eq!(check(&report, "integration.cors")["status"], "skipped");

    let fixed = project(&[("docker-compose.yml", compose), ("nginx.conf", &conf(3000))]);
    let mut cmd = devops_agent(state.path());
    cmd.args(["integration", "--project"]).arg(fixed.path());
    let report = run(cmd).report();
    let proxy = check(&report, "integration.api_proxy");
    assert_eq!(proxy["status"], "passed", "{proxy:#}");
    assert_eq!(proxy["evidence"]["nginx_targets"][0]["state"], "matches");
}

#[test]
fn broken_nginx_conf_is_reported_with_file_and_line() {
    let state = tempfile::tempdir().unwrap();
    let dir = project(&[(
        "nginx.conf",
        "server {\n    location /api/ {\n        proxy_pass http://backend:3000\n    }\n}\n",
    )]);
    let mut cmd = devops_agent(state.path());
    cmd.args(["integration", "--project"]).arg(dir.path());
    let report = run(cmd).report();
    let proxy = check(&report, "integration.api_proxy");
    assert_eq!(proxy["status"], "failed", "{proxy:#}");
    assert_eq!(findings(proxy)[0]["file"], "nginx.conf");
    assert_eq!(findings(proxy)[0]["line"], 4);
    assert!(messages(proxy).contains("proxy_pass"));
}

#[test]
fn no_websocket_endpoint_is_skipped_with_the_reason() {
    let state = tempfile::tempdir().unwrap();
    let dir = project(&[]);
    let closed = free_port();
    let mut cmd = devops_agent(state.path());
    cmd.args(["integration", "--project"])
        .arg(dir.path())
        .arg("--backend-url")
        .arg(format!("http://127.0.0.1:{closed}"));
    let report = run(cmd).report();
    let ws = check(&report, "integration.websocket");
    assert_eq!(ws["status"], "skipped");
    assert_eq!(
        ws["message"].as_str(),
        Some("no WebSocket endpoint configured or detected"),
        "{ws:#}"
    );
    assert_eq!(
        check(&report, "integration.cdn")["status"],
        "skipped",
        "no CDN configured"
    );
}

/// No process whose command line mentions `needle` may survive.
fn assert_no_survivors(needle: &str) {
    let mut left = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z');
        if cmdline.contains(needle) && !zombie {
            left.push(cmdline);
        }
    }
    assert!(left.is_empty(), "survivors: {left:#?}");
}

#[test]
fn local_mode_starts_the_app_probes_it_and_stops_it() {
    if !have_node() {
        skip("node is not installed");
        return;
    }
    let dir = copy_fixture("integration-stack");
    let built = Command::new("node")
        .arg("frontend/build.js")
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(built.success());
    let tag = dir.path().display();
    std::fs::write(
        dir.path().join("devops-agent.toml"),
        format!(
            "[services.backend]\ndir = \"backend\"\nport = \"${{BACKEND_PORT:-3000}}\"\nprod = \"node server.js {tag}\"\nhealth = \"/health\"\n\n[services.frontend]\ndir = \"frontend\"\nport = \"${{FRONTEND_PORT:-5173}}\"\nprod = \"node server.js {tag}\"\nhealth = \"/\"\ndepends_on = [\"backend\"]\n\n[integration]\napi_url = \"http://127.0.0.1:${{BACKEND_PORT}}\"\nwebsocket = [\"/ws\"]\nrequest_timeout = \"3s\"\n\n[startup]\nstability = \"200ms\"\n\n[timeouts]\ngrace = \"500ms\"\n"
        ),
    )
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    demo_ports(&mut cmd);
    cmd.args(["integration", "--project"]).arg(dir.path());
    let out = run(cmd);
    let report = out.report();
    for id in [
        "integration.frontend_backend",
        "integration.api_proxy",
        "integration.cors",
        "integration.websocket",
        "integration.static_assets",
    ] {
        assert_eq!(
            status(&report, id),
            "passed",
            "{id}: {:#}",
            check(&report, id)
        );
    }
    let fb = &check(&report, "integration.frontend_backend")["evidence"];
    assert_eq!(fb["target_mode"], "local");
    assert_eq!(fb["points_at_backend"], true, "{fb:#}");
    assert_eq!(fb["api_base"]["source"], "devops-agent.toml [integration]");
    let cdn = check(&report, "integration.cdn");
    assert_eq!(cdn["status"], "skipped");
    assert!(cdn["message"].as_str().unwrap().contains("no CDN in use"));
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_no_survivors(&tag.to_string());
}

#[test]
fn relative_api_base_must_be_proxied_by_the_frontend_origin() {
    let Some(proxied) = stack(&Variant {
        api_url: Some("/api".to_owned()),
        ..Variant::default()
    }) else {
        return;
    };
    let report = proxied.probe().report();
    let fb = check(&report, "integration.frontend_backend");
    assert_eq!(fb["status"], "passed", "{fb:#}");
    assert_eq!(fb["evidence"]["mode"], "same-origin");
    assert_eq!(
        fb["evidence"]["request"]["url"],
        format!("http://127.0.0.1:{}/api/health", proxied.nginx)
    );
    assert!(
        fb["message"]
            .as_str()
            .unwrap()
            .contains("integration.api_proxy")
    );
    // Same origin: CORS does not apply, and says why.
    let cors = check(&report, "integration.cors");
    assert_eq!(cors["status"], "skipped");
    assert!(cors["message"].as_str().unwrap().contains("is relative"));
    drop(proxied);

    // A prefix nginx does not proxy lands on the SPA fallback: HTML, not the backend.
    let Some(stack) = stack(&Variant {
        api_url: Some("/v2".to_owned()),
        ..Variant::default()
    }) else {
        return;
    };
    let report = stack.probe().report();
    let fb = check(&report, "integration.frontend_backend");
    assert_eq!(fb["status"], "failed", "{fb:#}");
    let message = fb["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("http://127.0.0.1:{}/v2/health", stack.nginx)),
        "{message}"
    );
    assert!(message.contains("HTML"), "{message}");
    assert!(
        findings(fb)[0]["suggestion"]
            .as_str()
            .unwrap()
            .contains("proxy /v2")
    );
    assert_eq!(findings(fb)[0]["file"], ".env.production");
}

#[test]
fn a_lone_api_service_is_not_failed_for_lacking_a_frontend() {
    if !have_node() {
        skip("node is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    copy_tree(
        &fixture("integration-stack/backend"),
        &dir.path().join("api"),
    );
    let tag = dir.path().display();
    std::fs::write(
        dir.path().join("devops-agent.toml"),
        format!(
            "[services.api]\ndir = \"api\"\nport = \"${{API_PORT:-3000}}\"\nprod = \"node server.js {tag}\"\nhealth = \"/health\"\n\n[integration]\nwebsocket = [\"/ws\"]\nwebsocket_protocols = [\"chat.v1\", \"chat.v0\"]\n\n[startup]\nstability = \"200ms\"\n\n[timeouts]\ngrace = \"500ms\"\n"
        ),
    )
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.env("API_PORT", free_port().to_string());
    cmd.args(["integration", "--project"]).arg(dir.path());
    let out = run(cmd);
    let report = out.report();
    for id in [
        "integration.frontend_backend",
        "integration.api_proxy",
        "integration.cors",
        "integration.static_assets",
        "integration.cdn",
    ] {
        assert_eq!(
            status(&report, id),
            "skipped",
            "{id}: {:#}",
            check(&report, id)
        );
    }
    assert!(
        check(&report, "integration.frontend_backend")["message"]
            .as_str()
            .unwrap()
            .contains("the only service (api) shows no sign of serving a browser app")
    );
    // The WebSocket endpoint is still checked, directly.
    let ws = check(&report, "integration.websocket");
    assert_eq!(ws["status"], "passed", "{ws:#}");
    assert_eq!(ws["evidence"]["round_trips"].as_array().unwrap().len(), 1);
    // Offered in the configured order; the server's choice is evidence.
    assert_eq!(
        ws["evidence"]["round_trips"][0]["subprotocol"], "chat.v1",
        "{ws:#}"
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_no_survivors(&tag.to_string());
}

#[test]
fn base_url_alone_finds_the_backend_through_the_api_base() {
    let Some(stack) = stack(&Variant::default()) else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["integration", "--project"])
        .arg(stack.path())
        .arg("--base-url")
        .arg(format!("http://127.0.0.1:{}/", stack.nginx));
    let out = run(cmd);
    let report = out.report();
    for id in [
        "integration.frontend_backend",
        "integration.api_proxy",
        "integration.cors",
        "integration.websocket",
        "integration.static_assets",
        "integration.cdn",
    ] {
        assert_eq!(
            status(&report, id),
            "passed",
            "{id}: {:#}",
            check(&report, id)
        );
    }
    let fb = &check(&report, "integration.frontend_backend")["evidence"];
    assert_eq!(
        fb["backend_url"],
        format!("http://127.0.0.1:{}", stack.backend)
    );
    assert_eq!(
        fb["request"]["url"],
        format!("http://127.0.0.1:{}/health", stack.backend)
    );
    assert_eq!(out.code, 0);
}

#[test]
fn wildcard_origin_with_credentials_is_flagged() {
    let Some(stack) = stack(&Variant {
        cors: Some("wildcard"),
        ..Variant::default()
    }) else {
        return;
    };
    let report = stack.probe().report();
    let cors = check(&report, "integration.cors");
    assert_eq!(cors["status"], "failed", "{cors:#}");
    assert!(
        messages(cors).contains(
            "Access-Control-Allow-Origin: * is sent with Access-Control-Allow-Credentials: true"
        ),
        "{cors:#}"
    );
    let preflights = cors["evidence"]["preflights"].as_array().unwrap();
    assert_eq!(preflights[0]["headers"]["access-control-allow-origin"], "*");
    assert!(
        preflights[0]["problem"]
            .as_str()
            .unwrap()
            .contains("with credentials")
    );
}

#[test]
fn hashed_cdn_assets_without_cache_headers_are_a_warning() {
    let Some(stack) = stack(&Variant {
        cdn_without_cache_headers: true,
        ..Variant::default()
    }) else {
        return;
    };
    let out = stack.probe();
    let report = out.report();
    let cdn = check(&report, "integration.cdn");
    assert_eq!(cdn["status"], "warning", "{cdn:#}");
    let warned = findings(cdn);
    // Two hashed files (script, stylesheet); the favicon has no hash to protect.
    assert_eq!(warned.len(), 2, "{cdn:#}");
    assert!(messages(cdn).contains("Cache-Control is absent"));
    assert_eq!(
        warned[0]["suggestion"],
        "Cache-Control: public, max-age=31536000, immutable"
    );
    // A warning does not block deployment.
    assert_eq!(out.code, 0, "{}", out.stdout);
}
