//! `gpus:`: the GPU catalog's overrides and additions, shared with `vramgate estimate --gpu-catalog`.
//!
//! An entry is not a second, all-`Option` copy of [`GpuSpec`]: it is the name and the fields
//! given, each read with `GpuSpec`'s own `Deserialize` (so its type, its YAML coercions and its
//! error message are exactly `GpuSpec`'s), then laid over the built-in entry through serde. A
//! field added to `GpuSpec` is accepted here with no second edit; which fields a new GPU must
//! give is what `GpuSpec` cannot default.

use super::ConfigError;
use crate::estimate::catalog::{GpuCatalog, builtin_gpus};
use crate::estimate::gpu::GpuSpec;
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_yaml_ng::{Mapping, Value};
use std::fmt;

/// A GPU catalog entry as written: `name` and any other [`GpuSpec`] fields, so overriding a
/// built-in GPU's price takes one line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuEntry {
    pub name: String,
    /// The other fields given, by their `GpuSpec` key, each already of its `GpuSpec` type (a
    /// YAML `2020` given as `price_date` is the string `"2020"`).
    pub fields: Mapping,
}

/// `GpuSpec`'s field names, as its derived `Deserialize` declares them (serde passes them to
/// `deserialize_struct`): the accepted keys of an entry, in the order error messages list them.
fn spec_fields() -> &'static [&'static str] {
    struct Fields(Option<&'static [&'static str]>);
    impl<'de> Deserializer<'de> for &mut Fields {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = Some(fields);
            Err(de::Error::custom("fields read"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
            unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut f = Fields(None);
    let _ = GpuSpec::deserialize(&mut f);
    f.0.unwrap_or(&[])
}

/// A built-in GPU as a mapping of every field: what a single given field is read beside.
fn template() -> Mapping {
    builtin_gpus()
        .first()
        .and_then(|g| match serde_yaml_ng::to_value(g) {
            Ok(Value::Mapping(m)) => Some(m),
            _ => None,
        })
        .unwrap_or_default()
}

/// The fields a new GPU must give: those `GpuSpec` has no default for.
fn required_fields(fields: &'static [&'static str], template: &Mapping) -> Vec<&'static str> {
    fields
        .iter()
        .filter(|f| {
            let mut m = template.clone();
            m.remove(**f);
            serde_yaml_ng::from_value::<GpuSpec>(Value::Mapping(m)).is_err()
        })
        .copied()
        .collect()
}

impl<'de> Deserialize<'de> for GpuEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = GpuEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct GpuEntry")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<GpuEntry, A::Error> {
        let fields = spec_fields();
        let template = template();
        let mut name = None;
        let mut given = Mapping::new();
        let mut seen = Vec::new();
        while let Some(key) = map.next_key_seed(Key(fields))? {
            if key == "name" {
                if name.is_some() {
                    return Err(de::Error::duplicate_field("name"));
                }
                name = Some(map.next_value::<String>()?);
            } else {
                if seen.contains(&key) {
                    return Err(de::Error::duplicate_field(key));
                }
                seen.push(key);
                // `null` is "not given", as for an `Option` field.
                if let Some(v) = map.next_value_seed(Field { key, template: &template })? {
                    given.insert(Value::from(key), v);
                }
            }
        }
        let name = name.ok_or_else(|| de::Error::missing_field("name"))?;
        Ok(GpuEntry { name, fields: given })
    }
}

/// Reads a key; one that is not a `GpuSpec` field is refused as serde's derive refuses it.
struct Key(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = &'static str;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<&'static str, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl Visitor<'_> for Key {
    type Value = &'static str;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field identifier")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<&'static str, E> {
        self.0.iter().find(|f| **f == v).copied().ok_or_else(|| E::unknown_field(v, self.0))
    }
    /// A key given as an index, as serde's derive accepts it.
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<&'static str, E> {
        let n = self.0.len();
        usize::try_from(v)
            .ok()
            .and_then(|i| self.0.get(i))
            .copied()
            .ok_or_else(|| E::invalid_value(de::Unexpected::Unsigned(v), &format!("field index 0 <= i < {n}").as_str()))
    }
}

/// Reads one field's value with `GpuSpec`'s `Deserialize`: the value is handed to `GpuSpec`
/// as the only entry written, beside `template`'s other fields; the field is then read back.
struct Field<'a> {
    key: &'static str,
    template: &'a Mapping,
}

impl<'de> DeserializeSeed<'de> for Field<'_> {
    type Value = Option<Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Field<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the GPU field {}", self.key)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        let others: Vec<(Value, Value)> = self
            .template
            .iter()
            .filter(|(k, _)| k.as_str() != Some(self.key))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let spec =
            GpuSpec::deserialize(OneField { key: self.key, value: Some(d), others: others.into_iter(), next: None })?;
        match serde_yaml_ng::to_value(&spec) {
            Ok(Value::Mapping(mut m)) => m.remove(self.key).map(Some).ok_or_else(|| de::Error::missing_field(self.key)),
            Ok(_) => Err(de::Error::custom("a GPU entry is not a mapping")),
            Err(e) => Err(de::Error::custom(e)),
        }
    }
}

/// A map of `key` (its value read from the real input) and then the template's other fields.
struct OneField<D, I> {
    key: &'static str,
    value: Option<D>,
    others: I,
    next: Option<Value>,
}

impl<'de, D: Deserializer<'de>, I: Iterator<Item = (Value, Value)>> Deserializer<'de> for OneField<D, I> {
    type Error = D::Error;
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
        v.visit_map(self)
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de, D: Deserializer<'de>, I: Iterator<Item = (Value, Value)>> MapAccess<'de> for OneField<D, I> {
    type Error = D::Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, D::Error> {
        if self.value.is_some() {
            let key: de::value::StrDeserializer<'_, D::Error> = self.key.into_deserializer();
            return seed.deserialize(key).map(Some);
        }
        match self.others.next() {
            None => Ok(None),
            Some((k, v)) => {
                self.next = Some(v);
                seed.deserialize(k).map(Some).map_err(de::Error::custom)
            }
        }
    }
    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, D::Error> {
        if let Some(d) = self.value.take() {
            return seed.deserialize(d);
        }
        let v = self.next.take().ok_or_else(|| de::Error::custom("a value without its key"))?;
        seed.deserialize(v).map_err(de::Error::custom)
    }
}

impl Serialize for GpuEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1 + self.fields.len()))?;
        m.serialize_entry("name", &self.name)?;
        for (k, v) in &self.fields {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// Why an entry does not make a GPU.
enum Unresolved {
    /// A new GPU lacks these facts.
    Missing(Vec<&'static str>),
    /// The merged entry is not a `GpuSpec` (a given field was read as one, so this is not
    /// expected).
    Invalid(String),
}

impl GpuEntry {
    fn given(&self, field: &str) -> bool {
        self.fields.contains_key(field)
    }

    /// The entry laid over `base` (a built-in GPU), field by field, or, without one, a new GPU
    /// whose required facts must all be given. Errors name the missing fields.
    fn resolve(&self, base: Option<&GpuSpec>) -> Result<GpuSpec, Unresolved> {
        let mut merged = match base {
            Some(b) => match serde_yaml_ng::to_value(b) {
                Ok(Value::Mapping(m)) => m,
                Ok(_) => return Err(Unresolved::Invalid("a GPU is not a mapping".into())),
                Err(e) => return Err(Unresolved::Invalid(e.to_string())),
            },
            None => {
                let missing: Vec<&'static str> = required_fields(spec_fields(), &template())
                    .into_iter()
                    .filter(|f| *f != "name" && !self.given(f))
                    .collect();
                if !missing.is_empty() {
                    return Err(Unresolved::Missing(missing));
                }
                let mut m = Mapping::new();
                m.insert("name".into(), self.name.clone().into());
                m
            }
        };
        for (k, v) in &self.fields {
            merged.insert(k.clone(), v.clone());
        }
        // A new price without its own source must not keep the old price's source.
        if self.given("usd_per_hour") {
            if !self.given("price_source") {
                merged.insert("price_source".into(), "config file".into());
            }
            if !self.given("price_date") {
                merged.insert("price_date".into(), "".into());
            }
        }
        serde_yaml_ng::from_value(Value::Mapping(merged)).map_err(|e| Unresolved::Invalid(e.to_string()))
    }
}

/// The built-in catalog with config-file `entries` laid over it (see [`GpuEntry`]); shared by
/// the config file's `gpus` and `vramgate estimate --gpu-catalog`.
///
/// # Errors
/// Every problem of every entry, with its path (`gpus[2].usd_per_hour`).
pub fn catalog_with(entries: &[GpuEntry]) -> Result<GpuCatalog, Vec<ConfigError>> {
    let mut errs = Vec::new();
    let mut err = |path: String, message: String| errs.push(ConfigError { path, message });
    let mut catalog = GpuCatalog::builtin();
    let mut specs = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        if entry.name.trim().is_empty() {
            err(format!("gpus[{i}].name"), "must not be empty".into());
            continue;
        }
        let g = match entry.resolve(catalog.find(&entry.name)) {
            Ok(g) => g,
            Err(Unresolved::Invalid(message)) => {
                err(format!("gpus[{i}]"), message);
                continue;
            }
            Err(Unresolved::Missing(missing)) => {
                for m in missing {
                    err(
                        format!("gpus[{i}].{m}"),
                        format!("is required: '{}' is not a built-in GPU, so every fact must be given", entry.name),
                    );
                }
                continue;
            }
        };
        if g.memory_bytes == 0 {
            err(format!("gpus[{i}].memory_bytes"), "must be more than 0".into());
        }
        if !(g.usd_per_hour.is_finite() && g.usd_per_hour >= 0.0) {
            err(
                format!("gpus[{i}].usd_per_hour"),
                format!("{} is not accepted; accepted: dollars >= 0", g.usd_per_hour),
            );
        }
        for (field, v) in [
            ("dense_bf16_flops", g.dense_bf16_flops),
            ("dense_fp16_flops", g.dense_fp16_flops),
            ("dense_fp8_flops", g.dense_fp8_flops),
            ("dense_fp32_flops", g.dense_fp32_flops),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                err(format!("gpus[{i}].{field}"), format!("{v} is not accepted; accepted: FLOP/s >= 0"));
            }
        }
        specs.push(g);
    }
    catalog.merge(specs);
    if errs.is_empty() { Ok(catalog) } else { Err(errs) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    /// The override reuses `GpuSpec`: every one of its fields is a key an entry may give, and
    /// overrides just that field of a built-in GPU. A field added to `GpuSpec` is covered here
    /// without a second edit.
    #[test]
    fn every_gpu_spec_field_overrides_a_built_in_gpu() {
        let fields = spec_fields();
        assert_eq!(fields.first(), Some(&"name"), "{fields:?}");
        let h100 = serde_yaml_ng::to_value(GpuCatalog::builtin().find("H100-80GB").unwrap()).unwrap();
        for f in fields.iter().filter(|f| **f != "name") {
            let other = match &h100[*f] {
                Value::Bool(b) => Value::Bool(!b),
                Value::Number(n) if n.is_u64() => Value::from(n.as_u64().unwrap() + 1),
                Value::Number(n) => Value::from(n.as_f64().unwrap() + 1.0),
                Value::String(s) => Value::from(format!("{s} changed")),
                Value::Sequence(s) => Value::Sequence([s.clone(), vec![Value::from("changed")]].concat()),
                v => panic!("{f}: a field of an unexpected shape {v:?}"),
            };
            let yaml = format!("gpus:\n- name: h100\n  {f}: {}\n", serde_json::to_string(&other).unwrap());
            let s = Settings::from_yaml(&yaml).unwrap_or_else(|e| panic!("{yaml}: {e:?}"));
            let got = serde_yaml_ng::to_value(s.catalog.find("H100-80GB").unwrap()).unwrap();
            assert_eq!(got[*f], other, "{f}");
            for g in fields.iter().filter(|g| *g != f && !matches!(**g, "price_source" | "price_date")) {
                assert_eq!(got[*g], h100[*g], "{g} changed when only {f} was given");
            }
        }
    }

    /// As with the `Option` fields this type replaces: `null` is "not given", and a value of
    /// the wrong type is refused with its key path.
    #[test]
    fn null_is_not_given_and_a_wrong_type_names_its_key() {
        let s = Settings::from_yaml("gpus:\n- {name: h100, usd_per_hour: null, aliases: null}\n").unwrap();
        assert_eq!(s.catalog, GpuCatalog::builtin());
        let e = Settings::from_yaml("gpus:\n- {name: h100, memory_bytes: lots}\n").unwrap_err();
        assert_eq!(e[0].path, "gpus[0].memory_bytes", "{e:?}");
        assert!(e[0].message.contains("expected u64"), "{e:?}");
        let e = Settings::from_yaml("gpus:\n- {name: h100, memory: 1}\n").unwrap_err();
        assert!(e[0].message.contains("unknown field `memory`, expected one of `name`, `aliases`"), "{e:?}");
    }
}
