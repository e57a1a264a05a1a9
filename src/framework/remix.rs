//! Remix: `remix vite:dev` (Vite's `--port N`) and `remix-serve build/server/index.js`, which
//! reads `PORT`.
//!
//! Build: the Vite build writes the browser's files to `build/client` (the server to
//! `build/server`); classic Remix wrote them to `public/build`, served at `/build`.

use std::path::Path;

use super::model::{
    Ecosystem, Framework, Mode, Output, PortStyle, Role, ServerCommand, VITE_ENV_FILES,
};

pub(crate) const REMIX: Framework = Framework {
    id: "remix",
    name: "Remix",
    ecosystem: Ecosystem::Node,
    role: Role::FullStack,
    packages: &["@remix-run/dev", "@remix-run/serve", "@remix-run/react"],
    commands: &[
        ServerCommand::new(
            &["remix", "vite:dev"],
            Mode::Dev,
            PortStyle::Flag {
                flag: "--port",
                extra: &["--strictPort"],
            },
            &["--port"],
        ),
        ServerCommand::new(
            &["remix-serve", "*"],
            Mode::Prod,
            PortStyle::Env("PORT"),
            &["PORT="],
        ),
    ],
    url_markers: &["Local:", "[remix-serve]"],
    env_files: VITE_ENV_FILES,
    outputs,
    ..Framework::BASE
};

fn outputs(_app: &Path) -> Vec<Output> {
    vec![
        Output::at_root("build/client"),
        Output {
            dir: "public/build".to_owned(),
            public_path: "/build".to_owned(),
            pages: Vec::new(),
        },
    ]
}
