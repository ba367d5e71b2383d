"""The chart's RBAC against the binary: the rendered ClusterRole and Role grant exactly the
(apiGroup, resource, verb) triples that `vramgate cluster rbac` says the code uses, no more and
no fewer; the Role is limited to the config ConfigMap by name; nothing is rendered when the
server does not talk to the API. (test_prometheus.py also checks every request the live binary
makes against these rules.)"""

from __future__ import annotations

import subprocess

import kubernetes_validate
import pytest
import yaml

from chartlib import KUBE_NEWEST, KUBE_OLDEST, NAMESPACE, OPTIONS, RELEASE, find, render

RBAC_KINDS = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


def triples(rules: list[dict]) -> set[tuple[str, str, str]]:
    return {(g, r, v) for rule in rules for g in rule.get("apiGroups", []) for r in rule.get("resources", [])
            for v in rule.get("verbs", [])}


@pytest.fixture(scope="module")
def binary_rbac(vramgate_bin) -> dict:
    """What the code uses: `vramgate cluster rbac` (YAML: clusterRole and configMapRole, each a
    list of PolicyRules)."""
    r = subprocess.run([str(vramgate_bin), "cluster", "rbac"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"`vramgate cluster rbac` failed ({r.returncode}): {r.stdout}{r.stderr}"
    doc = yaml.safe_load(r.stdout)
    assert isinstance(doc, dict) and set(doc) == {"clusterRole", "configMapRole", "policyReportsRole"}, r.stdout
    for key in doc:
        assert triples(doc[key]), f"{key} is empty: {r.stdout}"
    return doc


def rbac_objects(objs: list[dict]) -> dict[str, dict]:
    return {o["kind"]: o for o in objs if o["kind"] in RBAC_KINDS}


def test_cluster_role_is_exactly_what_the_binary_uses(chart, binary_rbac):
    objs = render(chart=chart)
    role = find(objs, "ClusterRole")
    got, want = triples(role["rules"]), triples(binary_rbac["clusterRole"])
    assert got == want, f"the chart grants {sorted(got - want)} the code does not use, " \
                        f"and lacks {sorted(want - got)} the code needs"
    assert {v for _, _, v in got} <= {"get", "list", "watch"}, "read-only"
    assert all("resourceNames" not in r and "nonResourceURLs" not in r for r in role["rules"])


def test_policy_reports_add_exactly_their_rule_and_the_config_key(chart, binary_rbac):
    objs = render({"audit": {"policyReports": {"enabled": True}}}, chart=chart)
    role = find(objs, "ClusterRole")
    want = triples(binary_rbac["clusterRole"]) | triples(binary_rbac["policyReportsRole"])
    assert triples(role["rules"]) == want
    writes = {(g, r, v) for g, r, v in triples(role["rules"]) if v not in ("get", "list", "watch")}
    assert writes == {("wgpolicyk8s.io", "policyreports", v) for v in ("create", "update", "patch")}
    config = yaml.safe_load(find(objs, "ConfigMap", RELEASE)["data"]["config.yaml"])
    assert config["audit"] == {"interval_seconds": 600, "policy_reports": True}


def test_config_map_role_is_exactly_what_the_binary_uses_for_one_name(chart, binary_rbac):
    objs = render(OPTIONS["config-map-only"], chart=chart)
    role = find(objs, "Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    got, want = triples(role["rules"]), triples(binary_rbac["configMapRole"])
    assert got == want, (sorted(got), sorted(want))
    cm_name = find(objs, "ConfigMap", RELEASE)["metadata"]["name"]
    for rule in role["rules"]:
        assert rule["resourceNames"] == [cm_name], rule
    # The flag points at that ConfigMap, in the Role's namespace.
    args = find(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--config-map") + 1] == f"{NAMESPACE}/{cm_name}"
    assert "ClusterRole" not in rbac_objects(objs), "cluster.enabled=false: no ClusterRole"


@pytest.mark.parametrize("option", ["defaults", "config-map", "config-map-only"])
def test_bindings_give_the_roles_to_the_pods_service_account(chart, option):
    objs = render(OPTIONS[option] | {"serviceAccount": {"name": "gate-sa"}}, chart=chart)
    sa = find(objs, "ServiceAccount")["metadata"]["name"]
    assert sa == "gate-sa"
    assert find(objs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == sa
    rbac = rbac_objects(objs)
    pairs = [("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")]
    assert any(b in rbac for b, _ in pairs)
    for binding, role in pairs:
        if binding not in rbac:
            assert role not in rbac
            continue
        b = rbac[binding]
        assert b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": role,
                                "name": rbac[role]["metadata"]["name"]}
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}]
        if binding == "RoleBinding":
            assert b["metadata"]["namespace"] == rbac[role]["metadata"]["namespace"] == NAMESPACE


def test_no_rbac_and_no_token_without_api_access(chart):
    objs = render(OPTIONS["no-cluster"], chart=chart)
    assert rbac_objects(objs) == {}
    assert find(objs, "Deployment")["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


@pytest.mark.parametrize("version", [KUBE_OLDEST, KUBE_NEWEST])
@pytest.mark.parametrize("option", ["defaults", "config-map", "everything"])
def test_rbac_objects_validate_strictly(chart, option, version):
    objs = rbac_objects(render(OPTIONS[option], chart=chart))
    assert objs
    for o in objs.values():
        kubernetes_validate.validate(o, version, strict=True)


def test_cluster_role_names_do_not_collide_across_releases(chart):
    a = find(render(chart=chart, name="vramgate"), "ClusterRole")["metadata"]["name"]
    b = find(render(chart=chart, name="gate-b"), "ClusterRole")["metadata"]["name"]
    assert a != b
