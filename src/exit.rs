//! Exit codes, in one place. CI gates on these; they are part of the contract in SPEC.md.

/// Every required check passed or warned: the story is deployment ready.
pub const READY: u8 = 0;
/// At least one required check failed: not deployment ready.
pub const NOT_READY: u8 = 1;
/// Usage or configuration error: bad flags, an invalid `devops-agent.toml`, or a check that could
/// not run because a file it reads is malformed (the report names the file). The verdict is unknown.
pub const USAGE_OR_CONFIG: u8 = 2;
/// Interrupted by Ctrl-C or SIGTERM; the partial report is still written.
pub const INTERRUPTED: u8 = 130;
/// Stopped by SIGHUP (a closed terminal, a cancelled CI step); the partial report is still
/// written.
pub const HANGUP: u8 = 129;
