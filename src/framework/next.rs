//! Next.js: `next dev` and `next start`, both taking `-p N` (and reading `PORT`). `next start`
//! serves the production build and refuses to start without one (`.next/BUILD_ID`, written by
//! `next build`). It prints `- Local:        http://localhost:3000`.
//!
//! Build: `next build` is the only build (there is none for development: under
//! `NODE_ENV=development` it fails prerendering `/404`). Client assets land in `.next/static`,
//! served at `/_next/static`; prerendered pages are in `.next/server/app` (App Router) or
//! `.next/server/pages`. The rest of `.next` (the server bundle, `standalone/` with its own
//! `node_modules`) never reaches the browser.

use std::path::Path;

use super::model::{
    DevBuild, Ecosystem, FLOW_ENV_FILES, Framework, Mode, Output, PortStyle, Role, ServerCommand,
    WarningPattern,
};

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
    url_markers: &["Local:"],
    env_files: FLOW_ENV_FILES,
    dev_build: DevBuild::None(
        "Next.js has no development build: `next dev` compiles on demand, and `next build` under NODE_ENV=development fails",
    ),
    outputs,
    build_warnings: &[WarningPattern {
        contains: "non-standard \"NODE_ENV\"",
        message: "Next.js: a non-standard NODE_ENV value is set in the build environment; Next warns that this creates inconsistencies",
    }],
    ..Framework::BASE
};

fn outputs(_app: &Path) -> Vec<Output> {
    vec![Output {
        dir: ".next/static".to_owned(),
        public_path: "/_next/static".to_owned(),
        pages: vec![
            ".next/server/app".to_owned(),
            ".next/server/pages".to_owned(),
        ],
    }]
}
