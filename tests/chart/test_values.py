"""values.schema.json rejects bad values (Helm itself validates them, at render and lint), and
values.yaml and the README document every key."""

from __future__ import annotations

import re

import helm_python
import pytest
import yaml

import chartlib
from chartlib import OPTIONS

BAD = {
    "negative replicas": ({"replicaCount": -1}, "/replicaCount"),
    "zero replicas": ({"replicaCount": 0}, "/replicaCount"),
    "replicas as text": ({"replicaCount": "two"}, "/replicaCount"),
    "failurePolicy Sometimes": ({"webhook": {"validating": {"failurePolicy": "Sometimes"}}},
                                "/webhook/validating/failurePolicy"),
    "mutating failurePolicy fail": ({"webhook": {"mutating": {"failurePolicy": "fail"}}},
                                    "/webhook/mutating/failurePolicy"),
    "unknown top-level key": ({"replicas": 3}, "additional properties 'replicas'"),
    "unknown nested key": ({"webhook": {"timeout": 5}}, "additional properties 'timeout'"),
    "timeout above the API's 30 s": ({"webhook": {"timeoutSeconds": 31}}, "/webhook/timeoutSeconds"),
    "timeout zero": ({"webhook": {"timeoutSeconds": 0}}, "/webhook/timeoutSeconds"),
    "tls mode": ({"tls": {"mode": "none"}}, "/tls/mode"),
    "issuerRef without name": ({"tls": {"certManager": {"issuerRef": {"kind": "ClusterIssuer"}}}},
                               "/tls/certManager/issuerRef"),
    "issuer kind": ({"tls": {"certManager": {"issuerRef": {"kind": "Vault", "name": "x"}}}},
                    "/tls/certManager/issuerRef/kind"),
    "policy mode": ({"config": {"policy": {"mode": "block"}}}, "/config/policy/mode"),
    "misspelt policy key": ({"config": {"policy": {"max_cost": 100}}}, "additional properties 'max_cost'"),
    "camelCase config key": ({"config": {"policy": {"maxCostUsd": 100}}}, "additional properties 'maxCostUsd'"),
    "negative cost limit": ({"config": {"policy": {"max_cost_usd": -5}}}, "/config/policy/max_cost_usd"),
    "overprovision factor 1": ({"config": {"policy": {"overprovision_factor": 1}}},
                               "/config/policy/overprovision_factor"),
    "namespace not a DNS label": ({"config": {"namespaces": {"Research_Team": {"mode": "warn"}}}}, "Research_Team"),
    "namespace override unknown key": ({"config": {"namespaces": {"research": {"budget": 5}}}},
                                       "additional properties 'budget'"),
    "gpu entry missing memory": ({"config": {"gpus": [{"name": "X1", "dense_bf16_flops": 1, "dense_fp16_flops": 1,
                                                       "dense_fp32_flops": 1, "bf16_supported": True,
                                                       "usd_per_hour": 1}]}}, "memory_bytes"),
    "max_gpus zero": ({"config": {"max_gpus": 0}}, "/config/max_gpus"),
    "image digest": ({"image": {"digest": "latest"}}, "/image/digest"),
    "pull policy": ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    "port out of range": ({"service": {"port": 70000}}, "/service/port"),
    "spread policy": ({"topologySpread": {"whenUnsatisfiable": "Maybe"}}, "/topologySpread/whenUnsatisfiable"),
    "reload interval zero": ({"reloadIntervalSeconds": 0}, "/reloadIntervalSeconds"),
    "excluded namespace": ({"webhook": {"excludeNamespaces": ["Not A Namespace"]}}, "/webhook/excludeNamespaces/0"),
    "scrape interval": ({"serviceMonitor": {"interval": "often"}}, "/serviceMonitor/interval"),
    "denial ratio above 1": ({"prometheusRule": {"denialRatioThreshold": 1.5}}, "/prometheusRule/denialRatioThreshold"),
    "config source": ({"config": {"source": "api"}}, "/config/source"),
    "gpu_choice": ({"config": {"policy": {"gpu_choice": "fastest"}}}, "/config/policy/gpu_choice"),
    "namespace gpu_choice": ({"config": {"namespaces": {"research": {"gpu_choice": "biggest"}}}}, "gpu_choice"),
    "update policy": ({"config": {"policy": {"update": "never"}}}, "/config/policy/update"),
    "namespace update policy": ({"config": {"namespaces": {"research": {"update": "loose"}}}}, "update"),
    "ui not a bool": ({"ui": {"enabled": "yes"}}, "/ui/enabled"),
    "exemption namespace": ({"config": {"policy": {"exemptions": {"namespaces": ["Team A"]}}}},
                            "/config/policy/exemptions/namespaces/0"),
    "exemptions in a namespace": ({"config": {"namespaces": {"a": {"exemptions": {"namespaces": ["a"]}}}}},
                                  "additional properties 'exemptions'"),
    "cluster section in config": ({"config": {"cluster": {"team_label": "team"}}}, "additional properties 'cluster'"),
    "cluster enabled as text": ({"cluster": {"enabled": "yes"}}, "/cluster/enabled"),
    "team label not a label key": ({"cluster": {"teamLabel": "my team"}}, "/cluster/teamLabel"),
    "stale seconds zero": ({"cluster": {"inventoryMaxStaleSeconds": 0}}, "/cluster/inventoryMaxStaleSeconds"),
    "enforce inventory not a bool": ({"cluster": {"enforceInventory": "no"}}, "/cluster/enforceInventory"),
    "unknown cluster key": ({"cluster": {"teamlabel": "team"}}, "additional properties 'teamlabel'"),
    "api server port": ({"networkPolicy": {"apiServer": {"ports": [0]}}}, "/networkPolicy/apiServer/ports/0"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_schema_rejects_bad_values(chart, case):
    values, where = BAD[case]
    with pytest.raises(helm_python.HelmValuesError) as err:
        chart.validate_schema(values)
    assert where in str(err.value), str(err.value)
    # Rendering (helm install/template) refuses them too.
    with pytest.raises(helm_python.HelmError):
        chart.render(values, name=chartlib.RELEASE, namespace=chartlib.NAMESPACE)


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_schema_accepts_every_documented_option(chart, option):
    chart.validate_schema(OPTIONS[option])


def test_schema_accepts_the_defaults(chart):
    chart.validate_schema(chart.values)
    chart.validate_schema({"config": {"policy": {"max_cost_usd": None}}})


def documented_keys(groups: bool = True) -> list[str]:
    """Dotted paths of the keys values.yaml must document: every key the schema describes,
    down to free-form Kubernetes objects (resources, securityContext, ...) whose inner keys
    are Kubernetes' own."""
    import json

    schema = json.loads(chartlib.CHART.joinpath("values.schema.json").read_text())
    values = yaml.safe_load(chartlib.CHART.joinpath("values.yaml").read_text())
    out = []

    def walk(v, s, prefix):
        for k, sub in v.items():
            path = f"{prefix}.{k}" if prefix else k
            child = s.get("properties", {}).get(k, {})
            group = isinstance(sub, dict) and bool(sub) and "properties" in child
            if groups or not group:
                out.append(path)
            if group:
                walk(sub, child, path)

    walk(values, schema, "")
    return out


def test_every_values_key_has_a_comment_where_it_is_defined():
    lines = chartlib.CHART.joinpath("values.yaml").read_text().splitlines()
    wanted = set(documented_keys())
    stack: list[tuple[int, str]] = []
    undocumented, seen = [], set()
    for i, line in enumerate(lines):
        m = re.match(r"^( *)([A-Za-z_][\w.-]*):", line)
        if not m:
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, m.group(2)))
        path = ".".join(k for _, k in stack)
        if path not in wanted:
            continue
        seen.add(path)
        if not lines[i - 1].strip().startswith("#"):
            undocumented.append(f"values.yaml:{i + 1}: {path}")
    assert undocumented == [], "keys without a comment above them:\n" + "\n".join(undocumented)
    assert seen == wanted


def test_readme_table_lists_every_value():
    readme = chartlib.CHART.joinpath("README.md").read_text()
    readme = readme.split("\n## Values\n", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([^`]+)` \|", readme, flags=re.M)
    keys = documented_keys(groups=False)
    missing = [k for k in keys if k not in documented]
    assert missing == [], f"README.md's values table lacks {missing}"
    unknown = [k for k in documented if k not in keys]
    assert unknown == [], f"README.md documents keys values.yaml does not have: {unknown}"


def test_schema_describes_every_key_of_values_yaml():
    import json

    schema = json.loads(chartlib.CHART.joinpath("values.schema.json").read_text())
    values = yaml.safe_load(chartlib.CHART.joinpath("values.yaml").read_text())

    def walk(v, s, path):
        assert s.get("additionalProperties") is False or "properties" not in s, path
        for k, sub in v.items():
            assert k in s.get("properties", {}), f"{path}.{k} is not in values.schema.json"
            child = s["properties"][k]
            if isinstance(sub, dict) and child.get("additionalProperties") is False:
                walk(sub, child, f"{path}.{k}")

    walk(values, schema, "")
