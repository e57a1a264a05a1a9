//! Vite: the dev server (`vite`, `vite dev`, `vite serve`) and `vite preview`. Vite ignores
//! `PORT`; it takes `--port N`, and without `--strictPort` it silently moves to the next free
//! port when N is taken. It prints `Local:   http://localhost:5173/`.
//!
//! Build: `vite build` writes pages and assets to `dist`, or to the `build.outDir` its config
//! names as a string literal (`outDir: "../server/public"`, relative to the app).

use std::path::Path;

use super::model::{
    Ecosystem, Framework, Mode, Output, PortStyle, Role, ServerCommand, VITE_ENV_FILES,
};

const PORT: PortStyle = PortStyle::Flag {
    flag: "--port",
    extra: &["--strictPort"],
};
const PINS: &[&str] = &["--port"];

pub(crate) const VITE: Framework = Framework {
    id: "vite",
    name: "Vite",
    ecosystem: Ecosystem::Node,
    role: Role::Frontend,
    packages: &["vite"],
    commands: &[
        ServerCommand::new(&["vite", "dev"], Mode::Dev, PORT, PINS),
        ServerCommand::new(&["vite", "serve"], Mode::Dev, PORT, PINS),
        ServerCommand::new(&["vite", "preview"], Mode::Prod, PORT, PINS),
        ServerCommand::new(&["vite"], Mode::Dev, PORT, PINS),
    ],
    url_markers: &["Local:"],
    env_files: VITE_ENV_FILES,
    outputs,
    output_config: Some("vite.config.* `build.outDir` written as a string literal"),
    ..Framework::BASE
};

/// The config files Vite loads, in the order it looks for them.
pub(crate) const CONFIGS: &[&str] = &[
    "vite.config.js",
    "vite.config.mjs",
    "vite.config.ts",
    "vite.config.cjs",
    "vite.config.mts",
    "vite.config.cts",
];

fn outputs(app: &Path) -> Vec<Output> {
    let configured = CONFIGS
        .iter()
        .find_map(|f| std::fs::read_to_string(app.join(f)).ok())
        .and_then(|text| string_field(&text, "outDir"));
    vec![Output::at_root(configured.as_deref().unwrap_or("dist"))]
}

/// The string literal after `key:` (`outDir: '../server/public'`), when the config writes one:
/// an expression (`resolve(__dirname, 'out')`, a template with `${…}`) is not evaluated, and
/// the default applies. A literal that is empty or absolute is not an output folder of the app.
fn string_field(text: &str, key: &str) -> Option<String> {
    let mut rest = text;
    while let Some(at) = rest.find(key) {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + key.len()..];
        rest = after;
        // A whole identifier, possibly quoted as an object key ("outDir":).
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '.') {
            continue;
        }
        let after = after.trim_start_matches(['"', '\'']).trim_start();
        let Some(value) = after.strip_prefix(':') else {
            continue;
        };
        let value = value.trim_start();
        let quote = value
            .chars()
            .next()
            .filter(|c| matches!(c, '"' | '\'' | '`'))?;
        let body = &value[1..];
        let end = body.find(quote)?;
        let literal = &body[..end];
        if literal.is_empty()
            || literal.starts_with('/')
            || literal.contains('\\')
            || (quote == '`' && literal.contains("${"))
        {
            return None;
        }
        return Some(literal.trim_end_matches('/').to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::string_field;

    #[test]
    fn out_dir_is_read_from_a_literal_only() {
        let cfg = "export default defineConfig({\n  build: {\n    outDir: \"../backend/dist/public\",\n  },\n})";
        assert_eq!(
            string_field(cfg, "outDir").as_deref(),
            Some("../backend/dist/public")
        );
        assert_eq!(
            string_field("build: { 'outDir': 'www/' }", "outDir").as_deref(),
            Some("www")
        );
        assert_eq!(
            string_field("build: { outDir: `out` }", "outDir").as_deref(),
            Some("out")
        );
        // Expressions are not evaluated; the default stays.
        assert_eq!(
            string_field("outDir: resolve(__dirname, 'out')", "outDir"),
            None
        );
        assert_eq!(string_field("outDir: `${root}/out`", "outDir"), None);
        assert_eq!(string_field("outDir: '/srv/www'", "outDir"), None);
        // Another identifier that ends in the key is not it.
        assert_eq!(string_field("myoutDir: 'x'", "outDir"), None);
        assert_eq!(string_field("plugins: [react()]", "outDir"), None);
    }
}
