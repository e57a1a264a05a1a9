//! `startup.database_connections`: every database and broker the app is configured to use
//! answers a real protocol round trip with the app's own URL and credentials.
//!
//! URLs come from the app's environment (process, then `.env`): `DATABASE_URL` and
//! `*_DATABASE_URL`, `POSTGRES_URL`, `MYSQL_URL`, `MARIADB_URL`, `REDIS_URL`, `AMQP_URL`,
//! `RABBITMQ_URL`, `NATS_URL`, `MQTT_URL` (and `*_REDIS_URL` …), Celery's `CELERY_BROKER_URL`
//! and `BROKER_URL` when they name a Redis or AMQP broker, libpq's `PGHOST`/`PGPORT`/
//! `PGUSER`/`PGPASSWORD`/`PGDATABASE`/`PGSSLMODE`/`PGOPTIONS`… (assembled as a keyword/value
//! string, so a socket directory in `PGHOST` stays a socket directory), the
//! `POSTGRES_HOST`/`POSTGRES_SERVER`…, `MYSQL_HOST`…, `REDIS_HOST`…, `DATABASE_HOST`… and
//! `DB_HOST`/`DB_HOSTNAME` + `DB_PORT` + `DB_USER`/`DB_USERNAME` + `DB_PASSWORD` +
//! `DB_NAME`/`DB_DATABASE` groups (every part percent-encoded; the untyped `DATABASE_*`/`DB_*`
//! families by their engine hint `DB_ENGINE`/`DB_CONNECTION`/`DB_DIALECT`/`DB_TYPE`, else port
//! 5432 or 3306); and from `[[databases]]` in devops-agent.toml. Passwords never
//! leave this module unredacted.
//!
//! Unix sockets in the groups: a `PostgreSQL` host starting with `/` is a socket directory (libpq).
//! For `MySQL`, `MYSQL_UNIX_PORT` with `MYSQL_HOST=localhost` (or no host) is the socket, as
//! libmysqlclient and the mysql/mariadb client read it; Laravel's `DB_SOCKET` wins over `DB_HOST`
//! on a `MySQL` connection, as its connector does. A socket path *in* `MYSQL_HOST` (or an
//! untyped `DB_HOST` on `MySQL`) is what Django's `MySQL` backend connects to as a socket, while
//! libmysqlclient, `PyMySQL` and mysql2 take it for a host name and fail ("2005 Unknown server
//! host", checked with the mariadb client): the probe tries the socket, and a connection that
//! answers is a warning naming the clients that would not, never a plain pass. `MySQL` client
//! certificates have no variable convention shared by the drivers (Laravel reads only a CA, as
//! `MYSQL_ATTR_SSL_CA`; Strapi projects use `DATABASE_SSL_CA` as a path in some and as PEM text
//! in others), so they are taken from a URL's `ssl-cert`/`ssl-key` only. The case-by-case
//! agreement with psql, mariadb and redis-cli is `tests/cli/startup_db.rs` (docs/probe-matrix.md).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Serialize;

use crate::check::{CheckId, CheckResult, Finding, Severity, Status};
use crate::gates::GateCtx;
use crate::probe::db::{DbKind, DbOutcome, DbUrl, probe};

/// Variables holding a whole connection URL.
const URL_VARS: &[&str] = &[
    "DATABASE_URL",
    "POSTGRES_URL",
    "POSTGRESQL_URL",
    "PG_URL",
    "MYSQL_URL",
    "MARIADB_URL",
    "REDIS_URL",
    "AMQP_URL",
    "RABBITMQ_URL",
    "CLOUDAMQP_URL",
    "NATS_URL",
    "MQTT_URL",
];
/// Celery's broker settings: probed when they name a broker devops-agent speaks (Redis, AMQP —
/// Kombu's `pyamqp`/`librabbitmq` are AMQP); `sqs://`, `memory://`, `filesystem://` are not
/// servers to probe here.
const BROKER_VARS: &[&str] = &["CELERY_BROKER_URL", "BROKER_URL"];
const BROKER_SCHEMES: &[&str] = &["redis", "rediss", "amqp", "amqps", "pyamqp", "librabbitmq"];
/// Suffixes that mark a variable as a connection URL (`ANALYTICS_DATABASE_URL`, `CACHE_REDIS_URL`).
const URL_SUFFIXES: &[&str] = &[
    "_DATABASE_URL",
    "_DB_URL",
    "_REDIS_URL",
    "_AMQP_URL",
    "_NATS_URL",
    "_MQTT_URL",
];

/// Per-probe deadline.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// `(where it came from, the URL)` for every connection the app is configured with.
fn targets(ctx: &GateCtx) -> (Vec<Target>, Vec<Finding>) {
    let env = &ctx.project.env;
    let mut found: Vec<Target> = Vec::new();
    let mut problems = Vec::new();
    let mut names: Vec<String> = env.pairs().map(|(k, _)| k.to_owned()).collect();
    names.sort();
    names.dedup();
    for name in &names {
        let upper = name.to_ascii_uppercase();
        if (URL_VARS.contains(&upper.as_str()) || URL_SUFFIXES.iter().any(|s| upper.ends_with(s)))
            && let Some(value) = env.get(name).filter(|v| !v.trim().is_empty())
        {
            found.push(Target::plain(name.clone(), value));
        } else if BROKER_VARS.contains(&upper.as_str())
            && let Some(value) = env.get(name)
        {
            // Kombu takes a `;`-separated failover list; the first is the broker it connects to.
            let first = value.split(';').next().unwrap_or("").trim().to_owned();
            let scheme = first
                .split_once("://")
                .map(|(s, _)| s.to_ascii_lowercase())
                .unwrap_or_default();
            if BROKER_SCHEMES.contains(&scheme.as_str()) {
                found.push(Target::plain(name.clone(), first));
            }
        }
    }
    let get = |name: &str| env.get(name).filter(|v| !v.is_empty());
    if let Some(conninfo) = libpq_env(&get) {
        found.push(Target::plain("libpq PG*".to_owned(), conninfo));
    }
    for group in GROUPS.iter().chain(UNTYPED_GROUPS) {
        match group.assemble(&get) {
            Some(Ok(target)) => found.push(target),
            Some(Err(e)) => problems.push(Finding::new(Severity::Error, e.to_string())),
            None => {}
        }
    }
    for db in &ctx.project.config.databases {
        let lookup = |name: &str| env.get(name);
        match crate::interp::interpolate(&db.url, &lookup) {
            Ok(url) => found.push(Target::plain(
                format!("devops-agent.toml [[databases]] {}", db.name),
                url,
            )),
            Err(e) => problems.push(Finding::new(
                Severity::Error,
                format!("[[databases]] {}: {e}", db.name),
            )),
        }
    }
    (found, problems)
}

/// One connection the app is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    /// Where it came from: the variable, the group with the variables it was assembled from,
    /// or the config entry.
    source: String,
    url: String,
    /// What makes a connection that answers still doubtful (a setting only some clients read
    /// the way it was probed): a warning when the probe passes.
    caveat: Option<String>,
}

impl Target {
    fn plain(source: String, url: String) -> Target {
        Target {
            source,
            url,
            caveat: None,
        }
    }
}

/// A family of variables that together describe one server, as an app's settings module reads
/// them (`POSTGRES_HOST` + `POSTGRES_PORT` + …).
struct Group {
    label: &'static str,
    /// The protocol; empty when the family names none and `engine` or the port must say.
    scheme: &'static str,
    /// Variables naming the engine, first found wins (only for an empty `scheme`).
    engine: &'static [&'static str],
    /// Alternatives, first found wins (`POSTGRES_HOST` or `POSTGRES_SERVER`).
    host: &'static [&'static str],
    /// A Unix-socket path used when the host is `localhost` or missing, as libmysql reads
    /// `MYSQL_UNIX_PORT` (`MySQL` only).
    socket: &'static [&'static str],
    /// The socket wins over any host, as Laravel's `DB_SOCKET` does (its `MySQL` connector
    /// builds a `unix_socket=` DSN without the host whenever the socket is set).
    socket_overrides_host: bool,
    port: &'static [&'static str],
    user: &'static [&'static str],
    password: &'static [&'static str],
    database: &'static [&'static str],
}

const GROUPS: &[Group] = &[
    Group {
        label: "POSTGRES_*",
        scheme: "postgres",
        engine: &[],
        host: &["POSTGRES_HOST", "POSTGRES_SERVER"],
        socket: &[],
        socket_overrides_host: false,
        port: &["POSTGRES_PORT"],
        user: &["POSTGRES_USER"],
        password: &["POSTGRES_PASSWORD"],
        database: &["POSTGRES_DB", "POSTGRES_DATABASE"],
    },
    Group {
        label: "MYSQL_*",
        scheme: "mysql",
        engine: &[],
        host: &["MYSQL_HOST"],
        socket: &["MYSQL_UNIX_PORT"],
        socket_overrides_host: false,
        port: &["MYSQL_PORT", "MYSQL_TCP_PORT"],
        user: &["MYSQL_USER"],
        password: &["MYSQL_PASSWORD", "MYSQL_PWD"],
        database: &["MYSQL_DATABASE", "MYSQL_DB"],
    },
    Group {
        label: "REDIS_*",
        scheme: "redis",
        engine: &[],
        host: &["REDIS_HOST"],
        socket: &[],
        socket_overrides_host: false,
        port: &["REDIS_PORT"],
        user: &["REDIS_USER", "REDIS_USERNAME"],
        password: &["REDIS_PASSWORD"],
        database: &["REDIS_DB"],
    },
];

/// The `DATABASE_*` and `DB_*` families name no protocol; each is probed when its engine hint
/// (`DB_ENGINE=django.db.backends.postgresql`, Laravel's `DB_CONNECTION=pgsql`, Sequelize's
/// `DB_DIALECT=mariadb`, `TypeORM`'s `DB_TYPE=postgres`) or its port says which one.
const UNTYPED_GROUPS: &[Group] = &[
    Group {
        label: "DATABASE_*",
        scheme: "",
        engine: &[
            "DATABASE_ENGINE",
            // Strapi's (a knex client name: `postgres`, `pg`, `mysql`, `mysql2`, `sqlite`).
            "DATABASE_CLIENT",
            "DATABASE_CONNECTION",
            "DATABASE_DIALECT",
            "DATABASE_TYPE",
            "DATABASE_DRIVER",
        ],
        host: &["DATABASE_HOST", "DATABASE_HOSTNAME", "DATABASE_SERVER"],
        socket: &[],
        socket_overrides_host: false,
        port: &["DATABASE_PORT"],
        user: &["DATABASE_USER", "DATABASE_USERNAME"],
        password: &["DATABASE_PASSWORD", "DATABASE_PASS"],
        database: &["DATABASE_NAME", "DATABASE_DB", "DATABASE_DATABASE"],
    },
    Group {
        label: "DB_*",
        scheme: "",
        engine: &[
            "DB_ENGINE",
            "DB_CONNECTION",
            "DB_DIALECT",
            "DB_TYPE",
            "DB_DRIVER",
        ],
        host: &["DB_HOST", "DB_HOSTNAME", "DB_SERVER"],
        socket: &["DB_SOCKET"],
        socket_overrides_host: true,
        port: &["DB_PORT"],
        user: &["DB_USER", "DB_USERNAME"],
        password: &["DB_PASSWORD", "DB_PASS"],
        database: &["DB_NAME", "DB_DATABASE"],
    },
];

impl Group {
    fn first<'a>(
        names: &[&'a str],
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Option<(&'a str, String)> {
        names.iter().find_map(|n| get(n).map(|v| (*n, v)))
    }

    /// The URL the group describes (every part percent-encoded) and the source it is reported
    /// under, the group with the variables it was assembled from (`DB_* (DB_HOSTNAME, DB_PORT,
    /// …)`); `None` without a host (then the variables are a container image's initialisation
    /// settings, not a client's) or when nothing says which protocol an untyped family speaks.
    fn assemble(&self, get: &dyn Fn(&str) -> Option<String>) -> Option<Result<Target, GroupError>> {
        let host = Self::first(self.host, get);
        let socket = Self::first(self.socket, get);
        if host.is_none() && socket.is_none() {
            return None;
        }
        let port = Self::first(self.port, get);
        let (scheme, engine_var) = if self.scheme.is_empty() {
            let engine = Self::first(self.engine, get);
            let port = port.as_ref().map_or("", |(_, p)| p.trim());
            let scheme = match &engine {
                Some((_, e)) => engine_scheme(e)?,
                None if port == "5432" => "postgres",
                None if port == "3306" => "mysql",
                None => return None,
            };
            (scheme, engine.map(|(var, _)| var))
        } else {
            (self.scheme, None)
        };
        // Only MySQL clients read these socket variables.
        let socket = socket.filter(|_| scheme == "mysql");
        // libmysql's default host is `localhost`, which with `MYSQL_UNIX_PORT` is that socket.
        let (host_var, host) = match (host, &socket) {
            (Some(found), _) => found,
            (None, Some((var, _))) => (*var, "localhost".to_owned()),
            (None, None) => return None,
        };
        let mut used = vec![host_var];
        used.extend(engine_var);
        let port = match port {
            Some((var, p)) => match p.trim().parse::<u16>() {
                Ok(n) if n > 0 => {
                    used.push(var);
                    format!(":{n}")
                }
                _ => {
                    return Some(Err(GroupError::InvalidPort {
                        group: self.label.to_string(),
                        variable: var.to_string(),
                        port: p.clone(),
                    }));
                }
            },
            None => String::new(),
        };
        let login = Self::first(self.user, get);
        let password = Self::first(self.password, get);
        used.extend(login.as_ref().map(|(var, _)| *var));
        used.extend(password.as_ref().map(|(var, _)| *var));
        let userinfo = match (login.map(|(_, u)| u), password.map(|(_, p)| p)) {
            (Some(u), Some(p)) => format!("{}:{}@", percent_encode(&u), percent_encode(&p)),
            (Some(u), None) => format!("{}@", percent_encode(&u)),
            (None, Some(p)) => format!(":{}@", percent_encode(&p)),
            (None, None) => String::new(),
        };
        let db = match Self::first(self.database, get) {
            Some((var, d)) => {
                used.push(var);
                format!("/{}", percent_encode(&d))
            }
            None => String::new(),
        };
        let host = host.trim();
        let mut query = String::new();
        let mut caveat = None;
        let host = if host.parse::<std::net::Ipv6Addr>().is_ok() {
            format!("[{host}]")
        } else if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            format!("[{v6}]")
        } else if host.starts_with('/') && scheme == "mysql" {
            // Django's MySQL backend connects to a HOST that starts with `/` as a Unix socket;
            // libmysql, PyMySQL and mysql2 resolve it as a host name and fail. The probe tries
            // the socket (what else could the app mean) and says which clients would not.
            query = format!("?socket={}", percent_encode(host));
            caveat = Some(format!(
                "{host_var} is a Unix-socket path: Django's MySQL backend connects through it, as the probe did, but libmysqlclient (mysqlclient, the mysql/mariadb client), PyMySQL and mysql2 take it as a host name and fail (2005 Unknown server host); for those set {host_var}=localhost with MYSQL_UNIX_PORT (libmysql) or pass the path as unix_socket/socketPath"
            ));
            "localhost".to_owned()
        } else if host.starts_with('/') && scheme != "postgres" {
            return Some(Err(GroupError::SocketNotPostgres {
                group: self.label.to_string(),
                variable: host_var.to_string(),
            }));
        } else if let Some((var, path)) =
            socket.filter(|_| host == "localhost" || self.socket_overrides_host)
        {
            if var != host_var {
                used.push(var);
            }
            query = format!("?socket={}", percent_encode(path.trim()));
            "localhost".to_owned()
        } else {
            // Percent-encoded, a socket directory stays a host, not the URL's path.
            percent_encode(host)
        };
        let source = format!("{} ({})", self.label, used.join(", "));
        Some(Ok(Target {
            source,
            url: format!("{scheme}://{userinfo}{host}{port}{db}{query}"),
            caveat,
        }))
    }
}

/// The protocol an engine hint names: Django's `django.db.backends.postgresql`, Laravel's
/// `pgsql`, Sequelize's and `TypeORM`'s `postgres`/`mysql`/`mariadb`; `None` for any other engine
/// (`SQLite` has no server; others have no probe).
fn engine_scheme(engine: &str) -> Option<&'static str> {
    let engine = engine.trim().to_ascii_lowercase();
    if engine.contains("postgres")
        || engine.contains("pgsql")
        || engine.ends_with("psycopg2")
        || engine == "pg"
    {
        Some("postgres")
    } else if engine.contains("mysql") || engine.contains("maria") {
        Some("mysql")
    } else {
        None
    }
}

/// libpq's own environment variables, as a keyword/value connection string (no URL escaping to
/// Why a family of variables (`POSTGRES_*`, `DB_*`) does not make a URL that can be probed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum GroupError {
    #[error("{group} {variable}: invalid port {port:?}")]
    InvalidPort {
        group: String,
        variable: String,
        port: String,
    },
    #[error(
        "{group} {variable}: a Unix-socket path is only probed for PostgreSQL and MySQL (Redis clients take a socket as a unix:// URL)"
    )]
    SocketNotPostgres { group: String, variable: String },
}

/// get wrong). `None` without `PGHOST`/`PGHOSTADDR`: then nothing says libpq is the client.
fn libpq_env(get: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    const VARS: &[(&str, &str)] = &[
        ("PGHOST", "host"),
        ("PGHOSTADDR", "hostaddr"),
        ("PGPORT", "port"),
        ("PGUSER", "user"),
        ("PGPASSWORD", "password"),
        ("PGDATABASE", "dbname"),
        ("PGOPTIONS", "options"),
        ("PGAPPNAME", "application_name"),
        ("PGSSLMODE", "sslmode"),
        ("PGSSLROOTCERT", "sslrootcert"),
        ("PGSSLCERT", "sslcert"),
        ("PGSSLKEY", "sslkey"),
        ("PGCHANNELBINDING", "channel_binding"),
        ("PGCONNECT_TIMEOUT", "connect_timeout"),
        ("PGTARGETSESSIONATTRS", "target_session_attrs"),
        ("PGGSSENCMODE", "gssencmode"),
    ];
    get("PGHOST").or_else(|| get("PGHOSTADDR"))?;
    let mut out = String::new();
    for (var, keyword) in VARS {
        if let Some(value) = get(var) {
            let quoted = value.replace('\\', "\\\\").replace('\'', "\\'");
            let _ = write!(out, "{keyword}='{quoted}' ");
        }
    }
    Some(out.trim_end().to_owned())
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// What `startup.database_connections` measured.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct DatabasesEvidence {
    /// One entry per distinct server probed (the same URL named twice is probed once), sorted
    /// by its redacted URL: the probe's outcome (`url` with the password replaced, `kind`,
    /// `ok`, `protocol_verified` — false when only TCP could be tried —, timings in ms,
    /// `error`, `warning`, `inconclusive` — true when it failed only for want of a TLS version
    /// or cipher suite rustls implements, which the app's OpenSSL-based client may still
    /// negotiate: a warning, not a failure —, …) and `from` (the variables or config entries
    /// that named it).
    pub(crate) connections: Vec<serde_json::Value>,
}

pub(crate) async fn check(ctx: &GateCtx) -> CheckResult {
    let started = Instant::now();
    let (targets, mut findings) = targets(ctx);
    let redactor = ctx.project.env.redactor();
    // The same server named twice (DATABASE_URL and PG*) is probed once.
    let mut unique: BTreeMap<String, (Vec<String>, DbUrl)> = BTreeMap::new();
    let mut caveats: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for Target {
        source,
        url,
        caveat,
    } in targets
    {
        match DbUrl::parse(&url) {
            Ok(parsed) => {
                let key = parsed.redacted();
                if let Some(caveat) = caveat {
                    caveats.entry(key.clone()).or_default().push(caveat);
                }
                unique
                    .entry(key)
                    .or_insert_with(|| (Vec::new(), parsed))
                    .0
                    .push(source);
            }
            Err(e) => findings.push(Finding::new(
                Severity::Error,
                format!(
                    "{source}: not a connection URL ({})",
                    redactor.redact(&e.to_string())
                ),
            )),
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (redacted, (sources, url)) in unique {
        tasks.spawn(async move { (sources, redacted, probe(&url, PROBE_TIMEOUT).await) });
    }
    let mut outcomes: Vec<(Vec<String>, String, DbOutcome)> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok(o) = done {
            outcomes.push(o);
        }
    }
    outcomes.sort_by(|a, b| a.1.cmp(&b.1));

    let mut failed = 0usize;
    let mut tcp_only = Vec::new();
    let mut evidence = Vec::new();
    for (sources, redacted, outcome) in &outcomes {
        if outcome.inconclusive {
            // The app's OpenSSL-based client may negotiate what rustls cannot: not a failure.
            findings.push(Finding::new(
                Severity::Warning,
                format!(
                    "{} ({redacted}): not verified: {}; the app's client (libpq, libmysqlclient and other OpenSSL-based drivers) may still connect",
                    sources.join(", "),
                    redactor.redact(outcome.error.as_deref().unwrap_or("TLS handshake failed"))
                ),
            ));
        } else if !outcome.ok {
            failed += 1;
            findings.push(Finding::new(
                Severity::Error,
                format!(
                    "{} ({redacted}): {}",
                    sources.join(", "),
                    redactor.redact(outcome.error.as_deref().unwrap_or("failed"))
                ),
            ));
        } else if !outcome.protocol_verified {
            tcp_only.push(redacted.clone());
        }
        let doubts = outcome
            .ok
            .then(|| caveats.get(redacted))
            .flatten()
            .into_iter()
            .flatten();
        for warning in outcome.warning.iter().chain(doubts) {
            findings.push(Finding::new(
                Severity::Warning,
                format!("{} ({redacted}): {warning}", sources.join(", ")),
            ));
        }
        let mut value = serde_json::to_value(outcome).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.insert("from".to_owned(), serde_json::json!(sources));
        }
        evidence.push(value);
    }
    let probed = outcomes.len();
    let (status, message) = if probed == 0 && findings.is_empty() {
        let reason = "no database or broker URL in the environment (DATABASE_URL, REDIS_URL, …) or devops-agent.toml [[databases]]".to_owned();
        (
            Status::Skipped {
                reason: reason.clone(),
            },
            reason,
        )
    } else if failed > 0 || findings.iter().any(|f| f.severity == Severity::Error) {
        let head = if failed > 0 {
            format!("{failed} of {probed} connection(s) failed")
        } else {
            "the configured connections cannot be probed".to_owned()
        };
        (
            Status::Failed,
            format!(
                "{head}: {}",
                findings
                    .iter()
                    .map(|f| f.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
    } else {
        let kinds: Vec<&str> = outcomes
            .iter()
            .filter(|(_, _, o)| o.ok)
            .map(|(_, _, o)| kind_name(o.kind))
            .collect();
        let mut message = if kinds.len() == probed {
            format!(
                "{probed} connection(s) answered a protocol round trip ({})",
                kinds.join(", ")
            )
        } else {
            format!(
                "{} of {probed} connection(s) answered a protocol round trip{}; {} could not be verified",
                kinds.len(),
                if kinds.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", kinds.join(", "))
                },
                probed - kinds.len()
            )
        };
        if !tcp_only.is_empty() {
            let _ = write!(
                message,
                "; TCP only, no protocol known: {}",
                tcp_only.join(", ")
            );
        }
        let warnings: Vec<&str> = findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .map(|f| f.message.as_str())
            .collect();
        if warnings.is_empty() {
            (Status::Passed, message)
        } else {
            let _ = write!(message, "; {}", warnings.join("; "));
            (Status::Warning, message)
        }
    };
    let mut result = CheckResult::new(CheckId::StartupDatabaseConnections, status, message)
        .with_findings(findings)
        .with_evidence(&DatabasesEvidence {
            connections: evidence,
        });
    result.duration = started.elapsed();
    result.started = Some(started);
    result
}

fn kind_name(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Postgres => "PostgreSQL SELECT 1",
        DbKind::Mysql => "MySQL SELECT 1",
        DbKind::Redis => "Redis PING",
        DbKind::Amqp => "AMQP open",
        DbKind::Nats => "NATS PING",
        DbKind::Mqtt => "MQTT CONNACK",
        DbKind::Tcp => "TCP connect only",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::db::DbUrl;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn pghost_socket_directory_stays_a_socket() {
        let get = env(&[
            ("PGHOST", "/tmp/sock dir"),
            ("PGPORT", "55432"),
            ("PGUSER", "app"),
            ("PGPASSWORD", "it's \\ secret"),
            ("PGDATABASE", "shop"),
        ]);
        let conninfo = libpq_env(&get).unwrap_or_default();
        let url = DbUrl::parse(&conninfo).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((url.host.as_str(), url.port), ("/tmp/sock dir", 55432));
        assert_eq!(url.password.as_deref(), Some("it's \\ secret"));
        assert_eq!(url.database.as_deref(), Some("shop"));
        assert_eq!(
            url.redacted(),
            "postgres://app:***@%2Ftmp%2Fsock%20dir:55432/shop"
        );
        assert!(libpq_env(&env(&[("PGUSER", "x")])).is_none());
    }

    #[test]
    fn groups_encode_every_part() {
        let get = env(&[
            ("POSTGRES_SERVER", "/var/run/postgresql"),
            ("POSTGRES_PORT", "55432"),
            ("POSTGRES_USER", "a@b"),
            ("POSTGRES_PASSWORD", "p/w:@?#"),
            ("POSTGRES_DB", "my db"),
            ("MYSQL_HOST", "::1"),
            ("MYSQL_PASSWORD", "x@y"),
            ("REDIS_HOST", "cache"),
            ("REDIS_PASSWORD", "pw"),
            ("DATABASE_HOST", "db"),
            ("DATABASE_PORT", "5432"),
            ("DATABASE_NAME", "app"),
        ]);
        let urls: Vec<String> = GROUPS
            .iter()
            .chain(UNTYPED_GROUPS)
            .filter_map(|g| g.assemble(&get))
            .map(|r| r.unwrap_or_else(|e| panic!("{e}")).url)
            .collect();
        let pg =
            DbUrl::parse(urls.first().map_or("", String::as_str)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((pg.host.as_str(), pg.port), ("/var/run/postgresql", 55432));
        assert_eq!(pg.user.as_deref(), Some("a@b"));
        assert_eq!(pg.password.as_deref(), Some("p/w:@?#"));
        assert_eq!(pg.database.as_deref(), Some("my db"));
        let my =
            DbUrl::parse(urls.get(1).map_or("", String::as_str)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (my.host.as_str(), my.password.as_deref()),
            ("::1", Some("x@y"))
        );
        assert_eq!(urls.get(2).map(String::as_str), Some("redis://:pw@cache"));
        assert_eq!(
            urls.get(3).map(String::as_str),
            Some("postgres://db:5432/app")
        );
        let bad = env(&[("POSTGRES_HOST", "db"), ("POSTGRES_PORT", "five")]);
        assert!(
            GROUPS
                .first()
                .and_then(|g| g.assemble(&bad))
                .is_some_and(|r| r.is_err())
        );
        // Without a host the variables are an image's initialisation settings.
        let init = env(&[("POSTGRES_PASSWORD", "x"), ("POSTGRES_DB", "app")]);
        assert!(GROUPS.first().and_then(|g| g.assemble(&init)).is_none());
    }

    /// What one group assembles from `pairs`: (source, URL), or the error, or nothing.
    fn untyped(pairs: &[(&str, &str)]) -> Vec<Result<(String, String), GroupError>> {
        let get = env(pairs);
        UNTYPED_GROUPS
            .iter()
            .filter_map(|g| g.assemble(&get))
            .map(|r| r.map(|t| (t.source, t.url)))
            .collect()
    }

    #[test]
    fn mysql_sockets_as_libmysql_and_django_read_them() {
        let mysql = |pairs: &[(&str, &str)]| {
            GROUPS
                .get(1)
                .and_then(|g| g.assemble(&env(pairs)))
                .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        };
        // libmysql: host `localhost` (or none) with MYSQL_UNIX_PORT is that socket.
        let t = mysql(&[
            ("MYSQL_HOST", "localhost"),
            ("MYSQL_UNIX_PORT", "/run/my sql/s.sock"),
            ("MYSQL_USER", "app"),
        ]);
        assert_eq!(
            t.as_ref().map(|t| (t.url.as_str(), t.caveat.is_some())),
            Some((
                "mysql://app@localhost?socket=%2Frun%2Fmy%20sql%2Fs.sock",
                false
            ))
        );
        let url =
            DbUrl::parse(&t.map(|t| t.url).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            url.params.get("socket").map(String::as_str),
            Some("/run/my sql/s.sock")
        );
        let t = mysql(&[("MYSQL_UNIX_PORT", "/s.sock"), ("MYSQL_PWD", "p")]);
        assert_eq!(
            t.map(|t| (t.source, t.url)),
            Some((
                "MYSQL_* (MYSQL_UNIX_PORT, MYSQL_PWD)".to_owned(),
                "mysql://:p@localhost?socket=%2Fs.sock".to_owned()
            ))
        );
        // Another host: libmysql connects over TCP and ignores the socket.
        let t = mysql(&[("MYSQL_HOST", "db"), ("MYSQL_UNIX_PORT", "/s.sock")]);
        assert_eq!(t.map(|t| t.url), Some("mysql://db".to_owned()));
        // A path as the host: probed as a socket, with the caveat that only Django reads it so.
        let t = mysql(&[("MYSQL_HOST", "/s.sock"), ("MYSQL_PORT", "3307")]);
        assert_eq!(
            t.as_ref().map(|t| t.url.as_str()),
            Some("mysql://localhost:3307?socket=%2Fs.sock")
        );
        assert!(t.and_then(|t| t.caveat).is_some_and(|c| {
            c.contains("MYSQL_HOST is a Unix-socket path") && c.contains("PyMySQL")
        }));
        // Laravel's DB_SOCKET wins over DB_HOST, for MySQL only.
        let laravel = untyped(&[
            ("DB_CONNECTION", "mysql"),
            ("DB_HOST", "127.0.0.1"),
            ("DB_PORT", "3306"),
            ("DB_SOCKET", "/s.sock"),
        ]);
        assert_eq!(
            laravel,
            [Ok((
                "DB_* (DB_HOST, DB_CONNECTION, DB_PORT, DB_SOCKET)".to_owned(),
                "mysql://localhost:3306?socket=%2Fs.sock".to_owned()
            ))]
        );
        let pgsql = untyped(&[
            ("DB_CONNECTION", "pgsql"),
            ("DB_HOST", "db"),
            ("DB_SOCKET", "/s.sock"),
        ]);
        assert_eq!(
            pgsql,
            [Ok((
                "DB_* (DB_HOST, DB_CONNECTION)".to_owned(),
                "postgres://db".to_owned()
            ))]
        );
        assert!(untyped(&[("DB_CONNECTION", "pgsql"), ("DB_SOCKET", "/s.sock")]).is_empty());
        // Redis clients take a socket as a unix:// URL, never as REDIS_HOST.
        let redis = GROUPS
            .get(2)
            .and_then(|g| g.assemble(&env(&[("REDIS_HOST", "/r.sock")])));
        assert!(redis.is_some_and(|r| r.is_err()));
    }

    #[test]
    fn db_family_is_probed_by_its_engine_hint_or_port() {
        let django = untyped(&[
            ("DB_ENGINE", "django.db.backends.postgresql"),
            ("DB_HOSTNAME", "db"),
            ("DB_USERNAME", "app"),
            ("DB_PASSWORD", "s3cret"),
            ("DB_NAME", "shop"),
        ]);
        assert_eq!(
            django,
            [Ok((
                "DB_* (DB_HOSTNAME, DB_ENGINE, DB_USERNAME, DB_PASSWORD, DB_NAME)".to_owned(),
                "postgres://app:s3cret@db/shop".to_owned()
            ))]
        );
        let laravel = untyped(&[
            ("DB_CONNECTION", "pgsql"),
            ("DB_HOST", "127.0.0.1"),
            ("DB_PORT", "6543"),
            ("DB_DATABASE", "app"),
        ]);
        assert_eq!(
            laravel.first().cloned().map(|r| r.map(|t| t.1)),
            Some(Ok("postgres://127.0.0.1:6543/app".to_owned()))
        );
        let strapi = untyped(&[
            ("DATABASE_CLIENT", "pg"),
            ("DATABASE_HOST", "db"),
            ("DATABASE_PORT", "6543"),
        ]);
        assert_eq!(
            strapi.first().cloned().map(|r| r.map(|t| t.1)),
            Some(Ok("postgres://db:6543".to_owned()))
        );
        let sequelize = untyped(&[("DB_DIALECT", "mariadb"), ("DB_HOST", "db")]);
        assert_eq!(
            sequelize.first().cloned().map(|r| r.map(|t| t.1)),
            Some(Ok("mysql://db".to_owned()))
        );
        // The port says it when nothing else does; an engine without a probe is left alone.
        let by_port = untyped(&[("DB_HOST", "db"), ("DB_PORT", "3306")]);
        assert_eq!(
            by_port.first().cloned().map(|r| r.map(|t| t.1)),
            Some(Ok("mysql://db:3306".to_owned()))
        );
        assert!(
            untyped(&[
                ("DB_ENGINE", "django.db.backends.sqlite3"),
                ("DB_HOST", "x")
            ])
            .is_empty()
        );
        assert!(untyped(&[("DB_HOST", "db"), ("DB_USER", "app")]).is_empty());
        let bad = untyped(&[
            ("DB_HOST", "db"),
            ("DB_CONNECTION", "mysql"),
            ("DB_PORT", "x"),
        ]);
        let want = GroupError::InvalidPort {
            group: "DB_*".into(),
            variable: "DB_PORT".into(),
            port: "x".into(),
        };
        assert_eq!(want.to_string(), "DB_* DB_PORT: invalid port \"x\"");
        assert_eq!(bad, [Err(want)]);
    }
}
