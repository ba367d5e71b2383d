"""The cluster that the live binary of test_prometheus.py watches through the fake API server
(fake_apiserver.py): GPU nodes as GPU Feature Discovery labels them, pods bound to them, and the
workloads the webhook admitted, run as their controllers would run them.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import chartlib
from admission_reviews import A100, H100, pod_spec

if TYPE_CHECKING:
    from live_stack import Stack

# A GPU Feature Discovery product the catalog does not know: counted under its raw label.
UNKNOWN_PRODUCT = "Acme-Tensor-X1-48GB"
# The catalog names of H100 and A100 (`vramgate catalog`).
CATALOG_NAME = {H100: "H100-80GB", A100: "A100-80GB"}
# CRDs the fake cluster does not have: their API paths answer 404.
NOT_INSTALLED = ("batch.volcano.sh", "leaderworkerset.x-k8s.io")
# Captured Node, Pod and workload objects of real clusters, served as they are (when present).
CLUSTER_FIXTURES = chartlib.REPO / "tests" / "fixtures" / "cluster"


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
