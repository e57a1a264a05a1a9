//! The deps gate: every declared dependency of every manifest (Node, Python, Rust, Go) is
//! installed where the application loads it from, lock files are present, valid and in sync,
//! installed versions satisfy their ranges transitively, and npm peer dependencies are met.

mod cargo;
mod discover;
#[doc(hidden)]
pub mod fuzz;
mod gate;
mod gomod;
mod lines;
mod node;
mod node_lock;
mod node_shape;
mod node_tree;
mod npm_spec;
mod npmrc;
mod outcome;
mod pep508;
mod py_env;
mod py_lock;
mod py_manifest;
mod python;
mod read;

pub use gate::run;
pub(crate) use node::{expand_workspaces, pnpm_workspaces};
pub(crate) use outcome::DepsEvidence;
pub(crate) use py_env::locate as locate_venv;
