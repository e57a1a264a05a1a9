//! `startup.database_connections`: every database and broker the app is configured to use
//! answers a real protocol round trip with the app's own URL and credentials.
//!
//! URLs come from the app's environment (process, then `.env`): `DATABASE_URL` and
//! `*_DATABASE_URL`, `POSTGRES_URL`, `MYSQL_URL`, `MARIADB_URL`, `REDIS_URL`, `AMQP_URL`,
//! `RABBITMQ_URL`, `NATS_URL`, `MQTT_URL` (and `*_REDIS_URL` …), libpq's `PGHOST`/`PGPORT`/
//! `PGUSER`/`PGPASSWORD`/`PGDATABASE`, `POSTGRES_HOST`… and `MYSQL_HOST`… groups; and from
//! `[[databases]]` in devops-agent.toml. Passwords never leave this module unredacted.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

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
    "BROKER_URL",
];
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
fn targets(ctx: &GateCtx) -> (Vec<(String, String)>, Vec<Finding>) {
    let env = &ctx.project.env;
    let mut found: Vec<(String, String)> = Vec::new();
    let mut problems = Vec::new();
    let mut names: Vec<String> = env.pairs().map(|(k, _)| k.to_owned()).collect();
    names.sort();
    names.dedup();
    for name in &names {
        let upper = name.to_ascii_uppercase();
        if (URL_VARS.contains(&upper.as_str()) || URL_SUFFIXES.iter().any(|s| upper.ends_with(s)))
            && let Some(value) = env.get(name).filter(|v| !v.trim().is_empty())
        {
            found.push((name.clone(), value));
        }
    }
    for (prefix, scheme, host, port, user, password, database) in [
        (
            "libpq PG*",
            "postgres",
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGPASSWORD",
            "PGDATABASE",
        ),
        (
            "POSTGRES_*",
            "postgres",
            "POSTGRES_HOST",
            "POSTGRES_PORT",
            "POSTGRES_USER",
            "POSTGRES_PASSWORD",
            "POSTGRES_DB",
        ),
        (
            "MYSQL_*",
            "mysql",
            "MYSQL_HOST",
            "MYSQL_PORT",
            "MYSQL_USER",
            "MYSQL_PASSWORD",
            "MYSQL_DATABASE",
        ),
    ] {
        // Without a host these are an image's initialisation variables, not a client's.
        let Some(h) = env.get(host).filter(|h| !h.is_empty()) else {
            continue;
        };
        let enc = |v: Option<String>| v.map(|v| percent_encode(&v)).unwrap_or_default();
        let userinfo = match (env.get(user), env.get(password)) {
            (Some(u), Some(p)) => format!("{}:{}@", enc(Some(u)), enc(Some(p))),
            (Some(u), None) => format!("{}@", enc(Some(u))),
            _ => String::new(),
        };
        let port = env.get(port).map(|p| format!(":{p}")).unwrap_or_default();
        let db = env
            .get(database)
            .map(|d| format!("/{}", enc(Some(d))))
            .unwrap_or_default();
        let host = if h.contains(':') { format!("[{h}]") } else { h };
        found.push((
            prefix.to_owned(),
            format!("{scheme}://{userinfo}{host}{port}{db}"),
        ));
    }
    for db in &ctx.project.config.databases {
        let lookup = |name: &str| env.get(name);
        match crate::interp::interpolate(&db.url, &lookup) {
            Ok(url) => found.push((format!("devops-agent.toml [[databases]] {}", db.name), url)),
            Err(e) => problems.push(Finding::new(
                Severity::Error,
                format!("[[databases]] {}: {e}", db.name),
            )),
        }
    }
    (found, problems)
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

pub(crate) async fn check(ctx: &GateCtx) -> CheckResult {
    let started = Instant::now();
    let (targets, mut findings) = targets(ctx);
    let redactor = ctx.project.env.redactor();
    // The same server named twice (DATABASE_URL and PG*) is probed once.
    let mut unique: BTreeMap<String, (Vec<String>, DbUrl)> = BTreeMap::new();
    for (source, url) in targets {
        match DbUrl::parse(&url) {
            Ok(parsed) => {
                unique
                    .entry(parsed.redacted())
                    .or_insert_with(|| (Vec::new(), parsed))
                    .0
                    .push(source);
            }
            Err(e) => findings.push(Finding::new(
                Severity::Error,
                format!("{source}: not a connection URL ({})", redactor.redact(&e)),
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
        if !outcome.ok {
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
        (
            Status::Failed,
            format!(
                "{failed} of {probed} connection(s) failed: {}",
                findings
                    .iter()
                    .map(|f| f.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
    } else {
        let kinds: Vec<&str> = outcomes.iter().map(|(_, _, o)| kind_name(o.kind)).collect();
        let mut message = format!(
            "{probed} connection(s) answered a protocol round trip ({})",
            kinds.join(", ")
        );
        if !tcp_only.is_empty() {
            let _ = write!(
                message,
                "; TCP only, no protocol known: {}",
                tcp_only.join(", ")
            );
        }
        (Status::Passed, message)
    };
    let mut result = CheckResult::new(CheckId::StartupDatabaseConnections, status, message)
        .with_findings(findings)
        .evidence("connections", evidence);
    result.duration = started.elapsed();
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
