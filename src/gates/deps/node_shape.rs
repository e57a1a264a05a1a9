//! The shape of the project's own package.json files: a JSON object whose dependency maps are
//! objects. Installed packages are read leniently (old packages ship `"dependencies": []`,
//! which npm tolerates there), but in the project's manifest a wrong shape means the
//! declared dependencies cannot be known, so it is a located error instead of "nothing
//! declared, nothing missing".

use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};

use super::read;
use crate::project::FileError;

/// The sections checked; anything else may hold any JSON.
#[derive(Deserialize)]
#[expect(
    dead_code,
    reason = "the fields exist to be type-checked while parsing; nothing reads them"
)]
struct Shape {
    #[serde(default)]
    dependencies: Option<Object>,
    #[serde(default, rename = "devDependencies")]
    dev_dependencies: Option<Object>,
    #[serde(default, rename = "optionalDependencies")]
    optional_dependencies: Option<Object>,
    #[serde(default, rename = "peerDependencies")]
    peer_dependencies: Option<Object>,
    #[serde(default, rename = "peerDependenciesMeta")]
    peer_dependencies_meta: Option<Object>,
}

/// Any JSON object (its entries skipped unread); anything else is an error at its position.
struct Object;

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Object, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = Object;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of package names to version ranges")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Object)
            }
        }
        d.deserialize_map(ObjectVisitor)
    }
}

/// An error when `text` (already known to be valid JSON) is not an object, or one of its
/// dependency sections is not an object.
pub(crate) fn check(rel: &str, text: &str) -> Result<(), FileError> {
    let start = text.trim_start();
    if !start.starts_with('{') {
        let offset = text.len() - start.len();
        let line = text[..offset].matches('\n').count() as u64 + 1;
        return Err(FileError::new(
            rel,
            "package.json must be a JSON object (it declares nothing as written)",
        )
        .at_line(line));
    }
    serde_json::from_str::<Shape>(text).map_err(|e| read::json_error(rel, &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn objects_pass_and_wrong_shapes_are_located() {
        assert!(check("package.json", "{}").is_ok());
        assert!(
            check(
                "package.json",
                r#"{"name": "a", "scripts": [], "dependencies": {"x": "1", "y": {"weird": 1}}}"#
            )
            .is_ok()
        );
        let e = check("package.json", "\n[\"react\"]\n").unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("package.json", Some(2)));
        assert!(e.message.contains("must be a JSON object"), "{e}");
        let e = check(
            "app/package.json",
            "{\n  \"name\": \"a\",\n  \"dependencies\": [\"react\"]\n}\n",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(
            e.message
                .contains("expected an object of package names to version ranges"),
            "{e}"
        );
        let e = check("package.json", r#"{"devDependencies": "vite"}"#).unwrap_err();
        assert!(e.message.contains("invalid type: string"), "{e}");
    }
}
