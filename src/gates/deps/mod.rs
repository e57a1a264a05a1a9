//! The deps gate: every declared dependency of every manifest (Node, Python, Rust, Go) is
//! installed where the application loads it from, lock files are present, valid and in sync,
//! installed versions satisfy their ranges transitively, and npm peer dependencies are met.

mod cargo;
mod discover;
#[doc(hidden)]
pub mod fuzz;
mod gate;
mod gomod;
mod lenient;
mod lines;
mod node;
mod node_lock;
mod node_shape;
mod node_tree;
mod npm_spec;
mod npmrc;
mod outcome;
mod pep508;
mod py_env;
mod py_lock;
mod py_manifest;
mod python;
mod read;

pub use gate::run;

/// `cmd` run in the project-relative directory `dir_rel` (`""` or `"."`: the project root), as
/// one line of POSIX shell: the directory is quoted when it needs to be, and one that starts
/// with `-` is written `./-…` so `cd` does not take it for an option.
fn in_dir(dir_rel: &str, cmd: &str) -> String {
    if dir_rel.is_empty() || dir_rel == "." {
        return cmd.to_owned();
    }
    let dir = if dir_rel.starts_with('-') {
        format!("./{dir_rel}")
    } else {
        dir_rel.to_owned()
    };
    format!("cd {} && {cmd}", crate::report::escape::shell_word(&dir))
}
pub(crate) use node::{expand_workspaces, pnpm_workspaces};
pub(crate) use outcome::DepsEvidence;
pub(crate) use py_env::locate as locate_venv;

#[cfg(test)]
mod tests {
    use super::in_dir;

    /// The suggested command runs in the named directory under a real `sh`, whatever the
    /// directory's name holds.
    #[test]
    fn in_dir_commands_run_in_the_directory_under_sh() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for name in [
            "plain",
            "with space",
            "it's $HOME",
            "-dash",
            "a&&b;c",
            "ünï",
        ] {
            std::fs::create_dir(root.path().join(name)).unwrap_or_else(|e| panic!("{e}"));
            let line = in_dir(name, "basename \"$PWD\"");
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&line)
                .current_dir(root.path())
                .output()
                .unwrap_or_else(|e| panic!("sh: {e}"));
            assert!(out.status.success(), "{line}: {out:?}");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim_end(),
                name,
                "{line}"
            );
        }
        assert_eq!(in_dir("", "npm install"), "npm install");
        assert_eq!(in_dir(".", "npm install"), "npm install");
        assert_eq!(in_dir("web/app", "npm ci"), "cd web/app && npm ci");
    }
}
