#!/usr/bin/env python3
"""Writes the seed corpora fuzz/seeds/<target>/ from the repository's fixtures.

Run from anywhere: `python3 fuzz/make_seeds.py`. Deterministic: the same fixtures give the same
files (named by the SHA-1 of their content, as libFuzzer names corpus entries). Sources:
tests/fixtures/admission/* (reviews and bare AdmissionRequests, wrapped), tests/fixtures/manifests/*
and deploy/examples/*.yaml (objects, wrapped into CREATE reviews, also with annotations that
fit), deploy/examples/review-too-big-pytorchjob.json and benches/fixtures/job-review-4k.json; plus every input that once crashed a target
(fuzz/regressions/<target>/). Needs PyYAML.
"""

import hashlib
import json
import pathlib
import random
import shutil

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"
TARGETS = ["review_body", "workload_json", "annotation_fields", "annotation_values", "workload_structured"]

FITS = {
    "vramgate.io/model": "llama-2-13b",
    "vramgate.io/precision": "bf16-mixed",
    "vramgate.io/strategy": "zero3",
    "vramgate.io/training-tokens": "20B",
}


def review(obj, operation="CREATE", old=None):
    kind = obj.get("kind", "") if isinstance(obj, dict) else ""
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": kind},
            "namespace": "research",
            "operation": operation,
            "object": obj,
            "oldObject": old,
            "dryRun": False,
        },
    }


def documents(path):
    text = path.read_text()
    if path.suffix == ".json":
        return [json.loads(text)]
    return [d for d in yaml.safe_load_all(text) if d is not None]


def main():
    out = {t: {} for t in TARGETS}

    def add(target, data):
        if isinstance(data, str):
            data = data.encode()
        out[target][hashlib.sha1(data).hexdigest()] = data

    def add_json(target, value, compact=True):
        add(target, json.dumps(value, separators=(",", ":") if compact else None, sort_keys=False))

    objects = []
    reviews = []
    for path in sorted((ROOT / "tests/fixtures/admission").iterdir()):
        for doc in documents(path):
            if doc.get("kind") == "AdmissionReview":
                reviews.append(doc)
            else:  # a bare AdmissionRequest (kubewarden's fixtures)
                reviews.append({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": doc})
    for extra in ["deploy/examples/review-too-big-pytorchjob.json", "benches/fixtures/job-review-4k.json"]:
        reviews.extend(documents(ROOT / extra))
    manifests = sorted((ROOT / "tests/fixtures/manifests").glob("*.yaml")) + sorted(
        (ROOT / "deploy/examples").glob("*.yaml")
    )
    for path in manifests:
        for doc in documents(path):
            objects.append(doc)
            annotated = json.loads(json.dumps(doc))
            meta = annotated.setdefault("metadata", {})
            if not any(k.startswith("vramgate.io/") for k in (meta.get("annotations") or {})):
                meta["annotations"] = {**(meta.get("annotations") or {}), **FITS}
                objects.append(annotated)
    for r in reviews:
        obj = (r.get("request") or {}).get("object")
        if isinstance(obj, dict):
            objects.append(obj)
    for obj in objects:
        reviews.append(review(obj))
        reviews.append(review(obj, "UPDATE", obj))

    for r in reviews:
        add_json("review_body", r)
    for obj in objects:
        add_json("workload_json", obj)

    annotation_sets = []
    for obj in objects:
        ann = (obj.get("metadata") or {}).get("annotations") or {}
        fields = {k[len("vramgate.io/"):]: v for k, v in ann.items() if k.startswith("vramgate.io/")}
        if fields:
            annotation_sets.append(fields)
    annotation_sets += [
        {"architecture": "layers=32,hidden=4096,heads=32,kv-heads=8,intermediate=14336,vocab=32000",
         "precision": "bf16-true", "workload": "inference", "kv-cache-dtype": "fp8", "sequence-length": "32768"},
        {"parameters": "7B", "fine-tuning": "qlora", "lora-rank": "64", "lora-targets": "q_proj,v_proj",
         "gpu": "L4", "gpus": "1"},
        {"model": "mixtral-8x7b", "strategy": "fsdp-hybrid", "hybrid-shard-group": "8", "offload": "optimizer",
         "mfu": "0.35", "training-tokens": "1T", "tensor-parallel": "2", "pipeline-parallel": "2"},
        {"hf-config": json.dumps({"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64,
                                  "num_attention_heads": 4, "intermediate_size": 256, "vocab_size": 1000})},
    ]
    for fields in annotation_sets:
        add("annotation_fields", "".join(f"{k}={v}\n" for k, v in sorted(fields.items())))
        for v in fields.values():
            add("annotation_values", v)
    for v in ["7B", "6.74e9", "1_000", "2T", "350m", "1e400", "NaN", "inf", "-1", "0", "53248Mi", "none", "unknown",
              "1234.5", "-0", "allow", "warn", "deny", "skip", "true", "", " 1.5K ",
              "layers=2,hidden=64,heads=4,intermediate=256,vocab=1000,experts=8,experts-per-token=2,tied=true"]:
        add("annotation_values", v)

    rng = random.Random(5)
    for n in [16, 64, 256, 1024]:
        for _ in range(4):
            add("workload_structured", bytes(rng.randrange(256) for _ in range(n)))

    # Inputs that once crashed a target (fuzz/regressions/<target>/), kept as seeds so every
    # smoke run replays them.
    for target in TARGETS:
        for path in sorted((ROOT / "fuzz" / "regressions" / target).glob("*")):
            add(target, path.read_bytes())

    write_dicts()

    for target, files in out.items():
        d = SEEDS / target
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        for name, data in files.items():
            (d / name).write_bytes(data)
        print(f"{target}: {len(files)} seeds, {sum(len(v) for v in files.values())} bytes")


def write_dicts():
    """libFuzzer dictionaries (fuzz/dicts/): the tokens a mutation should be able to insert whole."""
    request = (ROOT / "src/request.rs").read_text()
    keys = []
    for const in ["INPUT_KEYS", "OUTPUT_KEYS"]:
        body = request.split(f"pub const {const}: &[&str] =", 1)[1].split("];", 1)[0]
        keys += [k for k in body.replace("&[", "").replace("\n", " ").split('"')[1::2]]
    values = ["training", "inference", "fp32", "bf16-mixed", "fp16-mixed", "bf16-true", "fp16-true", "fp8-mixed",
              "adamw", "adamw-fused", "sgd", "adafactor", "adamw-8bit", "lion", "full", "lora", "qlora", "attention",
              "all-linear", "q_proj", "true", "false", "sdpa", "eager", "ddp", "zero1", "zero2", "zero3", "fsdp",
              "fsdp-hybrid", "none", "optimizer", "optimizer-and-parameters", "auto", "fp8", "int8", "int4", "nf4",
              "llama-2-7b", "llama-2-70b", "mixtral-8x7b", "H100-80GB", "A100-80GB", "layers=", "hidden=", "heads=",
              "kv-heads=", "intermediate=", "vocab=", "experts=", "experts-per-token=", "tied=", "mlp=", "norm=",
              "bias=", "positions=", "head-dim=", "e9", "B", "T", "M", "K", "Mi", "unknown", "NaN", "inf", "1e400"]
    fields = [f"{k}=" for k in keys] + ["!"] + values
    dicts = ROOT / "fuzz" / "dicts"
    dicts.mkdir(exist_ok=True)
    (dicts / "annotations.dict").write_text("".join(f"{json.dumps(t)}\n" for t in fields))
    tokens = ['"apiVersion"', '"kind"', '"request"', '"uid"', '"object"', '"oldObject"', '"operation"', '"CREATE"',
              '"UPDATE"', '"DELETE"', '"admission.k8s.io/v1"', '"AdmissionReview"', '"metadata"', '"annotations"',
              '"spec"', '"template"', '"containers"', '"initContainers"', '"resources"', '"limits"', '"requests"',
              '"nvidia.com/gpu"', '"nvidia.com/mig-3g.40gb"', '"nodeSelector"', '"nvidia.com/gpu.product"',
              '"nvidia.com/gpu.memory"', '"replicas"', '"parallelism"', '"completions"', '"restartPolicy"',
              '"Always"', '"pytorchReplicaSpecs"', '"Worker"', '"Master"', '"replicatedJobs"', '"workerGroupSpecs"',
              '"tasks"', '"leaderWorkerTemplate"', '"size"', '"PyTorchJob"', '"JobSet"', '"RayJob"', '"Pod"', '"Job"',
              '"batch/v1"', '"kubeflow.org/v1"', '"NVIDIA-H100-80GB-HBM3"', "18446744073709551617", "1e400", "-1",
              "1.5", "null", "true", "{}", "[]", '{"', '":', '",', "\\u0000", "\\ud800"]
    tokens += [json.dumps("vramgate.io/" + k) for k in keys]
    (dicts / "json.dict").write_text("".join(f"{json.dumps(t)}\n" for t in tokens))


if __name__ == "__main__":
    main()
