//! Plain Node servers (Express, Fastify, Koa, Hapi, socket.io): `node server.js` and the
//! watchers around it read `PORT` — the convention every Node host (Heroku, Render, Cloud Run)
//! relies on. `npm start` with no `start` script runs `node server.js`.

use super::model::{Ecosystem, Framework, Mode, PortStyle, Role, ServerCommand};

const PORT: PortStyle = PortStyle::Env("PORT");
const PINS: &[&str] = &["PORT="];

pub(crate) const NODE: Framework = Framework {
    id: "node",
    name: "Node server (Express, Fastify, Koa, Hapi)",
    ecosystem: Ecosystem::Node,
    role: Role::Backend,
    packages: &[
        "express",
        "fastify",
        "koa",
        "@hapi/hapi",
        "socket.io",
        "restify",
    ],
    commands: &[
        ServerCommand::new(&["node", "--watch", "*"], Mode::Dev, PORT, PINS),
        ServerCommand::new(&["node", "*"], Mode::Either, PORT, PINS),
        ServerCommand::new(&["nodemon", "*"], Mode::Dev, PORT, PINS),
        ServerCommand::new(&["nodemon"], Mode::Dev, PORT, PINS),
        ServerCommand::new(&["tsx", "watch", "*"], Mode::Dev, PORT, PINS),
        ServerCommand::new(&["tsx", "*"], Mode::Either, PORT, PINS),
        ServerCommand::new(&["ts-node", "*"], Mode::Either, PORT, PINS),
    ],
    url_markers: &["listening", "Listening", "running"],
    ..Framework::BASE
};
