"""Committed artefacts that must not drift from the chart: the plain manifests, the dashboard's
two copies, and the image's entrypoint against the Deployment's command."""

from __future__ import annotations

import difflib
import re

import chartlib
from chartlib import find


def test_plain_manifests_match_the_chart():
    want = chartlib.manifests_text()
    have = chartlib.MANIFESTS.read_text() if chartlib.MANIFESTS.exists() else ""
    if have != want:
        diff = "".join(difflib.unified_diff(have.splitlines(True), want.splitlines(True),
                                            "deploy/manifests/vramgate.yaml", "chart (default values)", n=2))
        raise AssertionError("deploy/manifests/vramgate.yaml drifted from charts/vramgate; regenerate it with "
                             "`bash scripts/chart-check.sh --update-manifests`:\n" + diff[:6000])


def test_plain_manifests_hold_no_secret_material():
    text = chartlib.MANIFESTS.read_text()
    assert "PRIVATE KEY" not in text and "kind: Secret" not in text


def test_dashboard_copies_are_identical():
    assert chartlib.CHART_DASHBOARD.read_bytes() == chartlib.DASHBOARD.read_bytes(), (
        "charts/vramgate/dashboards/vramgate.json differs from dashboards/vramgate.json: "
        "cp dashboards/vramgate.json charts/vramgate/dashboards/")


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (chartlib.REPO / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_is_multi_stage_distroless_nonroot_and_locked():
    ins = dockerfile_instructions()
    froms = [rest for word, rest in ins if word == "FROM"]
    assert len(froms) == 2
    assert froms[0].startswith("rust:") and froms[0].endswith(" AS build")
    assert froms[1] == "gcr.io/distroless/cc-debian12:nonroot"
    runs = " ".join(rest for word, rest in ins if word == "RUN")
    assert "cargo build --release --locked --bin vramgate" in runs
    final = ins[max(i for i, (w, _) in enumerate(ins) if w == "FROM"):]
    assert ("USER", "65532:65532") in final
    assert ("COPY", "--from=build /out/vramgate /usr/local/bin/vramgate") in final
    # SECURITY.md's peak-memory figures are measured with the allocator returning freed pages
    # at once, as the runtime image runs it (benches/memory.rs sets the same for its child).
    assert ("ENV", "MIMALLOC_PURGE_DELAY=0") in final


def test_image_entrypoint_is_the_deployment_command(default_objs):
    import json

    (entrypoint,) = [json.loads(rest) for word, rest in dockerfile_instructions() if word == "ENTRYPOINT"]
    dep = find(default_objs, "Deployment")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert c["command"] == entrypoint
    # The image's user is the one the pod runs as.
    assert dep["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 65532


def test_dockerignore_keeps_local_state_out():
    ignored = (chartlib.REPO / ".dockerignore").read_text().split()
    for path in ("target/", ".venv/", ".git/"):
        assert path in ignored


def test_plain_manifests_validate_for_the_supported_versions():
    import kubernetes_validate
    import yaml

    docs = [d for d in yaml.safe_load_all(chartlib.MANIFESTS.read_text()) if d]
    assert docs[0]["kind"] == "Namespace" and docs[0]["metadata"]["name"] == chartlib.NAMESPACE
    for version in (chartlib.KUBE_OLDEST, chartlib.KUBE_NEWEST):
        for d in docs:
            if d["apiVersion"].startswith(("cert-manager.io/", "monitoring.coreos.com/")):
                continue  # custom resources: test_kubernetes_validate.py checks them structurally
            kubernetes_validate.validate(d, version, strict=True)
