//! Measurement for issue 13's json.rs decision: per-review instructions (callgrind)
//! and heap blocks (dhat) of (a) the borrowed `json::Json` parse with the review allow-list,
//! (b) the same allow-list building a `serde_json::Value`, and the whole `admission::answer`.
//! Usage: json-decision MODE N (runs MODE N+1 times); see run.sh and docs/performance.md.
use std::cell::Cell;
use std::fmt;
use std::hint::black_box;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use vramgate::admission::review::read_member;
use vramgate::admission::{Endpoint, answer};
use vramgate::config::Settings;
use vramgate::json::{self, Budget, Member, MemberRule, Within};

/// (b): the allow-list seed, building a `serde_json::Value`, counting built values as Budget does.
#[derive(Clone, Copy)]
struct PrunedValue<'b> {
    rule: MemberRule,
    within: Within,
    built: &'b Cell<usize>,
    limit: usize,
}

impl PrunedValue<'_> {
    fn take<E: de::Error>(&self) -> Result<(), E> {
        let n = self.built.get().saturating_add(1);
        self.built.set(n);
        if n > self.limit { Err(E::custom(format!("more than {} JSON values", self.limit))) } else { Ok(()) }
    }
    fn within(self, within: Within) -> Self {
        Self { within, ..self }
    }
}

impl<'de> DeserializeSeed<'de> for PrunedValue<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PrunedValue<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.take()?;
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.take()?;
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.take()?;
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.take()?;
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.take()?;
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.take()?;
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.take()?;
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.take()?;
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.take()?;
        let item = self.within(Within::Object);
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element_seed(item)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.take()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match (self.rule)(self.within, &key) {
                Member::Skip => {
                    map.next_value::<de::IgnoredAny>()?;
                }
                Member::Keep => {
                    let v = map.next_value_seed(self.within(Within::Object))?;
                    out.insert(key, v);
                }
                Member::KeepAll => {
                    let v = map.next_value_seed(self.within(Within::OpenMap))?;
                    out.insert(key, v);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

fn parse_value(text: &str, limit: usize) -> Value {
    let built = Cell::new(0);
    let mut de = serde_json::Deserializer::from_str(text);
    let v =
        PrunedValue { rule: read_member, within: Within::Object, built: &built, limit }.deserialize(&mut de).unwrap();
    de.end().unwrap();
    v
}

#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    request: Req<'a>,
}
#[derive(serde::Deserialize)]
struct Req<'a> {
    #[serde(borrow)]
    object: &'a RawValue,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args[1].as_str();
    let n: usize = args[2].parse().unwrap();
    let settings = Settings::default();
    let limit = settings.server.max_object_nodes;
    let denied = include_bytes!("../../../benches/fixtures/job-review-4k.json").to_vec();
    let fits = include_bytes!("../../../benches/fixtures/job-review-4k-fits.json").to_vec();
    let denied_text = std::str::from_utf8(&denied).unwrap();
    let env: Envelope<'_> = serde_json::from_str(denied_text).unwrap();
    let object = env.request.object.get();
    // Same documents from both parsers.
    let a = json::parse(object, read_member, &Budget::new(limit)).unwrap();
    assert_eq!(serde_json::to_value(&a).unwrap(), parse_value(object, limit));
    let run = |f: &dyn Fn()| {
        for _ in 0..=n {
            f();
        }
    };
    match mode {
        "none" => {}
        "json" => run(&|| {
            black_box(json::parse(black_box(object), read_member, &Budget::new(limit)).unwrap());
        }),
        "value" => run(&|| {
            black_box(parse_value(black_box(object), limit));
        }),
        "answer-denied" => run(&|| {
            black_box(answer(&settings, Endpoint::Validate, black_box(&denied)));
        }),
        "answer-fits" => run(&|| {
            black_box(answer(&settings, Endpoint::Validate, black_box(&fits)));
        }),
        "answer-mutate" => run(&|| {
            black_box(answer(&settings, Endpoint::Mutate, black_box(&fits)));
        }),
        _ => panic!("mode"),
    }
}
