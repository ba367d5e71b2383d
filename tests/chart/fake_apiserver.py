"""A small fake Kubernetes API server for the chart tests: plain HTTP on 127.0.0.1, no auth, read
only, in-process (a thread), holding whatever objects a test gives it.

It answers what a client-go or kube-rs client asks for when it lists and watches, the way the
real API server does:

- list: `GET /api/v1/nodes`, `/api/v1/namespaces/NS/pods`, `/apis/GROUP/VERSION/[namespaces/NS/]PLURAL`
  with `labelSelector`, `fieldSelector`, `limit` and `continue` (pagination), answered with a List
  (`kind: NodeList`, `metadata.resourceVersion`, items without kind/apiVersion as the real server
  sends them); `Accept: ...;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1` gives a metadata-only
  list (what kube-rs's `metadata_watcher` asks for).
- watch: `?watch=1|true` with `resourceVersion`, `timeoutSeconds`, `allowWatchBookmarks` and
  `sendInitialEvents`: a chunked stream of `{"type": ..., "object": ...}` lines: the events
  after `resourceVersion` (or synthetic ADDED events for everything with no or "0"
  resourceVersion, or with sendInitialEvents, ended by the `k8s.io/initial-events-end` bookmark),
  then new events as the test changes objects, and BOOKMARKs every second while idle, until the
  client disconnects or timeoutSeconds pass.
- get: `GET .../PLURAL/NAME`.
- discovery: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/GROUP`, `/apis/GROUP/VERSION`.
- a resource that is not served (a CRD that is not installed): 404 with a `Status` object, as
  the real server answers; any method but GET: 405.

Tests change the cluster with `apply` and `delete` (watchers see ADDED, MODIFIED and DELETED
events), break a resource with `fail` (its open watches end and its lists and watches answer 500
until `heal`), and read `requests` to check what a client did (verb, resource, namespace).

Objects come from the test, or from files: `load_objects(DIR)` reads every .json, .yaml and .yml
file under DIR (single objects, multi-document YAML, or `kind: ...List` documents such as
`kubectl get -o json` or a raw API list writes).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable

import yaml


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """`plural.group` (`pods`, `jobs.batch`): how RBAC and kubectl name the resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def singular(self) -> str:
        return self.kind.lower()


# Built-in resources: always served.
BUILTIN = (
    Resource("", "v1", "nodes", "Node", namespaced=False),
    Resource("", "v1", "namespaces", "Namespace", namespaced=False),
    Resource("", "v1", "pods", "Pod"),
    Resource("", "v1", "configmaps", "ConfigMap"),
    Resource("batch", "v1", "jobs", "Job"),
    Resource("apps", "v1", "deployments", "Deployment"),
    Resource("apps", "v1", "statefulsets", "StatefulSet"),
)
# The workload kinds vramgate admits that come from CRDs (the versions its webhooks register):
# served only when "installed" (the `crds` argument).
WORKLOAD_CRDS = (
    Resource("kubeflow.org", "v1", "pytorchjobs", "PyTorchJob"),
    Resource("kubeflow.org", "v2beta1", "mpijobs", "MPIJob"),
    Resource("jobset.x-k8s.io", "v1alpha2", "jobsets", "JobSet"),
    Resource("ray.io", "v1", "rayjobs", "RayJob"),
    Resource("ray.io", "v1", "rayclusters", "RayCluster"),
    Resource("batch.volcano.sh", "v1alpha1", "jobs", "Job"),
    Resource("leaderworkerset.x-k8s.io", "v1", "leaderworkersets", "LeaderWorkerSet"),
    Resource("serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService"),
)
KNOWN = BUILTIN + WORKLOAD_CRDS

META_LIST = "PartialObjectMetadataList"
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- objects from files ------------------------------------------------------------------------


def flatten(doc: Any) -> list[dict]:
    """The objects of one document: itself, or the items of a `kind: ...List` (items get the
    list's apiVersion and the kind without "List" when they lack them, as in raw API lists)."""
    if not isinstance(doc, dict) or "kind" not in doc:
        return []
    kind = doc["kind"]
    if kind.endswith("List") and isinstance(doc.get("items"), list):
        out = []
        for item in doc["items"]:
            if not isinstance(item, dict):
                continue
            item = dict(item)
            if kind != "List":
                item.setdefault("kind", kind[: -len("List")])
                item.setdefault("apiVersion", doc.get("apiVersion", "v1"))
            out.extend(flatten(item))
        return out
    return [doc] if "metadata" in doc else []


def load_objects(directory: Path | str) -> list[dict]:
    """Every object in the .json, .yaml and .yml files under `directory` (sorted by path); []
    when it does not exist."""
    root = Path(directory)
    if not root.is_dir():
        return []
    objs: list[dict] = []
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".json", ".yaml", ".yml") and p.is_file()):
        text = path.read_text()
        docs = [json.loads(text)] if path.suffix == ".json" else list(yaml.safe_load_all(text))
        for d in docs:
            objs.extend(flatten(d))
    return objs


# ---- selectors -----------------------------------------------------------------------------------


def _split_top(s: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for c in s:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def label_matches(selector: str, labels: dict[str, str]) -> bool:
    """Kubernetes label selector syntax: k=v, k==v, k!=v, k in (a,b), k notin (a,b), k, !k."""
    for req in _split_top(selector or ""):
        m = re.fullmatch(r"(\S+)\s+(in|notin)\s+\((.*)\)", req)
        if m:
            values = {v.strip() for v in m.group(3).split(",")}
            has = m.group(1) in labels and labels[m.group(1)] in values
            if has != (m.group(2) == "in"):
                return False
            continue
        m = re.fullmatch(r"([^!=\s]+)\s*(==|=|!=)\s*(\S*)", req)
        if m:
            equal = labels.get(m.group(1)) == m.group(3)
            if equal != (m.group(2) != "!="):
                return False
            continue
        if req.startswith("!"):
            if req[1:] in labels:
                return False
        elif req not in labels:
            return False
    return True


def field_value(obj: dict, path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return "" if cur is None else str(cur)


def field_matches(selector: str, obj: dict) -> bool:
    """Field selectors: path=v, path==v, path!=v, comma-separated (metadata.name, spec.nodeName,
    status.phase, ...); a missing field reads as ""."""
    for req in _split_top(selector or ""):
        m = re.fullmatch(r"([^!=\s]+)\s*(==|=|!=)\s*(.*)", req)
        if not m:
            continue
        equal = field_value(obj, m.group(1)) == m.group(3)
        if equal != (m.group(2) != "!="):
            return False
    return True


# ---- the server -------------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    accept: str
    verb: str = ""  # get, list or watch ("" for discovery and unknown paths)
    resource: Resource | None = None
    namespace: str | None = None
    status: int = 0


@dataclass
class _Event:
    rv: int
    resource: Resource
    type: str
    obj: dict


@dataclass
class _Failure:
    status: int
    reason: str
    generation: int


class FakeApiServer:
    """See the module docstring. Use as a context manager, or call start() and stop()."""

    def __init__(self, objects: Iterable[dict] = (), *, crds: Iterable[Resource] = WORKLOAD_CRDS,
                 host: str = "127.0.0.1", port: int = 0, bookmark_interval: float = 1.0):
        self.served: tuple[Resource, ...] = BUILTIN + tuple(crds)
        self.bookmark_interval = bookmark_interval
        self._cond = threading.Condition()
        self._rv = 1000
        self._objects: dict[Resource, dict[tuple[str, str], dict]] = {r: {} for r in self.served}
        self._events: list[_Event] = []
        self._failures: dict[Resource, _Failure] = {}
        self._generation = 0
        self._stopping = False
        self.requests: list[Request] = []
        self.skipped: list[dict] = []  # objects of kinds this server does not serve
        for o in objects:
            self.apply(o, quiet=True)
        fake = self

        class Handler(_Handler):
            server_ref = fake

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeApiServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-apiserver", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def write_kubeconfig(self, path: Path | str, namespace: str = "default") -> Path:
        """A kubeconfig for this server: plain HTTP, no credentials."""
        path = Path(path)
        cfg = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}],
            "current-context": "fake",
        }
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        return path

    # -- the cluster's state

    def resource_of(self, api_version: str, kind: str) -> Resource | None:
        for r in self.served:
            if r.api_version == api_version and r.kind == kind:
                return r
        return None

    def resource(self, key: str) -> Resource:
        """A served resource by `plural[.group]` (`pods`, `jobs.batch`, `pytorchjobs.kubeflow.org`)."""
        for r in self.served:
            if r.key == key:
                return r
        raise KeyError(key)

    @property
    def resource_version(self) -> int:
        with self._cond:
            return self._rv

    def objects(self, key: str) -> list[dict]:
        r = self.resource(key)
        with self._cond:
            return [copy.deepcopy(o) for _, o in sorted(self._objects[r].items())]

    def apply(self, obj: dict, *, quiet: bool = False) -> dict | None:
        """Creates or replaces `obj` (ADDED or MODIFIED); fills in uid, creationTimestamp and
        resourceVersion like the API server. Returns the stored copy, or None for a kind this
        server does not serve (kept in `skipped`)."""
        r = self.resource_of(obj.get("apiVersion", ""), obj.get("kind", ""))
        if r is None:
            self.skipped.append(obj)
            return None
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if r.namespaced:
            meta.setdefault("namespace", "default")
        else:
            meta.pop("namespace", None)
        ns = meta.get("namespace", "")
        with self._cond:
            key = (ns, meta["name"])
            old = self._objects[r].get(key)
            self._rv += 1
            if old is not None:
                meta["uid"] = old["metadata"]["uid"]
                meta["creationTimestamp"] = old["metadata"].get("creationTimestamp")
            meta.setdefault("uid", str(uuid.uuid5(uuid.NAMESPACE_URL, f"{r.key}/{ns}/{meta['name']}")))
            meta.setdefault("creationTimestamp", now_rfc3339())
            meta["resourceVersion"] = str(self._rv)
            self._objects[r][key] = obj
            if not quiet:
                self._events.append(_Event(self._rv, r, "MODIFIED" if old else "ADDED", copy.deepcopy(obj)))
            self._cond.notify_all()
        return copy.deepcopy(obj)

    def delete(self, api_version: str, kind: str, name: str, namespace: str = "") -> bool:
        r = self.resource_of(api_version, kind)
        assert r is not None, (api_version, kind)
        with self._cond:
            obj = self._objects[r].pop((namespace if r.namespaced else "", name), None)
            if obj is None:
                return False
            self._rv += 1
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self._rv)
            self._events.append(_Event(self._rv, r, "DELETED", obj))
            self._cond.notify_all()
        return True

    def fail(self, key: str, status: int = 500, reason: str = "InternalError"):
        """Breaks a resource: its open watches end, and its lists and watches answer `status`
        with a Status object until heal()."""
        r = self.resource(key)
        with self._cond:
            self._generation += 1
            self._failures[r] = _Failure(status, reason, self._generation)
            self._cond.notify_all()

    def heal(self, key: str):
        with self._cond:
            self._failures.pop(self.resource(key), None)
            self._cond.notify_all()

    def requests_for(self, key: str, verb: str | None = None) -> list[Request]:
        return [q for q in list(self.requests) if q.resource is not None and q.resource.key == key
                and (verb is None or q.verb == verb)]

    # -- used by the handler

    def _failure(self, r: Resource) -> _Failure | None:
        with self._cond:
            return self._failures.get(r)

    def _select(self, r: Resource, namespace: str | None, q: dict[str, str]) -> tuple[int, list[dict]]:
        with self._cond:
            items = [copy.deepcopy(o) for _, o in sorted(self._objects[r].items())
                     if self._matches(o, r, namespace, q)]
            return self._rv, items

    @staticmethod
    def _matches(obj: dict, r: Resource, namespace: str | None, q: dict[str, str]) -> bool:
        meta = obj.get("metadata", {})
        if namespace and meta.get("namespace") != namespace:
            return False
        return label_matches(q.get("labelSelector", ""), meta.get("labels") or {}) and \
            field_matches(q.get("fieldSelector", ""), obj)

    def _wait_events(self, r: Resource, after: int, timeout: float,
                     generation: int) -> tuple[list[_Event], bool, int]:
        """The events of `r` after resourceVersion `after`, waiting up to `timeout` for one;
        whether the watch must end (the server stops, or the resource broke after the watch
        began); and the resourceVersion they bring the watcher to."""
        def pending():
            return [e for e in self._events if e.rv > after and e.resource == r]

        def broken():
            f = self._failures.get(r)
            return self._stopping or (f is not None and f.generation > generation)

        with self._cond:
            self._cond.wait_for(lambda: broken() or pending(), timeout=timeout)
            return pending(), broken(), self._rv


def _status(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
         "reason": reason, "code": code}
    if details:
        s["details"] = details
    return s


def _metadata_only(obj: dict) -> dict:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": copy.deepcopy(obj["metadata"])}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_ref: FakeApiServer

    def log_message(self, *args):  # quiet: the test reads fake.requests instead
        pass

    # -- plumbing

    def _send_json(self, code: int, body: dict):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self._req.status = code

    def _chunk(self, payload: bytes):
        self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
        self.wfile.flush()

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    # -- routing

    def _handle(self, method: str):
        fake = self.server_ref
        url = urllib.parse.urlsplit(self.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        self._req = Request(method, url.path, q, self.headers.get("Accept", ""))
        fake.requests.append(self._req)
        self._read_body()
        path = url.path.rstrip("/") or "/"
        if method != "GET":
            return self._send_json(405, _status(405, "MethodNotAllowed",
                                                f"the fake API server is read-only: {method} {path}"))
        disc = self._discovery(path)
        if disc is not None:
            return self._send_json(200, disc)
        m = (re.fullmatch(r"/api/(v1)/namespaces/([^/]+)/([^/]+)(?:/([^/]+))?", path)
             or re.fullmatch(r"/api/(v1)/()([^/]+)(?:/([^/]+))?", path))
        group = ""
        if m:
            version, ns, plural, name = m.groups()
        else:
            m = (re.fullmatch(r"/apis/([^/]+)/([^/]+)/namespaces/([^/]+)/([^/]+)(?:/([^/]+))?", path)
                 or re.fullmatch(r"/apis/([^/]+)/([^/]+)/()([^/]+)(?:/([^/]+))?", path))
            if not m:
                return self._send_json(404, _status(404, "NotFound", "the server could not find the requested resource"))
            group, version, ns, plural, name = m.groups()
        r = next((x for x in fake.served if (x.group, x.version, x.plural) == (group, version, plural)), None)
        if r is None or (ns and not r.namespaced):
            # What the real server says for a resource whose CRD is not installed.
            return self._send_json(404, _status(404, "NotFound", "the server could not find the requested resource",
                                                {"group": group, "kind": plural}))
        self._req.resource, self._req.namespace = r, ns or None
        watch = q.get("watch", "").lower() in ("1", "true")
        self._req.verb = "watch" if watch else ("get" if name else "list")
        f = fake._failure(r)
        if f is not None:
            return self._send_json(f.status, _status(f.status, f.reason, f"injected failure of {r.key}"))
        meta_only = "as=PartialObjectMetadata" in self._req.accept
        if name and not watch:
            _, items = fake._select(r, ns or None, {"fieldSelector": f"metadata.name={name}"})
            if not items:
                return self._send_json(404, _status(404, "NotFound", f'{r.key} "{name}" not found',
                                                    {"name": name, "group": group, "kind": plural}))
            obj = items[0]
            obj.setdefault("apiVersion", r.api_version)
            obj.setdefault("kind", r.kind)
            return self._send_json(200, _metadata_only(obj) if meta_only else obj)
        if name:
            q = dict(q, fieldSelector=",".join(x for x in (q.get("fieldSelector"), f"metadata.name={name}") if x))
        if watch:
            return self._watch(r, ns or None, q, meta_only)
        return self._list(r, ns or None, q, meta_only)

    def _discovery(self, path: str) -> dict | None:
        fake = self.server_ref
        if path == "/version":
            return {"major": "1", "minor": "33", "gitVersion": "v1.33.0-fake", "platform": "linux/amd64"}
        if path == "/api":
            host, port = fake._httpd.server_address[:2]
            return {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": f"{host}:{port}"}]}
        groups: dict[str, list[str]] = {}
        for r in fake.served:
            if r.group:
                versions = groups.setdefault(r.group, [])
                if r.version not in versions:
                    versions.append(r.version)

        def group_doc(g):
            vs = [{"groupVersion": f"{g}/{v}", "version": v} for v in groups[g]]
            return {"name": g, "versions": vs, "preferredVersion": vs[0]}

        def resources(group, version):
            rs = [r for r in fake.served if (r.group, r.version) == (group, version)]
            return {"kind": "APIResourceList", "apiVersion": "v1",
                    "groupVersion": f"{group}/{version}" if group else version,
                    "resources": [{"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                                   "kind": r.kind, "verbs": ["get", "list", "watch"]} for r in rs]}

        if path == "/api/v1":
            return resources("", "v1")
        if path == "/apis":
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group_doc(g) for g in groups]}
        m = re.fullmatch(r"/apis/([^/]+)", path)
        if m and m.group(1) in groups:
            return {"kind": "APIGroup", "apiVersion": "v1", **group_doc(m.group(1))}
        m = re.fullmatch(r"/apis/([^/]+)/([^/]+)", path)
        if m and m.group(2) in groups.get(m.group(1), []):
            return resources(m.group(1), m.group(2))
        return None

    # -- list and watch

    def _list(self, r: Resource, ns: str | None, q: dict[str, str], meta_only: bool):
        fake = self.server_ref
        rv, items = fake._select(r, ns, q)
        start = 0
        if q.get("continue"):
            try:
                token = json.loads(base64.urlsafe_b64decode(q["continue"].encode()))
                rv, start = int(token["rv"]), int(token["start"])
            except (ValueError, KeyError):
                return self._send_json(400, _status(400, "BadRequest", "invalid continue token"))
        limit = int(q.get("limit") or 0)
        page = items[start:start + limit] if limit > 0 else items[start:]
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if limit > 0 and start + limit < len(items):
            meta["continue"] = base64.urlsafe_b64encode(
                json.dumps({"rv": rv, "start": start + limit}).encode()).decode()
            meta["remainingItemCount"] = len(items) - start - limit
        if meta_only:
            body = {"kind": META_LIST, "apiVersion": "meta.k8s.io/v1", "metadata": meta,
                    "items": [_metadata_only(o) for o in page]}
        else:
            for o in page:  # the real server leaves kind and apiVersion out of list items
                o.pop("kind", None)
                o.pop("apiVersion", None)
            body = {"kind": f"{r.kind}List", "apiVersion": r.api_version, "metadata": meta, "items": page}
        self._send_json(200, body)

    def _watch(self, r: Resource, ns: str | None, q: dict[str, str], meta_only: bool):
        fake = self.server_ref
        with fake._cond:
            generation = fake._generation
        timeout = min(float(q.get("timeoutSeconds") or 1800), 1800.0)
        deadline = time.monotonic() + timeout
        bookmarks = q.get("allowWatchBookmarks", "").lower() in ("1", "true")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._req.status = 200

        def shape(obj: dict) -> dict:
            obj = copy.deepcopy(obj)
            obj.setdefault("apiVersion", r.api_version)
            obj.setdefault("kind", r.kind)
            return _metadata_only(obj) if meta_only else obj

        def send(kind: str, obj: dict):
            self._chunk(json.dumps({"type": kind, "object": obj}).encode() + b"\n")

        def bookmark(rv: int, initial_end: bool = False):
            meta: dict[str, Any] = {"resourceVersion": str(rv)}
            if initial_end:
                meta["annotations"] = {INITIAL_EVENTS_END: "true"}
            kind = ("PartialObjectMetadata", "meta.k8s.io/v1") if meta_only else (r.kind, r.api_version)
            send("BOOKMARK", {"kind": kind[0], "apiVersion": kind[1], "metadata": meta})

        try:
            rv_param = q.get("resourceVersion", "")
            initial = q.get("sendInitialEvents", "").lower() == "true"
            if initial or rv_param in ("", "0"):
                # Synthetic ADDED events for the current state (no or "0" resourceVersion, or a
                # streaming list), then the changes after it.
                cursor, items = fake._select(r, ns, q)
                for o in items:
                    send("ADDED", shape(o))
                if initial and bookmarks:
                    bookmark(cursor, initial_end=True)
            else:
                try:
                    cursor = int(rv_param)
                except ValueError:
                    send("ERROR", _status(400, "BadRequest", f"invalid resourceVersion {rv_param!r}"))
                    return self._chunk(b"")
            last_sent = time.monotonic()
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                events, end, now_rv = fake._wait_events(r, cursor, min(fake.bookmark_interval, left), generation)
                if end:
                    # The connection drops, as when an API server restarts; no terminating chunk.
                    self.close_connection = True
                    return
                for e in events:
                    if fake._matches(e.obj, r, ns, q):
                        send(e.type, shape(e.obj))
                        last_sent = time.monotonic()
                cursor = max(cursor, now_rv)
                if bookmarks and time.monotonic() - last_sent >= fake.bookmark_interval:
                    bookmark(cursor)
                    last_sent = time.monotonic()
            self._chunk(b"")  # the watch timed out: end the stream cleanly
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError, OSError):
            self.close_connection = True
