"""The Kubernetes platform's three figures (issue 31), against the API stub.

Run through scripts/bench-kube.sh, which starts the stub
(tests/support/kube_api.py, with its Argo controller) on a free 127.0.0.1
port, makes the work directory (TMUX_TMPDIR points there, so every tmux
server of the run has its socket in it) and stops everything on exit.

Here: N Healthy canary Rollouts are seeded in namespace `bench`
(`POST /_stub/seed-rollouts`: svc-0001 …, each image pinned to
sha256(f"bench/{name}")), a kubeconfig and a config of one environment
(`platform = "kubernetes"`) with one service per Rollout are written, then
  1a. `status --json`, start to exit, RUNS times; every cell's digest,
      presence and rollout checked against the seed;
  1b. the console (`shipdeck --config …` in tmux, 120x40), RUNS times, from
      launch until the board shows the reading: the environment's header
      says `✓ read`, the top bar no longer says `loading`, no row says
      `reading…`, and svc-0001's row shows its short digest (polled every
      10 ms). After each run `G` jumps to the last row, whose digest must be
      there too (not timed);
  2.  one console idle IDLE seconds after its first board: the stub's
      logged API requests in that window, watches (`watch=` in the query)
      apart from the rest, the watches open at the end, the console's CPU,
      and its readings in the window (its log's `environment read` lines:
      how often it re-read the environment and how long a reading took);
  3.  in that console, TRIALS times: a merge patch on a visible Rollout's
      /status adding an `InvalidSpec` condition (phase Degraded, message
      `InvalidSpec: bench`), timed from just before the PATCH until its row
      shows `✗` (capture-pane every 20 ms); then the condition is removed
      and the row must show `✓` again (timed the same way). The stub's
      controller reconciles every Rollout written through the API and would
      put a bare `phase: Degraded` back to Healthy on its next 50 ms tick;
      it derives Degraded from an InvalidSpec condition, so that change
      stays. Whether the top bar counts the failure (`failing`) is noted.
      Each PATCH waits a random 0-1 s first: the console reads on a clock,
      and trials a fixed time apart would land at one point of its cycle.
Last, the figures as lines to paste, and whether each target held for
every sample; the exit status is 0 only when every check and target held.

Usage: bench_kube.py N BINARY URL TOKEN WORKDIR
Environment: BENCH_RUNS (5), BENCH_IDLE (60 s), BENCH_TRIALS (10).
"""

import copy
import datetime
import hashlib
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

NS = "bench"
ENV = "prod"
COLS, ROWS = 120, 40
FIRST_BOARD_TIMEOUT = 120.0
CHANGE_TIMEOUT = 10.0
# The six watches of a watched environment: rollouts, deployments,
# replicasets, pods, events in the stage's namespace, applications in argocd.
WATCHES = 6


class Stub:
    def __init__(self, url, token):
        self.url = url
        self.token = token

    def call(self, method, path, body=None, content_type="application/json", auth=True):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", content_type)
        if auth:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def control(self, method, path):
        code, body = self.call(method, path, auth=False)
        if not 200 <= code < 300:
            sys.exit(f"{method} {path}: {code} {body}")
        return body

    def requests(self):
        return self.control("GET", "/_stub/requests")

    def clear(self):
        self.control("POST", "/_stub/requests/clear")

    def open_watches(self):
        return self.control("GET", "/_stub/open-watches")["count"]

    def rollout_path(self, name):
        return f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/rollouts/{name}"

    def rollout(self, name):
        code, body = self.call("GET", self.rollout_path(name))
        if code != 200:
            sys.exit(f"GET rollout {name}: {code} {body}")
        return body

    def patch_status(self, name, patch):
        code, body = self.call("PATCH", self.rollout_path(name) + "/status", patch,
                               content_type="application/merge-patch+json")
        if code != 200:
            sys.exit(f"PATCH {name}/status: {code} {body}")
        return body


def svc(i):
    return f"svc-{i:04d}"


def digest_of(name):
    return "sha256:" + hashlib.sha256(f"{NS}/{name}".encode()).hexdigest()


def write_inputs(work, url, token, n):
    kubeconfig = os.path.join(work, "kubeconfig")
    with open(kubeconfig, "w") as f:
        f.write(
            "apiVersion: v1\nkind: Config\ncurrent-context: stub\n"
            f"clusters:\n- name: stub\n  cluster:\n    server: {url}\n"
            f"users:\n- name: bench\n  user:\n    token: {token}\n"
            "contexts:\n- name: stub\n  context:\n    cluster: stub\n    user: bench\n"
        )
    lines = ['refresh_interval = "5s"', "", "[[environment]]", f'name = "{ENV}"',
             'platform = "kubernetes"', "[environment.kubernetes]",
             f'kubeconfig = "{kubeconfig}"', 'context = "stub"', f'namespace = "{NS}"']
    for i in range(1, n + 1):
        lines += ["", "[[environment.service]]", f'name = "{svc(i)}"',
                  "[environment.service.kubernetes]", f'rollout = "{svc(i)}"']
    config = os.path.join(work, "shipdeck.toml")
    with open(config, "w") as f:
        f.write("\n".join(lines) + "\n")
    return config


def shipdeck_env(work):
    home = os.path.join(work, "home")
    os.makedirs(home, exist_ok=True)
    env = {**os.environ, "HOME": home, "XDG_DATA_HOME": os.path.join(home, "data"),
           "XDG_STATE_HOME": os.path.join(home, "state"),
           "XDG_CACHE_HOME": os.path.join(home, "cache"),
           "XDG_CONFIG_HOME": os.path.join(home, "config"),
           "SHIPDECK_LOG_FILE": os.path.join(work, "shipdeck.log")}
    for k in ("SHIPDECK_CONFIG", "RUST_LOG", "KUBECONFIG", "NO_COLOR", "TMUX"):
        env.pop(k, None)
    return env


def summary(values, unit="ms", scale=1000.0):
    if not values:
        return "no samples"
    v = [x * scale for x in values]
    return (f"min {min(v):.0f} {unit} / median {statistics.median(v):.0f} {unit} / "
            f"max {max(v):.0f} {unit} (n={len(v)})")


def is_watch(r):
    return "watch=" in (r.get("query") or "")


def request_counts(reqs):
    lists = sum(1 for r in reqs if r["method"] == "GET" and not is_watch(r))
    watches = sum(1 for r in reqs if is_watch(r))
    return lists, watches, len(reqs) - lists - watches


# ---------------------------------------------------------------- 1a

def bench_status(stub, binary, config, env, n, runs):
    walls, ok = [], True
    for run in range(1, runs + 1):
        stub.clear()
        t0 = time.perf_counter()
        proc = subprocess.run([binary, "--config", config, "status", "--json"],
                              env=dict(env, NO_COLOR="1"), capture_output=True, timeout=300)
        wall = time.perf_counter() - t0
        walls.append(wall)
        lists, watches, other = request_counts(stub.requests())
        wrong = []
        try:
            report = json.loads(proc.stdout)
        except ValueError:
            report = {"services": []}
            wrong.append("stdout is not JSON")
        cells = 0
        for s in report.get("services", []):
            for c in s.get("cells", []):
                cells += 1
                problems = []
                if c.get("digest") != digest_of(s["name"]):
                    problems.append(f"digest {c.get('digest')}")
                if c.get("presence") != "deployed":
                    problems.append(f"presence {c.get('presence')}")
                if c.get("rollout") != "completed":
                    problems.append(f"rollout {c.get('rollout')}")
                if problems:
                    wrong.append(f"{s['name']}: " + ", ".join(problems))
        if cells != n:
            wrong.append(f"{cells} cells for {n} Rollouts")
        print(f"  status run {run}: exit {proc.returncode}, wall {wall * 1000:.0f} ms, "
              f"cells {cells}, wrong {len(wrong)}; requests: {lists} list, {watches} watch, "
              f"{other} other")
        for w in wrong[:5]:
            print(f"    ! {w}")
        if proc.returncode != 0 and proc.stderr.strip():
            print("    stderr: " + proc.stderr.decode(errors="replace").strip()[-1500:])
        ok = ok and proc.returncode == 0 and not wrong
    return walls, ok


# ---------------------------------------------------------------- tmux console

class Console:
    """One `shipdeck` console in a tmux server of its own."""

    seq = 0

    def __init__(self, binary, config, env):
        Console.seq += 1
        self.sock = f"kb{os.getpid()}-{Console.seq}"
        self.binary, self.config, self.env = binary, config, env
        self.pid = None

    def tmux(self, *args, check=True):
        return subprocess.run(["tmux", "-L", self.sock, *args], env=self.env,
                              capture_output=True, timeout=10, check=check)

    def start(self):
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "b", "-x", str(COLS),
                  "-y", str(ROWS), f"exec '{self.binary}' --config '{self.config}'")
        out = self.tmux("display-message", "-p", "-t", "b", "#{pane_pid}").stdout.decode().strip()
        self.pid = int(out) if out.isdigit() else None

    def screen(self):
        p = self.tmux("capture-pane", "-p", "-t", "b", check=False)
        return p.stdout.decode(errors="replace") if p.returncode == 0 else ""

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "b", *keys)

    def cpu_ticks(self):
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError, TypeError):
            return None

    def stop(self):
        self.tmux("kill-server", check=False)
        if self.pid is None:
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and os.path.exists(f"/proc/{self.pid}"):
            time.sleep(0.05)
        if os.path.exists(f"/proc/{self.pid}"):
            try:
                os.kill(self.pid, signal.SIGKILL)
                print(f"  ! the console (pid {self.pid}) did not exit on SIGHUP within 5 s: killed")
            except ProcessLookupError:
                pass
        self.pid = None


def board_read(screen, first_short):
    """Whether the screen shows the environment's reading (see the docstring)."""
    lines = screen.splitlines()
    if not lines or "loading" in lines[0] or "reading…" in screen:
        return False
    return "✓ read" in screen and re.search(rf"\bsvc-0001 {first_short}\b", screen) is not None


def first_board(binary, config, env, n):
    """Launch to the board read, seconds; the console still open (or None)."""
    con = Console(binary, config, env)
    short = digest_of(svc(1))[7:19]
    t0 = time.perf_counter()
    con.start()
    deadline = t0 + FIRST_BOARD_TIMEOUT
    while time.perf_counter() < deadline:
        screen = con.screen()
        if board_read(screen, short):
            return time.perf_counter() - t0, con, screen
        time.sleep(0.01)
    print("  ! no board within %.0f s; the screen:\n%s" % (FIRST_BOARD_TIMEOUT, con.screen()))
    con.stop()
    return None, None, None


def last_row_read(con, n):
    """`G` jumps to the last service: its digest must be on screen."""
    con.keys("G")
    want = re.compile(rf"\b{svc(n)} {digest_of(svc(n))[7:19]}\b")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if want.search(con.screen()):
            con.keys("g")
            return True
        time.sleep(0.05)
    return False


def wait_watches(stub, want, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if stub.open_watches() == want:
            return True
        time.sleep(0.1)
    return stub.open_watches() == want


def bench_console(stub, binary, config, env, n, runs):
    times, ok = [], True
    for run in range(1, runs + 1):
        if not wait_watches(stub, 0):
            print(f"  ! {stub.open_watches()} watches still open before run {run}")
        elapsed, con, screen = first_board(binary, config, env, n)
        if con is None:
            ok = False
            continue
        try:
            times.append(elapsed)
            last = last_row_read(con, n)
            print(f"  console run {run}: board read after {elapsed * 1000:.0f} ms; "
                  f"last row ({svc(n)}) read: {'yes' if last else 'NO'}")
            ok = ok and last
            if run == 1:
                print("  the first board (run 1):")
                for line in screen.splitlines()[:10]:
                    print("    | " + line.rstrip())
        finally:
            con.stop()
    return times, ok


# ---------------------------------------------------------------- 2 and 3

READ_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z\s+INFO\s.*"
                       r"environment read env=(\d+) services=(\d+) millis=(\d+)")


def readings_between(log, start, end):
    """The console's readings (its log's `environment read`) between two
    wall-clock times: [(at, millis)]."""
    out = []
    try:
        with open(log, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = READ_LINE.match(line)
                if not m:
                    continue
                at = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(
                    tzinfo=datetime.timezone.utc).timestamp() + float("0." + (m.group(2) or "0"))
                if start <= at <= end:
                    out.append((at, int(m.group(5))))
    except OSError:
        pass
    return out


def bench_idle(stub, con, idle):
    stub.clear()
    hz = os.sysconf("SC_CLK_TCK")
    c0, t0, w0 = con.cpu_ticks(), time.monotonic(), time.time()
    time.sleep(idle)
    c1, t1, w1 = con.cpu_ticks(), time.monotonic(), time.time()
    reqs = stub.requests()
    open_now = stub.open_watches()
    non_watch = [r for r in reqs if not is_watch(r)]
    watch_reqs = [r for r in reqs if is_watch(r)]
    cpu = None if c0 is None or c1 is None else (c1 - c0) / hz / (t1 - t0) * 100
    return non_watch, watch_reqs, open_now, cpu, t1 - t0, (w0, w1)


def row_of(screen, name):
    for line in screen.splitlines():
        if re.search(rf"^│[ ▶]{re.escape(name)} ", line):
            return line
    return None


def visible_services(screen):
    return re.findall(r"^│[ ▶](svc-\d{4}) ", screen, flags=re.M)


def wait_row(con, name, mark, timeout=CHANGE_TIMEOUT, poll=0.02):
    """Polls until `name`'s row shows `mark`; (seconds from now, screen) or (None, screen)."""
    t0 = time.perf_counter()
    screen = ""
    while time.perf_counter() - t0 < timeout:
        screen = con.screen()
        row = row_of(screen, name)
        if row is not None and mark in row:
            return time.perf_counter() - t0, screen
        time.sleep(poll)
    return None, screen


def bench_change(stub, con, trials):
    screen = con.screen()
    names = visible_services(screen)
    if not names:
        print("  ! no service rows on screen:\n" + screen)
        return [], [], 0, False
    down, up, header_failing, ok = [], [], 0, True
    rng = random.Random(31)
    for k in range(trials):
        name = names[k % len(names)]
        # The console reads on a clock: a change sent a fixed time after the
        # last one would land at the same point of its cycle every trial.
        time.sleep(rng.uniform(0.0, 1.0))
        before = stub.rollout(name)["status"]
        conds = [c for c in before.get("conditions") or [] if c.get("type") != "InvalidSpec"]
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        bad = copy.deepcopy(conds) + [{
            "type": "InvalidSpec", "status": "True", "reason": "InvalidSpec", "message": "bench",
            "lastUpdateTime": at, "lastTransitionTime": at}]
        t0 = time.perf_counter()
        stub.patch_status(name, {"status": {"phase": "Degraded", "message": "InvalidSpec: bench",
                                            "conditions": bad}})
        waited, screen = wait_row(con, name, "✗")
        if waited is None:
            print(f"  ! trial {k + 1}: {name}'s row did not show ✗ within {CHANGE_TIMEOUT:.0f} s: "
                  f"{row_of(screen, name)!r}; phase now {stub.rollout(name)['status'].get('phase')}")
            ok = False
        else:
            down.append(time.perf_counter() - t0)
        # The top bar: does it count the failed rollout?
        head_deadline = time.perf_counter() + 2
        failing = False
        while time.perf_counter() < head_deadline:
            top = con.screen().splitlines()[:1]
            if top and "failing" in top[0]:
                failing = True
                break
            time.sleep(0.05)
        header_failing += failing
        phase_after = stub.rollout(name)["status"].get("phase")
        time.sleep(rng.uniform(0.0, 1.0))
        t1 = time.perf_counter()
        stub.patch_status(name, {"status": {"phase": "Healthy", "message": None, "conditions": conds}})
        waited_up, screen = wait_row(con, name, "✓")
        if waited_up is None:
            print(f"  ! trial {k + 1}: {name}'s row did not show ✓ again within "
                  f"{CHANGE_TIMEOUT:.0f} s: {row_of(screen, name)!r}")
            ok = False
        else:
            up.append(time.perf_counter() - t1)
        print(f"  trial {k + 1:>2} {name}: ✗ after "
              + (f"{down[-1] * 1000:.0f} ms" if waited is not None else "-")
              + f" (stub phase then: {phase_after}; top bar failing: {'yes' if failing else 'no'}), "
              + "✓ again after "
              + (f"{up[-1] * 1000:.0f} ms" if waited_up is not None else "-"))
    return down, up, header_failing, ok


# ---------------------------------------------------------------- main

def on_term(signum, frame):
    raise SystemExit(128 + signum)


def main():
    signal.signal(signal.SIGTERM, on_term)
    if len(sys.argv) != 6:
        sys.exit("usage: bench_kube.py N BINARY URL TOKEN WORKDIR (run scripts/bench-kube.sh)")
    n, binary, url, token, work = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
    runs = int(os.environ.get("BENCH_RUNS", "5"))
    idle = float(os.environ.get("BENCH_IDLE", "60"))
    trials = int(os.environ.get("BENCH_TRIALS", "10"))
    load_start = os.getloadavg()[0]
    stub = Stub(url, token)
    t0 = time.perf_counter()
    stub.control("POST", f"/_stub/seed-rollouts?namespace={NS}&count={n}")
    print(f"stub at {url}: {n} Healthy canary Rollouts seeded in namespace {NS} in "
          f"{time.perf_counter() - t0:.1f} s; binary {binary}")
    config = write_inputs(work, url, token, n)
    env = shipdeck_env(work)
    ok = True
    results = []
    con = None
    try:
        print(f"1a. status --json, {n} services (one per Rollout), {runs} runs:")
        walls, good = bench_status(stub, binary, config, env, n, runs)
        ok = ok and good
        results.append(f"1a status --json, {n} Rollouts: {summary(walls)}"
                       f" (target < 2000 ms; every cell's digest checked: {'ok' if good else 'WRONG'})")

        print(f"1b. console's first board ({COLS}x{ROWS} tmux), {runs} runs:")
        times, good = bench_console(stub, binary, config, env, n, runs)
        ok = ok and good
        results.append(f"1b console first board, {n} Rollouts: {summary(times)} (target < 2000 ms;"
                       " keyed on: header `✓ read`, no `loading`/`reading…`, svc-0001's digest)")

        print(f"2. idle: a console open {idle:.0f} s after its first board:")
        wait_watches(stub, 0)
        elapsed, con, _ = first_board(binary, config, env, n)
        if con is None:
            sys.exit("the console did not show its board")
        print(f"  board read after {elapsed * 1000:.0f} ms; idle window starts now")
        non_watch, watch_reqs, open_now, cpu, window, (w0, w1) = bench_idle(stub, con, idle)
        reads = readings_between(env["SHIPDECK_LOG_FILE"], w0, w1)
        gaps = [b[0] - a[0] for a, b in zip(reads, reads[1:])]
        per_min = len(non_watch) * 60 / window
        print(f"  in {window:.1f} s: {len(non_watch)} requests that are not watches, "
              f"{len(watch_reqs)} watch requests; {open_now} watches open at the end")
        for r in non_watch[:10]:
            print(f"    ! {r['method']} {r['path']}?{r['query']} -> {r['status']}")
        for r in watch_reqs[:10]:
            print(f"    watch re-opened: {r['path']}?{r['query']} -> {r['status']}")
        print(f"  the console's readings in the window (its log): {len(reads)}; every "
              + (summary(gaps) if gaps else "-") + "; a reading took "
              + (summary([r[1] / 1000 for r in reads]) if reads else "-"))
        ok = ok and not non_watch and open_now == WATCHES
        results.append(f"2  idle {window:.0f} s after the first board: {len(non_watch)} non-watch "
                       f"requests ({per_min:.1f}/min), {len(watch_reqs)} watch (re)opens, "
                       f"{open_now} watches open (expected {WATCHES}), console CPU "
                       + (f"{cpu:.1f}% of a core" if cpu is not None else "unknown"))
        results.append(f"2  the console re-read the environment {len(reads)} times in the window, every "
                       + (summary(gaps) if gaps else "-") + " (reading: "
                       + (summary([r[1] / 1000 for r in reads]) if reads else "-") + ")")

        print(f"3. a Rollout's status change to the board, {trials} trials "
              "(InvalidSpec condition -> Degraded, row ✓ -> ✗; then removed, ✗ -> ✓):")
        down, up, header_failing, good = bench_change(stub, con, trials)
        ok = ok and good
        results.append(f"3  status change (InvalidSpec -> Degraded) to the row's ✗: {summary(down)}"
                       " (target < 1000 ms; capture-pane every 20 ms)")
        results.append(f"3  its removal (-> Healthy) to the row's ✓ again: {summary(up)}")
        results.append(f"3  the top bar said `failing` within 2 s of the row's ✗ in "
                       f"{header_failing}/{len(down)} trials")
        targets = [("1a status < 2 s", walls, 2.0), ("1b first board < 2 s", times, 2.0),
                   ("3 change < 1 s", down, 1.0)]
        verdict = []
        for what, values, bound in targets:
            met = bool(values) and max(values) < bound
            ok = ok and met
            verdict.append(f"{what}: {'met' if met else 'MISSED'}"
                           + (f" ({sum(1 for v in values if v >= bound)}/{len(values)} over)"
                              if values and not met else ""))
        idle_met = not non_watch and open_now == WATCHES
        verdict.append(f"2 idle 0 requests/min, {WATCHES} watches: {'met' if idle_met else 'MISSED'}")
        results.append("targets (every sample): " + "; ".join(verdict))
    finally:
        if con is not None:
            con.stop()
        print()
        print(f"== shipdeck Kubernetes bench: {n} Rollouts, stub {url}, binary {binary}; "
              f"1-min load average {load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end "
              f"({os.cpu_count()} CPUs)")
        for line in results:
            print(line)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
