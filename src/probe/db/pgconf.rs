//! `PostgreSQL` connection strings read the way libpq reads them: URIs
//! (`postgresql://u:p@h1:5432,h2:5433/db?sslmode=require`) and keyword/value strings
//! (`host=/var/run/postgresql port=5433 dbname=app`), with Unix-socket directories as hosts,
//! several hosts with one port each (or one port for all), every documented keyword checked and
//! its value validated, and unknown keywords refused with libpq's own words.
//!
//! Hand-written because the protocol crate's parser (`tokio_postgres::Config::from_str`) knows
//! only part of libpq's keywords: it refuses `sslmode=verify-full`, `sslmode=allow`,
//! `sslrootcert`, `sslcert` and `sslkey`, which psql accepts and apps use. This module decides
//! what libpq would connect to; `postgres.rs` hands each attempt to tokio-postgres, which speaks
//! the protocol (`SASLprep`, SCRAM-SHA-256-PLUS, channel binding).

use std::collections::BTreeMap;

/// libpq's keywords (`PostgreSQL` 17's `PQconndefaults`), all accepted in a connection string.
const LIBPQ_KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "require_auth",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "sslmode",
    "requiressl",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslkeylogfile",
    "sslpassword",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "service",
    "target_session_attrs",
    "load_balance_hosts",
];

/// Query parameters that are not libpq's but that the app's own driver reads and removes before
/// connecting (Prisma, node-postgres, asyncpg, `SQLAlchemy`, pgx). libpq would refuse them, but the
/// app does not hand them to libpq, so refusing them here would be a false failure.
const DRIVER_PARAMS: &[&str] = &[
    "schema",
    "connection_limit",
    "pool_timeout",
    "pgbouncer",
    "socket_timeout",
    "statement_cache_size",
    "sslaccept",
    "sslidentity",
    "ssl",
    "pool_max_conns",
    "pool_min_conns",
    "prepared_statement_cache_size",
    "statement_timeout",
    "search_path",
];

/// One place to try: a host name, IP address or Unix-socket directory, and its port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PgHost {
    /// As written; a leading `/` (or `@`, Linux's abstract namespace) means a socket directory.
    pub(super) host: String,
    /// `hostaddr`: the IP address to connect to instead of resolving `host`.
    pub(super) hostaddr: Option<String>,
    pub(super) port: u16,
}

impl PgHost {
    /// True for a Unix-domain socket directory.
    pub(super) fn is_socket(&self) -> bool {
        self.hostaddr.is_none() && (self.host.starts_with('/') || self.host.starts_with('@'))
    }

    /// The socket file libpq opens for a socket directory.
    pub(super) fn socket_path(&self) -> String {
        format!("{}/.s.PGSQL.{}", self.host.trim_end_matches('/'), self.port)
    }
}

/// A connection string as libpq understands it.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct PgConf {
    pub(super) hosts: Vec<PgHost>,
    pub(super) user: Option<String>,
    pub(super) password: Option<String>,
    pub(super) dbname: Option<String>,
    /// Every other libpq keyword given, validated; never `password`, `host`, `hostaddr`, `port`.
    pub(super) params: BTreeMap<String, String>,
    /// Driver-only parameters (see [`DRIVER_PARAMS`]) that were set aside.
    pub(super) driver_params: Vec<String>,
}

impl std::fmt::Debug for PgConf {
    // Hand-written so that `{:?}` cannot show the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConf")
            .field("hosts", &self.hosts)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// Why a connection string is not one libpq would accept. The texts are libpq's own, so a
/// user sees what psql would tell them; none repeats the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PgConfError {
    /// A URI without `://`.
    #[error("not a URL: expected postgresql://host[:port]")]
    NotAUrl,
    /// A URI whose scheme is not `postgres`/`postgresql` (with an optional `+driver`).
    #[error("not a PostgreSQL URI (scheme {scheme:?})")]
    Scheme {
        /// The scheme as written.
        scheme: String,
    },
    /// A URI query parameter that is neither libpq's nor a known driver's.
    #[error("invalid URI query parameter: \"{key}\"")]
    UnknownParameter {
        /// The parameter, percent-decoded.
        key: String,
    },
    /// A keyword/value string's keyword that libpq does not know.
    #[error("invalid connection option \"{key}\"")]
    UnknownKeyword {
        /// The keyword as written.
        key: String,
    },
    /// A URI query parameter without `=`.
    #[error("missing key/value separator \"=\" in URI query parameter: \"{pair}\"")]
    QuerySeparator {
        /// The parameter as written.
        pair: String,
    },
    /// A keyword/value string's keyword without `=`.
    #[error("missing \"=\" after \"{key}\" in connection info string")]
    KeywordSeparator {
        /// The keyword as written.
        key: String,
    },
    /// A `'` quoted value that never ends.
    #[error("unterminated quoted string in connection info string")]
    UnterminatedQuote,
    /// `[` without `]`.
    #[error("unterminated IPv6 host address (missing ']')")]
    UnterminatedIpv6,
    /// Something other than `:port` after `[v6]`.
    #[error("unexpected character {after:?} after IPv6 host address")]
    AfterIpv6 {
        /// What follows the `]`.
        after: String,
    },
    /// An IPv6 address without brackets.
    #[error("IPv6 host addresses must be written in brackets, e.g. [::1]:5432")]
    UnbracketedIpv6,
    /// `hostaddr` has a different number of entries than `host`.
    #[error("could not match {hosts} host names to {hostaddrs} hostaddr values")]
    HostaddrCount {
        /// Entries in `host`.
        hosts: usize,
        /// Entries in `hostaddr`.
        hostaddrs: usize,
    },
    /// `port` has neither one entry nor one per host.
    #[error("could not match {ports} port numbers to {hosts} hosts")]
    PortCount {
        /// Entries in `port`.
        ports: usize,
        /// Hosts to pair them with.
        hosts: usize,
    },
    /// A port that is not a number in 1–65535.
    #[error("invalid port number: \"{port}\"")]
    Port {
        /// The port as written.
        port: String,
    },
    /// A `hostaddr` entry that is not an IP address.
    #[error("could not parse network address \"{addr}\"")]
    Hostaddr {
        /// The entry as written.
        addr: String,
    },
    /// A keyword whose value is not one of those libpq allows.
    #[error("invalid {key} value: \"{value}\"")]
    Value {
        /// The keyword.
        key: String,
        /// The value given.
        value: String,
    },
    /// A keyword that takes an integer, given something else.
    #[error("invalid integer value \"{value}\" for connection option \"{key}\"")]
    Integer {
        /// The keyword.
        key: String,
        /// The value given.
        value: String,
    },
    /// `channel_binding=require` with `sslmode=disable`, which psql refuses after connecting.
    #[error(
        "channel binding required, but SSL not in use (channel_binding=require with sslmode=disable)"
    )]
    ChannelBindingWithoutSsl,
    /// `sslnegotiation=direct` with an `sslmode` that allows plain text.
    #[error(
        "weak sslmode \"{sslmode}\" may not be used with sslnegotiation=direct (use \"require\", \"verify-ca\", or \"verify-full\")"
    )]
    WeakSslmodeForDirect {
        /// The `sslmode` in effect (`prefer` when none is given, libpq's default).
        sslmode: String,
    },
    /// A `%` not followed by two hex digits.
    #[error("invalid percent-encoded token in URI")]
    PercentToken,
    /// `%00`, which libpq refuses.
    #[error("forbidden value %00 in percent-encoded value")]
    PercentNul,
    /// Bytes that are not UTF-8 once percent-decoded.
    #[error("URI part is not valid UTF-8 once percent-decoded")]
    NotUtf8,
}

/// Where libpq looks for the server's socket when no host is given (Debian's build; upstream's
/// is `/tmp`, used when the Debian directory does not exist).
pub(super) fn default_socket_dir() -> String {
    if std::path::Path::new("/var/run/postgresql").is_dir() {
        "/var/run/postgresql".to_owned()
    } else {
        "/tmp".to_owned()
    }
}

/// True when `text` is a keyword/value connection string rather than a URI.
pub(super) fn is_keyword_value(text: &str) -> bool {
    let t = text.trim_start();
    !t.contains("://") && t.split_whitespace().next().is_some_and(|w| w.contains('='))
}

/// Parses a `postgres://`/`postgresql://` URI (the scheme may carry a `+driver` suffix) or a
/// keyword/value string. Error messages never repeat the password.
pub(super) fn parse(text: &str) -> Result<PgConf, PgConfError> {
    let text = text.trim();
    let raw = if is_keyword_value(text) {
        keyword_value(text)?
    } else {
        uri(text)?
    };
    build(raw)
}

/// What was written, before the hosts and ports are paired.
#[derive(Default)]
struct Raw {
    /// In order; a later keyword replaces an earlier one, as in libpq.
    values: BTreeMap<String, String>,
    driver_params: Vec<String>,
}

impl Raw {
    fn set(&mut self, key: &str, value: String, uri: bool) -> Result<(), PgConfError> {
        if LIBPQ_KEYWORDS.contains(&key) {
            self.values.insert(key.to_owned(), value);
            Ok(())
        } else if uri && DRIVER_PARAMS.contains(&key) {
            self.driver_params.push(key.to_owned());
            Ok(())
        } else if uri {
            Err(PgConfError::UnknownParameter {
                key: key.to_owned(),
            })
        } else {
            Err(PgConfError::UnknownKeyword {
                key: key.to_owned(),
            })
        }
    }
}

fn uri(text: &str) -> Result<Raw, PgConfError> {
    let (scheme, rest) = text.split_once("://").ok_or(PgConfError::NotAUrl)?;
    let base = scheme.split('+').next().unwrap_or(scheme);
    if !matches!(
        base.to_ascii_lowercase().as_str(),
        "postgres" | "postgresql"
    ) {
        return Err(PgConfError::Scheme {
            scheme: scheme.to_owned(),
        });
    }
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = before_query.split_once('/').unwrap_or((before_query, ""));
    let mut raw = Raw::default();
    let (userinfo, hostspec) = match authority.rsplit_once('@') {
        Some((ui, hs)) => (Some(ui), hs),
        None => (None, authority),
    };
    if let Some(ui) = userinfo {
        let (u, p) = ui.split_once(':').map_or((ui, None), |(u, p)| (u, Some(p)));
        if !u.is_empty() {
            raw.set("user", decode(u)?, true)?;
        }
        if let Some(p) = p {
            raw.set("password", decode(p)?, true)?;
        }
    }
    if !hostspec.is_empty() {
        let mut hosts = Vec::new();
        let mut ports = Vec::new();
        for part in hostspec.split(',') {
            let (h, p) = split_host_port(part)?;
            hosts.push(h);
            ports.push(p.unwrap_or_default());
        }
        raw.set("host", hosts.join(","), true)?;
        if ports.iter().any(|p| !p.is_empty()) {
            raw.set("port", ports.join(","), true)?;
        }
    }
    if !path.is_empty() {
        raw.set("dbname", decode(path)?, true)?;
    }
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| PgConfError::QuerySeparator {
                pair: pair.to_owned(),
            })?;
        let k = decode(k)?;
        // libpq accepts `ssl=true` as JDBC's spelling of sslmode=require.
        if k == "ssl" && v == "true" {
            raw.set("sslmode", "require".to_owned(), true)?;
            continue;
        }
        raw.set(&k, decode(v)?, true)?;
    }
    Ok(raw)
}

/// `host[:port]` or `[v6][:port]`, percent-decoded (`%2Fvar%2Frun%2Fpostgresql` is a socket
/// directory).
fn split_host_port(spec: &str) -> Result<(String, Option<String>), PgConfError> {
    if let Some(rest) = spec.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or(PgConfError::UnterminatedIpv6)?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| PgConfError::AfterIpv6 {
                        after: p.to_owned(),
                    })?
                    .to_owned(),
            ),
        };
        return Ok((h.to_owned(), port));
    }
    match spec.rsplit_once(':') {
        Some((h, _)) if h.contains(':') => Err(PgConfError::UnbracketedIpv6),
        Some((h, p)) => Ok((decode(h)?, Some(p.to_owned()))),
        None => Ok((decode(spec)?, None)),
    }
}

fn keyword_value(text: &str) -> Result<Raw, PgConfError> {
    let mut raw = Raw::default();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(raw);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(PgConfError::KeywordSeparator { key });
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(PgConfError::UnterminatedQuote);
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        raw.set(&key, value, false)?;
    }
}

fn build(raw: Raw) -> Result<PgConf, PgConfError> {
    let mut values = raw.values;
    let password = values.remove("password").filter(|p| !p.is_empty());
    let host = values.remove("host").unwrap_or_default();
    let hostaddr = values.remove("hostaddr").unwrap_or_default();
    let port = values.remove("port").unwrap_or_default();
    let hosts = pair_hosts(&host, &hostaddr, &port)?;
    validate(&mut values)?;
    let user = values.remove("user").filter(|u| !u.is_empty());
    let dbname = values.remove("dbname").filter(|d| !d.is_empty());
    Ok(PgConf {
        hosts,
        user,
        password,
        dbname,
        params: values,
        driver_params: raw.driver_params,
    })
}

/// libpq's pairing: N hosts with N ports or with one port for all; an empty entry is the
/// default (the socket directory, port 5432).
fn pair_hosts(host: &str, hostaddr: &str, port: &str) -> Result<Vec<PgHost>, PgConfError> {
    let hosts: Vec<&str> = host.split(',').collect();
    let addrs: Vec<&str> = if hostaddr.is_empty() {
        Vec::new()
    } else {
        hostaddr.split(',').collect()
    };
    let n = if host.is_empty() && !addrs.is_empty() {
        addrs.len()
    } else {
        hosts.len()
    };
    if !addrs.is_empty() && addrs.len() != n {
        return Err(PgConfError::HostaddrCount {
            hosts: n,
            hostaddrs: addrs.len(),
        });
    }
    let ports: Vec<&str> = port.split(',').collect();
    if ports.len() != 1 && ports.len() != n {
        return Err(PgConfError::PortCount {
            ports: ports.len(),
            hosts: n,
        });
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let p = if ports.len() == 1 {
            ports.first()
        } else {
            ports.get(i)
        }
        .copied()
        .unwrap_or_default()
        .trim();
        let port = if p.is_empty() {
            5432
        } else {
            match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(PgConfError::Port { port: p.to_owned() }),
            }
        };
        let addr = addrs
            .get(i)
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty());
        if let Some(a) = &addr
            && a.parse::<std::net::IpAddr>().is_err()
        {
            return Err(PgConfError::Hostaddr { addr: a.clone() });
        }
        let mut h = hosts.get(i).copied().unwrap_or_default().trim().to_owned();
        if h.is_empty() {
            h = match &addr {
                Some(a) => a.clone(),
                None => default_socket_dir(),
            };
        }
        out.push(PgHost {
            host: h,
            hostaddr: addr,
            port,
        });
    }
    Ok(out)
}

/// libpq's checks of keyword values, with its messages.
fn validate(values: &mut BTreeMap<String, String>) -> Result<(), PgConfError> {
    if values.remove("requiressl").as_deref() == Some("1") {
        values
            .entry("sslmode".to_owned())
            .or_insert_with(|| "require".to_owned());
    }
    let one_of = |key: &str, allowed: &[&str]| -> Result<(), PgConfError> {
        match values.get(key) {
            Some(v) if !allowed.contains(&v.as_str()) => Err(PgConfError::Value {
                key: key.to_owned(),
                value: v.clone(),
            }),
            _ => Ok(()),
        }
    };
    one_of(
        "sslmode",
        &[
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ],
    )?;
    one_of("channel_binding", &["disable", "prefer", "require"])?;
    one_of(
        "target_session_attrs",
        &[
            "any",
            "read-write",
            "read-only",
            "primary",
            "standby",
            "prefer-standby",
        ],
    )?;
    one_of("gssencmode", &["disable", "prefer", "require"])?;
    one_of("sslnegotiation", &["postgres", "direct"])?;
    one_of("load_balance_hosts", &["disable", "random"])?;
    one_of("sslcertmode", &["disable", "allow", "require"])?;
    one_of(
        "replication",
        &[
            "true", "on", "yes", "1", "false", "off", "no", "0", "database",
        ],
    )?;
    for key in [
        "connect_timeout",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
    ] {
        if let Some(v) = values.get(key)
            && v.trim().parse::<i64>().is_err()
        {
            return Err(PgConfError::Integer {
                key: key.to_owned(),
                value: v.clone(),
            });
        }
    }
    for key in ["ssl_min_protocol_version", "ssl_max_protocol_version"] {
        if let Some(v) = values.get(key)
            && !matches!(v.as_str(), "" | "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3")
        {
            return Err(PgConfError::Value {
                key: key.to_owned(),
                value: v.clone(),
            });
        }
    }
    if values.get("channel_binding").map(String::as_str) == Some("require")
        && values.get("sslmode").map(String::as_str) == Some("disable")
    {
        // psql connects and then refuses: "channel binding required, but SSL not in use".
        return Err(PgConfError::ChannelBindingWithoutSsl);
    }
    if values.get("sslnegotiation").map(String::as_str) == Some("direct") {
        let sslmode = values.get("sslmode").map_or("prefer", String::as_str);
        if matches!(sslmode, "disable" | "allow" | "prefer") {
            return Err(PgConfError::WeakSslmodeForDirect {
                sslmode: sslmode.to_owned(),
            });
        }
    }
    Ok(())
}

/// Percent-decodes; a `%` not followed by two hex digits is an error, as in libpq.
fn decode(s: &str) -> Result<String, PgConfError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let v = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(PgConfError::PercentToken)?;
            if v == 0 {
                return Err(PgConfError::PercentNul);
            }
            out.push(v);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| PgConfError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PgConf {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn socket_directories_and_ports() {
        let c = p("postgresql://app@%2Ftmp%2Fpg:55432/shop");
        assert_eq!(c.hosts.len(), 1);
        let h = c
            .hosts
            .first()
            .cloned()
            .unwrap_or_else(|| panic!("no host"));
        assert!(h.is_socket());
        assert_eq!(h.socket_path(), "/tmp/pg/.s.PGSQL.55432");
        let c = p("postgres:///shop?host=/tmp/pg&port=55432");
        assert_eq!(
            c.hosts.first().map(PgHost::socket_path).as_deref(),
            Some("/tmp/pg/.s.PGSQL.55432")
        );
        assert_eq!(c.dbname.as_deref(), Some("shop"));
        let c = p("host=/tmp/pg port=55432 dbname='my db' user=app password='it\\'s'");
        assert!(c.hosts.first().is_some_and(PgHost::is_socket));
        assert_eq!(c.dbname.as_deref(), Some("my db"));
        assert!(
            p("postgres:///db")
                .hosts
                .first()
                .is_some_and(PgHost::is_socket)
        );
    }

    #[test]
    fn several_hosts() {
        let c = p("postgresql://u@a:5432,[::1]:5433,b/db?target_session_attrs=read-write");
        let got: Vec<(String, u16)> = c.hosts.iter().map(|h| (h.host.clone(), h.port)).collect();
        assert_eq!(
            got,
            [("a".into(), 5432), ("::1".into(), 5433), ("b".into(), 5432)]
        );
        let c = p("host=a,b port=6000");
        assert!(c.hosts.iter().all(|h| h.port == 6000));
        assert!(parse("host=a,b,c port=1,2").is_err());
    }

    #[test]
    fn libpq_refuses_what_it_does_not_know() {
        let e = parse("postgres://h/db?sslmod=require").unwrap_err();
        assert_eq!(e.to_string(), "invalid URI query parameter: \"sslmod\"");
        assert_eq!(
            e,
            PgConfError::UnknownParameter {
                key: "sslmod".into()
            }
        );
        let refused = [
            ("host=h bogus=1", "invalid connection option \"bogus\""),
            (
                "postgres://h/db?sslmode=bogus",
                "invalid sslmode value: \"bogus\"",
            ),
            (
                "postgres://h/db?channel_binding=require&sslmode=disable",
                "channel binding required, but SSL not in use (channel_binding=require with sslmode=disable)",
            ),
            (
                "postgres://h/db?connect_timeout=soon",
                "invalid integer value \"soon\" for connection option \"connect_timeout\"",
            ),
            (
                "postgres://h:notaport/db",
                "invalid port number: \"notaport\"",
            ),
            (
                "postgres://::1:5432/db",
                "IPv6 host addresses must be written in brackets, e.g. [::1]:5432",
            ),
            (
                "host=h sslnegotiation=direct sslmode=allow",
                "weak sslmode \"allow\" may not be used with sslnegotiation=direct (use \"require\", \"verify-ca\", or \"verify-full\")",
            ),
            (
                "host=h sslnegotiation=direct",
                "weak sslmode \"prefer\" may not be used with sslnegotiation=direct (use \"require\", \"verify-ca\", or \"verify-full\")",
            ),
            (
                "postgres://u:s3cret%zz@h/db",
                "invalid percent-encoded token in URI",
            ),
        ];
        let wrong: Vec<String> = refused
            .iter()
            .filter_map(|(input, want)| match parse(input) {
                Err(e) if e.to_string() == *want => None,
                other => Some(format!("{input}: want Err({want}), got {other:?}")),
            })
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        // A driver's own parameter is set aside, not refused.
        let c = p("postgresql://u@h/db?schema=public&connection_limit=5");
        assert_eq!(c.driver_params, ["schema", "connection_limit"]);
        // options travel to the server, which judges them.
        let c = p("postgres://h/db?options=-c%20statement_timeout%3Dbogus");
        assert_eq!(
            c.params.get("options").map(String::as_str),
            Some("-c statement_timeout=bogus")
        );
    }

    #[test]
    fn password_never_in_debug() {
        let c = p("postgres://u:s3cret@h/db");
        assert_eq!(c.password.as_deref(), Some("s3cret"));
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
