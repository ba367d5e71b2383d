"""End to end: the release binary, started with the rendered Deployment's own command line, answers
a realistic mix of AdmissionReviews over HTTPS (verified against the chart's caBundle for the
Service's DNS name, as the API server does); a real Prometheus scrapes it the way the rendered
ServiceMonitor says and loads the rendered PrometheusRule; then every PromQL expression of the
dashboard and of the alerts must parse, evaluate and find the series it shows.

The Deployment's `--cluster` watches a cluster: here a fake API server (fake_apiserver.py) that
the binary reaches through KUBECONFIG. It serves GPU nodes (the captured objects of
tests/fixtures/cluster/, if any, plus the test's own nodes) and, once the webhook has admitted
them, the workloads of the review mix with Running pods bound to those nodes: what the live
cost panels show. Its node watch is broken once and healed, as an API server outage would, and
every request the binary makes is checked against the rendered ClusterRole.

Needs the release binary and Debian's prometheus package (scripts/chart-check.sh provides both).
Every wait is bounded.
"""

from __future__ import annotations

import base64
import copy
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

import chartlib
from chartlib import NAMESPACE, RELEASE, find, render
from conftest import run
from fake_apiserver import WORKLOAD_CRDS, FakeApiServer, load_objects

NOT_LANDED = "admission logic not landed: /validate answers 400 to every well-formed AdmissionReview"

H100 = "NVIDIA-H100-80GB-HBM3"
A100 = "NVIDIA-A100-SXM4-80GB"
# A GPU Feature Discovery product the catalog does not know: counted under its raw label.
UNKNOWN_PRODUCT = "Acme-Tensor-X1-48GB"
# The catalog names of the products above (`vramgate catalog`).
CATALOG_NAME = {H100: "H100-80GB", A100: "A100-80GB"}
# CRDs the fake cluster does not have: their API paths answer 404.
NOT_INSTALLED = ("batch.volcano.sh", "leaderworkerset.x-k8s.io")
# Captured Node, Pod and workload objects of real clusters, served as they are (when present).
CLUSTER_FIXTURES = chartlib.REPO / "tests" / "fixtures" / "cluster"

# The chart's values for this test: every option that matters to metrics, and a policy per
# namespace so that the mix yields allow, warn, deny and patch decisions.
VALUES = {
    "tls": {"mode": "helm"},
    "webhook": {"mutating": {"enabled": True}},
    "serviceMonitor": {"enabled": True},
    "prometheusRule": {"enabled": True},
    "config": {
        "policy": {"mode": "enforce", "max_cost_usd": 250000},
        "namespaces": {
            "research": {"mode": "warn", "max_cost_usd": 5000},
            "sandbox": {"patch": True, "max_cost_usd": 5000},
        },
        # The periodic audit at its shortest, so that it sees the admitted workloads in time.
        "audit": {"interval_seconds": 10},
    },
}


# ---- processes and HTTP --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, timeout: float = 20.0, interval: float = 0.2, procs=()):
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        for p, log in procs:
            if p.poll() is not None:
                raise AssertionError(f"{what}: process exited with {p.returncode}:\n{Path(log).read_text()[-4000:]}")
        try:
            last = check()
            if last:
                return last
        except (OSError, http.client.HTTPException, ValueError) as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class ServiceHTTPS(http.client.HTTPSConnection):
    """Connects to 127.0.0.1 but verifies the certificate for the Service's DNS name, the name
    the API server dials (<service>.<namespace>.svc)."""

    def __init__(self, port: int, server_name: str, context: ssl.SSLContext):
        super().__init__("127.0.0.1", port, context=context, timeout=10)
        self.server_name = server_name

    def connect(self):
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.server_name)


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


# ---- the running stack ------------------------------------------------------------------------


@dataclass
class Stack:
    tmp: Path
    objs: list[dict]
    server: subprocess.Popen
    server_log: Path
    argv: list[str]
    webhook_port: int
    metrics_port: int
    server_name: str
    paths: dict[str, str]
    ssl_context: ssl.SSLContext
    prom: subprocess.Popen | None = None
    prom_log: Path | None = None
    prom_url: str = ""
    results: list[tuple[Case, dict, dict | None, dict]] = field(default_factory=list)
    errors_sent: int = 0
    fake: FakeApiServer | None = None
    cluster: "Cluster | None" = None
    # What the server did while its node watch was broken (see the stack fixture).
    outage: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    def post(self, path: str, body: bytes) -> tuple[int, dict | str]:
        conn = ServiceHTTPS(self.webhook_port, self.server_name, self.ssl_context)
        try:
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read().decode()
            try:
                return r.status, json.loads(data)
            except ValueError:
                return r.status, data
        finally:
            conn.close()

    def metrics_text(self) -> str:
        status, text = http_get(self.metrics_url + "/metrics")
        assert status == 200
        return text

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the server's own samples of `name` whose labels include `labels`."""
        return sum(self.series(name, **labels))

    def series(self, name: str, **labels: str) -> list[float]:
        """The values of the server's own samples of `name` whose labels include `labels` ([]:
        no such series, unlike metric()'s 0)."""
        out = []
        for line in self.metrics_text().splitlines():
            m = re.match(r"^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)", line)
            if not m or m.group(1) != name:
                continue
            got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
            if all(got.get(k) == v for k, v in labels.items()):
                out.append(float(m.group(4)))
        return out

    def query(self, expr: str) -> dict:
        url = f"{self.prom_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        status, text = http_get(url, timeout=10)
        body = json.loads(text)
        if status != 200 or body.get("status") != "success":
            raise AssertionError(f"Prometheus refused {expr!r}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def send_mix(self, batch: int):
        for case in review_mix(batch):
            req = case.body
            status, mutated = self.post("/mutate", json.dumps(req).encode())
            assert status == 200 or status == 400, (case.name, status, mutated)
            validated_req = req
            if status == 200 and isinstance(mutated, dict) and mutated.get("response", {}).get("patch"):
                assert mutated["response"]["patchType"] == "JSONPatch"
                ops = json.loads(base64.b64decode(mutated["response"]["patch"]))
                validated_req = copy.deepcopy(req)
                validated_req["request"]["object"] = json_patch(req["request"]["object"], ops)
            vstatus, validated = self.post("/validate", json.dumps(validated_req).encode())
            # The third element: the object as the API server would store it (patched).
            self.results.append((case, {"status": status, "body": mutated}, validated_req["request"]["object"],
                                 {"status": vstatus, "body": validated}))

    def send_errors(self):
        for body in (b"{this is not json", json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode()):
            status, _ = self.post("/validate", body)
            assert status == 400, status
            self.errors_sent += 1


# ---- the cluster the binary watches ------------------------------------------------------------


def gpu_node(name: str, product: str | None, gpus: int, memory_mib: int = 0) -> dict:
    """A Node as GPU Feature Discovery and the NVIDIA device plugin label and size it."""
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "node.kubernetes.io/instance-type": "fake.gpu" if product else "fake.cpu"}
    resources = {"cpu": "96", "memory": "1056763384Ki", "ephemeral-storage": "3750157920Ki", "pods": "110"}
    if product:
        labels |= {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": product,
                   "nvidia.com/gpu.count": str(gpus), "nvidia.com/gpu.memory": str(memory_mib),
                   "nvidia.com/gpu.deploy.device-plugin": "true", "nvidia.com/mig.capable": "false"}
        resources["nvidia.com/gpu"] = str(gpus)
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"providerID": f"fake://{name}"},
        "status": {
            "capacity": dict(resources), "allocatable": dict(resources),
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status"}],
            "addresses": [{"type": "Hostname", "address": name}],
        },
    }


def pod_gpus(spec: dict) -> int:
    return sum(int(c.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0)) for c in spec["containers"])


@dataclass
class Cluster:
    """The objects the fake API server holds and where each GPU pod runs."""

    nodes: list[dict]
    free: dict[str, int]  # node name -> GPUs not yet requested by pods bound to it
    product: dict[str, str | None]  # node name -> GPU product label
    pods: list[dict] = field(default_factory=list)
    workloads: list[dict] = field(default_factory=list)
    replica_sets: dict[str, str] = field(default_factory=dict)  # ReplicaSet uid -> its Deployment's uid

    @classmethod
    def build(cls, extra_nodes: list[dict]) -> "Cluster":
        ours = [gpu_node(f"gpu-h100-{i}", H100, 8, 81559) for i in range(3)]
        ours += [gpu_node(f"gpu-a100-{i}", A100, 8, 81920) for i in range(2)]
        ours += [gpu_node("gpu-acme-0", UNKNOWN_PRODUCT, 4, 49152), gpu_node("cpu-0", None, 0)]
        nodes = ours + extra_nodes
        return cls(nodes=nodes,
                   free={n["metadata"]["name"]: (int(n["status"]["allocatable"].get("nvidia.com/gpu", 0))
                                                 if n["metadata"]["name"] in {o["metadata"]["name"] for o in ours} else 0)
                         for n in nodes},
                   product={n["metadata"]["name"]: n["metadata"].get("labels", {}).get("nvidia.com/gpu.product")
                            for n in nodes})

    def schedule(self, spec: dict) -> str | None:
        """The first of the test's nodes with the pod's GPU product and enough free GPUs."""
        want = spec.get("nodeSelector", {}).get("nvidia.com/gpu.product", H100)
        need = pod_gpus(spec)
        for name, free in self.free.items():
            if self.product[name] == want and free >= need:
                self.free[name] -= need
                return name
        return None

    def pod(self, name: str, ns: str, spec: dict, *, labels: dict | None = None, owner: dict | None = None,
            phase: str = "Running", node: str | None = None) -> dict:
        spec = copy.deepcopy(spec)
        if phase in ("Running", "Succeeded", "Failed"):
            node = node or self.schedule(spec)
            assert node, f"no node for {ns}/{name}"
            spec["nodeName"] = node
        meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels or {}}
        if owner:
            meta["ownerReferences"] = [{**owner, "controller": True, "blockOwnerDeletion": True}]
        status: dict[str, Any] = {"phase": phase, "qosClass": "Burstable"}
        if node:
            status |= {"hostIP": "10.0.0.1", "podIP": f"10.244.0.{len(self.pods) + 2}",
                       "startTime": "2026-11-25T00:00:00Z",
                       "conditions": [{"type": "Ready", "status": "True" if phase == "Running" else "False"}]}
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}
        self.pods.append(pod)
        return pod

    def bystanders(self) -> list[dict]:
        """Pods vramgate did not admit: they take GPUs (allocation) but cost nothing in the live
        cost metrics; finished and unscheduled pods take none."""
        nb = pod_spec(1, H100, container="notebook")
        self.pod("jupyter-alice-0", "notebooks", nb, labels={"team": "research-tools"})
        self.pod("bench-acme-0", "benchmarks", pod_spec(2, UNKNOWN_PRODUCT, container="bench"))
        self.pod("eval-done-7x2kq", "ml-team", pod_spec(8, A100), phase="Succeeded", node="gpu-a100-1")
        self.pod("waiting-8gpu-z5k2p", "ml-team", pod_spec(8, H100), phase="Pending")
        return self.pods[-4:]

    def admit(self, obj: dict, team: str) -> list[dict]:
        """A workload the webhook admitted, as its controller runs it: the object (with its
        output annotations) and its Running pods."""
        obj = copy.deepcopy(obj)
        meta = obj["metadata"]
        meta.setdefault("labels", {})["team"] = team
        meta["uid"] = str(uuid.uuid4())
        ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
        owner = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": name, "uid": uid}
        pods = []
        if obj["kind"] == "Job":
            template = obj["spec"]["template"]
            for i in range(int(obj["spec"].get("parallelism", 1))):
                labels = dict(template.get("metadata", {}).get("labels", {})) | {
                    "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                    "controller-uid": uid, "job-name": name, "team": team}
                pods.append(self.pod(f"{name}-{uuid.uuid4().hex[:5]}", ns, template["spec"], labels=labels, owner=owner))
        elif obj["kind"] == "PyTorchJob":
            for rtype, rspec in obj["spec"]["pytorchReplicaSpecs"].items():
                for i in range(int(rspec.get("replicas", 1))):
                    labels = {"training.kubeflow.org/job-name": name, "training.kubeflow.org/operator-name":
                              "pytorchjob-controller", "training.kubeflow.org/replica-type": rtype.lower(),
                              "training.kubeflow.org/replica-index": str(i), "team": team}
                    pods.append(self.pod(f"{name}-{rtype.lower()}-{i}", ns, rspec["template"]["spec"], labels=labels,
                                         owner=owner))
        elif obj["kind"] == "Deployment":
            # The Deployment controller's ReplicaSet `<name>-<pod-template-hash>` owns the pods,
            # which carry the hash as a label (vramgate does not watch ReplicaSets).
            template, rs_hash = obj["spec"]["template"], uuid.uuid4().hex[:9]
            rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{name}-{rs_hash}", "uid": str(uuid.uuid4())}
            self.replica_sets[rs["uid"]] = uid
            for i in range(int(obj["spec"].get("replicas", 1))):
                labels = dict(template.get("metadata", {}).get("labels", {})) | {"pod-template-hash": rs_hash}
                pods.append(self.pod(f"{rs['name']}-{uuid.uuid4().hex[:5]}", ns, template["spec"], labels=labels,
                                     owner=rs))
        else:
            raise AssertionError(f"no controller for {obj['kind']}")
        self.workloads.append(obj)
        return [obj] + pods

    def running_gpus(self) -> dict[tuple[str, str, str], int]:
        """GPUs of Running pods of admitted workloads by (namespace, team, catalog GPU name)."""
        uids = {w["metadata"]["uid"]: w for w in self.workloads}
        out: dict[tuple[str, str, str], int] = {}
        for p in self.pods:
            owners = p["metadata"].get("ownerReferences", [])
            owner_uid = owners[0]["uid"] if owners else None
            owner_uid = self.replica_sets.get(owner_uid, owner_uid)
            if p["status"]["phase"] != "Running" or owner_uid not in uids:
                continue
            w = uids[owner_uid]
            key = (w["metadata"]["namespace"], w["metadata"]["labels"]["team"],
                   CATALOG_NAME[self.product[p["spec"]["nodeName"]]])
            out[key] = out.get(key, 0) + pod_gpus(p["spec"])
        return out


# The admitted workloads of the review mix that the test runs in the cluster, with their team.
RUN_IN_CLUSTER = {"fits": "llm-core", "too big (warn)": "nlp", "patchable": "sandbox-team", "server": "serving"}


def admitted_objects(st: "Stack") -> list[tuple[dict, str]]:
    """The objects the webhook admitted (validated, allowed, not a dry run) that the cluster
    should now run, as the API server stored them (with the mutating webhook's annotations)."""
    out = []
    for case, _, stored, validated in st.results:
        team = RUN_IN_CLUSTER.get(case.name)
        body = validated["body"]
        if (team is None or not isinstance(body, dict) or not body.get("response", {}).get("allowed")
                or case.body["request"]["dryRun"] or stored is None):
            continue
        if "vramgate.io/decision" in stored["metadata"].get("annotations", {}):
            out.append((stored, team))
    return out


SUBSTITUTED = ("--config", "--tls-cert", "--tls-key", "--listen", "--metrics-listen", "--reload-interval")


def container_argv(objs: list[dict], binary: Path, tmp: Path, webhook_port: int, metrics_port: int) -> tuple[list[str], dict]:
    """The Deployment's command and args with container paths mapped to files under tmp and
    listen addresses to local ports; the reload interval shortened so the test sees reloads."""
    dep = find(objs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    # Where each file of the projected volume lands in the container.
    files: dict[str, tuple[str, str, str]] = {}
    vols = {v["name"]: v for v in pod["volumes"]}
    for m in c["volumeMounts"]:
        vol = vols[m["name"]]
        for src in vol.get("projected", {}).get("sources", []):
            ((kind, ref),) = src.items()
            for item in ref["items"]:
                files[f"{m['mountPath']}/{item['path']}"] = (kind, ref["name"], item["key"])
    data = {("configMap", o["metadata"]["name"]): o["data"] for o in objs if o["kind"] == "ConfigMap"}
    data |= {("secret", o["metadata"]["name"]): {k: base64.b64decode(v).decode() for k, v in o["data"].items()}
             for o in objs if o["kind"] == "Secret"}
    paths = {}
    for cpath, (kind, name, key) in files.items():
        local = tmp / "etc" / cpath.lstrip("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(data[(kind, name)][key])
        paths[cpath] = str(local)

    assert Path(c["command"][0]).name == "vramgate", c["command"]
    argv = [str(binary)] + c["command"][1:]
    args = c["args"]
    for i, a in enumerate(args):
        flag = args[i - 1] if i else None
        if flag in ("--config", "--tls-cert", "--tls-key"):
            a = paths[a]
        elif flag == "--listen":
            assert a.endswith(f":{c['ports'][0]['containerPort']}"), a
            a = f"127.0.0.1:{webhook_port}"
        elif flag == "--metrics-listen":
            assert a.endswith(f":{c['ports'][1]['containerPort']}"), a
            a = f"127.0.0.1:{metrics_port}"
        elif flag == "--reload-interval":
            a = "1"
        argv.append(a)
    assert set(SUBSTITUTED) <= set(args), args
    return argv, paths


@pytest.fixture(scope="module")
def stack(vramgate_bin, prometheus_bin, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    objs = render(VALUES)
    webhook_port, metrics_port = free_port(), free_port()
    argv, paths = container_argv(objs, vramgate_bin, tmp, webhook_port, metrics_port)

    # Trust exactly what the API server would: the validating webhook's caBundle.
    vwc = find(objs, "ValidatingWebhookConfiguration")
    (w,) = vwc["webhooks"]
    svc = w["clientConfig"]["service"]
    ca = base64.b64decode(w["clientConfig"]["caBundle"]).decode()
    ctx = ssl.create_default_context(cadata=ca)
    server_name = f"{svc['name']}.{svc['namespace']}.svc"

    # The cluster --cluster watches: captured objects (tests/fixtures/cluster/), the test's GPU
    # nodes and pods vramgate did not admit; the admitted workloads follow the reviews below.
    fixtures = load_objects(CLUSTER_FIXTURES)
    cluster = Cluster.build([o for o in fixtures if o.get("kind") == "Node"])
    ours = [n for n in cluster.nodes if n not in fixtures] + cluster.bystanders()
    for o in ours:
        kubernetes_validate.validate(o, chartlib.KUBE_NEWEST, strict=True)
    # Most clusters lack some of the CRDs: Volcano and LeaderWorkerSet are not installed here.
    fake = FakeApiServer(fixtures + ours, crds=[r for r in WORKLOAD_CRDS if r.group not in NOT_INSTALLED]).start()
    kubeconfig = fake.write_kubeconfig(tmp / "kubeconfig")
    # The kubeconfig, never an in-cluster config the environment might suggest.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    env |= {"RUST_LOG": "info", "KUBECONFIG": str(kubeconfig), "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost"}

    log = tmp / "vramgate.log"
    server = subprocess.Popen(argv, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True, env=env)
    st = Stack(tmp=tmp, objs=objs, server=server, server_log=log, argv=argv, webhook_port=webhook_port,
               metrics_port=metrics_port, server_name=server_name, paths=paths, ssl_context=ctx, fake=fake,
               cluster=cluster)
    try:
        wait_for("vramgate /readyz", lambda: http_get(st.metrics_url + "/readyz")[0] == 200, procs=[(server, log)])
        st.send_mix(1)

        # The controllers run what the webhook admitted: the workloads (with the mutating
        # webhook's output annotations) and their Running pods appear through the watches.
        admitted = admitted_objects(st)
        assert admitted, "no admitted workload carries the vramgate.io/decision output annotation"
        for obj, team in admitted:
            for o in cluster.admit(obj, team):
                if o["kind"] in ("Pod", "Job", "Deployment"):
                    kubernetes_validate.validate(o, chartlib.KUBE_NEWEST, strict=True)
                fake.apply(o)
        want = sum(cluster.running_gpus().values())
        wait_for(f"vramgate_running_gpus to reach the {want} GPUs of the admitted workloads' Running pods",
                 lambda: sum(st.series("vramgate_running_gpus")) == want > 0, timeout=60, procs=[(server, log)])
        # The cumulative cost integrates between the server's live-cost ticks (15 s): wait for
        # the first increment, so that Prometheus sees the counter move.
        wait_for("vramgate_running_cost_usd_total to accrue",
                 lambda: sum(st.series("vramgate_running_cost_usd_total")) > 0, timeout=60, procs=[(server, log)])
        # The periodic audit judges the admitted workloads as if created now: the warned ones
        # are findings, the over-provisioned ones waste.
        wait_for("vramgate_audit_findings and vramgate_audit_overprovisioned_usd_per_hour",
                 lambda: st.series("vramgate_audit_findings") and st.series("vramgate_audit_overprovisioned_usd_per_hour"),
                 timeout=60, procs=[(server, log)])

        # Prometheus, configured as the rendered ServiceMonitor asks, with the rendered rules.
        sm = find(objs, "ServiceMonitor")
        (ep,) = sm["spec"]["endpoints"]
        svc_obj = find(objs, "Service")
        assert ep["port"] in {p["name"] for p in svc_obj["spec"]["ports"]}
        (tmp / "rules.yaml").write_text(yaml.safe_dump(chartlib.rules_of(objs), sort_keys=False))
        prom_port = free_port()
        prom_cfg = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(tmp / "rules.yaml")],
            "scrape_configs": [{
                # The Prometheus Operator names the job after the Service and adds its namespace.
                "job_name": svc_obj["metadata"]["name"],
                "honor_labels": ep["honorLabels"],
                "metrics_path": ep["path"],
                "scheme": ep["scheme"],
                "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"],
                                    "labels": {"namespace": svc_obj["metadata"]["namespace"]}}],
            }],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(prom_cfg, sort_keys=False))
        st.prom_log = tmp / "prometheus.log"
        st.prom_url = f"http://127.0.0.1:{prom_port}"
        st.prom = subprocess.Popen(
            [prometheus_bin, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
            stdout=open(st.prom_log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
        procs = [(server, log), (st.prom, st.prom_log)]
        wait_for("Prometheus ready", lambda: http_get(st.prom_url + "/-/ready")[0] == 200, timeout=30, procs=procs)
        wait_for("first scrape", lambda: st.query(f'up{{job="{RELEASE}", namespace="{NAMESPACE}"}} == 1')["result"],
                 procs=procs)

        # A refused config and a refused certificate, each then fixed, as an operator would.
        config, cert = Path(paths["/etc/vramgate/config.yaml"]), Path(paths["/etc/vramgate/tls/tls.crt"])
        good_config, good_cert = config.read_text(), cert.read_text()
        for path, bad, good, metric in ((config, "policy:\n  mode: block\n", good_config, "vramgate_config_reloads_total"),
                                        (cert, "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n",
                                         good_cert, "vramgate_certificate_reloads_total")):
            before = st.metric(metric, result="success")
            replace(path, bad)
            wait_for(f"{metric} failure", lambda: st.metric(metric, result="failure") >= 1, procs=procs)
            # The server keeps serving with what it had.
            status, _ = st.post("/validate", json.dumps(review_mix(0)[0].body).encode())
            assert status in (200, 400)
            replace(path, good)
            wait_for(f"{metric} success", lambda: st.metric(metric, result="success") > before, procs=procs)

        # An API server outage for the node watch: the inventory goes stale, the webhook stays
        # ready and keeps answering; then it recovers. (Observations are checked by
        # test_readyz_stays_ready_while_the_inventory_is_stale.)
        fake.fail("nodes")
        try:
            wait_for("the node watch reported down",
                     lambda: st.series("vramgate_cluster_watch_up", resource="nodes") == [0.0], timeout=30, procs=procs)
            stale = wait_for("the inventory reported stale",
                             lambda: (v := st.series("vramgate_inventory_stale_seconds")) and v[0] > 0 and v,
                             timeout=30, procs=procs)
            st.outage["stale_seconds"] = stale[0]
            st.outage["readyz"] = http_get(st.metrics_url + "/readyz")
            st.outage["validate_status"], st.outage["validate_body"] = st.post(
                "/validate", json.dumps(review_mix(9)[1].body).encode())  # a dry run: not admitted spend
        except AssertionError as e:
            st.outage["error"] = str(e)
        finally:
            fake.heal("nodes")
        healthy = lambda: (st.series("vramgate_cluster_watch_up", resource="nodes") == [1.0]  # noqa: E731
                           and st.series("vramgate_inventory_stale_seconds") == [0.0])
        # Recovery must not wait for a Node to change: the API server may send nothing but
        # bookmarks for minutes. (The watch backs off, so give it time to retry.)
        try:
            wait_for("the node watch healthy again with no Node changed", healthy, timeout=40, procs=procs)
            st.outage["recovered"] = True
        except AssertionError as e:
            st.outage["recovered"] = str(e)
            # A kubelet status update arrives; then the rest of the test can go on.
            n = fake.objects("nodes")[0]
            n["status"].setdefault("conditions", []).append(
                {"type": "NetworkUnavailable", "status": "False", "reason": "RouteCreated"})
            fake.apply(n)
            wait_for("the node watch healthy again after a Node changed", healthy, timeout=60, procs=procs)

        st.send_mix(2)
        st.send_errors()
        # Prometheus has the final counts once its sum equals the server's own.
        want = st.metric("vramgate_review_duration_seconds_count")
        wait_for("final scrape", lambda: (r := st.query("sum(vramgate_review_duration_seconds_count)")["result"])
                 and float(r[0]["value"][1]) == want, procs=procs)
        time.sleep(2)  # two more samples, so that every rate() window holds a change
        yield st
    finally:
        for p in (st.prom, server):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in (st.prom, server):
            if p is not None:
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
        fake.stop()


def replace(path: Path, text: str):
    """Atomic replacement, as the kubelet updates a mounted ConfigMap or Secret."""
    tmp = path.with_suffix(".new")
    tmp.write_text(text)
    os.replace(tmp, path)


def require_admission(st: Stack):
    validated = [v for case, _, _, v in st.results]
    if validated and all(v["status"] == 400 for v in validated):
        pytest.xfail(NOT_LANDED)


# ---- tests --------------------------------------------------------------------------------------


def test_server_runs_with_the_deployment_arguments(stack):
    """Same subcommand and flags in the same order as the pod; only addresses, file paths and
    the reload interval differ."""
    dep_args = find(stack.objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    ours = stack.argv[1:]
    assert len(ours) == len(dep_args)
    for i, (mine, theirs) in enumerate(zip(ours, dep_args)):
        if not (i and dep_args[i - 1] in SUBSTITUTED):
            assert mine == theirs, (i, mine, theirs)
    status, body = http_get(stack.metrics_url + "/healthz")
    assert status == 200, body


def test_reviews_are_answered_as_the_api_server_expects(stack):
    require_admission(stack)
    problems = []
    for case, mutated, _, validated in stack.results:
        for endpoint, got in (("mutate", mutated), ("validate", validated)):
            body = got["body"]
            req = case.body["request"]
            if got["status"] != 200 or not isinstance(body, dict):
                problems.append(f"{case.name} /{endpoint}: HTTP {got['status']}: {str(body)[:300]}")
                continue
            resp = body.get("response", {})
            if (body.get("apiVersion"), body.get("kind")) != ("admission.k8s.io/v1", "AdmissionReview"):
                problems.append(f"{case.name} /{endpoint}: not an admission.k8s.io/v1 AdmissionReview")
            if resp.get("uid") != req["uid"]:
                problems.append(f"{case.name} /{endpoint}: uid {resp.get('uid')} != {req['uid']}")
        resp = validated["body"].get("response", {}) if isinstance(validated["body"], dict) else {}
        if case.expect_allowed is not None and resp.get("allowed") is not case.expect_allowed:
            problems.append(f"{case.name}: allowed={resp.get('allowed')}, expected {case.expect_allowed}: "
                            f"{resp.get('status')}")
        if case.expect_allowed is False and not resp.get("status", {}).get("message"):
            problems.append(f"{case.name}: denied without a message")
        if case.expect_warning and not resp.get("warnings"):
            problems.append(f"{case.name}: allowed without a warning")
        mresp = mutated["body"].get("response", {}) if isinstance(mutated["body"], dict) else {}
        if case.expect_patch and not mresp.get("patch"):
            problems.append(f"{case.name}: /mutate sent no patch: {mresp}")
    assert problems == [], "\n".join(problems)


def evaluate(stack: Stack, exprs: list[tuple[str, str]]) -> list[str]:
    problems = []
    for title, expr in exprs:
        try:
            stack.query(expr)
        except AssertionError as e:
            problems.append(f"{title}: {e}")
            continue
        for part in chartlib.data_parts(expr):
            if not stack.query(part)["result"]:
                problems.append(f"{title}: no data for {part!r}")
    return problems


def test_every_dashboard_query_parses_and_returns_data(stack):
    require_admission(stack)
    exprs = [(t, chartlib.substitute_grafana(e)) for t, e in chartlib.dashboard_exprs(chartlib.dashboard())]
    problems = evaluate(stack, exprs)
    assert problems == [], "\n".join(problems)


def test_every_alert_expression_parses_and_its_series_exist(stack):
    require_admission(stack)
    rules = chartlib.rules_of(stack.objs)
    exprs = [(r["alert"], r["expr"]) for g in rules["groups"] for r in g["rules"]]
    problems = evaluate(stack, exprs)
    assert problems == [], "\n".join(problems)


def test_prometheus_loaded_the_rules_and_reload_alerts_fire(stack):
    status, text = http_get(stack.prom_url + "/api/v1/rules")
    groups = json.loads(text)["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert len(rules) == 10
    wait_for("every rule evaluated", lambda: all(r.get("lastEvaluation", "").startswith("2") for r in
             (x for g in json.loads(http_get(stack.prom_url + "/api/v1/rules")[1])["data"]["groups"] for x in g["rules"])))
    rules = [r for g in json.loads(http_get(stack.prom_url + "/api/v1/rules")[1])["data"]["groups"] for r in g["rules"]]
    assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []

    def firing():
        alerts = json.loads(http_get(stack.prom_url + "/api/v1/alerts")[1])["data"]["alerts"]
        names = {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}
        return names if {"VramgateConfigReloadFailing", "VramgateCertificateReloadFailing"} <= names else None

    names = wait_for("reload alerts firing", firing, timeout=15)
    assert "VramgateWebhookDown" not in names


def test_spend_and_decisions_add_up(stack):
    require_admission(stack)

    def value(expr):
        r = stack.query(expr)["result"]
        assert r, f"no data for {expr}"
        return float(r[0]["value"][1])

    assert value("sum(vramgate_admitted_jobs_total)") == stack.metric("vramgate_admitted_jobs_total") > 0
    assert value("sum(vramgate_admitted_cost_usd_total)") > 0
    assert value("sum(vramgate_admitted_gpu_seconds_total)") > 0
    # Dry runs are not admissions: the admitted count is what the non-dry-run allowed reviews say.
    admitted = sum(1 for case, _, _, v in stack.results if isinstance(v["body"], dict)
                   and v["body"]["response"].get("allowed") and not case.body["request"]["dryRun"]
                   and case.body["request"]["object"]["metadata"].get("annotations"))
    assert stack.metric("vramgate_admitted_jobs_total") <= admitted
    assert value('sum(vramgate_reviews_total{endpoint="validate", decision="deny"})') >= 2
    assert value('sum(vramgate_review_errors_total{code="400"})') == stack.errors_sent
    assert value('sum(vramgate_config_reloads_total{result="failure"})') == 1
    assert value('sum(vramgate_certificate_reloads_total{result="failure"})') == 1


def test_dashboard_variables_list_the_jobs_namespaces(stack):
    require_admission(stack)
    for v in chartlib.dashboard()["templating"]["list"]:
        if v["type"] != "query":
            continue
        m = re.fullmatch(r"label_values\((.+), (\w+)\)", v["definition"])
        match = chartlib.substitute_grafana(m.group(1))
        url = f"{stack.prom_url}/api/v1/label/{m.group(2)}/values?" + urllib.parse.urlencode({"match[]": match})
        values = set(json.loads(http_get(url)[1])["data"])
        if v["name"] == "namespace":
            assert {"ml-team", "research"} <= values, values
            assert NAMESPACE not in values, "honor_labels keeps the jobs' namespaces"
        else:
            assert values, v["name"]


def test_cluster_inventory_counts_the_fake_clusters_gpus(stack):
    """vramgate_cluster_* against the nodes and pods the fake API server holds. The captured
    fixtures may add nodes of the same types, so the test's own types are checked as lower
    bounds and its unknown product exactly."""
    st = stack
    for product, nodes, gpus in ((H100, 3, 24), (A100, 2, 16)):
        gpu = CATALOG_NAME[product]
        assert sum(st.series("vramgate_cluster_nodes", gpu=gpu)) >= nodes, gpu
        assert sum(st.series("vramgate_cluster_gpus", gpu=gpu)) >= gpus, gpu
    assert st.series("vramgate_cluster_unknown_gpu_products", product=UNKNOWN_PRODUCT) == [1.0]
    assert st.series("vramgate_cluster_nodes", gpu=UNKNOWN_PRODUCT) == [1.0], "an unknown product keeps its raw label"
    assert st.series("vramgate_cluster_gpus", gpu=UNKNOWN_PRODUCT) == [4.0]
    # Allocation: every non-terminated pod bound to a node (admitted or not); not the Succeeded
    # pod, not the Pending one.
    assert st.series("vramgate_cluster_gpus_allocated", gpu=UNKNOWN_PRODUCT) == [2.0]
    ours = {}
    for p in st.cluster.pods:
        node = p["spec"].get("nodeName")
        if node and p["status"]["phase"] not in ("Succeeded", "Failed") and st.cluster.product[node] in CATALOG_NAME:
            gpu = CATALOG_NAME[st.cluster.product[node]]
            ours[gpu] = ours.get(gpu, 0) + pod_gpus(p["spec"])
    for gpu, n in ours.items():
        assert sum(st.series("vramgate_cluster_gpus_allocated", gpu=gpu)) >= n, gpu
    assert st.series("vramgate_cluster_watch_up", resource="nodes") == [1.0]
    assert st.series("vramgate_cluster_watch_up", resource="pods") == [1.0]
    assert st.series("vramgate_cluster_watch_up", resource="pytorchjobs.kubeflow.org") == [1.0]
    # A CRD that is not installed is not a failing watch (VramgateClusterWatchFailing would page
    # forever on every cluster without Volcano).
    for group in NOT_INSTALLED:
        for r in WORKLOAD_CRDS:
            if r.group == group:
                assert 0.0 not in st.series("vramgate_cluster_watch_up", resource=r.key), r.key
    assert st.series("vramgate_inventory_stale_seconds") == [0.0]
    (synced,) = st.series("vramgate_inventory_last_sync_timestamp_seconds")
    assert abs(synced - time.time()) < 3600, synced


def test_live_cost_counts_running_pods_of_admitted_workloads(stack):
    st = stack
    want = st.cluster.running_gpus()
    got = {}
    for line in st.metrics_text().splitlines():
        m = re.match(r'^vramgate_running_gpus\{(.*)\} (\S+)$', line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            if float(m.group(2)):
                got[(labels["namespace"], labels["team"], labels["gpu"])] = float(m.group(2))
    assert got == {k: float(v) for k, v in want.items()}, "bystanders, finished and pending pods hold no admitted GPUs"
    # Issue 15: the Deployment's pods, found through their ReplicaSet's name, are the serving share.
    serving = {}
    for line in st.metrics_text().splitlines():
        m = re.match(r'^vramgate_serving_running_gpus\{(.*)\} (\S+)$', line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            serving[(labels["namespace"], labels["gpu"])] = float(m.group(2))
    want_serving: dict[tuple[str, str], float] = {}
    for (ns, team, gpu), n in want.items():
        if team == "serving":
            want_serving[(ns, gpu)] = want_serving.get((ns, gpu), 0.0) + n
    assert want_serving and serving == want_serving, (serving, want_serving)
    # Cost per hour: GPUs held x the $/GPU-hour the job was admitted at (its output annotations).
    for w in st.cluster.workloads:
        a = w["metadata"]["annotations"]
        try:
            price = float(a["vramgate.io/estimated-cost-usd"]) / float(a["vramgate.io/estimated-gpu-hours"])
        except (KeyError, ValueError, ZeroDivisionError):
            continue
        ns, team = w["metadata"]["namespace"], w["metadata"]["labels"]["team"]
        for (kns, kteam, gpu), n in want.items():
            if (kns, kteam) == (ns, team):
                (rate,) = st.series("vramgate_running_cost_usd_per_hour", namespace=ns, team=team, gpu=gpu)
                assert rate == pytest.approx(n * price, rel=1e-6), (ns, team, gpu)
                assert st.series("vramgate_running_cost_usd_total", namespace=ns, team=team, gpu=gpu)[0] > 0


def test_readyz_stays_ready_while_the_inventory_is_stale(stack):
    """With the node watch broken, readiness must not fail: under failurePolicy Fail an unready
    webhook would block every annotated submission in the cluster."""
    o = stack.outage
    assert "error" not in o, o.get("error")
    assert o["stale_seconds"] > 0
    status, body = o["readyz"]
    assert status == 200, body
    assert "inventory" in body.lower(), f"/readyz says nothing about the inventory: {body!r}"
    assert o["validate_status"] == 200, o["validate_body"]
    status, body = http_get(stack.metrics_url + "/readyz")
    assert status == 200 and "inventory" in body.lower(), body


def test_the_inventory_recovers_without_waiting_for_a_node_change(stack):
    """After the node watch failed and the API server is back, the inventory is current again
    (watch up, staleness 0) although no Node changed: a quiet cluster sends only bookmarks, and
    kube-runtime's watcher yields no event for them, so health must come from the restarted
    watch itself (e.g. a fresh list after an error), not from the next change."""
    assert stack.outage.get("recovered") is True, stack.outage.get("recovered")


def test_the_binary_uses_only_what_the_cluster_role_grants(stack):
    """Every request the binary made to the API server, as RBAC sees it (verb, group, resource),
    is granted by the rendered ClusterRole; it never writes, and it listed and watched Nodes and
    Pods."""
    role = find(stack.objs, "ClusterRole")
    granted = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
               for v in rule["verbs"]}
    reqs = list(stack.fake.requests)
    assert reqs, "the binary never called the API server"
    assert {q.method for q in reqs} == {"GET"}, [f"{q.method} {q.path}" for q in reqs if q.method != "GET"]
    used = set()
    for q in reqs:
        if q.resource is None:
            assert q.path in ("/version", "/api", "/apis", "/api/v1") or q.path.startswith("/apis/"), q.path
            continue
        used.add((q.resource.group, q.resource.plural, q.verb))
    assert used - granted == set(), f"requests the ClusterRole does not allow: {sorted(used - granted)}"
    for res in ("nodes", "pods"):
        assert ("", res, "watch") in used, f"the binary never watched {res}"


def openmetrics_to_text(om: str) -> str:
    """The same samples in the classic text exposition (0.0.4) that promtool check metrics
    reads: OpenMetrics names a counter family without its `_total` suffix and adds `# UNIT`
    and `# EOF` lines, which the classic parser reads as an untyped family without help."""
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", om, flags=re.M))
    assert set(types.values()) <= {"counter", "gauge", "histogram"}, types
    out = []
    for line in om.splitlines():
        if line == "# EOF" or line.startswith("# UNIT "):
            continue
        m = re.match(r"^# (HELP|TYPE) (\S+)(.*)$", line)
        if m and types.get(m.group(2)) == "counter":
            line = f"# {m.group(1)} {m.group(2)}_total{m.group(3)}"
        assert " # {" not in line, "exemplars are not expected"
        out.append(line)
    return "\n".join(out) + "\n"


# promlint finds nothing: every metric is in base units (GPU time in GPU-seconds).
ACCEPTED_LINT: set = set()


def test_promtool_check_metrics(stack, promtool):
    om = stack.metrics_text()
    assert om.rstrip().endswith("# EOF")
    text = openmetrics_to_text(om)
    samples = lambda t: sorted(l for l in t.splitlines() if l and not l.startswith("#"))  # noqa: E731
    assert samples(text) == samples(om)
    r = run([promtool, "check", "metrics"], input=text)
    findings = {l.strip() for l in (r.stdout + r.stderr).splitlines() if l.strip()}
    assert findings - ACCEPTED_LINT == set(), r.stdout + r.stderr
    assert r.returncode == (3 if findings else 0), r


def test_sigterm_drains_and_exits_cleanly(stack):
    stack.server.send_signal(signal.SIGTERM)
    assert stack.server.wait(timeout=20) == 0, stack.server_log.read_text()[-3000:]
