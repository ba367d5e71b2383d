//! `policy.exemptions`: where a `vramgate.io/exempt` annotation is honoured
//! (`admission::exempt`). Cluster-wide only: it lists the namespaces itself, so a namespace
//! entry cannot grant itself exemptions.

use super::{ConfigError, is_dns_label};
use serde::{Deserialize, Serialize};

/// `policy.exemptions` as written and as resolved (validated by [`Exemptions::check`]). The
/// default honours no exemption anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Exemptions {
    /// Namespaces whose objects may carry an honoured exemption; empty: none.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// When this or `groups` is non-empty, only a requesting user (the review's
    /// `userInfo.username`) listed here, or in one of `groups`, may exempt.
    #[serde(default)]
    pub users: Vec<String>,
    /// Groups (`userInfo.groups`) whose members may exempt; see `users`.
    #[serde(default)]
    pub groups: Vec<String>,
}

impl Exemptions {
    /// Pushes every problem, each with its path under `at` (`policy.exemptions`).
    pub(super) fn check(&self, at: &str, errs: &mut Vec<ConfigError>) {
        for (i, ns) in self.namespaces.iter().enumerate() {
            if !is_dns_label(ns) {
                errs.push(ConfigError {
                    path: format!("{at}.namespaces[{i}]"),
                    message: format!(
                        "'{ns}' is not a namespace name; accepted: a DNS label (a-z, 0-9, '-', at most 63)"
                    ),
                });
            }
        }
        for (field, list) in [("users", &self.users), ("groups", &self.groups)] {
            for (i, v) in list.iter().enumerate() {
                if v.trim().is_empty() {
                    errs.push(ConfigError {
                        path: format!("{at}.{field}[{i}]"),
                        message: "is empty; accepted: a Kubernetes user or group name as userInfo gives it".into(),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;

    #[test]
    fn exemptions_are_read_from_policy_and_checked() {
        let s = Settings::from_yaml("policy:\n  exemptions:\n    namespaces: [research]\n    groups: [ml-leads]\n")
            .unwrap();
        assert_eq!(s.exemptions.namespaces, ["research"]);
        assert_eq!(s.exemptions.groups, ["ml-leads"]);
        assert!(Settings::default().exemptions.namespaces.is_empty(), "none by default");
        let errs = Settings::from_yaml(
            "policy:\n  exemptions:\n    namespaces: [Research]\n    users: ['']\nnamespaces:\n  a:\n    exemptions: {namespaces: [a]}\n",
        )
        .unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["policy.exemptions.namespaces[0]", "policy.exemptions.users[0]", "namespaces.a.exemptions"]);
        let e = Settings::from_yaml("policy:\n  exemptions:\n    namespace: [a]\n").unwrap_err();
        assert!(e[0].message.contains("unknown field `namespace`"), "{e:?}");
    }
}
