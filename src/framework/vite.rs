//! Vite: the dev server (`vite`, `vite dev`, `vite serve`) and `vite preview`. Vite ignores
//! `PORT`; it takes `--port N`, and without `--strictPort` it silently moves to the next free
//! port when N is taken. It prints `Local:   http://localhost:5173/`.
//!
//! Build: `vite build` writes pages and assets to `dist`.

use std::path::Path;

use super::model::{
    Ecosystem, Framework, Mode, Output, PortStyle, Role, ServerCommand, VITE_ENV_FILES,
};

const PORT: PortStyle = PortStyle::Flag {
    flag: "--port",
    extra: &["--strictPort"],
};
const PINS: &[&str] = &["--port"];

pub(crate) const VITE: Framework = Framework {
    id: "vite",
    name: "Vite",
    ecosystem: Ecosystem::Node,
    role: Role::Frontend,
    packages: &["vite"],
    commands: &[
        ServerCommand::new(&["vite", "dev"], Mode::Dev, PORT, PINS),
        ServerCommand::new(&["vite", "serve"], Mode::Dev, PORT, PINS),
        ServerCommand::new(&["vite", "preview"], Mode::Prod, PORT, PINS),
        ServerCommand::new(&["vite"], Mode::Dev, PORT, PINS),
    ],
    url_markers: &["Local:"],
    env_files: VITE_ENV_FILES,
    outputs,
    ..Framework::BASE
};

fn outputs(_app: &Path) -> Vec<Output> {
    vec![Output::at_root("dist")]
}
