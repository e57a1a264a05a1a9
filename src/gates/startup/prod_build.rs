//! Production starts run on a production build that nothing has deleted since. A production
//! server that needs a file of its build (the catalogue's `needs_build`: `next start` needs
//! `.next/BUILD_ID`, which `next dev` before Next 16 deletes) is checked just before it starts;
//! when the file is gone, the production build runs again first. The evidence says which.

use super::services::Service;
use crate::gates::GateCtx;
use crate::process::{self, CommandSpec, Ending};
use crate::project::package_json_read;
use std::collections::BTreeMap;

/// What was done about the production build before a production start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProdBuild {
    /// The framework has no such file to check (or the app no recognised framework).
    NotNeeded,
    /// The build's file was still there: started on the build gate's (or an earlier) build.
    Kept { marker: String },
    /// The file was gone, so the production build ran again, and succeeded.
    Rebuilt { marker: String, command: String },
    /// The file was gone and the rebuild failed (or there is no build script).
    Missing { marker: String, why: String },
}

impl ProdBuild {
    /// For the evidence.
    pub(crate) fn describe(&self) -> Option<String> {
        match self {
            ProdBuild::NotNeeded => None,
            ProdBuild::Kept { marker } => Some(format!(
                "kept: {marker} of the production build was intact at the production start (the development run keeps its output apart)"
            )),
            ProdBuild::Rebuilt { marker, command } => Some(format!(
                "rebuilt: {marker} was gone before the production start (the development server overwrites the build), so `{command}` ran again first"
            )),
            ProdBuild::Missing { marker, why } => Some(format!(
                "missing: {marker} is gone and the production build could not be redone: {why}"
            )),
        }
    }
}

/// Make sure `service`'s production build is in place before its production start.
pub(crate) async fn ensure(ctx: &GateCtx, service: &Service) -> ProdBuild {
    let Ok(pkg) = package_json_read(&ctx.project.root, &service.path.join("package.json")) else {
        return ProdBuild::NotNeeded;
    };
    let hint = crate::framework::detect(crate::framework::Ecosystem::Node, |p| {
        pkg.dependencies.contains(p)
    });
    // The script the production start runs (`npm run start` → package.json's `start`).
    let script = service
        .prod
        .as_ref()
        .and_then(|l| l.command.rsplit(' ').next())
        .and_then(|name| pkg.scripts.get(name));
    let Some((marker, _)) = script
        .and_then(|s| crate::framework::recognise(s, hint))
        .and_then(|r| r.command.needs_build)
    else {
        return ProdBuild::NotNeeded;
    };
    let shown = if service.dir == "." {
        marker.to_owned()
    } else {
        format!("{}/{marker}", service.dir)
    };
    if service.path.join(marker).is_file() {
        return ProdBuild::Kept { marker: shown };
    }
    if !pkg.scripts.contains_key("build") {
        return ProdBuild::Missing {
            marker: shown,
            why: "package.json has no build script".to_owned(),
        };
    }
    let runner = service
        .prod
        .as_ref()
        .and_then(|l| l.command.split_whitespace().next())
        .filter(|r| matches!(*r, "npm" | "pnpm" | "yarn"))
        .unwrap_or("npm");
    let command = format!("{runner} run build");
    let spec = CommandSpec {
        label: format!("prod build {}", service.name),
        command: command.clone(),
        cwd: service.path.clone(),
        env: BTreeMap::from([("NODE_ENV".to_owned(), "production".to_owned())]),
        timeout: ctx.build_timeout(),
        grace: ctx.grace(),
    };
    let finished = process::run(&spec, &ctx.processes).await;
    match finished.ending {
        Ending::Exited(0) if service.path.join(marker).is_file() => ProdBuild::Rebuilt {
            marker: shown,
            command,
        },
        ending => ProdBuild::Missing {
            marker: shown,
            why: format!("`{command}` {}", ending.describe(ctx.build_timeout())),
        },
    }
}
