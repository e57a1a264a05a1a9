//! Next.js: `next dev` and `next start`, both taking `-p N` (and reading `PORT`). `next start`
//! serves the production build and refuses to start without one (`.next/BUILD_ID`, written by
//! `next build`). It prints `- Local:        http://localhost:3000`.

use super::model::{Ecosystem, FLOW_ENV_FILES, Framework, Mode, PortStyle, Role, ServerCommand};

const PORT: PortStyle = PortStyle::Flag {
    flag: "-p",
    extra: &[],
};
const PINS: &[&str] = &["-p", "--port", "PORT="];

pub(crate) const NEXT: Framework = Framework {
    id: "next",
    name: "Next.js",
    ecosystem: Ecosystem::Node,
    role: Role::FullStack,
    packages: &["next"],
    commands: &[
        ServerCommand::new(&["next", "dev"], Mode::Dev, PORT, PINS),
        ServerCommand {
            needs_build: Some((".next/BUILD_ID", "next build")),
            ..ServerCommand::new(&["next", "start"], Mode::Prod, PORT, PINS)
        },
        ServerCommand::new(&["next"], Mode::Dev, PORT, PINS),
    ],
    default_port: Some(3000),
    url_markers: &["Local:"],
    env_files: FLOW_ENV_FILES,
    ..Framework::BASE
};
