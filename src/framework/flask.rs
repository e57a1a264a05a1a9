//! Flask: `flask run` is the development server (`--port N`, `--host`); it prints
//! ` * Running on http://127.0.0.1:5000`. In production a WSGI server (gunicorn) runs the app.

use super::model::{Ecosystem, Framework, Mode, PortStyle, Role, ServerCommand};

pub(crate) const FLASK: Framework = Framework {
    id: "flask",
    name: "Flask",
    ecosystem: Ecosystem::Python,
    role: Role::Backend,
    packages: &["flask"],
    commands: &[ServerCommand::new(
        &["flask", "run"],
        Mode::Dev,
        PortStyle::Flag {
            flag: "--port",
            extra: &[],
        },
        &["--port", "-p", "FLASK_RUN_PORT="],
    )],
    url_markers: &["Running on"],
    ..Framework::BASE
};
