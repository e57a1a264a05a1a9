//! `list` and `explain`: every check of the spec is listed once, and each one is explained.

use serde_json::Value;

use crate::common::devops_agent;

/// The contract `list` must show.
const SPEC_IDS: &[&str] = crate::common::SPEC_CHECK_IDS;

fn stdout(args: &[&str]) -> (i32, String) {
    let state = tempfile::tempdir().unwrap();
    let out = devops_agent(state.path()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn list_shows_every_spec_check_once_with_its_gate() {
    let (code, text) = stdout(&["list", "--format", "json"]);
    assert_eq!(code, 0);
    let listed: Value = serde_json::from_str(&text).unwrap();
    let ids: Vec<&str> = listed["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, SPEC_IDS);
    for c in listed["checks"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        assert_eq!(Some(c["gate"].as_str().unwrap()), id.split('.').next());
        assert!(!c["title"].as_str().unwrap().is_empty(), "{id}");
        assert!(!c["verifies"].as_str().unwrap().is_empty(), "{id}");
    }

    // The framework catalogue comes along: which frameworks, and what is known of each.
    let frameworks = listed["frameworks"].as_array().unwrap();
    assert!(
        frameworks.iter().any(|f| f["id"] == "next"),
        "{frameworks:?}"
    );
    assert!(
        frameworks.iter().any(|f| f["id"] == "vite"),
        "{frameworks:?}"
    );

    let (code, table) = stdout(&["list", "--format", "human"]);
    assert_eq!(code, 0);
    assert!(table.contains("Frameworks recognised"), "{table}");
    for id in SPEC_IDS {
        assert_eq!(
            table
                .lines()
                .filter(|l| l.trim_start().starts_with(&format!("{id} ")))
                .count(),
            1,
            "{id} in:\n{table}"
        );
    }
}

#[test]
fn explain_covers_every_check_by_full_and_short_id() {
    for id in SPEC_IDS {
        let (code, text) = stdout(&["explain", id, "--format", "json"]);
        assert_eq!(code, 0, "{id}");
        let e: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(e["id"], *id);
        assert!(!e["looks_at"].as_array().unwrap().is_empty(), "{id}");
        assert!(!e["fixes"].as_array().unwrap().is_empty(), "{id}");

        let short = id.split_once('.').unwrap().1;
        let (code, text) = stdout(&["explain", short, "--format", "human"]);
        assert_eq!(code, 0, "{short}");
        assert!(text.starts_with(&format!("{id} (")), "{text}");
        assert!(text.contains("Typical failures:"), "{text}");
    }
}

#[test]
fn explain_of_an_unknown_check_is_a_usage_error_naming_it() {
    let (code, text) = stdout(&["explain", "bundle_sise", "--format", "json"]);
    assert_eq!(code, 2);
    let e: Value = serde_json::from_str(&text).unwrap();
    assert!(e["error"].as_str().unwrap().contains("bundle_sise"), "{e}");
}
