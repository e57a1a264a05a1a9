//! The lines of a failed start that say why: package-manager boilerplate (`npm ERR!
//! ELIFECYCLE`, `> app@1.0.0 start`, yarn's "Command failed with exit code") is skipped, and
//! the first lines that look like an error — with a little context after — are kept.

/// Lines package managers print around every failing script, whatever the cause.
fn boilerplate(line: &str) -> bool {
    let l = line.trim();
    let lower = l.to_ascii_lowercase();
    l.is_empty()
        || (l.starts_with("> ") && !lower.contains("error"))
        || lower.starts_with("npm err!")
        || lower.starts_with("npm error")
        || lower.starts_with("npm warn")
        || lower.contains("elifecycle")
        || lower.starts_with("error command failed with exit code")
        // yarn's footer pointing at its documentation ("info Visit https://… for documentation
        // about this command").
        || (lower.starts_with("info visit ") && lower.contains("for documentation"))
        || lower.starts_with("yarn run v")
        || lower.starts_with("$ ")
        || lower.starts_with("done in ")
}

/// Words that start or mark an error line in the output of Node, Python, Ruby and the
/// frameworks' CLIs.
fn errorish(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    [
        "error",
        "exception",
        "traceback",
        "not found",
        "could not",
        "cannot ",
        "can't ",
        "failed",
        "eaddrinuse",
        "already in use",
        "no such file",
        "permission denied",
        "refused",
        "fatal",
        "panic",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

/// The first real error lines of `lines` (at most 4), else the last non-boilerplate lines.
pub(crate) fn first_error_lines(lines: &[String]) -> Vec<String> {
    let meaningful: Vec<&String> = lines.iter().filter(|l| !boilerplate(l)).collect();
    if let Some(at) = meaningful.iter().position(|l| errorish(l)) {
        // A Python traceback's cause is its last line; show it after the header.
        if meaningful[at].starts_with("Traceback") {
            let mut out = vec![meaningful[at].trim().to_owned()];
            if let Some(last) = meaningful[at + 1..]
                .iter()
                .rev()
                .find(|l| !l.starts_with(' '))
            {
                out.push(last.trim().to_owned());
            }
            return out;
        }
        return meaningful[at..]
            .iter()
            .take(4)
            .map(|l| l.trim().to_owned())
            .collect();
    }
    let start = meaningful.len().saturating_sub(3);
    meaningful[start..]
        .iter()
        .map(|l| l.trim().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn npm_boilerplate_is_skipped() {
        let out = lines(
            "\n> web@1.0.0 start\n> next start\n\nError: Could not find a production build in the '.next' directory. Try building your app with 'next build' before starting the production server.\n    at setupFsCheck (x.js:1:1)\nnpm ERR! code ELIFECYCLE\nnpm ERR! errno 1\nnpm ERR! web@1.0.0 start: `next start`\n",
        );
        let got = first_error_lines(&out);
        assert!(
            got[0].starts_with("Error: Could not find a production build"),
            "{got:?}"
        );
        assert!(!got.iter().any(|l| l.contains("ELIFECYCLE")));
    }

    #[test]
    fn python_traceback_keeps_its_cause() {
        let out = lines(
            "Traceback (most recent call last):\n  File \"app.py\", line 1, in <module>\n    import flaskk\nModuleNotFoundError: No module named 'flaskk'\n",
        );
        assert_eq!(
            first_error_lines(&out),
            [
                "Traceback (most recent call last):",
                "ModuleNotFoundError: No module named 'flaskk'"
            ]
        );
    }

    #[test]
    fn no_error_word_gives_the_last_lines() {
        let out = lines("starting\nlistening somewhere\nnpm error code 1\n");
        assert_eq!(first_error_lines(&out), ["starting", "listening somewhere"]);
    }
}
