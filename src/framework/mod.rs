//! The framework catalogue: everything devops-agent knows about the web frameworks and servers
//! it meets, one file per framework, each the same [`Framework`] shape — how to recognise it,
//! its server commands for development and production, how each takes its port, where it
//! prints its URL, which `.env` files it loads. Gates ask the catalogue instead of carrying
//! their own guesses, so a fact about Vite is written once.

#![allow(
    clippy::needless_update,
    reason = "every entry ends with `..Framework::BASE`, so a new field touches only the entries that know it"
)]
#![expect(
    clippy::doc_markdown,
    reason = "framework names (SvelteKit, FastAPI) are names, not code"
)]

mod angular;
mod astro;
mod catalogue;
mod command;
mod cra;
mod django;
mod fastapi;
mod flask;
mod gunicorn;
mod log_url;
mod model;
mod next;
mod node;
mod nuxt;
mod rails;
mod remix;
/// The catalogue as rows (`rows::catalogue()`) and the README tables rendered from them.
pub(crate) mod rows;
mod sveltekit;
mod vite;

pub(crate) use catalogue::{by_id, detect, recognise};
pub(crate) use command::{pinned_port, segments, with_port};
pub(crate) use log_url::urls_in_log;
pub(crate) use model::{DevBuild, Ecosystem, Framework, Mode, Output, PortStyle, Role};
pub(crate) use vite::CONFIGS as VITE_CONFIGS;
