//! Keeping secrets out of everything devops-agent writes.
//!
//! A [`Redactor`] replaces two kinds of secret wherever they appear:
//!
//! * **Known values**, learnt from the run: values of secret-looking variables in the process
//!   environment, every secret-looking or random-looking value in `.env` and in the
//!   configuration's `environment` tables, and the password of any URL among them. Each value is
//!   also looked for URL-encoded, JSON-escaped and HTML-escaped, and a *fragment* of it is
//!   replaced too: any 6 or more characters that begin or end the value (what truncating an
//!   excerpt or wrapping a line leaves) and any 10 or more from its middle.
//! * **Patterns** that are secrets whoever wrote them: URL userinfo (`user:password@`, a
//!   token used as the user name), `Authorization`/`X-Api-Key`/`Cookie`-style header values,
//!   `Bearer` tokens, and `*_KEY|TOKEN|SECRET|PASSWORD=value` assignments (also
//!   `--password=value` and `--password value`).
//!
//! One process-wide redactor ([`install`], [`current`]) sits in front of every writer in
//! `crate::report`: the report in each format, the event stream, the history and the log lines
//! on stderr all pass through it, so a new message or output cannot forget it. Gates may still
//! redact early (captured output is redacted as it is kept) — that is a second line, not the
//! mechanism.
//!
//! Hand-written rather than regex-based: the patterns need context (the scheme word after
//! `Authorization:`, the quote a header value sits in) that is clearer as a small scanner, and
//! the crate has no regex dependency.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

/// Names whose values are treated as secrets (matched case-insensitively as substrings).
const SECRET_NAME_PARTS: &[&str] = &[
    "SECRET",
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "PASS",
    "KEY",
    "CREDENTIAL",
    "PRIVATE",
    "AUTH",
    "COOKIE",
    "JWT",
    "SIGNATURE",
    "DATABASE_URL",
    "DSN",
];

/// Names that match [`SECRET_NAME_PARTS`] but are not secrets: `PWD` is the working
/// directory, `*AUTHOR*` a person's name, `*_SOCK` a socket path.
fn is_exempt_name(upper: &str) -> bool {
    matches!(upper, "PWD" | "OLDPWD") || upper.contains("AUTHOR") || upper.ends_with("_SOCK")
}

/// Values shorter than this are not redacted on their own: `1`, `true` or `dev` would blank
/// out unrelated text.
const MIN_SECRET_LEN: usize = 6;
/// The window a fragment is recognised by.
const WINDOW: usize = 6;
/// A fragment from the middle of a secret is replaced from this length on; shorter ones only
/// when they begin or end the secret (a middle fragment of 6 is too often an ordinary word).
const MIN_MIDDLE_FRAGMENT: usize = 10;
/// What a known secret becomes.
const REPLACEMENT: &str = "[redacted]";
/// What a pattern-matched secret (a URL password, a header value) becomes.
const MASK: &str = "***";

/// Replaces known secret values and secret-shaped text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Known values and their encodings, longest first.
    secrets: Vec<String>,
    /// Every [`WINDOW`]-byte window of every known value long enough to have one.
    windows: HashSet<[u8; WINDOW]>,
}

impl Redactor {
    /// Build from `(name, value)` pairs of the process environment: values of secret-looking
    /// names are remembered, and so is the password part of any URL value.
    pub fn new<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Redactor {
        let mut r = Redactor::default();
        r.learn_env(vars);
        r
    }

    /// Learn values from the process environment: by name only (a random-looking value of a
    /// variable like `INVOCATION_ID` is not a secret, and guessing would blank out paths).
    pub fn learn_env<'a>(&mut self, vars: impl IntoIterator<Item = (&'a str, &'a str)>) {
        for (name, value) in vars {
            self.learn_pair(name, value, false);
        }
        self.finish();
    }

    /// Learn values the project itself defines (`.env`, `[services.X.environment]`, build
    /// `env`): by name, and any value that looks random (a token under an innocent name).
    pub fn learn_project<'a>(&mut self, vars: impl IntoIterator<Item = (&'a str, &'a str)>) {
        for (name, value) in vars {
            self.learn_pair(name, value, true);
        }
        self.finish();
    }

    /// Learn one value known to be secret.
    pub fn learn_secret(&mut self, value: &str) {
        self.push_secret(value);
        self.finish();
    }

    /// Every known value of `other` is known here too.
    pub fn merge(&mut self, other: &Redactor) {
        self.secrets.extend(other.secrets.iter().cloned());
        self.windows.extend(other.windows.iter().copied());
        self.finish();
    }

    fn learn_pair(&mut self, name: &str, value: &str, guess: bool) {
        let value = value.trim();
        let upper = name.to_ascii_uppercase();
        let by_name =
            !is_exempt_name(&upper) && SECRET_NAME_PARTS.iter().any(|p| upper.contains(p));
        if value.contains("://") {
            // A URL: its password, a token used as its user name, and secret query values are
            // secrets; host, port and path are what messages need to show.
            for part in url_secrets(value) {
                self.push_secret(part);
            }
            return;
        }
        if (by_name || guess && looks_random(value)) && value.len() >= MIN_SECRET_LEN {
            self.push_secret(value);
        }
    }

    /// Remember `value`, its encodings and its windows.
    fn push_secret(&mut self, value: &str) {
        if value.len() < 3 {
            return;
        }
        for variant in variants(value) {
            if variant.len() >= WINDOW {
                for w in variant.as_bytes().windows(WINDOW) {
                    let mut key = [0u8; WINDOW];
                    key.copy_from_slice(w);
                    self.windows.insert(key);
                }
            }
            self.secrets.push(variant);
        }
    }

    fn finish(&mut self) {
        self.secrets
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        self.secrets.dedup();
    }

    /// The text with every secret pattern masked and every known secret replaced.
    pub fn redact(&self, text: &str) -> String {
        let masked = mask_patterns(text);
        self.replace_known(&masked)
    }

    /// Replace known secrets only — safe on rendered documents (JSON, XML), where the
    /// patterns' idea of where a value ends does not know the document's quoting.
    pub fn replace_known(&self, text: &str) -> String {
        let mut spans = self.fragment_spans(text);
        for secret in &self.secrets {
            if secret.len() >= WINDOW {
                continue; // covered by its windows
            }
            for (at, _) in text.match_indices(secret.as_str()) {
                spans.push((at, at + secret.len()));
            }
        }
        if spans.is_empty() {
            return text.to_owned();
        }
        spans.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut pos = 0;
        for (start, end) in merge(spans) {
            let start = floor_char(text, start.max(pos));
            let end = ceil_char(text, end);
            if start < pos || end <= start {
                continue;
            }
            out.push_str(&text[pos..start]);
            out.push_str(REPLACEMENT);
            pos = end;
        }
        out.push_str(&text[pos..]);
        out
    }

    /// Byte ranges of `text` that are fragments of a known secret.
    fn fragment_spans(&self, text: &str) -> Vec<(usize, usize)> {
        let bytes = text.as_bytes();
        if self.windows.is_empty() || bytes.len() < WINDOW {
            return Vec::new();
        }
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for (i, w) in bytes.windows(WINDOW).enumerate() {
            let mut key = [0u8; WINDOW];
            key.copy_from_slice(w);
            if self.windows.contains(&key) {
                match runs.last_mut() {
                    Some((_, end)) if *end >= i => *end = i + WINDOW,
                    _ => runs.push((i, i + WINDOW)),
                }
            }
        }
        runs.retain(|&(start, end)| {
            let run = &text.as_bytes()[start..end];
            run.len() >= MIN_MIDDLE_FRAGMENT
                || self
                    .secrets
                    .iter()
                    .any(|s| s.as_bytes().starts_with(run) || s.as_bytes().ends_with(run))
        });
        runs
    }

    /// Redact every string (and object key) inside a JSON value.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => {
                let r = self.redact(s);
                if r != *s {
                    *s = r;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => {
                let old = std::mem::take(map);
                for (key, mut v) in old {
                    self.redact_json(&mut v);
                    map.insert(self.redact(&key), v);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// `value` serialized, redacted as JSON and read back; `None` when it does not read back
    /// (a redaction landed on an enum tag) — callers must then not write `value` at all.
    pub fn redact_serde<T>(&self, value: &T) -> Option<T>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        let mut json = serde_json::to_value(value).ok()?;
        self.redact_json(&mut json);
        serde_json::from_value(json).ok()
    }
}

/// The process-wide redactor every writer uses.
static CURRENT: RwLock<Option<Arc<Redactor>>> = RwLock::new(None);

/// Make `redactor` the one every output passes through from now on. It should know at least
/// what the previous one knew ([`Redactor::merge`]).
pub fn install(redactor: Redactor) {
    let mut current = CURRENT
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *current = Some(Arc::new(redactor));
}

/// The redactor installed for this run; until [`install`], one that knows the secret-looking
/// values of the process environment.
pub fn current() -> Arc<Redactor> {
    if let Some(r) = CURRENT
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
    {
        return Arc::clone(r);
    }
    let mut current = CURRENT
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Arc::clone(current.get_or_insert_with(|| Arc::new(from_process_env())))
}

/// A redactor knowing the process environment's secret-looking values.
pub fn from_process_env() -> Redactor {
    let vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    Redactor::new(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// A value that looks generated rather than chosen: long, no spaces, letters and digits mixed,
/// not a path or a version.
fn looks_random(value: &str) -> bool {
    value.len() >= 16
        && !value.contains(char::is_whitespace)
        && !value.starts_with(['/', '.', '~'])
        && value.chars().any(|c| c.is_ascii_digit())
        && value.chars().any(|c| c.is_ascii_alphabetic())
        && value.chars().filter(char::is_ascii_alphanumeric).count() * 4 >= value.len() * 3
}

/// A value and the forms it takes once encoded for a URL, a JSON string or HTML.
fn variants(value: &str) -> Vec<String> {
    let mut out = vec![value.to_owned()];
    for v in [
        percent_encode(value, b"-._~"),
        percent_encode(value, b"-._~!'()*"),
        percent_encode(value, b"-._~").replace("%20", "+"),
        serde_json::to_string(value)
            .map(|s| s[1..s.len() - 1].to_owned())
            .unwrap_or_default(),
        html_escape(value),
    ] {
        if !v.is_empty() && !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

fn percent_encode(value: &str, keep: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn html_escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn merge(spans: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match out.last_mut() {
            Some((_, e)) if *e >= start => *e = (*e).max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

fn floor_char(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char(text: &str, mut i: usize) -> usize {
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// The secret parts of a URL value: its password, a token used as its user name, and the
/// values of secret-looking query parameters.
fn url_secrets(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let Some(pos) = value.find("://") else {
        return out;
    };
    let rest = &value[pos + 3..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if let Some(at) = authority.rfind('@') {
        let userinfo = &authority[..at];
        match userinfo.split_once(':') {
            Some((_, password)) if !password.is_empty() => out.push(password),
            None if user_is_token(userinfo) => out.push(userinfo),
            Some(_) | None => {}
        }
    }
    if let Some(query) = rest.split_once('?').map(|(_, q)| q) {
        for pair in query.split(['&', '#']) {
            if let Some((key, v)) = pair.split_once('=')
                && is_secret_key(key)
                && v.len() >= 3
            {
                out.push(v);
            }
        }
    }
    out
}

/// A user name alone in a URL is a secret when it looks like a token (`https://ghp_…@host`),
/// not when it is a login like `git@` or `deploy@`.
fn user_is_token(user: &str) -> bool {
    user.len() >= 16 || looks_random(user)
}

/// An assignment or flag name whose value is a secret: `API_KEY`, `db-password`, `token`.
fn is_secret_key(key: &str) -> bool {
    let upper = key
        .trim_start_matches('-')
        .to_ascii_uppercase()
        .replace('-', "_");
    if upper.is_empty() || is_exempt_name(&upper) {
        return false;
    }
    [
        "SECRET",
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "APIKEY",
    ]
    .iter()
    .any(|p| upper.contains(p))
        || ["KEY", "PWD", "PASS", "AUTH", "SIG", "SIGNATURE", "COOKIE"]
            .iter()
            .any(|p| upper.ends_with(p))
}

/// Mask every secret pattern in free text.
pub fn mask_patterns(text: &str) -> String {
    let text = mask_url_passwords(text);
    let text = mask_headers(&text);
    let text = mask_bearer(&text);
    mask_assignments(&text)
}

/// Mask the password (or token user name) of every `scheme://user:password@` in free text.
pub fn mask_url_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| {
                c.is_whitespace()
                    || matches!(
                        c,
                        '/' | '?'
                            | '#'
                            | '"'
                            | '\''
                            | '`'
                            | '<'
                            | '>'
                            | '('
                            | ')'
                            | '['
                            | ']'
                            | '{'
                            | '}'
                            | '\\'
                            | ','
                            | ';'
                    )
            })
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.split_once(':') {
                    Some((user, pw)) if !pw.is_empty() => {
                        out.push_str(user);
                        out.push(':');
                        out.push_str(MASK);
                        out.push_str(&authority[at..]);
                    }
                    None if user_is_token(userinfo) => {
                        out.push_str(MASK);
                        out.push_str(&authority[at..]);
                    }
                    _ => out.push_str(authority),
                }
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Header names whose value is a credential.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "apikey",
    "x-auth-token",
    "x-access-token",
    "x-csrf-token",
    "private-token",
    "cookie",
    "set-cookie",
];

fn is_header_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// `Authorization: Bearer abc` → `Authorization: Bearer ***`; `Cookie: a=b` → `Cookie: ***`.
/// The value ends at the end of the line or at a quote (a header inside `-H '…'`).
fn mask_headers(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    let mut search = 0;
    while let Some(colon) = lower[search..].find(':').map(|i| i + search) {
        search = colon + 1;
        // A quoted key (`"authorization": …` in JSON) ends before its quote.
        let key_end = if colon > 0 && matches!(bytes[colon - 1], b'"' | b'\'') {
            colon - 1
        } else {
            colon
        };
        let name_start = lower[..key_end]
            .bytes()
            .rposition(|b| !is_header_char(b))
            .map_or(0, |i| i + 1);
        let name = &lower[name_start..key_end];
        if !SECRET_HEADERS.contains(&name) || name_start < pos {
            continue;
        }
        let mut start = colon + 1;
        while start < bytes.len() && bytes[start] == b' ' {
            start += 1;
        }
        // A quoted value (`"authorization": "Bearer x"` in JSON) ends at its closing quote.
        let quote = bytes
            .get(start)
            .copied()
            .filter(|b| matches!(b, b'"' | b'\''));
        if quote.is_some() {
            start += 1;
        }
        let end = text[start..]
            .find(['\n', '\r', '"', '\'', '`'])
            .map_or(text.len(), |i| i + start);
        if end <= start {
            continue;
        }
        let mut value_start = start;
        if name.ends_with("authorization") {
            // Keep the scheme (`Bearer`, `Basic`): it says what kind of credential was sent.
            let scheme_len = text[start..end].find(' ').filter(|&n| {
                text[start..start + n]
                    .bytes()
                    .all(|b| b.is_ascii_alphabetic())
            });
            if let Some(n) = scheme_len {
                value_start = start + n + 1;
            }
        }
        if value_start >= end {
            continue;
        }
        out.push_str(&text[pos..value_start]);
        out.push_str(MASK);
        pos = end;
        search = end;
    }
    out.push_str(&text[pos..]);
    out
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

/// `Bearer abc…` anywhere (a token printed without its header).
fn mask_bearer(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for (at, _) in lower.match_indices("bearer ") {
        if at < pos || (at > 0 && bytes[at - 1].is_ascii_alphanumeric()) {
            continue;
        }
        let start = at + "bearer ".len();
        let len = bytes[start..]
            .iter()
            .take_while(|&&b| is_token_char(b))
            .count();
        if len == 0 || &text[start..start + len] == MASK {
            continue;
        }
        out.push_str(&text[pos..start]);
        out.push_str(MASK);
        pos = start + len;
    }
    out.push_str(&text[pos..]);
    out
}

/// `API_KEY=abc`, `--password=abc`, `--token abc`, `?access_token=abc`: the value masked. A
/// value that is a reference (`$DB_PASSWORD`, `${TOKEN}`) is kept: it is not the secret.
fn mask_assignments(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let is_eq = b == b'=';
        let is_flag_space = b == b' ' && flag_before(text, i);
        if !(is_eq || is_flag_space) {
            i += 1;
            continue;
        }
        let key_start = text[..i]
            .bytes()
            .rposition(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')))
            .map_or(0, |p| p + 1);
        let key = &text[key_start..i];
        if key_start < pos || !is_secret_key(key) {
            i += 1;
            continue;
        }
        let mut start = i + 1;
        let quote = bytes
            .get(start)
            .copied()
            .filter(|c| matches!(c, b'"' | b'\''));
        if quote.is_some() {
            start += 1;
        }
        let end = match quote {
            Some(q) => text[start..]
                .find(char::from(q))
                .map_or(text.len(), |n| n + start),
            None => text[start..]
                .find(|c: char| {
                    c.is_whitespace()
                        || matches!(
                            c,
                            '&' | ';' | ',' | '"' | '\'' | '`' | ')' | '<' | '>' | '\\'
                        )
                })
                .map_or(text.len(), |n| n + start),
        };
        let value = &text[start..end];
        if value.is_empty()
            || value == MASK
            || value == REPLACEMENT
            || value.starts_with('$')
            || (is_flag_space && value.starts_with('-'))
        {
            i += 1;
            continue;
        }
        out.push_str(&text[pos..start]);
        out.push_str(MASK);
        pos = end;
        i = end.max(i + 1);
    }
    out.push_str(&text[pos..]);
    out
}

/// Whether the space at `i` follows a `--flag` (so `--password hunter2` is an assignment).
fn flag_before(text: &str, i: usize) -> bool {
    let word_start = text[..i].rfind(' ').map_or(0, |p| p + 1);
    text[word_start..i].starts_with("--")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_url_passwords_are_masked() {
        let r = Redactor::new([
            ("API_TOKEN", "tok-123456789"),
            ("DATABASE_URL", "postgres://app:hunter22@db:5432/app"),
            ("NODE_ENV", "production"),
        ]);
        let text = "using tok-123456789 and postgres://app:hunter22@db:5432/app in production; pw hunter22";
        let out = r.redact(text);
        assert!(!out.contains("tok-123456789"));
        assert!(!out.contains("hunter22"));
        assert!(out.contains("production"));
        assert!(out.contains("postgres://app:***@db:5432/app") || out.contains("[redacted]"));
    }

    #[test]
    fn free_text_urls_are_masked_without_knowing_them() {
        assert_eq!(
            mask_url_passwords("connect redis://:s3cret@127.0.0.1:6379/0 ok"),
            "connect redis://:***@127.0.0.1:6379/0 ok"
        );
        assert_eq!(
            mask_url_passwords("http://example.com/a"),
            "http://example.com/a"
        );
        assert_eq!(
            mask_url_passwords("pkg @ git+https://bob:pw-123@git.example/x.git"),
            "pkg @ git+https://bob:***@git.example/x.git"
        );
        assert_eq!(
            mask_url_passwords("https://ghp_abcdefghijklmnop1234@git.example/x"),
            "https://***@git.example/x"
        );
        assert_eq!(
            mask_url_passwords("ssh://git@git.example/x"),
            "ssh://git@git.example/x"
        );
    }

    #[test]
    fn fragments_encodings_and_escapes_of_a_known_secret_are_replaced() {
        let mut r = Redactor::default();
        r.learn_project([("SESSION_SIGNING", "Zq9#x7Lp&2vR!mK4"), ("PORT", "3000")]);
        for text in [
            "value Zq9#x7Lp&2vR!mK4 here",
            "cut Zq9#x7…",
            "…p&2vR!mK4 end",
            "url Zq9%23x7Lp%262vR%21mK4",
            "form Zq9%23x7Lp%262vR!mK4",
            "html Zq9#x7Lp&amp;2vR!mK4",
        ] {
            let out = r.redact(text);
            assert!(out.contains("[redacted]"), "{text} -> {out}");
            for leak in ["Zq9#x7", "2vR!mK4", "Zq9%23", "%262vR"] {
                assert!(!out.contains(leak), "{text} -> {out}");
            }
        }
        // Non-secret values stay; a short middle fragment (an ordinary word) stays.
        assert_eq!(r.redact("port 3000"), "port 3000");
        let mut r = Redactor::default();
        r.learn_secret("bypassed-token-1234");
        assert_eq!(r.redact("passed"), "passed");
        assert_eq!(r.redact("x bypassed-t"), "x [redacted]");
    }

    #[test]
    fn random_looking_project_values_are_secrets_but_urls_only_their_passwords() {
        let mut r = Redactor::default();
        r.learn_project([
            ("STRIPE", "sk_live_51Habcdefghij1234567"),
            ("API_URL", "http://localhost:3000/api"),
            ("CACHE_URL", "redis://:cachepw99@localhost:6379"),
            ("GREETING", "hello world from the app"),
        ]);
        assert_eq!(
            r.redact("key sk_live_51Habcdefghij1234567"),
            "key [redacted]"
        );
        assert_eq!(
            r.redact("GET http://localhost:3000/api/health"),
            "GET http://localhost:3000/api/health"
        );
        assert_eq!(r.redact("auth cachepw99 failed"), "auth [redacted] failed");
        assert_eq!(
            r.redact("hello world from the app"),
            "hello world from the app"
        );
    }

    #[test]
    fn headers_bearer_tokens_and_assignments_are_masked() {
        let cases = [
            (
                "curl -H 'Authorization: Bearer abc.def.ghi' http://h/x",
                "curl -H 'Authorization: Bearer ***' http://h/x",
            ),
            (
                "curl -H \"X-Api-Key: k-123\" -H 'Cookie: sid=1; t=2' x",
                "curl -H \"X-Api-Key: ***\" -H 'Cookie: ***' x",
            ),
            (
                "authorization: Basic dXNlcjpwdw==",
                "authorization: Basic ***",
            ),
            ("token was Bearer eyJhbGciOi.x_y", "token was Bearer ***"),
            (
                "API_KEY=abc123 STRIPE_SECRET='s p' DB_PASSWORD=$DB_PASSWORD npm start",
                "API_KEY=*** STRIPE_SECRET='***' DB_PASSWORD=$DB_PASSWORD npm start",
            ),
            (
                "mysql --password=hunter2 --user root --token tk99 --api-key --x",
                "mysql --password=*** --user root --token *** --api-key --x",
            ),
            (
                "GET /cb?code=1&access_token=zzz&x=1",
                "GET /cb?code=1&access_token=***&x=1",
            ),
            ("KEYBOARD=us PORT=3000", "KEYBOARD=us PORT=3000"),
            (
                r#"{"authorization":"Bearer t0k"}"#,
                r#"{"authorization":"Bearer ***"}"#,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(mask_patterns(input), want, "{input}");
        }
    }

    #[test]
    fn json_values_are_redacted_keys_included() {
        let mut r = Redactor::default();
        r.learn_secret("topsecret-value");
        let mut v = serde_json::json!({
            "a": ["x topsecret-value y", 1, null],
            "topsecret-value": {"url": "https://u:pw@h/"}
        });
        r.redact_json(&mut v);
        let text = v.to_string();
        assert!(!text.contains("topsecret"), "{text}");
        assert!(!text.contains(":pw@"), "{text}");
    }
}
