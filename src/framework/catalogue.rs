//! The catalogue's entries in the order they are tried, and the lookups gates use: which
//! framework an app's dependencies name, and which server command a script runs.

use super::command::{Invocation, segments};
use super::model::{Ecosystem, Framework, ServerCommand};
use super::{
    angular::ANGULAR, astro::ASTRO, cra::CRA, django::DJANGO, fastapi::FASTAPI, flask::FLASK,
    gunicorn::GUNICORN, next::NEXT, node::NODE, nuxt::NUXT, rails::RAILS, remix::REMIX,
    sveltekit::SVELTEKIT, vite::VITE,
};

/// Every framework, meta-frameworks before the tools they build on (SvelteKit before Vite), so
/// the first match is the most specific.
pub(crate) const ALL: &[&Framework] = &[
    &NEXT, &NUXT, &REMIX, &SVELTEKIT, &ASTRO, &ANGULAR, &CRA, &VITE, &NODE, &DJANGO, &FLASK,
    &FASTAPI, &GUNICORN, &RAILS,
];

/// The entry with this id.
pub(crate) fn by_id(id: &str) -> Option<&'static Framework> {
    ALL.iter().copied().find(|f| f.id == id)
}

/// The most specific framework whose package is among `has`'s dependencies (of `ecosystem`).
pub(crate) fn detect(
    ecosystem: Ecosystem,
    has: impl Fn(&str) -> bool,
) -> Option<&'static Framework> {
    ALL.iter()
        .copied()
        .filter(|f| f.ecosystem == ecosystem)
        .find(|f| f.packages.iter().any(|p| has(p)))
}

/// A server command found in a script.
#[derive(Debug, Clone)]
pub(crate) struct Recognised {
    pub(crate) framework: &'static Framework,
    pub(crate) command: &'static ServerCommand,
    pub(crate) invocation: Invocation,
}

/// Whether `invocation` runs `command`: the program and its subcommand words in order; `*`
/// stands for any argument that is not a flag; a bare program matches only before a flag or
/// nothing (`vite --host`, never `vite build`).
fn matches(command: &ServerCommand, invocation: &Invocation) -> bool {
    let Some((program, subcommands)) = command.words.split_first() else {
        return false;
    };
    if invocation.program() != *program {
        return false;
    }
    let args = invocation.args();
    for (i, word) in subcommands.iter().enumerate() {
        let Some(arg) = args.get(i) else {
            return false;
        };
        let ok = if *word == "*" {
            !arg.starts_with('-')
        } else {
            arg == word || arg.trim_start_matches("./") == *word
        };
        if !ok {
            return false;
        }
    }
    !subcommands.is_empty() || args.first().is_none_or(|a| a.starts_with('-'))
}

/// The server command `script` runs: its last segment that the catalogue knows (`tsc && vite
/// preview` → Vite's preview). `hint` (the framework the app's dependencies name) is asked
/// first, so `vite dev` in a SvelteKit app is SvelteKit's.
pub(crate) fn recognise(script: &str, hint: Option<&'static Framework>) -> Option<Recognised> {
    let segments = segments(script);
    for invocation in segments.iter().rev() {
        // Without a hint, the tool's own entry (`vite` is Vite's) before the frameworks that
        // borrow its commands.
        let program = invocation.program();
        let own = ALL
            .iter()
            .copied()
            .filter(|f| f.packages.contains(&program));
        for framework in hint.into_iter().chain(own).chain(ALL.iter().copied()) {
            if let Some(command) = framework.commands.iter().find(|c| matches(c, invocation)) {
                return Some(Recognised {
                    framework,
                    command,
                    invocation: invocation.clone(),
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::model::{Mode, PortStyle};
    use super::*;

    fn id(script: &str) -> Option<(&'static str, Mode)> {
        recognise(script, None).map(|r| (r.framework.id, r.command.mode))
    }

    #[test]
    fn scripts_of_real_projects() {
        assert_eq!(id("vite"), Some(("vite", Mode::Dev)));
        assert_eq!(id("vite --host 0.0.0.0"), Some(("vite", Mode::Dev)));
        assert_eq!(id("vite build"), None);
        assert_eq!(id("tsc -b && vite build"), None);
        assert_eq!(
            id("npm run build && vite preview --port 4173"),
            Some(("vite", Mode::Prod))
        );
        assert_eq!(id("next start"), Some(("next", Mode::Prod)));
        assert_eq!(id("next dev --turbopack"), Some(("next", Mode::Dev)));
        assert_eq!(id("react-scripts start"), Some(("cra", Mode::Dev)));
        assert_eq!(id("node server.js"), Some(("node", Mode::Either)));
        assert_eq!(id("gunicorn app:app"), Some(("gunicorn", Mode::Either)));
        assert_eq!(
            id("uvicorn main:app --reload"),
            Some(("fastapi", Mode::Either))
        );
        assert_eq!(
            id("python manage.py runserver"),
            Some(("django", Mode::Dev))
        );
        assert_eq!(
            id("flask --app app run --debug"),
            None,
            "flask's global options come first"
        );
        assert_eq!(id("flask run --debug"), Some(("flask", Mode::Dev)));
        assert_eq!(
            id("bundle exec rails server"),
            Some(("rails", Mode::Either))
        );
        let kit = recognise("vite dev", by_id("sveltekit")).unwrap();
        assert_eq!(kit.framework.id, "sveltekit");
        assert!(matches!(
            kit.command.port,
            PortStyle::Flag { flag: "--port", .. }
        ));
    }

    #[test]
    fn dependencies_name_the_most_specific_framework() {
        let deps = ["vite", "@sveltejs/kit", "svelte"];
        let found = detect(Ecosystem::Node, |p| deps.contains(&p)).unwrap();
        assert_eq!(found.id, "sveltekit");
        let found = detect(Ecosystem::Python, |p| ["fastapi", "uvicorn"].contains(&p)).unwrap();
        assert_eq!(found.id, "fastapi");
        assert!(detect(Ecosystem::Node, |_| false).is_none());
        assert_eq!(
            ALL.len(),
            ALL.iter()
                .map(|f| f.id)
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        );
    }
}
