//! FastAPI and the ASGI servers it runs on: `uvicorn module:app` (`--port N`; `--reload` in
//! development), `fastapi dev` / `fastapi run`. Uvicorn prints
//! `Uvicorn running on http://127.0.0.1:8000`.

use super::model::{Ecosystem, Framework, Mode, PortStyle, Role, ServerCommand};

const PORT: PortStyle = PortStyle::Flag {
    flag: "--port",
    extra: &[],
};
const PINS: &[&str] = &["--port", "UVICORN_PORT="];

pub(crate) const FASTAPI: Framework = Framework {
    id: "fastapi",
    name: "FastAPI / uvicorn",
    ecosystem: Ecosystem::Python,
    role: Role::Backend,
    packages: &["fastapi", "uvicorn", "starlette"],
    commands: &[
        ServerCommand::new(&["fastapi", "dev"], Mode::Dev, PORT, PINS),
        ServerCommand::new(&["fastapi", "run"], Mode::Prod, PORT, PINS),
        ServerCommand::new(&["uvicorn", "*"], Mode::Either, PORT, PINS),
        ServerCommand::new(&["uvicorn"], Mode::Either, PORT, PINS),
        ServerCommand::new(
            &["hypercorn", "*"],
            Mode::Either,
            PortStyle::Bind("--bind"),
            &["-b", "--bind"],
        ),
    ],
    url_markers: &["running on", "Running on"],
    ..Framework::BASE
};
