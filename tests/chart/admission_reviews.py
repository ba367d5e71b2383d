"""The AdmissionReviews that test_prometheus.py (and test_config_map_source.py) send to the live
binary: Kubernetes objects as users submit them (Job, PyTorchJob, Deployment, Pod), the
annotation sets that make the webhook allow, warn, deny or patch, the review mix with what each
review expects, and RFC 6902 JSON Patch as the API server applies a mutating webhook's patch.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Any

H100 = "NVIDIA-H100-80GB-HBM3"
A100 = "NVIDIA-A100-SXM4-80GB"


# ---- AdmissionReviews ----------------------------------------------------------------------


def annotations(**fields: str) -> dict[str, str]:
    return {f"vramgate.io/{k.replace('_', '-')}": v for k, v in fields.items()}


def pod_spec(gpus: int, product: str | None, container: str = "train") -> dict:
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [{
            "name": container,
            "image": "ghcr.io/example/llm-train:2026.11",
            "command": ["torchrun", "train.py"],
            "resources": {"limits": {"nvidia.com/gpu": str(gpus), "memory": "200Gi"},
                          "requests": {"cpu": "16", "memory": "200Gi"}},
        }],
    }
    if product:
        spec["nodeSelector"] = {"nvidia.com/gpu.product": product}
    return spec


def job(name: str, ns: str, ann: dict, gpus: int, product: str | None = H100) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": ns, "annotations": ann, "labels": {"team": ns}},
            "spec": {"backoffLimit": 0, "completions": 1, "parallelism": 1,
                     "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec(gpus, product)}}}


def pytorchjob(name: str, ns: str, ann: dict, gpus_per_pod: int, workers: int, product: str) -> dict:
    def replica(n):
        spec = pod_spec(gpus_per_pod, product, container="pytorch")
        spec["restartPolicy"] = "OnFailure"
        return {"replicas": n, "restartPolicy": "OnFailure", "template": {"spec": spec}}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
            "metadata": {"name": name, "namespace": ns, "annotations": ann},
            "spec": {"pytorchReplicaSpecs": {"Master": replica(1), "Worker": replica(workers)}}}


def deployment(name: str, ns: str, ann: dict, replicas: int, gpus: int, product: str = H100) -> dict:
    """An inference server's Deployment (issue 15): vLLM from its image, `replicas` pods."""
    spec = pod_spec(gpus, product, container="vllm")
    spec["restartPolicy"] = "Always"
    spec["containers"][0] |= {"image": "vllm/vllm-openai:v0.6.4", "command": ["vllm", "serve", "meta-llama/Llama-2-7b-hf"]}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "annotations": ann, "labels": {"team": ns}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}


def pod(name: str, ns: str, gpus: int) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": pod_spec(gpus, H100)}


GVR = {
    "Job": (("batch", "v1", "Job"), "jobs"),
    "PyTorchJob": (("kubeflow.org", "v1", "PyTorchJob"), "pytorchjobs"),
    "Pod": (("", "v1", "Pod"), "pods"),
    "Deployment": (("apps", "v1", "Deployment"), "deployments"),
}


def review(obj: dict, operation: str = "CREATE", dry_run: bool = False, old: dict | None = None) -> dict:
    (group, version, kind), resource = GVR[obj["kind"]]
    gvk = {"group": group, "version": version, "kind": kind}
    gvr = {"group": group, "version": version, "resource": resource}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
            "name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"],
            "operation": operation,
            "userInfo": {"username": "alice@example.com", "groups": ["ml-researchers", "system:authenticated"]},
            "object": obj, "oldObject": old, "dryRun": dry_run,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": f"{operation.title()}Options"},
        },
    }


FITS = annotations(model="llama-2-7b", precision="bf16-mixed", strategy="zero3", optimizer="adamw",
                   micro_batch_size="1", sequence_length="4096", training_tokens="20B")
TOO_BIG = annotations(model="llama-2-13b", precision="fp32", strategy="ddp", training_tokens="20B", gpu="A100-80GB")
MALFORMED = annotations(model="llama-2-7b", precision="fp64", strategy="zero3", training_tokens="20B")
PATCHABLE = annotations(model="llama-2-13b", precision="bf16-mixed", strategy="zero3", activation_checkpointing="true",
                        training_tokens="2B")
# An inference server: `workload: serving` and the rest read from the container's command line
# (`vllm serve meta-llama/Llama-2-7b-hf`, image tag v0.6.4), so it counts in the serving families.
SERVER = annotations(workload="serving")
# One judged by its annotations alone (workload inference: the plain prefill estimate).
SERVER_TOO_BIG = annotations(workload="inference", model="llama-2-70b", precision="fp32", micro_batch_size="1",
                             sequence_length="4096")
OVER_COST = annotations(model="llama-3-8b", precision="bf16-mixed", strategy="fsdp", training_tokens="200B")


@dataclass
class Case:
    name: str
    body: dict
    expect_allowed: bool | None  # None: no expectation
    expect_warning: bool = False
    expect_patch: bool = False


def review_mix(batch: int) -> list[Case]:
    s = f"-{batch}"
    fits = job("llama2-7b-zero3" + s, "ml-team", FITS, 8)
    return [
        Case("fits", review(fits), True),
        Case("fits, dry run", review(copy.deepcopy(fits), dry_run=True), True),
        Case("fits, update", review(copy.deepcopy(fits), operation="UPDATE", old=fits), True),
        Case("too big (enforce)", review(pytorchjob("llama2-13b-fp32" + s, "ml-team", TOO_BIG, 4, 1, A100)), False),
        Case("too big (warn)", review(pytorchjob("llama2-13b-fp32" + s, "research", TOO_BIG, 4, 1, A100)), True,
             expect_warning=True),
        Case("malformed (enforce)", review(job("fp64" + s, "ml-team", MALFORMED, 8)), False),
        Case("malformed (warn)", review(job("fp64" + s, "research", MALFORMED, 8)), True, expect_warning=True),
        Case("not annotated", review(pod("notebook" + s, "ml-team", 1)), True),
        Case("patchable", review(job("llama2-13b-2gpu" + s, "sandbox", PATCHABLE, 2)), True, expect_patch=True),
        Case("over the cost limit", review(job("llama3-8b-200b" + s, "sandbox", OVER_COST, 8)), None),
        Case("server", review(deployment("vllm-llama2-7b" + s, "ml-team", SERVER, 2, 1)), True),
        Case("server too big (enforce)", review(deployment("vllm-llama2-70b" + s, "ml-team", SERVER_TOO_BIG, 1, 1)),
             False),
    ]


def json_patch(doc: Any, ops: list[dict]) -> Any:
    """RFC 6902 add/replace/remove/test, as the API server applies a mutating webhook's patch."""
    doc = copy.deepcopy(doc)

    def walk(path: str):
        parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        return parent, parts[-1]

    for op in ops:
        parent, key = walk(op["path"])
        # Only the key differs between an array and an object (an index, "-" for the end),
        # and an add, which inserts into an array; the rest is one subscript for both.
        if isinstance(parent, list):
            key = len(parent) if key == "-" else int(key)
        elif op["op"] == "replace":
            assert key in parent, f"replace of missing {op['path']}"
        if op["op"] == "add" and isinstance(parent, list):
            parent.insert(key, op["value"])
        elif op["op"] in ("add", "replace"):
            parent[key] = op["value"]
        elif op["op"] == "remove":
            del parent[key]
        elif op["op"] == "test":
            assert parent[key] == op["value"]
        else:
            raise AssertionError(f"unsupported patch op {op}")
    return doc
