//! End-to-end tests: the real `devops-agent` binary on real fixture projects, real sockets and
//! real files. One test binary, a module per area.

mod advice;
mod build;
mod catalogue;
mod cdp;
mod committed_urls;
mod common;
mod contract;
mod deps;
mod frameworks;
mod hostile;
mod html;
mod integration;
mod integration_ws;
mod lifetime;
// The throwaway database servers of the probe matrices, shared with this binary's matrix.
#[path = "../../src/probe/db/matrix_servers.rs"]
mod matrix_servers;
mod mcp;
mod mermaid;
mod output;
mod policy;
mod ports;
mod ports_allocate;
mod ports_fixes;
mod progress;
mod release;
mod shell;
mod startup;
mod startup_db;
mod startup_http;
mod stock;
mod truth;
mod usage;
mod validate;
