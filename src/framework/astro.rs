//! Astro: `astro dev` and `astro preview`, both `--port N`; Vite's env-file order.

use super::model::{Ecosystem, Framework, Mode, PortStyle, Role, ServerCommand, VITE_ENV_FILES};

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
    default_port: Some(4321),
    url_markers: &["Local"],
    env_files: VITE_ENV_FILES,
    ..Framework::BASE
};
