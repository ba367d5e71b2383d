"""`vramgate audit` as a user runs it: the real binary with `--kubeconfig` against the fake API
server (fake_apiserver.py, 127.0.0.1, plain HTTP) holding real captured workloads from
tests/fixtures/manifests/ (origins in its README). The captures carry no vramgate.io/
annotations; the test adds them (each says which), as a user annotating them would. Only the
PyTorchJob and RayJob CRDs are "installed": every other CRD kind must be skipped with a line."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from fake_apiserver import FakeApiServer, Resource

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "tests" / "fixtures" / "manifests"
CRDS = (Resource("kubeflow.org", "v1", "pytorchjobs", "PyTorchJob"), Resource("ray.io", "v1", "rayjobs", "RayJob"))


def manifest(name: str, namespace: str, obj_name: str, annotations: dict) -> dict:
    obj = copy.deepcopy(yaml.safe_load((MANIFESTS / name).read_text()))
    meta = obj.setdefault("metadata", {})
    meta.pop("generateName", None)
    meta |= {"name": obj_name, "namespace": namespace, "annotations": annotations}
    return obj


def objects() -> list[dict]:
    return [
        # Fast-LLM's PyTorchJob (4 x 8 GPUs) with what its own config trains: Mistral-7B, bf16,
        # ZeRO-2, sequence 8192, micro-batch 1 (pytorchjob-fast-llm-mistral-4x8gpu.model-config.yaml).
        manifest("pytorchjob-fast-llm-mistral-4x8gpu.yaml", "team-a", "fast-llm", {
            "vramgate.io/model": "mistral-7b", "vramgate.io/workload": "training",
            "vramgate.io/precision": "bf16-mixed", "vramgate.io/strategy": "zero2",
            "vramgate.io/sequence-length": "8192", "vramgate.io/micro-batch-size": "1",
            "vramgate.io/activation-checkpointing": "true", "vramgate.io/gpu": "H100-80GB"}),
        # KubeRay's RayJob (4 workers x 1 GPU) annotated as a 70B full fine-tune: its bf16
        # weights alone (140 GB) exceed what 4 x 80 GB holds with gradients and Adam states.
        manifest("rayjob-pytorch-4gpu-workers.yaml", "team-b", "ray-70b", {
            "vramgate.io/model": "llama-2-70b", "vramgate.io/workload": "training",
            "vramgate.io/gpu": "H100-80GB"}),
        # Kueue's Job as captured but named: GPUs, no annotations: left alone by default.
        manifest("job-gpu-parallelism3-kueue.yaml", "default", "kueue-sample", {}),
    ]


@pytest.fixture
def cluster(tmp_path):
    fake = FakeApiServer(objects(), crds=CRDS).start()
    try:
        yield fake, fake.write_kubeconfig(tmp_path / "kubeconfig", namespace="team-b")
    finally:
        fake.stop()


def audit(vramgate_bin: Path, *args: str, argv0: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBERNETES_", "KUBECONFIG", "VRAMGATE_"))}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return subprocess.run([str(argv0 or vramgate_bin), "audit", *args], capture_output=True, text=True,
                          timeout=60, env=env)


def audit_cluster(vramgate_bin: Path, kubeconfig: Path, *args: str, code: int = 1,
                  argv0: Path | None = None) -> subprocess.CompletedProcess:
    """`vramgate audit --kubeconfig KUBECONFIG ARGS` against the fake cluster, which must exit
    with `code` (1: the cluster holds a job that is denied)."""
    r = audit(vramgate_bin, "--kubeconfig", str(kubeconfig), *args, argv0=argv0)
    assert r.returncode == code, (r.stdout, r.stderr)
    return r


def test_all_namespaces_json_finds_the_denied_and_the_overprovisioned_job(vramgate_bin, cluster):
    fake, kubeconfig = cluster
    r = audit_cluster(vramgate_bin, kubeconfig, "-A", "--output", "json")
    report = json.loads(r.stdout)
    assert report["judged_as"] == "CREATE"
    s = report["summary"]
    assert (s["objects"], s["judged"], s["skipped"]) == (3, 2, 1), report
    by_name = {f["name"]: f for f in report["findings"]}
    ray = by_name["ray-70b"]
    assert (ray["kind"], ray["namespace"], ray["decision"], ray["reason"]) == ("RayJob", "team-b", "deny", "does-not-fit")
    llm = by_name["fast-llm"]
    assert llm["gpus"] == 32 and 0 < llm["gpus_needed"] < 32, llm
    assert llm["overprovisioned_gpus"] == 32 - llm["gpus_needed"]
    # The surplus priced at the catalog's H100-80GB price (vramgate catalog --output json).
    catalog = json.loads(subprocess.run([str(vramgate_bin), "catalog", "--output", "json"], capture_output=True,
                                        text=True, timeout=30, check=True).stdout)
    h100 = next(g for g in catalog["gpus"] if g["name"] == "H100-80GB")["usd_per_hour"]
    assert llm["overprovisioned_usd_per_hour"] == pytest.approx(llm["overprovisioned_gpus"] * h100)
    # Kinds whose CRD is not installed: skipped, each with a line; the audit is complete.
    for resource in ("mpijobs.kubeflow.org", "jobsets.jobset.x-k8s.io", "rayclusters.ray.io"):
        assert f"skipped: {resource}: not served" in r.stderr, r.stderr
        assert any(u["resource"] == resource and not u["incomplete"] for u in report["unlisted"])
    # Read-only: every request a GET list, none namespaced.
    assert fake.requests and all(q.method == "GET" and q.verb == "list" for q in fake.requests if q.resource)
    assert all(q.namespace is None for q in fake.requests if q.resource)


def test_the_context_namespace_by_default_and_a_forbidden_kind_is_incomplete(vramgate_bin, cluster):
    fake, kubeconfig = cluster
    r = audit_cluster(vramgate_bin, kubeconfig)
    assert "namespace team-b" in r.stdout and "ray-70b" in r.stdout and "does-not-fit" in r.stdout, r.stdout
    assert "fast-llm" not in r.stdout, "team-a is not the context's namespace"
    assert {q.namespace for q in fake.requests if q.resource} == {"team-b"}
    fake.fail("jobs.batch", 403, "Forbidden")
    r = audit_cluster(vramgate_bin, kubeconfig, "-n", "team-a", code=2)
    assert "error: jobs.batch: cannot list" in r.stderr, r.stderr


def test_as_a_kubectl_plugin(vramgate_bin, cluster, tmp_path):
    _, kubeconfig = cluster
    plugin = tmp_path / "kubectl-vramgate"
    plugin.symlink_to(vramgate_bin)
    r = audit_cluster(vramgate_bin, kubeconfig, "-n", "team-a", argv0=plugin)
    assert "fast-llm" in r.stdout and "overprovisioned" in r.stdout, r.stdout
    r = audit(vramgate_bin, "--bogus", argv0=plugin)
    assert r.returncode == 2 and "Usage: kubectl vramgate audit" in r.stderr, r.stderr


def policy_report_schema() -> dict:
    """The v1alpha2 openAPIV3Schema of the PolicyReport CRD (wg-policy-prototypes; origin in
    tests/fixtures/README.md)."""
    crd = yaml.safe_load((REPO / "tests" / "fixtures" / "policyreport" /
                          "wgpolicyk8s.io_policyreports-v1alpha2.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha2"]
    return version["schema"]["openAPIV3Schema"]


def test_policy_reports_validate_against_the_wgpolicyk8s_schema(vramgate_bin, cluster):
    import jsonschema

    _, kubeconfig = cluster
    listed = yaml.safe_load(audit_cluster(vramgate_bin, kubeconfig, "-A", "--output", "policy-reports").stdout)
    assert listed["kind"] == "List"
    schema = policy_report_schema()
    reports = {rep["metadata"]["namespace"]: rep for rep in listed["items"]}
    # The Kueue Job in default is not judged (no annotations): no report there.
    assert set(reports) == {"team-a", "team-b"}
    for rep in reports.values():
        assert (rep["apiVersion"], rep["kind"]) == ("wgpolicyk8s.io/v1alpha2", "PolicyReport")
        jsonschema.validate(rep, schema)
        for res in rep["results"]:
            assert (res["policy"], res["source"]) == ("vramgate", "vramgate")
    (ray,) = reports["team-b"]["results"]
    assert (ray["rule"], ray["result"]) == ("does-not-fit", "fail")
    assert ray["resources"][0]["kind"] == "RayJob" and ray["resources"][0]["name"] == "ray-70b"
    assert ray["resources"][0]["uid"], "the fake API server gives every object a uid"
    assert reports["team-b"]["summary"]["fail"] == 1
    (llm,) = reports["team-a"]["results"]
    assert (llm["rule"], llm["result"]) == ("overprovisioned", "warn")
    # A result the schema refuses is refused: the check is not vacuous.
    bad = copy.deepcopy(reports["team-a"])
    bad["results"][0]["result"] = "denied"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
