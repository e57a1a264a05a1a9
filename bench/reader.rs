//! The minimal reader of bench/deps.sh: the I/O floor of checking an installed tree.
//!
//! It lists every `node_modules` directory of the project once (nested ones, `@scope`
//! directories and pnpm's `.pnpm/<key>/node_modules` too) and reads every installed
//! `package.json` once (a symlinked package is read where it really lives); for a virtualenv it
//! lists `site-packages` and reads every `*.dist-info/METADATA`. It parses nothing and checks
//! nothing: whatever `devops-agent deps` spends above this is its own work. Entry types come
//! from the listing (d_type), as any careful walker would take them.
//!
//! Built by bench/deps.sh with `rustc -O`; prints the number of files and bytes read.
//!
//! Usage: reader PROJECT_DIR

use std::fs;
use std::path::Path;

#[derive(Default)]
struct Count {
    files: u64,
    bytes: u64,
}

impl Count {
    fn read(&mut self, path: &Path) {
        if let Ok(bytes) = fs::read(path) {
            self.files += 1;
            self.bytes += bytes.len() as u64;
        }
    }
}

/// One package directory: its package.json and its own nested node_modules.
fn package(dir: &Path, count: &mut Count) {
    count.read(&dir.join("package.json"));
    node_modules(&dir.join("node_modules"), count);
}

fn node_modules(dir: &Path, count: &mut Count) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        if name == ".pnpm" && kind.is_dir() {
            // pnpm's store: every package lives in .pnpm/<key>/node_modules/<name>.
            if let Ok(keys) = fs::read_dir(&path) {
                for key in keys.flatten() {
                    if key.file_type().is_ok_and(|t| t.is_dir()) {
                        node_modules(&key.path().join("node_modules"), count);
                    }
                }
            }
        } else if name.starts_with('.') || kind.is_symlink() {
            // .bin, .cache, lock files; a symlink's target is read where it really lives.
        } else if name.starts_with('@') && kind.is_dir() {
            if let Ok(scoped) = fs::read_dir(&path) {
                for pkg in scoped.flatten() {
                    if pkg.file_type().is_ok_and(|t| t.is_dir()) {
                        package(&pkg.path(), count);
                    }
                }
            }
        } else if kind.is_dir() {
            package(&path, count);
        }
    }
}

fn site_packages(project: &Path, count: &mut Count) {
    let Ok(libs) = fs::read_dir(project.join(".venv/lib")) else {
        return;
    };
    for lib in libs.flatten() {
        let Ok(entries) = fs::read_dir(lib.path().join("site-packages")) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".dist-info") {
                count.read(&entry.path().join("METADATA"));
            }
        }
    }
}

fn main() {
    let Some(project) = std::env::args_os().nth(1) else {
        eprintln!("usage: reader PROJECT_DIR");
        std::process::exit(2);
    };
    let project = Path::new(&project);
    let mut count = Count::default();
    count.read(&project.join("package.json"));
    node_modules(&project.join("node_modules"), &mut count);
    site_packages(project, &mut count);
    println!("{} files, {} bytes", count.files, count.bytes);
}
