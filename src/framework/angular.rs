//! Angular: `ng serve --port N` is the development server; the production app is the static
//! `dist/<project>/browser` output.
//!
//! Build: `ng build` (application builder, v17+) writes the browser's files to
//! `<outputPath>/browser`, where `outputPath` is the build target's option in `angular.json`
//! (a string or `{ "base": … }`), `dist/<project>` by default.

use std::path::Path;

use super::model::{Ecosystem, Framework, Mode, Output, PortStyle, Role, ServerCommand};

pub(crate) const ANGULAR: Framework = Framework {
    id: "angular",
    name: "Angular",
    ecosystem: Ecosystem::Node,
    role: Role::Frontend,
    packages: &["@angular/cli", "@angular/core"],
    commands: &[ServerCommand::new(
        &["ng", "serve"],
        Mode::Dev,
        PortStyle::Flag {
            flag: "--port",
            extra: &[],
        },
        &["--port"],
    )],
    url_markers: &["Local:", "listening on"],
    no_prod_server: Some(
        "ng serve is the development server; an Angular app is deployed as the static files of dist/ (serve them with a static server)",
    ),
    outputs,
    output_config: Some(
        "angular.json: `<outputPath>/browser` of each project's build target (`dist/<project>/browser` by default)",
    ),
    ..Framework::BASE
};

fn outputs(app: &Path) -> Vec<Output> {
    let mut out = Vec::new();
    let config = std::fs::read_to_string(app.join("angular.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    if let Some(projects) = config
        .as_ref()
        .and_then(|c| c.get("projects"))
        .and_then(|p| p.as_object())
    {
        for (name, project) in projects {
            let base = match project.pointer("/architect/build/options/outputPath") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v) => v
                    .get("base")
                    .and_then(|b| b.as_str())
                    .map_or_else(|| format!("dist/{name}"), str::to_owned),
                None => format!("dist/{name}"),
            };
            out.push(Output::at_root(&format!(
                "{}/browser",
                base.trim_end_matches('/')
            )));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_path_from_angular_json() {
        let dir = tempfile::tempdir().unwrap();
        assert!(outputs(dir.path()).is_empty());
        std::fs::write(
            dir.path().join("angular.json"),
            r#"{"projects":{"shop":{"architect":{"build":{"options":{"outputPath":{"base":"dist/shop-app"}}}}},"admin":{}}}"#,
        )
        .unwrap();
        let dirs: Vec<String> = outputs(dir.path()).into_iter().map(|o| o.dir).collect();
        assert_eq!(dirs, ["dist/admin/browser", "dist/shop-app/browser"]);
        for f in super::super::catalogue::ALL {
            if f.ecosystem == super::super::Ecosystem::Node && !["angular", "node"].contains(&f.id)
            {
                assert!(
                    !(f.outputs)(dir.path()).is_empty(),
                    "{} has no output",
                    f.id
                );
            }
        }
    }
}
