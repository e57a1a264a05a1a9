#![no_main]
//! Fuzz target `package_json`: see `devops_agent::fuzz::run`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| devops_agent::fuzz::run("package_json", data));
