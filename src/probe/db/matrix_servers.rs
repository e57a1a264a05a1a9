//! Throwaway servers for the agreement matrices, configured the way users configure them: an
//! initdb'd `PostgreSQL` cluster (SCRAM, MD5, SSL-only, no-SSL and certificate users, a Unix
//! socket directory), a `MariaDB` datadir (native, ed25519, `REQUIRE SSL`, `REQUIRE X509`
//! users, a Unix socket), a redis-server with an ACL file and a TLS port, and the test PKI they
//! share. Each listens on a free loopback port in a temporary directory and is stopped when
//! dropped.
//!
//! One file, compiled twice: as `probe::db::matrix_servers` for the probe matrices (the probe
//! against psql, mariadb and redis-cli) and, through `#[path]`, in the CLI test binary, whose
//! matrix drives `devops-agent startup` with the same servers (`tests/cli/startup_db.rs`).
//! Each user picks a part of it, hence the `dead_code` allowance. Being the one file both test
//! crates share, it also holds their one port allocator, [`free_port`].
#![allow(dead_code, reason = "compiled into two test crates, each using a part")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A user that only the throwaway servers have (the machine's own `PostgreSQL`, `MariaDB` and
/// Redis do not), so a probe that reaches one of those instead fails: proof of which server
/// answered. Its password has every character a URL must encode.
pub(crate) const ENV_USER: &str = "envuser";
pub(crate) const ENV_PASSWORD: &str = "p@ss:w/rd%#? é";
/// Redis ACL rules are space-separated, so its copy of the password has no space.
pub(crate) const ENV_PASSWORD_ACL: &str = "p@ss:w/rd%#?é";
/// A database only the throwaway servers have, with a space in its name.
pub(crate) const ENV_DB: &str = "env db";
/// A `PostgreSQL` socket directory under the server's temporary directory.
const SOCKET_DIR_WITH_SPACE: &str = "sock dir";

/// A program the matrix needs, found on `PATH` or in Debian's versioned directory.
pub(crate) fn program(name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| {
            dirs.flatten()
                .map(|d| d.path().join("bin").join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    // Daemons such as mariadbd live in /usr/sbin, which an ordinary user's PATH may lack.
    on_path
        .into_iter()
        .chain(debian)
        .chain([Path::new("/usr/sbin").join(name)])
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("the probe matrix needs `{name}` (scripts/test.sh installs it)"))
}

/// A loopback port nothing listens on right now, for a server a test starts itself — the one
/// port allocator of both test crates that compile this file: the probe matrices here and the
/// CLI test binary, where `common::free_port` is this function, so that binary's own servers
/// and its matrix servers draw from one counter and never get the same port.
///
/// Not `bind(0)`: that hands out a port from the kernel's ephemeral range (32768–60999 here),
/// from which every outgoing connection of every concurrent test also takes its local port, so
/// between this call and the server's own `bind` the port could be taken ("Address already in
/// use" — seen with nginx's five ports under the full suite, and the reason the matrix servers
/// stopped using it). Ports come from 10000–19999 instead — below the ephemeral range and below
/// `[ports] allocate_range`'s default 20000–29999, where the suggestions the tests re-check
/// point — each handed out once per test process, starting at an offset from the process id so
/// that concurrent test processes rarely meet.
pub(crate) fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 10_000;
    const SPAN: u32 = 10_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7919) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = u16::try_from(FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN)
            .expect("ports below 20000 fit in u16");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}..{}", FIRST + SPAN);
}

/// Files for TLS: a CA, a server certificate for `localhost` only, and a client certificate for
/// the role `certuser`.
pub(crate) struct Pki {
    pub(crate) ca: PathBuf,
    pub(crate) server_cert: PathBuf,
    pub(crate) server_key: PathBuf,
    pub(crate) client_cert: PathBuf,
    pub(crate) client_key: PathBuf,
}

pub(crate) fn pki(dir: &Path) -> Pki {
    let ca_key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let mut ca_params =
        CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "matrix CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .unwrap_or_else(|e| panic!("{e}"));
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |names: &[&str], cn: &str| {
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap_or_else(|e| panic!("{e}"));
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params
            .signed_by(&key, &issuer)
            .unwrap_or_else(|e| panic!("{e}"));
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(&["localhost"], "localhost");
    let (client_cert, client_key) = leaf(&[], "certuser");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        path
    };
    let pki = Pki {
        ca: write("ca.crt", &ca_cert.pem()),
        server_cert: write("server.crt", &server_cert),
        server_key: write("server.key", &server_key),
        client_cert: write("client.crt", &client_cert),
        client_key: write("client.key", &client_key),
    };
    for key in [&pki.server_key, &pki.client_key] {
        set_mode(key, 0o600);
    }
    pki
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// `PostgreSQL` refuses to run as root; when the tests do, the server runs as `postgres`.
fn as_server_user(program: &Path) -> Command {
    if rustix::process::geteuid().is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn chown_to_server_user(path: &Path) {
    if !rustix::process::geteuid().is_root() {
        return;
    }
    let status = Command::new("chown")
        .args(["-R", "postgres:"])
        .arg(path)
        .status()
        .unwrap_or_else(|e| panic!("chown: {e}"));
    assert!(status.success(), "chown {} failed", path.display());
}

/// An initdb'd cluster with SCRAM, MD5, SSL-only, no-SSL and certificate users.
pub(crate) struct Postgres {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) port: u16,
    pub(crate) pki: Pki,
}

impl Postgres {
    pub(crate) fn start() -> Postgres {
        let initdb = program("initdb");
        let pg_ctl = program("pg_ctl");
        let dir = tempfile::Builder::new()
            .prefix("probe-matrix-pg")
            .tempdir()
            .unwrap_or_else(|e| panic!("{e}"));
        set_mode(dir.path(), 0o755);
        std::fs::create_dir(dir.path().join(SOCKET_DIR_WITH_SPACE))
            .unwrap_or_else(|e| panic!("{e}"));
        let pki = pki(dir.path());
        let data = dir.path().join("data");
        std::fs::write(dir.path().join("pw"), "superpw\n").unwrap_or_else(|e| panic!("{e}"));
        chown_to_server_user(dir.path());
        let out = as_server_user(&initdb)
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--auth=scram-sha-256",
                "--pwfile",
            ])
            .arg(dir.path().join("pw"))
            .stdout(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("initdb: {e}"));
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let hba = "\
local all envuser scram-sha-256
local all all trust
hostssl all certuser 127.0.0.1/32 cert
host all certuser 127.0.0.1/32 reject
host all md5user 127.0.0.1/32 md5
hostnossl all nossluser 127.0.0.1/32 scram-sha-256
host all nossluser 127.0.0.1/32 reject
hostssl all ssluser 127.0.0.1/32 scram-sha-256
host all ssluser 127.0.0.1/32 reject
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
";
        std::fs::write(data.join("pg_hba.conf"), hba).unwrap_or_else(|e| panic!("{e}"));
        let port = free_port();
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}, \"{}\"'\n\
             ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\nssl_ca_file = '{}'\n\
             fsync = off\nshared_buffers = 16MB\nmax_connections = 20\n",
            dir.path().display(),
            dir.path().join(SOCKET_DIR_WITH_SPACE).display(),
            pki.server_cert.display(),
            pki.server_key.display(),
            pki.ca.display()
        );
        let mut existing =
            std::fs::read_to_string(data.join("postgresql.conf")).unwrap_or_default();
        existing.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), existing).unwrap_or_else(|e| panic!("{e}"));
        chown_to_server_user(dir.path());
        let out = as_server_user(&pg_ctl)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("log"))
            .args(["-w", "-t", "30", "start"])
            .stdout(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("pg_ctl: {e}"));
        let server = Postgres { dir, port, pki };
        assert!(
            out.status.success(),
            "pg_ctl start: {} {}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(server.dir.path().join("log")).unwrap_or_default()
        );
        server.sql(
            "SET password_encryption = 'md5';
             CREATE ROLE md5user LOGIN PASSWORD 'md5pw';
             SET password_encryption = 'scram-sha-256';
             CREATE ROLE scramuser LOGIN PASSWORD 'scrampw';
             CREATE ROLE nossluser LOGIN PASSWORD 'plainpw';
             CREATE ROLE ssluser LOGIN PASSWORD 'tlspw';
             CREATE ROLE certuser LOGIN;
             CREATE ROLE prepuser LOGIN PASSWORD 'pa\u{00AD}ss\u{2168}';",
        );
        server.sql(&format!(
            "CREATE ROLE {ENV_USER} LOGIN PASSWORD '{ENV_PASSWORD}'"
        ));
        server.sql("CREATE DATABASE app");
        server.sql(&format!("CREATE DATABASE \"{ENV_DB}\" OWNER {ENV_USER}"));
        server
    }

    pub(crate) fn socket_dir(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// The second socket directory, whose name has a space (so a URL must encode it).
    pub(crate) fn spaced_socket_dir(&self) -> String {
        self.dir
            .path()
            .join(SOCKET_DIR_WITH_SPACE)
            .display()
            .to_string()
    }

    /// Runs SQL as the superuser over the Unix socket.
    pub(crate) fn sql(&self, sql: &str) {
        let out = Command::new(program("psql"))
            .args(["-X", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.socket_dir())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                sql,
            ])
            .env_clear()
            .output()
            .unwrap_or_else(|e| panic!("psql: {e}"));
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_server_user(&program("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A redis-server with an ACL file (a user without `+select`, a default user without a
/// password) on a plain and a TLS port.
pub(crate) struct Redis {
    child: std::process::Child,
    pub(crate) port: u16,
    pub(crate) tls_port: u16,
    _dir: tempfile::TempDir,
    pub(crate) pki: Pki,
}

impl Redis {
    pub(crate) fn start() -> Redis {
        Redis::start_with("no")
    }

    /// A server whose TLS port asks for client certificates as `--tls-auth-clients` says
    /// (`yes`, `optional` or `no`).
    pub(crate) fn start_with(auth_clients: &str) -> Redis {
        Redis::start_tls(auth_clients, &[])
    }

    /// A server whose TLS port is configured further by `tls_args` (`--tls-protocols`,
    /// `--tls-ciphers`, …: OpenSSL's names).
    pub(crate) fn start_tls(auth_clients: &str, tls_args: &[&str]) -> Redis {
        let server = program("redis-server");
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let pki = pki(dir.path());
        let acl = dir.path().join("users.acl");
        std::fs::write(
            &acl,
            format!(
                "user default on nopass ~* &* +@all\nuser noselect on >pw1 ~* &* +@all -select\n\
                 user {ENV_USER} on >{ENV_PASSWORD_ACL} ~* &* +@all\n"
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let (port, tls_port) = (free_port(), free_port());
        let child = Command::new(server)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args([
                "--port",
                &port.to_string(),
                "--tls-port",
                &tls_port.to_string(),
            ])
            .arg("--aclfile")
            .arg(&acl)
            .arg("--tls-cert-file")
            .arg(&pki.server_cert)
            .arg("--tls-key-file")
            .arg(&pki.server_key)
            .arg("--tls-ca-cert-file")
            .arg(&pki.ca)
            .args(tls_args)
            .args(["--tls-auth-clients", auth_clients, "--dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("redis-server: {e}"));
        let redis = Redis {
            child,
            port,
            tls_port,
            _dir: dir,
            pki,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start on port {port}");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `mariadbd` on 127.0.0.1 and a Unix socket, stopped (killed) when dropped.
pub(crate) struct Mariadb {
    child: Child,
    dir: tempfile::TempDir,
    pub(crate) port: u16,
    pub(crate) pki: Pki,
}

impl Mariadb {
    pub(crate) fn start() -> Mariadb {
        let dir = tempfile::Builder::new()
            .prefix("probe-matrix-mdb")
            .tempdir()
            .unwrap_or_else(|e| panic!("{e}"));
        let pki = pki(dir.path());
        let data = dir.path().join("data");
        // mariadbd refuses to run as root unless told to; as anyone else it runs as itself.
        let as_root = rustix::process::geteuid().is_root();
        let mut install = Command::new(program("mariadb-install-db"));
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
        if as_root {
            install.arg("--user=root");
        }
        let out = install
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("mariadb-install-db: {e}"));
        assert!(
            out.status.success(),
            "mariadb-install-db: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let mut server = Command::new(program("mariadbd"));
        server
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--port={port}"))
            .args(["--bind-address=127.0.0.1", "--skip-name-resolve"])
            .arg(format!("--socket={}", dir.path().join("sock").display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!(
                "--log-error={}",
                dir.path().join("err.log").display()
            ))
            .args(["--innodb-buffer-pool-size=16M", "--max-connections=20"])
            .arg(format!("--ssl-cert={}", pki.server_cert.display()))
            .arg(format!("--ssl-key={}", pki.server_key.display()))
            .arg(format!("--ssl-ca={}", pki.ca.display()));
        if as_root {
            server.arg("--user=root");
        }
        let child = server
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("mariadbd: {e}"));
        let mut db = Mariadb {
            child,
            dir,
            port,
            pki,
        };
        // InnoDB recovery on a loaded machine takes seconds; 60 s is the bound.
        for _ in 0..600 {
            if db.sql("SELECT 1").is_ok() {
                break;
            }
            if let Ok(Some(status)) = db.child.try_wait() {
                panic!("mariadbd exited ({status}): {}", db.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        db.sql(
            "INSTALL SONAME 'auth_ed25519';
             CREATE DATABASE app;
             CREATE USER native@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('nativepw');
             CREATE USER ed@'%' IDENTIFIED VIA ed25519 USING PASSWORD('ed pw, longer than 32 bytes é');
             CREATE USER nopw@'%';
             CREATE USER ssluser@'%' IDENTIFIED BY 'sslpw' REQUIRE SSL;
             CREATE USER x509user@'%' IDENTIFIED BY 'x509pw' REQUIRE X509;
             GRANT ALL ON *.* TO native@'%', ed@'%', nopw@'%', ssluser@'%', x509user@'%';",
        )
        .and_then(|()| {
            db.sql(&format!(
                "CREATE DATABASE `{ENV_DB}`;
                 CREATE USER {ENV_USER}@'%' IDENTIFIED BY '{ENV_PASSWORD}';
                 CREATE USER {ENV_USER}@'localhost' IDENTIFIED BY '{ENV_PASSWORD}';
                 GRANT ALL ON `{ENV_DB}`.* TO {ENV_USER}@'%', {ENV_USER}@'localhost';"
            ))
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", db.log()));
        db
    }

    pub(crate) fn socket(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("err.log")).unwrap_or_default()
    }

    /// Runs SQL as root over the Unix socket.
    pub(crate) fn sql(&self, sql: &str) -> Result<(), String> {
        let out = Command::new(program("mariadb"))
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .args(["-uroot", "-e", sql])
            .env_clear()
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("mariadb: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
