#![no_main]
//! Fuzz target `nginx`: see `devops_agent::fuzz::run`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| devops_agent::fuzz::run("nginx", data));
