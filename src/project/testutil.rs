//! Test helpers for code that reads a project: a throwaway project made of a few files.

use super::Project;

/// A project in a temporary directory holding `files` (path from the root, text), loaded
/// without a configuration file; the directory lives as long as the returned guard.
pub(crate) fn project(files: &[(&str, &str)]) -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let project = Project::load(dir.path(), None).unwrap();
    (dir, project)
}
