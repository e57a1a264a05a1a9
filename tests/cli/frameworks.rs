//! Monorepos and framework outputs on real trees: an npm-workspaces monorepo (a library
//! imported by an app and an API), the same under turborepo, a Next.js app, a `SvelteKit` app, an
//! Astro app, each installed by a real `npm install` (once, cached under
//! `target/fixture-cache/`; the lock file is written then, since a committed one would record
//! the registry's URLs), and a Django-style settings module whose `.env.example` keys all have
//! defaults. Each passes zero-config on a healthy tree and fails with a precise message when
//! broken.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{
    Run, check, copy_fixture, devops_agent, edit, have, installed_fixture, run, sh, skip, status,
};

/// Build output and installed trees, never part of a fixture's cache key.
const INSTALLED: &[&str] = &["node_modules", "dist", "build", ".next", ".svelte-kit"];

/// A private copy of fixture `name` with its `node_modules` installed by `npm install`, or
/// None (after `skip`) when npm is missing or the install fails.
fn installed(name: &str) -> Option<tempfile::TempDir> {
    if !have("npm") {
        skip("npm is not installed");
        return None;
    }
    let install = |dir: &Path| {
        sh(
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(dir),
            &format!("npm install in {name}"),
        )
    };
    installed_fixture(name, INSTALLED, install).map(|(dir, _)| dir)
}

fn gate(dir: &Path, args: &[&str]) -> Run {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(args)
        .arg("--project")
        .arg(dir)
        .env_remove("NODE_ENV")
        .env("NEXT_TELEMETRY_DISABLED", "1")
        .env("TURBO_TELEMETRY_DISABLED", "1")
        .timeout(std::time::Duration::from_secs(1500));
    run(cmd)
}

fn validate(dir: &Path) -> Run {
    gate(dir, &["validate", "S-19", "--no-history"])
}

fn message<'a>(report: &'a Value, id: &str) -> &'a str {
    check(report, id)["message"].as_str().unwrap_or("")
}

/// Every check that failed or errored, for assertion messages.
fn not_ok(report: &Value) -> Vec<String> {
    report["gates"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["checks"].as_array().into_iter().flatten())
        .filter(|c| c["status"] == "failed" || c["status"] == "error")
        .map(|c| format!("{}: {}", c["id"], c["message"]))
        .collect()
}

fn builds(report: &Value, id: &str) -> Vec<Value> {
    check(report, id)["evidence"]["builds"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Monorepos

#[test]
fn npm_workspaces_build_in_dependency_order_once() {
    let Some(dir) = installed("mono-npm") else {
        return;
    };
    for lib in ["packages/logger/dist", "apps/api/dist", "apps/web/dist"] {
        assert!(
            !dir.path().join(lib).exists(),
            "{lib}: the tree is not fresh"
        );
    }
    let out = validate(dir.path());
    let report = out.report();
    assert_eq!(out.code, 0, "{:#?}", not_ok(&report));
    for id in ["build.dev_build", "build.prod_build"] {
        let apps: Vec<String> = builds(&report, id)
            .iter()
            .map(|b| b["app"].as_str().unwrap().to_owned())
            .collect();
        // Each workspace once, the library first, and never the root's fan-out script.
        assert_eq!(apps.len(), 3, "{id}: {apps:?}");
        assert_eq!(apps[0], "packages/logger", "{id}: {apps:?}");
        assert!(apps.contains(&"apps/api".to_owned()) && apps.contains(&"apps/web".to_owned()));
    }
    let api = &builds(&report, "build.prod_build")[1];
    assert_eq!(api["after"], serde_json::json!(["packages/logger"]));
    // The library's `tsc -w` is not a service; the app and the API are.
    let services: Vec<&str> = check(&report, "startup.dev_mode")["evidence"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["api", "web"], "{services:?}");

    // Broken: the library does not compile. Its dependents are not built, and say why.
    let dir = installed("mono-npm").unwrap();
    edit(
        &dir.path().join("packages/logger/src/index.ts"),
        "return line;",
        "return line.length;",
    );
    let out = gate(dir.path(), &["build"]);
    let report = out.report();
    assert_eq!(out.code, 1);
    assert_eq!(status(&report, "build.prod_build"), "failed");
    let msg = message(&report, "build.prod_build");
    assert!(
        msg.contains("packages/logger") && msg.contains("TS2322"),
        "{msg}"
    );
    assert!(
        msg.contains("apps/api not built: packages/logger, which it imports, failed to build"),
        "{msg}"
    );
    assert_eq!(builds(&report, "build.prod_build").len(), 1);
}

#[test]
fn turborepo_builds_with_its_one_command_attributed_per_workspace() {
    let Some(dir) = installed("mono-turbo") else {
        return;
    };
    let out = validate(dir.path());
    let report = out.report();
    assert_eq!(out.code, 0, "{:#?}", not_ok(&report));
    let prod = builds(&report, "build.prod_build");
    assert_eq!(
        prod.len(),
        1,
        "one orchestrator run, not one per workspace: {prod:#?}"
    );
    assert_eq!(prod[0]["command"], "npm run build");
    let workspaces = prod[0]["workspaces"].as_array().unwrap();
    assert_eq!(workspaces.len(), 3);
    assert!(
        workspaces
            .iter()
            .all(|w| w["lines"].as_u64().unwrap() > 0 && w["failed"] == false),
        "{workspaces:#?}"
    );
    // Outputs are measured per workspace.
    let outputs = check(&report, "build.bundle_size")["evidence"]["outputs"]
        .as_array()
        .unwrap();
    assert_eq!(outputs.len(), 3);
    // The root's `turbo run dev` is not started beside the workspaces' own servers.
    let services: Vec<&str> = check(&report, "startup.dev_mode")["evidence"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["api", "web"]);

    // Broken: the API imports a name the library does not export.
    let dir = installed("mono-turbo").unwrap();
    edit(
        &dir.path().join("apps/api/src/server.ts"),
        "import { log } from \"@mono/logger\";",
        "import { log, trace } from \"@mono/logger\";\nvoid trace;",
    );
    let out = gate(dir.path(), &["build"]);
    let report = out.report();
    assert_eq!(out.code, 1);
    let msg = message(&report, "build.prod_build");
    assert!(msg.contains("in apps/api (@mono/api)"), "{msg}");
    assert!(
        msg.contains("apps/api/src/server.ts") && msg.contains("trace"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------------
// Frameworks

#[test]
fn next_app_skips_the_dev_build_budgets_client_files_and_starts_after_dev() {
    let Some(dir) = installed("next-app") else {
        return;
    };
    let out = validate(dir.path());
    let report = out.report();
    assert_eq!(out.code, 0, "{:#?}", not_ok(&report));
    assert_eq!(status(&report, "build.dev_build"), "skipped");
    assert!(
        message(&report, "build.dev_build").contains("Next.js has no development build"),
        "{}",
        message(&report, "build.dev_build")
    );
    let bundle = &check(&report, "build.bundle_size")["evidence"]["outputs"][0];
    assert_eq!(bundle["output"], ".next/static");
    assert!(bundle["files"].as_u64().unwrap() > 0);
    assert!(
        bundle["framework"]
            .as_str()
            .unwrap()
            .starts_with("next (Next.js"),
        "{bundle:#}"
    );
    for f in bundle["largest"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        assert!(
            path.starts_with(".next/static/"),
            "{path} is not a client file"
        );
    }
    assert!(dir.path().join(".next/standalone/node_modules").is_dir());
    let assets = check(&report, "build.assets_generated");
    assert_eq!(assets["status"], "passed", "{assets:#}");
    assert!(
        assets["evidence"]["outputs"][0]["references"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(
        assets["evidence"]["outputs"][0]["public_path"],
        "/_next/static"
    );
    // `next start` ran on a production build after `next dev`: kept or rebuilt, and said so.
    let prod = &check(&report, "startup.prod_mode")["evidence"]["services"][0];
    let how = prod["prod_build"].as_str().unwrap_or("");
    assert!(
        how.starts_with("kept:") || how.starts_with("rebuilt:"),
        "{prod:#}"
    );

    // Next's own warning about a non-standard NODE_ENV (a staging build's `[build] env`; a
    // `build:dev` script running `next build` prints it too) is a warning of the build. The
    // process's NODE_ENV does not reach the build: the production build sets its own.
    let toml = dir.path().join("devops-agent.toml");
    fs::write(&toml, "[build]\nenv = { NODE_ENV = \"staging\" }\n").unwrap();
    let out = gate(dir.path(), &["build"]);
    fs::remove_file(&toml).unwrap();
    let report = out.report();
    let warnings = check(&report, "build.no_blocking_warnings");
    assert_eq!(warnings["status"], "warning", "{warnings:#}");
    assert_eq!(warnings["evidence"]["by_tool"]["next"], 1, "{warnings:#}");
    assert!(
        warnings["findings"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("next: Next.js: a non-standard NODE_ENV value"),
        "{warnings:#}"
    );

    // Broken: a page imports a module that does not exist.
    edit(
        &dir.path().join("app/page.js"),
        "import Counter from \"./counter\";",
        "import Counter from \"./missing-counter\";",
    );
    let out = gate(dir.path(), &["build"]);
    let report = out.report();
    assert_eq!(out.code, 1);
    let msg = message(&report, "build.prod_build");
    assert!(msg.contains("missing-counter"), "{msg}");
}

fn framework_output_is_measured(name: &str, output: &str, page: &str) {
    let Some(dir) = installed(name) else {
        return;
    };
    let out = validate(dir.path());
    let report = out.report();
    assert_eq!(out.code, 0, "{:#?}", not_ok(&report));
    let bundle = check(&report, "build.bundle_size");
    assert_eq!(bundle["status"], "passed", "{bundle:#}");
    let measured = &bundle["evidence"]["outputs"][0];
    assert_eq!(measured["output"], output);
    assert!(measured["total"]["raw"].as_u64().unwrap() > 0);
    let assets = check(&report, "build.assets_generated");
    assert_eq!(assets["status"], "passed", "{assets:#}");
    // Either the page references built assets (and they exist), or it inlines every one.
    assert!(
        assets["evidence"]["outputs"][0]["references"]
            .as_u64()
            .unwrap()
            > 0
            || assets["message"]
                .as_str()
                .unwrap()
                .contains("every asset inline"),
        "{assets:#}"
    );

    // Broken: the page does not compile.
    fs::write(dir.path().join(page), "<h1>{unclosed</h1>\n").unwrap();
    let out = gate(dir.path(), &["build"]);
    let report = out.report();
    assert_eq!(out.code, 1);
    assert_eq!(status(&report, "build.prod_build"), "failed");
    let file = Path::new(page).file_name().unwrap().to_str().unwrap();
    let text = serde_json::to_string(check(&report, "build.prod_build")).unwrap();
    assert!(text.contains(file), "{text}");
}

#[test]
fn sveltekit_app_output_is_found_and_measured() {
    framework_output_is_measured(
        "sveltekit-app",
        ".svelte-kit/output/client",
        "src/routes/+page.svelte",
    );
}

#[test]
fn astro_app_output_is_found_and_measured() {
    framework_output_is_measured("astro-app", "dist", "src/pages/index.astro");
}

// ---------------------------------------------------------------------------------------------
// Required variables

#[test]
fn env_example_keys_with_code_defaults_are_not_required() {
    let dir = copy_fixture("django-env");
    let out = validate(dir.path());
    let report = out.report();
    assert_eq!(out.code, 0, "{:#?}", not_ok(&report));
    let env = check(&report, "startup.env_vars");
    assert_ne!(env["status"], "failed", "{env:#}");
    assert_eq!(
        env["evidence"]["optional_with_defaults"],
        serde_json::json!([
            "ALLOWED_HOSTS",
            "DATABASE_URL",
            "DEBUG",
            "REDIS_URL",
            "SECRET_KEY"
        ])
    );
    assert_eq!(
        env["evidence"]["documented_but_unread"],
        serde_json::json!(["SENTRY_RELEASE"])
    );

    // Broken: the settings read a documented key without a default, and it is not set.
    fs::write(dir.path().join(".env.sample"), "API_TOKEN=\n").unwrap();
    let settings = dir.path().join("mysite/settings.py");
    let mut text = fs::read_to_string(&settings).unwrap();
    text.push_str("API_TOKEN = os.environ[\"API_TOKEN\"]\n");
    fs::write(&settings, text).unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["startup", "--project"])
        .arg(dir.path())
        .env_remove("API_TOKEN");
    let out = run(cmd);
    let report = out.report();
    assert_eq!(out.code, 1);
    let env = check(&report, "startup.env_vars");
    assert_eq!(env["status"], "failed");
    assert_eq!(env["evidence"]["missing"], serde_json::json!(["API_TOKEN"]));
    let finding = env["findings"][0]["message"].as_str().unwrap();
    assert!(
        finding.contains("read without a default at mysite/settings.py:18"),
        "{finding}"
    );
}
