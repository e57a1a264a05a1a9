//! YAML reading shared by the compose and Kubernetes readers: strict, bounded options and a
//! scalar type that accepts what people write for ports (`3000`, `"3000"`, `${PORT:-3000}`).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};

use super::FileError;

/// YAML files larger than this are refused rather than parsed (a compose file is kilobytes).
pub(crate) const MAX_YAML_BYTES: u64 = 4 * 1024 * 1024;

/// Parser options: YAML 1.2 booleans only (`NO` stays a string), leading-zero numbers kept as
/// strings, duplicate keys rejected, merge keys (`<<: *x`) honoured, the default alias budget.
pub(crate) fn options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.leading_zero_numbers_as_strings = true;
    options.with_snippet = false;
    options
}

/// Turn a parser error into a [`FileError`] naming the file, line and column.
pub(crate) fn error(path: &str, err: &serde_saphyr::Error) -> FileError {
    let (line, column) = err
        .location()
        .map_or((None, None), |l| (Some(l.line()), Some(l.column())));
    let text = err.to_string();
    // The rendered message may repeat the location on its first line; keep the first line only.
    let message = text
        .lines()
        .next()
        .unwrap_or("invalid YAML")
        .trim()
        .to_owned();
    FileError {
        file: path.to_owned(),
        line: line.filter(|l| *l > 0),
        column: column.filter(|c| *c > 0),
        message,
    }
}

/// A YAML scalar read as text, whatever its YAML type: ports are written as numbers, quoted
/// strings or interpolation expressions, and all of them mean the same text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scalar(pub(crate) String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}
