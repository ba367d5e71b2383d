//! One reader for the flat sections of the config (`server:`, `metrics:`, `cluster:`, `audit:`,
//! `serving:`): each field is read by a typed, bounded getter that reports a bad value with its key path, the
//! value and what is accepted, and [`Section::finish`] reports every key no getter asked for,
//! with the closest known key (edit distance, `estimate::catalog::closest`). Every problem of a
//! section is collected, not only the first, and a bad value falls back to its default so the
//! other keys are still checked.

use std::path::PathBuf;
use std::time::Duration;

use serde_yaml_ng::Value;

use super::ConfigError;
use crate::estimate::catalog::closest;

/// A section being read: the keys not yet asked for, and those asked for so far.
pub(super) struct Section<'e> {
    name: &'static str,
    unread: Vec<(String, Value)>,
    known: Vec<&'static str>,
    errs: &'e mut Vec<ConfigError>,
}

/// A value as an error message shows it: scalars as written, collections by their kind.
fn shown(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", short(s)),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

/// At most 64 characters of `text`, escaped: a key or value echoed back cannot be long or
/// hide look-alike characters (as `request::parse_fields` shows an unknown annotation key).
fn short(text: &str) -> String {
    text.chars().take(64).flat_map(char::escape_default).collect()
}

impl<'e> Section<'e> {
    /// The section `name` (a top-level key) as written; absent or `null` is an empty section.
    /// Anything but a mapping with text keys is an error at `name`.
    pub(super) fn new(name: &'static str, value: &Value, errs: &'e mut Vec<ConfigError>) -> Self {
        let mut unread = Vec::new();
        match value {
            Value::Null => {}
            Value::Mapping(m) => {
                for (k, v) in m {
                    match k {
                        Value::String(k) => unread.push((k.clone(), v.clone())),
                        other => errs.push(ConfigError {
                            path: name.into(),
                            message: format!("the key {} is not accepted; accepted: keys are text", shown(other)),
                        }),
                    }
                }
            }
            other => errs.push(ConfigError {
                path: name.into(),
                message: format!("{} is not accepted; accepted: a mapping of keys to values", shown(other)),
            }),
        }
        Self { name, unread, known: Vec::new(), errs }
    }

    /// The value of `key`, if written (`null` counts as not written); `key` is known from now on.
    fn take(&mut self, key: &'static str) -> Option<Value> {
        self.known.push(key);
        let i = self.unread.iter().position(|(k, _)| k == key)?;
        Some(self.unread.swap_remove(i).1).filter(|v| !v.is_null())
    }

    fn error(&mut self, key: &str, message: String) {
        self.errs.push(ConfigError { path: format!("{}.{key}", self.name), message });
    }

    /// A whole number from `min` to `max`; `default` when absent or wrong.
    pub(super) fn count(&mut self, key: &'static str, min: u64, max: u64, default: u64) -> u64 {
        let Some(v) = self.take(key) else { return default };
        match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => n,
            _ => {
                self.error(key, format!("{} is not accepted; accepted: {min} to {max}", shown(&v)));
                default
            }
        }
    }

    /// A whole number from `min` to `max`, or 0 for off (`None`); `Some(default)` when absent or
    /// wrong.
    pub(super) fn count_or_off(&mut self, key: &'static str, min: u64, max: u64, default: u64) -> Option<u64> {
        let Some(v) = self.take(key) else { return Some(default) };
        match v.as_u64() {
            Some(0) => None,
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.error(key, format!("{} is not accepted; accepted: 0 (off) or {min} to {max}", shown(&v)));
                Some(default)
            }
        }
    }

    /// [`Section::count`] as a `usize` (a size or a number of things held in memory).
    pub(super) fn size(&mut self, key: &'static str, min: u64, max: u64, default: usize) -> usize {
        let n = self.count(key, min, max, u64::try_from(default).unwrap_or(u64::MAX));
        usize::try_from(n).unwrap_or(default)
    }

    /// Seconds, more than 0 and at most `max_seconds`; `default` when absent or wrong. `why`
    /// follows the accepted range in the message (where the bound comes from), or is empty.
    pub(super) fn seconds(&mut self, key: &'static str, max_seconds: f64, default: Duration, why: &str) -> Duration {
        let Some(v) = self.take(key) else { return default };
        match v.as_f64() {
            Some(s) if s.is_finite() && s > 0.0 && s <= max_seconds => Duration::from_secs_f64(s),
            _ => {
                self.error(
                    key,
                    format!("{} is not accepted; accepted: seconds > 0 and at most {max_seconds}{why}", shown(&v)),
                );
                default
            }
        }
    }

    /// `true` or `false`; `default` when absent or wrong.
    pub(super) fn flag(&mut self, key: &'static str, default: bool) -> bool {
        let Some(v) = self.take(key) else { return default };
        v.as_bool().unwrap_or_else(|| {
            self.error(key, format!("{} is not accepted; accepted: true or false", shown(&v)));
            default
        })
    }

    /// One of `options` by name (white space around it ignored); the first when absent or wrong.
    pub(super) fn choice<T: Copy>(&mut self, key: &'static str, options: &[(&'static str, T)]) -> T {
        let default = options[0].1;
        let Some(v) = self.take(key) else { return default };
        let named = v.as_str().and_then(|text| options.iter().find(|(name, _)| *name == text.trim()));
        if let Some(&(_, t)) = named {
            return t;
        }
        let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        self.error(key, format!("{} is not accepted; accepted: {}", shown(&v), names.join(", ")));
        default
    }

    /// Non-empty text; `None` when absent or wrong. `what` says what the text is.
    pub(super) fn text(&mut self, key: &'static str, what: &str) -> Option<String> {
        let v = self.take(key)?;
        match v.as_str() {
            Some(s) if !s.is_empty() => Some(s.to_owned()),
            _ => {
                self.error(key, format!("{} is not accepted; accepted: {what}, or leave the key out", shown(&v)));
                None
            }
        }
    }

    /// [`Section::text`] as a file path.
    pub(super) fn path(&mut self, key: &'static str, what: &str) -> Option<PathBuf> {
        self.text(key, what).map(PathBuf::from)
    }

    /// Reports every key that no getter asked for, each with the closest known keys.
    pub(super) fn finish(mut self) {
        let mut unknown = std::mem::take(&mut self.unread);
        unknown.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, _) in unknown {
            let near = closest(&key, self.known.iter().map(|k| (*k, vec![(*k).to_owned()])));
            let hint = if near.is_empty() { String::new() } else { format!("did you mean {}? ", near.join(", ")) };
            let key = short(&key);
            let message = format!("unknown key '{key}'; {hint}accepted: {}", self.known.join(", "));
            self.error(&key, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str, f: impl FnOnce(&mut Section<'_>)) -> Vec<ConfigError> {
        let value: Value = serde_yaml_ng::from_str(yaml).unwrap();
        let mut errs = Vec::new();
        let mut s = Section::new("s", &value, &mut errs);
        f(&mut s);
        s.finish();
        errs
    }

    #[test]
    fn every_bad_value_and_unknown_key_is_reported_with_path_value_and_what_is_accepted() {
        let errs = read("{n: 0, t: .nan, b: 'yes', p: '', max_bodyy: 1, completely_unrelated_key: 2}", |s| {
            assert_eq!(s.count("n", 1, 10, 5), 5, "a bad value falls back to the default");
            assert_eq!(s.seconds("t", 30.0, Duration::from_secs(3), " (why)"), Duration::from_secs(3));
            assert!(s.flag("b", true));
            assert_eq!(s.path("p", "a path"), None);
            assert_eq!(s.count("max_body", 1, 10, 4), 4);
        });
        let got: Vec<(&str, &str)> = errs.iter().map(|e| (e.path.as_str(), e.message.as_str())).collect();
        assert_eq!(
            got,
            [
                ("s.n", "0 is not accepted; accepted: 1 to 10"),
                ("s.t", ".nan is not accepted; accepted: seconds > 0 and at most 30 (why)"),
                ("s.b", "'yes' is not accepted; accepted: true or false"),
                ("s.p", "'' is not accepted; accepted: a path, or leave the key out"),
                (
                    "s.completely_unrelated_key",
                    "unknown key 'completely_unrelated_key'; accepted: n, t, b, p, max_body"
                ),
                ("s.max_bodyy", "unknown key 'max_bodyy'; did you mean max_body? accepted: n, t, b, p, max_body"),
            ]
        );
    }

    #[test]
    fn absent_and_null_values_and_sections_take_the_defaults_silently() {
        for yaml in ["null", "{}", "{n: null}"] {
            let errs = read(yaml, |s| assert_eq!(s.count("n", 1, 10, 5), 5));
            assert!(errs.is_empty(), "{yaml}: {errs:?}");
        }
        let errs = read("[1]", |s| assert_eq!(s.count("n", 1, 10, 5), 5));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].message, "a list is not accepted; accepted: a mapping of keys to values");
    }

    #[test]
    fn a_long_or_look_alike_unknown_key_is_shown_short_and_escaped() {
        let long = format!("caf\u{e9}{}", "k".repeat(100));
        let errs = read(&format!("{{{long}: 1}}"), |_| {});
        let shown = format!("caf\\u{{e9}}{}", "k".repeat(60));
        assert_eq!(errs[0].path, format!("s.{shown}"), "64 characters, escaped");
        assert!(errs[0].message.starts_with(&format!("unknown key '{shown}';")), "{errs:?}");
    }

    #[test]
    fn a_count_may_be_off_and_a_choice_is_one_of_its_names() {
        let errs = read("{off: 0, on: 20, low: 5, word: x, pick: ' warn ', bad: block, num: 5}", |s| {
            assert_eq!(s.count_or_off("off", 10, 100, 60), None, "0 is off");
            assert_eq!(s.count_or_off("on", 10, 100, 60), Some(20));
            assert_eq!(s.count_or_off("low", 10, 100, 60), Some(60), "below the range: the default");
            assert_eq!(s.count_or_off("word", 10, 100, 60), Some(60));
            assert_eq!(s.count_or_off("absent", 10, 100, 60), Some(60));
            let options = [("deny", 1), ("warn", 2)];
            assert_eq!(s.choice("pick", &options), 2, "white space around a name is ignored");
            assert_eq!(s.choice("bad", &options), 1, "a wrong name: the first");
            assert_eq!(s.choice("num", &options), 1);
            assert_eq!(s.choice("none", &options), 1);
        });
        let got: Vec<(&str, &str)> = errs.iter().map(|e| (e.path.as_str(), e.message.as_str())).collect();
        assert_eq!(
            got,
            [
                ("s.low", "5 is not accepted; accepted: 0 (off) or 10 to 100"),
                ("s.word", "'x' is not accepted; accepted: 0 (off) or 10 to 100"),
                ("s.bad", "'block' is not accepted; accepted: deny, warn"),
                ("s.num", "5 is not accepted; accepted: deny, warn"),
            ]
        );
    }
}
