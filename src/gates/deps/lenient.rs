//! Lenient readers of package.json and package-lock.json fields, straight from the parser.
//!
//! Installed packages are read leniently: a field of the wrong type (`"dependencies": []` in old
//! packages, `"version": 1`) reads as absent, as npm treats it. These deserializers give the
//! same answers as deserializing a [`serde_json::Value`] and picking the strings out of it —
//! an object's keys in sorted order, a key written twice keeps its last value — without building
//! the `Value` tree first: on a 2,300-package tree that tree (a map node and a string for every
//! entry of every dependency map, then dropped) was most of the time spent parsing.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A JSON string, or `None` for any other value (which is read and skipped).
pub(crate) struct MaybeString(pub(crate) Option<String>);

impl<'de> Deserialize<'de> for MaybeString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaybeString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<MaybeString, E> {
                Ok(MaybeString(Some(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<MaybeString, E> {
                Ok(MaybeString(Some(s)))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<MaybeString, D::Error> {
                MaybeString::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MaybeString, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(MaybeString(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MaybeString, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(MaybeString(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// `Some(s)` for a JSON string, `None` for anything else.
pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    MaybeString::deserialize(d).map(|m| m.0)
}

/// An object's entries in key order, a key written twice keeping its last value (as a
/// `serde_json::Map` holds them); `None` when the value is not an object.
fn object_entries<'de, D, T>(d: D) -> Result<Option<Vec<(String, T)>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Option<Vec<(String, T)>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut entries: Vec<(String, T)> = Vec::with_capacity(map.size_hint().unwrap_or(0));
            while let Some(key) = map.next_key::<String>()? {
                entries.push((key, map.next_value()?));
            }
            // Package manifests list their dependencies sorted, so this is usually one pass.
            if !entries.is_sorted_by(|a, b| a.0 < b.0) {
                // Latest first, then a stable sort: of equal keys the last written comes first
                // and survives the dedup.
                entries.reverse();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                entries.dedup_by(|later, first| later.0 == first.0);
            }
            Ok(Some(entries))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            object_entries(d)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }
    d.deserialize_any(V(std::marker::PhantomData))
}

/// The string entries of an object (`"dependencies": {"a": "^1"}`), in key order; empty when
/// the value is not an object, and entries whose value is not a string left out.
pub(crate) fn string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<(String, String)>, D::Error> {
    Ok(object_entries::<D, MaybeString>(d)?
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| v.0.map(|v| (k, v)))
        .collect())
}

/// `true` only for a JSON `true`.
struct IsTrue(bool);

impl<'de> Deserialize<'de> for IsTrue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = IsTrue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<IsTrue, E> {
                Ok(IsTrue(b))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<IsTrue, E> {
                Ok(IsTrue(false))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<IsTrue, E> {
                Ok(IsTrue(false))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<IsTrue, E> {
                Ok(IsTrue(false))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<IsTrue, E> {
                Ok(IsTrue(false))
            }
            fn visit_unit<E: de::Error>(self) -> Result<IsTrue, E> {
                Ok(IsTrue(false))
            }
            fn visit_none<E: de::Error>(self) -> Result<IsTrue, E> {
                Ok(IsTrue(false))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<IsTrue, D::Error> {
                IsTrue::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<IsTrue, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(IsTrue(false))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IsTrue, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(IsTrue(false))
            }
        }
        d.deserialize_any(V)
    }
}

/// One `peerDependenciesMeta` value: whether it says `"optional": true` (the last `optional`
/// key decides, as in a parsed object).
struct PeerMeta(bool);

impl<'de> Deserialize<'de> for PeerMeta {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entries = object_entries::<D, IsTrue>(d)?.unwrap_or_default();
        Ok(PeerMeta(
            entries.iter().any(|(k, v)| k == "optional" && v.0),
        ))
    }
}

/// The names `peerDependenciesMeta` marks `"optional": true`, in key order; empty when it is
/// not an object.
pub(crate) fn optional_peers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(object_entries::<D, PeerMeta>(d)?
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| v.0.then_some(k))
        .collect())
}

/// Any JSON object, its entries read and skipped; anything else is a type error. Keeps a lock
/// entry's dependency maps type-checked where their contents are not needed.
#[derive(Default)]
pub(crate) struct AnyObject;

impl<'de> Deserialize<'de> for AnyObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AnyObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyObject, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(AnyObject)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[derive(Deserialize)]
    struct Probe {
        #[serde(deserialize_with = "string_map")]
        map: Vec<(String, String)>,
        #[serde(deserialize_with = "optional_peers")]
        peers: Vec<String>,
        #[serde(deserialize_with = "string")]
        name: Option<String>,
    }

    /// What reading through a `Value` gave (the previous implementation).
    fn via_value(text: &str) -> (Vec<(String, String)>, Vec<String>, Option<String>) {
        let v: Value = serde_json::from_str(text).unwrap();
        let map = match &v["map"] {
            Value::Object(m) => m
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect(),
            _ => Vec::new(),
        };
        let peers = match &v["peers"] {
            Value::Object(m) => m
                .iter()
                .filter(|(_, v)| v.get("optional").and_then(Value::as_bool) == Some(true))
                .map(|(k, _)| k.clone())
                .collect(),
            _ => Vec::new(),
        };
        (map, peers, v["name"].as_str().map(str::to_owned))
    }

    #[test]
    fn same_answers_as_reading_through_a_value() {
        for text in [
            r#"{"map": {"b": "2", "a": "1", "c": 3}, "peers": {"x": {"optional": true}, "y": {}}, "name": "n"}"#,
            r#"{"map": {"a": "1", "a": 2}, "peers": {"x": {"optional": true, "optional": false}}, "name": 1}"#,
            r#"{"map": {"a": 1, "a": "2", "b": {"c": "d"}}, "peers": {"x": true, "y": {"optional": "yes"}}, "name": null}"#,
            r#"{"map": [], "peers": [], "name": ["x"]}"#,
            r#"{"map": "x", "peers": null, "name": {"a": 1}}"#,
            r#"{"map": {"\u0061b": "x", "ab": "y"}, "peers": {"z": {"optional": true}, "z": {}}, "name": "\u00e9"}"#,
        ] {
            let p: Probe = serde_json::from_str(text).unwrap();
            assert_eq!((p.map, p.peers, p.name), via_value(text), "{text}");
        }
    }

    #[test]
    fn any_object_type_checks() {
        assert!(serde_json::from_str::<AnyObject>(r#"{"a": [1, {"b": 2}]}"#).is_ok());
        assert!(serde_json::from_str::<AnyObject>("[]").is_err());
        assert!(serde_json::from_str::<AnyObject>("\"x\"").is_err());
    }
}
