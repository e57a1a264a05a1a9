//! The catalogue as data for people and programs: one serializable row per framework with
//! everything devops-agent knows about it (how it is recognised, its development build or why
//! it has none, its client output and the URL path it is served at, its servers per mode and
//! how each takes its port, the line where it prints its URL, its `.env` files and its build
//! warnings), and the README's tables rendered from those rows, so the documentation is the
//! code's own account and cannot drift (a test compares them).

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::catalogue::ALL;
use super::model::{DevBuild, Ecosystem, Framework, Mode, PortStyle, Role};

/// One framework, as `list` and the README show it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FrameworkRow {
    /// Stable id (`next`), as in evidence.
    pub(crate) id: &'static str,
    pub(crate) name: &'static str,
    /// `node`, `python` or `ruby`: where its packages are declared.
    pub(crate) ecosystem: &'static str,
    /// `frontend`, `backend` or `full_stack`.
    pub(crate) role: &'static str,
    /// Dependencies whose presence says the app uses it.
    pub(crate) recognised_by: Vec<&'static str>,
    /// `None` when the project's build script runs for development too; else why
    /// `build.dev_build` is skipped.
    pub(crate) no_dev_build: Option<&'static str>,
    /// Client output folders, tried in order after the production build; only the files under
    /// the first that exists count for the browser budget. Empty: the generic folders.
    pub(crate) outputs: Vec<OutputRow>,
    /// What in the app's configuration changes the output folders.
    pub(crate) output_config: Option<&'static str>,
    /// Its servers, development and production (`either` serves both ways).
    pub(crate) servers: Vec<ServerRow>,
    /// Text before the URL in the line where it says it listens.
    pub(crate) url_markers: Vec<&'static str>,
    /// The `.env` files it loads, lowest precedence first (`{mode}`: development/production).
    pub(crate) env_files: Vec<&'static str>,
    /// Why there is no production server to start, when there is none.
    pub(crate) no_prod_server: Option<&'static str>,
    /// Build output lines counted as warnings of the build (`build.no_blocking_warnings`).
    pub(crate) build_warnings: Vec<WarningRow>,
}

/// A client output folder.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OutputRow {
    /// Relative to the app; everything under it is budgeted.
    pub(crate) dir: String,
    /// The URL path it is served at.
    pub(crate) public_path: String,
    /// Where the built HTML pages are, when not inside `dir`.
    pub(crate) pages: Vec<String>,
}

/// A server command.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ServerRow {
    /// As written in scripts; `<arg>` is any argument (`node <arg>`).
    pub(crate) command: String,
    /// `dev`, `prod` or `either`.
    pub(crate) mode: &'static str,
    /// How it is given port N: `-p N`, `PORT=N`, `--bind 127.0.0.1:N`, `127.0.0.1:N`.
    pub(crate) port: String,
    /// Environment it needs to run unattended.
    pub(crate) env: Vec<String>,
    /// The file that must exist first and the command that makes it.
    pub(crate) needs_build: Option<String>,
}

/// A framework's build warning.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WarningRow {
    /// Text of the output line.
    pub(crate) contains: &'static str,
    /// The warning as reported.
    pub(crate) message: &'static str,
}

/// Every framework the catalogue knows, in the order they are tried.
pub(crate) fn catalogue() -> Vec<FrameworkRow> {
    ALL.iter().map(|f| row(f)).collect()
}

fn row(f: &Framework) -> FrameworkRow {
    // An app with no configuration of its own gets these; `output_config` says what changes them.
    let outputs = (f.outputs)(Path::new("/nonexistent/app"))
        .into_iter()
        .map(|o| OutputRow {
            dir: o.dir,
            public_path: o.public_path,
            pages: o.pages,
        })
        .collect();
    FrameworkRow {
        id: f.id,
        name: f.name,
        ecosystem: match f.ecosystem {
            Ecosystem::Node => "node",
            Ecosystem::Python => "python",
            Ecosystem::Ruby => "ruby",
        },
        role: match f.role {
            Role::Frontend => "frontend",
            Role::Backend => "backend",
            Role::FullStack => "full_stack",
        },
        recognised_by: f.packages.to_vec(),
        no_dev_build: match f.dev_build {
            DevBuild::Script => None,
            DevBuild::None(reason) => Some(reason),
        },
        outputs,
        output_config: f.output_config,
        servers: f
            .commands
            .iter()
            .map(|c| ServerRow {
                command: c
                    .words
                    .iter()
                    .map(|w| if *w == "*" { "<arg>" } else { *w })
                    .collect::<Vec<_>>()
                    .join(" "),
                mode: match c.mode {
                    Mode::Dev => "dev",
                    Mode::Prod => "prod",
                    Mode::Either => "either",
                },
                port: port(c.port),
                env: c.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                needs_build: c
                    .needs_build
                    .map(|(file, command)| format!("{file} (from {command})")),
            })
            .collect(),
        url_markers: f.url_markers.to_vec(),
        env_files: f.env_files.to_vec(),
        no_prod_server: f.no_prod_server,
        build_warnings: f
            .build_warnings
            .iter()
            .map(|w| WarningRow {
                contains: w.contains,
                message: w.message,
            })
            .collect(),
    }
}

fn port(style: PortStyle) -> String {
    match style {
        PortStyle::Flag { flag, extra } => {
            let mut text = format!("{flag} N");
            for e in extra {
                text.push(' ');
                text.push_str(e);
            }
            text
        }
        PortStyle::Env(var) => format!("{var}=N"),
        PortStyle::Bind(flag) => format!("{flag} 127.0.0.1:N"),
        PortStyle::Positional => "127.0.0.1:N".to_owned(),
    }
}

/// `text` as inline code in a table cell.
fn code(text: &str) -> String {
    format!("`{}`", text.replace('|', "\\|"))
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn or_dash(items: &[String]) -> String {
    if items.is_empty() {
        "—".to_owned()
    } else {
        items.join("<br>")
    }
}

/// The README's two catalogue tables: build and output facts of the Node frameworks, and every
/// framework's servers.
#[allow(
    dead_code,
    reason = "rendered only for the README, whose test compares it with the committed tables"
)]
pub(crate) fn markdown() -> String {
    let rows = catalogue();
    let mut out = String::new();
    out.push_str(
        "| framework | recognised by (dependency) | development build | client output, budgeted (first that exists) → served at | build warnings counted |\n",
    );
    out.push_str("|:--|:--|:--|:--|:--|\n");
    for r in rows.iter().filter(|r| r.ecosystem == "node") {
        let recognised: Vec<String> = r.recognised_by.iter().map(|p| code(p)).collect();
        let dev = r.no_dev_build.map_or_else(
            || "the build script, `NODE_ENV=development`".to_owned(),
            |why| format!("none, skipped: {}", cell(why)),
        );
        let mut outputs: Vec<String> = r
            .outputs
            .iter()
            .map(|o| {
                let mut text = format!("{} → {}", code(&o.dir), code(&o.public_path));
                if !o.pages.is_empty() {
                    let pages: Vec<String> = o.pages.iter().map(|p| code(p)).collect();
                    let _ = write!(text, " (pages: {})", pages.join(", "));
                }
                text
            })
            .collect();
        if let Some(config) = r.output_config {
            outputs.push(format!("per {}", cell(config)));
        }
        if outputs.is_empty() {
            outputs.push("the generic `dist`, `build`, `out`, `public/build`".to_owned());
        }
        let warnings: Vec<String> = r
            .build_warnings
            .iter()
            .map(|w| format!("{} → {}", code(w.contains), cell(w.message)))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            r.name,
            recognised.join(", "),
            dev,
            outputs.join("<br>"),
            or_dash(&warnings)
        );
    }
    out.push_str(
        "\nServers, for every framework: the commands recognised in scripts and Procfiles per mode, how each is given the port it was offered (N), what a production start needs first, the text before the URL in the line where it says it listens, and the `.env` files it loads (`{mode}`: `development` or `production`):\n\n",
    );
    out.push_str(
        "| framework | development server | production server | URL line after | `.env` files (later wins) |\n",
    );
    out.push_str("|:--|:--|:--|:--|:--|\n");
    for r in &rows {
        let servers = |modes: &[&str]| -> Vec<String> {
            r.servers
                .iter()
                .filter(|s| modes.contains(&s.mode))
                .map(|s| {
                    let mut text = format!("{} (port: {})", code(&s.command), code(&s.port));
                    for e in &s.env {
                        let _ = write!(text, ", with {}", code(e));
                    }
                    if let Some(needs) = &s.needs_build {
                        let _ = write!(text, ", needs {}", cell(needs));
                    }
                    text
                })
                .collect()
        };
        let mut prod = servers(&["prod", "either"]);
        if let Some(why) = r.no_prod_server {
            prod.push(format!("none: {}", cell(why)));
        }
        let markers: Vec<String> = r.url_markers.iter().map(|m| code(m)).collect();
        let files: Vec<String> = r.env_files.iter().map(|f| code(f)).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            r.name,
            or_dash(&servers(&["dev", "either"])),
            or_dash(&prod),
            or_dash(&markers),
            files.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: &str = "<!-- frameworks:start -->\n";
    const END: &str = "<!-- frameworks:end -->";

    /// The README's catalogue tables are what the code knows. `DEVOPS_AGENT_BLESS=1 cargo test
    /// --lib framework::rows` rewrites them after a catalogue change.
    #[test]
    fn readme_tables_are_the_catalogue() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let readme = std::fs::read_to_string(&path).unwrap();
        let start = readme
            .find(START)
            .expect("frameworks:start marker in README.md")
            + START.len();
        let end = readme
            .find(END)
            .expect("frameworks:end marker in README.md");
        let expected = markdown();
        if std::env::var_os("DEVOPS_AGENT_BLESS").is_some() {
            let text = format!("{}{expected}{}", &readme[..start], &readme[end..]);
            std::fs::write(&path, text).unwrap();
            return;
        }
        assert!(
            readme[start..end] == expected,
            "README.md's framework tables are stale: run `DEVOPS_AGENT_BLESS=1 cargo test --lib framework::rows`\n\nexpected:\n{expected}"
        );
    }

    #[test]
    fn rows_carry_what_the_gates_use() {
        let rows = catalogue();
        assert_eq!(rows.len(), ALL.len());
        let next = rows.iter().find(|r| r.id == "next").unwrap();
        assert!(next.no_dev_build.is_some());
        assert_eq!(next.outputs[0].dir, ".next/static");
        assert_eq!(next.outputs[0].public_path, "/_next/static");
        let start = next
            .servers
            .iter()
            .find(|s| s.command == "next start")
            .unwrap();
        assert_eq!(
            (start.mode, start.port.as_str()),
            ("prod", "-p N"),
            "{start:?}"
        );
        assert_eq!(
            start.needs_build.as_deref(),
            Some(".next/BUILD_ID (from next build)")
        );
        assert!(next.build_warnings[0].contains.contains("NODE_ENV"));
        let json = serde_json::to_value(&rows).unwrap();
        assert_eq!(json[0]["id"], "next");
        assert_eq!(json[0]["role"], "full_stack");
    }
}
