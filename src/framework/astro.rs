//! Astro: `astro dev` and `astro preview`, both `--port N`; Vite's env-file order.
//!
//! Build: a static build writes pages and assets to `dist`; with a server adapter the
//! browser's files are in `dist/client` and the server in `dist/server`.

use std::path::Path;

use super::model::{
    Ecosystem, Framework, Mode, Output, PortStyle, Role, ServerCommand, VITE_ENV_FILES,
};

const PORT: PortStyle = PortStyle::Flag {
    flag: "--port",
    extra: &[],
};
const PINS: &[&str] = &["--port"];

pub(crate) const ASTRO: Framework = Framework {
    id: "astro",
    name: "Astro",
    ecosystem: Ecosystem::Node,
    role: Role::Frontend,
    packages: &["astro"],
    commands: &[
        ServerCommand::new(&["astro", "dev"], Mode::Dev, PORT, PINS),
        ServerCommand::new(&["astro", "preview"], Mode::Prod, PORT, PINS),
    ],
    url_markers: &["Local"],
    env_files: VITE_ENV_FILES,
    outputs,
    ..Framework::BASE
};

fn outputs(_app: &Path) -> Vec<Output> {
    vec![Output::at_root("dist/client"), Output::at_root("dist")]
}
