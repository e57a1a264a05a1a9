//! Rails: `rails server` (`-p N`; Puma also reads `PORT`); it prints
//! `Listening on http://127.0.0.1:3000`.

use super::model::{Ecosystem, Framework, Mode, PortStyle, Role, ServerCommand};

const PORT: PortStyle = PortStyle::Flag {
    flag: "-p",
    extra: &[],
};
const PINS: &[&str] = &["-p", "--port", "PORT="];

pub(crate) const RAILS: Framework = Framework {
    id: "rails",
    name: "Ruby on Rails",
    ecosystem: Ecosystem::Ruby,
    role: Role::Backend,
    packages: &["rails"],
    commands: &[
        ServerCommand::new(&["rails", "server"], Mode::Either, PORT, PINS),
        ServerCommand::new(&["rails", "s"], Mode::Either, PORT, PINS),
        ServerCommand::new(&["puma"], Mode::Either, PORT, PINS),
        ServerCommand::new(&["puma", "*"], Mode::Either, PORT, PINS),
    ],
    url_markers: &["Listening on"],
    ..Framework::BASE
};
