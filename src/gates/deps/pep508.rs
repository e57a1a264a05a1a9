//! PEP 508 dependency specifications (`requests[socks]>=2.31,<3 ; python_version >= "3.8"`)
//! and their environment markers, evaluated for the interpreter of one virtualenv. Versions and
//! specifiers are PEP 440 (`pep440_rs`); names are compared PEP 503-normalised.
//!
//! A small hand-written parser rather than `pep508_rs`, whose URL and Unicode dependencies cost
//! more compile time than the whole grammar is worth here.

use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifier, VersionSpecifiers};

/// PEP 503 normalisation: lowercase, runs of `-`, `_`, `.` become one `-`.
pub(crate) fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Why a requirement or marker does not parse. Quoted input is cut to 80 characters, so an
/// error about a hostile 6 KB line stays one readable line.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Pep508Error {
    #[error("no package name in {text:?}")]
    NoName { text: String },
    #[error("unclosed [ in {text:?}")]
    UnclosedExtras { text: String },
    #[error("invalid version specifier {specifier:?}")]
    Specifier {
        specifier: String,
        #[source]
        source: pep440_rs::VersionSpecifiersParseError,
    },
    #[error("unterminated string in marker {marker:?}")]
    UnterminatedString { marker: String },
    #[error("unexpected {found:?} in marker {marker:?}")]
    UnexpectedChar { found: char, marker: String },
    #[error("marker parentheses nest more than {MAX_MARKER_NESTING} levels deep")]
    TooDeep,
    #[error("missing ) in marker")]
    MissingParen,
    #[error("expected `in` after `not` in marker")]
    ExpectedIn,
    #[error("expected a comparison operator in marker")]
    ExpectedOperator,
    #[error("expected a marker variable or a quoted string")]
    ExpectedValue,
    #[error("unexpected text in marker {marker:?}")]
    TrailingText { marker: String },
}

/// One parsed requirement.
#[derive(Debug, Clone)]
pub(crate) struct Requirement {
    pub(crate) name: String,
    pub(crate) extras: Vec<String>,
    /// The specifier text as written (`>=2.31,<3`), empty when any version will do.
    pub(crate) specifier: String,
    pub(crate) url: Option<String>,
    pub(crate) marker: Option<Marker>,
}

impl Requirement {
    /// Parse `text`; the error says what is wrong.
    pub(crate) fn parse(text: &str) -> Result<Requirement, Pep508Error> {
        let text = text.trim();
        let name_end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(text.len());
        let name = &text[..name_end];
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(Pep508Error::NoName {
                text: excerpt(text),
            });
        }
        let mut rest = text[name_end..].trim_start();
        let mut extras = Vec::new();
        if let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']').ok_or_else(|| Pep508Error::UnclosedExtras {
                text: excerpt(text),
            })?;
            extras = after[..close]
                .split(',')
                .map(normalize)
                .filter(|e| !e.is_empty())
                .collect();
            rest = after[close + 1..].trim_start();
        }
        let (body, marker) = if let Some(url) = rest.strip_prefix('@') {
            // `name @ url ; marker` — the `;` must follow whitespace, as a URL may contain one.
            let url = url.trim_start();
            let (url, marker) = match url.find(" ;").or_else(|| url.find("\t;")) {
                Some(at) => (&url[..at], Some(&url[at + 2..])),
                None => (url, None),
            };
            return Ok(Requirement {
                name: name.to_owned(),
                extras,
                specifier: String::new(),
                url: Some(url.trim().to_owned()),
                marker: marker.map(Marker::parse).transpose()?,
            });
        } else {
            match rest.find(';') {
                Some(at) => (&rest[..at], Some(&rest[at + 1..])),
                None => (rest, None),
            }
        };
        let mut specifier = body.trim();
        if let Some(inner) = specifier
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
        {
            specifier = inner.trim();
        }
        if !specifier.is_empty() {
            VersionSpecifiers::from_str(specifier).map_err(|source| Pep508Error::Specifier {
                specifier: specifier.to_owned(),
                source,
            })?;
        }
        Ok(Requirement {
            name: name.to_owned(),
            extras,
            specifier: specifier.split_whitespace().collect::<Vec<_>>().join(""),
            url: None,
            marker: marker.map(Marker::parse).transpose()?,
        })
    }

    /// Whether the requirement applies in `env` with the given extra active (`""` for none).
    pub(crate) fn applies(&self, env: &MarkerEnv, extra: &str) -> bool {
        self.marker.as_ref().is_none_or(|m| m.eval(env, extra))
    }

    /// Whether `version` satisfies the specifier (prereleases included, as `pip check` does).
    pub(crate) fn allows(&self, version: &str) -> bool {
        satisfies(&self.specifier, version)
    }
}

/// Whether `version` satisfies PEP 440 `specifier` (empty: anything; unparseable version: no).
pub(crate) fn satisfies(specifier: &str, version: &str) -> bool {
    if specifier.is_empty() {
        return true;
    }
    let (Ok(spec), Ok(version)) = (
        VersionSpecifiers::from_str(specifier),
        Version::from_str(version.trim()),
    ) else {
        return false;
    };
    spec.contains(&version)
}

/// The values markers are evaluated against: those of the virtualenv's interpreter.
#[derive(Debug, Clone)]
pub(crate) struct MarkerEnv {
    pub(crate) python_full_version: String,
    pub(crate) python_version: String,
    pub(crate) implementation_name: String,
}

impl MarkerEnv {
    /// A `CPython` `major.minor.patch` on this machine's OS and architecture.
    pub(crate) fn cpython(full: &str) -> MarkerEnv {
        let short: Vec<&str> = full.split('.').take(2).collect();
        MarkerEnv {
            python_full_version: full.to_owned(),
            python_version: short.join("."),
            implementation_name: "cpython".to_owned(),
        }
    }

    fn get(&self, var: &str, extra: &str) -> Option<String> {
        Some(match var {
            "python_version" => self.python_version.clone(),
            "python_full_version" | "implementation_version" => self.python_full_version.clone(),
            "os_name" => if cfg!(windows) { "nt" } else { "posix" }.to_owned(),
            "sys_platform" => match std::env::consts::OS {
                "macos" => "darwin".to_owned(),
                "windows" => "win32".to_owned(),
                os => os.to_owned(),
            },
            "platform_system" => match std::env::consts::OS {
                "linux" => "Linux".to_owned(),
                "macos" => "Darwin".to_owned(),
                "windows" => "Windows".to_owned(),
                os => os.to_owned(),
            },
            "platform_machine" => std::env::consts::ARCH.to_owned(),
            "implementation_name" => self.implementation_name.clone(),
            "platform_python_implementation" => {
                if self.implementation_name == "cpython" {
                    "CPython".to_owned()
                } else {
                    self.implementation_name.clone()
                }
            }
            "extra" => extra.to_owned(),
            // Not knowable without running the interpreter; compared as empty strings.
            "platform_release" | "platform_version" => String::new(),
            _ => return None,
        })
    }
}

/// Parentheses in a marker nest at most this deep. Real markers nest two or three levels; the
/// limit exists because parsing, evaluating and dropping a marker recurse once per level, and a
/// 6 KB line of `(((…` must be a located error rather than a stack overflow.
pub(crate) const MAX_MARKER_NESTING: usize = 32;

/// A parsed marker expression. `and`/`or` chains are flat lists, so a long chain costs no
/// recursion depth; only parentheses nest (bounded by [`MAX_MARKER_NESTING`]).
#[derive(Debug, Clone)]
pub(crate) enum Marker {
    And(Vec<Marker>),
    Or(Vec<Marker>),
    Compare {
        left: Value,
        op: String,
        right: Value,
    },
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    Var(String),
    Str(String),
}

#[derive(Debug, PartialEq)]
enum Token {
    LParen,
    RParen,
    Word(String),
    Str(String),
    Op(String),
}

/// At most the first 80 characters of `text`, so an error about a hostile 6 KB marker stays one
/// readable line.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, Pep508Error> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push(Token::LParen);
            i += 1;
        } else if c == ')' {
            out.push(Token::RParen);
            i += 1;
        } else if c == '"' || c == '\'' {
            let end = chars[i + 1..].iter().position(|&x| x == c).ok_or_else(|| {
                Pep508Error::UnterminatedString {
                    marker: excerpt(text),
                }
            })?;
            out.push(Token::Str(chars[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else if "<>=!~".contains(c) {
            let mut op = String::new();
            while i < chars.len() && "<>=!~".contains(chars[i]) {
                op.push(chars[i]);
                i += 1;
            }
            out.push(Token::Op(op));
        } else if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            let mut word = String::new();
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_.".contains(chars[i])) {
                word.push(chars[i]);
                i += 1;
            }
            out.push(Token::Word(word));
        } else {
            return Err(Pep508Error::UnexpectedChar {
                found: c,
                marker: excerpt(text),
            });
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Open parentheses around the current position.
    depth: usize,
}

impl Parser {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Word(w)) if w == word)
    }

    fn or(&mut self) -> Result<Marker, Pep508Error> {
        let mut terms = vec![self.and()?];
        while self.peek_word("or") {
            self.pos += 1;
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 {
            terms.swap_remove(0)
        } else {
            Marker::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Marker, Pep508Error> {
        let mut terms = vec![self.atom()?];
        while self.peek_word("and") {
            self.pos += 1;
            terms.push(self.atom()?);
        }
        Ok(if terms.len() == 1 {
            terms.swap_remove(0)
        } else {
            Marker::And(terms)
        })
    }

    fn atom(&mut self) -> Result<Marker, Pep508Error> {
        if self.tokens.get(self.pos) == Some(&Token::LParen) {
            if self.depth >= MAX_MARKER_NESTING {
                return Err(Pep508Error::TooDeep);
            }
            self.pos += 1;
            self.depth += 1;
            let inner = self.or()?;
            self.depth -= 1;
            if self.tokens.get(self.pos) != Some(&Token::RParen) {
                return Err(Pep508Error::MissingParen);
            }
            self.pos += 1;
            return Ok(inner);
        }
        let left = self.value()?;
        let op = match self.tokens.get(self.pos) {
            Some(Token::Op(op)) => {
                self.pos += 1;
                op.clone()
            }
            Some(Token::Word(w)) if w == "in" => {
                self.pos += 1;
                "in".to_owned()
            }
            Some(Token::Word(w)) if w == "not" => {
                self.pos += 1;
                if !self.peek_word("in") {
                    return Err(Pep508Error::ExpectedIn);
                }
                self.pos += 1;
                "not in".to_owned()
            }
            _ => return Err(Pep508Error::ExpectedOperator),
        };
        let right = self.value()?;
        Ok(Marker::Compare { left, op, right })
    }

    fn value(&mut self) -> Result<Value, Pep508Error> {
        match self.tokens.get(self.pos) {
            Some(Token::Str(s)) => {
                self.pos += 1;
                Ok(Value::Str(s.clone()))
            }
            Some(Token::Word(w)) => {
                self.pos += 1;
                Ok(Value::Var(w.clone()))
            }
            _ => Err(Pep508Error::ExpectedValue),
        }
    }
}

impl Marker {
    pub(crate) fn parse(text: &str) -> Result<Marker, Pep508Error> {
        let mut parser = Parser {
            tokens: tokenize(text)?,
            pos: 0,
            depth: 0,
        };
        let marker = parser.or()?;
        if parser.pos != parser.tokens.len() {
            return Err(Pep508Error::TrailingText {
                marker: excerpt(text),
            });
        }
        Ok(marker)
    }

    /// Evaluate for `env` with `extra` (`""` when no extra is requested).
    pub(crate) fn eval(&self, env: &MarkerEnv, extra: &str) -> bool {
        match self {
            Marker::And(terms) => terms.iter().all(|m| m.eval(env, extra)),
            Marker::Or(terms) => terms.iter().any(|m| m.eval(env, extra)),
            Marker::Compare { left, op, right } => {
                let is_extra = matches!(left, Value::Var(v) if v == "extra")
                    || matches!(right, Value::Var(v) if v == "extra");
                let resolve = |v: &Value| -> String {
                    match v {
                        Value::Var(name) => env.get(name, extra).unwrap_or_default(),
                        Value::Str(s) => s.clone(),
                    }
                };
                let (mut l, mut r) = (resolve(left), resolve(right));
                if is_extra {
                    // PEP 685: extras compare normalised.
                    l = normalize(&l);
                    r = normalize(&r);
                }
                compare(&l, op, &r)
            }
        }
    }
}

fn compare(l: &str, op: &str, r: &str) -> bool {
    match op {
        "in" => return r.contains(l),
        "not in" => return !r.contains(l),
        _ => {}
    }
    // PEP 508: a version comparison when both sides are versions, else a string comparison.
    if let (Ok(version), Ok(spec)) = (
        Version::from_str(l),
        VersionSpecifier::from_str(&format!("{op}{r}")),
    ) {
        return spec.contains(&version);
    }
    match op {
        "==" | "===" => l == r,
        "!=" => l != r,
        "<" => l < r,
        "<=" => l <= r,
        ">" => l > r,
        ">=" => l >= r,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> MarkerEnv {
        MarkerEnv::cpython("3.11.7")
    }

    #[test]
    fn names_normalise() {
        assert_eq!(normalize("Typing_Extensions"), "typing-extensions");
        assert_eq!(normalize("zope.interface"), "zope-interface");
        assert_eq!(normalize("A__b--C"), "a-b-c");
    }

    #[test]
    fn requirements_parse() {
        let r =
            Requirement::parse("requests[socks, Security]>=2.31,<3 ; python_version >= \"3.8\"")
                .unwrap();
        assert_eq!(r.name, "requests");
        assert_eq!(r.extras, ["socks", "security"]);
        assert_eq!(r.specifier, ">=2.31,<3");
        assert!(r.applies(&env(), ""));
        assert!(r.allows("2.34.2"));
        assert!(!r.allows("3.0.0"));
        let url =
            Requirement::parse("pkg @ https://x.test/pkg-1.0.tar.gz ; os_name == 'nt'").unwrap();
        assert_eq!(url.url.as_deref(), Some("https://x.test/pkg-1.0.tar.gz"));
        assert!(!url.applies(&env(), ""));
        assert!(
            Requirement::parse("six (==1.16.0)")
                .unwrap()
                .allows("1.16.0")
        );
        assert!(Requirement::parse(">=1").is_err());
        assert!(Requirement::parse("x >=>1").is_err());
    }

    #[test]
    fn markers_evaluate_for_the_interpreter() {
        let e = env();
        let m = |s: &str, extra: &str| Marker::parse(s).unwrap().eval(&e, extra);
        assert!(!m("python_version < \"3.11\"", ""));
        assert!(m("python_version >= '3.8' and sys_platform != 'win32'", ""));
        assert!(m("python_full_version >= '3.11.7'", ""));
        assert!(m(
            "(os_name == 'nt' or platform_system == 'Linux') and extra == 'socks'",
            "socks"
        ));
        assert!(!m("extra == \"socks\"", ""));
        assert!(m("extra == 'use_chardet'", "use-chardet"));
        assert!(m("'linux' in sys_platform", ""));
        assert!(m("platform_python_implementation == 'CPython'", ""));
        assert!(Marker::parse("python_version <").is_err());
        assert!(Marker::parse("python_version < '3' junk").is_err());
    }

    #[test]
    fn nesting_is_bounded_and_chains_are_flat() {
        let e = env();
        let nested = |n: usize| format!("{}os_name == 'posix'{}", "(".repeat(n), ")".repeat(n));
        assert!(
            Marker::parse(&nested(MAX_MARKER_NESTING))
                .unwrap()
                .eval(&e, "")
        );
        let err = Marker::parse(&nested(MAX_MARKER_NESTING + 1)).unwrap_err();
        assert!(matches!(err, Pep508Error::TooDeep), "{err}");
        assert!(
            err.to_string().contains("nest more than 32 levels"),
            "{err}"
        );
        // 3,000 levels (the reported 6 KB line) and far more: an error, not a stack overflow.
        assert!(Marker::parse(&nested(3_000)).is_err());
        assert!(Marker::parse(&nested(200_000)).is_err());
        // A long chain is one flat list: parsing, evaluating and dropping it do not recurse.
        let chain = vec!["os_name == 'posix'"; 100_000].join(" and ");
        assert!(Marker::parse(&chain).unwrap().eval(&e, ""));
        let chain = vec!["os_name == 'nt'"; 100_000].join(" or ");
        assert!(!Marker::parse(&chain).unwrap().eval(&e, ""));
        let req = Requirement::parse(&format!("pkg ; {}", nested(3_000))).unwrap_err();
        assert!(matches!(req, Pep508Error::TooDeep), "{req}");
    }
}
