#![no_main]
//! Fuzz target `budget_glob`: see `devops_agent::fuzz::run`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| devops_agent::fuzz::run("budget_glob", data));
