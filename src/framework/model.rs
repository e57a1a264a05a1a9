//! The shape every catalogue entry has.

use std::path::Path;

/// Which package ecosystem a framework lives in (where its packages are declared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ecosystem {
    /// package.json dependencies.
    Node,
    /// requirements*.txt, pyproject.toml, Pipfile.
    Python,
    /// Gemfile.
    Ruby,
}

/// What a framework's server is to the rest of the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Serves a browser application (an `index.html` and its assets).
    Frontend,
    /// Serves an API (and maybe pages rendered on the server).
    Backend,
    /// Serves pages and their API routes from one server (Next, Nuxt, Remix, SvelteKit).
    FullStack,
}

/// Whether a server command is for development, production, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Dev,
    Prod,
    /// The same server runs both ways (`node server.js`, `uvicorn app:app`).
    Either,
}

/// How a server command takes the port to listen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PortStyle {
    /// A flag and its value (`--port N`), plus flags that make the port binding (Vite's
    /// `--strictPort`: fail instead of silently moving to the next free port).
    Flag {
        flag: &'static str,
        extra: &'static [&'static str],
    },
    /// An environment variable (`PORT`).
    Env(&'static str),
    /// An address flag with host and port (`gunicorn --bind 127.0.0.1:N`).
    Bind(&'static str),
    /// A positional `host:port` argument (`manage.py runserver 127.0.0.1:N`).
    Positional,
}

/// One server command of a framework, as written in scripts and Procfiles.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerCommand {
    /// The program (basename) and the subcommand words that follow it: `["vite", "preview"]`,
    /// `["manage.py", "runserver"]`. A bare program (`["vite"]`) matches only when what follows
    /// is a flag or nothing, so `vite build` is never taken for the dev server.
    pub(crate) words: &'static [&'static str],
    pub(crate) mode: Mode,
    pub(crate) port: PortStyle,
    /// Flags (or variables, ending in `=`) by which a command line already pins its port.
    pub(crate) pins: &'static [&'static str],
    /// Extra environment the server needs to run unattended (CRA's `BROWSER=none`).
    pub(crate) env: &'static [(&'static str, &'static str)],
    /// A file (relative to the app) that must exist first, and the command that makes it
    /// (`next start` needs `.next/BUILD_ID` from `next build`).
    pub(crate) needs_build: Option<(&'static str, &'static str)>,
}

impl ServerCommand {
    /// A server command with no extra environment and no build prerequisite.
    pub(crate) const fn new(
        words: &'static [&'static str],
        mode: Mode,
        port: PortStyle,
        pins: &'static [&'static str],
    ) -> ServerCommand {
        ServerCommand {
            words,
            mode,
            port,
            pins,
            env: &[],
            needs_build: None,
        }
    }
}

/// A framework or server, as the catalogue knows it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Framework {
    /// Stable identifier (`vite`), used in evidence.
    pub(crate) id: &'static str,
    /// Display name (`Vite`).
    pub(crate) name: &'static str,
    pub(crate) ecosystem: Ecosystem,
    pub(crate) role: Role,
    /// Packages whose presence among the dependencies says the app uses it, most specific
    /// first. Meta-frameworks come before the tools they build on in [`super::ALL`].
    pub(crate) packages: &'static [&'static str],
    /// Its server commands.
    pub(crate) commands: &'static [ServerCommand],
    /// Text before the URL in the line where it announces it is listening (`Local:`).
    pub(crate) url_markers: &'static [&'static str],
    /// The `.env` files it loads, lowest precedence first; `{mode}` is `development` or
    /// `production`. Variables already in the process environment win over all of them.
    pub(crate) env_files: &'static [&'static str],
    /// Why there is no production server to start, when there is none (CRA, Angular: the
    /// production app is the static build).
    pub(crate) no_prod_server: Option<&'static str>,
    /// How its development build runs, or why it has none.
    pub(crate) dev_build: DevBuild,
    /// Where the production build puts what the browser loads, given the app directory (some
    /// name it in their own config: SvelteKit's adapter, `angular.json`). Tried in order; the
    /// first that exists after the build is measured. Empty: the generic folders (`dist`,
    /// `build`, `out`, `public/build`).
    pub(crate) outputs: fn(&Path) -> Vec<Output>,
    /// What in the app's own configuration changes [`Framework::outputs`], when something does
    /// (SvelteKit's adapter, `angular.json`): the catalogue's documentation says it beside the
    /// folders an unconfigured app gets.
    pub(crate) output_config: Option<&'static str>,
    /// Build output lines that are warnings the generic build-output parser does not see.
    pub(crate) build_warnings: &'static [WarningPattern],
}

impl Framework {
    /// Fields every entry starts from (`..Framework::BASE`), so a new fact is one new field
    /// here and one line in the files that know it.
    pub(crate) const BASE: Framework = Framework {
        id: "",
        name: "",
        ecosystem: Ecosystem::Node,
        role: Role::Backend,
        packages: &[],
        commands: &[],
        url_markers: &[],
        env_files: &[".env"],
        no_prod_server: None,
        dev_build: DevBuild::Script,
        outputs: no_outputs,
        output_config: None,
        build_warnings: &[],
    };

    /// The `.env` files for `mode` (`development`/`production`), lowest precedence first.
    pub(crate) fn env_files_for(&self, mode: &str) -> Vec<String> {
        self.env_files
            .iter()
            .map(|f| f.replace("{mode}", mode))
            .collect()
    }
}

/// Vite's order (and SvelteKit's, Astro's, Remix-on-Vite's): `.env`, `.env.local`,
/// `.env.[mode]`, `.env.[mode].local`; later wins.
pub(crate) const VITE_ENV_FILES: &[&str] =
    &[".env", ".env.local", ".env.{mode}", ".env.{mode}.local"];

/// dotenv-flow's order, used by CRA and Next: `.env`, `.env.[mode]`, `.env.local`,
/// `.env.[mode].local`; later wins.
pub(crate) const FLOW_ENV_FILES: &[&str] =
    &[".env", ".env.{mode}", ".env.local", ".env.{mode}.local"];

fn no_outputs(_app: &Path) -> Vec<Output> {
    Vec::new()
}

/// How a framework builds for development.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DevBuild {
    /// The project's build script under `NODE_ENV=development` (or its `build:dev` script).
    Script,
    /// The framework has no development build; `build.dev_build` is skipped with this reason.
    None(&'static str),
}

/// A build output folder: what the browser loads and where it is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Output {
    /// Client files, relative to the app: everything under it counts for the browser budget.
    pub(crate) dir: String,
    /// URL path the folder is served at (`/` for most; `/_next/static` for Next).
    pub(crate) public_path: String,
    /// Where the built HTML pages are, relative to the app, when not inside `dir` (each folder
    /// that exists after the build is read).
    pub(crate) pages: Vec<String>,
}

impl Output {
    /// Client files in `dir` served at `/`, pages among them.
    pub(crate) fn at_root(dir: &str) -> Output {
        Output {
            dir: dir.to_owned(),
            public_path: "/".to_owned(),
            pages: Vec::new(),
        }
    }
}

/// A warning line a framework prints while building.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WarningPattern {
    /// Text the line contains.
    pub(crate) contains: &'static str,
    /// The warning as reported.
    pub(crate) message: &'static str,
}
