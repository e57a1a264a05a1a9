//! Create React App: `react-scripts start` is the development server only; it reads `PORT`
//! and, unless `BROWSER=none`, tries to open a browser. The production app is the static
//! `build/` directory, served by any static server.
//!
//! Build: `react-scripts build` writes pages and assets to `build`.

use std::path::Path;

use super::model::{
    Ecosystem, FLOW_ENV_FILES, Framework, Mode, Output, PortStyle, Role, ServerCommand,
};

pub(crate) const CRA: Framework = Framework {
    id: "cra",
    name: "Create React App",
    ecosystem: Ecosystem::Node,
    role: Role::Frontend,
    packages: &["react-scripts"],
    commands: &[ServerCommand {
        env: &[("BROWSER", "none")],
        ..ServerCommand::new(
            &["react-scripts", "start"],
            Mode::Dev,
            PortStyle::Env("PORT"),
            &["PORT="],
        )
    }],
    url_markers: &["Local:"],
    env_files: FLOW_ENV_FILES,
    no_prod_server: Some(
        "react-scripts start is the development server; a Create React App is deployed as the static files of build/ (serve them with a static server, e.g. `npx serve -s build`)",
    ),
    outputs,
    ..Framework::BASE
};

fn outputs(_app: &Path) -> Vec<Output> {
    vec![Output::at_root("build")]
}
