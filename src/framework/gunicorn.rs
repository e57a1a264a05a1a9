//! gunicorn, the WSGI server: `--bind HOST:PORT` (`-b`); with no bind it listens on `$PORT`
//! when set, else 127.0.0.1:8000. It prints `Listening at: http://127.0.0.1:8000 (pid)`.

use super::model::{Ecosystem, Framework, Mode, PortStyle, Role, ServerCommand};

const PORT: PortStyle = PortStyle::Bind("--bind");
const PINS: &[&str] = &["-b", "--bind"];

pub(crate) const GUNICORN: Framework = Framework {
    id: "gunicorn",
    name: "gunicorn",
    ecosystem: Ecosystem::Python,
    role: Role::Backend,
    packages: &["gunicorn"],
    commands: &[
        ServerCommand::new(&["gunicorn", "*"], Mode::Either, PORT, PINS),
        ServerCommand::new(&["gunicorn"], Mode::Either, PORT, PINS),
    ],
    url_markers: &["Listening at:"],
    ..Framework::BASE
};
