#![no_main]
//! Fuzz target `interpolation`: see `devops_agent::fuzz::run`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| devops_agent::fuzz::run("interpolation", data));
