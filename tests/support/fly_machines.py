"""A stub of the Fly.io Machines API (issue 30), for the Fly tests and the bench.

No Fly emulator exists. The JSON is shaped from fly-go (github:superfly/fly-go
@ 22d6e518f42d: machine_types.go `Machine`, `MachineImageRef`,
`MachineCheckStatus`, `MachineEvent`, `MachineLease`; flaps/flaps_machines.go
`NonceHeader`, `AcquireLease`/`RefreshLease`/`ReleaseLease`; flaps/flaps.go
`handleAPIError`) and the Machines API reference (github:superfly/docs).
Nothing here has been run against Fly. Python 3 stdlib only.

Usage: fly_machines.py [--port 0] [--token T] [--owner EMAIL]
                       [--start-delay 0.2] [--check-delay 0.2]
                       [--apps N --machines M --regions fra,ams]
Listens on 127.0.0.1:PORT (0 = a free port) and prints `ready PORT` on stdout.

API (every path under /v1; `Authorization` must be `Bearer T` or `FlyV1 T`
for a seeded token, else 401 {"error": ...}):
  GET    /apps/{app}/machines                 list (no destroyed; ?region=, ?metadata.K=V)
  GET    /apps/{app}/machines/{id}            one machine
  POST   /apps/{app}/machines/{id}            update {"config", "current_version", "skip_launch"}
  GET    /apps/{app}/machines/{id}/wait       ?state=started&timeout=60&instance_id= (or version=)
  POST   /apps/{app}/machines/{id}/lease      {"ttl","description"} or ?ttl=; nonce header refreshes
  GET    /apps/{app}/machines/{id}/lease
  DELETE /apps/{app}/machines/{id}/lease      nonce header required
  GET    /apps/{app}/machines/{id}/metadata
  POST   /apps/{app}/machines/{id}/metadata/{key}   {"value": ...}, no nonce needed
  DELETE /apps/{app}/machines/{id}/metadata/{key}
State machine: an update answers `replacing` with a new instance_id; after
start_delay it is `started` (a `start` event), after check_delay more every
check named in config.checks is `passing`. With "skip_launch" it goes
`stopped` after start_delay instead.

Control (no auth):
  POST   /_stub/apps    {"app", "token_owner"?, "token"?, "machines": [{"id"?, "name"?,
                        "region"?, "image", "state"?, "checks"?: {"health": "passing"},
                        "metadata"?, "labels"?, "services"?, "config"?}]}  (replaces the app)
  POST   /_stub/images  {"ref": "registry.fly.io/edge@sha256:...", "labels": {...}}
  POST   /_stub/config  {"start_delay", "check_delay"}
  POST   /_stub/fault   one of
     {"kind":"fail_start","digest":"sha256:..."}        goes `stopped`, exit event exit_code 1
     {"kind":"check_critical","digest":..,"check":"health","output":"...","after":0.5}
     {"kind":"hold_lease","app":..,"machine":..,"owner":..,"description":"","ttl":600}
     {"kind":"host","app"?:..,"machine":..,"status":"unreachable"}
     {"kind":"http","method":"POST","path_re":"...","status":500,"times":1,"retry_after":1}
                        (times -1 = forever; 429 carries Retry-After)
  DELETE /_stub/faults  clears every fault (and the leases hold_lease took)
  GET    /_stub/log     [{"seq","t","method","path","query","nonce","status"}] of /v1 requests
  DELETE /_stub/log
  GET    /_stub/state   apps, machines (digest, state, checks), leases, images, faults

Assumptions beyond fly-go and the docs (the docs leave these open):
  - an update of a leased machine without its nonce, or with a nonce when no
    lease is held, answers 409 {"error": ...}; a stale current_version 409;
  - 400 for a config.image that is not `repo@sha256:<hex>`; 422 for an image
    the stub's registry does not hold (seeded machines' images are held);
  - a lease is created with 201 and refreshed with 200; the default ttl is 30 s;
    releasing with a wrong or missing nonce is 409; a lease carries
    `description` (the docs do; fly-go's MachineLeaseData does not);
  - /wait answers 408 {"error": ...} on timeout; 400 for another state than
    started/stopped/suspended/destroyed or a timeout that is not a number;
  - events are newest first, at most 20 kept; skip_launch passes `replacing`
    then `stopped`; metadata writes answer 204.
"""
import argparse
import copy
import datetime
import hashlib
import json
import random
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NONCE_HEADER = "fly-machine-lease-nonce"
WAIT_STATES = ("started", "stopped", "suspended", "destroyed")
MAX_WAIT = 60.0
DEFAULT_TTL = 30
IMAGE_RE = re.compile(r"^([^@\s]+?)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?@(sha256:[0-9a-f]{1,64})$")
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

COND = threading.Condition(threading.RLock())
APPS = {}      # app -> {"machines": {id: machine}, "order": [id], "leases": {id: lease}, "owner": str}
IMAGES = {}    # "registry/repository@digest" -> labels
TOKENS = {}    # token -> owner
FAULTS = []    # dicts as posted
HOSTS = {}     # (app or None, machine) -> host_status
LOG = []
SEQ = [0]
DELAYS = {"start_delay": 0.2, "check_delay": 0.2}


class ApiError(Exception):
    def __init__(self, status, message, body=None, headers=None):
        super().__init__(message)
        self.status, self.body, self.headers = status, body or {"error": message}, headers or {}


def now_iso(t=None):
    t = time.time() if t is None else t
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ulid():
    ms = int(time.time() * 1000)
    head = "".join(CROCKFORD[(ms >> (5 * i)) & 31] for i in reversed(range(10)))
    return head + "".join(random.choice(CROCKFORD) for _ in range(16))


def machine_id():
    return "%014x" % random.getrandbits(56)


def parse_image(ref):
    """repo[:tag]@sha256:hex -> (registry, repository, tag, digest), else ApiError 400."""
    if not isinstance(ref, str):
        raise ApiError(400, "config.image is required and must be a string")
    m = IMAGE_RE.match(ref)
    if not m:
        raise ApiError(400, f"invalid image reference {ref!r}: expected repository@sha256:<digest>")
    repo, tag, digest = m.group(1), m.group(2) or "", m.group(3)
    first, _, rest = repo.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = "docker.io", repo
    return registry, repository, tag, digest


def image_key(registry, repository, digest):
    return f"{registry}/{repository}@{digest}"


def image_ref(ref):
    registry, repository, tag, digest = parse_image(ref)
    out = {"registry": registry, "repository": repository, "digest": digest}
    if tag:
        out["tag"] = tag
    labels = IMAGES.get(image_key(registry, repository, digest))
    if labels:
        out["labels"] = dict(labels)
    return out


def event(kind, status, source, request=None):
    e = {"type": kind, "status": status, "source": source, "timestamp": int(time.time() * 1000)}
    if request:
        e["request"] = request
    return e


def push_event(m, e):
    m["events"].insert(0, e)
    del m["events"][20:]


def check_output(cfg, passing):
    path = cfg.get("path") if isinstance(cfg, dict) else None
    if path:
        return f"HTTP GET {path}: 200 OK" if passing else f"HTTP GET {path}: 503 Service Unavailable"
    return "stub: passing" if passing else "stub: critical"


def new_machine(app, spec, i):
    if not isinstance(spec, dict):
        raise ApiError(400, "each machine must be an object")
    region = spec.get("region", "fra")
    image = spec.get("image")
    registry, repository, tag, digest = parse_image(image)
    key = image_key(registry, repository, digest)
    IMAGES.setdefault(key, {})
    if isinstance(spec.get("labels"), dict):
        IMAGES[key] = {str(k): str(v) for k, v in spec["labels"].items()}
    checks = spec.get("checks") or {}
    if not isinstance(checks, dict):
        raise ApiError(400, 'machine "checks" must be an object: {"health": "passing"}')
    config = copy.deepcopy(spec["config"]) if isinstance(spec.get("config"), dict) else {}
    config["image"] = image
    metadata = config.setdefault("metadata", {})
    metadata.setdefault("fly_process_group", spec.get("process_group", "app"))
    metadata.setdefault("fly_release_version", str(spec.get("release_version", 1)))
    if isinstance(spec.get("metadata"), dict):
        metadata.update({str(k): str(v) for k, v in spec["metadata"].items()})
    if checks and "checks" not in config:
        config["checks"] = {name: {"type": "http", "port": 8080, "path": "/" + name, "interval": "15s",
                                   "timeout": "2s"} for name in checks}
    config.setdefault("services", spec.get("services", [{"protocol": "tcp", "internal_port": 8080,
                                                          "ports": [{"port": 443, "handlers": ["tls", "http"]}]}]))
    config.setdefault("env", {})
    config.setdefault("guest", {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256})
    state = spec.get("state", "started")
    iid = ulid()
    t = time.time()
    m = {
        "id": spec.get("id") or machine_id(),
        "name": spec.get("name") or f"{app}-{region}-{i + 1}",
        "state": state,
        "region": region,
        "instance_id": iid,
        "version": iid,
        "private_ip": "fdaa:0:%x:a7b:%x::%x" % (random.getrandbits(12), random.getrandbits(12), i + 2),
        "created_at": now_iso(t),
        "updated_at": now_iso(t),
        "image_ref": image_ref(image),
        "config": config,
        "checks": [{"name": name, "status": status,
                    "output": check_output(config.get("checks", {}).get(name), status == "passing"),
                    "updated_at": now_iso(t)}
                   for name, status in sorted(checks.items())] if state == "started" else [],
        "events": [event("launch", "created", "user")] + ([event("start", "started", "flyd")] if state == "started" else []),
        "host_status": "ok",
        "cordoned": False,
    }
    m["events"].reverse()
    return m


def seed_app(body):
    app = body.get("app")
    if not isinstance(app, str) or not app:
        raise ApiError(400, '"app" is required')
    machines = body.get("machines", [])
    if not isinstance(machines, list):
        raise ApiError(400, '"machines" must be a list')
    if body.get("token"):
        TOKENS[str(body["token"])] = str(body.get("token_owner") or OWNER[0])
    built = [new_machine(app, spec, i) for i, spec in enumerate(machines)]
    APPS[app] = {"machines": {m["id"]: m for m in built}, "order": [m["id"] for m in built], "leases": {},
                 "owner": str(body.get("token_owner") or "")}
    COND.notify_all()
    return [public(app, m) for m in built]


def public(app, m):
    out = copy.deepcopy(m)
    host = HOSTS.get((app, m["id"])) or HOSTS.get((None, m["id"]))
    if host and host != "ok":
        out["host_status"] = host
        out["incomplete_config"] = out.pop("config")
    return out


def find(app, mid=None):
    a = APPS.get(app)
    if a is None:
        raise ApiError(404, "app not found")
    if mid is None:
        return a, None
    m = a["machines"].get(mid)
    if m is None or m["state"] == "destroyed":
        raise ApiError(404, "machine not found")
    return a, m


def live_lease(a, mid):
    lease = a["leases"].get(mid)
    if lease and lease["expires_at"] <= time.time():
        del a["leases"][mid]
        COND.notify_all()
        return None
    return lease


def lease_json(lease):
    return {"status": "success", "data": {"nonce": lease["nonce"], "expires_at": int(lease["expires_at"]),
                                          "owner": lease["owner"], "description": lease["description"],
                                          "version": lease["version"]}}


def held_message(mid, lease):
    until = datetime.datetime.fromtimestamp(int(lease["expires_at"]), datetime.timezone.utc)
    return (f"machine ID {mid} lease currently held by {lease['owner']}, "
            f"expires at {until.strftime('%Y-%m-%d %H:%M:%S')} +0000 UTC")


def matching(kind, m, app):
    digest = m["image_ref"].get("digest")
    for f in FAULTS:
        if f.get("kind") != kind:
            continue
        if f.get("digest") and f["digest"] != digest:
            continue
        if f.get("app") and f["app"] != app:
            continue
        if f.get("machine") and f["machine"] != m["id"]:
            continue
        yield f


def schedule(delay, fn, *args):
    t = threading.Timer(max(0.0, delay), fn, args)
    t.daemon = True
    t.start()


def after_start(app, mid, iid, skip_launch):
    with COND:
        a = APPS.get(app)
        m = a and a["machines"].get(mid)
        if not m or m["instance_id"] != iid or m["state"] != "replacing":
            return
        t = time.time()
        m["updated_at"] = now_iso(t)
        if skip_launch:
            m["state"] = "stopped"
            push_event(m, event("update", "stopped", "flyd"))
        elif list(matching("fail_start", m, app)):
            m["state"] = "stopped"
            push_event(m, event("start", "started", "flyd"))
            push_event(m, event("exit", "stopped", "flyd", {
                "exit_event": {"exit_code": 1, "guest_exit_code": 1, "oom_killed": False,
                               "requested_stop": False, "restarting": False, "exited_at": now_iso(t)}}))
        else:
            m["state"] = "started"
            push_event(m, event("start", "started", "flyd"))
            schedule(DELAYS["check_delay"], checks_in, app, mid, iid)
        COND.notify_all()


def checks_in(app, mid, iid):
    with COND:
        a = APPS.get(app)
        m = a and a["machines"].get(mid)
        if not m or m["instance_id"] != iid or m["state"] != "started":
            return
        cfg = m["config"].get("checks") or {}
        crit = {f.get("check", "health"): f for f in matching("check_critical", m, app)}
        checks = []
        for name in sorted(cfg):
            f = crit.get(name)
            bad = f is not None and float(f.get("after", 0) or 0) <= 0
            checks.append({"name": name, "status": "critical" if bad else "passing",
                           "output": (f.get("output") or check_output(cfg[name], False)) if bad
                           else check_output(cfg[name], True),
                           "updated_at": now_iso()})
            if f is not None and not bad:
                schedule(float(f["after"]), go_critical, app, mid, iid, name, f)
        m["checks"] = checks
        COND.notify_all()


def go_critical(app, mid, iid, name, f):
    with COND:
        a = APPS.get(app)
        m = a and a["machines"].get(mid)
        if not m or m["instance_id"] != iid or m["state"] != "started":
            return
        for c in m["checks"]:
            if c["name"] == name:
                c["status"] = "critical"
                c["output"] = f.get("output") or check_output(m["config"].get("checks", {}).get(name), False)
                c["updated_at"] = now_iso()
        COND.notify_all()


def update(app, mid, body, nonce):
    a, m = find(app, mid)
    if not isinstance(body, dict) or not isinstance(body.get("config"), dict):
        raise ApiError(400, "the request body must be an object with a \"config\" object")
    lease = live_lease(a, mid)
    if lease and nonce != lease["nonce"]:
        raise ApiError(409, held_message(mid, lease) + (
            f"; the request's {NONCE_HEADER} does not match" if nonce else f"; the request has no {NONCE_HEADER}"))
    if not lease and nonce:
        raise ApiError(409, f"machine ID {mid} has no lease; {NONCE_HEADER} {nonce} is not valid")
    cv = body.get("current_version")
    if cv and cv != m["instance_id"]:
        raise ApiError(409, f"current_version {cv} does not match the machine's instance_id {m['instance_id']}")
    config = copy.deepcopy(body["config"])
    registry, repository, tag, digest = parse_image(config.get("image"))
    if image_key(registry, repository, digest) not in IMAGES:
        raise ApiError(422, f"image not found: {registry}/{repository}@{digest}")
    if "metadata" in config and not isinstance(config["metadata"], dict):
        raise ApiError(400, "config.metadata must be an object")
    if "checks" in config and not isinstance(config["checks"], dict):
        raise ApiError(400, "config.checks must be an object")
    config.setdefault("metadata", {})
    iid = ulid()
    skip = bool(body.get("skip_launch"))
    m.update({"config": config, "image_ref": image_ref(config["image"]), "instance_id": iid, "version": iid,
              "state": "replacing", "checks": [], "updated_at": now_iso()})
    push_event(m, event("update", "replacing", "user"))
    if lease:
        lease["version"] = iid
    schedule(DELAYS["start_delay"], after_start, app, mid, iid, skip)
    COND.notify_all()
    return public(app, m)


def wait(app, mid, q):
    states = q.get("state") or ["started"]
    for s in states:
        if s not in WAIT_STATES:
            raise ApiError(400, f"invalid state {s!r}: expected one of {', '.join(WAIT_STATES)}")
    raw = (q.get("timeout") or ["60"])[0]
    try:
        timeout = float(raw.rstrip("s"))
    except ValueError:
        raise ApiError(400, f"invalid timeout {raw!r}")
    timeout = max(0.0, min(MAX_WAIT, timeout))
    iid = (q.get("instance_id") or q.get("version") or [None])[0]
    deadline = time.monotonic() + timeout
    with COND:
        while True:
            a, m = APPS.get(app), None
            if a is None:
                raise ApiError(404, "app not found")
            m = a["machines"].get(mid)
            if m is None:
                raise ApiError(404, "machine not found")
            if m["state"] in states and (not iid or m["instance_id"] == iid):
                return {"ok": True}
            left = deadline - time.monotonic()
            if left <= 0:
                raise ApiError(408, f"timeout waiting for machine {mid} to be {'/'.join(states)}"
                               + (f" (instance {iid})" if iid else "") + f"; it is {m['state']}")
            COND.wait(left)


def take_lease(app, mid, body, q, nonce):
    a, m = find(app, mid)
    ttl = body.get("ttl") if isinstance(body, dict) else None
    if ttl is None and q.get("ttl"):
        ttl = q["ttl"][0]
    try:
        ttl = int(ttl) if ttl is not None else DEFAULT_TTL
    except (TypeError, ValueError):
        raise ApiError(400, f"invalid ttl {ttl!r}")
    if ttl <= 0:
        raise ApiError(400, "ttl must be positive")
    description = str(body.get("description", "")) if isinstance(body, dict) else ""
    lease = live_lease(a, mid)
    if lease:
        if nonce and nonce == lease["nonce"]:
            lease["expires_at"] = time.time() + ttl
            return 200, lease_json(lease)
        raise ApiError(409, "held", {"status": "error", "message": held_message(mid, lease), "code": "invalid"})
    owner = a["owner"] or OWNER_OF.get("current") or OWNER[0]
    lease = {"nonce": "%012x" % random.getrandbits(48), "expires_at": time.time() + ttl, "owner": owner,
             "description": description, "version": m["instance_id"]}
    a["leases"][mid] = lease
    COND.notify_all()
    return 201, lease_json(lease)


def release_lease(app, mid, nonce):
    a, m = find(app, mid)
    lease = live_lease(a, mid)
    if not lease:
        raise ApiError(404, "lease not found")
    if nonce != lease["nonce"]:
        raise ApiError(409, held_message(mid, lease) + (f"; {NONCE_HEADER} does not match" if nonce
                                                        else f"; {NONCE_HEADER} is required"))
    del a["leases"][mid]
    COND.notify_all()
    return {"status": "success", "data": {"ok": True}}


def add_fault(f):
    if not isinstance(f, dict):
        raise ApiError(400, "a fault must be an object")
    kind = f.get("kind")
    out = {"ok": True}
    if kind in ("fail_start", "check_critical"):
        if "after" in f:
            try:
                f["after"] = float(f["after"])
            except (TypeError, ValueError):
                raise ApiError(400, '"after" must be a number of seconds')
    elif kind == "hold_lease":
        app, mid = f.get("app"), f.get("machine")
        a, m = find(app, mid)
        try:
            ttl = float(f.get("ttl", 600))
        except (TypeError, ValueError):
            raise ApiError(400, '"ttl" must be a number')
        lease = {"nonce": "%012x" % random.getrandbits(48), "expires_at": time.time() + ttl,
                 "owner": str(f.get("owner", "ci@example.com")), "description": str(f.get("description", "")),
                 "version": m["instance_id"]}
        a["leases"][mid] = lease
        f["nonce"] = lease["nonce"]
        out["lease"] = lease_json(lease)
    elif kind == "host":
        if not f.get("machine"):
            raise ApiError(400, '"machine" is required')
        HOSTS[(f.get("app"), f["machine"])] = str(f.get("status", "unreachable"))
    elif kind == "http":
        try:
            re.compile(f.get("path_re", ""))
            f["status"] = int(f.get("status", 500))
            f["times"] = int(f.get("times", 1))
        except (re.error, TypeError, ValueError) as e:
            raise ApiError(400, f"bad http fault: {e}")
    else:
        raise ApiError(400, f"unknown fault kind {kind!r}")
    FAULTS.append(f)
    COND.notify_all()
    return out


def clear_faults():
    for f in FAULTS:
        if f.get("kind") == "hold_lease":
            a = APPS.get(f.get("app"))
            if a and a["leases"].get(f.get("machine"), {}).get("nonce") == f.get("nonce"):
                del a["leases"][f["machine"]]
    FAULTS.clear()
    HOSTS.clear()
    COND.notify_all()


def injected(method, path):
    for f in FAULTS:
        if f.get("kind") != "http" or f["times"] == 0:
            continue
        if f.get("method") and f["method"].upper() != method:
            continue
        if f.get("path_re") and not re.search(f["path_re"], path):
            continue
        if f["times"] > 0:
            f["times"] -= 1
        status = f["status"]
        headers = {}
        if status == 429 or "retry_after" in f:
            headers["Retry-After"] = str(f.get("retry_after", 1))
        return ApiError(status, f.get("message") or f"injected {status}", headers=headers)
    return None


def state_dump():
    apps = {}
    for name, a in APPS.items():
        for mid in list(a["leases"]):
            live_lease(a, mid)
        apps[name] = {
            "machines": [{"id": m["id"], "name": m["name"], "region": m["region"], "state": m["state"],
                          "instance_id": m["instance_id"], "image": m["config"].get("image"),
                          "digest": m["image_ref"].get("digest"), "checks": copy.deepcopy(m["checks"]),
                          "metadata": copy.deepcopy(m["config"].get("metadata", {}))}
                         for m in (a["machines"][i] for i in a["order"])],
            "leases": {mid: lease_json(l)["data"] for mid, l in a["leases"].items()},
        }
    return {"apps": apps, "images": copy.deepcopy(IMAGES), "faults": copy.deepcopy(FAULTS),
            "delays": dict(DELAYS)}


ROUTES = [
    (re.compile(r"^/apps/([^/]+)/machines$"), "machines"),
    (re.compile(r"^/apps/([^/]+)/machines/([^/]+)$"), "machine"),
    (re.compile(r"^/apps/([^/]+)/machines/([^/]+)/wait$"), "wait"),
    (re.compile(r"^/apps/([^/]+)/machines/([^/]+)/lease$"), "lease"),
    (re.compile(r"^/apps/([^/]+)/machines/([^/]+)/metadata$"), "metadata"),
    (re.compile(r"^/apps/([^/]+)/machines/([^/]+)/metadata/([^/]+)$"), "metadata_key"),
]


def api(method, path, q, body, nonce):
    """One /v1 request (path without /v1) -> (status, json body or None)."""
    for rx, name in ROUTES:
        mt = rx.match(path)
        if mt:
            break
    else:
        raise ApiError(404, f"not found: {path}")
    args = [urllib.parse.unquote(g) for g in mt.groups()]
    if name == "wait":
        if method != "GET":
            raise ApiError(405, "method not allowed")
        return 200, wait(args[0], args[1], q)   # wait() takes the lock itself, to block on it
    with COND:
        if name == "machines" and method == "GET":
            a, _ = find(args[0])
            out = []
            for mid in a["order"]:
                m = a["machines"][mid]
                if m["state"] in ("destroyed", "destroying") and q.get("include_deleted", ["false"])[0] != "true":
                    continue
                if q.get("region") and m["region"] != q["region"][0]:
                    continue
                meta = m["config"].get("metadata", {})
                if any(k.startswith("metadata.") and meta.get(k[9:]) != v[0] for k, v in q.items()):
                    continue
                out.append(public(args[0], m))
            return 200, out
        if name == "machine" and method == "GET":
            a, m = find(*args)
            return 200, public(args[0], m)
        if name == "machine" and method == "POST":
            return 200, update(args[0], args[1], body, nonce)
        if name == "lease" and method == "POST":
            return take_lease(args[0], args[1], body, q, nonce)
        if name == "lease" and method == "GET":
            a, m = find(*args)
            lease = live_lease(a, args[1])
            if not lease:
                raise ApiError(404, "lease not found")
            return 200, lease_json(lease)
        if name == "lease" and method == "DELETE":
            return 200, release_lease(args[0], args[1], nonce)
        if name == "metadata" and method == "GET":
            a, m = find(*args)
            return 200, copy.deepcopy(m["config"].get("metadata", {}))
        if name == "metadata_key" and method in ("POST", "DELETE"):
            a, m = find(args[0], args[1])
            meta = m["config"].setdefault("metadata", {})
            if method == "POST":
                if not isinstance(body, dict) or "value" not in body:
                    raise ApiError(400, 'the request body must be {"value": ...}')
                meta[args[2]] = str(body["value"])
            else:
                meta.pop(args[2], None)
            m["updated_at"] = now_iso()
            COND.notify_all()
            return 204, None
        raise ApiError(405, "method not allowed")


def control(method, path, body):
    with COND:
        if path == "/_stub/apps" and method == "POST":
            if not isinstance(body, dict):
                raise ApiError(400, "the request body must be an object")
            return 201, seed_app(body)
        if path == "/_stub/images" and method == "POST":
            if not isinstance(body, dict):
                raise ApiError(400, "the request body must be an object")
            registry, repository, tag, digest = parse_image(body.get("ref"))
            labels = body.get("labels") or {}
            if not isinstance(labels, dict):
                raise ApiError(400, '"labels" must be an object')
            IMAGES[image_key(registry, repository, digest)] = {str(k): str(v) for k, v in labels.items()}
            return 201, {"ok": True}
        if path == "/_stub/config" and method == "POST":
            if not isinstance(body, dict):
                raise ApiError(400, "the request body must be an object")
            for k in DELAYS:
                if k in body:
                    try:
                        DELAYS[k] = max(0.0, float(body[k]))
                    except (TypeError, ValueError):
                        raise ApiError(400, f"{k} must be a number")
            return 200, dict(DELAYS)
        if path == "/_stub/fault" and method == "POST":
            return 201, add_fault(body)
        if path == "/_stub/faults" and method == "DELETE":
            clear_faults()
            return 200, {"ok": True}
        if path == "/_stub/log" and method == "GET":
            return 200, list(LOG)
        if path == "/_stub/log" and method == "DELETE":
            LOG.clear()
            return 200, {"ok": True}
        if path == "/_stub/state" and method == "GET":
            return 200, state_dump()
        raise ApiError(404, f"not found: {method} {path}")


def authorised(header):
    for scheme in ("Bearer ", "FlyV1 "):
        if header.startswith(scheme):
            return TOKENS.get(header[len(scheme):].strip())
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without this, Nagle's algorithm
    # and delayed ACKs hold every keep-alive answer for 40 ms.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def answer(self, status, obj, headers=None):
        body = b"" if obj is None or status == 204 else json.dumps(obj).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path.rstrip("/") or "/", url.query
        nonce = self.headers.get(NONCE_HEADER) or None
        status, obj, headers = 500, None, {}
        try:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self.close_connection = True
                raise ApiError(400, "invalid Content-Length")
            raw = self.rfile.read(length) if length > 0 else b""
            body = None
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError as e:
                    raise ApiError(400, f"invalid JSON body: {e}")
            if path.startswith("/_stub/"):
                status, obj = control(self.command, path, body)
            elif path == "/v1" or path.startswith("/v1/"):
                with COND:
                    fault = injected(self.command, path)
                    owner = authorised(self.headers.get("Authorization", ""))
                if fault:
                    raise fault
                if owner is None:
                    raise ApiError(401, "unauthorized: a valid Bearer or FlyV1 token is required")
                OWNER_OF.current = owner
                status, obj = api(self.command, path[3:], urllib.parse.parse_qs(query), body, nonce)
            else:
                raise ApiError(404, f"not found: {path}")
        except ApiError as e:
            status, obj, headers = e.status, e.body, e.headers
        except Exception as e:  # never a traceback on the wire
            status, obj = 500, {"error": f"stub internal error: {type(e).__name__}: {e}"}
        if path.startswith("/v1"):
            with COND:
                SEQ[0] += 1
                LOG.append({"seq": SEQ[0], "t": round(time.time(), 6), "method": self.command, "path": path,
                            "query": query, "nonce": nonce, "status": status})
        self.answer(status, obj, headers)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        pass  # a client that hung up is not news


class _Owner(threading.local):
    current = None

    def get(self, key):
        return getattr(self, key, None)


OWNER_OF = _Owner()
OWNER = ["shipdeck@stub.test"]


def bench_seed(n_apps, n_machines, regions):
    for i in range(n_apps):
        app = f"app-{i + 1:03d}"
        digest = "sha256:" + hashlib.sha256(app.encode()).hexdigest()
        image = f"registry.fly.io/{app}@{digest}"
        labels = {"org.opencontainers.image.revision": hashlib.sha1(app.encode()).hexdigest()[:12],
                  "org.opencontainers.image.source": f"https://github.com/acme/{app}"}
        seed_app({"app": app, "machines": [
            {"region": regions[j % len(regions)], "image": image, "labels": labels,
             "checks": {"health": "passing"}} for j in range(n_machines)]})


def main():
    p = argparse.ArgumentParser(description="Fly.io Machines API stub")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--token", default="fly-stub-token")
    p.add_argument("--owner", default=OWNER[0], help="the token's identity (lease owner)")
    p.add_argument("--start-delay", type=float, default=0.2)
    p.add_argument("--check-delay", type=float, default=0.2)
    p.add_argument("--apps", type=int, default=0)
    p.add_argument("--machines", type=int, default=0)
    p.add_argument("--regions", default="fra,ams")
    a = p.parse_args()
    OWNER[0] = a.owner
    TOKENS[a.token] = a.owner
    DELAYS.update(start_delay=a.start_delay, check_delay=a.check_delay)
    if a.apps:
        with COND:
            bench_seed(a.apps, a.machines, [r for r in a.regions.split(",") if r] or ["fra"])
    server = Server(("127.0.0.1", a.port), Handler)
    print("ready", server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
