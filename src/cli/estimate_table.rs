//! What the tables of `vramgate estimate` share, training, inference and serving alike: the
//! model line and the "per GPU" table (one row per term, its bytes and GiB, between blank
//! lines).

use crate::estimate::units::GIB;
use std::io::Write;

/// The first line: the model, its parameters in billions and whether the shape is coarse (known
/// only by its parameter count).
pub(super) fn write_model_line(out: &mut dyn Write, model: &str, params: u64, coarse: bool) -> std::io::Result<()> {
    writeln!(out, "model      {model} ({:.2}B parameters{})", params as f64 / 1e9, if coarse { ", coarse" } else { "" })
}

/// Writes the header and one row per `(name, bytes)`, framed by blank lines.
pub(super) fn write_per_gpu_table(out: &mut dyn Write, rows: &[(&str, u64)]) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(out, "per GPU                        bytes          GiB")?;
    for (name, b) in rows {
        writeln!(out, "  {name:<24} {b:>15} {:>10.2}", *b as f64 / GIB as f64)?;
    }
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_line_gives_billions_to_two_decimals_and_says_coarse() {
        let mut out = Vec::new();
        write_model_line(&mut out, "llama-2-7b", 6_738_415_616, false).unwrap();
        write_model_line(&mut out, "7B", 7_004_000_000, true).unwrap();
        let expected = "model      llama-2-7b (6.74B parameters)\nmodel      7B (7.00B parameters, coarse)\n";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn rows_give_the_name_the_bytes_and_gib_to_two_decimals_in_fixed_columns() {
        let mut out = Vec::new();
        // 3 x 2^30 B = 3.00 GiB; 2^29 B = 0.50 GiB. Columns: 2 spaces, the name left in 24,
        // the bytes right in 15, the GiB right in 10.
        write_per_gpu_table(&mut out, &[("total", 3 << 30), ("KV cache", 1 << 29)]).unwrap();
        let expected = "\n\
            per GPU                        bytes          GiB\n  \
            total                         3221225472       3.00\n  \
            KV cache                       536870912       0.50\n\n";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }
}
