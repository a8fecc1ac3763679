"""Benchmark of `shipdeck status` at fleet scale against local AWS emulators.

Starts moto (ECS) and LocalStack (CloudWatch) on free 127.0.0.1 ports, seeds
3 environments x N services (pinned images, one alarm per service in ALARM, OK
or INSUFFICIENT_DATA), then runs `status --json` cold (empty cache) and warm.
Prints wall time, requests per operation (from diagnostics.api_calls) and peak
RSS, and checks every cell against what was seeded: digest, revision, alarm
state (INSUFFICIENT_DATA must be unknown), with zero false greens.

Run through scripts/bench-status.sh, which installs the emulators and builds
the release binary first.
"""

import concurrent.futures
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3

ENVS = ["e1", "e2", "e3"]
REPO = "registry.example.com/bench/svc"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, check, proc, name, log):
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{name} exited early:\n{open(log).read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if check(r.read().decode("utf-8", "replace")):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"{name} not ready after 90 s")


def start(cmd, env, name, workdir):
    log = os.path.join(workdir, f"{name}.log")
    out = open(log, "w")
    proc = subprocess.Popen(
        cmd, env={**os.environ, **env}, cwd=workdir, stdout=out, stderr=out,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    return proc, log


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def digest_of(env, i):
    return "sha256:" + hashlib.sha256(f"{env}/svc{i}".encode()).hexdigest()


def truth_state(i):
    if i % 7 == 0:
        return "ALARM"
    if i % 11 == 0:
        return "INSUFFICIENT_DATA"
    return "OK"


def client(kind, url):
    return boto3.client(
        kind, endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )


def seed(n, moto, localstack):
    def one(args):
        env, i = args
        ecs = client("ecs", moto)
        cw = client("cloudwatch", localstack)
        family = f"{env}-svc{i}"
        ecs.register_task_definition(
            family=family,
            containerDefinitions=[{
                "name": "app", "image": f"{REPO}{i}@{digest_of(env, i)}",
                "memory": 128, "essential": True,
            }],
        )
        ecs.create_service(
            cluster=env, serviceName=f"svc{i}", taskDefinition=f"{family}:1", desiredCount=1,
        )
        name = f"{env}-svc{i}-5xx"
        cw.put_metric_alarm(
            AlarmName=name, Namespace="Bench", MetricName=f"Errors{i}", Statistic="Sum",
            Period=3600, EvaluationPeriods=1, Threshold=1.0,
            ComparisonOperator="GreaterThanThreshold", TreatMissingData="ignore",
        )
        state = truth_state(i)
        if state != "INSUFFICIENT_DATA":
            cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason="seeded")

    ecs = client("ecs", moto)
    for env in ENVS:
        ecs.create_cluster(clusterName=env)
    work = [(env, i) for env in ENVS for i in range(1, n + 1)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for _ in pool.map(one, work):
            pass


def config_text(n, moto, localstack):
    lines = ['refresh_interval = "5s"']
    for env in ENVS:
        lines += [
            "", "[[environment]]", f'name = "{env}"', 'region = "us-east-1"',
            f'cluster = "{env}"', f'endpoint_url = "{moto}"', f'ecs_endpoint_url = "{moto}"',
            f'cloudwatch_endpoint_url = "{localstack}"',
        ]
        for i in range(1, n + 1):
            lines += [
                "", "[[environment.service]]", f'name = "svc{i}"', 'container = "app"',
                f'alarms = ["{env}-svc{i}-5xx"]',
            ]
    return "\n".join(lines) + "\n"


def bench_env(home):
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_CONFIG_FILE": os.path.join(home, "none"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "none"),
        "AWS_EC2_METADATA_DISABLED": "true", "NO_COLOR": "1",
        "XDG_CACHE_HOME": os.path.join(home, "cache"),
        "SHIPDECK_LOG_FILE": os.path.join(home, "shipdeck.log"),
    }
    env.pop("AWS_PROFILE", None)
    env.pop("SHIPDECK_CONFIG", None)
    return env


def run_status(binary, config, home):
    env = bench_env(home)
    timing = os.path.join(home, "time.txt")
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%U %S %M", "-o", timing, binary, "--config", config,
         "status", "--json"],
        env=env, capture_output=True, timeout=600,
    )
    wall = time.perf_counter() - t0
    user, system, rss_kib = open(timing).read().strip().splitlines()[-1].split()
    cpu = float(user) + float(system)
    if proc.returncode not in (0, 1, 3):
        sys.exit(f"status failed ({proc.returncode}):\n{proc.stderr.decode()}")
    return json.loads(proc.stdout), wall, cpu, int(rss_kib), proc.stderr.decode()


def check(report, n):
    mismatches, false_green = [], 0
    envs = [e["name"] for e in report["environments"]]
    for svc in report["services"]:
        i = int(svc["name"][3:])
        for env, cell in zip(envs, svc["cells"]):
            want_digest = digest_of(env, i)
            if cell.get("digest") != want_digest:
                mismatches.append(f"{env}/{svc['name']}: digest {cell.get('digest')}")
            # status --json schema 2: the revision is its text, family:number.
            if cell.get("revision") != f"{env}-svc{i}:1":
                mismatches.append(f"{env}/{svc['name']}: revision {cell.get('revision')}")
            state = (cell.get("alarms") or {}).get("state")
            want = {"ALARM": "alarm", "OK": "ok", "INSUFFICIENT_DATA": "unknown"}[truth_state(i)]
            if state != want:
                mismatches.append(f"{env}/{svc['name']}: alarms {state}, seeded {want}")
                if state == "ok":
                    false_green += 1
    cells = sum(len(s["cells"]) for s in report["services"])
    if cells != n * len(ENVS):
        mismatches.append(f"{cells} cells, {n * len(ENVS)} seeded")
    return mismatches, false_green


def console(binary, config, home):
    """Opens the console in tmux and reports how long its readings take (from its log)."""
    if not shutil.which("tmux"):
        print("console: tmux not installed, skipped")
        return
    env = bench_env(home)
    log = env["SHIPDECK_LOG_FILE"]
    open(log, "w").close()
    session = f"shipdeck-bench-{os.getpid()}"
    cmd = " ".join(shlex.quote(a) for a in [
        "env", *[f"{k}={v}" for k, v in env.items() if k.startswith(("AWS_", "XDG_", "SHIPDECK_", "NO_COLOR"))],
        os.path.abspath(binary), *(["--log-level", os.environ["BENCH_LOG_LEVEL"]]
                                   if os.environ.get("BENCH_LOG_LEVEL") else []),
        "--config", config])
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", cmd],
                   check=True)
    readings = {}
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if len(readings) == len(ENVS) and all(len(v) >= 3 for v in readings.values()):
                break
            time.sleep(0.5)
            readings = {}
            for line in open(log, errors="replace"):
                m = re.search(r"env=(\d+) services=(\d+) millis=(\d+)", line)
                if m and "environment read" in line:
                    readings.setdefault(int(m.group(1)), []).append(int(m.group(3)))
    finally:
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=False)
        time.sleep(0.5)
        subprocess.run(["tmux", "kill-session", "-t", session], check=False,
                       stderr=subprocess.DEVNULL)
    for env_id in sorted(readings):
        ms = ", ".join(f"{m / 1000:.2f}s" for m in readings[env_id][:3])
        print(f"console {ENVS[env_id]}: first readings took {ms}")
    if os.environ.get("BENCH_LOG_LEVEL"):
        shutil.copy(log, "/tmp/shipdeck-bench-console.log")
    if len(readings) < len(ENVS):
        print("console: not every environment was read within 120 s")


def floor(n, moto, localstack):
    """The same warm requests sent by boto3 (8 threads), to show the emulators' own cost."""
    work = []
    for env in ENVS:
        names = [f"svc{i}" for i in range(1, n + 1)]
        work += [("ecs", env, names[k:k + 10]) for k in range(0, n, 10)]
        alarms = [f"{env}-svc{i}-5xx" for i in range(1, n + 1)]
        work += [("cw", env, alarms[k:k + 100]) for k in range(0, n, 100)]
    ecs, cw = client("ecs", moto), client("cloudwatch", localstack)

    def one(item):
        kind, env, names = item
        if kind == "ecs":
            ecs.describe_services(cluster=env, services=names)
        else:
            cw.describe_alarms(AlarmNames=names)

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for _ in pool.map(one, work):
            pass
    print(f"emulator floor: the {len(work)} warm requests from boto3, 8 threads: "
          f"{time.perf_counter() - t0:.2f} s")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    binary = sys.argv[2] if len(sys.argv) > 2 else "target/release/shipdeck"
    venv_bin = os.path.join(os.getcwd(), ".venv", "bin")
    work = tempfile.mkdtemp(prefix="shipdeck-bench-")
    procs = []
    try:
        mport, lport = free_port(), free_port()
        moto, mlog = start([os.path.join(venv_bin, "moto_server"), "-H", "127.0.0.1",
                            "-p", str(mport)], {}, "moto", work)
        procs.append(moto)
        lenv = {
            "GATEWAY_LISTEN": f"127.0.0.1:{lport}", "SERVICES": "cloudwatch",
            "DNS_ADDRESS": "0", "SKIP_SSL_CERT_DOWNLOAD": "1", "DISABLE_EVENTS": "1",
            "FILESYSTEM_ROOT": os.path.join(work, "fs"), "TMPDIR": work,
        }
        ls, llog = start([os.path.join(venv_bin, "python"), "-m", "localstack.runtime.main"],
                         lenv, "localstack", work)
        procs.append(ls)
        murl, lurl = f"http://127.0.0.1:{mport}", f"http://127.0.0.1:{lport}"
        wait_ready(murl + "/moto-api/", lambda b: True, moto, "moto", mlog)
        wait_ready(lurl + "/_localstack/health", lambda b: '"cloudwatch"' in b, ls,
                   "localstack", llog)
        t0 = time.perf_counter()
        seed(n, murl, lurl)
        print(f"seeded {len(ENVS)} x {n} services in {time.perf_counter() - t0:.1f} s")
        config = os.path.join(work, "shipdeck.toml")
        with open(config, "w") as f:
            f.write(config_text(n, murl, lurl))
        home = os.path.join(work, "home")
        os.makedirs(home)
        ok = True
        print(f"{'run':<5} {'wall':>8} {'cpu':>7} {'requests':>9} {'peak RSS':>9}  per operation (all environments)")
        for run in ["cold", "warm"]:
            report, wall, cpu, rss, stderr = run_status(binary, config, home)
            per_op = {}
            for ops in report["diagnostics"]["api_calls"].values():
                for op, count in ops.items():
                    per_op[op] = per_op.get(op, 0) + count
            total = sum(per_op.values())
            ops = ", ".join(f"{k} {v}" for k, v in sorted(per_op.items()))
            print(f"{run:<5} {wall:>7.2f}s {cpu:>6.2f}s {total:>9} {rss / 1024:>7.1f}MB  {ops}")
            mismatches, false_green = check(report, n)
            print(f"      cells checked: {n * len(ENVS)}, mismatches: {len(mismatches)}, "
                  f"false greens: {false_green}")
            for m in mismatches[:10]:
                print(f"      ! {m}")
            if stderr.strip():
                print("      stderr: " + stderr.strip().replace("\n", "\n              "))
            ok = ok and not mismatches and false_green == 0
        console(binary, config, home)
        floor(n, murl, lurl)
        sys.exit(0 if ok else 1)
    finally:
        for p in procs:
            stop(p)


if __name__ == "__main__":
    main()
