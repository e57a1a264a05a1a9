//! `build.bundle_size`: the build output measured raw, gzip and brotli, against budgets from
//! devops-agent.toml, size-limit (`.size-limit.json`, package.json `"size-limit"`) and
//! bundlesize (package.json `"bundlesize"`).

use std::fs;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::glob;
use crate::project::BudgetsConfig;

/// Files larger than this are measured raw only.
const MAX_COMPRESS_BYTES: u64 = 32 * 1024 * 1024;
/// Brotli at quality 11 costs about a second per megabyte; larger files (binaries, media) get
/// no brotli figure (null) rather than a figure at another quality.
const MAX_BROTLI_BYTES: u64 = 2 * 1024 * 1024;
/// At most this many files are measured.
const MAX_FILES: usize = 20_000;
/// The budget applied to each JavaScript file when none is configured: Vite's and Rollup's
/// default `chunkSizeWarningLimit` (500 kB minified). Exceeding it is a warning, not a failure.
pub(crate) const DEFAULT_JS_CHUNK_LIMIT: u64 = 500_000;

/// One measured output file.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FileSize {
    /// Relative to the app directory.
    pub(crate) path: String,
    pub(crate) raw: u64,
    /// gzip at level 9, like `gzip -9` and bundlesize's gzip-size.
    pub(crate) gzip: Option<u64>,
    /// brotli at quality 11, window 22, like size-limit and brotli-size.
    pub(crate) brotli: Option<u64>,
}

/// Which size a budget is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Compression {
    Raw,
    Gzip,
    Brotli,
}

impl Compression {
    pub(crate) fn parse(
        text: Option<&str>,
        default: Compression,
    ) -> Result<Compression, BudgetError> {
        match text.map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("raw" | "none") => Ok(Compression::Raw),
            Some("gzip") => Ok(Compression::Gzip),
            Some("brotli") => Ok(Compression::Brotli),
            Some(other) => Err(BudgetError::Compression {
                value: other.to_owned(),
            }),
        }
    }

    pub(crate) fn of(self, f: &FileSize) -> u64 {
        match self {
            Compression::Raw => f.raw,
            Compression::Gzip => f.gzip.unwrap_or(f.raw),
            Compression::Brotli => f.brotli.unwrap_or(f.raw),
        }
    }
}

/// Why a budget cannot be read from the project's configuration or its size-limit/bundlesize
/// entries.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BudgetError {
    #[error("unknown compression `{value}` (raw, gzip or brotli)")]
    Compression { value: String },
    #[error("invalid size `{text}`")]
    Size { text: String },
    #[error("invalid size unit `{unit}` in `{text}`")]
    SizeUnit { unit: String, text: String },
    #[error("size `{text}` out of range")]
    OutOfRange { text: String },
    #[error(transparent)]
    Glob(#[from] glob::GlobError),
    #[error("cannot parse .size-limit.json")]
    SizeLimitJson(#[source] serde_json::Error),
}

/// A limit to check: files matching `pattern` (all when None), summed or each on its own.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Budget {
    /// Where it was written: `devops-agent.toml [build.budgets] total`, `.size-limit.json`, …
    pub(crate) source: String,
    pub(crate) pattern: Option<String>,
    pub(crate) limit: u64,
    pub(crate) compression: Compression,
    /// Sum matched files (size-limit, totals) or check each file (bundlesize, `per_file`).
    pub(crate) per_file: bool,
    /// A built-in default rather than the project's own budget: exceeding it only warns.
    pub(crate) advisory: bool,
}

/// A budget exceeded.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Excess {
    pub(crate) budget: Budget,
    pub(crate) what: String,
    pub(crate) size: u64,
}

/// Parse `"250 KB"`, `"1.5 MB"`, `"10 KiB"`, `"900B"`, `"1234"` into bytes. KB/MB are 1000-based,
/// KiB/MiB 1024-based.
pub(crate) fn parse_size(text: &str) -> Result<u64, BudgetError> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| BudgetError::Size {
        text: text.to_owned(),
    })?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(BudgetError::SizeUnit {
                unit: other.to_owned(),
                text: text.to_owned(),
            });
        }
    };
    let bytes = (value * factor).round();
    if !(0.0..=9.0e15).contains(&bytes) {
        return Err(BudgetError::OutOfRange {
            text: text.to_owned(),
        });
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "bounded to 0..=9e15 just above, well inside u64"
    )]
    Ok(bytes as u64)
}

/// Human size: `12.3 kB`.
pub(crate) fn show(bytes: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let b = bytes as f64;
    if bytes >= 1_000_000 {
        format!("{:.2} MB", b / 1e6)
    } else if bytes >= 1000 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

/// Measure every file under `dir` (no symlinks followed); paths relative to `app`.
pub(crate) fn measure(app: &Path, dir: &Path) -> Vec<FileSize> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            if files.len() >= MAX_FILES {
                return files;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                files.push(measure_file(app, &path));
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

fn measure_file(app: &Path, path: &Path) -> FileSize {
    let rel = path
        .strip_prefix(app)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned();
    let raw = crate::fsread::stat(path).map_or(0, |m| m.len());
    let (gzip, brotli) = if raw <= MAX_COMPRESS_BYTES {
        match crate::fsread::read(path, MAX_COMPRESS_BYTES) {
            Ok(bytes) => (
                gzip_size(&bytes),
                if raw <= MAX_BROTLI_BYTES {
                    brotli_size(&bytes)
                } else {
                    None
                },
            ),
            Err(_) => (None, None),
        }
    } else {
        (None, None)
    };
    FileSize {
        path: rel,
        raw,
        gzip,
        brotli,
    }
}

fn gzip_size(bytes: &[u8]) -> Option<u64> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(9));
    encoder.write_all(bytes).ok()?;
    encoder.finish().ok().map(|v| v.len() as u64)
}

fn brotli_size(bytes: &[u8]) -> Option<u64> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).ok()?;
    Some(out.len() as u64)
}

/// `pattern` unchanged when it is a valid glob, else the error naming it.
fn checked(pattern: String) -> Result<String, BudgetError> {
    glob::Glob::new(&pattern)?;
    Ok(pattern)
}

/// Budgets from devops-agent.toml; patterns there are relative to the output directory, so
/// they are prefixed with it.
pub(crate) fn config_budgets(
    cfg: &BudgetsConfig,
    output: &str,
) -> Result<Vec<Budget>, BudgetError> {
    let default = Compression::parse(cfg.compression.as_deref(), Compression::Gzip)?;
    let mut budgets = Vec::new();
    let all = format!("{output}/**");
    if let Some(total) = &cfg.total {
        budgets.push(Budget {
            source: "devops-agent.toml [build.budgets] total".to_owned(),
            pattern: Some(all.clone()),
            limit: parse_size(total)?,
            compression: default,
            per_file: false,
            advisory: false,
        });
    }
    if let Some(per_file) = &cfg.per_file {
        budgets.push(Budget {
            source: "devops-agent.toml [build.budgets] per_file".to_owned(),
            pattern: Some(all),
            limit: parse_size(per_file)?,
            compression: default,
            per_file: true,
            advisory: false,
        });
    }
    for f in &cfg.files {
        budgets.push(Budget {
            source: format!("devops-agent.toml [[build.budgets.files]] {}", f.path),
            pattern: Some(checked(format!(
                "{output}/{}",
                f.path.trim_start_matches("./")
            ))?),
            limit: parse_size(&f.limit)?,
            compression: Compression::parse(f.compression.as_deref(), default)?,
            per_file: false,
            advisory: false,
        });
    }
    Ok(budgets)
}

/// Budgets the JavaScript ecosystem already writes: size-limit and bundlesize.
pub(crate) fn ecosystem_budgets(app: &Path) -> Result<Vec<Budget>, BudgetError> {
    let mut budgets = Vec::new();
    let package: Option<serde_json::Value> =
        crate::fsread::read_lossy(&app.join("package.json"), 32 * 1024 * 1024)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
    let size_limit_file: Option<serde_json::Value> =
        crate::fsread::read_lossy(&app.join(".size-limit.json"), 1024 * 1024)
            .ok()
            .map(|t| serde_json::from_str(&t).map_err(BudgetError::SizeLimitJson))
            .transpose()?;
    let size_limit = size_limit_file
        .map(|v| (".size-limit.json", v))
        .or_else(|| {
            package
                .as_ref()
                .and_then(|p| p.get("size-limit").cloned())
                .map(|v| ("package.json \"size-limit\"", v))
        });
    if let Some((source, entries)) = size_limit {
        for entry in entries.as_array().into_iter().flatten() {
            let Some(limit) = entry.get("limit").and_then(|l| l.as_str()) else {
                continue;
            };
            // size-limit measures brotli unless told otherwise (`gzip: true`, `brotli: false`).
            let compression =
                if entry.get("gzip").and_then(serde_json::Value::as_bool) == Some(true) {
                    Compression::Gzip
                } else if entry.get("brotli").and_then(serde_json::Value::as_bool) == Some(false) {
                    Compression::Raw
                } else {
                    Compression::Brotli
                };
            let paths: Vec<String> = match entry.get("path") {
                Some(serde_json::Value::String(p)) => vec![p.clone()],
                Some(serde_json::Value::Array(ps)) => ps
                    .iter()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect(),
                _ => continue,
            };
            for path in paths {
                budgets.push(Budget {
                    source: format!("{source} {path}"),
                    pattern: Some(checked(path)?),
                    limit: parse_size(limit)?,
                    compression,
                    per_file: false,
                    advisory: false,
                });
            }
        }
    }
    if let Some(entries) = package.as_ref().and_then(|p| p.get("bundlesize")) {
        for entry in entries.as_array().into_iter().flatten() {
            let (Some(path), Some(max)) = (
                entry.get("path").and_then(|p| p.as_str()),
                entry.get("maxSize").and_then(|m| m.as_str()),
            ) else {
                continue;
            };
            let compression = Compression::parse(
                entry.get("compression").and_then(|c| c.as_str()),
                Compression::Gzip,
            )?;
            budgets.push(Budget {
                source: format!("package.json \"bundlesize\" {path}"),
                pattern: Some(checked(path.to_owned())?),
                limit: parse_size(max)?,
                compression,
                per_file: true,
                advisory: false,
            });
        }
    }
    Ok(budgets)
}

/// The advisory default: each JavaScript file under the output within Vite's chunk limit.
pub(crate) fn default_budget(output: &str) -> Budget {
    Budget {
        source: "default: 500 kB per JavaScript file (Vite/Rollup chunkSizeWarningLimit)"
            .to_owned(),
        pattern: Some(format!("{output}/**/*.{{js,mjs,cjs}}")),
        limit: DEFAULT_JS_CHUNK_LIMIT,
        compression: Compression::Raw,
        per_file: true,
        advisory: true,
    }
}

/// Check files against budgets; a budget no file matches is reported as such.
pub(crate) fn evaluate(files: &[FileSize], budgets: &[Budget]) -> (Vec<Excess>, Vec<String>) {
    let mut excess = Vec::new();
    let mut unmatched = Vec::new();
    for budget in budgets {
        // Patterns were checked when the budget was read; one that still fails matches nothing.
        let glob = budget.pattern.as_deref().map(glob::Glob::new);
        let matched: Vec<&FileSize> = files
            .iter()
            .filter(|f| match &glob {
                None => true,
                Some(Ok(g)) => g.is_match(&f.path),
                Some(Err(_)) => false,
            })
            .collect();
        if matched.is_empty() {
            unmatched.push(budget.source.clone());
            continue;
        }
        if budget.per_file {
            for f in matched {
                let size = budget.compression.of(f);
                if size > budget.limit {
                    excess.push(Excess {
                        budget: budget.clone(),
                        what: f.path.clone(),
                        size,
                    });
                }
            }
        } else {
            let size: u64 = matched.iter().map(|f| budget.compression.of(f)).sum();
            if size > budget.limit {
                excess.push(Excess {
                    budget: budget.clone(),
                    what: budget.pattern.clone().unwrap_or_default(),
                    size,
                });
            }
        }
    }
    (excess, unmatched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10 KB").unwrap(), 10_000);
        assert_eq!(parse_size("1.5 MB").unwrap(), 1_500_000);
        assert_eq!(parse_size("10 KiB").unwrap(), 10_240);
        assert_eq!(parse_size("900B").unwrap(), 900);
        assert_eq!(parse_size("1234").unwrap(), 1234);
        assert!(matches!(
            parse_size("ten KB"),
            Err(BudgetError::Size { text }) if text == "ten KB"
        ));
        assert!(matches!(
            parse_size("10 parsecs"),
            Err(BudgetError::SizeUnit { unit, .. }) if unit == "parsecs"
        ));
    }

    #[test]
    fn compression_measured() {
        let text = "a".repeat(10_000);
        assert!(gzip_size(text.as_bytes()).unwrap() < 200);
        assert!(brotli_size(text.as_bytes()).unwrap() < 100);
    }
}
