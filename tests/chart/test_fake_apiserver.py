"""The fake API server of test_prometheus.py answers as the real one does for what a watching
client asks: Lists with resourceVersion and pagination, metadata-only lists, 404 Status for a
resource that is not installed, watches with replayed and live events, bookmarks, streaming
lists, and the outage a test injects. kubectl (when installed) lists through it by discovery."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import urllib.parse

import pytest
import yaml

from fake_apiserver import INITIAL_EVENTS_END, FakeApiServer, flatten, load_objects


def node(name: str, product: str = "NVIDIA-H100-80GB-HBM3") -> dict:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"nvidia.com/gpu.product": product}},
            "status": {"allocatable": {"nvidia.com/gpu": "8"}}}


def pod(name: str, ns: str = "ml", phase: str = "Running", labels: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "spec": {"containers": [{"name": "c", "image": "x"}]}, "status": {"phase": phase}}


@pytest.fixture
def fake():
    f = FakeApiServer([node("n1"), node("n2", "Acme-X1"), pod("a", labels={"team": "x"}), pod("b"),
                       pod("c", "other", phase="Succeeded")], bookmark_interval=0.2).start()
    yield f
    f.stop()


def get(fake: FakeApiServer, path: str, accept: str = "application/json", **query) -> tuple[int, dict]:
    host, port = fake.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", path + ("?" + urllib.parse.urlencode(query) if query else ""), headers={"Accept": accept})
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


class Watch:
    def __init__(self, fake: FakeApiServer, path: str, **query):
        host, port = fake.url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=5)
        self.conn.request("GET", path + "?" + urllib.parse.urlencode({"watch": "true", **query}))
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200
        assert self.resp.getheader("Transfer-Encoding") == "chunked"

    def next(self) -> dict | None:
        line = self.resp.readline()
        return json.loads(line) if line else None

    def close(self):
        self.conn.close()


def test_list_is_a_typed_list_with_resource_version(fake):
    status, body = get(fake, "/api/v1/nodes")
    assert status == 200
    assert (body["kind"], body["apiVersion"]) == ("NodeList", "v1")
    assert int(body["metadata"]["resourceVersion"]) == fake.resource_version
    assert [i["metadata"]["name"] for i in body["items"]] == ["n1", "n2"]
    assert all("kind" not in i for i in body["items"]), "the real server leaves kind out of list items"
    assert all(i["metadata"]["uid"] and i["metadata"]["resourceVersion"] for i in body["items"])


def test_namespaces_selectors_and_pagination(fake):
    assert [i["metadata"]["name"] for i in get(fake, "/api/v1/namespaces/ml/pods")[1]["items"]] == ["a", "b"]
    assert [i["metadata"]["name"] for i in get(fake, "/api/v1/pods", labelSelector="team=x")[1]["items"]] == ["a"]
    assert [i["metadata"]["name"] for i in get(fake, "/api/v1/pods", labelSelector="!team")[1]["items"]] == ["b", "c"]
    running = get(fake, "/api/v1/pods", fieldSelector="status.phase!=Succeeded,status.phase!=Failed")[1]
    assert [i["metadata"]["name"] for i in running["items"]] == ["a", "b"]
    names, token = [], None
    for _ in range(5):
        _, page = get(fake, "/api/v1/pods", limit="2", **({"continue": token} if token else {}))
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
    assert names == ["a", "b", "c"]


def test_metadata_only_list(fake):
    _, body = get(fake, "/apis/batch/v1/jobs",
                  accept="application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")
    assert (body["kind"], body["apiVersion"]) == ("PartialObjectMetadataList", "meta.k8s.io/v1")
    _, body = get(fake, "/api/v1/pods", accept="application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")
    assert {i["kind"] for i in body["items"]} == {"PartialObjectMetadata"}
    assert all(set(i) == {"kind", "apiVersion", "metadata"} for i in body["items"])


def test_a_resource_that_is_not_installed_is_a_404_status():
    with FakeApiServer(crds=[]) as f:
        status, body = get(f, "/apis/kubeflow.org/v1/pytorchjobs")
        assert status == 404 and body["kind"] == "Status" and body["reason"] == "NotFound"
        assert get(f, "/apis/batch/v1/jobs")[0] == 200
        groups = {g["name"] for g in get(f, "/apis")[1]["groups"]}
        assert groups == {"apps", "batch"}


def test_discovery_lists_the_served_resources(fake):
    _, core = get(fake, "/api/v1")
    assert {r["name"] for r in core["resources"]} >= {"nodes", "pods", "configmaps"}
    _, g = get(fake, "/apis/kubeflow.org")
    assert {v["version"] for v in g["versions"]} == {"v1", "v2beta1"}
    _, rl = get(fake, "/apis/kubeflow.org/v1")
    assert [r["name"] for r in rl["resources"]] == ["pytorchjobs"]


def test_watch_replays_then_streams_changes_and_bookmarks(fake):
    _, lst = get(fake, "/api/v1/pods")
    rv = lst["metadata"]["resourceVersion"]
    fake.apply(pod("d"))  # after the list: replayed
    w = Watch(fake, "/api/v1/pods", resourceVersion=rv, allowWatchBookmarks="true", timeoutSeconds="30")
    try:
        e = w.next()
        assert (e["type"], e["object"]["metadata"]["name"], e["object"]["kind"]) == ("ADDED", "d", "Pod")
        fake.apply(pod("d", phase="Succeeded"))
        e = w.next()
        assert (e["type"], e["object"]["status"]["phase"]) == ("MODIFIED", "Succeeded")
        fake.delete("v1", "Pod", "a", "ml")
        assert w.next()["type"] == "DELETED"
        e = w.next()
        assert e["type"] == "BOOKMARK" and int(e["object"]["metadata"]["resourceVersion"]) == fake.resource_version
    finally:
        w.close()


def test_watch_without_resource_version_starts_with_the_current_state(fake):
    w = Watch(fake, "/api/v1/nodes", timeoutSeconds="1")
    try:
        assert [w.next()["object"]["metadata"]["name"] for _ in range(2)] == ["n1", "n2"]
        assert w.next() is None, "the watch ends cleanly after timeoutSeconds"
    finally:
        w.close()


def test_streaming_list_ends_with_the_initial_events_bookmark(fake):
    w = Watch(fake, "/api/v1/nodes", sendInitialEvents="true", resourceVersionMatch="NotOlderThan",
              allowWatchBookmarks="true", timeoutSeconds="5")
    try:
        events = [w.next() for _ in range(3)]
        assert [e["type"] for e in events] == ["ADDED", "ADDED", "BOOKMARK"]
        assert events[2]["object"]["metadata"]["annotations"] == {INITIAL_EVENTS_END: "true"}
    finally:
        w.close()


def test_an_injected_outage_ends_watches_and_fails_requests_until_healed(fake):
    w = Watch(fake, "/api/v1/nodes", resourceVersion=str(fake.resource_version), timeoutSeconds="30")
    try:
        fake.fail("nodes")
        with pytest.raises((http.client.IncompleteRead, ConnectionError, OSError)):
            while w.next() is not None:
                pass
            raise ConnectionError("stream ended")
    finally:
        w.close()
    status, body = get(fake, "/api/v1/nodes")
    assert status == 500 and body["kind"] == "Status"
    assert get(fake, "/api/v1/pods")[0] == 200, "only the broken resource fails"
    fake.heal("nodes")
    assert get(fake, "/api/v1/nodes")[0] == 200


def test_requests_are_recorded_as_rbac_sees_them(fake):
    get(fake, "/api/v1/pods", limit="500")
    get(fake, "/api/v1/namespaces/ml/pods/a")
    host, port = fake.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("POST", "/api/v1/namespaces/ml/pods", body=b"{}", headers={"Content-Type": "application/json"})
    assert conn.getresponse().status == 405
    conn.close()
    got = [(q.method, q.verb, q.resource.key if q.resource else None, q.namespace) for q in fake.requests]
    assert got == [("GET", "list", "pods", None), ("GET", "get", "pods", "ml"), ("POST", "", None, None)]


def test_load_objects_reads_lists_multi_document_yaml_and_json(tmp_path):
    (tmp_path / "nodes.json").write_text(json.dumps(
        {"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
         "items": [{"metadata": {"name": "n1"}}, {"metadata": {"name": "n2"}}]}))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pods.yaml").write_text(yaml.safe_dump_all([pod("p1"), None, pod("p2")]))
    (tmp_path / "notes.md").write_text("not an object")
    objs = load_objects(tmp_path)
    assert [(o["kind"], o["metadata"]["name"]) for o in objs] == [("Node", "n1"), ("Node", "n2"), ("Pod", "p1"),
                                                                   ("Pod", "p2")]
    assert load_objects(tmp_path / "missing") == []
    assert flatten({"kind": "List", "apiVersion": "v1", "items": [pod("x")]})[0]["kind"] == "Pod"
    with FakeApiServer(objs + [{"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}}]) as f:
        assert len(f.objects("nodes")) == 2 and len(f.skipped) == 1


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_lists_and_discovers_through_the_fake(fake, tmp_path):
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
    run = lambda *a: subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *a], capture_output=True,  # noqa: E731
                                    text=True, timeout=30)
    r = run("get", "pods", "-A", "--chunk-size=1", "-o", "name")
    assert r.returncode == 0 and r.stdout.split() == ["pod/a", "pod/b", "pod/c"], r.stderr
    r = run("get", "pytorchjobs.kubeflow.org", "-A")
    assert r.returncode == 0, r.stderr
    r = run("get", "nodes", "-l", "nvidia.com/gpu.product=Acme-X1", "-o", "name")
    assert r.stdout.split() == ["node/n2"], r.stderr
