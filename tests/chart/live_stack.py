"""The live binary of test_prometheus.py and how the tests talk to it: bounded waits, plain HTTP
to its metrics port, HTTPS verified for the Service's DNS name as the API server dials it, the
Stack that the `stack` fixture starts (the server, Prometheus, the fake API server), and the
rendered Deployment's command line mapped onto local files and ports.
"""

from __future__ import annotations

import base64
import copy
import http.client
import json
import re
import socket
import ssl
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from admission_reviews import Case, json_patch, review_mix
from chartlib import find
from fake_apiserver import FakeApiServer
from fake_cluster import Cluster

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
