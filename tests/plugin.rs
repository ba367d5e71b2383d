//! The binary as a kubectl plugin: run under the name kubectl looks for (`kubectl-vramgate`,
//! a symlink in a temporary directory, as krew installs it), and the krew manifest's shape.

use std::process::Command;

use serde_json::Value;

use crate::common::TempDir;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A `kubectl-vramgate` symlink to the built binary; kubectl runs a plugin by that path.
fn plugin(dir: &TempDir) -> std::path::PathBuf {
    let link = dir.path("kubectl-vramgate");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_vramgate"), &link).expect("symlink");
    link
}

fn run(bin: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin).args(args).current_dir(ROOT).output().expect("runs");
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn under_the_plugin_name_usage_says_kubectl_vramgate() {
    let dir = TempDir::new("plugin");
    let bin = plugin(&dir);
    let (code, out, _) = run(&bin, &["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Usage: kubectl vramgate <COMMAND>"), "{out}");
    assert!(out.contains("audit") && out.contains("check"), "{out}");
    // A usage error names the command as typed.
    let (code, _, err) = run(&bin, &["check"]);
    assert_eq!(code, 2);
    assert!(err.contains("Usage: kubectl vramgate check"), "{err}");
    let (_, out, _) = run(&bin, &["audit", "--help"]);
    assert!(out.contains("Usage: kubectl vramgate audit") && out.contains("--all-namespaces"), "{out}");
    // Under its own name nothing changes.
    let (_, out, _) = run(std::path::Path::new(env!("CARGO_BIN_EXE_vramgate")), &["--help"]);
    assert!(out.contains("Usage: vramgate <COMMAND>"), "{out}");
}

#[test]
fn check_takes_minus_f_as_kubectl_does_and_decides_as_with_the_positional_file() {
    let dir = TempDir::new("plugin-f");
    let bin = plugin(&dir);
    // The examples say so in their headers: the first is denied (Llama 2 13B in fp32 with DDP on
    // 8 A100-80GB), the second allowed.
    let too_big = "deploy/examples/too-big-pytorchjob.yaml";
    let fits = "deploy/examples/fits-job.yaml";
    let (code_f, out_f, err) = run(&bin, &["check", "-f", too_big, "--filename", fits, "--output", "json"]);
    assert_eq!(code_f, 1, "{err}");
    let (code_p, out_p, _) = run(&bin, &["check", too_big, fits, "--output", "json"]);
    assert_eq!(code_p, code_f);
    assert_eq!(out_f, out_p, "-f and the positional give the same results, in the same order");
    let results: Vec<Value> = serde_json::from_str(&out_f).unwrap();
    let decisions: Vec<&str> = results.iter().map(|r| r["decision"].as_str().unwrap()).collect();
    assert_eq!(decisions, ["deny", "allow"], "{out_f}");
}

#[test]
fn the_krew_manifest_is_a_plugin_for_four_platforms_at_the_crate_version() {
    let text = std::fs::read_to_string(format!("{ROOT}/deploy/krew/vramgate.yaml")).unwrap();
    let m: Value = serde_yaml_ng::from_str(&text).unwrap();
    // krew's developer guide, "Writing Krew plugin manifests"
    // (https://krew.sigs.k8s.io/docs/developer-guide/plugin-manifest/): the manifest is named
    // like the plugin, version is semver with a leading v, a short description, and each
    // platform an os/arch selector, an https uri, the archive's sha256 (64 hex) and a bin.
    assert_eq!(m["apiVersion"], "krew.googlecontainertools.github.com/v1alpha2");
    assert_eq!(m["kind"], "Plugin");
    assert_eq!(m["metadata"]["name"], "vramgate");
    let spec = &m["spec"];
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(spec["version"], version.as_str());
    assert!(spec["shortDescription"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(spec["homepage"], env!("CARGO_PKG_REPOSITORY"));
    let mut seen = Vec::new();
    for p in spec["platforms"].as_array().expect("platforms") {
        let labels = &p["selector"]["matchLabels"];
        let (os, arch) = (labels["os"].as_str().unwrap(), labels["arch"].as_str().unwrap());
        let uri = p["uri"].as_str().unwrap();
        assert!(uri.starts_with("https://"), "{uri}");
        assert!(uri.ends_with(&format!("/{version}/vramgate-{version}-{os}-{arch}.tar.gz")), "{uri}");
        let sha = p["sha256"].as_str().unwrap();
        assert!(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{sha}");
        assert_eq!(p["bin"], "vramgate");
        seen.push(format!("{os}/{arch}"));
    }
    seen.sort();
    assert_eq!(seen, ["darwin/amd64", "darwin/arm64", "linux/amd64", "linux/arm64"]);
}
