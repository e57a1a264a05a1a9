//! Python projects: the manifests of each directory (requirements files, pyproject.toml,
//! Pipfile), the virtualenv the app loads, its lock file.
//!
//! Declared requirements (markers evaluated for the venv's interpreter, extras followed) must be
//! installed at satisfying versions; then every installed distribution's `Requires-Dist` is
//! checked the way `pip check` checks it, so the same problems are reported.

use super::in_dir;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::discover::Manifests;
use super::outcome::{Outcome, Problem};
use super::pep508::{Requirement, normalize};
use super::py_env::{self, Venv};
use super::py_lock::{self, PyLock, PyLockKind};
use super::py_manifest::{self, Declared};
use super::read;
use crate::check::Severity;
use crate::project::Project;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Requirements,
    Pyproject { poetry: bool },
    Pipfile,
}

/// One manifest of a directory, parsed.
struct PyManifest {
    rel: String,
    /// The file name, for commands run in its directory.
    file_name: String,
    kind: Kind,
    reqs: Vec<Declared>,
    /// Declared and locked but not installed by default (extras, non-default groups).
    locked_only: Vec<Declared>,
    /// pyproject.toml: each declaration with the section uv records it under.
    sections: Vec<(String, Declared)>,
    constraints: Vec<Declared>,
    /// The project's own name (pyproject), which is installed editable, not a dependency.
    own_name: Option<String>,
}

#[derive(Default)]
struct DirFiles {
    requirements: Vec<PathBuf>,
    pyproject: Option<PathBuf>,
    pipfile: Option<PathBuf>,
}

/// Check every Python project among the discovered manifests.
pub(crate) fn check_all(project: &Project, manifests: &Manifests, out: &mut Outcome) {
    let mut dirs: BTreeMap<PathBuf, DirFiles> = BTreeMap::new();
    for path in &manifests.requirements {
        // `requirements/base.txt` belongs to the project one level up.
        let Some(mut dir) = path.parent() else {
            continue;
        };
        if dir.file_name().is_some_and(|n| n == "requirements") {
            dir = dir.parent().unwrap_or(dir);
        }
        dirs.entry(dir.to_owned())
            .or_default()
            .requirements
            .push(path.clone());
    }
    for path in &manifests.pyproject {
        if let Some(dir) = path.parent() {
            dirs.entry(dir.to_owned()).or_default().pyproject = Some(path.clone());
        }
    }
    for path in &manifests.pipfile {
        if let Some(dir) = path.parent() {
            dirs.entry(dir.to_owned()).or_default().pipfile = Some(path.clone());
        }
    }
    let mut venvs: HashMap<PathBuf, Venv> = HashMap::new();
    let mut pip_checked: HashSet<PathBuf> = HashSet::new();
    for (dir, files) in dirs {
        check_dir(project, &dir, &files, out, &mut venvs, &mut pip_checked);
    }
}

fn check_dir(
    project: &Project,
    dir: &Path,
    files: &DirFiles,
    out: &mut Outcome,
    venvs: &mut HashMap<PathBuf, Venv>,
    pip_checked: &mut HashSet<PathBuf>,
) {
    let located = py_env::locate(project, dir);
    if let Some((path, label)) = &located
        && !venvs.contains_key(path)
    {
        venvs.insert(path.clone(), py_env::load(project, path, label.clone()));
    }
    let venv = located.as_ref().and_then(|(p, _)| venvs.get(p));
    let python = venv.map_or_else(|| "3".to_owned(), |v| v.python.clone());

    // Parse every manifest; requirement files included by another are part of it.
    let mut manifests: Vec<PyManifest> = Vec::new();
    let mut parsed_reqs = Vec::new();
    for path in &files.requirements {
        parsed_reqs.push((path.clone(), py_manifest::requirements(&project.root, path)));
    }
    // Roots are the files no other file includes; a file only reachable through an include
    // cycle (a -r b, b -r a) becomes a root too, so nothing declared goes unchecked.
    let included_by_others = |path: &PathBuf| {
        parsed_reqs
            .iter()
            .any(|(other, r)| other != path && r.included.contains(path))
    };
    let mut covered: HashSet<PathBuf> = HashSet::new();
    let mut roots: Vec<bool> = parsed_reqs
        .iter()
        .map(|(path, _)| !included_by_others(path))
        .collect();
    for (i, (path, parsed)) in parsed_reqs.iter().enumerate() {
        if roots[i] {
            covered.insert(path.clone());
            covered.extend(parsed.included.iter().cloned());
        }
    }
    for (i, (path, parsed)) in parsed_reqs.iter().enumerate() {
        if !covered.contains(path) {
            roots[i] = true;
            covered.insert(path.clone());
            covered.extend(parsed.included.iter().cloned());
        }
    }
    let mut unnamed = Vec::new();
    for ((path, parsed), root) in parsed_reqs.into_iter().zip(roots) {
        if !root {
            continue;
        }
        for error in &parsed.errors {
            out.unreadable(error, false);
        }
        unnamed.extend(parsed.unnamed);
        manifests.push(PyManifest {
            rel: project.relative(&path),
            file_name: project
                .relative(&path)
                .strip_prefix(&format!("{}/", project.relative(dir)))
                .map_or_else(|| project.relative(&path), str::to_owned),
            kind: Kind::Requirements,
            reqs: parsed.reqs,
            locked_only: Vec::new(),
            sections: Vec::new(),
            constraints: parsed.constraints,
            own_name: None,
        });
    }
    if let Some(path) = &files.pyproject {
        let rel = project.relative(path);
        match read::text(&rel, path, read::MAX_FILE_BYTES)
            .and_then(|text| py_manifest::pyproject(&rel, &text, &python))
        {
            Ok(deps) => {
                let has_lock = dir.join("poetry.lock").is_file() || dir.join("uv.lock").is_file();
                if !deps.reqs.is_empty() || has_lock {
                    manifests.push(PyManifest {
                        rel,
                        file_name: "pyproject.toml".to_owned(),
                        kind: Kind::Pyproject {
                            poetry: deps.poetry,
                        },
                        reqs: deps.reqs,
                        locked_only: deps.locked_only,
                        sections: deps.sections,
                        constraints: Vec::new(),
                        own_name: deps.name,
                    });
                }
            }
            Err(e) => out.unreadable(&e, false),
        }
    }
    if let Some(path) = &files.pipfile {
        let rel = project.relative(path);
        match read::text(&rel, path, read::MAX_FILE_BYTES)
            .and_then(|text| py_manifest::pipfile(&rel, &text))
        {
            Ok(reqs) => manifests.push(PyManifest {
                rel,
                file_name: "Pipfile".to_owned(),
                kind: Kind::Pipfile,
                reqs,
                locked_only: Vec::new(),
                sections: Vec::new(),
                constraints: Vec::new(),
                own_name: None,
            }),
            Err(e) => out.unreadable(&e, false),
        }
    }
    if manifests.is_empty() {
        return;
    }
    if !unnamed.is_empty() {
        out.installed.unverified.push(format!(
            "{} (package name unknown without building it)",
            unnamed.join(", ")
        ));
    }

    let has_requirements = manifests.iter().any(|m| m.kind == Kind::Requirements);
    for manifest in &manifests {
        let lock_kind = lock_kind(dir, manifest.kind);
        let fix = in_dir(
            &project.relative(dir),
            &match (manifest.kind, lock_kind) {
                (Kind::Requirements, _) => format!(
                    "pip install -r {}",
                    crate::report::escape::shell_word(&manifest.file_name)
                ),
                (_, Some(kind)) => kind.sync().to_owned(),
                (Kind::Pipfile, None) => "pipenv install --dev".to_owned(),
                (Kind::Pyproject { .. }, None) => "pip install -e .".to_owned(),
            },
        );
        let checked = if let Some(venv) = venv {
            declared(manifest, venv, &fix, out)
        } else {
            if !manifest.reqs.is_empty() {
                out.installed.push(
                        Problem::new(
                            Severity::Error,
                            "no_environment",
                            "",
                            &manifest.rel,
                            format!(
                                "{} declares {} requirements but no virtualenv was found ($VIRTUAL_ENV, .venv or venv in {} or above); envs kept outside the project (Poetry, Pipenv defaults) are found only when activated",
                                manifest.rel,
                                manifest.reqs.len(),
                                if project.relative(dir).is_empty() { ".".to_owned() } else { project.relative(dir) }
                            ),
                        )
                        .at(&manifest.rel, None)
                        .fix(&in_dir(&project.relative(dir),
                            &format!("python3 -m venv .venv && . .venv/bin/activate && {}", fix.rsplit("&& ").next().unwrap_or(&fix)),
                        )),
                    );
            }
            0
        };
        let i = out.installed.manifest(&manifest.rel, "python", checked);
        if let Some(venv) = venv {
            out.installed.annotate(
                i,
                "environment",
                serde_json::Value::from(venv.label.clone()),
            );
            out.installed
                .annotate(i, "python", serde_json::Value::from(venv.python.clone()));
        }
        out.conflicts.manifest(&manifest.rel, "python", checked);
        let lock_checked = lock_checks(
            project,
            dir,
            manifest,
            lock_kind,
            has_requirements,
            venv,
            out,
        );
        let i = out.lockfile.manifest(&manifest.rel, "python", lock_checked);
        if let Some(kind) = lock_kind {
            out.lockfile.annotate(
                i,
                "lockfile",
                serde_json::Value::from(project.relative(&dir.join(kind.file()))),
            );
        }
    }

    // `pip check` over the whole environment, once per environment.
    if let (Some(venv), Some((path, _))) = (venv, &located)
        && pip_checked.insert(path.clone())
    {
        let manifest = &manifests[0];
        let fix = in_dir(
            &project.relative(dir),
            &match manifest.kind {
                Kind::Requirements => format!(
                    "pip install -r {}",
                    crate::report::escape::shell_word(&manifest.file_name)
                ),
                _ => lock_kind(dir, manifest.kind)
                    .map_or("pip install -e .", PyLockKind::sync)
                    .to_owned(),
            },
        );
        pip_check(venv, &manifest.rel, &fix, out);
    }
}

/// The lock a manifest is installed from, when it exists.
fn lock_kind(dir: &Path, kind: Kind) -> Option<PyLockKind> {
    match kind {
        Kind::Requirements => None,
        Kind::Pipfile => Some(PyLockKind::Pipenv).filter(|k| dir.join(k.file()).is_file()),
        Kind::Pyproject { poetry } => {
            let poetry_lock = dir.join("poetry.lock").is_file();
            let uv_lock = dir.join("uv.lock").is_file();
            if poetry_lock && (poetry || !uv_lock) {
                Some(PyLockKind::Poetry)
            } else if uv_lock {
                Some(PyLockKind::Uv)
            } else {
                None
            }
        }
    }
}

/// Every declared requirement of `manifest` installed at a satisfying version, with the
/// requirements its extras add. Returns how many were checked.
fn declared(manifest: &PyManifest, venv: &Venv, fix: &str, out: &mut Outcome) -> usize {
    let own = manifest.own_name.as_deref().map(normalize);
    let mut checked = 0;
    for d in &manifest.reqs {
        if !d.req.applies(&venv.markers, "") {
            continue;
        }
        let key = normalize(&d.req.name);
        if own.as_deref() == Some(key.as_str()) {
            continue;
        }
        checked += 1;
        let Some(dist) = venv.dists.get(&key) else {
            out.installed.push(
                Problem::new(
                    Severity::Error,
                    "missing",
                    &d.req.name,
                    &manifest.rel,
                    format!(
                        "{}{} is not installed in {}",
                        d.req.name,
                        display_spec(&d.req.specifier),
                        venv.label
                    ),
                )
                .with(
                    "wanted",
                    Some(&d.req.specifier)
                        .filter(|s| !s.is_empty())
                        .map(String::as_str),
                )
                .with("required_by", Some(&manifest.rel))
                .with("environment", Some(&venv.label))
                .at(&d.file, d.line)
                .fix(fix),
            );
            continue;
        };
        if !d.presence_only && !d.req.allows(&dist.version) {
            out.conflicts.push(
                Problem::new(
                    Severity::Error,
                    "invalid",
                    &d.req.name,
                    &manifest.rel,
                    format!(
                        "{} {} is installed, but {} wants {}{}",
                        dist.name, dist.version, d.file, d.req.name, d.req.specifier
                    ),
                )
                .with("wanted", Some(&d.req.specifier))
                .with("found", Some(&dist.version))
                .with("path", Some(&dist.path))
                .with("required_by", Some(&manifest.rel))
                .at(&d.file, d.line)
                .fix(fix),
            );
        }
        // What `name[extra]` adds: requirements whose marker holds only with that extra.
        for extra in &d.req.extras {
            for raw in &dist.requires {
                let Ok(r) = Requirement::parse(raw) else {
                    continue;
                };
                if !r.applies(&venv.markers, extra) || r.applies(&venv.markers, "") {
                    continue;
                }
                checked += 1;
                let label = format!("{}[{extra}]", d.req.name);
                requirement_of(
                    venv,
                    &r,
                    &label,
                    &manifest.rel,
                    Some((&d.file, d.line)),
                    fix,
                    out,
                );
            }
        }
    }
    for c in &manifest.constraints {
        if !c.req.applies(&venv.markers, "") {
            continue;
        }
        if let Some(dist) = venv.dists.get(&normalize(&c.req.name))
            && !c.req.allows(&dist.version)
        {
            checked += 1;
            out.conflicts.push(
                Problem::new(
                    Severity::Error,
                    "invalid",
                    &c.req.name,
                    &manifest.rel,
                    format!(
                        "{} {} is installed, but the constraint in {} says {}{}",
                        dist.name, dist.version, c.file, c.req.name, c.req.specifier
                    ),
                )
                .with("wanted", Some(&c.req.specifier))
                .with("found", Some(&dist.version))
                .with("path", Some(&dist.path))
                .with("required_by", Some(&c.file))
                .at(&c.file, c.line)
                .fix(fix),
            );
        }
    }
    checked
}

fn display_spec(spec: &str) -> String {
    if spec.is_empty() {
        String::new()
    } else {
        format!(" ({spec})")
    }
}

/// Check one requirement `r` of `required_by` against the environment.
fn requirement_of(
    venv: &Venv,
    r: &Requirement,
    required_by: &str,
    manifest: &str,
    at: Option<(&str, Option<u64>)>,
    fix: &str,
    out: &mut Outcome,
) {
    let with_location = |p: Problem| match at {
        Some((file, line)) => p.at(file, line),
        None => p,
    };
    match venv.dists.get(&normalize(&r.name)) {
        None => out.installed.push(with_location(
            Problem::new(
                Severity::Error,
                "missing",
                &r.name,
                manifest,
                format!("{required_by} requires {}, which is not installed", r.name),
            )
            .with(
                "wanted",
                Some(&r.specifier)
                    .filter(|s| !s.is_empty())
                    .map(String::as_str),
            )
            .with("required_by", Some(required_by))
            .with("environment", Some(&venv.label))
            .fix(fix),
        )),
        Some(dist) if !r.allows(&dist.version) => out.conflicts.push(with_location(
            Problem::new(
                Severity::Error,
                "invalid",
                &r.name,
                manifest,
                format!(
                    "{required_by} has requirement {}{}, but you have {} {}",
                    r.name, r.specifier, dist.name, dist.version
                ),
            )
            .with("wanted", Some(&r.specifier))
            .with("found", Some(&dist.version))
            .with("path", Some(&dist.path))
            .with("required_by", Some(required_by))
            .fix(fix),
        )),
        Some(_) => {}
    }
}

/// What `pip check` verifies: every installed distribution's unconditional `Requires-Dist`
/// (markers evaluated with no extra) is installed at a satisfying version.
fn pip_check(venv: &Venv, manifest: &str, fix: &str, out: &mut Outcome) {
    let mut names: Vec<&String> = venv.dists.keys().collect();
    names.sort();
    for key in names {
        let dist = &venv.dists[key];
        let label = format!("{} {}", dist.name, dist.version);
        for raw in &dist.requires {
            let Ok(r) = Requirement::parse(raw) else {
                continue;
            };
            if !r.applies(&venv.markers, "") {
                continue;
            }
            requirement_of(venv, &r, &label, manifest, None, fix, out);
        }
    }
    for broken in &venv.broken {
        out.installed.push(
            Problem::new(
                Severity::Error,
                "broken",
                broken,
                manifest,
                format!("{broken} has no readable Name/Version metadata (a broken install)"),
            )
            .with("path", Some(broken))
            .at(broken, None)
            .fix(fix),
        );
    }
}

/// The command that pins every requirement of `file` to the version installed in the active
/// environment, in the file's own order (`pip freeze -r` keeps its lines and comments and
/// appends what the listed ones pulled in), through a temporary file: a redirection onto the
/// file itself would empty it before pip reads it.
fn pin_command(file: &str) -> String {
    let name = Path::new(file)
        .file_name()
        .map_or_else(|| file.to_owned(), |n| n.to_string_lossy().into_owned());
    let quoted = crate::report::escape::shell_word(&name);
    format!("pip freeze -r {quoted} > {quoted}.pinned && mv {quoted}.pinned {quoted}")
}

/// Lock present, parsed, in sync with the manifest, matched by the environment; for plain
/// requirements files, every requirement pinned. Returns entries checked.
fn lock_checks(
    project: &Project,
    dir: &Path,
    manifest: &PyManifest,
    kind: Option<PyLockKind>,
    has_requirements: bool,
    venv: Option<&Venv>,
    out: &mut Outcome,
) -> usize {
    let Some(kind) = kind else {
        match manifest.kind {
            Kind::Requirements => {
                // A fully pinned requirements file is the lock of a pip project.
                let unpinned: Vec<&Declared> = manifest
                    .reqs
                    .iter()
                    .filter(|d| !py_manifest::pinned(d))
                    .collect();
                for d in &unpinned {
                    out.lockfile.push(
                        Problem::new(
                            Severity::Warning,
                            "unpinned",
                            &d.req.name,
                            &manifest.rel,
                            format!(
                                "{} does not pin {}{} to one version: installs can differ from what was tested",
                                d.file,
                                d.req.name,
                                display_spec(&d.req.specifier)
                            ),
                        )
                        .with("wanted", Some(&d.req.specifier))
                        .at(&d.file, d.line)
                        .fix(&in_dir(&project.relative(dir), &pin_command(&d.file))),
                    );
                }
                return manifest.reqs.len();
            }
            Kind::Pipfile => {
                out.lockfile.push(missing_lock(
                    manifest,
                    "Pipfile.lock",
                    &in_dir(&project.relative(dir), "pipenv lock"),
                ));
            }
            Kind::Pyproject { poetry: true } => {
                out.lockfile.push(missing_lock(
                    manifest,
                    "poetry.lock",
                    &in_dir(&project.relative(dir), "poetry lock"),
                ));
            }
            Kind::Pyproject { poetry: false } => {
                if !has_requirements && !manifest.reqs.is_empty() {
                    out.lockfile.push(
                        Problem::new(
                            Severity::Warning,
                            "no_lockfile",
                            "",
                            &manifest.rel,
                            format!("{} has no lock file (uv.lock, poetry.lock) or pinned requirements file", manifest.rel),
                        )
                        .at(&manifest.rel, None)
                        .fix(&in_dir(&project.relative(dir), "uv lock")),
                    );
                }
            }
        }
        return 0;
    };
    let lock_path = dir.join(kind.file());
    let lock_rel = project.relative(&lock_path);
    let lock: PyLock =
        match py_lock::read(&lock_rel, &lock_path, kind, manifest.own_name.as_deref()) {
            Ok(lock) => lock,
            Err(e) => {
                out.lockfile.errors.push(e);
                return 0;
            }
        };
    let relock = in_dir(&project.relative(dir), kind.relock());
    let own = manifest.own_name.as_deref().map(normalize);
    let mut checked = 0;
    let out_of_sync = |d: Option<&Declared>, name: &str, message: String| {
        let mut p = Problem::new(Severity::Error, "out_of_sync", name, &manifest.rel, message)
            .with("path", Some(&lock_rel))
            .fix(&relock);
        if let Some(d) = d {
            p = p.with("wanted", Some(&d.req.specifier)).at(&d.file, d.line);
        } else {
            p = p.at(&lock_rel, None);
        }
        p
    };
    // Names already reported out of sync, so one edit is one finding.
    let mut reported: HashSet<String> = HashSet::new();
    for d in manifest.reqs.iter().chain(&manifest.locked_only) {
        let key = normalize(&d.req.name);
        if own.as_deref() == Some(key.as_str()) || reported.contains(&key) {
            continue;
        }
        checked += 1;
        let before = out.lockfile.problems.len();
        match lock.versions.get(&key) {
            None => out.lockfile.push(out_of_sync(
                Some(d),
                &d.req.name,
                format!(
                    "{} declares {}, which {lock_rel} does not lock ({} changed after locking)",
                    d.file, d.req.name, manifest.file_name
                ),
            )),
            Some(versions)
                if !d.presence_only
                    && !versions.is_empty()
                    && !versions.iter().any(|v| d.req.allows(v)) =>
            {
                let mut locked: Vec<&String> = versions.iter().collect();
                locked.sort();
                let locked: Vec<&str> = locked.iter().map(|s| s.as_str()).collect();
                out.lockfile.push(
                    out_of_sync(
                        Some(d),
                        &d.req.name,
                        format!(
                            "{} wants {}{}, {lock_rel} locks {} ({} changed after locking)",
                            d.file,
                            d.req.name,
                            d.req.specifier,
                            locked.join(", "),
                            manifest.file_name
                        ),
                    )
                    .with("found", locked.first().copied()),
                );
            }
            Some(_) => {}
        }
        if out.lockfile.problems.len() > before {
            reported.insert(key);
        }
    }
    // uv records what the project declared (dependencies and extras, each group on its own):
    // a requirement dropped, added or declared with another specifier in any of them means
    // `uv lock --check` fails.
    if let Some(recorded) = &lock.declared {
        let mut now: BTreeMap<(String, String), (BTreeSet<String>, &Declared)> = BTreeMap::new();
        for (section, d) in &manifest.sections {
            now.entry((section.clone(), py_manifest::key(d)))
                .or_insert_with(|| (BTreeSet::new(), d))
                .0
                .insert(py_lock::normalize_specifier(&d.req.specifier));
        }
        let place = |section: &str| {
            if section.is_empty() {
                "as a requirement".to_owned()
            } else {
                format!("in dependency group {section}")
            }
        };
        let shown = |set: &BTreeSet<String>| {
            set.iter()
                .map(|s| {
                    if s.is_empty() {
                        "any version"
                    } else {
                        s.as_str()
                    }
                })
                .collect::<Vec<_>>()
                .join(" / ")
        };
        let mut flagged: HashSet<String> = reported.clone();
        for ((section, name), (specs, d)) in &now {
            if own.as_deref() == Some(name.as_str()) || flagged.contains(name) {
                continue;
            }
            let message = match recorded.get(&(section.clone(), name.clone())) {
                None => format!(
                    "{} declares {name} {}, which {lock_rel} does not record ({} changed after locking)",
                    d.file,
                    place(section),
                    manifest.file_name
                ),
                Some(locked) if locked != specs => format!(
                    "{} declares {} {} {}, {lock_rel} was locked with {} ({} changed after locking)",
                    d.file,
                    d.req.name,
                    shown(specs),
                    place(section),
                    shown(locked),
                    manifest.file_name
                ),
                Some(_) => continue,
            };
            flagged.insert(name.clone());
            let found = recorded.get(&(section.clone(), name.clone())).map(&shown);
            out.lockfile
                .push(out_of_sync(Some(d), &d.req.name, message).with("found", found.as_deref()));
        }
        for (section, name) in recorded.keys() {
            if now.contains_key(&(section.clone(), name.clone())) || flagged.contains(name) {
                continue;
            }
            flagged.insert(name.clone());
            out.lockfile.push(out_of_sync(
                None,
                name,
                format!(
                    "{lock_rel} still records {name} {}, which {} no longer declares",
                    place(section),
                    manifest.rel
                ),
            ));
        }
    }
    // The environment holds the locked versions.
    if let Some(venv) = venv {
        let mut keys: Vec<&String> = venv.dists.keys().collect();
        keys.sort();
        for key in keys {
            let Some(versions) = lock.versions.get(key) else {
                continue;
            };
            if versions.is_empty() || own.as_deref() == Some(key.as_str()) {
                continue;
            }
            checked += 1;
            let dist = &venv.dists[key];
            if !versions.contains(&dist.version) {
                let mut locked: Vec<&String> = versions.iter().collect();
                locked.sort();
                let locked: Vec<&str> = locked.iter().map(|s| s.as_str()).collect();
                out.lockfile.push(
                    Problem::new(
                        Severity::Error,
                        "differs_from_lock",
                        &dist.name,
                        &manifest.rel,
                        format!(
                            "{} {} is installed in {} but {lock_rel} locks {}",
                            dist.name,
                            dist.version,
                            venv.label,
                            locked.join(", ")
                        ),
                    )
                    .with("wanted", locked.first().copied())
                    .with("found", Some(&dist.version))
                    .with("path", Some(&dist.path))
                    .at(&lock_rel, None)
                    .fix(&in_dir(&project.relative(dir), kind.sync())),
                );
            }
        }
    }
    checked
}

fn missing_lock(manifest: &PyManifest, lock: &str, fix: &str) -> Problem {
    Problem::new(
        Severity::Error,
        "no_lockfile",
        "",
        &manifest.rel,
        format!(
            "{} has no {lock}: installs are not reproducible",
            manifest.rel
        ),
    )
    .at(&manifest.rel, None)
    .fix(fix)
}
