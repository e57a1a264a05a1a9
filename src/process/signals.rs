//! The signals that end a run early — SIGINT (Ctrl-C), SIGTERM (a supervisor, `kill`) and
//! SIGHUP (a closed terminal, a CI runner cancelling a step) — caught for the whole run so each
//! one stops every process the run started and still writes the partial report.
//!
//! The handlers are installed once, before any gate starts: a signal that arrives while the
//! project is still being loaded must not kill the tool with the default action and no report.

use std::fmt;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Which signal interrupted the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    Int,
    Term,
    Hup,
}

impl Interrupt {
    /// The conventional name: `SIGINT`, `SIGTERM`, `SIGHUP`.
    pub fn name(self) -> &'static str {
        match self {
            Interrupt::Int => "SIGINT",
            Interrupt::Term => "SIGTERM",
            Interrupt::Hup => "SIGHUP",
        }
    }

    /// Parse a name written by [`Interrupt::name`].
    pub fn parse(name: &str) -> Option<Interrupt> {
        match name {
            "SIGINT" => Some(Interrupt::Int),
            "SIGTERM" => Some(Interrupt::Term),
            "SIGHUP" => Some(Interrupt::Hup),
            _ => None,
        }
    }
}

impl fmt::Display for Interrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The installed handlers. Once installed they stay for the life of the process, so a second
/// signal during the clean-up is absorbed instead of killing the tool half-way through it.
#[derive(Debug)]
pub struct Signals {
    int: Option<Signal>,
    term: Option<Signal>,
    hup: Option<Signal>,
}

impl Signals {
    /// Install the three handlers. One that cannot be installed is logged and never fires.
    pub fn install() -> Signals {
        let install = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("cannot handle {name}: {e}");
                None
            }
        };
        Signals {
            int: install(SignalKind::interrupt(), "SIGINT"),
            term: install(SignalKind::terminate(), "SIGTERM"),
            hup: install(SignalKind::hangup(), "SIGHUP"),
        }
    }

    /// Wait for the next of the three signals.
    pub async fn recv(&mut self) -> Interrupt {
        async fn next(s: Option<&mut Signal>) {
            match s {
                Some(s) => {
                    if s.recv().await.is_none() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            () = next(self.int.as_mut()) => Interrupt::Int,
            () = next(self.term.as_mut()) => Interrupt::Term,
            () = next(self.hup.as_mut()) => Interrupt::Hup,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for i in [Interrupt::Int, Interrupt::Term, Interrupt::Hup] {
            assert_eq!(Interrupt::parse(i.name()), Some(i));
        }
        assert_eq!(Interrupt::parse("SIGKILL"), None);
    }
}
