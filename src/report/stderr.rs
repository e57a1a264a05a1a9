//! Log lines on stderr, redacted: tracing writes each formatted event into a
//! [`RedactingStderr`] line buffer, which redacts the whole line before it reaches stderr (a
//! secret split across two `write` calls would slip past a per-call filter).

use std::io::{self, Write};

/// A `tracing_subscriber` writer for stderr that redacts every log line.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactingStderr;

/// One log event being formatted; written out, redacted and escaped, when dropped.
pub struct LineBuffer(Vec<u8>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = LineBuffer;

    fn make_writer(&'a self) -> LineBuffer {
        LineBuffer(Vec::new())
    }
}

impl Write for LineBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.0);
        let text = crate::redact::current().redact(&text);
        super::progress::log(&text);
    }
}
