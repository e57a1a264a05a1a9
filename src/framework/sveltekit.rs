//! SvelteKit: Vite's dev server and `vite preview`, and in production the Node adapter's
//! `node build`, which reads `PORT`.

use super::model::{Ecosystem, Framework, Mode, PortStyle, Role, ServerCommand, VITE_ENV_FILES};

const PORT: PortStyle = PortStyle::Flag {
    flag: "--port",
    extra: &["--strictPort"],
};
const PINS: &[&str] = &["--port"];

pub(crate) const SVELTEKIT: Framework = Framework {
    id: "sveltekit",
    name: "SvelteKit",
    ecosystem: Ecosystem::Node,
    role: Role::FullStack,
    packages: &["@sveltejs/kit"],
    commands: &[
        ServerCommand::new(&["vite", "dev"], Mode::Dev, PORT, PINS),
        ServerCommand::new(&["vite", "preview"], Mode::Prod, PORT, PINS),
        ServerCommand::new(&["vite"], Mode::Dev, PORT, PINS),
        ServerCommand::new(
            &["node", "build"],
            Mode::Prod,
            PortStyle::Env("PORT"),
            &["PORT="],
        ),
    ],
    default_port: Some(5173),
    url_markers: &["Local:"],
    env_files: VITE_ENV_FILES,
    ..Framework::BASE
};
