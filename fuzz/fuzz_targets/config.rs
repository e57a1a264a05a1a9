#![no_main]
//! Fuzz target `config`: see `devops_agent::fuzz::run`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| devops_agent::fuzz::run("config", data));
