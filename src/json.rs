//! A borrowed JSON document: the form in which the review path reads Kubernetes objects.
//!
//! **Pure.** A [`Json`] borrows its strings and keys from the text it was parsed from (a string
//! is copied only when it holds escapes) and keeps an object's members in a `Vec` in document
//! order, so reading a 4 KB AdmissionReview costs a few dozen allocations instead of the
//! several hundred a `serde_json::Value` needs (one `String` per key and string, one B-tree
//! node per few members). Parsing and its validation are serde_json's ([`Pruned`] is the
//! seed that builds a `Json`, leaving out members a reader never looks at).
//!
//! Lookups follow `serde_json::Value` and the Kubernetes API server: JSON `null` is a value,
//! and of duplicate keys the last one wins.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
pub use serde_json::Number;
use serde_json::Value;

/// A JSON value whose strings borrow from the parsed text where they can.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Object<'a>),
}

/// A JSON object: its members in document order.
#[derive(Debug, Clone, PartialEq)]
pub struct Object<'a>(Vec<(Cow<'a, str>, Json<'a>)>);

impl<'a> Object<'a> {
    /// The value of `key`; of duplicate keys, the last (as `serde_json` and the API server
    /// decode them).
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The keys in document order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.iter().map(|(k, _)| k)
    }

    /// The members in document order, as `(key, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json<'a>)> {
        self.into_iter()
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'o, 'a> IntoIterator for &'o Object<'a> {
    type Item = (&'o str, &'o Json<'a>);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'o, (Cow<'a, str>, Json<'a>)>,
        fn(&'o (Cow<'a, str>, Json<'a>)) -> (&'o str, &'o Json<'a>),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }
}

impl<'a> FromIterator<(Cow<'a, str>, Json<'a>)> for Object<'a> {
    fn from_iter<I: IntoIterator<Item = (Cow<'a, str>, Json<'a>)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl<'a> Json<'a> {
    #[must_use]
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    #[must_use]
    pub fn as_object(&self) -> Option<&Object<'a>> {
        match self {
            Self::Object(o) => Some(o),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// A number that is a whole number from 0 to `u64::MAX` (`3`, not `3.0` or `"3"`).
    #[must_use]
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Self::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The value in a few words for an error message: short even for a megabyte string or a
    /// huge array (`'abc'`, `7`, `an array of 3 items`, `an object`).
    #[must_use]
    pub fn describe(&self) -> String {
        const MAX_CHARS: usize = 64;
        match self {
            Self::Null => "null".to_owned(),
            Self::Bool(b) => b.to_string(),
            Self::Number(n) => n.to_string(),
            Self::String(s) => {
                let mut short: String = s.chars().take(MAX_CHARS).collect();
                if short.len() < s.len() {
                    short.push('…');
                }
                format!("'{short}'")
            }
            Self::Array(a) => format!("an array of {} items", a.len()),
            Self::Object(_) => "an object".to_owned(),
        }
    }

    /// The member `key` of an object; `None` for anything else.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.as_object()?.get(key)
    }

    /// The value an RFC 6901 JSON pointer names (`""` is the whole document), as
    /// `serde_json::Value::pointer` finds it.
    #[must_use]
    pub fn pointer(&self, pointer: &str) -> Option<&Json<'a>> {
        if pointer.is_empty() {
            return Some(self);
        }
        let rest = pointer.strip_prefix('/')?;
        let mut here = self;
        for token in rest.split('/') {
            let token: Cow<'_, str> =
                if token.contains('~') { token.replace("~1", "/").replace("~0", "~").into() } else { token.into() };
            here = match here {
                Self::Object(o) => o.get(&token)?,
                Self::Array(a) => a.get(array_index(&token)?)?,
                _ => return None,
            };
        }
        Some(here)
    }
}

/// An array index token as RFC 6901 spells it: digits, no leading zero.
fn array_index(token: &str) -> Option<usize> {
    if token.is_empty() || (token.len() > 1 && token.starts_with('0')) || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

/// Borrows every string of `value`.
impl<'a> From<&'a Value> for Json<'a> {
    fn from(value: &'a Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(n) => Self::Number(n.clone()),
            Value::String(s) => Self::String(Cow::Borrowed(s)),
            Value::Array(a) => Self::Array(a.iter().map(Json::from).collect()),
            Value::Object(o) => {
                Self::Object(o.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), Json::from(v))).collect())
            }
        }
    }
}

impl<'a> From<&'a str> for Json<'a> {
    fn from(s: &'a str) -> Self {
        Self::String(Cow::Borrowed(s))
    }
}

/// Compact JSON, as `serde_json::Value` prints it.
impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&serde_json::to_string(self).map_err(|_| fmt::Error)?)
    }
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => s.serialize_unit(),
            Self::Bool(b) => s.serialize_bool(*b),
            Self::Number(n) => n.serialize(s),
            Self::String(v) => s.serialize_str(v),
            Self::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Self::Object(o) => {
                let mut map = s.serialize_map(Some(o.len()))?;
                for (k, v) in o.iter() {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Json<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Pruned::new(|_| false).deserialize(d)
    }
}

/// Builds a [`Json`] borrowing from text of lifetime `'a`, leaving out the members whose key
/// `skip` accepts: they are still parsed (serde_json checks their syntax), but not built.
#[derive(Clone, Copy)]
pub struct Pruned<'a> {
    skip: fn(&str) -> bool,
    _text: std::marker::PhantomData<&'a ()>,
}

impl Pruned<'_> {
    #[must_use]
    pub fn new(skip: fn(&str) -> bool) -> Self {
        Self { skip, _text: std::marker::PhantomData }
    }
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for Pruned<'a> {
    type Value = Json<'a>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Json<'a>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for Pruned<'a> {
    type Value = Json<'a>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json<'a>, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json<'a>, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json<'a>, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json<'a>, E> {
        // serde_json yields no non-finite number; `Null` is what `Value::from(f64)` makes of one.
        Ok(Number::from_f64(v).map_or(Json::Null, Json::Number))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json<'a>, E> {
        Ok(Json::String(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json<'a>, E> {
        Ok(Json::String(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Json<'a>, E> {
        Ok(Json::String(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Json<'a>, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json<'a>, E> {
        Ok(Json::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json<'a>, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'a>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element_seed(self)? {
            out.push(v);
        }
        Ok(Json::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'a>, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        // A key is read as a value: serde_json hands it to `visit_borrowed_str` like a string.
        while let Some(key) = map.next_key_seed(self)? {
            let Json::String(key) = key else { return Err(de::Error::custom("an object key must be a string")) };
            if (self.skip)(&key) {
                map.next_value::<de::IgnoredAny>()?;
            } else {
                out.push((key, map.next_value_seed(self)?));
            }
        }
        Ok(Json::Object(Object(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `text` parsed as the review path parses an object, without the members `skip` accepts.
    fn parse_pruned(text: &str, skip: fn(&str) -> bool) -> Result<Json<'_>, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(text);
        let doc = Pruned::new(skip).deserialize(&mut de)?;
        de.end()?;
        Ok(doc)
    }

    /// The document as a `serde_json::Value`, through its `Serialize`.
    fn value(doc: &Json<'_>) -> Value {
        serde_json::to_value(doc).unwrap()
    }

    #[test]
    fn strings_without_escapes_are_borrowed_and_escaped_ones_decoded() {
        let text = r#"{"a": "plain", "b": "tab\there", "c\/d": [1, -2, 2.5, true, null]}"#;
        let doc = parse_pruned(text, |_| false).unwrap();
        assert!(matches!(doc.get("a"), Some(Json::String(Cow::Borrowed("plain")))));
        assert_eq!(doc.get("b").and_then(Json::as_str), Some("tab\there"));
        assert_eq!(value(&doc), serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn skipped_members_are_left_out_at_any_depth_but_still_checked() {
        let doc = parse_pruned(r#"{"keep": {"env": [1], "x": 1}, "env": "y"}"#, |k| k == "env").unwrap();
        assert_eq!(value(&doc), json!({"keep": {"x": 1}}));
        for bad in
            [r#"{"env": [1,, 2]}"#, r#"{"env": {"a" 1}}"#, r#"{"env": "\q"}"#, r#"{"env": [1,]}"#, r#"{"env": 01}"#]
        {
            assert!(parse_pruned(bad, |k| k == "env").is_err(), "a skipped member is still checked: {bad}");
        }
    }

    #[test]
    fn lookups_match_serde_json_values() {
        let v = json!({"metadata": {"annotations": {"vramgate.io/model": "m", "a~b": 1}}, "l": [{"x": 0}]});
        let doc = Json::from(&v);
        for ptr in ["", "/metadata", "/metadata/annotations/vramgate.io~1model", "/metadata/annotations/a~0b", "/l/0/x"]
        {
            assert_eq!(doc.pointer(ptr).map(value).as_ref(), v.pointer(ptr), "{ptr}");
        }
        for missing in ["/l/00/x", "/l/1", "/l/-", "metadata", "/metadata/x"] {
            assert_eq!(doc.pointer(missing), None, "{missing}");
        }
        assert_eq!(doc.to_string(), v.to_string());
    }

    #[test]
    fn the_last_of_duplicate_keys_wins() {
        let doc = parse_pruned(r#"{"a": 1, "a": 2}"#, |_| false).unwrap();
        let expected: Value = serde_json::from_str(r#"{"a": 1, "a": 2}"#).unwrap();
        assert_eq!(doc.get("a").map(value).as_ref(), expected.get("a"));
    }
}
