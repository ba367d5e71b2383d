//! `serving:`: what admission does with an inference server that will not start (issue 15).

use super::ConfigError;
use serde::{Deserialize, Serialize};

/// What a serving deployment that will not start gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnWillNotStart {
    /// A breach: denied under `mode: enforce`, warned under `warn`, counted under `audit`.
    #[default]
    Deny,
    /// Advice: admitted with the message as a warning.
    Warn,
}

/// `serving:`, resolved. Cluster-wide (read on every reload, like the policy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServingSettings {
    pub on_will_not_start: OnWillNotStart,
    /// Decide "patch max-model-len to N" (the largest that starts) at the mutating webhook on
    /// CREATE, instead of denying. Never on UPDATE. Default false.
    pub patch_max_model_len: bool,
}

/// `serving:` as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServingFile {
    /// `deny` (default) or `warn`.
    pub on_will_not_start: Option<String>,
    pub patch_max_model_len: Option<bool>,
}

impl ServingFile {
    pub(super) fn resolve(&self, errs: &mut Vec<ConfigError>) -> ServingSettings {
        let on_will_not_start = match self.on_will_not_start.as_deref().map(str::trim) {
            None | Some("deny") => OnWillNotStart::Deny,
            Some("warn") => OnWillNotStart::Warn,
            Some(other) => {
                errs.push(ConfigError {
                    path: "serving.on_will_not_start".into(),
                    message: format!("'{}' is not accepted; accepted: deny, warn", other.escape_default()),
                });
                OnWillNotStart::Deny
            }
        };
        ServingSettings { on_will_not_start, patch_max_model_len: self.patch_max_model_len.unwrap_or(false) }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{OnWillNotStart, Settings};

    #[test]
    fn serving_defaults_deny_and_do_not_patch() {
        let s = Settings::from_yaml("").unwrap();
        assert_eq!(s.serving.on_will_not_start, OnWillNotStart::Deny);
        assert!(!s.serving.patch_max_model_len);
        let s = Settings::from_yaml("serving: {on_will_not_start: warn, patch_max_model_len: true}\n").unwrap();
        assert_eq!(s.serving.on_will_not_start, OnWillNotStart::Warn);
        assert!(s.serving.patch_max_model_len);
    }

    #[test]
    fn a_bad_serving_value_names_its_key() {
        let e = Settings::from_yaml("serving: {on_will_not_start: block}\n").unwrap_err();
        assert_eq!(e[0].path, "serving.on_will_not_start");
        assert!(e[0].message.contains("deny, warn"), "{e:?}");
        let e = Settings::from_yaml("serving: {patch_max_model_lenn: true}\n").unwrap_err();
        assert!(e[0].message.contains("patch_max_model_len"), "{e:?}");
    }
}
