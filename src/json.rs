//! A borrowed JSON document: the form in which the review path reads Kubernetes objects.
//!
//! **Pure.** A [`Json`] borrows its strings and keys from the text it was parsed from (a string
//! is copied only when it holds escapes) and keeps an object's members in a `Vec` in document
//! order, so reading a 4 KB AdmissionReview costs a few dozen allocations instead of the
//! several hundred a `serde_json::Value` needs (one `String` per key and string, one B-tree
//! node per few members). Parsing and its validation are serde_json's ([`Pruned`] is the
//! seed that builds a `Json`, leaving out members a reader never looks at, and [`parse`] caps
//! the values it builds with a [`Budget`]).
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
            let token = crate::pointer::unescape_token(token);
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
        let budget = Budget::new(usize::MAX);
        Pruned::new(|_, _| Member::Keep, &budget).deserialize(d)
    }
}

/// What a parse does with one member of an object, by its key (see [`Pruned`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    /// Not built: its value is only syntax-checked (serde_json's `IgnoredAny`, which scans
    /// without recursion or allocation beyond one byte per nesting level).
    Skip,
    /// Built; the members of an object value are decided by the rule again.
    Keep,
    /// Built, and if its value is an object, that object is an open map: each of its members
    /// is decided with [`Within::OpenMap`] (annotations, labels, resource limits, ...).
    KeepAll,
}

/// The kind of object whose member is being decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Within {
    /// An object with a schema: its members have fixed names.
    Object,
    /// The object value of a [`Member::KeepAll`] member: its keys are data (annotation keys,
    /// resource names, replica types), its values objects with a schema again.
    OpenMap,
}

/// Decides each member of an object while parsing.
pub type MemberRule = fn(Within, &str) -> Member;

/// The number of values a parse may build, shared by the parses of one request.
#[derive(Debug)]
pub struct Budget {
    limit: usize,
    built: std::cell::Cell<usize>,
}

impl Budget {
    #[must_use]
    pub fn new(limit: usize) -> Self {
        Self { limit, built: std::cell::Cell::new(0) }
    }

    /// Values built so far (a value that went over the limit included).
    #[must_use]
    pub fn built(&self) -> usize {
        self.built.get()
    }

    #[must_use]
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether a parse tried to build more than `limit` values.
    #[must_use]
    pub fn exceeded(&self) -> bool {
        self.built.get() > self.limit
    }

    fn take<E: de::Error>(&self) -> Result<(), E> {
        let n = self.built.get().saturating_add(1);
        self.built.set(n);
        if n > self.limit { Err(E::custom(format!("more than {} JSON values", self.limit))) } else { Ok(()) }
    }
}

/// Why [`parse`] gave no document.
#[derive(Debug)]
pub enum ParseError {
    /// The text is not one JSON value.
    Syntax(serde_json::Error),
    /// Building it would take more values than the [`Budget`] allows.
    TooManyValues { limit: usize },
}

/// `text` (one JSON value) as a [`Json`] built under `rule`, each built value (scalar, array or
/// object; not keys) taken from `budget`. JSON nesting of built values is capped by
/// serde_json's recursion limit (128 levels: an error); skipped members are scanned
/// iteratively, so their depth costs one byte per level and no stack.
pub fn parse<'a>(text: &'a str, rule: MemberRule, budget: &Budget) -> Result<Json<'a>, ParseError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let doc = Pruned::new(rule, budget).deserialize(&mut de).and_then(|doc| de.end().map(|()| doc));
    match doc {
        Ok(doc) => Ok(doc),
        Err(_) if budget.exceeded() => Err(ParseError::TooManyValues { limit: budget.limit }),
        Err(e) => Err(ParseError::Syntax(e)),
    }
}

impl Json<'_> {
    /// The number of values in the document, counted as [`Budget`] counts them: every scalar,
    /// array and object, not keys.
    #[must_use]
    pub fn node_count(&self) -> usize {
        1 + match self {
            Self::Array(a) => a.iter().map(Json::node_count).sum(),
            Self::Object(o) => o.0.iter().map(|(_, v)| v.node_count()).sum(),
            _ => 0,
        }
    }
}

/// Builds a [`Json`] borrowing from text of lifetime `'a`, deciding each object member with a
/// [`MemberRule`]: skipped members are still parsed (serde_json checks their syntax), but not
/// built. Every value built is taken from a [`Budget`]; past it, the parse fails.
#[derive(Clone, Copy)]
pub struct Pruned<'a, 'b> {
    rule: MemberRule,
    within: Within,
    budget: &'b Budget,
    _text: std::marker::PhantomData<&'a ()>,
}

impl<'b> Pruned<'_, 'b> {
    #[must_use]
    pub fn new(rule: MemberRule, budget: &'b Budget) -> Self {
        Self { rule, within: Within::Object, budget, _text: std::marker::PhantomData }
    }

    fn within(self, within: Within) -> Self {
        Self { within, ..self }
    }
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for Pruned<'a, '_> {
    type Value = Json<'a>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Json<'a>, D::Error> {
        d.deserialize_any(self)
    }
}

/// An object key, borrowed from the text where it holds no escapes. Keys are not values: they
/// take nothing from the budget (a key is stored with its member).
struct Key<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> DeserializeSeed<'de> for Key<'a> {
    type Value = Cow<'a, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'a, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for Key<'a> {
    type Value = Cow<'a, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'a, str>, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Cow<'a, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Cow<'a, str>, E> {
        Ok(Cow::Owned(v))
    }
}

impl<'de: 'a, 'a> Visitor<'de> for Pruned<'a, '_> {
    type Value = Json<'a>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json<'a>, E> {
        self.budget.take()?;
        Ok(Json::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json<'a>, E> {
        self.budget.take()?;
        Ok(Json::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json<'a>, E> {
        self.budget.take()?;
        Ok(Json::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json<'a>, E> {
        self.budget.take()?;
        // serde_json yields no non-finite number; `Null` is what `Value::from(f64)` makes of one.
        Ok(Number::from_f64(v).map_or(Json::Null, Json::Number))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Json<'a>, E> {
        self.budget.take()?;
        Ok(Json::String(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json<'a>, E> {
        self.budget.take()?;
        Ok(Json::String(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Json<'a>, E> {
        self.budget.take()?;
        Ok(Json::String(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Json<'a>, E> {
        self.budget.take()?;
        Ok(Json::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Json<'a>, E> {
        self.budget.take()?;
        Ok(Json::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json<'a>, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'a>, A::Error> {
        self.budget.take()?;
        let item = self.within(Within::Object);
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element_seed(item)? {
            out.push(v);
        }
        Ok(Json::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'a>, A::Error> {
        self.budget.take()?;
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some(key) = map.next_key_seed(Key(std::marker::PhantomData))? {
            match (self.rule)(self.within, &key) {
                Member::Skip => {
                    map.next_value::<de::IgnoredAny>()?;
                }
                Member::Keep => out.push((key, map.next_value_seed(self.within(Within::Object))?)),
                Member::KeepAll => out.push((key, map.next_value_seed(self.within(Within::OpenMap))?)),
            }
        }
        Ok(Json::Object(Object(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn all(_: Within, _: &str) -> Member {
        Member::Keep
    }

    fn no_env(_: Within, key: &str) -> Member {
        if key == "env" { Member::Skip } else { Member::Keep }
    }

    /// `text` parsed as the review path parses an object, under `rule`, with no value limit.
    fn parse_pruned(text: &str, rule: MemberRule) -> Result<Json<'_>, ParseError> {
        parse(text, rule, &Budget::new(usize::MAX))
    }

    /// The document as a `serde_json::Value`, through its `Serialize`.
    fn value(doc: &Json<'_>) -> Value {
        serde_json::to_value(doc).unwrap()
    }

    #[test]
    fn strings_without_escapes_are_borrowed_and_escaped_ones_decoded() {
        let text = r#"{"a": "plain", "b": "tab\there", "c\/d": [1, -2, 2.5, true, null]}"#;
        let doc = parse_pruned(text, all).unwrap();
        assert!(matches!(doc.get("a"), Some(Json::String(Cow::Borrowed("plain")))));
        assert_eq!(doc.get("b").and_then(Json::as_str), Some("tab\there"));
        assert_eq!(value(&doc), serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn skipped_members_are_left_out_at_any_depth_but_still_checked() {
        let doc = parse_pruned(r#"{"keep": {"env": [1], "x": 1}, "env": "y"}"#, no_env).unwrap();
        assert_eq!(value(&doc), json!({"keep": {"x": 1}}));
        for bad in
            [r#"{"env": [1,, 2]}"#, r#"{"env": {"a" 1}}"#, r#"{"env": "\q"}"#, r#"{"env": [1,]}"#, r#"{"env": 01}"#]
        {
            assert!(parse_pruned(bad, no_env).is_err(), "a skipped member is still checked: {bad}");
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
        let doc = parse_pruned(r#"{"a": 1, "a": 2}"#, all).unwrap();
        let expected: Value = serde_json::from_str(r#"{"a": 1, "a": 2}"#).unwrap();
        assert_eq!(doc.get("a").map(value).as_ref(), expected.get("a"));
    }

    /// Only `annotations`, `spec` and `replicas` are read; `annotations` is an open map.
    fn schema(within: Within, key: &str) -> Member {
        match (within, key) {
            (Within::OpenMap, _) => Member::Keep,
            (Within::Object, "annotations") => Member::KeepAll,
            (Within::Object, "spec" | "replicas") => Member::Keep,
            _ => Member::Skip,
        }
    }

    #[test]
    fn open_maps_keep_every_key_and_their_values_follow_the_schema_again() {
        let text = r#"{"annotations": {"any/key": "v", "m": {"replicas": 1, "x": [1, 2]}},
                       "spec": {"replicas": 2, "unread": [0, 0, {}], "annotations": {"k": {"x": 1}}}, "kind": "K"}"#;
        let doc = parse_pruned(text, schema).unwrap();
        assert_eq!(
            value(&doc),
            json!({"annotations": {"any/key": "v", "m": {"replicas": 1}}, "spec": {"replicas": 2, "annotations": {"k": {}}}})
        );
    }

    #[test]
    fn skipped_members_build_no_values_and_built_ones_are_counted() {
        let zeros = vec!["0"; 100_000].join(",");
        let empties = vec!["{}"; 100_000].join(",");
        for unread in [format!("[{zeros}]"), format!("[{empties}]")] {
            let text = format!(r#"{{"spec": {{"replicas": 3, "x": {unread}}}}}"#);
            let budget = Budget::new(10);
            let doc = parse(&text, schema, &budget).unwrap();
            assert_eq!(budget.built(), 3, "the root, spec and replicas; the unread array costs nothing");
            assert_eq!(doc.node_count(), 3);
        }
    }

    #[test]
    fn a_parse_past_its_budget_fails_as_too_many_values() {
        let text = format!(r#"{{"spec": {{"replicas": [{}]}}}}"#, vec!["1"; 100].join(","));
        let budget = Budget::new(50);
        assert!(matches!(parse(&text, schema, &budget), Err(ParseError::TooManyValues { limit: 50 })));
        assert!(budget.exceeded());
        let budget = Budget::new(103);
        assert_eq!(parse(&text, schema, &budget).unwrap().node_count(), 103);
        // A syntax error is one, whatever the budget.
        assert!(matches!(parse(r#"{"spec": [1,]}"#, schema, &Budget::new(50)), Err(ParseError::Syntax(_))));
    }

    #[test]
    fn built_nesting_is_capped_by_serde_json_and_skipped_nesting_is_scanned_without_recursion() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let built = format!(r#"{{"spec": {}}}"#, deep(200));
        let err = parse_pruned(&built, schema).unwrap_err();
        assert!(matches!(&err, ParseError::Syntax(e) if e.to_string().contains("recursion limit")), "{err:?}");
        let skipped = format!(r#"{{"spec": {{"x": {}}}}}"#, deep(100_000));
        assert_eq!(parse_pruned(&skipped, schema).unwrap().node_count(), 2);
    }
}
