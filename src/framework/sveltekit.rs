//! SvelteKit: Vite's dev server and `vite preview`, and in production the Node adapter's
//! `node build`, which reads `PORT`.
//!
//! Build: `vite build` writes the client bundle to `.svelte-kit/output/client` (with a Vite
//! manifest), then the adapter copies it to its own output: adapter-node `build/client` with
//! prerendered pages in `build/prerendered`, adapter-static `build`. The server bundle
//! (`build/server`, `.svelte-kit/output/server`) is not for the browser.

use std::path::Path;

use super::model::{
    Ecosystem, Framework, Mode, Output, PortStyle, Role, ServerCommand, VITE_ENV_FILES,
};

const PORT: PortStyle = PortStyle::Flag {
    flag: "--port",
    extra: &["--strictPort"],
};
const PINS: &[&str] = &["--port"];

pub(crate) const SVELTEKIT: Framework = Framework {
    id: "sveltekit",
    name: "SvelteKit",
    ecosystem: Ecosystem::Node,
    role: Role::FullStack,
    packages: &["@sveltejs/kit"],
    commands: &[
        ServerCommand::new(&["vite", "dev"], Mode::Dev, PORT, PINS),
        ServerCommand::new(&["vite", "preview"], Mode::Prod, PORT, PINS),
        ServerCommand::new(&["vite"], Mode::Dev, PORT, PINS),
        ServerCommand::new(
            &["node", "build"],
            Mode::Prod,
            PortStyle::Env("PORT"),
            &["PORT="],
        ),
    ],
    url_markers: &["Local:"],
    env_files: VITE_ENV_FILES,
    outputs,
    output_config: Some(
        "svelte.config.js adapter: adapter-static's `build` first; adapter-node's `build/client` (pages in `build/prerendered`) after",
    ),
    ..Framework::BASE
};

fn outputs(app: &Path) -> Vec<Output> {
    let config = ["svelte.config.js", "svelte.config.mjs", "svelte.config.ts"]
        .iter()
        .find_map(|f| std::fs::read_to_string(app.join(f)).ok())
        .unwrap_or_default();
    // adapter-static's `build` holds the pages and assets as deployed. Otherwise the client
    // bundle in `.svelte-kit/output/client` comes first: it carries the Vite manifest that
    // lists every asset (adapter-node copies the same files to `build/client`, without it).
    let kit_client = Output {
        dir: ".svelte-kit/output/client".to_owned(),
        public_path: "/".to_owned(),
        pages: vec![".svelte-kit/output/prerendered/pages".to_owned()],
    };
    let mut out = Vec::new();
    if config.contains("adapter-static") {
        out.push(Output::at_root("build"));
    }
    out.push(kit_client);
    if config.contains("adapter-node") {
        out.push(Output {
            dir: "build/client".to_owned(),
            public_path: "/".to_owned(),
            pages: vec!["build/prerendered".to_owned()],
        });
    }
    out
}
