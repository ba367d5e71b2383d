//! `vramgate test` as a platform team runs it in CI: the real binary on the shipped example
//! policy tests (deploy/examples/policy-tests), a deliberately wrong expectation (exit 1 and a
//! readable per-field diff) and an unusable case file (exit 2).

use crate::common::{TempDir, vramgate};

fn root(p: &str) -> String {
    format!("{}/{p}", env!("CARGO_MANIFEST_DIR"))
}

/// `vramgate test dir`: its exit code, stdout and stderr.
fn vramgate_test(dir: &str) -> (i32, String, String) {
    vramgate(&["test", dir])
}

#[test]
fn the_shipped_example_policy_tests_pass() {
    let (code, out, err) = vramgate_test(&root("deploy/examples/policy-tests"));
    assert_eq!(code, 0, "{out}{err}");
    let cases = std::fs::read_to_string(root("deploy/examples/policy-tests/vramgate-test.yaml")).unwrap();
    let n = cases.lines().filter(|l| l.starts_with("  - name: ")).count();
    assert!(n >= 10, "{n} cases");
    assert_eq!(out.lines().filter(|l| l.starts_with("PASS  ")).count(), n, "{out}");
    assert!(out.ends_with(&format!("{n} passed, 0 failed\n")), "{out}");
}

#[test]
fn a_wrong_expectation_fails_with_a_readable_diff() {
    let dir = TempDir::new("policy-test-wrong");
    dir.write(
        "vramgate-test.yaml",
        &format!(
            "config: {}\ncases:\n  - name: the too-big job is allowed (wrong)\n    manifest: {}\n    expect:\n      decision: allow\n      reason: fits\n      messages: [\"fits on 8 GPUs\"]\n  - name: the fitting job is allowed\n    manifest: {}\n    expect: {{decision: allow}}\n",
            root("deploy/config.example.yaml"),
            root("deploy/examples/too-big-pytorchjob.yaml"),
            root("deploy/examples/fits-job.yaml"),
        ),
    );
    let (code, out, err) = vramgate_test(dir.arg());
    assert_eq!(code, 1, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("FAIL  the too-big job is allowed (wrong) ("), "{out}");
    assert_eq!(lines[1], "      decision: expected allow, got deny");
    assert_eq!(lines[2], "      reason: expected fits, got does-not-fit");
    assert_eq!(lines[3], "      messages: expected a message containing \"fits on 8 GPUs\", got:");
    assert!(lines[4].starts_with("        - needs 322.6 GiB per GPU with ddp on 8 x A100-80GB"), "{out}");
    assert_eq!(lines[5], "PASS  the fitting job is allowed");
    assert_eq!(lines[6], "1 passed, 1 failed");
}

#[test]
fn an_unusable_case_file_or_directory_exits_2_naming_the_problem() {
    let dir = TempDir::new("policy-test-bad");
    dir.write("vramgate-test.yaml", "cases:\n  - name: x\n    manifest: m.yaml\n    expect: {decision: block}\n");
    let (code, _, err) = vramgate_test(dir.arg());
    assert_eq!(code, 2);
    assert!(err.contains("expect.decision 'block' is not accepted; accepted: allow, warn, deny, skip"), "{err}");
    let empty = TempDir::new("policy-test-empty");
    let (code, _, err) = vramgate_test(empty.arg());
    assert_eq!(code, 2);
    assert!(err.contains("no vramgate-test.yaml found"), "{err}");
    dir.write("vramgate-test.yaml", "cases:\n  - name: x\n    manifest: missing.yaml\n    expect: {decision: deny}\n");
    let (code, out, _) = vramgate_test(dir.arg());
    assert_eq!(code, 2);
    assert!(out.contains("ERROR x: ") && out.contains("missing.yaml"), "{out}");
}
