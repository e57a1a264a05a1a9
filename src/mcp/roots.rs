//! Which project directories the server may validate, and one run per project at a time.
//!
//! A project is served only when its resolved path (symlinks followed, so `root/link -> /etc`
//! is `/etc`) lies under one of the server's roots (`--root`, default the working directory)
//! and, when the client declared MCP roots, under one of those too: the operator's limit and
//! the client's workspace both hold.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The server's roots, resolved.
#[derive(Debug, Clone)]
pub(crate) struct Roots {
    server: Vec<PathBuf>,
}

/// A `file://` URI as a path (percent-decoded); `None` for any other scheme.
pub(crate) fn file_uri_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    // `file://localhost/x` and `file:///x` name the same file.
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return None;
    }
    Some(PathBuf::from(percent_decode(rest)))
}

/// `%XX` sequences decoded; anything malformed is kept as written.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A path percent-encoded for a URI, `/` kept.
pub(crate) fn percent_encode(path: &Path) -> String {
    let mut out = String::new();
    for b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(b) {
            out.push(char::from(*b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Why a call cannot work on the project it names (a refusal the client reads), or why the
/// server cannot serve its roots.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RootsError {
    #[error("no working directory")]
    NoWorkingDirectory(#[source] std::io::Error),
    #[error("--root {}", .root.display())]
    Root {
        root: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("project {}", .path.display())]
    Project {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("project {} is not a directory", .path.display())]
    NotADirectory { path: PathBuf },
    #[error(
        "project {} is outside the server's roots ({}); start the server with --root for it",
        .project.display(),
        list(.roots)
    )]
    OutsideServerRoots {
        project: PathBuf,
        roots: Vec<PathBuf>,
    },
    #[error("project {} is outside the client's roots ({})", .project.display(), list(.roots))]
    OutsideClientRoots {
        project: PathBuf,
        roots: Vec<PathBuf>,
    },
    #[error("the client did not list its roots in time")]
    ClientRootsTimeout,
    /// rmcp's error text is kept as text: some of its variants print their cause and also
    /// return it as `source()`, so the chain would say it twice.
    #[error("the client did not list its roots: {reason}")]
    ClientRoots { reason: String },
    #[error(
        "{} is already being validated by another call; wait for it to finish (or cancel it) \
         and try again",
        .project.display()
    )]
    Busy { project: PathBuf },
}

fn under(path: &Path, roots: &[PathBuf]) -> bool {
    roots.iter().any(|r| path.starts_with(r))
}

impl Roots {
    /// The `--root` directories (the working directory when none), each resolved; a root that
    /// does not exist is an error, since serving nothing silently would confuse every call.
    pub(crate) fn new(given: &[PathBuf]) -> Result<Roots, RootsError> {
        let given = if given.is_empty() {
            vec![std::env::current_dir().map_err(RootsError::NoWorkingDirectory)?]
        } else {
            given.to_vec()
        };
        let server = given
            .iter()
            .map(|r| {
                std::fs::canonicalize(r).map_err(|source| RootsError::Root {
                    root: r.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Roots { server })
    }

    /// The server's roots, resolved.
    pub(crate) fn server(&self) -> &[PathBuf] {
        &self.server
    }

    /// The project directory a call names, resolved and checked. `client` are the client's
    /// declared roots (resolved where they exist), empty when it declared none. A relative
    /// path, and no path at all, are taken from the first client root, else the first server
    /// root.
    pub(crate) fn project(
        &self,
        requested: Option<&str>,
        client: &[PathBuf],
    ) -> Result<PathBuf, RootsError> {
        let base = client.first().unwrap_or(&self.server[0]);
        let path = match requested.filter(|p| !p.is_empty()) {
            Some(p) => base.join(p),
            None => base.clone(),
        };
        let resolved = match std::fs::canonicalize(&path) {
            Ok(resolved) => resolved,
            Err(source) => return Err(RootsError::Project { path, source }),
        };
        if !resolved.is_dir() {
            return Err(RootsError::NotADirectory { path });
        }
        if !under(&resolved, &self.server) {
            return Err(RootsError::OutsideServerRoots {
                project: resolved,
                roots: self.server.clone(),
            });
        }
        if !client.is_empty() && !under(&resolved, client) {
            return Err(RootsError::OutsideClientRoots {
                project: resolved,
                roots: client.to_vec(),
            });
        }
        Ok(resolved)
    }
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Projects with a run in progress.
#[derive(Debug, Clone, Default)]
pub(crate) struct Busy(Arc<Mutex<BTreeSet<PathBuf>>>);

/// Held for the length of one run; frees the project when dropped.
pub(crate) struct Claim {
    busy: Busy,
    project: PathBuf,
}

impl Busy {
    /// Claim `project`, or say why not.
    pub(crate) fn claim(&self, project: &Path) -> Result<Claim, RootsError> {
        let mut set = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !set.insert(project.to_owned()) {
            return Err(RootsError::Busy {
                project: project.to_owned(),
            });
        }
        Ok(Claim {
            busy: self.clone(),
            project: project.to_owned(),
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.busy
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.project);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_outside_the_roots_or_through_a_symlink_out_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("app")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
        let roots = Roots::new(&[root.path().to_owned()]).unwrap();
        let app = roots.project(Some("app"), &[]).unwrap();
        assert!(app.ends_with("app"));
        assert_eq!(
            roots.project(None, &[]).unwrap(),
            std::fs::canonicalize(root.path()).unwrap()
        );
        let err = roots.project(Some("escape"), &[]).unwrap_err();
        assert!(
            matches!(err, RootsError::OutsideServerRoots { .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("outside the server's roots"),
            "{err}"
        );
        let err = roots
            .project(Some(outside.path().to_str().unwrap()), &[])
            .unwrap_err();
        assert!(
            err.to_string().contains("outside the server's roots"),
            "{err}"
        );
        assert!(roots.project(Some("../"), &[]).is_err());
        // The client's roots narrow the server's.
        let client = [std::fs::canonicalize(root.path().join("app")).unwrap()];
        assert!(roots.project(None, &client).unwrap().ends_with("app"));
        let err = roots
            .project(Some(root.path().to_str().unwrap()), &client)
            .unwrap_err();
        assert!(
            matches!(err, RootsError::OutsideClientRoots { .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("outside the client's roots"),
            "{err}"
        );
    }

    #[test]
    fn one_claim_per_project() {
        let busy = Busy::default();
        let claim = busy.claim(Path::new("/p")).unwrap();
        assert!(matches!(
            busy.claim(Path::new("/p")),
            Err(RootsError::Busy { .. })
        ));
        assert!(busy.claim(Path::new("/q")).is_ok());
        drop(claim);
        assert!(busy.claim(Path::new("/p")).is_ok());
    }

    #[test]
    fn file_uris_and_percent_coding() {
        assert_eq!(
            file_uri_path("file:///a%20b/c").unwrap(),
            PathBuf::from("/a b/c")
        );
        assert_eq!(
            file_uri_path("file://localhost/x").unwrap(),
            PathBuf::from("/x")
        );
        assert_eq!(file_uri_path("https://x/y"), None);
        assert_eq!(percent_encode(Path::new("/a b/c")), "/a%20b/c");
        assert_eq!(percent_decode(&percent_encode(Path::new("/ä%/x"))), "/ä%/x");
    }
}
