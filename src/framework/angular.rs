//! Angular: `ng serve --port N` is the development server; the production app is the static
//! `dist/<project>/browser` output.

use super::model::{Ecosystem, Framework, Mode, PortStyle, Role, ServerCommand};

pub(crate) const ANGULAR: Framework = Framework {
    id: "angular",
    name: "Angular",
    ecosystem: Ecosystem::Node,
    role: Role::Frontend,
    packages: &["@angular/cli", "@angular/core"],
    commands: &[ServerCommand::new(
        &["ng", "serve"],
        Mode::Dev,
        PortStyle::Flag {
            flag: "--port",
            extra: &[],
        },
        &["--port"],
    )],
    default_port: Some(4200),
    url_markers: &["Local:", "listening on"],
    no_prod_server: Some(
        "ng serve is the development server; an Angular app is deployed as the static files of dist/ (serve them with a static server)",
    ),
    ..Framework::BASE
};
