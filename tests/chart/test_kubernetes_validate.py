"""Every rendered object against the Kubernetes API schemas (kubernetes-validate, strict: unknown
fields are errors) of the oldest and newest Kubernetes the chart supports.

kubernetes-validate bundles only the built-in API groups. The custom resources the chart can
render (cert-manager's Issuer and Certificate, Prometheus Operator's ServiceMonitor and
PrometheusRule) are checked against the hand-written structural schemas below instead: the
subset of their CRDs' OpenAPI schemas the chart uses (apiVersion, kind, metadata, required
fields, enums and types), with unknown fields rejected.
"""

from __future__ import annotations

import jsonschema
import kubernetes_validate
import pytest

import chartlib
from chartlib import KUBE_NEWEST, KUBE_OLDEST, OPTIONS, render

CRD_KINDS = {
    ("cert-manager.io/v1", "Issuer"),
    ("cert-manager.io/v1", "Certificate"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}


def test_the_supported_versions_are_bundled():
    versions = kubernetes_validate.utils.all_versions()
    assert any(v.startswith(KUBE_OLDEST + ".") for v in versions), versions
    assert kubernetes_validate.utils.latest_version().startswith(KUBE_NEWEST + "."), versions
    assert chartlib.load_chart().metadata["kubeVersion"] == f">={KUBE_OLDEST}.0-0"


@pytest.mark.parametrize("version", [KUBE_OLDEST, KUBE_NEWEST])
@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_objects_validate_strictly(chart, option, version):
    checked = set()
    for obj in render(OPTIONS[option], chart=chart):
        key = (obj["apiVersion"], obj["kind"])
        if key in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} is invalid for Kubernetes {version}: "
                        f"{'.'.join(map(str, e.path))}: {e.message}")
        checked.add(obj["kind"])
    assert {"Deployment", "Service", "ConfigMap", "ValidatingWebhookConfiguration"} <= checked


def test_strict_validation_catches_a_misspelt_field():
    """The validator really is strict: a field the API does not know fails."""
    dep = [o for o in render() if o["kind"] == "Deployment"][0]
    dep["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, KUBE_NEWEST, strict=True)


# ---- custom resources --------------------------------------------------------------------------

STR = {"type": "string"}
MAP = {"type": "object", "additionalProperties": STR}
# Go/cert-manager and Prometheus durations.
GO_DURATION = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"}
PROM_DURATION = {"type": "string",
                 "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}


def obj(props, required=()):
    return {"type": "object", "additionalProperties": False, "properties": props, "required": list(required)}


def resource(api_version, kind, spec):
    metadata = obj({"name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253},
                    "namespace": STR, "labels": MAP, "annotations": MAP}, ["name", "namespace"])
    return obj({"apiVersion": {"const": api_version}, "kind": {"const": kind}, "metadata": metadata, "spec": spec},
               ["apiVersion", "kind", "metadata", "spec"])


ISSUER_REF = obj({"name": STR, "kind": STR, "group": STR}, ["name"])
CRD_SCHEMAS = {
    # cert-manager v1.x CRDs (cert-manager.io_issuers.yaml, cert-manager.io_certificates.yaml).
    "Issuer": resource("cert-manager.io/v1", "Issuer", {
        **obj({"selfSigned": obj({"crlDistributionPoints": {"type": "array", "items": STR}}),
               "ca": obj({"secretName": STR, "crlDistributionPoints": {"type": "array"}}, ["secretName"])}),
        "minProperties": 1, "maxProperties": 1}),
    "Certificate": resource("cert-manager.io/v1", "Certificate", obj({
        "secretName": STR, "commonName": {"type": "string", "maxLength": 64},
        "dnsNames": {"type": "array", "items": STR, "minItems": 1},
        "duration": GO_DURATION, "renewBefore": GO_DURATION, "isCA": {"type": "boolean"},
        "usages": {"type": "array", "items": {"enum": [
            "signing", "digital signature", "content commitment", "key encipherment", "key agreement",
            "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth",
            "client auth", "code signing", "email protection", "s/mime", "ipsec end system", "ipsec tunnel",
            "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc"]}},
        "privateKey": obj({"algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]}, "size": {"type": "integer"},
                           "encoding": {"enum": ["PKCS1", "PKCS8"]}, "rotationPolicy": {"enum": ["Never", "Always"]}}),
        "issuerRef": ISSUER_REF,
    }, ["secretName", "issuerRef"])),
    # prometheus-operator v0.x CRDs (monitoringcoreos.com_servicemonitors.yaml, _prometheusrules.yaml).
    "ServiceMonitor": resource("monitoring.coreos.com/v1", "ServiceMonitor", obj({
        "selector": obj({"matchLabels": MAP, "matchExpressions": {"type": "array"}}),
        "namespaceSelector": obj({"any": {"type": "boolean"}, "matchNames": {"type": "array", "items": STR}}),
        "jobLabel": STR,
        "endpoints": {"type": "array", "minItems": 1, "items": obj({
            "port": STR, "path": STR, "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
            "interval": PROM_DURATION, "scrapeTimeout": PROM_DURATION, "honorLabels": {"type": "boolean"}})},
    }, ["selector"])),
    "PrometheusRule": resource("monitoring.coreos.com/v1", "PrometheusRule", obj({
        "groups": {"type": "array", "minItems": 1, "items": obj({
            "name": {"type": "string", "minLength": 1}, "interval": PROM_DURATION,
            "rules": {"type": "array", "minItems": 1, "items": {
                **obj({"alert": STR, "record": STR, "expr": {"type": ["string", "integer"]}, "for": PROM_DURATION,
                       "keep_firing_for": PROM_DURATION, "labels": MAP, "annotations": MAP}, ["expr"]),
                "oneOf": [{"required": ["alert"]}, {"required": ["record"]}]}},
        }, ["name", "rules"])},
    })),
}


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_custom_resources_validate_structurally(chart, option):
    for o in render(OPTIONS[option], chart=chart):
        if (o["apiVersion"], o["kind"]) in CRD_KINDS:
            jsonschema.validate(o, CRD_SCHEMAS[o["kind"]])


def test_every_custom_resource_kind_is_rendered_by_some_option(chart):
    seen = {(o["apiVersion"], o["kind"]) for option in OPTIONS.values() for o in render(option, chart=chart)}
    assert CRD_KINDS <= seen


def test_structural_schemas_reject_broken_custom_resources(chart):
    objs = render(OPTIONS["everything"] | {"tls": {"mode": "certManager"}}, chart=chart)
    cert = next(o for o in objs if o["kind"] == "Certificate" and "dnsNames" in o["spec"])
    broken = {**cert, "spec": {k: v for k, v in cert["spec"].items() if k != "secretName"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, CRD_SCHEMAS["Certificate"])
    pr = next(o for o in objs if o["kind"] == "PrometheusRule")
    bad_for = {**pr, "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up", "for": "5 minutes"}]}]}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad_for, CRD_SCHEMAS["PrometheusRule"])
