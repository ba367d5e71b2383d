//! `vramgate estimate`, `check`, `config check` and `catalog` as a user runs them: the real
//! binary, its exit codes, its table and its JSON contract.

use std::process::Command;

use crate::common::{vramgate, vramgate_json};

#[test]
fn estimate_json_has_the_documented_fields() {
    let (code, v, err) = vramgate_json(&[
        "estimate",
        "--model",
        "llama-2-7b",
        "--precision",
        "bf16-true",
        "--activation-checkpointing",
        "true",
        "--micro-batch-size",
        "1",
        "--sequence-length",
        "512",
        "--training-tokens",
        "2T",
    ]);
    assert_eq!(code, 0, "{err}");
    for k in [
        "weights_bytes",
        "gradients_bytes",
        "optimizer_states_bytes",
        "optimizer_temporaries_bytes",
        "activations_bytes",
        "logits_bytes",
        "kv_cache_bytes",
        "tensors_peak_bytes",
        "framework_overhead_bytes",
        "total_bytes",
    ] {
        assert!(v["per_gpu"][k].is_u64(), "per_gpu.{k} missing: {v}");
    }
    assert_eq!(v["decision"], "fits");
    assert!(v["min_gpus"].is_u64());
    assert!(v["gpu_hours"].as_f64().unwrap() > 0.0);
    assert!(v["cost_usd"].as_f64().unwrap() > 0.0);
    // The calibration run s1-6-1x512 measured 62.82 GiB for this configuration.
    let peak = v["per_gpu"]["tensors_peak_bytes"].as_u64().unwrap() as f64 / (1u64 << 30) as f64;
    assert!((peak - 62.82).abs() / 62.82 < 0.05, "{peak}");
}

#[test]
fn estimate_that_does_not_fit_exits_1_and_names_a_plan() {
    let (code, out, _) =
        vramgate(&["estimate", "--model", "llama-2-13b", "--precision", "fp32", "--gpu", "a100-80gb", "--gpus", "8"]);
    assert_eq!(code, 1);
    assert!(out.contains("does-not-fit"), "{out}");
    assert!(out.contains("fits with"), "{out}");
}

#[test]
fn bad_input_exits_2_with_every_problem_named() {
    let (code, _, err) =
        vramgate(&["estimate", "--model", "llama-2-7", "--precision", "fp64", "--micro-batch-size", "0"]);
    assert_eq!(code, 2);
    assert!(err.contains("--model") && err.contains("llama-2-7b"), "{err}");
    assert!(err.contains("--precision") && err.contains("fp64"), "{err}");
    assert!(err.contains("--micro-batch-size"), "{err}");
}

#[test]
fn unknown_gpu_suggests_catalog_names() {
    let (code, _, err) = vramgate(&["estimate", "--parameters", "7B", "--gpu", "H10"]);
    assert_eq!(code, 2);
    assert!(err.contains("H100"), "{err}");
}

#[test]
fn hf_config_file_is_read() {
    let dir = std::env::temp_dir().join(format!("vramgate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.json");
    std::fs::write(&path, r#"{"model_type":"llama","num_hidden_layers":22,"hidden_size":2048,"num_attention_heads":32,"num_key_value_heads":4,"intermediate_size":5632,"vocab_size":32000}"#).unwrap();
    let (code, v, err) = vramgate_json(&["estimate", "--hf-config", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["params"], 1_100_048_384u64);
}

#[test]
fn catalog_lists_gpus_and_presets_as_json() {
    // The whole catalog (every GPU's figures, sources and prices, every model preset) against
    // tests/golden/catalog.json; after an intended change: UPDATE_GOLDEN=1 and review the diff.
    let (code, out, _) = vramgate(&["catalog", "--output", "json"]);
    assert_eq!(code, 0);
    serde_json::from_str::<serde_json::Value>(&out).expect("`catalog --output json` prints JSON");
    crate::common::golden::assert_golden("catalog.json", &out);
}

#[test]
fn a_catalog_file_overrides_a_price_and_adds_a_gpu() {
    let dir = std::env::temp_dir().join(format!("vramgate-cat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gpus.yaml");
    std::fs::write(
        &path,
        "gpus:\n- name: A100-80GB\n  memory_bytes: 85899345920\n  dense_bf16_flops: 312.0e12\n  dense_fp16_flops: 312.0e12\n  dense_fp32_flops: 19.5e12\n  bf16_supported: true\n  usd_per_hour: 1.0\n- name: MI325X\n  memory_bytes: 206158430208\n  dense_bf16_flops: 1307.4e12\n  dense_fp16_flops: 1307.4e12\n  dense_fp32_flops: 163.4e12\n  bf16_supported: true\n  usd_per_hour: 3.0\n",
    )
    .unwrap();
    let run = |gpu: &str| {
        let (code, v, err) = vramgate_json(&[
            "estimate",
            "--model",
            "gpt2",
            "--training-tokens",
            "1B",
            "--gpu",
            gpu,
            "--gpu-catalog",
            path.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        v
    };
    let a100 = run("A100-80GB");
    let hours = a100["gpu_hours"].as_f64().unwrap();
    assert!((a100["cost_usd"].as_f64().unwrap() - hours * 1.0).abs() < 1e-6 * hours.max(1.0));
    assert_eq!(run("mi325x")["gpu_memory_bytes"], 206158430208u64);
    std::fs::write(&path, "gpus:\n- name: X\n  memory_bytes: 0\n").unwrap();
    let (code, _, err) = vramgate(&["estimate", "--model", "gpt2", "--gpu-catalog", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("--gpu-catalog"), "{err}");
}

fn root(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn check_json_has_one_entry_per_object_with_the_documented_fields_and_exit_1_on_a_denial() {
    let files = ["fits-job", "jobset", "over-cost-job", "pytorchjob", "too-big-pytorchjob"]
        .map(|f| root(&format!("deploy/examples/{f}.yaml")));
    let config = root("deploy/config.example.yaml");
    let mut args = vec!["check", "--config", config.as_str(), "--output", "json"];
    args.extend(files.iter().map(String::as_str));
    let (code, out, err) = vramgate(&args);
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 5);
    for o in list {
        for k in ["source", "kind", "namespace", "name", "decision", "reason", "messages", "gpu", "gpus", "estimate"] {
            assert!(o.get(k).is_some(), "{k} missing from {o}");
        }
        let est = &o["estimate"];
        for k in ["min_gpus", "gpu_hours", "cost_usd"] {
            assert!(est.get(k).is_some(), "estimate.{k} missing");
        }
        assert!(
            est["per_gpu"]["tensors_peak_bytes"].as_u64().unwrap() < est["per_gpu"]["total_bytes"].as_u64().unwrap()
        );
    }
    let by_name = |n: &str| list.iter().find(|o| o["source"].as_str().unwrap().contains(n)).unwrap();
    assert_eq!(by_name("fits-job")["decision"], "allow");
    assert_eq!(by_name("fits-job")["gpus"], 8);
    assert_eq!(by_name("fits-job")["gpu"], "H100-80GB");
    assert_eq!(by_name("too-big")["decision"], "deny");
    assert_eq!(by_name("too-big")["reason"], "does-not-fit");
    assert_eq!(by_name("over-cost")["reason"], "over-cost-limit");
    assert_eq!(by_name("jobset")["gpus"], 2);
    assert!(by_name("fits-job")["source"].as_str().unwrap().ends_with("fits-job.yaml#1"));
}

#[test]
fn check_reads_stdin_and_exits_0_when_everything_is_admitted() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_vramgate"))
        .args(["check", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let text = std::fs::read_to_string(root("deploy/examples/fits-job.yaml")).unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("-#1") && table.contains("allow"), "{table}");
}

#[test]
fn check_on_unusable_input_exits_2_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("vramgate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "kind: [unclosed\n").unwrap();
    let (code, _, err) = vramgate(&["check", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.yaml"), "{err}");
    let (code, _, err) = vramgate(&["check", dir.join("missing.yaml").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("missing.yaml"), "{err}");
}

#[test]
fn config_check_accepts_the_example_and_names_every_bad_key_path() {
    let (code, out, err) = vramgate(&["config", "check", "--config", &root("deploy/config.example.yaml")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("valid"), "{out}");
    let dir = std::env::temp_dir().join(format!("vramgate-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("config.yaml");
    std::fs::write(&bad, "policy: {mode: enforce, max_cost_usd: -1, default_gpu: Z80}\n").unwrap();
    let (code, _, err) = vramgate(&["config", "check", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("policy.max_cost_usd") && err.contains("policy.default_gpu"), "{err}");
    // `check` refuses to decide with a broken config rather than fall back to defaults.
    let (code, _, _) = vramgate(&["check", "--config", bad.to_str().unwrap(), &root("deploy/examples/fits-job.yaml")]);
    assert_eq!(code, 2);
}

#[test]
fn config_check_reports_every_parse_error_not_just_the_first() {
    // Issue 14: serde stops at the first key it refuses; config check names them all.
    let dir = std::env::temp_dir().join(format!("vramgate-cfg-all-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("config.yaml");
    let text = "policy:\n  mode: strict\n  patch: maybe\nserver:\n  colour: red\nnamespaces:\n  a:\n    objective: fastest\nmax_gpus: lots\n";
    std::fs::write(&bad, text).unwrap();
    let (code, _, err) = vramgate(&["config", "check", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    for path in ["policy.mode:", "policy.patch:", "server.colour:", "namespaces.a.objective:", "max_gpus:"] {
        assert!(err.contains(path), "{path} missing from:\n{err}");
    }
    assert_eq!(err.lines().count(), 5, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_readme_shows_what_check_prints_for_the_shipped_examples() {
    let mut args = vec!["check".to_string(), "--config".into(), "deploy/config.example.yaml".into()];
    args.extend(
        ["fits-job", "jobset", "over-cost-job", "pytorchjob", "too-big-pytorchjob"]
            .map(|f| format!("deploy/examples/{f}.yaml")),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_vramgate"))
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8(out.stdout).unwrap();
    let readme = std::fs::read_to_string(root("README.md")).unwrap();
    assert!(readme.contains(table.trim_end()), "README's `vramgate check` example is stale; now:\n{table}");
}

/// Issue 12, item 13: stdout closed by its reader (`vramgate ... | head -1`) ends the command
/// quietly with the exit code its result has, not 2 ("unusable input") with an error. The
/// pipe's read end is closed before the binary starts, so its first write fails with EPIPE.
#[cfg(unix)]
#[test]
fn a_closed_stdout_pipe_keeps_the_commands_exit_code() {
    let run = |args: &[&str]| {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_vramgate"))
            .args(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8(out.stderr).unwrap())
    };
    let (code, err) = run(&["catalog"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(err, "");
    let (code, err) =
        run(&["estimate", "--model", "llama-2-13b", "--precision", "fp32", "--gpu", "a100-80gb", "--gpus", "8"]);
    assert_eq!(code, Some(1), "does not fit: {err}");
    assert_eq!(err, "");
}

/// `vramgate estimate`'s flags are the annotation contract's input keys (the same names, the
/// same parser), plus the flags that shape the CLI's own output, which have no annotation.
#[test]
fn estimate_flags_are_exactly_the_contracts_input_keys() {
    use clap::CommandFactory;
    // Flags of `estimate` alone: the catalog it reads, the plan search's GPU types, the format.
    const CLI_ONLY: [&str; 5] = ["gpu-catalog", "plan-gpus", "max-plan-hours", "output", "explain"];
    let cli = vramgate::cli::Cli::command();
    let estimate = cli.find_subcommand("estimate").expect("an estimate subcommand");
    let mut flags: Vec<&str> =
        estimate.get_arguments().filter_map(|a| a.get_long()).filter(|f| !CLI_ONLY.contains(f)).collect();
    let mut keys: Vec<&str> = vramgate::contract::INPUT.iter().map(|k| k.name).collect();
    flags.sort_unstable();
    keys.sort_unstable();
    assert_eq!(flags, keys, "every input key is an estimate flag and every other flag is listed in CLI_ONLY");
    for f in CLI_ONLY {
        assert!(vramgate::contract::input_key(f).is_none(), "{f} is CLI-only, not an annotation");
    }
}

/// `--explain` (issue 14): the table lists each term with its formula and source, and the JSON
/// carries the same as `terms` objects whose peak term is the estimate's own peak; without the
/// flag the JSON has no `terms`. The knob flags reach the engine: a bucket view removes DDP's
/// second copy of the gradients (4 B per parameter with AMP's fp32 gradients).
#[test]
fn estimate_explain_shows_every_term_and_the_knob_flags_change_it() {
    let args = ["estimate", "--model", "llama-2-7b", "--gpus", "8", "--activation-checkpointing", "true"];
    let (code, out, err) = vramgate(&[&args[..], &["--explain"]].concat());
    assert_eq!(code, 1, "{err}");
    for s in ["explain", "DDP gradient buckets", "= 6.738e9 trainable parameters x 4 B", "source: torch/nn/parallel"] {
        assert!(out.contains(s), "{s} missing:\n{out}");
    }
    let (_, json, _) = vramgate(&[&args[..], &["--explain", "--output", "json"]].concat());
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let terms = v["terms"].as_array().unwrap();
    let peak = terms.iter().find(|t| t["name"] == "tensors peak").unwrap();
    assert_eq!(peak["bytes"], v["per_gpu"]["tensors_peak_bytes"]);
    assert!(terms.iter().all(|t| t["formula"].is_string() && t["source"].is_string() && t["uncertain"] == false));
    let (_, plain, _) = vramgate(&[&args[..], &["--output", "json"]].concat());
    assert!(serde_json::from_str::<serde_json::Value>(&plain).unwrap().get("terms").is_none());
    let (_, view, _) = vramgate(&[&args[..], &["--gradient-as-bucket-view", "true", "--output", "json"]].concat());
    let view: serde_json::Value = serde_json::from_str(&view).unwrap();
    let saved =
        v["per_gpu"]["tensors_peak_bytes"].as_u64().unwrap() - view["per_gpu"]["tensors_peak_bytes"].as_u64().unwrap();
    let params = v["params"].as_u64().unwrap() as f64;
    assert!((saved as f64 - 4.0 * params).abs() / (4.0 * params) < 1e-4, "{saved}");
    let (code, _, err) = vramgate(&[&args[..], &["--zero-reduce-bucket-elements", "lots"]].concat());
    assert_eq!(code, 2);
    assert!(err.contains("--zero-reduce-bucket-elements") && err.contains("'lots'"), "{err}");
}

#[test]
fn help_states_defaults_the_model_rule_exit_codes_and_examples_and_the_examples_run() {
    // Issue 14: --help carries what a new user needs without the README.
    let (code, help, _) = vramgate(&["estimate", "--help"]);
    assert_eq!(code, 0);
    for want in [
        "Model (exactly one of the four)",
        "exactly one of the four model flags",
        "[default: bf16-mixed]",
        "[default: 2048]",
        "k = 1024",
        "--objective",
        "Exit codes:",
        "2  unusable input",
        "Examples:",
    ] {
        assert!(help.contains(want), "estimate --help lacks {want:?}");
    }
    // Every example that needs no file runs, and none is refused as unusable input.
    let examples: Vec<&str> = help
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("vramgate estimate ") && !l.contains("--hf-config"))
        .collect();
    assert!(examples.len() >= 3, "{help}");
    for ex in examples {
        let args: Vec<&str> = ex.split_whitespace().skip(1).collect();
        let (code, _, err) = vramgate(&args);
        assert!(code == 0 || code == 1, "{ex}: exit {code}: {err}");
    }
    let (code, help, _) = vramgate(&["check", "--help"]);
    assert_eq!(code, 0);
    assert!(
        help.contains("Exit codes:") && help.contains("1  something is denied") && help.contains("Examples:"),
        "{help}"
    );
}

// ---- serving (issue 15) ----

/// `estimate --workload serving` prints the serving terms and no training fields; JSON adds the
/// `serving` object next to `decision`; a server that will not start exits 1 with the message.
#[test]
fn estimate_serving_prints_the_server_terms_and_the_fixes() {
    let args = [
        "estimate",
        "--workload",
        "serving",
        "--engine",
        "vllm",
        "--engine-version",
        "v0.19.0",
        "--model",
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B",
        "--gpu",
        "L40S",
    ];
    let (code, out, err) = vramgate(&args);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("vLLM will not start: max-model-len 131072 needs 24.0 GiB of KV cache per GPU"), "{out}");
    for training in ["optimizer", "gradients", "ddp", "checkpointing"] {
        assert!(!out.contains(training), "{training} in {out}");
    }
    let (code, json, _) = vramgate(&[&args[..], &["--output", "json"]].concat());
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["decision"], "does-not-fit");
    let s = &v["serving"];
    for field in [
        "weights_bytes",
        "activation_bytes",
        "non_torch_bytes",
        "cuda_graph_bytes",
        "kv_cache_bytes",
        "kv_cache_tokens",
        "max_concurrency",
        "max_model_len_that_starts",
        "failure",
    ] {
        assert!(!s[field].is_null(), "{field} in {s}");
    }
    assert_eq!(s["failure"], "kv-cache-below-max-model-len");
    assert_eq!(s["engine_version"], "0.19.0");
    // At the length it names, it starts (exit 0) and `failure` is null.
    let n = s["max_model_len_that_starts"].as_u64().unwrap().to_string();
    let (code, json, _) = vramgate(&[&args[..], &["--max-model-len", &n, "--output", "json"]].concat());
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["serving"]["failure"].is_null());
}

#[test]
fn serving_flags_are_errors_without_workload_serving() {
    let (code, _, err) = vramgate(&["estimate", "--model", "llama-2-7b", "--max-model-len", "4096", "--enforce-eager"]);
    assert_eq!(code, 2);
    assert!(err.contains("--max-model-len") && err.contains("workload serving"), "{err}");
    assert!(err.contains("--enforce-eager"), "{err}");
}

/// `check` on an inference server: MEM/GPU is what the server reserves per GPU
/// (gpu-memory-utilization x the GPU's memory) and COST its price per hour, the same numbers
/// as the JSON's `serving` report (a server has no run length, so no total cost).
#[test]
fn check_shows_a_servers_reserved_memory_and_price_per_hour() {
    let file = root("tests/fixtures/manifests/serving/deployment-vllm-mistral-7b-k8s-docs.yaml");
    let (_, json, err) = vramgate(&["check", "--output", "json", &file]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json} {err}"));
    let serving = &v[0]["serving"];
    let budget = serving["serving"]["budget_bytes"].as_u64().expect("a serving report");
    let usd_per_hour = serving["usd_per_hour"].as_f64().unwrap();
    let (_, table, _) = vramgate(&["check", &file]);
    let row = table.lines().find(|l| l.contains("default/mistral-7b")).expect("the Deployment's row");
    let want = format!("{}  ${usd_per_hour:.2}/h", vramgate::estimate::units::Gib(budget));
    assert!(row.ends_with(&want), "{row:?} should end with {want:?}");
}
