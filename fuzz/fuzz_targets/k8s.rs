#![no_main]
//! Fuzz target `k8s`: see `devops_agent::fuzz::run`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| devops_agent::fuzz::run("k8s", data));
