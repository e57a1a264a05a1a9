//! The one way devops-agent reads a file: confined to the project, regular files only, size
//! capped.
//!
//! Every reader of project files goes through [`read`] (or [`stat`] when only existence and
//! size matter). A path is resolved (symlinks followed) and must land inside the project root
//! set with [`confine_to`] — or be one of the named exceptions registered with [`allow`]: the
//! file given with `--config` and the tool's state directory. It is opened with `O_NONBLOCK`
//! (a FIFO cannot block the open) and checked with `fstat` on the opened descriptor: only a
//! regular file is read — never a FIFO, socket, device, directory or `/proc`/`/sys` entry — and
//! never more than the caller's limit, counted while reading (a file that grows cannot make it
//! read forever). Anything else is an error that names the reason; the check that asked turns
//! it into a finding naming the file.
//!
//! The root is process-wide because a run validates one project and every gate, parser and
//! writer must see the same rule; a reader cannot forget it because there is no other reader.

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Io(std::io::Error),
    #[error("outside the project (resolves to {})", .0.display())]
    Outside(PathBuf),
    #[error("not a regular file (a {0})")]
    Special(&'static str),
    #[error("a /proc or /sys entry ({}), not a project file", .0.display())]
    Kernel(PathBuf),
    #[error("file is {size} bytes, more than the {limit} bytes devops-agent reads")]
    TooLarge { size: u64, limit: u64 },
}

impl ReadError {
    /// The file does not exist (callers often treat that as "not configured").
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

#[derive(Debug, Default)]
struct Policy {
    /// The project root, resolved.
    root: Option<PathBuf>,
    /// The root as the project names it (absolute, not resolved): the prefix of the paths the
    /// gates build, for [`open_beneath`].
    named: Option<PathBuf>,
    /// The root directory, opened, for [`open_beneath`].
    root_fd: Option<OwnedFd>,
    /// Resolved files and directories readable although outside the root.
    allowed: Vec<PathBuf>,
}

static POLICY: RwLock<Policy> = RwLock::new(Policy {
    root: None,
    named: None,
    root_fd: None,
    allowed: Vec::new(),
});

/// Confine every later read to `root` (resolved). Until this is called — unit tests, `schema` —
/// only the regular-file and size rules apply.
pub fn confine_to(root: &Path) {
    let named = std::path::absolute(root).ok();
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned());
    let root_fd = if root.starts_with("/proc") || root.starts_with("/sys") {
        None
    } else {
        rustix::fs::open(
            &root,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .ok()
    };
    let mut policy = POLICY
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    policy.root = Some(root);
    policy.named = named;
    policy.root_fd = root_fd;
}

/// Make `path` (a file, or a directory and everything below it) readable although outside the
/// root: the `--config` file and the state directory.
pub fn allow(path: &Path) {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    POLICY
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .allowed
        .push(path);
}

/// `path` resolved, if the rule lets it be read.
fn resolve(path: &Path) -> Result<PathBuf, ReadError> {
    let real = resolve_anywhere(path)?;
    let policy = POLICY
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let inside = policy
        .root
        .as_ref()
        .is_none_or(|root| real.starts_with(root))
        || policy.allowed.iter().any(|a| real.starts_with(a));
    if inside {
        Ok(real)
    } else {
        Err(ReadError::Outside(real))
    }
}

/// `path` resolved, refusing only kernel entries.
fn resolve_anywhere(path: &Path) -> Result<PathBuf, ReadError> {
    let real = std::fs::canonicalize(path).map_err(ReadError::Io)?;
    if real.starts_with("/proc") || real.starts_with("/sys") {
        return Err(ReadError::Kernel(real));
    }
    Ok(real)
}

/// Whether `path` may be read (exists, resolves inside the project or an exception, and is not
/// a kernel entry) — for a reference that is only checked, not opened.
pub fn check(path: &Path) -> Result<PathBuf, ReadError> {
    resolve(path)
}

/// Why `path`, a reference found in a project file, must not be looked at: it leaves `root`
/// lexically (`../../etc/passwd`) or resolves outside it; `None` when it may be checked
/// (including when it does not exist inside the project).
pub fn refusal(root: &Path, path: &Path) -> Option<String> {
    let lexical = normalize(path);
    if !lexical.starts_with(root) {
        return Some(format!(
            "it points outside the project ({})",
            lexical.display()
        ));
    }
    match resolve(path) {
        Err(e @ (ReadError::Outside(_) | ReadError::Kernel(_))) => Some(e.to_string()),
        Ok(_) | Err(_) => None,
    }
}

/// `path` with `.` and `..` collapsed, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn kind(meta: &Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("directory")
    } else if t.is_fifo() {
        Some("FIFO")
    } else if t.is_socket() {
        Some("socket")
    } else if t.is_char_device() {
        Some("character device")
    } else if t.is_block_device() {
        Some("block device")
    } else {
        Some("special file")
    }
}

/// Open `path` under the rule: resolved and confined, `O_NONBLOCK`, `fstat` says regular.
pub fn open(path: &Path) -> Result<(File, Metadata), ReadError> {
    if let Some(opened) = open_beneath(path) {
        return opened;
    }
    open_resolved(&resolve(path)?)
}

/// The rule's common case in one system call: a path under the root is opened with
/// `openat2(root, rest, RESOLVE_BENEATH)`, so the kernel resolves it — symlinks included — and
/// refuses any step that leaves the root, which is what [`resolve`] checks with a `realpath`
/// (one `readlink` per path component: for the 2,000 `package.json` files of an installed
/// tree, most of the deps gate's system calls). `None` when this cannot decide — no root, a
/// path not under it, a step outside it (an absolute symlink, `..`), not a regular file, an
/// old kernel — and then [`resolve`] decides and names the reason. A file that does not exist
/// is `NotFound` either way.
fn open_beneath(path: &Path) -> Option<Result<(File, Metadata), ReadError>> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let policy = POLICY
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let root_fd = policy.root_fd.as_ref()?;
    let rest = [policy.named.as_deref(), policy.root.as_deref()]
        .into_iter()
        .flatten()
        .find_map(|root| path.strip_prefix(root).ok())?;
    if rest.as_os_str().is_empty() {
        return None;
    }
    let fd = match rustix::fs::openat2(
        root_fd,
        rest,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => fd,
        // The same error (and message) the resolving path gives.
        Err(e @ rustix::io::Errno::NOENT) => {
            return Some(Err(ReadError::Io(std::io::Error::from_raw_os_error(
                e.raw_os_error(),
            ))));
        }
        Err(_) => return None,
    };
    let file = File::from(fd);
    let meta = file.metadata().ok()?;
    kind(&meta).is_none().then_some(Ok((file, meta)))
}

fn open_resolved(real: &Path) -> Result<(File, Metadata), ReadError> {
    let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits().cast_signed())
        .open(real)
        .map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if let Some(kind) = kind(&meta) {
        return Err(ReadError::Special(kind));
    }
    Ok((file, meta))
}

/// The metadata of a regular file under the rule, without reading it (bundle sizes, asset
/// existence).
pub fn stat(path: &Path) -> Result<Metadata, ReadError> {
    let real = resolve(path)?;
    let meta = std::fs::metadata(&real).map_err(ReadError::Io)?;
    match kind(&meta) {
        None => Ok(meta),
        Some(kind) => Err(ReadError::Special(kind)),
    }
}

/// Read `path` under the rule, at most `limit` bytes.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    read_opened(open(path)?, limit)
}

/// Read a file of *another* project under every rule but the root: the port registry checks
/// whether the projects it lists still hold their ports in their own `.env`.
pub fn read_other_project(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    read_opened(open_resolved(&resolve_anywhere(path)?)?, limit)
}

fn read_opened(opened: (File, Metadata), limit: u64) -> Result<Vec<u8>, ReadError> {
    let mut buf = Vec::new();
    read_opened_into(opened, limit, &mut buf)?;
    Ok(buf)
}

/// [`read`] into `buf` (cleared first): a caller reading thousands of small files (installed
/// package.json files) reuses one buffer instead of allocating one per file.
pub fn read_into(path: &Path, limit: u64, buf: &mut Vec<u8>) -> Result<(), ReadError> {
    read_opened_into(open(path)?, limit, buf)
}

fn read_opened_into(
    (file, meta): (File, Metadata),
    limit: u64,
    buf: &mut Vec<u8>,
) -> Result<(), ReadError> {
    buf.clear();
    if meta.len() > limit {
        return Err(ReadError::TooLarge {
            size: meta.len(),
            limit,
        });
    }
    // A regular file's read returns less than asked only at its end, so a read that stops
    // short exactly at the size `fstat` gave has read the whole file: the confirming read of
    // zero bytes that `read_to_end` makes (one system call per file, 2,300 on an installed npm
    // tree) is left out. A file that is longer than it was (the buffer fills) is read on to
    // its end, one that is shorter ends at its first empty read, as before.
    let expected = usize::try_from(meta.len()).unwrap_or(0);
    buf.resize(expected + 1, 0);
    let mut filled = 0;
    let mut file = file;
    loop {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => {
                filled += n;
                if filled == expected || filled == buf.len() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
    let grew = filled == buf.len();
    buf.truncate(filled);
    if grew {
        file.take(limit + 1 - filled as u64)
            .read_to_end(buf)
            .map_err(ReadError::Io)?;
    }
    let size = buf.len() as u64;
    if size > limit {
        return Err(ReadError::TooLarge { size, limit });
    }
    Ok(())
}

/// Read `path` under the rule as UTF-8 text (lossy: callers that must reject non-UTF-8 use
/// [`read`]).
pub fn read_lossy(path: &Path, limit: u64) -> Result<String, ReadError> {
    read(path, limit).map(|b| String::from_utf8_lossy(&b).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reading stops at the size `fstat` gave without a confirming read, and still gives every
    /// byte of empty, small and large files, and refuses one over the limit.
    #[test]
    fn whole_files_are_read_in_one_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let mut buf = vec![b'x'; 3];
        for len in [0usize, 1, 4095, 4096, 70_000] {
            let path = dir.path().join(format!("f{len}"));
            let bytes: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
            std::fs::write(&path, &bytes).unwrap();
            read_into(&path, 100_000, &mut buf).unwrap();
            assert_eq!(buf, bytes, "{len} bytes");
            assert_eq!(read(&path, 100_000).unwrap(), bytes, "{len} bytes");
        }
        let big = dir.path().join("f70000");
        assert!(matches!(
            read(&big, 69_999),
            Err(ReadError::TooLarge { size: 70_000, .. })
        ));
    }

    #[test]
    fn fifos_devices_and_proc_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join(".env");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert!(matches!(read(&fifo, 10), Err(ReadError::Special("FIFO"))));
        assert!(matches!(
            read(Path::new("/dev/zero"), 10),
            Err(ReadError::Special("character device"))
        ));
        assert!(matches!(
            read(Path::new("/proc/self/environ"), 1 << 20),
            Err(ReadError::Kernel(_))
        ));
        let link = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(matches!(read(&link, 10), Err(ReadError::Special(_))));
        std::fs::write(dir.path().join("big"), vec![b'x'; 11]).unwrap();
        assert!(matches!(
            read(&dir.path().join("big"), 10),
            Err(ReadError::TooLarge { size: 11, .. })
        ));
        assert!(
            read(&dir.path().join("missing"), 10)
                .unwrap_err()
                .is_not_found()
        );
    }
}
