//! Keeping secrets out of everything devops-agent writes.
//!
//! A [`Redactor`] knows the values of the project's secret-looking variables (from the process
//! environment and `.env`) and replaces them, wherever they appear, with `[redacted]`; it also
//! masks the password of any `scheme://user:password@host` URL. Captured command output,
//! messages and evidence pass through it before they reach the report, events or logs.

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
    "SESSION",
    "DATABASE_URL",
    "DSN",
    "_URL",
];

/// Values shorter than this are not redacted on their own: `1`, `true` or `dev` would blank
/// out unrelated text.
const MIN_SECRET_LEN: usize = 6;

/// Replaces known secret values and URL passwords.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a value containing another is replaced whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// Build from `(name, value)` pairs: values of secret-looking names are remembered, and so
    /// is the password part of any URL value.
    pub fn new<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Redactor {
        let mut secrets = Vec::new();
        for (name, value) in vars {
            let upper = name.to_ascii_uppercase();
            if SECRET_NAME_PARTS.iter().any(|p| upper.contains(p)) && value.len() >= MIN_SECRET_LEN
            {
                secrets.push(value.to_owned());
            }
            if let Some(password) = url_password(value)
                && password.len() >= 3
            {
                secrets.push(password.to_owned());
            }
        }
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// The text with every known secret and URL password replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut out = mask_url_passwords(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "[redacted]");
            }
        }
        out
    }
}

/// The password of `scheme://user:password@host…`, if the value is such a URL.
fn url_password(value: &str) -> Option<&str> {
    let rest = &value[value.find("://")? + 3..];
    let authority = rest.split(['/', '?', '#']).next()?;
    let userinfo = &authority[..authority.rfind('@')?];
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then_some(password)
}

/// Mask the password of every `scheme://user:password@` in free text.
pub fn mask_url_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '/' | '?' | '#' | '"' | '\'' | '`'))
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.split_once(':') {
                    Some((user, pw)) if !pw.is_empty() => {
                        out.push_str(user);
                        out.push_str(":***");
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
    }
}
