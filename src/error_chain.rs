//! One way to turn an error into the sentence a user reads: its own message, then each cause in
//! its `source()` chain, `: `-separated. Error enums keep their causes in `#[source]` rather than
//! pasting them into their text (so the chain never prints one twice); this is where the chain
//! is written out for a report message or a file error.

use std::error::Error;
use std::fmt::Write as _;

/// `err` and every cause below it: `invalid version specifier ">=>1": Failed to parse …`.
pub fn chain(err: &(dyn Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let _ = write!(out, ": {cause}");
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::chain;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read {path}")]
    struct Outer {
        path: String,
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn every_cause_once() {
        let err = Outer {
            path: "a.txt".into(),
            source: std::io::Error::other("disk on fire"),
        };
        assert_eq!(chain(&err), "cannot read a.txt: disk on fire");
        assert_eq!(chain(&std::io::Error::other("alone")), "alone");
    }
}
