//! Django: `manage.py runserver [addr:]port` is the development server; it prints
//! `Starting development server at http://127.0.0.1:8000/`. In production a WSGI/ASGI server
//! (gunicorn, uvicorn) runs `project.wsgi` / `project.asgi`.

use super::model::{Ecosystem, Framework, Mode, PortStyle, Role, ServerCommand};

pub(crate) const DJANGO: Framework = Framework {
    id: "django",
    name: "Django",
    ecosystem: Ecosystem::Python,
    role: Role::Backend,
    packages: &["django"],
    commands: &[
        ServerCommand::new(
            &["manage.py", "runserver"],
            Mode::Dev,
            PortStyle::Positional,
            &[],
        ),
        ServerCommand::new(
            &["django-admin", "runserver"],
            Mode::Dev,
            PortStyle::Positional,
            &[],
        ),
    ],
    url_markers: &["development server at"],
    ..Framework::BASE
};
