"""Self-test of fly_machines.py (the Fly.io Machines API stub, issue 30).

Usage: python3 tests/support/fly_machines_check.py
Starts the stub as a subprocess on a free port (stdlib only, urllib), runs
the checks below, prints one line per check and exits 1 if any failed.
"""
import concurrent.futures
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
STUB = os.path.join(HERE, "fly_machines.py")
TOKEN = "check-token"
OLD = "sha256:" + "1" * 64
NEW = "sha256:" + "2" * 64
BAD = "sha256:" + "3" * 64
CRIT = "sha256:" + "4" * 64
REPO = "registry.fly.io/edge"
FAILED = []


def start(*args):
    p = subprocess.Popen([sys.executable, STUB, "--port", "0", "--token", TOKEN, "--owner", "alice@acme.dev",
                          "--start-delay", "0.1", "--check-delay", "0.1", *args],
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    if line[:1] != ["ready"]:
        p.kill()
        raise SystemExit(f"stub did not start: {line}")
    return p, f"http://127.0.0.1:{line[1]}"


def call(base, method, path, body=None, nonce=None, token=TOKEN, scheme="Bearer", timeout=70):
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    req = urllib.request.Request(base + path, data=data, method=method)
    if token:
        req.add_header("Authorization", f"{scheme} {token}")
    if nonce:
        req.add_header("fly-machine-lease-nonce", nonce)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw, status, headers = r.read(), r.status, r.headers
    except urllib.error.HTTPError as e:
        raw, status, headers = e.read(), e.code, e.headers
    try:
        obj = json.loads(raw) if raw else None
    except ValueError:
        obj = {"_raw": raw.decode(errors="replace")}
    return status, obj, headers


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f"  ({detail})" if detail else ""), flush=True)
    if not ok:
        FAILED.append(name)


def machine_until(base, app, mid, pred, limit=5.0):
    deadline = time.time() + limit
    while True:
        _, m, _ = call(base, "GET", f"/v1/apps/{app}/machines/{mid}")
        if pred(m) or time.time() > deadline:
            return m
        time.sleep(0.05)


def update_body(m, digest):
    cfg = json.loads(json.dumps(m["config"]))
    cfg["image"] = f"{REPO}@{digest}"
    return {"config": cfg, "current_version": m["instance_id"]}


def main_checks(base):
    s, out, _ = call(base, "POST", "/_stub/apps", {"app": "edge", "machines": [
        {"id": f"m{i}", "region": r, "image": f"{REPO}@{OLD}", "checks": {"health": "passing"},
         "labels": {"org.opencontainers.image.revision": "1a2b3c4d"}}
        for i, r in enumerate(["fra", "fra", "ams", "ams"])]})
    check("seed app edge (4 machines)", s == 201 and len(out) == 4, f"status {s}")
    for d, rev in ((NEW, "5e6f7a8b"), (BAD, "dead"), (CRIT, "c0ffee")):
        call(base, "POST", "/_stub/images", {"ref": f"{REPO}@{d}",
                                              "labels": {"org.opencontainers.image.revision": rev}})

    s, ms, _ = call(base, "GET", "/v1/apps/edge/machines")
    m0 = ms[0] if s == 200 and ms else {}
    shape = all(k in m0 for k in ("id", "name", "state", "region", "instance_id", "private_ip", "created_at",
                                  "updated_at", "image_ref", "config", "checks", "events"))
    check("list: 4 machines, fly-go field names", s == 200 and len(ms) == 4 and shape
          and m0["image_ref"]["digest"] == OLD and m0["image_ref"]["registry"] == "registry.fly.io"
          and m0["image_ref"]["labels"]["org.opencontainers.image.revision"] == "1a2b3c4d"
          and m0["checks"][0]["status"] == "passing", f"status {s}")
    s, _, _ = call(base, "GET", "/v1/apps/edge/machines", scheme="FlyV1")
    check("FlyV1 scheme accepted", s == 200, f"status {s}")
    s, out, _ = call(base, "GET", "/v1/apps/nope/machines")
    check("unknown app -> 404 {error}", s == 404 and out == {"error": "app not found"}, f"{s} {out}")
    s, out, _ = call(base, "GET", "/v1/apps/edge/machines/zzz")
    check("unknown machine -> 404 {error}", s == 404 and "error" in out, f"{s} {out}")

    # lease -> update with nonce -> wait started -> checks passing
    s, lease, _ = call(base, "POST", "/v1/apps/edge/machines/m0/lease", {"ttl": 30, "description": "shipdeck run-1"})
    nonce = (lease or {}).get("data", {}).get("nonce")
    check("lease m0 -> 201 {status,data{nonce,expires_at,owner,description,version}}",
          s == 201 and lease["status"] == "success" and nonce and lease["data"]["owner"] == "alice@acme.dev"
          and lease["data"]["version"] == m0["instance_id"] and lease["data"]["expires_at"] > time.time(),
          f"{s} {lease}")
    s, again, _ = call(base, "POST", "/v1/apps/edge/machines/m0/lease?ttl=30", nonce=nonce)
    check("refresh with own nonce -> same nonce", s == 200 and again["data"]["nonce"] == nonce, f"{s} {again}")
    s, out, _ = call(base, "POST", "/v1/apps/edge/machines/m0", update_body(m0, NEW))
    check("update without nonce on a leased machine -> 409", s == 409 and "error" in out, f"{s} {out}")
    s, out, _ = call(base, "POST", "/v1/apps/edge/machines/m0", b"{not json", nonce=nonce)
    check("bad JSON -> 400 {error}", s == 400 and "error" in out, f"{s} {out}")
    bad = update_body(m0, NEW)
    bad["config"]["image"] = "registry.fly.io/edge:latest"
    s, out, _ = call(base, "POST", "/v1/apps/edge/machines/m0", bad, nonce=nonce)
    check("image without digest -> 400 {error}", s == 400 and "error" in out, f"{s} {out}")
    s, out, _ = call(base, "POST", "/v1/apps/edge/machines/m0", update_body(m0, "sha256:" + "9" * 64), nonce=nonce)
    check("image the registry lacks -> 422 {error}", s == 422 and "error" in out, f"{s} {out}")
    s, up, _ = call(base, "POST", "/v1/apps/edge/machines/m0", update_body(m0, NEW), nonce=nonce)
    check("update with nonce -> replacing, new instance_id", s == 200 and up["state"] == "replacing"
          and up["instance_id"] != m0["instance_id"] and up["image_ref"]["digest"] == NEW
          and up["image_ref"]["labels"]["org.opencontainers.image.revision"] == "5e6f7a8b", f"{s}")
    s, out, _ = call(base, "POST", "/v1/apps/edge/machines/m0", update_body(m0, NEW), nonce=nonce)
    check("stale current_version -> 409", s == 409 and "error" in out, f"{s} {out}")
    t = time.time()
    s, out, _ = call(base, "GET", f"/v1/apps/edge/machines/m0/wait?state=started&timeout=10&instance_id={up['instance_id']}")
    check("wait started -> 200 {ok:true}", s == 200 and out == {"ok": True}, f"{s} {out} {time.time() - t:.2f}s")
    m = machine_until(base, "edge", "m0", lambda m: m["checks"] and m["checks"][0]["status"] == "passing")
    check("checks passing after check_delay", m["state"] == "started" and m["checks"][0]["status"] == "passing"
          and m["events"][0]["type"] == "start", f"{m['checks']}")

    # a second deployer
    s, out, _ = call(base, "POST", "/v1/apps/edge/machines/m0/lease", {"ttl": 30}, token=TOKEN)
    check("second lease while held -> 409 naming the holder and expiry",
          s == 409 and out.get("status") == "error" and "lease currently held by alice@acme.dev" in out.get("message", "")
          and "expires at" in out["message"] and out.get("code") == "invalid", f"{s} {out}")
    s, out, _ = call(base, "POST", "/_stub/fault", {"kind": "hold_lease", "app": "edge", "machine": "m3",
                                                    "owner": "ci@acme.dev", "ttl": 600})
    s, out, _ = call(base, "POST", "/v1/apps/edge/machines/m3/lease", {"ttl": 30})
    check("hold_lease by another owner -> 409 naming ci@acme.dev", s == 409
          and "held by ci@acme.dev" in out.get("message", ""), f"{s} {out}")
    s, out, _ = call(base, "GET", "/v1/apps/edge/machines/m3/lease")
    check("GET lease names owner", s == 200 and out["data"]["owner"] == "ci@acme.dev", f"{s} {out}")

    # fail_start
    call(base, "POST", "/_stub/fault", {"kind": "fail_start", "digest": BAD})
    s, l1, _ = call(base, "POST", "/v1/apps/edge/machines/m1/lease", {"ttl": 30})
    n1 = l1["data"]["nonce"]
    _, m1, _ = call(base, "GET", "/v1/apps/edge/machines/m1")
    s, up1, _ = call(base, "POST", "/v1/apps/edge/machines/m1", update_body(m1, BAD), nonce=n1)
    t = time.time()
    s, out, _ = call(base, "GET", f"/v1/apps/edge/machines/m1/wait?state=started&timeout=1&instance_id={up1['instance_id']}")
    took = time.time() - t
    _, m1, _ = call(base, "GET", "/v1/apps/edge/machines/m1")
    exit_ev = [e for e in m1["events"] if e["type"] == "exit"]
    check("fail_start -> wait 408 within its timeout, state stopped, exit event",
          s == 408 and "error" in out and 0.9 < took < 2.5 and m1["state"] == "stopped"
          and exit_ev and exit_ev[0]["request"]["exit_event"]["exit_code"] == 1, f"{s} {took:.2f}s {m1['state']}")
    s, out, _ = call(base, "GET", "/v1/apps/edge/machines/m1/wait?state=running")
    check("wait for a bad state -> 400", s == 400 and "error" in out, f"{s} {out}")

    # check_critical
    call(base, "POST", "/_stub/fault", {"kind": "check_critical", "digest": CRIT, "check": "health",
                                        "output": "HTTP GET /health: 503 Service Unavailable", "after": 0.2})
    s, l2, _ = call(base, "POST", "/v1/apps/edge/machines/m2/lease", {"ttl": 30})
    n2 = l2["data"]["nonce"]
    _, m2, _ = call(base, "GET", "/v1/apps/edge/machines/m2")
    s, up2, _ = call(base, "POST", "/v1/apps/edge/machines/m2", update_body(m2, CRIT), nonce=n2)
    s, out, _ = call(base, "GET", f"/v1/apps/edge/machines/m2/wait?state=started&timeout=5&version={up2['instance_id']}")
    m2 = machine_until(base, "edge", "m2", lambda m: m["checks"] and m["checks"][0]["status"] == "critical")
    check("check_critical -> started, then health critical with its output",
          s == 200 and m2["checks"] and m2["checks"][0]["status"] == "critical"
          and m2["checks"][0]["output"] == "HTTP GET /health: 503 Service Unavailable", f"{m2['checks']}")

    # release
    s, out, _ = call(base, "DELETE", "/v1/apps/edge/machines/m0/lease", nonce="wrong")
    check("release with a wrong nonce -> 409", s == 409, f"{s} {out}")
    released = []
    for mid, n in (("m0", nonce), ("m1", n1), ("m2", n2)):
        s, out, _ = call(base, "DELETE", f"/v1/apps/edge/machines/{mid}/lease", nonce=n)
        released.append((s, out))
    check("release by nonce -> 200 {status:success,data:{ok:true}}",
          all(s == 200 and o == {"status": "success", "data": {"ok": True}} for s, o in released), f"{released}")
    s, out, _ = call(base, "GET", "/v1/apps/edge/machines/m0/lease")
    check("released lease -> 404 lease not found", s == 404 and out == {"error": "lease not found"}, f"{s} {out}")
    s, out, _ = call(base, "POST", "/v1/apps/edge/machines/m0/lease", {"ttl": 1})
    time.sleep(1.2)
    s, out2, _ = call(base, "POST", "/v1/apps/edge/machines/m0/lease", {"ttl": 30})
    check("lease expires on the wall clock", s == 201 and out2.get("status") == "success"
          and out2["data"]["nonce"] != out["data"]["nonce"], f"{out2}")
    call(base, "DELETE", "/v1/apps/edge/machines/m0/lease", nonce=out2["data"]["nonce"])

    # metadata, http faults
    s, _, _ = call(base, "POST", "/v1/apps/edge/machines/m0/metadata/shipdeck_pause", {"value": "run=1"})
    _, md, _ = call(base, "GET", "/v1/apps/edge/machines/m0/metadata")
    check("metadata write without nonce -> 204, read back", s == 204 and md.get("shipdeck_pause") == "run=1", f"{s} {md}")
    call(base, "POST", "/_stub/fault", {"kind": "http", "method": "GET", "path_re": "/apps/edge/machines$",
                                        "status": 429, "times": 1, "retry_after": 2})
    s1, o1, h1 = call(base, "GET", "/v1/apps/edge/machines")
    s2, _, _ = call(base, "GET", "/v1/apps/edge/machines")
    check("http fault 429 + Retry-After, once", s1 == 429 and h1.get("Retry-After") == "2" and "error" in o1
          and s2 == 200, f"{s1} {h1.get('Retry-After')} then {s2}")

    # request log
    s, log, _ = call(base, "GET", "/_stub/log")
    keys_ok = all(set(e) == {"seq", "t", "method", "path", "query", "nonce", "status"} for e in log)
    updates = [e for e in log if e["method"] == "POST" and e["path"].count("/") == 5 and e["status"] == 200]
    releases = [e for e in log if e["method"] == "DELETE" and e["path"].endswith("/lease") and e["status"] == 200]
    seqs = [e["seq"] for e in log]
    check("request log: fields, every accepted update carried a nonce, releases logged",
          s == 200 and keys_ok and len(updates) == 3 and all(e["nonce"] for e in updates)
          and len(releases) == 4 and seqs == sorted(seqs)
          and any(e["query"] == "ttl=30" for e in log), f"{len(log)} entries, {len(updates)} updates")
    call(base, "DELETE", "/_stub/log")
    _, log, _ = call(base, "GET", "/_stub/log")
    check("DELETE /_stub/log empties it", log == [], f"{log}")

    # auth
    s, out, _ = call(base, "GET", "/v1/apps/edge/machines", token=None)
    s2, _, _ = call(base, "GET", "/v1/apps/edge/machines", token="wrong")
    check("401 without the seeded token", s == 401 and "error" in out and s2 == 401, f"{s} {s2}")

    s, st, _ = call(base, "GET", "/_stub/state")
    digests = [m["digest"] for m in st["apps"]["edge"]["machines"]]
    check("/_stub/state: digests and leases", s == 200 and digests == [NEW, BAD, CRIT, OLD]
          and list(st["apps"]["edge"]["leases"]) == ["m3"], f"{digests} {list(st['apps']['edge']['leases'])}")
    s, _, _ = call(base, "DELETE", "/_stub/faults")
    _, st, _ = call(base, "GET", "/_stub/state")
    check("DELETE /_stub/faults clears faults and held leases", st["faults"] == [] and st["apps"]["edge"]["leases"] == {})


def bench_checks():
    t = time.time()
    p, base = start("--apps", "100", "--machines", "10", "--regions", "fra,ams")
    try:
        started = time.time() - t
        s, st, _ = call(base, "GET", "/_stub/state")
        n = sum(len(a["machines"]) for a in st["apps"].values())
        check("seed 100 apps x 10 machines via flags", len(st["apps"]) == 100 and n == 1000,
              f"{n} machines, ready in {started:.2f}s")
        urls = [f"/v1/apps/app-{i + 1:03d}/machines" for i in range(100)]
        t = time.time()
        with concurrent.futures.ThreadPoolExecutor(100) as ex:
            res = list(ex.map(lambda u: call(base, "GET", u, timeout=10), urls))
        took = time.time() - t
        ok = all(s == 200 and len(o) == 10 and {m["region"] for m in o} == {"fra", "ams"} for s, o, _ in res)
        check("100 concurrent list GETs answered", ok and took < 5, f"{took:.2f}s")
    finally:
        p.kill()
        p.wait()


def main():
    p, base = start()
    try:
        main_checks(base)
    except Exception as e:  # a crash is a failed check, not a traceback
        check("no crash in the main checks", False, f"{type(e).__name__}: {e}")
    finally:
        p.kill()
        p.wait()
    bench_checks()
    print(f"{'FAILED: ' + ', '.join(FAILED) if FAILED else 'all passed'}")
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
