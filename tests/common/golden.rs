//! Golden files: `tests/golden/<name>` holds the expected output; a test compares with it, and
//! with `UPDATE_GOLDEN=1` rewrites it instead (then review the diff and commit it).

use std::path::PathBuf;

/// Asserts that `actual` equals `tests/golden/<name>`, or rewrites that file when the
/// environment has `UPDATE_GOLDEN=1`.
pub fn assert_golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("tests/golden")).expect("create tests/golden");
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {} ({e}); create it with UPDATE_GOLDEN=1", path.display()));
    if expected != actual {
        let line = expected.lines().zip(actual.lines()).position(|(e, a)| e != a).map_or_else(
            || format!("the files differ in length ({} vs {} lines)", expected.lines().count(), actual.lines().count()),
            |i| {
                format!(
                    "first difference at line {}:\n  golden: {}\n  actual: {}",
                    i + 1,
                    expected.lines().nth(i).unwrap_or(""),
                    actual.lines().nth(i).unwrap_or("")
                )
            },
        );
        panic!(
            "{} is not what the code produces; {line}\nIf the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff.",
            path.display()
        );
    }
}
