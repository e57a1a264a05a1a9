//! Entry points for the fuzz targets in `fuzz/` (and the regression tests of what they found):
//! built HTML and budget globs on arbitrary input. They must never panic or hang; results are
//! thrown away.

/// The local files built HTML references, resolved against an output directory.
pub fn html(text: &str) {
    let _ = super::assets::references_in("dist/index.html", text);
}

/// A budget glob compiled and matched against a path (the input split at its first newline).
pub fn glob(text: &str) {
    let (pattern, path) = text
        .split_once('\n')
        .unwrap_or((text, "dist/assets/app.js"));
    if let Ok(glob) = super::glob::Glob::new(pattern) {
        let _ = glob.is_match(path);
    }
}
