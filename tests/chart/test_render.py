"""The chart rendered by the real Helm engine (helm-python-sdk): lint, every option, and what
each object must say."""

from __future__ import annotations

import base64
import json
import subprocess

import helm_python
import pytest
import yaml

import chartlib
from chartlib import NAMESPACE, OPTIONS, RELEASE, find, render

SUPPORTED_RULES = {
    ("", "v1", "pods"),
    ("batch", "v1", "jobs"),
    ("kubeflow.org", "v1", "pytorchjobs"),
    ("kubeflow.org", "v2beta1", "mpijobs"),
    ("jobset.x-k8s.io", "v1alpha2", "jobsets"),
    ("ray.io", "v1", "rayjobs"),
    ("ray.io", "v1", "rayclusters"),
    ("batch.volcano.sh", "v1alpha1", "jobs"),
    ("leaderworkerset.x-k8s.io", "v1", "leaderworkersets"),
    # The /scale subresources vramgate judges (issue 12 item 7): kubectl scale and HPAs.
    ("kubeflow.org", "v1", "pytorchjobs/scale"),
    ("leaderworkerset.x-k8s.io", "v1", "leaderworkersets/scale"),
    # Inference servers (issue 15).
    ("apps", "v1", "deployments"),
    ("apps", "v1", "statefulsets"),
    ("serving.kserve.io", "v1beta1", "inferenceservices"),
}
# A Scale has no annotations of its own: /scale requests are always sent.
ANNOTATED = ("request.subResource == 'scale' || (has(object.metadata.annotations) && "
             "object.metadata.annotations.exists(k, k.startsWith('vramgate.io/')))")


def webhooks(objs):
    out = []
    for o in objs:
        if o["kind"] in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            out.extend((o, w) for w in o["webhooks"])
    return out


def container(objs):
    dep = find(objs, "Deployment")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    return c


# ---- lint ----------------------------------------------------------------------------------


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_helm_lint_strict_passes(option):
    report = helm_python.lint(str(chartlib.CHART), OPTIONS[option], strict=True, namespace=NAMESPACE,
                              kube_version="v1.30.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


# ---- every option renders --------------------------------------------------------------------


EXPECTED_KINDS = {
    "defaults": {"ServiceAccount", "ConfigMap", "Service", "Deployment", "PodDisruptionBudget",
                 "ValidatingWebhookConfiguration", "Issuer", "Certificate"},
    "tls-helm": {"ServiceAccount", "ConfigMap", "Service", "Deployment", "PodDisruptionBudget",
                 "ValidatingWebhookConfiguration", "Secret"},
    "mutating": {"MutatingWebhookConfiguration"},
    "servicemonitor": {"ServiceMonitor"},
    "prometheusrule": {"PrometheusRule"},
    "networkpolicy": {"NetworkPolicy"},
    "config-map": {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"},
    "config-map-only": {"Role", "RoleBinding"},
}
RBAC_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
CLUSTER_SCOPED = {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "ClusterRole", "ClusterRoleBinding"}


def needs_api(values: dict) -> tuple[bool, bool]:
    """(cluster watches, config ConfigMap watch) that `values` switch on."""
    cluster = values.get("cluster", {}).get("enabled", True)
    config_map = values.get("config", {}).get("source", "file") == "configMap"
    return cluster, config_map


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_each_option_renders_its_objects(chart, option):
    objs = render(OPTIONS[option], chart=chart)
    kinds = {o["kind"] for o in objs}
    assert EXPECTED_KINDS.get(option, set()) <= kinds, kinds
    # RBAC only for the API access a feature needs (test_rbac.py checks the rules).
    cluster, config_map = needs_api(OPTIONS[option])
    want = ({"ClusterRole", "ClusterRoleBinding"} if cluster else set()) | ({"Role", "RoleBinding"} if config_map else set())
    assert kinds & RBAC_KINDS == want, kinds
    for o in objs:
        assert o["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE
        if o["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in o["metadata"], o["kind"]
        else:
            assert o["metadata"]["namespace"] == NAMESPACE, o["kind"]


def test_defaults_render_no_optional_monitoring_objects(default_objs):
    kinds = {o["kind"] for o in default_objs}
    assert not kinds & {"ServiceMonitor", "PrometheusRule", "NetworkPolicy", "MutatingWebhookConfiguration", "Secret"}


# ---- Deployment ------------------------------------------------------------------------------


def test_deployment_is_ha_and_hardened(default_objs):
    dep = find(default_objs, "Deployment")
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    # The default (cluster.enabled) watches the API: the pod mounts a token, the ServiceAccount
    # itself does not (test_service_account_token_only_where_the_api_is_used).
    assert pod["automountServiceAccountToken"] is True
    assert pod["serviceAccountName"] == find(default_objs, "ServiceAccount")["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (tsc,) = pod["topologySpreadConstraints"]
    assert tsc["topologyKey"] == "kubernetes.io/hostname" and tsc["maxSkew"] == 1
    assert tsc["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]

    c = container(default_objs)
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["runAsNonRoot"] is True
    assert sc["privileged"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    for kind in ("requests", "limits"):
        assert set(c["resources"][kind]) == {"cpu", "memory"}, kind


def test_pod_meets_the_restricted_pod_security_standard(default_objs):
    """The checks of https://kubernetes.io/docs/concepts/security/pod-security-standards/
    (baseline and restricted) that a pod spec can fail."""
    pod = find(default_objs, "Deployment")["spec"]["template"]["spec"]
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(key)
    allowed_volumes = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                       "projected", "secret"}
    for v in pod["volumes"]:
        assert set(v) - {"name"} <= allowed_volumes, v
    psc = pod.get("securityContext", {})
    for c in pod["containers"]:
        sc = c["securityContext"]
        assert sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True
        assert sc.get("runAsUser", psc.get("runAsUser")) != 0
        assert sc["allowPrivilegeEscalation"] is False
        assert (sc.get("seccompProfile") or psc.get("seccompProfile"))["type"] in ("RuntimeDefault", "Localhost")
        assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add")
        assert not sc.get("privileged")
        assert all("hostPort" not in p for p in c["ports"])


def test_probes_use_the_plain_http_port(default_objs):
    c = container(default_objs)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"https": 8443, "http-metrics": 8080}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http-metrics", "scheme": "HTTP"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics", "scheme": "HTTP"}


def test_container_arguments_match_the_mounted_files_and_ports(default_objs):
    c = container(default_objs)
    assert c["command"] == ["/usr/local/bin/vramgate"]
    args = c["args"]
    assert args[0] == "serve"
    assert args[-1] == "--cluster", "cluster.enabled (the default) watches the cluster"
    flags = dict(zip(args[1:-1:2], args[2:-1:2]))
    assert flags == {
        "--config": "/etc/vramgate/config.yaml",
        "--tls-cert": "/etc/vramgate/tls/tls.crt",
        "--tls-key": "/etc/vramgate/tls/tls.key",
        "--listen": "0.0.0.0:8443",
        "--metrics-listen": "0.0.0.0:8080",
        "--reload-interval": "10",
    }
    (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == "/etc/vramgate"]
    assert mount["readOnly"] is True and "subPath" not in mount, "subPath mounts never see updates"
    pod = find(default_objs, "Deployment")["spec"]["template"]["spec"]
    (vol,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    paths = {}
    for src in vol["projected"]["sources"]:
        ((kind, ref),) = src.items()
        for item in ref["items"]:
            paths["/etc/vramgate/" + item["path"]] = (kind, ref["name"], item["key"])
    assert paths == {
        "/etc/vramgate/config.yaml": ("configMap", RELEASE, "config.yaml"),
        "/etc/vramgate/tls/tls.crt": ("secret", f"{RELEASE}-tls", "tls.crt"),
        "/etc/vramgate/tls/tls.key": ("secret", f"{RELEASE}-tls", "tls.key"),
    }
    assert vol["projected"]["defaultMode"] == 0o440


def test_config_source_config_map_watches_instead_of_mounting(chart):
    objs = render(OPTIONS["config-map"], chart=chart)
    c = container(objs)
    args = c["args"]
    assert "--config" not in args
    assert args[args.index("--config-map") + 1] == f"{NAMESPACE}/{RELEASE}"
    assert find(objs, "ConfigMap", RELEASE)["data"]["config.yaml"], "the ConfigMap is still the source"
    pod = find(objs, "Deployment")["spec"]["template"]["spec"]
    (vol,) = [v for v in pod["volumes"] if v["name"] == "etc-vramgate"]
    assert [list(s) for s in vol["projected"]["sources"]] == [["secret"]], "config.yaml is not mounted"
    # The flag names the release's namespace and the ConfigMap's (full) name.
    objs = render({"config": {"source": "configMap"}, "fullnameOverride": "gate"}, chart=chart, namespace="gpu-admission")
    args = container(objs)["args"]
    assert args[args.index("--config-map") + 1] == "gpu-admission/gate"
    find(objs, "ConfigMap", "gate")


def test_cluster_flag_and_config_section_follow_cluster_values(chart):
    objs = render(
        {"cluster": {"teamLabel": "example.com/team", "inventoryMaxStaleSeconds": 120, "enforceInventory": False}},
        chart=chart,
    )
    assert container(objs)["args"].count("--cluster") == 1
    assert rendered_config(objs)["cluster"] == {
        "team_label": "example.com/team",
        "inventory_max_stale_seconds": 120,
        "enforce_inventory": False,
    }
    assert "source" not in rendered_config(objs), "config.source says how the file is read; it is not in it"
    objs = render(OPTIONS["no-cluster"], chart=chart)
    assert "--cluster" not in container(objs)["args"]
    assert "cluster" not in rendered_config(objs)


def test_the_calculator_page_is_served_unless_ui_enabled_is_false(chart, default_objs):
    assert "--no-ui" not in container(default_objs)["args"], "on by default"
    assert container(render(OPTIONS["no-ui"], chart=chart))["args"].count("--no-ui") == 1


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_service_account_token_only_where_the_api_is_used(chart, option):
    objs = render(OPTIONS[option], chart=chart)
    pod = find(objs, "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is any(needs_api(OPTIONS[option]))
    assert find(objs, "ServiceAccount")["automountServiceAccountToken"] is False


def test_values_change_the_arguments(chart):
    objs = render({"service": {"targetPort": 9443}, "metrics": {"port": 9090}, "reloadIntervalSeconds": 3,
                   "extraArgs": ["--verbose"]}, chart=chart)
    args = container(objs)["args"]
    assert args[args.index("--listen") + 1] == "0.0.0.0:9443"
    assert args[args.index("--metrics-listen") + 1] == "0.0.0.0:9090"
    assert args[args.index("--reload-interval") + 1] == "3"
    assert args[-1] == "--verbose"
    svc = find(objs, "Service")
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == {"https": 443, "http-metrics": 9090}


def test_image_tag_defaults_to_app_version_and_digest_pins(chart):
    assert container(render(chart=chart))["image"] == f"ghcr.io/vramgate/vramgate:{chart.metadata['appVersion']}"
    digest = "sha256:" + "a" * 64
    assert container(render({"image": {"digest": digest}}, chart=chart))["image"] == f"ghcr.io/vramgate/vramgate@{digest}"


def test_pdb_keeps_one_pod_and_is_skipped_for_a_single_replica(chart, default_objs):
    pdb = find(default_objs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == find(default_objs, "Deployment")["spec"]["selector"]["matchLabels"]
    assert "PodDisruptionBudget" not in {o["kind"] for o in render({"replicaCount": 1}, chart=chart)}


def test_service_account_has_no_token(default_objs, chart):
    sa = find(default_objs, "ServiceAccount")
    assert sa["automountServiceAccountToken"] is False
    pod = find(render(OPTIONS["no-cluster"], chart=chart), "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False, "no API access, no token"


def test_service_routes_to_named_container_ports(default_objs):
    svc = find(default_objs, "Service")
    assert svc["spec"]["selector"] == find(default_objs, "Deployment")["spec"]["selector"]["matchLabels"]
    assert {p["name"]: (p["port"], p["targetPort"]) for p in svc["spec"]["ports"]} == {
        "https": (443, "https"),
        "http-metrics": (8080, "http-metrics"),
    }


# ---- ConfigMap -------------------------------------------------------------------------------


def rendered_config(objs) -> dict:
    cm = find(objs, "ConfigMap", RELEASE)
    return yaml.safe_load(cm["data"]["config.yaml"])


def test_configmap_mirrors_the_config_values(chart, default_objs):
    cfg = rendered_config(default_objs)
    assert cfg["policy"]["mode"] == "enforce"
    assert cfg["resources"] == {"gpu": ["nvidia.com/gpu"], "mig_prefix": "nvidia.com/mig-"}
    assert cfg["max_gpus"] == 1024
    cfg = rendered_config(render(OPTIONS["everything"], chart=chart))
    assert cfg["namespaces"]["research"] == {"mode": "warn", "max_cost_usd": 5000}
    assert cfg["namespaces"]["big"] == {"max_cost_usd": None}, "a namespace's null lifts the limit"
    assert cfg["gpus"][0]["usd_per_hour"] == 2.5


@pytest.mark.parametrize("option", ["defaults", "everything", "all-annotations", "no-cluster", "config-map-only"])
def test_rendered_config_passes_vramgate_config_check(chart, vramgate_bin, tmp_path, option):
    cm = find(render(OPTIONS[option], chart=chart), "ConfigMap", RELEASE)
    path = tmp_path / "config.yaml"
    path.write_text(cm["data"]["config.yaml"])
    r = subprocess.run([str(vramgate_bin), "config", "check", "--config", str(path)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def test_config_check_rejects_what_the_schema_cannot_know(chart, vramgate_bin, tmp_path):
    # The chart's schema cannot know the GPU catalog; the binary can.
    cm = find(render({"config": {"policy": {"default_gpu": "B9000-1TB"}}}, chart=chart), "ConfigMap", RELEASE)
    path = tmp_path / "config.yaml"
    path.write_text(cm["data"]["config.yaml"])
    r = subprocess.run([str(vramgate_bin), "config", "check", "--config", str(path)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "policy.default_gpu" in r.stdout + r.stderr


# ---- webhooks --------------------------------------------------------------------------------


def test_validating_webhook_fields_exact(default_objs):
    ((cfg, w),) = webhooks(default_objs)
    assert cfg["kind"] == "ValidatingWebhookConfiguration"
    assert w["name"] == "validate.vramgate.io"
    assert w["admissionReviewVersions"] == ["v1"]
    assert w["sideEffects"] == "None"
    assert w["timeoutSeconds"] == 5
    assert w["failurePolicy"] == "Fail"
    assert w["matchPolicy"] == "Equivalent"
    assert w["clientConfig"] == {"service": {"name": RELEASE, "namespace": NAMESPACE, "path": "/validate", "port": 443}}
    assert w["objectSelector"] == {}
    assert w["matchConditions"] == [{"name": "has-vramgate-annotation", "expression": ANNOTATED}]


def test_webhook_rules_list_exactly_the_supported_kinds(chart):
    for _, w in webhooks(render(OPTIONS["mutating"], chart=chart)):
        listed = set()
        for r in w["rules"]:
            assert r["operations"] == ["CREATE", "UPDATE"]
            assert r["scope"] == "Namespaced"
            listed |= {(g, v, res) for g in r["apiGroups"] for v in r["apiVersions"] for res in r["resources"]}
        assert listed == SUPPORTED_RULES, w["name"]


@pytest.mark.parametrize("namespace", [NAMESPACE, "gpu-admission"])
def test_namespace_selector_excludes_kube_system_and_the_release_namespace(chart, namespace):
    objs = render({"webhook": {"mutating": {"enabled": True}, "excludeNamespaces": ["sandbox"]}}, chart=chart,
                  namespace=namespace)
    ws = webhooks(objs)
    assert len(ws) == 2
    for _, w in ws:
        (expr,) = w["namespaceSelector"]["matchExpressions"]
        assert expr["key"] == "kubernetes.io/metadata.name"
        assert expr["operator"] == "NotIn"
        assert expr["values"] == ["kube-system", namespace, "sandbox"]
        assert w["clientConfig"]["service"]["namespace"] == namespace


def test_mutating_webhook_is_optional_and_calls_mutate(chart, default_objs):
    assert "MutatingWebhookConfiguration" not in {o["kind"] for o in default_objs}
    objs = render(OPTIONS["mutating"], chart=chart)
    cfg = find(objs, "MutatingWebhookConfiguration")
    (w,) = cfg["webhooks"]
    assert w["name"] == "mutate.vramgate.io"
    assert w["clientConfig"]["service"]["path"] == "/mutate"
    assert w["failurePolicy"] == "Ignore"
    assert w["reinvocationPolicy"] == "Never"
    assert (w["sideEffects"], w["timeoutSeconds"], w["matchPolicy"]) == ("None", 5, "Equivalent")
    assert w["matchConditions"][0]["expression"] == ANNOTATED


def test_failure_policy_and_timeout_come_from_values(chart):
    objs = render({"webhook": {"timeoutSeconds": 3, "validating": {"failurePolicy": "Ignore"},
                               "mutating": {"enabled": True, "failurePolicy": "Fail"}}}, chart=chart)
    got = {w["name"]: (w["failurePolicy"], w["timeoutSeconds"]) for _, w in webhooks(objs)}
    assert got == {"validate.vramgate.io": ("Ignore", 3), "mutate.vramgate.io": ("Fail", 3)}


def test_match_condition_switches_off(chart):
    for _, w in webhooks(render({"webhook": {"annotatedOnly": False, "mutating": {"enabled": True}}}, chart=chart)):
        assert "matchConditions" not in w


def test_require_annotations_needs_every_object_sent(chart):
    with pytest.raises(helm_python.HelmError, match="annotatedOnly"):
        render({"config": {"namespaces": {"research": {"require_annotations": True}}}}, chart=chart)
    render(OPTIONS["all-annotations"], chart=chart)


# ---- TLS -------------------------------------------------------------------------------------


def test_cert_manager_issues_the_serving_certificate_and_injects_its_ca(default_objs):
    certs = {c["metadata"]["name"]: c for c in default_objs if c["kind"] == "Certificate"}
    issuers = {i["metadata"]["name"]: i for i in default_objs if i["kind"] == "Issuer"}
    serving = certs[f"{RELEASE}-serving"]
    assert serving["spec"]["secretName"] == f"{RELEASE}-tls"
    assert serving["spec"]["dnsNames"] == [
        RELEASE, f"{RELEASE}.{NAMESPACE}", f"{RELEASE}.{NAMESPACE}.svc", f"{RELEASE}.{NAMESPACE}.svc.cluster.local"]
    assert serving["spec"]["privateKey"]["rotationPolicy"] == "Always"
    ca_issuer = issuers[serving["spec"]["issuerRef"]["name"]]
    assert ca_issuer["spec"]["ca"]["secretName"] == certs[f"{RELEASE}-ca"]["spec"]["secretName"]
    assert certs[f"{RELEASE}-ca"]["spec"]["isCA"] is True
    assert issuers[certs[f"{RELEASE}-ca"]["spec"]["issuerRef"]["name"]]["spec"] == {"selfSigned": {}}
    for cfg, w in webhooks(default_objs):
        assert cfg["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == f"{NAMESPACE}/{RELEASE}-serving"
        assert "caBundle" not in w["clientConfig"]


def test_cert_manager_with_an_existing_issuer(chart):
    objs = render(OPTIONS["cert-manager-issuer"], chart=chart)
    assert "Issuer" not in {o["kind"] for o in objs}
    cert = find(objs, "Certificate")
    assert cert["spec"]["issuerRef"] == {"kind": "ClusterIssuer", "name": "corp-ca"}


def test_helm_generated_ca_signs_the_secret_and_fills_the_ca_bundle(chart, tmp_path):
    objs = render(OPTIONS["everything"], chart=chart)
    secret = find(objs, "Secret")
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["name"] == f"{RELEASE}-tls"
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    assert data["tls.crt"].startswith(b"-----BEGIN CERTIFICATE-----")
    assert b"PRIVATE KEY-----" in data["tls.key"]
    bundles = {w["clientConfig"]["caBundle"] for _, w in webhooks(objs)}
    assert bundles == {secret["data"]["ca.crt"]}
    assert not any("annotations" in cfg["metadata"] for cfg, _ in webhooks(objs))
    # The CA verifies the certificate for the name the API server dials, <svc>.<ns>.svc.
    (tmp_path / "ca.crt").write_bytes(data["ca.crt"])
    (tmp_path / "tls.crt").write_bytes(data["tls.crt"])
    r = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "ca.crt"), "-verify_hostname",
                        f"{RELEASE}.{NAMESPACE}.svc", "-purpose", "sslserver", str(tmp_path / "tls.crt")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


# ---- monitoring and network ------------------------------------------------------------------


def test_service_monitor_scrapes_the_metrics_port_and_keeps_job_namespaces(chart):
    objs = render(OPTIONS["servicemonitor"], chart=chart)
    sm = find(objs, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "prometheus"
    (ep,) = sm["spec"]["endpoints"]
    assert ep["port"] == "http-metrics" and ep["path"] == "/metrics"
    assert ep["honorLabels"] is True, "admitted_* metrics carry the job's namespace label"
    assert sm["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}


def test_service_monitor_selects_the_service(chart):
    objs = render(OPTIONS["servicemonitor"], chart=chart)
    sel = find(objs, "ServiceMonitor")["spec"]["selector"]["matchLabels"]
    labels = find(objs, "Service")["metadata"]["labels"]
    assert sel.items() <= labels.items()


def test_prometheus_rule_alerts(chart):
    objs = render(OPTIONS["prometheusrule"], chart=chart)
    rules = {r["alert"]: r for g in chartlib.rules_of(objs)["groups"] for r in g["rules"]}
    assert set(rules) == {
        "VramgateWebhookDown", "VramgateReplicaDown", "VramgateWebhookErrors", "VramgateLatencyNearTimeout",
        "VramgateDenialRateSpike", "VramgateConfigReloadFailing", "VramgateCertificateReloadFailing",
        "VramgateCertificateExpiringSoon", "VramgateInventoryStale", "VramgateClusterWatchFailing"}
    for r in rules.values():
        assert r["labels"]["severity"] in ("critical", "warning")
        assert r["labels"]["team"] == "ml-platform"
        assert {"summary", "description", "runbook_url"} <= set(r["annotations"])
    # "Near the timeout" follows webhook.timeoutSeconds.
    assert rules["VramgateLatencyNearTimeout"]["expr"].rstrip().endswith("> 4")
    objs = render({"prometheusRule": {"enabled": True}, "webhook": {"timeoutSeconds": 10}}, chart=chart)
    rules = {r["alert"]: r for g in chartlib.rules_of(objs)["groups"] for r in g["rules"]}
    assert rules["VramgateLatencyNearTimeout"]["expr"].rstrip().endswith("> 8")
    assert rules["VramgateCertificateExpiringSoon"]["expr"].rstrip().endswith(f"< {14 * 86400}")
    # Staleness follows cluster.inventoryMaxStaleSeconds (the same value the server is given).
    assert rules["VramgateInventoryStale"]["expr"].rstrip().endswith("> 600")
    objs = render({"prometheusRule": {"enabled": True}, "cluster": {"inventoryMaxStaleSeconds": 900}}, chart=chart)
    rules = {r["alert"]: r for g in chartlib.rules_of(objs)["groups"] for r in g["rules"]}
    assert rules["VramgateInventoryStale"]["expr"].rstrip().endswith("> 900")
    # Without cluster awareness there is no inventory to alert on.
    objs = render({"prometheusRule": {"enabled": True}, "cluster": {"enabled": False}}, chart=chart)
    names = {r["alert"] for g in chartlib.rules_of(objs)["groups"] for r in g["rules"]}
    assert not names & {"VramgateInventoryStale", "VramgateClusterWatchFailing"} and len(names) == 8


def test_network_policy_opens_only_the_two_ports_and_no_egress(chart):
    objs = render(OPTIONS["networkpolicy"], chart=chart)
    np = find(objs, "NetworkPolicy")
    assert np["spec"]["podSelector"]["matchLabels"] == find(objs, "Deployment")["spec"]["selector"]["matchLabels"]
    assert np["spec"]["policyTypes"] == ["Ingress", "Egress"]
    # cluster.enabled (the default): egress only to the API server's ports.
    assert np["spec"]["egress"] == [{"ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]}]
    np_off = find(render({"networkPolicy": {"enabled": True}, "cluster": {"enabled": False}}, chart=chart), "NetworkPolicy")
    assert np_off["spec"]["egress"] == [], "no API access: no egress at all"
    np_cm = find(render(OPTIONS["config-map-only"], chart=chart), "NetworkPolicy")
    assert np_cm["spec"]["egress"] == np["spec"]["egress"], "the ConfigMap watch needs the API server too"
    np_all = find(render(OPTIONS["everything"], chart=chart), "NetworkPolicy")
    assert np_all["spec"]["egress"] == [{"ports": [{"port": 6443, "protocol": "TCP"}],
                                         "to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}]}]
    np_open = find(render({"networkPolicy": {"enabled": True, "denyEgress": False}}, chart=chart), "NetworkPolicy")
    assert np_open["spec"]["policyTypes"] == ["Ingress"] and "egress" not in np_open["spec"]
    webhook_rule, metrics_rule = np["spec"]["ingress"]
    assert webhook_rule == {"ports": [{"port": 8443, "protocol": "TCP"}]}
    assert metrics_rule["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert metrics_rule["from"] == OPTIONS["networkpolicy"]["networkPolicy"]["metricsFrom"]


def test_dashboard_configmap_carries_the_dashboard_for_the_grafana_sidecar(default_objs, chart):
    cm = find(default_objs, "ConfigMap", f"{RELEASE}-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["vramgate.json"]) == chartlib.dashboard()
    objs = render({"dashboard": {"namespace": "monitoring", "annotations": {"grafana_folder": "GPU"}}}, chart=chart)
    cm = find(objs, "ConfigMap", f"{RELEASE}-dashboard")
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "GPU"}
    assert f"{RELEASE}-dashboard" not in {
        o["metadata"]["name"] for o in render({"dashboard": {"enabled": False}}, chart=chart)}


def test_notes_render(chart):
    notes = chart.render({}, name=RELEASE, namespace=NAMESPACE)["vramgate/templates/NOTES.txt"]
    assert "failurePolicy Fail" in notes and "cert-manager" in notes
