//! Nuxt: `nuxt dev` / `nuxi dev` (`--port N`), `nuxt preview`, and the built Nitro server
//! `node .output/server/index.mjs`, which reads `PORT`.
//!
//! Build: `nuxt build` (Nitro) writes what the browser loads to `.output/public`, served at
//! `/`; the server is `.output/server`.

use std::path::Path;

use super::model::{Ecosystem, Framework, Mode, Output, PortStyle, Role, ServerCommand};

const PORT: PortStyle = PortStyle::Flag {
    flag: "--port",
    extra: &[],
};
const PINS: &[&str] = &["--port", "-p", "PORT="];

pub(crate) const NUXT: Framework = Framework {
    id: "nuxt",
    name: "Nuxt",
    ecosystem: Ecosystem::Node,
    role: Role::FullStack,
    packages: &["nuxt"],
    commands: &[
        ServerCommand::new(&["nuxt", "dev"], Mode::Dev, PORT, PINS),
        ServerCommand::new(&["nuxi", "dev"], Mode::Dev, PORT, PINS),
        ServerCommand::new(&["nuxt", "preview"], Mode::Prod, PORT, PINS),
        ServerCommand::new(&["nuxi", "preview"], Mode::Prod, PORT, PINS),
        ServerCommand::new(
            &["node", ".output/server/index.mjs"],
            Mode::Prod,
            PortStyle::Env("PORT"),
            &["PORT="],
        ),
    ],
    url_markers: &["Local:"],
    outputs,
    ..Framework::BASE
};

fn outputs(_app: &Path) -> Vec<Output> {
    vec![Output::at_root(".output/public")]
}
