//! Counts with SI suffixes ("7B", "350M", "2T", "6.74e9") and byte formatting.
//!
//! `K`/`M`/`B`/`G`/`T` are powers of 1000, as model cards and papers use them for parameters and
//! tokens ("Llama 2 7B", "2T tokens"). Anything that is not a finite, positive, integral count
//! below 10^18 is an error that says what was given and what is accepted.

use std::fmt;

/// Largest count accepted: 10^18 (a quintillion parameters or tokens is not a real job).
pub const MAX_COUNT: f64 = 1e18;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{value}' is not a count: {reason}; accepted: a number with an optional K, M, B (or G) or T suffix, e.g. 7B, 350M, 2T, 6.74e9"
)]
pub struct CountError {
    pub value: String,
    pub reason: &'static str,
}

/// Parses "7B", "350M", "6.74e9", "2T", "1.5k" into a count.
pub fn parse_count(s: &str) -> Result<f64, CountError> {
    let err = |reason| CountError { value: s.to_string(), reason };
    let t = s.trim();
    if t.is_empty() {
        return Err(err("it is empty"));
    }
    if t.len() > 64 {
        return Err(err("it is longer than 64 characters"));
    }
    let (num, mult) = match t.chars().last() {
        Some(c) if c.is_ascii_alphabetic() && !t.ends_with(['e', 'E']) => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1e3,
                'M' => 1e6,
                'B' | 'G' => 1e9,
                'T' => 1e12,
                _ => return Err(err("unknown suffix")),
            };
            (&t[..t.len() - 1], m)
        }
        _ => (t, 1.0),
    };
    let num = num.trim().replace('_', "");
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-')) {
        return Err(err("it is not a number"));
    }
    let v: f64 = num.parse().map_err(|_| err("it is not a number"))?;
    let v = v * mult;
    if !v.is_finite() {
        return Err(err("it is not finite"));
    }
    if v <= 0.0 {
        return Err(err("it must be greater than zero"));
    }
    if v > MAX_COUNT {
        return Err(err("it is larger than 10^18"));
    }
    Ok(v)
}

/// Renders a count the way `parse_count` reads it back exactly ("7B", "6738415616").
pub fn render_count(v: f64) -> String {
    for (suffix, m) in [("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)] {
        let q = v / m;
        if q >= 1.0 && q.fract() == 0.0 && q < 1e6 {
            return format!("{q}{suffix}");
        }
    }
    format!("{v}")
}

/// Bytes shown in GiB with one decimal ("62.8 GiB").
pub struct Gib(pub u64);

impl fmt::Display for Gib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1} GiB", self.0 as f64 / GIB as f64)
    }
}

pub const GIB: u64 = 1 << 30;
pub const MIB: u64 = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_suffixes_as_powers_of_1000() {
        assert_eq!(parse_count("7B").unwrap(), 7e9);
        assert_eq!(parse_count("350m").unwrap(), 350e6);
        assert_eq!(parse_count("2T").unwrap(), 2e12);
        assert_eq!(parse_count("6.74e9").unwrap(), 6.74e9);
        assert_eq!(parse_count(" 1.5K ").unwrap(), 1500.0);
        assert_eq!(parse_count("1_000").unwrap(), 1000.0);
    }

    #[test]
    fn rejects_what_is_not_a_positive_finite_count() {
        for bad in ["", "abc", "7X", "-1B", "0", "1e400", "NaN", "inf", "1e19", "B", "1..2"] {
            let e = parse_count(bad).unwrap_err();
            assert!(e.to_string().contains("accepted"), "{bad}: {e}");
        }
    }

    #[test]
    fn render_then_parse_is_identity() {
        for v in [7e9, 6738415616.0, 2e12, 1.0, 350e6, 1.5e9] {
            assert_eq!(parse_count(&render_count(v)).unwrap(), v);
        }
    }
}
