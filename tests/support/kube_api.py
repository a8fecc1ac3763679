"""A stub of the Kubernetes API server with Argo CD + Argo Rollouts (issue 31),
for the Kubernetes tests and the benchmark. Python 3 stdlib only.

No cluster, no kind, no Argo here: the JSON is shaped from the Kubernetes API
conventions (ListMeta/ObjectMeta, metav1.Status, watch.Event, chunked watch
streams, `continue` tokens, 410 Expired) and from the published Go types of
github:argoproj/argo-rollouts @ 9f8d111d (pkg/apis/rollouts/v1alpha1/types.go
RolloutStatus/CanaryStatus/TrafficWeights/PauseCondition; the promote and abort
patches of pkg/kubectl-argo-rollouts/cmd/{promote,abort}; messages from
utils/conditions/conditions.go, rollout/sync.go, utils/rollout/rolloututil.go
CalculateRolloutPhase, analysis/analysis.go) and github:argoproj/argo-cd
(pkg/apis/application/v1alpha1/types.go ApplicationStatus, SyncStatus,
HealthStatus, OperationState, SyncOperationResult, ApplicationCondition).
The controller half lives in kube_controller.py (same process, a thread).
Nothing here has been run against a real API server or real Argo.

Usage: kube_api.py [--port 0] [--token T] [--state FILE] [--controller FILE]
                   [--bookmark-seconds 5] [--step-seconds 1]
Binds 127.0.0.1:PORT (0 = a free port); the first stdout line is `PORT <n>`
(flushed; note: fly_machines.py says `ready <n>`). Errors of the controller go
to stderr. --step-seconds is the step time of Rollouts the controller config
does not name (they are reconciled too: any Rollout or Deployment written
through the API is picked up).

API (HTTP/1.1, keep-alive; with --token every API request needs
`Authorization: Bearer T`, else 401 + Status):
  /api/v1/namespaces/{ns}/{pods,events}
  /apis/apps/v1/namespaces/{ns}/{replicasets,deployments}
  /apis/argoproj.io/v1alpha1/namespaces/{ns}/{rollouts,applications}
  (and the same without `namespaces/{ns}` for every namespace: list, watch)
  GET    collection      list: limit + continue (a consistent snapshot per
                         list), labelSelector (k=v, k==v, k!=v, k, !k,
                         k in (a,b), k notin (a,b)), fieldSelector (dotted
                         paths, = / == / !=), resourceVersion(+Match) accepted
                         and ignored (always the newest state)
  GET    collection?watch=true|1   resourceVersion, allowWatchBookmarks,
                         timeoutSeconds, sendInitialEvents: newline-delimited
                         watch events, chunked, one flush per event
  POST   collection      create (409 AlreadyExists)
  GET    .../{name}      one object; GET .../{name}/status the same
  PATCH  .../{name}      application/merge-patch+json (RFC 7386); status
                         changes ignored; a spec change bumps generation;
                         metadata.resourceVersion in the patch must match (409)
  PATCH  .../{name}/status   only status changes (spec/metadata ignored)
  DELETE .../{name}      DELETED event
  GET    /version, /api, /apis, /api/v1, /apis/{group}/{version}: discovery
Errors are metav1.Status bodies: 404 NotFound, 409 AlreadyExists/Conflict,
410 Expired, 415 UnsupportedMediaType (a PATCH not merge-patch), 422 Invalid
(a malformed patch body), 401 Unauthorized, 503 ServiceUnavailable (down).

Control (no auth, not logged):
  POST /_stub/expire                compact history at the current resourceVersion
  POST /_stub/drop                  close every open watch mid-stream (no final chunk)
  POST /_stub/down[?mode=close]     API requests answer 503 (or the connection is
                                    closed with no answer); open watches dropped
  POST /_stub/up
  GET  /_stub/requests              [{"seq","method","path","query","content_type",
                                      "body","status"}] of API requests, in order
                                    (the token is never logged; status 200 once a
                                    watch streams, 0 = closed unanswered (down),
                                    null = not answered yet)
  POST /_stub/requests/clear
  GET  /_stub/open-watches          {"count": n} (a client that hung up is noticed
                                    within 0.25 s)
  POST /_stub/objects               [objects]: created or replaced (ADDED/MODIFIED)
  GET  /_stub/objects               every object, for debugging
  POST /_stub/seed-rollouts?namespace=NS&count=N[&replicas=3]  N Healthy canary
                                    Rollouts, each with its ReplicaSet (no pods)
  POST /_stub/analysis?namespace=NS&rollout=NAME&result=Failed|Successful|Inconclusive[&metric=M]
                                    sticky result of that Rollout's analysis steps
                                    (an empty result clears it; default Successful)
  POST /_stub/controller            [apps] add/replace controller apps (see kube_controller.py)
  GET  /_stub/controller            the apps and their last sync state
  GET  /_stub/state                 {"resourceVersion","compacted","open_watches","down"}

What it checks of a client: the bearer token (--token), a PATCH's content type
(merge patch only) and body (a JSON object), a patch's metadata.resourceVersion
precondition, that the object exists, label/field selector syntax, a watch's
or a continue token's resourceVersion against the compaction point (410), and
that status changes go through /status. Every API request is logged.

What a real API server does that this one does not: no admission, defaulting,
schema validation or strategic-merge/JSON/apply patches (415); no PUT; no
finalizers or garbage collection (deleting a Rollout leaves its ReplicaSets);
a list's first page is always the newest state (resourceVersion/Match ignored)
and its `continue` pages come from that page's snapshot (a token from before
the compaction point, or an evicted snapshot (256 kept), is 410);
a watch with a labelSelector does not turn a no-longer-matching MODIFIED into
DELETED; a watch from a resourceVersion in the future just waits; a merge
patch body that is not a JSON object is 422 here (the real server says 400
for undecodable JSON); watch timeouts default to 1800 s, not a random 30-60
min; Events are aggregated by (object, reason, message) only; no rate limits,
no Table output, no protobuf, no TLS.
"""
import argparse
import base64
import copy
import datetime
import hashlib
import json
import os
import re
import select
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.dont_write_bytecode = True  # importing kube_controller must leave no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# plural -> (group, version, kind)
RESOURCES = {
    "pods": ("", "v1", "Pod"),
    "events": ("", "v1", "Event"),
    "replicasets": ("apps", "v1", "ReplicaSet"),
    "deployments": ("apps", "v1", "Deployment"),
    "rollouts": ("argoproj.io", "v1alpha1", "Rollout"),
    "applications": ("argoproj.io", "v1alpha1", "Application"),
}
KIND_TO_PLURAL = {v[2]: k for k, v in RESOURCES.items()}
SHORT = {"rollouts": ["ro"], "applications": ["app", "apps"], "replicasets": ["rs"],
         "deployments": ["deploy"], "pods": ["po"], "events": ["ev"]}
MERGE_PATCH = "application/merge-patch+json"
DEFAULT_WATCH_TIMEOUT = 1800.0


def api_version(plural):
    g, v, _ = RESOURCES[plural]
    return f"{g}/{v}" if g else v


def now_iso(t=None):
    t = time.time() if t is None else t
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_body(code, reason, message, details=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code = code
        self.body = status_body(code, reason, message, details)


def not_found(plural, name):
    group = RESOURCES[plural][0]
    res = f"{plural}.{group}" if group else plural
    return ApiError(404, "NotFound", f'{res} "{name}" not found',
                    {"name": name, "group": group, "kind": plural})


def merge_patch(target, patch):
    """RFC 7386: objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# ---------------------------------------------------------------- selectors

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9_.-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def split_selector(text):
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def parse_label_selector(text):
    reqs = []
    for part in split_selector(text or ""):
        m = _SET_RE.match(part)
        if not m:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {part!r}")
        neg, key, op, val, setop, setvals = m.groups()
        if op:
            if neg:
                raise ApiError(400, "BadRequest", f"unable to parse requirement: {part!r}")
            reqs.append((key, "!=" if op == "!=" else "=", val))
        elif setop:
            reqs.append((key, setop, {v.strip() for v in setvals.split(",") if v.strip()}))
        else:
            reqs.append((key, "!" if neg else "exists", None))
    return reqs


def labels_match(reqs, labels):
    labels = labels or {}
    for key, op, val in reqs:
        have = labels.get(key)
        if op == "=" and have != val:
            return False
        if op == "!=" and have == val:
            return False
        if op == "exists" and key not in labels:
            return False
        if op == "!" and key in labels:
            return False
        if op == "in" and have not in val:
            return False
        if op == "notin" and have in val:
            return False
    return True


def parse_field_selector(text):
    reqs = []
    for part in [p for p in (text or "").split(",") if p.strip()]:
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not m:
            raise ApiError(400, "BadRequest", f"invalid field selector: {part!r}")
        reqs.append((m.group(1), m.group(2) != "!=", m.group(3)))
    return reqs


def fields_match(reqs, obj):
    for path, eq, val in reqs:
        cur = obj
        for seg in path.split("."):
            cur = cur.get(seg) if isinstance(cur, dict) else None
        have = "" if cur is None else (str(cur).lower() if isinstance(cur, bool) else str(cur))
        if (have == val) != eq:
            return False
    return True


# ---------------------------------------------------------------- the store

def client_gone(sock):
    """Whether the peer of a watch closed its side (checked while the stream idles)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class Watch:
    def __init__(self, sock):
        self.sock = sock
        self.dropped = False

    def drop(self):
        self.dropped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Store:
    """Every object, one resourceVersion counter, a history per (plural, ns).

    Stored objects are never changed in place: a writer copies, changes and
    puts back, so history entries and list snapshots can share them."""

    def __init__(self):
        self.cond = threading.Condition(threading.RLock())
        self.rv = 0
        self.compacted = 0
        self.objects = {}      # plural -> {(ns, name): obj}
        self.history = {}      # (plural, ns) -> [[rv, type, obj, line-or-None]]
        self.snapshots = {}    # token id -> (rv, [objs]); bounded
        self.snap_seq = 0
        self.watches = set()
        self.down = None       # None | "503" | "close"
        self.requests = []
        self.dirty = set()     # (plural, ns, name) written by someone else than the rollouts controller
        self.analysis = {}     # (ns, rollout) -> {"result", "metric"}
        self.owned = {}        # (plural, ns, owner kind, owner name) -> {names}: ownerReferences index
        for p in RESOURCES:
            self.objects[p] = {}

    # -- reading
    def get(self, plural, ns, name):
        with self.cond:
            return self.objects[plural].get((ns, name))

    def items(self, plural, ns=None):
        with self.cond:
            objs = self.objects[plural]
            keys = sorted(k for k in objs if ns is None or k[0] == ns)
            return [objs[k] for k in keys]

    def owned_by(self, plural, ns, owner_kind, owner_name):
        with self.cond:
            objs = self.objects[plural]
            return [objs[(ns, n)] for n in sorted(self.owned.get((plural, ns, owner_kind, owner_name), ()))
                    if (ns, n) in objs]

    def _index(self, plural, ns, name, old, new):
        def owners(o):
            if o is None:
                return set()
            return {(r.get("kind"), r.get("name")) for r in o["metadata"].get("ownerReferences") or []
                    if isinstance(r, dict)}
        before, after = owners(old), owners(new)
        for k, n in before - after:
            self.owned.get((plural, ns, k, n), set()).discard(name)
        for k, n in after - before:
            self.owned.setdefault((plural, ns, k, n), set()).add(name)

    # -- writing (the caller holds no copy it will change afterwards)
    def _record(self, plural, ns, etype, obj):
        self.history.setdefault((plural, ns), []).append([self.rv, etype, obj, None])
        self.cond.notify_all()

    def put(self, plural, obj, by_controller=False, bump_generation=None):
        """Creates or replaces; returns the stored object. `bump_generation`:
        None = bump when spec changed, True/False = force."""
        with self.cond:
            md = obj.setdefault("metadata", {})
            ns = md.setdefault("namespace", "default")
            name = md["name"]
            old = self.objects[plural].get((ns, name))
            g, v, kind = RESOURCES[plural]
            obj["apiVersion"] = api_version(plural)
            obj["kind"] = kind
            md.setdefault("labels", {})
            md.setdefault("annotations", {})
            if old is not None:
                omd = old["metadata"]
                md["uid"] = omd["uid"]
                md["creationTimestamp"] = omd["creationTimestamp"]
                gen = omd.get("generation", 1)
                changed = bump_generation if bump_generation is not None else (
                    {k: v for k, v in obj.items() if k not in ("metadata", "status")}
                    != {k: v for k, v in old.items() if k not in ("metadata", "status")})
                md["generation"] = gen + 1 if changed else gen
                md["resourceVersion"] = omd["resourceVersion"]
                if obj == old:
                    return old
            else:
                md.setdefault("uid", str(uuid.uuid4()))
                md.setdefault("creationTimestamp", now_iso())
                md["generation"] = 1
            self.rv += 1
            md["resourceVersion"] = str(self.rv)
            self.objects[plural][(ns, name)] = obj
            self._index(plural, ns, name, old, obj)
            self._record(plural, ns, "MODIFIED" if old is not None else "ADDED", obj)
            if not by_controller:
                self.dirty.add((plural, ns, name))
            return obj

    def delete(self, plural, ns, name):
        with self.cond:
            old = self.objects[plural].pop((ns, name), None)
            if old is None:
                raise not_found(plural, name)
            self._index(plural, ns, name, old, None)
            self.rv += 1
            gone = copy.deepcopy(old)
            gone["metadata"]["resourceVersion"] = str(self.rv)
            self._record(plural, ns, "DELETED", gone)
            self.dirty.add((plural, ns, name))
            return gone

    def compact(self):
        with self.cond:
            self.compacted = self.rv
            for key in list(self.history):
                self.history[key] = [e for e in self.history[key] if e[0] > self.compacted]
            self.snapshots.clear()
            return self.compacted

    def events_after(self, plural, ns, rv):
        """History entries newer than rv, in order (every namespace when ns is None)."""
        with self.cond:
            if ns is not None:
                hist = self.history.get((plural, ns), [])
                lo, hi = 0, len(hist)
                while lo < hi:
                    mid = (lo + hi) // 2
                    if hist[mid][0] <= rv:
                        lo = mid + 1
                    else:
                        hi = mid
                return hist[lo:]
            out = []
            for (p, _), hist in self.history.items():
                if p == plural:
                    out.extend(e for e in hist if e[0] > rv)
            out.sort(key=lambda e: e[0])
            return out

    def snapshot(self, objs):
        with self.cond:
            self.snap_seq += 1
            self.snapshots[self.snap_seq] = (self.rv, objs)
            while len(self.snapshots) > 256:
                del self.snapshots[min(self.snapshots)]
            return self.snap_seq


STORE = Store()
CONFIG = {"token": None, "bookmark_seconds": 5.0}


def normalise(obj):
    """An object as posted by a test: kind -> plural; name required."""
    if not isinstance(obj, dict):
        raise ApiError(422, "Invalid", "an object must be a JSON object")
    kind = obj.get("kind")
    plural = KIND_TO_PLURAL.get(kind)
    if plural is None:
        raise ApiError(422, "Invalid", f"unknown kind {kind!r} (known: {sorted(KIND_TO_PLURAL)})")
    md = obj.get("metadata")
    if not isinstance(md, dict) or not md.get("name"):
        raise ApiError(422, "Invalid", "metadata.name is required")
    md.setdefault("namespace", "default")
    return plural, obj


def seed_objects(objs, by_controller=False):
    if not isinstance(objs, list):
        raise ApiError(422, "Invalid", "expected a JSON list of objects")
    out = []
    for o in objs:
        plural, o = normalise(copy.deepcopy(o))
        stored = STORE.put(plural, o, by_controller=by_controller)
        out.append({"kind": stored["kind"], "namespace": stored["metadata"]["namespace"],
                    "name": stored["metadata"]["name"],
                    "resourceVersion": stored["metadata"]["resourceVersion"]})
    return out


def image_hash(images):
    return hashlib.sha256("\n".join(images).encode()).hexdigest()[:10]


def seed_rollouts(ns, count, replicas):
    """`count` Healthy canary Rollouts, each with its stable ReplicaSet."""
    t = now_iso()
    with STORE.cond:
        for i in range(count):
            name = f"svc-{i + 1:04d}"
            digest = "sha256:" + hashlib.sha256(f"{ns}/{name}".encode()).hexdigest()
            image = f"registry.example.com/team/{name}@{digest}"
            h = image_hash([image])
            labels = {"app.kubernetes.io/name": name}
            template = {"metadata": {"labels": dict(labels)},
                        "spec": {"containers": [{"name": "app", "image": image,
                                                 "ports": [{"containerPort": 8080}]}]}}
            steps = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "30s"}}]
            ro = {"metadata": {"name": name, "namespace": ns, "labels": dict(labels),
                               "annotations": {"rollout.argoproj.io/revision": "1"}},
                  "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                           "template": template, "revisionHistoryLimit": 10,
                           "strategy": {"canary": {"steps": steps}}}}
            ro = STORE.put("rollouts", ro, by_controller=True)
            rs_labels = dict(labels, **{"rollouts-pod-template-hash": h})
            rs = {"metadata": {"name": f"{name}-{h}", "namespace": ns, "labels": rs_labels,
                               "annotations": {"rollout.argoproj.io/revision": "1"},
                               "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                                    "name": name, "uid": ro["metadata"]["uid"],
                                                    "controller": True, "blockOwnerDeletion": True}]},
                  "spec": {"replicas": replicas, "selector": {"matchLabels": dict(rs_labels)},
                           "template": {"metadata": {"labels": dict(rs_labels)}, "spec": template["spec"]}},
                  "status": {"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": replicas,
                             "availableReplicas": replicas, "observedGeneration": 1}}
            STORE.put("replicasets", rs, by_controller=True)
            ro = copy.deepcopy(ro)
            ro["status"] = {
                "phase": "Healthy", "observedGeneration": "1", "currentPodHash": h, "stableRS": h,
                "currentStepHash": image_hash([json.dumps(steps, sort_keys=True)]),
                "currentStepIndex": len(steps), "replicas": replicas, "updatedReplicas": replicas,
                "readyReplicas": replicas, "availableReplicas": replicas, "HPAReplicas": replicas,
                "selector": f"app.kubernetes.io/name={name}",
                "canary": {"weights": {"canary": {"weight": 0, "podTemplateHash": h},
                                       "stable": {"weight": 100, "podTemplateHash": h}}},
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "AvailableReason",
                     "message": "Rollout has minimum availability", "lastUpdateTime": t, "lastTransitionTime": t},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                     "message": f'ReplicaSet "{name}-{h}" has successfully progressed.',
                     "lastUpdateTime": t, "lastTransitionTime": t},
                    {"type": "Healthy", "status": "True", "reason": "RolloutHealthy",
                     "message": "Rollout is healthy", "lastUpdateTime": t, "lastTransitionTime": t},
                    {"type": "Completed", "status": "True", "reason": "RolloutCompleted",
                     "message": "RolloutCompleted", "lastUpdateTime": t, "lastTransitionTime": t},
                ],
            }
            STORE.put("rollouts", ro, by_controller=True)
    return {"namespace": ns, "count": count, "resourceVersion": str(STORE.rv)}


# ---------------------------------------------------------------- requests

PATH_RE = re.compile(
    r"^/(?:api/(?P<cv>v1)|apis/(?P<g>[^/]+)/(?P<v>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?$")


def route(path):
    m = PATH_RE.match(path)
    if not m:
        return None
    plural = m.group("plural")
    if plural not in RESOURCES:
        return None
    g, v, _ = RESOURCES[plural]
    if m.group("cv"):
        if g:
            return None
    elif (m.group("g"), m.group("v")) != (g, v):
        return None
    return plural, m.group("ns"), m.group("name"), m.group("sub")


def q1(q, key, default=None):
    v = q.get(key)
    return v[-1] if v else default


def truthy(v):
    return v is not None and v.lower() in ("true", "1")


def do_list(plural, ns, q):
    labels = parse_label_selector(q1(q, "labelSelector", ""))
    fields = parse_field_selector(q1(q, "fieldSelector", ""))
    try:
        limit = int(q1(q, "limit", "0") or 0)
    except ValueError:
        raise ApiError(400, "BadRequest", "limit must be an integer")
    cont = q1(q, "continue")
    if cont:
        try:
            tok = json.loads(base64.urlsafe_b64decode(cont.encode() + b"==").decode())
            rv, start, sid = int(tok["rv"]), int(tok["start"]), int(tok["id"])
        except Exception:
            raise ApiError(400, "BadRequest", "continue key is not valid: incorrect encoded start resourceVersion")
        with STORE.cond:
            if rv < STORE.compacted or sid not in STORE.snapshots:
                raise ApiError(410, "Expired",
                               "The provided continue parameter is too old to display a consistent list result. "
                               "You can start a new list without the continue parameter, or use the continue "
                               "token in this response to retrieve the remainder of the results. Continuing "
                               "with the provided token results in an inconsistent list - objects that were "
                               "created, modified, or deleted between the time the first chunk was returned "
                               "and now may show up in the list.")
            rv, objs = STORE.snapshots[sid]
    else:
        with STORE.cond:
            rv = STORE.rv
            objs = [o for o in STORE.items(plural, ns)
                    if labels_match(labels, o["metadata"].get("labels")) and fields_match(fields, o)]
            sid = None
        start = 0
    page = objs[start:start + limit] if limit > 0 else objs[start:]
    meta = {"resourceVersion": str(rv)}
    if limit > 0 and start + limit < len(objs):
        if sid is None:
            sid = STORE.snapshot(objs)
        meta["continue"] = base64.urlsafe_b64encode(json.dumps(
            {"rv": rv, "start": start + limit, "id": sid}).encode()).decode().rstrip("=")
        meta["remainingItemCount"] = len(objs) - start - limit
    _, _, kind = RESOURCES[plural]
    return {"apiVersion": api_version(plural), "kind": kind + "List", "metadata": meta, "items": page}


def do_patch(plural, ns, name, sub, ctype, raw):
    base = (ctype or "").split(";")[0].strip().lower()
    if base != MERGE_PATCH:
        raise ApiError(415, "UnsupportedMediaType",
                       f"the body of the request was in an unknown format - accepted media types include: "
                       f"{MERGE_PATCH} (this stub; got {ctype!r})")
    try:
        patch = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(422, "Invalid", f"error decoding patch: {e}")
    if not isinstance(patch, dict):
        raise ApiError(422, "Invalid", "error decoding patch: a merge patch must be a JSON object")
    if sub not in (None, "status"):
        raise ApiError(404, "NotFound", f"the server could not find the requested resource ({sub})")
    with STORE.cond:
        old = STORE.get(plural, ns, name)
        if old is None:
            raise not_found(plural, name)
        want_rv = (patch.get("metadata") or {}).get("resourceVersion") if isinstance(patch.get("metadata"), dict) else None
        if want_rv is not None and str(want_rv) != old["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict",
                           f'Operation cannot be fulfilled on {plural}.{RESOURCES[plural][0] or "core"} "{name}": '
                           f"the object has been modified; please apply your changes to the latest version and try again")
        merged = merge_patch(old, patch)
        if sub == "status":
            new = copy.deepcopy(old)
            if "status" in merged:
                new["status"] = merged["status"]
            else:
                new.pop("status", None)
        else:
            new = merged
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
            md = new.get("metadata") if isinstance(new.get("metadata"), dict) else {}
            omd = old["metadata"]
            for k in ("name", "namespace", "uid", "creationTimestamp", "generation", "resourceVersion"):
                if k in omd:
                    md[k] = omd[k]
            new["metadata"] = md
            new = copy.deepcopy(new)
        return STORE.put(plural, new)


def do_create(plural, ns, body):
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the body must be a JSON object")
    md = body.setdefault("metadata", {})
    if not md.get("name"):
        raise ApiError(422, "Invalid", "metadata.name: Required value")
    md["namespace"] = ns or md.get("namespace") or "default"
    with STORE.cond:
        if STORE.get(plural, md["namespace"], md["name"]) is not None:
            raise ApiError(409, "AlreadyExists", f'{plural} "{md["name"]}" already exists',
                           {"name": md["name"], "kind": plural})
        for k in ("resourceVersion", "uid", "creationTimestamp", "generation"):
            md.pop(k, None)
        return STORE.put(plural, body)


def discovery(path):
    if path == "/version":
        return {"major": "1", "minor": "31", "gitVersion": "v1.31.0-shipdeck-stub", "platform": "linux/amd64"}
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    groups = {}
    for p, (g, v, _) in RESOURCES.items():
        if g:
            groups.setdefault(g, v)
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
             "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}} for g, v in sorted(groups.items())]}
    gv = "v1" if path == "/api/v1" else path[len("/apis/"):] if path.startswith("/apis/") else None
    if gv and gv.count("/") <= 1:
        res = []
        for p, (g, v, kind) in RESOURCES.items():
            if (f"{g}/{v}" if g else v) == gv:
                verbs = ["create", "delete", "get", "list", "patch", "watch"]
                res.append({"name": p, "singularName": kind.lower(), "namespaced": True, "kind": kind,
                            "verbs": verbs, "shortNames": SHORT.get(p, [])})
                if p in ("rollouts", "applications", "deployments", "replicasets", "pods"):
                    res.append({"name": p + "/status", "singularName": "", "namespaced": True, "kind": kind,
                                "verbs": ["get", "patch"]})
        if res:
            return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": res}
    return None


# ---------------------------------------------------------------- control

def control(method, path, q, body):
    if path == "/_stub/expire" and method == "POST":
        return 200, {"compacted": STORE.compact()}
    if path == "/_stub/drop" and method == "POST":
        with STORE.cond:
            ws = list(STORE.watches)
            for w in ws:
                w.drop()
            STORE.cond.notify_all()
        return 200, {"dropped": len(ws)}
    if path == "/_stub/down" and method == "POST":
        mode = q1(q, "mode", "503")
        if mode not in ("503", "close"):
            raise ApiError(400, "BadRequest", "mode must be 503 or close")
        with STORE.cond:
            STORE.down = mode
            ws = list(STORE.watches)
            for w in ws:
                w.drop()
            STORE.cond.notify_all()
        return 200, {"down": mode, "dropped": len(ws)}
    if path == "/_stub/up" and method == "POST":
        with STORE.cond:
            STORE.down = None
        return 200, {"down": None}
    if path == "/_stub/requests" and method == "GET":
        with STORE.cond:
            return 200, list(STORE.requests)
    if path == "/_stub/requests/clear" and method == "POST":
        with STORE.cond:
            STORE.requests.clear()
        return 200, {"cleared": True}
    if path == "/_stub/open-watches" and method == "GET":
        with STORE.cond:
            return 200, {"count": len(STORE.watches)}
    if path == "/_stub/objects" and method == "POST":
        return 200, seed_objects(body)
    if path == "/_stub/objects" and method == "GET":
        with STORE.cond:
            return 200, [o for p in RESOURCES for o in STORE.items(p)]
    if path == "/_stub/seed-rollouts" and method == "POST":
        try:
            count = int(q1(q, "count", "0"))
            replicas = int(q1(q, "replicas", "3"))
        except ValueError:
            raise ApiError(400, "BadRequest", "count and replicas must be integers")
        return 200, seed_rollouts(q1(q, "namespace", "default"), count, replicas)
    if path == "/_stub/analysis" and method == "POST":
        ns, ro = q1(q, "namespace", "default"), q1(q, "rollout")
        result = q1(q, "result", "")
        if not ro:
            raise ApiError(400, "BadRequest", "rollout= is required")
        if result not in ("", "Failed", "Successful", "Inconclusive", "Error"):
            raise ApiError(400, "BadRequest", "result must be Failed, Successful, Inconclusive, Error or empty")
        with STORE.cond:
            if result:
                STORE.analysis[(ns, ro)] = {"result": result, "metric": q1(q, "metric")}
            else:
                STORE.analysis.pop((ns, ro), None)
        return 200, {"namespace": ns, "rollout": ro, "result": result or None}
    if path == "/_stub/controller" and method == "POST":
        return 200, CONTROLLER.configure(body)
    if path == "/_stub/controller" and method == "GET":
        return 200, CONTROLLER.describe()
    if path == "/_stub/state" and method == "GET":
        with STORE.cond:
            return 200, {"resourceVersion": str(STORE.rv), "compacted": STORE.compacted,
                         "open_watches": len(STORE.watches), "down": STORE.down}
    raise ApiError(404, "NotFound", f"no control endpoint {method} {path}")


# ---------------------------------------------------------------- HTTP

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def answer(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        q = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            self.answer(400, status_body(400, "BadRequest", "invalid Content-Length"))
            return
        raw = self.rfile.read(length) if length > 0 else b""
        if path.startswith("/_stub/"):
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError as e:
                self.answer(400, status_body(400, "BadRequest", f"invalid JSON body: {e}"))
                return
            try:
                code, obj = control(self.command, path, q, body)
            except ApiError as e:
                code, obj = e.code, e.body
            except Exception as e:
                code, obj = 500, status_body(500, "InternalError", f"stub error: {type(e).__name__}: {e}")
            self.answer(code, obj)
            return
        entry = {"method": self.command, "path": path, "query": url.query,
                 "content_type": self.headers.get("Content-Type"),
                 "body": raw.decode("utf-8", "replace"), "status": None}
        with STORE.cond:
            entry["seq"] = len(STORE.requests) + 1
            STORE.requests.append(entry)
            down = STORE.down
        if down == "close":
            entry["status"] = 0
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        try:
            if down == "503":
                raise ApiError(503, "ServiceUnavailable", "the server is currently unable to handle the request")
            tok = CONFIG["token"]
            if tok is not None and self.headers.get("Authorization", "") != f"Bearer {tok}":
                raise ApiError(401, "Unauthorized", "Unauthorized")
            self._entry = entry
            code, obj = self.api(path, q, raw)
        except ApiError as e:
            code, obj = e.code, e.body
        except Exception as e:  # never a traceback on the wire
            code, obj = 500, status_body(500, "InternalError", f"stub error: {type(e).__name__}: {e}")
        if code is not None:
            entry["status"] = code
            self.answer(code, obj)

    def api(self, path, q, raw):
        r = route(path)
        if r is None:
            d = discovery(path) if self.command == "GET" else None
            if d is not None:
                return 200, d
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        plural, ns, name, sub = r
        m = self.command
        if name is None:
            if m == "GET" and truthy(q1(q, "watch")):
                self.watch(plural, ns, q)
                return None, None
            if m == "GET":
                return 200, do_list(plural, ns, q)
            if m == "POST":
                if ns is None:
                    raise ApiError(405, "MethodNotAllowed", "create needs a namespace")
                try:
                    body = json.loads(raw) if raw.strip() else None
                except ValueError as e:
                    raise ApiError(400, "BadRequest", f"invalid JSON body: {e}")
                return 201, do_create(plural, ns, body)
            raise ApiError(405, "MethodNotAllowed", f"{m} is not supported on a collection here")
        if ns is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if m == "GET":
            if sub not in (None, "status"):
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            o = STORE.get(plural, ns, name)
            if o is None:
                raise not_found(plural, name)
            return 200, o
        if m == "PATCH":
            return 200, do_patch(plural, ns, name, sub, self.headers.get("Content-Type"), raw)
        if m == "DELETE" and sub is None:
            gone = STORE.delete(plural, ns, name)
            return 200, gone
        raise ApiError(405, "MethodNotAllowed", f"{m} is not supported here")

    # -- watch
    def watch(self, plural, ns, q):
        labels = parse_label_selector(q1(q, "labelSelector", ""))
        fields = parse_field_selector(q1(q, "fieldSelector", ""))
        bookmarks = truthy(q1(q, "allowWatchBookmarks"))
        initial = truthy(q1(q, "sendInitialEvents"))
        try:
            timeout = float(q1(q, "timeoutSeconds", "") or DEFAULT_WATCH_TIMEOUT)
        except ValueError:
            raise ApiError(400, "BadRequest", "timeoutSeconds must be a number")
        rv_text = q1(q, "resourceVersion", "") or ""
        try:
            rv = int(rv_text) if rv_text not in ("", "0") else None
        except ValueError:
            raise ApiError(400, "BadRequest", f"invalid resourceVersion {rv_text!r}")
        g, v, kind = RESOURCES[plural]
        av = api_version(plural)

        def wanted(o):
            return labels_match(labels, o["metadata"].get("labels")) and fields_match(fields, o)

        w = Watch(self.connection)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        self._entry["status"] = 200

        def send(data):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        deadline = time.monotonic() + timeout
        with STORE.cond:
            STORE.watches.add(w)
            expired = rv is not None and rv < STORE.compacted
            compacted = STORE.compacted
            start_rv = STORE.rv
            first = []
            if rv is None or initial:
                first = [o for o in STORE.items(plural, ns) if wanted(o)]
        try:
            if expired:
                send(json.dumps({"type": "ERROR", "object": {
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": f"too old resource version: {rv} ({compacted})",
                    "reason": "Expired", "code": 410}}).encode() + b"\n")
                send(b"")
                return
            if rv is None or initial:
                for o in first:
                    send(json.dumps({"type": "ADDED", "object": o}).encode() + b"\n")
                last = start_rv
                if initial and bookmarks:
                    send(json.dumps({"type": "BOOKMARK", "object": {
                        "apiVersion": av, "kind": kind, "metadata": {
                            "resourceVersion": str(last),
                            "annotations": {"k8s.io/initial-events-end": "true"}}}}).encode() + b"\n")
            else:
                last = rv
            next_bm = time.monotonic() + CONFIG["bookmark_seconds"]
            while True:
                with STORE.cond:
                    while True:
                        if w.dropped:
                            return
                        if client_gone(self.connection):
                            self.close_connection = True
                            return
                        evs = STORE.events_after(plural, ns, last)
                        now = time.monotonic()
                        if evs or now >= deadline or (bookmarks and now >= next_bm):
                            break
                        STORE.cond.wait(min(0.25, min(deadline, next_bm if bookmarks else deadline) - now))
                    cur_rv = STORE.rv
                    lines = []
                    for e in evs:
                        if e[3] is None:
                            e[3] = json.dumps({"type": e[1], "object": e[2]}).encode() + b"\n"
                        if wanted(e[2]):
                            lines.append(e[3])
                        last = e[0]
                for line in lines:
                    send(line)
                now = time.monotonic()
                if bookmarks and now >= next_bm:
                    send(json.dumps({"type": "BOOKMARK", "object": {
                        "apiVersion": av, "kind": kind,
                        "metadata": {"resourceVersion": str(max(last, cur_rv))}}}).encode() + b"\n")
                    next_bm = now + CONFIG["bookmark_seconds"]
                if now >= deadline:
                    send(b"")
                    return
        except OSError:
            self.close_connection = True
        finally:
            with STORE.cond:
                STORE.watches.discard(w)
            if w.dropped:
                self.close_connection = True

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        pass  # a client that hung up is not news


class _NoController:
    def configure(self, body):
        raise ApiError(400, "BadRequest", "no controller")

    def describe(self):
        return []


CONTROLLER = _NoController()


def main():
    global CONTROLLER
    p = argparse.ArgumentParser(description="Kubernetes API stub with Argo CD + Argo Rollouts")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--token", default=None)
    p.add_argument("--state", default=None, help="JSON file: a list of objects to create")
    p.add_argument("--controller", default=None, help="JSON file: a list of apps (see kube_controller.py)")
    p.add_argument("--bookmark-seconds", type=float, default=5.0)
    p.add_argument("--step-seconds", type=float, default=1.0,
                   help="step time of Rollouts the controller config does not name")
    a = p.parse_args()
    CONFIG["token"] = a.token
    CONFIG["bookmark_seconds"] = max(0.05, a.bookmark_seconds)
    if a.state:
        with open(a.state, encoding="utf-8") as f:
            seed_objects(json.load(f))
    import kube_controller
    apps = []
    if a.controller:
        with open(a.controller, encoding="utf-8") as f:
            apps = json.load(f)
    CONTROLLER = kube_controller.Controller(STORE, api_error=ApiError, step_seconds=a.step_seconds,
                                            image_hash=image_hash, now_iso=now_iso)
    CONTROLLER.configure(apps)
    server = Server(("127.0.0.1", a.port), Handler)
    CONTROLLER.start()
    print("PORT", server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
