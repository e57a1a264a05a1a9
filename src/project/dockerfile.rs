//! Dockerfiles: the ports an image declares with `EXPOSE`, and whether they come from a build
//! argument or environment variable (`ARG PORT=3000` … `EXPOSE ${PORT}`).

use std::path::Path;

use super::FileError;
use super::compose::{read_text, relative};

const MAX_DOCKERFILE_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Dockerfile {
    /// Path relative to the project.
    pub path: String,
    pub exposes: Vec<Expose>,
}

/// One port of an `EXPOSE` instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expose {
    /// As written, e.g. `3000/tcp` or `${PORT}`.
    pub value: String,
    pub line: u64,
}

pub fn read(root: &Path, path: &Path) -> Result<Dockerfile, FileError> {
    let rel = relative(root, path);
    let text = read_text(&rel, path, MAX_DOCKERFILE_BYTES)?;
    Ok(parse(&rel, &text))
}

/// Collect `EXPOSE` arguments, honouring `\` line continuations and `#` comment lines.
pub(crate) fn parse(rel: &str, text: &str) -> Dockerfile {
    let mut exposes = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') {
            continue;
        }
        let mut instruction = trimmed.to_owned();
        while instruction.trim_end().ends_with('\\') {
            let cut = instruction.trim_end().len() - 1;
            instruction.truncate(cut);
            match lines.next() {
                Some((_, next)) => {
                    instruction.push(' ');
                    instruction.push_str(next.trim());
                }
                None => break,
            }
        }
        let mut words = instruction.split_whitespace();
        if words
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("EXPOSE"))
        {
            for word in words {
                exposes.push(Expose {
                    value: word.to_owned(),
                    line: index as u64 + 1,
                });
            }
        }
    }
    Dockerfile {
        path: rel.to_owned(),
        exposes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expose_forms() {
        let d = parse(
            "Dockerfile",
            "FROM node\n# EXPOSE 1\nARG PORT=3000\nexpose ${PORT} \\\n  9229/tcp\n",
        );
        let got: Vec<_> = d
            .exposes
            .iter()
            .map(|e| (e.value.as_str(), e.line))
            .collect();
        assert_eq!(got, vec![("${PORT}", 4), ("9229/tcp", 4)]);
    }
}
