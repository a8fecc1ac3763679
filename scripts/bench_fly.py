"""Benchmark of `shipdeck status` reading N Fly apps of M machines each.

Starts the Machines API stub (tests/support/fly_machines.py: no Fly emulator
exists) on a free 127.0.0.1 port with `--apps N --machines M --regions
fra,ams`, writes one environment of N `platform = "fly"` services (app-001 …),
then runs `status --json` three times. Each reading's requests are counted
from the stub's own request log (`GET /_stub/log`), by method and path shape,
beside the floor of a reading: one `GET /v1/apps/{app}/machines` per app and
nothing else. Prints wall time, CPU and peak RSS per reading, and checks
every cell (digest, revision, running/desired, both regions, the commit
label) against what the stub seeded.

Run through scripts/bench-fly.sh. BENCH_KEEP=1 keeps the work directory.
Usage: bench_fly.py N M BINARY
"""

import collections
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

STUB = os.path.join("tests", "support", "fly_machines.py")
TOKEN = "fly-stub-token"
ENV = "prod"
REGIONS = ["fra", "ams"]


def start_stub(n, m, work):
    log = open(os.path.join(work, "stub.err"), "w")
    proc = subprocess.Popen(
        [sys.executable, STUB, "--port", "0", "--apps", str(n), "--machines", str(m),
         "--regions", ",".join(REGIONS)],
        stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    line = proc.stdout.readline().decode().strip()
    if not line.startswith("ready "):
        sys.exit(f"the stub did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


def control(url, method, path):
    req = urllib.request.Request(url + path, method=method)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def app_name(i):
    return f"app-{i:03d}"


def config_text(n, url):
    lines = [
        'refresh_interval = "5s"', "", "[[environment]]", f'name = "{ENV}"', 'platform = "fly"',
        "[environment.fly]", f'api_url = "{url}"', 'token = "${secret:FLY_API_TOKEN}"',
    ]
    for i in range(1, n + 1):
        lines += ["", "[[environment.service]]", f'name = "svc{i}"',
                  "[environment.service.fly]", f'app = "{app_name(i)}"']
    return "\n".join(lines) + "\n"


def shape(method, path):
    """`GET /v1/apps/*/machines`: a request with its app and machine ids folded."""
    path = re.sub(r"^/v1/apps/[^/]+", "/v1/apps/*", path)
    path = re.sub(r"^(/v1/apps/\*/machines)/[^/]+", r"\1/*", path)
    return f"{method} {path}"


def run_status(binary, config, home, url):
    control(url, "DELETE", "/_stub/log")
    timing = os.path.join(home, "time.txt")
    env = {**os.environ, "NO_COLOR": "1", "SHIPDECK_SECRET_FLY_API_TOKEN": TOKEN,
           "XDG_DATA_HOME": os.path.join(home, "data"), "XDG_STATE_HOME": os.path.join(home, "state"),
           "XDG_CACHE_HOME": os.path.join(home, "cache"),
           "SHIPDECK_LOG_FILE": os.path.join(home, "shipdeck.log")}
    env.pop("SHIPDECK_CONFIG", None)
    env.pop("RUST_LOG", None)
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%U %S %M", "-o", timing, binary, "--config", config,
         "status", "--json"],
        env=env, capture_output=True, timeout=600,
    )
    wall = time.perf_counter() - t0
    user, system, rss_kib = open(timing).read().strip().splitlines()[-1].split()
    if proc.returncode not in (0, 1, 3):
        sys.exit(f"status failed ({proc.returncode}):\n{proc.stderr.decode()[-3000:]}")
    log = control(url, "GET", "/_stub/log")
    ops = collections.Counter(f"{shape(r['method'], r['path'])} {r['status']}" for r in log)
    return (json.loads(proc.stdout), proc.returncode, wall, float(user) + float(system),
            int(rss_kib), proc.stderr.decode(), ops)


def check(report, n, m):
    wrong = []
    cells = 0
    for svc in report["services"]:
        i = int(svc["name"][3:])
        app = app_name(i)
        digest = "sha256:" + hashlib.sha256(app.encode()).hexdigest()
        commit = hashlib.sha1(app.encode()).hexdigest()[:7]
        for cell in svc["cells"]:
            cells += 1
            machines = sum(1 for l in cell.get("detail", {}).get("lines", []) if l.get("label") == "machine")
            regions = {p.get("region") for p in cell.get("regions") or []}
            problems = []
            if cell.get("digest") != digest:
                problems.append(f"digest {cell.get('digest')}")
            if cell.get("revision") != f"{app}@{digest[7:19]}":
                problems.append(f"revision {cell.get('revision')}")
            if (cell.get("running"), cell.get("desired")) != (m, m):
                problems.append(f"running/desired {cell.get('running')}/{cell.get('desired')}")
            if machines != m:
                problems.append(f"{machines} machine lines")
            if regions != set(REGIONS[:m]) or len(cell.get("regions") or []) != m:
                problems.append(f"regions {sorted(regions)}")
            if not (cell.get("image_revision") or "").startswith(commit):
                problems.append(f"commit label {cell.get('image_revision')}")
            if cell.get("rollout") != "completed" or cell.get("unknown"):
                problems.append(f"rollout {cell.get('rollout')} unknown {cell.get('unknown')}")
            if problems:
                wrong.append(f"{svc['name']}: " + ", ".join(problems))
    if cells != n:
        wrong.append(f"{cells} cells, {n} apps")
    return wrong


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    binary = sys.argv[3] if len(sys.argv) > 3 else "target/debug/shipdeck"
    work = tempfile.mkdtemp(prefix="shipdeck-bench-fly-")
    stub = None
    try:
        t0 = time.perf_counter()
        stub, url = start_stub(n, m, work)
        print(f"stub: {n} apps x {m} machines ({','.join(REGIONS)}) at {url}, ready in "
              f"{time.perf_counter() - t0:.1f} s; binary {binary}")
        config = os.path.join(work, "shipdeck.toml")
        with open(config, "w") as f:
            f.write(config_text(n, url))
        home = os.path.join(work, "home")
        os.makedirs(home)
        print(f"floor of one reading: {n} GET /v1/apps/*/machines (one per app), nothing else")
        ok = True
        for run in range(1, 4):
            report, code, wall, cpu, rss, stderr, ops = run_status(binary, config, home, url)
            lists = ops.get("GET /v1/apps/*/machines 200", 0)
            total = sum(ops.values())
            print(f"reading {run}: exit {code}, wall {wall:.2f} s, cpu {cpu:.2f} s, "
                  f"peak RSS {rss / 1024:.1f} MB, requests {total} (list {lists}, floor {n})")
            for op, count in sorted(ops.items()):
                print(f"    {op:<44} {count:>6}")
            wrong = check(report, n, m)
            print(f"    cells checked: {n}, wrong: {len(wrong)}")
            for w in wrong[:10]:
                print(f"    ! {w}")
            if stderr.strip():
                print("    stderr: " + stderr.strip()[-2000:].replace("\n", "\n            "))
            ok = ok and not wrong and lists == n and total == n and code == 0
        sys.exit(0 if ok else 1)
    finally:
        if stub is not None:
            stub.terminate()
            try:
                stub.wait(timeout=10)
            except subprocess.TimeoutExpired:
                stub.kill()
        if os.environ.get("BENCH_KEEP"):
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
