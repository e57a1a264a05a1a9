//! Fuzzing entry points, one per parser, for the cargo-fuzz targets in `fuzz/` and for the
//! regression tests that replay what they found. Not a stable API: hidden from the docs, and
//! each function only promises not to panic, hang or overflow the stack on any input.

pub use crate::gates::build::fuzz::{glob as budget_glob, html as built_html};
pub use crate::gates::deps::fuzz::{lock, package_json, pyproject, requirements};
pub use crate::gates::integration::fuzz::{html as served_html, nginx};
pub use crate::project::fuzz::{compose, config, dockerfile, k8s};

/// A `.env` file, and the same file after `ports allocate` set a variable in it.
pub fn dotenv(text: &str) {
    let path = std::path::Path::new(".env");
    if let Ok(env) = crate::dotenv::parse(path, text) {
        let _ = env.resolve(&|_: &str| None);
        let updated = crate::dotenv::set_vars(text, &[("PORT".to_owned(), "3000".to_owned())]);
        // Setting a variable in a valid file leaves it valid, with the variable set.
        let reparsed = crate::dotenv::parse(path, &updated);
        assert!(
            reparsed
                .as_ref()
                .is_ok_and(|e| e.get("PORT").is_some_and(|p| p.value == "3000")),
            "set_vars broke {text:?} into {updated:?}: {reparsed:?}"
        );
    }
}

/// Compose-style interpolation: parsed, rendered, and printed back.
pub fn interpolation(text: &str) {
    if let Ok(template) = crate::interp::Template::parse(text) {
        let _ =
            template.render(&|name: &str| name.len().is_multiple_of(2).then(|| name.to_owned()));
        let _ = template.vars();
        let source = template.to_source();
        // What it prints must parse again.
        assert!(
            crate::interp::Template::parse(&source).is_ok(),
            "to_source of {text:?} does not parse: {source:?}"
        );
    }
}

/// Every fuzz target, by the name of its `fuzz/fuzz_targets/*.rs` file.
pub const TARGETS: &[&str] = &[
    "package_json",
    "locks",
    "requirements",
    "pyproject",
    "compose",
    "k8s",
    "dockerfile",
    "dotenv",
    "interpolation",
    "nginx",
    "html",
    "config",
    "budget_glob",
];

/// Run target `name` on `data`: what each fuzz target and each regression test does. Text
/// parsers get the input only when it is UTF-8 (every reader refuses other bytes before
/// parsing).
pub fn run(name: &str, data: &[u8]) {
    if name == "locks" {
        lock(data);
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match name {
        "package_json" => package_json(text),
        "requirements" => requirements(text, &scratch_dir()),
        "pyproject" => pyproject(text),
        "compose" => compose(text),
        "k8s" => k8s(text),
        "dockerfile" => dockerfile(text),
        "dotenv" => dotenv(text),
        "interpolation" => interpolation(text),
        "nginx" => nginx(text),
        "html" => {
            served_html(text);
            built_html(text);
        }
        "config" => config(text),
        "budget_glob" => budget_glob(text),
        other => panic!("no fuzz target {other}"),
    }
}

/// A directory of this process's own for targets that read files.
fn scratch_dir() -> std::path::PathBuf {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("devops-agent-fuzz-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        dir
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every input the fuzzers found a crash, hang or overflow with (`fuzz/regressions/TARGET/`)
    /// and every seed of the corpus (`fuzz/seeds/TARGET/`) still runs through its target.
    #[test]
    fn regressions_and_seeds_replay() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut replayed = 0;
        for target in super::TARGETS {
            for kind in ["regressions", "seeds"] {
                let Ok(entries) = std::fs::read_dir(root.join(kind).join(target)) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let data = std::fs::read(entry.path()).unwrap();
                    super::run(target, &data);
                    replayed += 1;
                }
            }
        }
        assert!(
            replayed >= super::TARGETS.len(),
            "only {replayed} inputs found"
        );
    }

    #[test]
    fn hostile_shapes_do_not_overflow_or_hang() {
        let deep = |open: &str, close: &str, n: usize| open.repeat(n) + &close.repeat(n);
        let cases: Vec<(&str, String)> = vec![
            (
                "requirements",
                format!(
                    "pkg ; {}os_name == 'nt'{}",
                    "(".repeat(3_000),
                    ")".repeat(3_000)
                ),
            ),
            ("nginx", deep("a {\n", "}", 50_000)),
            (
                "package_json",
                format!("{{\"dependencies\": {}}}", deep("[", "]", 50_000)),
            ),
            (
                "compose",
                format!(
                    "services:\n  a:\n    depends_on: {}",
                    deep("[", "]", 50_000)
                ),
            ),
            ("k8s", deep("- ", "", 50_000)),
            ("config", format!("a = {}", deep("[", "]", 50_000))),
            (
                "pyproject",
                format!("[project]\ndependencies = {}", deep("[", "]", 50_000)),
            ),
            ("interpolation", deep("${A:-", "}", 50_000)),
            ("dotenv", format!("A={}", deep("${A:-", "}", 50_000))),
            ("html", deep("<div>", "</div>", 50_000)),
            (
                "budget_glob",
                format!("{}*.js\n{}x.css", "**/".repeat(200), "a/".repeat(200)),
            ),
        ];
        for (target, input) in cases {
            super::run(target, input.as_bytes());
        }
    }
}
