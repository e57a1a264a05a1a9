//! `devops-agent ports allocate`: free, machine-wide distinct ports written into `.env`.

use std::collections::BTreeMap;
use std::net::TcpListener;

use crate::common::{devops_agent, free_port, project, run};

fn compose(front: u16, back: u16) -> String {
    format!(
        "services:\n  frontend:\n    image: x\n    ports:\n      - \"${{FRONTEND_PORT:-{front}}}:5173\"\n  backend:\n    image: x\n    ports:\n      - \"${{BACKEND_PORT:-{back}}}:3000\"\n"
    )
}

fn env_file(dir: &std::path::Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(dir.join(".env"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn allocate(state: &std::path::Path, dir: &std::path::Path) -> serde_json::Value {
    let mut cmd = devops_agent(state);
    cmd.args(["ports", "allocate", "--project"]).arg(dir);
    let out = run(cmd);
    let report = out.report();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(report["meta"]["command"], "ports allocate");
    report
}

#[test]
fn two_projects_get_disjoint_ports_and_both_env_files() {
    let (front, back) = (free_port(), free_port());
    let a = project(&[
        ("compose.yaml", &compose(front, back)),
        (".env", "# keep me\nAPP_NAME=a\n"),
    ]);
    let b = project(&[("compose.yaml", &compose(front, back))]);
    let state = tempfile::tempdir().unwrap();

    allocate(state.path(), a.path());
    let report_b = allocate(state.path(), b.path());

    let env_a = env_file(a.path());
    let env_b = env_file(b.path());
    // The first project keeps the defaults; the second is moved off them.
    assert_eq!(env_a["FRONTEND_PORT"], front.to_string());
    assert_eq!(env_a["BACKEND_PORT"], back.to_string());
    let ports_a: Vec<&String> = env_a
        .iter()
        .filter(|(k, _)| k.ends_with("_PORT"))
        .map(|(_, v)| v)
        .collect();
    let ports_b: Vec<&String> = env_b
        .iter()
        .filter(|(k, _)| k.ends_with("_PORT"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(ports_b.len(), 2);
    for p in &ports_b {
        assert!(!ports_a.contains(p), "port {p} given to both projects");
    }
    // Other lines of .env are left alone.
    let text_a = std::fs::read_to_string(a.path().join(".env")).unwrap();
    assert!(text_a.starts_with("# keep me\nAPP_NAME=a\n"), "{text_a}");
    // The report shows the allocated ports as the effective ones.
    let effective: Vec<u64> = report_b["infrastructure"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["effective"].as_u64().unwrap())
        .collect();
    for p in &ports_b {
        assert!(effective.contains(&p.parse().unwrap()));
    }

    // Allocating again is stable: each project keeps what it has.
    allocate(state.path(), b.path());
    assert_eq!(env_file(b.path()), env_b);
}

#[test]
fn a_default_held_by_a_listener_is_skipped() {
    let held = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let dir = project(&[(
        "compose.yaml",
        &format!(
            "services:\n  api:\n    image: x\n    ports:\n      - \"${{API_PORT:-{port}}}:80\"\n"
        ),
    )]);
    let state = tempfile::tempdir().unwrap();
    allocate(state.path(), dir.path());
    let got: u16 = env_file(dir.path())["API_PORT"].parse().unwrap();
    assert_ne!(got, port);
    assert!(
        got > port && got <= port.saturating_add(100),
        "{got} not near {port}"
    );
    drop(held);
}

#[test]
fn reservations_of_deleted_projects_are_reclaimed() {
    let (front, back) = (free_port(), free_port());
    let state = tempfile::tempdir().unwrap();
    let gone = project(&[("compose.yaml", &compose(front, back))]);
    allocate(state.path(), gone.path());
    drop(gone);
    let next = project(&[("compose.yaml", &compose(front, back))]);
    allocate(state.path(), next.path());
    let env = env_file(next.path());
    assert_eq!(env["FRONTEND_PORT"], front.to_string());
    assert_eq!(env["BACKEND_PORT"], back.to_string());
}

#[test]
fn hard_coded_only_project_allocates_nothing_and_says_why() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  api:\n    image: x\n    ports:\n      - \"4600:80\"\n",
    )]);
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["ports", "allocate", "--project"]).arg(dir.path());
    let out = run(cmd);
    // No variable to allocate: .env is not created, and the ports check still fails.
    assert_eq!(out.code, 1);
    assert!(!dir.path().join(".env").exists());
    out.report();
}
