//! `vramgate.io/exempt: "<reason>"`: a per-object exemption from a denial, honoured only where
//! the config's `policy.exemptions` allows it (its namespaces and, optionally, its users or
//! groups from the review's `userInfo`). Pure.
//!
//! Never a silent bypass: an honoured exemption turns a denial into a warning that names who
//! exempted the object, the reason and what would have been denied, and the validating
//! webhook adds the audit annotation `exempted` and counts it in `vramgate_exemptions_total`.
//! An exemption that is not allowed (namespace, user, empty reason) is ignored: the object is
//! judged as without it, and the message says that it was not honoured and why. Modelled on
//! Kyverno's PolicyExceptions (<https://kyverno.io/docs/exceptions/>), which are likewise
//! enabled per namespace and visible in reports, but carried on the object, as Gatekeeper's
//! `admission.gatekeeper.sh/ignore` label is, so that whoever can create the object in an allowed
//! namespace (and is an allowed user) can ask for one.

use super::decide::{Decision, Evaluation};
use crate::config::Exemptions;
use crate::json::Json;
use crate::request::PREFIX;
use serde::{Deserialize, Serialize};
use strum::{IntoStaticStr, VariantArray};

/// The annotation key, without [`PREFIX`] (listed in `contract::POLICY_KEYS`).
pub const EXEMPT_KEY: &str = "exempt";

/// Longest reason accepted, in characters: it is echoed into warnings, the audit annotation
/// and `check`'s output, so a megabyte annotation is refused rather than copied around.
pub const MAX_REASON_CHARS: usize = 200;

/// The review's `request.userInfo` (the fields read of it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct UserInfo {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// What became of an exemption: the `outcome` label of `vramgate_exemptions_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, IntoStaticStr, VariantArray)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Outcome {
    /// The object would have been denied; it is allowed with a warning.
    Honoured,
    /// The object is denied: the exemption is not allowed here (namespace, user) or has no
    /// usable reason.
    Refused,
    /// The object is not denied: there is nothing to exempt.
    Unneeded,
}

impl Outcome {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// An exemption asked for by an object, and what became of it (in `check`'s JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exemption {
    pub outcome: Outcome,
    /// The reason as given (trimmed; cut at [`MAX_REASON_CHARS`]).
    pub reason: String,
    /// The requesting user, when known.
    pub user: Option<String>,
    /// What the user reads: the honoured warning, or why it was not honoured.
    pub message: String,
}

impl Exemption {
    /// The `exempted` audit annotation's value: who, and why (only when honoured).
    #[must_use]
    pub fn audit_value(&self) -> Option<String> {
        (self.outcome == Outcome::Honoured)
            .then(|| format!("{}: {}", self.user.as_deref().unwrap_or("unknown user"), self.reason))
    }
}

/// Applies the object's exemption, if it asks for one, to its validating evaluation `e`.
///
/// A denial is turned into a warning when the exemption is honoured (the messages start with
/// "exempted by ...; would have been denied: ..."; the reason stays the denial's); a refused
/// exemption adds why to the denial's messages; any other decision is left as it is, with a
/// note that nothing needed exempting. `user`: the review's `userInfo` (`None` for `check`
/// without `--as`).
pub fn apply(e: &mut Evaluation, obj: &Json<'_>, user: Option<&UserInfo>, rules: &Exemptions) -> Option<Exemption> {
    if e.decision == Decision::Skip {
        return None;
    }
    let key = format!("{PREFIX}{EXEMPT_KEY}");
    let raw = obj.pointer("/metadata/annotations")?.get(&key)?;
    let given = raw.as_str().unwrap_or("").trim();
    let reason: String = given.chars().take(MAX_REASON_CHARS).collect();
    let user_name = user.map(|u| u.username.clone()).filter(|u| !u.is_empty());
    let problem = if given.is_empty() {
        Some(format!("{key} is empty; accepted: a reason of 1 to {MAX_REASON_CHARS} characters"))
    } else if given.chars().count() > MAX_REASON_CHARS || given.chars().any(char::is_control) {
        Some(format!(
            "{key} is not accepted; accepted: a reason of 1 to {MAX_REASON_CHARS} characters without control characters"
        ))
    } else {
        refusal(rules, &e.namespace, user).err()
    };
    let (outcome, message) = match (e.decision, problem) {
        (Decision::Deny, None) => {
            let first = e.messages.first().cloned().unwrap_or_default();
            let m = format!(
                "exempted by {}: {reason}; would have been denied: {first}",
                user_name.as_deref().unwrap_or("unknown user")
            );
            e.decision = Decision::Warn;
            if e.messages.is_empty() {
                e.messages.push(m.clone());
            } else {
                e.messages[0] = m.clone();
            }
            (Outcome::Honoured, m)
        }
        (Decision::Deny, Some(why)) => {
            let m = format!("{key} not honoured: {why}");
            // Second, after what denies, so a denial cut to its first messages still says it.
            e.messages.insert(e.messages.len().min(1), m.clone());
            (Outcome::Refused, m)
        }
        (_, _) => {
            let m = format!("{key} not used: the object is not denied ({})", e.decision.as_str());
            e.messages.push(m.clone());
            (Outcome::Unneeded, m)
        }
    };
    Some(Exemption { outcome, reason, user: user_name, message })
}

/// `Ok` when an object in `namespace`, sent by `user`, may be exempted; else why not.
///
/// # Errors
/// The namespace is not listed, or users or groups are listed and `user` is none of them
/// (or unknown).
fn refusal(rules: &Exemptions, namespace: &str, user: Option<&UserInfo>) -> Result<(), String> {
    if !rules.namespaces.iter().any(|n| n == namespace) {
        return Err(format!("namespace '{namespace}' is not in policy.exemptions.namespaces"));
    }
    if rules.users.is_empty() && rules.groups.is_empty() {
        return Ok(());
    }
    let Some(u) = user else {
        return Err("no requesting user is known and policy.exemptions names users or groups \
                    (vramgate check: pass --as and --as-group)"
            .into());
    };
    if rules.users.contains(&u.username) || u.groups.iter().any(|g| rules.groups.contains(g)) {
        return Ok(());
    }
    Err(format!(
        "user '{}' (groups: {}) is not in policy.exemptions.users or policy.exemptions.groups",
        u.username,
        if u.groups.is_empty() { "none".to_string() } else { u.groups.join(", ") }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::Endpoint;
    use crate::admission::decide::{Context, Operation, evaluate};
    use crate::config::Settings;
    use serde_json::json;

    const TOO_BIG: &str = "vramgate.io/model";

    fn job(ns: &str, exempt: Option<&str>) -> serde_json::Value {
        let mut ann = json!({ TOO_BIG: "llama-2-70b", "vramgate.io/precision": "fp32", "vramgate.io/strategy": "ddp" });
        if let Some(r) = exempt {
            ann["vramgate.io/exempt"] = json!(r);
        }
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": { "name": "p", "namespace": ns, "annotations": ann },
            "spec": { "containers": [{ "name": "c", "resources": { "limits": { "nvidia.com/gpu": 1 } } }] }
        })
    }

    fn settings(yaml: &str) -> Settings {
        Settings::from_yaml(yaml).unwrap()
    }

    fn judge(obj: &serde_json::Value, s: &Settings, user: Option<&UserInfo>) -> (Evaluation, Option<Exemption>) {
        let ctx = Context {
            settings: s,
            namespace: None,
            operation: Operation::Create,
            old_object: None,
            endpoint: Endpoint::Validate,
            cluster: None,
        };
        let json = Json::from(obj);
        let mut e = evaluate(&json, &ctx);
        let x = apply(&mut e, &json, user, &s.exemptions);
        (e, x)
    }

    fn alice() -> UserInfo {
        UserInfo { username: "alice".into(), groups: vec!["ml-leads".into()] }
    }

    #[test]
    fn honoured_in_an_allowed_namespace_warns_naming_who_why_and_the_denial() {
        let s = settings("policy:\n  exemptions:\n    namespaces: [research]\n");
        let (plain, none) = judge(&job("research", None), &s, None);
        assert_eq!(plain.decision, Decision::Deny);
        assert!(none.is_none());
        let (e, x) = judge(&job("research", Some("benchmark run, approved by infra")), &s, Some(&alice()));
        let x = x.unwrap();
        assert_eq!(x.outcome, Outcome::Honoured);
        assert_eq!(e.decision, Decision::Warn);
        assert_eq!(e.reason, plain.reason, "the reason stays the denial's");
        assert!(
            e.messages[0].starts_with("exempted by alice: benchmark run, approved by infra; would have been denied: "),
            "{:?}",
            e.messages
        );
        assert!(e.messages[0].ends_with(&plain.messages[0]));
        assert_eq!(x.audit_value().as_deref(), Some("alice: benchmark run, approved by infra"));
    }

    #[test]
    fn a_namespace_not_listed_is_still_denied_and_told_why() {
        let s = settings("policy:\n  exemptions:\n    namespaces: [research]\n");
        let (e, x) = judge(&job("default", Some("please")), &s, Some(&alice()));
        assert_eq!(e.decision, Decision::Deny);
        assert_eq!(x.unwrap().outcome, Outcome::Refused);
        assert!(
            e.messages[1].contains("not honoured: namespace 'default' is not in policy.exemptions.namespaces"),
            "{:?}",
            e.messages
        );
    }

    #[test]
    fn without_any_exemptions_config_nothing_is_exempted() {
        let (e, x) = judge(&job("default", Some("please")), &Settings::default(), Some(&alice()));
        assert_eq!(e.decision, Decision::Deny);
        assert_eq!(x.unwrap().outcome, Outcome::Refused);
    }

    #[test]
    fn only_listed_users_or_groups_may_exempt_where_the_config_names_them() {
        let s =
            settings("policy:\n  exemptions:\n    namespaces: [research]\n    users: [bob]\n    groups: [ml-leads]\n");
        let obj = job("research", Some("approved"));
        let (e, x) = judge(&obj, &s, Some(&UserInfo { username: "mallory".into(), groups: vec!["dev".into()] }));
        assert_eq!(e.decision, Decision::Deny);
        assert_eq!(x.unwrap().outcome, Outcome::Refused);
        assert!(e.messages[1].contains("user 'mallory' (groups: dev) is not in policy.exemptions"), "{:?}", e.messages);
        let (e, _) = judge(&obj, &s, Some(&alice()));
        assert_eq!(e.decision, Decision::Warn, "alice is in the group ml-leads");
        let (e, _) = judge(&obj, &s, Some(&UserInfo { username: "bob".into(), groups: vec![] }));
        assert_eq!(e.decision, Decision::Warn, "bob is listed by name");
        let (e, _) = judge(&obj, &s, None);
        assert_eq!(e.decision, Decision::Deny, "no user known: users are restricted");
        assert!(e.messages[1].contains("no requesting user is known"), "{:?}", e.messages);
    }

    #[test]
    fn an_empty_or_overlong_reason_is_refused() {
        let s = settings("policy:\n  exemptions:\n    namespaces: [research]\n");
        for bad in ["", "   ", &"x".repeat(MAX_REASON_CHARS + 1)] {
            let (e, x) = judge(&job("research", Some(bad)), &s, Some(&alice()));
            assert_eq!(e.decision, Decision::Deny, "{bad:?}");
            assert_eq!(x.unwrap().outcome, Outcome::Refused);
        }
    }

    #[test]
    fn an_object_that_is_not_denied_keeps_its_decision() {
        let s = settings("policy:\n  exemptions:\n    namespaces: [research]\n");
        let mut obj = job("research", Some("just in case"));
        obj["metadata"]["annotations"][TOO_BIG] = json!("gpt2");
        let (e, x) = judge(&obj, &s, Some(&alice()));
        assert_eq!(e.decision, Decision::Allow);
        assert_eq!(x.unwrap().outcome, Outcome::Unneeded);
        assert!(e.messages.last().unwrap().contains("not used"));
    }
}
