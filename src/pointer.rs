//! RFC 6901 JSON pointer reference tokens: the one place `~` and `/` are escaped and unescaped
//! (RFC 6901 §3 and §4). Pure.

use std::borrow::Cow;

/// Escapes one reference token (`~` → `~0`, then `/` → `~1`, RFC 6901 §3), as an annotation
/// key such as `vramgate.io/decision` or a resource name such as `nvidia.com/gpu` needs.
#[must_use]
pub fn escape_token(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    push_escaped(&mut out, token);
    out
}

/// Appends `token` to `out`, escaped as [`escape_token`] does.
pub fn push_escaped(out: &mut String, token: &str) {
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

/// Unescapes one reference token: `~1` → `/` first, then `~0` → `~` (RFC 6901 §4: the other
/// order would turn `~01` into `/` instead of `~1`). Borrows when there is nothing to unescape.
#[must_use]
pub fn unescape_token(token: &str) -> Cow<'_, str> {
    if token.contains('~') { token.replace("~1", "/").replace("~0", "~").into() } else { token.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_escaped_tilde_first() {
        assert_eq!(escape_token("vramgate.io/a~b"), "vramgate.io~1a~0b");
        assert_eq!(escape_token("~1"), "~01");
    }

    #[test]
    fn tokens_are_unescaped_slash_first_and_round_trip() {
        assert_eq!(unescape_token("~01"), "~1");
        assert_eq!(unescape_token("nvidia.com~1gpu"), "nvidia.com/gpu");
        for t in ["", "plain", "a/b", "a~b", "~1", "~0/~", "//~~"] {
            assert_eq!(unescape_token(&escape_token(t)), t);
        }
    }
}
