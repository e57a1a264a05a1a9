//! Bounded capture of a command's output: enough to parse warnings from, and a head and tail
//! for the report — with secrets redacted before anything leaves this module.

use crate::redact::Redactor;

/// Output kept in full for parsing, at most this many bytes; beyond it only the tail is kept.
const MAX_FULL: usize = 8 * 1024 * 1024;
/// Lines shown in the report's excerpt.
const EXCERPT_LINES: usize = 40;

/// Everything a command printed (stdout and stderr interleaved as they arrived).
#[derive(Debug, Clone, Default)]
pub struct Captured {
    full: Vec<u8>,
    /// Total bytes the command printed, including what was not kept.
    pub total_bytes: u64,
    /// True when output beyond the kept limit was dropped.
    pub truncated: bool,
}

impl Captured {
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.total_bytes += chunk.len() as u64;
        let room = MAX_FULL.saturating_sub(self.full.len());
        if chunk.len() <= room {
            self.full.extend_from_slice(chunk);
        } else {
            self.truncated = true;
            // Keep the most recent output: errors are usually at the end.
            self.full.extend_from_slice(chunk);
            let excess = self.full.len() - MAX_FULL;
            self.full.drain(..excess);
        }
    }

    /// Whether the kept output contains `needle` (a ready-log line).
    pub fn contains(&self, needle: &str) -> bool {
        !needle.is_empty()
            && self
                .full
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
    }

    /// The kept output as text, redacted.
    pub fn text(&self, redactor: &Redactor) -> String {
        redactor.redact(&String::from_utf8_lossy(&self.full))
    }

    /// The last lines, redacted, ANSI colour codes removed: what a person needs to see why a
    /// command failed.
    pub fn tail(&self, redactor: &Redactor) -> Vec<String> {
        let text = strip_ansi(&self.text(redactor));
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let start = lines.len().saturating_sub(EXCERPT_LINES);
        lines[start..].iter().map(|l| truncate(l, 400)).collect()
    }
}

fn truncate(line: &str, max: usize) -> String {
    if line.chars().count() <= max {
        line.to_owned()
    } else {
        line.chars().take(max).collect::<String>() + "…"
    }
}

/// Remove ANSI escape sequences (colours, cursor moves) from tool output.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // CSI: parameters then one final byte in @..~
                for n in chars.by_ref() {
                    if ('@'..='~').contains(&n) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else if c != '\r' {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_end_when_output_is_huge() {
        let mut c = Captured::default();
        c.push(&vec![b'a'; MAX_FULL]);
        c.push(b"\nerror: the end\n");
        assert!(c.truncated);
        let tail = c.tail(&Redactor::default());
        assert_eq!(tail.last().unwrap(), "error: the end");
    }

    #[test]
    fn strips_colours() {
        assert_eq!(strip_ansi("\u{1b}[1;31merror\u{1b}[0m: x\r"), "error: x");
    }
}
