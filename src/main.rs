//! The `devops-agent` binary: everything lives in the library so tests can drive it.

fn main() -> std::process::ExitCode {
    devops_agent::run()
}
