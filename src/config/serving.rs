//! `serving:`: what admission does with an inference server that will not start (issue 15).

use super::ConfigError;
use super::section::Section;
use serde_yaml_ng::Value;

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

/// Reads `serving:` (every key optional) through [`Section`]: the settings, every problem
/// pushed with its key path (`serving.on_will_not_start`).
pub(super) fn resolve(section: &Value, errs: &mut Vec<ConfigError>) -> ServingSettings {
    let mut s = Section::new("serving", section, errs);
    let settings = ServingSettings {
        on_will_not_start: s
            .choice("on_will_not_start", &[("deny", OnWillNotStart::Deny), ("warn", OnWillNotStart::Warn)]),
        patch_max_model_len: s.flag("patch_max_model_len", false),
    };
    s.finish();
    settings
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
        // Read by `Section`: a wrong type names the value, and both problems come back.
        let e = Settings::from_yaml("serving: {on_will_not_start: 1, patch_max_model_len: 'yes'}\n").unwrap_err();
        let got: Vec<String> = e.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "serving.on_will_not_start: 1 is not accepted; accepted: deny, warn",
                "serving.patch_max_model_len: 'yes' is not accepted; accepted: true or false",
            ]
        );
    }
}
