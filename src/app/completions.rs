//! `completions SHELL`: `clap_complete`'s script for the shell, with two of its defects for this
//! binary's name and help text repaired.
//!
//! * bash: `clap_complete` names the dispatch variable `cmd` after the binary with `-` turned into
//!   `__` (`devops__agent__subcmd__validate`) but the `case` arms that complete a subcommand's
//!   flags with `-` turned into `__subcmd__` (`devops__subcmd__agent__subcmd__validate`), so for
//!   a hyphenated binary nothing below the top level completes (`validate --format <TAB>`
//!   offered nothing). The arms are renamed to the names the dispatch uses.
//! * fish: value descriptions are emitted inside double quotes (`-a "github\t'…'"`), where fish
//!   expands variables, so the `$GITHUB_STEP_SUMMARY` of the github format's description was
//!   replaced by the variable's value (or nothing) when the script was sourced. `$` inside
//!   those strings is escaped.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// The binary's name, as users type it and the script registers it.
const BIN: &str = "devops-agent";

/// The completion script for `shell`.
pub(super) fn script(shell: Shell) -> String {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN, &mut out);
    let script = String::from_utf8_lossy(&out).into_owned();
    match shell {
        Shell::Bash => repair_bash(&script),
        Shell::Fish => escape_fish_values(&script),
        _ => script,
    }
}

fn repair_bash(script: &str) -> String {
    let dispatch = BIN.replace('-', "__");
    let arms = BIN.replace('-', "__subcmd__");
    if dispatch == arms {
        return script.to_owned();
    }
    script.replace(&arms, &dispatch)
}

/// Escape `$` inside every `-a "…"` argument of the fish script (and nowhere else: the
/// helper functions at the top use `$cmd` and `$argv` as variables).
fn escape_fish_values(script: &str) -> String {
    let mut out = String::with_capacity(script.len());
    let mut in_values = false;
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        if in_values {
            match c {
                '\\' => {
                    out.push(c);
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                }
                '"' => {
                    in_values = false;
                    out.push(c);
                }
                '$' => out.push_str("\\$"),
                _ => out.push(c),
            }
            continue;
        }
        out.push(c);
        if c == '"' && out.ends_with(" -a \"") {
            in_values = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_arms_match_the_dispatch_names() {
        let script = script(Shell::Bash);
        assert!(!script.contains("devops__subcmd__agent"));
        assert!(script.contains("cmd=\"devops__agent__subcmd__validate\""));
        assert!(script.contains("\n        devops__agent__subcmd__validate)\n"));
    }

    #[test]
    fn fish_value_descriptions_are_not_expanded() {
        let script = script(Shell::Fish);
        assert!(script.contains("\\$GITHUB_STEP_SUMMARY"), "{script}");
        assert!(!script.contains(" $GITHUB_STEP_SUMMARY"));
        // The helper functions keep their variables.
        assert!(script.contains("test -z \"$cmd\""));
        assert_eq!(
            escape_fish_values("complete -c x -a \"a\\t'$HOME \\\"q\\\"' b\" -d '$X'\ntest \"$y\""),
            "complete -c x -a \"a\\t'\\$HOME \\\"q\\\"' b\" -d '$X'\ntest \"$y\""
        );
    }
}
