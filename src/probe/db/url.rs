//! Parsing of database and broker connection URLs into what a probe needs: protocol, address,
//! credentials, database/vhost and TLS mode. Also the one place that knows how to print such a
//! URL without its secrets.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::net::Ipv6Addr;

use super::pgconf::{self, PgConf, PgConfError};

/// What protocol a URL speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DbKind {
    Postgres,
    Mysql,
    Redis,
    Amqp,
    Nats,
    Mqtt,
    /// Any other scheme: only a TCP connect is possible.
    Tcp,
}

impl DbKind {
    /// The protocol's name as people write it, for messages.
    pub fn protocol_name(self) -> &'static str {
        match self {
            Self::Postgres => "PostgreSQL",
            Self::Mysql => "MySQL",
            Self::Redis => "Redis",
            Self::Amqp => "AMQP 0-9-1",
            Self::Nats => "NATS",
            Self::Mqtt => "MQTT",
            Self::Tcp => "TCP",
        }
    }
}

/// Whether and how to use TLS, with `PostgreSQL` `sslmode` semantics.
///
/// `Prefer` and `Require` encrypt without checking the certificate (as libpq and `MySQL`'s
/// `PREFERRED`/`REQUIRED` do); `VerifyCa` checks the chain; `VerifyFull` checks the chain and
/// the host name. TLS-only schemes (`rediss`, `amqps`, `mqtts`, `tls`) map to `VerifyFull`,
/// because the clients of those protocols verify by default; `?ssl_cert_reqs=none` (redis-py's
/// spelling) or `?sslmode=require` relaxes that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    Disable,
    /// libpq's `allow`: plain first, TLS only if the server refuses the plain connection.
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl TlsMode {
    /// True when a connection without TLS must be refused.
    pub fn required(self) -> bool {
        matches!(self, Self::Require | Self::VerifyCa | Self::VerifyFull)
    }

    /// Reads a `PostgreSQL` `sslmode` or `MySQL` `ssl-mode` value (either spelling, any case).
    pub fn from_param(value: &str) -> Option<Self> {
        match value.to_ascii_lowercase().replace('_', "-").as_str() {
            "disable" | "disabled" | "false" | "0" | "off" => Some(Self::Disable),
            "allow" => Some(Self::Allow),
            "prefer" | "preferred" => Some(Self::Prefer),
            "require" | "required" | "skip-verify" => Some(Self::Require),
            "verify-ca" => Some(Self::VerifyCa),
            "verify-full" | "verify-identity" | "true" | "1" | "on" => Some(Self::VerifyFull),
            _ => None,
        }
    }
}

/// Why a connection URL cannot be probed. No text repeats the URL, which may hold a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbUrlError {
    /// A `PostgreSQL` connection string libpq would refuse; the text is libpq's.
    #[error(transparent)]
    Postgres(#[from] PgConfError),
    /// No `://`.
    #[error("not a URL: expected scheme://host[:port]")]
    NotAUrl,
    /// An empty scheme or one with characters a scheme cannot have.
    #[error("not a URL: invalid scheme")]
    InvalidScheme,
    /// A TLS parameter whose value is not a known mode.
    #[error("unknown TLS mode {key}={value:?}")]
    TlsMode {
        /// The parameter (`sslmode`, `ssl-mode`, `tls`, `ssl_cert_reqs`, …).
        key: String,
        /// The value given.
        value: String,
    },
    /// A comma-separated host list for a protocol whose clients take one host.
    #[error("several hosts ({hosts}) are not supported for {}; probe each one", .kind.protocol_name())]
    SeveralHosts {
        /// The hosts as written.
        hosts: String,
        /// The protocol.
        kind: DbKind,
    },
    /// A Redis database that is not an index.
    #[error("Redis database must be a number, not {database:?}")]
    RedisDatabase {
        /// The database as written.
        database: String,
    },
    /// A scheme this tool knows no default port for, and no port.
    #[error("scheme {scheme:?} has no default port; give host:port")]
    NoPort {
        /// The scheme, lower-cased.
        scheme: String,
    },
    /// A `PostgreSQL` connection string that names no host.
    #[error("no host in the connection string")]
    NoHost,
    /// `[` without `]`.
    #[error("unterminated IPv6 address (missing ']')")]
    UnterminatedIpv6,
    /// Brackets around something that is not an IPv6 address.
    #[error("invalid IPv6 address [{address}]")]
    Ipv6 {
        /// What is between the brackets.
        address: String,
    },
    /// Something other than `:port` after `[v6]`.
    #[error("unexpected {after:?} after [{address}]")]
    AfterIpv6 {
        /// The address.
        address: String,
        /// What follows the `]`.
        after: String,
    },
    /// An IPv6 address without brackets.
    #[error("IPv6 addresses must be written in brackets, e.g. [::1]:5432")]
    UnbracketedIpv6,
    /// A port that is not a number in 1–65535.
    #[error("invalid port {port:?}")]
    Port {
        /// The port as written.
        port: String,
    },
    /// Bytes that are not UTF-8 once percent-decoded.
    #[error("URL part is not valid UTF-8 once percent-decoded")]
    NotUtf8,
}

/// A URL parsed for probing. `Display`/`redacted()` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl {
    pub kind: DbKind,
    /// The scheme as written, lower-cased (`postgresql`, `rediss`, …).
    pub scheme: String,
    /// Host name or IP address; IPv6 without brackets.
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    /// Database name (`PostgreSQL`, `MySQL`), index (Redis) or virtual host (AMQP); percent-decoded.
    pub database: Option<String>,
    pub tls: TlsMode,
    /// Query parameters, percent-decoded; a `password` parameter is moved to `password`.
    pub params: BTreeMap<String, String>,
    /// `PostgreSQL` only: the connection string as libpq reads it (every host to try, in order).
    pub(super) pg: Option<PgConf>,
}

impl fmt::Debug for DbUrl {
    // Hand-written so that `{:?}` cannot leak the password either.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbUrl")
            .field("kind", &self.kind)
            .field("url", &self.redacted())
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl DbUrl {
    /// Parses `scheme://[user[:password]@]host[:port][/database][?key=value&…]`.
    ///
    /// Error messages never repeat the URL, which may hold a password.
    pub fn parse(url: &str) -> Result<DbUrl, DbUrlError> {
        let url = url.trim();
        if pgconf::is_keyword_value(url) {
            return Self::postgres("postgres".to_owned(), pgconf::parse(url)?);
        }
        let (scheme, rest) = url.split_once("://").ok_or(DbUrlError::NotAUrl)?;
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return Err(DbUrlError::InvalidScheme);
        }
        let scheme = scheme.to_ascii_lowercase();
        let (kind, default_port, tls_scheme) = scheme_info(&scheme);
        if kind == DbKind::Postgres {
            return Self::postgres(scheme, pgconf::parse(url)?);
        }

        // The fragment is never part of what a client sends.
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((ui, hp)) => (Some(ui), hp),
            None => (None, authority),
        };
        let (user, mut password) = match userinfo {
            Some(ui) => {
                let (u, p) = ui.split_once(':').map_or((ui, None), |(u, p)| (u, Some(p)));
                (
                    non_empty(decode(u)?),
                    p.map(decode).transpose()?.and_then(non_empty),
                )
            }
            None => (None, None),
        };
        let (mut host, port) = split_host_port(hostport)?;

        let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
        let path = path.strip_prefix('/').unwrap_or(path);
        let mut database = non_empty(decode(path)?);
        let mut params = BTreeMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            params.insert(decode(k)?, decode(v)?);
        }
        // A password never stays in `params`, so nothing that prints them can leak it.
        if let Some(p) = params.remove("password") {
            password = non_empty(p);
        }

        let mut tls = if tls_scheme {
            TlsMode::VerifyFull
        } else {
            match kind {
                // The libpq and MySQL client defaults.
                DbKind::Postgres | DbKind::Mysql => TlsMode::Prefer,
                _ => TlsMode::Disable,
            }
        };
        if kind == DbKind::Redis
            && let Some(db) = params.get("db")
        {
            database = non_empty(db.clone());
        }
        for key in ["sslmode", "ssl-mode", "ssl_mode", "tls", "ssl"] {
            if let Some(v) = params.get(key) {
                tls = TlsMode::from_param(v).ok_or_else(|| DbUrlError::TlsMode {
                    key: key.to_owned(),
                    value: v.clone(),
                })?;
            }
        }
        if tls_scheme {
            // redis-py's spelling of whether to verify; TLS itself is implied by the scheme.
            match params
                .get("ssl_cert_reqs")
                .map(|v| v.to_ascii_lowercase())
                .as_deref()
            {
                Some("none" | "optional") => tls = TlsMode::Require,
                Some("required") | None => {}
                Some(other) => {
                    return Err(DbUrlError::TlsMode {
                        key: "ssl_cert_reqs".to_owned(),
                        value: other.to_owned(),
                    });
                }
            }
            // A TLS-only scheme never means "no TLS", whatever a parameter says.
            if matches!(tls, TlsMode::Disable | TlsMode::Allow) {
                tls = TlsMode::Require;
            }
        }

        if host.is_empty() {
            "localhost".clone_into(&mut host);
        }
        if host.contains(',') {
            return Err(DbUrlError::SeveralHosts { hosts: host, kind });
        }
        if kind == DbKind::Redis
            && let Some(db) = &database
            && db.parse::<u32>().is_err()
        {
            return Err(DbUrlError::RedisDatabase {
                database: db.clone(),
            });
        }
        let Some(port) = port.or(default_port) else {
            return Err(DbUrlError::NoPort { scheme });
        };
        Ok(DbUrl {
            kind,
            scheme,
            host,
            port,
            user,
            password,
            database,
            tls,
            params,
            pg: None,
        })
    }

    /// A `PostgreSQL` connection string read by [`pgconf`]; `host`/`port` are the first host's.
    fn postgres(scheme: String, conf: PgConf) -> Result<DbUrl, DbUrlError> {
        let first = conf.hosts.first().cloned().ok_or(DbUrlError::NoHost)?;
        let mut tls = match conf.params.get("sslmode") {
            Some(mode) => TlsMode::from_param(mode).ok_or_else(|| PgConfError::Value {
                key: "sslmode".to_owned(),
                value: mode.clone(),
            })?,
            None => TlsMode::Prefer,
        };
        // libpq: with a root certificate named, `require` checks the chain as `verify-ca` does.
        if tls == TlsMode::Require
            && conf
                .params
                .get("sslrootcert")
                .is_some_and(|f| f != "system")
        {
            tls = TlsMode::VerifyCa;
        }
        Ok(DbUrl {
            kind: DbKind::Postgres,
            scheme,
            host: first.host,
            port: first.port,
            user: conf.user.clone(),
            password: conf.password.clone(),
            database: conf.dbname.clone(),
            tls,
            params: conf.params.clone(),
            pg: Some(conf),
        })
    }

    /// The URL with the password (and any secret-looking parameter) replaced by `***`.
    pub fn redacted(&self) -> String {
        let mut out = format!("{}://", self.scheme);
        match (&self.user, &self.password) {
            // A NATS URL's lone user part is a token, which is a secret.
            (Some(_), None) if self.kind == DbKind::Nats => out.push_str("***@"),
            (Some(u), None) => {
                out.push_str(&encode(u));
                out.push('@');
            }
            (Some(u), Some(_)) => {
                out.push_str(&encode(u));
                out.push_str(":***@");
            }
            (None, Some(_)) => out.push_str(":***@"),
            (None, None) => {}
        }
        let hosts: Vec<(&str, u16)> = match &self.pg {
            Some(pg) => pg.hosts.iter().map(|h| (h.host.as_str(), h.port)).collect(),
            None => vec![(self.host.as_str(), self.port)],
        };
        for (i, (host, port)) in hosts.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            if host.contains(':') && !host.starts_with('/') {
                out.push('[');
                out.push_str(host);
                out.push(']');
            } else {
                out.push_str(&encode(host));
            }
            out.push(':');
            out.push_str(&port.to_string());
        }
        if let Some(db) = &self.database {
            out.push('/');
            out.push_str(&encode(db));
        }
        let mut sep = '?';
        for (k, v) in &self.params {
            let lower = k.to_ascii_lowercase();
            let secret = ["pass", "secret", "token", "key", "auth"]
                .iter()
                .any(|s| lower.contains(s));
            out.push(sep);
            out.push_str(&encode(k));
            out.push('=');
            out.push_str(if secret { "***" } else { v });
            sep = '&';
        }
        out
    }
}

/// Protocol, default port and whether TLS is implied, for a lower-cased scheme.
fn scheme_info(scheme: &str) -> (DbKind, Option<u16>, bool) {
    // SQLAlchemy-style `postgresql+asyncpg` names a driver, not a different protocol.
    let base = match scheme.split_once('+') {
        Some((b, _)) if scheme != "nats+tls" => b,
        _ => scheme,
    };
    match base {
        "postgres" | "postgresql" => (DbKind::Postgres, Some(5432), false),
        "mysql" | "mariadb" => (DbKind::Mysql, Some(3306), false),
        "redis" => (DbKind::Redis, Some(6379), false),
        "rediss" => (DbKind::Redis, Some(6379), true),
        // Kombu's (Celery's) names for its AMQP transports.
        "amqp" | "pyamqp" | "librabbitmq" => (DbKind::Amqp, Some(5672), false),
        "amqps" => (DbKind::Amqp, Some(5671), true),
        "nats" => (DbKind::Nats, Some(4222), false),
        "tls" | "nats+tls" => (DbKind::Nats, Some(4222), true),
        "mqtt" => (DbKind::Mqtt, Some(1883), false),
        "mqtts" => (DbKind::Mqtt, Some(8883), true),
        _ => (DbKind::Tcp, None, false),
    }
}

/// Splits `host[:port]` or `[v6][:port]`; the host comes back percent-decoded.
fn split_host_port(s: &str) -> Result<(String, Option<u16>), DbUrlError> {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or(DbUrlError::UnterminatedIpv6)?;
        h.parse::<Ipv6Addr>().map_err(|_| DbUrlError::Ipv6 {
            address: h.to_owned(),
        })?;
        let port = match after {
            "" | ":" => None,
            p => Some(parse_port(p.strip_prefix(':').ok_or_else(|| {
                DbUrlError::AfterIpv6 {
                    address: h.to_owned(),
                    after: p.to_owned(),
                }
            })?)?),
        };
        return Ok((h.to_owned(), port));
    }
    let (h, port) = match s.rsplit_once(':') {
        Some((h, "")) => (h, None),
        Some((h, p)) => (h, Some(parse_port(p)?)),
        None => (s, None),
    };
    if h.contains(':') {
        return Err(DbUrlError::UnbracketedIpv6);
    }
    Ok((decode(h)?, port))
}

fn parse_port(p: &str) -> Result<u16, DbUrlError> {
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(DbUrlError::Port { port: p.to_owned() }),
        Ok(n) => Ok(n),
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Percent-decodes; a `%` not followed by two hex digits is kept as written.
fn decode(s: &str) -> Result<String, DbUrlError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        if let (b'%', Some(v)) = (b, hex) {
            out.push(v);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| DbUrlError::NotUtf8)
}

/// Percent-encodes what would change the meaning of a URL part.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'!' | b'$')
        {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> DbUrl {
        DbUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn postgres_full_url() {
        let u = p(
            "postgresql://app:p%40ss%3Aw0rd@db.example:6543/my%20db?sslmode=verify-full&connect_timeout=3",
        );
        assert_eq!(u.kind, DbKind::Postgres);
        assert_eq!((u.host.as_str(), u.port), ("db.example", 6543));
        assert_eq!(u.user.as_deref(), Some("app"));
        assert_eq!(u.password.as_deref(), Some("p@ss:w0rd"));
        assert_eq!(u.database.as_deref(), Some("my db"));
        assert_eq!(u.tls, TlsMode::VerifyFull);
        assert_eq!(
            u.params.get("connect_timeout").map(String::as_str),
            Some("3")
        );
        let r = u.redacted();
        assert!(!r.contains("p@ss") && !r.contains("w0rd"), "{r}");
        assert_eq!(
            r,
            "postgresql://app:***@db.example:6543/my%20db?connect_timeout=3&sslmode=verify-full"
        );
        assert_eq!(format!("{u}"), r);
        assert!(!format!("{u:?}").contains("w0rd"));
    }

    #[test]
    fn postgres_defaults_and_query_overrides() {
        let u = p("postgres://localhost");
        assert_eq!(
            (u.port, u.tls, u.user.clone(), u.database.clone()),
            (5432, TlsMode::Prefer, None, None)
        );
        let u = p(
            "postgres:///?host=127.0.0.1&port=5433&user=bob&password=s3cret&dbname=shop&sslmode=disable",
        );
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 5433));
        assert_eq!(u.user.as_deref(), Some("bob"));
        assert_eq!(u.password.as_deref(), Some("s3cret"));
        assert_eq!(u.database.as_deref(), Some("shop"));
        assert_eq!(u.tls, TlsMode::Disable);
        assert!(!u.params.contains_key("password"));
        assert!(!u.redacted().contains("s3cret"));
        assert_eq!(p("postgresql+asyncpg://h/db").kind, DbKind::Postgres);
        assert!(DbUrl::parse("postgres://h/db?sslmode=bogus").is_err());
    }

    #[test]
    fn ipv6_and_ports() {
        let u = p("mysql://root@[::1]:3307/test");
        assert_eq!(
            (u.host.as_str(), u.port, u.kind),
            ("::1", 3307, DbKind::Mysql)
        );
        assert_eq!(u.redacted(), "mysql://root@[::1]:3307/test");
        assert_eq!(p("mariadb://[::1]").port, 3306);
        assert!(DbUrl::parse("mysql://::1:3306").is_err());
        assert!(DbUrl::parse("mysql://[::1").is_err());
        assert!(DbUrl::parse("mysql://h:99999").is_err());
        assert!(DbUrl::parse("mysql://h:0").is_err());
        assert!(DbUrl::parse("h:5432").is_err());
        let u = p("postgres://%2Fvar%2Frun%2Fpostgresql:55432/db");
        assert_eq!((u.host.as_str(), u.port), ("/var/run/postgresql", 55432));
        assert_eq!(
            u.redacted(),
            "postgres://%2Fvar%2Frun%2Fpostgresql:55432/db"
        );
        let u = p("postgres://u:pw@a:1,[::1]:2/db");
        assert_eq!(u.redacted(), "postgres://u:***@a:1,[::1]:2/db");
        assert!(DbUrl::parse("redis://a:1,b:2/0").is_err());
        let u = p("host=/tmp/s port=5433 user=u password=pw dbname=d");
        assert_eq!(u.redacted(), "postgres://u:***@%2Ftmp%2Fs:5433/d");
        assert_eq!(p("postgres://h/d?sslmode=allow").tls, TlsMode::Allow);
    }

    #[test]
    fn redis_forms() {
        let u = p("redis://:hunter2@cache/2");
        assert_eq!(
            (u.user.clone(), u.password.as_deref(), u.database.as_deref()),
            (None, Some("hunter2"), Some("2"))
        );
        assert_eq!(u.redacted(), "redis://:***@cache:6379/2");
        let u = p("redis://alice:hunter2@cache");
        assert_eq!(
            (u.user.as_deref(), u.password.as_deref()),
            (Some("alice"), Some("hunter2"))
        );
        let u = p("rediss://cache:6380");
        assert_eq!((u.tls, u.port), (TlsMode::VerifyFull, 6380));
        assert_eq!(p("rediss://cache?ssl_cert_reqs=none").tls, TlsMode::Require);
        assert_eq!(p("rediss://cache?sslmode=disable").tls, TlsMode::Require);
        assert_eq!(p("redis://cache?ssl_cert_reqs=none").tls, TlsMode::Disable);
        assert_eq!(
            p("mysql://h/db?ssl-mode=VERIFY_IDENTITY").tls,
            TlsMode::VerifyFull
        );
        assert_eq!(p("mysql://h/db?tls=skip-verify").tls, TlsMode::Require);
        assert!(DbUrl::parse("redis://cache/abc").is_err());
        assert_eq!(p("redis://cache?db=3").database.as_deref(), Some("3"));
    }

    #[test]
    fn brokers_and_other_schemes() {
        let u = p("amqp://guest:guest@localhost/%2f");
        assert_eq!(
            (u.kind, u.port, u.database.as_deref()),
            (DbKind::Amqp, 5672, Some("/"))
        );
        assert_eq!(u.redacted(), "amqp://guest:***@localhost:5672/%2F");
        assert_eq!(p("amqps://h").port, 5671);
        assert_eq!(p("nats://h").port, 4222);
        let u = p("tls://s3cr3ttoken@h");
        assert_eq!((u.kind, u.tls), (DbKind::Nats, TlsMode::VerifyFull));
        assert_eq!(u.redacted(), "tls://***@h:4222");
        assert_eq!(p("nats+tls://h").tls, TlsMode::VerifyFull);
        assert_eq!((p("mqtt://h").port, p("mqtts://h").port), (1883, 8883));
        let u = p("tcp://h:9000");
        assert_eq!((u.kind, u.port), (DbKind::Tcp, 9000));
        assert_eq!(
            p("http://h:8080/x?api_key=abc").redacted(),
            "http://h:8080/x?api_key=***"
        );
        assert_eq!(
            DbUrl::parse("http://h"),
            Err(DbUrlError::NoPort {
                scheme: "http".into()
            })
        );
        assert_eq!(DbUrl::parse("://h"), Err(DbUrlError::InvalidScheme));
    }

    #[test]
    fn malformed_input_never_panics() {
        for s in [
            "",
            "://",
            "a://",
            "a://@",
            "a://[",
            "a://[]:",
            "x://%",
            "x://%zz:1",
            "x://h:1/%ff",
            "x://h:1/é%",
            "x://@:1",
            "redis://:@h",
        ] {
            let _ = DbUrl::parse(s);
        }
        assert_eq!(p("x://%zz:1").host, "%zz");
        assert_eq!(p("redis://:@h").password, None);
        assert!(DbUrl::parse("x://h:1/%ff").is_err());
    }
}
